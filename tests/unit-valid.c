/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Unit tests of the pure validation layer (valid.c) and the escapers
 * (http-escape.c): one operation table checked as JSON (first failure)
 * and as a form (every failure), the same limits both ways, the audit
 * filters and list arguments, the scope iterator, and each escaper on
 * the characters of its context.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tollgate.h"

/* Parse a JSON text; the object is the caller's. */
static struct json_object *
obj(const char *s)
{
	struct json_object	*o = json_tokener_parse(s);

	assert_non_null(o);
	return o;
}

/* A form body into a list (allocated from a). */
static struct kvlist
form(struct arena *a, const char *s)
{
	struct kvlist	 l;
	const char	*cause = NULL;

	assert_int_equal(http_parse_pairs(a, s, strlen(s), 1, &l, &cause), 0);
	return l;
}

static void
json_fails(enum vop op, const char *body, const char *param,
    const char *code)
{
	struct json_object	*o = obj(body);
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct vfail		 f;

	memset(&f, 0, sizeof(f));
	assert_int_equal(valid_json(o, op, v, &f), -1);
	assert_string_equal(f.param, param);
	assert_string_equal(f.code, code);
	assert_non_null(strstr(f.message, param));
	json_object_put(o);
}

static void
test_json_register(void **state)
{
	struct json_object	*o;
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct vfail		 f;

	o = obj("{\"email\":\"a@example.com\",\"password\":\"x\","
	    "\"organization\":\"Acme\"}");
	assert_int_equal(valid_json(o, VOP_REGISTER, v, &f), 0);
	assert_string_equal(v[0].s, "a@example.com");
	assert_string_equal(v[2].s, "Acme");
	assert_false(v[3].present);
	json_object_put(o);
	json_fails(VOP_REGISTER, "{\"email\":\"a@example.com\",\"password\":"
	    "\"x\"}", "organization", "missing_parameter");
	json_fails(VOP_REGISTER, "{\"email\":\"nope\",\"password\":\"x\","
	    "\"organization\":\"A\"}", "email", "invalid_value");
	json_fails(VOP_REGISTER, "{\"email\":\"a@example.com\",\"password\":"
	    "\"x\",\"organization\":\"A\\u001b[31m\"}", "organization",
	    "invalid_value");
	json_fails(VOP_REGISTER, "{\"email\":\"a@example.com\",\"password\":"
	    "\"x\",\"organization\":\"\"}", "organization", "invalid_length");
	json_fails(VOP_REGISTER, "{\"email\":\"a@example.com\",\"password\":"
	    "\"x\",\"organization\":\"A\",\"admin\":true}", "admin",
	    "unknown_parameter");
	json_fails(VOP_REGISTER, "{\"email\":\"a@example.com\",\"password\":"
	    "\"x\",\"organization\":7}", "organization", "invalid_type");
}

static void
test_json_scopes(void **state)
{
	struct json_object	*o;
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct vfail		 f;

	o = obj("{\"name\":\"k\",\"scopes\":[\"usage:read\",\"billing:read\"]}");
	assert_int_equal(valid_json(o, VOP_KEY_CREATE, v, &f), 0);
	assert_int_equal(v[1].i, SCOPE_USAGE_READ | SCOPE_BILLING_READ);
	json_object_put(o);
	json_fails(VOP_KEY_CREATE, "{\"name\":\"k\",\"scopes\":[]}", "scopes",
	    "invalid_length");
	json_fails(VOP_KEY_CREATE, "{\"name\":\"k\",\"scopes\":[\"root\"]}",
	    "scopes", "invalid_value");
	json_fails(VOP_KEY_CREATE, "{\"name\":\"k\",\"scopes\":\"usage:read\"}",
	    "scopes", "invalid_type");
}

/* A form reports every failure at once, with the API's limits. */
static void
test_form_all_errors(void **state)
{
	struct arena	 a;
	struct kvlist	 l;
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct vfail	 f[VOP_FIELDS_MAX];
	char		 body[400];

	arena_init(&a);
	memset(body, 0, sizeof(body));
	memcpy(body, "email=bad&password=&csrf=x&name=", 32);
	memset(body + 32, 'n', 201);
	l = form(&a, body);
	assert_int_equal(valid_form(&l, VOP_REGISTER, v, f, VOP_FIELDS_MAX),
	    4);
	assert_string_equal(f[0].param, "email");
	assert_string_equal(f[1].param, "password");
	assert_string_equal(f[1].code, "missing_parameter");
	assert_string_equal(f[2].param, "organization");
	assert_string_equal(f[3].param, "name");
	assert_string_equal(f[3].code, "invalid_length");
	/* Fewer slots than failures: the count is still right. */
	assert_int_equal(valid_form(&l, VOP_REGISTER, v, f, 1), 4);
	l = form(&a, "email=a%40example.com&password=p&organization=Acme");
	assert_int_equal(valid_form(&l, VOP_REGISTER, v, f, VOP_FIELDS_MAX),
	    0);
	assert_string_equal(v[0].s, "a@example.com");
	/* Control characters are refused in forms as in JSON. */
	l = form(&a, "name=CI%1B%5B2J&scopes=usage%3Aread");
	assert_int_equal(valid_form(&l, VOP_KEY_CREATE, v, f, VOP_FIELDS_MAX),
	    1);
	assert_string_equal(f[0].param, "name");
	arena_free(&a);
}

