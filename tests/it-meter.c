/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: billable usage reaches Stripe's meters exactly once
 * (SPEC 8, steps 3, 4 and 6), against the Stripe emulator.  A tenant
 * subscribes through checkout; its usage of past hours is queued by
 * `tollgate work --once` (one report per closed window) and sent as
 * meter events, and the emulator's event summaries add up to the local
 * windows.  Late usage for a reported window becomes a new revision
 * carrying the delta; usage older than Stripe takes is reported in the
 * current hour and audited.  Under 30 % injected 500s (after Stripe
 * executed the call) and after a simulated crash between Stripe taking
 * an event and the row being marked sent (the row set back to pending),
 * every unit still counts once at Stripe.  `tollgate admin stripe
 * reconcile` shows the totals side by side, and a difference when there
 * is one.  The stack's own worker runs meanwhile: the checks hold
 * whichever worker sends a report.
 */
#include <setjmp.h>
#include <signal.h>
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
#define JSON		"application/json"
#define HOUR		3600LL
#define DAY		86400LL
#define PASSES_MAX	40	/* work --once runs to drain the outbox */

struct tenant {
	char	 access[IT_TOKEN_MAX];
	char	 id[64];
	char	 key[256];
	char	 customer[128];
};

static struct tenant	 m_t;		/* the subscribed tenant */
static unsigned int	 m_seq;
static char		 m_ts_reported[32];	/* a reported time */

/* --- small helpers ----------------------------------------------------- */

