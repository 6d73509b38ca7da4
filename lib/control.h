/* control.h: the instance directory and its control/ files. A control file
 * holds one value a line; '#' starts a comment line; blank lines are
 * skipped. Results: 1 read, 0 file missing, -1 error (errno set). */
#ifndef FACTEUR_CONTROL_H
#define FACTEUR_CONTROL_H
#include "str.h"

#define CONTROL_FILE_MAX (1024 * 1024)   /* larger control files are refused */

const char *control_home(void);                 /* $FACTEUR_HOME or conf-home */
int control_path(str *out, const char *rel);    /* home/rel, NUL-terminated */
int control_readfile(const char *rel, str *out);  /* whole file, bounded */
int control_readline(const char *rel, str *out);  /* first value line, trimmed */
/* value lines, each NUL-terminated, one after another in out */
int control_readlines(const char *rel, str *out);
/* first line as a decimal number; def when missing; -1 on junk */
int control_readulong(const char *rel, unsigned long long *out, unsigned long long def);

#endif
