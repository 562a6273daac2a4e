/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /agents: the tenant's agents with their budgets and what each cost
 * this period, for every member; admins add agents, set a budget, and
 * deactivate (after a confirmation page) or reactivate them.  The
 * changes are agent.c's, the same as the API's.  Every POST ends in a
 * redirect with a notice, except a form refused for its values, shown
 * again with the errors beside the fields and the values entered: the
 * create form, or the row whose budget was being edited.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

#define PAGE_AGENTS_MAX		100	/* listed; the API has all */
#define PAGE_AGENT_FAILS	4	/* field errors shown at once */

/*
 * Why an agent is off, in words that follow "Deactivated"; anything
 * else through fmt_status().
 */
static const char *const	page_agent_reasons[][2] = {
	{ "manual", "by an admin" },
	{ "deleted", "by deletion through the API" },
	{ "subscription_canceled", "when the subscription ended" },
	{ "payment_overdue", "while a payment is overdue" },
};

static const char *
page_agent_reason(struct req *r, const char *reason)
{
	char	 b[64];
	size_t	 i;

	for (i = 0; i < sizeof(page_agent_reasons) /
	    sizeof(page_agent_reasons[0]); i++)
		if (reason != NULL &&
		    strcmp(reason, page_agent_reasons[i][0]) == 0)
			return page_agent_reasons[i][1];
	fmt_status(b, sizeof(b), reason);
	return arena_strdup(&r->arena, b);
}

/* The budget cells of a row: amount, action, status and share used. */
static void
page_agent_budget(struct req *r, size_t i, const struct agent *a)
{
	enum budget_status	 s;
	char			 b[64];

	s = quota_budget_status(a->budget_micros, a->spend_micros);
	tmpl_set_row(r, "Agents", i, "status", quota_budget_name(s));
	tmpl_set_row(r, "Agents", i, "status_label", quota_budget_label(s));
	tmpl_set_row(r, "Agents", i, "action", a->budget_action);
	tmpl_set_row(r, "Agents", i, "action_label", strcmp(a->budget_action,
	    "alert") == 0 ? "alerts only" : "blocks usage");
	if (s == BUDGET_NONE)
		return;
	fmt_usd_micros(b, sizeof(b), a->budget_micros);
	tmpl_set_row(r, "Agents", i, "budget", b);
	quota_micros_to_usd(a->budget_micros, b, sizeof(b));
	tmpl_set_row(r, "Agents", i, "budget_usd", b);
	if (a->budget_micros > 0) {
		fmt_percent(b, sizeof(b), a->spend_micros, a->budget_micros);
		tmpl_set_row(r, "Agents", i, "percent", b);
	}
}

/*
 * One row, Agents.<i>.*.  The row being edited (edit_id) shows the
 * values entered and why they were refused.
 */
static void
page_agent_row(struct req *r, size_t i, const struct agent *a,
    const char *edit_id, const char *edit_error)
{
	char	 b[64];

	tmpl_set_row(r, "Agents", i, "id", a->agent_id);
	tmpl_set_row(r, "Agents", i, "name", a->name);
	if (a->active)
		tmpl_set_row(r, "Agents", i, "active", "1");
	else
		tmpl_set_row(r, "Agents", i, "reason", page_agent_reason(r,
		    a->deactivated_reason));
	page_agent_budget(r, i, a);
	fmt_usd_micros(b, sizeof(b), a->spend_micros);
	tmpl_set_row(r, "Agents", i, "spend", b);
	page_row_time(r, "Agents", i, "created", a->created_at);
	if (edit_id == NULL || strcmp(edit_id, a->agent_id) != 0)
		return;
	tmpl_set_row(r, "Agents", i, "error", edit_error);
	tmpl_set_row(r, "Agents", i, "budget_usd", page_form(r,
	    "budget_limit_usd"));
	tmpl_set_row(r, "Agents", i, "action", page_form(r, "budget_action"));
}

/*
 * A refused field in the portal's words: the API's message names the
 * parameter ("budget_limit_usd must be ..."), a person reads better
 * what to type.
 */
static const char *
page_agent_error(const struct vfail *vf)
{
	if (vf->param != NULL && strcmp(vf->param, "budget_limit_usd") == 0)
		return "Enter an amount of USD such as 25 or 12.50: at most 6 "
		    "decimals, up to 1,000,000,000.";
	return vf->message;
}

