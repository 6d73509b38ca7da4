/* session.c: one SMTP client session with one host (RFC 5321): greeting,
 * EHLO (HELO when EHLO is refused), opportunistic or required STARTTLS
 * (RFC 3207) with a fresh EHLO after it, MAIL and RCPT (pipelined when the
 * peer offers PIPELINING, RFC 2920), DATA, then RSET and the next message
 * of the batch over the same connection (and the same TLS), QUIT. Every reply is read with
 * the RFC 5321 4.5.3.2 timeout of its stage and parsed by lib/smtpreply;
 * a peer that hangs, drops the line, or sends garbage costs a temporary
 * failure, never a crash or a loop. The peer is untrusted; runs as
 * facteur. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "addr.h"
#include "conn.h"
#include "fmt.h"
#include "idna.h"
#include "log.h"
#include "remote.h"
#include "scan.h"
#include "smtpreply.h"
#include "tlsconf.h"

struct sess {
	struct remote *r;
	const struct target *t;
	struct conn c;
	struct smtpreply rep;
	str line;
	str name;                 /* "host[ip]:port", for texts and logs */
	int pipelining, sizeext, eightbitmime, smtputf8, starttls;
	unsigned long long maxsize;
	int tls;
	int broken;               /* the connection must not carry another message */
};

/* "ESC NAME said: CODE text": the enhanced status code first, so that
 * facteur-send's bounces carry it (the peer's own when it gave one of the
 * class we report, else cls.0.0, or def when given) */
static void said(struct sess *s, str *out, int cls, const char *def)
{
	char esc[SMTPREPLY_ESC_MAX];

	str_clear(out);
	if (smtpreply_esc(&s->rep, esc) && esc[0] == '0' + cls) {
		str_appends(out, esc);
	} else if (def) {
		str_appends(out, def);
	} else {
		str_appendc(out, (char)('0' + cls));
		str_appends(out, ".0.0");
	}
	str_appendc(out, ' ');
	str_append(out, s->name.s, s->name.len);
	str_appends(out, " said: ");
	smtpreply_oneline(&s->rep, out);
}

static void set_lasterr_reply(struct sess *s)
{
	said(s, &s->r->lasterr, 4, "4.4.0");
}

static void decide(struct rcpt *rc, int code, const str *text)
{
	rc->code = code;
	str_copy(&rc->text, text->s, text->len);
	rc->accepted = 0;
}

/* read one whole reply; 0 on EOF, timeout, or garbage (r->lasterr set) */
static int get_reply(struct sess *s, int seconds, const char *stage)
{
	int ms = remote_timeout(s->r, seconds);

	smtpreply_init(&s->rep);
	for (;;) {
		int g = conn_getline(&s->c, &s->line, SMTPREPLY_LINE_MAX, ms), p;
		if (g < 0 && s->c.err == ETIMEDOUT) {
			str_clear(&s->r->lasterr);
			str_appends(&s->r->lasterr, "4.4.2 timeout waiting for ");
			str_appends(&s->r->lasterr, stage);
			str_appends(&s->r->lasterr, " from ");
			str_append(&s->r->lasterr, s->name.s, s->name.len);
			return 0;
		}
		if (g <= 0) {
			str_clear(&s->r->lasterr);
			str_appends(&s->r->lasterr, g < 0 && s->c.err == EPROTO ?
			            "4.5.0 a reply line without end, waiting for " :
			            "4.4.2 connection lost waiting for ");
			str_appends(&s->r->lasterr, stage);
			str_appends(&s->r->lasterr, " from ");
			str_append(&s->r->lasterr, s->name.s, s->name.len);
			return 0;
		}
		p = smtpreply_line(&s->rep, s->line.s, s->line.len, g == 2);
		if (p == SMTPREPLY_DONE) return 1;
		if (p != SMTPREPLY_MORE) {
			str_clear(&s->r->lasterr);
			str_appends(&s->r->lasterr, p == SMTPREPLY_ETOOMANY ?
			            "4.5.0 overlong reply to " : "4.5.0 malformed reply to ");
			str_appends(&s->r->lasterr, stage);
			str_appends(&s->r->lasterr, " from ");
			str_append(&s->r->lasterr, s->name.s, s->name.len);
			return 0;
		}
	}
}

