/* Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE). */

/*
 * Unit tests of the route lookup (route.c).  They assert only about the
 * health route, the rest-of-path pattern of the model route and paths
 * that no route will ever have, so they keep passing as the table grows.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tollgate.h"

#define HEALTH	"/api/v1/health"

struct lookup {
	struct arena	 arena;
	int		 id;
	const char	*params[REQ_PATH_SEGS];
	size_t		 nparams;
	char		 allow[64];
};

static int
setup(void **state)
{
	static struct lookup	 l;

	memset(&l, 0, sizeof(l));
	arena_init(&l.arena);
	*state = &l;
	return 0;
}

static int
teardown(void **state)
{
	struct lookup	*l = *state;

	arena_free(&l->arena);
	return 0;
}

static enum route_match
lookup(struct lookup *l, const char *method, const char *path)
{
	l->id = -1;
	l->nparams = 0;
	memset(l->allow, 'X', sizeof(l->allow) - 1);
	l->allow[sizeof(l->allow) - 1] = '\0';
	return route_lookup(method, path, &l->id, l->params, &l->nparams,
	    &l->arena, l->allow, sizeof(l->allow));
}

static void
test_health_table(void **state)
{
	const struct route	*rt = &routes[ROUTE_HEALTH];

	assert_string_equal(rt->method, "GET");
	assert_string_equal(rt->pattern, HEALTH);
	assert_int_equal(rt->auth, AUTH_NONE);
	assert_int_equal(rt->body, BODY_NONE);
	assert_int_equal(rt->resp, RESP_API);
	assert_ptr_equal(rt->handler, api_health);
}

static void
test_health_get(void **state)
{
	struct lookup	*l = *state;

	assert_int_equal(lookup(l, "GET", HEALTH), ROUTE_FOUND);
	assert_int_equal(l->id, ROUTE_HEALTH);
	assert_int_equal(l->nparams, 0);
}

static void
test_health_head(void **state)
{
	struct lookup	*l = *state;

	/* HEAD is answered as GET. */
	assert_int_equal(lookup(l, "HEAD", HEALTH), ROUTE_FOUND);
	assert_int_equal(l->id, ROUTE_HEALTH);
}

static void
test_health_other_methods(void **state)
{
	static const char *const	 methods[] = {
		"POST", "PUT", "PATCH", "DELETE", "get", "GETX",
	};
	struct lookup			*l = *state;
	size_t				 i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (lookup(l, methods[i], HEALTH) != ROUTE_NO_METHOD)
			fail_msg("%s %s: not ROUTE_NO_METHOD", methods[i],
			    HEALTH);
		assert_string_equal(l->allow, "GET, HEAD");
	}
}

static void
test_allow_small_buffer(void **state)
{
	char		 allow[4];
	const char	*params[REQ_PATH_SEGS];
	size_t		 nparams = 0;
	int		 id = -1;
	struct lookup	*l = *state;

	/* Too small for "GET": left empty, nothing written past it. */
	memcpy(allow, "XXXX", 4);
	assert_int_equal(route_lookup("POST", HEALTH, &id, params, &nparams,
	    &l->arena, allow, 2), ROUTE_NO_METHOD);
	assert_int_equal(allow[0], '\0');
	assert_int_equal(allow[2], 'X');
	assert_int_equal(allow[3], 'X');

	/* No buffer at all. */
	assert_int_equal(route_lookup("POST", HEALTH, &id, params, &nparams,
	    &l->arena, allow, 0), ROUTE_NO_METHOD);
}

static void
test_absent_paths(void **state)
{
	static const char *const	 paths[] = {
		"/api/v1/nope/deeper",
		"/api/v1/nope/deeper/still",
		"/no-such-page/at/all",
		HEALTH "/",			/* trailing slash */
		HEALTH "//",
		"/" HEALTH,			/* "//api/v1/health" */
		"/api//v1/health",
		"/API/V1/HEALTH",
		"api/v1/health",		/* not absolute */
		"/api/v1/health\n",
		"/api/v1/healt",
		"",
	};
	static const char *const	 methods[] = { "GET", "HEAD", "POST" };
	struct lookup			*l = *state;
	size_t				 i, j;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		for (j = 0; j < sizeof(methods) / sizeof(methods[0]); j++)
			if (lookup(l, methods[j], paths[i]) != ROUTE_NO_PATH)
				fail_msg("%s \"%s\": not ROUTE_NO_PATH",
				    methods[j], paths[i]);
}

/* "{model*}" takes the rest of the path; it never matches nothing. */
static void
test_rest_of_path(void **state)
{
	struct lookup	*l = *state;

	assert_int_equal(lookup(l, "GET", "/api/v1/llm/models/emu-gpt-small"),
	    ROUTE_FOUND);
	assert_int_equal(l->id, ROUTE_LLM_MODEL);
	assert_int_equal(l->nparams, 1);
	assert_string_equal(l->params[0], "emu-gpt-small");
	assert_int_equal(lookup(l, "GET",
	    "/api/v1/llm/models/openrouter/meta/llama-3"), ROUTE_FOUND);
	assert_int_equal(l->id, ROUTE_LLM_MODEL);
	assert_string_equal(l->params[0], "openrouter/meta/llama-3");
	assert_int_equal(lookup(l, "GET", "/api/v1/llm/models"), ROUTE_FOUND);
	assert_int_equal(l->id, ROUTE_LLM_MODELS);
	assert_int_equal(lookup(l, "GET", "/api/v1/llm/models/"),
	    ROUTE_NO_PATH);
	assert_int_equal(lookup(l, "POST", "/api/v1/llm/models/a/b"),
	    ROUTE_NO_METHOD);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_health_table),
		cmocka_unit_test_setup_teardown(test_health_get, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_health_head, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_health_other_methods,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_small_buffer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rest_of_path, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_absent_paths, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
