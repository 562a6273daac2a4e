/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Encrypted storage for the API and the portal (acct.c's convention:
 * 0, or -1 with a struct fail): the one upload path of records and
 * backups, their downloads, and what a checksum header says.
 *
 * An upload runs in two transactions with the body read between them,
 * so that no database lock is held while a client sends gigabytes:
 *  1. the hold: the Content-Length reserved against the quota, and the
 *     object's key entered as garbage due later (storage_reserve), then
 *     committed so that concurrent uploads count it;
 *  2. the body spooled while hashed, compared with the client's
 *     checksum in constant time, and stored by the backend;
 *  3. the row written and the hold settled, in the pipeline's commit.
 * A failure after 1 releases the hold at once (the worker would expire
 * it anyway) and leaves the object, if any, to the garbage.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tollgate.h"

#define STORAGE_HOLD_MIN_S	900	/* a hold lives at least this */
#define STORAGE_HOLD_MAX_S	86400
#define STORAGE_BYTES_PER_S	250000	/* the slowest upload we wait for */
#define STORAGE_VEC_SWEEP_S	600	/* vector files looked over this often */
#define STORAGE_VEC_ORPHAN_S	3600	/* a file this old has no writer left */

/* A new object's key: "<tenant>/<random uuid>", ids only. */
static int
storage_key(struct req *r, char *key, size_t size)
{
	unsigned char	 u[16];
	char		 h[33];

	if (util_random(u, sizeof(u)) == -1)
		return -1;
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	util_hex(u, sizeof(u), h);
	return snprintf(key, size, "%s/%.8s-%.4s-%.4s-%.4s-%.12s",
	    r->auth.tenant_id, h, h + 8, h + 12, h + 16, h + 20) <
	    (int)size ? 0 : -1;
}

/* Standard base64 of exactly 32 bytes (RFC 9530's sha-256 value). */
static int
storage_b64_sha(const char *s, size_t n, unsigned char out[32])
{
	unsigned char	 buf[48];

	if (n != 44 || s[43] != '=' || s[42] == '=')
		return -1;
	if (EVP_DecodeBlock(buf, (const unsigned char *)s, 44) != 33)
		return -1;
	memcpy(out, buf, 32);
	return 0;
}

