/* envelope.c: ENVELOPE and BODYSTRUCTURE (RFC 9051 7.5.2) from the lib/mime
 * tree. The message is untrusted mail: address lists are parsed
 * tolerantly (what cannot be parsed becomes a mailbox-only address) and
 * recursion follows the tree, whose depth lib/mime bounds. Runs as the
 * mailbox owner. */
#include <string.h>
#include "imapd-internal.h"
#include "imapd-fetch.h"
#include "mime.h"

static void nstr(struct sess *s, const str *v, int have)
{
	putnstr(s, v->s ? v->s : "", v->len, !have);
}

/* one address: "Name <local@host>", "local@host (comment)", "<@route:l@h>" */
static void put_addr(struct sess *s, const char *p, size_t n)
{
	const char *lt = 0, *gt = 0;
	size_t i;
	int q = 0, c = 0;
	str name = STR_ZERO, spec = STR_ZERO, adl = STR_ZERO;

	for (i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n) { i++; continue; }
		if (!c && p[i] == '"') q = !q;
		else if (!q && p[i] == '(') c++;
		else if (!q && p[i] == ')' && c) c--;
		else if (!q && !c && p[i] == '<' && !lt) lt = p + i;
		else if (!q && !c && p[i] == '>' && lt && !gt) gt = p + i;
	}
	if (lt) {
		const char *a = p, *e = lt;
		while (a < e && (*a == ' ' || *a == '\t')) a++;
		while (e > a && (e[-1] == ' ' || e[-1] == '\t')) e--;
		if (e - a >= 2 && *a == '"' && e[-1] == '"') { a++; e--; }
		for (; a < e; a++) {
			if (*a == '\\' && a + 1 < e) a++;
			str_appendc(&name, *a);
		}
		str_append(&spec, lt + 1, (size_t)((gt ? gt : p + n) - lt - 1));
	} else {
		q = c = 0;
		for (i = 0; i < n; i++) {
			if (!q && p[i] == '(') { c++; continue; }
			if (!q && p[i] == ')' && c) { c--; continue; }
			if (c) continue;
			if (p[i] == '"') q = !q;
			if (!q && (p[i] == ' ' || p[i] == '\t')) continue;
			str_appendc(&spec, p[i]);
		}
	}
	if (spec.len && spec.s[0] == '@') {
		char *colon = memchr(spec.s, ':', spec.len);
		if (colon) {
			str_append(&adl, spec.s, (size_t)(colon - spec.s));
			memmove(spec.s, colon + 1, spec.len - (size_t)(colon + 1 - spec.s));
			spec.len -= (size_t)(colon + 1 - spec.s);
		}
	}
	put(s, "(");
	nstr(s, &name, name.len > 0);
	put(s, " ");
	nstr(s, &adl, adl.len > 0);
	put(s, " ");
	{
		char *at = spec.len ? memrchr(spec.s, '@', spec.len) : 0;
		if (at) {
			putq(s, spec.s, (size_t)(at - spec.s));
			put(s, " ");
			putq(s, at + 1, spec.len - (size_t)(at + 1 - spec.s));
		} else {
			putq(s, spec.s ? spec.s : "", spec.len);
			put(s, " NIL");
		}
	}
	put(s, ")");
	str_free(&name); str_free(&spec); str_free(&adl);
}

static void put_addrlist(struct sess *s, const char *h, size_t hn, const char *field, const char *fallback)
{
	str v = STR_ZERO;
	size_t i, st = 0;
	int q = 0, c = 0, a = 0, any = 0;

	if (!mime_header(h, hn, field, &v) || !v.len) {
		if (!fallback || !mime_header(h, hn, fallback, &v) || !v.len) { put(s, "NIL"); str_free(&v); return; }
	}
	put(s, "(");
	for (i = 0; i <= v.len; i++) {
		char ch = i < v.len ? v.s[i] : ',';
		/* a backslash escapes the next byte; one at the very end is a byte
		 * (skipping it also skipped the closing ',' and lost the address) */
		if (i + 1 < v.len && ch == '\\') { i++; continue; }
		if (!c && ch == '"') q = !q;
		else if (!q && ch == '(') c++;
		else if (!q && ch == ')' && c) c--;
		else if (!q && !c && ch == '<') a = 1;
		else if (!q && !c && ch == '>') a = 0;
		else if (!q && !c && !a && ch == ':') {
			/* group start: (NIL NIL "name" NIL) */
			str g = STR_ZERO;
			size_t gs = st;
			while (gs < i && (v.s[gs] == ' ' || v.s[gs] == '\t')) gs++;
			str_append(&g, v.s + gs, i - gs);
			while (g.len && g.s[g.len - 1] == ' ') g.len--;
			put(s, "(NIL NIL "); putq(s, g.s ? g.s : "", g.len); put(s, " NIL)");
			str_free(&g);
			st = i + 1;
			any = 1;
		} else if (!q && !c && !a && (ch == ',' || ch == ';')) {
			size_t k = st;
			while (k < i && (v.s[k] == ' ' || v.s[k] == '\t')) k++;
			if (k < i) { put_addr(s, v.s + st, i - st); any = 1; }
			if (ch == ';') put(s, "(NIL NIL NIL NIL)");
			st = i + 1;
		}
	}
	if (!any) put(s, "(NIL NIL NIL NIL)");
	put(s, ")");
	str_free(&v);
}

