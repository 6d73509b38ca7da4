/* folder.c: Maildir++ folders as IMAP mailboxes. INBOX is the Maildir
 * itself; a folder "Work.2026" is the directory ".Work.2026" ('.' is the
 * IMAP hierarchy delimiter, as on disk); names are kept on disk in
 * modified UTF-7. Flags live in the file names (":2,DFPRST" plus keyword
 * letters a-y, mapped per folder by the file facteur-keywords). UIDs,
 * UIDVALIDITY and MODSEQs live in facteur-uidlist, appended to at each
 * change and written whole (temporary file, fsync, rename) when made or
 * compacted, under an flock on facteur-uidlist.lock that only IMAP
 * sessions take: deliveries only add files to new/ and never lock. The index remembers the mtimes of cur/
 * and new/ so that a SELECT of an unchanged folder reads one file and no
 * directory. Runs as the mailbox owner (after login); trusts the file
 * names it finds no more than network input. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "fmt.h"
#include "fsx.h"
#include "imapd-internal.h"
#include "log.h"
#include "mutf7.h"
#include "scan.h"

#define IDX_NAME  "facteur-uidlist"
#define LOCK_NAME "facteur-uidlist.lock"
#define KW_NAME   "facteur-keywords"
#define IDX_MAGIC "FACTEURIDX1"
#define SCAN_TRUST_NS (2LL * 1000000000LL)  /* mtimes younger than this may hide a change */

static const char sysletters[] = "DFPRST";

int mbox_name_ok(struct sess *s, const char *name, size_t n, str *imapname)
{
	str u = STR_ZERO;
	size_t i;
	int ok = 0;

	str_clear(imapname);
	if (!n || n > IMAP_NAME_MAX || memchr(name, 0, n)) return 0;
	if (n == 5 && strncasecmp(name, "INBOX", 5) == 0) return str_copys(imapname, "INBOX");
	if (s->utf8) {
		if (!str_copy(&u, name, n) || !mutf7_encode(name, n, imapname)) goto out;
	} else {
		str back = STR_ZERO;
		if (!mutf7_decode(name, n, &u) || !mutf7_encode(u.s ? u.s : "", u.len, &back)) { str_free(&back); goto out; }
		/* one spelling per name: what decodes must re-encode the same */
		ok = back.len == n && memcmp(back.s, name, n) == 0;
		str_free(&back);
		if (!ok) goto out;
		ok = 0;
		if (!str_copy(imapname, name, n)) goto out;
	}
	/* the decoded name must not leave the Maildir or hide from it */
	if (!u.len || u.s[0] == '.' || u.s[u.len - 1] == '.' || u.s[0] == '~') goto out;
	for (i = 0; i < u.len; i++) {
		unsigned char c = (unsigned char)u.s[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '*' || c == '%') goto out;
		if (c == '.' && i + 1 < u.len && u.s[i + 1] == '.') goto out;
	}
	if (imapname->len > IMAP_NAME_MAX) goto out;
	ok = 1;
out:
	str_free(&u);
	/* INBOX is case-insensitive, also as the parent of "INBOX.Sub" */
	if (ok && imapname->len > 6 && strncasecmp(imapname->s, "INBOX.", 6) == 0) memcpy(imapname->s, "INBOX", 5);
	if (ok) str_0(imapname);
	return ok;
}

int mbox_path(struct sess *s, const str *imapname, str *path)
{
	if (!str_copy(path, s->maildir.s, s->maildir.len)) return 0;
	if (str_equals(imapname, "INBOX")) return str_0(path);
	return str_appendc(path, '.') && str_append(path, imapname->s, imapname->len) &&
	       str_appendc(path, '/') && str_0(path);
}

static int subpath(const struct folder *f, const char *rel, str *out)
{
	return str_copy(out, f->path.s, f->path.len) && str_appends(out, rel) && str_0(out);
}

int folder_lock(const struct folder *f)
{
	str p = STR_ZERO;
	int fd;

	if (!subpath(f, LOCK_NAME, &p)) return -1;
	fd = open(p.s, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	str_free(&p);
	if (fd < 0) return -1;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) { close(fd); return -1; }
	return fd;
}

void folder_unlock(int fd) { if (fd >= 0) close(fd); }

static void kw_free(struct folder *f)
{
	size_t i;
	for (i = 0; i < f->nkw; i++) free(f->kw[i]);
	f->nkw = 0;
}

static void kw_load(struct folder *f)
{
	str p = STR_ZERO, data = STR_ZERO;
	int fd;
	char b[4096];
	ssize_t r;
	size_t i, st = 0;

	kw_free(f);
	if (!subpath(f, KW_NAME, &p)) return;
	fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	str_free(&p);
	if (fd < 0) return;
	while ((r = read(fd, b, sizeof b)) > 0 && data.len < 65536) str_append(&data, b, (size_t)r);
	close(fd);
	for (i = 0; i < data.len && f->nkw < IMAP_KEYWORDS; i++) {
		if (data.s[i] != '\n') continue;
		if (i > st) {
			char *k = malloc(i - st + 1);
			if (!k) break;
			memcpy(k, data.s + st, i - st);
			k[i - st] = 0;
			f->kw[f->nkw++] = k;
		}
		st = i + 1;
	}
	str_free(&data);
}

static int kw_save(struct folder *f)
{
	str p = STR_ZERO, d = STR_ZERO;
	size_t i;
	int ok;

	for (i = 0; i < f->nkw; i++) { str_appends(&d, f->kw[i]); str_appendc(&d, '\n'); }
	ok = subpath(f, KW_NAME, &p) && fsx_replacefile(p.s, d.s ? d.s : "", d.len, 0600);
	str_free(&p);
	str_free(&d);
	return ok;
}

/* index of a keyword (case-insensitive, RFC 9051 2.3.2), or -1 */
int folder_keyword(struct folder *f, const char *kw, size_t n, int create)
{
	size_t i;
	char *k;
	int lk;

	for (i = 0; i < f->nkw; i++)
		if (strlen(f->kw[i]) == n && strncasecmp(f->kw[i], kw, n) == 0) return (int)i;
	if (!create || f->nkw >= IMAP_KEYWORDS) return -1;
	lk = folder_lock(f);
	kw_load(f);    /* another session may have added some */
	for (i = 0; i < f->nkw; i++)
		if (strlen(f->kw[i]) == n && strncasecmp(f->kw[i], kw, n) == 0) { folder_unlock(lk); return (int)i; }
	if (f->nkw >= IMAP_KEYWORDS || !(k = malloc(n + 1))) { folder_unlock(lk); return -1; }
	memcpy(k, kw, n);
	k[n] = 0;
	f->kw[f->nkw++] = k;
	kw_save(f);
	folder_unlock(lk);
	return (int)f->nkw - 1;
}

