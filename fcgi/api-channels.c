/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /channels (SPEC 9): the tenant's Slack and WhatsApp connections,
 * the Slack install URL, WhatsApp connect, a test message, disconnect.
 * The Slack callback is a portal page (page-channels.c): the browser
 * comes back to it from Slack.  No token is ever answered, and the
 * request's copies of a WhatsApp token are wiped once it is sealed.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "tollgate.h"

struct json_object *
api_channel_json(const struct channel *c)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "id", c->channel_id);
	api_str(o, "kind", c->kind);
	api_str(o, "name", c->name);
	if (strcmp(c->kind, "slack") == 0) {
		api_str(o, "team_id", c->external_id);
		api_str(o, "slack_channel_id", c->target_id);
		api_str(o, "slack_channel", c->target);
	} else {
		api_str(o, "phone_number_id", c->external_id);
		api_str(o, "display_phone_number", c->target);
	}
	api_str(o, "agent_id", c->agent_id);
	/* A token neither key opens can no longer be used: say so. */
	api_str(o, "status", vault_usable(c->token) ? c->status : "unusable");
	api_str(o, "status_detail", c->status_detail);
	api_str(o, "created_at", c->created_at);
	api_str(o, "updated_at", c->updated_at);
	api_str(o, "last_test_at", c->last_test_at);
	return o;
}

/* GET /channels */
void
api_channels_list(struct req *r)
{
	struct json_object	*data;
	struct channel		*c;
	size_t			 n, i;
	enum db_rc		 rc;

	if ((rc = db_channel_list(r, &c, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, api_channel_json(&c[i]));
	api_list(r, data, 0);
}

/* GET /channels/slack/install?agent_id= -> {url} */
void
api_channels_slack_install(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct vfail	 vf;
	struct json_object	*o;
	struct fail	 f;
	const char	*url;

	if (valid_form(&r->args, VOP_SLACK_INSTALL, v, &vf, 1) > 0) {
		req_error_valid(r, &vf);
		return;
	}
	if (channel_slack_install(r, &f, v[0].present ? v[0].s : NULL,
	    &url) == -1) {
		acct_answer(r, &f);
		return;
	}
	o = json_object_new_object();
	api_str(o, "url", url);
	req_json(r, 200, o);
}

/* POST /channels/whatsapp {phone_number_id, access_token, ...} */
void
api_channels_whatsapp(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct channel_room	 room;
	struct channel		 c;
	struct fail		 f;
	int			 created, rc;

	if (api_input(r, VOP_WHATSAPP, v) == -1) {
		OPENSSL_cleanse(r->body.p, r->body.len);
		return;
	}
	/* The token is the parsed body's own string: sealed, then wiped. */
	rc = channel_whatsapp_connect(r, &f, v[0].s,
	    (char *)(uintptr_t)v[1].s, v[2].present ? v[2].s : NULL,
	    v[3].present ? v[3].s : NULL, &c, &created, &room);
	OPENSSL_cleanse(r->body.p, r->body.len);
	if (rc == -1) {
		api_quota_answer(r, &f, "channels", room.limit, room.used);
		return;
	}
	req_json(r, created ? 201 : 200, api_channel_json(&c));
}

/* POST /channels/{id}/test {to?}: the provider's answer, as it came. */
void
api_channels_test(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct channel_test	 t;
	struct channel		 c;
	struct fail		 f;
	struct json_object	*o;

	memset(v, 0, sizeof(v));
	if (r->body.len > 0 && (req_parse_body(r, BODY_JSON) == -1 ||
	    api_input(r, VOP_CHANNEL_TEST, v) == -1))
		return;
	if (channel_test(r, &f, r->path_params[0], v[0].present ? v[0].s :
	    NULL, &c, &t) == -1) {
		if (t.retry_after != NULL)
			req_header(r, "Retry-After", t.retry_after);
		acct_answer(r, &f);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "delivered",
	    json_object_new_boolean(t.delivered));
	api_str(o, "message_id", t.message_id);
	api_str(o, "error", t.error);
	json_object_object_add(o, "channel", api_channel_json(&c));
	req_json(r, 200, o);
}

/* DELETE /channels/{id} */
void
api_channels_delete(struct req *r)
{
	struct fail	 f;

	if (channel_disconnect(r, &f, r->path_params[0]) == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}
