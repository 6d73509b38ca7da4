/* tap.h: tiny TAP producer for the C unit tests. */
#ifndef FACTEUR_TAP_H
#define FACTEUR_TAP_H
#include <stdio.h>
static int tap_n, tap_failed;
#define OK(cond, name) do { tap_n++; if (cond) printf("ok %d - %s\n", tap_n, name); \
	else { tap_failed++; printf("not ok %d - %s (%s:%d)\n", tap_n, name, __FILE__, __LINE__); } } while (0)
#define DONE() do { printf("1..%d\n", tap_n); return tap_failed ? 1 : 0; } while (0)
#endif
