/* sched.c: facteur-send's scheduler. Turns committed envelopes (todo/)
 * into per-recipient state files (info/), runs facteur-local and
 * facteur-remote within the concurrency limits, records each result in
 * info/ID (temp file, fsync, rename, fsync dir) before anything else
 * depends on it, retries with exponential backoff, and hands permanent
 * failures to bounce.c. Trusts the queue files (written by facteur's own
 * programs, parsed defensively) and treats its children's output as
 * untrusted text (bounded, cleaned). Runs as `facteur` in queue/. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <sys/file.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "deadline.h"
#include "errclass.h"
#include "exitcodes.h"
#include "fmt.h"
#include "fsx.h"
#include "log.h"
#include "buf.h"
#include "qfile.h"
#include "scan.h"
#include "sched.h"
#include "users.h"

static void u2s(char b[FMT_ULONG + 1], unsigned long long u) { b[fmt_ulong(b, u)] = 0; }

static int ctl(const char *rel, unsigned long long *v, unsigned long long def,
               unsigned long long min, unsigned long long max)
{
	if (control_readulong(rel, v, def) < 0) {
		log_line("warning: ignoring junk in ", rel, (char *)0);
		*v = def;
	}
	if (*v < min) *v = min;
	if (*v > max) *v = max;
	return 1;
}

int sched_init(struct sched *s)
{
	str dir = STR_ZERO, doms = STR_ZERO;
	struct stat st;
	size_t i;

	memset(s, 0, sizeof *s);
	s->fifo = s->fifo_w = s->lockfd = -1;
	ctl("control/concurrency", &s->conc, SEND_CONC_DEFAULT, 1, SEND_CONC_MAX);
	ctl("control/concurrencydomain", &s->concdomain, SEND_CONC_DOMAIN_DEFAULT, 1, SEND_CONC_MAX);
	ctl("control/queuelifetime", &s->lifetime, SEND_LIFETIME_DEFAULT, 0, 10ULL * 365 * 86400);
	ctl("control/retrybase", &s->retrybase, SEND_RETRYBASE_DEFAULT, 1, 86400);
	ctl("control/retrymax", &s->retrymax, SEND_RETRYMAX_DEFAULT, 1, 7 * 86400);
	ctl("control/delaywarning", &s->delaywarning, SEND_DELAYWARN_DEFAULT, 0, 10ULL * 365 * 86400);
	if (control_readline("control/me", &s->me) <= 0 && !str_copys(&s->me, "localhost")) return 0;
	if (!str_0(&s->me)) return 0;
	if (control_readline("control/doublebounceto", &s->doublebounceto) <= 0) {
		const char *d = s->me.s;
		if (control_readlines("control/domains", &doms) > 0 && doms.len) d = doms.s;
		if (!str_copys(&s->doublebounceto, "postmaster@") || !str_appends(&s->doublebounceto, d))
			return 0;
	}
	if (!str_0(&s->doublebounceto)) return 0;
	str_free(&doms);
	if (!qprog_find("facteur-local", "FACTEUR_LOCAL", &s->local) &&
	    !str_copys(&s->local, "facteur-local")) return 0;
	if (!str_0(&s->local)) return 0;
	s->have_remote = qprog_find("facteur-remote", "FACTEUR_REMOTE", &s->remote);
	if (!qprog_find("facteur-queue", 0, &s->queueprog) && !str_copys(&s->queueprog, "facteur-queue"))
		return 0;
	if (!str_0(&s->queueprog)) return 0;

	if (!control_path(&dir, "queue") || !str_0(&dir)) return 0;
	if (chdir(dir.s) != 0) { str_free(&dir); return 0; }
	str_free(&dir);
	if (!qdirs_make()) return 0;
	/* two facteur-sends on one queue would deliver every message twice;
	 * the runners close their copy, so a runner that outlives a killed
	 * facteur-send never keeps the next one out */
	s->lockfd = open(QLOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->lockfd < 0) return 0;
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
		log_line("fatal: another facteur-send holds queue/", QLOCK, (char *)0);
		errno = EBUSY;
		return 0;
	}
	qpool_sweep();
	/* a queue from before the commit record: its messages get theirs,
	 * or they would be taken for torn ones (qfile.h) */
	{
		unsigned long added;
		char nb[FMT_ULONG + 1];
		if (!qqueue_upgrade(&added)) {
			log_line("fatal: unable to add commit records to queue/todo: ", strerror(errno), (char *)0);
			return 0;
		}
		if (added) {
			u2s(nb, added);
			log_line("added a commit record to ", nb, " message(s) queued by an older facteur-queue", (char *)0);
		}
	}
	if (mkfifo(QFIFO, 0600) != 0 && errno != EEXIST) return 0;
	if (lstat(QFIFO, &st) != 0) return 0;
	if (!S_ISFIFO(st.st_mode)) { errno = EINVAL; return 0; }
	s->fifo = open(QFIFO, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (s->fifo < 0) return 0;
	s->fifo_w = open(QFIFO, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (s->fifo_w < 0) return 0;
	/* room for the runners a killed facteur-send left, on top of ours */
	s->njobs_max = (2 + SEND_BATCH_MAX) * (size_t)s->conc;   /* + the later messages of batches */
	s->jobs = calloc(s->njobs_max, sizeof *s->jobs);
	if (!s->jobs) return 0;
	for (i = 0; i < s->njobs_max; i++) s->jobs[i].out = s->jobs[i].lockfd = -1;
	s->want_scan = 1;
	return 1;
}

static void msg_free(struct msg *m);
static void recover(struct sched *s, unsigned long long now);

void sched_free(struct sched *s)
{
	size_t i;

	while (s->msgs) {
		struct msg *m = s->msgs;
		s->msgs = m->next;
		msg_free(m);
	}
	free(s->htab);
	for (i = 0; i < s->njobs_max; i++) {
		free(s->jobs[i].ri);
		str_free(&s->jobs[i].output);
		str_free(&s->jobs[i].domain);
		str_free(&s->jobs[i].runpath);
		if (s->jobs[i].lockfd >= 0) close(s->jobs[i].lockfd);
	}
	free(s->jobs);
	str_free(&s->me);
	str_free(&s->doublebounceto);
	str_free(&s->local);
	str_free(&s->remote);
	str_free(&s->queueprog);
	str_free(&s->domains);
	if (s->fifo >= 0) close(s->fifo);
	if (s->fifo_w >= 0) close(s->fifo_w);
	memset(s, 0, sizeof *s);
}

/* the recipient's domain, lowercase, or "" when it has none */
static int rcpt_domain(const str *addr, str *dom)
{
	size_t at = addr->len;

	while (at > 0 && addr->s[at - 1] != '@') at--;
	str_clear(dom);
	if (at == 0) return str_0(dom);
	if (!str_copy(dom, addr->s + at, addr->len - at)) return 0;
	str_lower(dom);
	return str_0(dom);
}

/* domains_islocal's answer from the copy read at this scan: reading
 * control/domains for every new message was one open per message */
static int islocal(const struct sched *s, const char *dom, size_t n)
{
	if (!s->domains_ok) return -1;
	return domains_match(&s->domains, dom, n);
}

static void classify(struct sched *s, struct msg *m)
{
	str dom = STR_ZERO;
	size_t i;

	for (i = 0; i < m->q.nr; i++) {
		struct qrcpt *r = &m->q.r[i];
		r->busy = 0;
		r->remote = 0;
		if (!rcpt_domain(&r->addr, &dom) || dom.len == 0) continue;
		/* on error, local: facteur-local will defer, which is safe */
		r->remote = islocal(s, dom.s, dom.len) == 0;
	}
	str_free(&dom);
}

static void msg_free(struct msg *m)
{
	str_free(&m->id);
	str_free(&m->runs);
	qinfo_free(&m->q);
	free(m);
}

static struct msg *msg_new(const char *id)
{
	struct msg *m = calloc(1, sizeof *m);

	if (!m) return 0;
	if (!str_copys(&m->id, id) || !str_0(&m->id)) { free(m); return 0; }
	return m;
}

/* FNV-1a of the id, for the table of loaded messages */
static size_t id_hash(const char *id)
{
	unsigned long h = 2166136261u;

	while (*id) { h ^= (unsigned char)*id++; h *= 16777619u; }
	return (size_t)h;
}

static struct msg *msg_find(const struct sched *s, const char *id)
{
	struct msg *m;

	if (!s->hcap) return 0;
	for (m = s->htab[id_hash(id) & (s->hcap - 1)]; m; m = m->hnext)
		if (strcmp(m->id.s, id) == 0) return m;
	return 0;
}

/* 1 linked; 0 out of memory (the message is then not linked) */
static int msg_link(struct sched *s, struct msg *m)
{
	size_t b;

	if (s->nmsgs + 1 > s->hcap / 2) {
		size_t cap = s->hcap ? s->hcap * 2 : 256, i;
		struct msg **t = calloc(cap, sizeof *t), *o;
		if (!t) return 0;
		for (i = 0; i < s->hcap; i++)
			while ((o = s->htab[i]) != 0) {
				s->htab[i] = o->hnext;
				b = id_hash(o->id.s) & (cap - 1);
				o->hnext = t[b];
				t[b] = o;
			}
		free(s->htab);
		s->htab = t;
		s->hcap = cap;
	}
	b = id_hash(m->id.s) & (s->hcap - 1);
	m->hnext = s->htab[b];
	s->htab[b] = m;
	m->next = s->msgs;
	s->msgs = m;
	s->nmsgs++;
	return 1;
}

static void discard(const char *dir, const char *id);

/* a new message from todo/ID: its envelope, every recipient pending */
static struct msg *prepare(const char *id)
{
	str p = STR_ZERO;
	struct stat st;
	struct msg *m;
	int r;

	if (!qpath(&p, QDIR_TODO, id, 0)) return 0;
	r = lstat(p.s, &st);
	str_free(&p);
	if (r != 0) return 0;
	if (!(m = msg_new(id))) return 0;
	/* the message is read and checked against todo/ID's commit record
	 * before anything is delivered: facteur-queue renames todo/ID into
	 * place before its fsyncs end, so after a crash a todo/ID can hold
	 * bytes that never reached the disk (queue/README.md, crash safety 1) */
	r = qtodo_read(id, &m->q, (unsigned long long)st.st_mtime, 1);
	if (r == -2) {
		/* never acknowledged (facteur-queue answers only once every
		 * fsync is done), so nobody was told it was queued: removed */
		log_line("warning: todo/", id, " is not a whole message (cut short by a crash before it was acknowledged): removed", (char *)0);
		discard(QDIR_MESS, id);
		discard(QDIR_TODO, id);
		msg_free(m);
		return 0;
	}
	if (r <= 0) {
		/* a malformed envelope is not retried every few seconds; it is
		 * left for the admin, and logged at each periodic scan */
		if (r < 0) log_line("warning: unable to read todo/", id, " or its message: ",
		                    errno == EINVAL ? "malformed" : strerror(errno), (char *)0);
		msg_free(m);
		return 0;
	}
	m->fresh = 1;
	return m;
}

static int exists(const char *dir, const char *id)
{
	str p = STR_ZERO;
	struct stat st;
	int r = 1;

	if (qpath(&p, dir, id, 0)) r = lstat(p.s, &st) == 0 || errno != ENOENT;
	str_free(&p);
	return r;
}

/* 1 only when dir/ID is surely there (exists: unless surely not) */
static int present(const char *dir, const char *id)
{
	str p = STR_ZERO;
	struct stat st;
	int r = 0;

	if (qpath(&p, dir, id, 0)) r = lstat(p.s, &st) == 0;
	str_free(&p);
	return r;
}

static void discard(const char *dir, const char *id)
{
	str p = STR_ZERO;

	if (qpath(&p, dir, id, 0) && qfile_discard(p.s) != 0 && errno != ENOENT)
		log_line("warning: unable to remove ", p.s, ": ", strerror(errno), (char *)0);
	str_free(&p);
}

/* dir/ID (info/ or todo/) without its mess/ID: msg_finish was cut short,
 * or undone by a power failure: every recipient was done. Or a power
 * failure came before facteur-queue's fsyncs ended (todo/ID is renamed
 * into place before them, and msg_save makes mess/ID durable before an
 * info/ID names it): never acknowledged, so nobody was told it was
 * queued. 1 when dir/ID is gone. */
static int finished_before(const char *dir, const char *id)
{
	if (exists(QDIR_MESS, id)) return 0;
	discard(dir, id);
	log_line("end msg ", id, " (finished before a restart)", (char *)0);
	return 1;
}

/* New messages: up to SEND_SCAN_BATCH todo/ entries not loaded yet. A
 * Nothing is written: a message stays in todo/ (its state on disk: every
 * recipient pending) through its first deliveries, whose results are in
 * their run/ files, and gets an info/ file only when something is left
 * to remember (a deferral, a failure; msg_save). Most messages are
 * delivered at the first try and never get one (issue 2: the conversion
 * cost a syncfs and two directory fsyncs a batch, and every result an
 * fsync'd info/ file; queue/README.md, crash safety 2). So a scan reads
 * all the messages in their first try: with a backlog (thousands waiting
 * for a delivery slot) the scans new messages ask for are spaced out in
 * proportion (sched_scan_gap), or their cost would grow with the square
 * of the backlog. first: the scan at start-up, after info/ was loaded. */
static void take_todo(struct sched *s, int first)
{
	DIR *d = opendir(QDIR_TODO);
	struct dirent *e;
	struct msg *m;
	size_t n = 0;

	s->scan_ms = deadline_now();
	s->todo_seen = 0;
	if (!d) { log_line("warning: unable to read todo/: ", strerror(errno), (char *)0); return; }
	while ((e = readdir(d)) != 0) {
		if (!qid_ok(e->d_name)) continue;
		s->todo_seen++;
		if ((m = msg_find(s, e->d_name)) != 0) {
			/* left by a save whose removal of todo/ID a crash undid:
			 * info/ID is never older than its todo/ID */
			if (!m->fresh) discard(QDIR_TODO, e->d_name);
			continue;
		}
		if (first ? exists(QDIR_INFO, e->d_name) : present(QDIR_INFO, e->d_name)) {
			/* beside an info/ID that could not be read: that state is
			 * the newer one, so the envelope alone must not be delivered
			 * again, at this scan or any later one; both stay for the
			 * admin (logged at each start). After the first scan only
			 * an info/ID that is surely there counts: with info/ itself
			 * unreadable, new messages are still delivered (msg_save
			 * holds back what needs a save) */
			if (first) log_line("warning: todo/", e->d_name, " kept beside an unreadable info/", e->d_name, (char *)0);
			continue;
		}
		if (finished_before(QDIR_TODO, e->d_name)) continue;
		if (n >= SEND_SCAN_BATCH) { s->want_scan = 1; break; }
		if ((m = prepare(e->d_name)) == 0) continue;
		if (!msg_link(s, m)) {
			log_line("warning: out of memory for todo/", e->d_name, ", will try again", (char *)0);
			s->scan_failed = 1;
			msg_free(m);
			break;
		}
		n++;
		classify(s, m);
		{
			char nr[FMT_ULONG + 1];
			u2s(nr, m->q.nr);
			log_line("new msg ", m->id.s, " from <", m->q.sender.s, "> rcpts ", nr, (char *)0);
		}
	}
	closedir(d);
}

long long sched_scan_gap(const struct sched *s, long long now_ms)
{
	long long gap = (long long)(s->todo_seen * SEND_SCAN_US_PER_ENTRY / 1000);

	if (gap > SEND_SCAN_GAP_MAX_MS) gap = SEND_SCAN_GAP_MAX_MS;
	gap -= now_ms - s->scan_ms;
	return gap > 0 ? gap : 0;
}

void sched_scan(struct sched *s, unsigned long long now)
{
	DIR *d;
	struct dirent *e;
	struct msg *m;
	int first = s->last_scan == 0;

	s->want_scan = 0;
	s->scan_failed = 0;
	s->last_scan = now ? now : 1;
	s->have_remote = qprog_find("facteur-remote", "FACTEUR_REMOTE", &s->remote);
	/* the NUL-terminated lines need a final NUL (an empty file: none) */
	s->domains_ok = control_readlines("control/domains", &s->domains) >= 0 &&
	                (s->domains.len == 0 || s->domains.s[s->domains.len - 1] == 0 || str_0(&s->domains));
	if (!first) { take_todo(s, 0); return; }
	d = opendir(QDIR_INFO);
	if (!d) {
		log_line("warning: unable to read info/: ", strerror(errno), ", will try again", (char *)0);
		/* still the first scan at the next try (in SEND_RESCAN_FAILED_S):
		 * nothing is taken from todo/ before info/ is loaded and run/
		 * recovered, or a todo/ID would be delivered again without its
		 * kept run/ files, beside runners still at work on it */
		s->last_scan = 0;
		s->scan_failed = 1;
		return;
	}
	while ((e = readdir(d)) != 0) {
		int r;
		if (!qid_ok(e->d_name)) continue;
		if (finished_before(QDIR_INFO, e->d_name)) continue;
		if (!(m = msg_new(e->d_name))) continue;
		r = qinfo_read(e->d_name, &m->q);
		if (r <= 0) {
			if (r < 0) log_line("warning: unable to read info/", e->d_name, ": ", strerror(errno), (char *)0);
			msg_free(m);
			continue;
		}
		if (!msg_link(s, m)) { msg_free(m); continue; }
		classify(s, m);
	}
	closedir(d);
	/* after info/: a todo/ID whose info/ID exists is a leftover */
	take_todo(s, 1);
	recover(s, now);
}

static void sweep(const char *dir, unsigned long long now, int need_orphan)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	str p = STR_ZERO;

	if (!d) return;
	while ((e = readdir(d)) != 0) {
		struct stat st;
		if (e->d_name[0] == '.') continue;
		if (!qpath(&p, dir, e->d_name, 0) || lstat(p.s, &st) != 0) continue;
		if ((unsigned long long)st.st_mtime + QUEUE_ORPHAN_AGE > now) continue;
		/* facteur-queue gives up long before QUEUE_ORPHAN_AGE, so an old
		 * message file without an envelope can never become committed */
		if (need_orphan && (!qid_ok(e->d_name) || exists(QDIR_TODO, e->d_name) ||
		                    exists(QDIR_INFO, e->d_name))) continue;
		if (unlink(p.s) == 0) log_line("removed orphan ", p.s, (char *)0);
	}
	closedir(d);
	str_free(&p);
}

