#!/usr/bin/env python3
# facteur-pop3d on transcripts (stdin/stdout): a golden session covering
# every command, byte-exact RETR/TOP for LF and CRLF stored messages and
# lines starting with '.', new/ -> cur/ with flags kept, UIDL stability
# across sessions and flag changes, DELE+QUIT vs DELE+drop, AUTH PLAIN.
import base64
import re
import fcntl
import importlib.util
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
pt = ft.data_module("pt", "pop3-tlib.py")

t = ft.TAP()
for p in ("facteur-pop3d", "facteur-checkpassword", "facteur-setup", "facteur-users"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

m1 = open(os.path.join(D, "pop3-msg1.eml"), "rb").read()
m2 = open(os.path.join(D, "pop3-msg2.eml"), "rb").read()


def fresh():
    home = pt.instance()
    md = pt.maildir(home)
    pt.put(md, "1700000001.M1P1.host", m1, mtime=1700000001)
    pt.put(md, "1700000002.M2P2.host:2,S", m2, mtime=1700000002)
    return home, md


# 1. the golden session
home, md = fresh()
rc, out, err = pt.session(home, open(os.path.join(D, "pop3-session.in"), "rb").read())
ref = open(os.path.join(D, "pop3-session.ref"), "rb").read()
t.is_(rc, 0, "session exits 0")
if not t.ok(out == ref, "golden session t/data/pop3-session.in matches .ref"):
    a, b = out.split(b"\r\n"), ref.split(b"\r\n")
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            t.diag("line %d: got %r want %r" % (i, x, y))
            break
t.ok(b"alice-secret" not in err, "password never logged")
t.is_(pt.names(md, "new"), [], "new/ emptied")
t.is_(pt.names(md, "cur"), ["1700000001.M1P1.host:2,", "1700000002.M2P2.host:2,S"], "moved to cur/ with ':2,', flags kept")

# 2. byte-exact RETR and sizes, against an independent computation
o = out.split(b"+OK 2 messages")[0]
t.ok(len(pt.crlf(m1)) == 109 and len(pt.crlf(m2)) == 35, "the sizes in the golden file are crlf() sizes")
blocks = out.split(b"\r\n+OK ")
retr1 = [b for b in blocks if b.startswith(b"%d octets\r\n" % len(pt.crlf(m1)))]
t.ok(retr1 and retr1[0].split(b"\r\n", 1)[1] == pt.stuff(m1) + b".", "RETR 1 is the stuffed CRLF form of the LF file")
retr2 = [b for b in blocks if b.startswith(b"%d octets\r\n" % len(pt.crlf(m2)))]
t.ok(retr2 and retr2[0].split(b"\r\n", 1)[1] == pt.stuff(m2) + b".", "RETR 2 is the CRLF file as stored, stuffed")

# 3. a larger message with every kind of line, sizes and bytes exact
home, md = fresh()
big = bytearray()
for i in range(3000):
    big += [b"Line %d\n" % i, b".dot %d\r\n" % i, b"\n", b".\n", b"x\ry\n", b"..\r\n"][i % 6]
big = b"Subject: big\n\n" + bytes(big) + b"end"
pt.put(md, "1700000003.M3P3.host", big, mtime=1700000003)
rc, out, err = pt.session(home, pt.login() + "LIST 3\r\nRETR 3\r\nQUIT\r\n")
t.like(out.split(b"\r\n")[3], b"+OK 3 %d" % len(pt.crlf(big)), "LIST size of a mixed LF/CRLF/bare-CR message")
body = out.split(b"+OK %d octets\r\n" % len(pt.crlf(big)), 1)
t.ok(len(body) == 2 and body[1].startswith(pt.stuff(big) + b".\r\n+OK bye"), "RETR of it byte-exact")

# 4. DELE + drop deletes nothing; DELE + QUIT deletes
home, md = fresh()
rc, out, err = pt.session(home, pt.login() + "DELE 1\r\nDELE 2\r\n")
t.is_(pt.status_lines(out)[-2:], ["+OK message deleted"] * 2, "DELE accepted")
t.is_(len(pt.names(md)), 2, "connection dropped after DELE: nothing deleted")
rc, out, err = pt.session(home, pt.login() + "DELE 1\r\nQUIT\r\n")
t.is_(pt.status_lines(out)[-1], "+OK bye", "QUIT after DELE: +OK")
t.is_(pt.names(md), ["1700000002.M2P2.host:2,S"], "DELE+QUIT removed message 1 only")
rc, out, err = pt.session(home, pt.login() + "DELE 1\r\nRSET\r\nQUIT\r\n")
t.is_(len(pt.names(md)), 1, "DELE+RSET+QUIT removes nothing")

# 5. UIDL stable across sessions, and after a flag change (rename in cur/)
home, md = fresh()


def uidl(home):
    rc, out, err = pt.session(home, pt.login() + "UIDL\r\nQUIT\r\n")
    ls = pt.lines(out)
    i = ls.index("+OK unique-id listing follows")
    return ls[i + 1:ls.index(".", i)]


u1 = uidl(home)
t.is_(u1, ["1 1700000001.M1P1.host", "2 1700000002.M2P2.host"], "UIDL is the Maildir unique name")
t.is_(uidl(home), u1, "UIDL the same in the next session")
os.rename(os.path.join(md, "cur", "1700000001.M1P1.host:2,"), os.path.join(md, "cur", "1700000001.M1P1.host:2,FS"))
t.is_(uidl(home), u1, "UIDL the same after a flag change")
# renamed during a session (an IMAP client setting flags): still readable, deletable
rc, out, err = pt.session(home, pt.login() + "UIDL 1\r\n")
src = os.path.join(md, "cur", "1700000001.M1P1.host:2,FS")
os.rename(src, src + "R")
rc, out, err = pt.session(home, pt.login() + "RETR 1\r\nDELE 1\r\nQUIT\r\n")
t.ok(pt.stuff(m1) + b".\r\n" in out, "RETR of a renamed message")
t.is_(pt.names(md), ["1700000002.M2P2.host:2,S"], "DELE+QUIT of a renamed message")

# 6. a second session on a locked maildrop: -ERR [IN-USE]
home, md = fresh()
fd = os.open(os.path.join(md, "facteur-pop3.lock"), os.O_RDWR | os.O_CREAT, 0o600)
pt.chown_facteur(os.path.join(md, "facteur-pop3.lock"))
fcntl.flock(fd, fcntl.LOCK_EX)
rc, out, err = pt.session(home, pt.login() + "DELE 1\r\nQUIT\r\n")
t.like(pt.status_lines(out)[-1], "-ERR [IN-USE]", "locked maildrop: -ERR [IN-USE]")
t.is_(len(pt.names(md, "new")) + len(pt.names(md)), 2, "locked maildrop untouched")
fcntl.flock(fd, fcntl.LOCK_UN)
os.close(fd)
rc, out, err = pt.session(home, pt.login() + "STAT\r\nQUIT\r\n")
t.is_(pt.status_lines(out)[-2], "+OK 2 144", "lock released: login works")

# 7. AUTH PLAIN: initial response, continuation, empty, cancel, authzid
def plain(authz, user, pw):
    return base64.b64encode(("%s\0%s\0%s" % (authz, user, pw)).encode()).decode()


rc, out, err = pt.session(home, "AUTH PLAIN %s\r\nSTAT\r\nQUIT\r\n" % plain("", "alice@example.org", "alice-secret"))
t.is_(pt.status_lines(out)[1:3], ["+OK 2 messages (144 octets)", "+OK 2 144"], "AUTH PLAIN with initial response")
rc, out, err = pt.session(home, "AUTH PLAIN\r\n%s\r\nSTAT\r\nQUIT\r\n" % plain("alice@example.org", "alice@example.org", "alice-secret"))
t.ok(b"\r\n+ \r\n" in out and pt.status_lines(out)[1] == "+OK 2 messages (144 octets)", "AUTH PLAIN with continuation, authzid = authcid")
rc, out, err = pt.session(home, "AUTH PLAIN %s\r\nSTAT\r\n" % plain("bob@example.org", "alice@example.org", "alice-secret"))
t.like(pt.status_lines(out)[1], "-ERR [AUTH]", "AUTH PLAIN acting as another user: refused")
t.like(pt.status_lines(out)[2], "-ERR", "... and not logged in")
rc, out, err = pt.session(home, "AUTH PLAIN\r\n*\r\nSTAT\r\n")
t.is_(pt.status_lines(out)[1], "-ERR authentication cancelled", "AUTH PLAIN cancelled with *")
rc, out, err = pt.session(home, "AUTH PLAIN =\r\nAUTH PLAIN !!!!\r\n")
t.is_([l[:11] for l in pt.status_lines(out)[1:]], ["-ERR [AUTH]"] * 2, "AUTH PLAIN empty or bad base64: -ERR [AUTH]")
rc, out, err = pt.session(home, "AUTH CRAM-MD5\r\nAUTH\r\nQUIT\r\n")
t.is_(pt.status_lines(out)[1], "-ERR unsupported authentication mechanism", "unknown mechanism refused")
t.ok(b"+OK\r\nPLAIN\r\n.\r\n" in out, "AUTH without argument lists PLAIN")

# 8. a user with no mail yet (no Maildir at all)
rc, out, err = pt.session(home, pt.login("bob@example.org", "bob-secret") + "STAT\r\nLIST\r\nUIDL\r\nQUIT\r\n")
t.is_(pt.status_lines(out)[2:], ["+OK 0 messages (0 octets)", "+OK 0 0", "+OK 0 messages (0 octets)",
                                 "+OK unique-id listing follows", "+OK bye"], "empty maildrop")

# 9. sizes from ",S=,W=" names (our deliveries): must still match RETR
home = pt.instance()
md = pt.maildir(home)
deliver = ft.bin_path("facteur-deliver")
msgs = [b"Subject: d1\r\n\r\n.dot\r\nend\r\n", b"Subject: d2\n\nno final newline", b"Subject: d3\r\n\r\nbare\rcr\r\n..\r\n"]
if os.path.exists(deliver):
    for m in msgs:
        rc, out, err = ft.run("facteur-deliver", [md], stdin=m, home=home)
    t.ok(all(",W=" in n for n in pt.names(md, "new")) and len(pt.names(md, "new")) == 3, "facteur-deliver names carry S= and W=")
    rc, out, err = pt.session(home, pt.login() + "LIST\r\nQUIT\r\n")
    sizes = [int(x) for x in re.findall(rb"\r\n\d+ (\d+)(?=\r\n)", out)]
    stored = [open(os.path.join(md, "cur", n), "rb").read() for n in sorted(os.listdir(os.path.join(md, "cur")),
              key=lambda n: (os.stat(os.path.join(md, "cur", n)).st_mtime, n))]
    rc, out, err = pt.session(home, pt.login() + "RETR 1\r\nRETR 2\r\nRETR 3\r\nQUIT\r\n")
    bodies = out.split(b"\r\n.\r\n")
    t.is_(sizes, [len(pt.crlf(s)) for s in stored], "LIST from S=/W= names equals the measured CRLF size")
    got = [b.split(b" octets\r\n", 1)[1] + b"\r\n" if b" octets\r\n" in b else None for b in bodies[:3]]
    t.is_(got, [pt.stuff(s) for s in stored], "RETR of delivered messages byte-exact")
    t.is_([len(pt.crlf(s)) for s in stored], [int(x.split(b" ")[1]) for x in re.findall(rb"\+OK \d+ octets", out)], "RETR's octet count = LIST size")
else:
    t.ok(True, "skip: facteur-deliver not built")
    t.ok(True, "skip")
    t.ok(True, "skip")
    t.ok(True, "skip")
home = pt.instance()
md = pt.maildir(home)
pt.put(md, "1700000009.X.host,S=5,W=999", b"Subject: liar\n\nbody\n", mtime=1700000009)
rc, out, err = pt.session(home, pt.login() + "LIST 1\r\nQUIT\r\n")
t.is_(pt.status_lines(out)[3], "+OK 1 %d" % len(pt.crlf(b"Subject: liar\n\nbody\n")), "a name whose S= does not match the file: size measured")
home = pt.instance()
md = pt.maildir(home)
liar = b"Subject: liar\n\nno final newline"
pt.put(md, "1700000010.X.host,S=%d,W=9999999999999999999" % len(liar), liar, mtime=1700000010)
rc, out, err = pt.session(home, pt.login() + "LIST 1\r\nSTAT\r\nQUIT\r\n")
t.is_(pt.status_lines(out)[3:5], ["+OK 1 %d" % len(pt.crlf(liar)), "+OK 1 %d" % len(pt.crlf(liar))],
      "a name whose W= is beyond twice S= (19 digits): size measured, not believed")
