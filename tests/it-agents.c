/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: /api/v1/agents and the portal's /agents over real HTTP.
 * Agents are created, listed newest first and paged, changed, deleted
 * (deactivated, reason "deleted") and brought back; the free plan's
 * limit of 3 active agents holds, also against concurrent creates,
 * which queue on the tenant's row; another tenant's agent is a 404;
 * bad budgets and fields are 400s naming the parameter, with nothing
 * stored; roles and key scopes are enforced; this period's spend and
 * the budget status come from agent_spend; every change is audited.
 *
 * Each test registers tenants of its own, from a loopback address of
 * its own (it_client_new()), and stays under the free plan's 20
 * requests a minute per tenant.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "it-util.h"

#define API		"/api/v1"
#define AGENTS		API "/agents"
#define JSON		"application/json"
#define RACERS		8	/* creates at once on an empty tenant */
#define FREE_AGENTS	3	/* the free plan's agent quota */

static unsigned int	 a_seq;

/* --- helpers -------------------------------------------------------------- */

/* POST /agents; the status, the new id into id (when 201). */
static long
create(const struct it_owner *o, const char *body, char *id, size_t idsz)
{
	struct it_resp	 r;
	long		 status;

	it_call(&r, o->access, "POST", AGENTS, body);
	status = r.status;
	if (id != NULL) {
		id[0] = '\0';
		if (status == 201)
			it_copy_str(id, idsz, &r, "id");
	}
	it_response_free(&r);
	return status;
}

static const char *
agent_path(const char *id)
{
	static char	 path[256];

	snprintf(path, sizeof(path), "%s/%s", AGENTS, id);
	return path;
}

static long
audit_count(const struct it_owner *o, const char *action)
{
	return it_owner_count(o->tenant, "SELECT count(*) FROM audit_events "
	    "WHERE tenant_id = app_tenant() AND action = $1", action);
}

