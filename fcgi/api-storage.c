/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The storage API (SPEC 5, "Storage"): records and backups.  Bodies are
 * the client's ciphertext, streamed (BODY_STREAM); what describes them
 * travels in headers (the checksum, a backup's version and time,
 * If-Match) and the query (a record's table).  docs/api.md has the
 * reference.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "tollgate.h"

#define API_RECORD_LIMIT	100	/* changes a page, by default */

static struct json_object *
api_record_json(const struct storage_record *s)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "id", s->record_id);
	api_str(o, "table", s->table);
	json_object_object_add(o, "size", json_object_new_int64(s->size));
	api_str(o, "checksum", s->sha256);
	json_object_object_add(o, "revision",
	    json_object_new_int64(s->revision));
	api_str(o, "created_at", s->created_at);
	api_str(o, "updated_at", s->updated_at);
	json_object_object_add(o, "deleted",
	    json_object_new_boolean(s->deleted_at != NULL));
	return o;
}

static struct json_object *
api_backup_json(const struct storage_backup *b)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "id", b->backup_id);
	json_object_object_add(o, "size", json_object_new_int64(b->size));
	api_str(o, "checksum", b->sha256);
	api_str(o, "version", b->version);
	api_str(o, "timestamp", b->client_ts);
	api_str(o, "created_at", b->created_at);
	json_object_object_add(o, "pinned",
	    json_object_new_boolean(b->pinned));
	return o;
}

/* An upload's failure; a full quota says by how much. */
static void
api_storage_fail(struct req *r, const struct fail *f,
    const struct storage_put *p)
{
	struct json_object	*e;

	if (f->db != 0 || f->status != 507) {
		acct_answer(r, f);
		return;
	}
	e = json_object_new_object();
	json_object_object_add(e, "limit_bytes",
	    json_object_new_int64(p->limit));
	json_object_object_add(e, "used_bytes",
	    json_object_new_int64(p->taken));
	json_object_object_add(e, "needed_bytes",
	    json_object_new_int64(p->needed));
	req_error_with(r, 507, NULL, f->code, f->message, NULL, NULL, e);
}

/*
 * The row could not be written after the object was stored: conflict
 * (a newer version arrived while this one was uploading) or the hold
 * expired.  The SQL released the hold; commit that, drop the object.
 */
static void
api_storage_lost(struct req *r, const struct storage_put *p,
    const char *status)
{
	(void)db_commit(r);
	storage_abandon(r, p, 0);
	if (strcmp(status, "conflict") == 0)
		req_error(r, 412, NULL, "precondition_failed", "A newer "
		    "version was stored while this one was uploading.",
		    "If-Match");
	else if (strcmp(status, "not_found") == 0)
		req_error(r, 404, NULL, "not_found", "No such record.", NULL);
	else
		req_error(r, 503, NULL, "storage_unavailable", "The upload "
		    "outlived its hold on the quota; send it again.", NULL);
}

/* If-Match of a record: its revision ("12" or "\"12\""), or -1. */
static int
api_record_if_match(struct req *r, long long *expect)
{
	const char	*h = req_env(r, "HTTP_IF_MATCH");
	char		 tag[24];
	size_t		 n;

	*expect = -1;
	if (h == NULL || strcmp(h, "*") == 0)
		return 0;
	n = strlen(h);
	if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(tag))
		goto bad;
	memcpy(tag, h, n);
	tag[n] = '\0';
	if (util_strtonum(tag, 1, (long long)1 << 62, expect) == -1)
		goto bad;
	return 0;
bad:
	req_error(r, 400, NULL, "invalid_value", "If-Match must be the "
	    "record's ETag (its revision).", "If-Match");
	return -1;
}

static void
api_record_etag(struct req *r, long long revision)
{
	req_header(r, "ETag", arena_printf(&r->arena, "\"%lld\"", revision));
}

/*
 * The body of a record (a new one in table when id is NULL), uploaded
 * and written: the record answered with its ETag and status "ok" (201
 * or 200), or the failure answered.
 */
