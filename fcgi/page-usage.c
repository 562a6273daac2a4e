/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /usage: what the tenant used in a period, for every member.  A meter
 * per quota of the plan (80 % and 100 % marked; under a metered cap the
 * overage and what it costs), a daily chart of one metric, the agents
 * with their budgets, the cost per provider and per model, messages
 * per channel, the period's alerts, and the period's CSV.  The reads are
 * the API's (db-usage.c, usage.c); /usage/export.csv writes the API's
 * export for a portal session, since the API's own takes keys and
 * tokens only.  The dashboard's usage and spend cards come from here.
 *
 * The chart is drawn without script: its geometry is computed here in
 * the units of the SVG's viewBox and the template only places it, so
 * it scales to any width; the same points are listed in a table.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tollgate.h"

#define PAGE_USAGE_MONTHS	6	/* past months offered besides now */
#define PAGE_USAGE_QUOTAS	8	/* period quotas of a plan, at most */
#define PAGE_DAY		86400LL

/* The chart's frame, in the units of its viewBox. */
#define CHART_DAYS_MAX		92	/* the longest period drawn */
#define CHART_STEPS		4	/* gridlines above the baseline */
#define CHART_W			720
#define CHART_H			290
#define CHART_LEFT		64
#define CHART_RIGHT		700
#define CHART_TOP		24
#define CHART_BOTTOM		250

struct page_metric {
	const char	*id;
	const char	*label;
	const char	*one;		/* the unit, singular */
	const char	*many;
};

/* The period quotas, in the order of SPEC 4's table. */
static const struct page_metric	page_metrics[] = {
	{ "llm_tokens", "LLM tokens", "token", "tokens" },
	{ "agent_executions", "Agent runs", "run", "runs" },
	{ "api_calls", "API calls", "call", "calls" },
	{ "messages", "Messages", "message", "messages" },
};

/* Providers' names as they write them; others through fmt_status(). */
static const char *const	page_providers[][2] = {
	{ "openai", "OpenAI" },
	{ "anthropic", "Anthropic" },
	{ "google", "Google" },
	{ "mistral", "Mistral" },
};

/* What one request looks at: the period, the chart's metric. */
struct page_usage {
	const char			*period;	/* "current", YYYY-MM */
	const char			*start;		/* RFC 3339 */
	const char			*end;
	const struct page_metric	*metric;
};

static const struct page_metric *
page_metric(const char *id)
{
	size_t	 i;

	for (i = 0; id != NULL && i < sizeof(page_metrics) /
	    sizeof(page_metrics[0]); i++)
		if (strcmp(id, page_metrics[i].id) == 0)
			return &page_metrics[i];
	return NULL;
}

static const char *
page_metric_label(struct req *r, const char *id)
{
	const struct page_metric	*m = page_metric(id);
	char				 b[64];

	if (m != NULL)
		return m->label;
	fmt_status(b, sizeof(b), id);
	return arena_strdup(&r->arena, b);
}

static const char *
page_provider_name(struct req *r, const char *id)
{
	char	 b[64];
	size_t	 i;

	for (i = 0; i < sizeof(page_providers) / sizeof(page_providers[0]);
	    i++)
		if (strcmp(id, page_providers[i][0]) == 0)
			return page_providers[i][1];
	fmt_status(b, sizeof(b), id);
	return arena_strdup(&r->arena, b);
}

/*
 * A cost in micro-USD as a page shows one: to the cent, and never
 * "$0.00" for something that cost a little.
 */
static const char *
page_usd(struct req *r, long long micros)
{
	char	 b[48];

	if (micros > 0 && micros < 5000)
		return "under $0.01";
	fmt_money(b, sizeof(b), (micros + 5000) / 10000, "usd");
	return arena_strdup(&r->arena, b);
}

/* A share of the SVG's width as its attribute wants it: "57.25%". */
static const char *
page_pct(struct req *r, long long part, long long whole)
{
	double	 p = whole > 0 ? (double)part * 100.0 / (double)whole : 0.0;

	return arena_printf(&r->arena, "%.2f%%", p < 0.0 ? 0.0 : p > 100.0 ?
	    100.0 : p);
}