/* Repeated fields are the form's array of scopes. */
static void
test_form_scopes(void **state)
{
	struct arena	 a;
	struct kvlist	 l;
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct vfail	 f[VOP_FIELDS_MAX];

	arena_init(&a);
	l = form(&a, "name=k&scopes=usage%3Awrite&scopes=entitlements%3Aread");
	assert_int_equal(valid_form(&l, VOP_KEY_CREATE, v, f, VOP_FIELDS_MAX),
	    0);
	assert_int_equal(v[1].i, SCOPE_USAGE_WRITE | SCOPE_ENTITLEMENTS_READ);
	l = form(&a, "name=k");
	assert_int_equal(valid_form(&l, VOP_KEY_CREATE, v, f, VOP_FIELDS_MAX),
	    1);
	assert_string_equal(f[0].param, "scopes");
	l = form(&a, "name=k&scopes=admin");
	assert_int_equal(valid_form(&l, VOP_KEY_CREATE, v, f, VOP_FIELDS_MAX),
	    1);
	assert_string_equal(f[0].code, "invalid_value");
	arena_free(&a);
}

static void
test_audit_filter(void **state)
{
	struct audit_filter	 flt;
	struct arena		 a;
	struct kvlist		 l;
	struct vfail		 f;
	int			 limit;

	arena_init(&a);
	l = form(&a, "action=auth.login&from=2026-12-01T00:00:00Z&limit=5");
	assert_int_equal(valid_audit_filter(&l, &flt, &limit, &f), 0);
	assert_string_equal(flt.action, "auth.login");
	assert_int_equal(limit, 5);
	assert_null(flt.to);
	l = form(&a, "from=2026-02-31T00:00:00Z");
	assert_int_equal(valid_audit_filter(&l, &flt, &limit, &f), -1);
	assert_string_equal(f.param, "from");
	l = form(&a, "limit=101");
	assert_int_equal(valid_audit_filter(&l, &flt, &limit, &f), -1);
	assert_string_equal(f.param, "limit");
	l = form(&a, "starting_after=42");
	assert_int_equal(valid_audit_filter(&l, &flt, &limit, &f), -1);
	assert_string_equal(f.param, "starting_after");
	arena_free(&a);
}

static void
test_scope_iterator(void **state)
{
	const char	*name;
	int		 i = 0, n = 0;

	while ((name = valid_scope_next(SCOPE_USAGE_READ | SCOPE_BILLING_READ,
	    &i)) != NULL) {
		assert_string_equal(name, n == 0 ? "usage:read" : "billing:read");
		n++;
	}
	assert_int_equal(n, 2);
	i = 0;
	for (n = 0; valid_scope_next(SCOPE_ALL, &i) != NULL; n++)
		continue;
	assert_int_equal(n, SCOPE__MAX);
}

/* Run one escaper into a fresh buffer; the text is the caller's. */
static char *
esc(void (*fn)(struct buf *, const char *), const char *in)
{
	struct buf	 b;
	char		*out;

	buf_init(&b, 4096);
	fn(&b, in);
	out = strdup(b.p != NULL ? b.p : "");
	buf_free(&b);
	return out;
}

static void
test_escapers(void **state)
{
	char	*s;

	s = esc(http_html_text, "<a href=\"x\">Tom & 'Jerry'</a>");
	assert_string_equal(s, "&lt;a href=&quot;x&quot;&gt;Tom &amp; "
	    "&#39;Jerry&#39;&lt;/a&gt;");
	free(s);
	s = esc(http_url_arg, "a b&c=d/é~");
	assert_string_equal(s, "a%20b%26c%3Dd%2F%C3%A9~");
	free(s);
	s = esc(http_json_str, "say \"hi\"\\\n\x1b");
	assert_string_equal(s, "say \\\"hi\\\"\\\\\\u000A\\u001B");
	free(s);
	s = esc(http_html_attr, "plain");
	assert_string_equal(s, "plain");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_json_register),
		cmocka_unit_test(test_json_scopes),
		cmocka_unit_test(test_form_all_errors),
		cmocka_unit_test(test_form_scopes),
		cmocka_unit_test(test_audit_filter),
		cmocka_unit_test(test_scope_iterator),
		cmocka_unit_test(test_escapers),
	};

	return cmocka_run_group_tests_name("unit-valid", tests, NULL, NULL);
}
