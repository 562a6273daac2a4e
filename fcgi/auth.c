/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Who is asking, and may they: bearer tokens (access JWTs and API keys),
 * portal sessions with their CSRF tokens, roles, scopes and rate limits.
 * It runs in two steps around the body: auth_identify() checks the
 * credential before the body is read (so a stranger gets 401, not a
 * parse error), auth_bind() opens the transaction scoped to the tenant,
 * checks membership, role and rate, and runs CSRF checks on forms.
 *
 * Binding costs one database round trip (SPEC 14): an API key is
 * looked up, its tenant bound and the tenant read by one pipelined
 * BEGIN + auth_bind_key(), after the body (a platform key names its
 * tenant there); a user's membership and tenant come with BEGIN the
 * same way.  Nothing is cached, so a revoked key fails at once.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "tollgate.h"

#define AUTH_COOKIE_SESSION	"tg_session"
#define AUTH_COOKIE_PRE		"tg_pre"

static const char *const	auth_role_names[ROLE__MAX] = {
	"none", "member", "admin", "owner"
};

enum role
auth_role_parse(const char *s)
{
	int	 i;

	for (i = ROLE_MEMBER; s != NULL && i < ROLE__MAX; i++)
		if (strcmp(s, auth_role_names[i]) == 0)
			return (enum role)i;
	return ROLE_NONE;
}

const char *
auth_role_name(enum role role)
{
	return role < ROLE__MAX ? auth_role_names[role] : "none";
}

/* The token after "Bearer ", or NULL. */
static const char *
auth_bearer(const struct req *r)
{
	const char	*a = r->authorization;

	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return NULL;
	a += 7;
	while (*a == ' ')
		a++;
	return *a != '\0' ? a : NULL;
}

static int
auth_fail(struct req *r, int status, const char *code, const char *msg)
{
	if (status == 401 && r->resp_kind == RESP_API)
		req_header(r, "WWW-Authenticate", "Bearer realm=\"tollgate\"");
	req_error(r, status, NULL, code, msg, NULL);
	return -1;
}

/*
 * A form token bound to "label" (a session id, or the pre-login
 * cookie): HMAC under a key derived from the JWT secret, so nothing is
 * stored and it cannot be computed without the secret.
 */
void
auth_csrf_token(const char *label, char out[48])
{
	unsigned char	 key[32], mac[32];

	crypto_hmac_sha256(conf.jwt_secret, strlen(conf.jwt_secret),
	    "tollgate csrf v1", 16, key);
	crypto_hmac_sha256(key, sizeof(key), label, strlen(label), mac);
	crypto_b64url_encode(mac, 24, out);
	explicit_bzero(key, sizeof(key));
}

/* scheme://host[:port] of the public URL, into out. */
static void
auth_public_origin(char *out, size_t outsz)
{
	const char	*p, *slash;
	size_t		 n;

	p = strstr(conf.public_url, "://");
	slash = p != NULL ? strchr(p + 3, '/') : NULL;
	n = slash != NULL ? (size_t)(slash - conf.public_url) :
	    strlen(conf.public_url);
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, conf.public_url, n);
	out[n] = '\0';
}

/*
 * A state-changing form must come from our own pages: Origin, or when
 * a browser sends none, Referer, must be the portal's origin.
 */
static int
auth_origin_ok(const struct req *r)
{
	char	 origin[512];
	size_t	 n;

	auth_public_origin(origin, sizeof(origin));
	n = strlen(origin);
	if (r->origin != NULL && strcmp(r->origin, "null") != 0)
		return strcmp(r->origin, origin) == 0;
	if (r->referer != NULL)
		return strncmp(r->referer, origin, n) == 0 &&
		    (r->referer[n] == '/' || r->referer[n] == '\0');
	return 0;
}

/*
 * The form token of the pre-login cookie, if the request carries one:
 * a sign-in form opened before a session began in another tab still
 * posts it.
 */
static int
auth_csrf_pre(struct req *r, char out[48])
{
	const char	*pre = http_kv_get(&r->cookies, AUTH_COOKIE_PRE);
	char		 label[CRYPTO_TOKEN_MAX + 4];

	if (pre == NULL || strlen(pre) != 43)
		return -1;
	snprintf(label, sizeof(label), "pre:%s", pre);
	auth_csrf_token(label, out);
	return 0;
}

