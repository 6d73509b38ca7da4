#!/usr/bin/env python3
"""facteur-tlsd PROG: plaintext first, then STARTTLS on the control channel.
The CVE-2011-0411 injection (bytes pipelined behind STARTTLS never reach
the program after the handshake), a TLS-looking line that is not a
handshake, a failed handshake, the engine found and run by the program
itself (tlsctl_maybe_exec_engine), and no STARTTLS without a certificate."""
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
srv, port = ft.tcpserver([TLSD, ECHO], home, env=env, log=log)

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def logtext():
    with open(log, "rb") as fh:
        return fh.read().decode("latin-1")


def rl(sock_file):
    return sock_file.readline().decode("latin-1")


def plain_connect(p=None):
    s = socket.create_connection(("127.0.0.1", p or port), timeout=10)
    return s, s.makefile("rb")


# a plain session: STARTTLS offered, lines relayed
s, f = plain_connect()
t.is_(rl(f), "+OK echo ready tls=0\r\n", "plaintext greeting, TLS not active")
s.sendall(b"ENV FACTEUR_TLSCTL\r\n")
r = rl(f)
t.ok(r.startswith("+OK ") and r[4:].strip().isdigit(), "control descriptor in FACTEUR_TLSCTL: " + r.strip())
s.sendall(b"ENV TCPREMOTEIP\r\nINFO\r\n")
t.is_(rl(f), "+OK 127.0.0.1\r\n", "client address still known to the program")
t.is_(rl(f), "-ERR none\r\n", "no TLS info before STARTTLS")

# STARTTLS, then the same connection encrypted
s.sendall(b"STARTTLS\r\n")
t.is_(rl(f), "+OK begin TLS\r\n", "ready reply sent in plaintext")
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
tf = ts.makefile("rb")
t.ok(ts.version() in ("TLSv1.3", "TLSv1.2"), "handshake after STARTTLS: " + str(ts.version()))
ts.sendall(b"INFO\r\n")
t.like(rl(tf), "+OK " + ts.version() + " ", "program got PROTOCOL CIPHER from the engine")
ts.sendall(b"STARTTLS\r\n")
t.is_(rl(tf), "-ERR no TLS\r\n", "no second STARTTLS")
ts.sendall(b"QUIT\r\n")
t.is_(rl(tf), "+OK bye\r\n", "session continues through TLS")
ts.close()

# CVE-2011-0411: a line pipelined behind STARTTLS in the same packet
s, f = plain_connect()
rl(f)
s.sendall(b"STARTTLS\r\nINJECTED\r\n")
t.is_(rl(f), "+OK begin TLS\r\n", "STARTTLS answered")
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
tf = ts.makefile("rb")
ts.sendall(b"AFTER\r\n")
t.is_(rl(tf), "+OK echo: AFTER\r\n", "first line after the handshake is the client's TLS line, not the injected one")
ts.sendall(b"QUIT\r\n")
rl(tf)
ts.close()

# the same with the injected bytes in a second packet, before the reply;
# should they reach the engine only after the program's 'Y', they are
# taken as the start of the handshake, which then fails: also safe
s, f = plain_connect()
rl(f)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(b"STARTTLS\r\n")
s.sendall(b"INJECTED2\r\nINJECTED3\r\n")
t.is_(rl(f), "+OK begin TLS\r\n", "STARTTLS answered (second packet variant)")
try:
    ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
    tf = ts.makefile("rb")
    ts.sendall(b"AFTER2\r\n")
    t.is_(rl(tf), "+OK echo: AFTER2\r\n", "injected second packet discarded too")
    ts.sendall(b"QUIT\r\n")
    rl(tf)
    ts.close()
except (ssl.SSLError, OSError) as e:
    t.ok(True, "injected second packet made the handshake fail (%s)" % e)
time.sleep(0.3)
lt = logtext()
t.ok("line: INJECTED" not in lt, "the program never read an injected line")
t.ok("line: AFTER\\x0d" in lt or "line: AFTER\n" in lt, "and did read the line sent through TLS")

# the race: the program is slow to write its 'Y' after its ready reply, so
# the client's ClientHello reaches the engine while it is still relaying
# plaintext; the engine must keep it for the handshake, not pass it on
s, f = plain_connect()
rl(f)
s.sendall(b"SLOWTLS\r\n")
t.is_(rl(f), "+OK begin TLS\r\n", "slow STARTTLS answered")
t0 = time.time()
try:
    ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
    tf = ts.makefile("rb")
    ts.sendall(b"RACE\r\n")
    t.is_(rl(tf), "+OK echo: RACE\r\n", "ClientHello that raced the 'Y' still made the handshake")
    t.ok(time.time() - t0 < 15, "without waiting for the 30 s handshake timeout (%.1f s)" % (time.time() - t0))
    ts.sendall(b"QUIT\r\n")
    rl(tf)
    ts.close()
except (ssl.SSLError, OSError) as e:
    t.ok(False, "handshake after a slow 'Y': %r" % e)
    t.ok(False, "(no timing)")

# a plaintext line that starts like a TLS record, with no STARTTLS: held
# briefly in case it is a ClientHello racing the program's 'Y', then relayed
s, f = plain_connect()
rl(f)
t0 = time.time()
s.sendall(b"\x16\x03\x01tls-looking line\r\n")
r = f.readline()
t.is_(r, b"+OK echo: \x16\x03\x01tls-looking line\r\n", "TLS-looking plaintext still relayed unchanged")
t.ok(time.time() - t0 < 10, "after a bounded hold (%.1f s)" % (time.time() - t0))
s.sendall(b"QUIT\r\n")
rl(f)
s.close()

