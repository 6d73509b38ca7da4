/* pop3-internal.h: facteur-pop3d's pieces. The AUTHORIZATION half
 * (preauth.c) and the TRANSACTION half (trans.c, maildrop.c) run in
 * different processes: the first as `facteur` before anyone logged in, the
 * second started by facteur-checkpassword after a good password. They
 * share only the command reader (io.c). */
#ifndef FACTEUR_POP3_INTERNAL_H
#define FACTEUR_POP3_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "buf.h"
#include "str.h"

#define POP3_LINE_MAX     255        /* RFC 2449: a command line, CRLF included */
#define POP3_SASL_MAX     2048       /* a SASL response line (RFC 5034 4) */
#define POP3_TIMEOUT_MS   600000     /* RFC 1939 3: ten minutes of idle */
#define POP3_ERRORS_MAX   10         /* bad commands before we hang up */
#define POP3_AUTH_TRIES   3          /* failed logins before we hang up */
#define POP3_FAIL_DELAY_MS 500       /* first failed login's delay, doubled after */
#define POP3_UIDL_MAX     70         /* RFC 1939 7: 1..70 chars 0x21..0x7e */
#define POP3_PENDING_ENV  "FACTEUR_POP3_PENDING"
#define POP3_LOCKFILE     "facteur-pop3.lock"

/* the process's connection: one per process, passed around */
struct pop3_io {
	bufin in;
	bufout out;
	str line;          /* the current command line, CRLF removed */
	int errors;        /* bad commands so far */
};

/* a parsed command: verb uppercased, arguments point into io->line */
struct pop3_cmd {
	char verb[5];
	const char *arg;   /* after the first space, or "" */
	size_t arglen;
};

enum { POP3_CMD_OK = 1, POP3_CMD_EOF = 0, POP3_CMD_BAD = -1, POP3_CMD_FATAL = -2 };

void pop3_io_init(struct pop3_io *io);
/* the next command: POP3_CMD_OK with c filled; POP3_CMD_BAD after an
 * -ERR was sent for it (overlong, NUL/control bytes, bad verb);
 * POP3_CMD_EOF on end of input; POP3_CMD_FATAL on timeout or read error
 * or too many errors (a reply was sent when it could be) */
int pop3_readcmd(struct pop3_io *io, struct pop3_cmd *c);
/* a SASL continuation line (up to POP3_SASL_MAX), CRLF removed, into
 * io->line; 1 ok, 0 refused (-ERR sent), -1 EOF/timeout */
int pop3_readsasl(struct pop3_io *io);
/* count a bad command; 0 when the limit is reached (reply sent) */
int pop3_error(struct pop3_io *io, const char *reply);
void pop3_reply(struct pop3_io *io, const char *s);   /* s plus CRLF */
/* the CAPA lines every state lists (RFC 2449); the caller adds its own
 * state's lines, then pop3_capa_end */
void pop3_capa_begin(struct pop3_io *io);
void pop3_capa_end(struct pop3_io *io);
int pop3_flush(struct pop3_io *io);
/* a message number: decimal digits only, 1..max; 0 when not */
unsigned long pop3_msgno(const char *s, size_t n, unsigned long max);

/* the bytes pipelined behind the login, handed to the mailbox process
 * through POP3_PENDING_ENV (hex) so that they are not lost */
int pop3_pending_export(const bufin *in);
void pop3_pending_import(bufin *in);

/* preauth.c */
struct pop3_auth {
	struct pop3_io *io;
	int tls_avail;        /* the TLS engine can start TLS */
	int plaintext_ok;     /* USER/PASS/AUTH allowed now */
	int remote_trusted;   /* loopback client or control/plaintextauth */
	int failures;         /* failed logins */
	str user;             /* after USER */
	str self;             /* this program's path, run again with -m */
	char remote[64];      /* the client's address, for logs */
};
/* the AUTHORIZATION state until QUIT, EOF or a finished mailbox session;
 * returns the exit code */
int pop3_preauth(struct pop3_auth *a);
/* RFC 4616 PLAIN message: authzid\0authcid\0passwd; 1 ok with pointers
 * into m, 0 malformed or authzid other than authcid */
int pop3_sasl_plain(const char *m, size_t n, const char **user, size_t *ulen,
                    const char **pass, size_t *plen);

/* maildrop.c: the messages of one session. 16 bytes a message plus its
 * name, one allocation each for all records and all names (a session's
 * memory is counted per message: 2000 of them must stay well under
 * 512 KiB with the process around them). */
#define POP3_NAMES_MAX  0x7fffffffu  /* name offsets are 31 bits */
#define POP3_SIZE_BIG   0xffffffffu  /* size in maildrop.big instead */
struct pop3_msg {
	uint32_t name : 31;         /* offset of the file name in names */
	uint32_t deleted : 1;
	uint32_t size;              /* octets in CRLF form, unstuffed; or POP3_SIZE_BIG */
	int64_t mtime;              /* the listing's order (oldest first) */
};
struct pop3_bigsize { size_t key; unsigned long long size; };

struct maildrop {
	const char *dir;            /* the Maildir, trailing '/' */
	int lockfd;
	struct pop3_msg *m;
	size_t n, cap;
	str names;                  /* cur/ file names, NUL-separated */
	unsigned long long total;   /* octets of the undeleted messages */
	size_t live;                /* undeleted messages */
	struct pop3_bigsize *big;   /* the rare sizes of 4 GiB or more: by */
	size_t nbig;                /* name offset while listing, then by index */
};


#define MAILDROP_OK     0
#define MAILDROP_INUSE  1
#define MAILDROP_TEMP   2

/* lock, move new/ to cur/, list and measure; MAILDROP_* */
int maildrop_open(struct maildrop *md, const char *dir);
/* octets of message i in CRLF form */
unsigned long long maildrop_size(const struct maildrop *md, size_t i);
/* the message's unique name: its file name up to ":2," */
size_t maildrop_uniq(const struct maildrop *md, size_t i, const char **p);
/* the UIDL string for message i (the unique name, or a digest of it when
 * it is not a valid UIDL) into out */
int maildrop_uidl(const struct maildrop *md, size_t i, str *out);
/* open message i read-only, following a rename (flags changed by an IMAP
 * client) by its unique name; fd or -1 */
int maildrop_openmsg(struct maildrop *md, size_t i);
/* remove the deleted messages; 1 all gone, 0 some failed (errno) */
int maildrop_update(struct maildrop *md);
void maildrop_close(struct maildrop *md);
/* the CRLF size of a message file's content */
int maildrop_measure(int fd, unsigned long long *size);
/* send a message from fd in CRLF form, dot-stuffed, ending with CRLF
 * (not the final dot). body_lines: after the header's blank line, send
 * at most this many lines; (unsigned long long)-1 for all. 1 ok */
int pop3_sendmsg(bufout *out, int fd, unsigned long long body_lines);

/* trans.c: the TRANSACTION state until QUIT or EOF; exit code */
int pop3_transaction(struct pop3_io *io, struct maildrop *md, const char *user);

#endif
