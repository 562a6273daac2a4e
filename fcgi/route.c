/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The route table: one entry per route, indexed by enum route_id, with
 * its method, path pattern ("{name}" matches one segment), the kind of
 * authentication it needs, the body it takes and how errors are shown.
 * Dispatch is a lookup in this table.
 */
#include "config.h"

#include <string.h>

#include "tollgate.h"

#define API	"/api/v1"

/*
 * Fields left out are zero: no role (public), no scope, no body, no
 * Idempotency-Key.  ".idem = 1" marks the creating POSTs of a tenant
 * that honour the Idempotency-Key header (idem.c).
 */
const struct route	routes[ROUTE__MAX] = {
	/* Liveness and database reachability, for monitors. */
	[ROUTE_HEALTH] = { .method = "GET", .pattern = API "/health",
	    .auth = AUTH_NONE, .resp = RESP_API, .handler = api_health },
	/* The plan catalogue, public (pricing pages). */
	[ROUTE_PLANS] = { .method = "GET", .pattern = API "/plans",
	    .auth = AUTH_NONE, .resp = RESP_API, .handler = api_plans },
	/* Counters for Prometheus: configured addresses or token only. */
	[ROUTE_METRICS] = { .method = "GET", .pattern = API "/metrics",
	    .auth = AUTH_METRICS, .resp = RESP_API, .handler = api_metrics },

	/* Sign-up and sign-in: limited per client address. */
	[ROUTE_AUTH_REGISTER] = { .method = "POST",
	    .pattern = API "/auth/register", .auth = AUTH_IP,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_auth_register },
	[ROUTE_AUTH_LOGIN] = { .method = "POST", .pattern = API "/auth/login",
	    .auth = AUTH_IP, .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_auth_login },
	[ROUTE_AUTH_REFRESH] = { .method = "POST",
	    .pattern = API "/auth/refresh", .auth = AUTH_IP, .body = BODY_JSON,
	    .resp = RESP_API, .handler = api_auth_refresh },
	[ROUTE_AUTH_LOGOUT] = { .method = "POST",
	    .pattern = API "/auth/logout", .auth = AUTH_IP, .body = BODY_JSON,
	    .resp = RESP_API, .handler = api_auth_logout },
	[ROUTE_INVITATIONS_ACCEPT] = { .method = "POST",
	    .pattern = API "/invitations/accept", .auth = AUTH_IP,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_invitations_accept },
	/* The token of a link mailed to prove an address: public. */
	[ROUTE_AUTH_VERIFY_EMAIL] = { .method = "POST",
	    .pattern = API "/auth/verify-email", .auth = AUTH_IP,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_auth_verify_email },
	/*
	 * Password reset: the same answer for every address; the confirm
	 * carries the token of the mailed link.
	 */
	[ROUTE_AUTH_PASSWORD_RESET] = { .method = "POST",
	    .pattern = API "/auth/password-reset", .auth = AUTH_IP,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_auth_password_reset },
	[ROUTE_AUTH_PASSWORD_RESET_CONFIRM] = { .method = "POST",
	    .pattern = API "/auth/password-reset/confirm", .auth = AUTH_IP,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_auth_password_reset_confirm },

	/* The caller: a user, or an API key (any scope). */
	[ROUTE_AUTH_ME] = { .method = "GET", .pattern = API "/auth/me",
	    .auth = AUTH_API, .role = ROLE_MEMBER, .resp = RESP_API,
	    .handler = api_auth_me, .key_bind_only = 1 },
	[ROUTE_AUTH_PASSWORD] = { .method = "POST",
	    .pattern = API "/auth/password", .auth = AUTH_USER,
	    .role = ROLE_MEMBER, .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_auth_password },
	/* A new link for an unverified address (limited per user). */
	[ROUTE_AUTH_VERIFY_RESEND] = { .method = "POST",
	    .pattern = API "/auth/verify-email/resend", .auth = AUTH_USER,
	    .role = ROLE_MEMBER, .resp = RESP_API,
	    .handler = api_auth_verify_resend },

	/* Team: members read, admins change (owners for owners). */
	[ROUTE_MEMBERS_LIST] = { .method = "GET", .pattern = API "/members",
	    .auth = AUTH_USER, .role = ROLE_MEMBER, .resp = RESP_API,
	    .handler = api_members_list },
	[ROUTE_MEMBERS_INVITE] = { .method = "POST",
	    .pattern = API "/members/invitations", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_members_invite, .idem = 1 },
	[ROUTE_MEMBERS_UPDATE] = { .method = "PATCH",
	    .pattern = API "/members/{user_id}", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_members_update },
	/* Members may remove themselves (leave): checked by acct_remove. */
	[ROUTE_MEMBERS_DELETE] = { .method = "DELETE",
	    .pattern = API "/members/{user_id}", .auth = AUTH_USER,
	    .role = ROLE_MEMBER, .resp = RESP_API,
	    .handler = api_members_delete },

	/* API keys of the tenant. */
	[ROUTE_KEYS_LIST] = { .method = "GET", .pattern = API "/api-keys",
	    .auth = AUTH_USER, .role = ROLE_MEMBER, .resp = RESP_API,
	    .handler = api_keys_list },
	[ROUTE_KEYS_CREATE] = { .method = "POST", .pattern = API "/api-keys",
	    .auth = AUTH_USER, .role = ROLE_ADMIN, .body = BODY_JSON,
	    .resp = RESP_API, .handler = api_keys_create, .idem = 1 },
	[ROUTE_KEYS_DELETE] = { .method = "DELETE",
	    .pattern = API "/api-keys/{id}", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .resp = RESP_API, .handler = api_keys_delete },

	/* The audit trail: owners and admins. */
	[ROUTE_AUDIT_LIST] = { .method = "GET", .pattern = API "/audit",
	    .auth = AUTH_USER, .role = ROLE_ADMIN, .resp = RESP_API,
	    .handler = api_audit_list },

	/* Portal: public pages, forms bound to a pre-login cookie. */
	[ROUTE_PAGE_ROOT] = { .method = "GET", .pattern = "/",
	    .auth = AUTH_PAGE_PUBLIC, .resp = RESP_PAGE,
	    .handler = page_root },
	[ROUTE_PAGE_LOGIN] = { .method = "GET", .pattern = "/login",
	    .auth = AUTH_PAGE_PUBLIC, .resp = RESP_PAGE,
	    .handler = page_login },
	[ROUTE_PAGE_LOGIN_POST] = { .method = "POST", .pattern = "/login",
	    .auth = AUTH_PAGE_PUBLIC, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_login_post },
	[ROUTE_PAGE_REGISTER] = { .method = "GET", .pattern = "/register",
	    .auth = AUTH_PAGE_PUBLIC, .resp = RESP_PAGE,
	    .handler = page_register },
	[ROUTE_PAGE_REGISTER_POST] = { .method = "POST",
	    .pattern = "/register", .auth = AUTH_PAGE_PUBLIC,
	    .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_register_post },
	[ROUTE_PAGE_INVITE] = { .method = "GET", .pattern = "/invite/{token}",
	    .auth = AUTH_PAGE_PUBLIC, .resp = RESP_PAGE,
	    .handler = page_invite },
	[ROUTE_PAGE_INVITE_POST] = { .method = "POST",
	    .pattern = "/invite/{token}", .auth = AUTH_PAGE_PUBLIC,
	    .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_invite_post },
	[ROUTE_PAGE_PRICING] = { .method = "GET", .pattern = "/pricing",
	    .auth = AUTH_PAGE_PUBLIC, .resp = RESP_PAGE,
	    .handler = page_pricing },
	/*
	 * A link proving an address: the GET only shows a button (mail
	 * scanners follow links), the POST uses the link.
	 */
	[ROUTE_PAGE_VERIFY] = { .method = "GET", .pattern = "/verify/{token}",
	    .auth = AUTH_PAGE_PUBLIC, .resp = RESP_PAGE,
	    .handler = page_verify },
	[ROUTE_PAGE_VERIFY_POST] = { .method = "POST",
	    .pattern = "/verify/{token}", .auth = AUTH_PAGE_PUBLIC,
	    .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_verify_post },
	/*
	 * Password reset: ask for a link (one neutral answer), then the
	 * link's page (the GET uses nothing) and its form.
	 */
	[ROUTE_PAGE_PASSWORD_RESET] = { .method = "GET",
	    .pattern = "/password-reset", .auth = AUTH_PAGE_PUBLIC,
	    .resp = RESP_PAGE, .handler = page_password_reset },
	[ROUTE_PAGE_PASSWORD_RESET_POST] = { .method = "POST",
	    .pattern = "/password-reset", .auth = AUTH_PAGE_PUBLIC,
	    .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_password_reset_post },
	[ROUTE_PAGE_RESET] = { .method = "GET", .pattern = "/reset/{token}",
	    .auth = AUTH_PAGE_PUBLIC, .resp = RESP_PAGE,
	    .handler = page_reset },
	[ROUTE_PAGE_RESET_POST] = { .method = "POST",
	    .pattern = "/reset/{token}", .auth = AUTH_PAGE_PUBLIC,
	    .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_reset_post },

	/* Portal: signed-in pages. */
	[ROUTE_PAGE_LOGOUT] = { .method = "POST", .pattern = "/logout",
	    .auth = AUTH_PAGE, .role = ROLE_MEMBER, .body = BODY_FORM,
	    .resp = RESP_PAGE, .handler = page_logout },
	[ROUTE_PAGE_DASHBOARD] = { .method = "GET", .pattern = "/dashboard",
	    .auth = AUTH_PAGE, .role = ROLE_MEMBER, .resp = RESP_PAGE,
	    .handler = page_dashboard },
	[ROUTE_PAGE_TEAM] = { .method = "GET", .pattern = "/team",
	    .auth = AUTH_PAGE, .role = ROLE_MEMBER, .resp = RESP_PAGE,
	    .handler = page_team },
	[ROUTE_PAGE_TEAM_INVITE] = { .method = "POST",
	    .pattern = "/team/invite", .auth = AUTH_PAGE, .role = ROLE_ADMIN,
	    .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_team_invite },
	[ROUTE_PAGE_TEAM_ROLE] = { .method = "POST", .pattern = "/team/role",
	    .auth = AUTH_PAGE, .role = ROLE_ADMIN, .body = BODY_FORM,
	    .resp = RESP_PAGE, .handler = page_team_role },
	[ROUTE_PAGE_TEAM_REMOVE] = { .method = "POST",
	    .pattern = "/team/remove", .auth = AUTH_PAGE, .role = ROLE_MEMBER,
	    .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_team_remove },
	[ROUTE_PAGE_TEAM_REVOKE] = { .method = "POST",
	    .pattern = "/team/revoke-invitation", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_team_revoke },
	[ROUTE_PAGE_KEYS] = { .method = "GET", .pattern = "/keys",
	    .auth = AUTH_PAGE, .role = ROLE_MEMBER, .resp = RESP_PAGE,
	    .handler = page_keys },
	[ROUTE_PAGE_KEYS_CREATE] = { .method = "POST", .pattern = "/keys/api",
	    .auth = AUTH_PAGE, .role = ROLE_ADMIN, .body = BODY_FORM,
	    .resp = RESP_PAGE, .handler = page_keys_create },
	[ROUTE_PAGE_KEYS_REVOKE] = { .method = "POST",
	    .pattern = "/keys/api/revoke", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_keys_revoke },
	[ROUTE_PAGE_KEYS_LLM_ADD] = { .method = "POST", .pattern = "/keys/llm",
	    .auth = AUTH_PAGE, .role = ROLE_ADMIN, .body = BODY_FORM,
	    .resp = RESP_PAGE, .handler = page_keys_llm_add },
	[ROUTE_PAGE_KEYS_LLM_DELETE] = { .method = "POST",
	    .pattern = "/keys/llm/delete", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_keys_llm_delete },
	[ROUTE_PAGE_KEYS_PRICE_SET] = { .method = "POST",
	    .pattern = "/keys/prices", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_keys_price_set },
	[ROUTE_PAGE_KEYS_PRICE_DELETE] = { .method = "POST",
	    .pattern = "/keys/prices/delete", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_keys_price_delete },
	[ROUTE_PAGE_AUDIT] = { .method = "GET", .pattern = "/audit",
	    .auth = AUTH_PAGE, .role = ROLE_ADMIN, .resp = RESP_PAGE,
	    .handler = page_audit },
	/* Before POST /verify/{token} in enum route_id: that matches too. */
	[ROUTE_PAGE_VERIFY_RESEND] = { .method = "POST",
	    .pattern = "/verify/resend", .auth = AUTH_PAGE,
	    .role = ROLE_MEMBER, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_verify_resend },

	/* What the tenant's plan allows and what it uses. */
	[ROUTE_ENTITLEMENTS] = { .method = "GET",
	    .pattern = API "/entitlements", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_ENTITLEMENTS_READ,
	    .resp = RESP_API, .handler = api_entitlements },
	/*
	 * Metering (SPEC 6, 8): the agent runners' traffic, limited per
	 * tenant by TOLLGATE_RATE_METERING rather than by the plan.
	 */
	[ROUTE_ENTITLEMENTS_CHECK] = { .method = "POST",
	    .pattern = API "/entitlements/check", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_ENTITLEMENTS_READ,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_entitlements_check, .metering = 1, .key_check = 1 },
	[ROUTE_USAGE_EVENTS] = { .method = "POST",
	    .pattern = API "/usage/events", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_USAGE_WRITE, .body = BODY_JSON,
	    .resp = RESP_API, .handler = api_usage_events, .metering = 1 },
	[ROUTE_USAGE_RESERVE] = { .method = "POST",
	    .pattern = API "/usage/reservations", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_USAGE_WRITE, .body = BODY_JSON,
	    .resp = RESP_API, .handler = api_usage_reserve, .metering = 1 },
	[ROUTE_USAGE_RELEASE] = { .method = "DELETE",
	    .pattern = API "/usage/reservations/{id}", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_USAGE_WRITE, .resp = RESP_API,
	    .handler = api_usage_release, .metering = 1 },
	/* What was used: members read, keys need usage:read. */
	[ROUTE_USAGE_SUMMARY] = { .method = "GET",
	    .pattern = API "/usage/summary", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_USAGE_READ, .resp = RESP_API,
	    .handler = api_usage_summary },
	[ROUTE_USAGE_TIMESERIES] = { .method = "GET",
	    .pattern = API "/usage/timeseries", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_USAGE_READ, .resp = RESP_API,
	    .handler = api_usage_timeseries },
	[ROUTE_USAGE_EXPORT] = { .method = "GET",
	    .pattern = API "/usage/export.csv", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_USAGE_READ, .resp = RESP_API,
	    .handler = api_usage_export },
	[ROUTE_USAGE_ALERTS] = { .method = "GET",
	    .pattern = API "/usage/alerts", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_USAGE_READ, .resp = RESP_API,
	    .handler = api_usage_alerts },
	/*
	 * Billing (SPEC 7).  Paying, changing and cancelling are the
	 * owner's; reading is for admins and for keys with billing:read.
	 * The webhook is public: Stripe's signature is its authentication.
	 */
	[ROUTE_BILLING_CHECKOUT] = { .method = "POST",
	    .pattern = API "/billing/checkout", .auth = AUTH_USER,
	    .role = ROLE_OWNER, .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_billing_checkout, .idem = 1 },
	[ROUTE_BILLING_PORTAL] = { .method = "POST",
	    .pattern = API "/billing/portal", .auth = AUTH_USER,
	    .role = ROLE_OWNER, .resp = RESP_API,
	    .handler = api_billing_portal },
	[ROUTE_BILLING_SUBSCRIPTION] = { .method = "GET",
	    .pattern = API "/billing/subscription", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_BILLING_READ, .resp = RESP_API,
	    .handler = api_billing_subscription },
	[ROUTE_BILLING_CHANGE] = { .method = "PATCH",
	    .pattern = API "/billing/subscription", .auth = AUTH_USER,
	    .role = ROLE_OWNER, .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_billing_change },
	[ROUTE_BILLING_CANCEL] = { .method = "DELETE",
	    .pattern = API "/billing/subscription", .auth = AUTH_USER,
	    .role = ROLE_OWNER, .resp = RESP_API,
	    .handler = api_billing_cancel },
	[ROUTE_BILLING_UPCOMING] = { .method = "GET",
	    .pattern = API "/billing/invoices/upcoming", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_BILLING_READ, .resp = RESP_API,
	    .handler = api_billing_upcoming },
	[ROUTE_BILLING_INVOICES] = { .method = "GET",
	    .pattern = API "/billing/invoices", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_BILLING_READ, .resp = RESP_API,
	    .handler = api_billing_invoices },
	[ROUTE_BILLING_INVOICE] = { .method = "GET",
	    .pattern = API "/billing/invoices/{id}", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_BILLING_READ, .resp = RESP_API,
	    .handler = api_billing_invoice },
	[ROUTE_BILLING_WEBHOOK] = { .method = "POST",
	    .pattern = API "/billing/webhook", .auth = AUTH_NONE,
	    .body = BODY_RAW, .resp = RESP_API,
	    .handler = api_billing_webhook },

	/*
	 * Agents (SPEC 6): members read, admins change; keys read with
	 * usage:read and change with usage:write.
	 */
	[ROUTE_AGENTS_LIST] = { .method = "GET", .pattern = API "/agents",
	    .auth = AUTH_API, .role = ROLE_MEMBER, .scope = SCOPE_USAGE_READ,
	    .resp = RESP_API, .handler = api_agents_list },
	[ROUTE_AGENTS_CREATE] = { .method = "POST", .pattern = API "/agents",
	    .auth = AUTH_API, .role = ROLE_ADMIN, .scope = SCOPE_USAGE_WRITE,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_agents_create, .idem = 1 },
	[ROUTE_AGENTS_UPDATE] = { .method = "PATCH",
	    .pattern = API "/agents/{id}", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_USAGE_WRITE, .body = BODY_JSON,
	    .resp = RESP_API, .handler = api_agents_update },
	/* Deactivates (reason "deleted"): the usage history stays. */
	[ROUTE_AGENTS_DELETE] = { .method = "DELETE",
	    .pattern = API "/agents/{id}", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_USAGE_WRITE, .resp = RESP_API,
	    .handler = api_agents_delete },

	/*
	 * LLM provider keys (SPEC 9): members see them by hint, admins add
	 * and delete.  Users only: no API key scope covers secrets.
	 */
	[ROUTE_LLMKEYS_LIST] = { .method = "GET", .pattern = API "/llm-keys",
	    .auth = AUTH_USER, .role = ROLE_MEMBER, .resp = RESP_API,
	    .handler = api_llmkeys_list },
	[ROUTE_LLMKEYS_ADD] = { .method = "POST", .pattern = API "/llm-keys",
	    .auth = AUTH_USER, .role = ROLE_ADMIN, .body = BODY_JSON,
	    .resp = RESP_API, .handler = api_llmkeys_add },
	[ROUTE_LLMKEYS_DELETE] = { .method = "DELETE",
	    .pattern = API "/llm-keys/{id}", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .resp = RESP_API,
	    .handler = api_llmkeys_delete },

	/*
	 * The organization's own prices of models (the gateway's and the
	 * metering's): read with the llm scope too, set by admins.
	 */
	[ROUTE_LLMPRICES_LIST] = { .method = "GET",
	    .pattern = API "/llm-prices", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_LLM, .resp = RESP_API,
	    .handler = api_llmprices_list },
	[ROUTE_LLMPRICES_SET] = { .method = "PUT",
	    .pattern = API "/llm-prices", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_llmprices_set },
	[ROUTE_LLMPRICES_DELETE] = { .method = "DELETE",
	    .pattern = API "/llm-prices/{id}", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .resp = RESP_API,
	    .handler = api_llmprices_delete },

	/*
	 * Channels (SPEC 9): members read, admins connect, test and
	 * disconnect.  Users only, as for LLM keys: tokens are secrets.
	 * The Slack callback is the portal's (/channels/slack/callback).
	 */
	[ROUTE_CHANNELS_LIST] = { .method = "GET", .pattern = API "/channels",
	    .auth = AUTH_USER, .role = ROLE_MEMBER, .resp = RESP_API,
	    .handler = api_channels_list },
	[ROUTE_CHANNELS_SLACK_INSTALL] = { .method = "GET",
	    .pattern = API "/channels/slack/install", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .resp = RESP_API,
	    .handler = api_channels_slack_install },
	[ROUTE_CHANNELS_WHATSAPP] = { .method = "POST",
	    .pattern = API "/channels/whatsapp", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_channels_whatsapp },
	/* The body is optional: {"to": ...} for WhatsApp. */
	[ROUTE_CHANNELS_TEST] = { .method = "POST",
	    .pattern = API "/channels/{id}/test", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .body = BODY_RAW, .resp = RESP_API,
	    .handler = api_channels_test },
	[ROUTE_CHANNELS_DELETE] = { .method = "DELETE",
	    .pattern = API "/channels/{id}", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .resp = RESP_API,
	    .handler = api_channels_delete },

	/*
	 * Notifications (SPEC 10): users only (the settings hold a
	 * secret); members read, admins change and test.
	 */
	[ROUTE_NOTIFY_LIST] = { .method = "GET",
	    .pattern = API "/notifications", .auth = AUTH_USER,
	    .role = ROLE_MEMBER, .resp = RESP_API,
	    .handler = api_notify_list },
	[ROUTE_NOTIFY_SETTINGS] = { .method = "GET",
	    .pattern = API "/notifications/settings", .auth = AUTH_USER,
	    .role = ROLE_MEMBER, .resp = RESP_API,
	    .handler = api_notify_settings },
	[ROUTE_NOTIFY_SETTINGS_PUT] = { .method = "PUT",
	    .pattern = API "/notifications/settings", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_notify_settings_put },
	[ROUTE_NOTIFY_TEST] = { .method = "POST",
	    .pattern = API "/notifications/test", .auth = AUTH_USER,
	    .role = ROLE_ADMIN, .resp = RESP_API,
	    .handler = api_notify_test },

	/*
	 * Storage (SPEC 5): the client's ciphertext, streamed in and out
	 * (BODY_STREAM: the body is the object, any size up to the
	 * per-object cap).  Members and keys with storage:read read;
	 * members and keys with storage:write store.  Literal paths come
	 * before the {id} patterns they would otherwise match.
	 */
	[ROUTE_STORAGE_SUMMARY] = { .method = "GET",
	    .pattern = API "/storage", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_READ,
	    .resp = RESP_API, .handler = api_storage_summary },
	[ROUTE_RECORDS_LIST] = { .method = "GET",
	    .pattern = API "/storage/records", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_READ,
	    .resp = RESP_API, .handler = api_records_list },
	[ROUTE_RECORDS_CREATE] = { .method = "POST",
	    .pattern = API "/storage/records", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_WRITE,
	    .body = BODY_STREAM, .resp = RESP_API,
	    .handler = api_records_create },
	[ROUTE_RECORDS_GET] = { .method = "GET",
	    .pattern = API "/storage/records/{id}", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_READ,
	    .resp = RESP_API, .handler = api_records_get },
	[ROUTE_RECORDS_UPDATE] = { .method = "PUT",
	    .pattern = API "/storage/records/{id}", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_WRITE,
	    .body = BODY_STREAM, .resp = RESP_API,
	    .handler = api_records_update },
	[ROUTE_RECORDS_DELETE] = { .method = "DELETE",
	    .pattern = API "/storage/records/{id}", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_WRITE,
	    .resp = RESP_API, .handler = api_records_delete },
	[ROUTE_BACKUP_GET] = { .method = "GET",
	    .pattern = API "/backup", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_READ,
	    .resp = RESP_API, .handler = api_backup_get },
	[ROUTE_BACKUP_PUT] = { .method = "PUT",
	    .pattern = API "/backup", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_WRITE,
	    .body = BODY_STREAM, .resp = RESP_API,
	    .handler = api_backup_put },
	[ROUTE_BACKUP_HISTORY] = { .method = "GET",
	    .pattern = API "/backup/history", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_READ,
	    .resp = RESP_API, .handler = api_backup_history },
	[ROUTE_BACKUP_SETTINGS] = { .method = "GET",
	    .pattern = API "/backup/settings", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_READ,
	    .resp = RESP_API, .handler = api_backup_settings_get },
	[ROUTE_BACKUP_SETTINGS_PUT] = { .method = "PUT",
	    .pattern = API "/backup/settings", .auth = AUTH_API,
	    .role = ROLE_ADMIN, .scope = SCOPE_STORAGE_WRITE,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_backup_settings_put },
	[ROUTE_BACKUP_GET_ONE] = { .method = "GET",
	    .pattern = API "/backup/{id}", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_READ,
	    .resp = RESP_API, .handler = api_backup_get_one },
	[ROUTE_BACKUP_DELETE] = { .method = "DELETE",
	    .pattern = API "/backup/{id}", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_WRITE,
	    .resp = RESP_API, .handler = api_backup_delete },
	[ROUTE_BACKUP_PIN] = { .method = "PUT",
	    .pattern = API "/backup/{id}/pin", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_WRITE,
	    .resp = RESP_API, .handler = api_backup_pin },
	[ROUTE_BACKUP_UNPIN] = { .method = "DELETE",
	    .pattern = API "/backup/{id}/pin", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_WRITE,
	    .resp = RESP_API, .handler = api_backup_unpin },
	[ROUTE_VEC_UPSERT] = { .method = "POST",
	    .pattern = API "/storage/vectors/upsert", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_WRITE,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_vectors_upsert },
	[ROUTE_VEC_SEARCH] = { .method = "POST",
	    .pattern = API "/storage/vectors/search", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_READ,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_vectors_search },
	[ROUTE_VEC_DELETE] = { .method = "DELETE",
	    .pattern = API "/storage/vectors", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_WRITE,
	    .body = BODY_JSON, .resp = RESP_API,
	    .handler = api_vectors_delete },
	[ROUTE_VEC_LIST] = { .method = "GET",
	    .pattern = API "/storage/vectors", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_STORAGE_READ,
	    .resp = RESP_API, .handler = api_vectors_list },

	/*
	 * The LLM gateway (SPEC 6): OpenAI's base URL is <api>/llm.  Keys
	 * need the llm scope; members may call.  Served by the gateway's
	 * own pool when TOLLGATE_GATEWAY_LISTEN is set.
	 */
	[ROUTE_LLM_CHAT] = { .method = "POST",
	    .pattern = API "/llm/chat/completions", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_LLM, .body = BODY_JSON,
	    .resp = RESP_API, .handler = gateway_chat,
	    .key_with = gateway_key_with },
	[ROUTE_LLM_MODELS] = { .method = "GET",
	    .pattern = API "/llm/models", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_LLM, .resp = RESP_API,
	    .handler = gateway_models },
	[ROUTE_LLM_MODEL] = { .method = "GET",
	    .pattern = API "/llm/models/{model*}", .auth = AUTH_API,
	    .role = ROLE_MEMBER, .scope = SCOPE_LLM, .resp = RESP_API,
	    .handler = gateway_model },

	/*
	 * The billing page: members read it; paying, the Stripe portal and
	 * cancelling are the owner's.  Checkout and the portal answer 303
	 * to Stripe, which is why the web server's form-action names
	 * Stripe's origins on /billing (httpd-conf/).
	 */
	[ROUTE_PAGE_BILLING] = { .method = "GET", .pattern = "/billing",
	    .auth = AUTH_PAGE, .role = ROLE_MEMBER, .resp = RESP_PAGE,
	    .handler = page_billing },
	[ROUTE_PAGE_BILLING_CHECKOUT] = { .method = "POST",
	    .pattern = "/billing/checkout", .auth = AUTH_PAGE,
	    .role = ROLE_OWNER, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_billing_checkout },
	[ROUTE_PAGE_BILLING_PORTAL] = { .method = "POST",
	    .pattern = "/billing/portal", .auth = AUTH_PAGE,
	    .role = ROLE_OWNER, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_billing_portal },
	[ROUTE_PAGE_BILLING_CANCEL] = { .method = "POST",
	    .pattern = "/billing/cancel", .auth = AUTH_PAGE,
	    .role = ROLE_OWNER, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_billing_cancel },

	/* Agents: members read, admins add, budget and (de)activate. */
	[ROUTE_PAGE_AGENTS] = { .method = "GET", .pattern = "/agents",
	    .auth = AUTH_PAGE, .role = ROLE_MEMBER, .resp = RESP_PAGE,
	    .handler = page_agents },
	[ROUTE_PAGE_AGENTS_CREATE] = { .method = "POST", .pattern = "/agents",
	    .auth = AUTH_PAGE, .role = ROLE_ADMIN, .body = BODY_FORM,
	    .resp = RESP_PAGE, .handler = page_agents_create },
	[ROUTE_PAGE_AGENTS_BUDGET] = { .method = "POST",
	    .pattern = "/agents/budget", .auth = AUTH_PAGE, .role = ROLE_ADMIN,
	    .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_agents_budget },
	[ROUTE_PAGE_AGENTS_DEACTIVATE] = { .method = "POST",
	    .pattern = "/agents/deactivate", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_agents_deactivate },
	[ROUTE_PAGE_AGENTS_REACTIVATE] = { .method = "POST",
	    .pattern = "/agents/reactivate", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_agents_reactivate },

	/*
	 * Usage: the period's meters, chart and tables, and its CSV for
	 * a portal session (the API's export takes keys and tokens only).
	 */
	[ROUTE_PAGE_USAGE] = { .method = "GET", .pattern = "/usage",
	    .auth = AUTH_PAGE, .role = ROLE_MEMBER, .resp = RESP_PAGE,
	    .handler = page_usage },
	/* A backup version, deleted from /usage's storage part. */
	[ROUTE_PAGE_BACKUP_DELETE] = { .method = "POST",
	    .pattern = "/usage/backups/delete", .auth = AUTH_PAGE,
	    .role = ROLE_MEMBER, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_storage_backup_delete },
	[ROUTE_PAGE_USAGE_EXPORT] = { .method = "GET",
	    .pattern = "/usage/export.csv", .auth = AUTH_PAGE,
	    .role = ROLE_MEMBER, .resp = RESP_PAGE,
	    .handler = page_usage_export },

	/*
	 * Channels: members read; admins connect (Slack through its
	 * authorize page and back, which is why the web server's
	 * form-action names Slack's origin on /channels), test and
	 * disconnect.
	 */
	[ROUTE_PAGE_CHANNELS] = { .method = "GET", .pattern = "/channels",
	    .auth = AUTH_PAGE, .role = ROLE_MEMBER, .resp = RESP_PAGE,
	    .handler = page_channels },
	[ROUTE_PAGE_CHANNELS_SLACK] = { .method = "POST",
	    .pattern = "/channels/slack", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_channels_slack },
	[ROUTE_PAGE_CHANNELS_CALLBACK] = { .method = "GET",
	    .pattern = "/channels/slack/callback", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .resp = RESP_PAGE,
	    .handler = page_channels_callback },
	[ROUTE_PAGE_CHANNELS_WHATSAPP] = { .method = "POST",
	    .pattern = "/channels/whatsapp", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_channels_whatsapp },
	[ROUTE_PAGE_CHANNELS_TEST] = { .method = "POST",
	    .pattern = "/channels/test", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_channels_test },
	[ROUTE_PAGE_CHANNELS_DISCONNECT] = { .method = "POST",
	    .pattern = "/channels/disconnect", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_channels_disconnect },

	/*
	 * Notifications: members read the settings and the delivery log,
	 * admins change them and send a test.
	 */
	[ROUTE_PAGE_NOTIFICATIONS] = { .method = "GET",
	    .pattern = "/settings/notifications", .auth = AUTH_PAGE,
	    .role = ROLE_MEMBER, .resp = RESP_PAGE,
	    .handler = page_notifications },
	[ROUTE_PAGE_NOTIFICATIONS_SAVE] = { .method = "POST",
	    .pattern = "/settings/notifications", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_notifications_save },
	[ROUTE_PAGE_NOTIFICATIONS_TEST] = { .method = "POST",
	    .pattern = "/settings/notifications/test", .auth = AUTH_PAGE,
	    .role = ROLE_ADMIN, .body = BODY_FORM, .resp = RESP_PAGE,
	    .handler = page_notifications_test },
};


