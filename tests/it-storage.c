/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: encrypted storage (SPEC 5, "Storage") over real HTTP:
 * records, backups, vector collections and the quotas they count
 * against, with the fs backend and, for records and backups, once more
 * with the s3 backend against tests/s3-emu.py.
 *
 * Records go round (create, read back byte for byte with their checksum
 * headers, update under If-Match, 304, a sync list with since=, a
 * tombstone); a checksum that is wrong, malformed, missing or disagrees
 * stores nothing and keeps no hold; so does a body shorter than its
 * Content-Length, through lighttpd and straight to the FastCGI socket.
 * A full quota answers 507 with what is missing and a declared length
 * over the per-object cap 413; the free plan 403.  Another tenant's ids
 * are 404.  Backups: versions, If-Match, the newest with 304s, history,
 * pins and pruning.  Vectors: dimensions, bad numbers, top_k, ordering,
 * checksums, deletion, isolation.  A spool directory the server cannot
 * write is a 503 with the hold released.  Objects nobody owns (a
 * replaced version, an orphan entered as garbage, an old spool file)
 * are deleted by the stack's worker (TOLLGATE_WORK_INTERVAL 1 s).
 *
 * Each test has tenants of its own, on the pro plan through the owner's
 * SQL (5 GB of each quota, 60 requests a minute): a 429 is waited out.
 * The owner's role reads every tenant's rows of some tables, so every
 * statement here names the tenant.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "it-util.h"

#define API		"/api/v1"
#define RECORDS		API "/storage/records"
#define BACKUP		API "/backup"
#define VECTORS		API "/storage/vectors"
#define SUMMARY		API "/storage"
#define OCTETS		"application/octet-stream"
#define PRO_LIMIT	5000000000LL	/* 5 GB, each quota of the pro plan */
#define SETTLE_S	5.0		/* for holds and the worker */
#define OBJECT_MAX	(5120LL << 20)	/* TOLLGATE_STORAGE_OBJECT_MAX_MB */

/* The backend the stack runs now: what object_exists() looks at. */
static int	 on_s3;
static int	 switched;	/* the s3 pass changed the backend */

/* --- bytes, checksums, JSON ----------------------------------------------- */

/* n bytes of a pattern of seed's, every byte value in it (caller frees). */
static unsigned char *
bytes_new(size_t n, unsigned int seed)
{
	unsigned char	*p = it_alloc(n);
	uint32_t	 x = seed * 2654435761u + 1;
	size_t		 i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

/* The SHA-256 of p: 64 hex digits into hex, the base64 into b64. */
static void
sha256_of(const void *p, size_t n, char hex[65], char b64[45])
{
	unsigned char	 d[32];
	size_t		 i;

	if (EVP_Digest(p, n, d, NULL, EVP_sha256(), NULL) != 1)
		fail_msg("EVP_Digest failed");
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	if (b64 != NULL)
		EVP_EncodeBlock((unsigned char *)b64, d, 32);
}

/* The integer at a dotted path of the body; it must be there. */
static long long
jnum(struct it_resp *r, const char *path)
{
	struct json_object	*v = NULL;

	if (!it_json_at(r, path, &v) || v == NULL ||
	    !json_object_is_type(v, json_type_int))
		fail_msg("no integer at \"%s\" in %.300s", path, r->body);
	return json_object_get_int64(v);
}

/* A boolean at a dotted path: 1, 0, or -1 when not a boolean. */
static int
jbool(struct it_resp *r, const char *path)
{
	struct json_object	*v = NULL;

	if (!it_json_at(r, path, &v) || v == NULL ||
	    !json_object_is_type(v, json_type_boolean))
		return -1;
	return json_object_get_boolean(v);
}

/* The length of the array at a dotted path; -1 when none. */
static long
jlen(struct it_resp *r, const char *path)
{
	struct json_object	*v = NULL;

	if (!it_json_at(r, path, &v) || v == NULL ||
	    !json_object_is_type(v, json_type_array))
		return -1;
	return (long)json_object_array_length(v);
}

/* A string of the body at a dotted path, or "" (for messages). */
static const char *
jstr(struct it_resp *r, const char *path)
{
	struct json_object	*v = NULL;

	if (r->body_len == 0 || !it_json_at(r, path, &v) || v == NULL ||
	    !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

/* --- HTTP ----------------------------------------------------------------- */

/*
 * One request from the current client with a bearer token (NULL: none),
 * a body of len bytes (NULL: none) of type ctype, and extra "Name: value"
 * headers, NULL-terminated.  A 429 of the plan's rate limit is waited out
 * and the request sent again: the limit is not under test here.  A
 * transport failure fails the test; free r with it_response_free().
 */
static void
api(struct it_resp *r, const char *token, const char *method,
    const char *path, const char *ctype, const void *body, size_t len, ...)
{
	const char	*hdrs[IT_EXTRA_MAX + 2], *h, *ct, *reset;
	char		 auth[IT_TOKEN_MAX + 64];
	va_list		 ap;
	size_t		 n = 0;
	long		 wait;
	int		 tries;

	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs[n++] = auth;
	}
	va_start(ap, len);
	while ((h = va_arg(ap, const char *)) != NULL) {
		if (n == IT_EXTRA_MAX)
			fail_msg("more than %d headers", IT_EXTRA_MAX);
		hdrs[n++] = h;
	}
	va_end(ap);
	hdrs[n] = NULL;
	for (tries = 0;; tries++) {
		if (it_request_on(NULL, r, method, path, ctype, body, len,
		    hdrs) == -1)
			fail_msg("%s %s: %s", method, path, r->error);
		if (r->status != 429 || tries == 3)
			break;
		reset = it_header(r, "Retry-After");
		if (reset == NULL)
			reset = it_header(r, "X-RateLimit-Reset");
		wait = reset != NULL ? strtol(reset, NULL, 10) + 1 : 10;
		print_message("# %s %s: 429, the plan's rate limit: waiting "
		    "%ld s\n", method, path, wait);
		it_response_free(r);
		it_sleep_ms(wait * 1000);
	}
	ct = it_header(r, "Content-Type");
	print_message("# %s %s: %ld in %.1f ms%s%.160s\n", method, path,
	    r->status, r->ms, ct != NULL && strstr(ct, "json") != NULL ?
	    ": " : "", ct != NULL && strstr(ct, "json") != NULL ? r->body : "");
}

/* api() with a JSON body. */
static void
api_json(struct it_resp *r, const char *token, const char *method,
    const char *path, const char *json)
{
	api(r, token, method, path, IT_JSON, json, strlen(json),
	    (const char *)NULL);
}

/* A header that must be there with this value (deferred). */
static void
expect_header(const struct it_resp *r, const char *name, const char *want,
    const char *what)
{
	const char	*got = it_header(r, name);

	if (got == NULL || strcmp(got, want) != 0)
		it_deferred_fail("%s: %s is %s, want %s", what, name,
		    got != NULL ? got : "(absent)", want);
}

/* The body must be these n bytes (deferred). */
static void
expect_bytes(const struct it_resp *r, const void *p, size_t n,
    const char *what)
{
	if (r->body_len != n || memcmp(r->body, p, n) != 0)
		it_deferred_fail("%s: %zu bytes came back, not the %zu "
		    "stored%s", what, r->body_len, n, r->body_len == n ?
		    " (they differ)" : "");
}

/* Host and port of $TOLLGATE_URL, "http://host:port". */
static void
url_hostport(char *host, size_t hostsz, char *port, size_t portsz)
{
	const char	*u = it_env("TOLLGATE_URL"), *h, *c, *e;

	if (strncmp(u, "http://", 7) != 0)
		fail_msg("TOLLGATE_URL is not http://: %s", u);
	h = u + 7;
	e = h + strcspn(h, "/");
	if ((c = memchr(h, ':', (size_t)(e - h))) == NULL) {
		snprintf(port, portsz, "80");
		c = e;
	} else
		snprintf(port, portsz, "%.*s", (int)(e - c - 1), c + 1);
	snprintf(host, hostsz, "%.*s", (int)(c - h), h);
}

/*
 * Read from fd until the peer closes or "seconds" pass; what came into
 * out (NUL-terminated, cut at outsz).  The count read, -1 on a timeout
 * with nothing read.
 */
static long
read_all(int fd, char *out, size_t outsz, double seconds)
{
	struct pollfd	 pfd;
	double		 deadline = it_now_ms() + seconds * 1000.0;
	char		 chunk[4096];
	ssize_t		 n;
	size_t		 len = 0;

	out[0] = '\0';
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (it_now_ms() >= deadline || poll(&pfd, 1,
		    (int)(deadline - it_now_ms())) == 0)
			return len > 0 ? (long)len : -1;
		if ((n = read(fd, chunk, sizeof(chunk))) == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;		/* a reset: the server gave up */
		}
		if (len + (size_t)n < outsz) {
			memcpy(out + len, chunk, (size_t)n);
			len += (size_t)n;
			out[len] = '\0';
		}
	}
	return (long)len;
}

/*
 * Send n bytes to the web server as they are, then close our side for
 * writing (the client goes away mid-body) and read the answer until
 * the server closes: its status line's code, 0 when it closed without
 * answering, -1 when it neither answered nor closed in time.
 */
static long
raw_half_close(const char *req, size_t n, char *out, size_t outsz)
{
	struct addrinfo	 hints, *res = NULL;
	char		 host[256], port[16];
	long		 got, status = -1;
	size_t		 off;
	ssize_t		 w;
	int		 fd = -1;

	url_hostport(host, sizeof(host), port, sizeof(port));
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		fail_msg("cannot resolve %s", host);
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	    -1 || connect(fd, res->ai_addr, res->ai_addrlen) == -1)
		fail_msg("connect %s:%s: %s", host, port, strerror(errno));
	freeaddrinfo(res);
	for (off = 0; off < n; off += (size_t)w)
		if ((w = write(fd, req + off, n - off)) <= 0)
			fail_msg("write: %s", strerror(errno));
	shutdown(fd, SHUT_WR);
	got = read_all(fd, out, outsz, IT_TIMEOUT_S + 20);
	close(fd);
	if (got == 0)
		status = 0;
	else if (got > 0 && strncmp(out, "HTTP/1.", 7) == 0)
		status = strtol(out + 9, NULL, 10);
	return status;
}

/* The status of a raw answer ("HTTP/1.1 413 ..."); 0 without one. */
static long
raw_status(const char *answer)
{
	return strncmp(answer, "HTTP/1.", 7) == 0 ? strtol(answer + 9, NULL,
	    10) : 0;
}

/* The last line of $TOLLGATE_LOG holding s, into out ("" if none). */
static void
log_last(const char *s, char *out, size_t outsz)
{
	char	*line = NULL;
	size_t	 cap = 0;
	FILE	*fp;

	out[0] = '\0';
	if ((fp = fopen(it_env("TOLLGATE_LOG"), "r")) == NULL)
		return;
	while (getline(&line, &cap, fp) != -1)
		if (strstr(line, s) != NULL)
			snprintf(out, outsz, "%s", line);
	free(line);
	fclose(fp);
}

/* --- the FastCGI socket --------------------------------------------------- */

/* One FastCGI name-value pair. */
static void
fcgi_pair(struct it_fcgi *p, const char *name, const char *value)
{
	it_fcgi_len(p, strlen(name));
	it_fcgi_len(p, strlen(value));
	it_fcgi_put(p, name, strlen(name));
	it_fcgi_put(p, value, strlen(value));
}

/*
 * An upload straight to tollgate's socket, as the web server passes one
 * but with a body of "sent" bytes under a CONTENT_LENGTH of "declared":
 * what a proxy that streams bodies hands on when its client goes away
 * (lighttpd buffers whole bodies, so it never does).  The status of the
 * answer (its "Status:" line; 200 without one, 0 without an answer), its
 * body into out.
 */
static long
fcgi_upload(const char *token, const char *uri, long long declared,
    const void *body, size_t sent, const char *checksum, char *out,
    size_t outsz)
{
	struct it_fcgi	 params, req;
	char		*raw, *stdout_, auth[IT_TOKEN_MAX + 16], len[32];
	char		 query[256];
	const char	*q, *st;
	size_t		 off, clen, pad, slen = 0, chunk;
	ssize_t		 w;
	long		 got;
	int		 fd;

	memset(&params, 0, sizeof(params));
	memset(&req, 0, sizeof(req));
	q = strchr(uri, '?');
	snprintf(query, sizeof(query), "%s", q != NULL ? q + 1 : "");
	snprintf(auth, sizeof(auth), "Bearer %s", token);
	snprintf(len, sizeof(len), "%lld", declared);
	fcgi_pair(&params, "REQUEST_METHOD", "POST");
	fcgi_pair(&params, "REQUEST_URI", uri);
	fcgi_pair(&params, "QUERY_STRING", query);
	fcgi_pair(&params, "SERVER_PROTOCOL", "HTTP/1.1");
	fcgi_pair(&params, "REMOTE_ADDR", "127.0.0.1");
	fcgi_pair(&params, "HTTP_HOST", "127.0.0.1");
	fcgi_pair(&params, "CONTENT_TYPE", OCTETS);
	fcgi_pair(&params, "CONTENT_LENGTH", len);
	fcgi_pair(&params, "HTTP_AUTHORIZATION", auth);
	fcgi_pair(&params, "HTTP_X_CHECKSUM_SHA256", checksum);
	it_fcgi_begin(&req, FCGI_RESPONDER);
	it_fcgi_header(&req, FCGI_PARAMS, params.len);
	it_fcgi_put(&req, params.b, params.len);
	it_fcgi_header(&req, FCGI_PARAMS, 0);
	for (off = 0; off < sent; off += chunk) {
		chunk = sent - off > 4000 ? 4000 : sent - off;
		it_fcgi_header(&req, FCGI_STDIN, chunk);
		it_fcgi_put(&req, (const char *)body + off, chunk);
	}
	it_fcgi_header(&req, FCGI_STDIN, 0);

	if ((fd = it_unix_connect(it_env("TOLLGATE_SOCKET"))) == -1)
		fail_msg("cannot connect to %s", it_env("TOLLGATE_SOCKET"));
	/* A short write: the responder answered before reading it all. */
	for (off = 0; off < req.len; off += (size_t)w)
		if ((w = write(fd, req.b + off, req.len - off)) <= 0)
			break;
	raw = it_alloc(256 * 1024);
	got = read_all(fd, raw, 256 * 1024, IT_TIMEOUT_S);
	close(fd);
	/* The records' STDOUT contents, joined. */
	stdout_ = it_alloc(256 * 1024);
	stdout_[0] = '\0';
	for (off = 0; got > 0 && off + FCGI_HEADER_LEN <= (size_t)got;
	    off += FCGI_HEADER_LEN + clen + pad) {
		const unsigned char *h = (const unsigned char *)raw + off;

		clen = (size_t)h[4] << 8 | h[5];
		pad = h[6];
		if (off + FCGI_HEADER_LEN + clen > (size_t)got)
			break;
		if (h[1] == FCGI_STDOUT && slen + clen < 256 * 1024) {
			memcpy(stdout_ + slen, h + FCGI_HEADER_LEN, clen);
			slen += clen;
			stdout_[slen] = '\0';
		}
	}
	free(raw);
	snprintf(out, outsz, "%s", (q = strstr(stdout_, "\r\n\r\n")) != NULL ?
	    q + 4 : "");
	if (slen == 0)
		got = 0;
	else if ((st = strstr(stdout_, "Status: ")) != NULL)
		got = strtol(st + 8, NULL, 10);
	else
		got = 200;
	print_message("# FastCGI POST %s, CONTENT_LENGTH %lld, %zu bytes "
	    "sent: %ld %.200s\n", uri, declared, sent, got, out);
	free(stdout_);
	return got;
}

