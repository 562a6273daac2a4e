/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The S3 backend of the object store (blob.c): objects in one bucket of
 * an S3-compatible service, addressed path style
 * (<endpoint>/<bucket>/<key>) so that MinIO or a local emulator works
 * without wildcard DNS.  An object of up to 64 MiB is one PUT; a larger
 * one is a multipart upload of 16 MiB parts read back from the spool
 * with pread(), aborted on any failure so that no orphan parts are left
 * in the bucket.  Every request is retried on a 5xx or a failed
 * connection (three attempts, 100 and 400 ms apart): S3 asks for that
 * (500 InternalError, 503 SlowDown); a 4xx is an answer and is not.
 *
 * Requests are signed by sigv4.c, not by libcurl's CURLOPT_AWS_SIGV4:
 * the libcurl of Debian 12 (7.88) does not hash the payload (it would
 * need the whole body in memory, or send an unsigned payload that S3
 * then does not check) and signs the query as written rather than in
 * its canonical sorted form.  Our signer takes the SHA-256 the spool
 * already computed and the caller verified, and is tested against
 * AWS's published vectors (tests/unit-sigv4.c); libcurl only moves the
 * bytes.  The secret key and the Authorization header never reach a
 * log line.
 *
 * One libcurl handle per process keeps the connection alive.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "tollgate.h"

#define S3_SINGLE_MAX	(64LL * 1024 * 1024)	/* larger: multipart */
#define S3_PART_SIZE	(16LL * 1024 * 1024)
#define S3_PARTS_MAX	10000		/* S3's limit per upload */
#define S3_TRIES	3
#define S3_CONNECT_MS	3000L
#define S3_SLOW_BYTES	1024L		/* under this many bytes a second */
#define S3_SLOW_S	15L		/* for this long: stalled, give up */
#define S3_ANSWER_MAX	(64 * 1024)	/* bytes of an XML answer kept */
#define S3_ETAG_MAX	128
#define S3_ID_MAX	1024		/* an upload id, encoded */
#define S3_CHUNK	65536
/* Bytes that need no encoding in a path or a query (RFC 3986). */
#define S3_PLAIN	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
	"0123456789-._~"
#define S3_EMPTY_SHA	\
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The endpoint, split once by s3_init(). */
static char	 s3_origin[512];	/* scheme://host[:port] */
static char	 s3_host[256];		/* host[:port]: Host, and signed */
static char	 s3_prefix[256];	/* the endpoint's path, or "" */
static CURL	*s3_curl;

/* One S3 request: what to send, and what came back. */
struct s3_call {
	const char	*method;
	const char	*key;
	const char	*query;		/* sorted and encoded, or "" */
	const char	*payload_hex;	/* SHA-256 of the body */
	const char	*checksum;	/* x-amz-checksum-sha256, or NULL */
	int		 ok404;		/* 404 is an answer, not a failure */
	/* The body: bytes of the spool's file (fd), or of memory. */
	int		 fd;
	const char	*mem;
	long long	 off;
	long long	 len;
	long long	 pos;
	/* A GET's destination for the object's bytes. */
	int		(*sink)(void *, const void *, size_t);
	void		*arg;
	long long	 delivered;
	int		 sink_failed;
	int		 read_failed;
	/* The answer. */
	long		 status;
	struct buf	 answer;	/* an XML answer's head */
	char		 etag[S3_ETAG_MAX];
};

static const char *
s3_region(void)
{
	return conf.s3_region != NULL && conf.s3_region[0] != '\0' ?
	    conf.s3_region : "us-east-1";
}

static void
s3_call_init(struct s3_call *c, const char *method, const char *key,
    const char *query)
{
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->key = key;
	c->query = query;
	c->payload_hex = S3_EMPTY_SHA;
	c->fd = -1;
	c->mem = "";
	buf_init(&c->answer, S3_ANSWER_MAX);
}

/* --- libcurl's callbacks ------------------------------------------------ */

