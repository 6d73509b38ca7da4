/* tlsconf.c: OpenSSL contexts with facteur's TLS policy (see tlsconf.h).
 * Trusts the instance's control/tls/ files (the admin's); the SNI name
 * comes from the network and is only compared, never used as a path.
 * Runs in the TLS engine as root while it loads keys, and in the SMTP
 * client as facteur. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <openssl/ssl.h>
#include "control.h"
#include "tlsconf.h"

/* One certificate and key: read from disk as root, parsed into a context
 * when first needed (the default at prepare time, a domain's when a client
 * names it), the PEM text wiped once parsed or no longer needed. */
struct pem_pair {
	char *name;             /* lower-case SNI name, or 0 for the default */
	str cert, key;          /* PEM text until parsed */
	str cert_path, key_path;
	SSL_CTX *ctx;
	int failed;             /* parsing was tried and failed */
};

struct tlsconf_server {
	struct pem_pair *pem;   /* pem[0] is the default pair */
	size_t npem;
	int prepared;
	str err;                /* why a per-domain pair failed, for the log */
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

int tlsconf_server_available(void)
{
	return tlsfiles_available();
}

/* whole file into out, bounded; 1 ok, 0 error (reason in err) */
static int read_pem(const char *path, str *out, str *err)
{
	str_clear(out);
	if (tlsfiles_read(path, out, err)) return 1;
	str_wipe(out);
	return 0;
}

/* never ask a terminal for a passphrase: an encrypted key is an error */
static int no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf; (void)size; (void)rw; (void)u;
	return -1;
}

static void load_error(str *err, const str *path)
{
	str_appends(err, "unable to load ");
	str_append(err, path->s, path->len);
	str_appends(err, ": ");
	tlsconf_error(err);
}

/* a context holding one pair (the chain: leaf first, then intermediates) */
static SSL_CTX *server_ctx(const struct pem_pair *p, str *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO *cb = 0, *kb = 0;
	X509 *x = 0;
	EVP_PKEY *k = 0;
	unsigned long e;

	ERR_clear_error();
	if (!ctx || !tlsconf_harden(ctx)) {
		str_appends(err, "unable to set up TLS: ");
		tlsconf_error(err);
		goto fail;
	}
	if (!p->cert.len || !p->key.len) {
		str_appends(err, "empty file: ");
		str_append(err, p->cert.len ? p->key_path.s : p->cert_path.s,
		           p->cert.len ? p->key_path.len : p->cert_path.len);
		goto fail;
	}
	cb = BIO_new_mem_buf(p->cert.s, (int)p->cert.len);
	kb = BIO_new_mem_buf(p->key.s, (int)p->key.len);
	if (!cb || !kb) { str_appends(err, "out of memory"); goto fail; }
	x = PEM_read_bio_X509_AUX(cb, 0, no_passphrase, 0);
	if (!x || SSL_CTX_use_certificate(ctx, x) != 1) { load_error(err, &p->cert_path); goto fail; }
	X509_free(x);
	x = 0;
	for (;;) {
		X509 *ca = PEM_read_bio_X509(cb, 0, no_passphrase, 0);
		if (!ca) break;
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			load_error(err, &p->cert_path);
			goto fail;
		}
	}
	/* the end of the chain shows as "no start line"; anything else is real */
	e = ERR_peek_last_error();
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		load_error(err, &p->cert_path);
		goto fail;
	}
	ERR_clear_error();
	k = PEM_read_bio_PrivateKey(kb, 0, no_passphrase, 0);
	if (!k || SSL_CTX_use_PrivateKey(ctx, k) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		load_error(err, &p->key_path);
		goto fail;
	}
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return ctx;
fail:
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	SSL_CTX_free(ctx);
	return 0;
}

/* read dir/cert.pem and dir/key.pem (dir 0: the default) into a new pair */
static int read_pair(struct tlsconf_server *s, const char *sub, str *err)
{
	struct pem_pair *grown, *p;

	grown = realloc(s->pem, (s->npem + 1) * sizeof *s->pem);
	if (!grown) { str_appends(err, "out of memory"); return 0; }
	s->pem = grown;
	p = &s->pem[s->npem];
	memset(p, 0, sizeof *p);
	s->npem++;
	if (sub && !(p->name = strdup(sub))) { str_appends(err, "out of memory"); return 0; }
	if (!tlsfiles_path(&p->cert_path, sub, "cert.pem") || !tlsfiles_path(&p->key_path, sub, "key.pem")) {
		str_appends(err, "out of memory");
		return 0;
	}
	return read_pem(p->cert_path.s, &p->cert, err) && read_pem(p->key_path.s, &p->key, err);
}

static void wipe_text(struct pem_pair *p)
{
	str_wipe(&p->cert);
	str_wipe(&p->key);
}

/* the pair's context, parsed now if it was not; 0 on error (reason in err) */
static SSL_CTX *pair_ctx(struct pem_pair *p, str *err)
{
	if (p->ctx || p->failed) return p->ctx;
	p->ctx = server_ctx(p, err);
	if (!p->ctx) p->failed = 1;
	wipe_text(p);
	return p->ctx;
}

