/* cdbmap.c: tinycdb reads, and atomic cdb writes (temp file, fsync, rename,
 * fsync of the directory), so a reader never sees a half-written map. */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cdbmap.h"
#include "fsx.h"

int cdbmap_lookup(const char *path, const char *key, size_t klen, str *val)
{
	struct cdb c;
	int fd, r;
	unsigned vlen;

	str_clear(val);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return errno == ENOENT ? 0 : -1;
	if (cdb_init(&c, fd) != 0) {
		/* a file too short or unreadable as cdb is corrupt, not missing */
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (klen > 0xffffffffUL) { cdb_free(&c); close(fd); return 0; }
	r = cdb_find(&c, key, (unsigned)klen);
	if (r > 0) {
		vlen = cdb_datalen(&c);
		if ((unsigned long long)cdb_datapos(&c) + vlen > c.cdb_fsize) {
			r = -1;
			errno = EINVAL;
		} else if (!str_ready(val, vlen)) {
			r = -1;
		} else if (cdb_read(&c, val->s, vlen, cdb_datapos(&c)) != 0) {
			r = -1;
			errno = EINVAL;
		} else {
			val->len = vlen;
			val->s[vlen] = 0;
			r = 1;
		}
	} else if (r < 0) {
		errno = EINVAL;
	}
	cdb_free(&c);
	close(fd);
	return r;
}

struct cdbmap_maker {
	struct cdb_make cm;
	int fd;
	str path, tmp;
};

struct cdbmap_maker *cdbmap_create(const char *path)
{
	struct cdbmap_maker *m = calloc(1, sizeof *m);

	if (!m) return 0;
	if (!str_copys(&m->path, path) || !str_copys(&m->tmp, path) ||
	    !str_appends(&m->tmp, ".tmp")) goto fail;
	m->fd = open(m->tmp.s, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (m->fd < 0) goto fail;
	if (cdb_make_start(&m->cm, m->fd) != 0) { close(m->fd); unlink(m->tmp.s); goto fail; }
	return m;
fail:
	str_free(&m->path);
	str_free(&m->tmp);
	free(m);
	return 0;
}

int cdbmap_add(struct cdbmap_maker *m, const char *k, size_t kl,
               const char *v, size_t vl)
{
	if (kl > 0x7fffffffUL || vl > 0x7fffffffUL) { errno = EFBIG; return 0; }
	return cdb_make_add(&m->cm, k, (unsigned)kl, v, (unsigned)vl) == 0;
}

static void maker_free(struct cdbmap_maker *m)
{
	str_free(&m->path);
	str_free(&m->tmp);
	free(m);
}

int cdbmap_commit(struct cdbmap_maker *m)
{
	int ok = cdb_make_finish(&m->cm) == 0 && fsync(m->fd) == 0;

	if (close(m->fd) != 0) ok = 0;
	if (ok && rename(m->tmp.s, m->path.s) != 0) ok = 0;
	if (ok && !fsx_syncdir_of(m->path.s)) ok = 0;
	if (!ok) { int e = errno; unlink(m->tmp.s); errno = e; }
	maker_free(m);
	return ok;
}

void cdbmap_abort(struct cdbmap_maker *m)
{
	cdb_make_finish(&m->cm);
	close(m->fd);
	unlink(m->tmp.s);
	maker_free(m);
}

int cdbmap_fd(const struct cdbmap_maker *m)
{
	return m->fd;
}
