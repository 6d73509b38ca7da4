/* relay.c: who the client is and whether it may relay: the remote address
 * (from tcpserver's TCPREMOTEIP or getpeername on the socket) matched
 * against control/relayclients, a list of CIDR networks (IPv4 and IPv6).
 * Trusts the control file's owner; runs as the `facteur` user. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "scan.h"
#include "smtpd-internal.h"

#define IP_TEXT_MAX 64

/* an address as 16 bytes, IPv4 mapped into ::ffff:0:0/96 so one
 * comparison covers both families */
static int ip_parse(const char *s, size_t n, unsigned char out[16], unsigned *bits)
{
	char b[IP_TEXT_MAX];
	struct in_addr a4;

	if (n == 0 || n >= sizeof b) return 0;
	memcpy(b, s, n);
	b[n] = 0;
	if (inet_pton(AF_INET, b, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		*bits = 32;
		return 4;
	}
	if (inet_pton(AF_INET6, b, out) == 1) {
		*bits = 128;
		return 6;
	}
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

/* cidrlist: NUL-separated lines as control_readlines gives them */
int relay_cidr_match(const char *ip, const char *cidrlist, size_t listlen)
{
	unsigned char addr[16], net[16];
	unsigned abits, nbits;
	size_t i = 0;

	if (!ip || !ip_parse(ip, strlen(ip), addr, &abits)) return 0;
	while (i < listlen) {
		const char *line = cidrlist + i;
		size_t l = strnlen(line, listlen - i);
		const char *slash = memchr(line, '/', l);
		size_t alen = slash ? (size_t)(slash - line) : l;
		int fam = ip_parse(line, alen, net, &nbits);

		i += l + 1;
		if (!fam) continue;
		if (slash) {
			unsigned long long p;
			size_t pl = l - alen - 1;
			if (pl == 0 || scan_ulong(slash + 1, pl, &p) != pl || p > nbits) continue;
			nbits = (unsigned)p + (fam == 4 ? 96 : 0);
		} else if (fam == 4) {
			nbits = 128;
		}
		if (prefix_eq(addr, net, nbits)) return 1;
	}
	return 0;
}

int relay_is_loopback(const char *ip)
{
	static const char lo[] = "127.0.0.0/8\0::1/128\0";
	return relay_cidr_match(ip, lo, sizeof lo - 1);
}

int relay_remote_ip(str *out, int fd)
{
	const char *e = getenv("TCPREMOTEIP");
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char b[INET6_ADDRSTRLEN];

	str_clear(out);
	if (e && *e && strlen(e) < IP_TEXT_MAX) return str_copys(out, e) && str_0(out);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) return str_0(out);
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		if (!inet_ntop(AF_INET, &in->sin_addr, b, sizeof b)) return str_0(out);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		const unsigned char *a = in6->sin6_addr.s6_addr;
		static const unsigned char mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
		if (memcmp(a, mapped, 12) == 0) {
			if (!inet_ntop(AF_INET, a + 12, b, sizeof b)) return str_0(out);
		} else if (!inet_ntop(AF_INET6, a, b, sizeof b)) {
			return str_0(out);
		}
	} else {
		return str_0(out);
	}
	return str_copys(out, b) && str_0(out);
}
