/* sasl.c: SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms, and the submission rule on who may send as whom. Passwords
 * are never parsed beyond their framing, never logged, and are wiped after
 * use; the check itself is facteur-checkpassword's (lib/auth.h), so this
 * process never reads a hash. Failures cost a growing delay and end the
 * session after SMTPD_AUTHFAIL_MAX. Runs as the `facteur` user. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "auth.h"
#include "b64.h"
#include "log.h"
#include "sasl.h"
#include "users.h"
#include "smtpd-internal.h"

#define AUTH_LOG_USER_MAX 128

/* one client response line, base64-decoded into out: 1 ok, 0 refused
 * (reply sent), -1 the client is gone */
static int read_response(struct session *s, str *out)
{
	int r;
	size_t n;

	if (!reply_flush(s)) return -1;
	r = bufin_getline(&s->in, &s->line, SMTPD_AUTHLINE_MAX);
	if (r == BUF_ERR && errno == EINTR) {
		/* SIGTERM while the client typed its credentials */
		reply(s, RP_SHUTDOWN);
		s->hangup = "shutdown";
		return -1;
	}
	if (r == BUF_EOF || r == BUF_ERR) return -1;
	if (r == BUF_TOOLONG) { reply(s, RP_AUTH_TOOLONG); s->errors++; return 0; }
	n = s->line.len;
	if (n < 2 || s->line.s[n - 2] != '\r') { reply(s, RP_BARE_LF); s->errors++; return 0; }
	n -= 2;
	if (n == 1 && s->line.s[0] == '*') { reply(s, RP_AUTH_CANCEL); return 0; }
	if (!b64_decode(s->line.s, n, out)) { reply(s, RP_AUTH_B64); s->errors++; return 0; }
	str_wipe(&s->line);
	return 1;
}

/* an initial response on the AUTH line: "=" stands for empty */
static int initial_response(struct session *s, const char *a, size_t n, str *out)
{
	str_clear(out);
	if (n == 1 && a[0] == '=') return 1;
	if (!b64_decode(a, n, out)) { reply(s, RP_AUTH_B64); s->errors++; return 0; }
	return 1;
}

static void log_auth(struct session *s, const char *what, const char *user, size_t ul)
{
	char u[AUTH_LOG_USER_MAX + 1];
	size_t l = ul < AUTH_LOG_USER_MAX ? ul : AUTH_LOG_USER_MAX;

	memcpy(u, user, l);
	u[l] = 0;
	log_line(what, " ip=", s->remoteip.s, " user=", u, (char *)0);
}

/* 1 go on, 0 hang up */
static int check(struct session *s, const char *user, size_t ul, const char *pass, size_t pl)
{
	int r = 0;

	if (ul && pl && ul <= AUTH_USER_MAX && pl <= AUTH_PASS_MAX && !memchr(user, 0, ul))
		r = auth_checkpassword(user, ul, pass, pl);
	if (r > 0) {
		if (!str_copy(&s->authuser, user, ul) || !str_0(&s->authuser)) {
			str_clear(&s->authuser);
			reply(s, RP_AUTH_TEMP);
			return 1;
		}
		str_lower(&s->authuser);
		log_auth(s, "auth ok", user, ul);
		reply(s, RP_AUTH_OK);
		return 1;
	}
	if (r < 0) {
		log_auth(s, "auth temporary failure", user, ul);
		reply(s, RP_AUTH_TEMP);
		return 1;
	}
	s->authfails++;
	log_auth(s, "auth failed", user, ul);
	/* brute force costs time: 1 s, 2 s, 3 s... */
	reply_flush(s);
	sleep(s->authfails);
	reply(s, RP_AUTH_FAIL);
	if (s->authfails >= SMTPD_AUTHFAIL_MAX) {
		reply(s, RP_AUTH_TOO_MANY);
		return 0;
	}
	return 1;
}

