/* remote.c: facteur-remote DOMAIN SENDER RECIPIENT...: delivers the
 * message on fd 0 (a queue file, readable again from offset 0) to the
 * recipients at one remote domain, and prints one line per recipient, in
 * order: "RCPT<TAB>CODE<TAB>TEXT" with CODE 2 (delivered), 4 (try later)
 * or 5 (bounce). facteur-remote -b DOMAIN [PATH N SENDER RCPT*N]...: the
 * same for several messages (queue files named by path), all over one
 * connection when the host allows; the results come message by message,
 * in order, each as soon as it is known. Run by facteur-send, which it
 * trusts for its arguments (checked anyway: they reach a network
 * dialogue); the peers and DNS are untrusted. Runs as facteur (drops
 * root first when started as root). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "addr.h"
#include "buf.h"
#include "control.h"
#include "dns.h"
#include "exitcodes.h"
#include "idna.h"
#include "log.h"
#include "priv.h"
#include "remote.h"
#include "scan.h"

static const char usage[] = "usage: facteur-remote DOMAIN SENDER RECIPIENT... | -b DOMAIN [PATH N SENDER RCPT...]...";

/* an address as it may appear between < and > on the wire: no controls,
 * no brackets, no spaces outside what addr.h allows. Returns 0 when bad. */
static int wire_ok(const char *a, int *utf8)
{
	size_t n = strlen(a), i;

	if (n > ADDR_PATH_MAX) return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c < 0x20 || c == 0x7f || c == '<' || c == '>') return 0;
		if (c >= 0x80) *utf8 = 1;
	}
	if (*utf8 && !utf8_valid(a, n)) return 0;
	return 1;
}

static void print_results(const struct remote *r)
{
	str out = STR_ZERO;
	size_t i, j;

	for (i = 0; i < r->nrcpt; i++) {
		const struct rcpt *rc = &r->rcpt[i];
		/* the address as given, but never a line break or tab */
		for (j = 0; rc->addr[j]; j++) {
			unsigned char c = (unsigned char)rc->addr[j];
			str_appendc(&out, (c < 0x20 || c == 0x7f) ? '?' : (char)c);
		}
		str_appendc(&out, '\t');
		str_appendc(&out, (char)('0' + rc->code));
		str_appendc(&out, '\t');
		/* one line, no tab: facteur-send splits on both */
		for (j = 0; j < rc->text.len; j++) {
			char c = rc->text.s[j];
			str_appendc(&out, (c == '\n' || c == '\t' || c == '\r') ? ' ' : c);
		}
		str_appendc(&out, '\n');
		log_line("result ", rc->addr, ": ", rc->code == 2 ? "delivered" : rc->code == 4 ? "deferred" : "failed",
		         ": ", (str_0(&((struct rcpt *)rc)->text), rc->text.s ? rc->text.s : ""), (char *)0);
	}
	if (!fd_writeall(1, out.s, out.len, -1))
		log_fatalsys(EX_TEMPFAIL, "fatal: unable to write results", (char *)0);
	str_free(&out);
}

int remote_timeout(const struct remote *r, int seconds)
{
	long long ms = (long long)seconds * 1000;
	if (r->cap_ms > 0 && ms > r->cap_ms) ms = r->cap_ms;
	return (int)ms;
}

void remote_decide_all(struct remote *r, int code, const char *text)
{
	for (size_t i = 0; i < r->nrcpt; i++) {
		if (r->rcpt[i].code) continue;
		r->rcpt[i].code = code;
		str_copys(&r->rcpt[i].text, text);
	}
}

size_t remote_undecided(const struct remote *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nrcpt; i++) n += r->rcpt[i].code == 0;
	return n;
}

/* the destination must be something DNS or an address can name: an
 * LDH domain, one whose non-ASCII labels have A-labels (route_find asks
 * the DNS for those, RFC 5891), or an address literal. Anything else
 * bounces now, which beats days of retries. */
