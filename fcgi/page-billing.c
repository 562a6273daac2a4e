/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /pricing: the plan catalogue as cards (prices, what each includes,
 * the feature matrix), through the formatting layer.  Checkout and the
 * billing page arrive with billing; until then the page says so rather
 * than show buttons that lead nowhere.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

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

static void
page_pricing_plan(struct req *r, size_t i, const struct plan *p)
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

void
page_pricing(struct req *r)
{
	struct plan	*p;
	size_t		 n, i, nf;
	enum db_rc	 rc;

	if ((rc = db_plans_list(r, &p, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	page_layout(r, "Pricing", "");
	for (i = 0; i < n; i++)
		page_pricing_plan(r, i, &p[i]);
	nf = sizeof(page_feature_labels) / sizeof(page_feature_labels[0]);
	for (i = 0; i < nf; i++) {
		tmpl_set_row(r, "Features", i, "id", page_feature_labels[i][0]);
		tmpl_set_row(r, "Features", i, "label",
		    page_feature_labels[i][1]);
	}
	tmpl_render(r, 200, "pricing.cs");
}
