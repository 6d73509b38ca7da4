/* fuzz-deliver.c: libFuzzer target for the delivery side's parsers of
 * untrusted text: a user's rules file (rules_parse, deliver/rules.c), the
 * header scan used for hop counts and Delivered-To loops (lib/hdr.c), and
 * facteur-lmtpd's DATA reader (lmtp_data_read, deliver/lmtpdata.c). The
 * first byte picks the part. Asserts: a parsed rules file only names
 * relative Maildirs that stay inside and strict forward addresses; the
 * header scan gives the same answer whatever the chunking; an accepted
 * LMTP message reaches the spool with LF line ends only and the size it
 * reports. Test code; runs as whoever runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "dlv.h"
#include "hdr.h"
#include "lmtp.h"
#include "maildir.h"

static struct rules rs;   /* 256 rules: too big for the stack of a fuzzer */

static void rules(const char *s, size_t n)
{
	size_t i;
	int r = rules_parse(&rs, s, n);

	if (r == 1) {
		if (rs.n > DLV_RULES_LINES_MAX) abort();
		for (i = 0; i < rs.n; i++) {
			const char *a = rs.r[i].arg;
			size_t l = strlen(a);
			if (a < rs.text.s || a + l > rs.text.s + rs.text.len) abort();
			if (strchr(a, '\n')) abort();
			if (rs.r[i].kind == RULE_MAILDIR &&
			    (a[0] == '/' || a[l - 1] != '/' || !maildir_relpath_ok(a, l))) abort();
			if (rs.r[i].kind == RULE_FORWARD && !strchr(a, '@')) abort();
		}
	} else if (r == 0 && !rs.why) {
		abort();
	}
	rules_free(&rs);
}

static void headers(const char *s, size_t n, size_t step)
{
	struct hdr_info a, b;
	struct hdr_scan sc;
	size_t i;

	hdr_info_init(&a);
	hdr_info_init(&b);
	if (!hdr_scan_buf(s, n, &a)) abort();
	hdr_scan_start(&sc, &b);
	for (i = 0; i < n; i += step)
		if (!hdr_feed(&sc, s + i, n - i < step ? n - i : step)) abort();
	if (!hdr_scan_end(&sc)) abort();
	if (a.received != b.received || a.ndt != b.ndt || a.crlf != b.crlf ||
	    a.dt.len != b.dt.len || (a.dt.len && memcmp(a.dt.s, b.dt.s, a.dt.len))) abort();
	if (a.ndt > HDR_DT_MAX) abort();
	if (a.ndt) (void)hdr_delivered_to(&a, a.dt.s, strlen(a.dt.s));
	hdr_info_free(&a);
	hdr_info_free(&b);
}

static void lmtpdata(const char *s, size_t n, unsigned long long max)
{
	int in = memfd_create("in", 0), spool = memfd_create("spool", 0);
	struct data_result r;
	bufin b;
	off_t len;
	char *got;

	if (in < 0 || spool < 0) abort();
	if (n && fd_writeall(in, s, n, -1) != 1) abort();
	if (lseek(in, 0, SEEK_SET) != 0) abort();
	bufin_init(&b, in, 1000, 0);
	lmtp_data_read(&b, spool, max, &r);
	len = lseek(spool, 0, SEEK_END);
	if (r.status == DATA_OK) {
		if ((unsigned long long)len != r.size || r.size > max) abort();
		got = malloc(len ? (size_t)len : 1);
		if (!got || pread(spool, got, (size_t)len, 0) != len) abort();
		if (memchr(got, '\r', (size_t)len)) abort();
		if (len && got[len - 1] != '\n') abort();
		free(got);
	}
	close(in);
	close(spool);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *s;

	if (!n) return 0;
	/* a heap copy of exactly the bytes, so ASan sees any overread */
	s = malloc(n - 1 ? n - 1 : 1);
	if (!s) return 0;
	memcpy(s, d + 1, n - 1);
	switch (d[0] % 3) {
	case 0: rules(s, n - 1); break;
	case 1: headers(s, n - 1, (size_t)d[0] / 3 + 1); break;
	default: lmtpdata(s, n - 1, d[0] & 8 ? 100 : 1000000); break;
	}
	free(s);
	return 0;
}
