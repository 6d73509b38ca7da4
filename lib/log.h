/* log.h: one line per event on stderr, "facteur-ROLE: text". Control bytes
 * and non-ASCII from the network are escaped, so a log line is one line. */
#ifndef FACTEUR_LOG_H
#define FACTEUR_LOG_H
#include <stddef.h>

void log_setprog(const char *name);
const char *log_prog(void);
/* strings concatenated, list ends with a null pointer */
void log_line(const char *first, ...) __attribute__((sentinel));
_Noreturn void log_fatal(int exitcode, const char *first, ...) __attribute__((sentinel));
/* like log_fatal, appending ": " and strerror(errno) */
_Noreturn void log_fatalsys(int exitcode, const char *first, ...) __attribute__((sentinel));
/* append bytes to a log line under construction, escaped */
void log_escape(char *dst, size_t cap, size_t *len, const char *s, size_t n);

#endif
