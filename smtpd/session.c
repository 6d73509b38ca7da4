/* session.c: the SMTP conversation (RFC 5321, with PIPELINING, SIZE,
 * 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING, STARTTLS, AUTH): one
 * command line at a time, strict CRLF, bounded lengths and error counts.
 * Recipients are judged at RCPT time, never accepted and bounced later.
 * Trusts nothing from the client, and the instance's control files as
 * written by the admin; runs as the `facteur` user. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "addr.h"
#include "control.h"
#include "fmt.h"
#include "log.h"
#include "remoteip.h"
#include "tlsctl.h"
#include "users.h"
#include "smtpd-internal.h"

struct command {
	const char *verb;
	int (*fn)(struct session *s, const char *arg, size_t n);
};

void session_init(struct session *s, int infd, int outfd)
{
	memset(s, 0, sizeof *s);
	s->timeout_ms = SMTPD_TIMEOUT_DEFAULT * 1000;
	bufout_init(&s->out, outfd, s->timeout_ms);
	bufin_init(&s->in, infd, s->timeout_ms, &s->out);
	s->job.pid = -1;
	s->job.msgfd = s->job.envfd = -1;
	s->databytes = SMTPD_DATABYTES_DEFAULT;
}

void session_reset_mail(struct session *s)
{
	if (s->job.pid >= 0) queue_abort(s);
	s->mail = 0;
	s->utf8 = 0;
	s->nrcpt = 0;
	s->bdat = 0;
	s->bdat_failed = 0;
	str_clear(&s->sender);
	str_clear(&s->rcpts);
}

/* control files and the client's address; 1 ok, 0 configuration error */
static int setup(struct session *s)
{
	unsigned long long v;
	str list = STR_ZERO;
	int r;

	if (!remoteip_get(&s->remoteip, s->in.fd)) return 0;
	s->loopback = remoteip_is_loopback(s->remoteip.s);
	r = control_readline("control/me", &s->me);
	if (r < 0) return 0;
	if (r == 0 && !str_copys(&s->me, "localhost")) return 0;
	if (!str_0(&s->me)) return 0;
	if (control_readulong("control/databytes", &v, SMTPD_DATABYTES_DEFAULT) < 0) return 0;
	s->databytes = v;
	if (control_readulong("control/timeoutsmtpd", &v, SMTPD_TIMEOUT_DEFAULT) < 0) return 0;
	if (v == 0 || v > 3600) v = SMTPD_TIMEOUT_DEFAULT;
	s->timeout_ms = (int)v * 1000;
	s->in.timeout_ms = s->out.timeout_ms = s->timeout_ms;
	if (getenv("RELAYCLIENT")) {
		s->relayclient = 1;
	} else {
		r = control_readlines("control/relayclients", &list);
		if (r < 0) { str_free(&list); return 0; }
		if (r > 0) s->relayclient = remoteip_match(s->remoteip.s, list.s, list.len);
	}
	{
		str p = STR_ZERO;
		/* its mere presence allows it, even empty */
		if (control_path(&p, "control/plaintextauth") && str_0(&p))
			s->plaintextauth = access(p.s, F_OK) == 0;
		str_free(&p);
	}
	r = control_readline("control/domains", &s->firstdomain);
	str_free(&list);
	if (r < 0) return 0;
	s->tls = tlsctl_active();
	/* implicit TLS: the engine tells what it negotiated */
	if (s->tls && !tlsctl_info(&s->tlsinfo)) str_clear(&s->tlsinfo);
	s->queue_argv = queue_argv_from(getenv("FACTEUR_QUEUE"));
	return s->queue_argv != 0;
}

void session_setup(struct session *s)
{
	if (!setup(s)) {
		s->me.len = 0;
		str_0(&s->me);
	}
}

static void greet(struct session *s)
{
	bufout_puts(&s->out, "220 ");
	bufout_put(&s->out, s->me.s, s->me.len);
	bufout_puts(&s->out, " ESMTP facteur\r\n");
}

