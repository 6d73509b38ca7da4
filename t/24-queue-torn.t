#!/usr/bin/env python3
# facteur-queue commits with one round of fsyncs: todo/ID is renamed into
# place before the fsyncs of the message, the envelope and both
# directories end, and facteur-queue answers 0 only when all four are
# done. A power failure in that window can leave a todo/ID whose bytes
# never reached the disk: a stale envelope from a reused inode, a message
# cut short or with a stale block. Its commit record (id, size and hash of
# the message, hash of the envelope) tells such a message, never
# acknowledged, from a committed one: facteur-send removes it and delivers
# nothing. Here the disk states a power failure can leave are written by
# hand, as the kernel would leave them, and facteur-send is started on
# them. Also: facteur-queue's fsyncs under strace, and facteur-qstat.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-send", "facteur-setup", "facteur-qstat"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

home, fake = q.instance()
qdir = os.path.join(home, "queue")
log = os.path.join(fake, "..", "send.log")
env = q.send_env(home, fake)

# facteur-send makes the directories; stopped again before the files go in
p = q.start_send(home, env, log)
t.ok(q.wait(lambda: os.path.isdir(os.path.join(qdir, "todo")), 10), "facteur-send made the queue")
q.stop(p)

serial = [0]


def put(message, todo_bytes, rcpt):
    """mess/ID and todo/ID as a crash left them; returns the id"""
    serial[0] += 1
    qid = "1795000000.%06d.4242.%012x" % (serial[0], serial[0])
    q.put_files(qdir, qid, (("mess", message), ("todo", todo_bytes(qid))))
    return qid


def good(qid, m, e):
    return q.committed(qid, m, e)


cases = {}
# a whole message: its record matches
m = q.msg("whole")
e = q.envelope("alice@example.org", ["whole@example.org"])
cases["whole"] = put(m, lambda i: good(i, m, e), "whole@example.org")
# no record: a reused inode's record-less envelope (an older
# facteur-queue's, or a small message's bytes a sender shaped like one)
m = q.msg("no record")
e = q.envelope("alice@example.org", ["norecord@example.org"])
cases["no-record"] = put(m, lambda i: e, "norecord@example.org")
# the envelope's inode still holds the bytes of the message it served
# before: the record names that other message
m = q.msg("stale envelope")
old_e = q.envelope("alice@example.org", ["stale@example.org"])
cases["stale-envelope"] = put(m, lambda i: good("1700000000.000001.1.aaaaaaaaaaaa", m, old_e), "stale@example.org")
# the message cut short: only its first block reached the disk
m = q.msg("cut", body="x" * 9000)
e = q.envelope("alice@example.org", ["cut@example.org"])
cases["cut-message"] = put(m[:4096], lambda i: good(i, m, e), "cut@example.org")
# the message's length is right but a block is stale
m = q.msg("stale block", body="y" * 9000)
e = q.envelope("alice@example.org", ["block@example.org"])
bad = m[:5000] + b"z" * 4096 + m[9096:]
cases["stale-block"] = put(bad, lambda i: good(i, m, e), "block@example.org")
# the envelope's first block new, a later one stale: a recipient changed
m = q.msg("torn envelope")
e = q.envelope("alice@example.org", ["torn@example.org"])
cases["torn-envelope"] = put(m, lambda i: good(i, m, e).replace(b"torn@", b"evil@"), "evil@example.org")
# the record itself cut short
m = q.msg("cut record")
e = q.envelope("alice@example.org", ["record@example.org"])
cases["cut-record"] = put(m, lambda i: good(i, m, e)[:-9], "record@example.org")
# zeros after the envelope (a block that was never written)
m = q.msg("zeros")
e = q.envelope("alice@example.org", ["zeros@example.org"])
cases["zeros"] = put(m, lambda i: e + b"\0" * 64, "zeros@example.org")

# a FIFO where the message should be: checking it must not hang facteur-send
m = q.msg("fifo")
e = q.envelope("alice@example.org", ["fifo@example.org"])
fifo_id = put(m, lambda i: good(i, m, e), "fifo@example.org")
os.unlink(os.path.join(qdir, "mess", fifo_id))
os.mkfifo(os.path.join(qdir, "mess", fifo_id))
q.chown_user(os.path.join(qdir, "mess", fifo_id))

rc = subprocess.run([ft.bin_path("facteur-qstat")], env=env, capture_output=True, timeout=20)
out = rc.stdout.decode()
t.ok(rc.returncode == 0 and cases["whole"] in out and "whole@example.org" in out,
     "facteur-qstat shows a whole message")
t.ok((cases["torn-envelope"] + " unreadable") in out and (cases["stale-envelope"] + " unreadable") in out,
     "and a todo/ID whose envelope does not match its record as unreadable")

p = q.start_send(home, env, log)
t.ok(q.wait(lambda: q.box(fake, "whole@example.org"), 10), "the whole message is delivered")
removed = [k for k in cases if k != "whole"]
t.ok(q.wait(lambda: all(not os.path.exists(os.path.join(qdir, "todo", cases[k])) for k in removed), 10),
     "every todo/ID that does not match its record is removed")
t.ok(all(not os.path.exists(os.path.join(qdir, "mess", cases[k])) for k in removed),
     "and its mess/ID with it")
for k, r in (("stale-envelope", "stale@example.org"), ("cut-message", "cut@example.org"),
             ("stale-block", "block@example.org"), ("torn-envelope", "evil@example.org"),
             ("torn-envelope", "torn@example.org"), ("cut-record", "record@example.org"),
             ("zeros", "zeros@example.org"), ("no-record", "norecord@example.org")):
    t.is_(len(q.box(fake, r)), 0, "nothing delivered from %s (to %s)" % (k, r))
text = q.read(log).decode(errors="replace")
t.is_(len(re.findall(r"is not a whole message \(cut short by a crash before it was acknowledged\): removed", text)),
      len(removed), "each removal is logged")
t.ok(re.search(r"unable to read todo/%s or its message: malformed" % fifo_id, text),
   "a FIFO in place of the message is refused (logged), and facteur-send goes on")
t.is_(len(q.box(fake, "fifo@example.org")), 0, "nothing delivered from it")
os.unlink(os.path.join(qdir, "mess", fifo_id))
os.unlink(os.path.join(qdir, "todo", fifo_id))
t.ok(q.wait(lambda: q.drained(home), 10), "the queue is empty afterwards")
t.is_(len(q.box(fake, "whole@example.org")), 1, "the whole message once")

# facteur-queue: the rename into todo/ comes before the fsyncs end (one
# round of waiting), and it exits only after all four fsyncs
got = q.strace_queue(home, q.msg("traced"), q.envelope("alice@example.org", ["traced@example.org"]))
if not got:
    t.ok(False, "strace is not installed (tools/deps installs it)")
else:
    rc, lines, ren, done, ex = got
    t.ok(rc == 0 and len(ren) == 1 and len(done) == 4 and ex,
         "facteur-queue under strace: queued, one rename into todo/, four fsyncs (%s)" % lines[-12:])
    t.ok(ren and done and sum(1 for i in done if i > ren[0]) >= 2,
         "the envelope's and todo/'s fsyncs end after the rename: one round of waiting, not two")
    t.ok(ex and done and max(done) < ex[0], "and facteur-queue exits only after every fsync ended")
q.stop(p)
