/* deliver.c: facteur-deliver [-f SENDER] [-d RECIPIENT] MAILDIR, the MDA
 * for the command line (Postfix mailbox_command, fetchmail's mda, procmail
 * actions). Runs as whoever started it (as root, it drops to `facteur`
 * and refuses to go on as root); writes only below MAILDIR. The message on
 * stdin may be a pipe: it is spooled to an unlinked file in MAILDIR/tmp
 * first, so the loop checks can read its header before anything lands in
 * new/. Trusts its arguments only after the checks below. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "buf.h"
#include "dlv.h"
#include "errclass.h"
#include "exitcodes.h"
#include "hdr.h"
#include "log.h"
#include "maildir.h"
#include "priv.h"

#define READ_TIMEOUT_MS (10 * 60 * 1000)

static _Noreturn void usage(void)
{
	log_fatal(EX_USAGE, "usage: facteur-deliver [-f SENDER] [-d RECIPIENT] MAILDIR", (char *)0);
}

/* an argument that lands in a header line: printable, one line */
static int header_safe(const char *s, int sender)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || (sender && (*s == '>' || *s == '<')))
			return 0;
	return 1;
}

static int spool(int md)
{
	char b[65536];
	int fd = maildir_tmpfile(md);

	if (fd < 0) return -1;
	for (;;) {
		long n = fd_read_timeout(0, b, sizeof b, READ_TIMEOUT_MS);
		if (n < 0) { int e = errno; close(fd); errno = e; return -1; }
		if (n == 0) break;
		if (!fd_writeall(fd, b, (size_t)n, -1)) { int e = errno; close(fd); errno = e; return -1; }
	}
	if (lseek(fd, 0, SEEK_SET) != 0) { int e = errno; close(fd); errno = e; return -1; }
	return fd;
}

int main(int argc, char **argv)
{
	const char *sender = 0, *rcpt = 0, *dir;
	struct hdr_info h;
	struct maildir_msg m;
	str pre = STR_ZERO, name = STR_ZERO;
	int c, md, fd;

	log_setprog("facteur-deliver");
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt(argc, argv, "+f:d:")) != -1) {
		switch (c) {
		case 'f': sender = optarg; break;
		case 'd': rcpt = optarg; break;
		default: usage();
		}
	}
	if (optind + 1 != argc) usage();
	dir = argv[optind];
	if ((sender && !header_safe(sender, 1)) || (rcpt && (!*rcpt || !header_safe(rcpt, 0))))
		log_fatal(EX_DATAERR, "fatal: control characters in the sender or recipient", (char *)0);
	if (!priv_drop(PRIV_USER)) log_fatalsys(EX_TEMPFAIL, "fatal: unable to drop privileges", (char *)0);
	if (getuid() == 0 || geteuid() == 0) log_fatal(EX_TEMPFAIL, "fatal: refusing to deliver as root", (char *)0);
	md = maildir_open(dir, 1);
	if (md < 0) {
		int e = errno;
		log_line("fatal: unable to open Maildir ", dir, ": ",
		         e == ELOOP ? "it is a symbolic link" : e == EPERM ? "unsafe owner or mode" : strerror(e),
		         (char *)0);
		_exit(err_sysexit(e));
	}
	fd = spool(md);
	if (fd < 0) log_fatalsys(err_sysexit(errno), "fatal: unable to spool the message", (char *)0);
	hdr_info_init(&h);
	if (!hdr_scan_fd(fd, &h)) log_fatalsys(EX_TEMPFAIL, "fatal: unable to read the message", (char *)0);
	if (h.received > DLV_HOPS_MAX)
		log_fatal(EX_UNAVAILABLE, "fatal: 5.4.6 too many hops (over 100 Received fields)", (char *)0);
	if (rcpt && hdr_delivered_to(&h, rcpt, strlen(rcpt)))
		log_fatal(EX_UNAVAILABLE, "fatal: 5.4.6 mail loop: already delivered to ", rcpt, (char *)0);
	if (sender && (!str_appends(&pre, "Return-Path: <") || !str_appends(&pre, sender) ||
	               !str_appends(&pre, ">\n")))
		log_fatal(EX_TEMPFAIL, "fatal: out of memory", (char *)0);
	if (rcpt && (!str_appends(&pre, "Delivered-To: ") || !str_appends(&pre, rcpt) ||
	             !str_appends(&pre, "\n")))
		log_fatal(EX_TEMPFAIL, "fatal: out of memory", (char *)0);
	memset(&m, 0, sizeof m);
	m.prefix = pre.s;
	m.prefixlen = pre.len;
	m.fd = fd;
	if (!maildir_deliver(md, &m, &name)) {
		int e = errno;
		log_line("fatal: unable to deliver to ", dir, ": ", strerror(e), (char *)0);
		_exit(err_sysexit(e));
	}
	log_line("delivered to ", dir, "/", name.s, (char *)0);
	str_free(&pre);
	str_free(&name);
	hdr_info_free(&h);
	close(fd);
	close(md);
	return EX_OK;
}