/* Now + off seconds as RFC 3339 UTC. */
static void
ts_at(char *out, size_t outsz, long long off)
{
	time_t		 t = time(NULL) + (time_t)off;
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "YYYY-MM" of now + off seconds (UTC). */
static void
month_at(char *out, size_t outsz, long long off)
{
	time_t		 t = time(NULL) + (time_t)off;
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m", &tm);
}

/* A number the database owner reads within the tenant ($1), with up to
 * two more parameters (NULL: none). */
static long long
sql_num(const char *sql, const char *p1, const char *p2)
{
	char	 out[64];

	it_owner_sql(out, sizeof(out), m_t.id, sql, p1 == NULL ? 1 :
	    p2 == NULL ? 2 : 3, (const char *const[]){ m_t.id, p1, p2 });
	return strtoll(out, NULL, 10);
}

/* The windows' total of a metric: every unit accepted. */
static long long
local_total(const char *metric)
{
	return sql_num("SELECT coalesce(sum(total), 0) FROM usage_windows "
	    "WHERE tenant_id = $1 AND metric = $2", metric, NULL);
}

/* What the tenant's sent reports of a metric carry. */
static long long
sent_total(const char *metric)
{
	return sql_num("SELECT coalesce(sum(quantity), 0) FROM meter_reports "
	    "WHERE tenant_id = $1 AND metric = $2 AND status = 'sent'", metric,
	    NULL);
}

/* Reports not sent yet, and closed windows not queued yet. */
static long long
outstanding(void)
{
	return sql_num("SELECT (SELECT count(*) FROM meter_reports WHERE "
	    "tenant_id = $1 AND status <> 'sent') + (SELECT count(*) FROM "
	    "usage_windows WHERE tenant_id = $1 AND total > reported AND "
	    "window_start <= now() - interval '1 hour')", NULL, NULL);
}

/* Due now: the backoff of failed reports skipped. */
static void
all_due(void)
{
	it_owner_sql(NULL, 0, m_t.id, "UPDATE meter_reports SET next_at = "
	    "now() WHERE tenant_id = $1 AND status = 'pending'", 1,
	    (const char *const[]){ m_t.id });
}

/* One pass of the worker; its log in the stack's log directory. */
static void
work_once(void)
{
	int	 rc;

	rc = it_sh("\"$TOLLGATE_BIN\" work --once >>\"$STACK_DIR/log/"
	    "it-meter-work.log\" 2>&1");
	if (rc != 0)
		fail_msg("tollgate work --once exited %d (see %s/log/"
		    "it-meter-work.log)", rc, it_env("STACK_DIR"));
}

/* Passes until nothing is outstanding; the number of passes. */
static int
drain(void)
{
	int	 i;

	for (i = 1; i <= PASSES_MAX; i++) {
		work_once();
		if (outstanding() == 0)
			return i;
		all_due();
	}
	fail_msg("reports still outstanding after %d passes", PASSES_MAX);
	return -1;
}

/* --- the emulator ------------------------------------------------------ */

/* The Stripe id of a metric's meter, from the catalogue. */
static void
meter_id(const char *metric, char *out, size_t outsz)
{
	char	 key[64];

	snprintf(key, sizeof(key), "tollgate_%s", metric);
	it_owner_sql(out, outsz, NULL, "SELECT stripe_id FROM stripe_catalogue "
	    "WHERE kind = 'meter' AND key = $1", 1, (const char *const[]){
	    key });
	if (out[0] == '\0')
		fail_msg("no meter for %s: was `admin stripe sync` run?",
		    metric);
}

/*
 * Stripe's total of a metric for the tenant's customer over every time
 * this test can have used: from 41 days back to 2 hours ahead.
 */
static long long
stripe_total(const char *metric)
{
	struct it_resp		 r;
	struct json_object	*data, *v;
	char			 meter[128], path[512];
	long long		 now = (long long)time(NULL), from, to;
	long long		 sum = 0;
	size_t			 i;

	meter_id(metric, meter, sizeof(meter));
	from = (now - 41 * DAY) / 60 * 60;
	to = (now + 2 * HOUR) / 60 * 60;
	snprintf(path, sizeof(path), "/v1/billing/meters/%s/event_summaries?"
	    "customer=%s&start_time=%lld&end_time=%lld", meter, m_t.customer,
	    from, to);
	it_emu_get(&r, path);
	if (!it_json_get(it_json(&r), "data", &data))
		fail_msg("no data in %.200s", r.body);
	for (i = 0; i < json_object_array_length(data); i++)
		if (it_json_get(json_object_array_get_idx(data, i),
		    "aggregated_value", &v))
			sum += (long long)json_object_get_double(v);
	it_response_free(&r);
	return sum;
}

/* The emulator's count of distinct meter events (identifiers). */
static long long
emu_meter_events(void)
{
	struct it_resp		 r;
	struct json_object	*v;
	long long		 n;

	it_emu_get(&r, "/_emu/state");
	if (!it_json_get(it_json(&r), "counts.meter_events", &v))
		fail_msg("no counts.meter_events in the emulator's state");
	n = json_object_get_int64(v);
	it_response_free(&r);
	return n;
}

/*
 * The emulator's requests to the meter-events endpoint: how many were
 * faulted, and the last answer to Idempotency-Key key (status, and
 * whether it was a replay), when key is not NULL.
 */
static long
emu_meter_requests(const char *key, long *status, int *replayed)
{
	struct it_resp		 r;
	struct json_object	*reqs, *q, *v;
	const char		*path, *k;
	long			 faults = 0;
	size_t			 i;

	if (status != NULL)
		*status = 0;
	if (replayed != NULL)
		*replayed = 0;
	it_emu_get(&r, "/_emu/state");
	if (!it_json_get(it_json(&r), "requests", &reqs))
		fail_msg("no requests in the emulator's state");
	for (i = 0; i < json_object_array_length(reqs); i++) {
		q = json_object_array_get_idx(reqs, i);
		path = it_json_str(q, "path");
		if (path == NULL ||
		    strcmp(path, "/v1/billing/meter_events") != 0)
			continue;
		if (it_json_get(q, "fault", &v) && json_object_get_boolean(v))
			faults++;
		k = it_json_str(q, "idempotency_key");
		if (key == NULL || k == NULL || strcmp(k, key) != 0)
			continue;
		if (status != NULL && it_json_get(q, "status", &v))
			*status = (long)json_object_get_int64(v);
		if (replayed != NULL && it_json_get(q, "replayed", &v))
			*replayed = json_object_get_boolean(v);
	}
	it_response_free(&r);
	return faults;
}

/* --- the tenant -------------------------------------------------------- */

static void
tenant_field(const char *sql, char *out, size_t outsz)
{
	it_owner_sql(out, outsz, m_t.id, sql, 1, (const char *const[]){
	    m_t.id });
}

/* Register, prove the address, check out Pro and pay: subscribed. */
static void
subscribe(void)
{
	struct it_resp	 r;
	struct it_owner	 o;
	char		 url[1024], u[1100], plan[32];
	double		 t0;

	memset(&m_t, 0, sizeof(m_t));
	it_owner_new(&o, "meter", "pro");
	snprintf(m_t.access, sizeof(m_t.access), "%s", o.access);
	snprintf(m_t.id, sizeof(m_t.id), "%s", o.tenant);

	it_http(&r, "POST", API "/billing/checkout", NULL, m_t.access, JSON,
	    it_jobj("plan", "pro", NULL));
	it_expect_status(&r, 201);
	it_copy_str(url, sizeof(url), &r, "url");
	it_response_free(&r);
	if (it_request(&r, "GET", url, NULL, NULL, 0, NULL) == -1)
		fail_msg("checkout page: %s", r.error);
	it_expect_status(&r, 200);
	it_response_free(&r);
	snprintf(u, sizeof(u), "%s/pay", url);
	if (it_request(&r, "POST", u, IT_FORM, "", 0, NULL) == -1)
		fail_msg("pay: %s", r.error);
	it_expect_status(&r, 303);
	it_response_free(&r);
	for (t0 = it_now_ms();;) {
		tenant_field("SELECT plan FROM tenants WHERE tenant_id = $1",
		    plan, sizeof(plan));
		if (strcmp(plan, "pro") == 0)
			break;
		if (it_now_ms() - t0 > 10000)
			fail_msg("the tenant is on %s, not pro", plan);
		it_sleep_ms(100);
	}
	tenant_field("SELECT stripe_customer_id FROM tenants WHERE "
	    "tenant_id = $1", m_t.customer, sizeof(m_t.customer));
	assert_true(m_t.customer[0] != '\0');

	it_http(&r, "POST", API "/api-keys", NULL, m_t.access, JSON,
	    "{\"name\":\"metering\",\"scopes\":[\"usage:write\"]}");
	it_expect_status(&r, 201);
	it_copy_str(m_t.key, sizeof(m_t.key), &r, "secret");
	it_response_free(&r);
}

/* POST events (a JSON array's members) with the tenant's key: all new. */
static void
ingest(const char *members, long long n)
{
	struct it_resp		 r;
	struct json_object	*v;
	char			 auth[320], *body;
	size_t			 len;

	len = strlen(members) + 32;
	body = it_alloc(len);
	snprintf(body, len, "{\"events\":[%s]}", members);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", m_t.key);
	if (it_request(&r, "POST", API "/usage/events", JSON, body,
	    strlen(body), auth, NULL) == -1)
		fail_msg("usage events: %s", r.error);
	free(body);
	it_expect_status(&r, 200);
	if (!it_json_get(it_json(&r), "accepted", &v) ||
	    json_object_get_int64(v) != n)
		fail_msg("accepted is not %lld: %.300s", n, r.body);
	it_response_free(&r);
}

/* One event member: a unique id, the metric, value, time. */
static const char *
ev(const char *metric, long long value, const char *ts)
{
	static char	 out[8][256];
	static int	 k;

	k = (k + 1) % 8;
	snprintf(out[k], sizeof(out[k]), "{\"id\":\"m-%ld-%u\",\"metric\":"
	    "\"%s\",\"value\":%lld,\"timestamp\":\"%s\"}", (long)getpid(),
	    ++m_seq, metric, value, ts);
	return out[k];
}

/* Stripe, the sent reports and the windows agree on a metric. */
static void
expect_equal(const char *metric)
{
	long long	 local = local_total(metric);
	long long	 sent = sent_total(metric);
	long long	 stripe = stripe_total(metric);

	print_message("# %s: local %lld, sent %lld, stripe %lld\n", metric,
	    local, sent, stripe);
	assert_true(local > 0);
	assert_true(sent == local);
	assert_true(stripe == local);
}

/* --- the tests --------------------------------------------------------- */

static int
setup(void **state)
{
	struct it_resp	 r;

	(void)state;
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 0}");
	it_emu_get(&r, "/_emu/clock");
	print_message("# emulator clock: %.200s\n", r.body);
	it_response_free(&r);
	subscribe();
	return 0;
}

