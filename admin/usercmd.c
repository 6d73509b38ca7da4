/* usercmd.c: facteur-users' commands: add, passwd, del, list. Runs as the
 * admin (root, or a developer on their own instance). Trusts its argument
 * only after adm_address; reads the password as one bounded line from
 * standard input and keeps only its argon2id hash. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "admin-internal.h"
#include "buf.h"
#include "exitcodes.h"
#include "log.h"
#include "usercmd.h"
#include "users.h"

/* One line, without echo games: scripts pipe it in, and an admin at a
 * terminal types it once. The line ends at LF; a CR before it is dropped. */
static int read_password(str *pw)
{
	bufin in;
	int r;

	if (isatty(0)) log_line("password (one line; it is echoed): ", (char *)0);
	bufin_init(&in, 0, ADM_READ_TIMEOUT, 0);
	r = bufin_getline(&in, pw, ADM_PASS_MAX + 2);
	if (r == BUF_ERR) { log_line("fatal: unable to read the password: ", strerror(errno), (char *)0); return EX_IOERR; }
	if (r == BUF_TOOLONG) { log_line("fatal: password longer than 512 bytes", (char *)0); return EX_DATAERR; }
	if (pw->len && pw->s[pw->len - 1] == '\n') pw->len--;
	if (pw->len && pw->s[pw->len - 1] == '\r') pw->len--;
	if (pw->len == 0) { log_line("fatal: empty password (give it on standard input)", (char *)0); return EX_DATAERR; }
	if (pw->len > ADM_PASS_MAX) { log_line("fatal: password longer than 512 bytes", (char *)0); return EX_DATAERR; }
	if (memchr(pw->s, 0, pw->len)) { log_line("fatal: NUL byte in the password", (char *)0); return EX_DATAERR; }
	return 0;
}

/* argon2id with libsodium's INTERACTIVE limits (2 passes, 64 MiB): every
 * POP3/IMAP/SMTP login pays this once, so MODERATE's 256 MiB and ~0.7 s
 * per login would make logins a denial-of-service lever; INTERACTIVE still
 * costs an offline guesser 64 MiB per guess. */
