/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: metering (SPEC 4, 6 Usage, 8).  POST /usage/events
 * refuses every kind of bad event, listing each bad index, and then
 * stores nothing; counts each event id once, forever, whatever the
 * repeats, retries and concurrency (the counters are exactly the sum of
 * the distinct events); the LLM events are priced from model_prices.
 * Reservations hold, settle and release, and under 64 concurrent
 * clients admit exactly what a soft cap or a blocking agent budget
 * leaves, never more.  POST /entitlements/check answers without
 * storing anything.  Crossing 80 % and 100 % of a quota records one
 * alert each and queues one notification; a batch past a limit is
 * refused (429) whole.  Events back-dated into the previous month count
 * in its period, which the summary shows and the entitlements do not,
 * and cross its thresholds once each, as this month's do.
 *
 * Each test registers tenants of its own from a loopback address of its
 * own (the auth routes are limited per address, the other routes per
 * tenant) and acts with a tenant API key (usage:write,
 * entitlements:read); the platform key of stack.env names tenants.
 * What the API does not show (counters, spend, alerts) is read as the
 * database owner under the tenant (row-level security is forced).
 * Agents are inserted the same way.  Checks that found a product bug
 * report it through it_deferred_fail() and let the test go on.
 *
 * IT_USAGE_SEED sets the seed of the random batches (else the time; it
 * is printed); IT_USAGE_ONLY runs only the tests whose name holds it.
 */
#include <sys/types.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "it-util.h"

#define API		"/api/v1"
#define EVENTS		API "/usage/events"
#define RESERVE		API "/usage/reservations"
#define CHECK		API "/entitlements/check"
#define JSON		"application/json"
#define KEY_MAX		128

/*
 * The tenant's reservations, read as the database owner: the owner is a
 * member of tollgate_auth, whose policy on reservations shows it every
 * tenant's, so the tenant is named.
 */
#define OWN_RES		"(SELECT * FROM reservations WHERE tenant_id = " \
			    "app_tenant()) r"

/* The free plan's api_calls limit: 1,000 soft with 20 % grace (SPEC 4). */
#define FREE_API_LIMIT		1200

/* A tenant of a test, its owner's token and a tenant API key. */
struct tenant {
	char	 id[64];
	char	 access[IT_TOKEN_MAX];
	char	 key[KEY_MAX];
};

static unsigned int	 u_seq;
static unsigned int	 u_seed;

/* --- small tools ---------------------------------------------------------- */

