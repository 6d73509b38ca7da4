/* log.c: safe single-line logging to stderr with one write(2). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"

#define LOG_MAX 2048

static const char *prog = "facteur";

void log_setprog(const char *name) { prog = name; }
const char *log_prog(void) { return prog; }

void log_escape(char *dst, size_t cap, size_t *len, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (*len + 1 >= cap) return;
			dst[(*len)++] = (char)c;
		} else {
			if (*len + 4 >= cap) return;
			dst[(*len)++] = '\\';
			dst[(*len)++] = 'x';
			dst[(*len)++] = hex[c >> 4];
			dst[(*len)++] = hex[c & 15];
		}
	}
}

static void vlog(const char *first, va_list ap, const char *tail)
{
	char line[LOG_MAX];
	size_t len = 0;
	const char *s;

	log_escape(line, sizeof line - 1, &len, prog, strlen(prog));
	log_escape(line, sizeof line - 1, &len, ": ", 2);
	for (s = first; s; s = va_arg(ap, const char *))
		log_escape(line, sizeof line - 1, &len, s, strlen(s));
	if (tail) {
		log_escape(line, sizeof line - 1, &len, ": ", 2);
		log_escape(line, sizeof line - 1, &len, tail, strlen(tail));
	}
	line[len++] = '\n';
	while (write(2, line, len) < 0 && errno == EINTR)
		;
}

void log_line(const char *first, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, first);
	vlog(first, ap, 0);
	va_end(ap);
	errno = e;
}

void log_fatal(int exitcode, const char *first, ...)
{
	va_list ap;

	va_start(ap, first);
	vlog(first, ap, 0);
	va_end(ap);
	_exit(exitcode);
}

void log_fatalsys(int exitcode, const char *first, ...)
{
	va_list ap;
	const char *why = strerror(errno);

	va_start(ap, first);
	vlog(first, ap, why);
	va_end(ap);
	_exit(exitcode);
}
