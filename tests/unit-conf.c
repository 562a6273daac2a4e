/* Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE). */

/*
 * Unit tests of the configuration (conf.c): defaults, the environment
 * and the TOLLGATE_CONFIG file, and every validator.  conf_load() reads
 * the process environment, so each test starts and ends with every key
 * unset; files go to a fresh temporary directory.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tollgate.h"

#define FERNET_KEY	"-_90b2xsZ2F0ZSB1bml0LXRlc3QgZmVybmV0IGtleSE="
#define FERNET_KEY2	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/* Every key of conf.c's table, and the variable naming the file. */
static const char *const	conf_env_keys[] = {
	"TOLLGATE_DATABASE_URL",
	"TOLLGATE_OWNER_DATABASE_URL",
	"TOLLGATE_LISTEN",
	"TOLLGATE_WORKERS",
	"TOLLGATE_PUBLIC_URL",
	"TOLLGATE_JWT_SECRET",
	"TOLLGATE_ENCRYPTION_KEY",
	"TOLLGATE_ENCRYPTION_KEY_PREVIOUS",
	"TOLLGATE_USER",
	"TOLLGATE_SOCKET_GROUP",
	"TOLLGATE_PIDFILE",
	"TOLLGATE_SQL_DIR",
	"TOLLGATE_TEMPLATE_DIR",
	"SMTP_URL",
	"SMTP_FROM",
	"TOLLGATE_STATEMENT_TIMEOUT_MS",
	"TOLLGATE_WORK_INTERVAL",
	"TOLLGATE_LOG_LEVEL",
	"TOLLGATE_RATE_AUTH_IP",
	"TOLLGATE_RATE_METERING",
	"TOLLGATE_RATE_PLATFORM",
	"TOLLGATE_LOGIN_FAIL_MAX",
	"TOLLGATE_SESSION_IDLE",
	"TOLLGATE_SESSION_MAX",
	"TOLLGATE_CONFIG",
};

struct fixture {
	char		 dir[64];	/* "" when no directory was made */
	char		 path[128];	/* the config file or "" */
	struct conf	 c;
	const char	*cause;
};

/*
 * Unset the keys above and, in case the table has grown since, any
 * other TOLLGATE_* or SMTP_* variable of the environment (environ
 * is declared by <unistd.h> under _GNU_SOURCE).
 */
static void
env_clear(void)
{
	char	 name[256];
	size_t	 i, n;
	int	 again;

	for (i = 0; i < sizeof(conf_env_keys) / sizeof(conf_env_keys[0]); i++)
		unsetenv(conf_env_keys[i]);
	do {
		again = 0;
		for (i = 0; environ != NULL && environ[i] != NULL; i++) {
			if (strncmp(environ[i], "TOLLGATE_", 9) != 0 &&
			    strncmp(environ[i], "SMTP_", 5) != 0)
				continue;
			n = strcspn(environ[i], "=");
			if (n >= sizeof(name))
				continue;
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name);
			again = 1;	/* environ changed under us */
			break;
		}
	} while (again);
}

static void
env_set(const char *key, const char *val)
{
	assert_int_equal(setenv(key, val, 1), 0);
}

static int
setup(void **state)
{
	struct fixture	*f;

	env_clear();
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	conf_free(&f->c);
	if (f->path[0] != '\0')
		unlink(f->path);
	if (f->dir[0] != '\0')
		rmdir(f->dir);
	free(f);
	env_clear();
	return 0;
}

/* Write the config file and point TOLLGATE_CONFIG at it. */
static void
file_write(struct fixture *f, const char *text)
{
	FILE	*fp;

	if (f->dir[0] == '\0') {
		snprintf(f->dir, sizeof(f->dir), "/tmp/unit-conf.XXXXXX");
		if (mkdtemp(f->dir) == NULL) {
			f->dir[0] = '\0';
			fail_msg("mkdtemp failed");
		}
	}
	snprintf(f->path, sizeof(f->path), "%s/tollgate.conf", f->dir);
	assert_non_null(fp = fopen(f->path, "w"));
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	env_set("TOLLGATE_CONFIG", f->path);
}

/* conf_load() as main.c calls it. */
static int
load(struct fixture *f)
{
	conf_free(&f->c);
	f->cause = NULL;
	return conf_load(&f->c, getenv("TOLLGATE_CONFIG"), &f->cause);
}