/* ---- commands ---- */

static int helo_ok(const char *a, size_t n)
{
	size_t i;

	if (n == 0 || n > SMTPD_HELO_MAX) return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)a[i] <= ' ' || (unsigned char)a[i] >= 127) return 0;
	return 1;
}

static int auth_offered(const struct session *s)
{
	return !s->authuser.len && (s->tls || s->loopback || s->plaintextauth);
}

static int do_helo_common(struct session *s, const char *arg, size_t n, int ehlo)
{
	char num[FMT_ULONG + 1];

	if (!helo_ok(arg, n)) { reply(s, RP_HELO_SYNTAX); s->errors++; return 1; }
	session_reset_mail(s);
	if (!str_copy(&s->heloname, arg, n) || !str_0(&s->heloname)) { reply(s, RP_TEMP); return 1; }
	s->helo = ehlo ? 2 : 1;
	bufout_puts(&s->out, "250");
	bufout_puts(&s->out, ehlo ? "-" : " ");
	bufout_put(&s->out, s->me.s, s->me.len);
	bufout_puts(&s->out, "\r\n");
	if (!ehlo) return 1;
	bufout_puts(&s->out, "250-PIPELINING\r\n250-SIZE");
	if (s->databytes) {
		num[fmt_ulong(num, s->databytes)] = 0;
		bufout_puts(&s->out, " ");
		bufout_puts(&s->out, num);
	}
	bufout_puts(&s->out, "\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
	                     "250-SMTPUTF8\r\n250-CHUNKING\r\n");
	if (tlsctl_fd() >= 0 && !s->tls) bufout_puts(&s->out, "250-STARTTLS\r\n");
	if (auth_offered(s)) bufout_puts(&s->out, "250-AUTH PLAIN LOGIN\r\n");
	bufout_puts(&s->out, "250 HELP\r\n");
	return 1;
}

static int do_ehlo(struct session *s, const char *a, size_t n) { return do_helo_common(s, a, n, 1); }
static int do_helo(struct session *s, const char *a, size_t n) { return do_helo_common(s, a, n, 0); }

/* "FROM:" or "TO:", then an optional space (a common client habit) */
static size_t skip_keyword(const char *a, size_t n, const char *kw)
{
	size_t k = strlen(kw);

	if (n < k || strncasecmp(a, kw, k) != 0) return 0;
	if (k < n && a[k] == ' ') k++;
	return k;
}

static void reply_addr_error(struct session *s, int code)
{
	reply_parts(s, code == ADDR_EUTF8 ? "553" : "501", addr_strerror(code));
	s->errors++;
}

/* the path at a[0..n), then space-separated ESMTP parameters */
static int parse_path(struct session *s, const char *a, size_t n, unsigned flags,
                      struct addr *ad, size_t *used)
{
	int r = addr_parse_path(a, n, flags, ad, used);

	if (r != ADDR_OK) { reply_addr_error(s, r); return 0; }
	return 1;
}

