#!/usr/bin/env python3
"""facteur-tlsd is split: the plaintext relay never loads OpenSSL; at
STARTTLS the same process becomes facteur-tlsd-tls (exec), which has the
keys from a memfd it then closes. Also: facteur-tlsd-tls refuses to be run
by hand."""
import atexit
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

t = ft.TAP()
atexit.register(ft._cleanup)
ECHO = os.path.join(ft.SRC, "t", "bin", "tls-echo")
TLSD = ft.bin_path("facteur-tlsd")
TLSD_TLS = ft.bin_path("facteur-tlsd-tls")
for p in (ECHO, TLSD, TLSD_TLS, ft.bin_path("facteur-setup")):
    if not os.access(p, os.X_OK):
        t.skip_all("not built: " + p)
if os.geteuid() != 0:
    t.skip_all("needs root: the engine is non-dumpable, so only root reads its /proc entries")


def needed(path):
    r = subprocess.run(["readelf", "-d", path], capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if "(NEEDED)" in line]


def has_ssl(lines):
    return any("libssl" in x or "libcrypto" in x for x in lines)


def ssl_symbols(path):
    r = subprocess.run(["nm", path], capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if line.endswith((" SSL_CTX_new", " OPENSSL_init_ssl"))]


# dynamically linked (SANITIZE=1): no libssl/libcrypto among its NEEDED;
# statically linked (the plain build): none of OpenSSL's code inside
t.ok(not has_ssl(needed(TLSD)) and not ssl_symbols(TLSD) and
     (needed(TLSD) or "INTERP" not in subprocess.run(["readelf", "-l", TLSD], capture_output=True, text=True).stdout),
     "facteur-tlsd is not linked with OpenSSL")
t.ok(has_ssl(needed(TLSD_TLS)), "facteur-tlsd-tls is")

base = ft.tempdir()
os.chmod(base, 0o755)
home = ft.make_instance(home=os.path.join(base, "home"))
env = ft.env_for(home)
srv, port = ft.tcpserver([TLSD, ECHO], home, env=env, log=os.path.join(base, "log"))




def maps(pid):
    try:
        with open("/proc/%d/maps" % pid) as fh:
            return fh.read()
    except OSError:
        return ""


def exe(pid):
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return ""


def memfds(pid):
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("/memfd:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        return -1
    return n


s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
t.is_(f.readline(), b"+OK echo ready tls=0\r\n", "plaintext greeting")
engine = 0
for _ in range(50):
    # the port probe of ft.tcpserver was a session too: wait until ours
    # is the only one left
    kids = ft.children(srv.pid)
    if len(kids) == 1:
        engine = kids[0]
        break
    time.sleep(0.1)
t.ok(engine > 0, "found the session's engine process")
t.is_(exe(engine), "facteur-tlsd", "a plaintext session runs facteur-tlsd")
m = maps(engine)
t.ok(m and "libssl" not in m and "libcrypto" not in m, "with no OpenSSL library mapped")
t.is_(memfds(engine), 0, "and no memfd yet")

s.sendall(b"STARTTLS\r\n")
t.is_(f.readline(), b"+OK begin TLS\r\n", "STARTTLS answered")
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
tf = ts.makefile("rb")
ts.sendall(b"ECHO hello\r\n")
r = tf.readline()
t.ok(b"hello" in r, "relayed through TLS: " + r.decode("latin-1").strip())
t.is_(exe(engine), "facteur-tlsd-tls", "the same process is now facteur-tlsd-tls")
t.ok("libssl" in maps(engine), "with OpenSSL")
t.is_(memfds(engine), 0, "the key hand-over memfd is closed")
t.ok(len(ft.children(engine)) == 1, "the program is still its child")
ts.close()

r = subprocess.run([TLSD_TLS, "1", "2"], capture_output=True, env=env, timeout=10)
t.is_(r.returncode, 64, "facteur-tlsd-tls run by hand: usage error")

