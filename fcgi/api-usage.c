/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The metering routes (SPEC 6, 8): POST /usage/events, reservations and
 * POST /entitlements/check.  Each event of a batch is checked here
 * (valid.c) and every bad one is listed; what only the database knows
 * (agents, reservations, prices, the limits) is checked by the SQL
 * function that counts the batch, in its transaction.  A 2xx means the
 * batch is committed.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "tollgate.h"

#define USAGE_ERRORS_MAX	100	/* bad events listed in one answer */
#define USAGE_TTL_DEFAULT	300

static void
api_usage_int(struct json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, v < 0 ? NULL : json_object_new_int64(v));
}

/* One normalised event for usage_ingest(), with its index. */
static struct json_object *
api_usage_event_json(const struct usage_event *e, size_t i)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "idx", json_object_new_int64((int64_t)i));
	api_str(o, "id", e->id);
	api_str(o, "metric", e->metric);
	json_object_object_add(o, "value", json_object_new_int64(e->value));
	api_str(o, "agent_id", e->agent_id);
	api_str(o, "ts", e->ts);
	api_str(o, "reservation_id", e->reservation_id);
	api_str(o, "provider", e->provider);
	api_str(o, "model", e->model);
	api_usage_int(o, "prompt_tokens", e->prompt_tokens);
	api_usage_int(o, "completion_tokens", e->completion_tokens);
	api_usage_int(o, "cached_tokens", e->cached_tokens);
	api_str(o, "channel_id", e->channel_id);
	api_usage_int(o, "cost_micros", e->cost_micros);
	return o;
}

/* A bad event, listed in the 400's "errors" (up to a cap). */
static void
api_usage_bad(struct json_object *errs, size_t i, const struct vfail *f)
{
	struct json_object	*o;

	if (json_object_array_length(errs) >= USAGE_ERRORS_MAX)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "index", json_object_new_int64((int64_t)i));
	api_str(o, "code", f->code);
	api_str(o, "message", f->message);
	json_object_array_add(errs, o);
}

/* Two events of a batch settling one reservation: the second is bad. */
static int
api_usage_dup_reservation(const struct usage_event *ev, size_t i)
{
	size_t	 j;

	if (ev[i].reservation_id == NULL)
		return 0;
	for (j = 0; j < i; j++)
		if (ev[j].reservation_id != NULL &&
		    strcmp(ev[j].reservation_id, ev[i].reservation_id) == 0)
			return 1;
	return 0;
}

/*
 * Check every event; 0 with all of them in ev, or -1 with the 400
 * listing the bad ones answered.
 */
static int
api_usage_check_batch(struct req *r, struct json_object *arr, size_t n,
    struct usage_event *ev)
{
	struct json_object	*errs;
	struct vfail		 f;
	long long		 now = (long long)time(NULL);
	size_t			 i, bad = 0;
	int			 platform;

	platform = r->auth.kind == PRINCIPAL_PLATFORM_KEY;
	errs = json_object_new_array();
	for (i = 0; i < n; i++) {
		memset(&f, 0, sizeof(f));
		if (valid_usage_event(json_object_array_get_idx(arr, i), i,
		    platform, platform ? NULL : r->auth.tenant_id, now, &ev[i],
		    &f) == -1) {
			api_usage_bad(errs, i, &f);
			bad++;
		} else if (api_usage_dup_reservation(ev, i)) {
			f.code = "invalid_value";
			snprintf(f.message, sizeof(f.message), "events[%zu]."
			    "reservation_id settles a reservation another event "
			    "of the batch settles.", i);
			api_usage_bad(errs, i, &f);
			bad++;
		}
	}
	if (bad == 0) {
		json_object_put(errs);
		return 0;
	}
	req_error_with(r, 400, NULL, "invalid_events", arena_printf(&r->arena,
	    "%zu of %zu events are invalid: nothing was stored.", bad, n),
	    "events", "errors", errs);
	return -1;
}

/* Ingest the events of one tenant (already bound); last: then commit. */
static enum db_rc
api_usage_ingest_tenant(struct req *r, const struct usage_event *ev,
    size_t n, const char *tenant, int last, long long *acc, long long *dup)
{
	struct json_object	*arr;
	enum db_rc		 rc;
	long long		 a = 0, d = 0;
	size_t			 i;

	arr = json_object_new_array();
	for (i = 0; i < n; i++)
		if (strcmp(ev[i].tenant_id, tenant) == 0)
			json_object_array_add(arr, api_usage_event_json(&ev[i],
			    i));
	rc = db_usage_ingest(r, json_object_to_json_string_ext(arr,
	    JSON_C_TO_STRING_PLAIN), last, &a, &d);
	json_object_put(arr);
	*acc += a;
	*dup += d;
	return rc;
}

