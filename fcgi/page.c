/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * What every portal page shares: the layout data (who, which tenant,
 * the navigation), flash notices carried across a redirect, and the
 * form-failure helper.  Flash notices travel as a short code in a
 * cookie, never as text: a crafted cookie cannot put words on a page.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "tollgate.h"

#define PAGE_FLASH_COOKIE	"tg_flash"
#define PAGE_KEEP_MAX		1024	/* bytes of a value shown again */

struct page_nav {
	const char	*id;
	const char	*href;
	const char	*label;
	enum role	 role;
	int		 soon;	/* not built yet: grouped apart */
};

static const struct page_nav	page_navs[] = {
	{ "dashboard", "/dashboard", "Dashboard", ROLE_MEMBER, 0 },
	{ "keys", "/keys", "Keys", ROLE_MEMBER, 0 },
	{ "team", "/team", "Team", ROLE_MEMBER, 0 },
	{ "audit", "/audit", "Audit", ROLE_ADMIN, 0 },
	{ "usage", "/usage", "Usage", ROLE_MEMBER, 0 },
	{ "agents", "/agents", "Agents", ROLE_MEMBER, 0 },
	{ "channels", "/channels", "Channels", ROLE_MEMBER, 0 },
	{ "billing", "/billing", "Billing", ROLE_MEMBER, 0 },
	{ "notifications", "/settings/notifications", "Notifications",
	    ROLE_MEMBER, 0 },
};

/*
 * What a notice names: nothing, an API key, an invitation, an agent, or
 * a day (Unix seconds, shown through the formatting layer).
 */
enum page_subject {
	PAGE_SUBJECT_NONE,
	PAGE_SUBJECT_KEY,
	PAGE_SUBJECT_INVITATION,
	PAGE_SUBJECT_AGENT,
	PAGE_SUBJECT_CHANNEL,
	PAGE_SUBJECT_DAY
};

struct page_flash_msg {
	const char	*code;
	const char	*text;
	int		 error;
};

/* A notice naming what was just made: before, the name, after. */
struct page_flash_about {
	const char		*code;
	const char		*before;
	const char		*after;
	enum page_subject	 subject;
	const char		*secret;	/* where a revealed secret goes */
};

static const struct page_flash_about	page_abouts[] = {
	{ "key_created", "Key \xe2\x80\x9c", "\xe2\x80\x9d created.",
	    PAGE_SUBJECT_KEY, "Key.secret" },
	{ "invited_mailed", "Invitation e-mailed to ", ".",
	    PAGE_SUBJECT_INVITATION, "Invite.link" },
	{ "invited", "Invitation created for ", ": send them the link below.",
	    PAGE_SUBJECT_INVITATION, "Invite.link" },
	{ "cancel_scheduled", "Your subscription ends on ", ".",
	    PAGE_SUBJECT_DAY, NULL },
	{ "agent_created", "Agent \xe2\x80\x9c", "\xe2\x80\x9d added.",
	    PAGE_SUBJECT_AGENT, NULL },
	{ "agent_budget", "The budget of \xe2\x80\x9c", "\xe2\x80\x9d was "
	    "saved.", PAGE_SUBJECT_AGENT, NULL },
	{ "agent_deactivated", "Agent \xe2\x80\x9c", "\xe2\x80\x9d was "
	    "deactivated: its usage is refused from now on.",
	    PAGE_SUBJECT_AGENT, NULL },
	{ "agent_reactivated", "Agent \xe2\x80\x9c", "\xe2\x80\x9d is "
	    "active again.", PAGE_SUBJECT_AGENT, NULL },
	{ "channel_connected", "Connected: ", ".", PAGE_SUBJECT_CHANNEL,
	    NULL },
	{ "channel_updated", "Connected again, with a new token: ", ".",
	    PAGE_SUBJECT_CHANNEL, NULL },
	{ "channel_test_sent", "Test message delivered to ", ".",
	    PAGE_SUBJECT_CHANNEL, NULL },
	{ "channel_test_refused", "The provider refused the test message to ",
	    ": see its status below.", PAGE_SUBJECT_CHANNEL, NULL },
};

