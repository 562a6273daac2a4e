/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The metered LLM gateway (SPEC 6): OpenAI's chat completions on the
 * tenant's own provider keys, reserved before and settled after.
 *
 *  1. plan: the model's provider and prices, the tenant's key, the
 *     agent's budget and the llm_tokens quota left (one statement);
 *  2. max_tokens clamped to what the budget and the quota allow, or 429
 *     when not even GW_MIN_TOKENS fit; the worst case (the prompt's
 *     estimate at the input price plus max_tokens at the output price)
 *     held with usage_reserve() and committed, with one of the tenant's
 *     concurrent-call slots;
 *  3. the provider called with the key opened from the vault (wiped
 *     after), the answer passed on: as it came for OpenAI-shaped
 *     providers, translated from and to Anthropic's messages API;
 *     streams event by event, flushed, with the usage asked for on
 *     every stream and the usage chunk dropped when the client did not
 *     ask for it;
 *  4. settled with one usage event (usage_ingest(), as POST
 *     /usage/events) at the provider's usage, or at the reserved
 *     maximum when a stream ended without it (never at zero), or the
 *     hold released when the provider refused before generating.
 *
 * The answer is set here (auth.c's convention): a stream's head goes
 * out with its first event.  What the handler wrote is committed here
 * too, refusals included: a provider's refusal must still release the
 * hold and record the call.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "tollgate.h"

#define GW_MAX_TOKENS		4096	/* when the client names none */
#define GW_MIN_TOKENS		16	/* less would be no answer at all */
#define GW_HOLD_S		900	/* a call's hold, streams included */
#define GW_ANSWER_MAX		(4 << 20)	/* a non-streamed answer */
#define GW_COST_MAX		1000000000000000LL	/* micro-USD: $1B */
#define GW_TOKENS_MAX		1000000000LL	/* a provider's count, sane */
#define GW_EVENT_MAX		(1 << 20)	/* one server-sent event */
#define GW_DRAIN_BYTES		(1 << 20)	/* read for usage, client gone */
#define GW_DRAIN_MS		30000.0
#define GW_CONNECT_MS		5000L
#define GW_TIMEOUT_MS		300000L
#define GW_ANTHROPIC_VERSION	"2023-06-01"

enum gw_shape {
	GW_OPENAI,		/* chat completions, passed on as they are */
	GW_ANTHROPIC		/* the messages API, translated */
};

struct gw_provider {
	const char	*name;		/* tenant_llm_keys.provider */
	enum gw_shape	 shape;
	size_t		 base;		/* offset of its base URL in conf */
	const char	*path;
};

#define B(f)	offsetof(struct conf, f)
static const struct gw_provider	gw_providers[] = {
	{ "openai", GW_OPENAI, B(llm_openai_base), "/v1/chat/completions" },
	{ "anthropic", GW_ANTHROPIC, B(llm_anthropic_base), "/v1/messages" },
	{ "mistral", GW_OPENAI, B(llm_mistral_base), "/v1/chat/completions" },
	{ "groq", GW_OPENAI, B(llm_groq_base), "/v1/chat/completions" },
	{ "openrouter", GW_OPENAI, B(llm_openrouter_base),
	    "/v1/chat/completions" },
	{ "custom", GW_OPENAI, B(llm_custom_base), "/v1/chat/completions" },
};
#undef B

static CURL	*gw_curl;

/* One call, from the client's body to its settlement. */
struct gw_call {
	struct req		*r;
	const struct gw_provider *pv;
	struct gw_plan		 plan;
	struct json_object	*in;		/* the client's body */
	const char		*agent;
	int			 stream;
	int			 want_usage;	/* the client asked for it */
	const char		*max_field;	/* max_tokens or ..._completion_ */
	long long		 prompt_est;
	long long		 max_tokens;
	long long		 hold_qty, hold_cost;
	const char		*hold;		/* the reservation */
	int			 slot;		/* -1: none taken */
	char			 call_id[40];
	double			 t0, t_first, t_gone;
	/* The provider's answer. */
	long			 status;
	char			 retry_after[16];
	struct buf		 body;		/* non-streamed, or an error */
	struct buf		 ev;		/* the event being received */
	int			 head_sent;
	int			 client_gone;
	int			 done;		/* the stream ended properly */
	long long		 drained;
	int			 cut;		/* curl gave up or was stopped */
	/* Usage, as the provider reported it. */
	int			 have_usage;
	long long		 prompt, completion, cached;
	/* Anthropic streams, translated. */
	char			 msg_id[80];
	long long		 created;
	int			 tools;		/* tool_use blocks so far */
};

/* A string member, or null. */
static void
gw_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v != NULL ? json_object_new_string(v) :
	    NULL);
}

static const struct gw_provider *
gw_provider(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(gw_providers) / sizeof(gw_providers[0]); i++)
		if (strcmp(gw_providers[i].name, name) == 0)
			return &gw_providers[i];
	return NULL;
}

static const char *
gw_base(const struct gw_provider *pv)
{
	return *(char *const *)((const char *)&conf + pv->base);
}

/*
 * An error in OpenAI's shape (which is Tollgate's), with the provider's
 * Retry-After passed on.  The transaction is committed first: what the
 * call recorded stays.
 */
static void
gw_fail(struct gw_call *g, int status, const char *code, const char *msg)
{
	struct req	*r = g->r;

	if (r->in_tx)
		(void)db_commit(r);
	if (g->retry_after[0] != '\0')
		req_header(r, "Retry-After", arena_strdup(&r->arena,
		    g->retry_after));
	req_error(r, status, NULL, code, msg, NULL);
}

/* The text of a message's content: a string, or its text parts. */
static size_t
gw_content_bytes(struct json_object *c)
{
	struct json_object	*part, *t;
	size_t			 i, n = 0;

	if (json_object_is_type(c, json_type_string))
		return (size_t)json_object_get_string_len(c);
	if (!json_object_is_type(c, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(c); i++) {
		part = json_object_array_get_idx(c, i);
		if (json_object_object_get_ex(part, "text", &t) &&
		    json_object_is_type(t, json_type_string))
			n += (size_t)json_object_get_string_len(t);
		else
			/* An image: what the largest costs at Anthropic. */
			n += 2 * 1600;
	}
	return n;
}

/*
 * The prompt's tokens, over- rather than under-estimated (a token is
 * rarely less than two bytes of UTF-8): the hold must cover what the
 * provider will count, or the settlement could pass the budget.
 */
static long long
gw_prompt_estimate(struct json_object *in, struct json_object *msgs)
{
	struct json_object	*m, *c;
	size_t			 i, n = json_object_array_length(msgs);
	long long		 bytes = 0;

	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(msgs, i);
		if (json_object_object_get_ex(m, "content", &c))
			bytes += (long long)gw_content_bytes(c);
		/* A call's name and arguments are prompt when sent back. */
		if (json_object_object_get_ex(m, "tool_calls", &c) && c != NULL)
			bytes += (long long)strlen(
			    json_object_to_json_string_ext(c,
			    JSON_C_TO_STRING_PLAIN));
	}
	/* So are the tools' definitions. */
	if (json_object_object_get_ex(in, "tools", &c) && c != NULL)
		bytes += (long long)strlen(json_object_to_json_string_ext(c,
		    JSON_C_TO_STRING_PLAIN));
	return bytes / 2 + 8 * (long long)n + 16;
}

/* The agent named: X-Tollgate-Agent, or metadata.tollgate_agent. */
static const char *
gw_agent_named(struct req *r, struct json_object *in)
{
	struct json_object	*md, *a;
	const char		*v;

	v = req_env(r, "HTTP_X_TOLLGATE_AGENT");
	if (v == NULL && json_object_object_get_ex(in, "metadata", &md) &&
	    json_object_object_get_ex(md, "tollgate_agent", &a) &&
	    json_object_is_type(a, json_type_string))
		v = json_object_get_string(a);
	return v;
}

static int
gw_agent(struct gw_call *g)
{
	const char	*v;

	if ((v = gw_agent_named(g->r, g->in)) == NULL)
		return 0;
	if (!valid_uuid(v)) {
		req_error(g->r, 400, NULL, "invalid_value", "X-Tollgate-Agent "
		    "must be an agent's id.", "X-Tollgate-Agent");
		return -1;
	}
	g->agent = v;
	return 0;
}

