/* deadline.c: the monotonic clock in ms and a poll that stops at a
 * deadline, for every loop that must end within one timeout however many
 * reads it takes, and for the wait on a child that may hang. Trusts
 * nothing; runs as its caller. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
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

int deadline_reap(pid_t pid, long long deadline, int group, int *status)
{
	int nap = 1;

	*status = 0;
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
	if (group) kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) { *status = 0; break; }
	}
	return 0;
}