static const struct page_flash_msg	page_flashes[] = {
	{ "welcome", "Welcome to Tollgate. Your organization is ready.", 0 },
	{ "signed_in", "You are signed in.", 0 },
	{ "signed_out", "You are signed out.", 0 },
	{ "joined", "You joined the organization.", 0 },
	{ "role_changed", "The role was changed.", 0 },
	{ "member_removed", "The member was removed.", 0 },
	{ "left", "You left the organization.", 0 },
	{ "invitation_revoked", "The invitation was revoked.", 0 },
	{ "key_revoked", "The API key was revoked.", 0 },
	{ "cancel_requested", "Your subscription ends at the end of the "
	    "billing period.", 0 },
	{ "plan_change_requested", "The plan change was sent to Stripe: this "
	    "page shows it as soon as Stripe confirms it.", 0 },
	{ "verified", "Your e-mail address is verified.", 0 },
	{ "password_reset", "Your password was changed; sign in with the new "
	    "one.", 0 },
	{ "verify_sent", "A new confirmation link is on its way to your "
	    "address.", 0 },
	{ "already_verified", "Your e-mail address is already verified.", 0 },
	{ "verify_limited", "A new link was sent several times in the last "
	    "hour: use the latest one, or try again later.", 1 },
	{ "last_owner", "The organization needs at least one owner: make "
	    "someone else owner first.", 1 },
	{ "not_allowed", "Your role does not allow that.", 1 },
	{ "not_found", "That no longer exists.", 1 },
	{ "agents_full", "Your plan allows no more active agents: deactivate "
	    "one first, or upgrade the plan on the Billing page.", 1 },
	{ "channel_disconnected", "The channel was disconnected.", 0 },
	{ "backup_deleted", "The backup version was deleted.", 0 },
	{ "notify_saved", "The notification settings were saved.", 0 },
	{ "notify_test_queued", "A test notification is on its way: it shows "
	    "in the delivery log below once sent.", 0 },
	{ "channels_full", "Your plan allows no more channels: disconnect one "
	    "first, or upgrade the plan on the Billing page.", 1 },
	{ "llm_key_added", "The LLM provider key was stored, encrypted.", 0 },
	{ "llm_key_deleted", "The LLM provider key was deleted.", 0 },
	{ "llm_price_set", "The model's price was saved: calls and usage "
	    "of it are priced at it from now on.", 0 },
	{ "llm_price_deleted", "The model's price was deleted.", 0 },
	{ "llm_keys_full", "Your plan allows no more LLM providers: delete a "
	    "key first, or upgrade the plan on the Billing page.", 1 },
	{ "upstream_error", "The provider could not be reached: nothing was "
	    "changed. Try again in a moment.", 1 },
};

/* A submitted form value, "" when absent. */
const char *
page_form(struct req *r, const char *name)
{
	const char	*v = http_kv_get(&r->form, name);

	return v != NULL ? v : "";
}

/*
 * Validate a form (or the pairs of "in") against the operation's table:
 * every failure is shown beside its field (Form.<field>.error) and
 * refuses the request.  Returns the number of failures.
 */
size_t
page_input(struct req *r, enum vop op, const struct kvlist *in,
    struct vvalue *v)
{
	struct vfail	 f[VOP_FIELDS_MAX];
	size_t		 n, i;

	n = valid_form(in != NULL ? in : &r->form, op, v, f, VOP_FIELDS_MAX);
	for (i = 0; i < n && i < VOP_FIELDS_MAX; i++)
		tmpl_set(r, arena_printf(&r->arena, "Form.%s.error",
		    f[i].param), f[i].message);
	if (n > 0)
		req_refuse(r);
	return n;
}

/*
 * Show a submitted value again in its field after a refusal (never call
 * this for a secret).  Its limits are the validation table's business;
 * here only an absurd length is not echoed back.
 */
void
page_keep(struct req *r, const char *name)
{
	const char	*v = page_form(r, name);

	tmpl_set(r, arena_printf(&r->arena, "Form.%s.value", name),
	    strlen(v) <= PAGE_KEEP_MAX ? v : "");
}

