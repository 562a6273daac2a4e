/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Validation at the edge, pure: no request, no answer, no allocation.
 * Each operation describes its input in one table of fields (valid_ops
 * below, one limit in one place); valid_json() checks a JSON body and
 * valid_form() a form against the same table.  A failure is described
 * in a struct vfail: the API makes it the JSON 400, the portal a
 * message beside the field.  The JSON check stops at the first problem
 * (one error object); the form check collects them all, so a form can
 * show every error at once.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "tollgate.h"

static const char *const	valid_scope_names[SCOPE__MAX] = {
	"usage:write", "usage:read", "entitlements:read", "billing:read",
	"storage:read", "storage:write", "llm"
};

static const char *const	valid_roles[] = {
	"owner", "admin", "member", NULL
};

/* The operations' fields.  The portal shows the same limits. */
static const struct vfield	valid_register[] = {
	{ "email", V_EMAIL, 1, 0, 0, NULL },
	{ "password", V_PASSWORD, 1, 0, 0, NULL },
	{ "organization", V_STRING, 1, 1, 200, NULL },
	{ "name", V_STRING, 0, 0, 200, NULL },
};
static const struct vfield	valid_login[] = {
	{ "email", V_STRING, 1, 1, 254, NULL },
	{ "password", V_PASSWORD, 1, 0, 0, NULL },
	{ "tenant_id", V_UUID, 0, 0, 0, NULL },
};
static const struct vfield	valid_refresh[] = {
	{ "refresh_token", V_STRING, 1, 1, 128, NULL },
};
static const struct vfield	valid_password[] = {
	{ "current_password", V_PASSWORD, 1, 0, 0, NULL },
	{ "new_password", V_PASSWORD, 1, 0, 0, NULL },
};
static const struct vfield	valid_invite[] = {
	{ "email", V_EMAIL, 1, 0, 0, NULL },
	{ "role", V_ENUM, 1, 0, 0, valid_roles },
};
static const struct vfield	valid_accept[] = {
	{ "token", V_STRING, 1, 1, 128, NULL },
	{ "password", V_PASSWORD, 1, 0, 0, NULL },
	{ "name", V_STRING, 0, 0, 200, NULL },
};
static const struct vfield	valid_role[] = {
	{ "role", V_ENUM, 1, 0, 0, valid_roles },
};
static const struct vfield	valid_key_create[] = {
	{ "name", V_STRING, 1, 1, 100, NULL },
	{ "scopes", V_SCOPES, 1, 1, SCOPE__MAX, NULL },
};
static const struct vfield	valid_verify[] = {
	{ "token", V_STRING, 1, 1, 128, NULL },
};
static const struct vfield	valid_reset[] = {
	{ "email", V_EMAIL, 1, 0, 0, NULL },
};
static const struct vfield	valid_reset_confirm[] = {
	{ "token", V_STRING, 1, 1, 128, NULL },
	{ "new_password", V_PASSWORD, 1, 0, 0, NULL },
};
static const struct vfield	valid_checkout[] = {
	{ "plan", V_STRING, 1, 1, 32, NULL },
	{ "seats", V_INT, 0, 1, 1000, NULL },
	{ "coupon", V_STRING, 0, 0, 100, NULL },
};
static const struct vfield	valid_plan_change[] = {
	{ "plan", V_STRING, 0, 1, 32, NULL },
	{ "seats", V_INT, 0, 1, 1000, NULL },
};
static const struct vfield	valid_reserve[] = {
	{ "metric", V_STRING, 1, 1, 40, NULL },
	{ "quantity", V_INT, 1, 1, 1000000000000000ULL, NULL },
	{ "agent_id", V_UUID, 0, 0, 0, NULL },
	{ "estimated_cost_micros", V_INT, 0, 0, 1000000000000000ULL, NULL },
	{ "ttl_seconds", V_INT, 0, 1, 3600, NULL },
};
static const char *const	valid_llm_providers[] = {
	"openai", "anthropic", "google", "mistral", "azure_openai", "groq",
	"openrouter", "custom", NULL
};
static const struct vfield	valid_llmkey_add[] = {
	{ "provider", V_ENUM, 1, 0, 0, valid_llm_providers },
	{ "api_key", V_SECRET, 1, LLMKEY_MIN, LLMKEY_MAX, NULL },
	{ "label", V_STRING, 0, 1, 100, NULL },
};
/* Micro-USD per million tokens, as model_prices (sql/021). */
static const struct vfield	valid_llm_price[] = {
	{ "provider", V_ENUM, 1, 0, 0, valid_llm_providers },
	{ "model", V_STRING, 1, 1, 128, NULL },
	{ "prompt_per_mtok", V_INT, 1, 0, LLMPRICE_MAX, NULL },
	{ "completion_per_mtok", V_INT, 1, 0, LLMPRICE_MAX, NULL },
	{ "cached_per_mtok", V_INT, 0, 0, LLMPRICE_MAX, NULL },
};
/* The portal's form: USD per million tokens, as decimals (quota.c). */
static const struct vfield	valid_llm_price_form[] = {
	{ "provider", V_ENUM, 1, 0, 0, valid_llm_providers },
	{ "model", V_STRING, 1, 1, 128, NULL },
	{ "prompt_usd", V_STRING, 1, 1, 24, NULL },
	{ "completion_usd", V_STRING, 1, 1, 24, NULL },
	{ "cached_usd", V_STRING, 0, 0, 24, NULL },
};
/* V_DIGITS with these choices: an optional leading "+". */
static const char *const	valid_plus[] = { "+", NULL };
static const struct vfield	valid_whatsapp[] = {
	{ "phone_number_id", V_DIGITS, 1, 5, 20, NULL },
	{ "access_token", V_SECRET, 1, 8, 1024, NULL },
	{ "display_name", V_STRING, 0, 1, 100, NULL },
	{ "agent_id", V_UUID, 0, 0, 0, NULL },
};
static const struct vfield	valid_channel_test[] = {
	{ "to", V_DIGITS, 0, 8, 15, valid_plus },
};
static const struct vfield	valid_slack_install[] = {
	{ "agent_id", V_UUID, 0, 0, 0, NULL },
};
static const struct vfield	valid_record_create[] = {
	{ "table", V_NAME, 1, 1, 64, NULL },
};
static const struct vfield	valid_record_list[] = {
	{ "table", V_NAME, 1, 1, 64, NULL },
	{ "since", V_INT, 0, 0, 4611686018427387904ULL, NULL },
	{ "limit", V_INT, 0, 1, 1000, NULL },
};
static const struct vfield	valid_backup_settings[] = {
	{ "prune_oldest", V_BOOL, 1, 0, 0, NULL },
};
/* Arrays of vectors, ids and items: their elements are vec.c's. */
static const struct vfield	valid_vec_upsert[] = {
	{ "collection", V_NAME, 0, 1, 64, NULL },
	{ "items", V_ARRAY, 1, 1, VEC_UPSERT_MAX, NULL },
};
static const struct vfield	valid_vec_search[] = {
	{ "collection", V_NAME, 0, 1, 64, NULL },
	{ "vector", V_ARRAY, 1, 1, VEC_DIM_MAX, NULL },
	{ "top_k", V_INT, 1, 1, VEC_TOPK_MAX, NULL },
};
static const struct vfield	valid_vec_delete[] = {
	{ "collection", V_NAME, 0, 1, 64, NULL },
	{ "ids", V_ARRAY, 1, 1, VEC_UPSERT_MAX, NULL },
};
static const struct vfield	valid_check[] = {
	{ "metric", V_STRING, 1, 1, 40, NULL },
	{ "quantity", V_INT, 1, 0, 1000000000000000ULL, NULL },
	{ "agent_id", V_UUID, 0, 0, 0, NULL },
};

