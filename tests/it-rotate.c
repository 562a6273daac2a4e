/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: `tollgate admin keys rotate` (SPEC 9).
 *
 * test_rotate: LLM keys of a few tenants and one WhatsApp channel's
 * access token (channel_connections.token, a stored secret as well) are
 * stored under key A (the stack's TOLLGATE_ENCRYPTION_KEY), and one of
 * the keys, as a run killed halfway would have left it, under a new key
 * B already.  The rotation with B primary and A previous re-encrypts the
 * others and counts that one current; every stored token then opens with
 * B alone in Debian's python3-cryptography, to the secret that was sent,
 * and no longer with A.  Run again, all are current.  With B alone and
 * one ciphertext altered in the database, that row is reported
 * unreadable by table and id (never by value), the exit status is 1 and
 * nothing is written.  Finally the stack's rows go back under A (A
 * primary, B previous), for the programs that run after this one.
 *
 * test_kill: a real kill halfway, under load.  BULK keys of tenants
 * inserted directly are stored under A; a rotation to B runs in the
 * background and gets SIGKILL once it has committed a batch, while a
 * thread keeps listing, adding and deleting one owner's keys through
 * the API: every request succeeds, during the run and after the kill.
 * Some keys are then under B and the rest still under A; the next run
 * finishes the job (what the killed one wrote counts as current), after
 * which every key opens with B alone, and a third run finds all current.
 * The bulk is deleted and the rest goes back under A.
 *
 * The counts are global: tokens other programs left in the stack are
 * counted by a first run with A alone (which changes nothing), and
 * every later count is checked against it.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "it-util.h"

#define KEYS		"/api/v1/llm-keys"
#define CHANNELS	"/api/v1/channels"
#define PHONE		"1055501234"	/* the Graph emulator's */
#define OWNERS		4
#define PY		"/usr/bin/python3 -c 'import sys; " \
			"from cryptography.fernet import Fernet; "
#define OUT_MAX		65536
#define BULK		4000		/* keys of test_kill: 20 batches */
#define BULK_PER	8		/* one per provider, a tenant's most */
#define WAIT_MS		30000.0		/* the longest wait */

extern char	**environ;

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
static char		 wa_token[64];	/* t[0]'s WhatsApp token */
static char		 wa_id[64];	/* its channel */
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

