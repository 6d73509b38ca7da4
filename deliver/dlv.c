/* dlv.c: resolving an envelope recipient and delivering to it: aliases
 * (expanded up to USERS_ALIAS_DEPTH), user+tag, postmaster, the user's
 * rules file, Maildirs. Runs as `facteur` (callers refuse root). Trusts the
 * instance's maps; the rules file only as far as facteur-rules(5) allows
 * (no path leaves the user's directory); the message and envelope not at
 * all (they reach headers and environment variables only after checks). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "addr.h"
#include "control.h"
#include "dlv.h"
#include "errclass.h"
#include "exitcodes.h"
#include "log.h"
#include "maildir.h"
#include "users.h"

static void str_init(str *s) { s->s = 0; s->len = s->cap = 0; }

int dlv_init(struct dlv *d, int msgfd, const char *sender, size_t slen)
{
	size_t i;

	memset(d, 0, sizeof *d);
	str_init(&d->sender);
	str_init(&d->forwards);
	str_init(&d->dtlines);
	str_init(&d->path);
	str_init(&d->done);
	str_init(&d->reason);
	hdr_info_init(&d->hdr);
	d->msgfd = msgfd;
	d->pipe_timeout_ms = DLV_PIPE_TIMEOUT_MS;
	/* the sender ends up in a Return-Path line and an environment variable */
	for (i = 0; i < slen; i++)
		if ((unsigned char)sender[i] < 0x20 || sender[i] == 0x7f || sender[i] == '>') {
			errno = EINVAL;
			return 0;
		}
	if (!str_copy(&d->sender, sender, slen) || !str_0(&d->sender)) return 0;
	return hdr_scan_fd(msgfd, &d->hdr);
}

void dlv_free(struct dlv *d)
{
	str_free(&d->sender);
	str_free(&d->forwards);
	str_free(&d->dtlines);
	str_free(&d->path);
	str_free(&d->done);
	str_free(&d->reason);
	hdr_info_free(&d->hdr);
}

int dlv_fail(struct dlv *d, int code, const char *status, const char *a, const char *b)
{
	size_t i;

	d->code = code;
	for (i = 0; status[i] && i < sizeof d->status - 1; i++) d->status[i] = status[i];
	d->status[i] = 0;
	str_clear(&d->reason);
	if (!str_appends(&d->reason, a) || (b && !str_appends(&d->reason, b)) || !str_0(&d->reason)) {
		str_clear(&d->reason);
		str_0(&d->reason);
	}
	/* the reason is one line of printable text: it is quoted in replies */
	for (i = 0; i < d->reason.len; i++)
		if ((unsigned char)d->reason.s[i] < 0x20 || d->reason.s[i] == 0x7f) d->reason.s[i] = '?';
	return code;
}

static int fail_nomem(struct dlv *d)
{
	return dlv_fail(d, EX_TEMPFAIL, "4.3.0", "out of memory", 0);
}

/* a failed system call on the way to a mailbox */
static int fail_sys(struct dlv *d, int e, const char *what, const char *addr)
{
	const char *st;
	int code = err_sysexit(e);

	if (e == ENOSPC
#ifdef EDQUOT
	    || e == EDQUOT
#endif
	   ) st = "4.2.2";
	else if (e == EFBIG) { st = "5.2.3"; code = EX_CANTCREAT; }
	else st = code == EX_TEMPFAIL ? "4.2.0" : "5.2.0";
	log_line("delivery to ", addr, " failed: ", what, ": ", strerror(e), (char *)0);
	dlv_fail(d, code, st, what, ": ");
	str_appends(&d->reason, strerror(e));
	str_0(&d->reason);
	return code;
}

static int set_add(str *set, const char *s, size_t n)
{
	if (str_list_has(set, s, n)) return 1;
	return str_append(set, s, n) && str_appendc(set, 0);
}

static int rcpt_ok(const char *r, size_t n)
{
	str p = STR_ZERO;
	struct addr a = { STR_ZERO, 0, 0, 0, 0 };
	size_t used = 0;
	int ok;

	if (!n || n > ADDR_PATH_MAX || memchr(r, 0, n)) return 0;
	if (!str_appendc(&p, '<') || !str_append(&p, r, n) || !str_appendc(&p, '>')) {
		str_free(&p);
		return 0;
	}
	ok = addr_parse_path(p.s, p.len, ADDR_F_UTF8, &a, &used) == ADDR_OK && used == p.len;
	addr_free(&a);
	str_free(&p);
	return ok;
}

