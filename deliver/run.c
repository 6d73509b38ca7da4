/* run.c: the two kinds of child process a delivery starts: a rules file's
 * `|program` (run with /bin/sh -c on the text from the mailbox owner's own
 * file; envelope data reaches it only as environment variables, never in
 * the command line), and facteur-queue for forwards (execve with an argv;
 * addresses only on its envelope descriptor). Runs as `facteur`. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "auth.h"
#include "buf.h"
#include "deadline.h"
#include "dlv.h"
#include "errclass.h"
#include "exitcodes.h"
#include "log.h"

#define CHUNK 65536
#define QUEUE_ARGS_MAX 16
#define ENVELOPE_MAX 60000     /* a forward's envelope, written after the message */

/* the message source: prefix, then the message from offset 0, CRLF -> LF
 * when lf is set; fills out with the next bytes, 0 at the end, -1 error */
struct source {
	int fd, lf, cr;
	const char *prefix;
	size_t plen, pdone;
	off_t off;
	char in[CHUNK];
	char out[CHUNK + 1];
};

static long source_next(struct source *s)
{
	size_t n = 0, i;
	ssize_t r;

	if (s->pdone < s->plen) {
		n = s->plen - s->pdone;
		if (n > CHUNK) n = CHUNK;
		memcpy(s->out, s->prefix + s->pdone, n);
		s->pdone += n;
		return (long)n;
	}
	for (;;) {
		r = pread(s->fd, s->in, sizeof s->in, s->off);
		if (r < 0 && errno == EINTR) continue;
		break;
	}
	if (r < 0) return -1;
	if (r == 0) {
		if (s->cr) { s->cr = 0; s->out[0] = '\r'; return 1; }
		return 0;
	}
	s->off += r;
	if (!s->lf) { memcpy(s->out, s->in, (size_t)r); return (long)r; }
	for (i = 0; i < (size_t)r; i++) {
		char c = s->in[i];
		if (s->cr) { s->cr = 0; if (c != '\n') s->out[n++] = '\r'; }
		if (c == '\r') { s->cr = 1; continue; }
		s->out[n++] = c;
	}
	if (n == 0) return source_next(s);
	return (long)n;
}

int dlv_copy(struct dlv *d, int fd, const char *prefix, size_t plen, int lf, int timeout_ms)
{
	struct source *s = malloc(sizeof *s);
	long n;

	if (!s) return 0;
	s->fd = d->msgfd; s->lf = lf; s->cr = 0;
	s->prefix = prefix; s->plen = plen; s->pdone = 0; s->off = 0;
	while ((n = source_next(s)) > 0)
		if (!fd_writeall(fd, s->out, (size_t)n, timeout_ms)) { free(s); return 0; }
	free(s);
	return n == 0;
}

static int add_env(char **envp, size_t *k, str *store, const char *name, const char *val)
{
	str *v = &store[*k];
	if (!str_copys(v, name) || !str_appendc(v, '=') || !str_appends(v, val) || !str_0(v)) return 0;
	envp[*k] = v->s;
	(*k)++;
	return 1;
}

/* wait for pid until the deadline, then kill its process group */
static int wait_deadline(pid_t pid, long long deadline, int *timedout)
{
	int st, r = deadline_reap(pid, deadline, 1, &st);

	*timedout = r == 0;
	return r < 0 ? -1 : st;
}

