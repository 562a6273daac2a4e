/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Unit tests of the agents' budgets (quota.c): the budget status at the
 * points SPEC 4 names (no budget, 0, 50, 79, 80, 95, 100 and 120 per
 * cent, and a zero budget), and the exact conversions between decimal
 * USD and micro-USD, with the amounts they must refuse; and the checks
 * of an agent's fields that use them (agent.c, pure), from JSON and
 * from a form.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tollgate.h"

#define USD	1000000LL	/* micro-USD */

static void
test_budget_percentages(void **state)
{
	static const struct {
		long long		 spent;	/* of a $100 budget */
		enum budget_status	 want;
	} cases[] = {
		{ 0, BUDGET_OK },
		{ 50 * USD, BUDGET_OK },
		{ 79 * USD, BUDGET_OK },
		{ 80 * USD - 1, BUDGET_OK },
		{ 80 * USD, BUDGET_WARNING },
		{ 95 * USD, BUDGET_WARNING },
		{ 100 * USD - 1, BUDGET_WARNING },	/* 99.99999 % */
		{ 100 * USD, BUDGET_EXCEEDED },
		{ 120 * USD, BUDGET_EXCEEDED },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (quota_budget_status(100 * USD, cases[i].spent) !=
		    cases[i].want)
			fail_msg("spent %lld of $100: %s, want %s",
			    cases[i].spent, quota_budget_name(
			    quota_budget_status(100 * USD, cases[i].spent)),
			    quota_budget_name(cases[i].want));
}

static void
test_budget_edges(void **state)
{
	(void)state;
	/* No budget: whatever was spent. */
	assert_int_equal(quota_budget_status(-1, 0), BUDGET_NONE);
	assert_int_equal(quota_budget_status(-1, 120 * USD), BUDGET_NONE);
	/* A zero budget allows nothing: exceeded before any spending. */
	assert_int_equal(quota_budget_status(0, 0), BUDGET_EXCEEDED);
	assert_int_equal(quota_budget_status(0, 1), BUDGET_EXCEEDED);
	/* The smallest budgets, where 80 % is not a whole micro-USD. */
	assert_int_equal(quota_budget_status(1, 0), BUDGET_OK);
	assert_int_equal(quota_budget_status(1, 1), BUDGET_EXCEEDED);
	assert_int_equal(quota_budget_status(4, 3), BUDGET_OK); /* 75 % */
	assert_int_equal(quota_budget_status(5, 4), BUDGET_WARNING);
	assert_int_equal(quota_budget_status(6, 4), BUDGET_OK); /* 66 % */
	assert_int_equal(quota_budget_status(6, 5), BUDGET_WARNING);
	/* A refund below zero counts as nothing spent. */
	assert_int_equal(quota_budget_status(10, -5), BUDGET_OK);
	/* The largest bigint: no overflow on the way. */
	assert_int_equal(quota_budget_status(INT64_MAX, INT64_MAX / 5 * 4 +
	    3), BUDGET_WARNING);
	assert_int_equal(quota_budget_status(INT64_MAX, INT64_MAX / 2),
	    BUDGET_OK);
	assert_int_equal(quota_budget_status(INT64_MAX, INT64_MAX),
	    BUDGET_EXCEEDED);
}

static void
test_budget_names(void **state)
{
	(void)state;
	assert_string_equal(quota_budget_name(BUDGET_NONE), "none");
	assert_string_equal(quota_budget_name(BUDGET_OK), "ok");
	assert_string_equal(quota_budget_name(BUDGET_WARNING), "warning");
	assert_string_equal(quota_budget_name(BUDGET_EXCEEDED), "exceeded");
	assert_string_equal(quota_budget_name(BUDGET__MAX), "none");
}

static void
test_usd_valid(void **state)
{
	static const struct {
		const char	*text;
		long long	 micros;
	} cases[] = {
		{ "0", 0 },
		{ "12", 12 * USD },
		{ "12.5", 12 * USD + 500000 },
		{ "12.50", 12 * USD + 500000 },
		{ "0.000001", 1 },
		{ "0.1", 100000 },
		{ "007.25", 7 * USD + 250000 },
		{ "999999999.999999", 999999999 * USD + 999999 },
		{ "1000000000", 1000000000 * USD },
		{ "1000000000.000000", 1000000000 * USD },
	};
	long long	 got;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = -42;
		if (quota_usd_to_micros(cases[i].text, &got) != 0)
			fail_msg("\"%s\" refused", cases[i].text);
		if (got != cases[i].micros)
			fail_msg("\"%s\": %lld, want %lld", cases[i].text, got,
			    cases[i].micros);
	}
}

static void
test_usd_invalid(void **state)
{
	static const char *const	bad[] = {
		"", "-1", "+1", "-0", "1e3", "1E3", "1.5e2", "1.0000001",
		"0.0000001", "abc", "12abc", "1.", ".5", ".", " 1", "1 ",
		"1,5", "1.2.3", "0x10", "NaN", "Infinity", "1000000000.000001",
		"1000000001", "99999999999999999999999999",
		"00000000000000000000001000000000.5",
	};
	long long	 got = -42;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (quota_usd_to_micros(bad[i], &got) != -1)
			fail_msg("\"%s\" accepted as %lld", bad[i], got);
	assert_int_equal(quota_usd_to_micros(NULL, &got), -1);
	/* A refusal leaves the output alone. */
	assert_int_equal(got, -42);
}

