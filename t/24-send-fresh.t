#!/usr/bin/env python3
# A message at its first try is delivered straight from todo/ID; todo/ID
# and the run/ files of its finished deliveries are its state until
# msg_save writes info/ID (queue/README.md, crash safety 2 and 3). These
# check that state across kill -9 and restarts where t/24-send-crash.t
# does not go: more todo/ entries at a restart than one scan takes, a
# save that fails (info/ not writable), a delay warning for a fresh
# message, a bounce of a message already in info/, and a remote batch
# of fresh messages cut by kill -9.
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-send", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")


def ids_in(home, d):
    p = os.path.join(home, "queue", d)
    return sorted(n for n in os.listdir(p) if not n.startswith("."))


def kill9(p):
    """facteur-send alone (its runners go on, as after a crash)"""
    os.kill(p.pid, signal.SIGKILL)
    p.wait()


def block_info(home):
    """info/ made unwritable for facteur-send (even running as root): a
    regular file in its place, so every msg_save fails"""
    qd = os.path.join(home, "queue")
    os.rename(os.path.join(qd, "info"), os.path.join(qd, "info.away"))
    with open(os.path.join(qd, "info"), "w") as f:
        f.write("x")


def unblock_info(home):
    qd = os.path.join(home, "queue")
    os.unlink(os.path.join(qd, "info"))
    os.rename(os.path.join(qd, "info.away"), os.path.join(qd, "info"))


def lines_with(path, s):
    return [l for l in q.read(path).decode(errors="replace").splitlines() if s in l]


# 1. More todo/ entries at a restart than one scan takes (SEND_SCAN_BATCH,
# 256): the kept run/ files of every one of them are its state. 300
# messages, each with a run/ file that says its one recipient was
# delivered (what a kill -9 after the deliveries leaves): none may be
# delivered again, including the 44 that the first scan does not take.
N = 300
home, fake = q.instance()
log = os.path.join(fake, "..", "send1.log")
env = q.send_env(home, fake, FAKE_LOG="0")
for i in range(N):
    code, _ = q.qq(home, q.msg("many %d" % i), q.envelope("alice@example.org", ["h%d@example.org" % i]))
    if code != 0:
        break
ids = ids_in(home, "todo")
t.is_(len(ids), N, "%d messages queued while facteur-send is stopped" % N)
run = os.path.join(home, "queue", "run")
for i in ids:
    with open(os.path.join(run, i + ".0"), "wb") as f:
        f.write(b"J0 0 @" + i.encode() + b"\nR0\n2.0.0 delivered\n")
q.chown_user(run)
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: q.drained(home), 30), "all of them finished after the restart")
time.sleep(0.5)
again = [i for i in range(N) if q.box(fake, "h%d@example.org" % i)]
t.is_(len(again), 0, "none delivered again: the run/ files of todo/ entries past the "
      "first scan's 256 were applied, not dropped (%d redelivered)" % len(again))
# msg_finish logs 'end msg' after it removed the files drained() looks at
t.is_(q.wait(lambda: len(lines_with(log, "(finished before a restart)")) + len(lines_with(log, "end msg ")) >= N, 5),
      True, "every message ended")
q.stop(p)

# 2. A save that fails: a fresh message's remote delivery to two
# recipients, one deferred and one delivered, both recorded in run/ID.0.
# While info/ID cannot be written the message stays in todo/ with that
# run/ file as its state; retrying the deferred recipient would start
# run/ID.0 again, cut to a J line without the delivered one, and a crash
# then would deliver that one again.
home, fake = q.instance(retrybase=1, retrymax=2)
log = os.path.join(fake, "..", "send2.log")
env = q.send_env(home, fake, FACTEUR_REMOTE=q.FAKEREMOTE)
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: "started" in q.read(log).decode(), 5), "facteur-send started")
time.sleep(0.3)   # past its first scan, which reads info/
block_info(home)
q.qq(home, q.msg("mixed"), q.envelope("alice@example.org", ["tempa@example.net", "okb@example.net"]))
rlog = os.path.join(fake, "log")
t.ok(q.wait(lambda: os.path.isdir(os.path.join(fake, "remote", "okb@example.net")), 5),
     "okb delivered, tempa deferred, in one facteur-remote run")
t.ok(q.wait(lambda: "unable to write info/" in q.read(log).decode(), 5), "the save of the deferral fails")
# retrybase 1: a retry of tempa would come within two seconds
q.wait(lambda: len(lines_with(rlog, "tempa@example.net")) >= 2, 4)
time.sleep(0.5)
t.is_(len(lines_with(rlog, "tempa@example.net")), 1,
      "no new delivery for a fresh message while its failure cannot be saved")
