#!/usr/bin/env python3
"""facteur-users: add, passwd, del, list; argon2id hashes; checks through
the real facteur-checkpassword; invalid addresses and passwords refused;
Maildir++ folders; users.cdb readable by tinycdb and never half-written
while a reader loops; concurrent runs serialised by the lock."""
import os
import stat
import subprocess
import sys
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
ROOT = os.geteuid() == 0
home = ft.make_instance(domains=("example.org", "example.net"), users=())
c = os.path.join(home, "control")
CDB = c + "/users.cdb"


def users(*args, pw=None):
    return ft.run("facteur-users", list(args), home=home,
                  stdin=b"" if pw is None else pw)


def cdbq(key):
    r = subprocess.run(["cdb", "-q", CDB, key], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode, r.stdout


def text():
    with open(c + "/users", "rb") as f:
        return f.read()


HAVE_CP = os.access(ft.bin_path("facteur-checkpassword"), os.X_OK)


def login(user, pw):
    """exit code of facteur-checkpassword for user/pw (0 good, 1 bad)"""
    r, w = os.pipe()
    os.write(w, user.encode() + b"\0" + pw + b"\0")
    os.close(w)
    p = subprocess.run([ft.bin_path("facteur-checkpassword")], env=ft.env_for(home),
                       pass_fds=(r,), preexec_fn=lambda: os.dup2(r, 3),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    os.close(r)
    return p.returncode


rc, out, err = users("add", "Alice@Example.org", pw=b"alice-secret\n")
t.is_(rc, 0, "add exits 0")
t.ok(b"alice@example.org" in err, "add says what it added")
rc, v = cdbq("alice@example.org")
t.is_(rc, 0, "cdb -q finds the lowercased address")
hashv, _, md = v.partition(b"\0")
t.like(hashv, b"$argon2id$", "the value starts with an argon2id hash")
t.is_(md, b"\0", "then an empty maildir field (the default Maildir)")
t.ok(b"alice-secret" not in text() and b"alice-secret" not in open(CDB, "rb").read(), "the password is stored nowhere")
t.ok(b"alice@example.org:$argon2id$" in text(), "control/users has address:hash")
mdir = os.path.join(home, "mail/example.org/alice")
for sub in ("cur", "new", "tmp", ".Sent/cur", ".Drafts/new", ".Trash/tmp", ".Junk/cur", ".Archive/new"):
    t.ok(os.path.isdir(os.path.join(mdir, sub)), "Maildir has %s" % sub)
t.ok(os.path.isfile(os.path.join(mdir, ".Sent/maildirfolder")), "folders carry maildirfolder")
if ROOT:
    import pwd
    pw = pwd.getpwnam("facteur")
    st = os.stat(os.path.join(mdir, ".Junk/new"))
    t.is_((st.st_uid, st.st_gid), (pw.pw_uid, pw.pw_gid), "Maildir belongs to facteur")
    t.is_(stat.S_IMODE(os.stat(mdir).st_mode), 0o700, "Maildir is 0700")
    st = os.stat(CDB)
    t.is_((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, pw.pw_gid, 0o640), "users.cdb stays root:facteur 0640")
    t.is_(stat.S_IMODE(os.stat(c + "/users").st_mode), 0o600, "control/users stays 0600")

if HAVE_CP:
    t.is_(login("alice@example.org", b"alice-secret"), 0, "checkpassword accepts the password")
    t.is_(login("alice@example.org", b"alice-secreT"), 1, "checkpassword refuses a wrong one")
else:
    t.diag("facteur-checkpassword not built: login checks skipped")

rc, out, err = users("add", "alice@example.org", pw=b"again\n")
t.is_(rc, 73, "adding an existing user exits 73")
t.ok(b"already exists" in err, "and says so")

# passwd, with CRLF and no final newline
rc, out, err = users("passwd", "alice@example.org", pw=b"new-secret\r\n")
t.is_(rc, 0, "passwd exits 0")
rc, v2 = cdbq("alice@example.org")
t.ok(v2.partition(b"\0")[0] != hashv, "passwd changed the hash")
if HAVE_CP:
    t.is_(login("alice@example.org", b"new-secret"), 0, "new password works (CR stripped)")
    t.is_(login("alice@example.org", b"alice-secret"), 1, "old password no longer works")
rc, out, err = users("add", "bob@example.net", pw=b"bob pass with spaces")
t.is_(rc, 0, "add without a final newline")
if HAVE_CP:
    t.is_(login("bob@example.net", b"bob pass with spaces"), 0, "the whole line is the password")

# an admin-written maildir field survives passwd
with open(c + "/users", "ab") as f:
    f.write(b"carol@example.org:" + hashv + b":/srv/mail/carol/\n")
rc, out, err = users("passwd", "carol@example.org", pw=b"carol\n")
t.is_(rc, 0, "passwd on a hand-added user")
t.ok(b"carol@example.org:$argon2id$" in text() and b":/srv/mail/carol/\n" in text(), "its maildir field is kept")
rc, v = cdbq("carol@example.org")
t.ok(v.endswith(b"\0/srv/mail/carol/\0"), "and compiled")

rc, out, err = users("list")
t.is_((rc, out), (0, b"alice@example.org\nbob@example.net\ncarol@example.org\n"), "list prints the addresses")

rc, out, err = users("del", "bob@example.net")
t.is_(rc, 0, "del exits 0")
t.ok(b"kept" in err, "del says the mail is kept")
t.ok(os.path.isdir(os.path.join(home, "mail/example.net/bob/new")), "bob's Maildir is still there")
t.is_(cdbq("bob@example.net")[0], 100, "bob is gone from users.cdb")
t.is_(users("list")[1], b"alice@example.org\ncarol@example.org\n", "and from the list")
t.is_(users("del", "bob@example.net")[0], 67, "del of an unknown user exits 67")
t.is_(users("passwd", "nobody@example.org", pw=b"x\n")[0], 67, "passwd of an unknown user exits 67")

# invalid input, each refused with a reason, the map untouched
before = text()
bad = [("bob", "@domain"), ("bob@", "domain"), ("@example.org", "empty local"),
       (".bob@example.org", "starts or ends"), ("bob.@example.org", "starts or ends"),
       ("b..ob@example.org", "'..'"), ("a/b@example.org", "'/'"), ("../x@example.org", "starts or ends"),
       ("bob+tag@example.org", "'+'"), ("bob%x@example.org", "relay"), ("b!x@example.org", "relay"),
       ('"bob"@example.org', "dot-atom"), ("bob@[127.0.0.1]", "literal"), ("bob@exa_mple.org", "host name"),
       ("bob@example.org.", "host name"), ("bob@nowhere.test", "not a local domain"),
       ("b\nob@example.org", "dot-atom"), ("b ob@example.org", "dot-atom"), ("bob@a@example.org", "one '@'"),
       ("x" * 65 + "@example.org", "longer than 64"), ("bob@" + "a." * 130 + "org", "")]
for a, why in bad:
    rc, out, err = users("add", a, pw=b"pw\n")
    t.ok(rc == 65 and (b"invalid address" in err or b"not a local" in err) and why.encode() in err,
         "refused %r (%d: %r)" % (a[:40], rc, err[:120]))
t.is_(text(), before, "control/users unchanged by the refusals")
for pw, why in ((b"\n", "empty"), (b"", "empty"), (b"x" * 513 + b"\n", "longer"), (b"a\0b\n", "NUL")):
    rc, out, err = users("add", "dave@example.org", pw=pw)
    t.ok(rc == 65 and why.encode() in err, "password refused: %s (%d %r)" % (why, rc, err[:80]))
t.is_(users("add", "dave@example.org", pw=b"x" * 512 + b"\n")[0], 0, "a 512-byte password is fine")
for args in ([], ["frob"], ["add"], ["list", "x"], ["add", "a@example.org", "b"]):
    t.is_(users(*args)[0], 64, "usage error for %r" % (args,))

# a hand-broken map line stops the rebuild, names the line, keeps users.cdb
with open(c + "/users", "ab") as f:
    f.write(b"broken line\n")
cdb_before = open(CDB, "rb").read()
rc, out, err = users("add", "erin@example.org", pw=b"pw\n")
t.ok(rc != 0 and b"control/users line" in err, "a broken line is reported: %r" % err[:100])
t.is_(open(CDB, "rb").read(), cdb_before, "users.cdb untouched")
t.ok(b"erin@" not in text(), "control/users untouched")
with open(c + "/users", "wb") as f:
    f.write(before)

# a reader never sees a broken users.cdb while the map is rebuilt many times
stop = threading.Event()
bad_reads = []
reads = [0]


def reader():
    end = time.time() + 60
    while not stop.is_set() and time.time() < end:
        rc, v = cdbq("alice@example.org")
        reads[0] += 1
        if rc != 0 or not v.startswith(b"$argon2id$"):
            bad_reads.append((rc, v[:40]))


th = threading.Thread(target=reader)
th.start()
procs = []
for i in range(8):
    # run in parallel: the lock must serialise them without losing one
    procs.append(subprocess.Popen([ft.bin_path("facteur-users"), "add", "u%d@example.net" % i],
                                  env=ft.env_for(home), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE))
for p in procs:
    p.communicate(b"pw%d\n" % 1, timeout=60)
for i in range(6):
    users("passwd", "alice@example.org", pw=b"new-secret\n")
stop.set()
th.join()
t.ok(reads[0] > 10 and not bad_reads, "%d reads during rebuilds, none broken %r" % (reads[0], bad_reads[:3]))
t.ok(all(p.returncode == 0 for p in procs), "8 concurrent adds all succeed")
lst = users("list")[1].split()
t.ok(all(("u%d@example.net" % i).encode() in lst for i in range(8)), "and none is lost")
t.ok(not [f for f in os.listdir(c) if f.endswith(".tmp")], "no temporary file left in control/")

# a symbolic link planted under mail/ (facteur owns it) must not lead
# root's mkdir and chown elsewhere
target = ft.tempdir()
link = os.path.join(home, "mail", "example.org", "mallory")
os.symlink(target, link)
rc, out, err = users("add", "mallory@example.org", pw=b"pw\n")
t.ok(rc != 0 and os.listdir(target) == [], "a Maildir path through a symlink is refused (%d %r)" % (rc, err[:100]))
t.ok(b"mallory@" not in text(), "and the user is not added")
os.makedirs(os.path.join(home, "mail", "example.org", "trent"))
os.symlink(target, os.path.join(home, "mail", "example.org", "trent", "cur"))
rc, out, err = users("add", "trent@example.org", pw=b"pw\n")
t.ok(rc != 0 and os.listdir(target) == [], "a symlinked cur/ is refused too")
