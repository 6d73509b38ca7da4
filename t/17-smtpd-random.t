#!/usr/bin/env python3
"""facteur-smtpd against random sessions: pieces of real commands, numbers
at the overflow edges, control bytes, bare CR/LF and binary junk, mixed at
random (fixed seed, bounded count). Every run must end on its own with
exit 0, every output line must be a well-formed reply, and nothing may be
queued that has a bare CR or LF."""
import importlib.util
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

st = ft.data_module("smtpdt", "smtpd-tlib.py")

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-smtpd")):
    t.skip_all("bin/facteur-smtpd not built")
home, q = st.instance()
st.write_control(home, "databytes", "4096\n")

RUNS = 150
BUDGET = 30.0
rnd = random.Random(20231218)
pieces = [b"EHLO x\r\n", b"HELO y\r\n", b"MAIL FROM:<a@remote.test>\r\n", b"MAIL FROM:<>\r\n",
          b"RCPT TO:<alice@example.org>\r\n", b"RCPT TO:<x@remote.test>\r\n", b"DATA\r\n",
          b"RSET\r\n", b"NOOP\r\n", b"BDAT ", b" LAST", b"\r\n", b"\n", b"\r", b".", b".\r\n",
          b"\r\n.\r\n", b"\n.\n", b"\x00", b"AUTH PLAIN ", b"AUTH LOGIN\r\n", b"=\r\n", b"*\r\n",
          b"STARTTLS\r\n", b"SIZE=", b"18446744073709551616", b"4294967296", b"0", b"7",
          b"<", b">", b"@", b"%", b"!", b"\"", b"\xff\xfe", b"\xc3\xa9", b"x" * 600, b"y" * 1200,
          b"Received: z\r\n", b"VRFY\r\n", b"QUIT\r\n"]
reply_re = re.compile(rb"^[2-5][0-9][0-9]([ -].*)?$")
bad_lines = 0
bad_rc = 0
slow = 0
t0 = time.time()
done = 0
for i in range(RUNS):
    if time.time() - t0 > BUDGET:
        break
    data = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 60)))
    ts = time.time()
    rc, out, err = st.session(home, q, data, ip=rnd.choice(["192.0.2.1", "127.0.0.1"]), timeout=20)
    if time.time() - ts > 5:
        slow += 1
    if rc != 0:
        bad_rc += 1
        t.diag("rc %d for %r" % (rc, data[:200]))
    for line in out.split(b"\r\n")[:-1]:
        if not reply_re.match(line):
            bad_lines += 1
            t.diag("bad line %r for %r" % (line[:80], data[:200]))
    if not out.endswith(b"\r\n"):
        bad_lines += 1
    done += 1
t.ok(done >= 50, "ran %d random sessions" % done)
t.is_(bad_rc, 0, "every session exits 0")
t.is_(bad_lines, 0, "every output line is a well-formed reply")
t.is_(slow, 0, "no session hangs")
leaked = [m for m, e in st.queued(q) if re.search(rb"[^\r]\n|\r[^\n]", st.body(m))]
t.is_(len(leaked), 0, "no queued message holds a bare CR or LF")
