/* reply.c: every SMTP reply facteur-smtpd sends, with its RFC 3463
 * enhanced status code, in one table. Only the greeting, the EHLO/HELO
 * replies, 334 and 354 go without a code (RFC 2034 section 3 exempts the
 * first two; the other two are intermediate). Trusts nothing; runs as the
 * `facteur` user. */
#include <string.h>
#include "smtpd-internal.h"

static const char *const table[RP_COUNT] = {
	[RP_OK]            = "250 2.0.0 ok",
	[RP_MAIL_OK]       = "250 2.1.0 sender ok",
	[RP_RCPT_OK]       = "250 2.1.5 recipient ok",
	[RP_RSET]          = "250 2.0.0 reset",
	[RP_NOOP]          = "250 2.0.0 ok",
	[RP_QUIT]          = "221 2.0.0 closing connection",
	[RP_VRFY]          = "252 2.0.0 cannot verify, but will accept the message and try",
	[RP_HELP]          = "214 2.0.0 commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT STARTTLS AUTH",
	[RP_DATA_GO]       = "354 go ahead, end with <CRLF>.<CRLF>",
	[RP_BDAT_OK]       = "250 2.0.0 chunk received",
	[RP_UNKNOWN]       = "500 5.5.2 command not recognized",
	[RP_NOTIMPL]       = "502 5.5.1 command not implemented",
	[RP_LINE_TOOLONG]  = "500 5.5.2 line too long",
	[RP_BARE_LF]       = "500 5.5.2 lines must end with CRLF",
	[RP_BAD_CHAR]      = "500 5.5.2 control character in command",
	[RP_SYNTAX]        = "501 5.5.4 syntax error in parameters",
	[RP_HELO_SYNTAX]   = "501 5.5.4 bad or missing host name",
	[RP_NEED_HELO]     = "503 5.5.1 send EHLO or HELO first",
	[RP_NESTED_MAIL]   = "503 5.5.1 sender already given",
	[RP_NEED_MAIL]     = "503 5.5.1 send MAIL first",
	[RP_NEED_RCPT]     = "554 5.5.1 no valid recipients",
	[RP_NO_SUCH_USER]  = "550 5.1.1 no such user here",
	[RP_RELAY_DENIED]  = "554 5.7.1 relaying denied",
	[RP_RELAY_TRICK]   = "553 5.7.1 address form refused for relaying",
	[RP_TOO_MANY_RCPT] = "452 4.5.3 too many recipients",
	[RP_PARAM_UNKNOWN] = "555 5.5.4 unsupported MAIL or RCPT parameter",
	[RP_SIZE_TOOBIG]   = "552 5.3.4 message size exceeds fixed maximum",
	[RP_MSG_TOOBIG]    = "552 5.3.4 message too large",
	[RP_MSG_BARE]      = "554 5.6.0 message refused: bare CR or LF (lines must end with CRLF)",
	[RP_MSG_LONGLINE]  = "554 5.6.0 message refused: line longer than 1000 bytes",
	[RP_MSG_LOOP]      = "554 5.4.6 too many Received headers: mail loop",
	[RP_BDAT_MIX]      = "503 5.5.1 BDAT transaction under way, DATA not allowed",
	[RP_BDAT_HUGE]     = "552 5.3.4 chunk too large, closing connection",
	[RP_TIMEOUT]       = "421 4.4.2 timeout, closing connection",
	[RP_SHUTDOWN]      = "421 4.3.2 service shutting down, try again later",
	[RP_TOO_MANY_ERRORS] = "421 4.7.0 too many errors, closing connection",
	[RP_TEMP]          = "451 4.3.0 temporary failure, try again later",
	[RP_QUEUE_START]   = "451 4.3.0 unable to start the queue, try again later",
	[RP_TLS_GO]        = "220 2.0.0 ready to start TLS",
	[RP_TLS_UNAVAIL]   = "454 4.7.0 TLS not available",
	[RP_TLS_ACTIVE]    = "503 5.5.1 TLS already active",
	[RP_AUTH_OK]       = "235 2.7.0 authentication successful",
	[RP_AUTH_FAIL]     = "535 5.7.8 authentication credentials invalid",
	[RP_AUTH_TEMP]     = "454 4.7.0 temporary authentication failure",
	[RP_AUTH_ENCRYPT]  = "538 5.7.11 encryption required for requested authentication mechanism",
	[RP_AUTH_MECH]     = "504 5.5.4 unrecognized authentication type",
	[RP_AUTH_ALREADY]  = "503 5.5.1 already authenticated",
	[RP_AUTH_B64]      = "501 5.5.2 cannot decode response",
	[RP_AUTH_CANCEL]   = "501 5.0.0 authentication cancelled",
	[RP_AUTH_REQUIRED] = "530 5.7.0 authentication required",
	[RP_AUTH_INMAIL]   = "503 5.5.1 AUTH not allowed during a mail transaction",
	[RP_AUTH_TOOLONG]  = "500 5.5.6 authentication exchange line too long",
	[RP_AUTH_TOO_MANY] = "421 4.7.0 too many authentication failures, closing connection",
	[RP_SENDER_NOT_OWNED] = "553 5.7.1 sender address not owned by the authenticated user",
	[RP_TOO_MANY_BADRCPT] = "421 4.7.0 too many refused recipients, closing connection",
};

const char *reply_text(enum reply_id id)
{
	if ((unsigned)id >= RP_COUNT || !table[id]) return "451 4.3.0 internal error";
	return table[id];
}

void reply_line(struct session *s, const char *line)
{
	bufout_puts(&s->out, line);
	bufout_put(&s->out, "\r\n", 2);
}

void reply(struct session *s, enum reply_id id)
{
	reply_line(s, reply_text(id));
}

void reply_parts(struct session *s, const char *code, const char *text)
{
	bufout_puts(&s->out, code);
	bufout_put(&s->out, " ", 1);
	bufout_puts(&s->out, text);
	bufout_put(&s->out, "\r\n", 2);
}

int reply_flush(struct session *s)
{
	return bufout_flush(&s->out);
}
