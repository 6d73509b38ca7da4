#!/usr/bin/env python3
"""A short libFuzzer run over the parsers facteur-remote feeds with
network bytes (remote/fuzz-remote.c: SMTP replies, DNS answers and
names, the DATA body conversion), built here with clang and ASan/UBSan
from seeds that cover each parser."""
import atexit
import os
import shutil
import struct
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()


def _cleanup_first():
    """ft.TAP's exit hook leaves with os._exit when a test failed, before
    ft's own cleanup could stop the servers this test started: stop them
    first (registered after TAP, so it runs before it)."""
    ft._cleanup()
    del ft._cleanups[:]


atexit.register(_cleanup_first)
if not shutil.which("clang"):
    t.skip_all("clang is not installed")
top = ft.tempdir()
exe = os.path.join(top, "fuzz-remote")
src = ["remote/fuzz-remote.c", "remote/msg.c", "lib/smtpreply.c", "lib/dns.c", "lib/str.c", "lib/fmt.c",
       "lib/control.c", "lib/scan.c", "lib/deadline.c"]
r = subprocess.run(["clang", "-g", "-O1", "-std=c11", "-D_GNU_SOURCE", "-Ilib", "-DFACTEUR_HOME_DEFAULT=\"/nonexistent\"",
                    "-fsanitize=fuzzer,address,undefined", "-o", exe] + src,
                   cwd=ft.SRC, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
if r.returncode != 0:
    if b"fuzzer" in r.stdout and (b"cannot find" in r.stdout or b"unsupported" in r.stdout):
        t.skip_all("clang has no libFuzzer here")
    t.ok(False, "fuzzer builds")
    t.diag(r.stdout.decode(errors="replace")[-2000:])
    sys.exit(1)
t.ok(True, "fuzzer builds")

corpus = os.path.join(top, "corpus")
os.makedirs(corpus)


def seed(name, data):
    with open(os.path.join(corpus, name), "wb") as f:
        f.write(data)


def enc(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"


seed("reply", b"\x00250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n550 5.1.1 no\r\n")
q = enc("example.net") + struct.pack(">HH", 15, 1)
mx = b"\xc0\x0c" + struct.pack(">HHIH", 15, 1, 60, 7) + struct.pack(">H", 10) + b"\x02mx\xc0\x0c"
seed("dns", b"\x01" + struct.pack(">HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0) + q + mx)
seed("body", b"\x02line\n.dot\r\n\r.\rend")
r = subprocess.run([exe, "-max_total_time=10", "-max_len=4096", "-timeout=5", "-rss_limit_mb=1024",
                    "-print_final_stats=1", corpus], cwd=top, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   timeout=60)
out = r.stdout.decode(errors="replace")
runs = [l for l in out.splitlines() if l.startswith("stat::number_of_executed_units")]
t.is_(r.returncode, 0, "no crash, leak or undefined behaviour found")
if r.returncode != 0:
    t.diag(out[-3000:])
t.ok(runs and int(runs[0].split()[-1]) > 1000, "the fuzzer ran (%s)" % (runs[0].split()[-1] if runs else "?"))
