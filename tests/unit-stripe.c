/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Unit tests of the Stripe-Signature verifier (stripe-sig.c) against
 * signatures computed independently (Python's hmac module, as Stripe's
 * own library does): the cases CONTRACT.md 6 lists and SPEC 7's bad
 * inputs (no header, malformed, only v0, wrong secret, body changed by
 * one byte, 301 s old, 301 s ahead), and a secret being rolled.
 * Then the client's pure parts (stripe.c, billing.c): the form encoding
 * of nested and indexed keys, the retry backoff of CONTRACT.md 4, and
 * overage prices as Stripe's decimal cents.
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

#define BODY	"{\"id\":\"evt_1\",\"object\":\"event\"}"
#define T0	1700000000LL
/* HMAC-SHA256("whsec_test_secret", "1700000000." BODY), by Python. */
#define SIG	"0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd"
/* The same under "whsec_second_secret". */
#define SIG2	"2b48914dc1da835a2980311dea8e75bede0d739725dd95e54bda90c6f1cca68e"
#define SECRET	"whsec_test_secret"

static enum stripe_sig_rc
verify(const char *header, const char *secrets, const char *body,
    long long now)
{
	return stripe_sig_verify(header, secrets, body, strlen(body), now, 300);
}

static void
test_valid(void **state)
{
	assert_int_equal(verify("t=1700000000,v1=" SIG, SECRET, BODY, T0),
	    STRIPE_SIG_OK);
	/* Any v1 may match (a bad one next to it, a test-mode v0). */
	assert_int_equal(verify("t=1700000000,v1=bad_signature,v1=" SIG
	    ",v0=" SIG2, SECRET, BODY, T0 + 10), STRIPE_SIG_OK);
	/* A secret being rolled: the old and the new one both work. */
	assert_int_equal(verify("t=1700000000,v1=" SIG2,
	    "whsec_old,whsec_second_secret", BODY, T0), STRIPE_SIG_OK);
	assert_int_equal(verify("t=1700000000,v1=" SIG,
	    "whsec_test_secret,whsec_second_secret", BODY, T0), STRIPE_SIG_OK);
}

static void
test_refused(void **state)
{
	assert_int_equal(verify(NULL, SECRET, BODY, T0), STRIPE_SIG_MALFORMED);
	assert_int_equal(verify("", SECRET, BODY, T0), STRIPE_SIG_MALFORMED);
	assert_int_equal(verify("garbage", SECRET, BODY, T0),
	    STRIPE_SIG_MALFORMED);
	assert_int_equal(verify("v1=" SIG, SECRET, BODY, T0),
	    STRIPE_SIG_MALFORMED);
	assert_int_equal(verify("t=17000x0000,v1=" SIG, SECRET, BODY, T0),
	    STRIPE_SIG_MALFORMED);
	assert_int_equal(verify("t=1700000000,t=1700000000,v1=" SIG, SECRET,
	    BODY, T0), STRIPE_SIG_MALFORMED);
	assert_int_equal(verify("t=1700000000,v0=" SIG, SECRET, BODY, T0),
	    STRIPE_SIG_NO_V1);
	assert_int_equal(verify("t=1700000000,v1=" SIG, "whsec_wrong", BODY,
	    T0), STRIPE_SIG_MISMATCH);
	assert_int_equal(verify("t=1700000000,v1=" SIG, SECRET,
	    "{\"id\":\"evt_2\",\"object\":\"event\"}", T0), STRIPE_SIG_MISMATCH);
	/* The signature covers the timestamp too. */
	assert_int_equal(verify("t=1700000001,v1=" SIG, SECRET, BODY, T0),
	    STRIPE_SIG_MISMATCH);
	assert_int_equal(verify("t=1700000000,v1=" SIG, "", BODY, T0),
	    STRIPE_SIG_MISMATCH);
}

