/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Configuration: one table of keys with their defaults and validators.
 * Values come from the file named by TOLLGATE_CONFIG ("KEY=value"
 * lines, '#' comments) and from the environment, which wins.  Any bad
 * value stops start-up with one line naming the key.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tollgate.h"

#define CONF_LINE_MAX	4096
#define CONF_FILE_KEYS	64

struct conf	 conf;

enum conf_type {
	CONF_STR,		/* any non-empty string */
	CONF_INT,		/* integer within [min, max] */
	CONF_LEVEL,		/* a log level name */
	CONF_LISTEN,		/* unix:/path or host:port */
	CONF_URL,		/* http:// or https:// base URL */
	CONF_SECRET32,		/* at least 32 bytes */
	CONF_FERNET,		/* url-safe base64 of 32 bytes */
	CONF_SMTP,		/* smtp:// or smtps:// URL */
	CONF_EMAIL,		/* a bare address: local@domain */
	CONF__MAX
};

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;
	const char	*def;		/* NULL: unset unless given */
	long long	 min, max;
};

#define S(f)	offsetof(struct conf, f)
static const struct conf_key	conf_keys[] = {
	{ "TOLLGATE_DATABASE_URL", CONF_STR, S(database_url), NULL, 0, 0 },
	{ "TOLLGATE_OWNER_DATABASE_URL", CONF_STR, S(owner_database_url),
	    NULL, 0, 0 },
	{ "TOLLGATE_LISTEN", CONF_LISTEN, S(listen),
	    "unix:/run/tollgate/tollgate.sock", 0, 0 },
	{ "TOLLGATE_WORKERS", CONF_INT, S(workers), "0", 1, 256 },
	{ "TOLLGATE_PUBLIC_URL", CONF_URL, S(public_url),
	    "http://127.0.0.1:8080", 0, 0 },
	{ "TOLLGATE_JWT_SECRET", CONF_SECRET32, S(jwt_secret), NULL, 0, 0 },
	{ "TOLLGATE_ENCRYPTION_KEY", CONF_FERNET, S(encryption_key),
	    NULL, 0, 0 },
	{ "TOLLGATE_ENCRYPTION_KEY_PREVIOUS", CONF_FERNET,
	    S(encryption_key_previous), NULL, 0, 0 },
	{ "TOLLGATE_USER", CONF_STR, S(user), "tollgate", 0, 0 },
	{ "TOLLGATE_SOCKET_GROUP", CONF_STR, S(socket_group), "www-data",
	    0, 0 },
	{ "TOLLGATE_PIDFILE", CONF_STR, S(pidfile), NULL, 0, 0 },
	{ "TOLLGATE_SQL_DIR", CONF_STR, S(sql_dir), TOLLGATE_DATADIR "/sql",
	    0, 0 },
	{ "TOLLGATE_TEMPLATE_DIR", CONF_STR, S(template_dir),
	    TOLLGATE_DATADIR "/templates", 0, 0 },
	{ "SMTP_URL", CONF_SMTP, S(smtp_url), NULL, 0, 0 },
	{ "SMTP_FROM", CONF_EMAIL, S(smtp_from), "tollgate@localhost", 0, 0 },
	{ "TOLLGATE_STATEMENT_TIMEOUT_MS", CONF_INT, S(statement_timeout_ms),
	    "5000", 100, 600000 },
	{ "TOLLGATE_WORK_INTERVAL", CONF_INT, S(work_interval_s), "10",
	    1, 3600 },
	{ "TOLLGATE_LOG_LEVEL", CONF_LEVEL, S(log_level), "info", 0, 0 },
	{ "TOLLGATE_RATE_AUTH_IP", CONF_INT, S(rate_auth_ip), "30",
	    1, 1000000 },
	{ "TOLLGATE_RATE_METERING", CONF_INT, S(rate_metering), "6000",
	    1, 100000000 },
	{ "TOLLGATE_RATE_PLATFORM", CONF_INT, S(rate_platform), "600000",
	    1, 1000000000 },
	{ "TOLLGATE_LOGIN_FAIL_MAX", CONF_INT, S(login_fail_max), "10",
	    1, 1000 },
	{ "TOLLGATE_SESSION_IDLE", CONF_INT, S(session_idle_s), "7200",
	    60, 2592000 },
	{ "TOLLGATE_SESSION_MAX", CONF_INT, S(session_max_s), "86400",
	    300, 31536000 },
	{ "TOLLGATE_PAST_DUE_GRACE_DAYS", CONF_INT, S(past_due_grace_days),
	    "7", 0, 90 },
	{ "TOLLGATE_NOTIFY_DEBOUNCE", CONF_INT, S(notify_debounce_s), "900",
	    0, 86400 },
	{ "TOLLGATE_METRICS_ALLOW", CONF_STR, S(metrics_allow),
	    "127.0.0.1,::1", 0, 0 },
	{ "TOLLGATE_METRICS_TOKEN", CONF_SECRET32, S(metrics_token), NULL,
	    0, 0 },
	{ "TOLLGATE_OAUTH_STATE_SECRET", CONF_SECRET32, S(oauth_state_secret),
	    NULL, 0, 0 },
	{ "STRIPE_SECRET_KEY", CONF_STR, S(stripe_secret_key), NULL, 0, 0 },
	{ "STRIPE_WEBHOOK_SECRET", CONF_STR, S(stripe_webhook_secret), NULL,
	    0, 0 },
	{ "STRIPE_API_BASE", CONF_URL, S(stripe_api_base),
	    "https://api.stripe.com", 0, 0 },
	{ "TOLLGATE_STRIPE_METER_RATE", CONF_INT, S(stripe_meter_rate), "20",
	    1, 1000 },
	{ "SLACK_CLIENT_ID", CONF_STR, S(slack_client_id), NULL, 0, 0 },
	{ "SLACK_CLIENT_SECRET", CONF_STR, S(slack_client_secret), NULL, 0, 0 },
	{ "SLACK_API_BASE", CONF_URL, S(slack_api_base), "https://slack.com",
	    0, 0 },
	{ "META_GRAPH_BASE", CONF_URL, S(meta_graph_base),
	    "https://graph.facebook.com", 0, 0 },
	{ "TOLLGATE_GATEWAY_LISTEN", CONF_LISTEN, S(gateway_listen), NULL,
	    0, 0 },
	{ "TOLLGATE_GATEWAY_WORKERS", CONF_INT, S(gateway_workers), "8",
	    1, 256 },
	{ "TOLLGATE_GATEWAY_TENANT_STREAMS", CONF_INT,
	    S(gateway_tenant_streams), "8", 1, 1000 },
	{ "TOLLGATE_LLM_OPENAI_BASE", CONF_URL, S(llm_openai_base),
	    "https://api.openai.com", 0, 0 },
	{ "TOLLGATE_LLM_ANTHROPIC_BASE", CONF_URL, S(llm_anthropic_base),
	    "https://api.anthropic.com", 0, 0 },
	{ "TOLLGATE_LLM_MISTRAL_BASE", CONF_URL, S(llm_mistral_base),
	    "https://api.mistral.ai", 0, 0 },
	{ "TOLLGATE_LLM_GROQ_BASE", CONF_URL, S(llm_groq_base),
	    "https://api.groq.com/openai", 0, 0 },
	{ "TOLLGATE_LLM_OPENROUTER_BASE", CONF_URL, S(llm_openrouter_base),
	    "https://openrouter.ai/api", 0, 0 },
	{ "TOLLGATE_LLM_CUSTOM_BASE", CONF_URL, S(llm_custom_base), NULL,
	    0, 0 },
	{ "TOLLGATE_STORAGE_BACKEND", CONF_STR, S(storage_backend), "fs",
	    0, 0 },
	{ "TOLLGATE_STORAGE_DIR", CONF_STR, S(storage_dir),
	    "/var/lib/tollgate/storage", 0, 0 },
	{ "TOLLGATE_STORAGE_OBJECT_MAX_MB", CONF_INT, S(storage_object_max_mb),
	    "5120", 1, 1048576 },
	{ "TOLLGATE_S3_ENDPOINT", CONF_URL, S(s3_endpoint), NULL, 0, 0 },
	{ "TOLLGATE_S3_REGION", CONF_STR, S(s3_region), "us-east-1", 0, 0 },
	{ "TOLLGATE_S3_BUCKET", CONF_STR, S(s3_bucket), NULL, 0, 0 },
	{ "TOLLGATE_S3_ACCESS_KEY", CONF_STR, S(s3_access_key), NULL, 0, 0 },
	{ "TOLLGATE_S3_SECRET_KEY", CONF_STR, S(s3_secret_key), NULL, 0, 0 },
};
#undef S

