/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The LLM gateway's statements (sql/021): a call's plan, the tenant's
 * concurrent-call slots, the call's record, the provider key's status,
 * and the tenant's models.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

/*
 * No tenant bound (an unknown key, when the statement travels with the
 * binding): no row, and gateway_plan() is not run, as it would refuse
 * the missing tenant and fail the binding's answer with it.
 */
#define DB_GATEWAY_PLAN	"SELECT provider, model, prompt_per_mtok, " \
	"completion_per_mtok, cached_per_mtok, key_id, ciphertext, " \
	"agent_found, agent_active, budget_left, tokens_left FROM " \
	"gateway_plan($1, $2::uuid) WHERE app_tenant() IS NOT NULL"

/*
 * The plan's statement for the key's binding to carry (gateway_key_with
 * in gateway.c): model and agent must be valid already, as a failed
 * statement would fail the binding with it.
 */
void
db_gateway_plan_call(struct req *r, const char *model, const char *agent,
    struct db_call *c)
{
	const char	**v;

	v = arena_calloc(&r->arena, 2, sizeof(*v));
	v[0] = model;
	v[1] = agent;
	c->sql = DB_GATEWAY_PLAN;
	c->n = 2;
	c->vals = v;
}

/* A plan from its statement's result; DB_NOTFOUND: no price. */
enum db_rc
db_gateway_plan_read(PGresult *res, struct gw_plan *p)
{
	memset(p, 0, sizeof(*p));
	if (res == NULL || db_nrows(res) == 0)
		return DB_NOTFOUND;
	p->provider = db_get(res, 0, 0);
	p->model = db_get(res, 0, 1);
	p->prompt_per_mtok = db_int(res, 0, 2);
	p->completion_per_mtok = db_int(res, 0, 3);
	p->cached_per_mtok = db_int(res, 0, 4);
	p->key_id = db_get(res, 0, 5);
	p->ciphertext = db_get(res, 0, 6);
	p->agent_found = db_bool(res, 0, 7);
	p->agent_active = db_bool(res, 0, 8);
	p->budget_left = db_get(res, 0, 9) == NULL ? -1 : db_int(res, 0, 9);
	p->tokens_left = db_get(res, 0, 10) == NULL ? -1 :
	    db_int(res, 0, 10);
	return DB_OK;
}

/* What a call needs before it is made; DB_NOTFOUND: no price. */
enum db_rc
db_gateway_plan(struct req *r, const char *model, const char *agent,
    struct gw_plan *p)
{
	const char	*v[2] = { model, agent };
	PGresult	*res;
	enum db_rc	 rc;

	memset(p, 0, sizeof(*p));
	if ((rc = db_row(r, DB_GATEWAY_PLAN, 2, v, &res)) != DB_OK)
		return rc;
	return db_gateway_plan_read(res, p);
}

/*
 * The call's hold and slot, and the COMMIT, in one round trip; the
 * commit need not wait for the disk (a hold lost in a crash of the
 * server only lets its call go unmetered as its process died with it).
 */
enum db_rc
db_gateway_hold(struct req *r, long long qty, const char *agent,
    long long cost, int ttl, int cap, const char **hold, int *slot)
{
	char		 q[24], c[24], t[16], k[16];
	const char	*v[5] = { q, agent, c, t, k };
	struct db_call	 calls[3];
	enum db_rc	 rc;

	*hold = NULL;
	*slot = -1;
	snprintf(q, sizeof(q), "%lld", qty);
	snprintf(c, sizeof(c), "%lld", cost);
	snprintf(t, sizeof(t), "%d", ttl);
	snprintf(k, sizeof(k), "%d", cap);
	memset(calls, 0, sizeof(calls));
	calls[0].sql = "SELECT set_config('synchronous_commit', 'off', true)";
	calls[1].sql = "SELECT reservation_id, slot FROM gateway_hold("
	    "$1::bigint, $2::uuid, $3::bigint, $4::integer, $5::integer)";
	calls[1].n = 5;
	calls[1].vals = v;
	calls[2].sql = "COMMIT";
	if ((rc = db_exec_many(r, calls, 3)) != DB_OK)
		return rc;
	r->in_tx = 0;
	if (calls[1].res == NULL || db_nrows(calls[1].res) != 1 ||
	    calls[2].res == NULL)
		return DB_ERROR;
	*hold = db_get(calls[1].res, 0, 0);
	*slot = (int)db_int(calls[1].res, 0, 1);
	return DB_OK;
}

