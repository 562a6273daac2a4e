/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Billable usage to Stripe's meters, exactly once (SPEC 8, steps 3, 4
 * and 6; CONTRACT 4, 5 and 12).  Two worker jobs and a command:
 *
 *  - queue: each closed hourly window that holds more than was reported
 *    becomes a meter_reports row carrying the difference, in the
 *    transaction that marks it reported (sql/015 meter_queue()), so
 *    every unit is queued once;
 *  - send: each due row is taken under its row lock, POSTed as a meter
 *    event with its deterministic identifier, and marked sent in the
 *    same transaction.  A crash after Stripe took the event and before
 *    the commit leaves the row pending; the next send is refused by
 *    Stripe as a duplicate identifier (or replayed under the same
 *    Idempotency-Key), which counts as sent: once at Stripe, whatever
 *    happens in between;
 *  - reconcile: local totals of a month next to Stripe's summaries.
 *
 * Meter-event calls are spaced to stay under Stripe's rate limit
 * (TOLLGATE_STRIPE_METER_RATE per second, per process).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tollgate.h"

#define METER_TENANTS_MAX	100	/* tenants per listing */
#define METER_QUEUE_MAX		1000	/* windows per tenant per pass */
#define METER_SEND_MAX		500	/* reports sent per pass */
#define METER_BREAKER		3	/* Stripe failing this often in a
					   row ends the pass's sending */
#define METER_ATTEMPTS_WARN	20	/* failing this long: a warning */
#define METER_BACKOFF_FIRST_S	30
#define METER_BACKOFF_MAX_S	3600
/* Stripe takes timestamps up to 35 days old: a day of margin. */
#define METER_MAX_AGE_S		(VALID_EVENT_PAST_S - 86400LL)
#define METER_NO_CUSTOMER	"no Stripe customer"
#define METER_PAGES_MAX		100	/* of summaries, per row */

enum meter_outcome {
	METER_SENT,		/* Stripe took it now */
	METER_ALREADY,		/* Stripe had it (an earlier attempt) */
	METER_REFUSED,		/* refused: this report's problem */
	METER_TRANSIENT,	/* unreachable, 409, 429, 5xx: Stripe's */
	METER__MAX
};

static double	meter_next_ms;	/* the next call's earliest start */

/*
 * Seconds before attempt attempts + 1 of a report that failed attempts
 * times: 30 s, doubling, at most an hour.
 */
long
meter_backoff_s(int attempts)
{
	long	 s = METER_BACKOFF_FIRST_S;

	while (--attempts > 0 && s < METER_BACKOFF_MAX_S)
		s *= 2;
	return s > METER_BACKOFF_MAX_S ? METER_BACKOFF_MAX_S : s;
}

/*
 * The client-side rate limit: calls start at least 1/rate s apart.
 * Given the time now, the milliseconds to wait before the next call;
 * *next (the earliest start of the one after) moves on.  Pure.
 */
long
meter_rate_delay_ms(double now_ms, double *next_ms, int rate)
{
	double	 start;

	start = *next_ms > now_ms ? *next_ms : now_ms;
	*next_ms = start + 1000.0 / (rate > 0 ? rate : 1);
	return (long)(start - now_ms + 0.999);
}

static void
meter_rate_wait(void)
{
	struct timespec	 ts;
	long		 ms;

	ms = meter_rate_delay_ms(util_now_ms(), &meter_next_ms,
	    conf.stripe_meter_rate);
	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		continue;
}

/*
 * "YYYY-MM" as the Unix seconds of its first instant and of the next
 * month's (UTC).  0, or -1 if it is not such a month.  Pure.
 */
int
meter_period_parse(const char *s, long long *from, long long *to)
{
	struct tm	 tm;
	int		 y, m;

	if (s == NULL || strlen(s) != 7 || s[4] != '-' ||
	    strspn(s, "0123456789") != 4 || strspn(s + 5, "0123456789") != 2)
		return -1;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	if (y < 1970 || m < 1 || m > 12)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = 1;
	*from = (long long)timegm(&tm);
	tm.tm_mon = m == 12 ? 0 : m;
	tm.tm_year = m == 12 ? y + 1 - 1900 : y - 1900;
	*to = (long long)timegm(&tm);
	return 0;
}