/* Values read from the file, consulted when the environment is silent. */
struct conf_file {
	char	*key[CONF_FILE_KEYS];
	char	*val[CONF_FILE_KEYS];
	size_t	 n;
};

static void
conf_file_free(struct conf_file *f)
{
	size_t	 i;

	for (i = 0; i < f->n; i++) {
		free(f->key[i]);
		free(f->val[i]);
	}
	f->n = 0;
}

static char *
conf_trim(char *s)
{
	char	*e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static const struct conf_key *
conf_key_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

/*
 * Read "KEY=value" lines.  Unknown keys are refused too: a typo in a
 * deployed file should stop start-up, not be ignored.
 */
static int
conf_file_read(const char *path, struct conf_file *f, const char **cause)
{
	static char	 why[512];
	char		 line[CONF_LINE_MAX], *k, *v, *eq;
	FILE		*fp;
	int		 rc = -1, lineno = 0;
	size_t		 len;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(why, sizeof(why), "TOLLGATE_CONFIG: cannot open %s: %s",
		    path, strerror(errno));
		*cause = why;
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			snprintf(why, sizeof(why), "TOLLGATE_CONFIG: %s:%d: "
			    "line too long", path, lineno);
			goto done;
		}
		k = conf_trim(line);
		if (*k == '\0' || *k == '#')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			snprintf(why, sizeof(why), "TOLLGATE_CONFIG: %s:%d: "
			    "expected KEY=value", path, lineno);
			goto done;
		}
		*eq = '\0';
		k = conf_trim(k);
		v = conf_trim(eq + 1);
		len = strlen(v);
		if (len >= 2 && (v[0] == '"' || v[0] == '\'') &&
		    v[len - 1] == v[0]) {
			v[len - 1] = '\0';
			v++;
		}
		if (conf_key_find(k) == NULL) {
			snprintf(why, sizeof(why), "%.100s: unknown key "
			    "(%s:%d)", k, path, lineno);
			goto done;
		}
		if (f->n == CONF_FILE_KEYS) {
			snprintf(why, sizeof(why), "TOLLGATE_CONFIG: %s: too "
			    "many keys", path);
			goto done;
		}
		f->key[f->n] = xstrdup(k);
		f->val[f->n] = xstrdup(v);
		f->n++;
	}
	rc = 0;
