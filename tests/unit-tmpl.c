/* Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE). */

/*
 * Escaping of the portal templates (tmpl.c with templates/ *.cs), without
 * a database: every value a template reads is set with tmpl_set() to a
 * hostile string, every page template is rendered with tmpl_render(),
 * and the output is compared byte for byte with tests/golden/<page>.html.
 * With UPDATE_GOLDEN=1 in the environment the golden files are written
 * instead (read them before committing them).
 *
 * Independent of the golden files, each page is also rendered once per
 * hostile value with that value everywhere, and checked: no raw
 * <script>, no raw quote breaking out of an attribute, no javascript:
 * URL in a link, form or source.
 *
 * The templates come from $top_srcdir/templates (top_srcdir defaults to
 * "."), the golden files from $top_srcdir/tests/golden.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "tollgate.h"

static const char *const	hostile[] = {
	"<script>alert(1)</script>",
	"\"onmouseover=\"x",
	"' OR 1=1 --",
	"javascript:alert(1)",
	"line1\r\nline2",
	"&amp;",
};
#define NHOSTILE	(sizeof(hostile) / sizeof(hostile[0]))

/*
 * Every value the templates read (each "var:" and each "if:" in
 * templates/ *.cs).  H marks data: it gets a hostile value.  Flags get
 * "1" so that their blocks render.  The navigation's href is the one
 * exception: page.c fills it from a constant table, and no escaping
 * could make a javascript: URL harmless in href="..." (that would need
 * a URL check, not an escape); its label and id are hostile.
 */
enum kind { H, FLAG, CONST };
struct field {
	const char	*name;
	enum kind	 kind;
	const char	*value;		/* CONST only */
	int		 fixed;		/* H: 1 + the hostile value, or 0 */
};

