/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Secrets shown once after a redirect (migration 012): stored sealed
 * for one session of the tenant, read at most once, pruned when they
 * expire.  The sealing is the caller's (page.c); this file sees bytes.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

/* Keep a sealed secret for session; its id into *reveal_id. */
enum db_rc
db_reveal_put(struct req *r, const char *session_id,
    const unsigned char *sealed, size_t len, const char **reveal_id)
{
	const char	*v[2];
	char		*hex;
	PGresult	*res;
	enum db_rc	 rc;

	hex = arena_alloc(&r->arena, len * 2 + 3);
	hex[0] = '\\';
	hex[1] = 'x';
	util_hex(sealed, len, hex + 2);
	v[0] = session_id;
	v[1] = hex;
	if ((rc = db_row(r, "INSERT INTO reveals (tenant_id, session_id, "
	    "sealed) VALUES (app_tenant(), $1, $2::bytea) RETURNING reveal_id",
	    2, v, &res)) == DB_OK)
		*reveal_id = db_get(res, 0, 0);
	return rc;
}

/*
 * Take a secret kept for session: it is deleted as it is read, so a
 * reload finds nothing.  DB_NOTFOUND when gone, expired or another
 * session's.  *sealed is owned by the request.
 */
enum db_rc
db_reveal_take(struct req *r, const char *reveal_id, const char *session_id,
    unsigned char **sealed, size_t *len)
{
	const char	*v[2] = { reveal_id, session_id };
	PGresult	*res;
	unsigned char	*raw;
	size_t		 n;
	enum db_rc	 rc;

	if ((rc = db_row(r, "DELETE FROM reveals WHERE tenant_id = "
	    "app_tenant() AND reveal_id = $1 AND session_id = $2 AND "
	    "expires_at > now() RETURNING sealed", 2, v, &res)) != DB_OK)
		return rc;
	raw = PQunescapeBytea((const unsigned char *)db_get(res, 0, 0), &n);
	if (raw == NULL)
		return DB_ERROR;
	*sealed = arena_alloc(&r->arena, n + 1);
	memcpy(*sealed, raw, n);
	*len = n;
	PQfreemem(raw);
	return DB_OK;
}

/* The worker: secrets nobody came back for. */
enum db_rc
db_prune_reveals(struct req *r, long long *n)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT work_prune_reveals()", 0, NULL, &res)) ==
	    DB_OK)
		*n = db_int(res, 0, 0);
	return rc;
}