static void remote_check_domain(struct remote *r)
{
	size_t n = strlen(r->domain);

	if (n && r->domain[n - 1] == '.') n--;
	if (n == 0 || n > DNS_NAME_MAX) {
		remote_decide_all(r, 5, "5.1.2 bad destination domain");
		return;
	}
	if (r->domain[0] == '[') {
		if (!addr_literal_ok(r->domain, n)) remote_decide_all(r, 5, "5.1.2 bad address literal");
		return;
	}
	if (idna_nonascii(r->domain, n)) {
		str a = STR_ZERO;
		int ok = idna_to_ascii(r->domain, n, &a), e = errno;
		if (ok) ok = addr_domain_ok(a.s, a.len, 0);
		str_free(&a);
		if (!ok && e == ENOMEM) remote_decide_all(r, 4, "4.3.0 out of memory");
		else if (!ok) remote_decide_all(r, 5, "5.1.2 bad destination domain (no valid A-label, RFC 5891)");
		return;
	}
	if (!addr_domain_ok(r->domain, n, 0)) remote_decide_all(r, 5, "5.1.2 bad destination domain");
}

static void read_me(struct remote *r)
{
	char host[256];
	int res = control_readline("control/me", &r->me);

	if (res > 0 && r->me.len) return;
	if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
	host[sizeof host - 1] = 0;
	str_copys(&r->me, host[0] ? host : "localhost");
}

void remote_report(struct remote **rs, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (rs[k]->printed) continue;
		if (remote_undecided(rs[k])) return;
		print_results(rs[k]);
		rs[k]->printed = 1;
	}
}

static void decide_every(struct remote **rs, size_t n, int code, const char *text)
{
	for (size_t k = 0; k < n; k++) remote_decide_all(rs[k], code, text);
}

/* one message: its file, sender and recipients, checked. In the
 * one-message form (path 0) a message that cannot be read is fatal, as
 * it always was; in a batch it is that message's temporary failure. */
