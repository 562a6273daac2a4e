/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: the accounts features over real HTTP (lighttpd in front
 * of tollgate serve, PostgreSQL behind): registration, login and its
 * throttling, refresh-token rotation, forged JWTs, API keys, members and
 * invitations, the audit trail, bad input, row-level security seen from
 * the application's own database role, platform keys and the per-tenant
 * rate limit.  Run by tests/integration.sh with the stack's stack.env
 * exported.
 *
 * The auth routes are limited per client address and minute, and every
 * program of the run shares the stack.  So each test talks from a
 * loopback address of its own (lighttpd listens on 127.0.0.1 and takes
 * REMOTE_ADDR from the TCP peer; all of 127/8 is loopback on Linux),
 * registers tenants of its own (the tenant limit is per tenant) and uses
 * e-mail addresses made of the pid and a counter, so a second run on the
 * same stack meets nothing of the first.  The test of the per-address
 * limit runs last.
 *
 * A check that found a product bug reports it through it_deferred_fail()
 * and lets the test go on, so one bug does not hide the checks after
 * it; the test still fails at its end.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "it-util.h"

#define API		"/api/v1"
#define REGISTER	API "/auth/register"
#define LOGIN		API "/auth/login"
#define REFRESH		API "/auth/refresh"
#define LOGOUT		API "/auth/logout"
#define ME		API "/auth/me"
#define MEMBERS		API "/members"
#define INVITE		API "/members/invitations"
#define ACCEPT		API "/invitations/accept"
#define KEYS		API "/api-keys"
#define AUDIT		API "/audit"

#define TOKEN_MAX	2048	/* bytes of an access token we keep */
#define JWT_ISS		"tollgate"
#define JWT_AUD		"tollgate-api"
#define FREE_RATE	20	/* requests per minute, free plan (SPEC 4) */
#define BODY_LIMIT	(1024 * 1024)

/* A registered user, the tenant they act in and their tokens. */
struct acct {
	char	 email[128];
	char	 password[64];
	char	 access[TOKEN_MAX];
	char	 refresh[128];
	char	 user_id[40];
	char	 tenant_id[40];
	char	 role[16];
};

static pid_t		 acc_pid;
static unsigned int	 acc_nclients;
static unsigned int	 acc_nemails;
static char		 acc_client[32];	/* source address */

/* The tenant key of the rate-limit test, made early (see there). */
static struct acct	 rate_owner;
static char		 rate_key[128];
static time_t		 rate_key_window;	/* minute it counted in */
static int		 rate_key_sure;		/* ... known for sure */

/* --- clients, names and HTTP --------------------------------------------- */

/*
 * A loopback address no other test, program or run uses: 127.X.Y.N
 * from the pid and a counter.  Requests go out from it until the next
 * call.
 */
static void
client_new(void)
{
	unsigned int	 n = ++acc_nclients;

	snprintf(acc_client, sizeof(acc_client), "127.%u.%u.%u",
	    100 + ((unsigned int)acc_pid >> 8) % 150,
	    (unsigned int)acc_pid & 0xff, 10 + n % 240);
	print_message("# client address %s\n", acc_client);
	it_set_source(acc_client);
}

/* A fresh e-mail address: acc<pid>-<n>-<tag>@example.com. */
static void
email_new(char *out, size_t outsz, const char *tag)
{
	snprintf(out, outsz, "acc%ld-%u-%s@example.com", (long)acc_pid,
	    ++acc_nemails, tag);
}

/*
 * One request from the current client address.  token, when not NULL,
 * goes as "Authorization: Bearer"; ctype and body as given.  The
 * response can be read with it_header(), it_json() and freed with
 * it_response_free().  A transport failure fails the test.
 */
static void
call_raw(struct it_resp *r, const char *method, const char *path,
    const char *token, const char *ctype, const void *body, size_t len)
{
	const char	*hdrs[2] = { NULL, NULL };
	char		 auth[TOKEN_MAX + 64];

	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs[0] = auth;
	}
	if (it_request_on(NULL, r, method, path, ctype, body, len, hdrs) ==
	    -1)
		fail_msg("%s %s from %s: %s", method, path, acc_client,
		    r->error);
	print_message("# %s %s: %ld in %.1f ms: %.200s\n", method, path,
	    r->status, r->ms, r->body);
}

/* A JSON request (json NULL: none) with an optional bearer token. */
static void
call(struct it_resp *r, const char *method, const char *path,
    const char *token, const char *json)
{
	call_raw(r, method, path, token, json != NULL ? "application/json" :
	    NULL, json, json != NULL ? strlen(json) : 0);
}

/* The numeric value of a header that must be there. */
static long
header_num(const struct it_resp *r, const char *name)
{
	const char	*v = it_header(r, name);
	char		*end;
	long		 n;

	if (v == NULL)
		fail_msg("no %s header", name);
	n = strtol(v, &end, 10);
	if (end == v || *end != '\0')
		fail_msg("%s: \"%s\" is not a number", name, v);
	return n;
}

/* The error type SPEC 5 gives each status. */
static const char *
error_type(long status)
{
	switch (status) {
	case 401:
		return "authentication_error";
	case 403:
		return "permission_error";
	case 429:
		return "rate_limit_error";
	default:
		return "invalid_request_error";
	}
}

/*
 * An error answer: the status, the type for it, the code and (unless
 * param is NULL) the parameter it names.  request_id is the response's
 * X-Request-Id.
 */
static void
expect_error(struct it_resp *r, long status, const char *code,
    const char *param)
{
	struct json_object	*o;
	const char		*v, *rid;

	if (r->status != status)
		fail_msg("status %ld, want %ld %s: %.300s", r->status, status,
		    code, r->body);
	o = it_json(r);
	assert_non_null(it_json_str(o, "error.type"));
	assert_string_equal(it_json_str(o, "error.type"), error_type(status));
	if ((v = it_json_str(o, "error.code")) == NULL || strcmp(v, code) != 0)
		fail_msg("error.code %s, want %s: %.300s", v != NULL ? v :
		    "(none)", code, r->body);
	if ((v = it_json_str(o, "error.message")) == NULL || *v == '\0')
		fail_msg("error.message is missing or empty");
	if (param != NULL && ((v = it_json_str(o, "error.param")) == NULL ||
	    strcmp(v, param) != 0))
		fail_msg("error.param %s, want %s", v != NULL ? v : "(none)",
		    param);
	rid = it_header(r, "X-Request-Id");
	assert_non_null(rid);
	assert_non_null(it_json_str(o, "error.request_id"));
	assert_string_equal(it_json_str(o, "error.request_id"), rid);
}

/* --- accounts ------------------------------------------------------------ */

/* Tokens and ids from an answer of register, login, accept or refresh. */
static void
take_tokens(struct acct *a, struct it_resp *r)
{
	it_copy_str(a->access, sizeof(a->access), r, "access_token");
	it_copy_str(a->refresh, sizeof(a->refresh), r, "refresh_token");
	it_copy_str(a->user_id, sizeof(a->user_id), r, "user.id");
	it_copy_str(a->tenant_id, sizeof(a->tenant_id), r, "tenant.id");
	it_copy_str(a->role, sizeof(a->role), r, "tenant.role");
}

/* A new user owning a new tenant; "org" NULL names it after the tag. */
static void
register_owner(struct acct *a, const char *tag, const char *org)
{
	struct it_resp	 r;
	char		 name[128];

	memset(a, 0, sizeof(*a));
	email_new(a->email, sizeof(a->email), tag);
	snprintf(a->password, sizeof(a->password), "Pass-%ld-%s-word",
	    (long)acc_pid, tag);
	snprintf(name, sizeof(name), "Org %s %ld", tag, (long)acc_pid);
	call(&r, "POST", REGISTER, NULL, it_jobj("email", a->email, "password",
	    a->password, "organization", org != NULL ? org : name, NULL));
	it_expect_status(&r, 201);
	take_tokens(a, &r);
	assert_string_equal(a->role, "owner");
	it_response_free(&r);
	/* Owners here invite: their address counts as proven (it-verify). */
	it_mark_verified(a->email);
}

