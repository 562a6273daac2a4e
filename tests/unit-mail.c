/* Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE). */

/*
 * Unit tests of the mail composer (mail.c, mail_compose()): the header
 * fields and their form, CRLF and nothing else as line ends, bodies
 * that decode back (a small quoted-printable and RFC 2047 decoder
 * here, independent of the composer), the HTML alternative and its
 * boundary, the limits, and header injection refused.  Sending is
 * tested against the SMTP sink by it-mail.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>

#include "tollgate.h"

#define FROM		"tollgate@example.com"
#define T_2026		1767225600	/* Thu, 01 Jan 2026 00:00:00 UTC */
#define MSG_CAP		(256 * 1024)

/* A composed message cut in its parts; all owned. */
struct parsed {
	struct buf	 b;
	char		*head;		/* to the blank line, with its CRLF */
	char		*body;
};

static void
parsed_free(struct parsed *p)
{
	buf_free(&p->b);
	free(p->head);
	memset(p, 0, sizeof(*p));
}

/* Every CR is followed by LF and every LF follows a CR. */
static void
assert_crlf_only(const char *s)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '\r')
			assert_int_equal(p[1], '\n');
		if (*p == '\n')
			assert_true(p > s && p[-1] == '\r');
	}
}

/* The longest line of s, without its CRLF. */
static size_t
longest_line(const char *s)
{
	size_t	 n, max = 0;

	while (*s != '\0') {
		n = strcspn(s, "\r\n");
		if (n > max)
			max = n;
		s += n;
		s += strspn(s, "\r\n") > 2 ? 2 : strspn(s, "\r\n");
	}
	return max;
}

/* Compose m, which must succeed, and split the message. */
static void
compose(const struct mail_msg *m, struct parsed *p)
{
	const char	*sep;

	memset(p, 0, sizeof(*p));
	buf_init(&p->b, MSG_CAP);
	buf_puts(&p->b, "left over");
	assert_int_equal(mail_compose(m, &p->b), 0);
	assert_int_equal(strncmp(p->b.p, "Date: ", 6), 0);
	assert_false(p->b.toobig);
	assert_crlf_only(p->b.p);
	assert_true(longest_line(p->b.p) <= 998);
	assert_non_null(sep = strstr(p->b.p, "\r\n\r\n"));
	p->head = strndup(p->b.p, (size_t)(sep - p->b.p) + 2);
	assert_non_null(p->head);
	p->body = p->b.p + (sep - p->b.p) + 4;
}

/* Compose m, which must be refused, leaving nothing in the buffer. */
static void
refused(const struct mail_msg *m)
{
	struct buf	 b;

	buf_init(&b, MSG_CAP);
	buf_puts(&b, "left over");
	assert_int_equal(mail_compose(m, &b), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/*
 * The value of the field "name" in a header, unfolded (folding CRLFs
 * removed), or NULL; the field must not appear twice.  Caller frees.
 */
static char *
field(const char *head, const char *name)
{
	const char	*p, *eol, *found = NULL;
	struct buf	 v;
	size_t		 n = strlen(name);

	for (p = head; *p != '\0'; p = strstr(p, "\r\n") + 2)
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			assert_null(found);
			found = p + n + 1;
		}
	if (found == NULL)
		return NULL;
	buf_init(&v, 4096);
	found += strspn(found, " ");
	for (p = found;; p = eol + 2) {
		eol = strstr(p, "\r\n");
		buf_append(&v, p, (size_t)(eol - p));
		if (eol[2] != ' ' && eol[2] != '\t')
			break;
	}
	return v.p;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Quoted-printable of n bytes back into bytes (caller frees), checking
 * the form on the way: encoded lines of at most 76 characters, "="
 * followed by two upper-case hex digits or a line break, no blank
 * before a hard line break, only printable ASCII, blanks and CRLF.
 */
static char *
qp_decode(const char *s, size_t n)
{
	struct buf	 out;
	size_t		 i, col = 0;
	int		 hi, lo;
	char		 c;

	buf_init(&out, n + 1);
	buf_puts(&out, "");
	for (i = 0; i < n; i++) {
		if (s[i] == '\r') {
			assert_true(i + 1 < n && s[i + 1] == '\n');
			assert_true(i == 0 || (s[i - 1] != ' ' &&
			    s[i - 1] != '\t'));
			buf_append(&out, "\r\n", 2);
			col = 0;
			i++;
			continue;
		}
		assert_true(++col <= 76);
		if (s[i] != '=') {
			assert_true((s[i] >= 0x20 && s[i] <= 0x7e) ||
			    s[i] == '\t');
			buf_append(&out, s + i, 1);
			continue;
		}
		assert_true(i + 2 < n);
		if (s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
			col = 0;
			continue;
		}
		hi = hexval(s[i + 1]);
		lo = hexval(s[i + 2]);
		assert_true(hi >= 0 && lo >= 0);
		c = (char)(hi << 4 | lo);
		buf_append(&out, &c, 1);
		i += 2;
		col += 2;
	}
	assert_false(out.toobig);
	return out.p;
}

/* What the composer must make of a body's line breaks. */
static char *
crlf(const char *s)
{
	struct buf	 out;

	buf_init(&out, 4 * strlen(s) + 3);
	buf_puts(&out, "");
	while (*s != '\0') {
		if (*s == '\r' || *s == '\n') {
			buf_puts(&out, "\r\n");
			s += s[0] == '\r' && s[1] == '\n' ? 2 : 1;
			continue;
		}
		buf_append(&out, s++, 1);
		if (*s == '\0')
			buf_puts(&out, "\r\n");
	}
	return out.p;
}

static int
b64val(int c)
{
	static const char	 a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*p = strchr(a, c);

	return c != '\0' && p != NULL ? (int)(p - a) : -1;
}

/* Standard base64 of n characters (a multiple of 4) onto out. */
static void
b64_decode(const char *s, size_t n, struct buf *out)
{
	size_t		 i;
	unsigned int	 v;
	int		 k, pad;
	char		 c[3];

	assert_int_equal(n % 4, 0);
	for (i = 0; i < n; i += 4) {
		v = 0;
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=') {
				pad++;
				v <<= 6;
				continue;
			}
			assert_int_equal(pad, 0);
			assert_true(b64val(s[i + k]) >= 0);
			v = v << 6 | (unsigned int)b64val(s[i + k]);
		}
		c[0] = (char)(v >> 16);
		c[1] = (char)(v >> 8);
		c[2] = (char)v;
		buf_append(out, c, 3 - (size_t)pad);
	}
}