/* --- tenants and the database --------------------------------------------- */

/* A new owner of a new tenant on the pro plan (or left on free). */
static void
tenant_new(struct it_owner *o, const char *tag, int pro)
{
	it_owner_new(o, "storage", tag);
	if (pro && it_owner_sql(NULL, 0, o->tenant, "UPDATE tenants SET plan "
	    "= 'pro', status = 'active' WHERE tenant_id = $1", 1,
	    (const char *const[]){ o->tenant }) != 1)
		fail_msg("tenant %s not put on the pro plan", o->tenant);
}

/*
 * A number read as the database owner: the first column of the first
 * row of sql, where $1 is the tenant and $2 (unless NULL) arg; -1 when
 * no row or NULL.
 */
static long long
sql_num(const struct it_owner *o, const char *sql, const char *arg)
{
	const char	*v[2] = { o->tenant, arg };
	char		 out[64];

	it_owner_sql(out, sizeof(out), o->tenant, sql, arg != NULL ? 2 : 1,
	    v);
	return out[0] == '\0' ? -1 : strtoll(out, NULL, 10);
}

/* A statement as the owner, $1 the tenant, $2 arg: the rows changed. */
static long
sql_do(const struct it_owner *o, const char *sql, const char *arg)
{
	const char	*v[2] = { o->tenant, arg };

	return it_owner_sql(NULL, 0, o->tenant, sql, arg != NULL ? 2 : 1, v);
}

/* The tenant's counter of metric: used and reserved bytes (0 if none). */
static void
counter(const struct it_owner *o, const char *metric, long long *used,
    long long *reserved)
{
	const char	*v[2] = { o->tenant, metric };
	char		 out[64];

	*used = *reserved = 0;
	it_owner_sql(out, sizeof(out), o->tenant, "SELECT used || ' ' || "
	    "reserved FROM usage_counters WHERE tenant_id = $1 AND metric = $2 "
	    "AND period_start = '-infinity'", 2, v);
	if (out[0] != '\0' && sscanf(out, "%lld %lld", used, reserved) != 2)
		fail_msg("counter %s: \"%s\"", metric, out);
}

/* Set the tenant's used bytes of metric (the row made if missing). */
static void
counter_set(const struct it_owner *o, const char *metric, long long used)
{
	const char	*v[3] = { o->tenant, metric, NULL };
	char		 n[32];

	snprintf(n, sizeof(n), "%lld", used);
	v[2] = n;
	if (it_owner_sql(NULL, 0, o->tenant, "INSERT INTO usage_counters "
	    "(tenant_id, metric, period_start, used, reserved) VALUES ($1, $2, "
	    "'-infinity', $3::bigint, 0) ON CONFLICT (tenant_id, metric, "
	    "period_start) DO UPDATE SET used = $3::bigint", 3, v) != 1)
		fail_msg("counter %s of %s not set", metric, o->tenant);
}

/*
 * Wait until the tenant holds nothing in flight (reserved 0 for both
 * metrics): 0, or -1 after SETTLE_S with the counters printed.
 */
static int
holds_settle(const struct it_owner *o)
{
	double		 deadline = it_now_ms() + SETTLE_S * 1000.0;
	long long	 su, sr, bu, br;

	for (;;) {
		counter(o, "storage_bytes", &su, &sr);
		counter(o, "backup_bytes", &bu, &br);
		if (sr == 0 && br == 0)
			return 0;
		if (it_now_ms() >= deadline)
			break;
		it_sleep_ms(100);
	}
	it_deferred_fail("holds not released within %.0f s: storage_bytes "
	    "reserved %lld, backup_bytes reserved %lld", SETTLE_S, sr, br);
	return -1;
}

/* Records of the tenant in table (deleted ones too). */
static long long
record_rows(const struct it_owner *o, const char *table)
{
	return sql_num(o, "SELECT count(*) FROM storage_records WHERE "
	    "tenant_id = $1 AND tbl = $2", table);
}

static long long
backup_rows(const struct it_owner *o)
{
	return sql_num(o, "SELECT count(*) FROM storage_backups WHERE "
	    "tenant_id = $1", NULL);
}

/* The object key of a record (NULL when none: deleted); static. */
static const char *
record_key(const struct it_owner *o, const char *id)
{
	static char	 key[256];
	const char	*v[2] = { o->tenant, id };

	it_owner_sql(key, sizeof(key), o->tenant, "SELECT object_key FROM "
	    "storage_records WHERE tenant_id = $1 AND record_id = $2", 2, v);
	return key[0] != '\0' ? key : NULL;
}

static const char *
backup_key(const struct it_owner *o, const char *id)
{
	static char	 key[256];
	const char	*v[2] = { o->tenant, id };

	it_owner_sql(key, sizeof(key), o->tenant, "SELECT object_key FROM "
	    "storage_backups WHERE tenant_id = $1 AND backup_id = $2", 2, v);
	return key[0] != '\0' ? key : NULL;
}

/* Garbage entries of the tenant for key. */
static long long
garbage_rows(const struct it_owner *o, const char *key)
{
	return sql_num(o, "SELECT count(*) FROM storage_garbage WHERE "
	    "tenant_id = $1 AND object_key = $2", key);
}

/* A key that must be there (a live record or backup). */
static const char *
must_key(const char *key, const char *id)
{
	if (key == NULL)
		fail_msg("no object key for %s", id);
	return key;
}

/* --- the object store ----------------------------------------------------- */

/* TOLLGATE_STORAGE_DIR, or the stack's storage/; in a static buffer. */
static const char *
storage_dir(void)
{
	static char	 dir[512];
	const char	*d = getenv("TOLLGATE_STORAGE_DIR");
	int		 n;

	if (d != NULL && *d != '\0')
		n = snprintf(dir, sizeof(dir), "%s", d);
	else
		n = snprintf(dir, sizeof(dir), "%s/storage",
		    it_env("STACK_DIR"));
	if (n < 0 || (size_t)n >= sizeof(dir))
		fail_msg("the storage directory's path is too long");
	return dir;
}

/* The fs backend's file of a key: objects/<tenant>/<id's first 2>/<id>. */
static void
object_path(const char *key, char *path, size_t size)
{
	const char	*leaf = strrchr(key, '/');

	if (leaf == NULL)
		fail_msg("object key without a tenant: %s", key);
	snprintf(path, size, "%s/objects/%.*s/%.2s/%s", storage_dir(),
	    (int)(leaf - key), key, leaf + 1, leaf + 1);
}

/* The S3 emulator's state of the stack's bucket; free with it_response_free. */
static void
s3_state(struct it_resp *r)
{
	char	 url[1024];

	snprintf(url, sizeof(url), "%s/_emu/state?bucket=%s",
	    it_env("S3_EMU_URL"), it_env_or("TOLLGATE_S3_BUCKET",
	    "tollgate-test"));
	if (it_request(r, "GET", url, NULL, NULL, 0, (const char *)NULL) ==
	    -1 || r->status != 200)
		fail_msg("S3 emulator state: %ld %s", r->status, r->error);
}

/*
 * Is the object of key in the store the stack runs now?  Its SHA-256
 * (hex) into sha when not NULL and it is.
 */
static int
object_exists(const char *key, char sha[65])
{
	struct it_resp		 r;
	struct json_object	*objs = NULL, *e;
	unsigned char		*p;
	char			 path[1024], b64[45];
	size_t			 i;
	FILE			*fp;
	long			 n;
	int			 found = 0;

	if (!on_s3) {
		object_path(key, path, sizeof(path));
		if ((fp = fopen(path, "rb")) == NULL)
			return 0;
		if (sha != NULL) {
			fseek(fp, 0, SEEK_END);
			n = ftell(fp);
			rewind(fp);
			p = it_alloc((size_t)n);
			if (fread(p, 1, (size_t)n, fp) != (size_t)n)
				fail_msg("short read of %s", path);
			sha256_of(p, (size_t)n, sha, b64);
			free(p);
		}
		fclose(fp);
		return 1;
	}
	s3_state(&r);
	if (!it_json_at(&r, "objects", &objs) || objs == NULL)
		fail_msg("no objects in the S3 emulator's state: %.200s",
		    r.body);
	for (i = 0; i < json_object_array_length(objs); i++) {
		e = json_object_array_get_idx(objs, i);
		if (strcmp(it_json_str(e, "key") != NULL ?
		    it_json_str(e, "key") : "", key) != 0)
			continue;
		found = 1;
		if (sha != NULL)
			snprintf(sha, 65, "%s", it_json_str(e, "sha256") !=
			    NULL ? it_json_str(e, "sha256") : "");
	}
	it_response_free(&r);
	return found;
}

/* Wait until the object of key is gone from the store: 0, or -1. */
static int
object_wait_gone(const char *key)
{
	double	 deadline = it_now_ms() + SETTLE_S * 1000.0;

	while (object_exists(key, NULL)) {
		if (it_now_ms() >= deadline)
			return -1;
		it_sleep_ms(200);
	}
	return 0;
}