/* Log in; the status is returned and tokens taken on 200. */
static long
login(struct acct *a, const char *email, const char *password,
    struct it_resp *out)
{
	struct it_resp	 r;
	long		 status;

	call(&r, "POST", LOGIN, NULL, it_jobj("email", email, "password",
	    password, NULL));
	status = r.status;
	if (status == 200 && a != NULL)
		take_tokens(a, &r);
	if (out != NULL)
		*out = r;
	else
		it_response_free(&r);
	return status;
}

/* Create an API key; the secret into out, the id into id. */
static void
key_create(const struct acct *a, const char *name, const char *scopes_json,
    char *out, size_t outsz, char *id, size_t idsz)
{
	struct it_resp	 r;
	char		 body[512];

	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"scopes\":%s}", name,
	    scopes_json);
	call(&r, "POST", KEYS, a->access, body);
	it_expect_status(&r, 201);
	it_copy_str(out, outsz, &r, "secret");
	if (id != NULL)
		it_copy_str(id, idsz, &r, "id");
	it_response_free(&r);
}

/*
 * Invite "email" with "role" as a; the token (the link's last segment)
 * into token.
 */
static void
invite(const struct acct *a, const char *email, const char *role,
    char *token, size_t tokensz)
{
	struct it_resp	 r;
	const char	*link, *slash;

	call(&r, "POST", INVITE, a->access, it_jobj("email", email, "role",
	    role, NULL));
	it_expect_status(&r, 201);
	link = it_must_str(&r, "link");
	if (strstr(link, "/invite/") == NULL)
		fail_msg("link %s has no /invite/", link);
	slash = strrchr(link, '/');
	assert_true(strlen(slash + 1) > 20);
	snprintf(token, tokensz, "%s", slash + 1);
	assert_string_equal(it_must_str(&r, "email"), email);
	assert_string_equal(it_must_str(&r, "role"), role);
	it_response_free(&r);
}

/* Accept an invitation as a new account; its tokens into m. */
static void
accept_invitation(struct acct *m, const char *email, const char *token,
    const char *want_role)
{
	struct it_resp	 r;

	memset(m, 0, sizeof(*m));
	snprintf(m->email, sizeof(m->email), "%s", email);
	snprintf(m->password, sizeof(m->password), "Joiner-%ld-%u-pass",
	    (long)acc_pid, acc_nemails);
	call(&r, "POST", ACCEPT, NULL, it_jobj("token", token, "password",
	    m->password, NULL));
	it_expect_status(&r, 200);
	take_tokens(m, &r);
	assert_string_equal(m->role, want_role);
	it_response_free(&r);
}

/* --- time windows -------------------------------------------------------- */

/*
 * The product counts in fixed windows aligned to the epoch (ratelimit.c)
 * on this host's clock.  Sleep into the next window when fewer than
 * "margin" seconds are left in this one.
 */
static void
window_fresh(int window, int margin)
{
	time_t	 now = time(NULL);
	int	 left = window - (int)(now % window);

	if (left >= margin)
		return;
	print_message("# %d s left in the %d s window: waiting for the "
	    "next\n", left, window);
	it_sleep_ms(left * 1000L + 300);
}

/* --- JWT forging --------------------------------------------------------- */

/* base64url without padding; malloc'd. */
static char *
b64url(const void *p, size_t n)
{
	char	*out, *s, *d;

	out = it_alloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	for (s = d = out; *s != '\0'; s++) {
		if (*s == '=')
			break;
		*d++ = *s == '+' ? '-' : *s == '/' ? '_' : *s;
	}
	*d = '\0';
	return out;
}

/*
 * header.payload.signature with the given header and claims texts.
 * alg "HS256" or "HS512" signs with secret; NULL leaves the signature
 * empty.  malloc'd.
 */
static char *
jwt_forge(const char *header, const char *claims, const char *alg,
    const char *secret)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	char		*h, *c, *s, *input, *tok;
	size_t		 n;

	h = b64url(header, strlen(header));
	c = b64url(claims, strlen(claims));
	n = strlen(h) + strlen(c) + 2;
	input = it_alloc(n);
	snprintf(input, n, "%s.%s", h, c);
	if (alg != NULL && HMAC(strcmp(alg, "HS512") == 0 ? EVP_sha512() :
	    EVP_sha256(), secret, (int)strlen(secret),
	    (unsigned char *)input, strlen(input), mac, &maclen) == NULL)
		fail_msg("HMAC failed");
	s = b64url(mac, maclen);
	n = strlen(input) + strlen(s) + 2;
	tok = it_alloc(n);
	snprintf(tok, n, "%s.%s", input, s);
	free(h);
	free(c);
	free(s);
	free(input);
	return tok;
}

/*
 * Claims of a for a.  Times are offsets from now; "exp" is left out
 * when with_exp is 0.
 */
static void
claims_text(char *out, size_t outsz, const struct acct *a, const char *iss,
    const char *aud, long iat, long nbf, long exp, int with_exp)
{
	time_t	 now = time(NULL);
	char	 expbuf[48];

	expbuf[0] = '\0';
	if (with_exp)
		snprintf(expbuf, sizeof(expbuf), ",\"exp\":%lld",
		    (long long)(now + exp));
	snprintf(out, outsz, "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"%s\","
	    "\"tid\":\"%s\",\"role\":\"owner\",\"jti\":\"forged%ld%lld\","
	    "\"iat\":%lld,\"nbf\":%lld%s}", iss, aud, a->user_id, a->tenant_id,
	    (long)acc_pid, (long long)now, (long long)(now + iat),
	    (long long)(now + nbf), expbuf);
}

/* GET /auth/me with the token: the status, printed with why. */
static void
me_expect(const char *what, const char *token, long status)
{
	struct it_resp	 r;

	print_message("# token: %s\n", what);
	call(&r, "GET", ME, token, NULL);
	if (status == 401) {
		expect_error(&r, 401, "invalid_token", NULL);
		assert_non_null(it_header(&r, "WWW-Authenticate"));
	} else
		it_expect_status(&r, status);
	it_response_free(&r);
}

/* --- 1: register, login, me ---------------------------------------------- */

