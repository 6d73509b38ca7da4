/* rules.c: the parser of a user's rules file (dot-qmail(5) syntax, see
 * facteur-rules(5)). The file is the mailbox owner's text: it may name
 * programs to run and addresses to forward to, but no path that leaves the
 * user's directory. Pure parsing; no privilege, no I/O. */
#include <string.h>
#include "addr.h"
#include "dlv.h"
#include "maildir.h"

static int bad(struct rules *rs, size_t line, const char *why)
{
	rs->badline = line;
	rs->why = why;
	return 0;
}

/* a forward target: one strict RFC 5321 mailbox with a domain */
static int address_ok(const char *a, size_t n)
{
	str p = STR_ZERO;
	struct addr ad = { STR_ZERO, 0, 0, 0, 0 };
	size_t used = 0;
	int ok;

	if (!str_appendc(&p, '<') || !str_append(&p, a, n) || !str_appendc(&p, '>')) {
		str_free(&p);
		return -1;
	}
	ok = addr_parse_path(p.s, p.len, ADDR_F_UTF8, &ad, &used) == ADDR_OK &&
	     used == p.len && ad.at < ad.mailbox.len && !ad.route &&
	     !addr_tricky_local(&ad);
	addr_free(&ad);
	str_free(&p);
	return ok;
}

int rules_parse(struct rules *rs, const char *text, size_t n)
{
	size_t i = 0, lineno = 0;

	rs->n = 0;
	rs->badline = 0;
	rs->why = 0;
	if (!str_copy(&rs->text, text, n) || !str_0(&rs->text)) return -1;
	if (memchr(text, 0, n)) return bad(rs, 0, "NUL byte in rules file");
	while (i < n) {
		char *s = rs->text.s + i, *e = memchr(s, '\n', n - i);
		size_t len = e ? (size_t)(e - s) : n - i;
		int a;

		lineno++;
		i += len + 1;
		s[len] = 0;
		while (len && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
			s[--len] = 0;
		if (len == 0 || s[0] == '#') continue;
		if (rs->n >= DLV_RULES_LINES_MAX) return bad(rs, lineno, "too many delivery lines");
		switch (s[0]) {
		case '|':
			if (len < 2) return bad(rs, lineno, "empty program");
			rs->r[rs->n].kind = RULE_PIPE;
			rs->r[rs->n].arg = s + 1;
			break;
		case '/':
			return bad(rs, lineno, "absolute paths are not allowed");
		case '.':
			if (s[len - 1] != '/')
				return bad(rs, lineno, "not a Maildir (a Maildir path ends in '/'; mbox files are not supported)");
			if (!maildir_relpath_ok(s, len))
				return bad(rs, lineno, "path leaves the mail directory");
			rs->r[rs->n].kind = RULE_MAILDIR;
			rs->r[rs->n].arg = s;
			break;
		case '&':
			s++;
			len--;
			/* fall through */
		default:
			a = address_ok(s, len);
			if (a < 0) return -1;
			if (!a) return bad(rs, lineno, "bad forward address");
			rs->r[rs->n].kind = RULE_FORWARD;
			rs->r[rs->n].arg = s;
			break;
		}
		rs->n++;
	}
	return 1;
}

void rules_free(struct rules *rs)
{
	str_free(&rs->text);
	rs->n = 0;
}
