/* bounce.c: RFC 3464 delivery status notifications for facteur-send. A
 * message from a real sender bounces to that sender; a message from the
 * null sender (itself a bounce) goes once to the double-bounce address
 * (postmaster); a failed double bounce is dropped and logged, so bounces
 * never loop. The report quotes each failure's reason line (facteur-local's
 * or the peer's reply) and the original headers. It is queued through
 * facteur-queue from the null sender. Reads the queued message (untrusted
 * bytes: only its header block is copied, bounded, into a text part).
 * Runs as `facteur`. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include "buf.h"
#include "exitcodes.h"
#include "errclass.h"
#include "fmt.h"
#include "log.h"
#include "qfile.h"
#include "sched.h"

#define BOUNCE_HEADERS_MAX (64 * 1024)   /* original headers quoted */
#define BOUNCE_TIMEOUT_MS  (120 * 1000)  /* feeding facteur-queue */

int bounce_is_doublebounce(const struct sched *s, const char *addr, size_t n)
{
	return n == s->doublebounceto.len && strncasecmp(addr, s->doublebounceto.s, n) == 0;
}

/* "5.1.1" at the start of a reason, else the default */
static void status_of(const str *reason, str *out, const char *def)
{
	const char *s = reason->s;
	size_t n = reason->len, i = 0, parts = 0;

	str_copys(out, def);
	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return;
	for (i = 2, parts = 1; i < n && parts < 3; parts++) {
		size_t d = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9' && d < 3) { i++; d++; }
		if (!d) return;
		if (parts < 2) { if (i >= n || s[i] != '.') return; i++; }
	}
	if (parts != 3 || (i < n && s[i] != ' ')) return;
	str_copy(out, s, i);
}

/* the header block of the message, LF line ends, bounded */
static void headers_of(int fd, str *out)
{
	char b[8192];
	size_t scanned = 0;
	long r;

	str_clear(out);
	if (fd < 0) return;
	while (out->len < BOUNCE_HEADERS_MAX) {
		r = fd_read_timeout(fd, b, sizeof b, 10000);
		if (r <= 0) break;
		if (!str_append(out, b, (size_t)r)) break;
	}
	/* cut at the first empty line */
	while (scanned < out->len) {
		char *nl = memchr(out->s + scanned, '\n', out->len - scanned);
		size_t ll;
		if (!nl) break;
		ll = (size_t)(nl - (out->s + scanned));
		if (ll == 0 || (ll == 1 && out->s[scanned] == '\r')) { out->len = scanned; return; }
		scanned += ll + 1;
	}
	out->len = scanned;   /* only complete lines */
}

static int put(str *o, const char *s) { return str_appends(o, s); }