static void
test_register_login_me(void **state)
{
	struct it_resp		 r;
	struct acct		 a;
	struct tm		 tm;
	char			 upper[128];
	const char		*v;
	time_t			 exp;
	size_t			 i;

	client_new();
	memset(&a, 0, sizeof(a));
	email_new(a.email, sizeof(a.email), "reg");
	snprintf(a.password, sizeof(a.password), "Register-%ld-pass",
	    (long)acc_pid);
	call(&r, "POST", REGISTER, NULL, it_jobj("email", a.email, "password",
	    a.password, "organization", "Acme Registered", NULL));
	it_expect_status(&r, 201);
	v = it_must_str(&r, "access_token");
	assert_int_equal(strchr(v, '.') != NULL, 1);
	v = it_must_str(&r, "refresh_token");
	assert_true(strlen(v) >= 40);
	/* expires_at: RFC 3339, the access token's 15 minutes ahead. */
	v = it_must_str(&r, "expires_at");
	memset(&tm, 0, sizeof(tm));
	if (strptime(v, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		fail_msg("expires_at %s is not RFC 3339 UTC", v);
	exp = timegm(&tm);
	if (exp < time(NULL) + 14 * 60 || exp > time(NULL) + 16 * 60)
		fail_msg("expires_at %s is not about 15 minutes ahead", v);
	assert_string_equal(it_must_str(&r, "user.email"), a.email);
	assert_string_equal(it_must_str(&r, "tenant.name"), "Acme Registered");
	assert_string_equal(it_must_str(&r, "tenant.role"), "owner");
	take_tokens(&a, &r);
	it_response_free(&r);

	/* Login, with the address in another case too. */
	assert_int_equal(login(&a, a.email, a.password, NULL), 200);
	assert_string_equal(a.role, "owner");
	snprintf(upper, sizeof(upper), "%s", a.email);
	for (i = 0; upper[i] != '\0'; i++)
		if (upper[i] >= 'a' && upper[i] <= 'z')
			upper[i] = (char)(upper[i] - 32);
	assert_int_equal(login(NULL, upper, a.password, NULL), 200);

	call(&r, "GET", ME, a.access, NULL);
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "user.id"), a.user_id);
	assert_string_equal(it_must_str(&r, "user.email"), a.email);
	assert_string_equal(it_must_str(&r, "tenant.id"), a.tenant_id);
	assert_string_equal(it_must_str(&r, "tenant.name"), "Acme Registered");
	assert_string_equal(it_must_str(&r, "role"), "owner");
	assert_string_equal(it_must_str(&r, "plan"), "free");
	assert_string_equal(it_must_str(&r, "status"), "active");
	it_response_free(&r);

	/* The same address again, in any case: taken. */
	call(&r, "POST", REGISTER, NULL, it_jobj("email", a.email, "password",
	    "Another-good-password", "organization", "Second", NULL));
	expect_error(&r, 409, "email_taken", "email");
	it_response_free(&r);
	call(&r, "POST", REGISTER, NULL, it_jobj("email", upper, "password",
	    "Another-good-password", "organization", "Second", NULL));
	expect_error(&r, 409, "email_taken", "email");
	it_response_free(&r);
}

/* --- 2: unknown e-mail and wrong password look the same ------------------ */

static void
test_login_unknown_vs_wrong(void **state)
{
	struct it_resp	 u, w;
	struct acct	 a;
	char		 unknown[128];
	double		 tu = 0, tw = 0, minu = 1e9, minw = 1e9;
	int		 i;
	const char	*fields[] = { "error.type", "error.code",
			    "error.message", "error.param" };
	size_t		 f;
	const char	*vu, *vw;

	client_new();
	register_owner(&a, "timing", NULL);
	email_new(unknown, sizeof(unknown), "nobody");
	for (i = 0; i < 3; i++) {
		login(NULL, unknown, a.password, &u);
		login(NULL, a.email, "Wrong-password-123", &w);
		expect_error(&u, 401, "invalid_credentials", NULL);
		expect_error(&w, 401, "invalid_credentials", NULL);
		for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
			vu = it_json_str(it_json(&u), fields[f]);
			vw = it_json_str(it_json(&w), fields[f]);
			if ((vu == NULL) != (vw == NULL) ||
			    (vu != NULL && strcmp(vu, vw) != 0))
				fail_msg("%s differs: unknown e-mail \"%s\", "
				    "wrong password \"%s\"", fields[f],
				    vu != NULL ? vu : "(null)",
				    vw != NULL ? vw : "(null)");
		}
		tu += u.ms;
		tw += w.ms;
		minu = u.ms < minu ? u.ms : minu;
		minw = w.ms < minw ? w.ms : minw;
		it_response_free(&u);
		it_response_free(&w);
	}
	print_message("# unknown e-mail: %.1f ms mean, wrong password: %.1f "
	    "ms mean\n", tu / 3, tw / 3);
	/* argon2id runs for both, so both are slow ... */
	if (minu <= 10.0 || minw <= 10.0)
		fail_msg("a refused login took under 10 ms (unknown %.1f, "
		    "wrong %.1f): is the password hashed for both?", minu,
		    minw);
	/* ... and the unknown address is not much faster. */
	if (tu < 0.3 * tw)
		fail_msg("unknown e-mail %.1f ms vs wrong password %.1f ms: "
		    "the difference tells which addresses exist", tu / 3,
		    tw / 3);
}

/* --- 3a: too many failures for one account ------------------------------- */

static void
test_login_throttle_account(void **state)
{
	struct it_resp	 r;
	struct acct	 a;
	long		 max, i;
	time_t		 w0;
	int		 attempt;

	max = strtol(it_env_or("TOLLGATE_LOGIN_FAIL_MAX", "10"), NULL, 10);
	assert_true(max > 0 && max < 25);
	client_new();
	/* Failures are counted in 15-minute windows: stay inside one. */
	for (attempt = 0; attempt < 2; attempt++) {
		register_owner(&a, "throttle", NULL);
		window_fresh(900, 30);
		w0 = time(NULL) / 900;
		for (i = 0; i < max; i++) {
			login(NULL, a.email, "Not-the-password-1", &r);
			/* After a few failures: a doubling wait, then on. */
			while (r.status == 429 && strstr(r.body,
			    "retry_later") != NULL) {
				it_sleep_ms(1000 * header_num(&r,
				    "Retry-After"));
				it_response_free(&r);
				login(NULL, a.email, "Not-the-password-1", &r);
			}
			expect_error(&r, 401, "invalid_credentials", NULL);
			it_response_free(&r);
		}
		/* The right password, now refused too. */
		login(NULL, a.email, a.password, &r);
		if (time(NULL) / 900 != w0) {
			print_message("# a 15-minute window ended: again\n");
			it_response_free(&r);
			continue;
		}
		expect_error(&r, 429, "too_many_attempts", NULL);
		assert_true(header_num(&r, "Retry-After") > 0);
		it_response_free(&r);
		/* Any case of the address is the same account. */
		for (i = 0; a.email[i] != '\0'; i++)
			if (a.email[i] >= 'a' && a.email[i] <= 'z')
				a.email[i] = (char)(a.email[i] - 32);
		login(NULL, a.email, a.password, &r);
		expect_error(&r, 429, "too_many_attempts", NULL);
		it_response_free(&r);
		return;
	}
	fail_msg("the 15-minute window ended twice during the test");
}

/* --- 3c: failed invitation accepts count too --------------------- */

/*
 * Accepting an invitation as an existing account checks that account's
 * password.  Those failures must count against the account like failed
 * logins: otherwise an admin who invites someone's address can guess
 * their password there, past the lock-out of POST /auth/login.
 */
static void
test_accept_throttled(void **state)
{
	struct it_resp	 r;
	struct acct	 a, v;
	char		 token[128];
	long		 max, i;
	time_t		 w0;

	it_deferred_reset();
	max = strtol(it_env_or("TOLLGATE_LOGIN_FAIL_MAX", "10"), NULL, 10);
	assert_true(max > 0 && max < 25);
	client_new();
	register_owner(&v, "victim", NULL);
	register_owner(&a, "inviter", NULL);
	invite(&a, v.email, "member", token, sizeof(token));
	window_fresh(900, 30);
	w0 = time(NULL) / 900;
	for (i = 0; i < max; i++) {
		call(&r, "POST", ACCEPT, NULL, it_jobj("token", token,
		    "password", "Guessed-password-1", NULL));
		expect_error(&r, 401, "invalid_credentials", "password");
		it_response_free(&r);
	}
	call(&r, "POST", ACCEPT, NULL, it_jobj("token", token, "password",
	    "Guessed-password-2", NULL));
	if (r.status != 429)
		it_deferred_fail("accept after %ld wrong passwords: %ld, want "
		    "429 too_many_attempts", max, r.status);
	it_response_free(&r);
	login(NULL, v.email, v.password, &r);
	if (time(NULL) / 900 != w0)
		fail_msg("a 15-minute window ended during the test");
	if (r.status != 429)
		it_deferred_fail("login after %ld wrong passwords given to "
		    "POST /invitations/accept: %ld, want 429 too_many_attempts",
		    max, r.status);
	it_response_free(&r);
	it_deferred_check();
}

