/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: the metered LLM gateway (SPEC 6, fcgi/gateway.c) over
 * real HTTP through lighttpd, against the LLM emulator of the stack
 * (tests/llm-emu.py at LLM_EMU_URL, every TOLLGATE_LLM_*_BASE).
 *
 * A call's answer is the emulator's (text and usage, /_emu/count and
 * /_emu/requests say what it sent), streamed event by event over time;
 * the usage chunk reaches only a client that asked for it, while the
 * provider is always asked for it.  Anthropic's messages API is
 * translated both ways, system messages as its "system".  Every call
 * leaves one usage event priced from model_prices, its hold settled
 * (or released when the provider refused before generating), and one
 * gateway_calls row: a client gone mid-stream is settled from the
 * provider's usage read on after it left, a stream cut before its
 * usage at the reserved maximum.  Refusals (no key, unknown model, bad
 * bodies, another tenant's agent, budgets and quotas, scopes) store
 * nothing and reach no provider; max_tokens clamped to a budget is
 * said in X-Tollgate-Max-Tokens and sent upstream.  The provider's
 * 401 marks the key failing and notifies, its 429 passes Retry-After
 * on, its 500 is a 502, an unreachable provider a 504; the next good
 * call makes the key working again.  64 concurrent calls against an
 * agent's blocking budget never spend past it, and a hold refused
 * after the plan (another call's hold committed in between, made
 * certain with a row lock) gives its call slot back; the tenant's cap
 * of concurrent calls holds across two masters.  GET /llm/models lists
 * the priced models of the providers the tenant has keys for.
 *
 * The gateway does not pass the client's headers on, so the
 * emulator's X-Emu-* switches are set through /_emu/settings and
 * /_emu/faults, which every test puts back as they were.  The stack's
 * gateway pool has 4 responders, fewer than the per-tenant cap, so the
 * cap is tested on a private master of this program's with more
 * responders, on the same database.  A price for a test-only model
 * (FLAT, 1 micro-USD a completion token, prompts free) is added so
 * that a call's hold and its settled cost are equal.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "it-util.h"

#define API		"/api/v1"
#define CHAT		API "/llm/chat/completions"
#define MODELS		API "/llm/models"

/* The emulator's models and their prices (tests/stack.sh), per Mtok. */
#define SMALL		"emu-gpt-small"
#define SMALL_IN	500000LL
#define SMALL_OUT	1500000LL
#define SMALL_CACHED	250000LL
#define CLAUDE		"emu-claude"
#define CLAUDE_IN	3000000LL
#define CLAUDE_OUT	15000000LL
#define CLAUDE_CACHED	300000LL
/* This program's model: a call's hold is what it costs. */
#define FLAT		"emu-it-gateway-flat"
#define FLAT_OUT	1000000LL

#define EMU_DELAY	50	/* the emulator's defaults, put back */
#define EMU_TOKENS	12
#define MIN_TOKENS	16	/* GW_MIN_TOKENS */
#define CHAT_TIMEOUT_S	40
#define CHAT_MAX	(1 << 20)	/* answer bytes kept */
#define ROW_WAIT_S	15.0		/* for a call's row after its end */

#define BURST		64	/* concurrent calls against one budget */
#define BURST_ROOM	10	/* worst cases the budget holds */

static char	 chat_url[512];		/* TOLLGATE_URL + CHAT */
static long	 emu_seq;		/* the emulator's last request seen */
static unsigned int nkeys;		/* provider keys and agents made */

/* --- JSON ----------------------------------------------------------------- */

/* An integer at a dotted path (it_json_get), or -1. */
static long long
jint(struct json_object *o, const char *path)
{
	struct json_object	*v;

	if (!it_json_get(o, path, &v) || v == NULL ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/* A string at a dotted path, or "". */
static const char *
jtext(struct json_object *o, const char *path)
{
	const char	*s = it_json_str(o, path);

	return s != NULL ? s : "";
}

/* --- the emulator --------------------------------------------------------- */

static const char *
emu_url(const char *path)
{
	static char	 url[1024];

	snprintf(url, sizeof(url), "%s%s", it_env("LLM_EMU_URL"), path);
	return url;
}

/* A control request that must answer 200; r holds the answer. */
static void
emu_req(struct it_resp *r, const char *method, const char *path,
    const char *json)
{
	if (it_request(r, method, emu_url(path), json != NULL ? IT_JSON : NULL,
	    json, json != NULL ? strlen(json) : 0, (const char *)NULL) == -1)
		fail_msg("LLM emulator %s %s: %s", method, path, r->error);
	if (r->status != 200)
		fail_msg("LLM emulator %s %s: %ld %.300s", method, path,
		    r->status, r->body);
}

static void
emu_ctl(const char *method, const char *path, const char *json)
{
	struct it_resp	 r;

	emu_req(&r, method, path, json);
	it_response_free(&r);
}

/* The delay between stream events and the words of an answer. */
static void
emu_settings(int delay_ms, int tokens)
{
	char	 body[128];

	snprintf(body, sizeof(body), "{\"stream_delay_ms\":%d,\"tokens\":%d,"
	    "\"cache_write\":0}", delay_ms, tokens);
	emu_ctl("POST", "/_emu/settings", body);
}

/* One fault on the chat completions path, for the next "times" calls. */
static void
emu_fault(const char *path, const char *what, int times)
{
	char	 body[256];

	snprintf(body, sizeof(body), "{\"path\":\"%s\",%s,\"times\":%d}",
	    path, what, times);
	emu_ctl("POST", "/_emu/faults", body);
}

/*
 * The emulator's records since the last look (emu_seq), those of the
 * key with this hint only (NULL: all), as a JSON array (caller puts).
 */
static struct json_object *
emu_records(const char *hint)
{
	struct it_resp		 r;
	struct json_object	*all, *out, *rec;
	char			 path[128];
	size_t			 i;
	long			 seq;

	snprintf(path, sizeof(path), "/_emu/requests?since=%ld", emu_seq);
	emu_req(&r, "GET", path, NULL);
	all = it_json(&r);
	if (!json_object_is_type(all, json_type_array))
		fail_msg("/_emu/requests: not an array: %.200s", r.body);
	out = json_object_new_array();
	for (i = 0; i < json_object_array_length(all); i++) {
		rec = json_object_array_get_idx(all, i);
		if ((seq = (long)jint(rec, "seq")) > emu_seq)
			emu_seq = seq;
		if (hint == NULL || strcmp(jtext(rec, "key_hint"), hint) == 0)
			json_object_array_add(out, json_object_get(rec));
	}
	it_response_free(&r);
	return out;
}

/* Forget what the emulator received so far. */
static void
emu_mark(void)
{
	json_object_put(emu_records(NULL));
}

/*
 * The one record of the key (NULL: any key; a fault answers before the
 * key is looked at, and its record has none) since the last look,
 * which must be done; NULL (a deferred failure) when there is not
 * exactly one.  Caller puts it.
 */
static struct json_object *
emu_one(const char *hint, const char *what)
{
	struct json_object	*recs, *rec = NULL, *v;
	struct it_resp		 r;
	double			 deadline = it_now_ms() + 5000.0;
	char			 path[128];

	recs = emu_records(hint);
	if (json_object_array_length(recs) != 1) {
		it_deferred_fail("%s: the emulator received %zu calls with "
		    "key %s, want 1", what, json_object_array_length(recs),
		    hint != NULL ? hint : "(any)");
		json_object_put(recs);
		return NULL;
	}
	rec = json_object_get(json_object_array_get_idx(recs, 0));
	json_object_put(recs);
	/* Completed once its answer went out: wait for that. */
	while (it_json_get(rec, "done", &v) && !json_object_get_boolean(v) &&
	    it_now_ms() < deadline) {
		it_sleep_ms(50);
		snprintf(path, sizeof(path), "/_emu/requests?since=%ld",
		    (long)jint(rec, "seq") - 1);
		emu_req(&r, "GET", path, NULL);
		if (json_object_array_length(it_json(&r)) > 0) {
			json_object_put(rec);
			rec = json_object_get(json_object_array_get_idx(
			    it_json(&r), 0));
		}
		it_response_free(&r);
	}
	return rec;
}

/* What the emulator answers a body: POST /_emu/count (caller puts). */
static struct json_object *
emu_count(const char *body)
{
	struct it_resp		 r;
	struct json_object	*o;

	emu_req(&r, "POST", "/_emu/count", body);
	o = json_object_get(it_json(&r));
	it_response_free(&r);
	return o;
}

/*
 * Faults cleared, defaults back: before and after every test; an
 * emulator a failed test left stopped is started again.
 */
static int
emu_clean(void **state)
{
	struct it_resp	 r;

	(void)state;
	if (it_request(&r, "GET", emu_url("/_emu/settings"), NULL, NULL, 0,
	    (const char *)NULL) == -1 && it_stack_sh("llm-start") != 0)
		return -1;
	it_response_free(&r);
	emu_ctl("DELETE", "/_emu/faults", NULL);
	emu_settings(EMU_DELAY, EMU_TOKENS);
	emu_mark();
	return 0;
}

/* --- money ---------------------------------------------------------------- */

/* gw_prompt_estimate(): content bytes / 2 + 8 a message + 16. */
static long long
prompt_est(const char *system, const char *user)
{
	size_t	 bytes = strlen(user) + (system != NULL ? strlen(system) : 0);

	return (long long)bytes / 2 + 8 * (system != NULL ? 2 : 1) + 16;
}

/* gw_micros(): n tokens at a price per million, rounded up. */
static long long
micros_up(long long n, long long per_mtok)
{
	return (n * per_mtok + 999999) / 1000000;
}

/* usage_llm_cost(): rounded half up once, cached tokens in the prompt. */
static long long
cost_of(long long prompt, long long completion, long long cached,
    long long in, long long out, long long cp)
{
	return ((prompt - cached) * in + completion * out + cached * cp +
	    500000) / 1000000;
}

/* --- tenants -------------------------------------------------------------- */

#define WITH_OPENAI	0x1
#define WITH_ANTHROPIC	0x2

struct tenant {
	struct it_owner	 o;
	char		 key[256];	/* an API key with the llm scope */
	char		 openai[64];	/* the provider keys stored */
	char		 anthropic[64];
	char		 hint[32];	/* the emulator's hints of them */
	char		 ahint[32];
};

/* A provider key of this program's, unique to the call: its hint. */
static void
provider_key(const char *prefix, char *key, size_t keysz, char *hint,
    size_t hintsz)
{
	unsigned int	 n = ++nkeys;

	snprintf(key, keysz, "%sitgw%ldx%04u", prefix, (long)getpid() %
	    100000, n % 10000);
	snprintf(hint, hintsz, "%s...%04u", prefix, n % 10000);
}

/* POST /llm-keys with the owner's token; 201 or the test fails. */
static void
llm_key_add(const struct tenant *t, const char *provider, const char *key)
{
	struct it_resp	 r;

	it_call(&r, t->o.access, "POST", API "/llm-keys", it_jobj("provider",
	    provider, "api_key", key, NULL));
	it_expect_status(&r, 201);
	it_response_free(&r);
}

/* An API key of the tenant with these scopes (a JSON array). */
static void
api_key(const struct tenant *t, const char *scopes, char *out, size_t outsz)
{
	struct it_resp	 r;
	char		 body[256];

	snprintf(body, sizeof(body), "{\"name\":\"gateway\",\"scopes\":%s}",
	    scopes);
	it_call(&r, t->o.access, "POST", API "/api-keys", body);
	it_expect_status(&r, 201);
	it_copy_str(out, outsz, &r, "secret");
	it_response_free(&r);
}

/*
 * A new tenant on "plan" (NULL: left on free) with an llm API key and
 * the provider keys asked for.
 */
static void
tenant_new(struct tenant *t, const char *tag, const char *plan, int keys)
{
	memset(t, 0, sizeof(*t));
	it_owner_new(&t->o, "gateway", tag);
	if (plan != NULL && it_owner_sql(NULL, 0, t->o.tenant, "UPDATE "
	    "tenants SET plan = $2, status = 'active' WHERE tenant_id = $1",
	    2, (const char *const[]){ t->o.tenant, plan }) != 1)
		fail_msg("tenant %s not put on the %s plan", t->o.tenant, plan);
	if (keys & WITH_OPENAI) {
		provider_key("sk-", t->openai, sizeof(t->openai), t->hint,
		    sizeof(t->hint));
		llm_key_add(t, "openai", t->openai);
	}
	if (keys & WITH_ANTHROPIC) {
		provider_key("sk-ant-", t->anthropic, sizeof(t->anthropic),
		    t->ahint, sizeof(t->ahint));
		llm_key_add(t, "anthropic", t->anthropic);
	}
	api_key(t, "[\"llm\"]", t->key, sizeof(t->key));
}

/* An agent of the tenant with a budget ("0.000160" USD), its id. */
static void
agent_new(const struct tenant *t, const char *budget, const char *action,
    char *id, size_t idsz)
{
	struct it_resp	 r;
	char		 body[256];

	snprintf(body, sizeof(body), "{\"name\":\"gw agent %u\","
	    "\"budget_limit_usd\":\"%s\",\"budget_action\":\"%s\"}", ++nkeys,
	    budget, action);
	it_call(&r, t->o.access, "POST", API "/agents", body);
	it_expect_status(&r, 201);
	it_copy_str(id, idsz, &r, "id");
	it_response_free(&r);
}

/* --- the database --------------------------------------------------------- */

/*
 * The first column of the first row of sql as the database owner
 * within the tenant, its parameters NULL-terminated; "" when none.
 */
static void
sqlv(char *out, size_t outsz, const struct tenant *t, const char *sql, ...)
{
	const char	*v[8], *a;
	va_list		 ap;
	int		 n = 0;

	va_start(ap, sql);
	while ((a = va_arg(ap, const char *)) != NULL && n < 8)
		v[n++] = a;
	va_end(ap);
	it_owner_sql(out, outsz, t->o.tenant, sql, n, v);
}

static long long
sqln(const struct tenant *t, const char *sql, const char *arg)
{
	char	 out[64];

	sqlv(out, sizeof(out), t, sql, arg, (const char *)NULL);
	return out[0] != '\0' ? strtoll(out, NULL, 10) : -1;
}

/* A gateway_calls row. */
struct gwrow {
	char		 call_id[64];
	char		 status[32];
	long		 http;
	int		 stream;
	long long	 prompt, completion, cached;
	int		 usage_reported;
	long long	 cost;
};

/*
 * The newest call row of the tenant, once it has "want" of them
 * (polled: a stream is settled after the client saw its end).  0, or
 * -1 with a deferred failure.
 */
static int
call_row(const struct tenant *t, long want, struct gwrow *g, const char *what)
{
	double	 deadline = it_now_ms() + ROW_WAIT_S * 1000.0;
	char	 row[512], *f[9], *p, *save = NULL;
	char	 w[16];
	long	 n;
	int	 i;

	memset(g, 0, sizeof(*g));
	snprintf(w, sizeof(w), "%ld", want);
	while ((n = (long)sqln(t, "SELECT count(*) FROM gateway_calls WHERE "
	    "tenant_id = app_tenant()", NULL)) < want &&
	    it_now_ms() < deadline)
		it_sleep_ms(50);
	if (n != want) {
		it_deferred_fail("%s: %ld gateway_calls rows, want %ld", what,
		    n, want);
		return -1;
	}
	sqlv(row, sizeof(row), t, "SELECT call_id || '|' || status || '|' || "
	    "http_status || '|' || stream::text || '|' || prompt_tokens || "
	    "'|' || completion_tokens || '|' || cached_tokens || '|' || "
	    "usage_reported::text || '|' || cost_micros FROM gateway_calls "
	    "WHERE tenant_id = app_tenant() ORDER BY at DESC LIMIT 1",
	    (const char *)NULL);
	print_message("# gateway_calls: %s\n", row);
	for (i = 0, p = strtok_r(row, "|", &save); p != NULL && i < 9;
	    p = strtok_r(NULL, "|", &save))
		f[i++] = p;
	if (i != 9)
		fail_msg("%s: a gateway_calls row of %d fields", what, i);
	snprintf(g->call_id, sizeof(g->call_id), "%s", f[0]);
	snprintf(g->status, sizeof(g->status), "%s", f[1]);
	g->http = strtol(f[2], NULL, 10);
	g->stream = strcmp(f[3], "true") == 0;
	g->prompt = strtoll(f[4], NULL, 10);
	g->completion = strtoll(f[5], NULL, 10);
	g->cached = strtoll(f[6], NULL, 10);
	g->usage_reported = strcmp(f[7], "true") == 0;
	g->cost = strtoll(f[8], NULL, 10);
	return 0;
}

/*
 * The call's usage event must be exactly this: metric llm_tokens,
 * provider, model, tokens, value, cost and agent ("-": none).
 */
static void
expect_event(const struct tenant *t, const char *call_id,
    const char *provider, const char *model, long long prompt,
    long long completion, long long cost, const char *agent,
    const char *what)
{
	char	 got[512], want[512];

	sqlv(got, sizeof(got), t, "SELECT metric || '|' || provider || '|' || "
	    "model || '|' || prompt_tokens || '|' || completion_tokens || '|' "
	    "|| cached_tokens || '|' || value || '|' || cost_micros || '|' || "
	    "coalesce(agent_id::text, '-') FROM usage_events WHERE tenant_id = "
	    "app_tenant() AND event_id = $1", call_id, (const char *)NULL);
	snprintf(want, sizeof(want), "llm_tokens|%s|%s|%lld|%lld|0|%lld|%lld|"
	    "%s", provider, model, prompt, completion, prompt + completion,
	    cost, agent);
	if (strcmp(got, want) != 0)
		it_deferred_fail("%s: usage event %s is \"%s\", want \"%s\"",
		    what, call_id, got, want);
}

/*
 * The tenant's newest reservation must be status with this quantity
 * and cost, and nothing may be left held on the llm_tokens counter.
 */
static void
expect_hold(const struct tenant *t, const char *status, long long qty,
    long long cost, const char *what)
{
	char	 got[256], want[256];

	sqlv(got, sizeof(got), t, "SELECT status || '|' || quantity || '|' || "
	    "cost_micros || '|' || metric FROM reservations WHERE tenant_id = "
	    "app_tenant() ORDER BY created_at DESC LIMIT 1",
	    (const char *)NULL);
	snprintf(want, sizeof(want), "%s|%lld|%lld|llm_tokens", status, qty,
	    cost);
	if (strcmp(got, want) != 0)
		it_deferred_fail("%s: reservation \"%s\", want \"%s\"", what,
		    got, want);
	if (sqln(t, "SELECT coalesce(sum(reserved), 0) FROM usage_counters "
	    "WHERE tenant_id = app_tenant() AND metric = 'llm_tokens'",
	    NULL) != 0)
		it_deferred_fail("%s: llm_tokens still reserved on the "
		    "counter", what);
}

/* Nothing of a refused call: no hold, no call row, no event. */
static void
expect_nothing(const struct tenant *t, long calls, const char *what)
{
	long long	 holds, rows, events;

	holds = sqln(t, "SELECT count(*) FROM reservations WHERE tenant_id = "
	    "app_tenant() AND status = 'held'", NULL);
	rows = sqln(t, "SELECT count(*) FROM gateway_calls WHERE tenant_id = "
	    "app_tenant()", NULL);
	events = sqln(t, "SELECT count(*) FROM usage_events WHERE tenant_id = "
	    "app_tenant() AND event_id LIKE 'gw-%'", NULL);
	if (holds != 0 || rows != calls || events != calls)
		it_deferred_fail("%s: %lld holds, %lld call rows, %lld events "
		    "left; want 0, %ld, %ld", what, holds, rows, events, calls,
		    calls);
}

/* Advisory locks (call slots) the database holds for the tenant. */
static long long
slots_held(const struct tenant *t)
{
	return sqln(t, "SELECT count(*) FROM pg_locks WHERE locktype = "
	    "'advisory' AND objsubid = 2 AND granted AND classid = "
	    "((hashtext($1)::bigint & 4294967295))::oid", t->o.tenant);
}

/*
 * The slots held once the calls have settled: a call is settled (and
 * its slot given back) just after its answer is delivered.
 */
static long long
slots_after(const struct tenant *t)
{
	double		 deadline = it_now_ms() + ROW_WAIT_S * 1000.0;
	long long	 n;

	while ((n = slots_held(t)) != 0 && it_now_ms() < deadline)
		it_sleep_ms(50);
	return n;
}

/* Wait until the tenant's calls are settled: no hold left. */
static void
holds_settled(const struct tenant *t)
{
	double	 deadline = it_now_ms() + ROW_WAIT_S * 1000.0;

	while (sqln(t, "SELECT count(*) FROM reservations WHERE tenant_id = "
	    "app_tenant() AND status = 'held'", NULL) != 0 &&
	    it_now_ms() < deadline)
		it_sleep_ms(20);
}

/* --- a chat call through lighttpd ---------------------------------------- */

/* One call's answer, and what its events said. */
struct chat {
	long		 status;
	char		 head[8192];
	size_t		 head_len;
	char		*body;		/* NUL-terminated */
	size_t		 len;
	int		 toobig;
	size_t		 scanned;	/* body bytes looked at for events */
	int		 nevents;	/* "\n\n" seen as they came */
	double		 t0, t_first, t_last;	/* sent, first, last event */
	char		 error[CURL_ERROR_SIZE];
	/* chat_parse() */
	int		 stream;	/* text/event-stream */
	int		 done;		/* data: [DONE] */
	int		 chunks;	/* JSON events */
	int		 bad_chunks;	/* events that are not JSON */
	int		 usage_chunk;	/* no choices, a usage object */
	int		 null_usage;	/* chunks with "usage": null */
	long long	 prompt, completion, cached;	/* -1: no usage */
	char		 object[64];
	char		 text[8192];
	char		 finish[32];
	char		 code[64];
	char		 param[64];
	char		 max_hdr[32];	/* X-Tollgate-Max-Tokens */
	char		 retry_after[32];
	char		 ctype[128];
};

static size_t
chat_on_head(char *p, size_t size, size_t n, void *arg)
{
	struct chat	*c = arg;
	size_t		 len = size * n;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
		c->head_len = 0;
	if (c->head_len + len < sizeof(c->head)) {
		memcpy(c->head + c->head_len, p, len);
		c->head_len += len;
		c->head[c->head_len] = '\0';
	}
	return len;
}

/* The body as it comes; the time of every event end ("\n\n"). */
static size_t
chat_on_body(char *p, size_t size, size_t n, void *arg)
{
	struct chat	*c = arg;
	size_t		 len = size * n;
	char		*np;
	double		 now = it_now_ms();

	if (c->toobig || c->len + len > CHAT_MAX) {
		c->toobig = 1;
		return len;
	}
	if ((np = realloc(c->body, c->len + len + 1)) == NULL) {
		c->toobig = 1;
		return len;
	}
	c->body = np;
	memcpy(c->body + c->len, p, len);
	c->len += len;
	c->body[c->len] = '\0';
	for (; c->scanned + 1 < c->len; c->scanned++)
		if (c->body[c->scanned] == '\n' &&
		    c->body[c->scanned + 1] == '\n') {
			if (c->nevents++ == 0)
				c->t_first = now;
			c->t_last = now;
			c->scanned++;
		}
	return len;
}

/* A header of the answer's head into out ("" when absent). */
static void
chat_header(const struct chat *c, const char *name, char *out, size_t outsz)
{
	const char	*line, *end;
	size_t		 n = strlen(name), len;

	out[0] = '\0';
	for (line = c->head; *line != '\0'; line = end) {
		end = line + strcspn(line, "\n");
		if (*end == '\n')
			end++;
		if (strncasecmp(line, name, n) != 0 || line[n] != ':')
			continue;
		line += n + 1;
		while (*line == ' ')
			line++;
		len = strcspn(line, "\r\n");
		snprintf(out, outsz, "%.*s", (int)len, line);
		return;
	}
}

static void
chat_usage(struct chat *c, struct json_object *u)
{
	c->prompt = jint(u, "prompt_tokens");
	c->completion = jint(u, "completion_tokens");
	c->cached = jint(u, "prompt_tokens_details.cached_tokens");
}

/* One event's data: a chunk, or [DONE]. */
static void
chat_chunk(struct chat *c, const char *data)
{
	struct json_object	*o, *ch, *u, *v;
	size_t			 n;

	if (strcmp(data, "[DONE]") == 0) {
		c->done = 1;
		return;
	}
	if ((o = json_tokener_parse(data)) == NULL) {
		c->bad_chunks++;
		return;
	}
	if (c->chunks++ == 0)
		snprintf(c->object, sizeof(c->object), "%s", jtext(o,
		    "object"));
	if (json_object_object_get_ex(o, "usage", &u)) {
		if (u == NULL)
			c->null_usage++;
		else if (json_object_object_get_ex(o, "choices", &ch) &&
		    json_object_array_length(ch) == 0) {
			c->usage_chunk++;
			chat_usage(c, u);
		}
	}
	if (json_object_object_get_ex(o, "choices", &ch) &&
	    json_object_is_type(ch, json_type_array) &&
	    json_object_array_length(ch) > 0) {
		v = json_object_array_get_idx(ch, 0);
		n = strlen(c->text);
		snprintf(c->text + n, sizeof(c->text) - n, "%s",
		    jtext(v, "delta.content"));
		if (it_json_str(v, "finish_reason") != NULL)
			snprintf(c->finish, sizeof(c->finish), "%s",
			    jtext(v, "finish_reason"));
	}
	json_object_put(o);
}

/* What the answer says: its events, or its JSON. */
static void
chat_parse(struct chat *c)
{
	struct json_object	*o, *ch;
	char			*ev, *line, *next, *end;

	chat_header(c, "Content-Type", c->ctype, sizeof(c->ctype));
	chat_header(c, "X-Tollgate-Max-Tokens", c->max_hdr,
	    sizeof(c->max_hdr));
	chat_header(c, "Retry-After", c->retry_after, sizeof(c->retry_after));
	if (c->body == NULL)
		return;
	if (strncmp(c->ctype, "text/event-stream", 17) == 0) {
		c->stream = 1;
		for (ev = c->body; *ev != '\0'; ev = next) {
			if ((end = strstr(ev, "\n\n")) == NULL)
				end = ev + strlen(ev);
			next = *end != '\0' ? end + 2 : end;
			*end = '\0';
			for (line = ev; line != NULL && *line != '\0';
			    line = strchr(line, '\n') != NULL ?
			    strchr(line, '\n') + 1 : NULL) {
				if (strncmp(line, "data: ", 6) != 0)
					continue;
				if (strchr(line, '\n') != NULL)
					*strchr(line, '\n') = '\0';
				chat_chunk(c, line + 6);
				line += strlen(line);
			}
		}
		return;
	}
	if ((o = json_tokener_parse(c->body)) == NULL)
		return;
	snprintf(c->object, sizeof(c->object), "%s", jtext(o, "object"));
	snprintf(c->code, sizeof(c->code), "%s", jtext(o, "error.code"));
	snprintf(c->param, sizeof(c->param), "%s", jtext(o, "error.param"));
	if (json_object_object_get_ex(o, "choices", &ch) &&
	    json_object_is_type(ch, json_type_array) &&
	    json_object_array_length(ch) > 0) {
		ch = json_object_array_get_idx(ch, 0);
		snprintf(c->text, sizeof(c->text), "%s", jtext(ch,
		    "message.content"));
		snprintf(c->finish, sizeof(c->finish), "%s", jtext(ch,
		    "finish_reason"));
	}
	if (json_object_object_get_ex(o, "usage", &ch) && ch != NULL)
		chat_usage(c, ch);
	json_object_put(o);
}

/*
 * POST the body to the gateway through lighttpd with a bearer token,
 * an agent (NULL: none) and a content type (NULL: JSON), on a handle
 * of the calling thread's.  Any thread; never fails the test: 0, or
 * -1 on a transport failure (c->error).  chat_free() after.
 */
static int
chat_on(CURL *h, struct chat *c, const char *token, const char *agent,
    const char *ctype, const char *body)
{
	struct curl_slist	*list = NULL;
	char			 line[IT_TOKEN_MAX + 64];
	CURLcode		 cc;

	memset(c, 0, sizeof(*c));
	c->prompt = c->completion = c->cached = -1;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, chat_url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(body));
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)CHAT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->error);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, chat_on_head);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, chat_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	list = curl_slist_append(list, "Expect:");
	snprintf(line, sizeof(line), "Content-Type: %s", ctype != NULL ?
	    ctype : IT_JSON);
	list = curl_slist_append(list, line);
	if (token != NULL) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		list = curl_slist_append(list, line);
	}
	if (agent != NULL) {
		snprintf(line, sizeof(line), "X-Tollgate-Agent: %s", agent);
		list = curl_slist_append(list, line);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	c->t0 = it_now_ms();
	cc = curl_easy_perform(h);
	curl_slist_free_all(list);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	else if (c->error[0] == '\0')
		snprintf(c->error, sizeof(c->error), "%s",
		    curl_easy_strerror(cc));
	chat_parse(c);
	return cc == CURLE_OK ? 0 : -1;
}

