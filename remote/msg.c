/* msg.c: the message body as facteur-remote sends it. The message comes
 * from our own queue (trusted to be a file, not to be well formed): line
 * ends are made CRLF whatever they were, so that no bare CR or LF reaches
 * a peer that could read it as a line end (SMTP smuggling), and lines that
 * start with '.' are dot-stuffed (RFC 5321 4.5.2). Runs as facteur. */
#include <errno.h>
#include <unistd.h>
#include "remote.h"

void body_init(struct body *b)
{
	b->cr = 0;
	b->bol = 1;
	b->eightbit = 0;
	b->size = 0;
}

static int emit(struct body *b, str *out, const char *p, size_t n)
{
	b->size += n;
	return out ? str_append(out, p, n) : 1;
}

int body_feed(struct body *b, const char *in, size_t n, int stuff, str *out)
{
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		char c = in[i];
		if (b->cr) {
			/* a CR we held back: with LF it is CRLF, alone it still
			 * ends the line */
			b->cr = 0;
			if (!emit(b, out, "\r\n", 2)) return 0;
			b->bol = 1;
			if (c == '\n') continue;
		}
		if (c == '\r') { b->cr = 1; continue; }
		if (c == '\n') {
			if (!emit(b, out, "\r\n", 2)) return 0;
			b->bol = 1;
			continue;
		}
		if (b->bol && c == '.' && stuff && !emit(b, out, ".", 1)) return 0;
		if ((unsigned char)c >= 0x80) b->eightbit = 1;
		b->bol = 0;
		/* copy the run of ordinary bytes at once */
		run = i + 1;
		while (run < n && in[run] != '\r' && in[run] != '\n') {
			if ((unsigned char)in[run] >= 0x80) b->eightbit = 1;
			run++;
		}
		if (!emit(b, out, in + i, run - i)) return 0;
		i = run - 1;
	}
	return 1;
}

int body_end(struct body *b, str *out)
{
	if (b->cr || !b->bol) {
		b->cr = 0;
		b->bol = 1;
		return emit(b, out, "\r\n", 2);
	}
	return 1;
}

int msg_scan(int fd, unsigned long long *size, int *eightbit)
{
	char buf[65536];
	struct body b;

	body_init(&b);
	if (lseek(fd, 0, SEEK_SET) < 0) return 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0) { if (errno == EINTR) continue; return 0; }
		if (r == 0) break;
		body_feed(&b, buf, (size_t)r, 0, 0);
	}
	body_end(&b, 0);
	*size = b.size;
	*eightbit = b.eightbit;
	return 1;
}
