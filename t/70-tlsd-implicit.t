#!/usr/bin/env python3
"""facteur-tlsd -t: implicit TLS in front of a toy line protocol (t/bin/tls-echo).
TLS 1.2 and 1.3 accepted, 1.0 and 1.1 refused by the server, openssl
s_client, the protocol/cipher line reaching the program, exit status passed
on, close_notify when the program ends, large transfers both ways."""
import atexit
import os
import socket
import ssl
import subprocess
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
t = ft.TAP()
# stop our servers even when a test fails (TAP's exit handler runs first)
atexit.register(ft._cleanup)
ECHO = os.path.join(ft.SRC, "t", "bin", "tls-echo")
TLSD = ft.bin_path("facteur-tlsd")
for p in (ECHO, TLSD, ft.bin_path("facteur-setup")):
    if not os.access(p, os.X_OK):
        t.skip_all("not built: " + p)

base = ft.tempdir()
os.chmod(base, 0o755)
home = ft.make_instance(home=os.path.join(base, "home"))
log = os.path.join(base, "log")
env = ft.env_for(home)
srv, port = ft.tcpserver([TLSD, "-t", ECHO], home, env=env, log=log)


def client_ctx(minv=None, maxv=None):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if minv or maxv:
        # let the client offer old versions: any refusal is the server's
        c.set_ciphers("DEFAULT:@SECLEVEL=0")
    if minv:
        c.minimum_version = minv
    if maxv:
        c.maximum_version = maxv
    return c


def readline(f):
    return f.readline().decode("latin-1")


def session(ctx, lines, sni="mx.example.org"):
    """connect, send lines one by one, return the replies (greeting first)"""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=sni)
    f = s.makefile("rb")
    out = [readline(f)]
    for ln in lines:
        s.sendall(ln.encode() + b"\r\n")
        out.append(readline(f))
    ver = s.version()
    s.close()
    return ver, out


def logtext():
    with open(log, "rb") as fh:
        return fh.read().decode("latin-1")


# TLS 1.3 and 1.2
ver, out = session(client_ctx(), ["hello", "INFO", "QUIT"])
t.is_(ver, "TLSv1.3", "TLS 1.3 negotiated by default")
t.is_(out[0], "+OK echo ready tls=1\r\n", "program told TLS is active (FACTEUR_TLS=1)")
t.is_(out[1], "+OK echo: hello\r\n", "line relayed through TLS")
t.like(out[2], "+OK TLSv1.3 TLS_", "program learns protocol and cipher from the control channel")
t.is_(out[3], "+OK bye\r\n", "QUIT answered")

ver, out = session(client_ctx(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2), ["INFO"])
t.is_(ver, "TLSv1.2", "TLS 1.2 accepted")
t.like(out[1], "+OK TLSv1.2 ECDHE-", "TLS 1.2 with an ECDHE suite")
t.ok("GCM" in out[1] or "CHACHA20" in out[1], "TLS 1.2 with an AEAD suite: " + out[1].strip())

for name, v in (("TLS 1.1", ssl.TLSVersion.TLSv1_1), ("TLS 1.0", ssl.TLSVersion.TLSv1)):
    refused = False
    try:
        session(client_ctx(v, v), ["hello"])
    except (ssl.SSLError, OSError):
        refused = True
    t.ok(refused, name + " refused")
t.ok(ft.wait_for(lambda: "unsupported protocol" in logtext(), 5),
     "refusal is the server's (engine logs unsupported protocol)")

# no static-RSA or CBC suite offered for TLS 1.2
weak = client_ctx(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
weak.set_ciphers("AES128-SHA:AES256-SHA:AES128-GCM-SHA256:@SECLEVEL=0")
refused = False
try:
    session(weak, ["hello"])
except (ssl.SSLError, OSError):
    refused = True
t.ok(refused, "TLS 1.2 without forward secrecy refused")

# openssl s_client, a different client stack
p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-quiet",
                    "-servername", "mx.example.org"],
                   input=b"from s_client\r\nQUIT\r\n", stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, timeout=20)
o = p.stdout.decode("latin-1")
t.ok("+OK echo: from s_client\r\n" in o and "+OK bye" in o, "openssl s_client session")

# the program ends: close_notify and EOF reach the client
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
s = client_ctx().wrap_socket(raw, server_hostname="mx.example.org")
f = s.makefile("rb")
readline(f)
s.sendall(b"QUIT\r\n")
t.is_(readline(f), "+OK bye\r\n", "reply before the end")
try:
    rest = s.recv(100)
    clean = rest == b""
except ssl.SSLError as e:
    clean = False
    t.diag(repr(e))
t.ok(clean, "clean TLS close (close_notify) after the program exits")
s.close()

# large transfers both ways
raw = socket.create_connection(("127.0.0.1", port), timeout=20)
s = client_ctx().wrap_socket(raw, server_hostname="mx.example.org")
f = s.makefile("rb")
readline(f)
s.sendall(b"BIG 3000000\r\n")
big = f.readline()
t.is_(len(big), 3000002, "3 MB from the program through TLS")
t.ok(big[:-2] == b"x" * 3000000, "bytes intact")
lines = [("line %06d " % i + "y" * 200) for i in range(5000)]
# pipelined in batches of 100 lines (an SSL object is not for two threads)
got = 0
okall = True
for b in range(0, 5000, 100):
    s.sendall("".join(x + "\r\n" for x in lines[b:b + 100]).encode())
    for x in lines[b:b + 100]:
        r = readline(f)
        if r != "+OK echo: " + x + "\r\n":
            okall = False
            break
        got += 1
    if not okall:
        break
t.ok(okall and got == 5000, "5000 pipelined lines (1 MB) echoed in order through TLS")
s.close()

# exit status of the program, passed on by the engine (no network: stdin)
r = subprocess.run([TLSD, ECHO], input=b"EXIT 7\r\n", env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
t.is_(r.returncode, 7, "program's exit status passed on")
r = subprocess.run([TLSD, ECHO], input=b"hi\r\n", env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
t.is_(r.returncode, 3, "client EOF reaches the program as EOF (it exits 3)")
t.is_(r.stdout, b"+OK echo ready tls=0\r\n+OK echo: hi\r\n", "plaintext relay is byte-exact")

# implicit TLS with no certificate: refused before anything starts
bare = os.path.join(base, "bare")
os.makedirs(os.path.join(bare, "control"))
r = subprocess.run([TLSD, "-t", ECHO], input=b"", env=ft.env_for(bare),
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
t.is_(r.returncode, 78, "-t without control/tls/cert.pem: EX_CONFIG")
t.ok(b"no certificate" in r.stderr, "and says why")
r = subprocess.run([TLSD], input=b"", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
t.is_(r.returncode, 64, "no program: usage")
