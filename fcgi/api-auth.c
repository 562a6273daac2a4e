/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /auth: register, login, refresh, logout, me, password.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

static const struct vfield	register_fields[] = {
	{ "email", V_EMAIL, 1, 0, 0, NULL },
	{ "password", V_PASSWORD, 1, 0, 0, NULL },
	{ "organization", V_STRING, 1, 1, 200, NULL },
	{ "name", V_STRING, 0, 0, 200, NULL },
};

void
api_auth_register(struct req *r)
{
	struct vvalue	 v[4];
	struct tokens	 t;
	struct fail	 f;

	if (api_input(r, register_fields, 4, v) == -1)
		return;
	if (acct_register(r, &f, v[0].s, v[1].s, v[2].s, v[3].s) == -1 ||
	    acct_issue_tokens(r, &f, &t) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, 201, api_tokens_json(&t, v[0].s, v[2].s));
}

static const struct vfield	login_fields[] = {
	{ "email", V_STRING, 1, 1, 254, NULL },
	{ "password", V_PASSWORD, 1, 0, 0, NULL },
	{ "tenant_id", V_UUID, 0, 0, 0, NULL },
};

void
api_auth_login(struct req *r)
{
	struct vvalue	 v[3];
	struct login	 l;
	struct tokens	 t;
	struct fail	 f;

	if (api_input(r, login_fields, 3, v) == -1)
		return;
	if (acct_authenticate(r, &f, v[0].s, v[1].s, v[2].s, &l) == -1 ||
	    acct_issue_tokens(r, &f, &t) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, 200, api_tokens_json(&t, l.user.email, l.tenant_name));
}

static const struct vfield	refresh_fields[] = {
	{ "refresh_token", V_STRING, 1, 1, 128, NULL },
};

void
api_auth_refresh(struct req *r)
{
	struct vvalue	 v[1];
	struct tokens	 t;
	struct fail	 f;

	if (api_input(r, refresh_fields, 1, v) == -1)
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
	struct vvalue	 v[1];
	struct fail	 f;

	if (api_input(r, refresh_fields, 1, v) == -1)
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

static const struct vfield	password_fields[] = {
	{ "current_password", V_PASSWORD, 1, 0, 0, NULL },
	{ "new_password", V_PASSWORD, 1, 0, 0, NULL },
};

void
api_auth_password(struct req *r)
{
	struct vvalue	 v[2];
	struct fail	 f;

	if (api_input(r, password_fields, 2, v) == -1)
		return;
	if (acct_password_change(r, &f, v[0].s, v[1].s) == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}
