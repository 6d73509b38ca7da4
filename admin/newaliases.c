/* newaliases.c: main of facteur-newaliases, which compiles
 * control/aliases into aliases.cdb (see aliasmap.c). Runs as the admin. */
#include <sys/stat.h>
#include "admin-internal.h"
#include "exitcodes.h"
#include "log.h"

int main(int argc, char **argv)
{
	log_setprog("facteur-newaliases");
	umask(022);
	if (argc > 1) log_fatal(EX_USAGE, "usage: facteur-newaliases", (char *)0);
	if (!adm_lock()) return EX_TEMPFAIL;
	switch (aliasmap_compile()) {
	case 1: return 0;
	case 0: return EX_DATAERR;
	default: return EX_TEMPFAIL;
	}
}
