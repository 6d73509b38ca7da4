/* maildrop.c: one POP3 session's view of a Maildir. Runs after login as
 * the mailbox's owner, with the Maildir as working directory; trusts the
 * Maildir's files no further than to read them (sizes are measured, not
 * taken from names; symlinks are not followed).
 *
 * Concurrency: one POP3 session per Maildir at a time, by flock on
 * POP3_LOCKFILE in the Maildir (a second one gets -ERR [IN-USE]). IMAP
 * sessions and deliveries do not take that lock: a message an IMAP client
 * renames (flags) is found again by its unique name, one it removes is
 * skipped, and new deliveries wait for the next session. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fsx.h"
#include "log.h"
#include "pop3-internal.h"
#include "scan.h"

#define MAILDROP_CHUNK 16384

static const char *msgname(const struct maildrop *md, size_t i)
{
	return md->names.s + md->m[i].name;
}

/* the unique part of a Maildir file name: before ":2," (or before ':') */
static size_t uniq_len(const char *name)
{
	const char *c = strchr(name, ':');

	return c ? (size_t)(c - name) : strlen(name);
}

size_t maildrop_uniq(const struct maildrop *md, size_t i, const char **p)
{
	*p = msgname(md, i);
	return uniq_len(*p);
}

int maildrop_uidl(const struct maildrop *md, size_t i, str *out)
{
	const char *u;
	size_t n = maildrop_uniq(md, i, &u), k;
	unsigned long long h = 14695981039346656037ULL;
	static const char hexd[] = "0123456789abcdef";
	int valid = n >= 1 && n <= POP3_UIDL_MAX;

	for (k = 0; valid && k < n; k++)
		if ((unsigned char)u[k] < 0x21 || (unsigned char)u[k] > 0x7e) valid = 0;
	if (valid) return str_copy(out, u, n);
	/* an odd file name still needs a stable, valid UIDL: FNV-1a of it */
	for (k = 0; k < n; k++) { h ^= (unsigned char)u[k]; h *= 1099511628211ULL; }
	if (!str_copys(out, "x")) return 0;
	for (k = 0; k < 16; k++)
		if (!str_appendc(out, hexd[(h >> (60 - 4 * k)) & 15])) return 0;
	return 1;
}

int maildrop_measure(int fd, unsigned long long *size)
{
	char b[MAILDROP_CHUNK];
	unsigned long long s = 0;
	char prev = '\n';
	int any = 0;

	for (;;) {
		ssize_t r = read(fd, b, sizeof b), i;
		if (r < 0) { if (errno == EINTR) continue; return 0; }
		if (r == 0) break;
		any = 1;
		for (i = 0; i < r; i++) {
			if (b[i] == '\n' && prev != '\r') s++;
			prev = b[i];
		}
		s += (unsigned long long)r;
	}
	if (any && prev != '\n') s += 2;
	*size = s;
	return 1;
}

int pop3_sendmsg(bufout *out, int fd, unsigned long long body_lines)
{
	char b[MAILDROP_CHUNK], o[2 * MAILDROP_CHUNK];
	char prev = '\n';
	int in_header = 1, line_has = 0, done = 0;
	unsigned long long body = 0;

	while (!done) {
		ssize_t r = read(fd, b, sizeof b), i;
		size_t on = 0;
		if (r < 0) { if (errno == EINTR) continue; return 0; }
		if (r == 0) break;
		for (i = 0; i < r && !done; i++) {
			char c = b[i];
			if (prev == '\n' && c == '.') o[on++] = '.';
			if (c == '\n') {
				if (prev != '\r') o[on++] = '\r';
				o[on++] = '\n';
				if (in_header) {
					if (!line_has) { in_header = 0; done = body >= body_lines; }
				} else if (++body >= body_lines) {
					done = 1;
				}
				line_has = 0;
			} else {
				o[on++] = c;
				if (c != '\r') line_has = 1;
			}
			prev = c;
		}
		if (!bufout_put(out, o, on)) return 0;
	}
	if (prev != '\n' && !bufout_put(out, "\r\n", 2)) return 0;
	return 1;
}

static int lock(struct maildrop *md)
{
	md->lockfd = open(POP3_LOCKFILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (md->lockfd < 0) return MAILDROP_TEMP;
	if (flock(md->lockfd, LOCK_EX | LOCK_NB) != 0)
		return errno == EWOULDBLOCK ? MAILDROP_INUSE : MAILDROP_TEMP;
	return MAILDROP_OK;
}

/* new/ to cur/, with an empty info part, as the Maildir spec says a reader
 * does; a name that already has one keeps its flags */
static int take_new(void)
{
	DIR *d = opendir("new");
	struct dirent *e;
	str from = STR_ZERO, to = STR_ZERO;
	int moved = 0, ok = 1;

	if (!d) return errno == ENOENT;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		if (!str_copys(&from, "new/") || !str_appends(&from, e->d_name) || !str_0(&from) ||
		    !str_copys(&to, "cur/") || !str_appends(&to, e->d_name) ||
		    (!strstr(e->d_name, ":2,") && !str_appends(&to, ":2,")) || !str_0(&to)) {
			ok = 0;
			break;
		}
		if (rename(from.s, to.s) == 0) moved = 1;
		else if (errno != ENOENT) log_line("warning: unable to move ", from.s, ": ", strerror(errno), (char *)0);
	}
	closedir(d);
	str_free(&from);
	str_free(&to);
	if (moved && (!fsx_syncdir("cur") || !fsx_syncdir("new"))) ok = 0;
	return ok;
}

