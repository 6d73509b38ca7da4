/* mailbox.c: the authenticated state of facteur-imapd (RFC 9051 6.3) and
 * the command loop of the mailbox-mode process: SELECT, EXAMINE, CREATE,
 * DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (RFC 5258, 5819, 6154),
 * LSUB, NAMESPACE, STATUS, APPEND, ENABLE, IDLE. Runs with the mailbox
 * owner's rights only (exec'd by facteur-checkpassword); every mailbox
 * name goes through mbox_name_ok before it touches the file system. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "fsx.h"
#include "imapd-internal.h"
#include "log.h"
#include "mutf7.h"
#include "scan.h"

static const char *const special[][2] = {
	{ "Sent", "\\Sent" }, { "Drafts", "\\Drafts" }, { "Trash", "\\Trash" },
	{ "Junk", "\\Junk" }, { "Archive", "\\Archive" },
};
#define NSPECIAL (sizeof special / sizeof special[0])

static int make_maildir(const char *path)
{
	str p = STR_ZERO;
	static const char *const sub[] = { "cur", "new", "tmp" };
	size_t i;
	int ok = 1;

	for (i = 0; i < 3 && ok; i++) {
		str_copys(&p, path); str_appends(&p, sub[i]); str_0(&p);
		ok = fsx_mkdirs(p.s, 0700);
	}
	str_free(&p);
	return ok;
}

void mailbox_greet(struct sess *s, const char *tag)
{
	str p = STR_ZERO;
	size_t i;

	if (!make_maildir(s->maildir.s)) {
		put(s, tag ? tag : "*");
		put(s, " NO [SERVERBUG] unable to open the mailbox\r\n");
		bufout_flush(&s->out);
		log_fatalsys(IMAP_EXIT_FATAL, "fatal: unable to create ", s->maildir.s, (char *)0);
	}
	/* the special-use folders, made once per user (issue 3) */
	str_copy(&p, s->maildir.s, s->maildir.len); str_appends(&p, "facteur-imap-init"); str_0(&p);
	if (access(p.s, F_OK) < 0) {
		for (i = 0; i < NSPECIAL; i++) {
			str f = STR_ZERO;
			str_copy(&f, s->maildir.s, s->maildir.len);
			str_appendc(&f, '.'); str_appends(&f, special[i][0]); str_appendc(&f, '/'); str_0(&f);
			make_maildir(f.s);
			str_free(&f);
		}
		fsx_writefile(p.s, "", 0, 0600);
	}
	str_free(&p);
	log_line("login ", s->user.s ? s->user.s : "", (char *)0);
	if (tag && *tag) {
		put(s, tag);
		put(s, " OK [CAPABILITY ");
		capability_list(s);
		put(s, "] Logged in\r\n");
	} else {
		put(s, "* PREAUTH [CAPABILITY ");
		capability_list(s);
		put(s, "] logged in\r\n");
	}
}

int sess_sync(struct sess *s, int expunges_ok)
{
	if (s->state != S_SELECTED) return 1;
	return folder_sync(s, &s->f, !s->readonly, expunges_ok ? 1 : 2);
}

static void ok_sync(struct sess *s, const char *text)
{
	sess_sync(s, 1);
	reply(s, "OK", text);
}

/* the mailbox name argument, checked; 0 after a reply was sent */
static int arg_mailbox(struct sess *s, str *name, str *path)
{
	struct tok *t = tok_peek(s);

	if (t->type != T_ATOM && t->type != T_STRING) { bad(s, "mailbox name expected"); return 0; }
	tok_next(s);
	if (!mbox_name_ok(s, t->p, t->n, name)) { reply(s, "NO", "[CANNOT] invalid mailbox name"); return 0; }
	if (path && !mbox_path(s, name, path)) { reply(s, "NO", "[SERVERBUG] out of memory"); return 0; }
	return 1;
}

#define isdir mbox_isdir
/* a real directory: a symlink planted as ".Name" is not a mailbox, so
 * DELETE or RENAME can never reach through it */
int mbox_isdir(const char *p)
{
	struct stat st;
	size_t n = strlen(p);
	char *c;
	int ok;

	while (n > 1 && p[n - 1] == '/') n--;
	c = strndup(p, n);
	if (!c) return 0;
	ok = lstat(c, &st) == 0 && S_ISDIR(st.st_mode);
	free(c);
	return ok;
}

static void do_unselect(struct sess *s, int closed_code)
{
	free(s->saved);
	s->saved = 0;
	s->nsaved = 0;
	if (s->state != S_SELECTED) return;
	folder_save(&s->f);
	folder_close(&s->f);
	s->state = S_AUTH;
	if (closed_code) put(s, "* OK [CLOSED] previous mailbox closed\r\n");
}

/* SELECT's QRESYNC parameter (RFC 7162 3.2.5):
 * (uidvalidity modseq [known-uids [(seq-set uid-set)]]); the
 * sequence match data is an optimisation the answer does not need */
static int qresync_param(struct sess *s, unsigned long long *uv, unsigned long long *ms, struct seqset *known, int *haveknown)
{
	struct tok *t;

	if (tok_next(s)->type != T_LP) return 0;
	t = tok_next(s);
	if (t->type != T_ATOM || !t->n || scan_ulong(t->p, t->n, uv) != t->n || !*uv || *uv > 0xffffffffULL) return 0;
	t = tok_next(s);
	if (t->type != T_ATOM || !t->n || scan_ulong(t->p, t->n, ms) != t->n || !*ms) return 0;
	t = tok_next(s);
	if (t->type == T_ATOM) {
		if (!seqset_parse(t->p, t->n, known) || known->searchres) return 0;
		*haveknown = 1;
		t = tok_next(s);
		if (t->type == T_LP) {
			struct tok *a = tok_next(s), *b = tok_next(s);
			struct seqset x = { 0, 0, 0, 0 }, y = { 0, 0, 0, 0 };
			int ok = a->type == T_ATOM && b->type == T_ATOM && seqset_parse(a->p, a->n, &x) &&
			         seqset_parse(b->p, b->n, &y) && !x.searchres && !y.searchres && tok_next(s)->type == T_RP;
			seqset_free(&x);
			seqset_free(&y);
			if (!ok) return 0;
			t = tok_next(s);
		}
	}
	return t->type == T_RP;
}

