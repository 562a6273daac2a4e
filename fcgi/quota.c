/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Budgets and money as the agents' budgets need them, pure: the budget
 * status of an agent (SPEC 4) and exact conversions between a decimal
 * amount of USD, as people and JSON write it, and the integer micro-USD
 * the database stores.  Never a floating-point number on the way: 0.1
 * has no exact binary value, and a budget must mean what was typed.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

#define QUOTA_MICROS	1000000LL	/* micro-USD in a dollar */
#define QUOTA_DECIMALS	6		/* places of a micro-USD */

static const char *const	quota_budget_names[] = {
	"none", "ok", "warning", "exceeded"
};

/*
 * The status of a budget of limit micro-USD (-1: no budget) after
 * spending spent: below 80 % "ok", from 80 % "warning", from 100 %
 * "exceeded".  A zero budget allows nothing, so it is exceeded from the
 * start, before anything is spent (the reservations refuse at 0 too).
 *
 * spent * 100 >= limit * 80 is the same as spent >= limit - limit / 5
 * in integers (ceil(4L/5) = L - floor(L/5)), which cannot overflow
 * whatever the bigint the database holds.
 */
enum budget_status
quota_budget_status(long long limit, long long spent)
{
	if (limit < 0)
		return BUDGET_NONE;
	if (spent < 0)
		spent = 0;
	if (limit == 0 || spent >= limit)
		return BUDGET_EXCEEDED;
	if (spent >= limit - limit / 5)
		return BUDGET_WARNING;
	return BUDGET_OK;
}

const char *
quota_budget_name(enum budget_status s)
{
	if ((size_t)s >= sizeof(quota_budget_names) /
	    sizeof(quota_budget_names[0]))
		return "none";
	return quota_budget_names[s];
}

/* A budget's status in the portal's words ("Near the budget"). */
const char *
quota_budget_label(enum budget_status s)
{
	static const char *const labels[] = { "No budget", "Within budget",
	    "Near the budget", "Budget used up" };

	if ((size_t)s >= sizeof(labels) / sizeof(labels[0]))
		return labels[0];
	return labels[s];
}

/*
 * A decimal amount of USD as text to micro-USD, exactly: digits, then
 * optionally a point and one to six digits ("12", "12.5", "0.000001").
 * No sign, no exponent, no spaces, no point without digits on both
 * sides ("1." and ".5" are refused: JSON never writes them, and one
 * spelling per amount keeps the check simple), at most QUOTA_USD_MAX
 * USD.  0, or -1 when the text is not such an amount.
 */
int
quota_usd_to_micros(const char *text, long long *out)
{
	const char	*p = text;
	long long	 whole = 0, frac = 0;
	int		 places = 0;

	if (p == NULL || *p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (*p - '0');
		/* Stop before it can overflow; leading zeros cost nothing. */
		if (whole > QUOTA_USD_MAX)
			return -1;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++places > QUOTA_DECIMALS)
				return -1;
			frac = frac * 10 + (*p - '0');
		}
		if (places == 0)
			return -1;
	}
	if (*p != '\0')
		return -1;
	for (; places < QUOTA_DECIMALS; places++)
		frac *= 10;
	if (whole * QUOTA_MICROS + frac > QUOTA_USD_MAX * QUOTA_MICROS)
		return -1;
	*out = whole * QUOTA_MICROS + frac;
	return 0;
}

/*
 * Micro-USD as the shortest exact decimal of USD: 12500000 is "12.5",
 * 1 is "0.000001", 0 is "0".  The inverse of quota_usd_to_micros(), for
 * the API (a string, never a JSON number that a client would read as a
 * double).  Always NUL-terminated, truncated to fit.
 */
void
quota_micros_to_usd(long long micros, char *out, size_t outsz)
{
	unsigned long long	 u;
	char			 frac[QUOTA_DECIMALS + 1];
	size_t			 len;

	if (outsz == 0)
		return;
	u = micros < 0 ? 0ULL - (unsigned long long)micros :
	    (unsigned long long)micros;
	snprintf(frac, sizeof(frac), "%06llu", u % QUOTA_MICROS);
	for (len = QUOTA_DECIMALS; len > 0 && frac[len - 1] == '0'; len--)
		frac[len - 1] = '\0';
	snprintf(out, outsz, "%s%llu%s%s", micros < 0 ? "-" : "",
	    u / QUOTA_MICROS, len > 0 ? "." : "", frac);
}
