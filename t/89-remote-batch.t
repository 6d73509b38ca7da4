#!/usr/bin/env python3
"""Several messages over one connection (issue 5). facteur-remote -b: 20
messages in one run make one connection with RSET between them, per
recipient results in order, a 4xx or 5xx on one message leaves the others
alone, a message that cannot be opened is its own temporary failure, and
after STARTTLS the session stays encrypted for every message.
facteur-send with the real facteur-remote: 20 messages queued together
for one domain go over one connection, and kill -9 of facteur-send in the
middle of a batch loses nothing and duplicates nothing."""
import importlib.util
import os
import signal
import ssl
import subprocess
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

rl = ft.data_module("remotelib", "remote-lib.py")
rp = rl.load("remotepeer", "remote-peer.py")

t = rl.tap()
for p in ("facteur-remote", "facteur-send", "facteur-queue", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

inst = rl.Instance()
top, home = inst.top, inst.home
control = rl.control
mdir = os.path.join(top, "mess")
os.makedirs(mdir)
os.chmod(mdir, 0o755)
control(home, "me", "facteur.test\n")
control(home, "remotetimeout", "5\n")
control(home, "nameservers", "127.0.0.1:%d\n" % ft.free_port())


def msgfile(i, body=b"hello\n"):
    path = os.path.join(mdir, "m%d" % i)
    with open(path, "wb") as f:
        f.write(b"From: a@facteur.test\nSubject: batch %d\n\n" % i + body)
    os.chmod(path, 0o644)
    return path


def subject(body):
    for l in body.split(b"\r\n"):
        if l.startswith(b"Subject: "):
            return l[9:].decode()
    return None


def batch(port, groups, policy=None):
    """groups: [(path, sender, [rcpts])]; returns (rc, [fields], stderr)"""
    control(home, "smtproutes", "example.net 127.0.0.1:%d\n" % port)
    control(home, "tlspolicy", policy or None)
    args = ["-b", "example.net"]
    for path, sender, rcpts in groups:
        args += [path, str(len(rcpts)), sender] + list(rcpts)
    return inst.remote(args, timeout=60)


# 1. twenty messages, one connection; message 5 has a refused recipient,
# message 7 gets 451 after the dot, message 9 552 after the dot
def rcpt(a):
    return b"550 5.1.1 no such user\r\n" if a.startswith("bad") else b"250 2.1.5 ok\r\n"


def dataend(mail, rcpts, body):
    s = subject(body)
    if s == "batch 7":
        return b"451 4.3.0 try again\r\n"
    if s == "batch 9":
        return b"552 5.3.4 too big for us\r\n"
    return b"250 2.0.0 queued\r\n"


peer = rp.Peer({"rcpt": rcpt, "dataend_fn": dataend}, max_conns=30)
groups = []
for i in range(20):
    rc = ["r%d@example.net" % i]
    if i == 5:
        rc = ["bad5@example.net", "r5@example.net"]
    groups.append((msgfile(i), "s%d@facteur.test" % i, rc))
rc, lines, err = batch(peer.port, groups)
time.sleep(0.2)
peer.stop()
t.is_(rc, 0, "exit 0")
want = [r for _, _, rs in groups for r in rs]
t.is_([l[0] for l in lines], want, "one line per recipient, messages in order")
codes = {l[0]: l[1] for l in lines if len(l) >= 3}
t.is_(len(peer.conns), 1, "twenty messages, one connection")
t.is_(sum(1 for l in peer.lines(0) if l.upper().startswith(b"RSET")), 19, "RSET between messages")
t.is_(sum(1 for l in peer.lines(0) if l.upper().startswith(b"QUIT")), 1, "one QUIT")
t.is_(codes.get("bad5@example.net"), "5", "the refused recipient: 5")
t.is_(codes.get("r5@example.net"), "2", "its companion: delivered")
t.is_(codes.get("r7@example.net"), "4", "451 after the dot: 4 for that message")
t.is_(codes.get("r9@example.net"), "5", "552 after the dot: 5 for that message")
others = [codes.get("r%d@example.net" % i) for i in range(20) if i not in (7, 9)]
t.ok(all(c == "2" for c in others), "every other message delivered")
t.is_(sorted(subject(b) for _, _, b, _ in peer.messages),
      sorted("batch %d" % i for i in range(20) if i not in (7, 9)), "the peer has each of them once")
t.ok(all(m[0].startswith(b"MAIL FROM:<s%d@facteur.test>" % int(subject(m[2]).split()[1]))
         for m in peer.messages), "each message with its own sender")
t.ok("carried 20 messages" in err, "the log says how many messages the connection carried")

# 2. a message that cannot be opened fails alone
peer = rp.Peer({}, max_conns=5)
rc, lines, err = batch(peer.port, [(msgfile(100), "a@facteur.test", ["x@example.net"]),
                                   (os.path.join(mdir, "missing"), "a@facteur.test", ["y@example.net"]),
                                   (msgfile(102), "a@facteur.test", ["z@example.net"])])
peer.stop()
codes = {l[0]: l[1] for l in lines if len(l) >= 3}
t.is_((codes.get("x@example.net"), codes.get("y@example.net"), codes.get("z@example.net")), ("2", "4", "2"),
      "a missing queue file: 4 for it, the others delivered")
t.is_(len(peer.conns), 1, "still one connection")

# 3. a peer that drops the line after the second message: the rest 4
count = {"n": 0}


def drop_after_two(mail, rcpts, body):
    count["n"] += 1
    return b"250 ok\r\n" if count["n"] <= 2 else b"421 4.3.2 going down\r\n"


peer = rp.Peer({"dataend_fn": drop_after_two}, max_conns=5)
rc, lines, err = batch(peer.port, [(msgfile(200 + i), "a@facteur.test", ["d%d@example.net" % i]) for i in range(5)])
peer.stop()
got = [l[1] for l in lines if len(l) >= 3]
t.is_(got[:2], ["2", "2"], "the first two delivered")
t.ok(len(got) == 5 and all(c in ("4",) for c in got[2:]), "421 after a dot: that one and the rest temporary")

# 3b. MAIL refused after pipelined RCPTs: their replies are read before
# the next message, whose replies must not be taken for old ones
peer = rp.Peer({"mail": lambda l: b"553 5.1.8 sender refused\r\n" if b"bad@" in l else b"250 2.1.0 ok\r\n",
                "rcpt": lambda a: b"250 2.1.5 ok %s\r\n" % a.encode()}, max_conns=5)
rc, lines, err = batch(peer.port, [(msgfile(250), "bad@facteur.test", ["a1@example.net", "a2@example.net"]),
                                   (msgfile(251), "good@facteur.test", ["b1@example.net"]),
                                   (msgfile(252), "bad@facteur.test", ["c1@example.net"]),
                                   (msgfile(253), "good@facteur.test", ["d1@example.net", "d2@example.net"])])
peer.stop()
res = {l[0]: (l[1], l[2]) for l in lines if len(l) >= 3}
t.is_([res.get(r, ("?",))[0] for r in ("a1", "a2", "b1", "c1", "d1", "d2") for r in [r + "@example.net"]],
      ["5", "5", "2", "5", "2", "2"], "sender refused: 5 for its message; the next messages delivered")
t.ok(all("553 5.1.8" in res.get(r + "@example.net", ("", ""))[1] for r in ("a1", "a2", "c1")),
     "the refusal quoted for each of its recipients")
t.is_(sorted(subject(b) for _, _, b, _ in peer.messages), ["batch 251", "batch 253"],
      "the peer has the good messages")
t.is_(len(peer.conns), 1, "one connection")

# 3c. DATA answered with a 3xx other than 354: the peer waits for the
# message all the same (RFC 5321 4.2.1), so it is sent; taken for a
# refusal, the next message's RSET went into the body and the batch
# waited for its reply until the timeout
peer = rp.Peer({"data": b"350 2.0.0 send it\r\n"}, max_conns=5)
start = time.time()
rc, lines, err = batch(peer.port, [(msgfile(260 + i), "a@facteur.test", ["g%d@example.net" % i]) for i in range(3)])
took = time.time() - start
peer.stop()
t.is_([l[1] for l in lines], ["2", "2", "2"], "DATA 350: every message of the batch delivered")
t.is_(sorted(subject(b) for _, _, b, _ in peer.messages), ["batch 260", "batch 261", "batch 262"],
      "the peer has each of them once, with its own body")
t.ok(len(peer.conns) == 1 and took < 4, "one connection, no timeout (%.1fs)" % took)

# 4. STARTTLS once, every message encrypted
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "k.pem", "-out", "c.pem", "-days", "2", "-subj", "/CN=peer.test"],
               cwd=top, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(top, "c.pem"), os.path.join(top, "k.pem"))
