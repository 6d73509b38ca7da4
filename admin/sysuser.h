/* sysuser.h: the system users that facteur runs as. */
#ifndef FACTEUR_SYSUSER_H
#define FACTEUR_SYSUSER_H
/* the user exists when this returns 1 (created with useradd if needed) */
int sysuser_ensure(const char *name);
#endif