static long long mtime_ns(const struct stat *st)
{
	return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long dir_mtime(const struct folder *f, const char *rel)
{
	str p = STR_ZERO;
	struct stat st;
	long long r = -2;

	if (subpath(f, rel, &p) && stat(p.s, &st) == 0) r = mtime_ns(&st);
	str_free(&p);
	return r;
}

/* The session's own changes in cur/ (STORE renames, EXPUNGE unlinks) move
 * its mtime, and a young mtime is not trusted (SCAN_TRUST_NS): every
 * command for two seconds re-read all of cur/ (100 ms at 100,000
 * messages). When cur/ was as the view knows it just before our change,
 * its mtime just after is ours: the next syncs need not read cur/ while
 * it stays so. Another writer whose change fell in the same clock tick as
 * ours would hide behind it; so that mtime is trusted only for
 * SCAN_TRUST_NS after it was read, then cur/ is read once more (as
 * Dovecot does with its dirty-sync window): such a change shows at most
 * that late; the window runs from the first of a chain of our changes,
 * so a session storing every second still reads cur/ every two. The index
 * keeps the older trusted mtime, so other sessions read cur/ and see our
 * change. 2: as the index says; 1: as our last change left it; 0: not
 * known. */
static int own_known(const struct folder *f, long long cm, long long now)
{
	if (cm <= 0 || f->curmt < 0) return 0;
	if (cm == f->curmt) return 2;
	return f->owncurmt > 0 && cm == f->owncurmt && now - f->owncheck < SCAN_TRUST_NS;
}

int folder_own_begin(struct folder *f)
{
	return own_known(f, dir_mtime(f, "cur"), now_ns());
}

void folder_own_end(struct folder *f, int known)
{
	if (!known) { f->owncurmt = 0; return; }
	if (known == 2) f->owncheck = now_ns();
	f->owncurmt = dir_mtime(f, "cur");
}

struct mlist {
	struct msg *m;
	size_t n, cap;
	str names;
};

static struct msg *ml_add(struct mlist *l, const char *base, size_t bl)
{
	struct msg *m;

	if (bl > 65535 || l->names.len > 0xffffffffu - bl) return 0;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		struct msg *nm = realloc(l->m, nc * sizeof *nm);
		if (!nm) return 0;
		l->m = nm;
		l->cap = nc;
	}
	m = &l->m[l->n];
	memset(m, 0, sizeof *m);
	m->name = (uint32_t)l->names.len;
	m->namelen = (uint16_t)bl;
	m->size = (uint64_t)-1;
	m->idate = -1;
	if (!str_append(&l->names, base, bl)) return 0;
	l->n++;
	return m;
}

static void ml_free(struct mlist *l) { free(l->m); str_free(&l->names); memset(l, 0, sizeof *l); }

/* room for n messages and their names at once: growing by doubling a
 * 100,000-message view copied it about seventeen times */
static int ml_reserve(struct mlist *l, size_t n, size_t namebytes)
{
	struct msg *nm;

	if (n > l->cap) {
		if (n > SIZE_MAX / sizeof *nm || !(nm = realloc(l->m, n * sizeof *nm))) return 0;
		l->m = nm;
		l->cap = n;
	}
	return str_readyplus(&l->names, namebytes);
}

static uint32_t flags_from_info(const struct folder *f, const char *p, size_t n)
{
	uint32_t fl = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *c = memchr(sysletters, p[i], 6);
		if (c && p[i]) fl |= 1u << (c - sysletters);
		else if (p[i] >= 'a' && p[i] <= 'z' && (size_t)(p[i] - 'a') < f->nkw) fl |= F_KW(p[i] - 'a');
	}
	return fl;
}

static void flags_letters(uint32_t fl, str *out)
{
	int i;
	for (i = 0; i < 6; i++) if (fl & (1u << i)) str_appendc(out, sysletters[i]);
	for (i = 0; i < IMAP_KEYWORDS; i++) if (fl & F_KW(i)) str_appendc(out, (char)('a' + i));
}

int msg_path(const struct folder *f, const struct msg *m, str *out)
{
	if (!str_copy(out, f->path.s, f->path.len) ||
	    !str_appends(out, m->innew ? "new/" : "cur/") ||
	    !str_append(out, f->names.s + m->name, m->namelen)) return 0;
	if (m->hasinfo) {
		str_appends(out, ":2,");
		flags_letters(m->flags & ~F_RECENT, out);
	}
	return str_0(out);
}

/* The index, facteur-uidlist: a header line, then one record a line:
 *   FACTEURIDX1 UIDVALIDITY UIDNEXT HIGHESTMODSEQ CUR_MTIME_NS NEW_MTIME_NS
 *   UID MODSEQ SIZE|- INTERNALDATE|- FLAGBITS n|N|c i|- BASENAME
 *   X UID
 * It is written whole (temporary file, fsync, rename) when made or
 * compacted. Otherwise a change is appended, under the lock, by a session
 * whose view holds everything the file says: the changed messages' lines
 * again (a later line for a UID wins), "X UID" for an expunge, then a
 * header line. A reader applies the lines in order; a last line without
 * its newline (a crash during an append) is not applied, and the next
 * writer cuts it off before it appends. A session keeps the file open and
 * later reads only what was appended since. */
#define IDX_COMPACT_SLACK 4096   /* record lines beyond 2 a message before a rewrite */
#define IDX_LINE_MAX (65536 + 256)

static long ml_find(const struct mlist *l, uint32_t uid)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->m[mid].uid < uid) lo = mid + 1;
		else hi = mid;
	}
	return lo < l->n && l->m[lo].uid == uid ? (long)lo : -1;
}

