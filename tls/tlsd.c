/* tlsd.c: facteur-tlsd [-t] PROG ARGS... -- the TLS engine's main: the
 * arguments and environment, the fork of the protocol program (before any
 * key is read), the key reading as root, the drop to facteur-tls, then
 * either the wait of direct mode (STARTTLS sessions: the program has
 * the socket, see direct_wait) or, with -t, the plaintext relay (relay.c)
 * until the hand-over. This program never links OpenSSL: when
 * TLS starts (a STARTTLS 'Y', or at once with -t) it execs
 * facteur-tlsd-tls (tlsd-tls.c), already unprivileged, handing it the
 * descriptors, a ClientHello held back, and the key files' bytes in a
 * sealed memfd (never on the command line or in the environment).
 * Loading libssl and libcrypto costs ~2 ms of CPU per connection, which
 * a plaintext session no longer pays. Started as root by tcpserver/systemd
 * or by a protocol program's tlsctl_maybe_exec_engine; trusts its command
 * line and the instance's control/tls/ files, nothing from the network. */
#define TLSD_RELAY 1     /* engine.h: the build without OpenSSL */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "buf.h"
#include "common.h"
#include "engine.h"
#include "exitcodes.h"
#include "fmt.h"
#include "log.h"
#include "pemfiles.h"
#include "priv.h"
#include "sock.h"

#define TLSD_EXE_MAX 4096          /* longest path of our own executable */

/* what the hand-over needs besides the relay's struct tlsd */
struct relay {
	pid_t pid;                 /* the protocol program */
	int orig_fl0, orig_fl1;    /* fd 0/1 flags to give back at the end */
	str blob;                  /* the key files (pemfiles.h) */
	str exe;                   /* facteur-tlsd-tls beside us, or empty */
};

static _Noreturn void usage(void)
{
	log_fatal(EX_USAGE, "usage: facteur-tlsd [-t] PROG [ARGS...]", (char *)0);
}

static void set_addr_env(const char *ipname, const char *portname, const struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN];
	char port[FMT_ULONG + 1];
	unsigned p;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		if (!inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip)) return;
		p = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			if (!inet_ntop(AF_INET, (const char *)&s6->sin6_addr + 12, ip, sizeof ip)) return;
		} else if (!inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip)) {
			return;
		}
		p = ntohs(s6->sin6_port);
	} else {
		return;
	}
	port[fmt_ulong(port, p)] = 0;
	setenv(ipname, ip, 1);
	setenv(portname, port, 1);
}

/* The program's fd 0 becomes a pipe, so it can no longer ask the socket
 * who the client is: say it in the environment, as tcpserver does. */
static void tcp_env(void)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (getenv("TCPREMOTEIP")) return;
	len = sizeof ss;
	memset(&ss, 0, sizeof ss);
	if (getpeername(0, (struct sockaddr *)&ss, &len) != 0) return;
	set_addr_env("TCPREMOTEIP", "TCPREMOTEPORT", &ss);
	len = sizeof ss;
	memset(&ss, 0, sizeof ss);
	if (getsockname(0, (struct sockaddr *)&ss, &len) == 0)
		set_addr_env("TCPLOCALIP", "TCPLOCALPORT", &ss);
	if (!getenv("PROTO")) setenv("PROTO", "TCP", 1);
}

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0) (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* after the fork, a fatal error still waits for the program it started */
static _Noreturn void fatal_after_fork(pid_t pid, int code, int fds[4], const char *what, const char *detail)
{
	int i;

	log_line("fatal: ", what, detail ? ": " : "", detail ? detail : "", (char *)0);
	for (i = 0; i < 4; i++) if (fds[i] >= 0) close(fds[i]);
	/* in direct mode the program has the socket too: the session ends
	 * here all the same, not in plaintext with a STARTTLS that cannot work */
	(void)shutdown(0, SHUT_RDWR);
	close(0);
	close(1);
	(void)tlsd_exit_status(pid);
	_exit(code);
}

static void put_num(str *argv_buf, long long v)
{
	char num[FMT_ULONG + 1];

	if (v < 0) { str_appends(argv_buf, "-"); return; }
	num[fmt_ulong(num, (unsigned long long)v)] = 0;
	str_appends(argv_buf, num);
}

static int keep_open(int fd)
{
	int fl;

	if (fd < 0) return 1;
	fl = fcntl(fd, F_GETFD);
	return fl >= 0 && fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) == 0;
}

/* TLS starts: exec facteur-tlsd-tls with the session. Returns 0 (the
 * session ends) only when that fails. */
