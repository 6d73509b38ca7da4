/* search.c: SEARCH and UID SEARCH (RFC 9051 6.4.4) with every search key,
 * ESEARCH return options (RFC 4731: MIN MAX COUNT ALL) and MODSEQ (RFC
 * 7162). The criteria come from the client: the tree is bounded in size
 * and in nesting of OR/NOT/parentheses (IMAP_SEARCH_DEPTH), so a huge
 * OR chain is BAD, never a deep recursion. Runs as the mailbox owner. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "imapd-fetch.h"
#include "scan.h"

#define SEARCH_NODES_MAX 1000

enum { K_ALL, K_AND, K_OR, K_NOT, K_FLAG, K_UNFLAG, K_NEW, K_OLD, K_RECENT, K_SET, K_UIDSET,
       K_LARGER, K_SMALLER, K_BEFORE, K_ON, K_SINCE, K_SBEFORE, K_SON, K_SSINCE,
       K_HEADER, K_BODY, K_TEXT, K_MODSEQ };

struct node {
	int op;
	int a, b;             /* children (AND: a is the first) */
	int next;             /* next sibling under an AND */
	uint32_t flag;
	unsigned long long num;
	const char *hdr; size_t hdrlen;
	const char *arg; size_t arglen;
	struct seqset set;
};

struct search {
	struct sess *s;
	struct node *n;
	size_t nn;
	int needfile, needmodseq;
};

static int newnode(struct search *x, int op)
{
	struct node *nd;
	if (x->nn >= SEARCH_NODES_MAX) return -1;
	nd = &x->n[x->nn];
	memset(nd, 0, sizeof *nd);
	nd->op = op;
	nd->a = nd->b = nd->next = -1;
	return (int)x->nn++;
}