/* A coordinate of the chart, one decimal. */
static const char *
page_coord(struct req *r, double v)
{
	return arena_printf(&r->arena, "%.1f", v);
}

/*
 * The period chooser, UsagePeriods.<i>: the current period, then the
 * calendar months before this one, each a link keeping the metric.
 */
static void
page_usage_periods(struct req *r, const struct page_usage *u)
{
	struct tm	 tm, first;
	time_t		 now = time(NULL);
	char		 key[16], label[32];
	int		 i, y, m;

	tmpl_set_row(r, "UsagePeriods", 0, "key", "current");
	tmpl_set_row(r, "UsagePeriods", 0, "label", "Current period");
	if (strcmp(u->period, "current") == 0)
		tmpl_set_row(r, "UsagePeriods", 0, "selected", "1");
	if (gmtime_r(&now, &tm) == NULL)
		return;
	y = tm.tm_year + 1900;
	m = tm.tm_mon;
	for (i = 1; i <= PAGE_USAGE_MONTHS; i++) {
		if (--m < 0) {
			m = 11;
			y--;
		}
		memset(&first, 0, sizeof(first));
		first.tm_year = y - 1900;
		first.tm_mon = m;
		first.tm_mday = 1;
		snprintf(key, sizeof(key), "%04d-%02d", y, m + 1);
		fmt_month(label, sizeof(label), (long long)timegm(&first));
		tmpl_set_row(r, "UsagePeriods", (size_t)i, "key", key);
		tmpl_set_row(r, "UsagePeriods", (size_t)i, "label", label);
		if (strcmp(u->period, key) == 0)
			tmpl_set_row(r, "UsagePeriods", (size_t)i, "selected",
			    "1");
	}
}

/*
 * The period's first and last days under prefix: .from and .to ("12
 * Nov 2026", "11 Dec 2026"), .from_iso and .to_iso ("2026-11-12").
 */
static void
page_usage_span(struct req *r, const char *prefix, const struct page_usage *u)
{
	long long	 day[2];
	char		 b[32];
	const char	*name[2] = { "from", "to" };
	size_t		 i;

	day[0] = fmt_parse_ts(u->start);
	day[1] = fmt_parse_ts(u->end);
	if (day[1] > 0)
		day[1]--;	/* the end is the next period's start */
	for (i = 0; i < 2; i++) {
		fmt_day(b, sizeof(b), day[i]);
		tmpl_set(r, arena_printf(&r->arena, "%s.%s", prefix, name[i]),
		    b);
		fmt_rfc3339(b, sizeof(b), day[i]);
		b[strcspn(b, "T")] = '\0';
		tmpl_set(r, arena_printf(&r->arena, "%s.%s_iso", prefix,
		    name[i]), b);
	}
}

/* What a cap does past the included amount, in a sentence. */
static const char *
page_quota_rule(struct req *r, const struct usage_quota *q)
{
	const struct page_metric	*m = page_metric(q->metric);
	char				 inc[40], lim[40], price[40], per[40];

	fmt_count(inc, sizeof(inc), q->included);
	if (strcmp(q->cap, "soft") == 0) {
		fmt_count(lim, sizeof(lim), q->included + q->included *
		    q->grace_pct / 100);
		return arena_printf(&r->arena, "Up to %lld%% more is allowed; "
		    "usage beyond %s is refused.", q->grace_pct, lim);
	}
	if (strcmp(q->cap, "metered") != 0 || q->unit_price < 0)
		return arena_printf(&r->arena, "Usage beyond %s is refused.",
		    inc);
	fmt_usd_micros(price, sizeof(price), q->unit_price);
	if (q->price_unit <= 1)
		return arena_printf(&r->arena, "Beyond %s, %s per %s.", inc,
		    price, m != NULL ? m->one : "unit");
	fmt_count(per, sizeof(per), q->price_unit);
	return arena_printf(&r->arena, "Beyond %s, %s per %s %s.", inc,
	    price, per, m != NULL ? m->many : "units");
}

/*
 * A quota's meter, UsageMeters.<i>: used of included and the share; a
 * bar whose track reaches 120 % of the included amount (further when
 * more was used), so the 80 % and 100 % marks show where they fall.
 */
