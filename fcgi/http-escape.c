/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Escapers, one per context a value is written into: HTML text and
 * attribute values, a URL query argument, a JSON string.  The name says
 * the context so that a reader can check each use against where the
 * bytes land (cgit's html_txt, html_attr, html_url_arg).  ClearSilver
 * escapes templates itself; these serve the pages and texts built in C
 * and, later, Stripe's form encoding and OAuth URLs.
 */
#include "config.h"

#include <string.h>

#include "tollgate.h"

static const char	http_hexdigits[] = "0123456789ABCDEF";

/* Text between tags: the five characters that can change structure. */
void
http_html_text(struct buf *b, const char *s)
{
	const char	*run = s;

	for (; *s != '\0'; s++) {
		const char	*rep;

		switch (*s) {
		case '<':	rep = "&lt;"; break;
		case '>':	rep = "&gt;"; break;
		case '&':	rep = "&amp;"; break;
		case '"':	rep = "&quot;"; break;
		case '\'':	rep = "&#39;"; break;
		default:	continue;
		}
		buf_append(b, run, (size_t)(s - run));
		buf_puts(b, rep);
		run = s + 1;
	}
	buf_append(b, run, (size_t)(s - run));
}

/*
 * A quoted attribute value.  The same set as text suffices when the
 * value is always quoted, which every caller does.
 */
void
http_html_attr(struct buf *b, const char *s)
{
	http_html_text(b, s);
}

/* A query argument: everything but RFC 3986's unreserved is %XX. */
void
http_url_arg(struct buf *b, const char *s)
{
	const unsigned char	*p;
	char			 enc[3];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~", *p) != NULL) {
			buf_append(b, p, 1);
			continue;
		}
		enc[0] = '%';
		enc[1] = http_hexdigits[*p >> 4];
		enc[2] = http_hexdigits[*p & 15];
		buf_append(b, enc, 3);
	}
}

/* "k=v" appended to a query string, "&" first unless it is empty. */
void
http_query_pair(struct buf *b, const char *k, const char *v)
{
	if (v == NULL)
		return;
	if (b->len > 0)
		buf_puts(b, "&");
	http_url_arg(b, k);
	buf_puts(b, "=");
	http_url_arg(b, v);
}

/*
 * The inside of a JSON string (no quotes): quote, backslash and the
 * control characters escaped; UTF-8 passes through.
 */
void
http_json_str(struct buf *b, const char *s)
{
	const unsigned char	*p;
	char			 esc[7];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			buf_append(b, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = http_hexdigits[*p >> 4];
			esc[5] = http_hexdigits[*p & 15];
			buf_append(b, esc, 6);
		} else
			buf_append(b, p, 1);
	}
}
