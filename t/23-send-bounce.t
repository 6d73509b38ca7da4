#!/usr/bin/env python3
# facteur-send bounces: RFC 3464 structure (parsed with Python's email
# module), the reason line quoted, the original headers; no bounce of a
# bounce but one double bounce to postmaster; a failed double bounce is
# dropped; queue lifetime expiry; remote permanent failures quote the peer.
import email
import email.policy
import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-send", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

home, fake = q.instance(retrybase=1, queuelifetime=3)
log = os.path.join(fake, "..", "send.log")
send = q.start_send(home, q.send_env(home, fake, FACTEUR_REMOTE=q.FAKEREMOTE), log)
time.sleep(0.2)


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def dsn_parts(m):
    """(text, [per-message, per-recipient...] field dicts, headers part)"""
    parts = m.get_payload()
    text = parts[0].get_payload()
    ds = parts[1].get_payload()   # a list of Message objects, one per block
    blocks = [dict((k.lower(), v) for k, v in b.items()) for b in ds]
    return text, blocks, parts[2]


# a permanent failure next to a success
original = q.msg("please deliver", extra="X-Original: yes\n")
rc, _ = q.qq(home, original, q.envelope("alice@example.org", ["bob@example.org", "perm@example.org"]))
t.is_(rc, 0, "queued")
got = q.wait(lambda: q.box(fake, "alice@example.org"), 6)
t.is_(len(got), 1, "one bounce to the sender")
t.is_(len(q.box(fake, "bob@example.org")), 1, "the good recipient got the message")
if got:
    raw = got[0]
    t.ok(raw.startswith(b"Return-Path: <>"), "bounce comes from the null sender")
    m = parse(raw.split(b"\n", 1)[1])
    t.is_(m.get_content_type(), "multipart/report", "multipart/report")
    t.is_(m.get_param("report-type"), "delivery-status", "report-type=delivery-status")
    t.ok(m["Auto-Submitted"] and m["Message-ID"] and m["Date"], "Date, Message-ID, Auto-Submitted")
    parts = m.get_payload()
    t.is_([p.get_content_type() for p in parts],
          ["text/plain", "message/delivery-status", "text/rfc822-headers"], "three parts in RFC 3464 order")
    text, blocks, hdrs = dsn_parts(m)
    t.ok("perm@example.org" in text and "no such user here" in text, "human part names recipient and reason")
    t.ok("bob@example.org" not in text, "the delivered recipient is not in the bounce")
    t.ok(blocks and blocks[0].get("reporting-mta", "").startswith("dns;"), "Reporting-MTA")
    t.ok(blocks and "arrival-date" in blocks[0], "Arrival-Date")
    r = blocks[1] if len(blocks) > 1 else {}
    t.is_(r.get("final-recipient"), "rfc822; perm@example.org", "Final-Recipient")
    t.is_(r.get("action"), "failed", "Action: failed")
    t.is_(r.get("status"), "5.1.1", "Status from facteur-local's line")
    t.ok("no such user here" in r.get("diagnostic-code", ""), "Diagnostic-Code quotes the reason line")
    t.is_(len(blocks), 2, "one recipient block")
    h = hdrs.get_payload()
    t.ok("Subject: please deliver" in h and "X-Original: yes" in h and "hello" not in h,
         "original headers, without the body")
else:
    for i in range(16):
        t.ok(False, "bounce checks")
t.ok(q.wait(lambda: q.drained(home), 5), "queue empty once bounced")

# null sender: never bounced to <>, one double bounce to postmaster
rc, _ = q.qq(home, q.msg("a bounce"), q.envelope("", ["perm2@example.org"]))
pm = q.wait(lambda: q.box(fake, "postmaster@example.org"), 6)
t.is_(len(pm), 1, "failed bounce: double bounce to postmaster")
if pm:
    m = parse(pm[0].split(b"\n", 1)[1])
    text, blocks, hdrs = dsn_parts(m)
    t.ok(pm[0].startswith(b"Return-Path: <>"), "double bounce from the null sender")
    t.ok(len(blocks) > 1 and blocks[1].get("final-recipient") == "rfc822; perm2@example.org",
         "double bounce reports the failed recipient")
else:
    t.ok(False, "double bounce from the null sender")
    t.ok(False, "double bounce reports the failed recipient")
t.ok(q.wait(lambda: q.drained(home), 5), "queue empty")

# a bounce to a remote sender that fails for good goes to postmaster
rc, _ = q.qq(home, q.msg("to nobody"), q.envelope("permx@far.test", ["perm3@example.org"]))
ok = q.wait(lambda: len(q.box(fake, "postmaster@example.org")) == 2, 8)
t.ok(ok, "bounce to a sender that refuses it: double bounce to postmaster")
fl = q.read(os.path.join(fake, "log")).decode()
t.ok("remote far.test permx@far.test" in fl, "the bounce was tried at the sender's domain")
sl = q.read(log).decode()
t.ok("double bounce sent to <postmaster@example.org>" in sl, "double bounce logged")
t.ok(q.wait(lambda: q.drained(home), 5), "queue empty")

