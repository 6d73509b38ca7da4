/* preauth.c: the AUTHORIZATION state (RFC 1939 4, RFC 2449 CAPA, RFC
 * 5034 AUTH, RFC 2595 STLS). Runs as `facteur`, before anyone logged in;
 * trusts nothing the client sends and never reads the user map: the
 * credentials go to facteur-checkpassword, which runs this program again
 * with -m, as the user, on the same connection (qmail-popup's design). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "auth.h"
#include "b64.h"
#include "log.h"
#include "pop3-internal.h"
#include "sasl.h"
#include "tlsctl.h"

int pop3_sasl_plain(const char *m, size_t n, const char **user, size_t *ulen,
                    const char **pass, size_t *plen)
{
	struct sasl_plain p;

	if (sasl_plain_parse(m, n, &p) != SASL_PLAIN_OK) return 0;
	*user = p.user;
	*ulen = p.ulen;
	*pass = p.pass;
	*plen = p.plen;
	return *ulen > 0;
}

static void capa(struct pop3_auth *a)
{
	struct pop3_io *io = a->io;

	pop3_capa_begin(io);
	if (a->plaintext_ok) {
		pop3_reply(io, "USER");
		pop3_reply(io, "SASL PLAIN");
	}
	if (a->tls_avail && !tlsctl_active()) pop3_reply(io, "STLS");
	pop3_capa_end(io);
}

static void sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

enum { LOGIN_AGAIN = 0, LOGIN_DONE = 1 };

/* hand the credentials on; LOGIN_DONE when the connection is finished
 * (a mailbox session ran, or we gave up), LOGIN_AGAIN to keep reading */
static int login(struct pop3_auth *a, const char *user, size_t ulen,
                 const char *pass, size_t plen)
{
	char *prog[3];
	char name[AUTH_USER_MAX + 1];
	int r;

	if (ulen > AUTH_USER_MAX || plen > AUTH_PASS_MAX) {
		pop3_reply(a->io, "-ERR [AUTH] invalid user name or password");
		r = 0;
	} else {
		memcpy(name, user, ulen);
		name[ulen] = 0;
		prog[0] = a->self.s;
		prog[1] = "-m";
		prog[2] = 0;
		/* the mailbox process takes over the connection: it must see
		 * what the client pipelined behind its password, and our replies
		 * must be out before it writes its own */
		if (!pop3_pending_export(&a->io->in) || !pop3_flush(a->io)) {
			log_line("fatal: unable to hand over the connection", (char *)0);
			return LOGIN_DONE;
		}
		if (tlsctl_active()) setenv("FACTEUR_TLS", "1", 1);
		r = auth_checkpassword_run(user, ulen, pass, plen, prog, -1);
		unsetenv(POP3_PENDING_ENV);
		if (r == 1) return LOGIN_DONE;
		if (r < 0) {
			log_line("login of ", name, " from ", a->remote, ": temporary failure", (char *)0);
			pop3_reply(a->io, "-ERR [SYS/TEMP] unable to check the password now, try again later");
			pop3_flush(a->io);
			return LOGIN_DONE;
		}
		log_line("login failed for ", name, " from ", a->remote, (char *)0);
		if (++a->failures >= POP3_AUTH_TRIES) {
			pop3_reply(a->io, "-ERR [AUTH] invalid user name or password; too many failures");
			pop3_flush(a->io);
			return LOGIN_DONE;
		}
		/* a growing delay makes guessing slow; the buffered input stays */
		sleep_ms((long)POP3_FAIL_DELAY_MS << (a->failures - 1));
		pop3_reply(a->io, "-ERR [AUTH] invalid user name or password");
		return LOGIN_AGAIN;
	}
	return r ? LOGIN_DONE : LOGIN_AGAIN;
}

static int refuse_plaintext(struct pop3_auth *a)
{
	return pop3_error(a->io, "-ERR [AUTH] plaintext authentication disallowed on unencrypted connections; use STLS");
}

