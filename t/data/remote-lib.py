"""remote-lib: setup shared by the facteur-remote tests (t/81..89). Loaded
with importlib from t/data, after ft (it belongs to the remote tests, not
to ft.py):

    spec = importlib.util.spec_from_file_location("remotelib", os.path.join(os.path.dirname(__file__), "data", "remote-lib.py"))
    rl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rl)

Loading it sets FACTEUR_USER=nobody when run as root on a machine where
facteur-setup has not made the facteur user yet (facteur-remote drops to
it). rl.tap() is ft.TAP() with the servers stopped before it leaves;
rl.Instance() is a bare FACTEUR_HOME with control/ only, and runs
facteur-remote against it, its per-recipient output split in fields."""
import atexit
import importlib.util
import os
import pwd
import subprocess

import ft

DATA = os.path.dirname(os.path.abspath(__file__))

# as root facteur-remote drops to facteur; before facteur-setup has made
# that user (a fresh machine), to nobody
if os.geteuid() == 0:
    try:
        pwd.getpwnam("facteur")
    except KeyError:
        os.environ["FACTEUR_USER"] = "nobody"


def load(name, file):
    """A helper module of t/data (remote-peer.py, remote-dns.py, ...)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(DATA, file))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def _cleanup_first():
    """ft.TAP's exit hook leaves with os._exit when a test failed, before
    ft's own cleanup could stop the servers this test started: stop them
    first (registered after TAP, so it runs before it)."""
    ft._cleanup()
    del ft._cleanups[:]


def tap():
    """ft.TAP(), with _cleanup_first registered after it."""
    t = ft.TAP()
    atexit.register(_cleanup_first)
    return t


def control(home, name, text):
    """Write home/control/name (readable by all); None removes it."""
    path = os.path.join(home, "control", name)
    if text is None:
        if os.path.exists(path):
            os.unlink(path)
        return
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def fields(out):
    """facteur-remote's output (bytes): one list of tab-separated fields
    (recipient, code, text) per line."""
    return [l.split("\t") for l in out.decode("utf-8", "replace").splitlines()]


class Instance:
    """top: a temporary directory (0755), given or made; home: top/home
    with an empty control/, both 0755 (facteur-remote may run as another
    user)."""

    def __init__(self, top=None):
        if top is None:
            top = ft.tempdir()
            os.chmod(top, 0o755)
        self.top = top
        self.home = os.path.join(top, "home")
        os.makedirs(os.path.join(self.home, "control"))
        for d in (self.home, os.path.join(self.home, "control")):
            os.chmod(d, 0o755)

    def control(self, name, text):
        control(self.home, name, text)

    def run(self, args, msg=None, env=None, timeout=30):
        """facteur-remote args with msg (bytes, written to top/msg) on stdin,
        or nothing on stdin when msg is None; returns the CompletedProcess."""
        env = env or ft.env_for(self.home)
        argv = [ft.bin_path("facteur-remote")] + list(args)
        if msg is None:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, timeout=timeout)
        mf = os.path.join(self.top, "msg")
        with open(mf, "wb") as f:
            f.write(msg)
        with open(mf, "rb") as f:
            return subprocess.run(argv, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, timeout=timeout)

    def remote(self, args, msg=None, env=None, timeout=30):
        """As run(); returns (exit code, fields of the output, stderr str)."""
        p = self.run(args, msg, env=env, timeout=timeout)
        return p.returncode, fields(p.stdout), p.stderr.decode("utf-8", "replace")
