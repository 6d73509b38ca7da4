#!/usr/bin/env python3
# facteur-imapd against hostile input (../shared/HOSTILE-INPUT.md): literal
# sizes refused before they are read, NUL and control bytes, nesting,
# numbers that must not wrap, overlong lines, error floods, the plaintext
# login policy. The pre-login server reads a transcript on stdin.
import os, re, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
home = ft.make_instance()

def pre(script, **env):
    env.setdefault("TCPREMOTEIP", "127.0.0.1")
    rc, out, err = ft.run("facteur-imapd", [], stdin=script, home=home, timeout=20, **env)
    return rc, out, err

def tagged(out, tag):
    m = re.search(rb"^%s (OK|NO|BAD)(.*)$" % re.escape(tag), out, re.M)
    return (m.group(1) + m.group(2)).rstrip(b"\r") if m else b""

rc, out, err = pre(b"a LOGIN {4294967295}\r\nb NOOP\r\nc LOGOUT\r\n")
t.like(tagged(out, b"a"), b"BAD", "{4294967295} before login: BAD")
t.ok(b"+ OK" not in out, "no continuation: the literal was never read")
t.is_(tagged(out, b"b"), b"OK NOOP completed", "the session goes on")

rc, out, err = pre(b"a LOGIN {18446744073709551617}\r\nb LOGOUT\r\n")
t.like(tagged(out, b"a"), b"BAD", "{2^64+1}: BAD")

rc, out, err = pre(b"a LOGIN {5000+}\r\n" + b"x" * 5000 + b"\r\nb NOOP\r\n")
t.ok(b"* BYE" in out and tagged(out, b"b") == b"", "non-synchronizing literal too large: BYE, nothing more read")

rc, out, err = pre(b"a LOGIN alice@example.org {7}\r\nb LOGOUT\r\n")
t.ok(b"+ OK" in out, "small literal before login: continuation")

rc, out, err = pre(b"a NOOP\x00 x\r\nb LOGIN alice\x00x@example.org alice-secret\r\nc LOGOUT\r\n")
t.like(tagged(out, b"a"), b"BAD", "NUL in a command: BAD")
t.like(tagged(out, b"b"), b"BAD", "NUL in LOGIN: BAD, never truncated")
t.ok(b"Logged in" not in out, "no login")

rc, out, err = pre(b"a LOGIN {21+}\r\nalice\x00x@example.org {12+}\r\nalice-secret\r\nb LOGOUT\r\n")
t.ok(b"Logged in" not in out and tagged(out, b"a").startswith(b"BAD"), "NUL inside a literal user name: BAD")

rc, out, err = pre(b"a ID " + b"(" * 40 + b")" * 40 + b"\r\nb ID (" + b"(" * 5 + b")" * 5 + b")\r\nc LOGOUT\r\n")
t.like(tagged(out, b"a"), b"BAD", "deep parentheses: BAD")

rc, out, err = pre(b"a NOOP " + b"x" * 70000 + b"\r\nb NOOP\r\nc LOGOUT\r\n")
t.like(tagged(out, b"a"), b"BAD", "overlong line: BAD")
t.is_(tagged(out, b"b"), b"OK NOOP completed", "and the next command works")

rc, out, err = pre(b"   \r\n \r\nb NOOP\r\n")
t.ok(rc == 0 and tagged(out, b"b") == b"OK NOOP completed", "a line of spaces is BAD, no crash (found by t/59's fuzzer)")

rc, out, err = pre(b"a SELECT INBOX\r\nb FETCH 1 FLAGS\r\nc LOGOUT\r\n")
t.like(tagged(out, b"a"), b"BAD", "SELECT before login")

rc, out, err = pre(b"".join(b"x%d BOGUS\r\n" % i for i in range(40)))
t.ok(b"* BYE too many errors" in out and tagged(out, b"x39") == b"", "garbage flood ends the session")

rc, out, err = pre(b"a \"quoted\r\nb x\"y NOOP\r\nc NOOP\r\n")
t.is_(tagged(out, b"c"), b"OK NOOP completed", "broken quoting is BAD and the session goes on")

