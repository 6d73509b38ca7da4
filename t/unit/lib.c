/* unit tests of lib/: addresses, numbers, base64, strings, buffered I/O,
 * the client's address (remoteip), SASL PLAIN, deadlines, A-labels. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "addr.h"
#include "b64.h"
#include "buf.h"
#include "deadline.h"
#include "idna.h"
#include "remoteip.h"
#include "sasl.h"
#include "scan.h"
#include "str.h"
#include "tap.h"

static int path(const char *s, unsigned flags, const char *want)
{
	struct addr a = { STR_ZERO, 0, 0, 0, 0 };
	size_t used = 0;
	int r = addr_parse_path(s, strlen(s), flags, &a, &used);
	int ok;

	if (!want) ok = r != ADDR_OK;
	else ok = r == ADDR_OK && a.mailbox.len == strlen(want) &&
	          memcmp(a.mailbox.s, want, a.mailbox.len) == 0;
	addr_free(&a);
	return ok;
}

static int perr(const char *s, int code)
{
	struct addr a = { STR_ZERO, 0, 0, 0, 0 };
	size_t used;
	int r = addr_parse_path(s, strlen(s), 0, &a, &used);
	addr_free(&a);
	return r == code;
}

/* remoteip_get with $TCPREMOTEIP set to env (0: unset) on descriptor fd */
static int rip(const char *env, int fd, const char *want)
{
	str o = STR_ZERO;
	int ok;

	if (env) setenv("TCPREMOTEIP", env, 1);
	else unsetenv("TCPREMOTEIP");
	ok = remoteip_get(&o, fd) && o.s && strcmp(o.s, want) == 0;
	if (!ok) printf("# remoteip_get gave \"%s\", wanted \"%s\"\n", o.s ? o.s : "(null)", want);
	str_free(&o);
	return ok;
}

/* a TCP connection over loopback of family fam; the accepted end in *srv */
static int tcp_pair(int fam, int *cli, int *srv)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int l = socket(fam, SOCK_STREAM, 0);

	*cli = *srv = -1;
	if (l < 0) return 0;
	memset(&ss, 0, sizeof ss);
	if (fam == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		int off = 0;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_any;   /* dual stack: a v4 client arrives mapped */
		sl = sizeof *a;
		(void)setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	}
	if (bind(l, (struct sockaddr *)&ss, sl) != 0 || listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&ss, &sl) != 0) { close(l); return 0; }
	if (fam == AF_INET6) {
		/* connect from 127.0.0.1 to the v6 socket: the peer is ::ffff:127.0.0.1 */
		struct sockaddr_in v4;
		memset(&v4, 0, sizeof v4);
		v4.sin_family = AF_INET;
		v4.sin_port = ((struct sockaddr_in6 *)&ss)->sin6_port;
		v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*cli = socket(AF_INET, SOCK_STREAM, 0);
		if (*cli < 0 || connect(*cli, (struct sockaddr *)&v4, sizeof v4) != 0) { close(l); return 0; }
	} else {
		*cli = socket(AF_INET, SOCK_STREAM, 0);
		if (*cli < 0 || connect(*cli, (struct sockaddr *)&ss, sl) != 0) { close(l); return 0; }
	}
	*srv = accept(l, 0, 0);
	close(l);
	return *srv >= 0;
}

/* sasl_plain_parse of m[0..n): result r, and user/pass as given (0: "") */
static int plain(const char *m, size_t n, int r, const char *user, const char *pass)
{
	struct sasl_plain p;
	int got = sasl_plain_parse(m, n, &p);

	if (!user) user = "";
	if (!pass) pass = "";
	return got == r && p.ulen == strlen(user) && memcmp(p.user, user, p.ulen) == 0 &&
	       p.plen == strlen(pass) && memcmp(p.pass, pass, p.plen) == 0;
}
/* a literal with its NULs, without the one C adds */
#define PLAIN(lit, r, user, pass) plain(lit, sizeof lit - 1, r, user, pass)

