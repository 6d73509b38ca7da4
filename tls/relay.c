/* relay.c: engine.c built without OpenSSL, for facteur-tlsd (see the
 * comment at the top of engine.c). Same trust and privilege as engine.c. */
#define TLSD_RELAY 1
#include "engine.c"