/* Files of the spool directory (uploads in progress or left behind). */
static int
spool_files(void)
{
	char		 path[1024];
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/tmp", storage_dir());
	if ((d = opendir(path)) == NULL)
		fail_msg("opendir %s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "spool.", 6) == 0)
			n++;
	closedir(d);
	return n;
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The keys of the tenant's objects in the store the stack runs now,
 * sorted, joined by spaces, into out.
 */
static void
store_keys(const struct it_owner *o, char *out, size_t outsz)
{
	struct it_resp		 r;
	struct json_object	*objs = NULL;
	struct dirent		*de, *fe;
	DIR			*d, *f;
	char			*keys[256], path[1024], prefix[80];
	const char		*k;
	size_t			 i, n = 0;

	snprintf(prefix, sizeof(prefix), "%s/", o->tenant);
	if (on_s3) {
		s3_state(&r);
		if (!it_json_at(&r, "objects", &objs) || objs == NULL)
			fail_msg("no objects in the S3 emulator's state");
		for (i = 0; i < json_object_array_length(objs); i++) {
			k = it_json_str(json_object_array_get_idx(objs, i),
			    "key");
			if (k != NULL && strncmp(k, prefix,
			    strlen(prefix)) == 0 && n < 256)
				keys[n++] = it_strndup(k, strlen(k));
		}
		it_response_free(&r);
	} else {
		snprintf(path, sizeof(path), "%s/objects/%s", storage_dir(),
		    o->tenant);
		if ((d = opendir(path)) != NULL) {
			while ((de = readdir(d)) != NULL) {
				if (de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/objects/%s/%s",
				    storage_dir(), o->tenant, de->d_name);
				if ((f = opendir(path)) == NULL)
					continue;
				while ((fe = readdir(f)) != NULL && n < 256) {
					if (fe->d_name[0] == '.')
						continue;
					snprintf(path, sizeof(path), "%s%s",
					    prefix, fe->d_name);
					keys[n++] = it_strndup(path,
					    strlen(path));
				}
				closedir(f);
			}
			closedir(d);
		}
	}
	qsort(keys, n, sizeof(keys[0]), key_cmp);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		snprintf(out + strlen(out), outsz - strlen(out), "%s%s",
		    i > 0 ? " " : "", keys[i]);
		free(keys[i]);
	}
}

/*
 * Every object the tenant's rows point at is in the store and nothing
 * else of the tenant's is, once the worker has collected (deferred).
 */
static void
expect_store_matches(const struct it_owner *o, const char *what)
{
	double	 deadline = it_now_ms() + SETTLE_S * 1000.0;
	char	 want[8192], got[8192];

	it_owner_sql(want, sizeof(want), o->tenant, "SELECT coalesce("
	    "string_agg(k, ' ' ORDER BY k COLLATE \"C\"), '') FROM ("
	    "SELECT object_key AS k FROM storage_records WHERE tenant_id = $1 "
	    "AND object_key IS NOT NULL UNION ALL SELECT object_key FROM "
	    "storage_backups WHERE tenant_id = $1) x", 1,
	    (const char *const[]){ o->tenant });
	for (;;) {
		store_keys(o, got, sizeof(got));
		if (strcmp(want, got) == 0)
			return;
		if (it_now_ms() >= deadline)
			break;
		it_sleep_ms(200);
	}
	it_deferred_fail("%s: the %s store holds [%s] of the tenant, its rows "
	    "point at [%s]", what, on_s3 ? "s3" : "fs", got, want);
}

/* Give path to the owner of the storage directory (the stack's user). */
static void
chown_like_storage(const char *path)
{
	struct stat	 st;

	if (stat(storage_dir(), &st) == -1)
		fail_msg("stat %s: %s", storage_dir(), strerror(errno));
	if (geteuid() == 0 && chown(path, st.st_uid, st.st_gid) == -1)
		fail_msg("chown %s: %s", path, strerror(errno));
}

/* --- records, backups, vectors -------------------------------------------- */

struct rec {
	char		 id[64];
	long long	 rev;
};

/*
 * Store n bytes as a record of table, the checksum in X-Checksum-SHA256:
 * the status; on 201 the id and revision into out (when not NULL), the
 * answer checked against what was sent.
 */
static long
record_post(const struct it_owner *o, const char *table, const void *p,
    size_t n, struct rec *out)
{
	struct it_resp	 r;
	char		 path[256], hdr[128], hex[65], etag[40];
	long		 status;

	sha256_of(p, n, hex, NULL);
	snprintf(path, sizeof(path), RECORDS "?table=%s", table);
	snprintf(hdr, sizeof(hdr), "X-Checksum-SHA256: %s", hex);
	api(&r, o->access, "POST", path, OCTETS, p, n, hdr,
	    (const char *)NULL);
	if ((status = r.status) == 201) {
		if (jnum(&r, "size") != (long long)n ||
		    strcmp(jstr(&r, "checksum"), hex) != 0 ||
		    strcmp(jstr(&r, "table"), table) != 0 ||
		    jbool(&r, "deleted") != 0)
			it_deferred_fail("POST %s: the record says %.300s, "
			    "want size %zu, checksum %s", path, r.body, n, hex);
		snprintf(etag, sizeof(etag), "\"%lld\"", jnum(&r, "revision"));
		expect_header(&r, "ETag", etag, "POST record");
		if (out != NULL) {
			it_copy_str(out->id, sizeof(out->id), &r, "id");
			out->rev = jnum(&r, "revision");
		}
	}
	it_response_free(&r);
	return status;
}

/* PUT a new version of a record; If-Match rev unless -1.  The status. */
static long
record_put(const struct it_owner *o, const char *id, const void *p, size_t n,
    long long if_match, struct rec *out)
{
	struct it_resp	 r;
	char		 path[256], sum[128], im[64], hex[65];
	long		 status;

	sha256_of(p, n, hex, NULL);
	snprintf(path, sizeof(path), RECORDS "/%s", id);
	snprintf(sum, sizeof(sum), "X-Checksum-SHA256: %s", hex);
	snprintf(im, sizeof(im), "If-Match: \"%lld\"", if_match);
	api(&r, o->access, "PUT", path, OCTETS, p, n, sum, if_match >= 0 ?
	    im : NULL, (const char *)NULL);
	if ((status = r.status) == 200 && out != NULL) {
		it_copy_str(out->id, sizeof(out->id), &r, "id");
		out->rev = jnum(&r, "revision");
		if (jnum(&r, "size") != (long long)n ||
		    strcmp(jstr(&r, "checksum"), hex) != 0)
			it_deferred_fail("PUT %s: the record says %.300s", path,
			    r.body);
	}
	it_response_free(&r);
	return status;
}

/*
 * GET a record and check it is these n bytes with every header that
 * describes them (deferred failures).
 */
static void
record_expect(const struct it_owner *o, const struct rec *s,
    const char *table, const void *p, size_t n, const char *what)
{
	struct it_resp	 r;
	char		 path[256], hex[65], b64[45], v[128];

	sha256_of(p, n, hex, b64);
	snprintf(path, sizeof(path), RECORDS "/%s", s->id);
	api(&r, o->access, "GET", path, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 200) {
		it_deferred_fail("%s: GET %s: %ld %.200s", what, path,
		    r.status, r.body);
		it_response_free(&r);
		return;
	}
	expect_bytes(&r, p, n, what);
	expect_header(&r, "Content-Type", OCTETS, what);
	expect_header(&r, "X-Checksum-SHA256", hex, what);
	snprintf(v, sizeof(v), "sha-256=:%s:", b64);
	expect_header(&r, "Content-Digest", v, what);
	snprintf(v, sizeof(v), "\"%lld\"", s->rev);
	expect_header(&r, "ETag", v, what);
	snprintf(v, sizeof(v), "%lld", s->rev);
	expect_header(&r, "X-Record-Revision", v, what);
	expect_header(&r, "X-Record-Table", table, what);
	snprintf(v, sizeof(v), "%zu", n);
	expect_header(&r, "Content-Length", v, what);
	it_response_free(&r);
}

/* A status of a request on a record by id: GET, DELETE or PUT. */
static long
record_status(const struct it_owner *o, const char *method, const char *id)
{
	struct it_resp	 r;
	char		 path[256], hex[65], sum[128];
	long		 status;

	snprintf(path, sizeof(path), RECORDS "/%s", id);
	sha256_of("x", 1, hex, NULL);
	snprintf(sum, sizeof(sum), "X-Checksum-SHA256: %s", hex);
	api(&r, o->access, method, path, strcmp(method, "PUT") == 0 ? OCTETS :
	    NULL, strcmp(method, "PUT") == 0 ? "x" : NULL,
	    strcmp(method, "PUT") == 0 ? 1 : 0, sum, (const char *)NULL);
	status = r.status;
	it_response_free(&r);
	return status;
}

/*
 * PUT /backup: n bytes as a version, If-Match the id given (NULL:
 * none).  The answer in r (the caller frees it).
 */
static void
backup_put(struct it_resp *r, const struct it_owner *o, const void *p,
    size_t n, const char *version, const char *ts, const char *if_match)
{
	char	 hex[65], sum[128], ver[128], when[128], im[128];

	sha256_of(p, n, hex, NULL);
	snprintf(sum, sizeof(sum), "X-Backup-Checksum: %s", hex);
	snprintf(ver, sizeof(ver), "X-Backup-Version: %s", version);
	snprintf(when, sizeof(when), "X-Backup-Timestamp: %s", ts);
	snprintf(im, sizeof(im), "If-Match: \"%s\"", if_match != NULL ?
	    if_match : "");
	api(r, o->access, "PUT", BACKUP, OCTETS, p, n, sum, ver, when,
	    if_match != NULL ? im : NULL, (const char *)NULL);
}

/* A new backup version that must be stored: its id into id. */
static void
backup_new(const struct it_owner *o, const void *p, size_t n,
    const char *version, const char *if_match, char *id, size_t idsz)
{
	struct it_resp	 r;
	char		 hex[65], etag[80];

	backup_put(&r, o, p, n, version, "2026-01-02T03:04:05Z", if_match);
	it_expect_status(&r, 201);
	sha256_of(p, n, hex, NULL);
	it_copy_str(id, idsz, &r, "id");
	if (jnum(&r, "size") != (long long)n ||
	    strcmp(jstr(&r, "checksum"), hex) != 0 ||
	    strcmp(jstr(&r, "version"), version) != 0 ||
	    strcmp(jstr(&r, "timestamp"), "2026-01-02T03:04:05Z") != 0 ||
	    jbool(&r, "pinned") != 0)
		it_deferred_fail("PUT /backup: the version says %.300s, want "
		    "size %zu, checksum %s, version %s", r.body, n, hex,
		    version);
	snprintf(etag, sizeof(etag), "\"%s\"", id);
	expect_header(&r, "ETag", etag, "PUT /backup");
	it_response_free(&r);
}

/* GET /storage: one number of it. */
static long long
summary_num(const struct it_owner *o, const char *path)
{
	struct it_resp	 r;
	long long	 v;

	api(&r, o->access, "GET", SUMMARY, NULL, NULL, 0, (const char *)NULL);
	it_expect_status(&r, 200);
	v = jnum(&r, path);
	it_response_free(&r);
	return v;
}

/*
 * An upsert item (a new JSON object): the blob is n bytes of seed's
 * pattern, its checksum the blob's unless sum is given.
 */
static struct json_object *
vec_item(const char *id, const double *v, size_t dim, size_t n,
    unsigned int seed, const char *sum)
{
	struct json_object	*o = json_object_new_object(), *a;
	unsigned char		*p = bytes_new(n, seed);
	char			*b64, hex[65];
	size_t			 i;

	b64 = it_alloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, p, (int)n);
	sha256_of(p, n, hex, NULL);
	a = json_object_new_array();
	for (i = 0; i < dim; i++)
		json_object_array_add(a, json_object_new_double(v[i]));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "vector", a);
	json_object_object_add(o, "blob", json_object_new_string(b64));
	json_object_object_add(o, "checksum", json_object_new_string(
	    sum != NULL ? sum : hex));
	free(b64);
	free(p);
	return o;
}

/* {"collection": name, "items": [items...]}, the items consumed. */
static char *
vec_upsert_body(const char *name, struct json_object **items, size_t n)
{
	struct json_object	*o = json_object_new_object(), *a;
	char			*s;
	size_t			 i;

	a = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(a, items[i]);
	if (name != NULL)
		json_object_object_add(o, "collection",
		    json_object_new_string(name));
	json_object_object_add(o, "items", a);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (s == NULL)
		fail_msg("out of memory");
	return s;
}

/* What a vector item accounts for: payload, id and 4 bytes a value. */
static long long
vec_item_bytes(const char *id, size_t n, size_t dim)
{
	return (long long)(n + strlen(id) + 4 * dim);
}

/* --- 1. records ----------------------------------------------------------- */

/*
 * A record's life: create, read back, update under If-Match (current
 * and stale), 304, the sync list, delete; revisions are per table and
 * only grow; the quota's used bytes are the live records' and vectors'.
 * Also a key with storage:read only reads and cannot write.  Run on the
 * backend the stack has now.
 */
