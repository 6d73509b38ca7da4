#!/usr/bin/env python3
"""facteur-smtpd with the TLS engine: STARTTLS (RFC 3207) with smtplib and
swaks, state reset after the handshake, the command-injection test
(CVE-2011-0411), implicit TLS with -t, and authenticated submission over
TLS saying ESMTPSA."""
import importlib.util
import os
import re
import shutil
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
for prog in ("facteur-smtpd", "facteur-tlsd"):
    if not os.path.exists(ft.bin_path(prog)):
        t.skip_all("bin/%s not built" % prog)
if not shutil.which("tcpserver"):
    t.skip_all("tcpserver (ucspi-tcp) not installed")
home, q = st.instance()
if not os.path.exists(os.path.join(home, "control", "tls", "cert.pem")):
    t.skip_all("facteur-setup made no certificate")
log = os.path.join(os.path.dirname(home), "smtpd.log")
env = ft.env_for(home, FACTEUR_QUEUE=st.FAKEQ, FAKEQ_DIR=q, RELAYCLIENT=None,
                 FACTEUR_TLSCTL=None, FACTEUR_TLS=None)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

# no engine: STARTTLS not offered, and refused
rc, out, err = st.session(home, q, "EHLO c\r\nSTARTTLS\r\nQUIT\r\n")
t.ok(b"STARTTLS" not in out.split(b"\r\n454")[0] and st.replies(out)[2].startswith("454 4.7.0"),
     "without an engine: no STARTTLS, 454 4.7.0")

srv, port = ft.tcpserver([ft.bin_path("facteur-smtpd")], home, env=env, log=log)

# --- smtplib STARTTLS ---
st.clear(q)
with smtplib.SMTP("127.0.0.1", port, timeout=20) as c:
    c.ehlo("client.example")
    t.ok(c.has_extn("starttls"), "STARTTLS advertised with a certificate")
    code, msg = c.starttls(context=ctx)
    t.is_(code, 220, "STARTTLS: 220")
    t.ok(c.sock.version() in ("TLSv1.2", "TLSv1.3"), "TLS 1.2 or 1.3 (%s)" % c.sock.version())
    c.ehlo("client.example")
    t.ok(not c.has_extn("starttls"), "EHLO after TLS: no STARTTLS")
    t.ok(c.has_extn("auth"), "EHLO after TLS: AUTH")
    code, msg = c.docmd("STARTTLS")
    t.is_(code, 503, "STARTTLS twice: 503")
    refused = c.sendmail("bob@remote.test", ["alice@example.org"], b"Subject: tls\r\n\r\nover TLS\r\n")
    t.is_(refused, {}, "message over STARTTLS accepted")
m = st.queued(q)
t.ok(len(m) == 1 and re.search(rb" with ESMTPS \(TLSv1\.[23] [A-Z0-9_-]+\) id ", m[0][0]),
     "Received says ESMTPS, with protocol and cipher")

# --- state reset after STARTTLS, and injection ---
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")


def read_reply(fh):
    lines = []
    while True:
        line = fh.readline()
        if not line:
            return lines
        lines.append(line)
        if len(line) < 4 or line[3:4] == b" ":
            return lines


read_reply(f)
s.sendall(b"EHLO x\r\n")
read_reply(f)
# EHLO and MAIL ride in the same packet as STARTTLS: were they run after
# the handshake, the RCPT below would be answered 250, or a 250 would come
# first
s.sendall(b"STARTTLS\r\nEHLO evil\r\nMAIL FROM:<injected@remote.test>\r\n")
r = read_reply(f)
t.ok(r and r[0].startswith(b"220 2.0.0"), "STARTTLS with commands behind it: 220")
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
tf = ts.makefile("rb")
ts.sendall(b"RCPT TO:<alice@example.org>\r\n")
r = read_reply(tf)
t.ok(r and r[0].startswith(b"503 5.5.1"), "injected EHLO/MAIL discarded: first reply is RCPT's 503")
ts.sendall(b"MAIL FROM:<after@remote.test>\r\n")
r = read_reply(tf)
t.ok(r and r[0].startswith(b"503 5.5.1"), "after TLS: MAIL needs EHLO again (state reset)")
ts.sendall(b"EHLO x\r\nRCPT TO:<alice@example.org>\r\n")
r1 = read_reply(tf)
r2 = read_reply(tf)
t.ok(r1 and r1[0].startswith(b"250") and r2 and r2[0].startswith(b"503 5.5.1"),
     "EHLO again, still no MAIL")
