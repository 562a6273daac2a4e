/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Tenants, users and memberships.  Every function but the user lookups
 * runs inside a transaction scoped to the tenant (db_begin), so RLS
 * confines it to that tenant's rows whatever the SQL says.  Strings in
 * the returned structs are borrowed from results the request owns.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

#define DB_TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static void
db_user_fill(const PGresult *res, int row, struct user *u)
{
	u->user_id = db_get(res, row, 0);
	u->email = db_get(res, row, 1);
	u->name = db_get(res, row, 2);
	u->password_hash = db_get(res, row, 3);
}

enum db_rc
db_user_by_email(struct req *r, const char *email, struct user *u)
{
	PGresult	*res;
	enum db_rc	 rc;

	/* "email" is normalised (valid_email_norm()); so are stored ones. */
	rc = db_row(r, "SELECT user_id, email, name, password_hash FROM users "
	    "WHERE lower(email) = $1", 1, &email, &res);
	if (rc == DB_OK)
		db_user_fill(res, 0, u);
	return rc;
}

/*
 * The user's row, locked until the transaction ends: "share" for a
 * sign-in (its tokens and the password it checked stand or fall
 * together), else for update (a password change).  Sign-ins and
 * changes of one user are serialised here.
 */
enum db_rc
db_user_lock(struct req *r, const char *user_id, int share, struct user *u)
{
	PGresult	*res;
	enum db_rc	 rc;

	if (share)
		rc = db_row(r, "SELECT user_id, email, name, password_hash "
		    "FROM users WHERE user_id = $1 FOR SHARE", 1, &user_id,
		    &res);
	else
		rc = db_row(r, "SELECT user_id, email, name, password_hash "
		    "FROM users WHERE user_id = $1 FOR UPDATE", 1, &user_id,
		    &res);
	if (rc == DB_OK)
		db_user_fill(res, 0, u);
	return rc;
}

enum db_rc
db_user_get(struct req *r, const char *user_id, struct user *u)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT user_id, email, name, password_hash FROM users "
	    "WHERE user_id = $1", 1, &user_id, &res);
	if (rc == DB_OK)
		db_user_fill(res, 0, u);
	return rc;
}

/* DB_CONFLICT when the address is taken (case-insensitively). */
enum db_rc
db_user_create(struct req *r, const char *email, const char *name,
    const char *hash, const char **user_id)
{
	const char	*v[3] = { email, name, hash };
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "INSERT INTO users (email, name, password_hash) "
	    "VALUES ($1, $2, $3) RETURNING user_id", 3, v, &res);
	if (rc == DB_OK)
		*user_id = db_get(res, 0, 0);
	return rc;
}

/*
 * Store a new hash.  "changed" says the password itself changed (access
 * tokens issued before are refused from now on); a rehash of the same
 * password at new parameters leaves the time alone.
 */
enum db_rc
db_user_set_password(struct req *r, const char *user_id, const char *hash,
    int changed)
{
	const char	*v[2] = { user_id, hash };

	if (!changed)
		return db_exec(r, "UPDATE users SET password_hash = $2 "
		    "WHERE user_id = $1", 2, v, NULL);
	/*
	 * The cut-off is the clock now, not the transaction's start: the
	 * row is locked (db_user_lock()), so every sign-in with the old
	 * password committed before this moment, and tokens issued before
	 * it are refused from now on.
	 */
	return db_exec(r, "UPDATE users SET password_hash = $2, "
	    "password_changed_at = clock_timestamp() WHERE user_id = $1", 2, v,
	    NULL);
}

/* Revoke every session and refresh token of the user, in all tenants. */
enum db_rc
db_user_revoke_all(struct req *r, const char *user_id)
{
	return db_exec(r, "SELECT auth_revoke_user($1)", 1, &user_id, NULL);
}

/* The user's tenants, oldest membership first (outside any tenant). */
enum db_rc
db_user_tenants(struct req *r, const char *user_id, struct membership **out,
    size_t *n)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i;

	*n = 0;
	if ((rc = db_exec(r, "SELECT tenant_id, role, tenant_name FROM "
	    "auth_user_tenants($1)", 1, &user_id, &res)) != DB_OK)
		return rc;
	*out = arena_calloc(&r->arena, (size_t)db_nrows(res) + 1,
	    sizeof(**out));
	for (i = 0; i < db_nrows(res); i++) {
		(*out)[i].tenant_id = db_get(res, i, 0);
		(*out)[i].role = db_get(res, i, 1);
		(*out)[i].tenant_name = db_get(res, i, 2);
	}
	*n = (size_t)i;
	return DB_OK;
}

/* Create the tenant whose id the transaction is scoped to. */
enum db_rc
db_tenant_create(struct req *r, const char *tenant_id, const char *name)
{
	const char	*v[2] = { tenant_id, name };

	return db_exec(r, "INSERT INTO tenants (tenant_id, name) "
	    "VALUES ($1, $2)", 2, v, NULL);
}

