#!/usr/bin/env python3
# facteur-lmtpd: a transcript on stdin against its golden reply file, then
# over loopback under tcpserver: smtplib.LMTP, per-recipient replies after
# DATA (one delivered, one failing), PIPELINING, smuggling variants, limits,
# bad commands and the idle timeout.
import os
import pwd
import smtplib
import socket
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-setup")):
    t.skip_all("facteur-setup is not built")
home = ft.make_instance(users=(("alice@example.org", "a"), ("bob@example.org", "b"), ("dave@example.org", "d")))
with open(os.path.join(home, "control", "databytes"), "w") as f:
    f.write("20000\n")
DATA = os.path.join(ft.SRC, "t", "data")


def box(user):
    return ft.maildir_messages(os.path.join(home, "mail", "example.org", user))


with open(os.path.join(DATA, "deliver-lmtp.in"), "rb") as f:
    rc, out, err = ft.run("facteur-lmtpd", [], stdin=f.read(), home=home)
with open(os.path.join(DATA, "deliver-lmtp.ref"), "rb") as f:
    ref = f.read()
t.is_(out.decode().replace("SIZE 20000", "SIZE N"), ref.decode(), "transcript matches deliver-lmtp.ref")
t.is_(rc, 0, "exit 0 after QUIT")
a = box("alice")
t.ok(len(a) == 1 and a[0].startswith(b"Return-Path: <s@example.net>\nDelivered-To: alice@example.org\nReceived: from client.example")
     and a[0].endswith(b"Subject: lmtp\n\n.dot\nbody\n"), "stored with Return-Path, Delivered-To, Received; dot-unstuffed; LF")
t.ok(len(box("bob")) == 1 and b"Delivered-To: bob+tag@example.org\n" in box("bob")[0], "second recipient of the same DATA")

srv, port = ft.tcpserver([ft.bin_path("facteur-lmtpd"), "-T", "2"], home)

# a real client
c = smtplib.LMTP("127.0.0.1", port)
c.ehlo_or_helo_if_needed = lambda: None
code, msg = c.docmd("LHLO", "client.example")
t.ok(code == 250 and b"PIPELINING" in msg and b"ENHANCEDSTATUSCODES" in msg and b"8BITMIME" in msg and b"SIZE 20000" in msg,
     "LHLO lists PIPELINING, ENHANCEDSTATUSCODES, 8BITMIME, SIZE")
c.ehlo_resp = msg
c.esmtp_features = {"pipelining": "", "8bitmime": "", "size": "20000"}
c.does_esmtp = True
refused = c.sendmail("s@example.net", ["alice@example.org"], b"Subject: smtplib\r\n\r\nvia smtplib.LMTP\r\n")
t.is_(refused, {}, "smtplib.LMTP sendmail to one recipient")
try:
    c.sendmail("s@example.net", ["ghost@example.org"], b"Subject: x\r\n\r\nx\r\n")
    t.ok(False, "unknown recipient refused at RCPT")
except smtplib.SMTPRecipientsRefused as e:
    t.ok(e.recipients["ghost@example.org"][0] == 550, "unknown recipient refused at RCPT with 550")
c.quit()
t.ok(any(m.endswith(b"via smtplib.LMTP\n") for m in box("alice")), "smtplib message in alice's Maildir")


def session(data, wait=3.0):
    """send everything at once (PIPELINING), return all the replies"""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    buf = b""
    end = time.time() + wait
    s.settimeout(0.5)
    while time.time() < end:
        try:
            k = s.recv(65536)
        except socket.timeout:
            if buf.endswith(b"closing\r\n"):
                break
            continue
        if not k:
            break
        buf += k
    s.close()
    return [l for l in buf.decode("latin-1").split("\r\n") if l]


# per-recipient replies: dave's Maildir is unsafe, alice's fine
dave = os.path.join(home, "mail", "example.org", "dave")
os.chmod(dave, 0o777)
na = len(box("alice"))
r = session(b"LHLO c\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<dave@example.org>\r\n"
            b"DATA\r\nSubject: two\r\n\r\nx\r\n.\r\nQUIT\r\n")
t.is_([l[:3] for l in r[-4:]], ["354", "250", "451", "221"], "pipelined: one reply per recipient, 250 then 451")
t.ok(r[-3].startswith("250 2.0.0 <alice@example.org>") and r[-2].startswith("451 4.2.0 <dave@example.org>"),
     "each reply names its recipient with an enhanced code")
t.is_(len(box("alice")), na + 1, "alice got it")
os.chmod(dave, 0o700)

# a permanent failure that is no storage problem is 550, not 552: dave's
# rules file runs a program that exits 100 (5.3.0)
rules = os.path.join(dave, ".qmail")
with open(rules, "w") as f:
    f.write("|exit 100\n")
os.chown(rules, os.stat(dave).st_uid, os.stat(dave).st_gid)
os.chmod(rules, 0o600)
r = session(b"LHLO c\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<dave@example.org>\r\n"
            b"DATA\r\nSubject: prog\r\n\r\nx\r\n.\r\nQUIT\r\n")
t.ok(r[-2].startswith("550 5.3.0 <dave@example.org>"), "program refusing the message: 550 5.3.0, not 552 (%s)" % r[-2])
os.unlink(rules)

