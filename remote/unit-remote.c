/* unit-remote.c: unit tests of lib/smtpreply (multi-line, overlong and bad
 * replies), lib/dns's wire parsing (crafted answers: compression loops,
 * forward pointers, truncated records, CNAME chains and loops, null MX)
 * and facteur-remote's body conversion (CRLF, dot-stuffing). */
#include <string.h>
#include "dns.h"
#include "remote.h"
#include "smtpreply.h"
#include "str.h"
#include "../t/unit/tap.h"

static int feed(struct smtpreply *r, const char *lines)
{
	int res = SMTPREPLY_MORE;
	const char *p = lines;

	smtpreply_init(r);
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p + 1) : strlen(p);
		res = smtpreply_line(r, p, n, 0);
		if (res != SMTPREPLY_MORE) return res;
		p += n;
	}
	return res;
}

/* a packet under construction */
struct pkt { unsigned char b[4096]; size_t n; };

static void put(struct pkt *p, const void *s, size_t n) { memcpy(p->b + p->n, s, n); p->n += n; }
static void put16(struct pkt *p, unsigned v) { p->b[p->n++] = (unsigned char)(v >> 8); p->b[p->n++] = (unsigned char)v; }
static void putname(struct pkt *p, const char *name)
{
	while (*name) {
		const char *d = strchr(name, '.');
		size_t l = d ? (size_t)(d - name) : strlen(name);
		p->b[p->n++] = (unsigned char)l;
		put(p, name, l);
		name += l;
		if (*name == '.') name++;
	}
	p->b[p->n++] = 0;
}
static void header(struct pkt *p, unsigned id, unsigned flags, unsigned an)
{
	p->n = 0;
	put16(p, id); put16(p, flags); put16(p, 1); put16(p, an); put16(p, 0); put16(p, 0);
}
static void question(struct pkt *p, const char *name, unsigned type)
{
	putname(p, name); put16(p, type); put16(p, 1);
}
static void rrhead(struct pkt *p, unsigned type, unsigned rdlen)
{
	put16(p, type); put16(p, 1); put16(p, 0); put16(p, 300); put16(p, rdlen);
}

static int body_is(const char *in, size_t n, int stuff, const char *want)
{
	struct body b;
	str out = STR_ZERO;
	int ok;

	body_init(&b);
	body_feed(&b, in, n, stuff, &out);
	body_end(&b, &out);
	ok = out.len == strlen(want) && (!out.len || memcmp(out.s, want, out.len) == 0) && b.size == out.len;
	if (!ok) printf("# got %.*s\n", (int)out.len, out.s ? out.s : "");
	str_free(&out);
	return ok;
}

