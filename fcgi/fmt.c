/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The portal's formatting layer: data as people read it, never as the
 * database stores it.  Dates ("2 Dec 2026, 06:45 UTC" and "3 min ago"),
 * money from integer minor units with its currency ("$1,234.50"),
 * counts with thousands separators and plurals ("1 member", "12,400
 * events"), percentages and status words.  Pure functions writing into
 * a caller's buffer (always NUL-terminated, truncated to fit); the
 * billing and usage pages use exactly these.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tollgate.h"

static const char *const	fmt_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec"
};

/*
 * The UTC calendar fields of t, with out emptied first so that a bad
 * time leaves "": 0, or -1 for a negative or unrepresentable time.
 */
static int
fmt_utc(char *out, size_t outsz, long long t, struct tm *tm)
{
	time_t	 tt = (time_t)t;

	if (outsz > 0)
		out[0] = '\0';
	if (outsz == 0 || t < 0 || gmtime_r(&tt, tm) == NULL)
		return -1;
	return 0;
}

/* "YYYY-MM-DDTHH:MM:SSZ" (as DB_TS() writes it) to seconds; -1 if not. */
long long
fmt_parse_ts(const char *s)
{
	struct tm	 tm;
	const char	*e;
	time_t		 t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL ||
	    strcmp(e, "Z") != 0 || (t = timegm(&tm)) == (time_t)-1)
		return -1;
	return (long long)t;
}