done:
	fclose(fp);
	if (rc == -1)
		*cause = why;
	return rc;
}

static const char *
conf_lookup(const struct conf_file *f, const char *name)
{
	const char	*v;
	size_t		 i;

	if ((v = getenv(name)) != NULL && *v != '\0')
		return v;
	/* An empty value in the file means unset, as in the environment. */
	for (i = f->n; i > 0; i--)
		if (strcmp(f->key[i - 1], name) == 0)
			return *f->val[i - 1] != '\0' ? f->val[i - 1] : NULL;
	return NULL;
}

/* The strict parse that the vault uses: url-safe base64 of 32 bytes. */
static int
conf_fernet_valid(const char *v)
{
	struct fernet_key	 k;
	int			 ok;

	ok = fernet_key_parse(v, &k) == 0;
	fernet_key_wipe(&k);
	return ok;
}

/*
 * unix:/path, or host:port on loopback only: libfcgi trusts whatever
 * connects (REMOTE_ADDR, HTTPS come from the peer), so nothing but the
 * web server on this host may reach the socket.
 */
static int
conf_listen_valid(const char *v)
{
	const char	*colon;
	long long	 port;
	size_t		 hl;

	if (strncmp(v, "unix:/", 6) == 0)
		return strlen(v + 5) < 100;	/* sun_path */
	if ((colon = strrchr(v, ':')) == NULL || colon == v)
		return 0;
	hl = (size_t)(colon - v);
	if (!(strncmp(v, "127.", 4) == 0 || (hl == 5 &&
	    strncmp(v, "[::1]", 5) == 0)))
		return 0;
	return util_strtonum(colon + 1, 1, 65535, &port) == 0;
}

