/* maildir.c: Maildir delivery (tmp/, fsync, link into new/ or cur/, fsync
 * the directory). Trusts the caller's Maildir path (admin or user map) for
 * the components above the Maildir; trusts nothing below it: every step
 * refuses symlinks and directories that others could write to. Runs with
 * whatever uid the caller has (the `facteur` user, or the mailbox owner
 * for facteur-deliver); it never changes privileges. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include "fmt.h"
#include "fsx.h"
#include "maildir.h"
#include "sysdep.h"

#define COPY_CHUNK 65536
#define HOST_MAX   64

static const char *const subdirs[] = { "tmp", "new", "cur" };

/* a directory we may deliver into: ours, not writable by others */
static int dir_safe(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0) return 0;
	if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return 0; }
	if (st.st_uid != geteuid() || (st.st_mode & S_IWOTH)) { errno = EPERM; return 0; }
	return 1;
}

/* open name below fd as a safe directory, making it first with create */
static int subdir_open(int fd, const char *name, int create)
{
	int d;

	/* open first: the directory is there for all but the first delivery */
	d = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0 && errno == ENOENT && create) {
		if (mkdirat(fd, name, MAILDIR_MODE) != 0 && errno != EEXIST) return -1;
		d = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (d < 0) return -1;
	if (!dir_safe(d)) { int e = errno; close(d); errno = e; return -1; }
	return d;
}

/* the three subdirectories exist and are safe */
static int subdirs_ready(int fd, int create)
{
	size_t i;

	for (i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
		int d = subdir_open(fd, subdirs[i], create);
		if (d < 0) return 0;
		close(d);
	}
	return 1;
}

