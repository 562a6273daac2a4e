/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Channels (sql/018): the tenant's Slack and WhatsApp connections with
 * their tokens sealed, the plan's channels quota, and the nonces of
 * OAuth states.  As for agents and LLM keys, the tenant row is locked
 * by one statement and the connections counted by the next, so the
 * count sees every connection a transaction holding the lock before
 * committed.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

#define DB_CHANNEL_COLS	"c.channel_id, c.kind, c.external_id, " \
	"c.target_id, c.name, c.target, c.agent_id, c.status, " \
	"c.status_detail, " DB_TS("c.created_at") ", " \
	DB_TS("c.updated_at") ", " DB_TS("c.last_test_at") ", c.token"

static void
db_channel_fill(const PGresult *res, int i, struct channel *c)
{
	memset(c, 0, sizeof(*c));
	c->channel_id = db_get(res, i, 0);
	c->kind = db_get(res, i, 1);
	c->external_id = db_get(res, i, 2);
	c->target_id = db_get(res, i, 3);
	c->name = db_get(res, i, 4);
	c->target = db_get(res, i, 5);
	c->agent_id = db_get(res, i, 6);
	c->status = db_get(res, i, 7);
	c->status_detail = db_get(res, i, 8);
	c->created_at = db_get(res, i, 9);
	c->updated_at = db_get(res, i, 10);
	c->last_test_at = db_get(res, i, 11);
	c->token = db_get(res, i, 12);
}

/* The tenant's connections, newest first (the quota keeps them few). */
enum db_rc
db_channel_list(struct req *r, struct channel **out, size_t *n)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	*n = 0;
	if ((rc = db_exec(r, "SELECT " DB_CHANNEL_COLS " FROM "
	    "channel_connections c WHERE c.tenant_id = app_tenant() ORDER BY "
	    "c.created_at DESC, c.channel_id LIMIT 1000", 0, NULL, &res)) !=
	    DB_OK)
		return rc;
	rows = db_nrows(res);
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++)
		db_channel_fill(res, i, &(*out)[i]);
	*n = (size_t)rows;
	return DB_OK;
}

/* One connection of the tenant; DB_NOTFOUND for none or another's. */
enum db_rc
db_channel_get(struct req *r, const char *channel_id, struct channel *c)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT " DB_CHANNEL_COLS " FROM "
	    "channel_connections c WHERE c.tenant_id = app_tenant() AND "
	    "c.channel_id = $1::uuid", 1, &channel_id, &res)) == DB_OK)
		db_channel_fill(res, 0, c);
	return rc;
}

/* Lock the tenant's row and read the plan's channels quota. */
enum db_rc
db_channel_quota(struct req *r, struct channel_room *room)
{
	memset(room, 0, sizeof(*room));
	return db_plan_quota(r, "channels", 1, &room->plan_name, &room->limit);
}

/*
 * After the lock: the connections now, and whether this one (kind,
 * external id, target id) is among them (connecting it again replaces
 * its token and counts nothing).
 */
enum db_rc
db_channel_count(struct req *r, const struct channel *c,
    struct channel_room *room)
{
	const char	*v[3];
	PGresult	*res;
	enum db_rc	 rc;

	v[0] = c->kind;
	v[1] = c->external_id;
	v[2] = c->target_id != NULL ? c->target_id : "";
	if ((rc = db_row(r, "SELECT count(*), coalesce(bool_or(kind = $1 AND "
	    "external_id = $2 AND target_id = $3), false) FROM "
	    "channel_connections WHERE tenant_id = app_tenant()", 3, v,
	    &res)) != DB_OK)
		return rc;
	room->used = db_int(res, 0, 0);
	room->exists = db_bool(res, 0, 1);
	return DB_OK;
}

/*
 * Store a connection, or replace the token, names and agent of the one
 * it matches; *created says which.  c->token is the sealed token.
 */
enum db_rc
db_channel_put(struct req *r, const struct channel *c, struct channel *out,
    int *created)
{
	const char	*v[7];
	PGresult	*res;
	enum db_rc	 rc;

	v[0] = c->kind;
	v[1] = c->external_id;
	v[2] = c->target_id != NULL ? c->target_id : "";
	v[3] = c->name;
	v[4] = c->target;
	v[5] = c->agent_id;
	v[6] = c->token;
	if ((rc = db_row(r, "INSERT INTO channel_connections AS c (tenant_id, "
	    "kind, external_id, target_id, name, target, agent_id, token) "
	    "VALUES (app_tenant(), $1, $2, $3, $4, $5, $6::uuid, $7) "
	    "ON CONFLICT (tenant_id, kind, external_id, target_id) DO UPDATE "
	    "SET name = excluded.name, target = excluded.target, agent_id = "
	    "excluded.agent_id, token = excluded.token, status = 'connected', "
	    "status_detail = NULL, updated_at = now() RETURNING "
	    DB_CHANNEL_COLS ", c.xmax = 0", 7, v, &res)) != DB_OK)
		return rc;
	db_channel_fill(res, 0, out);
	*created = db_bool(res, 0, 13);
	return DB_OK;
}

/* Remove a connection of the tenant; DB_NOTFOUND for none or another's. */
enum db_rc
db_channel_delete(struct req *r, const char *channel_id, struct channel *c)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "DELETE FROM channel_connections AS c WHERE "
	    "c.tenant_id = app_tenant() AND c.channel_id = $1::uuid "
	    "RETURNING " DB_CHANNEL_COLS, 1, &channel_id, &res)) == DB_OK)
		db_channel_fill(res, 0, c);
	return rc;
}

/* The outcome of a test message: status and what the provider said. */
enum db_rc
db_channel_tested(struct req *r, const char *channel_id, int ok,
    const char *detail, struct channel *c)
{
	const char	*v[3];
	PGresult	*res;
	enum db_rc	 rc;

	v[0] = channel_id;
	v[1] = ok ? "connected" : "failing";
	v[2] = detail;
	if ((rc = db_row(r, "UPDATE channel_connections AS c SET status = $2, "
	    "status_detail = left($3, 200), last_test_at = now() WHERE "
	    "c.tenant_id = app_tenant() AND c.channel_id = $1::uuid "
	    "RETURNING " DB_CHANNEL_COLS, 3, v, &res)) == DB_OK)
		db_channel_fill(res, 0, c);
	return rc;
}

/* A nonce for an OAuth state, good for "seconds" (sql/018). */
enum db_rc
db_oauth_nonce_new(struct req *r, const char *nonce, int seconds)
{
	const char	*v[2];
	char		 s[16];

	snprintf(s, sizeof(s), "%d", seconds);
	v[0] = nonce;
	v[1] = s;
	return db_exec(r, "SELECT oauth_nonce_new($1, $2::integer)", 2, v,
	    NULL);
}

/* Use a nonce up: DB_NOTFOUND when it was used, expired or never made. */
enum db_rc
db_oauth_nonce_take(struct req *r, const char *nonce)
{
	PGresult	*res;

	return db_row(r, "DELETE FROM oauth_nonces WHERE tenant_id = "
	    "app_tenant() AND nonce = $1 AND expires_at > now() RETURNING 1",
	    1, &nonce, &res);
}
