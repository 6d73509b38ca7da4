/* instance.h: facteur-setup's work, apart from its main for tests. */
#ifndef FACTEUR_INSTANCE_H
#define FACTEUR_INSTANCE_H
#include <stddef.h>

#define SETUP_DOMAINS_MAX 1000

struct setup {
	const char *hostname;                 /* --hostname, or 0 */
	const char *domains[SETUP_DOMAINS_MAX]; /* --domain ... */
	size_t ndomains;
	const char *postmaster;               /* --postmaster ADDRESS, or 0 */
};

/* creates or completes the instance at $FACTEUR_HOME; returns an exit
 * code (0, or sysexits) */
int setup_run(const struct setup *s);

#endif