void sched_clean(struct sched *s, unsigned long long now)
{
	s->last_clean = now ? now : 1;
	sweep(QDIR_TMP, now, 0);
	sweep(QDIR_MESS, now, 1);
}

long sched_sync(struct sched *s, unsigned long long now)
{
	unsigned long held = qpool_held(), mark;

	if (!held) { s->held_since = 0; return SEND_RESCAN_S; }
	if (!s->held_since) s->held_since = now ? now : 1;
	if (held < SEND_SYNC_HELD && now < s->held_since + 1 && !s->stopping) return 1;
	mark = qpool_mark();
	if (!qsync_fs()) {
		log_line("warning: unable to sync the queue: ", strerror(errno), ", will try again", (char *)0);
		s->held_since = now ? now : 1;
		return 1;
	}
	/* the removals of everything held before the syncfs are on disk:
	 * their inodes may be reused (queue/README.md, the inode pool) */
	qpool_publish(mark);
	s->held_since = qpool_held() ? (now ? now : 1) : 0;
	return s->held_since ? 1 : SEND_RESCAN_S;
}

static unsigned long long backoff(const struct sched *s, unsigned tries)
{
	unsigned long long d = s->retrybase;
	unsigned i;

	for (i = 1; i < tries && d < s->retrymax; i++) d *= 2;
	return d > s->retrymax ? s->retrymax : d;
}

