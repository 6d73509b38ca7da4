/* enqueue.c: the body of facteur-queue. Reads the message (untrusted, any
 * bytes, copied as is: we add nothing, smtpd adds Received) and the
 * envelope (untrusted: checked by envscan_feed), and commits them with one
 * round of fsyncs, in an order that makes a crash at any point safe:
 *   1. mess/ID written (hashed on the way); its fsync and mess/'s start
 *   2. tmp/ID written: the envelope, then the commit record (qfile.h:
 *      this id, the message's size and hash, the envelope's hash);
 *      renamed to todo/ID; its fsync and todo/'s start
 *   3. all four fsyncs waited for, at once (fsx_batch: three threads,
 *      todo/'s in ours)
 * Only then does the caller hear 0. todo/ID is there before its bytes are
 * surely on disk: a crash in 3. can leave a todo/ID whose envelope, or
 * whose mess/ID, is stale or cut short, and facteur-send checks every
 * message against its record before it takes it (qtodo_read), removing
 * one that does not match: it was never acknowledged. A failed fsync:
 * todo/ID and mess/ID removed, a temporary failure. Before the record, the
 * rename waited for the first three fsyncs and todo/'s came after: two
 * rounds of waiting where there is now one (issue 2). Runs as `facteur`
 * in queue/. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "buf.h"
#include "enqueue.h"
#include "errclass.h"
#include "exitcodes.h"
#include "fmt.h"
#include "fsbatch.h"
#include "fsx.h"
#include "qfile.h"

void enqueue_free(struct enqueue *q)
{
	str_free(&q->id);
	str_free(&q->sender);
}

static int copy_message(struct enqueue *q, int in, int out, struct qhash *h)
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
		qhash_add(h, q->prefix, n);
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
		qhash_add(h, b, (size_t)r);
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

/* 1 when facteur-send has upgraded the queue (queue/version): every
 * todo/ID has its commit record. Unsure counts as no */
static int versioned(void)
{
	struct stat st;
	return lstat(QVERSION, &st) == 0;
}

/* which of the four fsyncs failed, by their order in the batch */
static const char *const sync_why[] = {
	"unable to sync message", "unable to sync queue/mess",
	"unable to sync envelope", "unable to sync queue/todo",
};

int enqueue_run(struct enqueue *q, int msgfd, int envfd)
{
	str mess = STR_ZERO, tmp = STR_ZERO, todo = STR_ZERO, env = STR_ZERO;
	struct fsx_batch b;
	struct qhash h;
	int fd = -1, efd = -1, mdir = -1, tdir = -1, code, renamed = 0;
	int waited = 0;            /* fsyncs of the batch already waited for */

	q->why = "";
	fsx_batch_init(&b);
	qhash_init(&h);
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
	code = copy_message(q, msgfd, fd, &h);
	if (code != QQ_OK) goto fail;
	/* a reused inode keeps its old length: cut it to ours */
	{
		off_t end = lseek(fd, 0, SEEK_CUR);
		if (end < 0 || ftruncate(fd, end) != 0) {
			q->err = errno; q->why = "unable to write message"; code = err_qqexit(errno); goto fail;
		}
	}
	/* the message's fsync and mess/'s run while we read and write the
	 * envelope */
	mdir = open(QDIR_MESS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mdir < 0) { q->err = errno; q->why = "unable to open queue/mess"; code = err_qqexit(errno); goto fail; }
	fsx_batch_add(&b, fd, 0);
	fsx_batch_add(&b, mdir, FSX_DIR);
	code = read_envelope(q, envfd, &env);
	if (code != QQ_OK) goto fail;
	if (!str_copys(&q->sender, env.s + 1) ||
	    !qcommit_append(&env, q->id.s, (unsigned long long)q->size, qhash_end(&h))) {
		q->why = "out of memory"; code = QQ_NOMEM; goto fail;
	}
	/* as qfile_writenew, but the fsync joins the batch */
	efd = qfile_open_new(tmp.s, O_WRONLY | O_EXCL);
	if (efd < 0 || ftruncate(efd, (off_t)env.len) != 0 || !fd_writeall(efd, env.s, env.len, -1)) {
		q->err = errno; q->why = "unable to write envelope"; code = err_qqexit(errno); goto fail;
	}
	tdir = open(QDIR_TODO, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tdir < 0) { q->err = errno; q->why = "unable to open queue/todo"; code = err_qqexit(errno); goto fail; }
	if (!versioned()) {
		/* a queue that facteur-send has not upgraded yet (no
		 * queue/version): its upgrade takes a record-less todo/ID for
		 * a whole old one, so nothing torn may ever stand there. The
		 * order from before the record: every byte on disk, then the
		 * rename */
		fsx_batch_add(&b, efd, 0);
		if (!fsx_batch_wait(&b)) {
			q->err = errno;
			q->why = b.failed >= 0 && b.failed < 3 ? sync_why[b.failed] : "unable to sync queue";
			code = err_qqexit(errno);
			goto fail;
		}
		waited = 3;
	}
	if (rename(tmp.s, todo.s) != 0) { q->err = errno; q->why = "unable to commit envelope"; code = err_qqexit(errno); goto fail; }
	renamed = 1;
	if (!waited) fsx_batch_add(&b, efd, 0);
	fsx_batch_add(&b, tdir, FSX_DIR | FSX_INLINE);
	if (!fsx_batch_wait(&b)) {
		/* the rename may or may not survive a power loss, and the
		 * message's bytes may not: take it back so that the client
		 * retries rather than trusting a 250 */
		q->err = errno;
		q->why = b.failed >= 0 && waited + b.failed < 4 ? sync_why[waited + b.failed] : "unable to sync queue";
		code = err_qqexit(errno);
		goto fail;
	}
	qtrigger_poke('t');
	code = QQ_OK;
	goto out;
fail:
	/* the fsyncs started still use the descriptors */
	fsx_batch_wait(&b);
	{
		int e = errno;
		if (renamed) unlink(todo.s);
		else unlink(tmp.s);
		unlink(mess.s);
		errno = e;
	}
out:
	{
		int e = errno;
		if (fd >= 0) close(fd);
		if (efd >= 0) close(efd);
		if (mdir >= 0) close(mdir);
		if (tdir >= 0) close(tdir);
		errno = e;
	}
	str_free(&mess);
	str_free(&tmp);
	str_free(&todo);
	str_free(&env);
	return code;
}