static int auth_plain(struct session *s, const char *init, size_t n, int has_init)
{
	str resp = STR_ZERO;
	struct sasl_plain pl;
	int r = 1;

	if (has_init) {
		if (!initial_response(s, init, n, &resp)) goto out;
	} else {
		bufout_puts(&s->out, "334 \r\n");
		r = read_response(s, &resp);
		if (r <= 0) { r = r < 0 ? 0 : 1; goto out; }
	}
	/* a malformed message or an authzid for someone else fails as a bad
	 * password would (535), with the authcid in the log when there is one */
	(void)sasl_plain_parse(resp.s ? resp.s : "", resp.len, &pl);
	r = check(s, pl.user, pl.ulen, pl.pass, pl.plen);
out:
	str_wipe(&resp);
	return r;
}

static int auth_login(struct session *s, const char *init, size_t n, int has_init)
{
	str user = STR_ZERO, pass = STR_ZERO;
	int r;

	if (has_init) {
		if (!initial_response(s, init, n, &user)) { r = 1; goto out; }
	} else {
		bufout_puts(&s->out, "334 VXNlcm5hbWU6\r\n");
		r = read_response(s, &user);
		if (r <= 0) { r = r < 0 ? 0 : 1; goto out; }
	}
	bufout_puts(&s->out, "334 UGFzc3dvcmQ6\r\n");
	r = read_response(s, &pass);
	if (r <= 0) { r = r < 0 ? 0 : 1; goto out; }
	r = check(s, user.s ? user.s : "", user.len, pass.s ? pass.s : "", pass.len);
out:
	str_free(&user);
	str_wipe(&pass);
	return r;
}

int smtpd_auth(struct session *s, const char *arg, size_t n)
{
	size_t ml = 0, i;
	int r;

	if (!s->helo) { reply(s, RP_NEED_HELO); s->errors++; return 1; }
	if (s->authuser.len) { reply(s, RP_AUTH_ALREADY); s->errors++; return 1; }
	if (s->mail) { reply(s, RP_AUTH_INMAIL); s->errors++; return 1; }
	if (!s->tls && !s->loopback && !s->plaintextauth) { reply(s, RP_AUTH_ENCRYPT); return 1; }
	while (ml < n && arg[ml] != ' ') ml++;
	i = ml;
	while (i < n && arg[i] == ' ') i++;
	if (ml == 5 && strncasecmp(arg, "PLAIN", 5) == 0) {
		r = auth_plain(s, arg + i, n - i, i < n);
	} else if (ml == 5 && strncasecmp(arg, "LOGIN", 5) == 0) {
		r = auth_login(s, arg + i, n - i, i < n);
	} else {
		reply(s, RP_AUTH_MECH);
		s->errors++;
		return 1;
	}
	/* the AUTH line's initial response, or a refused last response, holds
	 * the password in base64 until the next command would overwrite it */
	str_wipe(&s->line);
	return r;
}

/* submission: MAIL FROM must be the user's own address (a +tag allowed),
 * or an alias one of whose targets is the user */
int smtpd_sender_allowed(struct session *s, const char *addr, size_t n)
{
	str canon = STR_ZERO, targets = STR_ZERO;
	int ok = 0, cls;

	if (!n || !s->authuser.len) return 0;
	if (n == s->authuser.len && strncasecmp(addr, s->authuser.s, n) == 0) return 1;
	cls = users_classify(addr, n, &canon);
	if (cls == RCPT_USER) {
		ok = str_equals(&canon, s->authuser.s);
	} else if (cls == RCPT_ALIAS && aliases_lookup(canon.s, canon.len, &targets) > 0) {
		size_t i = 0;
		while (!ok && i < targets.len) {
			size_t l = strnlen(targets.s + i, targets.len - i);
			ok = l == s->authuser.len && strncasecmp(targets.s + i, s->authuser.s, l) == 0;
			i += l + 1;
		}
	}
	str_free(&canon);
	str_free(&targets);
	return ok;
}
