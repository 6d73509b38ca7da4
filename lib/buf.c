/* buf.c: bounded, timed buffered I/O on descriptors. Trusts nothing read;
 * every read has a limit and every wait a timeout. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"

void bufin_init(bufin *b, int fd, int timeout_ms, bufout *flush)
{
	b->fd = fd;
	b->timeout_ms = timeout_ms;
	b->p = b->n = 0;
	b->flush = flush;
}

void bufout_init(bufout *b, int fd, int timeout_ms)
{
	b->fd = fd;
	b->timeout_ms = timeout_ms;
	b->n = 0;
	b->err = 0;
}

/* set by buf_stop_on: a signal handler's flag that ends every wait for
 * input, and the mask under which waits let that signal in */
static volatile sig_atomic_t *stop_flag;
static sigset_t stop_waitmask;

void buf_stop_on(volatile sig_atomic_t *flag, int sig)
{
	sigset_t block;

	/* the signal stays blocked except inside ppoll: one that comes
	 * between the flag's check and the wait is not missed */
	sigemptyset(&block);
	sigaddset(&block, sig);
	if (sigprocmask(SIG_BLOCK, &block, &stop_waitmask) != 0) return;
	sigdelset(&stop_waitmask, sig);
	stop_flag = flag;
}

static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd p;
	int r;

	p.fd = fd;
	p.events = ev;
	for (;;) {
		/* only waits for input: the goodbye must still go out */
		if (stop_flag && (ev & POLLIN)) {
			struct timespec ts, *tp = 0;
			if (*stop_flag) { errno = EINTR; return -1; }
			if (timeout_ms >= 0) {
				ts.tv_sec = timeout_ms / 1000;
				ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
				tp = &ts;
			}
			r = ppoll(&p, 1, tp, &stop_waitmask);
		} else {
			r = poll(&p, 1, timeout_ms);
		}
		if (r > 0) return 1;
		if (r == 0) { errno = ETIMEDOUT; return -1; }
		if (errno != EINTR) return -1;
	}
}

long fd_read_timeout(int fd, void *p, size_t n, int timeout_ms)
{
	ssize_t r;

	for (;;) {
		if (wait_fd(fd, POLLIN, timeout_ms) < 0) return -1;
		r = read(fd, p, n);
		if (r >= 0) return (long)r;
		if (errno != EINTR && errno != EAGAIN) return -1;
	}
}

int fd_writeall(int fd, const void *p, size_t n, int timeout_ms)
{
	const char *c = p;
	ssize_t w;

	while (n) {
		if (wait_fd(fd, POLLOUT, timeout_ms) < 0) return 0;
		w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			return 0;
		}
		c += w;
		n -= (size_t)w;
	}
	return 1;
}

int bufout_flush(bufout *b)
{
	if (b->err) { errno = b->err; return 0; }
	if (!b->n) return 1;
	if (!fd_writeall(b->fd, b->b, b->n, b->timeout_ms)) {
		b->err = errno ? errno : EIO;
		return 0;
	}
	b->n = 0;
	return 1;
}

int bufout_put(bufout *b, const void *p, size_t n)
{
	const char *c = p;

	if (b->err) { errno = b->err; return 0; }
	while (n) {
		size_t room = BUF_SIZE - b->n;
		if (!room) {
			if (!bufout_flush(b)) return 0;
			continue;
		}
		if (room > n) room = n;
		memcpy(b->b + b->n, c, room);
		b->n += room;
		c += room;
		n -= room;
	}
	return 1;
}

int bufout_puts(bufout *b, const char *s) { return bufout_put(b, s, strlen(s)); }

int bufout_putu(bufout *b, unsigned long long u)
{
	char d[24];
	size_t i = sizeof d;

	do { d[--i] = (char)('0' + u % 10); u /= 10; } while (u);
	return bufout_put(b, d + i, sizeof d - i);
}

int bufin_fill(bufin *b)
{
	long r;

	if (b->p < b->n) return 1;
	b->p = b->n = 0;
	if (b->flush && !bufout_flush(b->flush)) return -1;
	r = fd_read_timeout(b->fd, b->b, BUF_SIZE, b->timeout_ms);
	if (r < 0) return -1;
	if (r == 0) return 0;
	b->n = (size_t)r;
	return 1;
}

int bufin_getline_crlf(bufin *b, str *line, size_t max, int *crlf)
{
	int toolong = 0;
	char last = 0;

	str_clear(line);
	if (crlf) *crlf = 0;
	for (;;) {
		char *nl;
		size_t take, keep;
		int r = bufin_fill(b);

		if (r <= 0) return r < 0 ? BUF_ERR : BUF_EOF;
		nl = memchr(b->b + b->p, '\n', b->n - b->p);
		take = nl ? (size_t)(nl - (b->b + b->p)) + 1 : b->n - b->p;
		/* the byte before the LF, which may sit in an earlier read */
		if (nl && take >= 2) last = b->b[b->p + take - 2];
		keep = take;
		if (line->len + keep > max) {
			keep = max > line->len ? max - line->len : 0;
			toolong = 1;
		}
		if (keep && !str_append(line, b->b + b->p, keep)) return BUF_ERR;
		b->p += take;
		if (nl) {
			if (crlf) *crlf = last == '\r';
			return toolong ? BUF_TOOLONG : BUF_LINE;
		}
		if (take) last = b->b[b->p - 1];
	}
}

int bufin_getline(bufin *b, str *line, size_t max)
{
	return bufin_getline_crlf(b, line, max, 0);
}

long bufin_get(bufin *b, char *dst, size_t n)
{
	size_t have;
	int r;

	if (!n) return 0;
	r = bufin_fill(b);
	if (r <= 0) return r;
	have = b->n - b->p;
	if (have > n) have = n;
	memcpy(dst, b->b + b->p, have);
	b->p += have;
	return (long)have;
}

size_t bufin_pending(const bufin *b) { return b->n - b->p; }
void bufin_discard(bufin *b) { b->p = b->n = 0; }
