/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Channels (SPEC 9): where a tenant's agents talk, Slack channels and
 * WhatsApp numbers, within the plan's channels quota.
 *
 * Slack is connected by OAuth: channel_slack_install() hands out the
 * authorize URL with a signed, expiring state (oauth.c) whose nonce is
 * stored for single use; channel_slack_callback() checks the state
 * against the signed-in user, uses the nonce up, and exchanges the code
 * at oauth.v2.access for the bot token.  WhatsApp is connected with the
 * phone number id and access token of the Cloud API, checked against
 * the Graph API before anything is stored.  Tokens are sealed by the
 * vault (Fernet under TOLLGATE_ENCRYPTION_KEY) before they reach the
 * database, and every plaintext copy is wiped after use.  acct.c's
 * error convention.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "tollgate.h"

#define CHANNEL_STATE_TTL	600	/* seconds to finish a Slack install */
#define CHANNEL_SLACK_SCOPES	"chat:write,incoming-webhook"
#define CHANNEL_GRAPH_VERSION	"v21.0"
#define CHANNEL_TEST_TEXT	"Test message from Tollgate: this channel " \
	"is connected."

int
channel_slack_configured(void)
{
	return conf.slack_client_id != NULL &&
	    conf.slack_client_secret != NULL &&
	    conf.oauth_state_secret != NULL;
}

/* What every connection needs: somewhere to seal its token. */
static int
channel_sealable(struct fail *f)
{
	if (conf.encryption_key == NULL)
		return acct_fail(f, 503, "encryption_not_configured",
		    "Stored secrets need TOLLGATE_ENCRYPTION_KEY.", NULL);
	return 0;
}

static int
channel_upstream_fail(struct fail *f, const char *who)
{
	return acct_fail(f, 502, "upstream_error", who, NULL);
}

