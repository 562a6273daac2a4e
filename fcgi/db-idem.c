/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Idempotency keys of creating POSTs, in the request's tenant
 * transaction.  Claiming a key is an INSERT: a concurrent request with
 * the same key waits on the primary key until the first commits (or
 * rolls back), so exactly one of them runs the handler.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

/*
 * 1 in *claimed when this request now owns the key, for "principal"
 * (idem.c says who), 0 when it exists.
 */
enum db_rc
db_idem_claim(struct req *r, const char *key, const char *hash,
    const char *principal, int *claimed)
{
	const char	*v[3] = { key, hash, principal };
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_exec(r, "INSERT INTO idempotency_keys (tenant_id, idem_key, "
	    "request_hash, principal) VALUES (app_tenant(), $1, $2, $3) "
	    "ON CONFLICT DO NOTHING RETURNING 1", 3, v, &res);
	if (rc == DB_OK)
		*claimed = db_nrows(res) > 0;
	return rc;
}

static void
db_idem_free(void *p)
{
	PQfreemem(p);
}

/*
 * The stored answer of a key, whoever claimed it (the caller compares
 * the principal); expired when older than a day.
 */
enum db_rc
db_idem_get(struct req *r, const char *key, struct idem *out)
{
	PGresult	*res;
	const char	*v;
	size_t		 n = 0;
	enum db_rc	 rc;

	memset(out, 0, sizeof(*out));
	rc = db_row(r, "SELECT encode(request_hash, 'hex'), status, response, "
	    "created_at < now() - interval '24 hours', principal "
	    "FROM idempotency_keys "
	    "WHERE tenant_id = app_tenant() AND idem_key = $1", 1, &key, &res);
	if (rc != DB_OK)
		return rc;
	out->hash_hex = db_get(res, 0, 0);
	out->status = (int)db_int(res, 0, 1);
	out->expired = db_bool(res, 0, 3);
	out->principal = db_get(res, 0, 4);
	if ((v = db_get(res, 0, 2)) != NULL) {
		out->response = PQunescapeBytea((const unsigned char *)v, &n);
		if (out->response == NULL)
			return DB_ERROR;
		arena_defer(&r->arena, db_idem_free, out->response);
		out->response_len = n;
	}
	return DB_OK;
}

enum db_rc
db_idem_delete(struct req *r, const char *key)
{
	return db_exec(r, "DELETE FROM idempotency_keys WHERE "
	    "tenant_id = app_tenant() AND idem_key = $1", 1, &key, NULL);
}

/* Keep the (sealed) answer of the request that claimed the key. */
enum db_rc
db_idem_store(struct req *r, const char *key, int status,
    const unsigned char *sealed, size_t n)
{
	char		 st[16];
	const char	*v[3];
	char		*hex;
	enum db_rc	 rc;

	snprintf(st, sizeof(st), "%d", status);
	hex = arena_alloc(&r->arena, 2 * n + 3);
	hex[0] = '\\';
	hex[1] = 'x';
	util_hex(sealed, n, hex + 2);
	v[0] = key;
	v[1] = st;
	v[2] = hex;
	rc = db_exec(r, "UPDATE idempotency_keys SET status = $2, "
	    "response = $3::bytea WHERE tenant_id = app_tenant() AND "
	    "idem_key = $1", 3, v, NULL);
	return rc;
}

/* The worker's cleanup of answers older than a day. */
enum db_rc
db_prune_idempotency(struct req *r, long long *n)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT work_prune_idempotency()", 0, NULL,
	    &res)) == DB_OK)
		*n = db_int(res, 0, 0);
	return rc;
}
