/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The billing routes (SPEC 6, 7): checkout, the billing portal, the
 * subscription (read, change, cancel), invoices, and Stripe's webhook.
 * The work is billing.c's; here the input is checked and the answer
 * shaped.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "tollgate.h"

#define WEBHOOK_TOLERANCE_S	300

static void
api_billing_int(struct json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void
api_billing_url(struct req *r, int status, const char *url)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "url", url);
	req_json(r, status, o);
}

/* POST /billing/checkout {plan, seats?, coupon?} -> {url} */
void
api_billing_checkout(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct fail	 f;
	const char	*url;

	if (api_input(r, VOP_CHECKOUT, v) == -1)
		return;
	if (billing_checkout(r, &f, v[0].s, v[1].present ? (int)v[1].i : 0,
	    v[2].present ? v[2].s : NULL, &url) == -1) {
		acct_answer(r, &f);
		return;
	}
	api_billing_url(r, 201, url);
}

/* POST /billing/portal -> {url} */
void
api_billing_portal(struct req *r)
{
	struct fail	 f;
	const char	*url;

	if (billing_portal(r, &f, &url) == -1) {
		acct_answer(r, &f);
		return;
	}
	api_billing_url(r, 201, url);
}

/* The subscription as this side knows it (what the events said). */
static struct json_object *
api_billing_state_json(const struct billing_state *b)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "plan", b->plan);
	api_str(o, "effective_plan", b->effective);
	api_str(o, "status", b->status);
	api_str(o, "subscription_id", b->subscription_id);
	api_str(o, "trial_end", b->trial_end);
	api_str(o, "current_period_start", b->period_start);
	api_str(o, "current_period_end", b->period_end);
	api_str(o, "past_due_since", b->past_due_since);
	json_object_object_add(o, "cancel_at_period_end",
	    json_object_new_boolean(b->cancel_at_period_end));
	api_billing_int(o, "seats", b->seats);
	api_billing_int(o, "members", b->members);
	json_object_object_add(o, "billing_account",
	    json_object_new_boolean(b->customer_id != NULL));
	return o;
}

/* GET /billing/subscription */
void
api_billing_subscription(struct req *r)
{
	struct billing_state	 b;
	enum db_rc		 rc;

	if (!stripe_configured()) {
		req_error(r, 503, NULL, "billing_not_configured", "Billing is "
		    "not configured on this server: every tenant is on the "
		    "free plan.", NULL);
		return;
	}
	if ((rc = db_billing_state(r, 0, &b)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	req_json(r, 200, api_billing_state_json(&b));
}

/*
 * What Stripe answered to a change, in our words: the state the
 * subscription is going to (the event that follows applies it here).
 */
static struct json_object *
api_billing_stripe_sub(struct json_object *sub)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "subscription_id", http_json_text(sub, "id"));
	api_str(o, "status", http_json_text(sub, "status"));
	api_str(o, "plan", http_json_text(sub, "metadata.plan"));
	json_object_object_add(o, "cancel_at_period_end",
	    json_object_new_boolean(http_json_bool(sub, "cancel_at_period_end")));
	json_object_object_add(o, "pending", json_object_new_boolean(1));
	return o;
}

/* PATCH /billing/subscription {plan?, seats?} */
void
api_billing_change(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct json_object	*sub;
	struct fail		 f;

	if (api_input(r, VOP_PLAN_CHANGE, v) == -1)
		return;
	if (!v[0].present && !v[1].present) {
		req_error(r, 400, NULL, "missing_parameter", "Give the plan, "
		    "the number of seats, or both.", "plan");
		return;
	}
	if (billing_change(r, &f, v[0].present ? v[0].s : NULL,
	    v[1].present ? (int)v[1].i : 0, &sub) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, 200, api_billing_stripe_sub(sub));
}

/* DELETE /billing/subscription[?at_period_end=false] */
void
api_billing_cancel(struct req *r)
{
	struct json_object	*sub;
	struct fail		 f;
	const char		*ape;
	int			 at_end = 1;

	ape = http_kv_get(&r->args, "at_period_end");
	if (ape != NULL && strcmp(ape, "false") == 0)
		at_end = 0;
	else if (ape != NULL && strcmp(ape, "true") != 0) {
		req_error(r, 400, NULL, "invalid_value", "at_period_end must be "
		    "true or false.", "at_period_end");
		return;
	}
	if (billing_cancel(r, &f, at_end, &sub) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, 200, api_billing_stripe_sub(sub));
}

static struct json_object *
api_invoice_json(const struct invoice *in)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "id", in->invoice_id);
	api_str(o, "number", in->number);
	api_str(o, "status", in->status);
	api_str(o, "currency", in->currency);
	api_billing_int(o, "amount_due", in->amount_due);
	api_billing_int(o, "amount_paid", in->amount_paid);
	api_billing_int(o, "total", in->total);
	api_str(o, "period_start", in->period_start);
	api_str(o, "period_end", in->period_end);
	api_str(o, "hosted_invoice_url", in->hosted_url);
	api_str(o, "invoice_pdf", in->pdf_url);
	api_str(o, "created", in->created);
	return o;
}

/* GET /billing/invoices?limit=&starting_after= (newest first) */
void
api_billing_invoices(struct req *r)
{
	struct json_object	*data;
	struct invoice		*in;
	struct vfail		 vf;
	const char		*after;
	enum db_rc		 rc;
	size_t			 i, n;
	int			 limit, more;

	if (valid_list_args(&r->args, &limit, &after, &vf) == -1) {
		req_error_valid(r, &vf);
		return;
	}
	if (after != NULL && !billing_id_ok(after)) {
		req_error(r, 400, NULL, "invalid_value", "starting_after must "
		    "be the id of the last invoice of a previous page.",
		    "starting_after");
		return;
	}
	rc = db_billing_invoices(r, limit, after, &in, &n, &more);
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, api_invoice_json(&in[i]));
	api_list(r, data, more);
}

