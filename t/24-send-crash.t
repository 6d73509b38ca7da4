#!/usr/bin/env python3
# The crash test of issue 2: inject a few hundred messages while killing
# facteur-send with SIGKILL several times and restarting it; every message
# must arrive, and since each delivery's runner outlives facteur-send and
# records its result, none twice. Deliveries left running at a restart are
# waited for; a runner killed too means the delivery is done again.
# Also: a facteur-queue killed mid-message leaves an orphan that
# facteur-send removes once it is old, without delivering it.
import importlib.util
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-send", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

N = 300
KILLS = 6
RCPTS = ["r%d@example.org" % i for i in range(5)]
home, fake = q.instance(retrybase=1, retrymax=2)
log = os.path.join(fake, "..", "send.log")
env = q.send_env(home, fake, FAKE_DELAY="0.01", FAKE_LOG="0")

want = {}        # (rcpt, token) -> 1
failures = []


def inject(lo, hi):
    for i in range(lo, hi):
        rc = [RCPTS[i % 5]] + ([RCPTS[(i + 1) % 5]] if i % 10 == 0 else [])
        for r in rc:
            want[(r, i)] = 1
        code, err = q.qq(home, q.msg("tok %d" % i), q.envelope("alice@example.org", rc))
        if code != 0:
            failures.append((i, code, err))


threads = [threading.Thread(target=inject, args=(k * N // 3, (k + 1) * N // 3)) for k in range(3)]
for th in threads:
    th.start()
random.seed(2)
kills = 0
deadline = time.time() + 25
# keep killing while messages are still being injected
while (kills < KILLS or any(th.is_alive() for th in threads)) and kills < 3 * KILLS and time.time() < deadline:
    p = q.start_send(home, env, log)
    time.sleep(random.uniform(0.15, 0.6))
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    kills += 1
for th in threads:
    th.join(30)
t.ok(kills >= KILLS, "facteur-send killed with SIGKILL %d times during the injection" % kills)
t.is_(failures, [], "all %d messages accepted by facteur-queue" % N)
p = q.start_send(home, env, log)
ok = q.wait(lambda: q.drained(home), 30)
t.ok(ok, "queue drained after the last restart")
if not ok:
    t.diag(subprocess.run([ft.bin_path("facteur-qstat")], env=ft.env_for(home),
                          stdout=subprocess.PIPE).stdout.decode()[-2000:])

got = {}
for r in RCPTS:
    for m in q.box(fake, r):
        mm = re.search(rb"Subject: tok (\d+)", m)
        if mm:
            k = (r, int(mm.group(1)))
            got[k] = got.get(k, 0) + 1
missing = [k for k in want if k not in got]
extra = [k for k in got if k not in want]
dups = sum(v - 1 for v in got.values() if v > 1)
t.is_(len(missing), 0, "no message lost (%d deliveries expected)" % len(want))
if missing:
    t.diag("missing: %r" % missing[:20])
t.is_(extra, [], "nothing delivered that was not sent")
t.diag("duplicates in the documented window: %d of %d deliveries" % (dups, len(want)))
# deliveries run under runners that outlive facteur-send and record their
# result, so killing facteur-send alone makes no duplicate at all
t.is_(dups, 0, "no duplicate: results of deliveries running at each kill were kept")

# a delivery still running when facteur-send is killed: the restarted one
# waits for it instead of starting it again
q.stop(p)
slow = q.send_env(home, fake, FAKE_DELAY="1.5")
p = q.start_send(home, slow, log)
q.qq(home, q.msg("slow"), q.envelope("alice@example.org", ["slow@example.org"]))
q.wait(lambda: "slow@example.org" in q.read(os.path.join(fake, "log")).decode(), 5)
os.kill(p.pid, signal.SIGKILL)
p.wait()
p = q.start_send(home, slow, log)
t.ok(q.wait(lambda: "still delivering" in q.read(log).decode(), 5), "restart: a runner is still delivering")
t.ok(q.wait(lambda: q.drained(home), 8), "its result is recorded when it ends")
time.sleep(0.5)
t.is_(len(q.box(fake, "slow@example.org")), 1, "delivered once")
t.ok("from before the restart finished" in q.read(log).decode(), "logged")
# the runner killed too (the whole process group): the delivery is redone
q.qq(home, q.msg("slow2"), q.envelope("alice@example.org", ["slow2@example.org"]))
q.wait(lambda: "slow2@example.org" in q.read(os.path.join(fake, "log")).decode(), 5)
os.killpg(p.pid, signal.SIGKILL)
p.wait()
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: q.box(fake, "slow2@example.org") and q.drained(home), 8),
     "runner killed mid-delivery: delivered after the restart")
t.is_(len(q.box(fake, "slow2@example.org")), 1, "once (it had not finished)")

# a facteur-queue killed in the middle of a message: an orphan
qp = subprocess.Popen([ft.bin_path("facteur-queue")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.DEVNULL, env=ft.env_for(home))
qp.stdin.write(b"Subject: orphan\n\npartial")
qp.stdin.flush()
mess = os.path.join(home, "queue", "mess")
orphans = q.wait(lambda: [n for n in os.listdir(mess)], 5)
time.sleep(0.2)
qp.kill()
qp.wait()
t.is_(len(orphans or []), 1, "killed facteur-queue left one message file and no envelope")
t.ok(not os.listdir(os.path.join(home, "queue", "todo")), "nothing committed")
q.stop(p)
old = time.time() - 40 * 3600
young = os.path.join(home, "queue", "tmp", "young")
with open(young, "w") as f:
    f.write("x")
oldtmp = os.path.join(home, "queue", "tmp", "old.info")
with open(oldtmp, "w") as f:
    f.write("x")
os.utime(oldtmp, (old, old))
for n in orphans or []:
    os.utime(os.path.join(mess, n), (old, old))
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: not os.listdir(mess), 5), "facteur-send removed the old orphan")
t.ok(not os.path.exists(oldtmp), "and an old tmp/ file")
t.ok(os.path.exists(young), "but not a young tmp/ file")
t.ok(not any(b"orphan" in m for r in RCPTS for m in q.box(fake, r)), "the orphan was never delivered")
# facteur-send logs after its unlink: wait for the line, do not race it
t.ok(q.wait(lambda: re.search(r"removed orphan mess/", q.read(log).decode()), 5), "orphan removal logged")
t.is_(q.stop(p), 0, "clean stop")

