/* pemfiles.c: reads control/tls/{cert,key}.pem and DOMAIN/{cert,key}.pem
 * into a blob (pemfiles.h), with the rules of lib/tlsconf.c's
 * tlsconf_server_read, but without linking OpenSSL: facteur-tlsd reads the
 * keys as root and only the exec'd facteur-tlsd-tls parses them. Trusts
 * the instance's control/tls/ files (the admin's); runs as root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "control.h"
#include "pemfiles.h"
#include "tlsfiles.h"

int pemfiles_available(void)
{
	return tlsfiles_available();
}

static int put_field(str *blob, const char *b, size_t n)
{
	uint32_t len = (uint32_t)n;

	if (n > UINT32_MAX) return 0;
	return str_append(blob, (const char *)&len, sizeof len) && str_append(blob, b, n);
}

/* the whole file as one field of blob, bounded; 1 ok, 0 error */
static int put_file(str *blob, const str *path, str *err)
{
	size_t at = blob->len;
	uint32_t len = 0;

	if (!str_append(blob, (const char *)&len, sizeof len)) {
		str_appends(err, "out of memory");
		return 0;
	}
	if (!tlsfiles_read(path->s, blob, err)) return 0;
	len = (uint32_t)(blob->len - at - sizeof len);
	memcpy(blob->s + at, &len, sizeof len);
	return 1;
}

static int put_pair(str *blob, const char *sub, str *err)
{
	str cp = STR_ZERO, kp = STR_ZERO;
	int ok = 0;

	if (!tlsfiles_path(&cp, sub, "cert.pem") || !tlsfiles_path(&kp, sub, "key.pem") ||
	    !put_field(blob, sub ? sub : "", sub ? strlen(sub) : 0) ||
	    !put_field(blob, cp.s, cp.len) || !put_field(blob, kp.s, kp.len))
		str_appends(err, "out of memory");
	else
		ok = put_file(blob, &cp, err) && put_file(blob, &kp, err);
	str_free(&cp);
	str_free(&kp);
	return ok;
}

static int put_domain(void *blob, const char *domain, str *err)
{
	return put_pair(blob, domain, err);
}

int pemfiles_read(str *blob, str *err)
{
	str_clear(err);
	if (!put_pair(blob, 0, err)) return 0;
	return tlsfiles_each_domain(put_domain, blob, err);
}
