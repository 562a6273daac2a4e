/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * A tenant's own prices of models (sql/021, tenant_model_prices): one
 * per (provider, model), at most LLMPRICE_CAP, counted under the
 * tenant's lock like its keys and agents.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

#define DB_LLMPRICE_COLS	"p.price_id, p.provider, p.model, " \
	"p.prompt_per_mtok, p.completion_per_mtok, p.cached_per_mtok, " \
	DB_TS("p.created_at") ", " DB_TS("p.updated_at")

static void
db_llmprice_fill(const PGresult *res, int i, struct llmprice *p)
{
	memset(p, 0, sizeof(*p));
	p->price_id = db_get(res, i, 0);
	p->provider = db_get(res, i, 1);
	p->model = db_get(res, i, 2);
	p->prompt_per_mtok = db_int(res, i, 3);
	p->completion_per_mtok = db_int(res, i, 4);
	p->cached_per_mtok = db_int(res, i, 5);
	p->created_at = db_get(res, i, 6);
	p->updated_at = db_get(res, i, 7);
}

/* Every price of the tenant (LLMPRICE_CAP at most), by provider, model. */
enum db_rc
db_llmprice_list(struct req *r, struct llmprice **out, size_t *n)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	*n = 0;
	if ((rc = db_exec(r, "SELECT " DB_LLMPRICE_COLS " FROM "
	    "tenant_model_prices p WHERE p.tenant_id = app_tenant() "
	    "ORDER BY p.provider, p.model", 0, NULL, &res)) != DB_OK)
		return rc;
	rows = db_nrows(res);
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++)
		db_llmprice_fill(res, i, &(*out)[i]);
	*n = (size_t)rows;
	return DB_OK;
}

/*
 * Set the price of in->provider's in->model: a new row, or the one
 * there replaced (*created 0).  Under the tenant's lock, so the cap
 * counts every price committed before; DB_CONFLICT: the cap is reached
 * and the model has no price yet.
 */
enum db_rc
db_llmprice_set(struct req *r, const struct llmprice *in,
    struct llmprice *out, int *created)
{
	char		 a[24], b[24], c[24], cap[16];
	const char	*v[6] = { in->provider, in->model, a, b, c, cap };
	PGresult	*res;
	enum db_rc	 rc;

	*created = 0;
	snprintf(a, sizeof(a), "%lld", in->prompt_per_mtok);
	snprintf(b, sizeof(b), "%lld", in->completion_per_mtok);
	snprintf(c, sizeof(c), "%lld", in->cached_per_mtok);
	snprintf(cap, sizeof(cap), "%d", LLMPRICE_CAP);
	if ((rc = db_tenant_lock(r)) != DB_OK)
		return rc;
	rc = db_row(r, "INSERT INTO tenant_model_prices AS p (tenant_id, "
	    "provider, model, prompt_per_mtok, completion_per_mtok, "
	    "cached_per_mtok) SELECT app_tenant(), $1, $2, $3::bigint, "
	    "$4::bigint, $5::bigint WHERE (SELECT count(*) FROM "
	    "tenant_model_prices WHERE tenant_id = app_tenant()) < "
	    "$6::integer OR EXISTS (SELECT 1 FROM tenant_model_prices WHERE "
	    "tenant_id = app_tenant() AND provider = $1 AND model = $2) "
	    "ON CONFLICT (tenant_id, provider, model) DO UPDATE SET "
	    "prompt_per_mtok = EXCLUDED.prompt_per_mtok, completion_per_mtok "
	    "= EXCLUDED.completion_per_mtok, cached_per_mtok = "
	    "EXCLUDED.cached_per_mtok, updated_at = now() RETURNING "
	    DB_LLMPRICE_COLS ", p.xmax = 0", 6, v, &res);
	if (rc == DB_NOTFOUND)
		return DB_CONFLICT;
	if (rc != DB_OK)
		return rc;
	db_llmprice_fill(res, 0, out);
	*created = db_bool(res, 0, 8);
	return DB_OK;
}

/* Remove a price of the tenant; DB_NOTFOUND for none or another's. */
enum db_rc
db_llmprice_delete(struct req *r, const char *price_id, struct llmprice *p)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "DELETE FROM tenant_model_prices AS p WHERE "
	    "p.tenant_id = app_tenant() AND p.price_id = $1::uuid RETURNING "
	    DB_LLMPRICE_COLS, 1, &price_id, &res)) == DB_OK)
		db_llmprice_fill(res, 0, p);
	return rc;
}
