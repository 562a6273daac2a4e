/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: the life of credentials over real HTTP (lighttpd in
 * front of tollgate serve, PostgreSQL behind).  Portal sessions end by
 * idle time, by their absolute expiry and at logout (SPEC 11); a
 * password change revokes every session and refresh token of the user,
 * in every tenant; `tollgate work --once` deletes credentials a week
 * past their end and keeps the rest (SPEC 1); a member removed by the
 * owner loses the portal session, the refresh token and the access
 * token at once.  Run by tests/integration.sh with the stack's
 * stack.env exported.
 *
 * Time is not waited for: rows are aged through the migration owner's
 * database connection (TOLLGATE_OWNER_DATABASE_URL).  The tenant tables
 * have FORCE ROW LEVEL SECURITY, which binds their owner too, and the
 * owner role is NOBYPASSRLS; so the owner's connection sets
 * tollgate.tenant_id for the tenant it ages, exactly as the application
 * does, and the tenant_isolation policy lets it see and change that
 * tenant's rows and no others.  That is enough for everything here, so
 * the cluster's superuser (which would bypass RLS) is not used.  Rows
 * are found by the SHA-256 of the token the client holds, which is what
 * the product stores.
 *
 * Like it-accounts and it-mail, each test talks from a loopback address
 * of its own, 127.11.P.N (the sign-in routes are limited per address
 * and minute, and every program of the run shares the stack), and uses
 * e-mail addresses made of the pid and a counter, so a second run on
 * the same stack meets nothing of the first.
 *
 * A check that finds a product bug reports it through it_deferred_fail()
 * and lets the test go on, so one bug does not hide the checks after
 * it; the test still fails at its end.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <jwt.h>
#include <libpq-fe.h>

#include "it-util.h"

#define API		"/api/v1"
#define REGISTER	API "/auth/register"
#define LOGIN		API "/auth/login"
#define REFRESH		API "/auth/refresh"
#define PASSWORD	API "/auth/password"
#define ME		API "/auth/me"
#define MEMBERS		API "/members"
#define INVITE		API "/members/invitations"
#define ACCEPT		API "/invitations/accept"
#define AUDIT		API "/audit"

#define FORM		"application/x-www-form-urlencoded"
#define TOKEN_MAX	2048	/* bytes of an access token kept */
#define COOKIE_MAX	256	/* bytes of a cookie value kept */
#define FORM_MAX	4096	/* bytes of a form body */
#define WORK_OUT_MAX	65536	/* bytes of `tollgate work` output kept */
#define WORK_JOB	"job \"prune credentials\""

/* Rows are found as the product stores them: by the token's SHA-256. */
#define BY_TOKEN	"hash = sha256(convert_to($1, 'UTF8'))"

/* A user, the tenant they act in and their API tokens. */
struct user {
	char	 email[128];
	char	 password[64];
	char	 access[TOKEN_MAX];
	char	 refresh[128];
	char	 user_id[40];
	char	 tenant_id[40];
};

static pid_t		 se_pid;
static unsigned int	 se_nemails;
static long		 se_idle_s;		/* TOLLGATE_SESSION_IDLE */
static long		 se_max_s;		/* TOLLGATE_SESSION_MAX */

/* --- clients and names --------------------------------------------------- */


/* A fresh e-mail address: ses<pid>-<n>-<tag>@example.com. */
static void
email_new(char *out, size_t outsz, const char *tag)
{
	snprintf(out, outsz, "ses%ld-%u-%s@example.com", (long)se_pid,
	    ++se_nemails, tag);
}

static void
user_new(struct user *u, const char *tag)
{
	memset(u, 0, sizeof(*u));
	email_new(u->email, sizeof(u->email), tag);
	snprintf(u->password, sizeof(u->password), "Sess-%ld-%u-%s-pw",
	    (long)se_pid, se_nemails, tag);
}

/* --- HTTP ---------------------------------------------------------------- */


static void
expect_status(const struct it_resp *r, long status, const char *what)
{
	if (r->status != status)
		fail_msg("%s: status %ld, want %ld: %.300s", what, r->status,
		    status, r->body);
}



/* Append "&k=v", v percent-encoded, to a form body. */
static void
form_add(char *buf, size_t bufsz, const char *k, const char *v)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 n = strlen(buf);
	unsigned char		 c;

	n += (size_t)snprintf(buf + n, bufsz - n, "%s%s=", n > 0 ? "&" : "",
	    k);
	for (; *v != '\0' && n + 4 < bufsz; v++) {
		c = (unsigned char)*v;
		if (isalnum(c) || strchr("-._~", c) != NULL)
			buf[n++] = (char)c;
		else {
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 0xf];
		}
	}
	if (*v != '\0' || n >= bufsz)
		fail_msg("form body over %zu bytes", bufsz);
	buf[n] = '\0';
}

/* An API error with this status and code (deferred: a product answer). */
static int
api_error_is(struct it_resp *r, long status, const char *code,
    const char *what)
{
	const char	*got;

	got = r->status == status ? it_json_str(it_json(r), "error.code") :
	    NULL;
	if (got != NULL && strcmp(got, code) == 0)
		return 1;
	it_deferred_fail("%s: %ld %.300s, want %ld %s", what, r->status,
	    r->body, status, code);
	return 0;
}

/* --- the API ------------------------------------------------------------- */

static void
take_tokens(struct user *u, struct it_resp *r)
{
	it_copy_str(u->access, sizeof(u->access), r, "access_token");
	it_copy_str(u->refresh, sizeof(u->refresh), r, "refresh_token");
	it_copy_str(u->user_id, sizeof(u->user_id), r, "user.id");
	it_copy_str(u->tenant_id, sizeof(u->tenant_id), r, "tenant.id");
}

/* A new user owning a new tenant, through the API. */
static void
api_register(struct user *u, const char *tag)
{
	struct it_resp	 r;
	char		 org[128];

	user_new(u, tag);
	snprintf(org, sizeof(org), "Sessions %s %ld", tag, (long)se_pid);
	it_http(&r, "POST", REGISTER, NULL, NULL, "application/json",
	    it_jobj("email", u->email, "password", u->password, "organization",
	    org, NULL));
	expect_status(&r, 201, "register");
	take_tokens(u, &r);
	it_response_free(&r);
	/* Owners here invite: their address counts as proven (it-verify). */
	it_mark_verified(u->email);
}

/* Sign in through the API; the status, tokens into u on 200. */
static long
api_login(struct user *u, const char *email, const char *password)
{
	struct it_resp	 r;
	long		 status;

	it_http(&r, "POST", LOGIN, NULL, NULL, "application/json",
	    it_jobj("email", email, "password", password, NULL));
	status = r.status;
	if (status == 200 && u != NULL)
		take_tokens(u, &r);
	it_response_free(&r);
	return status;
}

