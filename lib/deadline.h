/* deadline.h: time limits that cover a whole exchange rather than one
 * read: a deadline is a point on the monotonic clock, in milliseconds,
 * and waits for a descriptor stop there (the DNS client, the SMTP client's
 * connection, the pipe to a delivery program). */
#ifndef FACTEUR_DEADLINE_H
#define FACTEUR_DEADLINE_H

/* now on CLOCK_MONOTONIC, in ms: add a timeout to it to get a deadline */
long long deadline_now(void);

/* waits until fd is ready for events (POLLIN, POLLOUT) or the deadline
 * passes; EINTR does not end it. 1 ready (or an error or hang-up on fd,
 * which the next read or write will tell), 0 with errno ETIMEDOUT when
 * the deadline passed, or poll's errno. */
int deadline_wait(int fd, short events, long long deadline);

#endif
