/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: channels (SPEC 9) over real HTTP against the Slack and
 * Meta Graph emulators (tests/slack-emu.py, tests/meta-emu.py).
 *
 * Slack: the install URL carries a signed state; the emulator's
 * authorize form sends the browser back with a code; the portal's
 * callback, under the owner's session, stores the bot token sealed
 * (python3-cryptography opens it), a test message reaches the emulator,
 * disconnect revokes the token there.  A state tampered by one byte,
 * signed with another secret, expired, used twice, missing or started
 * by another organization is a 400 with nothing stored; so is an error
 * from Slack and a code Slack refuses; Slack down is a 502.
 *
 * WhatsApp: the number and token are checked against Graph; a refused
 * token or an unknown number is 400 invalid_whatsapp_credentials, Graph
 * down a 502, nothing stored either way; a test message needs a
 * recipient and reaches the emulator.  The plan's channels quota holds
 * under concurrent connects, as the llm_providers quota does under
 * concurrent adds.  A token altered in the database makes its channel
 * (or LLM key) "unusable" while the rest of the list still shows.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "tollgate.h"
#include "it-util.h"

#define API		"/api/v1"
#define CHANNELS	API "/channels"
#define PHONE		"1055501234"
/*
 * Graph tokens of this run (the emulator keeps revocations across runs);
 * test_whatsapp revokes its own.
 */
static char	 WA_TOKEN[64], WA_TOKEN2[64], WA_REVOKED[64];
#define THREADS		6

static long
channel_count(const struct it_owner *o)
{
	return it_owner_count(o->tenant, "SELECT count(*) FROM "
	    "channel_connections WHERE tenant_id = app_tenant()", NULL);
}

static long
audit_count(const struct it_owner *o, const char *action)
{
	return it_owner_count(o->tenant, "SELECT count(*) FROM audit_events "
	    "WHERE tenant_id = app_tenant() AND action = $1", action);
}

/* An emulator's URL: base is SLACK_API_BASE or META_GRAPH_BASE. */
static const char *
emu(const char *base, const char *path)
{
	static char	 url[1024];

	snprintf(url, sizeof(url), "%s%s", it_env(base), path);
	return url;
}

static void
emu_post(const char *base, const char *path, const char *json)
{
	struct it_resp	 r;

	if (it_request(&r, "POST", emu(base, path), IT_JSON, json,
	    strlen(json), NULL) == -1 || r.status != 200)
		fail_msg("emulator %s: %ld %.200s", path, r.status,
		    r.body != NULL ? r.body : r.error);
	it_response_free(&r);
}

static void
emu_faults_clear(const char *base)
{
	struct it_resp	 r;

	if (it_request(&r, "DELETE", emu(base, "/_emu/faults"), NULL, NULL, 0,
	    NULL) == -1 || r.status != 200)
		fail_msg("emulator faults: %ld", r.status);
	it_response_free(&r);
}

/* Did the emulator receive a message containing "needle"? */
static int
emu_received(const char *base, const char *needle)
{
	struct it_resp	 r;
	int		 found;

	if (it_request(&r, "GET", emu(base, "/_emu/messages"), NULL, NULL, 0,
	    NULL) == -1 || r.status != 200)
		fail_msg("emulator messages: %ld", r.status);
	found = strstr(r.body, needle) != NULL;
	it_response_free(&r);
	return found;
}

/* The value of "name" in a URL's query, decoded, into out. */
static void
query_arg(const char *url, const char *name, char *out, size_t outsz)
{
	const char	*p;
	char		 key[64], *v;
	size_t		 n;
	int		 len;

	out[0] = '\0';
	snprintf(key, sizeof(key), "%s=", name);
	if ((p = strchr(url, '?')) == NULL)
		return;
	for (p++; *p != '\0'; p += n + (p[n] == '&')) {
		n = strcspn(p, "&");
		if (strncmp(p, key, strlen(key)) != 0)
			continue;
		v = curl_easy_unescape(NULL, p + strlen(key),
		    (int)(n - strlen(key)), &len);
		if (v != NULL)
			snprintf(out, outsz, "%.*s", len, v);
		curl_free(v);
		return;
	}
}