static int
storage_hex_sha(const char *s, unsigned char out[32])
{
	size_t		 i;
	unsigned int	 v;

	if (strlen(s) != 64)
		return -1;
	for (i = 0; i < 32; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    strchr("0123456789abcdefABCDEF", s[2 * i]) == NULL ||
		    strchr("0123456789abcdefABCDEF", s[2 * i + 1]) == NULL)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

/*
 * The client's SHA-256 of the body: the named header (hex) or RFC
 * 9530's Content-Digest ("sha-256=:<base64>:", other algorithms beside
 * it ignored).  -1 when neither is usable; both must agree when both
 * are given.
 */
int
storage_checksum(struct req *r, const char *header, unsigned char *out,
    struct fail *f)
{
	const char	*hex, *cd, *p, *e;
	unsigned char	 d[32];
	int		 have = 0;

	hex = req_env(r, header);
	cd = req_env(r, "HTTP_CONTENT_DIGEST");
	if (hex != NULL) {
		if (storage_hex_sha(hex, out) == -1)
			return acct_fail(f, 400, "invalid_checksum", "The "
			    "checksum must be the SHA-256 of the body in 64 "
			    "hex digits.", "checksum");
		have = 1;
	}
	if (cd != NULL && (p = strstr(cd, "sha-256=:")) != NULL &&
	    (p == cd || p[-1] == ' ' || p[-1] == ',')) {
		p += strlen("sha-256=:");
		if ((e = strchr(p, ':')) == NULL ||
		    storage_b64_sha(p, (size_t)(e - p), d) == -1)
			return acct_fail(f, 400, "invalid_checksum",
			    "Content-Digest's sha-256 must be the base64 of "
			    "32 bytes.", "Content-Digest");
		if (have && CRYPTO_memcmp(d, out, 32) != 0)
			return acct_fail(f, 400, "invalid_checksum", "The "
			    "two checksums given differ.", "Content-Digest");
		memcpy(out, d, 32);
		have = 1;
	}
	if (!have)
		return acct_fail(f, 400, "checksum_required", "Send the "
		    "body's SHA-256: the checksum header or Content-Digest.",
		    "checksum");
	return 0;
}

/* How long an upload of n bytes may take before its hold expires. */
static int
storage_hold_ttl(long long n)
{
	long long	 s = STORAGE_HOLD_MIN_S + n / STORAGE_BYTES_PER_S;

	return s > STORAGE_HOLD_MAX_S ? STORAGE_HOLD_MAX_S : (int)s;
}

/*
 * Give a hold back in a transaction of its own (the request's may be
 * over); a failure is logged and left to the worker's expiry.
 */
static void
storage_release(struct req *r, const char *res_id)
{
	enum db_rc	 rc;

	if (res_id == NULL)
		return;
	if ((rc = db_begin(r, r->auth.tenant_id)) == DB_OK &&
	    (rc = db_usage_unhold(r, res_id, "released")) == DB_OK)
		rc = db_commit(r);
	if (rc != DB_OK && rc != DB_CONFLICT)
		log_warnx("storage: hold %s not released (%s); it expires",
		    res_id, db_strerror(rc));
}

static int
storage_fail_blob(struct fail *f, enum blob_rc rc)
{
	switch (rc) {
	case BLOB_SHORT:
		return acct_fail(f, 400, "truncated_body", "The body ended "
		    "before Content-Length.", NULL);
	case BLOB_FULL:
		return acct_fail(f, 503, "storage_unavailable", "The storage "
		    "is full or not writable; nothing was stored.", NULL);
	case BLOB_UPSTREAM:
		return acct_fail(f, 502, "storage_upstream", "The object "
		    "store failed; nothing was stored.", NULL);
	case BLOB_NOTFOUND:
		return acct_fail(f, 404, "not_found", "No such object.", NULL);
	default:
		return acct_fail(f, 500, "internal_error", "Storage failed.",
		    NULL);
	}
}

/* The hold was refused: the plan has no such storage, or it is full. */
static int
storage_fail_hold(struct req *r, struct fail *f, const char *metric,
    const struct storage_hold *h, struct storage_put *p)
{
	static char	 msg[200];

	p->limit = h->limit;
	p->taken = h->taken;
	if (h->plan_needed != NULL || h->limit == 0) {
		snprintf(msg, sizeof(msg), "The %s plan includes no %s; the "
		    "%s plan does.", r->tenant != NULL ? r->tenant->plan_name :
		    "current", strcmp(metric, "backup_bytes") == 0 ? "backups" :
		    "cloud storage", h->plan_needed != NULL ? h->plan_needed :
		    "Pro");
		return acct_fail(f, 403, "plan_required", msg, NULL);
	}
	p->needed = h->taken + p->size - h->limit;
	return acct_fail(f, 507, "insufficient_storage", "The object does not "
	    "fit in what the plan's storage quota has left; nothing was "
	    "stored.", NULL);
}

/*
 * After the answer of an upload whose row did not commit (refused, or
 * its commit failed after the answer was made): the object goes, if it
 * is still there, and so does the hold, at once rather than at expiry.
 */
static void
storage_after(struct req *r)
{
	struct storage_pending	*w = r->after_arg;

	/* The pipeline committed what answered below 400 (responder.c). */
	if (r->status < 400 && !r->refused)
		return;
	if (!w->removed && blob_remove(r, w->key) != BLOB_OK)
		log_warnx("storage: %s left to the garbage collector", w->key);
	storage_release(r, w->hold);
}

/*
 * Steps 1 and 2 of an upload (above) for metric, the body checked
 * against want[]; on success the object is stored under p->key, a new
 * transaction is open for the row, and p->hold is the hold to settle.
 */
int
storage_upload(struct req *r, struct fail *f, const char *metric,
    const unsigned char *want, struct storage_put *p)
{
	struct storage_hold	 h;
	struct blob_spool	 sp;
	enum blob_rc		 brc;
	enum db_rc		 rc;

	p->size = r->content_length;
	p->hold = NULL;
	if (p->size <= 0)
		return acct_fail(f, 400, "body_required", "Send the object as "
		    "the body, with its Content-Length.", NULL);
	if (p->size > (long long)conf.storage_object_max_mb << 20) {
		/* The operator's alert: plans without a limit meet only this. */
		log_warnx("storage: %lld bytes refused for tenant %s (plan %s):"
		    " over TOLLGATE_STORAGE_OBJECT_MAX_MB", p->size,
		    r->auth.tenant_id, r->tenant != NULL ? r->tenant->plan :
		    "-");
		return acct_fail(f, 413, "object_too_large", "The object is "
		    "over TOLLGATE_STORAGE_OBJECT_MAX_MB.", NULL);
	}
	if (storage_key(r, p->key, sizeof(p->key)) == -1)
		return acct_fail(f, 500, "internal_error", "No object key.",
		    NULL);
	if ((rc = db_storage_reserve(r, metric, p->size, p->key,
	    storage_hold_ttl(p->size), &h)) != DB_OK)
		return acct_fail_db(f, rc);
	if (h.reservation_id == NULL)
		return storage_fail_hold(r, f, metric, &h, p);
	p->pruned = h.pruned;
	p->hold = arena_strdup(&r->arena, h.reservation_id);
	if ((rc = db_commit(r)) != DB_OK) {
		p->hold = NULL;
		return acct_fail_db(f, rc);
	}
	if ((brc = blob_spool(r, p->size, &sp)) != BLOB_OK)
		goto fail;
	util_hex(sp.sha256, sizeof(sp.sha256), p->sha_hex);
	if (CRYPTO_memcmp(sp.sha256, want, 32) != 0) {
		blob_spool_drop(&sp);
		storage_release(r, p->hold);
		return acct_fail(f, 400, "checksum_mismatch", "The body's "
		    "SHA-256 is not the checksum given; nothing was stored.",
		    "checksum");
	}
	if ((brc = blob_store(r, p->key, &sp)) != BLOB_OK)
		goto fail;
	/* From here the object and the hold go unless the row commits. */
	p->pending = arena_calloc(&r->arena, 1, sizeof(*p->pending));
	p->pending->key = arena_strdup(&r->arena, p->key);
	p->pending->hold = p->hold;
	if (r->after == NULL) {
		r->after = storage_after;
		r->after_arg = p->pending;
	}
	if ((rc = db_begin(r, r->auth.tenant_id)) != DB_OK) {
		storage_abandon(r, p, 1);
		return acct_fail_db(f, rc);
	}
	return 0;
fail:
	storage_release(r, p->hold);
	return storage_fail_blob(f, brc);
}

/*
 * The row was not written (a conflict found at commit, the hold lost,
 * the database failing): the stored object goes now rather than with
 * the garbage.  With "held", the hold is still there, in a transaction
 * the pipeline rolls back: storage_after() releases it once the answer
 * is out; without, the SQL that refused the row released it.
 */
void
storage_abandon(struct req *r, const struct storage_put *p, int held)
{
	if (blob_remove(r, p->key) != BLOB_OK)
		log_warnx("storage: %s left to the garbage collector",
		    p->key);
	if (p->pending != NULL) {
		p->pending->removed = 1;
		if (!held)
			p->pending->hold = NULL;
	}
}

/* A download's sink: the head goes out with the first bytes. */
struct storage_out {
	struct req	*r;
	int		 started;
};

static int
storage_sink(void *arg, const void *p, size_t n)
{
	struct storage_out	*o = arg;

	if (!o->started) {
		if (req_stream_head(o->r) == -1)
			return -1;
		o->started = 1;
	}
	return req_stream_write(o->r, p, n);
}

/*
 * Stream the object key as the answer (200, the headers already set).
 * The read transaction is committed first: a slow client holds no
 * database connection state.  A failure before the first byte is an
 * ordinary error answer; after it, the client sees a short body.
 */
int
storage_send(struct req *r, struct fail *f, const char *key, long long size)
{
	struct storage_out	 o = { r, 0 };
	enum blob_rc		 brc;
	enum db_rc		 rc;
	char			*len;

	if (r->in_tx && (rc = db_commit(r)) != DB_OK)
		return acct_fail_db(f, rc);
	len = arena_printf(&r->arena, "%lld", size);
	req_header(r, "Content-Length", len);
	r->status = 200;
	r->content_type_out = "application/octet-stream";
	if (strcmp(r->method, "HEAD") == 0) {
		(void)req_stream_head(r);
		return 0;
	}
	brc = blob_fetch(r, key, storage_sink, &o);
	if (brc == BLOB_OK && !o.started)
		(void)req_stream_head(r);
	if (brc == BLOB_OK || o.started) {
		if (brc != BLOB_OK)
			log_warnx("storage: %s cut short (%d)", key, brc);
		return 0;
	}
	r->status = 0;
	r->nheaders = 0;
	log_warnx("storage: %s not readable (%d)", key, brc);
	/* Replaced (and collected) between the row's read and now. */
	if (brc == BLOB_NOTFOUND)
		return acct_fail(f, 409, "changed", "The object was replaced "
		    "or deleted while it was being read: read it again.",
		    NULL);
	return storage_fail_blob(f, brc);
}

/* The checksum headers of a download, from the stored hex digest. */
void
storage_digest_headers(struct req *r, const char *header, const char *hex)
{
	unsigned char	 d[32];
	char		 b64[48];

	req_header(r, header, hex);
	if (storage_hex_sha(hex, d) == 0) {
		EVP_EncodeBlock((unsigned char *)b64, d, 32);
		req_header(r, "Content-Digest", arena_printf(&r->arena,
		    "sha-256=:%s:", b64));
	}
}

/*
 * Does an If-Match / If-None-Match header name this entity tag?  The
 * tags are compared without their quotes or a weak "W/"; "*" matches
 * anything.
 */
int
storage_etag_match(const char *header, const char *tag)
{
	const char	*p = header, *e;
	size_t		 n;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p == '*')
			return 1;
		e = strchr(p, ',');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
			p++;
			n -= 2;
		}
		if (n == strlen(tag) && memcmp(p, tag, n) == 0)
			return 1;
		p = e;
	}
	return 0;
}

