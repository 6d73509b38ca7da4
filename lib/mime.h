/* mime.h: RFC 5322 header and MIME (RFC 2045/2046) structure of a message
 * held in memory, with hard limits: parts, nesting depth, header size.
 * Broken MIME never fails: a missing boundary gives one part running to
 * the end, an unknown Content-Type is text/plain (RFC 2045 5.2), and past
 * a limit the rest is one opaque part. Nothing is copied: parts are
 * offsets into the caller's buffer, which must outlive the tree. */
#ifndef FACTEUR_MIME_H
#define FACTEUR_MIME_H
#include <stddef.h>
#include "str.h"

#define MIME_PARTS_MAX   1000   /* parts in one message, all levels */
#define MIME_DEPTH_MAX     20   /* multipart and message/rfc822 nesting */
#define MIME_FIELD_MAX  65536   /* one unfolded header field */
#define MIME_BOUNDARY_MAX  70   /* RFC 2046 5.1.1 */

struct mime_part {
	size_t hdr, hdrlen;      /* header block, through the blank line */
	size_t body, bodylen;    /* body */
	size_t lines;            /* lines in the body */
	int parent, child, next; /* indices, -1 for none */
	int depth;
	int ismsg;               /* message/rfc822 (or global): child is the inner message */
	int ismulti;
};

struct mime_tree {
	struct mime_part *p;
	size_t n, cap;
	const char *msg;
	size_t len;
};

/* parse msg[0..len) into t (t->p[0] is the whole message); 1 ok, 0 no memory */
/* the length of the header block at m, through its blank line (CRLF or
 * LF); n when there is no blank line */
size_t mime_header_end(const char *m, size_t n);
int mime_parse(const char *msg, size_t len, struct mime_tree *t);
void mime_free(struct mime_tree *t);

/* the unfolded value of the first field called name (case-insensitive) in
 * the header block h[0..n); 1 found, 0 not */
int mime_header(const char *h, size_t n, const char *name, str *val);
/* iterate fields: *pos starts at 0; gives the field's raw bytes (with its
 * folded lines and CRLF) and its name length; 0 at the end */
int mime_field_next(const char *h, size_t n, size_t *pos, const char **f, size_t *flen, size_t *namelen);

/* Content-Type-like value: "type/sub; a=b; c="d"": type and subtype
 * lowercased; params as NUL-separated name\0value\0 pairs, names lowercased */
void mime_ctype(const char *v, size_t n, str *type, str *sub, str *params);
/* a parameter from such a list; 1 found */
int mime_param(const str *params, const char *name, str *val);

#endif
