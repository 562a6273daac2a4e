/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Portal pages of a signed-in member: dashboard, team, keys, audit.
 * Every POST ends in a redirect with a flash notice, except where a
 * secret must be shown exactly once (a new API key, an invitation
 * link): that page is rendered in answer to the POST itself, so the
 * secret never travels in a cookie or a URL.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "tollgate.h"

#define PAGE_LIST	100

/* Scope bits as "a, b" for reading. */
static const char *
page_scopes_text(struct req *r, int scopes)
{
	struct buf	 b;
	const char	*out, *name;
	int		 i = 0;

	buf_init(&b, 1024);
	while ((name = valid_scope_next(scopes, &i)) != NULL)
		buf_printf(&b, "%s%s", b.len > 0 ? ", " : "", name);
	out = arena_strdup(&r->arena, b.p != NULL ? b.p : "");
	buf_free(&b);
	return out;
}

static int
page_members(struct req *r)
{
	struct member	*m;
	const char	*owner = NULL;
	size_t		 n, i;
	int		 more, owners = 0;
	enum db_rc	 rc;

	if ((rc = db_members_list(r, PAGE_LIST, NULL, &m, &n, &more)) !=
	    DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (strcmp(m[i].role, "owner") == 0) {
			owners++;
			owner = m[i].user_id;
		}
	/* The only owner can be neither removed nor demoted: no controls. */
	if (owners == 1)
		tmpl_set(r, "Page.sole_owner", owner);
	tmpl_set(r, "User.id", r->auth.user_id);
	for (i = 0; i < n; i++) {
		tmpl_set_row(r, "Members", i, "user_id", m[i].user_id);
		tmpl_set_row(r, "Members", i, "email", m[i].email);
		tmpl_set_row(r, "Members", i, "name", m[i].name);
		tmpl_set_row(r, "Members", i, "role", m[i].role);
		page_row_label(r, "Members", i, "role", m[i].role);
		page_row_time(r, "Members", i, "joined", m[i].created_at);
	}
	return 0;
}

static int
page_keys_data(struct req *r, int revoked)
{
	struct apikey	*k;
	size_t		 n, i;
	int		 more;
	enum db_rc	 rc;

	if ((rc = db_apikey_list(r, PAGE_LIST, NULL, revoked, &k, &n,
	    &more)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	for (i = 0; i < n; i++) {
		tmpl_set_row(r, "Keys", i, "id", k[i].key_id);
		tmpl_set_row(r, "Keys", i, "name", k[i].name);
		tmpl_set_row(r, "Keys", i, "prefix", k[i].prefix);
		tmpl_set_row(r, "Keys", i, "scopes", page_scopes_text(r,
		    k[i].scopes));
		page_row_time(r, "Keys", i, "created", k[i].created_at);
		page_row_time(r, "Keys", i, "used", k[i].last_used_at);
		page_row_time(r, "Keys", i, "revoked", k[i].revoked_at);
	}
	return 0;
}

static int
page_audit_data(struct req *r, const struct audit_filter *flt, int limit,
    int *more, const char **last_id)
{
	struct audit_event	*e;
	size_t			 n, i;
	enum db_rc		 rc;

	if ((rc = db_audit_list(r, flt, limit, &e, &n, more)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	for (i = 0; i < n; i++) {
		tmpl_set_row(r, "Audit", i, "id", e[i].event_id);
		page_row_time(r, "Audit", i, "at", e[i].at);
		tmpl_set_row(r, "Audit", i, "actor", e[i].actor);
		/* Names to read, the ids on hover. */
		if (e[i].actor_key_name != NULL)
			tmpl_set_row(r, "Audit", i, "actor_name", arena_printf(
			    &r->arena, "key \xe2\x80\x9c%s\xe2\x80\x9d",
			    e[i].actor_key_name));
		tmpl_set_row(r, "Audit", i, "target_name", e[i].target_name);
		tmpl_set_row(r, "Audit", i, "action", e[i].action);
		tmpl_set_row(r, "Audit", i, "target", e[i].target);
		tmpl_set_row(r, "Audit", i, "ip", e[i].ip);
		tmpl_set_row(r, "Audit", i, "details", page_details_text(r,
		    e[i].details));
	}
	*last_id = n > 0 ? e[n - 1].event_id : NULL;
	return 0;
}

void
page_dashboard(struct req *r)
{
	struct audit_filter	 flt;
	const char		*last;
	int			 more;

	memset(&flt, 0, sizeof(flt));
	page_layout(r, "Dashboard", "dashboard");
	if (page_members(r) == -1 || page_keys_data(r, 0) == -1 ||
	    page_usage_cards(r) == -1)
		return;
	if (r->auth.role >= ROLE_ADMIN) {
		tmpl_set(r, "Page.can_audit", "1");
		if (page_audit_data(r, &flt, 10, &more, &last) == -1)
			return;
	}
	tmpl_render(r, 200, "dashboard.cs");
}

static void
page_team_render(struct req *r, int status)
{
	struct invitation	*inv;
	size_t			 n, i;
	enum db_rc		 rc;

	page_layout(r, "Team", "team");
	if (conf.smtp_url != NULL)
		tmpl_set(r, "Page.mail", "1");
	if (r->auth.role >= ROLE_ADMIN) {
		tmpl_set(r, "Page.can_manage", "1");
		if ((rc = db_invitations_pending(r, &inv, &n)) != DB_OK) {
			req_error_from_db(r, rc);
			return;
		}
		for (i = 0; i < n; i++) {
			tmpl_set_row(r, "Invitations", i, "id",
			    inv[i].invitation_id);
			tmpl_set_row(r, "Invitations", i, "email", inv[i].email);
			page_row_label(r, "Invitations", i, "role",
			    inv[i].role);
			page_row_time(r, "Invitations", i, "expires",
			    inv[i].expires_at);
		}
	}
	if (page_members(r) == -1)
		return;
	tmpl_render(r, status, "team.cs");
}

void
page_team(struct req *r)
{
	tmpl_set(r, "Form.role.value", "member");
	page_team_render(r, 200);
}

void
page_team_invite(struct req *r)
{
	struct invitation	 inv;
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct fail		 f;
	const char		*link, *reveal;
	enum db_rc		 rc;

	memset(&f, 0, sizeof(f));
	if (page_input(r, VOP_INVITE, NULL, v) > 0)
		f.status = 400;
	else if (acct_invite(r, &f, v[0].s, v[1].s, &inv, &link) == -1) {
		page_fail(r, &f, "email");
		if (f.db != 0)
			return;
	}
	if (f.status != 0) {
		/* Refused: nothing stays, the form shows why. */
		if ((rc = db_restart(r)) != DB_OK) {
			req_error_from_db(r, rc);
			return;
		}
		page_keep(r, "email");
		page_keep(r, "role");
		page_team_render(r, f.status);
		return;
	}
	/* The mail leaves through the outbox, once this commits. */
	if ((rc = notify_invitation(r, v[0].s, link)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	/*
	 * Post, redirect, get: a reload sends nothing again.  The link waits
	 * in the reveal store for the next page, shown once.
	 */
	if ((reveal = page_reveal_put(r, link)) != NULL) {
		page_flash_about(r, conf.smtp_url != NULL ? "invited_mailed" :
		    "invited", inv.invitation_id, reveal);
		req_redirect(r, "/team");
		return;
	}
	tmpl_set(r, "Invite.link", link);
	tmpl_set(r, "Reveal.about", v[0].s);
	tmpl_set(r, "Form.role.value", "member");
	page_team_render(r, 200);
}

/* The thing to confirm is gone (or never was): say so on its page. */
static void
page_team_gone(struct req *r, const char *back)
{
	req_refuse(r);
	page_flash(r, "not_found");
	req_redirect(r, back);
}

/* The flash code for a refused team change. */
static const char *
page_fail_code(const struct fail *f)
{
	if (f->code != NULL && strcmp(f->code, "last_owner") == 0)
		return "last_owner";
	if (f->status == 404)
		return "not_found";
	return "not_allowed";
}

static void
page_team_after(struct req *r, int ok, const struct fail *f,
    const char *done)
{
	if (!ok && f->db != 0) {
		req_error_from_db(r, f->db);
		return;
	}
	/* A refused change must not commit, though the answer is a 303. */
	if (!ok)
		req_refuse(r);
	page_flash(r, ok ? done : page_fail_code(f));
	req_redirect(r, "/team");
}

void
page_team_role(struct req *r)
{
	struct member	 m;
	struct fail	 f;
	int		 ok;

	ok = acct_set_role(r, &f, page_form(r, "user_id"),
	    page_form(r, "role"), &m) == 0;
	page_team_after(r, ok, &f, "role_changed");
}

void
page_team_remove(struct req *r)
{
	struct member	 m;
	struct fail	 f;
	const char	*who = page_form(r, "user_id");
	int		 self = strcasecmp(who, r->auth.user_id) == 0, ok;

	if (!page_confirmed(r)) {
		if (!valid_uuid(who) || db_member_get(r, who, &m) != DB_OK) {
			page_team_gone(r, "/team");
			return;
		}
		page_confirm(r, "team", self ? "Leave the organization" :
		    "Remove a member", self ? arena_printf(&r->arena, "Leave "
		    "%s? You lose access at once; an owner can invite you "
		    "again.", r->tenant != NULL ? r->tenant->name : "it") :
		    arena_printf(&r->arena, "Remove %s from the organization? "
		    "They lose access at once.", m.email), "/team/remove",
		    "user_id", who, self ? "Leave" : "Remove", "/team");
		return;
	}
	ok = acct_remove(r, &f, who) == 0;
	if (ok)
		r->after = billing_seats_after;
	if (ok && self) {
		page_flash(r, "left");
		req_redirect(r, "/login");
		return;
	}
	page_team_after(r, ok, &f, "member_removed");
}

void
page_team_revoke(struct req *r)
{
	struct invitation	 inv;
	struct fail		 f;
	const char		*id = page_form(r, "invitation_id");
	enum db_rc		 rc;
	int			 ok = 0;

	if (!page_confirmed(r)) {
		if (!valid_uuid(id) || db_invitation_get(r, id, 0, &inv) !=
		    DB_OK || !inv.live) {
			page_team_gone(r, "/team");
			return;
		}
		page_confirm(r, "team", "Revoke an invitation", arena_printf(
		    &r->arena, "Revoke the invitation to %s? Its link stops "
		    "working.", inv.email), "/team/revoke-invitation",
		    "invitation_id", id, "Revoke", "/team");
		return;
	}
	memset(&f, 0, sizeof(f));
	f.status = 404;
	if (valid_uuid(id)) {
		rc = db_invitation_revoke(r, id, r->auth.role == ROLE_OWNER);
		if (rc == DB_OK)
			ok = db_audit_add(r, "member.invitation_revoked", id,
			    NULL) == DB_OK;
		else if (rc != DB_NOTFOUND)
			f.db = rc;
	}
	page_team_after(r, ok, &f, "invitation_revoked");
}

/* The providers in the add form, in words (valid.c has the ids). */
static const char *const	page_llm_providers[][2] = {
	{ "openai", "OpenAI" },
	{ "anthropic", "Anthropic" },
	{ "google", "Google" },
	{ "mistral", "Mistral" },
	{ "azure_openai", "Azure OpenAI" },
	{ "groq", "Groq" },
	{ "openrouter", "OpenRouter" },
	{ "custom", "Other (OpenAI-compatible)" },
};

static const char *
page_llm_provider_label(const char *id)
{
	size_t	 i;

	for (i = 0; i < sizeof(page_llm_providers) /
	    sizeof(page_llm_providers[0]); i++)
		if (strcmp(id, page_llm_providers[i][0]) == 0)
			return page_llm_providers[i][1];
	return id;
}

/* The LLM provider keys, by hint; a token no key opens is unusable. */
static int
page_llmkeys_data(struct req *r)
{
	struct llmkey_room	 room;
	struct llmkey		*k;
	size_t			 n, i;
	enum db_rc		 rc;

	if ((rc = db_llmkey_list(r, &k, &n)) != DB_OK ||
	    (rc = db_llmkey_quota(r, &room)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	for (i = 0; i < n; i++) {
		tmpl_set_row(r, "LlmKeys", i, "id", k[i].key_id);
		tmpl_set_row(r, "LlmKeys", i, "provider",
		    page_llm_provider_label(k[i].provider));
		tmpl_set_row(r, "LlmKeys", i, "label", k[i].label);
		tmpl_set_row(r, "LlmKeys", i, "hint", k[i].key_hint);
		if (!vault_usable(k[i].ciphertext)) {
			tmpl_set_row(r, "LlmKeys", i, "unusable", "1");
			tmpl_set(r, "Page.llm_unusable", "1");
		} else if (k[i].status != NULL &&
		    strcmp(k[i].status, "failing") == 0) {
			tmpl_set_row(r, "LlmKeys", i, "failing", "1");
			tmpl_set_row(r, "LlmKeys", i, "detail",
			    k[i].status_detail);
		}
		page_row_time(r, "LlmKeys", i, "created", k[i].created_at);
		page_row_time(r, "LlmKeys", i, "used", k[i].last_used_at);
	}
	if (room.limit >= 0 && (long long)n >= room.limit)
		tmpl_set(r, "Page.llm_full", "1");
	for (i = 0; i < sizeof(page_llm_providers) /
	    sizeof(page_llm_providers[0]); i++) {
		tmpl_set_row(r, "Providers", i, "id", page_llm_providers[i][0]);
		tmpl_set_row(r, "Providers", i, "label",
		    page_llm_providers[i][1]);
	}
	return 0;
}

/* A price per million tokens in USD for the page: "0.15". */
static const char *
page_price_usd(struct req *r, long long micros)
{
	char	 b[32];

	quota_micros_to_usd(micros, b, sizeof(b));
	return arena_strdup(&r->arena, b);
}

/* The tenant's own prices of models, and the providers for the form. */
static int
page_llmprices_data(struct req *r)
{
	struct llmprice	*p;
	size_t		 n, i;
	enum db_rc	 rc;

	if ((rc = db_llmprice_list(r, &p, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	for (i = 0; i < n; i++) {
		tmpl_set_row(r, "Prices", i, "id", p[i].price_id);
		tmpl_set_row(r, "Prices", i, "provider",
		    page_llm_provider_label(p[i].provider));
		tmpl_set_row(r, "Prices", i, "model", p[i].model);
		tmpl_set_row(r, "Prices", i, "prompt", page_price_usd(r,
		    p[i].prompt_per_mtok));
		tmpl_set_row(r, "Prices", i, "completion", page_price_usd(r,
		    p[i].completion_per_mtok));
		tmpl_set_row(r, "Prices", i, "cached", page_price_usd(r,
		    p[i].cached_per_mtok));
		page_row_time(r, "Prices", i, "updated", p[i].updated_at);
	}
	if (n >= LLMPRICE_CAP)
		tmpl_set(r, "Page.prices_full", "1");
	return 0;
}

static void
page_keys_render(struct req *r, int status)
{
	page_layout(r, "Keys", "keys");
	if (r->auth.role >= ROLE_ADMIN)
		tmpl_set(r, "Page.can_manage", "1");
	if (page_llmkeys_data(r) == -1 || page_llmprices_data(r) == -1 ||
	    page_keys_data(r, 1) == -1)
		return;
	tmpl_render(r, status, "keys.cs");
}

void
page_keys(struct req *r)
{
	page_keys_render(r, 200);
}

void
page_keys_create(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct apikey	 k;
	struct fail	 f;
	const char	*secret, *sname, *reveal;
	char		 key[64];
	int		 i = 0;
	enum db_rc	 rc;

	memset(&f, 0, sizeof(f));
	if (page_input(r, VOP_KEY_CREATE, NULL, v) > 0)
		f.status = 400;
	else if (acct_key_create(r, &f, v[0].s, (int)v[1].i, &k,
	    &secret) == -1) {
		page_fail(r, &f, NULL);
		if (f.db != 0)
			return;
	}
	if (f.status != 0) {
		if ((rc = db_restart(r)) != DB_OK) {
			req_error_from_db(r, rc);
			return;
		}
		/* "usage:write" is kept as Form.scope.usage_write. */
		while ((sname = valid_scope_next((int)v[1].i, &i)) != NULL) {
			snprintf(key, sizeof(key), "Form.scope.%s", sname);
			key[strcspn(key, ":")] = '_';
			tmpl_set(r, key, "1");
		}
		page_keep(r, "name");
		page_keys_render(r, f.status);
		return;
	}
	/* Post, redirect, get; the secret waits, sealed, to be shown once. */
	if ((reveal = page_reveal_put(r, secret)) != NULL) {
		page_flash_about(r, "key_created", k.key_id, reveal);
		req_redirect(r, "/keys");
		return;
	}
	/* Created: the form starts afresh below the secret. */
	tmpl_set(r, "Form.scope.usage_write", "");
	tmpl_set(r, "Form.scope.usage_read", "");
	tmpl_set(r, "Form.scope.entitlements_read", "");
	tmpl_set(r, "Form.scope.storage_read", "");
	tmpl_set(r, "Form.scope.storage_write", "");
	tmpl_set(r, "Form.scope.llm", "");
	tmpl_set(r, "Form.scope.billing_read", "");
	tmpl_set(r, "Key.secret", secret);
	page_keys_render(r, 201);
}

void
page_keys_revoke(struct req *r)
{
	struct apikey	 k;
	struct fail	 f;
	const char	*id = page_form(r, "key_id");
	int		 ok;

	if (!page_confirmed(r)) {
		if (!valid_uuid(id) || db_apikey_get(r, id, &k) != DB_OK) {
			page_team_gone(r, "/keys");
			return;
		}
		page_confirm(r, "keys", "Revoke an API key", arena_printf(
		    &r->arena, "Revoke the key \xe2\x80\x9c%s\xe2\x80\x9d (%s\xe2\x80\xa6)? "
		    "Programs using it are refused from the next request.",
		    k.name, k.prefix), "/keys/api/revoke", "key_id", id,
		    "Revoke", "/keys");
		return;
	}
	ok = acct_key_revoke(r, &f, id) == 0;
	if (!ok && f.db != 0) {
		req_error_from_db(r, f.db);
		return;
	}
	if (!ok)
		req_refuse(r);
	page_flash(r, ok ? "key_revoked" : page_fail_code(&f));
	req_redirect(r, "/keys");
}

/*
 * POST /keys/llm: a provider key, sealed at once.  A refused form shows
 * why beside its fields; the key typed is never shown again.
 */
void
page_keys_llm_add(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct llmkey_room	 room;
	struct llmkey		 k;
	struct fail		 f;
	char			*key;
	int			 rc;
	enum db_rc		 drc;

	key = (char *)(uintptr_t)page_form(r, "api_key");
	memset(&f, 0, sizeof(f));
	if (page_input(r, VOP_LLMKEY_ADD, NULL, v) > 0) {
		OPENSSL_cleanse(key, strlen(key));
		f.status = 400;
	} else {
		rc = llmkey_add(r, &f, v[0].s, v[2].present ? v[2].s : NULL,
		    key, &k, &room);
		OPENSSL_cleanse(r->body.p, r->body.len);
		if (rc == 0) {
			page_flash(r, "llm_key_added");
			req_redirect(r, "/keys");
			return;
		}
		if (f.code != NULL && strcmp(f.code, "quota_exceeded") == 0) {
			req_refuse(r);
			page_flash(r, "llm_keys_full");
			req_redirect(r, "/keys");
			return;
		}
		page_fail(r, &f, "api_key");
		if (f.db != 0)
			return;
	}
	if ((drc = db_restart(r)) != DB_OK) {
		req_error_from_db(r, drc);
		return;
	}
	page_keep(r, "provider");
	page_keep(r, "label");
	page_keys_render(r, f.status);
}

/* POST /keys/llm/delete, after a confirmation page. */
void
page_keys_llm_delete(struct req *r)
{
	struct llmkey	*k;
	struct fail	 f;
	const char	*id = page_form(r, "key_id");
	size_t		 n, i;

	if (!page_confirmed(r)) {
		if (!valid_uuid(id) || db_llmkey_list(r, &k, &n) != DB_OK)
			n = 0;
		for (i = 0; i < n; i++)
			if (strcmp(k[i].key_id, id) == 0)
				break;
		if (i == n) {
			page_team_gone(r, "/keys");
			return;
		}
		page_confirm(r, "keys", "Delete an LLM provider key",
		    arena_printf(&r->arena, "Delete the %s key %s? Agents "
		    "calling %s through Tollgate stop working until a new key "
		    "is added.", page_llm_provider_label(k[i].provider),
		    k[i].key_hint, page_llm_provider_label(k[i].provider)),
		    "/keys/llm/delete", "key_id", id, "Delete", "/keys");
		return;
	}
	if (llmkey_delete(r, &f, id) == -1) {
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_team_gone(r, "/keys");
		return;
	}
	page_flash(r, "llm_key_deleted");
	req_redirect(r, "/keys");
}

/* A form's USD per million tokens into micro-USD; -1 with its error. */
static int
page_price_field(struct req *r, const char *name, const char *text,
    long long *out)
{
	if (quota_usd_to_micros(text, out) == 0 && *out <= LLMPRICE_MAX)
		return 0;
	tmpl_set(r, arena_printf(&r->arena, "Form.%s.error", name),
	    "Give a price in US dollars per million tokens, such as 0.15 "
	    "(at most six decimals).");
	return -1;
}

/*
 * POST /keys/prices: the organization's price of a model, in USD per
 * million tokens (cached input at the input's price when left empty).
 */
void
page_keys_price_set(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct llmprice	 in, p;
	struct fail	 f;
	int		 created, bad = 0;
	enum db_rc	 rc;

	memset(&f, 0, sizeof(f));
	memset(&in, 0, sizeof(in));
	if (page_input(r, VOP_LLM_PRICE_FORM, NULL, v) > 0)
		bad = 1;
	else {
		in.provider = v[0].s;
		in.model = v[1].s;
		bad |= page_price_field(r, "prompt_usd", v[2].s,
		    &in.prompt_per_mtok) == -1;
		bad |= page_price_field(r, "completion_usd", v[3].s,
		    &in.completion_per_mtok) == -1;
		in.cached_per_mtok = in.prompt_per_mtok;
		if (v[4].present && *v[4].s != '\0')
			bad |= page_price_field(r, "cached_usd", v[4].s,
			    &in.cached_per_mtok) == -1;
	}
	if (bad) {
		req_refuse(r);
		f.status = 400;
	} else if (llmprice_set(r, &f, &in, &p, &created) == -1) {
		page_fail(r, &f, "model");
		if (f.db != 0)
			return;
	} else {
		page_flash(r, "llm_price_set");
		req_redirect(r, "/keys");
		return;
	}
	if ((rc = db_restart(r)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	page_keep(r, "model");
	page_keep(r, "prompt_usd");
	page_keep(r, "completion_usd");
	page_keep(r, "cached_usd");
	tmpl_set(r, "Form.price_provider.value", page_form(r, "provider"));
	tmpl_set(r, "Form.price_form", "1");
	page_keys_render(r, f.status);
}

/* POST /keys/prices/delete, after a confirmation page. */
void
page_keys_price_delete(struct req *r)
{
	struct llmprice	*p, gone;
	struct fail	 f;
	const char	*id = page_form(r, "price_id");
	size_t		 n, i;

	if (!page_confirmed(r)) {
		if (!valid_uuid(id) || db_llmprice_list(r, &p, &n) != DB_OK)
			n = 0;
		for (i = 0; i < n; i++)
			if (strcmp(p[i].price_id, id) == 0)
				break;
		if (i == n) {
			page_team_gone(r, "/keys");
			return;
		}
		page_confirm(r, "keys", "Delete a model's price", arena_printf(
		    &r->arena, "Delete your price of %s at %s? Calls and usage "
		    "of it are then priced at the platform's price, or refused "
		    "when it has none.", p[i].model,
		    page_llm_provider_label(p[i].provider)),
		    "/keys/prices/delete", "price_id", id, "Delete", "/keys");
		return;
	}
	if (llmprice_delete(r, &f, id, &gone) == -1) {
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		page_team_gone(r, "/keys");
		return;
	}
	page_flash(r, "llm_price_deleted");
	req_redirect(r, "/keys");
}

/* The actions a tenant's trail records, for the filter's menu. */
static const char *const	page_audit_actions[] = {
	"agent.created", "agent.deactivated", "agent.reactivated",
	"agent.updated", "api_key.created", "api_key.revoked",
	"auth.email_verified", "auth.login", "auth.login_failed", "auth.logout",
	"auth.password_changed", "auth.password_reset", "auth.refresh_reused",
	"channel.connected", "channel.disconnected", "channel.tested",
	"channel.updated", "llm_key.added", "llm_key.deleted",
	"llm_price.deleted", "llm_price.set",
	"member.invitation_revoked", "member.invited", "member.joined",
	"member.removed", "member.role_changed", "tenant.created", NULL
};

/*
 * A day of the filter's date inputs (YYYY-MM-DD) as the RFC 3339 time
 * the API filter takes: its first second, or with "next" the first
 * second of the next day (the end is exclusive).  Anything else is
 * given through as typed, for the validator to refuse at its field.
 */
static const char *
page_audit_day(struct req *r, const char *v, int next)
{
	struct tm	 tm;
	const char	*e;
	time_t		 t;
	char		 out[32];

	memset(&tm, 0, sizeof(tm));
	if (v == NULL || *v == '\0' || strlen(v) != 10 ||
	    (e = strptime(v, "%Y-%m-%d", &tm)) == NULL || *e != '\0' ||
	    (t = timegm(&tm)) == (time_t)-1)
		return v;
	t += next ? 86400 : 0;
	gmtime_r(&t, &tm);
	strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return arena_strdup(&r->arena, out);
}

/*
 * The audit filter of the page: an action menu, an actor, and from/to
 * days.  A bad value is shown at its field, with the events unfiltered
 * by it, never as an error page.
 */
void
page_audit(struct req *r)
{
	struct audit_filter	 flt;
	struct kvlist		 in;
	struct vfail		 vf;
	struct buf		 q;
	const char		*last = NULL, *from, *to;
	size_t			 i;
	int			 limit, more = 0;

	from = http_kv_get(&r->args, "from");
	to = http_kv_get(&r->args, "to");
	in.n = r->args.n;
	in.kv = arena_calloc(&r->arena, in.n + 1, sizeof(*in.kv));
	for (i = 0; i < r->args.n; i++) {
		in.kv[i] = r->args.kv[i];
		if (strcmp(in.kv[i].key, "from") == 0)
			in.kv[i].val = (char *)page_audit_day(r, from, 0);
		else if (strcmp(in.kv[i].key, "to") == 0)
			in.kv[i].val = (char *)page_audit_day(r, to, 1);
		in.kv[i].vallen = strlen(in.kv[i].val);
	}
	page_layout(r, "Audit log", "audit");
	for (i = 0; page_audit_actions[i] != NULL; i++)
		tmpl_set_row(r, "Actions", i, "name", page_audit_actions[i]);
	if (valid_audit_filter(&in, &flt, &limit, &vf) == -1) {
		req_refuse(r);
		tmpl_set(r, arena_printf(&r->arena, "Filter.%s_error",
		    vf.param), strcmp(vf.param, "from") == 0 ||
		    strcmp(vf.param, "to") == 0 ? "Enter a date." : vf.message);
		memset(&flt, 0, sizeof(flt));
		limit = 50;
	} else if (http_kv_get(&r->args, "limit") == NULL)
		limit = 50;
	tmpl_set(r, "Filter.action", http_kv_get(&r->args, "action"));
	tmpl_set(r, "Filter.actor", http_kv_get(&r->args, "actor"));
	tmpl_set(r, "Filter.from", from);
	tmpl_set(r, "Filter.to", to);
	if (page_audit_data(r, &flt, limit, &more, &last) == -1)
		return;
	if (more && last != NULL) {
		buf_init(&q, 4096);
		http_query_pair(&q, "action", flt.action);
		http_query_pair(&q, "actor", flt.actor);
		http_query_pair(&q, "from", from);
		http_query_pair(&q, "to", to);
		http_query_pair(&q, "starting_after", last);
		tmpl_set(r, "Page.next", "1");
		tmpl_set(r, "Page.next_query", q.p);
		buf_free(&q);
	}
	tmpl_render(r, r->refused ? 400 : 200, "audit.cs");
}