/* Invite email as role; the link's token into token. */
static void
api_invite(const struct user *by, const char *email, const char *role,
    char *token, size_t tokensz)
{
	struct it_resp	 r;
	char		 link[512];
	const char	*slash;

	it_http(&r, "POST", INVITE, NULL, by->access, "application/json",
	    it_jobj("email", email, "role", role, NULL));
	expect_status(&r, 201, "invite");
	it_copy_str(link, sizeof(link), &r, "link");
	if ((slash = strrchr(link, '/')) == NULL || strlen(slash + 1) < 20 ||
	    strlen(slash + 1) >= tokensz)
		fail_msg("no invitation token in the link %s", link);
	memcpy(token, slash + 1, strlen(slash + 1) + 1);
	it_response_free(&r);
}

/* Accept an invitation with u's e-mail and password; tokens into u. */
static void
api_accept(struct user *u, const char *token)
{
	struct it_resp	 r;

	it_http(&r, "POST", ACCEPT, NULL, NULL, "application/json",
	    it_jobj("token", token, "password", u->password, NULL));
	expect_status(&r, 200, "accept the invitation");
	take_tokens(u, &r);
	it_response_free(&r);
}

/* Present a refresh token: it must be refused (401, any code). */
static void
refresh_refused(const char *token, const char *what)
{
	struct it_resp	 r;

	it_http(&r, "POST", REFRESH, NULL, NULL, "application/json",
	    it_jobj("refresh_token", token, NULL));
	/* Not the body: on 200 it holds live tokens. */
	if (r.status != 401)
		it_deferred_fail("%s: the refresh token got %ld, want 401",
		    what, r.status);
	it_response_free(&r);
}

/* --- the portal ---------------------------------------------------------- */

/*
 * GET a public form page for the pre-login cookie and its CSRF token:
 * "tg_pre=..." into cookie, the token into csrf.
 */
static void
portal_form(const char *path, char *cookie, size_t cookiesz, char *csrf,
    size_t csrfsz)
{
	struct it_resp	 r;
	char		 pre[COOKIE_MAX - 16];

	it_http(&r, "GET", path, NULL, NULL, NULL, NULL);
	expect_status(&r, 200, path);
	if (!it_set_cookie(&r, "tg_pre", pre, sizeof(pre), NULL))
		fail_msg("GET %s set no tg_pre cookie:\n%s", path, r.head);
	snprintf(cookie, cookiesz, "tg_pre=%s", pre);
	it_csrf_of(&r, NULL, csrf, csrfsz);
	it_response_free(&r);
}

/*
 * The answer to a sign-in form: 303 to /dashboard with the session
 * cookie, "tg_session=..." into session.  *line, when not NULL, gets a
 * copy of the Set-Cookie line (caller frees).
 */
static void
portal_session_of(struct it_resp *r, const char *what, char *session,
    size_t sessionsz, char **line)
{
	char		 v[COOKIE_MAX - 16];
	const char	*loc, *l = NULL;

	expect_status(r, 303, what);
	loc = it_header(r, "Location");
	if (loc == NULL || strcmp(loc, "/dashboard") != 0)
		fail_msg("%s: Location %s, want /dashboard", what,
		    loc != NULL ? loc : "(none)");
	if (!it_set_cookie(r, "tg_session", v, sizeof(v), &l) || v[0] == '\0')
		fail_msg("%s: no tg_session cookie:\n%s", what, r->head);
	snprintf(session, sessionsz, "tg_session=%s", v);
	if (line != NULL)
		*line = it_strndup(l, strlen(l));
}

/* Sign up through the portal's form; the session cookie into session. */
static void
portal_register(struct user *u, const char *tag, char *session,
    size_t sessionsz, char **cookie_line)
{
	struct it_resp	 r;
	char		 pre[COOKIE_MAX], csrf[128], body[FORM_MAX], org[128];

	user_new(u, tag);
	snprintf(org, sizeof(org), "Portal %s %ld", tag, (long)se_pid);
	portal_form("/register", pre, sizeof(pre), csrf, sizeof(csrf));
	body[0] = '\0';
	form_add(body, sizeof(body), "csrf", csrf);
	form_add(body, sizeof(body), "organization", org);
	form_add(body, sizeof(body), "name", "Session Tester");
	form_add(body, sizeof(body), "email", u->email);
	form_add(body, sizeof(body), "password", u->password);
	it_http(&r, "POST", "/register", pre, NULL, FORM, body);
	portal_session_of(&r, "POST /register", session, sessionsz,
	    cookie_line);
	it_response_free(&r);
}

/* Sign in through the portal's form; the session cookie into session. */
static void
portal_login(const struct user *u, char *session, size_t sessionsz)
{
	struct it_resp	 r;
	char		 pre[COOKIE_MAX], csrf[128], body[FORM_MAX];

	portal_form("/login", pre, sizeof(pre), csrf, sizeof(csrf));
	body[0] = '\0';
	form_add(body, sizeof(body), "csrf", csrf);
	form_add(body, sizeof(body), "email", u->email);
	form_add(body, sizeof(body), "password", u->password);
	it_http(&r, "POST", "/login", pre, NULL, FORM, body);
	portal_session_of(&r, "POST /login", session, sessionsz, NULL);
	it_response_free(&r);
}

/*
 * The session must open the dashboard (a precondition: failing the test
 * otherwise).  Its CSRF token into csrf unless NULL.
 */
static void
signed_in(const char *session, const struct user *u, const char *what,
    char *csrf, size_t csrfsz)
{
	struct it_resp	 r;

	it_http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	expect_status(&r, 200, what);
	if (strstr(r.body, u->email) == NULL)
		fail_msg("%s: the dashboard does not name %s", what, u->email);
	if (csrf != NULL)
		it_csrf_of(&r, NULL, csrf, csrfsz);
	it_response_free(&r);
}

/* The session must no longer open the dashboard: 303 to /login. */
static void
signed_out(const char *session, const char *what)
{
	struct it_resp	 r;
	const char	*loc;

	it_http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	loc = it_header(&r, "Location");
	if (r.status != 303 || loc == NULL || strcmp(loc, "/login") != 0)
		it_deferred_fail("%s: GET /dashboard answered %ld (Location "
		    "%s), want 303 to /login", what, r.status, loc != NULL ?
		    loc : "none");
	it_response_free(&r);
}

/* The token part of "tg_session=<token>". */
static const char *
token_of(const char *cookie)
{
	const char	*eq = strchr(cookie, '=');

	return eq != NULL ? eq + 1 : cookie;
}

/* --- the owner's database connection ------------------------------------- */

static PGconn *
owner_connect(void)
{
	PGconn	*c;
	char	 why[512];

	c = PQconnectdb(it_env("TOLLGATE_OWNER_DATABASE_URL"));
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		snprintf(why, sizeof(why), "%s", c != NULL ?
		    PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		fail_msg("owner connection: %s", why);
	}
	return c;
}

