/* selected.c: the selected state (RFC 9051 6.4): EXPUNGE, UID EXPUNGE,
 * STORE (RFC 7162 UNCHANGEDSINCE), COPY, MOVE (RFC 6851) with UIDPLUS
 * responses (RFC 4315). Runs as the mailbox owner; sets come from the
 * client and are checked in fetch.c's arg_seqset. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fmt.h"
#include "fsx.h"
#include "imapd-fetch.h"
#include "log.h"
#include "scan.h"

/* remove \Deleted messages (in set, when given); reports EXPUNGE unless
 * silent (CLOSE). Under the lock, after a sync: the names unlinked are the
 * newest known, and the expunge's MODSEQ is above every other session's. */
static int expunge(struct sess *s, const struct seqset *set, int silent)
{
	struct folder *f = &s->f;
	size_t i, o = 0, gone = 0;
	str p = STR_ZERO;
	int lk = folder_wlock(s, f, !s->readonly, silent ? 0 : 1), own, failed = 0;

	if (lk < 0) return 0;
	own = folder_own_begin(f);
	for (i = 0; i < f->n; i++) {
		struct msg *m = &f->m[i];
		int del = (m->flags & F_DELETED) && (!set || seqset_has(set, m->uid));
		if (del && msg_path(f, m, &p) && (unlink(p.s) == 0 || errno == ENOENT)) {
			if (!silent) put_expunge(s, i + 1 - gone, m->uid);
			if (!m->gone) {
				str_appends(&f->pend, "X ");
				str_appendu(&f->pend, m->uid);
				str_appendc(&f->pend, '\n');
			}
			gone++;
			continue;
		}
		if (del) { own = 0; failed = 1; }   /* a failed unlink: let the next sync look */
		f->m[o++] = *m;
	}
	f->n = o;
	f->ghosts = 0;
	for (i = 0; i < f->n; i++) if (f->m[i].gone) f->ghosts++;
	if (gone) {
		folder_own_end(f, own);
		f->highestmodseq++;
		f->dirty = 1;
	}
	folder_wunlock(f, lk);
	str_free(&p);
	return !failed;
}

int store_command(struct sess *s, int uid)
{
	struct seqset set = { 0, 0, 0, 0 };
	struct folder *f = &s->f;
	struct tok *t;
	int mode, silent = 0, paren = 0, haveunch = 0, lk, failed = 0, pf;
	uint32_t fl = 0;
	unsigned long long unch = 0;
	size_t i;
	str modified = STR_ZERO;

	if (!arg_seqset(s, uid, &set)) goto out;
	if (tok_peek(s)->type == T_LP) {
		tok_next(s);
		if (!tok_atom(s, "UNCHANGEDSINCE")) { bad(s, "unknown STORE modifier"); goto out; }
		t = tok_next(s);
		if (t->type != T_ATOM || !t->n || scan_ulong(t->p, t->n, &unch) != t->n || tok_next(s)->type != T_RP) {
			bad(s, "bad UNCHANGEDSINCE"); goto out;
		}
		haveunch = 1;
		s->condstore = 1;
	}
	t = tok_next(s);
	if (t->type != T_ATOM) { bad(s, "STORE needs FLAGS, +FLAGS or -FLAGS"); goto out; }
	{
		const char *p = t->p;
		size_t n = t->n;
		mode = 0;
		if (n && (*p == '+' || *p == '-')) { mode = *p == '+' ? 1 : -1; p++; n--; }
		if (n == 12 && strncasecmp(p, "FLAGS.SILENT", 12) == 0) silent = 1;
		else if (!(n == 5 && strncasecmp(p, "FLAGS", 5) == 0)) { bad(s, "STORE needs FLAGS, +FLAGS or -FLAGS"); goto out; }
	}
	if (tok_peek(s)->type == T_LP) { tok_next(s); paren = 1; }
	while ((t = tok_peek(s))->type == T_ATOM) {
		pf = parse_flag(s, f, t->p, t->n, &fl, mode >= 0 && !s->readonly);
		if (!pf) { bad(s, "invalid flag"); goto out; }
		if (pf == PARSE_FLAG_LIMIT) { reply(s, "NO", "[LIMIT] no more keywords can be created in this mailbox"); goto out; }
		tok_next(s);
	}
	if (paren && tok_next(s)->type != T_RP) { bad(s, "bad flag list"); goto out; }
	if (!tok_end(s)) { bad(s, "extra arguments"); goto out; }
	if (s->readonly) { reply(s, "NO", "[READ-ONLY] mailbox is read-only"); goto out; }
	/* under the lock, the view made current first: the renames start from
	 * the names other sessions gave, and MODSEQs stay strictly increasing
	 * (RFC 7162 3.1); a non-UID STORE may report EXISTS and FLAGS but no
	 * EXPUNGE (RFC 9051 7.4.1) */
	lk = folder_wlock(s, f, 1, uid ? 1 : 2);
	if (lk < 0) { reply(s, "NO", "[UNAVAILABLE] unable to read the mailbox"); goto out; }
	for (i = 0; i < f->n; i++) {
		struct msg *m = &f->m[i];
		uint32_t nf;
		if (!in_set(s, &set, i, uid)) continue;
		if (haveunch && m->modseq > unch) {
			if (modified.len) str_appendc(&modified, ',');
			str_appendu(&modified, uid ? m->uid : i + 1);
			continue;
		}
		nf = mode > 0 ? m->flags | fl : mode < 0 ? m->flags & ~fl : (m->flags & F_RECENT) | fl;
		if (nf != m->flags && (m->gone || !msg_setflags(s, f, m, nf))) {
			/* renamed or removed behind our back (not by an IMAP session,
			 * whose renames the sync above knew): the flags were not
			 * stored, and the client must not think they were */
			if (!failed) failed = m->gone || errno == ENOENT ? 1 : 2;
			f->curmt = -1;
			continue;
		}
		if (!silent || haveunch) {
			put(s, "* "); putu(s, i + 1); put(s, " FETCH (");
			if (!silent) { put(s, "FLAGS "); put_flags(s, f, m->flags); }
			if (uid) { put(s, silent ? "UID " : " UID "); putu(s, m->uid); }
			if (s->condstore) { put(s, (!silent || uid) ? " MODSEQ (" : "MODSEQ ("); putu(s, m->modseq); put(s, ")"); }
			put(s, ")\r\n");
		}
	}
	folder_wunlock(f, lk);
	if (failed) {
		reply(s, "NO", failed == 1 ? "[EXPUNGEISSUED] some messages were changed or removed meanwhile; their flags were not stored"
		                           : "[SERVERBUG] unable to store some flags");
		goto out;
	}
	if (modified.len) {
		str_0(&modified);
		put(s, c_tag(s)); put(s, " OK [MODIFIED "); putn(s, modified.s, modified.len); put(s, "] conditional STORE failed\r\n");
	} else reply(s, "OK", uid ? "UID STORE completed" : "STORE completed");
out:
	str_free(&modified);
	seqset_free(&set);
	return 0;
}