static int uidcmp(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* a header line; first: the file's first line, which sets the values */
static int idx_header(struct folder *f, const char *s, const char *nl, int first)
{
	unsigned long long v[5] = { 0, 0, 0, 0, 0 };
	size_t k, u;

	s += sizeof IDX_MAGIC;
	for (k = 0; k < 5 && s < nl; k++) {
		if (!(u = scan_ulong(s, (size_t)(nl - s), &v[k]))) break;
		s += u;
		if (s < nl && *s == ' ') s++;
	}
	if (k < 3 || v[0] > 0xffffffffULL || v[1] > 0xffffffffULL) return 0;
	if (first) {
		f->uidvalidity = (uint32_t)v[0];
		f->uidnext = (uint32_t)v[1];
		f->highestmodseq = v[2];
		f->curmt = f->newmt = 0;
	} else {
		if (v[0] != f->uidvalidity) return 0;
		if (v[1] > f->uidnext) f->uidnext = (uint32_t)v[1];
		if (v[2] > f->highestmodseq) f->highestmodseq = v[2];
	}
	if (k == 5) { f->curmt = (long long)v[3]; f->newmt = (long long)v[4]; }
	return 1;
}

/* a field and the space after it; 0 at the end of the line */
static size_t idx_field(const char *q, const char *nl, unsigned long long *v, int dash)
{
	size_t u;

	if (q >= nl) return 0;
	if (dash && *q == '-') { *v = (unsigned long long)-1; return q + 1 < nl ? 2 : 0; }
	u = scan_ulong(q, (size_t)(nl - q), v);
	if (!u || q + u >= nl || q[u] != ' ') return 0;
	return u + 1;
}

/* one message line into l (sorted by UID); 0 when malformed */
static int idx_msgline(struct folder *f, struct mlist *l, const char *q, const char *nl, int *unsorted)
{
	unsigned long long uid, ms, sz, id, fl;
	size_t u, bl;
	struct msg *m;
	long k;
	uint32_t recent = 0;

	if (!(u = idx_field(q, nl, &uid, 0))) return 0;
	q += u;
	if (!(u = idx_field(q, nl, &ms, 0))) return 0;
	q += u;
	if (!(u = idx_field(q, nl, &sz, 1))) return 0;
	q += u;
	if (!(u = idx_field(q, nl, &id, 1))) return 0;
	q += u;
	if (!(u = idx_field(q, nl, &fl, 0))) return 0;
	q += u;
	if (q + 4 > nl || q[2] != ' ' || !uid || uid > 0xffffffffULL) return 0;
	bl = (size_t)(nl - q - 3);
	/* the index is a file in the Maildir like any other: a name with '/'
	 * would make msg_path leave cur/ */
	if (memchr(q + 3, '/', bl) || memchr(q + 3, 0, bl) || q[3] == '.') return 0;
	/* a UID at or past uidnext (a damaged index) must not be given again */
	if (uid >= f->uidnext) f->uidnext = uid == 0xffffffffULL ? (uint32_t)uid : (uint32_t)uid + 1;
	if (ms > f->highestmodseq) f->highestmodseq = ms;
	if (*unsorted) { qsort(l->m, l->n, sizeof *l->m, uidcmp); *unsorted = 0; }
	k = l->n && uid <= l->m[l->n - 1].uid ? ml_find(l, (uint32_t)uid) : -1;
	if (k >= 0) {
		m = &l->m[k];
		recent = m->flags & F_RECENT;
		if (m->namelen != bl || memcmp(l->names.s + m->name, q + 3, bl) != 0) {
			if (l->names.len > 0xffffffffu - bl || !str_append(&l->names, q + 3, bl)) return 0;
			m->name = (uint32_t)(l->names.len - bl);
			m->namelen = (uint16_t)bl;
		}
		/* a size this session worked out stays when the line has none */
		if (sz == (unsigned long long)-1) sz = m->size;
		if (id == (unsigned long long)-1 && m->idate >= 0) id = (unsigned long long)m->idate;
	} else {
		if (l->n && uid < l->m[l->n - 1].uid) *unsorted = 1;
		if (!(m = ml_add(l, q + 3, bl))) return 0;
	}
	m->uid = (uint32_t)uid;
	m->modseq = ms;
	m->size = sz;
	m->idate = id == (unsigned long long)-1 ? -1 : (int64_t)id;
	m->flags = ((uint32_t)fl & ~F_RECENT) | recent;
	m->innew = q[0] == 'n' || q[0] == 'N';
	m->claimed = q[0] == 'N';
	m->hasinfo = q[1] == 'i';
	m->gone = 0;
	return 1;
}

/* apply the complete lines of d[0..n) to l; the bytes used (through the
 * last newline); *bad when the first line must be a header and is not */
static size_t idx_apply(struct folder *f, struct mlist *l, const char *d, size_t n, int first, int *bad)
{
	const char *s = d, *e = d + n, *nl;
	int unsorted = 0, tomb = 0;
	size_t i, o;

	while (s < e && (nl = memchr(s, '\n', (size_t)(e - s)))) {
		f->idxlines++;
		if ((size_t)(nl - s) > sizeof IDX_MAGIC && memcmp(s, IDX_MAGIC " ", sizeof IDX_MAGIC) == 0) {
			if (!idx_header(f, s, nl, first) && first) { *bad = 1; return 0; }
		} else if (first) {
			*bad = 1;
			return 0;
		} else if (s[0] == 'X' && nl - s > 2 && s[1] == ' ') {
			unsigned long long uid;
			long k;
			if (unsorted) { qsort(l->m, l->n, sizeof *l->m, uidcmp); unsorted = 0; }
			if (scan_ulong(s + 2, (size_t)(nl - s - 2), &uid) && uid <= 0xffffffffULL &&
			    (k = ml_find(l, (uint32_t)uid)) >= 0) { l->m[k].gone = 2; tomb = 1; }
		} else
			idx_msgline(f, l, s, nl, &unsorted);
		first = 0;
		s = nl + 1;
	}
	if (unsorted) qsort(l->m, l->n, sizeof *l->m, uidcmp);
	if (tomb) {
		for (i = o = 0; i < l->n; i++) if (l->m[i].gone != 2) l->m[o++] = l->m[i];
		l->n = o;
	}
	return (size_t)(s - d);
}

static int idx_same(const struct folder *f, const struct stat *st)
{
	return f->idxfd > 0 && (unsigned long long)st->st_ino == f->idxino &&
	       (unsigned long long)st->st_dev == f->idxdev;
}

static void idx_keep(struct folder *f, int fd, const struct stat *st, unsigned long long off)
{
	if (f->idxfd > 0 && f->idxfd != fd) close(f->idxfd);
	f->idxfd = fd;
	f->idxino = (unsigned long long)st->st_ino;
	f->idxdev = (unsigned long long)st->st_dev;
	f->idxoff = off;
}

static void idx_forget(struct folder *f)
{
	if (f->idxfd > 0) close(f->idxfd);
	f->idxfd = 0;
	f->idxoff = f->idxlines = 0;
}

/* parse facteur-uidlist into l; 0 when missing or unreadable. Mapped, not
 * read: a SELECT of a 100,000-message folder read 6.6 MB into a fresh
 * buffer, and the page faults of that buffer cost more than the parse.
 * Called under the lock only, so no writer truncates the file (the one
 * truncation, of half a line left by a crash, is done under the lock)
 * while it is mapped. */
static int idx_load(struct folder *f, struct mlist *l)
{
	str p = STR_ZERO;
	struct stat st;
	int fd, bad = 0;
	size_t used = 0, lines = 0, sz;
	const char *d = 0, *q, *e;

	if (!subpath(f, IDX_NAME, &p)) return 0;
	fd = open(p.s, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == EACCES) fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	str_free(&p);
	if (fd < 0) return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !st.st_size || (unsigned long long)st.st_size > SIZE_MAX / 2) goto fail;
	sz = (size_t)st.st_size;
	d = mmap(0, sz, PROT_READ, MAP_PRIVATE, fd, 0);
	if (d == MAP_FAILED) { d = 0; goto fail; }
	for (q = d, e = d + sz; q < e && (q = memchr(q, '\n', (size_t)(e - q))); q++) lines++;
	/* names take less than the file; a message a line at most */
	if (!ml_reserve(l, lines, sz)) goto fail;
	f->idxlines = 0;
	used = idx_apply(f, l, d, sz, 1, &bad);
	munmap((void *)d, sz);
	d = 0;
	if (bad || !used) goto fail;
	idx_keep(f, fd, &st, used);
	if (used < sz) f->idxrewrite = 1;   /* half a line at the end */
	return 1;
fail:
	if (d) munmap((void *)d, (size_t)st.st_size);
	close(fd);
	return 0;
}

/* cut off half a line left at the end by a crash; the new size, or -1 */
static long long idx_cut(int fd, unsigned long long size)
{
	char b[4096];
	unsigned long long end = size;

	while (end > 0 && size - end < IDX_LINE_MAX) {
		size_t n = end > sizeof b ? sizeof b : (size_t)end;
		unsigned long long at = end - n;
		if (pread(fd, b, n, (off_t)at) != (ssize_t)n) return -1;
		while (n > 0 && b[n - 1] != '\n') n--;
		if (n > 0) {
			if (ftruncate(fd, (off_t)(at + n)) < 0) return -1;
			return (long long)(at + n);
		}
		end = at;
	}
	return -1;   /* no newline within a line's length: not a half line */
}

/* what others appended since we read; under the lock */
static int idx_tail(struct folder *f, struct mlist *l, unsigned long long size)
{
	str d = STR_ZERO;
	int bad = 0;
	size_t used;

	if (size - f->idxoff > (unsigned long long)SIZE_MAX / 2 || !str_ready(&d, (size_t)(size - f->idxoff))) return 0;
	while (d.len < (size_t)(size - f->idxoff)) {
		ssize_t r = pread(f->idxfd, d.s + d.len, (size_t)(size - f->idxoff) - d.len, (off_t)(f->idxoff + d.len));
		if (r <= 0) { str_free(&d); return 0; }
		d.len += (size_t)r;
	}
	used = idx_apply(f, l, d.s, d.len, 0, &bad);
	str_free(&d);
	f->idxoff += used;
	/* we hold the lock: half a line now is a crash's, never a writer's */
	if (f->idxoff < size) {
		long long c = idx_cut(f->idxfd, size);
		if (c < 0) return 0;
		f->idxoff = (unsigned long long)c;
	}
	return 1;
}

static void idx_hdrline(const struct folder *f, str *d)
{
	str_appends(d, IDX_MAGIC " ");
	str_appendu(d, f->uidvalidity); str_appendc(d, ' ');
	str_appendu(d, f->uidnext); str_appendc(d, ' ');
	str_appendu(d, f->highestmodseq); str_appendc(d, ' ');
	str_appendu(d, (unsigned long long)f->curmt); str_appendc(d, ' ');
	str_appendu(d, (unsigned long long)f->newmt); str_appendc(d, '\n');
}

