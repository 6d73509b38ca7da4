#!/usr/bin/env python3
"""facteur-remote against a scripted SMTP peer (t/data/remote-peer.py) via
control/smtproutes: per-recipient results, PIPELINING, dot-stuffing and
CRLF, SIZE, SMTPUTF8, 8BITMIME, HELO fallback, and the failures: 421 at
the greeting, 450/550 at RCPT, 552 after DATA, hangs, a line dropped in
DATA, multi-line, overlong and garbage replies."""
import importlib.util
import os
import shutil
import ssl
import subprocess
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

rl = ft.data_module("remotelib", "remote-lib.py")
rp = rl.load("remotepeer", "remote-peer.py")

t = rl.tap()
inst = rl.Instance()
home, control = inst.home, inst.control


control("me", "facteur.test\n")
control("remotetimeout", "2\n")
control("nameservers", "127.0.0.1:%d\n" % ft.free_port())   # never asked: routes are addresses

MSG = b"From: a@facteur.test\nTo: x@example.net\nSubject: test\n\nline one\n.starts with a dot\n..two dots\n.\nlast\n"


def remote(peer_port, rcpts, msg=MSG, sender="a@facteur.test", route=None, timeout=30):
    control("smtproutes", route or ("example.net 127.0.0.1:%d\n" % peer_port))
    start = time.time()
    rc, lines, err = inst.remote(["example.net", sender] + list(rcpts), msg, timeout=timeout)
    return rc, lines, err, time.time() - start


def peer(**b):
    return rp.Peer(b)


# 1. a normal delivery, one recipient refused
p = peer(rcpt=lambda a: b"550 5.1.1 no such user\r\n" if a.startswith("bad") else b"250 2.1.5 ok\r\n")
rc, lines, err, _ = remote(p.port, ["x@example.net", "bad@example.net", "y@example.net"])
p.stop()
t.is_(rc, 0, "exit 0 with a line for every recipient")
t.is_([l[0] for l in lines], ["x@example.net", "bad@example.net", "y@example.net"], "one line per recipient, in order")
t.is_([l[1] for l in lines], ["2", "5", "2"], "codes 2 5 2")
t.ok(len(lines) == 3 and "550 5.1.1 no such user" in lines[1][2], "the peer's refusal is quoted")
t.ok(len(lines) == 3 and "250 2.0.0 queued" in lines[0][2], "the peer's acceptance is quoted")
t.ok(len(lines) == 3 and lines[1][2].startswith("5.1.1 [127.0.0.1]:%d said: 550" % p.port),
     "TEXT starts with the peer's enhanced code, then who said what")
t.is_(len(p.messages), 1, "one message transferred")
if p.messages:
    mail, rcpts, body, _ = p.messages[0]
    t.like(mail, b"MAIL FROM:<a@facteur.test> SIZE=", "MAIL with SIZE=")
    t.is_(rcpts, ["x@example.net", "y@example.net"], "accepted recipients")
    t.is_(body, MSG.replace(b"\n", b"\r\n").replace(b"\r\n.", b"\r\n.."), "CRLF and dot-stuffing in DATA")
ls = p.conns[0] if p.conns else []
chunks = {l.split(b" ")[0].split(b":")[0]: c for c, l in ls}
t.ok(any(l.startswith(b"EHLO facteur.test") for _, l in ls), "EHLO with control/me")
mailc = [c for c, l in ls if l.startswith(b"MAIL")]
rcptc = [c for c, l in ls if l.startswith(b"RCPT")]
t.ok(mailc and rcptc and all(c == mailc[0] for c in rcptc), "PIPELINING: MAIL and RCPTs in one write")
t.ok(ls and ls[-1][1].startswith(b"QUIT"), "QUIT at the end")

