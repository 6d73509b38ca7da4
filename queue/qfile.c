/* qfile.c: queue file formats and helpers (see qfile.h). Parses files that
 * only facteur's programs write, but defensively: lengths are checked and a
 * malformed file is an error. Runs as `facteur`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "exitcodes.h"
#include "fmt.h"
#include "fsx.h"
#include "qfile.h"
#include "scan.h"
#include "sysdep.h"

int qaddr_ok(const char *s, size_t n)
{
	size_t i;

	if (n > QUEUE_ADDR_MAX) return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) return 0;
	}
	return 1;
}

int envscan_feed(struct envscan *e, const char *s, size_t n)
{
	while (e->stage != 2) {
		const char *z;
		size_t flen;

		if (e->pos >= n) return 0;
		if (e->stage == 1 && s[e->pos] == 0) {
			if (e->nrcpt == 0) return QQ_ENVELOPE;
			e->pos++;
			e->stage = 2;
			break;
		}
		if (s[e->pos] != (e->stage == 0 ? 'F' : 'T')) return QQ_ENVELOPE;
		z = memchr(s + e->pos, 0, n - e->pos);
		if (!z) {
			/* an address cannot be longer than this: stop reading early */
			if (n - e->pos - 1 > QUEUE_ADDR_MAX) return QQ_ADDR_TOOLONG;
			return 0;
		}
		flen = (size_t)(z - (s + e->pos));
		if (flen - 1 > QUEUE_ADDR_MAX) return QQ_ADDR_TOOLONG;
		if (!qaddr_ok(s + e->pos + 1, flen - 1)) return QQ_ENVELOPE;
		if (e->stage == 1) {
			if (flen == 1) return QQ_ENVELOPE;   /* empty recipient */
			if (++e->nrcpt > QUEUE_RCPT_MAX) return QQ_ENVELOPE;
		}
		e->pos += flen + 1;
		e->stage = 1;
	}
	return 1;
}

static void rcpt_free(struct qrcpt *r)
{
	str_free(&r->addr);
	str_free(&r->reason);
}

void qinfo_free(struct qinfo *q)
{
	size_t i;

	for (i = 0; i < q->nr; i++) rcpt_free(&q->r[i]);
	free(q->r);
	q->r = 0;
	q->nr = 0;
	str_free(&q->sender);
}

static struct qrcpt *rcpt_add(struct qinfo *q)
{
	struct qrcpt *r;

	if (q->nr >= QUEUE_RCPT_MAX) { errno = EINVAL; return 0; }
	r = realloc(q->r, (q->nr + 1) * sizeof *r);
	if (!r) { errno = ENOMEM; return 0; }
	q->r = r;
	r = &q->r[q->nr++];
	memset(r, 0, sizeof *r);
	r->state = RS_PENDING;
	return r;
}

int qinfo_from_envelope(struct qinfo *q, const char *s, size_t n,
                        unsigned long long queued)
{
	struct envscan e = { 0, 0, 0 };
	size_t i;

	memset(q, 0, sizeof *q);
	if (envscan_feed(&e, s, n) != 1 || e.pos != n) { errno = EINVAL; return 0; }
	q->queued = queued;
	if (!str_copys(&q->sender, s + 1)) return 0;
	for (i = strlen(s) + 1; s[i]; i += strlen(s + i) + 1) {
		struct qrcpt *r;
		size_t k, len = strlen(s + i + 1);
		/* the same address twice (To and Cc of sendmail -t, a client
		 * repeating RCPT) is delivered once */
		for (k = 0; k < q->nr; k++)
			if (q->r[k].addr.len == len && memcmp(q->r[k].addr.s, s + i + 1, len) == 0) break;
		if (k < q->nr) continue;
		r = rcpt_add(q);
		if (!r || !str_copy(&r->addr, s + i + 1, len)) { qinfo_free(q); return 0; }
		r->next = queued;
	}
	return 1;
}

/* one NUL-terminated field at s[*p..n); 0 when there is none */
static const char *field(const char *s, size_t n, size_t *p, size_t *len)
{
	const char *z;

	if (*p >= n) return 0;
	z = memchr(s + *p, 0, n - *p);
	if (!z) return 0;
	*len = (size_t)(z - (s + *p));
	s += *p;
	*p += *len + 1;
	return s;
}

