/* Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE). */

/*
 * Unit tests of the parsers of untrusted request data (http-parse.c):
 * percent-decoding, query strings and forms, cookies, UTF-8, request
 * ids, media types and status texts.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tollgate.h"

static int
setup_arena(void **state)
{
	struct arena	*a;

	if ((a = malloc(sizeof(*a))) == NULL)
		return -1;
	arena_init(a);
	*state = a;
	return 0;
}

static int
teardown_arena(void **state)
{
	struct arena	*a = *state;

	arena_free(a);
	free(a);
	return 0;
}

/*
 * Decode the first "len" bytes of "in" into "out" (a copy, since the
 * decoding is in place) and return http_urldecode()'s result.
 */
static int
decode(const char *in, size_t len, int plus, char *out, size_t outsz,
    size_t *outlen)
{
	assert_true(len < outsz);
	memcpy(out, in, len);
	out[len] = '\0';
	*outlen = len;
	return http_urldecode(out, outlen, plus);
}

static void
assert_decodes(const char *in, int plus, const char *want)
{
	char	 out[256];
	size_t	 len;

	if (decode(in, strlen(in), plus, out, sizeof(out), &len) != 0)
		fail_msg("\"%s\" refused", in);
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
}

static void
assert_refused(const char *in, size_t len)
{
	char	 out[256];
	size_t	 outlen;

	if (decode(in, len, 1, out, sizeof(out), &outlen) != -1)
		fail_msg("\"%s\" accepted", in);
}

static void
test_urldecode(void **state)
{
	char	 out[64];
	size_t	 len;

	assert_decodes("", 0, "");
	assert_decodes("plain-text_1.2~", 0, "plain-text_1.2~");
	assert_decodes("%41", 0, "A");
	assert_decodes("%41%62c", 0, "Abc");
	assert_decodes("x%4a%4A", 0, "xJJ");
	assert_decodes("%C3%A9t%C3%A9", 0, "\xc3\xa9t\xc3\xa9");
	assert_decodes("a+b", 1, "a b");
	assert_decodes("a+b", 0, "a+b");
	/* An escaped plus is a plus either way. */
	assert_decodes("a%2Bb", 1, "a+b");
	assert_decodes("%25%32%30", 0, "%20");	/* decoded once only */
	assert_decodes("end%7e", 0, "end~");

	assert_refused("%4", 2);
	assert_refused("ab%4", 4);
	assert_refused("%", 1);
	assert_refused("ab%", 3);
	assert_refused("%zz", 3);
	assert_refused("%4z", 3);
	assert_refused("%z4", 3);
	assert_refused("%00", 3);
	assert_refused("a%00b", 5);
	/* A raw NUL inside the length is refused too. */
	assert_refused("a\0b", 3);

	/* Only "len" bytes are decoded, whatever follows. */
	assert_int_equal(decode("abc%41def", 6, 0, out, sizeof(out), &len), 0);
	assert_int_equal(len, 4);
	assert_string_equal(out, "abcA");
	/* An escape cut by the length is truncated, not read past. */
	assert_int_equal(decode("abc%41", 5, 0, out, sizeof(out), &len), -1);
}

static void
test_parse_pairs_basic(void **state)
{
	struct arena	*a = *state;
	struct kvlist	 l;
	const char	*cause = NULL;
	const char	*in = "a=1&b=2";

	assert_int_equal(http_parse_pairs(a, in, strlen(in), 1, &l, &cause), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.kv[0].key, "a");
	assert_string_equal(l.kv[0].val, "1");
	assert_int_equal(l.kv[0].vallen, 1);
	assert_string_equal(l.kv[1].key, "b");
	assert_string_equal(l.kv[1].val, "2");
	assert_string_equal(http_kv_get(&l, "a"), "1");
	assert_string_equal(http_kv_get(&l, "b"), "2");
	assert_null(http_kv_get(&l, "c"));
	assert_null(http_kv_get(&l, "A"));

	/* Only "inlen" bytes are parsed. */
	assert_int_equal(http_parse_pairs(a, in, 3, 1, &l, &cause), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.kv[0].val, "1");

	/* Nothing at all. */
	assert_int_equal(http_parse_pairs(a, "", 0, 1, &l, &cause), 0);
	assert_int_equal(l.n, 0);
	assert_null(http_kv_get(&l, "a"));
	assert_int_equal(http_parse_pairs(a, NULL, 0, 1, &l, &cause), 0);
	assert_int_equal(l.n, 0);
}