/* A growing string. */
struct sb {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

static void
sb_add(struct sb *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void
sb_free(struct sb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* A unique event id of this run. */
static const char *
uid(const char *tag)
{
	static char	 id[64];

	snprintf(id, sizeof(id), "%s-%ld-%u", tag, (long)getpid(), ++u_seq);
	return id;
}

/* Now + off seconds as RFC 3339 UTC. */
static void
ts_at(char *out, size_t outsz, long long off)
{
	time_t		 t = time(NULL) + (time_t)off;
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static long long
epoch_of(const char *s)
{
	struct tm	 tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return -1;
	return (long long)timegm(&tm);
}

/* An integer member at a dotted path, or def when missing or not one. */
static long long
jint(struct it_resp *r, const char *path, long long def)
{
	struct json_object	*v;

	if (!it_json_get(it_json(r), path, &v) ||
	    !json_object_is_type(v, json_type_int))
		return def;
	return json_object_get_int64(v);
}

/* --- HTTP ----------------------------------------------------------------- */

/*
 * One request with a bearer (a key or a token) on a handle (NULL: the
 * main thread's); 0, or -1 on a transport failure.
 */
static int
call_on(CURL *h, struct it_resp *r, const char *bearer, const char *method,
    const char *path, const char *body)
{
	char		 auth[IT_TOKEN_MAX + 64];
	const char	*hdrs[2] = { auth, NULL };

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
	return it_request_on(h, r, method, path, body != NULL ? JSON : NULL,
	    body, body != NULL ? strlen(body) : 0, hdrs);
}

/* The same on the main thread: a transport failure fails the test. */
static void
call(struct it_resp *r, const char *bearer, const char *method,
    const char *path, const char *body)
{
	if (call_on(NULL, r, bearer, method, path, body) == -1)
		fail_msg("%s %s: %s", method, path, r->error);
	print_message("# %s %s: %ld in %.1f ms: %.200s\n", method, path,
	    r->status, r->ms, r->body);
}

/* POST a batch of events; the status. */
static long
post_events(struct it_resp *r, const char *bearer, const char *body)
{
	call(r, bearer, "POST", EVENTS, body);
	return r->status;
}

/* A batch must be taken: 200 {accepted, duplicates} as expected. */
static void
expect_taken(struct it_resp *r, long long acc, long long dup,
    const char *what)
{
	if (r->status != 200)
		it_deferred_fail("%s: %ld, want 200: %.300s", what, r->status,
		    r->body);
	else if (jint(r, "accepted", -1) != acc ||
	    jint(r, "duplicates", -1) != dup)
		it_deferred_fail("%s: accepted %lld duplicates %lld, want "
		    "%lld and %lld", what, jint(r, "accepted", -1),
		    jint(r, "duplicates", -1), acc, dup);
}

/* One event as a one-event batch, through the tenant's key. */
static long
post_one(struct it_resp *r, const struct tenant *t, const char *event)
{
	struct sb	 b = { 0 };
	long		 st;

	sb_add(&b, "{\"events\":[%s]}", event);
	st = post_events(r, t->key, b.p);
	sb_free(&b);
	return st;
}

/* {"id":..., "metric":..., "value":...} plus extra members (or ""). */
static const char *
ev(const char *id, const char *metric, long long value, const char *extra)
{
	static char	 out[4][1024];
	static int	 k;

	k = (k + 1) % 4;
	snprintf(out[k], sizeof(out[k]), "{\"id\":\"%s\",\"metric\":\"%s\","
	    "\"value\":%lld%s%s}", id, metric, value, *extra != '\0' ? "," :
	    "", extra);
	return out[k];
}

/*
 * A 400 invalid_events whose error.errors lists exactly these indices,
 * in order, each with this code (NULL: any).
 */
static void
expect_bad_indices(struct it_resp *r, const size_t *idx, size_t n,
    const char *code, const char *what)
{
	struct json_object	*errs, *e, *v;
	const char		*got;
	size_t			 i;

	it_expect_code(r, 400, "invalid_events", what);
	if (r->status != 400)
		return;
	if (!it_json_get(it_json(r), "error.errors", &errs) ||
	    !json_object_is_type(errs, json_type_array)) {
		it_deferred_fail("%s: no error.errors list: %.300s", what,
		    r->body);
		return;
	}
	if (json_object_array_length(errs) != n) {
		it_deferred_fail("%s: %zu bad events listed, want %zu: %.300s",
		    what, json_object_array_length(errs), n, r->body);
		return;
	}
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(errs, i);
		if (!it_json_get(e, "index", &v) || (size_t)json_object_get_int64(
		    v) != idx[i])
			it_deferred_fail("%s: errors[%zu].index is not %zu: "
			    "%.300s", what, i, idx[i], r->body);
		got = it_json_str(e, "code");
		if (code != NULL && (got == NULL || strcmp(got, code) != 0))
			it_deferred_fail("%s: errors[%zu].code %s, want %s",
			    what, i, got != NULL ? got : "(none)", code);
	}
}

/* A refusal must name the parameter at fault. */
static void
expect_param(struct it_resp *r, const char *param, const char *what)
{
	const char	*got = NULL;

	if (r->body_len > 0 && r->body[0] == '{')
		got = it_json_str(it_json(r), "error.param");
	if (got == NULL || strcmp(got, param) != 0)
		it_deferred_fail("%s: error.param %s, want %s", what,
		    got != NULL ? got : "(none)", param);
}

/* --- tenants and the database --------------------------------------------- */

/*
 * A new tenant (registered from a client address of its own) with a
 * key for the metering routes; plan: NULL for free, else that plan,
 * active, set as the database owner.
 */
static void
tenant_new(struct tenant *t, const char *tag, const char *plan)
{
	struct it_resp	 r;
	char		 email[128], pw[64], org[64], n[16];
	const char	*v[2];

	memset(t, 0, sizeof(*t));
	it_client_new();
	snprintf(email, sizeof(email), "usage-%s-%ld-%u@example.com", tag,
	    (long)getpid(), ++u_seq);
	snprintf(pw, sizeof(pw), "Pass-%ld-usage-word", (long)getpid());
	snprintf(org, sizeof(org), "Usage %s %ld", tag, (long)getpid());
	it_http(&r, "POST", API "/auth/register", NULL, NULL, JSON,
	    it_jobj("email", email, "password", pw, "organization", org,
	    NULL));
	it_expect_status(&r, 201);
	it_copy_str(t->access, sizeof(t->access), &r, "access_token");
	it_copy_str(t->id, sizeof(t->id), &r, "tenant.id");
	it_response_free(&r);
	it_http(&r, "POST", API "/api-keys", NULL, t->access, JSON,
	    "{\"name\":\"metering\",\"scopes\":[\"usage:write\","
	    "\"entitlements:read\"]}");
	it_expect_status(&r, 201);
	it_copy_str(t->key, sizeof(t->key), &r, "secret");
	it_response_free(&r);
	if (plan != NULL) {
		v[0] = plan;
		v[1] = t->id;
		if (it_owner_sql(n, sizeof(n), t->id, "UPDATE tenants SET "
		    "plan = $1, status = 'active' WHERE tenant_id = $2", 2,
		    v) != 1)
			fail_msg("tenant %s not on plan %s", t->id, plan);
	}
}

/* An agent of the tenant, inserted as the owner; its id into out. */
static void
agent_new(const struct tenant *t, const char *limit, const char *action,
    char *out, size_t outsz)
{
	const char	*v[4] = { t->id, uid("agent"), limit, action };

	it_owner_sql(out, outsz, t->id, "INSERT INTO agents (tenant_id, name, "
	    "budget_limit_micros, budget_action) VALUES ($1, $2, $3::bigint, "
	    "coalesce($4, 'block')) RETURNING agent_id", 4, v);
	if (out[0] == '\0')
		fail_msg("no agent inserted");
}

/* One number the tenant's rows give (SQL with up to 2 parameters). */
static long long
sql_num(const struct tenant *t, const char *sql, const char *p1,
    const char *p2)
{
	const char	*v[2] = { p1, p2 };
	char		 out[64];

	it_owner_sql(out, sizeof(out), t->id, sql, p2 != NULL ? 2 : p1 !=
	    NULL ? 1 : 0, v);
	return out[0] == '\0' ? -1 : atoll(out);
}

/* The tenant's counter of a metric, all periods: used or reserved. */
static long long
used_of(const struct tenant *t, const char *metric)
{
	return sql_num(t, "SELECT coalesce(sum(used), 0) FROM usage_counters "
	    "WHERE metric = $1", metric, NULL);
}

static long long
reserved_of(const struct tenant *t, const char *metric)
{
	return sql_num(t, "SELECT coalesce(sum(reserved), 0) FROM "
	    "usage_counters WHERE metric = $1", metric, NULL);
}

/*
 * What metering stored for the tenant, as one line: event ids, events,
 * counters, spend, reservations, windows, alerts, notifications.  full:
 * the reservations' holds too (a check must not change them; a refused
 * event may meet the worker expiring one).
 */
static void
stored(const struct tenant *t, int full, char *out, size_t outsz)
{
	it_owner_sql(out, outsz, t->id, full ? "SELECT concat_ws('/', "
	    "(SELECT count(*) FROM usage_event_ids), "
	    "(SELECT count(*) FROM usage_events), "
	    "(SELECT coalesce(sum(used), 0) || ':' || coalesce(sum(reserved), "
	    "0) || ':' || count(*) FROM usage_counters), "
	    "(SELECT coalesce(sum(cost_micros), 0) || ':' || "
	    "coalesce(sum(reserved_micros), 0) || ':' || count(*) FROM "
	    "agent_spend), "
	    "(SELECT count(*) || ':' || count(*) FILTER (WHERE status = "
	    "'held') FROM " OWN_RES "), "
	    "(SELECT count(*) FROM usage_windows), "
	    "(SELECT count(*) FROM usage_alerts), "
	    "(SELECT count(*) FROM notifications WHERE tenant_id = "
	    "app_tenant()))" :
	    "SELECT concat_ws('/', "
	    "(SELECT count(*) FROM usage_event_ids), "
	    "(SELECT count(*) FROM usage_events), "
	    "(SELECT coalesce(sum(used), 0) FROM usage_counters), "
	    "(SELECT coalesce(sum(cost_micros), 0) FROM agent_spend), "
	    "(SELECT count(*) FROM " OWN_RES " WHERE status = 'settled'), "
	    "(SELECT count(*) FROM usage_windows), "
	    "(SELECT count(*) FROM usage_alerts))", 0, NULL);
}

static void
expect_unchanged(const struct tenant *t, int full, const char *before,
    const char *what)
{
	char	 now[512];

	stored(t, full, now, sizeof(now));
	if (strcmp(before, now) != 0)
		it_deferred_fail("%s stored something: %s before, %s after",
		    what, before, now);
}

/* A reservation of the tenant; its id into out (201 expected). */
static void
reserve(const struct tenant *t, const char *body, char *out, size_t outsz)
{
	struct it_resp	 r;

	call(&r, t->key, "POST", RESERVE, body);
	it_expect_status(&r, 201);
	it_copy_str(out, outsz, &r, "id");
	it_response_free(&r);
}

/* --- 1. bad input -------------------------------------------------------- */

/* The tenant the bad input is sent for, and another one. */
static struct tenant	 bad_a, bad_b;
static char		 bad_b_agent[64], bad_b_res[64];

static void
bad_tenants(void)
{
	if (bad_a.id[0] != '\0')
		return;
	tenant_new(&bad_a, "bad-a", NULL);
	tenant_new(&bad_b, "bad-b", NULL);
	agent_new(&bad_b, NULL, NULL, bad_b_agent, sizeof(bad_b_agent));
	reserve(&bad_b, "{\"metric\":\"api_calls\",\"quantity\":3}",
	    bad_b_res, sizeof(bad_b_res));
}

/* One bad event of a kind valid.c refuses, and the code it gets. */
struct bad_case {
	const char	*name;
	const char	*event;		/* "%s": the id; NULL: built */
	const char	*code;
};

static char	 bad_long_id[256], bad_old[256], bad_ahead[256];
static char	 bad_other[256];

static const struct bad_case	 bad_cases[] = {
	{ "bad event: missing id", "{\"metric\":\"api_calls\",\"value\":1}",
	    "missing_parameter" },
	{ "bad event: 129-character id", bad_long_id, "invalid_value" },
	{ "bad event: empty id", "{\"id\":\"\",\"metric\":\"api_calls\","
	    "\"value\":1}", "invalid_value" },
	{ "bad event: unknown metric", "{\"id\":\"%s\",\"metric\":\"bytes\","
	    "\"value\":1}", "invalid_value" },
	{ "bad event: negative value", "{\"id\":\"%s\",\"metric\":"
	    "\"api_calls\",\"value\":-1}", "invalid_value" },
	{ "bad event: fractional value", "{\"id\":\"%s\",\"metric\":"
	    "\"api_calls\",\"value\":1.5}", "invalid_value" },
	{ "bad event: string value", "{\"id\":\"%s\",\"metric\":"
	    "\"api_calls\",\"value\":\"5\"}", "invalid_value" },
	{ "bad event: value 2^63", "{\"id\":\"%s\",\"metric\":\"api_calls\","
	    "\"value\":9223372036854775808}", "invalid_value" },
	{ "bad event: missing value", "{\"id\":\"%s\",\"metric\":"
	    "\"api_calls\"}", "missing_parameter" },
	{ "bad event: timestamp 36 days old", bad_old, "timestamp_too_old" },
	{ "bad event: timestamp 6 minutes ahead", bad_ahead,
	    "timestamp_in_future" },
	{ "bad event: another tenant named", bad_other, "tenant_mismatch" },
	{ "bad event: unknown field", "{\"id\":\"%s\",\"metric\":"
	    "\"api_calls\",\"value\":1,\"colour\":\"red\"}",
	    "unknown_parameter" },
	{ "bad event: cached past prompt", "{\"id\":\"%s\",\"metric\":"
	    "\"llm_tokens\",\"value\":1,\"properties\":{\"provider\":"
	    "\"openai\",\"model\":\"gpt-4o\",\"prompt_tokens\":1,"
	    "\"cached_tokens\":2}}", "invalid_value" },
};

/* The events that need the time or the other tenant, made at run time. */
static void
bad_cases_build(void)
{
	char	 ts[64], id[130];

	memset(id, 'x', 129);
	id[129] = '\0';
	snprintf(bad_long_id, sizeof(bad_long_id), "{\"id\":\"%s\",\"metric\":"
	    "\"api_calls\",\"value\":1}", id);
	ts_at(ts, sizeof(ts), -36LL * 86400);
	snprintf(bad_old, sizeof(bad_old), "{\"id\":\"%%s\",\"metric\":"
	    "\"api_calls\",\"value\":1,\"timestamp\":\"%s\"}", ts);
	ts_at(ts, sizeof(ts), 6 * 60);
	snprintf(bad_ahead, sizeof(bad_ahead), "{\"id\":\"%%s\",\"metric\":"
	    "\"api_calls\",\"value\":1,\"timestamp\":\"%s\"}", ts);
}

/* The template with its first "%s" replaced by the id. */
static void
subst_id(char *out, size_t outsz, const char *tmpl, const char *id)
{
	const char	*p = strstr(tmpl, "%s");

	if (p == NULL)
		snprintf(out, outsz, "%s", tmpl);
	else
		snprintf(out, outsz, "%.*s%s%s", (int)(p - tmpl), tmpl, id,
		    p + 2);
}

/*
 * [good, bad, good]: 400 listing index 1 with its code, nothing stored;
 * then the good events alone are taken (the refusal kept none of their
 * ids).
 */
static void
test_bad_event(void **state)
{
	const struct bad_case	*c = *state;
	struct it_resp		 r;
	struct sb		 b = { 0 };
	char			 before[512], good0[64], good2[64], bad[1024];
	size_t			 one = 1, zero = 0;

	bad_tenants();
	if (c->event == bad_other)
		snprintf(bad_other, sizeof(bad_other), "{\"id\":\"%%s\","
		    "\"metric\":\"api_calls\",\"value\":1,\"tenant_id\":"
		    "\"%s\"}", bad_b.id);
	snprintf(good0, sizeof(good0), "%s", uid("good"));
	snprintf(good2, sizeof(good2), "%s", uid("good"));
	subst_id(bad, sizeof(bad), c->event, uid("bad"));
	stored(&bad_a, 0, before, sizeof(before));

	sb_add(&b, "{\"events\":[%s,%s,", ev(good0, "api_calls", 1, ""), bad);
	sb_add(&b, "%s]}", ev(good2, "messages", 2, ""));
	post_events(&r, bad_a.key, b.p);
	expect_bad_indices(&r, &one, 1, c->code, c->name);
	it_response_free(&r);
	sb_free(&b);

	sb_add(&b, "{\"events\":[%s]}", bad);
	post_events(&r, bad_a.key, b.p);
	expect_bad_indices(&r, &zero, 1, c->code, c->name);
	it_response_free(&r);
	sb_free(&b);
	expect_unchanged(&bad_a, 0, before, c->name);

	sb_add(&b, "{\"events\":[%s,", ev(good0, "api_calls", 1, ""));
	sb_add(&b, "%s]}", ev(good2, "messages", 2, ""));
	post_events(&r, bad_a.key, b.p);
	expect_taken(&r, 2, 0, "the good events alone");
	it_response_free(&r);
	sb_free(&b);
	it_deferred_check();
}

/* Several bad events among good ones: each bad index listed, in order. */
static void
test_bad_several(void **state)
{
	static const size_t	 want[] = { 0, 3, 4, 9 };
	struct it_resp		 r;
	struct sb		 b = { 0 };
	char			 before[512], id128[129];
	size_t			 i;

	(void)state;
	bad_tenants();
	stored(&bad_a, 0, before, sizeof(before));
	memset(id128, 'y', 128);
	id128[128] = '\0';
	sb_add(&b, "{\"events\":[");
	for (i = 0; i < 12; i++) {
		if (i > 0)
			sb_add(&b, ",");
		if (i == 0)
			sb_add(&b, "{\"metric\":\"api_calls\",\"value\":1}");
		else if (i == 3)
			sb_add(&b, "%s", ev(uid("bad"), "api_calls", -5, ""));
		else if (i == 4)
			sb_add(&b, "%s", ev(uid("bad"), "tokens", 1, ""));
		else if (i == 9)
			sb_add(&b, "\"not an object\"");
		else if (i == 5)	/* the longest id there may be */
			sb_add(&b, "%s", ev(id128, "api_calls", 0, ""));
		else
			sb_add(&b, "%s", ev(uid("good"), "api_calls", 1, ""));
	}
	sb_add(&b, "]}");
	post_events(&r, bad_a.key, b.p);
	expect_bad_indices(&r, want, sizeof(want) / sizeof(want[0]), NULL,
	    "4 bad events of 12");
	it_response_free(&r);
	sb_free(&b);
	expect_unchanged(&bad_a, 0, before, "4 bad events of 12");
	if (sql_num(&bad_a, "SELECT count(*) FROM usage_event_ids WHERE "
	    "event_id = $1", id128, NULL) != 0)
		it_deferred_fail("a refused batch kept the id of a good event");
	it_deferred_check();
}

/* No events, 1,001 events, no array: 400 naming "events". */
static void
test_bad_batch_size(void **state)
{
	struct it_resp	 r;
	struct sb	 b = { 0 };
	char		 before[512];
	size_t		 i;

	(void)state;
	bad_tenants();
	stored(&bad_a, 0, before, sizeof(before));
	post_events(&r, bad_a.key, "{\"events\":[]}");
	it_expect_code(&r, 400, "invalid_value", "an empty batch");
	expect_param(&r, "events", "an empty batch");
	it_response_free(&r);
	post_events(&r, bad_a.key, "{}");
	it_expect_code(&r, 400, "missing_parameter", "no events");
	it_response_free(&r);
	post_events(&r, bad_a.key, "{\"events\":{}}");
	it_expect_code(&r, 400, "missing_parameter", "events not an array");
	it_response_free(&r);

	sb_add(&b, "{\"events\":[");
	for (i = 0; i < 1001; i++)
		sb_add(&b, "%s%s", i > 0 ? "," : "", ev(uid("many"),
		    "api_calls", 0, ""));
	sb_add(&b, "]}");
	call_on(NULL, &r, bad_a.key, "POST", EVENTS, b.p);
	print_message("# 1,001 events: %ld %.200s\n", r.status, r.body);
	it_expect_code(&r, 400, "invalid_value", "1,001 events");
	expect_param(&r, "events", "1,001 events");
	it_response_free(&r);
	sb_free(&b);
	expect_unchanged(&bad_a, 0, before, "a bad batch");

	/* 1,000 is the most, and taken (value 0: no quota spent). */
	sb_add(&b, "{\"events\":[");
	for (i = 0; i < 1000; i++)
		sb_add(&b, "%s%s", i > 0 ? "," : "", ev(uid("thousand"),
		    "api_calls", 0, ""));
	sb_add(&b, "]}");
	call_on(NULL, &r, bad_a.key, "POST", EVENTS, b.p);
	expect_taken(&r, 1000, 0, "1,000 events");
	it_response_free(&r);
	sb_free(&b);
	it_deferred_check();
}

/*
 * Bodies over 1 MiB: 413.  One just over it (valid JSON, padded with
 * blanks) reaches tollgate, which answers its JSON error; 1,000 events
 * of 64 KiB of properties each (64 MiB) may be stopped by the web
 * server already.  Nothing stored either way.
 */
static void
test_bad_too_large(void **state)
{
	struct it_resp	 r;
	struct sb	 b = { 0 };
	char		 before[512], *pad;
	size_t		 i;

	(void)state;
	bad_tenants();
	stored(&bad_a, 0, before, sizeof(before));
	pad = it_alloc(64 * 1024 + 1);
	memset(pad, ' ', 1100);
	pad[1100] = '\0';
	sb_add(&b, "{\"events\":[");
	for (i = 0; i < 1000; i++)
		sb_add(&b, "%s%s%s", i > 0 ? "," : "", pad, ev(uid("pad"),
		    "api_calls", 1, ""));
	sb_add(&b, "]}");
	assert_true(b.len > 1024 * 1024 && b.len < 2 * 1024 * 1024);
	call_on(NULL, &r, bad_a.key, "POST", EVENTS, b.p);
	print_message("# %zu bytes: %ld %.200s\n", b.len, r.status, r.body);
	it_expect_code(&r, 413, "body_too_large", "a body of 1.05 MiB");
	it_response_free(&r);
	sb_free(&b);

	memset(pad, 'p', 64 * 1024);
	pad[64 * 1024] = '\0';
	sb_add(&b, "{\"events\":[");
	for (i = 0; i < 1000; i++)
		sb_add(&b, "%s{\"id\":\"%s\",\"metric\":\"api_calls\","
		    "\"value\":1,\"properties\":{\"channel_id\":\"%s\"}}",
		    i > 0 ? "," : "", uid("huge"), pad);
	sb_add(&b, "]}");
	free(pad);
	if (call_on(NULL, &r, bad_a.key, "POST", EVENTS, b.p) == -1)
		it_deferred_fail("64 MiB body: no answer: %s", r.error);
	print_message("# %zu bytes: %ld %.200s\n", b.len, r.status, r.body);
	if (r.status != 413)
		it_deferred_fail("64 MiB body: %ld, want 413", r.status);
	it_response_free(&r);
	sb_free(&b);
	expect_unchanged(&bad_a, 0, before, "a body over 1 MiB");
	it_deferred_check();
}

/*
 * A batch [good event, event with this one member]: 400 with the code
 * and parameter the database gives, nothing stored.
 */
static void
bad_db_case(const char *member, const char *metric, const char *code,
    const char *param, const char *what)
{
	struct it_resp	 r;
	struct sb	 b = { 0 };
	char		 before[512];

	stored(&bad_a, 0, before, sizeof(before));
	sb_add(&b, "{\"events\":[%s,", ev(uid("good"), metric, 1, ""));
	sb_add(&b, "%s]}", ev(uid("bad"), metric, 1, member));
	post_events(&r, bad_a.key, b.p);
	it_expect_code(&r, 400, code, what);
	expect_param(&r, param, what);
	it_response_free(&r);
	sb_free(&b);
	/* Alone too: the bad event first. */
	sb_add(&b, "{\"events\":[%s]}", ev(uid("bad"), metric, 1, member));
	post_events(&r, bad_a.key, b.p);
	it_expect_code(&r, 400, code, what);
	it_response_free(&r);
	sb_free(&b);
	expect_unchanged(&bad_a, 0, before, what);
}

/* Agents and reservations the tenant does not have: 400. */
static void
test_bad_unknown_refs(void **state)
{
	char	 m[128];

	(void)state;
	bad_tenants();
	bad_db_case("\"agent_id\":\"0b1e8d1c-6f3a-4c55-9a7e-2d4f1e0a9b77\"",
	    "agent_executions", "unknown_agent", "events[1].agent_id",
	    "an unknown agent");
	snprintf(m, sizeof(m), "\"agent_id\":\"%s\"", bad_b_agent);
	bad_db_case(m, "agent_executions", "unknown_agent",
	    "events[1].agent_id", "another tenant's agent");
	snprintf(m, sizeof(m), "\"reservation_id\":\"%s\"", bad_b_res);
	bad_db_case(m, "api_calls", "unknown_reservation",
	    "events[1].reservation_id", "another tenant's reservation");
	/* The other tenant's reservation is still held, unsettled. */
	if (sql_num(&bad_b, "SELECT count(*) FROM " OWN_RES " WHERE "
	    "reservation_id = $1 AND status = 'held'", bad_b_res, NULL) != 1)
		it_deferred_fail("another tenant's reservation was touched");
	it_deferred_check();
}

/*
 * The same after a good event that names an agent, a reservation or a
 * model of its own: the database's checks must look at every event of
 * the batch, not only the first that names one.
 */
static void
test_bad_refs_after_good(void **state)
{
	struct it_resp	 r;
	struct sb	 b = { 0 };
	char		 before[512], agent[64], res[64], m[128], am[128];
	char		 good[512];

	(void)state;
	bad_tenants();
	agent_new(&bad_a, NULL, NULL, agent, sizeof(agent));
	reserve(&bad_a, "{\"metric\":\"api_calls\",\"quantity\":2}", res,
	    sizeof(res));
	snprintf(am, sizeof(am), "\"agent_id\":\"%s\"", agent);
	stored(&bad_a, 0, before, sizeof(before));

	/* A new good event each time: a kept one would hide the next. */
	snprintf(good, sizeof(good), "%s", ev(uid("good"), "agent_executions",
	    1, am));
	sb_add(&b, "{\"events\":[%s,%s]}", good, ev(uid("bad"),
	    "agent_executions", 1, "\"agent_id\":\"0b1e8d1c-6f3a-4c55-9a7e-"
	    "2d4f1e0a9b77\""));
	post_events(&r, bad_a.key, b.p);
	it_expect_code(&r, 400, "unknown_agent", "an unknown agent after a "
	    "known one");
	expect_param(&r, "events[1].agent_id", "an unknown agent after a "
	    "known one");
	it_response_free(&r);
	sb_free(&b);

	snprintf(good, sizeof(good), "%s", ev(uid("good"), "agent_executions",
	    1, am));
	snprintf(m, sizeof(m), "\"reservation_id\":\"%s\"", bad_b_res);
	sb_add(&b, "{\"events\":[%s,%s]}", good, ev(uid("bad"), "api_calls",
	    1, m));
	post_events(&r, bad_a.key, b.p);
	it_expect_code(&r, 400, "unknown_reservation", "another tenant's "
	    "reservation after a known agent");
	it_response_free(&r);
	sb_free(&b);

	snprintf(good, sizeof(good), "%s", ev(uid("good"), "agent_executions",
	    1, am));
	sb_add(&b, "{\"events\":[%s,%s]}", good, ev(uid("bad"), "llm_tokens",
	    1, "\"properties\":{\"provider\":\"openai\",\"model\":"
	    "\"gpt-unknown\"}"));
	post_events(&r, bad_a.key, b.p);
	it_expect_code(&r, 400, "unknown_model", "an unknown model after a "
	    "known agent");
	it_response_free(&r);
	sb_free(&b);
	expect_unchanged(&bad_a, 0, before, "bad references after a good one");
	if (sql_num(&bad_b, "SELECT count(*) FROM " OWN_RES " WHERE "
	    "reservation_id = $1 AND status = 'held'", bad_b_res, NULL) != 1)
		it_deferred_fail("another tenant's reservation was touched");
	it_deferred_check();
}

/* Settling a reservation that is released, or expired: 400. */
static void
test_bad_not_held(void **state)
{
	struct it_resp	 r;
	char		 res[64], path[128], m[128];

	(void)state;
	bad_tenants();
	reserve(&bad_a, "{\"metric\":\"api_calls\",\"quantity\":2}", res,
	    sizeof(res));
	snprintf(path, sizeof(path), RESERVE "/%s", res);
	call(&r, bad_a.key, "DELETE", path, NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);
	snprintf(m, sizeof(m), "\"reservation_id\":\"%s\"", res);
	bad_db_case(m, "api_calls", "reservation_not_held",
	    "events[1].reservation_id", "a released reservation");

	reserve(&bad_a, "{\"metric\":\"api_calls\",\"quantity\":2,"
	    "\"ttl_seconds\":60}", res, sizeof(res));
	if (sql_num(&bad_a, "WITH u AS (UPDATE reservations SET expires_at = "
	    "now() - interval '1 second' WHERE reservation_id = $1 "
	    "RETURNING 1) SELECT count(*) FROM u", res, NULL) != 1)
		fail_msg("reservation %s not expired", res);
	snprintf(m, sizeof(m), "\"reservation_id\":\"%s\"", res);
	bad_db_case(m, "api_calls", "reservation_not_held",
	    "events[1].reservation_id", "an expired reservation");
	it_deferred_check();
}

/*
 * The platform key: events without tenant_id are refused (the first
 * one: the request names no tenant; a later one: listed); events of
 * two tenants in one batch are each counted under their own.
 */
static void
test_bad_platform(void **state)
{
	struct it_resp	 r;
	struct sb	 b = { 0 };
	char		 before[512], m[128];
	const char	*pk = it_env("TOLLGATE_PLATFORM_KEY");
	long long	 a0, b0;
	size_t		 one = 1;

	(void)state;
	bad_tenants();
	stored(&bad_a, 0, before, sizeof(before));
	sb_add(&b, "{\"events\":[%s]}", ev(uid("plat"), "messages", 1, ""));
	call(&r, pk, "POST", EVENTS, b.p);
	it_expect_code(&r, 400, "missing_parameter", "platform key, no tenant");
	expect_param(&r, "tenant_id", "platform key, no tenant");
	it_response_free(&r);
	sb_free(&b);

	snprintf(m, sizeof(m), "\"tenant_id\":\"%s\"", bad_a.id);
	sb_add(&b, "{\"events\":[%s,", ev(uid("plat"), "messages", 1, m));
	sb_add(&b, "%s]}", ev(uid("plat"), "messages", 1, ""));
	call(&r, pk, "POST", EVENTS, b.p);
	expect_bad_indices(&r, &one, 1, "missing_parameter", "platform key, "
	    "the second event without tenant");
	it_response_free(&r);
	sb_free(&b);
	expect_unchanged(&bad_a, 0, before, "platform events without tenant");

	a0 = used_of(&bad_a, "messages");
	b0 = used_of(&bad_b, "messages");
	sb_add(&b, "{\"events\":[%s,", ev(uid("plat"), "messages", 1, m));
	snprintf(m, sizeof(m), "\"tenant_id\":\"%s\"", bad_b.id);
	sb_add(&b, "%s,", ev(uid("plat"), "messages", 2, m));
	sb_add(&b, "%s]}", ev(uid("plat"), "messages", 4, m));
	call(&r, pk, "POST", EVENTS, b.p);
	expect_taken(&r, 3, 0, "platform key, two tenants");
	it_response_free(&r);
	sb_free(&b);
	if (used_of(&bad_a, "messages") != a0 + 1 ||
	    used_of(&bad_b, "messages") != b0 + 6)
		it_deferred_fail("two tenants' events: messages %lld and %lld, "
		    "want %lld and %lld", used_of(&bad_a, "messages"),
		    used_of(&bad_b, "messages"), a0 + 1, b0 + 6);
	it_deferred_check();
}

/* --- 2. dedup and conservation -------------------------------------------- */

#define D_EVENTS	4000	/* distinct events */
#define D_SEQ		1500	/* introduced by the sequential part */
#define D_THREADS	8
#define D_BATCH_MAX	200
#define D_TRIES		5	/* sends of a batch that failed (5xx) */

static const char *const	 d_metrics[] = {
	"api_calls", "agent_executions", "messages", "llm_tokens"
};
#define D_NMETRICS	(sizeof(d_metrics) / sizeof(d_metrics[0]))

struct d_event {
	char		 id[48];
	int		 metric;
	long long	 value;
	char		 ts[32];	/* "": none */
};

static struct d_event	*d_ev;
static struct tenant	 d_t;
static pthread_mutex_t	 d_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t		 d_next;	/* events introduced so far */

/* What one sender saw. */
struct d_sender {
	unsigned int	 seed;
	long long	 accepted;
	long long	 duplicates;
	long long	 sent;		/* events of the batches taken */
	long		 batches;
	long		 failures;	/* 5xx, transport: retried */
	long		 wrong;		/* other answers */
	char		 why[512];	/* the first of those */
};

static void
d_make_events(void)
{
	size_t		 i;
	unsigned int	 s = u_seed;

	d_ev = calloc(D_EVENTS, sizeof(*d_ev));
	if (d_ev == NULL)
		abort();
	for (i = 0; i < D_EVENTS; i++) {
		/* Ids of varied length and shape. */
		snprintf(d_ev[i].id, sizeof(d_ev[i].id), "%s%ld.%zu-%u",
		    rand_r(&s) % 2 ? "evt_" : "E", (long)getpid(), i,
		    (unsigned int)rand_r(&s) % 100000);
		d_ev[i].metric = rand_r(&s) % (int)D_NMETRICS;
		switch (rand_r(&s) % 4) {
		case 0:
			d_ev[i].value = rand_r(&s) % 3;	/* 0, 1, 2 */
			break;
		case 1:
			d_ev[i].value = rand_r(&s) % 1000;
			break;
		default:
			d_ev[i].value = (long long)rand_r(&s) % 1000000;
			break;
		}
		/* A fifth of them happened up to 30 days ago. */
		if (rand_r(&s) % 5 == 0)
			ts_at(d_ev[i].ts, sizeof(d_ev[i].ts),
			    -(long long)(rand_r(&s) % (30 * 86400)));
	}
}

/*
 * A batch of 1..200 events: mostly the next new ones, a quarter
 * repeats of any introduced so far (this batch's too).
 */
static size_t
d_pick(unsigned int *seed, size_t *idx)
{
	size_t	 k, n, i;

	pthread_mutex_lock(&d_mu);
	k = 1 + (size_t)rand_r(seed) % D_BATCH_MAX;
	for (n = 0; n < k; n++) {
		if ((d_next > 0 && rand_r(seed) % 4 == 0) || d_next ==
		    D_EVENTS)
			i = (size_t)rand_r(seed) % d_next;
		else
			i = d_next++;
		idx[n] = i;
	}
	pthread_mutex_unlock(&d_mu);
	return k;
}

static char *
d_body(const size_t *idx, size_t k)
{
	struct sb	 b = { 0 };
	size_t		 n;
	const struct d_event *e;

	sb_add(&b, "{\"events\":[");
	for (n = 0; n < k; n++) {
		e = &d_ev[idx[n]];
		sb_add(&b, "%s{\"id\":\"%s\",\"metric\":\"%s\",\"value\":%lld",
		    n > 0 ? "," : "", e->id, d_metrics[e->metric], e->value);
		if (e->ts[0] != '\0')
			sb_add(&b, ",\"timestamp\":\"%s\"", e->ts);
		sb_add(&b, "}");
	}
	sb_add(&b, "]}");
	return b.p;
}

/*
 * Send a batch until it is taken (a 5xx or a lost answer is retried, as
 * a client would: a batch is all or nothing, a retry is safe).  The
 * number accepted, or -1 when it never was taken.
 */
static long long
d_send(CURL *h, struct d_sender *s, const char *body, size_t k)
{
	struct it_resp		 r;
	struct json_object	*j, *a, *d;
	long long		 acc = -1;
	int			 try;

	for (try = 0; try < D_TRIES; try++) {
		if (call_on(h, &r, d_t.key, "POST", EVENTS, body) == -1 ||
		    r.status >= 500) {
			if (s->failures++ == 0 && s->why[0] == '\0')
				snprintf(s->why, sizeof(s->why), "%ld %.100s %.300s",
				    r.status, r.error, r.body);
			it_response_free(&r);
			continue;
		}
		j = r.status == 200 ? json_tokener_parse(r.body) : NULL;
		if (j == NULL || !json_object_object_get_ex(j, "accepted",
		    &a) || !json_object_object_get_ex(j, "duplicates", &d) ||
		    json_object_get_int64(a) + json_object_get_int64(d) !=
		    (long long)k) {
			if (s->wrong++ == 0)
				snprintf(s->why, sizeof(s->why), "%zu events: "
				    "%ld %.300s", k, r.status, r.body);
		} else {
			acc = json_object_get_int64(a);
			s->accepted += acc;
			s->duplicates += json_object_get_int64(d);
			s->sent += (long long)k;
			s->batches++;
		}
		json_object_put(j);
		it_response_free(&r);
		break;
	}
	return acc;
}

static void *
d_thread(void *arg)
{
	struct d_sender	*s = arg;
	CURL		*h = curl_easy_init();
	size_t		 idx[D_BATCH_MAX], k;
	char		*body;

	for (;;) {
		pthread_mutex_lock(&d_mu);
		k = d_next;
		pthread_mutex_unlock(&d_mu);
		if (k == D_EVENTS)
			break;
		k = d_pick(&s->seed, idx);
		body = d_body(idx, k);
		d_send(h, s, body, k);
		if (rand_r(&s->seed) % 8 == 0)	/* retried whole */
			d_send(h, s, body, k);
		free(body);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void
d_report(const struct d_sender *s, const char *who)
{
	if (s->failures > 0)
		it_deferred_fail("%s: %ld batch(es) failed (5xx or no answer) "
		    "and were retried; first: %s", who, s->failures, s->why);
	if (s->wrong > 0)
		it_deferred_fail("%s: %ld batch(es) answered wrongly; first: %s",
		    who, s->wrong, s->why);
}

/*
 * Thousands of random events in random batches, with repeats inside and
 * across batches and whole batches retried, first one at a time (each
 * answer's accepted and duplicates are then known exactly), then from 8
 * threads at once.  Each id counts once: the counters equal the sum of
 * the distinct events, per metric.
 */
static void
test_dedup_conservation(void **state)
{
	struct d_sender	 seq, par[D_THREADS];
	pthread_t	 th[D_THREADS];
	unsigned char	*seen;
	size_t		 idx[D_BATCH_MAX], k, n, fresh;
	long long	 want[D_NMETRICS], acc, total_acc, total_dup, total_sent;
	long long	 got, nev;
	char		*body, tag[64];
	unsigned int	 i;

	(void)state;
	tenant_new(&d_t, "dedup", "team");
	d_make_events();
	memset(want, 0, sizeof(want));
	for (n = 0; n < D_EVENTS; n++)
		want[d_ev[n].metric] += d_ev[n].value;

	/* One at a time: each answer is known. */
	memset(&seq, 0, sizeof(seq));
	seq.seed = u_seed ^ 0x5eed;
	seen = calloc(D_EVENTS, 1);
	if (seen == NULL)
		abort();
	while (d_next < D_SEQ) {
		k = d_pick(&seq.seed, idx);
		for (n = 0, fresh = 0; n < k; n++)
			if (!seen[idx[n]]) {
				seen[idx[n]] = 1;
				fresh++;
			}
		body = d_body(idx, k);
		acc = d_send(NULL, &seq, body, k);
		if (acc != -1 && acc != (long long)fresh)
			it_deferred_fail("a batch of %zu with %zu new events: "
			    "%lld accepted", k, fresh, acc);
		if (rand_r(&seq.seed) % 4 == 0) {
			acc = d_send(NULL, &seq, body, k);
			if (acc != 0)
				it_deferred_fail("a batch of %zu sent again: "
				    "%lld accepted, want 0", k, acc);
		}
		free(body);
	}
	free(seen);
	print_message("# one at a time: %ld batches, %lld events sent, %lld "
	    "accepted\n", seq.batches, seq.sent, seq.accepted);
	d_report(&seq, "one at a time");

	/* The rest from 8 threads. */
	for (i = 0; i < D_THREADS; i++) {
		memset(&par[i], 0, sizeof(par[i]));
		par[i].seed = u_seed + 7919 * (i + 1);
		assert_int_equal(pthread_create(&th[i], NULL, d_thread,
		    &par[i]), 0);
	}
	total_acc = seq.accepted;
	total_dup = seq.duplicates;
	total_sent = seq.sent;
	for (i = 0; i < D_THREADS; i++) {
		pthread_join(th[i], NULL);
		snprintf(tag, sizeof(tag), "thread %u", i);
		d_report(&par[i], tag);
		total_acc += par[i].accepted;
		total_dup += par[i].duplicates;
		total_sent += par[i].sent;
		print_message("# thread %u: %ld batches, %lld events sent, "
		    "%lld accepted\n", i, par[i].batches, par[i].sent,
		    par[i].accepted);
	}

	if (total_acc != D_EVENTS)
		it_deferred_fail("%lld events accepted in all, want %d "
		    "(each distinct id once)", total_acc, D_EVENTS);
	if (total_acc + total_dup != total_sent)
		it_deferred_fail("accepted %lld + duplicates %lld != %lld sent",
		    total_acc, total_dup, total_sent);
	for (i = 0; i < D_NMETRICS; i++) {
		got = used_of(&d_t, d_metrics[i]);
		print_message("# %s: counted %lld, sum of the distinct events "
		    "%lld\n", d_metrics[i], got, want[i]);
		if (got != want[i])
			it_deferred_fail("%s: counters %lld, distinct events "
			    "sum to %lld", d_metrics[i], got, want[i]);
		got = sql_num(&d_t, "SELECT coalesce(sum(value), 0) FROM "
		    "usage_events WHERE metric = $1", d_metrics[i], NULL);
		if (got != want[i])
			it_deferred_fail("%s: usage_events sum to %lld, want "
			    "%lld", d_metrics[i], got, want[i]);
	}
	nev = sql_num(&d_t, "SELECT count(*) FROM usage_event_ids", NULL,
	    NULL);
	if (nev != D_EVENTS)
		it_deferred_fail("%lld event ids stored, want %d", nev,
		    D_EVENTS);
	nev = sql_num(&d_t, "SELECT count(*) FROM usage_events", NULL, NULL);
	if (nev != D_EVENTS)
		it_deferred_fail("%lld events stored, want %d", nev, D_EVENTS);
	free(d_ev);
	d_ev = NULL;
	it_deferred_check();
}

/* --- 3. races on a limit ------------------------------------------------- */

#define R_THREADS	64
#define R_MAX		5000	/* a thread's reservations, a runaway stop */

struct racer {
	const char	*key;
	const char	*body;
	long		 admitted;
	long		 last;		/* the status that ended it */
	char		 code[64];
	char		 why[256];
};

/* Reserve until refused. */
static void *
race_reserve(void *arg)
{
	struct racer		*x = arg;
	struct it_resp		 r;
	struct json_object	*j, *c;
	CURL			*h = curl_easy_init();

	while (x->admitted < R_MAX) {
		if (call_on(h, &r, x->key, "POST", RESERVE, x->body) == -1) {
			x->last = 0;
			snprintf(x->why, sizeof(x->why), "%s", r.error);
			it_response_free(&r);
			break;
		}
		x->last = r.status;
		if (r.status == 201) {
			x->admitted++;
			it_response_free(&r);
			continue;
		}
		j = json_tokener_parse(r.body);
		if (j != NULL && json_object_object_get_ex(j, "error", &c) &&
		    json_object_object_get_ex(c, "code", &c))
			snprintf(x->code, sizeof(x->code), "%s",
			    json_object_get_string(c));
		snprintf(x->why, sizeof(x->why), "%.250s", r.body);
		json_object_put(j);
		it_response_free(&r);
		break;
	}
	curl_easy_cleanup(h);
	return NULL;
}

/* 64 threads reserve one body until refused: the number admitted. */
static long
race(const char *key, const char *body, const char *code)
{
	struct racer	 x[R_THREADS];
	pthread_t	 th[R_THREADS];
	long		 total = 0;
	int		 i;

	for (i = 0; i < R_THREADS; i++) {
		memset(&x[i], 0, sizeof(x[i]));
		x[i].key = key;
		x[i].body = body;
		assert_int_equal(pthread_create(&th[i], NULL, race_reserve,
		    &x[i]), 0);
	}
	for (i = 0; i < R_THREADS; i++) {
		pthread_join(th[i], NULL);
		total += x[i].admitted;
		if (x[i].last != 429 || strcmp(x[i].code, code) != 0)
			it_deferred_fail("racer %d ended with %ld %s, want 429 "
			    "%s: %s", i, x[i].last, x[i].code, code, x[i].why);
	}
	return total;
}

/*
 * A free tenant's api_calls (1,000 soft, 20 % grace: 1,200): 64 threads
 * reserving 1 each until refused hold exactly what the limit leaves.
 */
static void
test_race_quota(void **state)
{
	struct tenant	 t;
	struct it_resp	 r;
	long		 admitted;
	long long	 used, held;

	(void)state;
	tenant_new(&t, "race", NULL);
	post_one(&r, &t, ev(uid("pre"), "api_calls", 137, ""));
	expect_taken(&r, 1, 0, "the usage before");
	it_response_free(&r);
	admitted = race(t.key, "{\"metric\":\"api_calls\",\"quantity\":1}",
	    "quota_exceeded");
	used = used_of(&t, "api_calls");
	held = reserved_of(&t, "api_calls");
	print_message("# admitted %ld; used %lld, reserved %lld\n", admitted,
	    used, held);
	if (admitted != FREE_API_LIMIT - 137)
		it_deferred_fail("%ld reservations admitted, want exactly %d",
		    admitted, FREE_API_LIMIT - 137);
	if (used != 137 || held != admitted)
		it_deferred_fail("counter used %lld reserved %lld, want 137 and "
		    "%ld", used, held, admitted);
	held = sql_num(&t, "SELECT count(*) FROM " OWN_RES " WHERE status = "
	    "'held'", NULL, NULL);
	if (held != admitted)
		it_deferred_fail("%lld reservations held, %ld admitted", held,
		    admitted);
	it_deferred_check();
}

/*
 * An agent with a blocking budget of 1,000 micro-USD on a team tenant
 * (no quota caps there): 64 threads reserving 10 each until refused
 * hold exactly 100 reservations.
 */
static void
test_race_budget(void **state)
{
	struct tenant	 t;
	char		 agent[64], body[256];
	long		 admitted;
	long long	 held;

	(void)state;
	tenant_new(&t, "budget", "team");
	agent_new(&t, "1000", "block", agent, sizeof(agent));
	snprintf(body, sizeof(body), "{\"metric\":\"agent_executions\","
	    "\"quantity\":1,\"agent_id\":\"%s\",\"estimated_cost_micros\":10}",
	    agent);
	admitted = race(t.key, body, "budget_exceeded");
	held = sql_num(&t, "SELECT coalesce(sum(reserved_micros), 0) FROM "
	    "agent_spend WHERE agent_id = $1", agent, NULL);
	print_message("# admitted %ld; %lld micro-USD held\n", admitted, held);
	if (admitted != 100)
		it_deferred_fail("%ld reservations admitted, want exactly 100",
		    admitted);
	if (held != admitted * 10 || held > 1000)
		it_deferred_fail("agent holds %lld micro-USD, want %ld", held,
		    admitted * 10);
	if (reserved_of(&t, "agent_executions") != admitted)
		it_deferred_fail("agent_executions reserved %lld, want %ld "
		    "(a refused hold must not stay in the counter)",
		    reserved_of(&t, "agent_executions"), admitted);
	it_deferred_check();
}

/* --- 4. reservations ------------------------------------------------------ */

static void
test_reservations(void **state)
{
	struct tenant	 t, other;
	struct it_resp	 r;
	char		 id[64], id2[64], path[128], m[512], settle[1536];
	char		 agent[64];
	long long	 exp, now;

	(void)state;
	tenant_new(&t, "res", NULL);
	tenant_new(&other, "res-other", NULL);

	/* Held: 201 {id, expires_at}, the counter's reserved grows. */
	call(&r, t.key, "POST", RESERVE, "{\"metric\":\"api_calls\","
	    "\"quantity\":50,\"ttl_seconds\":120}");
	it_expect_status(&r, 201);
	it_copy_str(id, sizeof(id), &r, "id");
	now = (long long)time(NULL);
	exp = epoch_of(it_json_str(it_json(&r), "expires_at"));
	if (exp < now + 110 || exp > now + 130)
		it_deferred_fail("expires_at %s is not 120 s ahead",
		    it_json_str(it_json(&r), "expires_at"));
	if (jint(&r, "remaining", -1) != FREE_API_LIMIT - 50)
		it_deferred_fail("remaining %lld, want %d", jint(&r,
		    "remaining", -1), FREE_API_LIMIT - 50);
	it_response_free(&r);
	if (reserved_of(&t, "api_calls") != 50 || used_of(&t, "api_calls")
	    != 0)
		it_deferred_fail("after the hold: reserved %lld used %lld, want "
		    "50 and 0", reserved_of(&t, "api_calls"), used_of(&t,
		    "api_calls"));

	/* Settled by an event: the actual 30 replaces the hold of 50. */
	snprintf(m, sizeof(m), "\"reservation_id\":\"%s\"", id);
	snprintf(settle, sizeof(settle), "{\"events\":[%s]}",
	    ev(uid("settle"), "api_calls", 30, m));
	post_events(&r, t.key, settle);
	expect_taken(&r, 1, 0, "the settling event");
	it_response_free(&r);
	if (reserved_of(&t, "api_calls") != 0 || used_of(&t, "api_calls") !=
	    30)
		it_deferred_fail("after settling: reserved %lld used %lld, want "
		    "0 and 30", reserved_of(&t, "api_calls"), used_of(&t,
		    "api_calls"));
	if (sql_num(&t, "SELECT count(*) FROM " OWN_RES " WHERE "
	    "reservation_id = $1 AND status = 'settled'", id, NULL) != 1)
		it_deferred_fail("the reservation is not settled");
	/* The same batch again is a duplicate, not a second settlement. */
	post_events(&r, t.key, settle);
	expect_taken(&r, 0, 1, "the settling event again");
	it_response_free(&r);
	/* Another event cannot settle it again. */
	post_one(&r, &t, ev(uid("settle"), "api_calls", 5, m));
	it_expect_code(&r, 400, "reservation_not_held", "settled twice");
	it_response_free(&r);
	snprintf(path, sizeof(path), RESERVE "/%s", id);
	call(&r, t.key, "DELETE", path, NULL);
	it_expect_code(&r, 409, "reservation_not_held", "releasing a settled "
	    "reservation");
	it_response_free(&r);
	if (reserved_of(&t, "api_calls") != 0 || used_of(&t, "api_calls") !=
	    30)
		it_deferred_fail("counters moved: reserved %lld used %lld",
		    reserved_of(&t, "api_calls"), used_of(&t, "api_calls"));

	/* Released: 204, the hold given back; again: 409. */
	reserve(&t, "{\"metric\":\"api_calls\",\"quantity\":40}", id2,
	    sizeof(id2));
	if (reserved_of(&t, "api_calls") != 40)
		it_deferred_fail("reserved %lld, want 40",
		    reserved_of(&t, "api_calls"));
	snprintf(path, sizeof(path), RESERVE "/%s", id2);
	call(&r, other.key, "DELETE", path, NULL);
	it_expect_code(&r, 404, "not_found", "another tenant's reservation");
	it_response_free(&r);
	call(&r, t.key, "DELETE", path, NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);
	if (reserved_of(&t, "api_calls") != 0 || used_of(&t, "api_calls") !=
	    30)
		it_deferred_fail("after the release: reserved %lld used %lld, "
		    "want 0 and 30", reserved_of(&t, "api_calls"),
		    used_of(&t, "api_calls"));
	call(&r, t.key, "DELETE", path, NULL);
	it_expect_code(&r, 409, "reservation_not_held", "released twice");
	it_response_free(&r);
	call(&r, t.key, "DELETE", RESERVE "/4a1c4a57-9d0e-4d35-8f0f-"
	    "1d2d3c4b5a69", NULL);
	it_expect_code(&r, 404, "not_found", "an unknown reservation");
	it_response_free(&r);
	call(&r, t.key, "DELETE", RESERVE "/not-a-uuid", NULL);
	it_expect_code(&r, 404, "not_found", "a malformed reservation id");
	it_response_free(&r);
	if (reserved_of(&t, "api_calls") != 0)
		it_deferred_fail("reserved %lld, want 0",
		    reserved_of(&t, "api_calls"));

	/* A reservation settles only with its own metric. */
	reserve(&t, "{\"metric\":\"api_calls\",\"quantity\":5}", id2,
	    sizeof(id2));
	snprintf(m, sizeof(m), "\"reservation_id\":\"%s\"", id2);
	post_one(&r, &t, ev(uid("settle"), "messages", 5, m));
	it_expect_code(&r, 400, "reservation_metric", "another metric");
	it_response_free(&r);

	/* Bad reservations. */
	call(&r, t.key, "POST", RESERVE, "{\"metric\":\"bytes\","
	    "\"quantity\":1}");
	it_expect_code(&r, 400, "invalid_value", "an unknown metric");
	it_response_free(&r);
	call(&r, t.key, "POST", RESERVE, "{\"metric\":\"api_calls\","
	    "\"quantity\":0}");
	it_expect_code(&r, 400, "invalid_value", "quantity 0");
	it_response_free(&r);
	call(&r, t.key, "POST", RESERVE, "{\"metric\":\"api_calls\","
	    "\"quantity\":1,\"ttl_seconds\":3601}");
	it_expect_code(&r, 400, "invalid_value", "a TTL over an hour");
	it_response_free(&r);
	call(&r, t.key, "POST", RESERVE, "{\"metric\":\"api_calls\","
	    "\"quantity\":1,\"agent_id\":\"4a1c4a57-9d0e-4d35-8f0f-"
	    "1d2d3c4b5a69\"}");
	it_expect_code(&r, 400, "unknown_agent", "an unknown agent");
	it_response_free(&r);

	/*
	 * An agent's hold of cost: settled by the LLM event, the agent's
	 * reserved micro-USD go back and its cost is the event's.
	 */
	agent_new(&t, "1000000", "block", agent, sizeof(agent));
	snprintf(m, sizeof(m), "{\"metric\":\"llm_tokens\",\"quantity\":2000,"
	    "\"agent_id\":\"%s\",\"estimated_cost_micros\":9000}", agent);
	reserve(&t, m, id2, sizeof(id2));
	if (sql_num(&t, "SELECT reserved_micros FROM agent_spend WHERE "
	    "agent_id = $1", agent, NULL) != 9000)
		it_deferred_fail("the agent does not hold 9,000 micro-USD");
	snprintf(m, sizeof(m), "\"agent_id\":\"%s\",\"reservation_id\":\"%s\","
	    "\"properties\":{\"provider\":\"openai\",\"model\":\"gpt-4o\","
	    "\"prompt_tokens\":1000,\"completion_tokens\":500}", agent, id2);
	post_one(&r, &t, ev(uid("settle"), "llm_tokens", 1500, m));
	expect_taken(&r, 1, 0, "the agent's LLM event");
	it_response_free(&r);
	if (sql_num(&t, "SELECT reserved_micros FROM agent_spend WHERE "
	    "agent_id = $1", agent, NULL) != 0 || sql_num(&t, "SELECT "
	    "cost_micros FROM agent_spend WHERE agent_id = $1", agent, NULL) !=
	    7500)
		it_deferred_fail("agent spend after settling: reserved %lld "
		    "cost %lld, want 0 and 7500", sql_num(&t, "SELECT "
		    "reserved_micros FROM agent_spend WHERE agent_id = $1",
		    agent, NULL), sql_num(&t, "SELECT cost_micros FROM "
		    "agent_spend WHERE agent_id = $1", agent, NULL));
	if (reserved_of(&t, "llm_tokens") != 0 || used_of(&t, "llm_tokens") !=
	    1500)
		it_deferred_fail("llm_tokens reserved %lld used %lld, want 0 "
		    "and 1500", reserved_of(&t, "llm_tokens"), used_of(&t,
		    "llm_tokens"));
	it_deferred_check();
}

/* --- 5. the entitlement check --------------------------------------------- */

/* A check's answer must be this. */
static void
expect_verdict(const struct tenant *t, const char *body, int allowed,
    long long remaining, const char *reason, const char *what)
{
	struct it_resp		 r;
	struct json_object	*v;
	const char		*got;

	call(&r, t->key, "POST", CHECK, body);
	if (r.status != 200) {
		it_deferred_fail("%s: %ld, want 200: %.200s", what, r.status,
		    r.body);
		it_response_free(&r);
		return;
	}
	if (!it_json_get(it_json(&r), "allowed", &v) ||
	    !json_object_is_type(v, json_type_boolean) ||
	    json_object_get_boolean(v) != allowed)
		it_deferred_fail("%s: allowed is not %s", what, allowed ?
		    "true" : "false");
	if (remaining != -2) {
		if (!it_json_get(it_json(&r), "remaining", &v))
			it_deferred_fail("%s: no remaining", what);
		else if (remaining == -1 ? v != NULL : (v == NULL ||
		    json_object_get_int64(v) != remaining))
			it_deferred_fail("%s: remaining %s, want %lld", what,
			    v != NULL ? json_object_get_string(v) : "null",
			    remaining);
	}
	got = it_json_str(it_json(&r), "reason");
	if (reason == NULL ? got != NULL : (got == NULL || strcmp(got,
	    reason) != 0))
		it_deferred_fail("%s: reason %s, want %s", what, got != NULL ?
		    got : "null", reason != NULL ? reason : "null");
	it_response_free(&r);
}

static void
test_check(void **state)
{
	struct tenant	 t, team;
	struct it_resp	 r;
	char		 before[512], agent[64], alert[64], m[256], body[256];

	(void)state;
	tenant_new(&t, "check", NULL);
	post_one(&r, &t, ev(uid("pre"), "api_calls", 200, ""));
	expect_taken(&r, 1, 0, "the usage before");
	it_response_free(&r);
	agent_new(&t, "100", "block", agent, sizeof(agent));
	agent_new(&t, "100", "alert", alert, sizeof(alert));
	snprintf(m, sizeof(m), "\"agent_id\":\"%s\",\"properties\":"
	    "{\"cost_micros\":100}", agent);
	post_one(&r, &t, ev(uid("spent"), "agent_executions", 1, m));
	expect_taken(&r, 1, 0, "the blocking agent's spend");
	it_response_free(&r);
	snprintf(m, sizeof(m), "\"agent_id\":\"%s\",\"properties\":"
	    "{\"cost_micros\":150}", alert);
	post_one(&r, &t, ev(uid("spent"), "agent_executions", 1, m));
	expect_taken(&r, 1, 0, "the alerting agent's spend");
	it_response_free(&r);
	reserve(&t, "{\"metric\":\"api_calls\",\"quantity\":100}", m,
	    sizeof(m));
	stored(&t, 1, before, sizeof(before));

	/* 200 used + 100 held of 1,200: 900 left. */
	expect_verdict(&t, "{\"metric\":\"api_calls\",\"quantity\":10}", 1, 900,
	    NULL, "room");
	expect_verdict(&t, "{\"metric\":\"api_calls\",\"quantity\":900}", 1,
	    900, NULL, "exactly the room");
	expect_verdict(&t, "{\"metric\":\"api_calls\",\"quantity\":901}", 0,
	    900, "quota_exceeded", "past the limit");
	expect_verdict(&t, "{\"metric\":\"messages\",\"quantity\":0}", 1, 120,
	    NULL, "nothing used");
	snprintf(body, sizeof(body), "{\"metric\":\"agent_executions\","
	    "\"quantity\":1,\"agent_id\":\"%s\"}", agent);
	expect_verdict(&t, body, 0, -2, "budget_exceeded", "a spent blocking "
	    "budget");
	snprintf(body, sizeof(body), "{\"metric\":\"agent_executions\","
	    "\"quantity\":1,\"agent_id\":\"%s\"}", alert);
	expect_verdict(&t, body, 1, -2, NULL, "a spent alerting budget");
	expect_verdict(&t, "{\"metric\":\"agent_executions\",\"quantity\":1,"
	    "\"agent_id\":\"4a1c4a57-9d0e-4d35-8f0f-1d2d3c4b5a69\"}", 0, -2,
	    "unknown_agent", "an unknown agent");
	call(&r, t.key, "POST", CHECK, "{\"metric\":\"api_calls\"}");
	it_expect_code(&r, 400, "missing_parameter", "no quantity");
	it_response_free(&r);
	expect_unchanged(&t, 1, before, "the check");

	/* A team tenant's quotas are metered: allowed, no remaining. */
	tenant_new(&team, "check-team", "team");
	expect_verdict(&team, "{\"metric\":\"api_calls\",\"quantity\":"
	    "5000000}", 1, -1, NULL, "metered");
	it_deferred_check();
}

/* --- 6. LLM cost ---------------------------------------------------------- */

static long long
cost_of(const struct tenant *t, const char *id)
{
	return sql_num(t, "SELECT cost_micros FROM usage_events WHERE "
	    "event_id = $1", id, NULL);
}

/* An llm_tokens event with these properties; its cost stored. */
static long long
llm(const struct tenant *t, const char *agent, long long value,
    const char *props)
{
	struct it_resp	 r;
	char		 id[64], m[512];

	snprintf(id, sizeof(id), "%s", uid("llm"));
	snprintf(m, sizeof(m), "%s%s%s\"properties\":{%s}", agent != NULL ?
	    "\"agent_id\":\"" : "", agent != NULL ? agent : "", agent != NULL ?
	    "\"," : "", props);
	post_one(&r, t, ev(id, "llm_tokens", value, m));
	expect_taken(&r, 1, 0, props);
	it_response_free(&r);
	return cost_of(t, id);
}

static void
expect_cost(long long got, long long want, const char *what)
{
	if (got != want)
		it_deferred_fail("%s: cost %lld micro-USD, want %lld", what, got,
		    want);
}

static void
test_llm_cost(void **state)
{
	struct tenant	 t;
	struct it_resp	 r;
	char		 agent[64], before[512];
	long long	 c;

	(void)state;
	tenant_new(&t, "llm", "team");
	agent_new(&t, NULL, NULL, agent, sizeof(agent));

	/* gpt-4o: $2.50 / $10 per million: 1,000 + 500 tokens = 7,500. */
	c = llm(&t, agent, 1500, "\"provider\":\"openai\",\"model\":\"gpt-4o\","
	    "\"prompt_tokens\":1000,\"completion_tokens\":500");
	expect_cost(c, 7500, "gpt-4o 1000/500");
	if (sql_num(&t, "SELECT cost_micros FROM agent_spend WHERE agent_id = "
	    "$1", agent, NULL) != 7500 || sql_num(&t, "SELECT tokens FROM "
	    "agent_spend WHERE agent_id = $1", agent, NULL) != 1500)
		it_deferred_fail("agent_spend: cost %lld tokens %lld, want 7500 "
		    "and 1500", sql_num(&t, "SELECT cost_micros FROM agent_spend "
		    "WHERE agent_id = $1", agent, NULL), sql_num(&t, "SELECT "
		    "tokens FROM agent_spend WHERE agent_id = $1", agent,
		    NULL));
	/* 400 of the 1,000 prompt tokens cached, at $1.25: 7,000. */
	c = llm(&t, agent, 1500, "\"provider\":\"openai\",\"model\":\"gpt-4o\","
	    "\"prompt_tokens\":1000,\"cached_tokens\":400,"
	    "\"completion_tokens\":500");
	expect_cost(c, 7000, "gpt-4o 1000 (400 cached)/500");
	/* claude-sonnet-4: $3 / $15: 1,234 + 567 = 3,702 + 8,505. */
	c = llm(&t, NULL, 1801, "\"provider\":\"anthropic\",\"model\":"
	    "\"claude-sonnet-4\",\"prompt_tokens\":1234,"
	    "\"completion_tokens\":567");
	expect_cost(c, 12207, "claude-sonnet-4 1234/567");
	/* gpt-4o-mini, $0.15 per million: 3 tokens 0.45 -> 0, 4 -> 1. */
	c = llm(&t, NULL, 3, "\"provider\":\"openai\",\"model\":"
	    "\"gpt-4o-mini\",\"prompt_tokens\":3");
	expect_cost(c, 0, "gpt-4o-mini 3 tokens");
	c = llm(&t, NULL, 4, "\"provider\":\"openai\",\"model\":"
	    "\"gpt-4o-mini\",\"prompt_tokens\":4");
	expect_cost(c, 1, "gpt-4o-mini 4 tokens");
	/* An explicit cost is kept, priced model or not. */
	c = llm(&t, agent, 1500, "\"provider\":\"openai\",\"model\":\"gpt-4o\","
	    "\"prompt_tokens\":1000,\"completion_tokens\":500,"
	    "\"cost_micros\":1");
	expect_cost(c, 1, "gpt-4o with cost_micros 1");
	c = llm(&t, agent, 10, "\"provider\":\"acme\",\"model\":\"rocket-9\","
	    "\"prompt_tokens\":10,\"cost_micros\":4321");
	expect_cost(c, 4321, "an unpriced model with cost_micros");
	if (sql_num(&t, "SELECT cost_micros FROM agent_spend WHERE agent_id = "
	    "$1", agent, NULL) != 7500 + 7000 + 1 + 4321)
		it_deferred_fail("agent_spend cost %lld, want %d", sql_num(&t,
		    "SELECT cost_micros FROM agent_spend WHERE agent_id = $1",
		    agent, NULL), 7500 + 7000 + 1 + 4321);

	/* An unpriced model without a cost: 400, nothing stored. */
	stored(&t, 0, before, sizeof(before));
	post_one(&r, &t, ev(uid("llm"), "llm_tokens", 10, "\"properties\":"
	    "{\"provider\":\"openai\",\"model\":\"gpt-9-turbo\","
	    "\"prompt_tokens\":10}"));
	it_expect_code(&r, 400, "unknown_model", "an unknown model");
	expect_param(&r, "events[0].properties.model", "an unknown model");
	it_response_free(&r);
	expect_unchanged(&t, 0, before, "an unknown model");
	it_deferred_check();
}

/* --- 7. alerts ------------------------------------------------------------ */

/* Alerts and notifications of the messages quota, as "80:1,100:1". */
static void
alerts_of(const struct tenant *t, char *out, size_t outsz)
{
	it_owner_sql(out, outsz, t->id, "SELECT concat_ws(' ', "
	    "(SELECT string_agg(threshold || ':' || value || '/' || "
	    "limit_value, ',' ORDER BY threshold) FROM usage_alerts WHERE "
	    "subject = 'messages'), "
	    "'notified', (SELECT string_agg(trigger || '=' || n, ',' ORDER BY "
	    "trigger) FROM (SELECT trigger, count(*) AS n FROM notifications "
	    "WHERE tenant_id = app_tenant() AND trigger LIKE 'quota_%' AND "
	    "subject = 'messages' GROUP BY "
	    "trigger) x))", 0, NULL);
}

static void
messages(const struct tenant *t, long long n, const char *want)
{
	struct it_resp	 r;
	char		 got[512];

	post_one(&r, t, ev(uid("msg"), "messages", n, ""));
	expect_taken(&r, 1, 0, "messages");
	it_response_free(&r);
	alerts_of(t, got, sizeof(got));
	print_message("# messages used %lld: %s\n", used_of(t, "messages"),
	    got);
	if (strcmp(got, want) != 0)
		it_deferred_fail("messages at %lld: alerts \"%s\", want \"%s\"",
		    used_of(t, "messages"), got, want);
}

static void
test_alerts(void **state)
{
	struct tenant	 t;

	(void)state;
	tenant_new(&t, "alerts", NULL);
	messages(&t, 79, "notified");
	messages(&t, 1, "80:80/100 notified quota_80=1");
	messages(&t, 19, "80:80/100 notified quota_80=1");
	messages(&t, 1, "80:80/100,100:100/100 notified quota_100=1,"
	    "quota_80=1");
	messages(&t, 5, "80:80/100,100:100/100 notified quota_100=1,"
	    "quota_80=1");
	messages(&t, 15, "80:80/100,100:100/100,120:120/100 notified "
	    "quota_100=1,quota_120=1,quota_80=1");
	it_deferred_check();
}

/*
 * A threshold reached without a batch crossing it: usage that was little
 * on pro is past 80 % of free's quota after a downgrade, and the next
 * batch fires what is reached and has no alert yet (sql/022).
 */
static void
test_alerts_downgrade(void **state)
{
	struct tenant	 t;
	const char	*v[1];
	char		 n[16];

	(void)state;
	tenant_new(&t, "alerts-down", "pro");
	messages(&t, 90, "notified");
	v[0] = t.id;
	if (it_owner_sql(n, sizeof(n), t.id, "UPDATE tenants SET plan = "
	    "'free' WHERE tenant_id = $1", 1, v) != 1)
		fail_msg("the downgrade to free");
	messages(&t, 1, "80:91/100 notified quota_80=1");
	messages(&t, 1, "80:91/100 notified quota_80=1");
	it_deferred_check();
}

/* --- 8. refusal past a limit ---------------------------------------------- */

/* A 429 of metering: type, code, and the limit's numbers (SPEC 5). */
static void
expect_limit(struct it_resp *r, const char *code, const char *what)
{
	struct json_object	*v;
	const char		*type;

	it_expect_code(r, 429, code, what);
	if (r->status != 429)
		return;
	type = it_json_str(it_json(r), "error.type");
	if (type == NULL || strcmp(type, "quota_exceeded") != 0)
		it_deferred_fail("%s: error.type %s, want quota_exceeded "
		    "(SPEC 5)", what, type != NULL ? type : "(none)");
	if (!it_json_get(it_json(r), "error.limit", &v) ||
	    !it_json_get(it_json(r), "error.used", &v))
		it_deferred_fail("%s: the 429 lacks limit and used (SPEC 5): "
		    "%.300s", what, r->body);
}

static void
test_refusal(void **state)
{
	struct tenant	 t;
	struct it_resp	 r;
	struct sb	 b = { 0 };
	char		 before[512], id15[64], agent[64], m[256], res[64];

	(void)state;
	tenant_new(&t, "refuse", NULL);
	post_one(&r, &t, ev(uid("pre"), "agent_executions", 100, ""));
	expect_taken(&r, 1, 0, "100 of 120");
	it_response_free(&r);

	/* 100 + 15 + 6 = 121 > 120: refused whole. */
	stored(&t, 0, before, sizeof(before));
	snprintf(id15, sizeof(id15), "%s", uid("over"));
	sb_add(&b, "{\"events\":[%s,", ev(id15, "agent_executions", 15, ""));
	sb_add(&b, "%s]}", ev(uid("over"), "agent_executions", 6, ""));
	post_events(&r, t.key, b.p);
	expect_limit(&r, "quota_exceeded", "a batch past 120 %");
	it_response_free(&r);
	sb_free(&b);
	expect_unchanged(&t, 0, before, "a batch past 120 %");
	if (used_of(&t, "agent_executions") != 100)
		it_deferred_fail("agent_executions %lld, want 100",
		    used_of(&t, "agent_executions"));

	/* Up to the limit exactly is taken (the refused id too: not kept). */
	sb_add(&b, "{\"events\":[%s,", ev(id15, "agent_executions", 15, ""));
	sb_add(&b, "%s]}", ev(uid("fill"), "agent_executions", 5, ""));
	post_events(&r, t.key, b.p);
	expect_taken(&r, 2, 0, "up to 120 %");
	it_response_free(&r);
	sb_free(&b);
	stored(&t, 0, before, sizeof(before));
	post_one(&r, &t, ev(uid("over"), "agent_executions", 1, ""));
	expect_limit(&r, "quota_exceeded", "one past 120 %");
	it_response_free(&r);
	/* Value 0 passes nothing. */
	post_one(&r, &t, ev(uid("zero"), "agent_executions", 0, ""));
	expect_taken(&r, 1, 0, "0 at the limit");
	it_response_free(&r);

	/* Held reservations count: 1,150 + 50 held; 1 more is refused. */
	post_one(&r, &t, ev(uid("api"), "api_calls", 1150, ""));
	expect_taken(&r, 1, 0, "1,150 api_calls");
	it_response_free(&r);
	reserve(&t, "{\"metric\":\"api_calls\",\"quantity\":50}", res,
	    sizeof(res));
	stored(&t, 0, before, sizeof(before));
	post_one(&r, &t, ev(uid("api"), "api_calls", 1, ""));
	expect_limit(&r, "quota_exceeded", "past the limit with a hold");
	it_response_free(&r);
	call(&r, t.key, "POST", RESERVE, "{\"metric\":\"api_calls\","
	    "\"quantity\":1}");
	expect_limit(&r, "quota_exceeded", "a hold past the limit");
	it_response_free(&r);
	expect_unchanged(&t, 0, before, "past the limit with a hold");

	/* A blocking budget: 600 of 1,000 spent, 401 more refused. */
	agent_new(&t, "1000", "block", agent, sizeof(agent));
	snprintf(m, sizeof(m), "\"agent_id\":\"%s\",\"properties\":"
	    "{\"cost_micros\":600}", agent);
	post_one(&r, &t, ev(uid("spend"), "messages", 1, m));
	expect_taken(&r, 1, 0, "600 of 1,000");
	it_response_free(&r);
	stored(&t, 0, before, sizeof(before));
	snprintf(m, sizeof(m), "\"agent_id\":\"%s\",\"properties\":"
	    "{\"cost_micros\":401}", agent);
	post_one(&r, &t, ev(uid("spend"), "messages", 1, m));
	expect_limit(&r, "budget_exceeded", "past a blocking budget");
	it_response_free(&r);
	expect_unchanged(&t, 0, before, "past a blocking budget");
	if (sql_num(&t, "SELECT cost_micros FROM agent_spend WHERE agent_id = "
	    "$1", agent, NULL) != 600)
		it_deferred_fail("the agent's spend moved");
	it_deferred_check();
}

/* --- 9. the period's rollover --------------------------------------------- */

/* t as RFC 3339 UTC, and its calendar month as YYYY-MM. */
static void
ts_of(char *out, size_t outsz, time_t t)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
month_of(char *out, size_t outsz, time_t t)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m", &tm);
}

/* The start of the calendar month (UTC) holding t; months later. */
static time_t
month_start(time_t t, int months)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mon += months;
	return timegm(&tm);
}

/* One event of this metric and value at time at, as a one-event batch. */
static void
event_at(const struct tenant *t, const char *metric, long long value,
    time_t at, const char *what)
{
	struct it_resp	 r;
	char		 ts[32], m[64];

	ts_of(ts, sizeof(ts), at);
	snprintf(m, sizeof(m), "\"timestamp\":\"%s\"", ts);
	post_one(&r, t, ev(uid("at"), metric, value, at != 0 ? m : ""));
	expect_taken(&r, 1, 0, what);
	it_response_free(&r);
}

/* The tenant's counter of a metric in the period starting at start. */
static long long
used_in(const struct tenant *t, const char *metric, const char *start)
{
	return sql_num(t, "SELECT coalesce(sum(used), 0) FROM usage_counters "
	    "WHERE metric = $1 AND period_start = $2::timestamptz", metric,
	    start);
}

/* The member "metric" of the list at path whose "metric" is this. */
static struct json_object *
metric_in(struct it_resp *r, const char *list, const char *metric)
{
	struct json_object	*a, *x;
	const char		*s;
	size_t			 i;

	if (!it_json_get(it_json(r), list, &a) || a == NULL ||
	    !json_object_is_type(a, json_type_array))
		return NULL;
	for (i = 0; i < json_object_array_length(a); i++) {
		x = json_object_array_get_idx(a, i);
		s = it_json_str(x, "metric");
		if (s != NULL && strcmp(s, metric) == 0)
			return x;
	}
	return NULL;
}

/* An integer member of an object, or def. */
static long long
oint(struct json_object *o, const char *key, long long def)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return def;
	return json_object_get_int64(v);
}

/* The thresholds fired for messages in the period starting at start. */
static void
alerts_in(const struct tenant *t, const char *start, char *out,
    size_t outsz)
{
	const char	*v[1] = { start };

	it_owner_sql(out, outsz, t->id, "SELECT string_agg(threshold::text, "
	    "',' ORDER BY threshold) FROM usage_alerts WHERE subject = "
	    "'messages' AND period_start = $1::timestamptz", 1, v);
}

/*
 * A free tenant (no subscription: its periods are calendar months,
 * UTC) sends events timestamped in the previous month (2 days before
 * the 1st, and its last second) and in this one (its first second, and
 * now).  Each lands in its own month's counter; GET /entitlements shows
 * this period's usage only, GET /usage/summary?period=YYYY-MM the
 * previous month's.  The soft cap holds in the month an event belongs
 * to.  Thresholds fire once per threshold per period (SPEC 8, 5): past
 * 80 % and 100 % of messages in the previous month by back-dated events,
 * past 80 % in this one, one usage_alerts row each.
 */
static void
test_period_rollover(void **state)
{
	struct tenant		 t;
	struct it_resp		 r;
	struct json_object	*q;
	time_t			 now = time(NULL), cur, prev, next, back;
	char			 cur_s[32], prev_s[32], next_s[32], path[128];
	char			 prev_m[8], cur_m[8], got[32], m[64];
	char			 a_prev[64], a_cur[64];
	const char		*s;
	long long		 n;

	(void)state;
	/* Not across the turn of the month: the periods would move. */
	if (month_start(now, 1) - now < 60) {
		print_message("# waiting for the new month\n");
		it_sleep_ms((long)(month_start(now, 1) - now + 2) * 1000);
		now = time(NULL);
	}
	cur = month_start(now, 0);
	prev = month_start(now, -1);
	next = month_start(now, 1);
	/*
	 * 2 days before the 1st: at most 33 days ago (a month has 31 days
	 * at most), within the 35 days an event may be back-dated; bounded
	 * anyway, and still in the previous month.
	 */
	back = cur - 2 * 86400;
	if (back < now - 34 * 86400)
		back = now - 34 * 86400;
	assert_true(back >= prev && back < cur);
	ts_of(cur_s, sizeof(cur_s), cur);
	ts_of(prev_s, sizeof(prev_s), prev);
	ts_of(next_s, sizeof(next_s), next);
	month_of(prev_m, sizeof(prev_m), prev);
	month_of(cur_m, sizeof(cur_m), cur);
	ts_of(got, sizeof(got), back);
	print_message("# this period %s..%s, the previous from %s; back-dated "
	    "to %s\n", cur_s, next_s, prev_s, got);
	tenant_new(&t, "rollover", NULL);

	/* Each event in its month's counter, the boundary exactly. */
	event_at(&t, "llm_tokens", 3000, back, "llm_tokens 2 days before the "
	    "1st");
	event_at(&t, "llm_tokens", 7, cur - 1, "llm_tokens in the last second "
	    "of the previous month");
	event_at(&t, "llm_tokens", 11, cur, "llm_tokens at the 1st, 00:00:00");
	event_at(&t, "llm_tokens", 500, 0, "llm_tokens now");
	if (used_in(&t, "llm_tokens", prev_s) != 3007 ||
	    used_in(&t, "llm_tokens", cur_s) != 511 ||
	    used_of(&t, "llm_tokens") != 3518)
		it_deferred_fail("llm_tokens counters: %lld from %s, %lld from "
		    "%s, %lld in all; want 3007, 511 and 3518", used_in(&t,
		    "llm_tokens", prev_s), prev_s, used_in(&t, "llm_tokens",
		    cur_s), cur_s, used_of(&t, "llm_tokens"));

	/* The entitlements: this period's usage only. */
	call(&r, t.key, "GET", API "/entitlements", NULL);
	it_expect_status(&r, 200);
	q = metric_in(&r, "quotas", "llm_tokens");
	if (q == NULL)
		it_deferred_fail("GET /entitlements: no llm_tokens quota");
	else {
		if (oint(q, "used", -1) != 511 || oint(q, "remaining", -1) !=
		    10000 - 511)
			it_deferred_fail("GET /entitlements: llm_tokens used "
			    "%lld remaining %lld, want 511 and %d (this "
			    "period's only)", oint(q, "used", -1), oint(q,
			    "remaining", -1), 10000 - 511);
		s = it_json_str(q, "period_start");
		if (s == NULL || strcmp(s, cur_s) != 0)
			it_deferred_fail("GET /entitlements: llm_tokens "
			    "period_start %s, want %s", s != NULL ? s :
			    "(none)", cur_s);
		s = it_json_str(q, "period_end");
		if (s == NULL || strcmp(s, next_s) != 0)
			it_deferred_fail("GET /entitlements: llm_tokens "
			    "period_end %s, want %s", s != NULL ? s : "(none)",
			    next_s);
	}
	it_response_free(&r);

	/* The summary: of the previous month, of this one, of "current". */
	snprintf(path, sizeof(path), API "/usage/summary?period=%s", prev_m);
	call(&r, t.access, "GET", path, NULL);
	it_expect_status(&r, 200);
	s = it_json_str(it_json(&r), "period_start");
	if (s == NULL || strcmp(s, prev_s) != 0)
		it_deferred_fail("summary of %s: period_start %s, want %s",
		    prev_m, s != NULL ? s : "(none)", prev_s);
	s = it_json_str(it_json(&r), "period_end");
	if (s == NULL || strcmp(s, cur_s) != 0)
		it_deferred_fail("summary of %s: period_end %s, want %s",
		    prev_m, s != NULL ? s : "(none)", cur_s);
	if ((n = oint(metric_in(&r, "metrics", "llm_tokens"), "used", -1)) !=
	    3007)
		it_deferred_fail("summary of %s: llm_tokens used %lld, want "
		    "3007", prev_m, n);
	it_response_free(&r);
	snprintf(path, sizeof(path), API "/usage/summary?period=%s", cur_m);
	call(&r, t.access, "GET", path, NULL);
	it_expect_status(&r, 200);
	if ((n = oint(metric_in(&r, "metrics", "llm_tokens"), "used", -1)) !=
	    511)
		it_deferred_fail("summary of %s: llm_tokens used %lld, want "
		    "511", cur_m, n);
	it_response_free(&r);
	call(&r, t.access, "GET", API "/usage/summary?period=current", NULL);
	it_expect_status(&r, 200);
	if ((n = oint(metric_in(&r, "metrics", "llm_tokens"), "used", -1)) !=
	    511)
		it_deferred_fail("summary of the current period: llm_tokens "
		    "used %lld, want 511", n);
	it_response_free(&r);

	/*
	 * messages (100, soft, 20 % grace): back-dated past 80 % and 100 %
	 * of the previous month; the cap holds there (121 refused) while
	 * this month has room; then past 80 % of this month.
	 */
	event_at(&t, "messages", 85, back, "85 back-dated messages");
	event_at(&t, "messages", 16, back, "16 more back-dated messages");
	ts_of(got, sizeof(got), back);
	snprintf(m, sizeof(m), "\"timestamp\":\"%s\"", got);
	post_one(&r, &t, ev(uid("at"), "messages", 20, m));
	expect_limit(&r, "quota_exceeded", "back-dated messages past 120 % of "
	    "the previous month");
	it_response_free(&r);
	event_at(&t, "messages", 81, 0, "81 messages now");
	/* Once per threshold per period: more on either side fires none. */
	event_at(&t, "messages", 1, 0, "1 more message now");
	event_at(&t, "messages", 1, back, "1 more back-dated message");
	if (used_in(&t, "messages", prev_s) != 102 || used_in(&t, "messages",
	    cur_s) != 82)
		it_deferred_fail("messages counters %lld from %s and %lld from "
		    "%s, want 102 and 82", used_in(&t, "messages", prev_s),
		    prev_s, used_in(&t, "messages", cur_s), cur_s);

	alerts_in(&t, cur_s, a_cur, sizeof(a_cur));
	alerts_in(&t, prev_s, a_prev, sizeof(a_prev));
	print_message("# messages alerts: %s [%s], %s [%s]\n", prev_m,
	    a_prev, cur_m, a_cur);
	if (strcmp(a_cur, "80") != 0)
		it_deferred_fail("messages alerts of %s: [%s], want [80]", cur_m,
		    a_cur);
	if (strcmp(a_prev, "80,100") != 0)
		it_deferred_fail("messages alerts of %s: [%s], want [80,100]: "
		    "back-dated usage crossed 80 %% and 100 %% of that period's "
		    "quota (and its cap was enforced: 429) but fired no alert; "
		    "usage_alerts_fire() (sql/014_metering.sql) looks at the "
		    "current period's counters only", prev_m, a_prev);
	n = sql_num(&t, "SELECT count(*) FROM notifications WHERE tenant_id = "
	    "app_tenant() AND trigger IN ('quota_80', 'quota_100') AND subject "
	    "= 'messages'", NULL, NULL);
	if (n != 3)
		it_deferred_fail("%lld quota_80 and quota_100 notifications of "
		    "messages, want 3 (80 and 100 of %s, 80 of %s)", n, prev_m,
		    cur_m);

	/* The entitlements: this period's messages only. */
	call(&r, t.key, "GET", API "/entitlements", NULL);
	it_expect_status(&r, 200);
	if ((n = oint(metric_in(&r, "quotas", "messages"), "used", -1)) != 82)
		it_deferred_fail("GET /entitlements: messages used %lld, want "
		    "82", n);
	it_response_free(&r);
	it_deferred_check();
}

/* --- main ----------------------------------------------------------------- */

int
main(void)
{
	struct CMUnitTest	 tests[64];
	size_t			 n = 0, i, k;
	const char		*s;

#define T(f)	tests[n++] = (struct CMUnitTest){ #f, f, NULL, NULL, NULL }
	T(test_bad_batch_size);
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		tests[n++] = (struct CMUnitTest){ bad_cases[i].name,
		    test_bad_event, NULL, NULL, (void *)&bad_cases[i] };
	T(test_bad_several);
	T(test_bad_too_large);
	T(test_bad_unknown_refs);
	T(test_bad_refs_after_good);
	T(test_bad_not_held);
	T(test_bad_platform);
	T(test_reservations);
	T(test_check);
	T(test_llm_cost);
	T(test_alerts);
	T(test_alerts_downgrade);
	T(test_refusal);
	T(test_period_rollover);
	T(test_race_quota);
	T(test_race_budget);
	T(test_dedup_conservation);
#undef T

	/* IT_USAGE_ONLY: the tests whose name holds it (a debugging aid). */
	if ((s = getenv("IT_USAGE_ONLY")) != NULL && *s != '\0') {
		for (i = 0, k = 0; i < n; i++)
			if (strstr(tests[i].name, s) != NULL)
				tests[k++] = tests[i];
		n = k;
	}
	s = getenv("IT_USAGE_SEED");
	u_seed = s != NULL ? (unsigned int)strtoul(s, NULL, 10) :
	    (unsigned int)time(NULL) ^ (unsigned int)getpid();
	print_message("# IT_USAGE_SEED=%u\n", u_seed);
	bad_cases_build();
	it_init();
	it_client_init(62);
	return _cmocka_run_group_tests("it-usage", tests, n, NULL, NULL);
}
