/* smtpd-internal.h: the pieces of facteur-smtpd shared between its files
 * and its unit test. One session struct holds every bit of per-connection
 * state, so the protocol logic can be driven from a test without globals.
 * Everything here parses network input and runs as the `facteur` user. */
#ifndef FACTEUR_SMTPD_INTERNAL_H
#define FACTEUR_SMTPD_INTERNAL_H
#include <stddef.h>
#include <sys/types.h>
#include "buf.h"
#include "exitcodes.h"
#include "str.h"

/* RFC 5321 4.5.3.1 limits, and our own bounds */
#define SMTPD_CMD_MAX        512      /* command line, CRLF included */
#define SMTPD_AUTHLINE_MAX   2048     /* AUTH lines (RFC 4954 allows more
                                         than 512; our credentials are
                                         bounded by AUTH_*_MAX anyway) */
#define SMTPD_TEXT_MAX       1000     /* text line in DATA, CRLF included */
#define SMTPD_HELO_MAX       255
#define SMTPD_RCPT_MAX       100      /* RFC 5321 4.5.3.1.8: at least 100 */
#define SMTPD_ERRORS_MAX     6        /* protocol errors before 421 */
#define SMTPD_AUTHFAIL_MAX   3        /* failed AUTH before 421 */
#define SMTPD_BADRCPT_MAX    30       /* refused RCPTs (unknown user, relay)
                                         before 421: a directory harvest
                                         gets a few guesses per session */
#define SMTPD_HOPS_MAX       100      /* Received headers: a mail loop */
#define SMTPD_TIMEOUT_DEFAULT 300     /* seconds, RFC 5321 4.5.3.2.7 */
#define SMTPD_DATABYTES_DEFAULT (50ULL * 1024 * 1024)
/* a refused BDAT chunk is read and thrown away to stay in step with the
 * client, unless it is larger than this: then we hang up instead */
#define SMTPD_BDAT_DISCARD_MAX (64ULL * 1024 * 1024)

/* how a child that could not run or died counts: temporary failures */
#define QQ_BUG_EXIT   QQ_BUG
#define QQ_CRASH_EXIT QQ_BUG

/* reply table ids (reply.c): each carries its RFC 3463 code */
enum reply_id {
	RP_OK, RP_MAIL_OK, RP_RCPT_OK, RP_RSET, RP_NOOP, RP_QUIT, RP_VRFY, RP_HELP,
	RP_DATA_GO, RP_BDAT_OK,
	RP_UNKNOWN, RP_NOTIMPL, RP_LINE_TOOLONG, RP_BARE_LF, RP_BAD_CHAR, RP_SYNTAX,
	RP_HELO_SYNTAX, RP_NEED_HELO, RP_NESTED_MAIL, RP_NEED_MAIL, RP_NEED_RCPT,
	RP_NO_SUCH_USER, RP_RELAY_DENIED, RP_RELAY_TRICK, RP_TOO_MANY_RCPT,
	RP_PARAM_UNKNOWN, RP_SIZE_TOOBIG, RP_MSG_TOOBIG, RP_MSG_BARE, RP_MSG_LONGLINE,
	RP_MSG_LOOP, RP_BDAT_MIX, RP_BDAT_HUGE,
	RP_TIMEOUT, RP_SHUTDOWN, RP_TOO_MANY_ERRORS, RP_TEMP, RP_QUEUE_START,
	RP_TLS_GO, RP_TLS_UNAVAIL, RP_TLS_ACTIVE,
	RP_AUTH_OK, RP_AUTH_FAIL, RP_AUTH_TEMP, RP_AUTH_ENCRYPT, RP_AUTH_MECH,
	RP_AUTH_ALREADY, RP_AUTH_B64, RP_AUTH_CANCEL, RP_AUTH_REQUIRED,
	RP_AUTH_INMAIL, RP_AUTH_TOOLONG, RP_AUTH_TOO_MANY, RP_SENDER_NOT_OWNED,
	RP_TOO_MANY_BADRCPT,
	RP_COUNT
};

/* bytes of the message as they go to the queue: catches what must refuse
 * the whole message (SMTP smuggling: bare CR or LF anywhere; lines over
 * 1000; too large; too many hops) without ever keeping the message */
