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
 * connection is unusable and the caller exits.
 * Direct mode ($FACTEUR_TLSDIRECT=1, set by the engine for STARTTLS
 * sessions): until now in->fd and in->flush->fd were the client's socket
 * itself; the engine answers the 'Y' with two pipe ends, which are
 * dup2'd over them, and takes the socket for the handshake. */
int tlsctl_starttls(bufin *in, str *info);

/* 1 when STARTTLS may be offered now: an engine is there and the
 * connection is not encrypted yet. */
int tlsctl_available(void);
/* "PROTOCOL CIPHER" of the running TLS session, for Received headers and
 * logs: after tlsctl_starttls, or with implicit TLS, where the engine
 * writes that line on the control descriptor once its handshake is done
 * (read here on the first call, with TLSCTL_TIMEOUT_MS). 1 ok, 0 none. */
int tlsctl_info(str *info);
/* Call first thing in main, before priv_drop, with main's argv. When no
 * engine runs this connection ($FACTEUR_TLSCTL unset) and either implicit
 * (-t) is asked or $FACTEUR_HOME/control/tls/cert.pem exists, exec
 * `facteur-tlsd [-t] argv...` (found beside argv[0], else in $PATH).
 * Returns only when it did not exec: 0 carry on in plaintext (no STARTTLS
 * offered); -1 implicit TLS was asked and is impossible (caller exits). The
 * engine always sets FACTEUR_TLSCTL for its child (empty when it offers
 * no STARTTLS), so this never loops. */
int tlsctl_maybe_exec_engine(char **argv, int implicit);

#endif