int maildir_open(const char *path, int create)
{
	str p = STR_ZERO;
	int fd = -1, e;

	if (!path || !*path) { errno = EINVAL; return -1; }
	if (!str_copys(&p, path)) return -1;
	/* a trailing slash would make open() follow a symlink despite O_NOFOLLOW */
	while (p.len > 1 && p.s[p.len - 1] == '/') p.len--;
	if (!str_0(&p)) goto fail;
	fd = open(p.s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (!fsx_mkdirs(p.s, MAILDIR_MODE)) goto fail;
		fd = open(p.s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) goto fail;
	if (!dir_safe(fd) || !subdirs_ready(fd, create)) goto fail;
	str_free(&p);
	return fd;
fail:
	e = errno;
	if (fd >= 0) close(fd);
	str_free(&p);
	errno = e;
	return -1;
}

int maildir_relpath_ok(const char *rel, size_t n)
{
	size_t i = 0, comps = 0;

	if (n && rel[0] == '/') return 0;
	while (i < n) {
		size_t j = i;
		while (j < n && rel[j] != '/') {
			if (rel[j] == 0) return 0;
			j++;
		}
		if (j == i) {
			/* empty component: only a single trailing slash is fine */
			if (j != n - 1) return 0;
		} else if (j - i == 2 && rel[i] == '.' && rel[i + 1] == '.') {
			return 0;
		}
		if (++comps > MAILDIR_DEPTH_MAX) return 0;
		i = j + 1;
	}
	return 1;
}

int maildir_openat(int basefd, const char *rel, int create)
{
	size_t n = strlen(rel), i = 0;
	int cur, e;
	str comp = STR_ZERO;

	if (!maildir_relpath_ok(rel, n)) { errno = EINVAL; return -1; }
	cur = fcntl(basefd, F_DUPFD_CLOEXEC, 0);
	if (cur < 0) return -1;
	while (i < n) {
		size_t j = i;
		int nfd;
		while (j < n && rel[j] != '/') j++;
		if (j > i && !(j - i == 1 && rel[i] == '.')) {
			if (!str_copy(&comp, rel + i, j - i) || !str_0(&comp)) goto fail;
			nfd = subdir_open(cur, comp.s, create);
			if (nfd < 0) goto fail;
			close(cur);
			cur = nfd;
		}
		i = j + 1;
	}
	if (!dir_safe(cur) || !subdirs_ready(cur, create)) goto fail;
	str_free(&comp);
	return cur;
fail:
	e = errno;
	close(cur);
	str_free(&comp);
	errno = e;
	return -1;
}

static int append_host(str *out)
{
	char h[HOST_MAX + 1];
	size_t i;

	if (gethostname(h, sizeof h) != 0) memcpy(h, "localhost", 10);
	h[HOST_MAX] = 0;
	if (!h[0]) memcpy(h, "localhost", 10);
	for (i = 0; h[i]; i++) {
		unsigned char c = (unsigned char)h[i];
		/* the Maildir spec's escapes keep '/' and ':' out of names; ',' too,
		 * since ",S=" follows the host */
		if (c == '/') { if (!str_appends(out, "\\057")) return 0; }
		else if (c == ':') { if (!str_appends(out, "\\072")) return 0; }
		else if (c == ',') { if (!str_appends(out, "\\054")) return 0; }
		else if (c > 0x20 && c < 0x7f) { if (!str_appendc(out, (char)c)) return 0; }
	}
	return 1;
}

int maildir_uniqname(str *out)
{
	struct timeval tv;
	unsigned char rnd[8];
	size_t i;

	gettimeofday(&tv, 0);
	if (!random_bytes(rnd, sizeof rnd)) return 0;
	str_clear(out);
	if (!str_appendu(out, (unsigned long long)tv.tv_sec) || !str_appends(out, ".M"))
		return 0;
	/* six digits, so that names sort in arrival order within a second */
	for (i = 100000; i > 1; i /= 10)
		if ((unsigned long)tv.tv_usec < i && !str_appendc(out, '0')) return 0;
	if (!str_appendu(out, (unsigned long long)tv.tv_usec) || !str_appendc(out, 'P') ||
	    !str_appendu(out, (unsigned long long)getpid()) || !str_appendc(out, 'R'))
		return 0;
	for (i = 0; i < sizeof rnd; i++)
		if (!str_appendc(out, "0123456789abcdef"[rnd[i] >> 4]) ||
		    !str_appendc(out, "0123456789abcdef"[rnd[i] & 15])) return 0;
	return str_appendc(out, '.') && append_host(out) && str_0(out);
}

int maildir_tmpfile(int dirfd)
{
	int t = subdir_open(dirfd, "tmp", 0), fd, e;
	str name = STR_ZERO;

	if (t < 0) return -1;
	fd = openat(t, ".", O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, MAILDIR_FILE_MODE);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* file systems without O_TMPFILE: a unique name, unlinked at once */
		if (!maildir_uniqname(&name)) { e = errno; close(t); errno = e; return -1; }
		fd = openat(t, name.s, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            MAILDIR_FILE_MODE);
		if (fd >= 0) unlinkat(t, name.s, 0);
	}
	e = errno;
	close(t);
	str_free(&name);
	errno = e;
	return fd;
}

/* copying with CRLF -> LF, counting the stored size and line ends */
struct copier {
	int fd;
	int cr;                        /* a CR is held back: is it before an LF? */
	unsigned long long size, lfs, max;
	size_t n;
	char out[COPY_CHUNK];
};

static int copier_flush(struct copier *c)
{
	const char *p = c->out;
	size_t n = c->n;

	while (n) {
		ssize_t w = write(c->fd, p, n);
		if (w < 0) { if (errno == EINTR) continue; return 0; }
		if (w == 0) { errno = EIO; return 0; }
		p += w;
		n -= (size_t)w;
	}
	c->n = 0;
	return 1;
}

static int copier_byte(struct copier *c, char ch)
{
	if (c->n == sizeof c->out && !copier_flush(c)) return 0;
	c->out[c->n++] = ch;
	c->size++;
	if (ch == '\n') c->lfs++;
	if (c->max && c->size > c->max) { errno = EFBIG; return 0; }
	return 1;
}

static int copier_put(struct copier *c, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = p[i];
		if (c->cr) {
			c->cr = 0;
			if (ch != '\n' && !copier_byte(c, '\r')) return 0;
		}
		if (ch == '\r') { c->cr = 1; continue; }
		if (!copier_byte(c, ch)) return 0;
	}
	return 1;
}

static int copier_end(struct copier *c)
{
	if (c->cr) { c->cr = 0; if (!copier_byte(c, '\r')) return 0; }
	return copier_flush(c);
}

