/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Idempotency-Key on creating POSTs, over real HTTP: a replay gets the
 * first answer again (the same API key, secret included) and creates
 * nothing; the same key with another body is 409; a refused request
 * keeps nothing, so its key can be used again; keys are per tenant; a
 * kept answer is given only to the user who made the request (another
 * admin of the tenant with the same key gets 409, not the secret); a
 * malformed key is 400; the stored answer does not hold the secret in
 * clear.
 */
#include <sys/types.h>

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
#include <libpq-fe.h>

#include "it-util.h"

#define KEYS	"/api/v1/api-keys"
#define INVITE	"/api/v1/members/invitations"
#define ACCEPT	"/api/v1/invitations/accept"

struct owner {
	char	 token[2048];
	char	 auth[2100];
	char	 tenant[64];
};

static int	counter;

/* Register an organization; its owner's bearer header into o. */
static void
owner_new(struct owner *o)
{
	struct it_resp		 r;
	struct json_object	*j;
	char			 body[512], email[64];
	const char		*t;

	snprintf(email, sizeof(email), "idem%ld-%d@example.com",
	    (long)getpid(), ++counter);
	snprintf(body, sizeof(body), "{\"email\":\"%s\","
	    "\"password\":\"idempotent horse 42\",\"organization\":\"Idem\"}",
	    email);
	assert_int_equal(it_request(&r, "POST", "/api/v1/auth/register",
	    "application/json", body, strlen(body), NULL), 0);
	if (r.status != 201)
		fail_msg("register: %ld %s", r.status, r.body);
	j = it_json(&r);
	assert_non_null(j);
	t = it_json_str(j, "access_token");
	assert_non_null(t);
	snprintf(o->token, sizeof(o->token), "%s", t);
	snprintf(o->auth, sizeof(o->auth), "Authorization: Bearer %s", t);
	snprintf(o->tenant, sizeof(o->tenant), "%s",
	    it_json_str(j, "tenant.id"));
	it_response_free(&r);
	/* Owners here invite: their address counts as proven (it-verify). */
	it_mark_verified(email);
}

static long
create_key(const struct owner *o, const char *idem, const char *body,
    struct it_resp *r)
{
	char	 hdr[400];

	if (idem != NULL) {
		snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", idem);
		assert_int_equal(it_request(r, "POST", KEYS, "application/json",
		    body, strlen(body), o->auth, hdr, NULL), 0);
	} else
		assert_int_equal(it_request(r, "POST", KEYS, "application/json",
		    body, strlen(body), o->auth, NULL), 0);
	return r->status;
}

static int
count_keys(const struct owner *o)
{
	struct it_resp		 r;
	struct json_object	*j, *data;
	int			 n;

	assert_int_equal(it_request(&r, "GET", KEYS "?limit=100", NULL, NULL,
	    0, o->auth, NULL), 0);
	assert_int_equal(r.status, 200);
	j = it_json(&r);
	assert_true(json_object_object_get_ex(j, "data", &data));
	n = (int)json_object_array_length(data);
	it_response_free(&r);
	return n;
}

static void
test_replay(void **state)
{
	struct it_resp	 a, b, c;
	struct owner	 o;
	char		 key[64], secret[128], id[64];
	const char	*body = "{\"name\":\"runner\",\"scopes\":[\"usage:write\"]}";

	owner_new(&o);
	snprintf(key, sizeof(key), "create-runner-%ld-%d", (long)getpid(),
	    ++counter);
	assert_int_equal(create_key(&o, key, body, &a), 201);
	assert_null(it_header(&a, "Idempotent-Replayed"));
	snprintf(secret, sizeof(secret), "%s", it_json_str(it_json(&a),
	    "secret"));
	snprintf(id, sizeof(id), "%s", it_json_str(it_json(&a), "id"));
	assert_true(strncmp(secret, "tg_", 3) == 0);

	/* The replay: the same answer, byte for byte, and nothing new. */
	assert_int_equal(create_key(&o, key, body, &b), 201);
	assert_non_null(it_header(&b, "Idempotent-Replayed"));
	assert_string_equal(a.body, b.body);
	assert_int_equal(count_keys(&o), 1);

	/* The same key, another request: 409 naming the header. */
	assert_int_equal(create_key(&o, key, "{\"name\":\"other\",\"scopes\":"
	    "[\"usage:write\"]}", &c), 409);
	assert_string_equal(it_json_str(it_json(&c), "error.code"),
	    "idempotency_key_reused");
	assert_string_equal(it_json_str(it_json(&c), "error.param"),
	    "Idempotency-Key");
	it_response_free(&c);

	/* Without a key, the same body creates a second key. */
	assert_int_equal(create_key(&o, NULL, body, &c), 201);
	assert_string_not_equal(it_json_str(it_json(&c), "id"), id);
	assert_int_equal(count_keys(&o), 2);
	it_response_free(&a);
	it_response_free(&b);
	it_response_free(&c);
}