/* --- 4: refresh rotation, reuse, logout ---------------------------------- */

static void
test_refresh_rotation(void **state)
{
	struct it_resp	 r;
	struct acct	 a;
	char		 old[128], next[128], access0[TOKEN_MAX];

	client_new();
	register_owner(&a, "refresh", NULL);
	snprintf(old, sizeof(old), "%s", a.refresh);
	snprintf(access0, sizeof(access0), "%s", a.access);

	call(&r, "POST", REFRESH, NULL, it_jobj("refresh_token", old, NULL));
	it_expect_status(&r, 200);
	it_copy_str(next, sizeof(next), &r, "refresh_token");
	assert_string_not_equal(next, old);
	assert_string_not_equal(it_must_str(&r, "access_token"), access0);
	assert_non_null(it_json_str(it_json(&r), "expires_at"));
	assert_string_equal(it_must_str(&r, "tenant.id"), a.tenant_id);
	assert_string_equal(it_must_str(&r, "user.id"), a.user_id);
	assert_string_equal(it_must_str(&r, "tenant.role"), "owner");
	/* The new access token works. */
	snprintf(a.access, sizeof(a.access), "%s", it_must_str(&r,
	    "access_token"));
	it_response_free(&r);
	call(&r, "GET", ME, a.access, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);

	/* The rotated token again: reuse, and the family dies. */
	call(&r, "POST", REFRESH, NULL, it_jobj("refresh_token", old, NULL));
	expect_error(&r, 401, "refresh_token_reused", "refresh_token");
	it_response_free(&r);
	call(&r, "POST", REFRESH, NULL, it_jobj("refresh_token", next, NULL));
	expect_error(&r, 401, "invalid_refresh_token", "refresh_token");
	it_response_free(&r);
	call(&r, "POST", REFRESH, NULL, it_jobj("refresh_token", old, NULL));
	if (r.status != 401)
		fail_msg("the reused token works again: %ld", r.status);
	it_response_free(&r);

	/* Logout: 204, and the refresh token is dead. */
	assert_int_equal(login(&a, a.email, a.password, NULL), 200);
	call(&r, "POST", LOGOUT, NULL, it_jobj("refresh_token", a.refresh,
	    NULL));
	it_expect_status(&r, 204);
	assert_int_equal(r.body_len, 0);
	it_response_free(&r);
	call(&r, "POST", REFRESH, NULL, it_jobj("refresh_token", a.refresh,
	    NULL));
	expect_error(&r, 401, "invalid_refresh_token", "refresh_token");
	it_response_free(&r);

	/* A token never issued. */
	call(&r, "POST", REFRESH, NULL, it_jobj("refresh_token",
	    "tgr_this-token-was-never-issued-by-anyone-at-all", NULL));
	expect_error(&r, 401, "invalid_refresh_token", "refresh_token");
	it_response_free(&r);
}

/* --- 5: forged access tokens --------------------------------------------- */

static void
test_jwt_attacks(void **state)
{
	struct acct	 a;
	const char	*secret = it_env("TOLLGATE_JWT_SECRET");
	const char	*hs256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char		 claims[1024], *tok, wrong[80];
	size_t		 n;

	client_new();
	register_owner(&a, "jwt", NULL);

	/* First the forger itself: a correct token must pass. */
	claims_text(claims, sizeof(claims), &a, JWT_ISS, JWT_AUD, 0, 0, 600,
	    1);
	tok = jwt_forge(hs256, claims, "HS256", secret);
	me_expect("valid, built here", tok, 200);
	free(tok);

	tok = jwt_forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL,
	    NULL);
	me_expect("alg none, trailing dot", tok, 401);
	n = strlen(tok);
	assert_int_equal(tok[n - 1], '.');
	tok[n - 1] = '\0';
	me_expect("alg none, no trailing dot", tok, 401);
	free(tok);
	tok = jwt_forge("{\"alg\":\"None\",\"typ\":\"JWT\"}", claims, NULL,
	    NULL);
	me_expect("alg None", tok, 401);
	free(tok);
	/* alg none with the HS256 signature still attached. */
	tok = jwt_forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "HS256",
	    secret);
	me_expect("alg none, signed anyway", tok, 401);
	free(tok);

	tok = jwt_forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims, "HS512",
	    secret);
	me_expect("HS512 with the right secret", tok, 401);
	free(tok);

	snprintf(wrong, sizeof(wrong), "%s", secret);
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	tok = jwt_forge(hs256, claims, "HS256", wrong);
	me_expect("HS256 with a wrong secret", tok, 401);
	free(tok);

	claims_text(claims, sizeof(claims), &a, JWT_ISS, JWT_AUD, -1000, -1000,
	    -120, 1);
	tok = jwt_forge(hs256, claims, "HS256", secret);
	me_expect("expired 120 s ago", tok, 401);
	free(tok);

	claims_text(claims, sizeof(claims), &a, JWT_ISS, JWT_AUD, 0, 0, 0, 0);
	tok = jwt_forge(hs256, claims, "HS256", secret);
	me_expect("no exp", tok, 401);
	free(tok);

	claims_text(claims, sizeof(claims), &a, JWT_ISS, JWT_AUD, 0, 600, 1200,
	    1);
	tok = jwt_forge(hs256, claims, "HS256", secret);
	me_expect("nbf 10 minutes ahead", tok, 401);
	free(tok);

	claims_text(claims, sizeof(claims), &a, JWT_ISS, "someone-else", 0, 0,
	    600, 1);
	tok = jwt_forge(hs256, claims, "HS256", secret);
	me_expect("wrong aud", tok, 401);
	free(tok);

	claims_text(claims, sizeof(claims), &a, "evil", JWT_AUD, 0, 0, 600, 1);
	tok = jwt_forge(hs256, claims, "HS256", secret);
	me_expect("wrong iss", tok, 401);
	free(tok);

	me_expect("garbage", "garbage", 401);
	me_expect("three garbage parts", "not.a.jwt", 401);
	me_expect("empty parts", "..", 401);
}

/* --- 6: API keys --------------------------------------------------------- */

