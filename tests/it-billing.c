/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: billing through the Stripe emulator (tests/stripe-emu.py,
 * STRIPE_API_BASE).  A new owner goes from checkout to a paid plan and
 * back to free: the emulator's hosted page is paid, its signed webhooks
 * reach /api/v1/billing/webhook, and the subscription, invoices, plan
 * changes, a failed payment and cancellation show in the API.  The
 * webhook refuses every bad delivery of SPEC 7 and applies each event
 * once, in the order of the events' times whatever the order of
 * delivery.  Under injected faults checkout still succeeds through
 * retries with one Idempotency-Key, or fails cleanly (502), and a
 * tenant never gets two customers, also with two checkouts at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "it-util.h"

#define API		"/api/v1"
#define WEBHOOK		API "/billing/webhook"
#define CHECKOUT	API "/billing/checkout"
#define SUBSCRIPTION	API "/billing/subscription"
#define INVOICES	API "/billing/invoices"
#define JSON		"application/json"

static unsigned int	 b_seq;

/* --- the emulator ------------------------------------------------------- */

/* Stripe's customers with this e-mail, asked of the emulator's API. */
static size_t
emu_customers(const char *email)
{
	struct it_resp		 r;
	struct json_object	*data;
	char			 path[256];
	size_t			 n;

	snprintf(path, sizeof(path), "/v1/customers?email=%s&limit=100",
	    email);
	for (n = 0; path[n] != '\0'; n++)
		if (path[n] == '+')
			path[n] = '_';	/* never in our generated addresses */
	it_emu_get(&r, path);
	if (!it_json_get(it_json(&r), "data", &data))
		fail_msg("no data in %.200s", r.body);
	n = json_object_array_length(data);
	it_response_free(&r);
	return n;
}

/* --- the webhook's signature -------------------------------------------- */

/* "t=<t>,v1=<HMAC-SHA256(secret, "<t>.<body>")>" under one secret. */
static void
sign(char *out, size_t outsz, const char *secret, long long t,
    const char *body, size_t len)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	char		 hex[2 * EVP_MAX_MD_SIZE + 1], *msg;
	size_t		 n, i;

	n = (size_t)snprintf(NULL, 0, "%lld.", t) + len;
	msg = it_alloc(n + 1);
	snprintf(msg, n + 1, "%lld.", t);
	memcpy(msg + n - len, body, len);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg,
	    n, mac, &maclen);
	free(msg);
	for (i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	snprintf(out, outsz, "t=%lld,v1=%s", t, hex);
}

/* The first configured endpoint secret (the list may hold several). */
static const char *
secret(void)
{
	static char	 s[256];

	snprintf(s, sizeof(s), "%s", it_env("STRIPE_WEBHOOK_SECRET"));
	s[strcspn(s, ",")] = '\0';
	return s;
}

/* Deliver a body with a Stripe-Signature header (NULL: none). */
static void
deliver(struct it_resp *r, const char *sig, const char *body, size_t len)
{
	char	 h[512];

	if (sig != NULL)
		snprintf(h, sizeof(h), "Stripe-Signature: %s", sig);
	if (it_request(r, "POST", WEBHOOK, JSON "; charset=utf-8", body, len,
	    sig != NULL ? h : NULL, NULL) == -1)
		fail_msg("webhook: %s", r->error);
	print_message("# webhook: %ld %.160s\n", r->status, r->body);
}

/* Deliver a body signed now with the configured secret. */
static void
deliver_signed(struct it_resp *r, const char *body)
{
	char	 sig[256];

	sign(sig, sizeof(sig), secret(), (long long)time(NULL), body,
	    strlen(body));
	deliver(r, sig, body, strlen(body));
}

static const char *
event_id(void)
{
	static char	 id[64];

	snprintf(id, sizeof(id), "evt_itb%ld_%u", (long)getpid(), ++b_seq);
	return id;
}

