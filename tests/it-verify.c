/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: proving an e-mail address (issue 7, finding 7).  Signing
 * up mails a link <TOLLGATE_PUBLIC_URL>/verify/<token>, read here from
 * the SMTP sink's files ($SMTP_SINK_DIR, one per message, the envelope
 * in X-Sink- lines in front) as a person would read their mail.  Until
 * the link is used the owner cannot invite (403 email_unverified); the
 * link's page only shows a button (a GET, as a mail scanner makes, uses
 * nothing); a POST uses it once; an expired link is refused; new links
 * are limited to 3 an hour; an invited user's address counts as proven
 * by the invitation.  Run by tests/integration.sh with the stack's
 * stack.env exported.
 *
 * Links are aged through the migration owner's database connection
 * (TOLLGATE_OWNER_DATABASE_URL), found by the SHA-256 of the token, as
 * the product stores them; the table is global (users are), so no
 * tenant is set.
 *
 * Like the other programs, each test talks from a loopback address of
 * its own, 127.14.P.N (the public routes are limited per address and
 * minute), and uses e-mail addresses made of the pid and a counter.
 */
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
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
#include <libpq-fe.h>

#include "it-util.h"

#define API		"/api/v1"
#define REGISTER	API "/auth/register"
#define INVITE		API "/members/invitations"
#define ACCEPT		API "/invitations/accept"
#define VERIFY		API "/auth/verify-email"
#define RESEND		API "/auth/verify-email/resend"

#define FORM		"application/x-www-form-urlencoded"
#define TOKEN_MAX	2048		/* bytes of an access token kept */
#define COOKIE_MAX	256		/* bytes of a cookie value kept */
#define LINK_MAX	512		/* bytes of a mailed link kept */
#define LINKS_MAX	8		/* links to one address kept */
#define MAIL_MAX	(256 * 1024)	/* bytes of a sink file read */
#define MAIL_WAIT_S	5.0		/* for a message to reach the sink */

/* A user and the tenant they act in. */
struct user {
	char	 email[128];
	char	 password[64];
	char	 access[TOKEN_MAX];
	char	 user_id[40];
};

static pid_t		 ve_pid;
static unsigned int	 ve_nclients;
static unsigned int	 ve_nemails;
static char		 ve_client[32];		/* source address */
static char		 ve_origin[256];	/* of TOLLGATE_URL */

/* --- clients, names and HTTP --------------------------------------------- */

/* A loopback address the other programs do not use: 127.14.P.N. */
static void
client_new(void)
{
	unsigned int	 n = ++ve_nclients;

	snprintf(ve_client, sizeof(ve_client), "127.14.%u.%u",
	    (unsigned int)ve_pid & 0xff, 10 + n % 240);
	print_message("# client address %s\n", ve_client);
	it_set_source(ve_client);
}

static void
user_new(struct user *u, const char *tag)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->email, sizeof(u->email), "ver%ld-%u-%s@example.com",
	    (long)ve_pid, ++ve_nemails, tag);
	snprintf(u->password, sizeof(u->password), "Verify-%ld-%u-%s-pw",
	    (long)ve_pid, ve_nemails, tag);
}

/*
 * One request from the current client address, with a Cookie header
 * value and a bearer token when not NULL; a form goes with the portal's
 * Origin, as a browser sends it.  Redirects are not followed.  Free the
 * response with it_response_free().
 */
