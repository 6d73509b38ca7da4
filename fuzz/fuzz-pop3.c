/* fuzz-pop3.c: libFuzzer target for facteur-pop3d's network-facing code:
 * the command reader (pop3_readcmd, pop3_readsasl, pop3_msgno in
 * pop3d/io.c) over a hostile pipelined command stream, and the message
 * encoder (pop3_sendmsg, maildrop_measure in pop3d/maildrop.c) over a
 * hostile message file. Asserts the encoder's promises: CRLF only, every
 * line starting with a dot stuffed, and exactly the size that LIST and
 * STAT announced. The first byte picks the part. Test code; runs as
 * whoever runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "pop3-internal.h"

#define CMDS_MAX 256

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
	switch (d[0] % 3) {
	case 0: commands(d + 1, n - 1); break;
	case 1: message(d + 1, n - 1, (unsigned long long)-1); break;
	default: message(d + 1, n - 1, d[0] / 3 % 4); break;
	}
	return 0;
}