int dlv_pipe(struct dlv *d, const char *cmd, int dirfd, const char *rcpt,
             const char *local, const char *domain, const char *ext,
             const char *prefix, size_t prefixlen, int *stop)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, st, timedout, code, readerr = 0;
	char *envp[12];
	str envs[11];
	size_t k = 0, i, outlen = 0;
	char outbuf[DLV_PIPE_OUT_MAX + 1];
	struct source *s = 0;
	long pending = 0, sent = 0;
	long long deadline = deadline_now() + d->pipe_timeout_ms;
	pid_t pid;

	*stop = 0;
	for (i = 0; i < 11; i++) { envs[i].s = 0; envs[i].len = envs[i].cap = 0; }
	if (!add_env(envp, &k, envs, "PATH", "/usr/local/bin:/usr/bin:/bin") ||
	    !add_env(envp, &k, envs, "SENDER", d->sender.s) ||
	    !add_env(envp, &k, envs, "RECIPIENT", rcpt) ||
	    !add_env(envp, &k, envs, "LOCAL", local) ||
	    !add_env(envp, &k, envs, "DOMAIN", domain) ||
	    !add_env(envp, &k, envs, "EXT", ext) ||
	    !add_env(envp, &k, envs, "FACTEUR_HOME", getenv("FACTEUR_HOME") ? getenv("FACTEUR_HOME") : "")) {
		code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "out of memory", 0);
		goto done;
	}
	envp[k] = 0;
	s = malloc(sizeof *s);
	if (!s || pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
		code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to start the program: ", strerror(errno));
		goto done;
	}
	pid = fork();
	if (pid < 0) {
		code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to fork: ", strerror(errno));
		goto done;
	}
	if (pid == 0) {
		char *argv[4];
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0) _exit(111);
		if (fchdir(dirfd) != 0) _exit(111);
		argv[0] = (char *)"sh";
		argv[1] = (char *)"-c";
		argv[2] = (char *)cmd;
		argv[3] = 0;
		execve("/bin/sh", argv, envp);
		_exit(111);
	}
	close(in[0]); in[0] = -1;
	close(out[1]); out[1] = -1;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	s->fd = d->msgfd; s->lf = 1; s->cr = 0;
	s->prefix = prefix; s->plen = prefixlen; s->pdone = 0; s->off = 0;
	while (in[1] >= 0 || out[0] >= 0) {
		struct pollfd p[2];
		int np = 0, r, wi = -1, ri = -1;
		long long left = deadline - deadline_now();
		if (left <= 0) break;
		if (in[1] >= 0) { p[np].fd = in[1]; p[np].events = POLLOUT; wi = np++; }
		if (out[0] >= 0) { p[np].fd = out[0]; p[np].events = POLLIN; ri = np++; }
		r = poll(p, (nfds_t)np, left > 1000 ? 1000 : (int)left);
		if (r < 0 && errno != EINTR) break;
		if (r <= 0) continue;
		if (ri >= 0 && p[ri].revents) {
			char b[4096];
			ssize_t n = read(out[0], b, sizeof b);
			if (n > 0) {
				size_t take = (size_t)n;
				if (take > DLV_PIPE_OUT_MAX - outlen) take = DLV_PIPE_OUT_MAX - outlen;
				memcpy(outbuf + outlen, b, take);
				outlen += take;
			} else if (n == 0 || errno != EINTR) {
				close(out[0]);
				out[0] = -1;
			}
		}
		if (wi >= 0 && p[wi].revents) {
			if (sent == pending) {
				pending = source_next(s);
				sent = 0;
				if (pending <= 0) {
					if (pending < 0) {
						/* the program must not take a cut-off message
						 * for a whole one: it dies before it sees EOF */
						log_line("unable to read the message: ", strerror(errno), (char *)0);
						readerr = 1;
						kill(-pid, SIGKILL);
						kill(pid, SIGKILL);
					}
					close(in[1]);
					in[1] = -1;
					continue;
				}
			}
			{
				ssize_t w = write(in[1], s->out + sent, (size_t)(pending - sent));
				if (w > 0) sent += w;
				else if (w < 0 && errno != EAGAIN && errno != EINTR) {
					/* the program stopped reading: its exit code decides */
					close(in[1]);
					in[1] = -1;
				}
			}
		}
	}
	if (in[1] >= 0) { close(in[1]); in[1] = -1; }
	if (out[0] >= 0) { close(out[0]); out[0] = -1; }
	st = wait_deadline(pid, deadline, &timedout);
	outbuf[outlen] = 0;
	for (i = 0; i < outlen; i++)
		if (outbuf[i] == '\n') { outbuf[i] = 0; break; }
	if (readerr) {
		code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to read the message for the program", 0);
	} else if (timedout) {
		log_line("program timed out: ", cmd, (char *)0);
		code = dlv_fail(d, EX_TEMPFAIL, "4.4.7", "program timed out", 0);
	} else if (st < 0 || !WIFEXITED(st)) {
		log_line("program crashed: ", cmd, (char *)0);
		code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "program crashed", 0);
	} else {
		int x = WEXITSTATUS(st);
		const char *why = outlen ? outbuf : "program failed";
		if (x == 0 || x == 99) {
			code = 0;
			*stop = x == 99;
			log_line("delivered ", rcpt, " to program ", cmd, (char *)0);
		} else if (x == 100) {
			code = dlv_fail(d, EX_UNAVAILABLE, "5.3.0", why, 0);
		} else if (x == 111) {
			code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", why, 0);
		} else if (x >= 64 && x <= 78) {
			code = dlv_fail(d, x, sysexit_status(x), why, 0);
		} else {
			code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", why, 0);
		}
		if (code) {
			char n[8];
			size_t l = 0;
			if (x >= 100) n[l++] = (char)('0' + x / 100);
			if (x >= 10) n[l++] = (char)('0' + x / 10 % 10);
			n[l++] = (char)('0' + x % 10);
			n[l] = 0;
			log_line("program for ", rcpt, " exited ", n, ": ", why, (char *)0);
		}
	}
done:
	if (in[0] >= 0) close(in[0]);
	if (in[1] >= 0) close(in[1]);
	if (out[0] >= 0) close(out[0]);
	if (out[1] >= 0) close(out[1]);
	for (i = 0; i < 11; i++) str_free(&envs[i]);
	free(s);
	return code;
}

