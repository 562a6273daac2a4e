/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /agents (SPEC 6): list, create, change, delete.  Amounts of USD go
 * both ways as decimal strings ("12.5"), exact; a budget may come in
 * as a JSON number too, read from the digits the client sent.  The
 * list is newest first, paged by agent id.  DELETE deactivates (reason
 * "deleted") rather than removing the row: the agent's usage and audit
 * history keep referring to it, and PATCH {"active": true} can bring
 * it back within the quota.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

static struct json_object *
api_agent_json(const struct agent *a)
{
	struct json_object	*o = json_object_new_object();
	char			 usd[40];

	api_str(o, "id", a->agent_id);
	api_str(o, "name", a->name);
	json_object_object_add(o, "active", json_object_new_boolean(a->active));
	quota_micros_to_usd(a->budget_micros, usd, sizeof(usd));
	api_str(o, "budget_limit_usd", a->budget_micros < 0 ? NULL : usd);
	api_str(o, "budget_action", a->budget_action);
	api_str(o, "deactivated_reason", a->deactivated_reason);
	api_str(o, "deactivated_at", a->deactivated_at);
	api_str(o, "created_at", a->created_at);
	quota_micros_to_usd(a->spend_micros, usd, sizeof(usd));
	api_str(o, "spend_usd", usd);
	api_str(o, "budget_status", quota_budget_name(quota_budget_status(
	    a->budget_micros, a->spend_micros)));
	return o;
}

/* GET /agents?limit=&starting_after=<agent id> */
void
api_agents_list(struct req *r)
{
	struct json_object	*data;
	struct agent		*a;
	const char		*after;
	size_t			 n, i;
	int			 limit, more;
	enum db_rc		 rc;

	if (api_list_args(r, &limit, &after) == -1)
		return;
	if ((rc = db_agent_list(r, limit, after, &a, &n, &more)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, api_agent_json(&a[i]));
	api_list(r, data, more);
}

/* The body of a create (POST) or a change (PATCH); 400 when bad. */
static int
api_agents_input(struct req *r, int create, struct agent_change *c)
{
	struct vfail	 vf;

	if (agent_json(r->json, create, c, &vf) == -1) {
		req_error_valid(r, &vf);
		return -1;
	}
	return 0;
}

/* POST /agents {name, budget_limit_usd?, budget_action?} */
void
api_agents_create(struct req *r)
{
	struct agent_change	 c;
	struct agent_room	 room;
	struct agent		 a;
	struct fail		 f;

	if (api_agents_input(r, 1, &c) == -1)
		return;
	if (agent_create(r, &f, &c, &a, &room) == -1) {
		api_quota_answer(r, &f, "agents", room.limit, room.active);
		return;
	}
	req_json(r, 201, api_agent_json(&a));
}

/* PATCH /agents/{id} {name?, budget_limit_usd?, budget_action?, active?} */
void
api_agents_update(struct req *r)
{
	struct agent_change	 c;
	struct agent_room	 room;
	struct agent		 a;
	struct fail		 f;

	if (api_agents_input(r, 0, &c) == -1)
		return;
	if (agent_update(r, &f, r->path_params[0], &c, &a, &room) == -1) {
		api_quota_answer(r, &f, "agents", room.limit, room.active);
		return;
	}
	req_json(r, 200, api_agent_json(&a));
}

/* DELETE /agents/{id}: deactivated with the reason "deleted". */
void
api_agents_delete(struct req *r)
{
	struct fail	 f;

	if (agent_deactivate(r, &f, r->path_params[0], "deleted") == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}
