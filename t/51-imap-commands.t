#!/usr/bin/env python3
# facteur-imapd in mailbox mode (-m, as facteur-checkpassword runs it) driven
# by transcripts on stdin: every authenticated and selected-state command,
# flags in Maildir file names, the UID index, keywords, special-use folders.
import os, re, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()

def mkmaildir():
    d = os.path.join(ft.tempdir(), "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub))
    return d

own = ft.give_to_facteur

def imap(md, script, **env):
    own(md)
    rc, out, err = ft.run("facteur-imapd", ["-m"], stdin=script.encode() if isinstance(script, str) else script,
                          FACTEUR_MAILDIR=md, FACTEUR_HOME=md, **env)
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

def put(md, sub, name, data):
    with open(os.path.join(md, sub, name), "wb") as f:
        f.write(data)

def tagged(out, tag):
    m = re.search(r"^%s (OK|NO|BAD)(.*)$" % re.escape(tag), out, re.M)
    return (m.group(1) + m.group(2)).rstrip("\r") if m else None

MSG1 = (b"From: Alice <alice@example.org>\r\nTo: bob@example.org, \"Carl C\" <carl@x.org>\r\n"
        b"Subject: hello\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\nbody line 1\r\nline 2\r\n")
MSG2 = (b"Subject: two\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npre\r\n--b1\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\npart one\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b1--\r\n")

md = mkmaildir()
put(md, "new", "1000.M1.host", MSG1)
put(md, "cur", "999.M2.host:2,S", MSG2)
put(md, "", ".qmail", b"./Maildir/\n")    # a rules file: not a mailbox
rc, out, err = imap(md, "a CAPABILITY\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
t.is_(rc, 0, "mailbox mode exits 0")
t.like(out, "* PREAUTH [CAPABILITY IMAP4rev1 IMAP4rev2", "PREAUTH greeting without a tag")
t.ok("* 2 EXISTS" in out, "SELECT: 2 EXISTS")
t.ok("* 1 RECENT" in out, "SELECT: 1 RECENT (the one in new/)")
t.ok(re.search(r"\[UIDVALIDITY \d+\]", out), "UIDVALIDITY")
t.ok("[UIDNEXT 3]" in out, "UIDNEXT 3")
t.is_(tagged(out, "b"), "OK [READ-WRITE] SELECT completed", "SELECT read-write")
t.is_(os.listdir(os.path.join(md, "new")), [], "SELECT moved new/ to cur/")
t.ok(any(n.startswith("1000.M1.host:2,") for n in os.listdir(os.path.join(md, "cur"))), "with a :2, suffix")
uidv = re.search(r"UIDVALIDITY (\d+)", out).group(1)

# UIDs are by delivery name order and persist
rc, out, err = imap(md, "a SELECT INBOX\r\nb UID FETCH 1:* (UID FLAGS)\r\nc LOGOUT\r\n")
t.ok(re.search(r"\* 1 FETCH \(UID 1 FLAGS \(\)\)", out) and "* 2 FETCH (UID 2 FLAGS (\\Seen))" in out,
     "UIDs stable, flags from file names")
t.ok("UIDVALIDITY %s]" % uidv in out, "UIDVALIDITY stable across sessions")
t.ok("* 0 RECENT" in out, "no longer recent in the next session")

rc, out, err = imap(md, "a EXAMINE INBOX\r\n"
    "b FETCH 1 (ENVELOPE RFC822.SIZE INTERNALDATE)\r\n"
    "c FETCH 2 (BODYSTRUCTURE)\r\n"
    "d FETCH 2 (BODY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[2.MIME])\r\n"
    "e FETCH 1 (BODY.PEEK[]<0.4> BODY.PEEK[TEXT] RFC822.HEADER)\r\n"
    "f FETCH 1 BODY.PEEK[4294967297]\r\n"
    "g FETCH 1 BODY.PEEK[3]\r\n"
    "h STORE 1 +FLAGS (\\Seen)\r\n"
    "i FETCH 4294967296 FLAGS\r\n"
    "j FETCH 0 FLAGS\r\n"
    "k FETCH 3 FLAGS\r\n"
    "l FETCH *:* (FLAGS)\r\n"
    "m UID FETCH 1:4294967295 (FLAGS)\r\n"
    "n LOGOUT\r\n")
t.ok('ENVELOPE ("Thu, 26 Nov 2026 10:00:00 +0000" "hello" (("Alice" NIL "alice" "example.org"))' in out, "ENVELOPE from")
t.ok('((NIL NIL "bob" "example.org")("Carl C" NIL "carl" "x.org"))' in out, "ENVELOPE to list")
t.ok("RFC822.SIZE %d" % len(MSG1) in out, "RFC822.SIZE byte-exact")
t.ok(re.search(r'INTERNALDATE "[ \d]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d \+0000"', out), "INTERNALDATE format")
t.ok('BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 8 1 NIL NIL NIL NIL)("application" "octet-stream" NIL NIL NIL "base64" 8 NIL NIL NIL NIL) "mixed" ("boundary" "b1") NIL NIL NIL)' in out,
     "BODYSTRUCTURE with extension data")
t.ok("BODY[1] {8}\r\npart one" in out, "BODY[1]")
t.ok("BINARY[2] {5}\r\nhello" in out, "BINARY[2] decodes base64")
t.ok("BINARY.SIZE[2] 5" in out, "BINARY.SIZE")
t.ok("BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: two\r\n\r\n" in out, "HEADER.FIELDS")
t.ok("BODY[2.MIME] {" in out and "Content-Transfer-Encoding: base64" in out, "part MIME header")
t.ok("BODY[]<0> {4}\r\nFrom" in out, "partial fetch")
t.ok("BODY[TEXT] {21}\r\nbody line 1\r\nline 2\r\n" in out, "BODY[TEXT]")
t.ok("RFC822.HEADER {" in out, "RFC822.HEADER")
t.like(tagged(out, "f"), "BAD", "BODY[4294967297] is BAD, not part 1")
t.ok(re.search(r'BODY\[3\] ""', out), "missing part is empty")
t.like(tagged(out, "h"), "NO [READ-ONLY]", "STORE refused in EXAMINE")
t.like(tagged(out, "i"), "BAD", "sequence 2^32 BAD")
t.like(tagged(out, "j"), "BAD", "sequence 0 BAD")
t.like(tagged(out, "k"), "BAD", "sequence past the end BAD")
t.ok("* 2 FETCH (FLAGS (\\Seen))" in out and tagged(out, "l") == "OK FETCH completed", "*:* is the last message")
t.is_(tagged(out, "m"), "OK UID FETCH completed", "UID range to 2^32-1 does not wrap")
t.ok(not any(n.endswith("S") and n.startswith("1000") for n in os.listdir(os.path.join(md, "cur"))), "PEEK and EXAMINE set no \\Seen")

rc, out, err = imap(md, "a ENABLE CONDSTORE\r\nb SELECT INBOX\r\n"
    "c STORE 1 +FLAGS (\\Flagged $Important)\r\n"
    "d FETCH 1 (FLAGS MODSEQ)\r\n"
    "e STORE 1 -FLAGS.SILENT (\\Flagged)\r\n"
    "f STORE 1 FLAGS (\\Answered \\Draft $Forwarded)\r\n"
    "g FETCH 1 BODY[TEXT]\r\n"
    "h STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Deleted)\r\n"
    "i UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)\r\n"
    "j LOGOUT\r\n")
t.ok("* ENABLED CONDSTORE" in out, "ENABLE CONDSTORE")
t.ok(re.search(r"\* 1 FETCH \(FLAGS \(\\Flagged \$Important\) MODSEQ \(\d+\)\)", out), "STORE +FLAGS with keyword and MODSEQ")
t.ok(open(os.path.join(md, "facteur-keywords")).read().startswith("$Important\n"), "keyword mapped in facteur-keywords")
names = os.listdir(os.path.join(md, "cur"))
t.ok(any(re.match(r"1000\.M1\.host:2,DPRS$", n) for n in names), "flags in the file name: %r" % names)
t.ok(re.search(r"\* 1 FETCH \(BODY\[TEXT\] \{21\}", out), "BODY[TEXT] fetch")
t.like(tagged(out, "h"), "OK [MODIFIED 1]", "UNCHANGEDSINCE refuses a changed message")
t.ok(re.search(r"\* \d FETCH \(FLAGS \([^)]*\) MODSEQ \(\d+\) UID \d\)", out), "CHANGEDSINCE returns MODSEQ")

# SEARCH
rc, out, err = imap(md, "a SELECT INBOX\r\n"
    "b SEARCH SUBJECT hello\r\n"
    "c SEARCH OR SUBJECT two FROM alice\r\n"
    "d SEARCH NOT SEEN\r\n"
    "e UID SEARCH BODY \"part one\"\r\n"
    "f SEARCH TEXT \"LINE 2\"\r\n"
    "g SEARCH HEADER Message-ID \"<1@x>\"\r\n"
    "h SEARCH LARGER 200 SMALLER 100000\r\n"
    "i SEARCH SENTON 26-Nov-2026\r\n"
    "j SEARCH RETURN (MIN MAX COUNT ALL) ALL\r\n"
    "k SEARCH CHARSET KOI8-R ALL\r\n"
    "l SEARCH " + "NOT " * 100 + "ALL\r\n"
    "m SEARCH " + "(" * 15 + "ALL" + ")" * 15 + "\r\n"
    "n SEARCH UID 1:* KEYWORD $Forwarded\r\n"
    "o SEARCH 2,1 SINCE 1-Jan-2000\r\n"
    "p SEARCH BEFORE 1-Jan-2000\r\n"
    "q SEARCH BOGUS\r\n"
    "z LOGOUT\r\n")
t.ok("* SEARCH 1\r\nb OK" in out, "SEARCH SUBJECT")
t.ok("* SEARCH 1 2\r\nc OK" in out, "SEARCH OR")
t.ok("* SEARCH\r\nd OK" in out, "SEARCH NOT SEEN (all seen)")
t.ok("* SEARCH 2\r\ne OK" in out, "UID SEARCH BODY")
t.ok("* SEARCH 1\r\nf OK" in out, "SEARCH TEXT case-insensitive")
t.ok("* SEARCH 1\r\ng OK" in out, "SEARCH HEADER")
t.ok("* SEARCH 2\r\nh OK" in out, "SEARCH LARGER SMALLER")
t.ok("* SEARCH 1\r\ni OK" in out, "SEARCH SENTON")
t.ok('* ESEARCH (TAG "j") MIN 1 MAX 2 COUNT 2 ALL 1:2' in out, "ESEARCH return options")
t.like(tagged(out, "k"), "NO [BADCHARSET", "unknown charset")
t.like(tagged(out, "l"), "BAD", "NOT chain beyond the depth limit is BAD")
t.is_(tagged(out, "m"), "OK SEARCH completed", "nesting within the limit works")
t.ok("* SEARCH 1\r\nn OK" in out, "SEARCH KEYWORD")
t.ok("* SEARCH 1 2\r\no OK" in out, "SEARCH seqset SINCE")
t.ok("* SEARCH\r\np OK" in out, "SEARCH BEFORE")
t.like(tagged(out, "q"), "BAD", "unknown key BAD")

# folders
rc, out, err = imap(md, "a CREATE Work.2026\r\nb CREATE Work.2026\r\nc CREATE &AC4ALgAv-\r\n"
    "d CREATE ../evil\r\ne CREATE /etc\r\nf CREATE ~root\r\ng CREATE \"a\\\\b\"\r\nh CREATE Entw&APw-rfe\r\n"
    "i LIST \"\" *\r\nj LIST \"\" %\r\nk SUBSCRIBE Work.2026\r\nl LSUB \"\" *\r\n"
    "m LIST (SUBSCRIBED) \"\" * RETURN (CHILDREN)\r\nn LIST (SPECIAL-USE) \"\" *\r\n"
    "o LIST \"\" (INBOX Sent) RETURN (STATUS (MESSAGES UIDNEXT))\r\np NAMESPACE\r\n"
    "q RENAME Work Play\r\nr RENAME Work.2026 Play.2027\r\ns LIST \"\" Play*\r\n"
    "t DELETE Play.2027\r\nu DELETE INBOX\r\nv STATUS Entw&APw-rfe (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE RECENT HIGHESTMODSEQ)\r\n"
    "w CREATE a..b\r\nx CREATE .hidden\r\ny SELECT nosuch\r\nz LOGOUT\r\n")
t.is_(tagged(out, "a"), "OK CREATE completed", "CREATE Work.2026")
t.ok(re.search(r'^\* LIST \(\\HasNoChildren\) "\." "Work\.2026"', out, re.M), ".Work.2026 listed")
t.like(tagged(out, "b"), "NO [ALREADYEXISTS]", "CREATE twice")
for tg, what in (("c", "&AC4ALgAv- (../)"), ("d", "../evil"), ("e", "/etc"), ("f", "~root"), ("g", "backslash"), ("w", "a..b"), ("x", ".hidden")):
    t.like(tagged(out, tg), "NO", "CREATE %s refused" % what)
t.ok(not os.path.exists(os.path.join(os.path.dirname(md), "evil")), "nothing left the Maildir")
t.is_(tagged(out, "h"), "OK CREATE completed", "CREATE a modified UTF-7 name")
t.ok('* LIST (\\HasNoChildren \\Sent) "." "Sent"' in out, "special-use \\Sent made for the user")
for su in ("Drafts", "Trash", "Junk", "Archive"):
    t.ok('\\%s) "." "%s"' % (su, su) in out, "special-use %s" % su)
t.ok('* LIST (\\NonExistent \\HasChildren) "." "Work"' in out, "implied parent listed")
t.ok(".qmail" not in out and "facteur" not in out, "non-directory dot-entries ignored")
t.ok('* LIST (\\HasNoChildren \\Subscribed) "." "Work.2026"' in out, "LIST (SUBSCRIBED)")
t.ok('* LSUB () "." "Work.2026"' in out, "LSUB")
n_special = len(re.findall(r'^\* LIST .*\\(Sent|Drafts|Trash|Junk|Archive)\)', out, re.M))
t.ok(n_special >= 10, "LIST (SPECIAL-USE) selection")
t.ok(re.search(r'\* STATUS "INBOX" \(MESSAGES 2 UIDNEXT 3\)', out), "LIST-STATUS")
t.ok('* NAMESPACE (("" ".")) NIL NIL' in out, "NAMESPACE")
t.like(tagged(out, "q"), "NO", "RENAME of a non-existent parent")
t.is_(tagged(out, "r"), "OK RENAME completed", "RENAME")
t.ok('"Play.2027"' in out and not os.path.exists(os.path.join(md, ".Work.2026")), "renamed on disk")
t.is_(tagged(out, "t"), "OK DELETE completed", "DELETE")
t.ok(not os.path.exists(os.path.join(md, ".Play.2027")), "deleted on disk")
t.like(tagged(out, "u"), "NO", "DELETE INBOX refused")
t.ok(re.search(r'\* STATUS "Entw&APw-rfe" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0 SIZE 0 RECENT 0 HIGHESTMODSEQ \d+\)', out), "STATUS all items")
t.like(tagged(out, "y"), "NO [NONEXISTENT]", "SELECT missing mailbox")

# UTF8=ACCEPT
rc, out, err = imap(md, "a ENABLE UTF8=ACCEPT\r\nb LIST \"\" Entw*\r\nc CREATE \"Gr\u00fc\u00dfe\"\r\nd LOGOUT\r\n")
t.ok('"Entw\u00fcrfe"' in out, "UTF8=ACCEPT lists names in UTF-8")
t.is_(tagged(out, "c"), "OK CREATE completed", "UTF8=ACCEPT CREATE")
t.ok(os.path.isdir(os.path.join(md, ".Gr&APwA3w-e")), "stored in modified UTF-7")

# APPEND, COPY, MOVE, EXPUNGE
lit = b"Subject: appended\r\n\r\nhi\r\n"
script = (b"a SELECT INBOX\r\nb APPEND Sent (\\Seen $Label) \"05-Jan-2025 10:00:00 +0100\" {%d+}\r\n%s\r\n" % (len(lit), lit) +
          b"c APPEND nosuch {3+}\r\nabc\r\n"
          b"d COPY 1:2 Sent\r\ne UID MOVE 2 Trash\r\nf STORE 1 +FLAGS.SILENT (\\Deleted)\r\ng EXPUNGE\r\n"
          b"h STATUS Sent (MESSAGES)\r\ni EXAMINE Sent\r\nj FETCH 1 (INTERNALDATE FLAGS)\r\n"
          b"k APPEND INBOX {99999999999}\r\nl COPY 1 nosuch\r\nm SELECT Trash\r\nn UID EXPUNGE 1\r\no CLOSE\r\np UNSELECT\r\nz LOGOUT\r\n")
rc, out, err = imap(md, script)
t.ok(re.search(r"^b OK \[APPENDUID \d+ 1\]", out, re.M), "APPEND with APPENDUID")
t.like(tagged(out, "c"), "NO [TRYCREATE]", "APPEND to a missing mailbox")
t.ok(re.search(r"^d OK \[COPYUID \d+ 1,2 2:3\]|^d OK \[COPYUID \d+ 1,2 2,3\]", out, re.M), "COPY with COPYUID")
t.ok(re.search(r"^\* OK \[COPYUID \d+ 2 1\]", out, re.M) and "* 2 EXPUNGE" in out, "MOVE: COPYUID then EXPUNGE")
t.ok("* 1 EXPUNGE" in out and tagged(out, "g") == "OK EXPUNGE completed", "EXPUNGE")
t.ok("* STATUS \"Sent\" (MESSAGES 3)" in out, "Sent holds 3")
t.ok('INTERNALDATE " 5-Jan-2025 09:00:00 +0000" FLAGS (\\Seen $Label)' in out, "APPEND date and flags kept")
t.like(tagged(out, "k"), "NO [TOOBIG]", "APPEND too big refused before reading")
t.like(tagged(out, "l"), "NO [TRYCREATE]", "COPY to a missing mailbox")
t.ok(tagged(out, "n").startswith("OK") and tagged(out, "o").startswith("OK"), "UID EXPUNGE, CLOSE")
t.like(tagged(out, "p"), "BAD", "UNSELECT with nothing selected")
t.is_(len(os.listdir(os.path.join(md, "cur"))), 0, "INBOX empty on disk after MOVE and EXPUNGE")

# RENAME INBOX
put(md, "new", "2000.M9.host", MSG1)
rc, out, err = imap(md, "a RENAME INBOX Old\r\nb STATUS Old (MESSAGES)\r\nc STATUS INBOX (MESSAGES)\r\nd LOGOUT\r\n")
t.is_(tagged(out, "a"), "OK RENAME completed", "RENAME INBOX")
t.ok('* STATUS "Old" (MESSAGES 1)' in out and '* STATUS "INBOX" (MESSAGES 0)' in out, "INBOX messages moved, INBOX stays")

# Maildir files with bare LF lines (as facteur-deliver writes them) go out in CRLF
md2 = mkmaildir()
put(md2, "cur", "3000.M1.host:2,S", b"Subject: lf\nFrom: a@b.c\n\nline1\nline2\n")
rc, out, err = imap(md2, "a SELECT INBOX\r\nb FETCH 1 (RFC822.SIZE BODY[] BODY[TEXT])\r\nc STATUS INBOX (SIZE)\r\nd LOGOUT\r\n")
want = b"Subject: lf\r\nFrom: a@b.c\r\n\r\nline1\r\nline2\r\n"
t.ok("RFC822.SIZE %d " % len(want) in out, "RFC822.SIZE counts CRLF")
t.ok(("BODY[] {%d}\r\n" % len(want)) + want.decode() in out, "BODY[] sent with CRLF")
t.ok("BODY[TEXT] {14}\r\nline1\r\nline2\r\n" in out, "BODY[TEXT] with CRLF")
t.ok("(SIZE %d)" % len(want) in out, "STATUS SIZE counts CRLF")

# a file in cur/ without ":2," (some POP3 servers and MDAs leave them so)
md3 = mkmaildir()
put(md3, "cur", "4000.M1.host", b"Subject: noinfo\r\n\r\nx\r\n")
rc, out, err = imap(md3, "a SELECT INBOX\r\nb FETCH 1 (FLAGS BODY.PEEK[TEXT])\r\nc STORE 1 +FLAGS (\\Seen)\r\nd LOGOUT\r\n")
t.ok("* 1 FETCH (FLAGS () BODY[TEXT] {3}\r\nx\r\n)" in out, "a cur/ file without flags is read")
t.is_(os.listdir(os.path.join(md3, "cur")), ["4000.M1.host:2,S"], "STORE gives it a :2, part")

# LIST-EXTENDED: RECURSIVEMATCH with CHILDINFO, subscribed names that are gone
rc, out, err = imap(md3, "a CREATE Proj.A\r\nb SUBSCRIBE Proj.A\r\nc SUBSCRIBE Gone\r\n"
    "d LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\ne LIST (SUBSCRIBED) \"\" *\r\nf LIST \"\" *\r\n"
    "g LIST (RECURSIVEMATCH) \"\" %\r\nz LOGOUT\r\n")
d_part = out.split("\r\nd OK")[0].split("c OK")[-1]
t.ok('"Proj" ("CHILDINFO" ("SUBSCRIBED"))' in d_part, "RECURSIVEMATCH gives the parent with CHILDINFO")
t.ok('* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "." "Gone"' in out, "a subscribed name that is gone is \\NonExistent")
f_part = out.split("\r\nf OK")[0].split("e OK")[-1]
t.ok('"Gone"' not in f_part, "plain LIST does not show it")
t.like(tagged(out, "g"), "BAD", "RECURSIVEMATCH alone is BAD")

# message/rfc822 inside multipart: BODYSTRUCTURE with the inner envelope, sections into it
MSG3 = (b"Subject: outer\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: i@j.k\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n"
        b"--y\r\nContent-Type: text/plain\r\n\r\nplain\r\n--y\r\nContent-Type: text/html\r\n\r\n<b>h</b>\r\n--y--\r\n--x--\r\n")
md4 = mkmaildir()
put(md4, "cur", "5.M.h:2,S", MSG3)
rc, out, err = imap(md4, "a EXAMINE INBOX\r\nb FETCH 1 (BODYSTRUCTURE BODY[2.HEADER] BODY[2.1] BODY[2.2])\r\nz LOGOUT\r\n")
t.ok('("message" "rfc822" NIL NIL NIL "7bit" 167 (NIL "inner" ((NIL NIL "i" "j.k"))' in out, "message/rfc822 BODYSTRUCTURE with the inner ENVELOPE")
t.ok('"alternative" ("boundary" "y") NIL NIL NIL) 13 NIL NIL NIL NIL)' in out, "inner structure and line count")
t.ok('("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 1' in out, "US-ASCII default charset")
t.ok("BODY[2.HEADER] {" in out and "Subject: inner" in out, "BODY[2.HEADER] is the inner header")
t.ok("BODY[2.1] {5}\r\nplain" in out and "BODY[2.2] {8}\r\n<b>h</b>" in out, "sections inside the inner message")

# a mailbox deleted and made again at once gets a new UIDVALIDITY
rc, out, err = imap(md4, "a CREATE Again\r\nb STATUS Again (UIDVALIDITY)\r\nc DELETE Again\r\nd CREATE Again\r\ne STATUS Again (UIDVALIDITY)\r\nz LOGOUT\r\n")
v = re.findall(r"UIDVALIDITY (\d+)", out)
t.ok(len(v) == 2 and v[0] != v[1], "UIDVALIDITY differs after DELETE and CREATE: %r" % v)

# SEARCHRES (RFC 5182, part of IMAP4rev2): SAVE and $
md5 = mkmaildir()
for i in range(5):
    put(md5, "cur", "%d.M.h:2,%s" % (10 + i, "S" if i % 2 else ""), b"Subject: s%d\r\n\r\nx\r\n" % i)
rc, out, err = imap(md5, "a SELECT INBOX\r\nb SEARCH RETURN (SAVE) UNSEEN\r\nc FETCH $ (UID)\r\nd UID SEARCH UID $\r\n"
    "e SEARCH RETURN (SAVE COUNT) SEEN\r\nf STORE $ +FLAGS (\\Flagged)\r\ng SEARCH FLAGGED\r\nh SEARCH $\r\nz LOGOUT\r\n")
b_part = out.split("\r\nb OK")[0].split("a OK")[-1]
t.ok("ESEARCH" not in b_part and "* SEARCH" not in b_part, "SAVE alone answers nothing")
t.ok("* 1 FETCH (UID 1)" in out and "* 3 FETCH (UID 3)" in out and "* 5 FETCH (UID 5)" in out and "* 2 FETCH (UID 2)" not in out, "FETCH $")
t.ok("* SEARCH 1 3 5\r\nd OK" in out, "UID SEARCH UID $")
t.ok('* ESEARCH (TAG "e") COUNT 2' in out, "SAVE with COUNT")
t.ok("* SEARCH 2 4\r\ng OK" in out and "* SEARCH 2 4\r\nh OK" in out, "STORE $ and SEARCH $ use the new result")

# ENABLE IMAP4rev2: ESEARCH replaces SEARCH, no \Recent, no RECENT
put(md5, "new", "99.M.h", b"Subject: fresh\r\n\r\nx\r\n")
rc, out, err = imap(md5, "a ENABLE IMAP4rev2\r\nb SELECT INBOX\r\nc SEARCH SUBJECT fresh\r\nd FETCH 6 FLAGS\r\nz LOGOUT\r\n")
t.ok("* ENABLED IMAP4rev2" in out and "RECENT" not in out, "IMAP4rev2: no RECENT")
t.ok('* ESEARCH (TAG "c") ALL 6' in out, "IMAP4rev2: SEARCH answers ESEARCH")
t.ok("* 6 FETCH (FLAGS ())" in out, "IMAP4rev2: no \\Recent flag")

# MULTIAPPEND (RFC 3502) and UTF8 (literal8) APPEND
m1, m2 = b"Subject: m1\r\n\r\none\r\n", b"Subject: m2\r\n\r\ntwo\r\n"
script = (b"a APPEND Drafts (\\Draft) {%d+}\r\n%s (\\Seen) {%d+}\r\n%s\r\n" % (len(m1), m1, len(m2), m2) +
          b"b STATUS Drafts (MESSAGES)\r\nc APPEND Drafts {3+}\r\nabc {99999999999+}\r\n")
rc, out, err = imap(md5, script)
t.ok(re.search(r"^a OK \[APPENDUID \d+ 1,2\]", out, re.M), "MULTIAPPEND with both UIDs")
t.ok('* STATUS "Drafts" (MESSAGES 2)' in out, "both stored")
t.ok("* BYE" in out, "a second literal too large ends the session")
m3 = b"Subject: \xc3\xa9t\xc3\xa9\r\n\r\nx\r\n"
rc, out, err = imap(md5, b"a ENABLE UTF8=ACCEPT\r\nb APPEND Drafts UTF8 (~{%d+}\r\n%s)\r\nc STATUS Drafts (MESSAGES)\r\nz LOGOUT\r\n" % (len(m3), m3))
t.ok(re.search(r"^b OK \[APPENDUID \d+ 3\]", out, re.M), "APPEND UTF8 (literal8)")

# sizes come from ",W=" in the name when it is there (lib/maildir, Dovecot): no file read
md6 = mkmaildir()
put(md6, "cur", "1.M1.h,S=19,W=23:2,S", b"Subject: w\n\nbody\nx\n")
put(md6, "cur", "2.M2.h:2,S", b"Subject: w\n\nbody\nx\n")
rc, out, err = imap(md6, "a SELECT INBOX\r\nb FETCH 1:2 (RFC822.SIZE)\r\nz LOGOUT\r\n")
t.ok("* 1 FETCH (RFC822.SIZE 23)" in out and "* 2 FETCH (RFC822.SIZE 23)" in out, "size from W= and from counting agree")
idx = open(os.path.join(md6, "facteur-uidlist")).read()
t.ok(re.search(r"^1 \d+ 23 ", idx, re.M), "cached in the index")

# "inbox.Sub" is a child of INBOX, whatever the case
rc, out, err = imap(md6, "a CREATE inbox.Sub\r\nb LIST \"\" *\r\nc STATUS INBOX.sub (MESSAGES)\r\nd STATUS INBOX.Sub (MESSAGES)\r\nz LOGOUT\r\n")
t.ok(os.path.isdir(os.path.join(md6, ".INBOX.Sub")), "stored as .INBOX.Sub")
t.ok('* LIST (\\HasChildren) "." "INBOX"' in out and '"INBOX.Sub"' in out, "listed under INBOX")
t.ok('* STATUS "INBOX.Sub" (MESSAGES 0)' in out, "found again by its name")

# with UTF8=ACCEPT too, only real folders are listed
put(md6, "", ".qmail-x", b"./Maildir/\n")
rc, out, err = imap(md6, "a ENABLE UTF8=ACCEPT\r\nb LIST \"\" *\r\nz LOGOUT\r\n")
t.ok(".qmail" not in out and '"INBOX.Sub"' in out, "UTF8=ACCEPT LIST skips rules files")

# SEARCH BODY/TEXT match decoded text (RFC 9051 6.4.4): base64 and
# quoted-printable parts (soft line breaks, =XX), a message/rfc822 inside,
# and not the base64 letters themselves
import base64 as _b64
md7 = mkmaildir()
b64body = _b64.encodebytes("Grüße: the zanzibarquux report is attached.\n".encode("utf-8")).decode()
M_B64 = ("Subject: b64\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n"
         "--zz\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
         "--zz\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
         + b64body.replace("\n", "\r\n") + "--zz--\r\n").encode()
M_QP = (b"Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"The meeting about the platypus=\r\nbudget is =3D tomorrow; caf=E9 at noon.\r\n")
M_QPBARE = (b"Subject: qp bare LF\nContent-Transfer-Encoding: Quoted-Printable\n\n"
            b"soft=\nbreakword here\n")
M_RFC822 = (b"Subject: fwd\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\n"
            b"Content-Type: message/rfc822\r\n\r\nSubject: inner wombatsubject\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64.b64encode(b"inner kangaroobody text") +
            b"\r\n--o--\r\n")
put(md7, "cur", "1.M1.host:2,", M_B64)
put(md7, "cur", "2.M2.host:2,", M_QP)
put(md7, "cur", "3.M3.host:2,", M_QPBARE)
put(md7, "cur", "4.M4.host:2,", M_RFC822)
b64word = b64body.split()[0][4:12]     # letters of the encoded text, not of the decoded one
rc, out, err = imap(md7, ("a SELECT INBOX\r\n"
    "b SEARCH BODY zanzibarquux\r\n"
    "c SEARCH BODY ZANZIBARQUUX\r\n"
    "d SEARCH TEXT \"platypusbudget\"\r\n"
    "e SEARCH BODY \"is = tomorrow\"\r\n"
    "f SEARCH BODY softbreakword\r\n"
    "g SEARCH BODY kangaroobody\r\n"
    "h SEARCH BODY wombatsubject\r\n"
    "i SEARCH BODY \"" + b64word + "\"\r\n"
    "j SEARCH CHARSET UTF-8 BODY {7+}\r\nGrüße\r\n"
    "k SEARCH TEXT \"see attachment\"\r\n"
    "l SEARCH BODY \"=3D\"\r\n"
    "z LOGOUT\r\n").encode("utf-8"))
t.ok("* SEARCH 1\r\nb OK" in out, "SEARCH BODY finds a word inside a base64 part")
t.ok("* SEARCH 1\r\nc OK" in out, "... without case")
t.ok("* SEARCH 2\r\nd OK" in out, "SEARCH TEXT across a quoted-printable soft line break")
t.ok("* SEARCH 2\r\ne OK" in out, "quoted-printable =3D decoded")
t.ok("* SEARCH 3\r\nf OK" in out, "soft line break with a bare LF")
t.ok("* SEARCH 4\r\ng OK" in out, "base64 body of a message/rfc822 inside")
t.ok("* SEARCH 4\r\nh OK" in out, "header of the message inside is body text")
t.ok("* SEARCH\r\ni OK" in out, "base64 letters themselves are not matched (%s)" % b64word)
t.ok("* SEARCH 1\r\nj OK" in out, "UTF-8 word inside base64, byte-wise")
t.ok("* SEARCH 1\r\nk OK" in out, "unencoded part still found")
t.ok("* SEARCH\r\nl OK" in out, "the raw =3D of quoted-printable is not matched")

# The session's own STORE and EXPUNGE do not make the next commands read
# cur/ again (folder.c, folder_own_begin); a change by someone else after
# ours is seen at the next command; one hidden behind our own mtime (the
# same clock tick, made here with utime) is seen once the trust window
# (2 s) has passed.
import subprocess as _sp
md8 = mkmaildir()
for i in range(1, 6):
    put(md8, "cur", "%d.M%d.host:2," % (100 + i, i), b"Subject: m%d\r\n\r\nbody\r\n" % i)
own(md8)
_env = ft.env_for(md8, FACTEUR_MAILDIR=md8)
_p = _sp.Popen([ft.bin_path("facteur-imapd"), "-m"], stdin=_sp.PIPE, stdout=_sp.PIPE, env=_env)
_p.stdout.readline()

def icmd(tag, text):
    _p.stdin.write(("%s %s\r\n" % (tag, text)).encode())
    _p.stdin.flush()
    lines = []
    for _ in range(1000):
        ln = _p.stdout.readline().decode("utf-8", "replace")
        lines.append(ln)
        if not ln or ln.startswith(tag + " "):
            break
    return "".join(lines)

def cur_names():
    return sorted(os.listdir(os.path.join(md8, "cur")))

curdir = os.path.join(md8, "cur")
out = icmd("a", "SELECT INBOX")
t.ok("* 5 EXISTS" in out, "own changes: 5 messages")
time.sleep(2.2)          # let cur/'s mtime age: trusted from now on
icmd("b", "NOOP")
out = icmd("c", "STORE 1 +FLAGS (\\Flagged)")
t.ok("FLAGS (\\Flagged)" in out and "c OK" in out, "own STORE")
mt = os.stat(curdir).st_mtime_ns
# a file that appears with cur/'s mtime unchanged: not read again at once
put(md8, "cur", "200.M9.host:2,", b"Subject: hidden\r\n\r\nx\r\n")
own(md8)
os.utime(curdir, ns=(mt, mt))
out = icmd("d", "NOOP")
t.ok("EXISTS" not in out, "NOOP right after our own STORE does not read cur/ again")
time.sleep(2.2)
out = icmd("e", "NOOP")
t.ok("* 6 EXISTS" in out, "after the trust window cur/ is read once more: the hidden file is seen")
# someone else's change after our own: seen at the next command
out = icmd("f", "STORE 2 +FLAGS (\\Seen)")
time.sleep(0.05)
n3 = [n for n in cur_names() if n.startswith("103.")][0]
os.rename(os.path.join(curdir, n3), os.path.join(curdir, "103.M3.host:2,F"))
out = icmd("g", "NOOP")
t.ok(re.search(r"\* 3 FETCH \(FLAGS \(\\Flagged\)\)", out), "another writer's rename after our STORE: seen at once")
out = icmd("h", "STORE 4 +FLAGS (\\Deleted)")
out = icmd("i", "EXPUNGE")
t.ok("* 4 EXPUNGE" in out, "own EXPUNGE")
time.sleep(0.05)
put(md8, "cur", "300.M10.host:2,", b"Subject: after\r\n\r\nx\r\n")
own(md8)
out = icmd("j", "NOOP")
t.ok("* 6 EXISTS" in out, "a delivery into cur/ after our EXPUNGE: seen at once")
out = icmd("k", "UID FETCH 1:* (FLAGS)")
t.is_(len(re.findall(r"^\* \d+ FETCH", out, re.M)), 6, "view: 6 messages")
icmd("z", "LOGOUT")
_p.stdin.close()
_p.wait(timeout=10)

# the same after a read of cur/ for someone else's change: not read again
# at every command while cur/'s mtime is young, but once after the window
_p = _sp.Popen([ft.bin_path("facteur-imapd"), "-m"], stdin=_sp.PIPE, stdout=_sp.PIPE, env=_env)
_p.stdout.readline()
out = icmd("a", "SELECT INBOX")
t.ok("* 6 EXISTS" in out, "young cur/: 6 messages")
put(md8, "cur", "400.M11.host:2,", b"Subject: a\r\n\r\nx\r\n")
own(md8)
out = icmd("b", "NOOP")
t.ok("* 7 EXISTS" in out, "a new file in cur/: seen at once")
mt = os.stat(curdir).st_mtime_ns
put(md8, "cur", "401.M12.host:2,", b"Subject: b\r\n\r\nx\r\n")
own(md8)
os.utime(curdir, ns=(mt, mt))
out = icmd("c", "NOOP")
t.ok("EXISTS" not in out, "cur/ not read again while its mtime is the one just read")
time.sleep(2.2)
out = icmd("d", "NOOP")
t.ok("* 8 EXISTS" in out, "read once more after the trust window")
icmd("z", "LOGOUT")
_p.stdin.close()
_p.wait(timeout=10)