static int number(const char **f, size_t *len, unsigned long long *v)
{
	size_t k = scan_ulong(*f, *len, v);

	if (!k || k >= *len || (*f)[k] != ' ') return 0;
	*f += k + 1;
	*len -= k + 1;
	return 1;
}

int qinfo_parse(struct qinfo *q, const char *s, size_t n)
{
	size_t p = 0, len;
	const char *f;
	unsigned long long v;

	memset(q, 0, sizeof *q);
	f = field(s, n, &p, &len);
	if (!f || len != 2 || memcmp(f, "V1", 2) != 0) goto bad;
	f = field(s, n, &p, &len);
	if (!f || len < 2 || f[0] != 'Q' || scan_ulong(f + 1, len - 1, &q->queued) != len - 1)
		goto bad;
	f = field(s, n, &p, &len);
	if (!f || len < 1 || f[0] != 'S' || !qaddr_ok(f + 1, len - 1)) goto bad;
	if (!str_copy(&q->sender, f + 1, len - 1)) goto nomem;
	if (p + 1 < n && s[p] == 'W' && s[p + 1] == 0) { q->warned = 1; p += 2; }
	while (p < n) {
		struct qrcpt *r;
		char st;

		f = field(s, n, &p, &len);
		if (!f || len < 3 || f[0] != 'R' || f[2] != ' ') goto bad;
		st = f[1];
		if (st != RS_PENDING && st != RS_DONE && st != RS_FAILED && st != RS_BOUNCED)
			goto bad;
		f += 3;
		len -= 3;
		if (!(r = rcpt_add(q))) goto bad;
		r->state = st;
		if (!number(&f, &len, &v) || v > 1000000) goto bad;
		r->tries = (unsigned)v;
		if (!number(&f, &len, &r->next)) goto bad;
		if (len == 0 || !qaddr_ok(f, len)) goto bad;
		if (!str_copy(&r->addr, f, len)) goto nomem;
		f = field(s, n, &p, &len);
		if (!f || len < 1 || f[0] != 'E' || len - 1 > QUEUE_REASON_MAX) goto bad;
		if (!str_copy(&r->reason, f + 1, len - 1)) goto nomem;
	}
	if (q->nr == 0) goto bad;
	return 1;
bad:
	qinfo_free(q);
	errno = EINVAL;
	return 0;
nomem:
	qinfo_free(q);
	errno = ENOMEM;
	return 0;
}

int qinfo_format(const struct qinfo *q, str *out)
{
	size_t i;

	str_clear(out);
	if (!str_append(out, "V1", 3) || !str_appendc(out, 'Q') ||
	    !str_appendu(out, q->queued) || !str_appendc(out, 0) ||
	    !str_appendc(out, 'S') || !str_append(out, q->sender.s, q->sender.len) ||
	    !str_appendc(out, 0)) return 0;
	if (q->warned && !str_append(out, "W", 2)) return 0;
	for (i = 0; i < q->nr; i++) {
		const struct qrcpt *r = &q->r[i];
		if (!str_appendc(out, 'R') || !str_appendc(out, r->state) ||
		    !str_appendc(out, ' ') || !str_appendu(out, r->tries) ||
		    !str_appendc(out, ' ') || !str_appendu(out, r->next) ||
		    !str_appendc(out, ' ') || !str_append(out, r->addr.s, r->addr.len) ||
		    !str_appendc(out, 0) || !str_appendc(out, 'E') ||
		    !str_append(out, r->reason.s, r->reason.len) || !str_appendc(out, 0))
			return 0;
	}
	return 1;
}

int qpath(str *out, const char *dir, const char *id, const char *suffix)
{
	return str_copys(out, dir) && str_appendc(out, '/') && str_appends(out, id) &&
	       str_appends(out, suffix ? suffix : "") && str_0(out);
}

/* the whole of a small queue file, bounded; 1 ok, 0 missing, -1 error */
static int slurp(const char *path, str *out, size_t max)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char b[8192];

	str_clear(out);
	if (fd < 0) return errno == ENOENT ? 0 : -1;
	for (;;) {
		ssize_t r = read(fd, b, sizeof b);
		if (r < 0) { if (errno == EINTR) continue; close(fd); return -1; }
		if (r == 0) break;
		if (out->len + (size_t)r > max) { close(fd); errno = EFBIG; return -1; }
		if (!str_append(out, b, (size_t)r)) { close(fd); return -1; }
	}
	close(fd);
	return 1;
}