static void msg_setup(struct remote *r, const char *domain, const char *path, const char *sender,
                      char **rcpts, size_t n)
{
	struct stat st;
	size_t i;
	int bad_sender = 0;

	r->domain = domain;
	r->sender = sender;
	r->nrcpt = n;
	r->rcpt = calloc(n ? n : 1, sizeof *r->rcpt);
	if (!r->rcpt) log_fatalsys(EX_TEMPFAIL, "fatal: out of memory", (char *)0);
	for (i = 0; i < n; i++) {
		r->rcpt[i].addr = rcpts[i];
		/* the rest wait for another run: every run makes progress */
		if (i >= REMOTE_RCPT_MAX) {
			r->rcpt[i].code = 4;
			str_copys(&r->rcpt[i].text, "4.5.3 too many recipients in one run");
		}
	}
	r->msgfd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : 0;
	if (r->msgfd < 0 || fstat(r->msgfd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (!path) log_fatal(EX_USAGE, "fatal: the message on fd 0 must be a regular file", (char *)0);
		log_line("unable to open ", path, (char *)0);
		remote_decide_all(r, 4, "4.3.0 unable to open the queued message");
		return;
	}
	if (!msg_scan(r->msgfd, &r->msgsize, &r->msg8bit)) {
		if (!path) log_fatalsys(EX_TEMPFAIL, "fatal: unable to read the message", (char *)0);
		remote_decide_all(r, 4, "4.3.0 unable to read the queued message");
		return;
	}
	if (!wire_ok(r->sender, &r->envutf8)) bad_sender = 1;
	for (i = 0; i < r->nrcpt; i++) {
		int u = 0;
		if (!wire_ok(r->rcpt[i].addr, &u) || !r->rcpt[i].addr[0]) {
			r->rcpt[i].code = 5;
			str_copys(&r->rcpt[i].text, "5.1.3 recipient address not fit for SMTP");
		}
		if (u) r->envutf8 = 1;
	}
	if (bad_sender) remote_decide_all(r, 5, "5.1.7 sender address not fit for SMTP");
	remote_check_domain(r);
}

/* -b DOMAIN then groups PATH N SENDER RCPT*N: the number of messages */
static size_t parse_batch(int argc, char **argv, struct remote *rs)
{
	size_t n = 0;
	int a = 3;

	while (a < argc) {
		unsigned long long k;
		size_t len = strlen(argv[a + 1 < argc ? a + 1 : a]);
		if (n >= REMOTE_BATCH_MAX) log_fatal(EX_USAGE, "fatal: more than 100 messages in one run", (char *)0);
		if (a + 3 > argc || scan_ulong(argv[a + 1], len, &k) != len || k == 0 ||
		    k > (unsigned long long)(argc - a - 3))
			log_fatal(EX_USAGE, usage, (char *)0);
		msg_setup(&rs[n++], argv[2], argv[a], argv[a + 2], argv + a + 3, (size_t)k);
		a += 3 + (int)k;
	}
	if (!n) log_fatal(EX_USAGE, usage, (char *)0);
	return n;
}

int main(int argc, char **argv)
{
	struct remote *all, **rs, *lead;
	struct dns d;
	str why = STR_ZERO;
	unsigned long long cap;
	size_t i, k, n;
	int res, batch;

	log_setprog("facteur-remote");
	signal(SIGPIPE, SIG_IGN);
	batch = argc > 1 && strcmp(argv[1], "-b") == 0;
	if (argc < (batch ? 6 : 4)) log_fatal(EX_USAGE, usage, (char *)0);
	if (!priv_drop(PRIV_USER)) log_fatalsys(EX_TEMPFAIL, "fatal: unable to drop privileges", (char *)0);

	all = calloc(batch ? REMOTE_BATCH_MAX : 1, sizeof *all);
	rs = calloc(batch ? REMOTE_BATCH_MAX : 1, sizeof *rs);
	if (!all || !rs) log_fatalsys(EX_TEMPFAIL, "fatal: out of memory", (char *)0);
	if (batch) {
		n = parse_batch(argc, argv, all);
	} else {
		n = 1;
		msg_setup(&all[0], argv[1], 0, argv[2], argv + 3, (size_t)(argc - 3));
	}
	for (k = 0; k < n; k++) rs[k] = &all[k];
	lead = rs[0];

	/* what the messages share: read once, copied */
	read_me(lead);
	str_0(&lead->me);
	if (control_readulong("control/remotetimeout", &cap, 0) < 0 || cap > 86400) {
		decide_every(rs, n, 4, "4.3.5 bad control/remotetimeout");
		cap = 0;
	}
	lead->cap_ms = (int)cap * 1000;
	lead->tlspolicy = route_tlspolicy(lead->domain);
	if (lead->tlspolicy < 0) decide_every(rs, n, 4, "4.3.5 bad control/tlspolicy");
	if (!dns_init(&d)) decide_every(rs, n, 4, "4.3.5 bad control/nameservers");
	if (lead->cap_ms && d.timeout_ms > lead->cap_ms) d.timeout_ms = lead->cap_ms;

	for (k = 0; k < n && !remote_undecided(rs[k]); k++)
		;
	if (k < n) {
		res = route_find(lead, &d, &why);
		str_0(&why);
		if (res != 2) {
			log_line("no route to ", lead->domain, ": ", why.s, (char *)0);
			decide_every(rs, n, res, why.s);
		}
	}
	for (k = 1; k < n; k++) {
		str_copy(&rs[k]->me, lead->me.s, lead->me.len);
		str_0(&rs[k]->me);
		rs[k]->cap_ms = lead->cap_ms;
		rs[k]->port = lead->port;
		rs[k]->tlspolicy = lead->tlspolicy;
		memcpy(rs[k]->target, lead->target, sizeof lead->target);
		rs[k]->ntarget = lead->ntarget;
	}
	remote_report(rs, n);
	for (i = 0; i < lead->ntarget && i < REMOTE_TRY_MAX; i++) {
		int s;
		for (k = 0; k < n && !remote_undecided(rs[k]); k++)
			;
		if (k == n) break;
		s = session_run(rs, n, &lead->target[i], 1);
		if (s == SESSION_PLAIN) {
			/* opportunistic TLS failed: the same host in plaintext,
			 * as a peer with a broken TLS stack deserves */
			log_line("retrying without TLS", (char *)0);
			session_run(rs, n, &lead->target[i], 0);
		}
	}
	for (k = 0; k < n; k++) {
		struct remote *r = rs[k];
		if (!remote_undecided(r)) continue;
		str_0(&r->lasterr);
		remote_decide_all(r, 4, r->lasterr.len ? r->lasterr.s : "4.4.1 no host could be reached");
	}
	remote_report(rs, n);
	for (k = 0; k < n; k++) {
		struct remote *r = rs[k];
		for (i = 0; i < r->nrcpt; i++) str_free(&r->rcpt[i].text);
		free(r->rcpt);
		if (r->msgfd > 0) close(r->msgfd);
		str_free(&r->me);
		str_free(&r->lasterr);
		SSL_CTX_free(r->ctx);
	}
	free(all);
	free(rs);
	str_free(&why);
	return 0;
}
