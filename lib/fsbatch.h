/* fsbatch.h: several fsyncs waited for at once (facteur-queue's commit).
 * Apart from fsx.h so that only its users see <pthread.h>. */
#ifndef FACTEUR_FSBATCH_H
#define FACTEUR_FSBATCH_H
#include <pthread.h>

/* Several fsyncs waited for at once: fsx_batch_add starts the fsync of fd
 * in a thread of its own (FSX_INLINE: left for the caller's thread, run
 * first thing in fsx_batch_wait; at most one), fsx_batch_wait runs that
 * one and waits for the others. No thread to be had: that fsync runs in
 * line at once, the same result one after another. FSX_DIR: a directory,
 * whose EINVAL (a file system that cannot) counts as done, as in
 * fsx_syncdir. The fds stay the caller's, open until the wait. (Linux
 * AIO's IOCB_CMD_FSYNC needs no thread, but tearing its context down
 * waits for an RCU grace period: 30 ms at every exit here.) */
#define FSX_BATCH_MAX 4
#define FSX_DIR    1
#define FSX_INLINE 2
struct fsx_batch_op {
	int fd, flags, err;        /* err: -1 not done, else its errno, 0 good */
	int thread;                /* tid holds a thread to join */
	pthread_t tid;
};
struct fsx_batch {
	int n, err;                /* err: a failure past FSX_BATCH_MAX */
	int failed;                /* after a failed wait: the add index that failed, or -1 */
	struct fsx_batch_op op[FSX_BATCH_MAX];
};
void fsx_batch_init(struct fsx_batch *b);
void fsx_batch_add(struct fsx_batch *b, int fd, int flags);
/* 1 when every fsync added succeeded, else 0 with errno the first
 * failure's in add order (b->failed its index); ends the batch: b takes
 * new adds after it */
int fsx_batch_wait(struct fsx_batch *b);

#endif