/* --- tenants ------------------------------------------------------------ */

/*
 * A column of the tenant's row, as text ("" for NULL), read as the
 * database owner: the waits below poll, and polling the API would
 * spend the free plan's 20 requests a minute.
 */
static void
sub_field(const struct it_owner *o, const char *field, char *out, size_t outsz)
{
	static const char *const	 cols[] = { "plan", "status",
	    "trial_end", "stripe_subscription_id", "cancel_at_period_end",
	    "stripe_customer_id", NULL };
	char				 sql[160];
	size_t				 i;

	for (i = 0; cols[i] != NULL && strcmp(cols[i], field) != 0; i++)
		continue;
	if (cols[i] == NULL)
		fail_msg("no column %s", field);
	snprintf(sql, sizeof(sql), "SELECT %s::text FROM tenants WHERE "
	    "tenant_id = $1", cols[i]);
	it_owner_sql(out, outsz, o->tenant, sql, 1, (const char *const[]){
	    o->tenant });
}

/* The plan whose entitlements apply, as the API says. */
static void
sub_effective(const struct it_owner *o, char *out, size_t outsz)
{
	struct it_resp	 r;
	const char	*v;

	it_http(&r, "GET", SUBSCRIPTION, NULL, o->access, NULL, NULL);
	it_expect_status(&r, 200);
	v = it_json_str(it_json(&r), "effective_plan");
	snprintf(out, outsz, "%s", v != NULL ? v : "");
	it_response_free(&r);
}

/*
 * Wait for a column of the tenant to become a value: events that
 * follow an API call reach the webhook a moment after the call.
 */
static void
sub_wait(const struct it_owner *o, const char *field, const char *want)
{
	char	 got[128];
	double	 t0 = it_now_ms();

	for (;;) {
		sub_field(o, field, got, sizeof(got));
		if (strcmp(got, want) == 0)
			return;
		if (it_now_ms() - t0 > 10000)
			fail_msg("tenant %s is \"%s\", not \"%s\"",
			    field, got, want);
		it_sleep_ms(100);
	}
}

/* POST /billing/checkout for a plan; the status, the url into url. */
static long
checkout(const struct it_owner *o, const char *plan, char *url, size_t urlsz)
{
	struct it_resp	 r;
	long		 status;

	it_http(&r, "POST", CHECKOUT, NULL, o->access, JSON,
	    it_jobj("plan", plan, NULL));
	status = r.status;
	if (url != NULL) {
		url[0] = '\0';
		if (status == 201)
			it_copy_str(url, urlsz, &r, "url");
	}
	it_response_free(&r);
	return status;
}

/* Pay on the emulator's hosted page: it redirects to our success URL. */
static void
pay(const char *url)
{
	struct it_resp	 r;
	char		 u[1024];
	const char	*loc;

	if (it_request(&r, "GET", url, NULL, NULL, 0, NULL) == -1)
		fail_msg("checkout page: %s", r.error);
	it_expect_status(&r, 200);
	if (strstr(r.body, "id=\"pay\"") == NULL)
		fail_msg("no pay button on %s", url);
	it_response_free(&r);
	snprintf(u, sizeof(u), "%s/pay", url);
	if (it_request(&r, "POST", u, IT_FORM, "", 0, NULL) == -1)
		fail_msg("pay: %s", r.error);
	it_expect_status(&r, 303);
	loc = it_header(&r, "Location");
	if (loc == NULL || strstr(loc, "/billing?checkout=success") == NULL)
		fail_msg("pay redirected to %s", loc != NULL ? loc : "nowhere");
	it_response_free(&r);
}

/* An owner on a paid plan through checkout. */
static void
subscribe(struct it_owner *o, const char *tag, const char *plan)
{
	char	 url[1024];

	it_owner_new(o, "billing", tag);
	assert_int_equal(checkout(o, plan, url, sizeof(url)), 201);
	pay(url);
	sub_wait(o, "plan", plan);
}

