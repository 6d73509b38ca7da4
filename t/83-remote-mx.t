#!/usr/bin/env python3
"""facteur-remote through a real MX lookup: dnsmasq on a loopback port
(control/nameservers), peers on 127.0.0.x at control/remoteport. MX
preference order, the next MX when one refuses or says 421, equal
preferences shared, the implicit MX, NXDOMAIN, MX pointing to ourselves
(by name and by address), and a backup MX that must not be used by its
own primary."""
import importlib.util
import os
import shutil
import socket
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

rl = ft.data_module("remotelib", "remote-lib.py")

t = rl.tap()
if not shutil.which("dnsmasq") and not os.path.exists("/usr/sbin/dnsmasq"):
    t.skip_all("dnsmasq is not installed")
rp = rl.load("remotepeer", "remote-peer.py")

inst = rl.Instance()
top, home, control = inst.top, inst.home, inst.control


# peers: .2 and .5 accept, .4 answers 421; nothing listens on .3
port = ft.free_port()
try:
    good = rp.Peer({}, host="127.0.0.2", port=port, max_conns=64)
    busy = rp.Peer({"greeting": b"421 4.3.2 busy\r\n"}, host="127.0.0.4", port=port, max_conns=16)
    other = rp.Peer({}, host="127.0.0.5", port=port, max_conns=64)
except OSError as e:
    t.skip_all("cannot listen on 127.0.0.2-5: %s" % e)

dport = ft.free_port()
records = [
    "--mx-host=example.net,mx1.example.net,10", "--mx-host=example.net,mx2.example.net,20",
    "--host-record=mx1.example.net,127.0.0.3", "--host-record=mx2.example.net,127.0.0.2",
    "--mx-host=busy.test,mxa.busy.test,10", "--mx-host=busy.test,mxb.busy.test,20",
    "--host-record=mxa.busy.test,127.0.0.4", "--host-record=mxb.busy.test,127.0.0.2",
    "--host-record=implicit.test,127.0.0.2",
    "--mx-host=loop.test,facteur.test,10", "--host-record=facteur.test,127.0.0.2",
    "--mx-host=self.test,mxself.test,10", "--host-record=mxself.test,127.0.0.1",
    "--mx-host=pref.test,facteur.test,10", "--mx-host=pref.test,backup.pref.test,20",
    "--host-record=backup.pref.test,127.0.0.2",
    "--mx-host=back.test,primary.back.test,10", "--mx-host=back.test,facteur.test,20",
    "--host-record=primary.back.test,127.0.0.5",
    "--mx-host=eq.test,a.eq.test,10", "--mx-host=eq.test,b.eq.test,10",
    "--host-record=a.eq.test,127.0.0.2", "--host-record=b.eq.test,127.0.0.5",
    "--txt-record=empty.test,nothing here",
]
dns = ft.start(["dnsmasq", "--no-daemon", "--port=%d" % dport, "--listen-address=127.0.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=" + os.path.join(top, "dnsmasq.pid"), "--local=/test/", "--local=/net/"] + records,
               ft.env_for(home))


def dns_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03net\x00\x00\x0f\x00\x01"
    try:
        s.sendto(q, ("127.0.0.1", dport))
        return s.recv(512)[:2] == b"\x12\x34"
    except OSError:
        return False
    finally:
        s.close()


if not ft.wait_for(dns_up, timeout=10):
    t.skip_all("dnsmasq did not start")

control("me", "facteur.test\n")
control("remotetimeout", "3\n")
control("remoteport", "%d\n" % port)
control("nameservers", "127.0.0.1:%d\n" % dport)
control("smtproutes", None)
MSG = b"Subject: mx\n\nhello\n"


def remote(domain, rcpts):
    return inst.remote([domain, "s@facteur.test"] + list(rcpts), MSG)


def count(peer):
    return len(peer.messages)


n0 = count(good)
rc, lines, err = remote("example.net", ["a@example.net"])
t.is_([l[1] for l in lines], ["2"], "MX 10 refuses, MX 20 delivers")
t.is_(count(good) - n0, 1, "delivered to mx2.example.net")
t.ok("127.0.0.3" in err, "the failed MX is logged")

n0 = count(good)
rc, lines, err = remote("busy.test", ["a@busy.test"])
t.is_([l[1] for l in lines], ["2"], "MX 10 says 421, MX 20 delivers")
t.is_(count(good) - n0, 1, "delivered to the second MX")
t.ok(len(busy.conns) >= 1, "the 421 host was tried first")

n0 = count(good)
rc, lines, err = remote("implicit.test", ["a@implicit.test"])
t.is_([l[1] for l in lines], ["2"], "no MX: the implicit MX (A record)")
t.is_(count(good) - n0, 1, "delivered to the domain's address")

rc, lines, err = remote("nosuch.test", ["a@nosuch.test"])
t.ok(lines and lines[0][1] == "5" and lines[0][2].startswith("5.1.2"), "NXDOMAIN: permanent 5.1.2")
rc, lines, err = remote("empty.test", ["a@empty.test"])
t.ok(lines and lines[0][1] == "5" and lines[0][2].startswith("5.1.2"), "no MX and no address: permanent 5.1.2")

n0 = count(good)
rc, lines, err = remote("loop.test", ["a@loop.test"])
t.ok(lines and lines[0][1] == "4" and "4.4.6" in lines[0][2] and "loop" in lines[0][2],
     "MX named like control/me: temporary, mail loop")
t.is_(count(good) - n0, 0, "nothing sent to ourselves")
rc, lines, err = remote("self.test", ["a@self.test"])
t.ok(lines and lines[0][1] == "4" and "loop" in lines[0][2], "MX resolving to our own address: mail loop")
n0 = count(good)
rc, lines, err = remote("pref.test", ["a@pref.test"])
t.ok(lines and lines[0][1] == "4" and "loop" in lines[0][2], "we are the primary MX: the backup is not used")
t.is_(count(good) - n0, 0, "nothing sent to the backup MX")
n0 = count(other)
rc, lines, err = remote("back.test", ["a@back.test"])
t.is_([l[1] for l in lines], ["2"], "we are the backup MX: the primary gets it")
t.is_(count(other) - n0, 1, "delivered to the primary")

g0, o0 = count(good), count(other)
for i in range(16):
    remote("eq.test", ["a@eq.test"])
g, o = count(good) - g0, count(other) - o0
t.is_(g + o, 16, "equal preferences: every message delivered")
t.ok(g > 0 and o > 0, "equal preferences: both hosts used (%d/%d)" % (g, o))

# the route overrides MX, and a relay name in smtproutes goes through its MX
n0 = count(other)
control("smtproutes", "example.net [a.eq.test]:%d\nbusy.test back.test:%d\n" % (port, port))
rc, lines, err = remote("example.net", ["a@example.net"])
t.is_([l[1] for l in lines], ["2"], "smtproutes [host]:port overrides MX")
rc, lines, err = remote("busy.test", ["a@busy.test"])
t.is_([l[1] for l in lines], ["2"], "smtproutes relay name goes through its MX")
t.is_(count(other) - n0, 1, "the relay's MX got it")
control("smtproutes", None)

# no DNS server at all: temporary, bounded
control("nameservers", "127.0.0.1:%d\n" % ft.free_port())
start = time.time()
rc, lines, err = remote("example.net", ["a@example.net"])
t.ok(lines and lines[0][1] == "4" and "4.4.3" in lines[0][2], "no DNS server: temporary 4.4.3")
t.ok(time.time() - start < 20, "no DNS server: bounded time")

for p in (good, busy, other):
    p.stop()
dns.stop()