static void
http(struct it_resp *r, const char *method, const char *path,
    const char *cookie, const char *bearer, const char *ctype,
    const char *body)
{
	const char	*hdrs[4];
	char		 c[COOKIE_MAX + 64], auth[TOKEN_MAX + 64];
	char		 origin[sizeof(ve_origin) + 16];
	size_t		 n = 0;

	if (cookie != NULL) {
		snprintf(c, sizeof(c), "Cookie: %s", cookie);
		hdrs[n++] = c;
	}
	if (bearer != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    bearer);
		hdrs[n++] = auth;
	}
	if (ctype != NULL && strcmp(ctype, FORM) == 0) {
		snprintf(origin, sizeof(origin), "Origin: %s", ve_origin);
		hdrs[n++] = origin;
	}
	hdrs[n] = NULL;
	if (it_request_on(NULL, r, method, path, ctype, body, body != NULL ?
	    strlen(body) : 0, hdrs) == -1)
		fail_msg("%s %s from %s: %s", method, path, ve_client,
		    r->error);
	print_message("# %s %s: %ld in %.1f ms: %.160s\n", method, path,
	    r->status, r->ms, r->body);
}

/* The answer must be this API error (a product bug otherwise). */
static void
expect_error(struct it_resp *r, long status, const char *code,
    const char *what)
{
	const char	*got = NULL;

	if (r->status == status && r->body_len > 0)
		got = it_json_str(it_json(r), "error.code");
	if (r->status != status || got == NULL || strcmp(got, code) != 0)
		it_deferred_fail("%s: %ld %s, want %ld %s: %.200s", what,
		    r->status, got != NULL ? got : "(no code)", status, code,
		    r->body);
}

/* The value of Set-Cookie "name" into out; 0 when not set. */
static int
set_cookie(const struct it_resp *r, const char *name, char *out,
    size_t outsz)
{
	const char	*v;
	size_t		 i, n = strlen(name), len;

	for (i = 0; i < r->nheaders; i++) {
		v = r->headers[i].value;
		if (strcasecmp(r->headers[i].name, "Set-Cookie") != 0 ||
		    strncmp(v, name, n) != 0 || v[n] != '=')
			continue;
		len = strcspn(v + n + 1, ";");
		if (len >= outsz)
			fail_msg("cookie %s of %zu bytes", name, len);
		memcpy(out, v + n + 1, len);
		out[len] = '\0';
		return 1;
	}
	return 0;
}

/* The CSRF token of the form posting to "action" (NULL: the first). */
static void
csrf_of(const struct it_resp *r, const char *action, char *out,
    size_t outsz)
{
	const char	*p = r->body, *key = "name=\"csrf\" value=\"";
	char		 form[600];
	size_t		 n;

	if (action != NULL) {
		snprintf(form, sizeof(form), "action=\"%s\"", action);
		if ((p = strstr(r->body, form)) == NULL)
			fail_msg("no form posting to %s: %.300s", action,
			    r->body);
	}
	if ((p = strstr(p, key)) == NULL)
		fail_msg("no csrf field in the page: %.300s", r->body);
	p += strlen(key);
	n = strcspn(p, "\"");
	if (n == 0 || n >= outsz)
		fail_msg("csrf token of %zu bytes", n);
	memcpy(out, p, n);
	out[n] = '\0';
}

/* A new user owning a new tenant, through the API. */
static void
api_register(struct user *u, const char *tag)
{
	struct it_resp	 r;
	char		 org[128];

	user_new(u, tag);
	snprintf(org, sizeof(org), "Verify %s %ld", tag, (long)ve_pid);
	http(&r, "POST", REGISTER, NULL, NULL, "application/json",
	    it_jobj("email", u->email, "password", u->password, "organization",
	    org, NULL));
	it_expect_status(&r, 201);
	it_copy_str(u->access, sizeof(u->access), &r, "access_token");
	it_copy_str(u->user_id, sizeof(u->user_id), &r, "user.id");
	it_response_free(&r);
}

/* POST /members/invitations of "email" as u; the caller checks r. */
static void
invite(struct it_resp *r, const struct user *u, const char *email,
    const char *role)
{
	http(r, "POST", INVITE, NULL, u->access, "application/json",
	    it_jobj("email", email, "role", role, NULL));
}

/* POST /auth/verify-email with this token; the status. */
static long
verify_api(const char *token, struct it_resp *out)
{
	struct it_resp	 r;
	long		 st;

	http(&r, "POST", VERIFY, NULL, NULL, "application/json",
	    it_jobj("token", token, NULL));
	st = r.status;
	if (out != NULL)
		*out = r;
	else
		it_response_free(&r);
	return st;
}

