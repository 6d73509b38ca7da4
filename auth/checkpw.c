/* checkpw.c: the password check behind facteur-checkpassword. Trusts the
 * user map (users.cdb, written by facteur-users); trusts nothing of the
 * record on fd 3, which carries what a network client typed. Runs as
 * `facteur` (facteur-checkpassword drops root before reading fd 3). */
#include <string.h>
#include <sodium.h>
#include "auth.h"
#include "checkpw.h"

/* An argon2id hash of a password nobody knows, with libsodium's
 * INTERACTIVE limits (what facteur-users stores), so that an unknown user
 * costs one real verification, as a known one does: the time of a failed
 * login does not tell which addresses exist. */
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

static int verify(const char *hash, const struct checkpw_input *in)
{
	return crypto_pwhash_str_verify(hash, in->pass, in->plen) == 0;
}

int checkpw_verify(const struct checkpw_input *in, struct user *u)
{
	int r;

	if (sodium_init() < 0) return -1;
	r = users_lookup(in->user, in->ulen, u);
	if (r < 0) return -1;
	if (r == 0) {
		verify(dummy_hash, in);
		return 0;
	}
	/* the map's value must be a C string for libsodium */
	if (!str_0(&u->hash)) return -1;
	if (strlen(u->hash.s) != u->hash.len || u->hash.len >= crypto_pwhash_STRBYTES) {
		verify(dummy_hash, in);
		return 0;
	}
	{
		/* libsodium's prototype reads a full crypto_pwhash_STRBYTES */
		char h[crypto_pwhash_STRBYTES];
		memset(h, 0, sizeof h);
		memcpy(h, u->hash.s, u->hash.len);
		return verify(h, in) ? 1 : 0;
	}
}
