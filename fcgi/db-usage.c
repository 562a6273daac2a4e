/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Metering's statements (SPEC 8): a batch of events ingested, a
 * reservation held or given back, the read-only check.  The work is in
 * the SQL functions of migration 014, one call each: they take the row
 * locks that keep concurrent callers from passing a limit, and refuse
 * with SQLSTATE TG400 or TG429 (DB_REFUSED, the request says why).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

/*
 * The statements the /usage page reads (db_usage_page()) as well as
 * their own functions: one text each, so both prepare the same.
 */
#define DB_USAGE_METRICS_SQL	\
	"SELECT q.metric, coalesce((SELECT sum(c.used) FROM " \
	"usage_counters c WHERE c.tenant_id = app_tenant() AND c.metric = " \
	"q.metric AND c.period_start >= $1::timestamptz AND c.period_start " \
	"< $2::timestamptz), 0), q.included, q.cap, q.unit_price_micros, " \
	"q.price_unit, q.grace_pct FROM tenants t JOIN plan_quotas q ON " \
	"q.plan = plan_effective(t.plan, t.status, t.past_due_since) WHERE " \
	"t.tenant_id = app_tenant() AND q.kind = 'period' ORDER BY " \
	"q.metric"
#define DB_USAGE_AGENTS_SQL	\
	"SELECT a.agent_id, a.name, a.active, " \
	"coalesce(sum(s.tokens), 0), coalesce(sum(s.executions), 0), " \
	"coalesce(sum(s.cost_micros), 0), a.budget_limit_micros, " \
	"a.budget_action FROM agents a LEFT JOIN agent_spend s ON " \
	"s.tenant_id = a.tenant_id AND s.agent_id = a.agent_id AND " \
	"s.period_start >= $1::timestamptz AND s.period_start < " \
	"$2::timestamptz WHERE a.tenant_id = app_tenant() GROUP BY " \
	"a.tenant_id, a.agent_id ORDER BY 6 DESC, a.name LIMIT 200"
#define DB_USAGE_BY_SQL	\
	"SELECT CASE $3 WHEN 'provider' THEN provider WHEN " \
	"'model' THEN provider || '/' || model ELSE channel_id END AS k, " \
	"sum(value), sum(cost_micros), sum(events) FROM usage_daily WHERE " \
	"tenant_id = app_tenant() AND day >= ($1::timestamptz AT TIME ZONE " \
	"'UTC')::date AND day < ($2::timestamptz AT TIME ZONE 'UTC')::date " \
	"AND CASE $3 WHEN 'channel' THEN metric = 'messages' AND " \
	"channel_id <> '' ELSE provider <> '' END GROUP BY 1 ORDER BY 3 " \
	"DESC, 2 DESC LIMIT 200"
#define DB_USAGE_SERIES_DAILY_SQL	\
	"SELECT to_char(day, 'YYYY-MM-DD\"T00:00:00Z\"'), " \
	"sum(value), sum(cost_micros) FROM usage_daily WHERE tenant_id = " \
	"app_tenant() AND metric = $1 AND day >= ($2::timestamptz AT TIME " \
	"ZONE 'UTC')::date AND day < ($3::timestamptz AT TIME ZONE " \
	"'UTC')::date GROUP BY day ORDER BY day"
#define DB_USAGE_ALERTS_SQL	\
	"SELECT subject, threshold, value, limit_value, " \
	DB_TS("fired_at") " FROM usage_alerts WHERE tenant_id = " \
	"app_tenant() AND period_start >= $1::timestamptz AND " \
	"period_start < $2::timestamptz ORDER BY fired_at DESC, subject, " \
	"threshold LIMIT 500"

/*
 * Ingest a batch for the bound tenant: events is the JSON array of
 * normalised events.  The counts of new and repeated events.  With
 * commit, the transaction's COMMIT travels with the statement (one
 * round trip fewer: the handler has nothing else to write).
 */
enum db_rc
db_usage_ingest(struct req *r, const char *events, int commit,
    long long *accepted, long long *duplicates)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = (commit ? db_exec_commit : db_exec)(r, "SELECT accepted, "
	    "duplicates FROM usage_ingest($1::jsonb)", 1, &events, &res);
	if (rc != DB_OK)
		return rc;
	if (db_nrows(res) != 1)
		return DB_ERROR;
	*accepted = db_int(res, 0, 0);
	*duplicates = db_int(res, 0, 1);
	return DB_OK;
}

/* Hold quantity (and cost for an agent) for ttl seconds; commit: see
 * db_usage_ingest(). */
