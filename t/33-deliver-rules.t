#!/usr/bin/env python3
# Rules files (dot-qmail syntax) read by facteur-local: Maildir lines,
# forwards, pipes and their exit codes (0, 99, 100, 111, 75, sysexits),
# user+tag files, and hostile files: '..', absolute paths, symlinks,
# loose modes, symlinked Maildirs, envelope data that looks like shell.
import glob
import os
import pwd
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-setup")):
    t.skip_all("facteur-setup is not built")
home = ft.make_instance(users=(("alice@example.org", "pw-a"), ("bob@example.org", "pw-b"),
                               ("dave@example.org", "pw-d")))
UID = os.getuid()
if UID == 0:
    try:
        UID = pwd.getpwnam(os.environ.get("FACTEUR_USER") or "facteur").pw_uid
    except KeyError:
        t.skip_all("running as root without a facteur user")
qdir = os.path.join(ft.tempdir(), "q")
os.makedirs(qdir)
os.chmod(os.path.dirname(qdir), 0o755)
os.chown(qdir, UID, -1)
FAKEQ = os.path.join(ft.SRC, "t", "data", "deliver-fakequeue")
MSG = b"From: x@example.net\nSubject: rules\n\nbody\n"


def mdir(user):
    return os.path.join(home, "mail", "example.org", user)


def rules(user, text, name=".qmail", mode=0o600):
    p = os.path.join(mdir(user), name)
    if os.path.lexists(p):
        os.unlink(p)
    with open(p, "w") as f:
        f.write(text)
    os.chown(p, UID, -1)
    os.chmod(p, mode)
    return p


def unrule(user, name=".qmail"):
    p = os.path.join(mdir(user), name)
    if os.path.lexists(p):
        os.unlink(p)


def local(rcpt, msg=MSG, sender="s@example.net"):
    env = ft.env_for(home, FACTEUR_QUEUE=FAKEQ, FAKEQ_DIR=qdir)
    return ft.run("facteur-local", [sender, rcpt], stdin=msg, env=env)


def count(path, sub="new"):
    d = os.path.join(path, sub)
    return len(os.listdir(d)) if os.path.isdir(d) else 0


def readf(p):
    try:
        with open(p, "rb") as f:
            return f.read()
    except OSError:
        return None


A = mdir("alice")
rules("alice", "# two copies\n./\n./.Lists/\n")
rc, out, err = local("alice@example.org")
t.is_(rc, 0, "rules with two Maildir lines")
t.ok(count(A) == 1 and count(os.path.join(A, ".Lists")) == 1, "one copy in the Maildir, one in .Lists/ (made)")

rules("alice", "# only a comment\n")
rc, out, err = local("alice@example.org")
t.ok(rc == 0 and count(A) == 2, "a rules file without delivery lines: the Maildir")

rules("alice", '|env > ./pipe-env; cat > ./pipe-msg\n')
rc, out, err = local("alice+Tag.x@example.org", sender="snd@example.net")
t.is_(rc, 0, "pipe exit 0: delivered")
envtxt = readf(os.path.join(A, "pipe-env")) or b""
for k, v in ((b"SENDER", b"snd@example.net"), (b"RECIPIENT", b"alice+tag.x@example.org"), (b"LOCAL", b"alice+tag.x"),
             (b"DOMAIN", b"example.org"), (b"EXT", b"tag.x")):
    t.ok((k + b"=" + v + b"\n") in envtxt, "pipe environment has %s" % k.decode())
t.ok(b"FAKEQ_DIR" not in envtxt, "pipe environment is explicit, not inherited")
t.is_(readf(os.path.join(A, "pipe-msg")), b"Return-Path: <snd@example.net>\nDelivered-To: alice+tag.x@example.org\n" + MSG,
      "pipe gets the message with Return-Path and Delivered-To")

rules("alice", "|exit 99\n./.After/\n")
rc, out, err = local("alice@example.org")
t.ok(rc == 0 and not os.path.exists(os.path.join(A, ".After")), "pipe exit 99: success, later lines skipped")
rules("alice", "|echo no such list here; exit 100\n")
rc, out, err = local("alice@example.org")
t.ok(rc == 69 and out.startswith(b"5.") and b"no such list here" in out, "pipe exit 100: permanent, its output quoted")
rules("alice", "|exit 111\n")
rc, out, err = local("alice@example.org")
t.ok(rc == 75 and out.startswith(b"4."), "pipe exit 111: temporary")
rules("alice", "|exit 75\n")
rc, out, err = local("alice@example.org")
t.is_(rc, 75, "pipe exit 75: temporary")
rules("alice", "|exit 67\n")
rc, out, err = local("alice@example.org")
t.ok(rc == 67 and out.startswith(b"5.1.1"), "pipe exit 67: permanent 5.1.1")
rules("alice", "|/nonexistent/program\n")
rc, out, err = local("alice@example.org")
t.is_(rc, 75, "pipe to a missing program: temporary")
rules("alice", "|head -c 10 >/dev/null\n")
big = b"Subject: big\n\n" + b"y" * 2000000 + b"\n"
rc, out, err = local("alice@example.org", msg=big)
t.is_(rc, 0, "a program that stops reading early: its exit code decides")
n = count(A)
rules("alice", "./\n|exit 111\n")
rc, out, err = local("alice@example.org")
t.ok(rc == 75 and count(A) == n + 1, "a later failure retries the whole message (the earlier copy stays: documented duplicate)")

