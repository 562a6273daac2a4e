/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The outbox of reports to Stripe's meters (sql/015, SPEC 8): the
 * listings across tenants (SECURITY DEFINER functions of tollgate_auth),
 * the queueing of closed windows, and one report at a time taken under
 * its row lock, then marked sent or failed.  Everything but the
 * listings runs for the bound tenant (row-level security).  Times cross
 * this boundary as Unix seconds: they go to Stripe as such.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

/* The ids of a one-column listing, into an array owned by the request. */
static void
db_meter_ids(struct req *r, PGresult *res, const char ***ids, size_t *n)
{
	int	 i;

	*n = (size_t)db_nrows(res);
	*ids = arena_calloc(&r->arena, *n + 1, sizeof(**ids));
	for (i = 0; i < db_nrows(res); i++)
		(*ids)[i] = db_get(res, i, 0);
}

/* Tenants with closed windows that hold unreported usage. */
enum db_rc
db_meter_windows_closed(struct req *r, int limit, const char ***ids,
    size_t *n)
{
	char		 lim[16];
	const char	*v[1] = { lim };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(lim, sizeof(lim), "%d", limit);
	if ((rc = db_exec(r, "SELECT t FROM meter_windows_closed($1::integer) "
	    "AS t", 1, v, &res)) != DB_OK)
		return rc;
	db_meter_ids(r, res, ids, n);
	return DB_OK;
}

/*
 * Queue the bound tenant's closed windows (up to limit): the reports
 * made, in *out (owned by the request).  max_age: the age in seconds
 * past which a window's report is stamped with the current hour.
 */
enum db_rc
db_meter_queue(struct req *r, int limit, long long max_age,
    struct meter_queued **out, size_t *n)
{
	char		 lim[16], age[24];
	const char	*v[2] = { lim, age };
	PGresult	*res;
	enum db_rc	 rc;
	int		 i;

	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(age, sizeof(age), "%lld", max_age);
	if ((rc = db_exec(r, "SELECT metric, extract(epoch FROM window_start)"
	    "::bigint, revision, quantity, extract(epoch FROM report_ts)"
	    "::bigint, restamped FROM meter_queue($1::integer, $2::integer)",
	    2, v, &res)) != DB_OK)
		return rc;
	*n = (size_t)db_nrows(res);
	*out = arena_calloc(&r->arena, *n + 1, sizeof(**out));
	for (i = 0; i < db_nrows(res); i++) {
		(*out)[i].metric = db_get(res, i, 0);
		(*out)[i].window_start = db_int(res, i, 1);
		(*out)[i].revision = (int)db_int(res, i, 2);
		(*out)[i].quantity = db_int(res, i, 3);
		(*out)[i].report_ts = db_int(res, i, 4);
		(*out)[i].restamped = db_bool(res, i, 5);
	}
	return DB_OK;
}

/*
 * Tenants with reports due: column 0 the tenant, column 1 whether it
 * has a Stripe customer (the result is owned by the request).
 */
enum db_rc
db_meter_reports_due(struct req *r, int limit, struct pg_result **res)
{
	char		 lim[16];
	const char	*v[1] = { lim };

	snprintf(lim, sizeof(lim), "%d", limit);
	return db_exec(r, "SELECT tenant_id, has_customer FROM "
	    "meter_reports_due($1::integer)", 1, v, res);
}

/*
 * Open a transaction for the tenant and take its next due report under
 * its row lock, skipping those another worker holds: DB_NOTFOUND when
 * there is none (the transaction is open all the same).  The lock lasts
 * until the caller commits.
 */
enum db_rc
db_meter_next(struct req *r, const char *tenant, long long max_age,
    struct meter_report *out)
{
	char		 age[24];
	const char	*v[1] = { age };
	struct db_call	 c[1];
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(age, sizeof(age), "%lld", max_age);
	memset(c, 0, sizeof(c));
	c[0].sql = "SELECT m.metric, "
	    "extract(epoch FROM m.window_start)::bigint, m.revision, "
	    "m.quantity, extract(epoch FROM m.report_ts)::bigint, "
	    "m.identifier, m.attempts, t.stripe_customer_id, m.report_ts < "
	    "now() - make_interval(secs => $1::integer) FROM meter_reports m "
	    "JOIN tenants t ON t.tenant_id = m.tenant_id "
	    "WHERE m.tenant_id = app_tenant() AND m.status = 'pending' AND "
	    "m.next_at <= now() ORDER BY m.next_at, m.window_start, m.metric, "
	    "m.revision LIMIT 1 FOR UPDATE OF m SKIP LOCKED";
	c[0].n = 1;
	c[0].vals = v;
	if ((rc = db_begin_with(r, tenant, c, 1)) != DB_OK)
		return rc;
	res = c[0].res;
	if (db_nrows(res) == 0)
		return DB_NOTFOUND;
	memset(out, 0, sizeof(*out));
	out->metric = db_get(res, 0, 0);
	out->window_start = db_int(res, 0, 1);
	out->revision = (int)db_int(res, 0, 2);
	out->quantity = db_int(res, 0, 3);
	out->report_ts = db_int(res, 0, 4);
	out->identifier = db_get(res, 0, 5);
	out->attempts = (int)db_int(res, 0, 6);
	out->customer = db_get(res, 0, 7);
	out->stale = db_bool(res, 0, 8);
	return DB_OK;
}