#define VOP(t)	{ t, sizeof(t) / sizeof(t[0]) }
const struct vop_def	valid_ops[VOP__MAX] = {
	[VOP_REGISTER] = VOP(valid_register),
	[VOP_LOGIN] = VOP(valid_login),
	[VOP_REFRESH] = VOP(valid_refresh),
	[VOP_PASSWORD] = VOP(valid_password),
	[VOP_INVITE] = VOP(valid_invite),
	[VOP_ACCEPT] = VOP(valid_accept),
	[VOP_ROLE] = VOP(valid_role),
	[VOP_KEY_CREATE] = VOP(valid_key_create),
	[VOP_VERIFY] = VOP(valid_verify),
	[VOP_RESET] = VOP(valid_reset),
	[VOP_RESET_CONFIRM] = VOP(valid_reset_confirm),
	[VOP_CHECKOUT] = VOP(valid_checkout),
	[VOP_PLAN_CHANGE] = VOP(valid_plan_change),
	[VOP_RESERVE] = VOP(valid_reserve),
	[VOP_CHECK] = VOP(valid_check),
	[VOP_LLMKEY_ADD] = VOP(valid_llmkey_add),
	[VOP_WHATSAPP] = VOP(valid_whatsapp),
	[VOP_CHANNEL_TEST] = VOP(valid_channel_test),
	[VOP_SLACK_INSTALL] = VOP(valid_slack_install),
	[VOP_RECORD_CREATE] = VOP(valid_record_create),
	[VOP_RECORD_LIST] = VOP(valid_record_list),
	[VOP_BACKUP_SETTINGS] = VOP(valid_backup_settings),
	[VOP_VEC_UPSERT] = VOP(valid_vec_upsert),
	[VOP_VEC_SEARCH] = VOP(valid_vec_search),
	[VOP_VEC_DELETE] = VOP(valid_vec_delete),
	[VOP_LLM_PRICE] = VOP(valid_llm_price),
	[VOP_LLM_PRICE_FORM] = VOP(valid_llm_price_form),
};
#undef VOP

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

