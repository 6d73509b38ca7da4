/* unit-tlsconf.c: t/bin/unit-tlsconf, unit tests of lib/tlsconf (the TLS
 * policy, certificate loading, SNI, the client side that remote delivery
 * uses) and of tlsctl_maybe_exec_engine's refusals. Handshakes run in
 * memory over a BIO pair. $FACTEUR_HOME is an instance that t/76 made:
 * control/tls/{cert,key}.pem, other.example/, and in $UNIT_TLS_DIR the
 * files bad-key.pem (another key) and enc-key.pem (a passphrase key). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "str.h"
#include "tlsconf.h"
#include "tlsctl.h"
#include "../t/unit/tap.h"

#define HANDSHAKE_ROUNDS 100

/* 1 when a handshake between the two completes */
static int handshake(SSL *c, SSL *s)
{
	BIO *cb, *sb;
	int i, cd = 0, sd = 0;

	if (!BIO_new_bio_pair(&cb, 0, &sb, 0)) return 0;
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (i = 0; i < HANDSHAKE_ROUNDS && !(cd && sd); i++) {
		if (!cd) {
			int r = SSL_do_handshake(c);
			if (r == 1) cd = 1;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ &&
			         SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE) return 0;
		}
		if (!sd) {
			int r = SSL_do_handshake(s);
			if (r == 1) sd = 1;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ &&
			         SSL_get_error(s, r) != SSL_ERROR_WANT_WRITE) return 0;
		}
	}
	return cd && sd;
}

/* a client/server pair: handshake result, SNI seen by the server */
static int try_pair(struct tlsconf_server *srv, SSL_CTX *cctx, const char *host, int verify,
                    const char **sni, str *info)
{
	SSL *c = SSL_new(cctx), *s = SSL_new(tlsconf_server_ctx(srv));
	int ok;

	if (!c || !s) return 0;
	if (!tlsconf_client_prepare(c, host, verify)) { SSL_free(c); SSL_free(s); return 0; }
	ok = handshake(c, s);
	if (sni) *sni = ok ? tlsconf_server_sni(srv, s) : 0;
	if (info && ok) tlsconf_describe(s, info);
	SSL_free(c);
	SSL_free(s);
	ERR_clear_error();
	return ok;
}

static void set_home(const char *h) { setenv("FACTEUR_HOME", h, 1); }

