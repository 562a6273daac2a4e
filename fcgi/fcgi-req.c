/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * struct req, one unit of work, from the FastCGI parameters to the
 * response: parsing with caps, the body, the error shape of SPEC 5,
 * redirects and the response head.  This file calls nothing above it:
 * the pipeline that runs a request (responder.c) and everything it
 * calls sit on top of these helpers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "tollgate.h"

#define REQ_URI_MAX	8192

void
req_init(struct req *r)
{
	memset(r, 0, sizeof(*r));
	arena_init(&r->arena);
	buf_init(&r->body, REQ_BODY_MAX);
	buf_init(&r->out, REQ_RESP_MAX);
	r->route = -1;
}

/*
 * Start a unit of work that is not an HTTP request (a worker job, an
 * admin command) on a released request: a fresh id for its log lines
 * and audit rows, and "what" as the address its audit rows record.
 */
void
req_job(struct req *r, const char *what)
{
	req_set_id(r, NULL);
	r->method = "-";
	r->remote_addr = what;
	log_set_rid(r->id);
}

/* req_init() and req_job(): the first job of a process. */
void
req_init_job(struct req *r, const char *what)
{
	req_init(r);
	req_job(r, what);
}

/* Give back everything, buffers included; the struct is unusable. */
void
req_free(struct req *r)
{
	req_release(r);
	arena_free(&r->arena);
	buf_free(&r->body);
	buf_free(&r->out);
}

/*
 * The request's input points into the FastCGI record, which dies with
 * FCGX_Finish_r(): after that (the after-work), nothing may read it.
 * Cleared, a stray use reads NULL instead of freed memory.
 */
void
req_input_gone(struct req *r)
{
	r->method = NULL;
	r->uri = NULL;
	r->query = NULL;
	r->content_type = NULL;
	r->remote_addr = NULL;
	r->authorization = NULL;
	r->cookie = NULL;
	r->origin = NULL;
	r->referer = NULL;
	r->user_agent = NULL;
	r->idempotency_key = NULL;
	r->envp = NULL;
	r->stripe_signature = NULL;
	memset(&r->args, 0, sizeof(r->args));
	memset(&r->cookies, 0, sizeof(r->cookies));
}

