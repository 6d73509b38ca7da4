#!/usr/bin/env python3
"""facteur-tlsd in front of the real protocol programs, with real clients:
IMAP STARTTLS (imaplib, openssl s_client -starttls imap) and a command
pipelined behind it (CVE-2011-0411); implicit TLS for IMAP, POP3 and
SMTP (imaplib.IMAP4_SSL, poplib.POP3_SSL, smtplib.SMTP_SSL, swaks --tlsc)
with the programs running the engine themselves (-t)."""
import atexit
import imaplib
import os
import poplib
import shutil
import smtplib
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
for p in ("facteur-tlsd", "facteur-imapd", "facteur-pop3d", "facteur-smtpd",
          "facteur-checkpassword", "facteur-queue", "facteur-setup", "facteur-users"):
    if not os.access(ft.bin_path(p), os.X_OK):
        t.skip_all(p + " not built")
if not shutil.which("tcpserver"):
    t.skip_all("tcpserver not installed")

base = ft.tempdir()
os.chmod(base, 0o755)
home = ft.make_instance(home=os.path.join(base, "home"),
                        users=(("alice@example.org", "alice-secret"),))
if not os.path.exists(os.path.join(home, "control", "tls", "cert.pem")):
    t.skip_all("facteur-setup made no certificate")
env = ft.env_for(home)
env.pop("FACTEUR_TLSCTL", None)
env.pop("FACTEUR_TLS", None)
log = os.path.join(base, "log")
B = ft.bin_path
imap_srv, imap_port = ft.tcpserver([B("facteur-tlsd"), B("facteur-imapd")], home, env=env, log=log)
imaps_srv, imaps_port = ft.tcpserver([B("facteur-imapd"), "-t"], home, env=env, log=log)
pop3s_srv, pop3s_port = ft.tcpserver([B("facteur-pop3d"), "-t"], home, env=env, log=log)
smtps_srv, smtps_port = ft.tcpserver([B("facteur-smtpd"), "-t"], home, env=env, log=log)
smtp_srv, smtp_port = ft.tcpserver([B("facteur-tlsd"), B("facteur-smtpd")], home, env=env, log=log)
pop3_srv, pop3_port = ft.tcpserver([B("facteur-tlsd"), B("facteur-pop3d")], home, env=env, log=log)

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
USER, PASS = "alice@example.org", "alice-secret"

# --- IMAP STARTTLS with imaplib ---
try:
    m = imaplib.IMAP4("127.0.0.1", imap_port, timeout=20)
    t.ok("STARTTLS" in m.capabilities, "IMAP CAPABILITY offers STARTTLS through the engine")
    typ, _ = m.starttls(ssl_context=ctx)
    t.is_(typ, "OK", "imaplib starttls")
    t.ok("STARTTLS" not in m.capabilities, "CAPABILITY after STARTTLS no longer offers it")
    t.is_(m.login(USER, PASS)[0], "OK", "LOGIN over TLS")
    t.is_(m.select("INBOX")[0], "OK", "SELECT INBOX over TLS")
    m.logout()
except (imaplib.IMAP4.error, OSError, ssl.SSLError) as e:
    t.ok(False, "IMAP STARTTLS session: %r" % e)

# --- IMAP: a command pipelined behind STARTTLS must not run ---
s = socket.create_connection(("127.0.0.1", imap_port), timeout=20)
f = s.makefile("rb")
f.readline()
s.sendall(b"a STARTTLS\r\nb LOGIN alice@example.org alice-secret\r\n")
r = f.readline()
t.like(r, b"a OK", "STARTTLS answered with b pipelined")
ts = ctx.wrap_socket(s, server_hostname="mx.example.org")
tf = ts.makefile("rb")
ts.sendall(b"c NOOP\r\n")
seen = []
for _ in range(20):
    ln = tf.readline()
    if not ln:
        break
    seen.append(ln)
    if ln.startswith(b"c "):
        break
t.ok(seen and seen[-1].startswith(b"c OK"), "first command through TLS answered")
t.ok(not any(x.startswith(b"b ") for x in seen), "the pipelined LOGIN never ran")
ts.sendall(b"d SELECT INBOX\r\n")
resp = b""
for _ in range(20):
    ln = tf.readline()
    if not ln or ln.startswith(b"d "):
        resp = ln
        break
