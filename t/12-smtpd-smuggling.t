#!/usr/bin/env python3
"""SMTP smuggling (CVE-2023-51764/5/6) and BDAT: only CRLF.CRLF ends DATA,
a message holding a bare CR or LF is refused whole and never split, with
DATA, BDAT and PIPELINING mixed; BDAT sizes up to 2^64+1 never overflow."""
import importlib.util
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

st = ft.data_module("smtpdt", "smtpd-tlib.py")

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-smtpd")):
    t.skip_all("bin/facteur-smtpd not built")
home, q = st.instance()

HEAD = b"EHLO client.example\r\nMAIL FROM:<bob@remote.test>\r\nRCPT TO:<alice@example.org>\r\n"
SMUGGLED = (b"MAIL FROM:<admin@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nevil\r\n")


def talk(data, **kw):
    rc, out, err = st.session(home, q, data, **kw)
    return rc, out, err


# --- DATA: each end-of-data look-alike ---
variants = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r", b"\n..\n",
            b"\r\n.\r\r\n", b"\r\n\x00.\r\n"[:0] + b"\n.\n\r\n"]
for v in variants:
    st.clear(q)
    msg = b"Subject: legit\r\n\r\nhello" + v + SMUGGLED + b".\r\n"
    rc, out, err = talk(HEAD + b"DATA\r\n" + msg + b"QUIT\r\n")
    c = st.codes(out)
    t.is_(c, ["220", "250", "250", "250", "354", "554", "221"],
          "DATA with %r: one reply for the whole, 554" % v)
    t.is_(st.queued(q), [], "DATA with %r: nothing queued, nothing split" % v)
    t.ok(b"554 5.6.0" in out, "DATA with %r: 554 5.6.0" % v)

# a line too long to keep, ending in a bare LF: its tail is dropped but
# its ending still counts, so the ".\r\n" after it ends nothing
st.clear(q)
rc, out, err = talk(HEAD + b"DATA\r\nSubject: long\r\n\r\n" + b"w" * 3000 + b"\n.\r\n" + SMUGGLED +
                    b".\r\nQUIT\r\n")
t.is_(st.codes(out), ["220", "250", "250", "250", "354", "554", "221"],
      "overlong line ending in bare LF, then .\\r\\n: not the end")
t.is_(st.queued(q), [], "overlong + smuggling: nothing queued")
rc, out, err = talk(HEAD + b"DATA\r\n" + b"w" * 20000 + b"\r\n.\r\nQUIT\r\n")
t.is_(st.codes(out)[4:], ["354", "554", "221"], "20000-byte line over several reads, then the end")
st.clear(q)
rc, out, err = talk(HEAD + b"DATA\r\nSubject: lf\r\n\r\nunix\nline\r\n.\r\nQUIT\r\n")
t.like(st.replies(out)[5], "554 5.6.0", "bare LF in the body: refused")
rc, out, err = talk(HEAD + b"DATA\r\nSubject: cr\r\n\r\nmac\rline\r\n.\r\nQUIT\r\n")
t.like(st.replies(out)[5], "554 5.6.0", "bare CR in the body: refused")
t.is_(st.queued(q), [], "neither queued")
rc, out, err = talk(HEAD + b"DATA\r\nSubject: ok\r\n\r\nfine\r\n.\r\nQUIT\r\n")
t.is_(len(st.queued(q)), 1, "a clean message still goes through")

# --- the message and later commands in one write (PIPELINING) ---
st.clear(q)
rc, out, err = talk(HEAD + b"DATA\r\nSubject: a\r\n\r\nx\n.\r\n" + SMUGGLED + b".\r\nNOOP\r\nQUIT\r\n")
t.is_(st.codes(out), ["220", "250", "250", "250", "354", "554", "250", "221"],
      "\\n.\\r\\n then pipelined commands: all one refused message")
t.is_(st.queued(q), [], "pipelined smuggling: nothing queued")

# --- BDAT ---
st.clear(q)
chunk = b"Subject: bdat\r\n\r\nhello\r\n"
rc, out, err = talk(HEAD + b"BDAT %d LAST\r\n" % len(chunk) + chunk + b"QUIT\r\n")
t.is_(st.codes(out), ["220", "250", "250", "250", "250", "221"], "BDAT LAST accepted")
m = st.queued(q)
t.ok(len(m) == 1 and st.body(m[0][0]) == chunk, "BDAT message queued exactly")
st.clear(q)
a, b = b"Subject: two chunks\r\n\r\nab\r", b"\ncd\r\n"
rc, out, err = talk(HEAD + b"BDAT %d\r\n" % len(a) + a + b"BDAT %d LAST\r\n" % len(b) + b + b"QUIT\r\n")
t.is_(st.codes(out)[4:], ["250", "250", "221"], "CRLF split across two chunks is fine")
m = st.queued(q)
t.ok(len(m) == 1 and st.body(m[0][0]) == a + b, "two chunks joined")
st.clear(q)
rc, out, err = talk(HEAD + b"BDAT 3\r\nab\rBDAT 0 LAST\r\nQUIT\r\n")
t.ok(b"554 5.6.0" in out and st.queued(q) == [], "chunk ending in CR, then LAST: bare CR refused")
rc, out, err = talk(HEAD + b"BDAT 0 LAST\r\nQUIT\r\n")
t.is_(st.codes(out)[4:], ["250", "221"], "BDAT 0 LAST: empty message accepted")