/* A new Fernet key: url-safe base64 of 32 random bytes, with padding. */
static void
new_key(char *buf, size_t bufsz)
{
	sh_line(buf, bufsz, "/usr/bin/python3 -c 'import base64, os; "
	    "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'");
	assert_int_equal(strlen(buf), 44);
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

/* Does token "tok" open with "key" alone, to "want"? */
static int
opens(const char *tok, const char *key, const char *want)
{
	return it_sh(PY "sys.exit(Fernet(sys.argv[1].encode()).decrypt("
	    "sys.argv[2].encode()) != sys.argv[3].encode())' '%s' '%s' '%s' "
	    "2>/dev/null", key, tok, want) == 0;
}

/* Does a tenant's stored token open with "key" alone, to the key sent? */
static int
opens_with(const struct tenant *x, const char *key)
{
	char	 tok[1024];

	stored(x, tok, sizeof(tok));
	return opens(tok, key, x->key);
}

/* t[0] connects a WhatsApp channel through the API: another secret. */
static void
channel_connect(void)
{
	struct it_resp	 r;

	/* Graph's form (^EAA[A-Za-z0-9]{16,}$), unique to the run. */
	snprintf(wa_token, sizeof(wa_token), "EAArotate%ldx0123456789",
	    (long)getpid());
	it_call(&r, t[0].o.access, "POST", CHANNELS "/whatsapp", it_jobj(
	    "phone_number_id", PHONE, "access_token", wa_token, NULL));
	it_expect_status(&r, 201);
	it_copy_str(wa_id, sizeof(wa_id), &r, "id");
	it_response_free(&r);
}

/* The stored token of t[0]'s channel, into buf. */
static void
channel_stored(char *buf, size_t bufsz)
{
	const char	*v[1] = { wa_id };

	it_owner_sql(buf, bufsz, t[0].o.tenant, "SELECT token FROM "
	    "channel_connections WHERE tenant_id = app_tenant() AND "
	    "channel_id = $1", 1, v);
	if (strncmp(buf, "gAAAAA", 6) != 0)
		fail_msg("stored token of channel %s: %s", wa_id, buf);
}

/* Does the channel's token open with "key" alone, to the token sent? */
static int
channel_opens_with(const char *key)
{
	char	 tok[1024];

	channel_stored(tok, sizeof(tok));
	return opens(tok, key, wa_token);
}

/*
 * Every tenant's key and the channel's token open with "key" alone
 * (called "name") and no longer with "old"; none shows in out.
 */
static void
all_under(const char *key, const char *old, const char *name)
{
	size_t	 i;

	for (i = 0; i < OWNERS; i++) {
		if (!opens_with(&t[i], key))
			it_deferred_fail("key %s does not open with %s alone",
			    t[i].id, name);
		if (opens_with(&t[i], old))
			it_deferred_fail("key %s still opens with the old key",
			    t[i].id);
		if (strstr(out, t[i].key) != NULL)
			it_deferred_fail("the output shows a key");
	}
	if (!channel_opens_with(key))
		it_deferred_fail("channel %s does not open with %s alone",
		    wa_id, name);
	if (channel_opens_with(old))
		it_deferred_fail("channel %s still opens with the old key",
		    wa_id);
	if (strstr(out, wa_token) != NULL)
		it_deferred_fail("the output shows a channel token");
}

static void
test_rotate(void **state)
{
	struct it_resp	 r;
	struct counts	 c;
	const char	*a = it_env("TOLLGATE_ENCRYPTION_KEY");
	char		 b[128], cmd[2048], tok[1024], want[256];
	char		 chan[1024];
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
	channel_connect();
	assert_true(channel_opens_with(a));

	/* A alone: everything readable is current, nothing is written. */
	st = rotate(a, NULL, &c);
	assert_int_equal(c.rotated, 0);
	assert_true(c.current >= OWNERS + 1);
	total = c.current + c.unreadable;
	bad = c.unreadable;
	assert_int_equal(st, bad > 0 ? 1 : 0);

	new_key(b, sizeof(b));

	/* The last tenant's key as a killed run left it: under B already. */
	snprintf(cmd, sizeof(cmd), PY "print(Fernet(sys.argv[1].encode())."
	    "encrypt(sys.argv[2].encode()).decode())' '%s' '%s'", b,
	    t[OWNERS - 1].key);
	sh_line(tok, sizeof(tok), cmd);
	store(&t[OWNERS - 1], tok);

	/* B primary, A previous: all the rest, the channel's too. */
	st = rotate(b, a, &c);
	assert_int_equal(c.rotated, total - bad - 1);
	assert_int_equal(c.current, 1);
	assert_int_equal(c.unreadable, bad);
	assert_int_equal(st, bad > 0 ? 1 : 0);
	all_under(b, a, "B");
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
	channel_stored(chan, sizeof(chan));
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
	channel_stored(cmd, sizeof(cmd));
	if (strcmp(cmd, chan) != 0)
		it_deferred_fail("channel %s changed", wa_id);

	/* Back under A for the programs after this one. */
	store(&t[1], t[1].token);
	st = rotate(a, b, &c);
	assert_int_equal(c.rotated, total - bad);
	assert_int_equal(c.current, 0);
	assert_int_equal(c.unreadable, bad);
	assert_int_equal(st, bad > 0 ? 1 : 0);
	all_under(a, b, "A");
	it_deferred_check();
}

/*
 * test_kill's bulk: tenants and keys inserted as the database owner on
 * one connection of its own, whose temporary tables remember the
 * tenants (row-level security hides them otherwise) and the tokens
 * sent.  Tenants, not owners: one key per provider makes 500 tenants,
 * and registering as many owners through the API (some 30 ms each)
 * would take longer than the rest of the program.  Each function binds
 * each tenant in turn, as the row-level security policies want.
 */
static PGconn	*bulk;

static const char bulk_setup[] =
    "CREATE TEMP TABLE bulk_tenants (tenant_id uuid PRIMARY KEY);"
    "CREATE TEMP TABLE bulk_sent (label text PRIMARY KEY, token text);"
    /* BULK_PER keys (one per provider) a tenant, labelled bulk-<n>. */
    "CREATE FUNCTION pg_temp.bulk_add(p_name text, p_tokens text[])"
    "  RETURNS bigint LANGUAGE plpgsql AS $$ "
    "DECLARE"
    "  prov text[] := ARRAY['openai', 'anthropic', 'google', 'mistral',"
    "      'azure_openai', 'groq', 'openrouter', 'custom'];"
    "  n int := cardinality(p_tokens);"
    "  t uuid;"
    "BEGIN"
    "  FOR i IN 0 .. (n - 1) / 8 LOOP"
    "    t := gen_random_uuid();"
    "    PERFORM set_config('tollgate.tenant_id', t::text, true);"
    "    INSERT INTO tenants (tenant_id, name) VALUES (t, p_name);"
    "    INSERT INTO tenant_llm_keys (tenant_id, provider, label,"
    "        ciphertext, key_hint)"
    "      SELECT t, prov[k], 'bulk-' || (i * 8 + k - 1),"
    "        p_tokens[i * 8 + k], '...bulk'"
    "      FROM generate_series(1, least(8, n - i * 8)) k;"
    "    INSERT INTO pg_temp.bulk_tenants VALUES (t);"
    "  END LOOP;"
    "  INSERT INTO pg_temp.bulk_sent SELECT 'bulk-' || (o - 1), u.tok"
    "    FROM unnest(p_tokens) WITH ORDINALITY u(tok, o);"
    "  RETURN n;"
    "END $$;"
    "CREATE FUNCTION pg_temp.bulk_rows()"
    "  RETURNS TABLE (label text, token text) LANGUAGE plpgsql AS $$ "
    "DECLARE"
    "  t uuid;"
    "BEGIN"
    "  FOR t IN SELECT b.tenant_id FROM pg_temp.bulk_tenants b LOOP"
    "    PERFORM set_config('tollgate.tenant_id', t::text, true);"
    "    RETURN QUERY SELECT k.label, k.ciphertext FROM tenant_llm_keys k"
    "      WHERE k.tenant_id = t;"
    "  END LOOP;"
    "END $$;"
    /* The tenants go, their keys with them (ON DELETE CASCADE). */
    "CREATE FUNCTION pg_temp.bulk_drop()"
    "  RETURNS bigint LANGUAGE plpgsql AS $$ "
    "DECLARE"
    "  t uuid;"
    "  n bigint := 0;"
    "BEGIN"
    "  FOR t IN SELECT b.tenant_id FROM pg_temp.bulk_tenants b LOOP"
    "    PERFORM set_config('tollgate.tenant_id', t::text, true);"
    "    DELETE FROM tenants WHERE tenant_id = t;"
    "    n := n + 1;"
    "  END LOOP;"
    "  DELETE FROM pg_temp.bulk_tenants;"
    "  DELETE FROM pg_temp.bulk_sent;"
    "  RETURN n;"
    "END $$;";

/* A statement on the bulk's connection: the first value into buf. */
static void
bulk_sql(char *buf, size_t bufsz, const char *sql, int n,
    const char *const *v)
{
	PGresult	*res;
	char		 why[512];
	int		 ok;

	res = PQexecParams(bulk, sql, n, NULL, v, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK;
	snprintf(why, sizeof(why), "%s", PQerrorMessage(bulk));
	if (ok && buf != NULL)
		snprintf(buf, bufsz, "%s", PQntuples(res) > 0 ?
		    PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	if (!ok)
		fail_msg("bulk: %.60s: %s", sql, why);
}

/* All a command's standard output, NUL-terminated (the caller frees). */
static char *
sh_all(const char *cmd)
{
	FILE	*p;
	char	*buf, *more;
	size_t	 n = 0, cap = 65536, got;

	buf = it_alloc(cap);
	if ((p = popen(cmd, "r")) == NULL)
		fail_msg("popen: %.60s", cmd);
	while ((got = fread(buf + n, 1, cap - 1 - n, p)) > 0)
		if ((n += got) == cap - 1) {
			if ((more = realloc(buf, cap * 2)) == NULL)
				fail_msg("out of memory");
			buf = more;
			cap *= 2;
		}
	buf[n] = '\0';
	if (pclose(p) != 0)
		fail_msg("%.60s: failed", cmd);
	return buf;
}

/*
 * BULK keys under "key", made in one python3 call as an array literal
 * (a token has no character to quote) and inserted in one statement.
 * The key of label bulk-<n> is "sk-rotate-<pid>-bulk-<n>".
 */
static void
bulk_load(const char *key)
{
	PGresult	*res;
	char		 cmd[1024], name[64], n[32];
	char		*toks;
	const char	*v[2] = { name, NULL };

	if ((bulk = PQconnectdb(it_env("TOLLGATE_OWNER_DATABASE_URL"))) ==
	    NULL || PQstatus(bulk) != CONNECTION_OK)
		fail_msg("owner connection: %s", bulk != NULL ?
		    PQerrorMessage(bulk) : "out of memory");
	res = PQexec(bulk, bulk_setup);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("bulk setup: %s", PQerrorMessage(bulk));
	PQclear(res);
	snprintf(cmd, sizeof(cmd), PY "f = Fernet(sys.argv[1].encode()); "
	    "print(\"{\" + \",\".join(f.encrypt((\"sk-rotate-\" + sys.argv[2] "
	    "+ \"-bulk-\" + str(i)).encode()).decode() for i in "
	    "range(int(sys.argv[3]))) + \"}\")' '%s' '%ld' '%d'", key,
	    (long)getpid(), BULK);
	toks = sh_all(cmd);
	snprintf(name, sizeof(name), "rotate bulk %ld", (long)getpid());
	v[1] = toks;
	bulk_sql(n, sizeof(n), "SELECT pg_temp.bulk_add($1, $2)", 2, v);
	free(toks);
	assert_int_equal(atol(n), BULK);
}

/* Bulk keys whose token is no longer the one sent (a batch written). */
static long
bulk_changed(void)
{
	char	 n[32];

	bulk_sql(n, sizeof(n), "SELECT count(*) FROM pg_temp.bulk_rows() r "
	    "JOIN pg_temp.bulk_sent s USING (label) WHERE r.token <> s.token",
	    0, NULL);
	return atol(n);
}

/*
 * How many bulk keys open with "b" alone to the key sent (n[0]), with
 * "a" alone (n[1]), with neither (n[2]): in one python3 call over a
 * file of all of them.
 */
static void
bulk_under(const char *b, const char *a, long n[3])
{
	PGresult	*res;
	FILE		*f;
	char		 path[] = "/tmp/it-rotate-XXXXXX";
	char		 cmd[1024], line[128];
	int		 fd, i;

	res = PQexec(bulk, "SELECT label, token FROM pg_temp.bulk_rows()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("bulk rows: %s", PQerrorMessage(bulk));
	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		fail_msg("%s", path);
	for (i = 0; i < PQntuples(res); i++)
		fprintf(f, "%s %s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1));
	PQclear(res);
	if (fclose(f) != 0)
		fail_msg("%s", path);
	snprintf(cmd, sizeof(cmd), PY "b = Fernet(sys.argv[1].encode()); "
	    "a = Fernet(sys.argv[2].encode())\n"
	    "def opens(f, tok, want):\n"
	    "    try:\n"
	    "        return f.decrypt(tok.encode()) == want\n"
	    "    except Exception:\n"
	    "        return False\n"
	    "n = [0, 0, 0]\n"
	    "for row in open(sys.argv[3]):\n"
	    "    label, tok = row.split()\n"
	    "    want = (\"sk-rotate-\" + sys.argv[4] + \"-\" + label)."
	    "encode()\n"
	    "    n[0 if opens(b, tok, want) else 1 if opens(a, tok, want) "
	    "else 2] += 1\n"
	    "print(*n)' '%s' '%s' '%s' '%ld'", b, a, path, (long)getpid());
	sh_line(line, sizeof(line), cmd);
	unlink(path);
	if (sscanf(line, "%ld %ld %ld", &n[0], &n[1], &n[2]) != 3)
		fail_msg("bulk check: %s", line);
	print_message("bulk: %ld under B, %ld under A, %ld neither\n", n[0],
	    n[1], n[2]);
}

/* The tenants of the bulk go; their number. */
static long
bulk_drop(void)
{
	char	 n[32];

	bulk_sql(n, sizeof(n), "SELECT pg_temp.bulk_drop()", 0, NULL);
	return atol(n);
}

/*
 * The load: one owner's requests, one after another from a thread of
 * its own, until stopped, each cycle listing the keys and channels,
 * adding a key and deleting it again (so none is left to count).  A
 * request answered otherwise than expected is counted and the first
 * kept: the main thread reports (the checks' helpers are its own).
 */
struct load {
	pthread_mutex_t	 mu;
	pthread_t	 th;
	int		 running;
	int		 stop;
	long		 done;		/* answered as wanted */
	long		 failed;	/* the others */
	char		 first[256];	/* the first of those */
	struct it_owner	 o;
};

static struct load	 load = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* One request; with "id", the id of what it created into it. */
static void
load_req(CURL *h, const char *method, const char *path, const char *json,
    long want, char *id, size_t idsz)
{
	struct it_resp		 r;
	struct json_object	*o, *v;
	char			 auth[IT_TOKEN_MAX + 32];
	const char		*hdrs[2] = { auth, NULL };
	int			 ok;

	if (id != NULL)
		id[0] = '\0';
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    load.o.access);
	ok = it_request_on(h, &r, method, path, json != NULL ? IT_JSON : NULL,
	    json, json != NULL ? strlen(json) : 0, hdrs) == 0 &&
	    r.status == want;
	if (ok && id != NULL) {
		o = json_tokener_parse(r.body);
		if (json_object_object_get_ex(o, "id", &v))
			snprintf(id, idsz, "%s", json_object_get_string(v));
		json_object_put(o);
		ok = id[0] != '\0';
	}
	pthread_mutex_lock(&load.mu);
	if (ok)
		load.done++;
	else if (load.failed++ == 0)
		snprintf(load.first, sizeof(load.first), "%s %s: %ld %.150s",
		    method, path, r.status, r.status != 0 && r.body != NULL ?
		    r.body : r.error);
	pthread_mutex_unlock(&load.mu);
	it_response_free(&r);
}

static int
load_stopping(void)
{
	int	 stop;

	pthread_mutex_lock(&load.mu);
	stop = load.stop;
	pthread_mutex_unlock(&load.mu);
	return stop;
}

static void *
load_run(void *arg)
{
	CURL	*h = curl_easy_init();
	char	 id[64], path[128], body[256];
	long	 n;

	(void)arg;
	for (n = 0; h != NULL && !load_stopping(); n++) {
		load_req(h, "GET", KEYS, NULL, 200, NULL, 0);
		load_req(h, "GET", CHANNELS, NULL, 200, NULL, 0);
		snprintf(body, sizeof(body), "{\"provider\":\"mistral\","
		    "\"api_key\":\"sk-load-%ld-%ld-value\"}", (long)getpid(),
		    n);
		load_req(h, "POST", KEYS, body, 201, id, sizeof(id));
		if (id[0] == '\0')
			continue;
		snprintf(path, sizeof(path), KEYS "/%s", id);
		load_req(h, "DELETE", path, NULL, 204, NULL, 0);
	}
	if (h == NULL) {
		pthread_mutex_lock(&load.mu);
		load.failed++;
		snprintf(load.first, sizeof(load.first), "no curl handle");
		pthread_mutex_unlock(&load.mu);
	}
	curl_easy_cleanup(h);
	return NULL;
}

/* Requests made so far, answered as expected or not. */
static long
load_count(void)
{
	long	 n;

	pthread_mutex_lock(&load.mu);
	n = load.done + load.failed;
	pthread_mutex_unlock(&load.mu);
	return n;
}

/* Wait until the load has made "n" requests more. */
static void
load_more(long n)
{
	double	 deadline = it_now_ms() + WAIT_MS;

	n += load_count();
	while (load_count() < n)
		if (it_now_ms() > deadline)
			fail_msg("the load is stuck at %ld requests",
			    load_count());
		else
			it_sleep_ms(1);
}

/*
 * The load's owner, with a key of its own that the lists decrypt, on the
 * team plan with seats enough that the plan's rate limit (requests per
 * minute) never answers for it: the requests must all succeed.
 */
static void
load_owner(void)
{
	struct it_resp	 r;

	it_owner_new(&load.o, "rotate", "load");
	assert_int_equal(it_owner_sql(NULL, 0, load.o.tenant, "UPDATE tenants "
	    "SET plan = 'team', status = 'active', seats = 1000 WHERE "
	    "tenant_id = app_tenant()", 0, NULL), 1);
	it_call(&r, load.o.access, "POST", KEYS, it_jobj("provider",
	    "openai", "api_key", "sk-rotate-load-standing-value", NULL));
	it_expect_status(&r, 201);
	it_response_free(&r);
}

static void
load_start(void)
{
	load.stop = 0;
	load.done = load.failed = 0;
	load.first[0] = '\0';
	assert_int_equal(pthread_create(&load.th, NULL, load_run, NULL), 0);
	load.running = 1;
}

static void
load_stop(void)
{
	pthread_mutex_lock(&load.mu);
	load.stop = 1;
	pthread_mutex_unlock(&load.mu);
	pthread_join(load.th, NULL);
	load.running = 0;
}

/* The run in the background, and B while rows may be under it. */
static pid_t	 rot_pid;
static char	 kill_b[128];

/*
 * `tollgate admin keys rotate` with "key" primary and "prev" previous,
 * started in the background as rotate() would run it (posix_spawn: the
 * load's thread is running); both its streams to "log".
 */
static void
rotate_spawn(const char *key, const char *prev, const char *log)
{
	posix_spawn_file_actions_t	 fa;
	char				 k[128], p[128];
	char				*argv[] = { "tollgate", "admin",
					    "keys", "rotate", NULL };
	char				**env;
	size_t				 i, j, n;

	for (n = 0; environ[n] != NULL; n++)
		;
	env = it_alloc((n + 3) * sizeof(*env));
	for (i = j = 0; i < n; i++)
		if (strncmp(environ[i], "TOLLGATE_CONFIG=", 16) != 0 &&
		    strncmp(environ[i], "TOLLGATE_ENCRYPTION_KEY", 23) != 0)
			env[j++] = environ[i];
	snprintf(k, sizeof(k), "TOLLGATE_ENCRYPTION_KEY=%s", key);
	snprintf(p, sizeof(p), "TOLLGATE_ENCRYPTION_KEY_PREVIOUS=%s", prev);
	env[j++] = k;
	env[j++] = p;
	env[j] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT |
	    O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	print_message("$ keys rotate (previous key: yes) &\n");
	if (posix_spawn(&rot_pid, it_env("TOLLGATE_BIN"), &fa, NULL, argv,
	    env) != 0) {
		rot_pid = 0;
		fail_msg("posix_spawn %s", it_env("TOLLGATE_BIN"));
	}
	posix_spawn_file_actions_destroy(&fa);
	free(env);
}

/*
 * Once the run in the background has committed a batch (a bulk key
 * changed: a batch is one transaction), SIGKILL.  A run that ended
 * first proves nothing: BULK is then too small for this machine.
 */
static void
kill_halfway(const char *log)
{
	char	 msg[512] = "";
	double	 deadline = it_now_ms() + WAIT_MS;
	FILE	*f;
	int	 st;

	while (bulk_changed() == 0) {
		if (waitpid(rot_pid, &st, WNOHANG) == rot_pid) {
			rot_pid = 0;
			if ((f = fopen(log, "r")) != NULL) {
				(void)fread(msg, 1, sizeof(msg) - 1, f);
				fclose(f);
			}
			fail_msg("the rotation ended (status %d) before a "
			    "batch was seen: make BULK bigger. %s", st, msg);
		}
		if (it_now_ms() > deadline)
			fail_msg("no batch written in %.0f ms", WAIT_MS);
	}
	assert_int_equal(kill(rot_pid, SIGKILL), 0);
	assert_int_equal(waitpid(rot_pid, &st, 0), rot_pid);
	rot_pid = 0;
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		fail_msg("the rotation ended by itself (status %d) before the "
		    "kill: make BULK bigger", st);
	print_message("killed after a batch\n");
}

static void
test_kill(void **state)
{
	struct counts	 c;
	const char	*a = it_env("TOLLGATE_ENCRYPTION_KEY");
	char		 log[512];
	long		 at_kill[3], done[3], before, during;
	long long	 total, bad;
	int		 st;

	(void)state;
	load_owner();
	bulk_load(a);

	/* A alone: the counts every later run is checked against. */
	st = rotate(a, NULL, &c);
	assert_int_equal(c.rotated, 0);
	assert_true(c.current >= BULK + 1);
	total = c.current + c.unreadable;
	bad = c.unreadable;
	assert_int_equal(st, bad > 0 ? 1 : 0);

	/* B primary, A previous, killed halfway under load. */
	new_key(kill_b, sizeof(kill_b));
	snprintf(log, sizeof(log), "%s/log/it-rotate-killed.log",
	    it_env("STACK_DIR"));
	load_start();
	load_more(4);
	before = load_count();
	rotate_spawn(kill_b, a, log);
	kill_halfway(log);
	during = load_count() - before;
	bulk_under(kill_b, a, at_kill);
	if (at_kill[0] == 0 || at_kill[1] == 0 || at_kill[2] != 0)
		it_deferred_fail("after the kill: %ld keys under B, %ld under "
		    "A, %ld under neither", at_kill[0], at_kill[1], at_kill[2]);
	/* Nothing is left locked: requests go on after the kill. */
	load_more(8);
	load_stop();
	print_message("load: %ld requests, %ld during the run, %ld failed\n",
	    load.done + load.failed, during, load.failed);
	if (load.failed > 0)
		it_deferred_fail("%ld of %ld requests failed, the first: %s",
		    load.failed, load.done + load.failed, load.first);
	if (during == 0)
		it_deferred_fail("no request was answered during the run");

	/* The next run resumes: what the killed one wrote is current. */
	st = rotate(kill_b, a, &c);
	assert_int_equal(c.rotated + c.current, total - bad);
	assert_int_equal(c.unreadable, bad);
	assert_true(c.current >= at_kill[0]);
	assert_true(c.rotated >= at_kill[1]);
	assert_int_equal(st, bad > 0 ? 1 : 0);
	bulk_under(kill_b, a, done);
	if (done[0] != BULK)
		it_deferred_fail("%ld of %d keys open with B alone", done[0],
		    BULK);

	/* Again: nothing left to do. */
	st = rotate(kill_b, a, &c);
	assert_int_equal(c.rotated, 0);
	assert_int_equal(c.current, total - bad);
	assert_int_equal(c.unreadable, bad);
	assert_int_equal(st, bad > 0 ? 1 : 0);

	/* The bulk goes; the rest goes back under A. */
	assert_int_equal(bulk_drop(), (BULK + BULK_PER - 1) / BULK_PER);
	st = rotate(a, kill_b, &c);
	assert_int_equal(c.rotated, total - bad - BULK);
	assert_int_equal(c.current, 0);
	assert_int_equal(c.unreadable, bad);
	assert_int_equal(st, bad > 0 ? 1 : 0);
	kill_b[0] = '\0';
	it_deferred_check();
}

/*
 * Whatever test_kill left when it failed: the run in the background
 * killed, the load stopped, the bulk deleted and the stack's rows back
 * under A, so that the programs after this one still work.
 */
static int
kill_cleanup(void **state)
{
	struct counts	 c;

	(void)state;
	if (rot_pid > 0) {
		kill(rot_pid, SIGKILL);
		waitpid(rot_pid, NULL, 0);
		rot_pid = 0;
	}
	if (load.running)
		load_stop();
	if (bulk != NULL) {
		bulk_drop();
		PQfinish(bulk);
		bulk = NULL;
	}
	if (kill_b[0] != '\0') {
		(void)rotate(it_env("TOLLGATE_ENCRYPTION_KEY"), kill_b, &c);
		kill_b[0] = '\0';
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotate),
		cmocka_unit_test_teardown(test_kill, kill_cleanup),
	};

	it_init();
	it_client_init(67);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
