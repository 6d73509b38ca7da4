/* sysuser.c: creates the system users facteur and facteur-tls with
 * useradd(8) when they are missing. Runs as root only. useradd is run with
 * execve, a fixed argv and a fixed environment; the only variable part is
 * the user name, one of two constants. Several facteur-setup runs at once
 * (parallel tests) may race: useradd locks /etc/passwd, the loser fails,
 * and we look again before reporting an error. */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "priv.h"
#include "sysuser.h"

#define SYSUSER_TRIES 20
#define SYSUSER_PAUSE_NS 100000000L     /* 0.1 s between tries */

static int run_useradd(const char *name)
{
	char *const argv[] = { "useradd", "--system", "--user-group", "--no-create-home",
	                       "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
	                       "--comment", "facteur mail server", (char *)name, 0 };
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", 0 };
	int st;
	pid_t p = fork();

	if (p < 0) return -1;
	if (p == 0) {
		dup2(2, 1);     /* useradd's chatter goes to our log */
		execve("/usr/sbin/useradd", argv, envp);
		_exit(127);
	}
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR) return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int sysuser_ensure(const char *name)
{
	struct timespec ts = { 0, SYSUSER_PAUSE_NS };
	unsigned uid, gid;
	int i, r = -1;

	for (i = 0; i < SYSUSER_TRIES; i++) {
		if (priv_lookup(name, &uid, &gid)) {
			if (i > 0) log_line("created system user ", name, (char *)0);
			return 1;
		}
		if (i == 0 || r != 0) r = run_useradd(name);
		if (r == 127) break;
		if (r != 0) nanosleep(&ts, 0);
	}
	if (priv_lookup(name, &uid, &gid)) return 1;
	log_line("fatal: unable to create the system user ", name, " with useradd", (char *)0);
	return 0;
}
