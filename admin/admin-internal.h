/* admin-internal.h: what facteur-setup, facteur-users and
 * facteur-newaliases share: the owner of the instance's files, the admin
 * lock, address checks for map entries, and the compilers of the user and
 * alias maps. Everything here runs as the admin (root, or a developer on
 * their own instance) and trusts the admin's files, but still checks them:
 * a broken map line is refused, never compiled into a map. */
#ifndef FACTEUR_ADMIN_INTERNAL_H
#define FACTEUR_ADMIN_INTERNAL_H
#include <stddef.h>
#include <sys/types.h>
#include "str.h"

#define ADM_PASS_MAX      512    /* one line of password on stdin (AUTH_PASS_MAX) */
#define ADM_READ_TIMEOUT  300000 /* ms to wait for the password line */
#define ADM_ALIAS_TARGETS 1000   /* targets of one alias */
#define ADM_DATABYTES     "52428800"   /* default control/databytes: 50 MiB */

/* who owns queue/, mail/ and can read users.cdb */
struct adm_owner {
	int root;          /* 1: we run as root and chown to uid/gid */
	uid_t uid;
	gid_t gid;
	const char *name;  /* "facteur", or $FACTEUR_USER */
};

/* Fills o. Not root: o->root = 0 and nothing is chowned. Root: the owner
 * user must exist (facteur-setup creates it); 0 with a message otherwise. */
int adm_owner_get(struct adm_owner *o);

/* flock on control/.lock, held until exit; 1 ok, 0 error (logged) */
int adm_lock(void);

/* Checks an address for the user map or an alias key: a dot-atom local
 * part (no '/', not starting with '.', no '+', no '%' or '!'), '@', a
 * domain name. Lowercased into out. 1 ok; 0 with a reason in *why. */
int adm_address(const char *s, size_t n, str *out, const char **why);
/* the same checks for an alias key (allow_bare: a bare local part too;
 * lowercased) or a target (allow_bare 0: '+' allowed, only the domain
 * lowercased) */
int adm_alias_address(const char *s, size_t n, int allow_bare, str *out, const char **why);

/* the user map (control/users): "address:hash[:maildir]" lines */
int usermap_read(str *text);                       /* 1 ok (missing: empty), 0 error */
/* offset of the line for addr (exact, lowercase) in text, or -1 */
long usermap_find(const str *text, const char *addr, size_t n);
/* Writes text to control/users (mode 0600) and compiles users.cdb (0640,
 * group of the owner): 1 ok, 0 error (logged). Every line is checked first;
 * a bad line stops the whole run and leaves both files as they were. */
int usermap_commit(const str *text, const struct adm_owner *o, int write_text);

/* control/aliases -> aliases.cdb; 1 ok, 0 a bad line (logged with its
 * number; the old cdb stays), -1 a system error (logged) */
int aliasmap_compile(void);

/* Creates the Maildir (and its parents under mail/) with the Maildir++
 * folders .Sent .Drafts .Trash .Junk .Archive, without following symbolic
 * links, chowning what it creates to the owner. 1 ok, 0 error (errno). */
int adm_make_maildir(const char *addr, size_t n, const struct adm_owner *o, str *path);

#endif