static void
test_api_keys(void **state)
{
	struct it_resp		 r;
	struct acct		 a, b;
	struct json_object	*data, *k;
	unsigned char		 sha[SHA256_DIGEST_LENGTH];
	char			 secret[128], id[40], bsecret[128], bid[40];
	char			 hex[2 * SHA256_DIGEST_LENGTH + 1], path[128];
	size_t			 i, n, found = 0;

	client_new();
	register_owner(&a, "keys", NULL);
	register_owner(&b, "keysb", NULL);

	key_create(&a, "runner", "[\"usage:read\",\"entitlements:read\"]",
	    secret, sizeof(secret), id, sizeof(id));
	if (strncmp(secret, "tg_", 3) != 0)
		fail_msg("secret %.6s... does not start with tg_", secret);
	assert_true(strlen(secret) >= 40);

	/* Listed by prefix, never with the secret or its hash. */
	SHA256((const unsigned char *)secret, strlen(secret), sha);
	for (i = 0; i < sizeof(sha); i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	call(&r, "GET", KEYS, a.access, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, secret) != NULL || strstr(r.body, hex) != NULL ||
	    strstr(r.body, secret + 3) != NULL)
		fail_msg("the key list shows the secret or its hash");
	if (strstr(r.body, "\"hash\"") != NULL ||
	    strstr(r.body, "\"secret\"") != NULL)
		fail_msg("the key list has a hash or secret member");
	assert_true(it_json_get(it_json(&r), "data", &data));
	assert_true(json_object_is_type(data, json_type_array));
	n = json_object_array_length(data);
	for (i = 0; i < n; i++) {
		k = json_object_array_get_idx(data, i);
		if (strcmp(it_json_str(k, "id"), id) != 0)
			continue;
		found++;
		assert_string_equal(it_json_str(k, "name"), "runner");
		assert_non_null(it_json_str(k, "prefix"));
		if (strncmp(secret, it_json_str(k, "prefix"),
		    strlen(it_json_str(k, "prefix"))) != 0 ||
		    strlen(it_json_str(k, "prefix")) < 6 ||
		    strlen(it_json_str(k, "prefix")) > 16)
			fail_msg("prefix %s is not a short start of the secret",
			    it_json_str(k, "prefix"));
	}
	assert_int_equal(found, 1);
	it_response_free(&r);

	/* The key acts for its tenant. */
	call(&r, "GET", ME, secret, NULL);
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "api_key.kind"), "tenant");
	assert_string_equal(it_must_str(&r, "api_key.id"), id);
	assert_string_equal(it_must_str(&r, "tenant.id"), a.tenant_id);
	it_response_free(&r);
	call(&r, "GET", MEMBERS, secret, NULL);
	expect_error(&r, 403, "user_token_required", NULL);
	it_response_free(&r);

	/* Unknown scope. */
	call(&r, "POST", KEYS, a.access,
	    "{\"name\":\"bad\",\"scopes\":[\"usage:read\",\"root:all\"]}");
	expect_error(&r, 400, "invalid_value", "scopes");
	it_response_free(&r);

	/* Another tenant's key: 404 here, and it still works there. */
	key_create(&b, "theirs", "[\"usage:write\"]", bsecret, sizeof(bsecret),
	    bid, sizeof(bid));
	snprintf(path, sizeof(path), KEYS "/%s", bid);
	call(&r, "DELETE", path, a.access, NULL);
	expect_error(&r, 404, "api_key_not_found", NULL);
	it_response_free(&r);
	call(&r, "GET", ME, bsecret, NULL);
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "tenant.id"), b.tenant_id);
	it_response_free(&r);

	/* Revoked: gone at once. */
	snprintf(path, sizeof(path), KEYS "/%s", id);
	call(&r, "DELETE", path, a.access, NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);
	call(&r, "GET", ME, secret, NULL);
	expect_error(&r, 401, "invalid_api_key", NULL);
	it_response_free(&r);
	call(&r, "DELETE", path, a.access, NULL);
	expect_error(&r, 404, "api_key_not_found", NULL);
	it_response_free(&r);
}

/* --- 7: members and invitations ------------------------------------------ */

/* The same 404 for another tenant's member as for nobody at all. */
static void
member_404(const struct acct *a, const char *user_id, struct it_resp *r)
{
	char	 path[128];

	snprintf(path, sizeof(path), MEMBERS "/%s", user_id);
	call(r, "PATCH", path, a->access, it_jobj("role", "member", NULL));
	expect_error(r, 404, "member_not_found", NULL);
}

static void
test_members(void **state)
{
	struct it_resp	 r, r2;
	struct acct	 a, b, m;
	char		 email[128], other[128], token[128], path[128];
	const char	*f[] = { "error.type", "error.code", "error.message",
			    "error.param" };
	const char	*v1, *v2;
	size_t		 i;

	it_deferred_reset();
	client_new();
	register_owner(&a, "team", NULL);
	register_owner(&b, "teamb", NULL);

	/* Inviting someone already a member: refused. */
	call(&r, "POST", INVITE, a.access, it_jobj("email", a.email, "role",
	    "member", NULL));
	expect_error(&r, 409, "already_member", "email");
	it_response_free(&r);

	email_new(email, sizeof(email), "joiner");
	invite(&a, email, "member", token, sizeof(token));
	/*
	 * The same address again.  The free plan's two seats are taken by
	 * the owner and this pending invitation, but the answer must say
	 * what is wrong: the address is already invited.
	 */
	call(&r, "POST", INVITE, a.access, it_jobj("email", email, "role",
	    "member", NULL));
	it_expect_status(&r, 409);
	if (it_json_str(it_json(&r), "error.code") == NULL ||
	    strcmp(it_json_str(it_json(&r), "error.code"),
	    "already_invited") != 0)
		it_deferred_fail("a second invitation of %s: %s, want 409 "
		    "already_invited", email, r.body);
	it_response_free(&r);

	accept_invitation(&m, email, token, "member");
	assert_string_equal(m.tenant_id, a.tenant_id);
	/* The link is used up. */
	call(&r, "POST", ACCEPT, NULL, it_jobj("token", token, "password",
	    m.password, NULL));
	expect_error(&r, 404, "invitation_not_found", "token");
	it_response_free(&r);

	/* Two members on two seats: no third. */
	email_new(other, sizeof(other), "third");
	call(&r, "POST", INVITE, a.access, it_jobj("email", other, "role",
	    "member", NULL));
	expect_error(&r, 409, "seat_limit_reached", NULL);
	it_response_free(&r);

	call(&r, "GET", MEMBERS, m.access, NULL);
	it_expect_status(&r, 200);
	assert_true(strstr(r.body, a.email) != NULL &&
	    strstr(r.body, m.email) != NULL);
	it_response_free(&r);

	/* A member reads, but may not administer. */
	call(&r, "POST", INVITE, m.access, it_jobj("email", other, "role",
	    "member", NULL));
	expect_error(&r, 403, "insufficient_role", NULL);
	it_response_free(&r);
	call(&r, "POST", KEYS, m.access,
	    "{\"name\":\"mine\",\"scopes\":[\"usage:read\"]}");
	expect_error(&r, 403, "insufficient_role", NULL);
	it_response_free(&r);
	call(&r, "GET", AUDIT, m.access, NULL);
	expect_error(&r, 403, "insufficient_role", NULL);
	it_response_free(&r);

	/* The owner makes the member an admin. */
	snprintf(path, sizeof(path), MEMBERS "/%s", m.user_id);
	call(&r, "PATCH", path, a.access, it_jobj("role", "admin", NULL));
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "role"), "admin");
	assert_string_equal(it_must_str(&r, "user_id"), m.user_id);
	it_response_free(&r);

	/* The only owner can neither step down nor leave. */
	snprintf(path, sizeof(path), MEMBERS "/%s", a.user_id);
	call(&r, "PATCH", path, a.access, it_jobj("role", "admin", NULL));
	expect_error(&r, 409, "last_owner", NULL);
	it_response_free(&r);
	call(&r, "DELETE", path, a.access, NULL);
	expect_error(&r, 409, "last_owner", NULL);
	it_response_free(&r);

	/* An admin (the same token: roles come from the membership). */
	call(&r, "PATCH", path, m.access, it_jobj("role", "member", NULL));
	expect_error(&r, 403, "insufficient_role", NULL);
	it_response_free(&r);
	call(&r, "DELETE", path, m.access, NULL);
	expect_error(&r, 403, "insufficient_role", NULL);
	it_response_free(&r);

	/* Another tenant's member looks exactly like nobody. */
	member_404(&a, b.user_id, &r);
	member_404(&a, "7d5c7a1e-0b7e-4c1a-9f3e-2a4b6c8d0e1f", &r2);
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		v1 = it_json_str(it_json(&r), f[i]);
		v2 = it_json_str(it_json(&r2), f[i]);
		if ((v1 == NULL) != (v2 == NULL) ||
		    (v1 != NULL && strcmp(v1, v2) != 0))
			fail_msg("%s: \"%s\" for another tenant's member, "
			    "\"%s\" for a random id", f[i], v1 != NULL ? v1 :
			    "(null)", v2 != NULL ? v2 : "(null)");
	}
	it_response_free(&r);
	it_response_free(&r2);
	/* And the other tenant's owner is untouched. */
	call(&r, "GET", ME, b.access, NULL);
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "role"), "owner");
	it_response_free(&r);
	it_deferred_check();
}

/* --- 8: the audit trail -------------------------------------------------- */