static int idx_line(const struct folder *f, const struct msg *m, str *d)
{
	str_appendu(d, m->uid); str_appendc(d, ' ');
	str_appendu(d, m->modseq); str_appendc(d, ' ');
	if (m->size == (uint64_t)-1) str_appendc(d, '-'); else str_appendu(d, m->size);
	str_appendc(d, ' ');
	if (m->idate < 0) str_appendc(d, '-'); else str_appendu(d, (unsigned long long)m->idate);
	str_appendc(d, ' ');
	str_appendu(d, m->flags & ~F_RECENT); str_appendc(d, ' ');
	str_appendc(d, m->innew ? (m->claimed ? 'N' : 'n') : 'c');
	str_appendc(d, m->hasinfo ? 'i' : '-');
	str_appendc(d, ' ');
	return str_append(d, f->names.s + m->name, m->namelen) && str_appendc(d, '\n');
}

/* the whole index: temporary file, fsync, rename, fsync of the directory;
 * the temporary file's descriptor becomes the one kept */
static int idx_write(struct folder *f)
{
	str d = STR_ZERO, p = STR_ZERO, t = STR_ZERO;
	size_t i, lines = 1;
	int fd = -1, ok = 0;
	struct stat st;

	idx_hdrline(f, &d);
	for (i = 0; i < f->n; i++) {
		if (f->m[i].gone) continue;
		if (!idx_line(f, &f->m[i], &d)) goto out;
		lines++;
	}
	if (!subpath(f, IDX_NAME, &p) || !subpath(f, IDX_NAME ".tmp", &t)) goto out;
	unlink(t.s);
	fd = open(t.s, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) goto out;
	if (!fd_writeall(fd, d.s, d.len, -1) || fsync(fd) < 0 || fstat(fd, &st) < 0) { unlink(t.s); goto out; }
	if (rename(t.s, p.s) < 0) { unlink(t.s); goto out; }
	fsx_syncdir(f->path.s);
	idx_keep(f, fd, &st, d.len);
	f->idxlines = lines;
	f->idxrewrite = 0;
	fd = -1;
	ok = 1;
out:
	if (fd >= 0) close(fd);
	if (!ok) log_line("unable to write ", p.s ? p.s : IDX_NAME, ": ", strerror(errno), (char *)0);
	str_free(&d); str_free(&p); str_free(&t);
	return ok;
}

/* the changed messages' lines, the pending records, a header line, at the
 * end of the file we hold; fdatasync when UIDs were given out */
static int idx_append(struct folder *f, unsigned long long size)
{
	str d = STR_ZERO;
	size_t i, lines = 1, w = 0;
	char last;
	int ok = 0;

	for (i = 0; i < f->n; i++)
		if (f->m[i].dirty && !f->m[i].gone) {
			if (!idx_line(f, &f->m[i], &d)) goto out;
			lines++;
		}
	if (f->pend.len) {
		if (!str_append(&d, f->pend.s, f->pend.len)) goto out;
		for (i = 0; i < f->pend.len; i++) lines += f->pend.s[i] == '\n';
	}
	idx_hdrline(f, &d);
	if (!d.s) goto out;
	if (size && (pread(f->idxfd, &last, 1, (off_t)size - 1) != 1 || last != '\n')) {
		long long c = idx_cut(f->idxfd, size);
		if (c < 0) goto out;
		if (f->idxoff == size) f->idxoff = (unsigned long long)c;
		size = (unsigned long long)c;
	}
	while (w < d.len) {
		ssize_t r = pwrite(f->idxfd, d.s + w, d.len - w, (off_t)(size + w));
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) { if (ftruncate(f->idxfd, (off_t)size) < 0) {} goto out; }
		w += (size_t)r;
	}
	if (f->uidsnew && fdatasync(f->idxfd) < 0) goto out;
	if (size == f->idxoff) { f->idxoff += d.len; f->idxlines += lines; }
	ok = 1;
out:
	if (!ok) log_line("unable to append to ", IDX_NAME, " in ", f->path.s ? f->path.s : "", ": ", strerror(errno), (char *)0);
	str_free(&d);
	return ok;
}

static void idx_clean(struct folder *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) f->m[i].dirty = 0;
	str_clear(&f->pend);
	f->dirty = f->uidsnew = 0;
}

/* under the lock: write what changed. Only a view that holds everything
 * the file says may write, since a stale view's lines would take back
 * other sessions' changes: synced says the caller synced under this same
 * lock (folder_sync, APPEND, STORE, EXPUNGE), so the view is the truth even
 * when the index is missing or unreadable, and it is written whole then.
 * Otherwise (cached sizes after a FETCH) the view is current only if
 * nobody wrote since we read; if somebody did, what would have been
 * written is dropped and found again later. UIDs are given only by a
 * synced view. */
static int idx_save(struct folder *f, int synced)
{
	str p = STR_ZERO;
	struct stat st;
	int ok = 1, have, same;

	if (!f->dirty && !f->pend.len) return 1;
	have = subpath(f, IDX_NAME, &p) && stat(p.s, &st) == 0;
	str_free(&p);
	same = have && idx_same(f, &st);
	if (same && (unsigned long long)st.st_size == f->idxoff) {
		if (f->idxrewrite || f->idxlines > 2 * f->n + IDX_COMPACT_SLACK) ok = idx_write(f);
		/* an append that fails (EBADF on an index we could only read, EIO)
		 * becomes a whole rewrite, which replaces the file */
		else if (!(ok = idx_append(f, (unsigned long long)st.st_size))) ok = idx_write(f);
	} else if (synced)
		ok = idx_write(f);      /* a new index, or one that could not be read */
	else if (have && !same)
		idx_forget(f);          /* replaced: read it whole at the next sync */
	idx_clean(f);
	return ok;
}

int folder_save_locked(struct folder *f)
{
	return idx_save(f, 0);
}

int folder_save(struct folder *f)
{
	int lk, r;

	if (!f->dirty && !f->pend.len) return 1;
	lk = folder_lock(f);
	if (lk < 0) return 0;
	r = idx_save(f, 0);
	folder_unlock(lk);
	return r;
}

void msg_dirty(struct folder *f, struct msg *m)
{
	m->dirty = 1;
	f->dirty = 1;
}

/* open-addressing table of base names for the directory scan */
struct htab { uint32_t *slot; size_t mask; };

static uint64_t hname(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	while (n--) { h ^= (unsigned char)*p++; h *= 1099511628211ULL; }
	return h;
}

static int ht_build(struct htab *h, const struct mlist *l)
{
	size_t sz = 16, i;

	while (sz < l->n * 2 + 1) sz *= 2;
	h->slot = malloc(sz * sizeof *h->slot);
	if (!h->slot) return 0;
	memset(h->slot, 0xff, sz * sizeof *h->slot);
	h->mask = sz - 1;
	for (i = 0; i < l->n; i++) {
		size_t k = hname(l->names.s + l->m[i].name, l->m[i].namelen) & h->mask;
		while (h->slot[k] != 0xffffffffu) k = (k + 1) & h->mask;
		h->slot[k] = (uint32_t)i;
	}
	return 1;
}

static long ht_find(const struct htab *h, const struct mlist *l, const char *p, size_t n)
{
	size_t k = hname(p, n) & h->mask;
	while (h->slot[k] != 0xffffffffu) {
		const struct msg *m = &l->m[h->slot[k]];
		if (m->namelen == n && memcmp(l->names.s + m->name, p, n) == 0) return (long)h->slot[k];
		k = (k + 1) & h->mask;
	}
	return -1;
}

struct newent { char *name; size_t bl; int innew, hasinfo; uint32_t flags; };

static int necmp(const void *a, const void *b)
{
	const struct newent *x = a, *y = b;
	return strcmp(x->name, y->name);
}