/*
 * A Subject value as its text.  Either plain ASCII, or encoded-words
 * only, each at most 75 characters and whole characters on its own
 * (RFC 2047 2 and 5), the space between them not part of the text.
 * Caller frees.
 */
static char *
subject_decode(const char *v)
{
	struct buf	 out, one;
	const char	*p;
	size_t		 n;

	if (strncmp(v, "=?", 2) != 0)
		return strdup(v);
	buf_init(&out, 4096);
	buf_puts(&out, "");
	for (p = v; *p != '\0'; p += n) {
		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		assert_true(n <= 75);
		assert_true(n > 12);
		assert_memory_equal(p, "=?UTF-8?B?", 10);
		assert_memory_equal(p + n - 2, "?=", 2);
		buf_init(&one, 100);
		b64_decode(p + 10, n - 12, &one);
		assert_true(http_utf8_valid(one.p, one.len));
		buf_append(&out, one.p, one.len);
		buf_free(&one);
	}
	return out.p;
}

/* The header lines, folded ones each on their own, within 78. */
static void
assert_head_folded(const char *head)
{
	assert_true(longest_line(head) <= 78);
	assert_true(head[0] != ' ' && head[0] != '\t');
}

static void
msg_init(struct mail_msg *m, const char *to, const char *subject,
    const char *text)
{
	memset(m, 0, sizeof(*m));
	m->to[0] = to;
	m->subject = subject;
	m->text = text;
	m->date = T_2026;
}

static void
assert_field(const char *head, const char *name, const char *want)
{
	char	*v = field(head, name);

	if (v == NULL)
		fail_msg("no %s field in:\n%s", name, head);
	if (strcmp(v, want) != 0)
		fail_msg("%s: \"%s\", want \"%s\"", name, v, want);
	free(v);
}

/* --- tests ------------------------------------------------------------- */

/*
 * A plain message: every field, once, in its form; the body in
 * quoted-printable that decodes to the text with CRLF line ends.
 */
