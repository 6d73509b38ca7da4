/* cmd.c: reading one IMAP command (lines and literals, RFC 9051 4.3 and
 * RFC 7888 LITERAL+/LITERAL-) into a token list, reply helpers and
 * sequence sets. Everything read here is the client's and untrusted: every
 * size is checked before memory is committed, literal sizes before the
 * literal is read, NUL and control bytes outside literals give BAD, and
 * parenthesis depth is bounded. Runs as `facteur` (before login) or as the
 * mailbox owner's uid (after). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "imapd-internal.h"
#include "log.h"
#include "scan.h"

void putn(struct sess *s, const char *p, size_t n) { bufout_put(&s->out, p, n); }
void put(struct sess *s, const char *p) { bufout_puts(&s->out, p); }
void putu(struct sess *s, unsigned long long u) { bufout_putu(&s->out, u); }

/* a literal (not literal8) may not hold NUL (RFC 9051 4.3): mail does, so
 * NUL goes out as 0x80, as Dovecot does; the length does not change */
void putn_nonul(struct sess *s, const char *p, size_t n)
{
	const char *z;

	while (n && (z = memchr(p, 0, n))) {
		putn(s, p, (size_t)(z - p));
		put(s, "\x80");
		n -= (size_t)(z - p) + 1;
		p = z + 1;
	}
	putn(s, p, n);
}

void putq(struct sess *s, const char *p, size_t n)
{
	size_t i;
	int lit = n > 1000;

	for (i = 0; i < n && !lit; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r' || c == '\n' || c == 0 || (c >= 0x80 && !s->utf8)) lit = 1;
		/* after ENABLE UTF8=ACCEPT a quoted string may hold UTF-8, not any 8-bit */
		else if (c >= 0x80 && !utf8_valid(p, n)) lit = 1;
	}
	if (lit) {
		put(s, "{"); putu(s, n); put(s, "}\r\n"); putn_nonul(s, p, n);
		return;
	}
	put(s, "\"");
	for (i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\') put(s, "\\");
		putn(s, p + i, 1);
	}
	put(s, "\"");
}

void putnstr(struct sess *s, const char *p, size_t n, int isnil)
{
	if (isnil) put(s, "NIL");
	else putq(s, p, n);
}

void reply(struct sess *s, const char *status, const char *text)
{
	put(s, s->c.havetag ? s->c.tag : "*");
	put(s, " "); put(s, status); put(s, " "); put(s, text); put(s, "\r\n");
}

void bad(struct sess *s, const char *text)
{
	s->bads++;
	reply(s, "BAD", text);
}

static int addtok(struct cmd *c, int type, char *p, size_t n, int lit, int lit8)
{
	if (c->nt + 1 >= c->capt) {
		size_t nc = c->capt ? c->capt * 2 : 64;
		struct tok *t;
		if (nc > IMAP_TOKENS_MAX) return 0;
		t = realloc(c->t, nc * sizeof *t);
		if (!t) return 0;
		c->t = t;
		c->capt = nc;
	}
	c->t[c->nt].type = type;
	c->t[c->nt].p = p;
	c->t[c->nt].n = n;
	c->t[c->nt].lit = lit;
	c->t[c->nt].lit8 = lit8;
	c->nt++;
	return 1;
}

/* a literal announcement {N}, {N+}, {N-}, ~{N} ending the line at p[0..n):
 * returns 1 and fills *len, *sync; 0 when the line does not end so; -1 when
 * the number is out of range (2^64 and beyond) */
static int literal_at_end(const char *p, size_t n, unsigned long long *len, int *sync)
{
	size_t e, b;

	if (n < 3 || p[n - 1] != '}') return 0;
	e = n - 1;
	*sync = 1;
	if (p[e - 1] == '+' || p[e - 1] == '-') { *sync = p[e - 1] == '-'; e--; }
	b = e;
	while (b > 0 && p[b - 1] >= '0' && p[b - 1] <= '9') b--;
	if (b == e || b == 0 || p[b - 1] != '{') return 0;
	if (scan_ulong(p + b, e - b, len) != e - b) return -1;
	return 1;
}

