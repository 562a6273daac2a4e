/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * libFuzzer target for request validation (valid.c): the first byte
 * picks an operation's table, the rest is a request body, checked as
 * JSON (after the same UTF-8 and RFC 8259 checks the pipeline makes)
 * and as a form.  It links only the parsers and the validator, no
 * database, no FastCGI.  Properties: a failure always names a
 * parameter and says something; an accepted string field is UTF-8
 * without control characters and within its table's length; a form
 * reports at most one failure per field.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define fuzz_assert(c)	do { if (!(c)) abort(); } while (0)

static void
check_values(enum vop op, const struct vvalue *v)
{
	const struct vfield	*f = valid_ops[op].fields;
	const char		*p;
	size_t			 i, n;

	for (i = 0; i < valid_ops[op].n; i++) {
		if (!v[i].present || f[i].type != V_STRING)
			continue;
		fuzz_assert(v[i].s != NULL);
		n = http_utf8_chars(v[i].s);
		fuzz_assert(n >= f[i].min && n <= f[i].max);
		fuzz_assert(http_utf8_valid(v[i].s, strlen(v[i].s)));
		for (p = v[i].s; *p != '\0'; p++)
			fuzz_assert((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
}

static void
check_json(enum vop op, const char *s, size_t n)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct vfail		 f;

	if (!http_utf8_valid(s, n) || !http_json_valid(s, n))
		return;
	if ((tok = json_tokener_new_ex(REQ_JSON_DEPTH + 1)) == NULL)
		return;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, s, (int)n);
	if (o != NULL && json_object_is_type(o, json_type_object)) {
		memset(&f, 0, sizeof(f));
		if (valid_json(o, op, v, &f) == -1)
			fuzz_assert(f.param != NULL && f.code != NULL &&
			    f.message[0] != '\0');
		else
			check_values(op, v);
	}
	json_object_put(o);
	json_tokener_free(tok);
}

static void
check_form(enum vop op, const char *s, size_t n)
{
	struct arena	 a;
	struct kvlist	 l;
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct vfail	 f[VOP_FIELDS_MAX];
	const char	*cause = NULL;
	size_t		 bad, i;

	arena_init(&a);
	if (http_parse_pairs(&a, s, n, 1, &l, &cause) == 0) {
		bad = valid_form(&l, op, v, f, VOP_FIELDS_MAX);
		fuzz_assert(bad <= valid_ops[op].n);
		for (i = 0; i < bad; i++)
			fuzz_assert(f[i].param != NULL &&
			    f[i].message[0] != '\0');
		if (bad == 0)
			check_values(op, v);
	}
	arena_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum vop	 op;
	char		*s;

	if (size < 1)
		return 0;
	op = (enum vop)(data[0] % VOP__MAX);
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	check_json(op, s, size - 1);
	check_form(op, s, size - 1);
	free(s);
	return 0;
}