for v in [b"\n.\n", b"\r.\r", b"\r\n.\n"]:
    st.clear(q)
    body = b"Subject: x\r\n\r\nhi" + v + SMUGGLED + b".\r\n"
    rc, out, err = talk(HEAD + b"BDAT %d LAST\r\n" % len(body) + body + b"QUIT\r\n")
    t.is_(st.codes(out)[4:], ["554", "221"], "BDAT with %r: 554" % v)
    t.is_(st.queued(q), [], "BDAT with %r: nothing queued" % v)
st.clear(q)
body = b"Subject: x\r\n\r\nhi\n.\n"
rc, out, err = talk(HEAD + b"BDAT %d\r\n" % len(body) + body + b"BDAT 5 LAST\r\nabc\r\nQUIT\r\n")
t.is_(st.codes(out)[4:], ["554", "503", "221"], "bad first chunk: 554, the rest 503 and skipped")
t.is_(st.queued(q), [], "nothing queued")

# BDAT bytes are data, never commands, whatever the reply
rc, out, err = talk(b"EHLO c\r\nBDAT 6\r\nQUIT\r\nNOOP\r\nQUIT\r\n")
t.is_(st.codes(out), ["220", "250", "503", "250", "221"], "BDAT without MAIL: 503, its bytes skipped")
rc, out, err = talk(HEAD + b"BDAT 4\r\nabc\nDATA\r\nQUIT\r\n")
t.is_(st.codes(out)[4:], ["554", "503", "221"], "DATA after a failed BDAT: 503 (no transaction)")
rc, out, err = talk(HEAD + b"BDAT 4\r\nab\r\nDATA\r\nRSET\r\nQUIT\r\n")
t.is_(st.codes(out)[4:], ["250", "503", "250", "221"], "DATA during BDAT: 503")
rc, out, err = talk(HEAD + b"BDAT\r\nBDAT x\r\nBDAT 1 NOTLAST\r\nQUIT\r\n")
t.is_(st.codes(out)[4:], ["501", "501", "501", "221"], "BDAT syntax errors")

# databytes with BDAT: skipped and refused, session in step
st.write_control(home, "databytes", "100\n")
st.clear(q)
big = b"x" * 150
rc, out, err = talk(HEAD + b"BDAT 150 LAST\r\n" + big + b"NOOP\r\nQUIT\r\n")
t.is_(st.codes(out)[4:], ["552", "250", "221"], "BDAT over databytes: 552, then in step")
rc, out, err = talk(HEAD + b"BDAT 60\r\n" + big[:60] + b"BDAT 60 LAST\r\n" + big[:60] + b"QUIT\r\n")
t.is_(st.codes(out)[4:], ["250", "552", "221"], "two chunks over databytes: 552")
t.is_(st.queued(q), [], "nothing queued over databytes")
# the client's pipelined rest of a refused transaction is not garbage...
rest = b"".join(b"BDAT 10\r\n" + big[:10] for _ in range(7)) + b"BDAT 10 LAST\r\n" + big[:10]
rc, out, err = talk(HEAD + b"BDAT 150\r\n" + big + rest + b"NOOP\r\nQUIT\r\n")
t.is_(st.codes(out)[4:], ["552"] + ["503"] * 8 + ["250", "221"],
      "chunks after a transaction refused midway: 503 each, up to LAST, no hang-up")
# ...but chunks with no transaction at all are, as DATA without MAIL is
rc, out, err = talk(b"EHLO c\r\n" + b"BDAT 3\r\nabc" * 7 + b"NOOP\r\nQUIT\r\n")
t.is_(st.codes(out), ["220", "250"] + ["503"] * 6 + ["421"],
      "BDAT without MAIL, again and again: 421 after six")
rc, out, err = talk(b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<nobody@example.org>\r\n" +
                   b"BDAT 3\r\nabc" * 7 + b"BDAT 3 LAST\r\nabcNOOP\r\nQUIT\r\n")
t.is_(st.codes(out), ["220", "250", "250", "550"] + ["554"] * 8 + ["250", "221"],
      "every RCPT refused, eight chunks pipelined: 554 each, no hang-up")

# sizes that cannot be skipped: 552 and hang up, no overflow, no hang
for size in ["2147483648", "4294967296", "9223372036854775808", "18446744073709551615",
             "18446744073709551616", "18446744073709551617", "99999999999999999999999"]:
    rc, out, err = talk(HEAD + b"BDAT " + size.encode() + b" LAST\r\nxyz\r\nQUIT\r\n", timeout=10)
    t.is_(st.codes(out)[4:], ["552"], "BDAT %s: 552 and hang up" % size)
st.write_control(home, "databytes", "0\n")
rc, out, err = talk(HEAD + b"BDAT 18446744073709551616 LAST\r\nxyz\r\nQUIT\r\n", timeout=10)
t.is_(st.codes(out)[4:], ["552"], "BDAT 2^64 with no databytes limit: 552 and hang up")
rc, out, err = talk(HEAD + b"BDAT 9223372036854775808 LAST\r\nxyz", timeout=10)
t.ok(rc == 0 and st.codes(out)[4:] == [], "BDAT 2^63 with no limit: reads until the client goes")
st.write_control(home, "databytes", "52428800\n")