static int fatal_bye(struct sess *s, const char *why)
{
	put(s, "* BYE "); put(s, why); put(s, "\r\n");
	bufout_flush(&s->out);
	log_line("bye: ", why, (char *)0);
	return CMD_FATAL;
}

/* the tag, if the command got that far, so that BAD can carry it */
static void grab_tag(struct cmd *c)
{
	size_t i;

	c->havetag = 0;
	for (i = 0; i < c->buf.len && i < sizeof c->tag - 1; i++) {
		unsigned char ch = (unsigned char)c->buf.s[i];
		if (ch == ' ') break;
		if (ch <= 0x20 || ch >= 0x7f || ch == '(' || ch == ')' || ch == '{' ||
		    ch == '"' || ch == '\\' || ch == '%' || ch == '*' || ch == '+') return;
	}
	if (i == 0 || i >= sizeof c->tag - 1) return;
	memcpy(c->tag, c->buf.s, i);
	c->tag[i] = 0;
	c->havetag = 1;
}

static int is_append(const struct cmd *c)
{
	const char *sp = memchr(c->buf.s, ' ', c->buf.len);
	size_t rest;

	if (!sp) return 0;
	sp++;
	rest = c->buf.len - (size_t)(sp - c->buf.s);
	return rest >= 7 && strncasecmp(sp, "APPEND ", 7) == 0;
}

static int tokenize(struct sess *s)
{
	struct cmd *c = &s->c;
	char *p = c->buf.s, *e = c->buf.s + c->buf.len;
	int depth = 0;

	c->nt = 0;
	c->i = 0;
	while (p < e) {
		unsigned char ch = (unsigned char)*p;
		if (ch == ' ') { p++; continue; }
		if (ch == '(') {
			if (++depth > IMAP_DEPTH_MAX) { bad(s, "nesting too deep"); return 0; }
			if (!addtok(c, T_LP, p, 1, 0, 0)) goto nomem;
			p++;
		} else if (ch == ')') {
			if (--depth < 0) { bad(s, "unbalanced parenthesis"); return 0; }
			if (!addtok(c, T_RP, p, 1, 0, 0)) goto nomem;
			p++;
		} else if (ch == '"') {
			char *w = ++p, *start = p;
			for (;;) {
				if (p >= e) { bad(s, "unterminated quoted string"); return 0; }
				ch = (unsigned char)*p;
				if (ch == '"') break;
				if (ch == '\\') {
					if (p + 1 >= e || (p[1] != '"' && p[1] != '\\')) { bad(s, "bad escape in quoted string"); return 0; }
					p++;
					ch = (unsigned char)*p;
				} else if (ch < 0x20 || ch == 0x7f) {
					bad(s, "control character in quoted string");
					return 0;
				}
				*w++ = (char)ch;
				p++;
			}
			if (!addtok(c, T_STRING, start, (size_t)(w - start), 0, 0)) goto nomem;
			p++;
		} else if (ch == '{' || (ch == '~' && p + 1 < e && p[1] == '{')) {
			unsigned long long n = 0;
			int lit8 = ch == '~';
			size_t d;
			if (lit8) p++;
			p++;
			d = scan_ulong(p, (size_t)(e - p), &n);
			p += d;
			if (p < e && (*p == '+' || *p == '-')) p++;
			if (!d || p >= e || *p != '}') { bad(s, "bad literal"); return 0; }
			p++;
			if (p < e && *p == '\r') p++;
			if (p >= e || *p != '\n' || n > (unsigned long long)(e - p - 1)) { bad(s, "bad literal"); return 0; }
			p++;
			if (!addtok(c, T_STRING, p, (size_t)n, 1, lit8)) goto nomem;
			p += n;
		} else {
			char *start = p;
			int br = 0;
			while (p < e) {
				ch = (unsigned char)*p;
				if (ch < 0x20 || ch == 0x7f) { bad(s, "control character in command"); return 0; }
				if (ch == '[') br++;
				else if (ch == ']' && br) br--;
				else if (!br && (ch == ' ' || ch == '(' || ch == ')')) break;
				else if (!br && ch == '"') { bad(s, "quote inside atom"); return 0; }
				p++;
			}
			if (br) { bad(s, "unbalanced bracket"); return 0; }
			if (!addtok(c, T_ATOM, start, (size_t)(p - start), 0, 0)) goto nomem;
		}
	}
	if (depth) { bad(s, "unbalanced parenthesis"); return 0; }
	/* room for the end marker even when the line held only spaces */
	if (!addtok(c, T_END, e, 0, 0, 0)) goto nomem;
	c->nt--;
	c->t[c->nt].type = T_END;
	c->t[c->nt].p = e;
	c->t[c->nt].n = 0;
	return 1;
nomem:
	bad(s, "command too complex");
	return 0;
}

