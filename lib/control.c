/* control.c: reads the instance's control files. Trusts their owner (the
 * admin) but still bounds their size. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "control.h"
#include "scan.h"

const char *control_home(void)
{
	const char *h = getenv("FACTEUR_HOME");
	return (h && *h) ? h : FACTEUR_HOME_DEFAULT;
}

int control_path(str *out, const char *rel)
{
	if (!str_copys(out, control_home())) return 0;
	if (!str_appendc(out, '/')) return 0;
	if (!str_appends(out, rel)) return 0;
	return 1;
}

int control_readfile(const char *rel, str *out)
{
	str path = STR_ZERO;
	int fd, r = -1;
	char b[4096];

	str_clear(out);
	if (!control_path(&path, rel)) return -1;
	fd = open(path.s, O_RDONLY | O_CLOEXEC);
	str_free(&path);
	if (fd < 0) return errno == ENOENT ? 0 : -1;
	for (;;) {
		ssize_t n = read(fd, b, sizeof b);
		if (n < 0) { if (errno == EINTR) continue; break; }
		if (n == 0) { r = 1; break; }
		if (out->len + (size_t)n > CONTROL_FILE_MAX) { errno = EFBIG; break; }
		if (!str_append(out, b, (size_t)n)) break;
	}
	close(fd);
	if (!str_0(out)) return -1;
	return r;
}

int control_readlines(const char *rel, str *out)
{
	str raw = STR_ZERO;
	size_t i = 0;
	int r = control_readfile(rel, &raw);

	str_clear(out);
	if (r <= 0) { str_free(&raw); return r; }
	while (i < raw.len) {
		size_t j = i, a, z;
		while (j < raw.len && raw.s[j] != '\n') j++;
		a = i; z = j;
		while (a < z && (raw.s[a] == ' ' || raw.s[a] == '\t')) a++;
		while (z > a && (raw.s[z - 1] == ' ' || raw.s[z - 1] == '\t' || raw.s[z - 1] == '\r')) z--;
		if (z > a && raw.s[a] != '#') {
			if (!str_append(out, raw.s + a, z - a) || !str_appendc(out, 0)) {
				str_free(&raw);
				return -1;
			}
		}
		i = j + 1;
	}
	str_free(&raw);
	return 1;
}

int control_readline(const char *rel, str *out)
{
	str lines = STR_ZERO;
	int r = control_readlines(rel, &lines);

	str_clear(out);
	if (r <= 0) { str_free(&lines); return r; }
	if (lines.len == 0) { str_free(&lines); return 0; }
	r = str_copys(out, lines.s) ? 1 : -1;
	str_free(&lines);
	return r;
}

int control_readulong(const char *rel, unsigned long long *out, unsigned long long def)
{
	str v = STR_ZERO;
	int r = control_readline(rel, &v);

	if (r <= 0) { str_free(&v); *out = def; return r; }
	if (scan_ulong(v.s, v.len, out) != v.len) { str_free(&v); errno = EINVAL; return -1; }
	str_free(&v);
	return 1;
}