static void msg_unlink(struct sched *s, struct msg *m)
{
	struct msg **pp;

	for (pp = &s->htab[id_hash(m->id.s) & (s->hcap - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == m) { *pp = m->hnext; break; }
	for (pp = &s->msgs; *pp; pp = &(*pp)->next)
		if (*pp == m) { *pp = m->next; s->nmsgs--; break; }
}

/* the run/ files a fresh message kept (their results are now elsewhere) */
static void runs_discard(struct msg *m)
{
	size_t i = 0;

	while (i < m->runs.len) {
		const char *p = m->runs.s + i;
		size_t n = strlen(p);
		if (qfile_discard(p) != 0 && errno != ENOENT)
			log_line("warning: unable to remove ", p, ": ", strerror(errno), (char *)0);
		i += n + 1;
	}
	str_free(&m->runs);
}

/* a fresh message with nothing to remember but successes: recipients
 * delivered (their results in kept run/ files) or not tried yet */
static int fresh_clean(const struct msg *m)
{
	size_t i;

	/* a delay warning that went out is something to remember too: not
	 * saved, a restart would send it again */
	if (m->q.warned) return 0;
	for (i = 0; i < m->q.nr; i++) {
		const struct qrcpt *r = &m->q.r[i];
		if (r->state == RS_DONE) continue;
		if (r->state != RS_PENDING || r->tries) return 0;
	}
	return 1;
}

/* mess/ID on disk (msg_save); 1 done, or already gone */
static int mess_sync(const char *id)
{
	str p = STR_ZERO;
	int fd, ok;

	if (!qpath(&p, QDIR_MESS, id, 0)) { str_free(&p); return 0; }
	fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) ok = errno == ENOENT;
	else {
		int e;
		ok = fsync(fd) == 0;
		e = errno;
		close(fd);
		errno = e;
	}
	if (!ok) log_line("warning: unable to sync ", p.s, ": ", strerror(errno), (char *)0);
	str_free(&p);
	return ok;
}

/* m's state into info/ID (temp file, fsync, rename, fsync info/). A fresh
 * message then leaves todo/ and its kept run/ files: info/ID holds all
 * they said (a crash before their removal leaves them beside info/ID,
 * which wins: take_todo and recover). 1 saved. */
static int msg_save(struct msg *m)
{
	/* A fresh message may have been taken while facteur-queue's fsyncs
	 * still ran (todo/ID is renamed into place before they end), and
	 * only todo/ID is checked against the commit record, never info/ID:
	 * so mess/ID is made durable before info/ID names it, or a power
	 * failure could leave an info/ID whose message is cut short or holds
	 * a reused inode's stale bytes, delivered as is (queue/README.md,
	 * crash safety 1). Once facteur-queue's fsync is done this one has
	 * nothing to write. A mess/ID already gone has nothing to keep. */
	if (m->fresh && !mess_sync(m->id.s)) return 0;
	if (!qinfo_write(m->id.s, &m->q, 1)) {
		log_line("warning: unable to write info/", m->id.s, ": ", strerror(errno), (char *)0);
		return 0;
	}
	m->dirty = 0;
	if (m->fresh) {
		discard(QDIR_TODO, m->id.s);
		runs_discard(m);
		m->fresh = 0;
	}
	return 1;
}

/* every recipient is done: the message goes first, then info/ID or
 * todo/ID (the commit point), then a fresh message's run/ files. A crash
 * in between leaves info/ID or todo/ID without its message, which can
 * only mean this, and sched_scan removes it. None of it is synced here:
 * sched_sync does that for many messages at once; a power failure before
 * it may undo a removal, and the message is delivered again, never lost
 * (a fresh message's run/ files, when they come back too, prevent even
 * that). */
static void msg_finish(struct sched *s, struct msg *m)
{
	str p = STR_ZERO;

	if (qpath(&p, QDIR_MESS, m->id.s, 0) && qfile_discard(p.s) != 0 && errno != ENOENT) {
		log_line("warning: unable to remove ", p.s, ": ", strerror(errno), (char *)0);
		str_free(&p);
		return;
	}
	discard(m->fresh ? QDIR_TODO : QDIR_INFO, m->id.s);
	runs_discard(m);
	log_line("end msg ", m->id.s, (char *)0);
	str_free(&p);
	msg_unlink(s, m);
	msg_free(m);
}

/* called when nothing runs for m: bounce, finish, or save; 0 when m is gone */
static int settle(struct sched *s, struct msg *m, unsigned long long now)
{
	size_t i, failed = 0, open = 0;

	/* a failure or deferral is remembered in info/ID before anything
	 * acts on it (a bounce above all) */
	if (m->fresh && !fresh_clean(m) && !msg_save(m)) {
		if (m->hold < now + 1) m->hold = now + 1;
		return 1;
	}
	for (i = 0; i < m->q.nr; i++) {
		char st = m->q.r[i].state;
		if (st == RS_FAILED) failed++;
		if (st == RS_PENDING) open++;
	}
	if (failed && now >= m->hold) {
		/* F in info/ID before the bounce is queued (crash safety 4): for
		 * a message already in info/ the failure is only in memory and
		 * in its run/ file, which is never synced (a fresh one was saved
		 * above) */
		if (m->dirty && !msg_save(m)) {
			if (m->hold < now + 1) m->hold = now + 1;
			return 1;
		}
		if (bounce_send(s, m, now)) {
			for (i = 0; i < m->q.nr; i++)
				if (m->q.r[i].state == RS_FAILED) m->q.r[i].state = RS_BOUNCED;
			m->dirty = 1;
			failed = 0;
		} else {
			m->hold = now + s->retrybase;
		}
	}
	if (!failed && !open) {
		msg_finish(s, m);
		return 0;
	}
	/* fresh and clean: todo/ID and the kept run/ files say it all */
	if (m->dirty && !m->fresh && !msg_save(m) && m->hold < now + 1) m->hold = now + 1;
	return 1;
}

static void record(struct sched *s, struct msg *m, size_t i, char kind,
                   str *reason, unsigned long long now)
{
	struct qrcpt *r = &m->q.r[i];
	char tries[FMT_ULONG + 1];
	const char *what;

	qreason_clean(reason);
	r->busy = 0;
	r->tries++;
	u2s(tries, r->tries);
	if (kind == '2') {
		r->state = RS_DONE;
		what = "success";
	} else if (kind == '5') {
		r->state = RS_FAILED;
		what = "failure";
	} else if (now >= m->q.queued + s->lifetime) {
		str x = STR_ZERO;
		if (str_copys(&x, "4.4.7 delivery time expired; last error: ") &&
		    str_append(&x, reason->s, reason->len)) {
			str_free(reason);
			*reason = x;
			qreason_clean(reason);
		} else str_free(&x);
		r->state = RS_FAILED;
		what = "failure";
	} else {
		r->next = now + backoff(s, r->tries);
		what = "deferral";
	}
	str_copy(&r->reason, reason->s, reason->len);
	m->dirty = 1;
	log_line("delivery ", m->id.s, " to <", r->addr.s, "> try ", tries, ": ", what, ": ",
	         reason->s ? reason->s : "", (char *)0);
}

static size_t line_at(const str *o, size_t p, const char **l)
{
	size_t q = p;

	*l = o->s + p;
	while (q < o->len && o->s[q] != '\n') q++;
	return q - p;
}

static void job_done(struct sched *s, struct job *j, unsigned long long now)
{
	struct msg *m = j->m;
	str reason = STR_ZERO;
	char n[FMT_ULONG + 1];
	size_t k;
	int st = j->status;

	if (!j->remote) {
		const char *l = "";
		size_t ll = j->output.len ? line_at(&j->output, 0, &l) : 0;
		char kind;
		str_copy(&reason, l, ll);
		if (WIFEXITED(st)) {
			int code = WEXITSTATUS(st);
			kind = code == 0 ? '2' : sysexit_temporary(code) ? '4' : '5';
			if (!ll) {
				u2s(n, (unsigned long long)code);
				str_copys(&reason, sysexit_status(code));
				str_appends(&reason, code ? " delivery failed (exit " : " delivered (exit ");
				str_appends(&reason, n);
				str_appends(&reason, ")");
			}
		} else {
			kind = '4';
			u2s(n, WIFSIGNALED(st) ? (unsigned long long)WTERMSIG(st) : 0);
			str_copys(&reason, "4.3.0 delivery program killed by signal ");
			str_appends(&reason, n);
		}
		if (m->q.r[j->ri[0]].state == RS_PENDING) record(s, m, j->ri[0], kind, &reason, now);
		else m->q.r[j->ri[0]].busy = 0;
	} else {
		size_t p = 0;
		for (k = 0; k < j->nri; k++) {
			const char *l, *t1, *t2;
			size_t ll = 0;
			char kind = '4';
			if (p < j->output.len) {
				ll = line_at(&j->output, p, &l);
				p += ll + 1;
			}
			t1 = ll ? memchr(l, '\t', ll) : 0;
			t2 = t1 ? memchr(t1 + 1, '\t', ll - (size_t)(t1 + 1 - l)) : 0;
			if (t2 && t2 == t1 + 2 && (t1[1] == '2' || t1[1] == '4' || t1[1] == '5')) {
				kind = t1[1];
				str_copy(&reason, t2 + 1, ll - (size_t)(t2 + 1 - l));
			} else {
				u2s(n, WIFEXITED(st) ? (unsigned long long)WEXITSTATUS(st) : 255);
				str_copys(&reason, "4.4.0 facteur-remote gave no result (exit ");
				str_appends(&reason, n);
				str_appends(&reason, ")");
			}
			m->q.r[j->ri[k]].permfail = 1;
			if (m->q.r[j->ri[k]].state == RS_PENDING) record(s, m, j->ri[k], kind, &reason, now);
			else m->q.r[j->ri[k]].busy = 0;
		}
	}
	str_free(&reason);
	if (j->out >= 0) close(j->out);
	j->out = -1;
	j->pid = 0;
	j->m = 0;
	free(j->ri);
	j->ri = 0;
	j->nri = 0;
	str_free(&j->output);
	str_free(&j->domain);
	if (j->lockfd >= 0) close(j->lockfd);
	j->lockfd = -1;
	if (!j->follower) s->njobs--;
	j->follower = 0;
	m->inflight--;
	if (m->inflight == 0) settle(s, m, now);
	else if (!m->fresh || !fresh_clean(m)) msg_save(m);
}

void sched_readjob(struct sched *s, struct job *j)
{
	char b[4096];

	(void)s;
	while (j->out >= 0) {
		ssize_t r = read(j->out, b, sizeof b);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0 && errno == EAGAIN) return;
		if (r <= 0) { close(j->out); j->out = -1; return; }
		if (j->output.len < SEND_OUTPUT_MAX) {
			size_t take = (size_t)r;
			if (take > SEND_OUTPUT_MAX - j->output.len) take = SEND_OUTPUT_MAX - j->output.len;
			str_append(&j->output, b, take);
		}
	}
}