/* The model named, when it is a string of 1 to 200 characters. */
static const char *
gw_model_named(struct json_object *in)
{
	struct json_object	*o;

	if (!json_object_object_get_ex(in, "model", &o) ||
	    !json_object_is_type(o, json_type_string) ||
	    json_object_get_string_len(o) < 1 ||
	    json_object_get_string_len(o) > 200)
		return NULL;
	return json_object_get_string(o);
}

/*
 * The plan travels with the key's binding (route.c, key_with), one round
 * trip fewer, when the model and the agent are well formed; otherwise
 * gw_parse() answers their fault.
 */
void
gateway_key_with(struct req *r, struct db_call *c)
{
	const char	*model, *agent;

	if (r->json == NULL || (model = gw_model_named(r->json)) == NULL)
		return;
	agent = gw_agent_named(r, r->json);
	if (agent != NULL && !valid_uuid(agent))
		return;
	db_gateway_plan_call(r, model, agent, c);
}

/* A positive integer field of the body, or -1 when absent. */
static int
gw_int_field(struct gw_call *g, const char *k, long long max, long long *out)
{
	struct json_object	*o;

	*out = -1;
	if (!json_object_object_get_ex(g->in, k, &o) || o == NULL)
		return 0;
	if (!json_object_is_type(o, json_type_int) ||
	    (*out = json_object_get_int64(o)) < 1 || *out > max) {
		req_error(g->r, 400, NULL, "invalid_value", arena_printf(
		    &g->r->arena, "%s must be an integer from 1 to %lld.", k,
		    max), k);
		return -1;
	}
	return 0;
}

/* A message's content: none, null, text, or an array of part objects. */
static int
gw_content_ok(struct json_object *msg)
{
	struct json_object	*c;
	size_t			 i;

	if (!json_object_object_get_ex(msg, "content", &c) || c == NULL ||
	    json_object_is_type(c, json_type_string))
		return 1;
	if (!json_object_is_type(c, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(c); i++)
		if (!json_object_is_type(json_object_array_get_idx(c, i),
		    json_type_object))
			return 0;
	return 1;
}

/*
 * The fields the gateway reads (model, messages, stream, max_tokens);
 * the rest goes to the provider as it is.
 */
static int
gw_parse(struct gw_call *g)
{
	struct json_object	*o, *m;
	struct req		*r = g->r;
	long long		 a, b;
	size_t			 i, n;

	if (gw_model_named(g->in) == NULL) {
		req_error(r, 400, NULL, "invalid_value", "model must name a "
		    "model (1 to 200 characters).", "model");
		return -1;
	}
	if (!json_object_object_get_ex(g->in, "messages", &m) ||
	    !json_object_is_type(m, json_type_array) ||
	    (n = json_object_array_length(m)) < 1 || n > 10000) {
		req_error(r, 400, NULL, "invalid_value", "messages must be an "
		    "array of 1 to 10000 messages.", "messages");
		return -1;
	}
	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(m, i);
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_is_type(json_object_object_get(o, "role"),
		    json_type_string) || !gw_content_ok(o)) {
			req_error(r, 400, NULL, "invalid_value", arena_printf(
			    &r->arena, "messages[%zu] must be an object with "
			    "a role, and a content that is text or an array "
			    "of parts.", i), "messages");
			return -1;
		}
	}
	if (json_object_object_get_ex(g->in, "metadata", &o) && o != NULL &&
	    !json_object_is_type(o, json_type_object)) {
		req_error(r, 400, NULL, "invalid_type", "metadata must be an "
		    "object.", "metadata");
		return -1;
	}
	if (json_object_object_get_ex(g->in, "stream", &o) && o != NULL) {
		if (!json_object_is_type(o, json_type_boolean)) {
			req_error(r, 400, NULL, "invalid_type", "stream must "
			    "be true or false.", "stream");
			return -1;
		}
		g->stream = json_object_get_boolean(o);
	}
	if (json_object_object_get_ex(g->in, "stream_options", &o) &&
	    json_object_object_get_ex(o, "include_usage", &o))
		g->want_usage = json_object_get_boolean(o);
	if (json_object_object_get_ex(g->in, "n", &o) &&
	    json_object_get_int64(o) != 1) {
		req_error(r, 400, NULL, "invalid_value", "n must be 1: the "
		    "gateway meters one choice a call.", "n");
		return -1;
	}
	if (gw_int_field(g, "max_tokens", 1000000, &a) == -1 ||
	    gw_int_field(g, "max_completion_tokens", 1000000, &b) == -1)
		return -1;
	/* NULL: the client named no limit (gw_body_openai() picks one). */
	g->max_field = b > 0 ? "max_completion_tokens" : a > 0 ?
	    "max_tokens" : NULL;
	g->max_tokens = b > 0 ? b : a > 0 ? a : GW_MAX_TOKENS;
	g->prompt_est = gw_prompt_estimate(g->in, m);
	return gw_agent(g);
}

/*
 * Micro-USD of n tokens at a price per million, rounded up, and at most
 * GW_COST_MAX: an organization's price (to $1M per Mtok) times a huge
 * prompt must not wrap round to a negative hold.
 */
static long long
gw_micros(long long n, long long per_mtok)
{
	long long	 p;

	if (n <= 0 || per_mtok <= 0)
		return 0;
	if (__builtin_mul_overflow(n, per_mtok, &p) ||
	    p / 1000000 >= GW_COST_MAX)
		return GW_COST_MAX;
	return (p + 999999) / 1000000;
}

/* The tokens "left" micro-USD pay for at per_mtok, without wrapping. */
static long long
gw_affordable(long long left, long long per_mtok)
{
	long long	 q = left / per_mtok;

	if (left < 0)
		return -1;
	if (q > LLONG_MAX / 1000000 - 1)
		return LLONG_MAX;
	return q * 1000000 + left % per_mtok * 1000000 / per_mtok;
}

/*
 * The budget or the quota cannot hold a minimal call: answered as the
 * reservation's refusal of the same limit is (db.c), with the agent or
 * the metric at fault.
 */
static void
gw_refuse_limit(struct gw_call *g, const char *why)
{
	struct json_object	*e = json_object_new_object();
	int			 budget = strcmp(why, "budget_exceeded") == 0;

	json_object_object_add(e, budget ? "agent_id" : "metric",
	    json_object_new_string(budget ? g->agent : "llm_tokens"));
	req_error_with(g->r, 429, "quota_exceeded", why, budget ?
	    "The agent's budget cannot pay for this prompt and a minimal "
	    "answer." : "The plan's llm_tokens quota for this period cannot "
	    "hold this prompt and a minimal answer.", budget ? "agent_id" :
	    "metric", NULL, e);
}

/*
 * max_tokens within what the agent's budget and the period's quota
 * leave after the prompt; 429 when not even GW_MIN_TOKENS fit.
 */
static int
gw_clamp(struct gw_call *g)
{
	const struct gw_plan	*p = &g->plan;
	long long		 fit = g->max_tokens, left;
	const char		*why = NULL;

	if (p->tokens_left >= 0 && p->tokens_left - g->prompt_est < fit) {
		fit = p->tokens_left - g->prompt_est;
		why = "quota_exceeded";
	}
	if (p->budget_left >= 0 && p->completion_per_mtok > 0) {
		left = gw_affordable(p->budget_left - gw_micros(g->prompt_est,
		    p->prompt_per_mtok), p->completion_per_mtok);
		if (left < fit) {
			fit = left;
			why = "budget_exceeded";
		}
	}
	/* The client's own small max_tokens is its business. */
	if (why != NULL && (fit < GW_MIN_TOKENS || fit < 1)) {
		gw_refuse_limit(g, why);
		return -1;
	}
	if (fit < g->max_tokens) {
		g->max_tokens = fit;
		req_header(g->r, "X-Tollgate-Max-Tokens", arena_printf(
		    &g->r->arena, "%lld", fit));
	}
	g->hold_qty = g->prompt_est + g->max_tokens;
	g->hold_cost = gw_micros(g->prompt_est, p->prompt_per_mtok) +
	    gw_micros(g->max_tokens, p->completion_per_mtok);
	return 0;
}