static const struct field	fields[] = {
	/* header.cs and footer.cs: on every page, so they come first and
	 * between them carry every hostile value onto every page. */
	{ "Page.title", H, NULL, 0 },
	{ "Page.nav", H, NULL, 1 + 1 },
	{ "Page.csrf", H, NULL, 0 },
	{ "Page.version", H, NULL, 0 },
	{ "User.email", H, NULL, 0 },
	{ "User.role", H, NULL, 0 },
	{ "Tenant.name", H, NULL, 0 },
	{ "Tenant.plan", H, NULL, 0 },
	{ "Tenant.plan_name", H, NULL, 0 },
	{ "Tenant.status", H, NULL, 0 },
	{ "Tenant.status_label", H, NULL, 0 },
	{ "Flash.notice", H, NULL, 0 },
	{ "Flash.error", H, NULL, 0 },
	{ "Nav.0.id", H, NULL, 1 + 1 },	/* Page.nav's: active */
	{ "Nav.0.label", H, NULL, 0 },
	{ "Nav.0.href", CONST, "/dashboard", 0 },
	{ "Nav.1.id", H, NULL, 1 + 2 },	/* not active */
	{ "Nav.1.label", H, NULL, 0 },
	{ "Nav.1.href", CONST, "/team", 0 },
	{ "Nav.1.soon", FLAG, NULL, 0 },	/* under "Coming soon" */
	{ "Page.nav_soon", FLAG, NULL, 0 },
	{ "Page.css_version", H, NULL, 0 },
	{ "Page.icon_version", H, NULL, 0 },
	{ "User.role_label", H, NULL, 0 },
	/* soon.cs, error.cs */
	{ "Page.soon_what", H, NULL, 0 },
	{ "Error.status", H, NULL, 0 },
	{ "Error.heading", H, NULL, 0 },
	{ "Error.message", H, NULL, 0 },
	{ "Error.request_id", H, NULL, 0 },
	/* dashboard.cs, team.cs */
	{ "Tenant.members", H, NULL, 0 },
	{ "Tenant.members_text", H, NULL, 0 },
	{ "Tenant.seat_limit", H, NULL, 0 },
	{ "Tenant.created_date", H, NULL, 0 },
	/* macros.cs: the fields of login, register, invite, team, keys */
	{ "Form.error", H, NULL, 0 },
	{ "Form.organization.value", H, NULL, 0 },
	{ "Form.organization.error", H, NULL, 0 },
	{ "Form.name.value", H, NULL, 0 },
	{ "Form.name.error", H, NULL, 0 },
	{ "Form.email.value", H, NULL, 0 },
	{ "Form.email.error", H, NULL, 0 },
	{ "Form.email_taken", FLAG, NULL, 0 },
	{ "Form.password.value", H, NULL, 0 },
	{ "Form.password.error", H, NULL, 0 },
	{ "Form.role.value", H, NULL, 0 },
	{ "Form.role.error", H, NULL, 0 },
	{ "Form.scopes.error", H, NULL, 0 },
	{ "Form.scope.usage_write", FLAG, NULL, 0 },
	{ "Form.scope.usage_read", FLAG, NULL, 0 },
	{ "Form.scope.entitlements_read", FLAG, NULL, 0 },
	{ "Form.scope.billing_read", FLAG, NULL, 0 },
	/* invite.cs, team.cs */
	{ "Invite.valid", FLAG, NULL, 0 },
	{ "Invite.tenant", H, NULL, 0 },
	{ "Invite.role", H, NULL, 0 },
	{ "Invite.email", H, NULL, 0 },
	{ "Invite.token", H, NULL, 0 },
	{ "Invite.link", H, NULL, 0 },
	{ "Reveal.about", H, NULL, 0 },
	/* pricing.cs */
	{ "Plans.0.id", H, NULL, 0 },
	{ "Plans.0.name", H, NULL, 0 },
	{ "Plans.0.price", H, NULL, 0 },
	{ "Plans.0.per", H, NULL, 0 },
	{ "Plans.0.trial", H, NULL, 0 },
	{ "Plans.0.Quotas.0.label", H, NULL, 0 },
	{ "Plans.0.Quotas.0.value", H, NULL, 0 },
	{ "Plans.0.has.sso", FLAG, NULL, 0 },
	{ "Features.0.id", CONST, "sso", 0 },
	{ "Features.0.label", H, NULL, 0 },
	{ "Page.mail", FLAG, NULL, 0 },
	/* dashboard.cs, team.cs */
	{ "Members.0.user_id", H, NULL, 0 },
	{ "Members.0.email", H, NULL, 0 },
	{ "Members.0.name", H, NULL, 0 },
	{ "Members.0.role", H, NULL, 0 },
	{ "Members.0.role_label", H, NULL, 0 },
	{ "Members.0.joined.iso", H, NULL, 0 },
	{ "Members.0.joined.date", H, NULL, 0 },
	{ "Members.0.joined.ago", H, NULL, 0 },
	{ "Members.1.user_id", H, NULL, 0 },
	{ "Members.1.email", H, NULL, 0 },
	{ "Members.1.name", H, NULL, 0 },
	{ "Members.1.role", H, NULL, 0 },
	{ "Members.1.role_label", H, NULL, 0 },
	{ "Members.1.joined.iso", H, NULL, 0 },
	{ "Members.1.joined.date", H, NULL, 0 },
	{ "Members.1.joined.ago", H, NULL, 0 },
	{ "Page.can_manage", FLAG, NULL, 0 },
	{ "Page.sole_owner", H, NULL, 0 },
	{ "User.id", H, NULL, 0 },
	{ "Page.can_audit", FLAG, NULL, 0 },
	{ "Invitations.0.id", H, NULL, 0 },
	{ "Invitations.0.email", H, NULL, 0 },
	{ "Invitations.0.role", H, NULL, 0 },
	{ "Invitations.0.role_label", H, NULL, 0 },
	{ "Invitations.0.expires.iso", H, NULL, 0 },
	{ "Invitations.0.expires.date", H, NULL, 0 },
	{ "Invitations.0.expires.ago", H, NULL, 0 },
	/* keys.cs, dashboard.cs */
	{ "Key.secret", H, NULL, 0 },
	/* keys.cs: an LLM key that cannot be decrypted, the add form. */
	{ "LlmKeys.0.id", H, NULL, 0 },
	{ "LlmKeys.0.provider", H, NULL, 0 },
	{ "LlmKeys.0.label", H, NULL, 0 },
	{ "LlmKeys.0.hint", H, NULL, 0 },
	{ "LlmKeys.0.unusable", FLAG, NULL, 0 },
	{ "LlmKeys.0.created.iso", H, NULL, 0 },
	{ "LlmKeys.0.created.date", H, NULL, 0 },
	{ "LlmKeys.0.created.ago", H, NULL, 0 },
	{ "LlmKeys.0.used.iso", H, NULL, 0 },
	{ "LlmKeys.0.used.date", H, NULL, 0 },
	{ "LlmKeys.0.used.ago", H, NULL, 0 },
	{ "Page.llm_unusable", FLAG, NULL, 0 },
	{ "Page.llm_full", FLAG, NULL, 0 },
	{ "Providers.0.id", H, NULL, 0 },
	{ "Providers.0.label", H, NULL, 0 },
	{ "Form.provider.value", H, NULL, 0 },
	{ "Form.provider.error", H, NULL, 0 },
	{ "Form.api_key.error", H, NULL, 0 },
	/* keys.cs: the organization's own price of a model, its form. */
	{ "Prices.0.id", H, NULL, 0 },
	{ "Prices.0.provider", H, NULL, 0 },
	{ "Prices.0.model", H, NULL, 0 },
	{ "Prices.0.prompt", H, NULL, 0 },
	{ "Prices.0.completion", H, NULL, 0 },
	{ "Prices.0.cached", H, NULL, 0 },
	{ "Prices.0.updated.iso", H, NULL, 0 },
	{ "Prices.0.updated.date", H, NULL, 0 },
	{ "Prices.0.updated.ago", H, NULL, 0 },
	{ "Page.prices_full", FLAG, NULL, 0 },
	{ "Form.price_provider.value", H, NULL, 0 },
	{ "Form.model.value", H, NULL, 0 },
	{ "Form.model.error", H, NULL, 0 },
	{ "Form.prompt_usd.value", H, NULL, 0 },
	{ "Form.prompt_usd.error", H, NULL, 0 },
	/*
	 * channels.cs: Channels.0 a WhatsApp number tested (its form),
	 * Channels.1 a Slack channel failing; the add forms.
	 */
	{ "Page.channels_text", H, NULL, 0 },
	{ "Page.channels_full", FLAG, NULL, 0 },
	{ "Page.slack", FLAG, NULL, 0 },
	{ "Channels.0.id", H, NULL, 0 },
	{ "Channels.0.kind", CONST, "whatsapp", 0 },
	{ "Channels.0.kind_label", H, NULL, 0 },
	{ "Channels.0.name", H, NULL, 0 },
	{ "Channels.0.target", H, NULL, 0 },
	{ "Channels.0.agent", H, NULL, 0 },
	{ "Channels.0.status", H, NULL, 0 },
	{ "Channels.0.status_label", H, NULL, 0 },
	{ "Channels.0.created.iso", H, NULL, 0 },
	{ "Channels.0.created.date", H, NULL, 0 },
	{ "Channels.0.created.ago", H, NULL, 0 },
	{ "Channels.0.tested.iso", H, NULL, 0 },
	{ "Channels.0.tested.date", H, NULL, 0 },
	{ "Channels.0.tested.ago", H, NULL, 0 },
	{ "Channels.1.id", H, NULL, 0 },
	{ "Channels.1.kind", CONST, "slack", 0 },
	{ "Channels.1.kind_label", H, NULL, 0 },
	{ "Channels.1.name", H, NULL, 0 },
	{ "Channels.1.target", H, NULL, 0 },
	{ "Channels.1.status", H, NULL, 0 },
	{ "Channels.1.status_label", H, NULL, 0 },
	{ "Channels.1.detail", H, NULL, 0 },
	{ "Channels.1.created.iso", H, NULL, 0 },
	{ "Channels.1.created.date", H, NULL, 0 },
	{ "Channels.1.created.ago", H, NULL, 0 },
	{ "AgentChoices.0.id", H, NULL, 0 },
	{ "AgentChoices.0.name", H, NULL, 0 },
	{ "Form.phone_number_id.value", H, NULL, 0 },
	{ "Form.phone_number_id.error", H, NULL, 0 },
	{ "Form.access_token.error", H, NULL, 0 },
	{ "Form.display_name.value", H, NULL, 0 },
	{ "Form.agent_id.value", H, NULL, 0 },
	/*
	 * notifications.cs: a stored webhook, a trigger on, a log row
	 * delivered (Log.0) and one debounced (Log.1); the header's
	 * Coming soon group.
	 */
	{ "Page.any_soon", FLAG, NULL, 0 },
	{ "Page.debounce_min", H, NULL, 0 },
	{ "Page.no_smtp", FLAG, NULL, 0 },
	{ "Page.webhook_hint", H, NULL, 0 },
	{ "Form.recipients.value", H, NULL, 0 },
	{ "Form.recipients.error", H, NULL, 0 },
	{ "Form.slack_webhook_url.error", H, NULL, 0 },
	{ "Form.triggers.error", H, NULL, 0 },
	{ "Triggers.0.name", H, NULL, 0 },
	{ "Triggers.0.label", H, NULL, 0 },
	{ "Triggers.0.on", FLAG, NULL, 0 },
	{ "Log.0.id", H, NULL, 0 },
	{ "Log.0.what", H, NULL, 0 },
	{ "Log.0.subject", H, NULL, 0 },
	{ "Log.0.status", CONST, "queued", 0 },
	{ "Log.0.at.iso", H, NULL, 0 },
	{ "Log.0.at.date", H, NULL, 0 },
	{ "Log.0.at.ago", H, NULL, 0 },
	{ "Log.0.d.0.text", H, NULL, 0 },
	{ "Log.0.d.0.status", H, NULL, 0 },
	{ "Log.1.id", H, NULL, 0 },
	{ "Log.1.what", H, NULL, 0 },
	{ "Log.1.status", CONST, "debounced", 0 },
	{ "Log.1.at.iso", H, NULL, 0 },
	{ "Log.1.at.date", H, NULL, 0 },
	{ "Log.1.at.ago", H, NULL, 0 },
	{ "Keys.0.id", H, NULL, 0 },
	{ "Keys.0.name", H, NULL, 0 },
	{ "Keys.0.prefix", H, NULL, 0 },
	{ "Keys.0.scopes", H, NULL, 0 },
	{ "Keys.0.created.iso", H, NULL, 0 },
	{ "Keys.0.created.date", H, NULL, 0 },
	{ "Keys.0.created.ago", H, NULL, 0 },
	{ "Keys.0.used.iso", H, NULL, 0 },
	{ "Keys.0.used.date", H, NULL, 0 },
	{ "Keys.0.used.ago", H, NULL, 0 },
	{ "Keys.0.revoked.iso", H, NULL, 0 },
	{ "Keys.0.revoked.date", H, NULL, 0 },
	{ "Keys.0.revoked.ago", H, NULL, 0 },
	/* confirm.cs: the action and the way back are constants of page-team.c */
	{ "Confirm.question", H, NULL, 0 },
	{ "Confirm.action", CONST, "/keys/api/revoke", 0 },
	{ "Confirm.field", H, NULL, 0 },
	{ "Confirm.value", H, NULL, 0 },
	{ "Confirm.button", H, NULL, 0 },
	{ "Confirm.cancel", CONST, "/keys", 0 },
	/* audit.cs, dashboard.cs */
	{ "Filter.action", H, NULL, 0 },
	{ "Filter.actor", H, NULL, 0 },
	{ "Filter.from", H, NULL, 0 },
	{ "Filter.to", H, NULL, 0 },
	{ "Filter.action_error", H, NULL, 0 },
	{ "Filter.actor_error", H, NULL, 0 },
	{ "Filter.from_error", H, NULL, 0 },
	{ "Filter.to_error", H, NULL, 0 },
	{ "Actions.0.name", H, NULL, 0 },
	{ "Audit.0.id", H, NULL, 0 },
	{ "Audit.0.at.iso", H, NULL, 0 },
	{ "Audit.0.at.date", H, NULL, 0 },
	{ "Audit.0.at.ago", H, NULL, 0 },
	{ "Audit.0.actor", H, NULL, 0 },
	{ "Audit.0.actor_name", H, NULL, 0 },
	{ "Audit.0.target_name", H, NULL, 0 },
	{ "Audit.0.action", H, NULL, 0 },
	{ "Audit.0.target", H, NULL, 0 },
	{ "Audit.0.ip", H, NULL, 0 },
	{ "Audit.0.details", H, NULL, 0 },
	{ "Page.next", FLAG, NULL, 0 },
	{ "Page.next_query", H, NULL, 0 },
	/* dashboard.cs, verify.cs */
	{ "User.unverified", FLAG, NULL, 0 },
	{ "Verify.valid", FLAG, NULL, 0 },
	{ "Verify.email", H, NULL, 0 },
	{ "Verify.token", H, NULL, 0 },
	/* password-reset.cs, reset.cs */
	{ "Reset.sent", FLAG, NULL, 0 },
	{ "Reset.valid", FLAG, NULL, 0 },
	{ "Reset.email", H, NULL, 0 },
	{ "Reset.token", H, NULL, 0 },
	{ "Form.new_password.value", H, NULL, 0 },
	{ "Form.new_password.error", H, NULL, 0 },
	/*
	 * plan-cards.cs (pricing.cs, billing.cs): Plans.0 is the plan in
	 * use, Plans.1 an owner's form on /billing (refused: its errors
	 * show), Plans.2 a link.  A card's link is one of page-billing.c's
	 * constants ("/register", "/billing#plan-<id>").
	 */
	{ "Plans.0.current", FLAG, NULL, 0 },
	{ "Plans.1.id", H, NULL, 0 },
	{ "Plans.1.name", H, NULL, 0 },
	{ "Plans.1.price", H, NULL, 0 },
	{ "Plans.1.per", H, NULL, 0 },
	{ "Plans.1.trial", H, NULL, 0 },
	{ "Plans.1.Quotas.0.label", H, NULL, 0 },
	{ "Plans.1.Quotas.0.value", H, NULL, 0 },
	{ "Plans.1.form", FLAG, NULL, 0 },
	{ "Plans.1.failed", FLAG, NULL, 0 },
	{ "Plans.1.per_seat", FLAG, NULL, 0 },
	{ "Plans.1.seats", H, NULL, 0 },
	{ "Plans.1.seats_min", H, NULL, 0 },
	{ "Plans.1.coupon", FLAG, NULL, 0 },
	{ "Plans.1.action", H, NULL, 0 },
	{ "Plans.2.id", H, NULL, 0 },
	{ "Plans.2.name", H, NULL, 0 },
	{ "Plans.2.price", H, NULL, 0 },
	{ "Plans.2.per", H, NULL, 0 },
	{ "Plans.2.href", CONST, "/billing#plan-team", 0 },
	{ "Plans.2.action", H, NULL, 0 },
	{ "Plans.2.primary", FLAG, NULL, 0 },
	{ "Form.plan.error", H, NULL, 0 },
	{ "Form.seats.value", H, NULL, 0 },
	{ "Form.seats.error", H, NULL, 0 },
	{ "Form.coupon.value", H, NULL, 0 },
	{ "Form.coupon.error", H, NULL, 0 },
	{ "Pricing.unconfigured", FLAG, NULL, 0 },
	{ "Pricing.can_buy", FLAG, NULL, 0 },
	/* billing.cs */
	{ "Billing.unconfigured", FLAG, NULL, 0 },
	{ "Billing.test_mode", FLAG, NULL, 0 },
	{ "Billing.checkout_success", FLAG, NULL, 0 },
	{ "Billing.checkout_canceled", FLAG, NULL, 0 },
	{ "Billing.plan", H, NULL, 0 },
	{ "Billing.plan_name", H, NULL, 0 },
	{ "Billing.status", H, NULL, 0 },
	{ "Billing.status_label", H, NULL, 0 },
	{ "Billing.price", H, NULL, 0 },
	{ "Billing.trial_end", H, NULL, 0 },
	{ "Billing.trial_end_iso", H, NULL, 0 },
	{ "Billing.cancels", H, NULL, 0 },
	{ "Billing.cancels_iso", H, NULL, 0 },
	{ "Billing.renews", H, NULL, 0 },
	{ "Billing.renews_iso", H, NULL, 0 },
	{ "Billing.renews_label", H, NULL, 0 },
	{ "Billing.seats_text", H, NULL, 0 },
	{ "Billing.warning", H, NULL, 0 },
	{ "Billing.note", H, NULL, 0 },
	{ "Billing.owner", FLAG, NULL, 0 },
	{ "Billing.can_manage", FLAG, NULL, 0 },
	{ "Billing.can_cancel", FLAG, NULL, 0 },
	{ "Billing.invoices_more", FLAG, NULL, 0 },
	/* (Billing.invoices_hidden, for members, stays unset: the table
	 * below renders instead.) */
	/* Invoices' links: page-billing.c passes only http(s) URLs. */
	{ "Invoices.0.number", H, NULL, 0 },
	{ "Invoices.0.date", H, NULL, 0 },
	{ "Invoices.0.date_iso", H, NULL, 0 },
	{ "Invoices.0.status", H, NULL, 0 },
	{ "Invoices.0.status_label", H, NULL, 0 },
	{ "Invoices.0.amount", H, NULL, 0 },
	{ "Invoices.0.hosted_url", CONST,
	    "https://invoice.stripe.com/i/acct_1/test_1?s=ap", 0 },
	{ "Invoices.0.pdf_url", CONST,
	    "https://pay.stripe.com/invoice/acct_1/test_1/pdf?s=ap", 0 },
	/* confirm.cs: a second hidden field, the way back's words. */
	{ "Confirm.Extra.0.name", H, NULL, 0 },
	{ "Confirm.Extra.0.value", H, NULL, 0 },
	{ "Confirm.back", H, NULL, 0 },
	{ "Confirm.safe", FLAG, NULL, 0 },
	/*
	 * agents.cs: Agents.0 an active agent with a budget, its form
	 * refused (the error shows), Agents.1 a deactivated one; the
	 * create form's fields.
	 */
	{ "Page.agents_text", H, NULL, 0 },
	{ "Page.agents_full", FLAG, NULL, 0 },
	{ "Page.agents_more", FLAG, NULL, 0 },
	{ "Agents.0.id", H, NULL, 0 },
	{ "Agents.0.name", H, NULL, 0 },
	{ "Agents.0.active", FLAG, NULL, 0 },
	{ "Agents.0.created.iso", H, NULL, 0 },
	{ "Agents.0.created.date", H, NULL, 0 },
	{ "Agents.0.created.ago", H, NULL, 0 },
	{ "Agents.0.budget", H, NULL, 0 },
	{ "Agents.0.budget_usd", H, NULL, 0 },
	{ "Agents.0.action", H, NULL, 0 },
	{ "Agents.0.action_label", H, NULL, 0 },
	{ "Agents.0.spend", H, NULL, 0 },
	{ "Agents.0.status", H, NULL, 0 },
	{ "Agents.0.status_label", H, NULL, 0 },
	{ "Agents.0.percent", H, NULL, 0 },
	{ "Agents.0.error", H, NULL, 0 },
	{ "Agents.1.id", H, NULL, 0 },
	{ "Agents.1.name", H, NULL, 0 },
	{ "Agents.1.reason", H, NULL, 0 },
	{ "Agents.1.created.iso", H, NULL, 0 },
	{ "Agents.1.created.date", H, NULL, 0 },
	{ "Agents.1.created.ago", H, NULL, 0 },
	{ "Agents.1.spend", H, NULL, 0 },
	{ "Agents.1.status", H, NULL, 0 },
	{ "Agents.1.status_label", H, NULL, 0 },
	{ "Form.budget_limit_usd.value", H, NULL, 0 },
	{ "Form.budget_limit_usd.error", H, NULL, 0 },
	{ "Form.budget_action.value", H, NULL, 0 },
	{ "Form.budget_action.error", H, NULL, 0 },
	/*
	 * usage.cs, usage-meter.cs and the dashboard's cards: UsageMeters.0
	 * a quota with its bar and overage, UsageMeters.1 an unlimited one;
	 * the chart with one point of each kind; UsageAgents.0 an active
	 * agent with a budget, UsageAgents.1 a deactivated one without;
	 * UsageAlerts.0 past 100 %, UsageAlerts.1 at 80 %.  The chart's
	 * coordinates are numbers page-usage.c computes: hostile here too.
	 */
	{ "Usage.period", H, NULL, 0 },
	{ "Usage.from", H, NULL, 0 },
	{ "Usage.from_iso", H, NULL, 0 },
	{ "Usage.to", H, NULL, 0 },
	{ "Usage.to_iso", H, NULL, 0 },
	{ "Usage.llm_cost", H, NULL, 0 },
	{ "Usage.overage", H, NULL, 0 },
	{ "UsagePeriods.0.key", H, NULL, 0 },
	{ "UsagePeriods.0.label", H, NULL, 0 },
	{ "UsagePeriods.0.selected", FLAG, NULL, 0 },
	{ "UsagePeriods.1.key", H, NULL, 0 },
	{ "UsagePeriods.1.label", H, NULL, 0 },
	{ "UsageMeters.0.metric", H, NULL, 0 },
	{ "UsageMeters.0.label", H, NULL, 0 },
	{ "UsageMeters.0.used", H, NULL, 0 },
	{ "UsageMeters.0.included", H, NULL, 0 },
	{ "UsageMeters.0.percent", H, NULL, 0 },
	{ "UsageMeters.0.state", H, NULL, 0 },
	{ "UsageMeters.0.fill", H, NULL, 0 },
	{ "UsageMeters.0.m80", H, NULL, 0 },
	{ "UsageMeters.0.m100", H, NULL, 0 },
	{ "UsageMeters.0.tick80", FLAG, NULL, 0 },
	{ "UsageMeters.0.rule", H, NULL, 0 },
	{ "UsageMeters.0.overage", H, NULL, 0 },
	{ "UsageMeters.0.overage_cost", H, NULL, 0 },
	{ "UsageMeters.1.label", H, NULL, 0 },
	{ "UsageMeters.1.used", H, NULL, 0 },
	{ "UsageMeters.1.unlimited", FLAG, NULL, 0 },
	{ "Chart.drawn", FLAG, NULL, 0 },
	{ "Chart.has_cost", FLAG, NULL, 0 },
	{ "Chart.metric", H, NULL, 0 },
	{ "Chart.metric_label", H, NULL, 0 },
	{ "Chart.title", H, NULL, 0 },
	{ "Chart.desc", H, NULL, 0 },
	{ "Chart.total", H, NULL, 0 },
	{ "Chart.w", H, NULL, 0 },
	{ "Chart.h", H, NULL, 0 },
	{ "Chart.left", H, NULL, 0 },
	{ "Chart.right", H, NULL, 0 },
	{ "Chart.bottom", H, NULL, 0 },
	{ "Chart.label_x", H, NULL, 0 },
	{ "Chart.label_y", H, NULL, 0 },
	{ "Chart.Metrics.0.id", H, NULL, 0 },
	{ "Chart.Metrics.0.label", H, NULL, 0 },
	{ "Chart.Metrics.0.selected", FLAG, NULL, 0 },
	{ "Chart.Metrics.1.id", H, NULL, 0 },
	{ "Chart.Metrics.1.label", H, NULL, 0 },
	{ "Chart.Y.0.y", H, NULL, 0 },
	{ "Chart.Y.0.ty", H, NULL, 0 },
	{ "Chart.Y.0.label", H, NULL, 0 },
	{ "Chart.X.0.x", H, NULL, 0 },
	{ "Chart.X.0.label", H, NULL, 0 },
	{ "Chart.Bars.0.x", H, NULL, 0 },
	{ "Chart.Bars.0.y", H, NULL, 0 },
	{ "Chart.Bars.0.w", H, NULL, 0 },
	{ "Chart.Bars.0.h", H, NULL, 0 },
	{ "Chart.Bars.0.label", H, NULL, 0 },
	{ "Chart.Points.0.day", H, NULL, 0 },
	{ "Chart.Points.0.value", H, NULL, 0 },
	{ "Chart.Points.0.cost", H, NULL, 0 },
	{ "UsageAgents.0.id", H, NULL, 0 },
	{ "UsageAgents.0.name", H, NULL, 0 },
	{ "UsageAgents.0.active", FLAG, NULL, 0 },
	{ "UsageAgents.0.tokens", H, NULL, 0 },
	{ "UsageAgents.0.executions", H, NULL, 0 },
	{ "UsageAgents.0.cost", H, NULL, 0 },
	{ "UsageAgents.0.budget", H, NULL, 0 },
	{ "UsageAgents.0.action_label", H, NULL, 0 },
	{ "UsageAgents.0.status", H, NULL, 0 },
	{ "UsageAgents.0.status_label", H, NULL, 0 },
	{ "UsageAgents.0.percent", H, NULL, 0 },
	{ "UsageAgents.1.name", H, NULL, 0 },
	{ "UsageAgents.1.tokens", H, NULL, 0 },
	{ "UsageAgents.1.executions", H, NULL, 0 },
	{ "UsageAgents.1.cost", H, NULL, 0 },
	{ "UsageAgents.1.status", H, NULL, 0 },
	{ "UsageAgents.1.status_label", H, NULL, 0 },
	{ "UsageProviders.0.provider", H, NULL, 0 },
	{ "UsageProviders.0.value", H, NULL, 0 },
	{ "UsageProviders.0.cost", H, NULL, 0 },
	{ "UsageProviders.0.share", H, NULL, 0 },
	{ "UsageModels.0.name", H, NULL, 0 },
	{ "UsageModels.0.provider", H, NULL, 0 },
	{ "UsageModels.0.value", H, NULL, 0 },
	{ "UsageModels.0.cost", H, NULL, 0 },
	{ "UsageChannels.0.name", H, NULL, 0 },
	{ "UsageChannels.0.value", H, NULL, 0 },
	{ "UsageAlerts.0.what", H, NULL, 0 },
	{ "UsageAlerts.0.detail", H, NULL, 0 },
	{ "UsageAlerts.0.threshold", H, NULL, 0 },
	{ "UsageAlerts.0.over", FLAG, NULL, 0 },
	{ "UsageAlerts.0.at.iso", H, NULL, 0 },
	{ "UsageAlerts.0.at.date", H, NULL, 0 },
	{ "UsageAlerts.0.at.ago", H, NULL, 0 },
	{ "UsageAlerts.1.what", H, NULL, 0 },
	{ "UsageAlerts.1.detail", H, NULL, 0 },
	{ "UsageAlerts.1.threshold", H, NULL, 0 },
	{ "UsageAlerts.1.at.iso", H, NULL, 0 },
	{ "UsageAlerts.1.at.date", H, NULL, 0 },
	{ "UsageAlerts.1.at.ago", H, NULL, 0 },
	/*
	 * usage.cs's storage part: StorageMeters.0 a limit with its bar,
	 * StorageMeters.1 none in the plan; a kind; Backups.0 pinned.
	 */
	{ "StorageMeters.0.label", H, NULL, 0 },
	{ "StorageMeters.0.used", H, NULL, 0 },
	{ "StorageMeters.0.included", H, NULL, 0 },
	{ "StorageMeters.0.percent", H, NULL, 0 },
	{ "StorageMeters.0.state", H, NULL, 0 },
	{ "StorageMeters.0.fill", H, NULL, 0 },
	{ "StorageMeters.0.m80", H, NULL, 0 },
	{ "StorageMeters.0.m100", H, NULL, 0 },
	{ "StorageMeters.0.tick80", FLAG, NULL, 0 },
	{ "StorageMeters.1.label", H, NULL, 0 },
	{ "StorageMeters.1.none", FLAG, NULL, 0 },
	{ "StorageKinds.0.what", H, NULL, 0 },
	{ "StorageKinds.0.count", H, NULL, 0 },
	{ "StorageKinds.0.bytes", H, NULL, 0 },
	{ "Backups.0.id", H, NULL, 0 },
	{ "Backups.0.version", H, NULL, 0 },
	{ "Backups.0.size", H, NULL, 0 },
	{ "Backups.0.checksum", H, NULL, 0 },
	{ "Backups.0.pinned", FLAG, NULL, 0 },
	{ "Backups.0.created.iso", H, NULL, 0 },
	{ "Backups.0.created.date", H, NULL, 0 },
	{ "Backups.0.created.ago", H, NULL, 0 },
	{ "Storage.more_backups", H, NULL, 0 },
	{ "Gateway.0.provider", H, NULL, 0 },
	{ "Gateway.0.model", H, NULL, 0 },
	{ "Gateway.0.calls", H, NULL, 0 },
	{ "Gateway.0.failed", H, NULL, 0 },
	{ "Gateway.0.tokens", H, NULL, 0 },
	{ "Gateway.0.cost", H, NULL, 0 },
	{ "Gateway.0.latency", H, NULL, 0 },
	{ "LlmKeys.0.failing", FLAG, NULL, 0 },
	{ "LlmKeys.0.detail", H, NULL, 0 },
	{ "Billing.storage", H, NULL, 0 },
	{ "Billing.backups", H, NULL, 0 },
	/* dashboard.cs: the spend card (Spend.any set: the facts show). */
	{ "Spend.any", FLAG, NULL, 0 },
	{ "Spend.total", H, NULL, 0 },
	{ "Spend.from", H, NULL, 0 },
	{ "Spend.from_iso", H, NULL, 0 },
	{ "Spend.agent", H, NULL, 0 },
	{ "Spend.agent_cost", H, NULL, 0 },
	{ "Spend.overage", H, NULL, 0 },
};
#define NFIELDS	(sizeof(fields) / sizeof(fields[0]))

