/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * E-mail verification: the links mailed to prove an address (hashed
 * single-use tokens, like invitations) and users.email_verified_at.
 * Users are global, so are these rows: no tenant, no row-level
 * security, and every statement works in or out of a tenant's
 * transaction.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

/* A new link for the user, valid for ttl_hours. */
enum db_rc
db_verify_create(struct req *r, const char *user_id, const char *hash,
    int ttl_hours)
{
	char		 ttl[16];
	const char	*v[3] = { user_id, hash, ttl };

	snprintf(ttl, sizeof(ttl), "%d", ttl_hours);
	return db_exec(r, "INSERT INTO email_verifications (user_id, hash, "
	    "expires_at) VALUES ($1, $2, now() + make_interval(hours => "
	    "$3::int))", 3, v, NULL);
}

/*
 * The user a link was made for, whatever its state (the caller then
 * consumes it, which says whether it still works), with the address.
 */
enum db_rc
db_verify_find(struct req *r, const char *hash, const char **user_id,
    const char **email, int *live)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT v.user_id, u.email, (v.used_at IS NULL AND "
	    "v.expires_at > now()) FROM email_verifications v "
	    "JOIN users u USING (user_id) WHERE v.hash = $1", 1, &hash, &res);
	if (rc == DB_OK) {
		*user_id = db_get(res, 0, 0);
		*email = db_get(res, 0, 1);
		*live = db_bool(res, 0, 2);
	}
	return rc;
}

/*
 * Use a link: in one statement it is marked used and its user's
 * address verified, only if it was unused and unexpired (DB_NOTFOUND
 * otherwise).  The row lock makes two uses race to one winner.  The
 * user's other live links die with it: the address is proven.
 */
enum db_rc
db_verify_consume(struct req *r, const char *hash, const char **user_id)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "WITH used AS (UPDATE email_verifications "
	    "SET used_at = now() WHERE hash = $1 AND used_at IS NULL AND "
	    "expires_at > now() RETURNING user_id), "
	    "others AS (UPDATE email_verifications o SET used_at = now() "
	    "FROM used WHERE o.user_id = used.user_id AND o.hash <> $1 AND "
	    "o.used_at IS NULL) "
	    "UPDATE users u SET email_verified_at = coalesce("
	    "u.email_verified_at, now()) FROM used "
	    "WHERE u.user_id = used.user_id RETURNING u.user_id", 1, &hash,
	    &res);
	if (rc == DB_OK)
		*user_id = db_get(res, 0, 0);
	return rc;
}

/* The user's address and whether it is verified. */
enum db_rc
db_verify_user(struct req *r, const char *user_id, const char **email,
    int *verified)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT email, email_verified_at IS NOT NULL FROM users "
	    "WHERE user_id = $1", 1, &user_id, &res);
	if (rc == DB_OK) {
		*email = db_get(res, 0, 0);
		*verified = db_bool(res, 0, 1);
	}
	return rc;
}

/*
 * Count the address verified another way: an invitation mailed to it
 * was accepted.
 */
enum db_rc
db_verify_set(struct req *r, const char *user_id)
{
	return db_exec(r, "UPDATE users SET email_verified_at = now() "
	    "WHERE user_id = $1 AND email_verified_at IS NULL", 1, &user_id,
	    NULL);
}
