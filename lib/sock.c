/* sock.c: socket options for programs started by tcpserver or systemd
 * with the connection on descriptors 0 and 1. Trusts nothing from the
 * peer; runs with whatever privilege its caller has and needs none. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
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

/* the message header for one tag byte and room for two descriptors */
union sock_cmsg2 { struct cmsghdr h; char b[CMSG_SPACE(2 * sizeof(int))]; };

static void sock_msg(struct msghdr *m, struct iovec *iov, char *tag, union sock_cmsg2 *u)
{
	memset(u, 0, sizeof *u);
	memset(m, 0, sizeof *m);
	iov->iov_base = tag;
	iov->iov_len = 1;
	m->msg_iov = iov;
	m->msg_iovlen = 1;
	m->msg_control = u->b;
	m->msg_controllen = sizeof u->b;
}

int sock_send2fds(int s, char tag, int fd0, int fd1)
{
	union sock_cmsg2 u;
	struct msghdr m;
	struct iovec iov;
	struct cmsghdr *c;
	int fds[2];

	sock_msg(&m, &iov, &tag, &u);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	fds[0] = fd0;
	fds[1] = fd1;
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	for (;;) {
		ssize_t r = sendmsg(s, &m, MSG_NOSIGNAL);
		if (r == 1) return 1;
		if (r < 0 && errno == EINTR) continue;
		return 0;
	}
}

int sock_recv2fds(int s, char tag, int fds[2], int timeout_ms)
{
	union sock_cmsg2 u;
	struct pollfd p;
	struct msghdr m;
	struct iovec iov;
	struct cmsghdr *c;
	char b = 0;
	ssize_t r;

	p.fd = s;
	p.events = POLLIN;
	for (;;) {
		int n = poll(&p, 1, timeout_ms);
		if (n > 0) break;
		if (n < 0 && errno == EINTR) continue;
		return 0;
	}
	sock_msg(&m, &iov, &b, &u);
	do r = recvmsg(s, &m, MSG_CMSG_CLOEXEC); while (r < 0 && errno == EINTR);
	c = r == 1 ? CMSG_FIRSTHDR(&m) : 0;
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(2 * sizeof(int))) {
		/* close whatever came, however it came */
		for (c = r >= 0 ? CMSG_FIRSTHDR(&m) : 0; c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				size_t i, k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (i = 0; i < k; i++) {
					int x;
					memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof x);
					close(x);
				}
			}
		return 0;
	}
	memcpy(fds, CMSG_DATA(c), 2 * sizeof(int));
	if (b != tag || (m.msg_flags & MSG_CTRUNC)) { close(fds[0]); close(fds[1]); return 0; }
	return 1;
}
