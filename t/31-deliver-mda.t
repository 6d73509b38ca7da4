#!/usr/bin/env python3
# facteur-deliver: Maildir delivery from a pipe, headers added, loop and hop
# checks, unsafe Maildirs refused, and the command lines of Postfix's
# mailbox_command and fetchmail's mda.
import os
import pwd
import re
import stat
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
MSG = b"From: a@example.net\r\nSubject: hello\r\n\r\nbody line\r\n.dot line\r\n"


def owner():
    """the uid facteur-deliver will run as (it drops root to facteur)"""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    name = os.environ.get("FACTEUR_USER") or "facteur"
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        t.skip_all("running as root and there is no user %s to drop to" % name)
    return pw.pw_uid, pw.pw_gid


UID, GID = owner()


def home():
    d = ft.tempdir()
    os.chmod(d, 0o755)
    h = os.path.join(d, "u")
    os.mkdir(h, 0o755)
    os.chown(h, UID, GID)
    return h


def deliver(args, msg=MSG, env=None):
    return ft.run("facteur-deliver", args, stdin=msg, env=env or dict(os.environ))


def files(md, sub):
    p = os.path.join(md, sub)
    return sorted(os.listdir(p)) if os.path.isdir(p) else []


h = home()
md = os.path.join(h, "Mail", "deep", "Maildir")
rc, out, err = deliver(["-f", "sender@example.net", "-d", "alice@example.org", md + "/"])
t.is_(rc, 0, "delivered from a pipe, exit 0")
t.ok(all(os.path.isdir(os.path.join(md, s)) for s in ("cur", "new", "tmp")), "Maildir made with its parents")
t.is_(files(md, "tmp"), [], "nothing left in tmp/")
names = files(md, "new")
t.is_(len(names), 1, "one file in new/")
data = ft.maildir_messages(md)[0] if names else b""
t.like(data, b"Return-Path: <sender@example.net>\nDelivered-To: alice@example.org\nFrom: a@example.net\n",
       "Return-Path and Delivered-To first, CRLF stored as LF")
t.ok(data.endswith(b"body line\n.dot line\n"), "body kept whole")
m = re.search(r",S=(\d+),W=(\d+)$", names[0]) if names else None
t.ok(m and int(m.group(1)) == len(data) and int(m.group(2)) == len(data) + data.count(b"\n"),
     "name carries S= (size) and W= (CRLF size)")
st = os.stat(os.path.join(md, "new", names[0])) if names else None
t.ok(st and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == UID, "file mode 0600, owned by the delivering user")

rc, out, err = deliver([md], msg=b"Subject: no options\n\nx\n")
t.is_(rc, 0, "no -f/-d: plain delivery")
t.ok(any(m.startswith(b"Subject: no options") for m in ft.maildir_messages(md)), "no header added without -f/-d")

# loops and hops
rc, out, err = deliver(["-d", "alice@example.org", md], msg=b"Delivered-To: ALICE@example.org\nSubject: loop\n\nx\n")
t.is_(rc, 69, "Delivered-To naming the recipient: permanent failure (loop)")
t.ok(b"5.4.6" in err, "loop reported as 5.4.6")
rc, out, err = deliver(["-d", "alice@example.org", md], msg=b"Subject: x\n\nDelivered-To: alice@example.org\n")
t.is_(rc, 0, "Delivered-To in the body is no loop")
hops = b"".join(b"Received: from h%d by h%d\n" % (i, i) for i in range(101))
rc, out, err = deliver([md], msg=hops + b"\nbody\n")
t.is_(rc, 69, "101 Received fields: permanent failure (hop limit)")
rc, out, err = deliver([md], msg=hops[:hops.rfind(b"Received")] + b"\nbody\n")
t.is_(rc, 0, "100 Received fields are fine")
before = len(files(md, "new"))

