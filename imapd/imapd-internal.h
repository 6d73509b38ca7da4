/* imapd-internal.h: the session of facteur-imapd and the interfaces between
 * its files: cmd.c (reading and tokenizing commands), preauth.c (the
 * not-authenticated state and the hand-over to facteur-checkpassword),
 * folder.c (Maildir++ folders and their UID index), mailbox.c (the
 * authenticated state), selected.c (the selected state), fetch.c, search.c.
 * All input is the client's and untrusted. */
#ifndef FACTEUR_IMAPD_INTERNAL_H
#define FACTEUR_IMAPD_INTERNAL_H
#include <stdint.h>
#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "str.h"

#define IMAP_LINE_MAX        65536       /* one line of a command, literals apart */
#define IMAP_CMD_MAX       (1024 * 1024) /* a whole command without APPEND data */
#define IMAP_LITERAL_PREAUTH  1024       /* any literal before login */
#define IMAP_LITERAL_MAX   (1024 * 1024) /* literals of other commands */
#define IMAP_APPEND_DEFAULT (50ULL * 1024 * 1024) /* when control/databytes is 0 or absent */
#define IMAP_LITERALS_MAX      64        /* literals in one command */
#define IMAP_TOKENS_MAX    100000
#define IMAP_DEPTH_MAX         16        /* nested parentheses */
#define IMAP_SEARCH_DEPTH      16        /* nested OR/NOT/() in SEARCH */
#define IMAP_AUTH_FAILS         3        /* failed logins before BYE */
#define IMAP_TIMEOUT_MS  (30 * 60 * 1000) /* RFC 9051 5.4: at least 30 minutes */
#define IMAP_PREAUTH_TIMEOUT_MS (60 * 1000)
#define IMAP_IDLE_MAX_S  (29 * 60)
#define IMAP_IDLE_PER_USER     20        /* sessions in IDLE at once, per Maildir */
#define IMAP_BAD_MAX           20        /* BAD replies before BYE */
#define IMAP_NAME_MAX         250        /* mailbox name bytes: "." + name is one file name (255) */
#define IMAP_SUBS_MAX        5000        /* subscribed names (the file is rewritten whole at each change) */
#define IMAP_KEYWORDS          25        /* a-y in file names: 6 + 25 + Recent = 32 bits */
#define PARSE_FLAG_LIMIT        2        /* parse_flag: a new keyword past IMAP_KEYWORDS */
#define IMAP_EXIT_FATAL       100        /* mailbox mode: not 1 or 111, see preauth.c */

enum { T_END, T_ATOM, T_STRING, T_LP, T_RP };

struct tok {
	int type;
	char *p;
	size_t n;
	int lit;        /* came as a literal (may hold any byte) */
	int lit8;       /* literal8 ~{n} */
};

struct cmd {
	str buf;            /* the whole command, literals inline */
	struct tok *t;
	size_t nt, capt, i; /* tokens, cursor */
	char tag[128];
	int havetag;
};

/* message flags: the six Maildir letters then keywords a-z */
#define F_DRAFT    0x1   /* D */
#define F_FLAGGED  0x2   /* F */
#define F_PASSED   0x4   /* P ($Forwarded) */
#define F_ANSWERED 0x8   /* R */
#define F_SEEN     0x10  /* S */
#define F_DELETED  0x20  /* T */
#define F_KW(i)    (0x40u << (i))
#define F_RECENT   0x80000000u   /* session-only, never on disk */

struct msg {
	uint32_t uid;
	uint32_t flags;
	uint64_t modseq;
	uint64_t size;      /* file size; (uint64_t)-1 not known yet */
	int64_t idate;      /* file mtime; -1 not known yet */
	uint32_t name;      /* offset of the base name in folder.names */
	uint16_t namelen;
	uint8_t innew;
	uint8_t hasinfo;    /* the file name has a ":2," part */
	uint8_t seen;       /* scratch during a directory scan */
	uint8_t claimed;    /* still in new/, but its \Recent went to a session already */
	uint8_t dirty;      /* its index record must be appended */
	uint8_t gone;       /* expunged by another session, not yet reported (a ghost:
	                     * RFC 9051 7.4.1 forbids EXPUNGE during non-UID FETCH,
	                     * STORE and SEARCH); 2: a tombstone while applying records */
};