/* --- the webhook's refusals ----------------------------------------------- */

/* SPEC 7's bad deliveries: each refused, nothing recorded. */
static void
test_webhook_refused(void **state)
{
	struct it_resp	 r;
	char		 body[512], sig[256], *big;
	long long	 now = (long long)time(NULL);
	const char	*id = event_id();

	(void)state;
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"object\": \"event\", "
	    "\"type\": \"tollgate.test\", \"created\": %lld, \"data\": "
	    "{\"object\": {\"id\": \"x_1\"}}}", id, now);

	deliver(&r, NULL, body, strlen(body));
	it_expect_code(&r, 400, "invalid_signature", "no header");
	it_response_free(&r);
	deliver(&r, "garbage", body, strlen(body));
	it_expect_code(&r, 400, "invalid_signature", "malformed header");
	it_response_free(&r);
	snprintf(sig, sizeof(sig), "t=%lld,v0=%064d", now, 0);
	deliver(&r, sig, body, strlen(body));
	it_expect_code(&r, 400, "invalid_signature", "only v0");
	it_response_free(&r);
	sign(sig, sizeof(sig), "whsec_not_the_secret", now, body,
	    strlen(body));
	deliver(&r, sig, body, strlen(body));
	it_expect_code(&r, 400, "invalid_signature", "wrong secret");
	it_response_free(&r);
	/* The body changed by one byte after signing. */
	sign(sig, sizeof(sig), secret(), now, body, strlen(body));
	body[strlen(body) - 3] = ' ';
	deliver(&r, sig, body, strlen(body));
	it_expect_code(&r, 400, "invalid_signature", "changed body");
	it_response_free(&r);
	body[strlen(body) - 3] = '}';
	sign(sig, sizeof(sig), secret(), now - 301, body, strlen(body));
	deliver(&r, sig, body, strlen(body));
	it_expect_code(&r, 400, "invalid_signature", "301 s old");
	it_response_free(&r);
	sign(sig, sizeof(sig), secret(), now + 301, body, strlen(body));
	deliver(&r, sig, body, strlen(body));
	it_expect_code(&r, 400, "invalid_signature", "301 s ahead");
	it_response_free(&r);
	/* 2 MiB: refused by its length before anything is read. */
	big = it_alloc(2 * 1024 * 1024 + 1);
	memset(big, ' ', 2 * 1024 * 1024);
	big[0] = '{';
	big[2 * 1024 * 1024 - 1] = '}';
	big[2 * 1024 * 1024] = '\0';
	sign(sig, sizeof(sig), secret(), now, big, strlen(big));
	deliver(&r, sig, big, strlen(big));
	it_expect_code(&r, 413, "body_too_large", "2 MiB body");
	it_response_free(&r);
	free(big);
	/* Signed, but not an event. */
	deliver_signed(&r, "{\"hello\": \"world\"}");
	it_expect_code(&r, 400, "invalid_event", "JSON that is not an event");
	it_response_free(&r);
	deliver_signed(&r, "{\"id\": ");
	it_expect_code(&r, 400, "invalid_json", "not JSON");
	it_response_free(&r);
	it_deferred_check();
	assert_int_equal(it_owner_count(NULL, "SELECT count(*) FROM "
	    "stripe_events WHERE event_id = $1", id), 0);
}

