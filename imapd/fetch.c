/* fetch.c: FETCH and UID FETCH (RFC 9051 6.4.5, RFC 3516 BINARY, RFC 7162
 * CHANGEDSINCE). Section numbers and partial ranges are client numbers:
 * checked against 2^32-1 and the parts that exist, never wrapped
 * (BODY[4294967297] is BAD). Message files are the user's mail, parsed by
 * lib/mime within its limits. Runs as the mailbox owner. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "b64.h"
#include "imapd-fetch.h"
#include "log.h"
#include "scan.h"

#define FETCH_ITEMS_MAX 64
#define SECTION_PARTS_MAX 32

enum { I_FLAGS, I_UID, I_IDATE, I_SIZE, I_ENV, I_BODY, I_BS, I_SECT, I_BINSIZE, I_MODSEQ,
       I_RFC822, I_RFC822H, I_RFC822T };
enum { SX_NONE, SX_HEADER, SX_FIELDS, SX_FIELDSNOT, SX_TEXT, SX_MIME };

struct fitem {
	int kind;
	int peek, binary;
	uint32_t part[SECTION_PARTS_MAX];
	size_t nparts;
	int sx;
	const char *fields;   /* "(A B)" list inside the section text */
	size_t fieldslen;
	int partial;
	unsigned long long pstart, plen;
	const char *echo;     /* section text as the client wrote it */
	size_t echolen;
};

int msg_read(struct sess *s, struct folder *f, struct msg *m, str *out)
{
	str p = STR_ZERO;
	int fd;
	struct stat st;

	str_clear(out);
	if (!msg_path(f, m, &p)) return 0;
	fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	str_free(&p);
	if (fd < 0) { f->curmt = -1; return 0; }  /* gone or renamed: rescan next time */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !str_ready(out, (size_t)st.st_size)) { close(fd); return 0; }
	while (out->len < (size_t)st.st_size) {
		ssize_t r = read(fd, out->s + out->len, (size_t)st.st_size - out->len);
		if (r <= 0) break;
		out->len += (size_t)r;
	}
	close(fd);
	/* IMAP speaks CRLF; Maildir files often hold bare LF */
	{
		size_t i, bare = 0;
		for (i = 0; i < out->len; i++) if (out->s[i] == '\n' && (i == 0 || out->s[i - 1] != '\r')) bare++;
		if (bare) {
			str c = STR_ZERO;
			if (!str_ready(&c, out->len + bare)) { str_free(&c); return 0; }
			for (i = 0; i < out->len; i++) {
				if (out->s[i] == '\n' && (i == 0 || out->s[i - 1] != '\r')) c.s[c.len++] = '\r';
				c.s[c.len++] = out->s[i];
			}
			str_free(out);
			*out = c;
		}
	}
	if (m->size == (uint64_t)-1 || m->idate < 0) {
		m->size = out->len;
		m->idate = (int64_t)st.st_mtime;
		msg_dirty(f, m);
	}
	str_0(out);
	return 1;
}

