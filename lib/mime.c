/* mime.c: RFC 5322 headers and the MIME part tree of a message. Input is
 * untrusted mail; every loop is bounded by the buffer, the parts count by
 * MIME_PARTS_MAX and recursion by MIME_DEPTH_MAX (CVE-2020-12100 was
 * unbounded MIME recursion). Runs at the caller's privilege. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "mime.h"

size_t mime_header_end(const char *m, size_t n)
{
	size_t i = 0;

	/* a message that starts with a blank line has an empty header */
	if (n >= 2 && m[0] == '\r' && m[1] == '\n') return 2;
	if (n >= 1 && m[0] == '\n') return 1;
	while (i < n) {
		const char *nl = memchr(m + i, '\n', n - i);
		if (!nl) return n;
		i = (size_t)(nl - m) + 1;
		if (i < n && m[i] == '\n') return i + 1;
		if (i + 1 < n && m[i] == '\r' && m[i + 1] == '\n') return i + 2;
	}
	return n;
}

/* lines as clients count them: a last line without its newline counts too */
static size_t count_lines(const char *p, size_t n)
{
	size_t c = n && p[n - 1] != '\n';
	const char *e = p + n;
	while (p < e && (p = memchr(p, '\n', (size_t)(e - p)))) { c++; p++; }
	return c;
}

int mime_field_next(const char *h, size_t n, size_t *pos, const char **f, size_t *flen, size_t *namelen)
{
	size_t i = *pos, st;

	for (;;) {
		if (i >= n || h[i] == '\r' || h[i] == '\n') return 0;
		st = i;
		/* the field runs to a line that does not start with WSP */
		for (;;) {
			const char *nl = memchr(h + i, '\n', n - i);
			i = nl ? (size_t)(nl - h) + 1 : n;
			if (i >= n || (h[i] != ' ' && h[i] != '\t')) break;
		}
		*pos = i;
		{
			const char *c = memchr(h + st, ':', i - st);
			if (!c) continue;    /* not a field: skip it */
			*f = h + st;
			*flen = i - st;
			*namelen = (size_t)(c - (h + st));
			while (*namelen && (h[st + *namelen - 1] == ' ' || h[st + *namelen - 1] == '\t')) (*namelen)--;
			return 1;
		}
	}
}

int mime_header(const char *h, size_t n, const char *name, str *val)
{
	size_t pos = 0, fl, nl, ln = strlen(name), i;
	const char *f;

	str_clear(val);
	while (mime_field_next(h, n, &pos, &f, &fl, &nl)) {
		if (nl != ln || strncasecmp(f, name, ln) != 0) continue;
		i = (size_t)((const char *)memchr(f, ':', fl) - f) + 1;
		while (i < fl && (f[i] == ' ' || f[i] == '\t')) i++;
		for (; i < fl && val->len < MIME_FIELD_MAX; i++) {
			if (f[i] == '\r' || f[i] == '\n') continue;   /* unfold */
			if (!str_appendc(val, f[i])) return 0;
		}
		while (val->len && (val->s[val->len - 1] == ' ' || val->s[val->len - 1] == '\t')) val->len--;
		str_0(val);
		return 1;
	}
	return 0;
}

static void lower(str *x) { str_lower(x); }

void mime_ctype(const char *v, size_t n, str *type, str *sub, str *params)
{
	size_t i = 0, st;

	str_clear(type); str_clear(sub); str_clear(params);
	while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
	st = i;
	while (i < n && v[i] != '/' && v[i] != ';' && v[i] != ' ') i++;
	str_append(type, v + st, i - st);
	while (i < n && v[i] == ' ') i++;
	if (i < n && v[i] == '/') {
		i++;
		while (i < n && v[i] == ' ') i++;
		st = i;
		while (i < n && v[i] != ';' && v[i] != ' ' && v[i] != '\t' && v[i] != '(') i++;
		str_append(sub, v + st, i - st);
	}
	lower(type); lower(sub);
	while (i < n) {
		size_t ns, ne;
		while (i < n && v[i] != ';') i++;
		if (i >= n) break;
		i++;
		while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
		ns = i;
		while (i < n && v[i] != '=' && v[i] != ';') i++;
		ne = i;
		while (ne > ns && (v[ne - 1] == ' ' || v[ne - 1] == '\t')) ne--;
		if (i >= n || v[i] != '=' || ne == ns) continue;
		i++;
		while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
		{
			size_t at = params->len, k;
			str_append(params, v + ns, ne - ns);
			for (k = at; k < params->len; k++)
				if (params->s[k] >= 'A' && params->s[k] <= 'Z') params->s[k] = (char)(params->s[k] + 32);
			str_appendc(params, 0);
		}
		if (i < n && v[i] == '"') {
			i++;
			while (i < n && v[i] != '"') {
				if (v[i] == '\\' && i + 1 < n) i++;
				str_appendc(params, v[i]);
				i++;
			}
			if (i < n) i++;
		} else {
			st = i;
			while (i < n && v[i] != ';' && v[i] != ' ' && v[i] != '\t') i++;
			str_append(params, v + st, i - st);
		}
		str_appendc(params, 0);
	}
	str_0(type); str_0(sub); str_0(params);
}

int mime_param(const str *params, const char *name, str *val)
{
	size_t i = 0;

	while (i < params->len) {
		const char *k = params->s + i;
		size_t kl = strnlen(k, params->len - i);
		const char *v = k + kl + 1;
		size_t vl;
		if (i + kl + 1 > params->len) break;
		vl = strnlen(v, params->len - (i + kl + 1));
		if (strcmp(k, name) == 0) return str_copy(val, v, vl) && str_0(val);
		i += kl + 1 + vl + 1;
	}
	return 0;
}

