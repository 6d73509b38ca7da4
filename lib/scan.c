/* scan.c: checked decimal parsing. */
#include "scan.h"

size_t scan_ulong_max(const char *s, size_t n, unsigned long long max,
                      unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10) return 0;
		v = v * 10 + d;
	}
	if (i) *out = v;
	return i;
}

size_t scan_ulong(const char *s, size_t n, unsigned long long *out)
{
	return scan_ulong_max(s, n, ~0ULL, out);
}
