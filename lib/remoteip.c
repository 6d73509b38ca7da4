/* remoteip.c: the client's address and network membership for every
 * protocol program (smtpd, lmtpd, pop3d, imapd), so that all of them
 * agree on what "loopback" and "::ffff:1.2.3.4" mean. Trusts the
 * environment (set by tcpserver, systemd or facteur-tlsd) and the control
 * file's owner for the network list; runs as whatever calls it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "remoteip.h"
#include "scan.h"

/* IPv4 lives in ::ffff:0:0/96, so one comparison covers both families */
static const unsigned char v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

/* s[0..n) as 16 bytes; 4 for IPv4 text, 6 for IPv6 text, 0 not an address */
static int ip_parse(const char *s, size_t n, unsigned char out[16])
{
	char b[REMOTEIP_TEXT_MAX];
	struct in_addr a4;

	if (n == 0 || n >= sizeof b || memchr(s, 0, n)) return 0;
	memcpy(b, s, n);
	b[n] = 0;
	if (inet_pton(AF_INET, b, &a4) == 1) {
		memcpy(out, v4mapped, sizeof v4mapped);
		memcpy(out + 12, &a4, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, b, out) == 1) return 6;
	return 0;
}

static int prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0) return 0;
	if (rest) {
		unsigned char m = (unsigned char)(0xff << (8 - rest));
		if ((a[full] & m) != (b[full] & m)) return 0;
	}
	return 1;
}

/* 16 bytes as text, mapped IPv4 as IPv4; 0 when inet_ntop refuses */
static int ip_text(const unsigned char a[16], str *out)
{
	char b[INET6_ADDRSTRLEN];

	if (memcmp(a, v4mapped, sizeof v4mapped) == 0) {
		if (!inet_ntop(AF_INET, a + 12, b, sizeof b)) return 0;
	} else if (!inet_ntop(AF_INET6, a, b, sizeof b)) {
		return 0;
	}
	return str_copys(out, b);
}

int remoteip_match(const char *ip, const char *list, size_t listlen)
{
	unsigned char addr[16], net[16];
	size_t i = 0;

	if (!ip || !ip_parse(ip, strlen(ip), addr)) return 0;
	while (i < listlen) {
		const char *line = list + i;
		size_t l = strnlen(line, listlen - i);
		const char *slash = memchr(line, '/', l);
		size_t alen = slash ? (size_t)(slash - line) : l;
		int fam = ip_parse(line, alen, net);
		unsigned bits = 128;

		i += l + 1;
		if (!fam) continue;
		if (slash) {
			unsigned long long p;
			size_t pl = l - alen - 1;
			if (pl == 0 || scan_ulong(slash + 1, pl, &p) != pl || p > (fam == 4 ? 32u : 128u)) continue;
			bits = (unsigned)p + (fam == 4 ? 96 : 0);
		}
		if (prefix_eq(addr, net, bits)) return 1;
	}
	return 0;
}

int remoteip_is_loopback(const char *ip)
{
	static const char lo[] = "127.0.0.0/8\0::1/128\0";
	return remoteip_match(ip, lo, sizeof lo - 1);
}

int remoteip_get(str *out, int fd)
{
	const char *e = getenv("TCPREMOTEIP");
	size_t el = e ? strlen(e) : 0;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	unsigned char a[16];

	/* room for any answer up front: running out of memory halfway must
	 * not leave "" behind, which callers may read as a local session */
	str_clear(out);
	if (!str_ready(out, REMOTEIP_TEXT_MAX)) return 0;
	if (el && el < REMOTEIP_TEXT_MAX) {
		if (ip_parse(e, el, a) && ip_text(a, out)) return str_0(out);
		return str_copy(out, e, el) && str_0(out);
	}
	memset(&ss, 0, sizeof ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			memcpy(a, v4mapped, sizeof v4mapped);
			memcpy(a + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
			if (ip_text(a, out)) return str_0(out);
		} else if (ss.ss_family == AF_INET6) {
			memcpy(a, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
			if (ip_text(a, out)) return str_0(out);
		}
	}
	/* an over-long $TCPREMOTEIP still says "a network client": keep it,
	 * cut, so that no caller takes the session for a local one */
	if (el) return str_copy(out, e, REMOTEIP_TEXT_MAX - 1) && str_0(out);
	return str_0(out);
}
