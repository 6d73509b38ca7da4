/* unit-pop3.c: unit tests of facteur-pop3d's parsers and its message
 * encoder, linked directly (t/46-pop3-unit.t). Prints TAP. Test code; runs
 * as whoever runs the test, in a temporary directory it makes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "pop3-internal.h"
#include "remoteip.h"

static int n_tests, n_failed;

static void ok(int cond, const char *name)
{
	n_tests++;
	if (!cond) n_failed++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", n_tests, name);
}

static void test_msgno(void)
{
	ok(pop3_msgno("1", 1, 5) == 1, "msgno 1");
	ok(pop3_msgno("5", 1, 5) == 5, "msgno at max");
	ok(pop3_msgno("6", 1, 5) == 0, "msgno past max");
	ok(pop3_msgno("0", 1, 5) == 0, "msgno 0");
	ok(pop3_msgno("", 0, 5) == 0, "msgno empty");
	ok(pop3_msgno("-1", 2, 5) == 0, "msgno negative");
	ok(pop3_msgno("+1", 2, 5) == 0, "msgno with sign");
	ok(pop3_msgno("4294967297", 10, 5) == 0, "msgno 2^32+1 does not wrap to 1");
	ok(pop3_msgno("18446744073709551617", 20, 5) == 0, "msgno 2^64+1 does not wrap to 1");
	ok(pop3_msgno("18446744073709551616", 20, (unsigned long)-1) == 0, "msgno 2^64 with a huge max");
	ok(pop3_msgno("000000000000000000001", 21, 5) == 0, "msgno with more than 20 digits");
	ok(pop3_msgno("0002", 4, 5) == 2, "msgno leading zeros");
	ok(pop3_msgno("1 ", 2, 5) == 0, "msgno trailing space");
}

static void test_plain(void)
{
	const char *u, *p;
	size_t ul, pl;

	ok(pop3_sasl_plain("\0al\0pw", 6, &u, &ul, &p, &pl) && ul == 2 && !memcmp(u, "al", 2) &&
	   pl == 2 && !memcmp(p, "pw", 2), "PLAIN without authzid");
	ok(pop3_sasl_plain("AL\0al\0pw", 8, &u, &ul, &p, &pl), "PLAIN authzid = authcid (any case)");
	ok(!pop3_sasl_plain("bo\0al\0pw", 8, &u, &ul, &p, &pl), "PLAIN other authzid refused");
	ok(!pop3_sasl_plain("\0al", 3, &u, &ul, &p, &pl), "PLAIN one NUL refused");
	ok(!pop3_sasl_plain("\0\0pw", 4, &u, &ul, &p, &pl), "PLAIN empty authcid refused");
	ok(!pop3_sasl_plain("\0al\0p\0w", 8, &u, &ul, &p, &pl), "PLAIN NUL in password refused");
	ok(pop3_sasl_plain("\0al\0", 4, &u, &ul, &p, &pl) && pl == 0, "PLAIN empty password parses");
	ok(!pop3_sasl_plain("", 0, &u, &ul, &p, &pl), "PLAIN empty message refused");
}

static void test_loopback(void)
{
	ok(remoteip_is_loopback("127.0.0.1") && remoteip_is_loopback("127.9.9.9"), "127/8 is loopback");
	ok(remoteip_is_loopback("::1") && remoteip_is_loopback("::ffff:127.0.0.1"), "::1 and mapped 127 are loopback");
	ok(!remoteip_is_loopback("128.0.0.1") && !remoteip_is_loopback("::2") && !remoteip_is_loopback("1270.0.0.1"),
	   "others are not (prefix match kept to 127.)");
	ok(!remoteip_is_loopback("192.0.2.1") && !remoteip_is_loopback(""), "documentation net and empty are not");
}

/* what pop3_sendmsg writes for content, read back through a pipe */
static int encode(const char *content, size_t n, unsigned long long lines, str *out)
{
	char tmpl[] = "/tmp/unit-pop3-XXXXXX";
	int fd = mkstemp(tmpl), p[2];
	bufout bo;
	pid_t pid;
	char b[4096];
	ssize_t r;

	if (fd < 0) return 0;
	unlink(tmpl);
	if (write(fd, content, n) != (ssize_t)n || lseek(fd, 0, SEEK_SET) != 0 || pipe(p) != 0) return 0;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		bufout_init(&bo, p[1], 5000);
		_exit(pop3_sendmsg(&bo, fd, lines) && bufout_flush(&bo) ? 0 : 1);
	}
	close(p[1]);
	str_clear(out);
	while ((r = read(p[0], b, sizeof b)) > 0)
		if (!str_append(out, b, (size_t)r)) return 0;
	close(p[0]);
	close(fd);
	waitpid(pid, 0, 0);
	return 1;
}

static unsigned long long measure(const char *content, size_t n)
{
	char tmpl[] = "/tmp/unit-pop3-XXXXXX";
	int fd = mkstemp(tmpl);
	unsigned long long s = (unsigned long long)-1;

	if (fd < 0) return s;
	unlink(tmpl);
	if (write(fd, content, n) == (ssize_t)n && lseek(fd, 0, SEEK_SET) == 0)
		maildrop_measure(fd, &s);
	close(fd);
	return s;
}

