/* engine.c: the relay of facteur-tlsd. Plaintext between the client and
 * the protocol program until the program asks for STARTTLS on the control
 * channel, then a TLS handshake and relaying through it. Trusts nothing
 * from the client; trusts the program only to follow the control protocol
 * (anything else ends the session). Runs as facteur-tls, after the keys
 * are loaded.
 *
 * OpenSSL only ever sees memory BIOs: this file does every read and write
 * on the descriptors itself, non-blocking and driven by one poll loop, so
 * each direction is bounded (TLSD_BUF of plaintext, TLSD_BIO_MAX of
 * ciphertext) and every wait has a deadline.
 *
 * Built twice: as is for facteur-tlsd-tls (OpenSSL), and with TLSD_RELAY
 * (tls/relay.c) for facteur-tlsd, which never links OpenSSL: there the TLS
 * phases are never reached in this process, because start_handshake hands
 * the whole session over to facteur-tlsd-tls (t->handover, an exec), so a
 * plaintext session never pays for loading libssl and libcrypto. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "common.h"
#include "engine.h"
#include "log.h"
#ifdef TLSD_RELAY
/* no TLS state ever exists in the relay: every BIO is empty */
#define BIO_ctrl_pending(b) ((void)(b), (size_t)0)
#undef BIO_reset
#define BIO_reset(b) ((void)(b), 0)
#else
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tlsd_looks_like_tls(const char *b, size_t n)
{
	/* record type 22 (handshake), legacy version 3.0 .. 3.4 */
	return n >= 3 && (unsigned char)b[0] == 0x16 && (unsigned char)b[1] == 0x03 &&
	       (unsigned char)b[2] <= 0x04;
}

void tlsd_init(struct tlsd *t, int net_in, int net_out, int to_prog,
               int from_prog, int ctl, int implicit,
               struct tlsconf_server *conf, const char *remote)
{
	memset(t, 0, sizeof *t);
	t->net_in = net_in;
	t->net_out = net_out;
	t->to_prog = to_prog;
	t->from_prog = from_prog;
	t->ctl = ctl;
	t->implicit = implicit;
	t->conf = conf;
	t->remote = remote ? remote : "unknown";
	t->handshake_ms = TLSD_HANDSHAKE_MS;
	t->idle_ms = TLSD_IDLE_MS;
	t->write_ms = TLSD_WRITE_MS;
	t->go_ms = TLSD_GO_MS;
	t->hold_ms = TLSD_HOLD_MS;
	t->phase = TLSD_PLAIN;
}

void tlsd_free(struct tlsd *t)
{
#ifndef TLSD_RELAY
	if (t->ssl) SSL_free(t->ssl);     /* frees both BIOs */
#endif
	t->ssl = 0;
	t->rbio = t->wbio = 0;
	str_free(&t->info);
}

int tlsd_finish(struct tlsd *t, int orig_fl0, int orig_fl1, pid_t pid)
{
	if (orig_fl0 >= 0) (void)fcntl(0, F_SETFL, orig_fl0);
	if (orig_fl1 >= 0) (void)fcntl(1, F_SETFL, orig_fl1);
	(void)shutdown(1, SHUT_WR);
	close(0);
	close(1);
	if (t->to_prog >= 0) close(t->to_prog);
	close(t->from_prog);
	if (t->ctl >= 0) close(t->ctl);
	tlsd_free(t);
	free(t);
	return tlsd_exit_status(pid);
}

static void say(struct tlsd *t, const char *what, const char *detail)
{
	log_line(t->remote, " ", what, detail ? ": " : "", detail ? detail : "", (char *)0);
}

#ifndef TLSD_RELAY
static void say_ssl(struct tlsd *t, const char *what)
{
	str e = STR_ZERO;

	tlsconf_error(&e);
	if (str_0(&e)) say(t, what, e.s);
	else say(t, what, 0);
	str_free(&e);
}
#endif

static int out_pending(const struct tlsd *t)
{
	return t->out_p < t->out_n || (t->wbio && BIO_ctrl_pending(t->wbio) > 0);
}

static void out_clear(struct tlsd *t)
{
	t->out_p = t->out_n = 0;
	if (t->wbio) (void)BIO_reset(t->wbio);
}

static void close_to_prog(struct tlsd *t)
{
	if (t->to_prog >= 0) close(t->to_prog);
	t->to_prog = -1;
	t->up_p = t->up_n = 0;
	t->hold = 0;
}

#ifdef TLSD_RELAY
/* the handshake is facteur-tlsd-tls's: hand it everything (never returns
 * on success) */
