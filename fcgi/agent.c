/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Agents, for the API and the portal alike (acct.c's convention: 0, or
 * -1 with a struct fail).  Here are the checks of an agent's fields,
 * one table read by a JSON and a form front (pure: they belong with
 * valid.c's tables and move there once that file is free), and the
 * changes: creating and reactivating within the plan's agent quota,
 * changing a budget, deactivating.  Each change is audited in its own
 * transaction.
 *
 * The quota counts active agents.  Every change that can add one takes
 * the tenant row first (db_agent_quota()) and counts after, so two
 * creates at the limit run one after the other and the second sees the
 * first.  Deleting an agent deactivates it (reason "deleted"): its
 * usage and audit history keep a name to refer to.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

#define AGENT_NAME_MAX	100	/* characters (the table's check) */

/* What a field takes in JSON: a string, an amount, a boolean. */
enum agent_jtype {
	AGENT_J_STRING,
	AGENT_J_AMOUNT,		/* a string or a number, written as sent */
	AGENT_J_BOOL
};

struct agent_field {
	const char		*name;
	enum agent_jtype	 jtype;
	int			 update_only;	/* the API's PATCH only */
	int			 nullable;	/* null (form: empty) is a value */
	int			 empty_skips;	/* form: empty is left unchanged */
	int			(*check)(struct agent_change *, const char *,
				    struct vfail *);
};

/* Describe a failure: "<param> <what>" (valid.c's form). */
static int
agent_fail(struct vfail *f, const char *code, const char *param,
    const char *what)
{
	f->param = param;
	f->code = code;
	snprintf(f->message, sizeof(f->message), "%s %s", param, what);
	return -1;
}

static int
agent_check_name(struct agent_change *c, const char *s, struct vfail *f)
{
	size_t	 n, i;

	if (s == NULL || !http_utf8_valid(s, strlen(s)))
		return agent_fail(f, "invalid_value", "name",
		    "must be UTF-8 text.");
	n = http_utf8_chars(s);
	if (n < 1 || n > AGENT_NAME_MAX)
		return agent_fail(f, "invalid_length", "name",
		    "must be 1 to 100 characters long.");
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return agent_fail(f, "invalid_value", "name",
			    "must not contain control characters.");
	c->name = s;
	return 0;
}

/* An amount of USD, or none (NULL: JSON null, an empty form field). */
static int
agent_check_budget(struct agent_change *c, const char *s, struct vfail *f)
{
	long long	 micros = -1;

	if (s != NULL && quota_usd_to_micros(s, &micros) == -1)
		return agent_fail(f, "invalid_value", "budget_limit_usd",
		    "must be an amount of USD from 0 to 1000000000 with at "
		    "most 6 decimals, such as 25 or 12.50.");
	c->set_budget = 1;
	c->budget_micros = micros;
	return 0;
}

static int
agent_check_action(struct agent_change *c, const char *s, struct vfail *f)
{
	if (s == NULL || (strcmp(s, "block") != 0 && strcmp(s, "alert") != 0))
		return agent_fail(f, "invalid_value", "budget_action",
		    "must be block or alert.");
	c->budget_action = s;
	return 0;
}

/* The text of a JSON boolean. */
static int
agent_check_active(struct agent_change *c, const char *s, struct vfail *f)
{
	if (s == NULL || (strcmp(s, "true") != 0 && strcmp(s, "false") != 0))
		return agent_fail(f, "invalid_type", "active",
		    "must be true or false.");
	c->active = strcmp(s, "true") == 0;
	return 0;
}

/* An agent's fields; the limits the portal states are these. */
static const struct agent_field	agent_fields[] = {
	{ "name", AGENT_J_STRING, 0, 0, 0, agent_check_name },
	{ "budget_limit_usd", AGENT_J_AMOUNT, 0, 1, 0, agent_check_budget },
	{ "budget_action", AGENT_J_STRING, 0, 0, 1, agent_check_action },
	{ "active", AGENT_J_BOOL, 1, 0, 0, agent_check_active },
};
#define AGENT_NFIELDS	(sizeof(agent_fields) / sizeof(agent_fields[0]))

/* A change that sets nothing yet. */
void
agent_change_init(struct agent_change *c)
{
	memset(c, 0, sizeof(*c));
	c->budget_micros = -1;
	c->active = -1;
}

/*
 * The text a JSON value is checked as: a string's own, a number's as
 * the client wrote it (json-c keeps the text of a parsed number, so
 * 12.50 is exact, and 1e3 stays the exponent the check refuses), a
 * boolean's "true" or "false", NULL for null.  -1: another type.
 */
static int
agent_json_text(const struct agent_field *af, struct json_object *o,
    const char **text, struct vfail *f)
{
	enum json_type	 t = json_object_get_type(o);
	int		 ok;

	*text = NULL;
	if (o == NULL && af->nullable)
		return 0;
	switch (af->jtype) {
	case AGENT_J_AMOUNT:
		ok = t == json_type_string || t == json_type_int ||
		    t == json_type_double;
		break;
	case AGENT_J_BOOL:
		ok = t == json_type_boolean;
		break;
	default:
		ok = t == json_type_string;
		break;
	}
	if (ok && t == json_type_string && strlen(json_object_get_string(o)) !=
	    (size_t)json_object_get_string_len(o))
		return agent_fail(f, "invalid_value", af->name,
		    "must not contain NUL.");
	if (ok) {
		*text = json_object_get_string(o);
		return 0;
	}
	return agent_fail(f, "invalid_type", af->name,
	    af->jtype == AGENT_J_BOOL ? "must be true or false." :
	    af->jtype == AGENT_J_AMOUNT ? "must be a string or a number of "
	    "USD, or null." : "must be a string.");
}

/*
 * Check a JSON body: POST /agents (create: name required, no active)
 * or PATCH /agents/{id} (at least one field).  0, or -1 with the first
 * problem described.
 */
int
agent_json(struct json_object *body, int create, struct agent_change *c,
    struct vfail *f)
{
	const struct agent_field	*af;
	const char			*text;
	size_t				 i;
	int				 n = 0;

	agent_change_init(c);
	json_object_object_foreach(body, key, val) {
		for (i = 0; i < AGENT_NFIELDS; i++)
			if (strcmp(key, agent_fields[i].name) == 0 &&
			    !(create && agent_fields[i].update_only))
				break;
		if (i == AGENT_NFIELDS)
			return agent_fail(f, "unknown_parameter", key,
			    "is not a known parameter.");
		af = &agent_fields[i];
		if (agent_json_text(af, val, &text, f) == -1 ||
		    af->check(c, text, f) == -1)
			return -1;
		n++;
	}
	if (create && c->name == NULL)
		return agent_fail(f, "missing_parameter", "name",
		    "is required.");
	if (n == 0)
		return agent_fail(f, "missing_parameter", "name", "or another "
		    "field (budget_limit_usd, budget_action, active) is "
		    "required.");
	return 0;
}

/*
 * The value of a form field, NULL when absent; "bad" set when it holds
 * a NUL (%00), which a C string would cut short unseen.
 */
static const char *
agent_form_value(const struct kvlist *kl, const char *name, int *bad)
{
	size_t	 i;

	*bad = 0;
	for (i = 0; i < kl->n; i++)
		if (strcmp(kl->kv[i].key, name) == 0) {
			*bad = strlen(kl->kv[i].val) != kl->kv[i].vallen;
			return kl->kv[i].val;
		}
	return NULL;
}

/*
 * Check a portal form: the fields it carries (a form without a field
 * leaves it unchanged; an empty budget means none), every failure
 * described, up to nfail of them.  Returns the number of failures.
 */
size_t
agent_form(const struct kvlist *kl, int create, struct agent_change *c,
    struct vfail *fails, size_t nfail)
{
	const struct agent_field	*af;
	struct vfail			 spare, *f;
	const char			*s;
	size_t				 i, bad = 0;
	int				 nul;

	agent_change_init(c);
	for (i = 0; i < AGENT_NFIELDS; i++) {
		af = &agent_fields[i];
		f = bad < nfail ? &fails[bad] : &spare;
		if (af->update_only ||
		    (s = agent_form_value(kl, af->name, &nul)) == NULL)
			continue;
		if (nul) {
			agent_fail(f, "invalid_value", af->name,
			    "must not contain NUL.");
			bad++;
			continue;
		}
		if (*s == '\0' && af->empty_skips)
			continue;
		if (*s == '\0' && af->nullable)
			s = NULL;
		if (af->check(c, s, f) == -1)
			bad++;
	}
	if (create && http_kv_get(kl, "name") == NULL) {
		agent_fail(bad < nfail ? &fails[bad] : &spare,
		    "missing_parameter", "name", "is required.");
		bad++;
	}
	return bad;
}

/* Add a string member, or null when v is NULL. */
static void
agent_json_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v != NULL ? json_object_new_string(v) :
	    NULL);
}