kill9(p)
unblock_info(home)
p = q.start_send(home, env, log)
mid = ids_in(home, "mess")
t.ok(q.wait(lambda: ids_in(home, "info") == mid and not ids_in(home, "todo") and not ids_in(home, "run"), 5),
     "after the restart the state is saved in info/ (%s)" % q.queue_files(home))
time.sleep(1.0)
ok = os.path.join(fake, "remote", "okb@example.net")
t.is_(len(os.listdir(ok)) if os.path.isdir(ok) else 0, 1, "okb delivered once")
info = q.read(os.path.join(home, "queue", "info", mid[0] if mid else "x"))
t.ok(re.search(rb"RD 1 \d+ okb@example\.net\0", info) and re.search(rb"RP \d+ \d+ tempa@example\.net\0", info),
     "info/ID: okb delivered, tempa pending")
q.stop(p)

# 3. A delay warning is something to remember: sent for a fresh message
# whose save then fails, it is saved as soon as info/ can be written
# again, so that a later restart does not send it twice. One delivery
# slot, held by a slow message from <> (no warning for it), keeps the
# warned message waiting, with nothing running for it.
home, fake = q.instance(retrybase=1, retrymax=2, delaywarning=2, concurrency=1)
log = os.path.join(fake, "..", "send3.log")
env = q.send_env(home, fake, FAKE_SLOW="7")
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: "started" in q.read(log).decode(), 5), "facteur-send started")
time.sleep(0.3)
q.qq(home, q.msg("slow"), q.envelope("", ["slowa@example.org"]))
t.ok(q.wait(lambda: "slowa@example.org" in q.read(os.path.join(fake, "log")).decode(), 5),
     "a slow delivery holds the only slot")
block_info(home)
q.qq(home, q.msg("warned"), q.envelope("bob@example.org", ["wb@example.org"]))
t.ok(q.wait(lambda: re.search(r"delay warning \S+: sent to <bob@example.org>", q.read(log).decode()), 6),
     "the waiting message's delay warning is sent")


def save_failed_after_warning():
    text = q.read(log).decode(errors="replace")
    w = re.search(r"delay warning \S+: sent to <bob@example.org>", text)
    return w and "unable to write info/" in text[w.end():]


# the save that follows the warning fails first (info/ still blocked)
q.wait(save_failed_after_warning, 5)
unblock_info(home)
saved = q.wait(lambda: [i for i in ids_in(home, "info")
                        if b"Sbob@example.org\0W\0" in q.read(os.path.join(home, "queue", "info", i))], 4)
t.ok(saved, "once info/ can be written, the warning is saved (info/ID with W)")
kill9(p)
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: q.box(fake, "wb@example.org") and q.box(fake, "slowa@example.org") and q.drained(home), 15),
     "after a restart both messages are delivered")
time.sleep(0.5)
t.is_(len(re.findall(r"delay warning \S+: sent to <bob@example.org>", q.read(log).decode())), 1,
      "the delay warning is not sent again after the restart")
t.is_(len(q.box(fake, "wb@example.org")), 1, "wb delivered once")
q.stop(p)

# 4. Crash safety 4: a permanent failure is recorded as F in info/ID
# before its bounce is queued, for a message already in info/ too (its
# run/ file, never synced, is not enough). A facteur-queue in front of
# the real one notes what info/ says when facteur-send queues the bounce.
home, fake = q.instance(retrybase=1, retrymax=2, concurrency=1)
top = os.path.dirname(home)
wbin = os.path.join(top, "wbin")
os.makedirs(wbin)
shutil.copy2(ft.bin_path("facteur-send"), os.path.join(wbin, "facteur-send"))
snap = os.path.join(fake, "qsnap")
with open(os.path.join(wbin, "facteur-queue"), "w") as f:
    f.write("#!/bin/sh\n{ echo ---; cat \"$FACTEUR_HOME\"/queue/info/* 2>/dev/null | tr '\\0' '\\n'; } >> %s\n"
            "exec %s \"$@\"\n" % (snap, ft.bin_path("facteur-queue")))
os.chmod(os.path.join(wbin, "facteur-queue"), 0o755)
for d in (top, wbin):
    os.chmod(d, 0o755)
