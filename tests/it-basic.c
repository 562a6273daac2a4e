/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: the request layer over real HTTP (lighttpd in front of
 * tollgate serve, PostgreSQL behind): the health route, request ids and
 * their log lines, the error shape of SPEC 5 for unknown routes, wrong
 * methods, bad paths and bad bodies, the portal's HTML error page and
 * HEAD.  Run by tests/integration.sh with the stack's stack.env
 * exported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "it-util.h"

#define HEALTH		"/api/v1/health"
#define LOGIN		"/api/v1/auth/login"

/*
 * Print what came back before the assertions look at it: a summary
 * line and the start of the body, and the whole head with IT_VERBOSE
 * set.
 */
static void
show(const char *what, const struct it_resp *r)
{
	const char	*rid = it_header(r, "X-Request-Id");
	size_t		 len;

	print_message("# %s: %ld in %.1f ms, X-Request-Id %s%s%s\n", what,
	    r->status, r->ms, rid != NULL ? rid : "(none)",
	    r->error[0] != '\0' ? ", error: " : "", r->error);
	if (getenv("IT_VERBOSE") != NULL)
		print_message("%s", r->head);
	len = strcspn(r->body, "\n");
	if (len > 0)
		print_message("#   %.*s%s\n", len > 300 ? 300 : (int)len,
		    r->body, len > 300 || len + 1 < r->body_len ? " ..." : "");
}

static const char *
hdr_or_none(const struct it_resp *r, const char *name)
{
	const char	*v = it_header(r, name);

	return v != NULL ? v : "(none)";
}