static int add_forward(struct dlv *d, const char *addr, size_t n)
{
	size_t i = 0, last = 0;

	if (str_list_has(&d->forwards, addr, n)) return 0;
	if (d->nforwards >= DLV_FORWARDS_MAX)
		return dlv_fail(d, EX_UNAVAILABLE, "5.4.6", "too many forwarding targets", 0);
	if (!set_add(&d->forwards, addr, n)) return fail_nomem(d);
	d->nforwards++;
	/* every address that led here gets a Delivered-To line on the forward,
	 * except the forward target itself (the next hop delivers to it) */
	while (i < d->path.len) {
		size_t l = strlen(d->path.s + i);
		last = i;
		i += l + 1;
	}
	i = 0;
	while (i < last) {
		size_t l = strlen(d->path.s + i);
		if (!set_add(&d->dtlines, d->path.s + i, l)) return fail_nomem(d);
		i += l + 1;
	}
	if (!(n == strlen(d->path.s + last) && memcmp(d->path.s + last, addr, n) == 0) &&
	    !set_add(&d->dtlines, d->path.s + last, strlen(d->path.s + last)))
		return fail_nomem(d);
	return 0;
}

static int prefix_make(struct dlv *d, str *pre, const char *rcpt)
{
	str_clear(pre);
	return str_appends(pre, "Return-Path: <") && str_append(pre, d->sender.s, d->sender.len) &&
	       str_appends(pre, ">\nDelivered-To: ") && str_appends(pre, rcpt) &&
	       str_appendc(pre, '\n');
}

static int deliver_maildir(struct dlv *d, int fd, const char *rcpt, const char *where)
{
	struct maildir_msg m;
	str pre = STR_ZERO, name = STR_ZERO;
	int code = 0;

	memset(&m, 0, sizeof m);
	if (!prefix_make(d, &pre, rcpt)) { str_free(&pre); return fail_nomem(d); }
	if (lseek(d->msgfd, 0, SEEK_SET) != 0)
		return fail_sys(d, errno, "unable to rewind the message", rcpt);
	m.prefix = pre.s;
	m.prefixlen = pre.len;
	m.fd = d->msgfd;
	if (!maildir_deliver(fd, &m, &name)) {
		code = fail_sys(d, errno, "unable to write the Maildir", rcpt);
	} else {
		d->delivered++;
		log_line("delivered ", rcpt, " to ", where, name.s, (char *)0);
	}
	str_free(&pre);
	str_free(&name);
	return code;
}

/* the rules file for this delivery, if any: 1 read, 0 none, or a failure
 * code through dlv_fail (returned negated) */
