#!/usr/bin/env python3
# Golden transcripts: t/data/imap-*.in on stdin, the output compared with
# t/data/imap-*.ref line by line (UIDVALIDITY, MODSEQs and dates replaced
# by placeholders, since they depend on the clock).
import os, re, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
data = os.path.join(ft.SRC, "t", "data")
home = ft.make_instance()

def norm(b):
    s = b.decode("utf-8", "replace")
    s = re.sub(r"(UIDVALIDITY|HIGHESTMODSEQ|APPENDUID) \d+", r"\1 N", s)
    s = re.sub(r"APPENDLIMIT=\d+", "APPENDLIMIT=N", s)
    return s.split("\r\n")

def golden(name, args, **env):
    with open(os.path.join(data, name + ".in"), "rb") as f:
        inp = f.read()
    with open(os.path.join(data, name + ".ref"), "rb") as f:
        ref = f.read().decode().split("\n")
    rc, out, err = ft.run("facteur-imapd", args, stdin=inp, home=home, **env)
    got = norm(out)
    t.is_(rc, 0, name + ": exit 0")
    n = max(len(got), len(ref))
    for i in range(n):
        g = got[i] if i < len(got) else None
        r = ref[i] if i < len(ref) else None
        if g != r:
            t.ok(False, "%s: line %d" % (name, i + 1))
            t.diag("got:  %r" % g)
            t.diag("want: %r" % r)
            return
    t.ok(True, name + ": %d lines as in the .ref" % len(ref))

golden("imap-preauth", [], TCPREMOTEIP="127.0.0.1")
md = os.path.join(ft.tempdir(), "Maildir")
os.makedirs(md)
if os.geteuid() == 0:
    import pwd
    pw = pwd.getpwnam("facteur")
    os.chown(md, pw.pw_uid, pw.pw_gid)
    os.chmod(os.path.dirname(md), 0o755)
golden("imap-mailbox", ["-m"], FACTEUR_MAILDIR=md)
