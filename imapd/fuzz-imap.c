/* fuzz-imap.c: libFuzzer target for what facteur-imapd parses from the
 * network and from mail: the command reader and tokenizer with literals
 * (cmd.c), sequence sets, modified UTF-7 and mailbox-name checks, and the
 * MIME parser with ENVELOPE and BODYSTRUCTURE output. The first input byte
 * picks the parser. Build: make t/bin/fuzz-imap (clang with libFuzzer);
 * t/59-imap-libfuzzer.t builds and runs it for a while. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "imapd-internal.h"
#include "imapd-fetch.h"
#include "mime.h"
#include "mutf7.h"

static int devnull = -1;

static void sess_init(struct sess *s, const uint8_t *d, size_t n)
{
	memset(s, 0, sizeof *s);
	if (devnull < 0) devnull = open("/dev/null", O_WRONLY);
	bufout_init(&s->out, devnull, 1000);
	bufin_init(&s->in, -1, 0, &s->out);
	if (n > BUF_SIZE) n = BUF_SIZE;
	memcpy(s->in.b, d, n);
	s->in.n = n;
	s->appendmax = 1 << 20;
	str_copys(&s->maildir, "/nonexistent/");
}

static void commands(const uint8_t *d, size_t n, int state)
{
	struct sess s;
	int k;

	sess_init(&s, d, n);
	s.state = state;
	for (k = 0; k < 64; k++) {
		int r = cmd_read(&s);
		if (r == CMD_EOF || r == CMD_FATAL) break;
		if (r == CMD_OK) {
			str a = STR_ZERO;
			struct tok *t;
			while ((t = tok_peek(&s))->type != T_END) {
				if (t->type == T_ATOM) {
					struct seqset set = { 0, 0, 0, 0 };
					if (seqset_parse(t->p, t->n, &set)) { seqset_resolve(&set, 100); (void)seqset_has(&set, 7); }
					seqset_free(&set);
				}
				if (!tok_astring(&s, &a)) tok_next(&s);
			}
			str_free(&a);
		}
	}
	free(s.c.t);
	str_free(&s.c.buf);
	str_free(&s.maildir);
}

static void names(const uint8_t *d, size_t n)
{
	struct sess s;
	str a = STR_ZERO, b = STR_ZERO;

	sess_init(&s, (const uint8_t *)"", 0);
	if (mutf7_decode((const char *)d, n, &a)) {
		/* what decodes re-encodes */
		if (!mutf7_encode(a.s ? a.s : "", a.len, &b)) abort();
	}
	mutf7_encode((const char *)d, n, &b);
	(void)mbox_name_ok(&s, (const char *)d, n, &a);
	s.utf8 = 1;
	(void)mbox_name_ok(&s, (const char *)d, n, &a);
	str_free(&a); str_free(&b); str_free(&s.maildir);
}

static void message(const uint8_t *d, size_t n)
{
	struct sess s;
	struct mime_tree t = { 0, 0, 0, 0, 0 };
	str out = STR_ZERO;

	sess_init(&s, (const uint8_t *)"", 0);
	if (mime_parse((const char *)d, n, &t) && t.n) {
		size_t k;
		put_envelope(&s, (const char *)d, t.p[0].hdrlen);
		put_bodystructure(&s, &t, 0, 1);
		put_bodystructure(&s, &t, 0, 0);
		for (k = 0; k < t.n; k++) {
			if (t.p[k].body + t.p[k].bodylen > n) abort();
			cte_decode((const char *)d + t.p[k].hdr, t.p[k].hdrlen, (const char *)d + t.p[k].body, t.p[k].bodylen, &out);
		}
	}
	mime_free(&t);
	str_free(&out);
	str_free(&s.maildir);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (!n) return 0;
	switch (d[0] % 4) {
	case 0: commands(d + 1, n - 1, S_NOTAUTH); break;
	case 1: commands(d + 1, n - 1, S_AUTH); break;
	case 2: names(d + 1, n - 1); break;
	default: message(d + 1, n - 1); break;
	}
	return 0;
}