static int
conf_set(struct conf *c, const struct conf_key *k, const char *v,
    const char **cause)
{
	static char	 why[256];
	long long	 n;
	char		*field = (char *)c + k->off;
	const char	*bad = NULL;

	switch (k->type) {
	case CONF_INT:
		if (util_strtonum(v, k->min, k->max, &n) == -1)
			bad = "expected an integer in range";
		else
			*(int *)(void *)field = (int)n;
		break;
	case CONF_LEVEL:
		if (log_level_parse(v, (enum log_level *)(void *)field) == -1)
			bad = "expected error, warn, info or debug";
		break;
	case CONF_LISTEN:
		if (!conf_listen_valid(v))
			bad = "expected unix:/path or a loopback host:port";
		break;
	case CONF_URL:
		if (strncmp(v, "http://", 7) != 0 &&
		    strncmp(v, "https://", 8) != 0)
			bad = "expected an http:// or https:// URL";
		break;
	case CONF_SECRET32:
		if (strlen(v) < 32)
			bad = "must be at least 32 bytes";
		break;
	case CONF_FERNET:
		if (!conf_fernet_valid(v))
			bad = "expected url-safe base64 of 32 bytes";
		break;
	case CONF_SMTP:
		if (strncmp(v, "smtp://", 7) != 0 &&
		    strncmp(v, "smtps://", 8) != 0)
			bad = "expected an smtp:// or smtps:// URL";
		break;
	case CONF_EMAIL:
		/* SMTP needs the bare address: no display name, no <>. */
		if (strchr(v, '@') == NULL || strpbrk(v, " <>\r\n\t") != NULL)
			bad = "expected a bare address such as tollgate@example.com";
		break;
	default:
		break;
	}
	if (bad != NULL) {
		snprintf(why, sizeof(why), "%s: %s", k->name, bad);
		*cause = why;
		return -1;
	}
	if (k->type != CONF_INT && k->type != CONF_LEVEL)
		*(char **)(void *)field = xstrdup(v);
	return 0;
}

/*
 * Load the configuration into c.  "path" is the file to read (NULL:
 * none).  On failure *cause names the key and the problem.
 */
int
conf_load(struct conf *c, const char *path, const char **cause)
{
	struct conf_file	 f;
	const char		*v;
	size_t			 i;
	long			 cores;
	int			 rc = -1;

	memset(c, 0, sizeof(*c));
	memset(&f, 0, sizeof(f));
	if (path != NULL && *path != '\0' &&
	    conf_file_read(path, &f, cause) == -1)
		goto done;
	for (i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++) {
		v = conf_lookup(&f, conf_keys[i].name);
		if (v == NULL)
			v = conf_keys[i].def;
		if (v == NULL)
			continue;
		/* TOLLGATE_WORKERS=0 (the default) means 2 x cores. */
		if (strcmp(conf_keys[i].name, "TOLLGATE_WORKERS") == 0 &&
		    strcmp(v, "0") == 0) {
			cores = sysconf(_SC_NPROCESSORS_ONLN);
			c->workers = cores > 0 ? (int)(2 * cores) : 2;
			continue;
		}
		if (conf_set(c, &conf_keys[i], v, cause) == -1)
			goto done;
	}
	rc = 0;
done:
	conf_file_free(&f);
	if (rc == -1)
		conf_free(c);
	return rc;
}

/* Fail with the key's name when a key the command needs is unset. */
int
conf_require(const struct conf *c, const char *name, const char **cause)
{
	static char		 why[128];
	const struct conf_key	*k;

	if ((k = conf_key_find(name)) == NULL || k->type == CONF_INT ||
	    k->type == CONF_LEVEL)
		return 0;
	if (*(char *const *)(const void *)((const char *)c + k->off) != NULL)
		return 0;
	snprintf(why, sizeof(why), "%s: required but not set", name);
	*cause = why;
	return -1;
}

void
conf_free(struct conf *c)
{
	size_t	 i;
	char	**field;

	for (i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++) {
		if (conf_keys[i].type == CONF_INT ||
		    conf_keys[i].type == CONF_LEVEL)
			continue;
		field = (char **)(void *)((char *)c + conf_keys[i].off);
		if (*field != NULL && (conf_keys[i].type == CONF_SECRET32 ||
		    conf_keys[i].type == CONF_FERNET))
			explicit_bzero(*field, strlen(*field));
		free(*field);
		*field = NULL;
	}
}