static int hexv(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

int cte_decode(const char *h, size_t hn, const char *b, size_t bn, str *out)
{
	str v = STR_ZERO;
	size_t i;
	int r = 1;

	str_clear(out);
	if (!mime_header(h, hn, "content-transfer-encoding", &v) || !v.len) str_copys(&v, "7bit");
	str_lower(&v);
	str_0(&v);
	if (str_equals(&v, "7bit") || str_equals(&v, "8bit") || str_equals(&v, "binary")) {
		str_append(out, b, bn);
	} else if (str_equals(&v, "base64")) {
		unsigned acc = 0, nb = 0;
		for (i = 0; i < bn; i++) {
			int x = b64_value((unsigned char)b[i]);
			if (x < 0) continue;     /* line breaks, padding, junk: skipped (lenient) */
			acc = (acc << 6) | (unsigned)x;
			nb += 6;
			if (nb >= 8) { nb -= 8; str_appendc(out, (char)((acc >> nb) & 0xff)); }
		}
	} else if (str_equals(&v, "quoted-printable")) {
		for (i = 0; i < bn; i++) {
			if (b[i] == '=' && i + 1 < bn) {
				if (b[i + 1] == '\r' && i + 2 < bn && b[i + 2] == '\n') { i += 2; continue; }
				if (b[i + 1] == '\n') { i += 1; continue; }
				if (i + 2 < bn && hexv((unsigned char)b[i + 1]) >= 0 && hexv((unsigned char)b[i + 2]) >= 0) {
					str_appendc(out, (char)(hexv((unsigned char)b[i + 1]) << 4 | hexv((unsigned char)b[i + 2])));
					i += 2;
					continue;
				}
			}
			str_appendc(out, b[i]);
		}
	} else r = 0;
	str_free(&v);
	return r;
}

#define HDR_CHUNK 8192

/* only the header of a message, in CRLF form, for ENVELOPE: FETCH 1:50
 * (FLAGS ENVELOPE) read and converted every body for nothing */
static int msg_read_header(struct folder *f, const struct msg *m, str *out, size_t *he)
{
	str p = STR_ZERO, raw = STR_ZERO;
	int fd, ok = 0;
	struct stat st;
	size_t e = 0, i;

	str_clear(out);
	if (!msg_path(f, m, &p)) { str_free(&p); return 0; }
	fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	str_free(&p);
	if (fd < 0) { f->curmt = -1; return 0; }
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) goto out;
	for (;;) {
		/* chunks that double: each pass looks at everything from the
		 * start, and the passes stay linear in all */
		size_t want = raw.len > HDR_CHUNK ? raw.len : HDR_CHUNK;
		ssize_t r;
		if (!str_ready(&raw, raw.len + want)) goto out;
		r = read(fd, raw.s + raw.len, want);
		if (r < 0) goto out;
		raw.len += (size_t)r;
		e = mime_header_end(raw.s, raw.len);
		if (r == 0 || e < raw.len) break;
	}
	if (!str_ready(out, 2 * e + 1)) goto out;
	for (i = 0; i < e; i++) {
		if (raw.s[i] == '\n' && (i == 0 || raw.s[i - 1] != '\r')) out->s[out->len++] = '\r';
		out->s[out->len++] = raw.s[i];
	}
	*he = out->len;
	str_0(out);
	ok = 1;
out:
	close(fd);
	str_free(&raw);
	return ok;
}

int arg_seqset(struct sess *s, int uid, struct seqset *set)
{
	struct tok *t = tok_next(s);
	uint32_t max;
	size_t i;

	if (t->type != T_ATOM || !seqset_parse(t->p, t->n, set)) {
		bad(s, "invalid sequence set");
		return 0;
	}
	if (set->searchres) {
		if (!seqset_saved(s, set, uid)) { reply(s, "NO", "[SERVERBUG] out of memory"); return 0; }
		return 1;
	}
	max = uid ? (s->f.n ? s->f.m[s->f.n - 1].uid : 0) : (uint32_t)s->f.n;
	/* "*" in a UID set of an empty mailbox matches nothing; a message
	 * sequence number, "*" included, names no message of an empty one:
	 * BAD (RFC 9051 9, seq-number) */
	if (!uid && !s->f.n) { bad(s, "no messages: no sequence number is valid"); return 0; }
	seqset_resolve(set, max);
	if (!uid)
		for (i = 0; i < set->n; i++)
			if (!set->r[i].lo || set->r[i].lo > s->f.n) { bad(s, "no such message sequence number"); return 0; }
	return 1;
}

int in_set(struct sess *s, const struct seqset *set, size_t i, int uid)
{
	return seqset_has(set, uid ? s->f.m[i].uid : (uint32_t)(i + 1));
}

