#!/usr/bin/env python3
"""facteur-setup: a valid instance, idempotent, admin edits kept, new
domains appended, bad arguments refused, ownership and modes as root,
a usable self-signed certificate, and a run without root."""
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
ROOT = os.geteuid() == 0


def read(p):
    with open(p, "rb") as f:
        return f.read()


def snapshot(home):
    out = {}
    for d, _, files in os.walk(home):
        for f in files:
            p = os.path.join(d, f)
            if f != ".lock":
                out[os.path.relpath(p, home)] = read(p)
    return out


home = os.path.join(ft.tempdir(), "home")
rc, out, err = ft.run("facteur-setup", ["--hostname", "MX.Example.org", "--domain", "example.org"], home=home)
t.is_(rc, 0, "setup exits 0")
c = os.path.join(home, "control")
t.is_(read(c + "/me"), b"mx.example.org\n", "control/me holds the host name, lowercased")
t.is_(read(c + "/domains"), b"example.org\n", "control/domains holds the domain")
t.is_(read(c + "/databytes"), b"52428800\n", "control/databytes defaults to 50 MiB")
rel = [l for l in read(c + "/relayclients").decode().splitlines() if l and not l.startswith("#")]
t.is_(rel, [], "control/relayclients lets no network relay by default")
for f in ("users", "users.cdb", "aliases", "aliases.cdb", "tls/cert.pem", "tls/key.pem"):
    t.ok(os.path.isfile(os.path.join(c, f)), "control/%s exists" % f)
for d in ("queue", "mail"):
    t.ok(os.path.isdir(os.path.join(home, d)), "%s/ exists" % d)