static int send_flush(struct sess *s, int seconds, const char *stage)
{
	if (conn_flush(&s->c, remote_timeout(s->r, seconds))) return 1;
	str_clear(&s->r->lasterr);
	str_appends(&s->r->lasterr, s->c.err == ETIMEDOUT ? "4.4.2 timeout sending " :
	            "4.4.2 connection lost sending ");
	str_appends(&s->r->lasterr, stage);
	str_appends(&s->r->lasterr, " to ");
	str_append(&s->r->lasterr, s->name.s, s->name.len);
	return 0;
}

static int kw(const char *l, size_t n, const char *k, const char **arg)
{
	size_t kl = strlen(k);
	if (n < kl || strncasecmp(l, k, kl) != 0) return 0;
	if (n > kl && l[kl] != ' ' && l[kl] != '=') return 0;
	*arg = n > kl ? l + kl + 1 : l + n;
	return 1;
}

static void parse_ehlo(struct sess *s)
{
	const char *t = s->rep.text.s;
	size_t n = s->rep.text.len, i = 0, line = 0;

	s->pipelining = s->sizeext = s->eightbitmime = s->smtputf8 = s->starttls = 0;
	s->maxsize = 0;
	while (t && i < n) {
		size_t e = i;
		const char *arg;
		while (e < n && t[e] != '\n') e++;
		/* the first line is the peer's name, not an extension */
		if (line++ > 0) {
			if (kw(t + i, e - i, "PIPELINING", &arg)) s->pipelining = 1;
			else if (kw(t + i, e - i, "8BITMIME", &arg)) s->eightbitmime = 1;
			else if (kw(t + i, e - i, "SMTPUTF8", &arg)) s->smtputf8 = 1;
			else if (kw(t + i, e - i, "STARTTLS", &arg)) s->starttls = 1;
			else if (kw(t + i, e - i, "SIZE", &arg)) {
				unsigned long long v = 0;
				size_t al = (size_t)(t + e - arg);
				s->sizeext = 1;
				/* a limit we cannot parse is no limit we can obey */
				if (al && scan_ulong(arg, al, &v) == al) s->maxsize = v;
			}
		}
		i = e + 1;
	}
}

/* EHLO, or HELO when EHLO is refused with 5xx; 1 ok */
static int hello(struct sess *s)
{
	conn_puts(&s->c, "EHLO ");
	conn_put(&s->c, s->r->me.s, s->r->me.len);
	conn_puts(&s->c, "\r\n");
	if (!send_flush(s, REMOTE_T_EHLO, "EHLO") || !get_reply(s, REMOTE_T_EHLO, "EHLO")) return 0;
	if (smtpreply_class(&s->rep) == 2) { parse_ehlo(s); return 1; }
	if (smtpreply_class(&s->rep) != 5) { set_lasterr_reply(s); return 0; }
	s->pipelining = s->sizeext = s->eightbitmime = s->smtputf8 = s->starttls = 0;
	conn_puts(&s->c, "HELO ");
	conn_put(&s->c, s->r->me.s, s->r->me.len);
	conn_puts(&s->c, "\r\n");
	if (!send_flush(s, REMOTE_T_EHLO, "HELO") || !get_reply(s, REMOTE_T_EHLO, "HELO")) return 0;
	if (smtpreply_class(&s->rep) == 2) return 1;
	set_lasterr_reply(s);
	return 0;
}

static void quit(struct sess *s)
{
	if (s->c.err) return;
	conn_puts(&s->c, "QUIT\r\n");
	if (conn_flush(&s->c, remote_timeout(s->r, REMOTE_T_QUIT)))
		(void)conn_getline(&s->c, &s->line, SMTPREPLY_LINE_MAX, remote_timeout(s->r, REMOTE_T_QUIT));
}