rc, out, err = pre(b"a AUTHENTICATE PLAIN !!!notbase64\r\nb AUTHENTICATE PLAIN\r\n*\r\nc AUTHENTICATE CRAM-MD5\r\nd LOGOUT\r\n")
t.like(tagged(out, b"a"), b"BAD", "AUTHENTICATE with bad base64")
t.like(tagged(out, b"b"), b"BAD", "AUTHENTICATE cancelled")
t.like(tagged(out, b"c"), b"NO", "unknown mechanism")

rc, out, err = pre(b"a STARTTLS\r\nb LOGOUT\r\n")
t.like(tagged(out, b"a"), b"BAD", "STARTTLS without the TLS engine: BAD")

# plaintext policy (issue 4): from a non-loopback client without TLS
rc, out, err = pre(b"a CAPABILITY\r\nb LOGIN alice@example.org alice-secret\r\nc AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXNlY3JldA==\r\nd LOGOUT\r\n",
                   TCPREMOTEIP="192.0.2.7")
t.ok(b"LOGINDISABLED" in out and b"AUTH=PLAIN" not in out.split(b"\r\n")[0], "LOGINDISABLED for a remote client")
t.like(tagged(out, b"b"), b"NO [PRIVACYREQUIRED]", "LOGIN refused in plaintext")
t.like(tagged(out, b"c"), b"NO [PRIVACYREQUIRED]", "AUTHENTICATE refused in plaintext")
open(os.path.join(home, "control", "plaintextauth"), "w").close()
rc, out, err = pre(b"a CAPABILITY\r\nb LOGOUT\r\n", TCPREMOTEIP="192.0.2.7")
t.ok(b"LOGINDISABLED" not in out and b"AUTH=PLAIN" in out, "control/plaintextauth allows it")
os.unlink(os.path.join(home, "control", "plaintextauth"))

# after login (mailbox mode): numbers, names, literals
md = os.path.join(ft.tempdir(), "Maildir")
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(md, sub))
with open(os.path.join(md, "new", "1.M1.h"), "wb") as f:
    f.write(b"Subject: x\r\n\r\nx\r\n")
ft.give_to_facteur(md)
script = (b"a SELECT INBOX\r\n"
          b"b UID FETCH 18446744073709551617 FLAGS\r\n"
          b"c UID FETCH 4294967296:* FLAGS\r\n"
          b"d FETCH 1 BODY[1.4294967297]\r\n"
          b"e FETCH 1 BODY[]<4294967296.1>\r\n"
          b"f CREATE \"a\x01b\"\r\n"
          b"g CREATE {5+}\r\n..&-/\r\n"
          b"h CREATE &AC8-etc\r\n"
          b"i SELECT ../../etc\r\n"
          b"j STATUS \"/etc\" (MESSAGES)\r\n"
          b"k RENAME INBOX ../x\r\n"
          b"l UID FETCH *:* (UID)\r\n"
          b"m SEARCH " + b"OR ALL " * 30 + b"ALL\r\n"
          b"n LIST \"\" \"../*\"\r\n"
          b"o APPEND INBOX {999999999999+}\r\n")
rc, out, err = ft.run("facteur-imapd", ["-m"], stdin=script, home=home, FACTEUR_MAILDIR=md, timeout=20)
for tg, what in ((b"b", b"UID 2^64+1"), (b"c", b"UID 2^32"), (b"d", b"section 2^32+1"), (b"e", b"partial 2^32")):
    t.like(tagged(out, tg), b"BAD", what.decode() + ": BAD")
for tg, what in ((b"f", "control character"), (b"g", "dots and slash"), (b"h", "encoded slash"),
                 (b"i", "../../etc"), (b"j", "/etc"), (b"k", "RENAME to ../x")):
    t.ok(tagged(out, tg)[:2] in (b"NO", b"BA"), "mailbox name with %s: NO or BAD" % what)
t.ok(b"* 1 FETCH (UID 1)" in out, "*:* is the last UID, not a wrap")
t.like(tagged(out, b"m"), b"BAD", "huge OR tree: BAD")
t.ok(b"../" not in out.split(b"n LIST")[0].split(b"m ")[-1] and tagged(out, b"n").startswith(b"OK"), "LIST ../* lists nothing outside")
t.ok(b"* BYE" in out, "non-synchronizing APPEND literal too large: BYE")
t.ok(sorted(os.listdir(os.path.dirname(md))) == ["Maildir"], "nothing created outside the Maildir")

