/* str.h: the one growable string type. Lengths are size_t; every growth
 * is checked for overflow and allocation failure (qmail CVE-2005-1513).
 * Functions return 1 on success, 0 on failure with errno set (ENOMEM). */
#ifndef FACTEUR_STR_H
#define FACTEUR_STR_H
#include <stddef.h>

typedef struct {
	char *s;     /* the bytes; s[len] is NUL after str_0 */
	size_t len;  /* bytes used */
	size_t cap;  /* bytes allocated */
} str;

#define STR_ZERO { 0, 0, 0 }

int str_ready(str *x, size_t n);          /* room for n bytes + NUL */
int str_readyplus(str *x, size_t n);      /* room for len + n bytes + NUL */
int str_append(str *x, const void *p, size_t n);
int str_appends(str *x, const char *s);
int str_appendc(str *x, char c);
int str_appendu(str *x, unsigned long long u);
int str_copy(str *x, const void *p, size_t n);
int str_copys(str *x, const char *s);
int str_0(str *x);                        /* NUL after len, len unchanged */
void str_clear(str *x);                   /* len = 0, memory kept */
void str_free(str *x);                    /* wipe nothing, release memory */
void str_wipe(str *x);                    /* zero the bytes then release (secrets) */
void str_lower(str *x);                   /* ASCII lowercase in place */
int str_equals(const str *x, const char *s); /* 1 when bytes equal s exactly */
/* 1 when x, a list of NUL-terminated items, holds s[0..n) as one item */
int str_list_has(const str *x, const char *s, size_t n);
/* the same for a list whose items end in sep (a file of lines: '\n') */
int str_list_has_sep(const str *x, char sep, const char *s, size_t n);

#endif
