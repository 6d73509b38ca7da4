#!/usr/bin/env python3
"""lib/tlsconf and tlsctl_maybe_exec_engine unit tests (t/bin/unit-tlsconf):
this script makes the certificates and instances the C program expects,
then passes its TAP output on."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

UNIT = os.path.join(ft.SRC, "t", "bin", "unit-tlsconf")
if not os.access(UNIT, os.X_OK) or not os.access(ft.bin_path("facteur-setup"), os.X_OK):
    print("1..0 # SKIP unit-tlsconf or facteur-setup not built")
    sys.exit(0)
if not shutil.which("openssl"):
    print("1..0 # SKIP no openssl command")
    sys.exit(0)

base = ft.tempdir()
os.chmod(base, 0o755)
home = ft.make_instance(home=os.path.join(base, "home"))
tls = os.path.join(home, "control", "tls")


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


other = os.path.join(tls, "other.example")
os.makedirs(other)
openssl("req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=other.example",
        "-addext", "subjectAltName=DNS:other.example",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-keyout", os.path.join(other, "key.pem"), "-out", os.path.join(other, "cert.pem"))
shutil.copy(os.path.join(other, "cert.pem"), os.path.join(base, "other-cert.pem"))

# a default certificate with another pair's key
bad = os.path.join(base, "badhome", "control", "tls")
os.makedirs(bad)
shutil.copy(os.path.join(tls, "cert.pem"), os.path.join(bad, "cert.pem"))
shutil.copy(os.path.join(other, "key.pem"), os.path.join(bad, "key.pem"))

# a key under a passphrase
enc = os.path.join(base, "enchome", "control", "tls")
os.makedirs(enc)
shutil.copy(os.path.join(tls, "cert.pem"), os.path.join(enc, "cert.pem"))
openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-aes256", "-pass", "pass:secret", "-out", os.path.join(enc, "key.pem"))

os.makedirs(os.path.join(base, "nothing", "control"))

env = ft.env_for(home, UNIT_TLS_DIR=base)
env.pop("FACTEUR_TLSCTL", None)
env.pop("FACTEUR_TLS", None)
p = subprocess.run([UNIT], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, timeout=60)
sys.stdout.write(p.stdout.decode("latin-1"))
for line in p.stderr.decode("latin-1").splitlines():
    print("# " + line)
sys.exit(p.returncode)