/* the result a runner appended to run/ID.K: "R<wait status>\n" then the
 * program's output; 1 found */
static int run_result(int fd, struct job *j)
{
	str c = STR_ZERO;
	char b[8192];
	size_t p;
	unsigned long long st;
	int ok = 0;

	if (lseek(fd, 0, SEEK_SET) != 0) return 0;
	for (;;) {
		ssize_t r = read(fd, b, sizeof b);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break;
		if (c.len + (size_t)r > SEND_OUTPUT_MAX + 65536 || !str_append(&c, b, (size_t)r)) break;
	}
	p = 0;
	while (p < c.len && c.s[p] != '\n') p++;   /* the J line */
	if (p + 2 < c.len && c.s[p + 1] == 'R') {
		size_t k = scan_ulong(c.s + p + 2, c.len - p - 2, &st);
		if (k && p + 2 + k < c.len && c.s[p + 2 + k] == '\n' && st <= 0xffff) {
			j->status = (int)st;
			str_copy(&j->output, c.s + p + 3 + k, c.len - (p + 3 + k));
			ok = 1;
		}
	}
	str_free(&c);
	return ok;
}

/* a runner is gone: take its result (or a temporary failure), record it,
 * then remove run/ID.K */
static void runner_done(struct sched *s, struct job *j, int fd, unsigned long long now)
{
	str path = STR_ZERO;
	struct msg *m = j->m;

	str_clear(&j->output);
	if (fd < 0 || !run_result(fd, j)) {
		j->status = EX_TEMPFAIL << 8;
		str_copys(&j->output, j->remote ? "" : "4.3.0 delivery runner failed\n");
	}
	str_copy(&path, j->runpath.s, j->runpath.len);
	str_0(&path);
	str_free(&j->runpath);
	/* a fresh message keeps the file until its state is elsewhere
	 * (msg_finish, msg_save; j->m may be gone after job_done). Out of
	 * memory, the file is left in run/: recover() drops it once the
	 * message is gone. */
	if (m->fresh && path.len) {
		str_append(&m->runs, path.s, path.len + 1);
		str_clear(&path);
	}
	job_done(s, j, now);
	/* after the result is in info/ID: a crash before this line makes the
	 * next facteur-send apply it again, to recipients no longer pending */
	if (path.len) qfile_discard(path.s);
	str_free(&path);
}

