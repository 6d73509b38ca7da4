/* scan.h: number parsing that refuses overflow (SIZE=2^64, BDAT 2^63..). */
#ifndef FACTEUR_SCAN_H
#define FACTEUR_SCAN_H
#include <stddef.h>

/* decimal digits at s[0..n); returns how many were used (0: none, or the
 * value does not fit in 64 bits, in which case *out is untouched) */
size_t scan_ulong(const char *s, size_t n, unsigned long long *out);
/* the same but stops at a limit: values above max count as overflow */
size_t scan_ulong_max(const char *s, size_t n, unsigned long long max,
                      unsigned long long *out);

#endif
