/* common.c: the owner of the instance's files, the admin lock, address
 * checks for map entries, and Maildir creation for facteur-users.
 * Runs as root or as a developer on their own instance. Creating Maildirs
 * as root walks with O_NOFOLLOW from mail/ down, so a symbolic link planted
 * by the facteur user (who owns mail/) cannot send root's mkdir and chown
 * elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "addr.h"
#include "admin-internal.h"
#include "control.h"
#include "idna.h"
#include "log.h"
#include "priv.h"
#include "users.h"

int adm_owner_get(struct adm_owner *o)
{
	const char *u = getenv("FACTEUR_USER");
	unsigned uid, gid;

	o->root = geteuid() == 0;
	o->name = (u && *u) ? u : PRIV_USER;
	o->uid = geteuid();
	o->gid = getegid();
	if (!o->root) return 1;
	if (!priv_lookup(o->name, &uid, &gid)) {
		log_line("fatal: no system user ", o->name, " (run facteur-setup as root first)", (char *)0);
		return 0;
	}
	o->uid = (uid_t)uid;
	o->gid = (gid_t)gid;
	return 1;
}

int adm_lock(void)
{
	str p = STR_ZERO;
	int fd;

	if (!control_path(&p, "control/.lock")) { log_line("fatal: out of memory", (char *)0); return 0; }
	fd = open(p.s, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_line("fatal: unable to open ", p.s, ": ", strerror(errno), (char *)0);
		str_free(&p);
		return 0;
	}
	/* blocks: admin runs are short, and tests run many of them at once */
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR) continue;
		log_line("fatal: unable to lock ", p.s, ": ", strerror(errno), (char *)0);
		str_free(&p);
		close(fd);
		return 0;
	}
	str_free(&p);
	return 1;   /* the descriptor stays open until exit: that is the lock */
}

/* a local part that can be a directory name and a map key */
static int local_ok(const char *s, size_t n, int allow_plus, const char **why)
{
	size_t i;

	if (n == 0) { *why = "empty local part"; return 0; }
	if (n > ADDR_LOCAL_MAX) { *why = "local part longer than 64 characters"; return 0; }
	if (s[0] == '.' || s[n - 1] == '.') { *why = "local part starts or ends with '.'"; return 0; }
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' && i + 1 < n && s[i + 1] == '.') { *why = "'..' in local part"; return 0; }
		if (c == '/') { *why = "'/' in local part"; return 0; }
		if (c == '%' || c == '!') { *why = "'%' or '!' in local part (relay tricks)"; return 0; }
		if (c == '+' && !allow_plus) { *why = "'+' in local part (it separates the +tag)"; return 0; }
		if (c != '.' && !addr_atext(c)) { *why = "local part must be a dot-atom of ASCII letters, digits and !#$&'*+-=?^_`{|}~"; return 0; }
	}
	return 1;
}

static int domain_check(const char *s, size_t n, const char **why)
{
	if (n && s[0] == '[') { *why = "address literals are not allowed here"; return 0; }
	if (!addr_domain_ok(s, n, 0)) { *why = "domain is not a valid host name"; return 0; }
	if (memchr(s, '.', n) == 0) { *why = "domain has no dot"; return 0; }
	return 1;
}

static int check(const char *s, size_t n, int allow_bare, int allow_plus, str *out, const char **why)
{
	const char *at = memrchr(s, '@', n);

	if (at && idna_nonascii(at + 1, n - (size_t)(at - s) - 1)) {
		/* user@bücher.example is kept as user@xn--bcher-kva.example,
		 * the form the lookups fall back on (lib/users.c) */
		str d = STR_ZERO, a = STR_ZERO;
		int r;
		if (!idna_to_ascii(at + 1, n - (size_t)(at - s) - 1, &d)) {
			str_free(&d);
			*why = "the domain has no valid A-label (IDNA)";
			return 0;
		}
		r = str_copy(&a, s, (size_t)(at - s) + 1) && str_append(&a, d.s, d.len);
		if (r) r = check(a.s, a.len, allow_bare, allow_plus, out, why);
		else *why = "out of memory";
		str_free(&d);
		str_free(&a);
		return r;
	}
	*why = "address too long";
	if (n > ADDR_PATH_MAX - 2) return 0;
	if (!at) {
		if (!allow_bare) { *why = "no '@domain'"; return 0; }
		if (!local_ok(s, n, allow_plus, why)) return 0;
	} else {
		if (memchr(s, '@', (size_t)(at - s))) { *why = "more than one '@'"; return 0; }
		if (!local_ok(s, (size_t)(at - s), allow_plus, why)) return 0;
		if (!domain_check(at + 1, n - (size_t)(at - s) - 1, why)) return 0;
	}
	if (!str_copy(out, s, n) || !str_0(out)) { *why = "out of memory"; return 0; }
	if (allow_plus && at) {
		/* a target: another system's local part may be case-sensitive
		 * (RFC 5321 2.4), so only the domain is folded */
		size_t i;
		for (i = (size_t)(at - s) + 1; i < out->len; i++)
			if (out->s[i] >= 'A' && out->s[i] <= 'Z') out->s[i] = (char)(out->s[i] + 32);
	} else {
		str_lower(out);
	}
	return 1;
}

