/* common.c: helpers of both halves of the TLS engine (common.h). Trusts
 * the environment it is given (the operator's); runs as facteur-tls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "common.h"
#include "exitcodes.h"
#include "log.h"
#include "scan.h"

int tlsd_env_timeout_ms(const char *name, int def)
{
	const char *e = getenv(name);
	unsigned long long v;

	if (!e || !*e) return def;
	if (scan_ulong(e, strlen(e), &v) != strlen(e) || v == 0 || v > TLSD_TIMEOUT_MAX) {
		log_line("warning: ignoring ", name, "=", e, (char *)0);
		return def;
	}
	return (int)v * 1000;
}

int tlsd_exit_status(pid_t pid)
{
	int st;

	for (;;) {
		if (waitpid(pid, &st, 0) == pid) break;
		if (errno != EINTR) return EX_OSERR;
	}
	if (WIFEXITED(st)) return WEXITSTATUS(st);
	if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
	return EX_SOFTWARE;
}