static void
records_round(const char *tag)
{
	struct it_owner	 o;
	struct it_resp	 r;
	struct rec	 a, a2, b, c;
	struct json_object *items[1];
	unsigned char	*v1, *v2, *v3, *pb, *pc;
	const size_t	 n1 = 70000, n2 = 1234, n3 = 99, nb = 4321, nc = 10;
	char		 path[256], hdr[128], key1[256], key2[256], sha[65];
	char		 hex[65], secret[128], *json;
	const double	 vec[3] = { 0.25, -1, 2 };
	long long	 used, reserved, live, tomb;
	long		 i;

	tenant_new(&o, tag, 1);
	v1 = bytes_new(n1, 1);
	v2 = bytes_new(n2, 2);
	v3 = bytes_new(n3, 3);
	pb = bytes_new(nb, 4);
	pc = bytes_new(nc, 5);

	/* Create and read back, byte for byte, with its headers. */
	assert_int_equal(record_post(&o, "notes", v1, n1, &a), 201);
	if (a.rev != 1)
		it_deferred_fail("the first record of a table has revision "
		    "%lld, want 1", a.rev);
	record_expect(&o, &a, "notes", v1, n1, "GET after create");
	snprintf(key1, sizeof(key1), "%s", must_key(record_key(&o, a.id),
	    a.id));
	if (!object_exists(key1, sha))
		it_deferred_fail("the object %s of record %s is not in the "
		    "store", key1, a.id);
	else {
		sha256_of(v1, n1, hex, NULL);
		if (strcmp(sha, hex) != 0)
			it_deferred_fail("the stored object %s has SHA-256 %s, "
			    "want %s", key1, sha, hex);
	}
	if (garbage_rows(&o, key1) != 0)
		it_deferred_fail("the live object %s is still entered as "
		    "garbage", key1);

	/* Update under If-Match: the current revision, then a stale one. */
	assert_int_equal(record_put(&o, a.id, v2, n2, a.rev, &a2), 200);
	if (a2.rev <= a.rev)
		it_deferred_fail("an update's revision %lld is not above %lld",
		    a2.rev, a.rev);
	record_expect(&o, &a2, "notes", v2, n2, "GET after update");
	i = record_put(&o, a.id, v3, n3, a.rev, NULL);
	if (i != 412)
		it_deferred_fail("PUT with the stale If-Match \"%lld\": %ld, "
		    "want 412", a.rev, i);
	record_expect(&o, &a2, "notes", v2, n2, "GET after a stale PUT");
	snprintf(key2, sizeof(key2), "%s", must_key(record_key(&o, a.id),
	    a.id));
	if (strcmp(key1, key2) == 0)
		it_deferred_fail("an update kept the object key %s", key1);

	/* The replaced object goes with the worker's next pass. */
	if (object_wait_gone(key1) == -1)
		it_deferred_fail("the replaced object %s is still in the "
		    "store after %.0f s", key1, SETTLE_S);

	/* 304 for the current ETag; 200 for another. */
	snprintf(path, sizeof(path), RECORDS "/%s", a.id);
	snprintf(hdr, sizeof(hdr), "If-None-Match: \"%lld\"", a2.rev);
	api(&r, o.access, "GET", path, NULL, NULL, 0, hdr, (const char *)NULL);
	if (r.status != 304 || r.body_len != 0)
		it_deferred_fail("GET with If-None-Match of the current ETag: "
		    "%ld with %zu bytes, want 304 and none", r.status,
		    r.body_len);
	it_response_free(&r);
	snprintf(hdr, sizeof(hdr), "If-None-Match: \"%lld\"", a.rev);
	api(&r, o.access, "GET", path, NULL, NULL, 0, hdr, (const char *)NULL);
	if (r.status != 200)
		it_deferred_fail("GET with If-None-Match of an old ETag: %ld, "
		    "want 200", r.status);
	it_response_free(&r);

	/* Another record, a table of its own, the sync list. */
	assert_int_equal(record_post(&o, "notes", pb, nb, &b), 201);
	assert_int_equal(record_post(&o, "photos", pc, nc, &c), 201);
	if (b.rev <= a2.rev || c.rev != 1)
		it_deferred_fail("revisions: notes %lld after %lld, the first "
		    "of photos %lld (want above, and 1)", b.rev, a2.rev, c.rev);

	/* Delete: a stale If-Match first (412), then for real. */
	snprintf(hdr, sizeof(hdr), "If-Match: \"%lld\"", a.rev);
	api(&r, o.access, "DELETE", path, NULL, NULL, 0, hdr,
	    (const char *)NULL);
	if (r.status != 412)
		it_deferred_fail("DELETE with a stale If-Match: %ld, want 412",
		    r.status);
	it_response_free(&r);
	snprintf(hdr, sizeof(hdr), "If-Match: \"%lld\"", a2.rev);
	api(&r, o.access, "DELETE", path, NULL, NULL, 0, hdr,
	    (const char *)NULL);
	if (r.status != 204 || r.body_len != 0)
		it_deferred_fail("DELETE with the current If-Match: %ld "
		    "%.200s, want 204 and no body", r.status, r.body);
	it_response_free(&r);
	if ((i = record_status(&o, "GET", a.id)) != 404)
		it_deferred_fail("GET of a deleted record: %ld, want 404", i);
	if ((i = record_status(&o, "PUT", a.id)) != 404)
		it_deferred_fail("PUT of a deleted record: %ld, want 404", i);
	if ((i = record_status(&o, "DELETE", a.id)) != 404)
		it_deferred_fail("DELETE of a deleted record: %ld, want 404",
		    i);
	if (object_wait_gone(key2) == -1)
		it_deferred_fail("the deleted record's object %s is still in "
		    "the store after %.0f s", key2, SETTLE_S);

	/* The list: b then a's tombstone, revisions growing. */
	api(&r, o.access, "GET", RECORDS "?table=notes&since=0", NULL, NULL, 0,
	    (const char *)NULL);
	it_expect_status(&r, 200);
	it_expect_str(&r, "object", "list");
	if (jlen(&r, "data") != 2 ||
	    strcmp(jstr(&r, "data.0.id"), b.id) != 0 ||
	    strcmp(jstr(&r, "data.1.id"), a.id) != 0 ||
	    jbool(&r, "data.0.deleted") != 0 ||
	    jbool(&r, "data.1.deleted") != 1 ||
	    jnum(&r, "data.1.revision") <= jnum(&r, "data.0.revision") ||
	    jnum(&r, "data.0.revision") != b.rev ||
	    jnum(&r, "next_since") != jnum(&r, "data.1.revision") ||
	    jbool(&r, "has_more") != 0)
		it_deferred_fail("list of notes since 0: %.600s; want %s (rev "
		    "%lld) then the tombstone of %s, next_since the last",
		    r.body, b.id, b.rev, a.id);
	tomb = jlen(&r, "data") == 2 ? jnum(&r, "data.1.revision") : -1;
	if (tomb >= 0 && tomb <= b.rev)
		it_deferred_fail("the tombstone's revision %lld is not above "
		    "%lld", tomb, b.rev);
	it_response_free(&r);
	snprintf(path, sizeof(path), RECORDS "?table=notes&since=%lld", b.rev);
	api(&r, o.access, "GET", path, NULL, NULL, 0, (const char *)NULL);
	it_expect_status(&r, 200);
	if (jlen(&r, "data") != 1 || strcmp(jstr(&r, "data.0.id"), a.id) != 0 ||
	    jbool(&r, "data.0.deleted") != 1 ||
	    jnum(&r, "data.0.size") != 0)
		it_deferred_fail("list since %lld: %.400s; want only the "
		    "tombstone of %s", b.rev, r.body, a.id);
	it_response_free(&r);
	api(&r, o.access, "GET", RECORDS "?table=notes&since=0&limit=1", NULL,
	    NULL, 0, (const char *)NULL);
	it_expect_status(&r, 200);
	if (jlen(&r, "data") != 1 || jbool(&r, "has_more") != 1 ||
	    jnum(&r, "next_since") != b.rev)
		it_deferred_fail("list with limit=1: %.400s; want one record, "
		    "has_more and next_since %lld", r.body, b.rev);
	it_response_free(&r);

	/* A key that may read but not write. */
	api_json(&r, o.access, "POST", API "/api-keys", "{\"name\":\"reader\","
	    "\"scopes\":[\"storage:read\"]}");
	it_expect_status(&r, 201);
	it_copy_str(secret, sizeof(secret), &r, "secret");
	it_response_free(&r);
	snprintf(path, sizeof(path), RECORDS "/%s", b.id);
	api(&r, secret, "GET", path, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 200)
		it_deferred_fail("GET with a storage:read key: %ld", r.status);
	expect_bytes(&r, pb, nb, "GET with a storage:read key");
	it_response_free(&r);
	sha256_of(v3, n3, hex, NULL);
	snprintf(hdr, sizeof(hdr), "X-Checksum-SHA256: %s", hex);
	api(&r, secret, "POST", RECORDS "?table=notes", OCTETS, v3, n3, hdr,
	    (const char *)NULL);
	if (r.status != 403)
		it_deferred_fail("POST with a storage:read key: %ld %.200s, "
		    "want 403", r.status, r.body);
	it_response_free(&r);

	/* One vector, so that the quota holds both kinds. */
	items[0] = vec_item("v-1", vec, 3, 100, 6, NULL);
	json = vec_upsert_body(NULL, items, 1);
	api_json(&r, o.access, "POST", VECTORS "/upsert", json);
	free(json);
	it_expect_status(&r, 200);
	it_response_free(&r);

	/* What is counted: the live records and the vector, no hold. */
	holds_settle(&o);
	live = (long long)nb + (long long)nc;
	api(&r, o.access, "GET", SUMMARY, NULL, NULL, 0, (const char *)NULL);
	it_expect_status(&r, 200);
	if (jnum(&r, "records.count") != 2 ||
	    jnum(&r, "records.bytes") != live ||
	    jnum(&r, "vectors.count") != 1 ||
	    jnum(&r, "vectors.bytes") != vec_item_bytes("v-1", 100, 3) ||
	    jnum(&r, "vectors.collections") != 1 ||
	    jnum(&r, "cloud_storage.used_bytes") != live +
	    vec_item_bytes("v-1", 100, 3) ||
	    jnum(&r, "cloud_storage.limit_bytes") != PRO_LIMIT)
		it_deferred_fail("GET /storage: %.500s; want 2 records of %lld "
		    "bytes, one vector of %lld, used their sum, limit %lld",
		    r.body, live, vec_item_bytes("v-1", 100, 3), PRO_LIMIT);
	it_response_free(&r);
	counter(&o, "storage_bytes", &used, &reserved);
	if (used != live + vec_item_bytes("v-1", 100, 3) || reserved != 0)
		it_deferred_fail("storage_bytes counter: used %lld reserved "
		    "%lld, want %lld and 0", used, reserved,
		    live + vec_item_bytes("v-1", 100, 3));
	sha256_of(pb, nb, hex, NULL);
	if (!object_exists(must_key(record_key(&o, b.id), b.id), sha) ||
	    strcmp(sha, hex) != 0)
		it_deferred_fail("record %s: its object is not in the store "
		    "with SHA-256 %s", b.id, hex);
	expect_store_matches(&o, "records");
	free(v1);
	free(v2);
	free(v3);
	free(pb);
	free(pc);
	it_deferred_check();
}

static void
test_records(void **state)
{
	(void)state;
	records_round("records");
}

/* --- 2. checksums --------------------------------------------------------- */

static void
test_checksums(void **state)
{
	static const struct {
		const char	*what;
		const char	*code;
		int		 hex;		/* X-Checksum-SHA256: 0 none, */
		int		 digest;	/* 1 right, 2 of other bytes, */
						/* 3 malformed */
	} cases[] = {
		{ "X-Checksum-SHA256 of other bytes", "checksum_mismatch",
		    2, 0 },
		{ "Content-Digest of other bytes", "checksum_mismatch", 0, 2 },
		{ "X-Checksum-SHA256 of 63 digits", "invalid_checksum", 3, 0 },
		{ "Content-Digest not base64 of 32 bytes", "invalid_checksum",
		    0, 3 },
		{ "no checksum", "checksum_required", 0, 0 },
		{ "the two checksums disagree", "invalid_checksum", 1, 2 },
	};
	struct it_owner	 o;
	struct it_resp	 r;
	struct rec	 ok;
	unsigned char	*p;
	const size_t	 n = 3000;
	char		 hex[65], b64[45], ohex[65], ob64[45];
	char		 h1[160], h2[160];
	long long	 used0, used1, res;
	size_t		 i;
	int		 spool0;

	(void)state;
	tenant_new(&o, "checksums", 1);
	p = bytes_new(n, 7);
	sha256_of(p, n, hex, b64);
	sha256_of("other", 5, ohex, ob64);
	/* A record first, so that the counter exists and holds bytes. */
	assert_int_equal(record_post(&o, "good", p, 10, &ok), 201);
	holds_settle(&o);
	counter(&o, "storage_bytes", &used0, &res);
	spool0 = on_s3 ? 0 : spool_files();

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char	*hs[3] = { NULL, NULL, NULL };
		size_t		 k = 0;

		if (cases[i].hex != 0) {
			snprintf(h1, sizeof(h1), "X-Checksum-SHA256: %.*s",
			    cases[i].hex == 3 ? 63 : 64, cases[i].hex == 2 ?
			    ohex : hex);
			hs[k++] = h1;
		}
		if (cases[i].digest != 0) {
			snprintf(h2, sizeof(h2), "Content-Digest: sha-256=:%s:",
			    cases[i].digest == 3 ? "bm90IDMyIGJ5dGVz" :
			    cases[i].digest == 2 ? ob64 : b64);
			hs[k++] = h2;
		}
		api(&r, o.access, "POST", RECORDS "?table=bad", OCTETS, p, n,
		    hs[0], hs[1], (const char *)NULL);
		it_expect_code(&r, 400, cases[i].code, cases[i].what);
		it_response_free(&r);
	}
	/* A backup whose checksum is of other bytes. */
	snprintf(h1, sizeof(h1), "X-Backup-Checksum: %s", ohex);
	api(&r, o.access, "PUT", BACKUP, OCTETS, p, n, h1,
	    "X-Backup-Version: 1", "X-Backup-Timestamp: 1767225600",
	    (const char *)NULL);
	it_expect_code(&r, 400, "checksum_mismatch", "a backup of other bytes");
	it_response_free(&r);

	/* Nothing stored, nothing held, no spool left. */
	if (record_rows(&o, "bad") != 0)
		it_deferred_fail("%lld rows in table \"bad\" after refused "
		    "uploads, want 0", record_rows(&o, "bad"));
	if (backup_rows(&o) != 0)
		it_deferred_fail("%lld backups after a refused upload",
		    backup_rows(&o));
	holds_settle(&o);
	counter(&o, "storage_bytes", &used1, &res);
	if (used1 != used0)
		it_deferred_fail("used storage bytes went from %lld to %lld "
		    "through refused uploads", used0, used1);
	if (summary_num(&o, "cloud_storage.used_bytes") != used0 ||
	    summary_num(&o, "backup.used_bytes") != 0)
		it_deferred_fail("GET /storage counts refused uploads");
	if (!on_s3 && spool_files() != spool0)
		it_deferred_fail("%d spool files in %s/tmp after refused "
		    "uploads, %d before", spool_files(), storage_dir(), spool0);

	/* Content-Digest alone, and beside another algorithm, is enough. */
	snprintf(h2, sizeof(h2), "Content-Digest: sha-256=:%s:", b64);
	api(&r, o.access, "POST", RECORDS "?table=good", OCTETS, p, n, h2,
	    (const char *)NULL);
	if (r.status != 201 || strcmp(jstr(&r, "checksum"), hex) != 0)
		it_deferred_fail("POST with Content-Digest only: %ld %.200s",
		    r.status, r.body);
	it_response_free(&r);
	snprintf(h2, sizeof(h2), "Content-Digest: sha-512=:AAAA:, "
	    "sha-256=:%s:", b64);
	snprintf(h1, sizeof(h1), "X-Checksum-SHA256: %s", hex);
	api(&r, o.access, "POST", RECORDS "?table=good", OCTETS, p, n, h1, h2,
	    (const char *)NULL);
	if (r.status != 201)
		it_deferred_fail("POST with both checksums agreeing and a "
		    "sha-512 beside: %ld %.200s", r.status, r.body);
	it_response_free(&r);
	free(p);
	it_deferred_check();
}

/* --- 3. a body shorter than its Content-Length ---------------------------- */

static void
test_truncated_body(void **state)
{
	struct it_owner	 o;
	unsigned char	*p;
	const size_t	 sent = 1000;
	const long long	 declared = 100000;
	char		 hex[65], *req, answer[8192], host[256], port[16];
	long long	 used0, res, used1;
	long		 st;
	int		 spool0, len;

	(void)state;
	tenant_new(&o, "truncated", 1);
	p = bytes_new((size_t)declared, 8);
	sha256_of(p, (size_t)declared, hex, NULL);
	counter(&o, "storage_bytes", &used0, &res);
	spool0 = on_s3 ? 0 : spool_files();

	/* The socket client first, with a whole body: it must work. */
	sha256_of(p, 5000, hex, NULL);
	st = fcgi_upload(o.access, RECORDS "?table=raw", 5000, p, 5000, hex,
	    answer, sizeof(answer));
	if (st != 201)
		fail_msg("a whole upload straight to the socket: %ld %.200s "
		    "(the test's FastCGI client does not work)", st, answer);
	holds_settle(&o);
	counter(&o, "storage_bytes", &used0, &res);

	/* Through lighttpd: the client closes after 1,000 of 100,000. */
	url_hostport(host, sizeof(host), port, sizeof(port));
	sha256_of(p, (size_t)declared, hex, NULL);
	req = it_alloc(4096 + sent);
	len = snprintf(req, 4096, "POST " RECORDS "?table=cut HTTP/1.1\r\n"
	    "Host: %s:%s\r\nAuthorization: Bearer %s\r\n"
	    "Content-Type: " OCTETS "\r\nX-Checksum-SHA256: %s\r\n"
	    "Content-Length: %lld\r\nConnection: close\r\n\r\n", host, port,
	    o.access, hex, declared);
	memcpy(req + len, p, sent);
	st = raw_half_close(req, (size_t)len + sent, answer, sizeof(answer));
	print_message("# lighttpd, a body cut at %zu of %lld bytes: %s%.200s\n",
	    sent, declared, st == 0 ? "closed without an answer" : st == -1 ?
	    "no answer and not closed" : "", st > 0 ? answer : "");
	if (st == -1 || (st > 0 && st != 400))
		it_deferred_fail("lighttpd, a body cut short: %ld, want 400 or "
		    "the connection closed: %.200s", st, answer);
	free(req);

	/* Straight to the socket: the app must see it and answer 400. */
	st = fcgi_upload(o.access, RECORDS "?table=cut", declared, p, sent,
	    hex, answer, sizeof(answer));
	if (st != 400 || strstr(answer, "\"truncated_body\"") == NULL)
		it_deferred_fail("FastCGI, %zu of %lld declared bytes: %ld "
		    "%.200s, want 400 truncated_body", sent, declared, st,
		    answer);

	/* Nothing stored, the holds released, no spool left. */
	if (record_rows(&o, "cut") != 0)
		it_deferred_fail("%lld rows in table \"cut\" after truncated "
		    "bodies", record_rows(&o, "cut"));
	holds_settle(&o);
	counter(&o, "storage_bytes", &used1, &res);
	if (used1 != used0)
		it_deferred_fail("used bytes %lld after truncated bodies, %lld "
		    "before", used1, used0);
	if (summary_num(&o, "cloud_storage.used_bytes") != used0)
		it_deferred_fail("GET /storage counts a truncated body");
	if (!on_s3 && spool_files() != spool0)
		it_deferred_fail("%d spool files after truncated bodies, %d "
		    "before", spool_files(), spool0);
	free(p);
	it_deferred_check();
}