static int sni_callback(SSL *ssl, int *alert, void *arg)
{
	struct tlsconf_server *s = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char low[TLSCONF_NAME_MAX + 1];
	size_t n, i;

	if (!name) return SSL_TLSEXT_ERR_OK;
	n = strlen(name);
	if (n && name[n - 1] == '.') n--;
	if (n == 0 || n > TLSCONF_NAME_MAX) return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < n; i++) {
		char c = name[i];
		low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	low[n] = 0;
	/* unknown names keep the default certificate: a wrong name is for
	 * the client to judge, not a reason to hang up */
	for (i = 1; i < s->npem; i++) {
		SSL_CTX *ctx;

		if (strcmp(s->pem[i].name, low) != 0) continue;
		str_clear(&s->err);
		ctx = pair_ctx(&s->pem[i], &s->err);
		/* a broken pair for this name: no TLS rather than the wrong one */
		if (!ctx || !SSL_set_SSL_CTX(ssl, ctx)) {
			*alert = SSL_AD_INTERNAL_ERROR;
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		}
		break;
	}
	return SSL_TLSEXT_ERR_OK;
}

static int read_domain(void *ctx, const char *domain, str *err)
{
	return read_pair(ctx, domain, err);
}

static int read_domains(struct tlsconf_server *s, str *err)
{
	return tlsfiles_each_domain(read_domain, s, err);
}

struct tlsconf_server *tlsconf_server_read(str *err)
{
	struct tlsconf_server *s = calloc(1, sizeof *s);

	str_clear(err);
	if (!s) { str_appends(err, "out of memory"); return 0; }
	if (!read_pair(s, 0, err) || !read_domains(s, err)) {
		tlsconf_server_free(s);
		return 0;
	}
	return s;
}

/* one length-prefixed field of a blob (tls/pemfiles.h); 0 when cut short */
static int blob_field(const char **b, size_t *n, const char **f, size_t *flen)
{
	uint32_t len;

	if (*n < sizeof len) return 0;
	memcpy(&len, *b, sizeof len);
	*b += sizeof len;
	*n -= sizeof len;
	if (len > *n) return 0;
	*f = *b;
	*flen = len;
	*b += len;
	*n -= len;
	return 1;
}

struct tlsconf_server *tlsconf_server_from_blob(const char *b, size_t n, str *err)
{
	struct tlsconf_server *s = calloc(1, sizeof *s);

	str_clear(err);
	if (!s) { str_appends(err, "out of memory"); return 0; }
	while (n > 0) {
		const char *name, *cp, *kp, *cert, *key;
		size_t namelen, cplen, kplen, certlen, keylen;
		struct pem_pair *grown, *p;

		if (!blob_field(&b, &n, &name, &namelen) || !blob_field(&b, &n, &cp, &cplen) ||
		    !blob_field(&b, &n, &kp, &kplen) || !blob_field(&b, &n, &cert, &certlen) ||
		    !blob_field(&b, &n, &key, &keylen) || (s->npem == 0) != (namelen == 0) ||
		    s->npem > TLSCONF_SNI_MAX || memchr(name, 0, namelen)) {
			str_appends(err, "malformed certificate hand-over");
			goto fail;
		}
		grown = realloc(s->pem, (s->npem + 1) * sizeof *s->pem);
		if (!grown) { str_appends(err, "out of memory"); goto fail; }
		s->pem = grown;
		p = &s->pem[s->npem];
		memset(p, 0, sizeof *p);
		s->npem++;
		if ((namelen && !(p->name = strndup(name, namelen))) ||
		    !str_copy(&p->cert_path, cp, cplen) || !str_0(&p->cert_path) ||
		    !str_copy(&p->key_path, kp, kplen) || !str_0(&p->key_path) ||
		    !str_copy(&p->cert, cert, certlen) || !str_copy(&p->key, key, keylen)) {
			str_appends(err, "out of memory");
			goto fail;
		}
	}
	if (s->npem == 0) { str_appends(err, "malformed certificate hand-over"); goto fail; }
	return s;
fail:
	tlsconf_server_free(s);
	return 0;
}

int tlsconf_server_prepare(struct tlsconf_server *s, str *err)
{
	SSL_CTX *def;

	str_clear(err);
	if (s->prepared) {
		if (!s->pem[0].ctx) str_appends(err, "the default certificate did not load");
		return s->pem[0].ctx != 0;
	}
	s->prepared = 1;
	def = pair_ctx(&s->pem[0], err);
	if (!def) {
		tlsconf_server_forget(s);
		return 0;
	}
	SSL_CTX_set_tlsext_servername_callback(def, sni_callback);
	SSL_CTX_set_tlsext_servername_arg(def, s);
	return 1;
}

void tlsconf_server_forget(struct tlsconf_server *s)
{
	size_t i;

	for (i = 0; i < s->npem; i++) wipe_text(&s->pem[i]);
}

const char *tlsconf_server_error(const struct tlsconf_server *s)
{
	return s->err.len && s->err.s ? s->err.s : 0;
}

struct tlsconf_server *tlsconf_server_load(str *err)
{
	struct tlsconf_server *s = tlsconf_server_read(err);

	if (!s) return 0;
	if (!tlsconf_server_prepare(s, err)) {
		tlsconf_server_free(s);
		return 0;
	}
	return s;
}

SSL_CTX *tlsconf_server_ctx(const struct tlsconf_server *s) { return s->pem[0].ctx; }

const char *tlsconf_server_sni(const struct tlsconf_server *s, const SSL *ssl)
{
	const SSL_CTX *cur = SSL_get_SSL_CTX(ssl);
	size_t i;

	for (i = 1; i < s->npem; i++)
		if (s->pem[i].ctx && s->pem[i].ctx == cur) return s->pem[i].name;
	return 0;
}

void tlsconf_server_free(struct tlsconf_server *s)
{
	size_t i;

	if (!s) return;
	for (i = 0; i < s->npem; i++) {
		struct pem_pair *p = &s->pem[i];
		wipe_text(p);
		str_free(&p->cert_path);
		str_free(&p->key_path);
		free(p->name);
		SSL_CTX_free(p->ctx);
	}
	free(s->pem);
	str_free(&s->err);
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
