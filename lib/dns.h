/* dns.h: MX, A and AAAA lookups for remote delivery.
 *
 * Why our own small stub resolver rather than libc's res_nquery: the
 * tests (and odd setups) must be able to point facteur at a DNS server on
 * a chosen port (control/nameservers, "IP[:port]" a line), which libc's
 * resolver cannot do; and we want every byte of an answer parsed by code
 * whose bounds we can see and unit-test (compression loops, truncated
 * records, CNAME chains). It only asks recursive servers: it sends one
 * question with RD set over UDP, retries over TCP when the answer comes
 * back truncated, and follows CNAMEs up to DNS_CNAME_MAX. No EDNS, no
 * DNSSEC, no search list: mail domains are always fully qualified.
 *
 * Servers come from $FACTEUR_HOME/control/nameservers when it exists,
 * else the "nameserver" lines of /etc/resolv.conf, else 127.0.0.1.
 *
 * Results: DNS_OK (possibly with no records: the name exists but has none
 * of that type), DNS_NXDOMAIN (the name does not exist: permanent,
 * 5.1.2), DNS_TEMP (timeout, SERVFAIL, REFUSED, malformed or mismatched
 * answers, CNAME loops: try again later). Trusts nothing in an answer;
 * needs no privilege. */
#ifndef FACTEUR_DNS_H
#define FACTEUR_DNS_H
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define DNS_NAME_MAX     255     /* presentation form, no trailing dot */
#define DNS_SERVERS_MAX    4
#define DNS_RR_MAX        32     /* records of the asked type kept per answer */
#define DNS_CNAME_MAX      8     /* CNAME hops followed, in and across answers */
#define DNS_PTR_MAX      128     /* compression pointers followed in one name */
#define DNS_UDP_MAX      512     /* no EDNS: classic UDP size */
#define DNS_TCP_MAX    65535
#define DNS_TIMEOUT_MS  5000     /* per try and server */
#define DNS_TRIES          2     /* rounds over the server list */

#define DNS_T_A      1
#define DNS_T_CNAME  5
#define DNS_T_MX    15
#define DNS_T_AAAA  28

enum { DNS_OK = 0, DNS_NXDOMAIN = 1, DNS_TEMP = 2 };

struct dns_rr {
	uint16_t type;            /* DNS_T_MX, DNS_T_A or DNS_T_AAAA */
	uint16_t pref;            /* MX preference */
	char name[DNS_NAME_MAX + 1];  /* MX exchange, lower case; "" = root (null MX) */
	unsigned char addr[16];   /* A: 4 bytes, AAAA: 16 */
};

/* what one answer said about one question */
struct dns_answer {
	int rcode;                /* DNS_OK, DNS_NXDOMAIN or DNS_TEMP */
	int truncated;            /* TC set: ask again over TCP */
	size_t n;                 /* records of the asked type for the name */
	struct dns_rr rr[DNS_RR_MAX];
	char cname[DNS_NAME_MAX + 1]; /* where a CNAME chain ended without data, or "" */
};

struct dns {
	struct sockaddr_storage server[DNS_SERVERS_MAX];
	size_t nserver;
	int timeout_ms;
	int tries;
};

/* Read the server list (see above). 1 ok, 0 a control/nameservers line
 * does not parse (errno EINVAL) or could not be read. */
int dns_init(struct dns *d);
/* "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353" into a socket address; 1 ok */
int dns_parse_server(const char *s, struct sockaddr_storage *ss);

/* MX records of name, sorted by preference (equal preferences shuffled).
 * *n == 0 with DNS_OK: no MX (use the implicit MX). */
int dns_mx(struct dns *d, const char *name, struct dns_rr *out, size_t max, size_t *n);
/* A and AAAA records of name (IPv6 first when both exist) */
int dns_addrs(struct dns *d, const char *name, struct dns_rr *out, size_t max, size_t *n);

/* the wire-level pieces, exposed for the unit tests */
/* a query for name/type with id into q (at least DNS_UDP_MAX); length or 0 */
size_t dns_build_query(unsigned char *q, size_t cap, uint16_t id, const char *name, uint16_t type);
/* expand the (possibly compressed) name at *off into out (lower case, no
 * trailing dot, "" for the root); *off moves past it. 1 ok, 0 malformed:
 * out of bounds, a pointer loop, a forward pointer, a name over 255. */
int dns_name_expand(const unsigned char *p, size_t len, size_t *off, char out[DNS_NAME_MAX + 1]);
/* Parse the answer to (id, name, type). Fills a; returns a->rcode. */
int dns_parse_answer(const unsigned char *p, size_t len, uint16_t id,
                     const char *name, uint16_t type, struct dns_answer *a);

#endif