/* --- 4. the quota and the per-object cap ---------------------------------- */

static void
test_quota_and_cap(void **state)
{
	struct it_owner	 o;
	struct it_resp	 r;
	unsigned char	*p;
	const size_t	 n = 20000;
	const long long	 pad = PRO_LIMIT - 10000;
	char		 hex[65], h[128], *raw, req[4096], host[256];
	char		 port[16], answer[8192];
	long long	 used0, res, used1;
	size_t		 rawlen;
	long		 st;

	(void)state;
	tenant_new(&o, "quota", 1);
	p = bytes_new(n, 9);
	sha256_of(p, n, hex, NULL);
	assert_int_equal(record_post(&o, "q", p, 100, NULL), 201);
	holds_settle(&o);
	counter(&o, "storage_bytes", &used0, &res);

	/* 10,000 bytes left: 20,000 do not fit, 10,000 more are needed. */
	counter_set(&o, "storage_bytes", pad);
	snprintf(h, sizeof(h), "X-Checksum-SHA256: %s", hex);
	api(&r, o.access, "POST", RECORDS "?table=q", OCTETS, p, n, h,
	    (const char *)NULL);
	it_expect_code(&r, 507, "insufficient_storage", "an object over the "
	    "quota");
	if (r.status == 507 && (jnum(&r, "error.needed_bytes") != 10000 ||
	    jnum(&r, "error.limit_bytes") != PRO_LIMIT ||
	    jnum(&r, "error.used_bytes") != pad))
		it_deferred_fail("507: %.400s; want needed_bytes 10000, "
		    "limit_bytes %lld, used_bytes %lld", r.body, PRO_LIMIT,
		    pad);
	it_response_free(&r);
	/* What does fit still does. */
	if ((st = record_post(&o, "q", p, 10000, NULL)) != 201)
		it_deferred_fail("an object of exactly what is left: %ld, "
		    "want 201", st);
	holds_settle(&o);
	counter(&o, "storage_bytes", &used1, &res);
	counter_set(&o, "storage_bytes", used0 + (used1 - pad));
	if (used1 != PRO_LIMIT)
		it_deferred_fail("used %lld after filling the quota, want %lld",
		    used1, PRO_LIMIT);
	if (record_rows(&o, "q") != 2)
		it_deferred_fail("%lld records of table q, want 2 (the 507 "
		    "stored one?)", record_rows(&o, "q"));

	/*
	 * Over the per-object cap: through lighttpd a declared 6 GiB is
	 * refused by lighttpd's own cap (5243904 KiB) before tollgate
	 * sees it; straight to the socket, the application's check.
	 */
	url_hostport(host, sizeof(host), port, sizeof(port));
	snprintf(req, sizeof(req), "POST " RECORDS "?table=q HTTP/1.1\r\n"
	    "Host: %s:%s\r\nAuthorization: Bearer %s\r\n"
	    "X-Checksum-SHA256: %s\r\nContent-Type: " OCTETS "\r\n"
	    "Content-Length: 6442450944\r\nConnection: close\r\n\r\n", host,
	    port, o.access, hex);
	if (it_raw_http(req, &raw, &rawlen) == -1)
		it_deferred_fail("a declared 6 GiB through lighttpd: no "
		    "answer");
	else {
		st = raw_status(raw);
		print_message("# a declared 6 GiB through lighttpd: %ld, "
		    "answered by %s\n", st, strstr(raw, "\"error\"") != NULL ?
		    "tollgate" : "lighttpd");
		if (st != 413)
			it_deferred_fail("a declared 6 GiB through lighttpd: "
			    "%.200s, want 413", raw);
	}
	free(raw);
	st = fcgi_upload(o.access, RECORDS "?table=q", OBJECT_MAX + 1, p, 0,
	    hex, answer, sizeof(answer));
	if (st != 413 || strstr(answer, "\"object_too_large\"") == NULL)
		it_deferred_fail("FastCGI, CONTENT_LENGTH one over the cap: "
		    "%ld %.200s, want 413 object_too_large", st, answer);
	holds_settle(&o);
	if (record_rows(&o, "q") != 2)
		it_deferred_fail("an object over the cap was stored");
	free(p);
	it_deferred_check();
}

/* --- 5. the free plan ----------------------------------------------------- */

static void
test_free_plan(void **state)
{
	struct it_owner		 o;
	struct it_resp		 r;
	struct json_object	*items[1];
	const double		 vec[2] = { 1, 2 };
	char			 hex[65], h[128], *json;
	const char		*msg;

	(void)state;
	tenant_new(&o, "free", 0);
	sha256_of("free", 4, hex, NULL);
	snprintf(h, sizeof(h), "X-Checksum-SHA256: %s", hex);

	api(&r, o.access, "POST", RECORDS "?table=t", OCTETS, "free", 4, h,
	    (const char *)NULL);
	it_expect_code(&r, 403, "plan_required", "a record on the free plan");
	msg = jstr(&r, "error.message");
	if (r.status == 403 && strstr(msg, "Pro plan") == NULL)
		it_deferred_fail("the refusal names no plan: %s", msg);
	it_response_free(&r);

	snprintf(h, sizeof(h), "X-Backup-Checksum: %s", hex);
	api(&r, o.access, "PUT", BACKUP, OCTETS, "free", 4, h,
	    "X-Backup-Version: 1", "X-Backup-Timestamp: 1767225600",
	    (const char *)NULL);
	it_expect_code(&r, 403, "plan_required", "a backup on the free plan");
	msg = jstr(&r, "error.message");
	if (r.status == 403 && strstr(msg, "Pro plan") == NULL)
		it_deferred_fail("the refusal names no plan: %s", msg);
	it_response_free(&r);

	items[0] = vec_item("a", vec, 2, 10, 1, NULL);
	json = vec_upsert_body(NULL, items, 1);
	api_json(&r, o.access, "POST", VECTORS "/upsert", json);
	free(json);
	it_expect_code(&r, 403, "plan_required", "vectors on the free plan");
	msg = jstr(&r, "error.message");
	if (r.status == 403 && strstr(msg, "Pro plan") == NULL)
		it_deferred_fail("the refusal names no plan: %s", msg);
	it_response_free(&r);

	/* Nothing stored; the summary still answers, with no room. */
	if (record_rows(&o, "t") != 0 || backup_rows(&o) != 0 ||
	    sql_num(&o, "SELECT count(*) FROM vector_collections WHERE "
	    "tenant_id = $1", NULL) != 0)
		it_deferred_fail("the free plan's refused uploads left rows");
	api(&r, o.access, "GET", SUMMARY, NULL, NULL, 0, (const char *)NULL);
	it_expect_status(&r, 200);
	if (jnum(&r, "cloud_storage.limit_bytes") != 0 ||
	    jnum(&r, "backup.limit_bytes") != 0 ||
	    jnum(&r, "cloud_storage.used_bytes") != 0)
		it_deferred_fail("GET /storage on the free plan: %.300s; want "
		    "limits 0 and nothing used", r.body);
	it_response_free(&r);
	it_deferred_check();
}

/* --- 6. another tenant's ids ---------------------------------------------- */

static void
test_other_tenant(void **state)
{
	struct it_owner	 a, b;
	struct it_resp	 r;
	struct rec	 rec;
	unsigned char	*p;
	const size_t	 n = 500;
	char		 bid[64], path[256];
	const char	*methods[] = { "GET", "PUT", "DELETE" };
	const char	*bmethods[][2] = { { "GET", "" }, { "DELETE", "" },
	    { "PUT", "/pin" }, { "DELETE", "/pin" } };
	long		 st;
	size_t		 i;

	(void)state;
	tenant_new(&a, "isolation-a", 1);
	tenant_new(&b, "isolation-b", 1);
	p = bytes_new(n, 10);
	assert_int_equal(record_post(&a, "shared", p, n, &rec), 201);
	backup_new(&a, p, n, "a-1", NULL, bid, sizeof(bid));

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if ((st = record_status(&b, methods[i], rec.id)) != 404)
			it_deferred_fail("%s of another tenant's record: %ld, "
			    "want 404", methods[i], st);
	for (i = 0; i < sizeof(bmethods) / sizeof(bmethods[0]); i++) {
		snprintf(path, sizeof(path), BACKUP "/%s%s", bid,
		    bmethods[i][1]);
		api(&r, b.access, bmethods[i][0], path, NULL, NULL, 0,
		    (const char *)NULL);
		if (r.status != 404)
			it_deferred_fail("%s %s of another tenant: %ld, want "
			    "404", bmethods[i][0], path, r.status);
		it_response_free(&r);
	}
	api(&r, b.access, "GET", BACKUP, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 404)
		it_deferred_fail("GET /backup of a tenant with none: %ld, want "
		    "404", r.status);
	it_response_free(&r);
	api(&r, b.access, "GET", RECORDS "?table=shared", NULL, NULL, 0,
	    (const char *)NULL);
	if (r.status != 200 || jlen(&r, "data") != 0)
		it_deferred_fail("another tenant's list of table shared: %ld "
		    "%.200s, want it empty", r.status, r.body);
	it_response_free(&r);

	/* A's record and backup are as they were. */
	record_expect(&a, &rec, "shared", p, n, "the record after B's tries");
	snprintf(path, sizeof(path), BACKUP "/%s", bid);
	api(&r, a.access, "GET", path, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 200)
		it_deferred_fail("GET of A's own backup: %ld", r.status);
	expect_bytes(&r, p, n, "A's backup after B's tries");
	it_response_free(&r);
	if (sql_num(&a, "SELECT count(*) FROM storage_backups WHERE tenant_id "
	    "= $1 AND pinned", NULL) != 0)
		it_deferred_fail("B's PUT pin reached A's backup");
	free(p);
	it_deferred_check();
}

/* --- 7. backups ----------------------------------------------------------- */

/* GET with one conditional header: the status. */
static long
backup_cond(const struct it_owner *o, const char *hdr)
{
	struct it_resp	 r;
	long		 st;

	api(&r, o->access, "GET", BACKUP, NULL, NULL, 0, hdr,
	    (const char *)NULL);
	st = r.status;
	if (st == 304 && r.body_len != 0)
		it_deferred_fail("a 304 with %zu body bytes", r.body_len);
	it_response_free(&r);
	return st;
}

/*
 * Versions, If-Match, the newest with its headers and 304s, history,
 * pins, pruning, deletion.  Run on the backend the stack has now.
 */
