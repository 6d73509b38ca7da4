"""queue-lib: helpers shared by the queue tests (t/20..29). Loaded with
importlib from t/data (it belongs to the queue's tests, not to ft.py)."""
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import ft

DATA = os.path.join(ft.SRC, "t", "data")
FAKELOCAL = os.path.join(DATA, "queue-fakelocal")
FAKEREMOTE = os.path.join(DATA, "queue-fakeremote")
ROOT = os.geteuid() == 0


def run_user():
    """The user programs drop to when we are root: facteur, or nobody on a
    machine where facteur-setup has not made it yet."""
    try:
        pwd.getpwnam("facteur")
        return "facteur"
    except KeyError:
        return "nobody"


if ROOT and run_user() != "facteur":
    os.environ["FACTEUR_USER"] = run_user()


def put_files(qdir, qid, files):
    """queue files written by hand, as a crash or an older version left
    them: files is ((dir, bytes), ...), each written to qdir/dir/qid and
    given to the queue's user"""
    for d, b in files:
        path = os.path.join(qdir, d, qid)
        with open(path, "wb") as f:
            f.write(b)
        chown_user(path)


def chown_user(path):
    """Give path (recursively) to the user programs run as, when root."""
    if not ROOT:
        return
    pw = pwd.getpwnam(run_user())
    os.chown(path, pw.pw_uid, pw.pw_gid)
    for d, dirs, files in os.walk(path):
        os.chown(d, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(d, f), pw.pw_uid, pw.pw_gid)


def instance(**controls):
    """A fresh instance (real facteur-setup) with extra control files."""
    home = ft.make_instance(users=())
    for k, v in controls.items():
        with open(os.path.join(home, "control", k), "w") as f:
            f.write(str(v) + "\n")
    fake = os.path.join(os.path.dirname(home), "fake")
    os.makedirs(fake, exist_ok=True)
    os.chmod(os.path.dirname(home), 0o755)
    chown_user(fake)
    return home, fake


def envelope(sender, rcpts):
    b = b"F" + sender.encode() + b"\0"
    for r in rcpts:
        b += b"T" + r.encode() + b"\0"
    return b + b"\0"


def qq(home, msg, env_bytes, timeout=20, extra_env=None):
    """Run facteur-queue: message on fd 0, env_bytes on fd 1.
    Returns (exit code, stderr bytes)."""
    r, w = os.pipe()
    env = ft.env_for(home, **(extra_env or {}))

    def feed():
        try:
            os.write(w, env_bytes) if len(env_bytes) < 60000 else _writeall(w, env_bytes)
        except OSError:
            pass
        os.close(w)

    p = subprocess.Popen([ft.bin_path("facteur-queue")], stdin=subprocess.PIPE, stdout=r,
                         stderr=subprocess.PIPE, env=env)
    os.close(r)
    t = threading.Thread(target=feed)
    t.start()
    try:
        p.stdin.write(msg)
    except BrokenPipeError:
        pass
    try:
        p.stdin.close()
    except BrokenPipeError:
        pass
    err = p.stderr.read()
    p.wait(timeout=timeout)
    t.join(timeout)
    return p.returncode, err


def _writeall(fd, b):
    while b:
        n = os.write(fd, b)
        b = b[n:]


def queue_files(home):
    """Every file under queue/ except the trigger FIFO, facteur-send's
    lock, queue/version and the parked inodes of pool/, as relative paths."""
    out = []
    q = os.path.join(home, "queue")
    for d, dirs, files in os.walk(q):
        for f in files:
            p = os.path.relpath(os.path.join(d, f), q)
            if p not in ("trigger", "lock", "version") and not p.startswith("pool/"):
                out.append(p)
    return sorted(out)


def send_env(home, fake, **extra):
    e = dict(FACTEUR_LOCAL=FAKELOCAL, FAKE_DIR=fake)
    e.update(extra)
    return ft.env_for(home, **e)


def start_send(home, env, log):
    return ft.start([ft.bin_path("facteur-send")], env, stderr=open(log, "ab"))


