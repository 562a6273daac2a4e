/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Unit tests of the portal's formatting layer (fmt.c): every formatter
 * on ordinary values, edges (0, 1, negative, the largest) and input it
 * must not trust.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tollgate.h"

static void
test_dates(void **state)
{
	char		 b[64];
	long long	 t;

	t = fmt_parse_ts("2026-12-02T06:45:03Z");
	assert_int_equal(t, 1796193903LL);
	fmt_date(b, sizeof(b), t);
	assert_string_equal(b, "2 Dec 2026, 06:45 UTC");
	assert_int_equal(fmt_parse_ts("2026-12-02 06:45:03"), -1);
	assert_int_equal(fmt_parse_ts("2026-12-02T06:45:03+01:00"), -1);
	assert_int_equal(fmt_parse_ts(NULL), -1);
	fmt_date(b, sizeof(b), -1);
	assert_string_equal(b, "");
	/* A small buffer truncates, never overflows. */
	fmt_date(b, 6, t);
	assert_string_equal(b, "2 Dec");
	/* The day alone, for trial ends and renewals. */
	fmt_day(b, sizeof(b), t);
	assert_string_equal(b, "2 Dec 2026");
	fmt_day(b, sizeof(b), -1);
	assert_string_equal(b, "");
	/* A chart's axis and a period chooser. */
	fmt_day_short(b, sizeof(b), t);
	assert_string_equal(b, "2 Dec");
	fmt_day_short(b, sizeof(b), -1);
	assert_string_equal(b, "");
	fmt_month(b, sizeof(b), t);
	assert_string_equal(b, "Dec 2026");
	fmt_month(b, sizeof(b), fmt_parse_ts("2027-01-31T23:59:59Z"));
	assert_string_equal(b, "Jan 2027");
	fmt_month(b, 4, t);
	assert_string_equal(b, "Dec");
	fmt_month(b, sizeof(b), -1);
	assert_string_equal(b, "");
}

static void
test_ago(void **state)
{
	char		 b[64];
	long long	 now = 1796193903LL;

	fmt_ago(b, sizeof(b), now - 5, now);
	assert_string_equal(b, "just now");
	fmt_ago(b, sizeof(b), now - 180, now);
	assert_string_equal(b, "3 min ago");
	fmt_ago(b, sizeof(b), now - 5 * 3600 - 10, now);
	assert_string_equal(b, "5 h ago");
	fmt_ago(b, sizeof(b), now - 86400, now);
	assert_string_equal(b, "1 day ago");
	fmt_ago(b, sizeof(b), now + 6 * 86400 + 5, now);
	assert_string_equal(b, "in 6 days");
	fmt_ago(b, sizeof(b), now - 40 * 86400LL, now);
	assert_string_equal(b, "23 Oct 2026, 06:45 UTC");
}

static void
test_counts(void **state)
{
	char	 b[64];

	fmt_count(b, sizeof(b), 0);
	assert_string_equal(b, "0");
	fmt_count(b, sizeof(b), 999);
	assert_string_equal(b, "999");
	fmt_count(b, sizeof(b), 1000);
	assert_string_equal(b, "1,000");
	fmt_count(b, sizeof(b), -1234567);
	assert_string_equal(b, "-1,234,567");
	fmt_count(b, sizeof(b), INT64_MIN);
	assert_string_equal(b, "-9,223,372,036,854,775,808");
	fmt_count(b, 4, 123456);
	assert_string_equal(b, "123");
	fmt_plural(b, sizeof(b), 1, "member", "members");
	assert_string_equal(b, "1 member");
	fmt_plural(b, sizeof(b), 0, "member", "members");
	assert_string_equal(b, "0 members");
	fmt_plural(b, sizeof(b), 12400, "event", "events");
	assert_string_equal(b, "12,400 events");
	/* Short counts round down and keep one decimal below 10 only. */
	fmt_count_short(b, sizeof(b), 0);
	assert_string_equal(b, "0");
	fmt_count_short(b, sizeof(b), 999);
	assert_string_equal(b, "999");
	fmt_count_short(b, sizeof(b), 1000);
	assert_string_equal(b, "1k");
	fmt_count_short(b, sizeof(b), 1599);
	assert_string_equal(b, "1.5k");
	fmt_count_short(b, sizeof(b), 12900);
	assert_string_equal(b, "12k");
	fmt_count_short(b, sizeof(b), 999999);
	assert_string_equal(b, "999k");
	fmt_count_short(b, sizeof(b), 2500000);
	assert_string_equal(b, "2.5M");
	fmt_count_short(b, sizeof(b), -3200000000LL);
	assert_string_equal(b, "-3.2B");
	fmt_count_short(b, sizeof(b), INT64_MIN);
	assert_string_equal(b, "-9223372036B");
	fmt_count_short(b, 3, 1500);
	assert_string_equal(b, "1.");
}

static void
test_money(void **state)
{
	char	 b[64];

	fmt_money(b, sizeof(b), 123450, "usd");
	assert_string_equal(b, "$1,234.50");
	fmt_money(b, sizeof(b), 5, "USD");
	assert_string_equal(b, "$0.05");
	fmt_money(b, sizeof(b), -1999, "eur");
	assert_string_equal(b, "-\xe2\x82\xac" "19.99");
	fmt_money(b, sizeof(b), 1200, "jpy");
	assert_string_equal(b, "\xc2\xa5" "1,200");
	fmt_money(b, sizeof(b), 123456, "chf");
	assert_string_equal(b, "1,234.56 CHF");
	fmt_money(b, sizeof(b), 0, "gbp");
	assert_string_equal(b, "\xc2\xa3" "0.00");
	/* Unit prices in micro-USD keep their precision. */
	fmt_usd_micros(b, sizeof(b), 10000);
	assert_string_equal(b, "$0.01");
	fmt_usd_micros(b, sizeof(b), 800);
	assert_string_equal(b, "$0.0008");
	fmt_usd_micros(b, sizeof(b), 1500000);
	assert_string_equal(b, "$1.50");
	fmt_usd_micros(b, sizeof(b), 1234567890);
	assert_string_equal(b, "$1,234.56789");
}

static void
test_percent_status(void **state)
{
	char	 b[64];

	fmt_percent(b, sizeof(b), 79, 100);
	assert_string_equal(b, "79%");
	fmt_percent(b, sizeof(b), 999, 1000);
	assert_string_equal(b, "99%");
	fmt_percent(b, sizeof(b), 1200, 1000);
	assert_string_equal(b, "120%");
	fmt_percent(b, sizeof(b), 5, 0);
	assert_string_equal(b, "-");
	fmt_status(b, sizeof(b), "past_due");
	assert_string_equal(b, "Past due");
	fmt_status(b, sizeof(b), "active");
	assert_string_equal(b, "Active");
	fmt_status(b, sizeof(b), "<script>");
	assert_string_equal(b, "Unknown");
	fmt_status(b, sizeof(b), "");
	assert_string_equal(b, "Unknown");
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_ago),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_money),
		cmocka_unit_test(test_percent_status),
	};

	return cmocka_run_group_tests_name("unit-fmt", tests, NULL, NULL);
}
