/* facteur-queue: puts one message in the queue (the qmail-queue
 * interface): the message on fd 0, the envelope on fd 1. Trusts neither.
 *
 * Privilege: run by facteur (smtpd, facteur-send) it is already facteur.
 * Run by root, it drops to `facteur` first, so that every queue file
 * belongs to facteur. Installed setuid `facteur` (mode 4711, what
 * `make install` does), it also lets ordinary users (cron, PHP, mail(1)
 * through facteur-sendmail) queue mail; then it trusts nothing of its
 * caller: the environment is wiped ($FACTEUR_HOME of a non-root caller is
 * ignored: the instance is the compiled default, or the one named in a
 * root-owned file next to the program), descriptors 0-2 are checked and
 * the rest closed, every uid becomes facteur (so the caller can neither
 * signal nor trace us), the size is bounded by control/databytes, and
 * a Received line records the caller's uid, as qmail-queue does. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "enqueue.h"
#include "exitcodes.h"
#include "fmt.h"
#include "log.h"
#include "priv.h"
#include "str.h"
#include "sysdep.h"

/* names the instance of a setuid facteur-queue run by a non-root user:
 * a file in the program's own directory, both owned by root and
 * writable by no one else; one absolute path on its first line */
#define QUEUE_HOME_FILE      "facteur-queue.home"
#define QUEUE_HOME_FILE_MAX  4096
#define QUEUE_DATABYTES_DEF  (32ULL * 1024 * 1024)   /* for local users when control/databytes is missing */

struct caller {
	uid_t uid;       /* the real uid of whoever ran us */
	int setuid;      /* run through the setuid bit (real uid != effective) */
	int untrusted;   /* neither root nor facteur: bounded, recorded */
};

/* 1: home set from the file; 0: no such file; -1: a file we must not trust */
static int home_from_file(str *home)
{
	char exe[PATH_MAX + 1], b[QUEUE_HOME_FILE_MAX];
	ssize_t n;
	char *slash;
	struct stat st;
	int dfd, fd;
	size_t len = 0;

	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0 || (size_t)n >= sizeof exe - 1) return -1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash) return -1;
	*slash = 0;
	dfd = open(exe[0] ? exe : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) return -1;
	/* a directory a user controls could hold a hard link to us and a
	 * home file of their own */
	if (fstat(dfd, &st) != 0 || st.st_uid != 0 || (st.st_mode & 022)) { close(dfd); return 0; }
	fd = openat(dfd, QUEUE_HOME_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	close(dfd);
	if (fd < 0) return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) ||
	    st.st_size <= 0 || st.st_size >= QUEUE_HOME_FILE_MAX) {
		close(fd);
		return -1;
	}
	while (len < sizeof b - 1) {
		n = read(fd, b + len, sizeof b - 1 - len);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		len += (size_t)n;
	}
	close(fd);
	b[len] = 0;
	slash = memchr(b, '\n', len);
	if (slash) { *slash = 0; len = (size_t)(slash - b); }
	if (len < 2 || b[0] != '/' || memchr(b, 0, len)) return -1;
	return str_copys(home, b) && str_0(home) ? 1 : -1;
}

/* fd 0 and 1 must be open and readable and not directories; fd 2 is
 * opened on /dev/null when closed, so that no queue file lands on it */
static int check_fds(void)
{
	int fd;
	struct stat st;

	for (fd = 0; fd <= 1; fd++) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) return 0;
		if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) return 0;
	}
	if (fcntl(2, F_GETFL) < 0 && open("/dev/null", O_WRONLY) != 2) return 0;
	sys_close_from(3);
	return 1;
}