static void
backups_round(const char *tag)
{
	struct it_owner	 o;
	struct it_resp	 r;
	unsigned char	*pa, *pb, *pc, *pd;
	const size_t	 na = 1000, nb = 1000, nc = 2000, nd = 1000;
	char		 a[64], b[64], c[64], d[64], keyb[256], keyc[256];
	char		 hdr[160];
	char		 hex[65], b64[45], lm[64], member[IT_TOKEN_MAX];
	char		 path[256], v65[66];
	long long	 used, res, real, pad;
	long		 st;

	tenant_new(&o, tag, 1);
	pa = bytes_new(na, 11);
	pb = bytes_new(nb, 12);
	pc = bytes_new(nc, 13);
	pd = bytes_new(nd, 14);

	api(&r, o.access, "GET", BACKUP, NULL, NULL, 0, (const char *)NULL);
	it_expect_code(&r, 404, "not_found", "GET /backup before any");
	it_response_free(&r);

	/* Three versions, each naming the newest it saw. */
	backup_new(&o, pa, na, "1.0.0", NULL, a, sizeof(a));
	backup_new(&o, pb, nb, "1.0.1", a, b, sizeof(b));
	backup_put(&r, &o, pd, nd, "stale", "2026-01-02T03:04:05Z", a);
	it_expect_code(&r, 412, "precondition_failed", "PUT /backup with a "
	    "stale If-Match");
	it_response_free(&r);
	if (backup_rows(&o) != 2)
		it_deferred_fail("%lld versions after a 412, want 2",
		    backup_rows(&o));
	/* Seconds since 1970 are a timestamp too. */
	backup_put(&r, &o, pc, nc, "1.1.0", "1767225600", b);
	it_expect_status(&r, 201);
	it_copy_str(c, sizeof(c), &r, "id");
	if (strcmp(jstr(&r, "timestamp"), "2026-01-01T00:00:00Z") != 0)
		it_deferred_fail("X-Backup-Timestamp 1767225600 stored as %s, "
		    "want 2026-01-01T00:00:00Z", jstr(&r, "timestamp"));
	it_response_free(&r);
	memset(v65, 'v', 65);
	v65[65] = '\0';
	backup_put(&r, &o, pd, nd, v65, "1767225600", NULL);
	it_expect_param(&r, "X-Backup-Version", "a version of 65 characters");
	it_response_free(&r);
	backup_put(&r, &o, pd, nd, "2", "yesterday", NULL);
	it_expect_param(&r, "X-Backup-Timestamp", "a timestamp \"yesterday\"");
	it_response_free(&r);
	holds_settle(&o);

	/* The newest, with its headers. */
	api(&r, o.access, "GET", BACKUP, NULL, NULL, 0, (const char *)NULL);
	it_expect_status(&r, 200);
	expect_bytes(&r, pc, nc, "GET /backup");
	sha256_of(pc, nc, hex, b64);
	expect_header(&r, "X-Backup-Id", c, "GET /backup");
	expect_header(&r, "X-Backup-Version", "1.1.0", "GET /backup");
	expect_header(&r, "X-Backup-Timestamp", "2026-01-01T00:00:00Z",
	    "GET /backup");
	expect_header(&r, "X-Backup-Checksum", hex, "GET /backup");
	snprintf(hdr, sizeof(hdr), "sha-256=:%s:", b64);
	expect_header(&r, "Content-Digest", hdr, "GET /backup");
	snprintf(hdr, sizeof(hdr), "\"%s\"", c);
	expect_header(&r, "ETag", hdr, "GET /backup");
	if (it_header(&r, "Last-Modified") == NULL)
		fail_msg("GET /backup: no Last-Modified");
	snprintf(lm, sizeof(lm), "%s", it_header(&r, "Last-Modified"));
	it_response_free(&r);

	/* 304s: the current ETag, a time not before it. */
	snprintf(hdr, sizeof(hdr), "If-None-Match: \"%s\"", c);
	if ((st = backup_cond(&o, hdr)) != 304)
		it_deferred_fail("If-None-Match of the newest: %ld, want 304",
		    st);
	snprintf(hdr, sizeof(hdr), "If-None-Match: \"%s\"", a);
	if ((st = backup_cond(&o, hdr)) != 200)
		it_deferred_fail("If-None-Match of an older version: %ld, want "
		    "200", st);
	snprintf(hdr, sizeof(hdr), "If-Modified-Since: %s", lm);
	if ((st = backup_cond(&o, hdr)) != 304)
		it_deferred_fail("If-Modified-Since its Last-Modified: %ld, "
		    "want 304", st);
	if ((st = backup_cond(&o, "If-Modified-Since: Thu, 01 Jan 2015 "
	    "00:00:00 GMT")) != 200)
		it_deferred_fail("If-Modified-Since 2015: %ld, want 200", st);

	/* One version by id; the history, newest first. */
	snprintf(path, sizeof(path), BACKUP "/%s", a);
	api(&r, o.access, "GET", path, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 200)
		it_deferred_fail("GET %s: %ld", path, r.status);
	expect_bytes(&r, pa, na, "GET /backup/{oldest}");
	it_response_free(&r);
	api(&r, o.access, "GET", BACKUP "/history", NULL, NULL, 0,
	    (const char *)NULL);
	it_expect_status(&r, 200);
	if (jlen(&r, "data") != 3 || strcmp(jstr(&r, "data.0.id"), c) != 0 ||
	    strcmp(jstr(&r, "data.1.id"), b) != 0 ||
	    strcmp(jstr(&r, "data.2.id"), a) != 0 ||
	    jnum(&r, "used_bytes") != (long long)(na + nb + nc) ||
	    jnum(&r, "limit_bytes") != PRO_LIMIT)
		it_deferred_fail("history: %.600s; want %s, %s, %s, used %zu, "
		    "limit %lld", r.body, c, b, a, na + nb + nc, PRO_LIMIT);
	it_response_free(&r);

	/* Pin the oldest. */
	snprintf(path, sizeof(path), BACKUP "/%s/pin", a);
	api(&r, o.access, "PUT", path, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 200 || jbool(&r, "pinned") != 1)
		it_deferred_fail("PUT %s: %ld %.200s", path, r.status, r.body);
	it_response_free(&r);

	/* 500 bytes left: a version of 1,000 does not fit, pruning off. */
	counter(&o, "backup_bytes", &real, &res);
	pad = PRO_LIMIT - 500 - real;
	counter_set(&o, "backup_bytes", PRO_LIMIT - 500);
	backup_put(&r, &o, pd, nd, "2.0.0", "1767225600", NULL);
	it_expect_code(&r, 507, "insufficient_storage", "a backup over the "
	    "quota, pruning off");
	if (r.status == 507 && jnum(&r, "error.needed_bytes") != 500)
		it_deferred_fail("507 of a backup: %.300s; want needed_bytes "
		    "500", r.body);
	it_response_free(&r);
	if (backup_rows(&o) != 3)
		it_deferred_fail("%lld versions after a 507, want 3",
		    backup_rows(&o));

	/* Settings: members may read them, only admins change them. */
	api(&r, o.access, "GET", BACKUP "/settings", NULL, NULL, 0,
	    (const char *)NULL);
	if (r.status != 200 || jbool(&r, "prune_oldest") != 0)
		it_deferred_fail("GET /backup/settings: %ld %.200s, want "
		    "prune_oldest false", r.status, r.body);
	it_response_free(&r);
	it_member_new(&o, "storage", member, sizeof(member));
	api_json(&r, member, "PUT", BACKUP "/settings",
	    "{\"prune_oldest\":true}");
	if (r.status != 403)
		it_deferred_fail("a member's PUT /backup/settings: %ld, want "
		    "403", r.status);
	it_response_free(&r);
	api_json(&r, o.access, "PUT", BACKUP "/settings",
	    "{\"prune_oldest\":true}");
	if (r.status != 200 || jbool(&r, "prune_oldest") != 1)
		it_deferred_fail("the owner's PUT /backup/settings: %ld %.200s",
		    r.status, r.body);
	it_response_free(&r);

	/* Pruning on: the oldest unpinned version (b) makes room. */
	snprintf(keyb, sizeof(keyb), "%s", must_key(backup_key(&o, b), b));
	backup_put(&r, &o, pd, nd, "2.0.0", "1767225600", NULL);
	it_expect_status(&r, 201);
	it_copy_str(d, sizeof(d), &r, "id");
	if (jnum(&r, "pruned") != 1)
		it_deferred_fail("a version that needed %zu bytes pruned %lld "
		    "versions, want 1", nd - 500, jnum(&r, "pruned"));
	it_response_free(&r);
	holds_settle(&o);
	counter(&o, "backup_bytes", &used, &res);
	counter_set(&o, "backup_bytes", used - pad);
	api(&r, o.access, "GET", BACKUP "/history", NULL, NULL, 0,
	    (const char *)NULL);
	it_expect_status(&r, 200);
	if (jlen(&r, "data") != 3 || strcmp(jstr(&r, "data.0.id"), d) != 0 ||
	    strcmp(jstr(&r, "data.1.id"), c) != 0 ||
	    strcmp(jstr(&r, "data.2.id"), a) != 0 ||
	    jbool(&r, "data.2.pinned") != 1 ||
	    jnum(&r, "used_bytes") != (long long)(na + nc + nd))
		it_deferred_fail("history after pruning: %.600s; want %s, %s "
		    "and the pinned %s, used %zu", r.body, d, c, a,
		    na + nc + nd);
	it_response_free(&r);
	if (object_wait_gone(keyb) == -1)
		it_deferred_fail("the pruned version's object %s is still in "
		    "the store after %.0f s", keyb, SETTLE_S);
	api_json(&r, o.access, "PUT", BACKUP "/settings",
	    "{\"prune_oldest\":false}");
	it_expect_status(&r, 200);
	it_response_free(&r);

	/* Delete one; it is gone, the newest is still d. */
	snprintf(keyc, sizeof(keyc), "%s", must_key(backup_key(&o, c), c));
	snprintf(path, sizeof(path), BACKUP "/%s", c);
	api(&r, o.access, "DELETE", path, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 204)
		it_deferred_fail("DELETE %s: %ld", path, r.status);
	it_response_free(&r);
	api(&r, o.access, "GET", path, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 404)
		it_deferred_fail("GET of a deleted version: %ld", r.status);
	it_response_free(&r);
	api(&r, o.access, "DELETE", path, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 404)
		it_deferred_fail("DELETE of a deleted version: %ld", r.status);
	it_response_free(&r);
	snprintf(path, sizeof(path), BACKUP "/%s/pin", a);
	api(&r, o.access, "DELETE", path, NULL, NULL, 0, (const char *)NULL);
	if (r.status != 200 || jbool(&r, "pinned") != 0)
		it_deferred_fail("DELETE %s: %ld %.200s", path, r.status,
		    r.body);
	it_response_free(&r);
	api(&r, o.access, "GET", BACKUP, NULL, NULL, 0, (const char *)NULL);
	expect_header(&r, "X-Backup-Id", d, "GET /backup after a deletion");
	expect_bytes(&r, pd, nd, "GET /backup after a deletion");
	it_response_free(&r);
	holds_settle(&o);
	if (summary_num(&o, "backup.used_bytes") != (long long)(na + nd))
		it_deferred_fail("backup used_bytes %lld, want %zu",
		    summary_num(&o, "backup.used_bytes"), na + nd);
	if (object_wait_gone(keyc) == -1)
		it_deferred_fail("the deleted version's object %s is still in "
		    "the store after %.0f s", keyc, SETTLE_S);
	expect_store_matches(&o, "backups");
	free(pa);
	free(pb);
	free(pc);
	free(pd);
	it_deferred_check();
}

static void
test_backups(void **state)
{
	(void)state;
	backups_round("backups");
}

/* --- 8. vectors ----------------------------------------------------------- */

/* POST /storage/vectors/search: the answer in r. */
static void
vec_search(struct it_resp *r, const struct it_owner *o, const char *name,
    const double *q, size_t dim, long top_k)
{
	struct json_object	*b = json_object_new_object(), *a;
	size_t			 i;

	a = json_object_new_array();
	for (i = 0; i < dim; i++)
		json_object_array_add(a, json_object_new_double(q[i]));
	json_object_object_add(b, "collection", json_object_new_string(name));
	json_object_object_add(b, "vector", a);
	json_object_object_add(b, "top_k", json_object_new_int64(top_k));
	api_json(r, o->access, "POST", VECTORS "/search",
	    json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
	json_object_put(b);
}

/* Is id among the results of r? */
static int
vec_found(struct it_resp *r, const char *id)
{
	char	 path[64];
	long	 i, n = jlen(r, "results");

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "results.%ld.id", i);
		if (strcmp(jstr(r, path), id) == 0)
			return 1;
	}
	return 0;
}

