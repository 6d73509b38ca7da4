/* fsx.h: file-system steps that make writes durable and refuse planted
 * symlinks: fsync of a directory after a rename or link, mkdir -p. */
#ifndef FACTEUR_FSX_H
#define FACTEUR_FSX_H
#include <sys/types.h>

int fsx_syncdir(const char *dir);          /* 1 ok, 0 error (errno) */
int fsx_syncdir_of(const char *path);      /* fsync the directory holding path */
int fsx_mkdirs(const char *path, mode_t mode);  /* mkdir -p; 1 ok, 0 error */
/* write all of p to a new file (O_EXCL|O_NOFOLLOW), fsync, close; 1 ok */
/* the rest of fsx_writefile for a file the caller created at path and
 * opened as fd (-1 passes its open's failure on): write, fsync, close;
 * on any failure path is unlinked. 1 ok, 0 error (errno) */
int fsx_writefd(int fd, const char *path, const void *p, size_t n);
int fsx_writefile(const char *path, const void *p, size_t n, mode_t mode);
/* atomically replace path with content: path.tmp, fsync, rename, syncdir */
int fsx_replacefile(const char *path, const void *p, size_t n, mode_t mode);

#endif