/*
 * A time cell of a table row, through the formatting layer:
 * <table>.<i>.<field>.date ("2 Dec 2026, 06:45 UTC"), .ago ("3 min
 * ago") and .iso (the RFC 3339 value, for <time datetime>).  Nothing is
 * set for an absent time: the template says what that means ("Never").
 */
void
page_row_time(struct req *r, const char *table, size_t i, const char *field,
    const char *ts)
{
	char		 b[64];
	long long	 t = fmt_parse_ts(ts);

	if (t < 0)
		return;
	tmpl_set_row(r, table, i, arena_printf(&r->arena, "%s.iso", field),
	    ts);
	fmt_date(b, sizeof(b), t);
	tmpl_set_row(r, table, i, arena_printf(&r->arena, "%s.date", field),
	    b);
	fmt_ago(b, sizeof(b), t, (long long)time(NULL));
	tmpl_set_row(r, table, i, arena_printf(&r->arena, "%s.ago", field), b);
}

/* A status or role word of a row as a label ("past_due": "Past due"). */
void
page_row_label(struct req *r, const char *table, size_t i, const char *field,
    const char *word)
{
	char	 b[64];

	fmt_status(b, sizeof(b), word);
	tmpl_set_row(r, table, i, arena_printf(&r->arena, "%s_label", field),
	    b);
}

/*
 * Audit details (a JSON object of strings and numbers) as "key: value"
 * pairs separated by " · "; the raw text if it is anything else.
 */
const char *
page_details_text(struct req *r, const char *json)
{
	struct json_object	*o;
	struct buf		 b;
	const char		*out;

	if (json == NULL || (o = json_tokener_parse(json)) == NULL)
		return json != NULL ? json : "";
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return json;
	}
	buf_init(&b, 4096);
	json_object_object_foreach(o, k, v) {
		buf_printf(&b, "%s%s: %s", b.len > 0 ? " \xc2\xb7 " : "", k,
		    json_object_is_type(v, json_type_string) ?
		    json_object_get_string(v) : json_object_to_json_string(v));
	}
	out = arena_strdup(&r->arena, b.p != NULL && !b.toobig ? b.p : "");
	buf_free(&b);
	json_object_put(o);
	return out;
}

/*
 * The form's pairs and the link's token, which comes in the path
 * (/invite/{token}, /verify/{token}, /reset/{token}): the operation's
 * table then checks the token with the rest.
 */
const struct kvlist *
page_form_token(struct req *r)
{
	struct kvlist	*in;

	in = arena_calloc(&r->arena, 1, sizeof(*in));
	in->n = r->form.n + 1;
	in->kv = arena_calloc(&r->arena, in->n, sizeof(*in->kv));
	if (r->form.n > 0)
		memcpy(in->kv, r->form.kv, r->form.n * sizeof(*in->kv));
	in->kv[r->form.n].key = "token";
	in->kv[r->form.n].val = (char *)r->path_params[0];
	in->kv[r->form.n].vallen = strlen(r->path_params[0]);
	return in;
}

/*
 * A page behind a link sent by e-mail (verify.cs, reset.cs): public
 * whoever is signed in, since the link's account may not be theirs.
 * With an address the link is good: <prefix>.valid, .email and .token
 * are set; without, the page says the link is not valid.
 */
void
page_token_show(struct req *r, const char *title, const char *prefix,
    const char *email, const char *tmpl, int status)
{
	if (r->auth.kind == PRINCIPAL_SESSION)
		r->auth.kind = PRINCIPAL_NONE;
	r->tenant = NULL;
	page_layout(r, title, "");
	if (email != NULL) {
		tmpl_set(r, arena_printf(&r->arena, "%s.valid", prefix), "1");
		tmpl_set(r, arena_printf(&r->arena, "%s.email", prefix), email);
		tmpl_set(r, arena_printf(&r->arena, "%s.token", prefix),
		    r->path_params[0]);
	}
	tmpl_render(r, status, tmpl);
}

/* Did this destructive form come from its confirmation page? */
int
page_confirmed(struct req *r)
{
	return strcmp(page_form(r, "confirm"), "yes") == 0;
}

/*
 * The second step of a destructive action, without JavaScript: a page
 * that says what will happen and posts the same form again with
 * confirm=yes, or goes back.  Nothing is written by the first step.
 */