/* undo byte-stuffing: what a client reconstructs */
static size_t unstuffed_len(const str *s)
{
	size_t i, n = 0;
	int bol = 1;

	for (i = 0; i < s->len; i++) {
		if (bol && s->s[i] == '.') { bol = 0; continue; }
		n++;
		bol = s->s[i] == '\n';
	}
	return n;
}

static int is_eq(const str *s, const char *want)
{
	return s->len == strlen(want) && memcmp(s->s, want, s->len) == 0;
}

static void test_encoder(void)
{
	str o = STR_ZERO;
	unsigned i, bad = 0, badstuff = 0;
	const unsigned long long ALL = (unsigned long long)-1;

	ok(encode("a\nb\n", 4, ALL, &o) && is_eq(&o, "a\r\nb\r\n"), "LF to CRLF");
	ok(encode("a\r\nb\r\n", 6, ALL, &o) && is_eq(&o, "a\r\nb\r\n"), "CRLF kept");
	ok(encode("a\nb", 3, ALL, &o) && is_eq(&o, "a\r\nb\r\n"), "final CRLF added");
	ok(encode(".a\n..\n.\nx.y\n", 12, ALL, &o) && is_eq(&o, "..a\r\n...\r\n..\r\nx.y\r\n"), "dot-stuffing");
	ok(encode("a\rb\n", 4, ALL, &o) && is_eq(&o, "a\rb\r\n"), "bare CR kept inside a line");
	ok(encode("", 0, ALL, &o) && o.len == 0, "empty message");
	ok(encode("H: 1\n\nb1\nb2\nb3\n", 15, 0, &o) && is_eq(&o, "H: 1\r\n\r\n"), "TOP 0: headers and blank line");
	ok(encode("H: 1\n\nb1\nb2\nb3\n", 15, 2, &o) && is_eq(&o, "H: 1\r\n\r\nb1\r\nb2\r\n"), "TOP 2");
	ok(encode("H: 1\r\n\r\n.b1\r\n", 13, 1, &o) && is_eq(&o, "H: 1\r\n\r\n..b1\r\n"), "TOP stuffs too");
	ok(encode("H: 1\nH: 2\n", 10, 0, &o) && is_eq(&o, "H: 1\r\nH: 2\r\n"), "TOP without a body");
	/* random messages: size counted = bytes a client gets after unstuffing */
	srand(4242);
	for (i = 0; i < 2000; i++) {
		char m[300];
		size_t n = (size_t)(rand() % 300), k;
		static const char alphabet[] = "\r\n.ab ";
		for (k = 0; k < n; k++) m[k] = alphabet[rand() % 6];
		if (!encode(m, n, ALL, &o)) { bad++; continue; }
		if (measure(m, n) != unstuffed_len(&o)) bad++;
		for (k = 0; k + 2 < o.len; k++)
			if (o.s[k] == '\r' && o.s[k + 1] == '\n' && o.s[k + 2] == '.' &&
			    (k + 4 < o.len && o.s[k + 3] == '\r' && o.s[k + 4] == '\n')) badstuff++;
		if (o.len && (o.len < 2 || o.s[o.len - 2] != '\r' || o.s[o.len - 1] != '\n')) bad++;
	}
	ok(bad == 0, "2000 random messages: LIST size = unstuffed RETR bytes, output ends in CRLF");
	ok(badstuff == 0, "2000 random messages: no CRLF.CRLF inside a message");
	str_free(&o);
}

/* a client that never sends: the command reader gives up with a reply */
static void test_timeout(void)
{
	int in[2], out[2];
	struct pop3_io io;
	struct pop3_cmd c;
	char b[256];
	ssize_t r;
	int res;
	time_t start;

	if (pipe(in) != 0 || pipe(out) != 0) { ok(0, "pipes"); return; }
	pop3_io_init(&io);
	bufout_init(&io.out, out[1], 1000);
	bufin_init(&io.in, in[0], 300, &io.out);
	start = time(0);
	res = pop3_readcmd(&io, &c);
	ok(res == POP3_CMD_FATAL && time(0) - start < 5, "idle client: the read times out");
	r = read(out[0], b, sizeof b - 1);
	b[r > 0 ? r : 0] = 0;
	ok(r > 0 && strncmp(b, "-ERR autologout", 15) == 0, "idle client: -ERR autologout sent");
	ok(write(in[1], "NOOP\r\nlist 1\r\nUSER\r\nXYZZY\r\nAB\r\n", 31) == 31, "feed commands");
	ok(pop3_readcmd(&io, &c) == POP3_CMD_OK && !strcmp(c.verb, "NOOP") && c.arglen == 0, "NOOP parsed");
	ok(pop3_readcmd(&io, &c) == POP3_CMD_OK && !strcmp(c.verb, "LIST") && c.arglen == 1 && c.arg[0] == '1',
	   "lowercase verb uppercased, argument kept");
	ok(pop3_readcmd(&io, &c) == POP3_CMD_OK && !strcmp(c.verb, "USER") && c.arglen == 0, "verb alone");
	ok(pop3_readcmd(&io, &c) == POP3_CMD_BAD, "five-letter verb refused");
	ok(pop3_readcmd(&io, &c) == POP3_CMD_BAD, "two-letter verb refused");
	close(in[1]);
	ok(pop3_readcmd(&io, &c) == POP3_CMD_EOF, "end of input");
	str_free(&io.line);
	close(in[0]);
	close(out[0]);
	close(out[1]);
}

int main(void)
{
	test_msgno();
	test_plain();
	test_loopback();
	test_encoder();
	test_timeout();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
