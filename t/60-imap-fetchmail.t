#!/usr/bin/env python3
# Another real client: fetchmail retrieves over IMAP from facteur-imapd,
# hands each message to facteur-deliver, and deletes it on the server
# (STORE \Deleted, EXPUNGE); a second run finds nothing.
import os, shutil, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
if not shutil.which("fetchmail"):
    t.skip_all("fetchmail not installed")
home = ft.make_instance()
p, port = ft.tcpserver([ft.bin_path("facteur-imapd")], home)
md = os.path.join(home, "mail", "example.org", "alice")
sent = []
for i in range(3):
    body = b"Subject: fm %d\r\nFrom: a@b.c\r\n\r\nbody %d\r\n" % (i, i)
    rc, out, err = ft.run("facteur-deliver", [md], stdin=body, home=home)
    t.is_(rc, 0, "delivered %d" % i)
work = ft.tempdir()
dest = os.path.join(work, "dest")
os.makedirs(dest)
if os.geteuid() == 0:
    import pwd
    pw = pwd.getpwnam("facteur")
    os.chown(dest, pw.pw_uid, pw.pw_gid)
    os.chmod(work, 0o755)
rcfile = os.path.join(work, "fetchmailrc")
with open(rcfile, "w") as f:
    f.write('poll 127.0.0.1 service %d protocol IMAP user "alice@example.org" password "alice-secret" '
            'sslproto "" mda "%s %s/"\n' % (port, ft.bin_path("facteur-deliver"), dest))
os.chmod(rcfile, 0o600)

def fetch():
    r = subprocess.run(["fetchmail", "-f", rcfile, "-v", "--nodetach", "--nosyslog", "--nokeep",
                        "-i", os.path.join(work, "idfile")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=dict(ft.env_for(home), HOME=work), timeout=60)
    return r.returncode, r.stdout.decode("utf-8", "replace")

rc, out = fetch()
t.is_(rc, 0, "fetchmail exits 0")
if rc:
    t.diag(out[-2000:])
got = sorted(ft.maildir_messages(dest, "new"))
t.is_(len(got), 3, "3 messages retrieved")
t.ok(all(b"Subject: fm " in m and b"\nbody " in m for m in got), "contents intact")
left = [n for sub in ("cur", "new") for n in os.listdir(os.path.join(md, sub))]
t.is_(left, [], "deleted on the server (STORE \\Deleted, EXPUNGE)")
rc, out = fetch()
t.is_(rc, 1, "second run: no mail (fetchmail exit 1)")
