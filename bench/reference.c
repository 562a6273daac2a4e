/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * bench/reference.c: the yardstick of SPEC section 14.  The smallest
 * libfcgi + libpq responder that answers the benchmarked routes with
 * the same SQL effect as the product and nothing else: no validation,
 * no row-level security, no rate limit, no logging.  bench/run builds
 * it fresh, serves it behind the product's own lighttpd configuration
 * with as many responders, and divides the product's figures by its
 * figures, so the targets hold whatever the machine's mood that hour.
 *
 *	reference SOCKET RESPONDERS CONNINFO
 *
 * binds the FastCGI unix socket SOCKET, forks RESPONDERS processes that
 * each hold one PostgreSQL connection (libpq string CONNINFO) and block
 * in accept, and waits.  SIGTERM or SIGINT stop them all; so does the
 * death of any one, so that a broken reference shows as errors in the
 * bench rather than as a quietly smaller pool.
 *
 * CONNINFO must name a role that reads tenants and api_keys without a
 * tenant set: bench/run gives the superuser (postgres, trust on the
 * stack's private socket).  The owner role would not do: those tables
 * FORCE row-level security, which binds even their owner, so
 * TOLLGATE_OWNER_DATABASE_URL sees no tenant rows at all.
 *
 * The metering routes (POST /api/v1/usage/events, /entitlements/check,
 * /usage/reservations) keep their state in tables of their own, which
 * bench/run creates before starting it: ref_event_ids (the dedup index),
 * ref_counters (used and reserved per tenant, metric and month) and
 * ref_reservations.  No row-level security on them, and no event rows:
 * the SQL effect SPEC 14 compares is the dedup, the counters and the
 * hold.  The tenant comes from the bearer key, looked up by its SHA-256
 * in the same statement as the route's work, so each route is one round
 * trip; the JSON body goes to PostgreSQL as it came (jsonb does the
 * parsing, nothing is checked).
 *
 * It trusts its input: a bad tenant_id or body is a database error
 * (500), not a 400.  It exists to be measured, never to be deployed.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <libpq-fe.h>
#include <openssl/sha.h>

#define RESPONDERS_MAX	64

/*
 * GET /api/v1/health: one round trip, as the product's db_ping.
 */
static const char sql_health[] = "SELECT 1";

/*
 * GET /api/v1/auth/me in one round trip.  The same reads and writes as
 * the product's auth_api_key() (a tenant key first, else a platform key;
 * last_used_at written at most once a minute), then the tenant row with
 * its effective plan as db_tenant_get() reads it.  Data-modifying CTEs
 * run to completion whether or not the query reads them.  PostgreSQL
 * builds the JSON body, which spares the responder a JSON library and
 * any escaping; the body has the fields the product answers for a key.
 * $1 is the SHA-256 of the token (bytea, binary), $2 the tenant_id of
 * the query string (NULL without one; a tenant key brings its own).
 */
static const char sql_me[] =
    "WITH ak AS (SELECT key_id, tenant_id, scopes FROM api_keys "
    "  WHERE hash = $1 AND revoked_at IS NULL), "
    "pk AS (SELECT key_id, scopes FROM platform_keys "
    "  WHERE hash = $1 AND revoked_at IS NULL "
    "  AND NOT EXISTS (SELECT FROM ak)), "
    "au AS (UPDATE api_keys SET last_used_at = now() WHERE hash = $1 "
    "  AND EXISTS (SELECT FROM ak) AND (last_used_at IS NULL OR "
    "  last_used_at < now() - interval '1 minute') RETURNING 1), "
    "pu AS (UPDATE platform_keys SET last_used_at = now() WHERE hash = $1 "
    "  AND EXISTS (SELECT FROM pk) AND (last_used_at IS NULL OR "
    "  last_used_at < now() - interval '1 minute') RETURNING 1), "
    "k AS (SELECT key_id, 'tenant' AS kind, tenant_id, scopes FROM ak "
    "  UNION ALL SELECT key_id, 'platform', $2::uuid, scopes FROM pk) "
    "SELECT json_build_object("
    "  'api_key', json_build_object('id', k.key_id, 'kind', k.kind, "
    "    'scopes', k.scopes), "
    "  'tenant', json_build_object('id', t.tenant_id, 'name', t.name), "
    "  'plan', t.plan, 'status', t.status)::text, "
    "  p.name, t.seats, p.rate_limit, p.rate_per_seat, "
    "  (SELECT q.included FROM plan_quotas q WHERE q.plan = p.plan "
    "    AND q.metric = 'seats'), t.created_at "
    "FROM k JOIN tenants t ON t.tenant_id = k.tenant_id "
    "JOIN plans p ON p.plan = CASE "
    "  WHEN t.status IN ('active', 'trialing') THEN t.plan "
    "  WHEN t.status = 'past_due' AND t.past_due_since > "
    "    now() - interval '7 days' THEN t.plan ELSE 'free' END";

/*
 * The metering routes share their first CTEs: the tenant key by its
 * hash ($1), last_used_at written at most once a minute (as for
 * /auth/me), the tenant's effective plan and the current period (the
 * calendar month, UTC, as the product's for a tenant without a
 * subscription period).
 */
#define SQL_KEY \
    "WITH k AS (SELECT t.tenant_id, CASE " \
    "  WHEN t.status IN ('active', 'trialing') THEN t.plan " \
    "  WHEN t.status = 'past_due' AND t.past_due_since > " \
    "    now() - interval '7 days' THEN t.plan ELSE 'free' END AS plan, " \
    "  date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' " \
    "    AS period " \
    "  FROM api_keys a JOIN tenants t ON t.tenant_id = a.tenant_id " \
    "  WHERE a.hash = $1 AND a.revoked_at IS NULL), " \
    "au AS (UPDATE api_keys SET last_used_at = now() WHERE hash = $1 " \
    "  AND (last_used_at IS NULL OR " \
    "  last_used_at < now() - interval '1 minute') RETURNING 1), "

/*
 * POST /api/v1/usage/events in one statement: the batch's ids into the
 * dedup index (ON CONFLICT DO NOTHING), and the new events' values
 * added to the counters, one row per metric of the batch (the product's
 * usage_counters grain), in metric order so that concurrent batches
 * lock the rows alike.  $2 is the raw body.
 */
static const char sql_ingest[] = SQL_KEY
    "e AS (SELECT x->>'id' AS id, x->>'metric' AS metric, "
    "  (x->>'value')::bigint AS v "
    "  FROM jsonb_array_elements($2::jsonb -> 'events') AS x), "
    "f AS (INSERT INTO ref_event_ids (tenant_id, event_id) "
    "  SELECT k.tenant_id, e.id FROM k CROSS JOIN e "
    "  ON CONFLICT DO NOTHING RETURNING event_id), "
    "c AS (INSERT INTO ref_counters AS c (tenant_id, metric, "
    "  period_start, used) "
    "  SELECT k.tenant_id, e.metric, k.period, sum(e.v) "
    "  FROM k CROSS JOIN e JOIN f ON f.event_id = e.id "
    "  GROUP BY k.tenant_id, e.metric, k.period ORDER BY e.metric "
    "  ON CONFLICT (tenant_id, metric, period_start) DO UPDATE "
    "  SET used = c.used + EXCLUDED.used RETURNING 1) "
    "SELECT json_build_object('accepted', (SELECT count(*) FROM f), "
    "  'duplicates', (SELECT count(*) FROM e) - "
    "  (SELECT count(*) FROM f))::text "
    "FROM k";

/*
 * POST /api/v1/entitlements/check in one statement: the plan's limit
 * of the metric and the counter's row, read.
 */
static const char sql_check[] = SQL_KEY
    "b AS (SELECT j->>'metric' AS metric, (j->>'quantity')::bigint AS n "
    "  FROM (SELECT $2::jsonb AS j) s), "
    "q AS (SELECT usage_limit(q.included, q.cap, q.grace_pct) AS lim, "
    "  coalesce(c.used, 0) + greatest(coalesce(c.reserved, 0), 0) AS taken, "
    "  b.n FROM k CROSS JOIN b "
    "  JOIN plan_quotas q ON q.plan = k.plan AND q.metric = b.metric "
    "  AND q.kind = 'period' "
    "  LEFT JOIN ref_counters c ON c.tenant_id = k.tenant_id "
    "  AND c.metric = b.metric AND c.period_start = k.period) "
    "SELECT json_build_object('allowed', lim IS NULL OR taken + n <= lim, "
    "  'remaining', CASE WHEN lim IS NOT NULL THEN greatest(lim - taken, 0) "
    "  END, 'reason', CASE WHEN lim IS NOT NULL AND taken + n > lim "
    "  THEN 'quota_exceeded' END)::text "
    "FROM q";

/*
 * POST /api/v1/usage/reservations in one statement: the conditional
 * UPDATE of the counter (used + reserved + quantity <= the limit, which
 * PostgreSQL re-checks on the row it waited for, so concurrent holds
 * never pass it) and the reservation's row.  No row: refused (429).
 * The counter row exists beforehand (bench/run creates it).
 */
static const char sql_reserve[] = SQL_KEY
    "b AS (SELECT j->>'metric' AS metric, (j->>'quantity')::bigint AS n, "
    "  coalesce((j->>'ttl_seconds')::integer, 300) AS ttl "
    "  FROM (SELECT $2::jsonb AS j) s), "
    "l AS (SELECT k.tenant_id, k.period, "
    "  usage_limit(q.included, q.cap, q.grace_pct) AS lim "
    "  FROM k CROSS JOIN b JOIN plan_quotas q ON q.plan = k.plan "
    "  AND q.metric = b.metric AND q.kind = 'period'), "
    "u AS (UPDATE ref_counters c SET reserved = c.reserved + b.n "
    "  FROM l CROSS JOIN b WHERE c.tenant_id = l.tenant_id "
    "  AND c.metric = b.metric AND c.period_start = l.period "
    "  AND (l.lim IS NULL OR c.used + greatest(c.reserved, 0) <= l.lim - b.n) "
    "  RETURNING c.tenant_id, c.metric, c.period_start, "
    "  l.lim - c.used - c.reserved AS remaining), "
    "r AS (INSERT INTO ref_reservations (tenant_id, metric, quantity, "
    "  period_start, expires_at) "
    "  SELECT u.tenant_id, u.metric, b.n, u.period_start, "
    "  now() + make_interval(secs => b.ttl) FROM u CROSS JOIN b "
    "  RETURNING reservation_id, metric, quantity, expires_at) "
    "SELECT json_build_object('id', r.reservation_id, 'metric', r.metric, "
    "  'quantity', r.quantity, 'expires_at', to_char(r.expires_at AT TIME "
    "  ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "  'remaining', u.remaining)::text "
    "FROM r CROSS JOIN u";