/* The quota in words above the table, and whether it is all in use. */
static int
page_agents_room(struct req *r)
{
	struct agent_room	 room;
	char			 n[64];
	enum db_rc		 rc;

	if ((rc = db_agent_quota(r, 0, &room)) != DB_OK ||
	    (rc = db_agent_count(r, &room)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	fmt_plural(n, sizeof(n), room.active, "active agent", "active agents");
	if (room.limit < 0) {
		tmpl_set(r, "Page.agents_text", arena_printf(&r->arena, "%s; "
		    "the %s plan allows any number.", n, room.plan_name));
		return 0;
	}
	tmpl_set(r, "Page.agents_text", arena_printf(&r->arena, "%s; the %s "
	    "plan allows %lld.", n, room.plan_name, room.limit));
	if (room.active >= room.limit)
		tmpl_set(r, "Page.agents_full", "1");
	return 0;
}

static void
page_agents_render(struct req *r, int status, const char *edit_id,
    const char *edit_error)
{
	struct agent	*a;
	size_t		 n, i;
	int		 more;
	enum db_rc	 rc;

	page_layout(r, "Agents", "agents");
	if (r->auth.role >= ROLE_ADMIN)
		tmpl_set(r, "Page.can_manage", "1");
	if (page_agents_room(r) == -1)
		return;
	if ((rc = db_agent_list(r, PAGE_AGENTS_MAX, NULL, &a, &n, &more)) !=
	    DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	for (i = 0; i < n; i++)
		page_agent_row(r, i, &a[i], edit_id, edit_error);
	if (more)
		tmpl_set(r, "Page.agents_more", "1");
	tmpl_render(r, status, "agents.cs");
}

void
page_agents(struct req *r)
{
	tmpl_set(r, "Form.budget_action.value", "block");
	page_agents_render(r, 200, NULL, NULL);
}

/* After a change: its notice, or why it was refused, then /agents. */
static void
page_agents_after(struct req *r, const struct fail *f, const char *done,
    const char *agent_id)
{
	if (f != NULL && f->db != 0) {
		req_error_from_db(r, f->db);
		return;
	}
	if (f != NULL) {
		/* Refused: nothing commits, though the answer is a 303. */
		req_refuse(r);
		page_flash(r, f->status == 409 ? "agents_full" :
		    f->status == 404 ? "not_found" : "not_allowed");
	} else
		page_flash_about(r, done, agent_id, NULL);
	req_redirect(r, "/agents");
}

void
page_agents_create(struct req *r)
{
	struct vfail		 vf[PAGE_AGENT_FAILS];
	struct agent_change	 c;
	struct agent_room	 room;
	struct agent		 a;
	struct fail		 f;
	size_t			 n, i;
	enum db_rc		 rc;

	memset(&f, 0, sizeof(f));
	n = agent_form(&r->form, 1, &c, vf, PAGE_AGENT_FAILS);
	for (i = 0; i < n && i < PAGE_AGENT_FAILS; i++)
		tmpl_set(r, arena_printf(&r->arena, "Form.%s.error",
		    vf[i].param), page_agent_error(&vf[i]));
	if (n > 0)
		f.status = 400;
	else if (agent_create(r, &f, &c, &a, &room) == -1) {
		page_fail(r, &f, NULL);
		if (f.db != 0)
			return;
	}
	if (f.status != 0) {
		/* Refused: nothing stays, the form shows why. */
		if ((rc = db_restart(r)) != DB_OK) {
			req_error_from_db(r, rc);
			return;
		}
		page_keep(r, "name");
		page_keep(r, "budget_limit_usd");
		page_keep(r, "budget_action");
		page_agents_render(r, f.status, NULL, NULL);
		return;
	}
	page_agents_after(r, NULL, "agent_created", a.agent_id);
}

/* A budget set, changed or removed (an empty amount) from its row. */
void
page_agents_budget(struct req *r)
{
	struct vfail		 vf[PAGE_AGENT_FAILS];
	struct agent_change	 c;
	struct agent_room	 room;
	struct agent		 a;
	struct fail		 f;
	const char		*id = page_form(r, "agent_id");
	enum db_rc		 rc;

	if (agent_form(&r->form, 0, &c, vf, PAGE_AGENT_FAILS) > 0) {
		if ((rc = db_restart(r)) != DB_OK) {
			req_error_from_db(r, rc);
			return;
		}
		page_agents_render(r, 400, id, page_agent_error(&vf[0]));
		return;
	}
	if (agent_update(r, &f, id, &c, &a, &room) == -1) {
		page_agents_after(r, &f, NULL, NULL);
		return;
	}
	page_agents_after(r, NULL, "agent_budget", id);
}

void
page_agents_deactivate(struct req *r)
{
	struct agent	 a;
	struct fail	 f;
	const char	*id = page_form(r, "agent_id");

	if (!page_confirmed(r)) {
		if (!valid_uuid(id) || db_agent_get(r, id, &a) != DB_OK ||
		    !a.active) {
			acct_fail(&f, 404, "not_found", "There is no such "
			    "active agent.", NULL);
			page_agents_after(r, &f, NULL, NULL);
			return;
		}
		page_confirm(r, "agents", "Deactivate an agent", arena_printf(
		    &r->arena, "Deactivate \xe2\x80\x9c%s\xe2\x80\x9d? Its "
		    "usage and reservations are refused from then on; its "
		    "history stays, and you can reactivate it later.",
		    a.name), "/agents/deactivate", "agent_id", id,
		    "Deactivate", "/agents");
		return;
	}
	if (agent_deactivate(r, &f, id, "manual") == -1) {
		page_agents_after(r, &f, NULL, NULL);
		return;
	}
	page_agents_after(r, NULL, "agent_deactivated", id);
}

/* Not destructive: no confirmation; the quota may refuse it. */
void
page_agents_reactivate(struct req *r)
{
	struct agent_change	 c;
	struct agent_room	 room;
	struct agent		 a;
	struct fail		 f;
	const char		*id = page_form(r, "agent_id");

	agent_change_init(&c);
	c.active = 1;
	if (agent_update(r, &f, id, &c, &a, &room) == -1) {
		page_agents_after(r, &f, NULL, NULL);
		return;
	}
	page_agents_after(r, NULL, "agent_reactivated", id);
}
