/* hdr.c: the header scanner of hdr.h. Reads untrusted message bytes; keeps
 * at most HDR_FIELD_MAX bytes of a field and looks at no more than
 * HDR_SECTION_MAX bytes. No privilege of its own. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "hdr.h"

enum { S_BOL, S_BOLCR, S_LINE, S_DONE };

void hdr_info_init(struct hdr_info *h)
{
	h->received = 0;
	h->dt.s = 0; h->dt.len = h->dt.cap = 0;
	h->ndt = 0;
	h->crlf = 0;
}

void hdr_info_free(struct hdr_info *h) { str_free(&h->dt); h->ndt = 0; }

void hdr_scan_start(struct hdr_scan *s, struct hdr_info *h)
{
	s->info = h;
	s->field.s = 0; s->field.len = s->field.cap = 0;
	s->seen = 0;
	s->state = S_BOL;
	s->firstline = 1;
	s->lastcr = 0;
}

static int is_wsp(char c) { return c == ' ' || c == '\t'; }

/* a finished field: count it or remember its address */
static int field_done(struct hdr_scan *s)
{
	const char *f = s->field.s, *colon;
	size_t n = s->field.len, nl, a, z;

	if (!n) return 1;
	colon = memchr(f, ':', n);
	s->field.len = 0;
	if (!colon) return 1;
	nl = (size_t)(colon - f);
	while (nl && is_wsp(f[nl - 1])) nl--;
	if (nl == 8 && strncasecmp(f, "Received", 8) == 0) {
		s->info->received++;
		return 1;
	}
	if (!(nl == 12 && strncasecmp(f, "Delivered-To", 12) == 0)) return 1;
	if (s->info->ndt >= HDR_DT_MAX) return 1;
	a = (size_t)(colon - f) + 1;
	z = n;
	while (a < z && is_wsp(f[a])) a++;
	while (z > a && is_wsp(f[z - 1])) z--;
	if (z - a >= 2 && f[a] == '<' && f[z - 1] == '>') { a++; z--; }
	{
		size_t start = s->info->dt.len, i;
		if (!str_append(&s->info->dt, f + a, z - a) || !str_appendc(&s->info->dt, 0))
			return 0;
		for (i = start; i < s->info->dt.len; i++) {
			char c = s->info->dt.s[i];
			if (c >= 'A' && c <= 'Z') s->info->dt.s[i] = (char)(c + 32);
		}
	}
	s->info->ndt++;
	return 1;
}

static int field_add(struct hdr_scan *s, char c)
{
	if (s->field.len >= HDR_FIELD_MAX) return 1;
	return str_appendc(&s->field, c);
}

int hdr_feed(struct hdr_scan *s, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];
		if (s->state == S_DONE) return 2;
		if (s->seen++ >= HDR_SECTION_MAX) {
			if (!field_done(s)) return 0;
			s->state = S_DONE;
			return 2;
		}
		switch (s->state) {
		case S_BOL:
			if (c == '\n') { if (!field_done(s)) return 0; s->state = S_DONE; return 2; }
			if (c == '\r') { s->state = S_BOLCR; break; }
			if (is_wsp(c)) { if (!field_add(s, c)) return 0; s->state = S_LINE; break; }
			if (!field_done(s) || !field_add(s, c)) return 0;
			s->state = S_LINE;
			break;
		case S_BOLCR:
			if (c == '\n') { if (!field_done(s)) return 0; s->state = S_DONE; return 2; }
			/* a line starting with a lone CR: junk, starts a nameless field */
			if (!field_done(s)) return 0;
			s->state = S_LINE;
			if (c != '\r' && !field_add(s, c)) return 0;
			break;
		case S_LINE:
			if (c == '\n') {
				if (s->firstline) {
					s->info->crlf = s->lastcr;
					s->firstline = 0;
				}
				s->state = S_BOL;
			} else if (c != '\r') {
				if (!field_add(s, c)) return 0;
			}
			break;
		}
		s->lastcr = c == '\r';
	}
	return s->state == S_DONE ? 2 : 1;
}

int hdr_scan_end(struct hdr_scan *s)
{
	int ok = s->state == S_DONE ? 1 : field_done(s);
	str_free(&s->field);
	return ok;
}

int hdr_scan_buf(const char *p, size_t n, struct hdr_info *h)
{
	struct hdr_scan s;

	hdr_scan_start(&s, h);
	if (!hdr_feed(&s, p, n)) { str_free(&s.field); return 0; }
	return hdr_scan_end(&s);
}

int hdr_scan_fd(int fd, struct hdr_info *h)
{
	struct hdr_scan s;
	char b[8192];
	off_t off = 0;

	hdr_scan_start(&s, h);
	for (;;) {
		ssize_t r = pread(fd, b, sizeof b, off);
		int f;
		if (r < 0) { if (errno == EINTR) continue; str_free(&s.field); return 0; }
		if (r == 0) break;
		off += r;
		f = hdr_feed(&s, b, (size_t)r);
		if (!f) { str_free(&s.field); return 0; }
		if (f == 2) break;
	}
	return hdr_scan_end(&s);
}

int hdr_delivered_to(const struct hdr_info *h, const char *addr, size_t n)
{
	size_t i = 0;

	while (i < h->dt.len) {
		size_t l = strlen(h->dt.s + i);
		if (l == n && strncasecmp(h->dt.s + i, addr, n) == 0) return 1;
		i += l + 1;
	}
	return 0;
}