/* the queue program: $FACTEUR_QUEUE's words, else our facteur-queue */
static int queue_argv(str *store, char **argv)
{
	const char *q = getenv("FACTEUR_QUEUE");
	size_t n = 0, i;

	str_clear(store);
	if (q && *q) {
		if (!str_copys(store, q) || !str_0(store)) return 0;
	} else if (!auth_findprog("facteur-queue", store)) {
		return 0;
	}
	for (i = 0; i < store->len && n < QUEUE_ARGS_MAX; ) {
		while (i < store->len && (store->s[i] == ' ' || store->s[i] == '\t')) store->s[i++] = 0;
		if (i >= store->len) break;
		argv[n++] = store->s + i;
		while (i < store->len && store->s[i] != ' ' && store->s[i] != '\t') i++;
	}
	argv[n] = 0;
	return n > 0;
}

int dlv_inject(struct dlv *d)
{
	str qs = STR_ZERO, env = STR_ZERO, pre = STR_ZERO;
	char *argv[QUEUE_ARGS_MAX + 1];
	int mp[2] = { -1, -1 }, ep[2] = { -1, -1 }, st, timedout, code = 0, x, copied;
	const char *eol = d->hdr.crlf ? "\r\n" : "\n";
	size_t i;
	pid_t pid;

	/* the envelope: original sender, every target, then the final NUL */
	if (!str_appendc(&env, 'F') || !str_append(&env, d->sender.s, d->sender.len) ||
	    !str_appendc(&env, 0)) goto nomem;
	for (i = 0; i < d->forwards.len; ) {
		size_t l = strlen(d->forwards.s + i);
		if (!str_appendc(&env, 'T') || !str_append(&env, d->forwards.s + i, l) ||
		    !str_appendc(&env, 0)) goto nomem;
		i += l + 1;
	}
	if (!str_appendc(&env, 0)) goto nomem;
	if (env.len > ENVELOPE_MAX) { code = dlv_fail(d, EX_UNAVAILABLE, "5.3.4", "forwarding envelope too large", 0); goto done; }
	for (i = 0; i < d->dtlines.len; ) {
		size_t l = strlen(d->dtlines.s + i);
		if (!str_appends(&pre, "Delivered-To: ") || !str_append(&pre, d->dtlines.s + i, l) ||
		    !str_appends(&pre, eol)) goto nomem;
		i += l + 1;
	}
	if (!queue_argv(&qs, argv)) goto nomem;
	if (pipe2(mp, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
		code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to make a pipe: ", strerror(errno));
		goto done;
	}
	pid = fork();
	if (pid < 0) { code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to fork: ", strerror(errno)); goto done; }
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		if (dup2(mp[0], 0) < 0 || dup2(ep[0], 1) < 0) _exit(QQ_BUG);
		if (strchr(argv[0], '/')) execv(argv[0], argv);
		else execvp(argv[0], argv);
		_exit(QQ_BUG);
	}
	close(mp[0]); mp[0] = -1;
	close(ep[0]); ep[0] = -1;
	/* qmail-queue's order: the envelope goes only after the whole
	 * message, and not at all when the message could not be copied, so
	 * that the queue keeps nothing of a cut-off message */
	copied = dlv_copy(d, mp[1], pre.s, pre.len, 0, DLV_PIPE_TIMEOUT_MS);
	if (!copied) log_line("unable to write the message to the queue: ", strerror(errno), (char *)0);
	close(mp[1]); mp[1] = -1;
	if (copied && !fd_writeall(ep[1], env.s, env.len, DLV_PIPE_TIMEOUT_MS)) {
		log_line("unable to write the envelope: ", strerror(errno), (char *)0);
		copied = 0;
	}
	close(ep[1]); ep[1] = -1;
	st = wait_deadline(pid, deadline_now() + DLV_PIPE_TIMEOUT_MS, &timedout);
	x = (st >= 0 && WIFEXITED(st)) ? WEXITSTATUS(st) : QQ_BUG;
	if (timedout) x = QQ_TIMEOUT;
	/* a 0 after our own write failed cannot be trusted to hold it all */
	if (!copied && x == QQ_OK) x = QQ_BUG;
	if (x == QQ_OK) {
		for (i = 0; i < d->forwards.len; ) {
			log_line("forwarded to ", d->forwards.s + i, (char *)0);
			i += strlen(d->forwards.s + i) + 1;
		}
	} else if (qqexit_permanent(x)) {
		code = dlv_fail(d, EX_UNAVAILABLE, "5.3.0", "forward refused by the queue: ", qqexit_reply(x));
	} else {
		log_line("unable to queue the forward: ", qqexit_reply(x), (char *)0);
		code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to queue the forward: ", qqexit_reply(x));
	}
	goto done;
nomem:
	code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "out of memory", 0);
done:
	if (mp[0] >= 0) close(mp[0]);
	if (mp[1] >= 0) close(mp[1]);
	if (ep[0] >= 0) close(ep[0]);
	if (ep[1] >= 0) close(ep[1]);
	str_free(&qs);
	str_free(&env);
	str_free(&pre);
	return code;
}