static long
active_count(const struct it_owner *o)
{
	return it_owner_count(o->tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = app_tenant() AND active", NULL);
}

/* The ids of a list answer, in order, into ids[]; how many. */
static size_t
list_ids(struct it_resp *r, char ids[][64], size_t max, int *more)
{
	struct json_object	*data, *m;
	size_t			 i, n;

	if (!it_json_get(it_json(r), "data", &data) ||
	    !json_object_is_type(data, json_type_array))
		fail_msg("no data array in %.300s", r->body);
	*more = it_json_get(it_json(r), "has_more", &m) &&
	    json_object_get_boolean(m);
	n = json_object_array_length(data);
	for (i = 0; i < n && i < max; i++)
		snprintf(ids[i], 64, "%s", it_json_str(
		    json_object_array_get_idx(data, i), "id"));
	return n;
}

/* --- CRUD ----------------------------------------------------------------- */

static void
test_crud(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	char		 a[64], b[64], c[64], ids[8][64];
	size_t		 n;
	int		 more;

	(void)state;
	it_owner_new(&o, "agents", "crud");
	it_call(&r, o.access, "GET", AGENTS, NULL);
	it_expect_status(&r, 200);
	assert_int_equal(list_ids(&r, ids, 8, &more), 0);
	it_response_free(&r);

	it_call(&r, o.access, "POST", AGENTS, "{\"name\": \"alpha\"}");
	it_expect_status(&r, 201);
	it_copy_str(a, sizeof(a), &r, "id");
	it_expect_str(&r, "name", "alpha");
	it_expect_str(&r, "budget_limit_usd", NULL);
	it_expect_str(&r, "budget_action", "block");
	it_expect_str(&r, "spend_usd", "0");
	it_expect_str(&r, "budget_status", "none");
	it_expect_str(&r, "deactivated_reason", NULL);
	it_response_free(&r);
	it_call(&r, o.access, "POST", AGENTS, "{\"name\": \"beta\", "
	    "\"budget_limit_usd\": \"12.50\", \"budget_action\": \"alert\"}");
	it_expect_status(&r, 201);
	it_copy_str(b, sizeof(b), &r, "id");
	it_expect_str(&r, "budget_limit_usd", "12.5");
	it_expect_str(&r, "budget_action", "alert");
	it_expect_str(&r, "budget_status", "ok");
	it_response_free(&r);
	/* A JSON number, read from its digits: exact. */
	it_call(&r, o.access, "POST", AGENTS, "{\"name\": \"gamma\", "
	    "\"budget_limit_usd\": 0.1}");
	it_expect_status(&r, 201);
	it_copy_str(c, sizeof(c), &r, "id");
	it_expect_str(&r, "budget_limit_usd", "0.1");
	it_response_free(&r);

	/* Newest first, two to a page, the cursor an agent id. */
	it_call(&r, o.access, "GET", AGENTS "?limit=2", NULL);
	it_expect_status(&r, 200);
	n = list_ids(&r, ids, 8, &more);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(ids[0], c);
	assert_string_equal(ids[1], b);
	it_response_free(&r);
	it_call(&r, o.access, "GET", AGENTS "?limit=2&starting_after=" , NULL);
	it_expect_code(&r, 400, "invalid_value", "an empty cursor");
	it_response_free(&r);
	{
		char	 path[160];

		snprintf(path, sizeof(path), "%s?limit=2&starting_after=%s",
		    AGENTS, b);
		it_call(&r, o.access, "GET", path, NULL);
	}
	it_expect_status(&r, 200);
	n = list_ids(&r, ids, 8, &more);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(ids[0], a);
	it_response_free(&r);

	/* Changes: the budget removed (null), a name and an action. */
	it_call(&r, o.access, "PATCH", agent_path(b),
	    "{\"budget_limit_usd\": null}");
	it_expect_status(&r, 200);
	it_expect_str(&r, "budget_limit_usd", NULL);
	it_expect_str(&r, "budget_status", "none");
	it_expect_str(&r, "name", "beta");
	it_response_free(&r);
	it_call(&r, o.access, "PATCH", agent_path(b),
	    "{\"name\": \"beta two\", \"budget_action\": \"block\", "
	    "\"budget_limit_usd\": \"0\"}");
	it_expect_status(&r, 200);
	it_expect_str(&r, "name", "beta two");
	it_expect_str(&r, "budget_action", "block");
	it_expect_str(&r, "budget_limit_usd", "0");
	/* A zero budget allows nothing. */
	it_expect_str(&r, "budget_status", "exceeded");
	it_response_free(&r);
	it_call(&r, o.access, "PATCH", agent_path(b), "{}");
	it_expect_code(&r, 400, "missing_parameter", "an empty change");
	it_response_free(&r);

	/* DELETE deactivates; again, it is already done. */
	it_call(&r, o.access, "DELETE", agent_path(a), NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);
	it_call(&r, o.access, "DELETE", agent_path(a), NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);
	it_call(&r, o.access, "GET", AGENTS, NULL);
	it_expect_status(&r, 200);
	it_expect_str(&r, "data.2.id", a);
	it_expect_str(&r, "data.2.deactivated_reason", "deleted");
	{
		struct json_object	*v;

		if (!it_json_at(&r, "data.2.active", &v) ||
		    json_object_get_boolean(v))
			it_deferred_fail("the deleted agent is still active: "
			    "%.300s", r.body);
	}
	it_response_free(&r);

	/* Every change audited once, the second DELETE not at all. */
	assert_int_equal(audit_count(&o, "agent.created"), 3);
	assert_int_equal(audit_count(&o, "agent.updated"), 2);
	assert_int_equal(audit_count(&o, "agent.deactivated"), 1);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM "
	    "audit_events WHERE tenant_id = app_tenant() AND action = "
	    "'agent.deactivated' AND target = $1 AND details->>'reason' = "
	    "'deleted'", a), 1);
	it_deferred_check();
}

/* --- the plan's agent quota ----------------------------------------------- */