static void
test_vectors(void **state)
{
	static const double	 vs[][3] = {
		{ 1, 0, 0 },		/* "x": the exact nearest of q */
		{ 0, 1, 0 },		/* "y" */
		{ 0.8, 0.6, 0 },	/* "xy" */
		{ -1, 0, 0 },		/* "anti" */
		{ 0.6, 0, 0.8 },	/* "xz" */
	};
	static const char	*ids[] = { "x", "y", "xy", "anti", "xz" };
	struct it_owner		 o, other;
	struct it_resp		 r;
	struct json_object	*items[5];
	const double		 q[3] = { 2, 0, 0 }, zero[3] = { 0, 0, 0 };
	const double		 two[2] = { 1, 1 };
	char			*json, path[64], hex[65], b64[45];
	unsigned char		*p;
	double			 prev, s;
	long long		 bytes = 0, before;
	long			 i, n;

	(void)state;
	tenant_new(&o, "vectors", 1);
	tenant_new(&other, "vectors-other", 1);
	for (i = 0; i < 5; i++) {
		items[i] = vec_item(ids[i], vs[i], 3, 50 + (size_t)i,
		    20 + (unsigned)i, NULL);
		bytes += vec_item_bytes(ids[i], 50 + (size_t)i, 3);
	}
	json = vec_upsert_body("docs", items, 5);
	api_json(&r, o.access, "POST", VECTORS "/upsert", json);
	free(json);
	it_expect_status(&r, 200);
	if (jnum(&r, "dimension") != 3 || jnum(&r, "upserted") != 5 ||
	    jnum(&r, "created") != 5)
		it_deferred_fail("upsert: %.200s; want dimension 3, 5 upserted "
		    "and created", r.body);
	it_response_free(&r);

	/* Refused: another dimension, an infinity, a checksum of others. */
	items[0] = vec_item("w", two, 2, 10, 30, NULL);
	json = vec_upsert_body("docs", items, 1);
	api_json(&r, o.access, "POST", VECTORS "/upsert", json);
	free(json);
	it_expect_code(&r, 400, "dimension_mismatch", "a vector of 2 in a "
	    "collection of 3");
	it_response_free(&r);
	p = bytes_new(10, 31);
	sha256_of(p, 10, hex, NULL);
	EVP_EncodeBlock((unsigned char *)b64, p, 10);
	free(p);
	json = it_alloc(512);
	snprintf(json, 512, "{\"collection\":\"docs\",\"items\":[{\"id\":"
	    "\"inf\",\"vector\":[1e400,0,0],\"blob\":\"%s\",\"checksum\":"
	    "\"%s\"}]}", b64, hex);
	api_json(&r, o.access, "POST", VECTORS "/upsert", json);
	free(json);
	if (r.status != 400)
		it_deferred_fail("an upsert of 1e400: %ld %.200s, want 400",
		    r.status, r.body);
	it_response_free(&r);
	items[0] = vec_item("zero", zero, 3, 10, 32, NULL);
	json = vec_upsert_body("docs", items, 1);
	api_json(&r, o.access, "POST", VECTORS "/upsert", json);
	free(json);
	if (r.status != 400)
		it_deferred_fail("an upsert of the zero vector: %ld, want 400",
		    r.status);
	it_response_free(&r);
	sha256_of("other", 5, hex, NULL);
	items[0] = vec_item("bad", vs[0], 3, 10, 33, hex);
	json = vec_upsert_body("docs", items, 1);
	api_json(&r, o.access, "POST", VECTORS "/upsert", json);
	free(json);
	it_expect_code(&r, 400, "checksum_mismatch", "a blob whose checksum "
	    "is of other bytes");
	it_response_free(&r);
	if (sql_num(&o, "SELECT count(*) FROM vector_items WHERE tenant_id = "
	    "$1 AND collection = 'docs'", NULL) != 5)
		it_deferred_fail("refused upserts changed the collection");

	/* Searches that make no sense. */
	vec_search(&r, &o, "docs", q, 2, 3);
	it_expect_code(&r, 400, "dimension_mismatch", "a query of 2 values");
	it_response_free(&r);
	api_json(&r, o.access, "POST", VECTORS "/search", "{\"collection\":"
	    "\"docs\",\"vector\":[1e400,0,0],\"top_k\":1}");
	if (r.status != 400)
		it_deferred_fail("a query of 1e400: %ld %.200s, want 400",
		    r.status, r.body);
	it_response_free(&r);
	vec_search(&r, &o, "docs", zero, 3, 3);
	if (r.status != 400)
		it_deferred_fail("a query of the zero vector: %ld, want 400",
		    r.status);
	it_response_free(&r);
	vec_search(&r, &o, "docs", q, 3, 0);
	if (r.status != 400)
		it_deferred_fail("top_k 0: %ld, want 400", r.status);
	it_response_free(&r);
	vec_search(&r, &o, "docs", q, 3, 10001);
	if (r.status != 400)
		it_deferred_fail("top_k 10001: %ld, want 400", r.status);
	it_response_free(&r);

	/* Best first, the exact nearest at the top, payloads intact. */
	vec_search(&r, &o, "docs", q, 3, 10);
	it_expect_status(&r, 200);
	n = jlen(&r, "results");
	if (n != 5 || strcmp(jstr(&r, "results.0.id"), "x") != 0 ||
	    strcmp(jstr(&r, "results.4.id"), "anti") != 0)
		it_deferred_fail("search for (2,0,0): %.600s; want 5 results, "
		    "x first and anti last", r.body);
	prev = 2;
	for (i = 0; i < n; i++) {
		struct json_object	*v = NULL;
		const char		*id;
		size_t			 k;

		snprintf(path, sizeof(path), "results.%ld.score", i);
		if (!it_json_at(&r, path, &v) || v == NULL)
			fail_msg("no %s", path);
		s = json_object_get_double(v);
		if (s > prev)
			it_deferred_fail("result %ld scores %g, above the %g "
			    "before it", i, s, prev);
		prev = s;
		snprintf(path, sizeof(path), "results.%ld.id", i);
		id = jstr(&r, path);
		for (k = 0; k < 5 && strcmp(ids[k], id) != 0; k++)
			;
		if (k == 5)
			continue;
		p = bytes_new(50 + k, 20 + (unsigned)k);
		sha256_of(p, 50 + k, hex, NULL);
		json = it_alloc(4 * ((50 + k + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)json, p, (int)(50 + k));
		snprintf(path, sizeof(path), "results.%ld.blob", i);
		if (strcmp(jstr(&r, path), json) != 0)
			it_deferred_fail("the blob of %s came back changed",
			    id);
		snprintf(path, sizeof(path), "results.%ld.checksum", i);
		if (strcmp(jstr(&r, path), hex) != 0)
			it_deferred_fail("the checksum of %s is %s, want %s",
			    id, jstr(&r, path), hex);
		free(json);
		free(p);
	}
	if (n > 0) {
		struct json_object	*v = NULL;

		if (it_json_at(&r, "results.0.score", &v) && v != NULL &&
		    (json_object_get_double(v) < 0.9999 ||
		    json_object_get_double(v) > 1.0001))
			it_deferred_fail("the exact nearest scores %g, want 1",
			    json_object_get_double(v));
	}
	it_response_free(&r);
	vec_search(&r, &o, "docs", q, 3, 2);
	if (jlen(&r, "results") != 2 || strcmp(jstr(&r, "results.1.id"),
	    "xy") != 0)
		it_deferred_fail("top_k 2: %.300s; want x then xy", r.body);
	it_response_free(&r);

	/* Another tenant cannot reach the collection. */
	vec_search(&r, &other, "docs", q, 3, 3);
	it_expect_code(&r, 404, "not_found", "another tenant's search of docs");
	it_response_free(&r);
	api_json(&r, other.access, "DELETE", VECTORS, "{\"collection\":"
	    "\"docs\",\"ids\":[\"x\"]}");
	if (r.status != 404)
		it_deferred_fail("another tenant's DELETE in docs: %ld %.200s, "
		    "want 404", r.status, r.body);
	it_response_free(&r);

	/* Delete one: the next search does not find it. */
	before = summary_num(&o, "vectors.bytes");
	if (before != bytes)
		it_deferred_fail("vectors.bytes %lld, want %lld", before,
		    bytes);
	api_json(&r, o.access, "DELETE", VECTORS, "{\"collection\":\"docs\","
	    "\"ids\":[\"x\",\"nosuch\"]}");
	if (r.status != 200 || jnum(&r, "deleted") != 1)
		it_deferred_fail("DELETE of x and an unknown id: %ld %.200s, "
		    "want deleted 1", r.status, r.body);
	it_response_free(&r);
	vec_search(&r, &o, "docs", q, 3, 10);
	it_expect_status(&r, 200);
	if (vec_found(&r, "x") || jlen(&r, "results") != 4 ||
	    strcmp(jstr(&r, "results.0.id"), "xy") != 0)
		it_deferred_fail("search after deleting x: %.400s; want 4, xy "
		    "first", r.body);
	it_response_free(&r);
	api(&r, o.access, "GET", VECTORS, NULL, NULL, 0, (const char *)NULL);
	it_expect_status(&r, 200);
	if (jlen(&r, "data") != 1 || strcmp(jstr(&r, "data.0.name"), "docs") !=
	    0 || jnum(&r, "data.0.dimension") != 3 ||
	    jnum(&r, "data.0.count") != 4 ||
	    jnum(&r, "data.0.bytes") != bytes - vec_item_bytes("x", 50, 3))
		it_deferred_fail("GET /storage/vectors: %.300s; want docs, 3, "
		    "4 items of %lld bytes", r.body,
		    bytes - vec_item_bytes("x", 50, 3));
	it_response_free(&r);
	if (summary_num(&o, "cloud_storage.used_bytes") != bytes -
	    vec_item_bytes("x", 50, 3))
		it_deferred_fail("used_bytes does not follow the deletion");
	it_deferred_check();
}

/* --- 9. a spool directory the server cannot write ------------------------- */

static void
test_storage_unwritable(void **state)
{
	struct it_owner	 o;
	struct it_resp	 rr, rb;
	struct stat	 st;
	unsigned char	*p;
	const size_t	 n = 2000;
	char		 tmp[1024], hex[65], h[128], hb[128], line[512];
	long long	 used0, res, bused0, bused1, used1;
	size_t		 log0;

	(void)state;
	if (on_s3)
		skip();
	tenant_new(&o, "unwritable", 1);
	p = bytes_new(n, 40);
	sha256_of(p, n, hex, NULL);
	assert_int_equal(record_post(&o, "w", p, 10, NULL), 201);
	holds_settle(&o);
	counter(&o, "storage_bytes", &used0, &res);
	counter(&o, "backup_bytes", &bused0, &res);
	snprintf(tmp, sizeof(tmp), "%s/tmp", storage_dir());
	if (stat(tmp, &st) == -1)
		fail_msg("stat %s: %s", tmp, strerror(errno));
	log0 = it_log_count("mkstemp");

	/* Both uploads while the spool is unwritable; the mode back first. */
	if (chmod(tmp, 0500) == -1)
		fail_msg("chmod %s: %s", tmp, strerror(errno));
	snprintf(h, sizeof(h), "X-Checksum-SHA256: %s", hex);
	api(&rr, o.access, "POST", RECORDS "?table=w", OCTETS, p, n, h,
	    (const char *)NULL);
	snprintf(hb, sizeof(hb), "X-Backup-Checksum: %s", hex);
	api(&rb, o.access, "PUT", BACKUP, OCTETS, p, n, hb,
	    "X-Backup-Version: 1", "X-Backup-Timestamp: 1767225600",
	    (const char *)NULL);
	if (chmod(tmp, st.st_mode & 07777) == -1)
		fail_msg("chmod %s back: %s", tmp, strerror(errno));

	it_expect_code(&rr, 503, "storage_unavailable", "a record with the "
	    "spool unwritable");
	it_expect_code(&rb, 503, "storage_unavailable", "a backup with the "
	    "spool unwritable");
	it_response_free(&rr);
	it_response_free(&rb);
	if (it_log_count("mkstemp") <= log0)
		it_deferred_fail("no mkstemp failure in %s",
		    it_env("TOLLGATE_LOG"));
	else {
		log_last("mkstemp", line, sizeof(line));
		print_message("# log: %s", line);
	}
	if (record_rows(&o, "w") != 1 || backup_rows(&o) != 0)
		it_deferred_fail("an upload refused with 503 left a row");
	holds_settle(&o);
	counter(&o, "storage_bytes", &used1, &res);
	counter(&o, "backup_bytes", &bused1, &res);
	if (used1 != used0 || bused1 != bused0)
		it_deferred_fail("used bytes after 503s: storage %lld (was "
		    "%lld), backup %lld (was %lld)", used1, used0, bused1,
		    bused0);

	/* Writable again: the same upload goes through. */
	if (record_post(&o, "w", p, n, NULL) != 201)
		it_deferred_fail("an upload after the spool is writable again "
		    "failed");
	free(p);
	it_deferred_check();
}

/* --- 10. garbage: replaced objects, orphans, old spools ------------------- */

static void
test_garbage(void **state)
{
	struct it_owner	 o;
	struct rec	 a, a2;
	struct timespec	 ts[2];
	unsigned char	*p, u[16];
	const size_t	 n = 800;
	char		 key1[256], key2[256], orphan[256], path[1024];
	char		 dir[1024], spool[1024], *slash;
	double		 deadline;
	size_t		 i;
	FILE		*fp;
	int		 fd;

	(void)state;
	if (on_s3)
		skip();
	tenant_new(&o, "garbage", 1);
	p = bytes_new(n, 50);

	/* A live object is no one's garbage. */
	assert_int_equal(record_post(&o, "g", p, n, &a), 201);
	snprintf(key1, sizeof(key1), "%s", must_key(record_key(&o, a.id),
	    a.id));
	if (garbage_rows(&o, key1) != 0)
		it_deferred_fail("the new record's object %s is entered as "
		    "garbage", key1);
	if (!object_exists(key1, NULL))
		it_deferred_fail("the new record's object %s is not on disk",
		    key1);

	/* Replaced: the old object leaves the disk and the garbage. */
	assert_int_equal(record_put(&o, a.id, p, n / 2, -1, &a2), 200);
	snprintf(key2, sizeof(key2), "%s", must_key(record_key(&o, a.id),
	    a.id));
	if (object_wait_gone(key1) == -1)
		it_deferred_fail("the replaced object %s is still on disk "
		    "after %.0f s", key1, SETTLE_S);
	/* The worker removes the object, then its entry: wait for both. */
	deadline = it_now_ms() + SETTLE_S * 1000.0;
	while (garbage_rows(&o, key1) != 0 && it_now_ms() < deadline)
		it_sleep_ms(100);
	if (garbage_rows(&o, key1) != 0)
		it_deferred_fail("the replaced object %s is still entered as "
		    "garbage %.0f s after it went", key1, SETTLE_S);
	if (!object_exists(key2, NULL) || garbage_rows(&o, key2) != 0)
		it_deferred_fail("the new version's object %s: on disk %d, "
		    "garbage entries %lld", key2, object_exists(key2, NULL),
		    garbage_rows(&o, key2));

	/*
	 * An orphan, as a process killed between writing an object and
	 * committing its row leaves one: a file nobody points at and its
	 * garbage entry, due now.
	 */
	fd = open("/dev/urandom", O_RDONLY);
	if (fd == -1 || read(fd, u, sizeof(u)) != (ssize_t)sizeof(u))
		fail_msg("/dev/urandom: %s", strerror(errno));
	close(fd);
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	snprintf(orphan, sizeof(orphan), "%s/", o.tenant);
	for (i = 0; i < 16; i++)
		snprintf(orphan + strlen(orphan), sizeof(orphan) -
		    strlen(orphan), "%s%02x", i == 4 || i == 6 || i == 8 ||
		    i == 10 ? "-" : "", u[i]);
	object_path(orphan, path, sizeof(path));
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		fail_msg("mkdir %s: %s", dir, strerror(errno));
	chown_like_storage(dir);
	if ((fp = fopen(path, "wb")) == NULL || fwrite(p, 1, n, fp) != n ||
	    fclose(fp) != 0)
		fail_msg("writing %s: %s", path, strerror(errno));
	chown_like_storage(path);
	if (sql_do(&o, "INSERT INTO storage_garbage (tenant_id, object_key, "
	    "kind, due_at) VALUES ($1, $2, 'object', now())", orphan) != 1)
		fail_msg("no garbage entry for %s", orphan);

	/* A spool file seven hours old: an upload whose process died. */
	snprintf(spool, sizeof(spool), "%s/tmp/spool.it%06ld", storage_dir(),
	    (long)getpid() % 1000000);
	if ((fp = fopen(spool, "wb")) == NULL || fwrite(p, 1, 10, fp) != 10 ||
	    fclose(fp) != 0)
		fail_msg("writing %s: %s", spool, strerror(errno));
	chown_like_storage(spool);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 7 * 3600;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (utimensat(AT_FDCWD, spool, ts, 0) == -1)
		fail_msg("utimensat %s: %s", spool, strerror(errno));

	deadline = it_now_ms() + SETTLE_S * 1000.0;
	while ((access(path, F_OK) == 0 || garbage_rows(&o, orphan) != 0 ||
	    access(spool, F_OK) == 0) && it_now_ms() < deadline)
		it_sleep_ms(200);
	if (access(path, F_OK) == 0)
		it_deferred_fail("the orphan %s is still on disk after %.0f s",
		    path, SETTLE_S);
	if (garbage_rows(&o, orphan) != 0)
		it_deferred_fail("the orphan's garbage entry is still there "
		    "after %.0f s", SETTLE_S);
	if (access(spool, F_OK) == 0) {
		it_deferred_fail("the stale spool %s is still there after "
		    "%.0f s", spool, SETTLE_S);
		unlink(spool);
	}
	/* The live record did not go with them. */
	record_expect(&o, &a2, "g", p, n / 2, "the record after collection");
	free(p);
	it_deferred_check();
}

/* --- 11. a commit that fails after the answer was made ------------------ */

/*
 * A deferred constraint trigger that fails the commit of a row of table
 * whose column col names a value listed in it_commit_fails: the one way
 * to make the request's final COMMIT fail on purpose.
 */
static void
commit_fails_install(const char *table, const char *events, const char *col)
{
	char	 sql[512];

	it_owner_sql(NULL, 0, NULL, "CREATE TABLE IF NOT EXISTS "
	    "it_commit_fails (what text PRIMARY KEY)", 0, NULL);
	it_owner_sql(NULL, 0, NULL, "CREATE OR REPLACE FUNCTION "
	    "it_commit_fails() RETURNS trigger LANGUAGE plpgsql SECURITY "
	    "DEFINER AS $$ BEGIN IF EXISTS (SELECT 1 FROM it_commit_fails "
	    "WHERE what = TG_TABLE_NAME || ':' || (to_jsonb(NEW) ->> "
	    "TG_ARGV[0])) THEN RAISE EXCEPTION 'it: this commit fails'; "
	    "END IF; RETURN NULL; END $$", 0, NULL);
	snprintf(sql, sizeof(sql), "DROP TRIGGER IF EXISTS it_commit_fails "
	    "ON %s", table);
	it_owner_sql(NULL, 0, NULL, sql, 0, NULL);
	snprintf(sql, sizeof(sql), "CREATE CONSTRAINT TRIGGER it_commit_fails "
	    "AFTER %s ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
	    "EXECUTE FUNCTION it_commit_fails('%s')", events, table, col);
	it_owner_sql(NULL, 0, NULL, sql, 0, NULL);
}

static void
commit_fails_set(const char *what, int on)
{
	it_owner_sql(NULL, 0, NULL, on ? "INSERT INTO it_commit_fails VALUES "
	    "($1) ON CONFLICT DO NOTHING" : "DELETE FROM it_commit_fails "
	    "WHERE what = $1", 1, &what);
}

static void
commit_fails_remove(void)
{
	it_owner_sql(NULL, 0, NULL, "DROP TRIGGER IF EXISTS it_commit_fails "
	    "ON storage_records", 0, NULL);
	it_owner_sql(NULL, 0, NULL, "DROP TRIGGER IF EXISTS it_commit_fails "
	    "ON storage_backups", 0, NULL);
	it_owner_sql(NULL, 0, NULL, "DROP TRIGGER IF EXISTS it_commit_fails "
	    "ON vector_collections", 0, NULL);
	it_owner_sql(NULL, 0, NULL, "DROP FUNCTION IF EXISTS "
	    "it_commit_fails()", 0, NULL);
	it_owner_sql(NULL, 0, NULL, "DROP TABLE IF EXISTS it_commit_fails",
	    0, NULL);
}

/* The flat file of a collection's generation: is it on disk? */
static int
vec_file_exists(const struct it_owner *o, const char *name, int gen)
{
	char	 path[1024];

	snprintf(path, sizeof(path), "%s/vectors/%s/%s.%d.vec", storage_dir(),
	    o->tenant, name, gen);
	return access(path, F_OK) == 0;
}

/* Wait until the file of a generation is gone: 0, or -1. */
static int
vec_file_wait_gone(const struct it_owner *o, const char *name, int gen)
{
	double	 deadline = it_now_ms() + SETTLE_S * 1000.0;

	while (vec_file_exists(o, name, gen)) {
		if (it_now_ms() >= deadline)
			return -1;
		it_sleep_ms(100);
	}
	return 0;
}

/* Upsert one item of 3 dimensions into name: the status. */
static long
vec_upsert_one(const struct it_owner *o, const char *name, const char *id,
    const double *v)
{
	struct json_object	*item;
	struct it_resp		 r;
	char			*json;
	long			 status;

	item = vec_item(id, v, 3, 40, 60, NULL);
	json = vec_upsert_body(name, &item, 1);
	api_json(&r, o->access, "POST", VECTORS "/upsert", json);
	free(json);
	status = r.status;
	it_response_free(&r);
	return status;
}

/*
 * The row's COMMIT fails after the handler made a 201: the answer is
 * an error, the object goes and the hold is given back at once (not at
 * its expiry, a quarter of an hour later); a vector generation written
 * for a change that did not commit goes too, and a later change works.
 */
static void
test_commit_fails(void **state)
{
	static const double	 vx[3] = { 1, 0, 0 }, vy[3] = { 0, 1, 0 };
	struct it_owner		 o;
	struct it_resp		 r;
	unsigned char		*p;
	const size_t		 n = 3000;
	char			 what[128], key[256];
	const char		*v[1];
	long long		 used0, used1, res;
	long			 st;

	(void)state;
	if (on_s3)
		skip();
	tenant_new(&o, "commit-fails", 1);
	p = bytes_new(n, 70);
	commit_fails_install("storage_records", "INSERT OR UPDATE", "tbl");
	commit_fails_install("storage_backups", "INSERT", "tenant_id");
	commit_fails_install("vector_collections", "UPDATE", "name");
	counter(&o, "storage_bytes", &used0, &res);

	/* A record. */
	commit_fails_set("storage_records:cf", 1);
	st = record_post(&o, "cf", p, n, NULL);
	commit_fails_set("storage_records:cf", 0);
	if (st != 500)
		it_deferred_fail("a record whose commit fails: %ld, want 500",
		    st);
	if (record_rows(&o, "cf") != 0)
		it_deferred_fail("a record whose commit failed has a row");
	holds_settle(&o);
	counter(&o, "storage_bytes", &used1, &res);
	if (used1 != used0)
		it_deferred_fail("storage_bytes used %lld after a failed "
		    "commit, was %lld", used1, used0);
	v[0] = o.tenant;
	it_owner_sql(key, sizeof(key), o.tenant, "SELECT object_key FROM "
	    "storage_garbage WHERE tenant_id = $1 AND kind = 'object'", 1, v);
	if (key[0] == '\0')
		it_deferred_fail("no garbage entry for the failed record's "
		    "object");
	else if (object_wait_gone(key) == -1)
		it_deferred_fail("the failed record's object %s is still "
		    "stored after %.0f s", key, SETTLE_S);

	/* A backup. */
	snprintf(what, sizeof(what), "storage_backups:%s", o.tenant);
	commit_fails_set(what, 1);
	backup_put(&r, &o, p, n, "1", "1767225600", NULL);
	commit_fails_set(what, 0);
	if (r.status != 500)
		it_deferred_fail("a backup whose commit fails: %ld, want 500",
		    r.status);
	it_response_free(&r);
	if (backup_rows(&o) != 0)
		it_deferred_fail("a backup whose commit failed has a row");
	holds_settle(&o);

	/* A new collection: its first generation and its row go. */
	commit_fails_set("vector_collections:cf-new", 1);
	st = vec_upsert_one(&o, "cf-new", "a", vx);
	commit_fails_set("vector_collections:cf-new", 0);
	if (st != 500)
		it_deferred_fail("an upsert whose commit fails: %ld, want 500",
		    st);
	if (vec_file_wait_gone(&o, "cf-new", 1) == -1)
		it_deferred_fail("generation 1 of a collection that never "
		    "committed is still on disk after %.0f s", SETTLE_S);
	if (sql_num(&o, "SELECT count(*) FROM vector_collections WHERE "
	    "tenant_id = $1 AND name = $2", "cf-new") != 0)
		it_deferred_fail("a collection whose first upsert failed "
		    "exists");

	/* An existing one: generation 2 goes, 1 still answers, then 2. */
	if (vec_upsert_one(&o, "cf-old", "x", vx) != 200)
		it_deferred_fail("the first upsert of cf-old failed");
	commit_fails_set("vector_collections:cf-old", 1);
	st = vec_upsert_one(&o, "cf-old", "y", vy);
	commit_fails_set("vector_collections:cf-old", 0);
	if (st != 500)
		it_deferred_fail("a second upsert whose commit fails: %ld, "
		    "want 500", st);
	if (vec_file_wait_gone(&o, "cf-old", 2) == -1)
		it_deferred_fail("generation 2, never committed, is still on "
		    "disk after %.0f s", SETTLE_S);
	if (!vec_file_exists(&o, "cf-old", 1))
		it_deferred_fail("the published generation 1 went with it");
	vec_search(&r, &o, "cf-old", vy, 3, 10);
	it_expect_status(&r, 200);
	if (jlen(&r, "results") != 1 || !vec_found(&r, "x"))
		it_deferred_fail("after the failed upsert, a search finds "
		    "%.200s; want x only", r.body);
	it_response_free(&r);
	if (vec_upsert_one(&o, "cf-old", "y", vy) != 200)
		it_deferred_fail("the upsert after the failed one failed");
	vec_search(&r, &o, "cf-old", vy, 3, 10);
	it_expect_status(&r, 200);
	if (jlen(&r, "results") != 2 || !vec_found(&r, "y"))
		it_deferred_fail("after a good upsert, a search finds "
		    "%.200s; want x and y", r.body);
	it_response_free(&r);

	commit_fails_remove();
	free(p);
	it_deferred_check();
}

/* --- 12. vector files of no generation ------------------------------------ */

/* A file under the tenant's vectors directory, its mtime hours ago. */
static void
vec_file_make(const struct it_owner *o, const char *leaf, int hours)
{
	struct timespec	 ts[2];
	char		 path[1024];
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/vectors/%s/%s", storage_dir(),
	    o->tenant, leaf);
	if ((fp = fopen(path, "wb")) == NULL || fwrite("junk", 1, 4, fp) != 4 ||
	    fclose(fp) != 0)
		fail_msg("writing %s: %s", path, strerror(errno));
	chown_like_storage(path);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - hours * 3600;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (utimensat(AT_FDCWD, path, ts, 0) == -1)
		fail_msg("utimensat %s: %s", path, strerror(errno));
}