/* The body, from memory or read back from the spool at its offset. */
static size_t
s3_read(char *p, size_t sz, size_t n, void *arg)
{
	struct s3_call	*c = arg;
	size_t		 want = sz * n;
	ssize_t		 got;

	if ((long long)want > c->len - c->pos)
		want = (size_t)(c->len - c->pos);
	if (want == 0)
		return 0;
	if (c->fd == -1) {
		memcpy(p, c->mem + c->pos, want);
		c->pos += (long long)want;
		return want;
	}
	while ((got = pread(c->fd, p, want, c->off + c->pos)) == -1 &&
	    errno == EINTR)
		continue;
	if (got <= 0) {
		log_warnx("s3: pread of the spool: %s", got == 0 ?
		    "unexpected end of file" : strerror(errno));
		c->read_failed = 1;
		return CURL_READFUNC_ABORT;
	}
	c->pos += got;
	return (size_t)got;
}

/* libcurl rewinds the body when it must send it again. */
static int
s3_seek(void *arg, curl_off_t off, int origin)
{
	struct s3_call	*c = arg;

	if (origin != SEEK_SET || off < 0 || off > c->len)
		return CURL_SEEKFUNC_FAIL;
	c->pos = off;
	return CURL_SEEKFUNC_OK;
}

/*
 * A successful GET streams into the sink; any other answer is XML of
 * which the head is kept (S3's answers of interest are short) and the
 * rest dropped.
 */
static size_t
s3_write(char *p, size_t sz, size_t n, void *arg)
{
	struct s3_call	*c = arg;
	size_t		 len = sz * n, room;
	long		 status = 0;

	curl_easy_getinfo(s3_curl, CURLINFO_RESPONSE_CODE, &status);
	if (c->sink != NULL && status >= 200 && status < 300) {
		if (c->sink(c->arg, p, len) == -1) {
			c->sink_failed = 1;
			return 0;
		}
		c->delivered += (long long)len;
		return len;
	}
	room = S3_ANSWER_MAX - c->answer.len;
	buf_append(&c->answer, p, len < room ? len : room);
	return len;
}

/* The ETag of an uploaded part, kept as sent (quoted). */
static size_t
s3_header(char *p, size_t sz, size_t n, void *arg)
{
	struct s3_call	*c = arg;
	size_t		 len = sz * n, i = 5, vlen;

	if (len <= 5 || strncasecmp(p, "ETag:", 5) != 0)
		return len;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	for (vlen = 0; i + vlen < len && p[i + vlen] != '\r' &&
	    p[i + vlen] != '\n'; vlen++)
		continue;
	if (vlen < sizeof(c->etag)) {
		memcpy(c->etag, p + i, vlen);
		c->etag[vlen] = '\0';
	}
	return len;
}

/* --- one request -------------------------------------------------------- */

static void
s3_amz_date(char out[17])
{
	struct tm	 tm;
	time_t		 now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int
s3_sign(const struct s3_call *c, const char *path, const char *date,
    char *auth, size_t authsz)
{
	struct sigv4_req	 s;
	const char		*extra[1];
	char			 line[96];

	memset(&s, 0, sizeof(s));
	s.method = c->method;
	s.path = path;
	s.query = c->query;
	s.host = s3_host;
	s.amz_date = date;
	s.payload_sha256 = c->payload_hex;
	s.region = s3_region();
	s.service = "s3";
	s.access_key = conf.s3_access_key;
	s.secret_key = conf.s3_secret_key;
	if (c->checksum != NULL) {
		snprintf(line, sizeof(line), "x-amz-checksum-sha256:%s",
		    c->checksum);
		extra[0] = line;
		s.headers = extra;
		s.nheaders = 1;
	}
	return sigv4_authorization(&s, auth, authsz);
}

static int
s3_add_header(struct curl_slist **h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append "Name: value" to the list; -1 (the list intact) on failure. */
static int
s3_add_header(struct curl_slist **h, const char *fmt, ...)
{
	struct curl_slist	*n;
	char			 line[1024];
	va_list			 ap;
	int			 len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line) ||
	    (n = curl_slist_append(*h, line)) == NULL)
		return -1;
	*h = n;
	return 0;
}