static void
test_quota(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	struct json_object *v;
	char		 id[FREE_AGENTS][64], name[32];
	int		 i;

	(void)state;
	it_owner_new(&o, "agents", "quota");
	for (i = 0; i < FREE_AGENTS; i++) {
		snprintf(name, sizeof(name), "{\"name\": \"a%d\"}", i);
		assert_int_equal(create(&o, name, id[i], sizeof(id[i])), 201);
	}
	it_call(&r, o.access, "POST", AGENTS, "{\"name\": \"one too many\"}");
	it_expect_code(&r, 409, "quota_exceeded", "the 4th agent");
	if (!it_json_get(it_json(&r), "error.limit", &v) ||
	    json_object_get_int64(v) != FREE_AGENTS ||
	    !it_json_get(it_json(&r), "error.used", &v) ||
	    json_object_get_int64(v) != FREE_AGENTS ||
	    strstr(r.body, "3 active agents") == NULL)
		it_deferred_fail("the quota error names no limit: %.300s",
		    r.body);
	it_response_free(&r);

	/* A deleted agent frees its place; bringing it back needs one. */
	it_call(&r, o.access, "DELETE", agent_path(id[0]), NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);
	assert_int_equal(create(&o, "{\"name\": \"a3\"}", NULL, 0), 201);
	it_call(&r, o.access, "PATCH", agent_path(id[0]), "{\"active\": true}");
	it_expect_code(&r, 409, "quota_exceeded", "reactivating a 4th");
	it_response_free(&r);
	/* Deactivating by PATCH makes room for it. */
	it_call(&r, o.access, "PATCH", agent_path(id[1]),
	    "{\"active\": false}");
	it_expect_status(&r, 200);
	it_expect_str(&r, "deactivated_reason", "manual");
	it_response_free(&r);
	it_call(&r, o.access, "PATCH", agent_path(id[0]), "{\"active\": true}");
	it_expect_status(&r, 200);
	it_expect_str(&r, "deactivated_reason", NULL);
	it_response_free(&r);
	assert_int_equal(active_count(&o), FREE_AGENTS);
	assert_int_equal(audit_count(&o, "agent.reactivated"), 1);
	assert_int_equal(audit_count(&o, "agent.deactivated"), 2);
	it_deferred_check();
}

/* --- concurrent creates --------------------------------------------------- */

struct race {
	const struct it_owner	*o;
	int			 n;
	long			 status;
};

static void *
race_create(void *arg)
{
	struct race	*x = arg;
	char		 body[64];

	snprintf(body, sizeof(body), "{\"name\": \"racer %d\"}", x->n);
	x->status = it_call_status(x->o->access, "POST", AGENTS, body);
	return NULL;
}

/* n creates at once; how many got 201, and how many 409. */
static void
race(const struct it_owner *o, int n, int *created, int *refused)
{
	struct race	 x[RACERS];
	pthread_t	 t[RACERS];
	int		 i;

	*created = *refused = 0;
	for (i = 0; i < n; i++) {
		x[i].o = o;
		x[i].n = i;
		assert_int_equal(pthread_create(&t[i], NULL, race_create,
		    &x[i]), 0);
	}
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		print_message("# racer %d: %ld\n", i, x[i].status);
		*created += x[i].status == 201;
		*refused += x[i].status == 409;
	}
}

static void
test_concurrent(void **state)
{
	struct it_owner	 o, p;
	int		 created, refused;

	(void)state;
	/* Eight at once on an empty tenant: exactly three get in. */
	it_owner_new(&o, "agents", "race");
	race(&o, RACERS, &created, &refused);
	assert_int_equal(created, FREE_AGENTS);
	assert_int_equal(refused, RACERS - FREE_AGENTS);
	assert_int_equal(active_count(&o), FREE_AGENTS);
	assert_int_equal(audit_count(&o, "agent.created"), FREE_AGENTS);

	/* Two at once for the last place: one. */
	it_owner_new(&p, "agents", "last");
	assert_int_equal(create(&p, "{\"name\": \"x\"}", NULL, 0), 201);
	assert_int_equal(create(&p, "{\"name\": \"y\"}", NULL, 0), 201);
	race(&p, 2, &created, &refused);
	assert_int_equal(created, 1);
	assert_int_equal(refused, 1);
	assert_int_equal(active_count(&p), FREE_AGENTS);
}

/* --- tenants apart -------------------------------------------------------- */

/*
 * POST /agents twice with one Idempotency-Key: the second answer is the
 * first one replayed, and one agent exists.  Its id into id.
 */
static void
idem_create(const struct it_owner *o, const char *body, char *id, size_t idsz)
{
	struct it_resp	 r;
	char		 auth[IT_TOKEN_MAX + 64], key[96], first[64];
	int		 i;

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->access);
	snprintf(key, sizeof(key), "Idempotency-Key: agents-%ld-%u",
	    (long)getpid(), ++a_seq);
	for (i = 0; i < 2; i++) {
		if (it_request(&r, "POST", AGENTS, JSON, body, strlen(body),
		    auth, key, NULL) == -1)
			fail_msg("POST %s: %s", AGENTS, r.error);
		it_expect_status(&r, 201);
		it_copy_str(i == 0 ? first : id, i == 0 ? sizeof(first) : idsz,
		    &r, "id");
		it_response_free(&r);
	}
	assert_string_equal(first, id);
	assert_int_equal(it_owner_count(o->tenant, "SELECT count(*) FROM "
	    "agents WHERE tenant_id = app_tenant()", NULL), 1);
}