void put_envelope(struct sess *s, const char *h, size_t hn)
{
	str v = STR_ZERO;
	static const char *const plain1[] = { "date", "subject" };
	static const char *const plain2[] = { "in-reply-to", "message-id" };
	size_t i;

	put(s, "(");
	for (i = 0; i < 2; i++) { nstr(s, &v, mime_header(h, hn, plain1[i], &v)); put(s, " "); }
	put_addrlist(s, h, hn, "from", 0); put(s, " ");
	put_addrlist(s, h, hn, "sender", "from"); put(s, " ");
	put_addrlist(s, h, hn, "reply-to", "from"); put(s, " ");
	put_addrlist(s, h, hn, "to", 0); put(s, " ");
	put_addrlist(s, h, hn, "cc", 0); put(s, " ");
	put_addrlist(s, h, hn, "bcc", 0); put(s, " ");
	for (i = 0; i < 2; i++) { nstr(s, &v, mime_header(h, hn, plain2[i], &v)); if (!i) put(s, " "); }
	put(s, ")");
	str_free(&v);
}

static void put_params(struct sess *s, const str *params)
{
	size_t i = 0;
	int any = 0;

	while (i < params->len) {
		const char *k = params->s + i;
		size_t kl = strnlen(k, params->len - i), vl;
		if (i + kl + 1 > params->len) break;
		vl = strnlen(k + kl + 1, params->len - i - kl - 1);
		put(s, any ? " " : "(");
		putq(s, k, kl);
		put(s, " ");
		putq(s, k + kl + 1, vl);
		any = 1;
		i += kl + 1 + vl + 1;
	}
	put(s, any ? ")" : "NIL");
}

static void put_disposition(struct sess *s, const char *h, size_t hn)
{
	str v = STR_ZERO, t = STR_ZERO, sub = STR_ZERO, params = STR_ZERO;

	if (mime_header(h, hn, "content-disposition", &v) && v.len) {
		mime_ctype(v.s, v.len, &t, &sub, &params);
		put(s, "("); putq(s, t.s ? t.s : "", t.len); put(s, " "); put_params(s, &params); put(s, ")");
	} else put(s, "NIL");
	put(s, " ");
	nstr(s, &v, mime_header(h, hn, "content-language", &v) && v.len);
	put(s, " ");
	nstr(s, &v, mime_header(h, hn, "content-location", &v) && v.len);
	str_free(&v); str_free(&t); str_free(&sub); str_free(&params);
}

void put_bodystructure(struct sess *s, const struct mime_tree *t, int idx, int ext)
{
	const struct mime_part *p = &t->p[idx];
	const char *h = t->msg + p->hdr;
	str v = STR_ZERO, type = STR_ZERO, sub = STR_ZERO, params = STR_ZERO;
	int c;

	if (mime_header(h, p->hdrlen, "content-type", &v) && v.len) mime_ctype(v.s, v.len, &type, &sub, &params);
	if ((!type.len || !sub.len) && p->ismsg) {
		/* no Content-Type in a multipart/digest (lib/mime took it so) */
		str_copys(&type, "message"); str_copys(&sub, "rfc822");
		str_clear(&params);
	} else if (!type.len || !sub.len) {
		str_copys(&type, "text"); str_copys(&sub, "plain");
		str_clear(&params);
	}
	str_0(&type);
	if (str_equals(&type, "text")) {
		/* RFC 2045 5.2: text without a charset is US-ASCII; say so, as clients expect */
		str cs = STR_ZERO;
		if (!mime_param(&params, "charset", &cs)) str_append(&params, "charset\0us-ascii\0", 17);
		str_free(&cs);
	}
	put(s, "(");
	/* a multipart whose parts are past MIME_PARTS_MAX has none: "( "mixed")"
	 * is no body at all to a client's parser, so it goes out as one part */
	if (p->ismulti && p->child >= 0) {
		for (c = p->child; c >= 0; c = t->p[c].next) put_bodystructure(s, t, c, ext);
		put(s, " ");
		putq(s, sub.s, sub.len);
		if (ext) {
			put(s, " ");
			put_params(s, &params);
			put(s, " ");
			put_disposition(s, h, p->hdrlen);
		}
	} else {
		str_0(&type);
		putq(s, type.s, type.len); put(s, " ");
		putq(s, sub.s, sub.len); put(s, " ");
		put_params(s, &params); put(s, " ");
		nstr(s, &v, mime_header(h, p->hdrlen, "content-id", &v) && v.len); put(s, " ");
		nstr(s, &v, mime_header(h, p->hdrlen, "content-description", &v) && v.len); put(s, " ");
		if (mime_header(h, p->hdrlen, "content-transfer-encoding", &v) && v.len) { str_lower(&v); putq(s, v.s, v.len); }
		else put(s, "\"7bit\"");
		put(s, " ");
		putu(s, p->bodylen);
		if (p->ismsg && p->child >= 0) {
			const struct mime_part *in = &t->p[p->child];
			put(s, " ");
			put_envelope(s, t->msg + in->hdr, in->hdrlen);
			put(s, " ");
			put_bodystructure(s, t, p->child, ext);
			put(s, " ");
			putu(s, p->lines);
		} else if (str_equals(&type, "text")) {
			put(s, " ");
			putu(s, p->lines);
		}
		if (ext) {
			put(s, " ");
			nstr(s, &v, mime_header(h, p->hdrlen, "content-md5", &v) && v.len);
			put(s, " ");
			put_disposition(s, h, p->hdrlen);
		}
	}
	put(s, ")");
	str_free(&v); str_free(&type); str_free(&sub); str_free(&params);
}
