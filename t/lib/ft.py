"""ft: the shared helpers of facteur's Python tests.

TAP output for prove, throwaway instances built with the real
facteur-setup and facteur-users, running programs with a transcript on
stdin, and servers on loopback under tcpserver. Add functions here; do not
change what existing ones do, other tests rely on them."""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("FACTEUR_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("FACTEUR_BIN") or os.path.join(SRC, "bin")


class TAP:
    """Minimal TAP producer; exit status non-zero when anything failed."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        atexit.register(self._end)

    def ok(self, cond, name=""):
        self.n += 1
        if not cond:
            self.failed += 1
        print(("ok" if cond else "not ok"), self.n, "-", name.replace("\n", " "), flush=True)
        return bool(cond)

    def is_(self, got, want, name=""):
        r = self.ok(got == want, name)
        if not r:
            self.diag("got:  %r" % (got,))
            self.diag("want: %r" % (want,))
        return r

    def like(self, got, prefix, name=""):
        """got (str or bytes) starts with prefix"""
        r = self.ok(got is not None and got.startswith(prefix), name)
        if not r:
            self.diag("got:  %r" % (got,))
            self.diag("want prefix: %r" % (prefix,))
        return r

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            print("# " + line, flush=True)

    def skip_all(self, why):
        print("1..0 # SKIP " + why, flush=True)
        self.n = -1
        sys.exit(0)

    def _end(self):
        if self.n >= 0:
            print("1..%d" % self.n, flush=True)
            if self.failed:
                sys.stdout.flush()
                _cleanup()          # os._exit skips the other exit handlers
                os._exit(1)


def bin_path(prog):
    return os.path.join(BIN, prog)


_cleanups = []


def _cleanup():
    for f in reversed(_cleanups):
        try:
            f()
        except Exception:
            pass


atexit.register(_cleanup)


def data_module(name, filename):
    """A helper module of the tests, t/data/FILENAME, loaded as NAME."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", filename))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tempdir(prefix="facteur-t-"):
    d = tempfile.mkdtemp(prefix=prefix)
    if not os.environ.get("FACTEUR_KEEP"):
        _cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def env_for(home, **extra):
    e = dict(os.environ)
    e["FACTEUR_HOME"] = home
    e["PATH"] = BIN + ":" + e.get("PATH", "/usr/bin:/bin")
    for k, v in extra.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    return e


def run(prog, args=(), stdin=b"", home=None, env=None, timeout=30, **extra):
    """Run bin/prog with args; returns (exit code, stdout bytes, stderr bytes)."""
    if env is None:
        env = env_for(home, **extra) if home else dict(os.environ, **{k: str(v) for k, v in extra.items()})
    path = prog if "/" in prog else bin_path(prog)
    p = subprocess.run([path] + list(args), input=stdin, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def make_instance(hostname="mx.example.org", domains=("example.org",),
                  users=(("alice@example.org", "alice-secret"),), home=None):
    """A fresh instance through the real facteur-setup and facteur-users."""
    home = home or os.path.join(tempdir(), "home")
    args = ["--hostname", hostname]
    for d in domains:
        args += ["--domain", d]
    rc, out, err = run("facteur-setup", args, home=home)
    if rc != 0:
        raise RuntimeError("facteur-setup failed: %r %r" % (out, err))
    for addr, pw in users:
        rc, out, err = run("facteur-users", ["add", addr], stdin=(pw + "\n").encode(), home=home)
        if rc != 0:
            raise RuntimeError("facteur-users add failed: %r" % (err,))
    return home


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, host="127.0.0.1", timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def start(argv, env, stdout=None, stderr=None):
    """Start a long-running process; it is killed (by its PID) at exit."""
    p = subprocess.Popen(argv, env=env, stdout=stdout or subprocess.DEVNULL,
                         stderr=stderr or subprocess.DEVNULL, start_new_session=True)

    def stop():
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    _cleanups.append(stop)
    p.stop = stop
    return p


def tcpserver(prog_argv, home, port=None, env=None, log=None):
    """Serve prog_argv on 127.0.0.1:port with tcpserver; returns (proc, port)."""
    port = port or free_port()
    env = env or env_for(home)
    argv = ["tcpserver", "-DHRl0", "-c", "50", "127.0.0.1", str(port)] + list(prog_argv)
    errf = open(log, "ab") if log else None
    p = start(argv, env, stderr=errf)
    if not wait_port(port):
        raise RuntimeError("tcpserver did not start on %d" % port)
    return p, port


def maildir_messages(path, sub="new"):
    """Contents of the files in a Maildir's new/ (or cur/), sorted by name."""
    d = os.path.join(path, sub)
    if not os.path.isdir(d):
        return []
    out = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out.append(f.read())
    return out


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def children(pid):
    """PIDs of the live processes whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as fh:
                st = fh.read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d))
    return out


def give_to_facteur(d):
    """As root: d and everything below it (links not followed) owned by
    the facteur user, and d's parent traversable, as the mailbox programs
    need. Not root: nothing."""
    if os.geteuid() != 0:
        return
    import pwd
    pw = pwd.getpwnam("facteur")
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    os.lchown(d, pw.pw_uid, pw.pw_gid)
    os.chmod(os.path.dirname(d), 0o755)
