/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Billing's rows: the tenant's Stripe state, the webhook's ledger of
 * events (stripe_events), invoices, the Stripe ids of the catalogue and
 * the notifications billing queues.  Statements run for the bound
 * tenant (row-level security), except the catalogue and the ledger,
 * which are global.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

#define DB_NULLABLE(res, row, col) \
	(PQgetisnull((res), (row), (col)) ? NULL : db_get((res), (row), (col)))

#define DB_BILLING_STATE "SELECT t.plan, plan_effective(t.plan, t.status, " \
	"t.past_due_since), t.status, t.stripe_customer_id, " \
	"t.stripe_subscription_id, " DB_TS("t.trial_end") ", " \
	DB_TS("t.current_period_start") ", " DB_TS("t.current_period_end") \
	", " DB_TS("t.past_due_since") ", t.cancel_at_period_end, t.seats, " \
	"t.had_trial, (SELECT count(*) FROM memberships m WHERE " \
	"m.tenant_id = t.tenant_id), (SELECT count(*) FROM agents a WHERE " \
	"a.tenant_id = t.tenant_id AND a.active), (SELECT count(*) FROM " \
	"api_keys k WHERE k.tenant_id = t.tenant_id AND k.revoked_at IS " \
	"NULL) FROM tenants t WHERE t.tenant_id = app_tenant()"

/*
 * The bound tenant's billing state and, when counts is set, what it
 * holds now (members, active agents, live API keys: what a downgrade
 * must fit).  lock takes the tenant's row for the transaction, so two
 * checkouts of one tenant run one after the other.
 */
enum db_rc
db_billing_state(struct req *r, int lock, struct billing_state *b)
{
	PGresult	*res;
	enum db_rc	 rc;

	if (lock)
		rc = db_row(r, DB_BILLING_STATE " FOR UPDATE OF t", 0, NULL,
		    &res);
	else
		rc = db_row(r, DB_BILLING_STATE, 0, NULL, &res);
	if (rc != DB_OK)
		return rc;
	memset(b, 0, sizeof(*b));
	b->plan = db_get(res, 0, 0);
	b->effective = db_get(res, 0, 1);
	b->status = db_get(res, 0, 2);
	b->customer_id = DB_NULLABLE(res, 0, 3);
	b->subscription_id = DB_NULLABLE(res, 0, 4);
	b->trial_end = DB_NULLABLE(res, 0, 5);
	b->period_start = DB_NULLABLE(res, 0, 6);
	b->period_end = DB_NULLABLE(res, 0, 7);
	b->past_due_since = DB_NULLABLE(res, 0, 8);
	b->cancel_at_period_end = db_bool(res, 0, 9);
	b->seats = (int)db_int(res, 0, 10);
	b->had_trial = db_bool(res, 0, 11);
	b->members = db_int(res, 0, 12);
	b->agents = db_int(res, 0, 13);
	b->api_keys = db_int(res, 0, 14);
	return DB_OK;
}

/* The customer Stripe created for the bound tenant. */
enum db_rc
db_billing_set_customer(struct req *r, const char *customer)
{
	return db_exec(r, "UPDATE tenants SET stripe_customer_id = $1 WHERE "
	    "tenant_id = app_tenant()", 1, &customer, NULL);
}

/*
 * A completed checkout: the customer and the subscription belong to the
 * bound tenant.  The subscription's own events set its state.
 */
enum db_rc
db_billing_link(struct req *r, const char *customer, const char *sub)
{
	const char	*v[2] = { customer, sub };

	return db_exec(r, "UPDATE tenants SET stripe_customer_id = "
	    "coalesce($1, stripe_customer_id), stripe_subscription_id = "
	    "coalesce($2, stripe_subscription_id) WHERE tenant_id = "
	    "app_tenant()", 2, v, NULL);
}

/*
 * Open the transaction and bind the tenant a Stripe object belongs to,
 * by customer id or by the tenant id a checkout carried, in one round
 * trip.  DB_NOTFOUND when neither names one (the transaction is open).
 */
enum db_rc
db_billing_bind_customer(struct req *r, const char *customer,
    const char *ref, const char **tenant_id)
{
	const char	*v[2] = { customer, ref };
	struct db_call	 c = { "SELECT billing_bind_customer($1, $2)", 2, v,
	    NULL };
	enum db_rc	 rc;

	if ((rc = db_begin_with(r, NULL, &c, 1)) != DB_OK)
		return rc;
	if (db_nrows(c.res) != 1 || db_get(c.res, 0, 0) == NULL)
		return DB_NOTFOUND;
	*tenant_id = db_get(c.res, 0, 0);
	return DB_OK;
}

/*
 * Record an event with what it did, after its effects, in their
 * transaction: DB_CONFLICT when its id was recorded already (a
 * redelivery: the caller rolls the effects back).  A concurrent
 * delivery of the same event waits here for the first to end.
 */