/*
 * The one form of an e-mail address that Tollgate stores, looks up and
 * keys limits by: a valid address (ASCII only: valid_email() refuses
 * every other byte) with its letters lower-cased, into out.  Unicode
 * case folding never applies, so no other string reaches the same
 * account (PostgreSQL's lower() maps KELVIN SIGN to "k").  -1 when the
 * address is not valid or does not fit.
 */
int
valid_email_norm(const char *in, char *out, size_t outsz)
{
	size_t	 i, n = strlen(in);

	if (!valid_email(in) || n >= outsz)
		return -1;
	for (i = 0; i <= n; i++)
		out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 :
		    in[i]);
	return 0;
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

/* Two digits at p, within [0, max]; -1 otherwise. */
static int
valid_two_digits(const char *p, int max)
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
 * 15:59 (PostgreSQL's limit).  What passes here PostgreSQL takes too.
 */
int
valid_time(const char *s)
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
	    valid_two_digits(e + 1, 15) >= 0 && e[3] == ':' &&
	    valid_two_digits(e + 4, 59) >= 0;
}

/* A scope name to its bit; -1 on an unknown scope. */
int
valid_scope_bit(const char *s)
{
	int	 i;

	for (i = 0; i < SCOPE__MAX; i++)
		if (strcmp(s, valid_scope_names[i]) == 0)
			return 1 << i;
	return -1;
}

const char *
valid_scope_name(int bit)
{
	int	 i;

	for (i = 0; i < SCOPE__MAX; i++)
		if (bit == 1 << i)
			return valid_scope_names[i];
	return NULL;
}

/*
 * The scopes of a set, in order: the name of the next one from *i on
 * (start with *i = 0), or NULL at the end.
 */
const char *
valid_scope_next(int scopes, int *i)
{
	for (; *i < SCOPE__MAX; (*i)++)
		if (scopes & (1 << *i))
			return valid_scope_names[(*i)++];
	return NULL;
}

/* Describe a failure: "<param> <what>". */
static int
valid_fail(struct vfail *f, const char *code, const char *param,
    const char *what)
{
	f->param = param;
	f->code = code;
	snprintf(f->message, sizeof(f->message), "%s %s", param, what);
	return -1;
}

/* A string value of a field (its type other than int, bool, scopes). */
static int
valid_string(const struct vfield *f, const char *s, size_t len,
    struct vvalue *v, struct vfail *fail)
{
	char	 why[64];
	size_t	 n;