static void
test_other_tenant(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o, p;
	char		 id[64], ids[4][64], path[160];
	int		 more;

	(void)state;
	it_owner_new(&o, "agents", "mine");
	idem_create(&o, "{\"name\": \"private\"}", id, sizeof(id));
	it_owner_new(&p, "agents", "theirs");
	it_call(&r, p.access, "PATCH", agent_path(id), "{\"name\": \"taken\"}");
	it_expect_code(&r, 404, "not_found", "another tenant's agent, PATCH");
	it_response_free(&r);
	it_call(&r, p.access, "PATCH", agent_path(id), "{\"active\": true}");
	it_expect_code(&r, 404, "not_found", "another tenant's, reactivated");
	it_response_free(&r);
	it_call(&r, p.access, "DELETE", agent_path(id), NULL);
	it_expect_code(&r, 404, "not_found", "another tenant's agent, DELETE");
	it_response_free(&r);
	it_call(&r, p.access, "DELETE", agent_path("not-a-uuid"), NULL);
	it_expect_code(&r, 404, "not_found", "an id that is no UUID");
	it_response_free(&r);
	it_call(&r, p.access, "GET", AGENTS, NULL);
	it_expect_status(&r, 200);
	assert_int_equal(list_ids(&r, ids, 4, &more), 0);
	it_response_free(&r);
	/* Another tenant's id as a cursor: an empty page, no leak. */
	snprintf(path, sizeof(path), "%s?starting_after=%s", AGENTS, id);
	it_call(&r, p.access, "GET", path, NULL);
	it_expect_status(&r, 200);
	assert_int_equal(list_ids(&r, ids, 4, &more), 0);
	it_response_free(&r);
	/* Untouched: the name, the state, no audit in either tenant. */
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = app_tenant() AND name = 'private' AND active",
	    NULL), 1);
	assert_int_equal(audit_count(&p, "agent.updated"), 0);
	assert_int_equal(audit_count(&o, "agent.updated"), 0);
	it_deferred_check();
}

/* --- bad input ------------------------------------------------------------ */

static void
test_bad_budgets(void **state)
{
	static const char *const	bad[] = {
		"\"-1\"", "-1", "\"1e3\"", "1e3", "1E2", "\"1.0000001\"",
		"0.0000001", "\"abc\"", "\"\"", "1.5e-7", "2000000000",
		"\"1000000000.000001\"", "true", "{}", "[1]", "\"1.\"",
		"\".5\"",
	};
	struct it_resp	 r;
	struct it_owner	 o;
	char		 body[128], what[160];
	size_t		 i;

	(void)state;
	it_owner_new(&o, "agents", "budget");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"name\": \"b\", "
		    "\"budget_limit_usd\": %s}", bad[i]);
		snprintf(what, sizeof(what), "budget_limit_usd %s", bad[i]);
		it_call(&r, o.access, "POST", AGENTS, body);
		it_expect_param(&r, "budget_limit_usd", what);
		it_response_free(&r);
	}
	/* The largest budget there is, exactly. */
	assert_int_equal(create(&o, "{\"name\": \"max\", \"budget_limit_usd\": "
	    "\"1000000000.000000\"}", NULL, 0), 201);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = app_tenant()", NULL), 1);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = app_tenant() AND budget_limit_micros = "
	    "1000000000000000", NULL), 1);
	it_deferred_check();
}

