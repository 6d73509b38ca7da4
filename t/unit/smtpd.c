/* unit tests of facteur-smtpd's parts: the reply table, CIDR matching,
 * the message scanner (smuggling, sizes, loops), SIZE/BDAT numbers. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../smtpd/smtpd-internal.h"
#include "remoteip.h"
#include "tap.h"

/* every reply in the table: 3 digits, a space, and for 2xx/4xx/5xx an
 * enhanced code whose class is the reply's first digit */
static int table_ok(void)
{
	int i;

	for (i = 0; i < RP_COUNT; i++) {
		const char *t = reply_text((enum reply_id)i);
		if (strlen(t) < 5 || t[3] != ' ') return 0;
		if (t[0] < '2' || t[0] > '5' || t[1] < '0' || t[1] > '5' || t[2] < '0' || t[2] > '9') return 0;
		if (t[0] == '3') continue;
		if (t[4] != t[0] || t[5] != '.') return 0;
	}
	return 1;
}

static int scan_str(const char *m, int checklen, unsigned long long limit)
{
	struct msgscan sc;

	msgscan_init(&sc, limit, checklen);
	msgscan_feed(&sc, m, strlen(m));
	msgscan_finish(&sc);
	return msgscan_verdict(&sc);
}

/* the same bytes fed one at a time: verdicts must not depend on chunking */
static int scan_bytes(const char *m)
{
	struct msgscan sc;
	size_t i;

	msgscan_init(&sc, 0, 0);
	for (i = 0; m[i]; i++) msgscan_feed(&sc, m + i, 1);
	msgscan_finish(&sc);
	return msgscan_verdict(&sc);
}

/* AUTH PLAIN with an initial response: afterwards no copy of the command
 * line (the password in base64) is left in the session */
static int auth_line_wiped(void)
{
	static struct session s;
	static const char cmd[] = "AUTH PLAIN AGFAYi5jAHNlY3JldC1wYXNzd29yZA==\r\n";
	int fd = open("/dev/null", O_RDWR), ok;

	if (fd < 0) return 0;
	setenv("FACTEUR_BIN", "/nonexistent", 1);    /* the check fails, temporarily */
	session_init(&s, fd, fd);
	s.helo = 2;
	s.loopback = 1;
	if (!str_copys(&s.line, cmd)) return 0;
	smtpd_auth(&s, s.line.s + 5, strlen(cmd) - 7);
	ok = s.line.s == 0 || strstr(s.line.s, "AGFAYi5j") == 0;
	str_free(&s.line);
	close(fd);
	unsetenv("FACTEUR_BIN");
	return ok;
}