void
page_confirm(struct req *r, const char *nav, const char *title,
    const char *question, const char *action, const char *field,
    const char *value, const char *button, const char *cancel)
{
	page_layout(r, title, nav);
	tmpl_set(r, "Confirm.question", question);
	tmpl_set(r, "Confirm.action", action);
	tmpl_set(r, "Confirm.field", field);
	tmpl_set(r, "Confirm.value", value);
	tmpl_set(r, "Confirm.button", button);
	tmpl_set(r, "Confirm.cancel", cancel);
	tmpl_render(r, 200, "confirm.cs");
}

/* Remember a notice for the next page (after a redirect). */
void
page_flash(struct req *r, const char *code)
{
	auth_set_cookie(r, PAGE_FLASH_COOKIE, code, 60);
}

/*
 * A notice about something just made, for the page the redirect leads
 * to: the cookie carries the code and ids only ("code.id.reveal"), the
 * page looks the name up in its tenant and takes the secret, if any,
 * from the reveal store.  Words never come from the cookie.
 */
void
page_flash_about(struct req *r, const char *code, const char *id,
    const char *reveal)
{
	page_flash(r, arena_printf(&r->arena, "%s.%s.%s", code, id,
	    reveal != NULL ? reveal : "-"));
}

/* The key that seals what this session of this tenant may see once. */
static void
page_reveal_key(const struct req *r, unsigned char out[32])
{
	char	 label[160];
	int	 n;

	n = snprintf(label, sizeof(label), "tollgate reveal v1\n%s\n%s",
	    r->auth.tenant_id, r->auth.session_id);
	crypto_hmac_sha256(conf.jwt_secret, strlen(conf.jwt_secret), label,
	    (size_t)n, out);
}

/*
 * Keep a secret to show once on the page after the redirect; its id, or
 * NULL when it cannot be kept (the caller then shows it no other way).
 */
const char *
page_reveal_put(struct req *r, const char *secret)
{
	unsigned char	 key[32], *sealed;
	const char	*id = NULL;
	long		 n;

	if (r->auth.kind != PRINCIPAL_SESSION)
		return NULL;
	page_reveal_key(r, key);
	sealed = arena_alloc(&r->arena, strlen(secret) + CRYPTO_SEAL_OVERHEAD);
	n = crypto_seal(key, secret, strlen(secret), sealed);
	explicit_bzero(key, sizeof(key));
	if (n < 0 || db_reveal_put(r, r->auth.session_id, sealed, (size_t)n,
	    &id) != DB_OK)
		return NULL;
	return id;
}

/* The secret kept under id for this session, once; NULL if gone. */
static const char *
page_reveal_take(struct req *r, const char *id)
{
	unsigned char	 key[32], *sealed;
	char		*plain;
	size_t		 len;
	long		 n;

	if (!valid_uuid(id) || db_reveal_take(r, id, r->auth.session_id,
	    &sealed, &len) != DB_OK)
		return NULL;
	page_reveal_key(r, key);
	plain = arena_alloc(&r->arena, len + 1);
	n = crypto_open(key, sealed, len, (unsigned char *)plain);
	explicit_bzero(key, sizeof(key));
	if (n < 0)
		return NULL;
	plain[n] = '\0';
	return plain;
}

/*
 * The name a notice gives its subject, looked up in the tenant; a day
 * is only formatted (a crafted cookie can show no more than a date).
 */
static const char *
page_flash_subject(struct req *r, enum page_subject s, const char *id)
{
	struct invitation	 inv;
	struct apikey		 k;
	struct channel		 c;
	struct agent		 a;
	long long		 t;
	char			 day[40];

	if (s == PAGE_SUBJECT_DAY) {
		if (util_strtonum(id, 1, 253402300799LL, &t) == -1)
			return NULL;
		fmt_day(day, sizeof(day), t);
		return arena_strdup(&r->arena, day);
	}
	if (!valid_uuid(id) || r->auth.kind != PRINCIPAL_SESSION || !r->in_tx)
		return NULL;
	if (s == PAGE_SUBJECT_KEY && db_apikey_get(r, id, &k) == DB_OK)
		return k.name;
	if (s == PAGE_SUBJECT_INVITATION &&
	    db_invitation_get(r, id, 0, &inv) == DB_OK)
		return inv.email;
	if (s == PAGE_SUBJECT_AGENT && db_agent_get(r, id, &a) == DB_OK)
		return a.name;
	if (s == PAGE_SUBJECT_CHANNEL && db_channel_get(r, id, &c) == DB_OK)
		return c.target != NULL ? arena_printf(&r->arena, "%s %s",
		    c.name, c.target) : c.name;
	return NULL;
}

