/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Refresh tokens: stored as SHA-256 hashes (bytea text "\\x..."),
 * rotated once, revoked by family.  A presented token is found through
 * the SECURITY DEFINER function auth_refresh_token() before its tenant
 * is known; the rest runs scoped to the tenant.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

enum db_rc
db_refresh_create(struct req *r, const char *tenant_id, const char *user_id,
    const char *family, const char *hash, int ttl_days, const char **token_id)
{
	char		 ttl[16];
	const char	*v[5] = { tenant_id, user_id, family, hash, ttl };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(ttl, sizeof(ttl), "%d", ttl_days);
	rc = db_row(r, "INSERT INTO refresh_tokens (tenant_id, user_id, "
	    "family, hash, expires_at) VALUES ($1, $2, "
	    "coalesce($3::uuid, gen_random_uuid()), $4, "
	    "now() + make_interval(days => $5::int)) RETURNING token_id",
	    5, v, &res);
	if (rc == DB_OK && token_id != NULL)
		*token_id = db_get(res, 0, 0);
	return rc;
}

/* Which tenant and token a presented hash is, outside any tenant. */
enum db_rc
db_refresh_find(struct req *r, const char *hash, const char **tenant_id,
    const char **token_id)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT tenant_id, token_id FROM auth_refresh_token($1)",
	    1, &hash, &res);
	if (rc == DB_OK) {
		*tenant_id = db_get(res, 0, 0);
		*token_id = db_get(res, 0, 1);
	}
	return rc;
}

/* The token's state, locked: concurrent refreshes serialise here. */
enum db_rc
db_refresh_lock(struct req *r, const char *token_id, struct refresh *t)
{
	PGresult	*res;
	enum db_rc	 rc;

	/*
	 * A token made before the user's last password change is revoked,
	 * whether or not the change's revocation reached it (a sign-in or
	 * a rotation that raced the change).
	 */
	rc = db_row(r, "SELECT t.token_id, t.user_id, t.family, "
	    "t.expires_at <= now(), t.rotated_at IS NOT NULL, "
	    "t.revoked_at IS NOT NULL OR t.created_at < u.password_changed_at "
	    "FROM refresh_tokens t JOIN users u USING (user_id) "
	    "WHERE t.tenant_id = app_tenant() AND t.token_id = $1 "
	    "FOR UPDATE OF t", 1, &token_id, &res);
	if (rc != DB_OK)
		return rc;
	t->token_id = db_get(res, 0, 0);
	t->user_id = db_get(res, 0, 1);
	t->family = db_get(res, 0, 2);
	t->expired = db_bool(res, 0, 3);
	t->rotated = db_bool(res, 0, 4);
	t->revoked = db_bool(res, 0, 5);
	return DB_OK;
}

enum db_rc
db_refresh_rotated(struct req *r, const char *token_id, const char *next_id)
{
	const char	*v[2] = { token_id, next_id };

	return db_exec(r, "UPDATE refresh_tokens SET rotated_at = now(), "
	    "rotated_to = $2 WHERE tenant_id = app_tenant() AND token_id = $1",
	    2, v, NULL);
}

enum db_rc
db_refresh_revoke_family(struct req *r, const char *family)
{
	return db_exec(r, "UPDATE refresh_tokens SET revoked_at = now() "
	    "WHERE tenant_id = app_tenant() AND family = $1 AND "
	    "revoked_at IS NULL", 1, &family, NULL);
}