/* Does the array hold an event with this action? */
static int
has_action(struct json_object *data, const char *action)
{
	size_t	 i, n = json_object_array_length(data);

	for (i = 0; i < n; i++)
		if (strcmp(it_json_str(json_object_array_get_idx(data, i),
		    "action"), action) == 0)
			return 1;
	return 0;
}

static void
test_audit(void **state)
{
	struct it_resp		 r;
	struct acct		 a, m;
	struct json_object	*data, *more;
	char			 email[128], token[128], key[128], id[40];
	char			 path[160], first[40];
	const char		*want[] = { "tenant.created", "auth.login",
				    "auth.login_failed", "member.invited",
				    "member.joined", "member.role_changed",
				    "api_key.created", "api_key.revoked" };
	const char		*second;
	size_t			 i, n;

	it_deferred_reset();
	client_new();
	register_owner(&a, "audit", NULL);
	assert_int_equal(login(NULL, a.email, "Wrong-password-456", NULL), 401);
	assert_int_equal(login(&a, a.email, a.password, NULL), 200);
	email_new(email, sizeof(email), "audited");
	invite(&a, email, "member", token, sizeof(token));
	accept_invitation(&m, email, token, "member");
	snprintf(path, sizeof(path), MEMBERS "/%s", m.user_id);
	call(&r, "PATCH", path, a.access, it_jobj("role", "admin", NULL));
	it_expect_status(&r, 200);
	it_response_free(&r);
	key_create(&a, "audited", "[\"usage:read\"]", key, sizeof(key), id,
	    sizeof(id));
	snprintf(path, sizeof(path), KEYS "/%s", id);
	call(&r, "DELETE", path, a.access, NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);

	call(&r, "GET", AUDIT "?limit=100", a.access, NULL);
	it_expect_status(&r, 200);
	assert_true(it_json_get(it_json(&r), "data", &data));
	assert_true(json_object_is_type(data, json_type_array));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!has_action(data, want[i]))
			it_deferred_fail("no %s event in the trail", want[i]);
	/* Secrets never reach the trail. */
	if (strstr(r.body, key) != NULL || strstr(r.body, token) != NULL ||
	    strstr(r.body, a.password) != NULL)
		fail_msg("the audit trail shows a secret");
	it_response_free(&r);

	/* Filtered by action. */
	call(&r, "GET", AUDIT "?action=member.invited", a.access, NULL);
	it_expect_status(&r, 200);
	assert_true(it_json_get(it_json(&r), "data", &data));
	n = json_object_array_length(data);
	assert_true(n >= 1);
	for (i = 0; i < n; i++)
		assert_string_equal(it_json_str(json_object_array_get_idx(data,
		    i), "action"), "member.invited");
	assert_string_equal(it_json_str(json_object_array_get_idx(data, 0),
	    "target"), email);
	it_response_free(&r);

	/* Pages of one. */
	call(&r, "GET", AUDIT "?limit=1", a.access, NULL);
	it_expect_status(&r, 200);
	assert_true(it_json_get(it_json(&r), "data", &data));
	assert_int_equal(json_object_array_length(data), 1);
	assert_true(it_json_get(it_json(&r), "has_more", &more));
	assert_true(json_object_get_boolean(more));
	snprintf(first, sizeof(first), "%s", it_json_str(
	    json_object_array_get_idx(data, 0), "id"));
	it_response_free(&r);
	snprintf(path, sizeof(path), AUDIT "?limit=1&starting_after=%s", first);
	call(&r, "GET", path, a.access, NULL);
	it_expect_status(&r, 200);
	assert_true(it_json_get(it_json(&r), "data", &data));
	assert_int_equal(json_object_array_length(data), 1);
	assert_true(it_json_get(it_json(&r), "has_more", &more));
	assert_true(json_object_get_boolean(more));
	/* Ids are random (issue 7): no global sequence shows through. */
	second = it_json_str(json_object_array_get_idx(data, 0), "id");
	if (strlen(first) != 36 || second == NULL || strlen(second) != 36 ||
	    strcmp(first, second) == 0 || strspn(first, "0123456789") > 12)
		fail_msg("page two starts at %s after %s", second, first);
	it_response_free(&r);

	call(&r, "GET", AUDIT "?from=yesterday", a.access, NULL);
	expect_error(&r, 400, "invalid_value", "from");
	it_response_free(&r);
	call(&r, "GET", AUDIT "?limit=0", a.access, NULL);
	expect_error(&r, 400, "invalid_value", "limit");
	it_response_free(&r);
	call(&r, "GET", AUDIT "?limit=101", a.access, NULL);
	expect_error(&r, 400, "invalid_value", "limit");
	it_response_free(&r);
	it_deferred_check();
}

/* --- 9: bad input -------------------------------------------------------- */

/* POST /auth/register with a body of our own; the response in r. */
static void
register_raw(struct it_resp *r, const char *ctype, const char *body,
    size_t len)
{
	call_raw(r, "POST", REGISTER, NULL, ctype, body, len);
}

static void
test_bad_input(void **state)
{
	struct it_resp	 r;
	char		 email[128], pw[1100], body[2048], longmail[320];
	char		 access[TOKEN_MAX];
	char		*big;
	const char	*org = "<script>alert(1)</script>' OR 1=1; --";
	const char	*good = "Good-password-for-bad-input";
	int		 n;

	client_new();
	email_new(email, sizeof(email), "bad");

	/* 300 characters of address. */
	memset(longmail, 'a', 300 - strlen("@example.com"));
	snprintf(longmail + 300 - strlen("@example.com"), 20, "@example.com");
	assert_int_equal(strlen(longmail), 300);
	call(&r, "POST", REGISTER, NULL, it_jobj("email", longmail, "password",
	    good, "organization", "X", NULL));
	expect_error(&r, 400, "invalid_value", "email");
	it_response_free(&r);

	/* A raw 0xff byte inside the address. */
	n = snprintf(body, sizeof(body), "{\"email\":\"a\xff%s\",\"password\":"
	    "\"%s\",\"organization\":\"X\"}", email, good);
	register_raw(&r, "application/json", body, (size_t)n);
	if (r.status != 400)
		fail_msg("invalid UTF-8: %ld, want 400", r.status);
	assert_string_equal(it_must_str(&r, "error.type"),
	    "invalid_request_error");
	it_response_free(&r);

	/* Passwords: 11 characters, then 1025. */
	call(&r, "POST", REGISTER, NULL, it_jobj("email", email, "password",
	    "Elevenchars", "organization", "X", NULL));
	expect_error(&r, 400, "weak_password", "password");
	it_response_free(&r);
	memset(pw, 'p', 1025);
	pw[1025] = '\0';
	call(&r, "POST", REGISTER, NULL, it_jobj("email", email, "password", pw,
	    "organization", "X", NULL));
	expect_error(&r, 400, "invalid_value", "password");
	it_response_free(&r);

	/* An unknown field is named; a wrong type too. */
	n = snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":"
	    "\"%s\",\"organization\":\"X\",\"is_superuser\":true}", email,
	    good);
	register_raw(&r, "application/json", body, (size_t)n);
	expect_error(&r, 400, "unknown_parameter", "is_superuser");
	it_response_free(&r);
	n = snprintf(body, sizeof(body), "{\"email\":5,\"password\":\"%s\","
	    "\"organization\":\"X\"}", good);
	register_raw(&r, "application/json", body, (size_t)n);
	expect_error(&r, 400, "invalid_type", "email");
	it_response_free(&r);

	/* Not JSON, not declared JSON, too big. */
	register_raw(&r, "application/json", "{\"email\": oops",
	    strlen("{\"email\": oops"));
	expect_error(&r, 400, "invalid_json", NULL);
	it_response_free(&r);
	n = snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":"
	    "\"%s\",\"organization\":\"X\"}", email, good);
	register_raw(&r, "text/plain", body, (size_t)n);
	expect_error(&r, 415, "unsupported_media_type", NULL);
	it_response_free(&r);
	big = it_alloc(BODY_LIMIT + 1);
	memset(big, ' ', BODY_LIMIT + 1);
	big[0] = '{';
	big[BODY_LIMIT] = '}';
	register_raw(&r, "application/json", big, BODY_LIMIT + 1);
	free(big);
	expect_error(&r, 413, "body_too_large", NULL);
	it_response_free(&r);

	/* No credentials at all. */
	call(&r, "GET", MEMBERS, NULL, NULL);
	expect_error(&r, 401, "missing_token", NULL);
	assert_non_null(it_header(&r, "WWW-Authenticate"));
	assert_true(strncasecmp(it_header(&r, "WWW-Authenticate"), "Bearer",
	    6) == 0);
	it_response_free(&r);

	/*
	 * Nothing of the refused requests was stored: the address is free,
	 * and metacharacters in the name are kept as text.
	 */
	call(&r, "POST", REGISTER, NULL, it_jobj("email", email, "password",
	    good, "organization", org, NULL));
	it_expect_status(&r, 201);
	assert_string_equal(it_must_str(&r, "tenant.name"), org);
	it_copy_str(access, sizeof(access), &r, "access_token");
	it_response_free(&r);
	call(&r, "GET", ME, access, NULL);
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "tenant.name"), org);
	/* JSON, never sniffed as HTML. */
	assert_non_null(it_header(&r, "Content-Type"));
	assert_true(strncmp(it_header(&r, "Content-Type"), "application/json",
	    16) == 0);
	assert_non_null(it_header(&r, "X-Content-Type-Options"));
	assert_string_equal(it_header(&r, "X-Content-Type-Options"), "nosniff");
	it_response_free(&r);
}