/*
 * Invite a new address to o's tenant as an admin and accept: its bearer
 * header into m.  The accept route is limited per client address, so
 * the caller talks from an address of its own.
 */
static void
admin_new(const struct owner *o, struct owner *m)
{
	struct it_resp	 r;
	const char	*body, *link;
	char		 email[128], token[256];

	snprintf(email, sizeof(email), "idem%ld-%d-admin@example.com",
	    (long)getpid(), ++counter);
	body = it_jobj("email", email, "role", "admin", NULL);
	assert_int_equal(it_request(&r, "POST", INVITE, "application/json",
	    body, strlen(body), o->auth, NULL), 0);
	it_expect_status(&r, 201);
	link = it_must_str(&r, "link");
	assert_non_null(strrchr(link, '/'));
	snprintf(token, sizeof(token), "%s", strrchr(link, '/') + 1);
	it_response_free(&r);
	body = it_jobj("token", token, "password", "second admin horse 42",
	    NULL);
	assert_int_equal(it_request(&r, "POST", ACCEPT, "application/json",
	    body, strlen(body), NULL), 0);
	it_expect_status(&r, 200);
	it_copy_str(m->token, sizeof(m->token), &r, "access_token");
	snprintf(m->auth, sizeof(m->auth), "Authorization: Bearer %s",
	    m->token);
	it_copy_str(m->tenant, sizeof(m->tenant), &r, "tenant.id");
	assert_string_equal(m->tenant, o->tenant);
	it_response_free(&r);
}

/*
 * A kept answer is the requester's own: another admin of the tenant
 * sending the same key and body gets 409 (the message of a different
 * body, nothing of the first answer) and creates nothing, while the
 * first admin still gets the replay.
 */
static void
test_per_principal(void **state)
{
	struct it_resp	 a, b, c, d;
	struct owner	 o, m;
	char		 key[64], secret[128], id[64], source[32];
	const char	*body = "{\"name\":\"ci\",\"scopes\":[\"usage:write\"]}";

	/* 127.13.X.Y: the auth routes' per-address limit is ours alone. */
	snprintf(source, sizeof(source), "127.13.%u.%u",
	    ((unsigned int)getpid() >> 8) & 0xff, (unsigned int)getpid() & 0xff);
	it_set_source(source);
	owner_new(&o);
	admin_new(&o, &m);
	it_set_source(NULL);
	snprintf(key, sizeof(key), "per-principal-%ld-%d", (long)getpid(),
	    ++counter);
	assert_int_equal(create_key(&o, key, body, &a), 201);
	snprintf(secret, sizeof(secret), "%s", it_json_str(it_json(&a),
	    "secret"));
	snprintf(id, sizeof(id), "%s", it_json_str(it_json(&a), "id"));
	assert_true(strncmp(secret, "tg_", 3) == 0);

	/* The other admin, same key and body: 409, and nothing of a. */
	if (create_key(&m, key, body, &b) != 409)
		fail_msg("another admin got %ld: %.300s", b.status, b.body);
	assert_null(it_header(&b, "Idempotent-Replayed"));
	assert_null(strstr(b.body, secret));
	assert_null(strstr(b.body, id));
	assert_string_equal(it_json_str(it_json(&b), "error.code"),
	    "idempotency_key_reused");
	assert_string_equal(it_json_str(it_json(&b), "error.param"),
	    "Idempotency-Key");

	/* The same message as the first admin's different request. */
	assert_int_equal(create_key(&o, key, "{\"name\":\"other\","
	    "\"scopes\":[\"usage:write\"]}", &c), 409);
	assert_string_equal(it_json_str(it_json(&b), "error.message"),
	    it_json_str(it_json(&c), "error.message"));

	/* The first admin still gets the replay, secret included. */
	assert_int_equal(create_key(&o, key, body, &d), 201);
	assert_non_null(it_header(&d, "Idempotent-Replayed"));
	assert_string_equal(a.body, d.body);
	assert_int_equal(count_keys(&o), 1);
	it_response_free(&a);
	it_response_free(&b);
	it_response_free(&c);
	it_response_free(&d);
}