static void
page_usage_meter(struct req *r, size_t i, const struct usage_quota *q)
{
	enum budget_status	 s;
	long long		 scale;
	char			 b[64];

	tmpl_set_row(r, "UsageMeters", i, "metric", q->metric);
	tmpl_set_row(r, "UsageMeters", i, "label", page_metric_label(r,
	    q->metric));
	fmt_count(b, sizeof(b), q->used);
	tmpl_set_row(r, "UsageMeters", i, "used", b);
	if (q->included < 0) {
		tmpl_set_row(r, "UsageMeters", i, "unlimited", "1");
		return;
	}
	fmt_count(b, sizeof(b), q->included);
	tmpl_set_row(r, "UsageMeters", i, "included", b);
	tmpl_set_row(r, "UsageMeters", i, "rule", page_quota_rule(r, q));
	if (q->included == 0)
		return;
	fmt_percent(b, sizeof(b), q->used, q->included);
	tmpl_set_row(r, "UsageMeters", i, "percent", b);
	s = quota_budget_status(q->included, q->used);
	tmpl_set_row(r, "UsageMeters", i, "state", quota_budget_name(s));
	scale = q->included + q->included / 5;
	if (q->used > scale)
		scale = q->used;
	tmpl_set_row(r, "UsageMeters", i, "fill", page_pct(r, q->used, scale));
	tmpl_set_row(r, "UsageMeters", i, "m80", page_pct(r, q->included *
	    4 / 5, scale));
	tmpl_set_row(r, "UsageMeters", i, "m100", page_pct(r, q->included,
	    scale));
	/* The 80 % mark's label only where it cannot run into 100 %'s. */
	if (q->included * 2 >= scale)
		tmpl_set_row(r, "UsageMeters", i, "tick80", "1");
	if (q->overage <= 0)
		return;
	fmt_count(b, sizeof(b), q->overage);
	tmpl_set_row(r, "UsageMeters", i, "overage", b);
	tmpl_set_row(r, "UsageMeters", i, "overage_cost", page_usd(r,
	    q->overage_cost));
}

/*
 * Fullest first: the share of the included amount, unlimited last;
 * equals in SPEC 4's order.
 */
static int
page_quota_cmp(const void *a, const void *b)
{
	const struct usage_quota	*x = a, *y = b;
	double				 fx, fy;

	fx = x->included > 0 ? (double)x->used / (double)x->included : -1.0;
	fy = y->included > 0 ? (double)y->used / (double)y->included : -1.0;
	if (fx != fy)
		return fx < fy ? 1 : -1;
	return page_metric(x->metric) < page_metric(y->metric) ? -1 :
	    page_metric(x->metric) > page_metric(y->metric);
}

/*
 * The plan's period quotas as meters, in SPEC 4's order or, for the
 * dashboard (fullest), fullest first.  *overage: their overage cost.
 */
static void
page_usage_quotas(struct req *r, const struct pg_result *res, int fullest,
    long long *overage)
{
	struct usage_quota	 q[PAGE_USAGE_QUOTAS];
	size_t			 n = 0, i;
	int			 row;

	for (i = 0; i < sizeof(page_metrics) / sizeof(page_metrics[0]); i++)
		for (row = 0; row < db_nrows(res) && n < PAGE_USAGE_QUOTAS;
		    row++)
			if (strcmp(db_get(res, row, 0), page_metrics[i].id) ==
			    0)
				usage_quota_row(res, row, &q[n++]);
	if (fullest)
		qsort(q, n, sizeof(q[0]), page_quota_cmp);
	*overage = 0;
	for (i = 0; i < n; i++) {
		page_usage_meter(r, i, &q[i]);
		*overage += q[i].overage_cost;
	}
}

/*
 * The gridlines' step: the smallest of 1, 2, 2.5 or 5 times a power of
 * ten with which CHART_STEPS steps reach max.  A step of 2.5 only from
 * 25 up: every label stays a whole number, in two figures at most.
 */
static long long
page_chart_step(long long max)
{
	static const long long	 tenths[] = { 10, 20, 25, 50 };
	long long		 p, step;
	size_t			 i;

	for (p = 1; p < 100000000000000000LL; p *= 10)
		for (i = 0; i < sizeof(tenths) / sizeof(tenths[0]); i++) {
			if (p * tenths[i] % 10 != 0)
				continue;
			step = p * tenths[i] / 10;
			if (step * CHART_STEPS >= max)
				return step;
		}
	return max / CHART_STEPS + 1;
}