/* Length of the segment starting at s (up to '/' or the end). */
static size_t
route_seglen(const char *s)
{
	const char	*e = strchr(s, '/');

	return e == NULL ? strlen(s) : (size_t)(e - s);
}

/*
 * Match one pattern against a path.  On success the "{...}" segments
 * are copied into params (from the arena).  A last segment "{name*}"
 * takes the rest of the path, slashes included (a model id such as
 * "openrouter/meta/llama" arrives with its %2F decoded).
 */
static int
route_match_path(const char *pat, const char *path, struct arena *a,
    const char **params, size_t *nparams)
{
	size_t	 pl, sl, n = 0;

	if (*pat != '/' || *path != '/')
		return 0;
	for (;;) {
		pat++;
		path++;
		pl = route_seglen(pat);
		sl = route_seglen(path);
		if (pl > 2 && pat[0] == '{' && pat[pl - 2] == '*' &&
		    pat[pl - 1] == '}' && pat[pl] == '\0')
			sl = strlen(path);
		if (pl > 1 && pat[0] == '{' && pat[pl - 1] == '}') {
			if (sl == 0 || n == REQ_PATH_SEGS)
				return 0;
			if (a != NULL)
				params[n] = arena_strndup(a, path, sl);
			n++;
		} else if (pl != sl || memcmp(pat, path, pl) != 0)
			return 0;
		pat += pl;
		path += sl;
		if (*pat == '\0' || *path == '\0')
			break;
	}
	if (*pat != '\0' || *path != '\0')
		return 0;
	*nparams = n;
	return 1;
}

