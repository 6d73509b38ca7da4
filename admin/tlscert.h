/* tlscert.h: the self-signed certificate of a fresh instance. */
#ifndef FACTEUR_TLSCERT_H
#define FACTEUR_TLSCERT_H
/* key (0600) and certificate (0644) for host; 1 ok, 0 error (logged) */
int tlscert_make(const char *host, const char *certpath, const char *keypath);
#endif
