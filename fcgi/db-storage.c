/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Storage (sql/020): the metadata of records and backups, the holds of
 * uploads against the plan's storage quotas, what a tenant stores, and
 * the garbage the worker collects.  The objects themselves are blob.c's.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

#define DB_RECORD_COLS	"s.record_id, s.tbl, s.object_key, s.size, " \
	"encode(s.sha256, 'hex'), s.revision, " DB_TS("s.created_at") ", " \
	DB_TS("s.updated_at") ", " DB_TS("s.deleted_at")
#define DB_BACKUP_COLS	"b.backup_id, b.object_key, b.size, " \
	"encode(b.sha256, 'hex'), b.version, " DB_TS("b.client_ts") ", " \
	DB_TS("b.created_at") ", extract(epoch FROM b.created_at)::bigint, " \
	"b.pinned"

static void
db_record_fill(const PGresult *res, int i, struct storage_record *s)
{
	memset(s, 0, sizeof(*s));
	s->record_id = db_get(res, i, 0);
	s->table = db_get(res, i, 1);
	s->object_key = db_get(res, i, 2);
	s->size = db_int(res, i, 3);
	s->sha256 = db_get(res, i, 4);
	s->revision = db_int(res, i, 5);
	s->created_at = db_get(res, i, 6);
	s->updated_at = db_get(res, i, 7);
	s->deleted_at = db_get(res, i, 8);
}

static void
db_backup_fill(const PGresult *res, int i, struct storage_backup *b)
{
	memset(b, 0, sizeof(*b));
	b->backup_id = db_get(res, i, 0);
	b->object_key = db_get(res, i, 1);
	b->size = db_int(res, i, 2);
	b->sha256 = db_get(res, i, 3);
	b->version = db_get(res, i, 4);
	b->client_ts = db_get(res, i, 5);
	b->created_at = db_get(res, i, 6);
	b->created = (time_t)db_int(res, i, 7);
	b->pinned = db_bool(res, i, 8);
}

/*
 * Hold "bytes" of metric for an upload to be stored under key, for ttl
 * seconds.  The hold is refused (h->reservation_id NULL) when the plan
 * has no such storage (h->plan_needed) or it is full.
 */
enum db_rc
db_storage_reserve(struct req *r, const char *metric, long long bytes,
    const char *key, int ttl, struct storage_hold *h)
{
	char		 b[24], t[16];
	const char	*v[4] = { metric, b, key, t };
	PGresult	*res;
	enum db_rc	 rc;

	memset(h, 0, sizeof(*h));
	snprintf(b, sizeof(b), "%lld", bytes);
	snprintf(t, sizeof(t), "%d", ttl);
	if ((rc = db_row(r, "SELECT reservation_id, lim, taken, plan_needed, "
	    "pruned FROM storage_reserve($1, $2::bigint, $3, $4::integer)",
	    4, v, &res)) != DB_OK)
		return rc;
	h->reservation_id = db_get(res, 0, 0);
	h->limit = db_get(res, 0, 1) == NULL ? -1 : db_int(res, 0, 1);
	h->taken = db_int(res, 0, 2);
	h->plan_needed = db_get(res, 0, 3);
	h->pruned = (int)db_int(res, 0, 4);
	return DB_OK;
}

/*
 * Write a record whose object is stored (id NULL: a new one in table),
 * settling the hold res.  *status: created, updated, not_found, conflict
 * or hold_lost (the hold then released).
 */
enum db_rc
db_record_write(struct req *r, const char *id, const char *table,
    const char *key, long long size, const char *sha_hex, const char *res_id,
    long long expect, const char **status, struct storage_record *s)
{
	char		 sz[24], ex[24];
	const char	*v[7] = { id, table, key, sz, sha_hex, res_id,
	    expect >= 0 ? ex : NULL };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(sz, sizeof(sz), "%lld", size);
	snprintf(ex, sizeof(ex), "%lld", expect);
	if ((rc = db_row(r, "SELECT s.status, s.record_id, s.tbl, NULL, s.size, "
	    "s.sha256, s.revision, " DB_TS("s.created_at") ", "
	    DB_TS("s.updated_at") " FROM storage_record_write($1::uuid, $2, "
	    "$3, $4::bigint, decode($5, 'hex'), $6::uuid, $7::bigint) s",
	    7, v, &res)) != DB_OK)
		return rc;
	memset(s, 0, sizeof(*s));
	*status = db_get(res, 0, 0);
	s->record_id = db_get(res, 0, 1);
	s->table = db_get(res, 0, 2);
	s->object_key = key;
	s->size = db_int(res, 0, 4);
	s->sha256 = db_get(res, 0, 5);
	s->revision = db_int(res, 0, 6);
	s->created_at = db_get(res, 0, 7);
	s->updated_at = db_get(res, 0, 8);
	return DB_OK;
}

