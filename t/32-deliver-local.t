#!/usr/bin/env python3
# facteur-local SENDER RECIPIENT: users, user+tag, aliases (several targets,
# chains, loops, remote targets forwarded through the queue), postmaster,
# Delivered-To loops, the hop limit, exit codes and the status line.
import glob
import os
import pwd
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-setup")):
    t.skip_all("facteur-setup is not built")
home = ft.make_instance(users=(("alice@example.org", "pw-alice"), ("bob@example.org", "pw-bob"),
                               ("carol@example.org", "pw-carol")))
with open(os.path.join(home, "control", "aliases"), "a") as f:
    f.write("team: alice@example.org, bob@example.org\n"
            "dup@example.org: alice@example.org, ALICE@example.org, alice@example.org\n"
            "fwd@example.org: far@remote.example\n"
            "mixed@example.org: carol@example.org, far2@remote.example\n"
            "chain@example.org: team@example.org\n"
            "l1@example.org: l2@example.org\n"
            "l2@example.org: l1@example.org\n"
            "ghost@example.org: nobody-here@example.org\n")
rc, out, err = ft.run("facteur-newaliases", home=home)
if rc != 0:
    t.skip_all("facteur-newaliases failed: %r" % err)

RUN_UID = None
if os.getuid() == 0:
    try:
        RUN_UID = pwd.getpwnam(os.environ.get("FACTEUR_USER") or "facteur").pw_uid
    except KeyError:
        t.skip_all("running as root without a facteur user")
qdir = os.path.join(ft.tempdir(), "q")
os.makedirs(qdir)
os.chmod(os.path.dirname(qdir), 0o755)
if RUN_UID is not None:
    os.chown(qdir, RUN_UID, -1)
FAKEQ = os.path.join(ft.SRC, "t", "data", "deliver-fakequeue")
MSG = b"From: someone@example.net\nSubject: test\n\nhello\n"


def local(sender, rcpt, msg=MSG, qexit=0, stdin_file=False):
    env = ft.env_for(home, FACTEUR_QUEUE=FAKEQ, FAKEQ_DIR=qdir, FAKEQ_EXIT=qexit)
    if stdin_file:
        p = os.path.join(ft.tempdir(), "m")
        with open(p, "wb") as f:
            f.write(msg)
        import subprocess
        with open(p, "rb") as f:
            r = subprocess.run([ft.bin_path("facteur-local"), sender, rcpt], stdin=f, env=env,
                               capture_output=True, timeout=30)
        return r.returncode, r.stdout, r.stderr
    return ft.run("facteur-local", [sender, rcpt], stdin=msg, env=env)


def box(user, sub="new"):
    return ft.maildir_messages(os.path.join(home, "mail", "example.org", user), sub)


def queued():
    out = []
    for e in sorted(glob.glob(os.path.join(qdir, "env.*"))):
        m = e.replace("env.", "msg.")
        out.append((open(e, "rb").read(), open(m, "rb").read()))
        os.unlink(e)
        os.unlink(m)
    return out


rc, out, err = local("s@example.net", "alice@example.org")
t.is_(rc, 0, "local user: exit 0")
t.like(out, b"2.0.0 ", "status line 2.0.0")
msgs = box("alice")
t.ok(len(msgs) == 1 and msgs[0] == b"Return-Path: <s@example.net>\nDelivered-To: alice@example.org\n" + MSG,
     "message in alice's new/ with Return-Path and Delivered-To")
if RUN_UID is not None:
    f = glob.glob(os.path.join(home, "mail", "example.org", "alice", "new", "*"))
    t.ok(f and os.stat(f[0]).st_uid == RUN_UID, "started as root, delivered as facteur")

rc, out, err = local("", "Alice@Example.ORG", stdin_file=True)
t.is_(rc, 0, "mixed case recipient, message on a regular file")
t.ok(box("alice")[-1].startswith(b"Return-Path: <>\nDelivered-To: alice@example.org\n") or
     any(m.startswith(b"Return-Path: <>\nDelivered-To: alice@example.org\n") for m in box("alice")),
     "null sender as <>, recipient lowercased")

rc, out, err = local("s@example.net", "nobody@example.org")
t.is_(rc, 67, "unknown user: 67")
t.like(out, b"5.1.1 ", "status 5.1.1")
rc, out, err = local("s@example.net", "x@elsewhere.example")
t.is_(rc, 68, "not a local domain: 68")
rc, out, err = local("s@example.net", "bad address@example.org")
t.ok(rc not in (0, 75) and out.startswith(b"5."), "bad recipient syntax: permanent")
rc, out, err = local("s@ex\nample.net", "alice@example.org")
t.is_(rc, 65, "control character in sender: 65")
rc, out, err = ft.run("facteur-local", ["only-one"], home=home)
t.is_(rc, 64, "usage: 64")

n = len(box("alice"))
rc, out, err = local("s@example.net", "alice+news@example.org")
t.is_(rc, 0, "user+tag delivered")
t.ok(len(box("alice")) == n + 1 and any(b"Delivered-To: alice+news@example.org\n" in m for m in box("alice")),
     "user+tag reaches the user, Delivered-To keeps the tag")

