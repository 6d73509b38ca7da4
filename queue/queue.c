/* facteur-queue: puts one message in the queue (the qmail-queue
 * interface): the message on fd 0, the envelope on fd 1. Trusts neither.
 * Started as root (facteur-sendmail run by root), it drops to `facteur`
 * first, so that every queue file belongs to facteur; otherwise it runs as
 * its caller, who must be able to write queue/. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "control.h"
#include "enqueue.h"
#include "exitcodes.h"
#include "fmt.h"
#include "log.h"
#include "priv.h"
#include "str.h"

int main(void)
{
	struct enqueue q = { STR_ZERO, 0, 0, STR_ZERO, 0, 0 };
	str dir = STR_ZERO;
	char n1[FMT_ULONG + 1], n2[FMT_ULONG + 1];
	int code;

	log_setprog("facteur-queue");
	signal(SIGPIPE, SIG_IGN);
	if (!priv_drop(PRIV_USER)) log_fatalsys(QQ_CONFIG, "fatal: unable to drop privileges to ", PRIV_USER, (char *)0);
	umask(077);
	/* the default action of SIGALRM ends us: what we wrote is an orphan
	 * that facteur-send removes after QUEUE_ORPHAN_AGE */
	alarm(ENQUEUE_RUN_MAX_S);
	if (!control_path(&dir, "queue") || !str_0(&dir)) log_fatal(QQ_NOMEM, "fatal: out of memory", (char *)0);
	if (chdir(dir.s) != 0) log_fatalsys(QQ_QUEUEDIR, "fatal: unable to enter ", dir.s, (char *)0);
	code = enqueue_run(&q, 0, 1);
	if (code != QQ_OK) {
		n1[fmt_ulong(n1, (unsigned long long)code)] = 0;
		log_fatal(code, "fatal: ", q.why, q.err ? ": " : "", q.err ? strerror(q.err) : "",
		          " (exit ", n1, ")", (char *)0);
	}
	n1[fmt_ulong(n1, q.size)] = 0;
	n2[fmt_ulong(n2, q.nrcpt)] = 0;
	log_line("queued ", q.id.s, " from <", q.sender.s, "> size ", n1, " rcpts ", n2, (char *)0);
	enqueue_free(&q);
	str_free(&dir);
	return 0;
}