log = os.path.join(fake, "..", "send4.log")
env = q.send_env(home, fake)
p = ft.start([os.path.join(wbin, "facteur-send")], env, stderr=open(log, "ab"))
# one slot: tempq first (deferred: the message goes to info/), then permq
q.qq(home, q.msg("bounce me"), q.envelope("alice@example.org", ["tempq@example.org", "permq@example.org"]))
t.ok(q.wait(lambda: re.search(r"bounce \S+: sent to <alice@example.org>", q.read(log).decode()), 8),
     "permq's failure is bounced")
first = q.read(snap).decode(errors="replace").split("---\n")
first = first[1] if len(first) > 1 else ""
t.ok(re.search(r"^RF 1 \d+ permq@example\.org$", first, re.M),
     "when the bounce was queued, info/ID already said F for permq (%r)" % first[:200])
q.stop(p)

# 5. A remote batch of fresh messages (one facteur-remote -b run) cut by
# kill -9 of facteur-send: the runner writes each message's result into
# its run/ file, the next facteur-send takes them; each recipient once.
home, fake = q.instance(retrybase=1, retrymax=2, concurrencydomain=1)
log = os.path.join(fake, "..", "send5.log")
env = q.send_env(home, fake, FACTEUR_REMOTE=q.FAKEREMOTE, FAKE_RDELAY="1.5")
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: "started" in q.read(log).decode(), 5), "facteur-send started")
# the first run takes the domain's only slot; the six after it wait and
# go together in one batch
q.qq(home, q.msg("b first"), q.envelope("alice@example.org", ["bf@example.net"]))
t.ok(q.wait(lambda: "rstart" in q.read(os.path.join(fake, "rlog")).decode(), 5), "first remote run started")
for i in range(6):
    q.qq(home, q.msg("b%d" % i), q.envelope("alice@example.org", ["b%d@example.net" % i, "c%d@example.net" % i]))
t.ok(q.wait(lambda: "batch of 6 messages" in q.read(log).decode(), 8), "the six go in one batch")
# logged once the runner is forked, its run/ files made: kill now, well
# inside the batch's FAKE_RDELAY (a kill after its end finds no run/ file)
runs = ids_in(home, "run")
kill9(p)
t.ok(len(runs) >= 6 and not ids_in(home, "info"),
     "killed mid-batch: the fresh messages have run/ files and no info/ (%s)" % runs)
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: q.drained(home), 10), "after the restart the batch's results are taken")
time.sleep(0.5)
counts = []
for r in ["bf"] + ["%s%d" % (c, i) for i in range(6) for c in "bc"]:
    d = os.path.join(fake, "remote", r + "@example.net")
    counts.append(len(os.listdir(d)) if os.path.isdir(d) else 0)
t.is_(counts, [1] * 13, "every recipient of the batch delivered once")
t.is_(len(lines_with(os.path.join(fake, "blog"), "batch example.net 6")), 1, "by one facteur-remote -b run")
q.stop(p)

# 6. info/ unreadable at the first scan: nothing is taken from todo/ until
# info/ is loaded and run/ recovered. A todo/ID with a run/ file that says
# its recipient was delivered must not be delivered again when a later
# scan (here: the poke of a new message) finds info/ still unreadable.
home, fake = q.instance()
log = os.path.join(fake, "..", "send6.log")
env = q.send_env(home, fake)
q.qq(home, q.msg("kept"), q.envelope("alice@example.org", ["ux@example.org"]))
ids = ids_in(home, "todo")
run = os.path.join(home, "queue", "run")
for i in ids:
    with open(os.path.join(run, i + ".0"), "wb") as f:
        f.write(b"J0 0 @" + i.encode() + b"\nR0\n2.0.0 delivered\n")
q.chown_user(run)
block_info(home)
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: "unable to read info/" in q.read(log).decode(), 5), "info/ cannot be read at the start")
q.qq(home, q.msg("poke"), q.envelope("alice@example.org", ["uy@example.org"]))
time.sleep(1.5)
t.is_(len(q.box(fake, "ux@example.org")), 0, "the todo/ID whose run/ file says delivered is not delivered meanwhile")
unblock_info(home)
t.ok(q.wait(lambda: q.box(fake, "uy@example.org") and q.drained(home), 10),
     "once info/ can be read, the queue is taken and drained")
time.sleep(0.3)
t.is_([len(q.box(fake, "ux@example.org")), len(q.box(fake, "uy@example.org"))], [0, 1],
      "ux not delivered again, uy once")
q.stop(p)
