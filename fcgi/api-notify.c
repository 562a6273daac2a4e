/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /notifications (SPEC 10): the settings (recipients, the Slack
 * incoming webhook by hint only, which triggers are on), a test
 * notification, and the delivery log.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "tollgate.h"

#define API_NOTIFY_LIST	50	/* the delivery log's latest */

/* The settings as the API shows them: every trigger, on or off. */
struct json_object *
api_notify_settings_json(const struct notify_settings *s)
{
	struct json_object	*o = json_object_new_object(), *t, *w;
	const char		*name;
	size_t			 i;

	json_object_object_add(o, "recipients", json_tokener_parse(
	    s->recipients));
	json_object_object_add(o, "recipients_default", json_object_new_boolean(
	    strcmp(s->recipients, "[]") == 0));
	w = json_object_new_object();
	json_object_object_add(w, "configured", json_object_new_boolean(
	    s->webhook != NULL));
	api_str(w, "hint", s->webhook_hint);
	json_object_object_add(o, "slack_webhook", w);
	t = json_object_new_object();
	for (i = 0; (name = notify_trigger_name(i, NULL)) != NULL; i++)
		json_object_object_add(t, name, json_object_new_boolean(
		    notify_trigger_on(s, name)));
	json_object_object_add(o, "triggers", t);
	json_object_object_add(o, "debounce_seconds", json_object_new_int(
	    conf.notify_debounce_s));
	api_str(o, "updated_at", s->updated_at);
	return o;
}

/* GET /notifications/settings */
void
api_notify_settings(struct req *r)
{
	struct notify_settings	 s;
	enum db_rc		 rc;

	if ((rc = db_notify_settings(r, &s)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	req_json(r, 200, api_notify_settings_json(&s));
}

/* PUT /notifications/settings {recipients?, slack_webhook_url?, triggers?} */
void
api_notify_settings_put(struct req *r)
{
	struct notify_settings	 s;
	struct fail		 f;
	enum db_rc		 rc;
	int			 ret;

	ret = notify_settings_put(r, &f, r->json);
	/* The body may hold the webhook URL: it is sealed now. */
	OPENSSL_cleanse(r->body.p, r->body.len);
	if (ret == -1) {
		acct_answer(r, &f);
		return;
	}
	if ((rc = db_notify_settings(r, &s)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	req_json(r, 200, api_notify_settings_json(&s));
}

/* POST /notifications/test */
void
api_notify_test(struct req *r)
{
	struct json_object	*o;
	struct fail		 f;

	if (notify_test(r, &f) == -1) {
		acct_answer(r, &f);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "queued", json_object_new_boolean(1));
	req_json(r, 202, o);
}

/* GET /notifications: the latest, with each delivery's state. */
void
api_notify_list(struct req *r)
{
	struct json_object	*data, *o;
	struct notify_row	*n;
	size_t			 k, i;
	enum db_rc		 rc;

	if ((rc = db_notify_list(r, API_NOTIFY_LIST, &n, &k)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < k; i++) {
		o = json_object_new_object();
		api_str(o, "id", n[i].notification_id);
		api_str(o, "trigger", n[i].trigger);
		api_str(o, "subject", n[i].subject);
		api_str(o, "status", n[i].status);
		api_str(o, "created_at", n[i].created_at);
		json_object_object_add(o, "deliveries", json_tokener_parse(
		    n[i].deliveries));
		json_object_array_add(data, o);
	}
	api_list(r, data, 0);
}
