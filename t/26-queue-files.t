#!/usr/bin/env python3
# Queue file readers on truncated and corrupt files: facteur-qstat and
# facteur-send must refuse them (and say so), never crash or misread; the
# documented info/ format is what facteur-send writes; the inode pool
# reuses emptied files and drops hostile entries.
import importlib.util
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-send", "facteur-qstat", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

home, fake = q.instance(retrybase=300)
qdir = os.path.join(home, "queue")
log = os.path.join(fake, "..", "send.log")

# facteur-send writes the documented format
send = q.start_send(home, q.send_env(home, fake), log)
time.sleep(0.2)
q.qq(home, q.msg("fmt"), q.envelope("alice@example.org", ["temp@example.org", "bob@example.org"]))
t.ok(q.wait(lambda: os.listdir(os.path.join(qdir, "info")) and
            "temp@example.org> try 1" in q.read(log).decode() and
            q.box(fake, "bob@example.org"), 5), "message recorded in info/")
q.stop(send)
ids = os.listdir(os.path.join(qdir, "info"))
info = q.read(os.path.join(qdir, "info", ids[0])) if ids else b""
f = info.split(b"\0")
t.is_(f[:1], [b"V1"], "info starts with V1")
t.ok(len(f) > 2 and f[1].startswith(b"Q") and f[2] == b"Salice@example.org", "then Q<time> and S<sender>")
t.ok(len(f) > 4 and f[3].startswith(b"RP 1 ") and f[3].endswith(b" temp@example.org") and
     f[4] == b"E4.2.2 mailbox full", "pending recipient: tries, next, address, reason")
t.ok(len(f) > 6 and f[5].startswith(b"RD 1 ") and f[5].endswith(b" bob@example.org"),
     "delivered recipient recorded as D")

good_id = ids[0] if ids else "none"
mess = q.read(os.path.join(qdir, "mess", good_id))


def put(name, content, d="info"):
    p = os.path.join(qdir, d, name)
    with open(p, "wb") as fh:
        fh.write(content)
    q.chown_user(p)


def qstat():
    return ft.run("facteur-qstat", home=home)


# every truncation of a good file, and random corruptions
bad_id = "1700000000.000000.1.abcdef"
put(bad_id, mess, "mess")
crashes = 0
misread = 0
for n in range(len(info)):
    put(bad_id, info[:n])
    rc, out, err = qstat()
    if rc != 0:
        crashes += 1
    if (bad_id + " unreadable") not in out.decode():
        # a prefix that is itself a whole, valid file is allowed to parse
        if not (info[n - 1:n] == b"\0" and info[:n].count(b"\0") % 2 == 1):
            misread += 1
t.is_(crashes, 0, "facteur-qstat survives every truncation (%d prefixes)" % len(info))
t.is_(misread, 0, "truncations that are not whole records are reported unreadable")
random.seed(26)
crashes = 0
for i in range(150):
    b = bytearray(info)
    for k in range(random.randint(1, 4)):
        b[random.randrange(len(b))] = random.randrange(256)
    put(bad_id, bytes(b))
    rc, out, err = qstat()
    crashes += rc != 0
t.is_(crashes, 0, "facteur-qstat survives 150 corrupted files")
put(bad_id, b"V1\0Q1\0Sa@b\0RP 99999999999999999999999 0 x@y\0E\0")
rc, out, err = qstat()
t.ok(rc == 0 and (bad_id + " unreadable") in out.decode(), "a number too large is refused")
put(bad_id, b"V1\0Q1\0Sa@b\0RP 1 1 x@y\0Ea\nb\0")
rc, out, err = qstat()
t.ok(rc == 0 and "x@y" in out.decode() and "a\\x0ab" in out.decode(),
     "control bytes in a reason are escaped on output")
put("todo-bad", b"", "todo")
put(bad_id + "x", b"F", "todo")

