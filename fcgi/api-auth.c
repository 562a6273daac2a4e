/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /auth: register, login, refresh, logout, me, password, e-mail
 * verification, password reset.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

void
api_auth_register(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct tokens	 t;
	struct fail	 f;

	if (api_input(r, VOP_REGISTER, v) == -1)
		return;
	if (acct_register(r, &f, v[0].s, v[1].s, v[2].s, v[3].s) == -1 ||
	    acct_issue_tokens(r, &f, &t) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, 201, api_tokens_json(&t, v[0].s, v[2].s));
}

void
api_auth_login(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct login	 l;
	struct tokens	 t;
	struct fail	 f;

	if (api_input(r, VOP_LOGIN, v) == -1)
		return;
	if (acct_authenticate(r, &f, v[0].s, v[1].s, v[2].s, &l) == -1 ||
	    acct_issue_tokens(r, &f, &t) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, 200, api_tokens_json(&t, l.user.email, l.tenant_name));
}

void
api_auth_refresh(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct tokens	 t;
	struct fail	 f;

	if (api_input(r, VOP_REFRESH, v) == -1)
		return;
	if (acct_refresh(r, &f, v[0].s, &t) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, 200, api_tokens_json(&t, NULL, NULL));
}

void
api_auth_logout(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct fail	 f;

	if (api_input(r, VOP_REFRESH, v) == -1)
		return;
	if (acct_logout(r, &f, v[0].s) == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}

void
api_auth_me(struct req *r)
{
	struct json_object	*o, *u, *tn;
	const struct tenant	*t;
	struct user		 usr;
	enum db_rc		 rc;

	if ((rc = auth_tenant(r, &t)) != DB_OK) {
		req_error_from_db(r, rc == DB_NOTFOUND ? DB_ERROR : rc);
		return;
	}
	o = json_object_new_object();
	if (r->auth.kind == PRINCIPAL_USER) {
		if ((rc = db_user_get(r, r->auth.user_id, &usr)) != DB_OK) {
			json_object_put(o);
			req_error_from_db(r, rc == DB_NOTFOUND ? DB_ERROR : rc);
			return;
		}
		u = json_object_new_object();
		api_str(u, "id", usr.user_id);
		api_str(u, "email", usr.email);
		api_str(u, "name", usr.name);
		json_object_object_add(o, "user", u);
		api_str(o, "role", auth_role_name(r->auth.role));
	} else {
		u = json_object_new_object();
		api_str(u, "id", r->auth.key_id);
		api_str(u, "kind", r->auth.kind == PRINCIPAL_PLATFORM_KEY ?
		    "platform" : "tenant");
		json_object_object_add(u, "scopes",
		    api_scopes_json(r->auth.scopes));
		json_object_object_add(o, "api_key", u);
	}
	tn = json_object_new_object();
	api_str(tn, "id", t->tenant_id);
	api_str(tn, "name", t->name);
	json_object_object_add(o, "tenant", tn);
	api_str(o, "plan", t->plan);
	api_str(o, "status", t->status);
	req_json(r, 200, o);
}

void
api_auth_password(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct fail	 f;

	if (api_input(r, VOP_PASSWORD, v) == -1)
		return;
	if (acct_password_change(r, &f, v[0].s, v[1].s) == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}

/* Use a link mailed to prove an address (the token is its last part). */
void
api_auth_verify_email(struct req *r)
{
	struct json_object	*o;
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct fail		 f;

	if (api_input(r, VOP_VERIFY, v) == -1)
		return;
	if (acct_verify_email(r, &f, v[0].s) == -1) {
		acct_answer(r, &f);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "verified", json_object_new_boolean(1));
	req_json(r, 200, o);
}

/* Mail the signed-in user a new link; 202, the mail leaves after. */
void
api_auth_verify_resend(struct req *r)
{
	struct json_object	*o;
	struct fail		 f;

	if (acct_verify_resend(r, &f) == -1) {
		acct_answer(r, &f);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "sent", json_object_new_boolean(1));
	req_json(r, 202, o);
}

/*
 * Ask for a link that sets a new password: 202 for every address, in
 * the same time (the work is done after the answer, acct.c).
 */
void
api_auth_password_reset(struct req *r)
{
	struct json_object	*o;
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct fail		 f;

	if (api_input(r, VOP_RESET, v) == -1)
		return;
	if (acct_reset_request(r, &f, v[0].s) == -1) {
		acct_answer(r, &f);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "accepted", json_object_new_boolean(1));
	req_json(r, 202, o);
}

/* Use a reset link (the token is its last part) with a new password. */
void
api_auth_password_reset_confirm(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct fail	 f;

	if (api_input(r, VOP_RESET_CONFIRM, v) == -1)
		return;
	if (acct_reset_confirm(r, &f, v[0].s, v[1].s) == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}