static void
chat_free(struct chat *c)
{
	free(c->body);
	c->body = NULL;
}

/* chat_on() from the main thread; a transport failure fails the test. */
static void
chat(struct chat *c, const char *token, const char *agent, const char *body)
{
	CURL	*h;

	if ((h = curl_easy_init()) == NULL)
		fail_msg("curl_easy_init");
	if (chat_on(h, c, token, agent, NULL, body) == -1)
		fail_msg("POST %s: %s", CHAT, c->error);
	curl_easy_cleanup(h);
	print_message("# POST %s: %ld %s in %.0f ms, %d events%s%s: %.200s\n",
	    CHAT, c->status, c->ctype, it_now_ms() - c->t0, c->nevents,
	    c->max_hdr[0] != '\0' ? ", X-Tollgate-Max-Tokens " : "",
	    c->max_hdr, c->stream ? c->text : c->body != NULL ? c->body : "");
}

/*
 * The database round trips of a call, from its log line (found by the
 * X-Request-Id of its answer): the plan with the key's binding, the
 * hold with its COMMIT, the settlement (docs/design.md, "LLM gateway").
 */
static unsigned
chat_round_trips(const struct chat *c)
{
	char		 rid[64], needle[128], line[1024];
	const char	*p;
	unsigned	 db, prep;

	if ((p = strcasestr(c->head, "\nX-Request-Id:")) == NULL ||
	    sscanf(p + 14, " %63[0-9a-zA-Z-]", rid) != 1)
		fail_msg("no X-Request-Id in the answer's head");
	snprintf(needle, sizeof(needle), " rid=%s ", rid);
	if (!it_log_find(needle, " db=", 5.0, line, sizeof(line)))
		fail_msg("no log line for request %s", rid);
	if ((p = strstr(line, " db=")) == NULL ||
	    sscanf(p, " db=%u prep=%u", &db, &prep) != 2)
		fail_msg("no db= in: %s", line);
	return db;
}

/* The answer must be this status and error code (deferred). */
static void
expect_refusal(const struct chat *c, long status, const char *code,
    const char *what)
{
	if (c->status != status || strcmp(c->code, code) != 0)
		it_deferred_fail("%s: %ld %s, want %ld %s: %.300s", what,
		    c->status, c->code[0] != '\0' ? c->code : "(no code)",
		    status, code, c->body != NULL ? c->body : "");
}

/*
 * A chat body: the model, an optional system message and a user
 * message, stream (-1: absent), stream_options.include_usage (-1:
 * absent), max_tokens (-1: absent) and any extra members ("": none,
 * else ",\"k\":v").
 */
static const char *
body_of(const char *model, const char *system, const char *user, int stream,
    int usage, long long max_tokens, const char *extra)
{
	static char	 b[4096];
	size_t		 n;

	n = (size_t)snprintf(b, sizeof(b), "{\"model\":\"%s\",\"messages\":[",
	    model);
	if (system != NULL)
		n += (size_t)snprintf(b + n, sizeof(b) - n, "{\"role\":"
		    "\"system\",\"content\":\"%s\"},", system);
	n += (size_t)snprintf(b + n, sizeof(b) - n, "{\"role\":\"user\","
	    "\"content\":\"%s\"}]", user);
	if (stream >= 0)
		n += (size_t)snprintf(b + n, sizeof(b) - n, ",\"stream\":%s",
		    stream ? "true" : "false");
	if (usage >= 0)
		n += (size_t)snprintf(b + n, sizeof(b) - n,
		    ",\"stream_options\":{\"include_usage\":%s}",
		    usage ? "true" : "false");
	if (max_tokens >= 0)
		n += (size_t)snprintf(b + n, sizeof(b) - n,
		    ",\"max_tokens\":%lld", max_tokens);
	if ((size_t)snprintf(b + n, sizeof(b) - n, "%s}", extra) >=
	    sizeof(b) - n)
		fail_msg("chat body over %zu bytes", sizeof(b));
	return b;
}

