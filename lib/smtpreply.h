/* smtpreply.h: a bounded parser for SMTP replies as a client reads them
 * (RFC 5321 4.2): "CODE-text" continuation lines, then "CODE text" (or a
 * bare "CODE"). Every line must carry the same three-digit code; anything
 * else is malformed, which a client treats as a temporary failure. The
 * number of lines and the text kept are capped, so a peer that sends
 * endless continuation lines or megabyte lines costs bounded memory; the
 * caller's line reader caps each line (SMTPREPLY_LINE_MAX). Trusts
 * nothing it is fed; pure computation, no privilege. */
#ifndef FACTEUR_SMTPREPLY_H
#define FACTEUR_SMTPREPLY_H
#include <stddef.h>
#include "str.h"

#define SMTPREPLY_LINE_MAX  1000   /* bytes of one reply line kept (RFC: 512) */
#define SMTPREPLY_LINES_MAX  100   /* lines in one reply before we give up */
#define SMTPREPLY_TEXT_MAX  4096   /* bytes of text kept; the rest is dropped */

enum {
	SMTPREPLY_MORE = 0,        /* a continuation line: feed the next one */
	SMTPREPLY_DONE = 1,        /* the reply is complete */
	SMTPREPLY_EBAD = -1,       /* no valid code, or the code changed */
	SMTPREPLY_ETOOMANY = -2    /* more than SMTPREPLY_LINES_MAX lines */
};

struct smtpreply {
	int code;        /* 200..599 once the first line was parsed */
	size_t lines;    /* lines fed */
	str text;        /* each line's text after "CODE-", LF-separated;
	                    control bytes replaced by '?'; capped */
	int truncated;   /* some text was dropped (overlong line or reply) */
};

void smtpreply_init(struct smtpreply *r);    /* also resets for reuse */
void smtpreply_free(struct smtpreply *r);
/* Feed one line (its CRLF, LF or nothing at the end). toolong: the reader
 * cut this line short. Returns one of the SMTPREPLY_ values; after DONE or
 * an error, call smtpreply_init before the next reply. */
int smtpreply_line(struct smtpreply *r, const char *s, size_t n, int toolong);
/* The class of a complete reply: 2, 3, 4 or 5 */
int smtpreply_class(const struct smtpreply *r);
/* The RFC 3463 enhanced status code at the start of the first line, when
 * it is there and its class matches the reply's, copied NUL-terminated
 * into esc (at least SMTPREPLY_ESC_MAX bytes); 1 found, 0 not. */
#define SMTPREPLY_ESC_MAX 16
int smtpreply_esc(const struct smtpreply *r, char *esc);
/* The reply as one printable line, "CODE text / text...", appended to out
 * (for logs and for facteur-send's bounces). 1 ok, 0 no memory. */
int smtpreply_oneline(const struct smtpreply *r, str *out);

#endif