/* A live record (not deleted) of the tenant; DB_NOTFOUND otherwise. */
enum db_rc
db_record_get(struct req *r, const char *id, struct storage_record *s)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT " DB_RECORD_COLS " FROM storage_records s "
	    "WHERE s.tenant_id = app_tenant() AND s.record_id = $1::uuid AND "
	    "s.deleted_at IS NULL", 1, &id, &res)) != DB_OK)
		return rc;
	db_record_fill(res, 0, s);
	return DB_OK;
}

/*
 * The changes of a table after revision "since", oldest first, deleted
 * records included (their tombstones), at most limit + 1 of them (the
 * caller tells "has_more" by the extra one).
 */
enum db_rc
db_record_list(struct req *r, const char *table, long long since, int limit,
    struct storage_record **out, size_t *n)
{
	char		 si[24], li[16];
	const char	*v[3] = { table, si, li };
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	*n = 0;
	snprintf(si, sizeof(si), "%lld", since);
	snprintf(li, sizeof(li), "%d", limit + 1);
	if ((rc = db_exec(r, "SELECT " DB_RECORD_COLS " FROM storage_records s "
	    "WHERE s.tenant_id = app_tenant() AND s.tbl = $1 AND "
	    "s.revision > $2::bigint ORDER BY s.revision LIMIT $3::integer",
	    3, v, &res)) != DB_OK)
		return rc;
	rows = db_nrows(res);
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++)
		db_record_fill(res, i, &(*out)[i]);
	*n = (size_t)rows;
	return DB_OK;
}

/* Delete a record; *status: deleted, not_found or conflict. */
enum db_rc
db_record_delete(struct req *r, const char *id, long long expect,
    const char **status)
{
	char		 ex[24];
	const char	*v[2] = { id, expect >= 0 ? ex : NULL };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(ex, sizeof(ex), "%lld", expect);
	if ((rc = db_row(r, "SELECT storage_record_delete($1::uuid, "
	    "$2::bigint)", 2, v, &res)) != DB_OK)
		return rc;
	*status = db_get(res, 0, 0);
	return DB_OK;
}

/*
 * Commit an uploaded backup version, settling its hold; expect: the id
 * the client believes newest, or NULL.  *status: created, conflict or
 * hold_lost.
 */
enum db_rc
db_backup_write(struct req *r, const struct storage_backup *in,
    const char *res_id, const char *expect, const char **status,
    struct storage_backup *out, int *pruned)
{
	char		 sz[24];
	const char	*v[7] = { in->object_key, sz, in->sha256, in->version,
	    in->client_ts, res_id, expect };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(sz, sizeof(sz), "%lld", in->size);
	if ((rc = db_row(r, "SELECT w.status, w.backup_id, "
	    DB_TS("w.created_at") ", extract(epoch FROM w.created_at)::bigint, "
	    "w.pruned FROM storage_backup_write($1, $2::bigint, "
	    "decode($3, 'hex'), $4, $5::timestamptz, $6::uuid, $7::uuid) w", 7, v, &res)) != DB_OK)
		return rc;
	*out = *in;
	*status = db_get(res, 0, 0);
	out->backup_id = db_get(res, 0, 1);
	out->created_at = db_get(res, 0, 2);
	out->created = (time_t)db_int(res, 0, 3);
	*pruned = (int)db_int(res, 0, 4);
	return DB_OK;
}

/* One version (id), or the newest (id NULL); DB_NOTFOUND when none. */
enum db_rc
db_backup_get(struct req *r, const char *id, struct storage_backup *b)
{
	PGresult	*res;
	enum db_rc	 rc;

	if (id == NULL)
		rc = db_row(r, "SELECT " DB_BACKUP_COLS " FROM storage_backups b "
		    "WHERE b.tenant_id = app_tenant() ORDER BY b.created_at DESC "
		    "LIMIT 1", 0, NULL, &res);
	else
		rc = db_row(r, "SELECT " DB_BACKUP_COLS " FROM storage_backups b "
		    "WHERE b.tenant_id = app_tenant() AND b.backup_id = $1::uuid",
		    1, &id, &res);
	if (rc != DB_OK)
		return rc;
	db_backup_fill(res, 0, b);
	return DB_OK;
}

