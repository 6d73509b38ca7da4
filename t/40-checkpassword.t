#!/usr/bin/env python3
# facteur-checkpassword (the checkpassword interface on the user map) and
# lib/auth.c's auth_checkpassword, driven through t/bin/unit-auth.
import importlib.util
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

pt = ft.data_module("pt", "pop3-tlib.py")

t = ft.TAP()
CP = ft.bin_path("facteur-checkpassword")
UNIT = os.path.join(ft.SRC, "t", "bin", "unit-auth")
if not os.path.exists(CP) or not os.path.exists(ft.bin_path("facteur-users")):
    t.skip_all("facteur-checkpassword or facteur-users not built")

home = pt.instance()
env = pt.env(home)


def check(data, argv=(), timeout=30, e=None):
    """run the checker with data on fd 3; (rc, stdout, stderr)"""
    p = subprocess.run(["/bin/sh", "-c", 'exec "$0" "$@" 3<&0 </dev/null', CP] + list(argv),
                       input=data, env=e or env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


rc, out, err = check(b"alice@example.org\0alice-secret\0")
t.is_(rc, 0, "good password: exit 0")
t.ok(b"alice-secret" not in err, "the password is not logged")
t.is_(check(b"ALICE@Example.ORG\0alice-secret\0")[0], 0, "address is case-insensitive")
t.is_(check(b"alice@example.org\0alice-secret\0" + b"1234567890\0")[0], 0, "optional timestamp accepted")
rc, out, err = check(b"alice@example.org\0wrong\0")
t.is_(rc, 1, "bad password: exit 1")
t.ok(b"wrong" not in err.replace(b"alice", b""), "a bad password is not logged either")
t.is_(check(b"alice@example.org\0Alice-secret\0")[0], 1, "password is case-sensitive")
t.is_(check(b"alice@example.org\0\0")[0], 1, "empty password: exit 1")
t.is_(check(b"nobody@example.org\0alice-secret\0")[0], 1, "unknown user: exit 1")
t.is_(check(b"alice+tag@example.org\0alice-secret\0")[0], 1, "plus-tag is not a login name")
t.is_(check(b"alice\0alice-secret\0")[0], 1, "bare local part is not a login name")
t.is_(check(b"alice@example.org\0alice-secret")[0], 1, "missing final NUL: exit 1")
t.is_(check(b"alice@example.org")[0], 1, "no NUL at all: exit 1")
t.is_(check(b"")[0], 1, "empty input: exit 1")
t.is_(check(b"alice@example.org\nx\0alice-secret\0")[0], 1, "control byte in user: exit 1")
t.is_(check(b"a" * 300 + b"@example.org\0alice-secret\0")[0], 1, "overlong user: exit 1")
t.is_(check(b"alice@example.org\0" + b"x" * 2000 + b"\0")[0], 1, "overlong input: exit 1")

# PROG runs as the user, with USER, HOME, FACTEUR_MAILDIR and the Maildir as cwd
rc, out, err = check(b"alice@example.org\0alice-secret\0", ["/bin/sh", "-c", 'echo "U=$USER"; echo "H=$HOME"; echo "M=$FACTEUR_MAILDIR"; echo "D=$(pwd)"; id -u'])
md = os.path.join(home, "mail", "example.org", "alice") + "/"
t.is_(rc, 0, "with PROG: PROG's exit status")
o = out.decode().split("\n")
t.is_(o[0], "U=alice@example.org", "USER is the canonical address")
t.is_(o[1], "H=" + md, "HOME is the Maildir")
t.is_(o[2], "M=" + md, "FACTEUR_MAILDIR is the Maildir")
t.is_(os.path.realpath(o[3][2:]), os.path.realpath(md), "PROG starts in the Maildir")
ids = pt.facteur_ids()
if ids:
    t.is_(o[4], str(ids[0]), "PROG runs as facteur, not root")
else:
    t.ok(o[4] == str(os.geteuid()), "PROG runs as the caller (not root)")
t.ok(all(os.path.isdir(md + s) for s in ("cur", "new", "tmp")), "the Maildir is made when missing")
rc, out, err = check(b"alice@example.org\0alice-secret\0", ["/bin/sh", "-c", "exit 7"])
t.is_(rc, 7, "PROG's status passed on")
rc, out, err = check(b"alice@example.org\0bad\0", ["/bin/sh", "-c", "echo RAN"])
t.ok(rc == 1 and b"RAN" not in out, "bad password: PROG not run")
rc, out, err = check(b"alice@example.org\0alice-secret\0", ["/nonexistent/prog"])
t.is_(rc, 111, "PROG that cannot run: 111")

# argon2 needs 64 MiB: when it cannot have them the answer is "try again"
# (111), never "bad password" (1). ASan reserves far more address space
# than any such limit, so this runs on the plain build only.
with open(CP, "rb") as f:
    sanitized = b"__asan_init" in f.read()
if sanitized or not shutil.which("prlimit"):
    t.ok(True, "skip: address-space limit test (sanitized build or no prlimit)")
    t.ok(True, "skip: address-space limit test (sanitized build or no prlimit)")
else:
    def check_limited(data):
        p = subprocess.run(["prlimit", "--as=%d" % (40 << 20), "/bin/sh", "-c",
                            'exec "$0" "$@" 3<&0 </dev/null', CP],
                           input=data, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        return p.returncode
    t.is_(check_limited(b"alice@example.org\0alice-secret\0"), 111,
          "no memory for argon2: good password gives 111, not 1")
    t.is_(check_limited(b"nobody@example.org\0x\0"), 111,
          "no memory for argon2: unknown user gives 111 too (no oracle)")

# unknown users cost about as much as known ones (dummy hash)
def timed(data, n=3):
    best = None
    for _ in range(n):
        s = time.monotonic()
        check(data)
        d = time.monotonic() - s
        best = d if best is None else min(best, d)
    return best


known = timed(b"alice@example.org\0wrong-password\0")
unknown = timed(b"nobody@example.org\0wrong-password\0")
t.ok(unknown > known * 0.5, "unknown user takes as long as a wrong password (%.3fs vs %.3fs)" % (unknown, known))

# lib/auth.c through unit-auth
def unit(user, pw, *prog, **extra):
    e = dict(env)
    e.update({k: v for k, v in extra.items()})
    p = subprocess.run([UNIT, user, "-"] + list(prog), input=pw, env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return p.stdout.decode().strip().split("\n")[-1]


if not os.path.exists(UNIT):
    t.ok(False, "t/bin/unit-auth is built")
else:
    t.is_(unit("alice@example.org", b"alice-secret"), "1", "auth_checkpassword: good password -> 1")
    t.is_(unit("alice@example.org", b"nope"), "0", "auth_checkpassword: bad password -> 0")
    t.is_(unit("zed@example.org", b"nope"), "0", "auth_checkpassword: unknown user -> 0")
    t.is_(unit("alice@example.org", b"alice-secret\0x"), "0", "auth_checkpassword: NUL in password -> 0, not truncated")
    t.is_(unit("alice@example.org", b"x" * 513), "0", "auth_checkpassword: password over AUTH_PASS_MAX -> 0")
    t.is_(unit("alice@example.org", b"alice-secret", FACTEUR_BIN="/nonexistent"), "-1", "auth_checkpassword: checker missing -> -1")
    cdb = os.path.join(home, "control", "users.cdb")
    if os.geteuid() == 0 and not ids:
        t.ok(True, "skip: unreadable map (no facteur user)")
    else:
        mode = os.stat(cdb).st_mode
        os.chmod(cdb, 0)
        t.is_(unit("alice@example.org", b"alice-secret"), "-1", "auth_checkpassword: unreadable map -> -1 (temporary)")
        rc, out, err = check(b"alice@example.org\0alice-secret\0")
        t.is_(rc, 111, "checker: unreadable map -> 111")
        os.chmod(cdb, mode & 0o7777)
    t.is_(unit("alice@example.org", b"alice-secret", "/bin/sh", "-c", "exit 0"), "1", "auth_checkpassword_run: PROG ran -> 1")
    s = time.monotonic()
    r = unit("alice@example.org", b"alice-secret", "/bin/sleep", "20")
    t.ok(r == "-1" and time.monotonic() - s < 15, "auth_checkpassword_run: child past its timeout is killed -> -1")
