/* remote.h: facteur-remote's internal interfaces: the delivery state for
 * one message to one domain (struct remote), how hosts are found
 * (route.c), one SMTP session with one host (session.c) and the message
 * body's conversion for DATA (msg.c). Private to remote/. */
#ifndef FACTEUR_REMOTE_H
#define FACTEUR_REMOTE_H
#include <stddef.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include "dns.h"
#include "str.h"

#define REMOTE_MX_MAX        16     /* MX hosts considered */
#define REMOTE_TARGETS_MAX   32     /* addresses collected in one run */
#define REMOTE_TRY_MAX       10     /* addresses tried in one run */
#define REMOTE_RCPT_MAX    1000     /* recipients in one run */
#define REMOTE_BATCH_MAX    100     /* messages in one run (-b) */
#define REMOTE_PORT          25
#define REMOTE_CONNECT_TIMEOUT 60   /* seconds; RFC 5321 names none */
/* RFC 5321 4.5.3.2, in seconds */
#define REMOTE_T_GREETING   300
#define REMOTE_T_MAIL       300
#define REMOTE_T_RCPT       300
#define REMOTE_T_DATAINIT   120
#define REMOTE_T_BLOCK      180
#define REMOTE_T_DATAEND    600
#define REMOTE_T_EHLO       300     /* not in 4.5.3.2; as MAIL */
#define REMOTE_T_QUIT        10     /* we do not wait long to say goodbye */
#define REMOTE_BLOCK       65536    /* DATA bytes written per timed block */
#define REMOTE_PIPE_MAX      100    /* RCPTs pipelined before reading replies */

enum tlspolicy { TLSP_NONE, TLSP_MAY, TLSP_ENCRYPT, TLSP_VERIFY };

struct target {
	char host[DNS_NAME_MAX + 1];   /* the name we connect to ("" for a bare IP) */
	char tlsname[DNS_NAME_MAX + 1];/* the name a certificate must carry */
	struct sockaddr_storage sa;
	int pref;
	int direct;                    /* from smtproutes: never "ourselves" */
};

struct rcpt {
	const char *addr;
	int code;          /* 0 not decided yet; 2, 4 or 5 */
	str text;
	int accepted;      /* RCPT got 2xx in the current transaction */
};

/* One message to the domain. A batch (facteur-remote -b) is an array of
 * them sharing the routes, the timeouts, the TLS policy and, in
 * session_run, the connection. */
struct remote {
	const char *domain;
	int printed;                   /* its results are out */
	const char *sender;
	struct rcpt *rcpt;
	size_t nrcpt;
	int msgfd;
	unsigned long long msgsize;    /* bytes as sent with CRLF, before dot-stuffing */
	int msg8bit;
	int envutf8;                   /* an envelope address is not ASCII */
	str me;
	int cap_ms;                    /* control/remotetimeout, 0: none */
	int port;                      /* for MX hosts: control/remoteport or 25 */
	int tlspolicy;
	struct target target[REMOTE_TARGETS_MAX];
	size_t ntarget;
	str lasterr;                   /* why the last host failed: "4.x.x ..." */
	SSL_CTX *ctx;                  /* made on first use */
	int ctx_verify;
};

/* ms for an RFC timeout in seconds, capped by control/remotetimeout */
int remote_timeout(const struct remote *r, int seconds);
/* give every undecided recipient a result */
void remote_decide_all(struct remote *r, int code, const char *text);
size_t remote_undecided(const struct remote *r);

/* route.c: fill r->target; returns 2 ok, 4 temporary, 5 permanent with
 * the reason ("5.1.2 ...") in why */
int route_find(struct remote *r, struct dns *d, str *why);
/* parse a control/tlspolicy value line; -1 when it is junk */
int route_tlspolicy(const char *domain);
/* 1 when sa is one of this host's addresses (or unspecified) */
int route_is_local_addr(const struct sockaddr_storage *sa);

/* session.c: one connection to t. Returns SESSION_DONE when the
 * recipients it could decide are decided, SESSION_NEXT to try the next
 * host (r->lasterr says why), SESSION_PLAIN to try t again without TLS */
enum { SESSION_DONE, SESSION_NEXT, SESSION_PLAIN };
/* the messages rs[0..n) in turn over one connection (RSET in between);
 * those already decided are skipped */
int session_run(struct remote **rs, size_t n, const struct target *t, int allow_tls);
/* remote.c: print the results of the messages whose recipients are all
 * decided, in order, each once, as soon as the earlier ones are out */
void remote_report(struct remote **rs, size_t n);

/* msg.c: the message as it goes on the wire */
struct body {
	int cr;            /* a CR is pending */
	int bol;           /* at the beginning of a line */
	int eightbit;
	unsigned long long size;
};
void body_init(struct body *b);
/* convert in[0..n): line ends (CRLF, LF, bare CR) become CRLF; with
 * stuff, a '.' starting a line is doubled. Appends to out when out is not
 * 0, counts b->size either way. 1 ok, 0 no memory */
int body_feed(struct body *b, const char *in, size_t n, int stuff, str *out);
/* end: a final CRLF when the message did not end with one */
int body_end(struct body *b, str *out);
/* read fd to the end once: size and 8-bit; 1 ok, 0 read error (errno) */
int msg_scan(int fd, unsigned long long *size, int *eightbit);

#endif