/* Show and clear the notice left by the previous request. */
void
page_flash_take(struct req *r)
{
	const struct page_flash_about	*a;
	const char	*cookie = http_kv_get(&r->cookies, PAGE_FLASH_COOKIE);
	const char	*name, *secret;
	char		 code[32], id[40], reveal[40];
	size_t		 i;

	if (cookie == NULL || *cookie == '\0')
		return;
	auth_set_cookie(r, PAGE_FLASH_COOKIE, "", -1);
	id[0] = reveal[0] = '\0';
	if (sscanf(cookie, "%31[a-z_].%39[0-9a-f-].%39[0-9a-f-]", code, id,
	    reveal) < 1)
		return;
	for (i = 0; i < sizeof(page_flashes) / sizeof(page_flashes[0]); i++)
		if (strcmp(code, page_flashes[i].code) == 0) {
			tmpl_set(r, page_flashes[i].error ? "Flash.error" :
			    "Flash.notice", page_flashes[i].text);
			return;
		}
	for (i = 0; i < sizeof(page_abouts) / sizeof(page_abouts[0]); i++)
		if (strcmp(code, page_abouts[i].code) == 0)
			break;
	if (i == sizeof(page_abouts) / sizeof(page_abouts[0]))
		return;
	a = &page_abouts[i];
	if ((name = page_flash_subject(r, a->subject, id)) == NULL)
		return;
	tmpl_set(r, "Flash.notice", arena_printf(&r->arena, "%s%s%s",
	    a->before, name, a->after));
	if (a->secret != NULL && reveal[0] != '\0' &&
	    (secret = page_reveal_take(r, reveal)) != NULL) {
		tmpl_set(r, a->secret, secret);
		tmpl_set(r, "Reveal.about", name);
	}
}

/*
 * The shell's data from what the request already holds, never from the
 * database: title, navigation entry, the static files' versions and,
 * for a signed-in user whose tenant is loaded, who, which organization
 * and the navigation (items not built yet flagged "soon").
 */
static void
page_shell(struct req *r, const char *title, const char *nav)
{
	const struct tenant	*t = r->tenant;
	char			 text[64];
	size_t			 i, n = 0;

	tmpl_set(r, "Page.title", title);
	tmpl_set(r, "Page.nav", nav);
	tmpl_set(r, "Page.csrf", r->auth.csrf);
	tmpl_set(r, "Page.version", TOLLGATE_VERSION);
	tmpl_set(r, "Page.css_version", tmpl_static_version("tollgate.css"));
	tmpl_set(r, "Page.icon_version", tmpl_static_version("favicon.svg"));
	if (r->auth.kind != PRINCIPAL_SESSION || t == NULL)
		return;
	tmpl_set(r, "User.email", r->auth.actor);
	tmpl_set(r, "User.role", auth_role_name(r->auth.role));
	fmt_status(text, sizeof(text), auth_role_name(r->auth.role));
	tmpl_set(r, "User.role_label", text);
	tmpl_set(r, "Tenant.name", t->name);
	tmpl_set(r, "Tenant.plan", t->plan);
	tmpl_set(r, "Tenant.plan_name", t->plan_name);
	tmpl_set(r, "Tenant.status", t->status);
	fmt_status(text, sizeof(text), t->status);
	tmpl_set(r, "Tenant.status_label", text);
	for (i = 0; i < sizeof(page_navs) / sizeof(page_navs[0]); i++) {
		if (r->auth.role < page_navs[i].role)
			continue;
		tmpl_set_row(r, "Nav", n, "id", page_navs[i].id);
		tmpl_set_row(r, "Nav", n, "href", page_navs[i].href);
		tmpl_set_row(r, "Nav", n, "label", page_navs[i].label);
		if (page_navs[i].soon) {
			tmpl_set_row(r, "Nav", n, "soon", "1");
			tmpl_set(r, "Page.any_soon", "1");
			if (nav != NULL && strcmp(nav, page_navs[i].id) == 0)
				tmpl_set(r, "Page.nav_soon", "1");
		}
		n++;
	}
}