static int add(struct maildrop *md, const char *name, time_t mtime, unsigned long long size)
{
	size_t nl = strlen(name) + 1;

	if (md->n == md->cap) {
		/* the first pass counted the directory; this is for files that
		 * arrived between the passes */
		size_t nc = md->cap + md->cap / 4 + 64;
		struct pop3_msg *m;
		if (nc > ((size_t)-1) / sizeof *m) { errno = ENOMEM; return 0; }
		m = realloc(md->m, nc * sizeof *m);
		if (!m) return 0;
		md->m = m;
		md->cap = nc;
	}
	if (md->names.len > POP3_NAMES_MAX - nl) { errno = ENOMEM; return 0; }
	if (size >= POP3_SIZE_BIG) {
		struct pop3_bigsize *b = realloc(md->big, (md->nbig + 1) * sizeof *b);
		if (!b) return 0;
		md->big = b;
		b[md->nbig].key = md->names.len;
		b[md->nbig].size = size;
		md->nbig++;
	}
	md->m[md->n].name = (uint32_t)md->names.len;
	md->m[md->n].size = size >= POP3_SIZE_BIG ? POP3_SIZE_BIG : (uint32_t)size;
	md->m[md->n].mtime = (int64_t)mtime;
	md->m[md->n].deleted = 0;
	if (!str_append(&md->names, name, nl)) return 0;
	md->n++;
	md->live++;
	md->total += size;
	return 1;
}

unsigned long long maildrop_size(const struct maildrop *md, size_t i)
{
	size_t k;

	if (md->m[i].size != POP3_SIZE_BIG) return md->m[i].size;
	for (k = 0; k < md->nbig; k++)
		if (md->big[k].key == i) return md->big[k].size;
	return POP3_SIZE_BIG;   /* not reached: every big size was listed */
}

static int cmp_msg(const struct pop3_msg *x, const struct pop3_msg *y, const str *names)
{
	if (x->mtime != y->mtime) return x->mtime < y->mtime ? -1 : 1;
	return strcmp(names->s + x->name, names->s + y->name);
}

/* heapsort in place: glibc's qsort takes a scratch copy of the whole
 * array from the heap, which stays in the session's dirty pages */
static void sift(struct pop3_msg *m, size_t root, size_t n, const str *names)
{
	for (;;) {
		size_t c = 2 * root + 1;
		struct pop3_msg t;
		if (c >= n) return;
		if (c + 1 < n && cmp_msg(&m[c], &m[c + 1], names) < 0) c++;
		if (cmp_msg(&m[root], &m[c], names) >= 0) return;
		t = m[root]; m[root] = m[c]; m[c] = t;
		root = c;
	}
}

static void sort_msgs(struct maildrop *md)
{
	size_t i, k, n = md->n;

	for (i = n / 2; i-- > 0; ) sift(md->m, i, n, &md->names);
	for (i = n; i-- > 1; ) {
		struct pop3_msg t = md->m[0];
		md->m[0] = md->m[i];
		md->m[i] = t;
		sift(md->m, 0, i, &md->names);
	}
	/* big sizes were found by name offset; from now on by index */
	for (i = 0; i < n && md->nbig; i++) {
		if (md->m[i].size != POP3_SIZE_BIG) continue;
		for (k = 0; k < md->nbig; k++)
			if (md->big[k].key == md->m[i].name) { md->big[k].key = i; break; }
	}
}

/* the first pass: how many names and how many bytes of them, so that
 * each gets one allocation of the right size */
static void count_cur(size_t *n, size_t *bytes)
{
	DIR *d = opendir("cur");
	struct dirent *e;

	*n = *bytes = 0;
	if (!d) return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		(*n)++;
		*bytes += strlen(e->d_name) + 1;
	}
	closedir(d);
}

/* the value of ",X=digits" in the name's unique part; 0 when absent */
static int name_field(const char *name, size_t ul, char x, unsigned long long *v)
{
	size_t i;

	for (i = 0; i + 3 < ul; i++) {
		size_t n;
		if (name[i] != ',' || name[i + 1] != x || name[i + 2] != '=') continue;
		for (n = 0; i + 3 + n < ul && name[i + 3 + n] >= '0' && name[i + 3 + n] <= '9'; n++)
			;
		if (n == 0 || n > 19) return 0;
		return scan_ulong(name + i + 3, n, v) == n;
	}
	return 0;
}

/* Our deliveries (lib/maildir.h) and Dovecot name files
 * "...,S=<file size>,W=<CRLF size>": with S= matching the file, W= saves
 * reading every message at every login. The CRLF we add after a last
 * line without one is not in W. 1 when the name gave the size. */
