#!/usr/bin/env python3
"""facteur-remote's STARTTLS: opportunistic TLS and the EHLO after it,
replies injected before the handshake thrown away (CVE-2021-38371),
control/tlspolicy none|encrypt|verify (verify against a test CA given
through SSL_CERT_FILE, with the host name checked), a broken handshake
retried in plaintext under the default policy."""
import importlib.util
import os
import ssl
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

rl = ft.data_module("remotelib", "remote-lib.py")
rp = rl.load("remotepeer", "remote-peer.py")

t = rl.tap()
inst = rl.Instance()
top, home, control = inst.top, inst.home, inst.control


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=top)


# a test CA and two server certificates signed by it
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=facteur test CA")
for name in ("example.net", "other.test", "mx.example.net"):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
    with open(os.path.join(top, name + ".ext"), "w") as f:
        f.write("subjectAltName=DNS:%s\n" % name)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")
for f in os.listdir(top):
    if f.endswith(".pem"):
        os.chmod(os.path.join(top, f), 0o644)


def server_ctx(name):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(os.path.join(top, name + ".pem"), os.path.join(top, name + ".key"))
    return c


control("me", "facteur.test\n")
control("remotetimeout", "3\n")
MSG = b"Subject: tls\n\nsecret body\n"


def remote(peer, rcpts=("a@example.net",), policy=None, cafile=None, route=None):
    control("smtproutes", (route or "example.net 127.0.0.1:%d\n") % peer.port)
    control("tlspolicy", policy)
    env = ft.env_for(home, SSL_CERT_FILE=cafile or os.path.join(top, "nonexistent.pem"))
    r = inst.remote(["example.net", "s@facteur.test"] + list(rcpts), MSG, env=env)
    peer.stop()
    return r


def ehlos(peer, i=0):
    return sum(1 for l in peer.lines(i) if l.startswith(b"EHLO"))


# opportunistic
p = rp.Peer({"tls": server_ctx("example.net")})
rc, lines, err = remote(p)
t.is_([l[1] for l in lines], ["2"], "delivered with opportunistic STARTTLS")
t.ok(p.messages and p.messages[0][3], "the message went over TLS")
t.is_(ehlos(p), 2, "EHLO again after STARTTLS")
t.ok("TLS with" in err and "TLSv1." in err, "TLS logged with protocol and cipher")

# injected replies before the handshake are thrown away
p = rp.Peer({"tls": server_ctx("example.net"),
             "starttls_reply": b"220 2.0.0 ready\r\n250-injected.test\r\n250 AUTH PLAIN\r\n550 5.0.0 injected\r\n"})
rc, lines, err = remote(p, ["a@example.net", "b@example.net"])
t.is_([l[1] for l in lines], ["2", "2"], "replies injected before TLS are not taken as answers")
t.ok(p.messages and p.messages[0][3] and p.messages[0][1] == ["a@example.net", "b@example.net"],
     "both recipients delivered over TLS")

# policy none
p = rp.Peer({"tls": server_ctx("example.net")})
rc, lines, err = remote(p, policy="example.net none\n")
t.is_([l[1] for l in lines], ["2"], "policy none: delivered")
t.ok(not any(l.startswith(b"STARTTLS") for l in p.lines(0)), "policy none: no STARTTLS sent")

# policy encrypt, peer without STARTTLS
p = rp.Peer({})
rc, lines, err = remote(p, policy="example.net encrypt\n")
t.ok(lines and lines[0][1] == "4" and "4.7.10" in lines[0][2], "policy encrypt without STARTTLS: temporary 4.7.10")
t.ok(not any(l.startswith(b"MAIL") for l in p.lines(0)), "policy encrypt: no MAIL in plaintext")

# policy encrypt with a certificate nobody vouches for: fine
p = rp.Peer({"tls": server_ctx("other.test")})
rc, lines, err = remote(p, policy="example.net encrypt\n")
t.is_([l[1] for l in lines], ["2"], "policy encrypt: any certificate")