/* The emulator's usage of a record: prompt, completion, cached. */
static void
rec_usage(struct json_object *rec, long long *prompt, long long *completion,
    long long *cached)
{
	if (strcmp(jtext(rec, "provider"), "anthropic") == 0) {
		*cached = jint(rec, "usage.cache_read_input_tokens");
		*prompt = jint(rec, "usage.input_tokens") + *cached +
		    jint(rec, "usage.cache_creation_input_tokens");
		*completion = jint(rec, "usage.output_tokens");
	} else {
		*prompt = jint(rec, "usage.prompt_tokens");
		*completion = jint(rec, "usage.completion_tokens");
		*cached = jint(rec,
		    "usage.prompt_tokens_details.cached_tokens");
	}
}

/* --- 1. non-streamed ------------------------------------------------------ */

static void
test_plain(void **state)
{
	struct tenant		 t;
	struct chat		 c;
	struct gwrow		 g;
	struct json_object	*rec, *cnt;
	const char		*user = "What is the cost of seven plain words";
	char			 body[4096];
	long long		 est, p, comp, cached, cost;
	unsigned		 n;

	(void)state;
	tenant_new(&t, "plain", "pro", WITH_OPENAI);
	est = prompt_est(NULL, user);
	snprintf(body, sizeof(body), "%s", body_of(SMALL, NULL, user, -1, -1,
	    100, ""));
	cnt = emu_count(body);
	chat(&c, t.key, NULL, body);
	if (c.status != 200)
		fail_msg("non-streamed: %ld %.300s", c.status,
		    c.body != NULL ? c.body : "");
	if ((rec = emu_one(t.hint, "non-streamed")) == NULL)
		fail_msg("no record of the call at the emulator");
	if ((n = chat_round_trips(&c)) != 3)
		it_deferred_fail("%u database round trips, want 3 (the plan "
		    "with the binding, the hold, the settlement)", n);
	rec_usage(rec, &p, &comp, &cached);
	print_message("# emulator: %s %s max_tokens %lld usage %lld+%lld\n",
	    jtext(rec, "path"), jtext(rec, "model"), jint(rec, "max_tokens"),
	    p, comp);
	if (strcmp(c.object, "chat.completion") != 0 ||
	    strcmp(c.text, jtext(cnt, "text")) != 0 || c.text[0] == '\0')
		it_deferred_fail("answer %s \"%s\", want chat.completion "
		    "\"%s\"", c.object, c.text, jtext(cnt, "text"));
	if (c.prompt != p || c.completion != comp || c.cached != cached ||
	    p != jint(cnt, "prompt_tokens") || comp != EMU_TOKENS)
		it_deferred_fail("usage %lld+%lld (cached %lld) to the client, "
		    "the emulator %lld+%lld (cached %lld), /_emu/count %lld+%d",
		    c.prompt, c.completion, c.cached, p, comp, cached,
		    jint(cnt, "prompt_tokens"), EMU_TOKENS);
	if (jint(rec, "max_tokens") != 100 || strcmp(jtext(rec,
	    "max_tokens_field"), "max_tokens") != 0 || strcmp(jtext(rec,
	    "model"), SMALL) != 0 || strcmp(jtext(rec, "path"),
	    "/v1/chat/completions") != 0)
		it_deferred_fail("upstream: %s",
		    json_object_to_json_string(rec));
	if (c.max_hdr[0] != '\0')
		it_deferred_fail("X-Tollgate-Max-Tokens %s without a clamp",
		    c.max_hdr);

	cost = cost_of(p, comp, cached, SMALL_IN, SMALL_OUT, SMALL_CACHED);
	print_message("# cost: %lld+%lld tokens = %lld micro-USD\n", p, comp,
	    cost);
	if (call_row(&t, 1, &g, "non-streamed") == 0) {
		if (strcmp(g.status, "ok") != 0 || g.http != 200 ||
		    g.stream || !g.usage_reported || g.prompt != p ||
		    g.completion != comp || g.cost != cost)
			it_deferred_fail("gateway_calls: %s http %ld stream "
			    "%d usage_reported %d %lld+%lld cost %lld; want ok "
			    "200 0 1 %lld+%lld %lld", g.status, g.http,
			    g.stream, g.usage_reported, g.prompt, g.completion,
			    g.cost, p, comp, cost);
		expect_event(&t, g.call_id, "openai", SMALL, p, comp, cost, "-",
		    "non-streamed");
	}
	expect_hold(&t, "settled", est + 100, micros_up(est, SMALL_IN) +
	    micros_up(100, SMALL_OUT), "non-streamed");
	json_object_put(rec);
	json_object_put(cnt);
	chat_free(&c);

	/* A user's token, max_completion_tokens sent as that field. */
	chat(&c, t.o.access, NULL, body_of(SMALL, NULL, user, 0, -1, -1,
	    ",\"max_completion_tokens\":7"));
	if (c.status != 200 || c.completion != 7 ||
	    strcmp(c.finish, "length") != 0)
		it_deferred_fail("a user's token, max_completion_tokens 7: %ld "
		    "%lld tokens, finish %s", c.status, c.completion, c.finish);
	if ((rec = emu_one(t.hint, "max_completion_tokens")) != NULL) {
		if (jint(rec, "max_tokens") != 7 || strcmp(jtext(rec,
		    "max_tokens_field"), "max_completion_tokens") != 0)
			it_deferred_fail("upstream: max_tokens %lld in %s",
			    jint(rec, "max_tokens"), jtext(rec,
			    "max_tokens_field"));
		json_object_put(rec);
	}
	if (call_row(&t, 2, &g, "user token") == 0)
		expect_event(&t, g.call_id, "openai", SMALL, g.prompt, 7,
		    cost_of(g.prompt, 7, 0, SMALL_IN, SMALL_OUT, SMALL_CACHED),
		    "-", "user token");
	chat_free(&c);
	it_deferred_check();
}

/* --- 2. streamed ---------------------------------------------------------- */

/* One streamed call and its checks; usage: the client asks for it. */
static void
stream_once(const struct tenant *t, int usage, long calls)
{
	struct chat		 c;
	struct gwrow		 g;
	struct json_object	*rec, *so, *v;
	const char		*user = "stream these words to me slowly";
	const char		*what = usage ? "with include_usage" :
				    "without include_usage";
	long long		 p, comp, cached, cost;
	double			 spread;

	chat(&c, t->key, NULL, body_of(SMALL, NULL, user, 1, usage ? 1 : -1,
	    -1, ""));
	if (c.status != 200 || !c.stream || !c.done || c.bad_chunks != 0) {
		it_deferred_fail("%s: %ld %s, [DONE] %d, %d events not JSON: "
		    "%.300s", what, c.status, c.ctype, c.done, c.bad_chunks,
		    c.body != NULL ? c.body : "");
		chat_free(&c);
		return;
	}
	spread = c.t_last - c.t_first;
	print_message("# %s: %d events, first at %.0f ms, last at %.0f ms "
	    "(%.0f ms apart)\n", what, c.nevents, c.t_first - c.t0,
	    c.t_last - c.t0, spread);
	if (spread < 600.0)
		it_deferred_fail("%s: the events came within %.0f ms of each "
		    "other; at 100 ms apart, want 600 ms or more", what,
		    spread);
	if ((rec = emu_one(t->hint, what)) == NULL) {
		chat_free(&c);
		return;
	}
	rec_usage(rec, &p, &comp, &cached);
	/* The provider is always asked for the usage. */
	so = json_object_object_get(rec, "stream_options");
	if (!it_json_get(rec, "stream_options.include_usage", &v) ||
	    v == NULL || !json_object_is_type(v, json_type_boolean) ||
	    !json_object_get_boolean(v) || !it_json_get(rec, "stream", &v) ||
	    v == NULL || !json_object_get_boolean(v))
		it_deferred_fail("%s: the emulator got stream_options %s",
		    what, so != NULL ? json_object_to_json_string(so) : "null");
	if (comp != 10 || strcmp(c.text, "Echo: stream these words to me "
	    "slowly stream these words") != 0 || strcmp(c.object,
	    "chat.completion.chunk") != 0)
		it_deferred_fail("%s: text \"%s\" of %s, %lld tokens", what,
		    c.text, c.object, comp);
	if (usage && (c.usage_chunk != 1 || c.prompt != p ||
	    c.completion != comp))
		it_deferred_fail("%s: %d usage chunks %lld+%lld, the "
		    "emulator's %lld+%lld", what, c.usage_chunk, c.prompt,
		    c.completion, p, comp);
	if (!usage && c.usage_chunk != 0)
		it_deferred_fail("%s: the client got a usage chunk", what);
	/* As OpenAI: no usage member at all when not asked for. */
	if (!usage && c.null_usage > 0)
		it_deferred_fail("%s: %d chunks carry \"usage\": null", what,
		    c.null_usage);
	cost = cost_of(p, comp, cached, SMALL_IN, SMALL_OUT, SMALL_CACHED);
	if (call_row(t, calls, &g, what) == 0) {
		if (strcmp(g.status, "ok") != 0 || !g.stream ||
		    !g.usage_reported || g.prompt != p ||
		    g.completion != comp || g.cost != cost)
			it_deferred_fail("%s: gateway_calls %s stream %d "
			    "usage_reported %d %lld+%lld %lld; want ok 1 1 "
			    "%lld+%lld %lld", what, g.status, g.stream,
			    g.usage_reported, g.prompt, g.completion, g.cost, p,
			    comp, cost);
		expect_event(t, g.call_id, "openai", SMALL, p, comp, cost, "-",
		    what);
	}
	expect_hold(t, "settled", prompt_est(NULL, user) + 4096,
	    micros_up(prompt_est(NULL, user), SMALL_IN) + micros_up(4096,
	    SMALL_OUT), what);
	json_object_put(rec);
	chat_free(&c);
}

static void
test_stream(void **state)
{
	struct tenant	 t;

	(void)state;
	tenant_new(&t, "stream", "pro", WITH_OPENAI);
	emu_settings(100, 10);
	stream_once(&t, 0, 1);
	stream_once(&t, 1, 2);
	it_deferred_check();
}

/* --- 3. Anthropic --------------------------------------------------------- */

static void
claude_once(const struct tenant *t, int stream, long calls)
{
	struct chat		 c;
	struct gwrow		 g;
	struct json_object	*rec, *cnt;
	const char		*sys = "You answer in exactly the words given";
	const char		*user = "translate these words for me";
	const char		*what = stream ? "anthropic streamed" :
				    "anthropic";
	char			 cbody[1024];
	long long		 p, comp, cached, cost;

	snprintf(cbody, sizeof(cbody), "{\"system\":\"%s\",\"messages\":"
	    "[{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":64}", sys,
	    user);
	cnt = emu_count(cbody);
	chat(&c, t->key, NULL, body_of(CLAUDE, sys, user, stream,
	    stream ? 1 : -1, 64, ""));
	if (c.status != 200 || (stream && (!c.stream || !c.done))) {
		it_deferred_fail("%s: %ld %.300s", what, c.status,
		    c.body != NULL ? c.body : "");
		json_object_put(cnt);
		chat_free(&c);
		return;
	}
	if ((rec = emu_one(t->ahint, what)) == NULL) {
		json_object_put(cnt);
		chat_free(&c);
		return;
	}
	rec_usage(rec, &p, &comp, &cached);
	print_message("# emulator: %s %s %s messages %lld max_tokens %lld "
	    "usage %lld+%lld\n", jtext(rec, "provider"), jtext(rec, "path"),
	    jtext(rec, "model"), jint(rec, "messages"), jint(rec,
	    "max_tokens"), p, comp);
	/* The system message went as "system": one message, its words. */
	if (strcmp(jtext(rec, "path"), "/v1/messages") != 0 ||
	    strcmp(jtext(rec, "provider"), "anthropic") != 0 ||
	    jint(rec, "messages") != 1 || jint(rec, "max_tokens") != 64 ||
	    p != jint(cnt, "prompt_tokens"))
		it_deferred_fail("%s: upstream %s %s, %lld messages, "
		    "max_tokens %lld, %lld prompt tokens; want /v1/messages, "
		    "1 message, 64, %lld (system counted)", what,
		    jtext(rec, "provider"), jtext(rec, "path"),
		    jint(rec, "messages"), jint(rec, "max_tokens"), p,
		    jint(cnt, "prompt_tokens"));
	if (strcmp(c.text, jtext(cnt, "text")) != 0 ||
	    strcmp(c.object, stream ? "chat.completion.chunk" :
	    "chat.completion") != 0 || strcmp(c.finish, "stop") != 0)
		it_deferred_fail("%s: %s \"%s\" finish %s; want \"%s\" stop",
		    what, c.object, c.text, c.finish, jtext(cnt, "text"));
	if (c.prompt != p || c.completion != comp ||
	    (stream && c.usage_chunk != 1))
		it_deferred_fail("%s: usage %lld+%lld (%d usage chunks), the "
		    "emulator's %lld+%lld", what, c.prompt, c.completion,
		    c.usage_chunk, p, comp);
	cost = cost_of(p, comp, cached, CLAUDE_IN, CLAUDE_OUT, CLAUDE_CACHED);
	if (call_row(t, calls, &g, what) == 0) {
		if (strcmp(g.status, "ok") != 0 || !g.usage_reported ||
		    g.prompt != p || g.completion != comp || g.cost != cost)
			it_deferred_fail("%s: gateway_calls %s %d %lld+%lld "
			    "%lld; want ok 1 %lld+%lld %lld", what, g.status,
			    g.usage_reported, g.prompt, g.completion, g.cost, p,
			    comp, cost);
		expect_event(t, g.call_id, "anthropic", CLAUDE, p, comp, cost,
		    "-", what);
	}
	expect_hold(t, "settled", prompt_est(sys, user) + 64,
	    micros_up(prompt_est(sys, user), CLAUDE_IN) + micros_up(64,
	    CLAUDE_OUT), what);
	json_object_put(rec);
	json_object_put(cnt);
	chat_free(&c);
}

static void
test_anthropic(void **state)
{
	struct tenant	 t;

	(void)state;
	tenant_new(&t, "claude", "pro", WITH_OPENAI | WITH_ANTHROPIC);
	claude_once(&t, 0, 1);
	claude_once(&t, 1, 2);
	it_deferred_check();
}

/* --- 4. a client gone mid-stream ----------------------------------------- */

/*
 * A streamed call on a socket of its own to lighttpd: the first
 * "events" events read, then the connection closed.  Returns how many
 * "data: " lines came before the close.
 */
static int
stream_and_leave(const struct tenant *t, const char *body, int events)
{
	struct addrinfo	 hints, *res = NULL;
	struct pollfd	 pfd;
	const char	*u = it_env("TOLLGATE_URL"), *h, *e, *colon, *p;
	char		 host[128], port[16], req[8192], got[65536];
	double		 deadline;
	size_t		 len = 0, off;
	ssize_t		 n;
	int		 fd, seen = 0;

	h = u + 7;
	e = h + strcspn(h, "/");
	if (strncmp(u, "http://", 7) != 0 || (colon = memchr(h, ':',
	    (size_t)(e - h))) == NULL)
		fail_msg("TOLLGATE_URL is not http://host:port: %s", u);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - h), h);
	snprintf(port, sizeof(port), "%.*s", (int)(e - colon - 1), colon + 1);
	snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", CHAT, host,
	    port, t->key, strlen(body), body);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		fail_msg("cannot resolve %s", host);
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	    -1 || connect(fd, res->ai_addr, res->ai_addrlen) == -1)
		fail_msg("connect %s:%s: %s", host, port, strerror(errno));
	freeaddrinfo(res);
	for (off = 0; off < strlen(req); off += (size_t)n)
		if ((n = write(fd, req + off, strlen(req) - off)) <= 0)
			fail_msg("write: %s", strerror(errno));
	deadline = it_now_ms() + 10000.0;
	while (seen < events && it_now_ms() < deadline) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((n = read(fd, got + len, sizeof(got) - 1 - len)) <= 0)
			break;
		len += (size_t)n;
		got[len] = '\0';
		for (seen = 0, p = got; (p = strstr(p, "data: ")) != NULL; p++)
			seen++;
	}
	close(fd);
	print_message("# left after %d events: %.*s\n", seen, 120,
	    strncmp(got, "HTTP/1.1 ", 9) == 0 ? got : "(no status line)");
	if (strncmp(got, "HTTP/1.1 200", 12) != 0)
		it_deferred_fail("the stream did not start: %.300s", got);
	return seen;
}