/* An agent named for a connection must be one of the tenant's. */
static int
channel_agent_check(struct req *r, struct fail *f, const char *agent_id)
{
	struct agent	 a;
	enum db_rc	 rc;

	if (agent_id == NULL || *agent_id == '\0')
		return 0;
	if (!valid_uuid(agent_id))
		return acct_fail(f, 400, "invalid_parameter",
		    "agent_id must be the id of one of your agents.",
		    "agent_id");
	if ((rc = db_agent_get(r, agent_id, &a)) == DB_NOTFOUND)
		return acct_fail(f, 404, "not_found", "There is no such agent.",
		    "agent_id");
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/*
 * The quota under the tenant's lock, for a connection that would be
 * new (c NULL: any new one).  Room says the limit and the count.
 */
static int
channel_room(struct req *r, struct fail *f, const struct channel *c,
    struct channel_room *room)
{
	struct channel	 none;
	char		 allowed[64];
	enum db_rc	 rc;

	if (c == NULL) {
		memset(&none, 0, sizeof(none));
		none.kind = "slack";
		none.external_id = "";
		c = &none;
	}
	if ((rc = db_channel_quota(r, room)) != DB_OK ||
	    (rc = db_channel_count(r, c, room)) != DB_OK)
		return acct_fail_db(f, rc);
	if (room->exists || room->limit < 0 || room->used < room->limit)
		return 0;
	fmt_plural(allowed, sizeof(allowed), room->limit, "channel",
	    "channels");
	return acct_fail(f, 409, "quota_exceeded", arena_printf(&r->arena,
	    "The %s plan allows %s: disconnect one or upgrade the plan.",
	    room->plan_name, allowed), NULL);
}

/* Seal the token, store the connection, audit it. */
static int
channel_store(struct req *r, struct fail *f, struct channel *c,
    char *token, struct channel *out, int *created)
{
	enum db_rc	 rc;
	char		*sealed;
	int		 ret;

	sealed = vault_seal(token, strlen(token));
	OPENSSL_cleanse(token, strlen(token));
	if (sealed == NULL) {
		log_warnx("%s: sealing a channel token failed", __func__);
		return acct_fail_db(f, DB_ERROR);
	}
	c->token = arena_strdup(&r->arena, sealed);
	free(sealed);
	if ((rc = db_channel_put(r, c, out, created)) != DB_OK)
		return acct_fail_db(f, rc);
	ret = 0;
	if ((rc = db_audit_add(r, *created ? "channel.connected" :
	    "channel.updated", out->channel_id, arena_printf(&r->arena,
	    "{\"kind\":\"%s\",\"external_id\":\"%s\"}", out->kind,
	    out->external_id))) != DB_OK)
		ret = acct_fail_db(f, rc);
	return ret;
}

/*
 * GET /channels/slack/install: the authorize URL for the signed-in user
 * (the state names them, and only they can finish it).
 */
int
channel_slack_install(struct req *r, struct fail *f, const char *agent_id,
    const char **url)
{
	struct channel_room	 room;
	struct oauth_state	 s;
	unsigned char		 raw[32];
	char			 state[OAUTH_STATE_MAX];
	char			*cid, *red, *st, *redirect;
	enum db_rc		 rc;

	*url = NULL;
	if (!channel_slack_configured())
		return acct_fail(f, 503, "slack_not_configured", "Slack is not "
		    "configured on this server (SLACK_CLIENT_ID and "
		    "SLACK_CLIENT_SECRET).", NULL);
	if (channel_sealable(f) == -1 ||
	    channel_agent_check(r, f, agent_id) == -1 ||
	    channel_room(r, f, NULL, &room) == -1)
		return -1;
	memset(&s, 0, sizeof(s));
	snprintf(s.tenant, sizeof(s.tenant), "%.36s", r->auth.tenant_id);
	snprintf(s.user, sizeof(s.user), "%.36s", r->auth.user_id);
	snprintf(s.agent, sizeof(s.agent), "%s", agent_id != NULL ?
	    agent_id : "");
	if (util_random(raw, sizeof(raw)) == -1)
		return acct_fail_db(f, DB_ERROR);
	crypto_b64url_encode(raw, sizeof(raw), s.nonce);
	s.exp = (long long)time(NULL) + CHANNEL_STATE_TTL;
	if (oauth_state_sign(conf.oauth_state_secret, &s, state) == -1)
		return acct_fail_db(f, DB_ERROR);
	if ((rc = db_oauth_nonce_new(r, s.nonce, CHANNEL_STATE_TTL)) != DB_OK)
		return acct_fail_db(f, rc);
	redirect = arena_printf(&r->arena, "%s/channels/slack/callback",
	    conf.public_url);
	cid = curl_easy_escape(NULL, conf.slack_client_id, 0);
	red = curl_easy_escape(NULL, redirect, 0);
	st = curl_easy_escape(NULL, state, 0);
	if (cid != NULL && red != NULL && st != NULL)
		*url = arena_printf(&r->arena, "%s/oauth/v2/authorize?"
		    "client_id=%s&scope=%s&redirect_uri=%s&state=%s",
		    conf.slack_api_base, cid, CHANNEL_SLACK_SCOPES, red, st);
	curl_free(cid);
	curl_free(red);
	curl_free(st);
	if (*url == NULL)
		return acct_fail_db(f, DB_ERROR);
	return 0;
}

/* The state of a callback: good, for this user, and not used before. */
static int
channel_state_check(struct req *r, struct fail *f, const char *state,
    struct oauth_state *s)
{
	enum oauth_state_rc	 src;
	enum db_rc		 rc;

	if (state == NULL || *state == '\0')
		return acct_fail(f, 400, "invalid_state", "The Slack answer "
		    "carries no state: start again from the Channels page.",
		    "state");
	src = oauth_state_verify(conf.oauth_state_secret, state,
	    (long long)time(NULL), s);
	if (src != OAUTH_STATE_OK) {
		log_info("oauth state refused: %s", oauth_state_strerror(src));
		return acct_fail(f, 400, "invalid_state", arena_printf(
		    &r->arena, "The Slack answer cannot be used: its state %s. "
		    "Start again from the Channels page.",
		    oauth_state_strerror(src)), "state");
	}
	/* Started by someone else: never connect their Slack here. */
	if (strcmp(s->tenant, r->auth.tenant_id) != 0 || (*s->user != '\0' &&
	    strcmp(s->user, r->auth.user_id) != 0))
		return acct_fail(f, 400, "invalid_state", "This Slack "
		    "connection was started by another user or organization: "
		    "start again from the Channels page.", "state");
	if ((rc = db_oauth_nonce_take(r, s->nonce)) == DB_NOTFOUND)
		return acct_fail(f, 400, "invalid_state", "This Slack answer "
		    "was used already: start again from the Channels page.",
		    "state");
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/* Slack's ids and names, checked before they are stored. */
static int
channel_slack_id(const char *s)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	return n > 0 && n <= 64 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}

/* Exchange the code (oauth.v2.access) and read what Slack granted. */
static int
channel_slack_exchange(struct req *r, struct fail *f, const char *code,
    struct channel *c, char **token)
{
	struct upstream_resp	 u;
	const char		*t, *err;
	char			*form = NULL;
	int			 rc;

	*token = NULL;
	upstream_form_add(r, &form, "client_id", conf.slack_client_id);
	upstream_form_add(r, &form, "client_secret", conf.slack_client_secret);
	upstream_form_add(r, &form, "code", code);
	upstream_form_add(r, &form, "redirect_uri", arena_printf(&r->arena,
	    "%s/channels/slack/callback", conf.public_url));
	rc = upstream_call(r, "POST", arena_printf(&r->arena,
	    "%s/api/oauth.v2.access", conf.slack_api_base), NULL,
	    "application/x-www-form-urlencoded", form, &u);
	OPENSSL_cleanse(form, strlen(form));
	if (rc == -1 || u.status >= 500 || u.status == 429)
		return channel_upstream_fail(f, "Slack could not be reached: "
		    "try again in a moment.");
	if (u.json == NULL || u.status != 200)
		return channel_upstream_fail(f, "Slack gave an answer Tollgate "
		    "cannot read.");
	if (!http_json_bool(u.json, "ok")) {
		err = http_json_text(u.json, "error");
		log_info("slack oauth.v2.access refused: %.64s",
		    err != NULL ? err : "(no error)");
		return acct_fail(f, 400, "slack_refused", arena_printf(
		    &r->arena, "Slack refused the installation (%.64s): start "
		    "again from the Channels page.", err != NULL ? err :
		    "no reason given"), NULL);
	}
	t = http_json_text(u.json, "access_token");
	c->external_id = http_json_text(u.json, "team.id");
	c->name = http_json_text(u.json, "team.name");
	c->target_id = http_json_text(u.json, "incoming_webhook.channel_id");
	c->target = http_json_text(u.json, "incoming_webhook.channel");
	if (t == NULL || *t == '\0' || strlen(t) > 512 ||
	    !channel_slack_id(c->external_id) || c->name == NULL ||
	    *c->name == '\0' || strlen(c->name) > 200 ||
	    !channel_slack_id(c->target_id) ||
	    (c->target != NULL && strlen(c->target) > 200))
		return channel_upstream_fail(f, "Slack's answer lacks the "
		    "token, the workspace or the channel.");
	*token = (char *)(uintptr_t)t;
	return 0;
}

/*
 * GET /channels/slack/callback?code=&state= (or ?error=&state=): the
 * state first, whatever Slack says; then the code for a token.
 */
int
channel_slack_callback(struct req *r, struct fail *f, const char *code,
    const char *state, const char *error, struct channel *out, int *created)
{
	struct channel_room	 room;
	struct oauth_state	 s;
	struct channel		 c;
	char			*token = NULL;
	int			 rc = -1;

	*created = 0;
	if (!channel_slack_configured())
		return acct_fail(f, 503, "slack_not_configured", "Slack is not "
		    "configured on this server.", NULL);
	if (channel_sealable(f) == -1 ||
	    channel_state_check(r, f, state, &s) == -1)
		return -1;
	if (error != NULL && *error != '\0')
		return acct_fail(f, 400, "slack_denied", arena_printf(&r->arena,
		    "Slack did not install the app (%.64s): nothing was "
		    "connected.", error), NULL);
	if (code == NULL || *code == '\0' || strlen(code) > 256)
		return acct_fail(f, 400, "invalid_parameter", "The Slack answer "
		    "carries no code.", "code");
	memset(&c, 0, sizeof(c));
	c.kind = "slack";
	c.agent_id = *s.agent != '\0' ? arena_strdup(&r->arena, s.agent) :
	    NULL;
	if (channel_agent_check(r, f, c.agent_id) == -1 ||
	    channel_slack_exchange(r, f, code, &c, &token) == -1)
		goto done;
	if (channel_room(r, f, &c, &room) == -1 ||
	    channel_store(r, f, &c, token, out, created) == -1)
		goto done;
	rc = 0;
done:
	if (token != NULL)
		OPENSSL_cleanse(token, strlen(token));
	return rc;
}

/* Meta's error for a refused token or an unknown number, for the log. */
static const char *
channel_graph_error(struct req *r, const struct upstream_resp *u)
{
	return arena_printf(&r->arena, "%lld/%lld", http_json_int(u->json,
	    "error.code", 0), http_json_int(u->json, "error.error_subcode",
	    0));
}

/*
 * POST /channels/whatsapp: the number and token checked against the
 * Graph API, then sealed and stored.  "token" is wiped before this
 * returns, whatever happens.
 */
int
channel_whatsapp_connect(struct req *r, struct fail *f,
    const char *phone_number_id, char *token, const char *display_name,
    const char *agent_id, struct channel *out, int *created,
    struct channel_room *room)
{
	struct upstream_resp	 u;
	struct channel		 c;
	const char		*shown;
	int			 rc = -1;

	*created = 0;
	memset(room, 0, sizeof(*room));
	memset(&c, 0, sizeof(c));
	c.kind = "whatsapp";
	c.external_id = phone_number_id;
	c.agent_id = agent_id != NULL && *agent_id != '\0' ? agent_id : NULL;
	if (channel_sealable(f) == -1 ||
	    channel_agent_check(r, f, c.agent_id) == -1 ||
	    channel_room(r, f, &c, room) == -1)
		goto done;
	if (upstream_call(r, "GET", arena_printf(&r->arena, "%s/"
	    CHANNEL_GRAPH_VERSION "/%s?fields=display_phone_number,"
	    "verified_name", conf.meta_graph_base, phone_number_id), token,
	    NULL, NULL, &u) == -1 || u.status >= 500 || u.status == 429) {
		channel_upstream_fail(f, "Meta's Graph API could not be "
		    "reached: try again in a moment.");
		goto done;
	}
	if (u.status != 200) {
		log_info("graph refused the whatsapp credentials: %ld %s",
		    u.status, channel_graph_error(r, &u));
		acct_fail(f, 400, "invalid_whatsapp_credentials", "Meta refused "
		    "this phone number id and access token: check both in "
		    "the WhatsApp Manager.", "access_token");
		goto done;
	}
	c.target = http_json_text(u.json, "display_phone_number");
	shown = http_json_text(u.json, "verified_name");
	c.name = display_name != NULL && *display_name != '\0' ?
	    display_name : shown != NULL && *shown != '\0' ? shown :
	    phone_number_id;
	if (strlen(c.name) > 200 || (c.target != NULL &&
	    strlen(c.target) > 200)) {
		channel_upstream_fail(f, "Meta's answer is not a phone number.");
		goto done;
	}
	rc = channel_store(r, f, &c, token, out, created);
done:
	OPENSSL_cleanse(token, strlen(token));
	return rc;
}

/* A WhatsApp recipient: an optional "+" and 8 to 15 digits. */
static int
channel_msisdn(const char *to, const char **digits)
{
	size_t	 n;

	if (to == NULL)
		return 0;
	if (*to == '+')
		to++;
	n = strlen(to);
	*digits = to;
	return n >= 8 && n <= 15 && strspn(to, "0123456789") == n;
}

static int
channel_test_slack(struct req *r, struct fail *f, const struct channel *c,
    const char *token, struct channel_test *t)
{
	struct json_object	*o = json_object_new_object();
	struct upstream_resp	 u;
	int			 rc;

	json_object_object_add(o, "channel", json_object_new_string(
	    c->target_id));
	json_object_object_add(o, "text", json_object_new_string(
	    CHANNEL_TEST_TEXT));
	rc = upstream_call(r, "POST", arena_printf(&r->arena,
	    "%s/api/chat.postMessage", conf.slack_api_base), token,
	    "application/json; charset=utf-8", json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN), &u);
	json_object_put(o);
	if (rc == -1 || u.status >= 500 || u.status == 429 || u.json == NULL) {
		t->retry_after = u.retry_after[0] != '\0' ? arena_strdup(
		    &r->arena, u.retry_after) : NULL;
		return channel_upstream_fail(f, "Slack could not be reached: "
		    "try again in a moment.");
	}
	t->delivered = http_json_bool(u.json, "ok");
	t->error = t->delivered ? NULL : http_json_text(u.json, "error");
	if (!t->delivered && t->error == NULL)
		t->error = "unknown_error";
	t->message_id = http_json_text(u.json, "ts");
	return 0;
}