void sched_reap(struct sched *s, unsigned long long now)
{
	for (;;) {
		int st;
		size_t i;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0) return;
		for (i = 0; i < s->njobs_max; i++) {
			struct job *j = &s->jobs[i];
			int fd;
			if (j->pid != pid) continue;
			/* every message of a batch has its slot and run/ file */
			fd = open(j->runpath.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			runner_done(s, j, fd, now);
			if (fd >= 0) close(fd);
		}
	}
}

void sched_orphans(struct sched *s, unsigned long long now)
{
	size_t i;

	for (i = 0; i < s->njobs_max; i++) {
		struct job *j = &s->jobs[i];
		int fd;
		if (j->pid != -1 || flock(j->lockfd, LOCK_EX | LOCK_NB) != 0) continue;
		fd = j->lockfd;
		j->lockfd = -1;
		s->norphans--;
		log_line("runner for ", j->runpath.s, " from before the restart finished", (char *)0);
		runner_done(s, j, fd, now);
		close(fd);
	}
}

/* After a restart: run/ holds the runners of the previous facteur-send.
 * A held lock means the delivery is still running: watch it, do not
 * start it again. A free lock with a result: apply it. A free lock
 * without one: the runner died mid-delivery; the recipients stay pending
 * (the only duplicate window left). */
static void recover(struct sched *s, unsigned long long now)
{
	DIR *d = opendir(QDIR_RUN);
	struct dirent *e;
	str p = STR_ZERO, c = STR_ZERO, id = STR_ZERO;

	if (!d) return;
	while ((e = readdir(d)) != 0) {
		struct msg *m;
		struct job *j = 0;
		char *dot, b[4096];
		size_t k, nri = 0;
		size_t *ri = 0;
		int fd, remote, held;
		ssize_t r;

		if (e->d_name[0] == '.' || !(dot = strrchr(e->d_name, '.'))) continue;
		if (!qpath(&p, QDIR_RUN, e->d_name, 0)) continue;
		fd = open(p.s, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) continue;
		str_copy(&id, e->d_name, (size_t)(dot - e->d_name));
		str_0(&id);
		m = msg_find(s, id.s);
		/* a fresh message past the first scan's SEND_SCAN_BATCH todo/
		 * entries: its run/ files are its state (done or still running),
		 * so it is taken now; dropped, they would be delivered again */
		if (!m && qid_ok(id.s) && exists(QDIR_MESS, id.s) && !present(QDIR_INFO, id.s) &&
		    (m = prepare(id.s)) != 0) {
			if (!msg_link(s, m)) {
				/* its run/ file left as it is, not dropped */
				log_line("warning: out of memory for todo/", id.s, (char *)0);
				msg_free(m);
				close(fd);
				continue;
			}
			classify(s, m);
			log_line("new msg ", m->id.s, " from <", m->q.sender.s, "> (with run/ files)", (char *)0);
		}
		held = flock(fd, LOCK_EX | LOCK_NB) != 0;
		/* the J line: "J<remote> index... @ID", read whole (thousands of
		 * recipients make it longer than any fixed buffer) */
		str_clear(&c);
		for (;;) {
			r = pread(fd, b, sizeof b, (off_t)c.len);
			if (r <= 0 || !str_append(&c, b, (size_t)r)) break;
			if (memchr(b, '\n', (size_t)r) || c.len > RUN_JLINE_MAX) break;
		}
		if (!m || c.len < 3 || c.s[0] != 'J' || !(ri = calloc(m->q.nr + 1, sizeof *ri))) goto drop;
		remote = c.s[1] == '1';
		for (k = 2; k < c.len && c.s[k] != '\n' && nri < m->q.nr;) {
			unsigned long long v;
			size_t used;
			while (k < c.len && c.s[k] == ' ') k++;
			used = scan_ulong(c.s + k, c.len - k, &v);
			if (!used || v >= m->q.nr) break;
			ri[nri++] = (size_t)v;
			k += used;
		}
		while (k < c.len && c.s[k] == ' ') k++;
		if (!nri || k >= c.len) goto drop;
		/* "@ID" must name this message; a line without it is from a
		 * facteur-send before the inode pool, where a run file was
		 * always a fresh one */
		if (c.s[k] == '@' ? k + 1 + id.len >= c.len || memcmp(c.s + k + 1, id.s, id.len) != 0 ||
		                    c.s[k + 1 + id.len] != '\n'
		                  : c.s[k] != '\n') goto drop;
		for (k = 0; k < s->njobs_max && !j; k++)
			if (s->jobs[k].pid == 0) j = &s->jobs[k];
		if (!j) goto drop;
		memset(j, 0, sizeof *j);
		j->out = -1;
		j->lockfd = -1;
		j->m = m;
		j->ri = ri;
		j->nri = nri;
		j->remote = remote;
		j->start = now;
		str_copy(&j->runpath, p.s, p.len);
		str_0(&j->runpath);
		if (remote) rcpt_domain(&m->q.r[ri[0]].addr, &j->domain);
		for (k = 0; k < nri; k++) m->q.r[ri[k]].busy = 1;
		m->inflight++;
		s->njobs++;
		if (held) {
			j->pid = -1;
			j->lockfd = fd;
			s->norphans++;
			log_line("a runner from before the restart is still delivering ", p.s, (char *)0);
			continue;
		}
		j->pid = 1;   /* only while runner_done runs */
		runner_done(s, j, fd, now);
		close(fd);
		continue;
	drop:
		free(ri);
		if (!held) unlink(p.s);
		close(fd);
	}
	closedir(d);
	str_free(&p);
	str_free(&c);
	str_free(&id);
}

