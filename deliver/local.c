/* local.c: facteur-local SENDER RECIPIENT, run by facteur-send for each
 * local recipient. main only: arguments, privilege, the message on fd 0;
 * the delivery itself is dlv.c. Started as root it drops to `facteur`, and
 * it never delivers as root. Trusts facteur-send's arguments only as far
 * as the address grammar allows. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "buf.h"
#include "dlv.h"
#include "errclass.h"
#include "exitcodes.h"
#include "log.h"
#include "priv.h"

#define SPOOL_TIMEOUT_MS (10 * 60 * 1000)

/* the status line facteur-send quotes in a bounce, then the exit code */
static _Noreturn void finish(int code, const char *status, const char *a, const char *b)
{
	bufout o;

	bufout_init(&o, 1, SPOOL_TIMEOUT_MS);
	bufout_puts(&o, status);
	bufout_puts(&o, " ");
	bufout_puts(&o, a);
	if (b) bufout_puts(&o, b);
	bufout_puts(&o, "\n");
	bufout_flush(&o);
	_exit(code);
}

/* facteur-send gives a regular file; anything else is copied to memory */
static int message_fd(void)
{
	struct stat st;
	char b[65536];
	int fd;

	if (fstat(0, &st) == 0 && S_ISREG(st.st_mode) && lseek(0, 0, SEEK_SET) == 0) return 0;
	fd = memfd_create("facteur-local", MFD_CLOEXEC);
	if (fd < 0) return -1;
	for (;;) {
		long n = fd_read_timeout(0, b, sizeof b, SPOOL_TIMEOUT_MS);
		if (n < 0) { close(fd); return -1; }
		if (n == 0) break;
		if (!fd_writeall(fd, b, (size_t)n, -1)) { close(fd); return -1; }
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct dlv d;
	int fd, code;

	log_setprog("facteur-local");
	signal(SIGPIPE, SIG_IGN);
	if (argc != 3) finish(EX_USAGE, "5.3.5", "usage: facteur-local SENDER RECIPIENT", 0);
	if (!priv_drop(PRIV_USER)) {
		log_line("fatal: unable to drop privileges to " PRIV_USER ": ", strerror(errno), (char *)0);
		finish(EX_TEMPFAIL, "4.3.0", "unable to drop privileges", 0);
	}
	if (getuid() == 0 || geteuid() == 0) {
		log_line("fatal: refusing to deliver as root", (char *)0);
		finish(EX_TEMPFAIL, "4.3.0", "refusing to deliver as root", 0);
	}
	fd = message_fd();
	if (fd < 0) {
		log_line("fatal: unable to read the message: ", strerror(errno), (char *)0);
		finish(err_sysexit(errno), "4.3.0", "unable to read the message", 0);
	}
	if (!dlv_init(&d, fd, argv[1], strlen(argv[1]))) {
		if (errno == EINVAL) finish(EX_DATAERR, "5.1.7", "bad sender address", 0);
		log_line("fatal: unable to read the message: ", strerror(errno), (char *)0);
		finish(EX_TEMPFAIL, "4.3.0", "unable to read the message", 0);
	}
	code = dlv_recipient(&d, argv[2], strlen(argv[2]));
	if (code) log_line("failed ", argv[2], ": ", d.status, " ", d.reason.s ? d.reason.s : "", (char *)0);
	finish(code, d.status, d.reason.s ? d.reason.s : "", 0);
}
