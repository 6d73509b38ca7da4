#!/usr/bin/env python3
# The libFuzzer targets under fuzz/ (built by fuzz/build with clang, ASan
# and UBSan, apart from the main build): each one replays its seed corpus
# fuzz/corpus/NAME (which also holds every crash found so far, minimised)
# and then fuzzes for a short bounded run. A crash, a leak, undefined
# behaviour or a broken invariant in a target fails the test. Set
# FACTEUR_FUZZ_RUNS for a longer run (default 2000 inputs per target).
import os, re, shutil, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

TARGETS = ["addr", "b64", "smtpd", "pop3", "cdb", "qfile", "deliver", "imap", "remote"]
RUNS = os.environ.get("FACTEUR_FUZZ_RUNS", "2000")
SECS = os.environ.get("FACTEUR_FUZZ_SECONDS", "3")

t = ft.TAP()
if not shutil.which("clang"):
    t.skip_all("clang is not installed (tools/deps installs clang and libclang-rt-14-dev)")
top = ft.tempdir()
probe = os.path.join(top, "probe.c")
with open(probe, "w") as f:
    f.write("#include <stddef.h>\n#include <stdint.h>\n"
            "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
r = subprocess.run(["clang", "-fsanitize=fuzzer,address,undefined", "-o", os.path.join(top, "probe"), probe],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
if r.returncode != 0:
    t.skip_all("clang -fsanitize=fuzzer does not link here (libclang-rt-14-dev missing?): " +
               r.stdout.decode(errors="replace").strip().splitlines()[-1][:200])

out = os.path.join(top, "build")
env = dict(os.environ, TMPDIR=top)
start = time.time()
r = subprocess.run([os.path.join(ft.SRC, "fuzz", "build"), out] + TARGETS, env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
if not t.ok(r.returncode == 0, "fuzz/build builds %d targets (%.0f s)" % (len(TARGETS), time.time() - start)):
    t.diag(r.stdout.decode(errors="replace")[-3000:])
    sys.exit(1)

for name in TARGETS:
    exe = os.path.join(out, "fuzz-" + name)
    seeds = os.path.join(ft.SRC, "fuzz", "corpus", name)
    scratch = os.path.join(top, "corpus-" + name)   # new inputs land here, never in the tree
    os.makedirs(scratch)
    # libFuzzer runs the empty input by itself and does not count empty files
    nseeds = len([f for f in os.listdir(seeds) if os.path.getsize(os.path.join(seeds, f))]) \
        if os.path.isdir(seeds) else 0
    t.ok(nseeds > 0, "%s: seed corpus present (%d inputs)" % (name, nseeds))
    r = subprocess.run([exe, "-runs=" + RUNS, "-max_total_time=" + SECS, "-timeout=10",
                        "-rss_limit_mb=1024", "-max_len=8192", "-artifact_prefix=" + scratch + "/",
                        "-print_final_stats=1", scratch, seeds],
                       cwd=top, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=int(SECS) + 120)
    text = r.stdout.decode(errors="replace")
    # the seeds are all replayed: libFuzzer counts them before it mutates
    m = re.search(r"INFO: seed corpus: files: (\d+)", text)
    done = re.search(r"^Done (\d+) runs", text, re.M)
    ok = r.returncode == 0 and done is not None and m is not None and int(m.group(1)) >= nseeds
    if not t.ok(ok, "%s: seeds replayed and fuzzed without a crash, leak or UB (%s)" %
                (name, done.group(0) if done else "no Done line")):
        crash = [l for l in text.splitlines() if "ERROR" in l or "SUMMARY" in l or re.match(r"\s+#\d+ ", l)]
        t.diag("\n".join(crash[:40]) or text[-3000:])
        for a in os.listdir(scratch):
            if a.startswith(("crash-", "leak-", "timeout-", "oom-")):
                t.diag("artifact: " + os.path.join(scratch, a) + " (FACTEUR_KEEP=1 keeps it)")
