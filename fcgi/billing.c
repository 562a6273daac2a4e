/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Billing (SPEC 7): checkout, the billing portal, plan and seat changes,
 * cancellation and the upcoming invoice, all through Stripe; and the
 * effects of Stripe's webhook events.  Shared by the API and the portal.
 * Functions return 0, or -1 with a struct fail (acct.c's convention).
 *
 * Local state changes only when Stripe says so in an event: a change
 * asked for here is answered with what Stripe returned, and the event
 * that follows (customer.subscription.updated) applies it.  So the one
 * path that writes a subscription's state is the webhook's, in order of
 * the events' times, whatever the order of delivery.
 *
 * Idempotency keys: a customer is created under a key derived from the
 * tenant ("tollgate-customer-<tenant id>"), so every retry of every
 * checkout of a tenant, even one whose transaction was rolled back after
 * Stripe created the customer, gets that one customer back (Stripe keeps
 * keys 24 hours; after that the customer id is stored).  Other calls use
 * a random key per operation, sent unchanged on each of its retries.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "tollgate.h"

#define BILLING_SEATS_MAX	1000

static int
billing_unconfigured(struct fail *f)
{
	return acct_fail(f, 503, "billing_not_configured", "Billing is not "
	    "configured on this server: every tenant is on the free plan.",
	    NULL);
}

static int
billing_upstream(struct req *r, struct fail *f, const struct stripe_err *e)
{
	return acct_fail(f, 502, "upstream_error", stripe_message(r, e), NULL);
}

/* A fresh Idempotency-Key for one operation: "tollgate-<op>-<hex>". */
static const char *
billing_idem_key(struct req *r, const char *op)
{
	unsigned char	 raw[16];
	char		 hex[33];

	if (util_random(raw, sizeof(raw)) == -1)
		return NULL;
	util_hex(raw, sizeof(raw), hex);
	return arena_printf(&r->arena, "tollgate-%s-%s", op, hex);
}

/* The portal's address of a page, for Stripe's return URLs. */
static const char *
billing_url(struct req *r, const char *path)
{
	const char	*base = conf.public_url != NULL ? conf.public_url : "";
	size_t		 n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return arena_printf(&r->arena, "%.*s%s", (int)n, base, path);
}

/* The catalogue entry of a plan, from a list db_plans_list() gave. */
static const struct plan *
billing_plan(const struct plan *p, size_t n, const char *id)
{
	size_t	 i;

	for (i = 0; id != NULL && i < n; i++)
		if (strcmp(p[i].plan, id) == 0)
			return &p[i];
	return NULL;
}

static int
billing_plan_load(struct req *r, struct fail *f, const char *id,
    const struct plan **out)
{
	struct plan	*p;
	size_t		 n;
	enum db_rc	 rc;

	if ((rc = db_plans_list(r, &p, &n)) != DB_OK)
		return acct_fail_db(f, rc);
	if ((*out = billing_plan(p, n, id)) == NULL)
		return acct_fail(f, 400, "unknown_plan", "There is no such plan.",
		    "plan");
	if ((*out)->price_cents == 0)
		return acct_fail(f, 400, "invalid_value", "The free plan needs "
		    "no checkout: cancel the subscription instead.", "plan");
	return 0;
}

/* The Stripe price of a lookup key; 503 when the catalogue is not synced. */
static int
billing_price(struct req *r, struct fail *f, const char *plan,
    const char *what, const char **price)
{
	const char	*key;
	enum db_rc	 rc;

	key = arena_printf(&r->arena, "tollgate_%s_%s", plan, what);
	rc = db_billing_catalogue_get(r, "price", key, price);
	if (rc == DB_NOTFOUND) {
		log_warnx("billing: no Stripe price %s: run tollgate admin "
		    "stripe sync", key);
		return acct_fail(f, 503, "billing_not_configured", "The plans "
		    "are not set up at the payment provider yet.", NULL);
	}
	return rc == DB_OK ? 0 : acct_fail_db(f, rc);
}

/*
 * The line items of a plan: its base price (quantity: seats) and one
 * metered price per metered quota (no quantity: usage decides).
 */
static int
billing_items(struct req *r, struct fail *f, struct buf *form,
    const char *prefix, size_t first, const struct plan *p, int seats)
{
	const char	*price;
	char		 q[16];
	size_t		 i, k = first;

	if (billing_price(r, f, p->plan, "base", &price) == -1)
		return -1;
	snprintf(q, sizeof(q), "%d", p->per_seat ? seats : 1);
	if (stripe_form_addf(form, price, "%s[%zu][price]", prefix, k) == -1 ||
	    stripe_form_addf(form, q, "%s[%zu][quantity]", prefix, k) == -1)
		goto toobig;
	k++;
	for (i = 0; i < p->nquotas; i++) {
		if (strcmp(p->quotas[i].kind, "period") != 0 ||
		    strcmp(p->quotas[i].cap, "metered") != 0)
			continue;
		if (billing_price(r, f, p->plan, p->quotas[i].metric,
		    &price) == -1)
			return -1;
		if (stripe_form_addf(form, price, "%s[%zu][price]", prefix,
		    k++) == -1)
			goto toobig;
	}
	return 0;
toobig:
	return acct_fail(f, 500, "internal_error", "The request to the "
	    "payment provider is too large.", NULL);
}

/*
 * The tenant's Stripe customer, created at its first checkout under the
 * tenant's own Idempotency-Key and stored on the tenant.
 */
static int
billing_customer(struct req *r, struct fail *f, const struct tenant *t,
    struct billing_state *b)
{
	struct json_object	*o;
	struct stripe_err	 e;
	struct buf		 form;
	const char		*id;
	enum db_rc		 rc;
	int			 ret = -1;

	if (b->customer_id != NULL)
		return 0;
	buf_init(&form, 4096);
	if (stripe_form_add(&form, "name", t->name) == -1 ||
	    (r->auth.actor[0] != '\0' && strchr(r->auth.actor, '@') != NULL &&
	    stripe_form_add(&form, "email", r->auth.actor) == -1) ||
	    stripe_form_add(&form, "metadata[tenant_id]", t->tenant_id) == -1) {
		acct_fail(f, 500, "internal_error", "Request too large.", NULL);
		goto done;
	}
	if (stripe_call(r, "POST", "/v1/customers", &form, arena_printf(
	    &r->arena, "tollgate-customer-%s", t->tenant_id), &o, &e) == -1) {
		billing_upstream(r, f, &e);
		goto done;
	}
	if ((id = http_json_text(o, "id")) == NULL) {
		acct_fail(f, 502, "upstream_error", "The payment provider "
		    "answered without a customer.", NULL);
		goto done;
	}
	if ((rc = db_billing_set_customer(r, id)) != DB_OK) {
		acct_fail_db(f, rc);
		goto done;
	}
	b->customer_id = arena_strdup(&r->arena, id);
	ret = 0;
done:
	buf_free(&form);
	return ret;
}

/* A subscription that still gives its plan (or may again, past_due). */
int
billing_live(const struct billing_state *b)
{
	return b->subscription_id != NULL &&
	    (strcmp(b->status, "active") == 0 ||
	    strcmp(b->status, "trialing") == 0 ||
	    strcmp(b->status, "past_due") == 0);
}

/*
 * POST /billing/checkout: a Stripe Checkout session for a plan; *url is
 * where the user pays.  The tenant's row stays locked while this runs,
 * so two checkouts of one tenant never make two customers.
 */
int
billing_checkout(struct req *r, struct fail *f, const char *plan_id,
    int seats, const char *coupon, const char **url)
{
	struct billing_state	 b;
	struct json_object	*o;
	struct stripe_err	 e;
	const struct tenant	*t;
	const struct plan	*p;
	struct buf		 form;
	const char		*key;
	char			 days[16];
	enum db_rc		 rc;
	int			 ret = -1;

	if (!stripe_configured())
		return billing_unconfigured(f);
	/* Paying binds the organization: only from a proven address. */
	if (acct_verified(r, f) == -1 ||
	    billing_plan_load(r, f, plan_id, &p) == -1)
		return -1;
	if ((rc = auth_tenant(r, &t)) != DB_OK ||
	    (rc = db_billing_state(r, 1, &b)) != DB_OK)
		return acct_fail_db(f, rc);
	if (billing_live(&b) && strcmp(b.plan, p->plan) == 0)
		return acct_fail(f, 409, "already_subscribed", arena_printf(
		    &r->arena, "This organization is on the %s plan already.",
		    p->name), "plan");
	if (billing_live(&b))
		return acct_fail(f, 409, "already_subscribed", "This "
		    "organization has a subscription: change its plan instead "
		    "(PATCH /billing/subscription).", "plan");
	if (seats <= 0)
		seats = b.members > 0 ? (int)b.members : 1;
	if (p->per_seat && seats < b.members)
		return acct_fail(f, 409, "seats_too_few", arena_printf(
		    &r->arena, "The organization has %lld members: buy at "
		    "least as many seats.", b.members), "seats");
	if (billing_customer(r, f, t, &b) == -1)
		return -1;
	buf_init(&form, 16384);
	if (billing_items(r, f, &form, "line_items", 0, p, seats) == -1)
		goto done;
	snprintf(days, sizeof(days), "%d", p->trial_days);
	if (stripe_form_add(&form, "mode", "subscription") == -1 ||
	    stripe_form_add(&form, "customer", b.customer_id) == -1 ||
	    stripe_form_add(&form, "client_reference_id", t->tenant_id) == -1 ||
	    stripe_form_add(&form, "metadata[tenant_id]", t->tenant_id) == -1 ||
	    stripe_form_add(&form, "metadata[plan]", p->plan) == -1 ||
	    stripe_form_add(&form, "subscription_data[metadata][tenant_id]",
	    t->tenant_id) == -1 ||
	    stripe_form_add(&form, "subscription_data[metadata][plan]",
	    p->plan) == -1 ||
	    (p->trial_days > 0 && !b.had_trial && stripe_form_add(&form,
	    "subscription_data[trial_period_days]", days) == -1) ||
	    (coupon != NULL && *coupon != '\0' && stripe_form_add(&form,
	    "discounts[0][coupon]", coupon) == -1) ||
	    stripe_form_add(&form, "success_url", billing_url(r,
	    "/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}")) ==
	    -1 || stripe_form_add(&form, "cancel_url", billing_url(r,
	    "/billing?checkout=canceled")) == -1) {
		acct_fail(f, 500, "internal_error", "Request too large.", NULL);
		goto done;
	}
	if ((key = billing_idem_key(r, "checkout")) == NULL) {
		acct_fail(f, 500, "internal_error", "No randomness.", NULL);
		goto done;
	}
	if (stripe_call(r, "POST", "/v1/checkout/sessions", &form, key, &o,
	    &e) == -1) {
		billing_upstream(r, f, &e);
		goto done;
	}
	if ((*url = http_json_text(o, "url")) == NULL) {
		acct_fail(f, 502, "upstream_error", "The payment provider "
		    "answered without a checkout page.", NULL);
		goto done;
	}
	rc = db_audit_add(r, "billing.checkout", p->plan, arena_printf(
	    &r->arena, "{\"plan\": \"%s\", \"seats\": %d}", p->plan, seats));
	if (rc != DB_OK) {
		acct_fail_db(f, rc);
		goto done;
	}
	ret = 0;
done:
	buf_free(&form);
	return ret;
}

/* POST /billing/portal: Stripe's billing portal for the customer. */
int
billing_portal(struct req *r, struct fail *f, const char **url)
{
	struct billing_state	 b;
	struct json_object	*o;
	struct stripe_err	 e;
	struct buf		 form;
	enum db_rc		 rc;
	int			 ret = -1;

	if (!stripe_configured())
		return billing_unconfigured(f);
	if ((rc = db_billing_state(r, 0, &b)) != DB_OK)
		return acct_fail_db(f, rc);
	if (b.customer_id == NULL)
		return acct_fail(f, 409, "no_billing_account", "There is no "
		    "billing account yet: choose a plan first.", NULL);
	buf_init(&form, 4096);
	if (stripe_form_add(&form, "customer", b.customer_id) == -1 ||
	    stripe_form_add(&form, "return_url", billing_url(r, "/billing")) ==
	    -1) {
		acct_fail(f, 500, "internal_error", "Request too large.", NULL);
		goto done;
	}
	if (stripe_call(r, "POST", "/v1/billing_portal/sessions", &form,
	    billing_idem_key(r, "portal"), &o, &e) == -1) {
		billing_upstream(r, f, &e);
		goto done;
	}
	if ((*url = http_json_text(o, "url")) == NULL) {
		acct_fail(f, 502, "upstream_error", "The payment provider "
		    "answered without a portal page.", NULL);
		goto done;
	}
	ret = 0;
done:
	buf_free(&form);
	return ret;
}

/*
 * Would the tenant's current counts fit a plan?  No: 409 naming what to
 * reduce, and to what.
 */
static int
billing_fits(struct req *r, struct fail *f, const struct plan *p,
    const struct billing_state *b, int seats)
{
	struct buf	 why;
	long long	 have, max;
	const char	*what;
	size_t		 i;
	int		 ret = 0;

	buf_init(&why, 1024);
	for (i = 0; i < p->nquotas; i++) {
		max = p->quotas[i].included;
		what = p->quotas[i].metric;
		if (strcmp(p->quotas[i].cap, "hard") != 0 || max < 0)
			continue;
		if (strcmp(what, "seats") == 0)
			have = b->members;
		else if (strcmp(what, "agents") == 0)
			have = b->agents;
		else
			continue;
		if (have <= max)
			continue;
		buf_printf(&why, "%s%s from %lld to %lld", why.len > 0 ?
		    ", " : "", strcmp(what, "seats") == 0 ? "members" :
		    "active agents", have, max);
	}
	if (p->per_seat && seats > 0 && seats < b->members)
		buf_printf(&why, "%smembers from %lld to %d", why.len > 0 ?
		    ", " : "", b->members, seats);
	if (why.len > 0) {
		acct_fail(f, 409, "plan_limits_exceeded", arena_printf(
		    &r->arena, "The %s plan does not fit what this "
		    "organization has now: reduce %s first.", p->name, why.p),
		    "plan");
		ret = -1;
	}
	buf_free(&why);
	return ret;
}

/*
 * The items of a subscription as Stripe has them, to change its plan:
 * every current item is deleted and the new plan's added, in one
 * update, prorated.
 */
static int
billing_items_replace(struct req *r, struct fail *f, struct buf *form,
    struct json_object *sub, const struct plan *p, int seats)
{
	struct json_object	*items;
	const char		*id;
	size_t			 i, n;

	items = http_json_at(sub, "items.data");
	n = items != NULL && json_object_is_type(items, json_type_array) ?
	    json_object_array_length(items) : 0;
	for (i = 0; i < n; i++) {
		id = http_json_text(json_object_array_get_idx(items, i), "id");
		if (id == NULL)
			continue;
		if (stripe_form_addf(form, id, "items[%zu][id]", i) == -1 ||
		    stripe_form_addf(form, "true", "items[%zu][deleted]", i) ==
		    -1)
			return acct_fail(f, 500, "internal_error", "Request too "
			    "large.", NULL);
	}
	return billing_items(r, f, form, "items", n, p, seats);
}

/* The id of a subscription's item priced tollgate_<plan>_base, or NULL. */
static const char *
billing_base_item(struct req *r, struct json_object *sub, const char *plan)
{
	struct json_object	*items, *it;
	const char		*want, *lk;
	size_t			 i, n;

	want = arena_printf(&r->arena, "tollgate_%s_base", plan);
	items = http_json_at(sub, "items.data");
	n = items != NULL && json_object_is_type(items, json_type_array) ?
	    json_object_array_length(items) : 0;
	for (i = 0; i < n; i++) {
		it = json_object_array_get_idx(items, i);
		if ((lk = http_json_text(it, "price.lookup_key")) != NULL &&
		    strcmp(lk, want) == 0)
			return http_json_text(it, "id");
	}
	return NULL;
}

/* The subscription as Stripe answered, for the API's answer. */
static int
billing_fetch(struct req *r, struct fail *f, const char *sub,
    struct json_object **o)
{
	struct stripe_err	 e;

	if (stripe_call(r, "GET", arena_printf(&r->arena,
	    "/v1/subscriptions/%s", sub), NULL, NULL, o, &e) == -1)
		return billing_upstream(r, f, &e);
	return 0;
}

/*
 * PATCH /billing/subscription: another plan and/or seat count, prorated.
 * A plan the tenant's counts do not fit is refused (409).  Only the
 * seat count: the base item's quantity changes, nothing else.
 */
int
billing_change(struct req *r, struct fail *f, const char *plan_id, int seats,
    struct json_object **out)
{
	struct billing_state	 b;
	struct json_object	*sub;
	struct stripe_err	 e;
	const struct plan	*p;
	struct buf		 form;
	const char		*path, *base_item;
	char			 q[16];
	enum db_rc		 rc;
	int			 ret = -1;

	if (!stripe_configured())
		return billing_unconfigured(f);
	if ((rc = db_billing_state(r, 0, &b)) != DB_OK)
		return acct_fail_db(f, rc);
	if (!billing_live(&b))
		return acct_fail(f, 409, "no_subscription", "There is no "
		    "subscription to change: choose a plan first.", NULL);
	if (plan_id == NULL)
		plan_id = b.plan;
	if (billing_plan_load(r, f, plan_id, &p) == -1)
		return -1;
	if (strcmp(p->plan, b.plan) == 0 && (seats <= 0 || !p->per_seat ||
	    seats == b.seats))
		return acct_fail(f, 409, "already_subscribed", arena_printf(
		    &r->arena, "This organization is on the %s plan already.",
		    p->name), "plan");
	if (seats <= 0)
		seats = p->per_seat ? (b.seats > b.members ? b.seats :
		    (int)b.members) : 1;
	if (billing_fits(r, f, p, &b, seats) == -1)
		return -1;
	if (billing_fetch(r, f, b.subscription_id, &sub) == -1)
		return -1;
	buf_init(&form, 16384);
	if (strcmp(p->plan, b.plan) == 0) {
		/* Seats only: the base item's quantity. */
		if ((base_item = billing_base_item(r, sub, b.plan)) == NULL) {
			acct_fail(f, 502, "upstream_error", "The subscription "
			    "at the payment provider has no base price.", NULL);
			goto done;
		}
		snprintf(q, sizeof(q), "%d", seats);
		if (stripe_form_add(&form, "items[0][id]", base_item) == -1 ||
		    stripe_form_add(&form, "items[0][quantity]", q) == -1) {
			acct_fail(f, 500, "internal_error", "Too large.", NULL);
			goto done;
		}
	} else if (billing_items_replace(r, f, &form, sub, p, seats) == -1)
		goto done;
	if (stripe_form_add(&form, "proration_behavior", "create_prorations") ==
	    -1 || stripe_form_add(&form, "metadata[plan]", p->plan) == -1) {
		acct_fail(f, 500, "internal_error", "Too large.", NULL);
		goto done;
	}
	path = arena_printf(&r->arena, "/v1/subscriptions/%s",
	    b.subscription_id);
	if (stripe_call(r, "POST", path, &form, billing_idem_key(r, "change"),
	    out, &e) == -1) {
		billing_upstream(r, f, &e);
		goto done;
	}
	rc = db_audit_add(r, "billing.change_requested", p->plan, arena_printf(
	    &r->arena, "{\"plan\": \"%s\", \"seats\": %d, \"from\": \"%s\"}",
	    p->plan, seats, b.plan));
	if (rc != DB_OK) {
		acct_fail_db(f, rc);
		goto done;
	}
	ret = 0;
done:
	buf_free(&form);
	return ret;
}

/*
 * DELETE /billing/subscription: cancel at the period's end (the plan
 * stays until then), or now.
 */
int
billing_cancel(struct req *r, struct fail *f, int at_period_end,
    struct json_object **out)
{
	struct billing_state	 b;
	struct stripe_err	 e;
	struct buf		 form;
	const char		*path;
	enum db_rc		 rc;
	int			 ret = -1, c;

	if (!stripe_configured())
		return billing_unconfigured(f);
	if ((rc = db_billing_state(r, 0, &b)) != DB_OK)
		return acct_fail_db(f, rc);
	if (!billing_live(&b))
		return acct_fail(f, 409, "no_subscription", "There is no "
		    "subscription to cancel.", NULL);
	path = arena_printf(&r->arena, "/v1/subscriptions/%s",
	    b.subscription_id);
	buf_init(&form, 256);
	if (at_period_end) {
		stripe_form_add(&form, "cancel_at_period_end", "true");
		c = stripe_call(r, "POST", path, &form, billing_idem_key(r,
		    "cancel"), out, &e);
	} else
		c = stripe_call(r, "DELETE", path, NULL, billing_idem_key(r,
		    "cancel"), out, &e);
	if (c == -1) {
		billing_upstream(r, f, &e);
		goto done;
	}
	rc = db_audit_add(r, "billing.cancel_requested", b.subscription_id,
	    at_period_end ? "{\"at_period_end\": true}" :
	    "{\"at_period_end\": false}");
	if (rc != DB_OK) {
		acct_fail_db(f, rc);
		goto done;
	}
	ret = 0;
done:
	buf_free(&form);
	return ret;
}

/* GET /billing/invoices/upcoming: Stripe's preview of the next invoice. */
int
billing_upcoming(struct req *r, struct fail *f, struct json_object **out)
{
	struct billing_state	 b;
	struct stripe_err	 e;
	enum db_rc		 rc;

	if (!stripe_configured())
		return billing_unconfigured(f);
	if ((rc = db_billing_state(r, 0, &b)) != DB_OK)
		return acct_fail_db(f, rc);
	if (!billing_live(&b))
		return acct_fail(f, 404, "not_found", "There is no upcoming "
		    "invoice without a subscription.", NULL);
	if (stripe_call(r, "GET", arena_printf(&r->arena,
	    "/v1/invoices/upcoming?customer=%s&subscription=%s",
	    b.customer_id, b.subscription_id), NULL, NULL, out, &e) == -1)
		return billing_upstream(r, f, &e);
	return 0;
}

/* --- webhook events --------------------------------------------------- */

/*
 * The plan and seat count of a subscription: the item whose price has
 * the lookup key tollgate_<plan>_base, its quantity; else the plan its
 * metadata names.
 */
static const char *
billing_sub_plan(struct req *r, struct json_object *sub, int *seats)
{
	struct json_object	*items, *it;
	const char		*lk;
	size_t			 i, n, len;

	*seats = 0;
	items = http_json_at(sub, "items.data");
	n = items != NULL && json_object_is_type(items, json_type_array) ?
	    json_object_array_length(items) : 0;
	for (i = 0; i < n; i++) {
		it = json_object_array_get_idx(items, i);
		lk = http_json_text(it, "price.lookup_key");
		if (lk == NULL || strncmp(lk, "tollgate_", 9) != 0)
			continue;
		len = strlen(lk);
		if (len <= 14 || strcmp(lk + len - 5, "_base") != 0)
			continue;
		*seats = (int)http_json_int(it, "quantity", 1);
		return arena_strndup(&r->arena, lk + 9, len - 14);
	}
	return http_json_text(sub, "metadata.plan");
}

/* Unix seconds of a field as text, or NULL (null, absent). */
static const char *
billing_ts(struct req *r, struct json_object *o, const char *path)
{
	long long	 v = http_json_int(o, path, -1);

	return v < 0 ? NULL : arena_printf(&r->arena, "%lld", v);
}

/* Stripe's ids: letters, digits and underscores, safe in any text. */
int
billing_id_ok(const char *s)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	return n > 0 && n <= 255 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

/* A subscription status Stripe documents (and the tenants table takes). */
static int
billing_status_ok(const char *s)
{
	static const char *const	 ok[] = { "active", "trialing",
	    "past_due", "canceled", "unpaid", "incomplete",
	    "incomplete_expired", "paused", NULL };

	return valid_choice(s, ok);
}

/* A subscription object as the state to apply. */
static int
billing_sub_state(struct req *r, struct json_object *sub, long long created,
    int deleted, struct sub_state *s, const char **outcome)
{
	struct json_object	*item;

	memset(s, 0, sizeof(*s));
	s->subscription_id = http_json_text(sub, "id");
	s->customer_id = stripe_id(sub, "customer");
	s->plan = billing_sub_plan(r, sub, &s->seats);
	s->status = http_json_text(sub, "status");
	if (!billing_id_ok(s->subscription_id) || s->status == NULL ||
	    !billing_status_ok(s->status)) {
		*outcome = "malformed";
		return -1;
	}
	s->trial_end = billing_ts(r, sub, "trial_end");
	/* Since API 2025-03-31 the period is on the items. */
	item = json_object_array_get_idx(http_json_at(sub, "items.data"), 0);
	if ((s->period_start = billing_ts(r, item,
	    "current_period_start")) == NULL)
		s->period_start = billing_ts(r, sub, "current_period_start");
	if ((s->period_end = billing_ts(r, item, "current_period_end")) == NULL)
		s->period_end = billing_ts(r, sub, "current_period_end");
	s->cancel_at_period_end = http_json_bool(sub, "cancel_at_period_end");
	s->created = created;
	s->deleted = deleted;
	return 0;
}

/*
 * A customer.subscription.* event.  One of the same second as the last
 * applied is resolved by asking Stripe for the subscription as it is
 * now; if Stripe cannot be asked, the event is answered with an error
 * so that Stripe delivers it again later.
 */
static enum db_rc
billing_on_subscription(struct req *r, struct json_object *sub,
    long long created, int deleted, const char **outcome)
{
	struct sub_state	 s;
	struct json_object	*now;
	struct stripe_err	 e;
	enum db_rc		 rc;

	if (billing_sub_state(r, sub, created, deleted, &s, outcome) == -1)
		return DB_OK;
	if ((rc = db_billing_subscription_apply(r, &s, outcome)) != DB_OK)
		return rc;
	if (strcmp(*outcome, "tie") == 0) {
		if (stripe_call(r, "GET", arena_printf(&r->arena,
		    "/v1/subscriptions/%s", s.subscription_id), NULL, NULL,
		    &now, &e) == -1) {
			log_warnx("billing: cannot fetch subscription %s to "
			    "order its events", s.subscription_id);
			return DB_UNAVAILABLE;
		}
		if (billing_sub_state(r, now, created, strcmp(http_json_text(now,
		    "status"), "canceled") == 0, &s, outcome) == -1)
			return DB_OK;
		s.current = 1;
		if ((rc = db_billing_subscription_apply(r, &s, outcome)) !=
		    DB_OK)
			return rc;
	}
	/* The owners hear of an ended subscription (SPEC 10). */
	if (strcmp(*outcome, "applied") == 0 && strcmp(s.status, "canceled") ==
	    0 && (rc = db_notify_queue(r, "subscription_canceled",
	    s.subscription_id, "{}")) != DB_OK)
		return rc;
	return DB_OK;
}

static enum db_rc
billing_on_invoice(struct req *r, const char *type, struct json_object *inv,
    long long created, const char **outcome)
{
	static const char *const	 invoice_statuses[] = { "draft",
	    "open", "paid", "uncollectible", "void", NULL };
	struct invoice	 in;
	enum db_rc	 rc;
	const char	*action;

	memset(&in, 0, sizeof(in));
	in.invoice_id = http_json_text(inv, "id");
	in.number = http_json_text(inv, "number");
	in.status = http_json_text(inv, "status");
	in.currency = http_json_text(inv, "currency");
	in.amount_due = http_json_int(inv, "amount_due", 0);
	in.amount_paid = http_json_int(inv, "amount_paid", 0);
	in.total = http_json_int(inv, "total", 0);
	in.period_start = billing_ts(r, inv, "period_start");
	in.period_end = billing_ts(r, inv, "period_end");
	in.hosted_url = http_json_text(inv, "hosted_invoice_url");
	in.pdf_url = http_json_text(inv, "invoice_pdf");
	in.created = billing_ts(r, inv, "created");
	if (!billing_id_ok(in.invoice_id) || in.status == NULL ||
	    !valid_choice(in.status, invoice_statuses)) {
		*outcome = "malformed";
		return DB_OK;
	}
	if ((rc = db_billing_invoice_put(r, &in, created)) != DB_OK)
		return rc;
	*outcome = "applied";
	if (strcmp(type, "invoice.payment_failed") == 0) {
		if ((rc = db_billing_past_due(r, 1)) != DB_OK ||
		    (rc = db_notify_queue(r, "payment_failed", in.invoice_id,
		    arena_printf(&r->arena, "{\"invoice\": \"%s\", "
		    "\"amount_due\": %lld}", in.invoice_id, in.amount_due))) !=
		    DB_OK)
			return rc;
		action = "billing.payment_failed";
	} else if (strcmp(type, "invoice.paid") == 0) {
		if ((rc = db_billing_past_due(r, 0)) != DB_OK)
			return rc;
		action = "billing.invoice_paid";
	} else
		action = strcmp(type, "invoice.voided") == 0 ?
		    "billing.invoice_voided" : "billing.invoice_finalized";
	return db_audit_add(r, action, in.invoice_id, arena_printf(&r->arena,
	    "{\"status\": \"%s\", \"amount_due\": %lld, \"amount_paid\": %lld}",
	    in.status, in.amount_due, in.amount_paid));
}

/*
 * Apply one verified event: opens the transaction (bound to the
 * event's tenant) in which the caller then records the event.
 * *outcome says what happened (stored with the event): applied, stale,
 * ignored (a type billing does not act on), unknown_customer, ...
 */
enum db_rc
billing_event(struct req *r, struct json_object *ev, const char **tenant_id,
    const char **outcome)
{
	struct json_object	*obj;
	const char		*type, *customer, *ref;
	long long		 created;
	enum db_rc		 rc;

	*tenant_id = NULL;
	*outcome = "ignored";
	type = http_json_text(ev, "type");
	obj = http_json_at(ev, "data.object");
	created = http_json_int(ev, "created", 0);
	if (strcmp(type, "checkout.session.completed") != 0 &&
	    strncmp(type, "customer.subscription.", 22) != 0 &&
	    strcmp(type, "invoice.paid") != 0 &&
	    strcmp(type, "invoice.finalized") != 0 &&
	    strcmp(type, "invoice.payment_failed") != 0 &&
	    strcmp(type, "invoice.voided") != 0)
		return db_begin(r, NULL);
	customer = stripe_id(obj, "customer");
	ref = http_json_text(obj, "client_reference_id");
	if (ref == NULL)
		ref = http_json_text(obj, "metadata.tenant_id");
	rc = db_billing_bind_customer(r, customer, ref, tenant_id);
	if (rc == DB_NOTFOUND) {
		*outcome = "unknown_customer";
		log_warnx("billing: event for an unknown customer");
		return DB_OK;
	}
	if (rc != DB_OK)
		return rc;
	snprintf(r->auth.actor, sizeof(r->auth.actor), "%s", "stripe");
	if (strcmp(type, "checkout.session.completed") == 0) {
		if ((rc = db_billing_link(r, customer, stripe_id(obj,
		    "subscription"))) != DB_OK)
			return rc;
		*outcome = "applied";
		return db_audit_add(r, "billing.checkout_completed",
		    http_json_text(obj, "id"), NULL);
	}
	if (strcmp(type, "customer.subscription.created") == 0 ||
	    strcmp(type, "customer.subscription.updated") == 0 ||
	    strcmp(type, "customer.subscription.resumed") == 0 ||
	    strcmp(type, "customer.subscription.paused") == 0)
		return billing_on_subscription(r, obj, created, 0, outcome);
	if (strcmp(type, "customer.subscription.deleted") == 0)
		return billing_on_subscription(r, obj, created, 1, outcome);
	if (strcmp(type, "customer.subscription.trial_will_end") == 0) {
		*outcome = "applied";
		if ((rc = db_notify_queue(r, "trial_will_end", http_json_text(obj,
		    "id"), arena_printf(&r->arena, "{\"trial_end\": %lld}",
		    http_json_int(obj, "trial_end", 0)))) != DB_OK)
			return rc;
		return db_audit_add(r, "billing.trial_will_end",
		    http_json_text(obj, "id"), NULL);
	}
	if (strncmp(type, "invoice.", 8) == 0)
		return billing_on_invoice(r, type, obj, created, outcome);
	return DB_OK;
}

/* --- the catalogue at Stripe (tollgate admin stripe sync) -------------- */

/*
 * num/den as a decimal string with up to 12 places, trailing zeros cut:
 * Stripe's unit_amount_decimal (cents) of an overage price, from micro-
 * USD per price_unit units (1 cent = 10,000 micro-USD).
 */
void
billing_decimal(long long num, long long den, char *out, size_t outsz)
{
	char		 frac[16];
	long long	 rem;
	int		 i, n = 0;

	snprintf(out, outsz, "%lld", num / den);
	rem = num % den;
	for (i = 0; i < 12 && rem != 0; i++) {
		rem *= 10;
		frac[n++] = (char)('0' + rem / den);
		rem %= den;
	}
	frac[n] = '\0';
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	if (n > 0)
		snprintf(out + strlen(out), outsz - strlen(out), ".%s", frac);
}

struct billing_sync {
	struct req	*r;
	FILE		*log;
	int		 created;
	int		 kept;
};

static int
billing_sync_store(struct billing_sync *s, const char *kind, const char *key,
    const char *id, const char *plan, const char *metric, int created)
{
	enum db_rc	 rc;

	if ((rc = db_billing_catalogue_put(s->r, kind, key, id, plan,
	    metric)) != DB_OK) {
		fprintf(s->log, "%s %s: database: %s\n", kind, key,
		    db_strerror(rc));
		return -1;
	}
	fprintf(s->log, "%-7s %-36s %s (%s)\n", kind, key, id, created ?
	    "created" : "kept");
	if (created)
		s->created++;
	else
		s->kept++;
	return 0;
}

/* POST a catalogue object under a key derived from what it is. */
static const char *
billing_sync_create(struct billing_sync *s, const char *path,
    const struct buf *form, const char *idem)
{
	struct json_object	*o;
	struct stripe_err	 e;

	if (form->toobig || stripe_call(s->r, "POST", path, form, idem, &o,
	    &e) == -1) {
		fprintf(s->log, "%s: %s%s%s\n", path, e.status == 0 ?
		    "Stripe could not be reached" : "refused: ", e.message,
		    e.param[0] != '\0' ? arena_printf(&s->r->arena,
		    " (%s)", e.param) : "");
		return NULL;
	}
	return http_json_text(o, "id");
}

/* The meters, by event name: one per metered metric, summed. */
static int
billing_sync_meter(struct billing_sync *s, struct json_object *list,
    const char *metric)
{
	struct json_object	*it;
	struct buf		 form;
	const char		*name, *id = NULL;
	size_t			 i, n;
	int			 rc = -1;

	name = arena_printf(&s->r->arena, "tollgate_%s", metric);
	n = list != NULL && json_object_is_type(list, json_type_array) ?
	    json_object_array_length(list) : 0;
	for (i = 0; i < n && id == NULL; i++) {
		it = json_object_array_get_idx(list, i);
		if (http_json_text(it, "event_name") != NULL &&
		    strcmp(http_json_text(it, "event_name"), name) == 0 &&
		    (http_json_text(it, "status") == NULL ||
		    strcmp(http_json_text(it, "status"), "active") == 0))
			id = http_json_text(it, "id");
	}
	if (id != NULL)
		return billing_sync_store(s, "meter", name, id, NULL, metric,
		    0);
	buf_init(&form, 4096);
	stripe_form_add(&form, "display_name", arena_printf(&s->r->arena,
	    "Tollgate %s", metric));
	stripe_form_add(&form, "event_name", name);
	stripe_form_add(&form, "default_aggregation[formula]", "sum");
	stripe_form_add(&form, "customer_mapping[event_payload_key]",
	    "stripe_customer_id");
	stripe_form_add(&form, "customer_mapping[type]", "by_id");
	stripe_form_add(&form, "value_settings[event_payload_key]", "value");
	id = billing_sync_create(s, "/v1/billing/meters", &form,
	    arena_printf(&s->r->arena, "tollgate-sync-meter-%s", metric));
	if (id != NULL)
		rc = billing_sync_store(s, "meter", name, id, NULL, metric, 1);
	buf_free(&form);
	return rc;
}

static int
billing_sync_product(struct billing_sync *s, const struct plan *p,
    const char **id)
{
	struct json_object	*o;
	struct stripe_err	 e;
	struct buf		 form;
	int			 rc = -1;

	if (db_billing_catalogue_get(s->r, "product", p->plan, id) == DB_OK &&
	    stripe_call(s->r, "GET", arena_printf(&s->r->arena,
	    "/v1/products/%s", *id), NULL, NULL, &o, &e) == 0)
		return billing_sync_store(s, "product", p->plan, *id, p->plan,
		    NULL, 0);
	buf_init(&form, 4096);
	stripe_form_add(&form, "name", arena_printf(&s->r->arena,
	    "Tollgate %s", p->name));
	stripe_form_add(&form, "metadata[tollgate_plan]", p->plan);
	*id = billing_sync_create(s, "/v1/products", &form, arena_printf(
	    &s->r->arena, "tollgate-sync-product-%s", p->plan));
	if (*id != NULL)
		rc = billing_sync_store(s, "product", p->plan, *id, p->plan,
		    NULL, 1);
	buf_free(&form);
	return rc;
}

/*
 * A price by lookup key, kept when Stripe's active price with that key
 * was made from the same terms (metadata tollgate_terms), else created
 * anew, taking the lookup key over (transfer_lookup_key).
 */
static int
billing_sync_price(struct billing_sync *s, const char *key, const char *terms,
    struct buf *form, const char *plan, const char *metric)
{
	struct json_object	*o, *data, *it;
	struct stripe_err	 e;
	const char		*id = NULL, *t;
	size_t			 i, n;

	if (stripe_call(s->r, "GET", arena_printf(&s->r->arena,
	    "/v1/prices?active=true&lookup_keys[0]=%s", key), NULL, NULL, &o,
	    &e) == -1) {
		fprintf(s->log, "price %s: %s\n", key, e.status == 0 ?
		    "Stripe could not be reached" : e.message);
		return -1;
	}
	data = http_json_at(o, "data");
	n = data != NULL && json_object_is_type(data, json_type_array) ?
	    json_object_array_length(data) : 0;
	for (i = 0; i < n && id == NULL; i++) {
		it = json_object_array_get_idx(data, i);
		t = http_json_text(it, "metadata.tollgate_terms");
		if (t != NULL && strcmp(t, terms) == 0)
			id = http_json_text(it, "id");
	}
	if (id != NULL)
		return billing_sync_store(s, "price", key, id, plan, metric, 0);
	stripe_form_add(form, "lookup_key", key);
	stripe_form_add(form, "transfer_lookup_key", "true");
	stripe_form_add(form, "currency", "usd");
	stripe_form_add(form, "recurring[interval]", "month");
	stripe_form_add(form, "metadata[tollgate_terms]", terms);
	stripe_form_add(form, "metadata[tollgate_plan]", plan);
	id = billing_sync_create(s, "/v1/prices", form, arena_printf(
	    &s->r->arena, "tollgate-sync-price-%s-%s", key, terms));
	if (id == NULL)
		return -1;
	return billing_sync_store(s, "price", key, id, plan, metric, 1);
}

static int
billing_sync_plan(struct billing_sync *s, const struct plan *p)
{
	const struct plan_quota	*q;
	struct buf		 form;
	const char		*product, *meter, *terms;
	char			 amount[24], dec[48], upto[24];
	size_t			 i;
	int			 rc = -1;

	if (billing_sync_product(s, p, &product) == -1)
		return -1;
	buf_init(&form, 8192);
	snprintf(amount, sizeof(amount), "%lld", p->price_cents);
	terms = arena_printf(&s->r->arena, "base-%lld-%s", p->price_cents,
	    p->per_seat ? "seat" : "flat");
	stripe_form_add(&form, "product", product);
	stripe_form_add(&form, "unit_amount", amount);
	stripe_form_add(&form, "recurring[usage_type]", "licensed");
	if (billing_sync_price(s, arena_printf(&s->r->arena, "tollgate_%s_base",
	    p->plan), terms, &form, p->plan, NULL) == -1)
		goto done;
	for (i = 0; i < p->nquotas; i++) {
		q = &p->quotas[i];
		if (strcmp(q->kind, "period") != 0 ||
		    strcmp(q->cap, "metered") != 0 || q->unit_price_micros < 0)
			continue;
		if (db_billing_catalogue_get(s->r, "meter", arena_printf(
		    &s->r->arena, "tollgate_%s", q->metric), &meter) != DB_OK) {
			fprintf(s->log, "price tollgate_%s_%s: no meter\n",
			    p->plan, q->metric);
			goto done;
		}
		billing_decimal(q->unit_price_micros, q->price_unit * 10000,
		    dec, sizeof(dec));
		snprintf(upto, sizeof(upto), "%lld", q->included < 0 ? 0 :
		    q->included);
		terms = arena_printf(&s->r->arena, "metered-%s-%s-%s", upto,
		    dec, meter);
		buf_reset(&form);
		stripe_form_add(&form, "product", product);
		stripe_form_add(&form, "billing_scheme", "tiered");
		stripe_form_add(&form, "tiers_mode", "graduated");
		stripe_form_add(&form, "tiers[0][up_to]", upto);
		stripe_form_add(&form, "tiers[0][unit_amount]", "0");
		stripe_form_add(&form, "tiers[1][up_to]", "inf");
		stripe_form_add(&form, "tiers[1][unit_amount_decimal]", dec);
		stripe_form_add(&form, "recurring[usage_type]", "metered");
		stripe_form_add(&form, "recurring[meter]", meter);
		if (billing_sync_price(s, arena_printf(&s->r->arena,
		    "tollgate_%s_%s", p->plan, q->metric), terms, &form,
		    p->plan, q->metric) == -1)
			goto done;
	}
	rc = 0;
done:
	buf_free(&form);
	return rc;
}

/*
 * Create or find at Stripe what the catalogue needs: a meter per
 * metered metric, a product per paid plan, its base price and a
 * graduated metered price per metered quota (lookup keys
 * tollgate_<plan>_base and tollgate_<plan>_<metric>), and store their
 * ids.  Safe to run again: what exists with the same terms is kept.
 * Progress on log; 0 or -1.  The caller commits.
 */
int
billing_sync(struct req *r, FILE *log)
{
	struct billing_sync	 s;
	struct json_object	*meters;
	struct stripe_err	 e;
	struct plan		*p;
	const char		*seen[PLAN_QUOTAS_MAX], *metric;
	size_t			 i, j, k, n, nseen = 0;
	enum db_rc		 rc;

	memset(&s, 0, sizeof(s));
	s.r = r;
	s.log = log;
	if (!stripe_configured()) {
		fprintf(log, "STRIPE_SECRET_KEY is not set\n");
		return -1;
	}
	if ((rc = db_begin(r, NULL)) != DB_OK ||
	    (rc = db_plans_list(r, &p, &n)) != DB_OK) {
		fprintf(log, "database: %s\n", db_strerror(rc));
		return -1;
	}
	if (stripe_call(r, "GET", "/v1/billing/meters?limit=100", NULL, NULL,
	    &meters, &e) == -1) {
		fprintf(log, "meters: %s\n", e.status == 0 ?
		    "Stripe could not be reached" : e.message);
		return -1;
	}
	meters = http_json_at(meters, "data");
	/* Each metered metric once, whatever the plans that meter it. */
	for (i = 0; i < n; i++)
		for (j = 0; j < p[i].nquotas; j++) {
			metric = p[i].quotas[j].metric;
			if (strcmp(p[i].quotas[j].kind, "period") != 0 ||
			    strcmp(p[i].quotas[j].cap, "metered") != 0)
				continue;
			for (k = 0; k < nseen && strcmp(seen[k], metric) != 0;
			    k++)
				continue;
			if (k < nseen || nseen == PLAN_QUOTAS_MAX)
				continue;
			seen[nseen++] = metric;
			if (billing_sync_meter(&s, meters, metric) == -1)
				return -1;
		}
	for (i = 0; i < n; i++)
		if (p[i].price_cents > 0 && billing_sync_plan(&s, &p[i]) == -1)
			return -1;
	fprintf(log, "stripe sync: %d created, %d kept\n", s.created, s.kept);
	return 0;
}

/* --- seats follow members (team plan) ------------------------------------ */

/*
 * After a member joined or left (the change is committed and answered):
 * on a per-seat plan with a live subscription, the base item's quantity
 * becomes the member count.  The Idempotency-Key names the subscription,
 * the target count and the state it starts from, so a repeat of the
 * same change is one change at Stripe.  The event that follows sets the
 * seats here.  A failure is logged; the next change corrects it.
 */
void
billing_seats_after(struct req *r)
{
	struct billing_state	 b;
	struct json_object	*sub, *out;
	struct stripe_err	 e;
	struct plan		*p;
	const struct plan	*pl;
	struct buf		 form;
	struct fail		 f;
	const char		*item;
	char			 q[16];
	size_t			 np;

	if (!stripe_configured() || r->auth.tenant_id[0] == '\0')
		return;
	buf_init(&form, 1024);
	if (db_begin(r, r->auth.tenant_id) != DB_OK ||
	    db_billing_state(r, 0, &b) != DB_OK || !billing_live(&b) ||
	    db_plans_list(r, &p, &np) != DB_OK ||
	    (pl = billing_plan(p, np, b.plan)) == NULL || !pl->per_seat ||
	    b.members < 1 || b.members == b.seats)
		goto done;
	if (billing_fetch(r, &f, b.subscription_id, &sub) == -1)
		goto done;
	item = billing_base_item(r, sub, b.plan);
	if (item == NULL)
		goto done;
	snprintf(q, sizeof(q), "%lld", b.members);
	stripe_form_add(&form, "items[0][id]", item);
	stripe_form_add(&form, "items[0][quantity]", q);
	stripe_form_add(&form, "proration_behavior", "create_prorations");
	if (stripe_call(r, "POST", arena_printf(&r->arena,
	    "/v1/subscriptions/%s", b.subscription_id), &form, arena_printf(
	    &r->arena, "tollgate-seats-%s-%d-%lld", b.subscription_id, b.seats,
	    b.members), &out, &e) == -1)
		log_warnx("billing: seats of %s not set to %lld",
		    b.subscription_id, b.members);
	else
		log_info("billing: seats of %s set to %lld", b.subscription_id,
		    b.members);
done:
	buf_free(&form);
	if (r->in_tx)
		db_commit(r);
}

/* --- grace periods that ran out (tollgate work) -------------------------- */

/*
 * Past-due tenants whose grace period ran out: the free plan applies
 * (plan_effective() says so already); the agents beyond its limit stop,
 * the owner is told and it is audited, once per past-due spell.  Each
 * tenant in its own transaction, under its own tenant.
 */
enum db_rc
billing_end_grace(struct req *r, long long *n)
{
	const char	**ids;
	size_t		  i, nids;
	enum db_rc	  rc;

	*n = 0;
	if ((rc = db_billing_grace_over(r, 100, &ids, &nids)) != DB_OK)
		return rc;
	for (i = 0; i < nids; i++) {
		if ((rc = db_begin(r, ids[i])) != DB_OK)
			return rc;
		snprintf(r->auth.tenant_id, sizeof(r->auth.tenant_id), "%s",
		    ids[i]);
		rc = db_billing_grace_end(r);
		if (rc == DB_OK && ((rc = db_notify_queue(r, "grace_ended",
		    "", "{}")) != DB_OK || (rc = db_audit_add(r,
		    "billing.grace_ended", NULL, NULL)) != DB_OK))
			return rc;
		if (rc == DB_OK)
			(*n)++;
		if (rc != DB_OK && rc != DB_NOTFOUND)
			return rc;
		if ((rc = db_commit(r)) != DB_OK)
			return rc;
	}
	return DB_OK;
}
