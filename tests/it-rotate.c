/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: `tollgate admin keys rotate` (SPEC 9).  LLM keys of a
 * few tenants are stored under key A (the stack's
 * TOLLGATE_ENCRYPTION_KEY) and one of them, as a run killed halfway
 * would have left it, under a new key B already.  The rotation with B
 * primary and A previous re-encrypts the others and counts that one
 * current; every stored token then opens with B alone in Debian's
 * python3-cryptography, to the key that was sent.  Run again, all are
 * current.  With B alone and one ciphertext altered in the database,
 * that row is reported unreadable by table and id (never by value),
 * the exit status is 1 and nothing is written.  Finally the stack's
 * rows go back under A (A primary, B previous), for the programs that
 * run after this one.
 *
 * The counts are global: tokens other programs left in the stack are
 * counted by a first run with A alone (which changes nothing), and
 * every later count is checked against it.
 */
#include <sys/wait.h>

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

#define KEYS		"/api/v1/llm-keys"
#define OWNERS		4
#define PY		"/usr/bin/python3 -c 'import sys; " \
			"from cryptography.fernet import Fernet; "
#define OUT_MAX		65536

struct tenant {
	struct it_owner	 o;
	char		 key[64];	/* the LLM key sent */
	char		 id[64];	/* its key_id */
	char		 token[1024];	/* its stored ciphertext */
};

struct counts {
	long long	 rotated;
	long long	 current;
	long long	 unreadable;
};

static struct tenant	 t[OWNERS];
static char		 out[OUT_MAX];

