/* checkpassword.c: facteur-checkpassword, the checkpassword interface
 * (cr.yp.to/checkpwd/interface.html) on facteur's user map. Reads
 * "user\0password\0" from fd 3; with no program, answers by exit code;
 * with one, runs it as the user with USER, HOME and FACTEUR_MAILDIR set
 * and the Maildir as working directory.
 * Trusts the user map; fd 3 holds what a network client typed.
 * Started as root it drops to `facteur` before reading anything; all the
 * mailboxes belong to `facteur` (virtual users), so that is the user's
 * right too. Never logs a password. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "auth.h"
#include "buf.h"
#include "checkpw.h"
#include "fsx.h"
#include "log.h"
#include "priv.h"
#include "str.h"

#define EXIT_BAD  1
#define EXIT_TEMP 111

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--) *v++ = 0;
}

static size_t read_input(char *b, size_t cap)
{
	size_t n = 0;

	for (;;) {
		long r = fd_read_timeout(3, b + n, cap - n, CHECKPW_READ_MS);
		if (r < 0) log_fatalsys(EXIT_TEMP, "fatal: unable to read fd 3", (char *)0);
		if (r == 0) return n;
		n += (size_t)r;
		if (n == cap) return n;
	}
}

/* the Maildir may not exist yet: no mail has come in */
static int enter_maildir(const char *md)
{
	str p = STR_ZERO;
	static const char *const sub[] = { "cur", "new", "tmp" };
	size_t i;
	int ok = 1;

	for (i = 0; ok && i < 3; i++)
		ok = str_copys(&p, md) && str_appends(&p, sub[i]) && str_0(&p) &&
		     fsx_mkdirs(p.s, 0700);
	str_free(&p);
	return ok && chdir(md) == 0;
}

int main(int argc, char **argv)
{
	char b[CHECKPW_INPUT_MAX];
	struct checkpw_input in;
	struct user u = { STR_ZERO, STR_ZERO, STR_ZERO };
	size_t n;
	int r;

	log_setprog("facteur-checkpassword");
	if (!priv_drop(PRIV_USER)) log_fatalsys(EXIT_TEMP, "fatal: unable to drop privileges", (char *)0);
	n = read_input(b, sizeof b);
	close(3);
	if (!checkpw_parse(b, n, &in)) {
		wipe(b, sizeof b);
		log_line("auth failed: malformed request", (char *)0);
		return EXIT_BAD;
	}
	r = checkpw_verify(&in, &u);
	if (r < 0) {
		wipe(b, sizeof b);
		log_fatalsys(EXIT_TEMP, "fatal: unable to check the password", (char *)0);
	}
	if (r == 0) {
		char name[AUTH_USER_MAX + 1];
		size_t i;
		for (i = 0; i < in.ulen; i++) name[i] = in.user[i];
		name[in.ulen] = 0;
		wipe(b, sizeof b);
		user_free(&u);
		log_line("auth failed for ", name, (char *)0);
		return EXIT_BAD;
	}
	wipe(b, sizeof b);
	if (!str_0(&u.address) || !str_0(&u.maildir))
		log_fatal(EXIT_TEMP, "fatal: out of memory", (char *)0);
	log_line("auth ok for ", u.address.s, (char *)0);
	if (argc < 2) {
		user_free(&u);
		return 0;
	}
	if (setenv("USER", u.address.s, 1) != 0 || setenv("HOME", u.maildir.s, 1) != 0 ||
	    setenv("FACTEUR_MAILDIR", u.maildir.s, 1) != 0)
		log_fatalsys(EXIT_TEMP, "fatal: unable to set environment", (char *)0);
	if (!enter_maildir(u.maildir.s))
		log_fatalsys(EXIT_TEMP, "fatal: unable to enter ", u.maildir.s, (char *)0);
	execvp(argv[1], argv + 1);
	log_fatalsys(EXIT_TEMP, "fatal: unable to run ", argv[1], (char *)0);
}
