/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Calls to the providers other than Stripe (Slack, Meta's Graph API):
 * one HTTP exchange, a JSON or form body out and the answer back, in a
 * bounded time.  A person is waiting on these calls (the portal, the
 * API), so there is no retry here: a provider that is down is answered
 * 502 upstream_error by the caller, and background work retries on its
 * own schedule.  The bearer token is handed to libcurl and never
 * logged; the log line names the host and the first two segments of
 * the path only (upstream_where()).
 *
 * One libcurl handle per process keeps connections alive between calls.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "tollgate.h"

#define UPSTREAM_RESP_MAX	(256 * 1024)
#define UPSTREAM_CONNECT_MS	3000L
#define UPSTREAM_TIMEOUT_MS	10000L

static CURL	*upstream_curl;

static size_t
upstream_write(char *p, size_t sz, size_t n, void *arg)
{
	struct buf	*b = arg;

	if (buf_append(b, p, sz * n) == -1)
		return 0;
	return sz * n;
}

/* Retry-After, kept to pass on to the client. */
static size_t
upstream_header(char *p, size_t sz, size_t n, void *arg)
{
	struct upstream_resp	*u = arg;
	size_t			 len = sz * n, vlen;
	const char		*v;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		v = p + 12;
		while (*v == ' ')
			v++;
		vlen = strspn(v, "0123456789");
		if (vlen > 0 && vlen < sizeof(u->retry_after)) {
			memcpy(u->retry_after, v, vlen);
			u->retry_after[vlen] = '\0';
		}
	}
	return len;
}

/*
 * A URL for the log: its origin and at most two segments of its path,
 * never its query.  Enough to tell the call ("/api/chat.postMessage",
 * "/v21.0/<phone number id>") and never a secret in a path: the third
 * and later segments of a Slack incoming webhook are its key.
 */
static void
upstream_where(const char *url, char *out, size_t outsz)
{
	const char	*p = strstr(url, "://");
	size_t		 n;
	int		 segs = 0;

	p = p != NULL ? p + 3 : url;
	n = (size_t)(p - url) + strcspn(p, "/?#");
	while (url[n] == '/' && segs < 2) {
		n++;
		n += strcspn(url + n, "/?#");
		segs++;
	}
	snprintf(out, outsz, "%.*s%s", (int)n, url, url[n] == '/' ?
	    "/..." : "");
}

/*
 * METHOD (GET or POST) on URL with an optional bearer token and body
 * of the given content type.  0 when the provider answered (any
 * status: u->status, and u->json when it was a JSON object), -1 when it could not be reached in time or
 * answered more than UPSTREAM_RESP_MAX.
 */
int
upstream_call(struct req *r, const char *method, const char *url,
    const char *bearer, const char *ctype, const char *body,
    struct upstream_resp *u)
{
	struct curl_slist	*h = NULL;
	struct buf		 b;
	CURL			*c;
	CURLcode		 cc;
	char			 where[256], line[128];
	double			 t0 = util_now_ms();
	int			 rc = -1;

	memset(u, 0, sizeof(*u));
	buf_init(&b, UPSTREAM_RESP_MAX);
	upstream_where(url, where, sizeof(where));
	if (upstream_curl == NULL)
		upstream_curl = curl_easy_init();
	else
		curl_easy_reset(upstream_curl);
	if ((c = upstream_curl) == NULL)
		goto done;
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	if (ctype != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (bearer != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, bearer);
	}
	curl_easy_setopt(c, CURLOPT_USERAGENT, "Tollgate/" TOLLGATE_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, UPSTREAM_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, UPSTREAM_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, upstream_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, upstream_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, u);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body :
		    "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body != NULL ?
		    (long)strlen(body) : 0L);
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		log_warnx("upstream: %s %s: %s after %.0f ms", method, where,
		    curl_easy_strerror(cc), util_now_ms() - t0);
		goto done;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &u->status);
	u->json = req_json_object(r, b.p, b.len);
	log_info("upstream: %s %s: %ld in %.0f ms", method, where, u->status,
	    util_now_ms() - t0);
	rc = 0;
done:
	curl_slist_free_all(h);
	/* The answer may carry a token (oauth.v2.access). */
	if (b.p != NULL)
		OPENSSL_cleanse(b.p, b.len);
	buf_free(&b);
	return rc;
}

/* A form body's "k=v" pair appended, both escaped. */
void
upstream_form_add(struct req *r, char **form, const char *k, const char *v)
{
	char	*ek, *ev;

	ek = curl_easy_escape(NULL, k, 0);
	ev = curl_easy_escape(NULL, v, 0);
	*form = arena_printf(&r->arena, "%s%s%s=%s", *form != NULL ? *form :
	    "", *form != NULL && **form != '\0' ? "&" : "", ek != NULL ? ek :
	    "", ev != NULL ? ev : "");
	curl_free(ek);
	curl_free(ev);
}