/* The axes: Chart.Y.<j> gridlines, Chart.X.<k> a label a week or so. */
static void
page_chart_axes(struct req *r, long long day0, int n, long long step)
{
	double	 slot = (double)(CHART_RIGHT - CHART_LEFT) / n, y;
	char	 b[32];
	int	 j, i, every = n <= 42 ? 7 : (n + 5) / 6;

	for (j = 0; j <= CHART_STEPS; j++) {
		y = CHART_BOTTOM - (double)(CHART_BOTTOM - CHART_TOP) * j /
		    CHART_STEPS;
		tmpl_set_row(r, "Chart.Y", (size_t)j, "y", page_coord(r, y));
		tmpl_set_row(r, "Chart.Y", (size_t)j, "ty", page_coord(r,
		    y + 4));
		fmt_count_short(b, sizeof(b), step * j);
		tmpl_set_row(r, "Chart.Y", (size_t)j, "label", b);
	}
	for (i = 0, j = 0; i < n; i += every, j++) {
		tmpl_set_row(r, "Chart.X", (size_t)j, "x", page_coord(r,
		    CHART_LEFT + slot * (i + 0.5)));
		fmt_day_short(b, sizeof(b), day0 + i * PAGE_DAY);
		tmpl_set_row(r, "Chart.X", (size_t)j, "label", b);
	}
}

/* The bars, Chart.Bars.<i>, each with its value as a tooltip. */
static void
page_chart_bars(struct req *r, const struct page_metric *m, long long day0,
    const long long *v, int n, long long top)
{
	double	 slot = (double)(CHART_RIGHT - CHART_LEFT) / n, w, h;
	char	 day[32], c[40];
	size_t	 k = 0;
	int	 i;

	w = slot * 0.72;
	for (i = 0; i < n; i++) {
		if (v[i] <= 0)
			continue;
		h = (double)(CHART_BOTTOM - CHART_TOP) * (double)v[i] /
		    (double)top;
		if (h < 1.0)
			h = 1.0;
		tmpl_set_row(r, "Chart.Bars", k, "x", page_coord(r,
		    CHART_LEFT + slot * i + (slot - w) / 2));
		tmpl_set_row(r, "Chart.Bars", k, "y", page_coord(r,
		    CHART_BOTTOM - h));
		tmpl_set_row(r, "Chart.Bars", k, "w", page_coord(r, w));
		tmpl_set_row(r, "Chart.Bars", k, "h", page_coord(r, h));
		fmt_day(day, sizeof(day), day0 + i * PAGE_DAY);
		fmt_plural(c, sizeof(c), v[i], m->one, m->many);
		tmpl_set_row(r, "Chart.Bars", k++, "label", arena_printf(
		    &r->arena, "%s: %s", day, c));
	}
}

/*
 * The same points as a table, Chart.Points.<i>: every day of the
 * period up to today (none of the future), with the cost when any.
 */
static void
page_chart_points(struct req *r, long long day0, const long long *v,
    const long long *cost, int n, long long cost_total)
{
	long long	 today = (long long)time(NULL);
	char		 b[40];
	int		 i;

	today -= today % PAGE_DAY;
	if (cost_total > 0)
		tmpl_set(r, "Chart.has_cost", "1");
	for (i = 0; i < n && day0 + i * PAGE_DAY <= today; i++) {
		fmt_day(b, sizeof(b), day0 + i * PAGE_DAY);
		tmpl_set_row(r, "Chart.Points", (size_t)i, "day", b);
		fmt_count(b, sizeof(b), v[i]);
		tmpl_set_row(r, "Chart.Points", (size_t)i, "value", b);
		if (cost_total > 0)
			tmpl_set_row(r, "Chart.Points", (size_t)i, "cost",
			    page_usd(r, cost[i]));
	}
}