static void
test_plain(void **state)
{
	static const char	*text = "Hello,\n\nyour agent \"Ops\" used 80 %"
	    " of its budget = 8.00 of 10.00 EUR.\r\nSee the usage page.\n";
	struct mail_msg		 m;
	struct parsed		 p;
	char			*body;

	msg_init(&m, "a@example.com", "Budget at 80 %", text);
	m.to[1] = "b.c-d+e@sub.example.org";
	m.message_id = "<n42.7@tollgate.example.com>";
	compose(&m, &p);
	assert_head_folded(p.head);
	assert_field(p.head, "Date", "Thu, 01 Jan 2026 00:00:00 +0000");
	assert_field(p.head, "From", "Tollgate <" FROM ">");
	assert_field(p.head, "To", "a@example.com, b.c-d+e@sub.example.org");
	assert_field(p.head, "Subject", "Budget at 80 %");
	assert_field(p.head, "Message-ID", "<n42.7@tollgate.example.com>");
	assert_field(p.head, "MIME-Version", "1.0");
	assert_field(p.head, "Auto-Submitted", "auto-generated");
	assert_field(p.head, "Content-Type", "text/plain; charset=utf-8");
	assert_field(p.head, "Content-Transfer-Encoding", "quoted-printable");
	assert_null(field(p.head, "Bcc"));
	body = qp_decode(p.body, strlen(p.body));
	assert_string_equal(body, "Hello,\r\n\r\nyour agent \"Ops\" used 80 % "
	    "of its budget = 8.00 of 10.00 EUR.\r\nSee the usage page.\r\n");
	assert_non_null(strstr(p.body, "budget =3D 8.00"));
	free(body);
	parsed_free(&p);
}

/*
 * Date in RFC 5322 form for another day; a Message-ID made up when the
 * caller gives none, new each time, in SMTP_FROM's domain.
 */
static void
test_date_msgid(void **state)
{
	struct mail_msg	 m;
	struct parsed	 p;
	char		*a, *b;

	msg_init(&m, "a@example.com", "x", "y");
	m.date = 1773039903;
	compose(&m, &p);
	assert_field(p.head, "Date", "Mon, 09 Mar 2026 07:05:03 +0000");
	a = field(p.head, "Message-ID");
	parsed_free(&p);
	compose(&m, &p);
	b = field(p.head, "Message-ID");
	parsed_free(&p);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(strlen(a), 1 + 32 + 1 + strlen("example.com") + 1);
	assert_true(a[0] == '<' && a[33] == '@');
	assert_string_equal(a + 34, "example.com>");
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

/* Non-ASCII subjects as encoded-words that decode to the same text. */
static void
test_subject_utf8(void **state)
{
	static const char	*subjects[] = {
		"Über 80 % — Agent “Ops”",
		"Ümlaute überall: äöü ÄÖÜ ß, and 日本語のテキストも少し, "
		    "emoji 🙂🙂🙂, then a long tail of plain words to fold",
		"=?looks like an encoded-word?= but is ASCII",
		"€",
	};
	struct mail_msg		 m;
	struct parsed		 p;
	char			*v, *text;
	size_t			 i;

	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		msg_init(&m, "a@example.com", subjects[i], "body");
		compose(&m, &p);
		assert_head_folded(p.head);
		v = field(p.head, "Subject");
		assert_non_null(v);
		assert_memory_equal(v, "=?UTF-8?B?", 10);
		text = subject_decode(v);
		assert_string_equal(text, subjects[i]);
		free(text);
		free(v);
		parsed_free(&p);
	}
}

/*
 * ASCII subjects as they are, a long one folded at spaces; 200
 * characters (not bytes) at most.
 */
static void
test_subject_limits(void **state)
{
	struct mail_msg	 m;
	struct parsed	 p;
	char		 s[1024], *v;
	size_t		 i;

	for (i = 0; i < 200; i++)
		s[i] = i % 7 == 6 ? ' ' : (char)('a' + i % 26);
	s[200] = '\0';
	msg_init(&m, "a@example.com", s, "body");
	compose(&m, &p);
	assert_head_folded(p.head);
	assert_non_null(strstr(p.head, "\r\n "));
	v = field(p.head, "Subject");
	assert_string_equal(v, s);
	free(v);
	parsed_free(&p);
	s[200] = 'z';
	s[201] = '\0';
	refused(&m);

	/* 200 two-byte characters pass, 201 do not. */
	for (i = 0; i < 200; i++)
		memcpy(s + 2 * i, "é", 2);
	s[400] = '\0';
	compose(&m, &p);
	assert_head_folded(p.head);
	v = field(p.head, "Subject");
	free(v);
	parsed_free(&p);
	memcpy(s + 400, "é", 3);
	refused(&m);
}

/*
 * With an HTML alternative: multipart/alternative, text/plain first
 * then text/html, both quoted-printable and decoding to their bodies,
 * and a boundary that is in neither.
 */
