/* b64.c: base64 for AUTH PLAIN and friends; input is untrusted. */
#include "b64.h"

static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

int b64_decode(const char *s, size_t n, str *out)
{
	size_t i;

	str_clear(out);
	if (n % 4) return 0;
	if (!str_ready(out, n / 4 * 3)) return 0;
	for (i = 0; i < n; i += 4) {
		int a = b64_value((unsigned char)s[i]), b = b64_value((unsigned char)s[i + 1]);
		int c, d;
		int last = i + 4 == n;
		if (a < 0 || b < 0) return 0;
		if (last && s[i + 2] == '=') {
			if (s[i + 3] != '=' || (b & 15)) return 0;
			out->s[out->len++] = (char)(a << 2 | b >> 4);
			break;
		}
		c = b64_value((unsigned char)s[i + 2]);
		if (c < 0) return 0;
		if (last && s[i + 3] == '=') {
			if (c & 3) return 0;
			out->s[out->len++] = (char)(a << 2 | b >> 4);
			out->s[out->len++] = (char)((b & 15) << 4 | c >> 2);
			break;
		}
		d = b64_value((unsigned char)s[i + 3]);
		if (d < 0) return 0;
		out->s[out->len++] = (char)(a << 2 | b >> 4);
		out->s[out->len++] = (char)((b & 15) << 4 | c >> 2);
		out->s[out->len++] = (char)((c & 3) << 6 | d);
	}
	out->s[out->len] = 0;
	return 1;
}

int b64_encode(const void *p, size_t n, str *out)
{
	const unsigned char *u = p;
	size_t i;

	str_clear(out);
	if (n > ((size_t)-1) / 2) return 0;
	if (!str_ready(out, (n + 2) / 3 * 4)) return 0;
	for (i = 0; i + 2 < n; i += 3) {
		out->s[out->len++] = tab[u[i] >> 2];
		out->s[out->len++] = tab[(u[i] & 3) << 4 | u[i + 1] >> 4];
		out->s[out->len++] = tab[(u[i + 1] & 15) << 2 | u[i + 2] >> 6];
		out->s[out->len++] = tab[u[i + 2] & 63];
	}
	if (i < n) {
		out->s[out->len++] = tab[u[i] >> 2];
		if (i + 1 < n) {
			out->s[out->len++] = tab[(u[i] & 3) << 4 | u[i + 1] >> 4];
			out->s[out->len++] = tab[(u[i + 1] & 15) << 2];
		} else {
			out->s[out->len++] = tab[(u[i] & 3) << 4];
			out->s[out->len++] = '=';
		}
		out->s[out->len++] = '=';
	}
	out->s[out->len] = 0;
	return 1;
}
