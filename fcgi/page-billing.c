/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /pricing and /billing.  Both show the plan catalogue as cards
 * (prices, what each includes) from one function here and one template
 * (plan-cards.cs), with what the visitor may do about each plan: sign
 * up (a stranger), go to /billing (an owner on /pricing), or, on
 * /billing, an owner's form that posts to checkout.  /billing also
 * shows the tenant's subscription (plan, status, trial and renewal
 * dates, the grace of a failed payment), the Stripe billing portal,
 * cancellation and the invoices.
 *
 * What the page shows is what Stripe's events said (billing.c): a
 * checkout, a plan change or a cancellation is asked of Stripe here,
 * and shows once its event arrives.  Checkout and the portal answer
 * 303 to Stripe (req_redirect_external()); a plan change and a
 * cancellation are asked on a confirmation page first.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

#define PAGE_INVOICES	24	/* invoices listed; the rest at Stripe */

static const char *const	page_metric_labels[][2] = {
	{ "agents", "Agents" },
	{ "batch_active", "Active batches" },
	{ "llm_providers", "LLM provider keys" },
	{ "channels", "Channels" },
	{ "seats", "Seats" },
	{ "cloud_storage_gb", "Cloud storage" },
	{ "backup_gb", "Backup" },
	{ "llm_tokens", "LLM tokens a month" },
	{ "agent_executions", "Agent runs a month" },
	{ "api_calls", "API calls a month" },
	{ "messages", "Messages a month" },
};

static const char *const	page_feature_labels[][2] = {
	{ "batch_builder", "Batch builder" },
	{ "plugin_marketplace", "Plugin marketplace" },
	{ "sso", "Single sign-on" },
};

/* What a quota gives, in words: "3", "5 GB", "1,000,000, then ...". */
static const char *
page_quota_text(struct req *r, const struct plan_quota *q)
{
	char		 n[40], price[40], per[40];
	int		 gb = strstr(q->metric, "_gb") != NULL;

	if (strcmp(q->cap, "metered") == 0 && q->included < 0)
		return "Billed per seat";
	if (q->included < 0)
		return "Unlimited";
	if (gb && q->included == 0)
		return "None";
	fmt_count(n, sizeof(n), q->included);
	if (strcmp(q->cap, "soft") == 0 && q->grace_pct > 0)
		return arena_printf(&r->arena, "%s, then up to %d%% more", n,
		    q->grace_pct);
	if (strcmp(q->cap, "metered") == 0 && q->unit_price_micros >= 0) {
		fmt_usd_micros(price, sizeof(price), q->unit_price_micros);
		fmt_count(per, sizeof(per), q->price_unit);
		if (q->price_unit == 1)
			return arena_printf(&r->arena, "%s, then %s each", n,
			    price);
		return arena_printf(&r->arena, "%s, then %s per %s", n, price,
		    per);
	}
	return gb ? arena_printf(&r->arena, "%s GB", n) :
	    arena_strdup(&r->arena, n);
}

/* "$15.00 a month", "$49.00 per seat a month". */
static const char *
page_price_text(struct req *r, const struct plan *p)
{
	char	 price[40];

	fmt_money(price, sizeof(price), p->price_cents, "usd");
	return arena_printf(&r->arena, "%s %s", price, p->per_seat ?
	    "per seat a month" : "a month");
}