static int handover(struct tlsd *t)
{
	struct relay *r = t->owner;
	size_t held = t->hold && t->up_n > t->up_p ? t->up_n - t->up_p : 0;
	uint32_t len = (uint32_t)held;
	str args = STR_ZERO;
	char *argv[TLSD_TLS_ARGC + 1];
	size_t i, n;
	int fd;

	fd = memfd_create("facteur-tlsd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) { log_line(t->remote, " fatal: unable to hand over TLS: ", strerror(errno), (char *)0); return 0; }
	if (!fd_writeall(fd, &len, sizeof len, TLSD_HANDSHAKE_MS) ||
	    (held && !fd_writeall(fd, t->up + t->up_p, held, TLSD_HANDSHAKE_MS)) ||
	    !fd_writeall(fd, r->blob.s, r->blob.len, TLSD_HANDSHAKE_MS) ||
	    lseek(fd, 0, SEEK_SET) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0 ||
	    !keep_open(fd) || !keep_open(t->to_prog) || !keep_open(t->from_prog) || !keep_open(t->ctl)) {
		log_line(t->remote, " fatal: unable to hand over TLS: ", strerror(errno), (char *)0);
		close(fd);
		return 0;
	}
	/* the fields, NUL-separated in one buffer, then pointed at */
	str_appends(&args, TLSD_TLS_PROG); str_appendc(&args, 0);
	put_num(&args, r->pid); str_appendc(&args, 0);
	put_num(&args, t->to_prog); str_appendc(&args, 0);
	put_num(&args, t->from_prog); str_appendc(&args, 0);
	put_num(&args, t->ctl); str_appendc(&args, 0);
	put_num(&args, fd); str_appendc(&args, 0);
	put_num(&args, t->implicit); str_appendc(&args, 0);
	put_num(&args, r->orig_fl0); str_appendc(&args, 0);
	put_num(&args, r->orig_fl1);
	if (!str_0(&args)) { log_line(t->remote, " fatal: out of memory", (char *)0); close(fd); return 0; }
	for (i = 0, n = 0; i < TLSD_TLS_ARGC; i++) {
		argv[i] = args.s + n;
		n += strlen(args.s + n) + 1;
	}
	argv[TLSD_TLS_ARGC] = 0;
	if (r->exe.len) execv(r->exe.s, argv);
	execvp(TLSD_TLS_PROG, argv);
	log_line(t->remote, " fatal: unable to run " TLSD_TLS_PROG ": ", strerror(errno), (char *)0);
	close(fd);
	str_free(&args);
	return 0;
}

/* facteur-tlsd-tls in the directory of our own executable (tcpserver may
 * have found us through $PATH, which need not lead there) */
static void find_tls_prog(str *out)
{
	char b[TLSD_EXE_MAX];
	ssize_t n = readlink("/proc/self/exe", b, sizeof b - 1);
	static const char deleted[] = " (deleted)";   /* replaced by a reinstall */
	char *slash;

	str_clear(out);
	if (n <= 0) return;
	b[n] = 0;
	if ((size_t)n > sizeof deleted - 1 && strcmp(b + n - (sizeof deleted - 1), deleted) == 0)
		b[n - (sizeof deleted - 1)] = 0;
	slash = strrchr(b, '/');
	if (!slash) return;
	if (!str_copy(out, b, (size_t)(slash - b) + 1) || !str_appends(out, TLSD_TLS_PROG) || !str_0(out))
		str_clear(out);
}

/* Direct mode (STARTTLS sessions): the program has the client's socket
 * itself, and we only wait, holding the keys, for its 'Y' on the control
 * channel. Then it gets a pair of pipes for fd 0 and fd 1 ('P' with the
 * two descriptors), and we exec facteur-tlsd-tls on the socket, which
 * sees an empty pipe to flush and starts the handshake. A plaintext
 * session so costs no relay: no copy of every byte through this process,
 * no wake-up of ours per command. */

/* the program said 'Y': give it its pipes, then hand over. Returns only
 * when that failed: 1 when fd 0/1 were made non-blocking by then (to be
 * given their modes back), else 0. */
static int direct_starttls(struct relay *rel, int ctl, const char *remote)
{
	int up[2], down[2];
	struct tlsd *t;

	if (pipe2(up, O_CLOEXEC) != 0) { log_line(remote, " fatal: unable to create pipes: ", strerror(errno), (char *)0); return 0; }
	if (pipe2(down, O_CLOEXEC) != 0) {
		log_line(remote, " fatal: unable to create pipes: ", strerror(errno), (char *)0);
		close(up[0]);
		close(up[1]);
		return 0;
	}
	if (!sock_send2fds(ctl, 'P', up[0], down[1])) {
		log_line(remote, " fatal: unable to pass the pipes: ", strerror(errno), (char *)0);
		close(up[0]); close(up[1]); close(down[0]); close(down[1]);
		return 0;
	}
	close(up[0]);
	close(down[1]);
	/* the program has let go of the socket (it uses the pipes from now) */
	nonblock(0);
	nonblock(1);
	nonblock(up[1]);
	nonblock(down[0]);
	nonblock(ctl);
	t = malloc(sizeof *t);
	if (!t) { log_line(remote, " fatal: out of memory", (char *)0); return 1; }
	tlsd_init(t, 0, 1, up[1], down[0], ctl, 0, 0, remote);
	t->owner = rel;
	(void)handover(t);      /* returns only on failure */
	close(up[1]);
	close(down[0]);
	free(t);
	return 1;
}

/* wait for the program's end, or its STARTTLS; returns its exit status */
static int direct_wait(struct relay *rel, int ctl, const char *remote)
{
	int pfd = -1;
	int touched = 0;   /* fd 0/1 made non-blocking: give their modes back */

#ifdef SYS_pidfd_open
	pfd = (int)syscall(SYS_pidfd_open, rel->pid, 0);
#endif
	while (ctl >= 0) {
		struct pollfd p[2];
		nfds_t n = 0;
		char c;
		ssize_t r;

		p[n].fd = ctl; p[n].events = POLLIN; p[n].revents = 0; n++;
		if (pfd >= 0) { p[n].fd = pfd; p[n].events = POLLIN; p[n].revents = 0; n++; }
		/* no timeout of our own: the program times out its clients */
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR) continue;
			break;
		}
		if (n > 1 && p[1].revents) break;          /* the program ended */
		if (!p[0].revents) continue;
		r = read(ctl, &c, 1);
		if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
		if (r == 1 && c == 'Y') {
			touched = direct_starttls(rel, ctl, remote);
			break;                             /* hand-over failed */
		}
		if (r == 1) {
			/* a broken program: end its session, as the relay would
			 * (it runs as another user: the socket is what we can shut) */
			log_line(remote, " fatal: control protocol violated by the program", (char *)0);
			(void)shutdown(0, SHUT_RDWR);
		}
		break;
	}
	/* our copies of the socket go first, so the client sees the end as
	 * soon as the program's are gone too. Its modes are the program's
	 * business while it may still run on it (we never changed them
	 * unless the hand-over got that far). */
	if (touched && rel->orig_fl0 >= 0) (void)fcntl(0, F_SETFL, rel->orig_fl0);
	if (touched && rel->orig_fl1 >= 0) (void)fcntl(1, F_SETFL, rel->orig_fl1);
	close(0);
	close(1);
	if (ctl >= 0) close(ctl);
	if (pfd >= 0) close(pfd);
	str_wipe(&rel->blob);
	str_free(&rel->exe);
	return tlsd_exit_status(rel->pid);
}