struct folder {
	str path;           /* directory, trailing '/' */
	str name;           /* IMAP name as the client spells it (mUTF-7) */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	struct msg *m;
	size_t n, cap;
	str names;          /* arena of base names */
	char *kw[IMAP_KEYWORDS];
	size_t nkw;
	long long curmt, newmt;     /* directory mtimes (ns) the index matches */
	/* facteur-uidlist, kept open while selected: its inode cannot be
	 * reused while we hold it, so "same inode" means "same file" */
	int idxfd;          /* 0: none (descriptor 0 is the client) */
	unsigned long long idxino, idxdev;
	unsigned long long idxoff;    /* bytes of it applied to the view (ends at a newline) */
	unsigned long long idxlines;  /* record lines in it: compaction when far above n */
	int idxrewrite;     /* the next save writes it whole */
	str pend;           /* records waiting to be appended ("X uid" expunges) */
	int dirty;          /* index must be written */
	int uidsnew;        /* ... and fsynced: UIDs were assigned */
	size_t ghosts;      /* messages with gone set */
	size_t recent;
	/* cur/ mtime right after this session's own renames or unlinks there,
	 * when the view was current before them, and when it was read (ns):
	 * see folder_own_begin in folder.c */
	long long owncurmt, owncheck;
};

struct sess {
	bufin in;
	bufout out;
	struct cmd c;
	int state;          /* S_NOTAUTH, S_AUTH, S_SELECTED */
	int loopback, tls, plainok;
	int fails, bads;
	int condstore, utf8, rev2, qresync;
	str maildir;        /* trailing '/' */
	str user;
	struct folder f;
	int readonly;
	str scratch, scratch2;
	unsigned long long appendmax;
	uint32_t *saved;    /* SEARCHRES (RFC 5182): UIDs of the last SEARCH RETURN (SAVE) */
	size_t nsaved;
};
enum { S_NOTAUTH, S_AUTH, S_SELECTED, S_LOGOUT };

/* cmd.c */
#define CMD_OK     0
#define CMD_BAD    1     /* a reply was owed and sent; carry on */
#define CMD_EOF    2
#define CMD_FATAL  3     /* BYE sent or connection unusable */
int cmd_read(struct sess *s);
struct tok *tok_peek(struct sess *s);
struct tok *tok_next(struct sess *s);
int tok_atom(struct sess *s, const char *want);       /* next is this atom (any case): consume */
int tok_astring(struct sess *s, str *out);           /* atom or string, NUL refused */
int tok_end(struct sess *s);
int tok_is(const struct tok *t, const char *want);

/* replies */
void put(struct sess *s, const char *p);
void putn(struct sess *s, const char *p, size_t n);
void putu(struct sess *s, unsigned long long u);
void putn_nonul(struct sess *s, const char *p, size_t n);  /* NUL sent as 0x80 */
void putq(struct sess *s, const char *p, size_t n);  /* quoted or literal */
void putnstr(struct sess *s, const char *p, size_t n, int isnil);
void reply(struct sess *s, const char *status, const char *text); /* tagged */
void bad(struct sess *s, const char *text);
const char *c_tag(struct sess *s);
void capability_list(struct sess *s);
void put_expunge(struct sess *s, size_t seq, uint32_t uid);   /* EXPUNGE, or VANISHED (QRESYNC) */

/* sequence sets */
struct range { uint32_t lo, hi; };
struct seqset { struct range *r; size_t n, cap; int searchres; };   /* '*' is 0 until resolved */
int seqset_parse(const char *p, size_t n, struct seqset *set);
/* resolve '*' to max and sort; after this, seqset_has works */
void seqset_resolve(struct seqset *set, uint32_t max);
int seqset_has(const struct seqset *set, uint32_t v);
void seqset_free(struct seqset *set);
/* RFC 7162: "* VANISHED (EARLIER)" for the UIDs of known (resolved; 0: all
 * below UIDNEXT) not in the view */