# policy verify
p = rp.Peer({"tls": server_ctx("example.net")})
rc, lines, err = remote(p, policy="example.net verify\n")
t.ok(lines and lines[0][1] == "4" and "4.7.5" in lines[0][2], "policy verify, unknown CA: temporary 4.7.5")
t.is_(len(p.conns), 1, "policy verify: no plaintext retry")
p = rp.Peer({"tls": server_ctx("example.net")})
rc, lines, err = remote(p, policy="example.net verify\n", cafile=os.path.join(top, "ca.pem"))
t.is_([l[1] for l in lines], ["2"], "policy verify, trusted CA, matching name: delivered")
t.ok(p.messages and p.messages[0][3], "policy verify: over TLS")
p = rp.Peer({"tls": server_ctx("other.test")})
rc, lines, err = remote(p, policy="example.net verify\n", cafile=os.path.join(top, "ca.pem"))
t.ok(lines and lines[0][1] == "4" and "4.7.5" in lines[0][2], "policy verify, wrong name: temporary")
t.ok(not p.messages, "policy verify, wrong name: nothing sent")
p = rp.Peer({"tls": server_ctx("example.net")})
rc, lines, err = remote(p, policy="* verify\n", cafile=os.path.join(top, "ca.pem"))
t.is_([l[1] for l in lines], ["2"], "policy '*' applies to every domain")
p = rp.Peer({})
rc, lines, err = remote(p, policy="example.net sometimes\n")
t.ok(lines and lines[0][1] == "4" and "tlspolicy" in lines[0][2], "a bad tlspolicy line: temporary")

# a broken handshake: plaintext retry under the default policy only
p = rp.Peer({"tls": server_ctx("example.net"), "tls_break": True, "only_first": True})
rc, lines, err = remote(p)
t.is_([l[1] for l in lines], ["2"], "broken TLS, policy may: delivered in plaintext on a new connection")
t.ok(len(p.conns) == 2 and p.messages and not p.messages[0][3], "second connection without TLS")
p = rp.Peer({"tls": server_ctx("example.net"), "tls_break": True})
rc, lines, err = remote(p, policy="example.net encrypt\n")
t.ok(lines and lines[0][1] == "4", "broken TLS, policy encrypt: temporary")
t.is_(len(p.conns), 1, "policy encrypt: no plaintext retry")

# STARTTLS refused by the peer
p = rp.Peer({"tls": server_ctx("example.net"), "starttls_reply": b"454 4.7.0 TLS not available\r\n"})
rc, lines, err = remote(p)
t.is_([l[1] for l in lines], ["2"], "454 to STARTTLS, policy may: plaintext on the same connection")
p = rp.Peer({"tls": server_ctx("example.net"), "starttls_reply": b"454 4.7.0 TLS not available\r\n"})
rc, lines, err = remote(p, policy="example.net encrypt\n")
t.ok(lines and lines[0][1] == "4" and "454" in lines[0][2], "454 to STARTTLS, policy encrypt: temporary")

# verify against the route's host name: [mx.example.net] resolved by DNS
rd = rl.load("remotedns", "remote-dns.py")
dns = rd.DNS({("mx.example.net", "A"): ("a", ["127.0.0.1"]), ("mx.example.net", "AAAA"): ("a", [])})
control("nameservers", "127.0.0.1:%d\n" % dns.port)
ca = os.path.join(top, "ca.pem")
p = rp.Peer({"tls": server_ctx("mx.example.net")})
rc, lines, err = remote(p, policy="example.net verify\n", cafile=ca, route="example.net [mx.example.net]:%d\n")
t.is_([l[1] for l in lines], ["2"], "policy verify: the certificate names the route's host")
p = rp.Peer({"tls": server_ctx("example.net")})
rc, lines, err = remote(p, policy="example.net verify\n", cafile=ca, route="example.net [mx.example.net]:%d\n")
t.ok(lines and lines[0][1] == "4" and "4.7.5" in lines[0][2],
     "policy verify: a certificate for the domain, not the host, is refused")
dns.stop()
