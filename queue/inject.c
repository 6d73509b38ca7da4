/* inject.c: facteur-sendmail's message handling (see inject.h). Every
 * byte comes from a local user and is treated as untrusted: the header
 * block is bounded, addresses go through the strict grammar of addr.h
 * before they reach an envelope, the body is streamed without a length
 * limit of its own (facteur-queue and the disk bound it). Runs as the
 * calling user. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include "addr.h"
#include "fmt.h"
#include "inject.h"

void inject_free(struct inject *in)
{
	str_free(&in->sender);
	str_free(&in->fullname);
	str_free(&in->me);
	str_free(&in->from);
	str_free(&in->rcpts);
	str_free(&in->hdr);
	str_free(&in->firstbody);
}

static int add_addr(struct inject *in, str *a)
{
	struct addr p = { STR_ZERO, 0, 0, 0, 0 };
	str path = STR_ZERO;
	size_t used = 0;
	int r = INJECT_OK;

	if (a->len == 0) return INJECT_OK;
	if (!memchr(a->s, '@', a->len) &&
	    (!str_appendc(a, '@') || !str_append(a, in->me.s, in->me.len))) return INJECT_NOMEM;
	if (!str_copys(&path, "<") || !str_append(&path, a->s, a->len) || !str_appendc(&path, '>'))
		return INJECT_NOMEM;
	if (addr_parse_path(path.s, path.len, ADDR_F_UTF8, &p, &used) != ADDR_OK || used != path.len ||
	    p.mailbox.len == 0) {
		in->why = "bad address";
		r = INJECT_BADADDR;
	} else if (in->nrcpt >= INJECT_RCPT_MAX) {
		in->why = "too many recipients";
		r = INJECT_TOOBIG;
	} else if (!str_append(&in->rcpts, p.mailbox.s, p.mailbox.len) || !str_appendc(&in->rcpts, 0)) {
		r = INJECT_NOMEM;
	} else {
		in->nrcpt++;
	}
	addr_free(&p);
	str_free(&path);
	return r;
}

/* finish one list item: the angle address if there was one, else the
 * plain text with comments and spaces removed */
static int item_done(struct inject *in, str *cur, str *ang, int *has_ang)
{
	str *a = *has_ang ? ang : cur;
	int r;

	if (*has_ang && a->len && a->s[0] == '@') {
		/* an obsolete source route "@a,@b:user@c" */
		char *colon = memchr(a->s, ':', a->len);
		if (colon) {
			size_t skip = (size_t)(colon - a->s) + 1;
			memmove(a->s, a->s + skip, a->len - skip);
			a->len -= skip;
		}
	}
	r = add_addr(in, a);
	str_clear(cur);
	str_clear(ang);
	*has_ang = 0;
	return r;
}

int inject_addrlist(struct inject *in, const char *s, size_t n)
{
	str cur = STR_ZERO, ang = STR_ZERO;
	int has_ang = 0, in_ang = 0, quote = 0, lit = 0, r = INJECT_OK;
	size_t depth = 0, i;

	for (i = 0; i < n && r == INJECT_OK; i++) {
		char c = s[i];
		str *dst = in_ang ? &ang : &cur;
		if (depth) {
			if (c == '\\') i++;
			else if (c == '(') depth++;
			else if (c == ')') depth--;
			continue;
		}
		if (quote) {
			if (!str_appendc(dst, c)) r = INJECT_NOMEM;
			if (c == '\\' && i + 1 < n) { if (!str_appendc(dst, s[++i])) r = INJECT_NOMEM; }
			else if (c == '"') quote = 0;
			continue;
		}
		if (lit) {
			if (c == ']') lit = 0;
			if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && !str_appendc(dst, c)) r = INJECT_NOMEM;
			continue;
		}
		switch (c) {
		case '"': quote = 1; if (!str_appendc(dst, c)) r = INJECT_NOMEM; break;
		case '(': depth = 1; break;
		case '[': lit = 1; if (!str_appendc(dst, c)) r = INJECT_NOMEM; break;
		case ' ': case '\t': case '\r': case '\n': break;
		case '<':
			if (in_ang) { if (!str_appendc(dst, c)) r = INJECT_NOMEM; break; }
			in_ang = has_ang = 1;
			str_clear(&ang);
			break;
		case '>':
			if (in_ang) in_ang = 0;
			else if (!str_appendc(dst, c)) r = INJECT_NOMEM;
			break;
		case ':':
			/* a group's display name ends here */
			if (in_ang) { if (!str_appendc(dst, c)) r = INJECT_NOMEM; }
			else str_clear(&cur);
			break;
		case ',': case ';':
			if (in_ang) { if (!str_appendc(dst, c)) r = INJECT_NOMEM; }
			else r = item_done(in, &cur, &ang, &has_ang);
			break;
		default:
			if (!str_appendc(dst, c)) r = INJECT_NOMEM;
		}
	}
	if (r == INJECT_OK && (quote || in_ang)) { in->why = "bad address"; r = INJECT_BADADDR; }
	if (r == INJECT_OK) r = item_done(in, &cur, &ang, &has_ang);
	str_free(&cur);
	str_free(&ang);
	return r;
}