static int do_mail(struct session *s, const char *arg, size_t n)
{
	struct addr ad = { STR_ZERO, 0, 0, 0, 0 };
	size_t k, used, i;
	int utf8 = 0;
	unsigned long long size = 0;

	if (!s->helo) { reply(s, RP_NEED_HELO); s->errors++; return 1; }
	if (s->mail) { reply(s, RP_NESTED_MAIL); s->errors++; return 1; }
	if (s->submission && !s->authuser.len) { reply(s, RP_AUTH_REQUIRED); return 1; }
	k = skip_keyword(arg, n, "FROM:");
	if (!k) { reply(s, RP_SYNTAX); s->errors++; return 1; }
	arg += k; n -= k;
	/* first find where the path ends (UTF-8 allowed), read the
	 * parameters, then parse the path again with the real flags */
	if (!parse_path(s, arg, n, ADDR_F_UTF8, &ad, &used)) goto out;
	for (i = used; i < n; ) {
		size_t j, kl;
		const char *p;
		if (arg[i] == ' ') { i++; continue; }
		p = arg + i;
		for (j = i; j < n && arg[j] != ' '; j++)
			;
		kl = j - i;
		if (kl == 8 && strncasecmp(p, "SMTPUTF8", 8) == 0) {
			utf8 = 1;
		} else if (kl > 5 && strncasecmp(p, "SIZE=", 5) == 0) {
			int r = smtpd_parse_size(p + 5, kl - 5, &size);
			if (r == 0) { reply(s, RP_SYNTAX); s->errors++; goto out; }
			if (r < 0 || (s->databytes && size > s->databytes)) {
				reply(s, RP_SIZE_TOOBIG);
				goto out;
			}
		} else if (kl > 5 && strncasecmp(p, "BODY=", 5) == 0) {
			if (!((kl - 5 == 4 && strncasecmp(p + 5, "7BIT", 4) == 0) ||
			      (kl - 5 == 8 && strncasecmp(p + 5, "8BITMIME", 8) == 0))) {
				reply(s, RP_PARAM_UNKNOWN); s->errors++; goto out;
			}
		} else if (kl > 5 && strncasecmp(p, "AUTH=", 5) == 0) {
			/* RFC 4954 5: we do not trust another server's word */
		} else {
			reply(s, RP_PARAM_UNKNOWN); s->errors++; goto out;
		}
		i = j;
	}
	if (!parse_path(s, arg, n, utf8 ? ADDR_F_UTF8 : 0, &ad, &used)) goto out;
	if (s->submission && !smtpd_sender_allowed(s, ad.mailbox.s, ad.mailbox.len)) {
		reply(s, RP_SENDER_NOT_OWNED);
		goto out;
	}
	if (!str_copy(&s->sender, ad.mailbox.s, ad.mailbox.len) || !str_0(&s->sender)) {
		reply(s, RP_TEMP);
		goto out;
	}
	s->mail = 1;
	s->bdat_failed = 0;
	s->utf8 = utf8;
	str_clear(&s->rcpts);
	s->nrcpt = 0;
	reply(s, RP_MAIL_OK);
out:
	addr_free(&ad);
	return 1;
}

static int add_rcpt(struct session *s, const char *a, size_t n)
{
	if (!str_append(&s->rcpts, a, n) || !str_appendc(&s->rcpts, 0)) return 0;
	s->nrcpt++;
	return 1;
}