/* The chart's name and its description in words, for screen readers. */
static void
page_chart_words(struct req *r, const struct page_usage *u, int n,
    long long day0, long long total, int busiest, long long most)
{
	const struct page_metric	*m = u->metric;
	char				 all[48], top[40], day[32], from[32],
					 to[32];

	fmt_plural(all, sizeof(all), total, m->one, m->many);
	fmt_count(top, sizeof(top), most);
	fmt_day(day, sizeof(day), day0 + busiest * PAGE_DAY);
	fmt_day(from, sizeof(from), day0);
	fmt_day(to, sizeof(to), day0 + (n - 1) * PAGE_DAY);
	tmpl_set(r, "Chart.title", arena_printf(&r->arena, "%s per day",
	    m->label));
	tmpl_set(r, "Chart.desc", arena_printf(&r->arena, "Bar chart of %d "
	    "days, %s to %s: %s in all; the busiest day was %s, with %s.", n,
	    from, to, all, day, top));
	tmpl_set(r, "Chart.total", all);
}

/* The frame: the viewBox, the plot's edges, where labels stand. */
static void
page_chart_frame(struct req *r)
{
	tmpl_set(r, "Chart.drawn", "1");
	tmpl_set_int(r, "Chart.w", CHART_W);
	tmpl_set_int(r, "Chart.h", CHART_H);
	tmpl_set_int(r, "Chart.left", CHART_LEFT);
	tmpl_set_int(r, "Chart.right", CHART_RIGHT);
	tmpl_set_int(r, "Chart.bottom", CHART_BOTTOM);
	tmpl_set_int(r, "Chart.label_x", CHART_LEFT - 8);
	tmpl_set_int(r, "Chart.label_y", CHART_BOTTOM + 26);
}

/*
 * The daily chart of the chosen metric over the period's days (at most
 * CHART_DAYS_MAX), from its daily series (res).  Nothing is set when
 * nothing was used: the template says so instead.
 */
static void
page_usage_chart(struct req *r, const struct page_usage *u,
    const struct pg_result *res)
{
	long long		 v[CHART_DAYS_MAX], cost[CHART_DAYS_MAX];
	long long		 day0, t, most = 0, total = 0, ctotal = 0, step;
	int			 n, i, k, busiest = 0;

	day0 = fmt_parse_ts(u->start);
	day0 -= day0 % PAGE_DAY;
	t = fmt_parse_ts(u->end);
	n = (int)((t - t % PAGE_DAY - day0) / PAGE_DAY);
	n = n < 1 ? 1 : n > CHART_DAYS_MAX ? CHART_DAYS_MAX : n;
	memset(v, 0, sizeof(v));
	memset(cost, 0, sizeof(cost));
	for (i = 0; i < db_nrows(res); i++) {
		k = (int)((fmt_parse_ts(db_get(res, i, 0)) - day0) / PAGE_DAY);
		if (k < 0 || k >= n)
			continue;
		v[k] += db_int(res, i, 1);
		cost[k] += db_int(res, i, 2);
		total += db_int(res, i, 1);
		ctotal += db_int(res, i, 2);
		if (v[k] > most) {
			most = v[k];
			busiest = k;
		}
	}
	if (total == 0)
		return;
	step = page_chart_step(most);
	page_chart_frame(r);
	page_chart_axes(r, day0, n, step);
	page_chart_bars(r, u->metric, day0, v, n, step * CHART_STEPS);
	page_chart_points(r, day0, v, cost, n, ctotal);
	page_chart_words(r, u, n, day0, total, busiest, most);
}

/* The chart's metric chooser, Chart.Metrics.<i>, keeping the period. */
static void
page_chart_metrics(struct req *r, const struct page_usage *u)
{
	size_t	 i;

	for (i = 0; i < sizeof(page_metrics) / sizeof(page_metrics[0]); i++) {
		tmpl_set_row(r, "Chart.Metrics", i, "id", page_metrics[i].id);
		tmpl_set_row(r, "Chart.Metrics", i, "label",
		    page_metrics[i].label);
		if (&page_metrics[i] == u->metric)
			tmpl_set_row(r, "Chart.Metrics", i, "selected", "1");
	}
	tmpl_set(r, "Chart.metric", u->metric->id);
	tmpl_set(r, "Chart.metric_label", u->metric->label);
}