static void
test_tolerance(void **state)
{
	const char	*h = "t=1700000000,v1=" SIG;

	assert_int_equal(verify(h, SECRET, BODY, T0 + 300), STRIPE_SIG_OK);
	assert_int_equal(verify(h, SECRET, BODY, T0 + 301),
	    STRIPE_SIG_TOO_OLD);
	assert_int_equal(verify(h, SECRET, BODY, T0 - 300), STRIPE_SIG_OK);
	assert_int_equal(verify(h, SECRET, BODY, T0 - 301),
	    STRIPE_SIG_TOO_NEW);
	/* The signature is checked first: a forged old one is a mismatch. */
	assert_int_equal(verify(h, "whsec_wrong", BODY, T0 + 1000),
	    STRIPE_SIG_MISMATCH);
}

static void
test_parse_limits(void **state)
{
	struct stripe_sig	 s;
	char			 big[STRIPE_SIG_HEADER_MAX + 16];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "t=1,v1=", 7);
	assert_int_equal(stripe_sig_parse(big, &s), STRIPE_SIG_MALFORMED);
	assert_int_equal(stripe_sig_parse("t=1700000000,v1=" SIG, &s),
	    STRIPE_SIG_OK);
	assert_int_equal(s.t, T0);
	assert_int_equal(s.nv1, 1);
	assert_string_equal(s.v1[0], SIG);
	assert_non_null(stripe_sig_strerror(STRIPE_SIG_TOO_NEW));
}

/* Keys keep their brackets; values and everything else are escaped. */
static void
test_form(void **state)
{
	struct buf	 b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(stripe_form_add(&b, "mode", "subscription"), 0);
	assert_int_equal(stripe_form_addf(&b, "price_1", "line_items[%d][price]",
	    0), 0);
	assert_int_equal(stripe_form_add(&b, "metadata[note]", "a b&c=d[e]/é"),
	    0);
	assert_int_equal(stripe_form_add(&b, "skipped", NULL), 0);
	assert_int_equal(stripe_form_add(&b, "unset", ""), 0);
	assert_string_equal(b.p, "mode=subscription&line_items[0][price]="
	    "price_1&metadata[note]=a%20b%26c%3Dd%5Be%5D%2F%C3%A9&unset=");
	buf_free(&b);

	/* Past the cap: -1, never a truncated field sent. */
	buf_init(&b, 16);
	assert_int_equal(stripe_form_add(&b, "customer", "cus_0123456789"), -1);
	assert_true(b.toobig);
	buf_free(&b);
}

/* min(0.5 * 2^(n-1), 5) s times [0.5, 1], floored at 0.5 s. */
static void
test_backoff(void **state)
{
	(void)state;
	assert_int_equal(stripe_backoff_ms(1, 1000), 500);
	assert_int_equal(stripe_backoff_ms(1, 0), 500);	/* the floor */
	assert_int_equal(stripe_backoff_ms(2, 1000), 1000);
	assert_int_equal(stripe_backoff_ms(2, 0), 500);
	assert_int_equal(stripe_backoff_ms(3, 1000), 2000);
	assert_int_equal(stripe_backoff_ms(4, 1000), 4000);
	assert_int_equal(stripe_backoff_ms(5, 1000), 5000);	/* the cap */
	assert_int_equal(stripe_backoff_ms(9, 1000), 5000);
	assert_int_equal(stripe_backoff_ms(9, 0), 2500);
}

/* SPEC 4's overage prices in cents per unit, exactly. */
static void
test_decimal(void **state)
{
	char	 d[48];

	(void)state;
	/* $0.01 per 1K tokens: 10,000 micro-USD per 1,000. */
	billing_decimal(10000, 1000 * 10000LL, d, sizeof(d));
	assert_string_equal(d, "0.001");
	/* $0.10 per execution. */
	billing_decimal(100000, 10000, d, sizeof(d));
	assert_string_equal(d, "10");
	/* $0.0008 per API call. */
	billing_decimal(800, 10000, d, sizeof(d));
	assert_string_equal(d, "0.08");
	/* $0.005 per 1K tokens. */
	billing_decimal(5000, 1000 * 10000LL, d, sizeof(d));
	assert_string_equal(d, "0.0005");
	/* A third: cut at 12 places, never rounded up. */
	billing_decimal(1, 3, d, sizeof(d));
	assert_string_equal(d, "0.333333333333");
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_tolerance),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_decimal),
	};

	return cmocka_run_group_tests_name("unit-stripe", tests, NULL, NULL);
}
