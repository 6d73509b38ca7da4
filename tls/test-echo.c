/* test-echo.c: t/bin/tls-echo [-t], a toy line protocol for the TLS
 * engine's tests, using lib/tlsctl.h exactly as smtpd/pop3d/imapd do.
 * Trusts nothing it reads; drops to facteur when started as root, like
 * every protocol program. Lines (CRLF or LF):
 *   STARTTLS   "+OK begin TLS", then the STARTTLS steps
 *   SLOWTLS    the same, with half a second between the reply and the 'Y'
 *   INFO       "+OK PROTOCOL CIPHER" of the TLS session
 *   CTL C      writes the byte C on the control channel (a broken program)
 *   WHOAMI     "+OK uid=U pid=P"
 *   OPEN PATH  "+OK readable" when PATH opens for reading, else "-ERR errno"
 *   ENV NAME   "+OK value" of an environment variable
 *   BIG N      N bytes of 'x' then CRLF
 *   EXIT N     exit with status N, no reply
 *   QUIT       "+OK bye", exit 0
 *   other      "+OK echo: LINE"
 * Every line read is logged on stderr as "line: LINE". EOF exits 3. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "exitcodes.h"
#include "log.h"
#include "priv.h"
#include "scan.h"
#include "str.h"
#include "tlsctl.h"

#define ECHO_LINE_MAX 1000
#define ECHO_BIG_MAX  (16 * 1024 * 1024)
#define ECHO_TIMEOUT_MS 60000
#define ECHO_SLOW_US    500000

static int starts(const str *l, const char *w)
{
	size_t n = strlen(w);
	return l->len >= n && memcmp(l->s, w, n) == 0;
}

int main(int argc, char **argv)
{
	bufout out;
	bufin in;
	str line = STR_ZERO, info = STR_ZERO;
	int implicit = argc > 1 && strcmp(argv[1], "-t") == 0;
	int rc = 0;

	log_setprog("tls-echo");
	if (tlsctl_maybe_exec_engine(argv, implicit) < 0)
		log_fatal(EX_CONFIG, "fatal: implicit TLS impossible", (char *)0);
	if (!priv_drop(PRIV_USER)) log_fatalsys(EX_CONFIG, "fatal: unable to drop privileges", (char *)0);
	bufout_init(&out, 1, ECHO_TIMEOUT_MS);
	bufin_init(&in, 0, ECHO_TIMEOUT_MS, &out);
	bufout_puts(&out, tlsctl_active() ? "+OK echo ready tls=1\r\n" : "+OK echo ready tls=0\r\n");
	for (;;) {
		int r = bufin_getline(&in, &line, ECHO_LINE_MAX);
		unsigned long long n;

		if (r == BUF_EOF) { bufout_flush(&out); rc = 3; break; }
		if (r == BUF_ERR) log_fatalsys(EX_TEMPFAIL, "fatal: read", (char *)0);
		while (line.len && (line.s[line.len - 1] == '\n' || line.s[line.len - 1] == '\r')) line.len--;
		if (!str_0(&line)) { rc = EX_TEMPFAIL; break; }
		log_line("line: ", line.s, (char *)0);
		if (str_equals(&line, "STARTTLS") || str_equals(&line, "SLOWTLS")) {
			if (!tlsctl_available()) { bufout_puts(&out, "-ERR no TLS\r\n"); continue; }
			bufout_puts(&out, "+OK begin TLS\r\n");
			if (!bufout_flush(&out)) { rc = EX_TEMPFAIL; break; }
			/* SLOWTLS: the client's ClientHello reaches the engine
			 * before our 'Y' does (the race the engine must win) */
			if (line.s[0] == 'S' && line.s[1] == 'L') usleep(ECHO_SLOW_US);
			if (!tlsctl_starttls(&in, &info)) log_fatal(EX_PROTOCOL, "fatal: STARTTLS failed", (char *)0);
			log_line("tls: ", info.s ? info.s : "", (char *)0);
		} else if (starts(&line, "CTL ") && line.len == 5) {
			/* a byte on the control channel, outside the protocol */
			int fd = tlsctl_fd();
			if (fd < 0 || !fd_writeall(fd, line.s + 4, 1, ECHO_TIMEOUT_MS))
				bufout_puts(&out, "-ERR no control channel\r\n");
			else
				bufout_puts(&out, "+OK sent\r\n");
		} else if (str_equals(&line, "INFO")) {
			if (tlsctl_info(&info)) {
				bufout_puts(&out, "+OK ");
				bufout_put(&out, info.s, info.len);
				bufout_puts(&out, "\r\n");
			} else {
				bufout_puts(&out, "-ERR none\r\n");
			}
		} else if (str_equals(&line, "WHOAMI")) {
			bufout_puts(&out, "+OK uid=");
			bufout_putu(&out, (unsigned long long)getuid());
			bufout_puts(&out, " pid=");
			bufout_putu(&out, (unsigned long long)getpid());
			bufout_puts(&out, "\r\n");
		} else if (starts(&line, "OPEN ")) {
			int fd = open(line.s + 5, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) { close(fd); bufout_puts(&out, "+OK readable\r\n"); }
			else { bufout_puts(&out, "-ERR "); bufout_puts(&out, strerror(errno)); bufout_puts(&out, "\r\n"); }
		} else if (starts(&line, "ENV ")) {
			const char *v = getenv(line.s + 4);
			if (v) { bufout_puts(&out, "+OK "); bufout_puts(&out, v); bufout_puts(&out, "\r\n"); }
			else bufout_puts(&out, "-ERR unset\r\n");
		} else if (starts(&line, "BIG ") &&
		           scan_ulong_max(line.s + 4, line.len - 4, ECHO_BIG_MAX, &n) == line.len - 4) {
			char chunk[4096];
			memset(chunk, 'x', sizeof chunk);
			while (n) {
				size_t k = n < sizeof chunk ? (size_t)n : sizeof chunk;
				bufout_put(&out, chunk, k);
				n -= k;
			}
			bufout_puts(&out, "\r\n");
		} else if (starts(&line, "EXIT ") &&
		           scan_ulong_max(line.s + 5, line.len - 5, 255, &n) == line.len - 5) {
			bufout_flush(&out);
			rc = (int)n;
			break;
		} else if (str_equals(&line, "QUIT")) {
			bufout_puts(&out, "+OK bye\r\n");
			bufout_flush(&out);
			rc = 0;
			break;
		} else {
			bufout_puts(&out, "+OK echo: ");
			bufout_put(&out, line.s, line.len);
			bufout_puts(&out, "\r\n");
		}
	}
	str_free(&line);
	str_free(&info);
	return rc;
}