	if (strlen(s) != len)
		return valid_fail(fail, "invalid_value", f->name,
		    "must not contain NUL.");
	if (!http_utf8_valid(s, len))
		return valid_fail(fail, "invalid_value", f->name,
		    "must be UTF-8 text.");
	n = http_utf8_chars(s);
	switch (f->type) {
	case V_PASSWORD:
		/* Its strength is checked by passwd_check_new(). */
		if (n > PASSWD_MAX_CHARS)
			return valid_fail(fail, "invalid_value", f->name,
			    "must be at most 1024 characters.");
		break;
	case V_EMAIL:
		if (!valid_email(s))
			return valid_fail(fail, "invalid_value", f->name,
			    "must be an e-mail address.");
		break;
	case V_UUID:
		if (!valid_uuid(s))
			return valid_fail(fail, "invalid_value", f->name,
			    "must be a UUID.");
		break;
	case V_SECRET:
		/* Never quoted back: the message says only what is wrong. */
		if (len < f->min || len > f->max) {
			snprintf(why, sizeof(why), "must be %zu to %zu "
			    "characters long.", f->min, f->max);
			return valid_fail(fail, "invalid_length", f->name, why);
		}
		for (n = 0; n < len; n++)
			if ((unsigned char)s[n] < 0x21 ||
			    (unsigned char)s[n] > 0x7e)
				return valid_fail(fail, "invalid_value",
				    f->name, "must be printable ASCII without "
				    "spaces.");
		break;
	case V_DIGITS:
		/* A phone number may start with "+", not counted. */
		if (f->choices == valid_plus && *s == '+') {
			s++;
			len--;
		}
		if (len < f->min || len > f->max || strspn(s, "0123456789") !=
		    len) {
			snprintf(why, sizeof(why), "must be %zu to %zu digits.",
			    f->min, f->max);
			return valid_fail(fail, "invalid_value", f->name, why);
		}
		break;
	case V_NAME:
		if (len < f->min || len > f->max || strspn(s, "abcdefghijklm"
		    "nopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") !=
		    len) {
			snprintf(why, sizeof(why), "must be %zu to %zu of "
			    "A-Z a-z 0-9 . _ : -.", f->min, f->max);
			return valid_fail(fail, "invalid_value", f->name, why);
		}
		break;
	case V_ENUM:
		if (!valid_choice(s, f->choices))
			return valid_fail(fail, "invalid_value", f->name,
			    "has an unknown value.");
		break;
	default:
		if (n < f->min || n > f->max) {
			if (f->min > 0)
				snprintf(why, sizeof(why), "must be %zu to %zu "
				    "characters long.", f->min, f->max);
			else
				snprintf(why, sizeof(why), "must be at most %zu "
				    "characters long.", f->max);
			return valid_fail(fail, "invalid_length", f->name, why);
		}
		if (valid_has_control(s))
			return valid_fail(fail, "invalid_value", f->name,
			    "must not contain control characters.");
		break;
	}
	v->s = s;
	return 0;
}

static int
valid_int_range(const struct vfield *f, long long i, struct vvalue *v,
    struct vfail *fail)
{
	if (i < (long long)f->min || i > (long long)f->max)
		return valid_fail(fail, "invalid_value", f->name,
		    "is out of range.");
	v->i = i;
	return 0;
}

static int
valid_scope_add(const struct vfield *f, const char *name, struct vvalue *v,
    struct vfail *fail)
{
	int	 bit;

	if ((bit = valid_scope_bit(name)) < 0)
		return valid_fail(fail, "invalid_value", f->name,
		    "contains an unknown scope.");
	v->i |= bit;
	return 0;
}

static int
valid_scope_count(const struct vfield *f, size_t n, struct vfail *fail)
{
	if (n < f->min || n > f->max)
		return valid_fail(fail, "invalid_length", f->name,
		    n < f->min ? "needs at least one scope." :
		    "has too many scopes.");
	return 0;
}

static int
valid_json_scopes(const struct vfield *f, struct json_object *o,
    struct vvalue *v, struct vfail *fail)
{
	struct json_object	*e;
	size_t			 i, n;

	if (!json_object_is_type(o, json_type_array))
		return valid_fail(fail, "invalid_type", f->name,
		    "must be an array of scope names.");
	n = json_object_array_length(o);
	if (valid_scope_count(f, n, fail) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(o, i);
		if (!json_object_is_type(e, json_type_string))
			return valid_fail(fail, "invalid_value", f->name,
			    "contains an unknown scope.");
		if (valid_scope_add(f, json_object_get_string(e), v,
		    fail) == -1)
			return -1;
	}
	return 0;
}