static const char *const mon[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec" };

/* "d-Mon-yyyy" as days since the epoch */
static long long parse_sdate(const char *p, size_t n)
{
	unsigned long long d, y;
	size_t u, i;
	int m;
	struct tm tm;

	if (!(u = scan_ulong_max(p, n, 31, &d)) || !d || u + 5 > n || p[u] != '-' || p[u + 4] != '-') return -1;
	for (m = 0; m < 12; m++) if (strncasecmp(p + u + 1, mon[m], 3) == 0) break;
	if (m == 12) return -1;
	i = u + 5;
	if (scan_ulong_max(p + i, n - i, 9999, &y) != 4 || i + 4 != n) return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_mday = (int)d; tm.tm_mon = m; tm.tm_year = (int)y - 1900;
	return (long long)timegm(&tm) / 86400;
}

/* the day of an RFC 5322 Date: header ("Tue, 1 Jul 2003 10:52:37 +0200"),
 * ignoring time and zone as RFC 9051 says; -1 when unreadable */
static long long header_day(const char *v, size_t n)
{
	size_t i = 0;
	unsigned long long d, y;
	size_t u;
	int m;
	struct tm tm;

	while (i < n && !(v[i] >= '0' && v[i] <= '9')) i++;
	if (!(u = scan_ulong_max(v + i, n - i, 31, &d)) || !d) return -1;
	i += u;
	while (i < n && v[i] == ' ') i++;
	if (i + 3 > n) return -1;
	for (m = 0; m < 12; m++) if (strncasecmp(v + i, mon[m], 3) == 0) break;
	if (m == 12) return -1;
	i += 3;
	while (i < n && v[i] == ' ') i++;
	if (!(u = scan_ulong_max(v + i, n - i, 9999, &y))) return -1;
	if (u == 2) y += y < 50 ? 2000 : 1900;
	memset(&tm, 0, sizeof tm);
	tm.tm_mday = (int)d; tm.tm_mon = m; tm.tm_year = (int)y - 1900;
	return (long long)timegm(&tm) / 86400;
}

static int parse_key(struct search *x, int depth);

static int strarg(struct search *x, struct node *nd)
{
	struct tok *t = tok_next(x->s);
	if (t->type != T_ATOM && t->type != T_STRING) return 0;
	nd->arg = t->p;
	nd->arglen = t->n;
	for (size_t i = 0; i < t->n; i++)
		if (t->p[i] >= 'A' && t->p[i] <= 'Z') t->p[i] = (char)(t->p[i] + 32);
	return 1;
}

static int parse_key(struct search *x, int depth)
{
	struct sess *s = x->s;
	struct tok *t = tok_next(s);
	int id;
	struct node *nd;
	static const struct { const char *k; int op; uint32_t flag; } flagkeys[] = {
		{ "ANSWERED", K_FLAG, F_ANSWERED }, { "DELETED", K_FLAG, F_DELETED }, { "DRAFT", K_FLAG, F_DRAFT },
		{ "FLAGGED", K_FLAG, F_FLAGGED }, { "SEEN", K_FLAG, F_SEEN },
		{ "UNANSWERED", K_UNFLAG, F_ANSWERED }, { "UNDELETED", K_UNFLAG, F_DELETED },
		{ "UNDRAFT", K_UNFLAG, F_DRAFT }, { "UNFLAGGED", K_UNFLAG, F_FLAGGED }, { "UNSEEN", K_UNFLAG, F_SEEN },
	};
	static const struct { const char *k; const char *hdr; } hdrkeys[] = {
		{ "BCC", "bcc" }, { "CC", "cc" }, { "FROM", "from" }, { "SUBJECT", "subject" }, { "TO", "to" },
	};
	static const struct { const char *k; int op; } datekeys[] = {
		{ "BEFORE", K_BEFORE }, { "ON", K_ON }, { "SINCE", K_SINCE },
		{ "SENTBEFORE", K_SBEFORE }, { "SENTON", K_SON }, { "SENTSINCE", K_SSINCE },
	};
	size_t i;

	if (depth > IMAP_SEARCH_DEPTH) return -1;
	if (t->type == T_LP) {
		int first = -1, prev = -1, c;
		id = newnode(x, K_AND);
		if (id < 0) return -1;
		while (tok_peek(s)->type != T_RP) {
			if (tok_peek(s)->type == T_END) return -1;
			c = parse_key(x, depth + 1);
			if (c < 0) return -1;
			if (first < 0) first = c; else x->n[prev].next = c;
			prev = c;
		}
		tok_next(s);
		if (first < 0) return -1;
		x->n[id].a = first;
		return id;
	}
	if (t->type != T_ATOM) return -1;
	for (i = 0; i < sizeof flagkeys / sizeof flagkeys[0]; i++)
		if (tok_is(t, flagkeys[i].k)) {
			if ((id = newnode(x, flagkeys[i].op)) < 0) return -1;
			x->n[id].flag = flagkeys[i].flag;
			return id;
		}
	for (i = 0; i < sizeof hdrkeys / sizeof hdrkeys[0]; i++)
		if (tok_is(t, hdrkeys[i].k)) {
			if ((id = newnode(x, K_HEADER)) < 0) return -1;
			nd = &x->n[id];
			nd->hdr = hdrkeys[i].hdr; nd->hdrlen = strlen(nd->hdr);
			x->needfile = 1;
			return strarg(x, nd) ? id : -1;
		}
	for (i = 0; i < sizeof datekeys / sizeof datekeys[0]; i++)
		if (tok_is(t, datekeys[i].k)) {
			long long d;
			struct tok *a;
			if ((id = newnode(x, datekeys[i].op)) < 0) return -1;
			a = tok_next(s);
			if ((a->type != T_ATOM && a->type != T_STRING) || (d = parse_sdate(a->p, a->n)) < 0) return -1;
			x->n[id].num = (unsigned long long)d;
			if (datekeys[i].op >= K_SBEFORE) x->needfile = 1;
			return id;
		}
	if (tok_is(t, "ALL")) return newnode(x, K_ALL);
	if (tok_is(t, "NEW")) return newnode(x, K_NEW);
	if (tok_is(t, "OLD")) return newnode(x, K_OLD);
	if (tok_is(t, "RECENT")) return newnode(x, K_RECENT);
	if (tok_is(t, "KEYWORD") || tok_is(t, "UNKEYWORD")) {
		struct tok *a;
		uint32_t fl = 0;
		int un = tok_is(t, "UNKEYWORD");
		if ((id = newnode(x, un ? K_UNFLAG : K_FLAG)) < 0) return -1;
		a = tok_next(s);
		if (a->type != T_ATOM || !parse_flag(s, &s->f, a->p, a->n, &fl, 0)) return -1;
		/* an unknown keyword is set on no message */
		x->n[id].flag = fl;
		if (!fl) x->n[id].op = un ? K_ALL : K_NOT, x->n[id].a = un ? -1 : newnode(x, K_ALL);
		return id;
	}
	if (tok_is(t, "LARGER") || tok_is(t, "SMALLER")) {
		struct tok *a;
		if ((id = newnode(x, tok_is(t, "LARGER") ? K_LARGER : K_SMALLER)) < 0) return -1;
		a = tok_next(s);
		if (a->type != T_ATOM || !a->n || scan_ulong(a->p, a->n, &x->n[id].num) != a->n) return -1;
		return id;
	}
	if (tok_is(t, "HEADER")) {
		struct tok *a;
		if ((id = newnode(x, K_HEADER)) < 0) return -1;
		a = tok_next(s);
		if ((a->type != T_ATOM && a->type != T_STRING) || !a->n || memchr(a->p, 0, a->n)) return -1;
		x->n[id].hdr = a->p; x->n[id].hdrlen = a->n;
		x->needfile = 1;
		return strarg(x, &x->n[id]) ? id : -1;
	}
	if (tok_is(t, "BODY") || tok_is(t, "TEXT")) {
		if ((id = newnode(x, tok_is(t, "BODY") ? K_BODY : K_TEXT)) < 0) return -1;
		x->needfile = 1;
		return strarg(x, &x->n[id]) ? id : -1;
	}
	if (tok_is(t, "NOT")) {
		int c;
		if ((id = newnode(x, K_NOT)) < 0) return -1;
		if ((c = parse_key(x, depth + 1)) < 0) return -1;
		x->n[id].a = c;
		return id;
	}
	if (tok_is(t, "OR")) {
		int c1, c2;
		if ((id = newnode(x, K_OR)) < 0) return -1;
		if ((c1 = parse_key(x, depth + 1)) < 0 || (c2 = parse_key(x, depth + 1)) < 0) return -1;
		x->n[id].a = c1;
		x->n[id].b = c2;
		return id;
	}
	if (tok_is(t, "UID")) {
		struct tok *a;
		uint32_t max = s->f.n ? s->f.m[s->f.n - 1].uid : 0;
		if ((id = newnode(x, K_UIDSET)) < 0) return -1;
		a = tok_next(s);
		if (a->type != T_ATOM || !seqset_parse(a->p, a->n, &x->n[id].set)) return -1;
		if (x->n[id].set.searchres) return seqset_saved(s, &x->n[id].set, 1) ? id : -1;
		seqset_resolve(&x->n[id].set, max);
		return id;
	}
	if (tok_is(t, "MODSEQ")) {
		struct tok *a;
		if ((id = newnode(x, K_MODSEQ)) < 0) return -1;
		a = tok_next(s);
		if (a->type == T_STRING) { tok_next(s); a = tok_next(s); }   /* entry name and type: ignored */
		if (a->type != T_ATOM || !a->n || scan_ulong(a->p, a->n, &x->n[id].num) != a->n) return -1;
		x->needmodseq = 1;
		s->condstore = 1;
		return id;
	}
	/* a sequence set */
	if ((id = newnode(x, K_SET)) < 0) return -1;
	if (!seqset_parse(t->p, t->n, &x->n[id].set)) return -1;
	if (x->n[id].set.searchres) {
		/* "$": the saved result, which is kept as UIDs */
		x->n[id].op = K_UIDSET;
		return seqset_saved(s, &x->n[id].set, 1) ? id : -1;
	}
	seqset_resolve(&x->n[id].set, (uint32_t)s->f.n);
	return id;
}

/* ASCII case-insensitive substring. Not the naive double loop: a 1 MB
 * needle of "aaa...b" against a message of "aaa..." cost 10^11 steps per
 * message. The needle was folded to lower case when parsed (strarg); the
 * haystack is folded into scratch, then memmem (two-way, linear). */
static int contains(const char *h, size_t hn, const char *nd, size_t nn, str *scratch)
{
	size_t i;

	if (!nn) return 1;
	if (nn > hn) return 0;
	str_clear(scratch);
	if (!str_ready(scratch, hn)) return 0;
	for (i = 0; i < hn; i++) {
		char a = h[i];
		scratch->s[i] = a >= 'A' && a <= 'Z' ? (char)(a + 32) : a;
	}
	scratch->len = hn;
	return memmem(scratch->s, hn, nd, nn) != 0;
}

struct ctx {
	struct msg *m; size_t seq; const str *data; size_t hdrlen;
	const struct mime_tree *t;   /* the message's parts; 0 when unparsed */
	str tmp, low, dec;
};

/* RFC 9051 6.4.4: BODY and TEXT match the text as the user reads it, so
 * a word in a base64 or quoted-printable part must be found (Dovecot
 * does). Each leaf part is decoded by itself into one scratch buffer, no
 * larger than the part (both encodings only shrink), then matched; the
 * header of a message/rfc822 inside is text of the body too. Charsets are
 * matched byte-wise (UTF-8, US-ASCII, ISO-8859-1 as ASCII letters fold).
 * An encoding we do not know is matched as it stands. */
static int part_contains(struct ctx *c, const struct mime_part *p, const char *nd, size_t nn)
{
	const char *msg = c->data->s, *b = msg + p->body;
	size_t bn = p->bodylen;

	if (mime_header(msg + p->hdr, p->hdrlen, "content-transfer-encoding", &c->tmp)) {
		str_lower(&c->tmp);
		if ((str_0(&c->tmp) && (str_equals(&c->tmp, "base64") || str_equals(&c->tmp, "quoted-printable"))) &&
		    cte_decode(msg + p->hdr, p->hdrlen, b, bn, &c->dec)) {
			b = c->dec.s ? c->dec.s : "";
			bn = c->dec.len;
		}
	}
	return contains(b, bn, nd, nn, &c->low);
}

static int body_contains(struct ctx *c, const char *nd, size_t nn)
{
	size_t k;

	if (!c->t || !c->t->n)
		return contains(c->data->s + c->hdrlen, c->data->len - c->hdrlen, nd, nn, &c->low);
	for (k = 0; k < c->t->n; k++) {
		const struct mime_part *p = &c->t->p[k];
		/* the header of a message inside a message/rfc822 part */
		if (k && p->parent >= 0 && c->t->p[p->parent].ismsg &&
		    contains(c->data->s + p->hdr, p->hdrlen, nd, nn, &c->low)) return 1;
		if (p->child < 0 && part_contains(c, p, nd, nn)) return 1;
	}
	return 0;
}


static int eval(struct search *x, int id, struct ctx *c)
{
	struct node *nd = &x->n[id];
	struct folder *f = &x->s->f;
	long long day;

	switch (nd->op) {
	case K_ALL: return 1;
	case K_AND: {
		int k;
		for (k = nd->a; k >= 0; k = x->n[k].next) if (!eval(x, k, c)) return 0;
		return 1;
	}
	case K_OR: return eval(x, nd->a, c) || eval(x, nd->b, c);
	case K_NOT: return !eval(x, nd->a, c);
	case K_FLAG: return (c->m->flags & nd->flag) == nd->flag;
	case K_UNFLAG: return !(c->m->flags & nd->flag);
	case K_NEW: return (c->m->flags & F_RECENT) && !(c->m->flags & F_SEEN);
	case K_OLD: return !(c->m->flags & F_RECENT);
	case K_RECENT: return (c->m->flags & F_RECENT) != 0;
	case K_SET: return seqset_has(&nd->set, (uint32_t)c->seq);
	case K_UIDSET: return seqset_has(&nd->set, c->m->uid);
	case K_MODSEQ: return c->m->modseq >= nd->num;
	case K_LARGER: case K_SMALLER:
		if (!msg_stat(f, c->m)) return 0;
		return nd->op == K_LARGER ? c->m->size > nd->num : c->m->size < nd->num;
	case K_BEFORE: case K_ON: case K_SINCE:
		if (!msg_stat(f, c->m)) return 0;
		day = c->m->idate / 86400;
		goto cmpday;
	case K_SBEFORE: case K_SON: case K_SSINCE:
		if (!c->data || !mime_header(c->data->s, c->hdrlen, "date", &c->tmp)) return 0;
		day = header_day(c->tmp.s, c->tmp.len);
		if (day < 0) return 0;
		{
			int op = nd->op - K_SBEFORE + K_BEFORE;
			return op == K_BEFORE ? day < (long long)nd->num : op == K_ON ? day == (long long)nd->num : day >= (long long)nd->num;
		}
	cmpday:
		return nd->op == K_BEFORE ? day < (long long)nd->num : nd->op == K_ON ? day == (long long)nd->num : day >= (long long)nd->num;
	case K_HEADER: {
		size_t pos = 0, fl, nl;
		const char *fp;
		if (!c->data) return 0;
		while (mime_field_next(c->data->s, c->hdrlen, &pos, &fp, &fl, &nl)) {
			const char *v;
			if (nl != nd->hdrlen || strncasecmp(fp, nd->hdr, nl) != 0) continue;
			v = memchr(fp, ':', fl) + 1;
			if (contains(v, fl - (size_t)(v - fp), nd->arg, nd->arglen, &c->low)) return 1;
		}
		return 0;
	}
	case K_BODY:
		if (!c->data) return 0;
		return body_contains(c, nd->arg, nd->arglen);
	case K_TEXT:
		if (!c->data) return 0;
		return contains(c->data->s, c->hdrlen, nd->arg, nd->arglen, &c->low) ||
		       body_contains(c, nd->arg, nd->arglen);
	}
	return 0;
}

static void put_set(struct sess *s, const uint32_t *v, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1) j++;
		if (i) put(s, ",");
		putu(s, v[i]);
		if (j > i) { put(s, ":"); putu(s, v[j]); }
		i = j + 1;
	}
}