static int rules_load(struct dlv *d, int basefd, const char *ext, str *text, str *fname)
{
	static const char *const fixed[] = { ".qmail-default", ".qmail" };
	str name = STR_ZERO;
	size_t k, i;
	int fd = -1;

	for (k = 0; k < 3 && fd < 0; k++) {
		str_clear(&name);
		if (k == 0) {
			int usable = ext && *ext && strlen(ext) <= DLV_EXT_MAX;
			if (!usable) continue;
			if (!str_appends(&name, ".qmail-")) goto nomem;
			/* qmail's folding: lowercase, '.' as ':' so no name holds ".." */
			for (i = 0; ext[i]; i++) {
				char c = ext[i];
				if (c == '/' || (unsigned char)c < 0x20 || c == 0x7f) { usable = 0; break; }
				if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
				if (c == '.') c = ':';
				if (!str_appendc(&name, c)) goto nomem;
			}
			if (!usable) continue;
		} else {
			/* .qmail-default only serves addresses with a tag */
			if (k == 1 && !(ext && *ext)) continue;
			if (!str_appends(&name, fixed[k - 1])) goto nomem;
		}
		if (!str_0(&name)) goto nomem;
		fd = openat(basefd, name.s, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			/* an IMAP folder "qmail" is the Maildir++ directory .qmail/:
			 * it is no rules file, and must not hold up delivery */
			struct stat dst;
			if (fstat(fd, &dst) == 0 && S_ISDIR(dst.st_mode)) { close(fd); fd = -1; continue; }
		}
		if (fd < 0 && errno != ENOENT) {
			int e = errno;
			log_line("unable to open rules file ", name.s, ": ", strerror(e), (char *)0);
			str_free(&name);
			return -dlv_fail(d, EX_CONFIG, "4.3.5", "unable to open the rules file: ",
			                 e == ELOOP ? "it is a symbolic link" : strerror(e));
		}
	}
	if (fd < 0) { str_free(&name); return 0; }
	{
		struct stat st;
		char b[4096];
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		    (st.st_mode & (S_IWGRP | S_IWOTH))) {
			close(fd);
			log_line("refusing rules file ", name.s, ": not a regular file of ours, or writable by others", (char *)0);
			str_free(&name);
			return -dlv_fail(d, EX_CONFIG, "4.3.5", "unsafe rules file (not a regular file of the mailbox owner, or writable by others)", 0);
		}
		str_clear(text);
		for (;;) {
			ssize_t r = read(fd, b, sizeof b);
			if (r < 0) {
				int e = errno;
				if (e == EINTR) continue;
				close(fd);
				str_free(&name);
				return -fail_sys(d, e, "unable to read the rules file", "rules");
			}
			if (r == 0) break;
			if (text->len + (size_t)r > DLV_RULES_MAX) {
				close(fd);
				str_free(&name);
				return -dlv_fail(d, EX_CONFIG, "4.3.5", "rules file too large", 0);
			}
			if (!str_append(text, b, (size_t)r)) { close(fd); goto nomem; }
		}
		close(fd);
	}
	if (!str_copy(fname, name.s, name.len) || !str_0(fname)) goto nomem;
	str_free(&name);
	return 1;
nomem:
	str_free(&name);
	return -fail_nomem(d);
}

static int run_rules(struct dlv *d, int basefd, const struct rules *rs, const char *rcpt,
                     const char *ext)
{
	size_t i;
	const char *at = strrchr(rcpt, '@');
	str local = STR_ZERO, pre = STR_ZERO;
	int code = 0;

	if (!str_copy(&local, rcpt, at ? (size_t)(at - rcpt) : strlen(rcpt)) || !str_0(&local) ||
	    !prefix_make(d, &pre, rcpt)) {
		str_free(&local);
		str_free(&pre);
		return fail_nomem(d);
	}
	for (i = 0; i < rs->n && code == 0; i++) {
		const struct rule *r = &rs->r[i];
		int fd, stop = 0;
		switch (r->kind) {
		case RULE_MAILDIR:
			fd = maildir_openat(basefd, r->arg, 1);
			if (fd < 0) {
				code = fail_sys(d, errno, "unable to open the Maildir named in the rules file", rcpt);
				break;
			}
			code = deliver_maildir(d, fd, rcpt, r->arg);
			close(fd);
			break;
		case RULE_FORWARD:
			code = add_forward(d, r->arg, strlen(r->arg));
			break;
		case RULE_PIPE:
			code = dlv_pipe(d, r->arg, basefd, rcpt, local.s, at ? at + 1 : "",
			                ext ? ext : "", pre.s, pre.len, &stop);
			if (code == 0) d->delivered++;
			if (stop) i = rs->n;
			break;
		}
	}
	str_free(&local);
	str_free(&pre);
	return code;
}