/*
 * Run a statement; the rows it returned or changed.  A failure fails
 * the test (the statements are the test's own).
 */
static long
owner_exec(PGconn *c, const char *sql, int n, const char *const *v)
{
	PGresult	*res;
	ExecStatusType	 st;
	char		 why[512];
	long		 rows;

	res = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(why, sizeof(why), "%s", PQerrorMessage(c));
		PQclear(res);
		fail_msg("%s: %s", sql, why);
	}
	rows = st == PGRES_TUPLES_OK ? PQntuples(res) :
	    strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return rows;
}

/* The one value a query returns, as a number. */
static long long
owner_num(PGconn *c, const char *sql, int n, const char *const *v)
{
	PGresult	*res;
	char		 why[512];
	long long	 x;

	res = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQgetisnull(res, 0, 0)) {
		snprintf(why, sizeof(why), "%s", PQresultStatus(res) ==
		    PGRES_TUPLES_OK ? "not exactly one value" :
		    PQerrorMessage(c));
		PQclear(res);
		fail_msg("%s: %s", sql, why);
	}
	x = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return x;
}

/*
 * Scope the connection to a tenant for the rest of the session (not
 * just a transaction: is_local false), so the tenant_isolation policy
 * shows its rows.
 */
static void
owner_tenant(PGconn *c, const char *tenant_id)
{
	owner_exec(c, "SELECT set_config('tollgate.tenant_id', $1, false)",
	    1, &tenant_id);
}

/* A statement that must change exactly one row, found by token. */
static void
owner_age(PGconn *c, const char *sql, const char *token, const char *what)
{
	long	 n;

	if ((n = owner_exec(c, sql, 1, &token)) != 1)
		fail_msg("aging %s changed %ld rows, want 1", what, n);
}

/* How many rows of a table hold this token's hash. */
static long long
rows_by_token(PGconn *c, const char *table, const char *token)
{
	char	 sql[256];

	/* table is one of the test's own literals. */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE " BY_TOKEN,
	    table);
	return owner_num(c, sql, 1, &token);
}

/* --- 1: portal sessions: idle, absolute expiry, logout ------------------- */

/* Make the session look idle for "secs" seconds. */
static void
session_idle_for(PGconn *c, const char *session, long secs)
{
	char		 s[32];
	const char	*p[2] = { token_of(session), s };

	snprintf(s, sizeof(s), "%ld", secs);
	if (owner_exec(c, "UPDATE portal_sessions SET last_seen_at = now() - "
	    "make_interval(secs => $2::int) WHERE " BY_TOKEN, 2, p) != 1)
		fail_msg("cannot age the session");
}

/*
 * Idle a minute less than TOLLGATE_SESSION_IDLE: alive, and the request
 * renews it.  A minute more: refused, and not revived by the attempt.
 */
static void
session_idle(PGconn *c, const struct user *u, const char *session)
{
	const char	*p[1] = { token_of(session) };

	session_idle_for(c, session, se_idle_s - 60);
	signed_in(session, u, "a session idle for less than "
	    "TOLLGATE_SESSION_IDLE", NULL, 0);
	if (owner_num(c, "SELECT count(*) FROM portal_sessions WHERE "
	    BY_TOKEN " AND last_seen_at > now() - interval '60 seconds'", 1,
	    p) != 1)
		it_deferred_fail("a request did not renew the session's "
		    "last_seen_at: it would go idle while in use");

	session_idle_for(c, session, se_idle_s + 60);
	signed_out(session, "a session idle beyond TOLLGATE_SESSION_IDLE");
	if (owner_num(c, "SELECT count(*) FROM portal_sessions WHERE "
	    BY_TOKEN " AND last_seen_at < now() - interval '60 seconds'", 1,
	    p) != 1)
		it_deferred_fail("the refused idle session was touched");
}

/* A fresh session past its absolute expiry is refused too. */
static void
session_expired(PGconn *c, const struct user *u)
{
	char	 session[COOKIE_MAX];

	portal_login(u, session, sizeof(session));
	signed_in(session, u, "a fresh session", NULL, 0);
	owner_age(c, "UPDATE portal_sessions SET expires_at = now() - "
	    "interval '1 second' WHERE " BY_TOKEN, token_of(session),
	    "the fresh session");
	signed_out(session, "a session past its expires_at");
}

/* POST /logout with this CSRF token; the response into r. */
static void
logout(struct it_resp *r, const char *session, const char *csrf)
{
	char	 body[FORM_MAX];

	body[0] = '\0';
	form_add(body, sizeof(body), "csrf", csrf);
	it_http(r, "POST", "/logout", session, NULL, FORM, body);
}

/* Logout: a forged form changes nothing; the real one ends it. */
static void
session_logout(PGconn *c, const struct user *u)
{
	struct it_resp	 r;
	char		 session[COOKIE_MAX], csrf[128], v[COOKIE_MAX];
	const char	*loc, *line = NULL, *p[1];

	portal_login(u, session, sizeof(session));
	signed_in(session, u, "a session before logout", csrf, sizeof(csrf));
	logout(&r, session, "not-the-token");
	if (r.status != 403)
		it_deferred_fail("logout with a wrong CSRF token: %ld, want "
		    "403", r.status);
	it_response_free(&r);
	signed_in(session, u, "the session after a forged logout", NULL, 0);

	logout(&r, session, csrf);
	expect_status(&r, 303, "POST /logout");
	if ((loc = it_header(&r, "Location")) == NULL ||
	    strcmp(loc, "/login") != 0)
		it_deferred_fail("logout redirects to %s, want /login",
		    loc != NULL ? loc : "nowhere");
	if (!it_set_cookie(&r, "tg_session", v, sizeof(v), &line) ||
	    v[0] != '\0' || strstr(line, "Max-Age=0") == NULL)
		it_deferred_fail("logout does not clear the tg_session cookie");
	it_response_free(&r);
	/* The browser dropped it; whoever kept a copy has nothing. */
	signed_out(session, "the session after logout");
	p[0] = token_of(session);
	if (owner_num(c, "SELECT count(*) FROM portal_sessions WHERE "
	    BY_TOKEN " AND revoked_at IS NOT NULL", 1, p) != 1)
		it_deferred_fail("the logged-out session is not marked "
		    "revoked");
}

