/* users.c: read-only lookups in the user and alias maps. Never parses the
 * maps' text sources; only their cdb files. */
#include <errno.h>
#include <string.h>
#include "cdbmap.h"
#include "control.h"
#include "idna.h"
#include "users.h"

/* a name and its A-label form (idna.h) are the same domain: bücher.example
 * is xn--bcher-kva.example. a: dom's ASCII form, or 0 when it has none */
static int same_domain(const char *line, size_t l, const char *dom, size_t n, const str *a)
{
	str la = STR_ZERO;
	int r;

	if (l == n && strncasecmp(line, dom, n) == 0) return 1;
	if (!a && !idna_nonascii(line, l)) return 0;
	if (!idna_nonascii(line, l))
		return a && a->len == l && strncasecmp(line, a->s, l) == 0;
	/* a local domain written as a U-label */
	r = idna_to_ascii(line, l, &la) &&
	    (a ? la.len == a->len && strcmp(la.s, a->s) == 0
	       : la.len == n && strncasecmp(la.s, dom, n) == 0);
	str_free(&la);
	return r;
}

int domains_match(const str *lines, const char *dom, size_t n)
{
	str a = STR_ZERO;
	size_t i = 0;
	int found = 0, hasa = idna_nonascii(dom, n) && idna_to_ascii(dom, n, &a);

	while (i < lines->len) {
		size_t l = strlen(lines->s + i);
		if (same_domain(lines->s + i, l, dom, n, hasa ? &a : 0)) { found = 1; break; }
		i += l + 1;
	}
	str_free(&a);
	return found;
}

int domains_islocal(const char *dom, size_t n)
{
	str lines = STR_ZERO;
	int r = control_readlines("control/domains", &lines);

	if (r >= 0) r = domains_match(&lines, dom, n);
	str_free(&lines);
	return r;
}

/* addr with its domain as A-labels, when the domain has non-ASCII
 * labels that have them; 0 otherwise */
static int alabel_address(const char *addr, size_t n, str *out)
{
	const char *at = memrchr(addr, '@', n);
	str d = STR_ZERO;
	int ok;

	if (!at || !idna_nonascii(at + 1, n - (size_t)(at - addr) - 1)) return 0;
	ok = idna_to_ascii(at + 1, n - (size_t)(at - addr) - 1, &d) &&
	     str_copy(out, addr, (size_t)(at - addr) + 1) && str_append(out, d.s, d.len);
	str_free(&d);
	return ok;
}

static int lower_key(str *k, const char *s, size_t n)
{
	if (!str_copy(k, s, n)) return 0;
	str_lower(k);
	return 1;
}

static int map_lookup(const char *map, const char *key, size_t n, str *val)
{
	str path = STR_ZERO, k = STR_ZERO;
	int r = -1;

	if (control_path(&path, map) && lower_key(&k, key, n))
		r = cdbmap_lookup(path.s, k.s, k.len, val);
	str_free(&path);
	str_free(&k);
	return r;
}

int users_default_maildir(const char *addr, size_t n, str *out)
{
	const char *at = memrchr(addr, '@', n);
	str a = STR_ZERO;
	size_t i;
	int ok;

	if (!at) { errno = EINVAL; return 0; }
	if (!lower_key(&a, addr, n)) return 0;
	at = a.s + (at - addr);
	/* the map compiler refuses '/' and leading dots; check again anyway */
	for (i = 0; i < a.len; i++)
		if (a.s[i] == '/' || a.s[i] == 0) { str_free(&a); errno = EINVAL; return 0; }
	if (a.s[0] == '.' || at[1] == '.') { str_free(&a); errno = EINVAL; return 0; }
	ok = str_copys(out, control_home()) && str_appends(out, "/mail/") &&
	     str_append(out, at + 1, a.len - (size_t)(at - a.s) - 1) &&
	     str_appendc(out, '/') && str_append(out, a.s, (size_t)(at - a.s)) &&
	     str_appendc(out, '/');
	str_free(&a);
	return ok;
}