/* --- 10: row-level security, from the application's role ----------------- */

static PGconn *
db_connect(void)
{
	PGconn	*c = PQconnectdb(it_env("TOLLGATE_DATABASE_URL"));

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect as the app role: %s", PQerrorMessage(c));
	return c;
}

static void
db_tenant(PGconn *c, const char *tenant_id)
{
	const char	*v[1] = { tenant_id };
	PGresult	*res;

	res = PQexecParams(c, "SELECT set_config('tollgate.tenant_id', $1, "
	    "false)", 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("set_config: %s", PQerrorMessage(c));
	PQclear(res);
}

/*
 * SELECT * FROM table: how many rows, and whether every one has
 * tenant_id "only" (NULL: no row may be there at all).
 */
static int
db_rows_of(PGconn *c, const char *table, const char *only)
{
	PGresult	*res;
	char		 sql[128];
	int		 col, i, n;

	snprintf(sql, sizeof(sql), "SELECT * FROM %s", table);
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	n = PQntuples(res);
	col = PQfnumber(res, "tenant_id");
	assert_true(col >= 0);
	for (i = 0; i < n; i++)
		if (only == NULL || strcmp(PQgetvalue(res, i, col), only) != 0)
			fail_msg("%s shows a row of tenant %s%s%s", table,
			    PQgetvalue(res, i, col), only != NULL ?
			    " while set to " : " with no tenant set",
			    only != NULL ? only : "");
	PQclear(res);
	return n;
}

/* A statement that must fail with this SQLSTATE. */
static void
db_refused(PGconn *c, const char *sql, const char *const *v, int nv,
    const char *state)
{
	PGresult	*res;
	const char	*got;

	res = PQexecParams(c, sql, nv, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_FATAL_ERROR)
		fail_msg("%s: succeeded (%s, %s rows)", sql,
		    PQresStatus(PQresultStatus(res)), PQcmdTuples(res));
	got = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (got == NULL || strcmp(got, state) != 0)
		fail_msg("%s: SQLSTATE %s, want %s: %s", sql, got != NULL ? got :
		    "(none)", state, PQresultErrorMessage(res));
	print_message("# refused as expected: %s", PQresultErrorMessage(res));
	PQclear(res);
}

static void
test_rls(void **state)
{
	struct acct	 a, b;
	PGconn		*c;
	PGresult	*res;
	char		 key[128];
	const char	*tables[] = { "memberships", "api_keys", "audit_events",
			    "tenants" };
	const char	*v[3];
	size_t		 i;

	client_new();
	register_owner(&a, "rlsa", NULL);
	register_owner(&b, "rlsb", NULL);
	key_create(&a, "rls-a", "[\"usage:read\"]", key, sizeof(key), NULL, 0);
	key_create(&b, "rls-b", "[\"usage:read\"]", key, sizeof(key), NULL, 0);

	/* No tenant set: nothing at all. */
	c = db_connect();
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (db_rows_of(c, tables[i], NULL) != 0)
			fail_msg("%s: rows with no tenant set", tables[i]);

	/* B has rows of its own ... */
	db_tenant(c, b.tenant_id);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (db_rows_of(c, tables[i], b.tenant_id) < 1)
			fail_msg("%s: tenant B has no rows", tables[i]);
	/* ... which A never sees. */
	db_tenant(c, a.tenant_id);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (db_rows_of(c, tables[i], a.tenant_id) < 1)
			fail_msg("%s: tenant A has no rows", tables[i]);

	/* The trail is append-only, whatever the tenant. */
	db_refused(c, "UPDATE audit_events SET action = 'x'", NULL, 0,
	    "42501");
	db_refused(c, "DELETE FROM audit_events", NULL, 0, "42501");
	/* Rows for another tenant cannot be written in. */
	v[0] = b.tenant_id;
	v[1] = a.user_id;
	v[2] = "owner";
	db_refused(c, "INSERT INTO memberships (tenant_id, user_id, role) "
	    "VALUES ($1, $2, $3)", v, 3, "42501");
	db_refused(c, "INSERT INTO audit_events (tenant_id, actor, action) "
	    "VALUES ($1, $2, $3)", v, 3, "42501");
	/* Nor can B's rows be changed from A: they are not there. */
	res = PQexecParams(c, "UPDATE memberships SET role = 'member' WHERE "
	    "tenant_id = $1", 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("UPDATE memberships: %s", PQerrorMessage(c));
	assert_string_equal(PQcmdTuples(res), "0");
	PQclear(res);

	/* Set back to nothing: nothing again. */
	db_tenant(c, "");
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (db_rows_of(c, tables[i], NULL) != 0)
			fail_msg("%s: rows after the tenant was cleared",
			    tables[i]);
	PQfinish(c);
}

/* --- 11: platform keys --------------------------------------------------- */

static void
test_platform_key(void **state)
{
	struct it_resp	 r;
	struct acct	 a;
	FILE		*fp;
	char		 cmd[1024], line[256], path[160];
	int		 rc;

	client_new();
	register_owner(&a, "platform", NULL);
	snprintf(cmd, sizeof(cmd), "'%s' admin platform-key create "
	    "test-runner-%ld", it_env("TOLLGATE_BIN"), (long)acc_pid);
	print_message("$ %s\n", cmd);
	if ((fp = popen(cmd, "r")) == NULL)
		fail_msg("popen %s failed", cmd);
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	while (fgetc(fp) != EOF)
		continue;
	rc = pclose(fp);
	if (rc != 0)
		fail_msg("%s: exit status %d", cmd, rc);
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "tg_", 3) != 0)
		fail_msg("first line of the output is not a tg_ secret");

	snprintf(path, sizeof(path), ME "?tenant_id=%s", a.tenant_id);
	call(&r, "GET", path, line, NULL);
	it_expect_status(&r, 200);
	assert_string_equal(it_must_str(&r, "tenant.id"), a.tenant_id);
	assert_string_equal(it_must_str(&r, "api_key.kind"), "platform");
	it_response_free(&r);

	call(&r, "GET", ME, line, NULL);
	expect_error(&r, 400, "missing_parameter", "tenant_id");
	it_response_free(&r);

	call(&r, "GET", ME "?tenant_id=5b1f0c9e-3d4a-4e8b-9c2d-1a0f7e6d5c4b",
	    line, NULL);
	expect_error(&r, 404, "tenant_not_found", "tenant_id");
	it_response_free(&r);
}