static int
channel_test_whatsapp(struct req *r, struct fail *f, const struct channel *c,
    const char *token, const char *to, struct channel_test *t)
{
	struct json_object	*o = json_object_new_object(), *text;
	struct upstream_resp	 u;
	const char		*digits = NULL;
	int			 rc;

	if (!channel_msisdn(to, &digits)) {
		json_object_put(o);
		return acct_fail(f, 400, to == NULL ? "missing_parameter" :
		    "invalid_parameter", "to must be the recipient's number in "
		    "international form, such as +15551234567.", "to");
	}
	text = json_object_new_object();
	json_object_object_add(text, "body", json_object_new_string(
	    CHANNEL_TEST_TEXT));
	json_object_object_add(o, "messaging_product",
	    json_object_new_string("whatsapp"));
	json_object_object_add(o, "to", json_object_new_string(digits));
	json_object_object_add(o, "type", json_object_new_string("text"));
	json_object_object_add(o, "text", text);
	rc = upstream_call(r, "POST", arena_printf(&r->arena, "%s/"
	    CHANNEL_GRAPH_VERSION "/%s/messages", conf.meta_graph_base,
	    c->external_id), token, "application/json",
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), &u);
	json_object_put(o);
	if (rc == -1 || u.status >= 500 || u.status == 429) {
		t->retry_after = u.retry_after[0] != '\0' ? arena_strdup(
		    &r->arena, u.retry_after) : NULL;
		return channel_upstream_fail(f, "Meta's Graph API could not be "
		    "reached: try again in a moment.");
	}
	t->delivered = u.status == 200;
	t->message_id = http_json_text(u.json, "messages.0.id");
	if (!t->delivered) {
		t->error = http_json_text(u.json, "error.message");
		if (t->error == NULL)
			t->error = arena_printf(&r->arena, "HTTP %ld",
			    u.status);
	}
	return 0;
}