void sched_timeouts(struct sched *s, unsigned long long now)
{
	size_t i;

	for (i = 0; i < s->njobs_max; i++) {
		struct job *j = &s->jobs[i];
		if (j->pid > 0 && !j->reaped && j->start + SEND_JOB_TIMEOUT + 300 < now) {
			log_line("warning: delivery of ", j->m->id.s, " timed out, killing it", (char *)0);
			kill(j->pid, SIGKILL);
			j->reaped = 1;   /* killed once; the wait status comes later */
		}
	}
}

void sched_retry_all(struct sched *s)
{
	struct msg *m;
	size_t i;

	for (m = s->msgs; m; m = m->next) {
		m->hold = 0;
		for (i = 0; i < m->q.nr; i++)
			if (m->q.r[i].state == RS_PENDING) m->q.r[i].next = 0;
	}
	log_line("retrying every queued recipient now", (char *)0);
}

static size_t domain_jobs(const struct sched *s, const str *dom)
{
	size_t i, n = 0;

	for (i = 0; i < s->njobs_max; i++)
		if (s->jobs[i].pid != 0 && s->jobs[i].remote && !s->jobs[i].follower &&
		    s->jobs[i].domain.len == dom->len &&
		    memcmp(s->jobs[i].domain.s, dom->s, dom->len) == 0) n++;
	return n;
}

/* the result of one message: "R<wait status>\n" then its output lines */
static int part_write(int lockfd, int st, const str *out)
{
	char n[FMT_ULONG + 1];

	n[fmt_ulong(n, (unsigned long long)(unsigned)st)] = 0;
	return lseek(lockfd, 0, SEEK_END) >= 0 && fd_writeall(lockfd, "R", 1, -1) &&
	       fd_writeall(lockfd, n, strlen(n), -1) && fd_writeall(lockfd, "\n", 1, -1) &&
	       fd_writeall(lockfd, out->s ? out->s : "", out->len, -1);
}

/* the runner: runs the delivery program with the message on fd 0 (or
 * /dev/null for a batch, whose messages are named by path) and a pipe on
 * fd 1, keeps its output (bounded), and appends the result to the locked
 * run/ID.K; the lock goes when the runner exits. In a batch each message
 * has its run/ file and its count of lines (one per recipient): a
 * message's result is written, and its lock released, as soon as its
 * lines are in, so that a runner killed later costs no duplicate of the
 * messages already done. */
static _Noreturn void runner(int *lockfd, const size_t *nlines, size_t np, int mfd,
                             const char *prog, char **argv)
{
	int pfd[2], st = EX_TEMPFAIL << 8, got = 0;
	time_t deadline = time(0) + SEND_JOB_TIMEOUT;
	str out = STR_ZERO;
	char b[4096];
	size_t k = 0, lines = 0;
	pid_t g;

	/* posix_spawn (vfork and exec underneath): the runner is a copy of
	 * facteur-send, and a second full fork per delivery was CPU spent
	 * for nothing (issue 2, local delivery cost) */
	if (pipe2(pfd, O_CLOEXEC) != 0) _exit(EX_TEMPFAIL);
	{
		posix_spawn_file_actions_t fa;
		posix_spawnattr_t at;
		sigset_t dfl;
		int e;
		if (posix_spawn_file_actions_init(&fa) != 0) _exit(EX_TEMPFAIL);
		if (posix_spawnattr_init(&at) != 0) _exit(EX_TEMPFAIL);
		/* the signals the runner ignores are the program's again */
		sigemptyset(&dfl);
		sigaddset(&dfl, SIGTERM);
		sigaddset(&dfl, SIGINT);
		sigaddset(&dfl, SIGHUP);
		e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
		if (e == 0) e = posix_spawnattr_setsigdefault(&at, &dfl);
		if (e == 0) e = mfd >= 0 ? posix_spawn_file_actions_adddup2(&fa, mfd, 0)
		                         : posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		if (e == 0) e = posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
		if (e == 0) e = posix_spawn(&g, prog, &fa, &at, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&at);
		if (e != 0) {
			/* as the program's own temporary failure */
			str_copys(&out, "4.3.0 unable to run ");
			str_appends(&out, prog);
			str_appends(&out, ": ");
			str_appends(&out, strerror(e));
			str_appends(&out, "\n");
			for (; k < np; k++) {
				if (!part_write(lockfd[k], EX_TEMPFAIL << 8, &out)) _exit(EX_TEMPFAIL);
				str_clear(&out);
			}
			_exit(0);
		}
	}
	close(pfd[1]);
	if (mfd >= 0) close(mfd);
	for (;;) {
		struct pollfd pl;
		int r;
		pl.fd = pfd[0];
		pl.events = POLLIN;
		r = poll(&pl, 1, 1000);
		if (r > 0) {
			ssize_t n = read(pfd[0], b, sizeof b);
			size_t i = 0;
			if (n < 0 && errno == EINTR) continue;
			if (n <= 0) break;
			while (i < (size_t)n && k < np) {
				const char *nl = memchr(b + i, '\n', (size_t)n - i);
				size_t e = nl ? (size_t)(nl - b) + 1 : (size_t)n, take = e - i;
				if (out.len < SEND_OUTPUT_MAX)
					str_append(&out, b + i, take < SEND_OUTPUT_MAX - out.len ? take : SEND_OUTPUT_MAX - out.len);
				i = e;
				if (!nl || np == 1 || ++lines < nlines[k]) continue;
				if (!part_write(lockfd[k], 0, &out)) _exit(EX_TEMPFAIL);
				close(lockfd[k]);
				lockfd[k++] = -1;
				lines = 0;
				str_clear(&out);
			}
			continue;
		}
		/* the program may be gone while a child of its own holds the pipe */
		if (waitpid(g, &st, WNOHANG) == g) { got = 1; break; }
		if (time(0) > deadline) { kill(g, SIGKILL); break; }
	}
	/* the pipe is closed: the program is (nearly always) exiting; a
	 * fixed nap here added up to 100 ms to every delivery */
	if (!got) {
		long long left = ((long long)deadline - (long long)time(0)) * 1000;
		int r = deadline_reap(g, deadline_now() + (left > 0 ? left : 0), 0, &st);
		if (r < 0) st = EX_TEMPFAIL << 8;
	}
	/* the messages still open: what came of them (maybe nothing) */
	for (; k < np; k++) {
		if (!part_write(lockfd[k], st, &out)) _exit(EX_TEMPFAIL);
		str_clear(&out);
	}
	_exit(0);
}