/* GET the install URL and check what it carries; the state into out. */
static void
install(const struct it_owner *o, const char *agent, char *state,
    size_t statesz)
{
	struct it_resp	 r;
	char		 path[256], v[512];
	const char	*url;

	snprintf(path, sizeof(path), CHANNELS "/slack/install%s%s",
	    agent != NULL ? "?agent_id=" : "", agent != NULL ? agent : "");
	it_call(&r, o->access, "GET", path, NULL);
	it_expect_status(&r, 200);
	url = it_must_str(&r, "url");
	if (strncmp(url, emu("SLACK_API_BASE", "/oauth/v2/authorize?"),
	    strlen(emu("SLACK_API_BASE", "/oauth/v2/authorize?"))) != 0)
		fail_msg("install url: %s", url);
	query_arg(url, "client_id", v, sizeof(v));
	assert_string_equal(v, it_env("SLACK_CLIENT_ID"));
	query_arg(url, "redirect_uri", v, sizeof(v));
	snprintf(path, sizeof(path), "%s/channels/slack/callback",
	    it_env("TOLLGATE_PUBLIC_URL"));
	assert_string_equal(v, path);
	query_arg(url, "scope", v, sizeof(v));
	assert_non_null(strstr(v, "chat:write"));
	query_arg(url, "state", state, statesz);
	assert_non_null(strchr(state, '.'));
	it_response_free(&r);
}

/* The emulator's authorize form, answered: the code Slack would give. */
static void
authorize(const char *state, const char *decision, char *code,
    size_t codesz)
{
	struct it_resp	 r;
	char		 body[2048], redirect[512];
	const char	*loc;

	snprintf(redirect, sizeof(redirect), "%s/channels/slack/callback",
	    it_env("TOLLGATE_PUBLIC_URL"));
	body[0] = '\0';
	it_form_add(body, sizeof(body), "client_id", it_env("SLACK_CLIENT_ID"));
	it_form_add(body, sizeof(body), "redirect_uri", redirect);
	it_form_add(body, sizeof(body), "state", state);
	it_form_add(body, sizeof(body), "scope", "chat:write,incoming-webhook");
	it_form_add(body, sizeof(body), "channel", "C0ALERTS");
	it_form_add(body, sizeof(body), "decision", decision);
	if (it_request(&r, "POST", emu("SLACK_API_BASE",
	    "/oauth/v2/authorize/decide"), IT_FORM, body, strlen(body),
	    NULL) == -1 || r.status != 302 ||
	    (loc = it_header(&r, "Location")) == NULL)
		fail_msg("authorize: %ld", r.status);
	if (strncmp(loc, redirect, strlen(redirect)) != 0)
		fail_msg("authorize sent the browser to %s", loc);
	query_arg(loc, strcmp(decision, "allow") == 0 ? "code" : "error",
	    code, codesz);
	it_response_free(&r);
}

/* The portal's callback under a session; the response in r. */
static void
callback(struct it_resp *r, const char *session, const char *code,
    const char *state, const char *error)
{
	char	 path[2048], *c, *s;

	c = curl_easy_escape(NULL, code != NULL ? code : "", 0);
	s = curl_easy_escape(NULL, state != NULL ? state : "", 0);
	snprintf(path, sizeof(path), "/channels/slack/callback?%s=%s%s%s",
	    error != NULL ? "error" : "code", error != NULL ? error : c,
	    state != NULL ? "&state=" : "", state != NULL ? s : "");
	curl_free(c);
	curl_free(s);
	it_http(r, "GET", path, session, NULL, NULL, NULL);
}

/* The first channel of the list, its id into id. */
static struct json_object *
first_channel(struct it_resp *r, const struct it_owner *o, char *id,
    size_t idsz)
{
	struct json_object	*c = NULL;

	it_call(r, o->access, "GET", CHANNELS, NULL);
	it_expect_status(r, 200);
	if (!it_json_at(r, "data.0", &c) || c == NULL)
		fail_msg("no channel listed: %s", r->body);
	if (id != NULL)
		snprintf(id, idsz, "%s", it_json_str(c, "id"));
	return c;
}

