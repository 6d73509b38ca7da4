/* sock.c: socket options for programs started by tcpserver or systemd
 * with the connection on descriptors 0 and 1. Trusts nothing from the
 * peer; runs with whatever privilege its caller has and needs none. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "sock.h"

int sock_nodelay(int fd)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof sa;
	int type = 0, one = 1;
	socklen_t tl = sizeof type;

	/* tcpserver without -D, systemd without NoDelay=: Nagle stays on and
	 * the second segment of a reply waits ~40 ms for the delayed ACK */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) return 0;
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) return 0;
	if (sa.ss_family != AF_INET && sa.ss_family != AF_INET6) return 0;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}