/* read new/ and cur/ into l: update what is known, drop what is gone,
 * add what is new with UIDs from uidnext. Without docur, cur/ is as the
 * view knows it (its mtime says so) and only new/ is read: a delivery
 * made every command for two seconds read all of cur/ (100 ms at 100,000
 * messages) to find one file in new/. */
static int scan_dirs(struct folder *f, struct mlist *l, int docur, int *changed, int *uidsnew)
{
	struct htab h;
	struct newent *ne = 0;
	size_t nne = 0, cne = 0, i, o;
	int d;

	if (!ht_build(&h, l)) return 0;
	for (i = 0; i < l->n; i++) l->m[i].seen = (uint8_t)(!docur && !l->m[i].innew);
	for (d = 0; d < 2 - !docur; d++) {
		str dp = STR_ZERO;
		DIR *dir;
		struct dirent *de;
		if (!subpath(f, d ? "cur" : "new", &dp)) { free(h.slot); return 0; }
		dir = opendir(dp.s);
		str_free(&dp);
		/* a cur/ that cannot be read now (EMFILE, EIO) is not an empty one:
		 * taking it so expunged every message and gave all new UIDs */
		if (!dir && errno != ENOENT) { free(h.slot); goto fail; }
		if (!dir) continue;
		while ((de = readdir(dir))) {
			const char *nm = de->d_name, *colon;
			size_t len = strlen(nm), bl;
			long k;
			uint32_t fl = 0;
			int hasinfo = 0;
			if (nm[0] == '.') continue;
			colon = strstr(nm, ":2,");
			bl = colon ? (size_t)(colon - nm) : len;
			if (colon) {
				str canon = STR_ZERO;
				hasinfo = 1;
				fl = flags_from_info(f, colon + 3, len - bl - 3);
				/* msg_path rebuilds the name from the flags: "SF", "SS" or a
				 * letter no keyword names (another MUA, a migration) would
				 * make the message unreadable, so the name is made canonical */
				flags_letters(fl, &canon);
				if (canon.len != len - bl - 3 || (canon.len && memcmp(canon.s, colon + 3, canon.len) != 0)) {
					str to = STR_ZERO;
					int ok = str_copy(&to, nm, bl + 3) && str_append(&to, canon.s ? canon.s : "", canon.len) && str_0(&to) &&
					         renameat(dirfd(dir), nm, dirfd(dir), to.s) == 0;
					str_free(&to);
					(void)ok;   /* failing that, listed as before, and unreadable */
				}
				str_free(&canon);
			}
			k = ht_find(&h, l, nm, bl);
			if (k >= 0) {
				struct msg *m = &l->m[k];
				if (m->seen) continue;   /* the same message twice: keep the first */
				m->seen = 1;
				if (m->innew != !d || m->hasinfo != hasinfo) {
					m->innew = (uint8_t)!d;
					m->hasinfo = (uint8_t)hasinfo;
					m->dirty = 1;
					*changed = 1;
				}
				if ((m->flags & ~F_RECENT) != fl) {
					m->flags = (m->flags & F_RECENT) | fl;
					m->modseq = ++f->highestmodseq;
					m->dirty = 1;
					*changed = 1;
				}
				continue;
			}
			if (nne == cne) {
				size_t nc = cne ? cne * 2 : 64;
				struct newent *nn = realloc(ne, nc * sizeof *nn);
				if (!nn) { closedir(dir); free(h.slot); goto fail; }
				ne = nn;
				cne = nc;
			}
			ne[nne].name = strndup(nm, bl);
			if (!ne[nne].name) { closedir(dir); free(h.slot); goto fail; }
			ne[nne].bl = bl;
			ne[nne].innew = !d;
			ne[nne].hasinfo = hasinfo;
			ne[nne].flags = fl;
			nne++;
		}
		closedir(dir);
	}
	free(h.slot);
	for (i = o = 0; i < l->n; i++) {
		if (!l->m[i].seen) {
			str_appends(&f->pend, "X ");
			str_appendu(&f->pend, l->m[i].uid);
			str_appendc(&f->pend, '\n');
			*changed = 1;
			continue;
		}
		l->m[o++] = l->m[i];
	}
	l->n = o;
	if (nne) {
		qsort(ne, nne, sizeof *ne, necmp);
		for (i = 0; i < nne; i++) {
			struct msg *m;
			if (i && strcmp(ne[i].name, ne[i - 1].name) == 0) continue;
			if (f->uidnext == 0xffffffffu) break;   /* UIDs exhausted: RFC says new UIDVALIDITY; we stop */
			m = ml_add(l, ne[i].name, ne[i].bl);
			if (!m) break;
			m->uid = f->uidnext++;
			m->flags = ne[i].flags;
			m->innew = (uint8_t)ne[i].innew;
			m->hasinfo = (uint8_t)ne[i].hasinfo;
			m->modseq = ++f->highestmodseq;
			m->dirty = 1;
			*changed = *uidsnew = 1;
		}
	}
	for (i = 0; i < nne; i++) free(ne[i].name);
	free(ne);
	return 1;
fail:
	/* half a scan would drop the messages not seen yet: keep the old view */
	for (i = 0; i < nne; i++) free(ne[i].name);
	free(ne);
	return 0;
}

/* SELECT takes what is in new/ into cur/ (the messages are \Recent in this
 * session); renameat on directory descriptors, since a big delivery batch
 * means as many renames. Those cost about 50 us each: a first SELECT of
 * 100,000 messages in new/ spent 5-6 s on them alone. So, as Dovecot lets
 * a sync stop and go on later, the renames stop after TAKE_NEW_BUDGET_NS:
 * the rest is claimed in the index ('N': its \Recent is given, no other
 * session gets it again), read where it is, and moved by a later sync. */
#define TAKE_NEW_BUDGET_NS (1000LL * 1000000LL)