static void
test_portal_session(void **state)
{
	struct user	 u;
	PGconn		*c;
	char		 session[COOKIE_MAX], want[64];
	char		*line = NULL;
	const char	*p[1];

	it_deferred_reset();
	it_client_new();
	portal_register(&u, "portal", session, sizeof(session), &line);
	signed_in(session, &u, "the session right after sign-up", NULL, 0);
	/* The cookie (SPEC 11): HttpOnly, SameSite=Lax, the absolute age. */
	snprintf(want, sizeof(want), "Max-Age=%ld", se_max_s);
	if (strstr(line, "HttpOnly") == NULL ||
	    strstr(line, "SameSite=Lax") == NULL || strstr(line, want) == NULL)
		it_deferred_fail("Set-Cookie: %s; want HttpOnly, SameSite=Lax "
		    "and %s", line, want);
	free(line);
	/* The API names the tenant, which the owner's connection needs. */
	if (api_login(&u, u.email, u.password) != 200)
		fail_msg("the account made through the portal cannot sign in "
		    "through the API");
	c = owner_connect();
	owner_tenant(c, u.tenant_id);
	p[0] = token_of(session);
	if (owner_num(c, "SELECT extract(epoch FROM expires_at - "
	    "created_at)::bigint FROM portal_sessions WHERE " BY_TOKEN, 1,
	    p) != se_max_s)
		it_deferred_fail("the session does not expire "
		    "TOLLGATE_SESSION_MAX (%ld s) after it began", se_max_s);

	session_idle(c, &u, session);
	session_expired(c, &u);
	session_logout(c, &u);
	PQfinish(c);
	it_deferred_check();
}

/* --- 2: a password change revokes everything ----------------------------- */

/* Is there an audit event "action" on "target"?  Read as u (an owner). */
static int
audit_has(const struct user *u, const char *action, const char *target)
{
	struct it_resp		 r;
	struct json_object	*data, *e;
	char			 path[256];
	const char		*a, *t;
	size_t			 i;
	int			 found = 0;

	snprintf(path, sizeof(path), AUDIT "?action=%s", action);
	it_http(&r, "GET", path, NULL, u->access, NULL, NULL);
	expect_status(&r, 200, "GET audit");
	if (!it_json_get(it_json(&r), "data", &data) ||
	    !json_object_is_type(data, json_type_array))
		fail_msg("no data array in %.300s", r.body);
	for (i = 0; i < json_object_array_length(data); i++) {
		e = json_object_array_get_idx(data, i);
		a = it_json_str(e, "action");
		t = it_json_str(e, "target");
		if (a != NULL && strcmp(a, action) == 0 && t != NULL &&
		    strcmp(t, target) == 0)
			found = 1;
	}
	it_response_free(&r);
	return found;
}

/* POST /auth/password as u; the answer into r. */
static void
password_change(struct it_resp *r, const struct user *u, const char *current,
    const char *next)
{
	it_http(r, "POST", PASSWORD, NULL, u->access, "application/json",
	    it_jobj("current_password", current, "new_password", next, NULL));
}

/* Sessions and refresh tokens of a user in a tenant not yet revoked. */
static long long
live_credentials(PGconn *c, const char *tenant_id, const char *user_id)
{
	owner_tenant(c, tenant_id);
	return owner_num(c, "SELECT (SELECT count(*) FROM portal_sessions "
	    "WHERE user_id = $1 AND revoked_at IS NULL) + (SELECT count(*) "
	    "FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL)",
	    1, &user_id);
}

/*
 * A user with a portal session and tokens in a tenant of their own (u),
 * and tokens in a second tenant they were invited to (in2).
 */
static void
user_in_two_tenants(struct user *u, struct user *in2, char *session,
    size_t sessionsz)
{
	struct user	 other;
	char		 token[128];

	api_register(u, "pwd");
	portal_login(u, session, sessionsz);
	signed_in(session, u, "the session before the change", NULL, 0);
	api_register(&other, "pwd-other");
	api_invite(&other, u->email, "member", token, sizeof(token));
	*in2 = *u;
	api_accept(in2, token);
	if (strcmp(in2->tenant_id, other.tenant_id) != 0 ||
	    strcmp(in2->user_id, u->user_id) != 0)
		fail_msg("accepting put %s in tenant %s, want %s", u->email,
		    in2->tenant_id, other.tenant_id);
}

static void
test_password_change(void **state)
{
	struct it_resp	 r;
	struct user	 u, in2;
	PGconn		*c;
	char		 session[COOKIE_MAX], next[64], old[TOKEN_MAX];

	it_deferred_reset();
	it_client_new();
	user_in_two_tenants(&u, &in2, session, sizeof(session));
	snprintf(next, sizeof(next), "Changed-%ld-%u-pw", (long)se_pid,
	    ++se_nemails);

	/* The wrong current password: refused, nothing revoked. */
	password_change(&r, &u, "Not-the-current-pw", next);
	api_error_is(&r, 401, "invalid_credentials", "a password change with "
	    "the wrong current password");
	it_response_free(&r);
	signed_in(session, &u, "the session after a refused change", NULL, 0);

	password_change(&r, &u, u.password, next);
	expect_status(&r, 204, "POST " PASSWORD);
	it_response_free(&r);
	signed_out(session, "the portal session after a password change");
	refresh_refused(u.refresh, "after a password change");
	refresh_refused(in2.refresh, "after a password change, in the "
	    "user's other tenant");
	c = owner_connect();
	if (live_credentials(c, u.tenant_id, u.user_id) != 0 ||
	    live_credentials(c, in2.tenant_id, u.user_id) != 0)
		it_deferred_fail("sessions or refresh tokens are left "
		    "unrevoked after the password change");
	PQfinish(c);

	/* The old password is refused, the new one works. */
	if (api_login(NULL, u.email, u.password) != 401)
		it_deferred_fail("the old password still signs in");
	snprintf(old, sizeof(old), "%s", u.access);
	snprintf(u.password, sizeof(u.password), "%s", next);
	if (api_login(&u, u.email, u.password) != 200)
		fail_msg("the new password does not sign in");
	portal_login(&u, session, sizeof(session));
	signed_in(session, &u, "a session with the new password", NULL, 0);
	if (!audit_has(&u, "auth.password_changed", u.user_id))
		it_deferred_fail("no auth.password_changed event for %s",
		    u.user_id);

	/*
	 * Access tokens issued before the change die with it too (their
	 * issue time is compared with the change's, to the millisecond),
	 * while the one issued by the new sign-in works.
	 */
	it_http(&r, "GET", ME, NULL, old, NULL, NULL);
	api_error_is(&r, 401, "invalid_token", "the access token issued "
	    "before the password change");
	it_response_free(&r);
	it_http(&r, "GET", ME, NULL, u.access, NULL, NULL);
	expect_status(&r, 200, "the access token issued after the change");
	it_response_free(&r);
	it_deferred_check();
}

/* --- 3: the worker removes credentials a week past their end ------------- */

/*
 * Run `tollgate work --once` with the stack's environment; its output
 * (stdout and stderr) into out.  Returns its exit status, -1 if it did
 * not exit normally.
 */