int main(void)
{
	static const char nets[] = "10.0.0.0/8\0" "192.168.1.7\0" "2001:db8::/32\0junk\0" "1.2.3.4/33\0";
	unsigned long long v = 0;
	char line[1100];
	str big = STR_ZERO;
	int i;

	OK(table_ok(), "every table reply carries a matching enhanced code");
	OK(strcmp(reply_text(RP_NO_SUCH_USER), "550 5.1.1 no such user here") == 0, "550 5.1.1 for unknown users");
	OK(strncmp(reply_text(RP_RELAY_DENIED), "554 5.7.1", 9) == 0, "554 5.7.1 relaying");
	OK(strncmp(reply_text(RP_MSG_TOOBIG), "552 5.3.4", 9) == 0, "552 5.3.4 too big");

	OK(remoteip_match("10.1.2.3", nets, sizeof nets - 1), "IPv4 in /8");
	OK(!remoteip_match("11.1.2.3", nets, sizeof nets - 1), "IPv4 outside /8");
	OK(remoteip_match("192.168.1.7", nets, sizeof nets - 1), "single IPv4");
	OK(!remoteip_match("192.168.1.8", nets, sizeof nets - 1), "single IPv4, neighbour");
	OK(remoteip_match("2001:db8:1::5", nets, sizeof nets - 1), "IPv6 in /32");
	OK(!remoteip_match("2001:db9::5", nets, sizeof nets - 1), "IPv6 outside /32");
	OK(!remoteip_match("1.2.3.4", nets, sizeof nets - 1), "prefix over 32 ignored");
	OK(!remoteip_match("", nets, sizeof nets - 1), "empty address matches nothing");
	OK(!remoteip_match("::ffff:10.0.0.1x", nets, sizeof nets - 1), "junk address");
	OK(remoteip_match("::ffff:10.0.0.1", nets, sizeof nets - 1), "v4-mapped IPv6 matches IPv4 net");
	OK(remoteip_is_loopback("127.0.0.1") && remoteip_is_loopback("127.9.9.9") && remoteip_is_loopback("::1"), "loopback");
	OK(!remoteip_is_loopback("10.0.0.1") && !remoteip_is_loopback("::2"), "not loopback");

	OK(scan_str("Subject: x\r\n\r\nbody\r\n", 1, 0) == 0, "clean message");
	OK(scan_str("a\nb\r\n", 1, 0) == RP_MSG_BARE, "bare LF");
	OK(scan_str("a\rb\r\n", 1, 0) == RP_MSG_BARE, "bare CR");
	OK(scan_str("a\r\n\r", 1, 0) == RP_MSG_BARE, "CR at the very end");
	OK(scan_bytes("x\r\n.\n") == RP_MSG_BARE, "\\r\\n.\\n byte by byte");
	OK(scan_bytes("x\r\n\r.\r\n") == RP_MSG_BARE, "\\r.\\r byte by byte");
	OK(scan_bytes("x\r\nyz\r\n") == 0, "CRLF split across feeds is fine");
	OK(scan_str("12345", 0, 5) == 0, "size at the limit");
	OK(scan_str("123456", 0, 5) == RP_MSG_TOOBIG, "size over the limit");
	memset(line, 'a', sizeof line);
	memcpy(line + 998, "\r\n", 3);
	OK(scan_str(line, 1, 0) == 0, "1000-byte line");
	memcpy(line + 998, "a\r\n", 4);
	OK(scan_str(line, 1, 0) == RP_MSG_LONGLINE, "1001-byte line");
	OK(scan_str(line, 0, 0) == 0, "long line allowed when not checked (BDAT)");
	for (i = 0; i < SMTPD_HOPS_MAX; i++) str_appends(&big, "Received: x\r\n");
	str_appends(&big, "\r\nReceived: in the body\r\n");
	str_0(&big);
	OK(scan_str(big.s, 1, 0) == RP_MSG_LOOP, "100 Received headers: loop");
	OK(scan_str(big.s + 13, 1, 0) == 0, "99 Received headers fine, body ones not counted");
	str_free(&big);

	OK(smtpd_parse_size("0", 1, &v) == 1 && v == 0, "size 0");
	OK(smtpd_parse_size("2147483648", 10, &v) == 1 && v == 2147483648ULL, "size 2^31");
	OK(smtpd_parse_size("4294967296", 10, &v) == 1 && v == 4294967296ULL, "size 2^32");
	OK(smtpd_parse_size("9223372036854775808", 19, &v) == 1 && v == 9223372036854775808ULL, "size 2^63");
	OK(smtpd_parse_size("18446744073709551615", 20, &v) == 1, "size 2^64-1");
	OK(smtpd_parse_size("18446744073709551616", 20, &v) == -1, "size 2^64 overflows");
	OK(smtpd_parse_size("18446744073709551617", 20, &v) == -1, "size 2^64+1 overflows");
	OK(smtpd_parse_size("99999999999999999999999999", 26, &v) == -1, "huge size overflows");
	OK(smtpd_parse_size("12a", 3, &v) == 0 && smtpd_parse_size("", 0, &v) == 0, "not numbers");
	OK(smtpd_parse_size("-1", 2, &v) == 0, "negative");
	OK(auth_line_wiped(), "AUTH PLAIN initial response not left in the session's line");
	DONE();
}
