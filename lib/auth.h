/* auth.h: password checks for the protocol programs, which never read the
 * user map's hashes themselves: they hand "user\0password\0" on fd 3 to
 * facteur-checkpassword (the checkpassword interface) and read its exit
 * code. */
#ifndef FACTEUR_AUTH_H
#define FACTEUR_AUTH_H
#include <stddef.h>

#define AUTH_USER_MAX 256
#define AUTH_PASS_MAX 512

/* 1 good password, 0 bad user or password, -1 temporary failure */
int auth_checkpassword(const char *user, size_t ulen, const char *pass, size_t plen);

#endif