static void cmd_select(struct sess *s, int readonly)
{
	str name = STR_ZERO, path = STR_ZERO;
	size_t i, first_unseen = 0;
	struct tok *t;
	int qr = 0, haveknown = 0;
	unsigned long long qruv = 0, qrms = 0;
	struct seqset known = { 0, 0, 0, 0 };

	if (!arg_mailbox(s, &name, &path)) goto out;
	if (tok_peek(s)->type == T_LP) {
		tok_next(s);
		while ((t = tok_next(s))->type == T_ATOM) {
			if (tok_is(t, "CONDSTORE")) s->condstore = 1;
			else if (tok_is(t, "QRESYNC") && !qr) {
				if (!s->qresync) { bad(s, "QRESYNC not enabled"); goto out; }
				if (!qresync_param(s, &qruv, &qrms, &known, &haveknown)) { bad(s, "bad QRESYNC parameter"); goto out; }
				qr = 1;
			}
			else { bad(s, "unknown SELECT parameter"); goto out; }
		}
		if (t->type != T_RP) { bad(s, "bad SELECT parameters"); goto out; }
	}
	if (!tok_end(s)) { bad(s, "extra arguments"); goto out; }
	if (s->state == S_SELECTED && !s->f.ghosts && str_equals(&s->f.name, name.s) && isdir(path.s) &&
	    s->f.path.len == path.len && memcmp(s->f.path.s, path.s, path.len) == 0) {
		/* the same mailbox again (clients do it to see news): the view is
		 * kept and brought up to date, not read again from the index */
		free(s->saved);
		s->saved = 0;
		s->nsaved = 0;
		folder_save(&s->f);
		put(s, "* OK [CLOSED] previous mailbox closed\r\n");
	} else {
		do_unselect(s, 1);
		if (!isdir(path.s) || !folder_open(s, &s->f, &name, path.s)) {
			folder_close(&s->f);
			reply(s, "NO", "[NONEXISTENT] no such mailbox");
			goto out;
		}
	}
	s->readonly = readonly;
	s->state = S_AUTH;
	if (!folder_sync(s, &s->f, !readonly, 0)) {
		folder_close(&s->f);
		reply(s, "NO", "[UNAVAILABLE] unable to read the mailbox");
		goto out;
	}
	s->state = S_SELECTED;
	put(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded");
	for (i = 0; i < s->f.nkw; i++) { put(s, " "); put(s, s->f.kw[i]); }
	put(s, ")\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded");
	for (i = 0; i < s->f.nkw; i++) { put(s, " "); put(s, s->f.kw[i]); }
	/* \\* only while a new keyword can still get one of the letters a-y;
	 * past IMAP_KEYWORDS a STORE of a new one gets NO [LIMIT] */
	if (readonly) put(s, ")] read-only\r\n");
	else put(s, s->f.nkw < IMAP_KEYWORDS ? " \\*)] flags permitted\r\n" : ")] flags permitted; no new keywords\r\n");
	put(s, "* "); putu(s, s->f.n); put(s, " EXISTS\r\n");
	if (!s->rev2) { put(s, "* "); putu(s, s->f.recent); put(s, " RECENT\r\n"); }
	for (i = 0; i < s->f.n; i++) if (!(s->f.m[i].flags & F_SEEN)) { first_unseen = i + 1; break; }
	if (first_unseen && !s->rev2) { put(s, "* OK [UNSEEN "); putu(s, first_unseen); put(s, "] first unseen\r\n"); }
	put(s, "* OK [UIDVALIDITY "); putu(s, s->f.uidvalidity); put(s, "] UIDs valid\r\n");
	put(s, "* OK [UIDNEXT "); putu(s, s->f.uidnext); put(s, "] predicted next UID\r\n");
	put(s, "* OK [HIGHESTMODSEQ "); putu(s, s->f.highestmodseq); put(s, "] highest\r\n");
	if (s->rev2) { put(s, "* LIST () \".\" "); putq(s, name.s, name.len); put(s, "\r\n"); }
	/* RFC 7162 3.2.5.2: what the client missed since its MODSEQ, when its
	 * UIDVALIDITY is still ours */
	if (qr && qruv == s->f.uidvalidity) {
		struct folder *f = &s->f;
		if (haveknown) seqset_resolve(&known, f->n ? f->m[f->n - 1].uid : 0);
		put_vanished_earlier(s, f, haveknown ? &known : 0);
		for (i = 0; i < f->n; i++) {
			if (f->m[i].modseq <= qrms || (haveknown && !seqset_has(&known, f->m[i].uid))) continue;
			put(s, "* "); putu(s, i + 1); put(s, " FETCH (UID "); putu(s, f->m[i].uid);
			put(s, " FLAGS "); put_flags(s, f, f->m[i].flags);
			put(s, " MODSEQ ("); putu(s, f->m[i].modseq); put(s, "))\r\n");
		}
	}
	reply(s, "OK", readonly ? "[READ-ONLY] EXAMINE completed" : "[READ-WRITE] SELECT completed");
out:
	seqset_free(&known);
	str_free(&name); str_free(&path);
}

static void cmd_create(struct sess *s)
{
	str name = STR_ZERO, path = STR_ZERO;
	struct tok *t = tok_peek(s);

	if (t->type == T_ATOM || t->type == T_STRING) {
		/* a trailing delimiter only says "will have children" (RFC 9051 6.3.4) */
		if (t->n > 1 && t->p[t->n - 1] == '.') t->n--;
	}
	if (!arg_mailbox(s, &name, &path)) goto out;
	if (!tok_end(s) && tok_peek(s)->type != T_LP) { bad(s, "extra arguments"); goto out; }
	if (str_equals(&name, "INBOX")) { reply(s, "NO", "[ALREADYEXISTS] INBOX always exists"); goto out; }
	if (isdir(path.s)) { reply(s, "NO", "[ALREADYEXISTS] mailbox exists"); goto out; }
	if (mkdir(path.s, 0700) < 0 || !make_maildir(path.s)) {
		reply(s, "NO", "[SERVERBUG] unable to create mailbox");
		goto out;
	}
	str_appends(&path, "maildirfolder");
	str_0(&path);
	fsx_writefile(path.s, "", 0, 0600);
	fsx_syncdir(s->maildir.s);
	ok_sync(s, "CREATE completed");
out:
	str_free(&name); str_free(&path);
}

/* remove one Maildir++ folder: its files, cur/ new/ tmp/, itself; nothing
 * deeper is expected, so nothing deeper is followed */
static int rmfolder(const char *path)
{
	static const char *const sub[] = { "cur/", "new/", "tmp/", "" };
	size_t i;
	int ok = 1;

	for (i = 0; i < 4; i++) {
		str d = STR_ZERO, f = STR_ZERO;
		DIR *dir;
		struct dirent *de;
		str_copys(&d, path); str_appends(&d, sub[i]); str_0(&d);
		dir = opendir(d.s);
		if (dir) {
			while ((de = readdir(dir))) {
				struct stat st;
				if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
				str_copy(&f, d.s, d.len); str_appends(&f, de->d_name); str_0(&f);
				if (lstat(f.s, &st) < 0 || S_ISDIR(st.st_mode)) continue;
				if (unlink(f.s) < 0) ok = 0;
			}
			closedir(dir);
		}
		if (*sub[i] && rmdir(d.s) < 0 && errno != ENOENT) ok = 0;
		str_free(&d); str_free(&f);
	}
	return ok && rmdir(path) == 0;
}

static void cmd_delete(struct sess *s)
{
	str name = STR_ZERO, path = STR_ZERO;

	if (!arg_mailbox(s, &name, &path)) goto out;
	if (!tok_end(s)) { bad(s, "extra arguments"); goto out; }
	if (str_equals(&name, "INBOX")) { reply(s, "NO", "[CANNOT] INBOX cannot be deleted"); goto out; }
	if (!isdir(path.s)) { reply(s, "NO", "[NONEXISTENT] no such mailbox"); goto out; }
	if (s->state == S_SELECTED && str_equals(&s->f.name, name.s)) do_unselect(s, 0);
	if (!rmfolder(path.s)) { reply(s, "NO", "[SERVERBUG] unable to delete mailbox entirely"); goto out; }
	fsx_syncdir(s->maildir.s);
	ok_sync(s, "DELETE completed");
out:
	str_free(&name); str_free(&path);
}

/* RENAME INBOX moves its messages into a new folder and leaves INBOX empty */
static int rename_inbox(struct sess *s, const char *to)
{
	int d;
	str a = STR_ZERO, b = STR_ZERO, tp = STR_ZERO;
	int ok = 1;

	if (mkdir(to, 0700) < 0 || !make_maildir(to)) return 0;
	str_copys(&tp, to); str_appends(&tp, "maildirfolder"); str_0(&tp);
	fsx_writefile(tp.s, "", 0, 0600);
	for (d = 0; d < 2; d++) {
		const char *sub = d ? "cur/" : "new/";
		str dp = STR_ZERO;
		DIR *dir;
		struct dirent *de;
		str_copy(&dp, s->maildir.s, s->maildir.len); str_appends(&dp, sub); str_0(&dp);
		dir = opendir(dp.s);
		if (dir) {
			while ((de = readdir(dir))) {
				if (de->d_name[0] == '.') continue;
				str_copy(&a, dp.s, dp.len); str_appends(&a, de->d_name); str_0(&a);
				str_copys(&b, to); str_appends(&b, sub); str_appends(&b, de->d_name); str_0(&b);
				if (rename(a.s, b.s) < 0) ok = 0;
			}
			closedir(dir);
		}
		str_free(&dp);
	}
	str_free(&a); str_free(&b); str_free(&tp);
	return ok;
}

static void cmd_rename(struct sess *s)
{
	str on = STR_ZERO, op = STR_ZERO, nn = STR_ZERO, np = STR_ZERO, a = STR_ZERO, b = STR_ZERO;
	DIR *dir;
	struct dirent *de;

	if (!arg_mailbox(s, &on, &op) || !arg_mailbox(s, &nn, &np)) goto out;
	if (!tok_end(s)) { bad(s, "extra arguments"); goto out; }
	if (!isdir(op.s)) { reply(s, "NO", "[NONEXISTENT] no such mailbox"); goto out; }
	if (str_equals(&nn, "INBOX") || isdir(np.s)) { reply(s, "NO", "[ALREADYEXISTS] target exists"); goto out; }
	/* "a" to "a.b": the children loop would meet ".a.b" itself as a child
	 * of "a" and rename it again, ".a.b.b", until the name limit */
	if (!str_equals(&on, "INBOX") && nn.len > on.len && nn.s[on.len] == '.' && memcmp(nn.s, on.s, on.len) == 0) {
		reply(s, "NO", "[CANNOT] cannot rename a mailbox under itself");
		goto out;
	}
	if (s->state == S_SELECTED && str_equals(&s->f.name, on.s)) do_unselect(s, 0);
	if (str_equals(&on, "INBOX")) {
		if (!rename_inbox(s, np.s)) { reply(s, "NO", "[SERVERBUG] unable to move every message"); goto out; }
		ok_sync(s, "RENAME completed");
		goto out;
	}
	op.len--; np.len--;      /* no trailing '/' for rename(2) */
	str_0(&op); str_0(&np);
	if (rename(op.s, np.s) < 0) { reply(s, "NO", "[SERVERBUG] unable to rename"); goto out; }
	/* and the children: ".Old.x" becomes ".New.x" */
	dir = opendir(s->maildir.s);
	if (dir) {
		while ((de = readdir(dir))) {
			size_t l = on.len;
			if (de->d_name[0] != '.' || strlen(de->d_name) <= l + 2 ||
			    strncmp(de->d_name + 1, on.s, l) != 0 || de->d_name[l + 1] != '.') continue;
			str_copy(&a, s->maildir.s, s->maildir.len); str_appends(&a, de->d_name); str_0(&a);
			str_copy(&b, np.s, np.len); str_appends(&b, de->d_name + l + 1); str_0(&b);
			if (b.len - s->maildir.len <= IMAP_NAME_MAX) rename(a.s, b.s);
		}
		closedir(dir);
	}
	fsx_syncdir(s->maildir.s);
	ok_sync(s, "RENAME completed");
out:
	str_free(&on); str_free(&op); str_free(&nn); str_free(&np); str_free(&a); str_free(&b);
}

/* subscriptions: one name a line in the Maildir's "subscriptions" file */
static void subs_load(struct sess *s, str *out)
{
	str p = STR_ZERO;
	int fd;
	char b[4096];
	ssize_t r;

	str_clear(out);
	str_copy(&p, s->maildir.s, s->maildir.len); str_appends(&p, "subscriptions"); str_0(&p);
	fd = open(p.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	str_free(&p);
	if (fd < 0) return;
	while ((r = read(fd, b, sizeof b)) > 0 && out->len < 1024 * 1024) str_append(out, b, (size_t)r);
	close(fd);
}

static void cmd_subscribe(struct sess *s, int on)
{
	str name = STR_ZERO, subs = STR_ZERO, out = STR_ZERO, p = STR_ZERO;
	size_t i = 0;

	if (!arg_mailbox(s, &name, 0)) goto done;
	if (!tok_end(s)) { bad(s, "extra arguments"); goto done; }
	subs_load(s, &subs);
	while (i < subs.len) {
		const char *nl = memchr(subs.s + i, '\n', subs.len - i);
		size_t l = nl ? (size_t)(nl - subs.s) - i : subs.len - i;
		if (l && !(l == name.len && memcmp(subs.s + i, name.s, l) == 0)) {
			str_append(&out, subs.s + i, l);
			str_appendc(&out, '\n');
		}
		i += l + 1;
	}
	if (on) {
		size_t k, lines = 0;
		for (k = 0; k < out.len; k++) lines += out.s[k] == '\n';
		/* the file is read and rewritten whole at every SUBSCRIBE: keep it small */
		if (lines >= IMAP_SUBS_MAX) { reply(s, "NO", "[LIMIT] too many subscriptions"); goto done; }
		str_append(&out, name.s, name.len); str_appendc(&out, '\n');
	}
	str_copy(&p, s->maildir.s, s->maildir.len); str_appends(&p, "subscriptions"); str_0(&p);
	if (!fsx_replacefile(p.s, out.s ? out.s : "", out.len, 0600)) reply(s, "NO", "[SERVERBUG] unable to save subscriptions");
	else ok_sync(s, on ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
done:
	str_free(&name); str_free(&subs); str_free(&out); str_free(&p);
}

/* IMAP LIST wildcards: '*' anything, '%' anything but the delimiter.
 * Not by backtracking: "*%*%...x" against a long name took exponential
 * time. One pass over the pattern keeps the set of name positions reached
 * (names are at most IMAP_NAME_MAX bytes of modified UTF-7, a little more
 * once decoded for UTF8=ACCEPT): O(pattern x name). */
#define WMATCH_NAME_MAX (2 * IMAP_NAME_MAX)
static int wmatch(const char *pat, size_t pn, const char *name, size_t nn)
{
	unsigned char at[WMATCH_NAME_MAX + 1], nx[WMATCH_NAME_MAX + 1];
	size_t i, j;

	if (nn > WMATCH_NAME_MAX) return 0;
	memset(at, 0, nn + 1);
	at[0] = 1;
	for (i = 0; i < pn; i++) {
		int any = 0;
		memset(nx, 0, nn + 1);
		if (pat[i] == '*' || pat[i] == '%') {
			int on = 0;
			for (j = 0; j <= nn; j++) {
				if (pat[i] == '%' && j > 0 && name[j - 1] == '.') on = 0;
				if (at[j]) on = 1;
				nx[j] = (unsigned char)on;
			}
		} else
			for (j = 0; j < nn; j++) if (at[j] && name[j] == pat[i]) nx[j + 1] = 1;
		for (j = 0; j <= nn; j++) any |= (at[j] = nx[j]);
		if (!any) return 0;
	}
	return at[nn];
}

static int match_name(const str *pat, const char *name, size_t n)
{
	/* INBOX is case-insensitive, in patterns too */
	if (n == 5 && memcmp(name, "INBOX", 5) == 0 && pat->len == 5 && strncasecmp(pat->s, "inbox", 5) == 0) return 1;
	return wmatch(pat->s, pat->len, name, n);
}

struct lentry { char *name; int exists, children, sub, subchild; };

static int lcmp(const void *a, const void *b)
{
	const struct lentry *x = a, *y = b;
	if (strcmp(x->name, "INBOX") == 0) return -1;
	if (strcmp(y->name, "INBOX") == 0) return 1;
	return strcmp(x->name, y->name);
}

#define LIST_ENTRIES_MAX 200000   /* names, implied parents and subscriptions */

static int list_add(struct lentry **l, size_t *n, size_t *cap, const char *name, size_t len, int exists, int sub)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 32;
		struct lentry *nl;
		if (nc > LIST_ENTRIES_MAX) return 0;
		nl = realloc(*l, nc * sizeof *nl);
		if (!nl) return 0;
		*l = nl;
		*cap = nc;
	}
	(*l)[*n].name = strndup(name, len);
	if (!(*l)[*n].name) return 0;
	(*l)[*n].exists = exists;
	(*l)[*n].children = 0;
	(*l)[*n].sub = sub;
	(*l)[*n].subchild = 0;
	(*n)++;
	return 1;
}

static int lnamecmp(const void *a, const void *b)
{
	return strcmp(((const struct lentry *)a)->name, ((const struct lentry *)b)->name);
}

static struct lentry *list_find(struct lentry *l, size_t n, const char *name, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(l[mid].name, name, len);
		if (c == 0 && l[mid].name[len]) c = 1;
		if (c < 0) lo = mid + 1;
		else if (c > 0) hi = mid;
		else return &l[mid];
	}
	return 0;
}