static void
api_record_store(struct req *r, const char *id, const char *table,
    long long expect, int ok)
{
	struct fail		 f;
	struct storage_put	 p;
	struct storage_record	 s;
	unsigned char		 want[32];
	const char		*st;
	enum db_rc		 rc;

	memset(&p, 0, sizeof(p));
	if (storage_checksum(r, "HTTP_X_CHECKSUM_SHA256", want, &f) == -1 ||
	    storage_upload(r, &f, "storage_bytes", want, &p) == -1) {
		api_storage_fail(r, &f, &p);
		return;
	}
	if ((rc = db_record_write(r, id, table, p.key, p.size, p.sha_hex,
	    p.hold, expect, &st, &s)) != DB_OK) {
		storage_abandon(r, &p, 1);
		req_error_from_db(r, rc);
		return;
	}
	if (strcmp(st, id == NULL ? "created" : "updated") != 0) {
		api_storage_lost(r, &p, st);
		return;
	}
	api_record_etag(r, s.revision);
	req_json(r, ok, api_record_json(&s));
}

/* POST /storage/records?table=T, the object as the body. */
void
api_records_create(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct vfail	 vf;

	if (valid_form(&r->args, VOP_RECORD_CREATE, v, &vf, 1) > 0) {
		req_error_valid(r, &vf);
		return;
	}
	api_record_store(r, NULL, v[0].s, -1, 201);
}