/* After a test that injects faults, whatever became of it. */
static int
faults_off(void **state)
{
	(void)state;
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 0}");
	return 0;
}

/*
 * Usage of past hours: one report per closed window, sent, and Stripe's
 * totals are the windows' totals.  A window of the current hour waits.
 */
static void
test_report(void **state)
{
	char		 t[6][32], members[2048], sub[64];
	long long	 n;
	int		 i;

	(void)state;
	for (i = 0; i < 4; i++)
		ts_at(t[i], sizeof(t[i]), -(2 + i) * HOUR - 600);
	snprintf(t[4], sizeof(t[4]), "%s", t[0]);	/* t[0]'s window */
	ts_at(t[5], sizeof(t[5]), 0);			/* not closed */
	snprintf(m_ts_reported, sizeof(m_ts_reported), "%s", t[1]);
	snprintf(members, sizeof(members), "%s,%s,%s,%s,%s,%s,%s,%s",
	    ev("api_calls", 3, t[0]), ev("api_calls", 4, t[1]),
	    ev("api_calls", 5, t[2]), ev("api_calls", 6, t[3]),
	    ev("api_calls", 7, t[4]), ev("messages", 11, t[0]),
	    ev("messages", 13, t[3]), ev("api_calls", 100, t[5]));
	ingest(members, 8);
	assert_true(local_total("api_calls") == 125);

	drain();
	/* Four windows of api_calls (two events share one), two of messages. */
	n = sql_num("SELECT count(*) FROM meter_reports WHERE tenant_id = $1 "
	    "AND status = 'sent' AND revision = 0", NULL, NULL);
	assert_true(n == 6);
	/* The current hour's window is not reported yet. */
	assert_true(sent_total("api_calls") == 25);
	assert_true(stripe_total("api_calls") == 25);
	assert_true(stripe_total("messages") == 24);
	/* Identifiers: tg-<tenant hex>-<metric>-<window>-r<revision>. */
	snprintf(sub, sizeof(sub), "%s", m_t.id);
	for (i = 0; sub[i] != '\0'; i++)
		if (sub[i] == '-')
			memmove(sub + i, sub + i + 1, strlen(sub + i));
	n = sql_num("SELECT count(*) FROM meter_reports WHERE tenant_id = $1 "
	    "AND identifier ~ ('^tg-' || $2 || "
	    "'-(api_calls|messages)-[0-9]+-r0$') AND identifier = "
	    "meter_identifier(tenant_id, metric, window_start, revision) "
	    "AND length(identifier) <= 100 AND report_ts = window_start", sub,
	    NULL);
	assert_true(n == 6);
	/* The open window: queued once its hour is over, not before. */
	assert_true(sql_num("SELECT count(*) FROM usage_windows WHERE "
	    "tenant_id = $1 AND metric = $2 AND total > reported",
	    "api_calls", NULL) == 1);
	/* Close it as if an hour had passed, then it goes too. */
	it_owner_sql(NULL, 0, m_t.id, "UPDATE usage_windows SET "
	    "window_start = window_start - interval '60 hours' WHERE "
	    "tenant_id = $1 AND total > reported", 1,
	    (const char *const[]){ m_t.id });
	drain();
	expect_equal("api_calls");
	expect_equal("messages");
}