/* create and lock run/ID.K for every job of a batch (one job: one
 * message), then fork the runner; every job gets its pid */
static int spawn(struct sched *s, struct job **jobs, size_t np, const char *prog, char **argv)
{
	str p = STR_ZERO, jl = STR_ZERO;
	char k[FMT_ULONG + 2];
	int mfd = -1, lfd[SEND_BATCH_MAX];
	size_t nlines[SEND_BATCH_MAX], i, x, made = 0;
	pid_t pid;

	(void)s;
	if (np == 0 || np > SEND_BATCH_MAX) { errno = EINVAL; return 0; }
	/* one message: on fd 0, as always; a batch: facteur-remote opens
	 * mess/ID itself (it runs as facteur in queue/ too) */
	if (np == 1) {
		if (!qpath(&p, QDIR_MESS, jobs[0]->m->id.s, 0)) return 0;
		mfd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		str_free(&p);
		if (mfd < 0) return 0;
	}
	for (x = 0; x < np; x++) {
		struct job *j = jobs[x];
		k[0] = '.';
		k[1 + fmt_ulong(k + 1, j->ri[0])] = 0;
		nlines[x] = j->nri;
		if (!qpath(&j->runpath, QDIR_RUN, j->m->id.s, k)) goto fail;
		/* not truncated, nor waited on, before the lock is ours: a
		 * runner from before a restart may still hold this name */
		lfd[x] = qfile_open_new(j->runpath.s, O_RDWR);
		if (lfd[x] < 0) goto fail;
		if (flock(lfd[x], LOCK_EX | LOCK_NB) != 0) {
			int e = errno;
			close(lfd[x]);
			errno = e;
			goto fail;
		}
		made++;
		str_clear(&jl);
		if (!str_copys(&jl, j->remote ? "J1" : "J0")) goto fail;
		for (i = 0; i < j->nri; i++)
			if (!str_appendc(&jl, ' ') || !str_appendu(&jl, j->ri[i])) goto fail;
		/* the id too: recover() trusts a run file only when its J line
		 * names its own message. A reused inode holds an old run's
		 * bytes: cut to the J line's length first (within its first
		 * block, so nothing is freed), then the J line over them. Killed
		 * in between, the file starts with an old J line cut short or
		 * naming another message: not trusted, the delivery is redone. */
		if (!str_appends(&jl, " @") || !str_append(&jl, j->m->id.s, j->m->id.len) ||
		    !str_appendc(&jl, '\n') || ftruncate(lfd[x], (off_t)jl.len) != 0 ||
		    !fd_writeall(lfd[x], jl.s, jl.len, -1)) goto fail;
	}
	str_free(&jl);
	pid = fork();
	if (pid < 0) goto fail;
	if (pid == 0) {
		sigset_t none;
		static const int sigs[] = { SIGCHLD, SIGALRM, SIGPIPE };
		for (x = 0; x < sizeof sigs / sizeof sigs[0]; x++) signal(sigs[x], SIG_DFL);
		/* A runner records the result of a delivery it started: only
		 * SIGKILL stops it. A stop signal sent to the whole group (an
		 * interactive ^C, a service manager's control-group kill) would
		 * otherwise lose the result of a delivery that went through, and
		 * the recipient would get it again. The program itself keeps the
		 * default actions (runner()). */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, 0);
		close(s->lockfd);
		runner(lfd, nlines, np, mfd, prog, argv);
	}
	/* the runner's copies of the descriptors keep the locks */
	if (mfd >= 0) close(mfd);
	for (x = 0; x < np; x++) {
		close(lfd[x]);
		jobs[x]->pid = pid;
	}
	return 1;
fail:
	{
		int e = errno;
		str_free(&jl);
		if (mfd >= 0) close(mfd);
		for (x = 0; x < made; x++) {
			close(lfd[x]);
			unlink(jobs[x]->runpath.s);
		}
		errno = e;
	}
	return 0;
}

static struct job *free_slot(struct sched *s)
{
	size_t i;

	for (i = 0; i < s->njobs_max; i++)
		if (s->jobs[i].pid == 0) return &s->jobs[i];
	return 0;
}

static size_t free_slots(const struct sched *s, size_t want)
{
	size_t i, n = 0;

	for (i = 0; i < s->njobs_max && n < want; i++) n += s->jobs[i].pid == 0;
	return n;
}

/* one delivery run: ms[0..np) with their recipient indexes ri[x] (taken
 * over: freed here or by job_done); np > 1 only for remote batches */
static void start(struct sched *s, struct msg **ms, size_t **ri, const size_t *nri, size_t np,
                  const str *dom, unsigned long long now)
{
	struct job *jobs[SEND_BATCH_MAX];
	str paths[SEND_BATCH_MAX], counts[SEND_BATCH_MAX];
	char **argv = 0;
	size_t k, x, a = 0, total = 0, got = 0;
	const char *prog;

	for (x = 0; x < np; x++) { paths[x].s = counts[x].s = 0; paths[x].len = paths[x].cap = counts[x].len = counts[x].cap = 0; }
	for (x = 0; x < np; x++) total += nri[x];
	/* claim the slots (pid 1 while we set them up) */
	for (x = 0; x < np; x++) {
		struct job *j = free_slot(s);
		if (!j) break;
		memset(j, 0, sizeof *j);
		j->pid = 1;
		jobs[got++] = j;
	}
	if (got == np) argv = calloc(total + 3 * np + 4, sizeof *argv);
	if (!argv) {
		for (x = 0; x < got; x++) jobs[x]->pid = 0;
		for (x = 0; x < np; x++) free(ri[x]);
		return;
	}
	if (np > 1) {
		prog = s->remote.s;
		argv[a++] = "facteur-remote";
		argv[a++] = "-b";
		argv[a++] = dom->s;
	} else if (dom) {
		prog = s->remote.s;
		argv[a++] = "facteur-remote";
		argv[a++] = dom->s;
	} else {
		prog = s->local.s;
		argv[a++] = "facteur-local";
	}
	for (x = 0; x < np; x++) {
		struct job *j = jobs[x];
		struct msg *m = ms[x];
		j->out = -1;
		j->lockfd = -1;
		j->m = m;
		j->ri = ri[x];
		j->nri = nri[x];
		j->remote = dom != 0;
		j->follower = x > 0;
		j->start = now;
		if (dom) str_copy(&j->domain, dom->s, dom->len);
		str_0(&m->q.sender);
		if (np > 1) {
			if (!qpath(&paths[x], QDIR_MESS, m->id.s, 0) || !str_appendu(&counts[x], nri[x]) ||
			    !str_0(&counts[x])) {
				/* no memory for the argument list: as a failed start */
				errno = ENOMEM;
				goto failed;
			}
			argv[a++] = paths[x].s;
			argv[a++] = counts[x].s;
		}
		argv[a++] = m->q.sender.s;
		for (k = 0; k < nri[x]; k++) {
			str_0(&m->q.r[ri[x][k]].addr);
			argv[a++] = m->q.r[ri[x][k]].addr.s;
		}
	}
	argv[a] = 0;
	if (!spawn(s, jobs, np, prog, argv)) goto failed;
	for (x = 0; x < np; x++) {
		for (k = 0; k < nri[x]; k++) ms[x]->q.r[ri[x][k]].busy = 1;
		ms[x]->inflight++;
		str_free(&paths[x]);
		str_free(&counts[x]);
	}
	if (np > 1) {
		char n[FMT_ULONG + 1];
		u2s(n, np);
		log_line("batch of ", n, " messages for ", dom->s, " in one facteur-remote run", (char *)0);
	}
	s->njobs++;
	free(argv);
	return;
failed:
	{
		str why = STR_ZERO;
		/* its retry time and its save come in the next pass */
		s->rerun = 1;
		str_copys(&why, "4.3.0 unable to start delivery: ");
		str_appends(&why, strerror(errno));
		for (x = 0; x < np; x++) {
			struct job *j = jobs[x];
			for (k = 0; k < nri[x]; k++) {
				ms[x]->q.r[ri[x][k]].busy = 0;
				record(s, ms[x], ri[x][k], '4', &why, now);
			}
			free(ri[x]);
			str_free(&j->domain);
			str_free(&j->runpath);
			j->pid = 0;
			j->m = 0;
			j->ri = 0;
			j->follower = 0;
			str_free(&paths[x]);
			str_free(&counts[x]);
		}
		str_free(&why);
		free(argv);
	}
}