/* --- 12: the tenant's rate limit holds across responders ----------------- */

/* The responder that answered, from its log line. */
static long
responder_of(const struct it_resp *r)
{
	char		 needle[64], line[2048];
	const char	*rid = it_header(r, "X-Request-Id"), *p;

	if (rid == NULL)
		return -1;
	snprintf(needle, sizeof(needle), " rid=%s ", rid);
	if (!it_log_find(needle, "status=", 5.0, line, sizeof(line)) ||
	    (p = strstr(line, "tollgate-responder[")) == NULL)
		return -1;
	return strtol(p + strlen("tollgate-responder["), NULL, 10);
}

static void
test_rate_limit_tenant(void **state)
{
	struct it_resp	 r[25];
	long		 pids[25];
	time_t		 w0, w1;
	int		 attempt, i, j, ok, limited, counted, distinct, hold;

	client_new();
	/* Unsure which minute the key's creation counted in: a later one. */
	while (!rate_key_sure && time(NULL) / 60 <= rate_key_window)
		it_sleep_ms(500);
	for (attempt = 0; attempt < 2; attempt++) {
		window_fresh(60, 5);
		w0 = time(NULL) / 60;
		/*
		 * One idle responder takes every connection of a sequential
		 * burst (the kernel wakes one waiter, the first idle one).
		 * A silent FastCGI connection holds that one for the first
		 * half, so another answers it, and the count must hold
		 * across both.
		 */
		if ((hold = it_unix_connect(it_env("TOLLGATE_SOCKET"))) == -1)
			fail_msg("cannot connect to the FastCGI socket");
		for (i = 0; i < 25; i++) {
			if (i == 12) {
				close(hold);
				it_sleep_ms(100);
			}
			call(&r[i], "GET", ME, rate_key, NULL);
		}
		w1 = time(NULL) / 60;
		if (w0 == w1)
			break;
		print_message("# a minute ended during the burst: again\n");
		for (i = 0; i < 25; i++)
			it_response_free(&r[i]);
		it_sleep_ms(1000);
	}
	if (attempt == 2)
		fail_msg("a minute ended during both bursts");
	/* The key's creation counted in its own minute. */
	counted = w0 == rate_key_window ? 1 : 0;
	ok = limited = 0;
	for (i = 0; i < 25; i++) {
		if (header_num(&r[i], "X-RateLimit-Limit") != FREE_RATE)
			fail_msg("X-RateLimit-Limit %s, want %d",
			    it_header(&r[i], "X-RateLimit-Limit"), FREE_RATE);
		if (r[i].status == 200) {
			if (limited > 0)
				fail_msg("request %d passed after a 429", i);
			ok++;
			assert_int_equal(header_num(&r[i],
			    "X-RateLimit-Remaining"), FREE_RATE - counted - ok);
			continue;
		}
		expect_error(&r[i], 429, "rate_limited", NULL);
		assert_true(header_num(&r[i], "Retry-After") >= 1);
		assert_int_equal(header_num(&r[i], "X-RateLimit-Remaining"), 0);
		j = (int)header_num(&r[i], "X-RateLimit-Reset");
		assert_true(j >= 1 && j <= 60);
		limited++;
	}
	print_message("# %d passed, %d limited (%d counted before)\n", ok,
	    limited, counted);
	assert_int_equal(ok, FREE_RATE - counted);
	assert_int_equal(limited, 25 - ok);
	/* Several responders answered, and the count held across them. */
	distinct = 0;
	for (i = 0; i < 25; i++) {
		pids[i] = responder_of(&r[i]);
		for (j = 0; j < i && pids[j] != pids[i]; j++)
			continue;
		if (pids[i] > 0 && j == i)
			distinct++;
		it_response_free(&r[i]);
	}
	print_message("# %d responders answered\n", distinct);
	assert_true(distinct >= 2);
}

/* --- 3b: the per-address limit of the auth routes (last) ----------------- */

static void
test_rate_limit_ip(void **state)
{
	struct it_resp	 r;
	const char	*body = "{\"refresh_token\":\"tgr_not-a-real-token\"}";
	long		 limit, i, reset;
	time_t		 w0;
	int		 attempt;

	limit = strtol(it_env_or("TOLLGATE_RATE_AUTH_IP", "30"), NULL, 10);
	assert_true(limit > 0 && limit <= 1000);
	for (attempt = 0; attempt < 2; attempt++) {
		client_new();
		window_fresh(60, 10);
		w0 = time(NULL) / 60;
		/* The cheapest auth route: no password hashing. */
		for (i = 0; i < limit; i++) {
			call(&r, "POST", REFRESH, NULL, body);
			expect_error(&r, 401, "invalid_refresh_token", NULL);
			assert_int_equal(header_num(&r, "X-RateLimit-Limit"),
			    limit);
			assert_int_equal(header_num(&r, "X-RateLimit-Remaining"),
			    limit - i - 1);
			it_response_free(&r);
		}
		call(&r, "POST", REFRESH, NULL, body);
		if (time(NULL) / 60 != w0) {
			it_response_free(&r);
			continue;
		}
		expect_error(&r, 429, "rate_limited", NULL);
		assert_true(header_num(&r, "Retry-After") >= 1);
		assert_int_equal(header_num(&r, "X-RateLimit-Limit"), limit);
		assert_int_equal(header_num(&r, "X-RateLimit-Remaining"), 0);
		reset = header_num(&r, "X-RateLimit-Reset");
		assert_true(reset >= 1 && reset <= 60);
		it_response_free(&r);
		/* Login too is refused from here, before any hashing. */
		call(&r, "POST", LOGIN, NULL, it_jobj("email", "x@example.com",
		    "password", "whatever-password", NULL));
		expect_error(&r, 429, "rate_limited", NULL);
		it_response_free(&r);
		/* Another address is not affected. */
		client_new();
		call(&r, "POST", REFRESH, NULL, body);
		expect_error(&r, 401, "invalid_refresh_token", NULL);
		it_response_free(&r);
		return;
	}
	fail_msg("a minute ended during both bursts");
}

/* --- set-up -------------------------------------------------------------- */

/*
 * The rate-limit test needs a tenant key whose minute is known: made
 * here, long before, so that test rarely has to wait.
 */
static int
group_setup(void **state)
{
	time_t	 before;

	it_init();
	acc_pid = getpid();
	it_env("TOLLGATE_URL");
	it_env("TOLLGATE_JWT_SECRET");
	it_env("TOLLGATE_DATABASE_URL");
	if (it_wait_health(15.0) != 0)
		return -1;
	client_new();
	register_owner(&rate_owner, "rate", NULL);
	before = time(NULL) / 60;
	key_create(&rate_owner, "rate", "[\"usage:read\"]", rate_key,
	    sizeof(rate_key), NULL, 0);
	rate_key_window = time(NULL) / 60;
	rate_key_sure = rate_key_window == before;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_register_login_me),
		cmocka_unit_test(test_login_unknown_vs_wrong),
		cmocka_unit_test(test_login_throttle_account),
		cmocka_unit_test(test_accept_throttled),
		cmocka_unit_test(test_refresh_rotation),
		cmocka_unit_test(test_jwt_attacks),
		cmocka_unit_test(test_api_keys),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_rls),
		cmocka_unit_test(test_platform_key),
		cmocka_unit_test(test_rate_limit_tenant),
		/* Last: it uses up an address's budget on purpose. */
		cmocka_unit_test(test_rate_limit_ip),
	};

	return cmocka_run_group_tests_name("it-accounts", tests, group_setup,
	    NULL);
}