static const char *const	pages[] = {
	"login", "register", "invite", "dashboard", "team", "keys", "audit",
	"soon", "verify", "confirm", "error", "password-reset", "reset", "pricing",
	"billing", "agents", "usage", "channels", "notifications",
};
#define NPAGES	(sizeof(pages) / sizeof(pages[0]))

static char	 srcdir[1024];
static int	 update;

/*
 * Fill the request's HDF.  which < 0: the golden set, where the hostile
 * values rotate over the fields but for the few fixed ones (Page.nav and
 * the first item's id share one, so both branches of the active-item
 * test render); else hostile[which] everywhere.
 */
static void
fill(struct req *r, int which)
{
	size_t		 i, h = 0;
	const char	*v;

	for (i = 0; i < NFIELDS; i++) {
		switch (fields[i].kind) {
		case FLAG:
			v = "1";
			break;
		case CONST:
			v = fields[i].value;
			break;
		default:
			if (which >= 0)
				v = hostile[which];
			else if (fields[i].fixed > 0)
				v = hostile[fields[i].fixed - 1];
			else
				v = hostile[h++ % NHOSTILE];
			break;
		}
		tmpl_set(r, fields[i].name, v);
	}
}

/* Render templates/<page>.cs into r; the page must come out whole. */
static void
render(struct req *r, const char *page, int which)
{
	char	 file[64];

	req_init(r);
	fill(r, which);
	snprintf(file, sizeof(file), "%s.cs", page);
	tmpl_render(r, 200, file);
	if (r->status != 200)
		fail_msg("%s: rendered with status %d (see the log above):\n%s",
		    file, r->status, r->out.p != NULL ? r->out.p : "");
	assert_non_null(r->out.p);
	assert_true(r->out.len > 0);
	assert_int_equal(strlen(r->out.p), r->out.len);
	assert_string_equal(r->content_type_out, "text/html; charset=utf-8");
}

