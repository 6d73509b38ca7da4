/* addr.h: the one strict grammar for envelope addresses (RFC 5321 4.1.2,
 * with RFC 6531 UTF-8 when the session allows it). Everything that takes an
 * address from the network or a file goes through here; no CR, LF, NUL or
 * other control byte can pass. */
#ifndef FACTEUR_ADDR_H
#define FACTEUR_ADDR_H
#include <stddef.h>
#include "str.h"

#define ADDR_LOCAL_MAX   64    /* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX 255    /* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX   256    /* RFC 5321 4.5.3.1.3, brackets included */

enum {
	ADDR_OK = 0,
	ADDR_ESYNTAX,     /* not a path at all */
	ADDR_ELOCALLEN,   /* local part over 64 */
	ADDR_EDOMAINLEN,  /* domain over 255 */
	ADDR_EPATHLEN,    /* path over 256 */
	ADDR_EUTF8        /* non-ASCII without SMTPUTF8, or malformed UTF-8 */
};

#define ADDR_F_UTF8   1   /* SMTPUTF8 given: UTF-8 allowed in local and domain */

struct addr {
	str mailbox;        /* local@domain as given, route removed; "" for <> */
	size_t at;          /* index of the '@' in mailbox, or mailbox.len */
	int route;          /* 1 when a source route @a,@b: was present */
	int quoted;         /* 1 when the local part was a quoted string */
	int literal;        /* 1 when the domain is an address literal */
};

/* Parse "<...>" at s[0..n). On ADDR_OK, *used is the bytes consumed (the
 * closing '>' included) and a is filled. "<>" gives an empty mailbox, and
 * "<postmaster>" (any case) a mailbox without '@'. */
int addr_parse_path(const char *s, size_t n, unsigned flags, struct addr *a, size_t *used);
/* a domain by RFC 5321 (LDH labels, or U-labels with ADDR_F_UTF8) */
int addr_domain_ok(const char *s, size_t n, unsigned flags);
/* an address literal "[1.2.3.4]" or "[IPv6:...]" */
int addr_literal_ok(const char *s, size_t n);
/* an RFC 5322 atext byte (ASCII letters, digits, !#$%&'*+-/=?^_`{|}~) */
int addr_atext(unsigned char c);
/* 1 when the local part holds relay tricks: '%', '!', or a quoted '@' */
int addr_tricky_local(const struct addr *a);
const char *addr_strerror(int code);     /* "5.1.3 ..." reply text */
void addr_free(struct addr *a);
/* well-formed UTF-8 (no overlongs, no surrogates) */
int utf8_valid(const char *s, size_t n);

#endif