static int size_from_name(const char *name, int fd, const struct stat *st,
                          unsigned long long *size)
{
	unsigned long long s, w;
	size_t ul = uniq_len(name);
	char last;

	if (!name_field(name, ul, 'S', &s) || !name_field(name, ul, 'W', &w)) return 0;
	/* each stored LF gains at most a CR: a W= beyond twice S= is a lie
	 * that LIST and STAT would repeat (up to 10^19 octets) */
	if (st->st_size < 0 || s != (unsigned long long)st->st_size || w < s || w - s > s) return 0;
	if (s == 0) { *size = 0; return 1; }
	if (pread(fd, &last, 1, st->st_size - 1) != 1) return 0;
	*size = w + (last == '\n' ? 0 : 2);
	return 1;
}

static int scan_cur(struct maildrop *md)
{
	DIR *d;
	struct dirent *e;
	int dfd, ok = 1;
	size_t cn, cb;

	count_cur(&cn, &cb);
	if (cn) {
		if (cn > ((size_t)-1) / sizeof *md->m || !(md->m = malloc(cn * sizeof *md->m))) return 0;
		md->cap = cn;
		if (!str_ready(&md->names, cb)) return 0;
	}
	d = opendir("cur");
	if (!d) return 0;
	dfd = dirfd(d);
	while ((e = readdir(d))) {
		struct stat st;
		unsigned long long size;
		int fd;
		if (e->d_name[0] == '.') continue;
		fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			if (errno == ENOENT || errno == ELOOP) continue;   /* gone, or a planted link */
			ok = 0;
			break;
		}
		if (fstat(fd, &st) != 0) { close(fd); ok = 0; break; }
		if (!S_ISREG(st.st_mode)) { close(fd); continue; }
		if (!size_from_name(e->d_name, fd, &st, &size) && !maildrop_measure(fd, &size)) {
			close(fd);
			ok = 0;
			break;
		}
		close(fd);
		if (!add(md, e->d_name, st.st_mtime, size)) { ok = 0; break; }
	}
	closedir(d);
	if (ok && md->n > 1) sort_msgs(md);
	return ok;
}

int maildrop_open(struct maildrop *md, const char *dir)
{
	int r;

	md->dir = dir;
	md->lockfd = -1;
	md->m = 0;
	md->n = md->cap = md->live = 0;
	md->total = 0;
	md->names.s = 0;
	md->names.len = md->names.cap = 0;
	md->big = 0;
	md->nbig = 0;
	r = lock(md);
	if (r != MAILDROP_OK) return r;
	if (!take_new() || !scan_cur(md)) return MAILDROP_TEMP;
	return MAILDROP_OK;
}

/* the current file name of message i, after another client renamed it */
static int refind(struct maildrop *md, size_t i)
{
	const char *u;
	size_t ul = maildrop_uniq(md, i, &u);
	DIR *d = opendir("cur");
	struct dirent *e;
	int found = 0;

	if (!d) return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || uniq_len(e->d_name) != ul) continue;
		if (memcmp(e->d_name, u, ul) != 0) continue;
		if (strcmp(e->d_name, u) == 0) continue;
		if (md->names.len > POP3_NAMES_MAX - strlen(e->d_name) - 1) break;
		md->m[i].name = (uint32_t)md->names.len;
		/* u may move when names grows: it is not used after this */
		found = str_append(&md->names, e->d_name, strlen(e->d_name) + 1);
		break;
	}
	closedir(d);
	if (!found) errno = ENOENT;
	return found;
}

static int path_of(const struct maildrop *md, size_t i, str *p)
{
	return str_copys(p, "cur/") && str_appends(p, msgname(md, i)) && str_0(p);
}

int maildrop_openmsg(struct maildrop *md, size_t i)
{
	str p = STR_ZERO;
	int fd = -1, tries;

	for (tries = 0; tries < 2; tries++) {
		if (!path_of(md, i, &p)) break;
		fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || tries || !refind(md, i)) break;
	}
	str_free(&p);
	return fd;
}

int maildrop_update(struct maildrop *md)
{
	str p = STR_ZERO;
	size_t i;
	int ok = 1, any = 0;

	for (i = 0; i < md->n; i++) {
		if (!md->m[i].deleted) continue;
		if (!path_of(md, i, &p)) { ok = 0; break; }
		if (unlink(p.s) == 0) { any = 1; continue; }
		if (errno == ENOENT && refind(md, i) && path_of(md, i, &p) && unlink(p.s) == 0) {
			any = 1;
			continue;
		}
		if (errno == ENOENT) continue;   /* someone else removed it: gone is gone */
		log_line("warning: unable to remove ", p.s, ": ", strerror(errno), (char *)0);
		ok = 0;
	}
	str_free(&p);
	if (any && !fsx_syncdir("cur")) ok = 0;
	return ok;
}

void maildrop_close(struct maildrop *md)
{
	if (md->lockfd >= 0) close(md->lockfd);
	md->lockfd = -1;
	free(md->m);
	md->m = 0;
	free(md->big);
	md->big = 0;
	md->nbig = 0;
	str_free(&md->names);
}
