#!/usr/bin/env python3
"""facteur-tlsd's direct mode (STARTTLS sessions, no -t): the protocol
program has the client's TCP socket itself on fd 0/1 until STARTTLS, the
engine reads no client byte meanwhile; at STARTTLS the program gets the
engine's pipes (SCM_RIGHTS) and the engine does the handshake on the
socket. Checked over loopback through tcpserver: the descriptors before
and after, a real SMTP session with smtplib and swaks --tls, plaintext
injected behind STARTTLS (same packet, and after the ready reply before
the ClientHello) for SMTP, POP3 and IMAP, a stray control byte, the end
of the connection with the program's, the program dying mid-hand-over,
SIGTERM to a whole session after STARTTLS, and the engine's exit status
(also when its parent ignores SIGCHLD, and on a key it cannot read).
Needs root: the engine is non-dumpable, only root reads its /proc."""
import atexit
import importlib.util
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

st = ft.data_module("smtpdt", "smtpd-tlib.py")

t = ft.TAP()
atexit.register(ft._cleanup)
ECHO = os.path.join(ft.SRC, "t", "bin", "tls-echo")
TLSD = ft.bin_path("facteur-tlsd")
for p in (ECHO, TLSD, ft.bin_path("facteur-tlsd-tls"), ft.bin_path("facteur-smtpd"),
          ft.bin_path("facteur-pop3d"), ft.bin_path("facteur-imapd"), ft.bin_path("facteur-setup")):
    if not os.access(p, os.X_OK):
        t.skip_all("not built: " + p)
if not shutil.which("tcpserver"):
    t.skip_all("tcpserver (ucspi-tcp) not installed")
if os.geteuid() != 0:
    t.skip_all("needs root: the engine is non-dumpable, so only root reads its /proc entries")

home, q = st.instance()
base = os.path.dirname(home)
KEY = os.path.join(home, "control", "tls", "key.pem")
if not os.path.exists(KEY):
    t.skip_all("facteur-setup made no certificate")
TLSUID = pwd.getpwnam("facteur-tls").pw_uid
env = ft.env_for(home, FACTEUR_QUEUE=st.FAKEQ, FAKEQ_DIR=q, RELAYCLIENT=None,
                 FACTEUR_TLSCTL=None, FACTEUR_TLS=None, FACTEUR_TLSDIRECT=None, TCPREMOTEIP=None)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
echolog = os.path.join(base, "echo.log")

# the deployment forms: facteur-smtpd runs the engine itself; the others
# are put behind it on the command line
smtp, smtp_port = ft.tcpserver([ft.bin_path("facteur-smtpd")], home, env=env,
                               log=os.path.join(base, "smtpd.log"))
pop, pop_port = ft.tcpserver([TLSD, ft.bin_path("facteur-pop3d")], home, env=env,
                             log=os.path.join(base, "pop3d.log"))
imap, imap_port = ft.tcpserver([TLSD, ft.bin_path("facteur-imapd")], home, env=env,
                               log=os.path.join(base, "imapd.log"))
echo, echo_port = ft.tcpserver([TLSD, ECHO], home, env=env, log=echolog)


# --- helpers ---------------------------------------------------------------

def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def line(s):
    """one line, read byte by byte: nothing after it leaves the kernel"""
    b = b""
    while not b.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            break
        b += c
    return b


def smtp_reply(s):
    """an SMTP reply's lines, joined (raw socket, unbuffered)"""
    out = b""
    while True:
        ln = line(s)
        out += ln
        if not ln or len(ln) < 4 or ln[3:4] == b" ":
            return out


def eof_within(s, limit):
    """seconds until the peer's end of the connection (any data before it
    is read and dropped), or None when it did not come within limit"""
    t0 = time.time()
    s.settimeout(limit)
    try:
        while s.recv(65536):
            if time.time() - t0 > limit:
                return None
    except socket.timeout:
        return None
    except OSError:
        pass                       # reset: an end too
    return time.time() - t0


def proc_env(pid):
    with open("/proc/%d/environ" % pid, "rb") as fh:
        return dict(kv.split(b"=", 1) for kv in fh.read().split(b"\0") if b"=" in kv)


def session_procs(srv, s):
    """(engine, program) of the session on client socket s: tcpserver's
    child whose TCPREMOTEPORT is our port, and that child's child"""
    port = str(s.getsockname()[1]).encode()

    def find():
        for pid in ft.children(srv.pid):
            try:
                if proc_env(pid).get(b"TCPREMOTEPORT") == port:
                    kids = ft.children(pid)
                    if kids:
                        return pid, kids[0]
            except OSError:
                pass
        return None
    return ft.wait_for(find, 5) or (None, None)


