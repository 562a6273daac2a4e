/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: notifications (SPEC 10) over real HTTP, the SMTP sink
 * and the Slack emulator.  The stack's own worker is stopped for the
 * run (and started again at the end), so every delivery happens in a
 * `tollgate work --once` this program runs, when it says.
 *
 * Settings refuse bad addresses and webhooks with nothing stored and
 * keep the webhook sealed; a test notification reaches the sink (one
 * message, multipart, its Message-ID the notification's) and the
 * Slack emulator; a sink that answers 451 and a webhook that answers
 * 500 are retried later and deliver once, a 550 is not retried; a
 * burst of 1,000 events from 8 threads crossing three thresholds makes
 * three notifications; the same alert twice is debounced, a trigger
 * turned off is skipped; two workers at once deliver each of 40
 * notifications once; a worker killed mid-delivery leaves it to the
 * next, which sends it; an invitation goes through the outbox with its
 * link sealed in the database.
 */
#include "config.h"

#include <sys/types.h>

#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "it-util.h"

#define API		"/api/v1"
#define SETTINGS	API "/notifications/settings"
#define BURST_THREADS	8
#define BURST_EACH	125		/* events per thread: 1,000 in all */

static int	 seq;

/* --- the worker, the sink, the Slack emulator ----------------------------- */

static void
work_once(void)
{
	if (it_sh("'%s' work --once >/dev/null 2>&1",
	    it_env("TOLLGATE_BIN")) != 0)
		fail_msg("tollgate work --once failed");
}

/* Files of the sink holding "needle". */
static int
sink_count(const char *needle)
{
	const char	*dir = it_env("SMTP_SINK_DIR");
	struct dirent	*e;
	char		 path[1024], *buf;
	FILE		*fp;
	size_t		 n;
	DIR		*d;
	int		 count = 0;

	if ((d = opendir(dir)) == NULL)
		fail_msg("%s: cannot open", dir);
	buf = it_alloc(1024 * 1024);
	while ((e = readdir(d)) != NULL) {
		n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".eml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, 1024 * 1024 - 1, fp);
		buf[n] = '\0';
		fclose(fp);
		count += strstr(buf, needle) != NULL;
	}
	closedir(d);
	free(buf);
	return count;
}

/* The sink's mode for the next sessions (tests/smtp-sink.py). */
static void
sink_mode(const char *mode)
{
	char	 path[1024];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/.sink-mode", it_env("SMTP_SINK_DIR"));
	if ((fp = fopen(path, "w")) == NULL)
		fail_msg("%s: cannot write", path);
	fprintf(fp, "%s\n", mode);
	fclose(fp);
}

static const char *
slack(const char *path)
{
	static char	 url[1024];

	snprintf(url, sizeof(url), "%s%s", it_env("SLACK_API_BASE"), path);
	return url;
}

static void
slack_post(const char *path, const char *json, char *out, size_t outsz)
{
	struct it_resp	 r;

	if (it_request(&r, "POST", slack(path), IT_JSON, json, strlen(json),
	    NULL) == -1 || r.status != 200)
		fail_msg("slack emulator %s: %ld", path, r.status);
	if (out != NULL)
		it_copy_str(out, outsz, &r, "url");
	it_response_free(&r);
}

static void
slack_faults_clear(void)
{
	struct it_resp	 r;

	if (it_request(&r, "DELETE", slack("/_emu/faults"), NULL, NULL, 0,
	    NULL) == -1 || r.status != 200)
		fail_msg("slack emulator faults: %ld", r.status);
	it_response_free(&r);
}

/* Messages the Slack emulator received holding "needle". */
static int
slack_count(const char *needle)
{
	struct it_resp	 r;
	const char	*p;
	int		 n = 0;

	if (it_request(&r, "GET", slack("/_emu/messages"), NULL, NULL, 0,
	    NULL) == -1 || r.status != 200)
		fail_msg("slack emulator messages: %ld", r.status);
	for (p = r.body; (p = strstr(p, needle)) != NULL; p++)
		n++;
	it_response_free(&r);
	return n;
}

/* --- a tenant with its recipient and webhook ------------------------------ */

struct tenant {
	struct it_owner	 o;
	char		 rcpt[128];
	char		 hook[512];
};

/* An owner whose notifications go to rcpt, and to Slack if hook. */
static void
tenant_new(struct tenant *t, const char *tag, int hook)
{
	struct it_resp	 r;
	char		 body[1024];

	it_owner_new(&t->o, "notify", tag);
	snprintf(t->rcpt, sizeof(t->rcpt), "ops-%s-%ld-%d@example.com", tag,
	    (long)getpid(), ++seq);
	t->hook[0] = '\0';
	if (hook)
		slack_post("/_emu/webhooks", "{\"channel\":\"#alerts\"}",
		    t->hook, sizeof(t->hook));
	if (hook)
		snprintf(body, sizeof(body), "{\"recipients\":[\"%s\"],"
		    "\"slack_webhook_url\":\"%s\"}", t->rcpt, t->hook);
	else
		snprintf(body, sizeof(body), "{\"recipients\":[\"%s\"]}",
		    t->rcpt);
	it_call(&r, t->o.access, "PUT", SETTINGS, body);
	it_expect_status(&r, 200);
	it_response_free(&r);
}

/* Queue a test notification; its id (the latest of the tenant). */
static void
test_queue(const struct tenant *t, char *id, size_t idsz)
{
	struct it_resp	 r;

	it_call(&r, t->o.access, "POST", API "/notifications/test", "{}");
	it_expect_status(&r, 202);
	it_response_free(&r);
	it_owner_sql(id, idsz, t->o.tenant, "SELECT notification_id FROM "
	    "notifications WHERE tenant_id = app_tenant() ORDER BY created_at "
	    "DESC LIMIT 1", 0, NULL);
}

/* A delivery's status and attempts, "sent/1". */
static void
delivery(const struct tenant *t, const char *id, const char *transport,
    char *out, size_t outsz)
{
	const char	*v[2] = { id, transport };

	it_owner_sql(out, outsz, t->o.tenant, "SELECT status || '/' || "
	    "attempts FROM notification_deliveries WHERE tenant_id = "
	    "app_tenant() AND notification_id = $1 AND transport = $2", 2, v);
}

/* --- the tests ------------------------------------------------------------ */

static void
refused(const struct it_owner *o, const char *body, const char *param,
    const char *why)
{
	struct it_resp	 r;

	it_call(&r, o->access, "PUT", SETTINGS, body);
	if (r.status != 400)
		it_deferred_fail("%s: %ld, want 400", why, r.status);
	else
		it_expect_param(&r, param, why);
	it_response_free(&r);
}

static void
test_settings(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	struct json_object *v;
	char		 hook[512], body[1024], tok[1024], member[IT_TOKEN_MAX];

	(void)state;
	it_owner_new(&o, "notify", "settings");
	it_call(&r, o.access, "GET", SETTINGS, NULL);
	it_expect_status(&r, 200);
	if (!it_json_at(&r, "recipients_default", &v) ||
	    !json_object_get_boolean(v) || !it_json_at(&r,
	    "triggers.quota_80", &v) || !json_object_get_boolean(v))
		it_deferred_fail("defaults: %s", r.body);
	it_response_free(&r);

	refused(&o, "{\"recipients\":[\"not an address\"]}", "recipients",
	    "a bad address");
	refused(&o, "{\"recipients\":[\"a@example.com\\r\\nBcc: x@y.z\"]}",
	    "recipients", "a header in an address");
	refused(&o, "{\"recipients\":[\"1@e.com\",\"2@e.com\",\"3@e.com\","
	    "\"4@e.com\",\"5@e.com\",\"6@e.com\",\"7@e.com\",\"8@e.com\","
	    "\"9@e.com\",\"10@e.com\",\"11@e.com\"]}", "recipients",
	    "eleven addresses");
	refused(&o, "{\"slack_webhook_url\":\"https://evil.example.com/"
	    "services/T0/B0/secret\"}", "slack_webhook_url", "another host");
	refused(&o, "{\"slack_webhook_url\":\"http://127.0.0.1:1/services/"
	    "T0/B0/secret\"}", "slack_webhook_url", "a loopback port");
	refused(&o, "{\"slack_webhook_url\":42}", "slack_webhook_url",
	    "a number");
	refused(&o, "{\"triggers\":{\"nonsense\":true}}", "triggers",
	    "an unknown trigger");
	refused(&o, "{\"triggers\":{\"quota_80\":\"yes\"}}", "triggers",
	    "a string for a boolean");
	refused(&o, "{\"colour\":\"red\"}", "colour", "an unknown field");
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM "
	    "notification_settings WHERE tenant_id = app_tenant()", NULL), 0);

	slack_post("/_emu/webhooks", "{\"channel\":\"#alerts\"}", hook,
	    sizeof(hook));
	snprintf(body, sizeof(body), "{\"recipients\":[\"Ops@Example.com\"],"
	    "\"slack_webhook_url\":\"%s\",\"triggers\":{\"quota_80\":false}}",
	    hook);
	it_call(&r, o.access, "PUT", SETTINGS, body);
	it_expect_status(&r, 200);
	if (strstr(r.body, "/services/") != NULL || !it_json_at(&r,
	    "slack_webhook.configured", &v) || !json_object_get_boolean(v) ||
	    !it_json_at(&r, "triggers.quota_80", &v) ||
	    json_object_get_boolean(v) || !it_json_at(&r, "recipients.0", &v) ||
	    strcmp(json_object_get_string(v), "ops@example.com") != 0)
		it_deferred_fail("saved: %s", r.body);
	it_response_free(&r);
	it_owner_sql(tok, sizeof(tok), o.tenant, "SELECT slack_webhook FROM "
	    "notification_settings WHERE tenant_id = app_tenant()", 0, NULL);
	if (strncmp(tok, "gAAAAA", 6) != 0 || strstr(tok, "services") != NULL)
		it_deferred_fail("the webhook is not sealed: %s", tok);

	/* Removed with null; a member reads, only admins write. */
	it_call(&r, o.access, "PUT", SETTINGS, "{\"slack_webhook_url\":null}");
	it_expect_status(&r, 200);
	if (!it_json_at(&r, "slack_webhook.configured", &v) ||
	    json_object_get_boolean(v))
		it_deferred_fail("not removed: %s", r.body);
	it_response_free(&r);
	it_member_new(&o, "member", member, sizeof(member));
	it_call(&r, member, "GET", SETTINGS, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);
	it_call(&r, member, "PUT", SETTINGS, "{\"recipients\":[]}");
	it_expect_status(&r, 403);
	it_response_free(&r);
	it_deferred_check();
}

