/* tlsconf.c: OpenSSL contexts with facteur's TLS policy (see tlsconf.h).
 * Trusts the instance's control/tls/ files (the admin's); the SNI name
 * comes from the network and is only compared, never used as a path.
 * Runs in the TLS engine as root while it loads keys, and in the SMTP
 * client as facteur. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/ssl.h>
#include "control.h"
#include "tlsconf.h"

struct sni_entry {
	char *name;             /* lower case, no trailing dot */
	SSL_CTX *ctx;
};

struct tlsconf_server {
	SSL_CTX *def;
	struct sni_entry *sni;
	size_t nsni;
};

void tlsconf_error(str *out)
{
	unsigned long e = ERR_get_error();
	unsigned long last = e;
	char b[256];

	while (e) { last = e; e = ERR_get_error(); }
	if (!last) { str_appends(out, "unknown TLS error"); return; }
	ERR_error_string_n(last, b, sizeof b);
	str_appends(out, b);
}

int tlsconf_harden(SSL_CTX *ctx)
{
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) return 0;
	if (!SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) return 0;
	if (!SSL_CTX_set_cipher_list(ctx, TLSCONF_CIPHERS)) return 0;
	if (!SSL_CTX_set1_groups_list(ctx, TLSCONF_GROUPS)) return 0;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                    SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* stateful TLS 1.3 tickets would need the cache we turn off */
	if (!SSL_CTX_set_num_tickets(ctx, 0)) return 0;
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return 1;
}

static int tls_path(str *out, const char *sub, const char *file)
{
	if (!control_path(out, TLSCONF_DIR)) return 0;
	if (sub && (!str_appendc(out, '/') || !str_appends(out, sub))) return 0;
	if (!str_appendc(out, '/') || !str_appends(out, file)) return 0;
	return str_0(out);
}

int tlsconf_server_available(void)
{
	str p = STR_ZERO;
	struct stat st;
	int r;

	if (!tls_path(&p, 0, "cert.pem")) return -1;
	r = stat(p.s, &st);
	str_free(&p);
	if (r == 0) return 1;
	return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

/* a context holding dir/cert.pem and dir/key.pem (dir 0: the default) */
static SSL_CTX *server_ctx(const char *sub, str *err)
{
	str cert = STR_ZERO, key = STR_ZERO;
	SSL_CTX *ctx = 0;

	if (!tls_path(&cert, sub, "cert.pem") || !tls_path(&key, sub, "key.pem")) {
		str_appends(err, "out of memory");
		goto out;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || !tlsconf_harden(ctx)) {
		str_appends(err, "unable to set up TLS: ");
		tlsconf_error(err);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert.s) != 1) {
		str_appends(err, "unable to load ");
		str_appends(err, cert.s);
		str_appends(err, ": ");
		tlsconf_error(err);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key.s, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		str_appends(err, "unable to load ");
		str_appends(err, key.s);
		str_appends(err, ": ");
		tlsconf_error(err);
		goto fail;
	}
	goto out;
fail:
	SSL_CTX_free(ctx);
	ctx = 0;
out:
	str_free(&cert);
	str_free(&key);
	return ctx;
}

/* the names we accept as per-domain directories: lower-case LDH labels */
static int domain_name_ok(const char *s)
{
	size_t n = strlen(s), i, label = 0;

	if (n == 0 || n > TLSCONF_NAME_MAX || s[0] == '.' || s[n - 1] == '.') return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0) return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (++label > 63) return 0;
	}
	return 1;
}

static int sni_callback(SSL *ssl, int *alert, void *arg)
{
	const struct tlsconf_server *s = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char low[TLSCONF_NAME_MAX + 1];
	size_t n, i;

	(void)alert;
	if (!name) return SSL_TLSEXT_ERR_OK;
	n = strlen(name);
	if (n && name[n - 1] == '.') n--;
	if (n == 0 || n > TLSCONF_NAME_MAX) return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < n; i++) {
		char c = name[i];
		low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	low[n] = 0;
	for (i = 0; i < s->nsni; i++) {
		if (strcmp(s->sni[i].name, low) == 0) {
			/* unknown names keep the default certificate: a wrong name
			 * is for the client to judge, not a reason to hang up */
			if (!SSL_set_SSL_CTX(ssl, s->sni[i].ctx)) return SSL_TLSEXT_ERR_ALERT_FATAL;
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

static int sni_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sni_entry *)a)->name, ((const struct sni_entry *)b)->name);
}