def fdlink(pid, fd):
    try:
        return os.readlink("/proc/%d/fd/%d" % (pid, fd))
    except OSError:
        return ""


def fdlinks(pid):
    d = "/proc/%d/fd" % pid
    try:
        return [fdlink(pid, int(n)) for n in os.listdir(d)]
    except OSError:
        return []


def tcp_inodes():
    """inodes of the TCP sockets in /proc/net/tcp{,6}"""
    out = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                out.update("socket:[%s]" % ln.split()[9] for ln in fh)
        except OSError:
            pass
    return out


def exe(pid):
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return ""


def rchar(pid):
    with open("/proc/%d/io" % pid) as fh:
        for ln in fh:
            if ln.startswith("rchar:"):
                return int(ln.split()[1])
    return -1


def uid_of(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for ln in fh:
                if ln.startswith("Uid:"):
                    return int(ln.split()[2])
    except OSError:
        pass
    return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Tls:
    """a TLS client driven by hand over a raw socket, so that every byte
    the server sends before and during the handshake is seen"""

    def __init__(self, s):
        self.s = s
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.o = ctx.wrap_bio(self.inc, self.out, server_hostname="mx.example.org")
        self.raw = b""          # what the server sent, as it came
        self.ended = False      # the server closed or reset

    def _flush(self):
        d = self.out.read()
        if d:
            try:
                self.s.sendall(d)
            except OSError:
                self.ended = True

    def _more(self, deadline):
        self.s.settimeout(max(0.05, deadline - time.time()))
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            d = b""
        if not d:
            self.ended = True
            return False
        self.raw += d
        self.inc.write(d)
        return True

    def handshake(self, limit=10):
        """1 done, 0 failed or cut off"""
        deadline = time.time() + limit
        while True:
            try:
                self.o.do_handshake()
                self._flush()
                return 1
            except ssl.SSLWantReadError:
                self._flush()
            except ssl.SSLError:
                self._flush()
                return 0
            if not self._more(deadline):
                return 0

    def send(self, data):
        self.o.write(data)
        self._flush()

    def readline(self, limit=10):
        deadline = time.time() + limit
        buf = b""
        while not buf.endswith(b"\n"):
            try:
                buf += self.o.read(1)
                continue
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLError):
                break
            if not self._more(deadline):
                break
        return buf


def plaintext_answer(raw):
    """the server's bytes after its ready reply hold a plaintext line:
    anything but a TLS record (alert 0x15, handshake 0x16) or nothing"""
    return raw[:1] not in (b"", b"\x15", b"\x16")


# --- SMTP: fd 0 is the socket, the engine reads nothing ----------------------

st.clear(q)
s = connect(smtp_port)
t.like(smtp_reply(s), b"220 ", "SMTP greeting")
eng, prog = session_procs(smtp, s)
t.ok(eng and prog and exe(eng) == "facteur-tlsd" and exe(prog) == "facteur-smtpd",
     "facteur-smtpd ran the engine, which runs facteur-smtpd (%s, %s)" % (eng and exe(eng), prog and exe(prog)))
sock0 = fdlink(prog, 0)
t.ok(sock0.startswith("socket:") and sock0 in tcp_inodes() and fdlink(prog, 1) == sock0,
     "plaintext: facteur-smtpd's fd 0 and 1 are the TCP socket itself (%s)" % sock0)