static int add(struct mime_tree *t, int parent, int depth)
{
	struct mime_part *p;

	if (t->n >= MIME_PARTS_MAX) return -1;
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 8;
		struct mime_part *np = realloc(t->p, nc * sizeof *np);
		if (!np) return -1;
		t->p = np;
		t->cap = nc;
	}
	p = &t->p[t->n];
	memset(p, 0, sizeof *p);
	p->parent = parent;
	p->child = p->next = -1;
	p->depth = depth;
	if (parent >= 0) {
		int *c = &t->p[parent].child;
		while (*c >= 0) c = &t->p[*c].next;
		*c = (int)t->n;
	}
	return (int)t->n++;
}

/* a boundary line "--B" or "--B--" at the start of line p */
static int is_boundary(const char *p, size_t n, const str *b, int *final)
{
	size_t i;

	if (n < b->len + 2 || p[0] != '-' || p[1] != '-' || memcmp(p + 2, b->s, b->len) != 0) return 0;
	i = b->len + 2;
	*final = n >= i + 2 && p[i] == '-' && p[i + 1] == '-';
	if (*final) i += 2;
	/* "--b1" is not a boundary line of "b" followed by "1" */
	for (; i < n; i++) if (p[i] != ' ' && p[i] != '\t') return 0;
	return 1;
}

static int parse_entity(struct mime_tree *t, size_t off, size_t len, int parent, int depth, int defmsg);

static int parse_body(struct mime_tree *t, int idx, int depth, int dflmsg)
{
	struct mime_part *p = &t->p[idx];
	str v = STR_ZERO, type = STR_ZERO, sub = STR_ZERO, params = STR_ZERO, bnd = STR_ZERO;
	const char *m = t->msg;
	size_t hdr = p->hdr, hdrlen = p->hdrlen, body = p->body, bodylen = p->bodylen;
	int r = 1, defmsg = 0;

	if (mime_header(m + hdr, hdrlen, "content-type", &v)) mime_ctype(v.s, v.len, &type, &sub, &params);
	else if (dflmsg) {
		/* RFC 2046 5.1.5: in a multipart/digest the default is message/rfc822 */
		str_copys(&type, "message"); str_copys(&sub, "rfc822"); str_0(&type); str_0(&sub);
	}
	if (depth >= MIME_DEPTH_MAX) goto out;
	if (str_equals(&type, "multipart") && mime_param(&params, "boundary", &bnd) && bnd.len &&
	    bnd.len <= MIME_BOUNDARY_MAX) {
		size_t i = body, e = body + bodylen, start = 0;
		int in = 0, final = 0;
		t->p[idx].ismulti = 1;
		defmsg = str_equals(&sub, "digest");
		while (i < e && !final) {
			const char *nl = memchr(m + i, '\n', e - i);
			size_t le = nl ? (size_t)(nl - m) + 1 : e;
			size_t ll = le - i;
			while (ll && (m[i + ll - 1] == '\n' || m[i + ll - 1] == '\r')) ll--;
			if (is_boundary(m + i, ll, &bnd, &final)) {
				if (in) {
					/* the CRLF before the boundary belongs to it */
					size_t pe = i;
					if (pe > start && m[pe - 1] == '\n') pe--;
					if (pe > start && m[pe - 1] == '\r') pe--;
					if (parse_entity(t, start, pe - start, idx, depth + 1, defmsg) < 0) { r = 0; goto out; }
				}
				in = 1;
				start = le;
			}
			i = le;
		}
		if (in && !final && start < e) {
			if (parse_entity(t, start, e - start, idx, depth + 1, defmsg) < 0) { r = 0; goto out; }
		}
		if (t->p[idx].child < 0) {
			/* no parts at all: one text part (broken MIME still gets a structure) */
			if (parse_entity(t, body, bodylen, idx, depth + 1, 0) < 0) r = 0;
		}
	} else if (str_equals(&type, "message") && (str_equals(&sub, "rfc822") || str_equals(&sub, "global"))) {
		t->p[idx].ismsg = 1;
		if (parse_entity(t, body, bodylen, idx, depth + 1, 0) < 0) r = 0;
	}
out:
	str_free(&v); str_free(&type); str_free(&sub); str_free(&params); str_free(&bnd);
	return r;
}

static int parse_entity(struct mime_tree *t, size_t off, size_t len, int parent, int depth, int defmsg)
{
	int idx = add(t, parent, depth);
	size_t he;
	struct mime_part *p;

	if (idx < 0) return 0;  /* past the parts limit: the rest is left opaque */
	he = mime_header_end(t->msg + off, len);
	p = &t->p[idx];
	p->hdr = off;
	p->hdrlen = he;
	p->body = off + he;
	p->bodylen = len - he;
	p->lines = count_lines(t->msg + p->body, p->bodylen);
	return parse_body(t, idx, depth, defmsg) ? idx : -1;
}

int mime_parse(const char *msg, size_t len, struct mime_tree *t)
{
	t->msg = msg;
	t->len = len;
	t->n = 0;
	return parse_entity(t, 0, len, -1, 0, 0) >= 0;
}

void mime_free(struct mime_tree *t)
{
	free(t->p);
	t->p = 0;
	t->n = t->cap = 0;
}