/* Unknown types and unknown customers: stored, acknowledged, once. */
static void
test_webhook_unknown(void **state)
{
	struct it_resp	 r;
	char		 body[512], id[64];
	long long	 now = (long long)time(NULL);

	(void)state;
	snprintf(id, sizeof(id), "%s", event_id());
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"object\": \"event\", "
	    "\"type\": \"tollgate.unknown_type\", \"created\": %lld, "
	    "\"data\": {\"object\": {\"id\": \"x_1\"}}}", id, now);
	deliver_signed(&r, body);
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "outcome"), "ignored");
	it_response_free(&r);
	/* The replay: acknowledged as a duplicate, nothing done again. */
	deliver_signed(&r, body);
	it_expect_status(&r, 200);
	{
		struct json_object *d;

		assert_true(it_json_get(it_json(&r), "duplicate", &d));
		assert_true(json_object_get_boolean(d));
	}
	it_response_free(&r);
	assert_int_equal(it_owner_count(NULL, "SELECT count(*) FROM "
	    "stripe_events WHERE event_id = $1 AND outcome = 'ignored'", id),
	    1);

	snprintf(id, sizeof(id), "%s", event_id());
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"object\": \"event\", "
	    "\"type\": \"customer.subscription.updated\", \"created\": %lld, "
	    "\"data\": {\"object\": {\"id\": \"sub_nobody\", \"customer\": "
	    "\"cus_nobody\", \"status\": \"active\"}}}", id, now);
	deliver_signed(&r, body);
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "outcome"), "unknown_customer");
	it_response_free(&r);
	it_deferred_check();
}

/* --- the life of a subscription ------------------------------------------ */

/*
 * GET /entitlements: the plan that applies, and one quota's included
 * and used as the API says them (-1 for null).
 */
static void
entitled(const struct it_owner *o, const char *metric, char *plan,
    size_t plansz, long long *included, long long *used)
{
	struct it_resp		 r;
	struct json_object	*qs, *q, *v;
	size_t			 i;

	*included = *used = -2;
	it_http(&r, "GET", API "/entitlements", NULL, o->access, NULL, NULL);
	it_expect_status(&r, 200);
	snprintf(plan, plansz, "%s", it_must_str(&r, "plan"));
	if (!it_json_get(it_json(&r), "quotas", &qs))
		fail_msg("no quotas in %.200s", r.body);
	for (i = 0; i < json_object_array_length(qs); i++) {
		q = json_object_array_get_idx(qs, i);
		if (strcmp(it_json_str(q, "metric"), metric) != 0)
			continue;
		*included = it_json_get(q, "included", &v) && v != NULL ?
		    json_object_get_int64(v) : -1;
		*used = it_json_get(q, "used", &v) ? json_object_get_int64(v) :
		    -1;
	}
	it_response_free(&r);
}

/* Five agents, the newest last: a canceled plan keeps the free three. */
static void
agents_add(const struct it_owner *o)
{
	int	 i;
	char	 name[32];

	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "agent %d", i);
		it_owner_sql(NULL, 0, o->tenant, "INSERT INTO agents (tenant_id, name, "
		    "created_at) VALUES ($1, $2, now() - make_interval(mins "
		    "=> 10 - $3::int))", 3, (const char *const[]){ o->tenant,
		    name, name + 6 });
	}
}