/* An agent's budget cells: amount and action, status and share. */
static void
page_usage_budget(struct req *r, size_t i, long long limit, long long cost,
    const char *action)
{
	enum budget_status	 s = quota_budget_status(limit, cost);
	char			 b[16];

	tmpl_set_row(r, "UsageAgents", i, "status", quota_budget_name(s));
	tmpl_set_row(r, "UsageAgents", i, "status_label",
	    quota_budget_label(s));
	if (s == BUDGET_NONE)
		return;
	tmpl_set_row(r, "UsageAgents", i, "budget", page_usd(r, limit));
	tmpl_set_row(r, "UsageAgents", i, "action_label", action != NULL &&
	    strcmp(action, "alert") == 0 ? "alerts only" : "blocks usage");
	if (limit > 0) {
		fmt_percent(b, sizeof(b), cost, limit);
		tmpl_set_row(r, "UsageAgents", i, "percent", b);
	}
}

/*
 * Per agent, UsageAgents.<i>: tokens, runs, cost, budget and status,
 * from db_usage_agents()'s result.
 */
static void
page_usage_agents(struct req *r, const struct pg_result *res)
{
	char		 b[40];
	long long	 lim;
	int		 i;

	for (i = 0; i < db_nrows(res); i++) {
		tmpl_set_row(r, "UsageAgents", (size_t)i, "id",
		    db_get(res, i, 0));
		tmpl_set_row(r, "UsageAgents", (size_t)i, "name",
		    db_get(res, i, 1));
		if (db_bool(res, i, 2))
			tmpl_set_row(r, "UsageAgents", (size_t)i, "active", "1");
		fmt_count(b, sizeof(b), db_int(res, i, 3));
		tmpl_set_row(r, "UsageAgents", (size_t)i, "tokens", b);
		fmt_count(b, sizeof(b), db_int(res, i, 4));
		tmpl_set_row(r, "UsageAgents", (size_t)i, "executions", b);
		tmpl_set_row(r, "UsageAgents", (size_t)i, "cost", page_usd(r,
		    db_int(res, i, 5)));
		lim = db_get(res, i, 6) == NULL ? -1 : db_int(res, i, 6);
		page_usage_budget(r, (size_t)i, lim, db_int(res, i, 5),
		    db_get(res, i, 7));
	}
}

/* One row of a grouped table: names, amount, cost and share. */
static void
page_usage_by_row(struct req *r, const char *node, size_t i,
    const char *key, long long value, long long cost, long long total)
{
	const char	*slash;
	char		 b[40];

	if (strcmp(node, "UsageModels") == 0 &&
	    (slash = strchr(key, '/')) != NULL) {
		tmpl_set_row(r, node, i, "name", slash + 1);
		key = arena_strndup(&r->arena, key, (size_t)(slash - key));
	} else if (strcmp(node, "UsageChannels") == 0)
		tmpl_set_row(r, node, i, "name", key);
	if (strcmp(node, "UsageChannels") != 0)
		tmpl_set_row(r, node, i, "provider", page_provider_name(r, key));
	fmt_count(b, sizeof(b), value);
	tmpl_set_row(r, node, i, "value", b);
	tmpl_set_row(r, node, i, "cost", page_usd(r, cost));
	fmt_percent(b, sizeof(b), cost, total);
	tmpl_set_row(r, node, i, "share", cost > 0 && cost * 100 < total ?
	    "<1%" : b);
}

/*
 * The period's rollup grouped by one dimension (db_usage_by()'s result)
 * into node.<i> (no rows for NULL); *total: its cost.
 */
static void
page_usage_by(struct req *r, const struct pg_result *res, const char *node,
    long long *total)
{
	int	 i;

	*total = 0;
	for (i = 0; i < db_nrows(res); i++)
		*total += db_int(res, i, 2);
	for (i = 0; node != NULL && i < db_nrows(res); i++)
		page_usage_by_row(r, node, (size_t)i, db_get(res, i, 0),
		    db_int(res, i, 1), db_int(res, i, 2), *total);
}