/* Unix seconds as RFC 3339 (UTC). */
static void
meter_time(char *out, size_t outsz, long long t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "%lld", t);
}

/* Usage older than Stripe takes goes in the current hour: audited. */
static enum db_rc
meter_audit_late(struct req *r, const char *metric, long long window,
    long long report_ts, long long quantity, int revision)
{
	char	 w[32], t[32];

	meter_time(w, sizeof(w), window);
	meter_time(t, sizeof(t), report_ts);
	log_info("meter: usage of %s in the window of %s reported at %s "
	    "(older than Stripe takes)", metric, w, t);
	return db_audit_add(r, "meter.usage_late", metric, arena_printf(
	    &r->arena, "{\"window_start\": \"%s\", \"reported_at\": \"%s\", "
	    "\"quantity\": %lld, \"revision\": %d}", w, t, quantity,
	    revision));
}

/* --- queue (worker) ------------------------------------------------------ */

/*
 * Closed windows with unreported usage become reports, each tenant's in
 * one transaction under that tenant.
 */
enum db_rc
meter_queue(struct req *r, long long *n)
{
	struct meter_queued	*q;
	const char		**ids;
	size_t			  i, j, nids, nq;
	enum db_rc		  rc;

	if ((rc = db_meter_windows_closed(r, METER_TENANTS_MAX, &ids,
	    &nids)) != DB_OK)
		return rc;
	for (i = 0; i < nids; i++) {
		if ((rc = db_begin(r, ids[i])) != DB_OK ||
		    (rc = db_meter_queue(r, METER_QUEUE_MAX, METER_MAX_AGE_S,
		    &q, &nq)) != DB_OK)
			return rc;
		for (j = 0; j < nq; j++)
			if (q[j].restamped && (rc = meter_audit_late(r,
			    q[j].metric, q[j].window_start, q[j].report_ts,
			    q[j].quantity, q[j].revision)) != DB_OK)
				return rc;
		if ((rc = db_commit(r)) != DB_OK)
			return rc;
		*n += (long long)nq;
	}
	return DB_OK;
}

/* --- send (worker) ------------------------------------------------------- */

/*
 * POST one report as a meter event.  The Idempotency-Key is the
 * identifier on the first attempt and the identifier with the attempt
 * number after a failure: Stripe replays a stored answer, a 500
 * included, for 24 hours, and a fresh key lets the retry reach the
 * identifier check instead (CONTRACT 3).  Across a crash the attempt
 * count has not moved, so the key is the same and an answer Stripe
 * stored is replayed.  Either way an event Stripe has is never counted
 * twice: the identifier is what Stripe deduplicates on.
 */
static enum meter_outcome
meter_post(struct req *r, const struct meter_report *m, char *why,
    size_t whysz)
{
	struct json_object	*out;
	struct stripe_err	 e;
	struct buf		 form;
	const char		*key;
	char			 value[24], ts[24], raw[256];
	int			 rc;

	snprintf(value, sizeof(value), "%lld", m->quantity);
	snprintf(ts, sizeof(ts), "%lld", m->report_ts);
	buf_init(&form, 2048);
	stripe_form_add(&form, "event_name", arena_printf(&r->arena,
	    "tollgate_%s", m->metric));
	stripe_form_add(&form, "payload[stripe_customer_id]", m->customer);
	stripe_form_add(&form, "payload[value]", value);
	stripe_form_add(&form, "timestamp", ts);
	stripe_form_add(&form, "identifier", m->identifier);
	key = m->attempts == 0 ? m->identifier : arena_printf(&r->arena,
	    "%s-a%d", m->identifier, m->attempts);
	if (form.toobig) {
		buf_free(&form);
		snprintf(why, whysz, "the meter event is too large");
		return METER_REFUSED;
	}
	meter_rate_wait();
	rc = stripe_call(r, "POST", "/v1/billing/meter_events", &form, key,
	    &out, &e);
	buf_free(&form);
	if (rc == 0)
		return METER_SENT;
	if (e.status == 400 && strcmp(e.code, "resource_already_exists") == 0 &&
	    (e.param[0] == '\0' || strcmp(e.param, "identifier") == 0))
		return METER_ALREADY;
	/* Stripe's codes only: its messages may quote what was sent. */
	if (e.status == 0)
		snprintf(raw, sizeof(raw), "Stripe could not be reached");
	else
		snprintf(raw, sizeof(raw), "Stripe answered %d %s%s%s%s%s",
		    e.status, e.type[0] != '\0' ? e.type : "error",
		    e.code[0] != '\0' ? " " : "", e.code,
		    e.param[0] != '\0' ? " about " : "", e.param);
	log_scrub(raw, why, whysz);
	return e.status == 0 || e.status == 409 || e.status == 429 ||
	    e.status >= 500 ? METER_TRANSIENT : METER_REFUSED;
}