static int tls(struct sess *s)
{
	struct remote *r = s->r;
	int verify = r->tlspolicy == TLSP_VERIFY;
	str why = STR_ZERO, info = STR_ZERO;
	const char *name = s->t->tlsname[0] ? s->t->tlsname : 0;

	if (r->ctx && r->ctx_verify != verify) { SSL_CTX_free(r->ctx); r->ctx = 0; }
	if (!r->ctx) {
		r->ctx = tlsconf_client_new(verify, &why);
		r->ctx_verify = verify;
	}
	if (!r->ctx || !conn_starttls(&s->c, r->ctx, name, verify, remote_timeout(r, REMOTE_T_EHLO), &why)) {
		str_clear(&r->lasterr);
		str_appends(&r->lasterr, "4.7.5 STARTTLS with ");
		str_append(&r->lasterr, s->name.s, s->name.len);
		str_appends(&r->lasterr, " failed: ");
		str_append(&r->lasterr, why.s, why.len);
		str_free(&why);
		return 0;
	}
	s->tls = 1;
	conn_tls_describe(&s->c, &info);
	str_0(&info);
	log_line("TLS with ", s->name.s, ": ", info.s ? info.s : "", verify ? " (verified)" : "", (char *)0);
	str_free(&why);
	str_free(&info);
	return 1;
}

static void make_name(struct sess *s)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned port;
	const struct sockaddr_storage *sa = &s->t->sa;

	if (sa->ss_family == AF_INET6) {
		struct sockaddr_in6 v6;
		memcpy(&v6, sa, sizeof v6);
		inet_ntop(AF_INET6, &v6.sin6_addr, ip, sizeof ip);
		port = ntohs(v6.sin6_port);
	} else {
		struct sockaddr_in v4;
		memcpy(&v4, sa, sizeof v4);
		inet_ntop(AF_INET, &v4.sin_addr, ip, sizeof ip);
		port = ntohs(v4.sin_port);
	}
	str_copys(&s->name, s->t->host);
	str_appendc(&s->name, '[');
	str_appends(&s->name, ip);
	str_appendc(&s->name, ']');
	if (port != REMOTE_PORT) {
		str_appendc(&s->name, ':');
		str_appendu(&s->name, port);
	}
	str_0(&s->name);
}

/* every undecided recipient gets this permanent or temporary reason */
static void decide_undecided(struct sess *s, int code, const char *text)
{
	str t = STR_ZERO;
	str_copys(&t, text);
	for (size_t i = 0; i < s->r->nrcpt; i++)
		if (!s->r->rcpt[i].code) decide(&s->r->rcpt[i], code, &t);
	str_free(&t);
}

static void decide_accepted(struct sess *s, int code, const str *text)
{
	for (size_t i = 0; i < s->r->nrcpt; i++)
		if (!s->r->rcpt[i].code && s->r->rcpt[i].accepted) decide(&s->r->rcpt[i], code, text);
}

static void unaccept(struct remote *r)
{
	for (size_t i = 0; i < r->nrcpt; i++) r->rcpt[i].accepted = 0;
}

static void rcpt_cmd(struct sess *s, const char *addr)
{
	conn_puts(&s->c, "RCPT TO:<");
	conn_puts(&s->c, addr);
	conn_puts(&s->c, ">\r\n");
}

/* addr as it goes to a peer without SMTPUTF8, appended to out with its
 * NUL: as given when it is ASCII, else with its domain as A-labels. RFC
 * 6531 leaves a non-ASCII local part to SMTPUTF8 alone (3.2), but a
 * domain has an ASCII form that names the same host (RFC 5890). Which
 * part is the domain is lib/addr's to say: it follows the '@' that ends
 * the local part, which may be a quoted string with '@' of its own; an
 * address literal is no name and has no other form. The root's dot
 * after a domain goes, as in the DNS query. 1 ok; 0 when there is none
 * (errno 0 or EINVAL) or out of memory (ENOMEM) */