peer = rp.Peer({"tls": ctx}, max_conns=5)
rc, lines, err = batch(peer.port, [(msgfile(300 + i), "a@facteur.test", ["t%d@example.net" % i]) for i in range(5)],
                       policy="example.net encrypt\n")
peer.stop()
t.ok(len(lines) == 5 and all(l[1] == "2" for l in lines), "five messages delivered under TLS policy encrypt")
t.is_(len(peer.conns), 1, "one connection")
t.ok(len(peer.messages) == 5 and all(m[3] for m in peer.messages), "every message went inside TLS")
t.is_(sum(1 for l in peer.lines(0) if l.upper().startswith(b"STARTTLS")), 1, "one STARTTLS")

# 4b. why the rest of a batch waits is this connection's reason, not an
# earlier one's: here STARTTLS fails (the same host again in plaintext),
# then the peer closes with 421 after the second message
count = {"n": 0}


def close_after_one(mail, rcpts, body):
    count["n"] += 1
    return b"250 ok\r\n" if count["n"] <= 1 else b"421 4.3.2 going down\r\n"


peer = rp.Peer({"tls": ctx, "tls_break": True, "dataend_fn": close_after_one}, max_conns=5)
rc, lines, err = batch(peer.port, [(msgfile(320 + i), "a@facteur.test", ["w%d@example.net" % i]) for i in range(3)])
peer.stop()
t.is_([l[1] for l in lines], ["2", "4", "4"], "STARTTLS broken, plaintext: one delivered, 421, the rest later")
t.ok(len(lines) == 3 and "421 4.3.2 going down" in lines[2][2] and "STARTTLS" not in lines[2][2],
     "the rest are told of the 421, not of the STARTTLS that failed before (%s)" % (lines[2][2] if len(lines) == 3 else err))