int users_lookup(const char *addr, size_t n, struct user *u)
{
	str v = STR_ZERO;
	int r = map_lookup("control/users.cdb", addr, n, &v);
	size_t hl;

	if (r == 0) {
		/* user@bücher.example is the user the map holds as
		 * user@xn--bcher-kva.example (and that address's Maildir) */
		str a = STR_ZERO;
		if (alabel_address(addr, n, &a)) r = users_lookup(a.s, a.len, u);
		str_free(&a);
		str_free(&v);
		return r;
	}
	if (r < 0) { str_free(&v); return r; }
	hl = strnlen(v.s, v.len);
	if (hl >= v.len) { str_free(&v); errno = EINVAL; return -1; }
	if (!lower_key(&u->address, addr, n) || !str_copy(&u->hash, v.s, hl)) goto fail;
	if (hl + 1 < v.len && v.s[hl + 1]) {
		size_t ml = strnlen(v.s + hl + 1, v.len - hl - 1);
		if (!str_copy(&u->maildir, v.s + hl + 1, ml)) goto fail;
		if (u->maildir.s[u->maildir.len - 1] != '/' && !str_appendc(&u->maildir, '/')) goto fail;
	} else if (!users_default_maildir(addr, n, &u->maildir)) {
		goto fail;
	}
	str_free(&v);
	return 1;
fail:
	str_free(&v);
	return -1;
}

int aliases_lookup(const char *addr, size_t n, str *targets)
{
	const char *at = memrchr(addr, '@', n);
	int r = map_lookup("control/aliases.cdb", addr, n, targets);

	if (r == 0) {
		/* the domain as A-labels, as for users_lookup */
		str a = STR_ZERO;
		if (alabel_address(addr, n, &a)) r = map_lookup("control/aliases.cdb", a.s, a.len, targets);
		str_free(&a);
	}
	if (r != 0 || !at) return r;
	return map_lookup("control/aliases.cdb", addr, (size_t)(at - addr), targets);
}

void user_free(struct user *u)
{
	str_free(&u->address);
	str_wipe(&u->hash);
	str_free(&u->maildir);
}

static int classify_exact(const char *addr, size_t n, str *canon)
{
	str t = STR_ZERO;
	struct user u = { STR_ZERO, STR_ZERO, STR_ZERO };
	int r = aliases_lookup(addr, n, &t);

	str_free(&t);
	if (r < 0) return -1;
	if (r > 0) return lower_key(canon, addr, n) ? RCPT_ALIAS : -1;
	r = users_lookup(addr, n, &u);
	user_free(&u);
	if (r < 0) return -1;
	if (r > 0) return lower_key(canon, addr, n) ? RCPT_USER : -1;
	return 0;
}

int users_classify(const char *addr, size_t n, str *canon)
{
	const char *at = memrchr(addr, '@', n);
	const char *plus;
	int r;

	str_clear(canon);
	if (!at) {
		/* "<postmaster>" without a domain (RFC 5321 4.1.1.3) */
		if (n == 10 && strncasecmp(addr, "postmaster", 10) == 0)
			return str_copys(canon, "postmaster") ? RCPT_POSTMASTER : -1;
		return RCPT_UNKNOWN;
	}
	r = domains_islocal(at + 1, n - (size_t)(at - addr) - 1);
	if (r < 0) return -1;
	if (r == 0) return RCPT_REMOTE;
	r = classify_exact(addr, n, canon);
	if (r != 0) return r;
	plus = memchr(addr, '+', (size_t)(at - addr));
	if (plus && plus > addr) {
		str base = STR_ZERO;
		if (!str_copy(&base, addr, (size_t)(plus - addr)) ||
		    !str_append(&base, at, n - (size_t)(at - addr))) { str_free(&base); return -1; }
		r = classify_exact(base.s, base.len, canon);
		str_free(&base);
		if (r != 0) return r;
	}
	if (at - addr == 10 && strncasecmp(addr, "postmaster", 10) == 0)
		return lower_key(canon, addr, n) ? RCPT_POSTMASTER : -1;
	return RCPT_UNKNOWN;
}
