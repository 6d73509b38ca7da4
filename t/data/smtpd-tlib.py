"""Helpers shared by facteur-smtpd's tests (t/1x-smtpd-*.t), loaded with
importlib from t/data: an instance, a session on stdin/stdout, reply codes,
and what the stand-in queue (t/data/smtpd-fakequeue) received."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ft  # noqa: E402

FAKEQ = os.path.join(ft.SRC, "t", "data", "smtpd-fakequeue")


def open_up(path):
    """The dropped `facteur` user must reach the instance and queue dirs."""
    os.chmod(path, 0o755)


def instance(users=(("alice@example.org", "alice-secret"),), domains=("example.org",)):
    """(home, qdir): a real instance and an empty directory for the fake queue."""
    home = ft.make_instance(users=users, domains=domains)
    open_up(os.path.dirname(home))
    qdir = os.path.join(os.path.dirname(home), "fakeq")
    os.mkdir(qdir)
    os.chmod(qdir, 0o777)
    return home, qdir


def write_control(home, name, text):
    p = os.path.join(home, "control", name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o644)


def session(home, qdir, data, ip="192.0.2.1", args=(), timeout=30, **extra):
    """Run facteur-smtpd on a transcript; (rc, stdout bytes, stderr bytes)."""
    env = ft.env_for(home, FACTEUR_QUEUE=FAKEQ, FAKEQ_DIR=qdir, TCPREMOTEIP=ip,
                     RELAYCLIENT=None, FACTEUR_TLSCTL="", FACTEUR_TLS=None)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    if isinstance(data, str):
        data = data.encode()
    return ft.run("facteur-smtpd", list(args), stdin=data, env=env, timeout=timeout)


def replies(out):
    """Each reply's last line (multi-line replies collapsed), as str."""
    res = []
    for line in out.decode("utf-8", "replace").split("\r\n"):
        if len(line) >= 4 and line[3] == " ":
            res.append(line)
        elif len(line) == 3:
            res.append(line)
    return res


def codes(out):
    return [r[:3] for r in replies(out)]


def queued(qdir):
    """[(message, envelope)] for every message the fake queue got with a
    complete envelope (ends with NUL NUL), in arrival order."""
    res = []
    for name in sorted(os.listdir(qdir)):
        if not name.endswith(".env"):
            continue
        with open(os.path.join(qdir, name), "rb") as f:
            env = f.read()
        if not env.endswith(b"\0\0"):
            continue
        with open(os.path.join(qdir, name[:-4] + ".msg"), "rb") as f:
            res.append((f.read(), env))
    return res


def clear(qdir):
    for name in os.listdir(qdir):
        os.unlink(os.path.join(qdir, name))


def body(msg):
    """The message without our Received header (its first three lines at
    most: Received, by ..., for ...)."""
    lines = msg.split(b"\r\n")
    i = 1
    while i < len(lines) and lines[i].startswith(b"\t"):
        i += 1
    return b"\r\n".join(lines[i:])