/* One JSON member against its field. */
static int
valid_json_field(const struct vfield *f, struct json_object *o,
    struct vvalue *v, struct vfail *fail)
{
	long long	 i;

	switch (f->type) {
	case V_INT:
		if (!json_object_is_type(o, json_type_int))
			return valid_fail(fail, "invalid_type", f->name,
			    "must be an integer.");
		errno = 0;
		i = json_object_get_int64(o);
		if (errno != 0)
			return valid_fail(fail, "invalid_value", f->name,
			    "is out of range.");
		return valid_int_range(f, i, v, fail);
	case V_BOOL:
		if (!json_object_is_type(o, json_type_boolean))
			return valid_fail(fail, "invalid_type", f->name,
			    "must be true or false.");
		v->i = json_object_get_boolean(o);
		return 0;
	case V_SCOPES:
		return valid_json_scopes(f, o, v, fail);
	case V_ARRAY:
		if (!json_object_is_type(o, json_type_array))
			return valid_fail(fail, "invalid_type", f->name,
			    "must be an array.");
		v->i = (long long)json_object_array_length(o);
		if ((size_t)v->i < f->min || (size_t)v->i > f->max)
			return valid_fail(fail, "invalid_value", f->name,
			    "has too few or too many elements.");
		return 0;
	default:
		if (!json_object_is_type(o, json_type_string))
			return valid_fail(fail, "invalid_type", f->name,
			    "must be a string.");
		return valid_string(f, json_object_get_string(o),
		    (size_t)json_object_get_string_len(o), v, fail);
	}
}

/*
 * Check a JSON object against the operation's table; values land in
 * out[i] for field i, borrowed from the object.  0, or -1 with the
 * first problem in *fail.
 */
int
valid_json(struct json_object *obj, enum vop op, struct vvalue *out,
    struct vfail *fail)
{
	const struct vfield	*f = valid_ops[op].fields;
	size_t			 i, n = valid_ops[op].n;
	struct json_object	*o;

	memset(out, 0, n * sizeof(*out));
	json_object_object_foreach(obj, key, val) {
		for (i = 0; i < n; i++)
			if (strcmp(key, f[i].name) == 0)
				break;
		(void)val;
		if (i == n)
			return valid_fail(fail, "unknown_parameter", key,
			    "is not a known parameter.");
	}
	for (i = 0; i < n; i++) {
		if (!json_object_object_get_ex(obj, f[i].name, &o) ||
		    (o == NULL && !f[i].required)) {
			if (f[i].required)
				return valid_fail(fail, "missing_parameter",
				    f[i].name, "is required.");
			continue;
		}
		if (o == NULL)
			return valid_fail(fail, "invalid_type", f[i].name,
			    "must not be null.");
		if (valid_json_field(&f[i], o, &out[i], fail) == -1)
			return -1;
		out[i].present = 1;
	}
	return 0;
}

/* One form field: every pair of that name (scopes), or the first. */
static int
valid_form_field(const struct kvlist *kl, const struct vfield *f,
    struct vvalue *v, struct vfail *fail)
{
	const char	*s;
	long long	 i;
	size_t		 k, n = 0;

	if (f->type == V_SCOPES) {
		for (k = 0; k < kl->n; k++) {
			if (strcmp(kl->kv[k].key, f->name) != 0)
				continue;
			if (valid_scope_add(f, kl->kv[k].val, v, fail) == -1)
				return -1;
			n++;
		}
		v->present = n > 0;
		return valid_scope_count(f, n, fail);
	}
	if ((s = http_kv_get(kl, f->name)) == NULL || *s == '\0') {
		if (f->required)
			return valid_fail(fail, "missing_parameter", f->name,
			    "is required.");
		return 0;
	}
	v->present = 1;
	switch (f->type) {
	case V_INT:
		if (util_strtonum(s, (long long)f->min, (long long)f->max,
		    &i) == -1)
			return valid_fail(fail, "invalid_value", f->name,
			    "must be a whole number in range.");
		v->i = i;
		return 0;
	case V_BOOL:
		v->i = strcmp(s, "0") != 0 && strcmp(s, "false") != 0;
		return 0;
	default:
		for (k = 0; k < kl->n; k++)
			if (strcmp(kl->kv[k].key, f->name) == 0)
				break;
		return valid_string(f, s, kl->kv[k].vallen, v, fail);
	}
}

