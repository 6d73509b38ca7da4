/* fuzz-remote.c: libFuzzer target for the parsers facteur-remote feeds
 * with network bytes: SMTP replies (lib/smtpreply), DNS answers and names
 * (lib/dns), and the DATA body conversion. The first input byte picks
 * the parser. Build: make t/bin/fuzz-remote (clang with libFuzzer);
 * t/87-remote-fuzz.t builds and runs it for a while. */
#include <stdint.h>
#include <string.h>
#include "dns.h"
#include "remote.h"
#include "smtpreply.h"
#include "str.h"

static void replies(const uint8_t *d, size_t n)
{
	struct smtpreply r;
	size_t i = 0;
	char esc[SMTPREPLY_ESC_MAX];
	str one = STR_ZERO;

	memset(&r, 0, sizeof r);
	smtpreply_init(&r);
	while (i < n) {
		size_t e = i;
		int res;
		while (e < n && d[e] != '\n') e++;
		if (e < n) e++;
		res = smtpreply_line(&r, (const char *)d + i, e - i, (e - i) > SMTPREPLY_LINE_MAX);
		if (res != SMTPREPLY_MORE) {
			if (res == SMTPREPLY_DONE) {
				(void)smtpreply_esc(&r, esc);
				str_clear(&one);
				smtpreply_oneline(&r, &one);
			}
			smtpreply_init(&r);
		}
		i = e;
	}
	smtpreply_free(&r);
	str_free(&one);
}

static void answers(const uint8_t *d, size_t n)
{
	static const uint16_t types[] = { DNS_T_MX, DNS_T_A, DNS_T_AAAA };
	struct dns_answer a;
	char name[DNS_NAME_MAX + 1];
	size_t off;
	uint16_t id;

	if (n < 2) return;
	id = (uint16_t)(d[0] << 8 | d[1]);
	for (size_t t = 0; t < 3; t++)
		(void)dns_parse_answer(d, n, id, "example.net", types[t], &a);
	for (off = 0; off < n && off < 64; off++) {
		size_t o = off;
		(void)dns_name_expand(d, n, &o, name);
	}
}

static void body(const uint8_t *d, size_t n)
{
	struct body b;
	str out = STR_ZERO;

	body_init(&b);
	body_feed(&b, (const char *)d, n / 2, 1, &out);
	body_feed(&b, (const char *)d + n / 2, n - n / 2, 1, &out);
	body_end(&b, &out);
	/* what goes on the wire never holds a bare CR or LF, nor a lone dot
	 * line before the end */
	for (size_t i = 0; i < out.len; i++) {
		if (out.s[i] == '\r' && (i + 1 >= out.len || out.s[i + 1] != '\n')) __builtin_trap();
		if (out.s[i] == '\n' && (i == 0 || out.s[i - 1] != '\r')) __builtin_trap();
		if (out.s[i] == '.' && (i == 0 || out.s[i - 1] == '\n') &&
		    i + 1 < out.len && out.s[i + 1] == '\r') __builtin_trap();
	}
	if (b.size != out.len) __builtin_trap();
	str_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n == 0) return 0;
	switch (d[0] % 3) {
	case 0: replies(d + 1, n - 1); break;
	case 1: answers(d + 1, n - 1); break;
	default: body(d + 1, n - 1); break;
	}
	return 0;
}
