#!/usr/bin/env python3
# facteur-imapd over loopback under tcpserver with Python's imaplib and the
# real login path: facteur-checkpassword checks the password and execs the
# mailbox server (-m). LOGIN, AUTHENTICATE PLAIN (SASL-IR and not), failed
# logins with a growing delay and a disconnect after three, pipelined
# commands after LOGIN kept, a full session with a real client.
import imaplib, os, re, socket, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
home = ft.make_instance(users=(("alice@example.org", "alice-secret"), ("bob@example.org", "bob-secret")))
log = os.path.join(ft.tempdir(), "imapd.log")
p, port = ft.tcpserver([ft.bin_path("facteur-imapd")], home, log=log)

c = imaplib.IMAP4("127.0.0.1", port)
t.ok("IMAP4REV2" in c.capabilities and "AUTH=PLAIN" in c.capabilities, "greeting capabilities")
typ, data = c.login("alice@example.org", "alice-secret")
t.is_(typ, "OK", "LOGIN through facteur-checkpassword")
t.ok(b"[CAPABILITY" in data[0] and b"IDLE" in data[0], "tagged OK carries the post-login capabilities")
typ, data = c.select("INBOX")
t.is_((typ, data), ("OK", [b"0"]), "SELECT empty INBOX")
md = os.path.join(home, "mail", "example.org", "alice")
t.ok(os.path.isdir(os.path.join(md, "cur")) and os.path.isdir(os.path.join(md, ".Sent")), "Maildir and special-use folders made")
typ, data = c.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(time.time()), b"Subject: one\r\n\r\nfirst\r\n")
t.ok(typ == "OK" and b"APPENDUID" in data[0], "APPEND")
typ, data = c.noop()
typ, data = c.fetch("1", "(FLAGS BODY[])")
t.ok(typ == "OK" and data[0][1] == b"Subject: one\r\n\r\nfirst\r\n", "FETCH BODY[]")
t.ok(b"\\Flagged" in data[0][0] and b"\\Seen" in data[0][0], "BODY[] sets \\Seen")
typ, data = c.uid("SEARCH", None, "ALL")
t.is_((typ, data), ("OK", [b"1"]), "UID SEARCH")
typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
typ, data = c.expunge()
t.is_((typ, data), ("OK", [b"1"]), "EXPUNGE reports message 1")
c.logout()

# AUTHENTICATE PLAIN with an initial response, and without
c = imaplib.IMAP4("127.0.0.1", port)
typ, data = c.authenticate("PLAIN", lambda _: b"\0bob@example.org\0bob-secret")
t.is_(typ, "OK", "AUTHENTICATE PLAIN")
c.logout()
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
f.readline()
s.sendall(b"a AUTHENTICATE PLAIN AGJvYkBleGFtcGxlLm9yZwBib2Itc2VjcmV0\r\n")
line = f.readline()
t.like(line, b"a OK [CAPABILITY", "AUTHENTICATE PLAIN with SASL-IR")
s.sendall(b"b LOGOUT\r\n")
s.close()
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
f.readline()
s.sendall(b"a AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGJvYi1zZWNyZXQ=\r\n")
t.like(f.readline(), b"a NO [AUTHENTICATIONFAILED]", "AUTHENTICATE with a wrong password")
s.sendall(b"b AUTHENTICATE PLAIN Ym9iQGV4YW1wbGUub3JnAGFsaWNlQGV4YW1wbGUub3JnAGJvYi1zZWNyZXQ=\r\n")
t.like(f.readline(), b"b NO [AUTHORIZATIONFAILED]", "authzid for another user refused")
s.close()

# pipelined commands after LOGIN reach the mailbox process
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
f.readline()
s.sendall(b"a LOGIN alice@example.org alice-secret\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
lines = []
end = time.time() + 15
while time.time() < end:
    l = f.readline()
    if not l:
        break
    lines.append(l)
    if l.startswith(b"c "):
        break
t.ok(any(l.startswith(b"a OK") for l in lines) and any(l.startswith(b"b OK [READ-WRITE]") for l in lines),
     "commands pipelined behind LOGIN are not lost")
s.close()

# failed logins: growing delay, disconnect after three
s = socket.create_connection(("127.0.0.1", port), timeout=30)
f = s.makefile("rb")
f.readline()
times = []
for i in range(3):
    t0 = time.time()
    s.sendall(b"x%d LOGIN alice@example.org wrong%d\r\n" % (i, i))
    l = f.readline()
    times.append(time.time() - t0)
t.like(l, b"x2 NO [AUTHENTICATIONFAILED]", "third failure answered")
t.like(f.readline(), b"* BYE", "then BYE")
t.is_(f.readline(), b"", "and the connection is closed")
t.ok(times[1] > times[0] and times[2] > times[1] and times[0] >= 0.9, "growing delay %r" % times)
s.close()
with open(log, "rb") as lf:
    logtext = lf.read()
t.ok(b"wrong0" not in logtext and b"alice-secret" not in logtext, "no password in the log")
t.ok(b"login failed: alice@example.org" in logtext, "failed logins logged")

c = imaplib.IMAP4("127.0.0.1", port)
try:
    c.login("nobody@example.org", "x")
    t.ok(False, "unknown user refused")
except imaplib.IMAP4.error as e:
    t.ok("AUTHENTICATIONFAILED" in str(e), "unknown user refused")
c.shutdown()

# the programs are found next to facteur-imapd when PATH does not have them (systemd)
env = ft.env_for(home, FACTEUR_BIN=None)
env["PATH"] = "/usr/bin:/bin"
p2, port2 = ft.tcpserver([ft.bin_path("facteur-imapd")], home, env=env)
c = imaplib.IMAP4("127.0.0.1", port2)
typ, data = c.login("alice@example.org", "alice-secret")
t.is_(typ, "OK", "login with facteur's programs not in PATH")
c.logout()
