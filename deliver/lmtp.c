/* lmtp.c: the LMTP session (RFC 2033): LHLO, MAIL, RCPT, DATA with one
 * reply per recipient, RSET, NOOP, VRFY, QUIT. Runs as `facteur` after
 * facteur-lmtpd dropped root. Everything from the client is untrusted:
 * commands are bounded and strictly CRLF-terminated, addresses go through
 * addr.h, the message is spooled once to an unlinked file and then handed
 * to the same delivery code as facteur-local (dlv.c), per recipient. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "dlv.h"
#include "exitcodes.h"
#include "errclass.h"
#include "fmt.h"
#include "lmtp.h"
#include "log.h"
#include "scan.h"
#include "users.h"

static void str_init(str *s) { s->s = 0; s->len = s->cap = 0; }

void lmtp_init(struct lmtp *s, int infd, int outfd, int timeout_ms)
{
	bufout_init(&s->out, outfd, timeout_ms);
	bufin_init(&s->in, infd, timeout_ms, &s->out);
	str_init(&s->line);
	str_init(&s->me);
	str_init(&s->helo);
	str_init(&s->sender);
	str_init(&s->rcpts);
	s->remote = "unknown";
	s->maxsize = LMTP_SIZE_DEFAULT;
	s->have_helo = s->have_mail = s->errors = 0;
	s->nrcpt = 0;
}

void lmtp_free(struct lmtp *s)
{
	str_free(&s->line);
	str_free(&s->me);
	str_free(&s->helo);
	str_free(&s->sender);
	str_free(&s->rcpts);
}

static void reply(struct lmtp *s, const char *a, const char *b, const char *c)
{
	bufout_puts(&s->out, a);
	if (b) bufout_puts(&s->out, b);
	if (c) bufout_puts(&s->out, c);
	bufout_puts(&s->out, "\r\n");
}

static void reset(struct lmtp *s)
{
	s->have_mail = 0;
	str_clear(&s->sender);
	str_clear(&s->rcpts);
	s->nrcpt = 0;
}

/* the argument after "VERB:" with optional spaces, as RFC 5321 clients send */
static const char *after_prefix(const char *l, size_t n, const char *pre)
{
	size_t k = strlen(pre);

	if (n < k || strncasecmp(l, pre, k) != 0) return 0;
	l += k;
	while (*l == ' ') l++;
	return l;
}

static int helo_ok(const char *h, size_t n)
{
	size_t i;

	if (!n || n > LMTP_HELO_MAX) return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '[' || c == ']' || c == ':' || c == '_'))
			return 0;
	}
	return 1;
}

static void do_lhlo(struct lmtp *s, const char *arg, size_t n)
{
	char b[FMT_ULONG + 1];

	if (!helo_ok(arg, n)) { reply(s, "501 5.5.4 LHLO needs a domain name", 0, 0); return; }
	if (!str_copy(&s->helo, arg, n) || !str_0(&s->helo)) { reply(s, "451 4.3.0 out of memory", 0, 0); return; }
	s->have_helo = 1;
	reset(s);
	b[fmt_ulong(b, s->maxsize)] = 0;
	reply(s, "250-", s->me.s, 0);
	reply(s, "250-PIPELINING", 0, 0);
	reply(s, "250-ENHANCEDSTATUSCODES", 0, 0);
	reply(s, "250-8BITMIME", 0, 0);
	reply(s, "250 SIZE ", b, 0);
}