# 2. no PIPELINING: one command at a time
p = peer(ehlo=[b"SIZE"])
rc, lines, err, _ = remote(p.port, ["x@example.net", "y@example.net"])
p.stop()
ls = p.conns[0] if p.conns else []
chunks = [c for c, l in ls if l.startswith(b"MAIL") or l.startswith(b"RCPT")]
t.ok(len(chunks) == 3 and len(set(chunks)) == 3, "without PIPELINING each command waits for its reply")
t.is_([l[1] for l in lines], ["2", "2"], "delivered without PIPELINING")
t.ok(p.messages and p.messages[0][0].rstrip() == b"MAIL FROM:<a@facteur.test> SIZE=%d" % len(MSG.replace(b"\n", b"\r\n")),
     "SIZE= is the CRLF size")

# 3. 421 at the greeting: temporary, and the message is not sent
p = peer(greeting=b"421 4.3.2 too busy\r\n")
rc, lines, err, _ = remote(p.port, ["x@example.net"])
p.stop()
t.is_(rc, 0, "421 greeting: exit 0")
t.ok(lines and lines[0][1] == "4" and "421" in lines[0][2], "421 greeting: temporary, reply quoted")

# 4. 450 and 550 at RCPT, 452 too many recipients
p = peer(rcpt=lambda a: {"t": b"450 4.2.1 try later\r\n", "p": b"550 5.7.1 go away\r\n",
                         "m": b"452 4.5.3 too many recipients\r\n"}.get(a[0], b"250 ok\r\n"))
