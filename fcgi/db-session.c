/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Portal sessions: the cookie's SHA-256 hash, an idle timeout and an
 * absolute expiry.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

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

/* End a session by its cookie's hash, whatever its tenant. */
enum db_rc
db_session_end(struct req *r, const char *hash)
{
	return db_exec(r, "SELECT auth_session_end($1)", 1, &hash, NULL);
}

enum db_rc
db_session_revoke(struct req *r, const char *session_id)
{
	return db_exec(r, "UPDATE portal_sessions SET revoked_at = now() "
	    "WHERE tenant_id = app_tenant() AND session_id = $1", 1,
	    &session_id, NULL);
}