/* A vector generation's garbage key, "<tenant>/<name>.<gen>", removed. */
static int
storage_collect_vector(const char *key)
{
	const char	*slash, *dot;
	char		 dir[512], name[VEC_NAME_MAX + 1];
	long long	 gen;

	if ((slash = strchr(key, '/')) == NULL ||
	    (dot = strrchr(slash, '.')) == NULL ||
	    (size_t)(dot - slash - 1) > VEC_NAME_MAX ||
	    util_strtonum(dot + 1, 1, (long long)1 << 62, &gen) == -1)
		return -1;
	memcpy(name, slash + 1, (size_t)(dot - slash - 1));
	name[dot - slash - 1] = '\0';
	if ((size_t)snprintf(dir, sizeof(dir), "%s/vectors/%.*s", blob_dir(),
	    (int)(slash - key), key) >= sizeof(dir))
		return -1;
	return vec_remove(dir, name, (uint64_t)gen);
}

/* "name.gen.vec" into name and gen; -1 when it is not such a name. */
static int
storage_vec_file(const char *f, char *name, size_t size, long long *gen)
{
	const char	*ext, *dot;
	char		 num[24];

	if ((ext = strrchr(f, '.')) == NULL || strcmp(ext, ".vec") != 0 ||
	    ext == f)
		return -1;
	for (dot = ext - 1; dot > f && *dot != '.'; dot--)
		continue;
	if (dot == f || (size_t)(dot - f) >= size ||
	    (size_t)(ext - dot - 1) >= sizeof(num))
		return -1;
	memcpy(num, dot + 1, (size_t)(ext - dot - 1));
	num[ext - dot - 1] = '\0';
	memcpy(name, f, (size_t)(dot - f));
	name[dot - f] = '\0';
	if (!vec_name_valid(name) ||
	    util_strtonum(num, 1, (long long)1 << 62, gen) == -1)
		return -1;
	return 0;
}

