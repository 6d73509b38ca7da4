/* tlsctl.c: STARTTLS from the protocol program's side. Trusts the engine
 * (our own process, over a socketpair); the client's bytes from before the
 * handshake are discarded here (CVE-2011-0411). Runs in the protocol
 * program: as root only for tlsctl_maybe_exec_engine, before any input is
 * read, otherwise as facteur. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "control.h"
#include "log.h"
#include "scan.h"
#include "tlsctl.h"
#include "sock.h"

#define TLSCTL_INFO_MAX 200      /* longest "PROTOCOL CIPHER" line kept */
#define TLSCTL_ARGS_MAX 256      /* longest command line re-executed */
#define TLSCTL_ENGINE "facteur-tlsd"

/* the connection's TLS state: one per process, as there is one connection */
static int active = -1;
static int info_known;
static str info_line;

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

/* everything in the pipe now was sent before the handshake: 1 drained,
 * 0 could not (then the caller must not go on: those bytes would be
 * taken as sent under TLS) */
static int drain(int fd)
{
	char b[4096];
	int fl = fcntl(fd, F_GETFL);
	int ok = 0;

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return 0;
	for (;;) {
		ssize_t r = read(fd, b, sizeof b);
		if (r > 0) continue;
		if (r < 0 && errno == EINTR) continue;
		ok = r == 0 || errno == EAGAIN;
		break;
	}
	if (fcntl(fd, F_SETFL, fl) < 0) ok = 0;
	return ok;
}

/* direct mode: fd 0 and our output are the client's socket; from the
 * hand-over on they are the engine's pipes (its 'P' with the two ends),
 * and the socket is the engine's alone. 0: the session is unusable. */
static int to_pipes(int fd, bufin *in)
{
	int p[2], out = in->flush ? in->flush->fd : 1;
	int ok;

	/* one descriptor both ways cannot become two pipes */
	if (in->fd == out) return 0;
	if (!sock_recv2fds(fd, 'P', p, TLSCTL_TIMEOUT_MS)) return 0;
	ok = dup2(p[0], in->fd) == in->fd && dup2(p[1], out) == out;
	close(p[0]);
	close(p[1]);
	return ok;
}

int tlsctl_starttls(bufin *in, str *info)
{
	int fd = tlsctl_fd();
	const char *direct = getenv("FACTEUR_TLSDIRECT");
	char c;
	long r;

	str_clear(info);
	if (fd < 0 || tlsctl_active()) return 0;
	/* from here nothing the client sent in plaintext is read as a command */
	bufin_discard(in);
	if (!fd_writeall(fd, "Y", 1, TLSCTL_TIMEOUT_MS)) return 0;
	if (direct && strcmp(direct, "1") == 0 && !to_pipes(fd, in)) return 0;
	r = fd_read_timeout(fd, &c, 1, TLSCTL_TIMEOUT_MS);
	if (r != 1 || c != 'Y') return 0;
	for (;;) {
		r = fd_read_timeout(fd, &c, 1, TLSCTL_TIMEOUT_MS);
		if (r != 1) return 0;
		if (c == '\n') break;
		if (info->len < TLSCTL_INFO_MAX && !str_appendc(info, c)) return 0;
	}
	if (!str_0(info)) return 0;
	bufin_discard(in);
	if (!drain(in->fd)) return 0;
	if (!fd_writeall(fd, "G", 1, TLSCTL_TIMEOUT_MS)) return 0;
	active = 1;
	if (str_copy(&info_line, info->s, info->len) && str_0(&info_line)) info_known = 1;
	return 1;
}

int tlsctl_available(void)
{
	return tlsctl_fd() >= 0 && !tlsctl_active();
}

int tlsctl_info(str *info)
{
	int fd;
	char c;

	str_clear(info);
	if (!tlsctl_active()) return 0;
	if (!info_known) {
		/* implicit TLS: the engine's line, written once after its handshake */
		fd = tlsctl_fd();
		if (fd < 0) return 0;
		str_clear(&info_line);
		for (;;) {
			if (fd_read_timeout(fd, &c, 1, TLSCTL_TIMEOUT_MS) != 1) return 0;
			if (c == '\n') break;
			if (info_line.len < TLSCTL_INFO_MAX && !str_appendc(&info_line, c)) return 0;
		}
		if (!str_0(&info_line)) return 0;
		info_known = 1;
	}
	return str_copy(info, info_line.s, info_line.len) && str_0(info);
}

static int executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* the engine beside argv0 when argv0 names a path, else the first in $PATH */
static int find_engine(const char *argv0, str *out)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : 0;
	const char *path, *p;

	if (slash) {
		if (!str_copy(out, argv0, (size_t)(slash - argv0) + 1) ||
		    !str_appends(out, TLSCTL_ENGINE) || !str_0(out))
			return 0;
		if (executable(out->s)) return 1;
	}
	path = getenv("PATH");
	if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; ) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		/* an empty PATH element means the current directory: not for us */
		if (n && p[0] == '/') {
			if (!str_copy(out, p, n) || !str_appendc(out, '/') ||
			    !str_appends(out, TLSCTL_ENGINE) || !str_0(out))
				return 0;
			if (executable(out->s)) return 1;
		}
		if (!end) break;
		p = end + 1;
	}
	return 0;
}

int tlsctl_maybe_exec_engine(char **argv, int implicit)
{
	str engine = STR_ZERO, cert = STR_ZERO;
	char *nargv[TLSCTL_ARGS_MAX + 3];
	size_t i, n = 0;
	struct stat st;

	if (getenv("FACTEUR_TLSCTL")) return 0;      /* the engine is already there */
	if (implicit && tlsctl_active()) return 0;   /* TLS terminated by someone else */
	if (!argv || !argv[0]) return implicit ? -1 : 0;
	if (!implicit) {
		if (!control_path(&cert, "control/tls/cert.pem") || !str_0(&cert)) return 0;
		if (stat(cert.s, &st) != 0) { str_free(&cert); return 0; }
		str_free(&cert);
	}
	if (!find_engine(argv[0], &engine)) {
		str_free(&engine);
		log_line(implicit ? "fatal: " : "warning: ", "unable to find " TLSCTL_ENGINE,
		         implicit ? "" : ": no STARTTLS", (char *)0);
		return implicit ? -1 : 0;
	}
	nargv[n++] = engine.s;
	if (implicit) nargv[n++] = (char *)"-t";
	for (i = 0; argv[i]; i++) {
		if (i >= TLSCTL_ARGS_MAX) { str_free(&engine); return implicit ? -1 : 0; }
		nargv[n++] = argv[i];
	}
	nargv[n] = 0;
	execv(engine.s, nargv);
	log_line(implicit ? "fatal: " : "warning: ", "unable to run ", engine.s, ": ",
	         strerror(errno), (char *)0);
	str_free(&engine);
	return implicit ? -1 : 0;
}