/* The value of a FastCGI parameter, or NULL. */
const char *
req_param(char **envp, const char *name)
{
	size_t	 n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* A method is an upper-case token of at most 16 characters. */
static int
req_method_valid(const char *m)
{
	size_t	 n;

	for (n = 0; m[n] != '\0'; n++)
		if (m[n] < 'A' || m[n] > 'Z')
			return 0;
	return n > 0 && n <= 16;
}

/*
 * Fill the request from the FastCGI parameters.  The path comes from
 * REQUEST_URI, which lighttpd and Apache both pass undecoded; it is
 * split from the query and percent-decoded once.
 */
int
req_from_params(struct req *r, char **envp, const char **cause)
{
	const char	*uri, *q, *v;
	long long	 len;
	size_t		 plen;

	if ((v = req_param(envp, "REQUEST_METHOD")) == NULL ||
	    !req_method_valid(v)) {
		*cause = "bad request method";
		return -1;
	}
	r->method = v;
	if ((uri = req_param(envp, "REQUEST_URI")) == NULL)
		uri = req_param(envp, "SCRIPT_NAME");
	if (uri == NULL || uri[0] != '/' || strlen(uri) > REQ_URI_MAX) {
		*cause = "bad request URI";
		return -1;
	}
	r->uri = uri;
	r->envp = envp;
	q = strchr(uri, '?');
	plen = q != NULL ? (size_t)(q - uri) : strlen(uri);
	r->path = arena_strndup(&r->arena, uri, plen);
	if (http_urldecode(r->path, &plen, 0) == -1 ||
	    !http_utf8_valid(r->path, plen)) {
		*cause = "bad percent-encoding in path";
		return -1;
	}
	r->query = q != NULL ? q + 1 : "";
	if ((v = req_param(envp, "QUERY_STRING")) != NULL && q == NULL)
		r->query = v;
	r->content_type = req_param(envp, "CONTENT_TYPE");
	if ((v = req_param(envp, "CONTENT_LENGTH")) != NULL && *v != '\0') {
		if (util_strtonum(v, 0, (long long)1 << 50, &len) == -1) {
			*cause = "bad Content-Length";
			return -1;
		}
		r->content_length = len;
	}
	r->remote_addr = req_param(envp, "REMOTE_ADDR");
	if (r->remote_addr == NULL)
		r->remote_addr = "";
	r->authorization = req_param(envp, "HTTP_AUTHORIZATION");
	r->cookie = req_param(envp, "HTTP_COOKIE");
	r->origin = req_param(envp, "HTTP_ORIGIN");
	r->referer = req_param(envp, "HTTP_REFERER");
	r->user_agent = req_param(envp, "HTTP_USER_AGENT");
	r->idempotency_key = req_param(envp, "HTTP_IDEMPOTENCY_KEY");
	r->stripe_signature = req_param(envp, "HTTP_STRIPE_SIGNATURE");
	v = req_param(envp, "HTTPS");
	r->https = v != NULL && (strcmp(v, "on") == 0 || strcmp(v, "1") == 0);
	if (http_parse_pairs(&r->arena, r->query, strlen(r->query), 1,
	    &r->args, cause) == -1)
		return -1;
	if (http_parse_cookies(&r->arena, r->cookie, &r->cookies,
	    cause) == -1)
		return -1;
	return 0;
}

/*
 * A parameter the request path does not keep a field for (a header of
 * one route: "HTTP_IF_MATCH"); NULL when absent or after the input is
 * gone.
 */
const char *
req_env(const struct req *r, const char *name)
{
	return r->envp != NULL ? req_param(r->envp, name) : NULL;
}

/* The proxy's or client's request id when well-formed, else a new one. */
void
req_set_id(struct req *r, const char *v)
{
	unsigned char	 raw[REQ_ID_LEN / 2];

	if (v != NULL && http_rid_valid(v)) {
		snprintf(r->id, sizeof(r->id), "%s", v);
		return;
	}
	if (util_random(raw, sizeof(raw)) == -1)
		memset(raw, 0, sizeof(raw));
	util_hex(raw, sizeof(raw), r->id);
}

void
req_header(struct req *r, const char *name, const char *value)
{
	if (r->nheaders == REQ_HEADERS_MAX) {
		log_err("%s: too many headers, %s dropped", __func__, name);
		return;
	}
	r->headers[r->nheaders].name = name;
	r->headers[r->nheaders].value = value;
	r->nheaders++;
}

/* Set a JSON response; the object is consumed (released here). */
void
req_json(struct req *r, int status, struct json_object *o)
{
	const char	*s;

	r->status = status;
	r->content_type_out = "application/json";
	buf_reset(&r->out);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (buf_puts(&r->out, s) == -1 || buf_puts(&r->out, "\n") == -1) {
		log_err("%s: response over %d bytes", __func__, REQ_RESP_MAX);
		buf_reset(&r->out);
		r->status = 500;
		buf_printf(&r->out, "{\"error\":{\"type\":\"api_error\",\"code\":"
		    "\"response_too_large\",\"message\":\"The answer was too "
		    "large.\",\"param\":null,\"request_id\":\"%s\"}}\n", r->id);
	}
	json_object_put(o);
}

static const char *
req_error_type(int status)
{
	switch (status) {
	case 401:
		return "authentication_error";
	case 403:
		return "permission_error";
	case 429:
		return "rate_limit_error";
	case 502:
		return "upstream_error";
	case 503:
		return "service_unavailable";
	case 500:
		return "api_error";
	default:
		return "invalid_request_error";
	}
}

static void
req_error_page(struct req *r, int status, const char *message)
{
	r->status = status;
	r->content_type_out = "text/html; charset=utf-8";
	buf_reset(&r->out);
	buf_printf(&r->out, "<!doctype html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">"
	    "<title>%d %s</title><link rel=\"stylesheet\" "
	    "href=\"/static/tollgate.css\"></head>"
	    "<body class=\"error-page\">"
	    "<main><h1>%d %s</h1><p>", status, http_status_text(status),
	    status, http_status_text(status));
	http_html_text(&r->out, message);
	buf_printf(&r->out, "</p><p><a href=\"/dashboard\">Back to the "
	    "dashboard</a></p><p class=\"muted\">Request id <code>%s</code>"
	    "</p></main></body></html>\n", r->id);
}

/*
 * The request was refused (an error, a form shown again with its
 * errors, a redirect after a refusal): whatever its status, the
 * pipeline rolls its transaction back and sends no mail.
 */
void
req_refuse(struct req *r)
{
	r->refused = 1;
}

/*
 * Answer with the error shape of SPEC 5 (API routes) or an error page
 * (portal routes), and refuse the request.  "type" NULL derives it from
 * the status; "param" names the offending parameter or is NULL.
 */
void
req_error(struct req *r, int status, const char *type, const char *code,
    const char *message, const char *param)
{
	req_error_with(r, status, type, code, message, param, NULL, NULL);
}

/*
 * req_error() with more in the error object: extra (owned) under key,
 * or, with key NULL, extra's members (a limit's metric, limit, used).
 */
void
req_error_with(struct req *r, int status, const char *type, const char *code,
    const char *message, const char *param, const char *key,
    struct json_object *extra)
{
	struct json_object	*o, *e;

	req_refuse(r);
	if (r->resp_kind == RESP_PAGE) {
		json_object_put(extra);
		req_error_page(r, status, message);
		/* The pipeline shows it in the portal's shell (page_error). */
		r->error_page = 1;
		r->error_code = arena_strdup(&r->arena, code != NULL ? code :
		    "");
		r->error_message = arena_strdup(&r->arena, message != NULL ?
		    message : "");
		return;
	}
	e = json_object_new_object();
	json_object_object_add(e, "type", json_object_new_string(type != NULL ?
	    type : req_error_type(status)));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(e, "param", param != NULL ?
	    json_object_new_string(param) : NULL);
	json_object_object_add(e, "request_id", json_object_new_string(r->id));
	if (key != NULL)
		json_object_object_add(e, key, extra);
	else if (extra != NULL) {
		/* No key: extra's members join the error object. */
		json_object_object_foreach(extra, k, v)
			json_object_object_add(e, k, json_object_get(v));
		json_object_put(extra);
	}
	o = json_object_new_object();
	json_object_object_add(o, "error", e);
	req_json(r, status, o);
}

/*
 * Map a database failure to its answer: 503 when down, 400 for a value
 * the database refused, 500 otherwise.
 */
void
req_error_from_db(struct req *r, int rc)
{
	struct json_object	*extra;

	if (rc == DB_REFUSED && r->refusal_subject != NULL) {
		/* A quota or a budget: which, its limit, what is used. */
		extra = json_object_new_object();
		json_object_object_add(extra, strcmp(r->refusal_code,
		    "budget_exceeded") == 0 ? "agent_id" : "metric",
		    json_object_new_string(r->refusal_subject));
		json_object_object_add(extra, "limit",
		    json_object_new_int64(r->refusal_limit));
		json_object_object_add(extra, "used",
		    json_object_new_int64(r->refusal_used));
		req_error_with(r, 429, "quota_exceeded", r->refusal_code,
		    r->refusal_message, r->refusal_param, NULL, extra);
		return;
	}
	if (rc == DB_REFUSED) {
		req_error(r, r->refusal_status, NULL, r->refusal_code,
		    r->refusal_message, r->refusal_param);
		return;
	}
	if (rc == DB_INVALID) {
		req_error(r, 400, NULL, "invalid_value", "A parameter has a "
		    "value out of range.", NULL);
		return;
	}
	if (rc == DB_UNAVAILABLE) {
		req_header(r, "Retry-After", "5");
		req_error(r, 503, NULL, "database_unavailable",
		    "The database is unavailable; retry shortly.", NULL);
	} else
		req_error(r, 500, NULL, "internal_error",
		    "Internal error; it has been logged with the request id.",
		    NULL);
}

/* A validation failure as the 400 of SPEC 5, naming the parameter. */
void
req_error_valid(struct req *r, const struct vfail *f)
{
	req_error(r, 400, NULL, f->code, f->message, f->param);
}

static void
req_see_other(struct req *r, const char *location)
{
	r->status = 303;
	r->content_type_out = "text/html; charset=utf-8";
	r->error_page = 0;
	buf_reset(&r->out);
	req_header(r, "Location", location);
}

/* 303 See Other to a path of the portal (never a foreign URL). */
void
req_redirect(struct req *r, const char *path)
{
	req_see_other(r, path[0] == '/' && path[1] != '/' ? path : "/");
}

/*
 * 303 See Other to another site, for the one trusted case: a page
 * sent on to Stripe (Checkout, the billing portal) at the URL Stripe's
 * own answer gave.  Only an absolute http(s) URL of printable ASCII
 * passes (nothing that could split the header); anything else goes to
 * the portal's root, as req_redirect() does with a foreign URL.
 */
void
req_redirect_external(struct req *r, const char *url)
{
	const char	*p;

	if (url == NULL || (strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "http://", 7) != 0)) {
		req_redirect(r, "/");
		return;
	}
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			req_redirect(r, "/");
			return;
		}
	req_see_other(r, url);
}

