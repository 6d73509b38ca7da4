/* common.h: what facteur-tlsd (the relay) and facteur-tlsd-tls (the TLS
 * side it execs) share: the hand-over's argument layout and small helpers. */
#ifndef FACTEUR_TLS_COMMON_H
#define FACTEUR_TLS_COMMON_H
#include <sys/types.h>

#define TLSD_TLS_PROG   "facteur-tlsd-tls"
#define TLSD_TIMEOUT_MAX 86400    /* seconds: larger overrides are refused */
/* facteur-tlsd-tls PID TO_PROG FROM_PROG CTL MEMFD IMPLICIT FL0 FL1 */
#define TLSD_TLS_ARGC   9

/* seconds from the environment, or def (ms) */
int tlsd_env_timeout_ms(const char *name, int def);
/* wait for pid; its exit code, 128+signal, or EX_OSERR */
int tlsd_exit_status(pid_t pid);

#endif
