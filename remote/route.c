/* route.c: where mail for a domain goes. control/smtproutes first
 * ("domain host[:port]": exact domain, then ".suffix", then "*"; "[host]"
 * skips the MX lookup, an IP address is used as it is); else the MX
 * records (RFC 5321 5.1), the implicit MX when there are none, the null
 * MX (RFC 7505) as a permanent failure. MX hosts naming us, or resolving
 * to our own addresses, are dropped with every host of equal or lower
 * preference: mail would loop. Trusts the admin's control files and
 * treats DNS answers as untrusted (lib/dns checks them). Runs as facteur. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include "control.h"
#include "idna.h"
#include "remote.h"
#include "scan.h"

static int ieq(const char *a, size_t na, const char *b, size_t nb)
{
	size_t i;
	if (na && a[na - 1] == '.') na--;
	if (nb && b[nb - 1] == '.') nb--;
	if (na != nb) return 0;
	for (i = 0; i < na; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
		if (x != y) return 0;
	}
	return 1;
}

/* socket addresses are built in their own type and copied in, so that no
 * store goes through a pointer of another type (strict aliasing) */
static void sa_set4(struct sockaddr_storage *ss, const void *addr, int port)
{
	struct sockaddr_in v4;
	memset(&v4, 0, sizeof v4);
	v4.sin_family = AF_INET;
	v4.sin_port = htons((uint16_t)port);
	memcpy(&v4.sin_addr, addr, 4);
	memset(ss, 0, sizeof *ss);
	memcpy(ss, &v4, sizeof v4);
}

static void sa_set6(struct sockaddr_storage *ss, const void *addr, int port)
{
	struct sockaddr_in6 v6;
	memset(&v6, 0, sizeof v6);
	v6.sin6_family = AF_INET6;
	v6.sin6_port = htons((uint16_t)port);
	memcpy(&v6.sin6_addr, addr, 16);
	memset(ss, 0, sizeof *ss);
	memcpy(ss, &v6, sizeof v6);
}

static int ip_parse(const char *s, int port, struct sockaddr_storage *ss)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, s, a) == 1) { sa_set4(ss, a, port); return 1; }
	if (strncmp(s, "IPv6:", 5) == 0 || strncmp(s, "ipv6:", 5) == 0) s += 5;
	if (inet_pton(AF_INET6, s, a) == 1) { sa_set6(ss, a, port); return 1; }
	return 0;
}

int route_is_local_addr(const struct sockaddr_storage *sa)
{
	struct ifaddrs *ifs, *i;
	unsigned char want[16], have[16];
	size_t alen = sa->ss_family == AF_INET ? 4 : 16;
	static const unsigned char zero[16];
	int found = 0;

	if (sa->ss_family == AF_INET) {
		struct sockaddr_in v4;
		memcpy(&v4, sa, sizeof v4);
		memcpy(want, &v4.sin_addr, 4);
	} else if (sa->ss_family == AF_INET6) {
		struct sockaddr_in6 v6;
		memcpy(&v6, sa, sizeof v6);
		memcpy(want, &v6.sin6_addr, 16);
	} else {
		return 0;
	}
	if (memcmp(want, zero, alen) == 0) return 1;     /* 0.0.0.0 or :: */
	if (getifaddrs(&ifs) != 0) return 0;
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != sa->ss_family) continue;
		if (sa->ss_family == AF_INET) {
			struct sockaddr_in v4;
			memcpy(&v4, i->ifa_addr, sizeof v4);
			memcpy(have, &v4.sin_addr, 4);
		} else {
			struct sockaddr_in6 v6;
			memcpy(&v6, i->ifa_addr, sizeof v6);
			memcpy(have, &v6.sin6_addr, 16);
		}
		found = memcmp(want, have, alen) == 0;
	}
	freeifaddrs(ifs);
	return found;
}

static void add_target(struct remote *r, const char *host, const char *tlsname,
                       const struct sockaddr_storage *sa, int pref, int direct)
{
	struct target *t;
	if (r->ntarget >= REMOTE_TARGETS_MAX) return;
	t = &r->target[r->ntarget++];
	memset(t, 0, sizeof *t);
	strncpy(t->host, host, DNS_NAME_MAX);
	strncpy(t->tlsname, tlsname, DNS_NAME_MAX);
	t->sa = *sa;
	t->pref = pref;
	t->direct = direct;
}

static void rr_to_sa(const struct dns_rr *rr, int port, struct sockaddr_storage *ss)
{
	if (rr->type == DNS_T_A) sa_set4(ss, rr->addr, port);
	else sa_set6(ss, rr->addr, port);
}