/* every mailbox: INBOX, the dot-directories, their implied parents, the
 * subscribed names. Not by comparing every name with every other (it was
 * quadratic in the number of folders): all names go in, are sorted, equal
 * ones merged; then each name marks its parents, found by binary search. */
static size_t list_all(struct sess *s, struct lentry **out)
{
	struct lentry *l = 0;
	size_t n = 0, cap = 0, i, j, k;
	DIR *dir = opendir(s->maildir.s);
	struct dirent *de;
	str subs = STR_ZERO;

	list_add(&l, &n, &cap, "INBOX", 5, 1, 0);
	if (dir) {
		while ((de = readdir(dir))) {
			const char *nm = de->d_name;
			size_t len = strlen(nm);
			str p = STR_ZERO, chk = STR_ZERO;
			int ok;
			/* only directories; ".qmail", index files and the like are not mailboxes */
			if (nm[0] != '.' || len < 2 || strcmp(nm, "..") == 0) continue;
			str_copy(&p, s->maildir.s, s->maildir.len); str_appends(&p, nm); str_0(&p);
			{
				/* names on disk are modified UTF-7, whatever the session speaks */
				int u8 = s->utf8;
				s->utf8 = 0;
				ok = isdir(p.s) && mbox_name_ok(s, nm + 1, len - 1, &chk);
				s->utf8 = u8;
			}
			str_free(&p); str_free(&chk);
			if (!ok) continue;
			for (k = 1; k < len; k++)
				if (nm[k] == '.') list_add(&l, &n, &cap, nm + 1, k - 1, 0, 0);
			list_add(&l, &n, &cap, nm + 1, len - 1, 1, 0);
		}
		closedir(dir);
	}
	subs_load(s, &subs);
	/* subscribed names whose mailbox is gone still show, as \NonExistent;
	 * a file made longer by hand is read up to IMAP_SUBS_MAX names */
	for (i = 0, j = 0; i < subs.len && j < IMAP_SUBS_MAX; j++) {
		const char *nl = memchr(subs.s + i, '\n', subs.len - i);
		size_t len = nl ? (size_t)(nl - subs.s) - i : subs.len - i;
		if (len && len <= IMAP_NAME_MAX && !memchr(subs.s + i, 0, len)) list_add(&l, &n, &cap, subs.s + i, len, 0, 1);
		i += len + 1;
	}
	str_free(&subs);
	if (!n) { *out = l; return 0; }
	qsort(l, n, sizeof *l, lnamecmp);
	for (i = 1, j = 0; i < n; i++) {
		if (strcmp(l[i].name, l[j].name) == 0) {
			l[j].exists |= l[i].exists;
			l[j].sub |= l[i].sub;
			free(l[i].name);
		} else l[++j] = l[i];
	}
	n = j + 1;
	for (i = 0; i < n; i++) {
		if (!l[i].exists && !l[i].sub) continue;
		for (k = 1; l[i].name[k]; k++) {
			struct lentry *par;
			if (l[i].name[k] != '.' || !(par = list_find(l, n, l[i].name, k))) continue;
			if (l[i].exists) par->children = 1;
			if (l[i].sub) par->subchild = 1;
		}
	}
	qsort(l, n, sizeof *l, lcmp);
	*out = l;
	return n;
}