void put_vanished_earlier(struct sess *s, const struct folder *f, const struct seqset *known);
/* "$": the saved search result as UIDs (uid) or sequence numbers; 1 ok */
int seqset_saved(struct sess *s, struct seqset *set, int uid);

/* preauth.c */
int preauth_command(struct sess *s, const char *cmd);
void preauth_greet(struct sess *s);
int access_plaintextauth(void);

/* folder.c */
int mbox_name_ok(struct sess *s, const char *name, size_t n, str *imapname);
int mbox_path(struct sess *s, const str *imapname, str *path);
int folder_open(struct sess *s, struct folder *f, const str *imapname, const char *path);
/* report: 0 silent (SELECT), 1 EXISTS, EXPUNGE and FETCH FLAGS, 2 the same
 * without EXPUNGE (non-UID FETCH, STORE, SEARCH: expunged messages stay
 * in the view as ghosts until a command that may report them) */
int folder_sync(struct sess *s, struct folder *f, int takenew, int report);
void folder_close(struct folder *f);
int folder_save(struct folder *f);          /* takes the lock */
int folder_save_locked(struct folder *f);   /* the caller holds it */
int msg_path(const struct folder *f, const struct msg *m, str *out);
int msg_setflags(struct sess *s, struct folder *f, struct msg *m, uint32_t flags);
int msg_stat(const struct folder *f, struct msg *m);
int folder_keyword(struct folder *f, const char *kw, size_t n, int create);
int folder_deliver(struct sess *s, const char *dir, const char *data, size_t n,
                   uint32_t flags, int64_t idate, str *name);
void put_flags(struct sess *s, const struct folder *f, uint32_t flags);
int parse_flag(struct sess *s, struct folder *f, const char *p, size_t n, uint32_t *fl, int create);
size_t folder_unseen(const struct folder *f);
int folder_lock(const struct folder *f);
void msg_dirty(struct folder *f, struct msg *m);   /* its index line must be written */
/* around changes outside folder_sync (STORE, EXPUNGE, \Seen set by
 * FETCH): wlock takes the lock and syncs (takenew, report as for
 * folder_sync), so that the view holds what other sessions wrote and the
 * MODSEQs given next are above theirs; wunlock writes what changed and
 * unlocks. -1: no lock (nothing done) */
int folder_wlock(struct sess *s, struct folder *f, int takenew, int report);
int folder_wunlock(struct folder *f, int lk);
/* APPEND into f: under the lock, after a sync (takenew, report as for
 * folder_sync), rename each tmp/ file named in bases (NUL-separated base
 * names from folder_deliver_tmp) into cur/ with flags[k] and give it a
 * UID without reading cur/ again; uids gets "u1,u2,..." */
int folder_append_tmp(struct sess *s, struct folder *f, int takenew, int report,
                      const str *bases, const uint32_t *flags, str *uids);
int folder_deliver_tmp(const char *dir, const char *data, size_t n, int64_t idate, str *name);
/* around the session's own renames or unlinks in cur/: begin says whether
 * the view was current before them, end records the result, so that the
 * next sync need not read cur/ again */
int folder_own_begin(struct folder *f);
void folder_own_end(struct folder *f, int known);
void folder_unlock(int fd);

/* mailbox.c: authenticated and any-state commands */
int mbox_isdir(const char *path);    /* a directory, not a symlink to one */
void mailbox_greet(struct sess *s, const char *tag);
void mailbox_loop(struct sess *s);
/* remove dir/cur/B:2,... for every NUL-terminated base name B in bases */
void append_rollback(const char *dir, const str *bases);
int sess_sync(struct sess *s, int expunges_ok);

/* selected.c */
int selected_command(struct sess *s, const char *cmd, int uid);
/* fetch.c */
int fetch_command(struct sess *s, int uid);
/* search.c */
int search_command(struct sess *s, int uid);
int store_command(struct sess *s, int uid);

#endif