static int name_is(const str *f, size_t nl, const char *want)
{
	return nl == strlen(want) && strncasecmp(f->s, want, nl) == 0;
}

struct seen { int date, msgid, from; };

/* one complete header field (name: value, continuation lines included) */
static int field_done(struct inject *in, str *f, struct seen *seen)
{
	char *colon;
	size_t nl;
	int r = INJECT_OK, addrs, keep = 1;

	if (!f->len) return INJECT_OK;
	colon = memchr(f->s, ':', f->len);
	nl = (size_t)(colon - f->s);
	while (nl && (f->s[nl - 1] == ' ' || f->s[nl - 1] == '\t')) nl--;
	addrs = name_is(f, nl, "to") || name_is(f, nl, "cc") || name_is(f, nl, "bcc");
	if (name_is(f, nl, "bcc")) keep = 0;
	if (name_is(f, nl, "date")) seen->date = 1;
	if (name_is(f, nl, "message-id")) seen->msgid = 1;
	if (name_is(f, nl, "from")) seen->from = 1;
	if (in->tflag && addrs) {
		size_t off = (size_t)(colon - f->s) + 1;
		r = inject_addrlist(in, f->s + off, f->len - off);
	}
	if (r == INJECT_OK && keep && !str_append(&in->hdr, f->s, f->len)) r = INJECT_NOMEM;
	str_clear(f);
	return r;
}

static int header_line(const str *l)
{
	size_t i;

	for (i = 0; i < l->len; i++) {
		unsigned char c = (unsigned char)l->s[i];
		if (c == ':') return i > 0;
		if (c <= ' ' || c >= 0x7f) return 0;
	}
	return 0;
}

/* a display name safe in a From: header: a quoted string */
static int put_name(str *o, const str *name)
{
	size_t i;

	if (!str_appendc(o, '"')) return 0;
	for (i = 0; i < name->len; i++) {
		char c = name->s[i];
		if ((unsigned char)c < 0x20 || c == 0x7f) continue;
		if ((c == '"' || c == '\\') && !str_appendc(o, '\\')) return 0;
		if (!str_appendc(o, c)) return 0;
	}
	return str_append(o, "\" ", 2);
}

static int add_missing(struct inject *in, const struct seen *seen, unsigned long long now)
{
	str *h = &in->hdr;

	if (!seen->from) {
		if (!str_appends(h, "From: ")) return INJECT_NOMEM;
		if (in->fullname.len && !put_name(h, &in->fullname)) return INJECT_NOMEM;
		if (!str_appendc(h, '<') || !str_append(h, in->from.s, in->from.len) ||
		    !str_append(h, ">\n", 2)) return INJECT_NOMEM;
	}
	if (!seen->date) {
		char d[FMT_DATE];
		fmt_date822(d, (time_t)now);
		if (!str_appends(h, "Date: ") || !str_appends(h, d) || !str_appendc(h, '\n'))
			return INJECT_NOMEM;
	}
	if (!seen->msgid) {
		str id = STR_ZERO;
		int ok = uniq_make(&id) && str_appends(h, "Message-ID: <") &&
		         str_append(h, id.s, id.len) && str_appendc(h, '@') &&
		         str_append(h, in->me.s, in->me.len) && str_append(h, ">\n", 2);
		str_free(&id);
		if (!ok) return INJECT_NOMEM;
	}
	return INJECT_OK;
}

