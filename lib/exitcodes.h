/* exitcodes.h: every interface's exit codes, named once.
 * qmail-queue's table for facteur-queue and filters; sysexits for the MDA
 * and the other programs. Child codes are translated at the boundary with
 * the helpers in errclass.h. */
#ifndef FACTEUR_EXITCODES_H
#define FACTEUR_EXITCODES_H

/* qmail-queue interface: 0 queued, 11-40 permanent, anything else temporary */
#define QQ_OK            0
#define QQ_ADDR_TOOLONG 11   /* address too long */
#define QQ_PERM_POLICY  31   /* message refused permanently (filter, virus) */
#define QQ_PERM_SIZE    32   /* message larger than control/databytes */
#define QQ_NOMEM        51   /* out of memory */
#define QQ_TIMEOUT      52   /* timeout reading message or envelope */
#define QQ_WRITE        53   /* write error, disk full, quota */
#define QQ_READ         54   /* unable to read message or envelope */
#define QQ_CONFIG       55   /* unable to read configuration */
#define QQ_QUEUEDIR     61   /* problem with the queue directory */
#define QQ_TEMP_POLICY  71   /* message refused temporarily (filter busy) */
#define QQ_BUG          81   /* internal bug */
#define QQ_ENVELOPE     91   /* envelope format error */

/* sysexits(3) */
#define EX_OK           0
#define EX_USAGE       64
#define EX_DATAERR     65
#define EX_NOINPUT     66
#define EX_NOUSER      67
#define EX_NOHOST      68
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE    70
#define EX_OSERR       71
#define EX_OSFILE      72
#define EX_CANTCREAT   73
#define EX_IOERR       74
#define EX_TEMPFAIL    75
#define EX_PROTOCOL    76
#define EX_NOPERM      77
#define EX_CONFIG      78

#endif
