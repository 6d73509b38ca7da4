/* auth.c: password checks by running facteur-checkpassword, so that the
 * protocol programs never read the user map's hashes. Trusts the caller's
 * user and password only as far as their bounded lengths; trusts the
 * checker's exit code. Runs with the caller's privilege (normally
 * `facteur`): the checker is an ordinary child, not setuid.
 *
 * The checkpassword interface (cr.yp.to/checkpwd/interface.html):
 * "user\0password\0" on fd 3, exit 0 good, 1 bad, anything else
 * temporary. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "auth.h"
#include "buf.h"
#include "deadline.h"
#include "str.h"
#include "sysdep.h"

#define AUTH_CHECKER       "facteur-checkpassword"
#define AUTH_WRITE_MS      10000     /* the checker reads fd 3 at once */
#define AUTH_EXE_MAX       4096      /* longest /proc/self/exe we accept */

/* volatile so the compiler cannot drop the wipe of a buffer it sees die */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--) *v++ = 0;
}

/* a program of ours, next to the running one (FACTEUR_BIN, then the
 * directory of /proc/self/exe), or its bare name for a PATH search */
int auth_findprog(const char *name, str *out)
{
	const char *b = getenv("FACTEUR_BIN");
	char exe[AUTH_EXE_MAX];
	ssize_t n;

	if (b && *b) {
		return str_copys(out, b) && str_appendc(out, '/') &&
		       str_appends(out, name) && str_0(out);
	}
	n = readlink("/proc/self/exe", exe, sizeof exe);
	if (n > 0 && (size_t)n < sizeof exe) {
		char *slash = memrchr(exe, '/', (size_t)n);
		if (slash) {
			if (!str_copy(out, exe, (size_t)(slash - exe) + 1) ||
			    !str_appends(out, name) || !str_0(out)) return 0;
			if (access(out->s, X_OK) == 0) return 1;
		}
	}
	return str_copys(out, name) && str_0(out);
}

static int valid_input(const char *user, size_t ulen, const char *pass, size_t plen)
{
	if (ulen == 0 || ulen > AUTH_USER_MAX || plen > AUTH_PASS_MAX) return 0;
	if (memchr(user, 0, ulen) || (plen && memchr(pass, 0, plen))) return 0;
	return 1;
}

/* waitpid with a deadline; timeout_ms < 0 waits forever. Kills the child
 * on timeout. Returns the wait status, or -1. */
static int wait_child(pid_t pid, int timeout_ms)
{
	int st, r;

	if (timeout_ms < 0) {
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR) return -1;
		return st;
	}
	r = deadline_reap(pid, deadline_now() + timeout_ms, 0, &st);
	if (r > 0) return st;
	if (r == 0) errno = ETIMEDOUT;
	return -1;
}

int auth_checkpassword_run(const char *user, size_t ulen, const char *pass,
                           size_t plen, char *const *prog, int timeout_ms)
{
	char msg[AUTH_USER_MAX + AUTH_PASS_MAX + 2];
	str path = STR_ZERO;
	struct sigaction ign, old;
	int p[2], st, ok;
	size_t n;
	pid_t pid;

	if (!valid_input(user, ulen, pass, plen)) return 0;
	if (!auth_findprog(AUTH_CHECKER, &path)) return -1;
	if (pipe(p) != 0) { str_free(&path); return -1; }
	pid = fork();
	if (pid < 0) {
		close(p[0]); close(p[1]); str_free(&path);
		return -1;
	}
	if (pid == 0) {
		char *argv[64];
		size_t i = 0;
		int fd;

		close(p[1]);
		if (p[0] != 3) {
			if (dup2(p[0], 3) != 3) _exit(111);
			close(p[0]);
		}
		/* without a mailbox program the checker has no business with
		 * the client's connection */
		if (!prog && (fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			if (fd > 2) close(fd);
			/* nor with the caller's other descriptors (TLS control...) */
			sys_close_from(4);
		}
		argv[i++] = path.s;
		if (prog)
			while (prog[i - 1] && i < sizeof argv / sizeof argv[0] - 1) {
				argv[i] = prog[i - 1];
				i++;
			}
		argv[i] = 0;
		if (strchr(path.s, '/')) execv(path.s, argv);
		else execvp(path.s, argv);
		_exit(111);
	}
	close(p[0]);
	str_free(&path);
	memcpy(msg, user, ulen);
	msg[ulen] = 0;
	if (plen) memcpy(msg + ulen + 1, pass, plen);
	msg[ulen + 1 + plen] = 0;
	n = ulen + plen + 2;
	/* a checker that dies early must not take us with SIGPIPE */
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	fd_writeall(p[1], msg, n, AUTH_WRITE_MS);
	sigaction(SIGPIPE, &old, 0);
	wipe(msg, sizeof msg);
	close(p[1]);
	st = wait_child(pid, timeout_ms);
	if (st == -1) return -1;
	if (!WIFEXITED(st)) return -1;
	ok = WEXITSTATUS(st);
	if (ok == 0) return 1;
	if (ok == 1) return 0;
	return -1;
}

int auth_checkpassword(const char *user, size_t ulen, const char *pass, size_t plen)
{
	return auth_checkpassword_run(user, ulen, pass, plen, 0, AUTH_TIMEOUT_MS);
}
