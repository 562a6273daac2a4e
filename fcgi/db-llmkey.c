/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * A tenant's own LLM provider keys (sql/016): stored as Fernet tokens,
 * shown by hint only, and the plan's llm_providers quota.  As with the
 * agent quota (db-agent.c), the tenant row is locked by one statement
 * and the keys counted by the next, so the count sees every key that a
 * transaction holding the lock before committed.
 */
#include "config.h"

#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

#define DB_LLMKEY_COLS	"k.key_id, k.provider, k.label, k.key_hint, " \
	DB_TS("k.created_at") ", " DB_TS("k.last_used_at") ", k.ciphertext, " \
	"k.status, k.status_detail"

static void
db_llmkey_fill(const PGresult *res, int i, struct llmkey *k)
{
	memset(k, 0, sizeof(*k));
	k->key_id = db_get(res, i, 0);
	k->provider = db_get(res, i, 1);
	k->label = db_get(res, i, 2);
	k->key_hint = db_get(res, i, 3);
	k->created_at = db_get(res, i, 4);
	k->last_used_at = db_get(res, i, 5);
	k->ciphertext = db_get(res, i, 6);
	k->status = db_get(res, i, 7);
	k->status_detail = db_get(res, i, 8);
}

/* Every key of the tenant, by provider (a handful at most). */
enum db_rc
db_llmkey_list(struct req *r, struct llmkey **out, size_t *n)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	*n = 0;
	if ((rc = db_exec(r, "SELECT " DB_LLMKEY_COLS " FROM tenant_llm_keys "
	    "k WHERE k.tenant_id = app_tenant() ORDER BY k.provider", 0, NULL,
	    &res)) != DB_OK)
		return rc;
	rows = db_nrows(res);
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++)
		db_llmkey_fill(res, i, &(*out)[i]);
	*n = (size_t)rows;
	return DB_OK;
}

/*
 * Lock the tenant's row (key changes of one tenant queue there) and
 * read the llm_providers quota of the plan whose entitlements apply
 * (db_plan_quota()).
 */
enum db_rc
db_llmkey_quota(struct req *r, struct llmkey_room *room)
{
	memset(room, 0, sizeof(*room));
	return db_plan_quota(r, "llm_providers", 1, &room->plan_name,
	    &room->limit);
}

/* The keys now and whether "provider" has one (after the lock). */
enum db_rc
db_llmkey_count(struct req *r, const char *provider,
    struct llmkey_room *room)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT count(*), coalesce(bool_or(provider = "
	    "$1), false) FROM tenant_llm_keys WHERE tenant_id = app_tenant()",
	    1, &provider, &res)) != DB_OK)
		return rc;
	room->used = db_int(res, 0, 0);
	room->provider_taken = db_bool(res, 0, 1);
	return DB_OK;
}

/* Store a key (its token and hint); DB_CONFLICT when the provider has one. */
enum db_rc
db_llmkey_insert(struct req *r, const char *provider, const char *label,
    const char *ciphertext, const char *hint, struct llmkey *k)
{
	const char	*v[4];
	PGresult	*res;
	enum db_rc	 rc;

	v[0] = provider;
	v[1] = label;
	v[2] = ciphertext;
	v[3] = hint;
	rc = db_row(r, "INSERT INTO tenant_llm_keys AS k (tenant_id, provider, "
	    "label, ciphertext, key_hint) VALUES (app_tenant(), $1, $2, $3, "
	    "$4) ON CONFLICT (tenant_id, provider) DO NOTHING RETURNING "
	    DB_LLMKEY_COLS, 4, v, &res);
	if (rc == DB_NOTFOUND)
		return DB_CONFLICT;
	if (rc == DB_OK)
		db_llmkey_fill(res, 0, k);
	return rc;
}

/* Remove a key of the tenant; DB_NOTFOUND for none or another's. */
enum db_rc
db_llmkey_delete(struct req *r, const char *key_id, struct llmkey *k)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "DELETE FROM tenant_llm_keys AS k WHERE "
	    "k.tenant_id = app_tenant() AND k.key_id = $1::uuid RETURNING "
	    DB_LLMKEY_COLS, 1, &key_id, &res)) == DB_OK)
		db_llmkey_fill(res, 0, k);
	return rc;
}