def box(fake, rcpt):
    """Messages delivered by the fake local program to rcpt."""
    d = os.path.join(fake, "box", rcpt)
    if not os.path.isdir(d):
        return []
    out = []
    for n in sorted(os.listdir(d)):
        if n.startswith("."):
            continue
        with open(os.path.join(d, n), "rb") as f:
            out.append(f.read())
    return out


def drained(home):
    return not [f for f in queue_files(home) if not f.startswith("tmp/")]


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def stop(p, sig=signal.SIGTERM, timeout=10):
    """Signal the process (not its group) and wait; returns its exit code."""
    try:
        os.kill(p.pid, sig)
    except OSError:
        pass
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def msg(subject, body="hello\n", extra=""):
    return ("From: alice@example.org\nTo: bob@example.org\nSubject: %s\n%s\n%s"
            % (subject, extra, body)).encode()


def wait(pred, timeout=10.0):
    return ft.wait_for(pred, timeout=timeout, step=0.05)


now = time.time


# The commit record facteur-queue appends to todo/ID (queue/qfile.h),
# written out again here from its description, so that the tests check
# the C code against an independent reading of the format.
_M = (1 << 64) - 1
_P1, _P2, _P3, _P5 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M


def qhash(b):
    acc = _P5
    n = len(b) - len(b) % 8
    for i in range(0, n, 8):
        w = int.from_bytes(b[i:i + 8], "little")
        acc = (_rotl((acc + w * _P2) & _M, 31) * _P1) & _M
    a = acc ^ ((len(b) * _P3) & _M)
    for c in b[n:]:
        a = (_rotl(a ^ ((c * _P5) & _M), 11) * _P1) & _M
    a ^= a >> 33
    a = (a * _P2) & _M
    a ^= a >> 29
    a = (a * _P3) & _M
    a ^= a >> 32
    return a


def commit_record(qid, message, env_bytes):
    """the "Z" field facteur-queue writes after the envelope in todo/ID"""
    return b"Z%s:%d:%016x:%016x\0" % (qid.encode(), len(message), qhash(message), qhash(env_bytes))


def committed(qid, message, env_bytes):
    """todo/ID's bytes as facteur-queue writes them"""
    return env_bytes + commit_record(qid, message, env_bytes)


def strace_queue(home, body, envb):
    """facteur-queue run under strace -f on one message, tracing fsync,
    rename and exit_group: (exit code, trace lines, [rename lines],
    [fsync-ended lines], [exit lines]) with indexes into the trace; None
    without strace."""
    strace = shutil.which("strace")
    if not strace:
        return None
    tr = os.path.join(ft.tempdir(), "queue.strace")
    # LeakSanitizer cannot run under ptrace: a SANITIZE=1 build would
    # exit 1 at its end under strace
    qenv = ft.env_for(home, ASAN_OPTIONS=":".join(
        x for x in (os.environ.get("ASAN_OPTIONS"), "detect_leaks=0") if x))
    # the qmail-queue interface needs the envelope on fd 1: a small driver
    drv = r"""
import os, subprocess, sys
m, e = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])
mr, mw = os.pipe(); er, ew = os.pipe()
os.write(mw, m); os.close(mw); os.write(ew, e); os.close(ew)
p = subprocess.run(sys.argv[3:], stdin=mr, stdout=er)
sys.exit(p.returncode)
"""
    r = subprocess.run([sys.executable, "-c", drv, body.hex(), envb.hex(), strace, "-f", "-qq",
                        "-e", "trace=fsync,rename,exit_group", "-o", tr, ft.bin_path("facteur-queue")],
                       env=qenv, capture_output=True, timeout=60)
    lines = read(tr).decode(errors="replace").splitlines()
    ren = [i for i, l in enumerate(lines) if re.search(r'rename\("tmp/[^"]+", "todo/', l)]
    done = [i for i, l in enumerate(lines) if re.search(r"fsync\(.*\) += 0|<\.\.\. fsync resumed>.*= 0", l)]
    ex = [i for i, l in enumerate(lines) if "exit_group(0)" in l]
    return r.returncode, lines, ren, done, ex
