/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * A tenant's agents (sql/013) with what each cost in the current
 * metering period (agent_spend, sql/014, the period usage_period()
 * gives for now), and the plan's agent quota.  The quota is a count of
 * active agents, checked under the tenant row's lock: the lock is one
 * statement and the count the next, so the count's snapshot sees every
 * agent that a transaction holding the lock before committed.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

/* An agent's row, "a", with its spend this period, "s". */
#define DB_AGENT_COLS	"a.agent_id, a.name, a.active, " \
	"a.budget_limit_micros, a.budget_action, a.deactivated_reason, " \
	DB_TS("a.deactivated_at") ", " DB_TS("a.created_at") ", " \
	"coalesce(s.cost_micros, 0)"
#define DB_AGENT_SPEND	"JOIN tenants t ON t.tenant_id = a.tenant_id " \
	"LEFT JOIN agent_spend s ON s.tenant_id = a.tenant_id AND " \
	"s.agent_id = a.agent_id AND s.period_start = usage_period(" \
	"t.current_period_start, t.current_period_end, now())"

static void
db_agent_fill(const PGresult *res, int i, struct agent *a)
{
	memset(a, 0, sizeof(*a));
	a->agent_id = db_get(res, i, 0);
	a->name = db_get(res, i, 1);
	a->active = db_bool(res, i, 2);
	a->budget_micros = db_get(res, i, 3) == NULL ? -1 : db_int(res, i, 3);
	a->budget_action = db_get(res, i, 4);
	a->deactivated_reason = db_get(res, i, 5);
	a->deactivated_at = db_get(res, i, 6);
	a->created_at = db_get(res, i, 7);
	a->spend_micros = db_int(res, i, 8);
}

/*
 * A page of agents, newest first, after the agent "after" (an id; one
 * of another tenant or none gives an empty page).  Newest first keeps
 * a page stable while agents are added: they arrive before the cursor.
 */
enum db_rc
db_agent_list(struct req *r, int limit, const char *after, struct agent **out,
    size_t *n, int *has_more)
{
	const char	*v[2];
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	v[1] = after;
	*n = 0;
	if ((rc = db_list(r, "SELECT " DB_AGENT_COLS " FROM agents a "
	    DB_AGENT_SPEND " WHERE a.tenant_id = app_tenant() AND "
	    "($2::uuid IS NULL OR (a.created_at, a.agent_id) < (SELECT "
	    "c.created_at, c.agent_id FROM agents c WHERE c.tenant_id = "
	    "app_tenant() AND c.agent_id = $2::uuid)) "
	    "ORDER BY a.created_at DESC, a.agent_id DESC LIMIT $1", 2, v,
	    limit, &res, &rows, has_more)) != DB_OK)
		return rc;
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++)
		db_agent_fill(res, i, &(*out)[i]);
	*n = (size_t)rows;
	return DB_OK;
}

/* One agent of the tenant; DB_NOTFOUND for another tenant's. */
enum db_rc
db_agent_get(struct req *r, const char *agent_id, struct agent *a)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT " DB_AGENT_COLS " FROM agents a "
	    DB_AGENT_SPEND " WHERE a.tenant_id = app_tenant() AND "
	    "a.agent_id = $1", 1, &agent_id, &res)) == DB_OK)
		db_agent_fill(res, 0, a);
	return rc;
}

/*
 * The agent quota of the plan whose entitlements apply (db_plan_quota():
 * with "lock", agent changes of one tenant queue on the tenant's row).
 */
enum db_rc
db_agent_quota(struct req *r, int lock, struct agent_room *room)
{
	memset(room, 0, sizeof(*room));
	return db_plan_quota(r, "agents", lock, &room->plan_name,
	    &room->limit);
}

/* The active agents now (after db_agent_quota(), a statement apart). */
enum db_rc
db_agent_count(struct req *r, struct agent_room *room)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT count(*) FROM agents WHERE "
	    "tenant_id = app_tenant() AND active", 0, NULL, &res)) == DB_OK)
		room->active = db_int(res, 0, 0);
	return rc;
}