static int parse_section(struct sess *s, struct fitem *it, const char *p, size_t n)
{
	size_t i = 0;
	unsigned long long v;

	it->echo = p;
	it->echolen = n;
	while (i < n && p[i] >= '0' && p[i] <= '9') {
		size_t u = scan_ulong_max(p + i, n - i, 0xffffffffULL, &v);
		if (!u || v == 0 || it->nparts >= SECTION_PARTS_MAX) return 0;
		it->part[it->nparts++] = (uint32_t)v;
		i += u;
		if (i < n && p[i] == '.') i++;
		else break;
	}
	if (i == n) { it->sx = SX_NONE; return i == 0 || p[i - 1] != '.'; }
	if (it->binary) return 0;
	if (n - i == 6 && strncasecmp(p + i, "HEADER", 6) == 0) it->sx = SX_HEADER;
	else if (n - i == 4 && strncasecmp(p + i, "TEXT", 4) == 0) it->sx = SX_TEXT;
	else if (n - i == 4 && strncasecmp(p + i, "MIME", 4) == 0 && it->nparts) it->sx = SX_MIME;
	else if (n - i > 18 && strncasecmp(p + i, "HEADER.FIELDS.NOT ", 18) == 0) {
		it->sx = SX_FIELDSNOT; it->fields = p + i + 18; it->fieldslen = n - i - 18;
	} else if (n - i > 14 && strncasecmp(p + i, "HEADER.FIELDS ", 14) == 0) {
		it->sx = SX_FIELDS; it->fields = p + i + 14; it->fieldslen = n - i - 14;
	} else return 0;
	if (it->fields && (it->fieldslen < 3 || it->fields[0] != '(' || it->fields[it->fieldslen - 1] != ')')) return 0;
	return 1;
}

/* BODY[...]<a.b>, BODY.PEEK[...], BINARY[...], BINARY.PEEK[...], BINARY.SIZE[...] */
static int parse_bodyitem(struct sess *s, struct fitem *it, const struct tok *t)
{
	const char *p = t->p, *lb = memchr(t->p, '[', t->n), *rb;
	size_t pre;

	if (!lb) return 0;
	pre = (size_t)(lb - p);
	rb = memrchr(p, ']', t->n);
	if (!rb || rb < lb) return 0;
	if (pre == 4 && strncasecmp(p, "BODY", 4) == 0) it->kind = I_SECT;
	else if (pre == 9 && strncasecmp(p, "BODY.PEEK", 9) == 0) { it->kind = I_SECT; it->peek = 1; }
	else if (pre == 6 && strncasecmp(p, "BINARY", 6) == 0) { it->kind = I_SECT; it->binary = 1; }
	else if (pre == 11 && strncasecmp(p, "BINARY.PEEK", 11) == 0) { it->kind = I_SECT; it->binary = 1; it->peek = 1; }
	else if (pre == 11 && strncasecmp(p, "BINARY.SIZE", 11) == 0) { it->kind = I_BINSIZE; it->binary = 1; }
	else return 0;
	if (!parse_section(s, it, lb + 1, (size_t)(rb - lb - 1))) return 0;
	if ((size_t)(rb + 1 - p) < t->n) {
		const char *q = rb + 1, *e = p + t->n;
		size_t u;
		if (it->kind == I_BINSIZE || *q != '<' || e[-1] != '>') return 0;
		q++;
		u = scan_ulong_max(q, (size_t)(e - q), 0xffffffffULL, &it->pstart);
		if (!u || q[u] != '.') return 0;
		q += u + 1;
		u = scan_ulong_max(q, (size_t)(e - q), 0xffffffffULL, &it->plen);
		if (!u || q + u != e - 1 || it->plen == 0) return 0;
		it->partial = 1;
	}
	return 1;
}

static int add_item(struct fitem *items, size_t *n, int kind)
{
	if (*n >= FETCH_ITEMS_MAX) return 0;
	memset(&items[*n], 0, sizeof items[*n]);
	items[(*n)++].kind = kind;
	return 1;
}

