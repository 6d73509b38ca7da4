/* usermap.c: the user map's text source (control/users, one
 * "address:hash[:maildir]" a line, '#' comments kept) and its compilation
 * into users.cdb. Runs as root or as the instance's developer; the text is
 * the admin's, but every line is checked before anything is written, so a
 * typo never becomes a half-right map. users.cdb holds password hashes: it
 * is made 0640, group facteur, before the first byte goes in. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "admin-internal.h"
#include "cdbmap.h"
#include "control.h"
#include "fsx.h"
#include "fmt.h"
#include "log.h"

#define USERMAP_HASH_MAX 512

int usermap_read(str *text)
{
	int r = control_readfile("control/users", text);

	if (r < 0) {
		log_line("fatal: unable to read control/users: ", strerror(errno), (char *)0);
		return 0;
	}
	if (text->len && text->s[text->len - 1] != '\n' && !str_appendc(text, '\n')) return 0;
	return 1;
}

/* the address field of the line at text[i..e) */
static size_t addr_len(const char *s, size_t n)
{
	const char *c = memchr(s, ':', n);
	return c ? (size_t)(c - s) : n;
}

long usermap_find(const str *text, const char *addr, size_t n)
{
	size_t i = 0;

	while (i < text->len) {
		const char *nl = memchr(text->s + i, '\n', text->len - i);
		size_t e = nl ? (size_t)(nl - text->s) : text->len;
		size_t al = addr_len(text->s + i, e - i);
		if (al == n && al < e - i && memcmp(text->s + i, addr, n) == 0) return (long)i;
		i = e + 1;
	}
	return -1;
}

static void bad_line(unsigned long no, const char *why)
{
	char b[FMT_ULONG + 1];
	b[fmt_ulong(b, no)] = 0;
	log_line("fatal: control/users line ", b, ": ", why, (char *)0);
}

int usermap_commit(const str *text, const struct adm_owner *o, int write_text)
{
	str path = STR_ZERO, key = STR_ZERO, val = STR_ZERO, seen = STR_ZERO;
	struct cdbmap_maker *m = 0;
	unsigned long no = 0;
	size_t i = 0;
	int ok = 0, fd;

	if (!control_path(&path, "control/users.cdb")) goto out;
	m = cdbmap_create(path.s);
	if (!m) { log_line("fatal: unable to create ", path.s, ".tmp: ", strerror(errno), (char *)0); goto out; }
	fd = cdbmap_fd(m);
	if (fchmod(fd, 0640) != 0 || (o->root && fchown(fd, 0, o->gid) != 0)) {
		log_line("fatal: unable to set the mode of ", path.s, ".tmp: ", strerror(errno), (char *)0);
		goto out;
	}
	while (i < text->len) {
		const char *s = text->s + i, *c1, *c2, *why;
		const char *nl = memchr(s, '\n', text->len - i);
		size_t n = nl ? (size_t)(nl - s) : text->len - i, hl, ml;

		i += n + 1;
		no++;
		if (n && s[n - 1] == '\r') n--;
		if (n == 0 || s[0] == '#') continue;
		if (memchr(s, 0, n)) { bad_line(no, "NUL byte"); goto out; }
		c1 = memchr(s, ':', n);
		if (!c1) { bad_line(no, "no ':' (want address:hash[:maildir])"); goto out; }
		if (!adm_address(s, (size_t)(c1 - s), &key, &why)) { bad_line(no, why); goto out; }
		if (key.len != (size_t)(c1 - s) || memcmp(key.s, s, key.len) != 0) {
			bad_line(no, "address not in lowercase");
			goto out;
		}
		c2 = memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - s));
		hl = (size_t)((c2 ? c2 : s + n) - (c1 + 1));
		ml = c2 ? n - (size_t)(c2 + 1 - s) : 0;
		if (hl < 10 || hl > USERMAP_HASH_MAX || memcmp(c1 + 1, "$argon2id$", 10) != 0) {
			bad_line(no, "the hash is not an argon2id string");
			goto out;
		}
		if (ml && c2[1] != '/') { bad_line(no, "the maildir is not an absolute path"); goto out; }
		/* duplicates: keys are NUL-separated in seen */
		{
			size_t j = 0;
			while (j < seen.len) {
				size_t l = strlen(seen.s + j);
				if (l == key.len && memcmp(seen.s + j, key.s, l) == 0) {
					bad_line(no, "address listed twice");
					goto out;
				}
				j += l + 1;
			}
		}
		if (!str_append(&seen, key.s, key.len) || !str_appendc(&seen, 0)) goto nomem;
		if (!str_copy(&val, c1 + 1, hl) || !str_appendc(&val, 0) ||
		    !str_append(&val, ml ? c2 + 1 : "", ml) || !str_appendc(&val, 0)) goto nomem;
		if (!cdbmap_add(m, key.s, key.len, val.s, val.len)) {
			log_line("fatal: unable to write ", path.s, ".tmp: ", strerror(errno), (char *)0);
			goto out;
		}
	}
	/* the text first: it is the source of truth, and the cdb follows it */
	if (write_text) {
		str tp = STR_ZERO;
		int w = control_path(&tp, "control/users") &&
		        fsx_replacefile(tp.s, text->s, text->len, 0600);
		if (!w) log_line("fatal: unable to write control/users: ", strerror(errno), (char *)0);
		str_free(&tp);
		if (!w) goto out;
	}
	if (!cdbmap_commit(m)) {
		m = 0;
		log_line("fatal: unable to write ", path.s, ": ", strerror(errno), (char *)0);
		goto out;
	}
	m = 0;
	ok = 1;
	goto out;
nomem:
	log_line("fatal: out of memory", (char *)0);
out:
	if (m) cdbmap_abort(m);
	str_free(&path);
	str_free(&key);
	str_wipe(&val);
	str_free(&seen);
	return ok;
}