/*
 * POST /channels/{id}/test: one message through the provider.  Its
 * answer becomes the channel's status: a refused token marks the
 * channel failing (committed), a provider that cannot be reached
 * changes nothing (502).
 */
int
channel_test(struct req *r, struct fail *f, const char *channel_id,
    const char *to, struct channel *c, struct channel_test *t)
{
	struct channel	 cur;
	char		*token = NULL;
	size_t		 n = 0;
	enum db_rc	 rc;
	int		 ret = -1;

	memset(t, 0, sizeof(*t));
	if (!valid_uuid(channel_id) ||
	    (rc = db_channel_get(r, channel_id, &cur)) == DB_NOTFOUND)
		return acct_fail(f, 404, "not_found", "There is no such "
		    "channel.", NULL);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	if (vault_unseal(cur.token, &token, &n) == -1) {
		log_warnx("channel %s: its stored token cannot be opened",
		    channel_id);
		return acct_fail(f, 409, "channel_unusable", "The stored token "
		    "of this channel cannot be decrypted: disconnect it and "
		    "connect it again.", NULL);
	}
	if (strcmp(cur.kind, "slack") == 0) {
		if (channel_test_slack(r, f, &cur, token, t) == -1)
			goto done;
	} else if (channel_test_whatsapp(r, f, &cur, token, to, t) == -1)
		goto done;
	if ((rc = db_channel_tested(r, channel_id, t->delivered, t->error,
	    c)) != DB_OK || (rc = db_audit_add(r, "channel.tested",
	    channel_id, arena_printf(&r->arena, "{\"kind\":\"%s\","
	    "\"delivered\":%s}", cur.kind, t->delivered ? "true" :
	    "false"))) != DB_OK) {
		acct_fail_db(f, rc);
		goto done;
	}
	ret = 0;
done:
	vault_wipe(token, n);
	return ret;
}

