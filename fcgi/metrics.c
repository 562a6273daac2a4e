/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The pipeline's own counters, kept in shared memory that the master
 * maps before it forks (like the rate-limit table), so every responder
 * adds to the same numbers and a scrape sees the whole host: requests
 * by route pattern and status class, a latency histogram, database
 * round trips, rate-limit refusals, responder restarts and idempotent
 * replays.  Counters are 64-bit and updated with relaxed atomic adds:
 * no lock on the request path.  A process that never mapped them (the
 * worker, admin commands) counts nothing.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "tollgate.h"

#define METRICS_CLASSES	5		/* 1xx .. 5xx */
#define METRICS_BUCKETS	12

/* Upper bounds of the latency buckets, in milliseconds; the last: +Inf. */
static const double	metrics_le_ms[METRICS_BUCKETS - 1] = {
	1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500
};

static const char *const	metrics_names[METRIC__MAX][2] = {
	[METRIC_DB_ROUND_TRIPS] = { "tollgate_db_round_trips_total",
	    "Database round trips made while answering requests." },
	[METRIC_RATE_LIMITED] = { "tollgate_rate_limited_total",
	    "Requests refused with 429 by a rate limit." },
	[METRIC_RESPONDER_RESTARTS] = { "tollgate_responder_restarts_total",
	    "Responders that died and were replaced by the master." },
	[METRIC_IDEM_REPLAYS] = { "tollgate_idempotent_replays_total",
	    "Requests answered with the kept answer of an Idempotency-Key." },
};

struct metrics_shm {
	uint64_t	 counters[METRIC__MAX];
	uint64_t	 buckets[METRICS_BUCKETS];
	uint64_t	 sum_us;
	uint64_t	 count;
	uint64_t	 requests[];	/* nslots x METRICS_CLASSES */
};

static struct metrics_shm	*metrics;
static size_t			 metrics_nslots;
static const char *const	*metrics_label;
static size_t			 metrics_nlabels;

/* Map the counters for nslots routes; once, before forking. */
int
metrics_init(size_t nslots)
{
	size_t	 len;

	if (metrics != NULL)
		return 0;
	len = sizeof(*metrics) + nslots * METRICS_CLASSES * sizeof(uint64_t);
	metrics = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (metrics == MAP_FAILED) {
		metrics = NULL;
		log_err("%s: mmap: %s", __func__, strerror(errno));
		return -1;
	}
	metrics_nslots = nslots;
	return 0;
}

/* The names of the route slots (borrowed; slot nlabels: "unmatched"). */
void
metrics_labels(const char *const *labels, size_t n)
{
	metrics_label = labels;
	metrics_nlabels = n;
}

void
metrics_add(enum metric m, unsigned long n)
{
	if (metrics != NULL && m < METRIC__MAX && n > 0)
		__atomic_fetch_add(&metrics->counters[m], n, __ATOMIC_RELAXED);
}

/* One answered request: its route slot, status and duration. */
void
metrics_request(size_t slot, int status, double ms)
{
	size_t	 b, cls;

	if (metrics == NULL)
		return;
	if (slot >= metrics_nslots)
		slot = metrics_nslots - 1;
	cls = status >= 100 && status < 600 ? (size_t)(status / 100 - 1) : 4;
	__atomic_fetch_add(&metrics->requests[slot * METRICS_CLASSES + cls], 1,
	    __ATOMIC_RELAXED);
	for (b = 0; b < METRICS_BUCKETS - 1; b++)
		if (ms <= metrics_le_ms[b])
			break;
	__atomic_fetch_add(&metrics->buckets[b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&metrics->sum_us, ms > 0 ? (uint64_t)(ms * 1000) :
	    0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&metrics->count, 1, __ATOMIC_RELAXED);
}

static uint64_t
metrics_get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void
metrics_render_requests(struct buf *b)
{
	const char	*label;
	uint64_t	 n;
	size_t		 slot, cls;

	buf_puts(b, "# HELP tollgate_requests_total Requests answered, by "
	    "route pattern and status class.\n"
	    "# TYPE tollgate_requests_total counter\n");
	for (slot = 0; slot < metrics_nslots; slot++) {
		label = slot < metrics_nlabels && metrics_label != NULL ?
		    metrics_label[slot] : "unmatched";
		for (cls = 0; cls < METRICS_CLASSES; cls++) {
			n = metrics_get(&metrics->requests[slot *
			    METRICS_CLASSES + cls]);
			if (n > 0)
				buf_printf(b, "tollgate_requests_total{route=\"%s\","
				    "status=\"%zuxx\"} %llu\n", label, cls + 1,
				    (unsigned long long)n);
		}
	}
}

static void
metrics_render_latency(struct buf *b)
{
	uint64_t	 cum = 0;
	size_t		 i;

	buf_puts(b, "# HELP tollgate_request_duration_seconds Time from "
	    "accepting a request to sending its answer.\n"
	    "# TYPE tollgate_request_duration_seconds histogram\n");
	for (i = 0; i < METRICS_BUCKETS; i++) {
		cum += metrics_get(&metrics->buckets[i]);
		if (i < METRICS_BUCKETS - 1)
			buf_printf(b, "tollgate_request_duration_seconds_bucket"
			    "{le=\"%g\"} %llu\n", metrics_le_ms[i] / 1000,
			    (unsigned long long)cum);
		else
			buf_printf(b, "tollgate_request_duration_seconds_bucket"
			    "{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	buf_printf(b, "tollgate_request_duration_seconds_sum %.6f\n"
	    "tollgate_request_duration_seconds_count %llu\n",
	    (double)metrics_get(&metrics->sum_us) / 1e6,
	    (unsigned long long)metrics_get(&metrics->count));
}

/* The Prometheus text format (version 0.0.4); -1 when not mapped. */
int
metrics_render(struct buf *b)
{
	size_t	 m;

	if (metrics == NULL)
		return -1;
	metrics_render_requests(b);
	metrics_render_latency(b);
	for (m = 0; m < METRIC__MAX; m++)
		buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
		    metrics_names[m][0], metrics_names[m][1],
		    metrics_names[m][0], metrics_names[m][0],
		    (unsigned long long)metrics_get(&metrics->counters[m]));
	return b->toobig ? -1 : 0;
}