int search_command(struct sess *s, int uid)
{
	struct search x;
	struct folder *f = &s->f;
	int root = -1, prev = -1, esearch = 0, rmin = 0, rmax = 0, rcount = 0, rall = 0, rsave = 0;
	uint32_t *hits = 0;
	size_t nh = 0, i;
	unsigned long long maxmod = 0;
	str data = STR_ZERO;
	struct ctx c;

	memset(&x, 0, sizeof x);
	memset(&c, 0, sizeof c);
	x.s = s;
	x.n = calloc(SEARCH_NODES_MAX, sizeof *x.n);
	if (!x.n) { reply(s, "NO", "[SERVERBUG] out of memory"); return 0; }
	if (tok_atom(s, "RETURN")) {
		struct tok *t;
		esearch = 1;
		if (tok_next(s)->type != T_LP) { bad(s, "bad RETURN options"); goto out; }
		while ((t = tok_next(s))->type == T_ATOM) {
			if (tok_is(t, "MIN")) rmin = 1;
			else if (tok_is(t, "MAX")) rmax = 1;
			else if (tok_is(t, "COUNT")) rcount = 1;
			else if (tok_is(t, "ALL")) rall = 1;
			else if (tok_is(t, "SAVE")) rsave = 1;
			else { bad(s, "unknown RETURN option"); goto out; }
		}
		if (t->type != T_RP) { bad(s, "bad RETURN options"); goto out; }
		if (!rmin && !rmax && !rcount && !rall && !rsave) rall = 1;
	}
	/* IMAP4rev2 has no "* SEARCH": every answer is an ESEARCH */
	if (s->rev2 && !esearch) { esearch = 1; rall = 1; }
	if (tok_atom(s, "CHARSET")) {
		str cs = STR_ZERO;
		if (!tok_astring(s, &cs)) { bad(s, "charset expected"); goto out; }
		str_lower(&cs);
		if (!str_equals(&cs, "utf-8") && !str_equals(&cs, "us-ascii")) {
			str_free(&cs);
			reply(s, "NO", "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
			goto out;
		}
		str_free(&cs);
	}
	while (!tok_end(s)) {
		int k = parse_key(&x, 0);
		if (k < 0) { bad(s, "invalid search criteria"); goto out; }
		if (root < 0) { root = newnode(&x, K_AND); if (root < 0) { bad(s, "search too complex"); goto out; } x.n[root].a = k; }
		else x.n[prev].next = k;
		prev = k;
	}
	if (root < 0) { bad(s, "search criteria expected"); goto out; }
	hits = malloc((f->n ? f->n : 1) * sizeof *hits);
	if (!hits) { reply(s, "NO", "[SERVERBUG] out of memory"); goto out; }
	for (i = 0; i < f->n; i++) {
		struct mime_tree t = { 0, 0, 0, 0, 0 };
		c.m = &f->m[i];
		c.seq = i + 1;
		c.data = 0;
		c.t = 0;
		if (x.needfile && msg_read(s, f, c.m, &data)) {
			c.data = &data;
			if (mime_parse(data.s, data.len, &t) && t.n) { c.hdrlen = t.p[0].hdrlen; c.t = &t; }
			else c.hdrlen = data.len;
		}
		if (eval(&x, root, &c)) {
			hits[nh++] = uid ? c.m->uid : (uint32_t)(i + 1);
			if (c.m->modseq > maxmod) maxmod = c.m->modseq;
		}
		mime_free(&t);
	}
	if (rsave) {
		uint32_t *sv = malloc((nh ? nh : 1) * sizeof *sv);
		if (!sv) { reply(s, "NO", "[SERVERBUG] out of memory"); goto out; }
		for (i = 0; i < nh; i++) sv[i] = uid ? hits[i] : f->m[hits[i] - 1].uid;
		free(s->saved);
		s->saved = sv;
		s->nsaved = nh;
	}
	/* RFC 5182: SAVE alone returns no ESEARCH */
	if (esearch && rsave && !rmin && !rmax && !rcount && !rall) {
	} else if (esearch) {
		put(s, "* ESEARCH (TAG "); putq(s, s->c.tag, strlen(s->c.tag)); put(s, ")");
		if (uid) put(s, " UID");
		if (nh && rmin) { put(s, " MIN "); putu(s, hits[0]); }
		if (nh && rmax) { put(s, " MAX "); putu(s, hits[nh - 1]); }
		if (rcount) { put(s, " COUNT "); putu(s, nh); }
		if (nh && rall) { put(s, " ALL "); put_set(s, hits, nh); }
		if (nh && x.needmodseq) { put(s, " MODSEQ "); putu(s, maxmod); }
		put(s, "\r\n");
	} else {
		put(s, "* SEARCH");
		for (i = 0; i < nh; i++) { put(s, " "); putu(s, hits[i]); }
		if (nh && x.needmodseq) { put(s, " (MODSEQ "); putu(s, maxmod); put(s, ")"); }
		put(s, "\r\n");
	}
	/* a non-UID SEARCH may report new messages and flags, not EXPUNGE */
	sess_sync(s, uid);
	folder_save(f);
	reply(s, "OK", uid ? "UID SEARCH completed" : "SEARCH completed");
out:
	for (i = 0; i < x.nn; i++) seqset_free(&x.n[i].set);
	free(x.n);
	free(hits);
	str_free(&data);
	str_free(&c.tmp);
	str_free(&c.low);
	str_free(&c.dec);
	return 0;
}