static void
test_slack_connect(void **state)
{
	struct json_object	*c;
	struct it_resp		 r;
	struct it_owner		 o;
	char			 st[1024], code[256], session[512], id[64];
	char			 path[128], token[1024];

	(void)state;
	it_owner_new(&o, "channels", "slack");
	it_portal_login(o.email, o.password, session, sizeof(session));
	install(&o, NULL, st, sizeof(st));
	authorize(st, "allow", code, sizeof(code));
	assert_true(code[0] != '\0');
	callback(&r, session, code, st, NULL);
	it_expect_status(&r, 303);
	assert_string_equal(it_header(&r, "Location"), "/channels");
	it_response_free(&r);

	c = first_channel(&r, &o, id, sizeof(id));
	assert_string_equal(it_json_str(c, "kind"), "slack");
	assert_string_equal(it_json_str(c, "team_id"), "T0EMU0001");
	assert_string_equal(it_json_str(c, "name"), "Emu Workspace");
	assert_string_equal(it_json_str(c, "slack_channel_id"), "C0ALERTS");
	assert_string_equal(it_json_str(c, "status"), "connected");
	if (strstr(r.body, "xoxb-") != NULL || strstr(r.body, "gAAAAA") !=
	    NULL)
		it_deferred_fail("the list shows the token: %s", r.body);
	it_response_free(&r);

	/* Sealed: Python's Fernet opens it to Slack's bot token. */
	it_owner_sql(token, sizeof(token), o.tenant, "SELECT token FROM "
	    "channel_connections WHERE tenant_id = app_tenant()", 0, NULL);
	if (it_sh("/usr/bin/python3 -c 'import sys; from cryptography.fernet "
	    "import Fernet; sys.exit(not Fernet(sys.argv[1].encode()).decrypt("
	    "sys.argv[2].encode()).startswith(b\"xoxb-\"))' '%s' '%s'",
	    it_env("TOLLGATE_ENCRYPTION_KEY"), token) != 0)
		it_deferred_fail("the stored token is not a sealed xoxb- token");

	/* The same answer twice: the state is used up. */
	callback(&r, session, code, st, NULL);
	it_expect_status(&r, 400);
	if (strstr(r.body, "used already") == NULL)
		it_deferred_fail("replay page: %.300s", r.body);
	it_response_free(&r);
	assert_int_equal(channel_count(&o), 1);

	/* A test message reaches the emulator's channel. */
	snprintf(path, sizeof(path), CHANNELS "/%s/test", id);
	it_call(&r, o.access, "POST", path, NULL);
	it_expect_status(&r, 200);
	if (!it_json_at(&r, "delivered", &c) || !json_object_get_boolean(c))
		it_deferred_fail("test: %s", r.body);
	assert_non_null(it_json_str(it_json(&r), "message_id"));
	it_response_free(&r);
	if (!emu_received("SLACK_API_BASE", "Test message from Tollgate"))
		it_deferred_fail("the test message did not reach Slack");

	/* The portal lists it. */
	it_http(&r, "GET", "/channels", session, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, "Emu Workspace") == NULL ||
	    strstr(r.body, "pill-connected") == NULL)
		it_deferred_fail("/channels does not list it");
	it_response_free(&r);

	/* Disconnect: gone here, and the token revoked at Slack. */
	snprintf(path, sizeof(path), CHANNELS "/%s", id);
	it_call(&r, o.access, "DELETE", path, NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);
	it_call(&r, o.access, "DELETE", path, NULL);
	it_expect_code(&r, 404, "not_found", "disconnected twice");
	it_response_free(&r);
	assert_int_equal(channel_count(&o), 0);
	assert_int_equal(audit_count(&o, "channel.connected"), 1);
	assert_int_equal(audit_count(&o, "channel.tested"), 1);
	assert_int_equal(audit_count(&o, "channel.disconnected"), 1);
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM "
	    "audit_events WHERE tenant_id = app_tenant() AND details::text "
	    "LIKE '%xoxb%'", NULL), 0);
	it_deferred_check();
}