int cmd_read(struct sess *s)
{
	struct cmd *c = &s->c;
	str line = STR_ZERO;
	size_t nlit = 0;
	int r;

	str_clear(&c->buf);
	c->havetag = 0;
	c->nt = 0;
	for (;;) {
		unsigned long long len, max;
		int sync, la;

		r = bufin_getline(&s->in, &line, IMAP_LINE_MAX);
		if (r == BUF_ERR) {
			str_free(&line);
			if (errno == ETIMEDOUT) return fatal_bye(s, "autologout; idle for too long");
			return CMD_EOF;
		}
		if (r == BUF_EOF) { str_free(&line); return CMD_EOF; }
		if (r == BUF_TOOLONG) {
			if (!c->buf.len) str_copy(&c->buf, line.s, line.len);
			str_free(&line);
			grab_tag(c);
			bad(s, "line too long");
			return CMD_BAD;
		}
		line.len--;
		if (line.len && line.s[line.len - 1] == '\r') line.len--;
		if (c->buf.len + line.len > IMAP_CMD_MAX + s->appendmax) {
			str_free(&line);
			return fatal_bye(s, "command too long");
		}
		if (memchr(line.s, 0, line.len)) {
			str_append(&c->buf, line.s, line.len);
			str_free(&line);
			grab_tag(c);
			bad(s, "NUL in command");
			return CMD_BAD;
		}
		if (!str_append(&c->buf, line.s, line.len)) { str_free(&line); return fatal_bye(s, "out of memory"); }
		la = literal_at_end(line.s, line.len, &len, &sync);
		if (la == 0) break;
		grab_tag(c);
		max = s->state == S_NOTAUTH ? IMAP_LITERAL_PREAUTH :
		      is_append(c) ? s->appendmax : IMAP_LITERAL_MAX;
		/* the whole command too, before the literal is read: MULTIAPPEND of
		 * many literals each under the limit held twice the limit in memory */
		if (la < 0 || len > max || ++nlit > IMAP_LITERALS_MAX ||
		    c->buf.len + len > IMAP_CMD_MAX + s->appendmax) {
			str_free(&line);
			if (!sync) return fatal_bye(s, "non-synchronizing literal too large");
			if (s->state != S_NOTAUTH && is_append(c)) reply(s, "NO", "[TOOBIG] message too large");
			else bad(s, "literal too large");
			return CMD_BAD;
		}
		if (!str_append(&c->buf, "\r\n", 2) || !str_readyplus(&c->buf, (size_t)len)) {
			str_free(&line);
			return fatal_bye(s, "out of memory");
		}
		if (sync) { put(s, "+ OK\r\n"); bufout_flush(&s->out); }
		while (len) {
			long got = bufin_get(&s->in, c->buf.s + c->buf.len, (size_t)len);
			if (got <= 0) { str_free(&line); return CMD_EOF; }
			c->buf.len += (size_t)got;
			len -= (unsigned long long)got;
		}
	}
	str_free(&line);
	str_0(&c->buf);
	grab_tag(c);
	if (!c->buf.len) { bad(s, "empty command"); return CMD_BAD; }
	if (!tokenize(s)) return CMD_BAD;
	if (!c->havetag || c->nt < 2 || c->t[0].type != T_ATOM || c->t[1].type != T_ATOM) {
		bad(s, "missing tag or command");
		return CMD_BAD;
	}
	c->i = 1;
	return CMD_OK;
}

