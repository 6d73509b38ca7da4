#!/usr/bin/env python3
# facteur-queue: the qmail-queue interface. Good, bad, truncated envelopes
# and messages; exit codes; nothing left behind on failure; the trigger.
import importlib.util
import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-queue")) or not os.path.exists(ft.bin_path("facteur-setup")):
    t.skip_all("facteur-queue or facteur-setup not built")

home, fake = q.instance()
qdir = os.path.join(home, "queue")

# a good message, byte for byte, with NULs and bare CRs kept
body = b"Subject: one\n\nline\0with NUL\r\nand \r bare CR\n"
env = q.envelope("alice@example.org", ["bob@example.org", "carol@example.org"])
rc, err = q.qq(home, body, env)
t.is_(rc, 0, "good message queued")
files = q.queue_files(home)
mess = [f for f in files if f.startswith("mess/")]
todo = [f for f in files if f.startswith("todo/")]
t.is_(len(mess), 1, "one message file")
t.is_(len(todo), 1, "one envelope file")
t.ok(not [f for f in files if f.startswith("tmp/")], "nothing left in tmp/")
if mess and todo:
    t.is_(mess[0][5:], todo[0][5:], "message and envelope share the id")
    t.is_(q.read(os.path.join(qdir, mess[0])), body, "message stored exactly as given (nothing added)")
    t.is_(q.read(os.path.join(qdir, todo[0])), q.committed(todo[0][5:], body, env),
          "envelope stored as received, then the commit record (id, size and hash of the message, hash of the envelope)")
    st = os.stat(os.path.join(qdir, mess[0]))
    t.is_(stat.S_IMODE(st.st_mode), 0o600, "message file mode 0600")
    if q.ROOT:
        import pwd
        t.is_(st.st_uid, pwd.getpwnam(q.run_user()).pw_uid, "started as root, files belong to the queue user")
t.like(err.decode(), "facteur-queue: queued ", "one log line per queued message")
before = q.queue_files(home)

# the null sender and an empty message are fine
rc, err = q.qq(home, b"", q.envelope("", ["bob@example.org"]))
t.is_(rc, 0, "null sender, empty message queued")
before = q.queue_files(home)


def bad(envb, want, name, msg=b"Subject: x\n\nbody\n"):
    rc, err = q.qq(home, msg, envb)
    t.is_(rc, want, name + " -> exit %d" % want)
    t.is_(q.queue_files(home), before, name + ": nothing left behind")


bad(b"", 54, "empty envelope (input cut short)")
bad(b"F", 54, "envelope cut inside the sender")
bad(b"Falice@example.org\0Tbob", 54, "envelope cut inside a recipient")
bad(b"Falice@example.org\0Tbob@example.org\0", 54, "envelope without its final NUL")
bad(b"Talice@example.org\0\0", 91, "no F record")
bad(b"Falice@example.org\0\0", 91, "no recipient")
bad(b"Falice@example.org\0T\0\0", 91, "empty recipient")
bad(b"Falice@example.org\0Xbob@example.org\0\0", 91, "unknown record type")
bad(b"Falice@example.org\0Tbob@exa\nmple.org\0\0", 91, "LF inside a recipient")
bad(b"Fali\rce@example.org\0Tbob@example.org\0\0", 91, "CR inside the sender")
bad(b"Falice@example.org\0Tbob@example.org\0\0junk", 91, "data after the envelope")
bad(b"F" + b"a" * 2000 + b"@example.org\0Tbob@example.org\0\0", 11, "sender too long")
bad(b"Falice@example.org\0T" + b"b" * 5000 + b"\0\0", 11, "recipient too long")
many = b"Falice@example.org\0" + b"".join(b"Tu%d@example.org\0" % i for i in range(10001)) + b"\0"
bad(many, 91, "more than 10000 recipients")
rc, err = q.qq(home, b"x\n", b"Falice@example.org\0" + b"".join(b"Tu%d@example.org\0" % i for i in range(10000)) + b"\0")
t.is_(rc, 0, "10000 recipients accepted")
before = q.queue_files(home)

# the trigger: facteur-send listens on queue/trigger; we read it ourselves
fifo = os.path.join(qdir, "trigger")
if not os.path.exists(fifo):
    os.mkfifo(fifo, 0o600)
    q.chown_user(fifo)
fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
rc, err = q.qq(home, b"Subject: poke\n\n", q.envelope("a@example.org", ["b@example.org"]))
t.is_(rc, 0, "queued with a listener on the trigger")
try:
    got = os.read(fd, 16)
except BlockingIOError:
    got = b""
t.ok(len(got) == 1, "facteur-queue poked the trigger once")
os.close(fd)
rc, err = q.qq(home, b"Subject: poke\n\n", q.envelope("a@example.org", ["b@example.org"]))
t.is_(rc, 0, "no listener on the trigger: still queued, no hang")

# a fresh queue/ without subdirectories (facteur-send never ran)
home2, fake2 = q.instance()
rc, err = q.qq(home2, b"Subject: fresh\n\n", q.envelope("a@example.org", ["b@example.org"]))
t.is_(rc, 0, "queue/ without subdirectories: they are made")
t.is_(len(q.queue_files(home2)), 2, "message and envelope written")

# no instance at all: temporary failure
rc, err = q.qq(os.path.join(home2, "nonexistent"), b"x", q.envelope("a@b", ["c@d"]))
t.ok(rc != 0 and not (11 <= rc <= 40), "missing queue directory is a temporary failure (%d)" % rc)