/* --- the sink ------------------------------------------------------------ */

/* One sink file whole, NUL-terminated (caller frees); NULL if gone. */
static char *
sink_read(const char *name)
{
	char	 path[4096], *text;
	FILE	*fp;
	size_t	 n;

	snprintf(path, sizeof(path), "%s/%s", it_env("SMTP_SINK_DIR"), name);
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	text = it_alloc(MAIL_MAX + 1);
	n = fread(text, 1, MAIL_MAX, fp);
	fclose(fp);
	text[n] = '\0';
	return text;
}

/* A /verify/ link of the sink: its file name and token. */
struct sink_link {
	char	 name[256];
	char	 token[LINK_MAX];
};

static int
link_cmp(const void *a, const void *b)
{
	const char	*x = ((const struct sink_link *)a)->name;
	const char	*y = ((const struct sink_link *)b)->name;

	/* "<unix-ms>-<n>.eml": by length first, then as text. */
	if (strlen(x) != strlen(y))
		return strlen(x) < strlen(y) ? -1 : 1;
	return strcmp(x, y);
}

/*
 * The tokens of the /verify/ links mailed to rcpt, oldest first, as
 * many as fit in links; the number of such messages is returned.  The
 * links must be the public URL's.
 */
static size_t
sink_links(const char *rcpt, char links[][LINK_MAX], size_t max)
{
	struct sink_link	*found = NULL;
	struct dirent		*de;
	DIR			*d;
	char			*text, want[300], prefix[600];
	const char		*p;
	size_t			 n = 0, i, len;

	snprintf(want, sizeof(want), "X-Sink-Rcpt-To: %s\r\n", rcpt);
	snprintf(prefix, sizeof(prefix), "%s/verify/",
	    it_env("TOLLGATE_PUBLIC_URL"));
	if ((d = opendir(it_env("SMTP_SINK_DIR"))) == NULL)
		fail_msg("opendir %s: %s", it_env("SMTP_SINK_DIR"),
		    strerror(errno));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 5 || len >= 256 ||
		    strcmp(de->d_name + len - 4, ".eml") != 0 ||
		    (text = sink_read(de->d_name)) == NULL)
			continue;
		if (strstr(text, want) != NULL &&
		    (p = strstr(text, prefix)) != NULL) {
			if ((found = realloc(found, (n + 1) *
			    sizeof(*found))) == NULL)
				fail_msg("out of memory");
			p += strlen(prefix);
			snprintf(found[n].name, sizeof(found[n].name), "%s",
			    de->d_name);
			snprintf(found[n].token, sizeof(found[n].token), "%.*s",
			    (int)strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-_"), p);
			n++;
		}
		free(text);
	}
	closedir(d);
	if (n > 0)
		qsort(found, n, sizeof(*found), link_cmp);
	for (i = 0; i < n && i < max; i++)
		memcpy(links[i], found[i].token, LINK_MAX);
	free(found);
	return n;
}

/*
 * Wait until at least "want" links have reached rcpt; the newest token
 * into token.  Fails the test after MAIL_WAIT_S.
 */
static size_t
mailed_token(const char *rcpt, size_t want, char *token, size_t tokensz)
{
	char	 links[LINKS_MAX][LINK_MAX];
	double	 deadline = it_now_ms() + MAIL_WAIT_S * 1000.0;
	size_t	 n;

	for (;;) {
		if ((n = sink_links(rcpt, links, LINKS_MAX)) >= want)
			break;
		if (it_now_ms() >= deadline)
			fail_msg("%zu /verify/ link(s) mailed to %s within "
			    "%.0f s, want %zu (sink %s)", n, rcpt, MAIL_WAIT_S,
			    want, it_env("SMTP_SINK_DIR"));
		it_sleep_ms(100);
	}
	if (n > LINKS_MAX)
		fail_msg("%zu links to %s, more than kept", n, rcpt);
	if (strlen(links[n - 1]) < 40)
		fail_msg("the token \"%s\" mailed to %s is too short",
		    links[n - 1], rcpt);
	snprintf(token, tokensz, "%s", links[n - 1]);
	return n;
}