/*
 * One tenant's vector files that no generation owns: a generation
 * above the one its collection published (or of no collection), which
 * a responder killed between writing it and committing left behind,
 * and writers' temporary files.  Only files an hour old (no change is
 * still writing them), and a generation under its collection's lock.
 */
static long long
storage_vec_sweep_tenant(struct req *r, const char *top, const char *tenant)
{
	struct vec_collection	 c;
	struct dirent		*de;
	struct stat		 st;
	DIR			*d;
	char			 dir[512], name[VEC_NAME_MAX + 1];
	long long		 gen, n = 0;
	time_t			 now = time(NULL);
	enum db_rc		 rc;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", top, tenant) >=
	    sizeof(dir) || (d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !S_ISREG(st.st_mode) ||
		    now - st.st_mtime < STORAGE_VEC_ORPHAN_S)
			continue;
		if (de->d_name[0] == '.') {
			/* vec_apply()'s temporary file of a dead writer. */
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				n++;
			continue;
		}
		if (storage_vec_file(de->d_name, name, sizeof(name), &gen) ==
		    -1 || db_begin(r, tenant) != DB_OK)
			continue;
		rc = db_vec_lock(r, name, 0, &c);
		if ((rc == DB_NOTFOUND || (rc == DB_OK && gen > c.generation))
		    && vec_remove(dir, name, (uint64_t)gen) == 0) {
			log_info("storage: vector file %s/%s of no generation "
			    "removed", tenant, de->d_name);
			n++;
		}
		(void)db_commit(r);
	}
	closedir(d);
	return n;
}

