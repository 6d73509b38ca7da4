#!/usr/bin/env python3
# A folder that others change: a delivery during IDLE reported within a
# second, a second IMAP session expunging and flagging, a POP3-style client
# renaming new/ to cur/ and deleting files, and a delivery with
# facteur-deliver while a session is selected. The view stays consistent
# (EXISTS, EXPUNGE, FETCH FLAGS) and UIDs never change.
import imaplib, os, re, socket, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
home = ft.make_instance()
p, port = ft.tcpserver([ft.bin_path("facteur-imapd")], home)
md = os.path.join(home, "mail", "example.org", "alice")

def deliver(body):
    rc, out, err = ft.run("facteur-deliver", [md], stdin=body, home=home)
    return rc

def uidsof(data):
    """UIDs in FETCH data; imaplib mixes in earlier unsolicited FETCH FLAGS"""
    out = []
    for d in data:
        if isinstance(d, tuple):
            d = d[0]
        m = re.search(rb"UID (\d+)", d or b"")
        if m:
            out.append(int(m.group(1)))
    return out

def login():
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login("alice@example.org", "alice-secret")
    return c

a = login()
for i in range(3):
    t.is_(deliver(b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)), 0, "facteur-deliver %d" % i)
typ, data = a.select("INBOX")
t.is_(data, [b"3"], "3 messages")
typ, data = a.uid("FETCH", "1:*", "(UID)")
uids = uidsof(data)
t.is_(uids, [1, 2, 3], "UIDs 1..3")

# IDLE: a delivery is reported within a second
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
f.readline()
s.sendall(b"a LOGIN alice@example.org alice-secret\r\nb SELECT INBOX\r\n")
while not f.readline().startswith(b"b "):
    pass
s.sendall(b"c IDLE\r\n")
t.like(f.readline(), b"+ ", "IDLE continuation")


def idle_watching():
    """a session process holds an inotify descriptor watching new/ and cur/
    (cmd_idle adds the watches after it sent its continuation)"""
    todo, procs = [p.pid], []
    while todo:
        kids = ft.children(todo.pop())
        procs += kids
        todo += kids
    for pid in procs:
        fdd = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(fdd)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(os.path.join(fdd, fd)) != "anon_inode:inotify":
                    continue
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as fh:
                    if sum(1 for ln in fh if ln.startswith("inotify wd:")) >= 2:
                        return True
            except OSError:
                continue
    return False


# a delivery before the watches are in place is seen only at the 1 s poll
ft.wait_for(idle_watching, 5)
t0 = time.time()
deliver(b"Subject: during idle\r\n\r\nx\r\n")
l = f.readline()
dt = time.time() - t0
t.is_(l, b"* 4 EXISTS\r\n", "delivery during IDLE: EXISTS")
t.ok(dt < 1.0, "reported within a second (%.2fs)" % dt)
# another session flags and expunges while we idle
b = login()
b.select("INBOX")
b.store("1", "+FLAGS", "(\\Deleted)")
b.expunge()
b.store("1", "+FLAGS", "(\\Flagged)")
got = []
end = time.time() + 3
s.settimeout(3)
while time.time() < end and not any(b"Flagged" in g for g in got):
    got.append(f.readline())
t.ok(b"* 1 EXPUNGE\r\n" in got, "another session's EXPUNGE reported during IDLE")
t.ok(any(re.match(rb"\* 1 FETCH \(FLAGS \(\\Flagged[^)]*\)", g) for g in got), "another session's flag change reported: %r" % got)
s.sendall(b"DONE\r\n")
l = f.readline()
while l.startswith(b"*"):
    l = f.readline()
t.like(l, b"c OK", "IDLE ends with DONE")
s.sendall(b"e LOGOUT\r\n")
s.close()

# the first session catches up at NOOP
typ, data = a.noop()
typ, data = a.uid("FETCH", "1:*", "(UID FLAGS)")
uids = uidsof(data)
t.is_(uids, [2, 3, 4], "UIDs kept after another session's expunge")

# a POP3-style client: takes new/ into cur/ and deletes one file
for n in os.listdir(os.path.join(md, "new")):
    os.rename(os.path.join(md, "new", n), os.path.join(md, "cur", n + ":2,S"))
