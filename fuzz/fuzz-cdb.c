/* fuzz-cdb.c: libFuzzer target for lib/cdbmap.c's reader on corrupt
 * files: the input is written to a file and looked up as a map. Maps are
 * made by facteur-admin, but a disk error, a half-copied backup or a
 * hand-made file must give "error", never a crash or a read outside the
 * file. Input: one byte key length k, k key bytes, then the file, which
 * lives in memory (memfd, opened by its /proc/self/fd path). Test code;
 * runs as whoever runs it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "buf.h"
#include "cdbmap.h"

static char path[64];
static int mfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	mfd = memfd_create("fuzz-cdb", 0);
	if (mfd < 0) abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
	return 0;
}

static void look(const char *k, size_t kl)
{
	str v = STR_ZERO;
	int r = cdbmap_lookup(path, k, kl, &v);

	if (r == 1 && v.s && v.s[v.len] != 0) abort();
	if (r != 1 && v.len) abort();
	str_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static const char *keys[] = { "", "a", "example.org", "postmaster@example.org", "u@example.org" };
	size_t kl, i;

	if (!n) return 0;
	kl = d[0];
	if (kl > n - 1) kl = n - 1;
	if (ftruncate(mfd, 0) != 0) abort();
	if (pwrite(mfd, d + 1 + kl, n - 1 - kl, 0) != (ssize_t)(n - 1 - kl)) abort();
	look((const char *)d + 1, kl);
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) look(keys[i], strlen(keys[i]));
	return 0;
}