static void
test_delivery(void **state)
{
	struct tenant	 t;
	struct it_resp	 r;
	char		 id[64], mid[128], st[32];

	(void)state;
	tenant_new(&t, "deliver", 1);
	test_queue(&t, id, sizeof(id));
	work_once();
	snprintf(mid, sizeof(mid), "Message-ID: <%s.email@tollgate>", id);
	assert_int_equal(sink_count(mid), 1);
	assert_int_equal(sink_count(t.rcpt), 1);
	if (sink_count("multipart/alternative") < 1)
		it_deferred_fail("no multipart message in the sink");
	if (slack_count(t.o.tenant) != 0)
		it_deferred_fail("the Slack text shows the tenant id");
	delivery(&t, id, "email", st, sizeof(st));
	assert_string_equal(st, "sent/1");
	delivery(&t, id, "slack", st, sizeof(st));
	assert_string_equal(st, "sent/1");
	it_call(&r, t.o.access, "GET", API "/notifications", NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, id) == NULL || strstr(r.body, "\"sent\"") == NULL)
		it_deferred_fail("the log: %s", r.body);
	it_response_free(&r);
	/* Nothing is due any more: a second pass sends nothing. */
	work_once();
	assert_int_equal(sink_count(mid), 1);
	/* The webhook's key (its last segment) is in no log. */
	if (it_file_count(it_env("WORKER_LOG"), strrchr(t.hook, '/') + 1) !=
	    0 || it_file_count(it_env("TOLLGATE_LOG"), strrchr(t.hook, '/') +
	    1) != 0)
		it_deferred_fail("a log shows the webhook URL");
	it_deferred_check();
}