static int
auth_token_is(const char *got, const char *want)
{
	return strlen(got) == strlen(want) &&
	    util_ct_equal(got, want, strlen(got));
}

static int
auth_csrf_check(struct req *r, const struct route *rt)
{
	const char	*got = http_kv_get(&r->form, "csrf");
	char		 pre[48];
	int		 ok;

	ok = got != NULL && auth_token_is(got, r->auth.csrf);
	/* Public forms (sign-in, sign-up, invitations): either token. */
	if (!ok && got != NULL && rt->auth == AUTH_PAGE_PUBLIC &&
	    auth_csrf_pre(r, pre) == 0)
		ok = auth_token_is(got, pre);
	if (!auth_origin_ok(r) || !ok)
		return auth_fail(r, 403, "csrf_failed", "This form has expired "
		    "or did not come from this site. Go back, reload the page "
		    "and try again.");
	return 0;
}

/* Count one request against a limit; 429 with the headers when over. */
int
auth_rate(struct req *r, const char *key, int limit)
{
	static char	 retry[16];

	r->rate_set = 1;
	if (rl_hit(key, limit, 60, time(NULL), &r->rate))
		return 0;
	metrics_add(METRIC_RATE_LIMITED, 1);
	snprintf(retry, sizeof(retry), "%d", r->rate.reset > 0 ?
	    r->rate.reset : 1);
	req_header(r, "Retry-After", retry);
	req_error(r, 429, NULL, "rate_limited", "Too many requests; retry "
	    "after the time in Retry-After.", NULL);
	return -1;
}

/*
 * An API key on a route for users only: 401 when unknown (as for any
 * bad credential), else 403.  On API routes the key is only hashed
 * here; auth_bind() identifies and binds it in one round trip.
 */
static int
auth_identify_key(struct req *r, const struct route *rt, const char *token)
{
	struct apikey_auth	 k;
	enum db_rc		 rc;

	crypto_token_hash_hex(token, r->auth.key_hash);
	if (rt->auth == AUTH_API)
		return 0;
	if ((rc = db_apikey_find(r, r->auth.key_hash, &k)) == DB_NOTFOUND)
		return auth_fail(r, 401, "invalid_api_key",
		    "The API key is unknown or revoked.");
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	return auth_fail(r, 403, "user_token_required",
	    "API keys cannot use this route; sign in as a user.");
}

/*
 * The body was refused, but an unknown key is the first thing a
 * stranger must hear: look the key up (a refusal path, so a round trip
 * more does not matter) and answer 401 instead when it is unknown.
 */
void
auth_key_refuse_unknown(struct req *r)
{
	struct apikey_auth	 k;

	if (r->auth.key_hash[0] == '\0' ||
	    db_apikey_find(r, r->auth.key_hash, &k) != DB_NOTFOUND)
		return;
	r->nheaders = 0;
	auth_fail(r, 401, "invalid_api_key",
	    "The API key is unknown or revoked.");
}

static int
auth_identify_bearer(struct req *r, const struct route *rt)
{
	struct jwt_claims	 c;
	const char		*token, *cause;
	char			 why[64];

	if ((token = auth_bearer(r)) == NULL)
		return auth_fail(r, 401, "missing_token",
		    "Authorization: Bearer <token> is required.");
	if (strncmp(token, "tg_", 3) == 0)
		return auth_identify_key(r, rt, token);
	if (jwt_verify(token, &c, &cause) == -1) {
		log_scrub(cause, why, sizeof(why));
		log_info("access token refused: %s", why);
		return auth_fail(r, 401, "invalid_token",
		    "The access token is invalid or expired.");
	}
	/*
	 * No issue time, no password-change cut-off: such a token was not
	 * made by jwt_issue() and is refused, signature or not.
	 */
	if (!valid_uuid(c.sub) || !valid_uuid(c.tid) || c.iat_ms <= 0)
		return auth_fail(r, 401, "invalid_token",
		    "The access token is invalid or expired.");
	r->auth.kind = PRINCIPAL_USER;
	r->auth.token_iat_ms = c.iat_ms;
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", c.sub);
	snprintf(r->auth.tenant_id, sizeof(r->auth.tenant_id), "%s", c.tid);
	return 0;
}

