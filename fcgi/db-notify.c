/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Notifications (sql/019): the tenant's settings, the outbox and its
 * deliveries.  A notification is queued in the transaction of its
 * event; the database decides there whether it goes (the trigger may
 * be off, or debounced) and makes its deliveries.  The worker takes a
 * tenant's due deliveries one at a time under their row locks.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

/* Queue a notification to the tenant's recipients; details a JSON object. */
enum db_rc
db_notify_queue(struct req *r, const char *trigger, const char *subject,
    const char *details)
{
	const char	*v[3] = { trigger, subject, details };

	return db_exec(r, "INSERT INTO notifications (tenant_id, trigger, "
	    "subject, details) VALUES (app_tenant(), $1, $2, $3::jsonb)", 3, v,
	    NULL);
}

/*
 * Queue a personal message (an invitation, a password reset) to one
 * address, its link sealed (a Fernet token).
 */
enum db_rc
db_notify_personal(struct req *r, const char *trigger, const char *to,
    const char *details, const char *sealed)
{
	const char	*v[4] = { trigger, to, details, sealed };

	return db_exec(r, "INSERT INTO notifications (tenant_id, trigger, "
	    "subject, details, recipient, secret) VALUES (app_tenant(), $1, "
	    "$2, $3::jsonb, $2, $4)", 4, v, NULL);
}

/* The first tenant of a user (where a password reset is recorded). */
enum db_rc
db_notify_user_tenant(struct req *r, const char *user_id,
    const char **tenant_id)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT tenant_id FROM auth_user_tenants($1) "
	    "LIMIT 1", 1, &user_id, &res)) == DB_OK)
		*tenant_id = db_get(res, 0, 0);
	return rc;
}

/* The settings, defaults when the tenant saved none. */
enum db_rc
db_notify_settings(struct req *r, struct notify_settings *s)
{
	PGresult	*res;
	enum db_rc	 rc;

	memset(s, 0, sizeof(*s));
	s->recipients = "[]";
	s->disabled = "[]";
	rc = db_row(r, "SELECT array_to_json(recipients)::text, slack_webhook, "
	    "slack_hint, array_to_json(disabled)::text, " DB_TS("updated_at")
	    " FROM notification_settings WHERE tenant_id = app_tenant()", 0,
	    NULL, &res);
	if (rc == DB_NOTFOUND)
		return DB_OK;
	if (rc != DB_OK)
		return rc;
	s->recipients = db_get(res, 0, 0);
	s->webhook = db_get(res, 0, 1);
	s->webhook_hint = db_get(res, 0, 2);
	s->disabled = db_get(res, 0, 3);
	s->updated_at = db_get(res, 0, 4);
	return DB_OK;
}

/*
 * Save the settings: recipients and disabled are JSON arrays of
 * strings; the webhook is kept when webhook is NULL and keep_webhook
 * is set, else replaced (NULL: removed).
 */
enum db_rc
db_notify_settings_put(struct req *r, const char *recipients,
    const char *disabled, int keep_webhook, const char *webhook,
    const char *hint)
{
	const char	*v[5];

	v[0] = recipients;
	v[1] = disabled;
	v[2] = keep_webhook ? "t" : "f";
	v[3] = webhook;
	v[4] = hint;
	return db_exec(r, "INSERT INTO notification_settings AS s (tenant_id, "
	    "recipients, disabled, slack_webhook, slack_hint) VALUES "
	    "(app_tenant(), ARRAY(SELECT jsonb_array_elements_text($1::jsonb)),"
	    " ARRAY(SELECT jsonb_array_elements_text($2::jsonb)), $4, $5) "
	    "ON CONFLICT (tenant_id) DO UPDATE SET recipients = "
	    "excluded.recipients, disabled = excluded.disabled, slack_webhook "
	    "= CASE WHEN $3::boolean THEN s.slack_webhook ELSE "
	    "excluded.slack_webhook END, slack_hint = CASE WHEN $3::boolean "
	    "THEN s.slack_hint ELSE excluded.slack_hint END, updated_at = "
	    "now()", 5, v, NULL);
}

/* Where a tenant's notifications go by mail: its list, or its owners. */
enum db_rc
db_notify_recipients(struct req *r, PGresult **res)
{
	return db_exec(r, "SELECT unnest(recipients) FROM notification_settings"
	    " WHERE tenant_id = app_tenant() AND cardinality(recipients) > 0 "
	    "UNION ALL SELECT e FROM notification_owners() e WHERE NOT EXISTS "
	    "(SELECT 1 FROM notification_settings WHERE tenant_id = "
	    "app_tenant() AND cardinality(recipients) > 0)", 0, NULL, res);
}

/* Tenants with deliveries due, across tenants. */
enum db_rc
db_notify_due(struct req *r, int limit, PGresult **res)
{
	char		 n[16];
	const char	*v[1] = { n };

	snprintf(n, sizeof(n), "%d", limit);
	return db_exec(r, "SELECT notification_due($1::integer)", 1, v, res);
}