/*
 * The tenant has no Stripe customer: its reports stay pending, say so,
 * and the log says so once (when the first of them is marked).
 */
static enum db_rc
meter_no_customer(struct req *r, const char *tenant)
{
	long long	 marked, before;
	enum db_rc	 rc;

	if ((rc = db_meter_no_customer(r, METER_NO_CUSTOMER, &marked,
	    &before)) != DB_OK)
		return rc;
	if (marked > 0 && before == 0)
		log_warnx("meter: tenant %s has usage to report but no Stripe "
		    "customer; its reports wait", tenant);
	return DB_OK;
}

/* What happened to one report, recorded in its transaction. */
static enum db_rc
meter_record(struct req *r, const struct meter_report *m,
    enum meter_outcome o, const char *why)
{
	long	 delay;
	int	 attempts = m->attempts + 1;

	if (o == METER_SENT || o == METER_ALREADY) {
		if (o == METER_ALREADY)
			log_info("meter: %s was already at Stripe",
			    m->identifier);
		return db_meter_sent(r, m);
	}
	delay = meter_backoff_s(attempts);
	if (attempts >= METER_ATTEMPTS_WARN)
		log_warnx("meter: %s still not reported after %d attempts: "
		    "%s; next in %ld s", m->identifier, attempts, why, delay);
	else
		log_info("meter: %s not reported (attempt %d): %s; next in "
		    "%ld s", m->identifier, attempts, why, delay);
	return db_meter_failed(r, m, why, delay);
}

struct meter_pass {
	long long	*sent;
	int		 budget;	/* calls left in this pass */
	int		 streak;	/* transient failures in a row */
};

/*
 * Send the tenant's due reports one at a time, each in its own
 * transaction holding its row lock from before the call until its
 * outcome is committed.
 */
static enum db_rc
meter_send_tenant(struct req *r, const char *tenant, struct meter_pass *p)
{
	struct meter_report	 m;
	enum meter_outcome	 o;
	enum db_rc		 rc;
	char			 why[256];

	while (p->budget > 0 && p->streak < METER_BREAKER) {
		rc = db_meter_next(r, tenant, METER_MAX_AGE_S, &m);
		if (rc == DB_NOTFOUND)
			return db_commit(r);
		if (rc != DB_OK)
			return rc;
		if (m.customer == NULL) {
			if ((rc = meter_no_customer(r, tenant)) != DB_OK)
				return rc;
			return db_commit(r);
		}
		if (m.stale && ((rc = db_meter_restamp(r, &m)) != DB_OK ||
		    (rc = meter_audit_late(r, m.metric, m.window_start,
		    m.report_ts, m.quantity, m.revision)) != DB_OK))
			return rc;
		p->budget--;
		why[0] = '\0';
		o = meter_post(r, &m, why, sizeof(why));
		if ((rc = meter_record(r, &m, o, why)) != DB_OK ||
		    (rc = db_commit(r)) != DB_OK)
			return rc;
		if (o == METER_SENT || o == METER_ALREADY)
			(*p->sent)++;
		p->streak = o == METER_TRANSIENT ? p->streak + 1 : 0;
	}
	return DB_OK;
}

