/* sched.h: facteur-send's scheduler: the messages in the queue, their
 * recipients' states, the running deliveries, and the loop that starts
 * deliveries within the concurrency limits and records their results
 * crash-safely. One session struct; the signal flags live in send.c.
 * Runs as `facteur` in queue/. */
#ifndef FACTEUR_SCHED_H
#define FACTEUR_SCHED_H
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include "qfile.h"
#include "str.h"

#define SEND_CONC_DEFAULT        20      /* control/concurrency */
#define SEND_CONC_DOMAIN_DEFAULT 5       /* control/concurrencydomain */
#define SEND_CONC_MAX            1000
#define SEND_LIFETIME_DEFAULT    432000  /* control/queuelifetime: 5 days */
#define SEND_RETRYBASE_DEFAULT   300     /* control/retrybase: first retry */
#define SEND_RETRYMAX_DEFAULT    14400   /* control/retrymax: longest wait */
#define SEND_DELAYWARN_DEFAULT   14400   /* control/delaywarning; 0 turns it off */
#define SEND_JOB_TIMEOUT         (3600 * 4) /* a delivery that runs longer is killed */
#define SEND_OUTPUT_MAX          65536   /* bytes kept of a delivery's stdout */
/* a run file's J line: "J1", an index a recipient, " @ID", newline */
#define RUN_JLINE_MAX            (QUEUE_RCPT_MAX * (FMT_ULONG + 1) + 4096)
#define SEND_RESCAN_S            60      /* look at todo/ even without a poke */
#define SEND_RESCAN_FAILED_S     5       /* sooner when a todo/ could not be taken */
#define SEND_SYNC_HELD           128     /* discarded files that make sched_sync run before its second is up */
/* a scan a new message asks for waits, after the last scan, this long for
 * each todo/ entry that scan saw (a scan costs ~1 us an entry: with a
 * backlog, scans take ~5 % of the time instead of growing with its square) */
#define SEND_SCAN_US_PER_ENTRY   20
#define SEND_SCAN_GAP_MAX_MS     1000
#define SEND_SCAN_BATCH          256     /* todo/ entries taken per scan: deliveries start between batches */
#define SEND_CLEAN_S             3600    /* orphan sweep period */
#define SEND_BATCH_MAX           20      /* messages for one domain in one facteur-remote run */
#define SEND_BATCH_RCPT_MAX      500     /* recipients in one batch (argv stays far below ARG_MAX) */

struct msg {
	str id;
	struct qinfo q;
	size_t inflight;        /* running jobs for this message */
	int dirty;              /* memory differs from info/ID */
	/* fresh: no info/ID yet; todo/ID (all recipients pending) plus the
	 * results in run/ files are its state on disk, and the run/ files of
	 * its finished deliveries (NUL-separated paths in runs) stay until
	 * the message is finished or saved (queue/README.md, crash safety) */
	int fresh;
	str runs;
	unsigned long long hold; /* no bounce/write retry before this time */
	struct msg *next;
	struct msg *hnext;      /* the chain of its bucket in sched.htab */
};

/* A delivery runs under a runner: a child of facteur-send that holds an
 * exclusive flock on run/ID.K (K: the first recipient's index), runs the
 * delivery program, and appends the result to that file before it exits.
 * So a result survives facteur-send being killed, and a restarted
 * facteur-send knows which deliveries are still running (the lock is held)
 * and waits for them instead of starting them again. */
struct job {
	pid_t pid;              /* 0: slot free; -1: a runner left by a previous
	                           facteur-send, watched through its lock */
	int out;                /* read end of the child's stdout, or -1 */
	str output;
	struct msg *m;
	size_t *ri;             /* recipient indexes */
	size_t nri;
	int remote;
	str domain;             /* lowercase; "" for local */
	unsigned long long start;
	int reaped;
	int status;             /* the delivery program's wait status */
	int lockfd;             /* orphans only: our descriptor of run/ID.K */
	int follower;           /* a later message of a batch: same runner as an
	                           earlier slot, not counted again in njobs or
	                           against concurrencydomain */
	str runpath;            /* run/ID.K */
};