/*
 * The layout's data.  For signed-in pages it reads the tenant (in the
 * request's tenant transaction) for the header, and whether the user
 * still has to confirm their address (the dashboard says so).
 */
void
page_layout(struct req *r, const char *title, const char *nav)
{
	page_layout_seats(r, title, nav, NULL);
}

/*
 * The same with the seats already read (db_tenant_seats_call() in the
 * page's own round trip); NULL: read them here.
 */
void
page_layout_seats(struct req *r, const char *title, const char *nav,
    const struct pg_result *seats)
{
	const struct tenant	*t = NULL;
	char			 text[64];
	int			 members = 0, pending = 0;

	page_flash_take(r);
	if (r->auth.kind == PRINCIPAL_SESSION && r->in_tx &&
	    auth_tenant(r, &t) != DB_OK)
		t = NULL;
	page_shell(r, title, nav);
	if (t == NULL)
		return;
	/* Known from binding the session: no query of its own. */
	if (!r->auth.verified)
		tmpl_set(r, "User.unverified", "1");
	if (seats != NULL ? db_tenant_seats_fill(seats, &members,
	    &pending) == 0 : db_tenant_seats(r, &members, &pending) == DB_OK) {
		tmpl_set_int(r, "Tenant.members", members);
		fmt_plural(text, sizeof(text), members, "member", "members");
		tmpl_set(r, "Tenant.members_text", text);
	}
	fmt_date(text, sizeof(text), fmt_parse_ts(t->created_at));
	tmpl_set(r, "Tenant.created_date", text);
	if (t->seat_limit >= 0)
		tmpl_set_int(r, "Tenant.seat_limit", t->seat_limit);
}

/* A heading for an error page that says what happened in words. */
static const char *
page_error_heading(int status)
{
	switch (status) {
	case 400:
		return "Something in the request was not right";
	case 401:
		return "Please sign in";
	case 403:
		return "Not allowed";
	case 404:
		return "Page not found";
	case 405:
		return "Not available this way";
	case 413:
		return "Too large";
	case 429:
		return "Too many requests";
	case 503:
		return "Temporarily unavailable";
	default:
		return "Something went wrong";
	}
}

/*
 * A portal page that ended in req_error(), shown in the shell: the
 * pipeline calls this once the transaction is over, so only what the
 * request holds is used (the navigation when it was bound to a tenant),
 * never the database.  If the template fails the bare page stays.
 */
void
page_error(struct req *r)
{
	tmpl_reset(r);
	page_shell(r, http_status_text(r->status), "");
	tmpl_set_int(r, "Error.status", r->status);
	tmpl_set(r, "Error.heading", page_error_heading(r->status));
	tmpl_set(r, "Error.message", r->error_message);
	tmpl_set(r, "Error.request_id", r->id);
	if (tmpl_rerender(r, "error.cs") == 0)
		r->error_page = 0;
}

/*
 * A form failed: the message goes beside its field (Form.<param>.error)
 * or above the form.  Database trouble is an error page.
 */
void
page_fail(struct req *r, const struct fail *f, const char *fallback_field)
{
	char	 name[128];

	req_refuse(r);
	if (f->db != 0) {
		req_error_from_db(r, f->db);
		return;
	}
	if (f->param != NULL) {
		snprintf(name, sizeof(name), "Form.%s.error", f->param);
		tmpl_set(r, name, f->message);
	} else if (fallback_field != NULL) {
		snprintf(name, sizeof(name), "Form.%s.error", fallback_field);
		tmpl_set(r, name, f->message);
	} else
		tmpl_set(r, "Form.error", f->message);
}

/* / : the dashboard for the signed in, the sign-in page otherwise. */
void
page_root(struct req *r)
{
	req_redirect(r, r->auth.kind == PRINCIPAL_SESSION ? "/dashboard" :
	    "/login");
}