static int start_handshake(struct tlsd *t, long long now)
{
	(void)now;
	return t->handover ? t->handover(t) : 0;
}
#else
static int start_handshake(struct tlsd *t, long long now)
{
	str err = STR_ZERO;

	/* parsed only now: a session that stays in plaintext never pays for
	 * OpenSSL's contexts */
	if (!tlsconf_server_prepare(t->conf, &err)) {
		if (str_0(&err)) say(t, "fatal: unable to load the certificate", err.s);
		str_free(&err);
		return 0;
	}
	str_free(&err);
	t->ssl = SSL_new(tlsconf_server_ctx(t->conf));
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		if (t->rbio) BIO_free(t->rbio);
		if (t->wbio) BIO_free(t->wbio);
		t->rbio = t->wbio = 0;
		say_ssl(t, "fatal: unable to start TLS");
		return 0;
	}
	/* an empty read BIO means "wait for more", not end of stream */
	BIO_set_mem_eof_return(t->rbio, -1);
	BIO_set_mem_eof_return(t->wbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_accept_state(t->ssl);
	/* a ClientHello held back in plaintext mode starts the handshake */
	if (t->hold && t->up_n > t->up_p) {
		if (BIO_write(t->rbio, t->up + t->up_p, (int)(t->up_n - t->up_p)) <= 0) return 0;
	}
	t->up_p = t->up_n = 0;
	t->hold = 0;
	t->phase = TLSD_HANDSHAKE;
	t->deadline = now + t->handshake_ms;
	return 1;
}

/* 1 ok, 0 end the session */
static int handshake_done(struct tlsd *t, long long now)
{
	const char *sni = tlsconf_server_sni(t->conf, t->ssl);
	str line = STR_ZERO;
	int ok = 1;

	/* keys of the domains this client did not ask for go now */
	tlsconf_server_forget(t->conf);
	if (!tlsconf_describe(t->ssl, &t->info)) return 0;
	{
		/* The client's Finished gets no answer from us (no tickets), so
		 * its first request would wait, under Nagle, for our delayed ACK
		 * (40 ms). Acknowledge now. Not a socket: nothing to do. */
		int one = 1;
		(void)setsockopt(t->net_in, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	}
	log_line(t->remote, " ", t->info.s, sni ? " sni=" : "", sni ? sni : "", (char *)0);
	if (t->ctl >= 0) {
		/* implicit: a bare info line; STARTTLS: step 3 of the protocol */
		if ((!t->implicit && !str_appendc(&line, 'Y')) ||
		    !str_append(&line, t->info.s, t->info.len) || !str_appendc(&line, '\n')) {
			str_free(&line);
			return 0;
		}
		if (!fd_writeall(t->ctl, line.s, line.len, t->go_ms)) ok = t->implicit;
		str_free(&line);
	} else if (!t->implicit) {
		return 0;
	}
	if (!ok) return 0;
	if (t->implicit) {
		t->phase = TLSD_TLS;
	} else {
		t->phase = TLSD_WAITGO;
		t->deadline = now + t->go_ms;
	}
	return 1;
}
#endif

/* Transformations that need no waiting: OpenSSL work and the switch out of
 * TLSD_FLUSH. Returns 0 to end the session (*why set). */
static int pump(struct tlsd *t, long long now, int *why)
{
	if (t->phase == TLSD_FLUSH && t->out_p == t->out_n) {
		for (;;) {
			ssize_t r = read(t->from_prog, t->out, sizeof t->out);
			if (r > 0) {
				t->out_p = 0;
				t->out_n = (size_t)r;
				t->last_write = now;
				return 1;
			}
			if (r == 0) { t->prog_eof = 1; *why = TLSD_END_OK; return 0; }
			if (errno == EINTR) continue;
			if (errno != EAGAIN) { t->prog_eof = 1; *why = TLSD_END_ERROR; return 0; }
			break;
		}
		/* everything the program said before its 'Y' is on the wire */
		if (!start_handshake(t, now)) { *why = TLSD_END_ERROR; return 0; }
	}
#ifndef TLSD_RELAY
	if (t->phase == TLSD_HANDSHAKE) {
		int r;

		ERR_clear_error();
		r = SSL_do_handshake(t->ssl);
		if (r == 1) {
			if (!handshake_done(t, now)) { *why = TLSD_END_PROTOCOL; return 0; }
		} else {
			int e = SSL_get_error(t->ssl, r);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				const char *why_cert = tlsconf_server_error(t->conf);
				if (why_cert) say(t, "fatal: unable to load the certificate", why_cert);
				say_ssl(t, "TLS handshake failed");
				*why = TLSD_END_HANDSHAKE;
				/* let the alert out, best effort, then hang up */
				t->net_eof = 1;
				return 0;
			}
			if (t->raw_eof) {
				say(t, "TLS handshake failed", "client closed the connection");
				*why = TLSD_END_HANDSHAKE;
				return 0;
			}
		}
	}
	if (t->phase == TLSD_TLS) {
		while (!t->net_eof && t->up_p == t->up_n && t->to_prog >= 0) {
			int r;

			ERR_clear_error();
			r = SSL_read(t->ssl, t->up, (int)sizeof t->up);
			if (r > 0) {
				t->up_p = 0;
				t->up_n = (size_t)r;
				t->last_activity = now;
				break;
			}
			switch (SSL_get_error(t->ssl, r)) {
			case SSL_ERROR_WANT_READ:
			case SSL_ERROR_WANT_WRITE:
				if (t->raw_eof) t->net_eof = 1;   /* truncated, no close_notify */
				break;
			case SSL_ERROR_ZERO_RETURN:
				t->net_eof = 1;
				break;
			default:
				say_ssl(t, "TLS error reading");
				t->net_eof = 1;
				t->net_dead = 1;
				break;
			}
			break;
		}
		if (t->to_prog < 0 && !t->net_eof) {
			/* the program stopped reading: keep draining so alerts and
			 * close_notify are still seen */
			char sink[TLSD_BUF];
			int r;
			ERR_clear_error();
			while ((r = SSL_read(t->ssl, sink, (int)sizeof sink)) > 0)
				;
			if (SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ || t->raw_eof) t->net_eof = 1;
		}
		if (t->net_dead) {
			t->down_p = t->down_n = 0;
		} else {
			while (t->down_p < t->down_n && BIO_ctrl_pending(t->wbio) < TLSD_BIO_MAX) {
				int r;

				ERR_clear_error();
				r = SSL_write(t->ssl, t->down + t->down_p, (int)(t->down_n - t->down_p));
				if (r > 0) {
					t->down_p += (size_t)r;
					if (t->down_p == t->down_n) t->down_p = t->down_n = 0;
					continue;
				}
				if (SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ ||
				    SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_WRITE)
					break;
				say_ssl(t, "TLS error writing");
				t->net_dead = 1;
				t->down_p = t->down_n = 0;
				break;
			}
			if (t->prog_eof && t->down_p == t->down_n && !t->ssl_shut) {
				ERR_clear_error();
				(void)SSL_shutdown(t->ssl);    /* our close_notify */
				t->ssl_shut = 1;
			}
		}
	}
	if (t->wbio && t->out_p == t->out_n && BIO_ctrl_pending(t->wbio) > 0) {
		int r = BIO_read(t->wbio, t->out, (int)sizeof t->out);
		if (r > 0) {
			t->out_p = 0;
			t->out_n = (size_t)r;
			t->last_write = now;
		}
	}
#endif
	if (t->net_dead) out_clear(t);
	return 1;
}