static void
test_retry(void **state)
{
	struct tenant	 t;
	char		 id[64], mid[128], st[32];
	const char	*v[1];

	(void)state;
	tenant_new(&t, "retry", 1);
	sink_mode("tempfail");
	slack_post("/_emu/faults", "{\"path\":\"/services/\",\"status\":500,"
	    "\"times\":-1}", NULL, 0);
	test_queue(&t, id, sizeof(id));
	work_once();
	sink_mode("accept");
	slack_faults_clear();
	snprintf(mid, sizeof(mid), "Message-ID: <%s.email@tollgate>", id);
	assert_int_equal(sink_count(mid), 0);
	delivery(&t, id, "email", st, sizeof(st));
	assert_string_equal(st, "queued/1");
	delivery(&t, id, "slack", st, sizeof(st));
	assert_string_equal(st, "queued/1");
	v[0] = id;
	assert_int_equal(it_owner_count(t.o.tenant, "SELECT count(*) FROM "
	    "notification_attempts WHERE tenant_id = app_tenant() AND "
	    "notification_id = $1 AND result = 'retry' AND detail IS NOT "
	    "NULL", id), 2);
	/* Not due before its backoff: the next pass leaves it. */
	work_once();
	delivery(&t, id, "email", st, sizeof(st));
	assert_string_equal(st, "queued/1");
	it_owner_sql(NULL, 0, t.o.tenant, "UPDATE notification_deliveries SET "
	    "next_at = now() WHERE tenant_id = app_tenant() AND "
	    "notification_id = $1", 1, v);
	work_once();
	delivery(&t, id, "email", st, sizeof(st));
	assert_string_equal(st, "sent/2");
	delivery(&t, id, "slack", st, sizeof(st));
	assert_string_equal(st, "sent/2");
	assert_int_equal(sink_count(mid), 1);

	/* Refused for good (550): failed at once, never tried again. */
	sink_mode("reject");
	test_queue(&t, id, sizeof(id));
	work_once();
	sink_mode("accept");
	delivery(&t, id, "email", st, sizeof(st));
	assert_string_equal(st, "failed/1");
	it_deferred_check();
}

