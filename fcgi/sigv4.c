/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * AWS Signature Version 4, as S3 checks it: the canonical request, the
 * string to sign, the key derived from the secret for one day, region
 * and service, and the value of the Authorization header.  Pure: no
 * clock and no I/O.  The caller gives the path already encoded and the
 * query already sorted, so that what is signed is byte for byte what
 * goes on the wire; nothing here re-encodes or normalizes a path (S3
 * does neither).  tests/unit-sigv4.c holds AWS's published vectors.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tollgate.h"

#define SIGV4_HEADERS_MAX	16	/* signed headers, ours included */
#define SIGV4_CANON_MAX		8192	/* bytes of a canonical request */
#define SIGV4_SECRET_MAX	256	/* bytes of a secret access key */
#define SIGV4_ALGORITHM		"AWS4-HMAC-SHA256"

struct sigv4_hdr {
	const char	*name;
	size_t		 namelen;
	const char	*value;
};

/*
 * An output buffer that remembers it overflowed, so that the writers
 * below need no checks and the caller makes one at the end.
 */
struct sigv4_out {
	char		*p;
	size_t		 size;
	size_t		 len;
	int		 full;
};

static void
sigv4_out_init(struct sigv4_out *o, char *p, size_t size)
{
	o->p = p;
	o->size = size;
	o->len = 0;
	o->full = size == 0;
	if (size > 0)
		p[0] = '\0';
}