/* an info file holds the envelope plus per-recipient numbers and reasons */
#define QINFO_FILE_MAX (QUEUE_ENVELOPE_MAX + (size_t)QUEUE_RCPT_MAX * (QUEUE_REASON_MAX + 64))

int qinfo_read(const char *id, struct qinfo *q)
{
	str p = STR_ZERO, c = STR_ZERO;
	int r;

	if (!qpath(&p, QDIR_INFO, id, 0)) return -1;
	r = slurp(p.s, &c, QINFO_FILE_MAX);
	if (r == 1 && !qinfo_parse(q, c.s, c.len)) r = -1;
	str_free(&p);
	str_free(&c);
	return r;
}

#define QH_P1 0x9E3779B185EBCA87ULL
#define QH_P2 0xC2B2AE3D27D4EB4FULL
#define QH_P3 0x165667B19E3779F9ULL
#define QH_P5 0x27D4EB2F165667C5ULL

static unsigned long long rotl64(unsigned long long x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static unsigned long long qh_round(unsigned long long acc, const unsigned char *b)
{
	unsigned long long w = 0;
	int i;

	for (i = 7; i >= 0; i--) w = (w << 8) | b[i];   /* little-endian, any machine */
	return rotl64(acc + w * QH_P2, 31) * QH_P1;
}

void qhash_init(struct qhash *h)
{
	memset(h, 0, sizeof *h);
	h->acc = QH_P5;
}

void qhash_add(struct qhash *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	h->len += n;
	while (n && h->nt) {
		h->t[h->nt++] = *b++;
		n--;
		if (h->nt == 8) { h->acc = qh_round(h->acc, h->t); h->nt = 0; }
	}
	for (; n >= 8; b += 8, n -= 8) h->acc = qh_round(h->acc, b);
	memcpy(h->t + h->nt, b, n);
	h->nt += (unsigned)n;
}

unsigned long long qhash_end(const struct qhash *h)
{
	unsigned long long a = h->acc ^ (h->len * QH_P3);
	unsigned i;

	for (i = 0; i < h->nt; i++) a = rotl64(a ^ (h->t[i] * QH_P5), 11) * QH_P1;
	a ^= a >> 33;
	a *= QH_P2;
	a ^= a >> 29;
	a *= QH_P3;
	a ^= a >> 32;
	return a;
}

static unsigned long long hash_of(const char *s, size_t n)
{
	struct qhash h;

	qhash_init(&h);
	qhash_add(&h, s, n);
	return qhash_end(&h);
}

static int append_hex16(str *o, unsigned long long v)
{
	char x[16];
	int i;

	for (i = 15; i >= 0; i--, v >>= 4) x[i] = "0123456789abcdef"[v & 15];
	return str_append(o, x, 16);
}

int qcommit_append(str *env, const char *id, unsigned long long size, unsigned long long mhash)
{
	unsigned long long eh = hash_of(env->s, env->len);

	return str_appendc(env, 'Z') && str_appends(env, id) && str_appendc(env, ':') &&
	       str_appendu(env, size) && str_appendc(env, ':') && append_hex16(env, mhash) &&
	       str_appendc(env, ':') && append_hex16(env, eh) && str_appendc(env, 0);
}

static int parse_hex16(const char *s, unsigned long long *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 16; i++) {
		int c = s[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0) return 0;
		*v = (*v << 4) | (unsigned)d;
	}
	return 1;
}

/* c: todo/ID's bytes. The envelope's length in *envlen; 1 with a record
 * that names id and matches the envelope (*size, *mhash set), -2 a
 * record missing, cut short or not matching (a torn file), -1 no
 * envelope at all (malformed: kept for the admin) */
