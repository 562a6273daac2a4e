/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * bench/vec-bench.c: the vector collections of fcgi/vec.c, measured
 * alone (no stack, no HTTP): exact cosine search over 10,000 and
 * 100,000 random 384-dimension vectors, one thread, and the copy on
 * write of 1,000 upserts into the 100,000.  bench/run builds it with
 * fcgi/vec.c (and util.c, log.c for xmalloc) at -O2, as the product is
 * built for deployment, and appends its rows to its own.
 *
 *	vec-bench DIR LOAD1
 *
 * writes its collections under DIR (an empty directory; its files are
 * removed at the end) and prints one row per figure to stdout in the
 * shape of bench/run's add_row (id, label, req/s, p50 ms, p99 ms,
 * errors, connections, target, max RSS KiB, notes); LOAD1 only goes
 * into the notes.  Progress goes to stderr.  Exit 1 when something
 * failed outright; wrong answers are counted in the errors column.
 */
#include "config.h"

#include <sys/resource.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tollgate.h"

#define DIM		384
#define TOP_K		10
#define QUERIES		200
#define WARMUP		10
#define CHECKED		5	/* queries checked by brute force */
#define BATCH		10000	/* items per vec_apply() while building */
#define UPSERTS		1000
#define APPLIES		5	/* timed vec_apply() of UPSERTS each */
#define TARGET_MS	10.0	/* at 100,000 vectors, one core */

static uint64_t	rng_state = 0x9e3779b97f4a7c15ULL;

static double
unit_interval(uint64_t x)
{
	return (double)(x >> 11) / 9007199254740992.0 * 2 - 1;
}

/* xorshift64*: the same queries every run, so runs compare. */
static double
rng_uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return unit_interval(rng_state * 0x2545f4914f6cdd1dULL);
}

/*
 * Value j of item i, in [-1, 1), a function of (i, j) alone
 * (splitmix64), so the brute-force check recomputes the collection
 * instead of holding 300 MB of it.
 */
static double
item_value(size_t i, size_t j)
{
	uint64_t	 z = (uint64_t)(i * DIM + j) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return unit_interval(z ^ (z >> 31));
}

static double
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted samples, nearest rank. */
static double
quantile(const double *v, size_t n, double q)
{
	size_t	 r = (size_t)ceil(q * n);

	return v[r == 0 ? 0 : r - 1];
}

