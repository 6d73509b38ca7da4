/* fmt.h: formatting without sprintf: numbers, RFC 5322 dates, unique ids. */
#ifndef FACTEUR_FMT_H
#define FACTEUR_FMT_H
#include <stddef.h>
#include <time.h>
#include "str.h"

#define FMT_ULONG 24
#define FMT_DATE  48

size_t fmt_ulong(char *buf, unsigned long long u);     /* no NUL; returns length */
size_t fmt_xlong(char *buf, unsigned long long u);     /* lowercase hex */
/* "Thu, 26 Nov 2026 21:59:24 +0000", NUL-terminated; returns length */
size_t fmt_date822(char buf[FMT_DATE], time_t t);
/* an id unique across processes and hosts' restarts, safe as a file name:
 * SECONDS.MICROS.PID.RANDOMHEX; 1 ok, 0 error */
int uniq_make(str *out);
/* bytes from the kernel's random source; 1 ok */
int random_bytes(void *p, size_t n);

#endif
