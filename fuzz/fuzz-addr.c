/* fuzz-addr.c: libFuzzer target for lib/addr.c, the one grammar every
 * envelope address from the network or a file goes through. The input is
 * a hostile "<path>" as it follows MAIL FROM: or RCPT TO:. Asserts what
 * the rest of facteur relies on: nothing is read past the input, and an
 * accepted mailbox holds no control byte and fits the RFC 5321 limits.
 * The same bytes as a domain for lib/idna.c: an ASCII form, when there is
 * one, is all ASCII, within the DNS's limits, and stays as it is when
 * converted again. Test code; runs as whoever runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "idna.h"

static void path(const char *s, size_t n, unsigned flags)
{
	struct addr a = { STR_ZERO, 0, 0, 0, 0 };
	size_t used = 0, i;
	int r = addr_parse_path(s, n, flags, &a, &used);

	if (r == ADDR_OK) {
		if (used > n || used < 2) abort();
		if (a.mailbox.len > ADDR_PATH_MAX || a.at > a.mailbox.len) abort();
		if (a.at < a.mailbox.len && a.mailbox.s[a.at] != '@') abort();
		for (i = 0; i < a.mailbox.len; i++) {
			unsigned char c = (unsigned char)a.mailbox.s[i];
			if (c < 32 || c == 127) abort();
			if (c >= 128 && !(flags & ADDR_F_UTF8)) abort();
		}
		if (!utf8_valid(a.mailbox.s ? a.mailbox.s : "", a.mailbox.len)) abort();
		(void)addr_tricky_local(&a);
	} else if (!addr_strerror(r)) {
		abort();
	}
	addr_free(&a);
}

static void idna(const char *s, size_t n)
{
	str o = STR_ZERO, o2 = STR_ZERO;
	size_t i, label = 0;

	if (idna_to_ascii(s, n, &o)) {
		if (o.len > IDNA_NAME_MAX || idna_nonascii(o.s, o.len) || strlen(o.s) != o.len) abort();
		for (i = 0; i < o.len; i++) {
			if (o.s[i] == '.') { if (label == 0) abort(); label = 0; continue; }
			if (++label > IDNA_LABEL_MAX) abort();
			if (o.s[i] >= 'A' && o.s[i] <= 'Z') abort();
		}
		if (label == 0) abort();
		if (!idna_to_ascii(o.s, o.len, &o2) || o2.len != o.len || memcmp(o.s, o2.s, o.len) != 0) abort();
	}
	str_free(&o);
	str_free(&o2);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	/* a heap copy of exactly n bytes, so ASan sees any overread */
	char *s = malloc(n ? n : 1);

	if (!s) return 0;
	memcpy(s, d, n);
	path(s, n, 0);
	path(s, n, ADDR_F_UTF8);
	(void)addr_domain_ok(s, n, 0);
	(void)addr_domain_ok(s, n, ADDR_F_UTF8);
	(void)addr_literal_ok(s, n);
	(void)utf8_valid(s, n);
	idna(s, n);
	free(s);
	return 0;
}