static int do_rcpt(struct session *s, const char *arg, size_t n)
{
	struct addr ad = { STR_ZERO, 0, 0, 0, 0 };
	str canon = STR_ZERO;
	size_t k, used;
	int cls;
	enum reply_id r = RP_RCPT_OK;

	if (!s->mail) { reply(s, RP_NEED_MAIL); s->errors++; return 1; }
	k = skip_keyword(arg, n, "TO:");
	if (!k) { reply(s, RP_SYNTAX); s->errors++; return 1; }
	arg += k; n -= k;
	if (!parse_path(s, arg, n, s->utf8 ? ADDR_F_UTF8 : 0, &ad, &used)) goto out;
	if (used != n) { reply(s, RP_PARAM_UNKNOWN); s->errors++; goto out; }
	if (s->nrcpt >= SMTPD_RCPT_MAX) { reply(s, RP_TOO_MANY_RCPT); goto out; }
	if (ad.mailbox.len == 0) { reply(s, RP_SYNTAX); s->errors++; goto out; }
	if (ad.literal) {
		/* we answer for no address literal, and relaying to one is
		 * how open-relay probes slip past domain checks */
		r = RP_RELAY_TRICK;
	} else {
		cls = users_classify(ad.mailbox.s, ad.mailbox.len, &canon);
		switch (cls) {
		case RCPT_USER: case RCPT_ALIAS:
			break;
		case RCPT_POSTMASTER:
			if (ad.at == ad.mailbox.len && s->firstdomain.len) {
				/* bare <postmaster>: give it a local domain */
				str_clear(&canon);
				if (!str_appends(&canon, "postmaster@") ||
				    !str_append(&canon, s->firstdomain.s, s->firstdomain.len) ||
				    !add_rcpt(s, canon.s, canon.len)) r = RP_TEMP;
				reply(s, r);
				goto out;
			}
			break;
		case RCPT_UNKNOWN:
			r = RP_NO_SUCH_USER;
			break;
		case RCPT_REMOTE:
			if (ad.route || addr_tricky_local(&ad)) r = RP_RELAY_TRICK;
			else if (!s->relayclient && !s->authuser.len) r = RP_RELAY_DENIED;
			break;
		default:
			r = RP_TEMP;
		}
	}
	if (r == RP_RCPT_OK && !add_rcpt(s, ad.mailbox.s, ad.mailbox.len)) r = RP_TEMP;
	if (r != RP_RCPT_OK) {
		str_0(&ad.mailbox);
		log_line("rcpt refused ip=", s->remoteip.s, " to=<", ad.mailbox.s ? ad.mailbox.s : "",
		         "> ", reply_text(r), (char *)0);
	}
	reply(s, r);
	if ((r == RP_NO_SUCH_USER || r == RP_RELAY_DENIED || r == RP_RELAY_TRICK) &&
	    ++s->badrcpts >= SMTPD_BADRCPT_MAX) {
		reply(s, RP_TOO_MANY_BADRCPT);
		s->hangup = "too many refused recipients";
		str_free(&canon);
		addr_free(&ad);
		return 0;
	}
out:
	str_free(&canon);
	addr_free(&ad);
	return 1;
}

static int do_data(struct session *s, const char *arg, size_t n)
{
	if (n) { reply(s, RP_SYNTAX); s->errors++; return 1; }
	if (!s->mail) { reply(s, RP_NEED_MAIL); s->errors++; return 1; }
	if (s->bdat) { reply(s, RP_BDAT_MIX); s->errors++; return 1; }
	if (!s->nrcpt) { reply(s, RP_NEED_RCPT); return 1; }
	return data_read(s);
}

static int do_bdat(struct session *s, const char *arg, size_t n)
{
	return bdat_command(s, arg, n);
}

static int do_rset(struct session *s, const char *arg, size_t n)
{
	session_reset_mail(s);
	reply(s, RP_RSET);
	return 1;
}

static int do_noop(struct session *s, const char *arg, size_t n) { reply(s, RP_NOOP); return 1; }
static int do_vrfy(struct session *s, const char *arg, size_t n) { reply(s, RP_VRFY); return 1; }
static int do_help(struct session *s, const char *arg, size_t n) { reply(s, RP_HELP); return 1; }
static int do_expn(struct session *s, const char *arg, size_t n) { reply(s, RP_NOTIMPL); return 1; }

static int do_quit(struct session *s, const char *arg, size_t n)
{
	reply(s, RP_QUIT);
	return 0;
}

static int do_starttls(struct session *s, const char *arg, size_t n)
{
	str info = STR_ZERO;

	if (n) { reply(s, RP_SYNTAX); s->errors++; return 1; }
	if (s->tls) { reply(s, RP_TLS_ACTIVE); s->errors++; return 1; }
	if (tlsctl_fd() < 0) { reply(s, RP_TLS_UNAVAIL); return 1; }
	reply(s, RP_TLS_GO);
	if (!reply_flush(s)) return 0;
	if (!tlsctl_starttls(&s->in, &info) || !str_0(&info)) {
		log_line("starttls failed ip=", s->remoteip.s, (char *)0);
		str_free(&info);
		return 0;
	}
	/* RFC 3207 4.2: forget everything learnt before the handshake */
	s->tls = 1;
	session_reset_mail(s);
	s->helo = 0;
	str_clear(&s->heloname);
	str_clear(&s->authuser);
	log_line("starttls ip=", s->remoteip.s, " ", info.s, (char *)0);
	if (!str_copy(&s->tlsinfo, info.s, info.len)) str_clear(&s->tlsinfo);
	str_free(&info);
	return 1;
}