static void do_mail(struct lmtp *s, const char *arg)
{
	struct addr a = { STR_ZERO, 0, 0, 0, 0 };
	size_t used = 0, n = strlen(arg);
	int r;
	const char *p;

	if (!s->have_helo) { reply(s, "503 5.5.1 send LHLO first", 0, 0); return; }
	if (s->have_mail) { reply(s, "503 5.5.1 nested MAIL command", 0, 0); return; }
	r = addr_parse_path(arg, n, 0, &a, &used);
	if (r != ADDR_OK) { reply(s, "501 ", addr_strerror(r), 0); addr_free(&a); return; }
	for (p = arg + used; *p; ) {
		const char *e;
		size_t l;
		if (*p != ' ') { reply(s, "501 5.5.4 syntax error in parameters", 0, 0); addr_free(&a); return; }
		while (*p == ' ') p++;
		if (!*p) break;
		e = strchr(p, ' ');
		l = e ? (size_t)(e - p) : strlen(p);
		if (l > 5 && strncasecmp(p, "SIZE=", 5) == 0) {
			unsigned long long v;
			if (scan_ulong(p + 5, l - 5, &v) != l - 5) {
				/* a number beyond 64 bits is certainly too large */
				size_t i;
				for (i = 5; i < l && p[i] >= '0' && p[i] <= '9'; i++)
					;
				if (i == l) reply(s, "552 5.3.4 message size exceeds the limit", 0, 0);
				else reply(s, "501 5.5.4 bad SIZE parameter", 0, 0);
				addr_free(&a);
				return;
			}
			if (s->maxsize && v > s->maxsize) {
				reply(s, "552 5.3.4 message size exceeds the limit", 0, 0);
				addr_free(&a);
				return;
			}
		} else if ((l == 9 && strncasecmp(p, "BODY=7BIT", 9) == 0) ||
		           (l == 13 && strncasecmp(p, "BODY=8BITMIME", 13) == 0)) {
			/* both are fine: we store bytes as they come */
		} else {
			reply(s, "555 5.5.4 unsupported MAIL parameter", 0, 0);
			addr_free(&a);
			return;
		}
		p += l;
	}
	if (!str_copy(&s->sender, a.mailbox.s, a.mailbox.len) || !str_0(&s->sender)) {
		reply(s, "451 4.3.0 out of memory", 0, 0);
		addr_free(&a);
		return;
	}
	s->have_mail = 1;
	addr_free(&a);
	reply(s, "250 2.1.0 sender ok", 0, 0);
}

static void do_rcpt(struct lmtp *s, const char *arg)
{
	struct addr a = { STR_ZERO, 0, 0, 0, 0 };
	str canon = STR_ZERO;
	size_t used = 0, n = strlen(arg);
	int r;

	if (!s->have_mail) { reply(s, "503 5.5.1 send MAIL first", 0, 0); return; }
	r = addr_parse_path(arg, n, 0, &a, &used);
	if (r != ADDR_OK) { reply(s, "501 ", addr_strerror(r), 0); goto done; }
	if (arg[used]) { reply(s, "555 5.5.4 RCPT parameters are not supported", 0, 0); goto done; }
	if (!a.mailbox.len) { reply(s, "501 5.1.3 the null address is no recipient", 0, 0); goto done; }
	if (s->nrcpt >= LMTP_RCPT_MAX) { reply(s, "452 4.5.3 too many recipients", 0, 0); goto done; }
	if (!str_0(&a.mailbox)) { reply(s, "451 4.3.0 out of memory", 0, 0); goto done; }
	r = addr_tricky_local(&a) ? RCPT_UNKNOWN : users_classify(a.mailbox.s, a.mailbox.len, &canon);
	switch (r) {
	case RCPT_USER: case RCPT_ALIAS: case RCPT_POSTMASTER:
		if (!str_append(&s->rcpts, a.mailbox.s, a.mailbox.len) || !str_appendc(&s->rcpts, 0)) {
			reply(s, "451 4.3.0 out of memory", 0, 0);
			break;
		}
		s->nrcpt++;
		reply(s, "250 2.1.5 recipient ok", 0, 0);
		break;
	case RCPT_REMOTE:
		reply(s, "550 5.1.2 not a local domain: <", a.mailbox.s, ">");
		break;
	case RCPT_UNKNOWN:
		reply(s, "550 5.1.1 no such user here: <", a.mailbox.s, ">");
		break;
	default:
		reply(s, "451 4.3.0 unable to read the user map, try again later", 0, 0);
		break;
	}
done:
	addr_free(&a);
	str_free(&canon);
}