t.is_(stat.S_IMODE(os.stat(c + "/users").st_mode), 0o600, "control/users is 0600")
t.is_(stat.S_IMODE(os.stat(c + "/users.cdb").st_mode), 0o640, "users.cdb is 0640")
t.is_(stat.S_IMODE(os.stat(c + "/tls/key.pem").st_mode), 0o600, "key.pem is 0600")
t.is_(stat.S_IMODE(os.stat(home + "/queue").st_mode), 0o750, "queue/ is 0750")
if ROOT:
    import pwd
    pw = pwd.getpwnam("facteur")
    t.ok(pwd.getpwnam("facteur-tls").pw_uid not in (0, pw.pw_uid), "facteur-tls is a user of its own")
    for d in ("queue", "mail"):
        st = os.stat(os.path.join(home, d))
        t.is_((st.st_uid, st.st_gid), (pw.pw_uid, pw.pw_gid), "%s/ is owned by facteur" % d)
    st = os.stat(c + "/users.cdb")
    t.is_((st.st_uid, st.st_gid), (0, pw.pw_gid), "users.cdb is root:facteur")
    t.is_(os.stat(c + "/tls/key.pem").st_uid, 0, "key.pem is owned by root")
    # facteur can reach and read the instance (what programs do after priv_drop)
    r = subprocess.run(["setpriv", "--reuid=facteur", "--regid=facteur", "--clear-groups",
                        "cat", c + "/me", c + "/users.cdb"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t.is_(r.returncode, 0, "facteur can read control/me and users.cdb: %r" % r.stderr)
    r = subprocess.run(["setpriv", "--reuid=facteur", "--regid=facteur", "--clear-groups",
                        "cat", c + "/tls/key.pem"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t.ok(r.returncode != 0, "facteur cannot read key.pem")
    r = subprocess.run(["setpriv", "--reuid=facteur-tls", "--regid=facteur-tls", "--clear-groups",
                        "cat", c + "/users.cdb"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t.ok(r.returncode != 0, "facteur-tls cannot read users.cdb")

# the certificate: EC P-256, SAN = host name, matches the key, verifies
txt = subprocess.run(["openssl", "x509", "-in", c + "/tls/cert.pem", "-noout", "-text"],
                     stdout=subprocess.PIPE).stdout.decode()
t.ok("DNS:mx.example.org" in txt, "certificate SAN is DNS:mx.example.org")
t.ok("prime256v1" in txt or "P-256" in txt, "certificate key is P-256")
pub1 = subprocess.run(["openssl", "x509", "-in", c + "/tls/cert.pem", "-noout", "-pubkey"], stdout=subprocess.PIPE).stdout
pub2 = subprocess.run(["openssl", "pkey", "-in", c + "/tls/key.pem", "-pubout"], stdout=subprocess.PIPE).stdout
t.ok(pub1 and pub1 == pub2, "certificate and key match")


def tls_ok(host):
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(c + "/tls/cert.pem", c + "/tls/key.pem")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(10)

    def serve():
        try:
            conn, _ = ls.accept()
            conn.settimeout(10)
            s = srv.wrap_socket(conn, server_side=True)
            s.sendall(b"ok")
            s.close()
        except Exception:
            pass
    th = threading.Thread(target=serve)
    th.start()
    cl = ssl.create_default_context(cafile=c + "/tls/cert.pem")
    try:
        with socket.create_connection(ls.getsockname(), timeout=10) as raw:
            with cl.wrap_socket(raw, server_hostname=host) as s:
                return s.recv(2) == b"ok"
    except ssl.SSLError:
        return False
    finally:
        th.join(10)
        ls.close()


t.ok(tls_ok("mx.example.org"), "a TLS client verifies the certificate for mx.example.org")
t.ok(not tls_ok("other.example.org"), "and refuses it for another name")

# idempotent: admin edits stay, nothing else changes
with open(c + "/relayclients", "a") as f:
    f.write("10.0.0.0/8\n")
with open(c + "/me", "w") as f:
    f.write("edited.example.org\n")
with open(c + "/aliases", "a") as f:
    f.write("info: alice@example.org\n")
before = snapshot(home)
rc, out, err = ft.run("facteur-setup", ["--hostname", "mx.example.org", "--domain", "example.org"], home=home)
t.is_(rc, 0, "second run exits 0")
after = snapshot(home)
t.is_(sorted(after), sorted(before), "second run creates no file")
changed = [k for k in before if before[k] != after[k] and k != "control/aliases.cdb"]
t.is_(changed, [], "second run changes no file's content")
t.ok(b"not changed" in err, "it says it left control/me alone")
r = subprocess.run(["cdb", "-q", c + "/aliases.cdb", "info"], stdout=subprocess.PIPE)
t.is_(r.stdout, b"alice@example.org\0", "second run recompiled the admin's aliases")

# a new domain is appended; what the admin wrote stays
with open(c + "/domains", "a") as f:
    f.write("# mine\n")
rc, out, err = ft.run("facteur-setup", ["--domain", "example.net", "--domain", "EXAMPLE.org"], home=home)
t.is_(rc, 0, "adding a domain exits 0")
t.is_(read(c + "/domains"), b"example.org\n# mine\nexample.net\n", "new domain appended, edits kept, no duplicate")

# --postmaster
h2 = os.path.join(ft.tempdir(), "h2")
rc, out, err = ft.run("facteur-setup", ["--hostname", "mx.example.com", "--domain", "example.com",
                                        "--postmaster", "Boss@Example.com"], home=h2)
t.is_(rc, 0, "setup with --postmaster")
r = subprocess.run(["cdb", "-q", h2 + "/control/aliases.cdb", "postmaster"], stdout=subprocess.PIPE)
t.is_(r.stdout, b"Boss@example.com\0", "postmaster alias compiled (target domain lowercased)")
h3 = os.path.join(ft.tempdir(), "h3")
rc, out, err = ft.run("facteur-setup", ["--hostname", "mail.example.com"], home=h3)
t.is_((rc, read(h3 + "/control/domains")), (0, b"mail.example.com\n"), "without --domain the host name is the local domain")

# bad arguments: refused, nothing created
for args, why in ((["--hostname", "bad host"], "space in host name"),
                  (["--hostname", "x;rm -rf"], "shell characters"),
                  (["--hostname", "a" * 64 + ".org"], "label over 63"),
                  (["--hostname", "ok.example.org", "--domain", "-bad.org"], "domain starting with '-'"),
                  (["--hostname", "ok.example.org", "--domain", "nodot"], "domain without a dot"),
                  (["--hostname", "ok.example.org", "--domain", "a\nb.org"], "newline in domain"),
                  (["--hostname"], "missing value"),
                  (["--frobnicate", "x"], "unknown option")):
    h = os.path.join(ft.tempdir(), "bad")
    rc, out, err = ft.run("facteur-setup", args, home=h)
    t.ok(rc == 64 and not os.path.exists(h) and err, "refused: %s (rc %d, %r)" % (why, rc, err[:80]))
h = os.path.join(ft.tempdir(), "pm")
rc, out, err = ft.run("facteur-setup", ["--hostname", "mx.example.org", "--domain", "example.org",
                                        "--postmaster", "a/b@example.org"], home=h)
t.ok(rc != 0 and b"invalid --postmaster" in err, "bad --postmaster refused")
rc, out, err = ft.run("facteur-setup", ["--hostname", "mx.example.org"], home="relative/home")
t.ok(rc == 64 and b"absolute" in err, "relative FACTEUR_HOME refused")

# not root: a developer's instance, nothing chowned, no users created
if ROOT:
    d = ft.tempdir()
    os.chown(d, 65534, 65534)
    env = ft.env_for(os.path.join(d, "home"))
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        ft.bin_path("facteur-setup"), "--hostname", "dev.example.org", "--domain", "dev.example.org"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t.is_(r.returncode, 0, "setup works without root: %r" % r.stderr[-200:])
    st = os.stat(os.path.join(d, "home", "queue"))
    t.is_((st.st_uid, st.st_gid), (65534, 65534), "without root queue/ belongs to whoever ran it")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        ft.bin_path("facteur-users"), "add", "dev@dev.example.org"],
                       env=env, input=b"pw\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t.is_(r.returncode, 0, "users add works without root")
    t.ok(os.path.isdir(os.path.join(d, "home/mail/dev.example.org/dev/new")), "and makes the Maildir")
    # the same instance set up again as root: facteur must be able to check logins
    rc, out, err = ft.run("facteur-setup", [], home=os.path.join(d, "home"))
    t.is_(rc, 0, "root completes the developer's instance")
    st = os.stat(os.path.join(d, "home", "control", "users.cdb"))
    t.is_((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, pw.pw_gid, 0o640), "users.cdb rebuilt root:facteur 0640")
    r = subprocess.run(["cdb", "-q", os.path.join(d, "home", "control", "users.cdb"), "dev@dev.example.org"],
                       stdout=subprocess.PIPE)
    t.like(r.stdout, b"$argon2id$", "with the developer's user still in it")
    st = os.stat(os.path.join(d, "home", "queue"))
    t.is_(st.st_uid, pw.pw_uid, "queue/ given to facteur")
    # an instance directory made by mkdtemp (0700) itself becomes searchable
    h = ft.tempdir()
    rc, out, err = ft.run("facteur-setup", ["--hostname", "mx.example.org"], home=h)
    t.ok(rc == 0 and os.stat(h).st_mode & 0o001, "a 0700 instance directory gets o+x")
    r = subprocess.run(["setpriv", "--reuid=facteur", "--regid=facteur", "--clear-groups",
                        "cat", h + "/control/me"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t.is_(r.stdout, b"mx.example.org\n", "and facteur reads control/me in it")
