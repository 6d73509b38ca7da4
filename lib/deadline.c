/* deadline.c: the monotonic clock in ms and a poll that stops at a
 * deadline, for every loop that must end within one timeout however many
 * reads it takes, and for the wait on a child that may hang. Trusts
 * nothing; runs as its caller. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>
#include "deadline.h"

long long deadline_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int deadline_wait(int fd, short events, long long deadline)
{
	struct pollfd pf;

	for (;;) {
		long long left = deadline - deadline_now();
		int r;

		if (left <= 0) { errno = ETIMEDOUT; return 0; }
		pf.fd = fd;
		pf.events = events;
		pf.revents = 0;
		/* poll takes an int: a far deadline is waited for in pieces */
		r = poll(&pf, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0) return 1;
		if (r == 0) {
			if (left > INT_MAX) continue;
			errno = ETIMEDOUT;
			return 0;
		}
		if (errno != EINTR) return 0;
	}
}

/* Sleeps until the child exits or the deadline passes, woken by the exit
 * itself through a pidfd (Linux 5.3): the naps below, which were the only
 * way before, made every caller wait up to twice the child's run time
 * (issue 2: smtpd's wait on facteur-queue, after the 250 was ready). */
static int reap_pidfd(pid_t pid, long long deadline, int *status)
{
#ifdef SYS_pidfd_open
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pfd < 0) return -2;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		long long left;
		struct pollfd pf;

		if (r == pid) { close(pfd); return 1; }
		if (r < 0 && errno != EINTR) { close(pfd); return -1; }
		left = deadline - deadline_now();
		if (left <= 0) break;
		pf.fd = pfd;
		pf.events = POLLIN;
		pf.revents = 0;
		(void)poll(&pf, 1, left > INT_MAX ? INT_MAX : (int)left);
	}
	close(pfd);
	return 0;
#else
	(void)pid; (void)deadline; (void)status;
	return -2;
#endif
}

int deadline_reap(pid_t pid, long long deadline, int group, int *status)
{
	int nap = 1, r0;

	*status = 0;
	r0 = reap_pidfd(pid, deadline, status);
	if (r0 == 1 || r0 == -1) return r0;
	if (r0 == 0) goto late;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		long long left;

		if (r == pid) return 1;
		if (r < 0 && errno != EINTR) return -1;
		left = deadline - deadline_now();
		if (left <= 0) break;
		(void)poll(0, 0, left < nap ? (int)left : nap);
		if (nap < DEADLINE_NAP_MAX_MS) nap *= 2;
	}
late:
	if (group) kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) { *status = 0; break; }
	}
	return 0;
}
