/* facteur-qstat: lists the queue (messages in info/ and todo/, the latter
 * in their first delivery attempt and shown as new; their
 * sender, each recipient's state, tries, next attempt and last reason), or
 * with -r asks facteur-send to retry everything now. Reads the queue files
 * that facteur's programs wrote, defensively; prints addresses and reasons
 * escaped. Started as root it drops to `facteur`; otherwise its caller
 * must be able to read queue/. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "control.h"
#include "exitcodes.h"
#include "fmt.h"
#include "log.h"
#include "priv.h"
#include "qfile.h"

static void put_escaped(bufout *o, const char *s, size_t n)
{
	char b[2 * QUEUE_REASON_MAX + 64];
	size_t len = 0;

	if (n > QUEUE_REASON_MAX + 16) n = QUEUE_REASON_MAX + 16;
	log_escape(b, sizeof b, &len, s, n);
	bufout_put(o, b, len);
}

static const char *state_name(char st)
{
	switch (st) {
	case RS_PENDING: return "queued";
	case RS_DONE: return "delivered";
	case RS_FAILED: return "failed (bounce pending)";
	case RS_BOUNCED: return "bounced";
	default: return "?";
	}
}

static void show(bufout *o, const char *id, const struct qinfo *q, int todo, unsigned long long now)
{
	str p = STR_ZERO;
	struct stat st;
	char d[FMT_DATE];
	size_t i;

	bufout_puts(o, id);
	if (qpath(&p, QDIR_MESS, id, 0) && stat(p.s, &st) == 0) {
		bufout_puts(o, " size ");
		bufout_putu(o, (unsigned long long)st.st_size);
	}
	str_free(&p);
	fmt_date822(d, (time_t)q->queued);
	bufout_puts(o, " queued ");
	bufout_puts(o, d);
	bufout_puts(o, todo ? " (new)" : "");
	bufout_puts(o, q->warned ? " (delay warning sent)" : "");
	bufout_puts(o, "\n  from <");
	put_escaped(o, q->sender.s, q->sender.len);
	bufout_puts(o, ">\n");
	for (i = 0; i < q->nr; i++) {
		const struct qrcpt *r = &q->r[i];
		bufout_puts(o, "  to <");
		put_escaped(o, r->addr.s, r->addr.len);
		bufout_puts(o, "> ");
		bufout_puts(o, state_name(r->state));
		bufout_puts(o, " tries ");
		bufout_putu(o, r->tries);
		if (r->state == RS_PENDING) {
			bufout_puts(o, " next ");
			if (r->next <= now) bufout_puts(o, "now");
			else { bufout_puts(o, "in "); bufout_putu(o, r->next - now); bufout_puts(o, "s"); }
		}
		if (r->reason.len) {
			bufout_puts(o, ": ");
			put_escaped(o, r->reason.s, r->reason.len);
		}
		bufout_puts(o, "\n");
	}
}

static size_t list(bufout *o, const char *dir, int todo, unsigned long long now)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d) log_fatalsys(EX_IOERR, "fatal: unable to read queue/", dir, (char *)0);
	while ((e = readdir(d)) != 0) {
		struct qinfo q;
		struct stat st;
		str p = STR_ZERO;
		int r;
		if (!qid_ok(e->d_name)) continue;
		if (todo) {
			/* a todo/ID beside its info/ID is a leftover (facteur-send(8)) */
			if (qpath(&p, QDIR_INFO, e->d_name, 0) && lstat(p.s, &st) == 0) { str_free(&p); continue; }
			if (!qpath(&p, QDIR_TODO, e->d_name, 0) || lstat(p.s, &st) != 0) { str_free(&p); continue; }
			r = qtodo_read(e->d_name, &q, (unsigned long long)st.st_mtime, 0);
		} else {
			r = qinfo_read(e->d_name, &q);
		}
		str_free(&p);
		if (r < 0) {
			bufout_puts(o, e->d_name);
			bufout_puts(o, " unreadable\n");
			continue;
		}
		if (r == 0) continue;   /* gone meanwhile */
		show(o, e->d_name, &q, todo, now);
		qinfo_free(&q);
		n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	bufout o;
	str dir = STR_ZERO;
	unsigned long long now = (unsigned long long)time(0);
	size_t n;

	log_setprog("facteur-qstat");
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "-r") != 0))
		log_fatal(EX_USAGE, "usage: facteur-qstat [-r]", (char *)0);
	if (!priv_drop(PRIV_USER)) log_fatalsys(EX_CONFIG, "fatal: unable to drop privileges", (char *)0);
	if (!control_path(&dir, "queue") || !str_0(&dir)) log_fatal(EX_OSERR, "fatal: out of memory", (char *)0);
	if (chdir(dir.s) != 0) log_fatalsys(EX_CONFIG, "fatal: unable to enter ", dir.s, (char *)0);
	if (argc == 2) {
		if (!qtrigger_poke(QTRIGGER_RETRY))
			log_fatal(EX_UNAVAILABLE, "fatal: facteur-send is not running", (char *)0);
		log_line("asked facteur-send to retry every queued recipient", (char *)0);
		str_free(&dir);
		return 0;
	}
	bufout_init(&o, 1, -1);
	n = list(&o, QDIR_INFO, 0, now) + list(&o, QDIR_TODO, 1, now);
	bufout_puts(&o, "messages: ");
	bufout_putu(&o, n);
	bufout_puts(&o, "\n");
	if (!bufout_flush(&o)) return EX_IOERR;
	str_free(&dir);
	return 0;
}