static void copy_move(struct sess *s, int uid, int move)
{
	struct seqset set = { 0, 0, 0, 0 };
	struct folder tf, *f = &s->f, *dst = &tf;
	str name = STR_ZERO, path = STR_ZERO, src = STR_ZERO, to = STR_ZERO, tmp = STR_ZERO, id = STR_ZERO;
	str srcuids = STR_ZERO, dstuids = STR_ZERO, bases = STR_ZERO;
	struct tok *t;
	size_t i, j, count = 0;
	int err = 0, errsave = 0;

	memset(&tf, 0, sizeof tf);
	if (!arg_seqset(s, uid, &set)) goto out;
	t = tok_next(s);
	if ((t->type != T_ATOM && t->type != T_STRING) || !mbox_name_ok(s, t->p, t->n, &name)) {
		reply(s, "NO", "[CANNOT] invalid mailbox name"); goto out;
	}
	if (!tok_end(s)) { bad(s, "extra arguments"); goto out; }
	if (!mbox_path(s, &name, &path) || !mbox_isdir(path.s)) {
		reply(s, "NO", "[TRYCREATE] no such mailbox"); goto out;
	}
	if (move && s->readonly) { reply(s, "NO", "[READ-ONLY] mailbox is read-only"); goto out; }
	if (str_equals(&name, f->name.s)) dst = f;
	else if (!folder_open(s, &tf, &name, path.s) || !folder_sync(s, &tf, 0, 0)) {
		reply(s, "NO", "[UNAVAILABLE] unable to open target"); goto out;
	}
	for (i = 0; i < f->n; i++) {
		struct msg *m = &f->m[i];
		size_t k;
		if (!in_set(s, &set, i, uid)) continue;
		if (!msg_path(f, m, &src) || !uniq_make(&id)) { err = 1; break; }
		/* keywords are per folder: carry them over by name */
		{
			uint32_t nf = m->flags & 0x3f;
			for (k = 0; k < f->nkw; k++)
				if (m->flags & F_KW(k)) {
					int x = folder_keyword(dst, f->kw[k], strlen(f->kw[k]), 1);
					if (x >= 0) nf |= F_KW(x);
				}
			str_copy(&to, dst->path.s, dst->path.len); str_appends(&to, "cur/");
			str_append(&to, id.s, id.len); str_appends(&to, ":2,");
			{
				static const char l[] = "DFPRST";
				int b;
				for (b = 0; b < 6; b++) if (nf & (1u << b)) str_appendc(&to, l[b]);
				for (b = 0; b < IMAP_KEYWORDS; b++) if (nf & F_KW(b)) str_appendc(&to, (char)('a' + b));
			}
			str_0(&to);
		}
		if (move) {
			if (rename(src.s, to.s) < 0) { errsave = errno; err = 1; break; }
		} else {
			str_copy(&tmp, dst->path.s, dst->path.len); str_appends(&tmp, "tmp/"); str_append(&tmp, id.s, id.len); str_0(&tmp);
			if (link(src.s, tmp.s) < 0) {
				/* another file system: copy the bytes */
				str data = STR_ZERO, nm = STR_ZERO;
				int ok = msg_read(s, f, m, &data) && folder_deliver(s, dst->path.s, data.s ? data.s : "", data.len, m->flags & 0x3f, m->idate, &nm);
				if (ok) { str_copy(&id, nm.s, nm.len); }
				str_free(&data); str_free(&nm);
				if (!ok) { errsave = errno; err = 1; break; }
			} else if (rename(tmp.s, to.s) < 0) { errsave = errno; unlink(tmp.s); err = 1; break; }
		}
		if (srcuids.len) str_appendc(&srcuids, ',');
		str_appendu(&srcuids, m->uid);
		str_append(&bases, id.s, id.len);
		str_appendc(&bases, 0);
		count++;
	}
	/* RFC 9051 6.4.7: a COPY that fails leaves the target as it was (a
	 * MOVE has already taken what it moved out of the source) */
	if (err && !move && count) {
		append_rollback(dst->path.s, &bases);
		count = 0;
		str_clear(&bases);
	}
	if (count) {
		str_copy(&tmp, dst->path.s, dst->path.len); str_appends(&tmp, "cur"); str_0(&tmp);
		fsx_syncdir(tmp.s);
		if (move) { str_copy(&tmp, f->path.s, f->path.len); str_appends(&tmp, "cur"); str_0(&tmp); fsx_syncdir(tmp.s); }
	}
	if (dst != f) folder_sync(s, dst, 0, 0);
	else folder_sync(s, f, !s->readonly, 1);
	/* the new UIDs, in the order of the source UIDs */
	for (j = 0; j < bases.len; ) {
		const char *b = bases.s + j;
		size_t bl = strlen(b);
		for (i = dst->n; i-- > 0; )
			if (dst->m[i].namelen == bl && memcmp(dst->names.s + dst->m[i].name, b, bl) == 0) {
				if (dstuids.len) str_appendc(&dstuids, ',');
				str_appendu(&dstuids, dst->m[i].uid);
				break;
			}
		j += bl + 1;
	}
	if (err && !count) {
		reply(s, "NO", errsave == ENOSPC || errsave == EDQUOT ? "[OVERQUOTA] disk full" : "[SERVERBUG] unable to copy messages");
		goto out;
	}
	if (move) {
		if (count) {
			put(s, "* OK [COPYUID "); putu(s, dst->uidvalidity); put(s, " ");
			putn(s, srcuids.s, srcuids.len); put(s, " "); putn(s, dstuids.s, dstuids.len); put(s, "] moved\r\n");
		}
		folder_sync(s, f, 0, 1);
		if (err) reply(s, "NO", "some messages could not be moved");
		else reply(s, "OK", "MOVE completed");
		goto out;
	}
	sess_sync(s, 1);
	put(s, c_tag(s));
	if (count) {
		put(s, " OK [COPYUID "); putu(s, dst->uidvalidity); put(s, " ");
		putn(s, srcuids.s, srcuids.len); put(s, " "); putn(s, dstuids.s, dstuids.len); put(s, "]");
	} else put(s, " OK");
	put(s, err ? " some messages could not be copied\r\n" : " COPY completed\r\n");
out:
	if (dst == &tf) folder_close(&tf);
	seqset_free(&set);
	str_free(&name); str_free(&path); str_free(&src); str_free(&to); str_free(&tmp); str_free(&id);
	str_free(&srcuids); str_free(&dstuids); str_free(&bases);
}