static int parse_item(struct sess *s, struct fitem *items, size_t *n, const struct tok *t)
{
	static const struct { const char *name; int kind; } simple[] = {
		{ "FLAGS", I_FLAGS }, { "UID", I_UID }, { "INTERNALDATE", I_IDATE },
		{ "RFC822.SIZE", I_SIZE }, { "ENVELOPE", I_ENV }, { "BODY", I_BODY },
		{ "BODYSTRUCTURE", I_BS }, { "MODSEQ", I_MODSEQ }, { "RFC822", I_RFC822 },
		{ "RFC822.HEADER", I_RFC822H }, { "RFC822.TEXT", I_RFC822T },
	};
	size_t i;

	if (t->type != T_ATOM) return 0;
	for (i = 0; i < sizeof simple / sizeof simple[0]; i++)
		if (tok_is(t, simple[i].name)) {
			if (simple[i].kind == I_MODSEQ) s->condstore = 1;
			return add_item(items, n, simple[i].kind);
		}
	if (*n >= FETCH_ITEMS_MAX) return 0;
	memset(&items[*n], 0, sizeof items[*n]);
	if (!parse_bodyitem(s, &items[*n], t)) return 0;
	(*n)++;
	return 1;
}

/* the entity a section's part numbers name; -1 when there is none */
static int find_part(const struct mime_tree *t, const struct fitem *it)
{
	int cur = 0;
	size_t k;

	for (k = 0; k < it->nparts; k++) {
		int e = cur, c;
		uint32_t want = it->part[k], i = 1;
		if (e != 0 && t->p[e].ismsg) { e = t->p[e].child; if (e < 0) return -1; }
		if (!t->p[e].ismulti) {
			if (want != 1) return -1;
			cur = e;
			continue;
		}
		for (c = t->p[e].child; c >= 0 && i < want; c = t->p[c].next) i++;
		if (c < 0) return -1;
		cur = c;
	}
	return cur;
}

static int field_listed(const char *list, size_t ln, const char *name, size_t n)
{
	size_t i = 1;
	while (i < ln - 1) {
		size_t st, e;
		while (i < ln - 1 && list[i] == ' ') i++;
		st = i;
		if (i < ln - 1 && list[i] == '"') {
			st = ++i;
			while (i < ln - 1 && list[i] != '"') i++;
			e = i++;
		} else {
			while (i < ln - 1 && list[i] != ' ') i++;
			e = i;
		}
		if (e - st == n && strncasecmp(list + st, name, n) == 0) return 1;
	}
	return 0;
}

/* the bytes of a section into out; 0 when the part does not exist */
static int section_bytes(struct sess *s, const struct mime_tree *t, const struct fitem *it, str *out, int *nocte)
{
	int e = find_part(t, it), m;
	const struct mime_part *p;

	str_clear(out);
	if (e < 0) return 0;
	p = &t->p[e];
	switch (it->sx) {
	case SX_NONE:
		if (!it->nparts) return str_append(out, t->msg, t->len), 1;
		if (it->binary) {
			if (!cte_decode(t->msg + p->hdr, p->hdrlen, t->msg + p->body, p->bodylen, out)) { *nocte = 1; return 0; }
			return 1;
		}
		str_append(out, t->msg + p->body, p->bodylen);
		return 1;
	case SX_MIME:
		str_append(out, t->msg + p->hdr, p->hdrlen);
		return 1;
	default:
		break;
	}
	/* HEADER, TEXT, HEADER.FIELDS apply to a message: the root or an rfc822 part */
	m = e;
	if (it->nparts) {
		if (!p->ismsg || p->child < 0) return 0;
		m = p->child;
	}
	p = &t->p[m];
	if (it->sx == SX_TEXT) { str_append(out, t->msg + p->body, p->bodylen); return 1; }
	if (it->sx == SX_HEADER) { str_append(out, t->msg + p->hdr, p->hdrlen); return 1; }
	{
		size_t pos = 0, fl, nl;
		const char *f;
		while (mime_field_next(t->msg + p->hdr, p->hdrlen, &pos, &f, &fl, &nl)) {
			int listed = field_listed(it->fields, it->fieldslen, f, nl);
			if (listed == (it->sx == SX_FIELDS)) str_append(out, f, fl);
		}
		str_append(out, "\r\n", 2);
	}
	return 1;
}

