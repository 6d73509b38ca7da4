#!/usr/bin/env python3
"""Two facteur hosts in network namespaces (10.99.0.1 a.test, 10.99.0.2
b.test, joined by a veth pair) with dnsmasq serving their MX and A
records: the whole chain facteur-sendmail -> facteur-queue ->
facteur-send -> facteur-remote -> (MX lookup, STARTTLS) -> facteur-smtpd
-> facteur-queue -> facteur-send -> facteur-local. Mail both ways, an
unknown user bounced back to the sender, and B down: retried and
delivered once B is back. Needs root (ip netns)."""
import atexit
import os
import shutil
import subprocess
import sys
import time
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
if os.geteuid() != 0:
    t.skip_all("not root: network namespaces need root")
for prog in ("ip", "tcpserver", "dnsmasq"):
    if not shutil.which(prog) and not os.path.exists("/usr/sbin/" + prog):
        t.skip_all(prog + " is not installed")
for p in ("facteur-smtpd", "facteur-send", "facteur-queue", "facteur-local", "facteur-sendmail"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

tag = "%d" % os.getpid()
NA, NB = "fta" + tag, "ftb" + tag
VA, VB = "fva" + tag, "fvb" + tag


def ip(*args):
    return subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def netns_cleanup():
    ip("netns", "del", NA)
    ip("netns", "del", NB)


ft._cleanups.append(netns_cleanup)
r = ip("netns", "add", NA)
if r.returncode != 0:
    t.skip_all("ip netns add failed: %s" % r.stdout.decode(errors="replace").strip())
steps = [("netns", "add", NB), ("link", "add", VA, "type", "veth", "peer", "name", VB),
         ("link", "set", VA, "netns", NA), ("link", "set", VB, "netns", NB),
         ("-n", NA, "addr", "add", "10.99.0.1/24", "dev", VA), ("-n", NB, "addr", "add", "10.99.0.2/24", "dev", VB),
         ("-n", NA, "link", "set", VA, "up"), ("-n", NB, "link", "set", VB, "up"),
         ("-n", NA, "link", "set", "lo", "up"), ("-n", NB, "link", "set", "lo", "up")]
for s in steps:
    r = ip(*s)
    if r.returncode != 0:
        t.skip_all("ip %s failed: %s" % (" ".join(s), r.stdout.decode(errors="replace").strip()))

top = ft.tempdir()
os.chmod(top, 0o755)


def instance(name, host, dom, user):
    home = ft.make_instance(hostname=host, domains=(dom,), users=((user, "secret-" + name),),
                            home=os.path.join(top, name))
    for k, v in (("nameservers", "10.99.0.1:53"), ("retrybase", "1"), ("retrymax", "2"),
                 ("remotetimeout", "10")):
        with open(os.path.join(home, "control", k), "w") as f:
            f.write(v + "\n")
    return home


homeA = instance("a", "mx.a.test", "a.test", "alice@a.test")
homeB = instance("b", "mx.b.test", "b.test", "bob@b.test")
dns = ft.start(["ip", "netns", "exec", NA, "dnsmasq", "--no-daemon", "--port=53", "--listen-address=10.99.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=" + os.path.join(top, "dnsmasq.pid"), "--local=/test/",
                "--mx-host=a.test,mx.a.test,10", "--host-record=mx.a.test,10.99.0.1",
                "--mx-host=b.test,mx.b.test,10", "--host-record=mx.b.test,10.99.0.2"], ft.env_for(homeA))


def netns_port_up(ns, addr, port):
    code = "import socket,sys\ntry:\n socket.create_connection((%r,%d),1).close()\nexcept OSError:\n sys.exit(1)\n" % (addr, port)
    return subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", code]).returncode == 0


def smtpd(ns, home, addr, log):
    p = ft.start(["ip", "netns", "exec", ns, "tcpserver", "-HRl0", addr, "25", ft.bin_path("facteur-smtpd")],
                 ft.env_for(home), stderr=open(log, "ab"))
    ft.wait_for(lambda: netns_port_up(ns, addr, 25), timeout=10, step=0.2)
    return p


logA, logB = os.path.join(top, "a.log"), os.path.join(top, "b.log")
smtpdA = smtpd(NA, homeA, "10.99.0.1", logA)
smtpdB = smtpd(NB, homeB, "10.99.0.2", logB)
sendA = ft.start(["ip", "netns", "exec", NA, ft.bin_path("facteur-send")], ft.env_for(homeA), stderr=open(logA, "ab"))
sendB = ft.start(["ip", "netns", "exec", NB, ft.bin_path("facteur-send")], ft.env_for(homeB), stderr=open(logB, "ab"))
t.ok(netns_port_up(NA, "10.99.0.1", 25) and netns_port_up(NB, "10.99.0.2", 25), "both hosts listen on port 25")


def sendmail(home, sender, rcpt, subject, body="hello\n"):
    msg = "From: %s\nTo: %s\nSubject: %s\n\n%s" % (sender, rcpt, subject, body)
    return ft.run("facteur-sendmail", ["-f", sender, rcpt], stdin=msg.encode(), home=home)[0]


def box(home, dom, user):
    return ft.maildir_messages(os.path.join(home, "mail", dom, user))


def with_subject(msgs, subject):
    return [m for m in msgs if ("Subject: " + subject).encode() in m]


def dump_logs():
    for lf in (logA, logB):
        try:
            with open(lf, "rb") as f:
                t.diag(f.read().decode(errors="replace")[-3000:])
        except OSError:
            pass


# A -> B through B's MX
t.is_(sendmail(homeA, "alice@a.test", "bob@b.test", "a to b"), 0, "alice's message queued at A")
got = ft.wait_for(lambda: with_subject(box(homeB, "b.test", "bob"), "a to b"), timeout=20, step=0.2)
if not t.is_(len(got or []), 1, "bob@b.test got alice's message through MX"):
    dump_logs()
if got:
    m = got[0]
    t.ok(b"from mx.a.test" in m and b"ESMTPS" in m, "B's Received header: A's EHLO name, over TLS")

# B -> A
t.is_(sendmail(homeB, "bob@b.test", "alice@a.test", "b to a"), 0, "bob's reply queued at B")
got = ft.wait_for(lambda: with_subject(box(homeA, "a.test", "alice"), "b to a"), timeout=20, step=0.2)
t.is_(len(got or []), 1, "alice@a.test got bob's reply")

# unknown user at B: refused at RCPT, bounced by A to alice
t.is_(sendmail(homeA, "alice@a.test", "nobody@b.test", "to nobody"), 0, "message to nobody@b.test queued")


def bounce():
    return [m for m in box(homeA, "a.test", "alice") if b"nobody@b.test" in m and b"delivery-status" in m]


got = ft.wait_for(bounce, timeout=20, step=0.2)
t.is_(len(got or []), 1, "alice got a bounce for nobody@b.test")
if got:
    t.ok(b"5.1.1" in got[0] and b"mx.b.test" in got[0], "the bounce quotes B's 5.1.1 and names B")
    t.ok(b"Status: 5.1.1" in got[0], "the bounce's Status is B's enhanced code")

# B down: the message waits, then goes when B is back
smtpdB.stop()
t.ok(not netns_port_up(NB, "10.99.0.2", 25), "B's SMTP server stopped")
t.is_(sendmail(homeA, "alice@a.test", "bob@b.test", "while down"), 0, "message queued while B is down")
time.sleep(3)
t.is_(with_subject(box(homeB, "b.test", "bob"), "while down"), [], "not delivered while B is down")
t.is_(with_subject(box(homeA, "a.test", "alice"), "while down"), [], "no bounce to alice for a temporary failure")
smtpdB = smtpd(NB, homeB, "10.99.0.2", logB)
got = ft.wait_for(lambda: with_subject(box(homeB, "b.test", "bob"), "while down"), timeout=25, step=0.2)
if not t.is_(len(got or []), 1, "delivered after B came back (retry)"):
    dump_logs()
