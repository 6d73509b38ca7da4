/* unit tests of the delivery parsers: rules files, the header scan, the
 * LMTP DATA reader (smuggling variants), Maildir relative paths. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "buf.h"
#include "dlv.h"
#include "hdr.h"
#include "lmtp.h"
#include "maildir.h"
#include "../t/unit/tap.h"

static struct rules rs;

static int parse(const char *t)
{
	rules_free(&rs);
	return rules_parse(&rs, t, strlen(t));
}

/* feed s to the DATA reader through a pipe; status, and what follows */
static int data(const char *s, size_t n, char *rest, size_t restmax, unsigned long long *size)
{
	int p[2];
	bufin in;
	struct data_result r;
	long k;

	if (pipe(p) != 0) return -1;
	if (write(p[1], s, n) != (ssize_t)n) return -1;
	close(p[1]);
	bufin_init(&in, p[0], 1000, 0);
	lmtp_data_read(&in, -1, 100000, &r);
	k = bufin_get(&in, rest, restmax - 1);
	rest[k > 0 ? k : 0] = 0;
	close(p[0]);
	if (size) *size = r.size;
	return r.status;
}

#define D(s, st, restwant, name) do { char rest_[256]; int r_ = data(s, sizeof(s) - 1, rest_, sizeof rest_, 0); \
	OK(r_ == (st) && strcmp(rest_, restwant) == 0, name); } while (0)

/* a message descriptor whose reads fail midway (pread on a pipe: ESPIPE),
 * behind a dlv set up on a good file; 1 ok */
static int broken_source(struct dlv *d, const char *dir, int *pipefd)
{
	char path[512];
	int fd, p[2];

	snprintf(path, sizeof path, "%s/msg", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "Subject: x\n\nbody\n", 18) != 18 || lseek(fd, 0, SEEK_SET) != 0) return 0;
	if (!dlv_init(d, fd, "a@example.org", 13)) return 0;
	close(fd);
	if (pipe(p) != 0) return 0;
	d->msgfd = p[0];
	*pipefd = p[1];
	return 1;
}

static int file_size(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (int)st.st_size : -1;
}

/* a message that cannot be read to its end must fail temporarily, and
 * reach neither the queue (no envelope) nor a program as a whole one */
static void cut_off_message(void)
{
	char tmpl[] = "/tmp/unit-cutoff-XXXXXX";
	char *dir = mkdtemp(tmpl), q[512], cmd[1024];
	struct dlv d;
	int w = -1, stop = 0, code, f;

	OK(dir != 0, "cut-off: temporary directory");
	if (!dir) return;
	snprintf(q, sizeof q, "%s/queue", dir);
	f = open(q, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	snprintf(cmd, sizeof cmd, "#!/bin/sh\ncat > %s/qmsg\ncat <&1 > %s/qenv\n"
	         "[ -s %s/qenv ] && exit 0\nexit 54\n", dir, dir, dir);
	if (f >= 0) { if (write(f, cmd, strlen(cmd)) < 0) OK(0, "write fake queue"); close(f); }
	setenv("FACTEUR_QUEUE", q, 1);

	OK(broken_source(&d, dir, &w), "cut-off: set up");
	str_copys(&d.forwards, "b@example.net"); str_appendc(&d.forwards, 0);
	d.nforwards = 1;
	code = dlv_inject(&d);
	OK(code == 75, "forward of a message that cannot be read fails temporarily");
	OK(file_size(dir, "qenv") == 0, "the queue got no envelope for it");
	close(d.msgfd); close(w);
	dlv_free(&d);

	OK(broken_source(&d, dir, &w), "cut-off: set up again");
	d.pipe_timeout_ms = 20000;
	snprintf(cmd, sizeof cmd, "cat > %s/pmsg; exit 0", dir);
	f = open(dir, O_RDONLY | O_DIRECTORY);
	code = dlv_pipe(&d, cmd, f, "u@example.org", "u", "example.org", "",
	                "Delivered-To: u@example.org\n", 28, &stop);
	OK(code == 75, "a program fed a message that cannot be read fails temporarily");
	if (f >= 0) close(f);
	close(d.msgfd); close(w);
	d.msgfd = open(q, O_RDONLY);
	f = open(dir, O_RDONLY | O_DIRECTORY);
	code = dlv_pipe(&d, cmd, f, "u@example.org", "u", "example.org", "",
	                "Delivered-To: u@example.org\n", 28, &stop);
	OK(code == 0 && file_size(dir, "pmsg") > 28, "the same program with a readable message delivers");
	if (f >= 0) close(f);
	close(d.msgfd);
	dlv_free(&d);
	unsetenv("FACTEUR_QUEUE");
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0) OK(0, "cleanup");
}