/*
 * Read exactly content_length bytes of body through "rd" (FCGX_GetStr
 * in production, a fake in tests).  The caller has already refused a
 * length over the cap.
 */
int
req_read_body(struct req *r, int (*rd)(void *, char *, int), void *arg)
{
	char		 chunk[16384];
	long long	 left = r->content_length;
	int		 n, want;

	buf_reset(&r->body);
	while (left > 0) {
		want = left > (long long)sizeof(chunk) ? (int)sizeof(chunk) :
		    (int)left;
		if ((n = rd(arg, chunk, want)) <= 0)
			return -1;
		if (buf_append(&r->body, chunk, (size_t)n) == -1)
			return -1;
		left -= n;
	}
	return 0;
}

/*
 * Read up to n bytes of a streamed body (BODY_STREAM): what is left of
 * Content-Length, never more.  The count, 0 at its end, -1 when the
 * client's body ended early.
 */
int
req_in_read(struct req *r, char *p, int n)
{
	int	 got;

	if (r->in_left <= 0)
		return 0;
	if ((long long)n > r->in_left)
		n = (int)r->in_left;
	if (r->in_rd == NULL || (got = r->in_rd(r->in_arg, p, n)) <= 0)
		return -1;
	r->in_left -= got;
	return got;
}

/*
 * Send the head now (status and headers as set), for an answer whose
 * body follows through req_stream_write(): an object too big for the
 * response buffer.  From here on the answer cannot change.
 */