/* Does "cause" name "key", as "KEY: ..." or "KEY:..."? */
static void
assert_cause_names(const char *cause, const char *key)
{
	size_t	 n = strlen(key);

	assert_non_null(cause);
	if (strncmp(cause, key, n) != 0 || cause[n] != ':')
		fail_msg("cause \"%s\" does not name %s", cause, key);
}

static void
test_defaults(void **state)
{
	struct fixture	*f = *state;
	long		 cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct conf	*c = &f->c;

	assert_int_equal(load(f), 0);
	assert_null(c->database_url);
	assert_null(c->owner_database_url);
	assert_string_equal(c->listen, "unix:/run/tollgate/tollgate.sock");
	/* TOLLGATE_WORKERS=0, the default, means twice the cores. */
	assert_int_equal(c->workers, cores > 0 ? 2 * cores : 2);
	assert_string_equal(c->public_url, "http://127.0.0.1:8080");
	assert_null(c->jwt_secret);
	assert_null(c->encryption_key);
	assert_null(c->encryption_key_previous);
	assert_string_equal(c->user, "tollgate");
	assert_string_equal(c->socket_group, "www-data");
	assert_null(c->pidfile);
	assert_string_equal(c->sql_dir, TOLLGATE_DATADIR "/sql");
	assert_string_equal(c->template_dir, TOLLGATE_DATADIR "/templates");
	assert_null(c->smtp_url);
	assert_string_equal(c->smtp_from, "tollgate@localhost");
	assert_int_equal(c->statement_timeout_ms, 5000);
	assert_int_equal(c->work_interval_s, 10);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_int_equal(c->rate_auth_ip, 30);
	assert_int_equal(c->rate_metering, 6000);
	assert_int_equal(c->rate_platform, 600000);
	assert_int_equal(c->login_fail_max, 10);

	/* An empty path is no file at all. */
	conf_free(c);
	assert_int_equal(conf_load(c, "", &f->cause), 0);
	assert_string_equal(c->user, "tollgate");
}

static void
test_environment(void **state)
{
	struct fixture	*f = *state;
	struct conf	*c = &f->c;

	env_set("TOLLGATE_DATABASE_URL", "postgresql://app@db/tollgate");
	env_set("TOLLGATE_LISTEN", "127.0.0.1:9000");
	env_set("TOLLGATE_WORKERS", "4");
	env_set("TOLLGATE_PUBLIC_URL", "https://billing.example.com");
	env_set("TOLLGATE_JWT_SECRET", "0123456789abcdef0123456789abcdef");
	env_set("TOLLGATE_ENCRYPTION_KEY", FERNET_KEY);
	env_set("TOLLGATE_LOG_LEVEL", "debug");
	env_set("TOLLGATE_STATEMENT_TIMEOUT_MS", "100");
	env_set("TOLLGATE_RATE_AUTH_IP", "1000000");
	env_set("SMTP_URL", "smtps://mail.example.com:465");
	env_set("SMTP_FROM", "billing@example.com");
	assert_int_equal(load(f), 0);
	assert_string_equal(c->database_url, "postgresql://app@db/tollgate");
	assert_string_equal(c->listen, "127.0.0.1:9000");
	assert_int_equal(c->workers, 4);
	assert_string_equal(c->public_url, "https://billing.example.com");
	assert_string_equal(c->jwt_secret, "0123456789abcdef0123456789abcdef");
	assert_string_equal(c->encryption_key, FERNET_KEY);
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	assert_int_equal(c->statement_timeout_ms, 100);
	assert_int_equal(c->rate_auth_ip, 1000000);
	assert_string_equal(c->smtp_url, "smtps://mail.example.com:465");
	assert_string_equal(c->smtp_from, "billing@example.com");
	/* Untouched keys keep their defaults. */
	assert_string_equal(c->user, "tollgate");
	assert_int_equal(c->login_fail_max, 10);
}

static void
test_int_bounds(void **state)
{
	struct fixture	*f = *state;

	env_set("TOLLGATE_WORKERS", "1");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.workers, 1);
	env_set("TOLLGATE_WORKERS", "256");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.workers, 256);
	env_set("TOLLGATE_WORKERS", "257");
	assert_int_equal(load(f), -1);
	assert_cause_names(f->cause, "TOLLGATE_WORKERS");
	env_set("TOLLGATE_WORKERS", "-1");
	assert_int_equal(load(f), -1);
	assert_cause_names(f->cause, "TOLLGATE_WORKERS");
	env_set("TOLLGATE_WORKERS", " 4");
	assert_int_equal(load(f), -1);
	unsetenv("TOLLGATE_WORKERS");
	env_set("TOLLGATE_STATEMENT_TIMEOUT_MS", "99");
	assert_int_equal(load(f), -1);
	assert_cause_names(f->cause, "TOLLGATE_STATEMENT_TIMEOUT_MS");
}