/* The plan, its refusals answered; 0 when the call may go on. */
static int
gw_plan(struct gw_call *g, const char *model)
{
	struct req	*r = g->r;
	enum db_rc	 rc;

	/* Planned with the key's binding (gateway_key_with()), or now. */
	rc = r->key_with != NULL ? db_gateway_plan_read(r->key_with,
	    &g->plan) : db_gateway_plan(r, model, g->agent, &g->plan);
	if (rc == DB_NOTFOUND) {
		req_error(r, 400, NULL, "unknown_model", arena_printf(
		    &r->arena, "There is no price for the model %s: the "
		    "gateway meters only the models it can price.", model),
		    "model");
		return -1;
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	if (g->agent != NULL && !g->plan.agent_found) {
		req_error(r, 404, NULL, "agent_not_found", "There is no such "
		    "agent.", "X-Tollgate-Agent");
		return -1;
	}
	if (g->agent != NULL && !g->plan.agent_active) {
		req_error(r, 409, NULL, "agent_inactive", "The agent is "
		    "deactivated.", "X-Tollgate-Agent");
		return -1;
	}
	if ((g->pv = gw_provider(g->plan.provider)) == NULL ||
	    gw_base(g->pv) == NULL) {
		req_error(r, 400, NULL, "provider_unsupported", arena_printf(
		    &r->arena, "The gateway does not call %s.",
		    g->plan.provider), "model");
		return -1;
	}
	if (g->plan.key_id == NULL) {
		req_error(r, 400, NULL, "provider_key_missing", arena_printf(
		    &r->arena, "No %s key is stored for this organization: "
		    "add one on the Keys page.", g->plan.provider), "model");
		return -1;
	}
	return gw_clamp(g);
}

/*
 * The hold and a call slot, committed before the provider is called, in
 * one round trip (db_gateway_hold(): a refusal of either undoes both).
 */
static int
gw_hold(struct gw_call *g)
{
	struct req	*r = g->r;
	enum db_rc	 rc;

	if ((rc = db_gateway_hold(r, g->hold_qty, g->agent, g->hold_cost,
	    GW_HOLD_S, conf.gateway_tenant_streams, &g->hold, &g->slot)) !=
	    DB_OK) {
		if (rc == DB_REFUSED && r->refusal_code != NULL &&
		    strcmp(r->refusal_code, "concurrency_limit") == 0)
			req_header(r, "Retry-After", "1");
		req_error_from_db(r, rc);
		return -1;
	}
	return 0;
}

/* The model's name at its provider ("anthropic/x" is x there). */
static const char *
gw_model_name(const struct gw_call *g)
{
	return g->plan.model;
}

/* The body for an OpenAI-shaped provider: the client's, adjusted. */
static char *
gw_body_openai(struct gw_call *g)
{
	struct json_object	*o = NULL, *so, *md;
	char			*out;

	if (json_object_deep_copy(g->in, &o, NULL) != 0)
		return NULL;
	json_object_object_add(o, "model",
	    json_object_new_string(gw_model_name(g)));
	json_object_object_del(o, "max_tokens");
	json_object_object_del(o, "max_completion_tokens");
	/* OpenAI's reasoning models refuse max_tokens; all take this. */
	json_object_object_add(o, g->max_field != NULL ? g->max_field :
	    strcmp(g->plan.provider, "openai") == 0 ? "max_completion_tokens" :
	    "max_tokens", json_object_new_int64(g->max_tokens));
	if (g->stream) {
		so = json_object_new_object();
		json_object_object_add(so, "include_usage",
		    json_object_new_boolean(1));
		json_object_object_add(o, "stream_options", so);
	}
	if (json_object_object_get_ex(o, "metadata", &md) &&
	    json_object_is_type(md, json_type_object)) {
		json_object_object_del(md, "tollgate_agent");
		if (json_object_object_length(md) == 0)
			json_object_object_del(o, "metadata");
	}
	out = arena_strdup(&g->r->arena, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}

/*
 * An OpenAI image part as Anthropic's image block: a data URL of one of
 * the four image types Anthropic takes, in base64, or an https URL.
 * NULL when it is neither.
 */
static struct json_object *
gw_anthropic_image(struct json_object *part)
{
	static const char *const	 types[] = { "image/jpeg", "image/png",
	    "image/gif", "image/webp" };
	struct json_object		*b, *src;
	const char			*url, *semi;
	size_t				 i, n;

	if ((url = http_json_text(part, "image_url.url")) == NULL)
		return NULL;
	src = json_object_new_object();
	if (strncmp(url, "https://", 8) == 0) {
		gw_str(src, "type", "url");
		gw_str(src, "url", url);
	} else if (strncmp(url, "data:", 5) == 0 &&
	    (semi = strchr(url, ';')) != NULL &&
	    strncmp(semi, ";base64,", 8) == 0 && semi[8] != '\0') {
		n = (size_t)(semi - url - 5);
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strlen(types[i]) == n &&
			    strncmp(url + 5, types[i], n) == 0)
				break;
		if (i == sizeof(types) / sizeof(types[0])) {
			json_object_put(src);
			return NULL;
		}
		gw_str(src, "type", "base64");
		gw_str(src, "media_type", types[i]);
		gw_str(src, "data", semi + 8);
	} else {
		json_object_put(src);
		return NULL;
	}
	b = json_object_new_object();
	gw_str(b, "type", "image");
	json_object_object_add(b, "source", src);
	return b;
}

/*
 * Text and image parts of an OpenAI content as Anthropic's; -1: a kind
 * it lacks, or an image it cannot take.
 */
static int
gw_anthropic_content(struct json_object *c, struct json_object **out)
{
	struct json_object	*arr, *part, *t, *p;
	const char		*ty_s;
	size_t			 i;

	if (json_object_is_type(c, json_type_string)) {
		*out = json_object_get(c);
		return 0;
	}
	if (!json_object_is_type(c, json_type_array))
		return -1;
	arr = json_object_new_array();
	for (i = 0; i < json_object_array_length(c); i++) {
		part = json_object_array_get_idx(c, i);
		ty_s = http_json_text(part, "type");
		if (ty_s != NULL && strcmp(ty_s, "image_url") == 0 &&
		    (p = gw_anthropic_image(part)) != NULL) {
			json_object_array_add(arr, p);
			continue;
		}
		if (ty_s == NULL || strcmp(ty_s, "text") != 0 ||
		    !json_object_object_get_ex(part, "text", &t)) {
			json_object_put(arr);
			return -1;
		}
		p = json_object_new_object();
		json_object_object_add(p, "type",
		    json_object_new_string("text"));
		json_object_object_add(p, "text", json_object_get(t));
		json_object_array_add(arr, p);
	}
	*out = arr;
	return 0;
}

/* A 400 about the body sent to Anthropic; -1. */
static int
gw_anthropic_bad(struct gw_call *g, const char *param, const char *msg)
{
	req_error(g->r, 400, NULL, "invalid_value", msg, param);
	return -1;
}

/*
 * OpenAI's tools, tool_choice and parallel_tool_calls as Anthropic's
 * tools (name, description, input_schema) and tool_choice, into o.
 */
static int
gw_anthropic_tools(struct gw_call *g, struct json_object *o)
{
	struct json_object	*tools, *t, *f, *out, *a, *v, *tc = NULL;
	const char		*ty, *name;
	size_t			 i;

	if (json_object_object_get_ex(g->in, "tools", &tools) &&
	    tools != NULL) {
		if (!json_object_is_type(tools, json_type_array))
			return gw_anthropic_bad(g, "tools", "tools must be an "
			    "array of functions.");
		out = json_object_new_array();
		json_object_object_add(o, "tools", out);
		for (i = 0; i < json_object_array_length(tools); i++) {
			t = json_object_array_get_idx(tools, i);
			if ((ty = http_json_text(t, "type")) == NULL ||
			    strcmp(ty, "function") != 0 ||
			    !json_object_object_get_ex(t, "function", &f) ||
			    (name = http_json_text(f, "name")) == NULL)
				return gw_anthropic_bad(g, "tools",
				    arena_printf(&g->r->arena, "tools[%zu] "
				    "must be {\"type\": \"function\", "
				    "\"function\": {\"name\": ...}}.", i));
			a = json_object_new_object();
			json_object_object_add(a, "name",
			    json_object_new_string(name));
			if (json_object_object_get_ex(f, "description", &v) &&
			    json_object_is_type(v, json_type_string))
				json_object_object_add(a, "description",
				    json_object_get(v));
			if (json_object_object_get_ex(f, "parameters", &v) &&
			    json_object_is_type(v, json_type_object))
				json_object_object_add(a, "input_schema",
				    json_object_get(v));
			else {
				v = json_object_new_object();
				json_object_object_add(v, "type",
				    json_object_new_string("object"));
				json_object_object_add(a, "input_schema", v);
			}
			json_object_array_add(out, a);
		}
	}
	if (json_object_object_get_ex(g->in, "tool_choice", &v) && v != NULL) {
		ty = json_object_is_type(v, json_type_string) ?
		    json_object_get_string(v) : NULL;
		name = ty == NULL ? http_json_text(v, "function.name") : NULL;
		tc = json_object_new_object();
		json_object_object_add(o, "tool_choice", tc);
		if (ty != NULL && (strcmp(ty, "auto") == 0 ||
		    strcmp(ty, "none") == 0))
			json_object_object_add(tc, "type",
			    json_object_new_string(ty));
		else if (ty != NULL && strcmp(ty, "required") == 0)
			json_object_object_add(tc, "type",
			    json_object_new_string("any"));
		else if (name != NULL) {
			json_object_object_add(tc, "type",
			    json_object_new_string("tool"));
			json_object_object_add(tc, "name",
			    json_object_new_string(name));
		} else
			return gw_anthropic_bad(g, "tool_choice", "tool_choice "
			    "must be \"auto\", \"none\", \"required\" or "
			    "{\"type\": \"function\", \"function\": {\"name\": "
			    "...}}.");
	}
	/* parallel_tool_calls: false is Anthropic's disable_parallel_... */
	if (json_object_object_get(o, "tools") != NULL &&
	    json_object_object_get_ex(g->in, "parallel_tool_calls", &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    !json_object_get_boolean(v)) {
		if (tc == NULL) {
			tc = json_object_new_object();
			json_object_object_add(tc, "type",
			    json_object_new_string("auto"));
			json_object_object_add(o, "tool_choice", tc);
		}
		if (strcmp(http_json_text(tc, "type"), "none") != 0)
			json_object_object_add(tc, "disable_parallel_tool_use",
			    json_object_new_boolean(1));
	}
	return 0;
}

/*
 * An assistant message's tool calls as Anthropic's tool_use blocks,
 * after its text (if any): the arguments must be a JSON object.
 */
static int
gw_anthropic_calls(struct gw_call *g, size_t at, struct json_object *calls,
    struct json_object *text, struct json_object *blocks)
{
	struct json_object	*tc, *b, *in, *p;
	const char		*id, *name, *args;
	size_t			 i;

	if (json_object_is_type(text, json_type_string) &&
	    json_object_get_string_len(text) > 0) {
		b = json_object_new_object();
		gw_str(b, "type", "text");
		json_object_object_add(b, "text", json_object_get(text));
		json_object_array_add(blocks, b);
	} else if (json_object_is_type(text, json_type_array)) {
		if (gw_anthropic_content(text, &p) == -1)
			return gw_anthropic_bad(g, "messages", arena_printf(
			    &g->r->arena, "messages[%zu]: Anthropic's models "
			    "take text content only through the gateway.", at));
		for (i = 0; i < json_object_array_length(p); i++)
			json_object_array_add(blocks, json_object_get(
			    json_object_array_get_idx(p, i)));
		json_object_put(p);
	}
	for (i = 0; i < json_object_array_length(calls); i++) {
		tc = json_object_array_get_idx(calls, i);
		if ((id = http_json_text(tc, "id")) == NULL ||
		    (name = http_json_text(tc, "function.name")) == NULL ||
		    (args = http_json_text(tc, "function.arguments")) == NULL ||
		    (in = http_json_parse(args, strlen(args),
		    REQ_JSON_DEPTH)) == NULL)
			return gw_anthropic_bad(g, "messages", arena_printf(
			    &g->r->arena, "messages[%zu].tool_calls[%zu] needs "
			    "an id, function.name and function.arguments, a "
			    "JSON object as a string.", at, i));
		if (!json_object_is_type(in, json_type_object)) {
			json_object_put(in);
			return gw_anthropic_bad(g, "messages", arena_printf(
			    &g->r->arena, "messages[%zu].tool_calls[%zu]."
			    "function.arguments must be a JSON object.", at,
			    i));
		}
		b = json_object_new_object();
		json_object_object_add(b, "type",
		    json_object_new_string("tool_use"));
		json_object_object_add(b, "id", json_object_new_string(id));
		json_object_object_add(b, "name", json_object_new_string(name));
		json_object_object_add(b, "input", in);
		json_object_array_add(blocks, b);
	}
	return 0;
}

/*
 * One OpenAI message as Anthropic's, appended to msgs; system text to
 * sys.  A "tool" message is a tool_result block, and consecutive ones
 * share one user message (*results), as Anthropic wants them.
 */
static int
gw_anthropic_message(struct gw_call *g, size_t i, struct json_object *nm,
    struct json_object *msgs, struct buf *sys, struct json_object **results)
{
	struct json_object	*c = NULL, *content, *v, *calls, *b;
	const char		*rs, *id;
	int			 tool_calls;

	rs = json_object_get_string(json_object_object_get(nm, "role"));
	(void)json_object_object_get_ex(nm, "content", &c);
	tool_calls = strcmp(rs, "assistant") == 0 &&
	    json_object_object_get_ex(nm, "tool_calls", &calls) &&
	    json_object_is_type(calls, json_type_array) &&
	    json_object_array_length(calls) > 0;
	if (strcmp(rs, "tool") == 0) {
		if ((id = http_json_text(nm, "tool_call_id")) == NULL ||
		    gw_anthropic_content(c, &content) == -1)
			return gw_anthropic_bad(g, "messages", arena_printf(
			    &g->r->arena, "messages[%zu]: a tool message needs "
			    "tool_call_id and text content.", i));
		b = json_object_new_object();
		json_object_object_add(b, "type",
		    json_object_new_string("tool_result"));
		json_object_object_add(b, "tool_use_id",
		    json_object_new_string(id));
		json_object_object_add(b, "content", content);
		if (*results == NULL) {
			*results = json_object_new_array();
			v = json_object_new_object();
			json_object_object_add(v, "role",
			    json_object_new_string("user"));
			json_object_object_add(v, "content", *results);
			json_object_array_add(msgs, v);
		}
		json_object_array_add(*results, b);
		return 0;
	}
	*results = NULL;
	if (tool_calls) {
		content = json_object_new_array();
		if (gw_anthropic_calls(g, i, calls, c, content) == -1) {
			json_object_put(content);
			return -1;
		}
	} else if (gw_anthropic_content(c, &content) == -1)
		return gw_anthropic_bad(g, "messages", arena_printf(
		    &g->r->arena, "messages[%zu]: Anthropic's models take "
		    "text, images (a base64 data URL of JPEG, PNG, GIF or "
		    "WebP, or an https URL) and tool calls through the "
		    "gateway.", i));
	if (strcmp(rs, "system") == 0 || strcmp(rs, "developer") == 0) {
		if (!json_object_is_type(content, json_type_string)) {
			json_object_put(content);
			return gw_anthropic_bad(g, "messages", arena_printf(
			    &g->r->arena, "messages[%zu]: a system message "
			    "must be text.", i));
		}
		buf_printf(sys, "%s%s", sys->len > 0 ? "\n\n" : "",
		    json_object_get_string(content));
		json_object_put(content);
		return 0;
	}
	v = json_object_new_object();
	json_object_object_add(v, "role", json_object_new_string(
	    strcmp(rs, "assistant") == 0 ? "assistant" : "user"));
	json_object_object_add(v, "content", content);
	json_object_array_add(msgs, v);
	return 0;
}

/*
 * The body for Anthropic's messages API: system messages joined into
 * "system", the others with their text and tool calls, tools and
 * tool_choice translated, max_tokens required, stop as stop_sequences.
 * NULL with the 400 answered.
 */
static char *
gw_body_anthropic(struct gw_call *g)
{
	struct json_object	*o, *msgs, *m, *c, *v, *results = NULL;
	struct buf		 sys;
	char			*out = NULL;
	size_t			 i;

	o = json_object_new_object();
	msgs = json_object_new_array();
	buf_init(&sys, GW_ANSWER_MAX);
	json_object_object_get_ex(g->in, "messages", &m);
	for (i = 0; i < json_object_array_length(m); i++)
		if (gw_anthropic_message(g, i, json_object_array_get_idx(m, i),
		    msgs, &sys, &results) == -1)
			goto done;
	json_object_object_add(o, "model",
	    json_object_new_string(gw_model_name(g)));
	json_object_object_add(o, "max_tokens",
	    json_object_new_int64(g->max_tokens));
	if (sys.len > 0)
		json_object_object_add(o, "system",
		    json_object_new_string_len(sys.p, (int)sys.len));
	json_object_object_add(o, "messages", msgs);
	msgs = NULL;
	if (gw_anthropic_tools(g, o) == -1)
		goto done;
	if (g->stream)
		json_object_object_add(o, "stream", json_object_new_boolean(1));
	if (json_object_object_get_ex(g->in, "temperature", &v))
		json_object_object_add(o, "temperature", json_object_get(v));
	if (json_object_object_get_ex(g->in, "top_p", &v))
		json_object_object_add(o, "top_p", json_object_get(v));
	if (json_object_object_get_ex(g->in, "stop", &v) && v != NULL) {
		if (json_object_is_type(v, json_type_string)) {
			c = json_object_new_array();
			json_object_array_add(c, json_object_get(v));
			json_object_object_add(o, "stop_sequences", c);
		} else
			json_object_object_add(o, "stop_sequences",
			    json_object_get(v));
	}
	out = arena_strdup(&g->r->arena, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
done:
	json_object_put(msgs);
	json_object_put(o);
	buf_free(&sys);
	return out;
}

/* --- the answer to the client ---------------------------------------- */

/* Bytes to the client; a failure means the client went away. */
static void
gw_send(struct gw_call *g, const char *p, size_t n)
{
	if (g->client_gone)
		return;
	if (req_stream_write(g->r, p, n) == -1 ||
	    req_stream_flush(g->r) == -1) {
		g->client_gone = 1;
		g->t_gone = util_now_ms();
		log_info("gateway: the client went away after %.0f ms; "
		    "reading on for the usage", g->t_gone - g->t0);
	}
}

/* The stream's head: 200, text/event-stream, nothing buffered. */
static void
gw_stream_head(struct gw_call *g)
{
	struct req	*r = g->r;

	if (g->head_sent)
		return;
	g->head_sent = 1;
	r->status = 200;
	r->content_type_out = "text/event-stream";
	req_header(r, "Cache-Control", "no-cache");
	req_header(r, "X-Accel-Buffering", "no");
	if (req_stream_head(r) == -1 || req_stream_flush(r) == -1) {
		g->client_gone = 1;
		g->t_gone = util_now_ms();
	}
}

/* One event to the client: "data: <json>\n\n". */
static void
gw_send_data(struct gw_call *g, const char *data, size_t n)
{
	gw_stream_head(g);
	gw_send(g, "data: ", 6);
	gw_send(g, data, n);
	gw_send(g, "\n\n", 2);
}

static void
gw_send_json(struct gw_call *g, struct json_object *o)
{
	const char	*s;

	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	gw_send_data(g, s, strlen(s));
	json_object_put(o);
}

/* OpenAI's usage object into the call. */
static void
gw_usage_openai(struct gw_call *g, struct json_object *u)
{
	g->have_usage = 1;
	g->prompt = http_json_int(u, "prompt_tokens", 0);
	g->completion = http_json_int(u, "completion_tokens", 0);
	g->cached = http_json_int(u, "prompt_tokens_details.cached_tokens", 0);
}

/*
 * One event of an OpenAI-shaped stream: passed on as it came, but for
 * the usage chunk (no choices) when the client did not ask for it.
 */
static void
gw_event_openai(struct gw_call *g, const char *data, size_t n)
{
	struct json_object	*o, *u, *ch;
	const char		*p;
	int			 drop = 0;

	if (n == 6 && memcmp(data, "[DONE]", 6) == 0) {
		g->done = 1;
		gw_send_data(g, data, n);
		return;
	}
	/* Only a chunk that carries usage is parsed. */
	p = memmem(data, n, "\"usage\"", 7);
	while (p != NULL && (size_t)(p - data) + 7 < n &&
	    (p[7] == ' ' || p[7] == ':'))
		p++;
	if (p != NULL && (size_t)(p - data) + 7 < n && p[7] == '{' &&
	    (o = http_json_parse(data, n, REQ_JSON_DEPTH * 2)) != NULL) {
		if (json_object_object_get_ex(o, "usage", &u) &&
		    json_object_is_type(u, json_type_object)) {
			gw_usage_openai(g, u);
			drop = !g->want_usage && json_object_object_get_ex(o,
			    "choices", &ch) && json_object_is_type(ch,
			    json_type_array) && json_object_array_length(ch) == 0;
		}
		json_object_put(o);
	}
	if (drop)
		return;
	/*
	 * Asked for usage on the client's behalf, the provider adds
	 * "usage":null to every chunk; a client that did not ask sees the
	 * chunks as it would without it.
	 */
	if (!g->want_usage && (p = memmem(data, n, ",\"usage\":null",
	    13)) != NULL) {
		gw_stream_head(g);
		gw_send(g, "data: ", 6);
		gw_send(g, data, (size_t)(p - data));
		gw_send(g, p + 13, n - (size_t)(p - data) - 13);
		gw_send(g, "\n\n", 2);
		return;
	}
	gw_send_data(g, data, n);
}

/* A chat.completion.chunk of the translated Anthropic stream. */
static struct json_object *
gw_chunk(struct gw_call *g, struct json_object *delta, const char *finish)
{
	struct json_object	*o, *ch, *c;

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(g->msg_id));
	json_object_object_add(o, "object",
	    json_object_new_string("chat.completion.chunk"));
	json_object_object_add(o, "created",
	    json_object_new_int64(g->created));
	json_object_object_add(o, "model",
	    json_object_new_string(gw_model_name(g)));
	ch = json_object_new_array();
	if (delta != NULL) {
		c = json_object_new_object();
		json_object_object_add(c, "index", json_object_new_int(0));
		json_object_object_add(c, "delta", delta);
		json_object_object_add(c, "finish_reason", finish != NULL ?
		    json_object_new_string(finish) : NULL);
		json_object_array_add(ch, c);
	}
	json_object_object_add(o, "choices", ch);
	return o;
}

static struct json_object *
gw_usage_json(const struct gw_call *g)
{
	struct json_object	*u, *d;

	u = json_object_new_object();
	json_object_object_add(u, "prompt_tokens",
	    json_object_new_int64(g->prompt));
	json_object_object_add(u, "completion_tokens",
	    json_object_new_int64(g->completion));
	json_object_object_add(u, "total_tokens",
	    json_object_new_int64(g->prompt + g->completion));
	d = json_object_new_object();
	json_object_object_add(d, "cached_tokens",
	    json_object_new_int64(g->cached));
	json_object_object_add(u, "prompt_tokens_details", d);
	return u;
}

/* Anthropic's stop reason as OpenAI's finish reason. */
static const char *
gw_finish(const char *stop)
{
	if (stop == NULL)
		return "stop";
	if (strcmp(stop, "max_tokens") == 0)
		return "length";
	if (strcmp(stop, "tool_use") == 0)
		return "tool_calls";
	return "stop";
}

/* Anthropic's input usage: cached reads are input too. */
static void
gw_usage_anthropic_in(struct gw_call *g, struct json_object *u)
{
	g->cached = http_json_int(u, "cache_read_input_tokens", 0);
	g->prompt = http_json_int(u, "input_tokens", 0) + g->cached +
	    http_json_int(u, "cache_creation_input_tokens", 0);
}

/*
 * Anthropic's tool_use block as OpenAI's tool call: the input object
 * as the arguments string.  index >= 0: a stream's first delta of it
 * (with its index, and empty arguments that the deltas fill).
 */
static struct json_object *
gw_tool_call(struct json_object *block, int index)
{
	struct json_object	*c, *f, *in;
	const char		*s;

	c = json_object_new_object();
	if (index >= 0)
		json_object_object_add(c, "index", json_object_new_int(index));
	gw_str(c, "id", (s = http_json_text(block, "id")) != NULL ? s : "");
	gw_str(c, "type", "function");
	f = json_object_new_object();
	gw_str(f, "name", (s = http_json_text(block, "name")) != NULL ? s :
	    "");
	in = http_json_at(block, "input");
	gw_str(f, "arguments", index >= 0 ? "" : in != NULL ?
	    json_object_to_json_string_ext(in, JSON_C_TO_STRING_PLAIN) : "{}");
	json_object_object_add(c, "function", f);
	return c;
}

/* A stream's chunk carrying one tool call's delta. */
static struct json_object *
gw_tool_delta(struct gw_call *g, struct json_object *call)
{
	struct json_object	*d, *arr;

	d = json_object_new_object();
	arr = json_object_new_array();
	json_object_array_add(arr, call);
	json_object_object_add(d, "tool_calls", arr);
	return gw_chunk(g, d, NULL);
}

/* One event of Anthropic's stream, translated to OpenAI's chunks. */
static void
gw_event_anthropic(struct gw_call *g, const char *data, size_t n)
{
	struct json_object	*o, *d, *f;
	const char		*type, *s;

	if ((o = http_json_parse(data, n, REQ_JSON_DEPTH * 2)) == NULL)
		return;
	if ((type = http_json_text(o, "type")) == NULL)
		goto done;
	if (strcmp(type, "message_start") == 0) {
		snprintf(g->msg_id, sizeof(g->msg_id), "chatcmpl-%s",
		    (s = http_json_text(o, "message.id")) != NULL ? s : "0");
		if ((d = http_json_at(o, "message.usage")) != NULL)
			gw_usage_anthropic_in(g, d);
		d = json_object_new_object();
		json_object_object_add(d, "role",
		    json_object_new_string("assistant"));
		json_object_object_add(d, "content", json_object_new_string(""));
		gw_send_json(g, gw_chunk(g, d, NULL));
	} else if (strcmp(type, "content_block_start") == 0 &&
	    (s = http_json_text(o, "content_block.type")) != NULL &&
	    strcmp(s, "tool_use") == 0) {
		gw_send_json(g, gw_tool_delta(g, gw_tool_call(http_json_at(o,
		    "content_block"), g->tools++)));
	} else if (strcmp(type, "content_block_delta") == 0 &&
	    (s = http_json_text(o, "delta.partial_json")) != NULL &&
	    g->tools > 0) {
		/* Blocks come one after another: the deltas are the last's. */
		d = json_object_new_object();
		json_object_object_add(d, "index",
		    json_object_new_int(g->tools - 1));
		f = json_object_new_object();
		gw_str(f, "arguments", s);
		json_object_object_add(d, "function", f);
		gw_send_json(g, gw_tool_delta(g, d));
	} else if (strcmp(type, "content_block_delta") == 0 &&
	    (s = http_json_text(o, "delta.text")) != NULL) {
		d = json_object_new_object();
		json_object_object_add(d, "content", json_object_new_string(s));
		gw_send_json(g, gw_chunk(g, d, NULL));
	} else if (strcmp(type, "message_delta") == 0) {
		g->have_usage = 1;
		g->completion = http_json_int(o, "usage.output_tokens", 0);
		gw_send_json(g, gw_chunk(g, json_object_new_object(),
		    gw_finish(http_json_text(o, "delta.stop_reason"))));
	} else if (strcmp(type, "message_stop") == 0) {
		if (g->want_usage) {
			d = gw_chunk(g, NULL, NULL);
			json_object_object_add(d, "usage", gw_usage_json(g));
			gw_send_json(g, d);
		}
		g->done = 1;
		gw_send_data(g, "[DONE]", 6);
	}
done:
	json_object_put(o);
}

/* A complete server-sent event: its data lines, handled. */
static void
gw_event(struct gw_call *g, char *ev, size_t n)
{
	struct buf	 data;
	char		*line, *end, *stop = ev + n;

	buf_init(&data, GW_EVENT_MAX);
	for (line = ev; line < stop; line = end + 1) {
		if ((end = memchr(line, '\n', (size_t)(stop - line))) == NULL)
			end = stop;
		if (end > line && end[-1] == '\r')
			end[-1] = '\0';
		*end = '\0';
		if (strncmp(line, "data:", 5) == 0) {
			if (data.len > 0)
				buf_append(&data, "\n", 1);
			line += line[5] == ' ' ? 6 : 5;
			buf_append(&data, line, strlen(line));
		}
	}
	if (data.len > 0) {
		if (g->pv->shape == GW_ANTHROPIC)
			gw_event_anthropic(g, data.p, data.len);
		else
			gw_event_openai(g, data.p, data.len);
	}
	buf_free(&data);
}

/* Stream bytes: split into events at their blank lines. */
static int
gw_stream_bytes(struct gw_call *g, const char *p, size_t n)
{
	char	*sep;
	size_t	 used;

	if (buf_append(&g->ev, p, n) == -1)
		return -1;
	for (;;) {
		sep = NULL;
		for (used = 0; used + 1 < g->ev.len; used++)
			if (g->ev.p[used] == '\n' && (g->ev.p[used + 1] == '\n' ||
			    (g->ev.p[used + 1] == '\r' && used + 2 < g->ev.len &&
			    g->ev.p[used + 2] == '\n'))) {
				sep = g->ev.p + used;
				break;
			}
		if (sep == NULL)
			return 0;
		gw_event(g, g->ev.p, (size_t)(sep - g->ev.p));
		used = (size_t)(sep - g->ev.p) + (sep[1] == '\r' ? 3 : 2);
		memmove(g->ev.p, g->ev.p + used, g->ev.len - used);
		g->ev.len -= used;
	}
}

/* libcurl's sink: the provider's answer as it arrives. */
static size_t
gw_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct gw_call	*g = arg;
	size_t		 n = size * nmemb;

	if (g->t_first == 0)
		g->t_first = util_now_ms();
	if (g->status == 0)
		return 0;
	if (!g->stream || g->status != 200)
		return buf_append(&g->body, p, n) == -1 ? 0 : n;
	if (g->client_gone) {
		g->drained += (long long)n;
		/* Enough read, or the usage came: stop. */
		if (g->have_usage || g->drained > GW_DRAIN_BYTES ||
		    util_now_ms() - g->t_gone > GW_DRAIN_MS)
			return 0;
	}
	if (gw_stream_bytes(g, p, n) == -1)
		return 0;
	return n;
}

/* The status line and Retry-After of the provider's answer. */
static size_t
gw_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct gw_call	*g = arg;
	size_t		 n = size * nmemb, k;

	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		g->status = 0;
		for (k = 5; k < n && p[k] != ' '; k++)
			continue;
		if (k + 4 <= n)
			g->status = strtol(p + k + 1, NULL, 10);
	} else if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		for (k = 12; k < n && p[k] == ' '; k++)
			continue;
		snprintf(g->retry_after, sizeof(g->retry_after), "%.*s",
		    (int)strcspn(p + k, "\r\n"), p + k);
		if (strspn(g->retry_after, "0123456789") !=
		    strlen(g->retry_after))
			g->retry_after[0] = '\0';
	}
	return n;
}

