/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Pure parsers of untrusted request data: percent-decoding, query
 * strings and form bodies, cookies, UTF-8, request ids and media types.
 * They allocate only from the arena they are given and never trust a
 * length they did not count themselves.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "tollgate.h"

static int
http_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode %XX escapes (and '+' as a space when "plus" is set) in place.
 * *len is the input length on entry and the decoded length on return.
 * A malformed escape or a decoded NUL fails: neither has a meaning in
 * any field Tollgate accepts.
 */
int
http_urldecode(char *s, size_t *len, int plus)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < *len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= *len)
				return -1;
			hi = http_hexval((unsigned char)s[i + 1]);
			lo = http_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			s[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus)
			s[o++] = ' ';
		else if (s[i] == '\0')
			return -1;
		else
			s[o++] = s[i];
	}
	s[o] = '\0';
	*len = o;
	return 0;
}

/*
 * Split "a=1&b=2" (query strings, form bodies) into decoded pairs.
 * Empty pieces are skipped; a key without '=' has an empty value.
 */
int
http_parse_pairs(struct arena *a, const char *in, size_t inlen, int plus,
    struct kvlist *out, const char **cause)
{
	const char	*p = in, *end = in + inlen, *amp, *eq;
	size_t		 n = 0, cap, klen, vlen;
	char		*k, *v;

	out->kv = NULL;
	out->n = 0;
	if (in == NULL || inlen == 0)
		return 0;
	cap = 1;
	for (p = in; p < end; p++)
		if (*p == '&')
			cap++;
	if (cap > REQ_PARAMS_MAX) {
		*cause = "too many parameters";
		return -1;
	}
	out->kv = arena_calloc(a, cap, sizeof(struct kv));
	for (p = in; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p)
			continue;
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = (size_t)((eq != NULL ? eq : amp) - p);
		vlen = eq != NULL ? (size_t)(amp - eq - 1) : 0;
		k = arena_strndup(a, p, klen);
		v = arena_strndup(a, eq != NULL ? eq + 1 : "", vlen);
		if (http_urldecode(k, &klen, plus) == -1 ||
		    http_urldecode(v, &vlen, plus) == -1) {
			*cause = "malformed percent-encoding";
			return -1;
		}
		if (klen == 0)
			continue;
		if (!http_utf8_valid(k, klen) || !http_utf8_valid(v, vlen)) {
			*cause = "invalid UTF-8";
			return -1;
		}
		out->kv[n].key = k;
		out->kv[n].val = v;
		out->kv[n].vallen = vlen;
		n++;
		if (amp == end)
			break;
	}
	out->n = n;
	return 0;
}

/*
 * Parse a Cookie header: "a=1; b=2".  Values are taken verbatim (no
 * decoding: Tollgate's own cookies are plain tokens), an optional pair
 * of double quotes is removed, and a malformed piece is skipped rather
 * than failing the request: browsers send other sites' junk too.
 */
int
http_parse_cookies(struct arena *a, const char *in, struct kvlist *out,
    const char **cause)
{
	const char	*p, *semi, *eq, *ks, *ke, *vs, *ve;
	size_t		 cap = 1, n = 0;

	out->kv = NULL;
	out->n = 0;
	if (in == NULL || *in == '\0')
		return 0;
	for (p = in; *p != '\0'; p++)
		if (*p == ';')
			cap++;
	if (cap > REQ_PARAMS_MAX) {
		*cause = "too many cookies";
		return -1;
	}
	out->kv = arena_calloc(a, cap, sizeof(struct kv));
	for (p = in; *p != '\0'; p = *semi == '\0' ? semi : semi + 1) {
		if ((semi = strchr(p, ';')) == NULL)
			semi = p + strlen(p);
		if ((eq = memchr(p, '=', (size_t)(semi - p))) == NULL)
			continue;
		for (ks = p; ks < eq && (*ks == ' ' || *ks == '\t'); ks++)
			continue;
		for (ke = eq; ke > ks && (ke[-1] == ' ' || ke[-1] == '\t'); ke--)
			continue;
		for (vs = eq + 1; vs < semi && (*vs == ' ' || *vs == '\t'); vs++)
			continue;
		for (ve = semi; ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			continue;
		if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
			vs++;
			ve--;
		}
		if (ke == ks)
			continue;
		out->kv[n].key = arena_strndup(a, ks, (size_t)(ke - ks));
		out->kv[n].val = arena_strndup(a, vs, (size_t)(ve - vs));
		out->kv[n].vallen = (size_t)(ve - vs);
		n++;
	}
	out->n = n;
	return 0;
}

/* The first value of "key", or NULL. */
const char *
http_kv_get(const struct kvlist *l, const char *key)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->kv[i].key, key) == 0)
			return l->kv[i].val;
	return NULL;
}

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF.
 */
