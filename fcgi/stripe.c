/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The Stripe API client (../shared/stripe/CONTRACT.md): form-encoded
 * bodies with Stripe's bracketed keys, the API version pinned, the
 * secret key as a bearer token, an Idempotency-Key chosen by the caller
 * per logical operation and sent unchanged on every retry, and the
 * retry rules of the official libraries: a connection error or timeout,
 * 409, 5xx or "Stripe-Should-Retry: true" is retried with jittered
 * exponential backoff; "Stripe-Should-Retry: false" never is.  A 429
 * is retried too: it is refused before Stripe's idempotency layer, so a
 * retry with the same key is safe, and Stripe asks for backoff.
 *
 * One libcurl handle per process keeps the connection to Stripe alive
 * between calls.  The secret key never reaches a log line.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "tollgate.h"

#define STRIPE_VERSION		"2026-07-29.dahlia"
#define STRIPE_RESP_MAX		(2 * 1024 * 1024)
#define STRIPE_CONNECT_MS	5000L
#define STRIPE_TRIES		4	/* the first call and three retries */

static CURL	*stripe_curl;
static long	 stripe_budget_ms = 15000;

/* Is billing configured at all (a secret key)? */
int
stripe_configured(void)
{
	return conf.stripe_secret_key != NULL &&
	    conf.stripe_secret_key[0] != '\0';
}

/* A test-mode key: the portal says so on every billing page. */
int
stripe_test_mode(void)
{
	return stripe_configured() &&
	    (strncmp(conf.stripe_secret_key, "sk_test_", 8) == 0 ||
	    strncmp(conf.stripe_secret_key, "rk_test_", 8) == 0);
}

/*
 * The whole time a call may take, retries included: 15 s in a request
 * handler (SPEC 7); commands that are not serving anyone may allow more.
 */
void
stripe_set_budget(long ms)
{
	stripe_budget_ms = ms;
}

/* --- form encoding ------------------------------------------------------ */

/*
 * Append s percent-encoded to a form: unreserved characters as they
 * are, everything else as %XX.  Brackets stay literal in keys (Stripe
 * accepts both; the official libraries leave them), never in values.
 */
static int
stripe_form_escape(struct buf *b, const char *s, int key)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			 e[3];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~' || (key && (*p == '[' || *p == ']'))) {
			if (buf_append(b, p, 1) == -1)
				return -1;
			continue;
		}
		e[0] = '%';
		e[1] = hex[*p >> 4];
		e[2] = hex[*p & 15];
		if (buf_append(b, e, 3) == -1)
			return -1;
	}
	return 0;
}

/*
 * Add key=value to a form body.  Nested and indexed keys are written by
 * the caller ("line_items[0][price]"): arrays are always indexed, as
 * the official libraries send them.  A NULL value is left out (an empty
 * string is sent: it unsets a field at Stripe).  -1 past the cap.
 */
int
stripe_form_add(struct buf *b, const char *key, const char *value)
{
	if (value == NULL)
		return 0;
	if ((b->len > 0 && buf_append(b, "&", 1) == -1) ||
	    stripe_form_escape(b, key, 1) == -1 || buf_append(b, "=", 1) == -1 ||
	    stripe_form_escape(b, value, 0) == -1)
		return -1;
	return 0;
}

/* stripe_form_add() with the key made by a format ("items[%zu][price]"). */
int
stripe_form_addf(struct buf *b, const char *value, const char *fmt, ...)
{
	char	 key[256];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(key))
		return -1;
	return stripe_form_add(b, key, value);
}

/* --- the call ----------------------------------------------------------- */

/*
 * Backoff before retry n (1, 2, ...): min(0.5 * 2^(n-1), 5) seconds
 * times a jitter factor in [0.5, 1], never under 0.5 s (CONTRACT 4).
 */
long
stripe_backoff_ms(int n, unsigned int jitter)
{
	double	 s;

	s = 0.5;
	while (--n > 0 && s < 5.0)
		s *= 2;
	if (s > 5.0)
		s = 5.0;
	s *= 0.5 + (double)(jitter % 1001) / 2000.0;
	if (s < 0.5)
		s = 0.5;
	return (long)(s * 1000);
}