# A message at its first try keeps no info/ file: todo/ID and the run/
# files of its finished deliveries are its state (queue/README.md, crash
# safety 2). Killed while one of three deliveries still runs, facteur-send
# must find the two finished ones in their kept run/ files.
home3, fake3 = q.instance(retrybase=1)
log3 = os.path.join(fake3, "..", "send3.log")
env3 = q.send_env(home3, fake3, FAKE_SLOW="1.5")
qdir3 = os.path.join(home3, "queue")
p = q.start_send(home3, env3, log3)
q.qq(home3, q.msg("three"), q.envelope("alice@example.org",
                                       ["fa@example.org", "fb@example.org", "slowc@example.org"]))
t.ok(q.wait(lambda: q.box(fake3, "fa@example.org") and q.box(fake3, "fb@example.org"), 5),
     "fresh message: two of three recipients delivered")
# the boxes fill before the runners have recorded their results and
# facteur-send has taken them: kill it only once it logged both, so that
# the two finished deliveries are in their kept run/ files (not still held)
q.wait(lambda: all("to <%s@example.org> try 1: success" % r in q.read(log3).decode() for r in ("fa", "fb")), 5)
files = q.queue_files(home3)
os.kill(p.pid, signal.SIGKILL)
p.wait()
t.ok(len([f for f in files if f.startswith("run/")]) == 3 and
     len([f for f in files if f.startswith("todo/")]) == 1 and
     not [f for f in files if f.startswith("info/")],
     "its state: todo/ID and three run/ files (two finished, one running), no info/ID (%s)" % files)
p = q.start_send(home3, env3, log3)
t.ok(q.wait(lambda: q.box(fake3, "slowc@example.org") and q.drained(home3), 8),
     "after the restart the slow delivery's result is taken too")
time.sleep(0.3)
t.is_([len(q.box(fake3, r + "@example.org")) for r in ("fa", "fb", "slowc")], [1, 1, 1],
      "each recipient delivered once: the kept run/ files were applied")

# a deferral gets the message an info/ file and takes it out of todo/; a
# todo/ID that a crash brings back beside it is a leftover: info/ID wins
q.qq(home3, q.msg("defer"), q.envelope("alice@example.org", ["fd@example.org", "tempe@example.org"]))
t.ok(q.wait(lambda: q.box(fake3, "fd@example.org") and
            [f for f in q.queue_files(home3) if f.startswith("info/")], 5),
     "one recipient delivered, one deferred: the message has an info/ file")
q.stop(p)
files = q.queue_files(home3)
ids = [f[5:] for f in files if f.startswith("info/")]
t.ok(len(ids) == 1 and "todo/" + ids[0] not in files and not [f for f in files if f.startswith("run/")],
     "and no todo/ or run/ file any more (%s)" % files)
with open(os.path.join(qdir3, "todo", ids[0] if ids else "x"), "wb") as f:
    f.write(q.envelope("alice@example.org", ["fd@example.org", "tempe@example.org"]))
# and a todo/ID without its mess/ID: a message finished before a crash
gone = "1795700000.123456.4242.0123456789ab"
with open(os.path.join(qdir3, "todo", gone), "wb") as f:
    f.write(q.envelope("alice@example.org", ["fgone@example.org"]))