int selected_command(struct sess *s, const char *cmd, int uid)
{
	if (strcmp(cmd, "EXPUNGE-SILENT") == 0) { expunge(s, 0, 1); return 0; }
	if (strcasecmp(cmd, "EXPUNGE") == 0) {
		struct seqset set = { 0, 0, 0, 0 };
		if (uid && !arg_seqset(s, 1, &set)) { seqset_free(&set); return 0; }
		if (!tok_end(s)) { bad(s, "extra arguments"); seqset_free(&set); return 0; }
		if (s->readonly) { reply(s, "NO", "[READ-ONLY] mailbox is read-only"); seqset_free(&set); return 0; }
		if (!expunge(s, uid ? &set : 0, 0)) reply(s, "NO", "some messages could not be removed");
		else reply(s, "OK", "EXPUNGE completed");
		seqset_free(&set);
		return 0;
	}
	if (strcasecmp(cmd, "FETCH") == 0) return fetch_command(s, uid);
	if (strcasecmp(cmd, "STORE") == 0) return store_command(s, uid);
	if (strcasecmp(cmd, "SEARCH") == 0) return search_command(s, uid);
	if (strcasecmp(cmd, "COPY") == 0) { copy_move(s, uid, 0); return 0; }
	if (strcasecmp(cmd, "MOVE") == 0) { copy_move(s, uid, 1); return 0; }
	bad(s, "unknown command");
	return 0;
}
