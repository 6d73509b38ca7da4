#!/usr/bin/env python3
# A queue made before the commit record (queue/README.md, crash safety 1):
# its todo/ entries have no record, and were whole (the older
# facteur-queue synced everything before its rename). facteur-send's
# first start on such a queue (no queue/version) gives each its record
# and delivers it; only after that is a todo/ID without a record a torn
# one, removed.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-send", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

home, fake = q.instance()
qdir = os.path.join(home, "queue")
log = os.path.join(fake, "..", "send.log")
env = q.send_env(home, fake)

p = q.start_send(home, env, log)
t.ok(q.wait(lambda: os.path.exists(os.path.join(qdir, "version")), 10), "a new queue gets queue/version")
t.is_(q.read(os.path.join(qdir, "version")), b"2\n", "which says 2")
q.stop(p)

# an older queue: no version, messages without records, and one queued by
# the current facteur-queue meanwhile
os.unlink(os.path.join(qdir, "version"))
old = {}
for i, r in enumerate(("old1@example.org", "old2@example.org")):
    qid = "1790000000.%06d.4242.%012x" % (i, i)
    m = q.msg("old %d" % i)
    q.put_files(qdir, qid, (("mess", m), ("todo", q.envelope("alice@example.org", [r]))))
    old[qid] = (r, m)
rc, _ = q.qq(home, q.msg("new"), q.envelope("alice@example.org", ["new@example.org"]))
t.is_(rc, 0, "a message queued meanwhile (with its record)")
# facteur-queue in a queue not upgraded yet: the upgrade would take a torn
# record-less todo/ID for an old whole one, so nothing may stand in todo/
# before its bytes are on disk: the older order, three fsyncs, then the
# rename, then todo/'s
got = q.strace_queue(home, q.msg("traced"), q.envelope("alice@example.org", ["traced@example.org"]))
if not got:
    t.ok(False, "strace is not installed (tools/deps installs it)")
else:
    rc, lines, ren, done, ex = got
    t.ok(rc == 0 and len(ren) == 1 and len(done) == 4,
         "under strace: queued, one rename, four fsyncs (%s)" % lines[-12:])
    t.ok(ren and [i < ren[0] for i in done] == [True, True, True, False],
         "without queue/version, the message, mess/ and the envelope are synced before the rename")

p = q.start_send(home, env, log)
t.ok(q.wait(lambda: all(q.box(fake, r) for r, _ in old.values()) and q.box(fake, "new@example.org") and
            q.box(fake, "traced@example.org"), 10),
     "the older messages are delivered, and the new ones")
t.ok(re.search(r"added a commit record to 2 message\(s\) queued by an older facteur-queue", q.read(log).decode()),
     "the upgrade is logged, with the number of messages")
t.is_(q.read(os.path.join(qdir, "version")), b"2\n", "queue/version written after it")
t.ok(q.wait(lambda: q.drained(home), 10), "the queue is empty afterwards")
t.is_([len(q.box(fake, r)) for r, _ in old.values()], [1, 1], "each once")
q.stop(p)

# from now on a todo/ID without a record is a torn one
qid = "1790000001.000001.4242.0000000000ff"
q.put_files(qdir, qid, (("mess", q.msg("torn")), ("todo", q.envelope("alice@example.org", ["torn@example.org"]))))
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: not os.path.exists(os.path.join(qdir, "todo", qid)), 10) and
     not q.box(fake, "torn@example.org"), "with queue/version there, a todo/ID without a record is removed, not delivered")
q.stop(p)
