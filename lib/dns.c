/* dns.c: a small stub resolver for MX, A and AAAA (see dns.h for why it
 * exists). Everything in an answer comes from the network and is checked
 * against the packet's bounds before it is read; names are expanded with a
 * cap on pointers and on length; CNAME chains are capped. No privilege. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "deadline.h"
#include "dns.h"
#include "fmt.h"
#include "scan.h"
#include "str.h"

#define RESOLV_CONF "/etc/resolv.conf"
#define RESOLV_CONF_MAX 65536

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int name_eq(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), i;

	if (na && a[na - 1] == '.') na--;
	if (nb && b[nb - 1] == '.') nb--;
	if (na != nb) return 0;
	for (i = 0; i < na; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
	return 1;
}

size_t dns_build_query(unsigned char *q, size_t cap, uint16_t id, const char *name, uint16_t type)
{
	size_t n = strlen(name), pos = 12, i = 0;

	if (n && name[n - 1] == '.') n--;
	if (n > DNS_NAME_MAX || cap < 12 + n + 2 + 4) return 0;
	memset(q, 0, 12);
	q[0] = (unsigned char)(id >> 8);
	q[1] = (unsigned char)id;
	q[2] = 0x01;               /* RD: we ask a recursive server */
	q[5] = 1;                  /* one question */
	while (i < n) {
		size_t j = i;
		while (j < n && name[j] != '.') j++;
		if (j == i || j - i > 63) return 0;
		q[pos++] = (unsigned char)(j - i);
		memcpy(q + pos, name + i, j - i);
		pos += j - i;
		i = j + 1;
		if (j < n && i == n) return 0;    /* "a..": empty label */
	}
	q[pos++] = 0;
	q[pos++] = (unsigned char)(type >> 8);
	q[pos++] = (unsigned char)type;
	q[pos++] = 0;
	q[pos++] = 1;              /* class IN */
	return pos;
}

int dns_name_expand(const unsigned char *p, size_t len, size_t *off, char out[DNS_NAME_MAX + 1])
{
	size_t pos = *off, next = 0, outlen = 0, jumps = 0;
	int jumped = 0;

	for (;;) {
		unsigned c;

		if (pos >= len) return 0;
		c = p[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t ptr;
			if (pos + 1 >= len) return 0;
			ptr = ((size_t)(c & 0x3f) << 8) | p[pos + 1];
			/* only backwards, and only so many times: a pointer
			 * to itself or a cycle of pointers cannot spin */
			if (ptr >= pos || ++jumps > DNS_PTR_MAX) return 0;
			if (!jumped) { next = pos + 2; jumped = 1; }
			pos = ptr;
			continue;
		}
		if (c & 0xc0) return 0;          /* obsolete label types */
		if (c == 0) { pos++; break; }
		if (pos + 1 + c > len) return 0;
		if (outlen + (outlen ? 1 : 0) + c > DNS_NAME_MAX) return 0;
		if (outlen) out[outlen++] = '.';
		for (size_t i = 0; i < c; i++) {
			unsigned char b = p[pos + 1 + i];
			/* a dot or a control byte inside a label would make a
			 * different name once printed: refuse */
			if (b <= 0x20 || b >= 0x7f || b == '.') return 0;
			out[outlen++] = (char)lower(b);
		}
		pos += 1 + c;
	}
	out[outlen] = 0;
	*off = jumped ? next : pos;
	return 1;
}

static unsigned get16(const unsigned char *p) { return ((unsigned)p[0] << 8) | p[1]; }

struct rrhead {
	char owner[DNS_NAME_MAX + 1];
	unsigned type, class;
	size_t rdata, rdlen;
};

/* one resource record's header at *off; *off moves past its data */
static int rr_read(const unsigned char *p, size_t len, size_t *off, struct rrhead *h)
{
	if (!dns_name_expand(p, len, off, h->owner)) return 0;
	if (*off + 10 > len) return 0;
	h->type = get16(p + *off);
	h->class = get16(p + *off + 2);
	h->rdlen = get16(p + *off + 8);
	h->rdata = *off + 10;
	if (h->rdata + h->rdlen > len) return 0;
	*off = h->rdata + h->rdlen;
	return 1;
}