static void
test_bad_fields(void **state)
{
	static const struct {
		const char	*body;
		const char	*param;
	} bad[] = {
		{ "{}", "name" },
		{ "{\"name\": \"\"}", "name" },
		{ "{\"name\": null}", "name" },
		{ "{\"name\": 7}", "name" },
		{ "{\"name\": \"tab\\there\"}", "name" },
		{ "{\"name\": \"nul\\u0000cut\"}", "name" },
		{ "{\"name\": \"n\", \"budget_action\": \"maybe\"}",
		    "budget_action" },
		{ "{\"name\": \"n\", \"budget_action\": null}",
		    "budget_action" },
		{ "{\"name\": \"n\", \"color\": \"red\"}", "color" },
		/* Created active; "active" is for changes only. */
		{ "{\"name\": \"n\", \"active\": false}", "active" },
	};
	struct it_resp	 r;
	struct it_owner	 o;
	char		 name[256], body[320], id[64];
	size_t		 i, n = 0;

	(void)state;
	it_owner_new(&o, "agents", "fields");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		it_call(&r, o.access, "POST", AGENTS, bad[i].body);
		it_expect_param(&r, bad[i].param, bad[i].body);
		it_response_free(&r);
	}
	/* 100 characters (every other one of two bytes) pass, 101 not. */
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(name + n, sizeof(name) - n, "%s",
		    i % 2 ? "\xc3\xa9" : "a");
	snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
	assert_int_equal(create(&o, body, id, sizeof(id)), 201);
	snprintf(body, sizeof(body), "{\"name\": \"%sb\"}", name);
	it_call(&r, o.access, "POST", AGENTS, body);
	it_expect_param(&r, "name", "a name of 101 characters");
	it_response_free(&r);
	it_call(&r, o.access, "PATCH", agent_path(id), "{\"active\": \"yes\"}");
	it_expect_param(&r, "active", "active as a string");
	it_response_free(&r);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = app_tenant()", NULL), 1);
	assert_int_equal(audit_count(&o, "agent.created"), 1);
	it_deferred_check();
}

/* --- roles and API keys --------------------------------------------------- */

/* An API key of o with one scope; its secret into secret. */
static void
key_new(const struct it_owner *o, const char *scope, char *secret,
    size_t secretsz)
{
	struct it_resp	 r;
	char		 body[128];

	snprintf(body, sizeof(body), "{\"name\": \"k %s\", \"scopes\": "
	    "[\"%s\"]}", scope, scope);
	it_call(&r, o->access, "POST", API "/api-keys", body);
	it_expect_status(&r, 201);
	it_copy_str(secret, secretsz, &r, "secret");
	it_response_free(&r);
}

static void
test_roles_and_keys(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	char		 rd[128], wr[128], member[IT_TOKEN_MAX];

	(void)state;
	it_owner_new(&o, "agents", "keys");
	key_new(&o, "usage:read", rd, sizeof(rd));
	key_new(&o, "usage:write", wr, sizeof(wr));
	it_call(&r, wr, "POST", AGENTS, "{\"name\": \"by key\"}");
	it_expect_status(&r, 201);
	it_response_free(&r);
	it_call(&r, rd, "GET", AGENTS, NULL);
	it_expect_status(&r, 200);
	it_expect_str(&r, "data.0.name", "by key");
	it_response_free(&r);
	it_call(&r, rd, "POST", AGENTS, "{\"name\": \"read only\"}");
	it_expect_code(&r, 403, "insufficient_scope", "usage:read creating");
	it_response_free(&r);
	it_call(&r, wr, "GET", AGENTS, NULL);
	it_expect_code(&r, 403, "insufficient_scope", "usage:write listing");
	it_response_free(&r);
	/* The audit names the key. */
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM "
	    "audit_events WHERE tenant_id = app_tenant() AND action = "
	    "'agent.created' AND actor_key_id IS NOT NULL", NULL), 1);

	/* A member reads, and may not change. */
	it_member_new(&o, "agents", member, sizeof(member));
	it_call(&r, member, "GET", AGENTS, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);
	it_call(&r, member, "POST", AGENTS, "{\"name\": \"by a member\"}");
	it_expect_code(&r, 403, "insufficient_role", "a member creating");
	it_response_free(&r);
	assert_int_equal(active_count(&o), 1);
	it_deferred_check();
}

/* --- this period's spend -------------------------------------------------- */

/* Set the agent's cost in the current period (and one long before). */
static void
spend_set(const struct it_owner *o, const char *id, const char *micros)
{
	it_owner_sql(NULL, 0, o->tenant, "INSERT INTO agent_spend (tenant_id, "
	    "agent_id, period_start, cost_micros) SELECT t.tenant_id, "
	    "$1::uuid, usage_period(t.current_period_start, "
	    "t.current_period_end, now()), $2::bigint FROM tenants t WHERE "
	    "t.tenant_id = app_tenant() ON CONFLICT (tenant_id, agent_id, "
	    "period_start) DO UPDATE SET cost_micros = EXCLUDED.cost_micros",
	    2, (const char *const[]){ id, micros });
}