static void
test_multipart(void **state)
{
	static const char	*text = "Agent Ops used 80 %.\nSee "
	    "https://tollgate.example.com/usage?agent=ops&period=month\n";
	static const char	*html = "<p>Agent <b>Ops</b> used 80&nbsp;%."
	    "</p>\n<p><a href=\"https://tollgate.example.com/usage?"
	    "agent=ops&amp;period=month\">See the usage page</a> — “Über”.</p>\n";
	struct mail_msg		 m;
	struct parsed		 p;
	char			*ct, *bnd, delim[128], *part[2], *dec, *want;
	const char		*q, *end, *sep;
	size_t			 i;

	msg_init(&m, "a@example.com", "Usage", text);
	m.html = html;
	compose(&m, &p);
	assert_null(field(p.head, "Content-Transfer-Encoding"));
	ct = field(p.head, "Content-Type");
	assert_non_null(ct);
	assert_int_equal(strncmp(ct, "multipart/alternative; boundary=\"",
	    33), 0);
	bnd = ct + 33;
	assert_non_null(strchr(bnd, '"'));
	*strchr(bnd, '"') = '\0';
	assert_true(strlen(bnd) >= 16 && strlen(bnd) <= 70);
	assert_null(strstr(text, bnd));
	assert_null(strstr(html, bnd));

	/* "--B" CRLF part CRLF "--B" CRLF part CRLF "--B--" CRLF. */
	snprintf(delim, sizeof(delim), "--%s\r\n", bnd);
	assert_int_equal(strncmp(p.body, delim, strlen(delim)), 0);
	q = p.body + strlen(delim);
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", bnd);
	assert_non_null(end = strstr(q, delim));
	part[0] = strndup(q, (size_t)(end - q) + 2);
	q = end + strlen(delim);
	snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", bnd);
	assert_non_null(end = strstr(q, delim));
	part[1] = strndup(q, (size_t)(end - q) + 2);
	assert_string_equal(end, delim);
	/* The boundary where it belongs only: 3 times in the body. */
	for (i = 0, q = p.body; (q = strstr(q, bnd)) != NULL; q++)
		i++;
	assert_int_equal(i, 3);

	for (i = 0; i < 2; i++) {
		assert_non_null(sep = strstr(part[i], "\r\n\r\n"));
		assert_non_null(strstr(part[i], i == 0 ?
		    "Content-Type: text/plain; charset=utf-8\r\n" :
		    "Content-Type: text/html; charset=utf-8\r\n"));
		assert_non_null(q = strstr(part[i],
		    "Content-Transfer-Encoding: quoted-printable\r\n"));
		assert_true(q < sep + 2);
		dec = qp_decode(sep + 4, strlen(sep + 4));
		want = crlf(i == 0 ? text : html);
		assert_string_equal(dec, want);
		free(dec);
		free(want);
		free(part[i]);
	}
	free(ct);
	parsed_free(&p);
}

/*
 * Header injection: an address or a subject that carries CR, LF or
 * another control character, or that is not UTF-8, is refused; so are
 * a bad Message-ID, no recipient, too many and an unusable sender.
 */
static void
test_injection(void **state)
{
	static const char	*bad_rcpt[] = {
		"a@b.c\r\nBcc: x@y.z", "a@b.c\nBcc: x@y.z", "a@b.c\r",
		"Someone <a@b.c>", "a@b.c, x@y.z", "not-an-address", "",
	};
	static const char	*bad_subject[] = {
		"Hello\nBcc: x@y.z", "Hello\r\nBcc: x@y.z", "Hello\r",
		"tab\there", "nul\x01", "del\x7f", "c1 \xc2\x85 NEL",
		"bad utf-8 \xc3\x28", "overlong \xc0\xaf",
	};
	static const char	*bad_msgid[] = {
		"<a@b>\r\nBcc: x@y.z", "a@b", "<ab>", "<a b@c>", "<a@b@c>",
		"<@b>", "<a@>",
	};
	struct mail_msg		 m;
	struct parsed		 p;
	size_t			 i;

	for (i = 0; i < sizeof(bad_rcpt) / sizeof(bad_rcpt[0]); i++) {
		msg_init(&m, bad_rcpt[i], "s", "t");
		refused(&m);
		/* A bad one among good ones spoils the message. */
		msg_init(&m, "ok@example.com", "s", "t");
		m.to[1] = bad_rcpt[i];
		refused(&m);
	}
	for (i = 0; i < sizeof(bad_subject) / sizeof(bad_subject[0]); i++) {
		msg_init(&m, "a@example.com", bad_subject[i], "t");
		refused(&m);
	}
	for (i = 0; i < sizeof(bad_msgid) / sizeof(bad_msgid[0]); i++) {
		msg_init(&m, "a@example.com", "s", "t");
		m.message_id = bad_msgid[i];
		refused(&m);
	}
	msg_init(&m, NULL, "s", "t");
	refused(&m);
	msg_init(&m, "a@example.com", NULL, "t");
	refused(&m);
	msg_init(&m, "a@example.com", "s", NULL);
	refused(&m);

	/* Ten recipients, no more. */
	msg_init(&m, "a@example.com", "s", "t");
	for (i = 0; i < MAIL_RCPT_MAX; i++)
		m.to[i] = "r@example.com";
	compose(&m, &p);
	assert_head_folded(p.head);
	parsed_free(&p);
	m.to[MAIL_RCPT_MAX] = "r@example.com";
	refused(&m);

	/* The sender, as configured, must be usable too. */
	msg_init(&m, "a@example.com", "s", "t");
	conf.smtp_from = (char *)"x@y>\r\nBcc: z@example.com";
	refused(&m);
	conf.smtp_from = NULL;
	refused(&m);
	conf.smtp_from = (char *)"tollgate@localhost";
	compose(&m, &p);
	assert_field(p.head, "From", "Tollgate <tollgate@localhost>");
	parsed_free(&p);
	conf.smtp_from = (char *)FROM;
}