/* One of the tenant's cap concurrent calls: *slot, or -1 when full. */
enum db_rc
db_gateway_slot(struct req *r, int cap, int *slot)
{
	char		 c[16];
	const char	*v[1] = { c };
	PGresult	*res;
	enum db_rc	 rc;

	*slot = -1;
	snprintf(c, sizeof(c), "%d", cap);
	if ((rc = db_row(r, "SELECT gateway_slot($1::integer)", 1, v,
	    &res)) != DB_OK)
		return rc;
	if (db_get(res, 0, 0) != NULL)
		*slot = (int)db_int(res, 0, 0);
	return DB_OK;
}

enum db_rc
db_gateway_slot_free(struct req *r, int slot)
{
	char		 s[16];
	const char	*v[2] = { r->auth.tenant_id, s };

	snprintf(s, sizeof(s), "%d", slot);
	return db_exec(r, "SELECT gateway_slot_free($1::uuid, $2::integer)",
	    2, v, NULL);
}

#define DB_GATEWAY_RECORD	"INSERT INTO gateway_calls (tenant_id, " \
	"call_id, agent_id, provider, model, stream, status, http_status, " \
	"prompt_tokens, completion_tokens, cached_tokens, usage_reported, " \
	"cost_micros, latency_ms, ttfb_ms) VALUES (app_tenant(), $1, " \
	"$2::uuid, $3, $4, $5::boolean, $6, $7::integer, $8::bigint, " \
	"$9::bigint, $10::bigint, $11::boolean, usage_llm_cost($8, $9, $10, " \
	"$12, $13, $14), $15::integer, $16::integer)"

/* The numbers of a call's record as text, for its statement. */
struct db_gw_args {
	char		 n[9][24];
	const char	*v[16];
};

static void
db_gateway_args(const struct gw_record *g, struct db_gw_args *a)
{
	snprintf(a->n[0], sizeof(a->n[0]), "%ld", g->http_status);
	snprintf(a->n[1], sizeof(a->n[1]), "%lld", g->prompt);
	snprintf(a->n[2], sizeof(a->n[2]), "%lld", g->completion);
	snprintf(a->n[3], sizeof(a->n[3]), "%lld", g->cached);
	snprintf(a->n[4], sizeof(a->n[4]), "%lld", g->plan->prompt_per_mtok);
	snprintf(a->n[5], sizeof(a->n[5]), "%lld",
	    g->plan->completion_per_mtok);
	snprintf(a->n[6], sizeof(a->n[6]), "%lld", g->plan->cached_per_mtok);
	snprintf(a->n[7], sizeof(a->n[7]), "%d", g->latency_ms);
	snprintf(a->n[8], sizeof(a->n[8]), "%d", g->ttfb_ms);
	a->v[0] = g->call_id;
	a->v[1] = g->agent;
	a->v[2] = g->plan->provider;
	a->v[3] = g->plan->model;
	a->v[4] = g->stream ? "t" : "f";
	a->v[5] = g->status;
	a->v[6] = a->n[0];
	a->v[7] = a->n[1];
	a->v[8] = a->n[2];
	a->v[9] = a->n[3];
	a->v[10] = g->usage_reported ? "t" : "f";
	a->v[11] = a->n[4];
	a->v[12] = a->n[5];
	a->v[13] = a->n[6];
	a->v[14] = a->n[7];
	a->v[15] = g->ttfb_ms >= 0 ? a->n[8] : NULL;
}

/* The call's record beside its usage event, its cost by the plan. */
enum db_rc
db_gateway_record(struct req *r, const struct gw_record *g)
{
	struct db_gw_args	 a;

	db_gateway_args(g, &a);
	return db_exec(r, DB_GATEWAY_RECORD, 16, a.v, NULL);
}

/*
 * The settlement, from BEGIN to a durable COMMIT in one round trip (the
 * call's slot first, the usage event, the call's record, the key's last
 * use).  Whatever happens the slot is given back (an advisory unlock
 * outlives a rollback): a refused or failed settlement leaves nothing
 * else, its transaction given up here.  No slot (-1): nothing to unlock.
 */
