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

/* Additions (pop3d's checkpassword chain, qmail-popup style). */
#include "str.h"
#define AUTH_TIMEOUT_MS 60000    /* a password check that takes longer fails */
/* The checker with a mailbox program: on a good password
 * facteur-checkpassword runs prog (argv, prog[0] the program) as the
 * user, on this process's fds 0/1/2, and this call waits for it (up to
 * timeout_ms; -1 forever). 1 when the checker exited 0 (the program ran
 * and exited 0), 0 bad user or password (exit 1), -1 anything else. The
 * mailbox program must therefore never exit 1. prog 0: as
 * auth_checkpassword. */
int auth_checkpassword_run(const char *user, size_t ulen, const char *pass,
                           size_t plen, char *const *prog, int timeout_ms);
/* where our own program `name` lives: $FACTEUR_BIN/name, else next to
 * /proc/self/exe, else the bare name (PATH). 1 ok, 0 no memory. */
int auth_findprog(const char *name, str *out);

#endif
