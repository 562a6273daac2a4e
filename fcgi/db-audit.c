/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The audit trail: appended in the transaction of the change it
 * records (so a change and its record commit or vanish together), read
 * back with filters and keyset pagination.  The application role may
 * insert and select, never update or delete.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

#define DB_TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/*
 * Record "action" on "target" by the request's principal.  details is
 * a JSON object text or NULL.
 */
enum db_rc
db_audit_add(struct req *r, const char *action, const char *target,
    const char *details)
{
	const char	*v[7];

	v[0] = r->auth.user_id[0] != '\0' ? r->auth.user_id : NULL;
	v[1] = r->auth.key_id[0] != '\0' ? r->auth.key_id : NULL;
	v[2] = r->auth.actor[0] != '\0' ? r->auth.actor : "system";
	v[3] = action;
	v[4] = target;
	v[5] = r->remote_addr != NULL && *r->remote_addr != '\0' ?
	    r->remote_addr : NULL;
	v[6] = details != NULL ? details : "{}";
	return db_exec(r, "INSERT INTO audit_events (tenant_id, actor_user_id, "
	    "actor_key_id, actor, action, target, ip, request_id, details) "
	    "VALUES (app_tenant(), $1, $2, $3, $4, $5, $6, $8, $7::jsonb)",
	    8, (const char *const[]){ v[0], v[1], v[2], v[3], v[4], v[5],
	    v[6], r->id }, NULL);
}

/*
 * A page of events, newest first, filtered by action, actor (user id
 * or e-mail/label text) and time range (RFC 3339), after event "after"
 * (its event_uid; an unknown one gives an empty page).  Events are
 * shown by their random event_uid, never by the global event_id.
 */
enum db_rc
db_audit_list(struct req *r, const struct audit_filter *f, int limit,
    struct audit_event **out, size_t *n, int *has_more)
{
	const char	*v[6];
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	v[1] = f->action;
	v[2] = f->actor;
	v[3] = f->from;
	v[4] = f->to;
	v[5] = f->after;
	*n = 0;
	/*
	 * Targets and key actors are ids; their names come along for the
	 * portal (a user's address, a key's, tenant's or agent's name,
	 * an invitation's address), looked up by primary key.
	 */
	if ((rc = db_list(r, "SELECT event_uid, " DB_TS("at") ", actor, action, "
	    "target, ip, request_id, details::text, actor_user_id, "
	    "coalesce((SELECT u.email FROM users u WHERE u.user_id = x.id), "
	    "  (SELECT k.name FROM api_keys k WHERE k.tenant_id = "
	    "  app_tenant() AND k.key_id = x.id), (SELECT i.email FROM "
	    "  invitations i WHERE i.tenant_id = app_tenant() AND "
	    "  i.invitation_id = x.id), (SELECT t.name FROM tenants t WHERE "
	    "  t.tenant_id = app_tenant() AND t.tenant_id = x.id), "
	    "  (SELECT a.name FROM agents a WHERE a.tenant_id = app_tenant() "
	    "  AND a.agent_id = x.id)), "
	    "(SELECT k.name FROM api_keys k WHERE k.tenant_id = app_tenant() "
	    "  AND k.key_id = actor_key_id) "
	    "FROM audit_events LEFT JOIN LATERAL (SELECT CASE WHEN target ~ "
	    "  '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$' "
	    "  THEN target::uuid END AS id) x ON true "
	    "WHERE tenant_id = app_tenant() "
	    "AND ($2::text IS NULL OR action = $2) "
	    "AND ($3::text IS NULL OR actor = $3 OR "
	    "  actor_user_id::text = $3 OR actor_key_id::text = $3) "
	    "AND ($4::timestamptz IS NULL OR at >= $4::timestamptz) "
	    "AND ($5::timestamptz IS NULL OR at < $5::timestamptz) "
	    "AND ($6::uuid IS NULL OR event_id < (SELECT e.event_id "
	    "  FROM audit_events e WHERE e.tenant_id = app_tenant() "
	    "  AND e.event_uid = $6::uuid)) "
	    "ORDER BY event_id DESC LIMIT $1", 6, v, limit, &res, &rows,
	    has_more)) != DB_OK)
		return rc;
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++) {
		(*out)[i].event_id = db_get(res, i, 0);
		(*out)[i].at = db_get(res, i, 1);
		(*out)[i].actor = db_get(res, i, 2);
		(*out)[i].action = db_get(res, i, 3);
		(*out)[i].target = db_get(res, i, 4);
		(*out)[i].ip = db_get(res, i, 5);
		(*out)[i].request_id = db_get(res, i, 6);
		(*out)[i].details = db_get(res, i, 7);
		(*out)[i].actor_user_id = db_get(res, i, 8);
		(*out)[i].target_name = db_get(res, i, 9);
		(*out)[i].actor_key_name = db_get(res, i, 10);
	}
	*n = (size_t)rows;
	return DB_OK;
}

/* The worker's cleanup of dead credentials, across tenants. */
enum db_rc
db_prune_auth(struct req *r, long long *n)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT work_prune_auth()", 0, NULL, &res)) ==
	    DB_OK)
		*n = db_int(res, 0, 0);
	return rc;
}
