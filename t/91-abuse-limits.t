#!/usr/bin/env python3
"""The abuse limits README.md documents: a tcprules cdb that sets
RELAYCLIENT for a trusted network lets it relay, and a deny rule drops a
client before facteur-smtpd runs; tcpserver -c holds back a connection
over the limit; a wrong password costs a growing delay and the third ends
the session in SMTP (421 4.7.0), POP3 and IMAP (BYE); garbage commands end
an SMTP session with 421 4.7.0. The three failed-login sessions run at
once, so the test waits for the longest (IMAP's 1+2+4 s) only once."""
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

t = ft.TAP()
for prog in ("facteur-smtpd", "facteur-pop3d", "facteur-imapd", "facteur-checkpassword"):
    if not os.path.exists(ft.bin_path(prog)):
        t.skip_all("bin/%s not built" % prog)
for tool in ("tcpserver", "tcprules"):
    if not shutil.which(tool):
        t.skip_all("%s (ucspi-tcp) not installed" % tool)

top = ft.tempdir()
os.chmod(top, 0o755)
home = ft.make_instance(home=os.path.join(top, "home"))
env = ft.env_for(home, RELAYCLIENT=None, FACTEUR_TLSCTL="", FACTEUR_TLS=None,
                 FACTEUR_QUEUE=os.path.join(ft.SRC, "t", "data", "smtpd-fakequeue"),
                 FAKEQ_DIR=os.path.join(top, "fakeq"))
os.mkdir(os.path.join(top, "fakeq"))
os.chmod(os.path.join(top, "fakeq"), 0o777)
log = os.path.join(top, "log")


