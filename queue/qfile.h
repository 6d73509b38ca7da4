/* qfile.h: the on-disk queue shared by facteur-queue, facteur-send and
 * facteur-qstat: directory names, the envelope format (qmail-queue's), the
 * per-recipient state file, and finding sibling programs. The layout and
 * the crash-safety argument are in queue/README.md and facteur-send(8).
 * Trusts the queue directory (only facteur's programs write there) but
 * still parses its files defensively: a truncated or corrupt file is an
 * error, never a crash. Runs as `facteur`. */
#ifndef FACTEUR_QFILE_H
#define FACTEUR_QFILE_H
#include <stddef.h>
#include <time.h>
#include "fmt.h"
#include "str.h"

/* relative to $FACTEUR_HOME/queue, the working directory of every queue
 * program once it has started */
#define QDIR_TMP   "tmp"
#define QDIR_MESS  "mess"
#define QDIR_TODO  "todo"
#define QDIR_INFO  "info"
#define QDIR_RUN   "run"
#define QDIR_POOL  "pool"
#define QFIFO      "trigger"
#define QLOCK      "lock"     /* flocked by the one facteur-send */
#define QVERSION   "version"  /* "2": every todo/ID has its commit record */

#define QUEUE_ADDR_MAX      1000     /* one envelope address, bytes */
#define QUEUE_RCPT_MAX      10000    /* recipients of one message */
#define QUEUE_ENVELOPE_MAX  (4u << 20)  /* whole envelope, bytes */
#define QUEUE_REASON_MAX    900      /* a stored failure reason, bytes */
#define QPOOL_MAX           1024     /* names pool/p0 .. pool/p1023, and pool/b0 .. */
#define QPOOL_BIG_MIN       4097     /* a parked file this long or longer is a pool/bN */
#define QUEUE_ORPHAN_AGE    (36L * 3600)  /* > facteur-queue's run limit */

/* the byte facteur-qstat -r writes on the trigger: retry everything now
 * (anything else just says "look at todo/") */
#define QTRIGGER_RETRY 'R'

/* Incremental scanner for the envelope `F`sender`\0` (`T`rcpt`\0`)* `\0`.
 * Feed it the whole buffer read so far; it resumes where it stopped. */
struct envscan {
	size_t pos;      /* bytes accepted */
	size_t nrcpt;
	int stage;       /* 0 want F, 1 want T or end, 2 complete */
};
/* 1 complete (pos = envelope length), 0 need more, or a QQ_ exit code
 * (QQ_ENVELOPE, QQ_ADDR_TOOLONG) for a malformed envelope */
int envscan_feed(struct envscan *e, const char *s, size_t n);
/* 1 when an envelope address holds only printable bytes (no control
 * byte, no NUL) and fits QUEUE_ADDR_MAX */
int qaddr_ok(const char *s, size_t n);

/* per-recipient states in info/ID */
#define RS_PENDING   'P'   /* to try at `next` */
#define RS_DONE      'D'   /* delivered */
#define RS_FAILED    'F'   /* failed for good; the bounce is still to send */
#define RS_BOUNCED   'X'   /* failed, bounced (or the bounce was dropped) */

struct qrcpt {
	str addr;
	str reason;          /* last result line: "5.1.1 no such user" */
	char state;
	unsigned tries;
	unsigned long long next;   /* time of the next attempt */
	int busy;            /* facteur-send only: a delivery is running */
	int remote;          /* facteur-send only: not a local domain */
	int permfail;        /* facteur-send only: the failure was remote SMTP */
};

struct qinfo {
	str sender;
	unsigned long long queued;  /* arrival time */
	int warned;                 /* a delay warning was sent */
	struct qrcpt *r;
	size_t nr;
};

void qinfo_free(struct qinfo *q);
/* from a complete envelope (as written in todo/): all recipients pending,
 * next attempt now; 1 ok, 0 error (errno) */
int qinfo_from_envelope(struct qinfo *q, const char *s, size_t n,
                        unsigned long long queued);
/* the info/ID file format, NUL-separated fields:
 *   "V1" "Q<queued>" "S<sender>" ["W" once a delay warning was sent]
 *   then per recipient "R<state> <tries> <next> <address>" "E<reason>"
 * 1 ok, 0 malformed (errno EINVAL) or no memory */
int qinfo_parse(struct qinfo *q, const char *s, size_t n);
int qinfo_format(const struct qinfo *q, str *out);
/* read info/ID (or todo/ID when todo is 1); 1 ok, 0 missing, -1 error */
int qinfo_read(const char *id, struct qinfo *q);
/* todo/ID: 1 ok, 0 missing (todo/ID, or mess/ID when verify), -1 error
 * or malformed (errno), -2 not a committed message: its commit record
 * does not match (QCOMMIT_). verify: the message in mess/ID is read and
 * checked against the record too, as facteur-send does before taking a
 * message; facteur-qstat checks only the envelope. */
