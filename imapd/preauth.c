/* preauth.c: the not-authenticated state of facteur-imapd (RFC 9051 6.1,
 * 6.2): CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE PLAIN.
 * Runs as `facteur` and never reads the user map: a login is handed, as
 * "user\0password\0" on fd 3, to `facteur-checkpassword facteur-imapd -m`
 * (the checkpassword interface), which on success execs the mailbox-mode
 * server on the same connection with the user's Maildir in the
 * environment. We wait for it: exit 1 means a bad password, 111 a
 * temporary failure, anything else that the session ran and is over. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "auth.h"
#include "b64.h"
#include "control.h"
#include "imapd-internal.h"
#include "log.h"
#include "sasl.h"
#include "tlsctl.h"

static int logindisabled(const struct sess *s)
{
	return !s->tls && !s->loopback && !s->plainok;
}

void capability_list(struct sess *s)
{
	put(s, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE");
	if (s->state == S_NOTAUTH) {
		if (tlsctl_fd() >= 0 && !s->tls) put(s, " STARTTLS");
		if (logindisabled(s)) put(s, " LOGINDISABLED");
		else put(s, " AUTH=PLAIN");
		return;
	}
	put(s, " IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN LIST-EXTENDED"
	       " LIST-STATUS SPECIAL-USE CONDSTORE QRESYNC ESEARCH SEARCHRES STATUS=SIZE BINARY"
	       " MULTIAPPEND"
	       " UTF8=ACCEPT APPENDLIMIT=");
	putu(s, s->appendmax);
}

void preauth_greet(struct sess *s)
{
	put(s, "* OK [CAPABILITY ");
	capability_list(s);
	put(s, "] facteur IMAP ready\r\n");
}

static void hexenv(const char *name, const char *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	str h = STR_ZERO;
	size_t i;

	for (i = 0; i < n; i++) {
		str_appendc(&h, hx[(unsigned char)p[i] >> 4]);
		str_appendc(&h, hx[(unsigned char)p[i] & 15]);
	}
	str_0(&h);
	setenv(name, h.s ? h.s : "", 1);
	str_free(&h);
}

/* 1 bad password (caller answers NO), -1 temporary failure; does not
 * return when the session ran */
static int checkpassword(struct sess *s, const str *user, const str *pass)
{
	int pfd[2], status;
	pid_t pid;
	str rec = STR_ZERO;
	int ok;

	if (memchr(user->s, 0, user->len) || memchr(pass->s, 0, pass->len) ||
	    !user->len || user->len > 256 || pass->len > 512) return 1;
	if (pipe(pfd) < 0) return -1;
	bufout_flush(&s->out);
	pid = fork();
	if (pid < 0) { close(pfd[0]); close(pfd[1]); return -1; }
	if (pid == 0) {
		str cp = STR_ZERO, me = STR_ZERO;
		char *argv[4];
		/* our own programs: $FACTEUR_BIN, next to this one, or PATH */
		if (!auth_findprog("facteur-checkpassword", &cp) || !auth_findprog("facteur-imapd", &me) ||
		    !str_0(&cp) || !str_0(&me)) _exit(111);
		argv[0] = cp.s; argv[1] = me.s; argv[2] = "-m"; argv[3] = 0;
		close(pfd[1]);
		if (pfd[0] != 3) { if (dup2(pfd[0], 3) < 0) _exit(111); close(pfd[0]); }
		setenv("FACTEUR_IMAP_TAG", s->c.tag, 1);
		hexenv("FACTEUR_IMAP_PENDING", s->in.b + s->in.p, bufin_pending(&s->in));
		setenv("FACTEUR_IMAP_LOOPBACK", s->loopback ? "1" : "0", 1);
		if (s->tls) setenv("FACTEUR_TLS", "1", 1);
		execvp(argv[0], argv);
		log_line("unable to run facteur-checkpassword: ", strerror(errno), (char *)0);
		_exit(111);
	}
	close(pfd[0]);
	signal(SIGPIPE, SIG_IGN);
	ok = str_append(&rec, user->s, user->len) && str_appendc(&rec, 0) &&
	     str_append(&rec, pass->s, pass->len) && str_appendc(&rec, 0);
	if (ok) fd_writeall(pfd[1], rec.s, rec.len, 10000);
	str_wipe(&rec);
	close(pfd[1]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1) return 1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 111) return -1;
	/* the mailbox session ran on our connection and has ended */
	_exit(0);
}

