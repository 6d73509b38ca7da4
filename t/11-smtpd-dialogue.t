#!/usr/bin/env python3
"""facteur-smtpd on stdin/stdout: every command, every reply code, limits,
parameters, the Received header, the envelope handed to the queue, and
the mapping of the queue's exit codes."""
import importlib.util
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

st = ft.data_module("smtpdt", "smtpd-tlib.py")

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-smtpd")):
    t.skip_all("bin/facteur-smtpd not built")
home, q = st.instance()

EHLO = "EHLO client.example\r\n"
MAIL = "MAIL FROM:<bob@remote.test>\r\n"
RCPT = "RCPT TO:<alice@example.org>\r\n"


def talk(data, **kw):
    rc, out, err = st.session(home, q, data, **kw)
    return out, err


# --- a golden transcript ---
with open(os.path.join(ft.SRC, "t", "data", "smtpd-basic.in"), "rb") as f:
    golden_in = f.read()
with open(os.path.join(ft.SRC, "t", "data", "smtpd-basic.ref"), "rb") as f:
    golden_ref = f.read()
st.clear(q)
out, err = talk(golden_in)
t.is_(out, golden_ref, "golden transcript smtpd-basic")
t.is_(len(st.queued(q)), 1, "golden transcript queued one message")

# --- greeting and EHLO ---
out, err = talk(EHLO + "QUIT\r\n")
text = out.decode()
t.like(text, "220 mx.example.org ESMTP", "greeting names control/me")
for kw in ("PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES",
           "SMTPUTF8", "CHUNKING"):
    t.ok(("250-" + kw + "\r\n") in text or ("250 " + kw + "\r\n") in text, "EHLO advertises " + kw)
t.ok("STARTTLS" not in text, "no STARTTLS without a TLS engine")
t.ok("AUTH" not in text, "no AUTH in plaintext from a remote client")
out, err = talk(EHLO + "QUIT\r\n", ip="127.0.0.1")
t.ok(b"250-AUTH PLAIN LOGIN\r\n" in out, "AUTH offered to a loopback client")
out, err = talk("HELO client.example\r\nQUIT\r\n")
t.is_(st.replies(out)[1:], ["250 mx.example.org", "221 2.0.0 closing connection"], "HELO")

# --- simple commands ---
out, err = talk(EHLO + "NOOP\r\nVRFY alice\r\nHELP\r\nEXPN list\r\nRSET\r\nFROB\r\nQUIT\r\n")
t.is_(st.codes(out), ["220", "250", "250", "252", "214", "502", "250", "500", "221"],
      "NOOP VRFY HELP EXPN RSET unknown QUIT")
rs = st.replies(out)
t.like(rs[3], "252 2.", "VRFY carries an enhanced code")
t.like(rs[7], "500 5.5.2", "unknown command 500 5.5.2")
out, err = talk("noop\r\nQuIt\r\n")
t.is_(st.codes(out), ["220", "250", "221"], "verbs are case-insensitive")

# --- order of commands ---
out, err = talk(MAIL + EHLO + RCPT + "DATA\r\n" + MAIL + MAIL + "DATA\r\nQUIT\r\n")
t.is_(st.codes(out), ["220", "503", "250", "503", "503", "250", "503", "554", "221"],
      "MAIL before EHLO, RCPT/DATA before MAIL, nested MAIL, DATA without recipients")
out, err = talk("EHLO\r\nHELO bad name\r\nEHLO bad\x7fname\r\nQUIT\r\n")
t.is_(st.codes(out), ["220", "501", "501", "500", "221"], "EHLO without a name, with a space, with DEL")

# --- MAIL parameters and sizes ---
sizes = [("100", "250"), ("52428800", "250"), ("52428801", "552"), ("2147483648", "552"),
         ("4294967296", "552"), ("9223372036854775808", "552"), ("18446744073709551615", "552"),
         ("18446744073709551616", "552"), ("18446744073709551617", "552"),
         ("999999999999999999999999999999", "552"), ("12x", "501"), ("", "555"), ("-1", "501")]