/* Every tenant's vector files, every STORAGE_VEC_SWEEP_S at most. */
static long long
storage_vec_sweep(struct req *r)
{
	static time_t	 last;
	struct dirent	*de;
	DIR		*d;
	char		 top[512];
	time_t		 now = time(NULL);
	long long	 n = 0;

	if (last != 0 && now - last < STORAGE_VEC_SWEEP_S)
		return 0;
	last = now;
	if ((size_t)snprintf(top, sizeof(top), "%s/vectors", blob_dir()) >=
	    sizeof(top) || (d = opendir(top)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (valid_uuid(de->d_name))
			n += storage_vec_sweep_tenant(r, top, de->d_name);
	closedir(d);
	return n;
}

/*
 * The worker's job: objects and vector files nobody owns any more (a
 * replaced or deleted version, an upload whose row never came), each
 * deleted and then its entry, under its tenant.  An entry whose delete
 * fails stays for the next pass.  Spool files of dead uploads too.
 */
enum db_rc
storage_collect(struct req *r, long long *n)
{
	struct pg_result	*res;
	const char		*kind, *key;
	enum db_rc		 rc;
	int			 i, gone;

	*n += blob_spool_sweep();
	*n += storage_vec_sweep(r);
	if ((rc = db_storage_garbage_due(r, 200, &res)) != DB_OK)
		return rc;
	for (i = 0; i < db_nrows(res); i++) {
		kind = db_get(res, i, 1);
		key = db_get(res, i, 2);
		if (strcmp(kind, "vector") == 0)
			gone = storage_collect_vector(key) == 0;
		else
			gone = blob_remove(r, key) == BLOB_OK;
		if (!gone) {
			log_warnx("storage: garbage %s %s not removed", kind,
			    key);
			continue;
		}
		if ((rc = db_begin(r, db_get(res, i, 0))) != DB_OK ||
		    (rc = db_storage_garbage_done(r, kind, key)) != DB_OK ||
		    (rc = db_commit(r)) != DB_OK)
			return rc;
		(*n)++;
	}
	return DB_OK;
}
