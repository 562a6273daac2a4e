/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The plan catalogue (SPEC 4): plans, their features and quotas, as the
 * migrations seed them.  Global tables, read outside any tenant; what
 * applies to a tenant (its entitlements, the quota of one metric) is
 * read within it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

static struct plan *
db_plan_by_id(struct plan *p, size_t n, const char *id)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(p[i].plan, id) == 0)
			return &p[i];
	return NULL;
}

static void
db_plan_quotas(const PGresult *res, struct plan *p, size_t n)
{
	struct plan_quota	*q;
	struct plan		*pl;
	int			 i;

	for (i = 0; i < db_nrows(res); i++) {
		if ((pl = db_plan_by_id(p, n, db_get(res, i, 0))) == NULL ||
		    pl->nquotas == PLAN_QUOTAS_MAX)
			continue;
		q = &pl->quotas[pl->nquotas++];
		q->metric = db_get(res, i, 1);
		q->kind = db_get(res, i, 2);
		q->included = db_get(res, i, 3) == NULL ? -1 : db_int(res, i, 3);
		q->cap = db_get(res, i, 4);
		q->grace_pct = (int)db_int(res, i, 5);
		q->unit_price_micros = db_get(res, i, 6) == NULL ? -1 :
		    db_int(res, i, 6);
		q->price_unit = db_int(res, i, 7);
	}
}

/* The whole catalogue, plans in display order (owned by the request). */
enum db_rc
db_plans_list(struct req *r, struct plan **out, size_t *n)
{
	PGresult	*res;
	struct plan	*p, *pl;
	enum db_rc	 rc;
	int		 i;

	*n = 0;
	if ((rc = db_exec(r, "SELECT plan, name, price_cents, per_seat, "
	    "trial_days, rate_limit, rate_per_seat FROM plans ORDER BY sort, "
	    "plan", 0, NULL, &res)) != DB_OK)
		return rc;
	p = arena_calloc(&r->arena, (size_t)db_nrows(res) + 1, sizeof(*p));
	for (i = 0; i < db_nrows(res); i++) {
		p[i].plan = db_get(res, i, 0);
		p[i].name = db_get(res, i, 1);
		p[i].price_cents = db_int(res, i, 2);
		p[i].per_seat = db_bool(res, i, 3);
		p[i].trial_days = (int)db_int(res, i, 4);
		p[i].rate_limit = (int)db_int(res, i, 5);
		p[i].rate_per_seat = db_bool(res, i, 6);
	}
	*n = (size_t)i;
	if ((rc = db_exec(r, "SELECT plan, feature FROM plan_features "
	    "ORDER BY plan, feature", 0, NULL, &res)) != DB_OK)
		return rc;
	for (i = 0; i < db_nrows(res); i++)
		if ((pl = db_plan_by_id(p, *n, db_get(res, i, 0))) != NULL &&
		    pl->nfeatures < PLAN_FEATURES_MAX)
			pl->features[pl->nfeatures++] = db_get(res, i, 1);
	if ((rc = db_exec(r, "SELECT q.plan, q.metric, q.kind, q.included, "
	    "q.cap, q.grace_pct, q.unit_price_micros, q.price_unit "
	    "FROM plan_quotas q ORDER BY q.plan, q.kind, q.metric", 0, NULL,
	    &res)) != DB_OK)
		return rc;
	db_plan_quotas(res, p, *n);
	*out = p;
	return DB_OK;
}

/*
 * The bound tenant's entitlements: the plan whose entitlements apply,
 * its features (comma-separated) and, per quota, what is used now.
 * Counts are counted where they live (members, active agents); per-
 * period metrics come from the usage counters of the current period
 * (usage_period(): the subscription's period, else the calendar month,
 * UTC).  What later milestones bring (channels, provider keys, storage)
 * counts 0 until their tables exist, which is what is used.
 */
