/* mutf7.h: IMAP's modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8, strict both
 * ways: a name that decodes must re-encode to the same bytes, so there is
 * exactly one spelling of each mailbox name and '&AC4ALgAv-' ("../" spelled
 * the long way) is refused rather than decoded. */
#ifndef FACTEUR_MUTF7_H
#define FACTEUR_MUTF7_H
#include <stddef.h>
#include "str.h"

/* append the UTF-8 form of s[0..n) to out; 1 ok, 0 malformed or no memory */
int mutf7_decode(const char *s, size_t n, str *out);
/* append the modified UTF-7 form of UTF-8 s[0..n); 1 ok, 0 bad UTF-8 */
int mutf7_encode(const char *s, size_t n, str *out);

#endif