/* PUT /storage/records/{id}: a new version; If-Match optional. */
void
api_records_update(struct req *r)
{
	struct storage_record	 s;
	const char		*id = r->path_params[0];
	long long		 expect;
	enum db_rc		 rc;

	if (api_record_if_match(r, &expect) == -1)
		return;
	/* Refused before the body is read: unknown, or already stale. */
	if (!valid_uuid(id) || (rc = db_record_get(r, id, &s)) ==
	    DB_NOTFOUND) {
		req_error(r, 404, NULL, "not_found", "No such record.", NULL);
		return;
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	if (expect >= 0 && s.revision != expect) {
		api_record_etag(r, s.revision);
		req_error(r, 412, NULL, "precondition_failed", "The record "
		    "changed since that revision.", "If-Match");
		return;
	}
	api_record_store(r, id, NULL, expect, 200);
}

/* GET /storage/records/{id}: the object, its checksum and ETag. */
void
api_records_get(struct req *r)
{
	struct storage_record	 s;
	struct fail		 f;
	const char		*id = r->path_params[0], *inm;
	char			 rev[24];
	enum db_rc		 rc;

	if (!valid_uuid(id) || (rc = db_record_get(r, id, &s)) ==
	    DB_NOTFOUND) {
		req_error(r, 404, NULL, "not_found", "No such record.", NULL);
		return;
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	api_record_etag(r, s.revision);
	snprintf(rev, sizeof(rev), "%lld", s.revision);
	if ((inm = req_env(r, "HTTP_IF_NONE_MATCH")) != NULL &&
	    storage_etag_match(inm, rev)) {
		r->status = 304;
		return;
	}
	storage_digest_headers(r, "X-Checksum-SHA256", s.sha256);
	req_header(r, "X-Record-Table", s.table);
	req_header(r, "X-Record-Revision", arena_strdup(&r->arena, rev));
	if (storage_send(r, &f, s.object_key, s.size) == -1)
		acct_answer(r, &f);
}

/* GET /storage/records?table=&since=&limit=: changes, oldest first. */
void
api_records_list(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct vfail		 vf;
	struct storage_record	*s;
	struct json_object	*data, *o;
	size_t			 i, n;
	int			 limit;
	enum db_rc		 rc;

	if (valid_form(&r->args, VOP_RECORD_LIST, v, &vf, 1) > 0) {
		req_error_valid(r, &vf);
		return;
	}
	limit = v[2].present ? (int)v[2].i : API_RECORD_LIMIT;
	if ((rc = db_record_list(r, v[0].s, v[1].present ? v[1].i : 0, limit,
	    &s, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n && i < (size_t)limit; i++)
		json_object_array_add(data, api_record_json(&s[i]));
	o = json_object_new_object();
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", data);
	json_object_object_add(o, "has_more",
	    json_object_new_boolean(n > (size_t)limit));
	/* Where the next sync starts: the last revision seen. */
	json_object_object_add(o, "next_since", json_object_new_int64(
	    i > 0 ? s[i - 1].revision : (v[1].present ? v[1].i : 0)));
	req_json(r, 200, o);
}

/* DELETE /storage/records/{id}; If-Match optional. */
void
api_records_delete(struct req *r)
{
	const char	*id = r->path_params[0], *st;
	long long	 expect;
	enum db_rc	 rc;

	if (api_record_if_match(r, &expect) == -1)
		return;
	if (!valid_uuid(id)) {
		req_error(r, 404, NULL, "not_found", "No such record.", NULL);
		return;
	}
	if ((rc = db_record_delete(r, id, expect, &st)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	if (strcmp(st, "not_found") == 0)
		req_error(r, 404, NULL, "not_found", "No such record.", NULL);
	else if (strcmp(st, "conflict") == 0)
		req_error(r, 412, NULL, "precondition_failed", "The record "
		    "changed since that revision.", "If-Match");
	else
		r->status = 204;
}

/* An HTTP date (RFC 9110) of t, for Last-Modified. */
static const char *
api_http_date(struct req *r, time_t t)
{
	struct tm	 tm;
	char		 buf[64];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		return "";
	return arena_strdup(&r->arena, buf);
}

/*
 * X-Backup-Timestamp: RFC 3339, or seconds since the epoch; the
 * normalised RFC 3339 text, or NULL.
 */
static const char *
api_backup_ts(struct req *r, const char *s)
{
	long long	 t;
	char		 buf[32];

	if (s == NULL)
		return NULL;
	if (valid_time(s))
		return s;
	if (util_strtonum(s, 0, 253402300799LL, &t) == -1)
		return NULL;
	fmt_rfc3339(buf, sizeof(buf), t);
	return buf[0] != '\0' ? arena_strdup(&r->arena, buf) : NULL;
}

/* X-Backup-Version: 1 to 64 printable ASCII characters. */
static int
api_backup_version_ok(const char *s)
{
	size_t	 i, n;

	if (s == NULL || (n = strlen(s)) == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* If-Match of a backup: the newest version's id, quoted or not. */
static int
api_backup_if_match(struct req *r, char *id, size_t size)
{
	const char	*h = req_env(r, "HTTP_IF_MATCH");
	size_t		 n;

	id[0] = '\0';
	if (h == NULL)
		return 0;
	n = strlen(h);
	if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
		h++;
		n -= 2;
	}
	if (n < size) {
		memcpy(id, h, n);
		id[n] = '\0';
		if (valid_uuid(id))
			return 0;
	}
	id[0] = '\0';
	req_error(r, 400, NULL, "invalid_value", "If-Match must be the id "
	    "(ETag) of the newest backup.", "If-Match");
	return -1;
}

/* PUT /backup: a new immutable version. */
void
api_backup_put(struct req *r)
{
	struct storage_backup	 in, b, newest;
	struct storage_put	 p;
	struct fail		 f;
	struct json_object	*o;
	unsigned char		 want[32];
	const char		*st;
	char			 expect[40];
	enum db_rc		 rc;

	memset(&p, 0, sizeof(p));
	memset(&in, 0, sizeof(in));
	in.version = req_env(r, "HTTP_X_BACKUP_VERSION");
	if (!api_backup_version_ok(in.version)) {
		req_error(r, 400, NULL, in.version == NULL ?
		    "missing_parameter" : "invalid_value", "X-Backup-Version "
		    "must be 1 to 64 printable ASCII characters.",
		    "X-Backup-Version");
		return;
	}
	if ((in.client_ts = api_backup_ts(r,
	    req_env(r, "HTTP_X_BACKUP_TIMESTAMP"))) == NULL) {
		req_error(r, 400, NULL, "invalid_value", "X-Backup-Timestamp "
		    "must be an RFC 3339 time or seconds since 1970.",
		    "X-Backup-Timestamp");
		return;
	}
	if (api_backup_if_match(r, expect, sizeof(expect)) == -1)
		return;
	if (expect[0] != '\0') {
		rc = db_backup_get(r, NULL, &newest);
		if (rc != DB_OK && rc != DB_NOTFOUND) {
			req_error_from_db(r, rc);
			return;
		}
		if (rc == DB_NOTFOUND || strcmp(newest.backup_id, expect) != 0) {
			req_error(r, 412, NULL, "precondition_failed", "The "
			    "newest backup is not that one.", "If-Match");
			return;
		}
	}
	if (storage_checksum(r, "HTTP_X_BACKUP_CHECKSUM", want, &f) == -1 ||
	    storage_upload(r, &f, "backup_bytes", want, &p) == -1) {
		api_storage_fail(r, &f, &p);
		return;
	}
	in.object_key = p.key;
	in.size = p.size;
	in.sha256 = p.sha_hex;
	if ((rc = db_backup_write(r, &in, p.hold, expect[0] != '\0' ? expect :
	    NULL, &st, &b, &p.pruned)) != DB_OK) {
		storage_abandon(r, &p, 1);
		req_error_from_db(r, rc);
		return;
	}
	if (strcmp(st, "created") != 0) {
		api_storage_lost(r, &p, st);
		return;
	}
	b.pinned = 0;
	req_header(r, "ETag", arena_printf(&r->arena, "\"%s\"", b.backup_id));
	o = api_backup_json(&b);
	json_object_object_add(o, "pruned", json_object_new_int(p.pruned));
	req_json(r, 201, o);
}

/* The version's headers, for GET and for a 304. */
static void
api_backup_headers(struct req *r, const struct storage_backup *b)
{
	req_header(r, "ETag", arena_printf(&r->arena, "\"%s\"", b->backup_id));
	req_header(r, "Last-Modified", api_http_date(r, b->created));
}

/*
 * If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2): does the
 * client already have this version?
 */
static int
api_backup_fresh(struct req *r, const struct storage_backup *b)
{
	const char	*inm, *ims;
	struct tm	 tm;
	char		*e;

	if ((inm = req_env(r, "HTTP_IF_NONE_MATCH")) != NULL)
		return storage_etag_match(inm, b->backup_id);
	if ((ims = req_env(r, "HTTP_IF_MODIFIED_SINCE")) == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if ((e = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm)) == NULL ||
	    *e != '\0')
		return 0;
	return b->created <= timegm(&tm);
}

static void
api_backup_send(struct req *r, const char *id)
{
	struct storage_backup	 b;
	struct fail		 f;
	enum db_rc		 rc;

	if (id != NULL && !valid_uuid(id))
		rc = DB_NOTFOUND;
	else
		rc = db_backup_get(r, id, &b);
	if (rc == DB_NOTFOUND) {
		req_error(r, 404, NULL, "not_found", id == NULL ? "There is no "
		    "backup yet." : "No such backup.", NULL);
		return;
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	api_backup_headers(r, &b);
	if (api_backup_fresh(r, &b)) {
		r->status = 304;
		return;
	}
	storage_digest_headers(r, "X-Backup-Checksum", b.sha256);
	req_header(r, "X-Backup-Id", b.backup_id);
	req_header(r, "X-Backup-Version", b.version);
	req_header(r, "X-Backup-Timestamp", b.client_ts);
	if (storage_send(r, &f, b.object_key, b.size) == -1)
		acct_answer(r, &f);
}

/* GET /backup: the newest version. */
void
api_backup_get(struct req *r)
{
	api_backup_send(r, NULL);
}

/* GET /backup/{id}: one version. */
void
api_backup_get_one(struct req *r)
{
	api_backup_send(r, r->path_params[0]);
}

/* GET /backup/history: every version, newest first, and the quota. */
void
api_backup_history(struct req *r)
{
	struct storage_backup	*b;
	struct storage_usage	 u;
	struct json_object	*data, *o;
	size_t			 i, n;
	enum db_rc		 rc;

	if ((rc = db_backup_list(r, &b, &n)) != DB_OK ||
	    (rc = db_storage_usage(r, &u)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, api_backup_json(&b[i]));
	o = json_object_new_object();
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", data);
	json_object_object_add(o, "used_bytes",
	    json_object_new_int64(u.backup_taken));
	json_object_object_add(o, "limit_bytes", u.backup_limit < 0 ? NULL :
	    json_object_new_int64(u.backup_limit));
	req_json(r, 200, o);
}

/* DELETE /backup/{id} */
void
api_backup_delete(struct req *r)
{
	const char	*id = r->path_params[0];
	enum db_rc	 rc;

	rc = valid_uuid(id) ? db_backup_delete(r, id) : DB_NOTFOUND;
	if (rc == DB_NOTFOUND)
		req_error(r, 404, NULL, "not_found", "No such backup.", NULL);
	else if (rc != DB_OK)
		req_error_from_db(r, rc);
	else
		r->status = 204;
}

/* PUT and DELETE /backup/{id}/pin: kept from pruning, or not. */
static void
api_backup_pin_set(struct req *r, int pinned)
{
	struct storage_backup	 b;
	const char		*id = r->path_params[0];
	enum db_rc		 rc;

	rc = valid_uuid(id) ? db_backup_pin(r, id, pinned) : DB_NOTFOUND;
	if (rc == DB_OK)
		rc = db_backup_get(r, id, &b);
	if (rc == DB_NOTFOUND)
		req_error(r, 404, NULL, "not_found", "No such backup.", NULL);
	else if (rc != DB_OK)
		req_error_from_db(r, rc);
	else
		req_json(r, 200, api_backup_json(&b));
}

void
api_backup_pin(struct req *r)
{
	api_backup_pin_set(r, 1);
}

void
api_backup_unpin(struct req *r)
{
	api_backup_pin_set(r, 0);
}

static void
api_backup_settings_answer(struct req *r, int prune)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "prune_oldest",
	    json_object_new_boolean(prune));
	req_json(r, 200, o);
}

/* GET /backup/settings */
void
api_backup_settings_get(struct req *r)
{
	enum db_rc	 rc;
	int		 prune;

	if ((rc = db_storage_prune_get(r, &prune)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	api_backup_settings_answer(r, prune);
}

/* PUT /backup/settings {prune_oldest} */
void
api_backup_settings_put(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	enum db_rc	 rc;

	if (api_input(r, VOP_BACKUP_SETTINGS, v) == -1)
		return;
	if ((rc = db_storage_prune_set(r, (int)v[0].i)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	api_backup_settings_answer(r, (int)v[0].i);
}

static struct json_object *
api_storage_part(long long count, long long bytes)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "count", json_object_new_int64(count));
	json_object_object_add(o, "bytes", json_object_new_int64(bytes));
	return o;
}

static struct json_object *
api_storage_quota(long long used, long long limit)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "used_bytes", json_object_new_int64(used));
	json_object_object_add(o, "limit_bytes", limit < 0 ? NULL :
	    json_object_new_int64(limit));
	return o;
}

/* GET /storage: what the tenant stores, against its quotas. */
void
api_storage_summary(struct req *r)
{
	struct storage_usage	 u;
	struct json_object	*o, *v;
	enum db_rc		 rc;

	if ((rc = db_storage_usage(r, &u)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "records",
	    api_storage_part(u.records, u.record_bytes));
	json_object_object_add(o, "backups",
	    api_storage_part(u.backups, u.backup_bytes));
	v = api_storage_part(u.vectors, u.vector_bytes);
	json_object_object_add(v, "collections",
	    json_object_new_int64(u.collections));
	json_object_object_add(o, "vectors", v);
	json_object_object_add(o, "cloud_storage",
	    api_storage_quota(u.storage_taken, u.storage_limit));
	json_object_object_add(o, "backup",
	    api_storage_quota(u.backup_taken, u.backup_limit));
	req_json(r, 200, o);
}