/* one mailbox: its rules file, or the Maildir itself */
static int deliver_mailbox(struct dlv *d, const char *rcpt, const char *maildir, const char *ext)
{
	str text = STR_ZERO, fname = STR_ZERO;
	struct rules *rs = 0;
	int fd, r, code;

	if (str_list_has(&d->done, rcpt, strlen(rcpt))) return 0;  /* alias listed it twice */
	if (!set_add(&d->done, rcpt, strlen(rcpt))) return fail_nomem(d);
	fd = maildir_open(maildir, 1);
	if (fd < 0) {
		log_line("unable to open Maildir ", maildir, (char *)0);
		return fail_sys(d, errno, errno == ELOOP ? "mailbox is a symbolic link" :
		                errno == EPERM ? "mailbox has unsafe ownership or mode" :
		                "unable to open the mailbox", rcpt);
	}
	r = rules_load(d, fd, ext, &text, &fname);
	if (r < 0) { code = -r; goto done; }
	if (r == 0) { code = deliver_maildir(d, fd, rcpt, "./"); goto done; }
	rs = malloc(sizeof *rs);
	if (!rs) { code = fail_nomem(d); goto done; }
	str_init(&rs->text);
	r = rules_parse(rs, text.s, text.len);
	if (r < 0) { code = fail_nomem(d); goto done; }
	if (r == 0) {
		char n[24];
		size_t l = 0, v = rs->badline;
		char t[24];
		do { t[l++] = (char)('0' + v % 10); v /= 10; } while (v);
		for (v = 0; v < l; v++) n[v] = t[l - 1 - v];
		n[l] = 0;
		log_line("rules file ", maildir, fname.s, " line ", n, ": ", rs->why, (char *)0);
		code = dlv_fail(d, EX_CONFIG, "4.3.5", "error in the rules file: ", rs->why);
		goto done;
	}
	if (rs->n == 0) code = deliver_maildir(d, fd, rcpt, "./");
	else code = run_rules(d, fd, rs, rcpt, ext);
done:
	if (rs) rules_free(rs);
	free(rs);
	close(fd);
	str_free(&text);
	str_free(&fname);
	return code;
}

