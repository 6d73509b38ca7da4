/* lmtpdata.c: the DATA reader. Bytes come from the network: only a line
 * "." after a CRLF-terminated line, itself ended by CRLF, ends the data; a
 * bare CR or LF anywhere marks the message as refused but never ends it,
 * so a message cannot be split in two (SMTP smuggling). Lines and size are
 * bounded. No privilege of its own. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "lmtp.h"

static void problem(struct data_result *r, int st)
{
	if (r->status == DATA_OK) r->status = st;
}

static int spool_put(int fd, const char *p, size_t n, struct data_result *r)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			r->err = errno;
			problem(r, DATA_WRITE);
			return 0;
		}
		p += w;
		n -= (size_t)w;
	}
	return 1;
}

int lmtp_data_read(bufin *in, int spoolfd, unsigned long long maxsize, struct data_result *r)
{
	char line[LMTP_TEXT_MAX + 1];
	size_t len = 0, total = 0;     /* bytes stored / seen on this line, LF excluded */
	int lastcr = 0, prev_crlf = 1;

	r->status = DATA_OK;
	r->err = 0;
	r->size = 0;
	for (;;) {
		const char *s, *nl;
		size_t avail, seg, keep;

		if (in->p >= in->n) {
			int f = bufin_fill(in);
			if (f == 0) { r->status = DATA_EOF; return r->status; }
			if (f < 0) { r->err = errno; r->status = DATA_ERR; return r->status; }
		}
		s = in->b + in->p;
		avail = in->n - in->p;
		nl = memchr(s, '\n', avail);
		seg = nl ? (size_t)(nl - s) : avail;
		keep = seg;
		if (keep > sizeof line - len) keep = sizeof line - len;
		memcpy(line + len, s, keep);
		len += keep;
		if (seg) lastcr = s[seg - 1] == '\r';
		total += seg;
		in->p += seg + (nl ? 1 : 0);
		if (!nl) continue;

		/* a complete line: total bytes before its LF, the first len kept */
		if (!lastcr) {
			problem(r, DATA_BAREEOL);
			prev_crlf = 0;
		} else {
			size_t content = total - 1;
			if (prev_crlf && content == 1 && line[0] == '.') return r->status;
			if (total + 1 > LMTP_TEXT_MAX) problem(r, DATA_TOOLONG);
			else if (memchr(line, '\r', content)) problem(r, DATA_BAREEOL);
			if (r->status == DATA_OK) {
				const char *c = line;
				if (content && line[0] == '.') { c++; content--; }
				if (maxsize && r->size + content + 1 > maxsize) {
					problem(r, DATA_TOOBIG);
				} else if (spoolfd >= 0) {
					line[(c - line) + content] = '\n';
					if (spool_put(spoolfd, c, content + 1, r)) r->size += content + 1;
				} else {
					r->size += content + 1;
				}
			}
			prev_crlf = 1;
		}
		len = total = 0;
		lastcr = 0;
	}
}