int adm_address(const char *s, size_t n, str *out, const char **why)
{
	return check(s, n, 0, 0, out, why);
}

int adm_alias_address(const char *s, size_t n, int allow_bare, str *out, const char **why)
{
	return check(s, n, allow_bare, allow_bare ? 0 : 1, out, why);
}

/* mkdir name in dirfd (no error when it exists), open it without following
 * a link, chown it when we made it; returns the new descriptor or -1 */
static int sub(int dirfd, const char *name, mode_t mode, const struct adm_owner *o)
{
	int made = mkdirat(dirfd, name, mode) == 0;
	int fd;

	if (!made && errno != EEXIST) return -1;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) return -1;
	if (made && o->root && fchown(fd, o->uid, o->gid) != 0) { int e = errno; close(fd); errno = e; return -1; }
	return fd;
}

static int maildir_dirs(int fd, const struct adm_owner *o)
{
	static const char *const d[] = { "cur", "new", "tmp" };
	size_t i;

	for (i = 0; i < 3; i++) {
		int c = sub(fd, d[i], 0700, o);
		if (c < 0) return 0;
		close(c);
	}
	return 1;
}

int adm_make_maildir(const char *addr, size_t n, const struct adm_owner *o, str *path)
{
	static const char *const folders[] = { ".Sent", ".Drafts", ".Trash", ".Junk", ".Archive" };
	const char *at = memrchr(addr, '@', n);
	str p = STR_ZERO, dom = STR_ZERO, loc = STR_ZERO;
	int mfd = -1, dfd = -1, ufd = -1, ok = 0;
	size_t i;

	if (!at) { errno = EINVAL; return 0; }
	if (!users_default_maildir(addr, n, path)) return 0;
	if (!control_path(&p, "mail") || !str_copy(&dom, at + 1, n - (size_t)(at - addr) - 1) ||
	    !str_0(&dom) || !str_copy(&loc, addr, (size_t)(at - addr)) || !str_0(&loc)) goto out;
	str_lower(&dom);
	str_lower(&loc);
	mfd = open(p.s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0) goto out;
	if ((dfd = sub(mfd, dom.s, 0750, o)) < 0) goto out;
	if ((ufd = sub(dfd, loc.s, 0700, o)) < 0) goto out;
	if (!maildir_dirs(ufd, o)) goto out;
	for (i = 0; i < sizeof folders / sizeof folders[0]; i++) {
		int ffd = sub(ufd, folders[i], 0700, o), mf;
		if (ffd < 0) goto out;
		if (!maildir_dirs(ffd, o)) { close(ffd); goto out; }
		/* Maildir++: marks a folder, as Courier and Dovecot expect */
		mf = openat(ffd, "maildirfolder", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (mf >= 0) {
			if (o->root && fchown(mf, o->uid, o->gid) != 0) { close(mf); close(ffd); goto out; }
			close(mf);
		} else if (errno != EEXIST) {
			close(ffd);
			goto out;
		}
		close(ffd);
	}
	ok = 1;
out:
	{
		int e = errno;
		if (ufd >= 0) close(ufd);
		if (dfd >= 0) close(dfd);
		if (mfd >= 0) close(mfd);
		str_free(&p);
		str_free(&dom);
		str_free(&loc);
		errno = e;
	}
	return ok;
}
