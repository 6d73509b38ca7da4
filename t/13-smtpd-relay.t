#!/usr/bin/env python3
"""facteur-smtpd's recipient checks: local users, +tags, aliases,
postmaster, unknown users at RCPT time, relaying only for RELAYCLIENT or
control/relayclients (IPv4 and IPv6 CIDR), and the old relay tricks."""
import importlib.util
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

st = ft.data_module("smtpdt", "smtpd-tlib.py")

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-smtpd")):
    t.skip_all("bin/facteur-smtpd not built")
home, q = st.instance(domains=("example.org", "example.net"))
aliases_ok = os.path.exists(ft.bin_path("facteur-newaliases"))
if aliases_ok:
    st.write_control(home, "aliases", "sales: alice@example.org\nteam@example.net: alice@example.org, x@remote.test\n")
    rc, out, err = ft.run("facteur-newaliases", home=home)
    aliases_ok = rc == 0


def rcpt(addr, ip="192.0.2.1", **kw):
    """the reply to RCPT TO:addr"""
    rc, out, err = st.session(home, q, "EHLO c.example\r\nMAIL FROM:<bob@remote.test>\r\nRCPT TO:" +
                              addr + "\r\nQUIT\r\n", ip=ip, **kw)
    r = st.replies(out)
    return r[3] if len(r) > 3 else repr(out)


# --- local recipients ---
t.like(rcpt("<alice@example.org>"), "250 2.1.5", "local user")
t.like(rcpt("<ALICE@Example.ORG>"), "250 2.1.5", "local user, any case")
t.like(rcpt("<alice+lists@example.org>"), "250 2.1.5", "user+tag reaches user")
t.like(rcpt("<nobody@example.org>"), "550 5.1.1", "unknown user: 550 5.1.1 at RCPT")
t.like(rcpt("<alice@example.net>"), "550 5.1.1", "user of another local domain: unknown")
t.like(rcpt("<postmaster@example.org>"), "250 2.1.5", "postmaster@ a local domain")
t.like(rcpt("<postmaster@example.net>"), "250 2.1.5", "postmaster@ every local domain")
t.like(rcpt("<Postmaster>"), "250 2.1.5", "bare <Postmaster>")
t.like(rcpt("<@relay.test:alice@example.org>"), "250 2.1.5", "source route to a local user: route ignored")
if aliases_ok:
    t.like(rcpt("<sales@example.org>"), "250 2.1.5", "bare-local-part alias")
    t.like(rcpt("<sales@example.net>"), "250 2.1.5", "bare alias in every local domain")
    t.like(rcpt("<team@example.net>"), "250 2.1.5", "full-address alias")
else:
    for i in range(3):
        t.ok(True, "# SKIP facteur-newaliases not available")

st.clear(q)
rc, out, err = st.session(home, q, "EHLO c\r\nMAIL FROM:<bob@remote.test>\r\nRCPT TO:<postmaster>\r\n"
                          "DATA\r\nx\r\n.\r\nQUIT\r\n")
m = st.queued(q)
t.ok(len(m) == 1 and m[0][1] == b"Fbob@remote.test\0Tpostmaster@example.org\0\0",
     "bare <postmaster> queued as postmaster@ the first local domain")

# --- no relaying for strangers ---
t.like(rcpt("<someone@remote.test>"), "554 5.7.1", "remote recipient: 554 5.7.1")
t.like(rcpt("<someone@example.org.evil.test>"), "554 5.7.1", "look-alike domain")
t.like(rcpt("<someone@remote.test.>"), "501 5.1.3", "trailing dot: refused as syntax")
t.like(rcpt("<alice@example.org.>"), "501 5.1.3", "trailing dot on a local domain")
t.like(rcpt("<someone%remote.test@example.org>"), "550 5.1.1", "% hack at a local domain: unknown user")
t.like(rcpt("<remote.test!someone@example.org>"), "550 5.1.1", "! path at a local domain: unknown user")
t.like(rcpt("<\"someone@remote.test\"@example.org>"), "550 5.1.1", "quoted @ at a local domain: unknown user")
t.like(rcpt("<@example.org:someone@remote.test>"), "553 5.7.1", "source route to a remote: 553")
t.like(rcpt("<@example.org,@a.test:someone@remote.test>"), "553 5.7.1", "longer source route: 553")
t.like(rcpt("<someone@[127.0.0.1]>"), "553 5.7.1", "address literal [127.0.0.1]: 553")
t.like(rcpt("<alice@[192.0.2.10]>"), "553 5.7.1", "address literal of a local user: 553")
t.like(rcpt("<alice@[IPv6:::1]>"), "553 5.7.1", "IPv6 literal: 553")
t.like(rcpt("<someone@[300.0.0.1]>"), "501", "malformed literal: 501")
t.like(rcpt("someone@remote.test"), "501", "no angle brackets: 501")
t.like(rcpt("<someone@remote.test> <x@y.z>"), "555", "junk after the path")
t.like(rcpt("<someone@remote.test>", ip="127.0.0.1"), "554 5.7.1",
       "loopback is no relay client unless listed")

