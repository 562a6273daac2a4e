/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: the request path's costs and its counters, over real
 * HTTP.  An API request with a tenant key or a platform key spends one
 * database round trip on identifying the caller and binding the tenant
 * (SPEC 14); GET /auth/me reads nothing more, so its transaction
 * commits in that same round trip: one in all, as the log line's db=
 * says.  A revoked key fails on the next request (nothing
 * caches it).  GET /api/v1/metrics answers the configured addresses and
 * the token only, and its counters move with the traffic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "it-util.h"

#define API		"/api/v1"
#define METRICS		API "/metrics"

/* The tenant this program registers, with an access token and a key. */
static char	 rp_access[2048];
static char	 rp_tenant[64];
static char	 rp_key[128];
static char	 rp_key_id[64];
static unsigned	 rp_seq;

/* An Authorization header value. */
static const char *
bearer(const char *token)
{
	static char	 h[2200];

	snprintf(h, sizeof(h), "Authorization: Bearer %s", token);
	return h;
}

/* A request id of our own, so the log line can be found. */
static const char *
rid_header(char *rid, size_t ridsz)
{
	static char	 h[128];

	snprintf(rid, ridsz, "rp%ld%uxxxxxxxxxxxxxxxx", (long)getpid(),
	    ++rp_seq);
	snprintf(h, sizeof(h), "X-Request-Id: %s", rid);
	return h;
}

/* The db= and prep= of the log line of request "rid". */
static void
round_trips(const char *rid, unsigned *db, unsigned *prep)
{
	char		 needle[128], line[1024];
	const char	*p;

	snprintf(needle, sizeof(needle), " rid=%s ", rid);
	if (!it_log_find(needle, " db=", 5.0, line, sizeof(line)))
		fail_msg("no log line for request %s", rid);
	if ((p = strstr(line, " db=")) == NULL ||
	    sscanf(p, " db=%u prep=%u", db, prep) != 2)
		fail_msg("no db= and prep= in: %s", line);
}

/* GET /auth/me with a key; the status, and the round trips. */
static long
me_with(const char *key, const char *query, unsigned *db)
{
	struct it_resp	 r;
	char		 url[512], rid[64];
	unsigned	 prep;
	long		 status;

	snprintf(url, sizeof(url), API "/auth/me%s", query);
	it_request(&r, "GET", url, NULL, NULL, 0, bearer(key),
	    rid_header(rid, sizeof(rid)), NULL);
	status = r.status;
	it_response_free(&r);
	round_trips(rid, db, &prep);
	print_message("# /auth/me%s: %ld, db=%u prep=%u\n", query, status,
	    *db, prep);
	return status;
}

static void
register_tenant(void)
{
	struct it_resp	 r;
	const char	*body;
	char		 email[128];

	snprintf(email, sizeof(email), "rp%ld@example.com", (long)getpid());
	it_set_source("127.0.31.1");
	body = it_jobj("email", email, "password", "request-path-password",
	    "organization", "Request path", NULL);
	it_request(&r, "POST", API "/auth/register", "application/json", body,
	    strlen(body), NULL);
	it_expect_status(&r, 201);
	it_copy_str(rp_access, sizeof(rp_access), &r, "access_token");
	it_copy_str(rp_tenant, sizeof(rp_tenant), &r, "tenant.id");
	it_response_free(&r);
	body = "{\"name\":\"rp\",\"scopes\":[\"usage:read\"]}";
	it_request(&r, "POST", API "/api-keys", "application/json", body,
	    strlen(body), bearer(rp_access), NULL);
	it_expect_status(&r, 201);
	it_copy_str(rp_key, sizeof(rp_key), &r, "secret");
	it_copy_str(rp_key_id, sizeof(rp_key_id), &r, "id");
	it_response_free(&r);
	it_set_source(NULL);
}

/* A tenant key: identified, bound and committed in one round trip. */
static void
test_tenant_key_one_round_trip(void **state)
{
	unsigned	 db;
	int		 i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(me_with(rp_key, "", &db), 200);
		assert_int_equal(db, 1);
	}
}

/* A platform key naming the tenant: the same. */
static void
test_platform_key_one_round_trip(void **state)
{
	char		 q[128];
	unsigned	 db;
	int		 i;

	snprintf(q, sizeof(q), "?tenant_id=%s", rp_tenant);
	for (i = 0; i < 3; i++) {
		assert_int_equal(me_with(it_env("TOLLGATE_PLATFORM_KEY"), q,
		    &db), 200);
		assert_int_equal(db, 1);
	}
	/* An unknown tenant: 404 after that round trip and the rollback. */
	assert_int_equal(me_with(it_env("TOLLGATE_PLATFORM_KEY"),
	    "?tenant_id=00000000-0000-4000-8000-000000000000", &db), 404);
	assert_true(db <= 2);
}

