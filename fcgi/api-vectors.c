/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Vector collections (SPEC 5, "Storage"): the client's own embeddings,
 * each with an encrypted payload, searched by exact cosine similarity.
 * The vectors are in the collection's flat file (vec.c), one generation
 * per change, written while the collection's row is locked and
 * published by the same commit; the payloads and their checksums are in
 * vector_items.  Vectors are readable by the server (docs/api.md says
 * so plainly: text can be recovered from embeddings).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tollgate.h"

#define VEC_PAYLOAD_MAX	65536	/* bytes of one item's payload */

/* One checked item of an upsert. */
struct api_vec_item {
	const char	*id;
	double		*v;
	const char	*b64;		/* the payload, standard base64 */
	const char	*sha;		/* its SHA-256, hex */
	long long	 bytes;		/* what it accounts for */
};

/* "items[3].vector has 12 values; the collection's dimension is 384." */
static void
api_vec_bad(struct req *r, const char *code, const char *param,
    const char *msg)
{
	req_error(r, 400, NULL, code, msg, param);
}

/* The collection's name: "default" when the body names none. */
static const char *
api_vec_name(struct req *r, const struct vvalue *v)
{
	const char	*name = v->present ? v->s : "default";

	if (!vec_name_valid(name)) {
		api_vec_bad(r, "invalid_value", "collection", "collection "
		    "must be 1 to 64 of A-Z a-z 0-9 _ -.");
		return NULL;
	}
	return name;
}

/* The tenant's directory of flat files, made on first use. */
static const char *
api_vec_dir(struct req *r)
{
	char	*dir;

	dir = arena_printf(&r->arena, "%s/vectors", blob_dir());
	if (util_mkdir_durable(dir) == -1)
		return NULL;
	dir = arena_printf(&r->arena, "%s/vectors/%s", blob_dir(),
	    r->auth.tenant_id);
	if (util_mkdir_durable(dir) == -1)
		return NULL;
	return dir;
}

/* A JSON array of numbers into doubles; -1 on a non-number. */
static int
api_vec_numbers(struct json_object *a, double **out, size_t *n,
    struct arena *ar)
{
	struct json_object	*e;
	size_t			 i;

	*n = json_object_array_length(a);
	*out = arena_calloc(ar, *n + 1, sizeof(**out));
	for (i = 0; i < *n; i++) {
		e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_double) &&
		    !json_object_is_type(e, json_type_int))
			return -1;
		(*out)[i] = json_object_get_double(e);
	}
	return 0;
}

/* A vector of the collection's dimension, finite and not all zero. */
static int
api_vec_vector(struct req *r, struct json_object *a, unsigned dim,
    const char *param, double **out)
{
	const char	*why = NULL;
	size_t		 n;

	if (a == NULL || !json_object_is_type(a, json_type_array) ||
	    api_vec_numbers(a, out, &n, &r->arena) == -1) {
		api_vec_bad(r, "invalid_type", param, arena_printf(&r->arena,
		    "%s must be an array of numbers.", param));
		return -1;
	}
	if (n != dim) {
		api_vec_bad(r, "dimension_mismatch", param, arena_printf(
		    &r->arena, "%s has %zu values; the collection's dimension "
		    "is %u.", param, n, dim));
		return -1;
	}
	if (vec_check(*out, n, dim, &why) == -1) {
		api_vec_bad(r, "invalid_value", param, arena_printf(&r->arena,
		    "%s: %s.", param, why != NULL ? why : "not a usable "
		    "vector"));
		return -1;
	}
	return 0;
}

/* Standard base64 to bytes; the length, or -1. */
static long
api_vec_b64(const char *s, unsigned char *out, size_t outsz)
{
	const char	*eq;
	size_t		 n = strlen(s), pad = 0;
	int		 got;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > outsz ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=") != n)
		return -1;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	if ((eq = strchr(s, '=')) != NULL && eq != s + n - pad)
		return -1;
	if ((got = EVP_DecodeBlock(out, (const unsigned char *)s,
	    (int)n)) < 0)
		return -1;
	return (long)got - (long)pad;
}

/* One item: id, vector, payload and its checksum, all checked. */
static int
api_vec_item(struct req *r, struct json_object *o, size_t i, unsigned dim,
    struct api_vec_item *it, unsigned char *buf)
{
	struct json_object	*id, *vec, *blob, *sum;
	unsigned char		 d[32], want[32];
	const char		*p;
	char			*param, hex[65];
	long			 n;
	size_t			 k;
	unsigned int		 x;