/* A budget as a bigint parameter: NULL for none. */
static const char *
db_agent_budget(struct req *r, const struct agent_change *c)
{
	if (!c->set_budget || c->budget_micros < 0)
		return NULL;
	return arena_printf(&r->arena, "%lld", c->budget_micros);
}

enum db_rc
db_agent_insert(struct req *r, const struct agent_change *c, struct agent *a)
{
	const char	*v[3];
	PGresult	*res;
	enum db_rc	 rc;

	v[0] = c->name;
	v[1] = db_agent_budget(r, c);
	v[2] = c->budget_action;
	if ((rc = db_row(r, "INSERT INTO agents AS a (tenant_id, name, "
	    "budget_limit_micros, budget_action) VALUES (app_tenant(), $1, "
	    "$2::bigint, coalesce($3, 'block')) RETURNING a.agent_id, a.name, "
	    "a.active, a.budget_limit_micros, a.budget_action, "
	    "a.deactivated_reason, " DB_TS("a.deactivated_at") ", "
	    DB_TS("a.created_at") ", 0", 3, v, &res)) == DB_OK)
		db_agent_fill(res, 0, a);
	return rc;
}

/*
 * Change an agent: the fields c sets, the others as they are (SET sees
 * the old row throughout).  Deactivating records "reason" and the time;
 * reactivating clears both.  The agent comes back with its spend.
 */
enum db_rc
db_agent_update(struct req *r, const char *agent_id,
    const struct agent_change *c, const char *reason, struct agent *a)
{
	const char	*v[7];
	PGresult	*res;
	enum db_rc	 rc;

	v[0] = agent_id;
	v[1] = c->name;
	v[2] = c->set_budget ? "t" : "f";
	v[3] = db_agent_budget(r, c);
	v[4] = c->budget_action;
	v[5] = c->active < 0 ? NULL : c->active ? "t" : "f";
	v[6] = reason;
	if ((rc = db_row(r, "WITH a AS (UPDATE agents SET "
	    "name = coalesce($2, name), "
	    "budget_limit_micros = CASE WHEN $3::boolean THEN $4::bigint "
	    "  ELSE budget_limit_micros END, "
	    "budget_action = coalesce($5, budget_action), "
	    "deactivated_reason = CASE WHEN $6::boolean IS NULL OR "
	    "  $6::boolean = active THEN deactivated_reason WHEN $6::boolean "
	    "  THEN NULL ELSE $7 END, "
	    "deactivated_at = CASE WHEN $6::boolean IS NULL OR "
	    "  $6::boolean = active THEN deactivated_at WHEN $6::boolean "
	    "  THEN NULL ELSE now() END, "
	    "active = coalesce($6::boolean, active) "
	    "WHERE tenant_id = app_tenant() AND agent_id = $1 RETURNING *) "
	    "SELECT " DB_AGENT_COLS " FROM a " DB_AGENT_SPEND, 7, v,
	    &res)) == DB_OK)
		db_agent_fill(res, 0, a);
	return rc;
}

/*
 * Deactivate an active agent with "reason".  "deleted" also marks an
 * agent already off for another reason (billing's), so that nothing
 * brings a deleted agent back by itself.  DB_NOTFOUND when nothing
 * changed: no such agent, or one already off (the caller tells which).
 */
enum db_rc
db_agent_deactivate(struct req *r, const char *agent_id, const char *reason,
    const char **name)
{
	const char	*v[2] = { agent_id, reason };
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "UPDATE agents SET active = false, "
	    "deactivated_reason = $2, deactivated_at = CASE WHEN active THEN "
	    "now() ELSE deactivated_at END WHERE tenant_id = app_tenant() AND "
	    "agent_id = $1 AND (active OR ($2 = 'deleted' AND "
	    "deactivated_reason IS DISTINCT FROM 'deleted')) RETURNING name",
	    2, v, &res)) == DB_OK && name != NULL)
		*name = db_get(res, 0, 0);
	return rc;
}
