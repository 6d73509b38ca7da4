/* priv.c: checked privilege dropping. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "priv.h"

/* /etc/passwd itself, not NSS (getpwnam): facteur's service users are
 * local system users (facteur-setup makes them with useradd), and the
 * hot-path programs are linked statically, where glibc's NSS would
 * dlopen the other modules of nsswitch.conf (libnss_systemd) into a
 * static binary, which crashes on a missing user. It is cheaper too: no
 * nsswitch.conf, no nscd socket, at every connection. */
int priv_lookup(const char *user, unsigned *uid, unsigned *gid)
{
	FILE *f = fopen(PRIV_PASSWD, "re");
	struct passwd *pw;
	int found = 0;

	if (!f) return 0;
	errno = 0;
	while ((pw = fgetpwent(f)) != 0) {
		if (strcmp(pw->pw_name, user) != 0) continue;
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
		found = 1;
		break;
	}
	fclose(f);
	if (!found) errno = ENOENT;
	return found;
}

int priv_drop(const char *user)
{
	unsigned uid, gid;
	gid_t g;
	const char *o = getenv("FACTEUR_USER");

	if (geteuid() != 0 && getuid() != 0) return 1;
	if (o && *o && strcmp(user, PRIV_USER) == 0) user = o;
	if (!priv_lookup(user, &uid, &gid)) return 0;
	if (uid == 0) { errno = EPERM; return 0; }
	g = (gid_t)gid;
	if (setgroups(1, &g) != 0) return 0;
	if (setgid(g) != 0) return 0;
	if (setuid((uid_t)uid) != 0) return 0;
	if (setuid(0) == 0 || geteuid() == 0) { errno = EPERM; return 0; }
	return 1;
}
