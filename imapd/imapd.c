/* imapd.c: main of facteur-imapd, an IMAP4rev2/IMAP4rev1 server on
 * stdin/stdout. Without -m it is the pre-login server: started by
 * tcpserver or systemd (perhaps as root), it drops to `facteur` before
 * reading a byte, and hands logins to facteur-checkpassword (preauth.c).
 * With -m it is the mailbox server that facteur-checkpassword execs after
 * a good password, with FACTEUR_MAILDIR naming the user's Maildir. -t asks
 * for implicit TLS: unless $FACTEUR_TLS=1 we exec facteur-tlsd first. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "control.h"
#include "exitcodes.h"
#include "imapd-internal.h"
#include "log.h"
#include "priv.h"
#include "sock.h"
#include "remoteip.h"
#include "tlsctl.h"

static int is_loopback(void)
{
	str ip = STR_ZERO;
	int r;

	/* out of memory: not loopback, the safe side. No network client at
	 * all (a pipe, a Unix socket) counts as local. */
	if (!remoteip_get(&ip, 0)) r = 0;
	else r = !ip.len || remoteip_is_loopback(ip.s);
	str_free(&ip);
	return r;
}

static void preauth_loop(struct sess *s)
{
	for (;;) {
		int r = cmd_read(s);
		const char *cmd;
		char name[32];
		struct tok *t;

		if (r == CMD_EOF || r == CMD_FATAL) return;
		if (r == CMD_BAD) goto next;
		t = tok_next(s);
		if (t->n >= sizeof name) { bad(s, "unknown command"); goto next; }
		memcpy(name, t->p, t->n);
		name[t->n] = 0;
		cmd = name;
		if (strcasecmp(cmd, "CAPABILITY") == 0) {
			put(s, "* CAPABILITY "); capability_list(s); put(s, "\r\n");
			reply(s, "OK", "CAPABILITY completed");
		} else if (strcasecmp(cmd, "NOOP") == 0) {
			reply(s, "OK", "NOOP completed");
		} else if (strcasecmp(cmd, "LOGOUT") == 0) {
			put(s, "* BYE logging out\r\n");
			reply(s, "OK", "LOGOUT completed");
			bufout_flush(&s->out);
			return;
		} else if (strcasecmp(cmd, "ID") == 0) {
			put(s, "* ID (\"name\" \"facteur\")\r\n");
			reply(s, "OK", "ID completed");
		} else if (preauth_command(s, cmd) < 0) {
			return;
		}
	next:
		if (s->out.err) return;
		if (s->bads >= IMAP_BAD_MAX) {
			put(s, "* BYE too many errors\r\n");
			bufout_flush(&s->out);
			return;
		}
	}
}

static void load_pending(struct sess *s)
{
	const char *h = getenv("FACTEUR_IMAP_PENDING");
	size_t n, i;

	if (!h) return;
	n = strlen(h) / 2;
	if (n > BUF_SIZE) return;
	for (i = 0; i < n; i++) {
		int a = h[2 * i], b = h[2 * i + 1];
		a = a <= '9' ? a - '0' : a - 'a' + 10;
		b = b <= '9' ? b - '0' : b - 'a' + 10;
		s->in.b[i] = (char)(a << 4 | b);
	}
	s->in.p = 0;
	s->in.n = n;
	unsetenv("FACTEUR_IMAP_PENDING");
}

int main(int argc, char **argv)
{
	static struct sess sess;
	struct sess *s = &sess;
	int opt, mailbox = 0, implicit = 0;
	unsigned long long dbytes = 0;

	log_setprog("facteur-imapd");
	while ((opt = getopt(argc, argv, "mt")) != -1) {
		if (opt == 'm') mailbox = 1;
		else if (opt == 't') implicit = 1;
		else log_fatal(EX_USAGE, "usage: facteur-imapd [-t] [-m]", (char *)0);
	}
	if (implicit && !tlsctl_active()) {
		char **nargv = calloc((size_t)argc + 3, sizeof *nargv);
		int i;
		str tlsd = STR_ZERO, me = STR_ZERO;
		if (!nargv || !auth_findprog("facteur-tlsd", &tlsd) || !auth_findprog("facteur-imapd", &me) ||
		    !str_0(&tlsd) || !str_0(&me)) log_fatal(EX_OSERR, "fatal: out of memory", (char *)0);
		nargv[0] = tlsd.s;
		nargv[1] = "-t";
		nargv[2] = me.s;
		for (i = 1; i < argc; i++) nargv[i + 2] = argv[i];
		execvp(nargv[0], nargv);
		log_fatalsys(EX_UNAVAILABLE, "fatal: unable to run facteur-tlsd", (char *)0);
	}
	if (!priv_drop(PRIV_USER)) log_fatalsys(EX_NOPERM, "fatal: unable to drop privileges", (char *)0);
	signal(SIGPIPE, SIG_IGN);
	sock_nodelay(1);
	bufout_init(&s->out, 1, 60000);
	bufin_init(&s->in, 0, mailbox ? IMAP_TIMEOUT_MS : IMAP_PREAUTH_TIMEOUT_MS, &s->out);
	s->tls = tlsctl_active();
	if (mailbox) {
		const char *lb = getenv("FACTEUR_IMAP_LOOPBACK");
		s->loopback = lb ? strcmp(lb, "1") == 0 : is_loopback();
	} else s->loopback = is_loopback();
	s->plainok = access_plaintextauth();
	if (control_readulong("control/databytes", &dbytes, 0) < 0) dbytes = 0;
	s->appendmax = dbytes ? dbytes : IMAP_APPEND_DEFAULT;
	if (mailbox) {
		const char *md = getenv("FACTEUR_MAILDIR"), *tag = getenv("FACTEUR_IMAP_TAG");
		const char *user = getenv("USER");
		if (!md || md[0] != '/') {
			put(s, "* BYE no mailbox\r\n");
			bufout_flush(&s->out);
			log_fatal(IMAP_EXIT_FATAL, "fatal: FACTEUR_MAILDIR not set or not absolute", (char *)0);
		}
		str_copys(&s->maildir, md);
		if (s->maildir.len && s->maildir.s[s->maildir.len - 1] != '/') str_appendc(&s->maildir, '/');
		str_0(&s->maildir);
		str_copys(&s->user, user ? user : "");
		str_0(&s->user);
		load_pending(s);
		s->state = S_AUTH;
		mailbox_greet(s, tag);
		mailbox_loop(s);
		bufout_flush(&s->out);
		return 0;
	}
	s->state = S_NOTAUTH;
	preauth_greet(s);
	preauth_loop(s);
	bufout_flush(&s->out);
	return 0;
}