static const char *special_use(const char *name)
{
	size_t i;
	for (i = 0; i < NSPECIAL; i++) if (strcmp(name, special[i][0]) == 0) return special[i][1];
	return 0;
}

static void put_name(struct sess *s, const char *name)
{
	if (s->utf8) {
		str u = STR_ZERO;
		if (mutf7_decode(name, strlen(name), &u)) { putq(s, u.s ? u.s : "", u.len); str_free(&u); return; }
		str_free(&u);
	}
	putq(s, name, strlen(name));
}

static int status_items(struct sess *s, const char *name, const struct tok *items, size_t nitems);

static void cmd_list(struct sess *s, int lsub)
{
	str ref = STR_ZERO, pat = STR_ZERO;
	str pats[32];
	size_t npat = 0, i, k, n;
	struct lentry *l = 0;
	int sel_sub = 0, sel_special = 0, ret_sub = 0, ret_children = 0, ret_special = 0, recursive = 0;
	size_t status_at = 0, status_n = 0;
	struct tok *t;

	memset(pats, 0, sizeof pats);
	if (!lsub && tok_peek(s)->type == T_LP) {
		tok_next(s);
		while ((t = tok_next(s))->type == T_ATOM) {
			if (tok_is(t, "SUBSCRIBED")) sel_sub = 1;
			else if (tok_is(t, "SPECIAL-USE")) sel_special = 1;
			else if (tok_is(t, "RECURSIVEMATCH")) recursive = 1;
			else if (tok_is(t, "REMOTE")) {}
			else { bad(s, "unknown LIST selection option"); goto out; }
		}
		if (t->type != T_RP) { bad(s, "bad selection options"); goto out; }
		if (recursive && !sel_sub && !sel_special) { bad(s, "RECURSIVEMATCH alone"); goto out; }
	}
	if (!tok_astring(s, &ref)) { bad(s, "reference expected"); goto out; }
	if (tok_peek(s)->type == T_LP && !lsub) {
		tok_next(s);
		while (tok_peek(s)->type != T_RP) {
			if (npat >= 32 || !tok_astring(s, &pats[npat])) { bad(s, "bad pattern list"); goto out; }
			npat++;
		}
		tok_next(s);
	} else {
		if (!tok_astring(s, &pats[0])) { bad(s, "pattern expected"); goto out; }
		npat = 1;
	}
	if (!lsub && tok_atom(s, "RETURN")) {
		if (tok_next(s)->type != T_LP) { bad(s, "bad RETURN options"); goto out; }
		while ((t = tok_next(s))->type == T_ATOM) {
			if (tok_is(t, "SUBSCRIBED")) ret_sub = 1;
			else if (tok_is(t, "CHILDREN")) ret_children = 1;
			else if (tok_is(t, "SPECIAL-USE")) ret_special = 1;
			else if (tok_is(t, "STATUS")) {
				if (tok_next(s)->type != T_LP) { bad(s, "bad STATUS return option"); goto out; }
				status_at = s->c.i;
				while (tok_peek(s)->type == T_ATOM) { tok_next(s); status_n++; }
				if (tok_next(s)->type != T_RP || !status_n) { bad(s, "bad STATUS return option"); goto out; }
			} else { bad(s, "unknown RETURN option"); goto out; }
		}
		if (t->type != T_RP) { bad(s, "bad RETURN options"); goto out; }
	}
	if (!tok_end(s)) { bad(s, "extra arguments"); goto out; }
	(void)ret_children;
	if (npat == 1 && pats[0].len == 0) {
		put(s, lsub ? "* LSUB" : "* LIST"); put(s, " (\\Noselect) \".\" \"\"\r\n");
		ok_sync(s, lsub ? "LSUB completed" : "LIST completed");
		goto out;
	}
	n = list_all(s, &l);
	for (i = 0; i < n; i++) {
		int hit = 0;
		const char *su = special_use(l[i].name);
		str shown = STR_ZERO;
		if (s->utf8) { if (!mutf7_decode(l[i].name, strlen(l[i].name), &shown)) str_copys(&shown, l[i].name); }
		else str_copys(&shown, l[i].name);
		for (k = 0; k < npat && !hit; k++) {
			str_copy(&pat, ref.s, ref.len);
			str_append(&pat, pats[k].s, pats[k].len);
			hit = match_name(&pat, shown.s ? shown.s : "", shown.len);
		}
		str_free(&shown);
		if (!hit) continue;
		/* RFC 5258 RECURSIVEMATCH: a parent of a match is returned too, with CHILDINFO */
		if ((lsub || sel_sub) && !l[i].sub && !(recursive && l[i].subchild)) continue;
		if (sel_special && !su) continue;
		if (!lsub && !sel_sub && !l[i].exists && !l[i].children) continue;
		put(s, lsub ? "* LSUB (" : "* LIST (");
		{
			int first = 1;
#define ATTR(a) do { if (!first) put(s, " "); put(s, a); first = 0; } while (0)
			if (!l[i].exists) ATTR(lsub ? "\\Noselect" : "\\NonExistent");
			if (!lsub) ATTR(l[i].children ? "\\HasChildren" : "\\HasNoChildren");
			if ((ret_sub || sel_sub) && l[i].sub) ATTR("\\Subscribed");
			if (su && (!lsub || ret_special)) ATTR(su);
#undef ATTR
		}
		put(s, ") \".\" ");
		put_name(s, l[i].name);
		if (recursive && sel_sub && l[i].subchild) put(s, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		put(s, "\r\n");
		if (status_n && l[i].exists) status_items(s, l[i].name, &s->c.t[status_at], status_n);
	}
	for (i = 0; i < n; i++) free(l[i].name);
	free(l);
	ok_sync(s, lsub ? "LSUB completed" : "LIST completed");
out:
	for (i = 0; i < 32; i++) str_free(&pats[i]);
	str_free(&ref); str_free(&pat);
}

static int status_items(struct sess *s, const char *name, const struct tok *items, size_t nitems)
{
	struct folder tf;
	struct folder *f = &tf;
	str nm = STR_ZERO, path = STR_ZERO;
	size_t i, k;
	int ok = 0;

	memset(&tf, 0, sizeof tf);
	str_copys(&nm, name);
	if (s->state == S_SELECTED && str_equals(&s->f.name, name)) {
		f = &s->f;
		folder_sync(s, f, !s->readonly, 1);
	} else {
		if (!mbox_path(s, &nm, &path) || !isdir(path.s) || !folder_open(s, &tf, &nm, path.s) ||
		    !folder_sync(s, &tf, 0, 0)) goto out;
	}
	put(s, "* STATUS ");
	put_name(s, name);
	put(s, " (");
	for (i = 0; i < nitems; i++) {
		const struct tok *t = &items[i];
		if (i) put(s, " ");
		if (tok_is(t, "MESSAGES")) { put(s, "MESSAGES "); putu(s, f->n); }
		else if (tok_is(t, "UIDNEXT")) { put(s, "UIDNEXT "); putu(s, f->uidnext); }
		else if (tok_is(t, "UIDVALIDITY")) { put(s, "UIDVALIDITY "); putu(s, f->uidvalidity); }
		else if (tok_is(t, "UNSEEN")) { put(s, "UNSEEN "); putu(s, folder_unseen(f)); }
		else if (tok_is(t, "RECENT")) {
			size_t r = 0;
			for (k = 0; k < f->n; k++) if ((f->m[k].innew && !f->m[k].claimed) || (f->m[k].flags & F_RECENT)) r++;
			put(s, "RECENT "); putu(s, r);
		}
		else if (tok_is(t, "HIGHESTMODSEQ")) { put(s, "HIGHESTMODSEQ "); putu(s, f->highestmodseq); }
		else if (tok_is(t, "DELETED")) {
			size_t d = 0;
			for (k = 0; k < f->n; k++) if (f->m[k].flags & F_DELETED) d++;
			put(s, "DELETED "); putu(s, d);
		}
		else if (tok_is(t, "SIZE")) {
			unsigned long long sz = 0;
			for (k = 0; k < f->n; k++) {
				int known = f->m[k].size != (uint64_t)-1 && f->m[k].idate >= 0;
				if (msg_stat(f, &f->m[k])) { sz += f->m[k].size; if (!known) msg_dirty(f, &f->m[k]); }
			}
			put(s, "SIZE "); putu(s, sz);
		}
	}
	put(s, ")\r\n");
	folder_save(f);
	ok = 1;
out:
	if (f == &tf) folder_close(&tf);
	str_free(&nm); str_free(&path);
	return ok;
}

static void cmd_status(struct sess *s)
{
	str name = STR_ZERO, path = STR_ZERO;
	size_t at, n = 0;
	struct tok *t;

	if (!arg_mailbox(s, &name, &path)) goto out;
	if (tok_next(s)->type != T_LP) { bad(s, "status items expected"); goto out; }
	at = s->c.i;
	while ((t = tok_next(s))->type == T_ATOM) {
		if (!tok_is(t, "MESSAGES") && !tok_is(t, "UIDNEXT") && !tok_is(t, "UIDVALIDITY") &&
		    !tok_is(t, "UNSEEN") && !tok_is(t, "RECENT") && !tok_is(t, "HIGHESTMODSEQ") &&
		    !tok_is(t, "SIZE") && !tok_is(t, "DELETED")) { bad(s, "unknown status item"); goto out; }
		n++;
	}
	if (t->type != T_RP || !n || !tok_end(s)) { bad(s, "bad status items"); goto out; }
	if (!isdir(path.s)) { reply(s, "NO", "[NONEXISTENT] no such mailbox"); goto out; }
	if (!status_items(s, name.s, &s->c.t[at], n)) { reply(s, "NO", "[UNAVAILABLE] unable to read mailbox"); goto out; }
	ok_sync(s, "STATUS completed");
out:
	str_free(&name); str_free(&path);
}

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 9051 date-time); -1 when malformed */
static int64_t parse_datetime(const char *p, size_t n)
{
	struct tm tm;
	unsigned long long d, y, hh, mm, ss, z;
	size_t i = 0, u;
	int m, sign;
	int64_t t;

	memset(&tm, 0, sizeof tm);
	if (n && p[0] == ' ') i++;
	if (!(u = scan_ulong_max(p + i, n - i, 31, &d)) || !d) return -1;
	i += u;
	if (i + 5 > n || p[i] != '-' || p[i + 4] != '-') return -1;
	for (m = 0; m < 12; m++) if (strncasecmp(p + i + 1, months[m], 3) == 0) break;
	if (m == 12) return -1;
	i += 5;
	if ((u = scan_ulong_max(p + i, n - i, 9999, &y)) != 4) return -1;
	i += u;
	if (i >= n || p[i++] != ' ') return -1;
	if ((u = scan_ulong_max(p + i, n - i, 23, &hh)) != 2 || p[i + 2] != ':') return -1;
	i += 3;
	if ((u = scan_ulong_max(p + i, n - i, 59, &mm)) != 2 || p[i + 2] != ':') return -1;
	i += 3;
	if ((u = scan_ulong_max(p + i, n - i, 60, &ss)) != 2) return -1;
	i += 2;
	if (i + 6 != n || p[i] != ' ' || (p[i + 1] != '+' && p[i + 1] != '-')) return -1;
	sign = p[i + 1] == '-' ? -1 : 1;
	if (scan_ulong_max(p + i + 2, 4, 9999, &z) != 4) return -1;
	tm.tm_mday = (int)d; tm.tm_mon = m; tm.tm_year = (int)y - 1900;
	tm.tm_hour = (int)hh; tm.tm_min = (int)mm; tm.tm_sec = (int)ss;
	t = (int64_t)timegm(&tm);
	t -= sign * (int64_t)((z / 100) * 3600 + (z % 100) * 60);
	return t;
}

