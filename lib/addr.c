/* addr.c: RFC 5321 path and mailbox parsing. Input is untrusted network
 * data; the parser is bounded by the lengths of RFC 5321 4.5.3.1. */
#include <arpa/inet.h>
#include <string.h>
#include "addr.h"

int addr_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-/=?^_`{|}~", c) != 0;
}

static int is_letdig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = u[i];
		size_t k, len;
		unsigned long cp;

		if (c < 0x80) { i++; continue; }
		if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
		else return 0;
		if (i + len > n) return 0;
		for (k = 1; k < len; k++) {
			if ((u[i + k] & 0xc0) != 0x80) return 0;
			cp = (cp << 6) | (u[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		if (cp >= 0xd800 && cp <= 0xdfff) return 0;
		i += len;
	}
	return 1;
}

int addr_domain_ok(const char *s, size_t n, unsigned flags)
{
	size_t i = 0;

	if (n == 0 || n > ADDR_DOMAIN_MAX) return 0;
	if ((flags & ADDR_F_UTF8) && !utf8_valid(s, n)) return 0;
	while (i < n) {
		size_t start = i;
		while (i < n && s[i] != '.') {
			unsigned char c = (unsigned char)s[i];
			if (c >= 0x80) {
				if (!(flags & ADDR_F_UTF8)) return 0;
			} else if (!is_letdig(c) && c != '-') {
				return 0;
			}
			i++;
		}
		if (i == start || i - start > 63) return 0;          /* empty label */
		if (s[start] == '-' || s[i - 1] == '-') return 0;
		if (i < n) {
			i++;                                        /* the dot */
			if (i == n) return 0;                       /* trailing dot */
		}
	}
	return 1;
}

int addr_literal_ok(const char *s, size_t n)
{
	char b[64];
	unsigned char bin[16];

	if (n < 3 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof b) return 0;
	memcpy(b, s + 1, n - 2);
	b[n - 2] = 0;
	if (strlen(b) != n - 2) return 0;
	if (strncasecmp(b, "IPv6:", 5) == 0) return inet_pton(AF_INET6, b + 5, bin) == 1;
	return inet_pton(AF_INET, b, bin) == 1;
}

/* local part at s[0..n); returns bytes used or 0 */
static size_t parse_local(const char *s, size_t n, unsigned flags, int *quoted)
{
	size_t i = 0;

	*quoted = 0;
	if (n && s[0] == '"') {
		i = 1;
		while (i < n && s[i] != '"') {
			unsigned char c = (unsigned char)s[i];
			if (c == '\\') {
				if (i + 1 >= n) return 0;
				c = (unsigned char)s[i + 1];
				if (c < 32 || c > 126) return 0;
				i += 2;
				continue;
			}
			if (c >= 0x80) { if (!(flags & ADDR_F_UTF8)) return 0; i++; continue; }
			if (c < 32 || c > 126) return 0;
			i++;
		}
		if (i >= n) return 0;
		*quoted = 1;
		return i + 1;
	}
	for (;;) {
		size_t start = i;
		while (i < n) {
			unsigned char c = (unsigned char)s[i];
			if (c >= 0x80 && (flags & ADDR_F_UTF8)) { i++; continue; }
			if (!addr_atext(c)) break;
			i++;
		}
		if (i == start) return 0;         /* empty atom: leading or double dot */
		if (i < n && s[i] == '.') { i++; continue; }
		return i;
	}
}

int addr_parse_path(const char *s, size_t n, unsigned flags, struct addr *a, size_t *used)
{
	size_t i = 1, end, at, dstart, llen;
	int r;

	a->route = a->quoted = a->literal = 0;
	str_clear(&a->mailbox);
	a->at = 0;
	if (n < 2 || s[0] != '<') return ADDR_ESYNTAX;
	/* find the closing bracket outside a quoted string, within the limit */
	{
		int inq = 0;
		for (end = 1; end < n; end++) {
			char c = s[end];
			if (inq && c == '\\') { end++; continue; }
			if (c == '"') inq = !inq;
			else if (!inq && c == '>') break;
			else if (c == 0 || c == '\r' || c == '\n') return ADDR_ESYNTAX;
		}
		if (end >= n) return ADDR_ESYNTAX;
	}
	if (end + 1 > ADDR_PATH_MAX) return ADDR_EPATHLEN;
	for (r = 1; r < (int)end; r++) {
		unsigned char c = (unsigned char)s[r];
		if (c < 32 || c == 127) return ADDR_ESYNTAX;
		if (c >= 0x80 && !(flags & ADDR_F_UTF8)) return ADDR_EUTF8;
	}
	if ((flags & ADDR_F_UTF8) && !utf8_valid(s + 1, end - 1)) return ADDR_EUTF8;
	*used = end + 1;
	if (end == 1) { a->at = 0; return str_0(&a->mailbox) ? ADDR_OK : ADDR_ESYNTAX; }
	/* source route: @a,@b: */
	if (s[1] == '@') {
		size_t j = 1;
		for (;;) {
			size_t ds;
			if (s[j] != '@') return ADDR_ESYNTAX;
			ds = ++j;
			while (j < end && s[j] != ',' && s[j] != ':') j++;
			if (j >= end || !addr_domain_ok(s + ds, j - ds, flags)) return ADDR_ESYNTAX;
			if (s[j] == ':') { j++; break; }
			j++;
		}
		a->route = 1;
		i = j;
	}
	if (end - i == 10 && strncasecmp(s + i, "postmaster", 10) == 0 && !a->route) {
		if (!str_copy(&a->mailbox, s + i, 10)) return ADDR_ESYNTAX;
		a->at = a->mailbox.len;
		return ADDR_OK;
	}
	llen = parse_local(s + i, end - i, flags, &a->quoted);
	if (!llen) return ADDR_ESYNTAX;
	if (llen > ADDR_LOCAL_MAX) return ADDR_ELOCALLEN;
	at = i + llen;
	if (at >= end || s[at] != '@') return ADDR_ESYNTAX;
	dstart = at + 1;
	if (end - dstart > ADDR_DOMAIN_MAX) return ADDR_EDOMAINLEN;
	if (dstart < end && s[dstart] == '[') {
		if (!addr_literal_ok(s + dstart, end - dstart)) return ADDR_ESYNTAX;
		a->literal = 1;
	} else if (!addr_domain_ok(s + dstart, end - dstart, flags)) {
		return ADDR_ESYNTAX;
	}
	if (!str_copy(&a->mailbox, s + i, end - i)) return ADDR_ESYNTAX;
	a->at = llen;
	return ADDR_OK;
}

int addr_tricky_local(const struct addr *a)
{
	size_t i;

	for (i = 0; i < a->at; i++) {
		char c = a->mailbox.s[i];
		if (c == '%' || c == '!' || (a->quoted && c == '@')) return 1;
	}
	return 0;
}

const char *addr_strerror(int code)
{
	switch (code) {
	case ADDR_ELOCALLEN: return "5.1.3 local part longer than 64 characters";
	case ADDR_EDOMAINLEN: return "5.1.3 domain longer than 255 characters";
	case ADDR_EPATHLEN: return "5.1.3 path longer than 256 characters";
	case ADDR_EUTF8: return "5.6.7 non-ASCII address requires SMTPUTF8";
	default: return "5.1.3 bad address syntax";
	}
}

void addr_free(struct addr *a) { str_free(&a->mailbox); }