static void put_idate(struct sess *s, int64_t t)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t tt = (time_t)t;
	char b[40];
	size_t n = 0;

	/* the date comes from the index or an mtime: out of gmtime's range (or
	 * past year 9999) tm would be garbage and mon[] read out of bounds */
	if (t < 0 || t > 253402300799LL || !gmtime_r(&tt, &tm)) { tt = 0; gmtime_r(&tt, &tm); }
	b[n++] = '"';
	b[n++] = (char)(tm.tm_mday >= 10 ? '0' + tm.tm_mday / 10 : ' ');
	b[n++] = (char)('0' + tm.tm_mday % 10);
	b[n++] = '-';
	memcpy(b + n, mon[tm.tm_mon], 3); n += 3;
	b[n++] = '-';
	{
		int y = tm.tm_year + 1900;
		b[n++] = (char)('0' + y / 1000 % 10); b[n++] = (char)('0' + y / 100 % 10);
		b[n++] = (char)('0' + y / 10 % 10); b[n++] = (char)('0' + y % 10);
	}
	b[n++] = ' ';
	b[n++] = (char)('0' + tm.tm_hour / 10); b[n++] = (char)('0' + tm.tm_hour % 10); b[n++] = ':';
	b[n++] = (char)('0' + tm.tm_min / 10); b[n++] = (char)('0' + tm.tm_min % 10); b[n++] = ':';
	b[n++] = (char)('0' + tm.tm_sec / 10); b[n++] = (char)('0' + tm.tm_sec % 10);
	memcpy(b + n, " +0000\"", 7); n += 7;
	putn(s, b, n);
}

static void put_literal(struct sess *s, const char *p, size_t n, int bin)
{
	int nul = memchr(p, 0, n) != 0;
	if (bin && nul) put(s, "~");
	put(s, "{"); putu(s, n); put(s, "}\r\n");
	if (nul && !bin) putn_nonul(s, p, n);
	else putn(s, p, n);
}

