/* aliasmap.c: compiles control/aliases into aliases.cdb (format in
 * lib/users.h). Runs as the admin; trusts the file's owner but checks
 * every key and target with the address rules of the user map, so what
 * reaches the cdb is what the protocol programs expect.
 *
 * Syntax: "alias: target, target, ..." a line; a line starting with a
 * space or tab continues the one before (as in /etc/aliases); '#' starts a
 * comment line. alias is a full address in a local domain, or a bare local
 * part that applies to every local domain; targets are full addresses. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include "admin-internal.h"
#include "cdbmap.h"
#include "control.h"
#include "fmt.h"
#include "log.h"
#include "users.h"

struct alias_ctx {
	struct cdbmap_maker *m;
	str keys;          /* keys so far, NUL-separated, for duplicates */
	str key, val, tmp;
	unsigned long line;
	int data;          /* 1 once a bad line was reported */
};

static void bad(struct alias_ctx *c, const char *what, const char *why)
{
	char b[FMT_ULONG + 1];
	c->data = 1;
	b[fmt_ulong(b, c->line)] = 0;
	log_line("fatal: control/aliases line ", b, ": ", what, why ? ": " : "", why ? why : "", (char *)0);
}

static int trimmed(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) { (*s)++; (*n)--; }
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r')) (*n)--;
	return *n > 0;
}

/* one logical entry (continuations already joined) */
static int entry(struct alias_ctx *c, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n), *why, *p, *end = s + n;
	size_t kl, count = 0;
	int r;

	if (memchr(s, 0, n)) { bad(c, "NUL byte", 0); return 0; }
	if (!colon) { bad(c, "no ':' (want alias: target, target)", 0); return 0; }
	kl = (size_t)(colon - s);
	p = s;
	if (!trimmed(&p, &kl)) { bad(c, "empty alias", 0); return 0; }
	if (!adm_alias_address(p, kl, 1, &c->key, &why)) { bad(c, "alias", why); return 0; }
	if (memchr(c->key.s, '@', c->key.len)) {
		const char *d = strchr(c->key.s, '@') + 1;
		r = domains_islocal(d, strlen(d));
		if (r < 0) { log_line("fatal: unable to read control/domains: ", strerror(errno), (char *)0); return 0; }
		if (r == 0) { bad(c, c->key.s, "not in a local domain (control/domains)"); return 0; }
	}
	if (str_list_has(&c->keys, c->key.s, c->key.len)) { bad(c, c->key.s, "alias listed twice"); return 0; }
	if (!str_append(&c->keys, c->key.s, c->key.len) || !str_appendc(&c->keys, 0)) return 0;
	str_clear(&c->val);
	p = colon + 1;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *t = p;
		size_t tl = (size_t)((comma ? comma : end) - p);

		p = comma ? comma + 1 : end;
		if (!trimmed(&t, &tl)) continue;       /* "a, , b" or a trailing comma */
		if (!adm_alias_address(t, tl, 0, &c->tmp, &why)) {
			str_copy(&c->val, t, tl);
			str_0(&c->val);
			bad(c, c->val.s, why);
			return 0;
		}
		/* local parts compare without case here: local lookups fold it */
		if ((c->tmp.len == c->key.len && strcasecmp(c->tmp.s, c->key.s) == 0) ||
		    (!memchr(c->key.s, '@', c->key.len) && c->tmp.len > c->key.len &&
		     c->tmp.s[c->key.len] == '@' && strncasecmp(c->tmp.s, c->key.s, c->key.len) == 0 &&
		     (r = domains_islocal(c->tmp.s + c->key.len + 1, c->tmp.len - c->key.len - 1)) != 0)) {
			bad(c, c->key.s, "the alias points to itself");
			return 0;
		}
		if (str_list_has(&c->val, c->tmp.s, c->tmp.len)) continue;
		if (++count > ADM_ALIAS_TARGETS) { bad(c, c->key.s, "more than 1000 targets"); return 0; }
		if (!str_append(&c->val, c->tmp.s, c->tmp.len) || !str_appendc(&c->val, 0)) return 0;
	}
	if (count == 0) { bad(c, c->key.s, "no target"); return 0; }
	if (!cdbmap_add(c->m, c->key.s, c->key.len, c->val.s, c->val.len)) {
		log_line("fatal: unable to write aliases.cdb.tmp: ", strerror(errno), (char *)0);
		return 0;
	}
	return 1;
}

int aliasmap_compile(void)
{
	struct alias_ctx c;
	str text = STR_ZERO, ent = STR_ZERO, path = STR_ZERO;
	unsigned long entline = 0;
	size_t i = 0;
	int ok = 0, r;

	memset(&c, 0, sizeof c);
	r = control_readfile("control/aliases", &text);
	if (r < 0) { log_line("fatal: unable to read control/aliases: ", strerror(errno), (char *)0); goto out; }
	if (!control_path(&path, "control/aliases.cdb")) goto out;
	c.m = cdbmap_create(path.s);
	if (!c.m) { log_line("fatal: unable to create ", path.s, ".tmp: ", strerror(errno), (char *)0); goto out; }
	for (;;) {
		const char *s = text.s + i, *nl;
		size_t n;
		int more = i < text.len;

		nl = more ? memchr(s, '\n', text.len - i) : 0;
		n = more ? (nl ? (size_t)(nl - s) : text.len - i) : 0;
		if (more && n && (s[0] == ' ' || s[0] == '\t')) {
			const char *t = s;
			size_t tl = n;
			c.line++;
			if (!trimmed(&t, &tl) || t[0] == '#') { i += n + 1; continue; }
			if (!ent.len) { bad(&c, "continuation line without an alias before it", 0); goto out; }
			if (!str_appendc(&ent, ',') || !str_append(&ent, t, tl)) goto out;
			i += n + 1;
			continue;
		}
		if (ent.len) {
			unsigned long here = c.line;
			c.line = entline;
			if (!entry(&c, ent.s, ent.len)) goto out;
			c.line = here;
			str_clear(&ent);
		}
		if (!more) break;
		c.line++;
		i += n + 1;
		{
			const char *t = s;
			size_t tl = n;
			if (!trimmed(&t, &tl) || t[0] == '#') continue;
			if (!str_copy(&ent, t, tl)) goto out;
			entline = c.line;
		}
	}
	if (!cdbmap_commit(c.m)) {
		c.m = 0;
		log_line("fatal: unable to write ", path.s, ": ", strerror(errno), (char *)0);
		goto out;
	}
	c.m = 0;
	ok = 1;
out:
	if (c.m) cdbmap_abort(c.m);
	str_free(&text);
	str_free(&ent);
	str_free(&path);
	str_free(&c.keys);
	str_free(&c.key);
	str_free(&c.val);
	str_free(&c.tmp);
	return ok ? 1 : c.data ? 0 : -1;
}
