/* idna.c: A-labels for the DNS (RFC 5890, Punycode: RFC 3492 6.3). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "addr.h"
#include "idna.h"

enum { P_BASE = 36, P_TMIN = 1, P_TMAX = 26, P_SKEW = 38, P_DAMP = 700,
       P_BIAS = 72, P_N = 128 };

int idna_nonascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80) return 1;
	return 0;
}

static uint32_t adapt(uint32_t delta, uint32_t npoints, int first)
{
	uint32_t k = 0;

	delta = first ? delta / P_DAMP : delta / 2;
	delta += delta / npoints;
	while (delta > ((P_BASE - P_TMIN) * P_TMAX) / 2) {
		delta /= P_BASE - P_TMIN;
		k += P_BASE;
	}
	return k + (P_BASE - P_TMIN + 1) * delta / (delta + P_SKEW);
}

static char digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + d - 26);
}

/* the code points of one UTF-8 label (utf8_valid checked it); at most max */
static size_t decode(const unsigned char *s, size_t n, uint32_t *cp, size_t max)
{
	size_t i = 0, k = 0;

	while (i < n && k < max) {
		uint32_t c = s[i];
		size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4, j;
		if (len > 1) c &= 0x3f >> (len - 1);
		for (j = 1; j < len && i + j < n; j++) c = (c << 6) | (s[i + j] & 0x3f);
		if (c <= ' ' || c == 0x7f) return (size_t)-1;   /* as in ASCII labels */
		if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
		cp[k++] = c;
		i += len;
	}
	return i < n ? (size_t)-1 : k;
}

/* RFC 3492 6.3, for a label of at most IDNA_LABEL_MAX code points: the
 * output is bounded by the label limit, checked by the caller */
static int punycode(const uint32_t *cp, size_t len, str *out)
{
	uint32_t n = P_N, delta = 0, bias = P_BIAS, h, b = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (cp[i] < 0x80) { if (!str_appendc(out, (char)cp[i])) return 0; b++; }
	if (b > 0 && !str_appendc(out, '-')) return 0;
	h = b;
	while (h < len) {
		uint32_t m = UINT32_MAX;
		for (i = 0; i < len; i++)
			if (cp[i] >= n && cp[i] < m) m = cp[i];
		/* (m - n) * (h + 1) cannot overflow: m < 0x110000, h < 64 */
		delta += (m - n) * (h + 1);
		n = m;
		for (i = 0; i < len; i++) {
			if (cp[i] < n) delta++;
			if (cp[i] != n) continue;
			{
				uint32_t q = delta, k;
				for (k = P_BASE;; k += P_BASE) {
					uint32_t t = k <= bias ? P_TMIN : k >= bias + P_TMAX ? P_TMAX : k - bias;
					if (q < t) break;
					if (!str_appendc(out, digit(t + (q - t) % (P_BASE - t)))) return 0;
					q = (q - t) / (P_BASE - t);
				}
				if (!str_appendc(out, digit(q))) return 0;
			}
			bias = adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		n++;
	}
	return 1;
}

int idna_to_ascii(const char *dom, size_t n, str *out)
{
	size_t i = 0;

	str_clear(out);
	if (n && dom[n - 1] == '.') n--;      /* the root's dot */
	if (!utf8_valid(dom, n)) { errno = EINVAL; return 0; }
	while (i <= n) {
		const char *dot = memchr(dom + i, '.', n - i);
		size_t e = dot ? (size_t)(dot - dom) : n, l = e - i, start = out->len;
		if (l == 0) { errno = EINVAL; return 0; }
		if (idna_nonascii(dom + i, l)) {
			uint32_t cp[IDNA_LABEL_MAX + 1];
			size_t k = decode((const unsigned char *)dom + i, l, cp, IDNA_LABEL_MAX + 1);
			if (k == (size_t)-1 || k > IDNA_LABEL_MAX) { errno = EINVAL; return 0; }
			if (!str_appends(out, "xn--") || !punycode(cp, k, out)) return 0;
		} else {
			size_t j;
			for (j = i; j < e; j++) {
				char c = dom[j];
				/* no name holds a control byte, a space or a NUL */
				if ((unsigned char)c <= ' ' || c == 0x7f) { errno = EINVAL; return 0; }
				if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
				if (!str_appendc(out, c)) return 0;
			}
		}
		if (out->len - start > IDNA_LABEL_MAX) { errno = EINVAL; return 0; }
		if (!dot) break;
		if (!str_appendc(out, '.')) return 0;
		i = e + 1;
	}
	if (out->len > IDNA_NAME_MAX) { errno = EINVAL; return 0; }
	return str_0(out);
}
