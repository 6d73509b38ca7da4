/* conn.h: the SMTP client's connection to a peer: a non-blocking TCP
 * socket, optionally wrapped in TLS after STARTTLS, with a deadline on
 * every read and write. Input lines are capped; what a peer sends is
 * never trusted beyond "bytes". */
#ifndef FACTEUR_REMOTE_CONN_H
#define FACTEUR_REMOTE_CONN_H
#include <stddef.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include "str.h"

#define CONN_BUF 8192
#define CONN_LINE_HARD (1024 * 1024)  /* bytes of one line read and dropped at most */

struct conn {
	int fd;
	SSL *ssl;
	size_t p, n;            /* unread input is in[p..n) */
	char in[CONN_BUF];
	str out;                /* written on conn_flush */
	int err;                /* sticky errno: ETIMEDOUT, EPIPE, ECONNRESET.. */
};

void conn_init(struct conn *c);
/* connect with a timeout; 1 ok, 0 errno (ECONNREFUSED, ETIMEDOUT...) */
int conn_connect(struct conn *c, const struct sockaddr *sa, socklen_t len, int timeout_ms);
/* one line through its LF, at most max bytes kept (the rest of an overlong
 * line is read and dropped); 1 line, 2 overlong line, 0 EOF, -1 error */
int conn_getline(struct conn *c, str *line, size_t max, int timeout_ms);
int conn_put(struct conn *c, const void *p, size_t n);   /* buffered */
int conn_puts(struct conn *c, const char *s);
int conn_flush(struct conn *c, int timeout_ms);           /* 1 ok, 0 error */
/* STARTTLS after the peer's 220: everything it sent before the handshake
 * is thrown away (CVE-2021-38371), then the handshake runs. verify: the
 * chain and host name must check out. 1 ok; 0 failed with a reason. */
int conn_starttls(struct conn *c, SSL_CTX *ctx, const char *host, int verify,
                  int timeout_ms, str *why);
int conn_tls_describe(const struct conn *c, str *out);
void conn_close(struct conn *c);

#endif
