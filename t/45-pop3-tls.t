#!/usr/bin/env python3
# POP3 over TLS with facteur-tlsd: STLS (RFC 2595) with poplib, CAPA
# before and after, a command pipelined behind STLS that must not run
# (CVE-2011-0411), implicit TLS with -t (port 995 style), and
# `openssl s_client -starttls pop3`.
import importlib.util
import os
import poplib
import shutil
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
pt = ft.data_module("pt", "pop3-tlib.py")

t = ft.TAP()
for p in ("facteur-pop3d", "facteur-checkpassword", "facteur-setup", "facteur-users", "facteur-tlsd"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")
if not shutil.which("tcpserver"):
    t.skip_all("tcpserver not installed")

home = pt.instance()
if not os.path.exists(os.path.join(home, "control", "tls", "cert.pem")):
    t.skip_all("facteur-setup made no certificate")
md = pt.maildir(home)
m1 = open(os.path.join(D, "pop3-msg1.eml"), "rb").read()
pt.put(md, "1700000001.M1P1.host", m1, mtime=1700000001)
work = os.path.dirname(home)
e = pt.env(home)
srv, port = ft.tcpserver([ft.bin_path("facteur-tlsd"), ft.bin_path("facteur-pop3d")], home, env=e,
                         log=os.path.join(work, "stls.log"))
srv2, port2 = ft.tcpserver([ft.bin_path("facteur-pop3d"), "-t"], home, env=e,
                           log=os.path.join(work, "pop3s.log"))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

p = poplib.POP3("127.0.0.1", port, timeout=20)
caps = p.capa()
t.ok("STLS" in caps, "CAPA offers STLS through the TLS engine")
r = p.stls(context=ctx)
t.like(r, b"+OK", "STLS accepted")
t.ok(p.sock.version() in ("TLSv1.2", "TLSv1.3"), "TLS 1.2 or 1.3 (%s)" % p.sock.version())
caps = p.capa()
t.ok("STLS" not in caps and "USER" in caps, "CAPA after STLS: no STLS")
try:
    p._shortcmd("STLS")
    t.ok(False, "a second STLS is refused")
except poplib.error_proto as ex:
    t.like(ex.args[0], b"-ERR", "a second STLS is refused")
p.user("alice@example.org")
t.like(p.pass_("alice-secret"), b"+OK 1 messages", "login over TLS")
resp, ls, octets = p.retr(1)
t.ok(b"\r\n".join(ls) + b"\r\n" == pt.crlf(m1) and octets == len(pt.crlf(m1)), "RETR over TLS byte-exact")
t.like(p.quit(), b"+OK", "QUIT over TLS")

# STARTTLS injection: a QUIT pipelined behind STLS must be thrown away
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
greet = f.readline()
s.sendall(b"STLS\r\nQUIT\r\n")
r = f.readline()
t.like(r, b"+OK Begin TLS", "STLS reply")
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
tf = ts.makefile("rb")
ts.sendall(b"NOOP\r\nCAPA\r\n")
first = tf.readline()
t.ok(not first.startswith(b"+OK bye"), "the QUIT sent before the handshake did not run (%r)" % first)
rest = b""
end = time.time() + 10
while time.time() < end and not rest.endswith(b".\r\n"):
    line = tf.readline()
    if not line:
        break
    rest += line
t.ok(b"USER" in rest, "the session goes on after the handshake")
ts.close()

# implicit TLS: facteur-pop3d -t runs the engine itself
try:
    q = poplib.POP3_SSL("127.0.0.1", port2, context=ctx, timeout=20)
    t.like(q.getwelcome(), b"+OK", "implicit TLS greeting")
    caps = q.capa()
    t.ok("STLS" not in caps and "USER" in caps, "implicit TLS: USER offered, STLS not")
    q.user("alice@example.org")
    t.like(q.pass_("alice-secret"), b"+OK 1 messages", "login over implicit TLS")
    t.is_(q.stat()[0], 1, "STAT over implicit TLS")
    q.quit()
except (OSError, poplib.error_proto) as ex:
    t.ok(False, "implicit TLS session: %r" % (ex,))
    t.diag(open(os.path.join(work, "pop3s.log"), "rb").read().decode("latin-1")[-2000:])

# openssl s_client -starttls pop3
if shutil.which("openssl"):
    o = subprocess.run(["openssl", "s_client", "-quiet", "-starttls", "pop3", "-connect", "127.0.0.1:%d" % port],
                       input=b"USER alice@example.org\r\nPASS alice-secret\r\nSTAT\r\nQUIT\r\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    t.ok(b"+OK 1 " in o.stdout and b"+OK bye" in o.stdout, "openssl s_client -starttls pop3: login and STAT")
else:
    t.ok(True, "skip: no openssl binary")
srv.stop()
srv2.stop()
