/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Outgoing e-mail: one composer, mail_compose(), that turns a struct
 * mail_msg into a whole RFC 5322 message (MIME, quoted-printable
 * bodies, RFC 2047 subjects), and one sender, mail_deliver(), that
 * hands it to libcurl's SMTP client and says whether a failure is
 * worth another attempt, which is what the notification outbox needs
 * (notify.c: invitations, password resets and alerts go through it).
 * The address verification mail is still queued on the request that
 * makes it and leaves after the answer; one that cannot be sent is
 * logged, and a new link can be asked for.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "tollgate.h"

#define MAIL_MSG_MAX		(1024 * 1024)	/* bytes of a whole message */
#define MAIL_SUBJECT_MAX	200	/* characters of a subject */
#define MAIL_ADDR_MAX		254	/* bytes of an address (RFC 5321) */
#define MAIL_MSGID_MAX		250	/* bytes of a Message-ID, with <> */
#define MAIL_FOLD		78	/* a header line, RFC 5322 2.1.1 */
#define MAIL_QP_TEXT		75	/* a QP line before "=" (RFC 2045) */
/*
 * UTF-8 bytes per encoded-word: 56 base64 characters, so that
 * "Subject: =?UTF-8?B?...?=" fits in 77 and every encoded-word in
 * RFC 2047's 75.
 */
#define MAIL_EW_BYTES		42

struct mail_src {
	const char	*p;
	size_t		 left;
};

static const char	 mail_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t
mail_read(char *out, size_t size, size_t nmemb, void *arg)
{
	struct mail_src	*s = arg;
	size_t		 n = size * nmemb;

	if (n > s->left)
		n = s->left;
	memcpy(out, s->p, n);
	s->p += n;
	s->left -= n;
	return n;
}

/*
 * Text fit for a header: UTF-8 without control characters (C0, DEL,
 * C1).  A CR or LF would let the caller's data start header fields, or
 * SMTP commands, of its own.
 */
static int
mail_header_safe(const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return 0;
	return http_utf8_valid(s, strlen(s));
}

/*
 * SMTP_FROM as conf.c took it: a bare address with an "@" and nothing
 * that could break out of "<...>".  valid_email() is stricter than
 * the configuration (it wants a dot in the domain, and the default is
 * tollgate@localhost), so the sender is checked for safety only.
 */
static int
mail_from_safe(const char *s)
{
	const char	*p;

	if (s == NULL || strchr(s, '@') == NULL || strlen(s) > MAIL_ADDR_MAX)
		return 0;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '<' || *p == '>')
			return 0;
	return 1;
}

/* "<local@domain>": printable ASCII, one "@", no other angle brackets. */
static int
mail_msgid_valid(const char *s)
{
	const char	*at, *p;
	size_t		 n = strlen(s);

	if (n < 5 || n > MAIL_MSGID_MAX || s[0] != '<' || s[n - 1] != '>' ||
	    (at = strchr(s, '@')) == NULL || at == s + 1 ||
	    at == s + n - 2 || strchr(at + 1, '@') != NULL)
		return 0;
	for (p = s + 1; p < s + n - 1; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '<' || *p == '>')
			return 0;
	return 1;
}

/* Everything a message needs before a byte of it is written. */
static int
mail_msg_valid(const struct mail_msg *m)
{
	size_t	 i;

	if (m->to[0] == NULL || m->to[MAIL_RCPT_MAX] != NULL ||
	    m->subject == NULL || m->text == NULL ||
	    !mail_from_safe(conf.smtp_from))
		return 0;
	for (i = 0; m->to[i] != NULL; i++)
		if (!valid_email(m->to[i]))
			return 0;
	if (!mail_header_safe(m->subject) ||
	    http_utf8_chars(m->subject) > MAIL_SUBJECT_MAX)
		return 0;
	return m->message_id == NULL || mail_msgid_valid(m->message_id);
}

