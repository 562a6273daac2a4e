/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Portal sign-in, sign-up, sign-out, invitations, the links that
 * prove an e-mail address, and password reset.  The forms are bound to
 * the pre-login cookie's CSRF token (login CSRF), checked by auth.c
 * before these handlers run.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

/*
 * A refused sign-up or invitation: the request is refused (the pipeline
 * rolls back what it wrote), and the visitor is again who they were
 * before (a signed-in user keeps the session's form token; a stranger
 * gets the pre-login one).
 */
static void
page_restore_auth(struct req *r, const struct auth *before)
{
	req_refuse(r);
	r->auth = *before;
	r->tenant = NULL;
	if (r->auth.kind == PRINCIPAL_NONE)
		auth_csrf_refresh(r);
}

void
page_login(struct req *r)
{
	if (r->auth.kind == PRINCIPAL_SESSION) {
		req_redirect(r, "/dashboard");
		return;
	}
	page_layout(r, "Sign in", "");
	tmpl_render(r, 200, "login.cs");
}

void
page_login_post(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct login	 l;
	struct fail	 f;

	if (page_input(r, VOP_LOGIN, NULL, v) > 0) {
		page_layout(r, "Sign in", "");
		page_keep(r, "email");
		tmpl_render(r, 400, "login.cs");
		return;
	}
	if (acct_authenticate(r, &f, v[0].s, v[1].s, NULL, &l) == -1 ||
	    acct_session_start(r, &f) == -1) {
		req_refuse(r);
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_layout(r, "Sign in", "");
		page_keep(r, "email");
		tmpl_set(r, "Form.error", f.message);
		tmpl_render(r, f.status, "login.cs");
		return;
	}
	page_flash(r, "signed_in");
	req_redirect(r, "/dashboard");
}

void
page_register(struct req *r)
{
	page_layout(r, "Create your account", "");
	tmpl_render(r, 200, "register.cs");
}

/*
 * A new password's rules (passwd_check_new()), checked with the rest of
 * the form so that every error shows at once.  1 when broken (the
 * message is beside the field), 0 otherwise; an empty field is the
 * table's "is required".
 */
static size_t
page_password_rules(struct req *r, const char *field)
{
	const char	*pw = page_form(r, field), *cause;

	if (*pw == '\0' || passwd_check_new(pw, &cause) == 0)
		return 0;
	req_refuse(r);
	tmpl_set(r, arena_printf(&r->arena, "Form.%s.error", field),
	    arena_printf(&r->arena, "The password %s.", cause));
	return 1;
}

/* The sign-up form again, with its errors and the values kept. */
static void
page_register_again(struct req *r, const struct auth *before, int status)
{
	/* Nothing of a refused sign-up may stay. */
	page_restore_auth(r, before);
	page_layout(r, "Create your account", "");
	page_keep(r, "organization");
	page_keep(r, "name");
	page_keep(r, "email");
	tmpl_render(r, status, "register.cs");
}

void
page_register_post(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct auth	 before = r->auth;
	struct fail	 f;
	size_t		 bad;

	/* Every error at once: the table's, and the password's rules. */
	bad = page_input(r, VOP_REGISTER, NULL, v);
	bad += page_password_rules(r, "password");
	if (bad > 0) {
		page_register_again(r, &before, 400);
		return;
	}
	if (acct_register(r, &f, v[0].s, v[1].s, v[2].s,
	    v[3].present ? v[3].s : "") == -1 ||
	    acct_session_start(r, &f) == -1) {
		page_fail(r, &f, NULL);
		if (f.db != 0)
			return;
		/* The sentence points somewhere: the page links it. */
		if (f.code != NULL && strcmp(f.code, "email_taken") == 0)
			tmpl_set(r, "Form.email_taken", "1");
		page_register_again(r, &before, f.status);
		return;
	}
	page_flash(r, "welcome");
	req_redirect(r, "/dashboard");
}

void
page_logout(struct req *r)
{
	struct fail	 f;

	if (acct_session_end(r, &f) == -1) {
		req_error_from_db(r, f.db);
		return;
	}
	page_flash(r, "signed_out");
	req_redirect(r, "/login");
}

static void
page_invite_show(struct req *r, const struct invitation *inv, int status)
{
	/*
	 * The invitation's tenant may not be the visitor's: the page shows
	 * the public header, whoever is signed in.  The form keeps the
	 * token it is bound to (auth.csrf).
	 */
	if (r->auth.kind == PRINCIPAL_SESSION)
		r->auth.kind = PRINCIPAL_NONE;
	r->tenant = NULL;
	page_layout(r, "Invitation", "");
	if (inv != NULL) {
		tmpl_set(r, "Invite.valid", "1");
		tmpl_set(r, "Invite.tenant", inv->tenant_name);
		tmpl_set(r, "Invite.role", inv->role);
		tmpl_set(r, "Invite.email", inv->email);
		tmpl_set(r, "Invite.token", r->path_params[0]);
	}
	tmpl_render(r, status, "invite.cs");
}

void
page_invite(struct req *r)
{
	struct invitation	 inv;
	struct fail		 f;

	if (acct_invitation_open(r, &f, r->path_params[0], &inv) == -1) {
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_invite_show(r, NULL, 404);
		return;
	}
	page_invite_show(r, &inv, 200);
}