int main(void)
{
	struct smtpreply r;
	char esc[SMTPREPLY_ESC_MAX];
	str s = STR_ZERO;
	struct pkt p;
	struct dns_answer a;
	char name[DNS_NAME_MAX + 1];
	size_t off;
	unsigned char q[DNS_UDP_MAX];
	struct sockaddr_storage ss;
	int i;

	memset(&r, 0, sizeof r);
	/* ---- SMTP replies ---- */
	OK(feed(&r, "250 ok\r\n") == SMTPREPLY_DONE && r.code == 250, "single line");
	OK(feed(&r, "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n") == SMTPREPLY_DONE &&
	   r.lines == 3 && strstr(r.text.s, "PIPELINING\nSIZE 1000") != 0, "multi-line EHLO reply");
	OK(feed(&r, "250\r\n") == SMTPREPLY_DONE && r.code == 250, "bare code");
	OK(feed(&r, "250-a\r\n251 b\r\n") == SMTPREPLY_EBAD, "code changes mid-reply");
	OK(feed(&r, "25x ok\r\n") == SMTPREPLY_EBAD, "non-digit code");
	OK(feed(&r, "650 ok\r\n") == SMTPREPLY_EBAD, "first digit 6");
	OK(feed(&r, "190 ok\r\n") == SMTPREPLY_EBAD, "first digit 1");
	OK(feed(&r, "2500 ok\r\n") == SMTPREPLY_EBAD, "four digits");
	OK(feed(&r, "250_ok\r\n") == SMTPREPLY_EBAD, "bad separator");
	OK(feed(&r, "\r\n") == SMTPREPLY_EBAD, "empty line");
	OK(feed(&r, "HTTP/1.1 400 Bad\r\n") == SMTPREPLY_EBAD, "not SMTP at all");
	smtpreply_init(&r);
	for (i = 0; i < SMTPREPLY_LINES_MAX; i++)
		if (smtpreply_line(&r, "250-x\r\n", 7, 0) != SMTPREPLY_MORE) break;
	OK(i == SMTPREPLY_LINES_MAX && smtpreply_line(&r, "250-x\r\n", 7, 0) == SMTPREPLY_ETOOMANY,
	   "endless continuation lines stop");
	smtpreply_init(&r);
	str_copys(&s, "550 ");
	for (i = 0; i < 10000; i++) str_appendc(&s, 'x');
	OK(smtpreply_line(&r, s.s, s.len, 1) == SMTPREPLY_DONE && r.text.len <= SMTPREPLY_TEXT_MAX && r.truncated,
	   "overlong line bounded");
	OK(feed(&r, "550 5.1.1 <a@b> no such user\r\n") == SMTPREPLY_DONE && smtpreply_esc(&r, esc) &&
	   strcmp(esc, "5.1.1") == 0, "enhanced status code");
	OK(feed(&r, "550 4.1.1 mismatch\r\n") == SMTPREPLY_DONE && !smtpreply_esc(&r, esc), "class mismatch ignored");
	OK(feed(&r, "550 5.1234.1 x\r\n") == SMTPREPLY_DONE && !smtpreply_esc(&r, esc), "bad esc subject");
	OK(feed(&r, "250 a\tb\x01\x1b[31m\r\n") == SMTPREPLY_DONE && !memchr(r.text.s, 0x1b, r.text.len) &&
	   !memchr(r.text.s, 1, r.text.len), "control bytes replaced");
	feed(&r, "421-a\r\n421 b\r\n");
	str_clear(&s);
	OK(smtpreply_oneline(&r, &s) && s.len == 9 && memcmp(s.s, "421 a / b", 9) == 0, "one-line form");

	/* ---- DNS wire ---- */
	OK(dns_build_query(q, sizeof q, 0x1234, "example.net", DNS_T_MX) == 12 + 13 + 4, "query built");
	OK(dns_build_query(q, sizeof q, 1, "a..b", DNS_T_MX) == 0, "empty label refused");
	str_clear(&s);
	for (i = 0; i < 64; i++) str_appendc(&s, 'a');
	str_0(&s);
	OK(dns_build_query(q, sizeof q, 1, s.s, DNS_T_A) == 0, "64-byte label refused");

	/* an MX answer with compression */
	header(&p, 7, 0x8180, 2);
	question(&p, "example.net", DNS_T_MX);
	put16(&p, 0xc00c); rrhead(&p, DNS_T_MX, 2 + 5);
	put16(&p, 20); put(&p, "\x02mx\xc0\x0c", 5);
	put16(&p, 0xc00c); rrhead(&p, DNS_T_MX, 2 + 6);
	put16(&p, 10); put(&p, "\x03mx2\xc0\x0c", 6);
	OK(dns_parse_answer(p.b, p.n, 7, "Example.NET", DNS_T_MX, &a) == DNS_OK && a.n == 2 &&
	   strcmp(a.rr[0].name, "mx.example.net") == 0 && a.rr[0].pref == 20 &&
	   strcmp(a.rr[1].name, "mx2.example.net") == 0, "MX answer with compression");
	OK(dns_parse_answer(p.b, p.n, 8, "example.net", DNS_T_MX, &a) == DNS_TEMP, "wrong id");
	OK(dns_parse_answer(p.b, p.n, 7, "example.org", DNS_T_MX, &a) == DNS_TEMP, "wrong question");
	OK(dns_parse_answer(p.b, p.n, 7, "example.net", DNS_T_A, &a) == DNS_TEMP, "wrong type");
	for (size_t cut = 0; cut < p.n; cut++)
		if (dns_parse_answer(p.b, cut, 7, "example.net", DNS_T_MX, &a) != DNS_TEMP) {
			printf("# cut at %zu parsed\n", cut);
			OK(0, "truncated packet");
			break;
		}
	OK(1, "every truncation of the answer is a temporary failure");

	/* null MX */
	header(&p, 9, 0x8180, 1);
	question(&p, "nomail.test", DNS_T_MX);
	put16(&p, 0xc00c); rrhead(&p, DNS_T_MX, 3);
	put16(&p, 0); p.b[p.n++] = 0;
	OK(dns_parse_answer(p.b, p.n, 9, "nomail.test", DNS_T_MX, &a) == DNS_OK && a.n == 1 &&
	   a.rr[0].name[0] == 0 && a.rr[0].pref == 0, "null MX parsed as root");

	/* a pointer to itself: compression loop */
	header(&p, 3, 0x8180, 1);
	question(&p, "loop.test", DNS_T_MX);
	put16(&p, 0xc00c); rrhead(&p, DNS_T_MX, 4);
	put16(&p, 10);
	put16(&p, 0xc000 | (unsigned)p.n);     /* points at itself */
	OK(dns_parse_answer(p.b, p.n, 3, "loop.test", DNS_T_MX, &a) == DNS_TEMP, "self pointer refused");
	/* a two-pointer cycle: label then pointer back to the label */
	header(&p, 3, 0x8180, 1);
	question(&p, "loop.test", DNS_T_MX);
	put16(&p, 0xc00c); rrhead(&p, DNS_T_MX, 2 + 4);
	put16(&p, 10);
	{
		unsigned at = (unsigned)p.n;
		put(&p, "\x01x", 2);
		put16(&p, 0xc000 | at);
	}
	OK(dns_parse_answer(p.b, p.n, 3, "loop.test", DNS_T_MX, &a) == DNS_TEMP, "compression cycle refused");
	/* forward pointer */
	{
		unsigned char f[] = { 0xc0, 0x05, 0, 0, 0, 1, 'a', 0 };
		off = 0;
		OK(!dns_name_expand(f, sizeof f, &off, name), "forward pointer refused");
	}
	{
		unsigned char f[] = { 3, 'a', '.', 'b', 0 };
		off = 0;
		OK(!dns_name_expand(f, sizeof f, &off, name), "dot inside a label refused");
	}
	{
		unsigned char f[] = { 0x40, 'a', 0 };
		off = 0;
		OK(!dns_name_expand(f, sizeof f, &off, name), "extended label type refused");
	}
	{
		/* 300 bytes of name through labels of 63 */
		unsigned char f[400];
		size_t k = 0;
		for (i = 0; i < 5; i++) { f[k++] = 63; memset(f + k, 'a', 63); k += 63; }
		f[k++] = 0;
		off = 0;
		OK(!dns_name_expand(f, k, &off, name), "name over 255 refused");
	}
	/* an A record with a wrong length */
	header(&p, 4, 0x8180, 1);
	question(&p, "a.test", DNS_T_A);
	put16(&p, 0xc00c); rrhead(&p, DNS_T_A, 3);
	put(&p, "\1\2\3", 3);
	OK(dns_parse_answer(p.b, p.n, 4, "a.test", DNS_T_A, &a) == DNS_TEMP, "A record of 3 bytes refused");
	/* rdlength past the end */
	header(&p, 4, 0x8180, 1);
	question(&p, "a.test", DNS_T_A);
	put16(&p, 0xc00c); rrhead(&p, DNS_T_A, 400);
	put(&p, "\1\2\3\4", 4);
	OK(dns_parse_answer(p.b, p.n, 4, "a.test", DNS_T_A, &a) == DNS_TEMP, "rdlength past the packet");
	/* CNAME chain inside the answer */
	header(&p, 5, 0x8180, 2);
	question(&p, "www.test", DNS_T_A);
	put16(&p, 0xc00c); rrhead(&p, DNS_T_CNAME, 6);
	put(&p, "\x04host", 5); p.b[p.n++] = 0;
	putname(&p, "host"); rrhead(&p, DNS_T_A, 4); put(&p, "\x7f\0\0\x02", 4);
	OK(dns_parse_answer(p.b, p.n, 5, "www.test", DNS_T_A, &a) == DNS_OK && a.n == 1 &&
	   a.rr[0].addr[0] == 127 && a.rr[0].addr[3] == 2, "CNAME followed");
	/* CNAME without data: the caller asks again */
	header(&p, 5, 0x8180, 1);
	question(&p, "www.test", DNS_T_A);
	put16(&p, 0xc00c); rrhead(&p, DNS_T_CNAME, 6);
	put(&p, "\x04host", 5); p.b[p.n++] = 0;
	OK(dns_parse_answer(p.b, p.n, 5, "www.test", DNS_T_A, &a) == DNS_OK && a.n == 0 &&
	   strcmp(a.cname, "host") == 0, "dangling CNAME reported");
	/* CNAME loop a -> b -> a */
	header(&p, 6, 0x8180, 2);
	question(&p, "a.test", DNS_T_A);
	putname(&p, "a.test"); rrhead(&p, DNS_T_CNAME, 8); putname(&p, "b.test");
	putname(&p, "b.test"); rrhead(&p, DNS_T_CNAME, 8); putname(&p, "a.test");
	OK(dns_parse_answer(p.b, p.n, 6, "a.test", DNS_T_A, &a) == DNS_TEMP, "CNAME loop is temporary");
	/* rcodes */
	header(&p, 2, 0x8183, 0);
	question(&p, "none.test", DNS_T_MX);
	OK(dns_parse_answer(p.b, p.n, 2, "none.test", DNS_T_MX, &a) == DNS_NXDOMAIN, "NXDOMAIN");
	header(&p, 2, 0x8182, 0);
	question(&p, "none.test", DNS_T_MX);
	OK(dns_parse_answer(p.b, p.n, 2, "none.test", DNS_T_MX, &a) == DNS_TEMP, "SERVFAIL is temporary");
	header(&p, 2, 0x8380, 0);
	question(&p, "none.test", DNS_T_MX);
	OK(dns_parse_answer(p.b, p.n, 2, "none.test", DNS_T_MX, &a) == DNS_TEMP && a.truncated, "TC seen");
	header(&p, 2, 0x0100, 0);
	question(&p, "none.test", DNS_T_MX);
	OK(dns_parse_answer(p.b, p.n, 2, "none.test", DNS_T_MX, &a) == DNS_TEMP, "a query is not an answer");
	header(&p, 2, 0x8180, 0);
	question(&p, "empty.test", DNS_T_MX);
	OK(dns_parse_answer(p.b, p.n, 2, "empty.test", DNS_T_MX, &a) == DNS_OK && a.n == 0 && !a.cname[0],
	   "NODATA is OK with no records");

	/* server lines */
	OK(dns_parse_server("127.0.0.1:5353", &ss) && ss.ss_family == AF_INET &&
	   ntohs(((struct sockaddr_in *)&ss)->sin_port) == 5353, "IPv4 with port");
	OK(dns_parse_server("::1", &ss) && ss.ss_family == AF_INET6 &&
	   ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == 53, "bare IPv6");
	OK(dns_parse_server("[::1]:5300", &ss) && ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == 5300, "IPv6 with port");
	OK(!dns_parse_server("1.2.3.4:70000", &ss), "port over 65535");
	OK(!dns_parse_server("ns.example", &ss), "names refused");

	/* ---- message body ---- */
	OK(body_is("a\nb\n", 4, 1, "a\r\nb\r\n"), "LF to CRLF");
	OK(body_is("a\r\nb", 4, 1, "a\r\nb\r\n"), "CRLF kept, final line ended");
	OK(body_is(".x\n..\n.\n", 8, 1, "..x\r\n...\r\n..\r\n"), "dot-stuffing");
	OK(body_is("a\r.\rb", 5, 1, "a\r\n..\r\nb\r\n"), "bare CR ends a line (no smuggling)");
	OK(body_is("a\n.\r\n", 5, 0, "a\r\n.\r\n"), "no stuffing when counting");
	OK(body_is("", 0, 1, ""), "empty message");
	{
		struct body b;
		body_init(&b);
		body_feed(&b, "caf\xc3\xa9\n", 6, 1, 0);
		OK(b.eightbit && b.size == 7, "8-bit seen, size counted");
	}
	str_free(&s);
	smtpreply_free(&r);
	DONE();
}
