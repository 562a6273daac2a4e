/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Portal sign-in, sign-up, sign-out and invitations.  The forms are
 * bound to the pre-login cookie's CSRF token (login CSRF), checked by
 * auth.c before these handlers run.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

/*
 * A refused sign-up or invitation: its transaction goes, and the
 * visitor is again who they were before (a signed-in user keeps the
 * session's form token; a stranger gets the pre-login one).
 */
static void
page_restore_auth(struct req *r, const struct auth *before)
{
	if (r->in_tx)
		db_rollback(r);
	r->auth = *before;
	r->tenant = NULL;
	if (r->auth.kind == PRINCIPAL_NONE)
		auth_csrf_refresh(r);
}

/* Form values are shown again after an error (never passwords). */
static void
page_keep(struct req *r, const char *name, size_t max)
{
	const char	*v = page_form(r, name);
	char		 key[64];

	if (strlen(v) > max)
		v = "";
	snprintf(key, sizeof(key), "Form.%s.value", name);
	tmpl_set(r, key, v);
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
	struct login	 l;
	struct fail	 f;

	if (acct_authenticate(r, &f, page_form(r, "email"),
	    page_form(r, "password"), NULL, &l) == -1 ||
	    acct_session_start(r, &f) == -1) {
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_layout(r, "Sign in", "");
		page_keep(r, "email", 254);
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

void
page_register_post(struct req *r)
{
	const char	*org = page_form(r, "organization");
	struct auth	 before = r->auth;
	struct fail	 f;

	memset(&f, 0, sizeof(f));
	if (*org == '\0' || strlen(org) > 200)
		f = (struct fail){ 400, "invalid_value", "Enter the name of "
		    "your organization (up to 200 characters).",
		    "organization", 0 };
	else if (strlen(page_form(r, "name")) > 200)
		f = (struct fail){ 400, "invalid_value", "Your name is too "
		    "long (200 characters at most).", "name", 0 };
	if (f.status != 0 || acct_register(r, &f, page_form(r, "email"),
	    page_form(r, "password"), org, page_form(r, "name")) == -1 ||
	    acct_session_start(r, &f) == -1) {
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		/* Nothing of a refused sign-up may stay. */
		page_restore_auth(r, &before);
		page_layout(r, "Create your account", "");
		page_keep(r, "organization", 200);
		page_keep(r, "name", 200);
		page_keep(r, "email", 254);
		page_fail(r, &f, NULL);
		tmpl_render(r, f.status, "register.cs");
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
	struct auth		 before = r->auth;
	struct fail		 f;
	const char		*name = page_form(r, "name");

	memset(&f, 0, sizeof(f));
	if (strlen(name) > 200 || strpbrk(name, "\r\n\t") != NULL)
		f = (struct fail){ 400, "invalid_value", "Your name is too "
		    "long (200 characters at most) or has control characters.",
		    "name", 0 };
	if (f.status != 0 || acct_accept(r, &f, r->path_params[0],
	    page_form(r, "password"), name) == -1 ||
	    acct_session_start(r, &f) == -1) {
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
		page_keep(r, "name", 200);
		page_fail(r, &f, "password");
		page_invite_show(r, &inv, 400);
		return;
	}
	page_flash(r, "joined");
	req_redirect(r, "/dashboard");
}