static int ascii_form(const char *addr, str *out)
{
	size_t n = strlen(addr), start = out->len, used = 0, pn = n;
	struct addr a;
	str path = STR_ZERO, d = STR_ZERO;
	int ok;

	if (!idna_nonascii(addr, n)) return str_append(out, addr, n + 1);
	if (addr[pn - 1] == '.') pn--;
	memset(&a, 0, sizeof a);
	ok = str_appendc(&path, '<') && str_append(&path, addr, pn) && str_appendc(&path, '>') &&
	    addr_parse_path(path.s, path.len, ADDR_F_UTF8, &a, &used) == ADDR_OK && used == path.len &&
	    a.at < a.mailbox.len && !a.literal && !idna_nonascii(a.mailbox.s, a.at) &&
	    idna_to_ascii(a.mailbox.s + a.at + 1, a.mailbox.len - a.at - 1, &d) &&
	    str_append(out, a.mailbox.s, a.at + 1) && str_append(out, d.s, d.len) &&
	    /* the brackets count too (lib/addr.h) */
	    out->len - start + 2 <= ADDR_PATH_MAX && str_appendc(out, 0);
	if (!ok) out->len = start;
	str_free(&path);
	str_free(&d);
	addr_free(&a);
	return ok;
}

/* recipient i as it goes to this peer: as given, or its ASCII form at
 * offset wire[i] of down */
static const char *on_wire(const struct remote *r, const str *down, const size_t *wire, size_t i)
{
	return wire ? down->s + wire[i] : r->rcpt[i].addr;
}

static int body(struct sess *s)
{
	char buf[REMOTE_BLOCK];
	struct body b;

	body_init(&b);
	if (lseek(s->r->msgfd, 0, SEEK_SET) < 0) return -1;
	for (;;) {
		ssize_t n = read(s->r->msgfd, buf, sizeof buf);
		if (n < 0) { if (errno == EINTR) continue; return -1; }
		if (n == 0) break;
		if (!body_feed(&b, buf, (size_t)n, 1, &s->c.out)) return -1;
		if (s->c.out.len >= REMOTE_BLOCK && !send_flush(s, REMOTE_T_BLOCK, "the message")) return 0;
	}
	if (!body_end(&b, &s->c.out) || !conn_puts(&s->c, ".\r\n")) return -1;
	return send_flush(s, REMOTE_T_BLOCK, "the message");
}