/* --- the owner's connection ---------------------------------------------- */

/* Move a link's expiry into the past, found by its token's SHA-256. */
static void
expire_link(const char *token)
{
	PGconn		*c;
	PGresult	*res;
	const char	*v[1] = { token };
	int		 ok;

	c = PQconnectdb(it_env("TOLLGATE_OWNER_DATABASE_URL"));
	if (c == NULL || PQstatus(c) != CONNECTION_OK)
		fail_msg("owner connection: %s", c != NULL ?
		    PQerrorMessage(c) : "out of memory");
	res = PQexecParams(c, "UPDATE email_verifications SET expires_at = "
	    "now() - interval '1 minute' WHERE hash = sha256(convert_to($1, "
	    "'UTF8'))", 1, NULL, v, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdTuples(res), "1") == 0;
	if (!ok)
		print_error("expire: %s %s\n", PQresStatus(PQresultStatus(res)),
		    PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	if (!ok)
		fail_msg("no link row for the mailed token");
}

/* --- tests --------------------------------------------------------------- */

/*
 * Signing up mails one message with a link to the public URL's
 * /verify/, and before it is used the owner may not invite: 403
 * email_unverified, a permission error.
 */
static void
test_register_mails_link(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 token[LINK_MAX], other[128];
	const char	*type;

	client_new();
	api_register(&u, "mail");
	if (mailed_token(u.email, 1, token, sizeof(token)) != 1)
		it_deferred_fail("more than one link mailed at sign-up");
	snprintf(other, sizeof(other), "ver%ld-invitee-%u@example.com",
	    (long)ve_pid, ++ve_nemails);
	invite(&r, &u, other, "member");
	expect_error(&r, 403, "email_unverified", "invite before verifying");
	if (r.status == 403 && ((type = it_json_str(it_json(&r),
	    "error.type")) == NULL || strcmp(type, "permission_error") != 0))
		it_deferred_fail("error.type %s, want permission_error",
		    type != NULL ? type : "(none)");
	it_response_free(&r);
	it_deferred_check();
}

/*
 * GET /verify/<token> shows a button and uses nothing (twice); the API
 * POST uses the link once (200 {"verified": true}), a second use is
 * 404; then the owner invites, and a new link is 409 already_verified.
 */
static void
test_get_then_post_once(void **state)
{
	struct json_object	*v;
	struct it_resp		 r;
	struct user		 u;
	char			 token[LINK_MAX], path[LINK_MAX + 16];
	char			 other[128];
	int			 i;

	client_new();
	api_register(&u, "once");
	mailed_token(u.email, 1, token, sizeof(token));
	snprintf(path, sizeof(path), "/verify/%s", token);
	for (i = 0; i < 2; i++) {
		http(&r, "GET", path, NULL, NULL, NULL, NULL);
		if (r.status != 200 || strstr(r.body, "Confirm my address") ==
		    NULL || strstr(r.body, "method=\"post\"") == NULL)
			it_deferred_fail("GET %s (%d): %ld, want 200 and a "
			    "form with the button", path, i + 1, r.status);
		it_response_free(&r);
	}
	if (verify_api(token, &r) != 200)
		fail_msg("verify after two GETs: %ld, want 200: %.200s",
		    r.status, r.body);
	if (!it_json_get(it_json(&r), "verified", &v) ||
	    !json_object_is_type(v, json_type_boolean) ||
	    !json_object_get_boolean(v))
		it_deferred_fail("answer %s, want {\"verified\": true}", r.body);
	it_response_free(&r);
	verify_api(token, &r);
	expect_error(&r, 404, "verification_not_found", "the second use");
	it_response_free(&r);
	http(&r, "GET", path, NULL, NULL, NULL, NULL);
	if (r.status != 404 || strstr(r.body, "Confirm my address") != NULL)
		it_deferred_fail("GET of a used link: %ld, want 404 without "
		    "the button", r.status);
	it_response_free(&r);

	snprintf(other, sizeof(other), "ver%ld-invitee-%u@example.com",
	    (long)ve_pid, ++ve_nemails);
	invite(&r, &u, other, "member");
	if (r.status != 201)
		it_deferred_fail("invite after verifying: %ld, want 201: "
		    "%.200s", r.status, r.body);
	it_response_free(&r);
	http(&r, "POST", RESEND, NULL, u.access, NULL, NULL);
	expect_error(&r, 409, "already_verified", "resend when verified");
	it_response_free(&r);
	verify_api("no-such-token-at-all-no-such-token-at-all-xx", &r);
	expect_error(&r, 404, "verification_not_found", "an unknown token");
	it_response_free(&r);
	it_deferred_check();
}

/*
 * The portal's form: the page's button posts the link with the
 * pre-login token; 303 to /login (nobody is signed in) with the
 * "verified" notice; the same POST again is 404.
 */
static void
test_portal_post(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 token[LINK_MAX], path[LINK_MAX + 16], pre[COOKIE_MAX];
	char		 cookie[COOKIE_MAX + 16], csrf[128], body[256];
	char		 flash[64];
	const char	*loc;

	client_new();
	api_register(&u, "portal");
	mailed_token(u.email, 1, token, sizeof(token));
	snprintf(path, sizeof(path), "/verify/%s", token);
	http(&r, "GET", path, NULL, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (!set_cookie(&r, "tg_pre", pre, sizeof(pre)))
		fail_msg("GET %s set no tg_pre cookie", path);
	csrf_of(&r, path, csrf, sizeof(csrf));
	if (strstr(r.body, u.email) == NULL)
		it_deferred_fail("the page does not name the address %s",
		    u.email);
	it_response_free(&r);
	snprintf(cookie, sizeof(cookie), "tg_pre=%s", pre);
	snprintf(body, sizeof(body), "csrf=%s", csrf);

	/* Without the form token: refused, and nothing used. */
	http(&r, "POST", path, cookie, NULL, FORM, "csrf=wrong");
	if (r.status != 403)
		it_deferred_fail("POST without the form token: %ld, want 403",
		    r.status);
	it_response_free(&r);

	http(&r, "POST", path, cookie, NULL, FORM, body);
	loc = it_header(&r, "Location");
	if (r.status != 303 || loc == NULL || strcmp(loc, "/login") != 0)
		fail_msg("POST %s: %ld (Location %s), want 303 to /login",
		    path, r.status, loc != NULL ? loc : "none");
	if (!set_cookie(&r, "tg_flash", flash, sizeof(flash)) ||
	    strcmp(flash, "verified") != 0)
		it_deferred_fail("no tg_flash=verified cookie:\n%s", r.head);
	it_response_free(&r);
	http(&r, "POST", path, cookie, NULL, FORM, body);
	if (r.status != 404 || strstr(r.body, "not valid") == NULL)
		it_deferred_fail("POST of a used link: %ld, want 404 and the "
		    "page saying so", r.status);
	it_response_free(&r);
	it_deferred_check();
}

/* A link past its 24 hours is refused alike: page and API, 404. */
static void
test_expired(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 token[LINK_MAX], path[LINK_MAX + 16], other[128];

	client_new();
	api_register(&u, "expired");
	mailed_token(u.email, 1, token, sizeof(token));
	expire_link(token);
	snprintf(path, sizeof(path), "/verify/%s", token);
	http(&r, "GET", path, NULL, NULL, NULL, NULL);
	if (r.status != 404 || strstr(r.body, "Confirm my address") != NULL)
		it_deferred_fail("GET of an expired link: %ld, want 404 "
		    "without the button", r.status);
	it_response_free(&r);
	verify_api(token, &r);
	expect_error(&r, 404, "verification_not_found", "an expired link");
	it_response_free(&r);
	snprintf(other, sizeof(other), "ver%ld-invitee-%u@example.com",
	    (long)ve_pid, ++ve_nemails);
	invite(&r, &u, other, "member");
	expect_error(&r, 403, "email_unverified", "invite after a failed "
	    "verification");
	it_response_free(&r);
	it_deferred_check();
}

/*
 * New links: 202 and a mail each, 3 in the hour; the 4th is 429 with
 * Retry-After and mails nothing.  The newest link works, and with it
 * the older ones die.
 */
static void
test_resend_limited(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 first[LINK_MAX], token[LINK_MAX];
	const char	*retry;
	size_t		 n;
	int		 i;

	client_new();
	api_register(&u, "resend");
	mailed_token(u.email, 1, first, sizeof(first));
	for (i = 1; i <= 4; i++) {
		http(&r, "POST", RESEND, NULL, u.access, NULL, NULL);
		if (i <= 3 && r.status != 202)
			it_deferred_fail("new link %d: %ld, want 202", i,
			    r.status);
		if (i == 4) {
			expect_error(&r, 429, "rate_limited", "new link 4");
			retry = it_header(&r, "Retry-After");
			if (retry == NULL || strtol(retry, NULL, 10) < 1 ||
			    strtol(retry, NULL, 10) > 3600)
				it_deferred_fail("Retry-After %s, want 1-3600",
				    retry != NULL ? retry : "(none)");
		}
		it_response_free(&r);
	}
	n = mailed_token(u.email, 4, token, sizeof(token));
	it_sleep_ms(300);
	if ((n = sink_links(u.email, NULL, 0)) != 4)
		it_deferred_fail("%zu links mailed, want 4 (sign-up and 3 new "
		    "ones)", n);
	if (strcmp(first, token) == 0)
		fail_msg("a new link repeats the first token");
	if (verify_api(token, NULL) != 200)
		it_deferred_fail("the newest link does not work");
	verify_api(first, &r);
	expect_error(&r, 404, "verification_not_found", "the first link after "
	    "the newest was used");
	it_response_free(&r);
	it_deferred_check();
}

/*
 * Accepting an invitation proves the invitee's address (the link went
 * there): an invited admin needs no link of their own and gets past the
 * address check when inviting.
 */
static void
test_invited_user_verified(void **state)
{
	struct it_resp	 r;
	struct user	 o, m;
	char		 token[LINK_MAX], other[128];
	const char	*link, *slash;

	client_new();
	api_register(&o, "inviter");
	mailed_token(o.email, 1, token, sizeof(token));
	if (verify_api(token, NULL) != 200)
		fail_msg("the owner's link does not work");
	user_new(&m, "invitee");
	invite(&r, &o, m.email, "admin");
	it_expect_status(&r, 201);
	link = it_must_str(&r, "link");
	if ((slash = strrchr(link, '/')) == NULL)
		fail_msg("link %s", link);
	snprintf(token, sizeof(token), "%s", slash + 1);
	it_response_free(&r);
	http(&r, "POST", ACCEPT, NULL, NULL, "application/json",
	    it_jobj("token", token, "password", m.password, NULL));
	it_expect_status(&r, 200);
	it_copy_str(m.access, sizeof(m.access), &r, "access_token");
	it_response_free(&r);
	http(&r, "POST", RESEND, NULL, m.access, NULL, NULL);
	expect_error(&r, 409, "already_verified", "a new link for the "
	    "invited admin");
	it_response_free(&r);
	/* The free plan's two seats are taken: past the address check. */
	snprintf(other, sizeof(other), "ver%ld-third-%u@example.com",
	    (long)ve_pid, ++ve_nemails);
	invite(&r, &m, other, "member");
	expect_error(&r, 409, "seat_limit_reached", "the invited admin's "
	    "invitation");
	it_response_free(&r);
	it_deferred_check();
}

/*
 * The portal: the dashboard of a new owner shows the notice with its
 * button; POST /verify/resend mails a new link (303 to /dashboard with
 * the notice); once verified the dashboard no longer asks, and the
 * team page's invitation works.
 */
static void
test_dashboard_notice(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 pre[COOKIE_MAX], cookie[COOKIE_MAX + 16], csrf[128];
	char		 session[COOKIE_MAX + 16], v[COOKIE_MAX], body[1024];
	char		 token[LINK_MAX], flash[64];
	const char	*loc;

	client_new();
	user_new(&u, "dash");
	http(&r, "GET", "/register", NULL, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (!set_cookie(&r, "tg_pre", pre, sizeof(pre)))
		fail_msg("GET /register set no tg_pre cookie");
	csrf_of(&r, "/register", csrf, sizeof(csrf));
	it_response_free(&r);
	snprintf(cookie, sizeof(cookie), "tg_pre=%s", pre);
	snprintf(body, sizeof(body), "csrf=%s&organization=Dash&email=%s&"
	    "password=%s", csrf, u.email, u.password);
	http(&r, "POST", "/register", cookie, NULL, FORM, body);
	if (r.status != 303 || !set_cookie(&r, "tg_session", v, sizeof(v)))
		fail_msg("portal sign-up: %ld, want 303 with a session",
		    r.status);
	snprintf(session, sizeof(session), "tg_session=%s", v);
	it_response_free(&r);
	mailed_token(u.email, 1, token, sizeof(token));

	http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, "action=\"/verify/resend\"") == NULL)
		it_deferred_fail("the new owner's dashboard has no button for "
		    "a new link");
	csrf_of(&r, "/verify/resend", csrf, sizeof(csrf));
	it_response_free(&r);
	snprintf(body, sizeof(body), "csrf=%s", csrf);
	http(&r, "POST", "/verify/resend", session, NULL, FORM, body);
	loc = it_header(&r, "Location");
	if (r.status != 303 || loc == NULL || strcmp(loc, "/dashboard") != 0)
		it_deferred_fail("POST /verify/resend: %ld (Location %s), want "
		    "303 to /dashboard", r.status, loc != NULL ? loc : "none");
	if (!set_cookie(&r, "tg_flash", flash, sizeof(flash)) ||
	    strcmp(flash, "verify_sent") != 0)
		it_deferred_fail("no tg_flash=verify_sent cookie:\n%s", r.head);
	it_response_free(&r);
	mailed_token(u.email, 2, token, sizeof(token));
	if (verify_api(token, NULL) != 200)
		fail_msg("the new link does not work");

	http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, "/verify/resend") != NULL)
		it_deferred_fail("the dashboard still asks after verifying");
	it_response_free(&r);
	it_deferred_check();
}

static int
group_setup(void **state)
{
	const char	*url, *host;
	size_t		 n;

	it_init();
	ve_pid = getpid();
	url = it_env("TOLLGATE_URL");
	it_env("TOLLGATE_PUBLIC_URL");
	it_env("TOLLGATE_OWNER_DATABASE_URL");
	it_env("SMTP_SINK_DIR");
	/* scheme://host[:port], what a browser sends as Origin. */
	host = strstr(url, "://");
	n = host != NULL ? strcspn(host + 3, "/") + (size_t)(host + 3 - url) :
	    strlen(url);
	snprintf(ve_origin, sizeof(ve_origin), "%.*s", (int)n, url);
	return it_wait_health(15.0) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_register_mails_link),
		cmocka_unit_test(test_get_then_post_once),
		cmocka_unit_test(test_portal_post),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_resend_limited),
		cmocka_unit_test(test_invited_user_verified),
		cmocka_unit_test(test_dashboard_notice),
	};

	return cmocka_run_group_tests_name("it-verify", tests, group_setup,
	    NULL);
}