int main(int argc, char **argv)
{
	int implicit = 0, i = 1;
	int up[2], down[2], ctl[2], ours[4];
	int orig_fl0, orig_fl1;
	char num[FMT_ULONG + 1];
	const char *remote;
	struct relay rel;
	struct tlsd *t;
	str err = STR_ZERO;
	pid_t pid;
	int avail, end;

	log_setprog("facteur-tlsd");
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--") == 0) { i++; break; }
		if (strcmp(argv[i], "-t") == 0) implicit = 1;
		else usage();
		i++;
	}
	if (i >= argc) usage();
	/* a closed fd 2 would make our socketpair land there */
	if (fcntl(2, F_GETFD) < 0 && open("/dev/null", O_WRONLY) != 2) _exit(EX_OSERR);
	if (fcntl(0, F_GETFD) < 0 || fcntl(1, F_GETFD) < 0)
		log_fatal(EX_USAGE, "fatal: no connection on fd 0 and fd 1", (char *)0);

	/* a SIGCHLD ignored by whoever started us would reap the program
	 * behind our back: its exit status lost (we would say EX_OSERR) and,
	 * in direct mode, its pid free for reuse before we watch it */
	signal(SIGCHLD, SIG_DFL);
	unsetenv("FACTEUR_TLS");
	unsetenv("FACTEUR_TLSDIRECT");
	avail = pemfiles_available();
	if (avail != 1) {
		if (implicit)
			log_fatal(EX_CONFIG, "fatal: no certificate in control/tls/cert.pem: no implicit TLS", (char *)0);
		/* no certificate: the program runs alone and offers no STARTTLS;
		 * an empty FACTEUR_TLSCTL stops it from calling us again */
		setenv("FACTEUR_TLSCTL", "", 1);
		execvp(argv[i], argv + i);
		log_fatalsys(EX_UNAVAILABLE, "fatal: unable to run ", argv[i], (char *)0);
	}

	tcp_env();
	remote = getenv("TCPREMOTEIP");
	if (!remote || !*remote) remote = "unknown";
	up[0] = up[1] = down[0] = down[1] = -1;
	if ((implicit && (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0)) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0)
		log_fatalsys(EX_OSERR, "fatal: unable to create pipes", (char *)0);
	num[fmt_ulong(num, (unsigned long long)ctl[1])] = 0;
	setenv("FACTEUR_TLSCTL", num, 1);
	if (implicit) setenv("FACTEUR_TLS", "1", 1);
	else setenv("FACTEUR_TLSDIRECT", "1", 1);   /* tlsctl.h */
	orig_fl0 = fcntl(0, F_GETFL);
	orig_fl1 = fcntl(1, F_GETFL);
	{
		/* whole TLS records, whole chunks of the program's output, or
		 * (direct) whole replies: no reason for Nagle to hold one back */
		int one = 1;
		(void)setsockopt(1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}

	/* fork before any key is read: the program never holds one, not even
	 * in a copy of our memory */
	/* posix_spawn (vfork and exec underneath): the program is started
	 * without a copy of our memory, once a connection (issue 2). A dup2
	 * of the control channel onto itself clears its close-on-exec. */
	{
		posix_spawn_file_actions_t fa;
		int e = posix_spawn_file_actions_init(&fa);
		if (e) { errno = e; log_fatalsys(EX_OSERR, "fatal: unable to start the program", (char *)0); }
		if (implicit) {
			e = posix_spawn_file_actions_adddup2(&fa, up[0], 0);
			if (!e) e = posix_spawn_file_actions_adddup2(&fa, down[1], 1);
		}
		if (!e) e = posix_spawn_file_actions_adddup2(&fa, ctl[1], ctl[1]);
		if (!e) e = posix_spawnp(&pid, argv[i], &fa, 0, argv + i, environ);
		posix_spawn_file_actions_destroy(&fa);
		if (e) { errno = e; log_fatalsys(EX_UNAVAILABLE, "fatal: unable to run ", argv[i], (char *)0); }
	}
	if (implicit) {
		close(up[0]);
		close(down[1]);
	}
	close(ctl[1]);
	ours[0] = up[1];
	ours[1] = down[0];
	ours[2] = ctl[0];
	ours[3] = -1;
	signal(SIGPIPE, SIG_IGN);
	/* a SIGTERM to the whole unit (systemd) is the program's to answer
	 * (facteur-smtpd says 421): we relay its goodbye and end with it */
	signal(SIGTERM, SIG_IGN);

	/* read as root; parsed as facteur-tls by facteur-tlsd-tls, only
	 * once TLS starts (plaintext sessions never load OpenSSL) */
	memset(&rel, 0, sizeof rel);
	rel.pid = pid;
	/* the keys will be in our memory: no core dumps, no ptrace by our uid */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (!pemfiles_read(&rel.blob, &err)) {
		str_wipe(&rel.blob);
		if (!str_0(&err)) fatal_after_fork(pid, EX_CONFIG, ours, "unable to read the certificate", 0);
		fatal_after_fork(pid, EX_CONFIG, ours, err.s, 0);
	}
	find_tls_prog(&rel.exe);
	if (!priv_drop(PRIV_TLSUSER))
		fatal_after_fork(pid, EX_CONFIG, ours, "unable to switch to user " PRIV_TLSUSER, strerror(errno));
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);   /* a uid change may reset it */
	str_free(&err);
	rel.orig_fl0 = orig_fl0;
	rel.orig_fl1 = orig_fl1;
	if (!implicit) return direct_wait(&rel, ctl[0], remote);

	t = malloc(sizeof *t);
	if (!t) fatal_after_fork(pid, EX_OSERR, ours, "out of memory", 0);
	tlsd_init(t, 0, 1, up[1], down[0], ctl[0], implicit, 0, remote);
	t->handover = handover;
	t->owner = &rel;
	t->handshake_ms = tlsd_env_timeout_ms("FACTEUR_TLS_HANDSHAKE_TIMEOUT", t->handshake_ms);
	t->idle_ms = tlsd_env_timeout_ms("FACTEUR_TLS_IDLE_TIMEOUT", t->idle_ms);
	t->write_ms = tlsd_env_timeout_ms("FACTEUR_TLS_WRITE_TIMEOUT", t->write_ms);
	nonblock(0);
	nonblock(1);
	nonblock(up[1]);
	nonblock(down[0]);
	nonblock(ctl[0]);

	end = tlsd_run(t);
	(void)end;

	str_wipe(&rel.blob);
	str_free(&rel.exe);
	return tlsd_finish(t, orig_fl0, orig_fl1, pid);
}