	param = arena_printf(&r->arena, "items[%zu]", i);
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "id", &id) ||
	    !json_object_object_get_ex(o, "vector", &vec) ||
	    !json_object_object_get_ex(o, "blob", &blob) ||
	    !json_object_object_get_ex(o, "checksum", &sum) ||
	    json_object_object_length(o) != 4) {
		api_vec_bad(r, "invalid_value", param, arena_printf(&r->arena,
		    "%s must be an object of id, vector, blob and checksum.",
		    param));
		return -1;
	}
	it->id = json_object_get_string(id);
	if (!json_object_is_type(id, json_type_string) ||
	    !vec_id_valid(it->id)) {
		api_vec_bad(r, "invalid_value", arena_printf(&r->arena,
		    "%s.id", param), "An item's id must be 1 to 128 of "
		    "A-Z a-z 0-9 . _ : -.");
		return -1;
	}
	if (api_vec_vector(r, vec, dim, arena_printf(&r->arena, "%s.vector",
	    param), &it->v) == -1)
		return -1;
	it->b64 = json_object_get_string(blob);
	if (!json_object_is_type(blob, json_type_string) ||
	    (n = api_vec_b64(it->b64, buf, VEC_PAYLOAD_MAX + 3)) < 1 ||
	    n > VEC_PAYLOAD_MAX) {
		api_vec_bad(r, "invalid_value", arena_printf(&r->arena,
		    "%s.blob", param), "An item's blob must be standard "
		    "base64 of 1 to 65536 bytes.");
		return -1;
	}
	p = json_object_get_string(sum);
	if (!json_object_is_type(sum, json_type_string) || strlen(p) != 64 ||
	    strspn(p, "0123456789abcdefABCDEF") != 64) {
		api_vec_bad(r, "invalid_checksum", arena_printf(&r->arena,
		    "%s.checksum", param), "An item's checksum must be the "
		    "SHA-256 of its blob in 64 hex digits.");
		return -1;
	}
	for (k = 0; k < 32; k++) {
		sscanf(p + 2 * k, "%2x", &x);
		want[k] = (unsigned char)x;
	}
	if (EVP_Digest(buf, (size_t)n, d, NULL, EVP_sha256(), NULL) != 1 ||
	    CRYPTO_memcmp(d, want, 32) != 0) {
		api_vec_bad(r, "checksum_mismatch", arena_printf(&r->arena,
		    "%s.checksum", param), "An item's blob does not have the "
		    "checksum given; nothing was stored.");
		return -1;
	}
	util_hex(d, 32, hex);
	it->sha = arena_strdup(&r->arena, hex);
	it->bytes = n + (long long)strlen(it->id) + 4LL * dim;
	return 0;
}

/* A text[] literal of strings that need no escaping (ids, base64). */
static char *
api_vec_array(struct req *r, const char *const *s, size_t n)
{
	struct buf	 b;
	char		*out;
	size_t		 i;

	buf_init(&b, 64 << 20);
	buf_puts(&b, "{");
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s\"%s\"", i > 0 ? "," : "", s[i]);
	buf_puts(&b, "}");
	out = arena_strndup(&r->arena, b.p != NULL ? b.p : "{}", b.len);
	buf_free(&b);
	return out;
}

/* The 403 or 507 of a change the quota refuses. */
static void
api_vec_quota(struct req *r, const struct storage_hold *h, long long delta)
{
	struct json_object	*e;

	if (h->plan_needed != NULL || h->limit == 0) {
		req_error(r, 403, NULL, "plan_required", arena_printf(
		    &r->arena, "The %s plan includes no cloud storage; the "
		    "%s plan does.", r->tenant != NULL ? r->tenant->plan_name :
		    "current", h->plan_needed != NULL ? h->plan_needed : "Pro"),
		    NULL);
		return;
	}
	e = json_object_new_object();
	json_object_object_add(e, "limit_bytes", json_object_new_int64(h->limit));
	json_object_object_add(e, "used_bytes", json_object_new_int64(h->taken));
	json_object_object_add(e, "needed_bytes",
	    json_object_new_int64(h->taken + delta - h->limit));
	req_error_with(r, 507, NULL, "insufficient_storage", "The vectors do "
	    "not fit in what the plan's storage quota has left; nothing was "
	    "stored.", NULL, NULL, e);
}

/* Check every item of an upsert; ids must not repeat. */
static int
api_vec_items(struct req *r, struct json_object *items, unsigned dim,
    struct api_vec_item *it, size_t n)
{
	unsigned char	*buf;
	size_t		 i, j;