/*
 * The bound tenant's next due delivery, locked until the transaction
 * ends (another worker skips it); DB_NOTFOUND when none is due.
 */
enum db_rc
db_notify_next(struct req *r, struct notify_delivery *d)
{
	PGresult	*res;
	enum db_rc	 rc;

	memset(d, 0, sizeof(*d));
	if ((rc = db_row(r, "SELECT d.notification_id, d.transport, "
	    "d.attempts, n.trigger, n.subject, n.details::text, n.recipient, "
	    "n.secret, " DB_TS("n.created_at") " FROM notification_deliveries "
	    "d JOIN notifications n USING (tenant_id, notification_id) WHERE "
	    "d.tenant_id = app_tenant() AND d.status = 'queued' AND d.next_at "
	    "<= now() ORDER BY d.next_at, d.notification_id LIMIT 1 FOR UPDATE "
	    "OF d SKIP LOCKED", 0, NULL, &res)) != DB_OK)
		return rc;
	d->notification_id = db_get(res, 0, 0);
	d->transport = db_get(res, 0, 1);
	d->attempts = (int)db_int(res, 0, 2);
	d->trigger = db_get(res, 0, 3);
	d->subject = db_get(res, 0, 4);
	d->details = db_get(res, 0, 5);
	d->recipient = db_get(res, 0, 6);
	d->secret = db_get(res, 0, 7);
	d->created_at = db_get(res, 0, 8);
	return DB_OK;
}

/*
 * An attempt and its result ("sent", "retry", "failed"): the delivery
 * is updated and the attempt logged.  retry_s is when a retry is due.
 */
enum db_rc
db_notify_record(struct req *r, const struct notify_delivery *d,
    const char *result, const char *detail, int retry_s)
{
	const char	*v[6];
	char		 attempt[16], secs[16];

	snprintf(attempt, sizeof(attempt), "%d", d->attempts + 1);
	snprintf(secs, sizeof(secs), "%d", retry_s);
	v[0] = d->notification_id;
	v[1] = d->transport;
	v[2] = attempt;
	v[3] = result;
	v[4] = detail;
	v[5] = secs;
	return db_exec(r, "WITH a AS (INSERT INTO notification_attempts "
	    "(tenant_id, notification_id, transport, attempt, result, detail) "
	    "VALUES (app_tenant(), $1::uuid, $2, $3::integer, $4, left($5, "
	    "300))) UPDATE notification_deliveries SET attempts = $3::integer, "
	    "status = CASE $4 WHEN 'retry' THEN 'queued' ELSE $4 END, "
	    "next_at = now() + make_interval(secs => $6::integer), last_error "
	    "= CASE $4 WHEN 'sent' THEN NULL ELSE left($5, 300) END, sent_at = "
	    "CASE $4 WHEN 'sent' THEN now() END WHERE tenant_id = app_tenant() "
	    "AND notification_id = $1::uuid AND transport = $2", 6, v, NULL);
}

/*
 * The latest notifications with their deliveries, for the delivery
 * log: one row per notification, its deliveries as a JSON array.
 */
enum db_rc
db_notify_list(struct req *r, int limit, struct notify_row **out, size_t *n)
{
	PGresult	*res;
	char		 lim[16];
	const char	*v[1] = { lim };
	enum db_rc	 rc;
	int		 i, rows;

	*n = 0;
	snprintf(lim, sizeof(lim), "%d", limit);
	if ((rc = db_exec(r, "SELECT n.notification_id, n.trigger, n.subject, "
	    "n.status, " DB_TS("n.created_at") ", n.recipient IS NOT NULL, "
	    "coalesce((SELECT json_agg(json_build_object('transport', "
	    "d.transport, 'status', d.status, 'attempts', d.attempts, "
	    "'last_error', d.last_error, 'sent_at', to_char(d.sent_at AT TIME "
	    "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) ORDER BY "
	    "d.transport) FROM notification_deliveries d WHERE d.tenant_id = "
	    "n.tenant_id AND d.notification_id = n.notification_id), "
	    "'[]')::text FROM notifications n WHERE n.tenant_id = app_tenant() "
	    "ORDER BY n.created_at DESC, n.notification_id LIMIT "
	    "$1::integer", 1, v, &res)) != DB_OK)
		return rc;
	rows = db_nrows(res);
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++) {
		(*out)[i].notification_id = db_get(res, i, 0);
		(*out)[i].trigger = db_get(res, i, 1);
		(*out)[i].subject = db_get(res, i, 2);
		(*out)[i].status = db_get(res, i, 3);
		(*out)[i].created_at = db_get(res, i, 4);
		(*out)[i].personal = db_bool(res, i, 5);
		(*out)[i].deliveries = db_get(res, i, 6);
	}
	*n = (size_t)rows;
	return DB_OK;
}
