/* smtpd.c: main of facteur-smtpd: options, environment, privileges, then
 * one SMTP session on fd 0/1 (session.c). Started as root by tcpserver or
 * systemd, it drops to the `facteur` user before reading a byte. With -t,
 * or when control/tls/cert.pem exists and no engine runs yet, it first
 * puts the TLS engine (facteur-tlsd) in front of itself. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "exitcodes.h"
#include "log.h"
#include "priv.h"
#include "sock.h"
#include "tlsctl.h"
#include "smtpd-internal.h"

#define ARGS_MAX 16

/* the only file-scope state: a signal handler can reach nothing else */
static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static _Noreturn void usage(void)
{
	log_fatal(EX_USAGE, "usage: facteur-smtpd [-s] [-t]", (char *)0);
}

int main(int argc, char **argv)
{
	static struct session s;    /* one per process; static keeps it off the stack */
	int i, tls_implicit = 0, submission = 0, fd;
	const char *e;

	log_setprog("facteur-smtpd");
	if (argc > ARGS_MAX) usage();
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0) submission = 1;
		else if (strcmp(argv[i], "-t") == 0) tls_implicit = 1;
		else usage();
	}
	/* the TLS engine goes in front of us (and runs us again) when -t
	 * asks for it or a certificate allows STARTTLS */
	e = getenv("FACTEUR_TLS");
	if (!(e && strcmp(e, "1") == 0) && tlsctl_maybe_exec_engine(argv, tls_implicit) < 0)
		log_fatal(EX_UNAVAILABLE, "fatal: implicit TLS asked but facteur-tlsd cannot run", (char *)0);
	signal(SIGPIPE, SIG_IGN);
	/* SIGTERM (systemd stopping the unit, an admin): the session answers
	 * 421 4.3.2 at its next wait and ends; a message not yet taken is
	 * not queued (RFC 5321 3.8) */
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_term;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, 0);
		buf_stop_on(&stopping, SIGTERM);
	}
	if (!priv_drop(PRIV_USER))
		log_fatalsys(EX_NOPERM, "fatal: unable to drop privileges to ", PRIV_USER, (char *)0);
	/* the queue child must not inherit the engine's control channel */
	fd = tlsctl_fd();
	if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
	sock_nodelay(1);
	session_init(&s, 0, 1);
	s.submission = submission;
	session_setup(&s);
	return session_run(&s);
}
