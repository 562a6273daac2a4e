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
 * Ingest a batch for the bound tenant: events is the JSON array of
 * normalised events.  The counts of new and repeated events.
 */
enum db_rc
db_usage_ingest(struct req *r, const char *events, long long *accepted,
    long long *duplicates)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT accepted, duplicates FROM "
	    "usage_ingest($1::jsonb)", 1, &events, &res);
	if (rc == DB_OK) {
		*accepted = db_int(res, 0, 0);
		*duplicates = db_int(res, 0, 1);
	}
	return rc;
}

/* Hold quantity (and cost for an agent) for ttl seconds. */
enum db_rc
db_usage_reserve(struct req *r, const char *metric, long long qty,
    const char *agent, long long cost, int ttl, struct reservation *out)
{
	char		 q[24], c[24], t[16];
	const char	*v[5] = { metric, q, agent, c, t };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(q, sizeof(q), "%lld", qty);
	snprintf(c, sizeof(c), "%lld", cost);
	snprintf(t, sizeof(t), "%d", ttl);
	rc = db_row(r, "SELECT reservation_id, " DB_TS("expires_at")
	    ", remaining FROM usage_reserve($1, $2::bigint, $3::uuid, "
	    "$4::bigint, $5::integer)", 5, v, &res);
	if (rc != DB_OK)
		return rc;
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