static int set_why(str *why, const char *a, const char *b, const char *c)
{
	str_clear(why);
	str_appends(why, a);
	if (b) str_appends(why, b);
	if (c) str_appends(why, c);
	return 1;
}

/* the key of a control file line, l[0..kl) ("domain", ".suffix" or
 * "*"), with the A-labels of its non-ASCII labels (lib/idna), so that a
 * domain matches it written either way: compared with the domain's own
 * ASCII form, the one name both stand for. 1 ok; 0 it has no ASCII form
 * (it names nothing); -1 out of memory */
static int key_ascii(const char *l, size_t kl, str *out)
{
	size_t dot = kl > 1 && l[0] == '.';
	str a = STR_ZERO;
	int ok;

	if (!idna_nonascii(l, kl)) return str_copy(out, l, kl) ? 1 : -1;
	errno = 0;
	ok = idna_to_ascii(l + dot, kl - dot, &a);
	if (ok) ok = str_copy(out, ".", dot) && str_append(out, a.s, a.len) ? 1 : -1;
	else ok = errno == ENOMEM ? -1 : 0;
	str_free(&a);
	return ok;
}

/* the ASCII form of a domain into out: its A-labels, or itself when it
 * is ASCII, an address literal or has no ASCII form. 1 ok, 0 out of
 * memory */
static int domain_ascii(const char *domain, str *out)
{
	size_t n = strlen(domain);

	if (domain[0] != '[' && idna_nonascii(domain, n)) {
		errno = 0;
		if (idna_to_ascii(domain, n, out)) return 1;
		if (errno == ENOMEM) return 0;
	}
	return str_copy(out, domain, n);
}

/* the line of control/smtproutes for domain (its ASCII form: a key
 * matches by its own): exact, then the longest ".suffix", then "*";
 * spec points into lines. 1 found, 0 none, -1 error */
static int smtproute(const char *domain, str *lines, const char **spec)
{
	size_t dl = strlen(domain), i, best = 0;
	int r = control_readlines("control/smtproutes", lines);
	const char *exact = 0, *suffix = 0, *star = 0;
	str key = STR_ZERO;

	if (r <= 0) return r;
	for (i = 0; i < lines->len; i += strlen(lines->s + i) + 1) {
		char *l = lines->s + i, *sp = l;
		size_t kl;
		int k;
		while (*sp && *sp != ' ' && *sp != '\t') sp++;
		kl = (size_t)(sp - l);
		if (!*sp) continue;                  /* no host: not a route */
		while (*sp == ' ' || *sp == '\t') sp++;
		if (!*sp) continue;
		k = key_ascii(l, kl, &key);
		if (k < 0) { str_free(&key); return -1; }
		if (k == 0) continue;
		l = key.s;
		kl = key.len;
		if (!exact && ieq(l, kl, domain, dl)) exact = sp;
		else if (kl > 1 && l[0] == '.' && kl < dl + 1 && kl > best &&
		         ieq(l, kl, domain + dl - kl, kl)) {
			suffix = sp;
			best = kl;
		} else if (!star && kl == 1 && l[0] == '*') star = sp;
	}
	str_free(&key);
	*spec = exact ? exact : suffix ? suffix : star;
	return *spec ? 1 : 0;
}

/* addresses of one host name into targets; returns the dns result */
static int host_targets(struct remote *r, struct dns *d, const char *host, const char *tlsname,
                        int pref, int port, int direct)
{
	struct dns_rr rr[DNS_RR_MAX];
	size_t n = 0, i;
	int res = dns_addrs(d, host, rr, DNS_RR_MAX, &n);

	if (res != DNS_OK) return res;
	for (i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		rr_to_sa(&rr[i], port, &ss);
		add_target(r, host, tlsname, &ss, pref, direct);
	}
	return n ? DNS_OK : DNS_NXDOMAIN;
}

/* a smtproutes host spec: [host] | [ip] | ip | host, each with :port;
 * adomain: the destination's ASCII form */