static int
work_once(char *out, size_t outsz)
{
	char	 cmd[4096];
	FILE	*fp;
	size_t	 n = 0, got;
	int	 st;

	snprintf(cmd, sizeof(cmd), "timeout -k 5 60 '%s' work --once 2>&1",
	    it_env("TOLLGATE_BIN"));
	print_message("$ %s\n", cmd);
	if ((fp = popen(cmd, "r")) == NULL)
		fail_msg("popen %s failed", cmd);
	while (n + 1 < outsz && (got = fread(out + n, 1, outsz - n - 1,
	    fp)) > 0)
		n += got;
	out[n] = '\0';
	st = pclose(fp);
	print_message("%s", out);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * The credentials of one tenant for the worker: the "old" ones end 8
 * days before the pass and must go; the others must stay, the
 * "recent" session though it expired a day ago.
 */
struct prune_set {
	struct user	 owner;			/* its refresh token: live */
	char		 refresh_old[128];
	char		 session_old[COOKIE_MAX];
	char		 session_live[COOKIE_MAX];
	char		 session_recent[COOKIE_MAX];
	char		 invitation_old[128];
	char		 invitation_live[128];
};

static void
prune_make(PGconn *c, struct prune_set *k)
{
	struct user	 again;
	char		 email[128];

	api_register(&k->owner, "work");
	again = k->owner;
	if (api_login(&again, again.email, again.password) != 200)
		fail_msg("cannot sign in as %s", again.email);
	snprintf(k->refresh_old, sizeof(k->refresh_old), "%s",
	    again.refresh);
	portal_login(&k->owner, k->session_old, sizeof(k->session_old));
	portal_login(&k->owner, k->session_live, sizeof(k->session_live));
	portal_login(&k->owner, k->session_recent,
	    sizeof(k->session_recent));
	email_new(email, sizeof(email), "inv-old");
	api_invite(&k->owner, email, "member", k->invitation_old,
	    sizeof(k->invitation_old));
	/*
	 * The free plan's second seat is held by that pending invitation:
	 * it must have expired before another can be made.
	 */
	owner_tenant(c, k->owner.tenant_id);
	owner_age(c, "UPDATE invitations SET created_at = now() - "
	    "interval '15 days', expires_at = now() - interval '8 days' "
	    "WHERE " BY_TOKEN, k->invitation_old, "the old invitation");
	email_new(email, sizeof(email), "inv-live");
	api_invite(&k->owner, email, "member", k->invitation_live,
	    sizeof(k->invitation_live));
}

/* Age the rest in one transaction, so the worker can run right after. */
static void
prune_age(PGconn *c, const struct prune_set *k)
{
	owner_exec(c, "BEGIN", 0, NULL);
	owner_age(c, "UPDATE portal_sessions SET created_at = now() - "
	    "interval '9 days', last_seen_at = now() - interval '9 days', "
	    "expires_at = now() - interval '8 days' WHERE " BY_TOKEN,
	    token_of(k->session_old), "the old session");
	owner_age(c, "UPDATE portal_sessions SET created_at = now() - "
	    "interval '2 days', last_seen_at = now() - interval '2 days', "
	    "expires_at = now() - interval '1 day' WHERE " BY_TOKEN,
	    token_of(k->session_recent), "the recently expired session");
	owner_age(c, "UPDATE refresh_tokens SET created_at = now() - "
	    "interval '38 days', expires_at = now() - interval '8 days' "
	    "WHERE " BY_TOKEN, k->refresh_old, "the old refresh token");
	owner_exec(c, "COMMIT", 0, NULL);
}

/*
 * One pass of `tollgate work --once`: exit 0 and the job's line.  The
 * stack's own worker runs every TOLLGATE_WORK_INTERVAL seconds and may
 * have taken the rows first; then the line is in WORKER_LOG, counted
 * "before" the rows were aged.
 */
static void
prune_run(size_t before)
{
	char	*out;
	int	 rc;

	out = it_alloc(WORK_OUT_MAX);
	if ((rc = work_once(out, WORK_OUT_MAX)) != 0)
		it_deferred_fail("tollgate work --once exited %d", rc);
	if (strstr(out, WORK_JOB) != NULL)
		print_message("# the job's line is in work --once's output\n");
	else if (it_file_count(it_env("WORKER_LOG"), WORK_JOB) > before)
		print_message("# the stack's worker pruned first: its line is "
		    "in WORKER_LOG\n");
	else
		it_deferred_fail("neither work --once's output nor WORKER_LOG "
		    "has a line of %s", WORK_JOB);
	free(out);
}

static void
prune_check(PGconn *c, const struct prune_set *k)
{
	if (rows_by_token(c, "portal_sessions", token_of(k->session_old)) !=
	    0)
		it_deferred_fail("a session 8 days past its expiry is left");
	if (rows_by_token(c, "refresh_tokens", k->refresh_old) != 0)
		it_deferred_fail("a refresh token 8 days past its expiry is "
		    "left");
	if (rows_by_token(c, "invitations", k->invitation_old) != 0)
		it_deferred_fail("an invitation 8 days past its expiry is "
		    "left");
	if (rows_by_token(c, "portal_sessions", token_of(k->session_live)) !=
	    1 || rows_by_token(c, "portal_sessions",
	    token_of(k->session_recent)) != 1)
		it_deferred_fail("a live or recently expired session was "
		    "removed");
	if (rows_by_token(c, "refresh_tokens", k->owner.refresh) != 1)
		it_deferred_fail("a live refresh token was removed");
	if (rows_by_token(c, "invitations", k->invitation_live) != 1)
		it_deferred_fail("a pending invitation was removed");
}

static void
test_worker_prune(void **state)
{
	struct prune_set	 k;
	PGconn			*c;
	char			*out;
	size_t			 before;
	int			 rc;

	it_deferred_reset();
	it_client_new();
	c = owner_connect();
	prune_make(c, &k);
	before = it_file_count(it_env("WORKER_LOG"), WORK_JOB);
	prune_age(c, &k);
	prune_run(before);
	prune_check(c, &k);
	PQfinish(c);
	/* What is kept still works, or is still refused. */
	signed_in(k.session_live, &k.owner, "the live session after the "
	    "worker", NULL, 0);
	signed_out(k.session_recent, "the recently expired session");

	/* A pass with nothing to do is a success too. */
	out = it_alloc(WORK_OUT_MAX);
	if ((rc = work_once(out, WORK_OUT_MAX)) != 0)
		it_deferred_fail("a second tollgate work --once exited %d", rc);
	free(out);
	it_deferred_check();
}

/* --- 4: a removed member loses every credential at once ------------------ */

/* A bearer request that must be refused as membership_revoked. */
static void
access_revoked(const char *path, const char *access, const char *what)
{
	struct it_resp	 r;

	it_http(&r, "GET", path, NULL, access, NULL, NULL);
	api_error_is(&r, 401, "membership_revoked", what);
	it_response_free(&r);
}

static void
test_removed_member(void **state)
{
	struct it_resp	 r;
	struct user	 o, a;
	PGconn		*c;
	char		 session[COOKIE_MAX], token[128], path[128];

	it_deferred_reset();
	it_client_new();
	api_register(&o, "owner");
	user_new(&a, "admin");
	api_invite(&o, a.email, "admin", token, sizeof(token));
	api_accept(&a, token);
	if (strcmp(a.tenant_id, o.tenant_id) != 0)
		fail_msg("the admin joined tenant %s, want %s", a.tenant_id,
		    o.tenant_id);
	portal_login(&a, session, sizeof(session));
	signed_in(session, &a, "the admin's session", NULL, 0);
	it_http(&r, "GET", MEMBERS, NULL, a.access, NULL, NULL);
	expect_status(&r, 200, "the admin's access token");
	it_response_free(&r);

	snprintf(path, sizeof(path), MEMBERS "/%s", a.user_id);
	it_http(&r, "DELETE", path, NULL, o.access, NULL, NULL);
	expect_status(&r, 204, "the owner removes the admin");
	it_response_free(&r);

	/* No waiting: the next request of each kind is refused. */
	signed_out(session, "the removed admin's portal session");
	refresh_refused(a.refresh, "the removed admin's");
	access_revoked(MEMBERS, a.access, "the removed admin's unexpired "
	    "access token on " MEMBERS);
	access_revoked(ME, a.access, "the removed admin's unexpired access "
	    "token on " ME);
	c = owner_connect();
	if (live_credentials(c, o.tenant_id, a.user_id) != 0)
		it_deferred_fail("the removed admin's sessions or refresh "
		    "tokens are not revoked");
	PQfinish(c);

	/* The owner is untouched, and the admin is no longer listed. */
	it_http(&r, "GET", MEMBERS, NULL, o.access, NULL, NULL);
	expect_status(&r, 200, "the owner after the removal");
	if (strstr(r.body, a.user_id) != NULL)
		it_deferred_fail("the removed admin is still listed");
	it_response_free(&r);
	it_deferred_check();
}

/* --- issue 7: what an attack from outside got through -------------------- */

#define RACE_THREADS	3
#define RACE_KEEP	8	/* tokens kept per thread */

/* One signing-in thread of the race against a password change. */
struct race {
	const struct user	*u;
	volatile int		*stop;
	char			 access[RACE_KEEP][TOKEN_MAX];
	char			 refresh[RACE_KEEP][128];
	int			 n;
	int			 tries;
};

/* Sign in with the old password again and again until told to stop. */
static void *
race_login(void *arg)
{
	struct race	*ra = arg;
	struct it_resp	 r;
	const char	*hdrs[1] = { NULL };
	char		 body[512];
	CURL		*h;

	if ((h = curl_easy_init()) == NULL)
		return NULL;
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}",
	    ra->u->email, ra->u->password);
	while (!*ra->stop && ra->n < RACE_KEEP && ra->tries < 40) {
		ra->tries++;
		if (it_request_on(h, &r, "POST", LOGIN, "application/json",
		    body, strlen(body), hdrs) == 0 && r.status == 200) {
			it_copy_str(ra->access[ra->n], TOKEN_MAX, &r,
			    "access_token");
			it_copy_str(ra->refresh[ra->n], 128, &r,
			    "refresh_token");
			ra->n++;
		}
		it_response_free(&r);
	}
	curl_easy_cleanup(h);
	return NULL;
}