/* An alert's subject in words: a quota, or an agent's budget. */
static void
page_usage_alert(struct req *r, size_t i, const struct pg_result *res,
    int row, const struct pg_result *agents)
{
	const char	*subject = db_get(res, row, 0), *name = NULL;
	char		 v[40], l[40];
	int		 a;

	if (strncmp(subject, "agent:", 6) != 0) {
		tmpl_set_row(r, "UsageAlerts", i, "what", page_metric_label(r,
		    subject));
		fmt_count(v, sizeof(v), db_int(res, row, 2));
		fmt_count(l, sizeof(l), db_int(res, row, 3));
		tmpl_set_row(r, "UsageAlerts", i, "detail", arena_printf(
		    &r->arena, "%s of %s included", v, l));
		return;
	}
	for (a = 0; a < db_nrows(agents) && name == NULL; a++)
		if (strcmp(db_get(agents, a, 0), subject + 6) == 0)
			name = db_get(agents, a, 1);
	tmpl_set_row(r, "UsageAlerts", i, "what", arena_printf(&r->arena,
	    "Budget of \xe2\x80\x9c%s\xe2\x80\x9d", name != NULL ? name :
	    "an agent"));
	tmpl_set_row(r, "UsageAlerts", i, "detail", arena_printf(&r->arena,
	    "%s of %s", page_usd(r, db_int(res, row, 2)), page_usd(r,
	    db_int(res, row, 3))));
}

/* The thresholds the period crossed, UsageAlerts.<i>, newest first. */
static void
page_usage_alerts(struct req *r, const struct pg_result *res,
    const struct pg_result *agents)
{
	int	 i;

	for (i = 0; i < db_nrows(res); i++) {
		page_usage_alert(r, (size_t)i, res, i, agents);
		tmpl_set_row(r, "UsageAlerts", (size_t)i, "threshold",
		    arena_printf(&r->arena, "%lld%%", db_int(res, i, 1)));
		if (db_int(res, i, 1) >= 100)
			tmpl_set_row(r, "UsageAlerts", (size_t)i, "over", "1");
		page_row_time(r, "UsageAlerts", (size_t)i, "at",
		    db_get(res, i, 4));
	}
}

