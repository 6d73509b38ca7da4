/* sasl.h: the SASL PLAIN message (RFC 4616), decoded from base64, for
 * smtpd, pop3d and imapd: [authzid] NUL authcid NUL passwd. Each program
 * keeps its own reply to a bad message; this decides what is bad. */
#ifndef FACTEUR_SASL_H
#define FACTEUR_SASL_H
#include <stddef.h>

#define SASL_PLAIN_OK        0
#define SASL_PLAIN_MALFORMED 1   /* not exactly two NULs */
#define SASL_PLAIN_PROXY     2   /* an authzid naming someone else */

struct sasl_plain {
	const char *user;   /* the authcid, into the message; "" when not found */
	size_t ulen;
	const char *pass;   /* into the message; "" unless SASL_PLAIN_OK */
	size_t plen;
};

/* m[0..n) split into p. user is set whenever the message has two NULs,
 * for logs, even when the result is not SASL_PLAIN_OK. An authzid equal
 * to the authcid (ASCII case ignored, as user names are) is accepted:
 * no one may act for someone else here. An empty authcid or password is
 * the caller's business. */
int sasl_plain_parse(const char *m, size_t n, struct sasl_plain *p);

#endif