static int commit_check(const char *id, const char *c, size_t n, size_t *envlen,
                        unsigned long long *size, unsigned long long *mhash)
{
	struct envscan e = { 0, 0, 0 };
	size_t idlen = strlen(id), k;
	unsigned long long eh, v = 0;
	const char *z;

	if (envscan_feed(&e, c, n) != 1) return -1;
	*envlen = e.pos;
	/* no record: not a committed message (qfile.h) */
	if (e.pos == n) return -2;
	z = c + e.pos;
	k = n - e.pos;
	/* "Z" id ":" digits ":" 16 ":" 16 NUL, and nothing after it */
	if (k < 1 + idlen + 1 + 1 + 1 + 16 + 1 + 16 + 1 || z[0] != 'Z' || c[n - 1] != 0 ||
	    memcmp(z + 1, id, idlen) != 0 || z[1 + idlen] != ':') return -2;
	z += 2 + idlen;
	if (*z < '0' || *z > '9') return -2;
	for (; *z >= '0' && *z <= '9'; z++) {
		if (v > (~0ULL - 9) / 10) return -2;
		v = v * 10 + (unsigned)(*z - '0');
	}
	if ((size_t)(c + n - z) != 1 + 16 + 1 + 16 + 1 || z[0] != ':' || z[17] != ':' ||
	    !parse_hex16(z + 1, mhash) || !parse_hex16(z + 18, &eh)) return -2;
	if (eh != hash_of(c, e.pos)) return -2;
	*size = v;
	return 1;
}

/* mess/ID's bytes into h: 1 done, 0 gone, -1 error (errno; EINVAL: not a
 * regular file) */
static int hash_message(const char *id, struct qhash *h)
{
	str p = STR_ZERO;
	struct stat st;
	char b[65536];
	int fd, r = -1;

	if (!qpath(&p, QDIR_MESS, id, 0)) return -1;
	/* O_NONBLOCK: a FIFO planted there must not hang facteur-send */
	fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	str_free(&p);
	if (fd < 0) return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) != 0) goto out;
	if (!S_ISREG(st.st_mode)) { errno = EINVAL; goto out; }
	qhash_init(h);
	for (;;) {
		ssize_t k = read(fd, b, sizeof b);
		if (k < 0 && errno == EINTR) continue;
		if (k < 0) goto out;
		if (k == 0) break;
		qhash_add(h, b, (size_t)k);
	}
	r = 1;
out:
	{
		int e = errno;
		close(fd);
		errno = e;
	}
	return r;
}

/* a record for todo/ID when it is an envelope and nothing more: 1 added,
 * 0 nothing to do (a record or anything else after the envelope, no
 * envelope, no mess/ID), -1 error */
static int record_add(const char *id)
{
	str p = STR_ZERO, c = STR_ZERO, t = STR_ZERO;
	struct envscan e = { 0, 0, 0 };
	struct qhash h;
	int r = -1;

	if (!qpath(&p, QDIR_TODO, id, 0) || !qpath(&t, QDIR_TMP, id, ".up")) goto out;
	r = slurp(p.s, &c, QUEUE_ENVELOPE_MAX);
	if (r <= 0) { r = r == 0 || errno == EFBIG ? 0 : -1; goto out; }
	r = 0;
	if (envscan_feed(&e, c.s, c.len) != 1 || e.pos != c.len) goto out;
	/* a mess/ID gone, or not a regular file: left to the scans */
	r = hash_message(id, &h);
	if (r <= 0) { if (r < 0 && errno == EINVAL) r = 0; goto out; }
	r = -1;
	str_clear(&p);
	unlink(t.s);
	if (!qcommit_append(&c, id, h.len, qhash_end(&h)) || !qpath(&p, QDIR_TODO, id, 0) ||
	    !qfile_writenew(t.s, c.s, c.len)) goto out;
	if (rename(t.s, p.s) != 0) { unlink(t.s); goto out; }
	r = 1;
out:
	{
		int er = errno;
		str_free(&p);
		str_free(&c);
		str_free(&t);
		errno = er;
	}
	return r;
}

int qqueue_upgrade(unsigned long *added)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int ok = 1;

	*added = 0;
	if (lstat(QVERSION, &st) == 0) return 1;
	if (errno != ENOENT) return 0;
	d = opendir(QDIR_TODO);
	if (!d) return 0;
	while ((e = readdir(d)) != 0) {
		int r;
		if (!qid_ok(e->d_name)) continue;
		r = record_add(e->d_name);
		if (r < 0) { ok = 0; break; }
		*added += (unsigned long)r;
	}
	{
		int er = errno;
		closedir(d);
		errno = er;
	}
	if (!ok) return 0;
	if (*added && !fsx_syncdir(QDIR_TODO)) return 0;
	return fsx_replacefile(QVERSION, "2\n", 2, 0600);
}

