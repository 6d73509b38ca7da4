/* checkpw.c: the password check behind facteur-checkpassword. Trusts the
 * user map (users.cdb, written by facteur-users); trusts nothing of the
 * record on fd 3, which carries what a network client typed. Runs as
 * `facteur` (facteur-checkpassword drops root before reading fd 3). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sodium.h>
#include "auth.h"
#include "checkpw.h"

/* An argon2id hash of a password nobody knows, with libsodium's
 * INTERACTIVE limits (what facteur-users stores), so that an unknown user
 * costs one real verification, as a known one does: the time of a failed
 * login does not tell which addresses exist. */
#define CHECKPW_PROBE_KIB_MAX (1ULL << 32)  /* argon2 cannot ask for more */

static const char dummy_hash[crypto_pwhash_STRBYTES] =
	"$argon2id$v=19$m=65536,t=2,p=1$C91xBBLMJhx+EJbKRLfH0g$"
	"yv6wok5K04SscsWpsTwyPIgPv4NYlr2WTCg7d6pAxfY";

int checkpw_parse(const char *b, size_t n, struct checkpw_input *in)
{
	const char *z1, *z2;
	size_t i;

	z1 = memchr(b, 0, n);
	if (!z1) return 0;
	z2 = memchr(z1 + 1, 0, n - (size_t)(z1 + 1 - b));
	if (!z2) return 0;
	in->user = b;
	in->ulen = (size_t)(z1 - b);
	in->pass = z1 + 1;
	in->plen = (size_t)(z2 - (z1 + 1));
	if (in->ulen == 0 || in->ulen > AUTH_USER_MAX || in->plen > AUTH_PASS_MAX) return 0;
	for (i = 0; i < in->ulen; i++) {
		unsigned char c = (unsigned char)b[i];
		if (c <= 0x20 || c == 0x7f) return 0;
	}
	return 1;
}

/* argon2's memory cost m= (KiB) in a hash string can be had right now.
 * libsodium 1.0.18 answers -1 with EINVAL both for a wrong password and
 * for memory it could not get, and only the first is a verdict. */
static int memory_available(const char *hash)
{
	const char *m = strstr(hash, "$m=");
	unsigned long long kib = 0;
	void *p;

	if (!m) return 1;
	for (m += 3; *m >= '0' && *m <= '9' && kib < CHECKPW_PROBE_KIB_MAX; m++)
		kib = kib * 10 + (unsigned)(*m - '0');
	if (!kib) return 1;
	p = mmap(0, (size_t)kib * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return 0;
	munmap(p, (size_t)kib * 1024);
	return 1;
}

/* 1 match, 0 mismatch, -1 no verdict (errno ENOMEM): a host short of
 * memory must not turn good passwords into failed logins */
static int verify(const char *hash, const struct checkpw_input *in)
{
	if (crypto_pwhash_str_verify(hash, in->pass, in->plen) == 0) return 1;
	if (!memory_available(hash)) { errno = ENOMEM; return -1; }
	return 0;
}

int checkpw_verify(const struct checkpw_input *in, struct user *u)
{
	int r;

	if (sodium_init() < 0) return -1;
	r = users_lookup(in->user, in->ulen, u);
	if (r < 0) return -1;
	if (r == 0) return verify(dummy_hash, in) < 0 ? -1 : 0;
	/* the map's value must be a C string for libsodium */
	if (!str_0(&u->hash)) return -1;
	if (strlen(u->hash.s) != u->hash.len || u->hash.len >= crypto_pwhash_STRBYTES)
		return verify(dummy_hash, in) < 0 ? -1 : 0;
	{
		/* libsodium's prototype reads a full crypto_pwhash_STRBYTES */
		char h[crypto_pwhash_STRBYTES];
		memset(h, 0, sizeof h);
		memcpy(h, u->hash.s, u->hash.len);
		return verify(h, in);
	}
}
