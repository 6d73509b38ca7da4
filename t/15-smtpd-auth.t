#!/usr/bin/env python3
"""SMTP AUTH (RFC 4954) PLAIN and LOGIN through facteur-checkpassword,
RFC 4616 authzid rules, plaintext policy (538), brute-force delay and
disconnect, submission mode (-s): AUTH before MAIL, own addresses only,
authenticated relaying; no password ever in the log."""
import base64
import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

st = ft.data_module("smtpdt", "smtpd-tlib.py")

t = ft.TAP()
for prog in ("facteur-smtpd", "facteur-checkpassword"):
    if not os.path.exists(ft.bin_path(prog)):
        t.skip_all("bin/%s not built" % prog)
home, q = st.instance(users=(("alice@example.org", "alice-secret"), ("bob@example.org", "bob-pw")))
if os.path.exists(ft.bin_path("facteur-newaliases")):
    st.write_control(home, "aliases", "sales: alice@example.org, carol@remote.test\nother: bob@example.org\n")
    ft.run("facteur-newaliases", home=home)
LOGS = []


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def talk(data, ip="127.0.0.1", args=(), **kw):
    rc, out, err = st.session(home, q, data, ip=ip, args=args, **kw)
    LOGS.append(err)
    return st.replies(out), err


PLAIN = "AUTH PLAIN " + b64("\0alice@example.org\0alice-secret") + "\r\n"
EHLO = "EHLO client.example\r\n"

# --- successful exchanges ---
r, err = talk(EHLO + PLAIN + "QUIT\r\n")
t.like(r[2], "235 2.7.0", "PLAIN with initial response")
t.ok(b"auth ok ip=127.0.0.1 user=alice@example.org" in err, "success logged with the user")
r, err = talk(EHLO + "AUTH PLAIN\r\n" + b64("\0alice@example.org\0alice-secret") + "\r\nQUIT\r\n")
t.is_([x[:3] for x in r[2:]], ["334", "235", "221"], "PLAIN with a 334 continuation")
r, err = talk(EHLO + "AUTH PLAIN " + b64("alice@example.org\0alice@example.org\0alice-secret") + "\r\nQUIT\r\n")
t.like(r[2], "235", "authzid equal to authcid accepted")
r, err = talk(EHLO + "AUTH LOGIN\r\n" + b64("alice@example.org") + "\r\n" + b64("alice-secret") + "\r\nQUIT\r\n")
t.is_([x[:3] for x in r[2:]], ["334", "334", "235", "221"], "LOGIN")
t.ok(r[2] == "334 VXNlcm5hbWU6" and r[3] == "334 UGFzc3dvcmQ6", "LOGIN prompts")
r, err = talk(EHLO + "auth login " + b64("alice@example.org") + "\r\n" + b64("alice-secret") + "\r\nQUIT\r\n")
t.is_([x[:3] for x in r[2:]], ["334", "235", "221"], "LOGIN with initial response, lowercase")

# --- refusals that are not password failures ---
r, err = talk(PLAIN + "QUIT\r\n")
t.like(r[1], "503 5.5.1", "AUTH before EHLO: 503")
r, err = talk(EHLO + PLAIN + PLAIN + "QUIT\r\n")
t.like(r[3], "503 5.5.1", "AUTH twice: 503")
r, err = talk(EHLO + "MAIL FROM:<x@remote.test>\r\n" + PLAIN + "QUIT\r\n")
t.like(r[3], "503 5.5.1", "AUTH during a transaction: 503")
r, err = talk(EHLO + "AUTH CRAM-MD5\r\nQUIT\r\n")
t.like(r[2], "504 5.5.4", "unknown mechanism: 504")
r, err = talk(EHLO + "AUTH PLAIN %%%notbase64\r\nQUIT\r\n")
t.like(r[2], "501 5.5.2", "bad base64: 501 5.5.2")
r, err = talk(EHLO + "AUTH PLAIN\r\n*\r\nQUIT\r\n")
t.like(r[3], "501 5.0.0", "client cancels with *: 501")
r, err = talk(EHLO + "AUTH PLAIN\r\n" + "QUFB" * 800 + "\r\nQUIT\r\n")
t.like(r[3], "500 5.5.6", "overlong AUTH line: 500 5.5.6")

# --- plaintext policy ---
r, err = talk(EHLO + PLAIN + "QUIT\r\n", ip="192.0.2.1")
t.like(r[2], "538 5.7.11", "plaintext AUTH from a remote client: 538 5.7.11")
st.write_control(home, "plaintextauth", "")
r, err = talk(EHLO + PLAIN + "QUIT\r\n", ip="192.0.2.1")
t.like(r[2], "235", "control/plaintextauth allows it")
os.unlink(os.path.join(home, "control", "plaintextauth"))

