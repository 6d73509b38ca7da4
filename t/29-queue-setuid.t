#!/usr/bin/env python3
# facteur-queue installed setuid facteur: an ordinary user's facteur-sendmail
# queues mail (delivered by facteur-send), the caller's uid is recorded in a
# Received line, and the caller cannot steer it: $FACTEUR_HOME ignored, an
# unsafe facteur-queue.home refused, a closed fd 2 or a directory on fd 1
# handled, control/databytes enforced.
import atexit
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
if os.geteuid() != 0:
    t.skip_all("needs root (makes a setuid copy and a throwaway user)")
for p in ("facteur-queue", "facteur-sendmail", "facteur-send", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")
if not shutil.which("useradd") or not shutil.which("setpriv"):
    t.skip_all("useradd or setpriv missing")

home, fake = q.instance()
base = os.path.dirname(home)
owner = pwd.getpwnam(q.run_user())

# the setuid copy, in a root-owned directory with its home file
sbin = os.path.join(base, "sbin")
os.mkdir(sbin, 0o755)
qprog = os.path.join(sbin, "facteur-queue")
shutil.copy(ft.bin_path("facteur-queue"), qprog)
os.chown(qprog, owner.pw_uid, owner.pw_gid)
os.chmod(qprog, 0o4711)
shutil.copy(ft.bin_path("facteur-sendmail"), os.path.join(sbin, "facteur-sendmail"))
os.chmod(os.path.join(sbin, "facteur-sendmail"), 0o755)
homefile = os.path.join(sbin, "facteur-queue.home")
with open(homefile, "w") as f:
    f.write(home + "\n")
os.chmod(homefile, 0o644)
# an ordinary user must be able to read control/me
for d in (home, os.path.join(home, "control")):
    os.chmod(d, os.stat(d).st_mode | 0o055)
if os.path.exists(os.path.join(home, "control", "me")):
    os.chmod(os.path.join(home, "control", "me"), 0o644)

user = "ftq%d" % os.getpid()
rc = subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent",
                     "--shell", "/usr/sbin/nologin", user], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL).returncode
if rc != 0:
    t.skip_all("useradd failed")
# registered after ft.TAP's exit hook, so it runs first, even when a
# failed test makes that hook leave with os._exit
atexit.register(lambda: subprocess.run(["userdel", user], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL))
pw = pwd.getpwnam(user)
AS_USER = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--clear-groups"]


def user_env(**extra):
    e = {"PATH": "/usr/bin:/bin", "FACTEUR_HOME": home, "FACTEUR_QUEUE": qprog}
    e.update(extra)
    return e


def queued():
    d = os.path.join(home, "queue", "todo")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def mess(qid):
    return q.read(os.path.join(home, "queue", "mess", qid))