/* Revoked: the very next request is refused. */
static void
test_revoked_key_refused_at_once(void **state)
{
	struct it_resp	 r;
	char		 url[512];
	unsigned	 db;

	assert_int_equal(me_with(rp_key, "", &db), 200);
	snprintf(url, sizeof(url), API "/api-keys/%s", rp_key_id);
	it_request(&r, "DELETE", url, NULL, NULL, 0, bearer(rp_access), NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);
	assert_int_equal(me_with(rp_key, "", &db), 401);
}

/* The value of one sample line of a scrape ("name{labels}" exactly). */
static double
sample(const char *body, const char *series)
{
	const char	*p = body;
	size_t		 n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

static void
scrape(struct it_resp *r, const char *source, const char *auth)
{
	it_set_source(source);
	it_request(r, "GET", METRICS, NULL, NULL, 0, auth, NULL);
	it_set_source(NULL);
}

/* Counters move: health requests, 429s, round trips. */
static void
test_metrics_counters_move(void **state)
{
	const char	*health = "tollgate_requests_total{route=\"/api/v1/health\","
	    "status=\"2xx\"}";
	struct it_resp	 r;
	double		 h0, h1, rl0, rl1, rt0, rt1;
	int		 i;

	scrape(&r, NULL, NULL);
	it_expect_status(&r, 200);
	assert_non_null(strstr(it_header(&r, "Content-Type"), "text/plain"));
	assert_non_null(strstr(r.body, "# TYPE tollgate_request_duration_seconds"
	    " histogram"));
	h0 = sample(r.body, health);
	rl0 = sample(r.body, "tollgate_rate_limited_total");
	rt0 = sample(r.body, "tollgate_db_round_trips_total");
	it_response_free(&r);
	assert_true(rl0 >= 0 && rt0 >= 0);
	for (i = 0; i < 3; i++) {
		it_request(&r, "GET", API "/health", NULL, NULL, 0, NULL);
		it_expect_status(&r, 200);
		it_response_free(&r);
	}
	/* The free plan allows 20 requests a minute: the rest are 429. */
	for (i = 0; i < 25; i++) {
		it_request(&r, "GET", API "/members", NULL, NULL, 0,
		    bearer(rp_access), NULL);
		it_response_free(&r);
	}
	scrape(&r, NULL, NULL);
	it_expect_status(&r, 200);
	h1 = sample(r.body, health);
	rl1 = sample(r.body, "tollgate_rate_limited_total");
	rt1 = sample(r.body, "tollgate_db_round_trips_total");
	it_response_free(&r);
	print_message("# health %g -> %g, 429 %g -> %g, round trips %g -> %g\n",
	    h0, h1, rl0, rl1, rt0, rt1);
	assert_true(h1 >= (h0 < 0 ? 0 : h0) + 3);
	assert_true(rl1 >= rl0 + 1);
	assert_true(rt1 >= rt0 + 3);
}

/* Another address gets 403; the token opens it from anywhere. */
static void
test_metrics_access(void **state)
{
	struct it_resp	 r;

	scrape(&r, "127.0.31.9", NULL);
	it_expect_status(&r, 403);
	assert_null(strstr(r.body, "tollgate_requests_total"));
	it_response_free(&r);
	scrape(&r, "127.0.31.9", bearer("wrong-token-wrong-token-wrong-token"));
	it_expect_status(&r, 403);
	it_response_free(&r);
	scrape(&r, "127.0.31.9", bearer(it_env("TOLLGATE_METRICS_TOKEN")));
	it_expect_status(&r, 200);
	assert_non_null(strstr(r.body, "tollgate_db_round_trips_total"));
	it_response_free(&r);
}

static int
group_setup(void **state)
{
	it_init();
	it_env("TOLLGATE_URL");
	it_env("TOLLGATE_LOG");
	it_env("TOLLGATE_PLATFORM_KEY");
	if (it_wait_health(15.0) != 0)
		return -1;
	register_tenant();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_tenant_key_one_round_trip),
		cmocka_unit_test(test_platform_key_one_round_trip),
		cmocka_unit_test(test_revoked_key_refused_at_once),
		cmocka_unit_test(test_metrics_access),
		cmocka_unit_test(test_metrics_counters_move),
	};

	return cmocka_run_group_tests_name("it-requestpath", tests,
	    group_setup, NULL);
}