int main(void)
{
	const char *home = getenv("FACTEUR_HOME");
	const char *dir = getenv("UNIT_TLS_DIR");
	str err = STR_ZERO, info = STR_ZERO, path = STR_ZERO;
	struct tlsconf_server *srv;
	SSL_CTX *ctx, *cl, *cv;
	const char *sni = 0;
	char *argv_t[] = { (char *)"tls-prog", (char *)"-t", 0 };

	if (!home || !dir) { printf("1..0 # SKIP run by t/76-tlsconf-unit.t\n"); return 0; }

	OK(tlsconf_server_available() == 1, "server_available with cert.pem");
	srv = tlsconf_server_read(&err);
	OK(srv != 0, "server_read");
	if (!srv) { printf("# %s\n", err.s ? err.s : ""); DONE(); }
	OK(tlsconf_server_ctx(srv) == 0, "no context before prepare (files only read)");
	OK(tlsconf_server_prepare(srv, &err) == 1, "server_prepare");
	OK(tlsconf_server_prepare(srv, &err) == 1, "server_prepare again is harmless");
	ctx = tlsconf_server_ctx(srv);
	OK(ctx != 0, "context after prepare");
	OK(SSL_CTX_get_min_proto_version(ctx) == TLS1_2_VERSION, "minimum TLS 1.2");
	OK(SSL_CTX_get_max_proto_version(ctx) == TLS1_3_VERSION, "maximum TLS 1.3");
	OK((SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET) != 0, "no session tickets");
	OK(SSL_CTX_get_num_tickets(ctx) == 0, "no TLS 1.3 tickets either");
	OK((SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION) != 0, "no compression");
	OK((SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION) != 0, "no renegotiation");
	OK(SSL_CTX_get_session_cache_mode(ctx) == SSL_SESS_CACHE_OFF, "no session cache");

	cl = tlsconf_client_new(0, &err);
	OK(cl != 0, "client context without verification");
	OK(SSL_CTX_get_min_proto_version(cl) == TLS1_2_VERSION, "client: minimum TLS 1.2 too");
	OK(try_pair(srv, cl, "mx.example.org", 0, &sni, &info), "in-memory handshake");
	OK(sni == 0, "default certificate for a name without its own");
	OK(info.len > 8 && memcmp(info.s, "TLSv1.3 ", 8) == 0, "describe: TLSv1.3 CIPHER");
	OK(try_pair(srv, cl, "other.example", 0, &sni, 0) && sni && strcmp(sni, "other.example") == 0,
	   "client SNI other.example picks its certificate");
	OK(try_pair(srv, cl, "OTHER.EXAMPLE", 0, &sni, 0) && sni && strcmp(sni, "other.example") == 0,
	   "SNI compared without case");
	OK(try_pair(srv, cl, 0, 0, &sni, 0) && sni == 0, "no SNI: default certificate");

	cv = tlsconf_client_new(1, &err);
	OK(cv != 0, "client context with verification (system CA store)");
	OK(!try_pair(srv, cv, "other.example", 1, 0, 0), "verify: a self-signed peer is refused");
	{
		SSL *x = SSL_new(cv);
		OK(x && !tlsconf_client_prepare(x, 0, 1), "verification without a host name refused");
		SSL_free(x);
	}
	if (!str_copys(&path, dir) || !str_appends(&path, "/other-cert.pem") || !str_0(&path)) return 1;
	OK(SSL_CTX_load_verify_locations(cv, path.s, 0) == 1, "trust other.example's certificate");
	OK(try_pair(srv, cv, "other.example", 1, &sni, 0), "verify: trusted chain and matching name");
	OK(!try_pair(srv, cv, "wrong.example", 1, 0, 0), "verify: trusted chain, wrong name refused");
	OK(tlsconf_server_error(srv) == 0, "no per-domain error after good handshakes");
	SSL_CTX_free(cv);
	tlsconf_server_free(srv);

	/* after forget, the keys not parsed are gone: their names fail */
	srv = tlsconf_server_load(&err);
	OK(srv != 0, "load (read + prepare)");
	if (!srv) DONE();
	tlsconf_server_forget(srv);
	OK(try_pair(srv, cl, "mx.example.org", 0, &sni, 0), "default pair still serves after forget");
	OK(!try_pair(srv, cl, "other.example", 0, 0, 0), "a domain never parsed before forget: refused");
	OK(tlsconf_server_error(srv) != 0, "and the reason is kept for the log");
	SSL_CTX_free(cl);
	tlsconf_server_free(srv);

	/* broken pairs: refused with the file named, never a prompt */
	if (!str_copys(&path, dir) || !str_appends(&path, "/badhome") || !str_0(&path)) return 1;
	set_home(path.s);
	srv = tlsconf_server_load(&err);
	OK(srv == 0 && str_0(&err) && strstr(err.s, "key.pem") != 0, "mismatched key refused, key.pem named");
	tlsconf_server_free(srv);
	if (!str_copys(&path, dir) || !str_appends(&path, "/enchome") || !str_0(&path)) return 1;
	set_home(path.s);
	srv = tlsconf_server_load(&err);
	OK(srv == 0, "passphrase-protected key refused without asking");
	tlsconf_server_free(srv);
	if (!str_copys(&path, dir) || !str_appends(&path, "/nothing") || !str_0(&path)) return 1;
	set_home(path.s);
	OK(tlsconf_server_available() == 0, "no cert.pem: not available");
	srv = tlsconf_server_read(&err);
	OK(srv == 0 && str_0(&err) && strstr(err.s, "cert.pem") != 0, "no cert.pem: read fails, says which");

	/* the engine is not run when it is there already, and implicit TLS
	 * without an engine to find is an error */
	setenv("FACTEUR_TLSCTL", "", 1);
	OK(tlsctl_maybe_exec_engine(argv_t, 1) == 0, "FACTEUR_TLSCTL set: no engine run");
	unsetenv("FACTEUR_TLSCTL");
	OK(tlsctl_maybe_exec_engine(argv_t, 0) == 0, "no certificate, no -t: plaintext");
	setenv("PATH", "/nonexistent", 1);
	OK(tlsctl_maybe_exec_engine(argv_t, 1) == -1, "-t and no engine to be found: -1");

	str_free(&err);
	str_free(&info);
	str_free(&path);
	DONE();
}