# --- failures: RFC 4616 framing, wrong passwords, throttling ---
t0 = time.time()
r, err = talk(EHLO + "AUTH PLAIN " + b64("bob@example.org\0alice@example.org\0alice-secret") + "\r\nQUIT\r\n")
t.like(r[2], "535 5.7.8", "authzid naming someone else: 535")
t.ok(time.time() - t0 >= 0.9, "a failure costs at least a second")
r, err = talk(EHLO + "AUTH PLAIN " + b64("alice@example.org\0alice-secret") + "\r\nQUIT\r\n")
t.like(r[2], "535", "PLAIN with one NUL: 535")
r, err = talk(EHLO + "AUTH PLAIN " + b64("\0alice@example.org\0alice-secret\0x") + "\r\nQUIT\r\n")
t.like(r[2], "535", "PLAIN with three NULs: 535")
t0 = time.time()
bad = "AUTH PLAIN " + b64("\0alice@example.org\0wrong-password") + "\r\n"
r, err = talk(EHLO + bad + bad + bad + bad + PLAIN + "QUIT\r\n")
took = time.time() - t0
t.is_([x[:3] for x in r[2:]], ["535", "535", "535", "421"], "three failures: 535 x3 then 421 and hang up")
t.like(r[-1], "421 4.7.0", "421 4.7.0")
t.ok(took >= 5.5, "growing delay: 1+2+3 s (took %.1f)" % took)
t.ok(b"auth failed ip=127.0.0.1 user=alice@example.org" in err, "failures logged with the user")

# --- submission ---
S = ("-s",)
r, err = talk(EHLO + "MAIL FROM:<alice@example.org>\r\nQUIT\r\n", args=S)
t.like(r[2], "530 5.7.0", "-s: MAIL before AUTH: 530 5.7.0")
for sender, want in [("alice@example.org", "250"), ("Alice@Example.org", "250"),
                     ("alice+tag@example.org", "250"), ("bob@example.org", "553"),
                     ("", "553"), ("someone@remote.test", "553"), ("sales@example.org", "250"),
                     ("other@example.org", "553")]:
    r, err = talk(EHLO + PLAIN + "MAIL FROM:<" + sender + ">\r\nQUIT\r\n", args=S)
    t.is_(r[3][:3], want, "-s: alice sends as <%s>: %s" % (sender, want))
t.like(talk(EHLO + PLAIN + "MAIL FROM:<bob@example.org>\r\nQUIT\r\n", args=S)[0][3], "553 5.7.1",
       "-s: 553 5.7.1 for a sender not owned")
st.clear(q)
r, err = talk(EHLO + PLAIN + "MAIL FROM:<alice@example.org>\r\nRCPT TO:<friend@remote.test>\r\n"
              "DATA\r\nSubject: out\r\n\r\nhi\r\n.\r\nQUIT\r\n", args=S, ip="192.0.2.1",
              FACTEUR_TLS=None)
t.like(r[2], "538", "-s from a remote client in plaintext: 538")
r, err = talk(EHLO + PLAIN + "MAIL FROM:<alice@example.org>\r\nRCPT TO:<friend@remote.test>\r\n"
              "DATA\r\nSubject: out\r\n\r\nhi\r\n.\r\nQUIT\r\n", args=S)
t.is_([x[:3] for x in r[2:]], ["235", "250", "250", "354", "250", "221"], "-s: authenticated relay")
m = st.queued(q)
t.ok(len(m) == 1 and b" with ESMTPA id " in m[0][0] and
     m[0][1] == b"Falice@example.org\0Tfriend@remote.test\0\0", "Received says ESMTPA; envelope")
t.ok(b"user=alice@example.org result=250" in err, "message log names the user")
r, err = talk(EHLO + PLAIN + "MAIL FROM:<x@remote.test>\r\nRCPT TO:<friend@remote.test>\r\nQUIT\r\n")
t.like(r[4], "250", "without -s, an authenticated client may relay too")
r, err = talk(EHLO + "MAIL FROM:<x@remote.test>\r\nRCPT TO:<friend@remote.test>\r\nQUIT\r\n")
t.like(r[3], "554 5.7.1", "without AUTH, no relay")

t.ok(all(b"alice-secret" not in e and b"wrong-password" not in e for e in LOGS),
     "no password in any log line")
