#!/usr/bin/env python3
# IMAP with TLS through the engine facteur-tlsd: STARTTLS (and the
# CAPABILITY change it brings), a command pipelined behind STARTTLS is
# thrown away (CVE-2011-0411), implicit TLS with -t (port 993 style), and
# LOGINDISABLED lifted by TLS for a non-loopback client.
import imaplib, os, socket, ssl, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-tlsd")):
    t.skip_all("facteur-tlsd not built")
home = ft.make_instance()
if not os.path.exists(os.path.join(home, "control", "tls", "cert.pem")):
    t.skip_all("facteur-setup made no certificate")
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

p1, port1 = ft.tcpserver([ft.bin_path("facteur-tlsd"), ft.bin_path("facteur-imapd")], home)
c = imaplib.IMAP4("127.0.0.1", port1)
t.ok("STARTTLS" in c.capabilities, "STARTTLS advertised with the engine in front")
typ, data = c.starttls(ssl_context=ctx)
t.is_(typ, "OK", "STARTTLS")
typ, data = c.capability()
t.ok(b"STARTTLS" not in data[0], "CAPABILITY after TLS drops STARTTLS")
typ, data = c.login("alice@example.org", "alice-secret")
t.is_(typ, "OK", "LOGIN over TLS")
typ, data = c.select("INBOX")
t.is_(typ, "OK", "SELECT over TLS")
c.logout()

# injection: a command in the same packet as STARTTLS must not run
s = socket.create_connection(("127.0.0.1", port1), timeout=10)
f = s.makefile("rb")
f.readline()
s.sendall(b"a STARTTLS\r\nb LOGIN alice@example.org alice-secret\r\n")
t.like(f.readline(), b"a OK", "STARTTLS accepted")
ts = ctx.wrap_socket(s, server_hostname="localhost")
ts.settimeout(3)
ts.sendall(b"c NOOP\r\n")
buf = b""
end = time.time() + 5
while time.time() < end and b"c OK" not in buf:
    try:
        d = ts.recv(4096)
    except socket.timeout:
        break
    if not d:
        break
    buf += d
t.ok(b"c OK" in buf and b"b OK" not in buf and b"b NO" not in buf and b"b BAD" not in buf,
     "the pipelined LOGIN was discarded: %r" % buf)
ts.close()

# implicit TLS: facteur-imapd -t execs the engine itself
p2, port2 = ft.tcpserver([ft.bin_path("facteur-imapd"), "-t"], home)
c = imaplib.IMAP4_SSL("127.0.0.1", port2, ssl_context=ctx)
t.ok("STARTTLS" not in c.capabilities and "AUTH=PLAIN" in c.capabilities, "implicit TLS greeting")
typ, data = c.login("alice@example.org", "alice-secret")
t.is_(typ, "OK", "LOGIN over implicit TLS")
c.logout()

# a remote client: LOGINDISABLED before TLS, login allowed after
env = ft.env_for(home)
p3, port3 = ft.tcpserver(["env", "TCPREMOTEIP=192.0.2.9", ft.bin_path("facteur-tlsd"), ft.bin_path("facteur-imapd")], home, env=env)
c = imaplib.IMAP4("127.0.0.1", port3)
t.ok("LOGINDISABLED" in c.capabilities, "LOGINDISABLED for a remote client in plaintext")
try:
    c.login("alice@example.org", "alice-secret")
    t.ok(False, "plaintext LOGIN refused")
except imaplib.IMAP4.error as e:
    t.ok("PRIVACYREQUIRED" in str(e), "plaintext LOGIN refused")
c.starttls(ssl_context=ctx)
typ, data = c.login("alice@example.org", "alice-secret")
t.is_(typ, "OK", "LOGIN after STARTTLS")
c.logout()