static int load_domains(struct tlsconf_server *s, str *err)
{
	str dir = STR_ZERO, probe = STR_ZERO;
	DIR *d;
	struct dirent *e;
	int ok = 1;

	if (!control_path(&dir, TLSCONF_DIR) || !str_0(&dir)) {
		str_appends(err, "out of memory");
		return 0;
	}
	d = opendir(dir.s);
	if (!d) { str_free(&dir); return 1; }
	while (ok && (e = readdir(d))) {
		struct stat st;
		SSL_CTX *ctx;
		struct sni_entry *grown;

		if (e->d_name[0] == '.' || !domain_name_ok(e->d_name)) continue;
		if (!tls_path(&probe, e->d_name, "cert.pem")) { ok = 0; str_appends(err, "out of memory"); break; }
		if (stat(probe.s, &st) != 0 || !S_ISREG(st.st_mode)) continue;
		if (s->nsni >= TLSCONF_SNI_MAX) {
			str_appends(err, "too many per-domain certificates");
			ok = 0;
			break;
		}
		ctx = server_ctx(e->d_name, err);
		if (!ctx) { ok = 0; break; }
		grown = realloc(s->sni, (s->nsni + 1) * sizeof *s->sni);
		if (!grown) { SSL_CTX_free(ctx); str_appends(err, "out of memory"); ok = 0; break; }
		s->sni = grown;
		s->sni[s->nsni].name = strdup(e->d_name);
		if (!s->sni[s->nsni].name) { SSL_CTX_free(ctx); str_appends(err, "out of memory"); ok = 0; break; }
		s->sni[s->nsni].ctx = ctx;
		s->nsni++;
	}
	closedir(d);
	str_free(&dir);
	str_free(&probe);
	if (ok && s->nsni > 1) qsort(s->sni, s->nsni, sizeof *s->sni, sni_cmp);
	return ok;
}

struct tlsconf_server *tlsconf_server_load(str *err)
{
	struct tlsconf_server *s = calloc(1, sizeof *s);

	str_clear(err);
	if (!s) { str_appends(err, "out of memory"); return 0; }
	s->def = server_ctx(0, err);
	if (!s->def || !load_domains(s, err)) {
		tlsconf_server_free(s);
		return 0;
	}
	SSL_CTX_set_tlsext_servername_callback(s->def, sni_callback);
	SSL_CTX_set_tlsext_servername_arg(s->def, s);
	return s;
}

SSL_CTX *tlsconf_server_ctx(const struct tlsconf_server *s) { return s->def; }

const char *tlsconf_server_sni(const struct tlsconf_server *s, const SSL *ssl)
{
	const SSL_CTX *cur = SSL_get_SSL_CTX(ssl);
	size_t i;

	for (i = 0; i < s->nsni; i++)
		if (s->sni[i].ctx == cur) return s->sni[i].name;
	return 0;
}

void tlsconf_server_free(struct tlsconf_server *s)
{
	size_t i;

	if (!s) return;
	for (i = 0; i < s->nsni; i++) {
		SSL_CTX_free(s->sni[i].ctx);
		free(s->sni[i].name);
	}
	free(s->sni);
	SSL_CTX_free(s->def);
	free(s);
}

SSL_CTX *tlsconf_client_new(int verify, str *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	str_clear(err);
	if (!ctx || !tlsconf_harden(ctx)) {
		str_appends(err, "unable to set up TLS: ");
		tlsconf_error(err);
		SSL_CTX_free(ctx);
		return 0;
	}
	if (verify) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			str_appends(err, "unable to load the CA store: ");
			tlsconf_error(err);
			SSL_CTX_free(ctx);
			return 0;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, 0);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, 0);
	}
	return ctx;
}

int tlsconf_client_prepare(SSL *ssl, const char *host, int verify)
{
	if (host && *host && SSL_set_tlsext_host_name(ssl, host) != 1) return 0;
	if (verify) {
		if (!host || !*host) return 0;
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(ssl, host) != 1) return 0;
	}
	return 1;
}

int tlsconf_describe(const SSL *ssl, str *out)
{
	const char *v = SSL_get_version(ssl);
	const char *c = SSL_get_cipher_name(ssl);

	str_clear(out);
	if (!str_appends(out, v ? v : "TLS") || !str_appendc(out, ' ') ||
	    !str_appends(out, c ? c : "unknown"))
		return 0;
	if (out->len > TLSCONF_INFO_MAX) out->len = TLSCONF_INFO_MAX;
	return str_0(out);
}
