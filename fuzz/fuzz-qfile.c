/* fuzz-qfile.c: libFuzzer target for the queue's file readers
 * (queue/qfile.c) on corrupt and truncated files: the envelope scanner
 * (envscan_feed, fed in pieces as facteur-queue reads it), the envelope to
 * state conversion, and the info/ID state file parser, both from memory
 * and through qinfo_read/qtodo_read on real files cut at every point the
 * input names. Asserts that what parses formats to a file that parses to
 * the same thing. The first byte picks the part (bit 0: envelope or
 * info file; bit 1: also through real files) and the cut or step. Test code;
 * runs as whoever runs it, in a temporary directory it makes. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "exitcodes.h"
#include "qfile.h"

/* the queue programs work in the queue directory; libFuzzer keeps its own
 * working directory (relative corpus paths), so we visit ours */
static int qdir = -1, home = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *t = getenv("TMPDIR");
	char dir[4096];

	snprintf(dir, sizeof dir, "%s/fuzz-qfile.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir)) abort();
	home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	qdir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (home < 0 || qdir < 0) abort();
	if (mkdirat(qdir, QDIR_INFO, 0700) != 0 || mkdirat(qdir, QDIR_TODO, 0700) != 0 ||
	    mkdirat(qdir, QDIR_MESS, 0700) != 0) abort();
	return 0;
}

/* format(q) parses, and formats to the same bytes again */
static void roundtrip(const struct qinfo *q)
{
	struct qinfo q2;
	str a = STR_ZERO, b = STR_ZERO;

	if (!qinfo_format(q, &a)) abort();
	if (!qinfo_parse(&q2, a.s, a.len)) abort();
	if (!qinfo_format(&q2, &b)) abort();
	if (a.len != b.len || memcmp(a.s, b.s, a.len)) abort();
	if (q2.nr != q->nr || q2.warned != q->warned) abort();
	qinfo_free(&q2);
	str_free(&a);
	str_free(&b);
}

static void envelope(const char *s, size_t n, size_t step)
{
	struct envscan e = { 0, 0, 0 };
	struct qinfo q;
	size_t have = 0;
	int r = 0;

	/* as facteur-queue reads: the buffer grows, the scanner resumes */
	while (have < n) {
		have = n - have < step ? n : have + step;
		r = envscan_feed(&e, s, have);
		if (r != 0) break;
	}
	if (r == 1 && (e.pos > have || e.nrcpt == 0 || e.nrcpt > QUEUE_RCPT_MAX)) abort();
	if (r != 0 && r != 1 && r != QQ_ENVELOPE && r != QQ_ADDR_TOOLONG) abort();
	if (qinfo_from_envelope(&q, s, n, 12345)) {
		if (r != 1 || e.pos != n || q.nr == 0) abort();
		roundtrip(&q);
		qinfo_free(&q);
	}
}

static void writefile(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(s, 1, n, f) != n || fclose(f) != 0) abort();
}

static void info(const char *s, size_t n, int files, size_t cut)
{
	struct qinfo q;

	if (qinfo_parse(&q, s, n)) {
		if (q.nr == 0) abort();
		roundtrip(&q);
		qinfo_free(&q);
	}
	/* files cost a hundred times more than parsing: not every input */
	if (!files) return;
	if (cut > n) cut = n;
	if (fchdir(qdir) != 0) abort();
	writefile(QDIR_INFO "/1", s, cut);
	if (qinfo_read("1", &q) == 1) {
		roundtrip(&q);
		qinfo_free(&q);
	}
	writefile(QDIR_TODO "/1", s, cut);
	if (qtodo_read("1", &q, 7, 0) == 1) {
		roundtrip(&q);
		qinfo_free(&q);
	}
	/* and with the message checked against the commit record: the input
	 * as mess/1, the record made for its first cut bytes, so that whole,
	 * cut and changed messages all come by */
	writefile(QDIR_MESS "/1", s, n);
	if (qtodo_read("1", &q, 7, 1) == 1) {
		roundtrip(&q);
		qinfo_free(&q);
	}
	{
		static const char env[] = "Fa@b\0Tc@d\0";
		struct qhash h;
		str e = STR_ZERO;
		int r;
		qhash_init(&h);
		qhash_add(&h, s, cut);
		if (!str_copy(&e, env, sizeof env) || !qcommit_append(&e, "1", cut, qhash_end(&h))) abort();
		writefile(QDIR_TODO "/1", e.s, e.len);
		r = qtodo_read("1", &q, 7, 1);
		/* the record matches exactly the message it was made for */
		if ((r == 1) != (cut == n)) abort();
		if (r == 1) qinfo_free(&q);
		str_free(&e);
	}
	if (fchdir(home) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *s;

	if (!n) return 0;
	s = malloc(n - 1 ? n - 1 : 1);
	if (!s) return 0;
	memcpy(s, d + 1, n - 1);
	if (d[0] & 1) info(s, n - 1, d[0] & 2, (n - 1) * (d[0] >> 2) / 63);
	else envelope(s, n - 1, (size_t)(d[0] >> 1) + 1);
	free(s);
	return 0;
}