#define APPEND_MULTI_MAX 1000   /* messages in one MULTIAPPEND (RFC 3502) */

struct appmsg { uint32_t flags; int64_t idate; const struct tok *lit; };

/* undo a MULTIAPPEND or COPY that failed half-way: it is all or nothing */
void append_rollback(const char *dir, const str *bases)
{
	str d = STR_ZERO, p = STR_ZERO;
	DIR *dd;
	struct dirent *de;
	size_t j;

	str_copys(&d, dir); str_appends(&d, "cur/"); str_0(&d);
	dd = opendir(d.s);
	if (dd) {
		while ((de = readdir(dd)))
			for (j = 0; j < bases->len; j += strlen(bases->s + j) + 1) {
				size_t bl = strlen(bases->s + j);
				if (strncmp(de->d_name, bases->s + j, bl) == 0 && de->d_name[bl] == ':') {
					str_copy(&p, d.s, d.len); str_appends(&p, de->d_name); str_0(&p);
					unlink(p.s);
				}
			}
		closedir(dd);
	}
	str_free(&d); str_free(&p);
}

/* remove dir/tmp/B for every NUL-terminated base name B in bases */
static void tmp_rollback(const char *dir, const str *bases)
{
	str p = STR_ZERO;
	size_t j;

	for (j = 0; j < bases->len; j += strlen(bases->s + j) + 1) {
		str_copys(&p, dir); str_appends(&p, "tmp/"); str_appends(&p, bases->s + j);
		if (str_0(&p)) unlink(p.s);
	}
	str_free(&p);
}

