/* users.h: the instance's local domains, user map and alias map, as the
 * protocol programs see them (read-only, through cdb).
 *
 * control/users.cdb:   key "local@domain" (lowercase)
 *                      value "HASH\0MAILDIR\0": HASH is an argon2id string
 *                      from crypto_pwhash_str; MAILDIR is an absolute path,
 *                      or empty for the default $FACTEUR_HOME/mail/DOMAIN/LOCAL
 * control/aliases.cdb: key "local@domain" or a bare "local" that applies to
 *                      every local domain (lowercase)
 *                      value "TARGET\0TARGET\0...": full addresses
 * control/domains:     local domains, one a line. */
#ifndef FACTEUR_USERS_H
#define FACTEUR_USERS_H
#include <stddef.h>
#include "str.h"

#define USERS_ALIAS_DEPTH 10     /* alias chains longer than this are loops */

struct user {
	str address;   /* canonical lowercase local@domain */
	str hash;      /* argon2id hash string */
	str maildir;   /* absolute path of the Maildir, trailing '/' */
};

/* 1 local, 0 not, -1 error. A name and its A-label form (idna.h) are
 * the same domain, either way round: bücher.example in control/domains
 * takes xn--bcher-kva.example, and the other way */
int domains_islocal(const char *dom, size_t n);
/* the same against lines already read from control/domains
 * (control_readlines: NUL-terminated lines); 1 or 0 */
int domains_match(const str *lines, const char *dom, size_t n);
/* look an exact address up (lowercased here); 1 found, 0 no, -1 error */
int users_lookup(const char *addr, size_t n, struct user *u);
/* targets, NUL-separated, of an exact address or its bare local part */
int aliases_lookup(const char *addr, size_t n, str *targets);
void user_free(struct user *u);

enum {
	RCPT_REMOTE = 1,   /* domain not local */
	RCPT_USER,         /* canon: the user's address (after +tag removal) */
	RCPT_ALIAS,        /* canon: the alias key that matched */
	RCPT_POSTMASTER,   /* postmaster@ a local domain, no alias or user */
	RCPT_UNKNOWN       /* local domain, no such user */
};
/* classify an envelope recipient (as parsed by addr.h); -1 on error */
int users_classify(const char *addr, size_t n, str *canon);
/* the default Maildir for local@domain: $FACTEUR_HOME/mail/domain/local/ */
int users_default_maildir(const char *addr, size_t n, str *out);

#endif
