/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * GET /api/v1/plans: the plan catalogue (SPEC 4), public, for pricing
 * pages.  Money is integers: the plan's price in cents, overage prices
 * in micro-USD per price_unit units; null is unlimited or none.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

static struct json_object *
api_plans_int_or_null(long long v)
{
	return v < 0 ? NULL : json_object_new_int64(v);
}

static struct json_object *
api_plans_quota(const struct plan_quota *q)
{
	struct json_object	*o = json_object_new_object(), *ov;

	api_str(o, "metric", q->metric);
	api_str(o, "kind", q->kind);
	json_object_object_add(o, "included",
	    api_plans_int_or_null(q->included));
	api_str(o, "cap", q->cap);
	json_object_object_add(o, "grace_percent",
	    json_object_new_int(q->grace_pct));
	ov = NULL;
	if (q->unit_price_micros >= 0) {
		ov = json_object_new_object();
		json_object_object_add(ov, "unit_price_micros",
		    json_object_new_int64(q->unit_price_micros));
		json_object_object_add(ov, "per_units",
		    json_object_new_int64(q->price_unit));
	}
	json_object_object_add(o, "overage", ov);
	return o;
}

static struct json_object *
api_plans_one(const struct plan *p)
{
	struct json_object	*o = json_object_new_object(), *a, *price;
	size_t			 i;

	api_str(o, "id", p->plan);
	api_str(o, "name", p->name);
	price = json_object_new_object();
	json_object_object_add(price, "amount_cents",
	    json_object_new_int64(p->price_cents));
	api_str(price, "currency", "usd");
	api_str(price, "interval", "month");
	json_object_object_add(price, "per_seat",
	    json_object_new_boolean(p->per_seat));
	json_object_object_add(o, "price", price);
	json_object_object_add(o, "trial_days",
	    json_object_new_int(p->trial_days));
	json_object_object_add(o, "rate_limit_per_minute",
	    json_object_new_int(p->rate_limit));
	json_object_object_add(o, "rate_limit_per_seat",
	    json_object_new_boolean(p->rate_per_seat));
	a = json_object_new_array();
	for (i = 0; i < p->nfeatures; i++)
		json_object_array_add(a, json_object_new_string(p->features[i]));
	json_object_object_add(o, "features", a);
	a = json_object_new_array();
	for (i = 0; i < p->nquotas; i++)
		json_object_array_add(a, api_plans_quota(&p->quotas[i]));
	json_object_object_add(o, "quotas", a);
	return o;
}

void
api_plans(struct req *r)
{
	struct json_object	*data;
	struct plan		*p;
	size_t			 n, i;
	enum db_rc		 rc;

	if ((rc = db_plans_list(r, &p, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, api_plans_one(&p[i]));
	api_list(r, data, 0);
}

/*
 * GET /api/v1/entitlements: the plan whose entitlements apply (after
 * the subscription status rule of SPEC 4), its features, and per quota
 * what is included, used, reserved and left.  Period quotas carry their
 * period.  Unlimited: included, remaining and percent are null.
 */
void
api_entitlements(struct req *r)
{
	struct json_object	*o, *a, *q;
	struct entitlements	 e;
	const char		*f, *comma;
	enum db_rc		 rc;
	long long		 inc, left;
	size_t			 i;

	if ((rc = db_entitlements(r, &e)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	o = json_object_new_object();
	api_str(o, "plan", e.plan);
	api_str(o, "plan_name", e.plan_name);
	api_str(o, "status", e.status);
	a = json_object_new_array();
	for (f = e.features; *f != '\0'; f = *comma != '\0' ? comma + 1 :
	    comma) {
		comma = f + strcspn(f, ",");
		json_object_array_add(a, json_object_new_string_len(f,
		    (int)(comma - f)));
	}
	json_object_object_add(o, "features", a);
	a = json_object_new_array();
	for (i = 0; i < e.n; i++) {
		q = json_object_new_object();
		inc = e.q[i].included;
		api_str(q, "metric", e.q[i].metric);
		api_str(q, "kind", e.q[i].kind);
		api_str(q, "cap", e.q[i].cap);
		json_object_object_add(q, "included",
		    api_plans_int_or_null(inc));
		json_object_object_add(q, "used",
		    json_object_new_int64(e.used[i]));
		json_object_object_add(q, "reserved",
		    json_object_new_int64(e.reserved[i]));
		left = inc < 0 ? -1 : inc > e.used[i] + e.reserved[i] ?
		    inc - e.used[i] - e.reserved[i] : 0;
		json_object_object_add(q, "remaining",
		    api_plans_int_or_null(left));
		json_object_object_add(q, "grace_percent",
		    json_object_new_int(e.q[i].grace_pct));
		json_object_object_add(q, "percent", inc <= 0 ? NULL :
		    json_object_new_int64(e.used[i] * 100 / inc));
		if (strcmp(e.q[i].kind, "period") == 0) {
			api_str(q, "period_start", e.period_start);
			api_str(q, "period_end", e.period_end);
		}
		json_object_array_add(a, q);
	}
	json_object_object_add(o, "quotas", a);
	req_json(r, 200, o);
}