/* What a change set, as the audit event's details (JSON text). */
static const char *
agent_details(struct req *r, const struct agent_change *c, const char *reason)
{
	struct json_object	*o = json_object_new_object();
	const char		*out;
	char			 usd[40];

	if (c != NULL && c->name != NULL)
		agent_json_str(o, "name", c->name);
	if (c != NULL && c->set_budget) {
		quota_micros_to_usd(c->budget_micros, usd, sizeof(usd));
		agent_json_str(o, "budget_limit_usd", c->budget_micros < 0 ?
		    NULL : usd);
	}
	if (c != NULL && c->budget_action != NULL)
		agent_json_str(o, "budget_action", c->budget_action);
	if (c != NULL && c->active >= 0)
		json_object_object_add(o, "active",
		    json_object_new_boolean(c->active));
	if (reason != NULL)
		agent_json_str(o, "reason", reason);
	out = arena_strdup(&r->arena, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}

static int
agent_audit(struct req *r, struct fail *f, const char *action,
    const char *agent_id, const char *details)
{
	enum db_rc	 rc;

	if ((rc = db_audit_add(r, action, agent_id, details)) != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/*
 * Is there room for one more active agent?  The tenant's row is held
 * (db_agent_quota()); the count is a statement of its own after that.
 */
static int
agent_room(struct req *r, struct fail *f, struct agent_room *room)
{
	char		 allowed[64];
	enum db_rc	 rc;

	if (room->limit < 0)
		return 0;
	if ((rc = db_agent_count(r, room)) != DB_OK)
		return acct_fail_db(f, rc);
	if (room->active < room->limit)
		return 0;
	fmt_plural(allowed, sizeof(allowed), room->limit, "active agent",
	    "active agents");
	return acct_fail(f, 409, "quota_exceeded", arena_printf(&r->arena,
	    "The %s plan allows %s and %lld %s active: deactivate an agent or "
	    "upgrade the plan.", room->plan_name, allowed, room->active,
	    room->active == 1 ? "is" : "are"), NULL);
}

/*
 * Create an agent (c from agent_json() or agent_form()).  On a 409
 * quota_exceeded, room says the limit and the count.
 */
int
agent_create(struct req *r, struct fail *f, const struct agent_change *c,
    struct agent *a, struct agent_room *room)
{
	enum db_rc	 rc;

	if ((rc = db_agent_quota(r, 1, room)) != DB_OK)
		return acct_fail_db(f, rc);
	if (agent_room(r, f, room) == -1)
		return -1;
	if ((rc = db_agent_insert(r, c, a)) != DB_OK)
		return acct_fail_db(f, rc);
	return agent_audit(r, f, "agent.created", a->agent_id,
	    agent_details(r, c, NULL));
}

/* The audit action of a change: what happened to the agent, mainly. */
static const char *
agent_action(const struct agent_change *c, const struct agent *before)
{
	if (c->active == 0 && before->active)
		return "agent.deactivated";
	if (c->active == 1 && !before->active)
		return "agent.reactivated";
	return "agent.updated";
}

/*
 * Change an agent.  Reactivating one counts against the quota like a
 * create; deactivating records the reason "manual".  404 for an agent
 * the tenant does not have (another tenant's is invisible).
 */
int
agent_update(struct req *r, struct fail *f, const char *agent_id,
    const struct agent_change *c, struct agent *a, struct agent_room *room)
{
	struct agent	 before;
	enum db_rc	 rc;

	if (!valid_uuid(agent_id))
		return acct_fail(f, 404, "not_found", "There is no such agent.",
		    NULL);
	/* The tenant first, always: one lock order for every change. */
	if ((rc = db_agent_quota(r, 1, room)) != DB_OK)
		return acct_fail_db(f, rc);
	rc = db_agent_get(r, agent_id, &before);
	if (rc == DB_NOTFOUND)
		return acct_fail(f, 404, "not_found", "There is no such agent.",
		    NULL);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	if (c->active == 1 && !before.active && agent_room(r, f, room) == -1)
		return -1;
	if ((rc = db_agent_update(r, agent_id, c, "manual", a)) != DB_OK)
		return acct_fail_db(f, rc);
	return agent_audit(r, f, agent_action(c, &before), agent_id,
	    agent_details(r, c, NULL));
}

/*
 * Deactivate an agent with "reason" ("deleted" by the API's DELETE,
 * "manual" from the portal).  An agent already off is left as it is
 * and it is not an error (a second DELETE answers 204 too); one the
 * tenant does not have is a 404.
 */
int
agent_deactivate(struct req *r, struct fail *f, const char *agent_id,
    const char *reason)
{
	struct agent	 a;
	const char	*name;
	enum db_rc	 rc;

	if (!valid_uuid(agent_id))
		return acct_fail(f, 404, "not_found", "There is no such agent.",
		    NULL);
	rc = db_agent_deactivate(r, agent_id, reason, &name);
	if (rc == DB_OK)
		return agent_audit(r, f, "agent.deactivated", agent_id,
		    agent_details(r, NULL, reason));
	/* Nothing changed: already off (fine), or not the tenant's. */
	if (rc == DB_NOTFOUND)
		rc = db_agent_get(r, agent_id, &a);
	if (rc == DB_NOTFOUND)
		return acct_fail(f, 404, "not_found", "There is no such agent.",
		    NULL);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}
