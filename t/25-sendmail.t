#!/usr/bin/env python3
# facteur-sendmail: the sendmail command line. Recipients from arguments and
# -t (To/Cc/Bcc, groups, comments, quoted names), Bcc removed, -f, -F, the
# lone-dot end and -i/-oi, added Date/Message-ID/From, CRLF, sysexits.
import email
import importlib.util
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

q = ft.data_module("qlib", "queue-lib.py")

t = ft.TAP()
for p in ("facteur-queue", "facteur-sendmail", "facteur-setup"):
    if not os.path.exists(ft.bin_path(p)):
        t.skip_all(p + " not built")

home, fake = q.instance()
qdir = os.path.join(home, "queue")
seen = set()


def sendmail(args, msg, **extra):
    rc, out, err = ft.run("facteur-sendmail", args, stdin=msg, home=home, **extra)
    new = [n for n in os.listdir(os.path.join(qdir, "todo")) if n not in seen] \
        if os.path.isdir(os.path.join(qdir, "todo")) else []
    seen.update(new)
    if len(new) != 1:
        return rc, None, None, err
    env = q.read(os.path.join(qdir, "todo", new[0]))
    fields = env.split(b"\0")
    sender = fields[0][1:].decode()
    rcpts = [f[1:].decode() for f in fields[1:] if f.startswith(b"T")]
    return rc, (sender, rcpts), q.read(os.path.join(qdir, "mess", new[0])), err


def hdr(m, name):
    return email.message_from_bytes(m).get_all(name) or []


# plain use: recipients on the command line; Date, Message-ID, From added
rc, env, m, err = sendmail(["bob@example.org"], b"Subject: plain\n\nbody line\n")
t.is_(rc, 0, "exit 0")
me = "mx.example.org"
import pwd  # noqa: E402
user = pwd.getpwuid(os.getuid()).pw_name
t.is_(env, (user + "@" + me, ["bob@example.org"]), "envelope: user@me to the argument")
if m:
    t.is_(len(hdr(m, "Date")), 1, "Date added")
    t.ok(hdr(m, "Message-ID") and hdr(m, "Message-ID")[0].endswith("@" + me + ">"), "Message-ID added")
    t.ok(hdr(m, "From") and (user + "@" + me) in hdr(m, "From")[0], "From added")
    t.ok(m.endswith(b"Subject: plain\n") is False and b"\n\nbody line\n" in m, "headers, empty line, body")
else:
    for i in range(4):
        t.ok(False, "message queued")

# -f and -F; headers already there are kept, not doubled
msg = b"From: Someone <s@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <x@y>\nSubject: s\n\nb\n"
rc, env, m, err = sendmail(["-f", "alice@example.org", "-F", "Alice A", "bob@example.org"], msg)
t.is_(env and env[0], "alice@example.org", "-f sets the envelope sender")
t.ok(m and hdr(m, "From") == ["Someone <s@example.org>"] and len(hdr(m, "Date")) == 1 and
     hdr(m, "Message-ID") == ["<x@y>"], "existing From, Date, Message-ID kept, none added")
rc, env, m, err = sendmail(["-falice@example.org", "-FAlice \"A\"", "bob@example.org"], b"Subject: s\n\nb\n")
t.ok(m and hdr(m, "From") == ['"Alice \\"A\\"" <alice@example.org>'], "-F name quoted in the added From")
rc, env, m, err = sendmail(["-f", "<>", "bob@example.org"], b"Subject: s\n\nb\n")
t.is_(env and env[0], "", "-f '<>': the null sender")

# -t: To, Cc, Bcc with groups, comments, quoted names; Bcc removed
msg = (b"To: a@example.org, \"B, Name\" <b@example.org>\n"
       b"Cc: (a comment) c@example.org (another),\n  Dee <d@example.org>\n"
       b"Bcc: hidden@example.org, friends: e@example.org, f@example.org;\n"
       b"Subject: dash t\n\nbody\n")
rc, env, m, err = sendmail(["-t", "extra@example.org"], msg)
t.is_(rc, 0, "-t exit 0")
t.is_(sorted(env[1]) if env else None,
      sorted(["a@example.org", "b@example.org", "c@example.org", "d@example.org", "hidden@example.org",
              "e@example.org", "f@example.org", "extra@example.org"]),
      "-t: recipients from To, Cc, Bcc (group members too) plus the arguments")