static void
test_client_gone(void **state)
{
	long long		 held;
	struct tenant		 t;
	struct gwrow		 g;
	struct json_object	*rec;
	const char		*user = "leave me half way through please";
	long long		 p, comp, cached, est = prompt_est(NULL, user);
	size_t			 gone_lines;
	int			 waited = 0;

	(void)state;
	tenant_new(&t, "gone", "pro", WITH_OPENAI);
	gone_lines = it_log_count("gateway: the client went away");
	/* 12 words 100 ms apart: the client leaves after 3 events. */
	emu_settings(100, EMU_TOKENS);
	stream_and_leave(&t, body_of(SMALL, NULL, user, 1, -1, 40, ""), 3);
	if (call_row(&t, 1, &g, "client gone") == 0 &&
	    (rec = emu_one(t.hint, "client gone")) != NULL) {
		rec_usage(rec, &p, &comp, &cached);
		print_message("# emulator: disconnected %s, usage_sent %s, "
		    "%lld events, usage %lld+%lld\n",
		    json_object_to_json_string(json_object_object_get(rec,
		    "disconnected")),
		    json_object_to_json_string(json_object_object_get(rec,
		    "usage_sent")), jint(rec, "events_sent"), p, comp);
		if (strcmp(g.status, "client_gone") != 0 || !g.usage_reported ||
		    g.prompt != p || g.completion != comp || comp != EMU_TOKENS)
			it_deferred_fail("client gone: gateway_calls %s "
			    "usage_reported %d %lld+%lld; want client_gone 1 "
			    "%lld+%lld (the provider's usage, read on)",
			    g.status, g.usage_reported, g.prompt, g.completion,
			    p, comp);
		expect_event(&t, g.call_id, "openai", SMALL, p, comp, cost_of(p,
		    comp, cached, SMALL_IN, SMALL_OUT, SMALL_CACHED), "-",
		    "client gone");
		json_object_put(rec);
	}
	expect_hold(&t, "settled", est + 40, micros_up(est, SMALL_IN) +
	    micros_up(40, SMALL_OUT), "client gone");
	while (it_log_count("gateway: the client went away") == gone_lines &&
	    waited++ < 40)
		it_sleep_ms(50);
	if (it_log_count("gateway: the client went away") != gone_lines + 1)
		it_deferred_fail("%zu new \"the client went away\" lines in "
		    "the log, want 1", it_log_count("gateway: the client "
		    "went away") - gone_lines);

	/* Gone, and the stream then cut before its usage: the maximum. */
	emu_fault("/v1/chat/completions", "\"error\":\"cut_before_usage\"", 1);
	stream_and_leave(&t, body_of(SMALL, NULL, user, 1, -1, 40, ""), 3);
	if (call_row(&t, 2, &g, "gone, cut before usage") == 0) {
		if (strcmp(g.status, "client_gone") != 0 || g.usage_reported ||
		    g.prompt != est || g.completion != 40)
			it_deferred_fail("gone, cut before usage: "
			    "gateway_calls %s usage_reported %d %lld+%lld; "
			    "want client_gone 0 %lld+40 (the reserved "
			    "maximum)", g.status,
			    g.usage_reported, g.prompt, g.completion, est);
		expect_event(&t, g.call_id, "openai", SMALL, est, 40,
		    cost_of(est, 40, 0, SMALL_IN, SMALL_OUT, SMALL_CACHED), "-",
		    "gone, cut before usage");
	}
	if ((rec = emu_one(t.hint, "gone, cut before usage")) != NULL) {
		if (strcmp(jtext(rec, "cut"), "before-usage") != 0)
			it_deferred_fail("the emulator did not cut: %s",
			    json_object_to_json_string(rec));
		json_object_put(rec);
	}
	expect_hold(&t, "settled", est + 40, micros_up(est, SMALL_IN) +
	    micros_up(40, SMALL_OUT), "gone, cut before usage");
	if ((held = slots_after(&t)) != 0)
		it_deferred_fail("%lld call slots still held", held);
	it_deferred_check();
}

/* --- 5. a stream cut mid-way ---------------------------------------------- */

static void
test_cut(void **state)
{
	struct tenant		 t;
	struct chat		 c;
	struct gwrow		 g;
	struct json_object	*rec;
	const char		*user = "cut this stream in two halves";
	long long		 est = prompt_est(NULL, user);

	(void)state;
	tenant_new(&t, "cut", "pro", WITH_OPENAI);
	emu_fault("/v1/chat/completions", "\"error\":\"cut_mid\"", 1);
	chat(&c, t.key, NULL, body_of(SMALL, NULL, user, 1, 1, 30, ""));
	/* The half that came, then an end without [DONE] or usage. */
	if (c.status != 200 || !c.stream || c.done || c.usage_chunk != 0 ||
	    strcmp(c.text, "Echo: cut this stream in two") != 0)
		it_deferred_fail("cut stream: %ld, [DONE] %d, %d usage chunks, "
		    "text \"%s\" (want the first 6 words)", c.status, c.done,
		    c.usage_chunk, c.text);
	if ((rec = emu_one(t.hint, "cut")) != NULL) {
		if (strcmp(jtext(rec, "cut"), "mid") != 0)
			it_deferred_fail("the emulator did not cut: %s",
			    json_object_to_json_string(rec));
		json_object_put(rec);
	}
	if (call_row(&t, 1, &g, "cut") == 0) {
		if (strcmp(g.status, "cut") != 0 || g.usage_reported ||
		    g.prompt != est || g.completion != 30 || g.cost !=
		    cost_of(est, 30, 0, SMALL_IN, SMALL_OUT, SMALL_CACHED))
			it_deferred_fail("cut: gateway_calls %s "
			    "usage_reported %d %lld+%lld %lld; want cut 0 "
			    "%lld+30 (the reserved maximum)", g.status,
			    g.usage_reported, g.prompt, g.completion, g.cost,
			    est);
		expect_event(&t, g.call_id, "openai", SMALL, est, 30,
		    cost_of(est, 30, 0, SMALL_IN, SMALL_OUT, SMALL_CACHED), "-",
		    "cut");
	}
	expect_hold(&t, "settled", est + 30, micros_up(est, SMALL_IN) +
	    micros_up(30, SMALL_OUT), "cut");
	chat_free(&c);
	it_deferred_check();
}

/* --- 6. refusals ---------------------------------------------------------- */

/* A refused call: its status and code, and nothing stored or sent. */
static void
refused(const struct tenant *t, const char *token, const char *agent,
    const char *ctype, const char *body, long status, const char *code,
    const char *param, long calls, const char *what)
{
	struct json_object	*recs;
	struct chat		 c;
	CURL			*h;

	if ((h = curl_easy_init()) == NULL)
		fail_msg("curl_easy_init");
	if (chat_on(h, &c, token, agent, ctype, body) == -1)
		fail_msg("%s: %s", what, c.error);
	curl_easy_cleanup(h);
	print_message("# %s: %ld %.200s\n", what, c.status,
	    c.body != NULL ? c.body : "");
	expect_refusal(&c, status, code, what);
	if (param != NULL && strcmp(c.param, param) != 0)
		it_deferred_fail("%s: param \"%s\", want \"%s\"", what, c.param,
		    param);
	recs = emu_records(NULL);
	if (json_object_array_length(recs) != 0)
		it_deferred_fail("%s: the provider was called", what);
	json_object_put(recs);
	expect_nothing(t, calls, what);
	chat_free(&c);
}

static void
test_refusals(void **state)
{
	struct tenant	 t, bare, other;
	struct it_resp	 r;
	char		 agent[64], scoped[256], path[128];
	const char	*ok = "{\"model\":\"" SMALL "\",\"messages\":"
			    "[{\"role\":\"user\",\"content\":\"hi\"}]";
	char		 b[512];

	(void)state;
	tenant_new(&t, "refuse", "pro", WITH_OPENAI);
	tenant_new(&bare, "nokey", "pro", 0);
	tenant_new(&other, "other", "pro", WITH_OPENAI);
	agent_new(&other, "5", "block", agent, sizeof(agent));
	api_key(&t, "[\"usage:read\",\"usage:write\"]", scoped,
	    sizeof(scoped));

	snprintf(b, sizeof(b), "%s}", ok);
	refused(&bare, bare.key, NULL, NULL, b, 400, "provider_key_missing",
	    "model", 0, "no key for the provider");
	refused(&t, t.key, NULL, NULL, body_of("no-such-model-xyz", NULL, "hi",
	    -1, -1, -1, ""), 400, "unknown_model", "model", 0,
	    "an unknown model");
	refused(&t, t.key, NULL, NULL, "{\"model\": \"" SMALL "\", messages",
	    400, "invalid_json", NULL, 0, "a body that is not JSON");
	refused(&t, t.key, NULL, "text/plain", b, 415,
	    "unsupported_media_type", NULL, 0, "a text/plain body");
	refused(&t, t.key, NULL, NULL, "{\"model\":\"" SMALL "\"}", 400,
	    "invalid_value", "messages", 0, "no messages");
	refused(&t, t.key, NULL, NULL, "{\"model\":\"" SMALL "\",\"messages\":"
	    "[]}", 400, "invalid_value", "messages", 0, "no message");
	refused(&t, t.key, NULL, NULL, "{\"model\":\"" SMALL "\",\"messages\":"
	    "[{\"content\":\"hi\"}]}", 400, "invalid_value", "messages", 0,
	    "a message without a role");
	snprintf(b, sizeof(b), "%s,\"stream\":\"yes\"}", ok);
	refused(&t, t.key, NULL, NULL, b, 400, "invalid_type", "stream", 0,
	    "stream not a boolean");
	snprintf(b, sizeof(b), "%s,\"n\":2}", ok);
	refused(&t, t.key, NULL, NULL, b, 400, "invalid_value", "n", 0,
	    "n=2");
	snprintf(b, sizeof(b), "%s,\"max_tokens\":0}", ok);
	refused(&t, t.key, NULL, NULL, b, 400, "invalid_value", "max_tokens",
	    0, "max_tokens 0");
	snprintf(b, sizeof(b), "%s,\"max_tokens\":\"many\"}", ok);
	refused(&t, t.key, NULL, NULL, b, 400, "invalid_value", "max_tokens",
	    0, "max_tokens a string");
	snprintf(b, sizeof(b), "%s}", ok);
	refused(&t, t.key, agent, NULL, b, 404, "agent_not_found",
	    "X-Tollgate-Agent", 0, "another tenant's agent");
	refused(&t, t.key, "not-a-uuid", NULL, b, 400, "invalid_value",
	    "X-Tollgate-Agent", 0, "an agent id that is not one");
	/* The tenant's own agent, deactivated. */
	agent_new(&t, "5", "block", agent, sizeof(agent));
	snprintf(path, sizeof(path), API "/agents/%s", agent);
	it_call(&r, t.o.access, "DELETE", path, NULL);
	if (r.status != 200 && r.status != 204)
		fail_msg("DELETE %s: %ld", path, r.status);
	it_response_free(&r);
	refused(&t, t.key, agent, NULL, b, 409, "agent_inactive",
	    "X-Tollgate-Agent", 0, "a deactivated agent");
	refused(&t, scoped, NULL, NULL, b, 403, "insufficient_scope", NULL, 0,
	    "a key without the llm scope");
	refused(&t, NULL, NULL, NULL, b, 401, "missing_token", NULL, 0,
	    "no credentials");
	/* The plan travels with the binding; an unknown key binds none. */
	refused(&t, "tg_00112233445566778899aabbccddeeff", NULL, NULL, b, 401,
	    "invalid_api_key", NULL, 0, "an unknown API key");
	it_deferred_check();
}

/*
 * Tools and parts sent to Anthropic in shapes that cannot be translated
 * (an image it cannot fetch or read, audio): each a
 * 400 naming the field, the provider not called, nothing kept.
 * (tests/llm-gateway-node.sh drives whole tool loops with OpenAI's
 * client through both providers.)
 */
static void
test_tools_refused(void **state)
{
	static const struct {
		const char	*extra, *msgs, *param, *what;
	} bad[] = {
		{ ",\"tools\":{\"type\":\"function\"}", NULL, "tools",
		    "tools not an array" },
		{ ",\"tools\":[{\"type\":\"retrieval\"}]", NULL, "tools",
		    "a tool that is not a function" },
		{ ",\"tools\":[{\"type\":\"function\",\"function\":{}}]",
		    NULL, "tools", "a function without a name" },
		{ ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
		    "\"f\"}}],\"tool_choice\":42", NULL, "tool_choice",
		    "tool_choice a number" },
		{ "", ",{\"role\":\"tool\",\"content\":\"x\"}", "messages",
		    "a tool message without tool_call_id" },
		{ "", ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
		    "[{\"id\":\"t1\",\"type\":\"function\",\"function\":"
		    "{\"name\":\"f\",\"arguments\":\"[1]\"}}]}", "messages",
		    "tool call arguments that are no JSON object" },
		{ "", ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
		    "[{\"type\":\"function\",\"function\":{\"name\":\"f\","
		    "\"arguments\":\"{}\"}}]}", "messages",
		    "a tool call without an id" },
		{ "", ",{\"role\":\"user\",\"content\":[{\"type\":"
		    "\"image_url\",\"image_url\":{\"url\":\"http://x/a.png\"}}]}",
		    "messages", "an image at a plain http URL" },
		{ "", ",{\"role\":\"user\",\"content\":[{\"type\":"
		    "\"image_url\",\"image_url\":{\"url\":"
		    "\"data:image/tiff;base64,AAAA\"}}]}", "messages",
		    "an image of a type Anthropic does not take" },
		{ "", ",{\"role\":\"user\",\"content\":[{\"type\":"
		    "\"input_audio\",\"input_audio\":{}}]}", "messages",
		    "an audio part" },
	};
	struct tenant	 t;
	char		 b[1024];
	size_t		 i;

	(void)state;
	tenant_new(&t, "tools", "pro", WITH_ANTHROPIC);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(b, sizeof(b), "{\"model\":\"" CLAUDE "\",\"messages\":"
		    "[{\"role\":\"user\",\"content\":\"hi\"}%s]%s}",
		    bad[i].msgs != NULL ? bad[i].msgs : "", bad[i].extra);
		refused(&t, t.key, NULL, NULL, b, 400, "invalid_value",
		    bad[i].param, 0, bad[i].what);
	}
	it_deferred_check();
}