static long
rss_max_kib(void)
{
	struct rusage	 ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static void
item_id(size_t i, char *buf, size_t size)
{
	snprintf(buf, size, "item-%07zu", i);
}

/* Items first .. first + BATCH - 1 into generation gen. */
static int
put_items(const char *dir, const char *name, uint64_t gen, size_t first)
{
	static double		 v[BATCH][DIM];
	static char		 ids[BATCH][16];
	static struct vec_item	 items[BATCH];
	const char		*cause;
	size_t			 i, j;
	enum vec_rc		 rc;

	for (i = 0; i < BATCH; i++) {
		item_id(first + i, ids[i], sizeof(ids[i]));
		for (j = 0; j < DIM; j++)
			v[i][j] = item_value(first + i, j);
		items[i].id = ids[i];
		items[i].v = v[i];
	}
	rc = vec_apply(dir, name, gen - 1, gen, DIM, items, BATCH, NULL, 0,
	    &cause);
	if (rc != VEC_OK) {
		fprintf(stderr, "vec-bench: vec_apply: %s: %m\n", cause);
		return -1;
	}
	if (gen > 1)
		vec_remove(dir, name, gen - 1);
	return 0;
}

/* Does the first hit agree with the best cosine in double precision? */
static int
brute_agrees(size_t n, const float *q, const struct vec_hit *hit)
{
	double	 best = -2, s, na, nq = 0, x;
	size_t	 i, j;

	for (j = 0; j < DIM; j++)
		nq += (double)q[j] * q[j];
	for (i = 0; i < n; i++) {
		s = na = 0;
		for (j = 0; j < DIM; j++) {
			x = item_value(i, j);
			s += x * q[j];
			na += x * x;
		}
		s /= sqrt(na) * sqrt(nq);
		if (s > best)
			best = s;
	}
	return fabs(best - hit->score) < 1e-5;
}

static int
search_row(const char *dir, const char *name, uint64_t gen, size_t n,
    const char *load1)
{
	static struct vec_hit	 hits[TOP_K];
	struct vec_stat		 st;
	float			 q[DIM];
	double			 ms[QUERIES], t, sum = 0, first = 0;
	const char		*cause;
	size_t			 i, j, nhits;
	int			 errors = 0;

	for (i = 0; i < WARMUP + QUERIES; i++) {
		for (j = 0; j < DIM; j++)
			q[j] = (float)rng_uniform();
		t = now_ms();
		if (vec_search(dir, name, gen, DIM, q, TOP_K, hits, &nhits,
		    &cause) == -1) {
			fprintf(stderr, "vec-bench: vec_search: %s: %m\n",
			    cause);
			return -1;
		}
		t = now_ms() - t;
		if (i == 0)
			first = t;
		if (nhits != TOP_K)
			errors++;
		if (i < CHECKED && !brute_agrees(n, q, &hits[0]))
			errors++;
		if (i >= WARMUP) {
			ms[i - WARMUP] = t;
			sum += t;
		}
	}
	if (vec_stat(dir, name, gen, &st, &cause) == -1) {
		fprintf(stderr, "vec-bench: vec_stat: %s: %m\n", cause);
		return -1;
	}
	qsort(ms, QUERIES, sizeof(ms[0]), cmp_double);
	printf("vec_search_%zuk\tvector search, %zu,000 x %d, top %d\t%.1f\t"
	    "%.2f\t%.2f\t%d\t1\t%s\t%ld\t"
	    "bench/vec-bench.c, one thread, %d queries after %d warm-up, "
	    "exact cosine (fcgi/vec.c, cc -O2), file %.1f MiB in the page "
	    "cache, mapped once (max RSS counts its pages): the first "
	    "search, which maps it, %.2f ms; max %.2f ms; first hit of %d "
	    "queries "
	    "checked against double-precision brute force; %s; "
	    "load1 %s before the run\n",
	    n / 1000, n / 1000, DIM, TOP_K, QUERIES * 1000.0 / sum,
	    quantile(ms, QUERIES, 0.5), quantile(ms, QUERIES, 0.99), errors,
	    n >= 100000 ? "p99 <= 10 ms" : "none", rss_max_kib(),
	    QUERIES, WARMUP, st.bytes / 1048576.0, first, ms[QUERIES - 1],
	    CHECKED,
	    n < 100000 ? "no target at this size" :
	    quantile(ms, QUERIES, 0.99) <= TARGET_MS ?
	    "target p99 <= 10 ms: met" : "target p99 <= 10 ms: NOT met",
	    load1);
	return 0;
}

/*
 * Copy on write: each apply reads the whole collection and writes it
 * again with UPSERTS changes, half replacing existing ids (in place),
 * half new (appended), then fsyncs.  The old file is removed after
 * each, as the caller would once the new generation is recorded.
 */
static int
apply_row(const char *dir, const char *name, uint64_t *gen, size_t n,
    const char *load1)
{
	static double		 v[UPSERTS][DIM];
	static char		 ids[UPSERTS][16];
	struct vec_item		 items[UPSERTS];
	struct vec_stat		 st;
	double			 ms[APPLIES], t;
	const char		*cause;
	size_t			 i, j, r, added = n;

	for (r = 0; r < APPLIES; r++) {
		for (i = 0; i < UPSERTS; i++) {
			if (i % 2 == 0)
				item_id((size_t)((rng_uniform() + 1) / 2 *
				    (n - 1)), ids[i], sizeof(ids[i]));
			else
				item_id(added++, ids[i], sizeof(ids[i]));
			for (j = 0; j < DIM; j++)
				v[i][j] = rng_uniform();
			items[i].id = ids[i];
			items[i].v = v[i];
		}
		t = now_ms();
		if (vec_apply(dir, name, *gen, *gen + 1, DIM, items, UPSERTS,
		    NULL, 0, &cause) != VEC_OK) {
			fprintf(stderr, "vec-bench: vec_apply: %s: %m\n",
			    cause);
			return -1;
		}
		ms[r] = now_ms() - t;
		vec_remove(dir, name, (*gen)++);
	}
	if (vec_stat(dir, name, *gen, &st, &cause) == -1) {
		fprintf(stderr, "vec-bench: vec_stat: %s: %m\n", cause);
		return -1;
	}
	qsort(ms, APPLIES, sizeof(ms[0]), cmp_double);
	printf("vec_apply_100k\tvector upsert, 1,000 into %zu,000 x %d "
	    "(copy on write)\t-\t%.2f\t%.2f\t0\t1\tnone\t%ld\t"
	    "bench/vec-bench.c, %d runs of vec_apply() with %d upserts "
	    "(half replacing existing ids in place, half new), each reading "
	    "the whole generation and writing the next (%.1f MiB at the "
	    "end, %llu items) with fsync of the file and the directory; "
	    "p50 is the median run, p99 the slowest; load1 %s before the "
	    "run\n",
	    n / 1000, DIM, quantile(ms, APPLIES, 0.5), ms[APPLIES - 1],
	    rss_max_kib(), APPLIES, UPSERTS, st.bytes / 1048576.0,
	    (unsigned long long)st.count, load1);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const size_t	 sizes[] = { 10000, 100000 };
	char			 name[32];
	double			 t;
	uint64_t		 gen;
	size_t			 s, done;

	if (argc != 3) {
		fprintf(stderr, "usage: vec-bench DIR LOAD1\n");
		return 1;
	}
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		snprintf(name, sizeof(name), "bench%zuk", sizes[s] / 1000);
		fprintf(stderr, "vec-bench: building %s, %zu x %d\n", name,
		    sizes[s], DIM);
		t = now_ms();
		for (gen = 1, done = 0; done < sizes[s]; gen++, done += BATCH)
			if (put_items(argv[1], name, gen, done) == -1)
				return 1;
		gen--;
		fprintf(stderr, "vec-bench: built in %.0f ms; searching\n",
		    now_ms() - t);
		if (search_row(argv[1], name, gen, sizes[s], argv[2]) == -1)
			return 1;
		if (sizes[s] == 100000) {
			fprintf(stderr, "vec-bench: %d x vec_apply of %d "
			    "upserts\n", APPLIES, UPSERTS);
			if (apply_row(argv[1], name, &gen, sizes[s],
			    argv[2]) == -1)
				return 1;
		}
		vec_remove(argv[1], name, gen);
	}
	return 0;
}