/* GET /billing/invoices/{id} */
void
api_billing_invoice(struct req *r)
{
	struct invoice	 in;
	const char	*id = r->path_params[0];
	enum db_rc	 rc;

	if (!billing_id_ok(id) ||
	    (rc = db_billing_invoice_get(r, id, &in)) == DB_NOTFOUND) {
		req_error(r, 404, NULL, "not_found", "No such invoice.", NULL);
		return;
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	req_json(r, 200, api_invoice_json(&in));
}

/* GET /billing/invoices/upcoming: Stripe's preview, in our shape. */
void
api_billing_upcoming(struct req *r)
{
	struct json_object	*inv, *o, *lines, *src, *l;
	struct fail		 f;
	size_t			 i, n;

	if (billing_upcoming(r, &f, &inv) == -1) {
		acct_answer(r, &f);
		return;
	}
	o = json_object_new_object();
	api_str(o, "currency", http_json_text(inv, "currency"));
	api_billing_int(o, "amount_due", http_json_int(inv, "amount_due", 0));
	api_billing_int(o, "subtotal", http_json_int(inv, "subtotal", 0));
	api_billing_int(o, "total", http_json_int(inv, "total", 0));
	api_time(o, "period_start", (time_t)http_json_int(inv, "period_start", 0));
	api_time(o, "period_end", (time_t)http_json_int(inv, "period_end", 0));
	lines = json_object_new_array();
	src = http_json_at(inv, "lines.data");
	n = src != NULL && json_object_is_type(src, json_type_array) ?
	    json_object_array_length(src) : 0;
	for (i = 0; i < n; i++) {
		l = json_object_new_object();
		api_str(l, "description", http_json_text(
		    json_object_array_get_idx(src, i), "description"));
		api_billing_int(l, "amount", http_json_int(
		    json_object_array_get_idx(src, i), "amount", 0));
		api_billing_int(l, "quantity", http_json_int(
		    json_object_array_get_idx(src, i), "quantity", 0));
		json_object_array_add(lines, l);
	}
	json_object_object_add(o, "lines", lines);
	req_json(r, 200, o);
}

/* Is the parsed body an event: id, type, created, data.object? */
static int
api_billing_is_event(struct json_object *ev)
{
	const char	*id = http_json_text(ev, "id");
	struct json_object *obj = http_json_at(ev, "data.object");

	return id != NULL && strncmp(id, "evt_", 4) == 0 &&
	    billing_id_ok(id) && http_json_text(ev, "type") != NULL &&
	    strlen(http_json_text(ev, "type")) <= 200 &&
	    http_json_int(ev, "created", -1) > 0 && obj != NULL &&
	    json_object_is_type(obj, json_type_object);
}

/*
 * POST /billing/webhook: Stripe's events.  The signature is checked on
 * the raw body before anything is parsed; the event id is recorded in
 * the transaction of its effects, after them, so a redelivery finds it,
 * is acknowledged and its effects are rolled back.  An event this side does not act on, or about a
 * customer it does not know, is stored and acknowledged too: answering
 * an error would only make Stripe send it again for days.
 */
void
api_billing_webhook(struct req *r)
{
	struct json_object	*o;
	enum stripe_sig_rc	 sig;
	const char		*id, *tenant, *outcome;
	enum db_rc		 rc;

	if (!stripe_configured() || conf.stripe_webhook_secret == NULL ||
	    conf.stripe_webhook_secret[0] == '\0') {
		req_error(r, 503, NULL, "billing_not_configured", "Billing is "
		    "not configured on this server.", NULL);
		return;
	}
	if (r->stripe_signature == NULL) {
		req_error(r, 400, NULL, "invalid_signature", "The "
		    "Stripe-Signature header is missing.", NULL);
		return;
	}
	sig = stripe_sig_verify(r->stripe_signature,
	    conf.stripe_webhook_secret, r->body.p, r->body.len,
	    (long long)time(NULL), WEBHOOK_TOLERANCE_S);
	if (sig != STRIPE_SIG_OK) {
		log_warnx("webhook refused: %s", stripe_sig_strerror(sig));
		req_error(r, 400, NULL, "invalid_signature",
		    stripe_sig_strerror(sig), NULL);
		return;
	}
	if (req_parse_body(r, BODY_JSON) == -1)
		return;
	if (!api_billing_is_event(r->json)) {
		req_error(r, 400, NULL, "invalid_event", "The body is not a "
		    "Stripe event (id, type, created, data.object).", NULL);
		return;
	}
	id = http_json_text(r->json, "id");
	if ((rc = billing_event(r, r->json, &tenant, &outcome)) != DB_OK)
		goto dberr;
	rc = db_billing_event_record(r, id, http_json_text(r->json, "type"),
	    http_json_int(r->json, "created", 0), r->body.p, tenant, outcome);
	if (rc == DB_CONFLICT) {
		/* A redelivery: what this one did is rolled back. */
		req_refuse(r);
		o = json_object_new_object();
		json_object_object_add(o, "received",
		    json_object_new_boolean(1));
		json_object_object_add(o, "duplicate",
		    json_object_new_boolean(1));
		req_json(r, 200, o);
		return;
	}
	if (rc != DB_OK)
		goto dberr;
	log_info("webhook %s %s: %s", id, http_json_text(r->json, "type"),
	    outcome);
	o = json_object_new_object();
	json_object_object_add(o, "received", json_object_new_boolean(1));
	api_str(o, "outcome", outcome);
	req_json(r, 200, o);
	return;
dberr:
	req_error_from_db(r, rc);
}
