/* data.c: reading a message, by DATA (dot-stuffed lines up to CRLF.CRLF)
 * or by BDAT chunks (RFC 3030), and streaming it to the queue. SMTP
 * smuggling (CVE-2023-51764) is stopped here: only a line ".\r\n" after a
 * CRLF ends DATA, and a message holding any bare CR or bare LF is refused
 * whole, never split, whatever mix of PIPELINING and BDAT brought it.
 * Trusts nothing from the client; runs as the `facteur` user. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include "errclass.h"
#include "fmt.h"
#include "log.h"
#include "scan.h"
#include "smtpd-internal.h"

#define DISCARD_CHUNK 4096

void msgscan_init(struct msgscan *sc, unsigned long long limit, int checklen)
{
	memset(sc, 0, sizeof *sc);
	sc->limit = limit;
	sc->checklen = checklen;
	sc->in_headers = 1;
}

void msgscan_feed(struct msgscan *sc, const char *p, size_t n)
{
	size_t i;

	if (sc->limit && (n > sc->limit || sc->size > sc->limit - n)) sc->toobig = 1;
	sc->size += n;
	for (i = 0; i < n; i++) {
		char c = p[i];
		if (sc->prev_cr && c != '\n') sc->bare = 1;
		if (c == '\n') {
			if (!sc->prev_cr) sc->bare = 1;
			/* an empty line (just CRLF) ends the header section */
			if (sc->in_headers && sc->linelen == 1) sc->in_headers = 0;
			sc->linelen = 0;
			sc->headlen = 0;
			sc->prev_cr = 0;
			continue;
		}
		sc->prev_cr = c == '\r';
		sc->linelen++;
		/* CR LF included, a text line holds at most 1000 bytes */
		if (sc->checklen && sc->linelen > SMTPD_TEXT_MAX - 1) sc->toolong = 1;
		if (sc->in_headers && sc->headlen < sizeof sc->head) {
			sc->head[sc->headlen++] = c;
			if (sc->headlen == 9 && strncasecmp(sc->head, "received:", 9) == 0)
				sc->hops++;
		}
	}
}

void msgscan_finish(struct msgscan *sc)
{
	if (sc->prev_cr) sc->bare = 1;
}

int msgscan_verdict(const struct msgscan *sc)
{
	if (sc->bare) return RP_MSG_BARE;
	if (sc->toobig) return RP_MSG_TOOBIG;
	if (sc->toolong) return RP_MSG_LONGLINE;
	if (sc->hops >= SMTPD_HOPS_MAX) return RP_MSG_LOOP;
	return 0;
}

/* 1 ok; 0 not a number; -1 digits that do not fit in 64 bits */
int smtpd_parse_size(const char *s, size_t n, unsigned long long *out)
{
	size_t i;

	if (n == 0) return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9') return 0;
	if (scan_ulong(s, n, out) != n) return -1;
	return 1;
}

static void log_message(struct session *s, const char *result)
{
	str to = STR_ZERO;
	char size[FMT_ULONG + 1];
	size_t i;

	for (i = 0; i < s->rcpts.len; ) {
		size_t l = strlen(s->rcpts.s + i);
		if (to.len) str_appendc(&to, ',');
		str_appendc(&to, '<');
		str_append(&to, s->rcpts.s + i, l);
		str_appendc(&to, '>');
		i += l + 1;
	}
	str_0(&to);
	str_0(&s->sender);
	size[fmt_ulong(size, s->sc.size)] = 0;
	log_line("message id=", s->msgid.s ? s->msgid.s : "", " ip=", s->remoteip.s ? s->remoteip.s : "",
	         " from=<", s->sender.s ? s->sender.s : "", "> to=", to.s ? to.s : "",
	         " size=", size, s->authuser.len ? " user=" : "", s->authuser.len ? s->authuser.s : "",
	         " result=", result, (char *)0);
	str_free(&to);
}

static int begin_message(struct session *s)
{
	str hdr = STR_ZERO;
	int ok;

	if (!uniq_make(&s->msgid) || !str_0(&s->msgid)) return 0;
	if (!queue_start(s)) return 0;
	ok = received_header(s, &hdr) && queue_write(s, hdr.s, hdr.len);
	str_free(&hdr);
	if (!ok) { queue_abort(s); return 0; }
	return 1;
}

/* the end of a message, by DATA or BDAT LAST: refuse it whole, or queue */
static void end_message(struct session *s)
{
	int v, code;

	msgscan_finish(&s->sc);
	v = msgscan_verdict(&s->sc);
	if (v) {
		queue_abort(s);
		reply(s, (enum reply_id)v);
		log_message(s, reply_text((enum reply_id)v));
	} else if (!queue_finish(s, &code)) {
		reply(s, RP_TEMP);
		log_message(s, reply_text(RP_TEMP));
	} else {
		reply_line(s, qqexit_reply(code));
		log_message(s, qqexit_reply(code));
		if (code == 0) s->nmsg++;
	}
	session_reset_mail(s);
}

static void lost_client(struct session *s, int r)
{
	int e = r == BUF_ERR ? errno : 0;

	s->hangup = e == ETIMEDOUT ? "timeout in message" : e == EINTR ? "shutdown in message"
	                                                              : "client lost in message";
	queue_abort(s);
	if (e == ETIMEDOUT || e == EINTR) {
		/* the message was not taken: the client keeps it and retries */
		reply(s, e == EINTR ? RP_SHUTDOWN : RP_TIMEOUT);
		reply_flush(s);
	}
	log_message(s, e == EINTR ? "shutting down during message" : "client lost during message");
}