/* "2 Dec 2026, 06:45 UTC"; "" for a bad time. */
void
fmt_date(char *out, size_t outsz, long long t)
{
	struct tm	 tm;

	if (fmt_utc(out, outsz, t, &tm) == -1)
		return;
	snprintf(out, outsz, "%d %s %d, %02d:%02d UTC", tm.tm_mday,
	    fmt_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
}

/* A time as RFC 3339 in UTC ("2026-12-02T06:45:03Z"); "" for a bad one. */
void
fmt_rfc3339(char *out, size_t outsz, long long t)
{
	struct tm	 tm;

	if (fmt_utc(out, outsz, t, &tm) == -1)
		return;
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * A day ("16 Dec 2026"): fmt_date() without the time of day, for dates
 * only the day of matters (trial ends, renewals, invoices).  "" for a
 * bad time.
 */
void
fmt_day(char *out, size_t outsz, long long t)
{
	if (outsz == 0)
		return;
	fmt_date(out, outsz, t);
	out[strcspn(out, ",")] = '\0';
}

/* A day without its year, for a chart's axis: "12 Nov"; "" if bad. */
void
fmt_day_short(char *out, size_t outsz, long long t)
{
	struct tm	 tm;

	if (fmt_utc(out, outsz, t, &tm) == -1)
		return;
	snprintf(out, outsz, "%d %s", tm.tm_mday, fmt_months[tm.tm_mon]);
}

/* The month of t, for a period chooser: "Nov 2026"; "" if bad. */
void
fmt_month(char *out, size_t outsz, long long t)
{
	struct tm	 tm;

	if (fmt_utc(out, outsz, t, &tm) == -1)
		return;
	snprintf(out, outsz, "%s %d", fmt_months[tm.tm_mon],
	    tm.tm_year + 1900);
}

/*
 * How long ago (or ahead) t is from now, in the largest unit that fits:
 * "just now", "3 min ago", "5 h ago", "2 days ago", "in 6 days"; beyond
 * 30 days the date itself.
 */
void
fmt_ago(char *out, size_t outsz, long long t, long long now)
{
	long long	 d = now - t, a = d < 0 ? -d : d;
	const char	*unit;
	long long	 n;

	if (t < 0) {
		snprintf(out, outsz, "%s", "");
		return;
	}
	if (a < 60) {
		snprintf(out, outsz, "%s", "just now");
		return;
	}
	if (a >= 30 * 86400LL) {
		fmt_date(out, outsz, t);
		return;
	}
	if (a < 3600) {
		n = a / 60;
		unit = "min";
	} else if (a < 86400) {
		n = a / 3600;
		unit = "h";
	} else {
		n = a / 86400;
		unit = n == 1 ? "day" : "days";
	}
	if (d >= 0)
		snprintf(out, outsz, "%lld %s ago", n, unit);
	else
		snprintf(out, outsz, "in %lld %s", n, unit);
}

/* 1234567 as "1,234,567" (negative numbers keep their sign). */
void
fmt_count(char *out, size_t outsz, long long n)
{
	char		 digits[32];
	size_t		 len, i, o = 0;
	unsigned long long u;

	u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
	len = (size_t)snprintf(digits, sizeof(digits), "%llu", u);
	if (outsz == 0)
		return;
	if (n < 0 && o + 1 < outsz)
		out[o++] = '-';
	for (i = 0; i < len && o + 1 < outsz; i++) {
		if (i > 0 && (len - i) % 3 == 0) {
			if (o + 2 >= outsz)
				break;
			out[o++] = ',';
		}
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

/*
 * Bytes in decimal units, as the plans count them (1 GB is 10^9
 * bytes): "950 B", "12.5 kB", "3.2 MB", "5 GB".  Rounded down, one
 * decimal below 100 units.
 */
void
fmt_bytes(char *out, size_t outsz, long long n)
{
	static const char	*unit[] = { "kB", "MB", "GB", "TB", "PB" };
	long long		 div = 1000;
	size_t			 i;

	if (n < 1000) {
		snprintf(out, outsz, "%lld B", n < 0 ? 0 : n);
		return;
	}
	for (i = 0; i + 1 < sizeof(unit) / sizeof(unit[0]) &&
	    n / div >= 1000; i++)
		div *= 1000;
	if (n / div >= 100 || (n % div) * 10 / div == 0)
		snprintf(out, outsz, "%lld %s", n / div, unit[i]);
	else
		snprintf(out, outsz, "%lld.%lld %s", n / div,
		    (n % div) * 10 / div, unit[i]);
}

/* "1 member", "2 members", "12,400 members". */
void
fmt_plural(char *out, size_t outsz, long long n, const char *one,
    const char *many)
{
	char	 c[40];

	fmt_count(c, sizeof(c), n);
	snprintf(out, outsz, "%s %s", c, n == 1 ? one : many);
}

/*
 * A count in a few characters, for a chart's axis: "950", "1.5k",
 * "12k", "2M", "3.2B".  Rounded down, as fmt_percent() is, so a label
 * never claims more than there is; one decimal below 10 only.
 */
void
fmt_count_short(char *out, size_t outsz, long long n)
{
	static const struct {
		unsigned long long	 unit;
		const char		*suffix;
	} units[] = {
		{ 1000000000ULL, "B" }, { 1000000ULL, "M" }, { 1000ULL, "k" },
	};
	unsigned long long	 u, whole, tenth;
	size_t			 i;

	u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (u >= units[i].unit)
			break;
	if (i == sizeof(units) / sizeof(units[0])) {
		snprintf(out, outsz, "%lld", n);
		return;
	}
	whole = u / units[i].unit;
	tenth = u % units[i].unit / (units[i].unit / 10);
	if (whole < 10 && tenth > 0)
		snprintf(out, outsz, "%s%llu.%llu%s", n < 0 ? "-" : "", whole,
		    tenth, units[i].suffix);
	else
		snprintf(out, outsz, "%s%llu%s", n < 0 ? "-" : "", whole,
		    units[i].suffix);
}

/*
 * An amount in integer minor units of an ISO 4217 currency: "$1,234.50",
 * "€12.00", "£0.99", "¥1,200" (no minor unit); other codes as
 * "1,234.50 CHF".  Never a floating-point number on the way.
 */
void
fmt_money(char *out, size_t outsz, long long minor, const char *currency)
{
	static const struct {
		const char	*code;
		const char	*sign;
		int		 decimals;
	} cur[] = {
		{ "usd", "$", 2 }, { "eur", "\xe2\x82\xac", 2 },
		{ "gbp", "\xc2\xa3", 2 }, { "jpy", "\xc2\xa5", 0 },
	};
	const char	*sign = NULL;
	char		 units[40], code[8];
	unsigned long long u;
	long long	 div = 100;
	size_t		 i;
	int		 dec = 2;

	for (i = 0; currency != NULL && currency[i] != '\0' && i < 7; i++)
		code[i] = (char)(currency[i] >= 'A' && currency[i] <= 'Z' ?
		    currency[i] + 32 : currency[i]);
	code[i] = '\0';
	for (i = 0; i < sizeof(cur) / sizeof(cur[0]); i++)
		if (strcmp(code, cur[i].code) == 0) {
			sign = cur[i].sign;
			dec = cur[i].decimals;
		}
	if (dec == 0)
		div = 1;
	u = minor < 0 ? 0ULL - (unsigned long long)minor :
	    (unsigned long long)minor;
	fmt_count(units, sizeof(units), (long long)(u / (unsigned long long)div));
	for (i = 0; code[i] != '\0'; i++)
		code[i] = (char)(code[i] - 32);
	if (sign != NULL && dec > 0)
		snprintf(out, outsz, "%s%s%s.%02llu", minor < 0 ? "-" : "", sign,
		    units, u % (unsigned long long)div);
	else if (sign != NULL)
		snprintf(out, outsz, "%s%s%s", minor < 0 ? "-" : "", sign, units);
	else
		snprintf(out, outsz, "%s%s.%02llu %s", minor < 0 ? "-" : "",
		    units, u % 100, code);
}

/*
 * A price in micro-USD, as precise as it is and no more: 10000 is
 * "$0.01", 800 "$0.0008", 1500000 "$1.50".  At least two decimals.
 */
void
fmt_usd_micros(char *out, size_t outsz, long long micros)
{
	char		 frac[8], whole[40];
	unsigned long long u;
	size_t		 len;

	u = micros < 0 ? 0ULL - (unsigned long long)micros :
	    (unsigned long long)micros;
	snprintf(frac, sizeof(frac), "%06llu", u % 1000000);
	for (len = 6; len > 2 && frac[len - 1] == '0'; len--)
		frac[len - 1] = '\0';
	fmt_count(whole, sizeof(whole), (long long)(u / 1000000));
	snprintf(out, outsz, "%s$%s.%s", micros < 0 ? "-" : "", whole, frac);
}

/*
 * part of whole as a percentage rounded down to a whole number ("79%"),
 * so a quota shows 99% until it is really full; "-" when whole is 0.
 */
void
fmt_percent(char *out, size_t outsz, long long part, long long whole)
{
	if (whole <= 0) {
		snprintf(out, outsz, "%s", "-");
		return;
	}
	snprintf(out, outsz, "%lld%%", part < 0 ? 0 : part * 100 / whole);
}

/*
 * A status word as a label: "past_due" -> "Past due", "active" ->
 * "Active".  Only [a-z_] passes; anything else is shown as "Unknown".
 */
void
fmt_status(char *out, size_t outsz, const char *word)
{
	size_t	 i;

	if (outsz == 0)
		return;
	for (i = 0; word != NULL && word[i] != '\0'; i++)
		if ((word[i] < 'a' || word[i] > 'z') && word[i] != '_') {
			snprintf(out, outsz, "%s", "Unknown");
			return;
		}
	if (word == NULL || *word == '\0') {
		snprintf(out, outsz, "%s", "Unknown");
		return;
	}
	for (i = 0; word[i] != '\0' && i + 1 < outsz; i++)
		out[i] = word[i] == '_' ? ' ' : word[i];
	out[i] = '\0';
	out[0] = (char)(out[0] - 32);
}