struct stripe_resp {
	struct buf	 body;
	int		 should_retry;	/* -1 unset, 0 false, 1 true */
	char		 request_id[64];
};

static size_t
stripe_write(char *p, size_t sz, size_t n, void *arg)
{
	struct stripe_resp	*resp = arg;

	if (buf_append(&resp->body, p, sz * n) == -1)
		return 0;
	return sz * n;
}

/* Header lines of interest: Stripe-Should-Retry and Request-Id. */
static size_t
stripe_header(char *p, size_t sz, size_t n, void *arg)
{
	struct stripe_resp	*resp = arg;
	size_t			 len = sz * n, vlen;
	const char		*v;

	if (len > 20 && strncasecmp(p, "Stripe-Should-Retry:", 20) == 0) {
		v = p + 20;
		while (*v == ' ')
			v++;
		resp->should_retry = strncasecmp(v, "true", 4) == 0 ? 1 :
		    strncasecmp(v, "false", 5) == 0 ? 0 : -1;
	} else if (len > 11 && strncasecmp(p, "Request-Id:", 11) == 0) {
		v = p + 11;
		while (*v == ' ')
			v++;
		vlen = strcspn(v, "\r\n");
		if (vlen >= sizeof(resp->request_id))
			vlen = sizeof(resp->request_id) - 1;
		memcpy(resp->request_id, v, vlen);
		resp->request_id[vlen] = '\0';
	}
	return len;
}

static CURL *
stripe_handle(void)
{
	if (stripe_curl == NULL)
		stripe_curl = curl_easy_init();
	else
		curl_easy_reset(stripe_curl);
	return stripe_curl;
}

static void
stripe_copy(char *dst, size_t dstsz, struct json_object *o, const char *k)
{
	struct json_object	*v;

	dst[0] = '\0';
	if (json_object_object_get_ex(o, k, &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(dst, dstsz, "%s", json_object_get_string(v));
}

/* Stripe's error object, {"error": {type, code, param, message}}. */
static void
stripe_error_of(struct json_object *o, struct stripe_err *e)
{
	struct json_object	*err;

	if (o == NULL || !json_object_object_get_ex(o, "error", &err) ||
	    !json_object_is_type(err, json_type_object))
		return;
	stripe_copy(e->type, sizeof(e->type), err, "type");
	stripe_copy(e->code, sizeof(e->code), err, "code");
	stripe_copy(e->param, sizeof(e->param), err, "param");
	stripe_copy(e->message, sizeof(e->message), err, "message");
}

/* One attempt; the curl result, the HTTP status in *status. */
static CURLcode
stripe_attempt(const char *method, const char *url, const struct buf *form,
    const char *idem_key, long timeout_ms, struct stripe_resp *resp,
    long *status)
{
	struct curl_slist	*h = NULL;
	CURL			*c;
	CURLcode		 cc;
	char			 line[320];

	if ((c = stripe_handle()) == NULL)
		return CURLE_OUT_OF_MEMORY;
	buf_reset(&resp->body);
	resp->should_retry = -1;
	resp->request_id[0] = '\0';
	snprintf(line, sizeof(line), "Stripe-Version: %s", STRIPE_VERSION);
	h = curl_slist_append(h, line);
	if (idem_key != NULL) {
		snprintf(line, sizeof(line), "Idempotency-Key: %s", idem_key);
		h = curl_slist_append(h, line);
	}
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
	curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, conf.stripe_secret_key);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "Tollgate/" TOLLGATE_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, STRIPE_CONNECT_MS <
	    timeout_ms ? STRIPE_CONNECT_MS : timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stripe_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, stripe_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, form != NULL ?
		    form->p : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, form != NULL ?
		    (long)form->len : 0L);
	} else if (strcmp(method, "DELETE") == 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	cc = curl_easy_perform(c);
	*status = 0;
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	return cc;
}

/* Should this outcome be tried again (CONTRACT 4, plus 429)? */
static int
stripe_retryable(CURLcode cc, long status, int should_retry)
{
	if (cc != CURLE_OK)
		return cc != CURLE_WRITE_ERROR && cc != CURLE_OUT_OF_MEMORY;
	if (should_retry == 0)
		return 0;
	if (should_retry == 1)
		return 1;
	return status == 409 || status == 429 || status >= 500;
}

