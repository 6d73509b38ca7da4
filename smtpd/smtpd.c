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
#include "exitcodes.h"
#include "log.h"
#include "priv.h"
#include "sock.h"
#include "tlsctl.h"
#include "smtpd-internal.h"

#define ARGS_MAX 16

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
