/* facteur-sendmail: the sendmail(8) command line for local programs (cron,
 * mail(1), PHP, scripts). Reads the message on stdin, adds Date,
 * Message-ID and From when missing, takes recipients from the command
 * line and, with -t, from To/Cc/Bcc (Bcc removed), and hands the message
 * to facteur-queue ($FACTEUR_QUEUE, as for smtpd). Exit codes are
 * sysexits, as sendmail's. Runs as the calling user, trusts nothing it
 * reads; facteur-queue drops root to facteur by itself. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "control.h"
#include "errclass.h"
#include "exitcodes.h"
#include "fmt.h"
#include "inject.h"
#include "log.h"
#include "qfile.h"

#define SENDMAIL_ARGS_MAX 64    /* words in $FACTEUR_QUEUE */

static _Noreturn void usage(const char *why)
{
	log_fatal(EX_USAGE, "fatal: ", why, "; usage: facteur-sendmail [-t] [-i] [-f sender] [-F name] [rcpt ...]",
	          (char *)0);
}

static _Noreturn void nomem(void) { log_fatal(EX_TEMPFAIL, "fatal: out of memory", (char *)0); }

static int inject_exit(int r)
{
	switch (r) {
	case INJECT_OK: return EX_OK;
	case INJECT_BADADDR: case INJECT_TOOBIG: return EX_DATAERR;
	case INJECT_IOERR: return EX_IOERR;
	default: return EX_TEMPFAIL;
	}
}

/* the command facteur-smtpd would run: $FACTEUR_QUEUE split on spaces */
static char **queue_argv(str *words)
{
	const char *q = getenv("FACTEUR_QUEUE");
	static char *argv[SENDMAIL_ARGS_MAX + 1];
	static str prog;   /* argv[0] points into it until we exit */
	size_t n = 0, i = 0;

	if (!q || !*q) q = "facteur-queue";
	if (!str_copys(words, q) || !str_0(words)) nomem();
	while (i < words->len && n < SENDMAIL_ARGS_MAX) {
		while (i < words->len && words->s[i] == ' ') words->s[i++] = 0;
		if (i >= words->len) break;
		argv[n++] = words->s + i;
		while (i < words->len && words->s[i] != ' ') i++;
	}
	if (i < words->len) words->s[i] = 0;
	argv[n] = 0;
	if (!n) log_fatal(EX_CONFIG, "fatal: $FACTEUR_QUEUE is empty", (char *)0);
	if (!strchr(argv[0], '/')) {
		if (!qprog_find(argv[0], 0, &prog))
			log_fatal(EX_TEMPFAIL, "fatal: cannot find ", argv[0], (char *)0);
		argv[0] = prog.s;   /* kept for the life of the process */
	}
	return argv;
}

static void set_sender(struct inject *in, const char *a)
{
	size_t n = strlen(a);

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') { a++; n -= 2; }
	str_clear(&in->sender);
	if (n == 0) return;   /* -f '<>': the null sender */
	{
		/* the same grammar as recipients, one address only */
		str saved = in->rcpts;
		size_t savedn = in->nrcpt;
		int r;
		in->rcpts.s = 0; in->rcpts.len = in->rcpts.cap = 0;
		in->nrcpt = 0;
		r = inject_addrlist(in, a, n);
		if (r != INJECT_OK || in->nrcpt != 1)
			log_fatal(EX_DATAERR, "fatal: bad sender address: ", a, (char *)0);
		if (!str_copys(&in->sender, in->rcpts.s)) nomem();
		str_free(&in->rcpts);
		in->rcpts = saved;
		in->nrcpt = savedn;
	}
}