/* A state signed here: with the stack's secret or another one. */
static void
forge(const struct it_owner *o, const char *user, const char *secret,
    long long exp, char *out)
{
	struct oauth_state	 s;

	memset(&s, 0, sizeof(s));
	snprintf(s.tenant, sizeof(s.tenant), "%.36s", o->tenant);
	snprintf(s.user, sizeof(s.user), "%.36s", user);
	snprintf(s.nonce, sizeof(s.nonce), "%s",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	s.exp = exp;
	assert_int_equal(oauth_state_sign(secret, &s, out), 0);
}

/* A refused callback: 400, the words expected, nothing stored. */
static void
refused(const struct it_owner *o, const char *session, const char *code,
    const char *st, const char *error, const char *words, const char *why)
{
	struct it_resp	 r;

	callback(&r, session, code, st, error);
	if (r.status != 400 || strstr(r.body, words) == NULL)
		it_deferred_fail("%s: %ld, wanted 400 with \"%s\": %.300s", why,
		    r.status, words, r.body);
	it_response_free(&r);
	if (channel_count(o) != 0)
		it_deferred_fail("%s: a channel was stored", why);
}

static void
test_slack_bad_state(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o, other;
	char		 st[1024], bad[1024], code[256], session[512];
	char		 user[64];
	size_t		 n;

	(void)state;
	it_owner_new(&o, "channels", "state");
	it_owner_new(&other, "channels", "state-other");
	it_portal_login(o.email, o.password, session, sizeof(session));
	it_owner_sql(user, sizeof(user), o.tenant, "SELECT user_id FROM "
	    "memberships WHERE tenant_id = app_tenant()", 0, NULL);
	install(&o, NULL, st, sizeof(st));
	authorize(st, "allow", code, sizeof(code));

	/* One byte changed in the payload, then in the signature. */
	snprintf(bad, sizeof(bad), "%s", st);
	bad[3] = bad[3] == 'A' ? 'B' : 'A';
	refused(&o, session, code, bad, NULL, "signature", "payload byte");
	snprintf(bad, sizeof(bad), "%s", st);
	n = strlen(bad);
	bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
	refused(&o, session, code, bad, NULL, "signature", "mac byte");
	forge(&o, user, "another-secret-of-at-least-32-bytes-long", (long long)
	    time(NULL) + 300, bad);
	refused(&o, session, code, bad, NULL, "signature", "other secret");
	forge(&o, user, it_env("TOLLGATE_OAUTH_STATE_SECRET"), (long long)
	    time(NULL) - 1, bad);
	refused(&o, session, code, bad, NULL, "expired", "expired");
	/* Well signed, never issued: its nonce is unknown. */
	forge(&o, user, it_env("TOLLGATE_OAUTH_STATE_SECRET"), (long long)
	    time(NULL) + 300, bad);
	refused(&o, session, code, bad, NULL, "used already", "unknown nonce");
	refused(&o, session, code, NULL, NULL, "no state", "missing");
	refused(&o, session, code, "garbage", NULL, "not a state",
	    "malformed");

	/* Another organization's own state, brought to this session. */
	install(&other, NULL, bad, sizeof(bad));
	refused(&o, session, code, bad, NULL, "another user", "other tenant");

	/* Slack's error with a good state: nothing connected. */
	refused(&o, session, NULL, st, "access_denied", "did not install",
	    "access_denied");
	/* That used the state up too?  Not committed: a refusal. */
	install(&o, NULL, st, sizeof(st));
	refused(&o, session, "not-a-code-slack-gave", st, NULL,
	    "Slack refused", "invalid code");

	/* Slack down: 502, nothing stored. */
	install(&o, NULL, st, sizeof(st));
	authorize(st, "allow", code, sizeof(code));
	emu_post("SLACK_API_BASE", "/_emu/faults", "{\"path\":"
	    "\"/api/oauth.v2.access\",\"status\":500,\"times\":-1}");
	callback(&r, session, code, st, NULL);
	emu_faults_clear("SLACK_API_BASE");
	if (r.status != 502)
		it_deferred_fail("slack down: %ld", r.status);
	it_response_free(&r);
	assert_int_equal(channel_count(&o), 0);

	/* Without a session: the login page, nothing stored. */
	callback(&r, NULL, code, st, NULL);
	if (r.status != 303 || strncmp(it_header(&r, "Location"), "/login",
	    6) != 0)
		it_deferred_fail("no session: %ld", r.status);
	it_response_free(&r);
	assert_int_equal(channel_count(&o), 0);
	it_deferred_check();
}

static void
connect_wa(struct it_resp *r, const struct it_owner *o, const char *phone,
    const char *token)
{
	it_call(r, o->access, "POST", CHANNELS "/whatsapp", it_jobj(
	    "phone_number_id", phone, "access_token", token, NULL));
}

static void
test_whatsapp(void **state)
{
	struct json_object	*c;
	struct it_resp		 r;
	struct it_owner		 o;
	char			 id[64], path[128];

	(void)state;
	it_owner_new(&o, "channels", "whatsapp");

	/* Bad input: 400 naming the field, nothing asked of Graph. */
	connect_wa(&r, &o, "12ab", WA_REVOKED);
	it_expect_code(&r, 400, "invalid_value", "letters in the id");
	it_expect_param(&r, "phone_number_id", "letters");
	it_response_free(&r);
	connect_wa(&r, &o, PHONE, "EAA token with spaces");
	it_expect_code(&r, 400, "invalid_value", "spaces in the token");
	it_expect_param(&r, "access_token", "spaces");
	it_response_free(&r);
	connect_wa(&r, &o, PHONE, "EAAshort");
	it_expect_status(&r, 400);
	it_response_free(&r);

	/* Refused by Graph: the token, then an unknown number. */
	connect_wa(&r, &o, PHONE, "EAAnotValid!");
	it_expect_code(&r, 400, "invalid_whatsapp_credentials", "token");
	it_response_free(&r);
	connect_wa(&r, &o, "9055501234", WA_REVOKED);
	it_expect_code(&r, 400, "invalid_whatsapp_credentials", "number");
	it_response_free(&r);
	/* Graph down. */
	emu_post("META_GRAPH_BASE", "/_emu/faults", "{\"status\":500,"
	    "\"times\":-1}");
	connect_wa(&r, &o, PHONE, WA_REVOKED);
	emu_faults_clear("META_GRAPH_BASE");
	it_expect_code(&r, 502, "upstream_error", "graph down");
	it_response_free(&r);
	assert_int_equal(channel_count(&o), 0);

	connect_wa(&r, &o, PHONE, WA_REVOKED);
	it_expect_status(&r, 201);
	it_expect_str(&r, "kind", "whatsapp");
	it_expect_str(&r, "phone_number_id", PHONE);
	it_expect_str(&r, "name", "Emu Business 1234");
	if (strstr(r.body, WA_REVOKED) != NULL)
		it_deferred_fail("the token came back: %s", r.body);
	it_copy_str(id, sizeof(id), &r, "id");
	it_response_free(&r);

	/* A test needs a recipient, then reaches the emulator. */
	snprintf(path, sizeof(path), CHANNELS "/%s/test", id);
	it_call(&r, o.access, "POST", path, NULL);
	it_expect_code(&r, 400, "missing_parameter", "no recipient");
	it_response_free(&r);
	it_call(&r, o.access, "POST", path, it_jobj("to", "12", NULL));
	it_expect_status(&r, 400);
	it_response_free(&r);
	it_call(&r, o.access, "POST", path, it_jobj("to", "+15550001234",
	    NULL));
	it_expect_status(&r, 200);
	if (!it_json_at(&r, "delivered", &c) || !json_object_get_boolean(c))
		it_deferred_fail("test: %s", r.body);
	it_response_free(&r);
	if (!emu_received("META_GRAPH_BASE", "15550001234"))
		it_deferred_fail("the test message did not reach Graph");

	/* Revoked at Meta: the test is refused and the channel failing. */
	snprintf(path, sizeof(path), "{\"token\":\"%s\"}", WA_REVOKED);
	emu_post("META_GRAPH_BASE", "/_emu/revoke", path);
	snprintf(path, sizeof(path), CHANNELS "/%s/test", id);
	it_call(&r, o.access, "POST", path, it_jobj("to", "+15550001234",
	    NULL));
	it_expect_status(&r, 200);
	if (!it_json_at(&r, "delivered", &c) || json_object_get_boolean(c) ||
	    !it_json_at(&r, "channel.status", &c) ||
	    strcmp(json_object_get_string(c), "failing") != 0)
		it_deferred_fail("refused test: %s", r.body);
	it_response_free(&r);

	/* Another tenant's channel does not exist for this one. */
	{
		struct it_owner	 x;

		it_owner_new(&x, "channels", "whatsapp-x");
		it_call(&r, x.access, "POST", path, it_jobj("to",
		    "+15550001234", NULL));
		it_expect_code(&r, 404, "not_found", "another tenant's");
		it_response_free(&r);
		snprintf(path, sizeof(path), CHANNELS "/%s", id);
		it_call(&r, x.access, "DELETE", path, NULL);
		it_expect_code(&r, 404, "not_found", "another tenant's");
		it_response_free(&r);
	}
	assert_int_equal(channel_count(&o), 1);
	it_deferred_check();
}

struct race {
	const struct it_owner	*o;
	const char		*path;
	int			 i;
	long			 status;
};

static void *
race_channel(void *arg)
{
	struct race	*x = arg;
	char		 body[256];

	snprintf(body, sizeof(body), "{\"phone_number_id\":\"10555%05d\","
	    "\"access_token\":\"%s\"}", x->i, WA_TOKEN);
	x->status = it_call_status(x->o->access, "POST", x->path, body);
	return NULL;
}

static const char *const	providers[THREADS] = {
	"openai", "anthropic", "mistral", "groq", "openrouter", "google"
};

static void *
race_llmkey(void *arg)
{
	struct race	*x = arg;
	char		 body[256];

	snprintf(body, sizeof(body), "{\"provider\":\"%s\",\"api_key\":"
	    "\"sk-race-0123456789-%d\"}", providers[x->i], x->i);
	x->status = it_call_status(x->o->access, "POST", x->path, body);
	return NULL;
}

/* THREADS concurrent creates on the free plan (limit 1): one wins. */
static void
race(const struct it_owner *o, const char *path, void *(*fn)(void *))
{
	pthread_t	 t[THREADS];
	struct race	 x[THREADS];
	int		 i, won = 0, full = 0;

	for (i = 0; i < THREADS; i++) {
		x[i].o = o;
		x[i].path = path;
		x[i].i = i;
		x[i].status = 0;
		assert_int_equal(pthread_create(&t[i], NULL, fn, &x[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		won += x[i].status == 201;
		full += x[i].status == 409;
	}
	if (won != 1 || full != THREADS - 1)
		it_deferred_fail("%s: %d created, %d refused of %d", path, won,
		    full, THREADS);
}

static void
test_quotas(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o, p;
	struct json_object *v;

	(void)state;
	it_owner_new(&o, "channels", "quota");
	connect_wa(&r, &o, PHONE, WA_TOKEN);
	it_expect_status(&r, 201);
	it_response_free(&r);
	/* The same number again replaces its token: not a second one. */
	connect_wa(&r, &o, PHONE, WA_TOKEN2);
	it_expect_status(&r, 200);
	it_response_free(&r);
	connect_wa(&r, &o, "1055509999", WA_TOKEN);
	it_expect_code(&r, 409, "quota_exceeded", "second channel on free");
	if (!it_json_at(&r, "error.metric", &v) ||
	    strcmp(json_object_get_string(v), "channels") != 0 ||
	    !it_json_at(&r, "error.limit", &v) || json_object_get_int(v) != 1 ||
	    !it_json_at(&r, "error.used", &v) || json_object_get_int(v) != 1)
		it_deferred_fail("quota error: %s", r.body);
	it_response_free(&r);
	/* The install refuses before sending anyone to Slack. */
	it_call(&r, o.access, "GET", CHANNELS "/slack/install", NULL);
	it_expect_code(&r, 409, "quota_exceeded", "install when full");
	it_response_free(&r);
	assert_int_equal(channel_count(&o), 1);
	assert_int_equal(audit_count(&o, "channel.updated"), 1);

	/* Under concurrency: channels, then LLM providers. */
	it_owner_new(&p, "channels", "race");
	race(&p, CHANNELS "/whatsapp", race_channel);
	assert_int_equal(channel_count(&p), 1);
	race(&p, API "/llm-keys", race_llmkey);
	assert_int_equal(it_owner_count(p.tenant, "SELECT count(*) FROM "
	    "tenant_llm_keys WHERE tenant_id = app_tenant()", NULL), 1);
	it_deferred_check();
}

/* A member reads the list; connecting is for admins. */
static void
test_member(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	char		 member[IT_TOKEN_MAX];

	(void)state;
	it_owner_new(&o, "channels", "roles");
	it_member_new(&o, "member", member, sizeof(member));
	it_call(&r, member, "GET", CHANNELS, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);
	it_call(&r, member, "POST", CHANNELS "/whatsapp", it_jobj(
	    "phone_number_id", PHONE, "access_token", WA_TOKEN, NULL));
	it_expect_status(&r, 403);
	it_response_free(&r);
	it_call(&r, member, "GET", CHANNELS "/slack/install", NULL);
	it_expect_status(&r, 403);
	it_response_free(&r);
	assert_int_equal(channel_count(&o), 0);
}

/*
 * A token altered in the database: that channel (and that LLM key) is
 * reported unusable, its test refused, and the rest still listed.
 */
static void
test_altered_ciphertext(void **state)
{
	struct json_object	*c;
	struct it_resp		 r;
	struct it_owner		 o;
	char			 id[64], path[128];

	(void)state;
	it_owner_new(&o, "channels", "altered");
	it_call(&r, o.access, "POST", API "/llm-keys", it_jobj("provider",
	    "openai", "api_key", "sk-altered-0123456789", NULL));
	it_expect_status(&r, 201);
	it_response_free(&r);
	connect_wa(&r, &o, PHONE, WA_TOKEN);
	it_expect_status(&r, 201);
	it_copy_str(id, sizeof(id), &r, "id");
	it_response_free(&r);
	/* One character of the MAC changed: still a token by its form. */
	it_owner_sql(NULL, 0, o.tenant, "UPDATE channel_connections SET token "
	    "= left(token, 60) || CASE substr(token, 61, 1) WHEN 'A' THEN 'B' "
	    "ELSE 'A' END || substr(token, 62) WHERE tenant_id = app_tenant()",
	    0, NULL);
	it_owner_sql(NULL, 0, o.tenant, "UPDATE tenant_llm_keys SET ciphertext "
	    "= left(ciphertext, 60) || CASE substr(ciphertext, 61, 1) WHEN "
	    "'A' THEN 'B' ELSE 'A' END || substr(ciphertext, 62) WHERE "
	    "tenant_id = app_tenant()", 0, NULL);

	c = first_channel(&r, &o, NULL, 0);
	assert_string_equal(it_json_str(c, "status"), "unusable");
	it_response_free(&r);
	it_call(&r, o.access, "GET", API "/llm-keys", NULL);
	it_expect_status(&r, 200);
	if (!it_json_at(&r, "data.0.status", &c) ||
	    strcmp(json_object_get_string(c), "unusable") != 0)
		it_deferred_fail("llm key: %s", r.body);
	it_response_free(&r);
	snprintf(path, sizeof(path), CHANNELS "/%s/test", id);
	it_call(&r, o.access, "POST", path, it_jobj("to", "+15550001234",
	    NULL));
	it_expect_code(&r, 409, "channel_unusable", "altered token");
	it_response_free(&r);
	/* The portal pages still render, saying so. */
	{
		char	 session[512];

		it_portal_login(o.email, o.password, session, sizeof(session));
		it_http(&r, "GET", "/channels", session, NULL, NULL, NULL);
		it_expect_status(&r, 200);
		if (strstr(r.body, "pill-unusable") == NULL)
			it_deferred_fail("/channels hides it");
		it_response_free(&r);
		it_http(&r, "GET", "/keys", session, NULL, NULL, NULL);
		it_expect_status(&r, 200);
		if (strstr(r.body, "pill-unusable") == NULL)
			it_deferred_fail("/keys hides it");
		it_response_free(&r);
	}
	it_deferred_check();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slack_connect),
		cmocka_unit_test(test_slack_bad_state),
		cmocka_unit_test(test_whatsapp),
		cmocka_unit_test(test_quotas),
		cmocka_unit_test(test_member),
		cmocka_unit_test(test_altered_ciphertext),
	};

	snprintf(WA_TOKEN, sizeof(WA_TOKEN), "EAAitToken%dx0123456789",
	    (int)getpid());
	snprintf(WA_TOKEN2, sizeof(WA_TOKEN2), "EAAitToken%dy0123456789",
	    (int)getpid());
	snprintf(WA_REVOKED, sizeof(WA_REVOKED), "EAAitRevoked%dz012345678",
	    (int)getpid());
	it_init();
	it_client_init(68);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