/* The portal session cookie, if it names a live session. */
static int
auth_identify_session(struct req *r)
{
	struct session	 s;
	const char	*cookie;
	char		 hash[67];
	enum db_rc	 rc;

	cookie = http_kv_get(&r->cookies, AUTH_COOKIE_SESSION);
	if (cookie == NULL || strlen(cookie) > CRYPTO_TOKEN_MAX)
		return 0;
	crypto_token_hash_hex(cookie, hash);
	rc = db_session_find(r, hash, conf.session_idle_s, &s);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	r->auth.kind = PRINCIPAL_SESSION;
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", s.user_id);
	snprintf(r->auth.tenant_id, sizeof(r->auth.tenant_id), "%s",
	    s.tenant_id);
	snprintf(r->auth.session_id, sizeof(r->auth.session_id), "%s",
	    s.session_id);
	auth_csrf_token(s.session_id, r->auth.csrf);
	return 0;
}

/* Before login: a random cookie the login and register forms bind to. */
static void
auth_pre_session(struct req *r)
{
	const char	*pre = http_kv_get(&r->cookies, AUTH_COOKIE_PRE);
	char		 token[CRYPTO_TOKEN_MAX], label[CRYPTO_TOKEN_MAX + 4];

	if (pre == NULL || strlen(pre) != 43) {
		if (crypto_token_new("", token) == -1)
			return;
		pre = arena_strdup(&r->arena, token);
		auth_set_cookie(r, AUTH_COOKIE_PRE, pre, 0);
	}
	snprintf(label, sizeof(label), "pre:%s", pre);
	auth_csrf_token(label, r->auth.csrf);
}

/* After a refused sign-up the form binds to the pre-login cookie again. */
void
auth_csrf_refresh(struct req *r)
{
	auth_pre_session(r);
}

/* Is addr one of the comma-separated addresses of list? */
static int
auth_addr_listed(const char *list, const char *addr)
{
	size_t	 n = strlen(addr), len;

	while (list != NULL && *list != '\0') {
		len = strcspn(list, ", ");
		if (len == n && n > 0 && strncmp(list, addr, n) == 0)
			return 1;
		list += len;
		list += strspn(list, ", ");
	}
	return 0;
}

/*
 * The metrics: from the configured addresses, or with the configured
 * token (compared in constant time).  Anyone else is told nothing more
 * than 403.
 */
static int
auth_metrics(struct req *r)
{
	const char	*token = auth_bearer(r);

	if (auth_addr_listed(conf.metrics_allow, r->remote_addr))
		return 0;
	if (token != NULL && conf.metrics_token != NULL &&
	    strlen(token) == strlen(conf.metrics_token) &&
	    util_ct_equal(token, conf.metrics_token, strlen(token)))
		return 0;
	return auth_fail(r, 403, "forbidden", "The metrics are served to the "
	    "configured addresses or with the metrics token only.");
}

/*
 * Step one, before the body: check the credential the route needs.
 * Returns 0, or -1 with the response set.
 */