# 1. facteur-sendmail as the user, delivered by facteur-send
before = set(queued())
p = subprocess.run(AS_USER + [os.path.join(sbin, "facteur-sendmail"), "bob@example.org"],
                   input=b"Subject: from a user\n\ncron output\n", env=user_env(),
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
t.is_(p.returncode, 0, "facteur-sendmail as an ordinary user exits 0")
if p.returncode:
    t.diag(p.stderr.decode(errors="replace"))
new = [n for n in queued() if n not in before]
t.is_(len(new), 1, "one message queued")
m = mess(new[0]) if new else b""
t.ok(m.startswith(b"Received: (facteur-queue invoked by uid %d); " % pw.pw_uid),
     "the first line records the caller's uid")
t.ok(b"Subject: from a user" in m and b"cron output" in m, "the message follows")
env = q.read(os.path.join(home, "queue", "todo", new[0])) if new else b""
t.ok(env.startswith(b"F" + user.encode() + b"@"), "envelope sender is the user")
st = os.stat(os.path.join(home, "queue", "mess", new[0])) if new else None
t.ok(st and st.st_uid == owner.pw_uid and (st.st_mode & 0o777) == 0o600,
     "the queue file belongs to %s, mode 0600" % owner.pw_name)

log = os.path.join(base, "send.log")
send = q.start_send(home, q.send_env(home, fake), log)
got = q.wait(lambda: q.box(fake, "bob@example.org"), 10)
t.ok(got and b"cron output" in got[0], "facteur-send delivered it")
t.ok(q.wait(lambda: q.drained(home), 5), "queue drained")
q.stop(send)


def qq_as_user(msg, env_bytes, env=None, preexec=None, stdout_fd=None):
    r, w = os.pipe()
    os.write(w, env_bytes)
    os.close(w)
    p = subprocess.Popen(AS_USER + [qprog], stdin=subprocess.PIPE, stdout=stdout_fd if stdout_fd is not None else r,
                         stderr=subprocess.PIPE, env=env or user_env(), preexec_fn=preexec)
    os.close(r)
    out, err = p.communicate(msg, timeout=20)
    return p.returncode, err


ENV = q.envelope("x@example.org", ["bob@example.org"])

# 2. $FACTEUR_HOME pointed at a directory the user owns is ignored
evil = os.path.join(base, "evil")
for d in ("", "queue", "queue/mess", "queue/todo", "queue/tmp", "queue/info", "control"):
    os.makedirs(os.path.join(evil, d), exist_ok=True)
    os.chown(os.path.join(evil, d), pw.pw_uid, pw.pw_gid)
before = set(queued())
rc, err = qq_as_user(b"Subject: evil\n\nx\n", ENV, env=user_env(FACTEUR_HOME=evil, FACTEUR_USER="root"))
t.is_(rc, 0, "queued with $FACTEUR_HOME set elsewhere")
t.is_(sum(len(f) for _, _, f in os.walk(evil)), 0, "nothing written under the caller's $FACTEUR_HOME")
t.is_(len(set(queued()) - before), 1, "the message went to the configured instance")

# 3. an unsafe home file (group-writable, or not root's) is refused
for mode, uid, what in ((0o664, 0, "group-writable"), (0o644, pw.pw_uid, "owned by the user")):
    os.chmod(homefile, mode)
    os.chown(homefile, uid, 0)
    before = set(queued())
    rc, err = qq_as_user(b"Subject: x\n\nx\n", ENV)
    t.is_(rc, 55, "%s facteur-queue.home: refused (config error)" % what)
    t.is_(set(queued()) - before, set(), "%s facteur-queue.home: nothing queued" % what)
os.chmod(homefile, 0o644)
os.chown(homefile, 0, 0)

# 4. fd 2 closed: the log cannot land in a queue file
before = set(queued())
rc, err = qq_as_user(b"Subject: nofd2\n\nbody2\n", ENV, preexec=lambda: os.close(2))
new = [n for n in queued() if n not in before]
t.is_((rc, len(new)), (0, 1), "queued with fd 2 closed")
m = mess(new[0]) if new else b""
t.ok(m.endswith(b"Subject: nofd2\n\nbody2\n") and b"facteur-queue:" not in m, "the message file holds only the message")

# 5. a directory on fd 1 is refused
dfd = os.open(base, os.O_RDONLY)
before = set(queued())
rc, err = qq_as_user(b"Subject: x\n\nx\n", b"", stdout_fd=dfd)
os.close(dfd)
t.is_(rc, 54, "a directory as the envelope descriptor: refused")
t.is_(set(queued()) - before, set(), "nothing queued")

# 6. control/databytes bounds a local user's message
with open(os.path.join(home, "control", "databytes"), "w") as f:
    f.write("1000\n")
os.chmod(os.path.join(home, "control", "databytes"), 0o644)
before = set(queued())
rc, err = qq_as_user(b"Subject: big\n\n" + b"x" * 5000 + b"\n", ENV)
t.is_(rc, 32, "larger than control/databytes: permanent refusal")
t.is_(set(queued()) - before, set(), "nothing queued")
t.ok(not os.listdir(os.path.join(home, "queue", "mess")) or
     all(n in queued() for n in os.listdir(os.path.join(home, "queue", "mess"))), "no orphan left in mess/")
os.unlink(os.path.join(home, "control", "databytes"))

# 7. root through the same setuid copy: its $FACTEUR_HOME is honoured, no uid line
before = set(queued())
r, w = os.pipe()
os.write(w, ENV)
os.close(w)
p = subprocess.run([qprog], input=b"Subject: root\n\nx\n", stdout=r, stderr=subprocess.PIPE,
                   env=user_env(), timeout=20)
os.close(r)
new = [n for n in queued() if n not in before]
t.is_((p.returncode, len(new)), (0, 1), "root's message queued")
t.ok(new and mess(new[0]).startswith(b"Subject: root"), "root's message is copied as is")

# 8. once running, the caller can no longer signal it (all its uids are facteur's)
r, w = os.pipe()
p = subprocess.Popen(AS_USER + [qprog], stdin=subprocess.PIPE, stdout=r, stderr=subprocess.PIPE, env=user_env())
os.close(r)
p.stdin.write(b"Subject: held\n\nx\n")
p.stdin.flush()


def uids(pid):
    """real, effective, saved and filesystem uids of pid (from /proc)"""
    try:
        with open("/proc/%d/status" % pid) as fh:
            for ln in fh:
                if ln.startswith("Uid:"):
                    return [int(x) for x in ln.split()[1:]]
    except OSError:
        pass
    return []


# until facteur-queue's setresuid the caller may signal it (setpriv
# before its exec, the setuid program before it set every uid): wait for
# that, not a fixed time
ft.wait_for(lambda: uids(p.pid) == [owner.pw_uid] * 4, 10)
k = subprocess.run(AS_USER + ["kill", "-TERM", str(p.pid)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
t.ok(k.returncode != 0 and p.poll() is None, "the caller's kill is refused")
os.write(w, ENV)
os.close(w)
p.stdin.close()
t.is_(p.wait(timeout=20), 0, "and the message is queued")
