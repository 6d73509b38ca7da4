/* mutf7.c: modified UTF-7 for IMAP mailbox names. Input is untrusted
 * network data; runs at whatever privilege the caller has. Decoding is
 * strict (RFC 3501 5.1.3): printable ASCII must not be base64-encoded,
 * shifts must end with '-', padding bits must be zero, UTF-16 surrogates
 * must pair up. */
#include <stdint.h>
#include "addr.h"
#include "mutf7.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == ',') return 63;
	return -1;
}

static int put_utf8(str *out, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) { b[0] = (char)cp; n = 1; }
	else if (cp < 0x800) { b[0] = (char)(0xc0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
	else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12); b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18); b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); b[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
	}
	return str_append(out, b, n);
}

int mutf7_decode(const char *s, size_t n, str *out)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		uint32_t bits = 0, hi = 0;
		unsigned nbits = 0, units = 0;

		if (c < 0x20 || c > 0x7e) return 0;
		if (c != '&') {
			if (!str_appendc(out, (char)c)) return 0;
			i++;
			continue;
		}
		i++;
		if (i < n && s[i] == '-') {
			if (!str_appendc(out, '&')) return 0;
			i++;
			continue;
		}
		for (;;) {
			int v;
			if (i >= n) return 0;               /* unterminated shift */
			if (s[i] == '-') { i++; break; }
			v = b64val((unsigned char)s[i++]);
			if (v < 0) return 0;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				uint32_t u = (bits >> (nbits - 16)) & 0xffff;
				nbits -= 16;
				bits &= (1u << nbits) - 1;
				units++;
				if (hi) {
					if (u < 0xdc00 || u > 0xdfff) return 0;
					if (!put_utf8(out, 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00))) return 0;
					hi = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					hi = u;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					return 0;
				} else {
					if (u < 0x80) return 0;  /* ASCII must be sent direct */
					if (!put_utf8(out, u)) return 0;
				}
			}
		}
		if (hi || units == 0 || nbits >= 6 || bits != 0) return 0;
		/* "&...-&...-" is two shifts where one would do: not canonical */
		if (i < n && s[i] == '&' && !(i + 1 < n && s[i + 1] == '-')) return 0;
	}
	return 1;
}

static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	if (s[0] < 0x80) { *cp = s[0]; return 1; }
	if ((s[0] & 0xe0) == 0xc0 && n >= 2) { *cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f); return 2; }
	if ((s[0] & 0xf0) == 0xe0 && n >= 3) {
		*cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
		return 3;
	}
	if ((s[0] & 0xf8) == 0xf0 && n >= 4) {
		*cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
		      (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
		return 4;
	}
	return 0;
}

int mutf7_encode(const char *s, size_t n, str *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	if (!utf8_valid(s, n)) return 0;
	while (i < n) {
		uint32_t cp, bits = 0;
		unsigned nbits = 0;

		if (u[i] >= 0x20 && u[i] <= 0x7e) {
			if (!str_appendc(out, (char)u[i])) return 0;
			if (u[i] == '&' && !str_appendc(out, '-')) return 0;
			i++;
			continue;
		}
		if (!str_appendc(out, '&')) return 0;
		while (i < n && !(u[i] >= 0x20 && u[i] <= 0x7e)) {
			uint32_t units[2];
			int k, nu;
			size_t l = utf8_next(u + i, n - i, &cp);
			if (!l) return 0;
			i += l;
			if (cp >= 0x10000) {
				units[0] = 0xd800 + ((cp - 0x10000) >> 10);
				units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
				nu = 2;
			} else { units[0] = cp; nu = 1; }
			for (k = 0; k < nu; k++) {
				bits = (bits << 16) | units[k];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					if (!str_appendc(out, b64[(bits >> nbits) & 0x3f])) return 0;
				}
				bits &= (1u << nbits) - 1;
			}
		}
		if (nbits && !str_appendc(out, b64[(bits << (6 - nbits)) & 0x3f])) return 0;
		if (!str_appendc(out, '-')) return 0;
	}
	return 1;
}
