/* lmtpd.c: facteur-lmtpd, an LMTP server on stdin/stdout (tcpserver,
 * systemd Accept=yes). main only: options, privilege, configuration; the
 * protocol is lmtp.c. Started as root it drops to `facteur` before reading
 * anything, and it never delivers as root. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "control.h"
#include "exitcodes.h"
#include "lmtp.h"
#include "log.h"
#include "priv.h"
#include "sock.h"
#include "remoteip.h"
#include "scan.h"

int main(int argc, char **argv)
{
	struct lmtp s;
	int c, timeout = LMTP_TIMEOUT_MS, r;
	unsigned long long v;
	str remote = STR_ZERO;

	log_setprog("facteur-lmtpd");
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt(argc, argv, "T:")) != -1) {
		switch (c) {
		case 'T':
			if (scan_ulong_max(optarg, strlen(optarg), 86400, &v) != strlen(optarg) || !v)
				log_fatal(EX_USAGE, "fatal: -T wants seconds, 1 to 86400", (char *)0);
			timeout = (int)v * 1000;
			break;
		default:
			log_fatal(EX_USAGE, "usage: facteur-lmtpd [-T seconds]", (char *)0);
		}
	}
	if (!priv_drop(PRIV_USER)) log_fatalsys(EX_TEMPFAIL, "fatal: unable to drop privileges", (char *)0);
	if (getuid() == 0 || geteuid() == 0) log_fatal(EX_TEMPFAIL, "fatal: refusing to deliver as root", (char *)0);
	sock_nodelay(1);
	lmtp_init(&s, 0, 1, timeout);
	if (!remoteip_get(&remote, 0)) log_fatal(EX_TEMPFAIL, "fatal: out of memory", (char *)0);
	s.remote = remote.len ? remote.s : "unknown";
	if (control_readline("control/me", &s.me) <= 0 || !s.me.len) {
		if (!str_copys(&s.me, "localhost") || !str_0(&s.me)) log_fatal(EX_TEMPFAIL, "fatal: out of memory", (char *)0);
	}
	if (!str_0(&s.me)) log_fatal(EX_TEMPFAIL, "fatal: out of memory", (char *)0);
	if (control_readulong("control/databytes", &v, 0) < 0)
		log_fatal(EX_CONFIG, "fatal: bad control/databytes", (char *)0);
	if (v) s.maxsize = v;
	log_line("connection from ", s.remote, (char *)0);
	r = lmtp_run(&s);
	bufout_flush(&s.out);
	lmtp_free(&s);
	str_free(&remote);
	return r;
}
