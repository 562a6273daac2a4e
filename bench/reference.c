/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * bench/reference.c: the yardstick of SPEC section 14.  The smallest
 * libfcgi + libpq responder that answers two routes with the same SQL
 * effect as the product and nothing else: no validation, no row-level
 * security, no rate limit, no logging.  bench/run builds it fresh,
 * serves it behind the product's own lighttpd configuration with as many
 * responders, and divides the product's figures by its figures, so the
 * targets hold whatever the machine's mood that hour.
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
 * It trusts its input: a bad tenant_id is a database error (500), not a
 * 400.  It exists to be measured, never to be deployed.
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

static volatile sig_atomic_t	 stopping;

static void
on_stop(int sig)
{
	stopping = 1;
}

/*
 * A connection with both statements prepared, as the product prepares
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

static void
auth_me(FCGX_Request *fr, PGconn *db)
{
	PGresult	*res;
	unsigned char	 hash[SHA256_DIGEST_LENGTH];
	const char	*auth, *qs, *v[2];
	char		 tenant[64];
	int		 len[2], fmt[2];
	size_t		 n;

	auth = FCGX_GetParam("HTTP_AUTHORIZATION", fr->envp);
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0) {
		answer(fr, "401 Unauthorized", "{\"error\":\"unauthorized\"}");
		return;
	}
	auth += 7;
	SHA256((const unsigned char *)auth, strlen(auth), hash);

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
		if (method == NULL || strcmp(method, "GET") != 0)
			answer(&fr, "405 Method Not Allowed",
			    "{\"error\":\"method\"}");
		else if (n == 14 && strncmp(uri, "/api/v1/health", n) == 0)
			health(&fr, db);
		else if (n == 15 && strncmp(uri, "/api/v1/auth/me", n) == 0)
			auth_me(&fr, db);
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