	buf = arena_calloc(&r->arena, VEC_PAYLOAD_MAX + 4, 1);
	for (i = 0; i < n; i++) {
		if (api_vec_item(r, json_object_array_get_idx(items, i), i,
		    dim, &it[i], buf) == -1)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(it[j].id, it[i].id) == 0) {
				api_vec_bad(r, "duplicate_id", arena_printf(
				    &r->arena, "items[%zu].id", i), "An id "
				    "appears twice in one upsert.");
				return -1;
			}
	}
	return 0;
}

static void
api_vec_file_fail(struct req *r, enum vec_rc rc, const char *cause)
{
	log_warnx("vectors: %s", cause != NULL ? cause : "write failed");
	if (rc == VEC_FULL)
		req_error(r, 503, NULL, "storage_unavailable", "The storage is "
		    "full or not writable; nothing was stored.", NULL);
	else
		req_error(r, 500, NULL, "internal_error", "The collection "
		    "could not be written.", NULL);
}

/* A generation written for a change that may not commit. */
struct api_vec_unborn {
	const char	*dir;
	const char	*name;
	unsigned	 dim;
	uint64_t	 gen;
};

/*
 * After the answer of a change that failed after its generation was
 * written (its publication refused, or its commit): the file goes,
 * unless a later change published that generation meanwhile.  The
 * collection's lock (made afresh, so that a concurrent first upsert is
 * waited for) keeps any other change from writing it while it goes.
 */
static void
api_vec_unborn_after(struct req *r)
{
	struct api_vec_unborn	*u = r->after_arg;
	struct vec_collection	 c;
	enum db_rc		 rc;

	/* The pipeline committed what answered below 400 (responder.c). */
	if (r->status < 400 && !r->refused)
		return;
	if ((rc = db_begin(r, r->auth.tenant_id)) == DB_OK &&
	    (rc = db_vec_lock(r, u->name, u->dim, &c)) == DB_OK) {
		if ((uint64_t)c.generation < u->gen &&
		    vec_remove(u->dir, u->name, u->gen) == -1)
			log_warnx("vectors: %s.%llu not removed: %s", u->name,
			    (unsigned long long)u->gen, strerror(errno));
		if (c.generation == 0)
			rc = db_vec_drop_unborn(r, u->name);
		if (rc == DB_OK)
			rc = db_commit(r);
	}
	if (rc != DB_OK)
		log_warnx("vectors: generation %llu of %s not checked (%s); "
		    "the next change replaces it", (unsigned long long)u->gen,
		    u->name, db_strerror(rc));
}

/*
 * Write the next generation (upserts or deletes) and publish it with
 * the bytes changed; 0, or -1 with the answer set.
 */