int inject_headers(struct inject *in, bufin *b, unsigned long long now)
{
	str line = STR_ZERO, f = STR_ZERO;
	struct seen seen = { 0, 0, 0 };
	size_t total = 0;
	int r = INJECT_OK, first = 1;

	for (;;) {
		int g = bufin_getline(b, &line, INJECT_HEADER_MAX);
		if (g == BUF_ERR) { in->why = "unable to read the message"; r = INJECT_IOERR; break; }
		if (g == BUF_TOOLONG) { in->why = "header line too long"; r = INJECT_TOOBIG; break; }
		if (g == BUF_EOF) {
			if (!line.len) { in->ended = 1; break; }
			if (!str_appendc(&line, '\n')) { r = INJECT_NOMEM; break; }
		}
		if (line.len >= 2 && line.s[line.len - 2] == '\r') {
			line.s[line.len - 2] = '\n';
			line.len--;
		}
		total += line.len;
		if (total > INJECT_HEADER_MAX) { in->why = "header too large"; r = INJECT_TOOBIG; break; }
		if (!in->iflag && line.len == 2 && line.s[0] == '.') { in->ended = 1; break; }
		if (first && line.len >= 5 && memcmp(line.s, "From ", 5) == 0) { first = 0; continue; }
		first = 0;
		if (line.len == 1) break;   /* the empty line: body follows */
		if ((line.s[0] == ' ' || line.s[0] == '\t') && f.len) {
			if (!str_append(&f, line.s, line.len)) { r = INJECT_NOMEM; break; }
			continue;
		}
		if ((r = field_done(in, &f, &seen)) != INJECT_OK) break;
		if (!header_line(&line)) {
			/* no empty line before the body: keep this line for it */
			if (!str_copy(&in->firstbody, line.s, line.len)) r = INJECT_NOMEM;
			break;
		}
		if (!str_copy(&f, line.s, line.len)) { r = INJECT_NOMEM; break; }
		if (g == BUF_EOF) { in->ended = 1; break; }
	}
	if (r == INJECT_OK) r = field_done(in, &f, &seen);
	if (r == INJECT_OK) r = add_missing(in, &seen, now);
	str_free(&line);
	str_free(&f);
	return r;
}

struct body { int bol, dot, cr, end; };

static int feed(struct inject *in, struct body *st, bufout *o, char c)
{
	if (st->dot) {
		st->dot = 0;
		if (c == '\n') { st->end = 1; return 1; }
		if (!bufout_put(o, ".", 1)) return 0;
	}
	if (st->bol && c == '.' && !in->iflag) { st->dot = 1; st->bol = 0; return 1; }
	st->bol = c == '\n';
	return bufout_put(o, &c, 1);
}

static int pre(struct inject *in, struct body *st, bufout *o, char c)
{
	if (st->cr) {
		st->cr = 0;
		if (c == '\n') return feed(in, st, o, '\n');
		if (!feed(in, st, o, '\r')) return 0;
	}
	if (c == '\r') { st->cr = 1; return 1; }
	return feed(in, st, o, c);
}

int inject_body(struct inject *in, bufin *b, bufout *o)
{
	struct body st = { 1, 0, 0, 0 };
	size_t i;

	for (i = 0; i < in->firstbody.len && !st.end; i++)
		if (!pre(in, &st, o, in->firstbody.s[i])) return 0;
	while (!in->ended && !st.end) {
		int r = bufin_fill(b);
		if (r < 0) return -1;
		if (r == 0) break;
		for (; b->p < b->n && !st.end; b->p++)
			if (!pre(in, &st, o, b->b[b->p])) return 0;
	}
	if (!st.end) {
		if (st.cr && !feed(in, &st, o, '\r')) return 0;
		if (st.dot && !bufout_put(o, ".", 1)) return 0;
	}
	return bufout_flush(o) ? 1 : 0;
}