/* an unlinked spool file in $TMPDIR (default /tmp) */
static int spool_open(void)
{
	const char *t = getenv("TMPDIR");
	int fd;

	if (!t || *t != '/') t = "/tmp";
	fd = open(t, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		str p = STR_ZERO, u = STR_ZERO;
		if (uniq_make(&u) && str_copys(&p, t) && str_appends(&p, "/facteur-lmtp.") &&
		    str_append(&p, u.s, u.len) && str_0(&p)) {
			fd = open(p.s, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd >= 0) unlink(p.s);
		}
		str_free(&p);
		str_free(&u);
	}
	return fd;
}

static int write_received(struct lmtp *s, int fd, const str *id)
{
	str r = STR_ZERO;
	char date[FMT_DATE];
	int ok;

	fmt_date822(date, time(0));
	ok = str_appends(&r, "Received: from ") && str_appends(&r, s->helo.s) &&
	     str_appends(&r, " (") && str_appends(&r, s->remote) && str_appends(&r, ")\n\tby ") &&
	     str_appends(&r, s->me.s) && str_appends(&r, " (facteur-lmtpd) with LMTP id ") &&
	     str_append(&r, id->s, id->len);
	if (ok && s->nrcpt == 1)
		ok = str_appends(&r, "\n\tfor <") && str_appends(&r, s->rcpts.s) && str_appendc(&r, '>');
	ok = ok && str_appends(&r, "; ") && str_appends(&r, date) && str_appendc(&r, '\n') &&
	     fd_writeall(fd, r.s, r.len, -1);
	str_free(&r);
	return ok;
}

static void all_rcpts(struct lmtp *s, const char *text)
{
	size_t i;
	for (i = 0; i < s->nrcpt; i++) reply(s, text, 0, 0);
}

/* 452/552 say "storage" (RFC 5321 4.2.2): only for a full mailbox or
 * mail system and a message too large (RFC 3463 X.2.2, X.2.3, X.3.1,
 * X.3.4), not for every X.2.x or X.3.x (a failing program is 550 5.3.0) */
static int storage_status(const char *st)
{
	const char *tail = st[0] ? st + 1 : st;

	return !strcmp(tail, ".2.2") || !strcmp(tail, ".2.3") || !strcmp(tail, ".3.1") ||
	       !strcmp(tail, ".3.4");
}

#define NO_INDEX ((size_t)-1)

/* the index of an earlier recipient equal to r (addresses are folded as
 * the user map folds them), or NO_INDEX */
static size_t earlier_rcpt(const str *rcpts, size_t upto, const char *r, size_t l)
{
	size_t i = 0, k = 0;

	while (i < upto) {
		size_t n = strlen(rcpts->s + i);
		if (n == l && strncasecmp(rcpts->s + i, r, l) == 0) return k;
		i += n + 1;
		k++;
	}
	return NO_INDEX;
}

/* item k of a NUL-separated list, or "" */
static const char *list_item(const str *list, size_t k)
{
	size_t i = 0;

	while (i < list->len) {
		size_t n = strlen(list->s + i);
		if (!k--) return list->s + i;
		i += n + 1;
	}
	return "";
}

/* one reply per accepted RCPT, in order; a recipient given twice gets the
 * first one's result again and is not delivered twice */
