/* fmt.c: number and date formatting, unique names. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>
#include "fmt.h"

size_t fmt_ulong(char *buf, unsigned long long u)
{
	char t[FMT_ULONG];
	size_t i = sizeof t, n;

	do { t[--i] = (char)('0' + u % 10); u /= 10; } while (u);
	n = sizeof t - i;
	memcpy(buf, t + i, n);
	return n;
}

size_t fmt_xlong(char *buf, unsigned long long u)
{
	char t[FMT_ULONG];
	size_t i = sizeof t, n;

	do { t[--i] = "0123456789abcdef"[u & 15]; u >>= 4; } while (u);
	n = sizeof t - i;
	memcpy(buf, t + i, n);
	return n;
}

size_t fmt_date822(char buf[FMT_DATE], time_t t)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char mons[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm, g;
	long off;
	size_t n = 0;
	unsigned long a;

	localtime_r(&t, &tm);
	gmtime_r(&t, &g);
	off = tm.tm_gmtoff / 60;
	memcpy(buf, days + 3 * tm.tm_wday, 3); n = 3;
	buf[n++] = ','; buf[n++] = ' ';
	buf[n++] = (char)('0' + tm.tm_mday / 10); buf[n++] = (char)('0' + tm.tm_mday % 10);
	buf[n++] = ' ';
	memcpy(buf + n, mons + 3 * tm.tm_mon, 3); n += 3;
	buf[n++] = ' ';
	n += fmt_ulong(buf + n, (unsigned long long)(tm.tm_year + 1900));
	buf[n++] = ' ';
	buf[n++] = (char)('0' + tm.tm_hour / 10); buf[n++] = (char)('0' + tm.tm_hour % 10);
	buf[n++] = ':';
	buf[n++] = (char)('0' + tm.tm_min / 10); buf[n++] = (char)('0' + tm.tm_min % 10);
	buf[n++] = ':';
	buf[n++] = (char)('0' + tm.tm_sec / 10); buf[n++] = (char)('0' + tm.tm_sec % 10);
	buf[n++] = ' ';
	buf[n++] = off < 0 ? '-' : '+';
	a = (unsigned long)(off < 0 ? -off : off);
	buf[n++] = (char)('0' + (a / 60) / 10 % 10); buf[n++] = (char)('0' + (a / 60) % 10);
	buf[n++] = (char)('0' + (a % 60) / 10); buf[n++] = (char)('0' + (a % 60) % 10);
	buf[n] = 0;
	return n;
}

int random_bytes(void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = getrandom(c, n, 0);
		if (r < 0) { if (errno == EINTR) continue; return 0; }
		c += r;
		n -= (size_t)r;
	}
	return 1;
}

int uniq_make(str *out)
{
	struct timeval tv;
	unsigned char rnd[6];
	char b[FMT_ULONG];
	size_t i;

	gettimeofday(&tv, 0);
	if (!random_bytes(rnd, sizeof rnd)) return 0;
	str_clear(out);
	if (!str_append(out, b, fmt_ulong(b, (unsigned long long)tv.tv_sec)) ||
	    !str_appendc(out, '.')) return 0;
	{
		/* six digits of microseconds keep names sortable by time */
		char us[7];
		unsigned long u = (unsigned long)tv.tv_usec;
		for (i = 6; i-- > 0; u /= 10) us[i] = (char)('0' + u % 10);
		if (!str_append(out, us, 6) || !str_appendc(out, '.')) return 0;
	}
	if (!str_append(out, b, fmt_ulong(b, (unsigned long long)getpid())) ||
	    !str_appendc(out, '.')) return 0;
	for (i = 0; i < sizeof rnd; i++) {
		if (!str_appendc(out, "0123456789abcdef"[rnd[i] >> 4]) ||
		    !str_appendc(out, "0123456789abcdef"[rnd[i] & 15])) return 0;
	}
	return 1;
}