for val, want in sizes:
    out, err = talk(EHLO + "MAIL FROM:<bob@remote.test> SIZE=" + val + "\r\nQUIT\r\n")
    t.is_(st.codes(out)[2], want, "MAIL SIZE=%s -> %s" % (val, want))
for par, want in [("BODY=8BITMIME", "250"), ("BODY=7BIT", "250"), ("BODY=BINARYMIME", "555"),
                  ("FOO=BAR", "555"), ("AUTH=<>", "250"), ("SMTPUTF8", "250"),
                  ("SIZE=10 BODY=8BITMIME SMTPUTF8", "250")]:
    out, err = talk(EHLO + "MAIL FROM:<bob@remote.test> " + par + "\r\nQUIT\r\n")
    t.is_(st.codes(out)[2], want, "MAIL parameter %s -> %s" % (par, want))
out, err = talk(EHLO + "MAIL FROM:<b\u00f6b@remote.test>\r\nQUIT\r\n")
t.like(st.replies(out)[2], "553 5.6.7", "UTF-8 sender without SMTPUTF8: 553 5.6.7")
out, err = talk(EHLO + "MAIL FROM:<b\u00f6b@r\u00e9mote.test> SMTPUTF8\r\nRCPT TO:<alice@example.org>\r\nQUIT\r\n")
t.is_(st.codes(out)[2:4], ["250", "250"], "UTF-8 sender with SMTPUTF8")
out, err = talk(EHLO + "MAIL FROM:<>\r\n" + RCPT + "QUIT\r\n")
t.is_(st.codes(out)[2:4], ["250", "250"], "null sender")
out, err = talk(EHLO + "MAIL FROM: <bob@remote.test>\r\nMAIL TO:<x@y.z>\r\nQUIT\r\n")
t.is_(st.codes(out)[2], "250", "MAIL FROM: with a space before the path")
out, err = talk(EHLO + "MAIL TO:<x@y.z>\r\nMAIL FROM:bob@remote.test\r\nQUIT\r\n")
t.is_(st.codes(out)[2:4], ["501", "501"], "MAIL without FROM: or brackets")
out, err = talk(EHLO + MAIL + "RCPT TO:<alice@example.org> NOTIFY=NEVER\r\nQUIT\r\n")
t.is_(st.codes(out)[3], "555", "unknown RCPT parameter")

# --- lengths ---
out, err = talk(EHLO + "NOOP " + "x" * 600 + "\r\nNOOP\r\nQUIT\r\n")
t.is_(st.codes(out)[2:], ["500", "250", "221"], "command line over 512: 500, session goes on")
out, err = talk(EHLO + "NOOP " + "x" * 5000 + "\r\nNOOP\r\nQUIT\r\n")
t.is_(st.codes(out)[2:], ["500", "250", "221"], "command line of 5000 bytes")
out, err = talk(EHLO + "MAIL FROM:<" + "a" * 65 + "@remote.test>\r\nQUIT\r\n")
t.like(st.replies(out)[2], "501 5.1.3", "local part of 65: 501 5.1.3")
out, err = talk(EHLO + "MAIL FROM:<" + "a" * 64 + "@remote.test>\r\nQUIT\r\n")
t.is_(st.codes(out)[2], "250", "local part of 64 accepted")
out, err = talk(EHLO + MAIL + "RCPT TO:<a@" + ("b" * 60 + ".") * 5 + "test>\r\nQUIT\r\n")
t.like(st.replies(out)[3], "501 5.1.3", "path over 256: 501")

