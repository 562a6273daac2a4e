/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: password reset (issue 8, item 7).  Asking for a link
 * (POST /auth/password-reset, or the portal's /password-reset form)
 * gets one neutral answer for every address; a known address receives
 * a link <TOLLGATE_PUBLIC_URL>/reset/<token>, read here from the SMTP
 * sink's files ($SMTP_SINK_DIR, one per message, the envelope in
 * X-Sink- lines in front) as a person would read their mail, and an
 * unknown one receives nothing.  The link's page only shows a form (a
 * GET uses nothing); a POST with a good password uses it once; an
 * expired link is refused; using a link kills the user's other links;
 * the reset ends every access token, refresh token and portal session
 * the user had, the old password stops working and the new one works;
 * each of the user's tenants audits auth.password_reset; at most 3
 * links an hour go to one address.  Run by tests/integration.sh with
 * the stack's stack.env exported.
 *
 * Links are aged through the migration owner's database connection
 * (TOLLGATE_OWNER_DATABASE_URL), found by the SHA-256 of the token, as
 * the product stores them.
 *
 * Like the other programs, each test talks from a loopback address of
 * its own, 127.16.P.N (the public routes are limited per address and
 * minute), and uses e-mail addresses made of the pid and a counter.
 */
#include <sys/types.h>

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
#define LOGIN		API "/auth/login"
#define REFRESH		API "/auth/refresh"
#define ME		API "/auth/me"
#define AUDIT		API "/audit?action=auth.password_reset"
#define INVITE		API "/members/invitations"
#define ACCEPT		API "/invitations/accept"
#define RESET		API "/auth/password-reset"
#define CONFIRM		API "/auth/password-reset/confirm"

#define FORM		IT_FORM
#define NEUTRAL		"If an account exists for that address, we sent a link"
#define TOKEN_MAX	IT_TOKEN_MAX
#define COOKIE_MAX	IT_COOKIE_MAX
#define LINK_MAX	IT_LINK_MAX
#define LINKS_MAX	IT_LINKS_MAX
#define MAIL_QUIET_MS	1000		/* a message that should not come */

/* A user with the tokens of their last sign-in. */
struct user {
	char	 email[128];
	char	 password[64];
	char	 access[TOKEN_MAX];
	char	 refresh[COOKIE_MAX];
	char	 user_id[40];
	char	 tenant_id[40];
};

static pid_t		 rs_pid;
static unsigned int	 rs_nemails;

/* --- clients, names and HTTP --------------------------------------------- */


static void
user_new(struct user *u, const char *tag)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->email, sizeof(u->email), "rst%ld-%u-%s@example.com",
	    (long)rs_pid, ++rs_nemails, tag);
	snprintf(u->password, sizeof(u->password), "Reset-%ld-%u-%s-pw",
	    (long)rs_pid, rs_nemails, tag);
}





/* A new user owning a new tenant, through the API, with its tokens. */
static void
api_register(struct user *u, const char *tag)
{
	struct it_resp	 r;
	char		 org[128];

	user_new(u, tag);
	snprintf(org, sizeof(org), "Reset %s %ld", tag, (long)rs_pid);
	it_http(&r, "POST", REGISTER, NULL, NULL, "application/json",
	    it_jobj("email", u->email, "password", u->password, "organization",
	    org, NULL));
	it_expect_status(&r, 201);
	it_copy_str(u->access, sizeof(u->access), &r, "access_token");
	it_copy_str(u->refresh, sizeof(u->refresh), &r, "refresh_token");
	it_copy_str(u->user_id, sizeof(u->user_id), &r, "user.id");
	it_copy_str(u->tenant_id, sizeof(u->tenant_id), &r, "tenant.id");
	it_response_free(&r);
}

/* POST /auth/login with this password; the status (tokens kept on 200). */
static long
api_login(struct user *u, const char *password)
{
	struct it_resp	 r;
	long		 st;

	it_http(&r, "POST", LOGIN, NULL, NULL, "application/json",
	    it_jobj("email", u->email, "password", password, NULL));
	st = r.status;
	if (st == 200) {
		it_copy_str(u->access, sizeof(u->access), &r, "access_token");
		it_copy_str(u->refresh, sizeof(u->refresh), &r,
		    "refresh_token");
	}
	it_response_free(&r);
	return st;
}