/* read from the client: plaintext into up, or ciphertext into rbio */
static void net_read(struct tlsd *t, long long now)
{
	char b[TLSD_BUF];
	ssize_t r;

	if (t->phase == TLSD_PLAIN)
		r = read(t->net_in, t->up, sizeof t->up);
	else
		r = read(t->net_in, b, sizeof b);
	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN) return;
		t->raw_eof = t->net_eof = 1;
		t->net_dead = 1;
		return;
	}
	t->last_activity = now;
	if (r == 0) {
		t->raw_eof = 1;
		if (t->phase == TLSD_PLAIN) t->net_eof = 1;
		return;
	}
	if (t->phase == TLSD_PLAIN) {
		t->up_p = 0;
		t->up_n = (size_t)r;
		if (t->ctl >= 0 && !t->implicit && tlsd_looks_like_tls(t->up, t->up_n)) {
			t->hold = 1;
			t->hold_until = now + t->hold_ms;
		}
		return;
	}
#ifdef TLSD_RELAY
	(void)b;
#else
	if (BIO_write(t->rbio, b, (int)r) != (int)r) {
		t->raw_eof = t->net_eof = 1;
		t->net_dead = 1;
	}
#endif
}

static void net_write(struct tlsd *t, long long now)
{
	ssize_t w = write(t->net_out, t->out + t->out_p, t->out_n - t->out_p);

	if (w < 0) {
		if (errno == EINTR || errno == EAGAIN) return;
		t->net_dead = 1;
		out_clear(t);
		return;
	}
	t->out_p += (size_t)w;
	if (t->out_p == t->out_n) t->out_p = t->out_n = 0;
	t->last_write = t->last_activity = now;
}