# --- control bytes in commands ---
out, err = talk(EHLO + "MAIL FROM:<bob@remote.test>\x00x\r\nNOOP\r\nQUIT\r\n")
t.is_(st.codes(out)[2:], ["500", "250", "221"], "NUL in MAIL: 500")
out, err = talk(EHLO + "MAIL FROM:<bob\r@remote.test>\r\nQUIT\r\n")
t.is_(st.codes(out)[2], "500", "bare CR in MAIL: 500")
out, err = talk(EHLO + "RSET\nMAIL FROM:<bob@remote.test>\r\nQUIT\r\n")
t.is_(st.codes(out)[2:], ["500", "250", "221"], "command ended by bare LF: 500, next command runs")
out, err = talk("EHLO a\x00b\r\nQUIT\r\n")
t.is_(st.codes(out)[1], "500", "NUL in EHLO")

# --- garbage limit ---
out, err = talk("FROB\r\n" * 10 + "NOOP\r\n")
c = st.codes(out)
t.is_(c, ["220"] + ["500"] * 6 + ["421"], "six bad commands: 421 and hang up")
t.like(st.replies(out)[-1], "421 4.7.0", "421 carries 4.7.0")

# --- recipients limit ---
st.clear(q)
out, err = talk(EHLO + MAIL + "".join("RCPT TO:<alice+%d@example.org>\r\n" % i for i in range(101)) +
                "DATA\r\nSubject: many\r\n\r\nx\r\n.\r\nQUIT\r\n")
c = st.codes(out)
t.is_(c[3:103], ["250"] * 100, "100 recipients accepted")
t.like(st.replies(out)[103], "452 4.5.3", "the 101st: 452 4.5.3")
m = st.queued(q)
t.ok(len(m) == 1 and m[0][1].count(b"\0T") == 100, "envelope holds 100 recipients")

# --- envelope and Received header ---
st.clear(q)
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\nSubject: one\r\n\r\n..dot\r\n.x\r\nbody\r\n.\r\nQUIT\r\n")
m = st.queued(q)
t.is_(len(m), 1, "one message queued")
msg, env = m[0]
t.is_(env, b"Fbob@remote.test\0Talice@example.org\0\0", "envelope format F..\\0 T..\\0 \\0")
t.like(msg, b"Received: from client.example ([192.0.2.1])\r\n\tby mx.example.org (facteur) with ESMTP id ",
       "Received: from helo ([ip]) by me with ESMTP id")
t.ok(b"\r\n\tfor <alice@example.org>; " in msg, "Received has for <rcpt> with one recipient")
t.is_(st.body(msg), b"Subject: one\r\n\r\n.dot\r\nx\r\nbody\r\n", "dot-unstuffed body, exact")
t.ok(b"result=250 2.0.0 queued" in err and b"from=<bob@remote.test>" in err and
     b"to=<alice@example.org>" in err and b"size=" in err, "message log line")
t.ok(b"session ip=192.0.2.1 helo=client.example" in err, "session log line")
st.clear(q)
out, err = talk(EHLO + "MAIL FROM:<>\r\n" + RCPT + "RCPT TO:<postmaster@example.org>\r\n"
                "DATA\r\nSubject: two\r\n\r\nx\r\n.\r\nQUIT\r\n")
msg, env = st.queued(q)[0]
t.is_(env, b"F\0Talice@example.org\0Tpostmaster@example.org\0\0", "null sender, two recipients")
t.ok(b"\tfor <" not in msg, "no for clause with two recipients")
st.clear(q)
out, err = talk("EHLO evil;(by)x\r\n" + MAIL + RCPT + "DATA\r\nx\r\n.\r\nQUIT\r\n")
t.like(st.queued(q)[0][0], b"Received: from evil??by?x ([192.0.2.1])\r\n", "HELO name sanitized in Received")
st.clear(q)
out, err = talk("HELO old.example\r\n" + MAIL + RCPT + "DATA\r\nx\r\n.\r\nQUIT\r\n")
t.ok(b" with SMTP id " in st.queued(q)[0][0], "HELO: with SMTP")
st.clear(q)
out, err = talk(EHLO + "MAIL FROM:<bob@remote.test> SMTPUTF8\r\n" + RCPT + "DATA\r\nx\r\n.\r\nQUIT\r\n")
t.ok(b" with UTF8SMTP id " in st.queued(q)[0][0], "SMTPUTF8: with UTF8SMTP")