int main(void)
{
	char big[400];
	unsigned long long v = 0;
	str s = STR_ZERO;
	int fds[2];

	OK(path("<a@b.c>", 0, "a@b.c"), "simple path");
	OK(path("<>", 0, ""), "null path");
	OK(path("<Postmaster>", 0, "Postmaster"), "bare postmaster");
	OK(path("<\"a b\"@x.org>", 0, "\"a b\"@x.org"), "quoted local part");
	OK(path("<@r1.org,@r2.org:u@x.org>", 0, "u@x.org"), "source route stripped");
	OK(path("<a@[127.0.0.1]>", 0, "a@[127.0.0.1]"), "IPv4 literal");
	OK(path("<a@[IPv6:::1]>", 0, "a@[IPv6:::1]"), "IPv6 literal");
	OK(path("<a@[300.1.1.1]>", 0, 0), "bad IPv4 literal");
	OK(path("<a@b.c.>", 0, 0), "trailing dot refused");
	OK(path("<a..b@c.d>", 0, 0), "double dot refused");
	OK(path("<.a@c.d>", 0, 0), "leading dot refused");
	OK(path("<a@-b.c>", 0, 0), "label with leading hyphen refused");
	OK(path("<a@b\r.c>", 0, 0), "CR refused");
	OK(path("<a\nb@c.d>", 0, 0), "LF refused");
	OK(!path("<a\0b@c.d>", 0, "a"), "NUL cuts nothing");
	OK(path("<a@b.c", 0, 0), "missing bracket");
	OK(path("a@b.c", 0, 0), "no brackets");
	OK(path("<j\xc3\xb6rg@b.c>", 0, 0), "UTF-8 without SMTPUTF8");
	OK(path("<j\xc3\xb6rg@b\xc3\xa9.c>", ADDR_F_UTF8, "j\xc3\xb6rg@b\xc3\xa9.c"), "UTF-8 with SMTPUTF8");
	OK(path("<j\xc3rg@b.c>", ADDR_F_UTF8, 0), "malformed UTF-8");
	memset(big, 'a', sizeof big); big[0] = '<'; memcpy(big + 66, "@b.c>", 6);
	OK(perr(big, ADDR_ELOCALLEN), "local part of 64+ refused");
	memset(big, 'a', sizeof big); big[0] = '<'; big[2] = '@';
	{ int i; for (i = 10; i < 300; i += 10) big[i] = '.'; }
	memcpy(big + 300, ">", 2);
	OK(perr(big, ADDR_EPATHLEN), "path of 256+ refused");
	{
		struct addr a = { STR_ZERO, 0, 0, 0, 0 }; size_t u;
		addr_parse_path("<a%b@c.d>", 9, 0, &a, &u); OK(addr_tricky_local(&a), "% hack noticed");
		addr_parse_path("<b!a@c.d>", 9, 0, &a, &u); OK(addr_tricky_local(&a), "bang path noticed");
		addr_parse_path("<\"a@b\"@c.d>", 11, 0, &a, &u); OK(addr_tricky_local(&a), "quoted @ noticed");
		addr_parse_path("<a.b@c.d>", 9, 0, &a, &u); OK(!addr_tricky_local(&a), "plain local part fine");
		addr_free(&a);
	}

	OK(scan_ulong("18446744073709551615", 20, &v) == 20 && v == 18446744073709551615ULL, "2^64-1 fits");
	OK(scan_ulong("18446744073709551616", 20, &v) == 0, "2^64 overflows");
	OK(scan_ulong("99999999999999999999999", 23, &v) == 0, "huge overflows");
	OK(scan_ulong_max("2147483648", 10, 2147483647ULL, &v) == 0, "max respected");
	OK(scan_ulong("123x", 4, &v) == 3 && v == 123, "stops at non-digit");

	OK(b64_decode("AGFsaWNlAHNlY3JldA==", 20, &s) && s.len == 13 && memcmp(s.s, "\0alice\0secret", 13) == 0, "b64 decode");
	OK(!b64_decode("AGFsaWNl*HNlY3JldA==", 20, &s), "b64 bad char");
	OK(!b64_decode("AGFsa", 5, &s), "b64 bad length");
	OK(!b64_decode("AB==", 4, &s), "b64 non-canonical padding");
	OK(b64_encode("\0alice\0secret", 13, &s) && str_equals(&s, "AGFsaWNlAHNlY3JldA=="), "b64 encode");
	OK(b64_value('A') == 0 && b64_value('z') == 51 && b64_value('9') == 61 && b64_value('+') == 62 && b64_value('/') == 63,
	   "b64_value: the alphabet");
	OK(b64_value('=') < 0 && b64_value(',') < 0 && b64_value('\n') < 0 && b64_value(0xc3) < 0, "b64_value: nothing else");

	OK(str_copys(&s, "x") && str_appendu(&s, 18446744073709551615ULL) && str_equals(&s, "x18446744073709551615"), "str_appendu");
	OK(!str_readyplus(&s, (size_t)-1), "str growth overflow refused");

	if (pipe(fds) == 0) {
		bufin in;
		str line = STR_ZERO;
		const char *data = "one\r\ntwo\rstill two\nthree-is-long\n";
		if (write(fds[1], data, strlen(data)) < 0) return 1;
		close(fds[1]);
		bufin_init(&in, fds[0], 1000, 0);
		OK(bufin_getline(&in, &line, 100) == BUF_LINE && str_equals(&line, "one\r\n"), "getline CRLF");
		OK(bufin_getline(&in, &line, 100) == BUF_LINE && str_equals(&line, "two\rstill two\n"), "bare CR ends nothing");
		OK(bufin_getline(&in, &line, 5) == BUF_TOOLONG && str_equals(&line, "three"), "overlong line bounded");
		OK(bufin_getline(&in, &line, 100) == BUF_EOF, "EOF");
		str_free(&line);
		close(fds[0]);
	}
	if (pipe(fds) == 0) {
		bufin in;
		str line = STR_ZERO;
		bufin_init(&in, fds[0], 200, 0);
		errno = 0;
		OK(bufin_getline(&in, &line, 100) == BUF_ERR && errno == ETIMEDOUT, "read times out");
		str_free(&line);
		close(fds[0]); close(fds[1]);
	}
	if (pipe(fds) == 0) {
		bufin in;
		str line = STR_ZERO;
		const char *data = "abcdefgh\r\nabcdefgh\n.\r\n";
		int crlf = 7;
		if (write(fds[1], data, strlen(data)) < 0) return 1;
		close(fds[1]);
		bufin_init(&in, fds[0], 1000, 0);
		OK(bufin_getline_crlf(&in, &line, 4, &crlf) == BUF_TOOLONG && crlf == 1, "getline_crlf: cut-off line still known to end in CRLF");
		OK(bufin_getline_crlf(&in, &line, 4, &crlf) == BUF_TOOLONG && crlf == 0, "getline_crlf: cut-off line ending in a bare LF");
		OK(bufin_getline_crlf(&in, &line, 4, &crlf) == BUF_LINE && crlf == 1 && str_equals(&line, ".\r\n"), "getline_crlf: short CRLF line");
		OK(bufin_getline_crlf(&in, &line, 4, &crlf) == BUF_EOF && crlf == 0, "getline_crlf: EOF");
		str_free(&line);
		close(fds[0]);
	}
	{
		str l = STR_ZERO;
		str_append(&l, "ab\0c\0\0d", 7);
		OK(str_list_has(&l, "c", 1) && str_list_has(&l, "ab", 2) && str_list_has(&l, "", 0) && str_list_has(&l, "d", 1),
		   "str_list_has finds every item, the last one without its NUL too");
		OK(!str_list_has(&l, "a", 1) && !str_list_has(&l, "b", 1) && !str_list_has(&l, "abc", 3), "str_list_has: no prefixes or joins");
		str_free(&l);
	}
	{
		static const char nets[] = "10.0.0.0/8\0" "192.168.1.7\0" "junk\0" "2001:db8::/32\0" "1.2.3.0/33\0" "9.9.9.9/\0" "::ffff:172.16.0.0/108";
		size_t nl = sizeof nets - 1;
		int c, d, p[2];

		OK(remoteip_match("10.1.2.3", nets, nl) && !remoteip_match("11.1.2.3", nets, nl), "remoteip_match: IPv4 /8");
		OK(remoteip_match("192.168.1.7", nets, nl) && !remoteip_match("192.168.1.8", nets, nl), "remoteip_match: bare IPv4 is /32");
		OK(remoteip_match("2001:db8:1::5", nets, nl) && !remoteip_match("2001:db9::5", nets, nl), "remoteip_match: IPv6 /32");
		OK(!remoteip_match("1.2.3.4", nets, nl) && !remoteip_match("9.9.9.9", nets, nl), "remoteip_match: bad prefixes skipped");
		OK(remoteip_match("::ffff:10.0.0.1", nets, nl) && remoteip_match("172.16.5.5", nets, nl) &&
		   !remoteip_match("172.32.0.1", nets, nl), "remoteip_match: mapped and plain IPv4 are one address");
		OK(!remoteip_match("", nets, nl) && !remoteip_match(0, nets, nl) && !remoteip_match("::ffff:10.0.0.1x", nets, nl) &&
		   !remoteip_match("junk", nets, nl), "remoteip_match: empty, null and junk match nothing");
		OK(remoteip_is_loopback("127.0.0.1") && remoteip_is_loopback("127.9.9.9") && remoteip_is_loopback("::1") &&
		   remoteip_is_loopback("::ffff:127.0.0.1") && remoteip_is_loopback("0:0:0:0:0:0:0:1"), "remoteip_is_loopback: 127/8, ::1, mapped");
		OK(!remoteip_is_loopback("128.0.0.1") && !remoteip_is_loopback("::2") && !remoteip_is_loopback("1270.0.0.1") &&
		   !remoteip_is_loopback("127.foo") && !remoteip_is_loopback("192.0.2.1") && !remoteip_is_loopback("") &&
		   !remoteip_is_loopback("::ffff:128.0.0.1"), "remoteip_is_loopback: nothing else");

		OK(pipe(p) == 0, "pipe");
		OK(rip(0, p[0], ""), "remoteip_get: a pipe without TCPREMOTEIP is no network client");
		OK(rip("", p[0], ""), "remoteip_get: empty TCPREMOTEIP is unset");
		OK(rip("192.0.2.1", p[0], "192.0.2.1"), "remoteip_get: TCPREMOTEIP wins");
		OK(rip("::FFFF:192.0.2.1", p[0], "192.0.2.1"), "remoteip_get: mapped TCPREMOTEIP written as IPv4");
		OK(rip("2001:DB8:0::1", p[0], "2001:db8::1"), "remoteip_get: IPv6 TCPREMOTEIP normalised");
		OK(rip("not-an-ip", p[0], "not-an-ip"), "remoteip_get: other text kept");
		memset(big, 'x', 100); big[100] = 0;
		OK(rip(big, p[0], big + 37), "remoteip_get: over-long TCPREMOTEIP cut when the socket says nothing");
		close(p[0]); close(p[1]);
		if (tcp_pair(AF_INET, &c, &d)) {
			OK(rip(0, d, "127.0.0.1"), "remoteip_get: IPv4 peer from the socket");
			OK(rip(big, d, "127.0.0.1"), "remoteip_get: over-long TCPREMOTEIP gives way to the socket");
			OK(rip("10.9.8.7", d, "10.9.8.7"), "remoteip_get: TCPREMOTEIP before the socket");
			close(c); close(d);
		} else OK(0, "IPv4 loopback connection");
		if (tcp_pair(AF_INET6, &c, &d)) {
			OK(rip(0, d, "127.0.0.1"), "remoteip_get: mapped peer of an IPv6 socket written as IPv4");
			close(c); close(d);
		} else printf("# no dual-stack IPv6 socket here; mapped-peer case not run\n");
		unsetenv("TCPREMOTEIP");
	}
	{
		str l = STR_ZERO;
		str_copys(&l, "INBOX\nwork\n\nlast");
		OK(str_list_has_sep(&l, '\n', "work", 4) && str_list_has_sep(&l, '\n', "INBOX", 5) &&
		   str_list_has_sep(&l, '\n', "last", 4) && str_list_has_sep(&l, '\n', "", 0), "str_list_has_sep finds every line");
		OK(!str_list_has_sep(&l, '\n', "wor", 3) && !str_list_has_sep(&l, '\n', "INBOX\nwork", 10) &&
		   !str_list_has_sep(&l, 0, "work", 4), "str_list_has_sep: no prefixes, joins or other separators");
		str_free(&l);
	}
	OK(PLAIN("\0alice\0secret", SASL_PLAIN_OK, "alice", "secret"), "PLAIN without authzid");
	OK(PLAIN("Alice\0alice\0pw", SASL_PLAIN_OK, "alice", "pw"), "PLAIN authzid equal to authcid, case aside");
	OK(PLAIN("bob\0alice\0pw", SASL_PLAIN_PROXY, "alice", 0), "PLAIN authzid of someone else");
	OK(PLAIN("alic\0alice\0pw", SASL_PLAIN_PROXY, "alice", 0), "PLAIN authzid a prefix of the authcid");
	OK(PLAIN("\0alice\0p\0w", SASL_PLAIN_MALFORMED, "alice", 0), "PLAIN third NUL refused, user kept for logs");
	OK(PLAIN("\0alice", SASL_PLAIN_MALFORMED, 0, 0) && PLAIN("alice", SASL_PLAIN_MALFORMED, 0, 0) &&
	   PLAIN("", SASL_PLAIN_MALFORMED, 0, 0), "PLAIN with fewer than two NULs refused");
	OK(PLAIN("\0\0", SASL_PLAIN_OK, 0, 0), "PLAIN empty authcid and password parse (callers refuse them)");
	{
		int p[2];
		long long t0, t1;

		OK(pipe(p) == 0, "pipe for deadline_wait");
		t0 = deadline_now();
		errno = 0;
		OK(!deadline_wait(p[0], POLLIN, t0 + 150) && errno == ETIMEDOUT, "deadline_wait: nothing to read, ETIMEDOUT");
		t1 = deadline_now();
		OK(t1 - t0 >= 140 && t1 - t0 < 2000, "deadline_wait: waited until the deadline, not much longer");
		errno = 0;
		OK(!deadline_wait(p[0], POLLIN, t1 - 1) && errno == ETIMEDOUT, "deadline_wait: a deadline passed fails at once");
		OK(deadline_wait(p[1], POLLOUT, deadline_now() + 1000), "deadline_wait: writable at once");
		if (write(p[1], "x", 1) != 1) return 1;
		t0 = deadline_now();
		OK(deadline_wait(p[0], POLLIN, t0 + 5000) && deadline_now() - t0 < 1000, "deadline_wait: readable at once");
		close(p[0]); close(p[1]);
	}
	{
		int st = -1, gp[2];
		char c;
		long long t0;
		pid_t pid = fork();

		if (pid == 0) _exit(7);
		OK(pid > 0 && deadline_reap(pid, deadline_now() + 5000, 0, &st) == 1 && WIFEXITED(st) && WEXITSTATUS(st) == 7,
		   "deadline_reap: a child that ends in time, its status");
		if (pipe(gp) != 0) return 1;
		pid = fork();
		if (pid == 0) {
			/* its own group, with a grandchild that would outlive it;
			 * both hold the pipe's write end until they die */
			close(gp[0]);
			setpgid(0, 0);
			if (fork() == 0) pause();
			pause();
			_exit(0);
		}
		close(gp[1]);
		if (pid > 0) setpgid(pid, pid);
		t0 = deadline_now();
		OK(pid > 0 && deadline_reap(pid, t0 + 200, 1, &st) == 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		   "deadline_reap: a hung child is killed at the deadline");
		OK(deadline_now() - t0 >= 190 && deadline_now() - t0 < 3000, "deadline_reap: not long after the deadline");
		OK(deadline_wait(gp[0], POLLIN, deadline_now() + 3000) && read(gp[0], &c, 1) == 0,
		   "deadline_reap: its process group is gone too");
		close(gp[0]);
		OK(deadline_reap(pid, deadline_now() + 100, 0, &st) == -1 && errno == ECHILD, "deadline_reap: no such child, -1");
	}
	/* A-labels: RFC 3492 section 7.1's samples and well-known names */
	{
		static const char *const iv[][2] = {
			{ "b\xc3\xbc" "cher.example", "xn--bcher-kva.example" },
			{ "M\xc3\xbcnchen.DE", "xn--mnchen-3ya.de" },
			{ "\xe4\xbe\x8b\xe5\xad\x90.\xe6\xb5\x8b\xe8\xaf\x95", "xn--fsqu00a.xn--0zwm56d" },
			{ "fa\xc3\x9f.de", "xn--fa-hia.de" },
			/* RFC 3492 7.1 (L), Japanese: 3<nen>B<gumi><kinpachi><sensei> */
			{ "3\xe5\xb9\xb4" "B\xe7\xb5\x84\xe9\x87\x91\xe5\x85\xab\xe5\x85\x88\xe7\x94\x9f",
			  "xn--3b-ww4c5e180e575a65lsy2b" },
			/* (G) Chinese (traditional) */
			{ "\xe4\xbb\x96\xe5\x80\x91\xe7\x88\xb2\xe4\xbb\x80\xe9\xba\xbd\xe4\xb8\x8d\xe8\xaa\xaa\xe4\xb8\xad\xe6\x96\x87",
			  "xn--ihqwctvzc91f659drss3x8bo0yb" },
			{ "Example.ORG.", "example.org" },
			{ "mx.b\xc3\xbc" "cher.example", "mx.xn--bcher-kva.example" },
		};
		size_t i;
		int good = 1;
		for (i = 0; i < sizeof iv / sizeof iv[0]; i++) {
			int r = idna_to_ascii(iv[i][0], strlen(iv[i][0]), &s);
			if (!r || strcmp(s.s, iv[i][1]) != 0) {
				printf("# idna_to_ascii(%s) = %s, want %s\n", iv[i][0], r ? s.s : "(error)", iv[i][1]);
				good = 0;
			}
		}
		OK(good, "idna_to_ascii: RFC 3492's samples and known A-labels");
		OK(!idna_to_ascii("b\xc3" "cher.example", 14, &s) && errno == EINVAL, "idna_to_ascii: bad UTF-8 refused");
		OK(!idna_to_ascii("a..b", 4, &s) && !idna_to_ascii("", 0, &s), "idna_to_ascii: an empty label refused");
		memset(big, 'a', 63);
		OK(idna_to_ascii(big, 63, &s) && s.len == 63 && !idna_to_ascii(big, 64, &s),
		   "idna_to_ascii: 63 bytes a label, not 64");
		{
			/* 18 CJK code points (Python's punycode codec gave the
			 * A-label): 60 bytes encoded; 3 more make it 69 */
			static const char l18[] = "\xe7\x9d\xb3\xe6\x85\x8f\xe8\x82\x89\xe5\x90\xae\xe5\x9d\x85\xe9\x8a\x97\xe5\xa8\x8c\xe7\xb3\x8e\xe9\xa2\x98\xe5\x95\xac\xe8\xbb\xb3\xe6\xa5\xbb\xe5\x8b\x8c\xe5\xa4\x80\xe8\x96\x81\xe8\x8e\x86\xe5\x9b\xb1\xe6\xb3\x8e";
			static const char l21[] = "\xe7\x9d\xb3\xe6\x85\x8f\xe8\x82\x89\xe5\x90\xae\xe5\x9d\x85\xe9\x8a\x97\xe5\xa8\x8c\xe7\xb3\x8e\xe9\xa2\x98\xe5\x95\xac\xe8\xbb\xb3\xe6\xa5\xbb\xe5\x8b\x8c\xe5\xa4\x80\xe8\x96\x81\xe8\x8e\x86\xe5\x9b\xb1\xe6\xb3\x8e" "\xe5\xa6\x9c\xe9\x92\x88\xe8\x91\x96";
			OK(idna_to_ascii(l18, sizeof l18 - 1, &s) &&
			   strcmp(s.s, "xn--7grz5aj1ar7b6lz9fs8b380aclri0hfq4agpnvnligkjohjz4bu6mspz") == 0,
			   "idna_to_ascii: a long label as Python encodes it");
			OK(!idna_to_ascii(l21, sizeof l21 - 1, &s) && errno == EINVAL,
			   "idna_to_ascii: a label too long once encoded refused");
		}
		OK(idna_nonascii("x\xc3\xbc", 3) && !idna_nonascii("xn--bcher-kva", 13), "idna_nonascii");
		OK(!idna_to_ascii("a\0b.test", 8, &s) && !idna_to_ascii("a b.test", 8, &s) &&
		   !idna_to_ascii("\xc3\xbc\x01.test", 8, &s),
		   "idna_to_ascii: a NUL, a space or a control byte refused, in ASCII and non-ASCII labels");
	}
	str_free(&s);
	DONE();
}