for e in glob.glob(os.path.join(qdir, "*")):
    os.unlink(e)
rules("alice", "&far@remote.example\nnear@remote.example\n./\n")
rc, out, err = local("alice@example.org", sender="o@example.net")
envs = sorted(glob.glob(os.path.join(qdir, "env.*")))
t.ok(rc == 0 and len(envs) == 1, "forward lines: one queue run")
if envs:
    t.is_(readf(envs[0]), b"Fo@example.net\0Tfar@remote.example\0Tnear@remote.example\0\0", "both forwards in one envelope")
    t.is_(readf(envs[0].replace("env.", "msg.")), b"Delivered-To: alice@example.org\n" + MSG, "forward has Delivered-To")

# user+tag rules files
unrule("alice")
rules("alice", "./.Lists/\n", name=".qmail-lists")
n, nl = count(A), count(os.path.join(A, ".Lists"))
rc, out, err = local("alice+lists@example.org")
t.ok(rc == 0 and count(os.path.join(A, ".Lists")) == nl + 1 and count(A) == n, ".qmail-TAG picked for user+tag")
rc, out, err = local("alice+other@example.org")
t.ok(rc == 0 and count(A) == n + 1, "no .qmail-other, no .qmail-default: the Maildir")
rules("alice", '|printf "%s" "$EXT" > ./ext-out\n', name=".qmail-default")
rc, out, err = local("alice+`id`@example.org")
t.ok(rc == 0 and readf(os.path.join(A, "ext-out")) == b"`id`", ".qmail-default; shell-looking tag reaches the program only as data")
unrule("alice", ".qmail-default")

# an IMAP folder named "qmail" (Maildir++ directory .qmail/) is no rules file
unrule("alice")
os.mkdir(os.path.join(A, ".qmail"))
n = count(A)
rc, out, err = local("alice@example.org")
t.ok(rc == 0 and count(A) == n + 1, "a directory .qmail/ (IMAP folder) is ignored")
os.rmdir(os.path.join(A, ".qmail"))

# hostile rules files
n = count(A)
rules("alice", "./../bob/\n")
rc, out, err = local("alice@example.org")
t.ok(rc == 78 and out.startswith(b"4.3.5"), "'..' in a rules path: refused, temporary (4.3.5)")
rules("alice", "/tmp/\n")
rc, out, err = local("alice@example.org")
t.is_(rc, 78, "absolute path refused")
rules("alice", "./mbox\n")
rc, out, err = local("alice@example.org")
t.is_(rc, 78, "mbox line refused")
t.is_(count(mdir("bob")) + count(A), n, "nothing delivered by refused rules files")
rules("alice", "./\n", mode=0o666)
rc, out, err = local("alice@example.org")
t.is_(rc, 78, "world-writable rules file refused")
target = rules("alice", "./\n", name="real-rules")
unrule("alice")
os.symlink(target, os.path.join(A, ".qmail"))
rc, out, err = local("alice@example.org")
t.is_(rc, 78, "rules file that is a symlink refused")
unrule("alice")
os.symlink(mdir("bob"), os.path.join(A, ".Evil"))
rules("alice", "./.Evil/\n")
nb = count(mdir("bob"))
rc, out, err = local("alice@example.org")
t.ok(rc == 75 and count(mdir("bob")) == nb, "Maildir line through a planted symlink: refused, nothing written")
unrule("alice")
rc, out, err = local("alice@example.org")
t.ok(rc == 0 and count(A) == n + 1, "without rules: the Maildir again")

# a user's Maildir replaced by a symlink, or made world-writable
D = mdir("dave")
os.rename(D, D + ".real")
os.symlink(mdir("bob"), D)
nb = count(mdir("bob"))
rc, out, err = local("dave@example.org")
t.ok(rc == 75 and count(mdir("bob")) == nb, "user's Maildir is a symlink: temporary failure, nothing written")
os.unlink(D)
os.rename(D + ".real", D)
os.chmod(D, 0o777)
rc, out, err = local("dave@example.org")
t.ok(rc == 75 and count(D) == 0, "world-writable Maildir: temporary failure")
os.chmod(D, 0o700)
rc, out, err = local("dave@example.org")
t.ok(rc == 0 and count(D) == 1, "repaired: delivered")