/* mess/ID against its record: 1 the same, 0 gone, -1 unreadable, -2 not it */
static int message_check(const char *id, unsigned long long size, unsigned long long mhash)
{
	struct qhash h;
	int r = hash_message(id, &h);

	if (r <= 0) return r;
	return h.len == size && qhash_end(&h) == mhash ? 1 : -2;
}

int qtodo_read(const char *id, struct qinfo *q, unsigned long long queued, int verify)
{
	str p = STR_ZERO, c = STR_ZERO;
	unsigned long long size = 0, mhash = 0;
	size_t envlen = 0;
	int r;

	if (!qpath(&p, QDIR_TODO, id, 0)) return -1;
	/* the envelope and its commit record */
	r = slurp(p.s, &c, QUEUE_ENVELOPE_MAX + QUEUE_ADDR_MAX);
	if (r == 1) {
		int k = commit_check(id, c.s, c.len, &envlen, &size, &mhash);
		if (k == -1) { errno = EINVAL; r = -1; }
		else if (k == -2) r = -2;
		else if (k == 1 && verify) r = message_check(id, size, mhash);
	}
	if (r == 1 && !qinfo_from_envelope(q, c.s, envlen, queued)) r = -1;
	str_free(&p);
	str_free(&c);
	return r;
}

int qinfo_write(const char *id, const struct qinfo *q, int syncdir)
{
	str tmp = STR_ZERO, dst = STR_ZERO, c = STR_ZERO;
	int ok = 0;

	if (qpath(&tmp, QDIR_TMP, id, ".info") && qpath(&dst, QDIR_INFO, id, 0) &&
	    qinfo_format(q, &c)) {
		unlink(tmp.s);
		ok = qfile_writenew(tmp.s, c.s, c.len) && rename(tmp.s, dst.s) == 0 &&
		     (!syncdir || fsx_syncdir(QDIR_INFO));
		if (!ok) { int e = errno; unlink(tmp.s); errno = e; }
	}
	str_free(&tmp);
	str_free(&dst);
	str_free(&c);
	return ok;
}

int qsync_fs(void)
{
	int fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), ok;

	/* one syncfs writes back everything the queue changed, and waits for
	 * it (with its errors reported since Linux 5.8) */
	if (fd < 0) return 0;
	ok = syncfs(fd) == 0;
	if (!ok) { int e = errno; close(fd); errno = e; return 0; }
	close(fd);
	return 1;
}

void qreason_clean(str *r)
{
	size_t i;

	while (r->len && (r->s[r->len - 1] == '\n' || r->s[r->len - 1] == '\r' ||
	                  r->s[r->len - 1] == ' '))
		r->len--;
	if (r->len > QUEUE_REASON_MAX) r->len = QUEUE_REASON_MAX;
	for (i = 0; i < r->len; i++) {
		unsigned char c = (unsigned char)r->s[i];
		if (c < 0x20 || c >= 0x7f) r->s[i] = '?';
	}
	if (r->s) r->s[r->len] = 0;   /* callers log it as a C string */
}

static int executable(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int qprog_find(const char *name, const char *envvar, str *out)
{
	const char *e = envvar ? getenv(envvar) : 0;
	char self[4096];
	ssize_t n;

	if (e && *e) return str_copys(out, e) && str_0(out) && executable(out->s);
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		char *slash;
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			if (!str_copy(out, self, (size_t)(slash - self) + 1) ||
			    !str_appends(out, name) || !str_0(out)) return 0;
			if (executable(out->s)) return 1;
		}
	}
	e = getenv("PATH");
	while (e && *e) {
		const char *c = strchr(e, ':');
		size_t l = c ? (size_t)(c - e) : strlen(e);
		if (l) {
			if (!str_copy(out, e, l) || !str_appendc(out, '/') ||
			    !str_appends(out, name) || !str_0(out)) return 0;
			if (executable(out->s)) return 1;
		}
		e = c ? c + 1 : 0;
	}
	return 0;
}

