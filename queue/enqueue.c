/* enqueue.c: the body of facteur-queue. Reads the message (untrusted, any
 * bytes, copied as is: we add nothing, smtpd adds Received) and the
 * envelope (untrusted: checked by envscan_feed), and commits them in an
 * order that makes a crash at any point safe:
 *   1. mess/ID written; one thread fsyncs it and another mess/, while we
 *      go on                               (crash: an orphan, cleaned later)
 *   2. tmp/ID (envelope) written, fsynced  (crash: as above, plus tmp junk)
 *   3. the thread joined, both its fsyncs good; rename tmp/ID -> todo/ID,
 *      todo/ fsynced: committed
 * Only then does the caller hear 0. The three waits of 1. and 2. overlap
 * (~0.25 ms each here) and all three end before the rename: the order
 * among them does not matter, as nothing names the message before the
 * rename into todo/. Runs as `facteur` in queue/. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "enqueue.h"
#include "errclass.h"
#include "exitcodes.h"
#include "fmt.h"
#include "fsx.h"
#include "qfile.h"

void enqueue_free(struct enqueue *q)
{
	str_free(&q->id);
	str_free(&q->sender);
}

static int copy_message(struct enqueue *q, int in, int out)
{
	char b[65536];

	if (q->prefix && *q->prefix) {
		size_t n = strlen(q->prefix);
		if (!fd_writeall(out, q->prefix, n, -1)) {
			q->err = errno;
			q->why = "unable to write message";
			return err_qqexit(errno);
		}
		q->size += n;
	}

	for (;;) {
		long r = fd_read_timeout(in, b, sizeof b, ENQUEUE_READ_TIMEOUT_MS);
		if (r < 0) {
			q->err = errno;
			q->why = errno == ETIMEDOUT ? "timeout reading message" : "unable to read message";
			return errno == ETIMEDOUT ? QQ_TIMEOUT : QQ_READ;
		}
		if (r == 0) return QQ_OK;
		if (q->size_max && (size_t)r > q->size_max - (q->size < q->size_max ? q->size : q->size_max)) {
			q->why = "message too large";
			return QQ_PERM_SIZE;
		}
		if (!fd_writeall(out, b, (size_t)r, -1)) {
			q->err = errno;
			q->why = "unable to write message";
			return err_qqexit(errno);
		}
		q->size += (size_t)r;
	}
}

/* reads the envelope up to its final NUL, never past it */
static int read_envelope(struct enqueue *q, int in, str *env)
{
	struct envscan e = { 0, 0, 0 };
	char b[8192];

	for (;;) {
		int r = envscan_feed(&e, env->s, env->len);
		long n;

		if (r == 1) {
			if (e.pos != env->len) { q->why = "data after the envelope"; return QQ_ENVELOPE; }
			q->nrcpt = e.nrcpt;
			return QQ_OK;
		}
		if (r != 0) { q->why = "bad envelope"; return r; }
		if (env->len >= QUEUE_ENVELOPE_MAX) { q->why = "envelope too large"; return QQ_ENVELOPE; }
		n = fd_read_timeout(in, b, sizeof b, ENQUEUE_READ_TIMEOUT_MS);
		if (n < 0) {
			q->err = errno;
			q->why = errno == ETIMEDOUT ? "timeout reading envelope" : "unable to read envelope";
			return errno == ETIMEDOUT ? QQ_TIMEOUT : QQ_READ;
		}
		if (n == 0) { q->why = "envelope cut short"; return QQ_READ; }
		if (env->len + (size_t)n > QUEUE_ENVELOPE_MAX) { q->why = "envelope too large"; return QQ_ENVELOPE; }
		if (!str_append(env, b, (size_t)n)) { q->why = "out of memory"; return QQ_NOMEM; }
	}
}

/* the message's durability, off the main thread: the fsync of the file
 * and the fsync of mess/ (its entry) in two threads at once; step 1 failed
 * or 2 failed (1 wins), or neither */
struct msgsync {
	int fd;
	int step;
	int err;
	int direrr;             /* errno of mess/'s fsync, 0 when good */
};

static void *msgsync_run(void *a)
{
	struct msgsync *m = a;

	if (fsync(m->fd) != 0) { m->step = 1; m->err = errno; }
	return 0;
}

static void *dirsync_run(void *a)
{
	struct msgsync *m = a;

	if (!fsx_syncdir(QDIR_MESS)) m->direrr = errno ? errno : EIO;
	return 0;
}

