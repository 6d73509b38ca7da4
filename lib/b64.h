/* b64.h: strict base64 (RFC 4648) for SASL. */
#ifndef FACTEUR_B64_H
#define FACTEUR_B64_H
#include <stddef.h>
#include "str.h"

/* 1 ok, 0 malformed (bad characters, bad padding) or no memory */
int b64_decode(const char *s, size_t n, str *out);
int b64_encode(const void *p, size_t n, str *out);

#endif
