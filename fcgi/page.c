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
};

static const struct page_nav	page_navs[] = {
	{ "dashboard", "/dashboard", "Dashboard", ROLE_MEMBER },
	{ "usage", "/usage", "Usage", ROLE_MEMBER },
	{ "agents", "/agents", "Agents", ROLE_MEMBER },
	{ "channels", "/channels", "Channels", ROLE_MEMBER },
	{ "keys", "/keys", "Keys", ROLE_MEMBER },
	{ "billing", "/billing", "Billing", ROLE_MEMBER },
	{ "team", "/team", "Team", ROLE_MEMBER },
	{ "notifications", "/settings/notifications", "Notifications",
	    ROLE_MEMBER },
	{ "audit", "/audit", "Audit", ROLE_ADMIN },
};

struct page_flash_msg {
	const char	*code;
	const char	*text;
	int		 error;
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
	{ "verified", "Your e-mail address is verified.", 0 },
	{ "verify_sent", "A new confirmation link is on its way to your "
	    "address.", 0 },
	{ "already_verified", "Your e-mail address is already verified.", 0 },
	{ "verify_limited", "A new link was sent several times in the last "
	    "hour: use the latest one, or try again later.", 1 },
	{ "last_owner", "The organization needs at least one owner: make "
	    "someone else owner first.", 1 },
	{ "not_allowed", "Your role does not allow that.", 1 },
	{ "not_found", "That no longer exists.", 1 },
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

/* Show and clear the notice left by the previous request. */
void
page_flash_take(struct req *r)
{
	const char	*code = http_kv_get(&r->cookies, PAGE_FLASH_COOKIE);
	size_t		 i;

	if (code == NULL || *code == '\0')
		return;
	for (i = 0; i < sizeof(page_flashes) / sizeof(page_flashes[0]); i++)
		if (strcmp(code, page_flashes[i].code) == 0) {
			tmpl_set(r, page_flashes[i].error ? "Flash.error" :
			    "Flash.notice", page_flashes[i].text);
			break;
		}
	auth_set_cookie(r, PAGE_FLASH_COOKIE, "", -1);
}

/*
 * The layout's data.  For signed-in pages it reads the tenant (in the
 * request's tenant transaction) for the header, and whether the user
 * still has to confirm their address (the dashboard says so).
 */
void
page_layout(struct req *r, const char *title, const char *nav)
{
	const struct tenant	*t;
	const char		*email;
	char			 text[64];
	size_t			 i, n = 0;
	int			 members = 0, pending = 0, verified = 1;

	tmpl_set(r, "Page.title", title);
	tmpl_set(r, "Page.nav", nav);
	tmpl_set(r, "Page.csrf", r->auth.csrf);
	tmpl_set(r, "Page.version", TOLLGATE_VERSION);
	page_flash_take(r);
	if (r->auth.kind != PRINCIPAL_SESSION || !r->in_tx ||
	    auth_tenant(r, &t) != DB_OK)
		return;
	tmpl_set(r, "User.email", r->auth.actor);
	tmpl_set(r, "User.role", auth_role_name(r->auth.role));
	if (db_verify_user(r, r->auth.user_id, &email, &verified) == DB_OK &&
	    !verified)
		tmpl_set(r, "User.unverified", "1");
	tmpl_set(r, "Tenant.name", t->name);
	tmpl_set(r, "Tenant.plan", t->plan);
	tmpl_set(r, "Tenant.plan_name", t->plan_name);
	tmpl_set(r, "Tenant.status", t->status);
	if (db_tenant_seats(r, &members, &pending) == DB_OK) {
		tmpl_set_int(r, "Tenant.members", members);
		fmt_plural(text, sizeof(text), members, "member", "members");
		tmpl_set(r, "Tenant.members_text", text);
	}
	fmt_status(text, sizeof(text), t->status);
	tmpl_set(r, "Tenant.status_label", text);
	fmt_date(text, sizeof(text), fmt_parse_ts(t->created_at));
	tmpl_set(r, "Tenant.created_date", text);
	if (t->seat_limit >= 0)
		tmpl_set_int(r, "Tenant.seat_limit", t->seat_limit);
	tmpl_set(r, "Tenant.created_at", t->created_at);
	for (i = 0; i < sizeof(page_navs) / sizeof(page_navs[0]); i++) {
		if (r->auth.role < page_navs[i].role)
			continue;
		tmpl_set_row(r, "Nav", n, "id", page_navs[i].id);
		tmpl_set_row(r, "Nav", n, "href", page_navs[i].href);
		tmpl_set_row(r, "Nav", n, "label", page_navs[i].label);
		n++;
	}
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

/* A page of a later milestone: it says so, it does not pretend. */
void
page_soon(struct req *r)
{
	const char	*title = "Coming later", *nav = "";
	size_t		 i;

	for (i = 0; i < sizeof(page_navs) / sizeof(page_navs[0]); i++)
		if (strcmp(r->path, page_navs[i].href) == 0) {
			title = page_navs[i].label;
			nav = page_navs[i].id;
		}
	if (strcmp(r->path, "/pricing") == 0)
		title = "Pricing";
	page_layout(r, title, nav);
	tmpl_render(r, 200, "soon.cs");
}