enum db_rc
db_usage_reserve(struct req *r, const char *metric, long long qty,
    const char *agent, long long cost, int ttl, int commit,
    struct reservation *out)
{
	char		 q[24], c[24], t[16];
	const char	*v[5] = { metric, q, agent, c, t };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(q, sizeof(q), "%lld", qty);
	snprintf(c, sizeof(c), "%lld", cost);
	snprintf(t, sizeof(t), "%d", ttl);
	rc = (commit ? db_exec_commit : db_exec)(r, "SELECT reservation_id, "
	    DB_TS("expires_at") ", remaining FROM usage_reserve($1, "
	    "$2::bigint, $3::uuid, $4::bigint, $5::integer)", 5, v, &res);
	if (rc != DB_OK)
		return rc;
	if (db_nrows(res) != 1)
		return DB_ERROR;
	out->reservation_id = db_get(res, 0, 0);
	out->expires_at = db_get(res, 0, 1);
	out->remaining = db_get(res, 0, 2) == NULL ? -1 : db_int(res, 0, 2);
	return DB_OK;
}

/*
 * Give a held reservation back (status "released" or "expired"):
 * DB_NOTFOUND when there is none, DB_CONFLICT when it is not held.
 */
enum db_rc
db_usage_unhold(struct req *r, const char *id, const char *status)
{
	const char	*v[2] = { id, status };
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT usage_unhold($1::uuid, $2)", 2, v, &res);
	if (rc != DB_OK)
		return rc;
	if (db_get(res, 0, 0) == NULL)
		return DB_NOTFOUND;
	return db_bool(res, 0, 0) ? DB_OK : DB_CONFLICT;
}

/* Would quantity more be admitted now?  Read only. */
enum db_rc
db_usage_check(struct req *r, const char *metric, long long qty,
    const char *agent, struct usage_verdict *out)
{
	char		 q[24];
	const char	*v[3] = { metric, q, agent };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(q, sizeof(q), "%lld", qty);
	rc = db_row(r, "SELECT allowed, remaining, reason FROM "
	    "usage_check($1, $2::bigint, $3::uuid)", 3, v, &res);
	if (rc != DB_OK)
		return rc;
	out->allowed = db_bool(res, 0, 0);
	out->remaining = db_get(res, 0, 1) == NULL ? -1 : db_int(res, 0, 1);
	out->reason = db_get(res, 0, 2);
	return DB_OK;
}

/* Held reservations past their time, across tenants (the worker). */
enum db_rc
db_usage_expired(struct req *r, int limit, PGresult **res)
{
	char		 l[16];
	const char	*v[1] = { l };

	snprintf(l, sizeof(l), "%d", limit);
	return db_exec(r, "SELECT tenant_id, reservation_id FROM "
	    "usage_expired($1::integer)", 1, v, res);
}

/*
 * The bounds of a period for the bound tenant: "current" (the metering
 * period of now) or a calendar month "YYYY-MM" (UTC), as RFC 3339.
 */
enum db_rc
db_usage_period(struct req *r, const char *month, const char **start,
    const char **end)
{
	const char	*v[1] = { month };
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "WITH p AS (SELECT CASE WHEN $1::text IS NULL THEN "
	    "usage_period(t.current_period_start, t.current_period_end, now()) "
	    "ELSE ($1 || '-01')::date AT TIME ZONE 'UTC' END AS s, "
	    "t.current_period_start AS cs, t.current_period_end AS ce "
	    "FROM tenants t WHERE t.tenant_id = app_tenant()) "
	    "SELECT " DB_TS("s") ", " DB_TS("CASE WHEN $1::text IS NULL AND "
	    "s = cs THEN ce ELSE (date_trunc('month', s AT TIME ZONE 'UTC') + "
	    "interval '1 month') AT TIME ZONE 'UTC' END") " FROM p", 1, v,
	    &res);
	if (rc != DB_OK)
		return rc;
	*start = db_get(res, 0, 0);
	*end = db_get(res, 0, 1);
	return DB_OK;
}

/*
 * What the period [start, end) used, by metric, for the summary: used,
 * included, cap, overage price and its unit, the soft cap's grace.
 * Counters whose period starts in the range (a subscription's period
 * counts in the month it starts).
 */
enum db_rc
db_usage_metrics(struct req *r, const char *start, const char *end,
    struct pg_result **res)
{
	const char	*v[2] = { start, end };

	return db_exec(r, DB_USAGE_METRICS_SQL, 2, v, res);
}

/* Per agent in the period: name, tokens, executions, cost, budget. */
enum db_rc
db_usage_agents(struct req *r, const char *start, const char *end,
    struct pg_result **res)
{
	const char	*v[2] = { start, end };

	return db_exec(r, DB_USAGE_AGENTS_SQL, 2, v, res);
}

/*
 * The period's daily rollup grouped by one dimension ("provider",
 * "model" or "channel"): key, value, cost, events.
 */
enum db_rc
db_usage_by(struct req *r, const char *by, const char *start, const char *end,
    struct pg_result **res)
{
	const char	*v[3] = { start, end, by };

	return db_exec(r, DB_USAGE_BY_SQL, 3, v, res);
}

/*
 * A metric's points from..to: per day from the daily rollup, per hour
 * from the events themselves.
 */