# a symlink planted as a folder is no mailbox: DELETE cannot reach through it
outside = os.path.join(ft.tempdir(), "outside")
os.makedirs(os.path.join(outside, "cur"))
with open(os.path.join(outside, "cur", "keep"), "w") as fh:
    fh.write("precious")
os.symlink(outside, os.path.join(md, ".Link"))
rc, out, err = ft.run("facteur-imapd", ["-m"], stdin=b"a DELETE Link\r\nb SELECT Link\r\nc LIST \"\" *\r\nd SELECT INBOX\r\ne COPY 1 Link\r\nz LOGOUT\r\n",
                      home=home, FACTEUR_MAILDIR=md, timeout=20)
t.like(tagged(out, b"a"), b"NO", "DELETE through a symlinked folder refused")
t.like(tagged(out, b"b"), b"NO", "SELECT of a symlinked folder refused")
t.ok(b'"Link"' not in out, "not listed")
t.ok(os.path.exists(os.path.join(outside, "cur", "keep")), "the file behind it is untouched")
t.like(tagged(out, b"e"), b"NO", "COPY into a symlinked folder refused")
t.is_(os.listdir(os.path.join(outside, "cur")), ["keep"], "nothing written behind it")

# helper: a fresh Maildir owned as facteur-setup would leave it
def fresh_maildir():
    d = os.path.join(ft.tempdir(), "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub))
    return d

chown_tree = ft.give_to_facteur

def mbox(d, script):
    return ft.run("facteur-imapd", ["-m"], stdin=script, home=home, FACTEUR_MAILDIR=d, timeout=20)

# a planted ",W=" (the size a delivery agent recorded) must not be believed
# beyond what the file can be: RFC822.SIZE 10^19 broke fetchmail on POP3
md2 = fresh_maildir()
body = b"Subject: w\n\nline\n"
for name in ("1.M1.h,S=17,W=10000000000000000000:2,S", "2.M2.h,W=18446744073709551615:2,S",
             "3.M3.h,S=999,W=1000:2,S", "4.M4.h,S=17,W=19:2,S"):
    with open(os.path.join(md2, "cur", name), "wb") as fh:
        fh.write(body)
chown_tree(md2)
rc, out, err = mbox(md2, b"a SELECT INBOX\r\nb FETCH 1:4 (RFC822.SIZE)\r\nc STATUS INBOX (SIZE)\r\nz LOGOUT\r\n")
sizes = [int(x) for x in re.findall(rb"RFC822\.SIZE (\d+)", out)]
t.is_(sizes, [20, 20, 20, 19], "W= beyond the file, S= not matching it: the size is measured (20), a plausible W= is used")
t.ok(re.search(rb'\* STATUS "?INBOX"? \(SIZE 79\)', out) is not None, "STATUS SIZE is the sum of real sizes, no wrap") or t.diag(out.decode("latin1"))

# a FIFO planted in cur/ must not hang the session (open would block)
md3 = fresh_maildir()
with open(os.path.join(md3, "cur", "1.M1.h:2,S"), "wb") as fh:
    fh.write(b"Subject: ok\r\n\r\nok\r\n")
os.mkfifo(os.path.join(md3, "cur", "2.M2.h:2,S"))
chown_tree(md3)
try:
    rc, out, err = mbox(md3, b"a SELECT INBOX\r\nb FETCH 1:* (RFC822.SIZE)\r\nc FETCH 1:* (BODY.PEEK[])\r\nd SEARCH LARGER 1\r\nz LOGOUT\r\n")
except Exception as e:
    rc, out = None, b""
t.ok(rc is not None and tagged(out, b"z").startswith(b"OK"), "a FIFO in cur/ does not hang FETCH or SEARCH (rc %r)" % (rc,))

# LIST patterns are matched without backtracking: "*%*%...x" against a
# 200-byte name took exponential time (minutes of CPU per LIST)
md4 = fresh_maildir()
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(md4, "." + "a" * 200, sub))
    os.makedirs(os.path.join(md4, ".Work.Sub", sub))
    os.makedirs(os.path.join(md4, ".Work", sub))
chown_tree(md4)
import time
t0 = time.time()
try:
    rc, out, err = mbox(md4, b'a LIST "" "' + b"*%" * 20 + b'x"\r\nb LIST "" "W%.%"\r\nc LIST "" "*a"\r\nd LIST "Work." "%"\r\nz LOGOUT\r\n')