static void setuid_setup(struct caller *c, str *home)
{
	const char *h = getenv("FACTEUR_HOME");
	uid_t e = geteuid();
	int r;

	if (!check_fds()) _exit(QQ_READ);
	if (c->uid == 0 && h && *h) {
		if (!str_copys(home, h) || !str_0(home)) _exit(QQ_NOMEM);
	} else {
		r = home_from_file(home);
		if (r < 0) log_fatal(QQ_CONFIG, "fatal: unsafe ", QUEUE_HOME_FILE, " next to the program", (char *)0);
		if (r == 0 && (!str_copys(home, FACTEUR_HOME_DEFAULT) || !str_0(home))) _exit(QQ_NOMEM);
	}
	if (clearenv() != 0 || setenv("FACTEUR_HOME", home->s, 1) != 0) _exit(QQ_NOMEM);
	if (setresuid(e, e, e) != 0 || getuid() != e) log_fatalsys(QQ_CONFIG, "fatal: unable to set uids", (char *)0);
}

static int received_line(const struct caller *c, str *out)
{
	char n[FMT_ULONG + 1], d[FMT_DATE];

	n[fmt_ulong(n, (unsigned long long)c->uid)] = 0;
	d[fmt_date822(d, time(0))] = 0;
	return str_copys(out, "Received: (facteur-queue invoked by uid ") && str_appends(out, n) &&
	       str_appends(out, "); ") && str_appends(out, d) && str_appends(out, "\n") && str_0(out);
}

int main(void)
{
	struct enqueue q;
	struct caller c;
	str dir = STR_ZERO, home = STR_ZERO, recv = STR_ZERO;
	char n1[FMT_ULONG + 1], n2[FMT_ULONG + 1], n3[FMT_ULONG + 1];
	int code;

	memset(&q, 0, sizeof q);
	c.uid = getuid();
	c.setuid = c.uid != geteuid();
	c.untrusted = 0;
	log_setprog("facteur-queue");
	signal(SIGPIPE, SIG_IGN);
	/* a SIGTERM to the whole session (systemd stopping smtpd's unit) must
	 * not cut a commit short: our run is bounded by the read timeouts,
	 * and smtpd answers by our exit code */
	signal(SIGTERM, SIG_IGN);
	if (c.setuid) {
		setuid_setup(&c, &home);
		c.untrusted = c.uid != 0;
	} else if (!priv_drop(PRIV_USER)) {
		log_fatalsys(QQ_CONFIG, "fatal: unable to drop privileges to ", PRIV_USER, (char *)0);
	}
	umask(077);
	/* the default action of SIGALRM ends us: what we wrote is an orphan
	 * that facteur-send removes after QUEUE_ORPHAN_AGE */
	alarm(ENQUEUE_RUN_MAX_S);
	if (!control_path(&dir, "queue") || !str_0(&dir)) log_fatal(QQ_NOMEM, "fatal: out of memory", (char *)0);
	if (c.untrusted) {
		unsigned long long max;
		if (control_readulong("control/databytes", &max, QUEUE_DATABYTES_DEF) < 0)
			log_fatal(QQ_CONFIG, "fatal: bad control/databytes", (char *)0);
		q.size_max = max > (unsigned long long)SIZE_MAX ? SIZE_MAX : (size_t)max;
		if (!received_line(&c, &recv)) log_fatal(QQ_NOMEM, "fatal: out of memory", (char *)0);
		q.prefix = recv.s;
	}
	if (chdir(dir.s) != 0) log_fatalsys(QQ_QUEUEDIR, "fatal: unable to enter ", dir.s, (char *)0);
	code = enqueue_run(&q, 0, 1);
	if (code != QQ_OK) {
		n1[fmt_ulong(n1, (unsigned long long)code)] = 0;
		log_fatal(code, "fatal: ", q.why, q.err ? ": " : "", q.err ? strerror(q.err) : "",
		          " (exit ", n1, ")", (char *)0);
	}
	n1[fmt_ulong(n1, q.size)] = 0;
	n2[fmt_ulong(n2, q.nrcpt)] = 0;
	n3[fmt_ulong(n3, (unsigned long long)c.uid)] = 0;
	log_line("queued ", q.id.s, " from <", q.sender.s, "> size ", n1, " rcpts ", n2, " uid ", n3, (char *)0);
	enqueue_free(&q);
	str_free(&dir);
	str_free(&home);
	str_free(&recv);
	return 0;
}
