/* enqueue.h: facteur-queue's one step, callable on its own for tests:
 * copy the message from one descriptor into queue/mess/ID, read the
 * envelope from another, commit it as queue/todo/ID. Runs in the queue
 * directory as `facteur`. */
#ifndef FACTEUR_ENQUEUE_H
#define FACTEUR_ENQUEUE_H
#include <stddef.h>
#include "str.h"

#define ENQUEUE_READ_TIMEOUT_MS (1200 * 1000)   /* per read of fd 0 or fd 1 */
#define ENQUEUE_RUN_MAX_S       (24 * 3600)      /* whole run; < QUEUE_ORPHAN_AGE */

struct enqueue {
	str id;
	size_t size;      /* message bytes */
	size_t nrcpt;
	str sender;
	/* set by the caller before enqueue_run: */
	const char *prefix;   /* bytes put before the message (a Received line), or 0 */
	size_t size_max;      /* refuse larger messages with QQ_PERM_SIZE; 0 = no limit */
	const char *why;  /* on failure: what went wrong, for the log */
	int err;          /* on failure: the errno behind it, or 0 */
};

/* QQ_OK, or a qmail-queue code; on failure nothing is left in the queue */
int enqueue_run(struct enqueue *q, int msgfd, int envfd);
void enqueue_free(struct enqueue *q);

#endif