static void deliver_each(struct lmtp *s, int fd, const str *id)
{
	struct dlv d;
	str res = STR_ZERO;          /* per recipient: "NNN X.Y.Z", then the reason */
	str head = STR_ZERO, why = STR_ZERO;
	size_t i = 0;
	int resok = 1;               /* res holds every earlier recipient's result */

	if (!dlv_init(&d, fd, s->sender.s, s->sender.len)) {
		if (errno == EINVAL) all_rcpts(s, "550 5.1.7 bad sender address");
		else all_rcpts(s, "451 4.3.0 unable to read the spooled message");
		dlv_free(&d);
		return;
	}
	while (i < s->rcpts.len) {
		const char *r = s->rcpts.s + i;
		size_t l = strlen(r), j = resok ? earlier_rcpt(&s->rcpts, i, r, l) : NO_INDEX;
		int ok;
		if (j != NO_INDEX) {
			ok = str_copys(&head, list_item(&res, 2 * j)) && str_copys(&why, list_item(&res, 2 * j + 1));
			log_line("message ", id->s, " to ", r, ": listed twice, delivered once", (char *)0);
		} else {
			int code = dlv_recipient(&d, r, l);
			const char *num;
			if (code == 0) num = "250 ";
			else if (sysexit_temporary(code)) num = storage_status(d.status) ? "452 " : "451 ";
			else num = storage_status(d.status) ? "552 " : "550 ";
			ok = str_copys(&head, num) && str_appends(&head, d.status) &&
			     str_copys(&why, d.reason.s ? d.reason.s : "");
			log_line("message ", id->s, " to ", r, ": ", d.status, " ", d.reason.s ? d.reason.s : "", (char *)0);
		}
		/* without memory for the line, say nothing we cannot stand by */
		if (!ok || !str_0(&head) || !str_0(&why)) {
			str_copys(&head, "451 4.3.0");
			str_copys(&why, "out of memory");
		}
		bufout_puts(&s->out, head.s ? head.s : "451 4.3.0");
		bufout_puts(&s->out, " <");
		bufout_puts(&s->out, r);
		bufout_puts(&s->out, "> ");
		bufout_puts(&s->out, why.s ? why.s : "");
		bufout_puts(&s->out, "\r\n");
		if (!str_append(&res, head.s ? head.s : "", head.len) || !str_appendc(&res, 0) ||
		    !str_append(&res, why.s ? why.s : "", why.len) || !str_appendc(&res, 0))
			resok = 0;
		i += l + 1;
	}
	str_free(&res);
	str_free(&head);
	str_free(&why);
	dlv_free(&d);
}

static int do_data(struct lmtp *s)
{
	struct data_result r;
	str id = STR_ZERO;
	int fd;

	if (!s->have_mail) { reply(s, "503 5.5.1 send MAIL first", 0, 0); return 1; }
	if (!s->nrcpt) { reply(s, "503 5.5.1 no valid recipients", 0, 0); return 1; }
	fd = spool_open();
	if (fd < 0 || !uniq_make(&id) || !str_0(&id) || !write_received(s, fd, &id)) {
		log_line("unable to spool a message: ", strerror(errno), (char *)0);
		if (fd >= 0) close(fd);
		str_free(&id);
		reply(s, "451 4.3.0 unable to spool the message, try again later", 0, 0);
		return 1;
	}
	reply(s, "354 2.0.0 go ahead, end with <CRLF>.<CRLF>", 0, 0);
	lmtp_data_read(&s->in, fd, s->maxsize, &r);
	switch (r.status) {
	case DATA_OK:
		{
			char b[FMT_ULONG + 1];
			b[fmt_ulong(b, r.size)] = 0;
			log_line("message ", id.s, " from <", s->sender.s, "> size ", b, (char *)0);
		}
		deliver_each(s, fd, &id);
		break;
	case DATA_BAREEOL:
		log_line("message ", id.s, " refused: bare CR or LF", (char *)0);
		all_rcpts(s, "550 5.6.0 message refused: a bare CR or LF (lines must end with CRLF)");
		break;
	case DATA_TOOLONG:
		log_line("message ", id.s, " refused: line too long", (char *)0);
		all_rcpts(s, "550 5.6.0 message refused: a line longer than 998 bytes");
		break;
	case DATA_TOOBIG:
		log_line("message ", id.s, " refused: too large", (char *)0);
		all_rcpts(s, "552 5.3.4 message size exceeds the limit");
		break;
	case DATA_WRITE:
		log_line("message ", id.s, " not spooled: ", strerror(r.err), (char *)0);
		/* EFBIG: the spool file hit a file size limit: the message is
		 * too large for this system (RFC 3463 X.3.4), so 552 */
		all_rcpts(s, err_temporary(r.err) ? "452 4.3.1 unable to spool the message, try again later"
		             : r.err == EFBIG ? "552 5.3.4 message too large for the spool"
		                              : "554 5.3.0 unable to spool the message");
		break;
	default:
		close(fd);
		str_free(&id);
		log_line(r.status == DATA_EOF ? "connection lost in DATA" : "read error in DATA: ",
		         r.status == DATA_EOF ? "" : strerror(r.err), (char *)0);
		return 0;
	}
	close(fd);
	str_free(&id);
	reset(s);
	return 1;
}

