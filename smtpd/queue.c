/* queue.c: hands one message to $FACTEUR_QUEUE (default facteur-queue)
 * through the qmail-queue interface: the message streams to the child's
 * fd 0 while we read it from the client, and the envelope goes to its fd 1
 * only once the whole message was accepted. A message we refuse midway
 * (smuggling, size, loop) never gets an envelope, so the queue keeps
 * nothing of it. The command is split on spaces into argv and run with
 * execvp: no shell ever sees envelope data. Runs as the `facteur` user. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "deadline.h"
#include "fmt.h"
#include "smtpd-internal.h"

#define QUEUE_ARGS_MAX 32
#define QUEUE_WRITE_TIMEOUT_MS (20 * 60 * 1000)

char **queue_argv_from(const char *spec)
{
	char **argv = calloc(QUEUE_ARGS_MAX + 1, sizeof *argv);
	char *copy, *p;
	size_t n = 0;

	if (!spec || !*spec) spec = "facteur-queue";
	copy = strdup(spec);
	if (!argv || !copy) { free(argv); free(copy); return 0; }
	for (p = copy; *p && n < QUEUE_ARGS_MAX; ) {
		while (*p == ' ') *p++ = 0;
		if (!*p) break;
		argv[n++] = p;
		while (*p && *p != ' ') p++;
	}
	if (!n) { free(copy); free(argv); return 0; }
	argv[n] = 0;
	return argv;
}

int queue_start(struct session *s)
{
	int mp[2], ep[2];
	pid_t pid;

	s->job.pid = -1;
	s->job.failed = 0;
	if (!s->queue_argv) return 0;
	if (pipe2(mp, O_CLOEXEC) != 0) return 0;
	if (pipe2(ep, O_CLOEXEC) != 0) { close(mp[0]); close(mp[1]); return 0; }
	s->job.out = malloc(sizeof *s->job.out);
	if (!s->job.out) goto fail;
	/* posix_spawn (vfork and exec underneath): no copy of our memory
	 * for a child that only execs, once a message (issue 2). The child's
	 * fd 0 is the message, fd 1 the envelope; its own process group, so
	 * a filter chain can be stopped whole; SIGPIPE and the signal mask
	 * (our SIGTERM block, buf_stop_on) are the program's own again. A
	 * program that cannot be run fails here, as a fork that fails. */
	{
		posix_spawn_file_actions_t fa;
		posix_spawnattr_t at;
		sigset_t none, pipe;
		int e;
		sigemptyset(&none);
		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		if (posix_spawn_file_actions_init(&fa) != 0) goto fail;
		if (posix_spawnattr_init(&at) != 0) { posix_spawn_file_actions_destroy(&fa); goto fail; }
		e = posix_spawn_file_actions_adddup2(&fa, mp[0], 0);
		if (!e) e = posix_spawn_file_actions_adddup2(&fa, ep[0], 1);
		if (!e) e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
		                                          POSIX_SPAWN_SETSIGDEF);
		if (!e) e = posix_spawnattr_setpgroup(&at, 0);
		if (!e) e = posix_spawnattr_setsigmask(&at, &none);
		if (!e) e = posix_spawnattr_setsigdefault(&at, &pipe);
		if (!e) e = posix_spawnp(&pid, s->queue_argv[0], &fa, &at, s->queue_argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&at);
		if (e) { errno = e; goto fail; }
	}
	setpgid(pid, pid);           /* whichever of us gets there first */
	close(mp[0]);
	close(ep[0]);
	s->job.pid = pid;
	s->job.msgfd = mp[1];
	s->job.envfd = ep[1];
	bufout_init(s->job.out, mp[1], QUEUE_WRITE_TIMEOUT_MS);
	return 1;
fail:
	free(s->job.out);
	s->job.out = 0;
	close(mp[0]); close(mp[1]); close(ep[0]); close(ep[1]);
	return 0;
}

int queue_write(struct session *s, const char *p, size_t n)
{
	if (s->job.pid < 0 || s->job.failed) return 0;
	if (!bufout_put(s->job.out, p, n)) { s->job.failed = 1; return 0; }
	return 1;
}

/* the child's exit code, waiting at most timeout_ms: a filter that hangs
 * must not keep this process (and its tcpserver slot) forever, and the
 * client stops waiting for our reply after 10 minutes anyway (RFC 5321
 * 4.5.3.2.6). Past the deadline the child's group is killed: QQ_TIMEOUT. */
static int reap(pid_t pid, int timeout_ms)
{
	int st, r = deadline_reap(pid, deadline_now() + timeout_ms, 1, &st);

	if (r < 0) return QQ_BUG_EXIT;
	if (r == 0) return QQ_TIMEOUT;
	if (WIFEXITED(st)) return WEXITSTATUS(st);
	return QQ_CRASH_EXIT;
}