void
page_invite_post(struct req *r)
{
	struct invitation	 inv;
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct auth		 before = r->auth;
	struct fail		 f;

	/* The token comes in the path; the table checks it with the rest. */
	memset(&f, 0, sizeof(f));
	if (page_input(r, VOP_ACCEPT, page_form_token(r), v) > 0)
		f.status = 400;
	if (f.status != 0 || acct_accept(r, &f, v[0].s, v[1].s,
	    v[2].present ? v[2].s : "") == -1 ||
	    acct_session_start(r, &f) == -1) {
		req_refuse(r);
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_restore_auth(r, &before);
		if (f.status == 404) {
			page_invite_show(r, NULL, 404);
			return;
		}
		/* Show the form again: re-read the invitation. */
		if (acct_invitation_open(r, &f, r->path_params[0], &inv) == -1) {
			page_invite_show(r, NULL, 404);
			return;
		}
		page_keep(r, "name");
		if (f.message != NULL)
			page_fail(r, &f, "password");
		page_invite_show(r, &inv, 400);
		return;
	}
	r->after = billing_seats_after;
	page_flash(r, "joined");
	req_redirect(r, "/dashboard");
}

/*
 * The page of a link proving an address.  The link may be another
 * user's than the one signed in: the page shows the public header, and
 * the form keeps the token it is bound to (auth.csrf).
 */
static void
page_verify_show(struct req *r, const char *email, int status)
{
	page_token_show(r, "Confirm your e-mail address", "Verify", email,
	    "verify.cs", status);
}

/* GET: a button only; a mail scanner following the link uses nothing. */
void
page_verify(struct req *r)
{
	const char	*email;
	struct fail	 f;

	if (acct_verify_open(r, &f, r->path_params[0], &email) == -1) {
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_verify_show(r, NULL, 404);
		return;
	}
	page_verify_show(r, email, 200);
}

void
page_verify_post(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct fail	 f;
	int		 signed_in = r->auth.kind == PRINCIPAL_SESSION;

	/* The token comes in the path; the table checks it. */
	memset(&f, 0, sizeof(f));
	if (page_input(r, VOP_VERIFY, page_form_token(r), v) > 0 ||
	    acct_verify_email(r, &f, v[0].s) == -1) {
		req_refuse(r);
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_verify_show(r, NULL, 404);
		return;
	}
	page_flash(r, "verified");
	req_redirect(r, signed_in ? "/dashboard" : "/login");
}

/* A new link for the signed-in user, from the dashboard's notice. */
void
page_verify_resend(struct req *r)
{
	struct fail	 f;

	if (acct_verify_resend(r, &f) == -1) {
		req_refuse(r);
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_flash(r, f.status == 409 ? "already_verified" :
		    "verify_limited");
		req_redirect(r, "/dashboard");
		return;
	}
	page_flash(r, "verify_sent");
	req_redirect(r, "/dashboard");
}

/* GET /password-reset: the form asking for the address. */
void
page_password_reset(struct req *r)
{
	page_layout(r, "Reset your password", "");
	tmpl_render(r, 200, "password-reset.cs");
}

/*
 * One answer for every address, known or not, limited or not: "if an
 * account exists, we sent a link".  Only a value that is no address is
 * shown as an error beside the field.
 */
void
page_password_reset_post(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct fail	 f;

	memset(&f, 0, sizeof(f));
	if (page_input(r, VOP_RESET, NULL, v) > 0 ||
	    acct_reset_request(r, &f, v[0].s) == -1) {
		if (f.status != 0 || f.db != 0)
			page_fail(r, &f, NULL);
		if (f.db != 0)
			return;
		page_layout(r, "Reset your password", "");
		page_keep(r, "email");
		tmpl_render(r, 400, "password-reset.cs");
		return;
	}
	page_layout(r, "Check your mail", "");
	tmpl_set(r, "Reset.sent", "1");
	tmpl_set(r, "Reset.email", v[0].s);
	tmpl_render(r, 200, "password-reset.cs");
}

/*
 * The page of a reset link: the form for the new password, or, for a
 * link unknown, used or expired, a 404 page offering a new one.  The
 * link may be another user's than the one signed in: the page shows
 * the public header, and the form keeps the token it is bound to.
 */
static void
page_reset_show(struct req *r, const char *email, int status)
{
	page_token_show(r, email != NULL ? "Choose a new password" :
	    "Reset link not valid", "Reset", email, "reset.cs", status);
}

/* GET: the form only; a mail scanner following the link uses nothing. */
void
page_reset(struct req *r)
{
	const char	*email;
	struct fail	 f;

	if (acct_reset_open(r, &f, r->path_params[0], &email) == -1) {
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_reset_show(r, NULL, 404);
		return;
	}
	page_reset_show(r, email, 200);
}

void
page_reset_post(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	const char	*email;
	struct fail	 f;

	/* The token comes in the path; the table checks it with the rest. */
	memset(&f, 0, sizeof(f));
	if (page_input(r, VOP_RESET_CONFIRM, page_form_token(r), v) > 0)
		f.status = 400;
	if (f.status == 0 && acct_reset_confirm(r, &f, v[0].s, v[1].s) == 0) {
		/* Every session of the user ended, this browser's too. */
		auth_set_cookie(r, "tg_session", "", -1);
		page_flash(r, "password_reset");
		req_redirect(r, "/login");
		return;
	}
	req_refuse(r);
	if (f.db != 0) {
		req_error_from_db(r, f.db);
		return;
	}
	/* Show the form again, if the link still works. */
	if (f.status == 404 ||
	    acct_reset_open(r, &f, r->path_params[0], &email) == -1) {
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_reset_show(r, NULL, 404);
		return;
	}
	if (f.message != NULL)
		page_fail(r, &f, "new_password");
	page_reset_show(r, email, 400);
}
