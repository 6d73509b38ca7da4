#!/usr/bin/env python3
# Disk full: the queue on a 1 MiB tmpfs. facteur-queue answers 53 and
# leaves nothing partial; facteur-send cannot record a new message while
# the disk is full, keeps it, and delivers it once space returns.
import atexit
import importlib.util
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-send", "facteur-qstat", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")
if not q.ROOT:
    t.skip_all("needs root to mount a small tmpfs")

home, fake = q.instance(retrybase=1)
qdir = os.path.join(home, "queue")
r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0750", "tmpfs", qdir],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
if r.returncode != 0:
    t.skip_all("cannot mount a tmpfs here: " + r.stderr.decode().strip())
procs = []


def cleanup():
    for p in procs:
        p.stop()
    if subprocess.run(["umount", qdir], stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["umount", "-l", qdir], stderr=subprocess.DEVNULL)


atexit.register(cleanup)
q.chown_user(qdir)
log = os.path.join(fake, "..", "send.log")
env = q.send_env(home, fake)
filler = os.path.join(qdir, "filler")


def fill():
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        for _ in range(1000):
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    os.close(fd)


# a message bigger than the disk
rc, err = q.qq(home, b"Subject: big\n\n" + b"y" * (2 << 20), q.envelope("alice@example.org", ["bob@example.org"]))
t.is_(rc, 53, "message larger than the free space: exit 53")
t.is_(q.queue_files(home), [], "nothing partial left in the queue")
t.ok(b"No space left" in err, "the reason is logged")

# a working queue first
send = q.start_send(home, env, log)
procs.append(send)
rc, _ = q.qq(home, q.msg("before"), q.envelope("alice@example.org", ["bob@example.org"]))
t.is_(rc, 0, "small message queued")
t.ok(q.wait(lambda: q.box(fake, "bob@example.org"), 5), "and delivered")
# and finished: its files gone, so that the snapshot below stays true
q.wait(lambda: q.drained(home), 5)

# disk full: 53, nothing left behind
fill()
before = q.queue_files(home)
rc, err = q.qq(home, q.msg("full", body="z" * 20000), q.envelope("alice@example.org", ["bob@example.org"]))
t.is_(rc, 53, "disk full: exit 53 (temporary)")
t.is_(q.queue_files(home), before, "disk full: nothing partial left")
os.unlink(filler)

# committed while facteur-send is down, then the disk fills up: kept
q.stop(send)
rc, _ = q.qq(home, q.msg("kept"), q.envelope("alice@example.org", ["carol@example.org"]))
t.is_(rc, 0, "message queued while facteur-send is stopped")
# a parked inode (pool/) keeps its blocks, and writing over them needs no
# free space: empty the pool so that the info/ file must allocate
pool = os.path.join(home, "queue", "pool")
for n in os.listdir(pool) if os.path.isdir(pool) else []:
    os.unlink(os.path.join(pool, n))
fill()
send = q.start_send(home, env, log)
procs.append(send)
t.ok(q.wait(lambda: "unable to write info/" in q.read(log).decode(), 5),
     "facteur-send cannot record it while the disk is full, and says so")
time.sleep(0.3)
t.is_(q.box(fake, "carol@example.org"), [], "not delivered meanwhile")
t.ok([f for f in q.queue_files(home) if f.startswith("todo/")], "still committed in todo/")

# space returns: the queue drains
os.unlink(filler)
t.ok(q.wait(lambda: q.box(fake, "carol@example.org"), 8), "space back: the kept message is delivered (no poke needed)")
rc, _ = q.qq(home, q.msg("after"), q.envelope("alice@example.org", ["dan@example.org"]))
t.is_(rc, 0, "new messages queued again")
t.ok(q.wait(lambda: q.box(fake, "dan@example.org"), 5), "and delivered")
t.ok(q.wait(lambda: q.drained(home), 5), "queue drained")
