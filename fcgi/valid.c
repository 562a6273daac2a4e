/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Validation at the edge: each handler describes its input in one table
 * of fields, and valid_json() checks a JSON body against it (types,
 * lengths, ranges, choices, unknown fields) before the handler reads a
 * single value.  The first problem becomes a 400 naming the parameter.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

static const char *const	valid_scope_names[] = {
	"usage:write", "usage:read", "entitlements:read", "billing:read", NULL
};

static int
valid_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* A plain, deliverable-looking address: local@domain.tld, ASCII. */
int
valid_email(const char *s)
{
	const char	*at, *p;
	size_t		 n = strlen(s);

	if (n < 3 || n > 254 || (at = strchr(s, '@')) == NULL ||
	    at == s || strchr(at + 1, '@') != NULL || at - s > 64)
		return 0;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("<>()[]\\,;:\"", *p) != NULL)
			return 0;
	p = strrchr(at + 1, '.');
	return p != NULL && p > at + 1 && p[1] != '\0';
}

/* The canonical text form of a UUID, any version, lower or upper case. */
int
valid_uuid(const char *s)
{
	size_t	 i;

	if (s == NULL || strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	}
	return 1;
}

int
valid_choice(const char *s, const char *const *choices)
{
	for (; *choices != NULL; choices++)
		if (strcmp(s, *choices) == 0)
			return 1;
	return 0;
}

/* Scope names to a bit set; -1 on an unknown scope. */
int
valid_scope_bit(const char *s)
{
	int	 i;

	for (i = 0; valid_scope_names[i] != NULL; i++)
		if (strcmp(s, valid_scope_names[i]) == 0)
			return 1 << i;
	return -1;
}

const char *
valid_scope_name(int bit)
{
	int	 i;

	for (i = 0; valid_scope_names[i] != NULL; i++)
		if (bit == 1 << i)
			return valid_scope_names[i];
	return NULL;
}

/* 400 naming the parameter: "<param> <what>". */
static int
valid_fail(struct req *r, const char *code, const char *param,
    const char *what)
{
	char	 msg[256];

	snprintf(msg, sizeof(msg), "%s %s", param, what);
	req_error(r, 400, NULL, code, msg, param);
	return -1;
}

static int
valid_string(struct req *r, const struct vfield *f, struct json_object *o,
    struct vvalue *v)
{
	const char	*s;
	size_t		 n;

	if (!json_object_is_type(o, json_type_string))
		return valid_fail(r, "invalid_type", f->name,
		    "must be a string.");
	s = json_object_get_string(o);
	if (strlen(s) != (size_t)json_object_get_string_len(o))
		return valid_fail(r, "invalid_value", f->name,
		    "must not contain NUL.");
	n = http_utf8_chars(s);
	switch (f->type) {
	case V_PASSWORD:
		/* Checked by passwd_check_new() where it matters. */
		if (n > PASSWD_MAX_CHARS)
			return valid_fail(r, "invalid_value", f->name,
			    "must be at most 1024 characters.");
		break;
	case V_EMAIL:
		if (!valid_email(s))
			return valid_fail(r, "invalid_value", f->name,
			    "must be an e-mail address.");
		break;
	case V_UUID:
		if (!valid_uuid(s))
			return valid_fail(r, "invalid_value", f->name,
			    "must be a UUID.");
		break;
	case V_ENUM:
		if (!valid_choice(s, f->choices))
			return valid_fail(r, "invalid_value", f->name,
			    "has an unknown value.");
		break;
	default:
		if (n < f->min || n > f->max) {
			char	 why[64];

			snprintf(why, sizeof(why), "must be a string of %zu to "
			    "%zu characters.", f->min, f->max);
			return valid_fail(r, "invalid_length", f->name, why);
		}
		if (valid_has_control(s))
			return valid_fail(r, "invalid_value", f->name,
			    "must not contain control characters.");
		break;
	}
	v->s = s;
	return 0;
}

