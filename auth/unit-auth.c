/* unit-auth.c: drives lib/auth.c for t/40-checkpassword.t.
 * unit-auth USER PASS [PROG ARGS...]: prints auth_checkpassword's (or,
 * with PROG, auth_checkpassword_run's) result. "-" as PASS reads the
 * password from stdin (up to its end) so tests can pass NULs and long ones.
 * Test code; runs as whoever runs the test. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "str.h"

int main(int argc, char **argv)
{
	str pass = STR_ZERO;
	char b[4096];
	int r;

	if (argc < 3) return 2;
	if (strcmp(argv[2], "-") == 0) {
		ssize_t n;
		while ((n = read(0, b, sizeof b)) > 0)
			if (!str_append(&pass, b, (size_t)n)) return 2;
	} else if (!str_copys(&pass, argv[2])) return 2;
	if (argc > 3)
		r = auth_checkpassword_run(argv[1], strlen(argv[1]), pass.s, pass.len, argv + 3, 5000);
	else
		r = auth_checkpassword(argv[1], strlen(argv[1]), pass.s, pass.len);
	printf("%d\n", r);
	str_wipe(&pass);
	return 0;
}