static int add_text(str *o, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r') continue;
		if (!str_appendc(o, (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' ? (char)c : '?'))
			return 0;
	}
	return 1;
}

int bounce_format(str *o, const char *me, const char *id, const char *to,
                  const struct qinfo *q, int msgfd, unsigned long long now, int delayed)
{
	char want = delayed ? RS_PENDING : RS_FAILED;
	char date[FMT_DATE], arr[FMT_DATE];
	str bnd = STR_ZERO, mid = STR_ZERO, hdr = STR_ZERO, st = STR_ZERO;
	size_t i;
	int ok;

	fmt_date822(date, (time_t)now);
	fmt_date822(arr, (time_t)q->queued);
	if (!uniq_make(&mid) || !str_0(&mid)) return 0;
	ok = str_copys(&bnd, "facteur-") && str_appends(&bnd, mid.s) && str_0(&bnd);
	headers_of(msgfd, &hdr);
	str_clear(o);
	ok = ok && put(o, "From: Mail Delivery System <MAILER-DAEMON@") && put(o, me) &&
	     put(o, ">\nTo: ") && put(o, *to ? to : "postmaster") && put(o, delayed ? "\nSubject: delivery delayed (no action needed yet)\nDate: " : "\nSubject: failure notice\nDate: ") &&
	     put(o, date) && put(o, "\nMessage-ID: <") && put(o, mid.s) && put(o, "@") && put(o, me) &&
	     put(o, ">\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
	            "Content-Type: multipart/report; report-type=delivery-status;\n"
	            "\tboundary=\"") && put(o, bnd.s) &&
	     put(o, "\"\n\nThis is a MIME-encapsulated message.\n\n--") && put(o, bnd.s) &&
	     put(o, "\nContent-Type: text/plain; charset=us-ascii\n\n"
	            "This is the mail system at ") && put(o, me) &&
	     put(o, delayed ? ".\n\nYour message has not been delivered yet to the following addresses.\n"
	                      "I am still trying; this is only a warning, do not send it again.\n\n"
	                    : ".\n\nYour message could not be delivered to the following addresses.\n"
	                      "This is a permanent error; I gave up.\n\n");
	for (i = 0; ok && i < q->nr; i++) {
		const struct qrcpt *r = &q->r[i];
		if (r->state != want) continue;
		ok = put(o, "<") && add_text(o, r->addr.s, r->addr.len) && put(o, ">:\n    ") &&
		     add_text(o, r->reason.s, r->reason.len) && put(o, "\n\n");
	}
	ok = ok && put(o, "--") && put(o, bnd.s) &&
	     put(o, "\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; ") && put(o, me) &&
	     put(o, "\nX-Facteur-Queue-ID: ") && put(o, id) &&
	     put(o, "\nArrival-Date: ") && put(o, arr) && put(o, "\n");
	for (i = 0; ok && i < q->nr; i++) {
		const struct qrcpt *r = &q->r[i];
		if (r->state != want) continue;
		status_of(&r->reason, &st, delayed ? "4.0.0" : "5.0.0");
		ok = str_0(&st) &&
		     put(o, "\nFinal-Recipient: rfc822; ") && add_text(o, r->addr.s, r->addr.len) &&
		     put(o, delayed ? "\nAction: delayed\nStatus: " : "\nAction: failed\nStatus: ") && put(o, st.s) &&
		     put(o, r->remote ? "\nDiagnostic-Code: smtp; " : "\nDiagnostic-Code: x-local; ") &&
		     add_text(o, r->reason.s, r->reason.len) &&
		     put(o, "\nLast-Attempt-Date: ") && put(o, date) && put(o, "\n");
	}
	ok = ok && put(o, "\n--") && put(o, bnd.s) &&
	     put(o, "\nContent-Type: text/rfc822-headers\n\n") && add_text(o, hdr.s, hdr.len) &&
	     put(o, "\n--") && put(o, bnd.s) && put(o, "--\n");
	str_free(&bnd);
	str_free(&mid);
	str_free(&hdr);
	str_free(&st);
	return ok;
}

/* run facteur-queue with msg on fd 0 and the envelope on fd 1 */
static int inject(const struct sched *s, const str *msg, const char *to)
{
	int p0[2], p1[2], st, ok;
	str env = STR_ZERO;
	pid_t pid;

	if (!str_append(&env, "F", 2) || !str_appendc(&env, 'T') || !str_appends(&env, to) ||
	    !str_appendc(&env, 0) || !str_appendc(&env, 0)) { str_free(&env); return -1; }
	if (pipe2(p0, O_CLOEXEC) != 0) { str_free(&env); return -1; }
	if (pipe2(p1, O_CLOEXEC) != 0) { close(p0[0]); close(p0[1]); str_free(&env); return -1; }
	pid = fork();
	if (pid < 0) {
		close(p0[0]); close(p0[1]); close(p1[0]); close(p1[1]);
		str_free(&env);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		char *argv[] = { "facteur-queue", 0 };
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, 0);
		if (dup2(p0[0], 0) < 0 || dup2(p1[0], 1) < 0) _exit(QQ_BUG);
		/* facteur-queue needs the queue path from $FACTEUR_HOME, not cwd */
		execv(s->queueprog.s, argv);
		_exit(QQ_BUG);
	}
	close(p0[0]);
	close(p1[0]);
	ok = fd_writeall(p0[1], msg->s, msg->len, BOUNCE_TIMEOUT_MS);
	close(p0[1]);
	ok = fd_writeall(p1[1], env.s, env.len, BOUNCE_TIMEOUT_MS) && ok;
	close(p1[1]);
	str_free(&env);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) return -1;
	if (!WIFEXITED(st)) return -1;
	return ok || WEXITSTATUS(st) != 0 ? WEXITSTATUS(st) : -1;
}