static int
valid_scopes(struct req *r, const struct vfield *f, struct json_object *o,
    struct vvalue *v)
{
	struct json_object	*e;
	size_t			 i, n;
	int			 bit;

	if (!json_object_is_type(o, json_type_array))
		return valid_fail(r, "invalid_type", f->name,
		    "must be an array of scope names.");
	n = json_object_array_length(o);
	if (n < f->min || n > f->max)
		return valid_fail(r, "invalid_length", f->name,
		    "has too few or too many scopes.");
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(o, i);
		if (!json_object_is_type(e, json_type_string) ||
		    (bit = valid_scope_bit(json_object_get_string(e))) < 0)
			return valid_fail(r, "invalid_value", f->name,
			    "contains an unknown scope.");
		v->i |= bit;
	}
	return 0;
}

static int
valid_int(struct req *r, const struct vfield *f, struct json_object *o,
    struct vvalue *v)
{
	long long	 i;

	if (!json_object_is_type(o, json_type_int))
		return valid_fail(r, "invalid_type", f->name,
		    "must be an integer.");
	errno = 0;
	i = json_object_get_int64(o);
	if (errno != 0 || i < (long long)f->min || i > (long long)f->max)
		return valid_fail(r, "invalid_value", f->name,
		    "is out of range.");
	v->i = i;
	return 0;
}

/*
 * Check r->json against the table; values land in out[i] for f[i].
 * Returns 0, or -1 with a 400 set on the request.
 */
int
valid_json(struct req *r, const struct vfield *f, size_t n,
    struct vvalue *out)
{
	struct json_object	*o;
	size_t			 i;
	int			 rc;

	memset(out, 0, n * sizeof(*out));
	json_object_object_foreach(r->json, key, val) {
		for (i = 0; i < n; i++)
			if (strcmp(key, f[i].name) == 0)
				break;
		(void)val;
		if (i == n)
			return valid_fail(r, "unknown_parameter",
			    arena_strdup(&r->arena, key),
			    "is not a known parameter.");
	}
	for (i = 0; i < n; i++) {
		if (!json_object_object_get_ex(r->json, f[i].name, &o) ||
		    (o == NULL && !f[i].required)) {
			if (f[i].required)
				return valid_fail(r, "missing_parameter",
				    f[i].name, "is required.");
			continue;
		}
		if (o == NULL)
			return valid_fail(r, "invalid_type", f[i].name,
			    "must not be null.");
		switch (f[i].type) {
		case V_INT:
			rc = valid_int(r, &f[i], o, &out[i]);
			break;
		case V_BOOL:
			if (!json_object_is_type(o, json_type_boolean))
				return valid_fail(r, "invalid_type", f[i].name,
				    "must be true or false.");
			out[i].i = json_object_get_boolean(o);
			rc = 0;
			break;
		case V_SCOPES:
			rc = valid_scopes(r, &f[i], o, &out[i]);
			break;
		default:
			rc = valid_string(r, &f[i], o, &out[i]);
			break;
		}
		if (rc == -1)
			return -1;
		out[i].present = 1;
	}
	return 0;
}

/*
 * The list conventions of SPEC 5: limit 1 to 100 (default 20) and an
 * optional starting_after id.  Returns -1 with a 400 set.
 */
int
valid_list_args(struct req *r, int *limit, const char **after)
{
	const char	*v;
	long long	 n;

	*limit = 20;
	*after = NULL;
	if ((v = http_kv_get(&r->args, "limit")) != NULL) {
		if (util_strtonum(v, 1, 100, &n) == -1) {
			req_error(r, 400, NULL, "invalid_value",
			    "limit must be an integer from 1 to 100.", "limit");
			return -1;
		}
		*limit = (int)n;
	}
	if ((v = http_kv_get(&r->args, "starting_after")) != NULL) {
		if (strlen(v) == 0 || strlen(v) > 64) {
			req_error(r, 400, NULL, "invalid_value",
			    "starting_after must be an id from a previous page.",
			    "starting_after");
			return -1;
		}
		*after = v;
	}
	return 0;
}