t.ok(m and b"Bcc" not in m and b"hidden" not in m, "Bcc removed from the message")
t.ok(m and b"Cc: (a comment) c@example.org (another),\n  Dee <d@example.org>\n" in m,
     "other headers kept byte for byte, folding included")
rc, env, m, err = sendmail(["-t"], b"To: undisclosed-recipients:;\nSubject: none\n\nx\n")
t.is_(rc, 64, "-t with no recipients: exit 64")
t.is_(m, None, "nothing queued")

# the lone dot, -i, -oi; CRLF
rc, env, m, err = sendmail(["bob@example.org"], b"Subject: dot\n\nline1\n.\nafter\n")
t.ok(m and m.endswith(b"\n\nline1\n"), "a lone '.' ends the message")
rc, env, m, err = sendmail(["-i", "bob@example.org"], b"Subject: dot\n\nline1\n.\nafter\n")
t.ok(m and m.endswith(b"\n\nline1\n.\nafter\n"), "-i: the dot is data")
rc, env, m, err = sendmail(["-oi", "bob@example.org"], b"Subject: dot\n\n.\n..x\n")
t.ok(m and m.endswith(b"\n\n.\n..x\n"), "-oi: the same")
rc, env, m, err = sendmail(["bob@example.org"], b"Subject: crlf\r\n\r\nline\r\n.\r\n")
t.ok(m and b"\r" not in m and m.endswith(b"\n\nline\n"), "CRLF made LF, '.\\r\\n' ends")
rc, env, m, err = sendmail(["bob@example.org"], b"Subject: s\nthis is the body\n")
t.ok(m and b"\n\nthis is the body\n" in m, "body without an empty line before it: one is put")
rc, env, m, err = sendmail(["bob"], b"Subject: s\n\nx\n")
t.is_(env and env[1], ["bob@" + me], "bare recipient qualified with control/me")

# refusals, exit codes, nothing queued
rc, env, m, err = sendmail([], b"Subject: s\n\nx\n")
t.is_((rc, m), (64, None), "no recipient: exit 64, nothing queued")
rc, env, m, err = sendmail(["bob@@example.org"], b"Subject: s\n\nx\n")
t.is_((rc, m), (65, None), "bad address: exit 65, nothing queued")
rc, env, m, err = sendmail(["bob@exa\x01mple.org"], b"Subject: s\n\nx\n")
t.is_((rc, m), (65, None), "control byte in an address: exit 65")
rc, env, m, err = sendmail(["-t"], b"To: <unterminated@example.org\n\nx\n")
t.is_((rc, m), (65, None), "unterminated angle address: exit 65")
rc, env, m, err = sendmail(["-Q", "bob@example.org"], b"x\n")
t.is_(rc, 64, "unknown option: exit 64")
rc, env, m, err = sendmail(["bob@example.org"], b"Subject: " + b"x" * (1100 * 1024) + b"\n\nx\n")
t.is_((rc, m), (65, None), "header over 1 MiB: exit 65")

# the queue program: $FACTEUR_QUEUE, and its exit codes
d = ft.tempdir()
for code in (31, 53):
    with open(os.path.join(d, "q%d" % code), "w") as f:
        f.write("#!/bin/sh\ncat >/dev/null\nexit %d\n" % code)
    os.chmod(os.path.join(d, "q%d" % code), 0o755)
rc, env, m, err = sendmail(["bob@example.org"], b"x\n", FACTEUR_QUEUE=os.path.join(d, "q31"))
t.is_(rc, 69, "facteur-queue permanent refusal: exit 69")
rc, env, m, err = sendmail(["bob@example.org"], b"x\n", FACTEUR_QUEUE=os.path.join(d, "q53"))
t.is_(rc, 75, "facteur-queue temporary failure: exit 75")
t.ok(b"try again later" in err, "and says so")
rc, env, m, err = sendmail(["bob@example.org"], b"Subject: chain\n\nx\n", FACTEUR_QUEUE="/usr/bin/env facteur-queue")
t.ok(rc == 0 and m and b"Subject: chain" in m, "a filter chain in $FACTEUR_QUEUE")

# a big body streams through
body = b"".join(b"line %d of a long body\n" % i for i in range(200000))
rc, env, m, err = sendmail(["-i", "bob@example.org"], b"Subject: big\n\n" + body)
t.ok(rc == 0 and m and m.endswith(body), "a 4 MB body arrives whole")