/* waits for the threads (when there are any); a failure takes the place
 * of code as it would have in the sequential order: the message's fsync
 * came before anything of the envelope, mess/'s fsync after it all */
static int msgsync_join(struct enqueue *q, pthread_t *th, int *running, struct msgsync *m, int code)
{
	if (*running & 1) pthread_join(th[0], 0);
	if (*running & 2) pthread_join(th[1], 0);
	*running = 0;
	if (m->step == 0 && m->direrr) { m->step = 2; m->err = m->direrr; }
	if (m->step == 1 || (m->step == 2 && code == QQ_OK)) {
		q->err = m->err;
		q->why = m->step == 1 ? "unable to sync message" : "unable to sync queue/mess";
		errno = m->err;
		return err_qqexit(m->err);
	}
	return code;
}

int enqueue_run(struct enqueue *q, int msgfd, int envfd)
{
	str mess = STR_ZERO, tmp = STR_ZERO, todo = STR_ZERO, env = STR_ZERO;
	struct msgsync ms = { -1, 0, 0, 0 };
	pthread_t th[2];
	int fd = -1, code, running = 0;

	q->why = "";
	if (!uniq_make(&q->id) || !str_0(&q->id) ||
	    !qpath(&mess, QDIR_MESS, q->id.s, 0) || !qpath(&tmp, QDIR_TMP, q->id.s, 0) ||
	    !qpath(&todo, QDIR_TODO, q->id.s, 0)) {
		q->why = "out of memory";
		code = QQ_NOMEM;
		goto out;
	}
	/* an inode from pool/ when there is one (qfile.h) */
	fd = qfile_open_message(mess.s, O_WRONLY | O_EXCL);
	/* a fresh instance: facteur-send has not made the directories yet */
	if (fd < 0 && errno == ENOENT && qdirs_make())
		fd = qfile_open_message(mess.s, O_WRONLY | O_EXCL);
	if (fd < 0) { q->err = errno; q->why = "unable to create queue/mess file"; code = err_qqexit(errno); goto out; }
	code = copy_message(q, msgfd, fd);
	if (code != QQ_OK) goto fail;
	/* a reused inode keeps its old length: cut it to ours */
	{
		off_t end = lseek(fd, 0, SEEK_CUR);
		if (end < 0 || ftruncate(fd, end) != 0) {
			q->err = errno; q->why = "unable to write message"; code = err_qqexit(errno); goto fail;
		}
	}
	/* the message's fsync and mess/'s run while we read and write the
	 * envelope; no thread to be had: in line, as before */
	ms.fd = fd;
	running = pthread_create(&th[0], 0, msgsync_run, &ms) == 0;
	if (!running) msgsync_run(&ms);
	if (pthread_create(&th[1], 0, dirsync_run, &ms) == 0) running |= 2;
	else dirsync_run(&ms);
	code = read_envelope(q, envfd, &env);
	if (code != QQ_OK) goto fail;
	if (!str_copys(&q->sender, env.s + 1)) { q->why = "out of memory"; code = QQ_NOMEM; goto fail; }
	if (!qfile_writenew(tmp.s, env.s, env.len)) {
		q->err = errno; q->why = "unable to write envelope"; code = err_qqexit(errno); goto fail;
	}
	/* the message and its entry durable before the commit */
	code = msgsync_join(q, th, &running, &ms, QQ_OK);
	if (code != QQ_OK) goto fail;
	if (close(fd) != 0) { fd = -1; q->err = errno; q->why = "unable to close message"; code = err_qqexit(errno); goto fail; }
	fd = -1;
	if (rename(tmp.s, todo.s) != 0) { q->err = errno; q->why = "unable to commit envelope"; code = err_qqexit(errno); goto fail; }
	if (!fsx_syncdir(QDIR_TODO)) {
		/* the rename may or may not survive a power loss: take it back so
		 * that the client retries rather than trusting a 250 */
		int e = errno;
		unlink(todo.s);
		errno = e;
		q->err = e;
		q->why = "unable to sync queue/todo";
		code = err_qqexit(errno);
		goto fail;
	}
	qtrigger_poke('t');
	code = QQ_OK;
	goto out;
fail:
	/* the thread may still use fd, and its failure may come first */
	code = msgsync_join(q, th, &running, &ms, code);
	{
		int e = errno;
		if (fd >= 0) close(fd);
		fd = -1;
		unlink(tmp.s);
		unlink(mess.s);
		errno = e;
	}
out:
	if (fd >= 0) close(fd);
	str_free(&mess);
	str_free(&tmp);
	str_free(&todo);
	str_free(&env);
	return code;
}
