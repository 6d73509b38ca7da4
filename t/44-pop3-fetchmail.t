#!/usr/bin/env python3
# fetchmail, a real POP3 client, against facteur-pop3d under tcpserver:
# retrieves everything through an MDA and deletes it; with `keep` and
# UIDL tracking, a second run fetches only what is new; and, when
# facteur-deliver is built, delivers into a Maildir through it.
import importlib.util
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
pt = ft.data_module("pt", "pop3-tlib.py")

t = ft.TAP()
for p in ("facteur-pop3d", "facteur-checkpassword", "facteur-setup", "facteur-users"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")
for p in ("fetchmail", "tcpserver"):
    if not shutil.which(p):
        t.skip_all(p + " not installed")

home = pt.instance()
md = pt.maildir(home)
work = ft.tempdir("facteur-fm-")
m1 = open(os.path.join(D, "pop3-msg1.eml"), "rb").read()
m2 = open(os.path.join(D, "pop3-msg2.eml"), "rb").read()
m3 = b"Subject: third\n\n" + b"".join(b"fetch line %d\n" % i for i in range(2000)) + b".\n..\n"
for i, m in enumerate((m1, m2, m3)):
    pt.put(md, "17000000%02d.M%dP1.host" % (i, i), m, mtime=1700000000 + i)
srv, port = ft.tcpserver([ft.bin_path("facteur-pop3d")], home, env=pt.env(home),
                         log=os.path.join(work, "pop3d.log"))


def fetch(name, mda, extra_opts, server_opts=""):
    rc_path = os.path.join(work, name + ".rc")
    with open(rc_path, "w") as f:
        f.write('set no syslog\n'
                'poll 127.0.0.1 with proto POP3 port %d timeout 20 %s\n'
                '  user "alice@example.org" there with password "alice-secret" is "root" here\n'
                '  mda "%s"\n'
                '  options sslproto "" %s\n' % (port, server_opts, mda, extra_opts))
    os.chmod(rc_path, 0o600)
    env = dict(os.environ, HOME=work, FETCHMAILHOME=work)
    p = subprocess.run(["fetchmail", "-f", rc_path, "-N", "--nosyslog", "-v",
                        "--idfile", os.path.join(work, name + ".ids")],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def body(m):
    """what an MDA sees of a message's body: LF line ends, after the blank line"""
    return m.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]


out1 = os.path.join(work, "out1")
rc, log = fetch("a", "cat >> %s" % out1, "fetchall no keep")
if not t.is_(rc, 0, "fetchmail retrieves everything (exit 0)"):
    t.diag(log[-3000:])
got = open(out1, "rb").read() if os.path.exists(out1) else b""
t.ok(b"Subject: first" in got and body(m1).rstrip(b"\n") in got, "message 1 (LF, dot lines, no final newline) arrived")
t.ok(body(m2) in got, "message 2 (CRLF) arrived with its dot line")
t.ok(body(m3) in got, "message 3 (2000 lines, trailing dot lines) arrived whole")
t.ok(log.count(" flushed") == 3 and "not flushed" not in log, "fetchmail deleted the three after retrieval")
t.is_(pt.names(md) + pt.names(md, "new"), [], "the maildrop is empty after fetchmail's QUIT")
t.ok("expected" not in log, "no size mismatch reported by fetchmail")

# keep + UIDL: only new messages the second time
pt.put(md, "1700000100.K1.host", b"Subject: keep one\n\nkeep body one\n", mtime=1700000100)
pt.put(md, "1700000101.K2.host", b"Subject: keep two\n\nkeep body two\n", mtime=1700000101)
out2 = os.path.join(work, "out2")
rc, log = fetch("b", "cat >> %s" % out2, "keep", "uidl")
got = open(out2, "rb").read() if os.path.exists(out2) else b""
t.ok(rc == 0 and got.count(b"keep body") == 2, "keep: two messages fetched")
t.is_(len(pt.names(md)), 2, "keep: they stay on the server")
pt.put(md, "1700000102.K3.host", b"Subject: keep three\n\nkeep body three\n", mtime=1700000102)
rc, log = fetch("b", "cat >> %s" % out2, "keep", "uidl")
got = open(out2, "rb").read() if os.path.exists(out2) else b""
t.ok(rc == 0 and got.count(b"keep body") == 3 and b"keep body three" in got,
     "second run: only the new message fetched (UIDL stable across sessions)")

# through facteur-deliver into a Maildir
deliver = ft.bin_path("facteur-deliver")
if os.path.exists(deliver):
    # facteur-deliver run as root drops to facteur: it must own the place
    os.chmod(work, 0o711)
    parent = os.path.join(work, "dest")
    os.mkdir(parent, 0o700)
    pt.chown_facteur(parent)
    dest = os.path.join(parent, "Maildir")
    rc, log = fetch("c", "%s %s" % (deliver, dest), "fetchall no keep")
    t.is_(rc, 0, "fetchmail with facteur-deliver as MDA")
    got = ft.maildir_messages(dest)
    t.is_(len(got), 3, "three messages delivered into the Maildir")
    t.ok(any(b"keep body three" in g for g in got), "their content arrived")
else:
    t.ok(True, "skip: facteur-deliver not built")
srv.stop()
t.ok(b"alice-secret" not in open(os.path.join(work, "pop3d.log"), "rb").read(), "no password in the server log")