/*
 * Due reports to Stripe, a batch per pass.  When Stripe fails several
 * calls in a row the pass ends: the rest wait for the next one rather
 * than each spending the call's whole retry budget.
 */
enum db_rc
meter_send(struct req *r, long long *n)
{
	struct meter_pass	 p;
	struct pg_result	*res;
	const char		*tenant;
	enum db_rc		 rc;
	int			 i;

	if (!stripe_configured())
		return DB_OK;
	if ((rc = db_meter_reports_due(r, METER_TENANTS_MAX, &res)) != DB_OK)
		return rc;
	memset(&p, 0, sizeof(p));
	p.sent = n;
	p.budget = METER_SEND_MAX;
	for (i = 0; i < db_nrows(res) && p.budget > 0; i++) {
		tenant = db_get(res, i, 0);
		if (!db_bool(res, i, 1)) {
			if ((rc = db_begin(r, tenant)) != DB_OK ||
			    (rc = meter_no_customer(r, tenant)) != DB_OK ||
			    (rc = db_commit(r)) != DB_OK)
				return rc;
			continue;
		}
		if ((rc = meter_send_tenant(r, tenant, &p)) != DB_OK)
			return rc;
		if (p.streak >= METER_BREAKER) {
			log_warnx("meter: Stripe failed %d calls in a row; the "
			    "reports wait for the next pass", p.streak);
			break;
		}
	}
	return DB_OK;
}

/* --- reconcile (tollgate admin stripe reconcile) ------------------------- */

/* A summary's aggregated_value: a JSON number, integral for sums. */
static long long
meter_value(struct json_object *o)
{
	double	 d;

	if (o == NULL)
		return 0;
	if (json_object_is_type(o, json_type_int))
		return (long long)json_object_get_int64(o);
	if (!json_object_is_type(o, json_type_double))
		return 0;
	d = json_object_get_double(o);
	return (long long)(d + (d < 0 ? -0.5 : 0.5));
}

/*
 * Stripe's total of a meter for a customer over [from, to): the sum of
 * its event summaries, every page.  0, or -1 (said on stderr).
 */
static int
meter_stripe_total(struct req *r, const char *meter, const char *customer,
    long long from, long long to, long long *total)
{
	struct json_object	*o, *data, *it;
	struct stripe_err	 e;
	const char		*after = NULL;
	size_t			 i, n;
	int			 page;

	*total = 0;
	if (!billing_id_ok(meter) || !billing_id_ok(customer)) {
		fprintf(stderr, "tollgate admin: unusable Stripe id\n");
		return -1;
	}
	for (page = 0; page < METER_PAGES_MAX; page++) {
		meter_rate_wait();
		if (stripe_call(r, "GET", arena_printf(&r->arena,
		    "/v1/billing/meters/%s/event_summaries?customer=%s&"
		    "start_time=%lld&end_time=%lld&limit=100%s%s", meter,
		    customer, from, to, after != NULL ? "&starting_after=" : "",
		    after != NULL ? after : ""), NULL, NULL, &o, &e) == -1) {
			fprintf(stderr, "tollgate admin: event summaries of %s "
			    "for %s: %s %d %s\n", meter, customer,
			    e.status == 0 ? "Stripe could not be reached" :
			    "Stripe answered", e.status, e.code);
			return -1;
		}
		data = http_json_at(o, "data");
		n = data != NULL && json_object_is_type(data, json_type_array) ?
		    json_object_array_length(data) : 0;
		for (i = 0; i < n; i++) {
			it = json_object_array_get_idx(data, i);
			*total += meter_value(http_json_at(it,
			    "aggregated_value"));
			after = http_json_text(it, "id");
		}
		if (!http_json_bool(o, "has_more") || n == 0 || after == NULL ||
		    !billing_id_ok(after))
			return 0;
	}
	fprintf(stderr, "tollgate admin: too many pages of summaries\n");
	return -1;
}