/* One card's description: Plans.<i>.* (the catalogue's part). */
static void
page_plan_card(struct req *r, size_t i, const struct plan *p)
{
	char	 price[40], key[64];
	size_t	 k, m, row = 0;

	tmpl_set_row(r, "Plans", i, "id", p->plan);
	tmpl_set_row(r, "Plans", i, "name", p->name);
	fmt_money(price, sizeof(price), p->price_cents, "usd");
	tmpl_set_row(r, "Plans", i, "price", price);
	tmpl_set_row(r, "Plans", i, "per", p->per_seat ? "per seat a month" :
	    "a month");
	if (p->trial_days > 0)
		tmpl_set_row(r, "Plans", i, "trial", arena_printf(&r->arena,
		    "%d-day free trial", p->trial_days));
	/* In the order of SPEC 4's table, whatever the database's. */
	for (m = 0; m < sizeof(page_metric_labels) /
	    sizeof(page_metric_labels[0]); m++)
		for (k = 0; k < p->nquotas; k++) {
			if (strcmp(p->quotas[k].metric,
			    page_metric_labels[m][0]) != 0)
				continue;
			snprintf(key, sizeof(key), "Quotas.%zu.label", row);
			tmpl_set_row(r, "Plans", i, key,
			    page_metric_labels[m][1]);
			snprintf(key, sizeof(key), "Quotas.%zu.value", row++);
			tmpl_set_row(r, "Plans", i, key, page_quota_text(r,
			    &p->quotas[k]));
		}
	for (k = 0; k < p->nfeatures; k++) {
		snprintf(key, sizeof(key), "has.%s", p->features[k]);
		tmpl_set_row(r, "Plans", i, key, "1");
	}
}

static const struct plan *
page_plan_find(const struct plan *p, size_t n, const char *id)
{
	size_t	 i;

	for (i = 0; id != NULL && i < n; i++)
		if (strcmp(p[i].plan, id) == 0)
			return &p[i];
	return NULL;
}

/* The plan the tenant is on, as the page says it: subscribed or not. */
static const char *
page_billing_plan(const struct billing_state *b)
{
	return billing_live(b) ? b->plan : b->effective;
}

/*
 * What choosing a plan does for this tenant, in the words of its
 * button: a trial if the plan has one and the tenant never had one, an
 * upgrade from the free plan, or a switch of a subscription.
 */
static const char *
page_plan_action(struct req *r, const struct plan *p,
    const struct billing_state *b)
{
	if (billing_live(b))
		return arena_printf(&r->arena, "Switch to %s", p->name);
	if (p->trial_days > 0 && !b->had_trial)
		return arena_printf(&r->arena, "Start %d-day trial",
		    p->trial_days);
	return arena_printf(&r->arena, "Upgrade to %s", p->name);
}

/*
 * What a card offers, Plans.<i>.*: "current" for the tenant's plan;
 * for a stranger a link to sign up; for an owner (billing configured)
 * a link to /billing (on /pricing) or the form that posts to checkout
 * (on /billing), with seats for a per-seat plan and a coupon when it
 * is a checkout.  b is NULL for a stranger.
 */
static void
page_plan_offer(struct req *r, size_t i, const struct plan *p,
    const struct billing_state *b, int form)
{
	long long	 min;

	if (b == NULL) {
		tmpl_set_row(r, "Plans", i, "href", "/register");
		tmpl_set_row(r, "Plans", i, "action", p->price_cents == 0 ?
		    "Start free" : p->trial_days > 0 ? arena_printf(&r->arena,
		    "Start %d-day trial", p->trial_days) :
		    arena_printf(&r->arena, "Choose %s", p->name));
		if (p->price_cents == 0)
			tmpl_set_row(r, "Plans", i, "primary", "1");
		return;
	}
	if (strcmp(page_billing_plan(b), p->plan) == 0) {
		tmpl_set_row(r, "Plans", i, "current", "1");
		return;
	}
	/* The free plan is reached by cancelling, not by a checkout. */
	if (p->price_cents == 0 || r->auth.role != ROLE_OWNER ||
	    !stripe_configured())
		return;
	tmpl_set_row(r, "Plans", i, "action", page_plan_action(r, p, b));
	if (!form) {
		tmpl_set_row(r, "Plans", i, "href", arena_printf(&r->arena,
		    "/billing#plan-%s", p->plan));
		return;
	}
	tmpl_set_row(r, "Plans", i, "form", "1");
	if (!billing_live(b))
		tmpl_set_row(r, "Plans", i, "coupon", "1");
	if (p->per_seat) {
		min = b->members > 0 ? b->members : 1;
		tmpl_set_row(r, "Plans", i, "per_seat", "1");
		tmpl_set_row(r, "Plans", i, "seats", arena_printf(&r->arena,
		    "%lld", b->seats > min ? (long long)b->seats : min));
		tmpl_set_row(r, "Plans", i, "seats_min", arena_printf(
		    &r->arena, "%lld", min));
	}
}