struct tok *tok_peek(struct sess *s) { return &s->c.t[s->c.i]; }

struct tok *tok_next(struct sess *s)
{
	struct tok *t = &s->c.t[s->c.i];
	if (t->type != T_END) s->c.i++;
	return t;
}

int tok_is(const struct tok *t, const char *want)
{
	size_t n = strlen(want);
	return t->type == T_ATOM && t->n == n && strncasecmp(t->p, want, n) == 0;
}

int tok_atom(struct sess *s, const char *want)
{
	if (!tok_is(tok_peek(s), want)) return 0;
	s->c.i++;
	return 1;
}

int tok_astring(struct sess *s, str *out)
{
	struct tok *t = tok_peek(s);

	if (t->type != T_ATOM && t->type != T_STRING) return 0;
	if (memchr(t->p, 0, t->n)) return 0;
	s->c.i++;
	return str_copy(out, t->p, t->n) && str_0(out);
}

int tok_end(struct sess *s) { return tok_peek(s)->type == T_END; }

/* sequence sets: numbers 1..2^32-1 exactly; 0, 2^32 and beyond are
 * syntax errors, never wrapped */
static int seqnum(const char *p, size_t n, uint32_t *v)
{
	unsigned long long u;

	if (n == 1 && *p == '*') { *v = 0; return 1; }
	if (!n || *p == '0' || scan_ulong_max(p, n, 0xffffffffULL, &u) != n) return 0;
	*v = (uint32_t)u;
	return 1;
}

int seqset_parse(const char *p, size_t n, struct seqset *set)
{
	size_t i = 0;

	set->n = 0;
	set->searchres = 0;
	if (n == 1 && *p == '$') { set->searchres = 1; return 1; }
	while (i <= n) {
		size_t j = i, colon = 0;
		struct range r;
		while (j < n && p[j] != ',') { if (p[j] == ':' && !colon) colon = j + 1; j++; }
		if (j == i) return 0;
		if (colon) {
			if (!seqnum(p + i, colon - 1 - i, &r.lo) ||
			    !seqnum(p + colon, j - colon, &r.hi)) return 0;
		} else {
			if (!seqnum(p + i, j - i, &r.lo)) return 0;
			r.hi = r.lo;
		}
		/* '*' is 0 here and fixed up by seqset_resolve */
		if (set->n + 1 > set->cap) {
			size_t nc = set->cap ? set->cap * 2 : 8;
			struct range *nr;
			if (nc > 1000000) return 0;
			nr = realloc(set->r, nc * sizeof *nr);
			if (!nr) return 0;
			set->r = nr;
			set->cap = nc;
		}
		set->r[set->n++] = r;
		i = j + 1;
	}
	return 1;
}

static int rcmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* one expunged message: RFC 7162 3.2.10, once QRESYNC is enabled
 * VANISHED replaces EXPUNGE */
void put_expunge(struct sess *s, size_t seq, uint32_t uid)
{
	if (s->qresync) { put(s, "* VANISHED "); putu(s, uid); }
	else { put(s, "* "); putu(s, seq); put(s, " EXPUNGE"); }
	put(s, "\r\n");
}

/* "* VANISHED (EARLIER)" with the UIDs of known (every UID below UIDNEXT
 * when known is 0) that are not in the view. The index keeps no history of
 * expunges, so UIDs that were never given can be among them: RFC 7162
 * 3.2.5.2 and 3.2.6 let the server name UIDs the client never had. Ranges
 * come out compressed, so the answer stays in proportion to the gaps. */
