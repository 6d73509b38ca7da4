#!/usr/bin/env python3
"""facteur-tlsd certificates: SNI picks control/tls/DOMAIN/cert.pem, unknown
or missing names get the default; a certificate replaced on disk is served
from the next connection on; a broken pair is refused, not half-used."""
import atexit
import os
import shutil
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
if not shutil.which("openssl"):
    t.skip_all("no openssl command")

base = ft.tempdir()
os.chmod(base, 0o755)
home = ft.make_instance(home=os.path.join(base, "home"))
tlsdir = os.path.join(home, "control", "tls")
log = os.path.join(base, "log")


def readlog(path):
    with open(path, "rb") as fh:
        return fh.read()


def make_pair(dirname, cn, keytype="ec"):
    """a self-signed certificate and key in dirname, written by rename"""
    os.makedirs(dirname, exist_ok=True)
    ktmp = os.path.join(base, "k.tmp")
    ctmp = os.path.join(base, "c.tmp")
    kopt = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if keytype == "ec" \
        else ["-newkey", "rsa:2048"]
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
                    "-keyout", ktmp, "-out", ctmp] + kopt,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    os.chmod(ktmp, 0o600)
    os.rename(ktmp, os.path.join(dirname, "key.pem"))
    os.rename(ctmp, os.path.join(dirname, "cert.pem"))
    return der_of(os.path.join(dirname, "cert.pem"))


def der_of(path):
    with open(path) as fh:
        pem = fh.read()
    first = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return ssl.PEM_cert_to_DER_cert(first)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

default_der = der_of(os.path.join(tlsdir, "cert.pem"))
other_der = make_pair(os.path.join(tlsdir, "other.example"), "other.example")
rsa_der = make_pair(os.path.join(tlsdir, "rsa.example"), "rsa.example", keytype="rsa")
srv, port = ft.tcpserver([TLSD, "-t", ECHO], home, env=ft.env_for(home), log=log)


def served(sni, c=ctx):
    s = c.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname=sni)
    der = s.getpeercert(binary_form=True)
    f = s.makefile("rb")
    greet = f.readline()
    s.close()
    return der, greet


der, greet = served("other.example")
t.is_(greet, b"+OK echo ready tls=1\r\n", "session with SNI other.example")
t.ok(der == other_der, "SNI other.example gets control/tls/other.example/cert.pem")
t.ok(served("OTHER.Example.")[0] == other_der, "SNI matched without case and trailing dot")
t.ok(served("rsa.example")[0] == rsa_der, "a second domain, with an RSA key")
t.ok(served("unknown.example")[0] == default_der, "unknown SNI name gets the default certificate")
t.ok(served(None)[0] == default_der, "no SNI gets the default certificate")
t.ok(served("mx.example.org")[0] != other_der, "(the default is not the per-domain one)")
c12 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
c12.check_hostname = False
c12.verify_mode = ssl.CERT_NONE
c12.maximum_version = ssl.TLSVersion.TLSv1_2
t.ok(served("other.example", c12)[0] == other_der, "SNI works with TLS 1.2 too")
t.ok(ft.wait_for(lambda: b"sni=other.example" in readlog(log), 5), "engine logs the SNI name it served")

# a connection open across a certificate change keeps working
keep = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="x")
kf = keep.makefile("rb")
kf.readline()
new_default = make_pair(tlsdir, "renewed.example.org")
t.ok(new_default != default_der, "certificate replaced on disk")
t.ok(served(None)[0] == new_default, "next connection serves the new certificate, no restart")
t.ok(served("other.example")[0] == other_der, "per-domain certificate unchanged")
keep.sendall(b"still\r\n")
t.is_(kf.readline(), b"+OK echo: still\r\n", "the connection opened before the change still works")
keep.close()

# with verification against the certificate itself: the chain loads right
vctx = ssl.create_default_context(cafile=os.path.join(tlsdir, "other.example", "cert.pem"))
ok = True
try:
    served("other.example", vctx)
except ssl.SSLError as e:
    ok = False
    t.diag(repr(e))
t.ok(ok, "client verifying other.example's certificate and name succeeds")

# a key that does not match its certificate: refused, loudly
shutil.copy(os.path.join(tlsdir, "rsa.example", "key.pem"), os.path.join(base, "rsa-key"))
shutil.copy(os.path.join(tlsdir, "key.pem"), os.path.join(tlsdir, "rsa.example", "key.pem"))
failed = False
try:
    served("rsa.example")
except (ssl.SSLError, OSError):
    failed = True
t.ok(failed, "mismatched per-domain key: no TLS rather than a wrong pair")
t.ok(ft.wait_for(lambda: b"unable to load" in readlog(log), 5), "and the log says which file")

# STARTTLS mode parses the certificates only when a client asks for TLS:
# with a broken default pair, plaintext still works and STARTTLS fails
bad = ft.make_instance(home=os.path.join(base, "bad"))
badtls = os.path.join(bad, "control", "tls")
shutil.copy(os.path.join(tlsdir, "other.example", "key.pem"), os.path.join(badtls, "key.pem"))
log3 = os.path.join(base, "log3")
srv3, port3 = ft.tcpserver([TLSD, ECHO], bad, env=ft.env_for(bad), log=log3)
s = socket.create_connection(("127.0.0.1", port3), timeout=10)
f = s.makefile("rb")
f.readline()
s.sendall(b"plain\r\n")
t.is_(f.readline(), b"+OK echo: plain\r\n", "broken certificate: plaintext session unaffected")
s.sendall(b"STARTTLS\r\n")
t.is_(f.readline(), b"+OK begin TLS\r\n", "STARTTLS asked")
failed = False
try:
    ctx.wrap_socket(s, server_hostname="mx.example.org")
except (ssl.SSLError, OSError):
    failed = True
t.ok(failed, "then the handshake cannot happen and the connection ends")
s.close()
ft.wait_for(lambda: b"unable to load the certificate" in readlog(log3), 5)
l3 = readlog(log3)
t.ok(b"unable to load the certificate" in l3 and b"key.pem" in l3, "engine logs which file is wrong")