# --- RELAYCLIENT ---
t.like(rcpt("<someone@remote.test>", RELAYCLIENT=""), "250 2.1.5", "RELAYCLIENT set (empty): relay")
t.like(rcpt("<someone%other.test@remote.test>", RELAYCLIENT=""), "553 5.7.1", "relay client, % hack: 553")
t.like(rcpt("<other.test!someone@remote.test>", RELAYCLIENT=""), "553 5.7.1", "relay client, ! path: 553")
t.like(rcpt("<\"a@other.test\"@remote.test>", RELAYCLIENT=""), "553 5.7.1", "relay client, quoted @: 553")
t.like(rcpt("<@remote.test:someone@other.test>", RELAYCLIENT=""), "553 5.7.1", "relay client, source route: 553")
t.like(rcpt("<someone@[192.0.2.99]>", RELAYCLIENT=""), "553 5.7.1", "relay client, literal: 553")
st.clear(q)
rc, out, err = st.session(home, q, "EHLO c\r\nMAIL FROM:<bob@example.org>\r\nRCPT TO:<Someone@Remote.Test>\r\n"
                          "RCPT TO:<alice@example.org>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n", RELAYCLIENT="")
m = st.queued(q)
t.ok(len(m) == 1 and m[0][1] == b"Fbob@example.org\0TSomeone@Remote.Test\0Talice@example.org\0\0",
     "relayed message: both recipients in the envelope")

# --- control/relayclients ---
st.write_control(home, "relayclients", "# test networks\n192.0.2.0/24\n2001:db8:1::/48\n198.51.100.7\n")
t.like(rcpt("<someone@remote.test>", ip="192.0.2.1"), "250 2.1.5", "IPv4 inside a listed /24")
t.like(rcpt("<someone@remote.test>", ip="192.0.3.1"), "554 5.7.1", "IPv4 outside")
t.like(rcpt("<someone@remote.test>", ip="198.51.100.7"), "250 2.1.5", "single listed IPv4")
t.like(rcpt("<someone@remote.test>", ip="198.51.100.8"), "554 5.7.1", "its neighbour")
t.like(rcpt("<someone@remote.test>", ip="2001:db8:1:ff::5"), "250 2.1.5", "IPv6 inside a listed /48")
t.like(rcpt("<someone@remote.test>", ip="2001:db8:2::5"), "554 5.7.1", "IPv6 outside")
t.like(rcpt("<someone@remote.test>", ip="::ffff:192.0.2.9"), "250 2.1.5", "IPv4-mapped IPv6 address")
t.like(rcpt("<someone@remote.test>", ip="not-an-ip"), "554 5.7.1", "junk TCPREMOTEIP: no relay")
t.like(rcpt("<a%b@remote.test>", ip="192.0.2.1"), "553 5.7.1", "listed client, % hack: 553")
st.write_control(home, "relayclients", "")

# --- log lines for refusals ---
rc, out, err = st.session(home, q, "EHLO c\r\nMAIL FROM:<bob@remote.test>\r\nRCPT TO:<x@remote.test>\r\nQUIT\r\n")
t.ok(b"rcpt refused ip=192.0.2.1 to=<x@remote.test> 554 5.7.1" in err, "refusal logged")

# --- directory harvest: refused recipients end the session after 30 ---
guesses = "".join("RCPT TO:<guess%d@example.org>\r\n" % i for i in range(29))
rc, out, err = st.session(home, q, "EHLO c\r\nMAIL FROM:<bob@remote.test>\r\n" + guesses +
                          "RCPT TO:<alice@example.org>\r\nNOOP\r\nQUIT\r\n")
r = st.replies(out)
t.ok(len(r) == 35 and r[-3].startswith("250 2.1.5") and r[-1].startswith("221"),
     "29 refused recipients: the session goes on (%d replies)" % len(r))
rc, out, err = st.session(home, q, "EHLO c\r\nMAIL FROM:<bob@remote.test>\r\n" + guesses +
                          "RCPT TO:<guess29@example.org>\r\nNOOP\r\nQUIT\r\n")
r = st.replies(out)
t.ok(len(r) == 34 and r[-2].startswith("550 5.1.1") and r[-1].startswith("421 4.7.0"),
     "the 30th refused recipient: 550, then 421 and the connection closes (%r)" % (r[-2:],))
t.ok(b"end=too many refused recipients" in err, "the hang-up is logged")