static int temp(struct dns_answer *a) { a->rcode = DNS_TEMP; return DNS_TEMP; }

int dns_parse_answer(const unsigned char *p, size_t len, uint16_t id,
                     const char *name, uint16_t type, struct dns_answer *a)
{
	char qname[DNS_NAME_MAX + 1], cur[DNS_NAME_MAX + 1];
	size_t off = 12, ans, i, an, hops = 0;
	unsigned rcode;

	a->n = 0;
	a->truncated = 0;
	a->cname[0] = 0;
	if (len < 12 || get16(p) != id) return temp(a);
	if (!(p[2] & 0x80) || (p[2] & 0x78)) return temp(a);   /* QR, QUERY */
	if (p[2] & 0x02) { a->truncated = 1; return temp(a); }
	rcode = p[3] & 0x0f;
	if (get16(p + 4) != 1) return temp(a);
	if (!dns_name_expand(p, len, &off, qname) || off + 4 > len) return temp(a);
	if (!name_eq(qname, name) || get16(p + off) != type || get16(p + off + 2) != 1)
		return temp(a);
	off += 4;
	ans = off;
	an = get16(p + 6);
	if (rcode == 3) { a->rcode = DNS_NXDOMAIN; return DNS_NXDOMAIN; }
	if (rcode != 0) return temp(a);

	/* follow the CNAME chain inside this answer */
	{
		size_t n = strlen(name);
		if (n && name[n - 1] == '.') n--;
		if (n > DNS_NAME_MAX) return temp(a);
		for (i = 0; i < n; i++) cur[i] = (char)lower((unsigned char)name[i]);
		cur[n] = 0;
	}
	for (;;) {
		int found = 0;
		struct rrhead h;
		off = ans;
		for (i = 0; i < an; i++) {
			if (!rr_read(p, len, &off, &h)) return temp(a);
			if (h.type == DNS_T_CNAME && h.class == 1 && name_eq(h.owner, cur)) {
				size_t r = h.rdata;
				char target[DNS_NAME_MAX + 1];
				if (!dns_name_expand(p, len, &r, target) || r != h.rdata + h.rdlen)
					return temp(a);
				memcpy(cur, target, strlen(target) + 1);
				found = 1;
				break;
			}
		}
		if (!found) break;
		if (++hops > DNS_CNAME_MAX) return temp(a);   /* a loop, or absurd */
	}

	/* the records of the asked type owned by the chain's end */
	off = ans;
	for (i = 0; i < an; i++) {
		struct rrhead h;
		struct dns_rr *rr;
		if (!rr_read(p, len, &off, &h)) return temp(a);
		if (h.type != type || h.class != 1 || !name_eq(h.owner, cur)) continue;
		if (a->n >= DNS_RR_MAX) continue;
		rr = &a->rr[a->n];
		memset(rr, 0, sizeof *rr);
		rr->type = (uint16_t)type;
		if (type == DNS_T_A) {
			if (h.rdlen != 4) return temp(a);
			memcpy(rr->addr, p + h.rdata, 4);
		} else if (type == DNS_T_AAAA) {
			if (h.rdlen != 16) return temp(a);
			memcpy(rr->addr, p + h.rdata, 16);
		} else if (type == DNS_T_MX) {
			size_t r = h.rdata + 2;
			if (h.rdlen < 3) return temp(a);
			rr->pref = (uint16_t)get16(p + h.rdata);
			if (!dns_name_expand(p, len, &r, rr->name) || r != h.rdata + h.rdlen)
				return temp(a);
		} else {
			continue;
		}
		a->n++;
	}
	if (a->n == 0 && !name_eq(cur, name)) memcpy(a->cname, cur, strlen(cur) + 1);
	a->rcode = DNS_OK;
	return DNS_OK;
}

/* ---- transport ---- */