static void
test_refused_keeps_nothing(void **state)
{
	struct it_resp	 a, b;
	struct owner	 o;
	char		 key[64];

	owner_new(&o);
	snprintf(key, sizeof(key), "retry-%ld-%d", (long)getpid(), ++counter);
	/* A refused request (unknown scope) does not use the key up. */
	assert_int_equal(create_key(&o, key, "{\"name\":\"x\",\"scopes\":"
	    "[\"nope\"]}", &a), 400);
	assert_int_equal(create_key(&o, key, "{\"name\":\"x\",\"scopes\":"
	    "[\"usage:read\"]}", &b), 201);
	assert_null(it_header(&b, "Idempotent-Replayed"));
	it_response_free(&a);
	it_response_free(&b);
}

static void
test_per_tenant_and_bad_keys(void **state)
{
	struct it_resp	 a, b;
	struct owner	 o1, o2;
	const char	*body = "{\"name\":\"k\",\"scopes\":[\"usage:read\"]}";
	char		 key[64], big[300];

	owner_new(&o1);
	owner_new(&o2);
	snprintf(key, sizeof(key), "shared-%ld-%d", (long)getpid(), ++counter);
	/* One key string, two tenants: two independent creations. */
	assert_int_equal(create_key(&o1, key, body, &a), 201);
	assert_int_equal(create_key(&o2, key, body, &b), 201);
	assert_null(it_header(&b, "Idempotent-Replayed"));
	assert_string_not_equal(it_json_str(it_json(&a), "id"),
	    it_json_str(it_json(&b), "id"));
	it_response_free(&a);
	it_response_free(&b);

	memset(big, 'k', 256);
	big[256] = '\0';
	assert_int_equal(create_key(&o1, big, body, &a), 400);
	assert_string_equal(it_json_str(it_json(&a), "error.param"),
	    "Idempotency-Key");
	it_response_free(&a);
	assert_int_equal(count_keys(&o1), 1);
}

/* The stored answer is sealed: the secret is not in the table. */
static void
test_sealed_at_rest(void **state)
{
	struct it_resp	 a;
	struct owner	 o;
	PGconn		*c;
	PGresult	*res;
	const char	*v[1];
	char		 key[64], secret[128];

	owner_new(&o);
	snprintf(key, sizeof(key), "sealed-%ld-%d", (long)getpid(), ++counter);
	assert_int_equal(create_key(&o, key, "{\"name\":\"s\",\"scopes\":"
	    "[\"usage:read\"]}", &a), 201);
	snprintf(secret, sizeof(secret), "%s", it_json_str(it_json(&a),
	    "secret"));
	it_response_free(&a);
	c = PQconnectdb(it_env("TOLLGATE_DATABASE_URL"));
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	v[0] = o.tenant;
	PQclear(PQexecParams(c, "SELECT set_config('tollgate.tenant_id', $1, "
	    "false)", 1, NULL, v, NULL, NULL, 0));
	v[0] = key;
	res = PQexecParams(c, "SELECT status FROM idempotency_keys "
	    "WHERE idem_key = $1", 1, NULL, v, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), 1);
	assert_string_equal(PQgetvalue(res, 0, 0), "201");
	PQclear(res);
	v[0] = secret;
	res = PQexecParams(c, "SELECT count(*) FROM idempotency_keys WHERE "
	    "position(convert_to($1, 'UTF8') IN response) > 0", 1, NULL, v,
	    NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "0");
	PQclear(res);
	PQfinish(c);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_per_principal),
		cmocka_unit_test(test_refused_keeps_nothing),
		cmocka_unit_test(test_per_tenant_and_bad_keys),
		cmocka_unit_test(test_sealed_at_rest),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
