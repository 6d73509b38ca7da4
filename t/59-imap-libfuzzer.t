#!/usr/bin/env python3
# A short libFuzzer run (imapd/fuzz-imap.c, clang with ASan/UBSan) over the
# IMAP command reader and tokenizer with literals, sequence sets, modified
# UTF-7 and mailbox names, and MIME with ENVELOPE/BODYSTRUCTURE output.
import os, shutil, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
if not shutil.which("clang"):
    t.skip_all("clang is not installed")
top = ft.tempdir()
exe = os.path.join(top, "fuzz-imap")
src = ["imapd/fuzz-imap.c", "imapd/cmd.c", "imapd/preauth.c", "imapd/folder.c", "imapd/mailbox.c",
       "imapd/selected.c", "imapd/fetch.c", "imapd/envelope.c", "imapd/search.c", "lib/str.c", "lib/buf.c",
       "lib/scan.c", "lib/fmt.c", "lib/fsx.c", "lib/log.c", "lib/mime.c", "lib/mutf7.c", "lib/addr.c",
       "lib/b64.c", "lib/control.c", "lib/tlsctl.c", "lib/sock.c", "lib/auth.c", "lib/sasl.c", "lib/deadline.c"]
r = subprocess.run(["clang", "-g", "-O1", "-std=c11", "-D_GNU_SOURCE", "-Ilib", "-Iimapd",
                    "-DFACTEUR_HOME_DEFAULT=\"/nonexistent\"", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=undefined",
                    "-o", exe] + src, cwd=ft.SRC, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
if r.returncode != 0:
    if b"fuzzer" in r.stdout and (b"cannot find" in r.stdout or b"unsupported" in r.stdout):
        t.skip_all("clang has no libFuzzer here")
    t.ok(False, "fuzzer builds")
    t.diag(r.stdout.decode(errors="replace")[-2000:])
    sys.exit(1)
t.ok(True, "fuzzer builds")

corpus = os.path.join(top, "corpus")
os.makedirs(corpus)
seeds = {
    "login": b"\x00a LOGIN {5}\r\nab\x01cd \"p\\\"w\"\r\nb ID ((x) NIL)\r\n   \r\n",
    "fetch": b"\x01a UID FETCH 1:*,4294967295:2 (BODY.PEEK[1.2.HEADER.FIELDS (A B)]<0.5> FLAGS)\r\nb APPEND X {3+}\r\nabc\r\n",
    "search": b"\x01s SEARCH OR (FROM x NOT SEEN) UID 1:5,$ LARGER 4294967296\r\n",
    "name": b"\x02Entw&APw-rfe.&AC4-&-",
    "mime": b"\x03Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
            b"From: \"A\" <a@b>, g: c@d;\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx=41=\r\n--b--\r\n",
}
for k, v in seeds.items():
    with open(os.path.join(corpus, k), "wb") as f:
        f.write(v)
secs = os.environ.get("FACTEUR_FUZZ_SECONDS", "15")
r = subprocess.run([exe, "-max_total_time=" + secs, "-rss_limit_mb=1024", "-timeout=10", corpus],
                   cwd=top, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=int(secs) + 60)
out = r.stdout.decode(errors="replace")
t.is_(r.returncode, 0, "no crash, leak or undefined behaviour in %s s" % secs)
if r.returncode:
    t.diag(out[-3000:])
m = [l for l in out.splitlines() if l.startswith("Done ")]
t.ok(m, m[0] if m else "libFuzzer ran")