def rules(name, text):
    src = os.path.join(top, name)
    with open(src, "w") as f:
        f.write(text)
    cdb = src + ".cdb"
    p = subprocess.run(["tcprules", cdb, src + ".tmp"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    if p.returncode != 0:
        raise RuntimeError("tcprules: %r" % p.stderr)
    os.chmod(cdb, 0o644)
    return cdb


def serve(argv, port=None):
    """tcpserver with our own options (ft.tcpserver fixes -c 50, no -x)"""
    port = port or ft.free_port()
    p = ft.start(["tcpserver", "-HRl0"] + argv[:-1] + ["127.0.0.1", str(port)] + argv[-1], env,
                 stderr=open(log, "ab"))
    if not ft.wait_port(port):
        raise RuntimeError("tcpserver did not start on %d" % port)
    return p, port


class Conn:
    def __init__(self, port, timeout=20):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb")

    def line(self):
        try:
            return self.f.readline()
        except (socket.timeout, OSError):
            return b""

    def smtp(self):
        """one SMTP reply, its last line"""
        while True:
            ln = self.line()
            if not ln or ln[3:4] != b"-":
                return ln

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        self.s.close()


SMTPD = [ft.bin_path("facteur-smtpd")]

# --- tcprules: RELAYCLIENT for a trusted network (README's example)
cdb = rules("tcp.smtp", '127.:allow,RELAYCLIENT=""\n:allow\n')
p, port = serve(["-x", cdb, SMTPD])
c = Conn(port)
c.smtp()
c.send(b"EHLO trusted.example\r\nMAIL FROM:<app@example.org>\r\nRCPT TO:<someone@remote.test>\r\n")
c.smtp()
c.smtp()
r = c.smtp()
t.ok(r.startswith(b"250"), "tcprules 127.:allow,RELAYCLIENT=\"\": relaying allowed (%r)" % r)
c.close()
p.stop()

# the same server without the rule: refused
p, port = serve(["-x", rules("tcp.smtp2", ":allow\n"), SMTPD])
c = Conn(port)
c.smtp()
c.send(b"EHLO untrusted.example\r\nMAIL FROM:<app@example.org>\r\nRCPT TO:<someone@remote.test>\r\n")
c.smtp()
c.smtp()
r = c.smtp()
t.ok(r.startswith(b"554 5.7.1"), "without RELAYCLIENT: 554 5.7.1 (%r)" % r)
c.close()
p.stop()

# a deny rule: the connection is dropped before facteur-smtpd runs
p, port = serve(["-x", rules("tcp.smtp3", "127.0.0.1:deny\n:allow\n"), SMTPD])
c = Conn(port, timeout=5)
t.is_(c.line(), b"", "tcprules 127.0.0.1:deny: closed without a greeting")
c.close()
p.stop()

# --- tcpserver -c 1: a second client waits until the first has gone
p, port = serve(["-c", "1", SMTPD])
a = Conn(port)
t.ok(a.smtp().startswith(b"220"), "-c 1: first client greeted")
b = Conn(port, timeout=10)
readable, _, _ = select.select([b.s], [], [], 1.5)
t.ok(not readable, "-c 1: second client held back while the first is connected")
a.send(b"QUIT\r\n")
a.smtp()
a.close()
t.ok(b.smtp().startswith(b"220"), "-c 1: second client greeted once the first has quit")
b.close()
p.stop()

# --- failed logins, the three protocols at once
_, sport = serve([SMTPD])
_, pport = serve([[ft.bin_path("facteur-pop3d")]])
_, iport = serve([[ft.bin_path("facteur-imapd")]])
res = {}


def smtp_fails():
    c = Conn(sport)
    c.smtp()
    c.send(b"EHLO guesser.example\r\n")
    c.smtp()
    got, times = [], []
    for i in range(3):
        t0 = time.time()
        c.send(b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGd1ZXNz\r\n")     # alice@example.org / guess
        got.append(c.smtp())
        times.append(time.time() - t0)
    got.append(c.smtp())
    c.send(b"NOOP\r\n")
    got.append(c.smtp())
    res["smtp"] = (got, times)
    c.close()


def pop3_fails():
    c = Conn(pport)
    c.line()
    got, times = [], []
    for i in range(3):
        t0 = time.time()
        c.send(b"USER alice@example.org\r\nPASS guess\r\n")
        c.line()
        got.append(c.line())
        times.append(time.time() - t0)
    c.send(b"NOOP\r\n")
    got.append(c.line())
    res["pop3"] = (got, times)
    c.close()


def imap_fails():
    c = Conn(iport)
    c.line()
    got, times = [], []
    for i in range(3):
        t0 = time.time()
        c.send(b"a%d LOGIN alice@example.org guess\r\n" % i)
        got.append(c.line())
        times.append(time.time() - t0)
    got.append(c.line())
    c.send(b"z NOOP\r\n")
    got.append(c.line())
    res["imap"] = (got, times)
    c.close()


threads = [threading.Thread(target=f) for f in (smtp_fails, pop3_fails, imap_fails)]
for th in threads:
    th.start()
for th in threads:
    th.join(40)

got, times = res.get("smtp", ([b""] * 5, [0, 0, 0]))
t.ok(all(g.startswith(b"535 5.7.8") for g in got[:3]), "SMTP: three wrong passwords, 535 5.7.8 each")
t.ok(times[0] >= 0.9 and times[1] >= 1.9 and times[2] >= 2.9,
     "SMTP: delays of 1, 2, 3 s (%s)" % ", ".join("%.1f" % x for x in times))
t.ok(got[3].startswith(b"421 4.7.0") and got[4] == b"", "SMTP: the third failure ends the session with 421 4.7.0")
got, times = res.get("pop3", ([b""] * 4, [0, 0, 0]))
t.ok(all(g.startswith(b"-ERR [AUTH]") for g in got[:3]), "POP3: three wrong passwords, -ERR [AUTH] each")
t.ok(times[0] >= 0.45 and times[1] >= 0.95, "POP3: delays of 0.5, 1 s (%s)" % ", ".join("%.1f" % x for x in times))
t.is_(got[3], b"", "POP3: the third failure ends the session")
got, times = res.get("imap", ([b""] * 5, [0, 0, 0]))
t.ok(all(g.startswith(b"a%d NO [AUTHENTICATIONFAILED]" % i) for i, g in enumerate(got[:3])),
     "IMAP: three wrong passwords, NO [AUTHENTICATIONFAILED] each")
t.ok(times[0] >= 0.9 and times[1] >= 1.9 and times[2] >= 3.9,
     "IMAP: delays of 1, 2, 4 s (%s)" % ", ".join("%.1f" % x for x in times))
t.ok(got[3].startswith(b"* BYE") and got[4] == b"", "IMAP: the third failure ends the session with BYE")

# --- garbage: six protocol errors end an SMTP session with 421
c = Conn(sport)
c.smtp()
c.send(b"".join(b"XYZZY %d\r\n" % i for i in range(8)))
got = [c.smtp() for i in range(8)]
t.ok(all(g.startswith(b"500 5.5.2") for g in got[:6]), "SMTP: six unknown commands get 500 5.5.2")
t.ok(got[6].startswith(b"421 4.7.0") and got[7] == b"",
     "SMTP: after the sixth error, 421 4.7.0 and the line is closed (%r)" % got[5:])
c.close()