t.is_(proc_env(prog).get(b"FACTEUR_TLSDIRECT"), b"1", "and FACTEUR_TLSDIRECT=1 tells it so")
t.ok(ft.wait_for(lambda: uid_of(eng) == TLSUID, 5), "the engine waits as facteur-tls")
big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 2100      # ~2.1 MB
r0, p0 = rchar(eng), rchar(prog)
s.sendall(b"EHLO client.example\r\n")
ehlo = smtp_reply(s)
t.ok(b"250-STARTTLS" in ehlo, "STARTTLS offered in direct mode")
s.sendall(b"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
rs = smtp_reply(s) + smtp_reply(s) + smtp_reply(s)
t.ok(rs.startswith(b"250 ") and b"\r\n354 " in rs, "MAIL, RCPT, DATA in plaintext")
s.sendall(big + b".\r\n")
t.like(smtp_reply(s), b"250 ", "a 2 MB message in plaintext: 250")
r1, p1 = rchar(eng), rchar(prog)
t.ok(p1 - p0 >= len(big), "facteur-smtpd read the message itself (rchar +%d)" % (p1 - p0))
t.ok(0 <= r1 - r0 < 65536, "the engine read next to nothing meanwhile (rchar +%d)" % (r1 - r0))
m = st.queued(q)
t.ok(len(m) == 1 and len(m[0][0]) > len(big) and b" with ESMTP " in m[0][0],
     "queued, Received says ESMTP (no TLS)")

# --- SMTP: STARTTLS, then fd 0 is a pipe; a whole message through TLS --------

s.sendall(b"STARTTLS\r\n")
t.like(smtp_reply(s), b"220 2.0.0", "STARTTLS: 220")
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
ts.settimeout(10)
tf = ts.makefile("rb")
t.ok(ts.version() in ("TLSv1.2", "TLSv1.3"), "handshake done (%s)" % ts.version())
t.ok(fdlink(prog, 0).startswith("pipe:") and fdlink(prog, 1).startswith("pipe:"),
     "after STARTTLS facteur-smtpd's fd 0 and 1 are pipes (%s, %s)" % (fdlink(prog, 0), fdlink(prog, 1)))
t.ok(sock0 not in fdlinks(prog), "and it holds the TCP socket nowhere any more")
t.ok(exe(eng) == "facteur-tlsd-tls" and fdlink(eng, 0) == sock0,
     "the engine became facteur-tlsd-tls and has the socket (%s)" % exe(eng))


def tls_reply(fh):
    out = b""
    while True:
        ln = fh.readline()
        out += ln
        if not ln or len(ln) < 4 or ln[3:4] == b" ":
            return out


ts.sendall(b"EHLO client.example\r\n")
ehlo = tls_reply(tf)
t.ok(ehlo.startswith(b"250") and b"STARTTLS" not in ehlo, "EHLO over TLS: no STARTTLS")
ts.sendall(b"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
rs = tls_reply(tf) + tls_reply(tf) + tls_reply(tf)
ts.sendall(b"Subject: over tls\r\n\r\ndirect, then TLS\r\n.\r\n")
rs += tls_reply(tf)
t.ok(rs.startswith(b"250 ") and b"\r\n354 " in rs and re.search(rb"\r\n250 [^\r]*\r\n$", rs),
     "MAIL, RCPT, DATA, message over TLS: 250")
ts.sendall(b"QUIT\r\n")
t.like(tls_reply(tf), b"221 ", "QUIT over TLS: 221")
t0 = time.time()
try:
    rest = ts.recv(100)
except (ssl.SSLError, OSError):
    rest = b""
took = time.time() - t0
t.ok(rest == b"" and took < 2, "then the end of the connection within 2 s (%.2f s)" % took)
ts.close()
m = st.queued(q)
t.ok(len(m) == 2 and re.search(rb" with ESMTPS \(TLSv1\.[23] ", m[1][0]) and b"direct, then TLS" in m[1][0],
     "the message over TLS is queued, Received says ESMTPS")

# smtplib and swaks
st.clear(q)
try:
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=20) as c:
        c.ehlo("client.example")
        c.starttls(context=ctx)
        c.ehlo("client.example")
        refused = c.sendmail("bob@remote.test", ["alice@example.org"], b"Subject: smtplib\r\n\r\nhi\r\n")
    t.is_(refused, {}, "smtplib: STARTTLS and a message accepted")
except (smtplib.SMTPException, OSError) as e:
    t.ok(False, "smtplib: STARTTLS and a message accepted (%r)" % (e,))
if shutil.which("swaks"):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(smtp_port), "--tls",
                        "--from", "bob@remote.test", "--to", "alice@example.org",
                        "--h-Subject", "swaks", "--body", "by swaks"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    t.is_(r.returncode, 0, "swaks --tls: delivered")
else:
    t.ok(True, "# SKIP swaks not installed")
m = st.queued(q)
t.ok(len(m) == (2 if shutil.which("swaks") else 1) and
     all(re.search(rb" with ESMTPS \(TLSv1\.[23] ", x[0]) for x in m),
     "both queued with ESMTPS (%d)" % len(m))

# plaintext QUIT: the connection ends with the program
s = connect(smtp_port)
smtp_reply(s)
s.sendall(b"QUIT\r\n")
t.like(smtp_reply(s), b"221 ", "plaintext QUIT: 221")
took = eof_within(s, 5)
t.ok(took is not None and took < 2, "then the end of the connection within 2 s (%s)" % took)
s.close()

# --- injection (CVE-2011-0411): SMTP, POP3, IMAP ------------------------------
# same packet: the program read the injected line already and throws it
# away; later packet: it is on the socket when the engine starts the
# handshake, and only the engine sees it. Either way no answer, in
# plaintext (nothing but TLS records after the ready reply) nor in TLS
# (the first answer there is to our probe).

PROTOS = (
    # name, port, greeting prefix, starttls, ready prefix, injected, probe, probe's first line, answered-injection marks
    ("SMTP", smtp_port, b"220 ", b"STARTTLS\r\n", b"220 2.0.0", b"RSET\r\n", b"HELP\r\n", b"214 ", (b"250 ",)),
    ("POP3", pop_port, b"+OK", b"STLS\r\n", b"+OK Begin TLS", b"QUIT\r\n", b"CAPA\r\n",
     b"+OK capability list follows", (b"+OK bye",)),
    ("IMAP", imap_port, b"* OK", b"a STARTTLS\r\n", b"a OK", b"b NOOP\r\n", b"c NOOP\r\n", b"c OK", (b"b OK", b"b NO", b"b BAD")),
)

for name, port, greet, starttls, ready, inject, probe, probe_ok, marks in PROTOS:
    for variant in ("same packet", "after the ready reply"):
        s = connect(port)
        g = line(s)
        if name == "SMTP":
            s.sendall(b"EHLO client.example\r\n")
            smtp_reply(s)
        if variant == "same packet":
            s.sendall(starttls + inject)
        else:
            s.sendall(starttls)
        r = line(s)
        ok_ready = g.startswith(greet) and r.startswith(ready)
        if variant != "same packet":
            s.sendall(inject)          # its own packet (TCP_NODELAY), before the ClientHello
            time.sleep(0.2)
        c = Tls(s)
        done = c.handshake()
        first = b""
        if done:
            c.send(probe)
            first = c.readline()
        answered = plaintext_answer(c.raw) or any(first.startswith(x) for x in marks)
        if done or variant == "same packet":
            # the same packet: the program threw the line away, so nothing
            # stands in the way of the handshake
            t.ok(ok_ready and done and not answered and first.startswith(probe_ok),
                 "%s, injection %s: handshake, and the first answer in TLS is the probe's (%r)"
                 % (name, variant, first))
        else:
            # a failed handshake is a fine end, as long as it is an end and
            # nothing was said in plaintext
            end = c.ended or eof_within(s, 5) is not None
            t.ok(ok_ready and not answered and end,
                 "%s, injection %s: no plaintext answer, the handshake fails and the connection ends (%r)"
                 % (name, variant, c.raw[:40]))
        s.close()

# --- tls-echo: stray control byte, ends of the program ------------------------

s = connect(echo_port)
t.like(line(s), b"+OK echo ready tls=0", "tls-echo greeting in direct mode")
s.sendall(b"CTL X\r\n")
took = eof_within(s, 5)
t.ok(took is not None, "a stray control byte from the program ends the connection (%s s)" % took)
s.close()
t.ok(ft.wait_for(lambda: b"control protocol violated by the program" in open(echolog, "rb").read(), 3),
     "the engine logs the violation")

s = connect(echo_port)
line(s)
eng, prog = session_procs(echo, s)
s.sendall(b"QUIT\r\n")
t.like(line(s), b"+OK bye", "tls-echo QUIT")
took = eof_within(s, 5)
t.ok(took is not None and took < 2, "the program's exit ends the connection within 2 s (%s)" % took)
t.ok(ft.wait_for(lambda: not alive(eng), 3), "and the engine is gone")
s.close()

# the program killed: the engine must let go of the socket at once
s = connect(echo_port)
line(s)
eng, prog = session_procs(echo, s)
ft.wait_for(lambda: uid_of(eng) == TLSUID, 5)
os.kill(prog, signal.SIGKILL)
took = eof_within(s, 5)
t.ok(took is not None and took < 2, "program killed in plaintext: the client sees the end within 2 s (%s)" % took)
s.close()


# --- on a socketpair: exit status, the hand-over interrupted -----------------

def engine(args=(), preexec=None, **extra):
    ours, theirs = socket.socketpair()
    e = dict(env)
    e.update({k: str(v) for k, v in extra.items()})
    p = subprocess.Popen([TLSD] + list(args) + [ECHO], stdin=theirs, stdout=theirs,
                         stderr=subprocess.PIPE, env=e, preexec_fn=preexec)
    theirs.close()
    ours.settimeout(10)
    return p, ours


errs = []


def status(p, limit=10):
    try:
        p.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    err = p.stderr.read()
    errs.append(err)
    return p.returncode if p.returncode is not None and p.returncode >= 0 else None, err


p, s = engine()
line(s)
s.sendall(b"EXIT 7\r\n")
t.is_(status(p)[0], 7, "direct mode: the engine's exit status is the program's (7)")
s.close()

p, s = engine()
line(s)
s.sendall(b"STARTTLS\r\n")
line(s)
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
ts.sendall(b"EXIT 9\r\n")
t.is_(status(p)[0], 9, "after STARTTLS: the engine's exit status is the program's (9)")
ts.close()

p, s = engine(preexec=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
line(s)
s.sendall(b"EXIT 7\r\n")
t.is_(status(p)[0], 7, "started with SIGCHLD ignored: still the program's status (7), not EX_OSERR")
s.close()

# the program dies after its 'Y', before it has its pipes: the engine is
# stopped so that the program waits in the hand-over when it is killed
p, s = engine()
line(s)
s.sendall(b"WHOAMI\r\n")
pid = int(line(s).split(b"pid=")[1])
ft.wait_for(lambda: uid_of(p.pid) == TLSUID, 5)
os.kill(p.pid, signal.SIGSTOP)
s.sendall(b"STARTTLS\r\n")
t.like(line(s), b"+OK begin TLS", "STARTTLS with the engine stopped")
time.sleep(0.3)
os.kill(pid, signal.SIGKILL)
# dead (a zombie: its parent, the engine, is stopped) before the engine
# goes on, so that it finds the program gone in the hand-over
ft.wait_for(lambda: not alive(pid), 5)
os.kill(p.pid, signal.SIGCONT)
rc, err = status(p, 5)
t.is_(rc, 128 + 9, "program killed in the middle of the hand-over: the engine ends with its status")
took = eof_within(s, 2)
t.ok(took is not None, "and the client sees the end")
s.close()

# the program dies holding its pipes, the handshake not yet done: the
# handshake's end finds it gone and ends the session
p, s = engine()
line(s)
s.sendall(b"WHOAMI\r\n")
pid = int(line(s).split(b"pid=")[1])
s.sendall(b"STARTTLS\r\n")
line(s)
t.ok(ft.wait_for(lambda: fdlink(pid, 0).startswith("pipe:"), 5), "the program took its pipes")
os.kill(pid, signal.SIGKILL)
c = Tls(s)
c.handshake()
rest = c.readline(5)
rc, err = status(p, 10)
t.ok(rc == 128 + 9 and rest == b"", "program killed after taking its pipes: no data, the engine ends (%r)" % rc)
s.close()

# a key the engine cannot read: fatal, and the session ends even though
# the program already runs on the socket
os.rename(KEY, KEY + ".off")
try:
    p, s = engine()
    try:
        s.sendall(b"ping\r\n")
    except OSError:
        pass
    took = eof_within(s, 5)
    rc, err = status(p, 5)
finally:
    os.rename(KEY + ".off", KEY)
t.ok(took is not None and rc == 78 and b"fatal" in err,
     "no readable key: EX_CONFIG and the connection ends (%r %r)" % (rc, err[-120:]))
s.close()

# --- SIGTERM to the whole session after STARTTLS: 421 through TLS -----------

s = connect(smtp_port)
smtp_reply(s)
eng, prog = session_procs(smtp, s)
s.sendall(b"EHLO client.example\r\n")
smtp_reply(s)
s.sendall(b"STARTTLS\r\n")
smtp_reply(s)
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
ts.settimeout(10)
tf = ts.makefile("rb")
ts.sendall(b"NOOP\r\n")
tls_reply(tf)
for pid in (eng, prog):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
t.like(tls_reply(tf), b"421 4.3.2", "SIGTERM to engine and smtpd after STARTTLS: 421 4.3.2 through TLS")
ts.close()
t.ok(ft.wait_for(lambda: not alive(eng) and not alive(prog), 5), "and both are gone")

for srv in (smtp, pop, imap, echo):
    srv.stop()
for lg in ("smtpd.log", "pop3d.log", "imapd.log", "echo.log"):
    with open(os.path.join(base, lg), "rb") as fh:
        errs.append(fh.read())
text = b"".join(errs)
t.ok(b"AddressSanitizer" not in text and b"runtime error" not in text and b"LeakSanitizer" not in text,
     "no sanitizer report from any engine or program")
