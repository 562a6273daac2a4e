/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The stored secrets (sql/017): the columns that hold Fernet tokens,
 * listed in vault_columns, and for `tollgate admin keys rotate` a batch
 * of one column's tokens across tenants (a SECURITY DEFINER listing
 * owned by tollgate_auth) and the replacement of a token under its own
 * tenant, only where it still is the token read.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

/* Every column holding tokens, in a stable order (at most max). */
enum db_rc
db_vault_columns(struct req *r, struct vault_column *out, size_t max,
    size_t *n)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i;

	*n = 0;
	if ((rc = db_exec(r, "SELECT table_name, id_column, column_name FROM "
	    "vault_columns ORDER BY table_name, column_name", 0, NULL,
	    &res)) != DB_OK)
		return rc;
	if ((size_t)db_nrows(res) > max) {
		log_warnx("%s: more than %zu columns of secrets", __func__, max);
		return DB_ERROR;
	}
	for (i = 0; i < db_nrows(res); i++) {
		memset(&out[i], 0, sizeof(out[i]));
		if (snprintf(out[i].table, sizeof(out[i].table), "%s",
		    db_get(res, i, 0)) >= (int)sizeof(out[i].table) ||
		    snprintf(out[i].id_column, sizeof(out[i].id_column), "%s",
		    db_get(res, i, 1)) >= (int)sizeof(out[i].id_column) ||
		    snprintf(out[i].column, sizeof(out[i].column), "%s",
		    db_get(res, i, 2)) >= (int)sizeof(out[i].column))
			return DB_ERROR;
	}
	*n = (size_t)db_nrows(res);
	return DB_OK;
}

/*
 * Up to limit tokens of column c across tenants, after the pair
 * (after_tenant, after_id) in (tenant, id) order; the nil uuid twice
 * starts.  Outside a transaction: the listing is its own statement.
 */
enum db_rc
db_vault_list(struct req *r, const struct vault_column *c,
    const char *after_tenant, const char *after_id, int limit,
    struct vault_secret **out, size_t *n)
{
	char		 lim[16];
	const char	*v[5];
	PGresult	*res;
	enum db_rc	 rc;
	int		 i;

	*n = 0;
	snprintf(lim, sizeof(lim), "%d", limit);
	v[0] = c->table;
	v[1] = c->column;
	v[2] = after_tenant;
	v[3] = after_id;
	v[4] = lim;
	if ((rc = db_exec(r, "SELECT tenant_id, id, token FROM vault_list($1, "
	    "$2, $3::uuid, $4::uuid, $5::integer)", 5, v, &res)) != DB_OK)
		return rc;
	*out = arena_calloc(&r->arena, (size_t)db_nrows(res) + 1,
	    sizeof(**out));
	for (i = 0; i < db_nrows(res); i++) {
		(*out)[i].tenant_id = db_get(res, i, 0);
		(*out)[i].id = db_get(res, i, 1);
		(*out)[i].token = db_get(res, i, 2);
	}
	*n = (size_t)db_nrows(res);
	return DB_OK;
}

/*
 * In the open transaction, bound to the row's tenant: replace the token
 * of row id by new_tok if it still is old_tok.  *replaced says whether
 * it was (0: the row changed or went since it was read).
 */
enum db_rc
db_vault_replace(struct req *r, const struct vault_column *c,
    const char *id, const char *old_tok, const char *new_tok, int *replaced)
{
	const char	*v[5];
	PGresult	*res;
	enum db_rc	 rc;

	*replaced = 0;
	v[0] = c->table;
	v[1] = c->column;
	v[2] = id;
	v[3] = old_tok;
	v[4] = new_tok;
	if ((rc = db_row(r, "SELECT vault_replace($1, $2, $3::uuid, $4, $5)",
	    5, v, &res)) != DB_OK)
		return rc;
	*replaced = db_bool(res, 0, 0);
	return DB_OK;
}

/*
 * In the open transaction, bound to the row's tenant: the token of row
 * id, locked until the transaction ends; *tok NULL when the row went.
 */
enum db_rc
db_vault_lock(struct req *r, const struct vault_column *c, const char *id,
    const char **tok)
{
	const char	*v[3];
	PGresult	*res;
	enum db_rc	 rc;

	*tok = NULL;
	v[0] = c->table;
	v[1] = c->column;
	v[2] = id;
	if ((rc = db_row(r, "SELECT vault_lock($1, $2, $3::uuid)", 3, v,
	    &res)) != DB_OK)
		return rc;
	*tok = db_get(res, 0, 0);
	return DB_OK;
}
