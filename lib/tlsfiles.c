/* tlsfiles.c: the certificate directory walk and bounded reads shared by
 * facteur-tlsd (as root, before it drops) and lib/tlsconf.c. Trusts the
 * admin's control/tls/ files, but bounds their size and count. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "control.h"
#include "tlsfiles.h"

int tlsfiles_path(str *out, const char *sub, const char *file)
{
	str_clear(out);
	if (!control_path(out, TLSFILES_DIR)) return 0;
	if (sub && (!str_appendc(out, '/') || !str_appends(out, sub))) return 0;
	if (!str_appendc(out, '/') || !str_appends(out, file)) return 0;
	return str_0(out);
}

int tlsfiles_available(void)
{
	str p = STR_ZERO;
	struct stat st;
	int r;

	if (!tlsfiles_path(&p, 0, "cert.pem")) { str_free(&p); return -1; }
	r = stat(p.s, &st);
	str_free(&p);
	if (r == 0) return 1;
	return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

int tlsfiles_domain_ok(const char *s)
{
	size_t n = strlen(s), i, label = 0;

	if (n == 0 || n > TLSFILES_NAME_MAX || s[0] == '.' || s[n - 1] == '.') return 0;
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

int tlsfiles_read(const char *path, str *out, str *err)
{
	char b[4096];
	size_t total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) goto fail;
	for (;;) {
		ssize_t n = read(fd, b, sizeof b);
		if (n < 0) { if (errno == EINTR) continue; goto fail_close; }
		if (n == 0) break;
		if (total + (size_t)n > TLSFILES_FILE_MAX) { errno = EFBIG; goto fail_close; }
		if (!str_append(out, b, (size_t)n)) goto fail_close;
		total += (size_t)n;
	}
	close(fd);
	explicit_bzero(b, sizeof b);
	return 1;
fail_close:
	{ int e = errno; close(fd); errno = e; }
fail:
	explicit_bzero(b, sizeof b);
	str_appends(err, "unable to read ");
	str_appends(err, path);
	str_appends(err, ": ");
	str_appends(err, strerror(errno));
	return 0;
}

int tlsfiles_each_domain(int (*fn)(void *ctx, const char *domain, str *err),
                         void *ctx, str *err)
{
	str dir = STR_ZERO, probe = STR_ZERO;
	DIR *d;
	struct dirent *e;
	int ok = 1;
	size_t n = 0;

	if (!control_path(&dir, TLSFILES_DIR) || !str_0(&dir)) {
		str_appends(err, "out of memory");
		str_free(&dir);
		return 0;
	}
	d = opendir(dir.s);
	if (!d) { str_free(&dir); return 1; }
	while (ok && (e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.' || !tlsfiles_domain_ok(e->d_name)) continue;
		if (!tlsfiles_path(&probe, e->d_name, "cert.pem")) { ok = 0; str_appends(err, "out of memory"); break; }
		if (stat(probe.s, &st) != 0 || !S_ISREG(st.st_mode)) continue;
		if (++n > TLSFILES_SNI_MAX) {
			str_appends(err, "too many per-domain certificates");
			ok = 0;
			break;
		}
		if (!fn(ctx, e->d_name, err)) ok = 0;
	}
	closedir(d);
	str_free(&dir);
	str_free(&probe);
	return ok;
}