static socklen_t ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int query_udp(const struct sockaddr_storage *ss, const unsigned char *q, size_t qlen,
                     uint16_t id, const char *name, uint16_t type, int timeout_ms,
                     struct dns_answer *a)
{
	unsigned char b[DNS_UDP_MAX];
	long long deadline = deadline_now() + timeout_ms;
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r = DNS_TEMP;

	a->truncated = 0;
	if (fd < 0) return DNS_TEMP;
	/* a connected socket only hears from the server we asked */
	if (connect(fd, (const struct sockaddr *)ss, ss_len(ss)) != 0 ||
	    send(fd, q, qlen, 0) != (ssize_t)qlen)
		goto out;
	for (;;) {
		ssize_t n;
		if (!deadline_wait(fd, POLLIN, deadline)) goto out;
		n = recv(fd, b, sizeof b, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			goto out;              /* ECONNREFUSED: nobody there */
		}
		/* an answer to some other question (a spoof, or a late
		 * reply) is ignored, not believed */
		if ((size_t)n < 12 || get16(b) != id) continue;
		r = dns_parse_answer(b, (size_t)n, id, name, type, a);
		break;
	}
out:
	close(fd);
	return r;
}

static int query_tcp(const struct sockaddr_storage *ss, const unsigned char *q, size_t qlen,
                     uint16_t id, const char *name, uint16_t type, int timeout_ms,
                     struct dns_answer *a)
{
	static const size_t cap = 2 + DNS_TCP_MAX;   /* the length prefix and the largest answer */
	unsigned char lenbuf[2], *b = 0;
	long long deadline = deadline_now() + timeout_ms;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r = DNS_TEMP, err;
	socklen_t el = sizeof err;
	size_t got = 0, want;
	str sb = STR_ZERO;

	if (fd < 0) return DNS_TEMP;
	if (connect(fd, (const struct sockaddr *)ss, ss_len(ss)) != 0) {
		if (errno != EINPROGRESS) goto out;
		if (!deadline_wait(fd, POLLOUT, deadline)) goto out;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) goto out;
	}
	lenbuf[0] = (unsigned char)(qlen >> 8);
	lenbuf[1] = (unsigned char)qlen;
	if (!str_append(&sb, lenbuf, 2) || !str_append(&sb, q, qlen)) goto out;
	while (got < sb.len) {
		ssize_t w;
		if (!deadline_wait(fd, POLLOUT, deadline)) goto out;
		w = send(fd, sb.s + got, sb.len - got, MSG_NOSIGNAL);
		if (w < 0) { if (errno == EINTR || errno == EAGAIN) continue; goto out; }
		got += (size_t)w;
	}
	/* two bytes of length, then exactly that many */
	want = 2;
	got = 0;
	if (!str_ready(&sb, cap)) goto out;
	b = (unsigned char *)sb.s;
	for (;;) {
		ssize_t n;
		if (got == want) {
			if (want == 2) {
				want = 2 + get16(b);
				if (want < 2 + 12) goto out;
				continue;
			}
			break;
		}
		if (!deadline_wait(fd, POLLIN, deadline)) goto out;
		n = recv(fd, b + got, want - got, 0);
		if (n < 0) { if (errno == EINTR || errno == EAGAIN) continue; goto out; }
		if (n == 0) goto out;
		got += (size_t)n;
	}
	r = dns_parse_answer(b + 2, want - 2, id, name, type, a);
	if (a->truncated) r = DNS_TEMP;   /* TC over TCP: nothing better to ask */
out:
	str_free(&sb);
	close(fd);
	return r;
}

static int query(struct dns *d, const char *name, uint16_t type, struct dns_answer *a)
{
	unsigned char q[DNS_UDP_MAX];
	uint16_t id;
	size_t qlen;
	int round;

	a->rcode = DNS_TEMP;
	a->n = 0;
	a->cname[0] = 0;
	for (round = 0; round < d->tries; round++) {
		for (size_t i = 0; i < d->nserver; i++) {
			int r;
			/* a fresh unpredictable id for every packet */
			if (!random_bytes(&id, sizeof id)) return DNS_TEMP;
			qlen = dns_build_query(q, sizeof q, id, name, type);
			if (!qlen) return DNS_TEMP;
			r = query_udp(&d->server[i], q, qlen, id, name, type, d->timeout_ms, a);
			if (a->truncated)
				r = query_tcp(&d->server[i], q, qlen, id, name, type, d->timeout_ms, a);
			if (r != DNS_TEMP) return r;
		}
	}
	a->rcode = DNS_TEMP;
	return DNS_TEMP;
}