# the double bounce itself failing is dropped and logged
q.stop(send)
with open(os.path.join(home, "control", "doublebounceto"), "w") as f:
    f.write("permpm@example.org\n")
send = q.start_send(home, q.send_env(home, fake, FACTEUR_REMOTE=q.FAKEREMOTE), log)
n_pm = len(q.box(fake, "postmaster@example.org"))
rc, _ = q.qq(home, q.msg("loop"), q.envelope("", ["perm4@example.org"]))
ok = q.wait(lambda: "dropping a failed double bounce to <permpm@example.org>" in q.read(log).decode(), 8)
t.ok(ok, "failed double bounce dropped and logged")
t.ok(q.wait(lambda: q.drained(home), 5), "queue empty: no bounce loop")
t.is_(len(q.box(fake, "postmaster@example.org")), n_pm, "nothing more to postmaster")
t.is_(len(q.box(fake, "permpm@example.org")), 0, "nothing delivered to the failing address")

# expiry: a temporary failure past control/queuelifetime bounces with 4.4.7
n_alice = len(q.box(fake, "alice@example.org"))
rc, _ = q.qq(home, q.msg("expire"), q.envelope("alice@example.org", ["temp@example.org"]))
got = q.wait(lambda: len(q.box(fake, "alice@example.org")) > n_alice, 12) and q.box(fake, "alice@example.org")
t.ok(got, "temporary failure bounced after the queue lifetime")
if got:
    m = parse(got[-1].split(b"\n", 1)[1])
    text, blocks, hdrs = dsn_parts(m)
    r = blocks[1] if len(blocks) > 1 else {}
    t.is_(r.get("status"), "4.4.7", "Status 4.4.7 (delivery time expired)")
    t.ok("mailbox full" in r.get("diagnostic-code", ""), "last error quoted")
else:
    t.ok(False, "Status 4.4.7")
    t.ok(False, "last error quoted")

# a remote permanent failure quotes the peer's reply
n_alice = len(q.box(fake, "alice@example.org"))
rc, _ = q.qq(home, q.msg("remote perm"), q.envelope("alice@example.org", ["permr@peer.test", "ok@peer.test"]))
got = q.wait(lambda: len(q.box(fake, "alice@example.org")) > n_alice, 8) and q.box(fake, "alice@example.org")
t.ok(got, "remote permanent failure bounced")
if got:
    m = parse(got[-1].split(b"\n", 1)[1])
    text, blocks, hdrs = dsn_parts(m)
    r = blocks[1] if len(blocks) > 1 else {}
    t.ok(r.get("diagnostic-code", "").startswith("smtp; 550 5.1.1"), "Diagnostic-Code: smtp; the peer's reply")
    t.is_(len(blocks), 2, "only the failed remote recipient reported")
else:
    t.ok(False, "Diagnostic-Code: smtp")
    t.ok(False, "only the failed remote recipient reported")
t.ok(q.wait(lambda: q.drained(home), 5), "queue empty")
q.stop(send)

# a delay warning once the message has waited control/delaywarning seconds
# 2 s, not 1: the queue time is kept in whole seconds, so a 1 s warning
# can fall due a few ms after the message is queued, while bob's delivery
# is still under way (and bob is then rightly listed as delayed)
home2, fake2 = q.instance(retrybase=1, delaywarning=2)
log2 = os.path.join(fake2, "..", "send.log")
send = q.start_send(home2, q.send_env(home2, fake2), log2)
time.sleep(0.2)
rc, _ = q.qq(home2, q.msg("slow one"), q.envelope("alice@example.org", ["temp@example.org", "bob@example.org"]))
got = q.wait(lambda: q.box(fake2, "alice@example.org"), 8) and q.box(fake2, "alice@example.org")
t.ok(got, "delay warning sent to the sender")
if got:
    m = parse(got[0].split(b"\n", 1)[1])
    text, blocks, hdrs = dsn_parts(m)
    r = blocks[1] if len(blocks) > 1 else {}
    t.is_((r.get("final-recipient"), r.get("action"), r.get("status")),
          ("rfc822; temp@example.org", "delayed", "4.2.2"), "Action: delayed, Status 4.2.2, the waiting recipient")
    t.is_(len(blocks), 2, "the delivered recipient is not in the warning")
    t.ok("not been delivered yet" in text, "the text says it is only a warning")
else:
    for i in range(3):
        t.ok(False, "delay warning checks")
time.sleep(2.5)
t.is_(len(q.box(fake2, "alice@example.org")), 1, "only one delay warning")
rc, out, err = ft.run("facteur-qstat", home=home2)
t.ok("(delay warning sent)" in out.decode() and "<temp@example.org> queued" in out.decode(),
     "still queued, facteur-qstat shows the warning was sent")
q.stop(send)
rc, _ = q.qq(home2, q.msg("null"), q.envelope("", ["temp2@example.org"]))
send = q.start_send(home2, q.send_env(home2, fake2), log2)
time.sleep(3.0)   # past the null-sender message's delaywarning
t.is_(len(q.box(fake2, "alice@example.org")), 1, "after a restart: no second warning")
t.is_(q.read(log2).decode().count("delay warning "), 1,
      "no delay warning for a message from the null sender (one in the log, the first)")
q.stop(send)