int
req_stream_head(struct req *r)
{
	struct buf	 head;
	int		 rc = -1;

	if (r->out_wr == NULL || r->streamed)
		return -1;
	buf_init(&head, 65536);
	req_render_head(r, &head);
	r->streamed = 1;
	if (r->out_wr(r->out_arg, head.p, (int)head.len) == (int)head.len)
		rc = 0;
	buf_free(&head);
	return rc;
}

/* What was written goes to the web server now (a stream's event). */
int
req_stream_flush(struct req *r)
{
	if (!r->streamed || r->out_flush == NULL)
		return -1;
	return r->out_flush(r->out_arg);
}

int
req_stream_write(struct req *r, const void *p, size_t n)
{
	if (!r->streamed || n > INT_MAX)
		return -1;
	if (strcmp(r->method, "HEAD") == 0 || n == 0)
		return 0;
	return r->out_wr(r->out_arg, p, (int)n) == (int)n ? 0 : -1;
}

static void
req_json_put(void *o)
{
	json_object_put(o);
}

static int
req_parse_json(struct req *r)
{
	struct json_tokener	*tok;
	struct json_object	*o = NULL;
	int			 rc = -1;

	if (!http_utf8_valid(r->body.p, r->body.len)) {
		req_error(r, 400, NULL, "invalid_utf8",
		    "The body is not valid UTF-8.", NULL);
		return -1;
	}
	if (!http_json_valid(r->body.p, r->body.len)) {
		req_error(r, 400, NULL, "invalid_json",
		    "The body is not valid JSON.", NULL);
		return -1;
	}
	/* The check above bounds containers; json-c counts one level more. */
	if ((tok = json_tokener_new_ex(REQ_JSON_DEPTH + 1)) == NULL) {
		req_error(r, 500, NULL, "internal_error", "Out of memory.", NULL);
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, r->body.p, (int)r->body.len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != r->body.len) {
		req_error(r, 400, NULL, "invalid_json",
		    "The body is not valid JSON.", NULL);
		goto done;
	}
	if (!json_object_is_type(o, json_type_object)) {
		req_error(r, 400, NULL, "invalid_json",
		    "The body must be a JSON object.", NULL);
		goto done;
	}
	r->json = o;
	o = NULL;
	arena_defer(&r->arena, req_json_put, r->json);
	rc = 0;
done:
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

/*
 * A provider's answer (Stripe, Slack, Graph) as a JSON object owned by
 * the request, parsed with the request's limits; NULL for anything
 * else (empty, not JSON, not an object).
 */
struct json_object *
req_json_object(struct req *r, const char *p, size_t n)
{
	struct json_object	*o;

	if ((o = http_json_parse(p, n, REQ_JSON_DEPTH * 2)) != NULL)
		arena_defer(&r->arena, req_json_put, o);
	return o;
}

/*
 * Check and parse the body the route expects.  Returns -1 when the
 * response (415, 400) has been set.
 */
int
req_parse_body(struct req *r, enum body_kind kind)
{
	const char	*cause = NULL;

	switch (kind) {
	case BODY_JSON:
		if (!http_media_type_is(r->content_type, "application/json")) {
			req_error(r, 415, NULL, "unsupported_media_type",
			    "The body must be application/json.", NULL);
			return -1;
		}
		if (r->body.len == 0) {
			req_error(r, 400, NULL, "invalid_json",
			    "A JSON object body is required.", NULL);
			return -1;
		}
		return req_parse_json(r);
	case BODY_FORM:
		if (!http_media_type_is(r->content_type,
		    "application/x-www-form-urlencoded")) {
			req_error(r, 415, NULL, "unsupported_media_type",
			    "The form must be application/x-www-form-urlencoded.",
			    NULL);
			return -1;
		}
		if (http_parse_pairs(&r->arena, r->body.p, r->body.len, 1,
		    &r->form, &cause) == -1) {
			req_error(r, 400, NULL, "invalid_form", cause, NULL);
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

/* The response head: Status, content type, request id, the headers. */
void
req_render_head(struct req *r, struct buf *b)
{
	size_t	 i;

	buf_printf(b, "Status: %d %s\r\n", r->status,
	    http_status_text(r->status));
	if (r->status != 204 && r->status != 304)
		buf_printf(b, "Content-Type: %s\r\n", r->content_type_out != NULL ?
		    r->content_type_out : "application/json");
	buf_printf(b, "X-Request-Id: %s\r\n", r->id);
	/* A stream says no-cache itself; everything else is no-store. */
	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, "Cache-Control") == 0)
			break;
	if (i == r->nheaders)
		buf_puts(b, "Cache-Control: no-store\r\n");
	if (r->rate_set)
		buf_printf(b, "X-RateLimit-Limit: %d\r\nX-RateLimit-Remaining: "
		    "%d\r\nX-RateLimit-Reset: %d\r\n", r->rate.limit,
		    r->rate.remaining, r->rate.reset);
	for (i = 0; i < r->nheaders; i++)
		buf_printf(b, "%s: %s\r\n", r->headers[i].name,
		    r->headers[i].value);
	buf_puts(b, "\r\n");
}

/* Release everything the request owns; the struct is ready for reuse. */
void
req_release(struct req *r)
{
	struct buf	 body = r->body, out = r->out;
	struct arena	 arena;

	if (r->in_tx)
		db_rollback(r);
	arena_reset(&r->arena);
	arena = r->arena;
	buf_reset(&body);
	buf_reset(&out);
	/* Keep the buffers' memory unless a big request inflated it. */
	if (body.size > 65536)
		buf_free(&body);
	if (out.size > 262144)
		buf_free(&out);
	memset(r, 0, sizeof(*r));
	r->arena = arena;
	r->body = body;
	r->out = out;
	r->route = -1;
}
