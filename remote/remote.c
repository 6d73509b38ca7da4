/* remote.c: facteur-remote DOMAIN SENDER RECIPIENT...: delivers the
 * message on fd 0 (a queue file, readable again from offset 0) to the
 * recipients at one remote domain, and prints one line per recipient, in
 * order: "RCPT<TAB>CODE<TAB>TEXT" with CODE 2 (delivered), 4 (try later)
 * or 5 (bounce). Run by facteur-send, which it trusts for its arguments
 * (checked anyway: they reach a network dialogue); the peers and DNS are
 * untrusted. Runs as facteur (drops root first when started as root). */
#include <errno.h>
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
#include "log.h"
#include "priv.h"
#include "remote.h"

static const char usage[] = "usage: facteur-remote DOMAIN SENDER RECIPIENT...";

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
 * LDH domain or an address literal. A U-label domain would need IDNA
 * (RFC 5891), which we do not do: bouncing now beats days of retries. */
static void remote_check_domain(struct remote *r)
{
	size_t n = strlen(r->domain), i;

	if (n && r->domain[n - 1] == '.') n--;
	if (n == 0 || n > DNS_NAME_MAX) {
		remote_decide_all(r, 5, "5.1.2 bad destination domain");
		return;
	}
	if (r->domain[0] == '[') {
		if (!addr_literal_ok(r->domain, n)) remote_decide_all(r, 5, "5.1.2 bad address literal");
		return;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)r->domain[i] >= 0x80) {
			remote_decide_all(r, 5, "5.1.2 non-ASCII domain names (IDNA) are not supported");
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

int main(int argc, char **argv)
{
	struct remote r;
	struct dns d;
	struct stat st;
	str why = STR_ZERO;
	unsigned long long cap;
	size_t i;
	int res, bad_sender = 0;

	log_setprog("facteur-remote");
	signal(SIGPIPE, SIG_IGN);
	if (argc < 4) log_fatal(EX_USAGE, usage, (char *)0);
	if (!priv_drop(PRIV_USER)) log_fatalsys(EX_TEMPFAIL, "fatal: unable to drop privileges", (char *)0);

	memset(&r, 0, sizeof r);
	r.domain = argv[1];
	r.sender = argv[2];
	r.msgfd = 0;
	r.nrcpt = (size_t)(argc - 3);
	r.rcpt = calloc(r.nrcpt, sizeof *r.rcpt);
	if (!r.rcpt) log_fatalsys(EX_TEMPFAIL, "fatal: out of memory", (char *)0);
	for (i = 0; i < r.nrcpt; i++) {
		r.rcpt[i].addr = argv[3 + i];
		/* the rest wait for another run: every run makes progress */
		if (i >= REMOTE_RCPT_MAX) {
			r.rcpt[i].code = 4;
			str_copys(&r.rcpt[i].text, "4.5.3 too many recipients in one run");
		}
	}

	if (fstat(0, &st) != 0 || !S_ISREG(st.st_mode))
		log_fatal(EX_USAGE, "fatal: the message on fd 0 must be a regular file", (char *)0);
	if (!msg_scan(0, &r.msgsize, &r.msg8bit))
		log_fatalsys(EX_TEMPFAIL, "fatal: unable to read the message", (char *)0);

	if (!wire_ok(r.sender, &r.envutf8)) bad_sender = 1;
	for (i = 0; i < r.nrcpt; i++) {
		int u = 0;
		if (!wire_ok(r.rcpt[i].addr, &u) || !r.rcpt[i].addr[0]) {
			r.rcpt[i].code = 5;
			str_copys(&r.rcpt[i].text, "5.1.3 recipient address not fit for SMTP");
		}
		if (u) r.envutf8 = 1;
	}
	if (bad_sender) remote_decide_all(&r, 5, "5.1.7 sender address not fit for SMTP");
	remote_check_domain(&r);

	read_me(&r);
	str_0(&r.me);
	if (control_readulong("control/remotetimeout", &cap, 0) < 0 || cap > 86400)
		remote_decide_all(&r, 4, "4.3.5 bad control/remotetimeout");
	r.cap_ms = (int)cap * 1000;
	r.tlspolicy = route_tlspolicy(r.domain);
	if (r.tlspolicy < 0) remote_decide_all(&r, 4, "4.3.5 bad control/tlspolicy");
	if (!dns_init(&d)) remote_decide_all(&r, 4, "4.3.5 bad control/nameservers");
	if (r.cap_ms && d.timeout_ms > r.cap_ms) d.timeout_ms = r.cap_ms;

	if (remote_undecided(&r)) {
		res = route_find(&r, &d, &why);
		str_0(&why);
		if (res != 2) {
			log_line("no route to ", r.domain, ": ", why.s, (char *)0);
			remote_decide_all(&r, res, why.s);
		}
	}
	for (i = 0; i < r.ntarget && i < REMOTE_TRY_MAX && remote_undecided(&r); i++) {
		int s = session_run(&r, &r.target[i], 1);
		if (s == SESSION_PLAIN && remote_undecided(&r)) {
			/* opportunistic TLS failed: the same host in plaintext,
			 * as a peer with a broken TLS stack deserves */
			log_line("retrying without TLS", (char *)0);
			session_run(&r, &r.target[i], 0);
		}
	}
	if (remote_undecided(&r)) {
		str_0(&r.lasterr);
		remote_decide_all(&r, 4, r.lasterr.len ? r.lasterr.s : "4.4.1 no host could be reached");
	}
	print_results(&r);
	for (i = 0; i < r.nrcpt; i++) str_free(&r.rcpt[i].text);
	free(r.rcpt);
	str_free(&r.me);
	str_free(&r.lasterr);
	str_free(&why);
	SSL_CTX_free(r.ctx);
	return 0;
}
