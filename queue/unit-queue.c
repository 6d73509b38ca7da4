/* unit-queue.c: unit tests of the queue's parsers, linked directly: the
 * envelope scanner (whole and byte by byte), info/ files (round trip,
 * truncations), sendmail's address lists. Runs as whoever runs the tests. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "../t/unit/tap.h"
#include "exitcodes.h"
#include "inject.h"
#include "qfile.h"

static int scan_all(const char *s, size_t n)
{
	struct envscan e = { 0, 0, 0 };
	return envscan_feed(&e, s, n);
}

/* the same envelope fed one more byte at a time must give the same answer */
static int scan_bytewise(const char *s, size_t n)
{
	struct envscan e = { 0, 0, 0 };
	size_t i;
	int r = 0;

	for (i = 1; i <= n; i++) {
		r = envscan_feed(&e, s, i);
		if (r != 0) return r;
	}
	return r;
}

static int addrs(const char *list, const char *want)
{
	struct inject in;
	int r, ok;

	memset(&in, 0, sizeof in);
	str_copys(&in.me, "me.test");
	r = inject_addrlist(&in, list, strlen(list));
	if (!want) ok = r != INJECT_OK;
	else {
		size_t i;
		for (i = 0; i < in.rcpts.len; i++) if (!in.rcpts.s[i]) in.rcpts.s[i] = ' ';
		ok = r == INJECT_OK && in.rcpts.len == strlen(want) &&
		     (!in.rcpts.len || memcmp(in.rcpts.s, want, in.rcpts.len) == 0);
		if (!ok) printf("# got %.*s\n", (int)in.rcpts.len, in.rcpts.s ? in.rcpts.s : "");
	}
	inject_free(&in);
	return ok;
}

int main(void)
{
	static const char good[] = "Fa@b\0Tc@d\0Te@f\0";   /* + the final NUL */
	size_t glen = sizeof good;                          /* includes it */
	struct qinfo q, q2;
	str out = STR_ZERO, out2 = STR_ZERO;
	size_t n, bad;
	char big[2100];

	OK(scan_all(good, glen) == 1, "envelope: complete");
	OK(scan_bytewise(good, glen) == 1, "envelope: complete when fed byte by byte");
	OK(scan_all(good, glen - 1) == 0, "envelope: without the final NUL, needs more");
	OK(scan_all("F\0\0", 3) == QQ_ENVELOPE, "envelope: no recipient");
	OK(scan_all("F\0T\0\0", 5) == QQ_ENVELOPE, "envelope: empty recipient");
	OK(scan_all("Ta\0\0", 4) == QQ_ENVELOPE, "envelope: no F");
	OK(scan_all("F\0Ta\nb\0\0", 8) == QQ_ENVELOPE, "envelope: LF in an address");
	OK(scan_all("F\0Xa\0\0", 6) == QQ_ENVELOPE, "envelope: unknown record");
	OK(scan_all("F\0\0", 3) == QQ_ENVELOPE && scan_bytewise("F\0\0", 3) == QQ_ENVELOPE,
	   "envelope: same verdict whole and bytewise");
	memset(big, 'x', sizeof big);
	big[0] = 'F';
	OK(scan_all(big, sizeof big) == QQ_ADDR_TOOLONG, "envelope: overlong sender without NUL stops early");
	big[1500] = 0;
	OK(scan_all(big, 1501) == QQ_ADDR_TOOLONG, "envelope: overlong sender");

	OK(qinfo_from_envelope(&q, good, glen, 1000), "info from envelope");
	OK(q.nr == 2 && q.r[0].state == RS_PENDING && q.r[1].next == 1000, "two pending recipients");
	q.r[0].state = RS_DONE;
	q.r[1].tries = 3;
	q.r[1].next = 99999;
	str_copys(&q.r[1].reason, "4.2.2 mailbox full");
	q.warned = 1;
	OK(qinfo_format(&q, &out), "format");
	OK(qinfo_parse(&q2, out.s, out.len), "parse back");
	OK(qinfo_format(&q2, &out2) && out2.len == out.len && memcmp(out.s, out2.s, out.len) == 0,
	   "round trip is exact");
	OK(q2.warned == 1 && q2.r[1].tries == 3 && q2.r[1].next == 99999 && q2.r[0].state == RS_DONE,
	   "fields survive");
	qinfo_free(&q2);
	bad = 0;
	for (n = 0; n < out.len; n++) {
		int r = qinfo_parse(&q2, out.s, n);
		int whole = n > 0 && out.s[n - 1] == 0 && (n == out.len);
		if (r && !whole) {
			/* a prefix may be a valid file with fewer recipients only */
			if (q2.nr >= q.nr) bad++;
		}
		if (r) qinfo_free(&q2);
	}
	OK(bad == 0, "no truncation parses as the whole file");
	qinfo_free(&q);
	OK(!qinfo_parse(&q2, "V1\0Q1\0Sa\0RZ 1 1 x\0E\0", 20), "unknown state refused");
	OK(!qinfo_parse(&q2, "V1\0Q1\0Sa\0", 10), "no recipient refused");
	OK(!qinfo_parse(&q2, "V2\0Q1\0Sa\0RP 1 1 x\0E\0", 20), "other version refused");
	OK(qinfo_from_envelope(&q, "Fa\0Tx@y\0Tx@y\0TX@y\0\0", 19, 1) && q.nr == 2, "duplicate recipient once");
	qinfo_free(&q);

	OK(addrs("a@b.test", "a@b.test "), "addr: plain");
	OK(addrs("Name <a@b.test>, c@d.test", "a@b.test c@d.test "), "addr: angle and plain");
	OK(addrs("\"Doe, John\" <j@d.test>", "j@d.test "), "addr: quoted comma");
	OK(addrs("(c) a@b.test (x, y)", "a@b.test "), "addr: comments");
	OK(addrs("g: a@b.test, c@d.test;, e@f.test", "a@b.test c@d.test e@f.test "), "addr: group");
	OK(addrs("undisclosed-recipients:;", ""), "addr: empty group");
	OK(addrs("bob", "bob@me.test "), "addr: bare name qualified");
	OK(addrs("<@r.test,@s.test:u@t.test>", "u@t.test "), "addr: source route dropped");
	OK(addrs("u@[192.0.2.1]", "u@[192.0.2.1] "), "addr: literal");
	OK(addrs("<a@b.test", 0), "addr: unterminated angle refused");
	OK(addrs("a@@b.test", 0), "addr: double @ refused");
	OK(addrs("\"unterminated@b.test", 0), "addr: unterminated quote refused");
	OK(addrs("a\001b@c.test", 0), "addr: control byte refused");

	str_free(&out);
	str_free(&out2);
	DONE();
}
