/* tlsctl.c: STARTTLS from the protocol program's side. Trusts the engine
 * (our own process, over a socketpair); the client's bytes from before the
 * handshake are discarded here (CVE-2011-0411). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "scan.h"
#include "tlsctl.h"

static int active = -1;

int tlsctl_fd(void)
{
	const char *e = getenv("FACTEUR_TLSCTL");
	unsigned long long v;

	if (!e || !*e) return -1;
	if (scan_ulong(e, strlen(e), &v) != strlen(e) || v > 1024) return -1;
	return (int)v;
}

int tlsctl_active(void)
{
	if (active < 0) {
		const char *e = getenv("FACTEUR_TLS");
		active = e && strcmp(e, "1") == 0;
	}
	return active;
}

static void drain(int fd)
{
	char b[4096];
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return;
	for (;;) {
		ssize_t r = read(fd, b, sizeof b);
		if (r > 0) continue;
		if (r < 0 && errno == EINTR) continue;
		break;
	}
	fcntl(fd, F_SETFL, fl);
}

int tlsctl_starttls(bufin *in, str *info)
{
	int fd = tlsctl_fd();
	char c;
	long r;

	str_clear(info);
	if (fd < 0 || tlsctl_active()) return 0;
	if (!fd_writeall(fd, "Y", 1, TLSCTL_TIMEOUT_MS)) return 0;
	r = fd_read_timeout(fd, &c, 1, TLSCTL_TIMEOUT_MS);
	if (r != 1 || c != 'Y') return 0;
	for (;;) {
		r = fd_read_timeout(fd, &c, 1, TLSCTL_TIMEOUT_MS);
		if (r != 1) return 0;
		if (c == '\n') break;
		if (info->len < 200 && !str_appendc(info, c)) return 0;
	}
	bufin_discard(in);
	drain(in->fd);
	if (!fd_writeall(fd, "G", 1, TLSCTL_TIMEOUT_MS)) return 0;
	active = 1;
	return 1;
}