/*
 * RFC 5322 3.3 in UTC, with English names whatever the locale:
 * "Thu, 01 Jan 2026 12:00:00 +0000".
 */
static void
mail_date(time_t t, char *out, size_t outsz)
{
	static const char *const	 days[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const	 months[] = { "Jan", "Feb", "Mar",
	    "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm			 tm;

	gmtime_r(&t, &tm);
	snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "<32 hex@domain of SMTP_FROM>"; -1 without randomness. */
static int
mail_msgid_new(char *out, size_t outsz)
{
	unsigned char	 raw[16];
	char		 hex[33];

	if (util_random(raw, sizeof(raw)) == -1)
		return -1;
	util_hex(raw, sizeof(raw), hex);
	snprintf(out, outsz, "<%s@%s>", hex, strchr(conf.smtp_from, '@') + 1);
	return 0;
}

/* The recipients, a line of their own for each that would pass 78. */
static void
mail_head_to(struct buf *b, const struct mail_msg *m)
{
	size_t	 i, col, n;

	buf_printf(b, "To: %s", m->to[0]);
	col = 4 + strlen(m->to[0]);
	for (i = 1; m->to[i] != NULL; i++) {
		n = strlen(m->to[i]);
		if (col + 2 + n > MAIL_FOLD) {
			buf_printf(b, ",\r\n %s", m->to[i]);
			col = 1 + n;
		} else {
			buf_printf(b, ", %s", m->to[i]);
			col += 2 + n;
		}
	}
	buf_puts(b, "\r\n");
}

/* Standard base64 with padding, for encoded-words. */
static void
mail_b64_put(struct buf *b, const unsigned char *p, size_t n)
{
	char		 q[4];
	unsigned int	 v;
	size_t		 i;

	for (i = 0; i < n; i += 3) {
		v = (unsigned int)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned int)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = mail_b64[v >> 18 & 63];
		q[1] = mail_b64[v >> 12 & 63];
		q[2] = i + 1 < n ? mail_b64[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? mail_b64[v & 63] : '=';
		buf_append(b, q, sizeof(q));
	}
}

/*
 * A subject with non-ASCII characters as RFC 2047 encoded-words, one
 * per folded line.  A word ends on a character boundary (RFC 2047 5:
 * each must decode to whole characters); the whitespace of the folds
 * between encoded-words is not part of the text.
 */
static void
mail_head_subject_ew(struct buf *b, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 left = strlen(s), n;

	buf_puts(b, "Subject:");
	while (left > 0) {
		n = left < MAIL_EW_BYTES ? left : MAIL_EW_BYTES;
		while (n < left && (p[n] & 0xc0) == 0x80)
			n--;
		buf_puts(b, p == (const unsigned char *)s ? " " : "\r\n ");
		buf_puts(b, "=?UTF-8?B?");
		mail_b64_put(b, p, n);
		buf_puts(b, "?=");
		p += n;
		left -= n;
	}
	buf_puts(b, "\r\n");
}

/*
 * An ASCII subject as it is, folded before a space where a line would
 * pass 78 characters.  One holding "=?" is encoded instead, lest a
 * reader decode what only looks like an encoded-word.
 */
static void
mail_head_subject(struct buf *b, const char *s)
{
	const char	*p;
	size_t		 col, n, lead;

	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			break;
	if (*p != '\0' || strstr(s, "=?") != NULL) {
		mail_head_subject_ew(b, s);
		return;
	}
	buf_puts(b, "Subject: ");
	col = 9;
	for (p = s; *p != '\0'; p += n) {
		/* A word with the spaces in front of it. */
		lead = strspn(p, " ");
		n = lead + strcspn(p + lead, " ");
		if (lead > 0 && lead < n && col + n > MAIL_FOLD) {
			buf_puts(b, "\r\n");
			col = 0;
		}
		buf_append(b, p, n);
		col += n;
	}
	buf_puts(b, "\r\n");
}

/*
 * One character of a body line (n bytes from s, i the index) in
 * quoted-printable, into out; its length.  Blanks that end the line are
 * encoded (RFC 2045 6.7 (3)), and so are a "." and a "From " that
 * start an encoded line: no line of the message can then end the SMTP
 * DATA, whether or not the client stuffs dots, and no mbox mangles one.
 */
static size_t
mail_qp_char(const unsigned char *s, size_t i, size_t n, int bol,
    char out[4])
{
	unsigned char	 c = s[i];
	int		 lit;

	lit = (c >= 0x21 && c <= 0x7e && c != '=') ||
	    ((c == ' ' || c == '\t') && i + 1 < n);
	if (bol && (c == '.' ||
	    (c == 'F' && n - i >= 5 && memcmp(s + i, "From ", 5) == 0)))
		lit = 0;
	if (lit) {
		out[0] = (char)c;
		return 1;
	}
	snprintf(out, 4, "=%02X", c);
	return 3;
}

/* How long [i, end) of a line will be once encoded, not at its start. */
static size_t
mail_qp_width(const unsigned char *s, size_t i, size_t end, size_t n)
{
	char	 unit[4];
	size_t	 w = 0;

	for (; i < end; i++)
		w += mail_qp_char(s, i, n, 0, unit);
	return w;
}

/*
 * One body line (without its break) in quoted-printable, soft breaks
 * between words where a word fits on the next line, inside one where
 * it does not, so that no encoded line passes 76 characters.
 */
static void
mail_qp_line(struct buf *b, const unsigned char *s, size_t n)
{
	char	 unit[4];
	size_t	 i = 0, col = 0, end, u;

	while (i < n) {
		/* A word and the blanks after it. */
		for (end = i; end < n && s[end] != ' ' && s[end] != '\t';)
			end++;
		while (end < n && (s[end] == ' ' || s[end] == '\t'))
			end++;
		if (col > 0 &&
		    col + mail_qp_width(s, i, end, n) > MAIL_QP_TEXT) {
			buf_puts(b, "=\r\n");
			col = 0;
		}
		for (; i < end; i++) {
			u = mail_qp_char(s, i, n, col == 0, unit);
			if (col + u > MAIL_QP_TEXT) {
				buf_puts(b, "=\r\n");
				col = 0;
				u = mail_qp_char(s, i, n, 1, unit);
			}
			buf_append(b, unit, u);
			col += u;
		}
	}
	buf_puts(b, "\r\n");
}

/*
 * A body in quoted-printable, its lines ended by CRLF whatever ended
 * them before (CRLF, a lone LF or a lone CR), and the last one ended
 * too.
 */
static void
mail_qp(struct buf *b, const char *text)
{
	const char	*p = text;
	size_t		 n;

	while (*p != '\0') {
		n = strcspn(p, "\r\n");
		mail_qp_line(b, (const unsigned char *)p, n);
		p += n;
		if (p[0] == '\r' && p[1] == '\n')
			p += 2;
		else if (*p != '\0')
			p++;
	}
}

/*
 * The two alternatives.  The boundary starts with "=_", which
 * quoted-printable cannot produce ("=" is always followed by hex digits
 * or a line break), so it is in neither body; the check says so.
 */
static int
mail_body_multipart(struct buf *b, const struct mail_msg *m)
{
	unsigned char	 raw[12];
	char		 bnd[32], hex[25];
	const char	*p;
	size_t		 start, n;

	if (util_random(raw, sizeof(raw)) == -1)
		return -1;
	util_hex(raw, sizeof(raw), hex);
	snprintf(bnd, sizeof(bnd), "=_tg%s", hex);
	buf_printf(b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n"
	    "\r\n", bnd);
	start = b->len;
	buf_printf(b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", bnd);
	mail_qp(b, m->text);
	buf_printf(b, "--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", bnd);
	mail_qp(b, m->html);
	buf_printf(b, "--%s--\r\n", bnd);
	if (b->toobig)
		return -1;
	/* Two delimiters and the close: any more came from a body. */
	for (n = 0, p = b->p + start; (p = strstr(p, bnd)) != NULL; p++)
		n++;
	if (n != 3) {
		log_warnx("%s: the boundary is in a body", __func__);
		return -1;
	}
	return 0;
}

/*
 * The whole message into b, in place of what it held (the caller set
 * it up, capped, and frees it): 0, or -1 with b emptied when an
 * address is not valid, a header value holds a control character (CR,
 * LF: header injection) or is not UTF-8, the subject passes 200
 * characters, the sender is not usable or the message does not fit.
 * Lines end in CRLF; date 0 is now.
 */
int
mail_compose(const struct mail_msg *m, struct buf *b)
{
	char	 date[64], msgid[MAIL_MSGID_MAX + 1];
	int	 rc = -1;

	buf_reset(b);
	if (!mail_msg_valid(m))
		goto done;
	if (m->message_id != NULL)
		snprintf(msgid, sizeof(msgid), "%s", m->message_id);
	else if (mail_msgid_new(msgid, sizeof(msgid)) == -1)
		goto done;
	mail_date(m->date != 0 ? m->date : time(NULL), date, sizeof(date));
	buf_printf(b, "Date: %s\r\nFrom: Tollgate <%s>\r\n", date,
	    conf.smtp_from);
	mail_head_to(b, m);
	mail_head_subject(b, m->subject);
	buf_printf(b, "Message-ID: %s\r\nMIME-Version: 1.0\r\n"
	    "Auto-Submitted: auto-generated\r\n", msgid);
	if (m->html != NULL) {
		if (mail_body_multipart(b, m) == -1)
			goto done;
	} else {
		buf_puts(b, "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		mail_qp(b, m->text);
	}
	if (!b->toobig)
		rc = 0;
done:
	if (rc == -1)
		buf_reset(b);
	return rc;
}

/*
 * What a failure means to the outbox.  The last SMTP reply decides
 * when there is one (RFC 5321 4.2.1: 4yz transient, 5yz permanent):
 * libcurl says CURLE_SEND_ERROR for a refused RCPT whether the code
 * was 451 or 550.  Without one the server could not be reached, timed
 * out or went away, which a later attempt may not meet.
 */
static enum mail_rc
mail_classify(CURLcode cc, long code, char *why, size_t whysz)
{
	if (cc == CURLE_OK) {
		snprintf(why, whysz, "sent");
		return MAIL_SENT;
	}
	if (code >= 500 && code <= 599) {
		snprintf(why, whysz, "refused by the mail server (SMTP %ld)",
		    code);
		return MAIL_PERMANENT;
	}
	if (code >= 400 && code <= 499) {
		snprintf(why, whysz, "deferred by the mail server (SMTP %ld)",
		    code);
		return MAIL_TRANSIENT;
	}
	/*
	 * A refused login is the server's configuration, not the message's:
	 * tried again, so fixing SMTP_URL delivers what waited.
	 */
	if (cc == CURLE_LOGIN_DENIED) {
		snprintf(why, whysz, "login refused by the mail server");
		return MAIL_TRANSIENT;
	}
	snprintf(why, whysz, "%s", curl_easy_strerror(cc));
	return MAIL_TRANSIENT;
}

/* One SMTP transaction for a composed message; how it ended. */
static enum mail_rc
mail_transfer(const struct mail_msg *m, const struct buf *msg, char *why,
    size_t whysz)
{
	struct curl_slist	*rcpt = NULL, *l;
	struct mail_src		 src;
	char			 from[MAIL_ADDR_MAX + 3];
	CURL			*c = NULL;
	CURLcode		 cc;
	long			 code = 0;
	size_t			 i;
	enum mail_rc		 rc = MAIL_TRANSIENT;

	snprintf(why, whysz, "out of memory");
	for (i = 0; m->to[i] != NULL; i++) {
		if ((l = curl_slist_append(rcpt, m->to[i])) == NULL)
			goto done;
		rcpt = l;
	}
	if ((c = curl_easy_init()) == NULL)
		goto done;
	snprintf(from, sizeof(from), "<%s>", conf.smtp_from);
	src.p = msg->p;
	src.left = msg->len;
	curl_easy_setopt(c, CURLOPT_URL, conf.smtp_url);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, mail_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &src);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	cc = curl_easy_perform(c);
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	rc = mail_classify(cc, code, why, whysz);
done:
	curl_slist_free_all(rcpt);
	if (c != NULL)
		curl_easy_cleanup(c);
	return rc;
}

/*
 * Compose and send one message.  MAIL_OFF without SMTP_URL; a message
 * that cannot be composed is MAIL_PERMANENT (another attempt would
 * compose it alike).  why gets a short reason without addresses or
 * body, fit for a log or an outbox row.  One log line; the recipients
 * only at debug level.
 */
enum mail_rc
mail_deliver(const struct mail_msg *m, char *why, size_t whysz)
{
	struct buf	 msg;
	size_t		 i;
	enum mail_rc	 rc;

	buf_init(&msg, MAIL_MSG_MAX);
	if (conf.smtp_url == NULL) {
		snprintf(why, whysz, "no SMTP_URL");
		rc = MAIL_OFF;
	} else if (mail_compose(m, &msg) == -1) {
		snprintf(why, whysz, "not a valid message");
		rc = MAIL_PERMANENT;
	} else
		rc = mail_transfer(m, &msg, why, whysz);
	if (rc == MAIL_SENT)
		log_info("mail sent: %zu bytes, Message-ID %s", msg.len,
		    m->message_id != NULL ? m->message_id : "generated");
	else if (rc != MAIL_OFF)
		log_warnx("mail not sent: %s", why);
	for (i = 0; i < MAIL_RCPT_MAX && m->to[i] != NULL; i++)
		if (valid_email(m->to[i]))
			log_debug("mail to %s: %s", m->to[i], why);
	buf_free(&msg);
	return rc;
}

/* Send one plain-text message; 0 (or no SMTP_URL) or -1 (logged). */
int
mail_send(const char *to, const char *subject, const char *body)
{
	struct mail_msg	 m;
	char		 why[128];

	memset(&m, 0, sizeof(m));
	m.to[0] = to;
	m.subject = subject;
	m.text = body;
	m.date = time(NULL);
	switch (mail_deliver(&m, why, sizeof(why))) {
	case MAIL_SENT:
	case MAIL_OFF:
		return 0;
	default:
		return -1;
	}
}

/*
 * Queue one message for after the answer; without SMTP_URL a link
 * that only mail can carry is lost, which the log says.
 */
static void
mail_queue(struct req *r, const char *to, const char *subject,
    const char *body)
{
	if (conf.smtp_url == NULL) {
		log_warnx("no SMTP_URL: \"%s\" cannot be mailed", subject);
		return;
	}
	r->mail_to = arena_strdup(&r->arena, to);
	r->mail_subject = subject;
	r->mail_body = body;
}

/*
 * The link that proves an address, queued like an invitation: it
 * leaves only once the account (or the new link) is committed.
 */
void
mail_verification(struct req *r, const char *to, const char *link)
{
	mail_queue(r, to, "Confirm your e-mail address for Tollgate",
	    arena_printf(&r->arena, "Hello,\r\n\r\nThis address "
	    "was used to sign up to Tollgate.  Open this link within 24 "
	    "hours to confirm that it is yours:\r\n\r\n%s\r\n\r\nIf you did "
	    "not sign up, ignore this message: nobody can invite people or "
	    "pay in your name until the address is confirmed.\r\n", link));
}

/* Send what the request queued, if its answer was a success. */
void
mail_after_request(struct req *r)
{
	if (r->mail_to == NULL || r->refused || r->status >= 400)
		return;
	(void)mail_send(r->mail_to, r->mail_subject, r->mail_body);
}
