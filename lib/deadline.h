/* deadline.h: time limits that cover a whole exchange rather than one
 * read: a deadline is a point on the monotonic clock, in milliseconds,
 * and waits for a descriptor stop there (the DNS client, the SMTP client's
 * connection, the pipe to a delivery program). */
#ifndef FACTEUR_DEADLINE_H
#define FACTEUR_DEADLINE_H
#include <sys/types.h>

#define DEADLINE_NAP_MAX_MS 20   /* longest sleep between waitpid polls */

/* now on CLOCK_MONOTONIC, in ms: add a timeout to it to get a deadline */
long long deadline_now(void);

/* waits until fd is ready for events (POLLIN, POLLOUT) or the deadline
 * passes; EINTR does not end it. 1 ready (or an error or hang-up on fd,
 * which the next read or write will tell), 0 with errno ETIMEDOUT when
 * the deadline passed, or poll's errno. */
int deadline_wait(int fd, short events, long long deadline);

/* waits for the child pid until the deadline (woken by its exit through
 * a pidfd; where pidfd_open is missing, polling waitpid, 1 ms doubling up
 * to DEADLINE_NAP_MAX_MS), so that a hung filter, checker or
 * delivery program cannot hold its parent forever. Past the deadline it
 * kills the child with SIGKILL (its process group too when group is set:
 * the child's own children) and reaps it. 1 the child ended in time, 0 it
 * was killed at the deadline (*status holds the killed child's status
 * when it could be reaped, else 0), -1 waitpid failed (errno). */
int deadline_reap(pid_t pid, long long deadline, int group, int *status);

#endif