static int do_auth(struct session *s, const char *arg, size_t n)
{
	return smtpd_auth(s, arg, n);
}

static const struct command commands[] = {
	{ "EHLO", do_ehlo }, { "HELO", do_helo }, { "MAIL", do_mail },
	{ "RCPT", do_rcpt }, { "DATA", do_data }, { "BDAT", do_bdat },
	{ "RSET", do_rset }, { "NOOP", do_noop }, { "QUIT", do_quit },
	{ "VRFY", do_vrfy }, { "HELP", do_help }, { "EXPN", do_expn },
	{ "STARTTLS", do_starttls }, { "AUTH", do_auth },
	{ 0, 0 }
};

/* one command line; 1 go on, 0 end the session */
static int dispatch(struct session *s, int r)
{
	const char *p = s->line.s, *arg;
	size_t n = s->line.len, vl, i;
	const struct command *c;

	if (r == BUF_TOOLONG) { reply(s, RP_LINE_TOOLONG); s->errors++; return 1; }
	if (n < 2 || p[n - 2] != '\r') { reply(s, RP_BARE_LF); s->errors++; return 1; }
	n -= 2;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < ' ' || ch == 127) { reply(s, RP_BAD_CHAR); s->errors++; return 1; }
	}
	for (vl = 0; vl < n && p[vl] != ' '; vl++)
		;
	for (c = commands; c->verb; c++)
		if (strlen(c->verb) == vl && strncasecmp(c->verb, p, vl) == 0) break;
	if (!c->verb) { reply(s, RP_UNKNOWN); s->errors++; return 1; }
	if (c->fn != do_auth && n + 2 > SMTPD_CMD_MAX) {
		reply(s, RP_LINE_TOOLONG); s->errors++; return 1;
	}
	arg = p + vl;
	n -= vl;
	while (n && *arg == ' ') { arg++; n--; }
	while (n && arg[n - 1] == ' ') n--;
	return c->fn(s, arg, n);
}

int session_run(struct session *s)
{
	const char *end = "quit";
	char num[FMT_ULONG + 1];

	if (!s->me.len) {
		reply_line(s, "421 4.3.5 configuration problem, try again later");
		reply_flush(s);
		log_line("session ip=", s->remoteip.s ? s->remoteip.s : "",
		         " end=configuration error", (char *)0);
		return 1;
	}
	greet(s);
	for (;;) {
		int r = bufin_getline(&s->in, &s->line, SMTPD_AUTHLINE_MAX);
		if (r == BUF_EOF) { end = "eof"; break; }
		if (r == BUF_ERR) {
			if (errno == ETIMEDOUT) { reply(s, RP_TIMEOUT); end = "timeout"; }
			/* EINTR only when SIGTERM asked us to stop (buf_stop_on) */
			else if (errno == EINTR) { reply(s, RP_SHUTDOWN); end = "shutdown"; }
			else end = "read error";
			break;
		}
		if (!dispatch(s, r)) {
			if (s->hangup) end = s->hangup;
			else if (s->authfails >= SMTPD_AUTHFAIL_MAX) end = "auth failures";
			else if (s->out.err) end = "write error";
			break;
		}
		if (s->errors >= SMTPD_ERRORS_MAX) {
			reply(s, RP_TOO_MANY_ERRORS);
			end = "too many errors";
			break;
		}
	}
	reply_flush(s);
	session_reset_mail(s);
	num[fmt_ulong(num, s->nmsg)] = 0;
	str_0(&s->heloname);
	str_0(&s->authuser);
	log_line("session ip=", s->remoteip.s, " helo=", s->heloname.s ? s->heloname.s : "",
	         s->tls ? " tls=yes" : " tls=no", " user=", s->authuser.s ? s->authuser.s : "",
	         " messages=", num, " end=", end, (char *)0);
	return 0;
}