/* The key of a report's row, as statement parameters. */
#define DB_METER_KEY "tenant_id = app_tenant() AND metric = $1 AND " \
	"window_start = to_timestamp($2::bigint) AND revision = $3::integer"

static void
db_meter_key(const struct meter_report *m, char *win, size_t winsz,
    char *rev, size_t revsz)
{
	snprintf(win, winsz, "%lld", m->window_start);
	snprintf(rev, revsz, "%d", m->revision);
}

/*
 * A report too old for Stripe by now (it waited for weeks): stamped
 * with the current hour (UTC), the new time in m->report_ts.
 */
enum db_rc
db_meter_restamp(struct req *r, struct meter_report *m)
{
	char		 win[24], rev[16];
	const char	*v[3] = { m->metric, win, rev };
	PGresult	*res;
	enum db_rc	 rc;

	db_meter_key(m, win, sizeof(win), rev, sizeof(rev));
	rc = db_row(r, "UPDATE meter_reports SET report_ts = "
	    "date_trunc('hour', now(), 'UTC') WHERE " DB_METER_KEY
	    " RETURNING extract(epoch FROM report_ts)::bigint", 3, v, &res);
	if (rc == DB_OK)
		m->report_ts = db_int(res, 0, 0);
	return rc;
}

/* Stripe has the report: sent, once. */
enum db_rc
db_meter_sent(struct req *r, const struct meter_report *m)
{
	char		 win[24], rev[16];
	const char	*v[3] = { m->metric, win, rev };

	db_meter_key(m, win, sizeof(win), rev, sizeof(rev));
	return db_exec(r, "UPDATE meter_reports SET status = 'sent', "
	    "sent_at = now(), attempts = attempts + 1, last_error = NULL "
	    "WHERE " DB_METER_KEY, 3, v, NULL);
}

/* An attempt failed: why, and when to try again (seconds from now). */
enum db_rc
db_meter_failed(struct req *r, const struct meter_report *m,
    const char *why, long delay_s)
{
	char		 win[24], rev[16], delay[24];
	const char	*v[5] = { m->metric, win, rev, why, delay };

	db_meter_key(m, win, sizeof(win), rev, sizeof(rev));
	snprintf(delay, sizeof(delay), "%ld", delay_s);
	return db_exec(r, "UPDATE meter_reports SET attempts = attempts + 1, "
	    "last_error = $4, next_at = now() + make_interval(secs => "
	    "$5::integer) WHERE " DB_METER_KEY, 5, v, NULL);
}

/*
 * The bound tenant has no Stripe customer: its pending reports say so
 * (they stay pending).  *marked: reports newly marked; *before: those
 * that said so already.
 */
enum db_rc
db_meter_no_customer(struct req *r, const char *why, long long *marked,
    long long *before)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "WITH u AS (UPDATE meter_reports SET last_error = $1 "
	    "WHERE tenant_id = app_tenant() AND status = 'pending' AND "
	    "last_error IS DISTINCT FROM $1 RETURNING 1) "
	    "SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM "
	    "meter_reports WHERE tenant_id = app_tenant() AND status = "
	    "'pending' AND last_error IS NOT DISTINCT FROM $1)", 1, &why,
	    &res);
	if (rc != DB_OK)
		return rc;
	*marked = db_int(res, 0, 0);
	*before = db_int(res, 0, 1);
	return DB_OK;
}

/*
 * Local totals of [from, to) (Unix seconds) per tenant with a Stripe
 * customer and metered metric, across tenants, into *out (owned by
 * the request).
 */
enum db_rc
db_meter_reconcile(struct req *r, long long from, long long to,
    struct meter_recon **out, size_t *n)
{
	char		 f[24], t[24];
	const char	*v[2] = { f, t };
	PGresult	*res;
	enum db_rc	 rc;
	int		 i;

	snprintf(f, sizeof(f), "%lld", from);
	snprintf(t, sizeof(t), "%lld", to);
	if ((rc = db_exec(r, "SELECT tenant_id, customer, metric, usage, sent "
	    "FROM meter_reconcile(to_timestamp($1::bigint), "
	    "to_timestamp($2::bigint))", 2, v, &res)) != DB_OK)
		return rc;
	*n = (size_t)db_nrows(res);
	*out = arena_calloc(&r->arena, *n + 1, sizeof(**out));
	for (i = 0; i < db_nrows(res); i++) {
		(*out)[i].tenant_id = db_get(res, i, 0);
		(*out)[i].customer = db_get(res, i, 1);
		(*out)[i].metric = db_get(res, i, 2);
		(*out)[i].usage = db_int(res, i, 3);
		(*out)[i].sent = db_int(res, i, 4);
	}
	return DB_OK;
}
