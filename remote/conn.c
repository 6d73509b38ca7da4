/* conn.c: timed, bounded I/O for the SMTP client, over TCP or TLS (see
 * conn.h). The peer is untrusted; runs as facteur. The socket stays
 * non-blocking throughout, so one deadline covers a whole read or write,
 * TLS renegotiation wants included. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include "conn.h"
#include "deadline.h"
#include "tlsconf.h"

void conn_init(struct conn *c)
{
	c->fd = -1;
	c->ssl = 0;
	c->p = c->n = 0;
	c->out.s = 0;
	c->out.len = c->out.cap = 0;
	c->err = 0;
}

int conn_connect(struct conn *c, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int err = 0;
	socklen_t el = sizeof err;

	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) return 0;
	if (connect(c->fd, sa, len) == 0) return 1;
	if (errno != EINPROGRESS) goto fail;
	if (!deadline_wait(c->fd, POLLOUT, deadline_now() + timeout_ms)) goto fail;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) goto fail;
	if (err) { errno = err; goto fail; }
	return 1;
fail:
	err = errno;
	close(c->fd);
	c->fd = -1;
	errno = err;
	return 0;
}

/* read some bytes into in[]; 1 ok, 0 EOF, -1 error */
static int fill(struct conn *c, long long deadline)
{
	if (c->err) { errno = c->err; return -1; }
	if (c->p == c->n) c->p = c->n = 0;
	for (;;) {
		if (c->ssl) {
			int r = SSL_read(c->ssl, c->in + c->n, (int)(sizeof c->in - c->n));
			int e;
			if (r > 0) { c->n += (size_t)r; return 1; }
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				if (!deadline_wait(c->fd, POLLIN, deadline)) break;
				continue;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				if (!deadline_wait(c->fd, POLLOUT, deadline)) break;
				continue;
			}
			if (e == SSL_ERROR_ZERO_RETURN) return 0;
			ERR_clear_error();
			errno = ECONNRESET;
			break;
		} else {
			ssize_t r = read(c->fd, c->in + c->n, sizeof c->in - c->n);
			if (r > 0) { c->n += (size_t)r; return 1; }
			if (r == 0) return 0;
			if (errno == EINTR) continue;
			if (errno != EAGAIN) break;
			if (!deadline_wait(c->fd, POLLIN, deadline)) break;
		}
	}
	c->err = errno ? errno : EIO;
	return -1;
}

int conn_getline(struct conn *c, str *line, size_t max, int timeout_ms)
{
	long long deadline = deadline_now() + timeout_ms;
	int over = 0;
	size_t seen = 0;

	str_clear(line);
	for (;;) {
		while (c->p < c->n) {
			char ch = c->in[c->p++];
			if (line->len < max) {
				if (!str_appendc(line, ch)) { c->err = ENOMEM; return -1; }
			} else {
				over = 1;
				/* a line without end is a peer gone mad, not a reply */
				if (++seen > CONN_LINE_HARD) { c->err = EPROTO; errno = EPROTO; return -1; }
			}
			if (ch == '\n') return over ? 2 : 1;
		}
		{
			int r = fill(c, deadline);
			if (r <= 0) return r;
		}
	}
}

int conn_put(struct conn *c, const void *p, size_t n)
{
	if (!str_append(&c->out, p, n)) { c->err = ENOMEM; return 0; }
	return 1;
}

int conn_puts(struct conn *c, const char *s) { return conn_put(c, s, strlen(s)); }

int conn_flush(struct conn *c, int timeout_ms)
{
	long long deadline = deadline_now() + timeout_ms;
	size_t done = 0;

	if (c->err) { errno = c->err; return 0; }
	while (done < c->out.len) {
		size_t left = c->out.len - done;
		if (c->ssl) {
			int w = SSL_write(c->ssl, c->out.s + done, left > 0x40000000 ? 0x40000000 : (int)left);
			int e;
			if (w > 0) { done += (size_t)w; continue; }
			e = SSL_get_error(c->ssl, w);
			if (e == SSL_ERROR_WANT_WRITE) { if (deadline_wait(c->fd, POLLOUT, deadline)) continue; }
			else if (e == SSL_ERROR_WANT_READ) { if (deadline_wait(c->fd, POLLIN, deadline)) continue; }
			else { ERR_clear_error(); errno = EPIPE; }
			break;
		} else {
			ssize_t w = send(c->fd, c->out.s + done, left, MSG_NOSIGNAL);
			if (w >= 0) { done += (size_t)w; continue; }
			if (errno == EINTR) continue;
			if (errno != EAGAIN) break;
			if (!deadline_wait(c->fd, POLLOUT, deadline)) break;
		}
	}
	if (done < c->out.len) {
		c->err = errno ? errno : EIO;
		return 0;
	}
	str_clear(&c->out);
	return 1;
}

int conn_starttls(struct conn *c, SSL_CTX *ctx, const char *host, int verify,
                  int timeout_ms, str *why)
{
	long long deadline = deadline_now() + timeout_ms;

	/* anything after the 220 was sent in plaintext by someone who may
	 * not be the peer: it must never be read as a reply after the
	 * handshake (CVE-2021-38371) */
	c->p = c->n = 0;
	str_clear(&c->out);
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !tlsconf_client_prepare(c->ssl, host, verify) ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		str_appends(why, "unable to set up TLS: ");
		tlsconf_error(why);
		return 0;
	}
	for (;;) {
		int r = SSL_connect(c->ssl), e;
		if (r == 1) break;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ && deadline_wait(c->fd, POLLIN, deadline)) continue;
		if (e == SSL_ERROR_WANT_WRITE && deadline_wait(c->fd, POLLOUT, deadline)) continue;
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			str_appends(why, "TLS handshake timed out");
		} else {
			long v = SSL_get_verify_result(c->ssl);
			str_appends(why, "TLS handshake failed: ");
			if (verify && v != X509_V_OK) str_appends(why, X509_verify_cert_error_string(v));
			else tlsconf_error(why);
		}
		c->err = EPROTO;
		return 0;
	}
	return 1;
}

int conn_tls_describe(const struct conn *c, str *out)
{
	if (!c->ssl) return 0;
	return tlsconf_describe(c->ssl, out);
}

void conn_close(struct conn *c)
{
	if (c->ssl) {
		/* a quiet close: the peer may already be gone */
		SSL_set_quiet_shutdown(c->ssl, 1);
		SSL_free(c->ssl);
		c->ssl = 0;
	}
	if (c->fd >= 0) close(c->fd);
	c->fd = -1;
	c->p = c->n = 0;
	str_free(&c->out);
	c->err = 0;
}