/*
 * Finding 1: sign-ins with the old password while a change runs.  Once
 * the change has answered, no token any of them got may work, and no
 * sign-in is audited after the change.
 */
static void
test_password_change_outrun(void **state)
{
	struct race	 ra[RACE_THREADS];
	pthread_t	 th[RACE_THREADS];
	struct it_resp	 r;
	struct user	 u;
	volatile int	 stop = 0;
	PGconn		*c;
	int		 i, k, got = 0;
	const char	*v[1];

	it_client_new();
	api_register(&u, "race");
	for (i = 0; i < RACE_THREADS; i++) {
		memset(&ra[i], 0, sizeof(ra[i]));
		ra[i].u = &u;
		ra[i].stop = &stop;
		if (pthread_create(&th[i], NULL, race_login, &ra[i]) != 0)
			fail_msg("pthread_create");
	}
	it_sleep_ms(150);
	password_change(&r, &u, u.password, "a-new-password-after-the-race");
	expect_status(&r, 204, "the password change");
	it_response_free(&r);
	stop = 1;
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	/* The threads spent this address's sign-in budget. */
	it_client_new();
	for (i = 0; i < RACE_THREADS; i++)
		for (k = 0; k < ra[i].n; k++, got++) {
			it_http(&r, "GET", ME, NULL, ra[i].access[k], NULL, NULL);
			if (r.status != 401)
				it_deferred_fail("thread %d token %d: /auth/me "
				    "answered %ld after the change", i, k,
				    r.status);
			it_response_free(&r);
			refresh_refused(ra[i].refresh[k], "a raced sign-in");
		}
	print_message("# %d sign-ins succeeded before the change\n", got);
	c = owner_connect();
	owner_tenant(c, u.tenant_id);
	v[0] = u.user_id;
	if (owner_num(c, "SELECT count(*) FROM audit_events WHERE "
	    "action = 'auth.login' AND target = $1::text AND event_id > "
	    "(SELECT max(event_id) FROM audit_events WHERE action = "
	    "'auth.password_changed' AND target = $1::text)", 1, v) != 0)
		it_deferred_fail("auth.login audited after the change");
	PQfinish(c);
	it_deferred_check();
}

/*
 * Finding 1, the cut-off itself: a session or refresh token made before
 * the change is refused even when the revocation missed it (as a
 * sign-in that raced the change could make it do).
 */
static void
test_password_change_cutoff(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 session[COOKIE_MAX];
	PGconn		*c;
	const char	*v[1];

	it_client_new();
	api_register(&u, "cutoff");
	portal_login(&u, session, sizeof(session));
	password_change(&r, &u, u.password, "the-cut-off-password-1");
	expect_status(&r, 204, "the password change");
	it_response_free(&r);
	c = owner_connect();
	owner_tenant(c, u.tenant_id);
	v[0] = u.user_id;
	/* Undo the revocation, as a racing sign-in could have escaped it. */
	owner_exec(c, "UPDATE portal_sessions SET revoked_at = NULL WHERE "
	    "user_id = $1", 1, v);
	owner_exec(c, "UPDATE refresh_tokens SET revoked_at = NULL WHERE "
	    "user_id = $1", 1, v);
	PQfinish(c);
	signed_out(session, "a session from before the change");
	refresh_refused(u.refresh, "a refresh token from before the change");
	it_deferred_check();
}

/*
 * Sign in through the API with a Cookie header (or none), waiting out
 * the doubling waits unknown clients get after a few failures; the
 * status, and the device cookie set on 200 into device.
 */