# --- pipelining: two messages in one write ---
st.clear(q)
one = MAIL + RCPT + "DATA\r\nSubject: p1\r\n\r\nfirst\r\n.\r\n"
two = "MAIL FROM:<carol@remote.test>\r\n" + RCPT + "DATA\r\nSubject: p2\r\n\r\nsecond\r\n.\r\n"
out, err = talk(EHLO + one + two + "QUIT\r\n")
t.is_(st.codes(out), ["220", "250", "250", "250", "354", "250", "250", "250", "354", "250", "221"],
      "pipelined: replies in order")
m = st.queued(q)
t.ok(len(m) == 2 and b"first" in m[0][0] and b"second" in m[1][0] and
     m[1][1].startswith(b"Fcarol@"), "pipelined: both messages, each whole")

# --- databytes ---
st.write_control(home, "databytes", "100\n")
st.clear(q)
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\n" + ("x" * 50 + "\r\n") * 4 + ".\r\nNOOP\r\nQUIT\r\n")
t.ok(b"250-SIZE 100\r\n" in out, "EHLO advertises control/databytes")
t.like(st.replies(out)[5], "552 5.3.4", "message over databytes: 552 5.3.4")
t.is_(st.codes(out)[6:], ["250", "221"], "session goes on after 552")
t.is_(st.queued(q), [], "nothing queued over databytes")
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\n" + "x" * 90 + "\r\n.\r\nQUIT\r\n")
t.is_(st.codes(out)[5], "250", "message under databytes accepted")
st.write_control(home, "databytes", "52428800\n")

# --- long text lines in DATA ---
st.clear(q)
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\n" + "y" * 998 + "\r\n." + "z" * 998 + "\r\n.\r\nQUIT\r\n")
t.is_(st.codes(out)[5], "250", "998+CRLF text line (dot-stuffed too) accepted")
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\n" + "y" * 999 + "\r\n.\r\nNOOP\r\nQUIT\r\n")
t.like(st.replies(out)[5], "554 5.6.0", "text line over 1000 refused")
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\n" + "y" * 20000 + "\r\n.\r\nNOOP\r\nQUIT\r\n")
t.is_(st.codes(out)[5:], ["554", "250", "221"], "20000-byte line refused, session in step")

# --- Received hop limit ---
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\n" + "Received: x\r\n" * 100 + "\r\nb\r\n.\r\nQUIT\r\n")
t.like(st.replies(out)[5], "554 5.4.6", "100 Received headers: loop, 554 5.4.6")

# --- the queue's exit codes ---
for code, want in [(31, "554 5.7.1"), (32, "552 5.3.4"), (11, "554 5.1.3"), (53, "452 4.3.1"),
                   (71, "451 4.7.1"), (1, "451 4.3.0"), (20, "554 5.3.0")]:
    out, err = talk(EHLO + MAIL + RCPT + "DATA\r\nx\r\n.\r\nQUIT\r\n", FAKEQ_EXIT=code)
    t.like(st.replies(out)[5], want, "queue exit %d -> %s" % (code, want))
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\nx\r\n.\r\nQUIT\r\n", FACTEUR_QUEUE="/nonexistent/queue")
t.like(st.replies(out)[5], "451 4.3.", "queue program missing: 451")