# facteur-send with a corrupt info/ and a corrupt todo/: warns, keeps working
put(bad_id, info[:len(info) // 2])
send = q.start_send(home, q.send_env(home, fake), log)
time.sleep(0.2)
rc, _ = q.qq(home, q.msg("after"), q.envelope("alice@example.org", ["carol@example.org"]))
t.ok(q.wait(lambda: q.box(fake, "carol@example.org"), 5), "facteur-send still delivers")
sl = q.read(log).decode()
t.ok("unable to read info/" + bad_id in sl, "and warns about the corrupt info/ file")
t.ok(os.path.exists(os.path.join(qdir, "info", bad_id)), "without deleting it")
t.ok(send.poll() is None, "facteur-send still running")
q.stop(send)

# issue 2: a message delivered at the first try never gets an info/ file:
# todo/ID and its run/ file are its state, removed in the order
# queue/README.md argues (mess/, then todo/, then run/); facteur-send
# fsyncs nothing for it, and its discarded inodes are reused only after a
# syncfs
import shutil  # noqa: E402
import re  # noqa: E402
STRACE = shutil.which("strace")
if not STRACE:
    for _ in range(4):   # ft.TAP has no per-test skip: the TAP directive by hand
        t.ok(True, "# SKIP strace not installed: the order of the removals is not checked")
else:
    ids = []
    pre = set(os.listdir(os.path.join(qdir, "todo")))   # the corrupt ones above stay
    for i in range(8):
        rc, _ = q.qq(home, q.msg("sync%d" % i), q.envelope("alice@example.org", ["sync%d@example.org" % i]))
        ids.extend(f for f in os.listdir(os.path.join(qdir, "todo")) if f not in ids and f not in pre)
    tr = os.path.join(ft.tempdir(), "strace.out")
    # a stop makes facteur-send sync and publish what it held
    send = ft.start([STRACE, "-f", "-qq", "-e", "trace=syncfs,fsync,rename,renameat2,unlink", "-o", tr,
                     ft.bin_path("facteur-send")], q.send_env(home, fake), stderr=open(log, "ab"))
    # finished, not only delivered: the stop below signals the whole group
    got = q.wait(lambda: all(q.box(fake, "sync%d@example.org" % i) for i in range(8)) and
                 all(("end msg " + i) in q.read(log).decode() for i in ids), 15)
    t.ok(got and len(ids) == 8, "8 messages queued while facteur-send was stopped are delivered under strace")
    send.stop()   # the whole group: SIGTERM to strace alone leaves facteur-send running
    lines = q.read(tr).decode(errors="replace").splitlines() if os.path.exists(tr) else []
    main = lines[0].split()[0] if lines else "-"
    calls = [l.split(None, 1)[1] for l in lines if l.split()[0] == main and len(l.split(None, 1)) > 1]
    def at(pat):
        for k, c in enumerate(calls):
            if re.match(pat, c):
                return k
        return -1
    order = []
    for i in ids:
        # removed: unlinked, or parked in pool/ (qfile_discard)
        gone = lambda d: at(r'(unlink\("%s/%s"\)|rename\("%s/%s", "pool/)' % (d, re.escape(i), d, re.escape(i)))
        order.append((at(r'rename\("tmp/%s\.info", "info/%s"\)' % (re.escape(i), re.escape(i))),
                      gone("mess"), gone("todo"), at(r'(unlink|rename)\("run/%s\.0"' % re.escape(i))))
    t.ok(order and all(rn < 0 for rn, _, _, _ in order),
         "no info/ file is written for a message delivered at the first try")
    t.ok(order and all(0 <= m < td < rr for _, m, td, rr in order),
         "mess/ID goes first, then todo/ID (the commit point), then its run/ file")
    syncs = [k for k, c in enumerate(calls) if c.startswith("syncfs(") and c.rstrip().endswith("= 0")]
    published = [k for k, c in enumerate(calls) if re.match(r'renameat2\(AT_FDCWD, "pool/\.h', c)]
    nfsync = sum(1 for c in calls if c.startswith("fsync("))
    t.ok(nfsync == 0 and syncs and published and published[0] > syncs[0],
         "facteur-send fsyncs nothing for 8 messages delivered at the first try (%d), and a removed "
         "file is reused only after a syncfs (%d syncfs, %d published)" % (nfsync, len(syncs), len(published)))

# --- the inode pool (queue/README.md, "The inode pool") ---
pool = os.path.join(qdir, "pool")
send = q.start_send(home, q.send_env(home, fake), log)
# one at a time: each new batch's syncfs publishes what the last one
# discarded (held until then)
for i in range(20):
    q.qq(home, q.msg("pool%d" % i), q.envelope("alice@example.org", ["pool%d@example.org" % i]))
    q.wait(lambda: q.box(fake, "pool%d@example.org" % i) and q.drained(home), 5)
t.ok(all(q.box(fake, "pool%d@example.org" % i) for i in range(20)),
     "20 messages delivered with facteur-send parking and reusing queue files")
time.sleep(0.5)
q.stop(send)
entries = sorted(os.listdir(pool)) if os.path.isdir(pool) else []
parked = [n for n in entries if re.fullmatch(r"[pb]\d+", n)]
held = [n for n in entries if re.fullmatch(r"\.h\d+\.\d+", n)]
t.ok(parked and len(parked) + len(held) == len(entries) and len(parked) <= 2048,
     "pool/ holds files parked as pN or bN (at most 1024 each) and held as .hPID.N until a syncfs (%d, %d)"
     % (len(parked), len(held)))
parked = entries
t.ok(all(os.path.isfile(os.path.join(pool, n)) and not os.path.islink(os.path.join(pool, n)) and
         os.lstat(os.path.join(pool, n)).st_nlink == 1
         for n in parked), "every parked file is a regular file of one link")
# Parked files keep their old bytes (not emptied: freeing and allocating
# blocks again cost more than the reuse saves), so the writer of a reused
# inode must set its length. Every free name gets a long parked file of
# junk, so that facteur-queue's random probes can only find such files:
# 120 KB under the names of the class that holds blocks (bN), which a
# message takes first, and 200 bytes under the others (pN), which an
# envelope takes: each is longer than what is written over it.
for n in os.listdir(pool):
    os.unlink(os.path.join(pool, n))
for k in range(1024):
    for cls, junk in (("b", b"STALE-" * 20000), ("p", b"STALE-" * 33)):
        with open(os.path.join(pool, "%s%d" % (cls, k)), "wb") as f:
            f.write(junk)
q.chown_user(pool)
inodes = {os.lstat(os.path.join(pool, n)).st_ino for n in os.listdir(pool)}
big = {os.lstat(os.path.join(pool, n)).st_ino for n in os.listdir(pool) if n.startswith("b")}
before = set(os.listdir(os.path.join(qdir, "mess")))
before_todo = set(os.listdir(os.path.join(qdir, "todo")))
reuse_msg = q.msg("reuse")
reuse_env = q.envelope("alice@example.org", ["reuse@example.org"])
rc, _ = q.qq(home, reuse_msg, reuse_env)
new = [n for n in os.listdir(os.path.join(qdir, "mess")) if n not in before]
new_todo = [n for n in os.listdir(os.path.join(qdir, "todo")) if n not in before_todo]
t.ok(rc == 0 and len(new) == 1 and os.lstat(os.path.join(qdir, "mess", new[0])).st_ino in big,
     "facteur-queue wrote the new message into a parked inode that holds blocks (bN)")
t.ok(len(new) == 1 and q.read(os.path.join(qdir, "mess", new[0])) == reuse_msg,
     "the message is exactly its own bytes: no stale tail of the longer file it reused")
t.ok(len(new_todo) == 1 and os.lstat(os.path.join(qdir, "todo", new_todo[0])).st_ino in inodes - big and
     q.read(os.path.join(qdir, "todo", new_todo[0])) == q.committed(new_todo[0], reuse_msg, reuse_env),
     "the envelope too: a small reused inode (pN), cut to the envelope's length")

# hostile entries in pool/: never followed, never truncated through
# another link, never left in the way of a new message
for n in os.listdir(pool):
    os.unlink(os.path.join(pool, n))
victim_dir = ft.tempdir()
victim = os.path.join(victim_dir, "victim")
linked = os.path.join(victim_dir, "linked")
for p_, c in ((victim, b"do not truncate me\n"), (linked, b"nor me\n")):
    with open(p_, "wb") as f:
        f.write(c)
# every name is hostile, so facteur-queue's probes can meet nothing else
for k in range(2048):
    kind = k % 4
    n = os.path.join(pool, "%s%d" % ("pb"[k % 2], k // 2))
    if kind == 0:
        os.symlink(victim, n)
    elif kind == 1:
        os.mkfifo(n)
    elif kind == 2:
        os.link(linked, n)
    else:
        os.mkdir(n)
q.chown_user(pool)
before = set(os.listdir(os.path.join(qdir, "mess")))
rc, err = q.qq(home, q.msg("hostile pool"), q.envelope("alice@example.org", ["hp@example.org"]))
t.is_(rc, 0, "a message is queued past a symlink, a FIFO, a hard link and a directory in pool/")
t.is_((q.read(victim), q.read(linked)), (b"do not truncate me\n", b"nor me\n"),
      "the symlink's target and the hard link's other name are untouched")
new = [n for n in os.listdir(os.path.join(qdir, "mess")) if n not in before]
t.ok(len(new) == 1 and os.path.isfile(os.path.join(qdir, "mess", new[0])) and
     b"Subject: hostile pool" in q.read(os.path.join(qdir, "mess", new[0])),
     "the message is a regular file of its own in mess/")
left = len([n for n in os.listdir(pool) if n[0] in "pb"])
t.ok(left < 2048, "the hostile entries facteur-queue met were dropped from pool/ (%d of 2048 left)" % left)
# a discard killed half-way leaves pool/.hPID: removed at facteur-send's start
with open(os.path.join(pool, ".h99999"), "wb") as f:
    f.write(b"half parked")
q.chown_user(pool)
send = q.start_send(home, q.send_env(home, fake), log)
t.ok(q.wait(lambda: not os.path.exists(os.path.join(pool, ".h99999")), 5),
     "a half-parked pool/.hPID is removed when facteur-send starts")
t.ok(q.wait(lambda: not any(os.path.islink(os.path.join(pool, n)) or os.path.isdir(os.path.join(pool, n)) or
                            not os.path.isfile(os.path.join(pool, n)) or
                            os.lstat(os.path.join(pool, n)).st_nlink != 1
                            for n in os.listdir(pool)), 5),
     "and so is every hostile entry left in pool/")
t.is_((q.read(victim), q.read(linked)), (b"do not truncate me\n", b"nor me\n"),
      "still untouched after the sweep")
t.ok(q.wait(lambda: q.box(fake, "hp@example.org") and q.box(fake, "reuse@example.org"), 10),
     "both messages are delivered")
q.stop(send)