static void cmd_append(struct sess *s)
{
	str name = STR_ZERO, path = STR_ZERO, base = STR_ZERO, bases = STR_ZERO, uids = STR_ZERO;
	struct folder tf, *f = &tf;
	struct appmsg *am = 0;
	uint32_t *fl = 0;
	size_t nam = 0, i;
	struct tok *t;

	memset(&tf, 0, sizeof tf);
	if (!arg_mailbox(s, &name, &path)) goto out;
	if (!isdir(path.s)) { reply(s, "NO", "[TRYCREATE] no such mailbox"); goto out; }
	if (s->state == S_SELECTED && str_equals(&s->f.name, name.s)) f = &s->f;
	else if (!folder_open(s, &tf, &name, path.s) || !folder_sync(s, &tf, 0, 0)) {
		reply(s, "NO", "[UNAVAILABLE] unable to open mailbox"); goto out;
	}
	am = calloc(APPEND_MULTI_MAX, sizeof *am);
	if (!am) { reply(s, "NO", "[SERVERBUG] out of memory"); goto out; }
	while (!tok_end(s)) {
		struct appmsg *a;
		int utf8 = 0;
		if (nam >= APPEND_MULTI_MAX) { bad(s, "too many messages in one APPEND"); goto out; }
		a = &am[nam];
		a->idate = -1;
		if (tok_peek(s)->type == T_LP) {
			tok_next(s);
			while ((t = tok_next(s))->type == T_ATOM) {
				int pf = parse_flag(s, f, t->p, t->n, &a->flags, 1);
				if (!pf) { bad(s, "bad flag"); goto out; }
				if (pf == PARSE_FLAG_LIMIT) { reply(s, "NO", "[LIMIT] no more keywords can be created in this mailbox"); goto out; }
			}
			if (t->type != T_RP) { bad(s, "bad flag list"); goto out; }
		}
		t = tok_peek(s);
		if (t->type == T_STRING && !t->lit) {
			a->idate = parse_datetime(t->p, t->n);
			if (a->idate < 0) { bad(s, "bad date-time"); goto out; }
			tok_next(s);
		}
		/* RFC 6855: UTF8 (~{n}...) */
		if (tok_is(tok_peek(s), "UTF8")) {
			tok_next(s);
			if (tok_next(s)->type != T_LP) { bad(s, "UTF8 needs a parenthesised literal8"); goto out; }
			utf8 = 1;
		}
		t = tok_next(s);
		if (t->type != T_STRING || !t->lit) { bad(s, "message literal expected"); goto out; }
		if (utf8 && tok_next(s)->type != T_RP) { bad(s, "UTF8 needs a parenthesised literal8"); goto out; }
		if (t->n > s->appendmax) { reply(s, "NO", "[TOOBIG] message too large"); goto out; }
		if (!t->lit8 && memchr(t->p, 0, t->n)) { reply(s, "NO", "NUL in message; use literal8"); goto out; }
		a->lit = t;
		nam++;
	}
	if (!nam) { bad(s, "message literal expected"); goto out; }
	fl = calloc(nam, sizeof *fl);
	if (!fl) { reply(s, "NO", "[SERVERBUG] out of memory"); goto out; }
	for (i = 0; i < nam; i++) {
		if (!folder_deliver_tmp(f->path.s, am[i].lit->p, am[i].lit->n, am[i].idate, &base)) {
			int e = errno;
			log_line("APPEND failed: ", strerror(e), (char *)0);
			tmp_rollback(f->path.s, &bases);
			reply(s, "NO", e == ENOSPC || e == EDQUOT ? "[OVERQUOTA] disk full" : "[SERVERBUG] unable to store message");
			goto out;
		}
		str_append(&bases, base.s, base.len);
		str_appendc(&bases, 0);
		fl[i] = am[i].flags & ~F_RECENT;
	}
	/* the session knows the names it made: they get their UIDs as they
	 * go into cur/, without reading cur/ again */
	if (!folder_append_tmp(s, f, f == &s->f && !s->readonly, f == &s->f, &bases, fl, &uids)) {
		int e = errno;
		log_line("APPEND failed: ", strerror(e), (char *)0);
		reply(s, "NO", e == ENOSPC || e == EDQUOT ? "[OVERQUOTA] disk full" : "[SERVERBUG] unable to store message");
		goto out;
	}
	if (f == &s->f) { put(s, "* "); putu(s, f->n); put(s, " EXISTS\r\n"); }
	else sess_sync(s, 1);
	put(s, c_tag(s)); put(s, " OK [APPENDUID "); putu(s, f->uidvalidity); put(s, " ");
	putn(s, uids.s ? uids.s : "0", uids.len ? uids.len : 1);
	put(s, "] APPEND completed\r\n");
out:
	free(am);
	free(fl);
	if (f == &tf) folder_close(&tf);
	str_free(&name); str_free(&path); str_free(&base); str_free(&bases); str_free(&uids);
}

