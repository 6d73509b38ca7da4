/* sysdep.h: Linux system calls that some C libraries do not wrap. The hot
 * programs may be linked against musl (Makefile, "musl"), which has no
 * close_range or renameat2 wrapper; these go to the kernel directly, the
 * same on every libc. */
#ifndef FACTEUR_SYSDEP_H
#define FACTEUR_SYSDEP_H
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* close every descriptor from first up; falls back to a loop when the
 * kernel has no close_range (before 5.9) */
static inline void sys_close_from(int first)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first, ~0U, 0U) == 0) return;
#endif
	{
		long max = sysconf(_SC_OPEN_MAX);
		int fd;
		if (max < 0 || max > 65536) max = 65536;
		for (fd = first; fd < max; fd++) close(fd);
	}
}

/* renameat2(olddir, old, newdir, new, flags); -1 with EINVAL or ENOSYS
 * where the kernel or file system has no such call */
static inline int sys_renameat2(int olddir, const char *oldpath, int newdir,
                                const char *newpath, unsigned flags)
{
#ifdef SYS_renameat2
	return (int)syscall(SYS_renameat2, olddir, oldpath, newdir, newpath, flags);
#else
	(void)olddir; (void)oldpath; (void)newdir; (void)newpath; (void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

#endif
