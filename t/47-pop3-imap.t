#!/usr/bin/env python3
# POP3 and IMAP on the same mailbox at once: an IMAP client changing flags
# (renaming files) and appending while a POP3 session is open; UIDL stays,
# RETR and DELE find the renamed file, new mail waits for the next POP3
# session, and the IMAP client sees the POP3 deletion.
import imaplib
import importlib.util
import os
import poplib
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
pt = ft.data_module("pt", "pop3-tlib.py")

t = ft.TAP()
for p in ("facteur-pop3d", "facteur-imapd", "facteur-checkpassword", "facteur-setup", "facteur-users"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")
if not shutil.which("tcpserver"):
    t.skip_all("tcpserver not installed")

home = pt.instance()
md = pt.maildir(home)
m1 = b"Subject: one\n\nfirst message\n"
m2 = b"Subject: two\n\nsecond message\n.\n"
pt.put(md, "1700000001.A.host", m1, mtime=1700000001)
pt.put(md, "1700000002.B.host", m2, mtime=1700000002)
work = os.path.dirname(home)
pop, pport = ft.tcpserver([ft.bin_path("facteur-pop3d")], home, env=pt.env(home), log=os.path.join(work, "pop.log"))
imap, iport = ft.tcpserver([ft.bin_path("facteur-imapd")], home, env=pt.env(home), log=os.path.join(work, "imap.log"))

p = poplib.POP3("127.0.0.1", pport, timeout=20)
p.user("alice@example.org")
p.pass_("alice-secret")
u_before = p.uidl()[1]
t.is_(u_before, [b"1 1700000001.A.host", b"2 1700000002.B.host"], "POP3 session open, UIDL")

c = imaplib.IMAP4("127.0.0.1", iport)
c.login("alice@example.org", "alice-secret")
typ, data = c.select("INBOX")
t.is_((typ, data), ("OK", [b"2"]), "IMAP sees both messages")
typ, data = c.store("1:2", "+FLAGS", "(\\Flagged \\Seen)")
t.is_(typ, "OK", "IMAP sets flags (renames the files)")
t.ok(all(n.endswith("FS") for n in pt.names(md)), "files renamed with flags: %r" % pt.names(md))
typ, data = c.append("INBOX", None, imaplib.Time2Internaldate(time.time()), b"Subject: three\r\n\r\nappended\r\n")
t.is_(typ, "OK", "IMAP APPEND during the POP3 session")

t.is_(p.uidl()[1], u_before, "POP3 UIDL unchanged by the flag change")
resp, ls, octets = p.retr(2)
t.ok(b"\r\n".join(ls) + b"\r\n" == pt.crlf(m2), "POP3 RETR of a message renamed by IMAP")
t.is_(p.stat()[0], 2, "the appended message waits for the next POP3 session")
p.dele(1)
t.like(p.quit(), b"+OK", "POP3 DELE 1 + QUIT")
t.is_(len(pt.names(md)), 2, "the renamed message 1 is gone, 2 and the appended one remain")

typ, data = c.noop()
t.is_(c.response("EXPUNGE"), ("EXPUNGE", [b"1"]), "IMAP NOOP reports the POP3 deletion as EXPUNGE 1")
typ, data = c.search(None, "ALL")
t.is_(data, [b"1 2"], "IMAP now sees two messages")
c.logout()

q = poplib.POP3("127.0.0.1", pport, timeout=20)
q.user("alice@example.org")
q.pass_("alice-secret")
t.is_(q.stat()[0], 2, "next POP3 session: message 2 and the appended one")
resp, ls, octets = q.retr(2)
t.is_(b"\r\n".join(ls) + b"\r\n", b"Subject: three\r\n\r\nappended\r\n", "the appended message by POP3")
q.quit()
pop.stop()
imap.stop()