/* The first line of a command's standard output, into buf. */
static void
sh_line(char *buf, size_t bufsz, const char *cmd)
{
	FILE	*p;

	buf[0] = '\0';
	if ((p = popen(cmd, "r")) == NULL)
		fail_msg("popen: %s", cmd);
	if (fgets(buf, (int)bufsz, p) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (pclose(p) != 0 || buf[0] == '\0')
		fail_msg("%s: no output", cmd);
}

/*
 * `tollgate admin keys rotate` with "key" primary and "prev" previous
 * (NULL: none): its exit status, all it printed in out (both streams)
 * and the summary's counts.
 */
static int
rotate(const char *key, const char *prev, struct counts *c)
{
	char		 cmd[1024];
	const char	*s;
	FILE		*p;
	size_t		 n = 0, got;
	int		 st;

	snprintf(cmd, sizeof(cmd), "env -u TOLLGATE_CONFIG "
	    "-u TOLLGATE_ENCRYPTION_KEY_PREVIOUS TOLLGATE_ENCRYPTION_KEY='%s' "
	    "%s%s%s '%s' admin keys rotate 2>&1", key, prev != NULL ?
	    "TOLLGATE_ENCRYPTION_KEY_PREVIOUS='" : "", prev != NULL ? prev : "",
	    prev != NULL ? "'" : "", it_env("TOLLGATE_BIN"));
	print_message("$ keys rotate (previous key: %s)\n", prev != NULL ?
	    "yes" : "no");
	if ((p = popen(cmd, "r")) == NULL)
		fail_msg("popen");
	while (n < sizeof(out) - 1 &&
	    (got = fread(out + n, 1, sizeof(out) - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	st = pclose(p);
	print_message("%s", out);
	memset(c, 0, sizeof(*c));
	if ((s = strstr(out, "keys rotate: ")) == NULL ||
	    (s = strstr(out, " re-encrypted, ")) == NULL)
		fail_msg("no summary: %s", out);
	while (s > out && s[-1] != ' ')
		s--;
	if (sscanf(s, "%lld re-encrypted, %lld already current, %lld "
	    "unreadable", &c->rotated, &c->current, &c->unreadable) != 3)
		fail_msg("summary: %s", out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The stored ciphertext of a tenant's key, into buf. */
static void
stored(const struct tenant *x, char *buf, size_t bufsz)
{
	const char	*v[1] = { x->id };

	it_owner_sql(buf, bufsz, x->o.tenant, "SELECT ciphertext FROM "
	    "tenant_llm_keys WHERE tenant_id = app_tenant() AND key_id = $1",
	    1, v);
	if (strncmp(buf, "gAAAAA", 6) != 0)
		fail_msg("stored token of %s: %s", x->id, buf);
}

static void
store(const struct tenant *x, const char *tok)
{
	const char	*v[2] = { x->id, tok };

	assert_int_equal(it_owner_sql(NULL, 0, x->o.tenant, "UPDATE "
	    "tenant_llm_keys SET ciphertext = $2 WHERE tenant_id = "
	    "app_tenant() AND key_id = $1", 2, v), 1);
}

/* Does the stored token open with "key" alone, to the key sent? */
static int
opens_with(const struct tenant *x, const char *key)
{
	char	 tok[1024];

	stored(x, tok, sizeof(tok));
	return it_sh(PY "sys.exit(Fernet(sys.argv[1].encode()).decrypt("
	    "sys.argv[2].encode()) != sys.argv[3].encode())' '%s' '%s' '%s' "
	    "2>/dev/null", key, tok, x->key) == 0;
}

static void
test_rotate(void **state)
{
	struct it_resp	 r;
	struct counts	 c;
	const char	*a = it_env("TOLLGATE_ENCRYPTION_KEY");
	char		 b[128], cmd[2048], tok[1024], want[256];
	long long	 total, bad;
	size_t		 i, len;
	int		 st;

	(void)state;
	for (i = 0; i < OWNERS; i++) {
		it_owner_new(&t[i].o, "rotate", "k");
		snprintf(t[i].key, sizeof(t[i].key),
		    "sk-rotate-%ld-%zu-secret-value", (long)getpid(), i);
		it_call(&r, t[i].o.access, "POST", KEYS, it_jobj("provider",
		    "openai", "api_key", t[i].key, NULL));
		it_expect_status(&r, 201);
		it_copy_str(t[i].id, sizeof(t[i].id), &r, "id");
		it_response_free(&r);
		assert_true(opens_with(&t[i], a));
	}

	/* A alone: everything readable is current, nothing is written. */
	st = rotate(a, NULL, &c);
	assert_int_equal(c.rotated, 0);
	assert_true(c.current >= OWNERS);
	total = c.current + c.unreadable;
	bad = c.unreadable;
	assert_int_equal(st, bad > 0 ? 1 : 0);

	/* B: url-safe base64 of 32 random bytes, with padding. */
	sh_line(b, sizeof(b), "/usr/bin/python3 -c 'import base64, os; "
	    "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'");
	assert_int_equal(strlen(b), 44);

	/* The last tenant's key as a killed run left it: under B already. */
	snprintf(cmd, sizeof(cmd), PY "print(Fernet(sys.argv[1].encode())."
	    "encrypt(sys.argv[2].encode()).decode())' '%s' '%s'", b,
	    t[OWNERS - 1].key);
	sh_line(tok, sizeof(tok), cmd);
	store(&t[OWNERS - 1], tok);

	/* B primary, A previous: all the rest re-encrypted. */
	st = rotate(b, a, &c);
	assert_int_equal(c.rotated, total - bad - 1);
	assert_int_equal(c.current, 1);
	assert_int_equal(c.unreadable, bad);
	assert_int_equal(st, bad > 0 ? 1 : 0);
	for (i = 0; i < OWNERS; i++) {
		if (!opens_with(&t[i], b))
			it_deferred_fail("key %s does not open with B alone",
			    t[i].id);
		if (opens_with(&t[i], a))
			it_deferred_fail("key %s still opens with A",
			    t[i].id);
		if (strstr(out, t[i].key) != NULL)
			it_deferred_fail("the output shows a key");
	}
	/* The API still lists the keys, by hint. */
	it_call(&r, t[0].o.access, "GET", KEYS, NULL);
	it_expect_status(&r, 200);
	if (strstr(r.body, t[0].id) == NULL || strstr(r.body, "...alue") ==
	    NULL)
		it_deferred_fail("list after the rotation: %s", r.body);
	it_response_free(&r);

	/* Again: nothing left to do. */
	st = rotate(b, a, &c);
	assert_int_equal(c.rotated, 0);
	assert_int_equal(c.current, total - bad);
	assert_int_equal(c.unreadable, bad);
	assert_int_equal(st, bad > 0 ? 1 : 0);

	/* One ciphertext altered (its MAC), B alone: reported, exit 1. */
	for (i = 0; i < OWNERS; i++)
		stored(&t[i], t[i].token, sizeof(t[i].token));
	snprintf(tok, sizeof(tok), "%s", t[1].token);
	len = strlen(tok);
	tok[len - 10] = tok[len - 10] == 'A' ? 'B' : 'A';
	store(&t[1], tok);
	st = rotate(b, NULL, &c);
	assert_int_equal(st, 1);
	assert_int_equal(c.rotated, 0);
	assert_int_equal(c.current, total - bad - 1);
	assert_int_equal(c.unreadable, bad + 1);
	snprintf(want, sizeof(want), "unreadable: tenant_llm_keys.ciphertext "
	    "key_id %s (tenant %s)", t[1].id, t[1].o.tenant);
	if (strstr(out, want) == NULL)
		it_deferred_fail("no \"%s\" in the output", want);
	if (strstr(out, tok) != NULL || strstr(out, "gAAAAA") != NULL)
		it_deferred_fail("the output shows a ciphertext");
	for (i = 0; i < OWNERS; i++) {
		stored(&t[i], cmd, sizeof(cmd));
		if (strcmp(cmd, i == 1 ? tok : t[i].token) != 0)
			it_deferred_fail("key %s changed", t[i].id);
	}

	/* Back under A for the programs after this one. */
	store(&t[1], t[1].token);
	st = rotate(a, b, &c);
	assert_int_equal(c.rotated, total - bad);
	assert_int_equal(c.current, 0);
	assert_int_equal(c.unreadable, bad);
	assert_int_equal(st, bad > 0 ? 1 : 0);
	for (i = 0; i < OWNERS; i++)
		if (!opens_with(&t[i], a))
			it_deferred_fail("key %s does not open with A again",
			    t[i].id);
	it_deferred_check();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotate),
	};

	it_init();
	it_client_init(67);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
