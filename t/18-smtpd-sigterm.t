#!/usr/bin/env python3
"""SIGTERM to a running SMTP session (what systemd sends to every process
of a stopping facteur-smtpd@ unit): the client hears
"421 4.3.2 service shutting down" (RFC 5321 3.8) through the TLS engine in
front, the connection closes, and a message cut short by it is not queued;
the same in the middle of AUTH.
The deployment form: tcpserver facteur-tlsd facteur-smtpd, the real
facteur-queue."""
import os
import shutil
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

t = ft.TAP()
for p in ("facteur-smtpd", "facteur-tlsd", "facteur-queue", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")
if not shutil.which("tcpserver"):
    t.skip_all("tcpserver (ucspi-tcp) not installed")
base = ft.tempdir()
os.chmod(base, 0o755)
home = ft.make_instance(home=os.path.join(base, "home"), users=(("alice@example.org", "pw"),))
srv, port = ft.tcpserver([ft.bin_path("facteur-tlsd"), ft.bin_path("facteur-smtpd")], home,
                         log=os.path.join(base, "smtpd.log"))




def session_pids():
    """the engine (tcpserver's child) and the smtpd under it"""
    eng = ft.children(srv.pid)
    return eng + [c for e in eng for c in ft.children(e)]


def reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return lines
        lines.append(line.decode(errors="replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return lines


def ehlo_session():
    """a new session past its greeting and EHLO: (socket, reader)"""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    reply(f)
    s.sendall(b"EHLO client.example\r\n")
    reply(f)
    return s, f


def term_all():
    pids = ft.wait_for(lambda: (lambda p: p if len(p) >= 2 else None)(session_pids()), 5) or []
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:   # already ended: the smtpd answered fast
            pass
    return pids


def queued():
    q = os.path.join(home, "queue")
    return [n for d in ("todo", "info", "mess") if os.path.isdir(os.path.join(q, d))
            for n in os.listdir(os.path.join(q, d))]


# 1. idle, between commands
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
t.like(reply(f)[-1], "220 ", "greeting")
s.sendall(b"EHLO client.example\r\n")
t.like(reply(f)[-1], "250 ", "EHLO")
pids = term_all()
t.ok(len(pids) >= 2, "the session's engine and smtpd both got SIGTERM (%d processes)" % len(pids))
t.like(" ".join(reply(f)), "421 4.3.2 ", "idle session: 421 4.3.2 on SIGTERM")
t.is_(f.read(), b"", "then the connection closes")
s.close()
t.ok(ft.wait_for(lambda: not session_pids(), 5), "the session's processes are gone")

# 2. in the middle of a message: not queued, 421
s, f = ehlo_session()
s.sendall(b"MAIL FROM:<bob@remote.test>\r\n")
t.like(reply(f)[-1], "250 ", "MAIL")
s.sendall(b"RCPT TO:<alice@example.org>\r\n")
t.like(reply(f)[-1], "250 ", "RCPT")
s.sendall(b"DATA\r\n")
t.like(reply(f)[-1], "354 ", "DATA")
s.sendall(b"Subject: cut short\r\n\r\nfirst half of the body\r\n")
time.sleep(0.3)
term_all()
t.like(" ".join(reply(f)), "421 4.3.2 ", "mid-message: 421 4.3.2 on SIGTERM")
t.is_(f.read(), b"", "then the connection closes")
s.close()
t.ok(ft.wait_for(lambda: not session_pids(), 5), "the session's processes are gone")
time.sleep(0.3)
t.is_(queued(), [], "the message cut short is not in the queue")
with open(os.path.join(base, "smtpd.log"), "rb") as lf:
    logtext = lf.read().decode(errors="replace")
t.ok("end=shutdown" in logtext, "the session's log line says end=shutdown")

# 3. in the middle of an AUTH exchange (waiting for the user name)
s, f = ehlo_session()
s.sendall(b"AUTH LOGIN\r\n")
t.like(reply(f)[-1], "334 ", "AUTH LOGIN asks for the user name")
term_all()
t.like(" ".join(reply(f)), "421 4.3.2 ", "mid-AUTH: 421 4.3.2 on SIGTERM")
t.is_(f.read(), b"", "then the connection closes")
s.close()
t.ok(ft.wait_for(lambda: not session_pids(), 5), "the session's processes are gone")

# 4. a session that is not stopped still works
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
t.like(reply(f)[-1], "220 ", "tcpserver still accepts sessions")
s.sendall(b"QUIT\r\n")
t.like(reply(f)[-1], "221 ", "QUIT")
s.close()