# the queue cannot even be started (fork fails: RLIMIT_NPROC of 1 for the
# facteur user smtpd drops to): 354 was already sent, so the data is read
# to its end and answered 451; the session stays in step
if os.geteuid() == 0:
    import resource
    env = ft.env_for(home, FACTEUR_QUEUE=st.FAKEQ, FAKEQ_DIR=q, TCPREMOTEIP="192.0.2.1",
                     RELAYCLIENT=None, FACTEUR_TLSCTL="", FACTEUR_TLS=None)
    p = subprocess.run([ft.bin_path("facteur-smtpd")], env=env, capture_output=True, timeout=30,
                       input=(EHLO + MAIL + RCPT + "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n").encode(),
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NPROC, (1, 1)))
    r = st.replies(p.stdout)
    t.ok(len(r) >= 8 and r[4].startswith("354") and r[5].startswith("451 4.3.0") and
         r[6].startswith("250") and r[7].startswith("221"),
         "queue cannot start: 354, then 451 4.3.0 after the data, then NOOP and QUIT (%r)" % r[4:8])
else:
    t.ok(True, "# SKIP not root: RLIMIT_NPROC would not make the fork fail")
marker = os.path.join(q, "shell-ran")
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\nx\r\n.\r\nQUIT\r\n",
                FACTEUR_QUEUE="/bin/sh -c 'touch " + marker + "'")
t.ok(st.codes(out)[5] == "451" and not os.path.exists(marker),
     "FACTEUR_QUEUE split on spaces into argv, never a shell line")

# --- idle timeout ---
st.write_control(home, "timeoutsmtpd", "1\n")
env = ft.env_for(home, FACTEUR_QUEUE=st.FAKEQ, FAKEQ_DIR=q, TCPREMOTEIP="192.0.2.1")
p = subprocess.Popen([ft.bin_path("facteur-smtpd")], env=env, stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
t0 = time.time()
p.stdin.write(b"EHLO slow\r\n")
p.stdin.flush()
buf = b""
while time.time() - t0 < 10 and b"421" not in buf:
    chunk = p.stdout.read1(4096)
    if not chunk:
        break
    buf += chunk
rc = p.wait(timeout=10)
p.stdin.close()
t.ok(b"421 4.4.2" in buf and time.time() - t0 < 8, "idle client: 421 4.4.2 after control/timeoutsmtpd")
os.unlink(os.path.join(home, "control", "timeoutsmtpd"))

# --- a queue program that hangs after the message: not waited for forever ---
st.write_control(home, "timeoutsmtpd", "2\n")
hang = os.path.join(os.path.dirname(home), "hangq")
sleeper = os.path.join(q, "sleeper.pid")
with open(hang, "w") as f:
    f.write("#!/bin/sh\ncat >/dev/null\ncat <&1 >/dev/null\nsleep 60 &\necho $! > %s\nwait\n" % sleeper)
os.chmod(hang, 0o755)
t0 = time.time()
out, err = talk(EHLO + MAIL + RCPT + "DATA\r\nx\r\n.\r\nQUIT\r\n", FACTEUR_QUEUE=hang)
took = time.time() - t0
t.ok(st.replies(out)[5].startswith("451 4.4.2") and took < 15,
     "queue program hanging after the message: 451 4.4.2 after the timeout (%.1f s)" % took)
alive = False
if os.path.exists(sleeper):
    with open(sleeper) as f:
        pid = int(f.read().strip() or 0)
    for _ in range(50):
        try:
            os.kill(pid, 0)
            with open("/proc/%d/stat" % pid) as f:
                alive = f.read().split(") ")[1][0] != "Z"
        except (OSError, ValueError, IndexError):
            alive = False
        if not alive:
            break
        time.sleep(0.1)
t.ok(os.path.exists(sleeper) and not alive, "the hung queue's own children are killed too")
os.unlink(os.path.join(home, "control", "timeoutsmtpd"))

# --- missing instance ---
rc, out, err = st.session(os.path.join(home, "nonexistent"), q, "QUIT\r\n")
t.ok(out.startswith(b"421 4.3.5") or out.startswith(b"220"), "bad instance does not crash")
