/* maildir.h: delivery into a Maildir by the Maildir protocol (a unique name
 * in tmp/, write, fsync, link into new/ or cur/, fsync the directory),
 * shared by facteur-local, facteur-deliver, facteur-lmtpd and IMAP APPEND.
 *
 * Files are stored with LF line endings (CRLF in the input becomes LF) and
 * named  SECONDS.M<usec>P<pid>R<random>.HOST,S=<size>,W=<crlf-size>  so a
 * reader learns the file size and the RFC 822 (CRLF) size from the name
 * alone, as with Dovecot. In cur/ the name ends ":2,FLAGS".
 *
 * Safety: the Maildir and its cur/ new/ tmp/ must be real directories (not
 * symlinks), owned by the effective uid and not writable by others (a
 * group the admin chose may share it, as the man pages say); every file is created O_CREAT|O_EXCL|O_NOFOLLOW. All failures
 * return -1 or 0 with errno set, so the caller sorts them with errclass.h:
 * ELOOP a symlink, EPERM unsafe ownership or mode, ENOSPC/EDQUOT/EIO... */
#ifndef FACTEUR_MAILDIR_H
#define FACTEUR_MAILDIR_H
#include <stddef.h>
#include <sys/types.h>
#include "str.h"

#define MAILDIR_MODE      0700
#define MAILDIR_FILE_MODE 0600
#define MAILDIR_DEPTH_MAX 32     /* path components below a base directory */

/* Open a Maildir by path (an admin's or user's path: symlinks above the
 * Maildir itself are followed, the last component is not). With create,
 * the Maildir and cur/ new/ tmp/ are made (with parents) when missing.
 * Returns a directory descriptor or -1 (errno). */
int maildir_open(const char *path, int create);

/* A Maildir below an open directory: rel is relative, each component is
 * opened without following symlinks, and "..", absolute paths and empty
 * components are refused (EINVAL), so nothing leaves basefd's tree. "."
 * or "" names basefd's directory itself. Returns a new descriptor or -1. */
int maildir_openat(int basefd, const char *rel, int create);

/* 1 when a relative Maildir path is acceptable to maildir_openat */
int maildir_relpath_ok(const char *rel, size_t n);

struct maildir_msg {
	const char *prefix;      /* header lines put first, or 0 */
	size_t prefixlen;
	int fd;                  /* message read from its current offset to EOF; */
	const char *data;        /* or, when fd < 0, data[0..len) */
	size_t len;
	const char *flags;       /* 0: into new/; else cur/NAME:2,FLAGS (e.g. "S") */
	time_t mtime;            /* when not 0, the file's mtime (IMAP INTERNALDATE) */
	unsigned long long maxsize; /* when not 0, larger messages fail with EFBIG */
};

/* Deliver one message into the Maildir open at dirfd. On success 1, and
 * name (when not 0) holds the file's name relative to the Maildir, e.g.
 * "new/1764194400.M123456P42R0a1b2c3d.mx,S=12,W=13". On failure 0 with
 * errno; nothing is left in tmp/, new/ or cur/. */
int maildir_deliver(int dirfd, const struct maildir_msg *m, str *name);

/* A unique base name "SECONDS.M<usec>P<pid>R<random>.HOST"; 1 ok */
int maildir_uniqname(str *out);

/* An unlinked temporary file in the Maildir's tmp/ (for spooling a message
 * read from a pipe on the same file system). Descriptor or -1. */
int maildir_tmpfile(int dirfd);

#endif
