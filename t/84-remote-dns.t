#!/usr/bin/env python3
"""facteur-remote and lib/dns against a scripted DNS server
(t/data/remote-dns.py) for what dnsmasq never sends: a truncated answer
(retried over TCP), SERVFAIL, REFUSED, silence, garbage, CNAME loops and
chains, the null MX (RFC 7505), AAAA records and IPv6 peers."""
import importlib.util
import os
import socket
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

rl = ft.data_module("remotelib", "remote-lib.py")
rp = rl.load("remotepeer", "remote-peer.py")
rd = rl.load("remotedns", "remote-dns.py")
t = rl.tap()
inst = rl.Instance()
control = inst.control


port = ft.free_port()
try:
    good = rp.Peer({}, host="127.0.0.2", port=port, max_conns=32)
except OSError as e:
    t.skip_all("cannot listen on 127.0.0.2: %s" % e)
zone = {
    ("tc.test", "MX"): ("tc", ("mx", [(10, "mx.tc.test")])),
    ("mx.tc.test", "A"): ("a", ["127.0.0.2"]),
    ("big.test", "MX"): ("tc", ("mxpad", [(10, "mx.tc.test")] * 40, 65535)),
    ("servfail.test", "MX"): ("servfail",),
    ("refused.test", "MX"): ("refused",),
    ("silent.test", "MX"): ("silent",),
    ("garbage.test", "MX"): ("garbage",),
    ("loop.test", "MX"): ("cnameloop",),
    ("nullmx.test", "MX"): ("mx", [(0, "")]),
    ("mixed.test", "MX"): ("mx", [(0, ""), (10, "mx.tc.test")]),
    ("chain.test", "MX"): ("cname", "real.test"),
    ("real.test", "MX"): ("mx", [(10, "mx.tc.test")]),
    ("badmx.test", "MX"): ("mx", [(10, "mx.servfail.test")]),
    ("mx.servfail.test", "A"): ("servfail",),
    ("mx.servfail.test", "AAAA"): ("servfail",),
    ("nxmx.test", "MX"): ("mx", [(10, "nowhere.test")]),
    # bücher.test and 例子.test by their A-labels (RFC 5890)
    ("xn--bcher-kva.test", "MX"): ("mx", [(10, "mx.idn.test")]),
    ("xn--fsqu00a.test", "A"): ("a", ["127.0.0.3"]),
    ("mx.idn.test", "A"): ("a", ["127.0.0.3"]),
}
have6 = True
try:
    s6 = socket.socket(socket.AF_INET6)
    s6.bind(("::1", 0))
    s6.close()
except OSError:
    have6 = False
if have6:
    zone[("v6.test", "AAAA")] = ("aaaa", ["::1"])
    zone[("v6.test", "A")] = ("a", [])
dns = rd.DNS(zone)

control("me", "facteur.test\n")
control("remotetimeout", "1\n")
control("remoteport", "%d\n" % port)
control("nameservers", "127.0.0.1:%d\n" % dns.port)
MSG = b"Subject: dns\n\nhello\n"


def remote(domain, rcpts=None):
    start = time.time()
    p = inst.run([domain, "s@facteur.test"] + (rcpts or ["a@" + domain]), MSG, timeout=60)
    return rl.fields(p.stdout), time.time() - start


n0 = len(good.messages)
lines, _ = remote("tc.test")
t.is_([l[1] for l in lines], ["2"], "truncated answer: asked again over TCP, delivered")
t.ok(("tc.test", 15, "tcp") in dns.queries, "the MX question went over TCP")
t.is_(len(good.messages) - n0, 1, "one message delivered")

n0 = len(good.messages)
lines, _ = remote("big.test")
t.is_([l[1] for l in lines], ["2"], "a 65535-byte answer over TCP: parsed, delivered")
t.is_(len(good.messages) - n0, 1, "delivered once")

for dom, what in (("servfail.test", "SERVFAIL"), ("refused.test", "REFUSED"), ("garbage.test", "a garbage answer"),
                  ("loop.test", "a CNAME loop")):
    lines, took = remote(dom)
    t.ok(lines and lines[0][1] == "4" and "4.4.3" in lines[0][2], "%s: temporary 4.4.3" % what)
