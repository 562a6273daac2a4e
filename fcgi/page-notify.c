/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /settings/notifications: where the organization's notifications go
 * (addresses, a Slack incoming webhook shown by hint only), which
 * triggers are on, a test notification, and the delivery log (the
 * latest notifications with each delivery's state and attempts).  The
 * form is turned into the API's settings object and saved by notify.c,
 * so the page and the API refuse the same things.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "tollgate.h"

#define PAGE_NOTIFY_LIST	30

/* A trigger in words, for the log (the toggled ones have labels). */
static const char *
page_notify_label(const char *trigger)
{
	const char	*name, *label;
	size_t		 i;

	for (i = 0; (name = notify_trigger_name(i, &label)) != NULL; i++)
		if (strcmp(name, trigger) == 0)
			return label;
	if (strcmp(trigger, "member_invited") == 0)
		return "An invitation";
	if (strcmp(trigger, "password_reset") == 0)
		return "A password reset link";
	if (strcmp(trigger, "test") == 0)
		return "A test notification";
	return trigger;
}

/* One delivery of a log row, in words: "E-mail: sent", "Slack: ...". */
static const char *
page_notify_delivery(struct req *r, struct json_object *d)
{
	const char	*t = http_json_text(d, "transport");
	const char	*st = http_json_text(d, "status");
	const char	*err = http_json_text(d, "last_error");
	long long	 n = http_json_int(d, "attempts", 0);
	char		 tries[48];

	fmt_plural(tries, sizeof(tries), n, "attempt", "attempts");
	return arena_printf(&r->arena, "%s: %s (%s)%s%s", t != NULL &&
	    strcmp(t, "slack") == 0 ? "Slack" : "E-mail", st == NULL ? "?" :
	    strcmp(st, "queued") == 0 ? (n > 0 ? "retrying" : "queued") : st,
	    tries, err != NULL ? " \xe2\x80\x94 " : "", err != NULL ? err : "");
}

static int
page_notify_log(struct req *r)
{
	struct json_object	*ds, *d;
	struct notify_row	*n;
	size_t			 k, i, j;
	enum db_rc		 rc;

	if ((rc = db_notify_list(r, PAGE_NOTIFY_LIST, &n, &k)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	for (i = 0; i < k; i++) {
		tmpl_set_row(r, "Log", i, "id", n[i].notification_id);
		tmpl_set_row(r, "Log", i, "what", page_notify_label(
		    n[i].trigger));
		tmpl_set_row(r, "Log", i, "subject", n[i].subject);
		tmpl_set_row(r, "Log", i, "status", n[i].status);
		page_row_time(r, "Log", i, "at", n[i].created_at);
		ds = json_tokener_parse(n[i].deliveries);
		for (j = 0; ds != NULL && j < json_object_array_length(ds);
		    j++) {
			d = json_object_array_get_idx(ds, j);
			tmpl_set(r, arena_printf(&r->arena, "Log.%zu.d.%zu.text",
			    i, j), page_notify_delivery(r, d));
			tmpl_set(r, arena_printf(&r->arena,
			    "Log.%zu.d.%zu.status", i, j), http_json_text(d,
			    "status"));
		}
		json_object_put(ds);
	}
	return 0;
}

/* The settings into the form (unless a refused form is shown again). */
static void
page_notify_form(struct req *r, const struct notify_settings *s, int again)
{
	struct json_object	*a;
	struct buf		 b;
	const char		*name, *label;
	size_t			 i;

	if (!again) {
		buf_init(&b, 8192);
		a = json_tokener_parse(s->recipients);
		for (i = 0; a != NULL && i < json_object_array_length(a); i++)
			buf_printf(&b, "%s\n", json_object_get_string(
			    json_object_array_get_idx(a, i)));
		json_object_put(a);
		tmpl_set(r, "Form.recipients.value", b.p != NULL ? b.p : "");
		buf_free(&b);
	}
	if (s->webhook != NULL)
		tmpl_set(r, "Page.webhook_hint", s->webhook_hint);
	for (i = 0; (name = notify_trigger_name(i, &label)) != NULL; i++) {
		tmpl_set_row(r, "Triggers", i, "name", name);
		tmpl_set_row(r, "Triggers", i, "label", label);
		if (again ? http_kv_get(&r->form, arena_printf(&r->arena,
		    "t_%s", name)) != NULL : notify_trigger_on(s, name))
			tmpl_set_row(r, "Triggers", i, "on", "1");
	}
}

static void
page_notify_render(struct req *r, int status, int again)
{
	struct notify_settings	 s;
	enum db_rc		 rc;

	page_layout(r, "Notifications", "notifications");
	if (r->auth.role >= ROLE_ADMIN)
		tmpl_set(r, "Page.can_manage", "1");
	if ((rc = db_notify_settings(r, &s)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	page_notify_form(r, &s, again);
	tmpl_set_int(r, "Page.debounce_min", conf.notify_debounce_s / 60);
	if (conf.smtp_url == NULL)
		tmpl_set(r, "Page.no_smtp", "1");
	if (page_notify_log(r) == -1)
		return;
	tmpl_render(r, status, "notifications.cs");
}

void
page_notifications(struct req *r)
{
	page_notify_render(r, 200, 0);
}

/* The form as the API's settings object. */
static struct json_object *
page_notify_input(struct req *r)
{
	struct json_object	*o = json_object_new_object(), *a, *t;
	const char		*p, *e, *hook, *name;
	char			*one;
	size_t			 i, n;

	a = json_object_new_array();
	for (p = page_form(r, "recipients"); *p != '\0'; p = e) {
		n = strcspn(p, ",; \t\r\n");
		e = p + n;
		if (n > 0) {
			one = arena_printf(&r->arena, "%.*s", (int)n, p);
			json_object_array_add(a, json_object_new_string(one));
		}
		e += strspn(e, ",; \t\r\n");
	}
	json_object_object_add(o, "recipients", a);
	hook = page_form(r, "slack_webhook_url");
	if (http_kv_get(&r->form, "remove_webhook") != NULL)
		json_object_object_add(o, "slack_webhook_url", NULL);
	else if (*hook != '\0')
		json_object_object_add(o, "slack_webhook_url",
		    json_object_new_string(hook));
	t = json_object_new_object();
	for (i = 0; (name = notify_trigger_name(i, NULL)) != NULL; i++)
		json_object_object_add(t, name, json_object_new_boolean(
		    http_kv_get(&r->form, arena_printf(&r->arena, "t_%s",
		    name)) != NULL));
	json_object_object_add(o, "triggers", t);
	return o;
}

/* POST /settings/notifications */
void
page_notifications_save(struct req *r)
{
	struct json_object	*in;
	struct fail		 f;
	enum db_rc		 rc;
	int			 ret;

	in = page_notify_input(r);
	ret = notify_settings_put(r, &f, in);
	json_object_put(in);
	OPENSSL_cleanse(r->body.p, r->body.len);
	if (ret == 0) {
		page_flash(r, "notify_saved");
		req_redirect(r, "/settings/notifications");
		return;
	}
	page_fail(r, &f, NULL);
	if (f.db != 0)
		return;
	if ((rc = db_restart(r)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	page_keep(r, "recipients");
	page_notify_render(r, f.status, 1);
}

/* POST /settings/notifications/test */
void
page_notifications_test(struct req *r)
{
	struct fail	 f;

	if (notify_test(r, &f) == -1) {
		page_fail(r, &f, NULL);
		if (f.db == 0)
			req_redirect(r, "/settings/notifications");
		return;
	}
	page_flash(r, "notify_test_queued");
	req_redirect(r, "/settings/notifications");
}