static int
vec_leaf_exists(const struct it_owner *o, const char *leaf)
{
	char	 path[1024];

	snprintf(path, sizeof(path), "%s/vectors/%s/%s", storage_dir(),
	    o->tenant, leaf);
	return access(path, F_OK) == 0;
}

/*
 * What a responder killed between writing a generation and committing
 * it leaves: a generation above the published one, or of a collection
 * that never came to be, and a writer's temporary file.  The worker
 * (at its start, then every 10 minutes) removes those an hour old; a
 * recent one (a change may still be writing it) and the published
 * generation stay.
 */
static void
test_vec_sweep(void **state)
{
	static const double	 vx[3] = { 1, 0, 0 };
	static const char *const gone[] = { "swept.5.vec", "ghost.1.vec",
	    ".swept.9.AbCdEf" };
	static const char *const kept[] = { "swept.1.vec", "swept.7.vec" };
	struct it_owner		 o;
	struct it_resp		 r;
	double			 deadline;
	size_t			 i, left;

	(void)state;
	if (on_s3)
		skip();
	tenant_new(&o, "vec-sweep", 1);
	if (vec_upsert_one(&o, "swept", "x", vx) != 200)
		fail_msg("the upsert of swept failed");
	for (i = 0; i < 3; i++)
		vec_file_make(&o, gone[i], 2);
	vec_file_make(&o, "swept.7.vec", 0);
	if (it_sh("'%s/tests/stack.sh' work-stop '%s' && '%s/tests/stack.sh' "
	    "work-start '%s'", it_env("TOLLGATE_SRCDIR"), it_env("STACK_DIR"),
	    it_env("TOLLGATE_SRCDIR"), it_env("STACK_DIR")) != 0)
		fail_msg("the worker did not restart");
	deadline = it_now_ms() + SETTLE_S * 1000.0;
	do {
		for (i = left = 0; i < 3; i++)
			left += vec_leaf_exists(&o, gone[i]);
		if (left > 0)
			it_sleep_ms(200);
	} while (left > 0 && it_now_ms() < deadline);
	for (i = 0; i < 3; i++)
		if (vec_leaf_exists(&o, gone[i]))
			it_deferred_fail("%s, two hours old and of no "
			    "generation, is still there after %.0f s", gone[i],
			    SETTLE_S);
	for (i = 0; i < 2; i++)
		if (!vec_leaf_exists(&o, kept[i]))
			it_deferred_fail("%s was removed", kept[i]);
	vec_search(&r, &o, "swept", vx, 3, 10);
	it_expect_status(&r, 200);
	if (jlen(&r, "results") != 1 || !vec_found(&r, "x"))
		it_deferred_fail("after the sweep, a search finds %.200s",
		    r.body);
	it_response_free(&r);
	it_deferred_check();
}

/* --- records and backups on s3 -------------------------------------------- */

static int
backend_set(const char *name)
{
	int	 rc;

	rc = it_sh("'%s/tests/stack.sh' storage-backend '%s' %s",
	    it_env("TOLLGATE_SRCDIR"), it_env("STACK_DIR"), name);
	if (rc == 0)
		on_s3 = strcmp(name, "s3") == 0;
	return rc;
}

/*
 * The s3 pass: the backend switched (serve and work restarted), the
 * emulator's counters zeroed, records and backups round again, every
 * object signed and none left over.
 */
static void
test_s3(void **state)
{
	struct it_resp	 r;
	char		 url[1024];
	long long	 unsigned_, sigfail, authfail;

	(void)state;
	if (backend_set("s3") != 0)
		fail_msg("tests/stack.sh storage-backend s3 failed");
	switched = 1;
	snprintf(url, sizeof(url), "%s/_emu/counters", it_env("S3_EMU_URL"));
	if (it_request(&r, "DELETE", url, NULL, NULL, 0, (const char *)NULL) ==
	    -1 || r.status != 200)
		fail_msg("DELETE %s: %ld", url, r.status);
	it_response_free(&r);

	records_round("s3-records");
	backups_round("s3-backups");

	s3_state(&r);
	unsigned_ = jnum(&r, "counters.unsigned_payloads");
	sigfail = jnum(&r, "counters.signature_failures");
	authfail = jnum(&r, "counters.auth_failures");
	print_message("# S3 emulator: %ld objects, operations %.300s\n",
	    jlen(&r, "objects"), json_object_to_json_string(
	    json_object_object_get(it_json(&r), "operations")));
	if (unsigned_ != 0 || sigfail != 0 || authfail != 0)
		it_deferred_fail("S3 emulator counters: %lld unsigned "
		    "payloads, %lld signature failures, %lld authentication "
		    "failures; want 0", unsigned_, sigfail, authfail);
	it_response_free(&r);
	if (backend_set("fs") != 0)
		fail_msg("tests/stack.sh storage-backend fs failed");
	switched = 0;
	it_deferred_check();
}

/* --- the program ---------------------------------------------------------- */

static int
teardown(void **state)
{
	(void)state;
	/* The s3 pass failed half-way: the stack goes back to fs. */
	if (switched && backend_set("fs") != 0)
		return -1;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_checksums),
		cmocka_unit_test(test_truncated_body),
		cmocka_unit_test(test_quota_and_cap),
		cmocka_unit_test(test_free_plan),
		cmocka_unit_test(test_other_tenant),
		cmocka_unit_test(test_backups),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_storage_unwritable),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_commit_fails),
		cmocka_unit_test(test_vec_sweep),
		cmocka_unit_test(test_s3),
	};

	it_init();
	it_client_init(70);
	on_s3 = strcmp(it_env_or("TOLLGATE_STORAGE_BACKEND", "fs"), "s3") == 0;
	return cmocka_run_group_tests(tests, NULL, teardown);
}
