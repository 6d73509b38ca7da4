#!/usr/bin/env python3
"""t/49-pop3-maildrop.t: facteur-pop3d -m's message list is compact
(16 bytes a message plus its name, one allocation each) and still right:
a message of 4 GiB or more (a sparse file) keeps its exact size in LIST,
STAT, DELE and RSET; the list is in delivery order; the private memory a
session adds per message stays under 100 bytes (2000 messages)."""
import os
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

t = ft.TAP()
BIG = 4294967296 + 100      # the file's size: past what 32 bits hold


def owner():
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam("facteur")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return None


def maildir(root, name):
    md = os.path.join(root, name)
    for sub in ("", "cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    return md


def chown_tree(md):
    o = owner()
    if not o:
        return
    for dp, dns, fns in os.walk(md):
        os.chown(dp, *o)
        for f in fns:
            os.chown(os.path.join(dp, f), *o)


class Session:
    def __init__(self, md):
        env = dict(os.environ, FACTEUR_MAILDIR=md, USER="t49")
        self.p = subprocess.Popen([ft.bin_path("facteur-pop3d"), "-m"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.greet = self.p.stdout.readline()

    def cmd(self, line, multi=False):
        self.p.stdin.write(line.encode() + b"\r\n")
        self.p.stdin.flush()
        first = self.p.stdout.readline()
        rest = []
        if multi and first.startswith(b"+OK"):
            for _ in range(100000):
                ln = self.p.stdout.readline()
                if ln in (b".\r\n", b""):
                    break
                rest.append(ln.rstrip(b"\r\n"))
        return first.rstrip(b"\r\n"), rest

    def private_dirty_kib(self):
        with open("/proc/%d/smaps_rollup" % self.p.pid) as f:
            for ln in f:
                if ln.startswith("Private_Dirty:"):
                    return int(ln.split()[1])
        return None

    def quit(self):
        try:
            self.cmd("QUIT")
        except OSError:
            pass
        self.p.stdin.close()
        self.p.wait(timeout=10)


root = ft.tempdir()
os.chmod(root, 0o755)

# a big sparse message between two small ones, by mtime
md = maildir(root, "big")
small1 = b"Subject: one\n\nbody one\n"
small2 = b"Subject: two\n\nbody two\n"
names = [
    ("1700000001.M1P1.host,S=%d,W=%d:2," % (len(small1), len(small1) + 3), small1, 1700000001),
    ("1700000002.M2P2.host,S=%d,W=%d:2,S" % (BIG, BIG), None, 1700000002),
    ("1700000003.M3P3.host,S=%d,W=%d:2," % (len(small2), len(small2) + 3), small2, 1700000003),
]
for n, data, mt in names:
    p = os.path.join(md, "cur", n)
    with open(p, "wb") as f:
        if data is None:
            f.truncate(BIG)        # sparse: no disk used; last byte is NUL
        else:
            f.write(data)
    os.utime(p, (mt, mt))
chown_tree(md)
sz1, szb, sz2 = len(small1) + 3, BIG + 2, len(small2) + 3   # no final LF: CRLF added
s = Session(md)
t.like(s.greet, b"+OK 3 messages (%d octets)" % (sz1 + szb + sz2), "greeting counts the 4 GiB message exactly")
t.is_(s.cmd("STAT")[0], b"+OK 3 %d" % (sz1 + szb + sz2), "STAT with a size past 32 bits")
first, rest = s.cmd("LIST", multi=True)
t.is_(rest, [b"1 %d" % sz1, b"2 %d" % szb, b"3 %d" % sz2], "LIST in delivery order, the big size exact")
t.is_(s.cmd("LIST 2")[0], b"+OK 2 %d" % szb, "LIST 2")
t.like(s.cmd("DELE 2")[0], b"+OK", "DELE the big one")
t.is_(s.cmd("STAT")[0], b"+OK 2 %d" % (sz1 + sz2), "STAT after DELE subtracts the exact size")
t.like(s.cmd("RSET")[0], b"+OK", "RSET")
t.is_(s.cmd("STAT")[0], b"+OK 3 %d" % (sz1 + szb + sz2), "STAT after RSET adds it back")
first, rest = s.cmd("UIDL", multi=True)
t.is_(rest, [b"1 1700000001.M1P1.host,S=%d,W=%d" % (len(small1), len(small1) + 3),
             b"2 1700000002.M2P2.host,S=%d,W=%d" % (BIG, BIG),
             b"3 1700000003.M3P3.host,S=%d,W=%d" % (len(small2), len(small2) + 3)], "UIDL follows the sorted order")
s.quit()

# same mtime: the name breaks the tie; many messages sort right (heapsort)
md = maildir(root, "order")
import random
rnd = random.Random(49)
want = []
for i in range(300):
    n = "17000%05d.M%dP9.host" % (rnd.randrange(100000), i)
    body = b"Subject: %d\n\nx\n" % i
    p = os.path.join(md, "new", n)
    with open(p, "wb") as f:
        f.write(body)
    mt = 1700000000 + rnd.randrange(20)
    os.utime(p, (mt, mt))
    want.append((mt, n + ":2,"))
want.sort()
chown_tree(md)
s = Session(md)
first, rest = s.cmd("UIDL", multi=True)
t.is_([r.split(b" ", 1)[1].decode() for r in rest], [n[:-3] for mt, n in want],
      "300 messages listed oldest first, names breaking ties")
s.quit()

# memory per message
sanitized = b"__asan_init" in open(ft.bin_path("facteur-pop3d"), "rb").read()
if sanitized or not os.path.exists("/proc/self/smaps_rollup"):
    t.ok(True, "skip: private memory not comparable here (sanitized build or no smaps_rollup)")
else:
    empty = maildir(root, "empty")
    full = maildir(root, "full")
    body = b"Subject: m\n\n" + b"y" * 100 + b"\n"
    for i in range(2000):
        n = "1700%06d.M%dP4242.bench.test,S=%d,W=%d:2,S" % (i, i, len(body), len(body) + 3)
        with open(os.path.join(full, "cur", n), "wb") as f:
            f.write(body)
    chown_tree(empty)
    chown_tree(full)
    kib = []
    for m in (empty, full):
        s = Session(m)
        s.cmd("STAT")
        s.cmd("LIST", multi=True)
        kib.append(s.private_dirty_kib())
        s.quit()
    per = (kib[1] - kib[0]) * 1024 / 2000.0
    t.diag("Private_Dirty: empty %d KiB, 2000 messages %d KiB: %.0f bytes a message" % (kib[0], kib[1], per))
    t.ok(per < 100, "2000 messages add under 100 bytes each to the session (%.0f)" % per)