/* Late usage for a reported window: a new revision with the delta. */
static void
test_late_revision(void **state)
{
	char		 members[512];
	long long	 before = stripe_total("api_calls");

	(void)state;
	snprintf(members, sizeof(members), "%s,%s", ev("api_calls", 9,
	    m_ts_reported), ev("api_calls", 1, m_ts_reported));
	ingest(members, 2);
	drain();
	assert_true(sql_num("SELECT count(*) FROM meter_reports WHERE "
	    "tenant_id = $1 AND metric = $2 AND revision = 1 AND quantity = 10 "
	    "AND status = 'sent' AND identifier LIKE '%-r1' AND window_start = "
	    "date_trunc('hour', $3::timestamptz, 'UTC')", "api_calls",
	    m_ts_reported) == 1);
	assert_true(sql_num("SELECT count(*) FROM meter_reports WHERE "
	    "tenant_id = $1 AND metric = $2 AND window_start = "
	    "date_trunc('hour', $3::timestamptz, 'UTC')", "api_calls",
	    m_ts_reported) == 2);
	assert_true(stripe_total("api_calls") == before + 10);
	expect_equal("api_calls");
}

/*
 * Usage older than Stripe takes (a window 40 days back, as an old
 * ingest would have left it): reported in the current hour, audited.
 */