int fetch_command(struct sess *s, int uid)
{
	struct seqset set = { 0, 0, 0, 0 };
	struct fitem items[FETCH_ITEMS_MAX];
	size_t n = 0, i, k;
	struct tok *t;
	int needfile = 0, needmime = 0, failed = 0, setseen = 0, lk = -1, hdronly = 1, vanished = 0;
	size_t hdrlen = 0;
	unsigned long long changedsince = 0;
	int havechanged = 0;
	str data = STR_ZERO, sec = STR_ZERO;
	struct mime_tree tree = { 0, 0, 0, 0, 0 };
	struct folder *f = &s->f;

	if (!arg_seqset(s, uid, &set)) goto out;
	t = tok_next(s);
	if (t->type == T_ATOM && (tok_is(t, "ALL") || tok_is(t, "FAST") || tok_is(t, "FULL"))) {
		add_item(items, &n, I_FLAGS); add_item(items, &n, I_IDATE); add_item(items, &n, I_SIZE);
		if (!tok_is(t, "FAST")) add_item(items, &n, I_ENV);
		if (tok_is(t, "FULL")) add_item(items, &n, I_BODY);
	} else if (t->type == T_LP) {
		while ((t = tok_next(s))->type == T_ATOM)
			if (!parse_item(s, items, &n, t)) { bad(s, "invalid fetch item"); goto out; }
		if (t->type != T_RP || !n) { bad(s, "invalid fetch item list"); goto out; }
	} else if (!parse_item(s, items, &n, t)) { bad(s, "invalid fetch item"); goto out; }
	if (tok_peek(s)->type == T_LP) {
		tok_next(s);
		while ((t = tok_next(s))->type == T_ATOM) {
			if (tok_is(t, "CHANGEDSINCE")) {
				t = tok_next(s);
				if (t->type != T_ATOM || scan_ulong(t->p, t->n, &changedsince) != t->n || !t->n) { bad(s, "bad CHANGEDSINCE"); goto out; }
				havechanged = 1;
				s->condstore = 1;
			} else if (tok_is(t, "VANISHED")) {
				/* RFC 7162 3.2.6: UID FETCH only, QRESYNC enabled */
				if (!uid || !s->qresync) { bad(s, uid ? "QRESYNC not enabled" : "VANISHED needs UID FETCH"); goto out; }
				vanished = 1;
			}
			else { bad(s, "unknown FETCH modifier"); goto out; }
		}
		if (t->type != T_RP) { bad(s, "bad FETCH modifiers"); goto out; }
	}
	if (!tok_end(s)) { bad(s, "extra arguments"); goto out; }
	if (vanished && !havechanged) { bad(s, "VANISHED needs CHANGEDSINCE"); goto out; }
	if (vanished && !set.searchres) put_vanished_earlier(s, f, &set);
	if (uid && !havechanged) { for (k = 0; k < n && items[k].kind != I_UID; k++) {} if (k == n) add_item(items, &n, I_UID); }
	if (s->condstore || havechanged) { for (k = 0; k < n && items[k].kind != I_MODSEQ; k++) {} if (k == n) add_item(items, &n, I_MODSEQ); }
	if (havechanged && uid) { for (k = 0; k < n && items[k].kind != I_UID; k++) {} if (k == n) add_item(items, &n, I_UID); }
	for (k = 0; k < n; k++) {
		int kd = items[k].kind;
		if (kd == I_BODY || kd == I_BS || kd == I_SECT || kd == I_BINSIZE ||
		    kd == I_RFC822 || kd == I_RFC822H || kd == I_RFC822T) hdronly = 0;
		if (kd == I_ENV || kd == I_BODY || kd == I_BS || kd == I_SECT || kd == I_BINSIZE ||
		    kd == I_RFC822 || kd == I_RFC822H || kd == I_RFC822T) needfile = 1;
		if (kd == I_BODY || kd == I_BS || kd == I_SECT || kd == I_BINSIZE) needmime = 1;
		if ((kd == I_SECT && !items[k].peek) || kd == I_RFC822 || kd == I_RFC822T) setseen = 1;
	}
	if (s->readonly) setseen = 0;
	/* \Seen set here takes a MODSEQ: under the lock, as STORE */
	if (setseen) {
		lk = folder_wlock(s, f, 1, uid ? 1 : 2);
		if (lk < 0) { reply(s, "NO", "[UNAVAILABLE] unable to read the mailbox"); goto out; }
	}
	for (i = 0; i < f->n; i++) {
		struct msg *m = &f->m[i];
		int first = 1, seenchanged = 0;
		if (!in_set(s, &set, i, uid)) continue;
		if (havechanged && m->modseq <= changedsince) continue;
		if (needfile && !(hdronly ? msg_read_header(f, m, &data, &hdrlen) : msg_read(s, f, m, &data))) { failed = 1; continue; }
		if (needmime) { mime_free(&tree); if (!mime_parse(data.s, data.len, &tree)) { failed = 1; continue; } }
		if (setseen && !(m->flags & F_SEEN)) {
			if (msg_setflags(s, f, m, m->flags | F_SEEN)) seenchanged = 1;
		}
		put(s, "* "); putu(s, i + 1); put(s, " FETCH (");
#define SEP() do { if (!first) put(s, " "); first = 0; } while (0)
		for (k = 0; k < n; k++) {
			struct fitem *it = &items[k];
			switch (it->kind) {
			case I_FLAGS: SEP(); put(s, "FLAGS "); put_flags(s, f, m->flags); break;
			case I_UID: SEP(); put(s, "UID "); putu(s, m->uid); break;
			case I_MODSEQ: SEP(); put(s, "MODSEQ ("); putu(s, m->modseq); put(s, ")"); break;
			case I_IDATE:
				if (m->idate < 0 || m->size == (uint64_t)-1) {
					if (!msg_stat(f, m)) { f->curmt = -1; m->idate = 0; }
					else msg_dirty(f, m);
				}
				SEP(); put(s, "INTERNALDATE "); put_idate(s, m->idate); break;
			case I_SIZE:
				if (m->idate < 0 || m->size == (uint64_t)-1) {
					if (!msg_stat(f, m)) { f->curmt = -1; m->size = 0; }
					else msg_dirty(f, m);
				}
				SEP(); put(s, "RFC822.SIZE "); putu(s, m->size); break;
			case I_ENV: {
				size_t he = 0;
				struct mime_tree ht = { 0, 0, 0, 0, 0 };
				if (hdronly) he = hdrlen;
				else if (needmime) he = tree.p[0].hdrlen;
				else { mime_parse(data.s, data.len, &ht); he = ht.n ? ht.p[0].hdrlen : 0; mime_free(&ht); }
				SEP(); put(s, "ENVELOPE "); put_envelope(s, data.s, he);
				break;
			}
			case I_BODY: SEP(); put(s, "BODY "); put_bodystructure(s, &tree, 0, 0); break;
			case I_BS: SEP(); put(s, "BODYSTRUCTURE "); put_bodystructure(s, &tree, 0, 1); break;
			case I_RFC822: SEP(); put(s, "RFC822 "); put_literal(s, data.s, data.len, 0); break;
			case I_RFC822H: case I_RFC822T: {
				struct mime_tree ht = { 0, 0, 0, 0, 0 };
				size_t he;
				mime_parse(data.s, data.len, &ht);
				he = ht.n ? ht.p[0].hdrlen : 0;
				mime_free(&ht);
				SEP();
				if (it->kind == I_RFC822H) { put(s, "RFC822.HEADER "); put_literal(s, data.s, he, 0); }
				else { put(s, "RFC822.TEXT "); put_literal(s, data.s + he, data.len - he, 0); }
				break;
			}
			case I_SECT: case I_BINSIZE: {
				int nocte = 0, have = section_bytes(s, &tree, it, &sec, &nocte);
				const char *p = sec.s ? sec.s : "";
				size_t len = sec.len;
				if (nocte) { failed = 2; break; }
				SEP();
				if (it->kind == I_BINSIZE) {
					put(s, "BINARY.SIZE["); putn(s, it->echo, it->echolen); put(s, "] ");
					putu(s, len);
					break;
				}
				put(s, it->binary ? "BINARY[" : "BODY[");
				putn(s, it->echo, it->echolen);
				put(s, "]");
				if (it->partial) {
					put(s, "<"); putu(s, it->pstart); put(s, ">");
					if (it->pstart >= len) len = 0;
					else {
						p += it->pstart;
						len -= (size_t)it->pstart;
						if (len > it->plen) len = (size_t)it->plen;
					}
				}
				put(s, " ");
				if (!have) put(s, it->binary ? "NIL" : "\"\"");
				else put_literal(s, p, len, it->binary);
				break;
			}
			}
		}
		if (seenchanged) {
			for (k = 0; k < n && items[k].kind != I_FLAGS; k++) {}
			if (k == n) { SEP(); put(s, "FLAGS "); put_flags(s, f, m->flags); }
		}
#undef SEP
		put(s, ")\r\n");
	}
	if (lk >= 0) { folder_wunlock(f, lk); lk = -1; }
	/* what other sessions changed: a non-UID FETCH may not say EXPUNGE
	 * (RFC 9051 7.4.1), but new messages and flags it may and should */
	if (!failed) sess_sync(s, uid);
	folder_save(f);
	if (failed == 2) reply(s, "NO", "[UNKNOWN-CTE] unknown content transfer encoding");
	else if (failed) reply(s, "NO", "[EXPUNGEISSUED] some messages could not be read");
	else reply(s, "OK", uid ? "UID FETCH completed" : "FETCH completed");
out:
	if (lk >= 0) folder_wunlock(f, lk);
	mime_free(&tree);
	str_free(&data); str_free(&sec);
	seqset_free(&set);
	return 0;
}