static void
done(struct req *r)
{
	req_release(r);
	arena_free(&r->arena);
	buf_free(&r->body);
	buf_free(&r->out);
}

/* Is "needle" in the page, ignoring case? */
static int
has(const char *page, const char *needle)
{
	size_t	 n = strlen(needle);

	for (; *page != '\0'; page++)
		if (strncasecmp(page, needle, n) == 0)
			return 1;
	return 0;
}

/* The checks that hold whatever the golden files say. */
static void
check_escaped(const char *name, const char *out, int want_script)
{
	static const char *const	refused[] = {
		"<script",
		"\"onmouseover=\"",
		"href=\"javascript:",
		"src=\"javascript:",
		"action=\"javascript:",
		"formaction=\"javascript:",
		"href='javascript:",
	};
	size_t				 i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (has(out, refused[i]))
			fail_msg("%s: the output contains %s", name, refused[i]);
	if (strstr(out, "<script>alert(1)</script>") != NULL)
		fail_msg("%s: raw <script>alert(1)</script>", name);
	if (want_script && strstr(out, "&lt;script&gt;alert(1)&lt;/script&gt;")
	    == NULL)
		fail_msg("%s: no &lt;script&gt; in the output", name);
}

static int
read_file(const char *path, char **p, size_t *len)
{
	FILE	*f;
	long	 n;

	*p = NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1) {
		fclose(f);
		return -1;
	}
	*p = malloc((size_t)n + 1);
	assert_non_null(*p);
	if (fread(*p, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(*p);
		*p = NULL;
		return -1;
	}
	(*p)[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return 0;
}

static void
write_file(const char *path, const char *p, size_t len)
{
	FILE	*f;

	if ((f = fopen(path, "wb")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	if (fwrite(p, 1, len, f) != len || fclose(f) != 0)
		fail_msg("%s: write failed", path);
}

/* Where the golden and the rendered page first differ, for the log. */
static void
show_difference(const char *name, const char *want, size_t wlen,
    const char *got, size_t glen)
{
	size_t	 i, line = 1, from;
	char	 actual[256];

	for (i = 0; i < wlen && i < glen && want[i] == got[i]; i++)
		if (want[i] == '\n')
			line++;
	from = i > 60 ? i - 60 : 0;
	print_error("%s: differs from the golden file at byte %zu (line %zu)"
	    "\n  golden:   %.*s\n  rendered: %.*s\n", name, i, line,
	    (int)((wlen - from) < 140 ? wlen - from : 140), want + from,
	    (int)((glen - from) < 140 ? glen - from : 140), got + from);
	snprintf(actual, sizeof(actual), "unit-tmpl-%s.html", name);
	write_file(actual, got, glen);
	print_error("the rendered page is in ./%s; if the change is right, "
	    "run with UPDATE_GOLDEN=1 and review the diff\n", actual);
}

/* One page against its golden file. */
static void
test_golden(void **state)
{
	const char	*name = *state;
	struct req	 r;
	char		 path[1200], *want;
	size_t		 wlen = 0;

	render(&r, name, -1);
	check_escaped(name, r.out.p, 1);
	snprintf(path, sizeof(path), "%s/tests/golden/%s.html", srcdir, name);
	if (update) {
		write_file(path, r.out.p, r.out.len);
		print_message("wrote %s\n", path);
		done(&r);
		return;
	}
	if (read_file(path, &want, &wlen) == -1) {
		done(&r);
		fail_msg("%s: cannot read (%s); UPDATE_GOLDEN=1 writes it", path,
		    strerror(errno));
	}
	if (wlen != r.out.len || memcmp(want, r.out.p, wlen) != 0) {
		show_difference(name, want, wlen, r.out.p, r.out.len);
		free(want);
		done(&r);
		fail_msg("%s does not match its golden file", name);
	}
	free(want);
	done(&r);
}

/* Every page with each hostile value in every field. */
static void
test_each_value(void **state)
{
	struct req	 r;
	size_t		 p, v;
	char		 name[128];

	(void)state;
	for (p = 0; p < NPAGES; p++)
		for (v = 0; v < NHOSTILE; v++) {
			snprintf(name, sizeof(name), "%s.cs with value %zu",
			    pages[p], v);
			render(&r, pages[p], (int)v);
			check_escaped(name, r.out.p, v == 0);
			/* Every data field carries it: a raw quote anywhere
			 * means an attribute could be broken out of. */
			if (v == 1 && strstr(r.out.p, "\"x") != NULL)
				fail_msg("%s: a raw \" from the data", name);
			if (v == 2 && strstr(r.out.p, "' OR") != NULL)
				fail_msg("%s: a raw ' from the data", name);
			if (v == 5 && strstr(r.out.p, "&amp;amp;") == NULL)
				fail_msg("%s: &amp; was not escaped again",
				    name);
			done(&r);
		}
}

/* The escaping of each value, on the simplest page. */
static void
test_escapes(void **state)
{
	static const struct {
		int		 which;
		const char	*want;
	} cases[] = {
		{ 0, "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>" },
		{ 1, "<h1>&quot;onmouseover=&quot;x</h1>" },
		{ 2, "<h1>&#39; OR 1=1 --</h1>" },
		{ 3, "<h1>javascript:alert(1)</h1>" },
		/* ClearSilver's html escaping drops CR and keeps LF. */
		{ 4, "<h1>line1\nline2</h1>" },
		{ 5, "<h1>&amp;amp;</h1>" },
		{ 1, "<input type=\"hidden\" name=\"csrf\" "
		    "value=\"&quot;onmouseover=&quot;x\">" },
		{ 2, "<input type=\"hidden\" name=\"csrf\" "
		    "value=\"&#39; OR 1=1 --\">" },
	};
	struct req	 r;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		render(&r, "soon", cases[i].which);
		if (strstr(r.out.p, cases[i].want) == NULL)
			fail_msg("soon.cs with value %d: no %s in\n%s",
			    cases[i].which, cases[i].want, r.out.p);
		done(&r);
	}
}

/* A template that cannot be rendered is a 500 page, not half a page. */
static void
test_missing_template(void **state)
{
	struct req	 r;

	(void)state;
	req_init(&r);
	fill(&r, 0);
	tmpl_render(&r, 200, "no-such-template.cs");
	assert_int_equal(r.status, 500);
	assert_null(strstr(r.out.p, "<script>"));
	done(&r);
}

/*
 * The pipeline's error pages: a re-render in the shell keeps the status
 * and replaces the bare page; a template that fails leaves the bare
 * page as it was.
 */
static void
test_rerender(void **state)
{
	struct req	 r;
	char		*bare;

	(void)state;
	req_init(&r);
	r.resp_kind = RESP_PAGE;
	req_error(&r, 404, NULL, "not_found", "No <b>page</b>.", NULL);
	assert_true(r.error_page);
	assert_string_equal(r.error_code, "not_found");
	assert_string_equal(r.error_message, "No <b>page</b>.");
	bare = strdup(r.out.p);
	assert_non_null(bare);
	assert_int_equal(tmpl_rerender(&r, "no-such-template.cs"), -1);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.out.p, bare);
	tmpl_reset(&r);
	tmpl_set(&r, "Page.title", "Not Found");
	tmpl_set(&r, "Error.message", r.error_message);
	assert_int_equal(tmpl_rerender(&r, "error.cs"), 0);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.out.p, "<title>Not Found · Tollgate</title>"));
	assert_non_null(strstr(r.out.p, "No &lt;b&gt;page&lt;/b&gt;."));
	req_redirect(&r, "/login");
	assert_false(r.error_page);
	free(bare);
	done(&r);
}

