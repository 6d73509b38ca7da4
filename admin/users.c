/* users.c: main of facteur-users, which manages the user map
 * (control/users and users.cdb). Runs as the admin; see usercmd.c. */
#include <sys/stat.h>
#include "log.h"
#include "usercmd.h"

int main(int argc, char **argv)
{
	log_setprog("facteur-users");
	umask(022);
	return usercmd_run(argc, argv);
}
