/* trans.c: the TRANSACTION and UPDATE states (RFC 1939 5, 6). Runs as the
 * mailbox's owner after facteur-checkpassword accepted the password;
 * trusts the Maildir (our own deliveries) and nothing of the client's
 * commands. Deletions happen only at QUIT: a dropped connection or a
 * timeout deletes nothing. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "fmt.h"
#include "log.h"
#include "pop3-internal.h"
#include "scan.h"

#define ALL_LINES ((unsigned long long)-1)

struct trans {
	struct pop3_io *io;
	struct maildrop *md;
	const char *user;
	unsigned long retrieved;
	unsigned long deleted;
};

static void put_u(struct pop3_io *io, unsigned long long u) { bufout_putu(&io->out, u); }

/* the message a command's argument names, or 0 after an -ERR. A number
 * out of range is an ordinary answer, not garbage: it does not count
 * towards POP3_ERRORS_MAX. */
static size_t pick(struct trans *t, const char *a, size_t n)
{
	unsigned long k = pop3_msgno(a, n, (unsigned long)t->md->n);

	if (!k) {
		pop3_reply(t->io, "-ERR no such message");
		return 0;
	}
	if (t->md->m[k - 1].deleted) {
		pop3_reply(t->io, "-ERR message already deleted");
		return 0;
	}
	return k;
}

static void do_stat(struct trans *t)
{
	bufout_puts(&t->io->out, "+OK ");
	put_u(t->io, t->md->live);
	bufout_puts(&t->io->out, " ");
	put_u(t->io, t->md->total);
	bufout_puts(&t->io->out, "\r\n");
}

static int do_list(struct trans *t, const struct pop3_cmd *c, int uidl)
{
	str u = STR_ZERO;
	size_t i, k;

	if (c->arglen) {
		k = pick(t, c->arg, c->arglen);
		if (!k) return 1;
		bufout_puts(&t->io->out, "+OK ");
		put_u(t->io, k);
		bufout_puts(&t->io->out, " ");
		if (uidl) {
			if (!maildrop_uidl(t->md, k - 1, &u)) { str_free(&u); return 0; }
			bufout_put(&t->io->out, u.s, u.len);
		} else {
			put_u(t->io, maildrop_size(t->md, k - 1));
		}
		bufout_puts(&t->io->out, "\r\n");
		str_free(&u);
		return 1;
	}
	if (uidl) bufout_puts(&t->io->out, "+OK unique-id listing follows\r\n");
	else {
		bufout_puts(&t->io->out, "+OK ");
		put_u(t->io, t->md->live);
		bufout_puts(&t->io->out, " messages (");
		put_u(t->io, t->md->total);
		bufout_puts(&t->io->out, " octets)\r\n");
	}
	for (i = 0; i < t->md->n; i++) {
		if (t->md->m[i].deleted) continue;
		put_u(t->io, i + 1);
		bufout_puts(&t->io->out, " ");
		if (uidl) {
			if (!maildrop_uidl(t->md, i, &u)) { str_free(&u); return 0; }
			bufout_put(&t->io->out, u.s, u.len);
		} else {
			put_u(t->io, maildrop_size(t->md, i));
		}
		bufout_puts(&t->io->out, "\r\n");
	}
	bufout_puts(&t->io->out, ".\r\n");
	str_free(&u);
	return 1;
}

/* RETR and TOP; 0 when the session cannot go on */
static int do_retr(struct trans *t, const struct pop3_cmd *c, int top)
{
	const char *sp = top ? memchr(c->arg, ' ', c->arglen) : 0;
	size_t alen = sp ? (size_t)(sp - c->arg) : c->arglen;
	unsigned long long lines = ALL_LINES;
	size_t k;
	int fd, ok;

	if (top) {
		size_t ln;
		if (!sp) return pop3_error(t->io, "-ERR usage: TOP msg lines");
		ln = c->arglen - alen - 1;
		/* any number of lines is fine: more than the body means all of it */
		if (ln == 0 || ln > 40 || scan_ulong_max(sp + 1, ln, ALL_LINES - 1, &lines) != ln) {
			if (ln == 0 || ln > 40 || strspn(sp + 1, "0123456789") != ln)
				return pop3_error(t->io, "-ERR usage: TOP msg lines");
			lines = ALL_LINES - 1;
		}
	} else if (!c->arglen) {
		return pop3_error(t->io, "-ERR usage: RETR msg");
	}
	k = pick(t, c->arg, alen);
	if (!k) return 1;
	fd = maildrop_openmsg(t->md, k - 1);
	if (fd < 0) {
		log_line("unable to open message: ", strerror(errno), (char *)0);
		pop3_reply(t->io, errno == ENOENT ? "-ERR message was removed by another client"
		                                  : "-ERR [SYS/TEMP] unable to read message");
		return 1;
	}
	if (top) {
		bufout_puts(&t->io->out, "+OK top of message follows\r\n");
	} else {
		bufout_puts(&t->io->out, "+OK ");
		put_u(t->io, maildrop_size(t->md, k - 1));
		bufout_puts(&t->io->out, " octets\r\n");
	}
	ok = pop3_sendmsg(&t->io->out, fd, lines);
	close(fd);
	if (!ok) {
		/* the reply is half sent: the only honest way out is to hang up */
		log_line("unable to send message: ", strerror(errno), (char *)0);
		return 0;
	}
	bufout_puts(&t->io->out, ".\r\n");
	if (!top) t->retrieved++;
	return 1;
}

