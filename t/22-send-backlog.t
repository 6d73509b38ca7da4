#!/usr/bin/env python3
# A backlog in todo/: messages stay there through their first delivery
# attempt, so with thousands waiting for a delivery slot every scan of
# todo/ reads them all. facteur-send spaces out the scans new messages ask
# for (in proportion to the backlog) so that their cost does not grow with
# its square (bench/queue-backlog measures it); this checks that spacing
# never starves: every new message is still taken, and soon.
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")
t = ft.TAP()

N = 2000
home, fake = q.instance(concurrency=1)
log = os.path.join(fake, "..", "send.log")
# one slot, and each delivery takes 30 s: everything else waits in todo/
p = q.start_send(home, q.send_env(home, fake, FAKE_DELAY="30", FAKE_LOG="0"), log)
failed = []


def inject(lo, hi):
    for i in range(lo, hi):
        rc, _ = q.qq(home, q.msg("b%d" % i), q.envelope("alice@example.org", ["b%d@example.org" % i]))
        if rc != 0:
            failed.append(i)


th = [threading.Thread(target=inject, args=(k * N // 4, (k + 1) * N // 4)) for k in range(4)]
for x in th:
    x.start()
for x in th:
    x.join(120)
t.is_(failed, [], "%d messages queued behind one slow delivery" % N)
taken = lambda: len(re.findall(r"^facteur-send: new msg ", q.read(log).decode(), re.M))
t.ok(q.wait(lambda: taken() >= N, 10), "facteur-send took every one of them from todo/ (%d)" % taken())
# one more, alone, once the backlog is loaded: taken within the gap (at
# most a second), not at the next periodic scan (a minute)
t0 = time.time()
q.qq(home, q.msg("late"), q.envelope("alice@example.org", ["late@example.org"]))
t.ok(q.wait(lambda: taken() >= N + 1, 5), "a message queued after them is taken too, %.1f s later" % (time.time() - t0))
t.is_((len(os.listdir(os.path.join(home, "queue", "todo"))), len(os.listdir(os.path.join(home, "queue", "info")))),
      (N + 1, 0), "all of them still in todo/ (their first try not made yet), none in info/")
