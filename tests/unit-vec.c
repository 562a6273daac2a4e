/* Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE). */

/*
 * Unit tests of the vector collections (vec.c): generations written by
 * vec_apply() and read back slot by slot through the documented file
 * format, searches against a brute-force reference in double
 * precision, the refusals of vec_check(), damaged files, a directory
 * that cannot be written, and the per-process mapping cache.  Each test
 * gets a fresh directory and an empty cache.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tollgate.h"

#define HEAD_SIZE	64
#define ID_FIELD	128
#define MAX_ITEMS	2000

/* The slot size of the documented format: 160 + 4 * dim rounded to 16. */
#define SLOT_SIZE(d)	(160 + 4 * (((size_t)(d) + 15) / 16 * 16))

struct fixture {
	char		 dir[64];
};

/* One generation read back from its file, by the format in vec.c. */
struct slots {
	size_t		 count;
	char		 id[MAX_ITEMS][ID_FIELD + 1];
	float		 norm[MAX_ITEMS];
	double		 unit[MAX_ITEMS][8];	/* the first values */
};

static uint64_t	rng = 88172645463325252ULL;

static double
uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0 * 2 - 1;
}

static int
setup(void **state)
{
	struct fixture	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/unit-vec.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (strlen(f->dir) >= sizeof(f->dir) - 1 || mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	vec_cache_clear();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	struct dirent	*de;
	DIR		*d;
	char		 path[512];

	vec_cache_clear();
	chmod(f->dir, 0700);
	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", f->dir,
			    de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
read_slots(const char *dir, const char *name, uint64_t gen, unsigned dim,
    struct slots *s)
{
	unsigned char	 head[HEAD_SIZE], *slot;
	char		 path[512];
	uint64_t	 count, g;
	uint32_t	 d, size;
	size_t		 i, j;
	float		 x;
	FILE		*fp;

	assert_int_equal(vec_path(dir, name, gen, path, sizeof(path)), 0);
	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fread(head, 1, sizeof(head), fp), sizeof(head));
	assert_memory_equal(head, "TGVEC1\0\0", 8);
	memcpy(&d, head + 12, 4);
	memcpy(&count, head + 16, 8);
	memcpy(&g, head + 24, 8);
	memcpy(&size, head + 32, 4);
	assert_int_equal(d, dim);
	assert_int_equal(g, gen);
	assert_int_equal(size, SLOT_SIZE(dim));
	assert_true(count <= MAX_ITEMS);
	assert_non_null(slot = malloc(size));
	s->count = count;
	for (i = 0; i < count; i++) {
		assert_int_equal(fread(slot, 1, size, fp), size);
		memcpy(s->id[i], slot, ID_FIELD);
		s->id[i][ID_FIELD] = '\0';
		memcpy(&s->norm[i], slot + ID_FIELD + (size - 160), 4);
		for (j = 0; j < 8 && j < dim; j++) {
			memcpy(&x, slot + ID_FIELD + 4 * j, 4);
			s->unit[i][j] = x;
		}
		/* Past dim, up to the end of the slot: zeros. */
		for (j = ID_FIELD + 4 * dim; j < size; j++)
			if (j < size - 32 || j >= size - 28)
				assert_int_equal(slot[j], 0);
	}
	assert_int_equal(fgetc(fp), EOF);
	free(slot);
	fclose(fp);
}

static enum vec_rc
apply(const char *dir, const char *name, uint64_t from, uint64_t to,
    unsigned dim, const struct vec_item *up, size_t nup,
    const char *const *del, size_t ndel)
{
	const char	*cause = NULL;
	enum vec_rc	 rc;

	rc = vec_apply(dir, name, from, to, dim, up, nup, del, ndel, &cause);
	if (rc != VEC_OK)
		assert_non_null(cause);
	return rc;
}

static void
test_vec_check(void **state)
{
	static double	 big[VEC_DIM_MAX];
	double		 v[4] = { 1, -2, 0.5, 0 }, w[4];
	const char	*why;
	size_t		 i;

	assert_int_equal(vec_check(v, 4, 4, &why), 0);
	assert_int_equal(vec_check(v, 3, 4, &why), -1);
	assert_string_equal(why, "wrong dimension");
	assert_int_equal(vec_check(v, 0, 0, &why), -1);
	assert_string_equal(why, "dimension out of range");
	assert_int_equal(vec_check(big, VEC_DIM_MAX + 1, VEC_DIM_MAX + 1,
	    &why), -1);
	assert_string_equal(why, "dimension out of range");

	memcpy(w, v, sizeof(w));
	w[2] = NAN;
	assert_int_equal(vec_check(w, 4, 4, &why), -1);
	assert_string_equal(why, "NaN in vector");
	w[2] = INFINITY;
	assert_int_equal(vec_check(w, 4, 4, &why), -1);
	assert_string_equal(why, "infinity in vector");
	w[2] = -INFINITY;
	assert_int_equal(vec_check(w, 4, 4, &why), -1);
	assert_string_equal(why, "infinity in vector");
	/* Finite as a double, infinite as a float32. */
	w[2] = -1e39;
	assert_int_equal(vec_check(w, 4, 4, &why), -1);
	assert_string_equal(why, "value out of float32 range");

	memset(w, 0, sizeof(w));
	assert_int_equal(vec_check(w, 4, 4, &why), -1);
	assert_string_equal(why, "all-zero vector");
	/* Not zero as doubles, zero once float32. */
	for (i = 0; i < 4; i++)
		w[i] = 1e-60;
	assert_int_equal(vec_check(w, 4, 4, &why), -1);
	assert_string_equal(why, "all-zero vector");

	/* Every value a float, the length not. */
	for (i = 0; i < VEC_DIM_MAX; i++)
		big[i] = FLT_MAX / 2;
	assert_int_equal(vec_check(big, VEC_DIM_MAX, VEC_DIM_MAX, &why), -1);
	assert_string_equal(why, "vector length out of float32 range");
	big[0] = 1;
	for (i = 1; i < VEC_DIM_MAX; i++)
		big[i] = 0;
	assert_int_equal(vec_check(big, VEC_DIM_MAX, VEC_DIM_MAX, &why), 0);
}

static void
test_vec_names(void **state)
{
	char	 id[VEC_ID_MAX + 2];
	char	 path[64];

	assert_true(vec_id_valid("A-z_0.9:x"));
	assert_false(vec_id_valid(""));
	assert_false(vec_id_valid(NULL));
	assert_false(vec_id_valid("a/b"));
	assert_false(vec_id_valid("a b"));
	assert_false(vec_id_valid("caf\xc3\xa9"));
	memset(id, 'x', sizeof(id));
	id[VEC_ID_MAX] = '\0';
	assert_true(vec_id_valid(id));
	id[VEC_ID_MAX] = 'x';
	id[VEC_ID_MAX + 1] = '\0';
	assert_false(vec_id_valid(id));

	assert_true(vec_name_valid("tenant-1_docs"));
	assert_false(vec_name_valid(""));
	assert_true(vec_name_valid("a.b:c"));
	assert_false(vec_name_valid(".hidden"));
	assert_false(vec_name_valid("."));
	assert_false(vec_name_valid(".."));
	assert_false(vec_name_valid("../x"));
	assert_false(vec_name_valid("a/b"));

	assert_int_equal(vec_path("/d", "c", 7, path, sizeof(path)), 0);
	assert_string_equal(path, "/d/c.7.vec");
	assert_int_equal(vec_path("/d", "c", 0, path, sizeof(path)), -1);
	assert_int_equal(vec_path("/d", "a/b", 1, path, sizeof(path)), -1);
	assert_int_equal(vec_path("/d", "c", 7, path, 10), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/*
 * Three generations: append, replace in place, delete, delete and
 * upsert (appended as new), two upserts of one id (the last values at
 * the first's place), deleting an id that is not there.
 */
static void
test_vec_generations(void **state)
{
	struct fixture		*f = *state;
	static struct slots	 s;
	static const double	 va[3] = { 1, 0, 0 }, vb[3] = { 0, 2, 0 },
				 vc[3] = { 0, 0, 3 }, vb2[3] = { 0, 0, -4 },
				 vd[3] = { 3, 4, 0 }, ve[3] = { 1, 1, 1 };
	struct vec_item		 g1[] = { { "a", va }, { "b", vb },
				    { "c", vc } };
	struct vec_item		 g2[] = { { "b", vb2 }, { "d", vd } };
	struct vec_item		 g3[] = { { "e", vb }, { "c", va },
				    { "e", ve } };
	const char		*del2[] = { "a", "zz" }, *del3[] = { "c" };
	struct vec_stat		 st;
	const char		*cause;
	char			 path[512];

	assert_int_equal(apply(f->dir, "col", 0, 1, 3, g1, 3, NULL, 0),
	    VEC_OK);
	read_slots(f->dir, "col", 1, 3, &s);
	assert_int_equal(s.count, 3);
	assert_string_equal(s.id[0], "a");
	assert_string_equal(s.id[1], "b");
	assert_string_equal(s.id[2], "c");
	/* Stored at unit length, with the length sent. */
	assert_float_equal(s.unit[1][1], 1, 1e-7);
	assert_float_equal(s.norm[1], 2, 1e-6);
	assert_float_equal(s.norm[2], 3, 1e-6);

	assert_int_equal(apply(f->dir, "col", 1, 2, 3, g2, 2, del2, 2),
	    VEC_OK);
	read_slots(f->dir, "col", 2, 3, &s);
	assert_int_equal(s.count, 3);
	assert_string_equal(s.id[0], "b");
	assert_string_equal(s.id[1], "c");
	assert_string_equal(s.id[2], "d");
	assert_float_equal(s.unit[0][2], -1, 1e-7);
	assert_float_equal(s.norm[0], 4, 1e-6);
	assert_float_equal(s.unit[2][0], 0.6, 1e-7);
	assert_float_equal(s.unit[2][1], 0.8, 1e-7);
	assert_float_equal(s.norm[2], 5, 1e-6);

	/* The old generation stays until the caller removes it. */
	assert_int_equal(vec_path(f->dir, "col", 1, path, sizeof(path)), 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(vec_remove(f->dir, "col", 1), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(vec_remove(f->dir, "col", 1), 0);

	assert_int_equal(apply(f->dir, "col", 2, 5, 3, g3, 3, del3, 1),
	    VEC_OK);
	read_slots(f->dir, "col", 5, 3, &s);
	assert_int_equal(s.count, 4);
	assert_string_equal(s.id[0], "b");
	assert_string_equal(s.id[1], "d");
	assert_string_equal(s.id[2], "e");
	assert_string_equal(s.id[3], "c");
	assert_float_equal(s.unit[2][0], 1 / sqrt(3), 1e-7);
	assert_float_equal(s.unit[3][0], 1, 1e-7);

	assert_int_equal(vec_stat(f->dir, "col", 5, &st, &cause), 0);
	assert_int_equal(st.dim, 3);
	assert_int_equal(st.count, 4);
	assert_int_equal(st.bytes, HEAD_SIZE + 4 * SLOT_SIZE(3));

	/* Deleting everything leaves a valid, empty generation. */
	{
		const char	*all[] = { "b", "d", "e", "c" };

		assert_int_equal(apply(f->dir, "col", 5, 6, 3, NULL, 0, all,
		    4), VEC_OK);
		assert_int_equal(vec_stat(f->dir, "col", 6, &st, &cause), 0);
		assert_int_equal(st.count, 0);
		assert_int_equal(st.bytes, HEAD_SIZE);
	}
}

static void
test_vec_apply_refused(void **state)
{
	struct fixture		*f = *state;
	static const double	 v[3] = { 1, 2, 3 }, bad[3] = { 1, NAN, 3 };
	struct vec_item		 ok[] = { { "a", v } };
	struct vec_item		 badv[] = { { "a", bad } };
	struct vec_item		 badid[] = { { "a b", v } };
	const char		*baddel[] = { "" };
	char			 path[512], tmp[512];
	struct dirent		*de;
	DIR			*d;
	int			 files = 0;

	assert_int_equal(apply(f->dir, "col", 0, 1, 3, ok, 1, NULL, 0),
	    VEC_OK);
	/* Generations only move forward. */
	assert_int_equal(apply(f->dir, "col", 1, 1, 3, ok, 1, NULL, 0),
	    VEC_ERROR);
	assert_int_equal(apply(f->dir, "col", 0, 0, 3, ok, 1, NULL, 0),
	    VEC_ERROR);
	assert_int_equal(apply(f->dir, "col", 1, 2, 3, badv, 1, NULL, 0),
	    VEC_ERROR);
	assert_int_equal(apply(f->dir, "col", 1, 2, 3, badid, 1, NULL, 0),
	    VEC_ERROR);
	assert_int_equal(apply(f->dir, "col", 1, 2, 3, NULL, 0, baddel, 1),
	    VEC_ERROR);
	assert_int_equal(apply(f->dir, ".c", 0, 1, 3, ok, 1, NULL, 0),
	    VEC_ERROR);
	assert_int_equal(apply(f->dir, "col", 1, 2, 0, NULL, 0, NULL, 0),
	    VEC_ERROR);
	/* The old generation's dimension differs. */
	assert_int_equal(apply(f->dir, "col", 1, 2, 4, NULL, 0, NULL, 0),
	    VEC_ERROR);
	/* The old generation is missing: not the "full" code. */
	assert_int_equal(apply(f->dir, "col", 9, 10, 3, ok, 1, NULL, 0),
	    VEC_ERROR);
	assert_int_equal(errno, ENOENT);
	/* A foreign file where the old generation should be. */
	assert_int_equal(vec_path(f->dir, "col", 1, path, sizeof(path)), 0);
	assert_int_equal(vec_path(f->dir, "col", 3, tmp, sizeof(tmp)), 0);
	assert_int_equal(link(path, tmp), 0);
	assert_int_equal(apply(f->dir, "col", 3, 4, 3, ok, 1, NULL, 0),
	    VEC_ERROR);

	/* Nothing left behind by the refusals: col.1.vec and col.3.vec. */
	assert_non_null(d = opendir(f->dir));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			files++;
		else
			assert_true(strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0);
	closedir(d);
	assert_int_equal(files, 2);
}

struct ref {
	double		 score;
	size_t		 slot;
};

static int
ref_cmp(const void *a, const void *b)
{
	const struct ref	*x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static double
cosine(const double *a, const float *q, size_t dim)
{
	double	 s = 0, na = 0, nq = 0;
	size_t	 i;

	for (i = 0; i < dim; i++) {
		s += a[i] * q[i];
		na += a[i] * a[i];
		nq += (double)q[i] * q[i];
	}
	return s / (sqrt(na) * sqrt(nq));
}

/*
 * 2,000 random vectors of 64 values, against cosines computed in
 * double from the values sent: every hit's score is its item's true
 * cosine, and the k scores are the k best true cosines, in order.
 */
static void
test_vec_search_brute(void **state)
{
	struct fixture		*f = *state;
	enum { N = 2000, DIM = 64, K = 50, QUERIES = 20 };
	static double		 v[N][DIM];
	static char		 ids[N][16];
	static struct vec_item	 items[N];
	static struct ref	 ref[N];
	static struct vec_hit	 hits[K];
	float			 q[DIM];
	const char		*cause;
	size_t			 i, j, n, nhits;

	for (i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "v%zu", i);
		for (j = 0; j < DIM; j++)
			v[i][j] = uniform() * (i % 7 + 1);
		items[i].id = ids[i];
		items[i].v = v[i];
	}
	/* In two generations, so the copy is searched too. */
	assert_int_equal(apply(f->dir, "rand", 0, 1, DIM, items, N / 2,
	    NULL, 0), VEC_OK);
	assert_int_equal(apply(f->dir, "rand", 1, 2, DIM, items + N / 2,
	    N / 2, NULL, 0), VEC_OK);
	for (n = 0; n < QUERIES; n++) {
		for (j = 0; j < DIM; j++)
			q[j] = (float)uniform();
		for (i = 0; i < N; i++) {
			ref[i].score = cosine(v[i], q, DIM);
			ref[i].slot = i;
		}
		qsort(ref, N, sizeof(ref[0]), ref_cmp);
		assert_int_equal(vec_search(f->dir, "rand", 2, DIM, q, K, hits,
		    &nhits, &cause), 0);
		assert_int_equal(nhits, K);
		for (i = 0; i < K; i++) {
			assert_int_equal(sscanf(hits[i].id, "v%zu", &j), 1);
			assert_true(j < N);
			assert_float_equal(hits[i].score, cosine(v[j], q, DIM),
			    1e-5);
			assert_float_equal(hits[i].score, ref[i].score, 1e-5);
			if (i > 0)
				assert_true(hits[i].score <= hits[i - 1].score);
		}
	}
}

/* Equal scores come in slot order, also when some do not fit. */
static void
test_vec_search_ties(void **state)
{
	struct fixture		*f = *state;
	static const double	 same[4] = { 1, 2, 3, 4 }, other[4] = { -1,
				    0, 0, 0 }, twice[4] = { 2, 4, 6, 8 };
	struct vec_item		 items[] = { { "o1", other }, { "t0", same },
				    { "t1", same }, { "o2", other },
				    { "t2", twice }, { "t3", same } };
	struct vec_item		 redo[] = { { "t1", same } };
	static const float	 q[4] = { 1, 2, 3, 4 };
	struct vec_hit		 hits[6];
	const char		*cause;
	size_t			 nhits;

	assert_int_equal(apply(f->dir, "ties", 0, 1, 4, items, 6, NULL, 0),
	    VEC_OK);
	assert_int_equal(vec_search(f->dir, "ties", 1, 4, q, 6, hits,
	    &nhits, &cause), 0);
	assert_int_equal(nhits, 6);
	assert_string_equal(hits[0].id, "t0");
	assert_string_equal(hits[1].id, "t1");
	assert_string_equal(hits[2].id, "t2");
	assert_string_equal(hits[3].id, "t3");
	assert_string_equal(hits[4].id, "o1");
	assert_string_equal(hits[5].id, "o2");
	assert_true(hits[0].score == hits[3].score);
	assert_float_equal(hits[0].score, 1, 1e-6);
	assert_true(hits[0].score <= 1);
	assert_float_equal(hits[5].score, -1 / sqrt(30), 1e-6);

	/* The heap is full before the last ties arrive. */
	assert_int_equal(vec_search(f->dir, "ties", 1, 4, q, 3, hits,
	    &nhits, &cause), 0);
	assert_int_equal(nhits, 3);
	assert_string_equal(hits[0].id, "t0");
	assert_string_equal(hits[1].id, "t1");
	assert_string_equal(hits[2].id, "t2");

	/* Replaced in place, t1 keeps its place among the ties. */
	assert_int_equal(apply(f->dir, "ties", 1, 2, 4, redo, 1, NULL, 0),
	    VEC_OK);
	assert_int_equal(vec_search(f->dir, "ties", 2, 4, q, 2, hits,
	    &nhits, &cause), 0);
	assert_string_equal(hits[0].id, "t0");
	assert_string_equal(hits[1].id, "t1");
}

static void
test_vec_search_limits(void **state)
{
	struct fixture		*f = *state;
	static const double	 a[2] = { 1, 0 }, b[2] = { 0, 1 },
				 c[2] = { 1, 1 };
	struct vec_item		 items[] = { { "a", a }, { "b", b },
				    { "c", c } };
	const char		*all[] = { "a", "b", "c" };
	static struct vec_hit	 hits[VEC_TOPK_MAX];
	float			 q[2] = { 1, 0 }, zero[2] = { 0, 0 },
				 notnum[2] = { NAN, 1 }, q3[3] = { 1, 0, 0 };
	const char		*cause;
	size_t			 nhits = 99;

	assert_int_equal(apply(f->dir, "lim", 0, 1, 2, items, 3, NULL, 0),
	    VEC_OK);
	assert_int_equal(vec_search(f->dir, "lim", 1, 2, q, VEC_TOPK_MAX,
	    hits, &nhits, &cause), 0);
	assert_int_equal(nhits, 3);
	assert_string_equal(hits[0].id, "a");
	assert_string_equal(hits[1].id, "c");
	assert_string_equal(hits[2].id, "b");
	assert_float_equal(hits[1].score, 1 / sqrt(2), 1e-6);
	assert_float_equal(hits[2].score, 0, 1e-7);

	assert_int_equal(vec_search(f->dir, "lim", 1, 2, q, 0, hits, &nhits,
	    &cause), -1);
	assert_string_equal(cause, "top_k out of range");
	assert_int_equal(nhits, 0);
	assert_int_equal(vec_search(f->dir, "lim", 1, 2, q, VEC_TOPK_MAX + 1,
	    hits, &nhits, &cause), -1);
	assert_int_equal(vec_search(f->dir, "lim", 1, 2, zero, 1, hits,
	    &nhits, &cause), -1);
	assert_string_equal(cause, "all-zero query");
	assert_int_equal(vec_search(f->dir, "lim", 1, 2, notnum, 1, hits,
	    &nhits, &cause), -1);
	assert_string_equal(cause, "query is not finite");
	assert_int_equal(vec_search(f->dir, "lim", 1, 3, q3, 1, hits,
	    &nhits, &cause), -1);
	assert_string_equal(cause, "dimension mismatch");
	assert_int_equal(vec_search(f->dir, "lim", 7, 2, q, 1, hits,
	    &nhits, &cause), -1);
	assert_string_equal(cause, "open");
	assert_int_equal(errno, ENOENT);

	/* An empty generation: no hits, no error. */
	assert_int_equal(apply(f->dir, "lim", 1, 2, 2, NULL, 0, all, 3),
	    VEC_OK);
	assert_int_equal(vec_search(f->dir, "lim", 2, 2, q, 10, hits,
	    &nhits, &cause), 0);
	assert_int_equal(nhits, 0);
}

/* Write generation gen of "bad" as the given bytes. */
static void
write_file(const char *dir, uint64_t gen, const void *p, size_t n)
{
	char	 path[512];
	FILE	*fp;

	assert_int_equal(vec_path(dir, "bad", gen, path, sizeof(path)), 0);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void
expect_refused(const char *dir, uint64_t gen, const char *why)
{
	static const float	 q[4] = { 1, 0, 0, 0 };
	struct vec_hit		 hits[4];
	struct vec_stat		 st;
	const char		*cause;
	size_t			 nhits;

	assert_int_equal(vec_search(dir, "bad", gen, 4, q, 4, hits, &nhits,
	    &cause), -1);
	assert_string_equal(cause, why);
	assert_int_equal(vec_stat(dir, "bad", gen, &st, &cause), -1);
	assert_string_equal(cause, why);
	assert_int_equal(vec_cache_size(), 0);
}

/*
 * Damaged and foreign files are refused from their header and size,
 * never read past their end.
 */
static void
test_vec_bad_files(void **state)
{
	struct fixture		*f = *state;
	static const double	 a[4] = { 1, 2, 3, 4 };
	struct vec_item		 items[] = { { "a", a }, { "b", a } };
	unsigned char		 buf[HEAD_SIZE + 2 * SLOT_SIZE(4)];
	unsigned char		 copy[sizeof(buf)];
	char			 path[512];
	uint64_t		 g;
	FILE			*fp;

	assert_int_equal(apply(f->dir, "bad", 0, 1, 4, items, 2, NULL, 0),
	    VEC_OK);
	assert_int_equal(vec_path(f->dir, "bad", 1, path, sizeof(path)), 0);
	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fread(buf, 1, sizeof(buf), fp), sizeof(buf));
	assert_int_equal(fgetc(fp), EOF);
	fclose(fp);

	/* The same bytes under their generation's name. */
	memcpy(copy, buf, sizeof(buf));
	g = 2;
	memcpy(copy + 24, &g, 8);
	write_file(f->dir, 2, copy, sizeof(copy));
	{
		static const float	 q[4] = { 1, 2, 3, 4 };
		struct vec_hit		 hits[2];
		const char		*cause;
		size_t			 nhits;

		assert_int_equal(vec_search(f->dir, "bad", 2, 4, q, 2, hits,
		    &nhits, &cause), 0);
		assert_int_equal(nhits, 2);
		vec_cache_clear();
	}

	memcpy(copy + 24, &(uint64_t){ 3 }, 8);
	write_file(f->dir, 3, copy, sizeof(copy) - 1);
	expect_refused(f->dir, 3, "vector file size does not match its header");
	memcpy(copy + 24, &(uint64_t){ 4 }, 8);
	write_file(f->dir, 4, copy, HEAD_SIZE + SLOT_SIZE(4));
	expect_refused(f->dir, 4, "vector file size does not match its header");
	/* Longer than its header says: something appended, or foreign. */
	{
		unsigned char	 longer[sizeof(copy) + 1];

		memcpy(longer, copy, sizeof(copy));
		longer[sizeof(copy)] = 0;
		memcpy(longer + 24, &(uint64_t){ 12 }, 8);
		write_file(f->dir, 12, longer, sizeof(longer));
		expect_refused(f->dir, 12,
		    "vector file size does not match its header");
	}
	write_file(f->dir, 5, copy, 10);
	expect_refused(f->dir, 5, "not a vector file");
	write_file(f->dir, 6, copy, 0);
	expect_refused(f->dir, 6, "not a vector file");

	memcpy(copy + 24, &(uint64_t){ 7 }, 8);
	copy[0] = 'X';
	write_file(f->dir, 7, copy, sizeof(copy));
	expect_refused(f->dir, 7, "not a vector file");
	copy[0] = 'T';

	/* Someone else's generation under this name. */
	write_file(f->dir, 8, copy, sizeof(copy));
	expect_refused(f->dir, 8, "generation mismatch");

	/* A count that would wrap the size computation. */
	memcpy(copy + 24, &(uint64_t){ 9 }, 8);
	memcpy(copy + 16, &(uint64_t){ UINT64_MAX / 2 }, 8);
	write_file(f->dir, 9, copy, sizeof(copy));
	expect_refused(f->dir, 9, "vector file size does not match its header");
	memcpy(copy + 16, &(uint64_t){ 2 }, 8);

	/* A slot size that disagrees with the dimension. */
	memcpy(copy + 24, &(uint64_t){ 10 }, 8);
	memcpy(copy + 32, &(uint32_t){ SLOT_SIZE(4) + 32 }, 4);
	write_file(f->dir, 10, copy, sizeof(copy));
	expect_refused(f->dir, 10, "corrupt vector file header");

	/* A directory where the file should be. */
	assert_int_equal(vec_path(f->dir, "bad", 11, path, sizeof(path)), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	expect_refused(f->dir, 11, "not a vector file");
	rmdir(path);
}

/*
 * A directory that cannot be written gives VEC_FULL, the caller's
 * 503.  Root ignores permission bits, so as root the test writes into
 * /sys, which refuses new files to everyone.
 */
static void
test_vec_not_writable(void **state)
{
	struct fixture		*f = *state;
	static const double	 a[2] = { 1, 2 };
	struct vec_item		 items[] = { { "a", a } };
	char			 ro[512];
	struct stat		 st;
	const char		*dir = ro;

	if (geteuid() == 0) {
		if (stat("/sys", &st) == -1 || !S_ISDIR(st.st_mode))
			skip();
		dir = "/sys";
	} else {
		snprintf(ro, sizeof(ro), "%s/ro", f->dir);
		assert_int_equal(mkdir(ro, 0500), 0);
	}
	errno = 0;
	assert_int_equal(apply(dir, "col", 0, 1, 2, items, 1, NULL, 0),
	    VEC_FULL);
	assert_true(errno == EACCES || errno == EROFS || errno == EPERM);
	if (dir == ro)
		rmdir(ro);
}

static void
make_gen(const char *dir, const char *name, uint64_t gen)
{
	static const double	 a[2] = { 1, 2 };
	struct vec_item		 items[] = { { "a", a } };

	assert_int_equal(apply(dir, name, 0, gen, 2, items, 1, NULL, 0),
	    VEC_OK);
}

static int
search_ok(const char *dir, const char *name, uint64_t gen)
{
	static const float	 q[2] = { 1, 0 };
	struct vec_hit		 hits[1];
	const char		*cause;
	size_t			 nhits;

	return vec_search(dir, name, gen, 2, q, 1, hits, &nhits,
	    &cause) == 0;
}

static void
unlink_gen(const char *dir, const char *name, uint64_t gen)
{
	char	 path[512];

	assert_int_equal(vec_path(dir, name, gen, path, sizeof(path)), 0);
	assert_int_equal(unlink(path), 0);
}

/*
 * What the cache holds shows through unlink(): a mapped generation is
 * still searched after its file is gone, an unmapped one is not.
 */
static void
test_vec_cache_generations(void **state)
{
	struct fixture	*f = *state;

	make_gen(f->dir, "c", 1);
	make_gen(f->dir, "c", 2);
	make_gen(f->dir, "c", 3);
	assert_true(search_ok(f->dir, "c", 2));
	assert_int_equal(vec_cache_size(), 1);
	/* A lagging reader's older generation is mapped beside it. */
	assert_true(search_ok(f->dir, "c", 1));
	assert_int_equal(vec_cache_size(), 2);
	/* A newer one replaces both. */
	assert_true(search_ok(f->dir, "c", 3));
	assert_int_equal(vec_cache_size(), 1);
	unlink_gen(f->dir, "c", 2);
	assert_false(search_ok(f->dir, "c", 2));
	unlink_gen(f->dir, "c", 3);
	assert_true(search_ok(f->dir, "c", 3));
	assert_int_equal(vec_cache_size(), 1);
	/* vec_remove() drops this process's mapping as well. */
	make_gen(f->dir, "c", 4);
	assert_true(search_ok(f->dir, "c", 4));
	assert_int_equal(vec_remove(f->dir, "c", 4), 0);
	assert_false(search_ok(f->dir, "c", 4));
	assert_int_equal(vec_cache_size(), 0);
}

/* Sixteen mappings at most; the least recently searched goes. */
static void
test_vec_cache_lru(void **state)
{
	struct fixture	*f = *state;
	char		 name[16];
	int		 i;

	for (i = 0; i < 18; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		make_gen(f->dir, name, 1);
	}
	for (i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_true(search_ok(f->dir, name, 1));
	}
	assert_int_equal(vec_cache_size(), 16);
	/* n0 used again, so n1 is the oldest when n16 and n17 come. */
	assert_true(search_ok(f->dir, "n0", 1));
	assert_true(search_ok(f->dir, "n16", 1));
	assert_true(search_ok(f->dir, "n17", 1));
	assert_int_equal(vec_cache_size(), 16);
	for (i = 0; i < 18; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		unlink_gen(f->dir, name, 1);
	}
	assert_true(search_ok(f->dir, "n0", 1));
	assert_false(search_ok(f->dir, "n1", 1));
	assert_false(search_ok(f->dir, "n2", 1));
	for (i = 3; i < 18; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_true(search_ok(f->dir, name, 1));
	}
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_vec_check),
		cmocka_unit_test(test_vec_names),
		cmocka_unit_test_setup_teardown(test_vec_generations, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vec_apply_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vec_search_brute, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vec_search_ties, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vec_search_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vec_bad_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vec_not_writable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vec_cache_generations,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_vec_cache_lru, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("unit-vec", tests, NULL, NULL);
}