/* addr's domain equals dom (lowercase), ASCII case-insensitively; no
 * allocation: batch() asks this of every queued recipient */
static int in_domain(const str *addr, const str *dom)
{
	size_t at = addr->len, i;

	while (at > 0 && addr->s[at - 1] != '@') at--;
	if (at == 0 || addr->len - at != dom->len) return 0;
	for (i = 0; i < dom->len; i++) {
		unsigned char c = (unsigned char)addr->s[at + i];
		if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)dom->s[i]) return 0;
	}
	return 1;
}

/* remote recipients of m in domain dom that are due now, into ri (or
 * only counted when ri is 0) */
static size_t gather(struct msg *m, size_t first, const str *dom, size_t *ri,
                     unsigned long long now)
{
	size_t i, n = 0;

	for (i = first; i < m->q.nr; i++) {
		struct qrcpt *r = &m->q.r[i];
		if (r->state != RS_PENDING || r->busy || !r->remote || r->next > now) continue;
		if (!in_domain(&r->addr, dom)) continue;
		if (ri) ri[n] = i;
		n++;
	}
	return n;
}

/* m's recipients ri at dom, plus those of other messages due for the
 * same domain now, up to SEND_BATCH_MAX messages and SEND_BATCH_RCPT_MAX
 * recipients: one facteur-remote run, one connection where the peer
 * allows (issue 5: several messages over one connection) */
static void batch(struct sched *s, struct msg *m, size_t *ri, size_t n, const str *dom,
                  unsigned long long now)
{
	struct msg *ms[SEND_BATCH_MAX], *o;
	size_t *ris[SEND_BATCH_MAX], nris[SEND_BATCH_MAX], np = 1, total = n;
	size_t room = free_slots(s, SEND_BATCH_MAX);

	ms[0] = m;
	ris[0] = ri;
	nris[0] = n;
	/* only the messages after m: sched_run has had its look at those
	 * before it in this pass, and what it left there for dom (limits
	 * reached) cannot start now either; so one pass of sched_run stays
	 * O(queue) however many batches it starts */
	for (o = m->next; o && np < SEND_BATCH_MAX && np < room && total < SEND_BATCH_RCPT_MAX; o = o->next) {
		size_t *r2, n2;
		if (s->stopping) break;
		n2 = gather(o, 0, dom, 0, now);
		if (n2 == 0 || total + n2 > SEND_BATCH_RCPT_MAX) continue;
		/* not saved yet: nothing starts for it (sched_run) */
		if (o->fresh && !fresh_clean(o)) continue;
		if (!(r2 = calloc(n2, sizeof *r2))) break;
		gather(o, 0, dom, r2, now);
		ms[np] = o;
		ris[np] = r2;
		nris[np++] = n2;
		total += n2;
	}
	start(s, ms, ris, nris, np, dom, now);
}

long sched_run(struct sched *s, unsigned long long now)
{
	struct msg *m, *nextm;
	unsigned long long due = now + SEND_RESCAN_S;
	str dom = STR_ZERO, why = STR_ZERO;

	for (m = s->msgs; m; m = nextm) {
		size_t i;
		nextm = m->next;
		if (m->inflight == 0) {
			int work = m->dirty;
			for (i = 0; i < m->q.nr && !work; i++)
				if (m->q.r[i].state != RS_PENDING && m->q.r[i].state != RS_DONE &&
				    m->q.r[i].state != RS_BOUNCED) work = 1;
			if (!work) {
				int open = 0;
				for (i = 0; i < m->q.nr; i++) if (m->q.r[i].state == RS_PENDING) open = 1;
				work = !open;
			}
			if (work && now >= m->hold && !settle(s, m, now)) continue;
			if (m->hold > now && m->hold < due) due = m->hold;
		}
		if (s->delaywarning && !m->q.warned && !s->stopping) {
			unsigned long long at = m->q.queued + s->delaywarning;
			if (at <= now && now >= m->hold) {
				int open = 0;
				for (i = 0; i < m->q.nr; i++)
					if (m->q.r[i].state == RS_PENDING) open = 1;
				if (open && !bounce_warn(s, m, now)) m->hold = now + s->retrybase;
				else if (open) {
					m->q.warned = 1;
					if (!msg_save(m)) m->dirty = 1;
				}
			} else if (at > now) {
				if (at < due) due = at;
			} else if (m->hold < due) {
				due = m->hold;   /* a failed warning waits for its retry */
			}
		}
		/* a fresh message whose deferral, failure or warning could not be
		 * saved yet starts nothing until it is: todo/ID says every
		 * recipient is pending, and a retry would take over a kept
		 * run/ID.K, cut to a J line without the recipients that file
		 * recorded as delivered (a crash then delivers them again) */
		if (m->fresh && !fresh_clean(m)) {
			if (m->inflight == 0 && now + 1 < due) due = now + 1;
			continue;
		}
		for (i = 0; i < m->q.nr; i++) {
			struct qrcpt *r = &m->q.r[i];
			size_t *ri, n;
			if (r->state != RS_PENDING || r->busy) continue;
			if (r->next > now) {
				if (r->next < due) due = r->next;
				continue;
			}
			/* a finishing job wakes us through SIGCHLD */
			if (s->stopping || s->njobs >= s->conc) continue;
			if (!r->remote) {
				if (!(ri = malloc(sizeof *ri))) continue;
				ri[0] = i;
				n = 1;
				start(s, &m, &ri, &n, 1, 0, now);
				continue;
			}
			if (!s->have_remote) {
				str_copys(&why, "4.4.0 remote delivery not available");
				record(s, m, i, '4', &why, now);
				if (m->inflight == 0 && !settle(s, m, now)) break;
				continue;
			}
			if (!rcpt_domain(&r->addr, &dom)) continue;
			if (domain_jobs(s, &dom) >= s->concdomain) {
				if (now + 1 < due) due = now + 1;
				continue;
			}
			if (!(ri = calloc(m->q.nr, sizeof *ri))) continue;
			n = gather(m, i, &dom, ri, now);
			if (n == 0) { free(ri); continue; }
			batch(s, m, ri, n, &dom, now);
		}
	}
	str_free(&dom);
	str_free(&why);
	if (s->rerun) { s->rerun = 0; return 0; }
	return due > now ? (long)(due - now) : 0;
}
