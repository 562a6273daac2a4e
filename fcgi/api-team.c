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

void
api_members_invite(struct req *r)
{
	struct json_object	*o;
	struct invitation	 inv;
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct fail		 f;
	const char		*link;
	enum db_rc		 rc;

	if (api_input(r, VOP_INVITE, v) == -1)
		return;
	if (acct_invite(r, &f, v[0].s, v[1].s, &inv, &link) == -1) {
		acct_answer(r, &f);
		return;
	}
	/* The mail leaves through the outbox, once this commits. */
	if ((rc = notify_invitation(r, v[0].s, link)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	o = json_object_new_object();
	api_str(o, "id", inv.invitation_id);
	api_str(o, "email", inv.email);
	api_str(o, "role", inv.role);
	api_str(o, "created_at", inv.created_at);
	api_str(o, "expires_at", inv.expires_at);
	api_str(o, "link", link);
	req_json(r, 201, o);
}

void
api_invitations_accept(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct tokens	 t;
	struct fail	 f;

	if (api_input(r, VOP_ACCEPT, v) == -1)
		return;
	if (acct_accept(r, &f, v[0].s, v[1].s, v[2].s) == -1 ||
	    acct_issue_tokens(r, &f, &t) == -1) {
		acct_answer(r, &f);
		return;
	}
	/* On the team plan the subscription's seats follow. */
	r->after = billing_seats_after;
	req_json(r, 200, api_tokens_json(&t, NULL, NULL));
}

void
api_members_update(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct member	 m;
	struct fail	 f;

	if (api_input(r, VOP_ROLE, v) == -1)
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
	r->after = billing_seats_after;
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
	if ((rc = db_apikey_list(r, limit, after, 0, &k, &n, &more)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, apikey_json(&k[i]));
	api_list(r, data, more);
}

void
api_keys_create(struct req *r)
{
	struct json_object	*o;
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct apikey		 k;
	struct fail		 f;
	const char		*secret;

	if (api_input(r, VOP_KEY_CREATE, v) == -1)
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
	struct vfail		 vf;
	size_t			 n, i;
	int			 limit, more;
	enum db_rc		 rc;

	if (valid_audit_filter(&r->args, &flt, &limit, &vf) == -1) {
		req_error_valid(r, &vf);
		return;
	}
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
