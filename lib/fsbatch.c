/* fsbatch.c: several fsyncs waited for at once; see fsbatch.h. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "fsbatch.h"

/* one fsync of a batch, in its own thread */
static void *batch_run(void *a)
{
	struct fsx_batch_op *op = a;

	op->err = fsync(op->fd) == 0 ? 0 : errno ? errno : EIO;
	return 0;
}

void fsx_batch_init(struct fsx_batch *b)
{
	memset(b, 0, sizeof *b);
}

void fsx_batch_add(struct fsx_batch *b, int fd, int flags)
{
	struct fsx_batch_op *op;

	if (b->n >= FSX_BATCH_MAX) {
		/* more than a batch holds: in line */
		int e = fsync(fd) == 0 ? 0 : errno;
		if ((flags & FSX_DIR) && e == EINVAL) e = 0;
		if (e && !b->err) b->err = e;
		return;
	}
	op = &b->op[b->n++];
	op->fd = fd;
	op->flags = flags;
	op->err = -1;
	op->thread = 0;
	if (flags & FSX_INLINE) return;
	/* a small stack: the thread only calls fsync */
	{
		pthread_attr_t at;
		int ok = pthread_attr_init(&at) == 0;
		if (ok) pthread_attr_setstacksize(&at, 64 * 1024);
		if (ok && pthread_create(&op->tid, &at, batch_run, op) == 0) op->thread = 1;
		if (ok) pthread_attr_destroy(&at);
	}
	if (!op->thread) batch_run(op);   /* no thread to be had: in line, now */
}

int fsx_batch_wait(struct fsx_batch *b)
{
	int i, e = b->err;

	/* the one left for the caller's own thread first, then the others */
	for (i = 0; i < b->n; i++)
		if ((b->op[i].flags & FSX_INLINE) && b->op[i].err < 0) batch_run(&b->op[i]);
	for (i = 0; i < b->n; i++)
		if (b->op[i].thread) { pthread_join(b->op[i].tid, 0); b->op[i].thread = 0; }
	b->failed = -1;
	for (i = 0; i < b->n && !e; i++) {
		/* a directory its file system cannot fsync: as fsx_syncdir */
		if ((b->op[i].flags & FSX_DIR) && b->op[i].err == EINVAL) continue;
		if (b->op[i].err > 0) { e = b->op[i].err; b->failed = i; }
	}
	b->n = 0;
	b->err = 0;
	if (e) { errno = e; return 0; }
	return 1;
}
