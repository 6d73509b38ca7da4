/* imapd-fetch.h: what fetch.c and search.c share with envelope.c. */
#ifndef FACTEUR_IMAPD_FETCH_H
#define FACTEUR_IMAPD_FETCH_H
#include "imapd-internal.h"
#include "mime.h"

void put_envelope(struct sess *s, const char *h, size_t hn);
void put_bodystructure(struct sess *s, const struct mime_tree *t, int idx, int ext);
/* read a message file whole; 1 ok */
int msg_read(struct sess *s, struct folder *f, struct msg *m, str *out);
/* decode a part's Content-Transfer-Encoding; 1 ok, 0 unknown encoding */
int cte_decode(const char *h, size_t hn, const char *b, size_t bn, str *out);
/* parse a sequence set argument against the selected folder; 0 after BAD */
int arg_seqset(struct sess *s, int uid, struct seqset *set);
/* 1 when message i (0-based) is in the resolved set */
int in_set(struct sess *s, const struct seqset *set, size_t i, int uid);

#endif