static int route_spec(struct remote *r, struct dns *d, const char *spec, const char *adomain, str *why)
{
	char host[DNS_NAME_MAX + 1];
	const char *port = 0, *e;
	size_t hl;
	int bracket = 0;
	unsigned long long pv = REMOTE_PORT;
	struct sockaddr_storage ss;

	if (spec[0] == '[') {
		e = strchr(spec, ']');
		if (!e) return set_why(why, "4.3.5 bad control/smtproutes entry: ", spec, 0) * 4;
		hl = (size_t)(e - spec - 1);
		if (e[1] == ':') port = e + 2;
		else if (e[1]) return set_why(why, "4.3.5 bad control/smtproutes entry: ", spec, 0) * 4;
		spec++;
		bracket = 1;
	} else {
		e = strchr(spec, ':');
		if (e && strchr(e + 1, ':')) e = 0;    /* a bare IPv6 address */
		hl = e ? (size_t)(e - spec) : strlen(spec);
		if (e) port = e + 1;
	}
	if (hl == 0 || hl > DNS_NAME_MAX)
		return set_why(why, "4.3.5 bad control/smtproutes entry: ", spec, 0) * 4;
	memcpy(host, spec, hl);
	host[hl] = 0;
	if (port) {
		size_t pl = strlen(port);
		if (!pl || scan_ulong_max(port, pl, 65535, &pv) != pl || pv == 0)
			return set_why(why, "4.3.5 bad port in control/smtproutes: ", spec, 0) * 4;
	}
	if (ip_parse(host, (int)pv, &ss)) {
		/* the certificate of a smarthost given by address must name
		 * the destination domain (Postfix's "nexthop" match), by
		 * its A-labels: a certificate holds no other form */
		add_target(r, "", adomain, &ss, 0, 1);
		return 2;
	}
	if (bracket) {
		int res = host_targets(r, d, host, host, 0, (int)pv, 1);
		if (res == DNS_TEMP)
			return set_why(why, "4.4.3 DNS lookup of ", host, " failed temporarily") * 4;
		if (res != DNS_OK)
			return set_why(why, "4.4.4 smarthost ", host, " has no address") * 4;
		return 2;
	}
	/* a relay name: its MX, like a domain, but on the given port */
	{
		int saved = r->port, res;
		const char *dom = r->domain;
		r->port = (int)pv;
		r->domain = host;
		res = route_find(r, d, why);
		r->domain = dom;
		r->port = saved;
		return res;
	}
}