/*
 * The current tenant with what its plan allows right now: the
 * subscription status decides whether the plan applies (SPEC 4).
 */
/*
 * The bound tenant's row as the request sees it: the effective plan
 * (plan_effective(), migration 006, the one place of that rule), its
 * rate limit and seat quota.  A plain statement under row-level
 * security, so its plan is prepared once per connection.
 */
#define DB_TENANT_SQL	"SELECT t.tenant_id, t.name, t.plan, p.name, " \
	"t.status, t.seats, p.rate_limit, p.rate_per_seat, " \
	"(SELECT q.included FROM plan_quotas q WHERE q.plan = p.plan " \
	"  AND q.metric = 'seats'), " DB_TS("t.created_at") " " \
	"FROM tenants t JOIN plans p ON p.plan = plan_effective(t.plan, " \
	"  t.status, t.past_due_since) WHERE t.tenant_id = app_tenant()"

/* The statement that reads the bound tenant, for a pipeline. */
static void
db_tenant_call(struct db_call *c)
{
	memset(c, 0, sizeof(*c));
	c->sql = DB_TENANT_SQL;
}

/* The tenant of a db_tenant_call() result; -1 when there is none. */
static int
db_tenant_fill(const PGresult *res, struct tenant *t)
{
	if (res == NULL || db_nrows(res) != 1)
		return -1;
	t->tenant_id = db_get(res, 0, 0);
	t->name = db_get(res, 0, 1);
	t->plan = db_get(res, 0, 2);
	t->plan_name = db_get(res, 0, 3);
	t->status = db_get(res, 0, 4);
	t->seats = (int)db_int(res, 0, 5);
	t->rate_limit = (int)db_int(res, 0, 6);
	t->rate_per_seat = db_bool(res, 0, 7);
	t->seat_limit = db_get(res, 0, 8) == NULL ? -1 : db_int(res, 0, 8);
	t->created_at = db_get(res, 0, 9);
	return 0;
}

enum db_rc
db_tenant_get(struct req *r, struct tenant *t)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, DB_TENANT_SQL, 0, NULL, &res)) != DB_OK)
		return rc;
	return db_tenant_fill(res, t) == 0 ? DB_OK : DB_NOTFOUND;
}

/*
 * Bind a user's request to a tenant in one round trip: BEGIN, the
 * tenant, the user's membership there (role, e-mail, when the password
 * last changed) and the tenant's row.  DB_NOTFOUND: not a member (any
 * more).
 */
enum db_rc
db_tenant_bind_user(struct req *r, const char *tenant_id, const char *user_id,
    struct bind_user *u, struct tenant *t)
{
	struct db_call	 c[2];
	enum db_rc	 rc;

	memset(c, 0, sizeof(c));
	c[0].sql = "SELECT m.role, u.email, "
	    "floor(extract(epoch FROM u.password_changed_at) * 1000)::bigint, "
	    "u.email_verified_at IS NOT NULL FROM memberships m "
	    "JOIN users u USING (user_id) WHERE m.tenant_id = app_tenant() "
	    "AND m.user_id = $1";
	c[0].n = 1;
	c[0].vals = &user_id;
	db_tenant_call(&c[1]);
	if ((rc = db_begin_with(r, tenant_id, c, 2)) != DB_OK)
		return rc;
	if (db_nrows(c[0].res) == 0 || db_tenant_fill(c[1].res, t) == -1)
		return DB_NOTFOUND;
	u->role = db_get(c[0].res, 0, 0);
	u->email = db_get(c[0].res, 0, 1);
	u->password_changed_ms = db_int(c[0].res, 0, 2);
	u->verified = db_bool(c[0].res, 0, 3);
	return DB_OK;
}

#define DB_TENANT_SEATS_SQL	\
	"SELECT (SELECT count(*) FROM memberships " \
	"WHERE tenant_id = app_tenant()), (SELECT count(*) FROM " \
	"invitations WHERE tenant_id = app_tenant() AND accepted_at IS " \
	"NULL AND revoked_at IS NULL AND expires_at > now())"

/* Seats in use: members, and invitations still pending. */
enum db_rc
db_tenant_seats(struct req *r, int *members, int *pending)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, DB_TENANT_SEATS_SQL, 0, NULL, &res);
	if (rc == DB_OK)
		db_tenant_seats_fill(res, members, pending);
	return rc;
}

/* db_tenant_seats()'s statement, for a pipeline (the layout's). */
void
db_tenant_seats_call(struct db_call *c)
{
	memset(c, 0, sizeof(*c));
	c->sql = DB_TENANT_SEATS_SQL;
}

/* The seats of a db_tenant_seats_call() result; -1 when there is none. */
int
db_tenant_seats_fill(const struct pg_result *res, int *members,
    int *pending)
{
	if (res == NULL || db_nrows(res) != 1)
		return -1;
	*members = (int)db_int(res, 0, 0);
	*pending = (int)db_int(res, 0, 1);
	return 0;
}

