/* relay.c: smtpd's names for the relay and loopback checks, which the
 * unit test (t/unit/smtpd.c) calls; the client's address and the CIDR
 * matching live in lib/remoteip.c, shared with lmtpd, pop3d and imapd.
 * Trusts the control file's owner; runs as the `facteur` user. */
#include "remoteip.h"
#include "smtpd-internal.h"

/* cidrlist: NUL-separated lines as control_readlines gives them */
int relay_cidr_match(const char *ip, const char *cidrlist, size_t listlen)
{
	return remoteip_match(ip, cidrlist, listlen);
}

int relay_is_loopback(const char *ip)
{
	return remoteip_is_loopback(ip);
}