struct burst {
	const char	*key;
	int		 i;
};

static void *
burst_run(void *arg)
{
	const struct burst	*b = arg;
	char			 body[256];
	int			 k;

	for (k = 0; k < BURST_EACH; k++) {
		snprintf(body, sizeof(body), "{\"events\":[{\"id\":\"burst-%ld-"
		    "%d-%d\",\"metric\":\"llm_tokens\",\"value\":15}]}",
		    (long)getpid(), b->i, k);
		(void)it_call_status(b->key, "POST", API "/usage/events", body);
	}
	return NULL;
}

static void
test_burst_debounce(void **state)
{
	pthread_t	 th[BURST_THREADS];
	struct burst	 b[BURST_THREADS];
	struct tenant	 t;
	struct it_resp	 r;
	char		 key[256], st[32];
	int		 i;

	(void)state;
	tenant_new(&t, "burst", 0);
	it_call(&r, t.o.access, "POST", API "/api-keys", "{\"name\":"
	    "\"burst\",\"scopes\":[\"usage:write\"]}");
	it_expect_status(&r, 201);
	it_copy_str(key, sizeof(key), &r, "secret");
	it_response_free(&r);
	/* 1,000 events of 15 tokens on Free (10,000, soft 20 %). */
	for (i = 0; i < BURST_THREADS; i++) {
		b[i].key = key;
		b[i].i = i;
		assert_int_equal(pthread_create(&th[i], NULL, burst_run, &b[i]),
		    0);
	}
	for (i = 0; i < BURST_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(it_owner_count(t.o.tenant, "SELECT count(*) FROM "
	    "notifications WHERE tenant_id = app_tenant() AND trigger LIKE "
	    "'quota_%'", NULL), 3);
	work_once();
	if (sink_count(t.rcpt) != 3)
		it_deferred_fail("%d messages for three thresholds",
		    sink_count(t.rcpt));

	/* The same alert again within the window: debounced. */
	it_owner_sql(NULL, 0, t.o.tenant, "INSERT INTO notifications "
	    "(tenant_id, trigger, subject) VALUES (app_tenant(), "
	    "'payment_failed', 'in_1'), (app_tenant(), 'payment_failed', "
	    "'in_1')", 0, NULL);
	it_owner_sql(st, sizeof(st), t.o.tenant, "SELECT string_agg(status, "
	    "',' ORDER BY status DESC) FROM notifications WHERE tenant_id = "
	    "app_tenant() AND trigger = 'payment_failed'", 0, NULL);
	assert_string_equal(st, "queued,debounced");
	/* A trigger turned off: skipped. */
	it_call(&r, t.o.access, "PUT", SETTINGS, "{\"triggers\":"
	    "{\"grace_ended\":false}}");
	it_expect_status(&r, 200);
	it_response_free(&r);
	it_owner_sql(NULL, 0, t.o.tenant, "INSERT INTO notifications "
	    "(tenant_id, trigger) VALUES (app_tenant(), 'grace_ended')", 0,
	    NULL);
	it_owner_sql(st, sizeof(st), t.o.tenant, "SELECT status FROM "
	    "notifications WHERE tenant_id = app_tenant() AND trigger = "
	    "'grace_ended'", 0, NULL);
	assert_string_equal(st, "skipped");
	it_deferred_check();
}

static void
test_two_workers(void **state)
{
	struct tenant	 t;
	char		 n[32];
	const char	*bin = it_env("TOLLGATE_BIN");

	(void)state;
	tenant_new(&t, "workers", 0);
	it_owner_sql(NULL, 0, t.o.tenant, "INSERT INTO notifications "
	    "(tenant_id, trigger) SELECT app_tenant(), 'test' FROM "
	    "generate_series(1, 40)", 0, NULL);
	if (it_sh("('%s' work --once & '%s' work --once & wait) >/dev/null "
	    "2>&1", bin, bin) != 0)
		fail_msg("two workers");
	work_once();
	assert_int_equal(sink_count(t.rcpt), 40);
	it_owner_sql(n, sizeof(n), t.o.tenant, "SELECT count(*) FROM "
	    "notification_attempts WHERE tenant_id = app_tenant()", 0, NULL);
	assert_string_equal(n, "40");
	it_deferred_check();
}

/* A worker killed while Slack is slow to answer: the next one sends. */
static void
test_killed_worker(void **state)
{
	struct tenant	 t;
	char		 id[64], st[32], line[64], cmd[1024];
	FILE		*p;
	pid_t		 pid;
	int		 i;

	(void)state;
	tenant_new(&t, "killed", 1);
	slack_post("/_emu/faults", "{\"path\":\"/services/\",\"delay_ms\":"
	    "4000,\"times\":1}", NULL, 0);
	test_queue(&t, id, sizeof(id));
	snprintf(line, sizeof(line), "%s", "");
	snprintf(cmd, sizeof(cmd), "'%s' work --once >/dev/null 2>&1 & "
	    "echo $!", it_env("TOLLGATE_BIN"));
	if ((p = popen(cmd, "r")) == NULL ||
	    fgets(line, sizeof(line), p) == NULL)
		fail_msg("worker start");
	pclose(p);
	pid = (pid_t)atol(line);
	/* The e-mail goes at once; then the Slack call hangs. */
	for (i = 0; i < 40 && sink_count(t.rcpt) == 0; i++)
		it_sleep_ms(100);
	it_sleep_ms(800);
	assert_int_equal(kill(pid, SIGKILL), 0);
	it_sleep_ms(300);
	slack_faults_clear();
	delivery(&t, id, "slack", st, sizeof(st));
	assert_string_equal(st, "queued/0");
	work_once();
	delivery(&t, id, "slack", st, sizeof(st));
	assert_string_equal(st, "sent/1");
	delivery(&t, id, "email", st, sizeof(st));
	assert_string_equal(st, "sent/1");
	assert_int_equal(sink_count(t.rcpt), 1);
	it_deferred_check();
}

static void
test_invitation(void **state)
{
	struct it_resp	 r;
	struct tenant	 t;
	char		 to[128], n[32];

	(void)state;
	tenant_new(&t, "invite", 0);
	it_mark_verified(t.o.email);
	snprintf(to, sizeof(to), "invitee-%ld-%d@example.com", (long)getpid(),
	    ++seq);
	it_call(&r, t.o.access, "POST", API "/members/invitations", it_jobj(
	    "email", to, "role", "member", NULL));
	it_expect_status(&r, 201);
	it_response_free(&r);
	/* Queued with its link sealed: no link in the database. */
	it_owner_sql(n, sizeof(n), t.o.tenant, "SELECT count(*) FROM "
	    "notifications WHERE tenant_id = app_tenant() AND trigger = "
	    "'member_invited' AND secret LIKE 'gAAAAA%' AND details::text "
	    "NOT LIKE '%/invite/%'", 0, NULL);
	assert_string_equal(n, "1");
	work_once();
	assert_int_equal(sink_count(to), 1);
	if (sink_count("/invite/") < 1)
		it_deferred_fail("the invitation carries no link");
	it_deferred_check();
}

static int
setup(void **state)
{
	(void)state;
	sink_mode("accept");
	return it_stack_sh("work-stop") == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	sink_mode("accept");
	return it_stack_sh("work-start") == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_delivery),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_burst_debounce),
		cmocka_unit_test(test_two_workers),
		cmocka_unit_test(test_killed_worker),
		cmocka_unit_test(test_invitation),
	};

	it_init();
	it_client_init(69);
	return cmocka_run_group_tests(tests, setup, teardown);
}