static void
test_too_old(void **state)
{
	long long	 before = stripe_total("messages");

	(void)state;
	it_owner_sql(NULL, 0, m_t.id, "INSERT INTO usage_windows (tenant_id, "
	    "metric, window_start, total) VALUES ($1, 'messages', "
	    "date_trunc('hour', now() - interval '40 days', 'UTC'), 7)", 1,
	    (const char *const[]){ m_t.id });
	drain();
	assert_true(sql_num("SELECT count(*) FROM meter_reports WHERE "
	    "tenant_id = $1 AND metric = $2 AND window_start < now() - "
	    "interval '39 days' AND report_ts >= date_trunc('hour', now(), "
	    "'UTC') - interval '1 hour' AND quantity = 7 AND status = 'sent'",
	    "messages", NULL) == 1);
	assert_true(sql_num("SELECT count(*) FROM audit_events WHERE "
	    "tenant_id = $1 AND action = 'meter.usage_late' AND target = $2",
	    "messages", NULL) == 1);
	assert_true(stripe_total("messages") == before + 7);
	expect_equal("messages");
}

/*
 * 30 % of meter-event calls answered 500 after Stripe ran them (the
 * answer lost): retried until nothing is left, each unit once.
 */
static void
test_faults(void **state)
{
	char		 members[8192], t[32];
	size_t		 len = 0;
	long		 faults;
	int		 i, passes;

	(void)state;
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 0.3, \"status\": 500, "
	    "\"after_execute\": true, \"seed\": 20261130, "
	    "\"paths\": [\"/v1/billing/meter_events\"]}");
	members[0] = '\0';
	for (i = 0; i < 24; i++) {
		ts_at(t, sizeof(t), -(6 + i) * HOUR);
		len += (size_t)snprintf(members + len, sizeof(members) - len,
		    "%s%s", i > 0 ? "," : "", ev(i % 2 ? "messages" :
		    "api_calls", 10 + i, t));
	}
	ingest(members, 24);
	passes = drain();
	faults = emu_meter_requests(NULL, NULL, NULL);
	print_message("# drained in %d pass(es); %ld faulted meter-event "
	    "calls so far\n", passes, faults);
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 0}");
	assert_true(faults > 0);
	expect_equal("api_calls");
	expect_equal("messages");
}

/*
 * Stripe down (every meter-event call refused with a 500 that says not
 * to retry, before Stripe ran it): a pass stops after a few failures in
 * a row, each failed report keeps why and waits its backoff.  A report
 * that waited past Stripe's 35 days goes in the current hour, audited.
 * Once Stripe is back, everything goes, once.
 */