int bounce_send(struct sched *s, struct msg *m, unsigned long long now)
{
	str o = STR_ZERO, p = STR_ZERO;
	const char *to = m->q.sender.s;
	size_t i, mine = 0, failed = 0;
	int fd = -1, code;
	char n[FMT_ULONG + 1];

	for (i = 0; i < m->q.nr; i++) {
		const struct qrcpt *r = &m->q.r[i];
		if (r->state != RS_FAILED) continue;
		failed++;
		if (bounce_is_doublebounce(s, r->addr.s, r->addr.len)) mine++;
	}
	if (!failed) return 1;
	str_0(&m->q.sender);
	if (m->q.sender.len == 0) {
		if (mine == failed) {
			for (i = 0; i < m->q.nr; i++)
				if (m->q.r[i].state == RS_FAILED)
					log_line("bounce ", m->id.s, ": dropping a failed double bounce to <",
					         m->q.r[i].addr.s, ">", (char *)0);
			return 1;
		}
		to = s->doublebounceto.s;
	}
	if (qpath(&p, QDIR_MESS, m->id.s, 0)) fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	str_free(&p);
	if (!bounce_format(&o, s->me.s, m->id.s, to, &m->q, fd, now, 0)) {
		if (fd >= 0) close(fd);
		str_free(&o);
		log_line("warning: bounce ", m->id.s, ": out of memory", (char *)0);
		return 0;
	}
	if (fd >= 0) close(fd);
	code = inject(s, &o, to);
	str_free(&o);
	if (code == 0) {
		log_line("bounce ", m->id.s, m->q.sender.len ? ": sent to <" : ": double bounce sent to <",
		         to, ">", (char *)0);
		return 1;
	}
	n[fmt_ulong(n, (unsigned long long)(code < 0 ? 255 : code))] = 0;
	if (code > 0 && qqexit_permanent(code)) {
		log_line("bounce ", m->id.s, ": facteur-queue refused it for good (exit ", n, "), dropped", (char *)0);
		return 1;
	}
	log_line("warning: bounce ", m->id.s, ": facteur-queue failed (exit ", n, "), will try again", (char *)0);
	return 0;
}

int bounce_warn(struct sched *s, struct msg *m, unsigned long long now)
{
	str o = STR_ZERO, p = STR_ZERO;
	int fd = -1, code;

	/* no warnings about bounces: nobody would read them */
	if (m->q.sender.len == 0) return 1;
	str_0(&m->q.sender);
	if (qpath(&p, QDIR_MESS, m->id.s, 0)) fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	str_free(&p);
	if (!bounce_format(&o, s->me.s, m->id.s, m->q.sender.s, &m->q, fd, now, 1)) {
		if (fd >= 0) close(fd);
		str_free(&o);
		return 0;
	}
	if (fd >= 0) close(fd);
	code = inject(s, &o, m->q.sender.s);
	str_free(&o);
	if (code == 0) {
		log_line("delay warning ", m->id.s, ": sent to <", m->q.sender.s, ">", (char *)0);
		return 1;
	}
	if (code > 0 && qqexit_permanent(code)) return 1;
	log_line("warning: delay warning ", m->id.s, ": facteur-queue failed, will try again", (char *)0);
	return 0;
}