static void
test_spend(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	char		 id[64];

	(void)state;
	it_owner_new(&o, "agents", "spend");
	assert_int_equal(create(&o, "{\"name\": \"spender\", "
	    "\"budget_limit_usd\": 10}", id, sizeof(id)), 201);
	/* An old period does not count. */
	it_owner_sql(NULL, 0, o.tenant, "INSERT INTO agent_spend (tenant_id, "
	    "agent_id, period_start, cost_micros) VALUES (app_tenant(), "
	    "$1::uuid, '2020-01-01T00:00:00Z', 999000000)", 1,
	    (const char *const[]){ id });
	spend_set(&o, id, "7990000");
	it_call(&r, o.access, "GET", AGENTS, NULL);
	it_expect_status(&r, 200);
	it_expect_str(&r, "data.0.spend_usd", "7.99");
	it_expect_str(&r, "data.0.budget_status", "ok");
	it_response_free(&r);
	spend_set(&o, id, "8000000");
	it_call(&r, o.access, "GET", AGENTS, NULL);
	it_expect_str(&r, "data.0.spend_usd", "8");
	it_expect_str(&r, "data.0.budget_status", "warning");
	it_response_free(&r);
	spend_set(&o, id, "12000001");
	it_call(&r, o.access, "PATCH", agent_path(id), "{\"name\": \"spent\"}");
	it_expect_status(&r, 200);
	it_expect_str(&r, "spend_usd", "12.000001");
	it_expect_str(&r, "budget_status", "exceeded");
	it_response_free(&r);
	it_deferred_check();
}

/* --- the portal ----------------------------------------------------------- */

/* GET /agents (200) and the CSRF token of the page's forms. */
static void
portal_agents(const char *session, char *csrf, size_t csrfsz,
    struct it_resp *r)
{
	it_http(r, "GET", "/agents", session, NULL, NULL, NULL);
	it_expect_status(r, 200);
	it_csrf_of(r, "/agents", csrf, csrfsz);
}

/*
 * POST a portal form; it must answer 303 to /agents.  The cookies for
 * the page it leads to (the session and the notice) into next.
 */
static void
portal_post(const char *session, const char *path, const char *body,
    const char *what, char *next, size_t nextsz)
{
	struct it_resp	 r;
	const char	*loc;
	char		 flash[IT_COOKIE_MAX];

	it_http(&r, "POST", path, session, NULL, IT_FORM, body);
	loc = it_header(&r, "Location");
	if (r.status != 303 || loc == NULL || strcmp(loc, "/agents") != 0)
		it_deferred_fail("%s: %ld to %s, want 303 to /agents", what,
		    r.status, loc != NULL ? loc : "nowhere");
	if (next != NULL && it_set_cookie(&r, "tg_flash", flash,
	    sizeof(flash), NULL))
		snprintf(next, nextsz, "%s; tg_flash=%s", session, flash);
	else if (next != NULL)
		snprintf(next, nextsz, "%s", session);
	it_response_free(&r);
}

