#!/usr/bin/env python3
"""facteur-tlsd's privileges (as root only): the protocol program runs as
facteur and cannot read the private key; the engine runs as facteur-tls
after loading it, cannot read the key file again, is not dumpable, and the
program's uid cannot read its memory."""
import atexit
import os
import pwd
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

t = ft.TAP()
# stop our servers even when a test fails (TAP's exit handler runs first)
atexit.register(ft._cleanup)
ECHO = os.path.join(ft.SRC, "t", "bin", "tls-echo")
TLSD = ft.bin_path("facteur-tlsd")
for p in (ECHO, TLSD, ft.bin_path("facteur-setup")):
    if not os.access(p, os.X_OK):
        t.skip_all("not built: " + p)
if os.geteuid() != 0:
    t.skip_all("privilege separation needs root")

base = ft.tempdir()
os.chmod(base, 0o755)
home = ft.make_instance(home=os.path.join(base, "home"))
try:
    fac = pwd.getpwnam("facteur")
    tls = pwd.getpwnam("facteur-tls")
except KeyError:
    t.skip_all("facteur-setup did not create the users facteur and facteur-tls")
env = ft.env_for(home)
env.pop("FACTEUR_USER", None)
log = os.path.join(base, "log")
srv, port = ft.tcpserver([TLSD, "-t", ECHO], home, env=env, log=log)
key = os.path.join(home, "control", "tls", "key.pem")
cert = os.path.join(home, "control", "tls", "cert.pem")
st = os.stat(key)
t.ok(st.st_uid == 0 and (st.st_mode & 0o077) == 0, "key.pem is root's, mode %o" % (st.st_mode & 0o777))

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="mx.example.org")
f = s.makefile("rb")


def ask(line):
    s.sendall(line.encode() + b"\r\n")
    return f.readline().decode("latin-1").strip()


def status_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as fh:
        for ln in fh:
            k, _, v = ln.partition(":")
            if k in ("Uid", "Gid", "PPid"):
                ids[k] = [int(x) for x in v.split()]
    return ids


f.readline()
who = ask("WHOAMI")
t.like(who, "+OK uid=%d " % fac.pw_uid, "program runs as facteur: " + who)
child = int(who.split("pid=")[1])
ids = status_ids(child)
t.is_(ids["Uid"], [fac.pw_uid] * 4, "program's real, effective, saved and fs uid are facteur's")
engine = ids["PPid"][0]
eids = status_ids(engine)
t.is_(eids["Uid"], [tls.pw_uid] * 4, "engine (the program's parent) runs as facteur-tls")
t.is_(eids["Gid"], [tls.pw_gid] * 4, "with facteur-tls's group")
with open("/proc/%d/cmdline" % engine, "rb") as fh:
    t.ok(b"facteur-tlsd" in fh.read(), "that parent is facteur-tlsd")
t.is_(os.stat("/proc/%d/environ" % engine).st_uid, 0, "engine is not dumpable (its /proc files are root's)")

t.like(ask("OPEN " + key), "-ERR", "program cannot open key.pem")
t.is_(ask("OPEN " + cert), "+OK readable", "but can open cert.pem (the check above can succeed)")
t.like(ask("OPEN /proc/%d/mem" % engine), "-ERR", "program cannot read the engine's memory")
t.like(ask("OPEN /proc/%d/environ" % engine), "-ERR", "nor its environment")


def can_open_as(uid, gid, path):
    r = subprocess.run(["head", "-c", "0", path],
                       preexec_fn=lambda: (os.setgroups([]), os.setgid(gid), os.setuid(uid)),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    return r.returncode == 0


t.ok(not can_open_as(tls.pw_uid, tls.pw_gid, key), "facteur-tls cannot read key.pem again")
t.ok(not can_open_as(fac.pw_uid, fac.pw_gid, key), "facteur cannot read key.pem")
t.ok(can_open_as(fac.pw_uid, fac.pw_gid, cert), "facteur can read cert.pem (same check, other file)")
t.is_(ask("QUIT"), "+OK bye", "session still fine")
s.close()
