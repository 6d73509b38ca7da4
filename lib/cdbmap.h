/* cdbmap.h: lookups in the instance's compiled maps (tinycdb), and the
 * atomic rebuild of a map: write a temporary file, fsync, rename. Protocol
 * programs only read cdb files; they never parse a map's text source. */
#ifndef FACTEUR_CDBMAP_H
#define FACTEUR_CDBMAP_H
#include <stddef.h>
#include "str.h"

/* 1 found (value in val), 0 not found or no such map, -1 error (temporary) */
int cdbmap_lookup(const char *path, const char *key, size_t klen, str *val);

/* building: records added in order, then committed atomically */
struct cdbmap_maker;
struct cdbmap_maker *cdbmap_create(const char *path);   /* 0 on error */
int cdbmap_add(struct cdbmap_maker *m, const char *k, size_t kl,
               const char *v, size_t vl);               /* 1 ok, 0 error */
int cdbmap_commit(struct cdbmap_maker *m);              /* fsync + rename */
void cdbmap_abort(struct cdbmap_maker *m);              /* unlink temp */
/* the temporary file's descriptor, so that a map holding secrets can be
 * fchmod/fchown'ed before anything is written to it */
int cdbmap_fd(const struct cdbmap_maker *m);

#endif