# 5. facteur-send: twenty messages queued together, then kill -9 mid-batch
q = ft.data_module("qlib", "queue-lib.py")
qhome, fake = q.instance(remotetimeout=5, retrybase=1, retrymax=2)
control(qhome, "nameservers", "127.0.0.1:%d\n" % ft.free_port())
peer = rp.Peer({}, max_conns=30)
control(qhome, "smtproutes", "example.net 127.0.0.1:%d\n" % peer.port)
for i in range(20):
    rc, _ = q.qq(qhome, q.msg("sq %d" % i), q.envelope("alice@example.org", ["u%d@example.net" % i]))
    if rc:
        t.diag("facteur-queue exit %d" % rc)
log = os.path.join(top, "send.log")
send = q.start_send(qhome, ft.env_for(qhome), log)
ok = q.wait(lambda: len(peer.messages) >= 20 and q.drained(qhome), 30)
q.stop(send)
peer.stop()
t.ok(ok, "facteur-send delivered the twenty messages")
t.ok(1 <= len(peer.conns) <= 5, "over at most concurrencydomain connections (%d)" % len(peer.conns))
t.is_(len(peer.conns), 1, "in fact one: they were queued together")
t.is_(sorted(subject(b) for _, _, b, _ in peer.messages), sorted("sq %d" % i for i in range(20)),
      "each once")

peer = rp.Peer({"dataend_delay": 0.15}, max_conns=30)
control(qhome, "smtproutes", "example.net 127.0.0.1:%d\n" % peer.port)
for i in range(20):
    q.qq(qhome, q.msg("kq %d" % i), q.envelope("alice@example.org", ["k%d@example.net" % i]))
send = q.start_send(qhome, ft.env_for(qhome), log)
q.wait(lambda: len(peer.messages) >= 4, 20)
os.kill(send.pid, signal.SIGKILL)
send.wait(5)
killed_at = len(peer.messages)
time.sleep(0.3)
send = q.start_send(qhome, ft.env_for(qhome), log)
ok = q.wait(lambda: len(peer.messages) >= 20 and q.drained(qhome), 30)
time.sleep(0.3)
q.stop(send)
peer.stop()
subs = [subject(b) for _, _, b, _ in peer.messages]
t.ok(4 <= killed_at < 20, "facteur-send killed mid-batch (%d of 20 sent)" % killed_at)
t.ok(ok, "after the restart the queue drains")
t.is_(sorted(set(subs)), sorted("kq %d" % i for i in range(20)), "nothing lost")
t.is_(len(subs), len(set(subs)), "nothing sent twice")