/* Is event i the first of its tenant in the batch? */
static int
api_usage_first_of(const struct usage_event *ev, size_t i)
{
	size_t	 j;

	for (j = 0; j < i; j++)
		if (strcmp(ev[j].tenant_id, ev[i].tenant_id) == 0)
			return 0;
	return 1;
}

/*
 * POST /usage/events {events: [...]}: up to 1,000 events, all or none.
 * A platform key's batch may hold several tenants' events: each
 * tenant's are counted under that tenant, in the one transaction.
 */
void
api_usage_events(struct req *r)
{
	struct json_object	*arr, *o;
	struct usage_event	*ev;
	const char		*tenant;
	enum db_rc		 rc = DB_OK;
	long long		 acc = 0, dup = 0;
	size_t			 n, i, j;

	if (!json_object_object_get_ex(r->json, "events", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		req_error(r, 400, NULL, "missing_parameter", "events must be an "
		    "array of 1 to 1,000 events.", "events");
		return;
	}
	n = json_object_array_length(arr);
	if (n == 0 || n > VALID_EVENTS_MAX) {
		req_error(r, 400, NULL, "invalid_value", "events must hold 1 to "
		    "1,000 events.", "events");
		return;
	}
	ev = arena_calloc(&r->arena, n, sizeof(*ev));
	if (api_usage_check_batch(r, arr, n, ev) == -1)
		return;
	for (i = 0; i < n && rc == DB_OK; i++) {
		tenant = ev[i].tenant_id;
		if (!api_usage_first_of(ev, i))
			continue;	/* that tenant's events are counted */
		if (strcmp(tenant, r->auth.tenant_id) != 0 &&
		    (rc = db_set_tenant(r, tenant)) != DB_OK)
			break;
		/* The last tenant's statement carries the COMMIT. */
		for (j = i + 1; j < n && !api_usage_first_of(ev, j); j++)
			continue;
		rc = api_usage_ingest_tenant(r, ev, n, tenant, j == n, &acc,
		    &dup);
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "accepted", json_object_new_int64(acc));
	json_object_object_add(o, "duplicates", json_object_new_int64(dup));
	req_json(r, 200, o);
}

/*
 * POST /usage/reservations {metric, quantity, agent_id?,
 * estimated_cost_micros?, ttl_seconds?} -> 201 {id, expires_at,
 * remaining}, or 429 when the quota or the agent's budget cannot hold
 * it.
 */
void
api_usage_reserve(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct reservation	 res;
	struct json_object	*o;
	enum db_rc		 rc;

	if (api_input(r, VOP_RESERVE, v) == -1)
		return;
	if (!valid_metric(v[0].s)) {
		req_error(r, 400, NULL, "invalid_value", "metric is not a "
		    "metric (llm_tokens, agent_executions, api_calls, "
		    "messages).", "metric");
		return;
	}
	rc = db_usage_reserve(r, v[0].s, v[1].i, v[2].present ? v[2].s : NULL,
	    v[3].present ? v[3].i : 0, v[4].present ? (int)v[4].i :
	    USAGE_TTL_DEFAULT, 1, &res);
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	o = json_object_new_object();
	api_str(o, "id", res.reservation_id);
	api_str(o, "metric", v[0].s);
	json_object_object_add(o, "quantity", json_object_new_int64(v[1].i));
	api_str(o, "expires_at", res.expires_at);
	api_usage_int(o, "remaining", res.remaining);
	req_json(r, 201, o);
}

/* DELETE /usage/reservations/{id}: give it back; 204. */
void
api_usage_release(struct req *r)
{
	const char	*id = r->path_params[0];
	enum db_rc	 rc;

	if (!valid_uuid(id) ||
	    (rc = db_usage_unhold(r, id, "released")) == DB_NOTFOUND) {
		req_error(r, 404, NULL, "not_found", "No such reservation.",
		    NULL);
		return;
	}
	if (rc == DB_CONFLICT) {
		req_error(r, 409, NULL, "reservation_not_held", "The "
		    "reservation was settled, released or has expired.", NULL);
		return;
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	r->status = 204;
}

/*
 * POST /entitlements/check {metric, quantity, agent_id?} -> {allowed,
 * remaining, reason}: read only.  With an API key the check ran in the
 * statement that bound the key (auth.c): one round trip in all.
 */
void
api_entitlements_check(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct usage_verdict	 u;
	struct json_object	*o;
	enum db_rc		 rc;

	if (api_input(r, VOP_CHECK, v) == -1)
		return;
	if (r->verdict != NULL)
		u = *r->verdict;	/* answered with the key's binding */
	else if ((rc = db_usage_check(r, v[0].s, v[1].i, v[2].present ?
	    v[2].s : NULL, &u)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "allowed", json_object_new_boolean(u.allowed));
	api_usage_int(o, "remaining", u.remaining);
	api_str(o, "reason", u.reason);
	req_json(r, 200, o);
}

/* --- the read side ------------------------------------------------------ */

/*
 * ?period=current (the default) or YYYY-MM: the period's bounds, or -1
 * with the 400 answered.
 */
static int
api_usage_period(struct req *r, const char **start, const char **end)
{
	struct fail	 f;

	if (usage_period(r, &f, http_kv_get(&r->args, "period"), start,
	    end) == -1) {
		acct_answer(r, &f);
		return -1;
	}
	return 0;
}

/* A rollup grouped by one dimension as a JSON array under key. */
static int
api_usage_by(struct req *r, struct json_object *o, const char *by,
    const char *key, const char *start, const char *end)
{
	struct pg_result	*res;
	struct json_object	*a, *x;
	enum db_rc		 rc;
	int			 i;

	if ((rc = db_usage_by(r, by, start, end, &res)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	a = json_object_new_array();
	for (i = 0; i < db_nrows(res); i++) {
		x = json_object_new_object();
		api_str(x, by, db_get(res, i, 0));
		api_usage_int(x, strcmp(by, "channel") == 0 ? "messages" :
		    "units", db_int(res, i, 1));
		api_usage_int(x, "cost_micros", db_int(res, i, 2));
		api_usage_int(x, "events", db_int(res, i, 3));
		json_object_array_add(a, x);
	}
	json_object_object_add(o, key, a);
	return 0;
}

/* A metric's use, overage and its cost (usage_quota_row()). */
static void
api_usage_metric(struct json_object *a, struct pg_result *res, int i)
{
	struct json_object	*x = json_object_new_object();
	struct usage_quota	 q;

	usage_quota_row(res, i, &q);
	api_str(x, "metric", q.metric);
	api_usage_int(x, "used", q.used);
	api_usage_int(x, "included", q.included);
	api_str(x, "cap", q.cap);
	api_usage_int(x, "overage", q.overage);
	json_object_object_add(x, "overage_cost_micros",
	    json_object_new_int64(q.overage_cost));
	json_object_array_add(a, x);
}

static struct json_object *
api_usage_agent(struct pg_result *res, int i)
{
	struct json_object	*x = json_object_new_object();
	long long		 lim, cost;

	lim = db_get(res, i, 6) == NULL ? -1 : db_int(res, i, 6);
	cost = db_int(res, i, 5);
	api_str(x, "agent_id", db_get(res, i, 0));
	api_str(x, "name", db_get(res, i, 1));
	json_object_object_add(x, "active",
	    json_object_new_boolean(db_bool(res, i, 2)));
	api_usage_int(x, "tokens", db_int(res, i, 3));
	api_usage_int(x, "executions", db_int(res, i, 4));
	api_usage_int(x, "cost_micros", cost);
	api_usage_int(x, "budget_limit_micros", lim);
	api_str(x, "budget_action", db_get(res, i, 7));
	api_str(x, "budget_status", quota_budget_name(
	    quota_budget_status(lim, cost)));
	return x;
}

/*
 * GET /usage/summary?period=: per metric used, included, overage and
 * its cost; per agent tokens, executions, cost, budget and its status;
 * cost per provider and per model; messages per channel.
 */
void
api_usage_summary(struct req *r)
{
	struct pg_result	*res;
	struct json_object	*o, *a;
	const char		*start, *end;
	enum db_rc		 rc;
	int			 i;

	if (api_usage_period(r, &start, &end) == -1)
		return;
	o = json_object_new_object();
	api_str(o, "period_start", start);
	api_str(o, "period_end", end);
	if ((rc = db_usage_metrics(r, start, end, &res)) != DB_OK)
		goto dberr;
	a = json_object_new_array();
	for (i = 0; i < db_nrows(res); i++)
		api_usage_metric(a, res, i);
	json_object_object_add(o, "metrics", a);
	if ((rc = db_usage_agents(r, start, end, &res)) != DB_OK)
		goto dberr;
	a = json_object_new_array();
	for (i = 0; i < db_nrows(res); i++)
		json_object_array_add(a, api_usage_agent(res, i));
	json_object_object_add(o, "agents", a);
	if (api_usage_by(r, o, "provider", "providers", start, end) == -1 ||
	    api_usage_by(r, o, "model", "models", start, end) == -1 ||
	    api_usage_by(r, o, "channel", "channels", start, end) == -1) {
		json_object_put(o);
		return;
	}
	req_json(r, 200, o);
	return;
dberr:
	json_object_put(o);
	req_error_from_db(r, rc);
}

/*
 * GET /usage/timeseries?metric=&granularity=hour|day&from=&to=: points
 * {t, value, cost_micros}.  By default the last 30 days by day, the
 * last 24 hours by hour; at most 92 days by day, 31 by hour.
 */
void
api_usage_timeseries(struct req *r)
{
	struct pg_result	*res;
	struct json_object	*o, *a, *x;
	const char		*metric, *g, *from, *to;
	long long		 f, t, now = (long long)time(NULL), span;
	enum db_rc		 rc;
	int			 hourly, i;
	char			 fb[32], tb[32];

	metric = http_kv_get(&r->args, "metric");
	g = http_kv_get(&r->args, "granularity");
	if (!valid_metric(metric)) {
		req_error(r, 400, NULL, "invalid_value", "metric is not a "
		    "metric (llm_tokens, agent_executions, api_calls, "
		    "messages).", "metric");
		return;
	}
	if (g != NULL && strcmp(g, "hour") != 0 && strcmp(g, "day") != 0) {
		req_error(r, 400, NULL, "invalid_value", "granularity must be "
		    "hour or day.", "granularity");
		return;
	}
	hourly = g != NULL && strcmp(g, "hour") == 0;
	from = http_kv_get(&r->args, "from");
	to = http_kv_get(&r->args, "to");
	t = to != NULL ? valid_time_epoch(to) : now + (hourly ? 3600 : 86400);
	f = from != NULL ? valid_time_epoch(from) : t - (hourly ? 86400 :
	    30 * 86400LL);
	span = hourly ? 31 * 86400LL : 92 * 86400LL;
	if (f == -1 || t == -1 || f >= t || t - f > span) {
		req_error(r, 400, NULL, "invalid_value", "from and to must be "
		    "RFC 3339 times, from before to, at most 31 days apart by "
		    "hour and 92 by day.", from == NULL || f != -1 ? "to" :
		    "from");
		return;
	}
	fmt_rfc3339(fb, sizeof(fb), f);
	fmt_rfc3339(tb, sizeof(tb), t);
	if ((rc = db_usage_series(r, metric, hourly, fb, tb, &res)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	a = json_object_new_array();
	for (i = 0; i < db_nrows(res); i++) {
		x = json_object_new_object();
		api_str(x, "t", db_get(res, i, 0));
		api_usage_int(x, "value", db_int(res, i, 1));
		api_usage_int(x, "cost_micros", db_int(res, i, 2));
		json_object_array_add(a, x);
	}
	o = json_object_new_object();
	api_str(o, "metric", metric);
	api_str(o, "granularity", hourly ? "hour" : "day");
	api_str(o, "from", fb);
	api_str(o, "to", tb);
	json_object_object_add(o, "points", a);
	req_json(r, 200, o);
}

/*
 * GET /usage/export.csv?period=: the period's usage as CSV (usage.c
 * writes it, for the portal's twin too).
 */
void
api_usage_export(struct req *r)
{
	struct fail	 f;
	const char	*start, *end;

	if (api_usage_period(r, &start, &end) == -1)
		return;
	if (usage_export(r, &f, start, end) == -1)
		acct_answer(r, &f);
}

/* GET /usage/alerts?period=: the thresholds crossed in the period. */
void
api_usage_alerts(struct req *r)
{
	struct pg_result	*res;
	struct json_object	*a, *x;
	const char		*start, *end;
	enum db_rc		 rc;
	int			 i;

	if (api_usage_period(r, &start, &end) == -1)
		return;
	if ((rc = db_usage_alerts(r, start, end, &res)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	a = json_object_new_array();
	for (i = 0; i < db_nrows(res); i++) {
		x = json_object_new_object();
		api_str(x, "subject", db_get(res, i, 0));
		api_usage_int(x, "threshold_percent", db_int(res, i, 1));
		api_usage_int(x, "value", db_int(res, i, 2));
		api_usage_int(x, "limit", db_int(res, i, 3));
		api_str(x, "fired_at", db_get(res, i, 4));
		json_object_array_add(a, x);
	}
	api_list(r, a, 0);
}
