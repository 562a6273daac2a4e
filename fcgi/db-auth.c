/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Credentials: refresh tokens, API keys, portal sessions, invitations.
 * Only SHA-256 hashes of tokens are stored; they are passed as bytea
 * text ("\x...").  Lookups by hash happen before the tenant is known
 * and go through the SECURITY DEFINER functions of 002_accounts.sql;
 * everything else runs scoped to the tenant.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

#define TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* refresh tokens */

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

	rc = db_row(r, "SELECT token_id, user_id, family, "
	    "expires_at <= now(), rotated_at IS NOT NULL, "
	    "revoked_at IS NOT NULL FROM refresh_tokens "
	    "WHERE tenant_id = app_tenant() AND token_id = $1 "
	    "FOR UPDATE", 1, &token_id, &res);
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

/* api keys */

/* "a,b" (array_to_string of a scopes column) to scope bits. */
static int
db_scopes_parse(const char *text)
{
	char	 buf[256], *p, *e;
	int	 bit, scopes = 0;

	snprintf(buf, sizeof(buf), "%s", text != NULL ? text : "");
	for (p = buf; p != NULL && *p != '\0'; p = e) {
		if ((e = strchr(p, ',')) != NULL)
			*e++ = '\0';
		if ((bit = valid_scope_bit(p)) > 0)
			scopes |= bit;
	}
	return scopes;
}

/*
 * A presented key: tenant key ("tenant", its tenant) or platform key
 * ("platform", no tenant).  DB_NOTFOUND when unknown or revoked.
 */
enum db_rc
db_apikey_find(struct req *r, const char *hash, struct apikey_auth *k)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT kind, tenant_id, key_id, "
	    "array_to_string(scopes, ',') FROM auth_api_key($1)", 1, &hash,
	    &res);
	if (rc != DB_OK)
		return rc;
	k->platform = strcmp(db_get(res, 0, 0), "platform") == 0;
	k->tenant_id = db_get(res, 0, 1);
	k->key_id = db_get(res, 0, 2);
	k->scopes = db_scopes_parse(db_get(res, 0, 3));
	return DB_OK;
}

/* Scope bits to a PostgreSQL text[] literal ("{a,b}"). */
static const char *
db_scopes_literal(struct req *r, int scopes)
{
	struct buf	 b;
	const char	*name, *out;
	int		 bit, first = 1;

	buf_init(&b, 256);
	buf_puts(&b, "{");
	for (bit = 1; bit <= SCOPE_BILLING_READ; bit <<= 1) {
		if (!(scopes & bit) || (name = valid_scope_name(bit)) == NULL)
			continue;
		if (!first)
			buf_puts(&b, ",");
		buf_puts(&b, name);
		first = 0;
	}
	buf_puts(&b, "}");
	out = arena_strdup(&r->arena, b.p);
	buf_free(&b);
	return out;
}

enum db_rc
db_apikey_create(struct req *r, const char *name, const char *prefix,
    const char *hash, int scopes, const char *created_by, struct apikey *k)
{
	const char	*v[5];
	PGresult	*res;
	enum db_rc	 rc;

	v[0] = name;
	v[1] = prefix;
	v[2] = hash;
	v[3] = db_scopes_literal(r, scopes);
	v[4] = created_by;
	rc = db_row(r, "INSERT INTO api_keys (tenant_id, name, prefix, hash, "
	    "scopes, created_by) VALUES (app_tenant(), $1, $2, $3, $4, $5) "
	    "RETURNING key_id, " TS("created_at"), 5, v, &res);
	if (rc != DB_OK)
		return rc;
	memset(k, 0, sizeof(*k));
	k->key_id = db_get(res, 0, 0);
	k->created_at = db_get(res, 0, 1);
	k->name = name;
	k->prefix = prefix;
	k->scopes = scopes;
	return DB_OK;
}

/* Live keys, newest first, paged by key id. */
enum db_rc
db_apikey_list(struct req *r, int limit, const char *after,
    struct apikey **out, size_t *n, int *has_more)
{
	const char	*v[2];
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	v[1] = after;
	*n = 0;
	if ((rc = db_list(r, "SELECT key_id, name, prefix, "
	    TS("created_at") ", " TS("last_used_at") ", "
	    "array_to_string(scopes, ',') FROM api_keys "
	    "WHERE tenant_id = app_tenant() AND revoked_at IS NULL AND "
	    "($2::uuid IS NULL OR key_id > $2::uuid) "
	    "ORDER BY key_id LIMIT $1", 2, v, limit, &res, &rows,
	    has_more)) != DB_OK)
		return rc;
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++) {
		(*out)[i].key_id = db_get(res, i, 0);
		(*out)[i].name = db_get(res, i, 1);
		(*out)[i].prefix = db_get(res, i, 2);
		(*out)[i].created_at = db_get(res, i, 3);
		(*out)[i].last_used_at = db_get(res, i, 4);
		(*out)[i].scopes = db_scopes_parse(db_get(res, i, 5));
	}
	*n = (size_t)rows;
	return DB_OK;
}

