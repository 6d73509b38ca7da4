#!/usr/bin/env python3
# Disk full and descriptor exhaustion during delivery: exit 75 (4.2.2 for
# facteur-local), and nothing partial in new/ or tmp/; the Maildir works
# again once there is room. Needs root to mount a small tmpfs.
import atexit
import os
import pwd
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
if os.getuid() != 0:
    t.skip_all("mounting a small tmpfs needs root")
try:
    pw = pwd.getpwnam(os.environ.get("FACTEUR_USER") or "facteur")
except KeyError:
    t.skip_all("no facteur user to deliver as")


def mount(path, size, mode="0755"):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=%s,uid=%d,gid=%d" % (size, mode, pw.pw_uid, pw.pw_gid),
                        "tmpfs", path], capture_output=True)
    if r.returncode != 0:
        return False
    atexit.register(lambda: subprocess.run(["umount", "-l", path], capture_output=True))
    return True


def listing(md):
    return {s: sorted(os.listdir(os.path.join(md, s))) for s in ("new", "tmp", "cur") if os.path.isdir(os.path.join(md, s))}


base = ft.tempdir()
os.chmod(base, 0o755)
mnt = os.path.join(base, "small")
os.mkdir(mnt)
if not mount(mnt, "256k"):
    t.skip_all("mount -t tmpfs failed (no CAP_SYS_ADMIN here?)")
md = os.path.join(mnt, "Maildir")

big = b"Subject: big\n\n" + (b"z" * 99 + b"\n") * 4000        # 400 KB: the spool itself fails
mid = b"Subject: mid\n\n" + (b"m" * 99 + b"\n") * 1500        # 150 KB: spool fits, the copy does not
rc, out, err = ft.run("facteur-deliver", ["-d", "a@example.org", md], stdin=big)
t.is_(rc, 75, "disk full while spooling: 75")
t.is_(listing(md), {"new": [], "tmp": [], "cur": []}, "nothing in new/ or tmp/")
rc, out, err = ft.run("facteur-deliver", ["-d", "a@example.org", md], stdin=mid)
t.is_(rc, 75, "disk full while writing tmp/NAME: 75")
t.is_(listing(md), {"new": [], "tmp": [], "cur": []}, "still nothing in new/ or tmp/")
rc, out, err = ft.run("facteur-deliver", ["-d", "a@example.org", md], stdin=b"Subject: small\n\nok\n")
t.is_(rc, 0, "a small message fits: all space was given back")
t.is_(len(listing(md)["new"]), 1, "and it is in new/")

# too few descriptors: EMFILE is temporary too
p = subprocess.run(["sh", "-c", 'ulimit -n 5; exec "$0" "$@"', ft.bin_path("facteur-deliver"), md],
                   input=b"Subject: fds\n\nx\n", capture_output=True, timeout=30)
t.is_(p.returncode, 75, "out of descriptors (EMFILE): 75")
t.is_(len(listing(md)["new"]), 1, "nothing added")
t.is_(listing(md)["tmp"], [], "nothing left in tmp/")

# facteur-local: a user's Maildir on the small file system
if os.path.exists(ft.bin_path("facteur-setup")):
    home = ft.make_instance(users=(("erin@example.org", "pw-e"),))
    emd = os.path.join(home, "mail", "example.org", "erin")
    os.makedirs(emd, exist_ok=True)
    if mount(emd, "128k", mode="0700"):
        rc, out, err = ft.run("facteur-local", ["s@example.net", "erin@example.org"], stdin=big, home=home)
        t.is_(rc, 75, "facteur-local, mailbox full: 75")
        t.like(out, b"4.2.2 ", "status 4.2.2 (mailbox full)")
        t.is_(listing(emd), {"new": [], "tmp": [], "cur": []}, "nothing partial in erin's new/ or tmp/")
        rc, out, err = ft.run("facteur-local", ["s@example.net", "erin@example.org"], stdin=b"Subject: s\n\nok\n", home=home)
        t.ok(rc == 0 and len(listing(emd)["new"]) == 1, "room again: delivered")
