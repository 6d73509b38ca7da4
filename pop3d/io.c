/* io.c: reading POP3 commands and writing replies. Trusts nothing of the
 * client's bytes: lines are bounded (RFC 2449's 255 octets), NUL and other
 * control bytes are refused rather than cut at (a "USER alice\0x" must not
 * become alice), numbers never wrap. Runs in both halves of facteur-pop3d,
 * as `facteur` before login and as the mailbox's owner after. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "pop3-internal.h"
#include "scan.h"

void pop3_io_init(struct pop3_io *io)
{
	bufout_init(&io->out, 1, POP3_TIMEOUT_MS);
	bufin_init(&io->in, 0, POP3_TIMEOUT_MS, &io->out);
	io->line.s = 0;
	io->line.len = io->line.cap = 0;
	io->errors = 0;
}

void pop3_reply(struct pop3_io *io, const char *s)
{
	bufout_puts(&io->out, s);
	bufout_put(&io->out, "\r\n", 2);
}

void pop3_capa_begin(struct pop3_io *io)
{
	pop3_reply(io, "+OK capability list follows");
	pop3_reply(io, "TOP");
	pop3_reply(io, "UIDL");
	pop3_reply(io, "RESP-CODES");
	pop3_reply(io, "AUTH-RESP-CODE");
	pop3_reply(io, "PIPELINING");
	pop3_reply(io, "EXPIRE NEVER");
}

void pop3_capa_end(struct pop3_io *io)
{
	pop3_reply(io, "IMPLEMENTATION facteur");
	pop3_reply(io, ".");
}

int pop3_flush(struct pop3_io *io) { return bufout_flush(&io->out); }

int pop3_error(struct pop3_io *io, const char *reply)
{
	if (++io->errors >= POP3_ERRORS_MAX) {
		pop3_reply(io, "-ERR too many errors, closing connection");
		pop3_flush(io);
		log_line("too many errors, disconnecting", (char *)0);
		return 0;
	}
	pop3_reply(io, reply);
	return 1;
}

/* strip CRLF (or a bare LF: some clients); 0 when a control byte is left */
static int clean_line(str *l)
{
	size_t i;

	if (l->len && l->s[l->len - 1] == '\n') l->len--;
	if (l->len && l->s[l->len - 1] == '\r') l->len--;
	for (i = 0; i < l->len; i++) {
		unsigned char c = (unsigned char)l->s[i];
		if (c < 0x20 || c == 0x7f) return 0;
	}
	return str_0(l);
}

static int getline_checked(struct pop3_io *io, size_t max)
{
	int r = bufin_getline(&io->in, &io->line, max);

	if (r == BUF_ERR) {
		if (errno == ETIMEDOUT) {
			log_line("timeout, disconnecting", (char *)0);
			pop3_reply(io, "-ERR autologout: idle for too long");
			pop3_flush(io);
		} else {
			log_line("read error: ", strerror(errno), (char *)0);
		}
		return POP3_CMD_FATAL;
	}
	if (r == BUF_EOF) return POP3_CMD_EOF;
	if (r == BUF_TOOLONG)
		return pop3_error(io, "-ERR line too long") ? POP3_CMD_BAD : POP3_CMD_FATAL;
	if (!clean_line(&io->line))
		return pop3_error(io, "-ERR control characters in command") ? POP3_CMD_BAD : POP3_CMD_FATAL;
	return POP3_CMD_OK;
}

int pop3_readcmd(struct pop3_io *io, struct pop3_cmd *c)
{
	size_t i;
	int r = getline_checked(io, POP3_LINE_MAX);

	if (r != POP3_CMD_OK) return r;
	for (i = 0; i < io->line.len && io->line.s[i] != ' '; i++) {
		char ch = io->line.s[i];
		if (i >= 4 || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')))
			return pop3_error(io, "-ERR unknown command") ? POP3_CMD_BAD : POP3_CMD_FATAL;
		c->verb[i] = (char)(ch & ~0x20);
	}
	if (i < 3)
		return pop3_error(io, "-ERR unknown command") ? POP3_CMD_BAD : POP3_CMD_FATAL;
	c->verb[i] = 0;
	if (i < io->line.len) {
		c->arg = io->line.s + i + 1;
		c->arglen = io->line.len - i - 1;
	} else {
		c->arg = "";
		c->arglen = 0;
	}
	return POP3_CMD_OK;
}

int pop3_readsasl(struct pop3_io *io)
{
	int r = getline_checked(io, POP3_SASL_MAX);

	if (r == POP3_CMD_OK) return 1;
	if (r == POP3_CMD_BAD) return 0;
	return -1;
}

unsigned long pop3_msgno(const char *s, size_t n, unsigned long max)
{
	unsigned long long v;

	if (n == 0 || n > 20) return 0;
	if (scan_ulong_max(s, n, max, &v) != n) return 0;
	if (v == 0 || v > max) return 0;
	return (unsigned long)v;
}

static const char hexd[] = "0123456789abcdef";

int pop3_pending_export(const bufin *in)
{
	size_t n = bufin_pending(in), i;
	str h = STR_ZERO;
	int ok;

	if (!n) return unsetenv(POP3_PENDING_ENV) == 0;
	if (!str_ready(&h, 2 * n)) return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in->b[in->p + i];
		h.s[2 * i] = hexd[c >> 4];
		h.s[2 * i + 1] = hexd[c & 15];
	}
	h.len = 2 * n;
	ok = str_0(&h) && setenv(POP3_PENDING_ENV, h.s, 1) == 0;
	str_free(&h);
	return ok;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

void pop3_pending_import(bufin *in)
{
	const char *h = getenv(POP3_PENDING_ENV);
	size_t n, i;

	if (!h) return;
	n = strlen(h);
	if (n % 2 == 0 && n / 2 <= BUF_SIZE) {
		for (i = 0; i < n / 2; i++) {
			int a = unhex(h[2 * i]), b = unhex(h[2 * i + 1]);
			if (a < 0 || b < 0) break;
			in->b[i] = (char)(a << 4 | b);
		}
		if (i == n / 2) { in->p = 0; in->n = i; }
	}
	unsetenv(POP3_PENDING_ENV);
}