static int
api_vec_commit(struct req *r, const struct vec_collection *c,
    const struct vec_item *up, size_t nup, const char *const *del,
    size_t ndel, long long delta)
{
	struct api_vec_unborn	*u;
	struct vec_stat		 st;
	const char		*dir, *cause = NULL;
	enum vec_rc		 vrc;
	enum db_rc		 rc;

	if ((dir = api_vec_dir(r)) == NULL) {
		api_vec_file_fail(r, VEC_FULL, "no vectors directory");
		return -1;
	}
	if ((vrc = vec_apply(dir, c->name, (uint64_t)c->generation,
	    (uint64_t)c->generation + 1, c->dim, up, nup, del, ndel,
	    &cause)) != VEC_OK) {
		api_vec_file_fail(r, vrc, cause);
		return -1;
	}
	if (r->after == NULL) {
		u = arena_calloc(&r->arena, 1, sizeof(*u));
		u->dir = dir;
		u->name = arena_strdup(&r->arena, c->name);
		u->dim = c->dim;
		u->gen = (uint64_t)c->generation + 1;
		r->after = api_vec_unborn_after;
		r->after_arg = u;
	}
	if (vec_stat(dir, c->name, (uint64_t)c->generation + 1, &st,
	    &cause) == -1) {
		api_vec_file_fail(r, VEC_ERROR, cause);
		return -1;
	}
	if ((rc = db_vec_publish(r, c, (long long)st.count, delta)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	return 0;
}

/* POST /storage/vectors/upsert {collection?, items: [...]} */
void
api_vectors_upsert(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct json_object	*items, *first, *fv;
	struct api_vec_item	*it;
	struct vec_item		*up;
	struct vec_collection	 c;
	struct storage_hold	 h;
	const char		*name, **ids, **b64, **sha, *ida;
	long long		 old, found, delta = 0;
	size_t			 i, n;
	int			 ok;
	enum db_rc		 rc;

	if (api_input(r, VOP_VEC_UPSERT, v) == -1 ||
	    (name = api_vec_name(r, &v[0])) == NULL)
		return;
	json_object_object_get_ex(r->json, "items", &items);
	n = (size_t)v[1].i;
	/* A new collection takes the dimension of its first vector. */
	first = json_object_array_get_idx(items, 0);
	if (!json_object_is_type(first, json_type_object) ||
	    !json_object_object_get_ex(first, "vector", &fv) ||
	    !json_object_is_type(fv, json_type_array) ||
	    json_object_array_length(fv) < 1 ||
	    json_object_array_length(fv) > VEC_DIM_MAX) {
		api_vec_bad(r, "invalid_value", "items[0].vector", "items[0]."
		    "vector must be an array of 1 to 4096 numbers.");
		return;
	}
	if ((rc = db_vec_lock(r, name, (unsigned)json_object_array_length(fv),
	    &c)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	it = arena_calloc(&r->arena, n, sizeof(*it));
	if (api_vec_items(r, items, c.dim, it, n) == -1)
		return;
	up = arena_calloc(&r->arena, n, sizeof(*up));
	ids = arena_calloc(&r->arena, n, sizeof(*ids));
	b64 = arena_calloc(&r->arena, n, sizeof(*b64));
	sha = arena_calloc(&r->arena, n, sizeof(*sha));
	for (i = 0; i < n; i++) {
		up[i].id = ids[i] = it[i].id;
		up[i].v = it[i].v;
		b64[i] = it[i].b64;
		sha[i] = it[i].sha;
		delta += it[i].bytes;
	}
	ida = api_vec_array(r, ids, n);
	if ((rc = db_vec_bytes(r, name, ida, &old, &found)) != DB_OK ||
	    (rc = db_storage_charge(r, delta - old, &ok, &h)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	if (!ok) {
		api_vec_quota(r, &h, delta - old);
		return;
	}
	if ((rc = db_vec_put(r, name, ida, api_vec_array(r, b64, n),
	    api_vec_array(r, sha, n), c.dim)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	if (api_vec_commit(r, &c, up, n, NULL, 0, delta - old) == -1)
		return;
	first = json_object_new_object();
	api_str(first, "collection", name);
	json_object_object_add(first, "dimension", json_object_new_int(
	    (int)c.dim));
	json_object_object_add(first, "upserted", json_object_new_int64(
	    (long long)n));
	json_object_object_add(first, "created", json_object_new_int64(
	    (long long)n - found));
	req_json(r, 200, first);
}

/* The hits with their payloads, in the order of their scores. */
static struct json_object *
api_vec_results(struct req *r, const char *name, const struct vec_hit *hits,
    size_t n)
{
	struct json_object	*arr, *o;
	struct pg_result	*res;
	const char		**ids;
	size_t			 i;
	int			 j, rows;

	arr = json_object_new_array();
	if (n == 0)
		return arr;
	ids = arena_calloc(&r->arena, n, sizeof(*ids));
	for (i = 0; i < n; i++)
		ids[i] = hits[i].id;
	if (db_vec_payloads(r, name, api_vec_array(r, ids, n), &res) != DB_OK) {
		json_object_put(arr);
		return NULL;
	}
	rows = db_nrows(res);
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		api_str(o, "id", hits[i].id);
		json_object_object_add(o, "score",
		    json_object_new_double(hits[i].score));
		for (j = 0; j < rows; j++)
			if (strcmp(db_get(res, j, 0), hits[i].id) == 0) {
				api_str(o, "blob", db_get(res, j, 1));
				api_str(o, "checksum", db_get(res, j, 2));
				break;
			}
		json_object_array_add(arr, o);
	}
	return arr;
}

/*
 * The best hits whose payloads fit in an answer (REQ_RESP_MAX, less a
 * margin): a large top_k of large payloads keeps the first ones and says
 * so (1), rather than failing the whole search.
 */
static int
api_vec_fit(struct json_object *res)
{
	size_t	 i, n = json_object_array_length(res), sum = 0;

	for (i = 0; i < n; i++) {
		sum += strlen(json_object_to_json_string_ext(
		    json_object_array_get_idx(res, i),
		    JSON_C_TO_STRING_PLAIN)) + 1;
		if (sum > REQ_RESP_MAX - 4096)
			break;
	}
	if (i == n)
		return 0;
	json_object_array_del_idx(res, i, n - i);
	return 1;
}

/* POST /storage/vectors/search {collection?, vector, top_k} */
void
api_vectors_search(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct vec_collection	 c;
	struct vec_hit		*hits;
	struct json_object	*vec, *o, *res;
	const char		*name, *dir, *cause = NULL;
	double			*q;
	float			*qf;
	size_t			 i, n;
	enum db_rc		 rc;

	if (api_input(r, VOP_VEC_SEARCH, v) == -1 ||
	    (name = api_vec_name(r, &v[0])) == NULL)
		return;
	if ((rc = db_vec_get(r, name, &c)) == DB_NOTFOUND) {
		req_error(r, 404, NULL, "not_found", "No such collection.",
		    "collection");
		return;
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	json_object_object_get_ex(r->json, "vector", &vec);
	if (api_vec_vector(r, vec, c.dim, "vector", &q) == -1)
		return;
	qf = arena_calloc(&r->arena, c.dim, sizeof(*qf));
	for (i = 0; i < c.dim; i++)
		qf[i] = (float)q[i];
	hits = arena_calloc(&r->arena, (size_t)v[2].i, sizeof(*hits));
	n = 0;
	if (c.generation > 0 && ((dir = api_vec_dir(r)) == NULL ||
	    vec_search(dir, name, (uint64_t)c.generation, c.dim, qf,
	    (size_t)v[2].i, hits, &n, &cause) == -1)) {
		log_warnx("vectors: search of %s: %s", name, cause != NULL ?
		    cause : "no directory");
		req_error(r, 503, NULL, "storage_unavailable", "The collection "
		    "cannot be read now.", NULL);
		return;
	}
	if ((res = api_vec_results(r, name, hits, n)) == NULL) {
		req_error(r, 503, NULL, "unavailable", "Try again.", NULL);
		return;
	}
	o = json_object_new_object();
	api_str(o, "collection", name);
	json_object_object_add(o, "truncated", json_object_new_boolean(
	    api_vec_fit(res)));
	json_object_object_add(o, "results", res);
	req_json(r, 200, o);
}

/* DELETE /storage/vectors {collection?, ids: [...]} */
void
api_vectors_delete(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct vec_collection	 c;
	struct storage_hold	 h;
	struct json_object	*arr, *e, *o;
	const char		*name, **ids, *ida;
	long long		 bytes, found;
	size_t			 i, n;
	int			 ok;
	enum db_rc		 rc;

	if (api_input(r, VOP_VEC_DELETE, v) == -1 ||
	    (name = api_vec_name(r, &v[0])) == NULL)
		return;
	json_object_object_get_ex(r->json, "ids", &arr);
	n = (size_t)v[1].i;
	ids = arena_calloc(&r->arena, n, sizeof(*ids));
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(arr, i);
		ids[i] = json_object_get_string(e);
		if (!json_object_is_type(e, json_type_string) ||
		    !vec_id_valid(ids[i])) {
			api_vec_bad(r, "invalid_value", arena_printf(&r->arena,
			    "ids[%zu]", i), "An id must be 1 to 128 of "
			    "A-Z a-z 0-9 . _ : -.");
			return;
		}
	}
	if ((rc = db_vec_lock(r, name, 0, &c)) == DB_NOTFOUND) {
		req_error(r, 404, NULL, "not_found", "No such collection.",
		    "collection");
		return;
	}
	ida = api_vec_array(r, ids, n);
	if (rc != DB_OK || (rc = db_vec_bytes(r, name, ida, &bytes,
	    &found)) != DB_OK || (rc = db_vec_drop(r, name, ida)) != DB_OK ||
	    (rc = db_storage_charge(r, -bytes, &ok, &h)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	if (found > 0 && api_vec_commit(r, &c, NULL, 0, ids, n, -bytes) == -1)
		return;
	o = json_object_new_object();
	api_str(o, "collection", name);
	json_object_object_add(o, "deleted", json_object_new_int64(found));
	req_json(r, 200, o);
}

/* GET /storage/vectors: the collections. */
void
api_vectors_list(struct req *r)
{
	struct vec_collection	*c;
	struct json_object	*data, *o;
	size_t			 i, n;
	enum db_rc		 rc;

	if ((rc = db_vec_list(r, &c, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		api_str(o, "name", c[i].name);
		json_object_object_add(o, "dimension",
		    json_object_new_int((int)c[i].dim));
		json_object_object_add(o, "count",
		    json_object_new_int64(c[i].count));
		json_object_object_add(o, "bytes",
		    json_object_new_int64(c[i].bytes));
		api_str(o, "updated_at", c[i].updated_at);
		json_object_array_add(data, o);
	}
	o = json_object_new_object();
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", data);
	req_json(r, 200, o);
}
