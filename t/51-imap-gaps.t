#!/usr/bin/env python3
# The gaps session 1 left in facteur-imapd, each checked so that the code
# before the fix fails it: STORE whose rename fails answers NO; a keyword
# past the 25 that fit in file names is refused with NO [LIMIT] (and
# PERMANENTFLAGS stops offering \*); a message sequence number on an empty
# mailbox is BAD; non-UID FETCH, STORE and SEARCH report other sessions'
# new messages and flags but never EXPUNGE; MODSEQs stay strictly
# increasing when two sessions store flags in turn; LIST of many folders is
# not quadratic. Drives facteur-imapd -m (as facteur-checkpassword runs it)
# through pipes, two sessions at once where it matters. Also: the index
# appended to (half lines from a crash, compaction), and QRESYNC.
import os, re, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
TIMEOUT = 20

def mkmaildir(n=0):
    d = os.path.join(ft.tempdir(), "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub))
    for i in range(n):
        with open(os.path.join(d, "cur", "17000000%02d.M%d.host:2," % (i, i)), "wb") as f:
            f.write(b"Subject: m%d\r\nFrom: a@example.org\r\n\r\nbody %d\r\n" % (i, i))
    own(d)
    return d

own = ft.give_to_facteur

class Sess:
    """one mailbox-mode session on pipes; cmd() returns everything up to
    and including the tagged reply"""
    n = 0

    def __init__(self, md):
        env = ft.env_for(md, FACTEUR_MAILDIR=md, USER="alice@example.org", FACTEUR_IMAP_TAG="a0",
                         FACTEUR_IMAP_LOOPBACK="1")
        self.p = subprocess.Popen([ft.bin_path("facteur-imapd"), "-m"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.buf = b""
        self.upto(b"a0")

    def upto(self, tag):
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            m = re.search(rb"(?:^|\r\n)" + re.escape(tag) + rb" (OK|NO|BAD)[^\r]*\r\n", self.buf)
            if m:
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out.decode("utf-8", "replace")
            d = os.read(self.p.stdout.fileno(), 65536)
            if not d:
                break
            self.buf += d
        return self.buf.decode("utf-8", "replace") + "\n(no tagged reply)"

    def cmd(self, text):
        Sess.n += 1
        tag = b"c%d" % Sess.n
        data = text.encode() if isinstance(text, str) else text
        self.p.stdin.write(tag + b" " + data + b"\r\n")
        self.p.stdin.flush()
        return self.upto(tag)

    def close(self):
        try:
            self.p.stdin.write(b"z LOGOUT\r\n")
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()

def tagged(out):
    m = re.search(r"^c\d+ ((?:OK|NO|BAD).*?)\r?$", out, re.M)
    return m.group(1) if m else out[-200:]

# 1. STORE whose rename fails (here cur/ not writable) answers NO, and the
#    flags FETCH reports afterwards are the true ones
md = mkmaildir(2)
a = Sess(md)
a.cmd("SELECT INBOX")
os.chmod(os.path.join(md, "cur"), 0o555)
r = a.cmd("STORE 1 +FLAGS (\\Flagged)")
os.chmod(os.path.join(md, "cur"), 0o700)
t.like(tagged(r), "NO", "STORE whose rename fails: NO (%s)" % tagged(r))
t.ok("\\Flagged" not in r, "and no FETCH claims the flag")
r = a.cmd("FETCH 1 (FLAGS)")
t.ok("\\Flagged" not in r, "FETCH FLAGS afterwards: the true flags")
t.ok(not any("F" in n.split(":2,")[1] for n in os.listdir(os.path.join(md, "cur"))), "no file renamed")
a.cmd("STORE 2 +FLAGS (\\Deleted)")
os.chmod(os.path.join(md, "cur"), 0o555)
r = a.cmd("EXPUNGE")
os.chmod(os.path.join(md, "cur"), 0o700)
t.like(tagged(r), "NO", "EXPUNGE whose unlink fails: NO (%s)" % tagged(r))
t.ok(not re.search(r"^\* \d+ EXPUNGE", r, re.M), "and no EXPUNGE response")
r = a.cmd("EXPUNGE")
t.ok(tagged(r).startswith("OK") and re.search(r"^\* 2 EXPUNGE", r, re.M), "once it can: OK, * 2 EXPUNGE")
a.close()

# 2. keywords: 25 fit (letters a-y in file names); a 26th is refused with
#    NO [LIMIT], not dropped in silence, and PERMANENTFLAGS drops \*
md = mkmaildir(1)
a = Sess(md)
r = a.cmd("SELECT INBOX")
t.ok(re.search(r"PERMANENTFLAGS \([^)]*\\\*\)", r), "PERMANENTFLAGS offers \\* while keywords are free")
kws = " ".join("kw%02d" % i for i in range(25))
r = a.cmd("STORE 1 +FLAGS (%s)" % kws)
t.like(tagged(r), "OK", "25 keywords stored")
r = a.cmd("STORE 1 +FLAGS (kw25)")
t.like(tagged(r), "NO [LIMIT]", "the 26th keyword: NO [LIMIT] (%s)" % tagged(r))
r = a.cmd("FETCH 1 (FLAGS)")
t.ok("kw24" in r and "kw25" not in r, "FETCH FLAGS: the 25, not the 26th")
r = a.cmd("STORE 1 +FLAGS (kw03)")
t.like(tagged(r), "OK", "a keyword that exists still works")
r = a.cmd("APPEND INBOX (kw99) {11}\r\nSubject: x\r\n")
t.like(tagged(r), "NO [LIMIT]", "APPEND with a new keyword past the limit: NO [LIMIT]")
r = a.cmd("SELECT INBOX")
t.ok(re.search(r"PERMANENTFLAGS \(", r) and not re.search(r"PERMANENTFLAGS \([^)]*\\\*\)", r),
     "PERMANENTFLAGS without \\* once every letter is taken")
a.close()

# 3. an empty mailbox: a sequence number, "*" included, names no message:
#    BAD; a UID set is fine
md = mkmaildir(0)
a = Sess(md)
a.cmd("SELECT INBOX")
for c in ("FETCH * (FLAGS)", "FETCH 1:* (FLAGS)", "FETCH 1 (FLAGS)", "STORE * +FLAGS (\\Seen)", "COPY * INBOX"):
    r = a.cmd(c)
    t.like(tagged(r), "BAD", "empty mailbox: %s is BAD" % c)
r = a.cmd("UID FETCH 1:* (FLAGS)")
t.like(tagged(r), "OK", "empty mailbox: UID FETCH 1:* is OK")
r = a.cmd("SEARCH ALL")
t.like(tagged(r), "OK", "empty mailbox: SEARCH ALL is OK")
a.close()

# 4. another session's changes reach a session that only runs non-UID
#    FETCH, STORE and SEARCH: EXISTS and FETCH FLAGS yes, EXPUNGE not
#    before a command that may send it (RFC 9051 7.4.1)
md = mkmaildir(3)
a, b = Sess(md), Sess(md)
a.cmd("SELECT INBOX")
b.cmd("SELECT INBOX")
b.cmd("UID STORE 1 +FLAGS (\\Flagged)")
b.cmd("APPEND INBOX {11}\r\nSubject: y\r\n")
r = a.cmd("FETCH 1 (UID)")
t.ok(re.search(r"^\* 4 EXISTS", r, re.M), "non-UID FETCH reports the new message (EXISTS)")
t.ok(re.search(r"^\* 1 FETCH \(FLAGS \([^)]*\\Flagged", r, re.M), "non-UID FETCH reports the other session's flag")
b.cmd("UID STORE 2 +FLAGS (\\Deleted)")
r = b.cmd("EXPUNGE")
t.ok(re.search(r"^\* 2 EXPUNGE", r, re.M), "the other session expunges message 2")
b.cmd("UID STORE 3 +FLAGS (\\Answered)")
r = a.cmd("FETCH 1:* (UID)")
t.ok("EXPUNGE" not in r, "non-UID FETCH sends no EXPUNGE")
t.ok(re.search(r"^\* 4 FETCH \(UID 4\)", r, re.M), "sequence numbers unchanged: 4 is still UID 4")
t.ok(re.search(r"^\* 3 FETCH \(FLAGS \([^)]*\\Answered", r, re.M), "but flags of message 3 are reported")
r = a.cmd("SEARCH ALL")
t.ok("EXPUNGE" not in r and re.search(r"^\* SEARCH 1 2 3 4\r?$", r, re.M), "non-UID SEARCH: no EXPUNGE, numbers kept")
r = a.cmd("STORE 1 +FLAGS (\\Seen)")
t.like(tagged(r), "OK", "non-UID STORE on a kept message")
t.ok("EXPUNGE" not in r, "non-UID STORE sends no EXPUNGE")
r = a.cmd("STORE 2 +FLAGS (\\Seen)")
t.like(tagged(r), "NO", "STORE on the expunged message: NO")
r = a.cmd("NOOP")
t.ok(re.search(r"^\* 2 EXPUNGE", r, re.M), "NOOP then reports the EXPUNGE")
r = a.cmd("FETCH 1:* (UID)")
t.ok(re.search(r"^\* 3 FETCH \(UID 4\)", r, re.M), "and the numbers move on")
a.close()
b.close()

# 5. MODSEQs: two sessions storing flags in turn never give the same one
md = mkmaildir(10)
a, b = Sess(md), Sess(md)
for s in (a, b):
    s.cmd("ENABLE CONDSTORE")
    s.cmd("SELECT INBOX")
seen = []
for i in range(8):
    for s, uid in ((a, 1 + i % 5), (b, 6 + i % 5)):
        r = s.cmd("UID STORE %d FLAGS (%s)" % (uid, "\\Seen" if i % 2 else "\\Flagged"))
        m = re.search(r"UID %d MODSEQ \((\d+)\)" % uid, r)
        seen.append(int(m.group(1)) if m else -1)
t.ok(-1 not in seen, "every STORE reported a MODSEQ")
t.is_(len(set(seen)), len(seen), "no MODSEQ given twice by the two sessions")
t.ok(all(x < y for x, y in zip(seen, seen[1:])), "MODSEQs strictly increasing in the order given")
r = a.cmd("NOOP")
r = a.cmd("STATUS INBOX (HIGHESTMODSEQ)")
m = re.search(r"HIGHESTMODSEQ (\d+)", r)
t.ok(m and int(m.group(1)) >= max(seen), "HIGHESTMODSEQ at least the last one given")
a.close()
b.close()

# 6. LIST over many folders is not quadratic in their number
md = mkmaildir(0)
NF = 30000
for i in range(NF):
    os.mkdir(os.path.join(md, ".f%05d" % i))
    if i % 10 == 0:
        os.mkdir(os.path.join(md, ".f%05d.sub" % i))
with open(os.path.join(md, "subscriptions"), "w") as f:
    for i in range(0, 4000):
        f.write("f%05d\n" % (i * 7))
own(md)
a = Sess(md)
t0 = time.time()
r = a.cmd('LIST "" "*"')
dt = time.time() - t0
t.like(tagged(r), "OK", "LIST of %d folders" % (NF + NF // 10))
# and INBOX, and the five special-use folders made at the first login
t.is_(len(re.findall(r"^\* LIST ", r, re.M)), NF + NF // 10 + 6, "every folder listed, and INBOX")
t.ok(re.search(r'^\* LIST \(\\HasChildren\) "\." "f00010"\r?$', r, re.M), "a parent has \\HasChildren")
t.ok(re.search(r'^\* LIST \(\\HasNoChildren\) "\." "f00011"\r?$', r, re.M), "a leaf has \\HasNoChildren")
t.ok(dt < 5.0, "in %.2f s (under 5 s; the quadratic pass took 8 s here)" % dt)
t0 = time.time()
r = a.cmd('LIST (SUBSCRIBED) "" "*"')
dt = time.time() - t0
t.is_(len(re.findall(r"^\* LIST ", r, re.M)), 4000, "LIST (SUBSCRIBED): the 4000 subscriptions")
t.ok(dt < 5.0, "in %.2f s" % dt)
a.close()

# 7. the index is appended to, not rewritten at every change: half a line
#    left by a crash is ignored and cut off by the next writer; the file is
#    compacted once the appended lines pass twice the messages plus 4096;
#    another session reads only what was appended
md = mkmaildir(5)
a = Sess(md)
a.cmd("SELECT INBOX")
a.close()
idx = os.path.join(md, "facteur-uidlist")
with open(idx, "rb") as f:
    before = f.read()
t.ok(before.startswith(b"FACTEURIDX1 ") and before.endswith(b"\n"), "index written")
with open(idx, "ab") as f:
    f.write(b"3 99 - - 2 ci 1700000002.M2.ho")      # a crash in mid-append
a = Sess(md)
r = a.cmd("SELECT INBOX")
t.ok(re.search(r"^\* 5 EXISTS", r, re.M), "half a line at the end: the index still reads")
r = a.cmd("FETCH 3 (FLAGS)")
t.ok(re.search(r"^\* 3 FETCH \(FLAGS \(\)\)", r, re.M), "and the half line is not applied")
r = a.cmd("UID STORE 4 +FLAGS (\\Answered)")
t.like(tagged(r), "OK", "a STORE after it")
with open(idx, "rb") as f:
    after = f.read()
t.ok(b"1700000002.M2.ho\n" not in after and b"1700000002.M2.ho3" not in after and after.endswith(b"\n"),
     "the next writer cut the half line off before appending")
b = Sess(md)
r = b.cmd("FETCH 1:* (FLAGS)")
b.cmd("SELECT INBOX")
r = b.cmd("FETCH 4 (FLAGS)")
t.ok("\\Answered" in r, "a new session reads the appended line")
# an index that cannot be read (no header) is made again, once: the
# UIDVALIDITY it gets then stays
md2 = mkmaildir(3)
with open(os.path.join(md2, "facteur-uidlist"), "wb") as f:
    f.write(b"garbage\n1 1 - - 0 ci x\n")
own(md2)
x = Sess(md2)
r = x.cmd("SELECT INBOX")
uv1 = re.search(r"UIDVALIDITY (\d+)", r)
r = x.cmd("NOOP")
x.close()
x = Sess(md2)
r = x.cmd("SELECT INBOX")
uv2 = re.search(r"UIDVALIDITY (\d+)", r)
t.ok(uv1 and uv2 and uv1.group(1) == uv2.group(1), "an unreadable index is written again, and its UIDVALIDITY kept")
t.ok(open(os.path.join(md2, "facteur-uidlist"), "rb").read().startswith(b"FACTEURIDX1 "), "with its header")
x.close()
n0 = len(open(idx, "rb").read().splitlines())
script = "".join("c UID STORE %d %sFLAGS (\\Flagged)\r\n" % (1 + i % 5, "+" if i % 2 == 0 else "-") for i in range(2200))
for line in script.splitlines(True):
    a.p.stdin.write(line.encode())
r = a.cmd("NOOP")
lines = open(idx, "rb").read().splitlines()
t.ok(len(lines) < 2200, "compacted after 4400 appended lines: %d lines now (were %d, then growing)" % (len(lines), n0))
t.ok(lines[0].startswith(b"FACTEURIDX1 ") and sum(1 for ln in lines if ln.startswith(b"FACTEURIDX1 ")) <= len(lines) - 5,
     "a header, then the five messages")
r = b.cmd("FETCH 1:* (FLAGS)")
c = Sess(md)
c.cmd("SELECT INBOX")
r2 = c.cmd("FETCH 1:* (FLAGS)")
# the last word on each message: a FETCH answers from the view, then the
# sync after it reports what changed meanwhile
fl = lambda x: sorted(dict(re.findall(r"^\* (\d) FETCH \(FLAGS \(([^)]*)\)", x, re.M)).items())
t.is_(fl(r2), fl(a.cmd("FETCH 1:* (FLAGS)")), "a new session, after the compaction, sees the flags the writer has")
t.is_(fl(r), fl(r2), "and so does a session that had the old file open")
for s in (a, b, c):
    s.close()

# 8. QRESYNC (RFC 7162): VANISHED instead of EXPUNGE once enabled; SELECT
#    (QRESYNC ...) and UID FETCH (CHANGEDSINCE n VANISHED) tell a client
#    what it missed since its MODSEQ
md = mkmaildir(6)
a = Sess(md)
r = a.cmd("CAPABILITY")
t.ok(re.search(r"^\* CAPABILITY .*\bQRESYNC\b", r, re.M), "QRESYNC in CAPABILITY")
r = a.cmd("SELECT INBOX (QRESYNC (1 1))")
t.like(tagged(r), "BAD", "SELECT (QRESYNC ...) before ENABLE QRESYNC: BAD")
r = a.cmd("ENABLE QRESYNC")
t.ok(re.search(r"^\* ENABLED QRESYNC", r, re.M), "ENABLE QRESYNC")
r = a.cmd("SELECT INBOX")
uv = int(re.search(r"UIDVALIDITY (\d+)", r).group(1))
hms0 = int(re.search(r"HIGHESTMODSEQ (\d+)", r).group(1))
r = a.cmd("UID STORE 2 +FLAGS (\\Flagged)")
m1 = int(re.search(r"UID 2 MODSEQ \((\d+)\)", r).group(1))
a.cmd("UID STORE 3:4 +FLAGS (\\Deleted)")
r = a.cmd("EXPUNGE")
t.ok(re.search(r"^\* VANISHED 3\r?$", r, re.M) and re.search(r"^\* VANISHED 4\r?$", r, re.M),
     "EXPUNGE answers VANISHED")
t.ok(not re.search(r"^\* \d+ EXPUNGE", r, re.M), "and no EXPUNGE response")
b = Sess(md)
b.cmd("ENABLE QRESYNC")
r = b.cmd("SELECT INBOX (QRESYNC (%d %d))" % (uv, hms0))
t.like(tagged(r), "OK", "SELECT INBOX (QRESYNC (uidvalidity modseq))")
t.ok(re.search(r"^\* VANISHED \(EARLIER\) 3:4\r?$", r, re.M), "VANISHED (EARLIER) 3:4")
t.ok(re.search(r"^\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(%d\)\)" % m1, r, re.M),
     "FETCH of the message changed since that MODSEQ")
t.is_(len(re.findall(r"^\* \d+ FETCH", r, re.M)), 1, "and of no other")
r = b.cmd("SELECT INBOX (QRESYNC (%d %d 1:2,5:6))" % (uv, hms0))
t.ok("VANISHED" not in r and re.search(r"^\* 2 FETCH \(UID 2 ", r, re.M), "known UIDs limit the answer")
t.ok(re.search(r"^\* OK \[CLOSED\]", r, re.M), "CLOSED before the new mailbox's responses")
r = b.cmd("SELECT INBOX (QRESYNC (%d 1 1:6 (1:4 1:4)))" % uv)
t.like(tagged(r), "OK", "with sequence match data")
r = b.cmd("SELECT INBOX (QRESYNC (%d %d))" % (uv + 1, hms0))
t.ok(tagged(r).startswith("OK") and "VANISHED" not in r and not re.search(r"^\* \d+ FETCH", r, re.M),
     "another UIDVALIDITY: nothing to resynchronise")
r = b.cmd("SELECT INBOX (QRESYNC (%d))" % uv)
t.like(tagged(r), "BAD", "QRESYNC without a MODSEQ: BAD")
b.cmd("SELECT INBOX")
r = b.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hms0)
t.ok(re.search(r"^\* VANISHED \(EARLIER\) 3:4\r?$", r, re.M), "UID FETCH (CHANGEDSINCE n VANISHED): VANISHED (EARLIER)")
t.is_(len(re.findall(r"^\* \d+ FETCH", r, re.M)), 1, "and the one changed message")
r = b.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
t.like(tagged(r), "BAD", "VANISHED without UID: BAD")
r = b.cmd("UID FETCH 1:* (FLAGS) (VANISHED)")
t.like(tagged(r), "BAD", "VANISHED without CHANGEDSINCE: BAD")
a.cmd("UID STORE 5 +FLAGS (\\Deleted)")
a.cmd("EXPUNGE")
r = b.cmd("NOOP")
t.ok(re.search(r"^\* VANISHED 5\r?$", r, re.M) and not re.search(r"^\* \d+ EXPUNGE", r, re.M),
     "another session's expunge reaches a QRESYNC session as VANISHED")
a.close()
b.close()

# 9. three sessions appending, storing and expunging at once, and
#    deliveries into new/: APPEND's UIDs (given under the lock as the files
#    go into cur/) are never given twice, and a new session finds each
#    message under the UID its APPEND announced
import threading
md = mkmaildir(0)
home = md
sess = [Sess(md) for _ in range(3)]
for s in sess:
    s.cmd("SELECT INBOX")
got = [[] for _ in sess]
errs = []

def worker(k):
    try:
        s = sess[k]
        for i in range(25):
            body = b"Subject: s%d.%d\r\n\r\nx\r\n" % (k, i)
            r = s.cmd(b"APPEND INBOX {%d+}\r\n" % len(body) + body)
            m = re.search(r"APPENDUID \d+ (\d+)\]", r)
            if not m:
                errs.append(r[-200:])
                continue
            got[k].append((int(m.group(1)), "s%d.%d" % (k, i)))
            if i % 3 == 0:
                s.cmd("UID STORE %s +FLAGS (\\Flagged)" % m.group(1))
            if i % 5 == 4:
                s.cmd("UID STORE %s +FLAGS (\\Deleted)" % got[k][-2][0])
                s.cmd("UID EXPUNGE %s" % got[k][-2][0])
                got[k][-2] = None
            if i % 4 == 0:
                s.cmd("NOOP")
    except Exception as e:  # reported below
        errs.append(repr(e))

th = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
for x in th:
    x.start()
for i in range(15):
    rc, out, err = ft.run("facteur-deliver", [md], stdin=b"Subject: d%d\r\n\r\ny\r\n" % i, home=md)
for x in th:
    x.join(timeout=60)
t.is_(errs, [], "every APPEND answered with APPENDUID")
announced = [x for g in got for x in g if x is not None]
t.is_(len(set(u for u, _ in announced)), len(announced), "no UID announced twice")
fresh = Sess(md)
fresh.cmd("SELECT INBOX")
r = fresh.cmd("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
subj = dict((int(u), sj) for sj, u in re.findall(r"BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{\d+\}\r\nSubject: (\S+)\r\n\r\n UID (\d+)\)", r))
t.ok(all(subj.get(u) == sj for u, sj in announced), "a new session finds each appended message under its APPENDUID")
t.is_(len([v for v in subj.values() if v.startswith("s")]), len(announced), "and the expunged ones are gone")
t.is_(len([v for v in subj.values() if v.startswith("d")]), 15, "the 15 deliveries are there too")
t.is_(len(subj), len(set(subj)), "one UID a message")
for s in sess + [fresh]:
    r = s.cmd("UID FETCH 1:* (UID)")
    s.cmd("NOOP")
    r = s.cmd("UID FETCH 1:* (UID)")
    mine = sorted(int(u) for u in re.findall(r"^\* \d+ FETCH \(UID (\d+)\)", r, re.M))
    t.is_(mine, sorted(subj), "every session's view holds the same UIDs")
    s.close()

# 10. kill -9 in the middle of APPENDs and STOREs, five times: the next
#     session reads the index, every message file has one UID, no UID is
#     given twice, and every APPENDUID announced before the kill still names
#     its message
import signal, random
md = mkmaildir(20)
announced = {}
rng = random.Random(7)
for k in range(5):
    s = Sess(md)
    s.cmd("SELECT INBOX")
    for i in range(rng.randint(3, 12)):
        body = b"Subject: k%d.%d\r\n\r\nx\r\n" % (k, i)
        r = s.cmd(b"APPEND INBOX (\\Seen) {%d+}\r\n" % len(body) + body)
        m = re.search(r"APPENDUID \d+ (\d+)\]", r)
        if m:
            announced[int(m.group(1))] = "k%d.%d" % (k, i)
        s.cmd("UID STORE %d +FLAGS (\\Flagged)" % rng.randint(1, 20))
    # the next APPEND and STORE written, the reply not awaited: killed in flight
    body = b"Subject: lost%d\r\n\r\nx\r\n" % k
    s.p.stdin.write(b"x APPEND INBOX {%d+}\r\n" % len(body) + body + b"y UID STORE 3 -FLAGS (\\Flagged)\r\n")
    s.p.stdin.flush()
    time.sleep(rng.random() * 0.005)
    s.p.send_signal(signal.SIGKILL)
    s.p.wait()
c = Sess(md)
r = c.cmd("SELECT INBOX")
t.like(tagged(r), "OK", "after five kill -9: SELECT works")
r = c.cmd("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
subj = dict((int(u), sj) for sj, u in re.findall(r"BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{\d+\}\r\nSubject: (\S+)\r\n\r\n UID (\d+)\)", r))
files = [n for n in os.listdir(os.path.join(md, "cur")) + os.listdir(os.path.join(md, "new")) if not n.startswith(".")]
t.is_(len(subj), len(files), "one UID for every message file (%d)" % len(files))
t.ok(all(subj.get(u) == sj for u, sj in announced.items()), "every APPENDUID announced still names its message")
t.is_(len(set(subj.values())), len(subj), "no message under two UIDs")
c.close()