static void
stripe_sleep_ms(long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		continue;
}

/*
 * Call Stripe: METHOD (GET, POST, DELETE) on PATH ("/v1/customers",
 * with its query for a GET), the form body of a POST, the operation's
 * Idempotency-Key (POST only; NULL for reads).  0 with the answer in
 * *out (owned by the request), or -1 with *e filled: e->status is
 * Stripe's HTTP status, 0 when Stripe could not be reached in time.
 */
int
stripe_call(struct req *r, const char *method, const char *path,
    const struct buf *form, const char *idem_key, struct json_object **out,
    struct stripe_err *e)
{
	struct stripe_resp	 resp;
	struct json_object	*o = NULL;
	CURLcode		 cc = CURLE_OK;
	double			 deadline;
	unsigned int		 jitter;
	long			 status = 0, left, wait;
	char			*url;
	int			 try, rc = -1;

	memset(e, 0, sizeof(*e));
	*out = NULL;
	memset(&resp, 0, sizeof(resp));
	buf_init(&resp.body, STRIPE_RESP_MAX);
	url = arena_printf(&r->arena, "%s%s", conf.stripe_api_base, path);
	deadline = util_now_ms() + (double)stripe_budget_ms;
	for (try = 1; try <= STRIPE_TRIES; try++) {
		left = (long)(deadline - util_now_ms());
		if (left < 100)
			break;
		cc = stripe_attempt(method, url, form, idem_key, left, &resp,
		    &status);
		if (cc == CURLE_OK && status >= 200 && status < 300)
			break;
		if (cc != CURLE_OK)
			log_warnx("stripe: %s %s: %s (try %d)", method, path,
			    curl_easy_strerror(cc), try);
		else
			log_warnx("stripe: %s %s: %ld%s%s (try %d)", method,
			    path, status, resp.request_id[0] != '\0' ?
			    " request " : "", resp.request_id, try);
		if (try == STRIPE_TRIES ||
		    !stripe_retryable(cc, status, resp.should_retry))
			break;
		util_random(&jitter, sizeof(jitter));
		wait = stripe_backoff_ms(try, jitter);
		if (util_now_ms() + (double)wait >= deadline - 100)
			break;
		stripe_sleep_ms(wait);
	}
	if (cc != CURLE_OK || status == 0) {
		e->status = 0;
		snprintf(e->message, sizeof(e->message), "%s",
		    "Stripe could not be reached.");
		goto done;
	}
	o = req_json_object(r, resp.body.p, resp.body.len);
	if (status < 200 || status >= 300) {
		e->status = (int)status;
		stripe_error_of(o, e);
		goto done;
	}
	if (o == NULL) {
		e->status = (int)status;
		snprintf(e->message, sizeof(e->message), "%s",
		    "Stripe answered something that is not a JSON object.");
		log_warnx("stripe: %s %s: unreadable answer", method, path);
		goto done;
	}
	*out = o;
	rc = 0;
done:
	buf_free(&resp.body);
	return rc;
}

/*
 * What to tell the user about a failed call (answered 502
 * upstream_error).  Stripe's own message is passed on only for errors
 * about what the user asked for (an invalid coupon, a declined card); an
 * error about our credentials or our request is logged, and the user
 * gets a plain sentence.
 */
const char *
stripe_message(struct req *r, const struct stripe_err *e)
{
	if (e->status == 0)
		return "The payment provider could not be reached; try again "
		    "in a minute.";
	log_warnx("stripe: refused %d %s %s %s", e->status, e->type, e->code,
	    e->param);
	if (e->message[0] != '\0' && (strcmp(e->type, "card_error") == 0 ||
	    (strcmp(e->type, "invalid_request_error") == 0 &&
	    (strncmp(e->param, "discounts", 9) == 0 ||
	    strcmp(e->param, "coupon") == 0))))
		return arena_strdup(&r->arena, e->message);
	return "The payment provider refused the request.";
}

/* --- reading Stripe's objects ------------------------------------------- */

/* The id of an expandable field: the string, or the object's "id". */
const char *
stripe_id(struct json_object *o, const char *path)
{
	const char	*s;

	if ((s = http_json_text(o, path)) != NULL)
		return s;
	return http_json_text(http_json_at(o, path), "id");
}