rc, lines, err, _ = remote(p.port, ["t@example.net", "p@example.net", "m@example.net", "ok@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["4", "5", "4", "2"], "450 -> 4, 550 -> 5, 452 -> 4, 250 -> 2")
p = peer(rcpt=lambda a: b"552 5.5.3 too many recipients\r\n" if a.startswith("x") else b"250 ok\r\n")
rc, lines, err, _ = remote(p.port, ["a@example.net", "x@example.net"])
p.stop()
t.ok([l[1] for l in lines] == ["2", "4"] and lines[1][2].startswith("4.5.3 "), "552 at RCPT is temporary (RFC 5321 4.5.3.1.10)")
p = peer(rcpt=lambda a: b"550 no such user\r\n")
rc, lines, err, _ = remote(p.port, ["a@example.net"])
p.stop()
t.ok(lines and lines[0][2].startswith("5.0.0 "), "a reply without an enhanced code: 5.0.0 first")

# 5. every RCPT refused: no DATA
p = peer(rcpt=lambda a: b"550 5.1.1 nobody\r\n")
rc, lines, err, _ = remote(p.port, ["a@example.net", "b@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["5", "5"], "all recipients refused")
t.ok(not any(l.startswith(b"DATA") for l in p.lines(0)), "no DATA when no recipient was accepted")

# 6. 552 after the message, 451 after the message
for code, want in ((b"552 5.3.4 too big for us\r\n", "5"), (b"451 4.3.0 local error\r\n", "4")):
    p = peer(dataend=code)
    rc, lines, err, _ = remote(p.port, ["a@example.net", "b@example.net"])
    p.stop()
    t.is_([l[1] for l in lines], [want, want], "%s after DATA applies to every accepted recipient" % code[:3].decode())

# 7. MAIL refused
p = peer(mail=b"553 5.1.8 bad sender\r\n")
rc, lines, err, _ = remote(p.port, ["a@example.net", "b@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["5", "5"], "MAIL 553: every recipient permanent")
t.ok(lines and "553 5.1.8" in lines[0][2], "MAIL refusal quoted")
p = peer(data=b"554 5.5.1 no valid recipients\r\n")
rc, lines, err, _ = remote(p.port, ["a@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["5"], "DATA 554: permanent")

# 8. hangs: timeouts from control/remotetimeout
for stage in ("greeting", "ehlo", "rcpt", "dataend"):
    p = peer(hang=stage)
    rc, lines, err, took = remote(p.port, ["a@example.net"])
    p.stop()
    t.ok(rc == 0 and lines and lines[0][1] == "4" and "timeout" in lines[0][2],
         "peer hangs at %s: temporary, 'timeout' (%s)" % (stage, lines[0][2] if lines else err))
    t.ok(took < 10, "hang at %s bounded by control/remotetimeout (%.1fs)" % (stage, took))

# 9. the line dropped in the middle of DATA
p = peer(drop="data")
rc, lines, err, _ = remote(p.port, ["a@example.net", "b@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["4", "4"], "dropped mid-DATA: temporary for every accepted recipient")
t.ok(lines and "connection lost" in lines[0][2], "dropped mid-DATA: reason says so")
t.is_(len(p.messages), 0, "nothing was delivered")

# 10. multi-line greeting and replies, an overlong reply line
big = b"250 2.1.5 " + b"x" * 20000 + b"\r\n"
p = peer(greeting=b"220-peer.test\r\n220-welcome\r\n220 ESMTP\r\n",
         rcpt=lambda a: big if a.startswith("big") else b"250-2.1.5 first\r\n250-2.1.5 second\r\n250 2.1.5 ok\r\n")
rc, lines, err, _ = remote(p.port, ["big@example.net", "multi@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["2", "2"], "multi-line and overlong replies accepted")
t.ok(lines and all(len(l[2]) < 6000 for l in lines), "overlong reply text bounded")

# 11. endless continuation lines, garbage replies
p = peer(ehlo_reply=b"250-x\r\n" * 500 + b"250 y\r\n")
rc, lines, err, _ = remote(p.port, ["a@example.net"])
p.stop()
t.ok(lines and lines[0][1] == "4" and "overlong reply" in lines[0][2], "500-line EHLO reply: temporary")
p = peer(ehlo_reply=b"250-" + b"x" * (3 * 1024 * 1024))
rc, lines, err, took = remote(p.port, ["a@example.net"])
p.stop()
t.ok(lines and lines[0][1] == "4" and "without end" in lines[0][2], "a 3 MB reply line without LF: temporary")
for junk in (b"HTTP/1.0 200 OK\r\n", b"2\r\n", b"250_x\r\n", b"\x00\xff\xfe\r\n", b"999 what\r\n"):
    p = peer(ehlo_reply=junk)
    rc, lines, err, _ = remote(p.port, ["a@example.net"])
    p.stop()
    t.ok(rc == 0 and lines and lines[0][1] == "4" and "malformed" in lines[0][2], "garbage reply %r: temporary" % junk)

# 12. SIZE
p = peer(ehlo=[b"PIPELINING", b"SIZE 50"])
rc, lines, err, _ = remote(p.port, ["a@example.net"])
p.stop()
t.ok(lines and lines[0][1] == "5" and lines[0][2].startswith("5.3.4"), "larger than the peer's SIZE: 5.3.4")
t.ok(not any(l.startswith(b"MAIL") for l in p.lines(0)), "nothing sent when too large")
p = peer(ehlo=[b"SIZE"])
rc, lines, err, _ = remote(p.port, ["a@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["2"], "SIZE without a limit")
p = peer(ehlo=[b"SIZE 99999999999999999999999"])
rc, lines, err, _ = remote(p.port, ["a@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["2"], "SIZE over 2^64 is no limit, no crash")

# 13. SMTPUTF8
u = "j\u00f6rg@example.net"
p = peer(ehlo=[b"PIPELINING", b"8BITMIME"])
rc, lines, err, _ = remote(p.port, [u, "plain@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["5", "2"], "a UTF-8 local part to a peer without SMTPUTF8 fails alone")
t.ok(len(lines) == 2 and lines[0][2].startswith("5.6.7 ") and "this address needs" in lines[0][2],
     "with 5.6.7, naming the address")
t.ok(p.messages and p.messages[0][1] == ["plain@example.net"] and b"SMTPUTF8" not in p.messages[0][0],
     "the ASCII recipient went, without SMTPUTF8")
# only the domain is not ASCII: it goes to such a peer as A-labels
# (RFC 5890), sender and recipients alike; a UTF-8 local part cannot
p = peer(ehlo=[b"PIPELINING", b"8BITMIME"])
rc, lines, err, _ = remote(p.port, ["anna@b\u00fccher.example.net", "x@example.net", u],
                          sender="m\u00e4rta@facteur.test")
t.ok(len(lines) == 3 and all(l[1] == "5" and "the sender address needs" in l[2] for l in lines),
     "a UTF-8 local part in the sender: every recipient 5.6.7")
t.is_(len(p.messages), 0, "and nothing sent")
rc, lines, err, _ = remote(p.port, ["anna@b\u00fccher.example.net", "x@example.net", u],
                          sender="a@\u00e9t\u00e9.test")
p.stop()
t.is_([l[1] for l in lines], ["2", "2", "5"], "UTF-8 domains go as A-labels; the UTF-8 local part does not")
if p.messages:
    mail, rcpts, _, _ = p.messages[0]
    t.like(mail, b"MAIL FROM:<a@xn--t-9fab.test>", "MAIL FROM by the A-labels")
    t.ok(b"SMTPUTF8" not in mail, "MAIL without SMTPUTF8")
    t.is_(rcpts, ["anna@xn--bcher-kva.example.net", "x@example.net"], "RCPT TO by the A-labels")
else:
    t.ok(False, "the downgraded message was sent")
# which part is the domain: after the '@' that ends the local part, which
# may be a quoted string with an '@' of its own; an address literal is no
# name and has no A-labels; an ASCII address goes as given
p = peer(ehlo=[b"PIPELINING", b"8BITMIME"])
rc, lines, err, _ = remote(p.port, ["x@[IPv6:2001:DB8::1]", '"a@\u00fc"', "y@[b\u00fc]", '"q@b"@b\u00fccher.test',
                                   "z@b\u00fccher.test."], sender="a@\u00e9t\u00e9.test")
p.stop()
t.is_([l[1] for l in lines], ["2", "5", "5", "2", "2"],
      "quoted '@' and literals: only a domain that is a name goes by its A-labels")
t.is_(p.messages[0][1] if p.messages else None,
      ["x@[IPv6:2001:DB8::1]", '"q@b"@xn--bcher-kva.test', "z@xn--bcher-kva.test"],
      "the literal as given; the quoted local part kept, the domain after it as A-labels; no root dot")
# a route written with the A-labels serves the UTF-8 domain
p = peer(ehlo=[b"PIPELINING", b"8BITMIME", b"SMTPUTF8"])
control("smtproutes", "xn--bcher-kva.test 127.0.0.1:%d\n" % p.port)
rc, lines, err = inst.remote(["b\u00fccher.test", "a@facteur.test", "anna@b\u00fccher.test"], MSG)
p.stop()
t.is_([l[1] for l in lines], ["2"], "control/smtproutes by the A-labels routes the U-label domain")
t.ok(p.messages and p.messages[0][1] == ["anna@b\u00fccher.test"] and b" SMTPUTF8" in p.messages[0][0],
     "to a peer with SMTPUTF8 the address stays UTF-8")
# either way is one name: an exact entry by the A-labels beats a suffix
# or "*" matched as written, and control/tlspolicy matches the same way
p = peer(ehlo=[b"PIPELINING", b"8BITMIME", b"SMTPUTF8"])
closed = ft.free_port()
control("smtproutes", "* 127.0.0.1:%d\n.test 127.0.0.1:%d\nxn--bcher-kva.test 127.0.0.1:%d\n" % (closed, closed, p.port))
rc, lines, err = inst.remote(["b\u00fccher.test", "a@facteur.test", "anna@b\u00fccher.test"], MSG)
p.stop()
t.is_([l[1] for l in lines], ["2"], "the exact route by the A-labels wins over '.test' and '*'")
p = peer(ehlo=[b"PIPELINING", b"8BITMIME", b"SMTPUTF8"])
control("smtproutes", "xn--bcher-kva.test 127.0.0.1:%d\n" % p.port)
control("tlspolicy", "xn--bcher-kva.test encrypt\n")
rc, lines, err = inst.remote(["b\u00fccher.test", "a@facteur.test", "anna@b\u00fccher.test"], MSG)
control("tlspolicy", None)
p.stop()
t.ok(lines and lines[0][1] == "4" and "4.7.10" in lines[0][2],
     "control/tlspolicy by the A-labels holds for the U-label domain (%s)" % (lines[0][2] if lines else err))
t.is_(len(p.messages), 0, "and nothing went in plaintext")
# a smarthost given by address: its certificate names the domain, by its
# A-labels (a certificate holds no other form)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=inst.top)


openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=facteur test CA")
openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "idn.key", "-out", "idn.csr", "-subj", "/CN=xn--bcher-kva.test")
with open(os.path.join(inst.top, "idn.ext"), "w") as f:
    f.write("subjectAltName=DNS:xn--bcher-kva.test\n")
openssl("x509", "-req", "-in", "idn.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "idn.pem", "-days", "2", "-extfile", "idn.ext")
for f in ("ca.pem", "idn.pem", "idn.key"):
    os.chmod(os.path.join(inst.top, f), 0o644)
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(os.path.join(inst.top, "idn.pem"), os.path.join(inst.top, "idn.key"))
p = peer(ehlo=[b"PIPELINING", b"8BITMIME", b"SMTPUTF8"], tls=sctx)
control("smtproutes", "b\u00fccher.test 127.0.0.1:%d\n" % p.port)
control("tlspolicy", "b\u00fccher.test verify\n")
rc, lines, err = inst.remote(["b\u00fccher.test", "a@facteur.test", "anna@b\u00fccher.test"], MSG,
                             env=ft.env_for(home, SSL_CERT_FILE=os.path.join(inst.top, "ca.pem")))
control("tlspolicy", None)
p.stop()
t.is_([l[1] for l in lines], ["2"], "policy verify, smarthost by address: the certificate for the A-labels (%s)" %
      (lines[0][2] if lines else err))
p = peer(ehlo=[b"PIPELINING", b"8BITMIME", b"SMTPUTF8"])
rc, lines, err, _ = remote(p.port, [u])
p.stop()
t.is_([l[1] for l in lines], ["2"], "UTF-8 envelope to a peer with SMTPUTF8")
t.ok(p.messages and b" SMTPUTF8" in p.messages[0][0], "MAIL carries SMTPUTF8")

# 14. 8BITMIME
m8 = b"Subject: caf\xc3\xa9\n\n\xc3\xa9t\xc3\xa9\n"
p = peer()
rc, lines, err, _ = remote(p.port, ["a@example.net"], msg=m8)
p.stop()
t.ok(p.messages and b"BODY=8BITMIME" in p.messages[0][0], "8-bit message: BODY=8BITMIME")
p = peer(ehlo=[b"PIPELINING"])
rc, lines, err, _ = remote(p.port, ["a@example.net"], msg=m8)
p.stop()
t.ok(lines and lines[0][1] == "2" and p.messages and b"BODY=" not in p.messages[0][0],
     "8-bit message to a peer without 8BITMIME: sent as it is")

# 15. EHLO refused: HELO
p = peer(ehlo_reply=b"502 5.5.2 no EHLO here\r\n")
rc, lines, err, _ = remote(p.port, ["a@example.net"])
p.stop()
t.is_([l[1] for l in lines], ["2"], "HELO fallback delivers")
t.ok(any(l.startswith(b"HELO facteur.test") for l in p.lines(0)), "HELO sent")
t.ok(p.messages and b"SIZE=" not in p.messages[0][0], "no extensions after HELO")

# 16. the null sender, bad arguments
p = peer()
rc, lines, err, _ = remote(p.port, ["a@example.net", "b\r\nRCPT TO:<evil@example.net>", "c@example.net"], sender="")
p.stop()
t.is_([l[1] for l in lines], ["2", "5", "2"], "a recipient with CR LF is refused, the others delivered")
t.ok(p.messages and p.messages[0][0].startswith(b"MAIL FROM:<>"), "null sender")
t.ok(not any(b"evil" in l for l in p.lines(0)), "no command injection through a recipient")

# 17. connection refused, a bad route
port = ft.free_port()
rc, lines, err, _ = remote(port, ["a@example.net"])
t.ok(lines and lines[0][1] == "4" and "unable to connect" in lines[0][2], "connection refused: temporary")
rc, lines, err, _ = remote(0, ["a@example.net"], route="example.net 127.0.0.1:99999\n")
t.ok(lines and lines[0][1] == "4" and "smtproutes" in lines[0][2], "bad port in smtproutes: temporary")

# 18. more recipients than one run takes
p = peer()
many = ["r%d@example.net" % i for i in range(1003)]
rc, lines, err, _ = remote(p.port, many)
p.stop()
t.ok(rc == 0 and len(lines) == 1003 and all(l[1] == "2" for l in lines[:1000]) and
     all(l[1] == "4" and l[2].startswith("4.5.3") for l in lines[1000:]),
     "1003 recipients: 1000 delivered, 3 wait for the next run")
ls = p.conns[0] if p.conns else []
mailc = [c for c, l in ls if l.startswith(b"MAIL")]
rc_chunks = [c for c, l in ls if l.startswith(b"RCPT")]
t.ok(mailc and len(rc_chunks) == 1000 and rc_chunks[99] == mailc[0] and rc_chunks[100] > mailc[0],
     "pipelined in batches of 100: the 101st RCPT waits for the first 100 replies")

# 19. destinations DNS cannot name
for dom, why in (("exa mple.net", "bad destination"), ("b\u00fc..example", "A-label"), ("-x.example", "bad destination"),
                 ("[1.2.3]", "literal")):
    pr = inst.run([dom, "a@facteur.test", "x@" + dom], MSG)
    out = pr.stdout.decode()
    t.ok(pr.returncode == 0 and out.split("\t")[1:2] == ["5"] and why in out, "domain %r: permanent (%s)" % (dom, why))

# 20. usage
rc, out, err = ft.run("facteur-remote", ["example.net"], home=home)
t.is_(rc, 64, "usage error: 64")

# 21. the queue file fails while DATA is under way, in a transaction
# whose addresses went by their A-labels: the way out of transaction()
# frees what it made (valgrind; lseek fails on the second rewind of
# fd 0, through an LD_PRELOAD shim)
fbin = open(ft.bin_path("facteur-remote"), "rb").read()
if not shutil.which("valgrind") or not shutil.which("cc") or b"__asan_init" in fbin:
    t.ok(True, "queue file failing mid-DATA frees everything # SKIP needs valgrind, cc and a build without ASan")
else:
    shim = os.path.join(inst.top, "failseek.so")
    with open(shim + ".c", "w") as f:
        f.write("#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <errno.h>\n#include <unistd.h>\n"
                "off_t lseek(int fd, off_t off, int wh)\n{\n\tstatic int n;\n"
                "\toff_t (*real)(int, off_t, int) = (off_t (*)(int, off_t, int))dlsym(RTLD_NEXT, \"lseek\");\n"
                "\tif (fd == 0 && off == 0 && wh == SEEK_SET && ++n == 2) { errno = EIO; return -1; }\n"
                "\treturn real(fd, off, wh);\n}\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, shim + ".c", "-ldl"], check=True)
    os.chmod(shim, 0o755)
    p = peer(ehlo=[b"PIPELINING", b"8BITMIME"])
    control("smtproutes", "example.net 127.0.0.1:%d\n" % p.port)
    with open(os.path.join(inst.top, "msg"), "wb") as f:
        f.write(MSG)
    with open(os.path.join(inst.top, "msg"), "rb") as f:
        pr = subprocess.run(["valgrind", "-q", "--vgdb=no", "--leak-check=full", "--errors-for-leak-kinds=definite",
                             "--error-exitcode=99", ft.bin_path("facteur-remote"), "example.net",
                             "a@\u00e9t\u00e9.test", "x@example.net"], stdin=f, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ft.env_for(home, LD_PRELOAD=shim), timeout=60)
    p.stop()
    lines = rl.fields(pr.stdout)
    t.ok(lines and lines[0][1] == "4" and "unable to read" in lines[0][2], "the queue file failed mid-DATA: 4")
    t.is_(pr.returncode, 0, "queue file failing mid-DATA frees everything (valgrind: %s)" %
          " ".join(l for l in pr.stderr.decode("utf-8", "replace").splitlines() if "lost" in l))