int lmtp_run(struct lmtp *s)
{
	reply(s, "220 ", s->me.s, " LMTP facteur ready");
	for (;;) {
		const char *l, *arg;
		size_t n;
		int r = bufin_getline(&s->in, &s->line, LMTP_LINE_MAX);

		if (r == BUF_ERR) {
			log_line(errno == ETIMEDOUT ? "timeout" : "read error", " from ", s->remote, (char *)0);
			if (errno == ETIMEDOUT) { reply(s, "421 4.4.2 timeout, closing", 0, 0); bufout_flush(&s->out); }
			return 1;
		}
		if (r == BUF_EOF) { log_line("connection lost from ", s->remote, (char *)0); return 1; }
		if (r == BUF_TOOLONG) {
			reply(s, "500 5.5.2 line too long", 0, 0);
			goto bad;
		}
		if (s->line.len < 2 || s->line.s[s->line.len - 2] != '\r') {
			reply(s, "500 5.5.2 lines must end with CRLF", 0, 0);
			goto bad;
		}
		s->line.len -= 2;
		if (!str_0(&s->line)) return 1;
		l = s->line.s;
		n = s->line.len;
		if (memchr(l, 0, n) || memchr(l, '\r', n)) {
			reply(s, "501 5.5.2 control characters in command", 0, 0);
			goto bad;
		}
		if (n >= 4 && strncasecmp(l, "LHLO", 4) == 0 && (n == 4 || l[4] == ' ')) {
			arg = l + 4;
			while (*arg == ' ') arg++;
			do_lhlo(s, arg, strlen(arg));
		} else if ((arg = after_prefix(l, n, "MAIL FROM:"))) {
			do_mail(s, arg);
		} else if ((arg = after_prefix(l, n, "RCPT TO:"))) {
			do_rcpt(s, arg);
		} else if (n == 4 && strncasecmp(l, "DATA", 4) == 0) {
			if (!do_data(s)) return 1;
		} else if (n == 4 && strncasecmp(l, "RSET", 4) == 0) {
			reset(s);
			reply(s, "250 2.0.0 reset", 0, 0);
		} else if (n >= 4 && strncasecmp(l, "NOOP", 4) == 0 && (n == 4 || l[4] == ' ')) {
			reply(s, "250 2.0.0 ok", 0, 0);
		} else if (n >= 4 && strncasecmp(l, "VRFY", 4) == 0 && (n == 4 || l[4] == ' ')) {
			reply(s, "252 2.1.5 send some mail, I will try my best", 0, 0);
		} else if (n >= 4 && strncasecmp(l, "HELP", 4) == 0 && (n == 4 || l[4] == ' ')) {
			reply(s, "214 2.0.0 LHLO MAIL RCPT DATA RSET NOOP VRFY QUIT (RFC 2033)", 0, 0);
		} else if (n == 4 && strncasecmp(l, "QUIT", 4) == 0) {
			reply(s, "221 2.0.0 ", s->me.s, " closing");
			bufout_flush(&s->out);
			return 0;
		} else if (n >= 4 && (strncasecmp(l, "HELO", 4) == 0 || strncasecmp(l, "EHLO", 4) == 0)) {
			reply(s, "500 5.5.1 this is LMTP: use LHLO", 0, 0);
			goto bad;
		} else {
			reply(s, "500 5.5.1 unknown command", 0, 0);
			goto bad;
		}
		continue;
bad:
		if (++s->errors >= LMTP_ERRORS_MAX) {
			reply(s, "421 4.7.0 too many errors, closing", 0, 0);
			bufout_flush(&s->out);
			log_line("too many errors from ", s->remote, (char *)0);
			return 1;
		}
	}
}