static int transaction(struct sess *s)
{
	struct remote *r = s->r;
	str t = STR_ZERO;
	str down = STR_ZERO;           /* the ASCII forms, NUL after each */
	size_t i, k, naccepted = 0, *idx = 0, nidx = 0, sent = 0, *wire = 0;
	int cls;

	if (r->envutf8 && !s->smtputf8) {
		/* no SMTPUTF8: the addresses whose only non-ASCII part is the
		 * domain go with its A-labels; the others cannot go here */
		str_copys(&t, "5.6.7 ");
		str_append(&t, s->name.s, s->name.len);
		str_appends(&t, " does not support SMTPUTF8, which ");
		wire = calloc(r->nrcpt ? r->nrcpt : 1, sizeof *wire);
		if (!wire) {
			str_copys(&r->lasterr, "4.3.0 out of memory");
			goto next;
		}
		errno = 0;
		if (!ascii_form(r->sender, &down)) {
			if (errno == ENOMEM) {
				str_copys(&r->lasterr, "4.3.0 out of memory");
				goto next;
			}
			str_appends(&t, "the sender address needs");
			decide_undecided(s, 5, (str_0(&t), t.s));
			goto done;
		}
		str_appends(&t, "this address needs");
		for (i = 0; i < r->nrcpt; i++) {
			if (r->rcpt[i].code) continue;
			wire[i] = down.len;
			errno = 0;
			if (!ascii_form(r->rcpt[i].addr, &down)) {
				if (errno == ENOMEM) {
					str_copys(&r->lasterr, "4.3.0 out of memory");
					goto next;
				}
				decide(&r->rcpt[i], 5, &t);
			}
		}
		str_clear(&t);
	}
	if (s->maxsize && r->msgsize > s->maxsize) {
		str_copys(&t, "5.3.4 message size ");
		str_appendu(&t, r->msgsize);
		str_appends(&t, " exceeds the limit of ");
		str_append(&t, s->name.s, s->name.len);
		str_appends(&t, " (");
		str_appendu(&t, s->maxsize);
		str_appendc(&t, ')');
		decide_undecided(s, 5, (str_0(&t), t.s));
		goto done;
	}
	/* the recipients of this transaction, in order: replies are matched
	 * to them by position */
	idx = calloc(r->nrcpt ? r->nrcpt : 1, sizeof *idx);
	if (!idx) {
		str_copys(&r->lasterr, "4.3.0 out of memory");
		goto next;
	}
	for (i = 0; i < r->nrcpt; i++)
		if (!r->rcpt[i].code) idx[nidx++] = i;
	if (!nidx) goto done;
	conn_puts(&s->c, "MAIL FROM:<");
	conn_puts(&s->c, wire ? down.s : r->sender);
	conn_puts(&s->c, ">");
	if (s->sizeext) { conn_puts(&s->c, " SIZE="); str_appendu(&s->c.out, r->msgsize); }
	if (s->eightbitmime && r->msg8bit) conn_puts(&s->c, " BODY=8BITMIME");
	if (r->envutf8 && !wire) conn_puts(&s->c, " SMTPUTF8");
	conn_puts(&s->c, "\r\n");
	/* PIPELINING: MAIL and the RCPTs go in batches of REMOTE_PIPE_MAX,
	 * so that neither side can block writing while the other does
	 * (RFC 2920 3.1); without it, one command at a time */
	if (s->pipelining)
		for (; sent < nidx && sent < REMOTE_PIPE_MAX; sent++) rcpt_cmd(s, on_wire(r, &down, wire, idx[sent]));
	if (!send_flush(s, REMOTE_T_MAIL, "MAIL") || !get_reply(s, REMOTE_T_MAIL, "MAIL")) goto next;
	cls = smtpreply_class(&s->rep);
	if (s->rep.code == 421 || cls == 3) { set_lasterr_reply(s); goto next; }
	if (cls != 2) {
		said(s, &t, cls, 0);
		str_0(&t);
		decide_undecided(s, cls, t.s);
		/* the replies to the RCPTs pipelined after it are read all the
		 * same: left unread, the next message of the batch would take
		 * them for the replies to its own commands. One that does not
		 * come, or a 421: this connection carries nothing more */
		for (k = 0; k < sent && !s->broken; k++)
			if (!get_reply(s, REMOTE_T_RCPT, "RCPT") || s->rep.code == 421) s->broken = 1;
		goto done;
	}
	for (k = 0; k < nidx; k++) {
		struct rcpt *rc = &r->rcpt[idx[k]];
		if (k == sent) {
			size_t batch = s->pipelining ? REMOTE_PIPE_MAX : 1;
			for (; sent < nidx && batch; sent++, batch--) rcpt_cmd(s, on_wire(r, &down, wire, idx[sent]));
			if (!send_flush(s, REMOTE_T_RCPT, "RCPT")) goto next;
		}
		if (!get_reply(s, REMOTE_T_RCPT, "RCPT")) goto next;
		cls = smtpreply_class(&s->rep);
		if (s->rep.code == 421 || cls == 3) { set_lasterr_reply(s); goto next; }
		if (cls == 2) { rc->accepted = 1; naccepted++; continue; }
		/* RFC 5321 4.5.3.1.10: old servers say 552 for "too many
		 * recipients"; it is to be taken as temporary */
		if (s->rep.code == 552) cls = 4;
		said(s, &t, cls, s->rep.code == 552 ? "4.5.3" : 0);
		decide(rc, cls, &t);
	}
	if (!naccepted) goto done;
	conn_puts(&s->c, "DATA\r\n");
	if (!send_flush(s, REMOTE_T_DATAINIT, "DATA") || !get_reply(s, REMOTE_T_DATAINIT, "DATA")) goto next;
	if (s->rep.code == 421) { set_lasterr_reply(s); goto next; }
	/* 354, or any 3xx: the peer now reads the message (RFC 5321 4.2.1,
	 * the first digit decides). Taken for a refusal, what we sent next
	 * would become its body */
	if (smtpreply_class(&s->rep) != 3) {
		cls = smtpreply_class(&s->rep) == 5 ? 5 : 4;
		said(s, &t, cls, 0);
		decide_accepted(s, cls, &t);
		goto done;
	}
	{
		int b = body(s);
		if (b < 0) {
			/* our own queue file failed us: hang up without the final
			 * dot, so the peer drops the partial message */
			int e = errno;
			str_copys(&t, "4.3.0 unable to read the queued message");
			decide_accepted(s, 4, &t);
			log_line("unable to read the message: ", strerror(e), (char *)0);
			s->broken = 1;
			goto done;
		}
		/* cut before the final dot: nothing was delivered, another
		 * host may take it */
		if (b == 0) goto next;
	}
	if (!get_reply(s, REMOTE_T_DATAEND, "the reply to end of data")) {
		/* the peer may or may not have the message (RFC 1047's
		 * duplicate window): only a later retry can tell */
		str_copy(&t, r->lasterr.s, r->lasterr.len);
		decide_accepted(s, 4, &t);
		s->broken = 1;
		goto done;
	}
	cls = smtpreply_class(&s->rep);
	cls = cls == 2 ? 2 : cls == 5 ? 5 : 4;
	said(s, &t, cls, 0);
	decide_accepted(s, cls, &t);
done:
	str_free(&t);
	str_free(&down);
	free(wire);
	free(idx);
	unaccept(r);
	return SESSION_DONE;
next:
	str_free(&t);
	str_free(&down);
	free(wire);
	free(idx);
	unaccept(r);
	return SESSION_NEXT;
}