int route_find(struct remote *r, struct dns *d, str *why)
{
	struct dns_rr mx[DNS_RR_MAX];
	size_t nmx = 0, i, kept = 0;
	const char *spec = 0;
	str lines = STR_ZERO;
	int res, anytemp = 0, cut = 0x10000;
	char qbuf[IDNA_NAME_MAX + 1];
	const char *qname = r->domain;

	r->ntarget = 0;
	/* a domain with non-ASCII labels (SMTPUTF8) is asked of the DNS
	 * by its A-labels: bücher.example as xn--bcher-kva.example */
	if (r->domain[0] != '[' && idna_nonascii(r->domain, strlen(r->domain))) {
		str a = STR_ZERO;
		if (!idna_to_ascii(r->domain, strlen(r->domain), &a) || a.len >= sizeof qbuf) {
			int e = errno;
			str_free(&a);
			if (e == ENOMEM) return set_why(why, "4.3.0 out of memory", 0, 0) * 4;
			return set_why(why, "5.1.2 domain ", r->domain, " has no valid ASCII form (IDNA)") * 5;
		}
		memcpy(qbuf, a.s, a.len + 1);
		str_free(&a);
		qname = qbuf;
	}
	if (r->port == 0) {
		/* called for the destination itself, not a relay name */
		unsigned long long p;
		if (control_readulong("control/remoteport", &p, REMOTE_PORT) < 0 || p == 0 || p > 65535)
			return set_why(why, "4.3.5 bad control/remoteport", 0, 0) * 4;
		r->port = (int)p;
		/* a route may name the domain either way: as written, or by
		 * its A-labels (smtproute compares ASCII forms) */
		res = smtproute(qname, &lines, &spec);
		if (res < 0) {
			str_free(&lines);
			return set_why(why, "4.3.0 unable to read control/smtproutes", 0, 0) * 4;
		}
		if (res > 0) {
			res = route_spec(r, d, spec, qname, why);
			str_free(&lines);
			return res;
		}
		str_free(&lines);
	}
	/* user@[1.2.3.4]: an address literal is its own host */
	if (r->domain[0] == '[') {
		char lit[DNS_NAME_MAX + 1];
		size_t n = strlen(r->domain);
		struct sockaddr_storage ss;
		if (n < 3 || n > DNS_NAME_MAX || r->domain[n - 1] != ']')
			return set_why(why, "5.1.2 bad address literal ", r->domain, 0) * 5;
		memcpy(lit, r->domain + 1, n - 2);
		lit[n - 2] = 0;
		if (!ip_parse(lit, r->port, &ss))
			return set_why(why, "5.1.2 bad address literal ", r->domain, 0) * 5;
		if (route_is_local_addr(&ss))
			return set_why(why, "4.4.6 address literal ", r->domain, " is this host (mail loop)") * 4;
		add_target(r, "", "", &ss, 0, 0);
		return 2;
	}

	res = dns_mx(d, qname, mx, DNS_RR_MAX, &nmx);
	if (res == DNS_NXDOMAIN)
		return set_why(why, "5.1.2 domain ", r->domain, " does not exist") * 5;
	if (res != DNS_OK)
		return set_why(why, "4.4.3 DNS lookup of MX for ", r->domain, " failed temporarily") * 4;
	if (nmx > REMOTE_MX_MAX) nmx = REMOTE_MX_MAX;
	/* RFC 7505: a single MX "." at preference 0 says "no mail here";
	 * among other records a null MX is meaningless and dropped */
	if (nmx == 1 && mx[0].name[0] == 0)
		return set_why(why, "5.1.10 domain ", r->domain, " accepts no mail (null MX)") * 5;
	for (i = 0; i < nmx; i++) {
		if (mx[i].name[0] == 0) continue;
		mx[kept++] = mx[i];
	}
	nmx = kept;
	if (nmx == 0) {
		/* the implicit MX: the domain's own addresses */
		res = host_targets(r, d, qname, qname, 0, r->port, 0);
		if (res == DNS_TEMP)
			return set_why(why, "4.4.3 DNS lookup of ", r->domain, " failed temporarily") * 4;
		if (res != DNS_OK)
			return set_why(why, "5.1.2 domain ", r->domain, " has no MX and no address") * 5;
		for (i = 0; i < r->ntarget; i++)
			if (route_is_local_addr(&r->target[i].sa))
				return set_why(why, "4.4.6 ", r->domain, " resolves to this host (mail loop)") * 4;
		return 2;
	}
	/* RFC 5321 5.1: when we are one of the MX hosts, only the more
	 * preferred ones may be used */
	for (i = 0; i < nmx; i++)
		if (r->me.len && ieq(mx[i].name, strlen(mx[i].name), r->me.s, r->me.len) && mx[i].pref < cut)
			cut = mx[i].pref;
	for (i = 0; i < nmx && mx[i].pref < cut; i++) {
		size_t before = r->ntarget, j;
		res = host_targets(r, d, mx[i].name, mx[i].name, mx[i].pref, r->port, 0);
		if (res == DNS_TEMP) anytemp = 1;
		for (j = before; j < r->ntarget; j++)
			if (route_is_local_addr(&r->target[j].sa) && mx[i].pref < cut)
				cut = mx[i].pref;
	}
	/* this host is among them: it and every host it is not better
	 * than are out */
	for (i = 0, kept = 0; i < r->ntarget; i++)
		if (r->target[i].pref < cut) r->target[kept++] = r->target[i];
	r->ntarget = kept;
	if (r->ntarget) return 2;
	if (cut != 0x10000)
		return set_why(why, "4.4.6 MX for ", r->domain, " points to this host (mail loop)") * 4;
	if (anytemp)
		return set_why(why, "4.4.3 DNS lookup of the MX hosts of ", r->domain, " failed temporarily") * 4;
	return set_why(why, "4.4.4 no MX host of ", r->domain, " has an address") * 4;
}

int route_tlspolicy(const char *udomain)
{
	str lines = STR_ZERO, key = STR_ZERO, domain = STR_ZERO;
	size_t i;
	int r = control_readlines("control/tlspolicy", &lines), pol = TLSP_MAY, star = -2;

	/* a domain matches an entry written either way, as in smtproutes */
	if (r < 0 || !domain_ascii(udomain, &domain)) { r = -1; goto out; }
	for (i = 0; r > 0 && i < lines.len; i += strlen(lines.s + i) + 1) {
		char *l = lines.s + i, *sp = l;
		size_t kl;
		int p, k;
		while (*sp && *sp != ' ' && *sp != '\t') sp++;
		kl = (size_t)(sp - l);
		while (*sp == ' ' || *sp == '\t') sp++;
		if (strcmp(sp, "none") == 0) p = TLSP_NONE;
		else if (strcmp(sp, "may") == 0) p = TLSP_MAY;
		else if (strcmp(sp, "encrypt") == 0) p = TLSP_ENCRYPT;
		else if (strcmp(sp, "verify") == 0) p = TLSP_VERIFY;
		else { r = -1; goto out; }
		k = key_ascii(l, kl, &key);
		if (k < 0) { r = -1; goto out; }
		if (k > 0 && ieq(key.s, key.len, domain.s, domain.len)) { pol = p; goto out; }
		if (kl == 1 && l[0] == '*' && star == -2) star = p;
	}
	if (star != -2) pol = star;
out:
	str_free(&lines);
	str_free(&key);
	str_free(&domain);
	return r < 0 ? -1 : pol;
}