enum db_rc
db_apikey_revoke(struct req *r, const char *key_id, const char **name)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "UPDATE api_keys SET revoked_at = now() "
	    "WHERE tenant_id = app_tenant() AND key_id = $1 AND "
	    "revoked_at IS NULL RETURNING name", 1,
	    &key_id, &res);
	if (rc == DB_OK && name != NULL)
		*name = db_get(res, 0, 0);
	return rc;
}

enum db_rc
db_platform_key_create(struct req *r, const char *name, const char *prefix,
    const char *hash, int scopes, const char **key_id)
{
	const char	*v[4];
	PGresult	*res;
	enum db_rc	 rc;

	v[0] = name;
	v[1] = prefix;
	v[2] = hash;
	v[3] = db_scopes_literal(r, scopes);
	rc = db_row(r, "INSERT INTO platform_keys (name, prefix, hash, scopes) "
	    "VALUES ($1, $2, $3, $4) RETURNING key_id", 4, v, &res);
	if (rc == DB_OK)
		*key_id = db_get(res, 0, 0);
	return rc;
}

/* Does the tenant exist?  (A platform key names it; outside RLS.) */
enum db_rc
db_tenant_exists(struct req *r, const char *tenant_id)
{
	PGresult	*res;

	return db_row(r, "SELECT 1 FROM auth_tenant_exists($1) AS t(x) "
	    "WHERE x", 1, &tenant_id, &res);
}

/* portal sessions */

enum db_rc
db_session_find(struct req *r, const char *hash, int idle_s,
    struct session *s)
{
	char		 idle[32];
	const char	*v[2] = { hash, idle };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(idle, sizeof(idle), "%d seconds", idle_s);
	rc = db_row(r, "SELECT tenant_id, session_id, user_id "
	    "FROM auth_session($1, $2::interval)", 2, v, &res);
	if (rc == DB_OK) {
		s->tenant_id = db_get(res, 0, 0);
		s->session_id = db_get(res, 0, 1);
		s->user_id = db_get(res, 0, 2);
	}
	return rc;
}

enum db_rc
db_session_create(struct req *r, const char *user_id, const char *hash,
    int max_s, const char **session_id)
{
	char		 max[32];
	const char	*v[3] = { user_id, hash, max };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(max, sizeof(max), "%d seconds", max_s);
	rc = db_row(r, "INSERT INTO portal_sessions (tenant_id, user_id, hash, "
	    "expires_at) VALUES (app_tenant(), $1, $2, now() + $3::interval) "
	    "RETURNING session_id", 3, v, &res);
	if (rc == DB_OK && session_id != NULL)
		*session_id = db_get(res, 0, 0);
	return rc;
}

enum db_rc
db_session_revoke(struct req *r, const char *session_id)
{
	return db_exec(r, "UPDATE portal_sessions SET revoked_at = now() "
	    "WHERE tenant_id = app_tenant() AND session_id = $1", 1,
	    &session_id, NULL);
}

/* invitations */

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
	    "WHERE tenant_id = app_tenant() AND lower(email) = lower($1) AND "
	    "accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= now()",
	    1, v, NULL)) != DB_OK)
		return rc;
	rc = db_row(r, "INSERT INTO invitations (tenant_id, email, role, hash, "
	    "invited_by, expires_at) VALUES (app_tenant(), $1, $2, $3, $4, "
	    "now() + make_interval(days => $5::int)) RETURNING invitation_id, "
	    TS("created_at") ", " TS("expires_at"), 5, v, &res);
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
	TS("i.created_at") ", " TS("i.expires_at") ", " \
	"(i.accepted_at IS NULL AND i.revoked_at IS NULL AND " \
	"i.expires_at > now()), t.name"

/* One invitation, locked so it is accepted at most once. */
enum db_rc
db_invitation_lock(struct req *r, const char *invitation_id,
    struct invitation *inv)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT " DB_INVITATION_COLS " FROM invitations i "
	    "JOIN tenants t USING (tenant_id) WHERE i.tenant_id = app_tenant() "
	    "AND i.invitation_id = $1 "
	    "FOR UPDATE OF i", 1, &invitation_id, &res);
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
	    "lower($1) AND accepted_at IS NULL AND revoked_at IS NULL AND "
	    "expires_at > now()", 1, &email, &res);
}
