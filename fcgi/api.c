/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Helpers shared by the API handlers: JSON fields that may be NULL,
 * RFC 3339 times, the list envelope and validated inputs (a validation
 * failure becomes the 400 of SPEC 5 here).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "tollgate.h"

/* Add a string field, or null when v is NULL. */
void
api_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v != NULL ? json_object_new_string(v) :
	    NULL);
}

void
api_time(struct json_object *o, const char *k, time_t t)
{
	struct tm	 tm;
	char		 s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	api_str(o, k, s);
}

/* {"data": [...], "has_more": bool}; data is consumed. */
void
api_list(struct req *r, struct json_object *data, int has_more)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "data", data);
	json_object_object_add(o, "has_more",
	    json_object_new_boolean(has_more));
	req_json(r, 200, o);
}

/* A scope bit set as a JSON array of scope names. */
struct json_object *
api_scopes_json(int scopes)
{
	struct json_object	*a = json_object_new_array();
	const char		*name;
	int			 i = 0;

	while ((name = valid_scope_next(scopes, &i)) != NULL)
		json_object_array_add(a, json_object_new_string(name));
	return a;
}

/* The list conventions with an id (UUID) as the cursor; 400 if bad. */
int
api_list_args(struct req *r, int *limit, const char **after)
{
	struct vfail	 f;

	if (valid_list_args(&r->args, limit, after, &f) == -1) {
		req_error_valid(r, &f);
		return -1;
	}
	if (*after != NULL && !valid_uuid(*after)) {
		req_error(r, 400, NULL, "invalid_value", "starting_after must "
		    "be the id of the last item of a previous page.",
		    "starting_after");
		return -1;
	}
	return 0;
}

/* Validate the body against the operation's table; 400 on failure. */
int
api_input(struct req *r, enum vop op, struct vvalue *v)
{
	struct vfail	 f;

	if (valid_json(r->json, op, v, &f) == -1) {
		req_error_valid(r, &f);
		return -1;
	}
	return 0;
}

/* The user and tenant objects of the auth answers. */
struct json_object *
api_tokens_json(const struct tokens *t, const char *email,
    const char *tenant_name)
{
	struct json_object	*o, *u, *tn;

	o = json_object_new_object();
	api_str(o, "access_token", t->access_token);
	api_str(o, "token_type", "Bearer");
	api_str(o, "refresh_token", t->refresh_token);
	api_time(o, "expires_at", t->expires_at);
	u = json_object_new_object();
	api_str(u, "id", t->user_id);
	if (email != NULL)
		api_str(u, "email", email);
	json_object_object_add(o, "user", u);
	tn = json_object_new_object();
	api_str(tn, "id", t->tenant_id);
	if (tenant_name != NULL)
		api_str(tn, "name", tenant_name);
	api_str(tn, "role", t->role);
	json_object_object_add(o, "tenant", tn);
	return o;
}

/*
 * A service's refusal, answered; a quota's 409 says which limit and
 * how much of it is used (SPEC 5): metric, limit, used.
 */
void
api_quota_answer(struct req *r, const struct fail *f, const char *metric,
    long long limit, long long used)
{
	struct json_object	*e;

	if (f->db != 0 || f->code == NULL ||
	    strcmp(f->code, "quota_exceeded") != 0) {
		acct_answer(r, f);
		return;
	}
	e = json_object_new_object();
	api_str(e, "metric", metric);
	json_object_object_add(e, "limit", json_object_new_int64(limit));
	json_object_object_add(e, "used", json_object_new_int64(used));
	req_error_with(r, f->status, NULL, f->code, f->message, NULL, NULL, e);
}
