/* dlv.h: local delivery of one message to one envelope recipient, shared
 * by facteur-local (one recipient per process) and facteur-lmtpd (one
 * spooled message, many recipients in one process). Resolves the recipient
 * (aliases, user+tag, postmaster), applies the user's rules file (dot-qmail
 * syntax: Maildirs, forwards, pipes), writes Maildirs, and re-injects
 * forwards through facteur-queue. Runs as the `facteur` user, never root.
 * Trusts the instance's maps and the Maildir tree's owner; the message and
 * the envelope are untrusted data. */
#ifndef FACTEUR_DLV_H
#define FACTEUR_DLV_H
#include <stddef.h>
#include "hdr.h"
#include "str.h"

#define DLV_HOPS_MAX        100      /* Received fields before we call it a loop */
#define DLV_FORWARDS_MAX    100      /* forward targets of one delivery */
#define DLV_RULES_MAX       65536    /* bytes of a rules file */
#define DLV_RULES_LINES_MAX 256      /* lines of a rules file */
#define DLV_PIPE_TIMEOUT_MS (10 * 60 * 1000) /* a pipe program's whole run */
#define DLV_PIPE_OUT_MAX    512      /* program output kept for the reason */
#define DLV_EXT_MAX         64       /* bytes of a +tag used to pick a rules file */

/* a rules file line */
enum { RULE_MAILDIR = 1, RULE_FORWARD, RULE_PIPE };
struct rule {
	int kind;
	const char *arg;       /* path, address or command, NUL-terminated */
};
struct rules {
	str text;              /* the file, lines NUL-terminated in place */
	struct rule r[DLV_RULES_LINES_MAX];
	size_t n;
	size_t badline;        /* on a parse failure: the line number */
	const char *why;       /* and why */
};
/* parse a rules file's text (copied); 1 ok, 0 bad file (why, badline), -1 no memory */
int rules_parse(struct rules *rs, const char *text, size_t n);
void rules_free(struct rules *rs);

struct dlv {
	int msgfd;             /* the message: seekable, read from offset 0 */
	str sender;            /* envelope sender, "" for <> */
	struct hdr_info hdr;   /* scanned once per message */
	int pipe_timeout_ms;

	/* per recipient */
	str forwards;          /* targets to re-inject, NUL-separated */
	size_t nforwards;
	str dtlines;           /* addresses for the forwards' Delivered-To lines */
	str path;              /* addresses from the envelope recipient to here */
	str done;              /* mailboxes already written, NUL-separated */
	unsigned delivered;    /* Maildir and pipe deliveries made */

	/* the result of dlv_recipient */
	int code;              /* sysexits */
	char status[8];        /* "X.Y.Z" */
	str reason;            /* one line, no status */
};

/* start: the message on fd (seekable), sender; 1 ok, 0 error (errno) */
int dlv_init(struct dlv *d, int msgfd, const char *sender, size_t slen);
void dlv_free(struct dlv *d);
/* deliver to one envelope recipient; returns d->code (0 delivered) */
int dlv_recipient(struct dlv *d, const char *rcpt, size_t n);

/* internal steps, also used by the unit tests */
int dlv_fail(struct dlv *d, int code, const char *status, const char *a, const char *b);
int dlv_pipe(struct dlv *d, const char *cmd, int dirfd, const char *rcpt,
             const char *local, const char *domain, const char *ext,
             const char *prefix, size_t prefixlen, int *stop);
int dlv_inject(struct dlv *d);
/* copy the message (from offset 0) to fd after prefix, CRLF -> LF when lf */
int dlv_copy(struct dlv *d, int fd, const char *prefix, size_t plen, int lf, int timeout_ms);

#endif
