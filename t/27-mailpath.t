#!/usr/bin/env python3
# The whole local mail path with the real programs: smtplib and swaks over
# loopback to facteur-smtpd (tcpserver) -> facteur-queue -> facteur-send ->
# facteur-local -> Maildir; facteur-sendmail the same way; a bounce for an
# unknown local user reaches the sender's Maildir.
import email
import importlib.util
import os
import shutil
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-send", "facteur-setup", "facteur-users", "facteur-smtpd",
          "facteur-local", "facteur-sendmail"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")
if not shutil.which("tcpserver"):
    t.skip_all("tcpserver (ucspi-tcp) not installed")

home = ft.make_instance(users=(("bob@example.org", "pw-bob-1"), ("carol@example.org", "pw-carol-1")))
top = os.path.dirname(home)
env = ft.env_for(home)
send = q.start_send(home, env, os.path.join(top, "send.log"))
srv, port = ft.tcpserver([ft.bin_path("facteur-smtpd")], home, log=os.path.join(top, "smtpd.log"))
bob = os.path.join(home, "mail", "example.org", "bob")
carol = os.path.join(home, "mail", "example.org", "carol")

t0 = time.time()
with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
    c.ehlo("client.test")
    c.sendmail("alice@remote.test", ["bob@example.org", "carol@example.org"],
               b"From: alice@remote.test\r\nTo: bob@example.org\r\nSubject: end to end\r\n\r\nhello bob\r\n")
got = q.wait(lambda: ft.maildir_messages(bob) and ft.maildir_messages(carol), 5)
t.ok(got, "smtplib -> smtpd -> queue -> send -> local -> both Maildirs")
t.ok(got and time.time() - t0 < 3, "within 3 s of the 250 (%.2f s)" % (time.time() - t0))
m = ft.maildir_messages(bob)
t.ok(m and b"Subject: end to end" in m[0] and b"hello bob" in m[0], "the message arrived whole")
t.ok(m and b"Received:" in m[0], "with smtpd's Received header")
t.ok(q.wait(lambda: q.drained(home), 5), "queue empty")

if shutil.which("swaks"):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", "dan@remote.test",
                        "--to", "bob@example.org", "--header", "Subject: via swaks", "--body", "swaks body"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    t.is_(r.returncode, 0, "swaks accepted")
    t.ok(q.wait(lambda: any(b"via swaks" in x for x in ft.maildir_messages(bob)), 5), "swaks message delivered")
else:
    t.ok(True, "swaks accepted # skip swaks not installed")
    t.ok(True, "swaks message delivered # skip swaks not installed")

# facteur-sendmail, and a bounce for an unknown user back to the sender
rc, out, err = ft.run("facteur-sendmail", ["-f", "carol@example.org", "bob@example.org", "nosuch@example.org"],
                      stdin=b"Subject: via sendmail\n\nhi\n", home=home)
t.is_(rc, 0, "facteur-sendmail exit 0")
t.ok(q.wait(lambda: any(b"via sendmail" in x for x in ft.maildir_messages(bob)), 5), "sendmail message delivered")
bounce = q.wait(lambda: [x for x in ft.maildir_messages(carol) if b"multipart/report" in x], 5)
t.ok(bounce, "the unknown recipient bounced to the sender's Maildir")
if bounce:
    msg = email.message_from_bytes(bounce[0])
    ds = msg.get_payload()[1].get_payload()
    r = dict((k.lower(), v) for k, v in ds[1].items()) if len(ds) > 1 else {}
    t.is_(r.get("final-recipient"), "rfc822; nosuch@example.org", "Final-Recipient")
    t.ok((r.get("status") or "").startswith("5."), "a 5.x.x status (%s)" % r.get("status"))
else:
    t.ok(False, "Final-Recipient")
    t.ok(False, "a 5.x.x status")
t.ok(q.wait(lambda: q.drained(home), 5), "queue empty")
t.is_(q.stop(send), 0, "facteur-send stops cleanly")
