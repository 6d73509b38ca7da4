/* buf.h: buffered I/O on file descriptors with a timeout on every read and
 * write. Protocol programs only ever see descriptors: TLS is done by a
 * separate engine process that relays plaintext over pipes, so nothing
 * here needs to know about it. Input flushes its paired output before it
 * blocks, so replies are never held back while we wait for the client. */
#ifndef FACTEUR_BUF_H
#define FACTEUR_BUF_H
#include <signal.h>
#include <stddef.h>
#include "str.h"

#define BUF_SIZE 8192

typedef struct bufout {
	int fd;
	int timeout_ms;         /* per write; -1 waits forever */
	size_t n;
	int err;                /* sticky errno after a failed write */
	char b[BUF_SIZE];
} bufout;

typedef struct bufin {
	int fd;
	int timeout_ms;         /* per read; -1 waits forever */
	size_t p, n;            /* unread bytes are b[p..n) */
	bufout *flush;          /* flushed before any blocking read, or 0 */
	char b[BUF_SIZE];
} bufin;

/* results of bufin_getline */
#define BUF_ERR     (-1)    /* errno: ETIMEDOUT on timeout, or the read error */
#define BUF_EOF       0     /* end of input; partial line (if any) in line */
#define BUF_LINE      1     /* line holds the bytes up to and including LF */
#define BUF_TOOLONG   2     /* line longer than max: consumed through its LF,
                               line holds its first max bytes */

void bufin_init(bufin *b, int fd, int timeout_ms, bufout *flush);
void bufout_init(bufout *b, int fd, int timeout_ms);

/* read at least one byte into the buffer; 1 ok, 0 EOF, -1 error */
int bufin_fill(bufin *b);
/* the line up to LF (bare CR does not end a line), at most max bytes kept */
int bufin_getline(bufin *b, str *line, size_t max);
/* the same, and *crlf (when not 0) says whether the line ended in CRLF
 * even when its tail was cut off for length: SMTP's "\n.\r\n" smuggling
 * form hides behind an overlong line */
int bufin_getline_crlf(bufin *b, str *line, size_t max, int *crlf);
/* up to n raw bytes; returns count, 0 EOF, -1 error */
long bufin_get(bufin *b, char *dst, size_t n);
size_t bufin_pending(const bufin *b);    /* bytes buffered, not yet read */
void bufin_discard(bufin *b);            /* drop them (after STARTTLS) */

int bufout_put(bufout *b, const void *p, size_t n);  /* 1 ok, 0 error */
int bufout_puts(bufout *b, const char *s);
int bufout_putu(bufout *b, unsigned long long u);
int bufout_flush(bufout *b);

/* whole-buffer helpers on a plain descriptor, with timeout (-1: none) */
int fd_writeall(int fd, const void *p, size_t n, int timeout_ms);
/* Every later wait for input of this module (with or without a buffer)
 * fails with errno EINTR once *flag is non-zero (writes go on). Blocks
 * sig, which is let in only inside those waits (ppoll), so none is
 * missed between the check and the wait; a child started afterwards
 * inherits the block unless it clears its mask. a SIGTERM
 * handler (installed without SA_RESTART) sets it, and the program then
 * says goodbye (SMTP 421) instead of dying mid-reply. */
void buf_stop_on(volatile sig_atomic_t *flag, int sig);

long fd_read_timeout(int fd, void *p, size_t n, int timeout_ms);

#endif