/* a query that follows CNAMEs across answers, up to DNS_CNAME_MAX */
static int lookup(struct dns *d, const char *name, uint16_t type, struct dns_answer *a)
{
	char cur[DNS_NAME_MAX + 1];
	size_t n = strlen(name), hops;

	if (n > DNS_NAME_MAX) return DNS_TEMP;
	memcpy(cur, name, n + 1);
	for (hops = 0; hops <= DNS_CNAME_MAX; hops++) {
		int r = query(d, cur, type, a);
		if (r != DNS_OK) return r;
		if (a->n || !a->cname[0]) return DNS_OK;
		memcpy(cur, a->cname, strlen(a->cname) + 1);
	}
	a->rcode = DNS_TEMP;
	return DNS_TEMP;
}

static void shuffle(struct dns_rr *r, size_t n)
{
	/* Fisher-Yates over a run of equal preferences */
	for (size_t i = n; i > 1; i--) {
		uint32_t x;
		struct dns_rr t;
		size_t j;
		if (!random_bytes(&x, sizeof x)) return;
		j = x % i;
		t = r[i - 1];
		r[i - 1] = r[j];
		r[j] = t;
	}
}

int dns_mx(struct dns *d, const char *name, struct dns_rr *out, size_t max, size_t *n)
{
	struct dns_answer a;
	int r = lookup(d, name, DNS_T_MX, &a);
	size_t i, j, k = 0;

	*n = 0;
	if (r != DNS_OK) return r;
	for (i = 0; i < a.n && k < max; i++) out[k++] = a.rr[i];
	/* insertion sort: at most DNS_RR_MAX records */
	for (i = 1; i < k; i++) {
		struct dns_rr t = out[i];
		for (j = i; j > 0 && out[j - 1].pref > t.pref; j--) out[j] = out[j - 1];
		out[j] = t;
	}
	for (i = 0; i < k; i = j) {
		for (j = i + 1; j < k && out[j].pref == out[i].pref; j++) ;
		shuffle(out + i, j - i);
	}
	*n = k;
	return DNS_OK;
}

int dns_addrs(struct dns *d, const char *name, struct dns_rr *out, size_t max, size_t *n)
{
	struct dns_answer a;
	int r6, r4;
	size_t i, k = 0;

	*n = 0;
	r6 = lookup(d, name, DNS_T_AAAA, &a);
	if (r6 == DNS_OK)
		for (i = 0; i < a.n && k < max; i++) out[k++] = a.rr[i];
	r4 = lookup(d, name, DNS_T_A, &a);
	if (r4 == DNS_OK)
		for (i = 0; i < a.n && k < max; i++) out[k++] = a.rr[i];
	*n = k;
	/* one family answered: use it; a timeout (or an inconsistent
	 * NXDOMAIN) on the other is no reason to hold mail back */
	if (k) return DNS_OK;
	if (r4 == DNS_NXDOMAIN && r6 != DNS_TEMP) return DNS_NXDOMAIN;
	if (r6 == DNS_NXDOMAIN && r4 != DNS_TEMP) return DNS_NXDOMAIN;
	if (r4 == DNS_TEMP || r6 == DNS_TEMP) return DNS_TEMP;
	return DNS_OK;
}

/* ---- configuration ---- */

