/* pemfiles.c: reads control/tls/{cert,key}.pem and DOMAIN/{cert,key}.pem
 * into a blob (pemfiles.h), with the rules of lib/tlsconf.c's
 * tlsconf_server_read, but without linking OpenSSL: facteur-tlsd reads the
 * keys as root and only the exec'd facteur-tlsd-tls parses them. Trusts
 * the instance's control/tls/ files (the admin's); runs as root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "control.h"
#include "pemfiles.h"
#include "tlsconf.h"

static int tls_path(str *out, const char *sub, const char *file)
{
	str_clear(out);
	if (!control_path(out, TLSCONF_DIR)) return 0;
	if (sub && (!str_appendc(out, '/') || !str_appends(out, sub))) return 0;
	if (!str_appendc(out, '/') || !str_appends(out, file)) return 0;
	return str_0(out);
}

int pemfiles_available(void)
{
	str p = STR_ZERO;
	struct stat st;
	int r;

	if (!tls_path(&p, 0, "cert.pem")) return -1;
	r = stat(p.s, &st);
	str_free(&p);
	if (r == 0) return 1;
	return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

static int put_field(str *blob, const char *b, size_t n)
{
	uint32_t len = (uint32_t)n;

	if (n > UINT32_MAX) return 0;
	return str_append(blob, (const char *)&len, sizeof len) && str_append(blob, b, n);
}

/* the whole file as one field of blob, bounded; 1 ok, 0 error */
static int put_file(str *blob, const str *path, str *err)
{
	char b[4096];
	size_t at = blob->len, total = 0;
	uint32_t len = 0;
	int fd = open(path->s, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) goto fail;
	if (!str_append(blob, (const char *)&len, sizeof len)) goto fail_close;
	for (;;) {
		ssize_t n = read(fd, b, sizeof b);
		if (n < 0) { if (errno == EINTR) continue; goto fail_close; }
		if (n == 0) break;
		if (total + (size_t)n > TLSCONF_FILE_MAX) { errno = EFBIG; goto fail_close; }
		if (!str_append(blob, b, (size_t)n)) goto fail_close;
		total += (size_t)n;
	}
	close(fd);
	explicit_bzero(b, sizeof b);
	len = (uint32_t)total;
	memcpy(blob->s + at, &len, sizeof len);
	return 1;
fail_close:
	{ int e = errno; close(fd); errno = e; }
fail:
	explicit_bzero(b, sizeof b);
	str_appends(err, "unable to read ");
	str_appends(err, path->s);
	str_appends(err, ": ");
	str_appends(err, strerror(errno));
	return 0;
}

static int put_pair(str *blob, const char *sub, str *err)
{
	str cp = STR_ZERO, kp = STR_ZERO;
	int ok = 0;

	if (!tls_path(&cp, sub, "cert.pem") || !tls_path(&kp, sub, "key.pem") ||
	    !put_field(blob, sub ? sub : "", sub ? strlen(sub) : 0) ||
	    !put_field(blob, cp.s, cp.len) || !put_field(blob, kp.s, kp.len))
		str_appends(err, "out of memory");
	else
		ok = put_file(blob, &cp, err) && put_file(blob, &kp, err);
	str_free(&cp);
	str_free(&kp);
	return ok;
}

/* the names accepted as per-domain directories: lower-case LDH labels */
static int domain_name_ok(const char *s)
{
	size_t n = strlen(s), i, label = 0;

	if (n == 0 || n > TLSCONF_NAME_MAX || s[0] == '.' || s[n - 1] == '.') return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0) return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (++label > 63) return 0;
	}
	return 1;
}

int pemfiles_read(str *blob, str *err)
{
	str dir = STR_ZERO, probe = STR_ZERO;
	DIR *d;
	struct dirent *e;
	int ok = 1;
	size_t n = 0;

	str_clear(err);
	if (!put_pair(blob, 0, err)) return 0;
	if (!control_path(&dir, TLSCONF_DIR) || !str_0(&dir)) {
		str_appends(err, "out of memory");
		str_free(&dir);
		return 0;
	}
	d = opendir(dir.s);
	if (!d) { str_free(&dir); return 1; }
	while (ok && (e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.' || !domain_name_ok(e->d_name)) continue;
		if (!tls_path(&probe, e->d_name, "cert.pem")) { ok = 0; str_appends(err, "out of memory"); break; }
		if (stat(probe.s, &st) != 0 || !S_ISREG(st.st_mode)) continue;
		if (++n > TLSCONF_SNI_MAX) {
			str_appends(err, "too many per-domain certificates");
			ok = 0;
			break;
		}
		if (!put_pair(blob, e->d_name, err)) ok = 0;
	}
	closedir(d);
	str_free(&dir);
	str_free(&probe);
	return ok;
}
