/* priv.h: dropping root. Every program that parses network input calls
 * priv_drop before its first read; delivery refuses to run as root. */
#ifndef FACTEUR_PRIV_H
#define FACTEUR_PRIV_H

#define PRIV_USER     "facteur"      /* queue, protocol programs, mailboxes */
#define PRIV_TLSUSER  "facteur-tls"  /* the TLS engine once it holds its key */

/* When running as root: setgroups, setgid, setuid to user (each checked,
 * and checked again that root cannot be regained). Not root: nothing.
 * 1 ok, 0 error (errno; ENOENT when the user does not exist). The user's
 * name may be overridden by $FACTEUR_USER (for tests and odd setups). */
int priv_drop(const char *user);
#define PRIV_PASSWD   "/etc/passwd"

/* uid and gid of a user, from /etc/passwd only (not NSS: see priv.c):
 * 1 ok, 0 no such user (errno ENOENT) or the file unreadable */
int priv_lookup(const char *user, unsigned *uid, unsigned *gid);

#endif
