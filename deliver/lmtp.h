/* lmtp.h: the LMTP server (RFC 2033) of facteur-lmtpd: one session on a
 * pair of descriptors, one reply per accepted recipient after DATA, and the
 * DATA reader that only CRLF.CRLF ends (SMTP smuggling, CVE-2023-51764).
 * Runs as `facteur`; everything read from the client is untrusted. */
#ifndef FACTEUR_LMTP_H
#define FACTEUR_LMTP_H
#include "buf.h"
#include "str.h"

#define LMTP_LINE_MAX      512          /* a command line with its CRLF (RFC 5321 4.5.3.1.4) */
#define LMTP_TEXT_MAX      1000         /* a text line with its CRLF (RFC 5321 4.5.3.1.6) */
#define LMTP_RCPT_MAX      100          /* recipients of one transaction */
#define LMTP_ERRORS_MAX    10           /* bad commands before we hang up */
#define LMTP_TIMEOUT_MS    (5 * 60 * 1000)
#define LMTP_SIZE_DEFAULT  (50ULL * 1024 * 1024) /* without control/databytes */
#define LMTP_HELO_MAX      255

/* how a DATA section ended; the first problem seen wins */
enum {
	DATA_OK = 0,
	DATA_BAREEOL,     /* a bare CR or LF: refused, never a message end */
	DATA_TOOLONG,     /* a line over LMTP_TEXT_MAX */
	DATA_TOOBIG,      /* over the size limit */
	DATA_WRITE,       /* the spool failed (err) */
	DATA_EOF,         /* the client went away before CRLF.CRLF */
	DATA_ERR          /* read error or timeout (err) */
};

struct data_result {
	int status;
	int err;
	unsigned long long size;   /* bytes written to the spool (LF line ends) */
};

/* read a DATA section through CRLF.CRLF, dot-unstuffed, with LF line ends,
 * into spoolfd (-1: discard); returns r->status */
int lmtp_data_read(bufin *in, int spoolfd, unsigned long long maxsize, struct data_result *r);

struct lmtp {
	bufin in;
	bufout out;
	str line;
	str me;                  /* control/me */
	str helo;                /* the LHLO argument */
	const char *remote;      /* client address, for Received and logs */
	unsigned long long maxsize;
	int have_helo, have_mail, errors;
	str sender;
	str rcpts;               /* accepted recipients, NUL-separated */
	size_t nrcpt;
};

void lmtp_init(struct lmtp *s, int infd, int outfd, int timeout_ms);
void lmtp_free(struct lmtp *s);
/* the whole session; returns the exit code */
int lmtp_run(struct lmtp *s);

#endif