static void prog_write(struct tlsd *t, long long now)
{
	ssize_t w = write(t->to_prog, t->up + t->up_p, t->up_n - t->up_p);

	if (w < 0) {
		if (errno == EINTR || errno == EAGAIN) return;
		close_to_prog(t);          /* the program closed its input */
		return;
	}
	t->up_p += (size_t)w;
	if (t->up_p == t->up_n) t->up_p = t->up_n = 0;
	t->last_activity = now;
}

static void prog_read(struct tlsd *t, long long now)
{
	char *dst = t->phase == TLSD_TLS ? t->down : t->out;
	size_t cap = t->phase == TLSD_TLS ? sizeof t->down : sizeof t->out;
	ssize_t r = read(t->from_prog, dst, cap);

	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN) return;
		t->prog_eof = 1;
		return;
	}
	t->last_activity = now;
	if (r == 0) { t->prog_eof = 1; return; }
	if (t->net_dead) return;              /* read only to let the program finish */
	if (t->phase == TLSD_TLS) {
		t->down_p = 0;
		t->down_n = (size_t)r;
	} else {
		t->out_p = 0;
		t->out_n = (size_t)r;
		t->last_write = now;
	}
}

/* a byte from the program on the control channel; 0 ends the session */
static int ctl_read(struct tlsd *t, long long now, int *why)
{
	char c;
	ssize_t r = read(t->ctl, &c, 1);

	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN) return 1;
		r = 0;
	}
	if (r == 0) {
		/* the program gave up its control channel: no STARTTLS any more */
		close(t->ctl);
		t->ctl = -1;
		if (t->phase == TLSD_WAITGO) { *why = TLSD_END_PROTOCOL; return 0; }
		return 1;
	}
	if (t->phase == TLSD_PLAIN && c == 'Y' && !t->implicit) {
		/* step 2: from here no client byte read so far reaches the
		 * program; a held ClientHello is kept for the handshake */
		if (!t->hold) t->up_p = t->up_n = 0;
		t->phase = TLSD_FLUSH;
		(void)now;
		return 1;
	}
	if (t->phase == TLSD_WAITGO && c == 'G') {
		t->phase = TLSD_TLS;          /* step 5 */
		return 1;
	}
	say(t, "fatal: control protocol violated by the program", 0);
	*why = TLSD_END_PROTOCOL;
	return 0;
}

static int finished(const struct tlsd *t)
{
	if (!t->prog_eof) return 0;
	if (t->net_dead) return 1;
	if (t->phase == TLSD_TLS && (t->down_p < t->down_n || !t->ssl_shut)) return 0;
	return !out_pending(t);
}

static long long min_ll(long long a, long long b) { return a < b ? a : b; }