static int login(struct sess *s, const str *user, const str *pass)
{
	int r;
	str u = STR_ZERO;

	if (logindisabled(s)) {
		reply(s, "NO", "[PRIVACYREQUIRED] plaintext login refused; use STARTTLS");
		return 0;
	}
	str_copy(&u, user->s, user->len);
	str_0(&u);
	r = checkpassword(s, user, pass);
	if (r < 0) {
		log_line("login temporary failure: ", u.s ? u.s : "", (char *)0);
		reply(s, "NO", "[UNAVAILABLE] temporary failure, try again later");
		str_free(&u);
		return 0;
	}
	s->fails++;
	log_line("login failed: ", u.s ? u.s : "", (char *)0);
	str_free(&u);
	/* growing delay: 1, 2, 4 seconds, then the session ends */
	sleep(1u << (s->fails - 1 < 3 ? s->fails - 1 : 3));
	reply(s, "NO", "[AUTHENTICATIONFAILED] invalid credentials");
	if (s->fails >= IMAP_AUTH_FAILS) {
		put(s, "* BYE too many failed logins\r\n");
		bufout_flush(&s->out);
		return -1;
	}
	return 0;
}

static int authenticate(struct sess *s)
{
	str mech = STR_ZERO, resp = STR_ZERO, dec = STR_ZERO, user = STR_ZERO, pass = STR_ZERO;
	struct sasl_plain pl;
	int r = 0, pr;

	if (!tok_astring(s, &mech)) { bad(s, "AUTHENTICATE needs a mechanism"); goto out; }
	str_lower(&mech);
	if (!str_equals(&mech, "plain")) { reply(s, "NO", "[CANNOT] only PLAIN is supported"); goto out; }
	if (logindisabled(s)) { reply(s, "NO", "[PRIVACYREQUIRED] plaintext authentication refused; use STARTTLS"); goto out; }
	if (!tok_end(s)) {
		struct tok *t = tok_next(s);
		if (t->type != T_ATOM || !tok_end(s)) { bad(s, "bad initial response"); goto out; }
		str_copy(&resp, t->p, t->n);
	} else {
		int g;
		put(s, "+ \r\n");
		g = bufin_getline(&s->in, &resp, 8192);
		if (g != BUF_LINE) { r = g == BUF_TOOLONG ? 0 : -1; if (!r) bad(s, "response too long"); goto out; }
		resp.len--;
		if (resp.len && resp.s[resp.len - 1] == '\r') resp.len--;
	}
	if (resp.len == 1 && resp.s[0] == '*') { bad(s, "authentication cancelled"); goto out; }
	if (resp.len == 1 && resp.s[0] == '=') resp.len = 0;
	if (!b64_decode(resp.s ? resp.s : "", resp.len, &dec) || !str_0(&dec)) { bad(s, "bad base64"); goto out; }
	pr = sasl_plain_parse(dec.s, dec.len, &pl);
	if (pr == SASL_PLAIN_MALFORMED) { bad(s, "malformed PLAIN response"); goto out; }
	if (pr == SASL_PLAIN_PROXY) { reply(s, "NO", "[AUTHORIZATIONFAILED] no proxy authorization"); goto out; }
	str_copy(&user, pl.user, pl.ulen);
	str_copy(&pass, pl.pass, pl.plen);
	r = login(s, &user, &pass);
out:
	str_free(&mech); str_wipe(&resp); str_wipe(&dec); str_free(&user); str_wipe(&pass);
	return r;
}

/* -1: end the session */
int preauth_command(struct sess *s, const char *cmd)
{
	if (strcasecmp(cmd, "LOGIN") == 0) {
		str u = STR_ZERO, p = STR_ZERO;
		int r = 0;
		if (!tok_astring(s, &u) || !tok_astring(s, &p) || !tok_end(s))
			bad(s, "LOGIN needs user and password (no NUL)");
		else r = login(s, &u, &p);
		str_free(&u); str_wipe(&p);
		return r;
	}
	if (strcasecmp(cmd, "AUTHENTICATE") == 0) return authenticate(s);
	if (strcasecmp(cmd, "STARTTLS") == 0) {
		str info = STR_ZERO;
		if (!tok_end(s)) { bad(s, "STARTTLS takes no arguments"); return 0; }
		if (tlsctl_fd() < 0 || s->tls) { bad(s, "STARTTLS not available"); return 0; }
		reply(s, "OK", "begin TLS negotiation now");
		bufout_flush(&s->out);
		if (!tlsctl_starttls(&s->in, &info)) { log_line("STARTTLS failed", (char *)0); return -1; }
		s->tls = 1;
		log_line("STARTTLS ", info.s ? info.s : "", (char *)0);
		str_free(&info);
		return 0;
	}
	if (tok_is(&s->c.t[1], "SELECT") || tok_is(&s->c.t[1], "EXAMINE") || tok_is(&s->c.t[1], "LIST"))
		bad(s, "not authenticated");
	else bad(s, "unknown command or not authenticated");
	return 0;
}

/* control/plaintextauth lets clients log in without TLS from anywhere */
int access_plaintextauth(void)
{
	str p = STR_ZERO;
	int ok = control_path(&p, "control/plaintextauth") && access(p.s, F_OK) == 0;
	str_free(&p);
	return ok;
}