static void cmd_enable(struct sess *s)
{
	struct tok *t;
	str en = STR_ZERO;

	if (tok_end(s)) { bad(s, "ENABLE needs capabilities"); return; }
	while ((t = tok_next(s))->type == T_ATOM) {
		if (tok_is(t, "CONDSTORE") && !s->condstore) { s->condstore = 1; str_appends(&en, " CONDSTORE"); }
		else if (tok_is(t, "UTF8=ACCEPT") && !s->utf8) { s->utf8 = 1; str_appends(&en, " UTF8=ACCEPT"); }
		else if (tok_is(t, "IMAP4rev2") && !s->rev2) { s->rev2 = 1; str_appends(&en, " IMAP4rev2"); }
		/* RFC 7162 3.2.3: QRESYNC implies CONDSTORE */
		else if (tok_is(t, "QRESYNC") && !s->qresync) { s->qresync = s->condstore = 1; str_appends(&en, " QRESYNC"); }
	}
	put(s, "* ENABLED");
	if (en.len) putn(s, en.s, en.len);
	put(s, "\r\n");
	str_free(&en);
	reply(s, "OK", "ENABLE completed");
}

/* IDLE (RFC 2177): inotify on new/ and cur/, and a one-second poll as a
 * fallback and for changes inotify cannot see (another host over NFS) */
/* one of IMAP_IDLE_PER_USER slots, each an flock on a file in the Maildir,
 * held while the session idles; -1 when all are taken */
static int idle_slot(struct sess *s)
{
	str p = STR_ZERO;
	unsigned i;
	int fd = -1;

	for (i = 0; i < IMAP_IDLE_PER_USER && fd < 0; i++) {
		str_copy(&p, s->maildir.s, s->maildir.len);
		str_appends(&p, "facteur-idle.");
		str_appendu(&p, i);
		if (!str_0(&p)) break;
		fd = open(p.s, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) { close(fd); fd = -1; }
	}
	str_free(&p);
	return fd;
}