static void
test_lifecycle(void **state)
{
	struct it_owner	 o;
	struct it_resp	 r;
	char		 url[1024], v[128], inv[128], path[256];
	struct json_object *data;
	long long	 inc, used;

	(void)state;
	it_owner_new(&o, "billing", "life");
	agents_add(&o);
	entitled(&o, "agents", v, sizeof(v), &inc, &used);
	assert_string_equal(v, "free");
	assert_int_equal(inc, 3);
	assert_int_equal(used, 5);
	assert_int_equal(checkout(&o, "nope", NULL, 0), 400);
	assert_int_equal(checkout(&o, "free", NULL, 0), 400);
	assert_int_equal(checkout(&o, "pro", url, sizeof(url)), 201);
	pay(url);
	sub_wait(&o, "plan", "pro");
	sub_wait(&o, "status", "trialing");
	sub_field(&o, "trial_end", v, sizeof(v));
	assert_true(v[0] != '\0');
	sub_effective(&o, v, sizeof(v));
	assert_string_equal(v, "pro");
	entitled(&o, "agents", v, sizeof(v), &inc, &used);
	assert_string_equal(v, "pro");
	assert_int_equal(inc, -1);	/* unlimited */
	entitled(&o, "llm_tokens", v, sizeof(v), &inc, &used);
	assert_int_equal(inc, 1000000);
	/* The plan it is on already. */
	assert_int_equal(checkout(&o, "pro", NULL, 0), 409);
	/* The customer has a portal (asked now: the free plan, at the end,
	 * allows only 20 requests a minute). */
	it_http(&r, "POST", API "/billing/portal", NULL, o.access, NULL, NULL);
	it_expect_status(&r, 201);
	it_response_free(&r);

	/* The trial's invoice, for nothing. */
	it_http(&r, "GET", INVOICES, NULL, o.access, NULL, NULL);
	it_expect_status(&r, 200);
	assert_true(it_json_get(it_json(&r), "data", &data));
	assert_true(json_object_array_length(data) >= 1);
	it_response_free(&r);

	/* Past the trial: active, and an invoice for the month. */
	it_emu_ctl("/_emu/advance", "{\"days\": 15}");
	sub_wait(&o, "status", "active");
	it_http(&r, "GET", INVOICES "?limit=1", NULL, o.access, NULL, NULL);
	it_expect_status(&r, 200);
	assert_true(it_json_get(it_json(&r), "data", &data));
	snprintf(inv, sizeof(inv), "%s", it_json_str(
	    json_object_array_get_idx(data, 0), "id"));
	assert_true(strstr(r.body, "\"amount_paid\": 1500") != NULL ||
	    strstr(r.body, "\"amount_paid\":1500") != NULL);
	it_response_free(&r);
	snprintf(path, sizeof(path), INVOICES "/%s", inv);
	it_http(&r, "GET", path, NULL, o.access, NULL, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);
	it_http(&r, "GET", INVOICES "/in_nothing", NULL, o.access, NULL, NULL);
	it_expect_code(&r, 404, "not_found", "another invoice");
	it_response_free(&r);
	it_http(&r, "GET", INVOICES "/upcoming", NULL, o.access, NULL, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);

	/* Up to Power, prorated; the event brings the plan here. */
	it_http(&r, "PATCH", SUBSCRIPTION, NULL, o.access, JSON,
	    it_jobj("plan", "power", NULL));
	it_expect_status(&r, 200);
	it_response_free(&r);
	sub_wait(&o, "plan", "power");

	/* A failed payment: past due, the plan kept in the grace period. */
	sub_field(&o, "stripe_subscription_id", v, sizeof(v));
	snprintf(path, sizeof(path), "{\"subscription\": \"%s\"}", v);
	it_emu_ctl("/_emu/fail_payment", path);
	sub_wait(&o, "status", "past_due");
	sub_effective(&o, v, sizeof(v));
	assert_string_equal(v, "power");
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM "
	    "notifications WHERE tenant_id = $1 AND trigger = "
	    "'payment_failed'", o.tenant), 1);

	/*
	 * The grace period runs out: the worker stops the agents beyond
	 * the free plan's three and tells the owner, once; the paid
	 * invoice brings them back.
	 */
	it_owner_sql(NULL, 0, o.tenant, "UPDATE tenants SET past_due_since = "
	    "now() - interval '8 days' WHERE tenant_id = $1", 1,
	    (const char *const[]){ o.tenant });
	assert_int_equal(it_sh("%s work --once >/dev/null 2>&1",
	    it_env("TOLLGATE_BIN")), 0);
	assert_int_equal(it_sh("%s work --once >/dev/null 2>&1",
	    it_env("TOLLGATE_BIN")), 0);
	/* (The free plan's 20 requests a minute apply now: SQL, not API.) */
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM "
	    "tenants WHERE tenant_id = $1 AND grace_ended_at IS NOT NULL",
	    o.tenant), 1);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = $1 AND NOT active AND deactivated_reason = "
	    "'payment_overdue'", o.tenant), 2);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM "
	    "notifications WHERE tenant_id = $1 AND trigger = 'grace_ended'",
	    o.tenant), 1);
	it_owner_sql(inv, sizeof(inv), o.tenant, "SELECT invoice_id FROM "
	    "invoices WHERE tenant_id = $1 AND status = 'open'", 1,
	    (const char *const[]){ o.tenant });
	snprintf(path, sizeof(path), "{\"invoice\": \"%s\"}", inv);
	it_emu_ctl("/_emu/pay_invoice", path);
	sub_wait(&o, "status", "active");
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = $1 AND active", o.tenant), 5);

	/* Cancel at the period's end, then now. */
	it_http(&r, "DELETE", SUBSCRIPTION, NULL, o.access, NULL, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);
	sub_wait(&o, "cancel_at_period_end", "true");
	it_http(&r, "DELETE", SUBSCRIPTION "?at_period_end=maybe", NULL,
	    o.access, NULL, NULL);
	it_expect_code(&r, 400, "invalid_value", "at_period_end=maybe");
	it_response_free(&r);
	it_http(&r, "DELETE", SUBSCRIPTION "?at_period_end=false", NULL,
	    o.access, NULL, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);
	sub_wait(&o, "status", "canceled");
	sub_effective(&o, v, sizeof(v));
	assert_string_equal(v, "free");
	/* The free plan's three agents stay, the two newest stop. */
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = $1 AND active", o.tenant), 3);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = $1 AND NOT active AND deactivated_reason = "
	    "'subscription_canceled' AND name IN ('agent 3', 'agent 4')",
	    o.tenant), 2);
	/* Each effect is in the audit trail. */
	assert_true(it_owner_count(o.tenant, "SELECT count(*) FROM "
	    "audit_events WHERE tenant_id = $1 AND action LIKE 'billing.%'",
	    o.tenant) >= 5);
	it_deferred_check();
}