struct msgscan {
	unsigned long long size;     /* bytes seen */
	unsigned long long limit;    /* databytes, 0 = none */
	size_t linelen;              /* bytes since the last LF */
	int prev_cr;                 /* last byte was CR, LF not yet seen */
	int bare;                    /* a bare CR or bare LF was seen */
	int toolong;                 /* a line over SMTPD_TEXT_MAX */
	int toobig;                  /* over limit */
	int in_headers;              /* still in the header section */
	unsigned hops;               /* Received: header count */
	char head[10];               /* start of the current line */
	size_t headlen;
	int checklen;                /* enforce the text line limit (DATA) */
};

struct queuejob {
	pid_t pid;
	int msgfd, envfd;            /* our ends of the child's fd 0 and 1 */
	bufout *out;                 /* buffered writer on msgfd */
	int failed;                  /* a write to the child failed */
};

struct session {
	bufin in;
	bufout out;
	int submission;              /* -s: AUTH required before MAIL */
	int helo;                    /* 0 none, 1 HELO, 2 EHLO */
	int tls;                     /* encrypted now */
	int relayclient;             /* may relay without AUTH */
	int loopback;                /* client on 127/8 or ::1 */
	int plaintextauth;           /* control/plaintextauth exists */
	int mail;                    /* MAIL given */
	int utf8;                    /* SMTPUTF8 on this MAIL */
	unsigned nrcpt;
	unsigned errors;
	unsigned authfails;
	unsigned badrcpts;           /* RCPTs refused for unknown user or relay */
	unsigned long long databytes;
	unsigned long long nmsg;
	int timeout_ms;
	str remoteip;                /* "" when unknown */
	str me;                      /* control/me */
	str heloname;
	str sender;                  /* envelope sender, "" for <> */
	str rcpts;                   /* envelope recipients, each NUL-ended */
	str firstdomain;             /* first local domain, for <postmaster> */
	str authuser;                /* lowercase address, "" when not */
	str tlsinfo;                 /* "PROTOCOL CIPHER" from the engine */
	str line;                    /* the current command line */
	str tmp;
	int bdat;                    /* a BDAT transaction is under way */
	int bdat_failed;             /* it failed: discard until LAST/RSET */
	struct msgscan sc;
	struct queuejob job;
	str msgid;
	char **queue_argv;           /* from $FACTEUR_QUEUE */
	const char *hangup;          /* why we end the session early, for the log */
};

/* reply.c */
const char *reply_text(enum reply_id id);      /* "250 2.0.0 ok", no CRLF */
void reply(struct session *s, enum reply_id id);
void reply_line(struct session *s, const char *line);   /* adds CRLF */
void reply_parts(struct session *s, const char *code, const char *text);
int reply_flush(struct session *s);

/* session.c */
void session_init(struct session *s, int infd, int outfd);
void session_setup(struct session *s);         /* control files, remote ip */
int session_run(struct session *s);            /* exit code */
void session_reset_mail(struct session *s);

/* data.c */
void msgscan_init(struct msgscan *sc, unsigned long long limit, int checklen);
void msgscan_feed(struct msgscan *sc, const char *p, size_t n);
void msgscan_finish(struct msgscan *sc);
int msgscan_verdict(const struct msgscan *sc);       /* 0 ok, or a reply id */
int data_read(struct session *s);              /* after 354; 1 ok, 0 hang up */
int bdat_command(struct session *s, const char *arg, size_t n); /* 1/0 */
int smtpd_parse_size(const char *s, size_t n, unsigned long long *out);

/* queue.c */
char **queue_argv_from(const char *spec);
int queue_start(struct session *s);            /* 1 ok */
int queue_write(struct session *s, const char *p, size_t n);
void queue_abort(struct session *s);
int queue_finish(struct session *s, int *code);   /* 1 child ran */
int received_header(struct session *s, str *out);

/* sasl.c */
int smtpd_auth(struct session *s, const char *arg, size_t n);   /* 1/0 */
int smtpd_sender_allowed(struct session *s, const char *addr, size_t n);

#endif