enum db_rc
db_entitlements(struct req *r, struct entitlements *e)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i;

	memset(e, 0, sizeof(*e));
	rc = db_exec(r, "WITH t AS (SELECT t.*, plan_effective(t.plan, "
	    "t.status, t.past_due_since) AS eplan, usage_period("
	    "t.current_period_start, t.current_period_end, now()) AS period "
	    "FROM tenants t WHERE t.tenant_id = app_tenant()) "
	    "SELECT p.plan, p.name, t.status, q.metric, q.kind, q.included, "
	    "q.cap, q.grace_pct, CASE q.metric WHEN 'seats' THEN "
	    "(SELECT count(*) FROM memberships m WHERE m.tenant_id = "
	    "t.tenant_id) WHEN 'agents' THEN (SELECT count(*) FROM agents a "
	    "WHERE a.tenant_id = t.tenant_id AND a.active) ELSE coalesce(c.used, "
	    "0) END, " DB_TS("t.period") ", "
	    DB_TS("CASE WHEN t.period = t.current_period_start THEN "
	    "t.current_period_end ELSE (date_trunc('month', t.period AT TIME "
	    "ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC' END") ", "
	    "(SELECT coalesce(string_agg(f.feature, ',' ORDER BY f.feature), "
	    "'') FROM plan_features f WHERE f.plan = p.plan), "
	    "greatest(coalesce(c.reserved, 0), 0) "
	    "FROM t JOIN plans p ON p.plan = t.eplan JOIN plan_quotas q ON "
	    "q.plan = p.plan LEFT JOIN usage_counters c ON c.tenant_id = "
	    "t.tenant_id AND c.metric = q.metric AND c.period_start = t.period "
	    "AND q.kind = 'period' ORDER BY q.kind, q.metric", 0, NULL, &res);
	if (rc != DB_OK)
		return rc;
	if (db_nrows(res) == 0)
		return DB_NOTFOUND;
	e->plan = db_get(res, 0, 0);
	e->plan_name = db_get(res, 0, 1);
	e->status = db_get(res, 0, 2);
	e->period_start = db_get(res, 0, 9);
	e->period_end = db_get(res, 0, 10);
	e->features = db_get(res, 0, 11);
	for (i = 0; i < db_nrows(res) && e->n < PLAN_QUOTAS_MAX; i++, e->n++) {
		e->q[e->n].metric = db_get(res, i, 3);
		e->q[e->n].kind = db_get(res, i, 4);
		e->q[e->n].included = db_get(res, i, 5) == NULL ? -1 :
		    db_int(res, i, 5);
		e->q[e->n].cap = db_get(res, i, 6);
		e->q[e->n].grace_pct = (int)db_int(res, i, 7);
		e->used[e->n] = db_int(res, i, 8);
		e->reserved[e->n] = db_int(res, i, 12);
	}
	return DB_OK;
}

#define DB_PLAN_QUOTA	"SELECT p.name, q.included FROM tenants t " \
	"JOIN plans p ON p.plan = plan_effective(t.plan, t.status, " \
	"t.past_due_since) LEFT JOIN plan_quotas q ON q.plan = p.plan AND " \
	"q.metric = $1 WHERE t.tenant_id = app_tenant()"

/*
 * The quota of a metric in the plan whose entitlements apply to the
 * tenant: the plan's name, and what it includes (-1 for no quota row or
 * NULL included: any number).  With "lock" the tenant's row is taken
 * for the transaction, FOR NO KEY UPDATE: changes counted against the
 * quota queue there, while inserts that only reference the tenant (its
 * usage, its audit trail) do not wait.
 */
enum db_rc
db_plan_quota(struct req *r, const char *metric, int lock,
    const char **plan_name, long long *limit)
{
	PGresult	*res;
	enum db_rc	 rc;

	if (lock)
		rc = db_row(r, DB_PLAN_QUOTA " FOR NO KEY UPDATE OF t", 1,
		    &metric, &res);
	else
		rc = db_row(r, DB_PLAN_QUOTA, 1, &metric, &res);
	if (rc != DB_OK)
		return rc;
	*plan_name = db_get(res, 0, 0);
	*limit = db_get(res, 0, 1) == NULL ? -1 : db_int(res, 0, 1);
	return DB_OK;
}
