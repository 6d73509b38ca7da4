#!/usr/bin/env python3
# facteur-queue renames todo/ID into place before its fsyncs end, so
# facteur-send can take a message (checked against its commit record in
# the page cache) while the message's bytes are not on disk yet. A first
# deferral then saves the message to info/ID, which is fsynced and, unlike
# todo/ID, never checked against the record: if a power failure came
# before facteur-queue's fsync of mess/ID, the next facteur-send would
# deliver a mess/ID cut short, or holding a reused inode's stale bytes
# (another message's), to the deferred recipients. So mess/ID must be
# durable before info/ID names it: here, under strace, an fsync of
# mess/ID comes before the rename of tmp/ID.info into info/.
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-send", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")
STRACE = shutil.which("strace")
if not STRACE:
    t.skip_all("strace is not installed (tools/deps installs it)")

home, fake = q.instance()
qdir = os.path.join(home, "queue")
log = os.path.join(fake, "..", "send.log")
env = q.send_env(home, fake, FAKE_LOG="0")
tr = os.path.join(ft.tempdir(), "send.strace")

rc, err = q.qq(home, q.msg("deferred"), q.envelope("alice@example.org", ["temp@example.org"]))
t.is_(rc, 0, "queued (%s)" % err)
todo = os.listdir(os.path.join(qdir, "todo"))
t.is_(len(todo), 1, "one todo/ID")
qid = todo[0] if todo else "none"

p = ft.start([STRACE, "-f", "-qq", "-y", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2",
              "-o", tr, ft.bin_path("facteur-send")], env, stderr=open(log, "ab"))
t.ok(q.wait(lambda: os.path.exists(os.path.join(qdir, "info", qid)), 20),
     "the deferral saved the message to info/ID")
t.ok(q.wait(lambda: not os.path.exists(os.path.join(qdir, "todo", qid)), 10), "and todo/ID left")
q.stop(p)

lines = q.read(tr).decode(errors="replace").splitlines()
ren = [i for i, l in enumerate(lines)
       if re.search(r'rename(at2?)?\(.*"tmp/%s\.info".*"info/%s"' % (re.escape(qid), re.escape(qid)), l)]
msync = [i for i, l in enumerate(lines)
         if re.search(r"f(data)?sync\(\d+<[^>]*/mess/%s>" % re.escape(qid), l) and
         re.search(r"= 0|resumed", l)]
t.ok(ren, "facteur-send renamed tmp/ID.info into info/ under strace (%s)" % lines[-8:])
t.ok(ren and msync and min(msync) < ren[0],
     "mess/ID was fsynced before info/ID named it (%s)" % [l for l in lines if "mess/" in l][:4])