static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void take_new(struct folder *f, struct mlist *l, int *changed)
{
	size_t i;
	str from = STR_ZERO, to = STR_ZERO, d = STR_ZERO;
	int nfd, cfd, move = 1;
	long long t0 = mono_ns();

	for (i = 0; i < l->n && !l->m[i].innew; i++) {}
	if (i == l->n) return;
	subpath(f, "new", &d);
	nfd = open(d.s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	subpath(f, "cur", &d);
	cfd = open(d.s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	str_free(&d);
	if (nfd < 0 || cfd < 0) goto out;
	for (; i < l->n; i++) {
		struct msg *m = &l->m[i];
		if (!m->innew) continue;
		if (move && (i & 255) == 0 && mono_ns() - t0 > TAKE_NEW_BUDGET_NS) move = 0;
		if (!move) {
			if (!m->claimed) { m->claimed = 1; m->flags |= F_RECENT; m->dirty = 1; *changed = 1; }
			continue;
		}
		str_copy(&from, l->names.s + m->name, m->namelen);
		if (m->hasinfo) { str_appends(&from, ":2,"); flags_letters(m->flags & ~F_RECENT, &from); }
		str_copy(&to, l->names.s + m->name, m->namelen);
		str_appends(&to, ":2,");
		flags_letters(m->flags & ~F_RECENT, &to);
		if (!str_0(&from) || !str_0(&to)) break;
		if (renameat(nfd, from.s, cfd, to.s) < 0) {
			if (errno != ENOENT) continue;
			/* someone else took it; the next scan tells where */
			f->curmt = -1;
		}
		m->innew = 0;
		m->hasinfo = 1;
		if (!m->claimed) m->flags |= F_RECENT;
		m->claimed = 0;
		m->dirty = 1;
		*changed = 1;
	}
out:
	if (nfd >= 0) close(nfd);
	if (cfd >= 0) close(cfd);
	str_free(&from);
	str_free(&to);
}

/* UIDVALIDITY for a new index: the clock, but always above the last one
 * given in this Maildir, so that a mailbox deleted and made again within
 * the same second does not reuse it (RFC 9051 2.3.1.1) */
static uint32_t new_uidvalidity(struct sess *s)
{
	str p = STR_ZERO;
	char b[32];
	unsigned long long last = 0;
	uint32_t v = (uint32_t)time(0);
	int fd;
	ssize_t r;
	size_t n;

	if (!str_copy(&p, s->maildir.s, s->maildir.len) || !str_appends(&p, "facteur-uidvalidity") || !str_0(&p)) {
		str_free(&p);
		return v;
	}
	fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		r = read(fd, b, sizeof b - 1);
		close(fd);
		if (r > 0) scan_ulong_max(b, (size_t)r, 0xffffffffULL, &last);
	}
	if (last >= v && last < 0xffffffffULL) v = (uint32_t)last + 1;
	n = fmt_ulong(b, v);
	fsx_replacefile(p.s, b, n, 0600);
	str_free(&p);
	return v;
}

static void put_fetchflags(struct sess *s, struct folder *f, size_t seq, const struct msg *m)
{
	put(s, "* "); putu(s, seq); put(s, " FETCH (FLAGS ");
	put_flags(s, f, m->flags);
	if (s->condstore) { put(s, " MODSEQ ("); putu(s, m->modseq); put(s, ")"); }
	put(s, ")\r\n");
}

/* the view changes to l: tell the client (report 1 or 2) what changed;
 * with report 2, messages no longer there stay as ghosts */
static int view_merge(struct sess *s, struct folder *f, struct mlist *l, int report, size_t *surv)
{
	size_t i, j, k;
	struct mlist g = { 0, 0, 0, STR_ZERO };

	if (report == 2) {
		size_t miss = 0;
		for (i = j = 0; i < f->n; i++) {
			while (j < l->n && l->m[j].uid < f->m[i].uid) j++;
			if (!(j < l->n && l->m[j].uid == f->m[i].uid)) miss++;
		}
		if (miss) {
			/* merge by UID: l's messages and the old ones it lacks */
			for (i = j = 0; i < f->n || j < l->n; ) {
				const struct mlist *src;
				const struct msg *m;
				struct msg *n;
				int old;
				if (j >= l->n || (i < f->n && f->m[i].uid < l->m[j].uid)) { src = 0; m = &f->m[i++]; old = 1; }
				else {
					if (i < f->n && f->m[i].uid == l->m[j].uid) i++;
					src = l; m = &l->m[j++]; old = 0;
				}
				n = ml_add(&g, (old ? f->names.s : src->names.s) + m->name, m->namelen);
				if (!n) { ml_free(&g); return 0; }
				k = n->name;
				*n = *m;
				n->name = (uint32_t)k;
				if (old) { n->gone = 1; n->dirty = 0; }
			}
			ml_free(l);
			*l = g;
		}
	}
	*surv = 0;
	for (i = j = 0; i < f->n; i++) {
		while (j < l->n && l->m[j].uid < f->m[i].uid) j++;
		if (j < l->n && l->m[j].uid == f->m[i].uid) {
			++*surv;
			if ((l->m[j].flags & ~F_RECENT) != (f->m[i].flags & ~F_RECENT))
				put_fetchflags(s, f, *surv, &l->m[j]);
		} else {
			put_expunge(s, *surv + 1, f->m[i].uid);
		}
	}
	return 1;
}

static int view_innew(const struct folder *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) if (f->m[i].innew) return 1;
	return 0;
}

/* no file in dir (dot files apart); 0 also when it cannot be read */
static int dir_empty(const struct folder *f, const char *rel)
{
	str p = STR_ZERO;
	DIR *d;
	struct dirent *de;
	int empty = 1;

	if (!subpath(f, rel, &p) || !(d = opendir(p.s))) { str_free(&p); return 0; }
	str_free(&p);
	while (empty && (de = readdir(d))) if (de->d_name[0] != '.') empty = 0;
	closedir(d);
	return empty;
}

/* folder_sync with the lock held */
static int sync_locked(struct sess *s, struct folder *f, int takenew, int report)
{
	struct stat ist, cst, nst;
	struct mlist l = { 0, 0, 0, STR_ZERO };
	int haveist, reload, grown, idxchanged, dirchanged, curchanged, curown, changed = 0, uidsnew = 0, haveidx, anynew = 0;
	long long now = now_ns();
	size_t i, j, oldn = f->n, recent = 0, surv;
	uint32_t oldmax = f->n ? f->m[f->n - 1].uid : 0;
	str p = STR_ZERO;

	subpath(f, IDX_NAME, &p);
	haveist = stat(p.s, &ist) == 0;
	reload = !haveist || !idx_same(f, &ist) || (unsigned long long)ist.st_size < f->idxoff;
	grown = !reload && (unsigned long long)ist.st_size > f->idxoff;
	idxchanged = reload || grown;
	subpath(f, "cur", &p);
	if (stat(p.s, &cst) < 0) memset(&cst, 0, sizeof cst);
	subpath(f, "new", &p);
	if (stat(p.s, &nst) < 0) memset(&nst, 0, sizeof nst);
	str_free(&p);
	curown = own_known(f, mtime_ns(&cst), now);
	curchanged = mtime_ns(&cst) != f->curmt && (idxchanged || !curown);
	dirchanged = curchanged || mtime_ns(&nst) != f->newmt;
	/* claimed ones still in new/ wait for a sync that has other work */
	for (i = 0; i < f->n && takenew && !anynew; i++) anynew = f->m[i].innew && !f->m[i].claimed;
	/* only new/ looks changed (its mtime is young after a delivery), but
	 * the view holds nothing in new/ and new/ is empty: the delivery was
	 * taken already, and the whole view need not be copied to learn it */
	if (!idxchanged && !curchanged && dirchanged && !anynew && f->m && !(f->ghosts && report == 1) &&
	    !view_innew(f) && dir_empty(f, "new")) {
		long long nm = mtime_ns(&nst);
		if (now - nm >= SCAN_TRUST_NS) { f->newmt = nm; f->dirty = 1; }
		dirchanged = 0;
	}
	if (!idxchanged && !dirchanged && !anynew && f->m && !(f->ghosts && report == 1)) {
		idx_save(f, 1);    /* the view is the file's: cached sizes may go in */
		return 1;
	}
	if (idxchanged || curchanged) f->owncurmt = 0;   /* read cur/ again, or the index changed */
	if (reload) {
		haveidx = haveist && idx_load(f, &l);
		kw_load(f);
		if (!haveidx) {
			ml_free(&l);
			idx_forget(f);
			f->uidvalidity = new_uidvalidity(s);
			f->uidnext = 1;
			f->highestmodseq = 1;
			f->idxrewrite = 1;
			changed = uidsnew = 1;
			dirchanged = curchanged = 1;
		} else {
			curchanged = mtime_ns(&cst) != f->curmt;
			dirchanged = curchanged || mtime_ns(&nst) != f->newmt;
		}
		for (i = j = 0; i < l.n && j < f->n; ) {
			if (l.m[i].uid == f->m[j].uid) { l.m[i].flags |= f->m[j].flags & F_RECENT; i++; j++; }
			else if (l.m[i].uid < f->m[j].uid) i++;
			else j++;
		}
	} else {
		if (!ml_reserve(&l, f->n + 64, f->names.len)) { ml_free(&l); return 0; }
		for (i = 0; i < f->n; i++) {
			struct msg *m;
			uint32_t nm;
			if (f->m[i].gone) continue;
			if (!(m = ml_add(&l, f->names.s + f->m[i].name, f->m[i].namelen))) { ml_free(&l); return 0; }
			nm = m->name;
			*m = f->m[i];
			m->name = nm;
		}
		if (grown) {
			if (!idx_tail(f, &l, (unsigned long long)ist.st_size)) { ml_free(&l); idx_forget(f); return 0; }
			kw_load(f);
			curchanged = mtime_ns(&cst) != f->curmt;
			dirchanged = curchanged || mtime_ns(&nst) != f->newmt;
		}
	}
	if (dirchanged && !scan_dirs(f, &l, curchanged, &changed, &uidsnew)) { ml_free(&l); return 0; }
	if (takenew) take_new(f, &l, &changed);
	if (dirchanged) {
		/* an mtime this young may not change again for a change in the
		 * same clock tick: remember it only once it has aged */
		long long cm = mtime_ns(&cst), nm = mtime_ns(&nst);
		long long ncm = now - cm >= SCAN_TRUST_NS ? cm : 0, nnm = now - nm >= SCAN_TRUST_NS ? nm : 0;
		if (ncm != f->curmt || nnm != f->newmt) changed = 1;
		f->curmt = ncm;
		f->newmt = nnm;
		/* cur/ was just read (and take_new may have added to it): like
		 * our own changes, its mtime now is trusted for SCAN_TRUST_NS,
		 * then cur/ is read once more, instead of at every command */
		if (curchanged && !ncm) { f->owncheck = now; f->owncurmt = dir_mtime(f, "cur"); }
	}
	/* cur/ not read, as the view knew it: take_new's renames are ours */
	if (!curchanged && takenew) folder_own_end(f, curown);
	/* the view changes now: tell the client what changed */
	surv = oldn;
	if (report && !view_merge(s, f, &l, report, &surv)) { ml_free(&l); return 0; }
	free(f->m);
	str_free(&f->names);
	f->m = l.m;
	f->n = l.n;
	f->cap = l.cap;
	f->names = l.names;
	f->ghosts = 0;
	for (i = 0; i < f->n; i++) {
		if (f->m[i].flags & F_RECENT) recent++;
		if (f->m[i].gone) f->ghosts++;
		if (f->m[i].dirty) f->dirty = 1;
	}
	if (report && (f->n != oldn || recent != f->recent || changed)) {
		/* EXISTS only when messages arrived; EXPUNGE said the rest */
		if (f->n > surv || (f->n && f->m[f->n - 1].uid > oldmax)) { put(s, "* "); putu(s, f->n); put(s, " EXISTS\r\n"); }
		if (recent != f->recent && !s->rev2) { put(s, "* "); putu(s, recent); put(s, " RECENT\r\n"); }
	}
	f->recent = recent;
	if (changed) { f->dirty = 1; if (uidsnew) f->uidsnew = 1; }
	/* under the lock, with the newest index applied: ours is the truth now */
	idx_save(f, 1);
	return 1;
}

