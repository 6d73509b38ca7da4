/* fuzz-smtpd.c: libFuzzer target for facteur-smtpd's whole protocol logic
 * (smtpd/session.c, data.c, sasl.c, reply.c, received_header in
 * queue.c): the input is everything a hostile client sends on one
 * connection: pipelined commands, MAIL/RCPT paths with parameters, AUTH
 * PLAIN/LOGIN with base64, DATA with dot-stuffing and smuggling attempts,
 * BDAT chunks. The first byte sets the session's flags (submission,
 * relay client, plaintext AUTH allowed). fuzz/build links this with
 * -Wl,--wrap so that the queue child, the password checker, the user maps
 * and sleep() are the small stand-ins below: no fork, no instance, no
 * delay, and the harness sees every byte that would reach the queue.
 * Asserts that a message the session accepts holds no bare CR or LF (the
 * SMTP smuggling invariant) and never exceeds databytes. Test code; runs
 * as whoever runs it. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>
#include "smtpd-internal.h"
#include "users.h"

#define FUZZ_DATABYTES 20000

/* what the stand-in queue received for the current message */
static str queued = STR_ZERO;

int __wrap_queue_start(struct session *s)
{
	s->job.pid = 0;   /* "a child runs" for session_reset_mail */
	s->job.failed = 0;
	str_clear(&queued);
	return 1;
}

int __wrap_queue_write(struct session *s, const char *p, size_t n)
{
	if (s->job.pid < 0) abort();   /* written outside a message */
	if (!str_append(&queued, p, n)) abort();
	return 1;
}

void __wrap_queue_abort(struct session *s)
{
	s->job.pid = -1;
	str_clear(&queued);
}

int __wrap_queue_finish(struct session *s, int *code)
{
	size_t i;

	if (s->job.pid < 0) abort();
	for (i = 0; i < queued.len; i++) {
		if (queued.s[i] == '\n' && (i == 0 || queued.s[i - 1] != '\r')) abort();
		if (queued.s[i] == '\r' && (i + 1 >= queued.len || queued.s[i + 1] != '\n')) abort();
	}
	/* the Received: line we add comes on top of the client's bytes */
	if (queued.len > FUZZ_DATABYTES + 4096) abort();
	s->job.pid = -1;
	str_clear(&queued);
	*code = 0;
	return 1;
}

int __wrap_auth_checkpassword(const char *user, size_t ul, const char *pass, size_t pl)
{
	if (ul == 13 && !memcmp(user, "u@example.org", 13)) {
		if (pl == 2 && !memcmp(pass, "pw", 2)) return 1;
		if (pl == 4 && !memcmp(pass, "temp", 4)) return -1;
	}
	return 0;
}

int __wrap_users_classify(const char *a, size_t n, str *canon)
{
	const char *at = memchr(a, '@', n);
	size_t ll = at ? (size_t)(at - a) : n;

	if (!str_copy(canon, a, n)) return -1;
	if (ll == 10 && !strncasecmp(a, "postmaster", 10) &&
	    (!at || (n - ll - 1 == 11 && !strncasecmp(at + 1, "example.org", 11)))) return RCPT_POSTMASTER;
	if (!at) return RCPT_UNKNOWN;
	if (n - ll - 1 != 11 || strncasecmp(at + 1, "example.org", 11)) return RCPT_REMOTE;
	if (ll == 1 && a[0] == 'u') return RCPT_USER;
	if (ll == 5 && !memcmp(a, "alias", 5)) return RCPT_ALIAS;
	if (ll == 4 && !memcmp(a, "fail", 4)) return -1;
	return RCPT_UNKNOWN;
}

unsigned int __wrap_sleep(unsigned int secs)
{
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* no instance: nothing must be read from a real one */
	setenv("FACTEUR_HOME", "/nonexistent", 1);
	unsetenv("FACTEUR_TLSCTL");
	unsetenv("FACTEUR_TLS");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct session s;
	int in, out;

	if (!n) return 0;
	in = memfd_create("in", 0);
	out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0) abort();
	if (n > 1 && fd_writeall(in, d + 1, n - 1, -1) != 1) abort();
	if (lseek(in, 0, SEEK_SET) != 0) abort();

	session_init(&s, in, out);
	s.timeout_ms = s.in.timeout_ms = s.out.timeout_ms = 1000;
	s.submission = d[0] & 1;
	s.relayclient = (d[0] >> 1) & 1;
	s.plaintextauth = (d[0] >> 2) & 1;
	s.loopback = (d[0] >> 3) & 1;
	s.databytes = FUZZ_DATABYTES;
	if (!str_copys(&s.me, "mx.example.org") || !str_0(&s.me) ||
	    !str_copys(&s.remoteip, "192.0.2.1") || !str_0(&s.remoteip) ||
	    !str_copys(&s.firstdomain, "example.org") || !str_0(&s.firstdomain)) abort();
	s.queue_argv = queue_argv_from("/nonexistent/facteur-queue");
	if (!s.queue_argv) abort();

	(void)session_run(&s);
	if (s.job.pid >= 0) abort();   /* a message left open */

	free(s.queue_argv[0]);
	free(s.queue_argv);
	str_free(&s.remoteip); str_free(&s.me); str_free(&s.heloname);
	str_free(&s.sender); str_free(&s.rcpts); str_free(&s.firstdomain);
	str_free(&s.authuser); str_free(&s.tlsinfo); str_free(&s.line);
	str_free(&s.tmp); str_free(&s.msgid);
	str_free(&queued);
	close(in);
	close(out);
	return 0;
}
