/* tlsd-tls.c: facteur-tlsd-tls PID TO_PROG FROM_PROG CTL MEMFD IMPLICIT
 * FL0 FL1 -- the TLS half of the engine, exec'd by facteur-tlsd (tlsd.c)
 * when a session starts TLS, never by hand. It takes over the relay
 * (engine.c): the client on fd 0/1, the protocol program's pipes and
 * control channel, and the program (PID, our child since the exec). The
 * memfd (sealed) holds a ClientHello held back, then the key files' bytes
 * (tls/pemfiles.h). Runs as facteur-tls from the start (facteur-tlsd
 * dropped privileges before the exec); trusts its command line and the
 * memfd (facteur-tlsd's), nothing from the network. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common.h"
#include "engine.h"
#include "exitcodes.h"
#include "log.h"
#include "scan.h"
#include "tlsconf.h"

/* the hand-over: a ClientHello, then at most every pair at its largest */
#define TLSD_HANDOVER_MAX ((size_t)(TLSCONF_SNI_MAX + 1) * 2 * (TLSCONF_FILE_MAX + 1024))

/* a descriptor or flags argument: a number, or "-" for none */
static int arg_num(const char *s, long long *out)
{
	unsigned long long v;
	size_t n = strlen(s);

	if (strcmp(s, "-") == 0) { *out = -1; return 1; }
	if (n == 0 || scan_ulong(s, n, &v) != n || v > INT32_MAX) return 0;
	*out = (long long)v;
	return 1;
}

static _Noreturn void give_up(pid_t pid, int code, const char *what, const char *detail)
{
	log_line("fatal: ", what, detail ? ": " : "", detail ? detail : "", (char *)0);
	close(0);
	close(1);
	if (pid > 0) (void)tlsd_exit_status(pid);
	_exit(code);
}

int main(int argc, char **argv)
{
	long long v[TLSD_TLS_ARGC];
	int i, end;
	pid_t pid;
	int to_prog, from_prog, ctl, mfd, implicit, orig_fl0, orig_fl1;
	struct stat st;
	char *b;
	size_t got = 0;
	uint32_t held;
	struct tlsconf_server *conf;
	struct tlsd *t;
	str err = STR_ZERO;
	const char *remote;

	/* keys are coming into our memory: no core dumps, no ptrace */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	log_setprog("facteur-tlsd");
	if (argc != TLSD_TLS_ARGC)
		log_fatal(EX_USAGE, "usage: " TLSD_TLS_PROG " is run by facteur-tlsd only", (char *)0);
	for (i = 1; i < TLSD_TLS_ARGC; i++)
		if (!arg_num(argv[i], &v[i]))
			log_fatal(EX_USAGE, "usage: " TLSD_TLS_PROG " is run by facteur-tlsd only", (char *)0);
	pid = (pid_t)v[1];
	to_prog = (int)v[2];
	from_prog = (int)v[3];
	ctl = (int)v[4];
	mfd = (int)v[5];
	implicit = v[6] == 1;
	orig_fl0 = (int)v[7];
	orig_fl1 = (int)v[8];
	if (pid <= 0 || from_prog < 0 || mfd < 0) give_up(pid, EX_USAGE, "bad hand-over", 0);

	if (fstat(mfd, &st) != 0 || st.st_size < (off_t)sizeof held || (size_t)st.st_size > TLSD_HANDOVER_MAX)
		give_up(pid, EX_OSERR, "bad hand-over", 0);
	b = malloc((size_t)st.st_size);
	if (!b) give_up(pid, EX_OSERR, "out of memory", 0);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(mfd, b + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) give_up(pid, EX_OSERR, "bad hand-over", 0);
		got += (size_t)r;
	}
	close(mfd);
	memcpy(&held, b, sizeof held);
	if (held > TLSD_BUF || held > got - sizeof held) give_up(pid, EX_OSERR, "bad hand-over", 0);
	conf = tlsconf_server_from_blob(b + sizeof held + held, got - sizeof held - held, &err);
	if (!conf) give_up(pid, EX_CONFIG, str_0(&err) ? err.s : "bad hand-over", 0);

	remote = getenv("TCPREMOTEIP");
	if (!remote || !*remote) remote = "unknown";
	t = malloc(sizeof *t);
	if (!t) give_up(pid, EX_OSERR, "out of memory", 0);
	tlsd_init(t, 0, 1, to_prog, from_prog, ctl, implicit, conf, remote);
	t->handshake_ms = tlsd_env_timeout_ms("FACTEUR_TLS_HANDSHAKE_TIMEOUT", t->handshake_ms);
	t->idle_ms = tlsd_env_timeout_ms("FACTEUR_TLS_IDLE_TIMEOUT", t->idle_ms);
	t->write_ms = tlsd_env_timeout_ms("FACTEUR_TLS_WRITE_TIMEOUT", t->write_ms);
	if (!implicit) {
		/* the relay had the program's 'Y': finish its flush, then the
		 * handshake, with the ClientHello it held back if any */
		t->phase = TLSD_FLUSH;
		if (held) {
			memcpy(t->up, b + sizeof held, held);
			t->up_p = 0;
			t->up_n = held;
			t->hold = 1;
		}
	} else if (!tlsconf_server_prepare(conf, &err)) {
		explicit_bzero(b, got);
		give_up(pid, EX_CONFIG, str_0(&err) ? err.s : "unable to load the certificate", 0);
	}
	explicit_bzero(b, got);
	free(b);
	str_free(&err);

	end = tlsd_run(t);
	(void)end;

	tlsconf_server_free(conf);
	return tlsd_finish(t, orig_fl0, orig_fl1, pid);
}