/* The period's gateway calls by provider and model. */
static int
page_usage_gateway(struct req *r, const struct page_usage *u)
{
	struct pg_result	*res;
	enum db_rc		 rc;
	char			 b[40];
	int			 i;

	if ((rc = db_gateway_usage(r, u->start, u->end, &res)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	for (i = 0; i < db_nrows(res); i++) {
		tmpl_set_row(r, "Gateway", (size_t)i, "provider",
		    page_provider_name(r, db_get(res, i, 0)));
		tmpl_set_row(r, "Gateway", (size_t)i, "model",
		    db_get(res, i, 1));
		fmt_count(b, sizeof(b), db_int(res, i, 2));
		tmpl_set_row(r, "Gateway", (size_t)i, "calls", b);
		if (db_int(res, i, 3) > 0) {
			fmt_count(b, sizeof(b), db_int(res, i, 3));
			tmpl_set_row(r, "Gateway", (size_t)i, "failed", b);
		}
		fmt_count(b, sizeof(b), db_int(res, i, 4));
		tmpl_set_row(r, "Gateway", (size_t)i, "tokens", b);
		/* Exact: one call costs fractions of a cent. */
		fmt_usd_micros(b, sizeof(b), db_int(res, i, 5));
		tmpl_set_row(r, "Gateway", (size_t)i, "cost", b);
		tmpl_set_row(r, "Gateway", (size_t)i, "latency", arena_printf(
		    &r->arena, "%lld ms", db_int(res, i, 6)));
	}
	return 0;
}

/*
 * Which period and metric the query names: ?period= current (the
 * default) or YYYY-MM, ?metric= one of the four (default llm_tokens).
 * -1 with the 400 page answered.
 */
static int
page_usage_args(struct req *r, struct page_usage *u)
{
	struct fail	 f;
	const char	*p = http_kv_get(&r->args, "period");
	const char	*m = http_kv_get(&r->args, "metric");

	if ((u->metric = page_metric(m != NULL ? m : "llm_tokens")) == NULL) {
		req_error(r, 400, NULL, "invalid_value", "metric is not a "
		    "metric (llm_tokens, agent_executions, api_calls, "
		    "messages).", "metric");
		return -1;
	}
	if (usage_period(r, &f, p, &u->start, &u->end) == -1) {
		acct_answer(r, &f);
		return -1;
	}
	u->period = p != NULL ? p : "current";
	return 0;
}

void
page_usage(struct req *r)
{
	struct page_usage	 u;
	struct pg_result	*res[USAGE_PAGE__MAX];
	long long		 overage, llm, msgs, models;
	enum db_rc		 rc;

	if (page_usage_args(r, &u) == -1) {
		page_layout(r, "Usage", "usage");
		return;
	}
	/*
	 * The period's reads are independent: one round trip, which
	 * carries the layout's seats too.
	 */
	if ((rc = db_usage_page(r, u.start, u.end, u.metric->id, res)) !=
	    DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	page_layout_seats(r, "Usage", "usage", res[USAGE_PAGE_SEATS]);
	tmpl_set(r, "Usage.period", u.period);
	page_usage_periods(r, &u);
	page_usage_span(r, "Usage", &u);
	page_usage_quotas(r, res[USAGE_PAGE_METRICS], 0, &overage);
	page_usage_chart(r, &u, res[USAGE_PAGE_SERIES]);
	page_usage_agents(r, res[USAGE_PAGE_AGENTS]);
	page_usage_by(r, res[USAGE_PAGE_PROVIDERS], "UsageProviders", &llm);
	page_usage_by(r, res[USAGE_PAGE_MODELS], "UsageModels", &models);
	page_usage_by(r, res[USAGE_PAGE_CHANNELS], "UsageChannels", &msgs);
	page_usage_alerts(r, res[USAGE_PAGE_ALERTS], res[USAGE_PAGE_AGENTS]);
	page_chart_metrics(r, &u);
	if (page_storage_part(r) == -1 || page_usage_gateway(r, &u) == -1)
		return;
	tmpl_set(r, "Usage.llm_cost", page_usd(r, llm));
	if (overage > 0)
		tmpl_set(r, "Usage.overage", page_usd(r, overage));
	tmpl_render(r, 200, "usage.cs");
}

/* GET /usage/export.csv?period=: the API's export, for a session. */
void
page_usage_export(struct req *r)
{
	struct fail	 f;
	const char	*start, *end;

	if (usage_period(r, &f, http_kv_get(&r->args, "period"), &start,
	    &end) == -1 || usage_export(r, &f, start, end) == -1)
		acct_answer(r, &f);
}

/* The dashboard's spend card: the LLM cost and the costliest agent. */
static int
page_usage_spend(struct req *r, const struct page_usage *u)
{
	struct pg_result	*res;
	long long		 llm;
	enum db_rc		 rc;

	if ((rc = db_usage_by(r, "provider", u->start, u->end, &res)) !=
	    DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	page_usage_by(r, res, NULL, &llm);
	tmpl_set(r, "Spend.total", page_usd(r, llm));
	if (llm > 0)
		tmpl_set(r, "Spend.any", "1");
	if ((rc = db_usage_agents(r, u->start, u->end, &res)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	/* Ordered by cost: the first is the costliest. */
	if (db_nrows(res) > 0 && db_int(res, 0, 5) > 0) {
		tmpl_set(r, "Spend.agent", db_get(res, 0, 1));
		tmpl_set(r, "Spend.agent_cost", page_usd(r, db_int(res, 0,
		    5)));
	}
	return 0;
}

/*
 * The dashboard's cards: this period's quotas, fullest first, and its
 * spend.  -1 with the error answered.
 */
int
page_usage_cards(struct req *r)
{
	struct page_usage	 u;
	struct fail		 f;
	struct pg_result	*res;
	long long		 overage;
	enum db_rc		 rc;

	memset(&u, 0, sizeof(u));
	u.period = "current";
	if (usage_period(r, &f, NULL, &u.start, &u.end) == -1) {
		acct_answer(r, &f);
		return -1;
	}
	page_usage_span(r, "Spend", &u);
	if ((rc = db_usage_metrics(r, u.start, u.end, &res)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	page_usage_quotas(r, res, 1, &overage);
	if (page_usage_spend(r, &u) == -1)
		return -1;
	if (overage > 0)
		tmpl_set(r, "Spend.overage", page_usd(r, overage));
	return 0;
}
