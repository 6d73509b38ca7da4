"""Helpers shared by the POP3 and checkpassword tests (t/4x-*.t), loaded
with importlib from t/data: an instance with users, Maildirs filled by hand
(owned by `facteur` when the tests run as root, as facteur-setup would make
them), facteur-pop3d on a transcript, and the CRLF/dot-stuffing that RETR
must produce, computed independently of the C code."""
import os
import pwd
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ft  # noqa: E402

USERS = (("alice@example.org", "alice-secret"), ("bob@example.org", "bob-secret"))


def facteur_ids():
    """(uid, gid) the programs drop to when run as root, or None."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(os.environ.get("FACTEUR_USER") or "facteur")
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def chown_facteur(path):
    ids = facteur_ids()
    if ids:
        os.chown(path, *ids)


def instance(users=USERS):
    home = ft.make_instance(users=users)
    os.chmod(os.path.dirname(home), 0o755)
    return home


def maildir(home, addr="alice@example.org"):
    local, dom = addr.split("@")
    md = os.path.join(home, "mail", dom, local)
    for p in (os.path.join(home, "mail"), os.path.join(home, "mail", dom), md):
        if not os.path.isdir(p):
            os.mkdir(p, 0o700)
            chown_facteur(p)
    for sub in ("cur", "new", "tmp"):
        p = os.path.join(md, sub)
        if not os.path.isdir(p):
            os.mkdir(p, 0o700)
            chown_facteur(p)
    return md


def put(md, name, content, sub="new", mtime=None):
    """A message file written by hand, as a delivery would leave it."""
    if isinstance(content, str):
        content = content.encode()
    p = os.path.join(md, sub, name)
    with open(p, "wb") as f:
        f.write(content)
    chown_facteur(p)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


def crlf(data):
    """A stored message as POP3 counts and sends it: bare LF -> CRLF, a
    final CRLF added when the last line has none (before stuffing)."""
    out = bytearray()
    prev = b"\n"[0]
    for c in data:
        if c == 0x0a and prev != 0x0d:
            out += b"\r"
        out.append(c)
        prev = c
    if data and not data.endswith(b"\n"):
        out += b"\r\n"
    return bytes(out)


def stuff(data):
    """crlf() then RFC 1939 byte-stuffing of lines starting with '.'"""
    lines = crlf(data).split(b"\r\n")
    return b"\r\n".join((b"." + l if l.startswith(b".") else l) for l in lines)


def env(home, **extra):
    e = ft.env_for(home, FACTEUR_TLSCTL=None, FACTEUR_TLS=None, TCPREMOTEIP=None)
    for k, v in extra.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    return e


def session(home, data, args=(), timeout=30, **extra):
    """facteur-pop3d on a transcript: (rc, stdout bytes, stderr bytes)."""
    if isinstance(data, str):
        data = data.encode()
    return ft.run("facteur-pop3d", list(args), stdin=data, env=env(home, **extra), timeout=timeout)


def login(user="alice@example.org", pw="alice-secret"):
    return "USER %s\r\nPASS %s\r\n" % (user, pw)


def lines(out):
    return out.decode("latin-1").split("\r\n")


def status_lines(out):
    """The +OK/-ERR lines of a transcript's output, in order."""
    return [l for l in lines(out) if l.startswith("+OK") or l.startswith("-ERR")]


def write_control(home, name, text):
    p = os.path.join(home, "control", name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o644)


def names(md, sub="cur"):
    d = os.path.join(md, sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []
