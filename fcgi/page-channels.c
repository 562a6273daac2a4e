/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /channels: the tenant's Slack and WhatsApp connections for every
 * member; admins add Slack ("Add to Slack" posts here and is sent on to
 * Slack's authorize page), connect a WhatsApp number, send a test
 * message and disconnect (after a confirmation page).  Slack sends the
 * browser back to /channels/slack/callback, which connects and returns
 * to /channels with a notice, or answers a 400 page when the state or
 * Slack's answer cannot be used.  The changes are channel.c's, the
 * same as the API's.  A token typed into the WhatsApp form is never
 * shown again, not even when the form is refused.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tollgate.h"

#define PAGE_CHANNEL_AGENTS	100	/* agents offered in the menus */

/* Kind and status in words. */
static const char *
page_channel_kind(const char *kind)
{
	return strcmp(kind, "slack") == 0 ? "Slack" : "WhatsApp";
}

static void
page_channel_row(struct req *r, size_t i, const struct channel *c,
    const struct agent *agents, size_t nagents)
{
	const char	*status;
	size_t		 j;

	tmpl_set_row(r, "Channels", i, "id", c->channel_id);
	tmpl_set_row(r, "Channels", i, "kind", c->kind);
	tmpl_set_row(r, "Channels", i, "kind_label", page_channel_kind(
	    c->kind));
	tmpl_set_row(r, "Channels", i, "name", c->name);
	tmpl_set_row(r, "Channels", i, "target", c->target);
	status = vault_usable(c->token) ? c->status : "unusable";
	tmpl_set_row(r, "Channels", i, "status", status);
	tmpl_set_row(r, "Channels", i, "status_label", strcmp(status,
	    "connected") == 0 ? "Connected" : strcmp(status, "failing") == 0 ?
	    "Failing" : "Unusable");
	tmpl_set_row(r, "Channels", i, "detail", strcmp(status, "unusable") ==
	    0 ? "Its stored token cannot be decrypted: disconnect and connect "
	    "it again." : c->status_detail);
	page_row_time(r, "Channels", i, "created", c->created_at);
	page_row_time(r, "Channels", i, "tested", c->last_test_at);
	for (j = 0; c->agent_id != NULL && j < nagents; j++)
		if (strcmp(agents[j].agent_id, c->agent_id) == 0)
			tmpl_set_row(r, "Channels", i, "agent", agents[j].name);
}

/* The quota in words, and whether it is all in use. */
static void
page_channels_room(struct req *r, size_t used, const char *plan,
    long long limit)
{
	char	 n[64];

	fmt_plural(n, sizeof(n), (long long)used, "channel", "channels");
	if (limit < 0)
		tmpl_set(r, "Page.channels_text", arena_printf(&r->arena,
		    "%s connected; the %s plan allows any number.", n, plan));
	else
		tmpl_set(r, "Page.channels_text", arena_printf(&r->arena,
		    "%s connected; the %s plan allows %lld.", n, plan, limit));
	if (limit >= 0 && (long long)used >= limit)
		tmpl_set(r, "Page.channels_full", "1");
}

static void
page_channels_render(struct req *r, int status)
{
	struct channel_room	 room;
	struct channel		*c;
	struct agent		*a;
	size_t			 n, na, i;
	int			 more;
	enum db_rc		 rc;

	page_layout(r, "Channels", "channels");
	if (r->auth.role >= ROLE_ADMIN)
		tmpl_set(r, "Page.can_manage", "1");
	if (channel_slack_configured())
		tmpl_set(r, "Page.slack", "1");
	if ((rc = db_channel_quota(r, &room)) != DB_OK ||
	    (rc = db_channel_list(r, &c, &n)) != DB_OK ||
	    (rc = db_agent_list(r, PAGE_CHANNEL_AGENTS, NULL, &a, &na,
	    &more)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	page_channels_room(r, n, room.plan_name, room.limit);
	for (i = 0; i < n; i++)
		page_channel_row(r, i, &c[i], a, na);
	for (i = 0; i < na; i++)
		if (a[i].active) {
			tmpl_set_row(r, "AgentChoices", i, "id", a[i].agent_id);
			tmpl_set_row(r, "AgentChoices", i, "name", a[i].name);
		}
	tmpl_render(r, status, "channels.cs");
}

void
page_channels(struct req *r)
{
	page_channels_render(r, 200);
}

/*
 * After a change: its notice, or why it was refused, then /channels.
 * A refusal with a message of its own is shown on the page instead.
 */
static void
page_channels_after(struct req *r, const struct fail *f, const char *done,
    const char *channel_id)
{
	enum db_rc	 rc;

	if (f != NULL && f->db != 0) {
		req_error_from_db(r, f->db);
		return;
	}
	if (f == NULL) {
		page_flash_about(r, done, channel_id, NULL);
		req_redirect(r, "/channels");
		return;
	}
	req_refuse(r);
	if (f->status == 404 || f->status == 403) {
		page_flash(r, f->status == 404 ? "not_found" : "not_allowed");
		req_redirect(r, "/channels");
		return;
	}
	if ((rc = db_restart(r)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	tmpl_set(r, "Form.error", f->message);
	page_channels_render(r, f->status);
}

/* POST /channels/slack: on to Slack's authorize page. */
void
page_channels_slack(struct req *r)
{
	struct fail	 f;
	const char	*agent = page_form(r, "agent_id"), *url;

	if (channel_slack_install(r, &f, *agent != '\0' ? agent : NULL,
	    &url) == -1) {
		page_channels_after(r, &f, NULL, NULL);
		return;
	}
	req_redirect_external(r, url);
}

/*
 * GET /channels/slack/callback?code=&state= (or error=): where Slack
 * sends the browser back.  Nothing is stored unless all of it holds.
 */
void
page_channels_callback(struct req *r)
{
	struct channel	 c;
	struct fail	 f;
	int		 created;

	if (channel_slack_callback(r, &f, http_kv_get(&r->args, "code"),
	    http_kv_get(&r->args, "state"), http_kv_get(&r->args, "error"),
	    &c, &created) == -1) {
		if (f.db != 0) {
			req_error_from_db(r, f.db);
			return;
		}
		req_error(r, f.status, NULL, f.code, f.message, f.param);
		return;
	}
	page_channels_after(r, NULL, created ? "channel_connected" :
	    "channel_updated", c.channel_id);
}

/* POST /channels/whatsapp: the form; the token is never shown again. */
void
page_channels_whatsapp(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct channel_room	 room;
	struct channel		 c;
	struct fail		 f;
	char			*token;
	int			 created, rc;
	enum db_rc		 drc;

	token = (char *)(uintptr_t)page_form(r, "access_token");
	if (page_input(r, VOP_WHATSAPP, NULL, v) > 0) {
		OPENSSL_cleanse(token, strlen(token));
		if ((drc = db_restart(r)) != DB_OK) {
			req_error_from_db(r, drc);
			return;
		}
		page_keep(r, "phone_number_id");
		page_keep(r, "display_name");
		page_channels_render(r, 400);
		return;
	}
	rc = channel_whatsapp_connect(r, &f, v[0].s, token, v[2].present ?
	    v[2].s : NULL, v[3].present ? v[3].s : NULL, &c, &created, &room);
	OPENSSL_cleanse(r->body.p, r->body.len);
	if (rc == -1) {
		page_keep(r, "phone_number_id");
		page_keep(r, "display_name");
		page_channels_after(r, &f, NULL, NULL);
		return;
	}
	page_channels_after(r, NULL, created ? "channel_connected" :
	    "channel_updated", c.channel_id);
}

/* POST /channels/test: one message, its outcome as a notice. */
void
page_channels_test(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct channel_test	 t;
	struct channel		 c;
	struct fail		 f;
	const char		*id = page_form(r, "channel_id");

	if (page_input(r, VOP_CHANNEL_TEST, NULL, v) > 0) {
		acct_fail(&f, 400, "invalid_parameter", "Enter the recipient's "
		    "number in international form, such as +15551234567.",
		    "to");
		page_channels_after(r, &f, NULL, NULL);
		return;
	}
	if (channel_test(r, &f, id, v[0].present ? v[0].s : NULL, &c,
	    &t) == -1) {
		page_channels_after(r, &f, NULL, NULL);
		return;
	}
	page_channels_after(r, NULL, t.delivered ? "channel_test_sent" :
	    "channel_test_refused", id);
}

void
page_channels_disconnect(struct req *r)
{
	struct channel	 c;
	struct fail	 f;
	const char	*id = page_form(r, "channel_id");

	if (!page_confirmed(r)) {
		if (!valid_uuid(id) || db_channel_get(r, id, &c) != DB_OK) {
			acct_fail(&f, 404, "not_found", "There is no such "
			    "channel.", NULL);
			page_channels_after(r, &f, NULL, NULL);
			return;
		}
		page_confirm(r, "channels", "Disconnect a channel",
		    arena_printf(&r->arena, "Disconnect %s \xe2\x80\x9c%s\xe2"
		    "\x80\x9d%s%s? Its token is deleted; agents can no longer "
		    "send through it until it is connected again.",
		    page_channel_kind(c.kind), c.name, c.target != NULL ?
		    " " : "", c.target != NULL ? c.target : ""),
		    "/channels/disconnect", "channel_id", id, "Disconnect",
		    "/channels");
		return;
	}
	if (channel_disconnect(r, &f, id) == -1) {
		page_channels_after(r, &f, NULL, NULL);
		return;
	}
	page_flash(r, "channel_disconnected");
	req_redirect(r, "/channels");
}
