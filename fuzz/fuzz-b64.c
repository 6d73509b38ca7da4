/* fuzz-b64.c: libFuzzer target for lib/b64.c (SASL responses from the
 * network) and the AUTH PLAIN message split of facteur-pop3d
 * (pop3_sasl_plain, pop3d/preauth.c; smtpd's own split is driven by
 * fuzz-smtpd). Asserts that strict base64 round-trips both ways: what
 * decodes re-encodes to the same text, and what encodes decodes back.
 * Test code; runs as whoever runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "b64.h"
#include "pop3-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	str a = STR_ZERO, b = STR_ZERO;
	char *s = malloc(n ? n : 1);

	if (!s) return 0;
	memcpy(s, d, n);
	if (b64_decode(s, n, &a)) {
		if (a.len > n / 4 * 3) abort();
		if (!b64_encode(a.s ? a.s : "", a.len, &b)) abort();
		if (b.len != n || (n && memcmp(b.s, s, n))) abort();
		{
			const char *u, *p;
			size_t ul, pl;
			if (pop3_sasl_plain(a.s ? a.s : "", a.len, &u, &ul, &p, &pl)) {
				if (u < a.s || u + ul > a.s + a.len || p < a.s || p + pl > a.s + a.len) abort();
				if (!ul || memchr(u, 0, ul) || memchr(p, 0, pl)) abort();
			}
		}
	}
	if (!b64_encode(s, n, &b)) abort();
	if (!b64_decode(b.s ? b.s : "", b.len, &a)) abort();
	if (a.len != n || (n && memcmp(a.s, s, n))) abort();
	str_free(&a);
	str_free(&b);
	free(s);
	return 0;
}