int dns_parse_server(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = 0;
	size_t n = strlen(s), hl;
	unsigned long long pv = 53;

	memset(ss, 0, sizeof *ss);
	if (n == 0) return 0;
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e) return 0;
		hl = (size_t)(e - s - 1);
		if (hl > INET6_ADDRSTRLEN) return 0;
		memcpy(host, s + 1, hl);
		host[hl] = 0;
		if (e[1] == ':') port = e + 2;
		else if (e[1]) return 0;
	} else {
		const char *c = strchr(s, ':');
		/* one colon: IPv4 with a port; more: a bare IPv6 address */
		if (c && !strchr(c + 1, ':')) { hl = (size_t)(c - s); port = c + 1; }
		else hl = n;
		if (hl > INET6_ADDRSTRLEN) return 0;
		memcpy(host, s, hl);
		host[hl] = 0;
	}
	if (port) {
		size_t pl = strlen(port);
		if (pl == 0 || scan_ulong_max(port, pl, 65535, &pv) != pl || pv == 0) return 0;
	}
	{
		/* built in their own types and copied: no stores through a
		 * pointer of another type */
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
		memset(&v4, 0, sizeof v4);
		memset(&v6, 0, sizeof v6);
		if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
			v4.sin_family = AF_INET;
			v4.sin_port = htons((uint16_t)pv);
			memcpy(ss, &v4, sizeof v4);
			return 1;
		}
		if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
			v6.sin6_family = AF_INET6;
			v6.sin6_port = htons((uint16_t)pv);
			memcpy(ss, &v6, sizeof v6);
			return 1;
		}
	}
	return 0;
}

static void resolv_conf(struct dns *d)
{
	char b[RESOLV_CONF_MAX];
	int fd = open(RESOLV_CONF, O_RDONLY | O_CLOEXEC);
	size_t len = 0, i = 0;

	if (fd < 0) return;
	while (len < sizeof b - 1) {
		ssize_t r = read(fd, b + len, sizeof b - 1 - len);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break;
		len += (size_t)r;
	}
	close(fd);
	b[len] = 0;
	while (i < len && d->nserver < DNS_SERVERS_MAX) {
		size_t e = i;
		while (e < len && b[e] != '\n') e++;
		b[e] = 0;
		if (strncmp(b + i, "nameserver", 10) == 0 && (b[i + 10] == ' ' || b[i + 10] == '\t')) {
			char *v = b + i + 11, *end;
			while (*v == ' ' || *v == '\t') v++;
			end = v;
			while (*end && *end != ' ' && *end != '\t' && *end != '\r') end++;
			*end = 0;
			/* resolv.conf has no ports; "::1" is one address */
			if (strchr(v, ':') && !strchr(v, '[')) {
				struct sockaddr_in6 v6;
				memset(&v6, 0, sizeof v6);
				if (inet_pton(AF_INET6, v, &v6.sin6_addr) == 1) {
					v6.sin6_family = AF_INET6;
					v6.sin6_port = htons(53);
					memset(&d->server[d->nserver], 0, sizeof d->server[0]);
					memcpy(&d->server[d->nserver], &v6, sizeof v6);
					d->nserver++;
				}
			} else if (dns_parse_server(v, &d->server[d->nserver])) {
				d->nserver++;
			}
		}
		i = e + 1;
	}
}

int dns_init(struct dns *d)
{
	str lines = STR_ZERO;
	int r;

	memset(d, 0, sizeof *d);
	d->timeout_ms = DNS_TIMEOUT_MS;
	d->tries = DNS_TRIES;
	r = control_readlines("control/nameservers", &lines);
	if (r < 0) { str_free(&lines); return 0; }
	if (r > 0) {
		size_t i = 0;
		while (i < lines.len) {
			const char *l = lines.s + i;
			size_t n = strlen(l);
			if (d->nserver < DNS_SERVERS_MAX) {
				if (!dns_parse_server(l, &d->server[d->nserver])) {
					str_free(&lines);
					errno = EINVAL;
					return 0;
				}
				d->nserver++;
			}
			i += n + 1;
		}
		str_free(&lines);
	} else {
		str_free(&lines);
		resolv_conf(d);
	}
	if (d->nserver == 0) dns_parse_server("127.0.0.1", &d->server[d->nserver++]);
	return 1;
}
