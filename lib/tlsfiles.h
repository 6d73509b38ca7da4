/* tlsfiles.h: where the server's certificates and keys live, and reading
 * them, without OpenSSL: facteur-tlsd reads the files as root (and links
 * no OpenSSL); lib/tlsconf.c parses them after the privilege drop. Both
 * walk the same directory with these functions.
 *
 *   $FACTEUR_HOME/control/tls/cert.pem, key.pem          the default pair
 *   $FACTEUR_HOME/control/tls/DOMAIN/cert.pem, key.pem   a pair for SNI */
#ifndef FACTEUR_TLSFILES_H
#define FACTEUR_TLSFILES_H
#include "str.h"

#define TLSFILES_DIR       "control/tls"
#define TLSFILES_SNI_MAX   256            /* per-domain pairs at most */
#define TLSFILES_NAME_MAX  253            /* longest per-domain directory name */
#define TLSFILES_FILE_MAX  (1024 * 1024)  /* larger cert.pem/key.pem refused */

/* $FACTEUR_HOME/control/tls[/sub]/file, NUL-terminated; 1 ok, 0 no memory */
int tlsfiles_path(str *out, const char *sub, const char *file);
/* 1 when the default cert.pem exists, 0 when missing, -1 on other errors */
int tlsfiles_available(void);
/* names accepted as per-domain directories: lower-case LDH labels */
int tlsfiles_domain_ok(const char *s);
/* append the whole file to out (at most TLSFILES_FILE_MAX bytes; the read
 * buffer is wiped); 1 ok, 0 error with the reason appended to err */
int tlsfiles_read(const char *path, str *out, str *err);
/* fn(ctx, DOMAIN, err) for every per-domain directory with a regular
 * cert.pem; stops at the first fn that returns 0. 1 ok (also when there
 * is no control/tls/), 0 error (reason in err) */
int tlsfiles_each_domain(int (*fn)(void *ctx, const char *domain, str *err),
                         void *ctx, str *err);

#endif
