/* str.c: growable strings with checked growth. Trusts nothing about sizes
 * it is given; runs in every program at that program's privilege. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "str.h"

int str_ready(str *x, size_t n)
{
	size_t want;
	char *p;

	if (n >= SIZE_MAX - 1) { errno = ENOMEM; return 0; }
	if (x->s && n + 1 <= x->cap) return 1;
	want = n + 1;
	if (want < 64) want = 64;
	/* grow by half again, unless that overflows */
	if (want <= SIZE_MAX - want / 2) want += want / 2;
	p = realloc(x->s, want);
	if (!p) { errno = ENOMEM; return 0; }
	x->s = p;
	x->cap = want;
	return 1;
}

int str_readyplus(str *x, size_t n)
{
	if (n > SIZE_MAX - 2 - x->len) { errno = ENOMEM; return 0; }
	return str_ready(x, x->len + n);
}

int str_append(str *x, const void *p, size_t n)
{
	if (!str_readyplus(x, n)) return 0;
	if (n) memcpy(x->s + x->len, p, n);
	x->len += n;
	x->s[x->len] = 0;
	return 1;
}

int str_appends(str *x, const char *s) { return str_append(x, s, strlen(s)); }
int str_appendc(str *x, char c) { return str_append(x, &c, 1); }

int str_appendu(str *x, unsigned long long u)
{
	char b[24];
	size_t i = sizeof b;

	do { b[--i] = (char)('0' + u % 10); u /= 10; } while (u);
	return str_append(x, b + i, sizeof b - i);
}

int str_copy(str *x, const void *p, size_t n)
{
	x->len = 0;
	return str_append(x, p, n);
}

int str_copys(str *x, const char *s) { return str_copy(x, s, strlen(s)); }

int str_0(str *x)
{
	if (!str_readyplus(x, 0)) return 0;
	x->s[x->len] = 0;
	return 1;
}

void str_clear(str *x) { x->len = 0; if (x->s) x->s[0] = 0; }

void str_free(str *x)
{
	free(x->s);
	x->s = 0;
	x->len = x->cap = 0;
}

void str_wipe(str *x)
{
	if (x->s) {
		volatile char *v = x->s;
		size_t i;
		for (i = 0; i < x->cap; i++) v[i] = 0;
	}
	str_free(x);
}

void str_lower(str *x)
{
	size_t i;
	for (i = 0; i < x->len; i++)
		if (x->s[i] >= 'A' && x->s[i] <= 'Z') x->s[i] = (char)(x->s[i] + 32);
}

int str_equals(const str *x, const char *s)
{
	size_t n = strlen(s);
	return x->len == n && (n == 0 || memcmp(x->s, s, n) == 0);
}

int str_list_has(const str *x, const char *s, size_t n)
{
	return str_list_has_sep(x, 0, s, n);
}

int str_list_has_sep(const str *x, char sep, const char *s, size_t n)
{
	size_t i = 0;

	while (i < x->len) {
		const char *e = memchr(x->s + i, sep, x->len - i);
		size_t l = e ? (size_t)(e - (x->s + i)) : x->len - i;
		if (l == n && (n == 0 || memcmp(x->s + i, s, n) == 0)) return 1;
		i += l + 1;
	}
	return 0;
}