except Exception:
    rc, out = None, b""
t.ok(rc == 0 and time.time() - t0 < 10 and tagged(out, b"a") == b"OK LIST completed", "LIST with 40 wildcards answers at once")
t.ok(re.search(rb'^\* LIST \([^)]*\) "\." "?Work\.Sub"?\r\nb OK', out, re.M) is not None, "'%' stops at the delimiter, '.' matches it")
t.ok(re.search(rb'^\* LIST \([^)]*\) "\." "?a{200}"?\r\nc OK', out, re.M) is not None, "'*a' matches the long name only")
t.ok(re.search(rb'^\* LIST \([^)]*\) "\." "?Work\.Sub"?\r\nd OK', out, re.M) is not None, "reference and pattern concatenate")

# RENAME a a.b: the children loop met ".a.b" as a child of "a" and renamed
# it again, to ".a.b.b"
rc, out, err = mbox(md4, b"a CREATE q\r\nb RENAME q q.y\r\nc RENAME Work Work.Sub.x\r\nd RENAME Work Job\r\nz LOGOUT\r\n")
t.like(tagged(out, b"b"), b"NO", "RENAME under itself refused")
t.like(tagged(out, b"c"), b"NO", "RENAME under its own child refused")
t.like(tagged(out, b"d"), b"OK", "an ordinary RENAME still works")
names = sorted(n for n in os.listdir(md4) if n.startswith("."))
t.ok(".q" in names and ".Job" in names and ".Job.Sub" in names and not any(n.startswith(".q.") or n.startswith(".Work") for n in names),
     "folders after RENAME: %s" % [n for n in names if len(n) < 40])

# header bytes IMAP strings cannot carry as they are: NUL (not even in a
# literal, RFC 9051 4.3), 8-bit that is not UTF-8 after UTF8=ACCEPT
md5 = fresh_maildir()
with open(os.path.join(md5, "cur", "1.M1.h:2,S"), "wb") as fh:
    fh.write(b'Subject: a\x00b "q" \\ \xe9t\xe9\r\nFrom: "X\\"Y" <x@example.org>\r\n\r\nbody\x00end\r\n')
chown_tree(md5)
rc, out, err = mbox(md5, b"a SELECT INBOX\r\nb FETCH 1 (ENVELOPE BODY.PEEK[])\r\nc ENABLE UTF8=ACCEPT\r\nd FETCH 1 (ENVELOPE)\r\ne FETCH 1 (BINARY.PEEK[])\r\nz LOGOUT\r\n")
part = out.split(b"\r\nb OK")[0].split(b"\r\n* 1 FETCH")[-1]
t.ok(b"\x00" not in part and b'a\x80b "q" \\ \xe9t\xe9' in part and b"body\x80end" in part,
     "NUL in a header and a body goes out as 0x80 in a literal, same length")
part = out.split(b"\r\nd OK")[0].split(b"c OK")[-1]
t.ok(b"\x00" not in part and re.search(rb"\{\d+\}\r\na\x80b", part) is not None,
     "after UTF8=ACCEPT, a subject with Latin-1 bytes is a literal, not an invalid quoted string")
t.ok(b'"X\\"Y"' in part, "a quote inside the display name is escaped")
part = out.split(b"\r\ne OK")[0].split(b"d OK")[-1]
t.ok(b"~{" in part and b"body\x00end" in part, "BINARY[] keeps the NUL in a literal8")

# MULTIAPPEND: each literal under the limit, the command over it; refused
# before the second literal is read (it used to be read, twice the limit)
home2 = ft.make_instance()
with open(os.path.join(home2, "control", "databytes"), "w") as fh:
    fh.write("8000000\n")
md6 = fresh_maildir()
chown_tree(md6)
msg = (b"Subject: big\r\n\r\n" + b"x" * 78 + b"\r\n") * 50000
script = b"a APPEND INBOX {%d}\r\n" % len(msg) + msg + b" {%d}\r\n" % len(msg)
rc, out, err = ft.run("facteur-imapd", ["-m"], stdin=script, home=home2, FACTEUR_MAILDIR=md6, timeout=20)
t.ok(out.count(b"+ OK") == 1 and tagged(out, b"a").startswith(b"NO [TOOBIG]"),
     "second literal past the command limit: NO [TOOBIG] before it is read")
