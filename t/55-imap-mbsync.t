#!/usr/bin/env python3
# A real client: mbsync (isync) pulls a mailbox and its folders from
# facteur-imapd into a local Maildir over loopback, then pushes a local
# change (a new message and a flag) back, and a second run is a no-op.
import os, re, shutil, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
if not shutil.which("mbsync"):
    t.skip_all("mbsync (isync) not installed")
home = ft.make_instance()
p, port = ft.tcpserver([ft.bin_path("facteur-imapd")], home)
md = os.path.join(home, "mail", "example.org", "alice")
for i in range(5):
    rc, out, err = ft.run("facteur-deliver", [md], stdin=b"Subject: pull %d\r\nFrom: a@b.c\r\n\r\nbody %d\r\n" % (i, i), home=home)
    t.is_(rc, 0, "delivered %d" % i)

work = ft.tempdir()
local = os.path.join(work, "local")
os.makedirs(local)
rc_path = os.path.join(work, "mbsyncrc")
with open(rc_path, "w") as f:
    f.write("""IMAPAccount facteur
Host 127.0.0.1
Port %d
User alice@example.org
Pass alice-secret
SSLType None
AuthMechs %s

IMAPStore remote
Account facteur

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel pull
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""" % (port, "LOGIN", local, local))

def mbsync():
    pr = subprocess.run(["mbsync", "-c", rc_path, "-a"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return pr.returncode, pr.stdout.decode("utf-8", "replace")

rc, out = mbsync()
t.is_(rc, 0, "mbsync pull exits 0")
if rc:
    t.diag(out)
inbox = os.path.join(local, "INBOX")
got = sorted(m for sub in ("cur", "new") for m in ft.maildir_messages(inbox, sub))
t.is_(len(got), 5, "5 messages pulled")
# mbsync stores LF lines and adds its X-TUID header
srv = sorted(m for sub in ("cur", "new") for m in ft.maildir_messages(md, sub))
t.is_([re.sub(rb"X-TUID: [^\n]*\n", b"", m).replace(b"\r\n", b"\n") for m in got],
      [m.replace(b"\r\n", b"\n") for m in srv], "contents kept")
t.ok(os.path.isdir(os.path.join(local, "Sent")) and os.path.isdir(os.path.join(local, "Trash")), "folders pulled")

# push: a new local message in Sent, and \Seen on one INBOX message
sent = os.path.join(local, "Sent")
with open(os.path.join(sent, "cur", "1700000000.local1.host:2,S"), "wb") as f:
    f.write(b"Subject: pushed\r\n\r\nfrom mbsync\r\n")
name = sorted(os.listdir(os.path.join(inbox, "cur")) + os.listdir(os.path.join(inbox, "new")))[0]
src = os.path.join(inbox, "cur", name) if os.path.exists(os.path.join(inbox, "cur", name)) else os.path.join(inbox, "new", name)
base = name.split(":2,")[0]
os.rename(src, os.path.join(inbox, "cur", base + ":2,FS"))
rc, out = mbsync()
t.is_(rc, 0, "mbsync push exits 0")
if rc:
    t.diag(out)
srv_sent = [m for sub in ("cur", "new") for m in ft.maildir_messages(os.path.join(md, ".Sent"), sub)]
# mbsync adds its own X-TUID header when it uploads
t.ok(len(srv_sent) == 1 and srv_sent[0].startswith(b"Subject: pushed\r\n") and srv_sent[0].endswith(b"\r\n\r\nfrom mbsync\r\n"),
     "APPEND from mbsync landed in .Sent")
flagged = [n for n in os.listdir(os.path.join(md, "cur")) if re.search(r":2,[A-Za-z]*F", n)]
t.is_(len(flagged), 1, "\\Flagged pushed into a file name")

rc, out = mbsync()
t.is_(rc, 0, "third run exits 0")
got2 = sorted(m for sub in ("cur", "new") for m in ft.maildir_messages(inbox, sub))
t.is_(len(got2), 5, "no duplicates after a resync")

# PLAIN too
with open(rc_path) as f:
    conf = f.read().replace("AuthMechs LOGIN", "AuthMechs PLAIN")
with open(rc_path, "w") as f:
    f.write(conf)
rc, out = mbsync()
t.is_(rc, 0, "mbsync with AUTHENTICATE PLAIN")
