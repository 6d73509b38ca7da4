/* usercmd.h: facteur-users' command logic, apart from main for tests. */
#ifndef FACTEUR_USERCMD_H
#define FACTEUR_USERCMD_H
/* argv as given to facteur-users; returns the exit code (sysexits) */
int usercmd_run(int argc, char **argv);
#endif