/* The feature matrix's rows (the cards carry Plans.<i>.has.<id>). */
static void
page_features(struct req *r)
{
	size_t	 i, n;

	n = sizeof(page_feature_labels) / sizeof(page_feature_labels[0]);
	for (i = 0; i < n; i++) {
		tmpl_set_row(r, "Features", i, "id", page_feature_labels[i][0]);
		tmpl_set_row(r, "Features", i, "label",
		    page_feature_labels[i][1]);
	}
}

/*
 * /pricing: every plan, to anyone.  A signed-in owner's cards lead to
 * /billing (where the forms are: the web server lets only that page's
 * forms go on to Stripe); a stranger's to sign-up.
 */
void
page_pricing(struct req *r)
{
	struct billing_state	 b, *bp = NULL;
	struct plan		*p;
	size_t			 n, i;
	enum db_rc		 rc;

	if ((rc = db_plans_list(r, &p, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	page_layout(r, "Pricing", "");
	if (r->auth.kind == PRINCIPAL_SESSION && r->tenant != NULL &&
	    r->in_tx) {
		if ((rc = db_billing_state(r, 0, &b)) != DB_OK) {
			req_error_from_db(r, rc);
			return;
		}
		bp = &b;
		if (!stripe_configured())
			tmpl_set(r, "Pricing.unconfigured", "1");
		else if (r->auth.role == ROLE_OWNER)
			tmpl_set(r, "Pricing.can_buy", "1");
	}
	for (i = 0; i < n; i++) {
		page_plan_card(r, i, &p[i]);
		page_plan_offer(r, i, &p[i], bp, 0);
	}
	page_features(r);
	tmpl_render(r, 200, "pricing.cs");
}

/* Billing.<name> and Billing.<name>_iso: a day of an RFC 3339 time. */
static long long
page_billing_day(struct req *r, const char *name, const char *ts)
{
	char		 day[40];
	long long	 t = fmt_parse_ts(ts);

	if (t < 0)
		return -1;
	fmt_day(day, sizeof(day), t);
	tmpl_set(r, arena_printf(&r->arena, "Billing.%s", name), day);
	tmpl_set(r, arena_printf(&r->arena, "Billing.%s_iso", name), ts);
	return t;
}

/*
 * A failed payment: until the grace ends the plan stays (the date the
 * page gives), after it the free plan's limits apply until the invoice
 * is paid.
 */
static void
page_billing_past_due(struct req *r, const struct billing_state *b,
    const char *plan_name)
{
	char		 day[40];
	long long	 since = fmt_parse_ts(b->past_due_since), end;

	if (since < 0) {
		tmpl_set(r, "Billing.warning", "A payment failed: update the "
		    "payment method in Manage billing.");
		return;
	}
	end = since + (long long)conf.past_due_grace_days * 86400;
	fmt_day(day, sizeof(day), end);
	if (strcmp(b->effective, b->plan) == 0)
		tmpl_set(r, "Billing.warning", arena_printf(&r->arena, "A "
		    "payment failed. The %s plan stays until %s: update the "
		    "payment method in Manage billing before then, or the "
		    "organization moves to the Free plan's limits.", plan_name,
		    day));
	else
		tmpl_set(r, "Billing.warning", arena_printf(&r->arena, "A "
		    "payment failed and the grace period ended on %s: the "
		    "Free plan's limits apply until the open invoice is paid "
		    "in Manage billing.", day));
}

/* A subscription that no longer gives its plan, in a sentence. */
static const char *
page_billing_lapsed(const char *status)
{
	if (strcmp(status, "canceled") == 0)
		return "The subscription was canceled: the organization is on "
		    "the Free plan.";
	if (strcmp(status, "incomplete") == 0)
		return "The first payment has not gone through yet: the Free "
		    "plan applies until it does.";
	if (strcmp(status, "paused") == 0)
		return "The subscription is paused: the Free plan's limits "
		    "apply until it resumes.";
	return "The subscription is not paid: the Free plan's limits apply.";
}

/* The subscription: Billing.* of the summary card. */
static void
page_billing_summary(struct req *r, const struct billing_state *b,
    const struct plan *p, size_t n)
{
	const struct plan	*cur;
	const char		*id = page_billing_plan(b), *name;
	char			 label[64], a[40], c[40];
	int			 live = billing_live(b), owner;

	cur = page_plan_find(p, n, id);
	name = cur != NULL ? cur->name : id;
	owner = r->auth.role == ROLE_OWNER;
	tmpl_set(r, "Billing.plan", id);
	tmpl_set(r, "Billing.plan_name", name);
	tmpl_set(r, "Billing.status", b->status);
	fmt_status(label, sizeof(label), b->status);
	tmpl_set(r, "Billing.status_label", label);
	if (cur != NULL && cur->price_cents > 0)
		tmpl_set(r, "Billing.price", page_price_text(r, cur));
	if (live && strcmp(b->status, "trialing") == 0)
		page_billing_day(r, "trial_end", b->trial_end);
	if (live && b->cancel_at_period_end)
		page_billing_day(r, "cancels", b->period_end);
	else if (live && page_billing_day(r, "renews", b->period_end) >= 0)
		tmpl_set(r, "Billing.renews_label", strcmp(b->status,
		    "trialing") == 0 ? "First payment" : "Renews on");
	if (live && cur != NULL && cur->per_seat) {
		fmt_plural(a, sizeof(a), b->seats, "seat", "seats");
		fmt_plural(c, sizeof(c), b->members, "member", "members");
		tmpl_set(r, "Billing.seats_text", arena_printf(&r->arena,
		    "%s for %s", a, c));
	}
	if (live && strcmp(b->status, "past_due") == 0)
		page_billing_past_due(r, b, name);
	else if (!live && b->subscription_id != NULL)
		tmpl_set(r, "Billing.note", page_billing_lapsed(b->status));
	else if (!live)
		tmpl_set(r, "Billing.note", "No subscription: the Free plan "
		    "costs nothing.");
	if (owner)
		tmpl_set(r, "Billing.owner", "1");
	if (!owner || !stripe_configured())
		return;
	if (b->customer_id != NULL)
		tmpl_set(r, "Billing.can_manage", "1");
	if (live && !b->cancel_at_period_end)
		tmpl_set(r, "Billing.can_cancel", "1");
}

/* Only http(s) links reach an href (Stripe gives https). */
static const char *
page_billing_link(const char *url)
{
	if (url != NULL && (strncmp(url, "https://", 8) == 0 ||
	    strncmp(url, "http://", 7) == 0))
		return url;
	return NULL;
}

/* The latest invoices (owners and admins, as in the API). */
static int
page_billing_invoices(struct req *r)
{
	struct invoice	*inv;
	char		 text[64];
	size_t		 n, i;
	int		 more;
	enum db_rc	 rc;

	if (r->auth.role < ROLE_ADMIN) {
		tmpl_set(r, "Billing.invoices_hidden", "1");
		return 0;
	}
	if ((rc = db_billing_invoices(r, PAGE_INVOICES, NULL, &inv, &n,
	    &more)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	for (i = 0; i < n; i++) {
		tmpl_set_row(r, "Invoices", i, "number", inv[i].number);
		fmt_day(text, sizeof(text), fmt_parse_ts(inv[i].created));
		tmpl_set_row(r, "Invoices", i, "date", text);
		tmpl_set_row(r, "Invoices", i, "date_iso", inv[i].created);
		tmpl_set_row(r, "Invoices", i, "status", inv[i].status);
		page_row_label(r, "Invoices", i, "status", inv[i].status);
		fmt_money(text, sizeof(text), inv[i].total, inv[i].currency);
		tmpl_set_row(r, "Invoices", i, "amount", text);
		tmpl_set_row(r, "Invoices", i, "hosted_url",
		    page_billing_link(inv[i].hosted_url));
		tmpl_set_row(r, "Invoices", i, "pdf_url",
		    page_billing_link(inv[i].pdf_url));
	}
	if (more)
		tmpl_set(r, "Billing.invoices_more", "1");
	return 0;
}

/*
 * The whole page, with status (a refused form shows it again, its
 * errors set already).  failed names the plan whose card's form was
 * refused: its errors and values show in that card.
 */
static void
page_billing_render(struct req *r, int status, const char *failed)
{
	struct billing_state	 b;
	struct plan		*p;
	const char		*q;
	size_t			 n, i, row = 0;
	enum db_rc		 rc;

	page_layout(r, "Billing", "billing");
	if ((rc = db_billing_state(r, 0, &b)) != DB_OK ||
	    (rc = db_plans_list(r, &p, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	if (!stripe_configured())
		tmpl_set(r, "Billing.unconfigured", "1");
	if (stripe_test_mode())
		tmpl_set(r, "Billing.test_mode", "1");
	/* Where Stripe Checkout sends the user back (billing.c's URLs). */
	if ((q = http_kv_get(&r->args, "checkout")) != NULL &&
	    strcmp(q, "success") == 0)
		tmpl_set(r, "Billing.checkout_success", "1");
	else if (q != NULL && strcmp(q, "canceled") == 0)
		tmpl_set(r, "Billing.checkout_canceled", "1");
	page_billing_summary(r, &b, p, n);
	if (page_storage_facts(r) == -1)
		return;
	for (i = 0; i < n; i++) {
		if (p[i].price_cents == 0)
			continue;
		page_plan_card(r, row, &p[i]);
		page_plan_offer(r, row, &p[i], &b, 1);
		if (failed != NULL && strcmp(failed, p[i].plan) == 0)
			tmpl_set_row(r, "Plans", row, "failed", "1");
		row++;
	}
	if (page_billing_invoices(r) == -1)
		return;
	tmpl_render(r, status, "billing.cs");
}

void
page_billing(struct req *r)
{
	page_billing_render(r, 200, NULL);
}

/*
 * A refused form, its errors set: what the request wrote is undone and
 * the page is shown again, the plan's card with what was entered.
 */
static void
page_billing_again(struct req *r, int status, const char *plan)
{
	enum db_rc	 rc;

	if ((rc = db_restart(r)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	if (plan != NULL) {
		page_keep(r, "seats");
		page_keep(r, "coupon");
	}
	page_billing_render(r, status, plan);
}

/*
 * A refused action: a message about a field of the plan's card goes
 * beside the field, anything else above the cards; database trouble is
 * an error page.
 */
static void
page_billing_failed(struct req *r, const struct fail *f, const char *plan)
{
	struct fail	 top = *f;

	if (plan == NULL)
		top.param = NULL;
	page_fail(r, &top, NULL);
	if (f->db == 0)
		page_billing_again(r, f->status, plan);
}

/*
 * A plan change of a subscription, asked on a confirmation page first:
 * it is prorated at once.  The form comes back with confirm=yes and
 * the seats.
 */
static void
page_billing_switch_confirm(struct req *r, const struct billing_state *b,
    const struct plan *want, const struct plan *from, const char *seats)
{
	const char	*with = "";

	if (want->per_seat && seats != NULL) {
		tmpl_set(r, "Confirm.Extra.0.name", "seats");
		tmpl_set(r, "Confirm.Extra.0.value", seats);
		with = arena_printf(&r->arena, " with %s seats", seats);
	}
	tmpl_set(r, "Confirm.back", "Keep the current plan");
	tmpl_set(r, "Confirm.safe", "1");
	page_confirm(r, "billing", "Change plan", arena_printf(&r->arena,
	    "Switch from %s to %s%s? The change applies now; Stripe prorates "
	    "it, and the difference for the rest of this period is on the "
	    "next invoice.", from != NULL ? from->name : b->plan, want->name,
	    with), "/billing/checkout", "plan", want->plan, "Switch plan",
	    "/billing");
}

/*
 * POST /billing/checkout (plan, seats, coupon): without a subscription,
 * Stripe Checkout (303 to its page); with one, a change of its plan,
 * after a confirmation.
 */
void
page_billing_checkout(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct billing_state	 b;
	struct json_object	*sub;
	const struct plan	*want;
	struct plan		*p;
	struct fail		 f;
	const char		*url, *plan = page_form(r, "plan");
	size_t			 n;
	int			 seats;
	enum db_rc		 rc;

	if ((rc = db_plans_list(r, &p, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	want = page_plan_find(p, n, plan);
	if (want == NULL || want->price_cents == 0)
		plan = NULL;
	if (page_input(r, VOP_CHECKOUT, NULL, v) > 0 || plan == NULL) {
		if (plan == NULL)
			tmpl_set(r, "Form.error", "Choose one of the plans "
			    "below.");
		req_refuse(r);
		page_billing_again(r, 400, plan);
		return;
	}
	seats = v[1].present ? (int)v[1].i : 0;
	if ((rc = db_billing_state(r, 0, &b)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	if (!billing_live(&b)) {
		if (billing_checkout(r, &f, want->plan, seats, v[2].present ?
		    v[2].s : NULL, &url) == -1) {
			page_billing_failed(r, &f, want->plan);
			return;
		}
		req_redirect_external(r, url);
		return;
	}
	if (!page_confirmed(r)) {
		page_billing_switch_confirm(r, &b, want, page_plan_find(p, n,
		    b.plan), v[1].present ? arena_printf(&r->arena, "%d",
		    seats) : NULL);
		return;
	}
	if (billing_change(r, &f, want->plan, seats, &sub) == -1) {
		page_billing_failed(r, &f, want->plan);
		return;
	}
	page_flash(r, "plan_change_requested");
	req_redirect(r, "/billing");
}

/* POST /billing/portal: 303 to Stripe's billing portal. */
void
page_billing_portal(struct req *r)
{
	struct fail	 f;
	const char	*url;

	if (billing_portal(r, &f, &url) == -1) {
		page_billing_failed(r, &f, NULL);
		return;
	}
	req_redirect_external(r, url);
}

/*
 * POST /billing/cancel: at the end of the period, after a confirmation
 * page that says until when the plan stays.
 */
void
page_billing_cancel(struct req *r)
{
	struct billing_state	 b;
	struct json_object	*sub;
	struct fail		 f;
	char			 day[40];
	long long		 end;
	enum db_rc		 rc;

	if ((rc = db_billing_state(r, 0, &b)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	end = fmt_parse_ts(b.period_end);
	if (!page_confirmed(r)) {
		if (!billing_live(&b) || b.cancel_at_period_end) {
			req_refuse(r);
			page_flash(r, "not_found");
			req_redirect(r, "/billing");
			return;
		}
		fmt_day(day, sizeof(day), end);
		tmpl_set(r, "Confirm.back", "Keep the subscription");
		page_confirm(r, "billing", "Cancel the subscription", end >= 0 ?
		    arena_printf(&r->arena, "Cancel the subscription? Your "
		    "plan stays until %s; after that the organization is on "
		    "the Free plan.", day) : "Cancel the subscription? Your "
		    "plan stays until the end of the billing period; after "
		    "that the organization is on the Free plan.",
		    "/billing/cancel", "at_period_end", "true",
		    "Cancel subscription", "/billing");
		return;
	}
	if (billing_cancel(r, &f, 1, &sub) == -1) {
		page_billing_failed(r, &f, NULL);
		return;
	}
	/* Stripe's answer says when; the period's end as known, else. */
	end = http_json_int(sub, "cancel_at", end);
	if (end > 0)
		page_flash_about(r, "cancel_scheduled", arena_printf(&r->arena,
		    "%lld", end), NULL);
	else
		page_flash(r, "cancel_requested");
	req_redirect(r, "/billing");
}