static long
login_patient(const char *email, const char *password, const char *cookie,
    char *device, size_t devicesz)
{
	struct it_resp	 r;
	const char	*ra;
	long		 st;

	for (;;) {
		it_http(&r, "POST", LOGIN, cookie, NULL, "application/json",
		    it_jobj("email", email, "password", password, NULL));
		if (r.status != 429 || strstr(r.body, "retry_later") == NULL)
			break;
		ra = it_header(&r, "Retry-After");
		it_sleep_ms(1000 * (ra != NULL ? atol(ra) : 1));
		it_response_free(&r);
	}
	st = r.status;
	if (st == 200 && device != NULL &&
	    !it_set_cookie(&r, "tg_device", device, devicesz, NULL))
		fail_msg("a sign-in set no device cookie:\n%s", r.head);
	it_response_free(&r);
	return st;
}

/* Ten failures from wherever: the account is locked for strangers. */
static void
lock_account(const struct user *u)
{
	char	 wrong[80];
	long	 st;
	int	 i;

	snprintf(wrong, sizeof(wrong), "%s-wrong", u->password);
	for (i = 0; i < 10; i++)
		if ((st = login_patient(u->email, wrong, NULL, NULL, 0)) != 401)
			fail_msg("failure %d answered %ld", i, st);
	if ((st = login_patient(u->email, u->password, NULL, NULL, 0)) != 429)
		fail_msg("the locked account answered %ld, want 429", st);
}

/*
 * Finding 6: anyone could lock anyone out.  A client that signed in
 * before (its device cookie) still gets in with the right password
 * while strangers are locked out; a forged cookie is a stranger's.
 */
static void
test_known_device_not_locked_out(void **state)
{
	struct user	 u;
	char		 device[128], cookie[160];
	long		 st;

	it_client_new();
	api_register(&u, "device");
	if (login_patient(u.email, u.password, NULL, device,
	    sizeof(device)) != 200)
		fail_msg("the first sign-in failed");
	it_client_new();
	lock_account(&u);
	snprintf(cookie, sizeof(cookie), "tg_device=%s", device);
	if ((st = login_patient(u.email, u.password, cookie, NULL, 0)) != 200)
		fail_msg("the owner's own browser answered %ld, want 200", st);
	device[strlen(device) - 1] ^= 1;
	snprintf(cookie, sizeof(cookie), "tg_device=%s", device);
	if ((st = login_patient(u.email, u.password, cookie, NULL, 0)) != 429)
		fail_msg("a forged device cookie answered %ld, want 429", st);
	/* The device's own failures lock the device, not the owner out. */
}

/*
 * Finding 2: PostgreSQL's lower() folds KELVIN SIGN (U+212A) to "k":
 * the lockout of an address must hold for every spelling of it.
 */
static void
test_lockout_case_folding(void **state)
{
	struct user	 u;
	char		 kelvin[160];
	const char	*at;
	long		 st;
	int		 i;

	it_client_new();
	api_register(&u, "kiki");
	lock_account(&u);
	/* "ses...-kiki@..." with its k written as U+212A KELVIN SIGN. */
	at = strstr(u.email, "kiki@");
	if (at == NULL)
		fail_msg("no kiki in %s", u.email);
	snprintf(kelvin, sizeof(kelvin), "%.*s\xe2\x84\xaaiki%s",
	    (int)(at - u.email), u.email, at + 4);
	st = api_login(NULL, kelvin, u.password);
	if (st == 200)
		fail_msg("the KELVIN SIGN spelling signed in past the lockout");
	print_message("# the KELVIN SIGN spelling answered %ld\n", st);
	/* Another case of the same address is the same, locked account. */
	for (i = 0; u.email[i] != '\0'; i++)
		kelvin[i] = (char)toupper((unsigned char)u.email[i]);
	kelvin[i] = '\0';
	if ((st = api_login(NULL, kelvin, u.password)) != 429)
		fail_msg("the upper-case address answered %ld, want 429", st);
}

/* The CSRF token and a signed-in portal session of a new owner. */
static void
portal_owner(struct user *u, const char *tag, char *session, size_t sz,
    char *csrf, size_t csrfsz)
{
	portal_register(u, tag, session, sz, NULL);
	signed_in(session, u, "the new owner", csrf, csrfsz);
}

/* POST a portal form with the session; the status. */
static long
portal_post(const char *path, const char *session, const char *body)
{
	struct it_resp	 r;
	long		 st;

	it_http(&r, "POST", path, session, NULL, FORM, body);
	st = r.status;
	it_response_free(&r);
	return st;
}

/*
 * Finding 3: portal actions count against the tenant's limit like API
 * requests (free plan: 20 a minute), and API keys have a cap.
 */
static void
test_portal_rate_limited(void **state)
{
	struct user	 u;
	char		 session[COOKIE_MAX], csrf[128], body[FORM_MAX];
	char		 name[32];
	long		 st;
	int		 i, made = 0, limited = 0;

	it_client_new();
	portal_owner(&u, "keyflood", session, sizeof(session), csrf,
	    sizeof(csrf));
	for (i = 0; i < 25; i++) {
		snprintf(name, sizeof(name), "flood %d", i);
		body[0] = '\0';
		form_add(body, sizeof(body), "csrf", csrf);
		form_add(body, sizeof(body), "name", name);
		form_add(body, sizeof(body), "scopes", "usage:read");
		st = portal_post("/keys/api", session, body);
		/* Created: post, redirect, get. */
		made += st == 303;
		limited += st == 429;
	}
	print_message("# 25 key forms: %d created, %d refused with 429\n",
	    made, limited);
	assert_true(limited > 0);
	assert_true(made <= 20);
}

/* Finding 3: a tenant has at most 100 live API keys. */
static void
test_key_cap(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	PGconn		*c;
	const char	*v[1];

	it_client_new();
	api_register(&u, "keycap");
	/* 100 keys, made directly: the API allows 20 requests a minute. */
	c = owner_connect();
	owner_tenant(c, u.tenant_id);
	v[0] = u.tenant_id;
	owner_exec(c, "INSERT INTO api_keys (tenant_id, name, prefix, hash, "
	    "scopes) SELECT $1::uuid, 'bulk ' || g, 'tg_bulk', "
	    "sha256(convert_to($1::text || g, 'UTF8')), '{usage:read}' "
	    "FROM generate_series(1, 100) g", 1, v);
	PQfinish(c);
	it_http(&r, "POST", API "/api-keys", NULL, u.access, "application/json",
	    "{\"name\":\"one too many\",\"scopes\":[\"usage:read\"]}");
	if (r.status != 409 || strstr(r.body, "key_limit") == NULL)
		fail_msg("key 101 answered %ld, want 409 key_limit: %.200s",
		    r.status, r.body);
	it_response_free(&r);
}

