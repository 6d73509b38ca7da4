#!/usr/bin/env python3
# Random and mutated commands against facteur-imapd, both before login and
# in mailbox mode on a Maildir with MIME messages: the server must neither
# crash nor hang (run it under SANITIZE=1 to catch memory errors), and it
# must still answer a final command. Seeded, so a failure can be replayed.
import os, random, re, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
seed = int(os.environ.get("FACTEUR_FUZZ_SEED", "20261126"))
rnd = random.Random(seed)
t.diag("seed %d" % seed)
home = ft.make_instance()

CMDS = [b"CAPABILITY", b"NOOP", b"SELECT INBOX", b"EXAMINE INBOX", b"FETCH 1:* (FLAGS UID)",
        b"FETCH 1 (BODYSTRUCTURE ENVELOPE BODY[1.2] BINARY[2] BODY.PEEK[HEADER.FIELDS (FROM)]<0.10>)",
        b"UID FETCH 1:* (BODY.PEEK[TEXT] RFC822.SIZE INTERNALDATE)", b"STORE 1:2 +FLAGS (\\Seen kw1)",
        b"UID STORE 1 -FLAGS.SILENT (\\Deleted)", b"SEARCH OR FROM a NOT (SUBJECT b BODY c)",
        b"UID SEARCH RETURN (MIN MAX ALL) UID 1:* LARGER 10", b"LIST \"\" *", b"LIST (SUBSCRIBED) \"\" % RETURN (STATUS (MESSAGES))",
        b"STATUS INBOX (MESSAGES SIZE UNSEEN)", b"CREATE Fz.A", b"RENAME Fz.A Fz.B", b"DELETE Fz.B",
        b"COPY 1 Sent", b"MOVE 2 Trash", b"EXPUNGE", b"UID EXPUNGE 1:*", b"ENABLE CONDSTORE UTF8=ACCEPT",
        b"APPEND INBOX {10+}\r\nSubject: z", b"LOGIN a b", b"AUTHENTICATE PLAIN AGEAYg==", b"ID NIL", b"CLOSE",
        b"UNSELECT", b"SUBSCRIBE Sent", b"LSUB \"\" *", b"NAMESPACE", b"CHECK", b"SEARCH MODSEQ 1", b"FETCH 1 (BODY[2.MIME] BINARY.SIZE[1])"]
JUNK = [b"{", b"}", b"(", b")", b"[", b"]", b"<", b">", b"\"", b"\\", b"*", b"%", b"4294967296", b"0", b"18446744073709551617",
        b"{4294967295}", b"{3+}", b"~{2}", b"\x00", b"\x01", b"\xff", b"&AC4-", b"..", b"/", b" ", b"  ", b":", b",", b"$", b"NIL"]

def mutate(c):
    c = bytearray(c)
    for _ in range(rnd.choice((0, 0, 0, 1, 1, 2, 3))):
        op = rnd.randint(0, 3)
        pos = rnd.randint(0, len(c))
        if op == 0:
            c[pos:pos] = rnd.choice(JUNK)
        elif op == 1 and len(c) > 1:
            del c[pos:pos + rnd.randint(1, 4)]
        elif op == 2 and c:
            c[min(pos, len(c) - 1)] = rnd.randint(0, 255)
        else:
            c[pos:pos] = rnd.choice(CMDS)
    return bytes(c).replace(b"\n", b"")

def script(n):
    out = []
    for i in range(n):
        out.append(b"t%d " % i + mutate(rnd.choice(CMDS)) + b"\r\n")
    return b"".join(out)

MSGS = [b"Subject: a\r\nFrom: x <a@b.c>\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\none\r\n--q\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n--q--\r\n",
        b"Subject: b\nTo: , ; : <>, \"\" <@a:b@c>\n\nlf only\n",
        b"Content-Type: multipart/alternative; boundary=\"\"\r\n\r\n--\r\n--\r\n",
        b"no header at all"]

md = os.path.join(ft.tempdir(), "Maildir")
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(md, sub))

def reset_maildir():
    for sub in ("cur", "new"):
        for n in os.listdir(os.path.join(md, sub)):
            os.unlink(os.path.join(md, sub, n))
    for i, m in enumerate(MSGS):
        with open(os.path.join(md, "new", "%d.M%d.fuzz" % (100 + i, i)), "wb") as f:
            f.write(m)
    if os.geteuid() == 0:
        os.system("chown -R facteur '%s'" % md)
        os.chmod(os.path.dirname(md), 0o755)

bad = []
answered = 0
for round_ in range(40):
    mailbox = round_ % 3 != 0
    if mailbox:
        reset_maildir()
    s = script(60) + b"zz NOOP\r\n"
    args = ["-m"] if mailbox else []
    try:
        rc, out, err = ft.run("facteur-imapd", args, stdin=s, home=home, timeout=60,
                              FACTEUR_MAILDIR=md, TCPREMOTEIP="127.0.0.1")
    except Exception as e:
        bad.append((round_, repr(e)))
        continue
    answered += len(re.findall(rb"^t\d+ (?:OK|NO|BAD)", out, re.M))
    if rc not in (0,) or b"AddressSanitizer" in err or b"runtime error" in err:
        bad.append((round_, rc, err[-300:]))
    # either the final NOOP was answered, or the session was ended on purpose with BYE
    if not (re.search(rb"^zz OK", out, re.M) or b"* BYE" in out):
        bad.append((round_, "no final answer", out[-200:]))
t.is_(bad, [], "40 rounds of 60 mutated commands: no crash, no hang, an answer at the end")
t.ok(answered > 1000, "most commands were answered (%d), not cut short" % answered)
t.ok(sorted(os.listdir(os.path.dirname(md))) == ["Maildir"], "nothing created outside the Maildir")
