/* setup.c: main of facteur-setup, which creates or completes an instance
 * (see instance.c). Runs as root, or as a developer for an instance they
 * own; arguments are the admin's. */
#include <string.h>
#include <sys/stat.h>
#include "exitcodes.h"
#include "idna.h"
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
			const char *d = argv[++i];
			if (s.ndomains >= SETUP_DOMAINS_MAX) log_fatal(EX_USAGE, "too many --domain", (char *)0);
			/* a domain with non-ASCII labels goes in by its A-labels,
			 * the form DNS and the maps use (bücher.example is written
			 * xn--bcher-kva.example) */
			if (idna_nonascii(d, strlen(d))) {
				static str alabel[SETUP_DOMAINS_MAX];
				if (!idna_to_ascii(d, strlen(d), &alabel[s.ndomains]))
					log_fatal(EX_USAGE, "invalid --domain ", d, " (no valid A-label)", (char *)0);
				d = alabel[s.ndomains].s;
			}
			s.domains[s.ndomains++] = d;
		} else {
			usage();
		}
	}
	return setup_run(&s);
}
