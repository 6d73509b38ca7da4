/* pop3d.c: facteur-pop3d's main: arguments, environment, privilege.
 * Without -m it is the AUTHORIZATION half: it drops root to `facteur`
 * before reading a byte and hands credentials to facteur-checkpassword,
 * which runs `facteur-pop3d -m` as the user on the same connection (the
 * TRANSACTION half, with $FACTEUR_MAILDIR and $USER). Trusts its
 * environment (set by tcpserver, systemd, facteur-tlsd or
 * facteur-checkpassword), nothing from the client. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "control.h"
#include "exitcodes.h"
#include "fmt.h"
#include "log.h"
#include "pop3-internal.h"
#include "priv.h"
#include "sock.h"
#include "remoteip.h"
#include "tlsctl.h"

static _Noreturn void usage(void)
{
	log_fatal(EX_USAGE, "usage: facteur-pop3d [-t] | facteur-pop3d -m", (char *)0);
}

static int mailbox_main(void)
{
	struct pop3_io io;
	struct maildrop md;
	const char *dir = getenv("FACTEUR_MAILDIR"), *user = getenv("USER");
	char n[24];
	int r;

	/* every exit here is 0: facteur-checkpassword passes our status on,
	 * and the waiting AUTHORIZATION half reads 1 as "bad password" */
	pop3_io_init(&io);
	if (!priv_drop(PRIV_USER)) {
		log_line("fatal: unable to drop privileges", (char *)0);
		pop3_reply(&io, "-ERR [SYS/TEMP] internal error");
		pop3_flush(&io);
		return 0;
	}
	pop3_pending_import(&io.in);
	if (!user || !*user) user = "?";
	if (!dir || dir[0] != '/' || chdir(dir) != 0) {
		log_line("fatal: no usable maildrop for ", user, (char *)0);
		pop3_reply(&io, "-ERR [SYS/TEMP] unable to open maildrop");
		pop3_flush(&io);
		return 0;
	}
	r = maildrop_open(&md, dir);
	if (r == MAILDROP_INUSE) {
		log_line("login ", user, ": maildrop in use", (char *)0);
		pop3_reply(&io, "-ERR [IN-USE] maildrop already locked by another POP3 session");
	} else if (r != MAILDROP_OK) {
		log_line("login ", user, ": unable to open maildrop ", dir, ": ", strerror(errno), (char *)0);
		pop3_reply(&io, "-ERR [SYS/TEMP] unable to open maildrop");
	} else {
		n[fmt_ulong(n, md.n)] = 0;
		log_line("login ", user, ": ", n, " messages", (char *)0);
		bufout_puts(&io.out, "+OK ");
		bufout_putu(&io.out, md.live);
		bufout_puts(&io.out, " messages (");
		bufout_putu(&io.out, md.total);
		bufout_puts(&io.out, " octets)\r\n");
		pop3_transaction(&io, &md, user);
	}
	pop3_flush(&io);
	maildrop_close(&md);
	str_free(&io.line);
	return 0;
}

/* -t: the TLS engine first; it runs us again with $FACTEUR_TLS=1, so
 * this happens once */
static _Noreturn void implicit_tls(void)
{
	str tlsd = STR_ZERO, self = STR_ZERO;
	char *av[5];

	if (!auth_findprog("facteur-tlsd", &tlsd) || !auth_findprog("facteur-pop3d", &self))
		log_fatal(111, "fatal: out of memory", (char *)0);
	av[0] = tlsd.s;
	av[1] = "-t";
	av[2] = self.s;
	av[3] = "-t";
	av[4] = 0;
	if (strchr(tlsd.s, '/')) execv(tlsd.s, av);
	else execvp(tlsd.s, av);
	log_fatalsys(111, "fatal: unable to run ", tlsd.s, (char *)0);
}

static int plaintext_allowed_file(void)
{
	str p = STR_ZERO;
	int r = control_path(&p, "control/plaintextauth") && access(p.s, F_OK) == 0;

	str_free(&p);
	return r;
}

int main(int argc, char **argv)
{
	struct pop3_io io;
	struct pop3_auth a;
	str me = STR_ZERO, rip = STR_ZERO;
	size_t n;
	int mailbox = 0, tls = 0, i, r;

	log_setprog("facteur-pop3d");
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-m")) mailbox = 1;
		else if (!strcmp(argv[i], "-t")) tls = 1;
		else usage();
	}
	signal(SIGPIPE, SIG_IGN);
	sock_nodelay(1);
	if (mailbox) return mailbox_main();
	if (tls && !tlsctl_active()) implicit_tls();
	if (!priv_drop(PRIV_USER)) log_fatalsys(111, "fatal: unable to drop privileges", (char *)0);

	pop3_io_init(&io);
	memset(&a, 0, sizeof a);
	a.io = &io;
	if (!remoteip_get(&rip, 0)) log_fatal(111, "fatal: out of memory", (char *)0);
	n = rip.len < sizeof a.remote ? rip.len : sizeof a.remote - 1;
	memcpy(a.remote, rip.s, n);
	a.remote[n] = 0;
	a.tls_avail = tlsctl_fd() >= 0;
	/* not a socket at all (a pipe, a test) counts as local */
	a.remote_trusted = !rip.len || remoteip_is_loopback(rip.s) || plaintext_allowed_file();
	str_free(&rip);
	a.plaintext_ok = a.remote_trusted || tlsctl_active();
	if (!auth_findprog("facteur-pop3d", &a.self)) log_fatal(111, "fatal: out of memory", (char *)0);
	log_line("connect from ", a.remote[0] ? a.remote : "local", tlsctl_active() ? " (TLS)" : "", (char *)0);

	bufout_puts(&io.out, "+OK ");
	if (control_readline("control/me", &me) > 0 && str_0(&me)) {
		bufout_puts(&io.out, me.s);
		bufout_puts(&io.out, " ");
	}
	bufout_puts(&io.out, "facteur POP3 server ready\r\n");
	str_free(&me);
	r = pop3_preauth(&a);
	pop3_flush(&io);
	str_wipe(&io.line);
	str_free(&a.user);
	str_free(&a.self);
	return r;
}