int
main(void)
{
	const char	*top = getenv("top_srcdir"), *u = getenv("UPDATE_GOLDEN");
	char		 golden[1100];
	struct CMUnitTest tests[NPAGES + 4];
	size_t		 i;
	int		 rc;

	snprintf(srcdir, sizeof(srcdir), "%s", top != NULL && *top != '\0' ?
	    top : ".");
	update = u != NULL && strcmp(u, "1") == 0;
	conf.template_dir = xasprintf("%s/templates", srcdir);
	log_init("unit-tmpl", LOG_LVL_WARN);
	if (update) {
		snprintf(golden, sizeof(golden), "%s/tests/golden", srcdir);
		if (mkdir(golden, 0755) == -1 && errno != EEXIST) {
			perror(golden);
			return 1;
		}
	}
	for (i = 0; i < NPAGES; i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = xasprintf("golden %s.html", pages[i]);
		tests[i].test_func = test_golden;
		tests[i].initial_state = (void *)pages[i];
	}
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_each_value);
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_escapes);
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_missing_template);
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_rerender);
	rc = cmocka_run_group_tests_name("unit-tmpl", tests, NULL, NULL);
	for (i = 0; i < NPAGES; i++)
		free((char *)tests[i].name);
	free(conf.template_dir);
	return rc;
}
