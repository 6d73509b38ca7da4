/* tlsconf.h: OpenSSL context setup, in one place for every TLS endpoint:
 * the server side used by facteur-tlsd and the client side a remote
 * delivery agent uses for STARTTLS to peers. Protocol programs never
 * include this (they never link OpenSSL); only the TLS engine and SMTP
 * client do.
 *
 * Policy: TLS 1.2 and 1.3 only; TLS 1.2 with ECDHE + AEAD suites only;
 * key exchange groups X25519 then P-256; no compression, no
 * renegotiation; no session tickets and no session cache (every
 * connection is its own process, so a cache would never hit, and tickets
 * would need a shared key kept somewhere: none is safer).
 *
 * Server certificates (under $FACTEUR_HOME/control/tls/):
 *   cert.pem, key.pem          the default certificate chain and its key
 *   DOMAIN/cert.pem, key.pem   chosen when the client's SNI names DOMAIN
 *                              (lower case, exact match; a trailing dot
 *                              in the SNI name is ignored)
 * cert.pem holds the leaf certificate first, then its intermediates. */
#ifndef FACTEUR_TLSCONF_H
#define FACTEUR_TLSCONF_H
#include <openssl/ssl.h>
#include "str.h"
#include "tlsfiles.h"

#define TLSCONF_DIR        TLSFILES_DIR
#define TLSCONF_SNI_MAX    TLSFILES_SNI_MAX   /* per-domain certificates loaded at most */
#define TLSCONF_NAME_MAX   TLSFILES_NAME_MAX  /* longest DNS name accepted for SNI */
#define TLSCONF_INFO_MAX   128                /* "PROTOCOL CIPHER" */
#define TLSCONF_FILE_MAX   TLSFILES_FILE_MAX  /* larger cert.pem/key.pem refused */

/* The TLS 1.2 suites offered: forward secrecy and AEAD only. */
#define TLSCONF_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLSCONF_GROUPS "X25519:P-256"

struct tlsconf_server;

/* 1 when $FACTEUR_HOME/control/tls/cert.pem exists (a stat: no key is
 * read). 0 when missing, -1 on another error. */
int tlsconf_server_available(void);

/* Load the default certificate and key and every per-domain pair. Reads
 * the private keys: call only in the process that keeps them (the engine,
 * as root, after it has forked the protocol program). 0 on error, with a
 * one-line reason in err. Same as tlsconf_server_read then _prepare. */
struct tlsconf_server *tlsconf_server_load(str *err);
/* Only read the files (cheap: no OpenSSL work), so that a process can
 * read them while privileged and parse them later, after dropping
 * privileges, and only if TLS is asked for. */
struct tlsconf_server *tlsconf_server_read(str *err);
/* The same, from a blob facteur-tlsd read as root (tls/pemfiles.h), for
 * facteur-tlsd-tls, which never runs as root. The caller wipes the blob. */
struct tlsconf_server *tlsconf_server_from_blob(const char *b, size_t n, str *err);
/* Parse the default pair into a context (a domain's pair is parsed when a
 * client's SNI first names it, so many domains cost nothing until used).
 * Idempotent. 1 ok, 0 error (reason in err). */
int tlsconf_server_prepare(struct tlsconf_server *s, str *err);
/* Wipe the PEM text (the keys) of every pair not parsed yet: call once the
 * handshake is done, so that only the keys in use stay in memory. A later
 * handshake naming one of those domains fails. */
void tlsconf_server_forget(struct tlsconf_server *s);
/* why the pair an SNI name chose failed to load (the handshake then fails
 * with an internal_error alert), or 0 */
const char *tlsconf_server_error(const struct tlsconf_server *s);
/* the context to create a server SSL from (SNI switches it per domain);
 * 0 before a successful tlsconf_server_prepare */
SSL_CTX *tlsconf_server_ctx(const struct tlsconf_server *s);
/* the SNI name the client asked for and that we had a certificate for,
 * or 0 when the default certificate was used */
const char *tlsconf_server_sni(const struct tlsconf_server *s, const SSL *ssl);
void tlsconf_server_free(struct tlsconf_server *s);

/* The protocol policy above, applied to any context; 1 ok, 0 error. */
int tlsconf_harden(SSL_CTX *ctx);

/* A client context. verify: 1 checks the peer's chain against the
 * system's CA store (the caller also calls tlsconf_client_prepare with
 * the host name); 0 encrypts without authenticating (opportunistic
 * STARTTLS). 0 on error, reason in err. */
SSL_CTX *tlsconf_client_new(int verify, str *err);
/* Set SNI to host and, with verify, require the certificate to match it.
 * 1 ok, 0 error. */
int tlsconf_client_prepare(SSL *ssl, const char *host, int verify);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs, Received headers and the
 * engine's control channel. */
int tlsconf_describe(const SSL *ssl, str *out);
/* the last OpenSSL error as one line, appended to out (queue emptied) */
void tlsconf_error(str *out);

#endif
