#!/usr/bin/env python3
# A local domain written with non-ASCII labels (RFC 6531 clients send
# U-labels) is the same domain as its A-label (RFC 5890): bücher.test is
# xn--bcher-kva.test. facteur-setup and facteur-users store the A-label
# form of what they are given. An SMTPUTF8 message to demo@bücher.test,
# where the instance knows the domain and the user by the A-label, is accepted at
# RCPT and delivered into that user's Maildir, through the real
# facteur-smtpd, facteur-queue, facteur-send and facteur-local; a local
# domain listed as a U-label matches its A-label the other way round.
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

t = ft.TAP()
for p in ("facteur-smtpd", "facteur-send", "facteur-local", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

UB = "b\u00fccher.test"          # bücher.test
AB = "xn--bcher-kva.test"
UX = "\u4f8b\u5b50.test"          # 例子.test, listed as a U-label
AX = "xn--fsqu00a.test"
# facteur-setup and facteur-users take the U-labels and keep the A-labels
home = ft.make_instance(hostname="mx.idna.test", domains=(UB,),
                        users=(("demo@" + UB, "demo-secret"),))
with open(os.path.join(home, "control", "domains"), "rb") as f:
    t.ok(AB.encode() in f.read().split(b"\n"), "facteur-setup --domain %s wrote %s to control/domains" % (UB, AB))
rc, out, err = ft.run("facteur-users", ["list"], home=home)
t.ok(rc == 0 and ("demo@" + AB).encode() in out.split(b"\n"), "facteur-users add demo@%s keeps demo@%s" % (UB, AB))
rc, out, err = ft.run("facteur-setup", ["--domain", "b\u00fc..test"], home=home)
t.ok(rc != 0 and b"no valid A-label" in err, "a name without a valid A-label is refused")
# and an admin can write a U-label in control/domains by hand
with open(os.path.join(home, "control", "domains"), "ab") as f:
    f.write((UX + "\n").encode("utf-8"))
env = ft.env_for(home)
send = ft.start([ft.bin_path("facteur-send")], env)
srv, port = ft.tcpserver([ft.bin_path("facteur-smtpd")], home, env=env)


def rcpt(addr):
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    try:
        s.ehlo("client.test")
        s.mail("a@example.net", ["SMTPUTF8"])
        return s.rcpt(addr)
    finally:
        s.quit()


code, msg = rcpt("demo@" + UB)
t.is_(code, 250, "RCPT demo@%s: the A-label's user (%s)" % (UB, msg.decode(errors="replace")))
code, msg = rcpt("nobody@" + UB)
t.ok(code == 550 and b"5.1.1" in msg, "RCPT nobody@%s: a local domain's unknown user, 550 5.1.1, not a relay refusal (%d %s)"
     % (UB, code, msg.decode(errors="replace")))
code, msg = rcpt("postmaster@" + AX)
t.is_(code, 250, "RCPT postmaster@%s: a local domain listed as %s" % (AX, UX))
code, msg = rcpt("someone@" + "b\u00fcchers.test")
t.ok(code == 554 and b"5.7.1" in msg, "a look-alike domain is not local: relay refused")

s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo("client.test")
body = ("From: a@example.net\r\nTo: demo@%s\r\nSubject: idna\r\n\r\nhallo\r\n" % UB).encode("utf-8")
refused = s.sendmail("a@example.net", ["demo@" + UB], body, mail_options=["SMTPUTF8"])
s.quit()
t.is_(refused, {}, "SMTPUTF8 message to demo@%s accepted" % UB)
new = os.path.join(home, "mail", AB, "demo", "new")
ok = ft.wait_for(lambda: os.path.isdir(new) and os.listdir(new), timeout=10)
files = os.listdir(new) if os.path.isdir(new) else []
t.is_(len(files), 1, "delivered into the Maildir of demo@%s" % AB)
if files:
    with open(os.path.join(new, files[0]), "rb") as f:
        data = f.read()
    t.ok(b"hallo" in data and ("Delivered-To: demo@" + UB).encode("utf-8") in data,
         "the message, with Delivered-To the address as it was sent")
else:
    t.ok(False, "the message, with Delivered-To the address as it was sent")
srv.stop()
send.stop()