/* A budget that fits some of the answer, or not even 16 tokens. */
static void
test_budget(void **state)
{
	struct tenant		 t;
	struct chat		 c;
	struct gwrow		 g;
	struct json_object	*rec;
	const char		*user = "clamp me please";
	long long		 est = prompt_est(NULL, user), pc, fit;
	char			 agent[64], usd[32], want[32], meta[128];

	(void)state;
	tenant_new(&t, "budget", "pro", WITH_OPENAI);
	pc = micros_up(est, SMALL_IN);

	/* Room for the prompt and 15 tokens: refused. */
	snprintf(usd, sizeof(usd), "0.%06lld", pc + 15 * SMALL_OUT / 1000000 +
	    1);
	agent_new(&t, usd, "block", agent, sizeof(agent));
	chat(&c, t.key, agent, body_of(SMALL, NULL, user, -1, -1, -1, ""));
	print_message("# budget %s USD, prompt %lld tokens (%lld micro-USD)\n",
	    usd, est, pc);
	expect_refusal(&c, 429, "budget_exceeded", "a budget short of 16 "
	    "tokens");
	chat_free(&c);
	expect_nothing(&t, 0, "a budget short of 16 tokens");

	/* Room for exactly 16: admitted with 16. */
	snprintf(usd, sizeof(usd), "0.%06lld", pc + 24);
	agent_new(&t, usd, "block", agent, sizeof(agent));
	chat(&c, t.key, agent, body_of(SMALL, NULL, user, -1, -1, -1, ""));
	if (c.status != 200 || strcmp(c.max_hdr, "16") != 0 ||
	    c.completion != 12)
		it_deferred_fail("a budget of 16 tokens: %ld, "
		    "X-Tollgate-Max-Tokens \"%s\", %lld tokens; want 200, 16, "
		    "12", c.status, c.max_hdr, c.completion);
	chat_free(&c);
	emu_mark();

	/* About 500 tokens: clamped, said, and sent upstream. */
	snprintf(usd, sizeof(usd), "0.%06lld", pc + 750 + 1);
	fit = (751 * 1000000) / SMALL_OUT;
	snprintf(want, sizeof(want), "%lld", fit);
	agent_new(&t, usd, "block", agent, sizeof(agent));
	chat(&c, t.key, agent, body_of(SMALL, NULL, user, 1, -1, 2000, ""));
	if (c.status != 200 || strcmp(c.max_hdr, want) != 0 || !c.done)
		it_deferred_fail("clamped: %ld, X-Tollgate-Max-Tokens \"%s\"; "
		    "want 200 and %s", c.status, c.max_hdr, want);
	if ((rec = emu_one(t.hint, "clamped")) != NULL) {
		if (jint(rec, "max_tokens") != fit)
			it_deferred_fail("clamped: max_tokens %lld upstream, "
			    "want %lld", jint(rec, "max_tokens"), fit);
		json_object_put(rec);
	}
	if (call_row(&t, 2, &g, "clamped") == 0)
		expect_event(&t, g.call_id, "openai", SMALL, g.prompt,
		    g.completion, cost_of(g.prompt, g.completion, 0, SMALL_IN,
		    SMALL_OUT, SMALL_CACHED), agent, "clamped");
	expect_hold(&t, "settled", est + fit, pc + micros_up(fit, SMALL_OUT),
	    "clamped");
	if (sqln(&t, "SELECT reserved_micros FROM agent_spend WHERE tenant_id "
	    "= app_tenant() AND agent_id = $1", agent) != 0)
		it_deferred_fail("clamped: the agent still has micro-USD held");
	chat_free(&c);

	/* The agent named in metadata.tollgate_agent: the same clamp. */
	snprintf(usd, sizeof(usd), "0.%06lld", pc + 24);
	agent_new(&t, usd, "block", agent, sizeof(agent));
	snprintf(meta, sizeof(meta), ",\"metadata\":{\"tollgate_agent\":"
	    "\"%s\"}", agent);
	chat(&c, t.key, NULL, body_of(SMALL, NULL, user, -1, -1, -1, meta));
	if (c.status != 200 || strcmp(c.max_hdr, "16") != 0)
		it_deferred_fail("metadata.tollgate_agent: %ld, "
		    "X-Tollgate-Max-Tokens \"%s\"; want 200 and 16", c.status,
		    c.max_hdr);
	if (call_row(&t, 3, &g, "metadata agent") == 0)
		expect_event(&t, g.call_id, "openai", SMALL, g.prompt,
		    g.completion, cost_of(g.prompt, g.completion, 0, SMALL_IN,
		    SMALL_OUT, SMALL_CACHED), agent, "metadata agent");
	chat_free(&c);
	it_deferred_check();
}

/* The free plan: 10,000 llm_tokens, soft, 20 % grace. */
static void
test_free_plan(void **state)
{
	struct tenant	 t;
	struct chat	 c;
	struct it_resp	 r;
	const char	*user = "free plan words";
	char		 usage_key[256], want[32], body[256];
	long long	 est = prompt_est(NULL, user), used;

	(void)state;
	tenant_new(&t, "free", NULL, WITH_OPENAI);
	chat(&c, t.key, NULL, body_of(SMALL, NULL, user, -1, -1, -1, ""));
	if (c.status != 200 || c.max_hdr[0] != '\0')
		it_deferred_fail("free plan: %ld, X-Tollgate-Max-Tokens "
		    "\"%s\"; want 200 and none (4096 fit in 12,000)",
		    c.status, c.max_hdr);
	chat_free(&c);
	holds_settled(&t);
	used = sqln(&t, "SELECT used FROM usage_counters WHERE tenant_id = "
	    "app_tenant() AND metric = 'llm_tokens'", NULL);

	/* More than the quota: clamped to what is left of 12,000. */
	snprintf(want, sizeof(want), "%lld", 12000 - used - est);
	chat(&c, t.key, NULL, body_of(SMALL, NULL, user, -1, -1, 100000, ""));
	if (c.status != 200 || strcmp(c.max_hdr, want) != 0)
		it_deferred_fail("free plan, max_tokens 100000: %ld, "
		    "X-Tollgate-Max-Tokens \"%s\"; want 200 and %s", c.status,
		    c.max_hdr, want);
	chat_free(&c);
	holds_settled(&t);

	/* 5 tokens left: not even the prompt fits. */
	used = sqln(&t, "SELECT used FROM usage_counters WHERE tenant_id = "
	    "app_tenant() AND metric = 'llm_tokens'", NULL);
	api_key(&t, "[\"usage:write\"]", usage_key, sizeof(usage_key));
	snprintf(body, sizeof(body), "{\"events\":[{\"id\":\"fill-%ld\","
	    "\"metric\":\"llm_tokens\",\"value\":%lld}]}", (long)getpid(),
	    11995 - used);
	it_call(&r, usage_key, "POST", API "/usage/events", body);
	it_expect_status(&r, 200);
	it_response_free(&r);
	emu_mark();
	chat(&c, t.key, NULL, body_of(SMALL, NULL, user, -1, -1, -1, ""));
	expect_refusal(&c, 429, "quota_exceeded", "free plan, 5 tokens left");
	chat_free(&c);
	expect_nothing(&t, 2, "free plan, 5 tokens left");
	it_deferred_check();
}

/* --- 7. the provider refuses or fails ------------------------------------- */

/* The key's status as GET /llm-keys shows it, and in the database. */
static void
expect_key(const struct tenant *t, const char *provider, const char *status,
    const char *what)
{
	struct it_resp		 r;
	struct json_object	*data, *k;
	const char		*got = NULL;
	char			 db[64];
	size_t			 i;

	it_call(&r, t->o.access, "GET", API "/llm-keys", NULL);
	it_expect_status(&r, 200);
	if (it_json_get(it_json(&r), "data", &data) && data != NULL)
		for (i = 0; i < json_object_array_length(data); i++) {
			k = json_object_array_get_idx(data, i);
			if (strcmp(jtext(k, "provider"), provider) == 0)
				got = jtext(k, "status");
		}
	if (got == NULL || strcmp(got, status) != 0)
		it_deferred_fail("%s: GET /llm-keys says %s, want %s: %.300s",
		    what, got != NULL ? got : "(no key)", status, r.body);
	it_response_free(&r);
	sqlv(db, sizeof(db), t, "SELECT status FROM tenant_llm_keys WHERE "
	    "tenant_id = app_tenant() AND provider = $1", provider,
	    (const char *)NULL);
	if (strcmp(db, status) != 0)
		it_deferred_fail("%s: tenant_llm_keys.status %s, want %s", what,
		    db, status);
}

/* A call the provider refused before generating: nothing settled. */
static void
provider_refused(const struct tenant *t, const char *model,
    const char *hint, long status, const char *code, const char *retry,
    long upstream, const char *row_status, long calls, const char *what)
{
	struct chat	 c;
	struct gwrow	 g;
	const char	*user = "the provider says no";
	long long	 est = prompt_est(NULL, user);
	struct json_object *rec;

	chat(&c, t->key, NULL, body_of(model, NULL, user, -1, -1, 50, ""));
	expect_refusal(&c, status, code, what);
	if (retry != NULL && strcmp(c.retry_after, retry) != 0)
		it_deferred_fail("%s: Retry-After \"%s\", want %s", what,
		    c.retry_after, retry);
	if (upstream > 0 && (rec = emu_one(hint, what)) != NULL) {
		if (jint(rec, "status") != upstream)
			it_deferred_fail("%s: the emulator answered %lld",
			    what, jint(rec, "status"));
		json_object_put(rec);
	}
	if (call_row(t, calls, &g, what) == 0 && (strcmp(g.status,
	    row_status) != 0 || g.http != (upstream > 0 ? upstream : 0) ||
	    g.usage_reported || g.prompt != 0 || g.completion != 0 ||
	    g.cost != 0))
		it_deferred_fail("%s: gateway_calls %s http %ld %lld+%lld "
		    "%lld; want %s %ld, nothing used", what, g.status, g.http,
		    g.prompt, g.completion, g.cost, row_status, upstream);
	if (sqln(t, "SELECT count(*) FROM usage_events WHERE tenant_id = "
	    "app_tenant() AND event_id = $1", g.call_id) != 0)
		it_deferred_fail("%s: a usage event for a refused call", what);
	expect_hold(t, "released", est + 50, micros_up(est, strcmp(model,
	    CLAUDE) == 0 ? CLAUDE_IN : SMALL_IN) + micros_up(50, strcmp(model,
	    CLAUDE) == 0 ? CLAUDE_OUT : SMALL_OUT), what);
	chat_free(&c);
}

static void
test_provider_errors(void **state)
{
	struct tenant	 t;
	struct chat	 c;
	char		 body[256], detail[512];

	(void)state;
	tenant_new(&t, "provider", "pro", WITH_OPENAI | WITH_ANTHROPIC);

	/* 401: the key is failing and the organization told. */
	emu_fault("/v1/chat/completions", "\"status\":401", 1);
	provider_refused(&t, SMALL, NULL, 502, "provider_key_rejected", NULL,
	    401, "provider_error", 1, "the provider's 401");
	expect_key(&t, "openai", "failing", "after a 401");
	sqlv(detail, sizeof(detail), &t, "SELECT status_detail FROM "
	    "tenant_llm_keys WHERE tenant_id = app_tenant() AND provider = "
	    "'openai'", (const char *)NULL);
	print_message("# status_detail: %s\n", detail);
	if (strstr(detail, "401") == NULL)
		it_deferred_fail("status_detail does not say 401: %s", detail);
	if (sqln(&t, "SELECT count(*) FROM notifications WHERE tenant_id = "
	    "app_tenant() AND trigger = 'llm_key_failing' AND subject = "
	    "'openai'", NULL) != 1)
		it_deferred_fail("no llm_key_failing notification queued");

	/* 429: passed on with the provider's Retry-After. */
	emu_fault("/v1/chat/completions", "\"status\":429", 1);
	provider_refused(&t, SMALL, NULL, 429, "provider_rate_limited", "7",
	    429, "provider_error", 2, "the provider's 429");
	/* 500: a 502. */
	emu_fault("/v1/chat/completions", "\"status\":500", 1);
	provider_refused(&t, SMALL, NULL, 502, "provider_error", NULL, 500,
	    "provider_error", 3, "the provider's 500");
	expect_key(&t, "openai", "failing", "after a 429 and a 500");

	/* The next good call: working again. */
	chat(&c, t.key, NULL, body_of(SMALL, NULL, "fine now", -1, -1, -1, ""));
	if (c.status != 200)
		it_deferred_fail("after the faults: %ld %.200s", c.status,
		    c.body != NULL ? c.body : "");
	chat_free(&c);
	expect_key(&t, "openai", "working", "after a good call");
	emu_mark();

	/* A revoked Anthropic key: 401 in Anthropic's shape. */
	snprintf(body, sizeof(body), "{\"key\":\"%s\"}", t.anthropic);
	emu_ctl("POST", "/_emu/revoke", body);
	provider_refused(&t, CLAUDE, t.ahint, 502, "provider_key_rejected",
	    NULL, 401, "provider_error", 5, "a revoked Anthropic key");
	expect_key(&t, "anthropic", "failing", "a revoked Anthropic key");
	expect_key(&t, "openai", "working", "a revoked Anthropic key");

	/* No provider at all: the emulator stopped. */
	if (it_stack_sh("llm-stop") != 0)
		fail_msg("tests/stack.sh llm-stop failed");
	provider_refused(&t, SMALL, t.hint, 502, "provider_unreachable", NULL, 0,
	    "provider_error", 6, "the provider unreachable");
	if (it_stack_sh("llm-start") != 0)
		fail_msg("tests/stack.sh llm-start failed");
	emu_mark();
	chat(&c, t.key, NULL, body_of(SMALL, NULL, "back again", -1, -1, -1,
	    ""));
	if (c.status != 200)
		it_deferred_fail("after the emulator came back: %ld", c.status);
	chat_free(&c);
	it_deferred_check();
}

/* --- 8. concurrent calls against one budget ------------------------------- */

struct burst {
	const char		*key;
	const char		*agent;
	const char		*body;
	pthread_barrier_t	*go;
	long			 status;
	int			 done;
	char			 code[64];
	char			 error[CURL_ERROR_SIZE];
};

static void *
burst_run(void *arg)
{
	struct burst	*b = arg;
	struct chat	 c;
	CURL		*h = curl_easy_init();

	pthread_barrier_wait(b->go);
	if (h == NULL) {
		snprintf(b->error, sizeof(b->error), "curl_easy_init");
		return NULL;
	}
	if (chat_on(h, &c, b->key, b->agent, NULL, b->body) == -1)
		snprintf(b->error, sizeof(b->error), "%s", c.error);
	b->status = c.status;
	b->done = c.done;
	snprintf(b->code, sizeof(b->code), "%s", c.code);
	chat_free(&c);
	curl_easy_cleanup(h);
	return NULL;
}

static void
test_concurrent_budget(void **state)
{
	static struct burst	 b[BURST];
	pthread_t		 th[BURST];
	pthread_barrier_t	 go;
	struct tenant		 t;
	struct gwrow		 g;
	char			 agent[64], usd[32], body[512], spend[128];
	const char		*user = "a burst of calls";
	long long		 hold, budget, cost, reserved, events;
	double			 t0;
	int			 i, ok = 0, budget_no = 0, cap_no = 0;
	int			 other = 0;

	(void)state;
	/* Power: 120 requests a minute, the plan's limit out of the way. */
	tenant_new(&t, "burst", "power", WITH_OPENAI);
	hold = micros_up(prompt_est(NULL, user), 0) + micros_up(MIN_TOKENS,
	    FLAT_OUT);
	budget = BURST_ROOM * hold;
	snprintf(usd, sizeof(usd), "0.%06lld", budget);
	agent_new(&t, usd, "block", agent, sizeof(agent));
	snprintf(body, sizeof(body), "%s", body_of(FLAT, NULL, user, 1, -1,
	    MIN_TOKENS, ""));
	/* Each call answers all of its 16 tokens: it costs its hold. */
	emu_settings(EMU_DELAY, 20);
	print_message("# %d calls, hold %lld micro-USD each, budget %lld\n",
	    BURST, hold, budget);
	assert_int_equal(pthread_barrier_init(&go, NULL, BURST), 0);
	t0 = it_now_ms();
	for (i = 0; i < BURST; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].key = t.key;
		b[i].agent = agent;
		b[i].body = body;
		b[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, burst_run, &b[i]),
		    0);
	}
	for (i = 0; i < BURST; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < BURST; i++) {
		if (b[i].status == 200 && b[i].done)
			ok++;
		else if (b[i].status == 429 && strcmp(b[i].code,
		    "budget_exceeded") == 0)
			budget_no++;
		else if (b[i].status == 429 && strcmp(b[i].code,
		    "concurrency_limit") == 0)
			cap_no++;
		else {
			other++;
			it_deferred_fail("call %d: %ld %s [DONE] %d %s", i,
			    b[i].status, b[i].code, b[i].done, b[i].error);
		}
	}
	print_message("# %d calls in %.0f ms: %d answered, %d budget_exceeded, "
	    "%d concurrency_limit, %d other\n", BURST, it_now_ms() - t0, ok,
	    budget_no, cap_no, other);
	if (ok < 1 || ok > BURST_ROOM)
		it_deferred_fail("%d calls answered; want 1 to %d", ok,
		    BURST_ROOM);

	/* Every call's row, then the agent's spend. */
	(void)call_row(&t, ok, &g, "burst");
	sqlv(spend, sizeof(spend), &t, "SELECT cost_micros || '|' || "
	    "reserved_micros FROM agent_spend WHERE tenant_id = app_tenant() "
	    "AND agent_id = $1", agent, (const char *)NULL);
	cost = strtoll(spend, NULL, 10);
	reserved = strchr(spend, '|') != NULL ? strtoll(strchr(spend, '|') + 1,
	    NULL, 10) : -1;
	events = sqln(&t, "SELECT count(*) FROM usage_events WHERE tenant_id = "
	    "app_tenant() AND agent_id = $1", agent);
	print_message("# agent_spend: %lld micro-USD spent, %lld held; %lld "
	    "events\n", cost, reserved, events);
	if (cost > budget)
		it_deferred_fail("the agent spent %lld micro-USD of a budget "
		    "of %lld", cost, budget);
	if (cost != ok * hold || events != ok || reserved != 0)
		it_deferred_fail("spend %lld, %lld events, %lld held; want "
		    "%lld, %d, 0", cost, events, reserved, ok * hold, ok);
	if (sqln(&t, "SELECT count(*) FROM reservations WHERE tenant_id = "
	    "app_tenant() AND status <> 'settled'", NULL) != 0)
		it_deferred_fail("reservations not settled: %lld", sqln(&t,
		    "SELECT count(*) FROM reservations WHERE tenant_id = "
		    "app_tenant() AND status <> 'settled'", NULL));
	if ((cost = slots_held(&t)) != 0)
		it_deferred_fail("%lld call slots of the tenant are still held "
		    "(advisory locks) with no call in progress", cost);
	it_deferred_check();
}

