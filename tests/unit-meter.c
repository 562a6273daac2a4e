/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Unit tests of the pure parts of the meter reporting (meter.c): the
 * backoff between attempts of a report (30 s doubling, capped at an
 * hour), the client-side rate limit (calls at least 1/rate s apart,
 * never more than rate in a second) and the reconcile command's months.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tollgate.h"

static void
test_backoff(void **state)
{
	int	 i;

	(void)state;
	assert_int_equal(meter_backoff_s(0), 30);
	assert_int_equal(meter_backoff_s(1), 30);
	assert_int_equal(meter_backoff_s(2), 60);
	assert_int_equal(meter_backoff_s(3), 120);
	assert_int_equal(meter_backoff_s(7), 1920);
	assert_int_equal(meter_backoff_s(8), 3600);
	/* At the cap for ever after, whatever the count. */
	for (i = 9; i < 100000; i = i * 3)
		assert_int_equal(meter_backoff_s(i), 3600);
	assert_int_equal(meter_backoff_s(2147483647), 3600);
}

static void
test_rate(void **state)
{
	double	 next = 0, now = 1000000, starts[100];
	long	 wait;
	int	 i, j, in;

	(void)state;
	/* The first call goes at once; the next 50 ms later at 20/s. */
	assert_int_equal(meter_rate_delay_ms(now, &next, 20), 0);
	assert_int_equal(meter_rate_delay_ms(now, &next, 20), 50);
	/* After a pause, at once again: no burst is saved up. */
	now += 10000;
	next = 0;
	assert_int_equal(meter_rate_delay_ms(now, &next, 20), 0);
	assert_true(next == now + 50);
	now += 60000;
	assert_int_equal(meter_rate_delay_ms(now, &next, 20), 0);
	/* Calls made as fast as allowed: never more than 20 in a second. */
	next = 0;
	for (i = 0; i < 100; i++) {
		wait = meter_rate_delay_ms(now, &next, 20);
		assert_true(wait >= 0);
		now += (double)wait;
		starts[i] = now;
		now += 1;	/* the call itself */
	}
	for (i = 0; i < 100; i++) {
		for (in = 0, j = i; j < 100 && starts[j] < starts[i] + 1000;
		    j++)
			in++;
		assert_true(in <= 20);
	}
	/* A nonsense rate is one per second, never a division by zero. */
	next = 0;
	assert_int_equal(meter_rate_delay_ms(now, &next, 0), 0);
	assert_int_equal(meter_rate_delay_ms(now, &next, 0), 1000);
}

static void
test_period(void **state)
{
	long long	 from, to;

	(void)state;
	assert_int_equal(meter_period_parse("2026-11", &from, &to), 0);
	assert_true(from == 1793491200LL);	/* 2026-11-01T00:00:00Z */
	assert_true(to == 1796083200LL);	/* 2026-12-01T00:00:00Z */
	assert_int_equal(meter_period_parse("2026-12", &from, &to), 0);
	assert_true(from == 1796083200LL);
	assert_true(to == 1798761600LL);	/* 2027-01-01T00:00:00Z */
	assert_int_equal(meter_period_parse("2024-02", &from, &to), 0);
	assert_true(to - from == 29 * 86400LL);
	assert_int_equal(meter_period_parse("2026-13", &from, &to), -1);
	assert_int_equal(meter_period_parse("2026-00", &from, &to), -1);
	assert_int_equal(meter_period_parse("2026-1", &from, &to), -1);
	assert_int_equal(meter_period_parse("2026-011", &from, &to), -1);
	assert_int_equal(meter_period_parse("2026/11", &from, &to), -1);
	assert_int_equal(meter_period_parse("+026-11", &from, &to), -1);
	assert_int_equal(meter_period_parse("", &from, &to), -1);
	assert_int_equal(meter_period_parse(NULL, &from, &to), -1);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_period),
	};

	return cmocka_run_group_tests_name("unit-meter", tests, NULL, NULL);
}