/* Every version, newest first (at most 1,000: the quota keeps it less). */
enum db_rc
db_backup_list(struct req *r, struct storage_backup **out, size_t *n)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	*n = 0;
	if ((rc = db_exec(r, "SELECT " DB_BACKUP_COLS " FROM storage_backups b "
	    "WHERE b.tenant_id = app_tenant() ORDER BY b.created_at DESC "
	    "LIMIT 1000", 0, NULL, &res)) != DB_OK)
		return rc;
	rows = db_nrows(res);
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++)
		db_backup_fill(res, i, &(*out)[i]);
	*n = (size_t)rows;
	return DB_OK;
}

enum db_rc
db_backup_delete(struct req *r, const char *id)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT storage_backup_delete($1::uuid)", 1, &id,
	    &res)) != DB_OK)
		return rc;
	return db_bool(res, 0, 0) ? DB_OK : DB_NOTFOUND;
}

enum db_rc
db_backup_pin(struct req *r, const char *id, int pinned)
{
	const char	*v[2] = { id, pinned ? "t" : "f" };
	PGresult	*res;

	return db_row(r, "UPDATE storage_backups SET pinned = $2::boolean "
	    "WHERE tenant_id = app_tenant() AND backup_id = $1::uuid "
	    "RETURNING backup_id", 2, v, &res);
}

/* Whether uploads over backup_gb may prune the oldest unpinned. */
enum db_rc
db_storage_prune_get(struct req *r, int *prune)
{
	PGresult	*res;
	enum db_rc	 rc;

	*prune = 0;
	if ((rc = db_exec(r, "SELECT backup_prune FROM storage_settings "
	    "WHERE tenant_id = app_tenant()", 0, NULL, &res)) != DB_OK)
		return rc;
	if (db_nrows(res) == 1)
		*prune = db_bool(res, 0, 0);
	return DB_OK;
}

enum db_rc
db_storage_prune_set(struct req *r, int prune)
{
	const char	*v[1] = { prune ? "t" : "f" };

	return db_exec(r, "INSERT INTO storage_settings (tenant_id, "
	    "backup_prune) VALUES (app_tenant(), $1::boolean) ON CONFLICT "
	    "(tenant_id) DO UPDATE SET backup_prune = EXCLUDED.backup_prune",
	    1, v, NULL);
}

/*
 * What the tenant stores, by kind, and its limits in bytes (-1:
 * unlimited): one statement for /usage, /billing and the API.
 */
enum db_rc
db_storage_usage(struct req *r, struct storage_usage *u)
{
	PGresult	*res;
	enum db_rc	 rc;

	memset(u, 0, sizeof(*u));
	if ((rc = db_row(r, "SELECT "
	    "(SELECT count(*) FROM storage_records s WHERE s.tenant_id = "
	    "app_tenant() AND s.deleted_at IS NULL), "
	    "(SELECT coalesce(sum(s.size), 0) FROM storage_records s WHERE "
	    "s.tenant_id = app_tenant() AND s.deleted_at IS NULL), "
	    "(SELECT count(*) FROM storage_backups b WHERE b.tenant_id = "
	    "app_tenant()), "
	    "(SELECT coalesce(sum(b.size), 0) FROM storage_backups b WHERE "
	    "b.tenant_id = app_tenant()), "
	    "(SELECT count(*) FROM vector_collections c WHERE c.tenant_id = "
	    "app_tenant()), "
	    "(SELECT coalesce(sum(c.count), 0) FROM vector_collections c WHERE "
	    "c.tenant_id = app_tenant()), "
	    "(SELECT coalesce(sum(c.bytes), 0) FROM vector_collections c WHERE "
	    "c.tenant_id = app_tenant()), "
	    "(SELECT lim FROM storage_limit('storage_bytes')), "
	    "(SELECT lim FROM storage_limit('backup_bytes')), "
	    "storage_taken('storage_bytes'), storage_taken('backup_bytes')",
	    0, NULL, &res)) != DB_OK)
		return rc;
	u->records = db_int(res, 0, 0);
	u->record_bytes = db_int(res, 0, 1);
	u->backups = db_int(res, 0, 2);
	u->backup_bytes = db_int(res, 0, 3);
	u->collections = db_int(res, 0, 4);
	u->vectors = db_int(res, 0, 5);
	u->vector_bytes = db_int(res, 0, 6);
	u->storage_limit = db_get(res, 0, 7) == NULL ? -1 : db_int(res, 0, 7);
	u->backup_limit = db_get(res, 0, 8) == NULL ? -1 : db_int(res, 0, 8);
	u->storage_taken = db_int(res, 0, 9);
	u->backup_taken = db_int(res, 0, 10);
	return DB_OK;
}