/* where postmaster's mail goes when no alias or user takes it */
static int postmaster_box(struct dlv *d, str *addr, str *maildir)
{
	str me = STR_ZERO, doms = STR_ZERO;
	struct user u = { STR_ZERO, STR_ZERO, STR_ZERO };
	const char *dom = 0;
	int r, code = 0;

	if (control_readline("control/me", &me) < 0 || control_readlines("control/domains", &doms) < 0) {
		code = dlv_fail(d, EX_TEMPFAIL, "4.3.5", "unable to read control/me or control/domains", 0);
		goto done;
	}
	if (me.len && domains_islocal(me.s, me.len) == 1) dom = me.s;
	else if (me.len && strchr(me.s, '.') && domains_islocal(strchr(me.s, '.') + 1, strlen(strchr(me.s, '.') + 1)) == 1)
		dom = strchr(me.s, '.') + 1;
	else if (doms.len) dom = doms.s;
	if (!dom) { code = dlv_fail(d, EX_CONFIG, "4.3.5", "no local domain for postmaster", 0); goto done; }
	if (!str_copys(addr, "postmaster@") || !str_appends(addr, dom) || !str_0(addr)) { code = fail_nomem(d); goto done; }
	str_lower(addr);
	r = users_lookup(addr->s, addr->len, &u);
	if (r < 0) { code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to read the user map", 0); goto done; }
	if (r > 0) { if (!str_copy(maildir, u.maildir.s, u.maildir.len)) code = fail_nomem(d); }
	else if (!users_default_maildir(addr->s, addr->len, maildir)) code = fail_nomem(d);
	if (!code && !str_0(maildir)) code = fail_nomem(d);
done:
	user_free(&u);
	str_free(&me);
	str_free(&doms);
	return code;
}

static int resolve(struct dlv *d, const char *addr, size_t n, int depth);

static int expand(struct dlv *d, const char *key, size_t kn, int depth)
{
	str t = STR_ZERO;
	size_t i = 0;
	int r = aliases_lookup(key, kn, &t), code = 0;

	if (r < 0) { str_free(&t); return dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to read the alias map", 0); }
	if (r == 0) { str_free(&t); return dlv_fail(d, EX_NOUSER, "5.1.1", "no such user here", 0); }
	while (i < t.len && code == 0) {
		size_t l = strnlen(t.s + i, t.len - i);
		if (l) code = resolve(d, t.s + i, l, depth + 1);
		i += l + 1;
	}
	str_free(&t);
	return code;
}

static int resolve(struct dlv *d, const char *addr0, size_t n, int depth)
{
	str addr = STR_ZERO, canon = STR_ZERO, box = STR_ZERO, pm = STR_ZERO;
	struct user u = { STR_ZERO, STR_ZERO, STR_ZERO };
	size_t pathlen = d->path.len;
	int code = 0, r;

	if (!str_copy(&addr, addr0, n) || !str_0(&addr)) return fail_nomem(d);
	str_lower(&addr);
	if (depth > USERS_ALIAS_DEPTH) {
		code = dlv_fail(d, EX_UNAVAILABLE, "5.4.6", "alias chain too long (a loop?) at ", addr.s);
		goto done;
	}
	if (!rcpt_ok(addr.s, addr.len)) {
		code = dlv_fail(d, EX_DATAERR, "5.1.3", "bad address syntax: ", addr.s);
		goto done;
	}
	if (hdr_delivered_to(&d->hdr, addr.s, addr.len)) {
		log_line("mail loop: Delivered-To ", addr.s, " already in the message", (char *)0);
		code = dlv_fail(d, EX_UNAVAILABLE, "5.4.6", "mail loop: message already delivered to ", addr.s);
		goto done;
	}
	if (!str_append(&d->path, addr.s, addr.len) || !str_appendc(&d->path, 0)) { code = fail_nomem(d); goto done; }
	r = users_classify(addr.s, addr.len, &canon);
	if (r > 0 && !str_0(&canon)) r = -1;
	switch (r) {
	case RCPT_REMOTE:
		if (depth == 0) code = dlv_fail(d, EX_NOHOST, "5.1.2", "not a local domain: ", addr.s);
		else code = add_forward(d, addr.s, addr.len);
		break;
	case RCPT_UNKNOWN:
		code = dlv_fail(d, EX_NOUSER, "5.1.1", "no such user here: ", addr.s);
		break;
	case RCPT_ALIAS:
		code = expand(d, canon.s, canon.len, depth);
		break;
	case RCPT_POSTMASTER:
		if (!memchr(canon.s, '@', canon.len)) {
			str t = STR_ZERO;
			r = aliases_lookup(canon.s, canon.len, &t);
			str_free(&t);
			if (r < 0) { code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to read the alias map", 0); break; }
			if (r > 0) { code = expand(d, canon.s, canon.len, depth); break; }
		}
		code = postmaster_box(d, &pm, &box);
		if (code == 0) code = deliver_mailbox(d, pm.s, box.s, 0);
		break;
	case RCPT_USER: {
		const char *ext = 0;
		r = users_lookup(canon.s, canon.len, &u);
		if (r < 0) { code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to read the user map", 0); break; }
		if (r == 0) { code = dlv_fail(d, EX_NOUSER, "5.1.1", "no such user here: ", addr.s); break; }
		if (!str_0(&u.maildir)) { code = fail_nomem(d); break; }
		/* user+tag: the tag is what lies between '+' and '@' */
		if (!str_equals(&canon, addr.s)) {
			char *plus = strchr(addr.s, '+'), *at = strrchr(addr.s, '@');
			if (plus && at && plus < at) {
				if (!str_copy(&box, plus + 1, (size_t)(at - plus - 1)) || !str_0(&box)) {
					code = fail_nomem(d);
					break;
				}
				ext = box.s;
			}
		}
		code = deliver_mailbox(d, addr.s, u.maildir.s, ext);
		break;
	}
	default:
		code = dlv_fail(d, EX_TEMPFAIL, "4.3.0", "unable to read the user map", 0);
		break;
	}
	d->path.len = pathlen;
done:
	user_free(&u);
	str_free(&addr);
	str_free(&canon);
	str_free(&box);
	str_free(&pm);
	return code;
}

int dlv_recipient(struct dlv *d, const char *rcpt, size_t n)
{
	str_clear(&d->forwards);
	str_clear(&d->dtlines);
	str_clear(&d->path);
	str_clear(&d->done);
	d->nforwards = 0;
	d->delivered = 0;
	d->code = 0;
	if (!rcpt_ok(rcpt, n))
		return dlv_fail(d, EX_DATAERR, "5.1.3", "bad recipient address syntax", 0);
	if (d->hdr.received > DLV_HOPS_MAX) {
		log_line("too many hops: over 100 Received fields", (char *)0);
		return dlv_fail(d, EX_UNAVAILABLE, "5.4.6", "too many hops (over 100 Received fields): mail loop?", 0);
	}
	if (resolve(d, rcpt, n, 0) != 0) return d->code;
	if (d->nforwards && dlv_inject(d) != 0) return d->code;
	if (!d->delivered && !d->nforwards)
		return dlv_fail(d, EX_OK, "2.0.0", "accepted, nothing to do", 0);
	return dlv_fail(d, EX_OK, "2.0.0", "delivered", 0);
}