static void
test_log_levels(void **state)
{
	static const struct {
		const char	*name;
		enum log_level	 level;
	} levels[] = {
		{ "error", LOG_LVL_ERROR },
		{ "warn", LOG_LVL_WARN },
		{ "info", LOG_LVL_INFO },
		{ "debug", LOG_LVL_DEBUG },
	};
	struct fixture	*f = *state;
	size_t		 i;

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		env_set("TOLLGATE_LOG_LEVEL", levels[i].name);
		assert_int_equal(load(f), 0);
		assert_int_equal(f->c.log_level, levels[i].level);
	}
}

static void
test_file(void **state)
{
	struct fixture	*f = *state;
	struct conf	*c = &f->c;

	file_write(f,
	    "# Tollgate configuration\n"
	    "\n"
	    "   # an indented comment\n"
	    "TOLLGATE_DATABASE_URL=postgresql://app:pw@db/tg?sslmode=require\n"
	    "TOLLGATE_USER = \"quoted user\"\n"
	    "\tTOLLGATE_SOCKET_GROUP='www'\n"
	    "TOLLGATE_PUBLIC_URL=https://billing.example.com/  \n"
	    "TOLLGATE_WORKERS=7\r\n"
	    "TOLLGATE_LOG_LEVEL=\"warn\"\n"
	    "SMTP_FROM=\"a#b@example.com\"\n"
	    "TOLLGATE_PIDFILE=/run/tollgate.pid");	/* no final newline */
	assert_int_equal(load(f), 0);
	assert_string_equal(c->database_url,
	    "postgresql://app:pw@db/tg?sslmode=require");
	assert_string_equal(c->user, "quoted user");
	assert_string_equal(c->socket_group, "www");
	assert_string_equal(c->public_url, "https://billing.example.com/");
	assert_int_equal(c->workers, 7);
	assert_int_equal(c->log_level, LOG_LVL_WARN);
	assert_string_equal(c->smtp_from, "a#b@example.com");
	assert_string_equal(c->pidfile, "/run/tollgate.pid");
	/* Keys the file does not name keep their defaults. */
	assert_string_equal(c->listen, "unix:/run/tollgate/tollgate.sock");
}

static void
test_environment_wins(void **state)
{
	struct fixture	*f = *state;
	struct conf	*c = &f->c;

	file_write(f,
	    "TOLLGATE_WORKERS=3\n"
	    "TOLLGATE_USER=fileuser\n"
	    "TOLLGATE_LISTEN=127.0.0.1:9001\n"
	    "TOLLGATE_SOCKET_GROUP=filegroup\n");
	env_set("TOLLGATE_WORKERS", "5");
	env_set("TOLLGATE_LISTEN", "unix:/tmp/env.sock");
	/* An empty variable is silent: the file's value stands. */
	env_set("TOLLGATE_SOCKET_GROUP", "");
	assert_int_equal(load(f), 0);
	assert_int_equal(c->workers, 5);
	assert_string_equal(c->listen, "unix:/tmp/env.sock");
	assert_string_equal(c->user, "fileuser");
	assert_string_equal(c->socket_group, "filegroup");
}

static void
test_file_value_validated(void **state)
{
	struct fixture	*f = *state;

	/* A value from the file is validated like one from the environment. */
	file_write(f, "TOLLGATE_WORKERS=many\n");
	assert_int_equal(load(f), -1);
	assert_cause_names(f->cause, "TOLLGATE_WORKERS");

	/* A good environment value hides a bad one in the file. */
	env_set("TOLLGATE_WORKERS", "2");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->c.workers, 2);
}

static void
test_file_unknown_key(void **state)
{
	struct fixture	*f = *state;

	file_write(f,
	    "TOLLGATE_USER=x\n"
	    "TOLLGATE_WROKERS=4\n");
	assert_int_equal(load(f), -1);
	assert_non_null(f->cause);
	if (strstr(f->cause, "TOLLGATE_WROKERS") == NULL)
		fail_msg("cause \"%s\" does not name the key", f->cause);
	/* The failed load left nothing allocated behind. */
	assert_null(f->c.user);
	assert_null(f->c.listen);
}

