/* checkpw.h: facteur-checkpassword's logic, apart from main() so tests can
 * link it: parsing the checkpassword record and verifying a password
 * against the user map. */
#ifndef FACTEUR_CHECKPW_H
#define FACTEUR_CHECKPW_H
#include <stddef.h>
#include "users.h"

/* the checkpassword interface says 512; our callers send up to
 * AUTH_USER_MAX + AUTH_PASS_MAX + 2, and a timestamp may follow */
#define CHECKPW_INPUT_MAX 1024
#define CHECKPW_READ_MS   10000     /* the caller writes fd 3 at once */

struct checkpw_input {
	const char *user; size_t ulen;
	const char *pass; size_t plen;
};

/* "user\0password\0[timestamp\0]" in b[0..n): 1 ok, 0 malformed
 * (missing NULs, empty or overlong user, overlong password, control
 * bytes in the user) */
int checkpw_parse(const char *b, size_t n, struct checkpw_input *in);
/* 1 good (u filled), 0 bad user or password, -1 temporary (map unreadable,
 * libsodium not ready). Unknown users cost as much as known ones. */
int checkpw_verify(const struct checkpw_input *in, struct user *u);

#endif
