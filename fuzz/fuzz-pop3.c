/* fuzz-pop3.c: libFuzzer target for facteur-pop3d's network-facing code:
 * the command reader (pop3_readcmd, pop3_readsasl, pop3_msgno in
 * pop3d/io.c) over a hostile pipelined command stream, the whole
 * AUTHORIZATION state (pop3_preauth, pop3d/preauth.c: USER/PASS, AUTH
 * PLAIN, CAPA, the hand-over of pipelined bytes), and the message encoder
 * (pop3_sendmsg, maildrop_measure in pop3d/maildrop.c) over a hostile
 * message file. Asserts the encoder's promises: CRLF only, every line
 * starting with a dot stuffed, and exactly the size that LIST and STAT
 * announced; and that the mailbox process would receive exactly the bytes
 * the client pipelined behind its password. The first byte picks the part.
 * fuzz/build links this with -Wl,--wrap for auth_checkpassword_run (no
 * checker runs: password "pw" logs in, "temp" fails temporarily) and
 * nanosleep (no failed-login delay). Test code; runs as whoever runs it. */
#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "pop3-internal.h"

#define CMDS_MAX 256

/* the session pop3_preauth is running, for the checks at login */
static struct pop3_io *cur_io;

int __wrap_auth_checkpassword_run(const char *user, size_t ulen, const char *pass,
                                  size_t plen, char *const *prog, int timeout_ms)
{
	static bufin next;   /* what the mailbox process would read first */
	size_t have = bufin_pending(&cur_io->in);

	if (!ulen || memchr(user, 0, ulen)) abort();
	bufin_init(&next, -1, 0, 0);
	pop3_pending_import(&next);
	if (bufin_pending(&next) != have ||
	    (have && memcmp(next.b + next.p, cur_io->in.b + cur_io->in.p, have))) abort();
	if (getenv(POP3_PENDING_ENV)) abort();
	if (plen == 2 && !memcmp(pass, "pw", 2)) return 1;
	if (plen == 4 && !memcmp(pass, "temp", 4)) return -1;
	return 0;
}

int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
	return 0;
}

static int memfile(const uint8_t *d, size_t n)
{
	int fd = memfd_create("fuzz", 0);

	if (fd < 0) abort();
	if (n && fd_writeall(fd, d, n, -1) != 1) abort();
	if (lseek(fd, 0, SEEK_SET) != 0) abort();
	return fd;
}

static void commands(const uint8_t *d, size_t n)
{
	struct pop3_io io;
	struct pop3_cmd c;
	int fd = memfile(d, n), out = memfd_create("out", 0), k;

	if (out < 0) abort();
	pop3_io_init(&io);
	bufin_init(&io.in, fd, 1000, &io.out);
	bufout_init(&io.out, out, 1000);
	for (k = 0; k < CMDS_MAX; k++) {
		int r = pop3_readcmd(&io, &c);
		if (r == POP3_CMD_EOF || r == POP3_CMD_FATAL) break;
		if (r != POP3_CMD_OK) continue;
		if (strlen(c.verb) > 4) abort();
		if (c.arglen && (c.arg < io.line.s || c.arg + c.arglen > io.line.s + io.line.len)) abort();
		(void)pop3_msgno(c.arg, c.arglen, 100);
		(void)pop3_msgno(c.arg, c.arglen, (unsigned long)-1);
		if (!strcmp(c.verb, "AUTH") && pop3_readsasl(&io) < 0) break;
	}
	pop3_flush(&io);
	str_free(&io.line);
	close(fd);
	close(out);
}

static void preauth(const uint8_t *d, size_t n, int plaintext)
{
	struct pop3_io io;
	struct pop3_auth a;
	int fd = memfile(d, n), out = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (out < 0) abort();
	pop3_io_init(&io);
	bufin_init(&io.in, fd, 1000, &io.out);
	bufout_init(&io.out, out, 1000);
	memset(&a, 0, sizeof a);
	a.io = &io;
	a.plaintext_ok = plaintext;
	a.remote_trusted = plaintext;
	if (!str_copys(&a.self, "/nonexistent/facteur-pop3d") || !str_0(&a.self)) abort();
	memcpy(a.remote, "192.0.2.1", 10);
	cur_io = &io;
	(void)pop3_preauth(&a);
	if (a.failures > POP3_AUTH_TRIES) abort();
	cur_io = 0;
	unsetenv(POP3_PENDING_ENV);
	str_free(&a.user);
	str_free(&a.self);
	str_free(&io.line);
	close(fd);
	close(out);
}

static void message(const uint8_t *d, size_t n, unsigned long long lines)
{
	int fd = memfile(d, n), out = memfd_create("out", 0);
	unsigned long long size = 0, dots = 0;
	bufout o;
	char *sent;
	off_t len;
	size_t i;

	if (out < 0) abort();
	if (!maildrop_measure(fd, &size)) abort();
	if (lseek(fd, 0, SEEK_SET) != 0) abort();
	bufout_init(&o, out, 1000);
	if (!pop3_sendmsg(&o, fd, lines) || !bufout_flush(&o)) abort();
	len = lseek(out, 0, SEEK_END);
	sent = malloc(len ? (size_t)len : 1);
	if (!sent || pread(out, sent, (size_t)len, 0) != len) abort();
	for (i = 0; i < (size_t)len; i++) {
		if (sent[i] == '\n' && (i == 0 || sent[i - 1] != '\r')) abort();
		if (sent[i] == '.' && (i == 0 || sent[i - 1] == '\n')) {
			/* stuffed: the next byte is the message's own dot */
			if (i + 1 >= (size_t)len || sent[i + 1] != '.') abort();
			dots++;
			i++;
		}
	}
	if (len && sent[len - 1] != '\n') abort();
	if (lines == (unsigned long long)-1 && (unsigned long long)len != size + dots) abort();
	free(sent);
	close(fd);
	close(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (!n) return 0;
	switch (d[0] % 4) {
	case 0: commands(d + 1, n - 1); break;
	case 1: message(d + 1, n - 1, (unsigned long long)-1); break;
	case 2: message(d + 1, n - 1, d[0] / 4 % 4); break;
	default: preauth(d + 1, n - 1, d[0] & 4); break;
	}
	return 0;
}