int main(void)
{
	struct hdr_info h;
	unsigned long long sz;
	char rest[64];

	rs.text.s = 0; rs.text.len = rs.text.cap = 0;
	OK(parse("# comment\n./\n") == 1 && rs.n == 1 && rs.r[0].kind == RULE_MAILDIR, "maildir line");
	OK(parse("./.Lists/\n&bob@example.org\n|/usr/bin/true arg\nalice@example.net\n") == 1 && rs.n == 4 &&
	   rs.r[1].kind == RULE_FORWARD && strcmp(rs.r[1].arg, "bob@example.org") == 0 &&
	   rs.r[2].kind == RULE_PIPE && strcmp(rs.r[2].arg, "/usr/bin/true arg") == 0 &&
	   rs.r[3].kind == RULE_FORWARD, "all kinds of lines");
	OK(parse("./../other/\n") == 0, "'..' refused");
	OK(parse("./a/../../b/\n") == 0, "'..' inside refused");
	OK(parse("/etc/\n") == 0, "absolute path refused");
	OK(parse("./mbox\n") == 0, "mbox (no trailing slash) refused");
	OK(parse("&bob@\n") == 0, "bad forward refused");
	OK(parse("&a%b@c.d\n") == 0, "% hack forward refused");
	OK(parse("&<a@b.c>\n") == 0, "brackets refused");
	OK(parse("|\n") == 0, "empty program refused");
	OK(parse("\n\n# only comments\n") == 1 && rs.n == 0, "comments only");
	OK(parse("./\r\n") == 1 && rs.n == 1, "CRLF tolerated");
	rules_free(&rs);

	OK(maildir_relpath_ok("./", 2) && maildir_relpath_ok(".Lists/", 7) && maildir_relpath_ok("a/b/", 4), "relative paths ok");
	OK(!maildir_relpath_ok("../", 3) && !maildir_relpath_ok("/x/", 3) && !maildir_relpath_ok("a//b/", 5) &&
	   !maildir_relpath_ok("a/../b/", 7), "bad relative paths");

	hdr_info_init(&h);
	{
		const char *m = "Received: a\r\nreceived : b\r\nDelivered-To: <Bob@Example.ORG>\r\n"
		                "Subject: x\r\n\tDelivered-To: folded@x\r\n\r\nDelivered-To: body@x\r\nReceived: c\r\n";
		OK(hdr_scan_buf(m, strlen(m), &h) == 1, "header scan");
		OK(h.received == 2, "two Received fields, body ignored");
		OK(hdr_delivered_to(&h, "bob@example.org", 15), "Delivered-To found, case folded");
		OK(!hdr_delivered_to(&h, "body@x", 6), "body not scanned");
		OK(!hdr_delivered_to(&h, "folded@x", 8), "folded text is not a field");
		OK(h.crlf == 1, "CRLF noticed");
	}
	hdr_info_free(&h);
	hdr_info_init(&h);
	{
		const char *m = "Delivered-To:\n a@b\nX: y\n\nbody\n";
		OK(hdr_scan_buf(m, strlen(m), &h) == 1 && hdr_delivered_to(&h, "a@b", 3) && h.crlf == 0, "folded Delivered-To, LF");
	}
	hdr_info_free(&h);

	D("a\r\n.\r\nQUIT\r\n", DATA_OK, "QUIT\r\n", "CRLF.CRLF ends data, rest left");
	D(".\r\nNEXT", DATA_OK, "NEXT", "empty message");
	D("a\n.\nMAIL\r\n.\r\nX", DATA_BAREEOL, "X", "\\n.\\n does not end data");
	D("a\n.\r\nMAIL\r\n.\r\nX", DATA_BAREEOL, "X", "\\n.\\r\\n does not end data");
	D("a\r\n.\nMAIL\r\n.\r\nX", DATA_BAREEOL, "X", "\\r\\n.\\n does not end data");
	D("a\r.\rMAIL\r\n.\r\nX", DATA_BAREEOL, "X", "\\r.\\r does not end data");
	D("a\r\n..\r\n.\r\nX", DATA_OK, "X", "dot-stuffed line is data");
	D("a\r\n.x\r\n", DATA_EOF, "", "EOF before the end");
	{
		char big[1200];
		memset(big, 'x', sizeof big);
		memcpy(big + 1100, "\r\n.\r\nZ", 6);
		OK(data(big, 1106, rest, sizeof rest, 0) == DATA_TOOLONG && strcmp(rest, "Z") == 0, "long line refused, end still found");
		memcpy(big + 996, "\r\n.\r\nZ", 6);
		OK(data(big, 1002, rest, sizeof rest, &sz) == DATA_OK && sz == 997, "998-byte line fine");
	}
	{
		/* the API that IMAP APPEND uses: a buffer, flags into cur/, mtime */
		char tmpl[] = "/tmp/unit-maildir-XXXXXX";
		char *base = mkdtemp(tmpl);
		str path = STR_ZERO, name = STR_ZERO;
		struct maildir_msg m;
		struct stat st;
		int fd, sub;
		char buf[64];
		ssize_t n;

		OK(base != 0, "temporary directory");
		str_copys(&path, base); str_appends(&path, "/Mail/box/"); str_0(&path);
		fd = maildir_open(path.s, 1);
		OK(fd >= 0, "maildir_open creates the Maildir and its parents");
		memset(&m, 0, sizeof m);
		m.fd = -1;
		m.data = "Subject: a\r\n\r\nbody\r\n";
		m.len = strlen(m.data);
		m.flags = "FS";
		m.mtime = 1700000000;
		OK(maildir_deliver(fd, &m, &name) == 1, "deliver a buffer with flags");
		OK(strncmp(name.s, "cur/", 4) == 0 && strstr(name.s, ",S=17,W=20:2,FS") != 0, "name in cur/ with size, CRLF size and flags");
		sub = openat(fd, name.s, O_RDONLY);
		n = sub >= 0 ? read(sub, buf, sizeof buf) : -1;
		OK(n == 17 && memcmp(buf, "Subject: a\n\nbody\n", 17) == 0, "CRLF stored as LF");
		OK(sub >= 0 && fstat(sub, &st) == 0 && st.st_mtime == 1700000000, "mtime set (INTERNALDATE)");
		if (sub >= 0) close(sub);
		m.flags = "S/../x";
		OK(maildir_deliver(fd, &m, &name) == 0, "flags with '/' refused");
		m.flags = 0;
		m.maxsize = 5;
		OK(maildir_deliver(fd, &m, &name) == 0, "over maxsize refused (EFBIG)");
		{
			DIR *d;
			int entries = 0;
			struct dirent *e;
			str t2 = STR_ZERO;
			str_copy(&t2, path.s, path.len); str_appends(&t2, "tmp"); str_0(&t2);
			d = opendir(t2.s);
			while (d && (e = readdir(d))) if (e->d_name[0] != '.') entries++;
			if (d) closedir(d);
			OK(entries == 0, "failed deliveries leave nothing in tmp/");
			str_free(&t2);
		}
		sub = maildir_openat(fd, ".Sent/", 1);
		OK(sub >= 0, "maildir_openat makes a Maildir++ folder");
		if (sub >= 0) close(sub);
		OK(maildir_openat(fd, "../x/", 1) < 0, "maildir_openat refuses ..");
		close(fd);
		str_copys(&name, "rm -rf "); str_appends(&name, base); str_0(&name);
		if (system(name.s) != 0) OK(0, "cleanup");
		str_free(&path);
		str_free(&name);
	}
	cut_off_message();
	DONE();
}
