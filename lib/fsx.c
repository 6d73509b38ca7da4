/* fsx.c: durable file-system operations. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "buf.h"
#include "fsx.h"
#include "str.h"

int fsx_syncdir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0) return 0;
	r = fsync(fd);
	if (r != 0 && errno == EINVAL) r = 0;  /* file systems that cannot */
	close(fd);
	return r == 0;
}

int fsx_syncdir_of(const char *path)
{
	str d = STR_ZERO;
	const char *slash = strrchr(path, '/');
	int r;

	if (!slash) return fsx_syncdir(".");
	if (slash == path) return fsx_syncdir("/");
	if (!str_copy(&d, path, (size_t)(slash - path))) return 0;
	r = fsx_syncdir(d.s);
	str_free(&d);
	return r;
}

int fsx_mkdirs(const char *path, mode_t mode)
{
	str p = STR_ZERO;
	size_t i;
	int ok = 1;

	if (!str_copys(&p, path)) return 0;
	for (i = 1; i <= p.len && ok; i++) {
		if (i == p.len || p.s[i] == '/') {
			char c = p.s[i];
			p.s[i] = 0;
			if (mkdir(p.s, mode) != 0 && errno != EEXIST) ok = 0;
			p.s[i] = c;
		}
	}
	if (ok) {
		struct stat st;
		if (stat(path, &st) != 0) ok = 0;
		else if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; ok = 0; }
	}
	str_free(&p);
	return ok;
}

int fsx_writefile(const char *path, const void *p, size_t n, mode_t mode)
{
	return fsx_writefd(open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode),
	                   path, p, n);
}

int fsx_writefd(int fd, const char *path, const void *p, size_t n)
{
	int e;

	if (fd < 0) return 0;
	if (!fd_writeall(fd, p, n, -1) || fsync(fd) != 0) {
		e = errno;
		close(fd);
		unlink(path);
		errno = e;
		return 0;
	}
	if (close(fd) != 0) { e = errno; unlink(path); errno = e; return 0; }
	return 1;
}

int fsx_replacefile(const char *path, const void *p, size_t n, mode_t mode)
{
	str tmp = STR_ZERO;
	int ok;

	if (!str_copys(&tmp, path) || !str_appends(&tmp, ".tmp")) return 0;
	unlink(tmp.s);
	ok = fsx_writefile(tmp.s, p, n, mode) && rename(tmp.s, path) == 0 &&
	     fsx_syncdir_of(path);
	if (!ok) { int e = errno; unlink(tmp.s); errno = e; }
	str_free(&tmp);
	return ok;
}
