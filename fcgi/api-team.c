/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Members, invitations, API keys and the audit trail of a tenant.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

static const char *const	role_choices[] = {
	"owner", "admin", "member", NULL
};

static struct json_object *
member_json(const struct member *m)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "user_id", m->user_id);
	api_str(o, "email", m->email);
	api_str(o, "name", m->name);
	api_str(o, "role", m->role);
	api_str(o, "joined_at", m->created_at);
	return o;
}

void
api_members_list(struct req *r)
{
	struct json_object	*data;
	struct member		*m;
	const char		*after;
	size_t			 n, i;
	int			 limit, more;
	enum db_rc		 rc;

	if (api_list_args(r, &limit, &after) == -1)
		return;
	if ((rc = db_members_list(r, limit, after, &m, &n, &more)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, member_json(&m[i]));
	api_list(r, data, more);
}

static const struct vfield	invite_fields[] = {
	{ "email", V_EMAIL, 1, 0, 0, NULL },
	{ "role", V_ENUM, 1, 0, 0, role_choices },
};

void
api_members_invite(struct req *r)
{
	struct json_object	*o;
	struct invitation	 inv;
	struct vvalue		 v[2];
	struct fail		 f;
	const char		*link;

	if (api_input(r, invite_fields, 2, v) == -1)
		return;
	if (acct_invite(r, &f, v[0].s, v[1].s, &inv, &link) == -1) {
		acct_answer(r, &f);
		return;
	}
	mail_invitation(r, v[0].s, link);
	o = json_object_new_object();
	api_str(o, "id", inv.invitation_id);
	api_str(o, "email", inv.email);
	api_str(o, "role", inv.role);
	api_str(o, "created_at", inv.created_at);
	api_str(o, "expires_at", inv.expires_at);
	api_str(o, "link", link);
	req_json(r, 201, o);
}

static const struct vfield	accept_fields[] = {
	{ "token", V_STRING, 1, 1, 128, NULL },
	{ "password", V_PASSWORD, 1, 0, 0, NULL },
	{ "name", V_STRING, 0, 0, 200, NULL },
};

void
api_invitations_accept(struct req *r)
{
	struct vvalue	 v[3];
	struct tokens	 t;
	struct fail	 f;

	if (api_input(r, accept_fields, 3, v) == -1)
		return;
	if (acct_accept(r, &f, v[0].s, v[1].s, v[2].s) == -1 ||
	    acct_issue_tokens(r, &f, &t) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, 200, api_tokens_json(&t, NULL, NULL));
}

static const struct vfield	role_fields[] = {
	{ "role", V_ENUM, 1, 0, 0, role_choices },
};

void
api_members_update(struct req *r)
{
	struct vvalue	 v[1];
	struct member	 m;
	struct fail	 f;

	if (api_input(r, role_fields, 1, v) == -1)
		return;
	if (acct_set_role(r, &f, r->path_params[0], v[0].s, &m) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, 200, member_json(&m));
}

void
api_members_delete(struct req *r)
{
	struct fail	 f;

	if (acct_remove(r, &f, r->path_params[0]) == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}

static struct json_object *
apikey_json(const struct apikey *k)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "id", k->key_id);
	api_str(o, "name", k->name);
	api_str(o, "prefix", k->prefix);
	json_object_object_add(o, "scopes", api_scopes_json(k->scopes));
	api_str(o, "created_at", k->created_at);
	api_str(o, "last_used_at", k->last_used_at);
	return o;
}

void
api_keys_list(struct req *r)
{
	struct json_object	*data;
	struct apikey		*k;
	const char		*after;
	size_t			 n, i;
	int			 limit, more;
	enum db_rc		 rc;

	if (api_list_args(r, &limit, &after) == -1)
		return;
	if ((rc = db_apikey_list(r, limit, after, &k, &n, &more)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, apikey_json(&k[i]));
	api_list(r, data, more);
}

static const struct vfield	key_fields[] = {
	{ "name", V_STRING, 1, 1, 100, NULL },
	{ "scopes", V_SCOPES, 1, 1, 4, NULL },
};

void
api_keys_create(struct req *r)
{
	struct json_object	*o;
	struct vvalue		 v[2];
	struct apikey		 k;
	struct fail		 f;
	const char		*secret;

	if (api_input(r, key_fields, 2, v) == -1)
		return;
	if (acct_key_create(r, &f, v[0].s, (int)v[1].i, &k, &secret) == -1) {
		acct_answer(r, &f);
		return;
	}
	o = apikey_json(&k);
	api_str(o, "secret", secret);
	req_json(r, 201, o);
}

void
api_keys_delete(struct req *r)
{
	struct fail	 f;

	if (acct_key_revoke(r, &f, r->path_params[0]) == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}

/* GET /audit?action=&actor=&from=&to=&limit=&starting_after= */
void
api_audit_list(struct req *r)
{
	struct json_object	*data, *o, *d;
	struct audit_filter	 flt;
	struct audit_event	*e;
	size_t			 n, i;
	int			 limit, more;
	enum db_rc		 rc;

	memset(&flt, 0, sizeof(flt));
	if (audit_filter_args(r, &flt, &limit) == -1)
		return;
	if ((rc = db_audit_list(r, &flt, limit, &e, &n, &more)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		api_str(o, "id", e[i].event_id);
		api_str(o, "at", e[i].at);
		api_str(o, "actor", e[i].actor);
		api_str(o, "actor_user_id", e[i].actor_user_id);
		api_str(o, "action", e[i].action);
		api_str(o, "target", e[i].target);
		api_str(o, "ip", e[i].ip);
		api_str(o, "request_id", e[i].request_id);
		d = json_tokener_parse(e[i].details != NULL ? e[i].details :
		    "{}");
		json_object_object_add(o, "details", d);
		json_object_array_add(data, o);
	}
	api_list(r, data, more);
}

/*
 * The audit filters from the query string, validated: shared by the
 * API and the portal's audit page.
 */
int
audit_filter_args(struct req *r, struct audit_filter *flt, int *limit)
{
	const char	*v;
	long long	 id;

	if (valid_list_args(r, limit, &flt->after) == -1)
		return -1;
	if (flt->after != NULL && util_strtonum(flt->after, 1,
	    (long long)1 << 62, &id) == -1) {
		req_error(r, 400, NULL, "invalid_value",
		    "starting_after must be an event id.", "starting_after");
		return -1;
	}
	if ((v = http_kv_get(&r->args, "action")) != NULL && *v != '\0') {
		if (strlen(v) > 64) {
			req_error(r, 400, NULL, "invalid_value",
			    "action is at most 64 characters.", "action");
			return -1;
		}
		flt->action = v;
	}
	if ((v = http_kv_get(&r->args, "actor")) != NULL && *v != '\0') {
		if (strlen(v) > 254) {
			req_error(r, 400, NULL, "invalid_value",
			    "actor is at most 254 characters.", "actor");
			return -1;
		}
		flt->actor = v;
	}
	if ((v = http_kv_get(&r->args, "from")) != NULL && *v != '\0') {
		if (!api_time_valid(v)) {
			req_error(r, 400, NULL, "invalid_value",
			    "from must be an RFC 3339 time.", "from");
			return -1;
		}
		flt->from = v;
	}
	if ((v = http_kv_get(&r->args, "to")) != NULL && *v != '\0') {
		if (!api_time_valid(v)) {
			req_error(r, 400, NULL, "invalid_value",
			    "to must be an RFC 3339 time.", "to");
			return -1;
		}
		flt->to = v;
	}
	return 0;
}