static void
test_file_errors(void **state)
{
	struct fixture	*f = *state;

	file_write(f, "TOLLGATE_USER x\n");
	assert_int_equal(load(f), -1);
	assert_non_null(f->cause);

	assert_int_equal(conf_load(&f->c, "/nonexistent/tollgate.conf",
	    &f->cause), -1);
	assert_non_null(f->cause);
	assert_non_null(strstr(f->cause, "/nonexistent/tollgate.conf"));
}

/*
 * BUG (fcgi/conf.c, conf_set for CONF_STR): the table says CONF_STR is
 * "any non-empty string" and an empty environment variable counts as
 * unset, but "TOLLGATE_DATABASE_URL=" in the file sets database_url to
 * "" (and owner_database_url too), which conf_require() then accepts.
 * Expected: the key refused with its name in cause, or left unset;
 * actual: conf_load() returns 0 with database_url == "".
 */
static void
test_file_empty_value(void **state)
{
	struct fixture	*f = *state;

	file_write(f, "TOLLGATE_DATABASE_URL=\n");
	if (load(f) == -1) {
		assert_cause_names(f->cause, "TOLLGATE_DATABASE_URL");
		return;
	}
	assert_null(f->c.database_url);
	assert_int_equal(conf_require(&f->c, "TOLLGATE_DATABASE_URL",
	    &f->cause), -1);
}

static void
test_validators(void **state)
{
	static const struct {
		const char	*key;
		const char	*val;
	} bad[] = {
		{ "TOLLGATE_WORKERS", "0x" },
		{ "TOLLGATE_WORKERS", "999" },
		{ "TOLLGATE_LISTEN", "nonsense" },
		{ "TOLLGATE_LISTEN", ":8080" },
		{ "TOLLGATE_LISTEN", "localhost:0" },
		{ "TOLLGATE_LISTEN", "localhost:65536" },
		{ "TOLLGATE_LISTEN", "unix:relative.sock" },
		{ "TOLLGATE_PUBLIC_URL", "ftp://x" },
		{ "TOLLGATE_PUBLIC_URL", "billing.example.com" },
		{ "TOLLGATE_JWT_SECRET", "0123456789abcdef0123456789abcde" },
		{ "TOLLGATE_ENCRYPTION_KEY", "not-a-key" },
		/* 43 characters, the '=' missing. */
		{ "TOLLGATE_ENCRYPTION_KEY",
		    "-_90b2xsZ2F0ZSB1bml0LXRlc3QgZmVybmV0IGtleSE" },
		/* Standard base64 ('+', '/') is not the url-safe alphabet. */
		{ "TOLLGATE_ENCRYPTION_KEY",
		    "+/90b2xsZ2F0ZSB1bml0LXRlc3QgZmVybmV0IGtleSE=" },
		/* 45 characters. */
		{ "TOLLGATE_ENCRYPTION_KEY",
		    "-_90b2xsZ2F0ZSB1bml0LXRlc3QgZmVybmV0IGtleSEA=" },
		/* Stray bits in the last character: not 32 bytes exactly. */
		{ "TOLLGATE_ENCRYPTION_KEY",
		    "-_90b2xsZ2F0ZSB1bml0LXRlc3QgZmVybmV0IGtleSF=" },
		/* 44 characters with padding inside. */
		{ "TOLLGATE_ENCRYPTION_KEY",
		    "-_90b2xsZ2F0ZSB1bml0LXRlc3Qg=mVybmV0IGtleSE=" },
		{ "TOLLGATE_ENCRYPTION_KEY_PREVIOUS", "short=" },
		{ "TOLLGATE_ENCRYPTION_KEY_PREVIOUS",
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=" },
		{ "TOLLGATE_LOG_LEVEL", "loud" },
		{ "SMTP_URL", "http://x" },
		{ "TOLLGATE_WORK_INTERVAL", "0" },
		{ "TOLLGATE_LOGIN_FAIL_MAX", "1001" },
	};
	struct fixture	*f = *state;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		env_clear();
		env_set(bad[i].key, bad[i].val);
		if (load(f) != -1)
			fail_msg("%s=%s accepted", bad[i].key, bad[i].val);
		assert_cause_names(f->cause, bad[i].key);
		/* A failed load frees what it had set. */
		assert_null(f->c.listen);
		assert_null(f->c.user);
	}
}

static void
test_valid_secrets(void **state)
{
	struct fixture	*f = *state;

	/* Exactly 32 bytes of secret is enough. */
	env_set("TOLLGATE_JWT_SECRET", "0123456789abcdef0123456789abcdef");
	env_set("TOLLGATE_ENCRYPTION_KEY", FERNET_KEY);
	env_set("TOLLGATE_ENCRYPTION_KEY_PREVIOUS", FERNET_KEY2);
	assert_int_equal(load(f), 0);
	assert_string_equal(f->c.jwt_secret,
	    "0123456789abcdef0123456789abcdef");
	assert_string_equal(f->c.encryption_key, FERNET_KEY);
	assert_string_equal(f->c.encryption_key_previous, FERNET_KEY2);
}