int main(int argc, char **argv)
{
	struct inject in;
	struct passwd *pw;
	const char *fflag = 0, *fullname = 0;
	str words = STR_ZERO, env = STR_ZERO;
	char **qargv;
	int i, p0[2], p1[2], st, r, ok;
	pid_t pid;
	bufin b;
	bufout o;

	log_setprog("facteur-sendmail");
	signal(SIGPIPE, SIG_IGN);
	memset(&in, 0, sizeof in);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !a[1]) break;
		if (!strcmp(a, "--")) { i++; break; }
		switch (a[1]) {
		case 't': in.tflag = 1; if (a[2]) usage("bad option"); break;
		case 'i': in.iflag = 1; break;
		case 'o':
			/* -oi; other -o options (-oem, -odb...) mean nothing here */
			if (a[2] == 'i' && !a[3]) in.iflag = 1;
			break;
		case 'f': case 'r':
			if (a[2]) fflag = a + 2;
			else if (++i < argc) fflag = argv[i];
			else usage("-f needs an address");
			break;
		case 'F':
			if (a[2]) fullname = a + 2;
			else if (++i < argc) fullname = argv[i];
			else usage("-F needs a name");
			break;
		case 'b':
			if (!strcmp(a, "-bm")) break;
			if (!strcmp(a, "-bp")) {
				str qs = STR_ZERO;
				char *av[] = { "facteur-qstat", 0 };
				if (!qprog_find("facteur-qstat", 0, &qs)) log_fatal(EX_UNAVAILABLE, "fatal: cannot find facteur-qstat", (char *)0);
				execv(qs.s, av);
				log_fatalsys(EX_UNAVAILABLE, "fatal: unable to run facteur-qstat", (char *)0);
			}
			usage("only -bm and -bp are supported");
		case 'N': case 'R': case 'B': case 'L': case 'V': case 'X': case 'C': case 'O':
			/* options with an argument that do not apply to us */
			if (!a[2]) i++;
			break;
		case 'v': case 'm': case 'n': case 'U': case 'G': case 'e':
			break;
		default:
			usage("unknown option");
		}
	}
	if (control_readline("control/me", &in.me) <= 0 && !str_copys(&in.me, "localhost")) nomem();
	pw = getpwuid(getuid());
	if (!str_copys(&in.from, pw ? pw->pw_name : "nobody") || !str_appendc(&in.from, '@') ||
	    !str_append(&in.from, in.me.s, in.me.len)) nomem();
	if (fullname) {
		if (!str_copys(&in.fullname, fullname)) nomem();
	} else if (pw && pw->pw_gecos) {
		const char *c = strchr(pw->pw_gecos, ',');
		if (!str_copy(&in.fullname, pw->pw_gecos, c ? (size_t)(c - pw->pw_gecos) : strlen(pw->pw_gecos)))
			nomem();
	}
	if (!str_copy(&in.sender, in.from.s, in.from.len)) nomem();
	if (fflag) {
		set_sender(&in, fflag);
		if (in.sender.len && !str_copy(&in.from, in.sender.s, in.sender.len)) nomem();
	}
	for (; i < argc; i++) {
		r = inject_addrlist(&in, argv[i], strlen(argv[i]));
		if (r != INJECT_OK) log_fatal(inject_exit(r), "fatal: ", in.why ? in.why : "error", ": ", argv[i], (char *)0);
	}
	bufin_init(&b, 0, INJECT_READ_TIMEOUT_MS, 0);
	r = inject_headers(&in, &b, (unsigned long long)time(0));
	if (r != INJECT_OK) log_fatal(inject_exit(r), "fatal: ", in.why ? in.why : "out of memory", (char *)0);
	if (!in.nrcpt) log_fatal(EX_USAGE, "fatal: no recipients", in.tflag ? " in To, Cc or Bcc" : " given", (char *)0);

	qargv = queue_argv(&words);
	if (pipe2(p0, O_CLOEXEC) != 0 || pipe2(p1, O_CLOEXEC) != 0)
		log_fatalsys(EX_TEMPFAIL, "fatal: pipe", (char *)0);
	pid = fork();
	if (pid < 0) log_fatalsys(EX_TEMPFAIL, "fatal: fork", (char *)0);
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (dup2(p0[0], 0) < 0 || dup2(p1[0], 1) < 0) _exit(QQ_BUG);
		execv(qargv[0], qargv);
		log_fatalsys(QQ_BUG, "fatal: unable to run ", qargv[0], (char *)0);
	}
	close(p0[0]);
	close(p1[0]);
	bufout_init(&o, p0[1], INJECT_READ_TIMEOUT_MS);
	ok = bufout_put(&o, in.hdr.s, in.hdr.len) && bufout_put(&o, "\n", 1);
	if (ok) {
		int br = inject_body(&in, &b, &o);
		if (br < 0) {
			/* a cut input must not be queued as if complete */
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			log_fatalsys(EX_IOERR, "fatal: unable to read the message", (char *)0);
		}
		ok = br == 1;
	}
	close(p0[1]);
	if (!str_append(&env, "F", 1) || !str_append(&env, in.sender.s, in.sender.len) ||
	    !str_appendc(&env, 0)) nomem();
	for (i = 0; (size_t)i < in.rcpts.len; i += (int)strlen(in.rcpts.s + i) + 1)
		if (!str_appendc(&env, 'T') || !str_appends(&env, in.rcpts.s + i) || !str_appendc(&env, 0)) nomem();
	if (!str_appendc(&env, 0)) nomem();
	ok = fd_writeall(p1[1], env.s, env.len, INJECT_READ_TIMEOUT_MS) && ok;
	close(p1[1]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) log_fatalsys(EX_TEMPFAIL, "fatal: waitpid", (char *)0);
	if (!WIFEXITED(st)) log_fatal(EX_TEMPFAIL, "fatal: facteur-queue crashed", (char *)0);
	r = WEXITSTATUS(st);
	inject_free(&in);
	str_free(&env);
	if (r == 0 && ok) { str_free(&words); return EX_OK; }
	if (r == 0) log_fatal(EX_TEMPFAIL, "fatal: unable to hand the message over", (char *)0);
	{
		char n[FMT_ULONG + 1];
		n[fmt_ulong(n, (unsigned long long)r)] = 0;
		if (qqexit_permanent(r))
			log_fatal(r == QQ_PERM_SIZE || r == QQ_ADDR_TOOLONG ? EX_DATAERR : EX_UNAVAILABLE,
			          "fatal: message refused: ", qqexit_reply(r), " (exit ", n, ")", (char *)0);
		log_fatal(EX_TEMPFAIL, "fatal: message not queued, try again later: ", qqexit_reply(r),
		          " (exit ", n, ")", (char *)0);
	}
}
