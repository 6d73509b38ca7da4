/* engine.h: the TLS engine's relay between the client's socket and the
 * protocol program's pipes, with STARTTLS on the control channel
 * (doc/DESIGN.md, "TLS"). One struct per connection; tlsd.c sets it up. */
#ifndef FACTEUR_TLS_ENGINE_H
#define FACTEUR_TLS_ENGINE_H
#include <stddef.h>
#include "str.h"
#ifdef TLSD_RELAY
/* the relay build (facteur-tlsd) never sees OpenSSL, not even its headers:
 * it may be compiled against another C library (Makefile, "musl") */
typedef struct ssl_st SSL;
typedef struct bio_st BIO;
struct tlsconf_server;
#else
#include <openssl/ssl.h>
#include "tlsconf.h"
#endif

#define TLSD_BUF          16384           /* one TLS record of plaintext */
#define TLSD_BIO_MAX      (64 * 1024)     /* ciphertext held per direction */
#define TLSD_HANDSHAKE_MS 30000           /* under tlsctl's 60 s wait */
/* The protocol programs time out first (SMTP 5 min, IMAP 30 min
 * autologout, RFC 9051 5.4); this is only a backstop behind them. */
#define TLSD_IDLE_MS      (35 * 60 * 1000)
#define TLSD_WRITE_MS     (10 * 60 * 1000) /* client that stops reading */
#define TLSD_GO_MS        60000           /* program's 'G' after our 'Y' */
/* A TLS record read in plaintext mode may be a ClientHello that raced the
 * program's 'Y' on the control channel: held back this long for it. */
#define TLSD_HOLD_MS      2000

enum tlsd_phase {
	TLSD_PLAIN,      /* relaying plaintext, STARTTLS possible */
	TLSD_FLUSH,      /* got 'Y': sending the program's last plaintext */
	TLSD_HANDSHAKE,  /* TLS handshake, nothing relayed */
	TLSD_WAITGO,     /* told the program 'Y'; waiting for its 'G' */
	TLSD_TLS         /* relaying through TLS */
};

/* how a session ended */
enum tlsd_end {
	TLSD_END_OK = 0,      /* the program closed its output, all flushed */
	TLSD_END_CLIENT,      /* client gone (or its data unusable) and the program done */
	TLSD_END_TIMEOUT,
	TLSD_END_HANDSHAKE,   /* handshake failed */
	TLSD_END_PROTOCOL,    /* the program broke the control protocol */
	TLSD_END_ERROR        /* system error (no memory, poll) */
};

struct tlsd {
	int net_in, net_out;          /* the client (often one socket twice) */
	int to_prog, from_prog;       /* our ends of the program's fd 0 and fd 1 */
	int ctl;                      /* our end of the control socketpair, or -1 */
	int implicit;                 /* -t: handshake first */
	const char *remote;           /* client address for logs, or "unknown" */
	struct tlsconf_server *conf;  /* read; parsed at the first handshake */

	int handshake_ms, idle_ms, write_ms, go_ms, hold_ms;

	int phase;
	SSL *ssl;
	BIO *rbio, *wbio;             /* memory BIOs: we do the socket I/O */
	str info;                     /* "PROTOCOL CIPHER" after the handshake */

	/* client -> program plaintext */
	char up[TLSD_BUF];
	size_t up_p, up_n;
	int hold;                     /* up holds a possible ClientHello */
	long long hold_until;
	/* program -> client plaintext waiting for SSL_write (TLS only) */
	char down[TLSD_BUF];
	size_t down_p, down_n;
	/* bytes for the socket: plaintext, or ciphertext from wbio */
	char out[TLSD_BUF];
	size_t out_p, out_n;

	int raw_eof;                  /* the socket said EOF */
	int net_eof;                  /* no more plaintext will come from the client */
	int net_dead;                 /* cannot write to the client any more */
	int prog_eof;                 /* the program closed its output */
	int ssl_shut;                 /* close_notify queued */
	long long deadline;           /* handshake or 'G' deadline */
	long long last_activity, last_write;

	/* facteur-tlsd (the relay build) only: where the session goes when
	 * TLS starts; execs facteur-tlsd-tls, returns 0 only on failure */
	int (*handover)(struct tlsd *t);
	void *owner;                  /* the handover's own state */
};

/* fill in defaults; the descriptors are the caller's */
void tlsd_init(struct tlsd *t, int net_in, int net_out, int to_prog,
               int from_prog, int ctl, int implicit,
               struct tlsconf_server *conf, const char *remote);
/* relay until the session ends; returns an enum tlsd_end. Leaves every
 * descriptor open except to_prog (closed when the client is done), so
 * the caller closes them and waits for the program. */
int tlsd_run(struct tlsd *t);
void tlsd_free(struct tlsd *t);
/* after tlsd_run: give fd 0 and 1 their blocking modes back (whoever else
 * holds them, a terminal or a test's pipe, expects them), close every
 * descriptor, free t (allocated with malloc) and wait for the program;
 * returns its exit status for our own */
int tlsd_finish(struct tlsd *t, int orig_fl0, int orig_fl1, pid_t pid);

/* 1 when b[0..n) starts like a TLS handshake record (a ClientHello) */
int tlsd_looks_like_tls(const char *b, size_t n);

#endif