static void
test_outage(void **state)
{
	char		 members[2048], t[32];
	size_t		 len = 0;
	long long	 failed, late;
	int		 i;

	(void)state;
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 1, \"status\": 500, "
	    "\"should_retry\": false, "
	    "\"paths\": [\"/v1/billing/meter_events\"]}");
	members[0] = '\0';
	for (i = 0; i < 5; i++) {
		ts_at(t, sizeof(t), -(31 + i) * HOUR);
		len += (size_t)snprintf(members + len, sizeof(members) - len,
		    "%s%s", i > 0 ? "," : "", ev("api_calls", 50 + i, t));
	}
	ingest(members, 5);
	work_once();
	failed = sql_num("SELECT count(*) FROM meter_reports WHERE "
	    "tenant_id = $1 AND status = 'pending' AND attempts >= 1 AND "
	    "last_error LIKE 'Stripe answered 500 api_error%' AND "
	    "next_at > now() + interval '20 seconds'", NULL, NULL);
	print_message("# %lld report(s) failed and wait\n", failed);
	assert_true(failed >= 1);
	assert_true(sql_num("SELECT count(*) FROM meter_reports WHERE "
	    "tenant_id = $1 AND status = 'pending'", NULL, NULL) == 5);
	/* Nothing is due before its backoff: another pass sends nothing. */
	assert_true(sql_num("SELECT count(*) FROM meter_reports WHERE "
	    "tenant_id = $1 AND status = 'pending' AND attempts > 0 AND "
	    "next_at <= now()", NULL, NULL) == 0);

	/* One of them waited so long that Stripe would refuse its time. */
	it_owner_sql(NULL, 0, m_t.id, "UPDATE meter_reports SET report_ts = "
	    "report_ts - interval '36 days' WHERE tenant_id = $1 AND "
	    "(metric, window_start, revision) = (SELECT metric, window_start, "
	    "revision FROM meter_reports WHERE tenant_id = $1 AND status = "
	    "'pending' ORDER BY window_start LIMIT 1)", 1,
	    (const char *const[]){ m_t.id });
	late = sql_num("SELECT count(*) FROM audit_events WHERE tenant_id = $1 "
	    "AND action = 'meter.usage_late'", NULL, NULL);
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 0}");
	all_due();
	drain();
	assert_true(sql_num("SELECT count(*) FROM audit_events WHERE "
	    "tenant_id = $1 AND action = 'meter.usage_late'", NULL, NULL) ==
	    late + 1);
	assert_true(sql_num("SELECT count(*) FROM meter_reports WHERE "
	    "tenant_id = $1 AND status = 'sent' AND last_error IS NULL AND "
	    "report_ts >= date_trunc('hour', now(), 'UTC') - interval '1 hour' "
	    "AND window_start < now() - interval '30 hours' AND "
	    "window_start > now() - interval '37 hours'", NULL, NULL) == 1);
	expect_equal("api_calls");
}

/* `admin stripe reconcile` for a month into out; its exit status. */
static int
reconcile(const char *month, char *out, size_t outsz)
{
	char	 path[512];
	FILE	*f;
	size_t	 n;
	int	 rc;

	snprintf(path, sizeof(path), "%s/log/it-meter-reconcile.out",
	    it_env("STACK_DIR"));
	rc = it_sh("\"$TOLLGATE_BIN\" admin stripe reconcile --period %s "
	    ">\"%s\" 2>>\"$STACK_DIR/log/it-meter-work.log\"", month, path);
	if ((f = fopen(path, "r")) == NULL)
		fail_msg("no reconcile output in %s", path);
	n = fread(out, 1, outsz - 1, f);
	out[n] = '\0';
	fclose(f);
	print_message("%s", out);
	return rc;
}