/* A statement on the owner's connection of the caller's; must succeed. */
static void
owner_exec(PGconn *c, const char *sql, int n, const char *const *v)
{
	PGresult	*res;

	res = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("owner: %s: %s", sql, PQerrorMessage(c));
	PQclear(res);
}

struct one_call {
	const char	*key;
	const char	*agent;
	const char	*body;
	struct chat	 c;
	int		 rc;
};

static void *
one_call_run(void *arg)
{
	struct one_call	*o = arg;
	CURL		*h = curl_easy_init();

	o->rc = -1;
	if (h != NULL) {
		o->rc = chat_on(h, &o->c, o->key, o->agent, NULL, o->body);
		curl_easy_cleanup(h);
	}
	return NULL;
}

/*
 * A hold refused after the plan: another call's hold committed between
 * the two (the race the 64 calls above may or may not hit), made
 * certain here.  The agent's spend row is locked by this program while
 * the call plans and tries to hold; this program then holds the rest
 * of the budget itself, as that other call would, and lets go.  The
 * call must be a 429 budget_exceeded that gives its slot back.
 */
static void
test_hold_race(void **state)
{
	struct one_call	 o;
	struct tenant	 t;
	struct chat	 c;
	pthread_t	 th;
	PGconn		*pg;
	char		 agent[64], body[512], room[32];
	const char	*user = "race for the last of it";
	const char	*v[2];
	double		 deadline;
	long long	 waiting = 0, spent;

	(void)state;
	tenant_new(&t, "race", "pro", WITH_OPENAI);
	agent_new(&t, "0.000100", "block", agent, sizeof(agent));
	snprintf(body, sizeof(body), "%s", body_of(FLAT, NULL, user, -1, -1,
	    MIN_TOKENS, ""));
	emu_settings(EMU_DELAY, 20);
	/* One call first: the agent's spend row exists. */
	chat(&c, t.key, agent, body);
	if (c.status != 200)
		fail_msg("the first call: %ld", c.status);
	chat_free(&c);
	spent = sqln(&t, "SELECT cost_micros FROM agent_spend WHERE tenant_id "
	    "= app_tenant() AND agent_id = $1", agent);

	pg = PQconnectdb(it_env("TOLLGATE_OWNER_DATABASE_URL"));
	if (PQstatus(pg) != CONNECTION_OK)
		fail_msg("owner connection: %s", PQerrorMessage(pg));
	v[0] = t.o.tenant;
	owner_exec(pg, "SELECT set_config('tollgate.tenant_id', $1, false)", 1,
	    v);
	owner_exec(pg, "BEGIN", 0, NULL);
	v[0] = agent;
	owner_exec(pg, "SELECT 1 FROM agent_spend WHERE tenant_id = "
	    "app_tenant() AND agent_id = $1 FOR UPDATE", 1, v);

	memset(&o, 0, sizeof(o));
	o.key = t.key;
	o.agent = agent;
	o.body = body;
	assert_int_equal(pthread_create(&th, NULL, one_call_run, &o), 0);
	/* The call waits on the row: it has planned and taken its slot. */
	deadline = it_now_ms() + 5000.0;
	while ((waiting = sqln(&t, "SELECT count(*) FROM pg_locks WHERE NOT "
	    "granted", NULL)) == 0 && it_now_ms() < deadline)
		it_sleep_ms(20);
	print_message("# %lld lock waits; %lld slots held\n", waiting,
	    slots_held(&t));
	/* The rest of the budget held by "another call", then let go. */
	snprintf(room, sizeof(room), "%lld", 100 - spent);
	v[1] = room;
	owner_exec(pg, "UPDATE agent_spend SET reserved_micros = "
	    "reserved_micros + $2::bigint WHERE tenant_id = app_tenant() AND "
	    "agent_id = $1", 2, v);
	owner_exec(pg, "COMMIT", 0, NULL);
	pthread_join(th, NULL);
	print_message("# the call: %ld %.200s\n", o.c.status, o.c.body != NULL ?
	    o.c.body : o.c.error);
	if (waiting == 0)
		it_deferred_fail("the call never waited on the spend row");
	expect_refusal(&o.c, 429, "budget_exceeded", "a hold refused after "
	    "the plan");
	chat_free(&o.c);
	owner_exec(pg, "UPDATE agent_spend SET reserved_micros = "
	    "reserved_micros - $2::bigint WHERE tenant_id = app_tenant() AND "
	    "agent_id = $1", 2, v);
	PQfinish(pg);
	expect_nothing(&t, 1, "a hold refused after the plan");
	if ((spent = slots_held(&t)) != 0)
		it_deferred_fail("a hold refused after the plan: %lld call "
		    "slot(s) of the tenant still held (advisory locks of a "
		    "responder's session) with no call in progress", spent);
	it_deferred_check();
}

/* --- 9. the tenant's cap of concurrent calls ------------------------------ */

/* A private master with a gateway pool larger than the cap. */
struct priv {
	char	 dir[256];
	char	 main_sock[PATH_MAX];
	char	 gw_sock[PATH_MAX];
	char	 pidfile[PATH_MAX];
	char	 log[PATH_MAX];
	pid_t	 master;
};

static struct priv	 priv;

