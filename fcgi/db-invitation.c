/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Invitations: hashed single-use tokens, pending until accepted,
 * revoked or expired.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

enum db_rc
db_invitation_create(struct req *r, const char *email, const char *role,
    const char *hash, const char *invited_by, int ttl_days,
    struct invitation *inv)
{
	char		 ttl[16];
	const char	*v[5] = { email, role, hash, invited_by, ttl };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(ttl, sizeof(ttl), "%d", ttl_days);
	/* An expired invitation for the address makes way for the new one. */
	if ((rc = db_exec(r, "UPDATE invitations SET revoked_at = now() "
	    "WHERE tenant_id = app_tenant() AND lower(email) = $1 AND "
	    "accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= now()",
	    1, v, NULL)) != DB_OK)
		return rc;
	rc = db_row(r, "INSERT INTO invitations (tenant_id, email, role, hash, "
	    "invited_by, expires_at) VALUES (app_tenant(), $1, $2, $3, $4, "
	    "now() + make_interval(days => $5::int)) RETURNING invitation_id, "
	    DB_TS("created_at") ", " DB_TS("expires_at"), 5, v, &res);
	if (rc != DB_OK)
		return rc;
	memset(inv, 0, sizeof(*inv));
	inv->invitation_id = db_get(res, 0, 0);
	inv->created_at = db_get(res, 0, 1);
	inv->expires_at = db_get(res, 0, 2);
	inv->email = email;
	inv->role = role;
	inv->live = 1;
	return DB_OK;
}

enum db_rc
db_invitation_find(struct req *r, const char *hash, const char **tenant_id,
    const char **invitation_id)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT tenant_id, invitation_id FROM "
	    "auth_invitation($1)", 1, &hash, &res);
	if (rc == DB_OK) {
		*tenant_id = db_get(res, 0, 0);
		*invitation_id = db_get(res, 0, 1);
	}
	return rc;
}

static void
db_invitation_fill(const PGresult *res, int row, struct invitation *inv)
{
	inv->invitation_id = db_get(res, row, 0);
	inv->email = db_get(res, row, 1);
	inv->role = db_get(res, row, 2);
	inv->created_at = db_get(res, row, 3);
	inv->expires_at = db_get(res, row, 4);
	inv->live = db_bool(res, row, 5);
	inv->tenant_name = db_get(res, row, 6);
}

#define DB_INVITATION_COLS "i.invitation_id, i.email, i.role, " \
	DB_TS("i.created_at") ", " DB_TS("i.expires_at") ", " \
	"(i.accepted_at IS NULL AND i.revoked_at IS NULL AND " \
	"i.expires_at > now()), t.name"

/*
 * One invitation of the tenant; with "lock", locked until the
 * transaction ends, so that it is accepted at most once.
 */
enum db_rc
db_invitation_get(struct req *r, const char *invitation_id, int lock,
    struct invitation *inv)
{
	PGresult	*res;
	enum db_rc	 rc;

	if (lock)
		rc = db_row(r, "SELECT " DB_INVITATION_COLS " FROM invitations "
		    "i JOIN tenants t USING (tenant_id) WHERE i.tenant_id = "
		    "app_tenant() AND i.invitation_id = $1 FOR UPDATE OF i", 1,
		    &invitation_id, &res);
	else
		rc = db_row(r, "SELECT " DB_INVITATION_COLS " FROM invitations "
		    "i JOIN tenants t USING (tenant_id) WHERE i.tenant_id = "
		    "app_tenant() AND i.invitation_id = $1", 1, &invitation_id,
		    &res);
	if (rc == DB_OK)
		db_invitation_fill(res, 0, inv);
	return rc;
}

enum db_rc
db_invitation_accepted(struct req *r, const char *invitation_id)
{
	return db_exec(r, "UPDATE invitations SET accepted_at = now() "
	    "WHERE tenant_id = app_tenant() AND invitation_id = $1", 1,
	    &invitation_id, NULL);
}

/* Revoke a pending invitation; an owner's only when may_owner. */
enum db_rc
db_invitation_revoke(struct req *r, const char *invitation_id, int may_owner)
{
	const char	*v[2] = { invitation_id, may_owner ? "t" : "f" };
	PGresult	*res;

	return db_row(r, "UPDATE invitations SET revoked_at = now() "
	    "WHERE tenant_id = app_tenant() AND invitation_id = $1 AND "
	    "accepted_at IS NULL AND revoked_at IS NULL AND "
	    "(role <> 'owner' OR $2::boolean) RETURNING invitation_id", 2, v,
	    &res);
}

/* Pending invitations, newest first (at most 100: a team page). */
enum db_rc
db_invitations_pending(struct req *r, struct invitation **out, size_t *n)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i;

	*n = 0;
	if ((rc = db_exec(r, "SELECT " DB_INVITATION_COLS " FROM invitations i "
	    "JOIN tenants t USING (tenant_id) WHERE i.tenant_id = app_tenant() "
	    "AND i.accepted_at IS NULL AND "
	    "i.revoked_at IS NULL AND i.expires_at > now() "
	    "ORDER BY i.created_at DESC LIMIT 100", 0, NULL, &res)) != DB_OK)
		return rc;
	*out = arena_calloc(&r->arena, (size_t)db_nrows(res) + 1,
	    sizeof(**out));
	for (i = 0; i < db_nrows(res); i++)
		db_invitation_fill(res, i, &(*out)[i]);
	*n = (size_t)i;
	return DB_OK;
}

/* Is there a pending invitation for this address already? */
enum db_rc
db_invitation_pending_for(struct req *r, const char *email)
{
	PGresult	*res;

	return db_row(r, "SELECT 1 FROM invitations WHERE "
	    "tenant_id = app_tenant() AND lower(email) = "
	    "$1 AND accepted_at IS NULL AND revoked_at IS NULL AND "
	    "expires_at > now()", 1, &email, &res);
}