int
auth_identify(struct req *r, const struct route *rt)
{
	switch (rt->auth) {
	case AUTH_IP:
		return auth_rate(r, arena_printf(&r->arena, "ip:%s",
		    r->remote_addr), conf.rate_auth_ip);
	case AUTH_USER:
	case AUTH_API:
		return auth_identify_bearer(r, rt);
	case AUTH_METRICS:
		return auth_metrics(r);
	case AUTH_PAGE:
	case AUTH_PAGE_PUBLIC:
		if (auth_identify_session(r) == -1)
			return -1;
		if (r->auth.kind == PRINCIPAL_NONE &&
		    rt->auth == AUTH_PAGE_PUBLIC)
			auth_pre_session(r);
		if (r->auth.kind == PRINCIPAL_NONE && rt->auth == AUTH_PAGE) {
			req_refuse(r);
			req_redirect(r, "/login");
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

/*
 * The tenant a platform key names, in the query or the JSON body; NULL
 * when none.  *in_body says where it was found.
 */
static const char *
auth_named_tenant(struct req *r, int *in_body)
{
	struct json_object	*o;
	const char		*t;

	*in_body = 0;
	if ((t = http_kv_get(&r->args, "tenant_id")) != NULL)
		return t;
	if (r->json != NULL &&
	    json_object_object_get_ex(r->json, "tenant_id", &o) &&
	    json_object_is_type(o, json_type_string)) {
		*in_body = 1;
		return arena_strdup(&r->arena, json_object_get_string(o));
	}
	/*
	 * A batch of usage events names its tenants item by item: the
	 * first one's is bound; the handler binds the others in turn.
	 */
	if (r->json != NULL &&
	    json_object_object_get_ex(r->json, "events", &o) &&
	    json_object_is_type(o, json_type_array) &&
	    json_object_array_length(o) > 0 &&
	    json_object_object_get_ex(json_object_array_get_idx(o, 0),
	    "tenant_id", &o) && json_object_is_type(o, json_type_string))
		return arena_strdup(&r->arena, json_object_get_string(o));
	return NULL;
}

/* The tenant's own traffic is limited per minute by its plan. */
static int
auth_rate_tenant(struct req *r, const struct route *rt)
{
	const struct tenant	*t = r->tenant;
	int			 limit;

	if (r->auth.kind == PRINCIPAL_PLATFORM_KEY)
		return auth_rate(r, "platform", conf.rate_platform);
	if (rt->metering)
		return auth_rate(r, arena_printf(&r->arena, "m:%s",
		    t->tenant_id), conf.rate_metering);
	limit = t->rate_limit * (t->rate_per_seat ? t->seats : 1);
	return auth_rate(r, arena_printf(&r->arena, "t:%s", t->tenant_id),
	    limit);
}

/*
 * An API key: identified, its tenant bound and read, in one round
 * trip.  A platform key must name an existing tenant.
 */
/*
 * The entitlement check's arguments when its body is valid (metric,
 * quantity, agent id or NULL), for the binding's statement; NULL
 * otherwise, and the handler answers the body's fault after the key
 * was checked.
 */
static const char *const *
auth_check_args(struct req *r, const char *chk[3])
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct vfail	 f;

	if (r->json == NULL || valid_json(r->json, VOP_CHECK, v, &f) == -1 ||
	    !valid_metric(v[0].s))
		return NULL;
	chk[0] = v[0].s;
	chk[1] = arena_printf(&r->arena, "%lld", v[1].i);
	chk[2] = v[2].present ? v[2].s : NULL;
	return chk;
}

static int
auth_bind_key(struct req *r, const struct route *rt)
{
	const char		*chk[3];
	const char *const	*check;
	struct apikey_auth	 k;
	struct db_call		 with;
	struct tenant		*t;
	const char		*named;
	int			 in_body;
	enum db_rc		 rc;

	named = auth_named_tenant(r, &in_body);
	t = arena_calloc(&r->arena, 1, sizeof(*t));
	check = rt->key_check ? auth_check_args(r, chk) : NULL;
	if (check != NULL)
		r->verdict = arena_calloc(&r->arena, 1, sizeof(*r->verdict));
	memset(&with, 0, sizeof(with));
	if (rt->key_with != NULL)
		rt->key_with(r, &with);
	rc = db_apikey_bind_check(r, r->auth.key_hash, named != NULL &&
	    valid_uuid(named) ? named : NULL, rt->key_bind_only ||
	    check != NULL, check, &with, &k, t, r->verdict);
	if (rc == DB_NOTFOUND)
		return auth_fail(r, 401, "invalid_api_key",
		    "The API key is unknown or revoked.");
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	if (rt->scope != 0 && !(k.scopes & rt->scope))
		return auth_fail(r, 403, "insufficient_scope",
		    "The API key lacks the scope this route needs.");
	r->auth.kind = k.platform ? PRINCIPAL_PLATFORM_KEY :
	    PRINCIPAL_TENANT_KEY;
	r->auth.scopes = k.scopes;
	snprintf(r->auth.key_id, sizeof(r->auth.key_id), "%s", k.key_id);
	snprintf(r->auth.actor, sizeof(r->auth.actor), "key:%s", k.key_id);
	if (k.platform && (named == NULL || !valid_uuid(named))) {
		req_error(r, 400, NULL, "missing_parameter", "A platform key "
		    "must name the tenant it acts for.", "tenant_id");
		return -1;
	}
	if (k.tenant_id == NULL) {
		req_error(r, 404, NULL, "tenant_not_found", "No such tenant.",
		    "tenant_id");
		return -1;
	}
	/* The handler's own validation must not see the platform's field. */
	if (k.platform && in_body)
		json_object_object_del(r->json, "tenant_id");
	snprintf(r->auth.tenant_id, sizeof(r->auth.tenant_id), "%s",
	    k.tenant_id);
	r->tenant = t;
	r->key_with = with.res;
	return auth_rate_tenant(r, rt);
}

/*
 * A user (access token or portal session): the membership decides the
 * role, whatever the token says; bound with the tenant in one round
 * trip.
 */
static int
auth_bind_user(struct req *r, const struct route *rt)
{
	struct bind_user	 u;
	struct tenant		*t;
	enum db_rc		 rc;

	t = arena_calloc(&r->arena, 1, sizeof(*t));
	rc = db_tenant_bind_user(r, r->auth.tenant_id, r->auth.user_id, &u, t);
	if (rc == DB_NOTFOUND) {
		if (r->resp_kind == RESP_PAGE) {
			req_refuse(r);
			req_redirect(r, "/login");
			return -1;
		}
		return auth_fail(r, 401, "membership_revoked",
		    "You are no longer a member of this organization.");
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	/* A password change ends the access tokens issued before it. */
	if (r->auth.token_iat_ms != 0 &&
	    r->auth.token_iat_ms < u.password_changed_ms)
		return auth_fail(r, 401, "invalid_token",
		    "The access token is invalid or expired.");
	r->tenant = t;
	r->auth.role = auth_role_parse(u.role);
	r->auth.verified = u.verified;
	snprintf(r->auth.actor, sizeof(r->auth.actor), "%s", u.email);
	if (r->auth.role < rt->role)
		return auth_fail(r, 403, "insufficient_role", "Your role does "
		    "not allow this; ask an owner or admin.");
	return 0;
}

/*
 * The request's tenant with its plan, read once per request (inside its
 * transaction; binding usually read it already) and shared by the rate
 * limit, the handler and the page layout.
 */
enum db_rc
auth_tenant(struct req *r, const struct tenant **out)
{
	struct tenant	*t;
	enum db_rc	 rc;

	if (r->tenant == NULL) {
		t = arena_calloc(&r->arena, 1, sizeof(*t));
		if ((rc = db_tenant_get(r, t)) != DB_OK)
			return rc;
		r->tenant = t;
	}
	*out = r->tenant;
	return DB_OK;
}

/*
 * Step two, after the body: bind the request to its tenant (opening
 * the request's transaction), check role and rate, and CSRF on forms.
 */
int
auth_bind(struct req *r, const struct route *rt)
{
	if (r->auth.key_hash[0] != '\0')
		return auth_bind_key(r, rt);
	if (r->auth.tenant_id[0] != '\0' && (r->auth.kind == PRINCIPAL_USER ||
	    r->auth.kind == PRINCIPAL_SESSION) && auth_bind_user(r, rt) == -1)
		return -1;
	if ((rt->auth == AUTH_USER || rt->auth == AUTH_API) &&
	    auth_rate_tenant(r, rt) == -1)
		return -1;
	if ((rt->auth == AUTH_PAGE || rt->auth == AUTH_PAGE_PUBLIC) &&
	    strcmp(r->method, "POST") == 0) {
		if (auth_csrf_check(r, rt) == -1)
			return -1;
		/* A portal action counts like an API request of the tenant. */
		if (rt->auth == AUTH_PAGE && r->tenant != NULL &&
		    auth_rate_tenant(r, rt) == -1)
			return -1;
		if (rt->auth == AUTH_PAGE_PUBLIC && auth_rate(r,
		    arena_printf(&r->arena, "ip:%s", r->remote_addr),
		    conf.rate_auth_ip) == -1)
			return -1;
	}
	return 0;
}

/*
 * Set a cookie for the whole site: HttpOnly, SameSite=Lax, Secure when
 * the portal is served over TLS.  max_age 0 means a browser session
 * cookie; -1 deletes it.
 */
void
auth_set_cookie(struct req *r, const char *name, const char *value,
    int max_age)
{
	int	 secure = r->https || strncmp(conf.public_url, "https:", 6) == 0;

	req_header(r, "Set-Cookie", arena_printf(&r->arena,
	    "%s=%s; Path=/; HttpOnly; SameSite=Lax%s%s", name,
	    max_age < 0 ? "" : value, secure ? "; Secure" : "",
	    max_age > 0 ? arena_printf(&r->arena, "; Max-Age=%d", max_age) :
	    max_age < 0 ? "; Max-Age=0" : ""));
}
