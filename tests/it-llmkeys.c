/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: /api/v1/llm-keys (SPEC 9) over real HTTP.  A key is
 * added, listed by hint only, deleted; the stored ciphertext is a
 * Fernet token that Debian's python3-cryptography opens to the key sent
 * under the stack's TOLLGATE_ENCRYPTION_KEY; a second key for one
 * provider is 409 key_exists, a second provider on the free plan 409
 * quota_exceeded with metric, limit and used; another tenant's key is a
 * 404; bad input is a 400 naming the parameter with nothing stored; a
 * member lists but does not add; every change is audited, never with
 * the key.
 */
#include <setjmp.h>
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
#define KEYS		API "/llm-keys"
#define JSON		"application/json"

static long
key_count(const struct it_owner *o)
{
	return it_owner_count(o->tenant, "SELECT count(*) FROM tenant_llm_keys "
	    "WHERE tenant_id = app_tenant()", NULL);
}

static long
audit_count(const struct it_owner *o, const char *action)
{
	return it_owner_count(o->tenant, "SELECT count(*) FROM audit_events "
	    "WHERE tenant_id = app_tenant() AND action = $1", action);
}

/* Add a key. */
static void
add(struct it_resp *r, const struct it_owner *o, const char *provider,
    const char *key)
{
	it_call(r, o->access, "POST", KEYS, it_jobj("provider", provider,
	    "api_key", key, NULL));
}

static void
test_crud(void **state)
{
	const char	*key = "sk-proj-IntegrationTest0123456789wxyz";
	struct it_resp	 r;
	struct it_owner	 o;
	struct json_object *item;
	char		 id[64], token[1024], path[128];

	(void)state;
	it_owner_new(&o, "llmkeys", "crud");
	add(&r, &o, "openai", key);
	it_expect_status(&r, 201);
	it_expect_str(&r, "provider", "openai");
	it_expect_str(&r, "key_hint", "...wxyz");
	if (strstr(r.body, "IntegrationTest") != NULL ||
	    strstr(r.body, "api_key") != NULL)
		it_deferred_fail("the key came back: %s", r.body);
	it_copy_str(id, sizeof(id), &r, "id");
	assert_non_null(it_json_str(it_json(&r), "created_at"));
	it_response_free(&r);

	it_call(&r, o.access, "GET", KEYS, NULL);
	it_expect_status(&r, 200);
	item = json_object_array_get_idx(json_object_object_get(it_json(&r),
	    "data"), 0);
	if (item == NULL || strcmp(it_json_str(item, "id"), id) != 0 ||
	    strcmp(it_json_str(item, "provider"), "openai") != 0 ||
	    strcmp(it_json_str(item, "key_hint"), "...wxyz") != 0)
		it_deferred_fail("list: %s", r.body);
	if (strstr(r.body, "IntegrationTest") != NULL ||
	    strstr(r.body, "gAAAAA") != NULL)
		it_deferred_fail("the list shows the key: %s", r.body);
	it_response_free(&r);

	/* The stored token opens in Python to the key sent, and only it. */
	it_owner_sql(token, sizeof(token), o.tenant, "SELECT ciphertext FROM "
	    "tenant_llm_keys WHERE tenant_id = app_tenant()", 0, NULL);
	assert_int_equal(strncmp(token, "gAAAAA", 6), 0);
	assert_null(strstr(token, "IntegrationTest"));
	if (it_sh("/usr/bin/python3 -c 'import sys; from cryptography.fernet "
	    "import Fernet; sys.exit(Fernet(sys.argv[1].encode()).decrypt("
	    "sys.argv[2].encode()) != sys.argv[3].encode())' '%s' '%s' '%s'",
	    it_env("TOLLGATE_ENCRYPTION_KEY"), token, key) != 0)
		it_deferred_fail("python3-cryptography did not open the "
		    "stored token to the key");
	assert_int_equal(it_owner_count(o.tenant, "SELECT count(*) FROM "
	    "audit_events WHERE tenant_id = app_tenant() AND details::text "
	    "LIKE '%IntegrationTest%'", NULL), 0);

	snprintf(path, sizeof(path), KEYS "/%s", id);
	it_call(&r, o.access, "DELETE", path, NULL);
	it_expect_status(&r, 204);
	it_response_free(&r);
	it_call(&r, o.access, "DELETE", path, NULL);
	it_expect_code(&r, 404, "not_found", "deleted twice");
	it_response_free(&r);
	it_call(&r, o.access, "GET", KEYS, NULL);
	it_expect_status(&r, 200);
	if (json_object_array_length(json_object_object_get(it_json(&r),
	    "data")) != 0)
		it_deferred_fail("list after delete: %s", r.body);
	it_response_free(&r);
	assert_int_equal(key_count(&o), 0);
	assert_int_equal(audit_count(&o, "llm_key.added"), 1);
	assert_int_equal(audit_count(&o, "llm_key.deleted"), 1);
	it_deferred_check();
}

