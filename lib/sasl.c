/* sasl.c: splits a SASL PLAIN message (RFC 4616). The message comes from
 * the network before login and is untrusted; runs as `facteur`. */
#include <string.h>
#include <strings.h>
#include "sasl.h"

int sasl_plain_parse(const char *m, size_t n, struct sasl_plain *p)
{
	const char *z1 = n ? memchr(m, 0, n) : 0, *z2;
	size_t zl;

	p->user = p->pass = "";
	p->ulen = p->plen = 0;
	if (!z1) return SASL_PLAIN_MALFORMED;
	z2 = memchr(z1 + 1, 0, n - (size_t)(z1 + 1 - m));
	if (!z2) return SASL_PLAIN_MALFORMED;
	p->user = z1 + 1;
	p->ulen = (size_t)(z2 - p->user);
	if (memchr(z2 + 1, 0, n - (size_t)(z2 + 1 - m))) return SASL_PLAIN_MALFORMED;
	zl = (size_t)(z1 - m);
	if (zl && (zl != p->ulen || strncasecmp(m, p->user, zl) != 0)) return SASL_PLAIN_PROXY;
	p->pass = z2 + 1;
	p->plen = n - (size_t)(p->pass - m);
	return SASL_PLAIN_OK;
}
