/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * libFuzzer target for the parsers of untrusted request data in
 * http-parse.c: query strings and form bodies, cookies, percent-
 * decoding, UTF-8 and the RFC 8259 check.  Besides "no crash, no
 * sanitizer report", it checks properties: decoding never grows a
 * string, every parsed pair is valid UTF-8, and whatever the JSON check
 * accepts json-c can parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A property that must hold: libFuzzer reports the input that broke it. */
#define fuzz_assert(c)	do { if (!(c)) abort(); } while (0)

static void
check_pairs(struct arena *a, const char *s, size_t n, int plus)
{
	struct kvlist	 l;
	const char	*cause = NULL;
	size_t		 i;

	if (http_parse_pairs(a, s, n, plus, &l, &cause) == -1) {
		fuzz_assert(cause != NULL);
		return;
	}
	fuzz_assert(l.n <= REQ_PARAMS_MAX);
	for (i = 0; i < l.n; i++)
		fuzz_assert(http_utf8_valid(l.kv[i].val, l.kv[i].vallen) &&
		    strlen(l.kv[i].key) > 0);
}

static void
check_json(const char *s, size_t n)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	size_t			 i;

	/*
	 * Bodies must be objects; a bare number at the end of the input
	 * is "to be continued" for json-c's incremental parser.
	 */
	for (i = 0; i < n && strchr(" \t\r\n", s[i]) != NULL && s[i]; i++)
		continue;
	if (i == n || (s[i] != '{' && s[i] != '[') || !http_json_valid(s, n))
		return;
	if ((tok = json_tokener_new_ex(REQ_JSON_DEPTH + 1)) == NULL)
		return;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, s, (int)n);
	/* Valid JSON that json-c refuses would be a 400 for good input. */
	fuzz_assert(json_tokener_get_error(tok) == json_tokener_success);
	json_object_put(o);
	json_tokener_free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena	 a;
	struct kvlist	 l;
	const char	*cause;
	char		*s;
	size_t		 n;

	if (size > 65536)
		return 0;
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	arena_init(&a);
	check_pairs(&a, s, size, 1);
	check_pairs(&a, s, size, 0);
	if (strlen(s) == size)
		(void)http_parse_cookies(&a, s, &l, &cause);
	n = size;
	if (http_urldecode(s, &n, 1) == 0)
		fuzz_assert(n <= size);
	memcpy(s, data, size);
	(void)http_utf8_valid(s, size);
	check_json(s, size);
	arena_free(&a);
	free(s);
	return 0;
}