/*
 * Check a form against the operation's table.  Unknown fields are
 * ignored (a browser form carries its CSRF token and buttons); an empty
 * field counts as absent.  Returns the number of failures, of which the
 * first nfail are described in fails[].
 */
size_t
valid_form(const struct kvlist *kl, enum vop op, struct vvalue *out,
    struct vfail *fails, size_t nfail)
{
	const struct vfield	*f = valid_ops[op].fields;
	struct vfail		 spare;
	size_t			 i, n = valid_ops[op].n, bad = 0;

	memset(out, 0, n * sizeof(*out));
	for (i = 0; i < n; i++)
		if (valid_form_field(kl, &f[i], &out[i], bad < nfail ?
		    &fails[bad] : &spare) == -1)
			bad++;
	return bad;
}

/*
 * The list conventions of SPEC 5: limit 1 to 100 (default 20) and an
 * optional starting_after id.
 */
int
valid_list_args(const struct kvlist *args, int *limit, const char **after,
    struct vfail *fail)
{
	const char	*v;
	long long	 n;

	*limit = 20;
	*after = NULL;
	if ((v = http_kv_get(args, "limit")) != NULL) {
		if (util_strtonum(v, 1, 100, &n) == -1)
			return valid_fail(fail, "invalid_value", "limit",
			    "must be an integer from 1 to 100.");
		*limit = (int)n;
	}
	if ((v = http_kv_get(args, "starting_after")) != NULL) {
		if (strlen(v) == 0 || strlen(v) > 64)
			return valid_fail(fail, "invalid_value",
			    "starting_after", "must be an id from a previous "
			    "page.");
		*after = v;
	}
	return 0;
}

/* An optional text filter of at most max bytes; "" counts as absent. */
static int
valid_filter_text(const struct kvlist *args, const char *name, size_t max,
    const char **out, struct vfail *fail)
{
	const char	*v = http_kv_get(args, name);
	char		 why[48];

	if (v == NULL || *v == '\0')
		return 0;
	if (strlen(v) > max || valid_has_control(v)) {
		snprintf(why, sizeof(why), "is at most %zu characters of text.",
		    max);
		return valid_fail(fail, "invalid_value", name, why);
	}
	*out = v;
	return 0;
}

static int
valid_filter_time(const struct kvlist *args, const char *name,
    const char **out, struct vfail *fail)
{
	const char	*v = http_kv_get(args, name);

	if (v == NULL || *v == '\0')
		return 0;
	if (!valid_time(v))
		return valid_fail(fail, "invalid_value", name,
		    "must be an RFC 3339 time.");
	*out = v;
	return 0;
}

/*
 * The audit filters of the query string, shared by the API and the
 * portal's audit page: action, actor, from, to and the list arguments
 * (the cursor is an event id).
 */
int
valid_audit_filter(const struct kvlist *args, struct audit_filter *flt,
    int *limit, struct vfail *fail)
{
	memset(flt, 0, sizeof(*flt));
	if (valid_list_args(args, limit, &flt->after, fail) == -1)
		return -1;
	if (flt->after != NULL && !valid_uuid(flt->after))
		return valid_fail(fail, "invalid_value", "starting_after",
		    "must be an event id.");
	if (valid_filter_text(args, "action", 64, &flt->action, fail) == -1 ||
	    valid_filter_text(args, "actor", 254, &flt->actor, fail) == -1 ||
	    valid_filter_time(args, "from", &flt->from, fail) == -1 ||
	    valid_filter_time(args, "to", &flt->to, fail) == -1)
		return -1;
	return 0;
}

/* --- usage events (SPEC 6) -------------------------------------------- */

static const char *const	valid_metrics[] = {
	"llm_tokens", "agent_executions", "api_calls", "messages", NULL
};

/* The per-period metrics usage is counted in. */
int
valid_metric(const char *s)
{
	return s != NULL && valid_choice(s, valid_metrics);
}