cur = sorted(os.listdir(os.path.join(md, "cur")))
victim = [n for n in cur if True][0]
os.unlink(os.path.join(md, "cur", victim))
typ, data = a.noop()
typ, data = a.uid("FETCH", "1:*", "(UID FLAGS)")
uids2 = uidsof(data)
t.is_(len(uids2), 2, "a file deleted behind our back is expunged")
t.ok(set(uids2) <= {2, 3, 4}, "no UID reassigned after renames: %r" % uids2)
typ, data = a.status("INBOX", "(MESSAGES UIDNEXT)")
t.ok(b"MESSAGES 2" in data[0] and b"UIDNEXT 5" in data[0], "STATUS consistent: %r" % data)

# the same in a second session opened afterwards: same UIDs
c = login()
c.select("INBOX", readonly=True)
typ, data = c.uid("FETCH", "1:*", "(UID)")
t.is_(uidsof(data), uids2, "a new session sees the same UIDs")
c.logout()
b.logout()
a.logout()

# many messages: index built once, then SELECT without a directory scan
N = 2000
cur = os.path.join(md, "cur")
for i in range(N):
    with open(os.path.join(cur, "17%08d.M%d.host:2,S" % (i, i)), "wb") as fh:
        fh.write(b"Subject: bulk\r\n\r\nx\r\n")
if os.geteuid() == 0:
    os.system("chown -R facteur %s" % md)
a = login()
t0 = time.time()
typ, data = a.select("INBOX")
t1 = time.time() - t0
t.is_(data, [str(N + 2).encode()], "SELECT sees %d messages" % (N + 2))
typ, data = a.uid("FETCH", "1:*", "(FLAGS)")
t.is_(len(uidsof(data)), N + 2, "UID FETCH 1:* (FLAGS) answers for all")
a.logout()
idx = open(os.path.join(md, "facteur-uidlist")).read().splitlines()
# a header, then message lines; later changes are appended (a message's
# line again, "X UID" for an expunge, a header closing each append)
live = {}
for ln in idx[1:]:
    if ln.startswith("FACTEURIDX1 "):
        continue
    if ln.startswith("X "):
        live.pop(ln.split()[1], None)
    else:
        live[ln.split()[0]] = ln
t.ok(idx[0].startswith("FACTEURIDX1 "), "index starts with its header")
t.is_(len(live), N + 2, "index holds a line per message")

# three sessions polling while 30 messages arrive: every session gives each
# message the same UID, and no UID is given twice
import threading
seen = [dict() for _ in range(3)]
polls = [0, 0, 0]
stop = threading.Event()
errors = []

def poller(k):
    try:
        c = login()
        c.select("INBOX")
        while not stop.is_set():
            c.noop()
            typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            for d in data:
                if isinstance(d, tuple):
                    m = re.search(rb"UID (\d+)", d[0])
                    subj = re.search(rb"Subject: ([^\r\n]*)", d[1])
                    if m and subj:
                        u = int(m.group(1))
                        if seen[k].get(u, subj.group(1)) != subj.group(1):
                            errors.append((k, u, seen[k][u], subj.group(1)))
                        seen[k][u] = subj.group(1)
            polls[k] += 1
            time.sleep(0.05)
        c.logout()
    except Exception as e:
        errors.append(repr(e))

ths = [threading.Thread(target=poller, args=(k,)) for k in range(3)]
for th in ths:
    th.start()
for i in range(30):
    deliver(b"Subject: race %d\r\n\r\nx\r\n" % i)
    time.sleep(0.02)


def saw_all():
    return all(sum(1 for v in list(d.values()) if v.startswith(b"race")) >= 30 for d in seen)


# each session polls at its own pace (a FETCH of 2000 headers): until
# every one has seen the 30 (30 s at most), then two more polls each
# that must give the same UIDs, instead of a fixed 1.5 s
ft.wait_for(lambda: errors or not all(th.is_alive() for th in ths) or saw_all(), 30)
after = list(polls)
ft.wait_for(lambda: errors or not all(th.is_alive() for th in ths) or
            all(polls[k] >= after[k] + 2 for k in range(3)), 30)