static int hash_password(str *hash)
{
	str pw = STR_ZERO;
	char out[crypto_pwhash_STRBYTES];
	int r = read_password(&pw);

	if (r) { str_wipe(&pw); return r; }
	if (sodium_init() < 0) { str_wipe(&pw); log_line("fatal: libsodium init failed", (char *)0); return EX_SOFTWARE; }
	if (crypto_pwhash_str_alg(out, pw.s, pw.len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                          crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		str_wipe(&pw);
		log_line("fatal: out of memory while hashing", (char *)0);
		return EX_TEMPFAIL;
	}
	str_wipe(&pw);
	if (!str_copys(hash, out)) { sodium_memzero(out, sizeof out); return EX_TEMPFAIL; }
	sodium_memzero(out, sizeof out);
	return 0;
}

static size_t line_end(const str *t, size_t i)
{
	const char *nl = memchr(t->s + i, '\n', t->len - i);
	return nl ? (size_t)(nl - t->s) + 1 : t->len;
}

static int cmd_list(const str *text)
{
	bufout out;
	size_t i = 0;

	bufout_init(&out, 1, -1);
	while (i < text->len) {
		size_t e = line_end(text, i);
		const char *c = memchr(text->s + i, ':', e - i);
		if (c && text->s[i] != '#') {
			bufout_put(&out, text->s + i, (size_t)(c - (text->s + i)));
			bufout_puts(&out, "\n");
		}
		i = e;
	}
	return bufout_flush(&out) ? 0 : EX_IOERR;
}

int usercmd_run(int argc, char **argv)
{
	struct adm_owner o;
	str text = STR_ZERO, addr = STR_ZERO, hash = STR_ZERO, nt = STR_ZERO, md = STR_ZERO;
	const char *cmd, *why;
	long at;
	int r = EX_TEMPFAIL, local;

	if (argc < 2) goto usage;
	cmd = argv[1];
	if (strcmp(cmd, "list") == 0) {
		if (argc != 2) goto usage;
	} else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "passwd") == 0 || strcmp(cmd, "del") == 0) {
		if (argc != 3) goto usage;
	} else {
		goto usage;
	}
	if (!adm_owner_get(&o)) return EX_CONFIG;
	if (argc == 3) {
		if (!adm_address(argv[2], strlen(argv[2]), &addr, &why)) {
			log_line("fatal: invalid address ", argv[2], ": ", why, (char *)0);
			r = EX_DATAERR;
			goto out;
		}
	}
	/* hash before taking the lock: it is the slow part */
	if (strcmp(cmd, "add") == 0 || strcmp(cmd, "passwd") == 0) {
		const char *d = strchr(addr.s, '@') + 1;
		local = domains_islocal(d, strlen(d));
		if (local < 0) { log_line("fatal: unable to read control/domains: ", strerror(errno), (char *)0); goto out; }
		if (local == 0) { log_line("fatal: ", d, " is not a local domain (add it with facteur-setup --domain)", (char *)0); r = EX_DATAERR; goto out; }
		if ((r = hash_password(&hash)) != 0) goto out;
		r = EX_TEMPFAIL;
	}
	if (!adm_lock()) goto out;
	if (!usermap_read(&text)) goto out;
	if (strcmp(cmd, "list") == 0) { r = cmd_list(&text); goto out; }
	at = usermap_find(&text, addr.s, addr.len);
	if (strcmp(cmd, "add") == 0) {
		if (at >= 0) { log_line("fatal: ", addr.s, " already exists (use passwd to change the password)", (char *)0); r = EX_CANTCREAT; goto out; }
		if (!str_copy(&nt, text.s, text.len) || !str_append(&nt, addr.s, addr.len) ||
		    !str_appendc(&nt, ':') || !str_append(&nt, hash.s, hash.len) || !str_appendc(&nt, '\n')) goto nomem;
		/* the Maildir first: a user who can log in has a mailbox */
		if (!adm_make_maildir(addr.s, addr.len, &o, &md)) {
			log_line("fatal: unable to create the Maildir for ", addr.s, ": ", strerror(errno), (char *)0);
			goto out;
		}
		if (!usermap_commit(&nt, &o, 1)) goto out;
		log_line("added ", addr.s, ", Maildir ", md.s, (char *)0);
	} else {
		size_t e;
		if (at < 0) { log_line("fatal: no such user ", addr.s, (char *)0); r = EX_NOUSER; goto out; }
		e = line_end(&text, (size_t)at);
		if (!str_copy(&nt, text.s, (size_t)at)) goto nomem;
		if (strcmp(cmd, "passwd") == 0) {
			/* keep a maildir field the admin wrote after the hash */
			const char *c1 = memchr(text.s + at, ':', e - (size_t)at);
			const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(text.s + e - c1 - 1)) : 0;
			if (!str_append(&nt, addr.s, addr.len) || !str_appendc(&nt, ':') ||
			    !str_append(&nt, hash.s, hash.len)) goto nomem;
			if (c2) { if (!str_append(&nt, c2, (size_t)(text.s + e - c2))) goto nomem; }
			else if (!str_appendc(&nt, '\n')) goto nomem;
		}
		if (!str_append(&nt, text.s + e, text.len - e)) goto nomem;
		if (!usermap_commit(&nt, &o, 1)) goto out;
		if (strcmp(cmd, "passwd") == 0) {
			log_line("changed the password of ", addr.s, (char *)0);
		} else {
			if (!users_default_maildir(addr.s, addr.len, &md) || !str_0(&md)) goto nomem;
			log_line("deleted ", addr.s, "; the mail is kept (default Maildir ", md.s, ")", (char *)0);
		}
	}
	r = 0;
	goto out;
nomem:
	log_line("fatal: out of memory", (char *)0);
	r = EX_TEMPFAIL;
out:
	str_free(&text);
	str_free(&addr);
	str_wipe(&hash);
	str_wipe(&nt);
	str_free(&md);
	return r;
usage:
	log_line("usage: facteur-users add|passwd|del ADDRESS, or facteur-users list", (char *)0);
	return EX_USAGE;
}