static void job_close(struct session *s)
{
	if (s->job.msgfd >= 0) close(s->job.msgfd);
	if (s->job.envfd >= 0) close(s->job.envfd);
	s->job.msgfd = s->job.envfd = -1;
	free(s->job.out);
	s->job.out = 0;
}

/* refuse: the child sees the message end but no envelope, and keeps
 * nothing (qmail-queue's contract) */
void queue_abort(struct session *s)
{
	if (s->job.pid < 0) return;
	job_close(s);
	reap(s->job.pid, s->timeout_ms);
	s->job.pid = -1;
}

int queue_finish(struct session *s, int *code)
{
	str env = STR_ZERO;
	size_t i;
	int ok;

	*code = QQ_BUG_EXIT;
	if (s->job.pid < 0) return 0;
	ok = !s->job.failed && bufout_flush(s->job.out);
	close(s->job.msgfd);
	s->job.msgfd = -1;
	if (ok) {
		ok = str_appendc(&env, 'F') && str_append(&env, s->sender.s, s->sender.len) &&
		     str_appendc(&env, 0);
		for (i = 0; ok && i < s->rcpts.len; ) {
			size_t l = strlen(s->rcpts.s + i);
			ok = str_appendc(&env, 'T') && str_append(&env, s->rcpts.s + i, l) &&
			     str_appendc(&env, 0);
			i += l + 1;
		}
		ok = ok && str_appendc(&env, 0) &&
		     fd_writeall(s->job.envfd, env.s, env.len, QUEUE_WRITE_TIMEOUT_MS);
	}
	str_free(&env);
	job_close(s);
	*code = reap(s->job.pid, s->timeout_ms);
	s->job.pid = -1;
	/* the child may say 0 only after reading a complete envelope, but a
	 * write error on our side means we cannot trust that it got one */
	if (!ok && *code == 0) *code = QQ_BUG_EXIT;
	return 1;
}

/* RFC 5321 4.4 trace header */
int received_header(struct session *s, str *out)
{
	char date[FMT_DATE];
	const char *with;
	int ok;

	if (s->helo == 1) with = s->utf8 ? "UTF8SMTP" : "SMTP";
	else if (s->tls && s->authuser.len) with = s->utf8 ? "UTF8SMTPSA" : "ESMTPSA";
	else if (s->authuser.len) with = s->utf8 ? "UTF8SMTPA" : "ESMTPA";
	else if (s->tls) with = s->utf8 ? "UTF8SMTPS" : "ESMTPS";
	else with = s->utf8 ? "UTF8SMTP" : "ESMTP";
	fmt_date822(date, time(0));
	str_clear(out);
	ok = str_appends(out, "Received: from ");
	{
		size_t i;
		/* a HELO name is the client's word: keep the characters of
		 * domains and address literals, so that a ';' or '(' in it
		 * cannot fake the header's later clauses */
		for (i = 0; ok && i < s->heloname.len; i++) {
			char c = s->heloname.s[i];
			int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			           (c >= '0' && c <= '9') || c == '.' || c == '-' ||
			           c == '_' || c == ':' || c == '[' || c == ']';
			ok = str_appendc(out, keep ? c : '?');
		}
	}
	ok = ok && str_appends(out, " ([") &&
	     str_appends(out, s->remoteip.len ? s->remoteip.s : "unknown") &&
	     str_appends(out, "])\r\n\tby ") &&
	     str_append(out, s->me.s, s->me.len) &&
	     str_appends(out, " (facteur) with ") && str_appends(out, with);
	if (ok && s->tls && s->tlsinfo.len) {
		size_t i;
		/* the engine is ours, but a comment must stay a comment */
		ok = str_appends(out, " (");
		for (i = 0; ok && i < s->tlsinfo.len; i++) {
			char c = s->tlsinfo.s[i];
			if (c > ' ' && c < 127 && c != '(' && c != ')' && c != '\\') ok = str_appendc(out, c);
			else if (c == ' ') ok = str_appendc(out, ' ');
		}
		ok = ok && str_appendc(out, ')');
	}
	ok = ok && str_appends(out, " id ") && str_append(out, s->msgid.s, s->msgid.len);
	if (ok && s->nrcpt == 1) {
		size_t l = strlen(s->rcpts.s);
		ok = str_appends(out, "\r\n\tfor <") && str_append(out, s->rcpts.s, l) &&
		     str_appendc(out, '>');
	}
	return ok && str_appends(out, "; ") && str_appends(out, date) &&
	       str_appends(out, "\r\n");
}