/* Finding 3: invitations to one address are limited per hour. */
static void
test_invitations_limited(void **state)
{
	struct it_resp	 r;
	struct user	 u[4];
	char		 to[128];
	int		 i;

	it_client_new();
	email_new(to, sizeof(to), "outsider");
	for (i = 0; i < 4; i++) {
		api_register(&u[i], "inviter");
		it_http(&r, "POST", INVITE, NULL, u[i].access, "application/json",
		    it_jobj("email", to, "role", "member", NULL));
		print_message("# invitation %d to %s: %ld\n", i + 1, to,
		    r.status);
		if (i < 3 && r.status != 201)
			fail_msg("invitation %d: %ld", i + 1, r.status);
		if (i == 3 && r.status != 429)
			fail_msg("the 4th invitation within the hour "
			    "answered %ld, want 429", r.status);
		it_response_free(&r);
	}
}

/* Finding 5: the portal refuses control characters like the API. */
static void
test_portal_control_characters(void **state)
{
	struct user	 u;
	char		 pre[COOKIE_MAX], csrf[128], body[FORM_MAX];
	char		 session[COOKIE_MAX];
	PGconn		*c;
	const char	*v[1];
	long		 st;

	it_client_new();
	user_new(&u, "ctl");
	portal_form("/register", pre, sizeof(pre), csrf, sizeof(csrf));
	body[0] = '\0';
	form_add(body, sizeof(body), "csrf", csrf);
	form_add(body, sizeof(body), "organization", "Evil\x1b[2J\x07Org");
	form_add(body, sizeof(body), "email", u.email);
	form_add(body, sizeof(body), "password", u.password);
	st = portal_post("/register", pre, body);
	if (st != 400)
		fail_msg("sign-up with ESC and BEL answered %ld, want 400", st);
	c = owner_connect();
	v[0] = u.email;
	if (owner_num(c, "SELECT count(*) FROM users WHERE email = $1", 1,
	    v) != 0)
		fail_msg("a refused sign-up stored its user");
	portal_owner(&u, "ctl2", session, sizeof(session), csrf, sizeof(csrf));
	body[0] = '\0';
	form_add(body, sizeof(body), "csrf", csrf);
	form_add(body, sizeof(body), "name", "CI\r\nX-Injected: 1\x7f");
	form_add(body, sizeof(body), "scopes", "usage:read");
	if ((st = portal_post("/keys/api", session, body)) != 400)
		fail_msg("a key name with CR LF DEL answered %ld, want 400",
		    st);
	if (api_login(&u, u.email, u.password) != 200)
		fail_msg("the owner cannot sign in");
	owner_tenant(c, u.tenant_id);
	v[0] = u.tenant_id;
	if (owner_num(c, "SELECT count(*) FROM api_keys WHERE tenant_id = $1",
	    1, v) != 0)
		fail_msg("a refused key was stored");
	PQfinish(c);
}

/* Finding 9: an access token without an issue time in ms is refused. */
static void
test_token_without_iat_ms(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	const char	*secret = it_env("TOLLGATE_JWT_SECRET");
	jwt_t		*j = NULL;
	char		*tok;
	time_t		 now = time(NULL);

	it_client_new();
	api_register(&u, "iat");
	if (jwt_new(&j) != 0 || jwt_set_alg(j, JWT_ALG_HS256,
	    (const unsigned char *)secret, (int)strlen(secret)) != 0 ||
	    jwt_add_grant(j, "sub", u.user_id) != 0 ||
	    jwt_add_grant(j, "tid", u.tenant_id) != 0 ||
	    jwt_add_grant(j, "role", "owner") != 0 ||
	    jwt_add_grant(j, "jti", "forged-with-the-secret") != 0 ||
	    jwt_add_grant(j, "iss", "tollgate") != 0 ||
	    jwt_add_grant(j, "aud", "tollgate-api") != 0 ||
	    jwt_add_grant_int(j, "iat", now) != 0 ||
	    jwt_add_grant_int(j, "exp", now + 600) != 0 ||
	    jwt_add_grant_int(j, "iat_ms", 0) != 0 ||
	    (tok = jwt_encode_str(j)) == NULL)
		fail_msg("cannot make the token");
	it_http(&r, "GET", MEMBERS, NULL, tok, NULL, NULL);
	if (r.status != 401)
		fail_msg("a token with iat_ms 0 answered %ld, want 401",
		    r.status);
	it_response_free(&r);
	free(tok);
	jwt_free(j);
}

/* Finding 9: a new sign-in in a browser ends that browser's session. */
static void
test_new_sign_in_ends_old_session(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 first[COOKIE_MAX], second[COOKIE_MAX], pre[COOKIE_MAX];
	char		 csrf[128], body[FORM_MAX], both[2 * COOKIE_MAX + 8];

	it_client_new();
	portal_register(&u, "twice", first, sizeof(first), NULL);
	portal_form("/login", pre, sizeof(pre), csrf, sizeof(csrf));
	body[0] = '\0';
	form_add(body, sizeof(body), "csrf", csrf);
	form_add(body, sizeof(body), "email", u.email);
	form_add(body, sizeof(body), "password", u.password);
	snprintf(both, sizeof(both), "%s; %s", pre, first);
	it_http(&r, "POST", "/login", both, NULL, FORM, body);
	portal_session_of(&r, "the second sign-in", second, sizeof(second),
	    NULL);
	it_response_free(&r);
	signed_in(second, &u, "the new session", NULL, 0);
	signed_out(first, "the browser's previous session");
	it_deferred_check();
}

/* --- set-up -------------------------------------------------------------- */

/* Seconds from the environment (or the default), over two minutes. */
static long
env_seconds(const char *name, const char *def)
{
	const char	*v = it_env_or(name, def);
	char		*end;
	long		 n;

	n = strtol(v, &end, 10);
	if (*end != '\0' || n <= 120)
		fail_msg("%s=%s: want a number of seconds over 120", name, v);
	return n;
}

static int
group_setup(void **state)
{
	it_init();
	se_pid = getpid();
	it_env("TOLLGATE_OWNER_DATABASE_URL");
	it_env("TOLLGATE_BIN");
	it_env("WORKER_LOG");
	/* Clients from 127.11.x.x: the other programs use other ones. */
	it_client_init(11);
	se_idle_s = env_seconds("TOLLGATE_SESSION_IDLE", "7200");
	se_max_s = env_seconds("TOLLGATE_SESSION_MAX", "86400");
	return it_wait_health(15.0) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_portal_session),
		cmocka_unit_test(test_password_change),
		cmocka_unit_test(test_worker_prune),
		cmocka_unit_test(test_removed_member),
		cmocka_unit_test(test_password_change_outrun),
		cmocka_unit_test(test_password_change_cutoff),
		cmocka_unit_test(test_lockout_case_folding),
		cmocka_unit_test(test_known_device_not_locked_out),
		cmocka_unit_test(test_portal_rate_limited),
		cmocka_unit_test(test_key_cap),
		cmocka_unit_test(test_invitations_limited),
		cmocka_unit_test(test_portal_control_characters),
		cmocka_unit_test(test_token_without_iat_ms),
		cmocka_unit_test(test_new_sign_in_ends_old_session),
	};

	return cmocka_run_group_tests_name("it-sessions", tests, group_setup,
	    NULL);
}