/* after "DATA": 354, then dot-stuffed lines until a line ".\r\n" that
 * follows a CRLF (the one after DATA counts) */
int data_read(struct session *s)
{
	int after_crlf = 1, started;

	/* 354 goes out first: the client sends while we start the queue
	 * program (its fork is ~0.3 ms here); should that fail, the data is
	 * read to the end and answered 451, as RFC 5321 allows */
	reply(s, RP_DATA_GO);
	reply_flush(s);
	started = begin_message(s);
	msgscan_init(&s->sc, s->databytes, 1);
	for (;;) {
		/* one byte more than the limit, for the dot of a stuffed line */
		int crlf, r = bufin_getline_crlf(&s->in, &s->line, SMTPD_TEXT_MAX + 1, &crlf);
		const char *p = s->line.s;
		size_t n = s->line.len;

		if (r == BUF_EOF || r == BUF_ERR) { lost_client(s, r); return 0; }
		if (r == BUF_TOOLONG) {
			/* never the terminator: that is exactly ".\r\n" */
			s->sc.toolong = 1;
			s->sc.size += n;
			if (!crlf) s->sc.bare = 1;
			after_crlf = crlf;
			continue;
		}
		if (after_crlf && n == 3 && p[0] == '.' && p[1] == '\r' && p[2] == '\n') break;
		after_crlf = crlf;
		if (n && p[0] == '.') { p++; n--; }
		msgscan_feed(&s->sc, p, n);
		if (started && !msgscan_verdict(&s->sc)) queue_write(s, p, n);
	}
	if (!started) {
		reply(s, RP_QUEUE_START);
		log_message(s, reply_text(RP_QUEUE_START));
		session_reset_mail(s);
		return 1;
	}
	end_message(s);
	return 1;
}

/* read and drop n bytes of a chunk we refused, to stay in step */
static int discard(struct session *s, unsigned long long n)
{
	char b[DISCARD_CHUNK];

	while (n) {
		long r = bufin_get(&s->in, b, n < sizeof b ? (size_t)n : sizeof b);
		if (r < 0) return BUF_ERR;
		if (r == 0) return BUF_EOF;
		n -= (unsigned long long)r;
	}
	return 1;
}

/* a chunk without HELO or MAIL is a protocol error, counted like DATA
 * without MAIL, unless it follows a transaction we refused midway: the
 * client's pipelined rest, up to its LAST, is expected. So are chunks
 * after every RCPT was refused (554, uncounted, as for DATA). */
static int bdat_refuse(struct session *s, unsigned long long n, enum reply_id why, int last)
{
	int d = discard(s, n);
	if (d != 1) { lost_client(s, d); return 0; }   /* a timeout or SIGTERM says 421 */
	reply(s, why);
	if (!s->bdat_failed && (why == RP_NEED_HELO || why == RP_NEED_MAIL)) s->errors++;
	if (last) s->bdat_failed = 0;
	return 1;
}

/* "BDAT n [LAST]" (the verb already taken off) */
int bdat_command(struct session *s, const char *arg, size_t n)
{
	unsigned long long size;
	size_t dl = 0;
	int last = 0, r;
	char b[DISCARD_CHUNK];

	while (dl < n && arg[dl] != ' ') dl++;
	if (dl < n) {
		if (n - dl - 1 == 4 && strncasecmp(arg + dl + 1, "LAST", 4) == 0) last = 1;
		else { reply(s, RP_SYNTAX); s->errors++; return 1; }
	}
	r = smtpd_parse_size(arg, dl, &size);
	if (r == 0) { reply(s, RP_SYNTAX); s->errors++; return 1; }
	{
		unsigned long long have = s->bdat ? s->sc.size : 0;
		int usable = s->helo && s->mail && s->nrcpt;
		int fits = !s->databytes || (size <= s->databytes && have <= s->databytes - size);
		if (r > 0 && size > SMTPD_BDAT_DISCARD_MAX && !(usable && fits)) r = -1;
	}
	if (r < 0) {
		/* we cannot skip 2^64 bytes: the stream is lost, hang up */
		if (s->bdat) queue_abort(s);
		reply(s, RP_BDAT_HUGE);
		reply_flush(s);
		s->hangup = "bdat chunk too large";
		return 0;
	}
	if (!s->helo) return bdat_refuse(s, size, RP_NEED_HELO, last);
	if (!s->mail) return bdat_refuse(s, size, RP_NEED_MAIL, last);
	if (!s->nrcpt) return bdat_refuse(s, size, RP_NEED_RCPT, last);
	if (!s->bdat) {
		if (!begin_message(s)) {
			session_reset_mail(s);
			return bdat_refuse(s, size, RP_QUEUE_START, last);
		}
		msgscan_init(&s->sc, s->databytes, 0);
		s->bdat = 1;
	}
	while (size) {
		long got = bufin_get(&s->in, b, size < sizeof b ? (size_t)size : sizeof b);
		if (got <= 0) { lost_client(s, got < 0 ? BUF_ERR : BUF_EOF); return 0; }
		size -= (unsigned long long)got;
		msgscan_feed(&s->sc, b, (size_t)got);
		if (!msgscan_verdict(&s->sc)) queue_write(s, b, (size_t)got);
	}
	if (last) { end_message(s); return 1; }
	r = msgscan_verdict(&s->sc);
	if (r) {
		/* refused midway: the transaction ends here, the rest of the
		 * client's chunks meet 503 and are thrown away */
		queue_abort(s);
		reply(s, (enum reply_id)r);
		log_message(s, reply_text((enum reply_id)r));
		session_reset_mail(s);
		s->bdat_failed = 1;
		return 1;
	}
	reply(s, RP_BDAT_OK);
	return 1;
}
