#!/usr/bin/env python3
"""facteur-tlsd's ends of a session, driven on a socketpair so the engine's
own exit status and timing are seen: the client half-closes (the program
gets EOF, its output still arrives), the client resets mid-transfer, stops
reading, or goes silent (idle timeout) -- in each case the engine and the
program finish promptly and the program's status is passed on."""
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
for p in (ECHO, TLSD, ft.bin_path("facteur-setup")):
    if not os.access(p, os.X_OK):
        t.skip_all("not built: " + p)

base = ft.tempdir()
os.chmod(base, 0o755)
home = ft.make_instance(home=os.path.join(base, "home"))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def engine(args, **extra):
    """the engine on one end of a socketpair; returns (process, our end)"""
    ours, theirs = socket.socketpair()
    e = ft.env_for(home, **extra)
    e.pop("FACTEUR_TLSCTL", None)
    e.pop("FACTEUR_TLS", None)
    p = subprocess.Popen([TLSD] + args + [ECHO], stdin=theirs, stdout=theirs,
                         stderr=subprocess.PIPE, env=e)
    theirs.close()
    ours.settimeout(20)
    return p, ours


def finish(p, limit):
    t0 = time.time()
    try:
        p.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None, time.time() - t0, p.stderr.read()
    return p.returncode, time.time() - t0, p.stderr.read()


# plaintext: the client half-closes after a request; the answer still comes
p, s = engine([])
f = s.makefile("rb")
f.readline()
s.sendall(b"BIG 200000\r\n")
s.shutdown(socket.SHUT_WR)
big = f.readline()
t.is_(len(big), 200002, "after the client's half-close the program's answer still arrives whole")
t.is_(f.readline(), b"", "then EOF")
rc, took, err = finish(p, 20)
t.is_(rc, 3, "program saw EOF (exit 3), status passed on")
s.close()

# TLS: the client resets in the middle of a large answer
p, s = engine(["-t"])
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
ts.recv(100)
ts.sendall(b"BIG 16000000\r\n")
ts.recv(10000)
s.close()
ts.close()
rc, took, err = finish(p, 20)
t.is_(rc, 3, "client gone mid-transfer: program gets EOF and ends (exit 3)")
t.ok(took < 15, "promptly (%.1f s)" % took)

# TLS: the client stops reading; FACTEUR_TLS_WRITE_TIMEOUT=1
p, s = engine(["-t"], FACTEUR_TLS_WRITE_TIMEOUT=1)
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
ts.recv(100)
ts.sendall(b"BIG 16000000\r\n")
rc, took, err = finish(p, 25)
t.is_(rc, 3, "client that never reads: engine gives up, program gets EOF")
t.ok(b"timeout writing to the client" in err, "and the engine says why")
ts.close()

# TLS: the client is silent after the handshake; FACTEUR_TLS_IDLE_TIMEOUT=1
p, s = engine(["-t"], FACTEUR_TLS_IDLE_TIMEOUT=1)
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
ts.recv(100)
rc, took, err = finish(p, 25)
t.ok(rc is not None and took < 20, "idle client: engine ends the session (%.1f s)" % took)
t.ok(b"idle timeout" in err, "logged as an idle timeout")
try:
    rest = ts.recv(100)
except (ssl.SSLError, OSError):
    rest = b""
t.is_(rest, b"", "client sees the end of the connection")
ts.close()

# TLS: handshake never comes; FACTEUR_TLS_HANDSHAKE_TIMEOUT=1
p, s = engine(["-t"], FACTEUR_TLS_HANDSHAKE_TIMEOUT=1)
rc, took, err = finish(p, 25)
t.ok(rc is not None and took < 20, "silent client with -t: cut off (%.1f s)" % took)
t.ok(b"TLS handshake failed: timeout" in err, "logged as a handshake timeout")
s.close()

# the program exits on its own in TLS mode: close_notify, then EOF
p, s = engine(["-t"])
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
ts.recv(100)
ts.sendall(b"EXIT 9\r\n")
try:
    rest = ts.recv(100)
    clean = rest == b""
except ssl.SSLError:
    clean = False
t.ok(clean, "program exit: clean TLS close")
rc, took, err = finish(p, 20)
t.is_(rc, 9, "program's status 9 passed on")
ts.close()

# hostile bytes where a ClientHello should be: random blobs, truncated and
# oversized records; each session must end quickly, the program with EOF
import random  # noqa: E402

rnd = random.Random(4)
blobs = [bytes(rnd.getrandbits(8) for _ in range(rnd.choice((1, 5, 100, 3000, 70000)))) for _ in range(8)]
blobs += [b"\x16\x03\x01\xff\xff" + b"A" * 70000,          # record longer than allowed
          b"\x16\x03\x01\x00\x30" + b"\x01" * 10,           # truncated record
          b"\x16\x03\x03\x00\x04\x01\x00\x00\x00",          # empty ClientHello
          b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]
bad = 0
for i, blob in enumerate(blobs):
    p, s = engine(["-t"], FACTEUR_TLS_HANDSHAKE_TIMEOUT=2)
    try:
        s.sendall(blob)
    except OSError:
        pass
    rc, took, err = finish(p, 20)
    s.close()
    # 141: the program's greeting met a closed pipe (SIGPIPE), also an end
    if rc not in (3, 141) or b"AddressSanitizer" in err or b"runtime error" in err:
        bad += 1
        t.diag("blob %d (%d bytes): rc=%r %r" % (i, len(blob), rc, err[-300:]))
t.is_(bad, 0, "%d hostile handshakes: each ends, and so does the program" % len(blobs))

# a program that writes garbage on the control channel: the engine ends
for mode, args in (("plaintext", []), ("TLS", ["-t"])):
    p, s = engine(args)
    if args:
        c = ctx.wrap_socket(s, server_hostname="mx.example.org")
    else:
        c = s
    c.recv(100)
    c.sendall(b"CTL X\r\n")
    rc, took, err = finish(p, 20)
    t.ok(rc is not None and b"control protocol violated" in err,
         "%s: a stray control byte ends the session (%.1f s)" % (mode, took))
    c.close()