static void
test_conflicts(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	struct json_object *e;

	(void)state;
	it_owner_new(&o, "llmkeys", "409");
	add(&r, &o, "anthropic", "sk-ant-api03-first-key-0001");
	it_expect_status(&r, 201);
	it_response_free(&r);
	add(&r, &o, "anthropic", "sk-ant-api03-second-key-002");
	it_expect_code(&r, 409, "key_exists", "a second anthropic key");
	it_response_free(&r);
	/* The free plan allows one provider. */
	add(&r, &o, "groq", "gsk_another-provider-key-03");
	it_expect_code(&r, 409, "quota_exceeded", "a second provider");
	if (!it_json_get(it_json(&r), "error", &e) ||
	    it_json_str(e, "metric") == NULL ||
	    strcmp(it_json_str(e, "metric"), "llm_providers") != 0 ||
	    json_object_get_int64(json_object_object_get(e, "limit")) != 1 ||
	    json_object_get_int64(json_object_object_get(e, "used")) != 1)
		it_deferred_fail("quota error without metric, limit, used: "
		    "%s", r.body);
	it_response_free(&r);
	assert_int_equal(key_count(&o), 1);
	assert_int_equal(audit_count(&o, "llm_key.added"), 1);
	it_deferred_check();
}

static void
test_other_tenant(void **state)
{
	struct it_resp	 r;
	struct it_owner	 a, b;
	char		 id[64], path[128];

	(void)state;
	it_owner_new(&a, "llmkeys", "ta");
	it_owner_new(&b, "llmkeys", "tb");
	add(&r, &a, "mistral", "mistral-key-of-tenant-a-xyz");
	it_expect_status(&r, 201);
	it_copy_str(id, sizeof(id), &r, "id");
	it_response_free(&r);
	snprintf(path, sizeof(path), KEYS "/%s", id);
	it_call(&r, b.access, "DELETE", path, NULL);
	it_expect_code(&r, 404, "not_found", "another tenant's key");
	it_response_free(&r);
	it_call(&r, b.access, "DELETE", KEYS "/not-a-uuid", NULL);
	it_expect_code(&r, 404, "not_found", "not a uuid");
	it_response_free(&r);
	it_call(&r, b.access, "DELETE", KEYS
	    "/00000000-0000-4000-8000-000000000000", NULL);
	it_expect_code(&r, 404, "not_found", "absent");
	it_response_free(&r);
	it_call(&r, b.access, "GET", KEYS, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, id) != NULL)
		it_deferred_fail("another tenant's key listed: %s", r.body);
	it_response_free(&r);
	assert_int_equal(key_count(&a), 1);
	it_deferred_check();
}

static void
test_bad_input(void **state)
{
	static const struct {
		const char	*body;
		const char	*param;
	} bad[] = {
		{ "{\"provider\": \"acme\", \"api_key\": \"sk-0123456789\"}",
		    "provider" },
		{ "{\"provider\": \"openai\", \"api_key\": \"sk-0123\"}",
		    "api_key" },	/* 7 characters */
		{ "{\"provider\": \"openai\", \"api_key\": \"sk-01\\u0001"
		    "23456789\"}", "api_key" },
		{ "{\"provider\": \"openai\", \"api_key\": \"sk-01\\u00e9"
		    "23456789\"}", "api_key" },
		{ "{\"provider\": \"openai\", \"api_key\": \"sk-01 "
		    "23456789\"}", "api_key" },
		{ "{\"provider\": \"openai\", \"api_key\": 12345678901}",
		    "api_key" },
		{ "{\"provider\": \"openai\"}", "api_key" },
		{ "{\"api_key\": \"sk-0123456789\"}", "provider" },
	};
	struct it_resp	 r;
	struct it_owner	 o;
	char		 big[600], body[800];
	size_t		 i;

	(void)state;
	it_owner_new(&o, "llmkeys", "bad");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		it_call(&r, o.access, "POST", KEYS, bad[i].body);
		it_expect_param(&r, bad[i].param, bad[i].body);
		it_response_free(&r);
	}
	/* 513 characters refused, 512 and 8 accepted. */
	memset(big, 'k', 513);
	big[513] = '\0';
	snprintf(body, sizeof(body), "{\"provider\": \"openai\", "
	    "\"api_key\": \"%s\"}", big);
	it_call(&r, o.access, "POST", KEYS, body);
	it_expect_param(&r, "api_key", "513 characters");
	it_response_free(&r);
	assert_int_equal(key_count(&o), 0);
	big[512] = '\0';
	add(&r, &o, "openai", big);
	it_expect_status(&r, 201);
	it_expect_str(&r, "key_hint", "...kkkk");
	it_response_free(&r);
	it_call(&r, o.access, "GET", KEYS, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);
	assert_int_equal(key_count(&o), 1);
	it_deferred_check();
}

static void
test_member(void **state)
{
	struct it_resp	 r;
	struct it_owner	 o;
	char		 member[IT_TOKEN_MAX];

	(void)state;
	it_owner_new(&o, "llmkeys", "member");
	it_member_new(&o, "llmkeys", member, sizeof(member));
	it_call(&r, member, "GET", KEYS, NULL);
	it_expect_status(&r, 200);
	it_response_free(&r);
	it_call(&r, member, "POST", KEYS, it_jobj("provider", "google",
	    "api_key", "AIzaSy-member-key-000001", NULL));
	it_expect_code(&r, 403, "insufficient_role", "a member adding");
	it_response_free(&r);
	it_call(&r, NULL, "GET", KEYS, NULL);
	if (r.status != 401)
		it_deferred_fail("no token: %ld, want 401", r.status);
	it_response_free(&r);
	assert_int_equal(key_count(&o), 0);
	it_deferred_check();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crud),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_other_tenant),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_member),
	};

	it_init();
	it_client_init(66);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
