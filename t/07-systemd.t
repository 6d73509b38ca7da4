#!/usr/bin/env python3
"""etc/systemd: every unit passes systemd-analyze verify (with ExecStart
pointed at this tree's bin/), sockets pass connections one per service
(Accept=yes) with per-source limits, services carry FACTEUR_HOME and the
hardening options."""
import glob
import os
import re
import shutil
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
UNITS = os.path.join(ft.SRC, "etc", "systemd")
sockets = sorted(glob.glob(os.path.join(UNITS, "*.socket")))
services = sorted(glob.glob(os.path.join(UNITS, "*.service")))
names = set(os.path.basename(p) for p in sockets + services)
for proto in ("smtpd", "submission", "smtps", "pop3d", "pop3s", "imapd", "imaps", "lmtpd"):
    t.ok("facteur-%s.socket" % proto in names and "facteur-%s@.service" % proto in names,
         "facteur-%s.socket and its template service" % proto)
t.ok("facteur-send.service" in names, "facteur-send.service")


def keys(path):
    with open(path) as f:
        return dict((m.group(1), m.group(2)) for m in re.finditer(r"^(\w+)=(.*)$", f.read(), re.M))


t.is_(keys(os.path.join(UNITS, "facteur-send.service")).get("KillMode") if "facteur-send.service" in names else None,
      "mixed", "facteur-send.service: KillMode=mixed (SIGTERM to facteur-send only: running deliveries finish)")

for s in sockets:
    k = keys(s)
    b = os.path.basename(s)
    t.ok(k.get("Accept") == "yes" and k.get("MaxConnectionsPerSource", "").isdigit(),
         "%s: Accept=yes, MaxConnectionsPerSource" % b)
for s in services:
    k = keys(s)
    b = os.path.basename(s)
    t.is_(k.get("Environment"), "FACTEUR_HOME=/var/lib/facteur", "%s: FACTEUR_HOME" % b)
    t.ok(k.get("NoNewPrivileges") == "yes" and k.get("ProtectSystem") == "strict"
         and k.get("ReadWritePaths") == "/var/lib/facteur", "%s: hardened" % b)
    if "@" in b:
        t.is_((k.get("StandardInput"), k.get("StandardOutput")), ("socket", "socket"), "%s: connection on stdin/stdout" % b)
    if "lmtpd" in b or "send" in b:
        t.is_(k.get("User"), "facteur", "%s: runs as facteur from the start" % b)
    else:
        t.ok(k.get("CapabilityBoundingSet") == "CAP_SETUID CAP_SETGID",
             "%s: root only with setuid/setgid, to drop" % b)

if not shutil.which("systemd-analyze"):
    t.diag("systemd-analyze is not installed: verify skipped")
    sys.exit(0)
tmp = ft.tempdir()
todo = []
for src in sockets + services:
    b = os.path.basename(src)
    with open(src) as f:
        text = f.read().replace("/usr/local/bin/", ft.BIN + "/")
    with open(os.path.join(tmp, b), "w") as f:
        f.write(text)
    # a template is verified through an instance, so that ExecStart is checked
    name = b.replace("@.service", "@test.service")
    if name != b:
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    exe = re.search(r"^ExecStart=(\S+)", text, re.M)
    todo.append((b, name, exe.group(1) if exe else None))
missing = set()
for b, name, exe in todo:
    if exe and not os.access(exe, os.X_OK):
        missing.add(b.replace("@.service", ".socket"))
        missing.add(b)
for b, name, exe in todo:
    if b in missing:
        t.diag("%s: its program is not built yet, verify skipped" % b)
        continue
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", name], cwd=tmp,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    t.ok(r.returncode == 0 and not out.strip(), "systemd-analyze verify %s" % b)
    if out.strip():
        t.diag(out)