# smuggling: only CRLF.CRLF ends DATA
for name, payload in (("\\n.\\n", b"a\n.\n"), ("\\n.\\r\\n", b"a\n.\r\n"), ("\\r\\n.\\n", b"a\r\n.\n"), ("\\r.\\r", b"a\r.\r")):
    na = len(box("alice"))
    r = session(b"LHLO c\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: smuggle\r\n\r\n" + payload +
                b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\nQUIT\r\n")
    codes = [l[:3] for l in r]
    t.ok(codes[-2:] == ["550", "221"] and codes.count("354") == 1 and len(box("alice")) == na,
         "smuggling with %s: one message, refused (550 5.6.0), nothing stored" % name)

# limits
na = len(box("alice"))
r = session(b"LHLO c\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" + b"x" * 30000 + b"\r\n.\r\nQUIT\r\n")
t.ok(r[-2].startswith("550 5.6.0"), "a 30000-byte line: refused, line too long")
r = session(b"LHLO c\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" + (b"y" * 500 + b"\r\n") * 50 + b".\r\nQUIT\r\n")
t.ok(r[-2].startswith("552 5.3.4"), "over control/databytes: 552 5.3.4")
t.is_(len(box("alice")), na, "nothing stored for refused messages")
r = session(b"LHLO c\r\nMAIL FROM:<s@example.net> SIZE=20001\r\nMAIL FROM:<s@example.net> SIZE=99999999999999999999999\r\nQUIT\r\n")
t.ok(r[-3].startswith("552") and r[-2].startswith("552"), "SIZE over the limit, and beyond 2^64: 552")
r = session(b"LHLO c\r\nMAIL FROM:<s@example.net>\r\n" + b"".join(b"RCPT TO:<alice+%d@example.org>\r\n" % i for i in range(101)) + b"QUIT\r\n")
t.ok(r[-2].startswith("452 4.5.3") and r[-3].startswith("250"), "101st recipient: 452 4.5.3")
r = session(b"LHLO c\r\nNOOP " + b"n" * 600 + b"\r\nNOOP\nNOOP\r\nQUIT\r\n")
t.ok(r[-4].startswith("500 5.5.2") and r[-3].startswith("500 5.5.2") and r[-2].startswith("250"),
     "overlong command and bare-LF command: 500 5.5.2, session goes on")
r = session(b"MAIL FROM:<a@b.c>\r\nLHLO c\r\nDATA\r\nRCPT TO:<alice@example.org>\r\nQUIT\r\n")
t.ok([l[:3] for l in r[1:2] + r[-4:]] == ["503", "250", "503", "503", "221"], "commands out of order: 503")
r = session(b"".join(b"BOGUS %d\r\n" % i for i in range(20)))
t.ok(r[-1].startswith("421") and len(r) == 12 and r[-2].startswith("500"), "too many bad commands: ten 500s, then 421 and hang up")
start = time.time()
r = session(b"LHLO c\r\n", wait=6)
t.ok(r[-1].startswith("421 4.4.2") and time.time() - start < 5.5, "idle client: 421 after the -T timeout")

# an alias with a remote target, delivered over LMTP: forwarded through the queue
with open(os.path.join(home, "control", "aliases"), "a") as f:
    f.write("fw@example.org: far@remote.example, alice@example.org\n")
ft.run("facteur-newaliases", home=home)
qdir = os.path.join(ft.tempdir(), "q")
os.makedirs(qdir)
os.chmod(os.path.dirname(qdir), 0o755)
if os.getuid() == 0:
    os.chown(qdir, pwd.getpwnam(os.environ.get("FACTEUR_USER") or "facteur").pw_uid, -1)
na = len(box("alice"))
env = ft.env_for(home, FACTEUR_QUEUE=os.path.join(DATA, "deliver-fakequeue"), FAKEQ_DIR=qdir)
rc, out, err = ft.run("facteur-lmtpd", [], env=env,
                      stdin=b"LHLO c\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<fw@example.org>\r\nDATA\r\nSubject: fw\r\n\r\nx\r\n.\r\nQUIT\r\n")
envs = [f for f in os.listdir(qdir) if f.startswith("env.")]
t.ok(b"250 2.0.0 <fw@example.org>" in out and len(box("alice")) == na + 1 and len(envs) == 1,
     "LMTP to an alias: local copy delivered, remote target queued")
if envs:
    with open(os.path.join(qdir, envs[0]), "rb") as f:
        t.is_(f.read(), b"Fs@example.net\0Tfar@remote.example\0\0", "forward envelope from LMTP")

# a recipient given twice (in any case): one reply per RCPT, one delivery
na, nb = len(box("alice")), len(box("bob"))
rc, out, err = ft.run("facteur-lmtpd", [], home=home,
                      stdin=b"LHLO c\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
                            b"RCPT TO:<bob@example.org>\r\nRCPT TO:<ALICE@example.org>\r\n"
                            b"DATA\r\nSubject: twice\r\n\r\nx\r\n.\r\nQUIT\r\n")
r = [l for l in out.decode().split("\r\n") if l.startswith("250 2.0.0 <")]
t.is_(r, ["250 2.0.0 <alice@example.org> delivered", "250 2.0.0 <bob@example.org> delivered",
          "250 2.0.0 <ALICE@example.org> delivered"], "three RCPTs, three replies after DATA")
t.ok(len(box("alice")) == na + 1 and len(box("bob")) == nb + 1, "the recipient listed twice got one copy")