enum db_rc
db_billing_event_record(struct req *r, const char *id, const char *type,
    long long created, const char *payload, const char *tenant_id,
    const char *outcome)
{
	char		 ts[24];
	const char	*v[6] = { id, type, ts, payload, tenant_id, outcome };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(ts, sizeof(ts), "%lld", created);
	rc = db_exec(r, "INSERT INTO stripe_events (event_id, type, created, "
	    "payload, tenant_id, outcome) VALUES ($1, $2, "
	    "to_timestamp($3::bigint), $4::jsonb, $5::uuid, $6) "
	    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id", 6, v,
	    &res);
	if (rc != DB_OK)
		return rc;
	return db_nrows(res) == 1 ? DB_OK : DB_CONFLICT;
}

/*
 * A customer.subscription.* event, audited when applied; *outcome
 * "applied", "stale", "tie" or "unknown_plan".
 */
enum db_rc
db_billing_subscription_apply(struct req *r, const struct sub_state *s,
    const char **outcome)
{
	char		 seats[16], created[24];
	const char	*v[13];
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(seats, sizeof(seats), "%d", s->seats);
	snprintf(created, sizeof(created), "%lld", s->created);
	v[0] = s->subscription_id;
	v[1] = s->customer_id;
	v[2] = s->plan;
	v[3] = s->status;
	v[4] = s->trial_end;
	v[5] = s->period_start;
	v[6] = s->period_end;
	v[7] = s->cancel_at_period_end ? "true" : "false";
	v[8] = s->seats > 0 ? seats : NULL;
	v[9] = created;
	v[10] = s->deleted ? "true" : "false";
	v[11] = s->current ? "true" : "false";
	v[12] = r->id;
	rc = db_row(r, "SELECT billing_subscription_apply($1, $2, $3, $4, "
	    "to_timestamp($5::bigint), to_timestamp($6::bigint), "
	    "to_timestamp($7::bigint), $8::boolean, $9::integer, "
	    "to_timestamp($10::bigint), $11::boolean, $12::boolean, $13)", 13,
	    v, &res);
	if (rc == DB_OK)
		*outcome = db_get(res, 0, 0);
	return rc;
}

/*
 * A payment failed (the grace period starts, unless it runs already)
 * or an invoice was paid (it ends).
 */
enum db_rc
db_billing_past_due(struct req *r, int failed)
{
	if (failed)
		return db_exec(r, "UPDATE tenants SET status = CASE WHEN "
		    "status IN ('active', 'trialing') THEN 'past_due' ELSE "
		    "status END, past_due_since = coalesce(past_due_since, "
		    "now()) WHERE tenant_id = app_tenant()", 0, NULL, NULL);
	return db_exec(r, "WITH t AS (UPDATE tenants SET status = CASE WHEN "
	    "status = 'past_due' THEN 'active' ELSE status END, "
	    "past_due_since = NULL, grace_ended_at = NULL WHERE tenant_id = "
	    "app_tenant() RETURNING tenant_id) UPDATE agents SET active = true, "
	    "deactivated_reason = NULL, deactivated_at = NULL WHERE tenant_id = "
	    "app_tenant() AND NOT active AND deactivated_reason = "
	    "'payment_overdue'", 0, NULL, NULL);
}

/* Past-due tenants whose grace ran out, not yet acted on: their ids. */
enum db_rc
db_billing_grace_over(struct req *r, int limit, const char ***ids, size_t *n)
{
	char		 lim[16];
	const char	*v[1] = { lim };
	PGresult	*res;
	enum db_rc	 rc;
	int		 i;

	snprintf(lim, sizeof(lim), "%d", limit);
	if ((rc = db_exec(r, "SELECT billing_grace_over($1::int)", 1, v,
	    &res)) != DB_OK)
		return rc;
	*n = (size_t)db_nrows(res);
	*ids = arena_calloc(&r->arena, *n + 1, sizeof(**ids));
	for (i = 0; i < db_nrows(res); i++)
		(*ids)[i] = db_get(res, i, 0);
	return DB_OK;
}

/* The bound tenant's grace ended: DB_OK, or DB_NOTFOUND if not (now). */
enum db_rc
db_billing_grace_end(struct req *r)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT billing_grace_end()", 0, NULL, &res)) !=
	    DB_OK)
		return rc;
	return db_bool(res, 0, 0) ? DB_OK : DB_NOTFOUND;
}

/*
 * An invoice as Stripe last described it.  An older event about it
 * (event_at) changes nothing: invoices are delivered out of order too.
 */