static void
test_parse_pairs_pieces(void **state)
{
	struct arena	*a = *state;
	struct kvlist	 l;
	const char	*cause = NULL, *in;

	/* Empty pieces are skipped. */
	in = "&&a=1&&b=2&";
	assert_int_equal(http_parse_pairs(a, in, strlen(in), 1, &l, &cause), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.kv[0].key, "a");
	assert_string_equal(l.kv[1].key, "b");
	in = "&";
	assert_int_equal(http_parse_pairs(a, in, strlen(in), 1, &l, &cause), 0);
	assert_int_equal(l.n, 0);

	/* A key without '=' has an empty value; so has "x=". */
	in = "flag&x=&y=a=b";
	assert_int_equal(http_parse_pairs(a, in, strlen(in), 1, &l, &cause), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.kv[0].key, "flag");
	assert_string_equal(l.kv[0].val, "");
	assert_int_equal(l.kv[0].vallen, 0);
	assert_string_equal(l.kv[1].key, "x");
	assert_string_equal(l.kv[1].val, "");
	/* Only the first '=' splits. */
	assert_string_equal(http_kv_get(&l, "y"), "a=b");

	/* An empty key is dropped. */
	in = "=v&k=1";
	assert_int_equal(http_parse_pairs(a, in, strlen(in), 1, &l, &cause), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.kv[0].key, "k");

	/* Duplicates are all kept; http_kv_get() returns the first. */
	in = "a=1&b=x&a=2";
	assert_int_equal(http_parse_pairs(a, in, strlen(in), 1, &l, &cause), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(http_kv_get(&l, "a"), "1");
	assert_string_equal(l.kv[2].val, "2");
}

static void
test_parse_pairs_decoding(void **state)
{
	struct arena	*a = *state;
	struct kvlist	 l;
	const char	*cause = NULL, *in;

	in = "na%6De=J%C3%BCrgen+X&e%2Bm=a%40b.c%26d%3De";
	assert_int_equal(http_parse_pairs(a, in, strlen(in), 1, &l, &cause), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.kv[0].key, "name");
	assert_string_equal(l.kv[0].val, "J\xc3\xbcrgen X");
	assert_int_equal(l.kv[0].vallen, 9);
	assert_string_equal(l.kv[1].key, "e+m");
	/* Escaped '&' and '=' do not split. */
	assert_string_equal(l.kv[1].val, "a@b.c&d=e");

	/* Without "plus", '+' stays. */
	in = "q=a+b";
	assert_int_equal(http_parse_pairs(a, in, strlen(in), 0, &l, &cause), 0);
	assert_string_equal(http_kv_get(&l, "q"), "a+b");
}

static void
test_parse_pairs_refused(void **state)
{
	static const char *const	 bad[] = {
		"a=%ff",		/* invalid UTF-8 in a value */
		"%ff=1",		/* ... in a key */
		"a=%C0%80",		/* overlong NUL */
		"a=%ED%A0%80",		/* surrogate */
		"ok=1&a=%e2%82",	/* truncated sequence, last */
		"a=%zz",
		"a=%4",
		"a=%00",
		"%00=1",
		"a=1&b=x%",
	};
	struct arena			*a = *state;
	struct kvlist			 l;
	const char			*cause;
	size_t				 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cause = NULL;
		if (http_parse_pairs(a, bad[i], strlen(bad[i]), 1, &l,
		    &cause) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_non_null(cause);
	}
	cause = NULL;
	assert_int_equal(http_parse_pairs(a, "a=%ff", 5, 1, &l, &cause), -1);
	assert_non_null(strstr(cause, "UTF-8"));
}

/* "k0=v&k1=v&..." with n pairs, in a buffer the caller frees. */
static char *
pairs_make(size_t n, size_t *len)
{
	struct buf	 b;
	size_t		 i;

	buf_init(&b, 1024 * 1024);
	for (i = 0; i < n; i++)
		assert_int_equal(buf_printf(&b, "%sk%zu=v", i > 0 ? "&" : "",
		    i), 0);
	*len = b.len;
	return b.p;
}

static void
test_parse_pairs_limit(void **state)
{
	struct arena	*a = *state;
	struct kvlist	 l;
	const char	*cause = NULL;
	char		*in;
	size_t		 len;

	in = pairs_make(REQ_PARAMS_MAX, &len);
	assert_int_equal(http_parse_pairs(a, in, len, 1, &l, &cause), 0);
	assert_int_equal(l.n, REQ_PARAMS_MAX);
	assert_string_equal(l.kv[REQ_PARAMS_MAX - 1].key, "k255");
	free(in);

	in = pairs_make(REQ_PARAMS_MAX + 1, &len);
	assert_int_equal(http_parse_pairs(a, in, len, 1, &l, &cause), -1);
	assert_non_null(cause);
	assert_int_equal(l.n, 0);
	free(in);
}

static void
test_parse_cookies(void **state)
{
	struct arena	*a = *state;
	struct kvlist	 l;
	const char	*cause = NULL;

	assert_int_equal(http_parse_cookies(a, "a=1; b=2", &l, &cause), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.kv[0].key, "a");
	assert_string_equal(l.kv[0].val, "1");
	assert_int_equal(l.kv[0].vallen, 1);
	assert_string_equal(l.kv[1].key, "b");
	assert_string_equal(l.kv[1].val, "2");

	/* Blanks around keys and values go; inner ones stay. */
	assert_int_equal(http_parse_cookies(a,
	    "  a = 1 ;b=2\t;\tc=x y  ", &l, &cause), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(http_kv_get(&l, "a"), "1");
	assert_string_equal(http_kv_get(&l, "b"), "2");
	assert_string_equal(http_kv_get(&l, "c"), "x y");

	/* One pair of double quotes is removed; values are not decoded. */
	assert_int_equal(http_parse_cookies(a,
	    "sid=\"abc\"; e=\"\"; raw=%41+b; t=a=b", &l, &cause), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(http_kv_get(&l, "sid"), "abc");
	assert_int_equal(l.kv[0].vallen, 3);
	assert_string_equal(http_kv_get(&l, "e"), "");
	assert_int_equal(l.kv[1].vallen, 0);
	assert_string_equal(http_kv_get(&l, "raw"), "%41+b");
	assert_string_equal(http_kv_get(&l, "t"), "a=b");

	/* Junk pieces are skipped, not fatal. */
	assert_int_equal(http_parse_cookies(a,
	    "junk; =nokey; ;; a=1; also junk;", &l, &cause), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.kv[0].key, "a");
	assert_string_equal(l.kv[0].val, "1");

	/* Duplicates: the first wins. */
	assert_int_equal(http_parse_cookies(a, "s=1; s=2", &l, &cause), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(http_kv_get(&l, "s"), "1");

	assert_int_equal(http_parse_cookies(a, NULL, &l, &cause), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(http_parse_cookies(a, "", &l, &cause), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(http_parse_cookies(a, "junk", &l, &cause), 0);
	assert_int_equal(l.n, 0);
}

static void
test_parse_cookies_limit(void **state)
{
	struct arena	*a = *state;
	struct kvlist	 l;
	const char	*cause = NULL;
	char		 in[2 * REQ_PARAMS_MAX + 8];
	size_t		 i;

	/* REQ_PARAMS_MAX pieces are fine, one more is refused. */
	for (i = 0; i < REQ_PARAMS_MAX - 1; i++)
		in[i] = ';';
	memcpy(in + i, "a=1", 4);
	assert_int_equal(http_parse_cookies(a, in, &l, &cause), 0);
	assert_int_equal(l.n, 1);
	memmove(in + 1, in, strlen(in) + 1);
	in[0] = ';';
	assert_int_equal(http_parse_cookies(a, in, &l, &cause), -1);
	assert_non_null(cause);
}

static void
test_utf8_valid(void **state)
{
	static const struct {
		const char	*s;
		size_t		 len;
		int		 valid;
	} t[] = {
		{ "", 0, 1 },
		{ "hello, world", 12, 1 },
		{ "\x7f", 1, 1 },
		{ "\xc2\x80", 2, 1 },			/* U+0080 */
		{ "\xc3\xa9", 2, 1 },			/* e acute */
		{ "\xdf\xbf", 2, 1 },			/* U+07FF */
		{ "\xe0\xa0\x80", 3, 1 },		/* U+0800 */
		{ "\xe2\x82\xac", 3, 1 },		/* euro */
		{ "\xed\x9f\xbf", 3, 1 },		/* U+D7FF */
		{ "\xee\x80\x80", 3, 1 },		/* U+E000 */
		{ "\xef\xbf\xbf", 3, 1 },		/* U+FFFF */
		{ "\xf0\x90\x80\x80", 4, 1 },		/* U+10000 */
		{ "\xf0\x9f\x98\x80", 4, 1 },		/* emoji */
		{ "\xf4\x8f\xbf\xbf", 4, 1 },		/* U+10FFFF */
		{ "a\xc3\xa9z\xe2\x82\xac!", 7, 1 },
		/* Overlong forms. */
		{ "\xc0\x80", 2, 0 },
		{ "\xc1\xbf", 2, 0 },
		{ "\xe0\x80\x80", 3, 0 },
		{ "\xe0\x9f\xbf", 3, 0 },
		{ "\xf0\x80\x80\x80", 4, 0 },
		{ "\xf0\x8f\xbf\xbf", 4, 0 },
		/* Surrogates. */
		{ "\xed\xa0\x80", 3, 0 },
		{ "\xed\xbf\xbf", 3, 0 },
		/* Above U+10FFFF. */
		{ "\xf4\x90\x80\x80", 4, 0 },
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\xf7\xbf\xbf\xbf", 4, 0 },
		{ "\xf8\x88\x80\x80\x80", 5, 0 },
		{ "\xfe", 1, 0 },
		{ "\xff", 1, 0 },
		/* Truncated sequences. */
		{ "\xc3", 1, 0 },
		{ "\xe2\x82", 2, 0 },
		{ "\xf0\x9f\x98", 3, 0 },
		{ "abc\xc3", 4, 0 },
		{ "\xc3\xa9", 1, 0 },			/* cut by len */
		{ "\xe2\x82\xac", 2, 0 },
		/* Lone or stray continuation bytes. */
		{ "\x80", 1, 0 },
		{ "a\xbf" "b", 3, 0 },
		{ "\xc3\xa9\xa9", 3, 0 },
		/* A non-continuation where one is needed. */
		{ "\xc3\x28", 2, 0 },
		{ "\xe2\x28\xa1", 3, 0 },
		{ "\xf0\x9f\x98" "a", 4, 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (http_utf8_valid(t[i].s, t[i].len) != t[i].valid)
			fail_msg("case %zu: expected %s", i,
			    t[i].valid ? "valid" : "invalid");
}

static void
test_rid_valid(void **state)
{
	char	 s[80];

	assert_false(http_rid_valid("abcdefg"));		/* 7 */
	assert_true(http_rid_valid("abcdefgh"));		/* 8 */
	assert_true(http_rid_valid("A-b_c.d9"));
	memset(s, 'x', 64);
	s[64] = '\0';
	assert_true(http_rid_valid(s));				/* 64 */
	s[64] = 'x';
	s[65] = '\0';
	assert_false(http_rid_valid(s));			/* 65 */

	assert_false(http_rid_valid(NULL));
	assert_false(http_rid_valid(""));
	assert_false(http_rid_valid("abcd efgh"));
	assert_false(http_rid_valid("abcdefgh\n"));
	assert_false(http_rid_valid("abcd\nlevel=error"));
	assert_false(http_rid_valid("abcdefgh\r"));
	assert_false(http_rid_valid("abcd/efgh"));
	assert_false(http_rid_valid("abcd\"efgh"));
	assert_false(http_rid_valid("abcd=efgh"));
	assert_false(http_rid_valid("abcdefg\xc3\xa9"));
}

static void
test_media_type_is(void **state)
{
	const char	*json = "application/json";
	const char	*form = "application/x-www-form-urlencoded";

	assert_true(http_media_type_is("application/json", json));
	assert_true(http_media_type_is("Application/JSON", json));
	assert_true(http_media_type_is("application/json; charset=utf-8",
	    json));
	assert_true(http_media_type_is("application/json;charset=UTF-8", json));
	assert_true(http_media_type_is("application/json ; charset=utf-8",
	    json));
	assert_true(http_media_type_is(" application/json", json));
	assert_true(http_media_type_is(form, form));
	assert_true(http_media_type_is(
	    "application/x-www-form-urlencoded; charset=utf-8", form));

	assert_false(http_media_type_is("application/jsonx", json));
	assert_false(http_media_type_is("application/json-patch+json", json));
	assert_false(http_media_type_is("application/js", json));
	assert_false(http_media_type_is("text/json", json));
	assert_false(http_media_type_is("text/plain", json));
	assert_false(http_media_type_is("multipart/form-data; boundary=x",
	    form));
	assert_false(http_media_type_is("", json));
	assert_false(http_media_type_is(NULL, json));
}

static void
test_status_text(void **state)
{
	static const struct {
		int		 status;
		const char	*text;
	} t[] = {
		{ 200, "OK" },
		{ 201, "Created" },
		{ 204, "No Content" },
		{ 302, "Found" },
		{ 303, "See Other" },
		{ 304, "Not Modified" },
		{ 400, "Bad Request" },
		{ 401, "Unauthorized" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 409, "Conflict" },
		{ 413, "Content Too Large" },
		{ 415, "Unsupported Media Type" },
		{ 429, "Too Many Requests" },
		{ 500, "Internal Server Error" },
		{ 502, "Bad Gateway" },
		{ 503, "Service Unavailable" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(http_status_text(t[i].status), t[i].text);
	/* Unknown codes still give a printable text. */
	assert_non_null(http_status_text(0));
	assert_non_null(http_status_text(799));
	assert_string_not_equal(http_status_text(799), "OK");
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_urldecode),
		cmocka_unit_test_setup_teardown(test_parse_pairs_basic,
		    setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_pairs_pieces,
		    setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_pairs_decoding,
		    setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_pairs_refused,
		    setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_pairs_limit,
		    setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_cookies,
		    setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_cookies_limit,
		    setup_arena, teardown_arena),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_rid_valid),
		cmocka_unit_test(test_media_type_is),
		cmocka_unit_test(test_status_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
