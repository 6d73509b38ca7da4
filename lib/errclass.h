/* errclass.h: temporary or permanent, decided here and nowhere else. */
#ifndef FACTEUR_ERRCLASS_H
#define FACTEUR_ERRCLASS_H

/* 1 when an errno may clear by itself (disk full, no memory, I/O, a missing
 * file, permissions an admin will fix): the message stays queued. */
int err_temporary(int e);
/* the sysexits code for a failed system call: EX_TEMPFAIL or EX_CANTCREAT.. */
int err_sysexit(int e);
/* the qmail-queue code for a failed system call in the queue */
int err_qqexit(int e);
/* 1 when a sysexits code is temporary (Postfix's table: TEMPFAIL, OSERR,
 * IOERR, CONFIG, and anything outside 64..78 that is not 0) */
int sysexit_temporary(int code);
/* the RFC 3463 enhanced status code for a sysexits code, e.g. "5.1.1" */
const char *sysexit_status(int code);
/* 1 when a qmail-queue code is permanent (11..40) */
int qqexit_permanent(int code);
/* the SMTP reply for a qmail-queue exit code, "451 4.3.0 ..." without CRLF */
const char *qqexit_reply(int code);

#endif