int
http_utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, need, k;
	unsigned int		 cp, min;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = p[i] & 0x1f;
			min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = p[i] & 0x0f;
			min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = p[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (len - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* Characters (code points) of valid UTF-8: lengths are in characters. */
size_t
http_utf8_chars(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * A request id from a client or proxy is kept only when it is 8 to 64
 * characters of [A-Za-z0-9._-]: anything else could forge log lines.
 */
int
http_rid_valid(const char *s)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '-' &&
		    s[n] != '_' && s[n] != '.')
			return 0;
	return n >= 8 && n <= 64;
}

/*
 * Does a Content-Type header name the media type "want"?  Parameters
 * (charset) are allowed, case does not matter.
 */
int
http_media_type_is(const char *ct, const char *want)
{
	size_t	 n = strlen(want);

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

/*
 * A strict RFC 8259 syntax check, run before json-c builds the tree:
 * json-c's strict mode still takes single quotes, NaN, Infinity, "1."
 * and raw control characters in strings.  "depth" bounds the nesting
 * of objects and arrays.
 */
struct json_scan {
	const unsigned char	*p;
	const unsigned char	*end;
	int			 depth;
};

static void
json_ws(struct json_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
json_lit(struct json_scan *s, const char *lit)
{
	size_t	 n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return 0;
	s->p += n;
	return 1;
}

static int
json_digits(struct json_scan *s)
{
	const unsigned char	*start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static int
json_number(struct json_scan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!json_digits(s))
		return 0;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!json_digits(s))
			return 0;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!json_digits(s))
			return 0;
	}
	return 1;
}

static int
json_string(struct json_scan *s)
{
	int	 i;

	if (s->p >= s->end || *s->p != '"')
		return 0;
	for (s->p++; s->p < s->end; s->p++) {
		if (*s->p == '"') {
			s->p++;
			return 1;
		}
		if (*s->p < 0x20)
			return 0;
		if (*s->p != '\\')
			continue;
		if (++s->p >= s->end)
			return 0;
		if (*s->p == 'u') {
			for (i = 0; i < 4; i++)
				if (++s->p >= s->end ||
				    http_hexval(*s->p) < 0)
					return 0;
		} else if (strchr("\"\\/bfnrt", *s->p) == NULL)
			return 0;
	}
	return 0;
}

static int	json_value(struct json_scan *);

static int
json_container(struct json_scan *s, int obj)
{
	int	 close = obj ? '}' : ']';

	if (++s->depth > REQ_JSON_DEPTH)
		return 0;
	s->p++;
	json_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 1;
	}
	for (;;) {
		if (obj) {
			if (!json_string(s))
				return 0;
			json_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return 0;
			s->p++;
		}
		if (!json_value(s))
			return 0;
		json_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			json_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == close) {
			s->p++;
			s->depth--;
			return 1;
		}
		return 0;
	}
}

static int
json_value(struct json_scan *s)
{
	json_ws(s);
	if (s->p >= s->end)
		return 0;
	switch (*s->p) {
	case '{':
		return json_container(s, 1);
	case '[':
		return json_container(s, 0);
	case '"':
		return json_string(s);
	case 't':
		return json_lit(s, "true");
	case 'f':
		return json_lit(s, "false");
	case 'n':
		return json_lit(s, "null");
	default:
		return json_number(s);
	}
}

/* Is p[0..n) exactly one JSON value (RFC 8259), nested at most so deep? */
int
http_json_valid(const char *p, size_t n)
{
	struct json_scan	 s;

	s.p = (const unsigned char *)p;
	s.end = s.p + n;
	s.depth = 0;
	if (!json_value(&s))
		return 0;
	json_ws(&s);
	return s.p == s.end;
}

/*
 * Reading a parsed JSON answer (Stripe's, Slack's, Meta's) by a dotted
 * path such as "data.object.items".
 */

/* The object at a dotted path (an array's member by index), or NULL. */
struct json_object *
http_json_at(struct json_object *o, const char *path)
{
	char		 key[64];
	size_t		 n;
	long long	 idx;

	while (o != NULL && *path != '\0') {
		n = strcspn(path, ".");
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (json_object_is_type(o, json_type_array)) {
			/* "messages.0.id": a member of an array by index. */
			if (util_strtonum(key, 0, 9999, &idx) == -1)
				return NULL;
			o = json_object_array_get_idx(o, (size_t)idx);
		} else if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n;
		if (*path == '.')
			path++;
	}
	return o;
}

/* A string at a path, or NULL (also for JSON null). */
const char *
http_json_text(struct json_object *o, const char *path)
{
	o = http_json_at(o, path);
	if (o == NULL || !json_object_is_type(o, json_type_string))
		return NULL;
	return json_object_get_string(o);
}

/* An integer at a path, or def. */
long long
http_json_int(struct json_object *o, const char *path, long long def)
{
	o = http_json_at(o, path);
	if (o == NULL || !json_object_is_type(o, json_type_int))
		return def;
	return json_object_get_int64(o);
}

/* A boolean at a path, or 0. */
int
http_json_bool(struct json_object *o, const char *path)
{
	o = http_json_at(o, path);
	return o != NULL && json_object_is_type(o, json_type_boolean) &&
	    json_object_get_boolean(o);
}

/*
 * A JSON object from p (n bytes), strictly checked first (RFC 8259),
 * nested at most depth deep; owned by the caller.  NULL when it is not
 * one.
 */
struct json_object *
http_json_parse(const char *p, size_t n, int depth)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	if (n == 0 || n > INT_MAX || !http_json_valid(p, n) ||
	    (tok = json_tokener_new_ex(depth)) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, p, (int)n);
	if (o != NULL && (json_tokener_get_error(tok) !=
	    json_tokener_success || !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}