t.is_(os.listdir(os.path.join(md6, "cur")) + os.listdir(os.path.join(md6, "tmp")), [], "nothing stored")

# SEARCH BODY with a long needle against a long body: the naive substring
# loop took needle x body steps (10^11 here); case still folds
md7 = fresh_maildir()
with open(os.path.join(md7, "cur", "1.M1.h:2,S"), "wb") as fh:
    fh.write(b"Subject: Hello World\r\n\r\n" + b"a" * 600000 + b"\r\n")
with open(os.path.join(md7, "cur", "2.M2.h:2,S"), "wb") as fh:
    fh.write(b"Subject: other\r\n\r\nMixed CASE body\r\n")
chown_tree(md7)
needle = b"a" * 299999 + b"b"
t0 = time.time()
try:
    rc, out, err = mbox(md7, b"a SELECT INBOX\r\nb SEARCH BODY {%d+}\r\n" % len(needle) + needle +
                        b"\r\nc SEARCH SUBJECT \"hELLO\"\r\nd SEARCH BODY \"mixed case\"\r\ne SEARCH TEXT AAAA\r\nz LOGOUT\r\n")
except Exception:
    rc, out = None, b""
t.ok(rc == 0 and time.time() - t0 < 10 and b"* SEARCH\r\nb OK" in out, "SEARCH BODY with a 300 KB needle: no match, at once")
t.ok(b"* SEARCH 1\r\nc OK" in out and b"* SEARCH 2\r\nd OK" in out and b"* SEARCH 1\r\ne OK" in out, "SUBJECT, BODY and TEXT fold case")

# a COPY that fails half-way leaves the target as it was (RFC 9051 6.4.7);
# it used to answer OK with the first messages copied
if os.geteuid() == 0 and open("/proc/sys/fs/protected_hardlinks").read().strip() == "1":
    md8 = fresh_maildir()
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md8, ".Dst", sub))
    for i in (1, 2, 3):
        with open(os.path.join(md8, "cur", "%d.M%d.h:2,S" % (i, i)), "wb") as fh:
            fh.write(b"Subject: %d\r\n\r\nx\r\n" % i)
    chown_tree(md8)
    # the second message cannot be linked nor read by the mailbox owner
    os.chown(os.path.join(md8, "cur", "2.M2.h:2,S"), 0, 0)
    os.chmod(os.path.join(md8, "cur", "2.M2.h:2,S"), 0o600)
    rc, out, err = mbox(md8, b"a SELECT INBOX\r\nb COPY 1:3 Dst\r\nc STATUS Dst (MESSAGES)\r\nd COPY 1 Dst\r\nz LOGOUT\r\n")
    t.like(tagged(out, b"b"), b"NO", "COPY failing on the second message: NO")
    t.ok(re.search(rb'\* STATUS "?Dst"? \(MESSAGES 0\)', out) is not None, "and nothing was copied")
    t.like(tagged(out, b"d"), b"OK [COPYUID", "a COPY that can succeed still does")
else:
    for i in range(3):
        t.ok(True, "# SKIP needs root and fs.protected_hardlinks=1")

# past MIME_PARTS_MAX a nested multipart has no parts left: it must still
# be a valid BODYSTRUCTURE, not "( "mixed")" that a client cannot parse
md9 = fresh_maildir()
parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\np%d\r\n" % i for i in range(998))
inner = b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nin\r\n--c--\r\n"
with open(os.path.join(md9, "cur", "1.M1.h:2,S"), "wb") as fh:
    fh.write(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + inner + b"--b--\r\n")
chown_tree(md9)
rc, out, err = mbox(md9, b"a SELECT INBOX\r\nb FETCH 1 (BODYSTRUCTURE)\r\nz LOGOUT\r\n")
bs = out.split(b"BODYSTRUCTURE ", 1)[-1].split(b"\r\nb OK")[0]
t.ok(tagged(out, b"b").startswith(b"OK") and b"( " not in bs and bs.count(b"(") + 1 == bs.count(b")"),
     "no multipart without parts in BODYSTRUCTURE")