/*
 * The headers of one attempt, signed at the time of the attempt.  The
 * Host header is set here, not left to libcurl, so that the value
 * signed is the value sent (libcurl drops a default port).
 */
static int
s3_headers(const struct s3_call *c, const char *path, struct curl_slist **h)
{
	char	 date[17], auth[512];

	s3_amz_date(date);
	if (s3_sign(c, path, date, auth, sizeof(auth)) == -1) {
		log_warnx("s3: %s %s: cannot sign the request", c->method,
		    c->key);
		return -1;
	}
	if (s3_add_header(h, "Host: %s", s3_host) == -1 ||
	    s3_add_header(h, "x-amz-date: %s", date) == -1 ||
	    s3_add_header(h, "x-amz-content-sha256: %s",
	    c->payload_hex) == -1 ||
	    (c->checksum != NULL && s3_add_header(h,
	    "x-amz-checksum-sha256: %s", c->checksum) == -1) ||
	    s3_add_header(h, "Authorization: %s", auth) == -1 ||
	    s3_add_header(h, "Expect:") == -1)
		return -1;
	return 0;
}

static void
s3_setopt_body(CURL *cu, struct s3_call *c)
{
	if (strcmp(c->method, "PUT") != 0 && strcmp(c->method, "POST") != 0)
		return;
	/* An upload, whatever the method: no form Content-Type added. */
	curl_easy_setopt(cu, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(cu, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->len);
	curl_easy_setopt(cu, CURLOPT_READFUNCTION, s3_read);
	curl_easy_setopt(cu, CURLOPT_READDATA, c);
	curl_easy_setopt(cu, CURLOPT_SEEKFUNCTION, s3_seek);
	curl_easy_setopt(cu, CURLOPT_SEEKDATA, c);
}

/* One attempt: the curl result, the HTTP status in c->status. */
static CURLcode
s3_attempt(struct s3_call *c)
{
	struct curl_slist	*h = NULL;
	char			 path[768], url[1536];
	CURLcode		 cc = CURLE_FAILED_INIT;
	int			 n;

	c->status = 0;
	c->pos = 0;
	c->etag[0] = '\0';
	buf_reset(&c->answer);
	if (s3_curl == NULL)
		s3_curl = curl_easy_init();
	else
		curl_easy_reset(s3_curl);
	if (s3_curl == NULL)
		goto done;
	n = snprintf(path, sizeof(path), "%s/%s/%s", s3_prefix,
	    conf.s3_bucket, c->key);
	if (n < 0 || (size_t)n >= sizeof(path))
		goto done;
	n = snprintf(url, sizeof(url), "%s%s%s%s", s3_origin, path,
	    c->query[0] != '\0' ? "?" : "", c->query);
	if (n < 0 || (size_t)n >= sizeof(url) ||
	    s3_headers(c, path, &h) == -1)
		goto done;
	curl_easy_setopt(s3_curl, CURLOPT_URL, url);
	curl_easy_setopt(s3_curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(s3_curl, CURLOPT_USERAGENT,
	    "Tollgate/" TOLLGATE_VERSION);
	curl_easy_setopt(s3_curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Sent as signed: no "." or ".." squashed out of a key. */
	curl_easy_setopt(s3_curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(s3_curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s3_curl, CURLOPT_CONNECTTIMEOUT_MS, S3_CONNECT_MS);
	curl_easy_setopt(s3_curl, CURLOPT_LOW_SPEED_LIMIT, S3_SLOW_BYTES);
	curl_easy_setopt(s3_curl, CURLOPT_LOW_SPEED_TIME, S3_SLOW_S);
	curl_easy_setopt(s3_curl, CURLOPT_WRITEFUNCTION, s3_write);
	curl_easy_setopt(s3_curl, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(s3_curl, CURLOPT_HEADERFUNCTION, s3_header);
	curl_easy_setopt(s3_curl, CURLOPT_HEADERDATA, c);
	if (strcmp(c->method, "GET") != 0 && strcmp(c->method, "PUT") != 0)
		curl_easy_setopt(s3_curl, CURLOPT_CUSTOMREQUEST, c->method);
	s3_setopt_body(s3_curl, c);
	cc = curl_easy_perform(s3_curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(s3_curl, CURLINFO_RESPONSE_CODE, &c->status);
done:
	curl_slist_free_all(h);
	return cc;
}

/* Our side failed (sink, spool, signer): another attempt would too. */
static int
s3_local_failure(const struct s3_call *c, CURLcode cc)
{
	return c->sink_failed || c->read_failed || cc == CURLE_FAILED_INIT ||
	    cc == CURLE_OUT_OF_MEMORY || cc == CURLE_URL_MALFORMAT;
}

/*
 * Worth another attempt: a connection that failed or stalled, or a
 * 5xx; never once bytes of a GET reached the sink (the caller has them).
 */
static int
s3_retryable(const struct s3_call *c, CURLcode cc)
{
	if (c->delivered > 0 || s3_local_failure(c, cc))
		return 0;
	if (cc != CURLE_OK)
		return 1;
	return c->status >= 500 && c->status <= 599;
}

/*
 * The text of the first <tag>...</tag> of an answer, for the flat
 * answers S3 gives (an UploadId, an error Code): no nesting, no entity
 * decoding, bounded by the answer's cap and by outsz.  -1 when absent
 * or too long.
 */
static int
s3_xml_text(const char *xml, const char *tag, char *out, size_t outsz)
{
	char		 open[40], close[40];
	const char	*b, *e;

	out[0] = '\0';
	if (xml == NULL)
		return -1;
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if ((b = strstr(xml, open)) == NULL)
		return -1;
	b += strlen(open);
	if ((e = strstr(b, close)) == NULL || (size_t)(e - b) >= outsz)
		return -1;
	memcpy(out, b, (size_t)(e - b));
	out[e - b] = '\0';
	return 0;
}

/* One line per failed attempt: method, key, query name, status, code. */
static void
s3_log_failure(const struct s3_call *c, CURLcode cc, int try)
{
	char	 code[64], clean[64];
	int	 qlen = (int)strcspn(c->query, "&");

	if (qlen > 24)
		qlen = 24;
	if (cc != CURLE_OK) {
		log_warnx("s3: %s %s%s%.*s: %s (attempt %d of %d)", c->method,
		    c->key, qlen > 0 ? "?" : "", qlen, c->query,
		    curl_easy_strerror(cc), try, S3_TRIES);
		return;
	}
	s3_xml_text(c->answer.p, "Code", code, sizeof(code));
	log_scrub(code, clean, sizeof(clean));
	log_warnx("s3: %s %s%s%.*s: %ld%s%s (attempt %d of %d)", c->method,
	    c->key, qlen > 0 ? "?" : "", qlen, c->query, c->status,
	    clean[0] != '\0' ? " " : "", clean, try, S3_TRIES);
}

static void
s3_sleep_ms(long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		continue;
}

/*
 * Send a request, trying again as s3_retryable() allows.  BLOB_OK on a
 * 2xx (or a 404 when c->ok404: c->status tells), BLOB_ERROR when our
 * side failed, BLOB_UPSTREAM when S3 did.
 */
static enum blob_rc
s3_request(struct s3_call *c)
{
	static const long	 backoff_ms[S3_TRIES - 1] = { 100, 400 };
	CURLcode		 cc;
	int			 try;

	for (try = 1;; try++) {
		cc = s3_attempt(c);
		if (cc == CURLE_OK && ((c->status >= 200 && c->status < 300) ||
		    (c->ok404 && c->status == 404)))
			return BLOB_OK;
		if (c->sink_failed)
			return BLOB_ERROR;
		s3_log_failure(c, cc, try);
		if (try == S3_TRIES || !s3_retryable(c, cc))
			break;
		s3_sleep_ms(backoff_ms[try - 1]);
	}
	return s3_local_failure(c, cc) ? BLOB_ERROR : BLOB_UPSTREAM;
}

/* --- store -------------------------------------------------------------- */

static void
s3_b64(const unsigned char md[32], char out[45])
{
	EVP_EncodeBlock((unsigned char *)out, md, 32);
}

/* The SHA-256 of len bytes of fd from off. */
static int
s3_hash_range(int fd, long long off, long long len, unsigned char md[32])
{
	EVP_MD_CTX	*ctx;
	char		 chunk[S3_CHUNK];
	unsigned int	 mdlen;
	ssize_t		 n;
	int		 rc = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto done;
	while (len > 0) {
		n = pread(fd, chunk, len < S3_CHUNK ? (size_t)len : S3_CHUNK,
		    off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warnx("s3: pread of the spool: %s", n == 0 ?
			    "unexpected end of file" : strerror(errno));
			goto done;
		}
		if (EVP_DigestUpdate(ctx, chunk, (size_t)n) != 1)
			goto done;
		off += n;
		len -= n;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		goto done;
	rc = 0;
done:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * The whole spool in one PUT, with its verified SHA-256 both signed
 * (x-amz-content-sha256, checked by S3 against the bytes) and stored
 * with the object (x-amz-checksum-sha256).
 */
static enum blob_rc
s3_put_single(const char *key, const struct blob_spool *sp)
{
	struct s3_call	 c;
	char		 hex[65], b64[45];
	enum blob_rc	 rc;

	util_hex(sp->sha256, sizeof(sp->sha256), hex);
	s3_b64(sp->sha256, b64);
	s3_call_init(&c, "PUT", key, "");
	c.fd = sp->fd;
	c.len = sp->size;
	c.payload_hex = hex;
	c.checksum = b64;
	rc = s3_request(&c);
	buf_free(&c.answer);
	return rc;
}

/* Percent-encode a query value as SigV4 wants it (and S3 sends it). */
static int
s3_query_escape(const char *s, char *out, size_t outsz)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 o = 0;
	unsigned char		 ch;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if (o + 4 > outsz)
			return -1;
		if (strchr(S3_PLAIN, ch) != NULL) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* CreateMultipartUpload: the upload's id, encoded for a query, in id. */
static enum blob_rc
s3_mp_create(const char *key, char *id, size_t idsz)
{
	struct s3_call	 c;
	char		 raw[S3_ID_MAX];
	enum blob_rc	 rc;

	s3_call_init(&c, "POST", key, "uploads=");
	if ((rc = s3_request(&c)) != BLOB_OK)
		goto done;
	if (s3_xml_text(c.answer.p, "UploadId", raw, sizeof(raw)) == -1 ||
	    raw[0] == '\0' || s3_query_escape(raw, id, idsz) == -1) {
		log_warnx("s3: POST %s?uploads: no usable UploadId in the "
		    "answer", key);
		rc = BLOB_UPSTREAM;
	}
done:
	buf_free(&c.answer);
	return rc;
}

/*
 * UploadPart: bytes [off, off + len) of the spool as part number n,
 * hashed first so that S3 checks the part against its signed SHA-256.
 * The part's ETag, needed to complete, goes to etag.  No
 * x-amz-checksum-sha256 here: S3 takes one on a part only when the
 * upload was created with x-amz-checksum-algorithm, and then keeps a
 * checksum of the parts' checksums, not the object's SHA-256; the
 * signed payload hash already has S3 check every byte of every part.
 */
static enum blob_rc
s3_mp_part(const char *key, const char *id, const struct blob_spool *sp,
    long long n, long long off, long long len, char etag[S3_ETAG_MAX])
{
	struct s3_call	 c;
	char		 query[S3_ID_MAX + 64], hex[65];
	unsigned char	 md[32];
	enum blob_rc	 rc;

	if (s3_hash_range(sp->fd, off, len, md) == -1)
		return BLOB_ERROR;
	util_hex(md, sizeof(md), hex);
	snprintf(query, sizeof(query), "partNumber=%lld&uploadId=%s", n, id);
	s3_call_init(&c, "PUT", key, query);
	c.fd = sp->fd;
	c.off = off;
	c.len = len;
	c.payload_hex = hex;
	if ((rc = s3_request(&c)) != BLOB_OK)
		goto done;
	/* The ETag goes back inside XML: nothing that could break it. */
	if (c.etag[0] == '\0' || strpbrk(c.etag, "<>&") != NULL) {
		log_warnx("s3: PUT %s?partNumber=%lld: no usable ETag", key, n);
		rc = BLOB_UPSTREAM;
		goto done;
	}
	memcpy(etag, c.etag, sizeof(c.etag));
done:
	buf_free(&c.answer);
	return rc;
}

/*
 * CompleteMultipartUpload with the list of parts.  S3 may answer 200
 * and then an <Error> in the body (the answer streams while it
 * assembles): that is a failure too.
 */
static enum blob_rc
s3_mp_complete(const char *key, const char *id, char (*etags)[S3_ETAG_MAX],
    long long nparts)
{
	struct s3_call	 c;
	struct buf	 xml;
	char		 query[S3_ID_MAX + 16], hex[65];
	unsigned char	 md[32];
	long long	 i;
	enum blob_rc	 rc = BLOB_ERROR;

	buf_init(&xml, (size_t)nparts * (S3_ETAG_MAX + 64) + 128);
	s3_call_init(&c, "POST", key, "");
	buf_puts(&xml, "<CompleteMultipartUpload>");
	for (i = 0; i < nparts; i++)
		buf_printf(&xml, "<Part><PartNumber>%lld</PartNumber>"
		    "<ETag>%s</ETag></Part>", i + 1, etags[i]);
	if (buf_puts(&xml, "</CompleteMultipartUpload>") == -1)
		goto done;
	crypto_sha256(xml.p, xml.len, md);
	util_hex(md, sizeof(md), hex);
	snprintf(query, sizeof(query), "uploadId=%s", id);
	c.query = query;
	c.mem = xml.p;
	c.len = (long long)xml.len;
	c.payload_hex = hex;
	if ((rc = s3_request(&c)) != BLOB_OK)
		goto done;
	if (c.answer.p != NULL && strstr(c.answer.p, "<Error>") != NULL) {
		s3_log_failure(&c, CURLE_OK, 1);
		rc = BLOB_UPSTREAM;
	}
done:
	buf_free(&xml);
	buf_free(&c.answer);
	return rc;
}

/* AbortMultipartUpload, so that the parts sent are not kept (billed). */
static void
s3_mp_abort(const char *key, const char *id)
{
	struct s3_call	 c;
	char		 query[S3_ID_MAX + 16];

	snprintf(query, sizeof(query), "uploadId=%s", id);
	s3_call_init(&c, "DELETE", key, query);
	c.ok404 = 1;
	s3_request(&c);
	buf_free(&c.answer);
}

/* 16 MiB, doubled while the object would need more parts than S3 takes. */
static long long
s3_part_size(long long size)
{
	long long	 p = S3_PART_SIZE;

	while ((size + p - 1) / p > S3_PARTS_MAX)
		p *= 2;
	return p;
}

static enum blob_rc
s3_multipart(const char *key, const struct blob_spool *sp)
{
	char		 id[S3_ID_MAX];
	char		(*etags)[S3_ETAG_MAX];
	long long	 psize, nparts, i, off;
	enum blob_rc	 rc;

	psize = s3_part_size(sp->size);
	nparts = (sp->size + psize - 1) / psize;
	etags = xmalloc((size_t)nparts * sizeof(*etags));
	if ((rc = s3_mp_create(key, id, sizeof(id))) != BLOB_OK)
		goto done;
	for (i = 0; i < nparts && rc == BLOB_OK; i++) {
		off = i * psize;
		rc = s3_mp_part(key, id, sp, i + 1, off,
		    sp->size - off < psize ? sp->size - off : psize, etags[i]);
	}
	if (rc == BLOB_OK)
		rc = s3_mp_complete(key, id, etags, nparts);
	if (rc != BLOB_OK)
		s3_mp_abort(key, id);
done:
	free(etags);
	return rc;
}

static enum blob_rc
s3_store(struct req *r, const char *key, struct blob_spool *sp)
{
	if (sp->fd == -1)
		return BLOB_ERROR;
	if (sp->size <= S3_SINGLE_MAX)
		return s3_put_single(key, sp);
	return s3_multipart(key, sp);
}

/* --- fetch, remove ------------------------------------------------------ */

static enum blob_rc
s3_fetch(struct req *r, const char *key,
    int (*sink)(void *, const void *, size_t), void *arg)
{
	struct s3_call	 c;
	enum blob_rc	 rc;

	s3_call_init(&c, "GET", key, "");
	c.sink = sink;
	c.arg = arg;
	c.ok404 = 1;
	rc = s3_request(&c);
	if (rc == BLOB_OK && c.status == 404)
		rc = BLOB_NOTFOUND;
	buf_free(&c.answer);
	return rc;
}

/* Removing what is not there is done as well (204 and 404 alike). */
static enum blob_rc
s3_remove(struct req *r, const char *key)
{
	struct s3_call	 c;
	enum blob_rc	 rc;

	s3_call_init(&c, "DELETE", key, "");
	c.ok404 = 1;
	rc = s3_request(&c);
	buf_free(&c.answer);
	return rc;
}

/* --- configuration ------------------------------------------------------ */

/*
 * Split the endpoint, scheme://host[:port][/path], into the origin,
 * the Host header and the path prefix of every object.  Credentials,
 * a query or a fragment in it are refused, as is a path that would
 * need encoding.
 */
static int
s3_endpoint_parse(const char *url, const char **cause)
{
	const char	*host, *path;
	size_t		 hlen, plen;

	*cause = "TOLLGATE_S3_ENDPOINT: must be http(s)://host[:port][/path]";
	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return -1;
	hlen = strcspn(host, "/?#");
	path = host + hlen;
	plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (hlen == 0 || hlen >= sizeof(s3_host) ||
	    memchr(host, '@', hlen) != NULL ||
	    (size_t)(path - url) >= sizeof(s3_origin) ||
	    plen >= sizeof(s3_prefix) ||
	    strspn(path, S3_PLAIN "/") != strlen(path))
		return -1;
	memcpy(s3_host, host, hlen);
	s3_host[hlen] = '\0';
	memcpy(s3_origin, url, (size_t)(path - url));
	s3_origin[path - url] = '\0';
	memcpy(s3_prefix, path, plen);
	s3_prefix[plen] = '\0';
	*cause = NULL;
	return 0;
}

static int
s3_missing(const char *v)
{
	return v == NULL || v[0] == '\0';
}

/* Every key the backend needs, and an endpoint and bucket it can use. */
static int
s3_init(const char **cause)
{
	if (s3_missing(conf.s3_endpoint))
		*cause = "TOLLGATE_S3_ENDPOINT is not set";
	else if (s3_missing(conf.s3_bucket))
		*cause = "TOLLGATE_S3_BUCKET is not set";
	else if (s3_missing(conf.s3_access_key))
		*cause = "TOLLGATE_S3_ACCESS_KEY is not set";
	else if (s3_missing(conf.s3_secret_key))
		*cause = "TOLLGATE_S3_SECRET_KEY is not set";
	else if (strspn(conf.s3_bucket, S3_PLAIN) != strlen(conf.s3_bucket))
		*cause = "TOLLGATE_S3_BUCKET: not a bucket name";
	else
		return s3_endpoint_parse(conf.s3_endpoint, cause);
	return -1;
}

const struct blob_backend blob_s3 = {
	.name = "s3",
	.init = s3_init,
	.store = s3_store,
	.fetch = s3_fetch,
	.remove = s3_remove,
};
