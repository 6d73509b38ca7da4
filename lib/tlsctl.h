/* tlsctl.h: the protocol program's side of the TLS engine's control
 * channel (doc/DESIGN.md, "TLS"). smtpd, pop3d and imapd call these; they
 * never link OpenSSL. */
#ifndef FACTEUR_TLSCTL_H
#define FACTEUR_TLSCTL_H
#include "buf.h"
#include "str.h"

#define TLSCTL_TIMEOUT_MS 60000   /* the whole handshake */

/* the control descriptor from $FACTEUR_TLSCTL, or -1: STARTTLS unavailable */
int tlsctl_fd(void);
/* 1 when the connection is encrypted now ($FACTEUR_TLS=1 at start, or
 * after a successful tlsctl_starttls) */
int tlsctl_active(void);
/* Call after flushing the "ready to start TLS" reply. Asks the engine for
 * the handshake, then throws away every byte the client sent before it
 * (what is buffered in `in` and what is still in the pipe), then lets the
 * engine relay. info gets "PROTOCOL CIPHER". 1 ok; 0 failed: the
 * connection is unusable and the caller exits. */
int tlsctl_starttls(bufin *in, str *info);

#endif
