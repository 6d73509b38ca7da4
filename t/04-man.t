#!/usr/bin/env python3
"""Man pages: every man/*.[0-9] passes mandoc -Tlint -W warning, has the
sections STYLE.md asks for, and every program in bin/ has its page."""
import glob
import os
import re
import shutil
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
if not shutil.which("mandoc"):
    t.skip_all("mandoc is not installed (tools/deps installs it)")
pages = sorted(glob.glob(os.path.join(ft.SRC, "man", "*.[0-9]")))
t.ok(len(pages) > 0, "there are man pages")
SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "ENVIRONMENT", "FILES", "EXIT STATUS", "SECURITY", "SEE ALSO")
for p in pages:
    name = os.path.basename(p)
    r = subprocess.run(["mandoc", "-Tlint", "-W", "warning", p], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t.ok(r.returncode == 0 and not r.stdout, "%s lints clean" % name)
    if r.stdout:
        t.diag(r.stdout.decode(errors="replace"))
    with open(p, encoding="utf-8", errors="replace") as f:
        have = set(m.group(1).strip().strip('"') for m in re.finditer(r"^\.Sh\s+(.*)$", f.read(), re.M))
    if name.endswith(".8"):
        missing = [s for s in SECTIONS if s not in have]
        t.ok(not missing, "%s has every section (missing: %s)" % (name, ", ".join(missing) or "none"))
for prog in sorted(glob.glob(os.path.join(ft.BIN, "facteur-*"))):
    base = os.path.basename(prog)
    t.ok(os.path.exists(os.path.join(ft.SRC, "man", base + ".8")), "bin/%s has man/%s.8" % (base, base))
