/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * API keys of a tenant and platform keys: SHA-256 hashes only, scopes
 * as a text[] of names.  A presented key is found, and its tenant bound,
 * through the SECURITY DEFINER functions of the migrations.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

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

#define DB_APIKEY_BIND	"SELECT kind, key_id, array_to_string(scopes, ','), " \
	"bound, name, plan, plan_name, status, seats, rate_limit, " \
	"rate_per_seat, seat_limit, created_at FROM auth_bind_key($1, $2)"
/* The same, with the entitlement check of the bound tenant (sql/014). */
#define DB_APIKEY_CHECK	"SELECT kind, key_id, array_to_string(scopes, ','), " \
	"bound, name, plan, plan_name, status, seats, rate_limit, " \
	"rate_per_seat, seat_limit, created_at, allowed, remaining, reason " \
	"FROM usage_check_key($1, $2, $3, $4::bigint, $5::uuid)"

/*
 * Identify a presented key and bind the request to its tenant in one
 * round trip with auth_bind_key() (migration 006), which sets the
 * transaction's tenant and returns the tenant's row with the key.  With
 * "alone" the statement runs by itself, its own transaction (a route
 * that reads nothing more: one statement in all); otherwise BEGIN
 * travels with it, and "with" (when its sql is set) after it, and the
 * transaction stays open.  With check (metric, quantity, agent id or
 * NULL) the entitlement check of the bound tenant runs in the same
 * statement, its verdict into *u (allowed 0 and reason NULL when
 * nothing was bound).  A platform key binds "tenant" (NULL: none
 * named) when it exists; k->tenant_id is NULL when nothing was bound.
 * DB_NOTFOUND: unknown or revoked.
 */
enum db_rc
db_apikey_bind_check(struct req *r, const char *hash, const char *tenant,
    int alone, const char *const *check, struct db_call *with,
    struct apikey_auth *k, struct tenant *t, struct usage_verdict *u)
{
	const char	*v[5] = { hash, tenant, NULL, NULL, NULL };
	struct db_call	 c[2];
	PGresult	*res;
	enum db_rc	 rc;

	memset(c, 0, sizeof(c));
	c[0].sql = DB_APIKEY_BIND;
	c[0].n = 2;
	c[0].vals = v;
	if (check != NULL) {
		v[2] = check[0];
		v[3] = check[1];
		v[4] = check[2];
		c[0].sql = DB_APIKEY_CHECK;
		c[0].n = 5;
	}
	if (alone) {
		rc = check != NULL ? db_exec(r, DB_APIKEY_CHECK, 5, v,
		    &c[0].res) : db_exec(r, DB_APIKEY_BIND, 2, v, &c[0].res);
		r->committed = 1;
	} else if (with != NULL && with->sql != NULL) {
		c[1] = *with;
		rc = db_begin_with(r, NULL, c, 2);
		with->res = c[1].res;
	} else
		rc = db_begin_with(r, NULL, c, 1);
	if (rc != DB_OK)
		return rc;
	if ((res = c[0].res) == NULL || db_nrows(res) == 0)
		return DB_NOTFOUND;
	if (check != NULL) {
		u->allowed = db_bool(res, 0, 13);
		u->remaining = db_get(res, 0, 14) == NULL ? -1 :
		    db_int(res, 0, 14);
		u->reason = db_get(res, 0, 15);
	}
	k->platform = strcmp(db_get(res, 0, 0), "platform") == 0;
	k->key_id = db_get(res, 0, 1);
	k->scopes = db_scopes_parse(db_get(res, 0, 2));
	if ((k->tenant_id = db_get(res, 0, 3)) == NULL)
		return DB_OK;
	t->tenant_id = k->tenant_id;
	t->name = db_get(res, 0, 4);
	t->plan = db_get(res, 0, 5);
	t->plan_name = db_get(res, 0, 6);
	t->status = db_get(res, 0, 7);
	t->seats = (int)db_int(res, 0, 8);
	t->rate_limit = (int)db_int(res, 0, 9);
	t->rate_per_seat = db_bool(res, 0, 10);
	t->seat_limit = db_get(res, 0, 11) == NULL ? -1 : db_int(res, 0, 11);
	t->created_at = db_get(res, 0, 12);
	return DB_OK;
}

/* How many keys of the tenant are live (not revoked). */
enum db_rc
db_apikey_live(struct req *r, int *n)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT count(*) FROM api_keys WHERE "
	    "tenant_id = app_tenant() AND revoked_at IS NULL", 0, NULL,
	    &res)) == DB_OK)
		*n = (int)db_int(res, 0, 0);
	return rc;
}

/* Scope bits to a PostgreSQL text[] literal ("{a,b}"). */
static const char *
db_scopes_literal(struct req *r, int scopes)
{
	struct buf	 b;
	const char	*name, *out;
	int		 i = 0, first = 1;

	buf_init(&b, 256);
	buf_puts(&b, "{");
	while ((name = valid_scope_next(scopes, &i)) != NULL) {
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
	    "RETURNING key_id, " DB_TS("created_at"), 5, v, &res);
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
db_apikey_list(struct req *r, int limit, const char *after, int revoked,
    struct apikey **out, size_t *n, int *has_more)
{
	const char	*v[3];
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	v[1] = after;
	v[2] = revoked ? "t" : "f";
	*n = 0;
	/* Live keys first; with "revoked", the revoked ones after them. */
	if ((rc = db_list(r, "SELECT key_id, name, prefix, "
	    DB_TS("created_at") ", " DB_TS("last_used_at") ", "
	    "array_to_string(scopes, ','), " DB_TS("revoked_at") " "
	    "FROM api_keys WHERE tenant_id = app_tenant() AND "
	    "(revoked_at IS NULL OR $3::boolean) AND "
	    "($2::uuid IS NULL OR key_id > $2::uuid) "
	    "ORDER BY revoked_at IS NOT NULL, revoked_at DESC, key_id "
	    "LIMIT $1", 3, v, limit, &res, &rows, has_more)) != DB_OK)
		return rc;
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++) {
		(*out)[i].key_id = db_get(res, i, 0);
		(*out)[i].name = db_get(res, i, 1);
		(*out)[i].prefix = db_get(res, i, 2);
		(*out)[i].created_at = db_get(res, i, 3);
		(*out)[i].last_used_at = db_get(res, i, 4);
		(*out)[i].scopes = db_scopes_parse(db_get(res, i, 5));
		(*out)[i].revoked_at = db_get(res, i, 6);
	}
	*n = (size_t)rows;
	return DB_OK;
}

/* One live key of the tenant, for a confirmation page. */
enum db_rc
db_apikey_get(struct req *r, const char *key_id, struct apikey *k)
{
	PGresult	*res;
	enum db_rc	 rc;

	memset(k, 0, sizeof(*k));
	if ((rc = db_row(r, "SELECT key_id, name, prefix FROM api_keys "
	    "WHERE tenant_id = app_tenant() AND key_id = $1 AND "
	    "revoked_at IS NULL", 1, &key_id, &res)) != DB_OK)
		return rc;
	k->key_id = db_get(res, 0, 0);
	k->name = db_get(res, 0, 1);
	k->prefix = db_get(res, 0, 2);
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
