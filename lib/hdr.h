/* hdr.h: a small scanner of a message's header section, for the delivery
 * checks: how many Received fields (hop limit), which addresses the
 * Delivered-To fields name (loop detection), and whether lines end in
 * CRLF. Trusts nothing in the message; every size is bounded. */
#ifndef FACTEUR_HDR_H
#define FACTEUR_HDR_H
#include <stddef.h>
#include "str.h"

#define HDR_SECTION_MAX (1024 * 1024) /* header bytes looked at */
#define HDR_FIELD_MAX   4096          /* bytes of an unfolded field kept */
#define HDR_DT_MAX      256           /* Delivered-To values remembered */

struct hdr_info {
	size_t received;     /* Received fields counted */
	str dt;              /* Delivered-To values, trimmed, lowercase, "<>"
	                        removed, each NUL-terminated */
	size_t ndt;
	int crlf;            /* the first line ended in CRLF */
};

struct hdr_scan {
	struct hdr_info *info;
	str field;           /* the field being read, unfolded */
	size_t seen;         /* bytes consumed */
	int state;
	int firstline;
	int lastcr;           /* the byte before was a CR */
};

void hdr_info_init(struct hdr_info *h);
void hdr_info_free(struct hdr_info *h);
/* streaming: start, feed bytes in any chunks, end; 1 ok, 0 no memory.
 * hdr_feed returns 2 once the header section is over (further bytes are
 * ignored). */
void hdr_scan_start(struct hdr_scan *s, struct hdr_info *h);
int hdr_feed(struct hdr_scan *s, const char *p, size_t n);
int hdr_scan_end(struct hdr_scan *s);
/* the whole job on a buffer, or on a file read with pread from offset 0 */
int hdr_scan_buf(const char *p, size_t n, struct hdr_info *h);
int hdr_scan_fd(int fd, struct hdr_info *h);
/* 1 when a Delivered-To field names addr (compared without case) */
int hdr_delivered_to(const struct hdr_info *h, const char *addr, size_t n);

#endif
