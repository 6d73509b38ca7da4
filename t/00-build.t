#!/usr/bin/env python3
"""The build's contract: every program of INTERFACE.md is in bin/, the
conf-* files hold a first line, and tools/deps does nothing (and says
nothing) when the packages are already installed."""
import os
import shutil
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
for prog in ("facteur-setup", "facteur-users", "facteur-smtpd", "facteur-queue", "facteur-send",
             "facteur-local", "facteur-remote", "facteur-deliver", "facteur-lmtpd", "facteur-pop3d",
             "facteur-imapd", "facteur-sendmail"):
    t.ok(os.access(ft.bin_path(prog), os.X_OK), "bin/%s is built" % prog)
for conf in ("conf-cc", "conf-ld", "conf-home"):
    with open(os.path.join(ft.SRC, conf)) as f:
        first = f.readline().strip()
    t.ok(first, "%s has a first line" % conf)
    if conf == "conf-home":
        t.ok(first.startswith("/"), "conf-home is an absolute path")
if os.geteuid() == 0 and shutil.which("dpkg-query"):
    r = subprocess.run(["sh", os.path.join(ft.SRC, "tools", "deps")], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    t.is_((r.returncode, r.stdout), (0, b""), "tools/deps does nothing when everything is installed")
else:
    t.diag("not root or not Debian: tools/deps not run")