static void
priv_exec(const struct priv *p, int workers, int logfd)
{
	char	 m[PATH_MAX + 8], g[PATH_MAX + 8], n[16];
	int	 null;

	snprintf(m, sizeof(m), "unix:%s", p->main_sock);
	snprintf(g, sizeof(g), "unix:%s", p->gw_sock);
	snprintf(n, sizeof(n), "%d", workers);
	if (setenv("TOLLGATE_LISTEN", m, 1) == -1 ||
	    setenv("TOLLGATE_GATEWAY_LISTEN", g, 1) == -1 ||
	    setenv("TOLLGATE_GATEWAY_WORKERS", n, 1) == -1 ||
	    setenv("TOLLGATE_WORKERS", "1", 1) == -1 ||
	    setenv("TOLLGATE_PIDFILE", p->pidfile, 1) == -1)
		_exit(126);
	if ((null = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(null, STDIN_FILENO) == -1 ||
	    dup2(logfd, STDOUT_FILENO) == -1 ||
	    dup2(logfd, STDERR_FILENO) == -1 || chdir("/") == -1)
		_exit(126);
	execl(getenv("TOLLGATE_BIN"), "tollgate", "serve", (char *)NULL);
	_exit(127);
}

static void
priv_start(int workers)
{
	struct passwd	*pw;
	struct stat	 st;
	pid_t		 kids[64];
	double		 deadline;
	int		 logfd;

	memset(&priv, 0, sizeof(priv));
	if ((size_t)snprintf(priv.dir, sizeof(priv.dir), "%s/it-gateway."
	    "XXXXXX", it_env("STACK_DIR")) >= sizeof(priv.dir))
		fail_msg("STACK_DIR too long: %s", it_env("STACK_DIR"));
	if (mkdtemp(priv.dir) == NULL)
		fail_msg("mkdtemp %s: %s", priv.dir, strerror(errno));
	if (geteuid() == 0) {
		if ((pw = getpwnam(it_env_or("TOLLGATE_USER", "www-data"))) ==
		    NULL)
			fail_msg("no user %s", it_env_or("TOLLGATE_USER",
			    "www-data"));
		if (chown(priv.dir, pw->pw_uid, pw->pw_gid) == -1 ||
		    chmod(priv.dir, 0750) == -1)
			fail_msg("chown %s: %s", priv.dir, strerror(errno));
	}
	snprintf(priv.main_sock, sizeof(priv.main_sock), "%s/main.sock",
	    priv.dir);
	snprintf(priv.gw_sock, sizeof(priv.gw_sock), "%s/gw.sock", priv.dir);
	snprintf(priv.pidfile, sizeof(priv.pidfile), "%s/tollgate.pid",
	    priv.dir);
	snprintf(priv.log, sizeof(priv.log), "%s/log/it-gateway-serve.log",
	    it_env("STACK_DIR"));
	if ((logfd = open(priv.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		fail_msg("open %s: %s", priv.log, strerror(errno));
	fflush(stdout);
	fflush(stderr);
	if ((priv.master = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (priv.master == 0)
		priv_exec(&priv, workers, logfd);
	close(logfd);
	deadline = it_now_ms() + 15000.0;
	while (lstat(priv.gw_sock, &st) == -1 ||
	    it_responder_pids(priv.master, kids, 64) != (size_t)workers + 1) {
		if (waitpid(priv.master, NULL, WNOHANG) == priv.master) {
			priv.master = 0;
			fail_msg("the private master exited; see %s", priv.log);
		}
		if (it_now_ms() > deadline)
			fail_msg("the private master is not ready; see %s",
			    priv.log);
		it_sleep_ms(20);
	}
	print_message("# private master %ld: %d gateway responders on %s, log "
	    "%s\n", (long)priv.master, workers, priv.gw_sock, priv.log);
}

static void
priv_stop(void)
{
	pid_t	 kids[64];
	size_t	 n, i;
	double	 deadline;

	if (priv.master <= 0)
		return;
	n = it_responder_pids(priv.master, kids, 64);
	kill(priv.master, SIGTERM);
	deadline = it_now_ms() + 10000.0;
	while (waitpid(priv.master, NULL, WNOHANG) != priv.master) {
		if (it_now_ms() > deadline) {
			kill(priv.master, SIGKILL);
			for (i = 0; i < n && i < 64; i++)
				kill(kids[i], SIGKILL);
			waitpid(priv.master, NULL, 0);
			break;
		}
		it_sleep_ms(20);
	}
	priv.master = 0;
	unlink(priv.main_sock);
	unlink(priv.gw_sock);
	unlink(priv.pidfile);
	rmdir(priv.dir);
}

/* One call straight to a FastCGI socket, read to its end. */
struct fcall {
	const char	*sock;
	const char	*token;
	const char	*body;
	pthread_mutex_t	*mu;
	int		*started;	/* raised at the first event */
	long		 status;	/* 0: no answer */
	char		*out;		/* FCGI_STDOUT, NUL-terminated */
	size_t		 outlen;
	int		 ended;		/* FCGI_END_REQUEST */
	char		 error[128];
};

static void
fcgi_pair(struct it_fcgi *p, const char *name, const char *value)
{
	it_fcgi_len(p, strlen(name));
	it_fcgi_len(p, strlen(value));
	it_fcgi_put(p, name, strlen(name));
	it_fcgi_put(p, value, strlen(value));
}

/* Any thread; never fails the test. */
static void *
fcall_run(void *arg)
{
	struct fcall		*f = arg;
	struct it_fcgi		 params, req;
	struct pollfd		 pfd;
	unsigned char		*raw = NULL;
	char			 auth[IT_TOKEN_MAX + 16], len[32];
	const char		*st, *end;
	size_t			 rawlen = 0, off, clen;
	double			 deadline;
	ssize_t			 n;
	int			 fd = -1, raised = 0;
	struct sockaddr_un	 sun;

	memset(&params, 0, sizeof(params));
	memset(&req, 0, sizeof(req));
	f->out = calloc(1, CHAT_MAX + 1);
	raw = malloc(CHAT_MAX);
	if (f->out == NULL || raw == NULL) {
		snprintf(f->error, sizeof(f->error), "out of memory");
		goto done;
	}
	snprintf(auth, sizeof(auth), "Bearer %s", f->token);
	snprintf(len, sizeof(len), "%zu", strlen(f->body));
	fcgi_pair(&params, "REQUEST_METHOD", "POST");
	fcgi_pair(&params, "REQUEST_URI", CHAT);
	fcgi_pair(&params, "QUERY_STRING", "");
	fcgi_pair(&params, "SERVER_PROTOCOL", "HTTP/1.1");
	fcgi_pair(&params, "REMOTE_ADDR", "127.0.0.1");
	fcgi_pair(&params, "HTTP_HOST", "127.0.0.1");
	fcgi_pair(&params, "CONTENT_TYPE", IT_JSON);
	fcgi_pair(&params, "CONTENT_LENGTH", len);
	fcgi_pair(&params, "HTTP_AUTHORIZATION", auth);
	it_fcgi_begin(&req, FCGI_RESPONDER);
	it_fcgi_header(&req, FCGI_PARAMS, params.len);
	it_fcgi_put(&req, params.b, params.len);
	it_fcgi_header(&req, FCGI_PARAMS, 0);
	it_fcgi_header(&req, FCGI_STDIN, strlen(f->body));
	it_fcgi_put(&req, f->body, strlen(f->body));
	it_fcgi_header(&req, FCGI_STDIN, 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(f->error, sizeof(f->error), "connect %s: %s", f->sock,
		    strerror(errno));
		goto done;
	}
	for (off = 0; off < req.len; off += (size_t)n)
		if ((n = write(fd, req.b + off, req.len - off)) <= 0) {
			snprintf(f->error, sizeof(f->error), "write: %s",
			    strerror(errno));
			goto done;
		}
	deadline = it_now_ms() + CHAT_TIMEOUT_S * 1000.0;
	while (!f->ended && it_now_ms() < deadline) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((n = read(fd, raw + rawlen, CHAT_MAX - rawlen)) <= 0)
			break;
		rawlen += (size_t)n;
		/* Whole records: their STDOUT joined, the end noted. */
		while (rawlen >= FCGI_HEADER_LEN) {
			clen = (size_t)raw[4] << 8 | raw[5];
			if (rawlen < FCGI_HEADER_LEN + clen + raw[6])
				break;
			if (raw[1] == FCGI_STDOUT && f->outlen + clen <=
			    CHAT_MAX) {
				memcpy(f->out + f->outlen, raw +
				    FCGI_HEADER_LEN, clen);
				f->outlen += clen;
				f->out[f->outlen] = '\0';
			} else if (raw[1] == FCGI_END_REQUEST)
				f->ended = 1;
			off = FCGI_HEADER_LEN + clen + raw[6];
			memmove(raw, raw + off, rawlen - off);
			rawlen -= off;
		}
		if (!raised && strstr(f->out, "data: ") != NULL) {
			raised = 1;
			pthread_mutex_lock(f->mu);
			(*f->started)++;
			pthread_mutex_unlock(f->mu);
		}
	}
	/* The head's Status: line; none is a 200. */
	if (f->outlen > 0) {
		end = strstr(f->out, "\r\n\r\n");
		st = strstr(f->out, "Status: ");
		f->status = st != NULL && (end == NULL || st < end) ?
		    strtol(st + 8, NULL, 10) : 200;
	}
done:
	if (fd != -1)
		close(fd);
	free(raw);
	return NULL;
}

static void
test_concurrency_cap(void **state)
{
	long long	 held;
	pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
	struct fcall	 f[64], ninth;
	pthread_t	 th[64];
	struct tenant	 t, u;
	struct chat	 c;
	char		 body[512];
	const char	*user = "hold this slot for a while";
	double		 deadline, t0;
	long		 cap;
	int		 i, started = 0, dummy = 0;

	(void)state;
	cap = strtol(it_env_or("TOLLGATE_GATEWAY_TENANT_STREAMS", "8"), NULL,
	    10);
	if (cap < 1 || cap > 60)
		skip();
	tenant_new(&t, "cap", "pro", WITH_OPENAI);
	tenant_new(&u, "cap-other", "pro", WITH_OPENAI);
	priv_start((int)cap + 2);
	emu_settings(500, 10);
	snprintf(body, sizeof(body), "%s", body_of(SMALL, NULL, user, 1, -1,
	    20, ""));
	t0 = it_now_ms();
	for (i = 0; i < cap; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		f[i].sock = priv.gw_sock;
		f[i].token = t.key;
		f[i].body = body;
		f[i].mu = &mu;
		f[i].started = &started;
		assert_int_equal(pthread_create(&th[i], NULL, fcall_run, &f[i]),
		    0);
	}
	deadline = it_now_ms() + 10000.0;
	for (;;) {
		pthread_mutex_lock(&mu);
		i = started;
		pthread_mutex_unlock(&mu);
		if (i == cap || it_now_ms() > deadline)
			break;
		it_sleep_ms(20);
	}
	print_message("# %d of %ld streams under way after %.0f ms; %lld slots "
	    "held\n", i, cap, it_now_ms() - t0, slots_held(&t));
	if (i != cap)
		it_deferred_fail("%d of %ld streams started", i, cap);

	/* One more on the private master, one through lighttpd. */
	memset(&ninth, 0, sizeof(ninth));
	ninth.sock = priv.gw_sock;
	ninth.token = t.key;
	ninth.body = body;
	ninth.mu = &mu;
	ninth.started = &dummy;
	fcall_run(&ninth);
	print_message("# one more, FastCGI: %ld %.300s\n", ninth.status,
	    ninth.out != NULL && strstr(ninth.out, "\r\n\r\n") != NULL ?
	    strstr(ninth.out, "\r\n\r\n") + 4 : ninth.error);
	if (ninth.status != 429 || ninth.out == NULL ||
	    strstr(ninth.out, "\"concurrency_limit\"") == NULL ||
	    strstr(ninth.out, "Retry-After: 1") == NULL)
		it_deferred_fail("call %ld + 1 on the private master: %ld, "
		    "want 429 concurrency_limit with Retry-After: 1", cap,
		    ninth.status);
	free(ninth.out);
	chat(&c, t.key, NULL, body_of(SMALL, NULL, "and one more", -1, -1, 20,
	    ""));
	expect_refusal(&c, 429, "concurrency_limit", "one more through "
	    "lighttpd (the stack's master)");
	chat_free(&c);
	/* Another tenant is not limited by this one's calls. */
	chat(&c, u.key, NULL, body_of(SMALL, NULL, "another tenant", -1, -1,
	    20, ""));
	if (c.status != 200)
		it_deferred_fail("another tenant during the streams: %ld",
		    c.status);
	chat_free(&c);

	for (i = 0; i < cap; i++) {
		pthread_join(th[i], NULL);
		if (f[i].status != 200 || !f[i].ended || f[i].out == NULL ||
		    strstr(f[i].out, "data: [DONE]") == NULL)
			it_deferred_fail("stream %d: %ld, ended %d, [DONE] "
			    "%s %s", i, f[i].status, f[i].ended,
			    f[i].out != NULL && strstr(f[i].out,
			    "data: [DONE]") != NULL ? "yes" : "no",
			    f[i].error);
		free(f[i].out);
	}
	print_message("# the streams ended after %.0f ms\n", it_now_ms() - t0);
	priv_stop();

	/* The slots are back: a call goes through. */
	emu_settings(EMU_DELAY, EMU_TOKENS);
	chat(&c, t.key, NULL, body_of(SMALL, NULL, "after the streams", 1, -1,
	    20, ""));
	if (c.status != 200 || !c.done)
		it_deferred_fail("after the streams: %ld %s", c.status, c.code);
	chat_free(&c);
	if ((held = slots_after(&t)) != 0)
		it_deferred_fail("%lld slots still held after every call ended",
		    held);
	if (sqln(&t, "SELECT count(*) FROM gateway_calls WHERE tenant_id = "
	    "app_tenant() AND status = 'ok'", NULL) != cap + 1)
		it_deferred_fail("%lld calls recorded ok, want %ld", sqln(&t,
		    "SELECT count(*) FROM gateway_calls WHERE tenant_id = "
		    "app_tenant() AND status = 'ok'", NULL), cap + 1);
	it_deferred_check();
}

/* --- 10. the models ------------------------------------------------------- */

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * GET /llm/models must list exactly the models model_prices prices
 * today for "providers" (comma-separated), sorted here as the SQL
 * sorts them, by bytes.
 */
static void
expect_models(const struct tenant *t, const char *providers, const char *what)
{
	struct it_resp		 r;
	struct json_object	*data, *m;
	const char		*names[512];
	char			 want[8192], got[8192];
	size_t			 i, n = 0, len = 0;

	sqlv(want, sizeof(want), t, "SELECT coalesce(string_agg(model, ',' "
	    "ORDER BY model COLLATE \"C\"), '') FROM (SELECT DISTINCT model "
	    "FROM model_prices WHERE provider = ANY (string_to_array($1, ',')) "
	    "AND effective_from <= (now() AT TIME ZONE 'UTC')::date) m",
	    providers, (const char *)NULL);
	it_call(&r, t->key, "GET", MODELS, NULL);
	it_expect_status(&r, 200);
	if (strcmp(jtext(it_json(&r), "object"), "list") != 0 ||
	    !it_json_get(it_json(&r), "data", &data) || data == NULL ||
	    !json_object_is_type(data, json_type_array))
		fail_msg("%s: not a list: %.300s", what, r.body);
	for (i = 0; i < json_object_array_length(data) && n < 512; i++) {
		m = json_object_array_get_idx(data, i);
		names[n++] = jtext(m, "id");
		if (strcmp(jtext(m, "object"), "model") != 0 ||
		    jtext(m, "owned_by")[0] == '\0')
			it_deferred_fail("%s: %s", what,
			    json_object_to_json_string(m));
	}
	qsort(names, n, sizeof(names[0]), name_cmp);
	got[0] = '\0';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s",
		    i > 0 ? "," : "", names[i]);
	print_message("# %s: %s\n", what, got);
	if (strcmp(got, want) != 0)
		it_deferred_fail("%s: GET %s lists \"%s\", want \"%s\"", what,
		    MODELS, got, want);
	it_response_free(&r);
}

/*
 * GET /llm/models/{model} (OpenAI's models.retrieve): 200 with the
 * model owned by provider, or (provider NULL) 404 model_not_found.
 */
static void
expect_model(const struct tenant *t, const char *model, const char *provider)
{
	struct it_resp	 r;
	char		 path[512];

	snprintf(path, sizeof(path), MODELS "/%s", model);
	it_call(&r, t->key, "GET", path, NULL);
	if (provider == NULL)
		it_expect_code(&r, 404, "model_not_found", path);
	else if (r.status != 200 || strcmp(jtext(it_json(&r), "id"),
	    model) != 0 || strcmp(jtext(it_json(&r), "object"), "model") !=
	    0 || strcmp(jtext(it_json(&r), "owned_by"), provider) != 0)
		it_deferred_fail("GET %s: %ld %.300s; want the model owned "
		    "by %s", path, r.status, r.body, provider);
	it_response_free(&r);
}

static void
test_models(void **state)
{
	struct tenant	 t;
	char		 om[256], am[256];

	(void)state;
	tenant_new(&t, "models", "pro", 0);
	sqlv(om, sizeof(om), &t, "SELECT min(model COLLATE \"C\") FROM "
	    "model_prices WHERE provider = $1 AND effective_from <= "
	    "(now() AT TIME ZONE 'UTC')::date", "openai", (const char *)NULL);
	sqlv(am, sizeof(am), &t, "SELECT min(model COLLATE \"C\") FROM "
	    "model_prices WHERE provider = $1 AND effective_from <= "
	    "(now() AT TIME ZONE 'UTC')::date", "anthropic",
	    (const char *)NULL);
	if (om[0] == '\0' || am[0] == '\0')
		fail_msg("no OpenAI or Anthropic model in model_prices");
	expect_models(&t, "", "no keys");
	expect_model(&t, om, NULL);
	provider_key("sk-", t.openai, sizeof(t.openai), t.hint,
	    sizeof(t.hint));
	llm_key_add(&t, "openai", t.openai);
	expect_models(&t, "openai", "an OpenAI key");
	expect_model(&t, om, "openai");
	expect_model(&t, am, NULL);
	expect_model(&t, "no-such%2Fmodel", NULL);
	provider_key("sk-ant-", t.anthropic, sizeof(t.anthropic), t.ahint,
	    sizeof(t.ahint));
	llm_key_add(&t, "anthropic", t.anthropic);
	expect_models(&t, "openai,anthropic", "OpenAI and Anthropic keys");
	expect_model(&t, am, "anthropic");
	it_deferred_check();
}

/* --- the program ---------------------------------------------------------- */

/* --- 12. ends that must still be metered --------------------------------- */

/*
 * A call's end the database would refuse is metered all the same: a
 * provider's count past what was held that passes the agent's blocking
 * budget is recorded at what the hold admitted; an agent deactivated
 * while its call streams does not lose the call.  And bodies that once
 * crashed a responder after the hold are refused before it.
 */
static void
test_settle_refused(void **state)
{
	struct one_call	 o;
	struct tenant	 t;
	struct chat	 c;
	struct gwrow	 g;
	pthread_t	 th;
	char		 agent[64], agent2[64], path[128], b[512];
	const char	*user = "Count my cache writes please";
	long long	 est, qty, cost, spent;

	(void)state;
	tenant_new(&t, "settle", "pro", WITH_ANTHROPIC);
	agent_new(&t, "0.001000", "block", agent, sizeof(agent));

	/* Bodies refused before anything is held. */
	snprintf(b, sizeof(b), "{\"model\":\"%s\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hi\"}],\"metadata\":\"x\"}", CLAUDE);
	refused(&t, t.key, NULL, NULL, b, 400, "invalid_type", "metadata", 0,
	    "metadata that is not an object");
	snprintf(b, sizeof(b), "{\"model\":\"%s\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":[{\"type\":null,\"text\":\"x\"}]}]}",
	    CLAUDE);
	refused(&t, t.key, NULL, NULL, b, 400, "invalid_value", "messages", 0,
	    "a content part without a type, for Anthropic");
	snprintf(b, sizeof(b), "{\"model\":\"%s\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":[\"x\"]}]}", CLAUDE);
	refused(&t, t.key, NULL, NULL, b, 400, "invalid_value", "messages", 0,
	    "a content part that is not an object");

	/*
	 * 300 cache-write tokens the estimate cannot know of: the real
	 * cost (about 1,100 micro-USD) passes the budget of 1,000 that the
	 * hold (about 300) fit in.
	 */
	emu_ctl("POST", "/_emu/settings", "{\"cache_write\":300}");
	est = prompt_est(NULL, user);
	qty = est + MIN_TOKENS;
	cost = micros_up(est, CLAUDE_IN) + micros_up(MIN_TOKENS, CLAUDE_OUT);
	chat(&c, t.key, agent, body_of(CLAUDE, NULL, user, -1, -1, MIN_TOKENS,
	    ""));
	if (c.status != 200 || c.prompt < 300)
		it_deferred_fail("past the budget: %ld, prompt %lld tokens; "
		    "want 200 with the provider's 300 and more", c.status,
		    c.prompt);
	if (call_row(&t, 1, &g, "past the budget") == 0) {
		if (strcmp(g.status, "ok") != 0 || g.prompt != c.prompt)
			it_deferred_fail("past the budget: the call's row %s "
			    "prompt %lld", g.status, g.prompt);
		snprintf(b, sizeof(b), "%lld|%lld", qty, cost);
		sqlv(path, sizeof(path), &t, "SELECT value || '|' || "
		    "cost_micros FROM usage_events WHERE tenant_id = "
		    "app_tenant() AND event_id = $1", g.call_id,
		    (const char *)NULL);
		if (strcmp(path, b) != 0)
			it_deferred_fail("past the budget: the event \"%s\", "
			    "want the hold's \"%s\"", path, b);
	}
	spent = sqln(&t, "SELECT cost_micros FROM agent_spend WHERE "
	    "tenant_id = app_tenant() AND agent_id = $1", agent);
	if (spent != cost)
		it_deferred_fail("past the budget: the agent spent %lld, want "
		    "the hold's %lld (within its budget of 1000)", spent, cost);
	expect_hold(&t, "settled", qty, cost, "past the budget");
	if (slots_after(&t) != 0)
		it_deferred_fail("past the budget: a slot is still held");
	chat_free(&c);
	emu_ctl("POST", "/_emu/settings", "{\"cache_write\":0}");

	/* An agent deactivated while its call streams. */
	agent_new(&t, "1", "block", agent2, sizeof(agent2));
	emu_settings(200, 6);
	memset(&o, 0, sizeof(o));
	o.key = t.key;
	o.agent = agent2;
	o.body = body_of(CLAUDE, NULL, user, 1, 1, 64, "");
	assert_int_equal(pthread_create(&th, NULL, one_call_run, &o), 0);
	it_sleep_ms(500);
	snprintf(path, sizeof(path), API "/agents/%s", agent2);
	if (it_call_status(t.o.access, "DELETE", path, NULL) / 100 != 2)
		it_deferred_fail("DELETE %s: not 2xx", path);
	pthread_join(th, NULL);
	if (o.rc == -1 || o.c.status != 200 || !o.c.done)
		it_deferred_fail("the stream of a deactivated agent: %ld, "
		    "done %d", o.c.status, o.c.done);
	if (call_row(&t, 2, &g, "deactivated mid-stream") == 0) {
		if (strcmp(g.status, "ok") != 0 || !g.usage_reported)
			it_deferred_fail("deactivated mid-stream: %s, usage "
			    "reported %d", g.status, g.usage_reported);
		expect_event(&t, g.call_id, "anthropic", CLAUDE, g.prompt,
		    g.completion, g.cost, agent2, "deactivated mid-stream");
	}
	if (sqln(&t, "SELECT count(*) FROM reservations WHERE tenant_id = "
	    "app_tenant() AND status = 'held'", NULL) != 0 ||
	    slots_after(&t) != 0)
		it_deferred_fail("deactivated mid-stream: a hold or a slot is "
		    "left");
	chat_free(&o.c);
	it_deferred_check();
}

/* --- 11. the organization's own prices ----------------------------------- */

/* PUT /llm-prices as "token": the status, the price's id into id. */
static long
price_put(const char *token, const char *body, char *id, size_t idsz)
{
	struct it_resp	 r;
	long		 status;

	it_call(&r, token, "PUT", API "/llm-prices", body);
	status = r.status;
	if (id != NULL) {
		id[0] = '\0';
		if (status == 200 || status == 201)
			it_copy_str(id, idsz, &r, "id");
	}
	print_message("# PUT /llm-prices %.120s: %ld %.200s\n", body, status,
	    r.body != NULL ? r.body : "");
	it_response_free(&r);
	return status;
}

/* A price body: provider, model, prices (cached -1: absent). */
static const char *
price_body(const char *provider, const char *model, long long in,
    long long out, long long cached)
{
	static char	 b[512];
	char		 c[64] = "";

	if (cached != -1)
		snprintf(c, sizeof(c), ",\"cached_per_mtok\":%lld", cached);
	snprintf(b, sizeof(b), "{\"provider\":\"%s\",\"model\":\"%s\","
	    "\"prompt_per_mtok\":%lld,\"completion_per_mtok\":%lld%s}",
	    provider, model, in, out, c);
	return b;
}

/* The tenant's prices as "provider/model:in/out/cached,...". */
static void
prices_of(const struct tenant *t, const char *token, char *out, size_t outsz)
{
	struct it_resp		 r;
	struct json_object	*data, *p;
	size_t			 i, len = 0;

	out[0] = '\0';
	it_call(&r, token, "GET", API "/llm-prices", NULL);
	it_expect_status(&r, 200);
	if (!it_json_get(it_json(&r), "data", &data) || data == NULL ||
	    !json_object_is_type(data, json_type_array))
		fail_msg("GET /llm-prices: %.300s", r.body);
	for (i = 0; i < json_object_array_length(data); i++) {
		p = json_object_array_get_idx(data, i);
		len += (size_t)snprintf(out + len, outsz - len, "%s%s/%s:%lld/"
		    "%lld/%lld", i > 0 ? "," : "", jtext(p, "provider"),
		    jtext(p, "model"), jint(p, "prompt_per_mtok"),
		    jint(p, "completion_per_mtok"), jint(p, "cached_per_mtok"));
		if (len >= outsz)
			break;
	}
	(void)t;
	it_response_free(&r);
}

/* One call of "model" that must answer 200: its row's cost (n-th row). */
static void
priced_call(const struct tenant *t, const char *model, const char *hint,
    long row, long long in, long long out, long long cp, const char *what)
{
	struct json_object	*rec;
	struct chat		 c;
	struct gwrow		 g;
	long long		 p, comp, cached, cost;

	chat(&c, t->key, NULL, body_of(model, NULL, "What does a llama cost",
	    -1, -1, 50, ""));
	if (c.status != 200)
		fail_msg("%s: %ld %.300s", what, c.status, c.body != NULL ?
		    c.body : "");
	if ((rec = emu_one(hint, what)) == NULL)
		fail_msg("%s: no record at the emulator", what);
	if (strcmp(jtext(rec, "model"), model) != 0 || strcmp(jtext(rec,
	    "path"), "/v1/chat/completions") != 0)
		it_deferred_fail("%s: upstream %s", what,
		    json_object_to_json_string(rec));
	rec_usage(rec, &p, &comp, &cached);
	cost = cost_of(p, comp, cached, in, out, cp);
	if (call_row(t, row, &g, what) == 0) {
		if (g.cost != cost)
			it_deferred_fail("%s: cost %lld, want %lld (%lld+%lld "
			    "at %lld/%lld per Mtok)", what, g.cost, cost, p,
			    comp, in, out);
		expect_event(t, g.call_id, strcmp(hint, t->hint) == 0 ?
		    "openai" : "custom", model, p, comp, cost, "-", what);
	}
	json_object_put(rec);
	chat_free(&c);
}

/*
 * PUT/GET/DELETE /llm-prices: a self-hosted model behind the custom
 * base is unknown until the organization prices it, then called and
 * settled at its price; the organization's price of a platform model
 * takes the place of the platform's until deleted; POST /usage/events
 * prices the same way; bad prices store nothing; at most 500.
 */
static void
test_prices(void **state)
{
	struct tenant	 t, other;
	struct it_resp	 r;
	char		 model[64], custom[64], chint[32], member[IT_TOKEN_MAX];
	char		 id[64], id2[64], id3[64], got[1024], want[256];
	char		 ukey[256], ev[512], path[128], n[32], big[160];
	size_t		 i;
	const char	*bad[9];

	(void)state;
	tenant_new(&t, "prices", "pro", WITH_OPENAI);
	tenant_new(&other, "prices-other", "pro", 0);
	provider_key("sk-", custom, sizeof(custom), chint, sizeof(chint));
	llm_key_add(&t, "custom", custom);
	snprintf(model, sizeof(model), "it-llama-%ld", (long)getpid());

	refused(&t, t.key, NULL, NULL, body_of(model, NULL, "hi", -1, -1, -1,
	    ""), 400, "unknown_model", "model", 0, "a self-hosted model "
	    "without a price");

	/* Bad prices: 400, nothing stored. */
	memset(big, 'm', 129);
	big[129] = '\0';
	bad[0] = strdup(price_body("nobody", model, 1, 1, -1));
	bad[1] = strdup(price_body("custom", model, -1, 1, -1));
	bad[2] = strdup(price_body("custom", "", 1, 1, -1));
	bad[3] = strdup(price_body("custom", big, 1, 1, -1));
	bad[4] = strdup(price_body("custom", model, 1000000000001LL, 1, -1));
	bad[5] = strdup("{\"provider\":\"custom\",\"model\":\"x\","
	    "\"prompt_per_mtok\":1}");
	bad[6] = strdup("{\"provider\":\"custom\",\"model\":\"x\","
	    "\"prompt_per_mtok\":\"1.5\",\"completion_per_mtok\":1}");
	bad[7] = strdup(price_body("custom", model, 1, 1, -2));
	bad[8] = strdup("{\"provider\":\"custom\",\"model\":\"x\","
	    "\"prompt_per_mtok\":1,\"completion_per_mtok\":1,\"rate\":2}");
	for (i = 0; i < 9; i++) {
		if (price_put(t.o.access, bad[i], NULL, 0) != 400)
			it_deferred_fail("bad price %zu (%s): not 400", i,
			    bad[i]);
		free((void *)(uintptr_t)bad[i]);
	}
	prices_of(&t, t.key, got, sizeof(got));
	if (got[0] != '\0')
		it_deferred_fail("prices after refusals: \"%s\"", got);

	/* A member reads the prices but may not set them. */
	it_member_new(&t.o, "prices", member, sizeof(member));
	if (price_put(member, price_body("custom", model, 1, 1, -1), NULL,
	    0) != 403)
		it_deferred_fail("a member set a price");

	/* Set (cached at the prompt's price), then replaced. */
	if (price_put(t.o.access, price_body("custom", model, 2000000,
	    4000000, -1), id, sizeof(id)) != 201)
		fail_msg("PUT /llm-prices: not 201");
	prices_of(&t, member, got, sizeof(got));
	snprintf(want, sizeof(want), "custom/%s:2000000/4000000/2000000",
	    model);
	if (strcmp(got, want) != 0)
		it_deferred_fail("prices \"%s\", want \"%s\"", got, want);
	if (price_put(t.o.access, price_body("custom", model, 2000000,
	    5000000, 100000), id2, sizeof(id2)) != 200 || strcmp(id, id2) != 0)
		it_deferred_fail("the price replaced: not 200 with id %s", id);
	prices_of(&t, t.key, got, sizeof(got));
	snprintf(want, sizeof(want), "custom/%s:2000000/5000000/100000",
	    model);
	if (strcmp(got, want) != 0)
		it_deferred_fail("prices \"%s\", want \"%s\"", got, want);
	if (sqln(&t, "SELECT count(*) FROM audit_events WHERE tenant_id = "
	    "app_tenant() AND action = 'llm_price.set' AND target = $1", id) !=
	    2)
		it_deferred_fail("llm_price.set not audited twice");

	/* Another organization sees none of it and cannot delete it. */
	prices_of(&other, other.key, got, sizeof(got));
	if (got[0] != '\0')
		it_deferred_fail("another organization's prices: \"%s\"", got);
	snprintf(path, sizeof(path), API "/llm-prices/%s", id);
	if (it_call_status(other.o.access, "DELETE", path, NULL) != 404)
		it_deferred_fail("another organization deleted a price");

	/* GET /llm/models lists it; a call at the organization's price. */
	it_call(&r, t.key, "GET", MODELS, NULL);
	snprintf(want, sizeof(want), "\"id\":\"%s\",\"object\":\"model\"",
	    model);
	if (r.status != 200 || r.body == NULL || strstr(r.body, want) == NULL)
		it_deferred_fail("GET %s: %ld, no %s", MODELS, r.status, model);
	it_response_free(&r);
	priced_call(&t, model, chint, 1, 2000000, 5000000, 100000,
	    "the self-hosted model at its price");

	/* The platform's model at the organization's price, then not. */
	if (price_put(t.o.access, price_body("openai", SMALL, 7000000,
	    9000000, -1), id3, sizeof(id3)) != 201)
		fail_msg("PUT /llm-prices for %s: not 201", SMALL);
	priced_call(&t, SMALL, t.hint, 2, 7000000, 9000000, 7000000,
	    "the platform's model at the organization's price");
	snprintf(path, sizeof(path), API "/llm-prices/%s", id3);
	if (it_call_status(t.o.access, "DELETE", path, NULL) != 204 ||
	    it_call_status(t.o.access, "DELETE", path, NULL) != 404)
		it_deferred_fail("DELETE %s: not 204 then 404", path);
	priced_call(&t, SMALL, t.hint, 3, SMALL_IN, SMALL_OUT, SMALL_CACHED,
	    "the platform's price again");

	/* POST /usage/events prices an event of the model the same way. */
	api_key(&t, "[\"usage:write\"]", ukey, sizeof(ukey));
	snprintf(n, sizeof(n), "itp-%ld", (long)getpid());
	snprintf(ev, sizeof(ev), "{\"events\":[{\"id\":\"%s\",\"metric\":"
	    "\"llm_tokens\",\"value\":300,\"properties\":{\"provider\":"
	    "\"custom\",\"model\":\"%s\",\"prompt_tokens\":100,"
	    "\"completion_tokens\":200}}]}", n, model);
	if (it_call_status(ukey, "POST", API "/usage/events", ev) != 200)
		it_deferred_fail("POST /usage/events of %s: not 200", model);
	else if (sqln(&t, "SELECT cost_micros FROM usage_events WHERE "
	    "tenant_id = app_tenant() AND event_id = $1", n) !=
	    cost_of(100, 200, 0, 2000000, 5000000, 100000))
		it_deferred_fail("the event of %s: cost %lld, want %lld", model,
		    sqln(&t, "SELECT cost_micros FROM usage_events WHERE "
		    "tenant_id = app_tenant() AND event_id = $1", n),
		    cost_of(100, 200, 0, 2000000, 5000000, 100000));

	/* 500 at most: a new model is refused, a price replaced is not. */
	if (it_owner_sql(NULL, 0, t.o.tenant, "INSERT INTO tenant_model_prices "
	    "(tenant_id, provider, model, prompt_per_mtok, "
	    "completion_per_mtok, cached_per_mtok) SELECT app_tenant(), "
	    "'custom', 'cap-' || i, 1, 1, 1 FROM generate_series(1, 499) i",
	    0, NULL) != 499)
		fail_msg("499 prices not inserted");
	it_call(&r, t.o.access, "PUT", API "/llm-prices", price_body("custom",
	    "one-too-many", 1, 1, -1));
	it_expect_code(&r, 409, "limit_reached", "the 501st price");
	it_response_free(&r);
	if (price_put(t.o.access, price_body("custom", model, 3, 3, 3), NULL,
	    0) != 200)
		it_deferred_fail("a price replaced at the cap: not 200");
	it_deferred_check();
}

/*
 * An organization's price is dated (sql/023): a usage event is priced
 * at the price in force when it happened, sent late or not.  Prices A
 * then B are set for the platform's model and then removed; one batch
 * carries an event from before A, one from A's time, one from B's and
 * one from now: the platform's price, A, B, the platform's again.  A
 * self-hosted model's event from before its price was set is refused
 * (no price then), nothing stored.
 */
#define TS_BETWEEN	"SELECT to_char(((SELECT since FROM " \
	"tenant_model_price_history WHERE tenant_id = app_tenant() AND " \
	"model = $1 ORDER BY since OFFSET $2::integer LIMIT 1) + coalesce(" \
	"((SELECT since FROM tenant_model_price_history WHERE tenant_id = " \
	"app_tenant() AND model = $1 ORDER BY since OFFSET $2::integer + 1 " \
	"LIMIT 1) - (SELECT since FROM tenant_model_price_history WHERE " \
	"tenant_id = app_tenant() AND model = $1 ORDER BY since OFFSET " \
	"$2::integer LIMIT 1)) / 2, interval '-1 second')) AT TIME ZONE " \
	"'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static void
test_prices_dated(void **state)
{
	static const char *const	 names[] = { "before A", "in A's time",
	    "in B's time", "now (removed)" };
	struct tenant	 t;
	struct it_resp	 r;
	char		 ukey[256], id[64], path[128], ts[4][40], ev[2048];
	char		 eid[4][48], model[64], hist[16];
	long long	 want[4], got;
	size_t		 i;

	(void)state;
	tenant_new(&t, "prices-dated", "pro", WITH_OPENAI);
	api_key(&t, "[\"usage:write\"]", ukey, sizeof(ukey));
	if (price_put(t.o.access, price_body("openai", SMALL, 7000000,
	    9000000, -1), id, sizeof(id)) != 201)
		fail_msg("PUT price A: not 201");
	it_sleep_ms(50);
	if (price_put(t.o.access, price_body("openai", SMALL, 11000000,
	    13000000, -1), NULL, 0) != 200)
		fail_msg("PUT price B: not 200");
	it_sleep_ms(50);
	snprintf(path, sizeof(path), API "/llm-prices/%s", id);
	if (it_call_status(t.o.access, "DELETE", path, NULL) != 204)
		fail_msg("DELETE %s: not 204", path);
	if (sqln(&t, "SELECT count(*) FROM tenant_model_price_history WHERE "
	    "tenant_id = app_tenant() AND model = $1", SMALL) != 3)
		it_deferred_fail("%s: %lld history rows, want 3 (A, B, removed)",
		    SMALL, sqln(&t, "SELECT count(*) FROM "
		    "tenant_model_price_history WHERE tenant_id = app_tenant() "
		    "AND model = $1", SMALL));

	/* Before A (a second before it), mid A-B, mid B-removal. */
	for (i = 0; i < 3; i++) {
		snprintf(hist, sizeof(hist), "%d", (int)i - 1);
		if (i == 0)
			sqlv(ts[i], sizeof(ts[i]), &t, "SELECT to_char(((SELECT "
			    "min(since) FROM tenant_model_price_history WHERE "
			    "tenant_id = app_tenant() AND model = $1) - interval "
			    "'1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\""
			    "HH24:MI:SS.US\"Z\"')", SMALL, (const char *)NULL);
		else
			sqlv(ts[i], sizeof(ts[i]), &t, TS_BETWEEN, SMALL, hist,
			    (const char *)NULL);
		if (ts[i][0] == '\0')
			fail_msg("no timestamp for the event %s", names[i]);
	}
	want[0] = cost_of(100, 200, 0, SMALL_IN, SMALL_OUT, SMALL_CACHED);
	want[1] = cost_of(100, 200, 0, 7000000, 9000000, 7000000);
	want[2] = cost_of(100, 200, 0, 11000000, 13000000, 11000000);
	want[3] = want[0];
	snprintf(ev, sizeof(ev), "{\"events\":[");
	for (i = 0; i < 4; i++) {
		snprintf(eid[i], sizeof(eid[i]), "itd-%ld-%zu", (long)getpid(),
		    i);
		snprintf(ev + strlen(ev), sizeof(ev) - strlen(ev), "%s{\"id\":"
		    "\"%s\",\"metric\":\"llm_tokens\",\"value\":300,%s%s%s"
		    "\"properties\":{\"provider\":\"openai\",\"model\":\"" SMALL
		    "\",\"prompt_tokens\":100,\"completion_tokens\":200}}",
		    i > 0 ? "," : "", eid[i], i < 3 ? "\"timestamp\":\"" : "",
		    i < 3 ? ts[i] : "", i < 3 ? "\"," : "");
	}
	snprintf(ev + strlen(ev), sizeof(ev) - strlen(ev), "]}");
	it_call(&r, ukey, "POST", API "/usage/events", ev);
	it_expect_status(&r, 200);
	it_response_free(&r);
	for (i = 0; i < 4; i++) {
		got = sqln(&t, "SELECT cost_micros FROM usage_events WHERE "
		    "tenant_id = app_tenant() AND event_id = $1", eid[i]);
		print_message("# the event %s (%s): %lld micro-USD\n", names[i],
		    i < 3 ? ts[i] : "now", got);
		if (got != want[i])
			it_deferred_fail("the event %s: cost %lld, want %lld",
			    names[i], got, want[i]);
	}

	/* A self-hosted model: nothing to price an event from before. */
	snprintf(model, sizeof(model), "it-dated-%ld", (long)getpid());
	if (price_put(t.o.access, price_body("custom", model, 1, 1, -1), NULL,
	    0) != 201)
		fail_msg("PUT the price of %s: not 201", model);
	sqlv(ts[0], sizeof(ts[0]), &t, "SELECT to_char((now() - interval "
	    "'1 minute') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
	    (const char *)NULL);
	snprintf(ev, sizeof(ev), "{\"events\":[{\"id\":\"itd-%ld-c\","
	    "\"metric\":\"llm_tokens\",\"value\":3,\"timestamp\":\"%s\","
	    "\"properties\":{\"provider\":\"custom\",\"model\":\"%s\","
	    "\"prompt_tokens\":1,\"completion_tokens\":2}}]}", (long)getpid(),
	    ts[0], model);
	it_call(&r, ukey, "POST", API "/usage/events", ev);
	it_expect_code(&r, 400, "unknown_model", "an event of a self-hosted "
	    "model from before its price");
	it_response_free(&r);
	if (sqln(&t, "SELECT count(*) FROM usage_events WHERE tenant_id = "
	    "app_tenant() AND model = $1", model) != 0)
		it_deferred_fail("the refused event of %s was stored", model);
	it_deferred_check();
}

static int
group_setup(void **state)
{
	(void)state;
	snprintf(chat_url, sizeof(chat_url), "%s%s", it_env("TOLLGATE_URL"),
	    CHAT);
	/* The test model: prompts free, a micro-USD a completion token. */
	it_owner_sql(NULL, 0, NULL, "INSERT INTO model_prices (provider, "
	    "model, effective_from, prompt_per_mtok, completion_per_mtok, "
	    "cached_per_mtok, source) VALUES ('openai', '" FLAT "', "
	    "'2026-01-01', 0, 1000000, 0, 'tests/it-gateway.c') "
	    "ON CONFLICT DO NOTHING", 0, NULL);
	return emu_clean(state);
}

static int
group_teardown(void **state)
{
	priv_stop();
	return emu_clean(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_stream, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_anthropic, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_client_gone, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_cut, emu_clean, emu_clean),
		cmocka_unit_test_setup_teardown(test_refusals, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_tools_refused, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_budget, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_free_plan, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_provider_errors, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_concurrent_budget,
		    emu_clean, emu_clean),
		cmocka_unit_test_setup_teardown(test_hold_race, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_concurrency_cap, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_models, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_prices, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_prices_dated, emu_clean,
		    emu_clean),
		cmocka_unit_test_setup_teardown(test_settle_refused, emu_clean,
		    emu_clean),
	};

	it_init();
	it_client_init(71);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