int qtodo_read(const char *id, struct qinfo *q, unsigned long long queued, int verify);
/* write info/ID atomically: tmp/ID.info, fsync, rename, and fsync info/
 * when syncdir is 1 (0: the caller syncs once for a batch) */
int qinfo_write(const char *id, const struct qinfo *q, int syncdir);
/* make every write to the queue's file system durable: syncfs(2) on the
 * current directory (queue/). 1 ok, 0 error (errno) */
int qsync_fs(void);

/* A 64-bit hash for telling a whole queue file from one a crash tore
 * (stale or missing blocks), not for adversaries: one multiply-rotate
 * round per 64-bit little-endian word, so its value does not depend on
 * the machine's byte order or on how the bytes were cut into adds. */
struct qhash {
	unsigned long long acc, len;
	unsigned char t[8];
	unsigned nt;
};
void qhash_init(struct qhash *h);
void qhash_add(struct qhash *h, const void *p, size_t n);
unsigned long long qhash_end(const struct qhash *h);

/* The commit record: facteur-queue appends it to the envelope in todo/ID
 * (queue/README.md, crash safety 1), one more NUL-terminated field:
 *   "Z" ID ":" message size ":" message hash ":" envelope hash
 * (hashes as 16 lowercase hex digits; the envelope hash covers the bytes
 * before the record). todo/ID appears before its fsyncs are done, so a
 * crash can leave one whose bytes are not all on disk; the record tells
 * it from a committed message. A todo/ID without a record is not one
 * either: facteur-queue always writes it, and a parked inode can hold a
 * record-less envelope (an older facteur-queue's, or a small message's
 * bytes shaped like one, which a sender could choose). */
int qcommit_append(str *env, const char *id, unsigned long long size, unsigned long long mhash);
/* A queue without queue/version was made by a facteur-queue that wrote
 * no records (and synced everything before its rename, so its todo/
 * entries are whole): each todo/ID that is an envelope and nothing more
 * gets its record (made from its mess/ID, written to tmp/, fsynced,
 * renamed over todo/ID), todo/ is fsynced, then version is written. Only
 * from then on is a todo/ID without a record a torn one. facteur-send's
 * start-up, under its lock. 1 done (*added: how many), 0 error (errno) */
int qqueue_upgrade(unsigned long *added);

/* keep a reason printable and bounded before it is stored or quoted */
void qreason_clean(str *r);

/* a program: $envvar when set (0 when that is not executable), else next
 * to our own executable, else on $PATH; 1 found (out NUL-terminated) */
int qprog_find(const char *name, const char *envvar, str *out);

/* nudge facteur-send through the FIFO without ever blocking; 1 when a
 * reader was there */
int qtrigger_poke(char c);

/* The inode pool (queue/README.md, "The inode pool"): finished queue
 * files are parked in pool/ instead of unlinked, and new queue files take
 * one from there, so the queue neither frees nor allocates inodes (nor,
 * mostly, blocks) in its steady state.
 * qfile_open_new: open path as a new file: a parked inode renamed to path
 * (never over an existing path), or else
 * open(path, oflags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600). oflags:
 * the access mode plus O_EXCL (fail with EEXIST when path exists) or
 * O_TRUNC (reuse it). -1 on error (errno). A parked inode is NOT empty:
 * the caller writes from offset 0 and sets the length (ftruncate) before
 * it syncs or commits the file.
 * qfile_discard: like unlink(path) (the same crash semantics: not
 * synced), but the inode is parked when pool/ has room.
 * 0 ok, -1 error (errno). */
int qfile_open_new(const char *path, int oflags);
/* the same for a message: a parked file that holds blocks (pool/bN) first */
int qfile_open_message(const char *path, int oflags);
int qfile_discard(const char *path);
/* A discarded inode is held (pool/.h<pid>.<n>, not taken) until the
 * removal of its old name is on disk. facteur-send notes qpool_mark()
 * before a syncfs and, when the syncfs succeeded, calls qpool_publish
 * with it: what was held before the syncfs becomes pool/pN (or pool/bN,
 * by its size). */
#define QPOOL_HELD_MAX (sizeof QDIR_POOL + 4 + 2 * FMT_ULONG)
unsigned long qpool_mark(void);
void qpool_publish(unsigned long upto);
/* how many discarded files wait for a syncfs to be published */
unsigned long qpool_held(void);
/* removes what a killed qfile_discard left half-parked (pool/.h*), and
 * any entry no taker would accept (not a regular file of ours with one
 * link, or not named pN); facteur-send's start-up, the only process that
 * discards */
void qpool_sweep(void);
/* path written with data, fsynced and closed, as a new file (O_EXCL);
 * 1 ok, 0 error (errno; nothing left at path) */
int qfile_writenew(const char *path, const void *data, size_t n);
/* create the queue's subdirectories that are missing; 1 ok */
int qdirs_make(void);

/* "mess/ID" etc., NUL-terminated */
int qpath(str *out, const char *dir, const char *id, const char *suffix);

/* 1 when name looks like a queue id (digits, dots, hex): guards against
 * stray files in the queue directories */
int qid_ok(const char *name);

#endif