int tlsd_run(struct tlsd *t)
{
	int why = TLSD_END_OK;
	long long now = now_ms();

	t->last_activity = t->last_write = now;
	if (t->implicit && !start_handshake(t, now)) return TLSD_END_ERROR;

	for (;;) {
		struct pollfd p[5];
		int ip = -1, op = -1, tp = -1, fp = -1, cp = -1;
		int np = 0, r;
		long long deadline;

		now = now_ms();
		if (!pump(t, now, &why)) break;
		/* a client we cannot write to is gone: the program gets EOF
		 * once it has what was read before */
		if (t->net_dead) t->net_eof = 1;
		if (t->net_eof && t->up_p == t->up_n && t->to_prog >= 0) close_to_prog(t);
		if (finished(t)) { why = t->net_dead ? TLSD_END_CLIENT : TLSD_END_OK; break; }
		if (t->net_dead && t->to_prog >= 0 && t->prog_eof) close_to_prog(t);

		/* what to wait for, by phase */
		if (!t->raw_eof && !t->net_dead) {
			int want = 0;
			switch (t->phase) {
			case TLSD_PLAIN:
				want = !t->net_eof && t->up_p == t->up_n && !t->hold && t->to_prog >= 0;
				break;
			case TLSD_HANDSHAKE:
				want = BIO_ctrl_pending(t->rbio) < TLSD_BIO_MAX;
				break;
			case TLSD_TLS:
				want = !t->net_eof && t->up_p == t->up_n &&
				       BIO_ctrl_pending(t->rbio) < TLSD_BIO_MAX;
				break;
			}
			if (want) { ip = np; p[np].fd = t->net_in; p[np].events = POLLIN; np++; }
		}
		if (t->out_p < t->out_n && !t->net_dead) {
			op = np; p[np].fd = t->net_out; p[np].events = POLLOUT; np++;
		}
		if (t->to_prog >= 0 && t->up_p < t->up_n && !t->hold &&
		    (t->phase == TLSD_PLAIN || t->phase == TLSD_TLS)) {
			tp = np; p[np].fd = t->to_prog; p[np].events = POLLOUT; np++;
		}
		if (!t->prog_eof && (t->phase == TLSD_PLAIN || t->phase == TLSD_TLS) &&
		    (t->net_dead || (t->phase == TLSD_TLS ? t->down_p == t->down_n
		                                          : t->out_p == t->out_n))) {
			fp = np; p[np].fd = t->from_prog; p[np].events = POLLIN; np++;
		}
		if (t->ctl >= 0 && (t->phase == TLSD_PLAIN || t->phase == TLSD_WAITGO ||
		                    t->phase == TLSD_TLS)) {
			cp = np; p[np].fd = t->ctl; p[np].events = POLLIN; np++;
		}

		deadline = t->last_activity + t->idle_ms;
		if (t->phase == TLSD_HANDSHAKE || t->phase == TLSD_WAITGO)
			deadline = min_ll(deadline, t->deadline);
		if (out_pending(t) && !t->net_dead) deadline = min_ll(deadline, t->last_write + t->write_ms);
		/* a hold expires only while still in plaintext: after a 'Y' the
		 * held bytes are the ClientHello */
		if (t->hold && t->phase == TLSD_PLAIN) deadline = min_ll(deadline, t->hold_until);
		if (np == 0 && !(t->hold && t->phase == TLSD_PLAIN) && deadline > now) {
			/* nothing to wait for yet not finished: cannot happen, but
			 * never spin */
			say(t, "fatal: relay stalled", 0);
			why = TLSD_END_ERROR;
			break;
		}
		r = poll(p, (nfds_t)np, deadline > now ? (int)min_ll(deadline - now, 1 << 30) : 0);
		if (r < 0) {
			if (errno == EINTR) continue;
			say(t, "fatal: poll failed", strerror(errno));
			why = TLSD_END_ERROR;
			break;
		}
		now = now_ms();
		if (r == 0) {
			if (t->hold && t->phase == TLSD_PLAIN && now >= t->hold_until) {
				t->hold = 0;     /* not a STARTTLS after all: relay it as is */
				continue;
			}
			if ((t->phase == TLSD_HANDSHAKE || t->phase == TLSD_WAITGO) && now >= t->deadline) {
				say(t, t->phase == TLSD_HANDSHAKE ? "TLS handshake failed" : "fatal: no go from the program",
				    "timeout");
				why = t->phase == TLSD_HANDSHAKE ? TLSD_END_HANDSHAKE : TLSD_END_PROTOCOL;
				break;
			}
			if (out_pending(t) && !t->net_dead && now >= t->last_write + t->write_ms) {
				say(t, "timeout writing to the client", 0);
				t->net_dead = 1;
				out_clear(t);
				continue;
			}
			if (now >= t->last_activity + t->idle_ms) {
				say(t, "idle timeout", 0);
				why = TLSD_END_TIMEOUT;
				break;
			}
			continue;
		}
		/* the control channel first: a 'Y' must win over client bytes */
		if (cp >= 0 && (p[cp].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!ctl_read(t, now, &why)) break;
			if (t->phase != TLSD_PLAIN && t->phase != TLSD_TLS) continue;
		}
		if (op >= 0 && (p[op].revents & (POLLOUT | POLLHUP | POLLERR))) net_write(t, now);
		if (fp >= 0 && (p[fp].revents & (POLLIN | POLLHUP | POLLERR))) prog_read(t, now);
		if (tp >= 0 && t->to_prog >= 0 && (p[tp].revents & (POLLOUT | POLLHUP | POLLERR)))
			prog_write(t, now);
		if (ip >= 0 && (p[ip].revents & (POLLIN | POLLHUP | POLLERR))) {
			/* in plain mode, never forward client bytes while a 'Y' waits */
			if (t->phase == TLSD_PLAIN || t->phase == TLSD_HANDSHAKE || t->phase == TLSD_TLS)
				net_read(t, now);
		}
	}
	/* best effort: the last alert or close_notify, without waiting */
	if (!t->net_dead) {
#ifndef TLSD_RELAY
		if (t->wbio && t->out_p == t->out_n) {
			int r = BIO_read(t->wbio, t->out, (int)sizeof t->out);
			if (r > 0) { t->out_p = 0; t->out_n = (size_t)r; }
		}
#endif
		if (t->out_p < t->out_n) {
			ssize_t w = write(t->net_out, t->out + t->out_p, t->out_n - t->out_p);
			(void)w;
		}
	}
	return why;
}