/* The difference column of the tenant's line for a metric, or -999999. */
static long long
reconcile_diff(const char *out, const char *metric)
{
	const char	*p = out, *e;
	char		 line[512], name[64];
	long long	 usage, sent, diff;
	char		 stripe[32];

	while ((p = strstr(p, m_t.id)) != NULL) {
		e = strchr(p, '\n');
		snprintf(line, sizeof(line), "%.*s", e != NULL ? (int)(e - p) :
		    (int)strlen(p), p);
		if (sscanf(line + strlen(m_t.id), " %63s %lld %lld %31s %lld",
		    name, &usage, &sent, stripe, &diff) == 5 &&
		    strcmp(name, metric) == 0)
			return diff;
		p += strlen(m_t.id);
	}
	return -999999;
}

/*
 * A crash after Stripe took an event and before the row was marked
 * sent: the row is pending again, as the crash left it.  Reconcile
 * shows Stripe ahead by that much; the next pass sends the same
 * identifier, Stripe has it already (a replay under the same key, or
 * the identifier refused as existing under a fresh one), the row is
 * sent and Stripe's total does not move.
 */
static void
test_crash_resend(void **state)
{
	char		 ident[128], key[160], month[8], out[16384];
	long long	 qty, total, events;
	long		 status;
	int		 replayed, rc, k, round;

	(void)state;
	for (round = 0; round < 2; round++) {
		it_owner_sql(ident, sizeof(ident), m_t.id, "SELECT identifier "
		    "FROM meter_reports WHERE tenant_id = $1 AND status = "
		    "'sent' AND metric = 'api_calls' "
		    "ORDER BY window_start DESC LIMIT 1", 1,
		    (const char *const[]){ m_t.id });
		assert_true(ident[0] != '\0');
		qty = sql_num("SELECT quantity FROM meter_reports WHERE "
		    "tenant_id = $1 AND identifier = $2", ident, NULL);
		total = stripe_total("api_calls");
		events = emu_meter_events();
		/*
		 * Round 0: the attempt count as the crash left it (the same
		 * Idempotency-Key); round 1: after failed attempts (a new
		 * key, so the identifier check answers).
		 */
		it_owner_sql(NULL, 0, m_t.id, "UPDATE meter_reports SET "
		    "status = 'pending', sent_at = NULL, next_at = now(), "
		    "attempts = attempts - 1 + $3::integer "
		    "WHERE tenant_id = $1 AND identifier = $2", 3,
		    (const char *const[]){ m_t.id, ident, round == 0 ? "0" :
		    "5" });
		k = (int)sql_num("SELECT attempts FROM meter_reports WHERE "
		    "tenant_id = $1 AND identifier = $2", ident, NULL);
		if (k == 0)
			snprintf(key, sizeof(key), "%s", ident);
		else
			snprintf(key, sizeof(key), "%s-a%d", ident, k);

		month_at(month, sizeof(month), 0);
		if (round == 0 && sql_num("SELECT count(*) FROM meter_reports "
		    "WHERE tenant_id = $1 AND identifier = $2 AND "
		    "to_char(report_ts AT TIME ZONE 'UTC', 'YYYY-MM') = $3",
		    ident, month) == 1) {
			rc = reconcile(month, out, sizeof(out));
			/* Unless the stack's worker resent it meanwhile. */
			if (sql_num("SELECT count(*) FROM meter_reports WHERE "
			    "tenant_id = $1 AND identifier = $2 AND status = "
			    "'pending'", ident, NULL) == 1) {
				assert_true(reconcile_diff(out, "api_calls") ==
				    qty);
				assert_int_equal(rc, 1);
			}
		}

		drain();
		assert_true(sql_num("SELECT count(*) FROM meter_reports WHERE "
		    "tenant_id = $1 AND identifier = $2 AND status = 'sent'",
		    ident, NULL) == 1);
		emu_meter_requests(key, &status, &replayed);
		print_message("# resend of %s under key %s: %ld%s\n", ident,
		    key, status, replayed ? " (replayed)" : "");
		assert_true(status == 400 || (status == 200 && replayed));
		if (round == 1)
			assert_int_equal(status, 400);
		assert_true(stripe_total("api_calls") == total);
		assert_true(emu_meter_events() == events);
	}
	expect_equal("api_calls");
}