/* Does Content-Type name this media type (parameters allowed)? */
static int
media_type_is(const struct it_resp *r, const char *want)
{
	const char	*ct = it_header(r, "Content-Type");
	size_t		 n = strlen(want);

	return ct != NULL && strncasecmp(ct, want, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/*
 * The error shape of SPEC 5, exactly: {"error": {type, code, message,
 * param, request_id}}, nothing more; request_id is the X-Request-Id the
 * response carries.
 */
static void
assert_error_shape(struct it_resp *r, long status, const char *type,
    const char *code)
{
	struct json_object	*o, *e, *param;
	const char		*rid, *v;

	assert_int_equal(r->status, status);
	if (!media_type_is(r, "application/json"))
		fail_msg("Content-Type is %s, want application/json",
		    hdr_or_none(r, "Content-Type"));
	o = it_json(r);
	assert_true(json_object_is_type(o, json_type_object));
	assert_int_equal(json_object_object_length(o), 1);
	assert_true(it_json_get(o, "error", &e));
	assert_non_null(e);
	assert_true(json_object_is_type(e, json_type_object));
	if (json_object_object_length(e) != 5)
		fail_msg("error has %d members, want exactly type, code, "
		    "message, param, request_id", json_object_object_length(e));
	assert_string_equal(it_json_str(o, "error.type"), type);
	if (code != NULL)
		assert_string_equal(it_json_str(o, "error.code"), code);
	else if ((v = it_json_str(o, "error.code")) == NULL || *v == '\0')
		fail_msg("error.code is missing or empty");
	if ((v = it_json_str(o, "error.message")) == NULL || *v == '\0')
		fail_msg("error.message is missing or empty");
	assert_true(it_json_get(o, "error.param", &param));
	assert_true(param == NULL ||
	    json_object_is_type(param, json_type_string));
	rid = it_header(r, "X-Request-Id");
	assert_non_null(rid);
	assert_non_null(it_json_str(o, "error.request_id"));
	assert_string_equal(it_json_str(o, "error.request_id"), rid);
}

/* One quota of a plan of GET /plans, or the test fails. */
static struct json_object *
plan_quota(struct json_object *plan, const char *metric)
{
	struct json_object	*qs, *q;
	size_t			 i;

	assert_true(it_json_get(plan, "quotas", &qs));
	for (i = 0; i < json_object_array_length(qs); i++) {
		q = json_object_array_get_idx(qs, i);
		if (strcmp(it_json_str(q, "metric"), metric) == 0)
			return q;
	}
	fail_msg("no quota %s", metric);
	return NULL;
}

static long long
num(struct json_object *o, const char *path)
{
	struct json_object	*v;

	if (!it_json_get(o, path, &v) || !json_object_is_type(v, json_type_int))
		fail_msg("%s is not an integer", path);
	return json_object_get_int64(v);
}

/* The catalogue of SPEC 4, public, money as integers. */
static void
test_plans(void **state)
{
	struct it_resp		 r;
	struct json_object	*data, *free, *pro, *power, *team, *q, *f;
	static const char *const ids[] = { "free", "pro", "power", "team" };
	size_t			 i;

	assert_int_equal(it_request(&r, "GET", "/api/v1/plans", NULL, NULL, 0,
	    (const char *)NULL), 0);
	show("GET /api/v1/plans", &r);
	assert_int_equal(r.status, 200);
	assert_true(it_json_get(it_json(&r), "data", &data));
	assert_int_equal(json_object_array_length(data), 4);
	for (i = 0; i < 4; i++)
		assert_string_equal(it_json_str(json_object_array_get_idx(data,
		    i), "id"), ids[i]);
	free = json_object_array_get_idx(data, 0);
	pro = json_object_array_get_idx(data, 1);
	power = json_object_array_get_idx(data, 2);
	team = json_object_array_get_idx(data, 3);
	assert_int_equal(num(free, "price.amount_cents"), 0);
	assert_int_equal(num(pro, "price.amount_cents"), 1500);
	assert_int_equal(num(team, "price.amount_cents"), 4900);
	assert_true(json_object_get_boolean(json_object_object_get(
	    json_object_object_get(team, "price"), "per_seat")));
	assert_int_equal(num(pro, "trial_days"), 14);
	q = plan_quota(free, "llm_tokens");
	assert_int_equal(num(q, "included"), 10000);
	assert_string_equal(it_json_str(q, "cap"), "soft");
	assert_int_equal(num(q, "grace_percent"), 20);
	q = plan_quota(pro, "llm_tokens");
	assert_string_equal(it_json_str(q, "cap"), "metered");
	assert_int_equal(num(q, "overage.unit_price_micros"), 10000);
	assert_int_equal(num(q, "overage.per_units"), 1000);
	assert_null(json_object_object_get(plan_quota(pro, "agents"),
	    "included"));
	assert_int_equal(num(plan_quota(free, "agents"), "included"), 3);
	assert_true(it_json_get(power, "features", &f));
	assert_int_equal(json_object_array_length(f), 2);
	assert_true(it_json_get(free, "features", &f));
	assert_int_equal(json_object_array_length(f), 0);
	it_response_free(&r);
}

static void
test_health_ok(void **state)
{
	struct it_resp		 r;
	struct json_object	*o;
	const char		*v;

	assert_int_equal(it_request(&r, "GET", HEALTH, NULL, NULL, 0,
	    (const char *)NULL), 0);
	show("GET " HEALTH, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(it_header(&r, "Content-Type"));
	assert_string_equal(it_header(&r, "Content-Type"), "application/json");
	o = it_json(&r);
	assert_true(json_object_is_type(o, json_type_object));
	if (json_object_object_length(o) != 3)
		fail_msg("health has %d members, want exactly status, version, "
		    "database", json_object_object_length(o));
	assert_string_equal(it_json_str(o, "status"), "ok");
	assert_string_equal(it_json_str(o, "database"), "ok");
	v = it_json_str(o, "version");
	assert_non_null(v);
	assert_true(*v != '\0');
	assert_true(it_rid_is_generated(it_header(&r, "X-Request-Id")));
	it_response_free(&r);
}

/* Every kind of answer carries a generated id, a new one each time. */
static void
test_request_id_generated(void **state)
{
	static const struct {
		const char	*method;
		const char	*path;
	} reqs[] = {
		{ "GET", HEALTH },
		{ "GET", HEALTH },
		{ "HEAD", HEALTH },
		{ "GET", "/api/v1/no-such-route" },
		{ "POST", HEALTH },
		{ "GET", "/no-such-page" },
		{ "GET", "/api/v1/%zz" },
	};
	struct it_resp	 r;
	char		 prev[128];
	const char	*rid;
	size_t		 i;

	prev[0] = '\0';
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		assert_int_equal(it_request(&r, reqs[i].method, reqs[i].path,
		    NULL, NULL, 0, (const char *)NULL), 0);
		rid = it_header(&r, "X-Request-Id");
		if (!it_rid_is_generated(rid)) {
			show(reqs[i].path, &r);
			fail_msg("%s %s: X-Request-Id \"%s\" is not 32 hex "
			    "digits", reqs[i].method, reqs[i].path,
			    rid != NULL ? rid : "(none)");
		}
		if (strcmp(rid, prev) == 0)
			fail_msg("two requests got the same id %s", rid);
		snprintf(prev, sizeof(prev), "%s", rid);
		it_response_free(&r);
	}
}

/*
 * A well-formed client id comes back, and the request's log line
 * carries it.  Ids are made unique per run so the log search cannot
 * find the line of another run.
 */
static void
test_request_id_echoed(void **state)
{
	struct it_resp	 r;
	char		 rid[80], hdr[128], needle[100], line[2048];
	char		 id64[65];

	snprintf(rid, sizeof(rid), "abcdef12-3456.%ld", (long)getpid());
	snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", rid);
	assert_int_equal(it_request(&r, "GET", HEALTH, NULL, NULL, 0, hdr,
	    (const char *)NULL), 0);
	show("GET " HEALTH " with a client id", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(it_header(&r, "X-Request-Id"));
	assert_string_equal(it_header(&r, "X-Request-Id"), rid);
	it_response_free(&r);

	snprintf(needle, sizeof(needle), " rid=%s ", rid);
	if (!it_log_find(needle, "method=GET path=" HEALTH " status=200", 5.0,
	    line, sizeof(line)))
		fail_msg("no line with \"%s\" and \"method=GET path=%s "
		    "status=200\" in %s", needle, HEALTH,
		    it_env("TOLLGATE_LOG"));
	print_message("# log: %s", line);

	/* The longest id allowed (64) is kept too, on an error answer. */
	memset(id64, '0', 64);
	id64[64] = '\0';
	memcpy(id64, rid, strlen(rid));
	snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", id64);
	assert_int_equal(it_request(&r, "GET", "/api/v1/no-such-route", NULL,
	    NULL, 0, hdr, (const char *)NULL), 0);
	show("GET /api/v1/no-such-route with a 64-byte id", &r);
	assert_non_null(it_header(&r, "X-Request-Id"));
	assert_string_equal(it_header(&r, "X-Request-Id"), id64);
	assert_error_shape(&r, 404, "invalid_request_error", "not_found");
	it_response_free(&r);
}

/* Ids that are too short, too long or hold other bytes are replaced. */
static void
test_request_id_malformed(void **state)
{
	char		 long70[71], long65[66], hdr[128];
	const char	*bad[] = { "abc", long70, long65, "abcdefgh!ij",
	    "abcd efgh ijkl" };
	struct it_resp	 r;
	const char	*rid;
	size_t		 i;

	memset(long70, 'b', 70);
	long70[70] = '\0';
	memset(long65, 'c', 65);
	long65[65] = '\0';
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", bad[i]);
		assert_int_equal(it_request(&r, "GET", HEALTH, NULL, NULL, 0,
		    hdr, (const char *)NULL), 0);
		assert_int_equal(r.status, 200);
		rid = it_header(&r, "X-Request-Id");
		if (rid == NULL || strcmp(rid, bad[i]) == 0 ||
		    !it_rid_is_generated(rid)) {
			show("GET " HEALTH " with a malformed id", &r);
			fail_msg("id \"%s\" was answered with X-Request-Id "
			    "\"%s\", want a generated one", bad[i],
			    rid != NULL ? rid : "(none)");
		}
		it_response_free(&r);
	}
}

static void
test_unknown_route_404(void **state)
{
	struct it_resp	 r;

	assert_int_equal(it_request(&r, "GET", "/api/v1/no-such-route", NULL,
	    NULL, 0, (const char *)NULL), 0);
	show("GET /api/v1/no-such-route", &r);
	assert_error_shape(&r, 404, "invalid_request_error", "not_found");
	it_response_free(&r);
}

/* Is "method" one of the comma-separated tokens of an Allow value? */
static int
allow_has(const char *allow, const char *method)
{
	const char	*p = allow;
	size_t		 n = strlen(method), len;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, ", ");
		if (len == n && strncmp(p, method, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

static void
test_wrong_method_405(void **state)
{
	struct it_resp	 r;
	const char	*allow;

	/* An empty body, with Content-Length: 0, as a form post would. */
	assert_int_equal(it_request(&r, "POST", HEALTH, NULL, "", 0,
	    (const char *)NULL), 0);
	show("POST " HEALTH, &r);
	assert_error_shape(&r, 405, "invalid_request_error", NULL);
	allow = it_header(&r, "Allow");
	if (allow == NULL || !allow_has(allow, "GET") ||
	    allow_has(allow, "POST"))
		fail_msg("Allow is \"%s\", want GET listed and POST not",
		    allow != NULL ? allow : "(none)");
	it_response_free(&r);

	assert_int_equal(it_request(&r, "DELETE", HEALTH, NULL, NULL, 0,
	    (const char *)NULL), 0);
	show("DELETE " HEALTH, &r);
	assert_error_shape(&r, 405, "invalid_request_error", NULL);
	assert_non_null(it_header(&r, "Allow"));
	it_response_free(&r);
}

/* Outside /api/ a missing page is an HTML page, with the request id. */
static void
test_portal_404_html(void **state)
{
	struct it_resp	 r;
	const char	*rid;

	assert_int_equal(it_request(&r, "GET", "/no-such-page", NULL, NULL, 0,
	    (const char *)NULL), 0);
	show("GET /no-such-page", &r);
	assert_int_equal(r.status, 404);
	if (!media_type_is(&r, "text/html"))
		fail_msg("Content-Type is %s, want text/html",
		    hdr_or_none(&r, "Content-Type"));
	assert_non_null(strstr(r.body, "<html"));
	assert_non_null(strstr(r.body, "404"));
	rid = it_header(&r, "X-Request-Id");
	assert_true(it_rid_is_generated(rid));
	assert_non_null(strstr(r.body, rid));
	it_response_free(&r);
}

/*
 * HEAD answers like GET without a body.  libcurl never reads a HEAD
 * body, so the absence of one is checked on the raw bytes.
 */
static void
test_head_health(void **state)
{
	struct it_resp	 r;
	char		*raw, *end;
	size_t		 rawlen;

	assert_int_equal(it_request(&r, "HEAD", HEALTH, NULL, NULL, 0,
	    (const char *)NULL), 0);
	show("HEAD " HEALTH, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	assert_true(media_type_is(&r, "application/json"));
	assert_true(it_rid_is_generated(it_header(&r, "X-Request-Id")));
	it_response_free(&r);

	assert_int_equal(it_raw_http("HEAD " HEALTH " HTTP/1.0\r\n"
	    "Host: 127.0.0.1\r\n\r\n", &raw, &rawlen), 0);
	print_message("# raw HEAD answer: %zu bytes, \"%.*s\"\n", rawlen,
	    (int)strcspn(raw, "\r\n"), raw);
	assert_int_equal(strncmp(raw, "HTTP/1.0 200", 12), 0);
	end = strstr(raw, "\r\n\r\n");
	assert_non_null(end);
	if ((size_t)(end + 4 - raw) != rawlen)
		fail_msg("%zu bytes of body after the head of a HEAD answer",
		    rawlen - (size_t)(end + 4 - raw));
	free(raw);
}

static void
test_bad_percent_encoding_400(void **state)
{
	static const char	*paths[] = { "/api/v1/%zz", "/api/v1/%4",
	    "/api/v1/%c3%28" };
	struct it_resp		 r;
	size_t			 i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_equal(it_request(&r, "GET", paths[i], NULL, NULL, 0,
		    (const char *)NULL), 0);
		show(paths[i], &r);
		assert_error_shape(&r, 400, "invalid_request_error", NULL);
		it_response_free(&r);
	}
}

/* The body checks go to POST /api/v1/auth/login, a route with a JSON body. */
static void
test_body_too_large_413(void **state)
{
	struct it_resp	 r;
	size_t		 len = 1024 * 1024 + 1;
	char		*body;

	/* A JSON string body just over 1 MiB: only its size is wrong. */
	body = it_alloc(len);
	memset(body, 'a', len);
	body[0] = '"';
	body[len - 1] = '"';
	assert_int_equal(it_request(&r, "POST", LOGIN, "application/json",
	    body, len, (const char *)NULL), 0);
	free(body);
	show("POST " LOGIN " with 1 MiB + 1", &r);
	assert_error_shape(&r, 413, "invalid_request_error", NULL);
	it_response_free(&r);
}

static void
test_wrong_content_type_415(void **state)
{
	static const char	 body[] = "{\"email\":\"a@example.com\","
	    "\"password\":\"correct horse battery\"}";
	struct it_resp		 r;

	assert_int_equal(it_request(&r, "POST", LOGIN, "text/plain", body,
	    strlen(body), (const char *)NULL), 0);
	show("POST " LOGIN " as text/plain", &r);
	assert_error_shape(&r, 415, "invalid_request_error", NULL);
	it_response_free(&r);
}

static void
test_invalid_json_400(void **state)
{
	struct it_resp	 r;

	assert_int_equal(it_request(&r, "POST", LOGIN, "application/json",
	    "{bad", 4, (const char *)NULL), 0);
	show("POST " LOGIN " with {bad", &r);
	assert_error_shape(&r, 400, "invalid_request_error", "invalid_json");
	it_response_free(&r);
}

/* Each answered request leaves one line with its id, method and path. */
static void
test_log_line_has_rid(void **state)
{
	struct it_resp	 r;
	char		 needle[100], line[2048];

	assert_int_equal(it_request(&r, "GET", HEALTH, NULL, NULL, 0,
	    (const char *)NULL), 0);
	assert_int_equal(r.status, 200);
	assert_true(it_rid_is_generated(it_header(&r, "X-Request-Id")));
	snprintf(needle, sizeof(needle), " rid=%s ",
	    it_header(&r, "X-Request-Id"));
	it_response_free(&r);
	if (!it_log_find(needle, "method=GET path=" HEALTH " status=200", 5.0,
	    line, sizeof(line)))
		fail_msg("no log line with \"%s\" and \"method=GET path=%s "
		    "status=200\" in %s", needle, HEALTH,
		    it_env("TOLLGATE_LOG"));
	print_message("# log: %s", line);

	assert_int_equal(it_request(&r, "GET", "/api/v1/no-such-route", NULL,
	    NULL, 0, (const char *)NULL), 0);
	snprintf(needle, sizeof(needle), " rid=%s ",
	    it_header(&r, "X-Request-Id"));
	it_response_free(&r);
	if (!it_log_find(needle, "method=GET path=/api/v1/no-such-route "
	    "status=404", 5.0, line, sizeof(line)))
		fail_msg("no log line with \"%s\" for the 404", needle);
}

static int
group_setup(void **state)
{
	it_init();
	it_env("TOLLGATE_URL");
	it_env("TOLLGATE_LOG");
	/* A stack just started may still be opening its first connections. */
	return it_wait_health(15.0) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_health_ok),
		cmocka_unit_test(test_plans),
		cmocka_unit_test(test_request_id_generated),
		cmocka_unit_test(test_request_id_echoed),
		cmocka_unit_test(test_request_id_malformed),
		cmocka_unit_test(test_unknown_route_404),
		cmocka_unit_test(test_wrong_method_405),
		cmocka_unit_test(test_portal_404_html),
		cmocka_unit_test(test_head_health),
		cmocka_unit_test(test_bad_percent_encoding_400),
		cmocka_unit_test(test_body_too_large_413),
		cmocka_unit_test(test_wrong_content_type_415),
		cmocka_unit_test(test_invalid_json_400),
		cmocka_unit_test(test_log_line_has_rid),
	};

	return cmocka_run_group_tests_name("it-basic", tests, group_setup,
	    NULL);
}