static int copy_message(struct copier *c, const struct maildir_msg *m)
{
	char in[COPY_CHUNK];

	if (m->prefix && !copier_put(c, m->prefix, m->prefixlen)) return 0;
	if (m->fd < 0) return copier_put(c, m->data, m->len) && copier_end(c);
	for (;;) {
		ssize_t r = read(m->fd, in, sizeof in);
		if (r < 0) { if (errno == EINTR) continue; return 0; }
		if (r == 0) break;
		if (!copier_put(c, in, (size_t)r)) return 0;
	}
	return copier_end(c);
}

static int flags_ok(const char *f)
{
	for (; *f; f++)
		if (!((*f >= 'A' && *f <= 'Z') || (*f >= 'a' && *f <= 'z'))) return 0;
	return 1;
}

int maildir_deliver(int dirfd, const struct maildir_msg *m, str *name)
{
	str tmpname = STR_ZERO, final = STR_ZERO;
	int tfd = -1, dfd = -1, fd = -1, created = 0, linked = 0, e;
	struct copier *c = 0;
	const char *dest = m->flags ? "cur" : "new";

	if (m->flags && !flags_ok(m->flags)) { errno = EINVAL; return 0; }
	tfd = subdir_open(dirfd, "tmp", 0);
	if (tfd < 0) goto fail;
	dfd = subdir_open(dirfd, dest, 0);
	if (dfd < 0) goto fail;
	if (!maildir_uniqname(&tmpname)) goto fail;
	fd = openat(tfd, tmpname.s, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            MAILDIR_FILE_MODE);
	if (fd < 0) goto fail;
	created = 1;
	c = malloc(sizeof *c);
	if (!c) goto fail;
	c->fd = fd; c->cr = 0; c->size = c->lfs = 0; c->n = 0; c->max = m->maxsize;
	if (!copy_message(c, m)) goto fail;
	if (fsync(fd) != 0) goto fail;
	if (m->mtime) {
		struct timespec ts[2];
		ts[0].tv_sec = ts[1].tv_sec = m->mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (futimens(fd, ts) != 0) goto fail;
	}
	e = close(fd);
	fd = -1;
	if (e != 0) goto fail;
	if (!str_copy(&final, tmpname.s, tmpname.len) || !str_appends(&final, ",S=") ||
	    !str_appendu(&final, c->size) || !str_appends(&final, ",W=") ||
	    !str_appendu(&final, c->size + c->lfs)) goto fail;
	if (m->flags && (!str_appends(&final, ":2,") || !str_appends(&final, m->flags))) goto fail;
	if (!str_0(&final)) goto fail;
	/* The Maildir protocol's link-then-unlink, in one step: a rename that
	 * never replaces an existing name (RENAME_NOREPLACE), as atomic and
	 * one directory update fewer. Where the kernel or the file system
	 * has no such rename (EINVAL, ENOSYS), link and unlink. */
	if (sys_renameat2(tfd, tmpname.s, dfd, final.s, RENAME_NOREPLACE) != 0) {
		if (errno != EINVAL && errno != ENOSYS) goto fail;
		if (linkat(tfd, tmpname.s, dfd, final.s, 0) != 0) {
			/* file systems without hard links (some FUSE, AFS): rename instead */
			if (errno != EPERM && errno != EOPNOTSUPP && errno != EMLINK) goto fail;
			if (renameat(tfd, tmpname.s, dfd, final.s) != 0) goto fail;
		}
		unlinkat(tfd, tmpname.s, 0);
	}
	linked = 1;
	created = 0;
	if (fsync(dfd) != 0 && errno != EINVAL) goto fail;
	if (name) {
		if (!str_copys(name, dest) || !str_appendc(name, '/') ||
		    !str_append(name, final.s, final.len) || !str_0(name)) goto fail;
	}
	free(c);
	close(tfd);
	close(dfd);
	str_free(&tmpname);
	str_free(&final);
	return 1;
fail:
	e = errno;
	if (fd >= 0) close(fd);
	if (created) unlinkat(tfd, tmpname.s, 0);
	if (linked) { unlinkat(dfd, final.s, 0); fsync(dfd); }
	if (tfd >= 0) close(tfd);
	if (dfd >= 0) close(dfd);
	free(c);
	str_free(&tmpname);
	str_free(&final);
	errno = e;
	return 0;
}