/* An RFC 3339 time (valid_time()) as Unix seconds; -1 if not one. */
long long
valid_time_epoch(const char *s)
{
	struct tm	 tm;
	const char	*e;
	long long	 t, off = 0;

	if (!valid_time(s))
		return -1;
	memset(&tm, 0, sizeof(tm));
	e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	t = (long long)timegm(&tm);
	if (*e == '.')
		for (e++; *e >= '0' && *e <= '9'; e++)
			continue;
	if (*e == '+' || *e == '-') {
		off = (valid_two_digits(e + 1, 15) * 60 +
		    valid_two_digits(e + 4, 59)) * 60;
		if (*e == '+')
			off = -off;
	}
	return t + off;
}

/* A whole JSON number in [0, max]: -1 when absent or null, -2 if bad. */
static long long
valid_count(struct json_object *o, const char *k, long long max)
{
	struct json_object	*v;
	long long		 i;

	if (!json_object_object_get_ex(o, k, &v) || v == NULL)
		return -1;
	if (!json_object_is_type(v, json_type_int))
		return -2;
	errno = 0;
	i = json_object_get_int64(v);
	if (errno != 0 || i < 0 || i > max)
		return -2;
	return i;
}

/* A string member: NULL when absent or null, "" marks a bad type. */
static const char *
valid_member_str(struct json_object *o, const char *k, size_t max)
{
	struct json_object	*v;
	const char		*s;

	if (!json_object_object_get_ex(o, k, &v) || v == NULL)
		return NULL;
	if (!json_object_is_type(v, json_type_string))
		return "";
	s = json_object_get_string(v);
	if (strlen(s) == 0 || strlen(s) > max || valid_has_control(s))
		return "";
	return s;
}

static int
valid_event_fail(struct vfail *f, size_t i, const char *code,
    const char *field, const char *what)
{
	f->param = NULL;
	f->code = code;
	snprintf(f->message, sizeof(f->message), "events[%zu].%s %s", i,
	    field, what);
	return -1;
}

static int
valid_event_props(struct json_object *p, size_t i, struct usage_event *e,
    struct vfail *f)
{
	static const char *const keys[] = { "provider", "model",
	    "prompt_tokens", "completion_tokens", "cached_tokens",
	    "channel_id", "cost_micros", NULL };
	const char	*s;

	if (!json_object_is_type(p, json_type_object))
		return valid_event_fail(f, i, "invalid_value", "properties",
		    "must be an object.");
	json_object_object_foreach(p, k, v) {
		(void)v;
		if (!valid_choice(k, keys))
			return valid_event_fail(f, i, "unknown_parameter",
			    "properties", "has a member it does not take.");
	}
	if ((s = valid_member_str(p, "provider", 40)) != NULL && (*s == '\0' ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(s)))
		return valid_event_fail(f, i, "invalid_value",
		    "properties.provider", "must be a provider name.");
	e->provider = s;
	if ((s = valid_member_str(p, "model", 128)) != NULL && *s == '\0')
		return valid_event_fail(f, i, "invalid_value",
		    "properties.model", "must be 1 to 128 characters.");
	e->model = s;
	if ((e->model == NULL) != (e->provider == NULL))
		return valid_event_fail(f, i, "missing_parameter",
		    "properties", "names a model with its provider.");
	if ((s = valid_member_str(p, "channel_id", 128)) != NULL && *s == '\0')
		return valid_event_fail(f, i, "invalid_value",
		    "properties.channel_id", "must be 1 to 128 characters.");
	e->channel_id = s;
	if ((e->prompt_tokens = valid_count(p, "prompt_tokens",
	    VALID_VALUE_MAX)) == -2 || (e->completion_tokens = valid_count(p,
	    "completion_tokens", VALID_VALUE_MAX)) == -2 ||
	    (e->cached_tokens = valid_count(p, "cached_tokens",
	    VALID_VALUE_MAX)) == -2 || (e->cost_micros = valid_count(p,
	    "cost_micros", VALID_VALUE_MAX)) == -2)
		return valid_event_fail(f, i, "invalid_value", "properties",
		    "token counts and cost_micros must be whole numbers "
		    "from 0.");
	if (e->cached_tokens > 0 && e->cached_tokens > (e->prompt_tokens < 0 ?
	    0 : e->prompt_tokens))
		return valid_event_fail(f, i, "invalid_value",
		    "properties.cached_tokens", "are part of prompt_tokens: "
		    "not more.");
	return 0;
}