int qtrigger_poke(char c)
{
	int fd = open(QFIFO, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ssize_t w;

	if (fd < 0) return 0;   /* ENXIO: facteur-send is not running */
	w = write(fd, &c, 1);
	close(fd);
	return w == 1;
}

int qid_ok(const char *name)
{
	size_t i;

	if (!name[0] || name[0] == '.') return 0;
	for (i = 0; name[i]; i++) {
		char c = name[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.')) return 0;
		if (i > 100) return 0;
	}
	return 1;
}

int qdirs_make(void)
{
	static const char *const dirs[] = { QDIR_TMP, QDIR_MESS, QDIR_TODO, QDIR_INFO, QDIR_RUN, QDIR_POOL };
	size_t i;

	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (mkdir(dirs[i], 0700) != 0 && errno != EEXIST) return 0;
	return 1;
}

/* How many parked names one qfile_open_new tries before it allocates, and
 * how many free names qpool_publish tries before it frees an inode. The
 * taker probes names at random (no readdir: reading a hashed directory of
 * a thousand names cost more than the rename it finds), so the pool's
 * occupancy settles where a take rarely misses QPOOL_TRIES times in a row
 * and a publish rarely finds QPOOL_PROBES names taken: around half full. */
#define QPOOL_TRIES 16
#define QPOOL_PROBES 8

/* Two classes of parked files, by the blocks they hold: pool/bN held more
 * than one block (QPOOL_BIG_MIN bytes: most messages), pool/pN one or none
 * (envelopes, state and run files, small messages). A message written into
 * a big one reuses its blocks, an envelope cut out of it would free them
 * (and a message written into a small one allocate): both cost metadata
 * writes, and with -o discard a discard request. */
static int pool_name(char *out, size_t size, unsigned long k, char cls)
{
	char num[FMT_ULONG];
	size_t n = fmt_ulong(num, k % QPOOL_MAX);

	if (sizeof QDIR_POOL + 2 + n > size) return 0;
	memcpy(out, QDIR_POOL "/p", sizeof QDIR_POOL + 1);
	out[sizeof QDIR_POOL] = cls;
	memcpy(out + sizeof QDIR_POOL + 1, num, n);
	out[sizeof QDIR_POOL + 1 + n] = 0;
	return 1;
}

/* a small generator for the probes: concurrent takers must not all try
 * the same names in the same order */
static unsigned long pool_rand(void)
{
	static unsigned long x;

	if (!x) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = ((unsigned long)getpid() << 20) ^ (unsigned long)ts.tv_nsec ^ 0x9e3779b97f4a7c15ul;
		if (!x) x = 1;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/* a parked inode moved to path and opened; -1 when none could be had,
 * -2 when path exists (RENAME_NOREPLACE said so). Not emptied: it may
 * hold an old queue file's bytes, and its writer sets its length. */
static int pool_take(const char *path, int oflags, char cls)
{
	char src[sizeof QDIR_POOL + 2 + FMT_ULONG];
	int tries, fd = -1;
	uid_t me = geteuid();

	for (tries = 0; fd < 0 && tries < QPOOL_TRIES; tries++) {
		struct stat st;

		/* the other class for the last few probes */
		if (!pool_name(src, sizeof src, pool_rand() >> 16,
		               tries < QPOOL_TRIES - 4 ? cls : cls == 'b' ? 'p' : 'b')) return -1;
		if (sys_renameat2(AT_FDCWD, src, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
			if (errno == EEXIST) return -2;
			if (errno == ENOENT) continue;      /* a free name, or taken */
			return -1;                          /* EINVAL, ENOSYS: no renameat2 here */
		}
		/* only facteur writes the queue, but a parked name is still
		 * checked once it is ours: a regular file of ours with one link,
		 * or it goes (never followed, never written through another
		 * link; a directory or a FIFO is never opened for writing) */
		if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
		if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_uid != me && me != 0)) {
			unlinkat(AT_FDCWD, path, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
			continue;
		}
		fd = open(path, (oflags & O_ACCMODE) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
		                (st.st_uid != me && me != 0) ||
		                ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0))) {
			close(fd);
			fd = -1;
		}
		if (fd < 0) unlink(path);
	}
	return fd;
}

static int open_new(const char *path, int oflags, char cls)
{
	int fd = pool_take(path, oflags, cls);

	if (fd >= 0) {
		/* O_NONBLOCK was only for the check: clear it */
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		return fd;
	}
	if (fd == -2 && (oflags & O_EXCL)) { errno = EEXIST; return -1; }
	return open(path, oflags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

int qfile_open_new(const char *path, int oflags)
{
	return open_new(path, oflags, 'p');
}

int qfile_open_message(const char *path, int oflags)
{
	return open_new(path, oflags, 'b');
}

/* the held names of this process: pool/.h<pid>.<k> for k in
 * [held_pub, held_next); see qpool_publish */
static unsigned long held_pub, held_next;

static void held_name(char *out, size_t size, unsigned long k)
{
	size_t n = sizeof QDIR_POOL + 2;

	memcpy(out, QDIR_POOL "/.h", n);
	n += fmt_ulong(out + n, (unsigned long)getpid());
	out[n++] = '.';
	n += fmt_ulong(out + n, k);
	out[n] = 0;
	(void)size;
}

int qfile_discard(const char *path)
{
	char hold[QPOOL_HELD_MAX];
	struct stat st;

	/* only a regular file of one link is parked */
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
		return unlink(path);
	/* The rename is the removal, as atomic as unlink: a process killed
	 * at any point leaves the whole file at path or none there. It goes
	 * to a held name that takers ignore: only qpool_publish, once the
	 * removal of the old name is on disk, lets takers have it (else a
	 * power failure could bring the old name back, pointing at the new
	 * contents). It is not emptied: freeing its blocks, and the next
	 * writer allocating them again, cost more than the rest of the
	 * reuse (with -o discard, each free is a discard request); the
	 * taker writes over the old bytes and sets the length itself. */
	held_name(hold, sizeof hold, held_next);
	if (rename(path, hold) != 0) return unlink(path);
	held_next++;
	return 0;
}

unsigned long qpool_mark(void)
{
	return held_next;
}

unsigned long qpool_held(void)
{
	return held_next - held_pub;
}

void qpool_publish(unsigned long upto)
{
	static unsigned long next;
	char hold[QPOOL_HELD_MAX], dst[sizeof QDIR_POOL + 2 + FMT_ULONG];

	if (!next) next = (unsigned long)getpid() * 2654435761u;
	for (; held_pub < upto && held_pub < held_next; held_pub++) {
		int i, done = 0;
		struct stat st;
		char cls;

		held_name(hold, sizeof hold, held_pub);
		if (lstat(hold, &st) != 0) continue;
		cls = st.st_size >= QPOOL_BIG_MIN ? 'b' : 'p';
		for (i = 0; i < QPOOL_PROBES && !done; i++) {
			if (!pool_name(dst, sizeof dst, next++, cls)) break;
			if (sys_renameat2(AT_FDCWD, hold, AT_FDCWD, dst, RENAME_NOREPLACE) == 0) done = 1;
			else if (errno != EEXIST) break;     /* no renameat2 */
		}
		if (!done) unlink(hold);
	}
}

void qpool_sweep(void)
{
	char p[sizeof QDIR_POOL + 1 + 256];
	DIR *d = opendir(QDIR_POOL);
	struct dirent *e;

	uid_t me = geteuid();

	if (!d) return;
	while ((e = readdir(d)) != 0) {
		size_t n = strlen(e->d_name);
		struct stat st;
		if (n > 255 || (e->d_name[0] == '.' && (n == 1 || (n == 2 && e->d_name[1] == '.')))) continue;
		memcpy(p, QDIR_POOL "/", sizeof QDIR_POOL);
		memcpy(p + sizeof QDIR_POOL, e->d_name, n + 1);
		if (e->d_name[0] == '.' && e->d_name[1] == 'h') { unlink(p); continue; }
		/* a parked name that no taker would accept goes too (takers
		 * probe at random, so one might never meet it) */
		if (lstat(p, &st) != 0) continue;
		if ((e->d_name[0] != 'p' && e->d_name[0] != 'b') || !S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_uid != me && me != 0))
			(void)unlinkat(AT_FDCWD, p, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
	}
	closedir(d);
}

int qfile_writenew(const char *path, const void *data, size_t n)
{
	int fd = qfile_open_new(path, O_WRONLY | O_EXCL);

	/* a reused inode may be longer: its length first (only a longer
	 * one's tail is freed), then the bytes over the old ones */
	if (fd >= 0 && ftruncate(fd, (off_t)n) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		errno = e;
		return 0;
	}
	return fsx_writefd(fd, path, data, n);
}