enum db_rc
db_billing_invoice_put(struct req *r, const struct invoice *in,
    long long event_at)
{
	char		 due[24], paid[24], total[24], at[24];
	const char	*v[13];

	snprintf(due, sizeof(due), "%lld", in->amount_due);
	snprintf(paid, sizeof(paid), "%lld", in->amount_paid);
	snprintf(total, sizeof(total), "%lld", in->total);
	snprintf(at, sizeof(at), "%lld", event_at);
	v[0] = in->invoice_id;
	v[1] = in->number;
	v[2] = in->status;
	v[3] = in->currency != NULL ? in->currency : "usd";
	v[4] = due;
	v[5] = paid;
	v[6] = total;
	v[7] = in->period_start;
	v[8] = in->period_end;
	v[9] = in->hosted_url;
	v[10] = in->pdf_url;
	v[11] = at;
	v[12] = in->created;
	return db_exec(r, "INSERT INTO invoices AS i (tenant_id, invoice_id, "
	    "number, status, currency, amount_due, amount_paid, total, "
	    "period_start, period_end, hosted_url, pdf_url, created, event_at) "
	    "VALUES (app_tenant(), $1, $2, $3, $4, $5::bigint, $6::bigint, "
	    "$7::bigint, to_timestamp($8::bigint), to_timestamp($9::bigint), "
	    "$10, $11, coalesce(to_timestamp($13::bigint), now()), "
	    "to_timestamp($12::bigint)) ON CONFLICT (tenant_id, invoice_id) "
	    "DO UPDATE SET number = coalesce(EXCLUDED.number, i.number), "
	    "status = EXCLUDED.status, amount_due = EXCLUDED.amount_due, "
	    "amount_paid = EXCLUDED.amount_paid, total = EXCLUDED.total, "
	    "hosted_url = coalesce(EXCLUDED.hosted_url, i.hosted_url), "
	    "pdf_url = coalesce(EXCLUDED.pdf_url, i.pdf_url), "
	    "event_at = EXCLUDED.event_at WHERE i.event_at <= EXCLUDED.event_at",
	    13, v, NULL);
}

#define DB_INVOICE_COLS "invoice_id, number, status, currency, amount_due, " \
	"amount_paid, total, " DB_TS("period_start") ", " DB_TS("period_end") \
	", hosted_url, pdf_url, " DB_TS("created")

static void
db_invoice_fill(const PGresult *res, int row, struct invoice *in)
{
	in->invoice_id = db_get(res, row, 0);
	in->number = DB_NULLABLE(res, row, 1);
	in->status = db_get(res, row, 2);
	in->currency = db_get(res, row, 3);
	in->amount_due = db_int(res, row, 4);
	in->amount_paid = db_int(res, row, 5);
	in->total = db_int(res, row, 6);
	in->period_start = DB_NULLABLE(res, row, 7);
	in->period_end = DB_NULLABLE(res, row, 8);
	in->hosted_url = DB_NULLABLE(res, row, 9);
	in->pdf_url = DB_NULLABLE(res, row, 10);
	in->created = db_get(res, row, 11);
}

/* Newest first, limit at a time, after the invoice named by cursor. */
enum db_rc
db_billing_invoices(struct req *r, int limit, const char *cursor,
    struct invoice **out, size_t *n, int *more)
{
	char		 lim[16];
	const char	*v[2] = { lim, cursor };
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	snprintf(lim, sizeof(lim), "%d", limit + 1);
	rc = db_exec(r, "SELECT " DB_INVOICE_COLS " FROM invoices WHERE "
	    "tenant_id = app_tenant() AND ($2::text IS NULL OR (created, "
	    "invoice_id) < (SELECT created, invoice_id FROM invoices WHERE "
	    "tenant_id = app_tenant() AND invoice_id = $2)) ORDER BY created "
	    "DESC, invoice_id DESC LIMIT $1::int", 2, v, &res);
	if (rc != DB_OK)
		return rc;
	rows = db_nrows(res);
	*more = rows > limit;
	if (*more)
		rows = limit;
	*out = arena_calloc(&r->arena, rows > 0 ? (size_t)rows : 1,
	    sizeof(**out));
	for (i = 0; i < rows; i++)
		db_invoice_fill(res, i, &(*out)[i]);
	*n = (size_t)rows;
	return DB_OK;
}

enum db_rc
db_billing_invoice_get(struct req *r, const char *id, struct invoice *in)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT " DB_INVOICE_COLS " FROM invoices WHERE "
	    "tenant_id = app_tenant() AND invoice_id = $1", 1, &id, &res);
	if (rc == DB_OK)
		db_invoice_fill(res, 0, in);
	return rc;
}

/* The Stripe id of a product (plan), price (lookup key) or meter. */
enum db_rc
db_billing_catalogue_get(struct req *r, const char *kind, const char *key,
    const char **stripe_id)
{
	const char	*v[2] = { kind, key };
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_row(r, "SELECT stripe_id FROM stripe_catalogue WHERE kind = $1 "
	    "AND key = $2", 2, v, &res);
	if (rc == DB_OK)
		*stripe_id = db_get(res, 0, 0);
	return rc;
}

enum db_rc
db_billing_catalogue_put(struct req *r, const char *kind, const char *key,
    const char *stripe_id, const char *plan, const char *metric)
{
	const char	*v[5] = { kind, key, stripe_id, plan, metric };

	return db_exec(r, "INSERT INTO stripe_catalogue (kind, key, stripe_id, "
	    "plan, metric) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, key) "
	    "DO UPDATE SET stripe_id = EXCLUDED.stripe_id, plan = EXCLUDED.plan, "
	    "metric = EXCLUDED.metric, synced_at = now()", 5, v, NULL);
}