static void
test_usd_format(void **state)
{
	static const struct {
		long long	 micros;
		const char	*text;
	} cases[] = {
		{ 0, "0" },
		{ 1, "0.000001" },
		{ 100000, "0.1" },
		{ 12 * USD, "12" },
		{ 12 * USD + 500000, "12.5" },
		{ 12 * USD + 10, "12.00001" },
		{ 1000000000 * USD, "1000000000" },
		{ -1500000, "-1.5" },
	};
	char		 b[64];
	long long	 back;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		quota_micros_to_usd(cases[i].micros, b, sizeof(b));
		assert_string_equal(b, cases[i].text);
		/* Read back, the same amount. */
		if (cases[i].micros >= 0) {
			assert_int_equal(quota_usd_to_micros(b, &back), 0);
			assert_int_equal(back, cases[i].micros);
		}
	}
	quota_micros_to_usd(INT64_MIN, b, sizeof(b));
	assert_string_equal(b, "-9223372036854.775808");
	/* A small buffer truncates, never overflows. */
	quota_micros_to_usd(12 * USD + 500000, b, 3);
	assert_string_equal(b, "12");
}

/*
 * agent_json() on a body text: 0 or -1, the failure's param.  The
 * change borrows from the parsed body, which is kept until the next
 * call (NULL text: just free it).
 */
static int
fields_json(const char *text, int create, struct agent_change *c,
    const char **param)
{
	static struct json_object	*o;
	static struct vfail		 f;

	json_object_put(o);
	o = NULL;
	if (text == NULL)
		return 0;
	o = json_tokener_parse(text);
	assert_non_null(o);
	memset(&f, 0, sizeof(f));
	*param = NULL;
	if (agent_json(o, create, c, &f) == -1) {
		*param = f.param;
		return -1;
	}
	return 0;
}

static void
test_agent_json(void **state)
{
	struct agent_change	 c;
	const char		*param;

	(void)state;
	assert_int_equal(fields_json("{\"name\": \"a\", \"budget_limit_usd\": "
	    "12.50, \"budget_action\": \"alert\"}", 1, &c, &param), 0);
	assert_true(c.set_budget);
	assert_int_equal(c.budget_micros, 12500000);
	assert_string_equal(c.budget_action, "alert");
	assert_int_equal(c.active, -1);
	/* A number is read from the digits sent, never as a double. */
	assert_int_equal(fields_json("{\"name\": \"a\", \"budget_limit_usd\": "
	    "0.000001}", 1, &c, &param), 0);
	assert_int_equal(c.budget_micros, 1);
	assert_int_equal(fields_json("{\"name\": \"a\", \"budget_limit_usd\": "
	    "1e3}", 1, &c, &param), -1);
	assert_string_equal(param, "budget_limit_usd");
	/* null removes a budget; only a change may set "active". */
	assert_int_equal(fields_json("{\"budget_limit_usd\": null, \"active\": "
	    "false}", 0, &c, &param), 0);
	assert_true(c.set_budget);
	assert_int_equal(c.budget_micros, -1);
	assert_int_equal(c.active, 0);
	assert_null(c.name);
	assert_int_equal(fields_json("{\"name\": \"a\", \"active\": true}", 1,
	    &c, &param), -1);
	assert_string_equal(param, "active");
	assert_int_equal(fields_json("{}", 0, &c, &param), -1);
	assert_int_equal(fields_json("{\"budget_limit_usd\": 5}", 1, &c,
	    &param), -1);
	assert_string_equal(param, "name");
	assert_int_equal(fields_json("{\"name\": \"a\\u0000b\"}", 1, &c,
	    &param), -1);
	assert_string_equal(param, "name");
	fields_json(NULL, 0, &c, &param);
}

static void
test_agent_form(void **state)
{
	struct agent_change	 c;
	struct vfail		 f[4];
	struct kv		 kv[3];
	struct kvlist		 kl = { kv, 3 };

	(void)state;
	kv[0] = (struct kv){ "name", "web", 3 };
	kv[1] = (struct kv){ "budget_limit_usd", "", 0 };
	kv[2] = (struct kv){ "budget_action", "", 0 };
	/* An empty budget is none; an empty action leaves it as it is. */
	assert_int_equal(agent_form(&kl, 1, &c, f, 4), 0);
	assert_string_equal(c.name, "web");
	assert_true(c.set_budget);
	assert_int_equal(c.budget_micros, -1);
	assert_null(c.budget_action);
	/* Every failure at once. */
	kv[0] = (struct kv){ "name", "", 0 };
	kv[1] = (struct kv){ "budget_limit_usd", "1.", 2 };
	kv[2] = (struct kv){ "budget_action", "maybe", 5 };
	assert_int_equal(agent_form(&kl, 1, &c, f, 4), 3);
	assert_string_equal(f[0].param, "name");
	assert_string_equal(f[1].param, "budget_limit_usd");
	assert_string_equal(f[2].param, "budget_action");
	/* A NUL inside a value (%00) is refused, not cut short. */
	kv[0] = (struct kv){ "name", "we", 3 };
	kv[1] = (struct kv){ "budget_limit_usd", "5", 1 };
	kv[2] = (struct kv){ "budget_action", "block", 5 };
	assert_int_equal(agent_form(&kl, 1, &c, f, 4), 1);
	assert_string_equal(f[0].param, "name");
	/* A change carries what its form has; a create needs a name. */
	kl.n = 0;
	assert_int_equal(agent_form(&kl, 0, &c, f, 4), 0);
	assert_false(c.set_budget);
	assert_int_equal(agent_form(&kl, 1, &c, f, 4), 1);
	assert_string_equal(f[0].code, "missing_parameter");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_percentages),
		cmocka_unit_test(test_budget_edges),
		cmocka_unit_test(test_budget_names),
		cmocka_unit_test(test_usd_valid),
		cmocka_unit_test(test_usd_invalid),
		cmocka_unit_test(test_usd_format),
		cmocka_unit_test(test_agent_json),
		cmocka_unit_test(test_agent_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