/*
 * A portal session of the user, signed in through the form: the
 * "tg_session=..." Cookie value into out.
 */
static void
portal_login(const struct user *u, char *out, size_t outsz)
{
	struct it_resp	 r;
	char		 pre[COOKIE_MAX], cookie[COOKIE_MAX + 16], csrf[128];
	char		 body[1024], v[COOKIE_MAX];

	it_http(&r, "GET", "/login", NULL, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (!it_set_cookie(&r, "tg_pre", pre, sizeof(pre), NULL))
		fail_msg("GET /login set no tg_pre cookie");
	it_csrf_of(&r, "/login", csrf, sizeof(csrf));
	it_response_free(&r);
	snprintf(cookie, sizeof(cookie), "tg_pre=%s", pre);
	snprintf(body, sizeof(body), "csrf=%s&email=%s&password=%s", csrf,
	    u->email, u->password);
	it_http(&r, "POST", "/login", cookie, NULL, FORM, body);
	if (r.status != 303 ||
	    !it_set_cookie(&r, "tg_session", v, sizeof(v), NULL))
		fail_msg("portal sign-in: %ld, want 303 with a session",
		    r.status);
	snprintf(out, outsz, "tg_session=%s", v);
	it_response_free(&r);
}

/* POST /auth/password-reset for this address: 202, checked. */
static void
ask_api(const char *email, struct it_resp *out)
{
	struct it_resp	 r;

	it_http(&r, "POST", RESET, NULL, NULL, "application/json",
	    it_jobj("email", email, NULL));
	if (r.status != 202)
		it_deferred_fail("asking a reset for %s: %ld, want 202: %.200s",
		    email, r.status, r.body);
	if (out != NULL)
		*out = r;
	else
		it_response_free(&r);
}

/* POST /auth/password-reset/confirm; the status. */
static long
confirm_api(const char *token, const char *password, struct it_resp *out)
{
	struct it_resp	 r;
	long		 st;

	it_http(&r, "POST", CONFIRM, NULL, NULL, "application/json",
	    it_jobj("token", token, "new_password", password, NULL));
	st = r.status;
	if (out != NULL)
		*out = r;
	else
		it_response_free(&r);
	return st;
}

/* A copy of page with each "addr" in it as "ADDRESS" (caller frees). */
static char *
blank(const char *page, const char *addr)
{
	const char	*p;
	char		*out;
	size_t		 n = 0, alen = strlen(addr);

	out = it_alloc(strlen(page) + 1);
	while ((p = strstr(page, addr)) != NULL) {
		memcpy(out + n, page, (size_t)(p - page));
		n += (size_t)(p - page);
		memcpy(out + n, "ADDRESS", 7);
		n += 7;
		page = p + alen;
	}
	memcpy(out + n, page, strlen(page) + 1);
	return out;
}

/* --- the sink ------------------------------------------------------------ */






/* --- the owner's connection ---------------------------------------------- */


/* --- tests --------------------------------------------------------------- */

/*
 * The API end to end: a link is mailed, its page (GET, twice) uses
 * nothing, a weak password is 400 and leaves it working, a good one is
 * 204, a second use is 404.  Then the access token, refresh token and
 * portal session from before are refused, the old password fails, the
 * new one works, and the tenant's audit has auth.password_reset.
 */
static void
test_reset_once(void **state)
{
	struct json_object	*o, *data, *e;
	struct it_resp		 r;
	struct user		 u;
	char			 token[LINK_MAX], path[LINK_MAX + 16];
	char			 session[COOKIE_MAX + 16], newpw[80];
	char			 old_access[TOKEN_MAX], old_refresh[COOKIE_MAX];
	const char		*loc, *action, *target;
	size_t			 i, found = 0;
	int			 k;

	it_client_new();
	api_register(&u, "once");
	portal_login(&u, session, sizeof(session));
	snprintf(old_access, sizeof(old_access), "%s", u.access);
	snprintf(old_refresh, sizeof(old_refresh), "%s", u.refresh);

	ask_api(u.email, &r);
	if (!it_json_get(it_json(&r), "accepted", &o) ||
	    !json_object_get_boolean(o))
		it_deferred_fail("answer %s, want {\"accepted\": true}",
		    r.body);
	it_response_free(&r);
	if (it_mailed_token(u.email, "reset", 1, token, sizeof(token), NULL, 0) != 1)
		it_deferred_fail("more than one reset link mailed");
	snprintf(path, sizeof(path), "/reset/%s", token);
	for (k = 0; k < 2; k++) {
		it_http(&r, "GET", path, NULL, NULL, NULL, NULL);
		if (r.status != 200 || strstr(r.body, "f-new_password") ==
		    NULL || strstr(r.body, u.email) == NULL)
			it_deferred_fail("GET %s (%d): %ld, want 200 and the "
			    "form naming the address", path, k + 1, r.status);
		it_response_free(&r);
	}
	confirm_api(token, "short", &r);
	it_expect_code(&r, 400, "weak_password", "a weak new password");
	it_response_free(&r);

	snprintf(newpw, sizeof(newpw), "%s-new", u.password);
	if (confirm_api(token, newpw, &r) != 204)
		fail_msg("confirm: %ld, want 204: %.200s", r.status, r.body);
	it_response_free(&r);
	confirm_api(token, newpw, &r);
	it_expect_code(&r, 404, "reset_not_found", "the second use");
	it_response_free(&r);
	it_http(&r, "GET", path, NULL, NULL, NULL, NULL);
	if (r.status != 404 || strstr(r.body, "f-new_password") != NULL ||
	    strstr(r.body, "href=\"/password-reset\"") == NULL)
		it_deferred_fail("GET of a used link: %ld, want 404 without "
		    "the form, with a link to ask again", r.status);
	it_response_free(&r);

	/* Everything issued before the reset is dead. */
	it_http(&r, "GET", ME, NULL, old_access, NULL, NULL);
	if (r.status != 401)
		it_deferred_fail("the earlier access token: %ld, want 401",
		    r.status);
	it_response_free(&r);
	it_http(&r, "POST", REFRESH, NULL, NULL, "application/json",
	    it_jobj("refresh_token", old_refresh, NULL));
	if (r.status != 401)
		it_deferred_fail("the earlier refresh token: %ld, want 401",
		    r.status);
	it_response_free(&r);
	it_http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	loc = it_header(&r, "Location");
	if (r.status != 303 || loc == NULL || strcmp(loc, "/login") != 0)
		it_deferred_fail("the earlier portal session: %ld (Location "
		    "%s), want 303 to /login", r.status, loc != NULL ? loc :
		    "none");
	it_response_free(&r);
	if (api_login(&u, u.password) != 401)
		it_deferred_fail("the old password still signs in");
	if (api_login(&u, newpw) != 200)
		fail_msg("the new password does not sign in");

	it_http(&r, "GET", AUDIT, NULL, u.access, NULL, NULL);
	it_expect_status(&r, 200);
	if (!it_json_get(it_json(&r), "data", &data) ||
	    !json_object_is_type(data, json_type_array))
		fail_msg("audit: no data array: %.200s", r.body);
	for (i = 0; i < json_object_array_length(data); i++) {
		e = json_object_array_get_idx(data, i);
		action = it_json_str(e, "action");
		target = it_json_str(e, "target");
		if (action != NULL && strcmp(action, "auth.password_reset") ==
		    0 && target != NULL && strcmp(target, u.user_id) == 0)
			found++;
	}
	if (found != 1)
		it_deferred_fail("%zu auth.password_reset events of the user, "
		    "want 1: %.300s", found, r.body);
	it_response_free(&r);
	it_deferred_check();
}

/*
 * An unknown address gets the very answer a known one gets (the API's
 * body byte for byte, the portal's page but for the address), and no
 * mail; the known one gets its mail.
 */
static void
test_unknown_address(void **state)
{
	struct it_resp	 r, k;
	struct user	 u;
	char		 unknown[128], pre[COOKIE_MAX], cookie[COOKIE_MAX + 16];
	char		 csrf[128], body[512], token[LINK_MAX], *pages[2];
	const char	*addrs[2];
	size_t		 n;
	int		 i;

	it_client_new();
	api_register(&u, "known");
	snprintf(unknown, sizeof(unknown), "rst%ld-%u-nobody@example.com",
	    (long)rs_pid, ++rs_nemails);
	ask_api(unknown, &r);
	ask_api(u.email, &k);
	if (r.status != k.status || strcmp(r.body, k.body) != 0)
		it_deferred_fail("unknown and known addresses answered "
		    "differently: %ld %s / %ld %s", r.status, r.body, k.status,
		    k.body);
	it_response_free(&r);
	it_response_free(&k);

	/* The portal's form: the same page. */
	it_http(&r, "GET", "/password-reset", NULL, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (!it_set_cookie(&r, "tg_pre", pre, sizeof(pre), NULL))
		fail_msg("GET /password-reset set no tg_pre cookie");
	it_csrf_of(&r, "/password-reset", csrf, sizeof(csrf));
	it_response_free(&r);
	snprintf(cookie, sizeof(cookie), "tg_pre=%s", pre);
	addrs[0] = unknown;
	addrs[1] = u.email;
	for (i = 0; i < 2; i++) {
		snprintf(body, sizeof(body), "csrf=%s&email=%s", csrf,
		    addrs[i]);
		it_http(&r, "POST", "/password-reset", cookie, NULL, FORM, body);
		if (r.status != 200 || strstr(r.body, NEUTRAL) == NULL)
			it_deferred_fail("portal reset for %s: %ld, want 200 "
			    "and the neutral page", addrs[i], r.status);
		/* The page names the address asked for: blank it. */
		pages[i] = blank(r.body, addrs[i]);
		it_response_free(&r);
	}
	if (strcmp(pages[0], pages[1]) != 0)
		it_deferred_fail("the portal's pages for an unknown and a "
		    "known address differ");
	free(pages[0]);
	free(pages[1]);

	/* The known address's two links arrive; then nothing came else. */
	it_mailed_token(u.email, "reset", 2, token, sizeof(token), NULL, 0);
	it_sleep_ms(MAIL_QUIET_MS);
	if ((n = it_sink_links(unknown, "reset", NULL, 0)) != 0)
		it_deferred_fail("%zu reset links mailed to an address "
		    "without an account", n);
	it_deferred_check();
}

/* A link past its hour is refused alike: page and API, 404. */
static void
test_expired(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 token[LINK_MAX], path[LINK_MAX + 16], newpw[80];

	it_client_new();
	api_register(&u, "expired");
	ask_api(u.email, NULL);
	it_mailed_token(u.email, "reset", 1, token, sizeof(token), NULL, 0);
	it_expire_link("password_resets", token);
	snprintf(path, sizeof(path), "/reset/%s", token);
	it_http(&r, "GET", path, NULL, NULL, NULL, NULL);
	if (r.status != 404 || strstr(r.body, "f-new_password") != NULL)
		it_deferred_fail("GET of an expired link: %ld, want 404 "
		    "without the form", r.status);
	it_response_free(&r);
	snprintf(newpw, sizeof(newpw), "%s-new", u.password);
	confirm_api(token, newpw, &r);
	it_expect_code(&r, 404, "reset_not_found", "an expired link");
	it_response_free(&r);
	confirm_api("no-such-token-at-all-no-such-token-at-all-xx", newpw, &r);
	it_expect_code(&r, 404, "reset_not_found", "an unknown token");
	it_response_free(&r);
	if (api_login(&u, u.password) != 200)
		it_deferred_fail("the password changed without a valid link");
	it_deferred_check();
}

/*
 * Three links an hour to one address: a 4th ask is answered alike
 * (202) and mails nothing.  Using the newest link kills the older ones.
 */
static void
test_limit_and_others_die(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 first[LINK_MAX], token[LINK_MAX], newpw[80];
	size_t		 n;
	int		 i;

	it_client_new();
	api_register(&u, "limit");
	for (i = 0; i < 4; i++)
		ask_api(u.email, NULL);
	n = it_mailed_token(u.email, "reset", 3, token, sizeof(token), first,
	    sizeof(first));
	it_sleep_ms(MAIL_QUIET_MS);
	if ((n = it_sink_links(u.email, "reset", NULL, 0)) != 3)
		it_deferred_fail("%zu reset links mailed for 4 asks, want 3",
		    n);
	if (strcmp(first, token) == 0)
		fail_msg("two links share a token");
	snprintf(newpw, sizeof(newpw), "%s-new", u.password);
	if (confirm_api(token, newpw, NULL) != 204)
		fail_msg("the newest link does not work");
	confirm_api(first, newpw, &r);
	it_expect_code(&r, 404, "reset_not_found", "an older link after the "
	    "newest was used");
	it_response_free(&r);
	it_deferred_check();
}

/*
 * The portal: /login links to /password-reset; the form's answer is
 * the neutral page; the link's form refuses a weak password beside the
 * field and keeps working; a good one ends this browser's session too
 * and lands on /login with the notice; the link is then 404 with a way
 * to ask again.
 */
static void
test_portal(void **state)
{
	struct it_resp	 r;
	struct user	 u;
	char		 pre[COOKIE_MAX], cookie[COOKIE_MAX * 2 + 32];
	char		 session[COOKIE_MAX + 16], csrf[128], body[1024];
	char		 token[LINK_MAX], path[LINK_MAX + 16], flash[64];
	char		 gone[COOKIE_MAX], pre_csrf[128];
	const char	*loc;

	it_client_new();
	api_register(&u, "portal");
	portal_login(&u, session, sizeof(session));
	it_http(&r, "GET", "/login", NULL, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, "href=\"/password-reset\"") == NULL)
		it_deferred_fail("/login has no link to /password-reset");
	it_response_free(&r);

	it_http(&r, "GET", "/password-reset", NULL, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (!it_set_cookie(&r, "tg_pre", pre, sizeof(pre), NULL))
		fail_msg("GET /password-reset set no tg_pre cookie");
	it_csrf_of(&r, "/password-reset", csrf, sizeof(csrf));
	snprintf(pre_csrf, sizeof(pre_csrf), "%s", csrf);
	it_response_free(&r);
	snprintf(cookie, sizeof(cookie), "tg_pre=%s", pre);
	snprintf(body, sizeof(body), "csrf=%s&email=not-an-address", csrf);
	it_http(&r, "POST", "/password-reset", cookie, NULL, FORM, body);
	if (r.status != 400 || strstr(r.body, "field-error") == NULL)
		it_deferred_fail("a value that is no address: %ld, want 400 "
		    "with the error beside the field", r.status);
	it_response_free(&r);
	snprintf(body, sizeof(body), "csrf=%s&email=%s", csrf, u.email);
	it_http(&r, "POST", "/password-reset", cookie, NULL, FORM, body);
	if (r.status != 200 || strstr(r.body, NEUTRAL) == NULL)
		it_deferred_fail("the form's answer: %ld, want 200 and the "
		    "neutral page", r.status);
	it_response_free(&r);

	it_mailed_token(u.email, "reset", 1, token, sizeof(token), NULL, 0);
	snprintf(path, sizeof(path), "/reset/%s", token);
	/* The browser is still signed in: its session must end too. */
	snprintf(cookie, sizeof(cookie), "tg_pre=%s; %s", pre, session);
	it_http(&r, "GET", path, cookie, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	it_csrf_of(&r, path, csrf, sizeof(csrf));
	it_response_free(&r);
	snprintf(body, sizeof(body), "csrf=%s&new_password=short", csrf);
	it_http(&r, "POST", path, cookie, NULL, FORM, body);
	if (r.status != 400 || strstr(r.body, "field-error") == NULL ||
	    strstr(r.body, "f-new_password") == NULL)
		it_deferred_fail("a weak password: %ld, want 400 and the form "
		    "with the error", r.status);
	it_response_free(&r);
	snprintf(body, sizeof(body), "csrf=%s&new_password=%s-new", csrf,
	    u.password);
	it_http(&r, "POST", path, cookie, NULL, FORM, body);
	loc = it_header(&r, "Location");
	if (r.status != 303 || loc == NULL || strcmp(loc, "/login") != 0)
		fail_msg("POST %s: %ld (Location %s), want 303 to /login",
		    path, r.status, loc != NULL ? loc : "none");
	if (!it_set_cookie(&r, "tg_flash", flash, sizeof(flash), NULL) ||
	    strcmp(flash, "password_reset") != 0)
		it_deferred_fail("no tg_flash=password_reset cookie:\n%s",
		    r.head);
	if (!it_set_cookie(&r, "tg_session", gone, sizeof(gone), NULL) ||
	    gone[0] != '\0')
		it_deferred_fail("the session cookie is not cleared:\n%s",
		    r.head);
	it_response_free(&r);
	it_http(&r, "GET", "/login", "tg_flash=password_reset", NULL, NULL,
	    NULL);
	if (r.status != 200 || strstr(r.body, "Your password was changed; "
	    "sign in with the new one.") == NULL)
		it_deferred_fail("/login does not show the notice (%ld)",
		    r.status);
	it_response_free(&r);
	it_http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	if (r.status != 303)
		it_deferred_fail("the session after the reset: %ld, want 303",
		    r.status);
	it_response_free(&r);
	/* The session is gone: the form token is the pre-login one now. */
	snprintf(cookie, sizeof(cookie), "tg_pre=%s", pre);
	snprintf(body, sizeof(body), "csrf=%s&new_password=%s-again", pre_csrf,
	    u.password);
	it_http(&r, "POST", path, cookie, NULL, FORM, body);
	if (r.status != 404 || strstr(r.body, "href=\"/password-reset\"") ==
	    NULL)
		it_deferred_fail("POST of a used link: %ld, want 404 with a "
		    "link to ask again", r.status);
	it_response_free(&r);
	it_deferred_check();
}

/*
 * A user in two tenants (their own, and one they were invited to):
 * both audit the reset, and the reset ends the tokens of both.
 */
static void
test_every_tenant(void **state)
{
	struct it_resp	 r;
	struct user	 o, m;
	char		 token[LINK_MAX], newpw[80], m_access_o[TOKEN_MAX];
	const char	*link, *slash;

	it_client_new();
	api_register(&o, "owner");
	it_mark_verified(o.email);
	api_register(&m, "member");
	it_http(&r, "POST", INVITE, NULL, o.access, "application/json",
	    it_jobj("email", m.email, "role", "member", NULL));
	it_expect_status(&r, 201);
	link = it_must_str(&r, "link");
	if ((slash = strrchr(link, '/')) == NULL)
		fail_msg("link %s", link);
	snprintf(token, sizeof(token), "%s", slash + 1);
	it_response_free(&r);
	it_http(&r, "POST", ACCEPT, NULL, NULL, "application/json",
	    it_jobj("token", token, "password", m.password, NULL));
	it_expect_status(&r, 200);
	it_copy_str(m_access_o, sizeof(m_access_o), &r, "access_token");
	it_response_free(&r);

	ask_api(m.email, NULL);
	it_mailed_token(m.email, "reset", 1, token, sizeof(token), NULL, 0);
	snprintf(newpw, sizeof(newpw), "%s-new", m.password);
	if (confirm_api(token, newpw, NULL) != 204)
		fail_msg("confirm for a member of two tenants failed");
	it_http(&r, "GET", ME, NULL, m_access_o, NULL, NULL);
	if (r.status != 401)
		it_deferred_fail("the access token in the other tenant: %ld, "
		    "want 401", r.status);
	it_response_free(&r);
	/* The inviting tenant's trail, read by its owner. */
	it_http(&r, "GET", AUDIT, NULL, o.access, NULL, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, m.user_id) == NULL)
		it_deferred_fail("the inviting tenant's audit has no "
		    "auth.password_reset of the member: %.300s", r.body);
	it_response_free(&r);
	/* The member's own tenant (the oldest: where sign-in lands). */
	if (api_login(&m, newpw) != 200)
		fail_msg("the new password does not sign in");
	it_http(&r, "GET", AUDIT, NULL, m.access, NULL, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, m.user_id) == NULL)
		it_deferred_fail("the member's own tenant's audit has no "
		    "auth.password_reset: %.300s", r.body);
	it_response_free(&r);
	it_deferred_check();
}

static int
group_setup(void **state)
{
	it_init();
	rs_pid = getpid();
	it_env("TOLLGATE_URL");
	it_env("TOLLGATE_PUBLIC_URL");
	it_env("TOLLGATE_OWNER_DATABASE_URL");
	it_env("SMTP_SINK_DIR");
	it_client_init(16);
	return it_wait_health(15.0) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_reset_once),
		cmocka_unit_test(test_unknown_address),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_limit_and_others_die),
		cmocka_unit_test(test_portal),
		cmocka_unit_test(test_every_tenant),
	};

	return cmocka_run_group_tests_name("it-reset", tests, group_setup,
	    NULL);
}
