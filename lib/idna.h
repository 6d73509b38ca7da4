/* idna.h: the ASCII form of a domain name (RFC 5890): every label with
 * bytes over 0x7f becomes its A-label, "xn--" and the label's code points
 * in Punycode (RFC 3492). For the DNS, which knows only A-labels: a
 * recipient at bücher.example is looked up as xn--bcher-kva.example.
 * No Unicode tables: a U-label is encoded as it came (RFC 5891 5.4 asks
 * the sender for NFC and lower case); ASCII letters are lowercased. */
#ifndef FACTEUR_IDNA_H
#define FACTEUR_IDNA_H
#include <stddef.h>
#include "str.h"

#define IDNA_LABEL_MAX 63
#define IDNA_NAME_MAX  253

/* 1 when s[0..n) has a byte over 0x7f */
int idna_nonascii(const char *s, size_t n);
/* out (NUL-terminated) = dom[0..n) with its non-ASCII labels as A-labels,
 * the rest as it is; 1 ok, 0 not a name that has an ASCII form (bad
 * UTF-8, an empty label, a label or the name too long once encoded) or
 * out of memory (errno). A control byte, a space or a NUL is never part
 * of a name: refused */
int idna_to_ascii(const char *dom, size_t n, str *out);

#endif