/* Append a method to the Allow list unless it is there already. */
static void
route_allow_add(char *allow, size_t allowsz, size_t *used, const char *method)
{
	size_t	 n = strlen(method);

	if (allowsz == 0 || strstr(allow, method) != NULL ||
	    *used + n + 3 >= allowsz)
		return;
	if (*used > 0) {
		memcpy(allow + *used, ", ", 2);
		*used += 2;
	}
	memcpy(allow + *used, method, n + 1);
	*used += n;
}

/*
 * Find the route for method and path.  When the path exists under other
 * methods only, "allow" receives them ("GET, POST") for the 405 answer.
 * HEAD is answered as GET.
 */
enum route_match
route_lookup(const char *method, const char *path, int *id,
    const char **params, size_t *nparams, struct arena *a, char *allow,
    size_t allowsz)
{
	enum route_match	 m = ROUTE_NO_PATH;
	const char		*want;
	size_t			 i, n, used = 0;

	want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	/* Where GET is allowed, HEAD is too. */
	if (allowsz > 0)
		allow[0] = '\0';
	for (i = 0; i < ROUTE__MAX; i++) {
		if (!route_match_path(routes[i].pattern, path, NULL, NULL, &n))
			continue;
		if (strcmp(routes[i].method, want) == 0) {
			route_match_path(routes[i].pattern, path, a, params,
			    nparams);
			*id = (int)i;
			return ROUTE_FOUND;
		}
		m = ROUTE_NO_METHOD;
		route_allow_add(allow, allowsz, &used, routes[i].method);
		if (strcmp(routes[i].method, "GET") == 0)
			route_allow_add(allow, allowsz, &used, "HEAD");
	}
	return m;
}

void
route_dispatch(struct req *r)
{
	routes[r->route].handler(r);
}
