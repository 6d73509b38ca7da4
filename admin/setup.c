/* setup.c: main of facteur-setup, which creates or completes an instance
 * (see instance.c). Runs as root, or as a developer for an instance they
 * own; arguments are the admin's. */
#include <string.h>
#include <sys/stat.h>
#include "exitcodes.h"
#include "instance.h"
#include "log.h"

static _Noreturn void usage(void)
{
	log_fatal(EX_USAGE, "usage: facteur-setup [--hostname H] [--domain D]... [--postmaster ADDRESS]", (char *)0);
}

int main(int argc, char **argv)
{
	struct setup s;
	int i;

	log_setprog("facteur-setup");
	umask(022);
	memset(&s, 0, sizeof s);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc) usage();
		if (strcmp(a, "--hostname") == 0) s.hostname = argv[++i];
		else if (strcmp(a, "--postmaster") == 0) s.postmaster = argv[++i];
		else if (strcmp(a, "--domain") == 0) {
			if (s.ndomains >= SETUP_DOMAINS_MAX) log_fatal(EX_USAGE, "too many --domain", (char *)0);
			s.domains[s.ndomains++] = argv[++i];
		} else {
			usage();
		}
	}
	return setup_run(&s);
}