/*
 * A long single-line body, words and one run without spaces, and
 * non-ASCII: lines of at most 76 characters that decode back.
 */
static void
test_long_lines(void **state)
{
	struct mail_msg	 m;
	struct parsed	 p;
	struct buf	 t;
	char		*dec, *want;
	size_t		 i;

	buf_init(&t, 64 * 1024);
	for (i = 0; i < 300; i++)
		buf_printf(&t, "word%zu ", i);
	for (i = 0; i < 500; i++)
		buf_puts(&t, i % 50 == 0 ? "=" : "x");
	for (i = 0; i < 100; i++)
		buf_puts(&t, "Ü ");
	buf_puts(&t, "trailing blanks   \nnext\t\n");
	msg_init(&m, "a@example.com", "Long", t.p);
	compose(&m, &p);
	assert_true(longest_line(p.body) <= 76);
	dec = qp_decode(p.body, strlen(p.body));
	want = crlf(t.p);
	assert_string_equal(dec, want);
	free(dec);
	free(want);
	parsed_free(&p);
	buf_free(&t);
}

/*
 * A line that is only "." would end the SMTP DATA if nothing stuffed
 * it; no encoded line starts with a dot (nor with "From "), and the
 * text decodes back.  Lone CRs and LFs become CRLF.
 */
static void
test_dots_and_breaks(void **state)
{
	static const char	*texts[] = {
		"first\n.\nlast",
		".\n",
		".leading dot\r\n..two\r.\r\n",
		"From here on\nFrom: not a header\n",
		"mixed\rbreaks\nin\r\none\n\n\r\rtext",
		"",
	};
	struct mail_msg		 m;
	struct parsed		 p;
	const char		*line;
	char			*dec, *want;
	size_t			 i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		msg_init(&m, "a@example.com", "Dots", texts[i]);
		compose(&m, &p);
		for (line = p.body; *line != '\0';
		    line = strstr(line, "\r\n") + 2) {
			assert_true(line[0] != '.');
			assert_true(strncmp(line, "From ", 5) != 0);
		}
		dec = qp_decode(p.body, strlen(p.body));
		want = crlf(texts[i]);
		assert_string_equal(dec, want);
		free(dec);
		free(want);
		parsed_free(&p);
	}
}

/* A message that does not fit the buffer is refused, not cut. */
static void
test_too_big(void **state)
{
	struct mail_msg	 m;
	struct buf	 b;
	char		 text[4096];

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	msg_init(&m, "a@example.com", "Big", text);
	buf_init(&b, 2048);
	assert_int_equal(mail_compose(&m, &b), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	m.html = text;
	buf_init(&b, 6000);
	assert_int_equal(mail_compose(&m, &b), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* Without SMTP_URL nothing is composed or sent: MAIL_OFF. */
static void
test_deliver_off(void **state)
{
	struct mail_msg	 m;
	char		 why[128];

	msg_init(&m, "a@example.com", "s", "t");
	conf.smtp_url = NULL;
	assert_int_equal(mail_deliver(&m, why, sizeof(why)), MAIL_OFF);
	assert_true(why[0] != '\0');
	assert_int_equal(mail_send("a@example.com", "s", "t"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_date_msgid),
		cmocka_unit_test(test_subject_utf8),
		cmocka_unit_test(test_subject_limits),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_dots_and_breaks),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_deliver_off),
	};

	conf.smtp_from = (char *)FROM;
	log_init("unit-mail", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