static void
test_listen_forms(void **state)
{
	static const char *const	 good[] = {
		"unix:/run/tollgate/tollgate.sock",
		"127.0.0.1:8000",
		"127.1.2.3:1",
		"[::1]:65535",
	};
	/* libfcgi trusts its peer: TCP only on loopback (SPEC 12). */
	static const char *const	 bad[] = {
		"0.0.0.0:9000",
		"10.0.0.5:9000",
		"[::]:9000",
		"localhost:9000",
	};
	struct fixture			*f = *state;
	size_t				 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		env_set("TOLLGATE_LISTEN", good[i]);
		if (load(f) != 0)
			fail_msg("TOLLGATE_LISTEN=%s refused: %s", good[i],
			    f->cause);
		assert_string_equal(f->c.listen, good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		env_set("TOLLGATE_LISTEN", bad[i]);
		if (load(f) == 0)
			fail_msg("TOLLGATE_LISTEN=%s accepted", bad[i]);
		assert_cause_names(f->cause, "TOLLGATE_LISTEN");
	}
}

static void
test_require(void **state)
{
	struct fixture	*f = *state;

	assert_int_equal(load(f), 0);
	assert_int_equal(conf_require(&f->c, "TOLLGATE_DATABASE_URL",
	    &f->cause), -1);
	assert_cause_names(f->cause, "TOLLGATE_DATABASE_URL");
	assert_int_equal(conf_require(&f->c, "TOLLGATE_JWT_SECRET",
	    &f->cause), -1);
	assert_cause_names(f->cause, "TOLLGATE_JWT_SECRET");
	f->cause = NULL;
	assert_int_equal(conf_require(&f->c, "TOLLGATE_USER", &f->cause), 0);
	assert_null(f->cause);

	env_set("TOLLGATE_DATABASE_URL", "postgresql://db/x");
	assert_int_equal(load(f), 0);
	assert_int_equal(conf_require(&f->c, "TOLLGATE_DATABASE_URL",
	    &f->cause), 0);
	/* Migrations need the owner's URL of their own (SPEC 3). */
	assert_int_equal(conf_require(&f->c, "TOLLGATE_OWNER_DATABASE_URL",
	    &f->cause), -1);
	assert_cause_names(f->cause, "TOLLGATE_OWNER_DATABASE_URL");
}

static void
test_owner_database_url(void **state)
{
	struct fixture	*f = *state;

	/*
	 * Unset: no fallback to the application's URL, which would make
	 * the application role the owner of every table.
	 */
	env_set("TOLLGATE_DATABASE_URL", "postgresql://app@db/tg");
	assert_int_equal(load(f), 0);
	assert_null(f->c.owner_database_url);

	/* Set: it stands. */
	env_set("TOLLGATE_OWNER_DATABASE_URL", "postgresql://owner@db/tg");
	assert_int_equal(load(f), 0);
	assert_string_equal(f->c.database_url, "postgresql://app@db/tg");
	assert_string_equal(f->c.owner_database_url,
	    "postgresql://owner@db/tg");

	/* The owner URL alone does not invent the application's. */
	unsetenv("TOLLGATE_DATABASE_URL");
	assert_int_equal(load(f), 0);
	assert_null(f->c.database_url);
	assert_string_equal(f->c.owner_database_url,
	    "postgresql://owner@db/tg");

	/* Nor from the file. */
	unsetenv("TOLLGATE_OWNER_DATABASE_URL");
	file_write(f, "TOLLGATE_DATABASE_URL=postgresql://file@db/tg\n");
	assert_int_equal(load(f), 0);
	assert_null(f->c.owner_database_url);
	file_write(f, "TOLLGATE_DATABASE_URL=postgresql://file@db/tg\n"
	    "TOLLGATE_OWNER_DATABASE_URL=postgresql://fowner@db/tg\n");
	assert_int_equal(load(f), 0);
	assert_string_equal(f->c.owner_database_url,
	    "postgresql://fowner@db/tg");
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_environment, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_int_bounds, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_log_levels, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_environment_wins, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_value_validated,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_unknown_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_empty_value, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_validators, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_valid_secrets, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_listen_forms, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_require, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_owner_database_url,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