/*
 * One event of a POST /usage/events batch, index i, checked and
 * normalised into *e (strings borrowed from the JSON).  With a platform
 * key (platform) it must name its tenant; a tenant key's event may
 * name only its own (bound).  Times within 35 days back and 5 minutes
 * ahead of now.  0, or -1 with the failure in *f.
 */
int
valid_usage_event(struct json_object *o, size_t i, int platform,
    const char *bound, long long now, struct usage_event *e, struct vfail *f)
{
	static const char *const keys[] = { "id", "metric", "value",
	    "agent_id", "timestamp", "reservation_id", "properties",
	    "tenant_id", NULL };
	struct json_object	*p;
	const char		*s;
	long long		 t;

	memset(e, 0, sizeof(*e));
	e->prompt_tokens = e->completion_tokens = e->cached_tokens = -1;
	e->cost_micros = -1;
	if (!json_object_is_type(o, json_type_object))
		return valid_event_fail(f, i, "invalid_value", "",
		    "must be an object.");
	json_object_object_foreach(o, k, v) {
		(void)v;
		if (!valid_choice(k, keys))
			return valid_event_fail(f, i, "unknown_parameter", k,
			    "is not a field of an event.");
	}
	if ((e->id = valid_member_str(o, "id", 128)) == NULL)
		return valid_event_fail(f, i, "missing_parameter", "id",
		    "is required.");
	if (*e->id == '\0')
		return valid_event_fail(f, i, "invalid_value", "id",
		    "must be 1 to 128 characters.");
	if ((e->metric = valid_member_str(o, "metric", 40)) == NULL)
		return valid_event_fail(f, i, "missing_parameter", "metric",
		    "is required.");
	if (!valid_metric(e->metric))
		return valid_event_fail(f, i, "invalid_value", "metric",
		    "is not a metric (llm_tokens, agent_executions, api_calls, "
		    "messages).");
	if ((e->value = valid_count(o, "value", VALID_VALUE_MAX)) == -1)
		return valid_event_fail(f, i, "missing_parameter", "value",
		    "is required.");
	if (e->value == -2)
		return valid_event_fail(f, i, "invalid_value", "value",
		    "must be a whole number from 0 to 10^15.");
	if ((s = valid_member_str(o, "agent_id", 36)) != NULL &&
	    !valid_uuid(s))
		return valid_event_fail(f, i, "invalid_value", "agent_id",
		    "must be an agent's id.");
	e->agent_id = s;
	if ((s = valid_member_str(o, "reservation_id", 36)) != NULL &&
	    !valid_uuid(s))
		return valid_event_fail(f, i, "invalid_value",
		    "reservation_id", "must be a reservation's id.");
	e->reservation_id = s;
	if ((s = valid_member_str(o, "timestamp", 40)) != NULL) {
		if ((t = valid_time_epoch(s)) == -1)
			return valid_event_fail(f, i, "invalid_value",
			    "timestamp", "must be an RFC 3339 time.");
		if (t < now - VALID_EVENT_PAST_S)
			return valid_event_fail(f, i, "timestamp_too_old",
			    "timestamp", "is more than 35 days ago.");
		if (t > now + VALID_EVENT_AHEAD_S)
			return valid_event_fail(f, i, "timestamp_in_future",
			    "timestamp", "is more than 5 minutes ahead.");
	}
	e->ts = s;
	s = valid_member_str(o, "tenant_id", 36);
	if (s != NULL && !valid_uuid(s))
		return valid_event_fail(f, i, "invalid_value", "tenant_id",
		    "must be a tenant's id.");
	if (platform && s == NULL)
		return valid_event_fail(f, i, "missing_parameter", "tenant_id",
		    "is required with a platform key.");
	if (!platform && s != NULL && (bound == NULL || strcmp(s, bound) != 0))
		return valid_event_fail(f, i, "tenant_mismatch", "tenant_id",
		    "names another tenant than the key's.");
	e->tenant_id = s != NULL ? s : bound;
	if (json_object_object_get_ex(o, "properties", &p) && p != NULL &&
	    valid_event_props(p, i, e, f) == -1)
		return -1;
	return 0;
}