/* Garbage due across tenants (tenant, kind, key), a batch at a time. */
enum db_rc
db_storage_garbage_due(struct req *r, int limit, struct pg_result **res)
{
	char		 li[16];
	const char	*v[1] = { li };

	snprintf(li, sizeof(li), "%d", limit);
	return db_exec(r, "SELECT tenant_id, kind, object_key FROM "
	    "storage_garbage_due($1::integer)", 1, v, res);
}

/* The object is gone: its entry goes (in the tenant's transaction). */
enum db_rc
db_storage_garbage_done(struct req *r, const char *kind, const char *key)
{
	const char	*v[2] = { kind, key };

	return db_exec(r, "DELETE FROM storage_garbage WHERE tenant_id = "
	    "app_tenant() AND kind = $1 AND object_key = $2", 2, v, NULL);
}

static void
db_vec_fill(const PGresult *res, int i, struct vec_collection *c)
{
	memset(c, 0, sizeof(*c));
	c->name = db_get(res, i, 0);
	c->dim = (unsigned)db_int(res, i, 1);
	c->generation = db_int(res, i, 2);
	c->count = db_int(res, i, 3);
	c->bytes = db_int(res, i, 4);
	c->updated_at = db_get(res, i, 5);
}

#define DB_VEC_COLS	"c.name, c.dim, c.generation, c.count, c.bytes, " \
	DB_TS("c.updated_at")

/*
 * The collection, locked for a change until the commit (dim > 0: made
 * with that dimension if new); DB_NOTFOUND when absent and dim is 0.
 */
enum db_rc
db_vec_lock(struct req *r, const char *name, unsigned dim,
    struct vec_collection *c)
{
	char		 d[16];
	const char	*v[2] = { name, d };
	PGresult	*res;
	enum db_rc	 rc;

	snprintf(d, sizeof(d), "%u", dim);
	if (dim > 0 && (rc = db_exec(r, "INSERT INTO vector_collections "
	    "(tenant_id, name, dim) VALUES (app_tenant(), $1, $2::integer) "
	    "ON CONFLICT (tenant_id, name) DO NOTHING", 2, v, NULL)) != DB_OK)
		return rc;
	if ((rc = db_row(r, "SELECT " DB_VEC_COLS " FROM vector_collections c "
	    "WHERE c.tenant_id = app_tenant() AND c.name = $1 FOR UPDATE", 1,
	    v, &res)) != DB_OK)
		return rc;
	db_vec_fill(res, 0, c);
	return DB_OK;
}

/*
 * The locked collection (db_vec_lock) that no change ever published:
 * made by a change that failed, it goes with it.
 */
enum db_rc
db_vec_drop_unborn(struct req *r, const char *name)
{
	return db_exec(r, "DELETE FROM vector_collections WHERE tenant_id = "
	    "app_tenant() AND name = $1 AND generation = 0", 1, &name, NULL);
}

/* The collection as it is (for a search). */
enum db_rc
db_vec_get(struct req *r, const char *name, struct vec_collection *c)
{
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT " DB_VEC_COLS " FROM vector_collections c "
	    "WHERE c.tenant_id = app_tenant() AND c.name = $1", 1, &name,
	    &res)) != DB_OK)
		return rc;
	db_vec_fill(res, 0, c);
	return DB_OK;
}

enum db_rc
db_vec_list(struct req *r, struct vec_collection **out, size_t *n)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, rows;

	*n = 0;
	if ((rc = db_exec(r, "SELECT " DB_VEC_COLS " FROM vector_collections c "
	    "WHERE c.tenant_id = app_tenant() ORDER BY c.name LIMIT 1000", 0,
	    NULL, &res)) != DB_OK)
		return rc;
	rows = db_nrows(res);
	*out = arena_calloc(&r->arena, (size_t)rows + 1, sizeof(**out));
	for (i = 0; i < rows; i++)
		db_vec_fill(res, i, &(*out)[i]);
	*n = (size_t)rows;
	return DB_OK;
}

/* The bytes the items of ids (a text[] literal) account for now. */
enum db_rc
db_vec_bytes(struct req *r, const char *name, const char *ids,
    long long *bytes, long long *found)
{
	const char	*v[2] = { name, ids };
	PGresult	*res;
	enum db_rc	 rc;

	if ((rc = db_row(r, "SELECT coalesce(sum(bytes), 0), count(*) FROM "
	    "vector_items WHERE tenant_id = app_tenant() AND collection = $1 "
	    "AND item_id = ANY($2::text[])", 2, v, &res)) != DB_OK)
		return rc;
	*bytes = db_int(res, 0, 0);
	*found = db_int(res, 0, 1);
	return DB_OK;
}