# flags in file names not in our canonical order, repeated, or keyword
# letters with no keyword: the name is made canonical, the message readable
md10 = fresh_maildir()
for name in ("1.M1.h:2,SF", "2.M2.h:2,SS", "3.M3.h:2,Sa", "4.M4.h:2,RS"):
    with open(os.path.join(md10, "cur", name), "wb") as fh:
        fh.write(b"Subject: %s\r\n\r\nx\r\n" % name.encode())
chown_tree(md10)
rc, out, err = mbox(md10, b"a SELECT INBOX\r\nb FETCH 1:4 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nz LOGOUT\r\n")
t.ok(tagged(out, b"b") == b"OK FETCH completed" and out.count(b"Subject: ") == 4, "every message readable")
t.ok(b"FLAGS (\\Flagged \\Seen)" in out, "SF is \\Flagged \\Seen")
t.is_(sorted(os.listdir(os.path.join(md10, "cur"))), ["1.M1.h:2,FS", "2.M2.h:2,S", "3.M3.h:2,S", "4.M4.h:2,RS"], "names made canonical")

# facteur-uidlist is a file in the Maildir: a name in it with "../" must
# not be opened, and a UID past its uidnext must not be given again
md11 = fresh_maildir()
with open(os.path.join(os.path.dirname(md11), "secret:2,S"), "wb") as fh:
    fh.write(b"Subject: secret\r\n\r\noutside the Maildir\r\n")
with open(os.path.join(md11, "cur", "x:2,S"), "wb") as fh:
    fh.write(b"Subject: x\r\n\r\nx\r\n")
old_ns = (int(time.time()) - 100) * 10**9
for sub in ("cur", "new"):
    os.utime(os.path.join(md11, sub), ns=(old_ns, old_ns))
with open(os.path.join(md11, "facteur-uidlist"), "wb") as fh:
    fh.write(b"FACTEURIDX1 1234 9 5 %d %d\n1 1 - - 16 ci x\n2 2 - - 16 ci ../../secret\n" % (old_ns, old_ns))
chown_tree(md11)
rc, out, err = mbox(md11, b"a SELECT INBOX\r\nb FETCH 1:* (BODY.PEEK[])\r\nz LOGOUT\r\n")
t.ok(b"outside the Maildir" not in out, "an index entry with ../ is not followed")
# lines appended to the index are checked as the first ones: a later line
# for a UID with "../" in its name is not taken, an X line with garbage or
# a UID past 2^32 is skipped, a header line with another UIDVALIDITY or a
# UIDNEXT of 2^32 is not believed
md15 = fresh_maildir()
with open(os.path.join(os.path.dirname(md15), "secret:2,S"), "wb") as fh:
    fh.write(b"Subject: secret\r\n\r\noutside the Maildir\r\n")
with open(os.path.join(md15, "cur", "x:2,S"), "wb") as fh:
    fh.write(b"Subject: x\r\n\r\nx\r\n")
for sub in ("cur", "new"):
    os.utime(os.path.join(md15, sub), ns=(old_ns, old_ns))
with open(os.path.join(md15, "facteur-uidlist"), "wb") as fh:
    fh.write(b"FACTEURIDX1 1234 9 5 %d %d\n1 1 - - 16 ci x\n" % (old_ns, old_ns) +
             b"1 6 - - 16 ci ../../secret\nX 99999999999999999999\nX \nX abc\n1 7 - -\n" +
             b"FACTEURIDX1 4321 4294967296 7 0 0\nFACTEURIDX1 1234 4294967296 7 0 0\n")
chown_tree(md15)
rc, out, err = mbox(md15, b"a SELECT INBOX\r\nb FETCH 1:* (BODY.PEEK[])\r\nz LOGOUT\r\n")
t.ok(rc == 0 and b"outside the Maildir" not in out and b"Subject: x" in out, "an appended line with ../ is not followed")
t.ok(b"[UIDVALIDITY 1234]" in out and b"[UIDNEXT 9]" in out, "appended headers with another UIDVALIDITY or UIDNEXT 2^32: not believed")
md12 = fresh_maildir()
with open(os.path.join(md12, "cur", "x:2,S"), "wb") as fh:
    fh.write(b"Subject: x\r\n\r\nx\r\n")
with open(os.path.join(md12, "new", "y"), "wb") as fh:
    fh.write(b"Subject: y\r\n\r\ny\r\n")