na, nb = len(box("alice")), len(box("bob"))
rc, out, err = local("s@example.net", "team@example.org")
t.is_(rc, 0, "bare-local alias with two targets")
t.ok(len(box("alice")) == na + 1 and len(box("bob")) == nb + 1, "both targets got one copy")
rc, out, err = local("s@example.net", "chain@example.org")
t.ok(rc == 0 and len(box("alice")) == na + 2 and len(box("bob")) == nb + 2, "alias of an alias")
rc, out, err = local("s@example.net", "dup@example.org")
t.ok(rc == 0 and len(box("alice")) == na + 3, "a target listed three times gets one copy")

queued()
rc, out, err = local("orig@example.net", "fwd@example.org")
t.is_(rc, 0, "remote alias target forwarded")
q = queued()
t.is_(len(q), 1, "one message handed to the queue")
if q:
    t.is_(q[0][0], b"Forig@example.net\0Tfar@remote.example\0\0", "envelope: original sender, remote target")
    t.is_(q[0][1], b"Delivered-To: fwd@example.org\n" + MSG, "forward carries Delivered-To of the alias")
nc = len(box("carol"))
rc, out, err = local("", "mixed@example.org")
q = queued()
t.ok(rc == 0 and len(box("carol")) == nc + 1 and len(q) == 1 and q[0][0] == b"F\0Tfar2@remote.example\0\0",
     "alias with a local and a remote target; null sender kept on the forward")
rc, out, err = local("s@example.net", "fwd@example.org", qexit=71)
t.is_(rc, 75, "queue temporary failure: 75")
rc, out, err = local("s@example.net", "fwd@example.org", qexit=31)
t.ok(rc not in (0, 75) and 64 <= rc <= 78 and out.startswith(b"5."), "queue permanent failure: permanent")
queued()
# the forwarded copy coming back must stop
rc, out, err = local("s@example.net", "fwd@example.org", msg=b"Delivered-To: fwd@example.org\n" + MSG)
t.ok(rc == 69 and out.startswith(b"5.4.6") and not queued(), "forward loop stopped by Delivered-To (5.4.6)")

rc, out, err = local("s@example.net", "l1@example.org")
t.ok(rc == 69 and out.startswith(b"5.4.6"), "alias loop: 5.4.6")
rc, out, err = local("s@example.net", "ghost@example.org")
t.ok(rc == 67 and out.startswith(b"5.1.1"), "alias to an unknown local user: 5.1.1")

n = len(box("alice"))
rc, out, err = local("s@example.net", "alice@example.org", msg=b"Delivered-To: Alice@Example.org\n" + MSG)
t.ok(rc == 69 and out.startswith(b"5.4.6"), "Delivered-To naming the recipient: loop, 5.4.6")
hops = b"".join(b"Received: from a by b; %d\n" % i for i in range(101))
rc, out, err = local("s@example.net", "alice@example.org", msg=hops + MSG)
t.ok(rc == 69 and out.startswith(b"5.4.6"), "101 Received fields: hop limit, 5.4.6")
t.is_(len(box("alice")), n, "nothing delivered for loops")

rc, out, err = local("s@example.net", "postmaster@example.org")
t.is_(rc, 0, "postmaster without alias or user")
pm = box("postmaster")
t.ok(len(pm) == 1 and b"Delivered-To: postmaster@example.org\n" in pm[0], "lands in mail/example.org/postmaster/")
rc, out, err = local("s@example.net", "postmaster")
t.ok(rc == 0 and len(box("postmaster")) == 2, "bare <postmaster> too")
with open(os.path.join(home, "control", "aliases"), "a") as f:
    f.write("postmaster: carol@example.org\n")
ft.run("facteur-newaliases", home=home)
nc = len(box("carol"))
rc, out, err = local("s@example.net", "PostMaster@example.org")
t.ok(rc == 0 and len(box("carol")) == nc + 1 and len(box("postmaster")) == 2, "postmaster alias wins")

# a forward through the real facteur-queue, found next to facteur-local
if os.path.exists(ft.bin_path("facteur-queue")):
    env = ft.env_for(home, FACTEUR_QUEUE=None, FACTEUR_BIN=ft.BIN)
    rc, out, err = ft.run("facteur-local", ["o@example.net", "fwd@example.org"], stdin=MSG, env=env)
    todo = os.path.join(home, "queue", "todo")
    ids = os.listdir(todo) if os.path.isdir(todo) else []
    t.ok(rc == 0 and len(ids) == 1, "forward queued by the real facteur-queue")
    if ids:
        with open(os.path.join(home, "queue", "mess", ids[0]), "rb") as f:
            mess = f.read()
        t.ok(mess.startswith(b"Delivered-To: fwd@example.org\n") and mess.endswith(MSG), "queued copy has the Delivered-To line")
        with open(os.path.join(todo, ids[0]), "rb") as f:
            env_b = b"Fo@example.net\0Tfar@remote.example\0\0"
            t.is_(f.read(), ft.data_module("qlib", "queue-lib.py").committed(ids[0], mess, env_b),
                  "queued envelope (and its commit record)")