/*
 * Store the payloads of an upsert: ids, base64 payloads and hex
 * checksums as text[] literals, each item's accounted bytes in dim.
 */
enum db_rc
db_vec_put(struct req *r, const char *name, const char *ids,
    const char *payloads, const char *shas, unsigned dim)
{
	char		 d[16];
	const char	*v[5] = { name, ids, payloads, shas, d };

	snprintf(d, sizeof(d), "%u", dim);
	return db_exec(r, "INSERT INTO vector_items AS i (tenant_id, "
	    "collection, item_id, payload, sha256, bytes) SELECT app_tenant(), "
	    "$1, u.id, decode(u.p, 'base64'), decode(u.s, 'hex'), "
	    "length(decode(u.p, 'base64')) + length(u.id) + 4 * $5::integer "
	    "FROM unnest($2::text[], $3::text[], $4::text[]) AS u (id, p, s) "
	    "ON CONFLICT (tenant_id, collection, item_id) DO UPDATE SET "
	    "payload = EXCLUDED.payload, sha256 = EXCLUDED.sha256, "
	    "bytes = EXCLUDED.bytes, updated_at = now()", 5, v, NULL);
}

enum db_rc
db_vec_drop(struct req *r, const char *name, const char *ids)
{
	const char	*v[2] = { name, ids };

	return db_exec(r, "DELETE FROM vector_items WHERE tenant_id = "
	    "app_tenant() AND collection = $1 AND item_id = ANY($2::text[])",
	    2, v, NULL);
}

/*
 * Publish generation gen + 1 with its count, the bytes changed by
 * delta, and the old generation's file (if any) entered as garbage.
 * The garbage is due a minute later, not now: a search that read the
 * old generation just before this commit still opens its file.
 */
enum db_rc
db_vec_publish(struct req *r, const struct vec_collection *c,
    long long count, long long delta)
{
	char		 g[24], n[24], d[24], old[200];
	const char	*v[5] = { c->name, g, n, d, old };

	snprintf(g, sizeof(g), "%lld", c->generation + 1);
	snprintf(n, sizeof(n), "%lld", count);
	snprintf(d, sizeof(d), "%lld", delta);
	snprintf(old, sizeof(old), "%s/%s.%lld", r->auth.tenant_id, c->name,
	    c->generation);
	if (c->generation == 0)
		v[4] = NULL;
	return db_exec(r, "WITH u AS (UPDATE vector_collections SET "
	    "generation = $2::bigint, count = $3::bigint, bytes = "
	    "greatest(bytes + $4::bigint, 0), updated_at = now() WHERE "
	    "tenant_id = app_tenant() AND name = $1 RETURNING 1) "
	    "INSERT INTO storage_garbage (tenant_id, object_key, kind, due_at) "
	    "SELECT app_tenant(), $5::text, 'vector', now() + interval '1 minute' "
	    "FROM u WHERE $5 IS NOT "
	    "NULL ON CONFLICT DO NOTHING", 5, v, NULL);
}

/*
 * Charge delta bytes of storage_bytes (vectors); *ok 0 when that passes
 * the quota, with the limit (or the plan that has one) in h.
 */
enum db_rc
db_storage_charge(struct req *r, long long delta, int *ok,
    struct storage_hold *h)
{
	char		 d[24];
	const char	*v[1] = { d };
	PGresult	*res;
	enum db_rc	 rc;

	memset(h, 0, sizeof(*h));
	snprintf(d, sizeof(d), "%lld", delta);
	if ((rc = db_row(r, "SELECT ok, lim, taken, plan_needed FROM "
	    "storage_charge($1::bigint)", 1, v, &res)) != DB_OK)
		return rc;
	*ok = db_bool(res, 0, 0);
	h->limit = db_get(res, 0, 1) == NULL ? -1 : db_int(res, 0, 1);
	h->taken = db_int(res, 0, 2);
	h->plan_needed = db_get(res, 0, 3);
	return DB_OK;
}

/* Payloads of ids (a text[] literal): id, base64 payload, hex sha. */
enum db_rc
db_vec_payloads(struct req *r, const char *name, const char *ids,
    struct pg_result **res)
{
	const char	*v[2] = { name, ids };

	return db_exec(r, "SELECT item_id, translate(encode(payload, "
	    "'base64'), E'\\n', ''), encode(sha256, 'hex') FROM vector_items "
	    "WHERE tenant_id = app_tenant() AND collection = $1 AND "
	    "item_id = ANY($2::text[])", 2, v, res);
}