static void
sigv4_put(struct sigv4_out *o, const char *s, size_t n)
{
	if (o->full || n >= o->size - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void
sigv4_puts(struct sigv4_out *o, const char *s)
{
	sigv4_put(o, s, strlen(s));
}

static char
sigv4_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static void
sigv4_put_lower(struct sigv4_out *o, const char *s, size_t n)
{
	char	 c;

	while (n-- > 0) {
		c = sigv4_lower(*s++);
		sigv4_put(o, &c, 1);
	}
}

/*
 * A header value as SigV4 wants it: no leading or trailing blanks and
 * every run of blanks inside made one space.
 */
static void
sigv4_put_trimmed(struct sigv4_out *o, const char *v)
{
	const char	*p, *end;

	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (p = v; p < end; p++) {
		if (*p != ' ' && *p != '\t')
			sigv4_put(o, p, 1);
		else if (p[-1] != ' ' && p[-1] != '\t')
			sigv4_put(o, " ", 1);
	}
}

/* Header names compared as SigV4 sorts them: lower-cased bytes. */
static int
sigv4_namecmp(const struct sigv4_hdr *a, const struct sigv4_hdr *b)
{
	size_t	 i;
	char	 x, y;

	for (i = 0; i < a->namelen && i < b->namelen; i++) {
		x = sigv4_lower(a->name[i]);
		y = sigv4_lower(b->name[i]);
		if (x != y)
			return (unsigned char)x < (unsigned char)y ? -1 : 1;
	}
	if (a->namelen == b->namelen)
		return 0;
	return a->namelen < b->namelen ? -1 : 1;
}

static int
sigv4_add(struct sigv4_hdr *h, size_t *n, const char *name, size_t namelen,
    const char *value)
{
	struct sigv4_hdr	 t;
	size_t			 i;
	int			 c;

	if (*n == SIGV4_HEADERS_MAX || namelen == 0)
		return -1;
	h[*n].name = name;
	h[*n].namelen = namelen;
	h[*n].value = value;
	/* Insertion sort: a handful of headers.  A duplicate is a bug. */
	for (i = *n; i > 0; i--) {
		if ((c = sigv4_namecmp(&h[i - 1], &h[i])) == 0)
			return -1;
		if (c < 0)
			break;
		t = h[i - 1];
		h[i - 1] = h[i];
		h[i] = t;
	}
	(*n)++;
	return 0;
}

/* The headers to sign, sorted by name; -1 on too many or a bad one. */
static int
sigv4_headers(const struct sigv4_req *s, struct sigv4_hdr *h, size_t *n)
{
	const char	*colon;
	size_t		 i;

	*n = 0;
	if (sigv4_add(h, n, "host", 4, s->host) == -1 ||
	    sigv4_add(h, n, "x-amz-date", 10, s->amz_date) == -1)
		return -1;
	if (!s->omit_content_sha && sigv4_add(h, n, "x-amz-content-sha256",
	    20, s->payload_sha256) == -1)
		return -1;
	for (i = 0; i < s->nheaders; i++) {
		if (s->headers[i] == NULL ||
		    (colon = strchr(s->headers[i], ':')) == NULL)
			return -1;
		if (sigv4_add(h, n, s->headers[i],
		    (size_t)(colon - s->headers[i]), colon + 1) == -1)
			return -1;
	}
	return 0;
}

static void
sigv4_put_signed(struct sigv4_out *o, const struct sigv4_hdr *h, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			sigv4_put(o, ";", 1);
		sigv4_put_lower(o, h[i].name, h[i].namelen);
	}
}

/* YYYYMMDDTHHMMSSZ: its first eight bytes are the scope's date. */
static int
sigv4_date_ok(const char *d)
{
	size_t	 i;

	if (d == NULL || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
		return 0;
	for (i = 0; i < 15; i++)
		if (i != 8 && (d[i] < '0' || d[i] > '9'))
			return 0;
	return 1;
}

static int
sigv4_complete(const struct sigv4_req *s)
{
	return s->method != NULL && s->path != NULL && s->host != NULL &&
	    s->payload_sha256 != NULL && sigv4_date_ok(s->amz_date) &&
	    s->region != NULL && s->service != NULL &&
	    s->access_key != NULL && s->secret_key != NULL &&
	    (s->nheaders == 0 || s->headers != NULL);
}

/*
 * The canonical request: method, path, query, the signed headers one a
 * line, a blank line, their names, the payload's hash.
 */
int
sigv4_canonical(const struct sigv4_req *s, char *buf, size_t bufsz)
{
	struct sigv4_hdr	 h[SIGV4_HEADERS_MAX];
	struct sigv4_out	 o;
	size_t			 n, i;

	sigv4_out_init(&o, buf, bufsz);
	if (!sigv4_complete(s) || sigv4_headers(s, h, &n) == -1)
		return -1;
	sigv4_puts(&o, s->method);
	sigv4_put(&o, "\n", 1);
	sigv4_puts(&o, s->path);
	sigv4_put(&o, "\n", 1);
	sigv4_puts(&o, s->query != NULL ? s->query : "");
	sigv4_put(&o, "\n", 1);
	for (i = 0; i < n; i++) {
		sigv4_put_lower(&o, h[i].name, h[i].namelen);
		sigv4_put(&o, ":", 1);
		sigv4_put_trimmed(&o, h[i].value);
		sigv4_put(&o, "\n", 1);
	}
	sigv4_put(&o, "\n", 1);
	sigv4_put_signed(&o, h, n);
	sigv4_put(&o, "\n", 1);
	sigv4_puts(&o, s->payload_sha256);
	if (o.full && bufsz > 0)
		buf[0] = '\0';
	return o.full ? -1 : 0;
}

/*
 * The signing key: HMAC-SHA256 chained from "AWS4" and the secret over
 * the date, the region, the service and "aws4_request".  Every
 * intermediate key is wiped; so is the caller's copy (key) by the caller.
 */
static int
sigv4_key(const struct sigv4_req *s, unsigned char key[32])
{
	unsigned char	 k0[4 + SIGV4_SECRET_MAX], k1[32];
	size_t		 slen;

	if ((slen = strlen(s->secret_key)) > SIGV4_SECRET_MAX)
		return -1;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, s->secret_key, slen);
	crypto_hmac_sha256(k0, 4 + slen, s->amz_date, 8, k1);
	crypto_hmac_sha256(k1, 32, s->region, strlen(s->region), key);
	crypto_hmac_sha256(key, 32, s->service, strlen(s->service), k1);
	crypto_hmac_sha256(k1, 32, "aws4_request", 12, key);
	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(k1, sizeof(k1));
	return 0;
}

/* The hex signature of the request, its scope in scope. */
static int
sigv4_sign(const struct sigv4_req *s, char *scope, size_t scopesz,
    char sig[65])
{
	char		 canon[SIGV4_CANON_MAX], sts[512], hex[65];
	unsigned char	 md[32], key[32];
	int		 n, rc = -1;

	if (sigv4_canonical(s, canon, sizeof(canon)) == -1)
		goto done;
	n = snprintf(scope, scopesz, "%.8s/%s/%s/aws4_request", s->amz_date,
	    s->region, s->service);
	if (n < 0 || (size_t)n >= scopesz)
		goto done;
	crypto_sha256(canon, strlen(canon), md);
	util_hex(md, sizeof(md), hex);
	n = snprintf(sts, sizeof(sts), "%s\n%s\n%s\n%s", SIGV4_ALGORITHM,
	    s->amz_date, scope, hex);
	if (n < 0 || (size_t)n >= sizeof(sts))
		goto done;
	if (sigv4_key(s, key) == -1)
		goto done;
	crypto_hmac_sha256(key, sizeof(key), sts, (size_t)n, md);
	util_hex(md, sizeof(md), sig);
	rc = 0;
done:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/*
 * The Authorization header's value: "AWS4-HMAC-SHA256 Credential=
 * <access key>/<scope>, SignedHeaders=<names>, Signature=<hex>".
 */
int
sigv4_authorization(const struct sigv4_req *s, char *buf, size_t bufsz)
{
	struct sigv4_hdr	 h[SIGV4_HEADERS_MAX];
	struct sigv4_out	 o;
	char			 scope[256], sig[65];
	size_t			 n;

	sigv4_out_init(&o, buf, bufsz);
	if (!sigv4_complete(s) || sigv4_headers(s, h, &n) == -1 ||
	    sigv4_sign(s, scope, sizeof(scope), sig) == -1)
		return -1;
	sigv4_puts(&o, SIGV4_ALGORITHM " Credential=");
	sigv4_puts(&o, s->access_key);
	sigv4_put(&o, "/", 1);
	sigv4_puts(&o, scope);
	sigv4_puts(&o, ", SignedHeaders=");
	sigv4_put_signed(&o, h, n);
	sigv4_puts(&o, ", Signature=");
	sigv4_puts(&o, sig);
	if (o.full && bufsz > 0)
		buf[0] = '\0';
	return o.full ? -1 : 0;
}