/* curl_slist_append() copied the key's header: wiped before it is freed. */
static void
gw_slist_wipe(struct curl_slist *h)
{
	for (; h != NULL; h = h->next)
		if (h->data != NULL)
			OPENSSL_cleanse(h->data, strlen(h->data));
}

/* The provider's answer, called with the key; -1: not reached in time. */
static int
gw_call_provider(struct gw_call *g, const char *body, const char *key)
{
	struct curl_slist	*h = NULL;
	CURL			*c;
	CURLcode		 cc;
	char			*url, *auth;
	int			 rc = -1;

	/* One handle a process: its connections to the providers stay. */
	if (gw_curl == NULL)
		gw_curl = curl_easy_init();
	else
		curl_easy_reset(gw_curl);
	if ((c = gw_curl) == NULL)
		return -1;
	url = arena_printf(&g->r->arena, "%s%s", gw_base(g->pv), g->pv->path);
	if (g->pv->shape == GW_ANTHROPIC) {
		auth = arena_printf(&g->r->arena, "x-api-key: %s", key);
		h = curl_slist_append(h, "anthropic-version: "
		    GW_ANTHROPIC_VERSION);
	} else
		auth = arena_printf(&g->r->arena, "Authorization: Bearer %s",
		    key);
	h = curl_slist_append(h, auth);
	OPENSSL_cleanse(auth, strlen(auth));
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, g->stream ? "Accept: text/event-stream" :
	    "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "Tollgate/" TOLLGATE_VERSION);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, GW_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, GW_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gw_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, gw_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, g);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		rc = 0;
	else if (g->status != 0 && g->t_first != 0) {
		/*
		 * Stopped or cut mid-answer (the client gone, the connection
		 * reset, a stream error, the time up): what came is what
		 * there is, and the provider generated it.
		 */
		g->cut = 1;
		rc = 0;
	} else
		log_warnx("gateway: %s %s: %s after %.0f ms", g->pv->name,
		    g->pv->path, curl_easy_strerror(cc), util_now_ms() - g->t0);
	/* Not reached at all (-2) or not answered in time (-1). */
	if (rc == -1)
		g->status = cc == CURLE_OPERATION_TIMEDOUT ? -1 : -2;
	gw_slist_wipe(h);
	curl_slist_free_all(h);
	return rc;
}