t.ok(resp.startswith(b"d ") and not resp.startswith(b"d OK"),
     "still not logged in after the handshake (SELECT refused): %r" % resp.strip())
ts.sendall(b"e LOGIN alice@example.org alice-secret\r\nf SELECT INBOX\r\n")
resp = b""
for _ in range(40):
    ln = tf.readline()
    if not ln or ln.startswith(b"f "):
        resp = ln
        break
t.like(resp, b"f OK", "(the same SELECT works after a LOGIN through TLS)")
ts.close()

# --- openssl s_client -starttls imap ---
p = subprocess.run(["openssl", "s_client", "-quiet", "-starttls", "imap", "-connect",
                    "127.0.0.1:%d" % imap_port],
                   input=b"a LOGIN alice@example.org alice-secret\r\nb LOGOUT\r\n",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
t.ok(b"a OK" in p.stdout and b"b OK" in p.stdout, "openssl s_client -starttls imap: LOGIN, LOGOUT")

# --- openssl s_client -starttls smtp and pop3, swaks --tls ---
p = subprocess.run(["openssl", "s_client", "-quiet", "-starttls", "smtp", "-connect",
                    "127.0.0.1:%d" % smtp_port],
                   input=b"EHLO client.example\r\nQUIT\r\n",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
t.ok(b"250" in p.stdout and b"221" in p.stdout and b"STARTTLS" not in p.stdout,
     "openssl s_client -starttls smtp: EHLO after TLS, no STARTTLS offered again")
p = subprocess.run(["openssl", "s_client", "-quiet", "-starttls", "pop3", "-connect",
                    "127.0.0.1:%d" % pop3_port],
                   input=b"USER alice@example.org\r\nPASS alice-secret\r\nSTAT\r\nQUIT\r\n",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
t.ok(b"+OK 0 0" in p.stdout, "openssl s_client -starttls pop3: login and STAT")
if shutil.which("swaks"):
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(smtp_port), "--tls",
                        "--to", USER, "--from", "bob@remote.example", "--helo", "client.example",
                        "--timeout", "20"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    t.is_(p.returncode, 0, "swaks --tls (STARTTLS): message accepted")
else:
    t.ok(True, "# SKIP swaks not installed")

# --- implicit TLS: IMAPS, POP3S, SMTPS, each program running the engine itself ---
try:
    m = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=ctx, timeout=20)
    t.ok("STARTTLS" not in m.capabilities, "IMAPS: no STARTTLS offered")
    t.is_(m.login(USER, PASS)[0], "OK", "imaplib.IMAP4_SSL login")
    m.logout()
except (imaplib.IMAP4.error, OSError, ssl.SSLError) as e:
    t.ok(False, "IMAPS session: %r" % e)

try:
    p3 = poplib.POP3_SSL("127.0.0.1", pop3s_port, context=ctx, timeout=20)
    p3.user(USER)
    p3.pass_(PASS)
    t.is_(p3.stat()[0], 0, "poplib.POP3_SSL login and STAT")
    p3.quit()
except (poplib.error_proto, OSError, ssl.SSLError) as e:
    t.ok(False, "POP3S session: %r" % e)

try:
    sm = smtplib.SMTP_SSL("127.0.0.1", smtps_port, context=ctx, timeout=20)
    code, _ = sm.ehlo("client.example")
    t.is_(code, 250, "smtplib.SMTP_SSL EHLO")
    t.ok(not sm.has_extn("starttls"), "SMTPS: no STARTTLS offered")
    sm.quit()
except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
    t.ok(False, "SMTPS session: %r" % e)

if shutil.which("swaks"):
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(smtps_port), "--tlsc",
                        "--to", USER, "--from", "bob@remote.example", "--helo", "client.example",
                        "--timeout", "20"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    out = p.stdout.decode("latin-1")
    t.is_(p.returncode, 0, "swaks --tlsc: message accepted over implicit TLS")
    t.ok("TLS started" in out or "TLSv1" in out, "swaks saw TLS")
else:
    t.ok(True, "# SKIP swaks not installed")
    t.ok(True, "# SKIP swaks not installed")

time.sleep(0.3)
with open(log, "rb") as fh:
    lt = fh.read()
t.ok(lt.count(b"facteur-tlsd: 127.0.0.1 TLSv1") >= 9, "engine logged each handshake")
t.ok(b"fatal" not in lt, "no fatal error in any program's log")