static void capa(struct pop3_io *io)
{
	pop3_capa_begin(io);
	pop3_capa_end(io);
}

static int quit(struct trans *t)
{
	char n[FMT_ULONG + 1], r[FMT_ULONG + 1];
	int ok;
	size_t i;

	for (i = 0; i < t->md->n; i++) t->deleted += (unsigned long)t->md->m[i].deleted;
	ok = maildrop_update(t->md);
	n[fmt_ulong(n, t->deleted)] = 0;
	r[fmt_ulong(r, t->retrieved)] = 0;
	log_line("logout ", t->user, " retrieved ", r, " deleted ", n, ok ? "" : " (some removals failed)", (char *)0);
	pop3_reply(t->io, ok ? "+OK bye" : "-ERR [SYS/TEMP] some deleted messages not removed");
	pop3_flush(t->io);
	return 0;
}

int pop3_transaction(struct pop3_io *io, struct maildrop *md, const char *user)
{
	struct trans t = { io, md, user, 0, 0 };
	struct pop3_cmd c;

	for (;;) {
		int r = pop3_readcmd(io, &c);
		size_t k, i;
		if (r == POP3_CMD_BAD) continue;
		if (r == POP3_CMD_EOF) {
			log_line("connection dropped by ", user, ", nothing deleted", (char *)0);
			return 0;
		}
		if (r == POP3_CMD_FATAL) return 0;
		if (!strcmp(c.verb, "QUIT")) return quit(&t);
		if (!strcmp(c.verb, "STAT") && !c.arglen) do_stat(&t);
		else if (!strcmp(c.verb, "LIST")) { if (!do_list(&t, &c, 0)) return 0; }
		else if (!strcmp(c.verb, "UIDL")) { if (!do_list(&t, &c, 1)) return 0; }
		else if (!strcmp(c.verb, "RETR")) { if (!do_retr(&t, &c, 0)) return 0; }
		else if (!strcmp(c.verb, "TOP")) { if (!do_retr(&t, &c, 1)) return 0; }
		else if (!strcmp(c.verb, "DELE")) {
			k = pick(&t, c.arg, c.arglen);
			if (k) {
				md->m[k - 1].deleted = 1;
				md->live--;
				md->total -= maildrop_size(md, k - 1);
				pop3_reply(io, "+OK message deleted");
			}
		} else if (!strcmp(c.verb, "RSET") && !c.arglen) {
			for (i = 0; i < md->n; i++) {
				if (!md->m[i].deleted) continue;
				md->m[i].deleted = 0;
				md->live++;
				md->total += maildrop_size(md, i);
			}
			pop3_reply(io, "+OK");
		} else if (!strcmp(c.verb, "NOOP") && !c.arglen) pop3_reply(io, "+OK");
		else if (!strcmp(c.verb, "CAPA") && !c.arglen) capa(io);
		else if (!strcmp(c.verb, "USER") || !strcmp(c.verb, "PASS") ||
		         !strcmp(c.verb, "AUTH") || !strcmp(c.verb, "STLS") || !strcmp(c.verb, "APOP")) {
			if (!pop3_error(io, "-ERR already logged in")) return 0;
		} else if (!pop3_error(io, "-ERR unknown command or bad arguments")) return 0;
		if (io->out.err) {
			log_line("write error, disconnecting", (char *)0);
			return 0;
		}
	}
}