enum db_rc
db_gateway_settle(struct req *r, const char *events,
    const struct gw_record *g, int slot)
{
	struct db_gw_args	 a;
	struct db_call		 c[5];
	char			 sl[16];
	const char		*sv[2] = { r->auth.tenant_id, sl };
	enum db_rc		 rc;

	db_gateway_args(g, &a);
	snprintf(sl, sizeof(sl), "%d", slot);
	memset(c, 0, sizeof(c));
	c[0].sql = "SELECT gateway_slot_free($1::uuid, $2::integer)";
	c[0].n = 2;
	c[0].vals = sv;
	c[1].sql = "SELECT accepted, duplicates FROM usage_ingest($1::jsonb)";
	c[1].n = 1;
	c[1].vals = &events;
	c[2].sql = DB_GATEWAY_RECORD;
	c[2].n = 16;
	c[2].vals = a.v;
	c[3].sql = "SELECT gateway_key_used($1::uuid)";
	c[3].n = 1;
	c[3].vals = &g->plan->key_id;
	c[4].sql = "COMMIT";
	rc = db_begin_with(r, r->auth.tenant_id, c, 5);
	if (rc == DB_OK && (c[4].res == NULL ||
	    strcmp(PQcmdStatus(c[4].res), "COMMIT") != 0))
		rc = DB_ERROR;
	if (rc == DB_OK) {
		r->in_tx = 0;
		return DB_OK;
	}
	if (r->in_tx)
		db_rollback(r);
	if (slot >= 0 && c[0].res == NULL)
		(void)db_gateway_slot_free(r, slot);
	return rc;
}

/*
 * After a step of a call's end failed: its transaction given up, its
 * slot given back and its hold released in a transaction of its own
 * (what the failed step wrote, the release included, is gone with it).
 */
void
db_gateway_abandon(struct req *r, const char *hold, int slot)
{
	if (r->in_tx)
		db_rollback(r);
	if (slot >= 0)
		(void)db_gateway_slot_free(r, slot);
	if (hold == NULL || db_begin(r, r->auth.tenant_id) != DB_OK)
		return;
	if (db_usage_unhold(r, hold, "released") == DB_OK)
		(void)db_commit(r);
	else
		db_rollback(r);
}

/* The provider refused the key: failing, and the organization told. */
enum db_rc
db_gateway_key_failed(struct req *r, const char *key_id, const char *detail)
{
	const char	*v[2] = { key_id, detail };

	return db_exec(r, "SELECT gateway_key_failed($1::uuid, $2)", 2, v,
	    NULL);
}

enum db_rc
db_gateway_key_used(struct req *r, const char *key_id)
{
	return db_exec(r, "SELECT gateway_key_used($1::uuid)", 1, &key_id,
	    NULL);
}

/* The tenant's models: model, provider, since (a date). */
enum db_rc
db_gateway_models(struct req *r, struct pg_result **res)
{
	return db_exec(r, "SELECT model, provider, extract(epoch FROM "
	    "since)::bigint FROM gateway_models() ORDER BY provider, model",
	    0, NULL, res);
}

/* One of them (the first provider's when two price the same name). */
enum db_rc
db_gateway_model(struct req *r, const char *model, struct pg_result **res)
{
	return db_row(r, "SELECT model, provider, extract(epoch FROM "
	    "since)::bigint FROM gateway_models() WHERE model = $1 ORDER BY "
	    "provider LIMIT 1", 1, &model, res);
}

/*
 * Gateway calls of a period by provider and model: provider, model,
 * calls, failed calls, tokens, cost, median latency (ms).
 */
enum db_rc
db_gateway_usage(struct req *r, const char *start, const char *end,
    struct pg_result **res)
{
	const char	*v[2] = { start, end };

	return db_exec(r, "SELECT provider, model, count(*), count(*) FILTER "
	    "(WHERE status NOT IN ('ok', 'client_gone')), "
	    "sum(prompt_tokens + completion_tokens), sum(cost_micros), "
	    "percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) "
	    "FROM gateway_calls WHERE tenant_id = app_tenant() AND at >= "
	    "$1::timestamptz AND at < $2::timestamptz GROUP BY provider, "
	    "model ORDER BY sum(cost_micros) DESC, provider, model LIMIT 50",
	    2, v, res);
}