lines, took = remote("silent.test")
t.ok(lines and lines[0][1] == "4" and "4.4.3" in lines[0][2], "no answer: temporary 4.4.3")
t.ok(took < 10, "no answer: bounded by the timeout (%.1fs)" % took)
before = len([q for q in dns.queries if q[0] == "silent.test"])
t.ok(1 <= before <= 4, "no answer: a bounded number of tries (%d)" % before)

lines, _ = remote("nullmx.test", ["a@nullmx.test", "b@nullmx.test"])
t.ok(len(lines) == 2 and all(l[1] == "5" and l[2].startswith("5.1.10") for l in lines), "null MX: permanent 5.1.10")
lines, _ = remote("mixed.test")
t.is_([l[1] for l in lines], ["2"], "a null MX among others is ignored")

lines, _ = remote("chain.test")
t.is_([l[1] for l in lines], ["2"], "MX through a CNAME asked again")
lines, _ = remote("badmx.test")
t.ok(lines and lines[0][1] == "4" and "4.4.3" in lines[0][2], "MX host lookup SERVFAIL: temporary")
lines, _ = remote("nxmx.test")
t.ok(lines and lines[0][1] == "4", "MX host that does not exist: temporary")
lines, _ = remote("nonexistent.test")
t.ok(lines and lines[0][1] == "5" and lines[0][2].startswith("5.1.2"), "NXDOMAIN: permanent 5.1.2")

# IPv6: AAAA through a route, and an IPv6 literal route
if have6:
    p6 = rp.Peer({}, host="::1", port=0)
    control("smtproutes", "v6.test [v6.test]:%d\n" % p6.port)
    lines, _ = remote("v6.test")
    t.is_([l[1] for l in lines], ["2"], "AAAA record, IPv6 peer")
    control("smtproutes", "v6.test [::1]:%d\n" % p6.port)
    lines, _ = remote("v6.test")
    t.is_([l[1] for l in lines], ["2"], "IPv6 literal route")
    t.is_(len(p6.messages), 2, "both over IPv6")
    p6.stop()
    control("smtproutes", None)
else:
    for i in range(3):
        t.ok(True, "# SKIP no IPv6 loopback")

# address literals as domains
lines, _ = remote("[127.0.0.1]")
t.ok(lines and lines[0][1] == "4" and "loop" in lines[0][2], "address literal of this host: mail loop")
lines, _ = remote("[300.1.1.1]")
t.ok(lines and lines[0][1] == "5", "bad address literal: permanent")

# a domain with non-ASCII labels (an SMTPUTF8 recipient) is looked up
# by its A-labels: the MX, and the implicit MX of a domain without one
try:
    idn = rp.Peer({"ehlo": [b"PIPELINING", b"8BITMIME", b"SMTPUTF8"]}, host="127.0.0.3", port=port)
except OSError as e:
    idn = None
    t.ok(False, "cannot listen on 127.0.0.3: %s" % e)
if idn:
    n0 = len(dns.queries)
    lines, _ = remote("b\u00fccher.test", ["a@b\u00fccher.test"])
    t.is_([l[1] for l in lines], ["2"], "b\u00fccher.test: MX of xn--bcher-kva.test, delivered")
    t.ok(("xn--bcher-kva.test", 15, "udp") in dns.queries[n0:] and
         not [q for q in dns.queries[n0:] if "\ufffd" in q[0]],
         "the DNS was asked for the A-label only (%s)" % dns.queries[n0:])
    lines, _ = remote("\u4f8b\u5b50.test", ["a@\u4f8b\u5b50.test"])
    t.is_([l[1] for l in lines], ["2"], "\u4f8b\u5b50.test: no MX, the A record of xn--fsqu00a.test, delivered")
    rcpts = [r if isinstance(r, bytes) else r.encode("utf-8", "surrogateescape")
             for m in idn.messages for r in m[1]]
    t.ok(len(idn.messages) == 2 and any(b"a@b\xc3\xbccher.test" in r for r in rcpts),
         "the envelope keeps the UTF-8 address, SMTPUTF8 to the peer")
    idn.stop()
lines, _ = remote("b\u00fc..test", ["a@b\u00fc..test"])
t.ok(lines and lines[0][1] == "5" and "5.1.2" in lines[0][2], "a name with no ASCII form: permanent 5.1.2")

# a bad nameservers file
control("nameservers", "ns.example.org\n")
lines, _ = remote("tc.test")
t.ok(lines and lines[0][1] == "4" and "nameservers" in lines[0][2], "bad control/nameservers: temporary")
good.stop()
dns.stop()
