/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The read side of metering, for the API and the portal alike (acct.c's
 * convention: 0, or -1 with a struct fail): which period a request
 * names, a quota's row with its overage and what that costs, and the
 * CSV export.  GET /api/v1/usage/export.csv and the portal's
 * /usage/export.csv write the same bytes from here; they differ only
 * in who may ask (an API key or token, a portal session).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

/*
 * The bounds of the period arg names: NULL or "current" (the metering
 * period of now) or a calendar month "YYYY-MM"; 400 for anything else.
 */
int
usage_period(struct req *r, struct fail *f, const char *arg,
    const char **start, const char **end)
{
	long long	 y, m;
	enum db_rc	 rc;

	if (arg != NULL && strcmp(arg, "current") == 0)
		arg = NULL;
	if (arg != NULL && (strlen(arg) != 7 || arg[4] != '-' ||
	    strspn(arg, "0123456789-") != 7 ||
	    util_strtonum(arena_strndup(&r->arena, arg, 4), 2000, 2999, &y) ==
	    -1 || util_strtonum(arg + 5, 1, 12, &m) == -1))
		return acct_fail(f, 400, "invalid_value", "period must be "
		    "\"current\" or a month, YYYY-MM.", "period");
	if ((rc = db_usage_period(r, arg, start, end)) != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/*
 * Row i of db_usage_metrics() as a quota: what was used, what the plan
 * includes, and for a metered cap the overage and its cost (micro-USD,
 * rounded half up once).  Strings are borrowed from the result.
 */
void
usage_quota_row(const struct pg_result *res, int i, struct usage_quota *q)
{
	memset(q, 0, sizeof(*q));
	q->metric = db_get(res, i, 0);
	q->used = db_int(res, i, 1);
	q->included = db_get(res, i, 2) == NULL ? -1 : db_int(res, i, 2);
	q->cap = db_get(res, i, 3);
	q->unit_price = db_get(res, i, 4) == NULL ? -1 : db_int(res, i, 4);
	q->price_unit = db_int(res, i, 5);
	q->grace_pct = db_int(res, i, 6);
	if (q->included >= 0 && q->used > q->included &&
	    strcmp(q->cap, "metered") == 0) {
		q->overage = q->used - q->included;
		if (q->unit_price >= 0 && q->price_unit > 0)
			q->overage_cost = (q->overage * q->unit_price +
			    q->price_unit / 2) / q->price_unit;
	}
}

/* One CSV field (RFC 4180): quoted when it holds , " CR or LF. */
static void
usage_csv_field(struct buf *b, const char *s, int last)
{
	const char	*p;

	if (strpbrk(s, ",\"\r\n") == NULL)
		buf_puts(b, s);
	else {
		buf_puts(b, "\"");
		for (p = s; *p != '\0'; p++) {
			if (*p == '"')
				buf_append(b, "\"", 1);
			buf_append(b, p, 1);
		}
		buf_puts(b, "\"");
	}
	buf_puts(b, last ? "\r\n" : ",");
}

/*
 * The period [start, end)'s usage per day, agent, metric, provider,
 * model and channel as the response: RFC 4180 (CRLF, quoted where
 * needed), cost in USD with six decimals, an attachment named after
 * the period.  413 past the response's cap.
 */
int
usage_export(struct req *r, struct fail *f, const char *start,
    const char *end)
{
	static const char *const hdr[] = { "day", "agent_id", "agent_name",
	    "metric", "provider", "model", "channel_id", "value", "cost_usd",
	    "events" };
	const size_t		 ncol = sizeof(hdr) / sizeof(hdr[0]);
	struct pg_result	*res;
	enum db_rc		 rc;
	char			 usd[48];
	size_t			 c;
	int			 i;

	if ((rc = db_usage_export(r, start, end, &res)) != DB_OK)
		return acct_fail_db(f, rc);
	buf_reset(&r->out);
	for (c = 0; c < ncol; c++)
		usage_csv_field(&r->out, hdr[c], c + 1 == ncol);
	for (i = 0; i < db_nrows(res); i++)
		for (c = 0; c < ncol; c++) {
			if (c == 8) {
				quota_micros_to_usd(db_int(res, i, 8), usd,
				    sizeof(usd));
				usage_csv_field(&r->out, usd, 0);
			} else
				usage_csv_field(&r->out, db_get(res, i,
				    (int)c), c + 1 == ncol);
		}
	if (r->out.toobig)
		return acct_fail(f, 413, "export_too_large", "The export is "
		    "over 8 MiB: ask for a shorter period.", "period");
	r->status = 200;
	r->content_type_out = "text/csv; charset=utf-8; header=present";
	req_header(r, "Content-Disposition", arena_printf(&r->arena,
	    "attachment; filename=\"usage-%.10s.csv\"", start));
	return 0;
}