# garbage instead of a ClientHello: the connection ends, the program exits
s, f = plain_connect()
rl(f)
s.sendall(b"STARTTLS\r\n")
rl(f)
# a TLS record header with a body that is no ClientHello: whether it
# reaches the engine before or after the program's 'Y', it must end in a
# handshake failure, promptly
s.sendall(b"\x16\x03\x01\x00\x20" + b"this is not a ClientHello at all!" * 4)
s.settimeout(10)
try:
    rest = s.recv(4096)
    while rest and len(rest) < 100000:
        more = s.recv(4096)
        if not more:
            break
        rest += more
    ended = True
except socket.timeout:
    ended = False
except OSError:
    ended = True
t.ok(ended, "failed handshake ends the connection")
s.close()
# the program hears of the failure from the engine, which may have hung
# up on us first: wait for its line (the engine's comes before)
ft.wait_for(lambda: "fatal: STARTTLS failed" in logtext(), 5)
lt = logtext()
t.ok("TLS handshake failed" in lt, "and the engine logs it")
t.ok("fatal: STARTTLS failed" in lt, "the program learns the handshake failed and exits")

# handshake timeout (FACTEUR_TLS_HANDSHAKE_TIMEOUT, seconds)
log2 = os.path.join(base, "log2")
srv2, port2 = ft.tcpserver([TLSD, ECHO], home, env=ft.env_for(home, FACTEUR_TLS_HANDSHAKE_TIMEOUT=1), log=log2)
s, f = plain_connect(port2)
rl(f)
s.sendall(b"STARTTLS\r\n")
rl(f)
t0 = time.time()
s.settimeout(15)
try:
    got = s.recv(100)
except OSError:
    got = b""
took = time.time() - t0
t.ok(got == b"" and took < 10, "silent client after STARTTLS cut off by the handshake timeout (%.1f s)" % took)
s.close()

# the program runs the engine itself when control/tls/cert.pem exists
r = subprocess.run([ECHO], input=b"ENV FACTEUR_TLSCTL\r\nSTARTTLS\r\n", env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
out = r.stdout.decode("latin-1").split("\r\n")
t.ok(out[1].startswith("+OK ") and out[1][4:].isdigit(), "tls-echo re-ran itself under facteur-tlsd")
t.is_(out[2], "+OK begin TLS", "and offers STARTTLS")
# with -t it asks for implicit TLS
r = subprocess.run([ECHO, "-t"], input=b"", env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
t.ok(b"TLS handshake failed" in r.stderr and r.stdout == b"",
     "tls-echo -t runs the engine with -t: nothing in plaintext")

# no certificate: the engine steps aside, STARTTLS not offered, no loop
bare = os.path.join(base, "bare")
os.makedirs(os.path.join(bare, "control"))
benv = ft.env_for(bare)
r = subprocess.run([TLSD, ECHO], input=b"ENV FACTEUR_TLSCTL\r\nSTARTTLS\r\nQUIT\r\n", env=benv,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
t.is_(r.stdout, b"+OK echo ready tls=0\r\n+OK \r\n-ERR no TLS\r\n+OK bye\r\n",
      "without a certificate: FACTEUR_TLSCTL empty, no STARTTLS")
t.is_(r.returncode, 0, "exit status 0")
r = subprocess.run([ECHO], input=b"ENV FACTEUR_TLSCTL\r\nQUIT\r\n", env=benv,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
t.is_(r.stdout, b"+OK echo ready tls=0\r\n-ERR unset\r\n+OK bye\r\n",
      "program alone without a certificate does not run the engine")

# started on an accepted socket with no TCPREMOTEIP (systemd Accept=yes,
# inetd): the program sees pipes, so the engine tells it who the client is
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(1)
c = socket.create_connection(lsock.getsockname(), timeout=10)
conn, _ = lsock.accept()
senv = dict(env)
for k in ("TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT", "PROTO"):
    senv.pop(k, None)
p = subprocess.Popen([TLSD, ECHO], stdin=conn, stdout=conn, stderr=subprocess.DEVNULL, env=senv)
conn.close()
cf = c.makefile("rb")
rl(cf)
c.sendall(b"ENV TCPREMOTEIP\r\nENV TCPREMOTEPORT\r\nENV TCPLOCALPORT\r\nQUIT\r\n")
t.is_(rl(cf), "+OK 127.0.0.1\r\n", "TCPREMOTEIP from the socket when unset")
t.is_(rl(cf), "+OK %d\r\n" % c.getsockname()[1], "TCPREMOTEPORT is the client's port")
t.is_(rl(cf), "+OK %d\r\n" % lsock.getsockname()[1], "TCPLOCALPORT is ours")
rl(cf)
c.close()
lsock.close()
try:
    p.wait(timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
t.is_(p.returncode, 0, "session ends with the program's status")

# 20 sessions at once, each through STARTTLS, none sees another's data
import threading  # noqa: E402

results = []


def one(i):
    try:
        so, fo = plain_connect()
        rl(fo)
        so.sendall(b"STARTTLS\r\n")
        rl(fo)
        tso = ctx.wrap_socket(so, server_hostname="mx.example.org")
        tfo = tso.makefile("rb")
        good = True
        for k in range(20):
            msg = "session %d line %d" % (i, k)
            tso.sendall(msg.encode() + b"\r\n")
            good = good and rl(tfo) == "+OK echo: " + msg + "\r\n"
        tso.sendall(b"QUIT\r\n")
        rl(tfo)
        tso.close()
        results.append(good)
    except Exception as e:  # noqa: BLE001
        results.append(False)
        t.diag("session %d: %r" % (i, e))


threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
for th in threads:
    th.start()
for th in threads:
    th.join(60)
t.is_(results.count(True), 20, "20 concurrent STARTTLS sessions, each with its own data")