int folder_sync(struct sess *s, struct folder *f, int takenew, int report)
{
	int lk = folder_lock(f), r;

	if (lk < 0) return 0;
	r = sync_locked(s, f, takenew, report);
	folder_unlock(lk);
	return r;
}

int folder_wlock(struct sess *s, struct folder *f, int takenew, int report)
{
	int lk = folder_lock(f);

	if (lk < 0) return -1;
	if (!sync_locked(s, f, takenew, report)) { folder_unlock(lk); return -1; }
	return lk;
}

int folder_wunlock(struct folder *f, int lk)
{
	int r = idx_save(f, 1);
	folder_unlock(lk);
	return r;
}

int folder_open(struct sess *s, struct folder *f, const str *imapname, const char *path)
{
	struct stat st;

	(void)s;
	folder_close(f);
	str_copys(&f->path, path);
	str_0(&f->path);
	str_copy(&f->name, imapname->s, imapname->len);
	str_0(&f->name);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) return 0;
	f->curmt = f->newmt = 0;
	f->owncurmt = f->owncheck = 0;
	return 1;
}

void folder_close(struct folder *f)
{
	free(f->m);
	f->m = 0;
	f->n = f->cap = 0;
	str_free(&f->names);
	str_free(&f->path);
	str_free(&f->name);
	str_free(&f->pend);
	kw_free(f);
	if (f->idxfd > 0) close(f->idxfd);
	f->idxfd = 0;
	f->idxoff = f->idxlines = 0;
	f->idxino = f->idxdev = 0;
	f->idxrewrite = 0;
	f->recent = f->ghosts = 0;
	f->dirty = f->uidsnew = 0;
}

/* ",X=<digits>" in a base name (up to its ',' or end): 1 when present */
static int name_field(const char *nm, size_t n, char x, unsigned long long *v)
{
	size_t i, u;

	for (i = 0; i + 3 <= n; i++)
		if (nm[i] == ',' && nm[i + 1] == x && nm[i + 2] == '=') {
			u = scan_ulong(nm + i + 3, n - i - 3, v);
			return u && u <= 19 && (i + 3 + u == n || nm[i + 3 + u] == ',');
		}
	return 0;
}

/* INTERNALDATE is the file's mtime; the size is the size on the wire,
 * with every bare LF (how facteur-deliver stores lines) counted as CRLF,
 * so it takes one read of the file, then lives in the index */
int msg_stat(const struct folder *f, struct msg *m)
{
	str p = STR_ZERO;
	struct stat st;
	int fd;
	char b[65536];
	ssize_t r;
	uint64_t size = 0;
	char prev = 0;

	if (m->size != (uint64_t)-1 && m->idate >= 0) return 1;
	/* ",W=" in the name (lib/maildir, Dovecot) is the CRLF size already */
	if (!msg_path(f, m, &p)) { str_free(&p); return 0; }
	/* O_NONBLOCK: a FIFO planted in cur/ must not hang the session */
	fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	str_free(&p);
	if (fd < 0) return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) { close(fd); return 0; }
	if (m->size == (uint64_t)-1) {
		unsigned long long sv, wv;
		/* a planted W= of 10^19 would be repeated as RFC822.SIZE and summed
		 * into STATUS SIZE: believe it only beside an S= that matches the
		 * file and within what bare LFs can add (at most one CR each) */
		if (name_field(f->names.s + m->name, m->namelen, 'S', &sv) &&
		    name_field(f->names.s + m->name, m->namelen, 'W', &wv) &&
		    sv == (unsigned long long)st.st_size && wv >= sv && wv - sv <= sv && wv)
			size = wv;
	}
	if (size || m->size != (uint64_t)-1) {
		close(fd);
		if (m->size == (uint64_t)-1) m->size = size;
		m->idate = (int64_t)st.st_mtime;
		return 1;
	}
	while ((r = read(fd, b, sizeof b)) > 0) {
		ssize_t i;
		for (i = 0; i < r; i++) {
			if (b[i] == '\n' && prev != '\r') size++;
			prev = b[i];
		}
		size += (uint64_t)r;
	}
	close(fd);
	if (r < 0) return 0;
	m->size = size;
	m->idate = (int64_t)st.st_mtime;
	return 1;
}

/* rename the file to carry new flags; the modseq moves on */
int msg_setflags(struct sess *s, struct folder *f, struct msg *m, uint32_t flags)
{
	str from = STR_ZERO, to = STR_ZERO;
	uint32_t old = m->flags;
	int ok, own;

	if ((old & ~F_RECENT) == (flags & ~F_RECENT)) { m->flags = flags; return 1; }
	own = m->innew ? 0 : folder_own_begin(f);   /* new/ to cur/ changes both: rescan */
	ok = msg_path(f, m, &from);
	m->flags = flags;
	if (m->innew) { m->innew = 0; m->claimed = 0; }
	m->hasinfo = 1;
	ok = ok && msg_path(f, m, &to) && rename(from.s, to.s) == 0;
	str_free(&from);
	str_free(&to);
	folder_own_end(f, ok ? own : 0);
	if (!ok) { m->flags = old; return 0; }
	m->modseq = ++f->highestmodseq;
	msg_dirty(f, m);
	return 1;
}