/* --- the end of a call ----------------------------------------------- */

/* The call's slot, given back in the open transaction (at once). */
static enum db_rc
gw_slot_free(struct gw_call *g)
{
	enum db_rc	 rc = DB_OK;

	if (g->slot >= 0 && (rc = db_gateway_slot_free(g->r, g->slot)) ==
	    DB_OK)
		g->slot = -1;
	return rc;
}

/* The call's record (with its tokens when it generated). */
static void
gw_record_fill(const struct gw_call *g, const char *status, int generated,
    struct gw_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->call_id = g->call_id;
	rec->agent = g->agent;
	rec->plan = &g->plan;
	rec->stream = g->stream;
	rec->status = status;
	rec->http_status = g->status < 0 ? 0 : g->status;
	rec->latency_ms = (int)(util_now_ms() - g->t0);
	rec->ttfb_ms = generated && g->t_first > 0 ? (int)(g->t_first -
	    g->t0) : -1;
	if (generated) {
		rec->prompt = g->prompt;
		rec->completion = g->completion;
		rec->cached = g->cached;
		rec->usage_reported = g->have_usage;
	}
}

/*
 * The call's usage event, as usage_ingest() takes a batch; "at_hold":
 * valued at what the hold admitted (tokens and cost) rather than at the
 * provider's count.
 */
