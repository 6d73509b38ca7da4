/* errclass.c: the one place that sorts errors into temporary and permanent. */
#include <errno.h>
#include "errclass.h"
#include "exitcodes.h"

int err_temporary(int e)
{
	switch (e) {
	case ENAMETOOLONG:
	case EFBIG:
	case EMSGSIZE:
		return 0;
	default:
		/* a missing file, EACCES, ELOOP (a planted symlink) are all things an
		 * admin fixes; keeping the mail queued is safer than bouncing it */
		return 1;
	}
}

int err_sysexit(int e)
{
	return err_temporary(e) ? EX_TEMPFAIL : EX_CANTCREAT;
}

int err_qqexit(int e)
{
	switch (e) {
	case ENOMEM: return QQ_NOMEM;
	case ENOSPC:
#ifdef EDQUOT
	case EDQUOT:
#endif
	case EFBIG:
	case EIO: return QQ_WRITE;
	case ETIMEDOUT: return QQ_TIMEOUT;
	default: return QQ_QUEUEDIR;
	}
}

int sysexit_temporary(int code)
{
	switch (code) {
	case EX_OK: return 0;
	case EX_TEMPFAIL: case EX_OSERR: case EX_IOERR: case EX_CONFIG: return 1;
	default: return code < 64 || code > 78;
	}
}

const char *sysexit_status(int code)
{
	switch (code) {
	case EX_OK: return "2.0.0";
	case EX_USAGE: return "5.5.4";
	case EX_DATAERR: return "5.6.0";
	case EX_NOINPUT: return "5.3.0";
	case EX_NOUSER: return "5.1.1";
	case EX_NOHOST: return "5.1.2";
	case EX_UNAVAILABLE: return "5.3.0";
	case EX_SOFTWARE: return "5.3.0";
	case EX_OSERR: return "4.3.0";
	case EX_OSFILE: return "5.3.5";
	case EX_CANTCREAT: return "5.2.0";
	case EX_IOERR: return "4.3.0";
	case EX_TEMPFAIL: return "4.2.0";
	case EX_PROTOCOL: return "5.5.0";
	case EX_NOPERM: return "5.7.1";
	case EX_CONFIG: return "4.3.5";
	default: return "4.3.0";
	}
}

int qqexit_permanent(int code) { return code >= 11 && code <= 40; }

const char *qqexit_reply(int code)
{
	switch (code) {
	case QQ_OK: return "250 2.0.0 queued";
	case QQ_ADDR_TOOLONG: return "554 5.1.3 address too long";
	case QQ_PERM_POLICY: return "554 5.7.1 message refused";
	case QQ_PERM_SIZE: return "552 5.3.4 message too large";
	case QQ_NOMEM: return "451 4.3.0 out of memory, try again later";
	case QQ_TIMEOUT: return "451 4.4.2 timeout while queueing, try again later";
	case QQ_WRITE: return "452 4.3.1 insufficient system storage, try again later";
	case QQ_READ: return "451 4.3.0 unable to read message, try again later";
	case QQ_CONFIG: return "451 4.3.5 configuration problem, try again later";
	case QQ_QUEUEDIR: return "451 4.3.0 queue problem, try again later";
	case QQ_TEMP_POLICY: return "451 4.7.1 message deferred by a filter, try again later";
	case QQ_ENVELOPE: return "451 4.3.0 envelope format error, try again later";
	default:
		return qqexit_permanent(code) ? "554 5.3.0 message refused"
		                              : "451 4.3.0 temporary queue failure, try again later";
	}
}