void put_flags(struct sess *s, const struct folder *f, uint32_t flags)
{
	static const char *const names[] = { "\\Draft", "\\Flagged", "$Forwarded", "\\Answered", "\\Seen", "\\Deleted" };
	int i, first = 1;

	put(s, "(");
	for (i = 0; i < 6; i++)
		if (flags & (1u << i)) { if (!first) put(s, " "); put(s, names[i]); first = 0; }
	for (i = 0; i < IMAP_KEYWORDS && (size_t)i < f->nkw; i++)
		if (flags & F_KW(i)) { if (!first) put(s, " "); put(s, f->kw[i]); first = 0; }
	if ((flags & F_RECENT) && !s->rev2) { if (!first) put(s, " "); put(s, "\\Recent"); }
	put(s, ")");
}

/* one flag of a STORE/APPEND list; 0 when not a valid flag, PARSE_FLAG_LIMIT
 * when it is a new keyword and no more can be made */
int parse_flag(struct sess *s, struct folder *f, const char *p, size_t n, uint32_t *fl, int create)
{
	static const char *const names[] = { "\\Draft", "\\Flagged", "$Forwarded", "\\Answered", "\\Seen", "\\Deleted" };
	size_t i;
	int k;

	for (i = 0; i < 6; i++)
		if (strlen(names[i]) == n && strncasecmp(names[i], p, n) == 0) { *fl |= 1u << i; return 1; }
	if (n == 7 && strncasecmp(p, "\\Recent", 7) == 0) return 1;
	if (!n || p[0] == '\\') return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c)) return 0;
	}
	k = folder_keyword(f, p, n, create);
	if (k >= 0) *fl |= F_KW(k);
	/* a keyword past the 25 letters a-y: said, never dropped in silence */
	else if (create) return PARSE_FLAG_LIMIT;
	return 1;
}

size_t folder_unseen(const struct folder *f)
{
	size_t i, u = 0;
	for (i = 0; i < f->n; i++) if (!(f->m[i].flags & F_SEEN)) u++;
	return u;
}

/* the Maildir protocol, first half: a tmp/ file, written and fsynced;
 * name gets its base name (with ,S= and ,W= sizes) */
int folder_deliver_tmp(const char *dir, const char *data, size_t n, int64_t idate, str *name)
{
	str tmp = STR_ZERO, id = STR_ZERO;
	int fd, ok = 0;
	size_t i, bare = 0;

	if (!uniq_make(&id)) return 0;
	for (i = 0; i < n; i++) if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) bare++;
	str_appends(&id, ",S="); str_appendu(&id, n);
	str_appends(&id, ",W="); str_appendu(&id, n + bare);
	str_copy(name, id.s, id.len);
	str_copys(&tmp, dir); str_appends(&tmp, "tmp/"); str_append(&tmp, id.s, id.len);
	if (!str_0(&tmp) || !str_0(name)) goto out;
	fd = open(tmp.s, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) goto out;
	if (!fd_writeall(fd, data, n, -1) || fsync(fd) < 0) { close(fd); unlink(tmp.s); goto out; }
	if (idate > 0) {
		struct timespec ts[2];
		ts[0].tv_sec = ts[1].tv_sec = (time_t)idate;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		futimens(fd, ts);
	}
	close(fd);
	ok = 1;
out:
	str_free(&tmp); str_free(&id);
	return ok;
}

/* the second half, for APPEND: under the lock, with the view made current
 * first, rename each tmp/ file into cur/ with its flags, fsync cur/, and
 * give the messages UIDs at once: the session knows the names it made, so
 * cur/ is not read again, and no other session can give them UIDs between
 * the rename and ours. All or nothing: on failure every file is removed. */
int folder_append_tmp(struct sess *s, struct folder *f, int takenew, int report,
                      const str *bases, const uint32_t *flags, str *uids)
{
	str from = STR_ZERO, to = STR_ZERO;
	size_t j, k, done = 0, nb = 0;
	int lk, own, ok = 0;

	for (j = 0; j < bases->len; j += strlen(bases->s + j) + 1) nb++;
	lk = folder_lock(f);
	if (lk < 0) goto out;
	if (!sync_locked(s, f, takenew, report)) goto out;
	if ((unsigned long long)f->uidnext + nb > 0xffffffffULL) { errno = EOVERFLOW; goto out; }
	own = folder_own_begin(f);
	for (j = k = 0; j < bases->len; j += strlen(bases->s + j) + 1, k++) {
		const char *b = bases->s + j;
		str_copy(&from, f->path.s, f->path.len); str_appends(&from, "tmp/"); str_appends(&from, b);
		str_copy(&to, f->path.s, f->path.len); str_appends(&to, "cur/"); str_appends(&to, b);
		str_appends(&to, ":2,"); flags_letters(flags[k] & ~F_RECENT, &to);
		if (!str_0(&from) || !str_0(&to) || rename(from.s, to.s) < 0) break;
		done++;
	}
	if (done < nb || !fsx_syncdir_of(to.s)) {
		int e = errno;
		/* undo: what went into cur/, and what still waits in tmp/ */
		for (j = k = 0; j < bases->len; j += strlen(bases->s + j) + 1, k++) {
			const char *b = bases->s + j;
			str_copy(&from, f->path.s, f->path.len);
			if (k < done) {
				str_appends(&from, "cur/"); str_appends(&from, b);
				str_appends(&from, ":2,"); flags_letters(flags[k] & ~F_RECENT, &from);
			} else { str_appends(&from, "tmp/"); str_appends(&from, b); }
			if (str_0(&from)) unlink(from.s);
		}
		folder_own_end(f, 0);
		errno = e;
		goto out;
	}
	folder_own_end(f, own);
	for (j = k = 0; j < bases->len; j += strlen(bases->s + j) + 1, k++) {
		const char *b = bases->s + j;
		struct mlist l = { f->m, f->n, f->cap, f->names };
		struct msg *m = ml_add(&l, b, strlen(b));
		unsigned long long w;
		f->m = l.m; f->n = l.n; f->cap = l.cap; f->names = l.names;
		if (!m) { errno = ENOMEM; goto out; }   /* in cur/ and durable: the next sync gives the UID */
		m->uid = f->uidnext++;
		m->flags = flags[k] & ~F_RECENT;
		m->modseq = ++f->highestmodseq;
		m->hasinfo = 1;
		if (name_field(b, strlen(b), 'W', &w)) m->size = w;
		msg_dirty(f, m);
		if (uids->len) str_appendc(uids, ',');
		str_appendu(uids, m->uid);
	}
	f->uidsnew = 1;
	/* the UIDs are told to the client only once they are on disk */
	ok = idx_save(f, 1);
out:
	if (lk >= 0) folder_unlock(lk);
	str_free(&from); str_free(&to);
	return ok;
}

/* the Maildir protocol: tmp/ name, write, fsync, rename into cur/ with
 * the flags, fsync the directory. name gets the base name. */
int folder_deliver(struct sess *s, const char *dir, const char *data, size_t n,
                   uint32_t flags, int64_t idate, str *name)
{
	str tmp = STR_ZERO, dst = STR_ZERO;
	int ok = 0;

	(void)s;
	if (!folder_deliver_tmp(dir, data, n, idate, name)) return 0;
	str_copys(&tmp, dir); str_appends(&tmp, "tmp/"); str_append(&tmp, name->s, name->len); str_0(&tmp);
	str_copys(&dst, dir); str_appends(&dst, "cur/"); str_append(&dst, name->s, name->len);
	str_appends(&dst, ":2,"); flags_letters(flags & ~F_RECENT, &dst);
	if (!str_0(&dst)) { unlink(tmp.s); goto out; }
	if (rename(tmp.s, dst.s) < 0) { unlink(tmp.s); goto out; }
	str_copys(&tmp, dir); str_appends(&tmp, "cur"); str_0(&tmp);
	fsx_syncdir(tmp.s);
	ok = 1;
out:
	str_free(&tmp); str_free(&dst);
	return ok;
}