/* AUTH PLAIN [initial-response]; LOGIN_DONE or LOGIN_AGAIN; -1 fatal */
static int do_auth(struct pop3_auth *a, const struct pop3_cmd *c)
{
	struct pop3_io *io = a->io;
	const char *sp = memchr(c->arg, ' ', c->arglen), *resp, *user, *pass;
	size_t mlen = sp ? (size_t)(sp - c->arg) : c->arglen, rlen, ulen, plen;
	str dec = STR_ZERO;
	int r;

	if (!c->arglen) {
		/* RFC 1734's listing, which some clients still probe for */
		if (!a->plaintext_ok) { pop3_reply(io, "+OK"); pop3_reply(io, "."); return LOGIN_AGAIN; }
		pop3_reply(io, "+OK");
		pop3_reply(io, "PLAIN");
		pop3_reply(io, ".");
		return LOGIN_AGAIN;
	}
	if (mlen != 5 || strncasecmp(c->arg, "PLAIN", 5) != 0)
		return pop3_error(io, "-ERR unsupported authentication mechanism") ? LOGIN_AGAIN : -1;
	if (!a->plaintext_ok) return refuse_plaintext(a) ? LOGIN_AGAIN : -1;
	if (sp) {
		resp = sp + 1;
		rlen = c->arglen - mlen - 1;
	} else {
		pop3_reply(io, "+ ");
		r = pop3_readsasl(io);
		if (r < 0) return -1;
		if (r == 0) return LOGIN_AGAIN;
		resp = io->line.s;
		rlen = io->line.len;
	}
	if (rlen == 1 && resp[0] == '*') {
		pop3_reply(io, "-ERR authentication cancelled");
		return LOGIN_AGAIN;
	}
	/* RFC 5034 4: "=" is an empty initial response */
	if (rlen == 1 && resp[0] == '=') rlen = 0;
	if (!b64_decode(resp, rlen, &dec) ||
	    !pop3_sasl_plain(dec.s ? dec.s : "", dec.len, &user, &ulen, &pass, &plen)) {
		str_wipe(&dec);
		return pop3_error(io, "-ERR [AUTH] malformed PLAIN response") ? LOGIN_AGAIN : -1;
	}
	r = login(a, user, ulen, pass, plen);
	str_wipe(&dec);
	str_wipe(&io->line);
	return r;
}

static int do_stls(struct pop3_auth *a, const struct pop3_cmd *c)
{
	str info = STR_ZERO;

	if (c->arglen || !a->tls_avail || tlsctl_active())
		return pop3_error(a->io, tlsctl_active() ? "-ERR TLS already active"
		                                          : "-ERR STLS not available");
	pop3_reply(a->io, "+OK Begin TLS negotiation");
	if (!pop3_flush(a->io) || !tlsctl_starttls(&a->io->in, &info)) {
		str_free(&info);
		log_line("TLS handshake failed with ", a->remote, (char *)0);
		return -1;
	}
	if (!str_0(&info)) return -1;
	log_line("TLS started with ", a->remote, ": ", info.s, (char *)0);
	str_free(&info);
	/* RFC 2595 4: forget everything from before the handshake */
	str_clear(&a->user);
	a->plaintext_ok = 1;
	return 1;
}

int pop3_preauth(struct pop3_auth *a)
{
	struct pop3_io *io = a->io;
	struct pop3_cmd c;
	int have_user = 0;

	for (;;) {
		int r = pop3_readcmd(io, &c);
		if (r == POP3_CMD_BAD) { have_user = 0; continue; }
		if (r == POP3_CMD_EOF || r == POP3_CMD_FATAL) return 0;
		if (!strcmp(c.verb, "QUIT") && !c.arglen) {
			pop3_reply(io, "+OK bye");
			pop3_flush(io);
			return 0;
		}
		if (!strcmp(c.verb, "CAPA") && !c.arglen) capa(a);
		else if (!strcmp(c.verb, "USER")) {
			have_user = 0;
			if (!a->plaintext_ok) r = refuse_plaintext(a);
			else if (!c.arglen || c.arglen > AUTH_USER_MAX || memchr(c.arg, ' ', c.arglen))
				r = pop3_error(io, "-ERR usage: USER name");
			else if (!str_copy(&a->user, c.arg, c.arglen)) return 0;
			else { have_user = 1; pop3_reply(io, "+OK send PASS"); }
			if (!r) return 0;
			continue;
		} else if (!strcmp(c.verb, "PASS")) {
			if (!have_user) {
				if (!pop3_error(io, "-ERR send USER first")) return 0;
				continue;
			}
			have_user = 0;
			r = login(a, a->user.s, a->user.len, c.arg, c.arglen);
			str_wipe(&io->line);
			if (r == LOGIN_DONE) return 0;
			continue;
		} else if (!strcmp(c.verb, "AUTH")) {
			r = do_auth(a, &c);
			if (r < 0 || r == LOGIN_DONE) return 0;
		} else if (!strcmp(c.verb, "STLS")) {
			r = do_stls(a, &c);
			if (r < 0) return 0;
			if (r == 0) return 0;
		} else if (!pop3_error(io, "-ERR unknown command or not allowed before login")) return 0;
		have_user = 0;
		if (io->out.err) return 0;
	}
}
