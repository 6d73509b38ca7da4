/* facteur-send: the long-running queue manager. Wakes at once when
 * facteur-queue writes on queue/trigger, delivers through facteur-local
 * and facteur-remote (sched.c), bounces (bounce.c), stops cleanly on
 * SIGTERM (no new deliveries; waits for running ones and records them),
 * retries everything at once on SIGHUP or SIGALRM. Started as root it
 * drops to `facteur` before touching the queue. Trusts the instance's
 * control files and queue; nothing from the network reaches it except
 * through those files and its children's result lines. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "deadline.h"
#include "exitcodes.h"
#include "log.h"
#include "priv.h"
#include "sched.h"

/* signal handlers can only talk through these */
static volatile sig_atomic_t got_term, got_hup, got_chld;
static int selfpipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int e = errno;

	if (sig == SIGTERM || sig == SIGINT) got_term = 1;
	else if (sig == SIGHUP || sig == SIGALRM) got_hup = 1;
	else if (sig == SIGCHLD) got_chld = 1;
	(void)!write(selfpipe[1], "", 1);
	errno = e;
}

static void handle(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = sig == SIGCHLD ? SA_NOCLDSTOP : 0;
	if (sigaction(sig, &sa, 0) != 0) log_fatalsys(EX_OSERR, "fatal: sigaction", (char *)0);
}

static unsigned long long now_s(void) { return (unsigned long long)time(0); }

int main(void)
{
	struct sched s;
	char home[PATH_MAX];
	struct pollfd *pfd;
	struct job **pjob;

	log_setprog("facteur-send");
	if (!priv_drop(PRIV_USER)) log_fatalsys(EX_CONFIG, "fatal: unable to drop privileges to ", PRIV_USER, (char *)0);
	umask(077);
	/* children find the instance through $FACTEUR_HOME after our chdir */
	if (!realpath(control_home(), home)) log_fatalsys(EX_CONFIG, "fatal: no instance at ", control_home(), (char *)0);
	if (setenv("FACTEUR_HOME", home, 1) != 0) log_fatalsys(EX_OSERR, "fatal: setenv", (char *)0);
	if (pipe2(selfpipe, O_CLOEXEC | O_NONBLOCK) != 0) log_fatalsys(EX_OSERR, "fatal: pipe", (char *)0);
	signal(SIGPIPE, SIG_IGN);
	handle(SIGTERM);
	handle(SIGINT);
	handle(SIGHUP);
	handle(SIGALRM);
	handle(SIGCHLD);
	if (!sched_init(&s)) log_fatalsys(EX_TEMPFAIL, "fatal: unable to set up the queue in ", home, "/queue", (char *)0);
	pfd = calloc(s.njobs_max + 2, sizeof *pfd);
	pjob = calloc(s.njobs_max + 2, sizeof *pjob);
	if (!pfd || !pjob) log_fatal(EX_OSERR, "fatal: out of memory", (char *)0);
	log_line("started in ", home, s.have_remote ? "" : " (no facteur-remote: remote mail stays queued)", (char *)0);
	sched_clean(&s, now_s());
	sched_scan(&s, now_s());
	for (;;) {
		unsigned long long now = now_s();
		long wait;
		long long gap;
		unsigned long long rescan;
		size_t n = 0, i;
		int r;

		if (got_term && !s.stopping) {
			s.stopping = 1;
			log_line("stopping: waiting for running deliveries", (char *)0);
		}
		if (got_hup) { got_hup = 0; sched_retry_all(&s); }
		if (got_chld) { got_chld = 0; sched_reap(&s, now); }
		rescan = s.scan_failed ? SEND_RESCAN_FAILED_S : SEND_RESCAN_S;
		gap = s.want_scan ? sched_scan_gap(&s, deadline_now()) : 0;
		if (!s.stopping && ((s.want_scan && !gap) || now >= s.last_scan + rescan)) {
			/* the slots freed since the last pass are filled before
			 * more of todo/ is converted (a batch of SEND_SCAN_BATCH
			 * takes a while), so a busy todo/ does not hold back
			 * deliveries already due */
			if (s.last_scan && s.njobs < s.conc) sched_run(&s, now);
			sched_scan(&s, now);
		}
		if (now >= s.last_clean + SEND_CLEAN_S) sched_clean(&s, now);
		sched_timeouts(&s, now);
		if (s.norphans) sched_orphans(&s, now);
		if (s.stopping && s.njobs == 0) break;
		wait = sched_run(&s, now);
		{
			long ws = sched_sync(&s, now);
			if (ws < wait) wait = ws;
		}
		pfd[n].fd = selfpipe[0]; pfd[n].events = POLLIN; pjob[n++] = 0;
		pfd[n].fd = s.fifo; pfd[n].events = POLLIN; pjob[n++] = 0;
		for (i = 0; i < s.njobs_max; i++)
			if (s.jobs[i].pid > 0 && s.jobs[i].out >= 0) {
				pfd[n].fd = s.jobs[i].out;
				pfd[n].events = POLLIN;
				pjob[n++] = &s.jobs[i];
			}
		if ((unsigned long long)wait > rescan) wait = (long)rescan;
		if (s.norphans && wait > 1) wait = 1;   /* their locks are polled */
		{
			/* a scan asked for: as soon as its gap allows (at once
			 * without a backlog) */
			long long tmo = (long long)wait * 1000;
			if (s.want_scan && !s.stopping) {
				long long g = sched_scan_gap(&s, deadline_now());
				if (g < tmo) tmo = g;
			}
			r = poll(pfd, n, (int)tmo);
		}
		if (r < 0 && errno != EINTR) log_fatalsys(EX_OSERR, "fatal: poll", (char *)0);
		if (r <= 0) continue;
		if (pfd[0].revents) {
			char b[64];
			while (read(selfpipe[0], b, sizeof b) > 0)
				;
		}
		if (pfd[1].revents) {
			char b[512];
			ssize_t k;
			while ((k = read(s.fifo, b, sizeof b)) > 0) {
				if (memchr(b, QTRIGGER_RETRY, (size_t)k)) sched_retry_all(&s);
				s.want_scan = 1;
			}
		}
		for (i = 2; i < n; i++)
			if (pfd[i].revents) sched_readjob(&s, pjob[i]);
	}
	sched_sync(&s, now_s());
	log_line("stopped", (char *)0);
	sched_free(&s);
	free(pfd);
	free(pjob);
	return 0;
}
