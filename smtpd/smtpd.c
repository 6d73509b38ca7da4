/* smtpd.c: main of facteur-smtpd: options, environment, privileges, then
 * one SMTP session on fd 0/1 (session.c). Started as root by tcpserver or
 * systemd, it drops to the `facteur` user before reading a byte; with -t
 * and no TLS yet it first puts the TLS engine in front of itself. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "exitcodes.h"
#include "log.h"
#include "priv.h"
#include "tlsctl.h"
#include "smtpd-internal.h"

#define ARGS_MAX 16

static _Noreturn void usage(void)
{
	log_fatal(EX_USAGE, "usage: facteur-smtpd [-s] [-t]", (char *)0);
}

/* -t: implicit TLS (RFC 8314). The engine runs us again with
 * FACTEUR_TLS=1 once the handshake is done. */
static _Noreturn void exec_tlsd(int argc, char **argv)
{
	char *nargv[ARGS_MAX + 3];
	int i, k = 0;

	nargv[k++] = "facteur-tlsd";
	nargv[k++] = "-t";
	for (i = 0; i < argc && i < ARGS_MAX; i++) nargv[k++] = argv[i];
	nargv[k] = 0;
	execvp(nargv[0], nargv);
	log_fatalsys(EX_UNAVAILABLE, "fatal: unable to run facteur-tlsd", (char *)0);
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
	e = getenv("FACTEUR_TLS");
	if (tls_implicit && !(e && strcmp(e, "1") == 0)) exec_tlsd(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (!priv_drop(PRIV_USER))
		log_fatalsys(EX_NOPERM, "fatal: unable to drop privileges to ", PRIV_USER, (char *)0);
	/* the queue child must not inherit the engine's control channel */
	fd = tlsctl_fd();
	if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
	session_init(&s, 0, 1);
	s.submission = submission;
	session_setup(&s);
	return session_run(&s);
}