stop.set()
for th in ths:
    th.join(30)
t.is_(errors, [], "no session saw a UID change its message")
races = [{u: s for u, s in d.items() if s.startswith(b"race")} for d in seen]
t.ok(all(len(r) == 30 for r in races), "every session saw all 30: %r" % [len(r) for r in races])
t.ok(races[0] == races[1] == races[2], "all sessions agree on the UIDs")
t.is_(len(set(races[0].values())), 30, "no UID given twice")

# IDLE sessions per user are bounded (20)
socks = []
replies = []
for i in range(21):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a LOGIN alice@example.org alice-secret\r\nb IDLE\r\n")
    f.readline()
    replies.append(f.readline())
    socks.append((s, f))
t.ok(all(r.startswith(b"+ ") for r in replies[:20]), "20 IDLE sessions accepted")
t.like(replies[20], b"b NO [LIMIT]", "the 21st is refused")
for s, f in socks:
    s.sendall(b"DONE\r\nc LOGOUT\r\n")
    s.close()

# A first SELECT of many messages in new/: renames stop after a second,
# the rest is claimed in the index ('N'), so a second session does not see
# them as \Recent again, and they stay readable where they are.
def bigmd():
    d = os.path.join(ft.tempdir(), "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub))
    return d

own = ft.give_to_facteur

def mboxrun(d, script):
    return ft.run("facteur-imapd", ["-m"], stdin=script, home=home, FACTEUR_MAILDIR=d, timeout=60)

big = bigmd()
N = 30000    # 100,000 took 1.3-1.5 s by hand; fewer keep this file short
nd = os.path.join(big, "new")
for i in range(N):
    fd = os.open(os.path.join(nd, "%d.M%dP1.h,S=20,W=21" % (1700000000 + i, i)), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"Subject: m\n\nbody %06d\n" % i)
    os.close(fd)
own(big)
t0 = time.time()
rc, out, err = mboxrun(big, b"a SELECT INBOX\r\nz LOGOUT\r\n")
took = time.time() - t0
t.ok(b"* %d EXISTS" % N in out and b"* %d RECENT" % N in out, "first SELECT: %d EXISTS, all \\Recent" % N)
t.ok(took < 3, "first SELECT of %d messages in new/ took %.1f s" % (N, took))
left = len(os.listdir(nd))
rc, out, err = mboxrun(big, b"a SELECT INBOX\r\nb FETCH %d (UID BODY.PEEK[TEXT])\r\nc FETCH 1 (UID BODY.PEEK[TEXT])\r\nz LOGOUT\r\n" % N)
t.ok(b"* 0 RECENT" in out, "second session: no \\Recent (%d were still in new/)" % left)
t.ok(b"body %06d" % (N - 1) in out and b"body 000000" in out, "first and last messages readable")
left2 = len(os.listdir(nd))
t.ok(left2 == 0 or left2 < left, "a later sync moves more to cur/ (%d, then %d left)" % (left, left2))

# the claim itself, whatever the speed of the disk: an 'N' entry of the
# index is not \Recent; a message new since is
clm = bigmd()
with open(os.path.join(clm, "new", "1.M1.h"), "wb") as fh:
    fh.write(b"Subject: a\r\n\r\na\r\n")
with open(os.path.join(clm, "new", "2.M2.h"), "wb") as fh:
    fh.write(b"Subject: b\r\n\r\nb\r\n")
with open(os.path.join(clm, "facteur-uidlist"), "wb") as fh:
    fh.write(b"FACTEURIDX1 4321 2 1 0 0\n1 1 - - 0 N- 1.M1.h\n")
own(clm)
rc, out, err = mboxrun(clm, b"a EXAMINE INBOX\r\nb STATUS INBOX (RECENT)\r\nc SELECT INBOX\r\nd FETCH 1:* (UID FLAGS)\r\nz LOGOUT\r\n")
t.ok(re.search(rb"\(RECENT 1\)", out) is not None, "STATUS RECENT counts only the unclaimed message")
t.ok(b"* 1 FETCH (UID 1 FLAGS ())" in out and b"* 2 FETCH (UID 2 FLAGS (\\Recent))" in out, "claimed message not \\Recent, the new one is")
