/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: the portal's /usage, /usage/export.csv and the
 * dashboard's usage and spend cards over real HTTP.  A tenant reports
 * LLM calls of an agent at two providers and messages on a channel
 * (through the API, with its owner's token); its owner's session then
 * sees the meters, the chart with its table, the agent's cost and
 * budget status, the providers, models and channel (escaped), and the
 * CSV, byte for byte the API's export; a bad period or metric is a 400
 * page; without a session the CSV is not given; another tenant sees
 * none of it, only the empty states.
 *
 * Each test registers tenants of its own, from a loopback address of
 * its own (it_client_new()), under the free plan's limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "it-util.h"

#define API		"/api/v1"
#define JSON		"application/json"

/* The page must (want) or must not hold needle. */
static void
expect_in(const struct it_resp *r, const char *needle, int want,
    const char *what)
{
	int	 got = r->body != NULL && strstr(r->body, needle) != NULL;

	if (got != want)
		it_deferred_fail("%s: \"%s\" %s the page", what, needle, want ?
		    "is not on" : "is on");
}

/*
 * The tenant's usage: an agent with a budget of $5, two LLM calls
 * priced by the caller ($1.234567 at OpenAI, $0.50 at Anthropic, 6,000
 * tokens in all), 7 messages on a channel whose id needs escaping.
 */
static void
report_usage(const struct it_owner *o)
{
	struct it_resp	 r;
	char		 agent[64], body[2048];

	it_http(&r, "POST", API "/agents", NULL, o->access, JSON,
	    "{\"name\": \"IT <agent>\", \"budget_limit_usd\": \"5\"}");
	it_expect_status(&r, 201);
	it_copy_str(agent, sizeof(agent), &r, "id");
	it_response_free(&r);
	snprintf(body, sizeof(body), "{\"events\": ["
	    "{\"id\": \"p-1\", \"metric\": \"llm_tokens\", \"value\": 4000, "
	    "\"agent_id\": \"%s\", \"properties\": {\"provider\": \"openai\", "
	    "\"model\": \"gpt-4o\", \"prompt_tokens\": 3000, "
	    "\"completion_tokens\": 1000, \"cost_micros\": 1234567}}, "
	    "{\"id\": \"p-2\", \"metric\": \"llm_tokens\", \"value\": 2000, "
	    "\"agent_id\": \"%s\", \"properties\": {\"provider\": "
	    "\"anthropic\", \"model\": \"claude-sonnet-4\", "
	    "\"prompt_tokens\": 1500, \"completion_tokens\": 500, "
	    "\"cost_micros\": 500000}}, "
	    "{\"id\": \"p-3\", \"metric\": \"messages\", \"value\": 7, "
	    "\"properties\": {\"channel_id\": \"C<b>1\"}}]}", agent, agent);
	it_http(&r, "POST", API "/usage/events", NULL, o->access, JSON, body);
	it_expect_status(&r, 200);
	it_response_free(&r);
}

static void
test_usage_page(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	char		 session[IT_COOKIE_MAX + 16];

	(void)state;
	it_owner_new(&o, "usage-page", "page");
	report_usage(&o);
	it_portal_login(o.email, o.password, session, sizeof(session));
	it_http(&r, "GET", "/usage", session, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	expect_in(&r, "aria-current=\"page\">Current period</a>", 1,
	    "the period chooser");
	expect_in(&r, "href=\"/usage/export.csv?period=current\"", 1,
	    "the export link");
	/* The meter: 6,000 of the Free plan's 10,000 tokens. */
	expect_in(&r, "6,000 <span class=\"muted\">of 10,000</span>", 1,
	    "the tokens' meter");
	expect_in(&r, "<strong class=\"meter-pct\">60%</strong>", 1,
	    "the tokens' share");
	expect_in(&r, "usage beyond 12,000 is refused", 1, "the soft cap");
	/* The chart and its table. */
	expect_in(&r, "role=\"img\"", 1, "the chart");
	expect_in(&r, "<title id=\"chart-title\">LLM tokens per day</title>",
	    1, "the chart's name");
	expect_in(&r, "6,000 tokens in all", 1, "the chart's description");
	expect_in(&r, "The same data as a table", 1, "the chart's table");
	/* The agent, the providers, the models, the channel. */
	expect_in(&r, "IT &lt;agent&gt;", 1, "the agent, escaped");
	expect_in(&r, "IT <agent>", 0, "the agent, raw");
	expect_in(&r, "$1.73", 1, "the agent's cost and the LLM cost");
	expect_in(&r, "Within budget", 1, "the budget status");
	expect_in(&r, "<span class=\"muted small\">34%</span>", 1,
	    "the budget's share");
	expect_in(&r, "OpenAI", 1, "a provider");
	expect_in(&r, "claude-sonnet-4", 1, "a model");
	expect_in(&r, "C&lt;b&gt;1", 1, "the channel, escaped");
	it_response_free(&r);

	it_http(&r, "GET", "/usage?metric=messages", session, NULL, NULL,
	    NULL);
	it_expect_status(&r, 200);
	expect_in(&r, "Messages per day", 1, "the messages' chart");
	expect_in(&r, "7 messages in all", 1, "its description");
	it_response_free(&r);

	it_http(&r, "GET", "/usage?period=2026-13", session, NULL, NULL,
	    NULL);
	it_expect_status(&r, 400);
	expect_in(&r, "period must be", 1, "a bad period");
	it_response_free(&r);
	it_http(&r, "GET", "/usage?metric=bogus", session, NULL, NULL,
	    NULL);
	it_expect_status(&r, 400);
	it_response_free(&r);

	it_http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	expect_in(&r, "Spend this period", 1, "the spend card");
	expect_in(&r, "<p class=\"spend-total\">$1.73", 1, "the LLM cost");
	expect_in(&r, "<dt>Top agent</dt><dd>IT &lt;agent&gt;", 1,
	    "the top agent");
	expect_in(&r, "Usage this period", 1, "the usage card");
	expect_in(&r, "not built yet", 0, "no placeholder");
	it_response_free(&r);
	it_deferred_check();
}

/* The portal's CSV is the API's, for a session only. */
static void
test_export(void **state)
{
	struct it_resp	 r, api;
	struct it_owner	 o;
	char		 session[IT_COOKIE_MAX + 16];
	const char	*ct, *cd;

	(void)state;
	it_owner_new(&o, "usage-page", "csv");
	report_usage(&o);
	it_portal_login(o.email, o.password, session, sizeof(session));
	it_http(&r, "GET", "/usage/export.csv?period=current", session,
	    NULL, NULL, NULL);
	it_expect_status(&r, 200);
	ct = it_header(&r, "Content-Type");
	cd = it_header(&r, "Content-Disposition");
	if (ct == NULL || strncmp(ct, "text/csv", 8) != 0)
		it_deferred_fail("Content-Type %s, want text/csv", ct);
	if (cd == NULL || strstr(cd, "attachment; filename=\"usage-") == NULL)
		it_deferred_fail("Content-Disposition %s", cd);
	it_http(&api, "GET", API "/usage/export.csv?period=current", NULL,
	    o.access, NULL, NULL);
	it_expect_status(&api, 200);
	if (r.body_len != api.body_len || memcmp(r.body, api.body,
	    r.body_len) != 0)
		it_deferred_fail("the portal's CSV differs from the API's:\n"
		    "%.600s\n---\n%.600s", r.body, api.body);
	if (strstr(r.body, "\"C<b>1\"") == NULL && strstr(r.body, "C<b>1") ==
	    NULL)
		it_deferred_fail("no channel in the CSV: %.600s", r.body);
	it_response_free(&api);
	it_response_free(&r);

	it_http(&r, "GET", "/usage/export.csv?period=junk", session, NULL,
	    NULL, NULL);
	it_expect_status(&r, 400);
	it_response_free(&r);
	/* No session: the sign-in page, not the data. */
	it_http(&r, "GET", "/usage/export.csv", NULL, NULL, NULL, NULL);
	if (r.status == 200 || (r.body != NULL && strstr(r.body,
	    "day,agent_id") != NULL))
		it_deferred_fail("without a session: %ld %.200s", r.status,
		    r.body);
	it_response_free(&r);
	it_deferred_check();
}

/* Another tenant sees none of it: the empty states. */
static void
test_other_tenant(void **state)
{
	struct it_resp	 r;
	struct it_owner	 a, b;
	char		 session[IT_COOKIE_MAX + 16];

	(void)state;
	it_owner_new(&a, "usage-page", "mine");
	report_usage(&a);
	it_owner_new(&b, "usage-page", "theirs");
	it_portal_login(b.email, b.password, session, sizeof(session));
	it_http(&r, "GET", "/usage", session, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	expect_in(&r, "No usage in this period yet.", 1, "the empty chart");
	expect_in(&r, "No agents yet", 1, "no agents");
	expect_in(&r, "No LLM usage in this period yet.", 1, "no providers");
	expect_in(&r, "No messages in this period yet.", 1, "no channels");
	expect_in(&r, "IT &lt;agent&gt;", 0, "another tenant's agent");
	expect_in(&r, "C&lt;b&gt;1", 0, "another tenant's channel");
	it_response_free(&r);
	it_http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	expect_in(&r, "<p class=\"spend-total\">$0.00", 1, "nothing spent");
	it_response_free(&r);
	it_deferred_check();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_page),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_other_tenant),
	};

	it_init();
	it_client_init(64);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