p = q.start_send(home3, env3, log3)
t.ok(q.wait(lambda: not os.listdir(os.path.join(qdir3, "todo")), 5),
     "restart: the leftover todo/ID beside info/ID, and the one without mess/ID, are removed")
time.sleep(1.5)
t.is_([len(q.box(fake3, "fd@example.org")), len(q.box(fake3, "fgone@example.org"))], [1, 0],
      "the delivered recipient is not delivered again, the finished message not at all")
# finished_before() logs after it removed todo/ID: wait for the line
t.ok(os.path.exists(os.path.join(qdir3, "info", ids[0] if ids else "x")) and
     q.wait(lambda: re.search(r"end msg %s \(finished before a restart\)" % gone, q.read(log3).decode()), 5),
     "the deferred recipient is still queued in info/; the finished one is logged")
q.stop(p)
# a todo/ID beside an info/ID that cannot be read: info/ID is the newer
# state, so the envelope alone is not delivered from; both stay for the admin
bad = "1795700001.123456.4243.0123456789ab"
q.put_files(qdir3, bad, (("mess", q.msg("unreadable")), ("todo", q.envelope("alice@example.org", ["fbad@example.org"])),
                         ("info", b"not a state file")))
p = q.start_send(home3, env3, log3)
t.ok(q.wait(lambda: "todo/%s kept beside an unreadable info/" % bad in q.read(log3).decode(), 5),
     "restart: a todo/ID beside an unreadable info/ID is kept, and logged")
# and at the scans after the first one (asked for through the trigger)
for _ in range(3):
    time.sleep(0.4)
    try:
        fd = os.open(os.path.join(qdir3, "trigger"), os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"t")
        os.close(fd)
    except OSError:
        pass
time.sleep(1)
t.ok(not q.box(fake3, "fbad@example.org") and os.path.exists(os.path.join(qdir3, "todo", bad)) and
     os.path.exists(os.path.join(qdir3, "info", bad)), "nothing delivered from it; both files still there")
for d in ("mess", "todo", "info"):
    os.unlink(os.path.join(qdir3, d, bad))
q.stop(p)

# a stop signal that reaches a runner (a ^C or a service manager's kill of
# the whole group) does not cut it short: it waits for its delivery and
# records the result, so the recipient does not get the message twice
env4 = q.send_env(home3, fake3, FAKE_DELAY="1")
p = q.start_send(home3, env4, log3)
q.qq(home3, q.msg("term"), q.envelope("alice@example.org", ["term@example.org"]))
t.ok(q.wait(lambda: "term@example.org" in q.read(os.path.join(fake3, "log")).decode(), 5),
     "a slow delivery started")
# (the recipient deferred above may be retried meanwhile: a second runner,
# which gets the signal too)
runners = ft.children(p.pid)
for r in runners:
    os.kill(r, signal.SIGTERM)
t.ok(len(runners) >= 1 and q.wait(lambda: q.box(fake3, "term@example.org"), 5),
     "its runner got SIGTERM (%d runner) and the delivery finished" % len(runners))
time.sleep(2.5)
t.is_(len(q.box(fake3, "term@example.org")), 1, "delivered once: the runner recorded the result")
t.ok(re.search(r"to <term@example.org> try 1: success", q.read(log3).decode()), "logged as a success at the first try")
q.stop(p)

# a delivery to 1200 recipients at one domain: its run file's J line is
# ~5 KB, longer than any fixed buffer; facteur-send killed while the
# runner works must still find the result when it comes back, and not
# deliver to anyone twice
home2, fake2 = q.instance()
many = ["m%d@example.net" % i for i in range(1200)]
code, err = q.qq(home2, q.msg("many"), q.envelope("alice@example.org", many))
t.is_(code, 0, "a message to 1200 remote recipients is queued")
log2 = os.path.join(fake2, "..", "send2.log")
env2 = q.send_env(home2, fake2, FACTEUR_REMOTE=q.FAKEREMOTE, FAKE_RDELAY="2")
p = q.start_send(home2, env2, log2)
rlog = os.path.join(fake2, "rlog")
t.ok(q.wait(lambda: os.path.exists(rlog), 10), "the remote delivery started")
time.sleep(0.3)
os.kill(p.pid, signal.SIGKILL)
p.wait()
p = q.start_send(home2, env2, log2)
t.ok(q.wait(lambda: q.drained(home2), 20), "its result was taken from the run file after the restart")
counts = [len(os.listdir(os.path.join(fake2, "remote", r))) if os.path.isdir(os.path.join(fake2, "remote", r)) else 0
          for r in (many[0], many[600], many[-1])]
t.is_(counts, [1, 1, 1], "first, middle and last recipients delivered once each")
q.stop(p)
