/* smtpreply.c: bounded SMTP reply parsing (see smtpreply.h). The input is
 * a remote peer's bytes and is trusted for nothing: every line is checked,
 * every byte of text copied is printable, every total is capped. */
#include <string.h>
#include "smtpreply.h"

void smtpreply_init(struct smtpreply *r)
{
	r->code = 0;
	r->lines = 0;
	str_clear(&r->text);
	r->truncated = 0;
}

void smtpreply_free(struct smtpreply *r)
{
	str_free(&r->text);
	r->code = 0;
	r->lines = 0;
}

static int digit(char c) { return c >= '0' && c <= '9'; }

int smtpreply_line(struct smtpreply *r, const char *s, size_t n, int toolong)
{
	int code;
	int last;
	size_t i;

	if (n && s[n - 1] == '\n') n--;
	if (n && s[n - 1] == '\r') n--;
	if (n < 3 || !digit(s[0]) || !digit(s[1]) || !digit(s[2])) return SMTPREPLY_EBAD;
	/* RFC 5321 4.2: first digit 2..5; 1yz is never used by SMTP, and a
	 * second digit above 5 has no meaning */
	if (s[0] < '2' || s[0] > '5' || s[1] > '5') return SMTPREPLY_EBAD;
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (n == 3) last = 1;
	else if (s[3] == ' ') last = 1;
	else if (s[3] == '-') last = 0;
	else return SMTPREPLY_EBAD;
	if (r->lines && code != r->code) return SMTPREPLY_EBAD;
	if (r->lines >= SMTPREPLY_LINES_MAX) return SMTPREPLY_ETOOMANY;
	r->code = code;
	r->lines++;
	if (toolong) r->truncated = 1;

	if (r->lines > 1 && r->text.len < SMTPREPLY_TEXT_MAX)
		if (!str_appendc(&r->text, '\n')) r->truncated = 1;
	for (i = 4; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (r->text.len >= SMTPREPLY_TEXT_MAX) { r->truncated = 1; break; }
		/* tabs and UTF-8 are harmless in text; other control bytes
		 * would end up in logs and bounces */
		if ((c < 0x20 && c != '\t') || c == 0x7f) c = '?';
		if (!str_appendc(&r->text, (char)c)) { r->truncated = 1; break; }
	}
	return last ? SMTPREPLY_DONE : SMTPREPLY_MORE;
}

int smtpreply_class(const struct smtpreply *r)
{
	return r->code / 100;
}

int smtpreply_esc(const struct smtpreply *r, char *esc)
{
	const char *s = r->text.s;
	size_t n = r->text.len, i = 0, part, len;

	if (!s || n < 5) return 0;
	if (s[0] - '0' != smtpreply_class(r) || (s[0] != '2' && s[0] != '4' && s[0] != '5'))
		return 0;
	/* class "." subject "." detail: 1-3 digits each (RFC 3463 3.1) */
	for (part = 0; part < 3; part++) {
		size_t d = 0;
		if (part) {
			if (i >= n || s[i] != '.') return 0;
			i++;
		}
		while (i < n && digit(s[i]) && d < 4) { i++; d++; }
		if (d == 0 || d > (part ? 3u : 1u)) return 0;
	}
	if (i < n && s[i] != ' ' && s[i] != '\n' && s[i] != '\t') return 0;
	len = i;
	if (len >= SMTPREPLY_ESC_MAX) return 0;
	memcpy(esc, s, len);
	esc[len] = 0;
	return 1;
}

int smtpreply_oneline(const struct smtpreply *r, str *out)
{
	size_t i;
	char c[3];

	c[0] = (char)('0' + r->code / 100 % 10);
	c[1] = (char)('0' + r->code / 10 % 10);
	c[2] = (char)('0' + r->code % 10);
	if (!str_append(out, c, 3)) return 0;
	if (r->text.len && !str_appendc(out, ' ')) return 0;
	for (i = 0; i < r->text.len; i++) {
		if (r->text.s[i] == '\n') {
			if (!str_appends(out, " / ")) return 0;
		} else if (r->text.s[i] == '\t') {
			if (!str_appendc(out, ' ')) return 0;
		} else if (!str_appendc(out, r->text.s[i])) return 0;
	}
	if (r->truncated && !str_appends(out, " [...]")) return 0;
	return 1;
}
