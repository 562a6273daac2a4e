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

#define FORM		IT_FORM
#define TOKEN_MAX	IT_TOKEN_MAX
#define COOKIE_MAX	IT_COOKIE_MAX
#define LINK_MAX	IT_LINK_MAX
#define LINKS_MAX	IT_LINKS_MAX

/* A user and the tenant they act in. */
struct user {
	char	 email[128];
	char	 password[64];
	char	 access[TOKEN_MAX];
	char	 user_id[40];
};

static pid_t		 ve_pid;
static unsigned int	 ve_nemails;

/* --- clients, names and HTTP --------------------------------------------- */


static void
user_new(struct user *u, const char *tag)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->email, sizeof(u->email), "ver%ld-%u-%s@example.com",
	    (long)ve_pid, ++ve_nemails, tag);
	snprintf(u->password, sizeof(u->password), "Verify-%ld-%u-%s-pw",
	    (long)ve_pid, ve_nemails, tag);
}





/* A new user owning a new tenant, through the API. */
static void
api_register(struct user *u, const char *tag)
{
	struct it_resp	 r;
	char		 org[128];

	user_new(u, tag);
	snprintf(org, sizeof(org), "Verify %s %ld", tag, (long)ve_pid);
	it_http(&r, "POST", REGISTER, NULL, NULL, "application/json",
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
	it_http(r, "POST", INVITE, NULL, u->access, "application/json",
	    it_jobj("email", email, "role", role, NULL));
}

/* POST /auth/verify-email with this token; the status. */
static long
verify_api(const char *token, struct it_resp *out)
{
	struct it_resp	 r;
	long		 st;

	it_http(&r, "POST", VERIFY, NULL, NULL, "application/json",
	    it_jobj("token", token, NULL));
	st = r.status;
	if (out != NULL)
		*out = r;
	else
		it_response_free(&r);
	return st;
}

/* --- the sink ------------------------------------------------------------ */






/* --- the owner's connection ---------------------------------------------- */


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

	it_client_new();
	api_register(&u, "mail");
	if (it_mailed_token(u.email, "verify", 1, token, sizeof(token), NULL, 0) != 1)
		it_deferred_fail("more than one link mailed at sign-up");
	snprintf(other, sizeof(other), "ver%ld-invitee-%u@example.com",
	    (long)ve_pid, ++ve_nemails);
	invite(&r, &u, other, "member");
	it_expect_code(&r, 403, "email_unverified", "invite before verifying");
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

	it_client_new();
	api_register(&u, "once");
	it_mailed_token(u.email, "verify", 1, token, sizeof(token), NULL, 0);
	snprintf(path, sizeof(path), "/verify/%s", token);
	for (i = 0; i < 2; i++) {
		it_http(&r, "GET", path, NULL, NULL, NULL, NULL);
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
	it_expect_code(&r, 404, "verification_not_found", "the second use");
	it_response_free(&r);
	it_http(&r, "GET", path, NULL, NULL, NULL, NULL);
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
	it_http(&r, "POST", RESEND, NULL, u.access, NULL, NULL);
	it_expect_code(&r, 409, "already_verified", "resend when verified");
	it_response_free(&r);
	verify_api("no-such-token-at-all-no-such-token-at-all-xx", &r);
	it_expect_code(&r, 404, "verification_not_found", "an unknown token");
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

	it_client_new();
	api_register(&u, "portal");
	it_mailed_token(u.email, "verify", 1, token, sizeof(token), NULL, 0);
	snprintf(path, sizeof(path), "/verify/%s", token);
	it_http(&r, "GET", path, NULL, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (!it_set_cookie(&r, "tg_pre", pre, sizeof(pre), NULL))
		fail_msg("GET %s set no tg_pre cookie", path);
	it_csrf_of(&r, path, csrf, sizeof(csrf));
	if (strstr(r.body, u.email) == NULL)
		it_deferred_fail("the page does not name the address %s",
		    u.email);
	it_response_free(&r);
	snprintf(cookie, sizeof(cookie), "tg_pre=%s", pre);
	snprintf(body, sizeof(body), "csrf=%s", csrf);

	/* Without the form token: refused, and nothing used. */
	it_http(&r, "POST", path, cookie, NULL, FORM, "csrf=wrong");
	if (r.status != 403)
		it_deferred_fail("POST without the form token: %ld, want 403",
		    r.status);
	it_response_free(&r);

	it_http(&r, "POST", path, cookie, NULL, FORM, body);
	loc = it_header(&r, "Location");
	if (r.status != 303 || loc == NULL || strcmp(loc, "/login") != 0)
		fail_msg("POST %s: %ld (Location %s), want 303 to /login",
		    path, r.status, loc != NULL ? loc : "none");
	if (!it_set_cookie(&r, "tg_flash", flash, sizeof(flash), NULL) ||
	    strcmp(flash, "verified") != 0)
		it_deferred_fail("no tg_flash=verified cookie:\n%s", r.head);
	it_response_free(&r);
	it_http(&r, "POST", path, cookie, NULL, FORM, body);
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

	it_client_new();
	api_register(&u, "expired");
	it_mailed_token(u.email, "verify", 1, token, sizeof(token), NULL, 0);
	it_expire_link("email_verifications", token);
	snprintf(path, sizeof(path), "/verify/%s", token);
	it_http(&r, "GET", path, NULL, NULL, NULL, NULL);
	if (r.status != 404 || strstr(r.body, "Confirm my address") != NULL)
		it_deferred_fail("GET of an expired link: %ld, want 404 "
		    "without the button", r.status);
	it_response_free(&r);
	verify_api(token, &r);
	it_expect_code(&r, 404, "verification_not_found", "an expired link");
	it_response_free(&r);
	snprintf(other, sizeof(other), "ver%ld-invitee-%u@example.com",
	    (long)ve_pid, ++ve_nemails);
	invite(&r, &u, other, "member");
	it_expect_code(&r, 403, "email_unverified", "invite after a failed "
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

	it_client_new();
	api_register(&u, "resend");
	it_mailed_token(u.email, "verify", 1, first, sizeof(first), NULL, 0);
	for (i = 1; i <= 4; i++) {
		it_http(&r, "POST", RESEND, NULL, u.access, NULL, NULL);
		if (i <= 3 && r.status != 202)
			it_deferred_fail("new link %d: %ld, want 202", i,
			    r.status);
		if (i == 4) {
			it_expect_code(&r, 429, "rate_limited", "new link 4");
			retry = it_header(&r, "Retry-After");
			if (retry == NULL || strtol(retry, NULL, 10) < 1 ||
			    strtol(retry, NULL, 10) > 3600)
				it_deferred_fail("Retry-After %s, want 1-3600",
				    retry != NULL ? retry : "(none)");
		}
		it_response_free(&r);
	}
	n = it_mailed_token(u.email, "verify", 4, token, sizeof(token), NULL, 0);
	it_sleep_ms(300);
	if ((n = it_sink_links(u.email, "verify", NULL, 0)) != 4)
		it_deferred_fail("%zu links mailed, want 4 (sign-up and 3 new "
		    "ones)", n);
	if (strcmp(first, token) == 0)
		fail_msg("a new link repeats the first token");
	if (verify_api(token, NULL) != 200)
		it_deferred_fail("the newest link does not work");
	verify_api(first, &r);
	it_expect_code(&r, 404, "verification_not_found", "the first link after "
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

	it_client_new();
	api_register(&o, "inviter");
	it_mailed_token(o.email, "verify", 1, token, sizeof(token), NULL, 0);
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
	it_http(&r, "POST", ACCEPT, NULL, NULL, "application/json",
	    it_jobj("token", token, "password", m.password, NULL));
	it_expect_status(&r, 200);
	it_copy_str(m.access, sizeof(m.access), &r, "access_token");
	it_response_free(&r);
	it_http(&r, "POST", RESEND, NULL, m.access, NULL, NULL);
	it_expect_code(&r, 409, "already_verified", "a new link for the "
	    "invited admin");
	it_response_free(&r);
	/* The free plan's two seats are taken: past the address check. */
	snprintf(other, sizeof(other), "ver%ld-third-%u@example.com",
	    (long)ve_pid, ++ve_nemails);
	invite(&r, &m, other, "member");
	it_expect_code(&r, 409, "seat_limit_reached", "the invited admin's "
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

	it_client_new();
	user_new(&u, "dash");
	it_http(&r, "GET", "/register", NULL, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (!it_set_cookie(&r, "tg_pre", pre, sizeof(pre), NULL))
		fail_msg("GET /register set no tg_pre cookie");
	it_csrf_of(&r, "/register", csrf, sizeof(csrf));
	it_response_free(&r);
	snprintf(cookie, sizeof(cookie), "tg_pre=%s", pre);
	snprintf(body, sizeof(body), "csrf=%s&organization=Dash&email=%s&"
	    "password=%s", csrf, u.email, u.password);
	it_http(&r, "POST", "/register", cookie, NULL, FORM, body);
	if (r.status != 303 ||
	    !it_set_cookie(&r, "tg_session", v, sizeof(v), NULL))
		fail_msg("portal sign-up: %ld, want 303 with a session",
		    r.status);
	snprintf(session, sizeof(session), "tg_session=%s", v);
	it_response_free(&r);
	it_mailed_token(u.email, "verify", 1, token, sizeof(token), NULL, 0);

	it_http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, "action=\"/verify/resend\"") == NULL)
		it_deferred_fail("the new owner's dashboard has no button for "
		    "a new link");
	it_csrf_of(&r, "/verify/resend", csrf, sizeof(csrf));
	it_response_free(&r);
	snprintf(body, sizeof(body), "csrf=%s", csrf);
	it_http(&r, "POST", "/verify/resend", session, NULL, FORM, body);
	loc = it_header(&r, "Location");
	if (r.status != 303 || loc == NULL || strcmp(loc, "/dashboard") != 0)
		it_deferred_fail("POST /verify/resend: %ld (Location %s), want "
		    "303 to /dashboard", r.status, loc != NULL ? loc : "none");
	if (!it_set_cookie(&r, "tg_flash", flash, sizeof(flash), NULL) ||
	    strcmp(flash, "verify_sent") != 0)
		it_deferred_fail("no tg_flash=verify_sent cookie:\n%s", r.head);
	it_response_free(&r);
	it_mailed_token(u.email, "verify", 2, token, sizeof(token), NULL, 0);
	if (verify_api(token, NULL) != 200)
		fail_msg("the new link does not work");

	it_http(&r, "GET", "/dashboard", session, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, "/verify/resend") != NULL)
		it_deferred_fail("the dashboard still asks after verifying");
	it_response_free(&r);
	it_deferred_check();
}

static int
group_setup(void **state)
{
	it_init();
	ve_pid = getpid();
	it_env("TOLLGATE_URL");
	it_env("TOLLGATE_PUBLIC_URL");
	it_env("TOLLGATE_OWNER_DATABASE_URL");
	it_env("SMTP_SINK_DIR");
	it_client_init(14);
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