/*
 * A worker killed (SIGKILL) while Stripe takes its event: every meter
 * event is held 3 s at Stripe before it runs, the worker is killed
 * meanwhile, so Stripe takes the event while the row stays pending
 * (its transaction died with the worker).  The next pass resends it and
 * Stripe counts it once.  Should the stack's own worker have taken the
 * row first, nothing is killed mid-call, and the checks hold all the
 * same.
 */
static void
test_kill(void **state)
{
	char		 t[32], pidfile[512], buf[32];
	long long	 events, pending;
	FILE		*f;
	pid_t		 pid;

	(void)state;
	events = emu_meter_events();
	ts_at(t, sizeof(t), -40 * HOUR);
	ingest(ev("api_calls", 77, t), 1);
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 1, \"status\": 0, "
	    "\"delay_ms\": 3000, \"paths\": [\"/v1/billing/meter_events\"]}");
	snprintf(pidfile, sizeof(pidfile), "%s/run/it-meter-work.pid",
	    it_env("STACK_DIR"));
	unlink(pidfile);
	if (it_sh("\"$TOLLGATE_BIN\" work --once >>\"$STACK_DIR/log/"
	    "it-meter-work.log\" 2>&1 & echo $! >\"%s\"", pidfile) != 0 ||
	    (f = fopen(pidfile, "r")) == NULL)
		fail_msg("no worker started");
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	if ((pid = (pid_t)strtol(buf, NULL, 10)) <= 1)
		fail_msg("no worker pid in %s", pidfile);
	it_sleep_ms(1500);
	if (kill(pid, SIGKILL) == -1)
		print_message("# worker %ld was gone already\n", (long)pid);
	it_sleep_ms(300);
	pending = sql_num("SELECT count(*) FROM meter_reports WHERE "
	    "tenant_id = $1 AND status = 'pending'", NULL, NULL);
	print_message("# worker %ld killed; %lld report(s) left pending\n",
	    (long)pid, pending);
	/* Stripe runs the held event now, the worker gone. */
	it_sleep_ms(3000);
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 0}");
	drain();
	assert_true(emu_meter_events() == events + 1);
	expect_equal("api_calls");
}

/* Reconcile: for the months used, the tenant's lines show no difference. */
static void
test_reconcile(void **state)
{
	char		 months[2][8], out[16384];
	const char	*metrics[] = { "api_calls", "messages" };
	int		 i, j, rc;

	(void)state;
	month_at(months[0], sizeof(months[0]), -61 * HOUR);
	month_at(months[1], sizeof(months[1]), 0);
	for (i = 0; i < 2; i++) {
		if (i == 1 && strcmp(months[0], months[1]) == 0)
			break;
		rc = reconcile(months[i], out, sizeof(out));
		for (j = 0; j < 2; j++)
			assert_true(reconcile_diff(out, metrics[j]) == 0);
		assert_true(strstr(out, "period ") != NULL);
		assert_true(strstr(out, m_t.id) != NULL);
		/* The exit status says what the last line says. */
		assert_int_equal(rc, strstr(out, " 0 differ, 0 unreadable") !=
		    NULL ? 0 : 1);
	}
	assert_int_equal(it_sh("\"$TOLLGATE_BIN\" admin stripe reconcile "
	    "--period 2026-13 >/dev/null 2>&1"), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_late_revision),
		cmocka_unit_test(test_too_old),
		cmocka_unit_test_teardown(test_faults, faults_off),
		cmocka_unit_test_teardown(test_outage, faults_off),
		cmocka_unit_test(test_crash_resend),
		cmocka_unit_test_teardown(test_kill, faults_off),
		cmocka_unit_test(test_reconcile),
	};

	it_init();
	it_client_init(63);
	return cmocka_run_group_tests(tests, setup, faults_off);
}