void put_vanished_earlier(struct sess *s, const struct folder *f, const struct seqset *known)
{
	struct range all;
	const struct range *r = known ? known->r : &all;
	size_t nr = known ? known->n : 1, i, k;
	int any = 0;

	if (f->uidnext <= 1) return;
	all.lo = 1;
	all.hi = f->uidnext - 1;
	for (i = 0; i < nr; i++) {
		uint64_t at = r[i].lo, hi = r[i].hi, lo, h;
		if (hi >= f->uidnext) hi = f->uidnext - 1;
		if (!at) at = 1;
		if (at > hi) continue;
		for (lo = 0, h = f->n; lo < h; ) {       /* the first UID >= at */
			uint64_t mid = lo + (h - lo) / 2;
			if (f->m[mid].uid < at) lo = mid + 1; else h = mid;
		}
		for (k = (size_t)lo; at <= hi; k++) {
			uint64_t next = k < f->n ? f->m[k].uid : hi + 1;
			if (next > hi + 1) next = hi + 1;
			if (next > at) {
				put(s, any ? "," : "* VANISHED (EARLIER) ");
				putu(s, at);
				if (next - 1 > at) { put(s, ":"); putu(s, next - 1); }
				any = 1;
			}
			at = next + 1;
		}
	}
	if (any) put(s, "\r\n");
}

void seqset_resolve(struct seqset *set, uint32_t max)
{
	size_t i, o = 0;

	for (i = 0; i < set->n; i++) {
		struct range *r = &set->r[i];
		if (r->lo == 0) r->lo = max;
		if (r->hi == 0) r->hi = max;
		if (r->lo > r->hi) { uint32_t t = r->lo; r->lo = r->hi; r->hi = t; }
	}
	if (set->n > 1) qsort(set->r, set->n, sizeof *set->r, rcmp);
	for (i = 0; i < set->n; i++) {
		if (o && set->r[i].lo <= set->r[o - 1].hi + (uint64_t)1) {
			if (set->r[i].hi > set->r[o - 1].hi) set->r[o - 1].hi = set->r[i].hi;
		} else set->r[o++] = set->r[i];
	}
	set->n = o;
}

int seqset_has(const struct seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (v < set->r[m].lo) hi = m;
		else if (v > set->r[m].hi) lo = m + 1;
		else return 1;
	}
	return 0;
}

void seqset_free(struct seqset *set) { free(set->r); set->r = 0; set->n = set->cap = 0; }

const char *c_tag(struct sess *s) { return s->c.havetag ? s->c.tag : "*"; }

static int set_add(struct seqset *set, uint32_t v)
{
	if (set->n && set->r[set->n - 1].hi + (uint64_t)1 == v) { set->r[set->n - 1].hi = v; return 1; }
	if (set->n + 1 > set->cap) {
		size_t nc = set->cap ? set->cap * 2 : 8;
		struct range *nr = realloc(set->r, nc * sizeof *nr);
		if (!nr) return 0;
		set->r = nr;
		set->cap = nc;
	}
	set->r[set->n].lo = set->r[set->n].hi = v;
	set->n++;
	return 1;
}

int seqset_saved(struct sess *s, struct seqset *set, int uid)
{
	size_t i, j = 0;

	set->n = 0;
	set->searchres = 1;
	for (i = 0; i < s->nsaved; i++) {
		if (uid) { if (!set_add(set, s->saved[i])) return 0; continue; }
		/* both lists ascend by UID: one walk maps UIDs to sequence numbers */
		while (j < s->f.n && s->f.m[j].uid < s->saved[i]) j++;
		if (j < s->f.n && s->f.m[j].uid == s->saved[i] && !set_add(set, (uint32_t)(j + 1))) return 0;
	}
	return 1;
}