/* Checkout for a member: refused; for the plan one is on: 409. */
static void
test_member_refused(void **state)
{
	struct it_owner	 o;
	struct it_resp	 r;
	char		 member[IT_TOKEN_MAX];

	(void)state;
	it_owner_new(&o, "billing", "owner");
	it_member_new(&o, "billing", member, sizeof(member));
	it_http(&r, "POST", CHECKOUT, NULL, member, JSON,
	    it_jobj("plan", "pro", NULL));
	it_expect_code(&r, 403, "insufficient_role", "checkout by a member");
	it_response_free(&r);
	it_deferred_check();
}

/* --- delivery out of order ---------------------------------------------- */

/*
 * Events held back, then delivered newest first: the older one finds
 * a newer state applied and changes nothing.
 */
static void
test_out_of_order(void **state)
{
	struct it_owner	 o;
	struct it_resp	 r;
	char		 body[1024], sub[128], cus[128];

	(void)state;
	subscribe(&o, "order", "pro");
	sub_wait(&o, "status", "trialing");
	it_emu_ctl("/_emu/hold", "{\"on\": true}");
	it_http(&r, "PATCH", SUBSCRIPTION, NULL, o.access, JSON,
	    it_jobj("plan", "power", NULL));
	it_expect_status(&r, 200);
	it_response_free(&r);
	sleep(1);	/* the next event a second later */
	it_http(&r, "DELETE", SUBSCRIPTION, NULL, o.access, NULL, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);
	it_emu_ctl("/_emu/flush", "{\"order\": \"reverse\"}");
	it_emu_ctl("/_emu/hold", "{\"on\": false}");
	sub_wait(&o, "plan", "power");
	sub_wait(&o, "cancel_at_period_end", "true");

	/* An event from long ago about this subscription: stale. */
	sub_field(&o, "stripe_subscription_id", sub, sizeof(sub));
	sub_field(&o, "stripe_customer_id", cus, sizeof(cus));
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"object\": \"event\", "
	    "\"type\": \"customer.subscription.updated\", \"created\": "
	    "1000000000, \"data\": {\"object\": {\"id\": \"%s\", \"object\": "
	    "\"subscription\", \"customer\": \"%s\", \"status\": \"canceled\", "
	    "\"metadata\": {\"plan\": \"pro\"}, \"items\": {\"data\": []}}}}",
	    event_id(), sub, cus);
	deliver_signed(&r, body);
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "outcome"), "stale");
	it_response_free(&r);
	sub_wait(&o, "plan", "power");
	sub_wait(&o, "status", "trialing");
	it_deferred_check();
}

