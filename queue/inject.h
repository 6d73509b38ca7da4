/* inject.h: facteur-sendmail's logic, testable on its own: reading the
 * message a local program gives (header block bounded, body streamed),
 * RFC 5322 address lists for -t, and the headers a message must carry
 * (Date, Message-ID, From). Input is untrusted text from any local user;
 * runs as that user (facteur-queue then drops to facteur if it is root). */
#ifndef FACTEUR_INJECT_H
#define FACTEUR_INJECT_H
#include <stddef.h>
#include "buf.h"
#include "str.h"

#define INJECT_HEADER_MAX  (1024 * 1024)   /* header block, bytes */
#define INJECT_RCPT_MAX    10000           /* QUEUE_RCPT_MAX */
#define INJECT_READ_TIMEOUT_MS (3600 * 1000)

struct inject {
	int tflag;            /* -t: recipients from To, Cc, Bcc */
	int iflag;            /* -i/-oi: a lone "." does not end the message */
	str sender;           /* envelope sender; "" is the null sender */
	str fullname;         /* -F, or the user's GECOS name */
	str me;               /* default domain for unqualified addresses */
	str from;             /* address for an added From: */
	str rcpts;            /* NUL-terminated recipients */
	size_t nrcpt;
	str hdr;              /* the header block to send (LF line ends) */
	str firstbody;        /* a body line read while looking for headers */
	int ended;            /* "." seen in the header block: no body follows */
	const char *why;      /* what went wrong */
};

/* results of the functions below */
#define INJECT_OK      0
#define INJECT_BADADDR 1   /* an address does not parse */
#define INJECT_TOOBIG  2   /* header block or recipient count over limit */
#define INJECT_IOERR   3   /* reading input failed */
#define INJECT_NOMEM   4

/* the addresses of an RFC 5322 address list (groups, comments, quoted
 * strings, angle addresses), qualified with @me when bare, appended to
 * in->rcpts */
int inject_addrlist(struct inject *in, const char *s, size_t n);
/* read the header block from b; keep it in in->hdr minus Bcc, take -t
 * recipients, add Date, Message-ID and From when missing */
int inject_headers(struct inject *in, bufin *b, unsigned long long now);
/* copy the body from b to o, CRLF made LF, stopping at a lone "." unless
 * -i; 1 ok, 0 write error, -1 read error */
int inject_body(struct inject *in, bufin *b, bufout *o);
void inject_free(struct inject *in);

#endif
