/* b64.h: strict base64 (RFC 4648) for SASL. */
#ifndef FACTEUR_B64_H
#define FACTEUR_B64_H
#include <stddef.h>
#include "str.h"

/* 1 ok, 0 malformed (bad characters, bad padding) or no memory */
int b64_decode(const char *s, size_t n, str *out);
int b64_encode(const void *p, size_t n, str *out);
/* one character's value, 0..63, in the RFC 4648 alphabet ('+' and '/');
 * -1 for anything else, '=' included (for lenient MIME decoders) */
int b64_value(unsigned char c);

#endif