enum db_rc
db_membership_add(struct req *r, const char *tenant_id, const char *user_id,
    const char *role)
{
	const char	*v[3] = { tenant_id, user_id, role };

	return db_exec(r, "INSERT INTO memberships (tenant_id, user_id, role) "
	    "VALUES ($1, $2, $3)", 3, v, NULL);
}

/*
 * The role and e-mail of a user in the current tenant; DB_NOTFOUND if
 * not a member (any more).
 */
enum db_rc
db_membership_role(struct req *r, const char *user_id, const char **role,
    const char **email, long long *pw_changed)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT m.role, u.email, "
	    "floor(extract(epoch FROM u.password_changed_at) * 1000)::bigint "
	    "FROM memberships m "
	    "JOIN users u USING (user_id) WHERE m.tenant_id = app_tenant() "
	    "AND m.user_id = $1", 1, &user_id,
	    &res);
	if (rc == DB_OK) {
		*role = db_get(res, 0, 0);
		*email = db_get(res, 0, 1);
		if (pw_changed != NULL)
			*pw_changed = db_int(res, 0, 2);
	}
	return rc;
}

static void
db_member_fill(const PGresult *res, int row, struct member *m)
{
	m->user_id = db_get(res, row, 0);
	m->email = db_get(res, row, 1);
	m->name = db_get(res, row, 2);
	m->role = db_get(res, row, 3);
	m->created_at = db_get(res, row, 4);
}

/* A page of members ordered by user id, after "after" (may be NULL). */
enum db_rc
db_members_list(struct req *r, int limit, const char *after,
    struct member **out, size_t *n, int *has_more)
{
	const char	*v[2];
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	v[1] = after;
	*n = 0;
	if ((rc = db_list(r, "SELECT m.user_id, u.email, u.name, m.role, "
	    DB_TS("m.created_at") " FROM memberships m JOIN users u USING (user_id) "
	    "WHERE m.tenant_id = app_tenant() AND "
	    "($2::uuid IS NULL OR m.user_id > $2::uuid) "
	    "ORDER BY m.user_id LIMIT $1", 2, v, limit, &res, &rows,
	    has_more)) != DB_OK)
		return rc;
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++)
		db_member_fill(res, i, &(*out)[i]);
	*n = (size_t)rows;
	return DB_OK;
}

enum db_rc
db_member_get(struct req *r, const char *user_id, struct member *m)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT m.user_id, u.email, u.name, m.role, "
	    DB_TS("m.created_at") " FROM memberships m JOIN users u USING (user_id) "
	    "WHERE m.tenant_id = app_tenant() AND m.user_id = $1", 1, &user_id,
	    &res);
	if (rc == DB_OK)
		db_member_fill(res, 0, m);
	return rc;
}

/*
 * Lock the owners' rows and count them: two owners demoting each other
 * at once serialise here, and the second sees one owner left.
 */
enum db_rc
db_owners_lock(struct req *r, int *owners)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_exec(r, "SELECT user_id FROM memberships "
	    "WHERE tenant_id = app_tenant() AND role = 'owner' FOR UPDATE",
	    0, NULL, &res)) != DB_OK)
		return rc;
	*owners = db_nrows(res);
	return DB_OK;
}

/* Lock the tenant row: seat checks and invitations serialise on it. */
enum db_rc
db_tenant_lock(struct req *r)
{
	return db_exec(r, "SELECT 1 FROM tenants WHERE tenant_id = app_tenant() "
	    "FOR UPDATE", 0, NULL, NULL);
}

enum db_rc
db_membership_set_role(struct req *r, const char *user_id, const char *role)
{
	const char	*v[2] = { user_id, role };
	PGresult	*res;

	return db_row(r, "UPDATE memberships SET role = $2 "
	    "WHERE tenant_id = app_tenant() AND user_id = $1 "
	    "RETURNING user_id", 2, v, &res);
}

enum db_rc
db_membership_delete(struct req *r, const char *user_id)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "DELETE FROM memberships WHERE tenant_id = app_tenant() "
	    "AND user_id = $1 "
	    "RETURNING user_id", 1, &user_id, &res);
	if (rc != DB_OK)
		return rc;
	/* A removed member's sessions and tokens here die with it. */
	if ((rc = db_exec(r, "UPDATE portal_sessions SET revoked_at = now() "
	    "WHERE tenant_id = app_tenant() AND user_id = $1 AND "
	    "revoked_at IS NULL", 1, &user_id, NULL)) != DB_OK)
		return rc;
	return db_exec(r, "UPDATE refresh_tokens SET revoked_at = now() "
	    "WHERE tenant_id = app_tenant() AND user_id = $1 AND "
	    "revoked_at IS NULL", 1, &user_id, NULL);
}