/* a failed host: every message of the batch still waiting learns why */
static void share_lasterr(struct remote **rs, size_t n, const struct remote *from)
{
	for (size_t k = 0; k < n; k++)
		if (rs[k] != from && remote_undecided(rs[k]))
			str_copy(&rs[k]->lasterr, from->lasterr.s, from->lasterr.len);
}

/* RSET between two messages: 1 when the peer is ready for the next */
static int reset(struct sess *s)
{
	conn_puts(&s->c, "RSET\r\n");
	if (!send_flush(s, REMOTE_T_MAIL, "RSET") || !get_reply(s, REMOTE_T_MAIL, "RSET")) return 0;
	if (smtpreply_class(&s->rep) == 2) return 1;
	set_lasterr_reply(s);
	return 0;
}

int session_run(struct remote **rs, size_t n, const struct target *t, int allow_tls)
{
	struct sess s;
	struct remote *r = 0;
	int res = SESSION_NEXT;
	size_t k, sent = 0;

	for (k = 0; k < n && !r; k++)
		if (remote_undecided(rs[k])) r = rs[k];
	if (!r) return SESSION_DONE;
	memset(&s, 0, sizeof s);
	s.r = r;
	s.t = t;
	conn_init(&s.c);
	make_name(&s);
	if (!conn_connect(&s.c, (const struct sockaddr *)&t->sa,
	                  t->sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
	                  remote_timeout(r, REMOTE_CONNECT_TIMEOUT))) {
		str_clear(&r->lasterr);
		str_appends(&r->lasterr, "4.4.1 unable to connect to ");
		str_append(&r->lasterr, s.name.s, s.name.len);
		str_appends(&r->lasterr, ": ");
		str_appends(&r->lasterr, strerror(errno));
		goto out;
	}
	if (!get_reply(&s, REMOTE_T_GREETING, "the greeting")) goto out;
	/* 421 or 554 at the greeting: this host will not serve us */
	if (smtpreply_class(&s.rep) != 2) { set_lasterr_reply(&s); quit(&s); goto out; }
	if (!hello(&s)) { quit(&s); goto out; }
	if (r->tlspolicy != TLSP_NONE && allow_tls && s.starttls) {
		conn_puts(&s.c, "STARTTLS\r\n");
		if (!send_flush(&s, REMOTE_T_EHLO, "STARTTLS") || !get_reply(&s, REMOTE_T_EHLO, "STARTTLS")) goto out;
		if (smtpreply_class(&s.rep) == 2) {
			if (!tls(&s)) {
				if (r->tlspolicy == TLSP_MAY) res = SESSION_PLAIN;
				goto out;
			}
			/* RFC 3207 4.2: forget everything learnt before TLS */
			if (!hello(&s)) { quit(&s); goto out; }
		} else if (r->tlspolicy >= TLSP_ENCRYPT) {
			set_lasterr_reply(&s);
			quit(&s);
			goto out;
		}
	}
	if (r->tlspolicy >= TLSP_ENCRYPT && !s.tls) {
		str_clear(&r->lasterr);
		str_appends(&r->lasterr, "4.7.10 TLS is required for ");
		str_appends(&r->lasterr, r->domain);
		str_appends(&r->lasterr, " but ");
		str_append(&r->lasterr, s.name.s, s.name.len);
		str_appends(&r->lasterr, " does not offer STARTTLS");
		quit(&s);
		goto out;
	}
	/* the batch, one transaction after another on this connection; the
	 * session's TLS context stays with whichever message made it */
	for (k = 0; k < n; k++) {
		SSL_CTX *ctx = s.r->ctx;
		int verify = s.r->ctx_verify;
		if (!remote_undecided(rs[k])) continue;
		if (rs[k] != s.r) {
			/* one owner per context; SSL objects hold their own reference */
			if (rs[k]->ctx && rs[k]->ctx != ctx) SSL_CTX_free(rs[k]->ctx);
			s.r->ctx = 0;
			rs[k]->ctx = ctx;
			rs[k]->ctx_verify = verify;
		}
		s.r = rs[k];
		/* what an earlier host did is no reason for what this one does:
		 * the messages left when this connection ends learn its own */
		str_clear(&s.r->lasterr);
		if (sent && !reset(&s)) { res = SESSION_NEXT; break; }
		res = transaction(&s);
		sent++;
		/* 421 anywhere: the peer is closing, whatever it does next, and
		 * that is why the rest of the batch waits */
		if (s.rep.code == 421) {
			s.broken = 1;
			if (res == SESSION_DONE) set_lasterr_reply(&s);
		}
		remote_report(rs, n);
		if (res != SESSION_DONE || s.broken) break;
	}
	if (res == SESSION_DONE && !s.broken) quit(&s);
	/* messages the connection could not carry any more: the next host */
	for (; k < n && res == SESSION_DONE; k++)
		if (remote_undecided(rs[k])) res = SESSION_NEXT;
	r = s.r;
out:
	if (res != SESSION_DONE) {
		if (!r->lasterr.len) str_copys(&r->lasterr, "4.4.2 the connection broke off");
		str_0(&r->lasterr);
		log_line("host failed: ", r->lasterr.s ? r->lasterr.s : "", (char *)0);
		share_lasterr(rs, n, r);
	}
	if (sent > 1) {
		char nb[FMT_ULONG + 1];
		nb[fmt_ulong(nb, sent)] = 0;
		log_line("connection to ", s.name.s ? s.name.s : "", " carried ", nb, " messages", (char *)0);
	}
	conn_close(&s.c);
	str_free(&s.line);
	str_free(&s.name);
	smtpreply_free(&s.rep);
	return res;
}