static void
test_portal(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	char		 session[IT_COOKIE_MAX + 16], csrf[128], body[512];
	char		 next[2 * IT_COOKIE_MAX + 32], id[64];

	(void)state;
	it_owner_new(&o, "agents", "portal");
	it_portal_login(o.email, o.password, session, sizeof(session));
	portal_agents(session, csrf, sizeof(csrf), &r);
	if (strstr(r.body, "No agents yet") == NULL ||
	    strstr(r.body, "0 active agents; the Free plan allows 3.") ==
	    NULL)
		it_deferred_fail("an empty /agents: %.400s", r.body);
	it_response_free(&r);

	/* A bad amount: the form again, the error at its field. */
	body[0] = '\0';
	it_form_add(body, sizeof(body), "csrf", csrf);
	it_form_add(body, sizeof(body), "name", "web <agent>");
	it_form_add(body, sizeof(body), "budget_limit_usd", "12.3456789");
	it_form_add(body, sizeof(body), "budget_action", "alert");
	it_http(&r, "POST", "/agents", session, NULL, IT_FORM, body);
	if (r.status != 400 || strstr(r.body, "id=\"e-budget_limit_usd\"") ==
	    NULL || strstr(r.body, "value=\"12.3456789\"") == NULL ||
	    strstr(r.body, "value=\"web &lt;agent&gt;\"") == NULL)
		it_deferred_fail("a bad budget in the form: %ld %.300s",
		    r.status, r.body);
	it_response_free(&r);

	body[0] = '\0';
	it_form_add(body, sizeof(body), "csrf", csrf);
	it_form_add(body, sizeof(body), "name", "web <agent>");
	it_form_add(body, sizeof(body), "budget_limit_usd", "12.5");
	it_form_add(body, sizeof(body), "budget_action", "alert");
	portal_post(session, "/agents", body, "add an agent", next,
	    sizeof(next));
	snprintf(id, sizeof(id), "%s", "");
	it_owner_sql(id, sizeof(id), o.tenant, "SELECT agent_id FROM agents "
	    "WHERE tenant_id = app_tenant() AND budget_limit_micros = "
	    "12500000 AND budget_action = 'alert'", 0, NULL);
	if (id[0] == '\0')
		fail_msg("the portal's agent was not stored as entered");
	portal_agents(next, csrf, sizeof(csrf), &r);
	if (strstr(r.body, "web &lt;agent&gt;") == NULL ||
	    strstr(r.body, "$12.50") == NULL || strstr(r.body,
	    "Agent \xe2\x80\x9cweb &lt;agent&gt;\xe2\x80\x9d added.") == NULL)
		it_deferred_fail("the new agent on /agents: %.400s", r.body);
	it_response_free(&r);

	/* The budget removed from its row (an empty amount). */
	body[0] = '\0';
	it_form_add(body, sizeof(body), "csrf", csrf);
	it_form_add(body, sizeof(body), "agent_id", id);
	it_form_add(body, sizeof(body), "budget_limit_usd", "");
	it_form_add(body, sizeof(body), "budget_action", "block");
	portal_post(session, "/agents/budget", body, "remove the budget",
	    NULL, 0);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = app_tenant() AND budget_limit_micros IS NULL "
	    "AND budget_action = 'block'", NULL), 1);

	/* Deactivate: a confirmation page first, nothing changed by it. */
	body[0] = '\0';
	it_form_add(body, sizeof(body), "csrf", csrf);
	it_form_add(body, sizeof(body), "agent_id", id);
	it_http(&r, "POST", "/agents/deactivate", session, NULL, IT_FORM,
	    body);
	if (r.status != 200 || strstr(r.body, "name=\"confirm\"") == NULL)
		it_deferred_fail("no confirmation page: %ld", r.status);
	it_response_free(&r);
	assert_int_equal(active_count(&o), 1);
	it_form_add(body, sizeof(body), "confirm", "yes");
	portal_post(session, "/agents/deactivate", body, "deactivate", NULL,
	    0);
	assert_int_equal(active_count(&o), 0);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM agents "
	    "WHERE tenant_id = app_tenant() AND deactivated_reason = "
	    "'manual'", NULL), 1);
	body[0] = '\0';
	it_form_add(body, sizeof(body), "csrf", csrf);
	it_form_add(body, sizeof(body), "agent_id", id);
	portal_post(session, "/agents/reactivate", body, "reactivate", NULL,
	    0);
	assert_int_equal(active_count(&o), 1);
	/* A form without its token changes nothing. */
	body[0] = '\0';
	it_form_add(body, sizeof(body), "agent_id", id);
	it_form_add(body, sizeof(body), "confirm", "yes");
	it_http(&r, "POST", "/agents/deactivate", session, NULL, IT_FORM,
	    body);
	if (r.status != 403)
		it_deferred_fail("no CSRF token: %ld, want 403", r.status);
	it_response_free(&r);
	assert_int_equal(active_count(&o), 1);
	assert_int_equal(audit_count(&o, "agent.created"), 1);
	assert_int_equal(audit_count(&o, "agent.updated"), 1);
	assert_int_equal(audit_count(&o, "agent.deactivated"), 1);
	assert_int_equal(audit_count(&o, "agent.reactivated"), 1);
	it_deferred_check();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crud),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_other_tenant),
		cmocka_unit_test(test_bad_budgets),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_roles_and_keys),
		cmocka_unit_test(test_spend),
		cmocka_unit_test(test_portal),
	};

	it_init();
	it_client_init(63);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