# arguments
rc, out, err = deliver(["-f", "a@b\nBcc: x@y", md])
t.is_(rc, 65, "newline in -f refused (header injection)")
rc, out, err = deliver([])
t.is_(rc, 64, "usage error: 64")
t.is_(len(files(md, "new")), before, "refused messages left nothing in new/")
t.is_(files(md, "tmp"), [], "and nothing in tmp/")

# unsafe Maildirs: a symlink, world-writable, a symlinked tmp/
h2 = home()
real = os.path.join(h2, "real")
rc, out, err = deliver([real])
link = os.path.join(h2, "link")
os.symlink(real, link)
rc, out, err = deliver([link])
t.is_(rc, 75, "a Maildir that is a symlink: temporary failure")
t.is_(len(files(real, "new")), 1, "nothing delivered through the symlink")
rc, out, err = deliver([link + "/"])
t.is_(rc, 75, "... also with a trailing slash")
os.chmod(real, 0o777)
rc, out, err = deliver([real])
t.is_(rc, 75, "world-writable Maildir refused")
os.chmod(real, 0o700)
os.rename(os.path.join(real, "tmp"), os.path.join(real, "tmp.old"))
os.symlink(os.path.join(real, "tmp.old"), os.path.join(real, "tmp"))
rc, out, err = deliver([real])
t.is_(rc, 75, "tmp/ that is a symlink refused")
os.unlink(os.path.join(real, "tmp"))
os.rename(os.path.join(real, "tmp.old"), os.path.join(real, "tmp"))
if os.getuid() == 0:
    other = os.path.join(h2, "other")
    os.makedirs(other)
    for s in ("cur", "new", "tmp"):
        os.mkdir(os.path.join(other, s))
    rc, out, err = deliver([other])
    t.is_(rc, 75, "Maildir owned by someone else (root) refused")
rc, out, err = deliver([real])
t.is_(rc, 0, "repaired Maildir works again")
t.is_(len(files(real, "new")), 2, "exactly the two good deliveries landed")

# Postfix's mailbox_command runs a shell line with $SENDER, $RECIPIENT, $HOME
h3 = home()
env = dict(os.environ, SENDER="bounce@example.net", RECIPIENT="bob@example.org", HOME=h3,
           PATH=ft.BIN + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
p = subprocess.run(["sh", "-c", 'facteur-deliver -f "$SENDER" -d "$RECIPIENT" "$HOME/Maildir/"'],
                   input=b"Subject: via postfix\n\nhi\n", env=env, capture_output=True, timeout=30)
t.is_(p.returncode, 0, "as Postfix mailbox_command")
msgs = ft.maildir_messages(os.path.join(h3, "Maildir"))
t.ok(len(msgs) == 1 and msgs[0].startswith(b"Return-Path: <bounce@example.net>\nDelivered-To: bob@example.org\nSubject: via postfix"),
     "mailbox_command delivery has the envelope headers")

# a larger message through a pipe (several pipe buffers)
big = b"Subject: big\n\n" + (b"x" * 999 + b"\n") * 3000
rc, out, err = deliver([os.path.join(h3, "Maildir")], msg=big)
msgs = ft.maildir_messages(os.path.join(h3, "Maildir"))
t.ok(rc == 0 and big in msgs, "3 MB message through a pipe, byte for byte")

# kill -9 in the middle of a delivery: nothing in new/, nothing named in tmp/
import signal
import time
h4 = home()
md4 = os.path.join(h4, "Maildir")
p = subprocess.Popen([ft.bin_path("facteur-deliver"), md4], stdin=subprocess.PIPE,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
p.stdin.write(b"Subject: killed\n\n" + b"k" * 500000)
p.stdin.flush()
ft.wait_for(lambda: os.path.isdir(os.path.join(md4, "tmp")), timeout=5)
time.sleep(0.2)
os.kill(p.pid, signal.SIGKILL)
p.wait()
try:
    p.stdin.close()
except OSError:
    pass
t.ok(files(md4, "new") == [] and files(md4, "tmp") == [], "kill -9 while reading the message: nothing in new/ or tmp/")