/* A request body larger than this is refused (the product's is 1 MiB). */
#define BODY_MAX	(1024 * 1024)

static volatile sig_atomic_t	 stopping;

static void
on_stop(int sig)
{
	stopping = 1;
}

/*
 * A connection with every statement prepared, as the product prepares
 * each statement once per connection.  NULL when the server is away.
 */
static PGconn *
db_open(const char *conninfo)
{
	PGconn		*c;
	PGresult	*res;
	int		 ok;

	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "reference: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	res = PQprepare(c, "health", sql_health, 0, NULL);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (ok) {
		res = PQprepare(c, "me", sql_me, 2, NULL);
		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
	if (ok) {
		res = PQprepare(c, "ingest", sql_ingest, 2, NULL);
		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
	if (ok) {
		res = PQprepare(c, "check", sql_check, 2, NULL);
		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
	if (ok) {
		res = PQprepare(c, "reserve", sql_reserve, 2, NULL);
		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
	if (!ok) {
		fprintf(stderr, "reference: prepare: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/*
 * The same framing as the product: a Status line, the content type and
 * no Content-Length, so lighttpd handles both answers alike.
 */
static void
answer(FCGX_Request *fr, const char *status, const char *body)
{
	FCGX_FPrintF(fr->out, "Status: %s\r\n"
	    "Content-Type: application/json\r\n\r\n%s\n", status, body);
}

static void
health(FCGX_Request *fr, PGconn *db)
{
	PGresult	*res;

	res = PQexecPrepared(db, "health", 0, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		answer(fr, "200 OK", "{\"status\":\"ok\"}");
	else
		answer(fr, "503 Service Unavailable",
		    "{\"status\":\"degraded\"}");
	PQclear(res);
}

/*
 * The SHA-256 of the bearer token into hash; -1 (401 answered) without
 * one.
 */
static int
bearer_hash(FCGX_Request *fr, unsigned char *hash)
{
	const char	*auth;

	auth = FCGX_GetParam("HTTP_AUTHORIZATION", fr->envp);
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0) {
		answer(fr, "401 Unauthorized", "{\"error\":\"unauthorized\"}");
		return -1;
	}
	auth += 7;
	SHA256((const unsigned char *)auth, strlen(auth), hash);
	return 0;
}

static void
auth_me(FCGX_Request *fr, PGconn *db)
{
	PGresult	*res;
	unsigned char	 hash[SHA256_DIGEST_LENGTH];
	const char	*qs, *v[2];
	char		 tenant[64];
	int		 len[2], fmt[2];
	size_t		 n;

	if (bearer_hash(fr, hash) == -1)
		return;

	/* tenant_id=, if first; the database rejects what is not a uuid. */
	v[1] = NULL;
	qs = FCGX_GetParam("QUERY_STRING", fr->envp);
	if (qs != NULL && strncmp(qs, "tenant_id=", 10) == 0) {
		qs += 10;
		n = strcspn(qs, "&");
		if (n >= sizeof(tenant))
			n = sizeof(tenant) - 1;
		memcpy(tenant, qs, n);
		tenant[n] = '\0';
		v[1] = tenant;
	}

	/* The hash goes in binary: no hex to write here or to parse there. */
	v[0] = (const char *)hash;
	len[0] = sizeof(hash);
	fmt[0] = 1;
	len[1] = 0;
	fmt[1] = 0;
	res = PQexecPrepared(db, "me", 2, v, len, fmt, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		answer(fr, "500 Internal Server Error",
		    "{\"error\":\"internal\"}");
	else if (PQntuples(res) == 0)
		answer(fr, "401 Unauthorized", "{\"error\":\"unauthorized\"}");
	else
		answer(fr, "200 OK", PQgetvalue(res, 0, 0));
	PQclear(res);
}

/*
 * A metering route: the key's hash and the raw body to the prepared
 * statement STMT, whose one row is the answer's body; no row means the
 * key is unknown (401), or for a reservation that the limit refused
 * (429, status_none).
 */
static void
metering(FCGX_Request *fr, PGconn *db, const char *stmt, const char *status,
    const char *status_none, const char *body_none)
{
	PGresult	*res;
	unsigned char	 hash[SHA256_DIGEST_LENGTH];
	const char	*cl, *v[2];
	char		*body;
	int		 len[2], fmt[2];
	long		 n;

	if (bearer_hash(fr, hash) == -1)
		return;
	cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	n = cl != NULL ? strtol(cl, NULL, 10) : 0;
	if (n <= 0 || n > BODY_MAX) {
		answer(fr, "400 Bad Request", "{\"error\":\"body\"}");
		return;
	}
	if ((body = malloc(n + 1)) == NULL) {
		answer(fr, "500 Internal Server Error",
		    "{\"error\":\"internal\"}");
		return;
	}
	if (FCGX_GetStr(body, (int)n, fr->in) != (int)n) {
		free(body);
		answer(fr, "400 Bad Request", "{\"error\":\"body\"}");
		return;
	}
	body[n] = '\0';
	v[0] = (const char *)hash;
	len[0] = sizeof(hash);
	fmt[0] = 1;
	v[1] = body;
	len[1] = 0;
	fmt[1] = 0;
	res = PQexecPrepared(db, stmt, 2, v, len, fmt, 0);
	free(body);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		answer(fr, "500 Internal Server Error",
		    "{\"error\":\"internal\"}");
	else if (PQntuples(res) == 0)
		answer(fr, status_none, body_none);
	else
		answer(fr, status, PQgetvalue(res, 0, 0));
	PQclear(res);
}

/*
 * One responder: blocking FCGX_Accept_r on the shared socket, so the
 * kernel wakes one waiting responder per connection, and one request at
 * a time on its own connection.
 */
static int
responder(int sock, const char *conninfo)
{
	FCGX_Request	 fr;
	PGconn		*db;
	const char	*uri, *method;
	size_t		 n;

	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	/* A client gone before the answer must not kill the responder. */
	signal(SIGPIPE, SIG_IGN);
	if ((db = db_open(conninfo)) == NULL)
		return 1;
	if (FCGX_InitRequest(&fr, sock, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&fr) >= 0) {
		/* Back after an outage, as the product comes back. */
		if (db == NULL && (db = db_open(conninfo)) == NULL) {
			answer(&fr, "503 Service Unavailable",
			    "{\"status\":\"degraded\"}");
			continue;
		}
		method = FCGX_GetParam("REQUEST_METHOD", fr.envp);
		uri = FCGX_GetParam("REQUEST_URI", fr.envp);
		if (uri == NULL)
			uri = "";
		n = strcspn(uri, "?");
		if (method == NULL)
			method = "";
		if (strcmp(method, "GET") == 0 && n == 14 &&
		    strncmp(uri, "/api/v1/health", n) == 0)
			health(&fr, db);
		else if (strcmp(method, "GET") == 0 && n == 15 &&
		    strncmp(uri, "/api/v1/auth/me", n) == 0)
			auth_me(&fr, db);
		else if (strcmp(method, "POST") == 0 && n == 20 &&
		    strncmp(uri, "/api/v1/usage/events", n) == 0)
			metering(&fr, db, "ingest", "200 OK",
			    "401 Unauthorized", "{\"error\":\"unauthorized\"}");
		else if (strcmp(method, "POST") == 0 && n == 26 &&
		    strncmp(uri, "/api/v1/entitlements/check", n) == 0)
			metering(&fr, db, "check", "200 OK",
			    "401 Unauthorized", "{\"error\":\"unauthorized\"}");
		else if (strcmp(method, "POST") == 0 && n == 26 &&
		    strncmp(uri, "/api/v1/usage/reservations", n) == 0)
			metering(&fr, db, "reserve", "201 Created",
			    "429 Too Many Requests",
			    "{\"error\":\"quota_exceeded\"}");
		else if (strcmp(method, "GET") != 0 &&
		    strcmp(method, "POST") != 0)
			answer(&fr, "405 Method Not Allowed",
			    "{\"error\":\"method\"}");
		else
			answer(&fr, "404 Not Found", "{\"error\":\"not_found\"}");
		if (PQstatus(db) == CONNECTION_BAD) {
			PQfinish(db);
			db = NULL;
		}
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct sigaction	 sa;
	pid_t			 pids[RESPONDERS_MAX], pid;
	int			 i, n, sock, status = 0, rc = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: reference socket responders conninfo\n");
		return 2;
	}
	n = atoi(argv[2]);
	if (n < 1 || n > RESPONDERS_MAX) {
		fprintf(stderr, "reference: responders: 1 to %d\n",
		    RESPONDERS_MAX);
		return 2;
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "reference: FCGX_Init failed\n");
		return 1;
	}
	/* The product's backlog, so a burst queues the same way. */
	if ((sock = FCGX_OpenSocket(argv[1], 1024)) == -1) {
		fprintf(stderr, "reference: cannot bind %s\n", argv[1]);
		return 1;
	}

	/* Handlers before the fork, so no signal is lost in between. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	for (i = 0; i < n; i++) {
		if ((pids[i] = fork()) == -1) {
			fprintf(stderr, "reference: fork: %s\n",
			    strerror(errno));
			n = i;
			rc = 1;
			break;
		}
		if (pids[i] == 0)
			_exit(responder(sock, argv[3]));
	}

	/* Until told to stop, or until one responder is gone. */
	while (rc == 0 && !stopping) {
		pid = wait(&status);
		if (pid == -1 && errno == EINTR)
			continue;
		fprintf(stderr, "reference: responder %ld exited (status "
		    "%d)\n", (long)pid, status);
		for (i = 0; i < n; i++)
			if (pids[i] == pid)
				pids[i] = 0;
		rc = 1;
	}
	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	while (wait(NULL) != -1 || errno == EINTR)
		;
	unlink(argv[1]);
	return rc;
}
