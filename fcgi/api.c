/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Helpers shared by the API handlers: JSON fields that may be NULL,
 * RFC 3339 times, the list envelope and validated inputs.
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
	int			 bit;

	for (bit = 1; bit <= SCOPE_BILLING_READ; bit <<= 1)
		if (scopes & bit)
			json_object_array_add(a,
			    json_object_new_string(valid_scope_name(bit)));
	return a;
}

/* The list conventions with an id (UUID) as the cursor; 400 if bad. */
int
api_list_args(struct req *r, int *limit, const char **after)
{
	if (valid_list_args(r, limit, after) == -1)
		return -1;
	if (*after != NULL && !valid_uuid(*after)) {
		req_error(r, 400, NULL, "invalid_value", "starting_after must "
		    "be the id of the last item of a previous page.",
		    "starting_after");
		return -1;
	}
	return 0;
}

/* Validate the body against the table, answering 400 on failure. */
int
api_input(struct req *r, const struct vfield *f, size_t n,
    struct vvalue *v)
{
	return valid_json(r, f, n, v);
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

/* Two digits at p, within [0, max]; -1 otherwise. */
static int
api_two_digits(const char *p, int max)
{
	int	 v;

	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	v = (p[0] - '0') * 10 + (p[1] - '0');
	return v <= max ? v : -1;
}

/*
 * A strict RFC 3339 time, as the filters accept: a real calendar date
 * (no 31 February), seconds up to 59, and "Z" or an offset of at most
 * 23:59.  What passes here PostgreSQL takes too.
 */
int
api_time_valid(const char *s)
{
	struct tm	 tm, back;
	const char	*e;
	time_t		 t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strlen(s) > 40 || strlen(s) < 20 ||
	    (e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL ||
	    tm.tm_sec > 59 || tm.tm_year < 0 || tm.tm_year > 8099)
		return 0;
	back = tm;
	if ((t = timegm(&back)) == (time_t)-1 || back.tm_mday != tm.tm_mday ||
	    back.tm_mon != tm.tm_mon)
		return 0;
	if (*e == '.')
		for (e++; *e >= '0' && *e <= '9'; e++)
			continue;
	if (*e == 'Z')
		return e[1] == '\0';
	return (e[0] == '+' || e[0] == '-') && strlen(e) == 6 &&
	    api_two_digits(e + 1, 23) >= 0 && e[3] == ':' &&
	    api_two_digits(e + 4, 59) >= 0;
}