/* The Stripe id of a metric's meter (the catalogue), or NULL. */
static const char *
meter_id(struct req *r, const char *metric)
{
	const char	*id = NULL;

	if (db_billing_catalogue_get(r, "meter", arena_printf(&r->arena,
	    "tollgate_%s", metric), &id) != DB_OK)
		return NULL;
	return id;
}

struct meter_sums {
	long long	 usage, sent, stripe;
	size_t		 rows, differ, failed;
};

/* One line: the local totals, Stripe's and the difference. */
static void
meter_reconcile_row(struct req *r, const struct meter_recon *x,
    long long from, long long to, FILE *out, struct meter_sums *s)
{
	const char	*meter;
	long long	 stripe;

	s->rows++;
	s->usage += x->usage;
	s->sent += x->sent;
	if ((meter = meter_id(r, x->metric)) == NULL) {
		fprintf(out, "%-36s %-16s %12lld %12lld %12s %12s\n",
		    x->tenant_id, x->metric, x->usage, x->sent, "no meter",
		    "-");
		s->failed++;
		return;
	}
	if (meter_stripe_total(r, meter, x->customer, from, to, &stripe) ==
	    -1) {
		fprintf(out, "%-36s %-16s %12lld %12lld %12s %12s\n",
		    x->tenant_id, x->metric, x->usage, x->sent, "unreadable",
		    "-");
		s->failed++;
		return;
	}
	s->stripe += stripe;
	if (stripe != x->sent)
		s->differ++;
	fprintf(out, "%-36s %-16s %12lld %12lld %12lld %+12lld\n",
	    x->tenant_id, x->metric, x->usage, x->sent, stripe,
	    stripe - x->sent);
}

/*
 * For each tenant with a Stripe customer and each metered metric: the
 * usage of the month's windows, what was sent with a time in the month,
 * Stripe's total for the month and Stripe's minus what was sent (0 when
 * all is well; usage and sent differ by what is not sent yet, and by
 * late usage sent in a later month).  Progress on stderr when it is a
 * terminal.  The exit status: 0 when nothing differs, 1 when something
 * does or could not be read, 2 for a bad period.
 */
int
meter_reconcile(struct req *r, const char *period, FILE *out)
{
	struct meter_recon	*rows;
	struct meter_sums	 s;
	long long		 from, to;
	size_t			 i, n;
	enum db_rc		 rc;
	int			 tty = isatty(fileno(stderr));

	if (meter_period_parse(period, &from, &to) == -1) {
		fprintf(stderr, "tollgate admin: --period wants a month, "
		    "YYYY-MM\n");
		return 2;
	}
	if (!stripe_configured()) {
		fprintf(stderr, "tollgate admin: STRIPE_SECRET_KEY is not "
		    "set\n");
		return 1;
	}
	if ((rc = db_meter_reconcile(r, from, to, &rows, &n)) != DB_OK) {
		fprintf(stderr, "tollgate admin: database: %s\n",
		    db_strerror(rc));
		return 1;
	}
	memset(&s, 0, sizeof(s));
	fprintf(out, "%-36s %-16s %12s %12s %12s %12s\n", "tenant", "metric",
	    "usage", "sent", "stripe", "difference");
	for (i = 0; i < n; i++) {
		if (tty)
			fprintf(stderr, "\rreconcile %s: %zu/%zu", period,
			    i + 1, n);
		meter_reconcile_row(r, &rows[i], from, to, out, &s);
		fflush(out);
	}
	if (tty && n > 0)
		fprintf(stderr, "\r%40s\r", "");
	fprintf(out, "period %s: %zu row(s), %zu differ, %zu unreadable; "
	    "usage %lld, sent %lld, stripe %lld\n", period, s.rows, s.differ,
	    s.failed, s.usage, s.sent, s.stripe);
	return s.differ > 0 || s.failed > 0 ? 1 : 0;
}