static int cmd_idle(struct sess *s)
{
	int ino = -1, slot;
	time_t start = time(0);
	str line = STR_ZERO;
	int r = 0;

	if (!tok_end(s)) { bad(s, "IDLE takes no arguments"); return 0; }
	slot = idle_slot(s);
	if (slot < 0) { reply(s, "NO", "[LIMIT] too many IDLE sessions for this user"); return 0; }
	put(s, "+ idling\r\n");
	bufout_flush(&s->out);
	if (s->state == S_SELECTED) {
		str p = STR_ZERO;
		ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (ino >= 0) {
			static const char *const sub[] = { "new", "cur" };
			size_t i;
			for (i = 0; i < 2; i++) {
				str_copy(&p, s->f.path.s, s->f.path.len); str_appends(&p, sub[i]); str_0(&p);
				inotify_add_watch(ino, p.s, IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO);
			}
		}
		str_free(&p);
	}
	for (;;) {
		struct pollfd pf[2];
		int n = 1, pr;
		if (bufin_pending(&s->in) == 0) {
			pf[0].fd = s->in.fd; pf[0].events = POLLIN;
			if (ino >= 0) { pf[1].fd = ino; pf[1].events = POLLIN; n = 2; }
			pr = poll(pf, (nfds_t)n, 1000);
			if (pr < 0 && errno != EINTR) { r = -1; break; }
			if (n == 2 && pr > 0 && (pf[1].revents & POLLIN)) {
				char b[4096];
				while (read(ino, b, sizeof b) > 0) {}
			}
			if (time(0) - start > IMAP_IDLE_MAX_S) { put(s, "* BYE idle too long\r\n"); r = -1; break; }
			if (pr <= 0 || !(pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
				if (s->state == S_SELECTED) { folder_sync(s, &s->f, !s->readonly, 1); bufout_flush(&s->out); }
				continue;
			}
		}
		r = bufin_getline(&s->in, &line, 64);
		if (r != BUF_LINE) { r = -1; break; }
		while (line.len && (line.s[line.len - 1] == '\n' || line.s[line.len - 1] == '\r')) line.len--;
		if (line.len == 4 && strncasecmp(line.s, "DONE", 4) == 0) { r = 0; ok_sync(s, "IDLE terminated"); break; }
		bad(s, "expected DONE");
		r = 0;
		break;
	}
	if (ino >= 0) close(ino);
	close(slot);
	str_free(&line);
	return r;
}

void mailbox_loop(struct sess *s)
{
	for (;;) {
		int r = cmd_read(s), uid = 0;
		struct tok *t;
		char name[32];
		const char *c;

		if (r == CMD_EOF || r == CMD_FATAL) break;
		if (r == CMD_BAD) goto next;
		t = tok_next(s);
		if (tok_is(t, "UID")) { uid = 1; t = tok_next(s); }
		if (t->type != T_ATOM || t->n >= sizeof name) { bad(s, "unknown command"); goto next; }
		memcpy(name, t->p, t->n);
		name[t->n] = 0;
		c = name;
		if (uid && strcasecmp(c, "FETCH") && strcasecmp(c, "STORE") && strcasecmp(c, "SEARCH") &&
		    strcasecmp(c, "COPY") && strcasecmp(c, "MOVE") && strcasecmp(c, "EXPUNGE")) {
			bad(s, "unknown UID command");
			goto next;
		}
		if (strcasecmp(c, "CAPABILITY") == 0) {
			put(s, "* CAPABILITY "); capability_list(s); put(s, "\r\n");
			reply(s, "OK", "CAPABILITY completed");
		} else if (strcasecmp(c, "NOOP") == 0 || strcasecmp(c, "CHECK") == 0) {
			ok_sync(s, strcasecmp(c, "NOOP") == 0 ? "NOOP completed" : "CHECK completed");
		} else if (strcasecmp(c, "LOGOUT") == 0) {
			put(s, "* BYE logging out\r\n");
			reply(s, "OK", "LOGOUT completed");
			break;
		} else if (strcasecmp(c, "ID") == 0) {
			put(s, "* ID (\"name\" \"facteur\")\r\n");
			reply(s, "OK", "ID completed");
		} else if (strcasecmp(c, "LOGIN") == 0 || strcasecmp(c, "AUTHENTICATE") == 0 || strcasecmp(c, "STARTTLS") == 0) {
			bad(s, "already authenticated");
		} else if (strcasecmp(c, "ENABLE") == 0) cmd_enable(s);
		else if (strcasecmp(c, "SELECT") == 0) cmd_select(s, 0);
		else if (strcasecmp(c, "EXAMINE") == 0) cmd_select(s, 1);
		else if (strcasecmp(c, "CREATE") == 0) cmd_create(s);
		else if (strcasecmp(c, "DELETE") == 0) cmd_delete(s);
		else if (strcasecmp(c, "RENAME") == 0) cmd_rename(s);
		else if (strcasecmp(c, "SUBSCRIBE") == 0) cmd_subscribe(s, 1);
		else if (strcasecmp(c, "UNSUBSCRIBE") == 0) cmd_subscribe(s, 0);
		else if (strcasecmp(c, "LIST") == 0) cmd_list(s, 0);
		else if (strcasecmp(c, "LSUB") == 0) cmd_list(s, 1);
		else if (strcasecmp(c, "NAMESPACE") == 0) {
			put(s, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
			reply(s, "OK", "NAMESPACE completed");
		} else if (strcasecmp(c, "STATUS") == 0) cmd_status(s);
		else if (strcasecmp(c, "APPEND") == 0) cmd_append(s);
		else if (strcasecmp(c, "IDLE") == 0) { if (cmd_idle(s) < 0) break; }
		else if (s->state != S_SELECTED) {
			if (strcasecmp(c, "CLOSE") == 0 || strcasecmp(c, "UNSELECT") == 0 || strcasecmp(c, "EXPUNGE") == 0 ||
			    strcasecmp(c, "FETCH") == 0 || strcasecmp(c, "STORE") == 0 || strcasecmp(c, "SEARCH") == 0 ||
			    strcasecmp(c, "COPY") == 0 || strcasecmp(c, "MOVE") == 0)
				bad(s, "no mailbox selected");
			else bad(s, "unknown command");
		} else if (strcasecmp(c, "CLOSE") == 0 || strcasecmp(c, "UNSELECT") == 0) {
			if (!tok_end(s)) bad(s, "extra arguments");
			else {
				if (strcasecmp(c, "CLOSE") == 0 && !s->readonly) selected_command(s, "EXPUNGE-SILENT", 0);
				do_unselect(s, 0);
				reply(s, "OK", "CLOSE completed");
			}
		} else if (selected_command(s, c, uid) < 0) {
			break;
		}
	next:
		/* an APPEND's buffer is not kept for the rest of an idle session */
		if (s->c.buf.cap > IMAP_LINE_MAX * 4) str_free(&s->c.buf);
		if (s->c.capt > 4096) { free(s->c.t); s->c.t = 0; s->c.capt = s->c.nt = 0; }
		if (s->bads >= IMAP_BAD_MAX) { put(s, "* BYE too many errors\r\n"); break; }
		/* a client that stopped reading: the write timed out, nothing more to say */
		if (s->out.err) { log_line("client stopped reading; session ends", (char *)0); break; }
	}
	if (s->state == S_SELECTED) folder_save(&s->f);
	bufout_flush(&s->out);
}
