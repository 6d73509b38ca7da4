/* unit tests of lib/mutf7, lib/mime and facteur-imapd's sequence sets,
 * linked directly (t/50-imap-unit.t). */
#include <stdlib.h>
#include <string.h>
#include "../../imapd/imapd-internal.h"
#include "mime.h"
#include "mutf7.h"
#include "tap.h"

static int dec(const char *in, const char *want)
{
	str o = STR_ZERO;
	int r = mutf7_decode(in, strlen(in), &o);
	int ok = want ? r && o.len == strlen(want) && memcmp(o.s, want, o.len) == 0 : !r;
	str_free(&o);
	return ok;
}

static int enc(const char *in, const char *want)
{
	str o = STR_ZERO;
	int r = mutf7_encode(in, strlen(in), &o);
	int ok = want ? r && o.len == strlen(want) && memcmp(o.s, want, o.len) == 0 : !r;
	str_free(&o);
	return ok;
}

static int set(const char *s, uint32_t max, uint32_t probe, int want)
{
	struct seqset x = { 0, 0, 0, 0 };
	int r = seqset_parse(s, strlen(s), &x);
	int ok;
	if (!r) { seqset_free(&x); return want < 0; }
	seqset_resolve(&x, max);
	ok = want >= 0 && seqset_has(&x, probe) == want;
	seqset_free(&x);
	return ok;
}

int main(void)
{
	struct mime_tree t = { 0, 0, 0, 0, 0 };
	str big = STR_ZERO;
	size_t i;
	const char *msg = "Subject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
	                  "Content-Type: text/plain\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n";

	OK(dec("INBOX", "INBOX"), "mUTF-7 ASCII");
	OK(dec("&-", "&"), "mUTF-7 ampersand");
	OK(dec("Entw&APw-rfe", "Entw\xc3\xbcrfe"), "mUTF-7 u-umlaut");
	OK(dec("&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), "mUTF-7 CJK");
	OK(dec("&AC4ALgAv-", 0), "encoded ../ refused");
	OK(dec("&AC8-", 0), "encoded / refused");
	OK(dec("&AAA-", 0), "encoded NUL refused");
	OK(dec("&APw", 0), "unterminated shift refused");
	OK(dec("&2D3eAQ-", "\xf0\x9f\x98\x81"), "surrogate pair");
	OK(dec("&2D0-", 0), "lone high surrogate refused");
	OK(dec("a\x01", 0), "control byte refused");
	OK(dec("\xc3\xbc", 0), "8-bit byte refused");
	OK(enc("Entw\xc3\xbcrfe", "Entw&APw-rfe"), "encode u-umlaut");
	OK(enc("a&b", "a&-b"), "encode ampersand");
	OK(enc("\xf0\x9f\x98\x81", "&2D3eAQ-"), "encode astral");
	OK(enc("\xc3", 0), "bad UTF-8 refused");

	OK(set("1:*", 10, 10, 1), "1:* has max");
	OK(set("*:*", 10, 10, 1), "*:* is max");
	OK(set("*:*", 10, 1, 0), "*:* is not 1");
	OK(set("4294967295", 10, 4294967295u, 1), "2^32-1 allowed");
	OK(set("4294967296", 10, 0, -1), "2^32 refused");
	OK(set("18446744073709551617", 10, 1, -1), "2^64+1 refused");
	OK(set("0", 10, 0, -1), "0 refused");
	OK(set("0:5", 10, 0, -1), "0 in range refused");
	OK(set("1:4294967295", 10, 7, 1), "huge range");
	OK(set("4294967295:1", 10, 1, 1), "reversed huge range");
	OK(set("5:3,9", 10, 4, 1), "reversed range");
	OK(set("5:3,9", 10, 6, 0), "gap");
	OK(set("1,", 10, 1, -1), "trailing comma refused");
	OK(set("1:2:3", 10, 1, -1), "double colon refused");

	OK(mime_parse(msg, strlen(msg), &t) && t.n == 3, "multipart: root + 2 parts");
	OK(t.n == 3 && t.p[1].bodylen == 3 && memcmp(msg + t.p[1].body, "one", 3) == 0, "part 1 body");
	OK(t.n == 3 && t.p[2].bodylen == 3 && memcmp(msg + t.p[2].body, "two", 3) == 0, "part 2 body");
	mime_free(&t);
	/* deep nesting: bounded */
	for (i = 0; i < 5000; i++) {
		str_appends(&big, "Content-Type: multipart/mixed; boundary=\"b");
		str_appendu(&big, i);
		str_appends(&big, "\"\r\n\r\n--b");
		str_appendu(&big, i);
		str_appends(&big, "\r\n");
	}
	OK(mime_parse(big.s, big.len, &t) && t.n <= MIME_DEPTH_MAX + 2, "deep nesting bounded");
	mime_free(&t);
	str_clear(&big);
	str_appends(&big, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (i = 0; i < 10000; i++) str_appends(&big, "--b\r\n\r\nx\r\n");
	OK(mime_parse(big.s, big.len, &t) && t.n <= MIME_PARTS_MAX, "parts count bounded");
	mime_free(&t);
	str_copys(&big, "Content-Type: multipart/mixed; boundary=b\r\n\r\nno boundary at all\r\n");
	OK(mime_parse(big.s, big.len, &t) && t.n == 2, "missing boundary: one part");
	mime_free(&t);
	/* random soup of MIME pieces: parsing never fails, never overruns */
	{
		static const char *const piece[] = {
			"Content-Type: multipart/mixed; boundary=b\r\n", "Content-Type: message/rfc822\r\n",
			"Content-Type: multipart/digest; boundary=\"b\"\r\n", "\r\n", "\n", "--b\r\n", "--b--\r\n",
			"--b", "x", " folded\r\n", "Subject: s\r\n", ":", "\r", "Content-Type: ;;;=\"\r\n" };
		unsigned seed = 12345;
		int all = 1;
		for (i = 0; i < 3000; i++) {
			size_t k, n = 1 + i % 60;
			str_clear(&big);
			for (k = 0; k < n; k++) {
				seed = seed * 1103515245u + 12345u;
				str_appends(&big, piece[(seed >> 16) % (sizeof piece / sizeof piece[0])]);
			}
			if (!mime_parse(big.s, big.len, &t)) all = 0;
			for (k = 0; k < t.n; k++)
				if (t.p[k].body + t.p[k].bodylen > big.len || t.p[k].hdr + t.p[k].hdrlen > big.len) all = 0;
			mime_free(&t);
		}
		OK(all, "3000 random MIME soups parse within bounds");
	}
	str_free(&big);
	DONE();
}
