/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Password reset: the links mailed to set a new password (hashed
 * single-use tokens, like e-mail verification links).  Users are
 * global, so are these rows: no tenant, no row-level security, and
 * every statement works in or out of a tenant's transaction.
 */
#include "config.h"

#include <stdio.h>

#include <libpq-fe.h>

#include "tollgate.h"

/*
 * A new link for the account of a (normalised) address, valid for
 * ttl_hours, and that account's id.  An unknown address costs the same
 * statement and stores nothing: DB_NOTFOUND.
 */
enum db_rc
db_reset_create(struct req *r, const char *email, const char *hash,
    int ttl_hours, const char **user_id)
{
	PGresult	*res;
	char		 ttl[16];
	const char	*v[3] = { email, hash, ttl };
	enum db_rc	 rc;

	snprintf(ttl, sizeof(ttl), "%d", ttl_hours);
	rc = db_row(r, "INSERT INTO password_resets (user_id, hash, "
	    "expires_at) SELECT user_id, $2, now() + make_interval(hours => "
	    "$3::int) FROM users WHERE lower(email) = $1 RETURNING user_id", 3,
	    v, &res);
	if (rc == DB_OK)
		*user_id = db_get(res, 0, 0);
	return rc;
}

/*
 * The user a link was made for, whatever its state, with the address;
 * "live" says whether it still works (unused and unexpired).
 */
enum db_rc
db_reset_find(struct req *r, const char *hash, const char **user_id,
    const char **email, int *live)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT p.user_id, u.email, (p.used_at IS NULL AND "
	    "p.expires_at > now()) FROM password_resets p "
	    "JOIN users u USING (user_id) WHERE p.hash = $1", 1, &hash, &res);
	if (rc == DB_OK) {
		*user_id = db_get(res, 0, 0);
		*email = db_get(res, 0, 1);
		*live = db_bool(res, 0, 2);
	}
	return rc;
}

/*
 * Use a link of this user: marked used only if it was unused and
 * unexpired (DB_NOTFOUND otherwise); the row lock makes two uses race
 * to one winner.  The user's other outstanding links die with it.
 */
enum db_rc
db_reset_consume(struct req *r, const char *hash, const char *user_id)
{
	PGresult	*res;
	const char	*v[2] = { hash, user_id };

	return db_row(r, "WITH used AS (UPDATE password_resets "
	    "SET used_at = now() WHERE hash = $1 AND user_id = $2 AND "
	    "used_at IS NULL AND expires_at > now() RETURNING user_id), "
	    "others AS (UPDATE password_resets o SET used_at = now() "
	    "FROM used WHERE o.user_id = used.user_id AND o.hash <> $1 AND "
	    "o.used_at IS NULL) "
	    "SELECT user_id FROM used", 2, v, &res);
}