with open(os.path.join(md12, "facteur-uidlist"), "wb") as fh:
    fh.write(b"FACTEURIDX1 1234 3 5 0 0\n7 1 - - 16 ci x\n")
chown_tree(md12)
rc, out, err = mbox(md12, b"a SELECT INBOX\r\nb FETCH 1:* (UID)\r\nz LOGOUT\r\n")
t.ok(b"* 1 FETCH (UID 7)" in out and b"* 2 FETCH (UID 8)" in out, "uidnext below a known UID: the next UID is 8, not 3")

# an INTERNALDATE from the index past gmtime's range (2^62 s): no garbage
# month, no crash; 1970 instead
md13 = fresh_maildir()
with open(os.path.join(md13, "cur", "x:2,S"), "wb") as fh:
    fh.write(b"Subject: x\r\n\r\nx\r\n")
old_ns = (int(time.time()) - 100) * 10**9
for sub in ("cur", "new"):
    os.utime(os.path.join(md13, sub), ns=(old_ns, old_ns))
with open(os.path.join(md13, "facteur-uidlist"), "wb") as fh:
    fh.write(b"FACTEURIDX1 1234 2 1 %d %d\n1 1 17 4611686018427387904 16 ci x\n" % (old_ns, old_ns))
chown_tree(md13)
rc, out, err = mbox(md13, b"a SELECT INBOX\r\nb FETCH 1 (INTERNALDATE)\r\nz LOGOUT\r\n")
t.ok(rc == 0 and b'INTERNALDATE " 1-Jan-1970 00:00:00 +0000"' in out, "INTERNALDATE out of range: 1970, no crash")

# subscriptions: the file is rewritten whole at every change, so their number
# is bounded (SUBSCRIBE refused past it; a longer file is read in part)
md14 = fresh_maildir()
with open(os.path.join(md14, "subscriptions"), "wb") as fh:
    fh.write(b"".join(b"s%d\n" % i for i in range(100000)))
chown_tree(md14)
t0 = time.time()
try:
    rc, out, err = mbox(md14, b'a SUBSCRIBE INBOX\r\nb LSUB "" "s1234"\r\nc LIST "" "nothing"\r\nz LOGOUT\r\n')
except Exception:
    rc, out = None, b""
took = time.time() - t0
t.like(tagged(out, b"a"), b"NO [LIMIT]", "SUBSCRIBE past the limit: NO [LIMIT]")
t.ok(rc == 0 and took < 10 and b"s1234" in out, "LIST with 100,000 names in subscriptions: %.1f s" % took)

# multipart/digest: a part without Content-Type is message/rfc822 (RFC 2046
# 5.1.5), with its envelope; it was text/plain
md15 = fresh_maildir()
with open(os.path.join(md15, "cur", "1.M1.h:2,S"), "wb") as fh:
    fh.write(b"Subject: digest\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n"
             b"--d\r\n\r\nSubject: inner one\r\nFrom: a@example.org\r\n\r\nbody one\r\n"
             b"--d\r\nContent-Type: text/plain\r\n\r\nplain part\r\n--d--\r\n")
chown_tree(md15)
rc, out, err = mbox(md15, b"a SELECT INBOX\r\nb FETCH 1 (BODYSTRUCTURE BODY.PEEK[1.HEADER])\r\nz LOGOUT\r\n")
t.ok(re.search(rb'BODYSTRUCTURE \(\("message" "rfc822" NIL NIL NIL "7bit" \d+ \(NIL "inner one"', out) is not None,
     "digest part without Content-Type: message/rfc822 with the inner envelope")
t.ok(b'("text" "plain" ("charset" "us-ascii")' in out and b"BODY[1.HEADER] {" in out and b"Subject: inner one" in out,
     "the typed part stays text/plain; 1.HEADER is the inner header")

# an address header ending in a backslash: the address is still there
md16 = fresh_maildir()
with open(os.path.join(md16, "cur", "1.M1.h:2,S"), "wb") as fh:
    fh.write(b"From: someone@example.org\\\r\nSubject: s\r\n\r\nx\r\n")
chown_tree(md16)
rc, out, err = mbox(md16, b"a SELECT INBOX\r\nb FETCH 1 (ENVELOPE)\r\nz LOGOUT\r\n")
t.ok(b'"someone" "example.org\\\\")' in out, "From ending in a backslash: the address is kept")
