/* pemfiles.h: the certificate and key files of control/tls/, read without
 * OpenSSL into one byte string (a "blob") that facteur-tlsd hands to
 * facteur-tlsd-tls in a sealed memfd, and tlsconf_server_from_blob parses.
 *
 * Blob: one record per pair, the default pair first; each record is five
 * fields, each a 4-byte length (host order: both ends are this machine)
 * then the bytes: name ("" for the default), cert path, key path, cert
 * PEM, key PEM. */
#ifndef FACTEUR_TLS_PEMFILES_H
#define FACTEUR_TLS_PEMFILES_H
#include "str.h"

/* 1 when control/tls/cert.pem exists, 0 when not, -1 on another error */
int pemfiles_available(void);
/* every pair (same rules as tlsconf_server_read) appended to blob; 1 ok,
 * 0 error with a one-line reason in err. Call as root. */
int pemfiles_read(str *blob, str *err);

#endif
