/* bench/floor.c: the cheapest possible mail path of facteur's shape, for
 * bench/smtp --floor. The same processes start per message as in facteur
 * (or only those the contract requires), and each does nothing else: no
 * fsync, no control files, no parsing beyond finding the end of the data.
 * What a server of this shape cannot beat on this machine.
 *
 *   floor engine PROG ARG...   spawn PROG (facteur-tlsd's place), wait
 *   floor smtpd PROG ARG...    SMTP: 220, 250 to all, 354 at DATA; at the
 *                              end of data spawn PROG (facteur-queue's
 *                              place), wait, 250; 221 at QUIT
 *   floor queue                one byte into the FIFO $FLOOR_FIFO, exit 0
 *   floor send [-r] PROG ARG...  (facteur-send's place) per byte from
 *                              $FLOOR_FIFO spawn PROG; with -r through a
 *                              forked runner as facteur-send does; runs
 *                              until SIGTERM
 *   floor local                creates an empty file in $FLOOR_NEW (the
 *                              delivery's place), exit 0
 *
 * Bounded: lines longer than the buffer are cut, every wait is for a
 * child that exits by itself, and the send loop polls with a timeout. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int run(char **argv)
{
	pid_t p;
	int st;

	if (posix_spawn(&p, argv[0], 0, 0, argv, environ) != 0) return -1;
	while (waitpid(p, &st, 0) < 0) ;
	return st;
}

static void say(const char *s)
{
	size_t n = strlen(s);
	if (write(1, s, n) != (ssize_t)n) _exit(1);
}

static int smtpd(char **prog)
{
	static char b[65536];
	char l[1024];
	int len = 0, pos = 0, data = 0;
	size_t n = 0;

	say("220 floor ESMTP\r\n");
	for (;;) {
		char c;
		if (pos == len) {
			len = (int)read(0, b, sizeof b);
			pos = 0;
			if (len <= 0) return 0;
		}
		c = b[pos++];
		if (n < sizeof l - 1) l[n++] = c;
		if (c != '\n') continue;
		l[n] = 0;
		n = 0;
		if (data) {
			if (strcmp(l, ".\r\n") == 0) {
				data = 0;
				say(run(prog) == 0 ? "250 ok\r\n" : "451 queue failed\r\n");
			}
		} else if (strncasecmp(l, "DATA", 4) == 0) {
			data = 1;
			say("354 go\r\n");
		} else if (strncasecmp(l, "QUIT", 4) == 0) {
			say("221 bye\r\n");
			return 0;
		} else if (strncasecmp(l, "EHLO", 4) == 0) {
			say("250-floor\r\n250 PIPELINING\r\n");
		} else {
			say("250 ok\r\n");
		}
	}
}

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static int send(int runner, char **prog)
{
	const char *fifo = getenv("FLOOR_FIFO");
	int fd = fifo ? open(fifo, O_RDWR | O_NONBLOCK) : -1;
	char b[256];

	if (fd < 0) return 111;
	signal(SIGTERM, on_term);
	while (!stop) {
		struct pollfd p = { fd, POLLIN, 0 };
		long i, n;
		int st;
		poll(&p, 1, 50);
		n = read(fd, b, sizeof b);
		for (i = 0; i < n; i++) {
			if (!runner) {
				pid_t g;
				posix_spawn(&g, prog[0], 0, 0, prog, environ);
			} else if (fork() == 0) {
				run(prog);
				_exit(0);
			}
		}
		while (waitpid(-1, &st, WNOHANG) > 0) ;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned long k;
	char path[4096];

	if (argc < 2) return 100;
	if (strcmp(argv[1], "engine") == 0 && argc > 2) return run(argv + 2) == 0 ? 0 : 1;
	if (strcmp(argv[1], "smtpd") == 0 && argc > 2) return smtpd(argv + 2);
	if (strcmp(argv[1], "queue") == 0) {
		const char *fifo = getenv("FLOOR_FIFO");
		int fd = fifo ? open(fifo, O_WRONLY | O_NONBLOCK) : -1;
		return fd >= 0 && write(fd, "t", 1) == 1 ? 0 : 111;
	}
	if (strcmp(argv[1], "send") == 0 && argc > 2) {
		int r = strcmp(argv[2], "-r") == 0;
		if (argc < 3 + r) return 100;
		return send(r, argv + 2 + r);
	}
	if (strcmp(argv[1], "local") == 0 && getenv("FLOOR_NEW")) {
		struct timespec t;
		int fd;
		clock_gettime(CLOCK_REALTIME, &t);
		snprintf(path, sizeof path, "%s/%lld.%ld.%d.%lu", getenv("FLOOR_NEW"),
		         (long long)t.tv_sec, t.tv_nsec, (int)getpid(), k++);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		return fd >= 0 && close(fd) == 0 ? 0 : 75;
	}
	return 100;
}