/* --- faults ------------------------------------------------------------- */

static void
faults_off(void)
{
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 0}");
}

/* Half the calls fail after Stripe acted: retries, one key, one customer. */
static void
test_faults_retried(void **state)
{
	struct it_owner	 o;
	char		 url[1024];
	long		 st;

	(void)state;
	it_owner_new(&o, "billing", "faults");
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 0.5, \"status\": 500, "
	    "\"after_execute\": true, \"seed\": 7, \"paths\": "
	    "[\"/v1/customers\", \"/v1/checkout/sessions\"]}");
	st = checkout(&o, "pro", url, sizeof(url));
	faults_off();
	assert_int_equal(st, 201);
	assert_int_equal(emu_customers(o.email), 1);
	/* 429s are retried too (they come before Stripe's key layer). */
	it_owner_new(&o, "billing", "limited");
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 0.5, \"status\": 429, "
	    "\"seed\": 3, \"paths\": [\"/v1/customers\", "
	    "\"/v1/checkout/sessions\"]}");
	st = checkout(&o, "pro", url, sizeof(url));
	faults_off();
	assert_int_equal(st, 201);
	assert_int_equal(emu_customers(o.email), 1);
}

/* Every call fails: a clean 502, and the next checkout reuses the customer. */
static void
test_faults_exhausted(void **state)
{
	struct it_owner	 o;
	struct it_resp	 r;
	char		 url[1024];

	(void)state;
	it_owner_new(&o, "billing", "down");
	it_emu_ctl("/_emu/faults", "{\"error_rate\": 1, \"status\": 500, "
	    "\"after_execute\": true, \"paths\": [\"/v1/customers\", "
	    "\"/v1/checkout/sessions\"]}");
	it_http(&r, "POST", CHECKOUT, NULL, o.access, JSON,
	    it_jobj("plan", "pro", NULL));
	faults_off();
	it_expect_code(&r, 502, "upstream_error", "Stripe failing");
	it_response_free(&r);
	assert_int_equal(checkout(&o, "pro", url, sizeof(url)), 201);
	assert_int_equal(emu_customers(o.email), 1);
	it_deferred_check();
}

struct race {
	const struct it_owner	*o;
	long			 status;
};

static void *
race_checkout(void *arg)
{
	struct race	*x = arg;

	x->status = it_call_status(x->o->access, "POST", CHECKOUT,
	    "{\"plan\": \"pro\"}");
	return NULL;
}

/* Two checkouts of one tenant at once: one customer. */
static void
test_concurrent_checkouts(void **state)
{
	struct it_owner	 o;
	struct race	 a, b;
	pthread_t	 ta, tb;

	(void)state;
	it_owner_new(&o, "billing", "race");
	a.o = b.o = &o;
	a.status = b.status = 0;
	assert_int_equal(pthread_create(&ta, NULL, race_checkout, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, race_checkout, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.status, 201);
	assert_int_equal(b.status, 201);
	assert_int_equal(emu_customers(o.email), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_webhook_refused),
		cmocka_unit_test(test_webhook_unknown),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_member_refused),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_faults_retried),
		cmocka_unit_test(test_faults_exhausted),
		cmocka_unit_test(test_concurrent_checkouts),
	};

	it_init();
	it_client_init(61);
	it_client_new();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