struct sched {
	struct msg *msgs;
	size_t nmsgs;
	struct job *jobs;
	size_t njobs_max;
	size_t njobs;           /* running */
	unsigned long long conc, concdomain, lifetime, retrybase, retrymax;
	unsigned long long delaywarning;   /* seconds after arrival; 0: off */
	str me;                 /* control/me */
	str doublebounceto;     /* postmaster@first local domain, or control/doublebounceto */
	str local, remote, queueprog;  /* program paths */
	int have_remote;
	int lockfd;             /* queue/lock, flocked: one facteur-send a queue */
	int stopping;
	int fifo;               /* read end of queue/trigger */
	int fifo_w;             /* our own writer, so poll never sees POLLHUP */
	unsigned long long last_scan, last_clean;
	int want_scan;
	size_t todo_seen;       /* entries in todo/ at the last scan */
	long long scan_ms;      /* when the last scan ran (deadline_now) */
	int rerun;              /* a start failed in this sched_run: run again at once */
	size_t norphans;        /* jobs with pid -1 */
	int scan_failed;        /* a todo/ entry could not be recorded (disk full) */
	struct msg **htab;      /* the messages by id; hcap buckets (a power of 2) */
	size_t hcap;
	unsigned long long held_since;  /* when the pool's held files began to wait (0: none) */
	str domains;            /* control/domains, NUL-separated, read once per scan */
	int domains_ok;         /* 1 read (maybe empty), 0 unreadable: all local */
};

/* read control files and make queue dirs; 1 ok, 0 fatal (errno) */
int sched_init(struct sched *s);
/* release everything (at a clean stop) */
void sched_free(struct sched *s);
/* take new messages from todo/ (and load info/ on the first call) */
void sched_scan(struct sched *s, unsigned long long now);
/* milliseconds a scan asked for by a poke should still wait: a scan
 * reads all of todo/, so with a backlog they are spaced out
 * (SEND_SCAN_US_PER_ENTRY per entry the last one saw) */
long long sched_scan_gap(const struct sched *s, long long now_ms);
/* make the removals of finished queue files durable with one syncfs once
 * enough wait or the oldest waited a second, and let their inodes be
 * reused; returns seconds until it wants to run again (capped) */
long sched_sync(struct sched *s, unsigned long long now);
/* remove orphans: mess/ without todo/ or info/, old tmp/ files */
void sched_clean(struct sched *s, unsigned long long now);
/* start what may start; returns seconds until something is due (capped) */
long sched_run(struct sched *s, unsigned long long now);
/* reap finished children (after SIGCHLD) and record their results */
void sched_reap(struct sched *s, unsigned long long now);
/* read what children printed; fds are in the poll set built by the caller */
void sched_readjob(struct sched *s, struct job *j);
/* every pending recipient due now (SIGHUP, SIGALRM, facteur-qstat -r) */
void sched_retry_all(struct sched *s);
/* kill deliveries that ran past SEND_JOB_TIMEOUT */
void sched_timeouts(struct sched *s, unsigned long long now);
/* check the runners left by a previous facteur-send (call while norphans) */
void sched_orphans(struct sched *s, unsigned long long now);

/* bounce.c: inject an RFC 3464 report for the failed (RS_FAILED)
 * recipients of m; 1 done (sent or dropped), 0 temporary failure */
int bounce_send(struct sched *s, struct msg *m, unsigned long long now);
/* 1 when addr equals the double-bounce address (ASCII case-insensitive) */
int bounce_is_doublebounce(const struct sched *s, const char *addr, size_t n);
/* the message for a bounce: everything built here, testable on its own */
int bounce_format(str *out, const char *me, const char *id, const char *to,
                  const struct qinfo *q, int msgfd, unsigned long long now, int delayed);
/* a delay warning (RFC 3464, Action: delayed) for the pending recipients;
 * 1 sent or not needed, 0 temporary failure */
int bounce_warn(struct sched *s, struct msg *m, unsigned long long now);

#endif
