#!/usr/bin/env python3
# facteur-pop3d against hostile input: NUL and control bytes, overlong
# lines, message numbers that would wrap, garbage floods, password guessing
# (growing delay, disconnect after 3), the plaintext-login policy, commands
# in the wrong state.
import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
pt = ft.data_module("pt", "pop3-tlib.py")

t = ft.TAP()
for p in ("facteur-pop3d", "facteur-checkpassword", "facteur-setup", "facteur-users"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

home = pt.instance()
md = pt.maildir(home)
pt.put(md, "1700000001.A.host", "Subject: one\n\nbody\n", mtime=1700000001)
pt.put(md, "1700000002.B.host", "Subject: two\n\nbody\n", mtime=1700000002)
S = pt.status_lines

# NUL and control bytes: refused, never truncated
rc, out, err = pt.session(home, b"USER alice@example.org\0x\r\nPASS alice-secret\r\nSTAT\r\n")
t.is_(S(out)[1:], ["-ERR control characters in command", "-ERR send USER first",
                   "-ERR unknown command or not allowed before login"], "USER with NUL: refused, no login")
rc, out, err = pt.session(home, b"USER alice@example.org\r\nPASS alice-secret\0junk\r\nSTAT\r\n")
t.like(S(out)[2], "-ERR control", "PASS with NUL refused")
t.ok("+OK 2" not in "".join(S(out)), "... and not logged in with the password before the NUL")
rc, out, err = pt.session(home, pt.login() + "STAT\rx\r\nLIST\t1\r\nRETR 1\0\r\nQUIT\r\n")
t.is_(S(out)[3:6], ["-ERR control characters in command"] * 3, "bare CR, TAB, NUL inside commands: -ERR")
t.is_(S(out)[-1], "+OK bye", "session goes on after them")
rc, out, err = pt.session(home, b"US\xc3\xa9R x\r\n\x80\r\nQUIT\r\n")
t.is_(S(out)[1:], ["-ERR unknown command", "-ERR unknown command", "+OK bye"], "non-ASCII verbs refused")

# overlong lines (RFC 2449: 255 octets)
rc, out, err = pt.session(home, "USER " + "a" * 300 + "\r\nNOOP " + "x" * 100000 + "\r\nQUIT\r\n")
t.is_(S(out)[1:], ["-ERR line too long", "-ERR line too long", "+OK bye"], "overlong lines: -ERR, then on")
rc, out, err = pt.session(home, "USER " + "a" * 248 + "\r\nQUIT\r\n")
t.is_(S(out)[1], "+OK send PASS", "a 255-octet line is fine")

# message numbers: never wrap to message 1
bad = ["0", "3", "-1", "+1", "1a", "01x", "4294967296", "4294967297", "18446744073709551616",
       "18446744073709551617", "99999999999999999999999999999", " 1", "1 "]
cmds = "".join("%s %s\r\n" % (c, n) for n in bad for c in ("LIST", "UIDL", "RETR", "DELE"))
rc, out, err = pt.session(home, pt.login() + cmds + "STAT\r\nQUIT\r\n")
s = S(out)
errs = s[3:-2]
t.is_(len(errs), 4 * len(bad), "one reply per bad number")
t.ok(all(x.startswith("-ERR") for x in errs), "every bad message number: -ERR")
t.is_(s[-2], "+OK 2 44", "nothing was deleted by a wrapped number")
t.is_(len(pt.names(md)), 2, "both messages still there")
rc, out, err = pt.session(home, pt.login() + "TOP 1 -1\r\nTOP 1\r\nTOP 1 x\r\nTOP 0 1\r\nTOP 4294967297 0\r\nTOP 1 18446744073709551617\r\nQUIT\r\n")
t.is_([x[:4] for x in S(out)[3:8]], ["-ERR"] * 5, "bad TOP arguments: -ERR")
t.is_(S(out)[8], "+OK top of message follows", "TOP with a line count past 2^64: the whole message")

# garbage flood: disconnect after POP3_ERRORS_MAX
rc, out, err = pt.session(home, "XXXX\r\n" * 50 + "QUIT\r\n")
s = S(out)
t.is_(s[-1], "-ERR too many errors, closing connection", "garbage flood: disconnected")
t.ok(len(s) <= 11, "after at most 10 bad commands (%d replies)" % len(s))
rc, out, err = pt.session(home, pt.login() + "BLAH\r\n" * 50)
t.is_(S(out)[-1], "-ERR too many errors, closing connection", "garbage flood after login: disconnected")

# wrong passwords: growing delay, then disconnect after 3
start = time.monotonic()
rc, out, err = pt.session(home, (pt.login(pw="bad1") + pt.login(pw="bad2") + pt.login(pw="bad3") +
                                 pt.login() + "STAT\r\n"))
took = time.monotonic() - start
s = S(out)
t.is_([x[:11] for x in s[1:]], ["+OK send PA", "-ERR [AUTH]", "+OK send PA", "-ERR [AUTH]", "+OK send PA", "-ERR [AUTH]"],
      "three wrong passwords: -ERR [AUTH] each, then the connection ends")
t.ok(took >= 1.4, "failures cost a growing delay (%.2fs)" % took)
t.ok(b"bad1" not in err and b"bad2" not in err, "wrong passwords not logged")
rc, out, err = pt.session(home, pt.login(pw="wrong") + pt.login() + "STAT\r\nQUIT\r\n")
t.is_(S(out)[-2], "+OK 2 44", "a wrong password then the right one: logged in")
rc, out, err = pt.session(home, pt.login("ghost@example.org", "x") + "QUIT\r\n")
t.like(S(out)[2], "-ERR [AUTH]", "unknown user: -ERR [AUTH], same reply")

# the plaintext policy: not from the network without TLS...
rc, out, err = pt.session(home, "CAPA\r\nUSER alice@example.org\r\nPASS alice-secret\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXNlY3JldA==\r\nQUIT\r\n", TCPREMOTEIP="192.0.2.7")
t.ok(b"\r\nUSER\r\n" not in out and b"SASL" not in out, "remote client: CAPA offers no USER/SASL")
t.like(S(out)[2], "-ERR [AUTH] plaintext", "remote client: USER refused")
t.like(S(out)[4], "-ERR [AUTH] plaintext", "remote client: AUTH PLAIN refused")
t.ok(b"+OK 2 messages" not in out and b"auth ok" not in err, "remote client: no login happened")
rc, out, err = pt.session(home, pt.login() + "STAT\r\nQUIT\r\n", TCPREMOTEIP="127.0.0.1")
t.is_(S(out)[-2], "+OK 2 44", "loopback client may log in without TLS")
rc, out, err = pt.session(home, pt.login() + "STAT\r\nQUIT\r\n", TCPREMOTEIP="::1")
t.is_(S(out)[-2], "+OK 2 44", "IPv6 loopback too")
pt.write_control(home, "plaintextauth", "")
rc, out, err = pt.session(home, pt.login() + "STAT\r\nQUIT\r\n", TCPREMOTEIP="192.0.2.7")
t.is_(S(out)[-2], "+OK 2 44", "control/plaintextauth allows it from anywhere")
os.unlink(os.path.join(home, "control", "plaintextauth"))
rc, out, err = pt.session(home, "STLS\r\nQUIT\r\n", TCPREMOTEIP="192.0.2.7")
t.is_(S(out)[1], "-ERR STLS not available", "STLS without the TLS engine: -ERR")

# commands in the wrong state
rc, out, err = pt.session(home, "STAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nNOOP\r\nPASS x\r\nQUIT\r\n")
t.ok(all(x.startswith("-ERR") for x in S(out)[1:-1]), "transaction commands before login: -ERR")
rc, out, err = pt.session(home, pt.login() + "USER bob@example.org\r\nPASS bob-secret\r\nAUTH PLAIN\r\nSTLS\r\nQUIT\r\n")
t.is_(S(out)[3:7], ["-ERR already logged in"] * 4, "login commands after login: -ERR")
t.is_(len(pt.names(md)), 2, "still alice's maildrop")

# a planted symlink in cur/ is not followed
os.symlink("/etc/passwd", os.path.join(md, "cur", "1700000003.evil:2,"))
rc, out, err = pt.session(home, pt.login() + "STAT\r\nQUIT\r\n")
t.is_(S(out)[-2], "+OK 2 44", "a symlink in cur/ is not a message")

# random input, before and after login: no crash, no hang, no stray login
import random  # noqa: E402
rnd = random.Random(1939)
words = [b"USER", b"PASS", b"AUTH", b"PLAIN", b"STAT", b"LIST", b"RETR", b"TOP", b"DELE", b"UIDL",
         b"RSET", b"NOOP", b"CAPA", b"STLS", b"APOP", b"4294967297", b"0", b"1", b"=", b"*", b"\0", b"\r", b"\n", b" "]
crashes = logins = 0
for i in range(40):
    parts = []
    for _ in range(rnd.randint(1, 40)):
        if rnd.random() < 0.7:
            parts.append(rnd.choice(words))
        else:
            parts.append(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 30))))
        if rnd.random() < 0.4:
            parts.append(b"\r\n")
    data = b"".join(parts)
    pre = pt.login().encode() if i % 2 else b""
    rc, out, err = pt.session(home, pre + data, timeout=20)
    if rc != 0 or b"Sanitizer" in err or b"runtime error" in err:
        crashes += 1
        t.diag("input %r: rc %d %r" % (pre + data, rc, err[-300:]))
    if not pre and b"auth ok" in err:
        logins += 1
t.is_(crashes, 0, "40 random sessions: exit 0, no sanitizer report")
t.is_(logins, 0, "random input never logs in")
t.ok("1700000001.A.host:2," in pt.names(md) and "1700000002.B.host:2," in pt.names(md),
     "random input (never a QUIT) deleted nothing")