enum db_rc
db_usage_series(struct req *r, const char *metric, int hourly,
    const char *from, const char *to, struct pg_result **res)
{
	const char	*v[3] = { metric, from, to };

	if (hourly)
		return db_exec(r, "SELECT " DB_TS("date_trunc('hour', ts)") ", "
		    "sum(value), sum(cost_micros) FROM usage_events WHERE "
		    "tenant_id = app_tenant() AND metric = $1 AND ts >= "
		    "$2::timestamptz AND ts < $3::timestamptz GROUP BY 1 "
		    "ORDER BY 1", 3, v, res);
	return db_exec(r, DB_USAGE_SERIES_DAILY_SQL, 3, v, res);
}

/* The period's rollup rows for the CSV export, by day, agent, metric. */
enum db_rc
db_usage_export(struct req *r, const char *start, const char *end,
    struct pg_result **res)
{
	const char	*v[2] = { start, end };

	return db_exec(r, "SELECT to_char(d.day, 'YYYY-MM-DD'), CASE WHEN "
	    "d.agent_id = '00000000-0000-0000-0000-000000000000' THEN '' ELSE "
	    "d.agent_id::text END, coalesce(a.name, ''), d.metric, d.provider, "
	    "d.model, d.channel_id, d.value, d.cost_micros, d.events FROM "
	    "usage_daily d LEFT JOIN agents a ON a.tenant_id = d.tenant_id AND "
	    "a.agent_id = d.agent_id WHERE d.tenant_id = app_tenant() AND "
	    "d.day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND d.day < "
	    "($2::timestamptz AT TIME ZONE 'UTC')::date ORDER BY d.day, 2, "
	    "d.metric, d.provider, d.model, d.channel_id", 2, v, res);
}

/* Thresholds crossed in the period starting at start. */
enum db_rc
db_usage_alerts(struct req *r, const char *start, const char *end,
    struct pg_result **res)
{
	const char	*v[2] = { start, end };

	return db_exec(r, DB_USAGE_ALERTS_SQL, 2, v, res);
}

/*
 * The /usage page's independent reads of the period [start, end), in
 * one round trip: res[USAGE_PAGE_*] as db_usage_metrics(),
 * db_usage_series() (daily, of metric), db_usage_agents(),
 * db_usage_by() by provider, model and channel, db_usage_alerts(),
 * and the layout's db_tenant_seats().
 */
enum db_rc
db_usage_page(struct req *r, const char *start, const char *end,
    const char *metric, struct pg_result **res)
{
	const char	*v[2] = { start, end };
	const char	*s[3] = { metric, start, end };
	const char	*p[3] = { start, end, "provider" };
	const char	*m[3] = { start, end, "model" };
	const char	*c[3] = { start, end, "channel" };
	struct db_call	 calls[USAGE_PAGE__MAX];
	enum db_rc	 rc;
	size_t		 i;

	memset(calls, 0, sizeof(calls));
	calls[USAGE_PAGE_METRICS].sql = DB_USAGE_METRICS_SQL;
	calls[USAGE_PAGE_METRICS].n = 2;
	calls[USAGE_PAGE_METRICS].vals = v;
	calls[USAGE_PAGE_SERIES].sql = DB_USAGE_SERIES_DAILY_SQL;
	calls[USAGE_PAGE_SERIES].n = 3;
	calls[USAGE_PAGE_SERIES].vals = s;
	calls[USAGE_PAGE_AGENTS].sql = DB_USAGE_AGENTS_SQL;
	calls[USAGE_PAGE_AGENTS].n = 2;
	calls[USAGE_PAGE_AGENTS].vals = v;
	calls[USAGE_PAGE_PROVIDERS].sql = DB_USAGE_BY_SQL;
	calls[USAGE_PAGE_PROVIDERS].n = 3;
	calls[USAGE_PAGE_PROVIDERS].vals = p;
	calls[USAGE_PAGE_MODELS].sql = DB_USAGE_BY_SQL;
	calls[USAGE_PAGE_MODELS].n = 3;
	calls[USAGE_PAGE_MODELS].vals = m;
	calls[USAGE_PAGE_CHANNELS].sql = DB_USAGE_BY_SQL;
	calls[USAGE_PAGE_CHANNELS].n = 3;
	calls[USAGE_PAGE_CHANNELS].vals = c;
	calls[USAGE_PAGE_ALERTS].sql = DB_USAGE_ALERTS_SQL;
	calls[USAGE_PAGE_ALERTS].n = 2;
	calls[USAGE_PAGE_ALERTS].vals = v;
	db_tenant_seats_call(&calls[USAGE_PAGE_SEATS]);
	rc = db_exec_many(r, calls, USAGE_PAGE__MAX);
	for (i = 0; i < USAGE_PAGE__MAX; i++)
		res[i] = calls[i].res;
	return rc;
}