/*
 * DELETE /channels/{id}.  A Slack bot token is also revoked at Slack,
 * best effort: the connection is gone here whatever Slack answers.
 */
int
channel_disconnect(struct req *r, struct fail *f, const char *channel_id)
{
	struct upstream_resp	 u;
	struct channel		 c;
	char			*token = NULL;
	size_t			 n = 0;
	enum db_rc		 rc;

	if (!valid_uuid(channel_id) ||
	    (rc = db_channel_delete(r, channel_id, &c)) == DB_NOTFOUND)
		return acct_fail(f, 404, "not_found", "There is no such "
		    "channel.", NULL);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	if ((rc = db_audit_add(r, "channel.disconnected", channel_id,
	    arena_printf(&r->arena, "{\"kind\":\"%s\",\"external_id\":"
	    "\"%s\"}", c.kind, c.external_id))) != DB_OK)
		return acct_fail_db(f, rc);
	if (strcmp(c.kind, "slack") == 0 &&
	    vault_unseal(c.token, &token, &n) == 0) {
		if (upstream_call(r, "POST", arena_printf(&r->arena,
		    "%s/api/auth.revoke", conf.slack_api_base), token,
		    "application/x-www-form-urlencoded", "", &u) == -1 ||
		    !http_json_bool(u.json, "ok"))
			log_info("channel %s: slack did not revoke its token",
			    channel_id);
		vault_wipe(token, n);
	}
	return 0;
}
