/* tlscert.c: a self-signed certificate for a fresh instance, so that
 * STARTTLS and implicit TLS work before the admin installs a real one.
 * Runs as the admin. EC P-256 key (fast handshakes, what every client
 * takes), subjectAltName dNSName = the host name (clients check SAN, not
 * CN), valid 825 days. The key is written 0600 owned by root: facteur-tlsd
 * reads it as root before it drops to facteur-tls. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "addr.h"
#include "fsx.h"
#include "log.h"
#include "str.h"
#include "tlscert.h"

#define TLSCERT_DAYS 825

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, 0, 0, 0);
	e = X509V3_EXT_conf_nid(0, &ctx, nid, value);
	if (!e) return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

static int bio_str(BIO *b, str *out)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	return n >= 0 && str_copy(out, p, (size_t)n);
}

int tlscert_make(const char *host, const char *certpath, const char *keypath)
{
	EVP_PKEY *k = 0;
	X509 *x = 0;
	X509_NAME *nm;
	BIO *bk = 0, *bc = 0;
	str san = STR_ZERO, kp = STR_ZERO, cp = STR_ZERO, ktmp = STR_ZERO, ctmp = STR_ZERO;
	unsigned char serial[16];
	BIGNUM *bn = 0;
	int ok = 0;

	/* the name goes into an OpenSSL config string: only a plain host name */
	if (!addr_domain_ok(host, strlen(host), 0)) {
		log_line("fatal: not a host name for the certificate: ", host, (char *)0);
		return 0;
	}
	if (!str_copys(&san, "DNS:") || !str_appends(&san, host) || !str_0(&san)) goto out;
	k = EVP_EC_gen("P-256");
	x = X509_new();
	if (!k || !x) goto ssl;
	if (RAND_bytes(serial, sizeof serial) != 1) goto ssl;
	serial[0] &= 0x7f;          /* a positive serial */
	bn = BN_bin2bn(serial, sizeof serial, 0);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) goto ssl;
	if (!X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), TLSCERT_DAYS, 0, 0) ||
	    !X509_set_pubkey(x, k)) goto ssl;
	nm = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0) ||
	    !X509_set_issuer_name(x, nm)) goto ssl;
	if (!add_ext(x, NID_basic_constraints, "CA:FALSE") ||
	    !add_ext(x, NID_subject_alt_name, san.s) ||
	    !add_ext(x, NID_ext_key_usage, "serverAuth") ||
	    !add_ext(x, NID_subject_key_identifier, "hash")) goto ssl;
	if (!X509_sign(x, k, EVP_sha256())) goto ssl;
	bk = BIO_new(BIO_s_mem());
	bc = BIO_new(BIO_s_mem());
	if (!bk || !bc || !PEM_write_bio_PrivateKey(bk, k, 0, 0, 0, 0, 0) ||
	    !PEM_write_bio_X509(bc, x)) goto ssl;
	if (!bio_str(bk, &kp) || !bio_str(bc, &cp)) goto out;
	if (!str_copys(&ktmp, keypath) || !str_appends(&ktmp, ".new") || !str_0(&ktmp) ||
	    !str_copys(&ctmp, certpath) || !str_appends(&ctmp, ".new") || !str_0(&ctmp)) goto out;
	unlink(ktmp.s);
	unlink(ctmp.s);
	/* the key first: a cert.pem without its key would be useless */
	if (!fsx_writefile(ktmp.s, kp.s, kp.len, 0600) || !fsx_writefile(ctmp.s, cp.s, cp.len, 0644) ||
	    rename(ktmp.s, keypath) != 0 || rename(ctmp.s, certpath) != 0 || !fsx_syncdir_of(certpath)) {
		log_line("fatal: unable to write ", certpath, ": ", strerror(errno), (char *)0);
		unlink(ktmp.s);
		unlink(ctmp.s);
		goto done;
	}
	ok = 1;
	goto done;
ssl:
	log_line("fatal: OpenSSL failed to make the certificate", (char *)0);
	goto done;
out:
	log_line("fatal: out of memory", (char *)0);
done:
	BN_free(bn);
	BIO_free(bk);
	BIO_free(bc);
	X509_free(x);
	EVP_PKEY_free(k);
	str_free(&san);
	str_wipe(&kp);
	str_free(&cp);
	str_free(&ktmp);
	str_free(&ctmp);
	return ok;
}