static const char *
gw_usage_event(struct gw_call *g, int at_hold)
{
	struct json_object	*arr, *e;
	const char		*out;

	e = json_object_new_object();
	json_object_object_add(e, "idx", json_object_new_int(0));
	json_object_object_add(e, "id", json_object_new_string(g->call_id));
	json_object_object_add(e, "metric",
	    json_object_new_string("llm_tokens"));
	json_object_object_add(e, "value", json_object_new_int64(at_hold ?
	    g->hold_qty : g->prompt + g->completion));
	gw_str(e, "agent_id", g->agent);
	gw_str(e, "reservation_id", g->hold);
	gw_str(e, "provider", g->plan.provider);
	gw_str(e, "model", g->plan.model);
	json_object_object_add(e, "prompt_tokens",
	    json_object_new_int64(g->prompt));
	json_object_object_add(e, "completion_tokens",
	    json_object_new_int64(g->completion));
	json_object_object_add(e, "cached_tokens",
	    json_object_new_int64(g->cached));
	if (at_hold)
		json_object_object_add(e, "cost_micros",
		    json_object_new_int64(g->hold_cost));
	arr = json_object_new_array();
	json_object_array_add(arr, e);
	out = arena_strdup(&g->r->arena, json_object_to_json_string_ext(arr,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(arr);
	return out;
}

/*
 * Settle the hold with one usage event: the provider's usage, or the
 * reserved maximum when a stream ended without it.  With the call's
 * record, its slot and the key's last use, in one round trip that
 * commits (db_gateway_settle()).
 */
static enum db_rc
gw_settle(struct gw_call *g, const char *status)
{
	struct gw_record	 rec;
	enum db_rc		 rc;

	if (!g->have_usage) {
		g->prompt = g->prompt_est;
		g->completion = g->max_tokens;
		g->cached = 0;
	}
	/* A provider's count is trusted, within reason. */
	g->prompt = g->prompt < 0 ? 0 : g->prompt > GW_TOKENS_MAX ?
	    GW_TOKENS_MAX : g->prompt;
	g->completion = g->completion < 0 ? 0 : g->completion >
	    GW_TOKENS_MAX ? GW_TOKENS_MAX : g->completion;
	g->cached = g->cached < 0 ? 0 : g->cached > g->prompt ? g->prompt :
	    g->cached;
	gw_record_fill(g, status, 1, &rec);
	rc = db_gateway_settle(g->r, gw_usage_event(g, 0), &rec, g->slot);
	g->slot = -1;		/* given back, whatever happened */
	if (rc == DB_REFUSED) {
		/*
		 * More than was held (a prompt the estimate missed) passes a
		 * limit: the call happened, so it is recorded at what its
		 * hold admitted, which no limit refuses.
		 */
		log_warnx("gateway: call %s: %lld tokens of %s pass a limit "
		    "(%s): settled at its hold, %lld tokens", g->call_id,
		    g->prompt + g->completion, g->plan.model,
		    g->r->refusal_code != NULL ? g->r->refusal_code : "-",
		    g->hold_qty);
		rc = db_gateway_settle(g->r, gw_usage_event(g, 1), &rec, -1);
	}
	if (rc != DB_OK) {
		log_err("gateway: call %s not metered (%s): %lld tokens of %s",
		    g->call_id, db_strerror(rc), g->prompt + g->completion,
		    g->plan.model);
		return rc;
	}
	return DB_OK;
}

/*
 * The provider refused or failed before generating: the hold goes back,
 * the call is recorded at no cost, a refused key is marked failing.
 */
static enum db_rc
gw_release(struct gw_call *g, const char *status, const char *detail)
{
	struct gw_record	 rec;
	struct req		*r = g->r;
	enum db_rc		 rc;

	if ((rc = db_usage_unhold(r, g->hold, "released")) != DB_OK &&
	    rc != DB_CONFLICT)
		return rc;
	gw_record_fill(g, status, 0, &rec);
	if ((rc = db_gateway_record(r, &rec)) != DB_OK ||
	    (rc = gw_slot_free(g)) != DB_OK)
		return rc;
	if (g->status == 401 || g->status == 403)
		return db_gateway_key_failed(r, g->plan.key_id, detail);
	return DB_OK;
}

/* The provider's error message, for the client and the key's status. */
static const char *
gw_provider_message(struct gw_call *g)
{
	struct json_object	*o;
	const char		*m = NULL;

	if ((o = req_json_object(g->r, g->body.p, g->body.len)) != NULL &&
	    (m = http_json_text(o, "error.message")) == NULL)
		m = http_json_text(o, "message");
	return arena_printf(&g->r->arena, "%s answered %ld%s%.200s",
	    g->pv->name, g->status, m != NULL ? ": " : "", m != NULL ? m : "");
}

/* A refusal or failure of the provider, mapped to OpenAI's shape. */
static void
gw_provider_failed(struct gw_call *g, const char *status)
{
	const char	*msg = g->status > 0 ? gw_provider_message(g) :
	    arena_printf(&g->r->arena, g->status == -1 ? "%s did not answer "
	    "in time." : "%s could not be reached.", g->pv->name);
	enum db_rc	 rc;

	if ((rc = gw_release(g, status, msg)) != DB_OK) {
		log_warnx("gateway: call %s: its end was not recorded (%s): "
		    "the hold released on its own", g->call_id,
		    db_strerror(rc));
		db_gateway_abandon(g->r, g->hold, g->slot);
		g->slot = -1;
	}
	if (g->status == 401 || g->status == 403)
		gw_fail(g, 502, "provider_key_rejected", arena_printf(
		    &g->r->arena, "%s; the organization's %s key is marked "
		    "failing.", msg, g->pv->name));
	else if (g->status == 429)
		gw_fail(g, 429, "provider_rate_limited", msg);
	else if (g->status >= 400 && g->status < 500)
		gw_fail(g, 400, "provider_invalid_request", msg);
	else if (g->status > 0)
		gw_fail(g, 502, "provider_error", msg);
	else if (g->status == -1)
		gw_fail(g, 504, "provider_timeout", msg);
	else
		gw_fail(g, 502, "provider_unreachable", msg);
}

/* Anthropic's message as OpenAI's chat.completion. */
static struct json_object *
gw_from_anthropic(struct gw_call *g, struct json_object *a)
{
	struct json_object	*o, *ch, *c, *m, *content, *part, *calls;
	struct buf		 text;
	const char		*t;
	size_t			 i;

	buf_init(&text, GW_ANSWER_MAX);
	calls = json_object_new_array();
	if (json_object_object_get_ex(a, "content", &content) &&
	    json_object_is_type(content, json_type_array))
		for (i = 0; i < json_object_array_length(content); i++) {
			part = json_object_array_get_idx(content, i);
			if ((t = http_json_text(part, "type")) != NULL &&
			    strcmp(t, "tool_use") == 0)
				json_object_array_add(calls, gw_tool_call(part,
				    -1));
			else if ((t = http_json_text(part, "text")) != NULL)
				buf_append(&text, t, strlen(t));
		}
	if ((c = http_json_at(a, "usage")) != NULL) {
		gw_usage_anthropic_in(g, c);
		g->completion = http_json_int(c, "output_tokens", 0);
		g->have_usage = 1;
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(arena_printf(
	    &g->r->arena, "chatcmpl-%s", (t = http_json_text(a, "id")) !=
	    NULL ? t : "0")));
	json_object_object_add(o, "object",
	    json_object_new_string("chat.completion"));
	json_object_object_add(o, "created", json_object_new_int64(
	    (long long)time(NULL)));
	json_object_object_add(o, "model",
	    json_object_new_string(gw_model_name(g)));
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("assistant"));
	/* OpenAI's content is null beside tool calls when there is none. */
	json_object_object_add(m, "content", text.len == 0 &&
	    json_object_array_length(calls) > 0 ? NULL :
	    json_object_new_string_len(text.p != NULL ? text.p : "",
	    (int)text.len));
	json_object_object_add(m, "refusal", NULL);
	if (json_object_array_length(calls) > 0) {
		json_object_object_add(m, "tool_calls", calls);
		calls = NULL;
	}
	c = json_object_new_object();
	json_object_object_add(c, "index", json_object_new_int(0));
	json_object_object_add(c, "message", m);
	json_object_object_add(c, "logprobs", NULL);
	json_object_object_add(c, "finish_reason", json_object_new_string(
	    gw_finish(http_json_text(a, "stop_reason"))));
	ch = json_object_new_array();
	json_object_array_add(ch, c);
	json_object_object_add(o, "choices", ch);
	json_object_object_add(o, "usage", gw_usage_json(g));
	json_object_put(calls);
	buf_free(&text);
	return o;
}

/* A non-streamed answer: settled, then passed on (or translated). */
static void
gw_answer(struct gw_call *g)
{
	struct json_object	*o, *u;
	enum db_rc		 rc;

	if ((o = req_json_object(g->r, g->body.p, g->body.len)) == NULL) {
		/*
		 * The provider answered, so it generated (and the key pays):
		 * settled at what was held, though the answer cannot be
		 * passed on (over GW_ANSWER_MAX, or not JSON).
		 */
		(void)gw_settle(g, "provider_error");
		gw_fail(g, 502, "provider_error", arena_printf(&g->r->arena,
		    "%s answered with a body the gateway cannot pass on (not "
		    "JSON, or over %d MiB); the call was metered at its hold.",
		    g->pv->name, GW_ANSWER_MAX >> 20));
		return;
	}
	if (g->pv->shape == GW_ANTHROPIC)
		o = gw_from_anthropic(g, o);
	else {
		if ((u = http_json_at(o, "usage")) != NULL &&
		    json_object_is_type(u, json_type_object))
			gw_usage_openai(g, u);
		json_object_get(o);
	}
	if ((rc = gw_settle(g, "ok")) != DB_OK) {
		json_object_put(o);
		req_error_from_db(g->r, rc);
		return;
	}
	req_json(g->r, 200, o);
}

/* A stream's end: settled; the client already has every event. */
static void
gw_stream_end(struct gw_call *g)
{
	const char	*status = "ok";

	if (g->client_gone)
		status = "client_gone";
	else if (!g->done)
		status = "cut";
	if (!g->done && !g->client_gone)
		log_warnx("gateway: call %s: the stream of %s ended %s", 
		    g->call_id, g->plan.model, g->have_usage ?
		    "early, with its usage" : "before its usage: settled at "
		    "the reserved maximum");
	/* An empty 200 stream still needs its head. */
	gw_stream_head(g);
	if (gw_settle(g, status) != DB_OK)
		log_err("gateway: call %s: the stream went unmetered",
		    g->call_id);
}

/*
 * Give the hold and the slot back before the provider is called (the
 * body or the key was refused), in a transaction of its own.
 */
static void
gw_unhold(struct gw_call *g)
{
	struct req	*r = g->r;

	if (db_begin(r, r->auth.tenant_id) != DB_OK)
		return;
	(void)db_usage_unhold(r, g->hold, "released");
	(void)gw_slot_free(g);
	(void)db_commit(r);
}

/*
 * The call, once held: the key opened, the provider called with no
 * transaction open (a stream lasts minutes), then the end in a new one.
 */
static void
gw_run(struct gw_call *g)
{
	struct req	*r = g->r;
	char		*body, *key = NULL;
	size_t		 keylen = 0;
	int		 rc;
	enum db_rc	 drc;

	body = g->pv->shape == GW_ANTHROPIC ? gw_body_anthropic(g) :
	    gw_body_openai(g);
	if (body == NULL) {
		/* The 400 is answered; the hold goes back. */
		gw_unhold(g);
		return;
	}
	if (vault_unseal(g->plan.ciphertext, &key, &keylen) == -1) {
		gw_unhold(g);
		gw_fail(g, 409, "provider_key_unusable", "The stored provider "
		    "key cannot be opened with the current encryption keys.");
		return;
	}
	rc = gw_call_provider(g, body, key);
	vault_wipe(key, keylen);
	if (rc == -1 || (g->status != 200 && !g->head_sent)) {
		if ((drc = db_begin(r, r->auth.tenant_id)) != DB_OK) {
			req_error_from_db(r, drc);
			return;
		}
		gw_provider_failed(g, g->status == -1 ? "timeout" :
		    "provider_error");
		return;
	}
	if (g->stream)
		gw_stream_end(g);
	else
		gw_answer(g);
}

/* POST /llm/chat/completions */
void
gateway_chat(struct req *r)
{
	struct gw_call	*g;
	unsigned char	 raw[16];
	enum db_rc	 rc;

	g = arena_calloc(&r->arena, 1, sizeof(*g));
	g->r = r;
	g->in = r->json;
	g->slot = -1;
	g->t0 = util_now_ms();
	g->created = (long long)time(NULL);
	buf_init(&g->body, GW_ANSWER_MAX);
	buf_init(&g->ev, GW_EVENT_MAX);
	/* The event's id: ours, never the client's request id. */
	(void)util_random(raw, sizeof(raw));
	memcpy(g->call_id, "gw-", 3);
	util_hex(raw, sizeof(raw), g->call_id + 3);
	if (gw_parse(g) == -1 || gw_plan(g, json_object_get_string(
	    json_object_object_get(g->in, "model"))) == -1 ||
	    gw_hold(g) == -1)
		goto done;
	gw_run(g);
done:
	/* A path that did not give its slot back: a session lock stays. */
	if (g->slot >= 0 && (rc = db_gateway_slot_free(r, g->slot)) != DB_OK)
		log_warnx("gateway: slot %d not freed (%s)", g->slot,
		    db_strerror(rc));
	buf_free(&g->body);
	buf_free(&g->ev);
}

/* A model's name from a path: 1 to 200 bytes, no control character. */
static int
gw_model_ok(const char *m)
{
	size_t	 i;

	for (i = 0; m[i] != '\0'; i++)
		if ((unsigned char)m[i] < 0x20 || m[i] == 0x7f)
			return 0;
	return i >= 1 && i <= 200;
}

/* OpenAI's model object of row i: id, created, owned_by. */
static struct json_object *
gw_model_json(struct pg_result *res, int i)
{
	struct json_object	*m = json_object_new_object();

	gw_str(m, "id", db_get(res, i, 0));
	gw_str(m, "object", "model");
	json_object_object_add(m, "created",
	    json_object_new_int64(db_int(res, i, 2)));
	gw_str(m, "owned_by", db_get(res, i, 1));
	return m;
}

/* GET /llm/models: OpenAI's list, of the models the tenant can use. */
void
gateway_models(struct req *r)
{
	struct json_object	*data, *o;
	struct pg_result	*res;
	enum db_rc		 rc;
	int			 i;

	if ((rc = db_gateway_models(r, &res)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < db_nrows(res); i++)
		json_object_array_add(data, gw_model_json(res, i));
	o = json_object_new_object();
	gw_str(o, "object", "list");
	json_object_object_add(o, "data", data);
	req_json(r, 200, o);
}

/*
 * GET /llm/models/{model}: one of the list (OpenAI's models.retrieve);
 * a model the tenant cannot use is 404, as OpenAI answers one unknown.
 */
void
gateway_model(struct req *r)
{
	struct pg_result	*res;
	const char		*model = r->path_params[0];
	enum db_rc		 rc;

	if (!gw_model_ok(model) || (rc = db_gateway_model(r, model, &res)) ==
	    DB_NOTFOUND) {
		req_error(r, 404, NULL, "model_not_found", arena_printf(
		    &r->arena, "The model %s does not exist or this "
		    "organization has no key and price for it.", gw_model_ok(
		    model) ? model : "named"), "model");
		return;
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	req_json(r, 200, gw_model_json(res, 0));
}