ts.sendall(b"QUIT\r\n")
r = read_reply(tf)
t.ok(r and r[0].startswith(b"221"), "QUIT over TLS")
ts.close()

# --- swaks with STARTTLS and AUTH on a submission server ---
srv2, port2 = ft.tcpserver([ft.bin_path("facteur-smtpd"), "-s"], home, env=env, log=log)
st.clear(q)
if shutil.which("swaks"):
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port2), "--tls",
                        "--auth", "PLAIN", "--auth-user", "alice@example.org", "--auth-password", "alice-secret",
                        "--from", "alice@example.org", "--to", "friend@remote.test", "--h-Subject", "submitted"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    t.is_(p.returncode, 0, "swaks --tls --auth on -s: relayed")
    m = st.queued(q)
    t.ok(len(m) == 1 and b" with ESMTPSA (" in m[0][0] and m[0][1].endswith(b"Tfriend@remote.test\0\0"),
         "Received says ESMTPSA, envelope to the remote friend")
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port2), "--tls",
                        "--from", "alice@example.org", "--to", "friend@remote.test", "--quit-after", "MAIL"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    t.ok(b"530 5.7.0" in p.stdout, "-s without AUTH: 530 5.7.0")
else:
    for i in range(3):
        t.ok(True, "# SKIP swaks not installed")
if shutil.which("openssl"):
    p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % port,
                        "-quiet"], input=b"EHLO openssl\r\nQUIT\r\n", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    t.ok(b"250-AUTH PLAIN LOGIN" in p.stdout and b"221 2.0.0" in p.stdout, "openssl s_client -starttls smtp")
else:
    t.ok(True, "# SKIP openssl not installed")

# --- implicit TLS: -t and -t -s ---
srv3, port3 = ft.tcpserver([ft.bin_path("facteur-smtpd"), "-t", "-s"], home, env=env, log=log)
st.clear(q)
with smtplib.SMTP_SSL("127.0.0.1", port3, timeout=20, context=ctx) as c:
    c.ehlo("client.example")
    t.ok(not c.has_extn("starttls") and c.has_extn("auth"), "implicit TLS: AUTH, no STARTTLS")
    code, msg = c.login("alice@example.org", "alice-secret")
    t.is_(code, 235, "AUTH over implicit TLS")
    refused = c.sendmail("alice@example.org", ["friend@remote.test"], b"Subject: 465\r\n\r\nimplicit\r\n")
    t.is_(refused, {}, "submission over implicit TLS relays")
m = st.queued(q)
t.ok(len(m) == 1 and re.search(rb" with ESMTPSA \(TLSv1\.[23] [A-Z0-9_-]+\) id ", m[0][0]),
     "implicit TLS + AUTH: ESMTPSA, with protocol and cipher")
s = socket.create_connection(("127.0.0.1", port3), timeout=10)
s.sendall(b"EHLO plain\r\n")
s.settimeout(10)
try:
    data = s.recv(4096)
except OSError:
    data = b""
s.close()
t.ok(not data.startswith(b"220"), "-t does not speak plaintext SMTP")
for p in (srv, srv2, srv3):
    p.stop()
with open(log, "rb") as fh:
    text = fh.read()
t.ok(b"starttls ip=127.0.0.1 TLSv1" in text, "STARTTLS logged with protocol and cipher")
t.ok(b"alice-secret" not in text, "no password in the log")
