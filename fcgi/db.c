/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The process's database connection: opened at the first query,
 * closed and re-opened after the server goes away, so service resumes
 * by itself when PostgreSQL is back.  Every statement is a string
 * literal with parameters, prepared once per connection; every result
 * is owned by the request's arena.  A transaction may be scoped to a
 * tenant: tollgate.tenant_id is set with set_config(..., true), local
 * to the transaction, and row-level security does the rest.
 *
 * Round trips are the currency here (SPEC 14): db_begin_with() sends
 * BEGIN, the tenant and the first statements of a request in one
 * flush with libpq's pipeline mode, and every round trip is counted on
 * the request for its log line and the metrics.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

static PGconn	*db;
static int	 db_outage_logged;	/* one line per outage, not per request */

/*
 * Statements prepared on this connection, in an open-addressing table
 * keyed by a hash of their text and confirmed by comparing the text
 * itself (a copy is kept): two different texts can never share a
 * prepared statement, whatever their addresses.  Preparing once saves
 * the parse and plan of every later call.
 */
#define DB_STMTS_MAX	512		/* power of two */
#define DB_STMTS_FILL	384		/* prepared at most; the rest run */
struct db_stmt {
	char		*sql;		/* owned copy, NULL: free slot */
	uint64_t	 hash;
	char		 name[16];
};
static struct db_stmt	db_stmts[DB_STMTS_MAX];
static size_t		db_nstmts;
static int		db_full_logged;

static const char *const	db_rc_names[] = {
	"ok", "not found", "conflict", "invalid value", "refused"
};

/* A short name of a result code, for log lines. */
const char *
db_strerror(enum db_rc rc)
{
	if (rc == DB_ERROR)
		return "statement failed";
	if (rc == DB_UNAVAILABLE)
		return "database unavailable";
	if (rc >= 0 && (size_t)rc < sizeof(db_rc_names) / sizeof(db_rc_names[0]))
		return db_rc_names[rc];
	return "unknown";
}

static void
db_notice(void *arg, const char *msg)
{
	/* Notices (e.g. "relation already exists") are not worth a line. */
}

PGconn *
db_conn(void)
{
	const char	*keys[5], *vals[5];
	char		 opts[192], why[256];

	if (db != NULL && PQstatus(db) == CONNECTION_OK)
		return db;
	db_close();
	if (conf.database_url == NULL)
		return NULL;
	/*
	 * The grace period is read by plan_effective() (006), the
	 * debounce of notifications by notification_status() (019).
	 */
	snprintf(opts, sizeof(opts), "-c statement_timeout=%d "
	    "-c tollgate.past_due_grace_days=%d "
	    "-c tollgate.notify_debounce_s=%d", conf.statement_timeout_ms,
	    conf.past_due_grace_days, conf.notify_debounce_s);
	keys[0] = "dbname";		vals[0] = conf.database_url;
	keys[1] = "connect_timeout";	vals[1] = "3";
	keys[2] = "application_name";	vals[2] = "tollgate";
	keys[3] = "options";		vals[3] = opts;
	keys[4] = NULL;			vals[4] = NULL;
	db = PQconnectdbParams(keys, vals, 1);
	if (db == NULL || PQstatus(db) != CONNECTION_OK) {
		log_scrub(db != NULL ? PQerrorMessage(db) : "out of memory",
		    why, sizeof(why));
		if (!db_outage_logged)
			log_warnx("database connection failed: %s", why);
		db_outage_logged = 1;
		db_close();
		return NULL;
	}
	PQsetNoticeProcessor(db, db_notice, NULL);
	/* No DETAIL in logged errors: it can quote a row, hashes included. */
	PQsetErrorVerbosity(db, PQERRORS_TERSE);
	if (db_outage_logged)
		log_info("database connection restored");
	db_outage_logged = 0;
	return db;
}

void
db_close(void)
{
	size_t	 i;

	if (db != NULL)
		PQfinish(db);
	db = NULL;
	/* Prepared statements die with their connection. */
	for (i = 0; i < DB_STMTS_MAX; i++) {
		free(db_stmts[i].sql);
		db_stmts[i].sql = NULL;
	}
	db_nstmts = 0;
}

/* FNV-1a of the statement's text. */
static uint64_t
db_sql_hash(const char *sql)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;

	for (; *sql != '\0'; sql++)
		h = (h ^ (unsigned char)*sql) * 0x100000001b3ULL;
	return h;
}

/*
 * The prepared name of sql on this connection, preparing it the first
 * time; NULL when it cannot be (the table is full, or PREPARE failed:
 * the caller then runs the statement unprepared and reports its error).
 */
static const char *
db_prepared(struct req *r, const char *sql, int n)
{
	struct db_stmt	*st;
	PGresult	*res;
	uint64_t	 h = db_sql_hash(sql);
	size_t		 i;
	int		 ok;
	char		 why[512];

	for (i = h & (DB_STMTS_MAX - 1); db_stmts[i].sql != NULL;
	    i = (i + 1) & (DB_STMTS_MAX - 1))
		if (db_stmts[i].hash == h && strcmp(db_stmts[i].sql, sql) == 0)
			return db_stmts[i].name;
	if (db_nstmts == DB_STMTS_FILL) {
		if (!db_full_logged)
			log_warnx("%s: %d statements prepared, the table is "
			    "full: further statements run unprepared",
			    __func__, DB_STMTS_FILL);
		db_full_logged = 1;
		return NULL;
	}
	st = &db_stmts[i];
	snprintf(st->name, sizeof(st->name), "tg%zu", db_nstmts);
	res = PQprepare(db, st->name, sql, n, NULL);
	r->prepares++;
	ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
	/* A statement that does not even prepare is a bug: say which. */
	if (!ok && res != NULL && PQstatus(db) == CONNECTION_OK) {
		log_scrub(PQresultErrorMessage(res), why, sizeof(why));
		log_err("prepare failed: %s", why);
	}
	PQclear(res);
	if (!ok)
		return NULL;
	st->sql = xstrdup(sql);
	st->hash = h;
	db_nstmts++;
	return st->name;
}

/*
 * At start-up: the application's role must own nothing and be bound by
 * row-level security, else tenant isolation rests on the SQL alone.  A
 * database that cannot be reached now is no reason to refuse to start
 * (the responders wait for it): that is only logged.
 */
int
db_role_check(const char **cause)
{
	PGconn		*c;
	PGresult	*res;
	int		 rc = 0;

	c = PQconnectdb(conf.database_url);
	if (PQstatus(c) != CONNECTION_OK) {
		log_warnx("database not reachable at start-up; the role check "
		    "is skipped");
		PQfinish(c);
		return 0;
	}
	res = PQexec(c, "SELECT r.rolsuper OR r.rolbypassrls OR EXISTS ("
	    "SELECT 1 FROM pg_class k JOIN pg_namespace n ON n.oid = "
	    "k.relnamespace WHERE n.nspname = 'public' AND k.relowner = r.oid) "
	    "FROM pg_roles r WHERE r.rolname = current_user");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    PQgetvalue(res, 0, 0)[0] == 't') {
		*cause = "TOLLGATE_DATABASE_URL: the role owns tables or bypasses "
		    "row-level security; connect as a role that owns nothing "
		    "(see the README, database roles)";
		rc = -1;
	}
	PQclear(res);
	PQfinish(c);
	return rc;
}

/* Is this failure the server going away rather than the statement? */
static int
db_failure_is_outage(const PGresult *res)
{
	const char	*state;

	if (PQstatus(db) != CONNECTION_OK)
		return 1;
	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (state == NULL)
		return 1;
	/* 08: connection exception; 57P0x: shutdown, cannot connect now. */
	return strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0;
}

static void
db_clear(void *p)
{
	PQclear(p);
}

/* Split a limit's "code|subject|limit|used" into the request's fields. */
static void
db_refused_limit(struct req *r)
{
	char	*p = (char *)r->refusal_code, *f[4];
	size_t	 n = 0;

	while (n < 4 && p != NULL) {
		f[n++] = p;
		if ((p = strchr(p, '|')) != NULL)
			*p++ = '\0';
	}
	if (n < 4)
		return;
	r->refusal_subject = f[1];
	r->refusal_limit = strtoll(f[2], NULL, 10);
	r->refusal_used = strtoll(f[3], NULL, 10);
}

/*
 * A refusal a SQL function raised (SQLSTATE class TG, sql/014): its
 * status (TG400, TG429), the API's error code (DETAIL), its message and
 * the parameter at fault (HINT), kept on the request for the answer.
 */
static enum db_rc
db_refused(struct req *r, PGresult *res, const char *state)
{
	const char	*code, *msg, *param;

	code = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	param = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	r->refusal_status = strcmp(state, "TG429") == 0 ? 429 : 400;
	r->refusal_code = arena_strdup(&r->arena, code != NULL ? code :
	    "invalid_value");
	/* A limit's DETAIL is "code|subject|limit|used". */
	if (r->refusal_status == 429 && strchr(r->refusal_code, '|') != NULL)
		db_refused_limit(r);
	r->refusal_message = arena_strdup(&r->arena, msg != NULL ? msg :
	    "Refused.");
	r->refusal_param = param != NULL && *param != '\0' ?
	    arena_strdup(&r->arena, param) : NULL;
	PQclear(res);
	return DB_REFUSED;
}

/*
 * What a failed result means: DB_CONFLICT for a unique violation,
 * DB_INVALID for a value the database cannot take (class 22),
 * DB_REFUSED for a refusal of ours (class TG), else DB_ERROR, logged.
 * The result is cleared.
 */
static enum db_rc
db_failed(struct req *r, PGresult *res)
{
	const char	*state;
	char		 why[512];
	enum db_rc	 rc = DB_ERROR;

	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state != NULL && strncmp(state, "TG", 2) == 0)
		return db_refused(r, res, state);
	log_scrub(PQresultErrorMessage(res), why, sizeof(why));
	if (state != NULL && strcmp(state, "23505") == 0)
		rc = DB_CONFLICT;
	else if (state != NULL && strncmp(state, "22", 2) == 0) {
		log_info("value refused by the database (%s): %s", state, why);
		rc = DB_INVALID;
	} else
		log_err("statement failed (%s): %s", state != NULL ? state :
		    "-", why);
	PQclear(res);
	return rc;
}

/* Keep a successful result on the request (out) or clear it. */
static void
db_keep(struct req *r, PGresult *res, PGresult **out)
{
	if (out != NULL) {
		arena_defer(&r->arena, db_clear, res);
		*out = res;
	} else
		PQclear(res);
}

static int
db_result_ok(const PGresult *res)
{
	ExecStatusType	 st = res != NULL ? PQresultStatus(res) :
	    PGRES_FATAL_ERROR;

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/*
 * Run one parameterised statement.  With "out" the result (rows or not)
 * is returned, owned by the request.  A connection found dead before any
 * transaction is open is re-opened and the statement tried once more:
 * after a database restart the first request of each responder would
 * otherwise fail.
 */
enum db_rc
db_exec(struct req *r, const char *sql, int n, const char *const *vals,
    PGresult **out)
{
	PGresult	*res = NULL;
	const char	*name;
	int		 attempt;

	if (out != NULL)
		*out = NULL;
	if (r->committed) {
		log_err("%s: a statement after the request's binding ran "
		    "alone (a key_bind_only route)", __func__);
		return DB_ERROR;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if (db_conn() == NULL)
			return DB_UNAVAILABLE;
		if ((name = db_prepared(r, sql, n)) != NULL)
			res = PQexecPrepared(db, name, n, vals, NULL, NULL, 0);
		else
			res = PQexecParams(db, sql, n, NULL, vals, NULL, NULL, 0);
		r->round_trips++;
		if (db_result_ok(res)) {
			db_keep(r, res, out);
			return DB_OK;
		}
		if (!db_failure_is_outage(res))
			return db_failed(r, res);
		PQclear(res);
		db_close();
		if (r->in_tx) {
			r->in_tx = 0;
			break;
		}
	}
	log_warnx("database unavailable during a statement");
	return DB_UNAVAILABLE;
}

/* Queue one statement of a pipeline. */
static int
db_send(const struct db_call *c, const char *name)
{
	if (name != NULL)
		return PQsendQueryPrepared(db, name, c->n, c->vals, NULL, NULL,
		    0);
	return PQsendQueryParams(db, c->sql, c->n, NULL, c->vals, NULL, NULL,
	    0);
}

/*
 * Send every call in one flush and read their results in order.  The
 * first failure's code is returned (later calls were skipped by the
 * server); DB_UNAVAILABLE when the connection broke.  Results of the
 * successful calls are kept on the request.
 */
static enum db_rc
db_pipeline_once(struct req *r, struct db_call *c, size_t n)
{
	const char	*names[16];
	PGresult	*res;
	enum db_rc	 rc = DB_OK;
	size_t		 i;

	if (n > sizeof(names) / sizeof(names[0]))
		return DB_ERROR;
	/* PREPARE is synchronous: it happens before the pipeline starts. */
	for (i = 0; i < n; i++)
		names[i] = db_prepared(r, c[i].sql, c[i].n);
	if (PQenterPipelineMode(db) != 1)
		return DB_UNAVAILABLE;
	for (i = 0; i < n; i++)
		if (db_send(&c[i], names[i]) != 1)
			goto broken;
	if (PQpipelineSync(db) != 1)
		goto broken;
	r->round_trips++;
	for (i = 0; i < n; i++) {
		if ((res = PQgetResult(db)) == NULL)
			goto broken;
		if (db_result_ok(res))
			db_keep(r, res, &c[i].res);
		else if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED)
			PQclear(res);
		else if (db_failure_is_outage(res)) {
			PQclear(res);
			goto broken;
		} else if (rc == DB_OK)
			rc = db_failed(r, res);
		else
			PQclear(res);
		/* Each statement's results end with a NULL. */
		if ((res = PQgetResult(db)) != NULL) {
			PQclear(res);
			goto broken;
		}
	}
	if ((res = PQgetResult(db)) == NULL ||
	    PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		PQclear(res);
		goto broken;
	}
	PQclear(res);
	if (PQexitPipelineMode(db) != 1)
		goto broken;
	return rc;
broken:
	return DB_UNAVAILABLE;
}

/*
 * Open a transaction, scoped to tenant_id when it is not NULL, and run
 * the calls in it: BEGIN, the tenant and the calls travel in one round
 * trip.  As with db_exec(), a connection found dead is re-opened and the
 * whole tried once more (nothing of it can have committed).
 */
enum db_rc
db_begin_with(struct req *r, const char *tenant_id, struct db_call *calls,
    size_t n)
{
	struct db_call	 c[16];
	enum db_rc	 rc = DB_UNAVAILABLE;
	size_t		 i, k = 0;
	int		 attempt;

	/*
	 * A public page may have opened the visitor's own tenant for the
	 * layout before an operation on another one (an invitation): that
	 * read-only transaction is given up.
	 */
	if (r->in_tx)
		db_rollback(r);
	r->committed = 0;
	if (n + 2 > sizeof(c) / sizeof(c[0]))
		return DB_ERROR;
	memset(c, 0, sizeof(c));
	c[k++].sql = "BEGIN";
	if (tenant_id != NULL) {
		c[k].sql = "SELECT set_config('tollgate.tenant_id', $1, true)";
		c[k].n = 1;
		c[k++].vals = &tenant_id;
	}
	for (i = 0; i < n; i++)
		c[k++] = calls[i];
	for (attempt = 0; attempt < 2; attempt++) {
		if (db_conn() == NULL)
			return DB_UNAVAILABLE;
		if ((rc = db_pipeline_once(r, c, k)) != DB_UNAVAILABLE)
			break;
		log_warnx("database unavailable during a pipeline");
		db_close();
	}
	if (rc == DB_UNAVAILABLE)
		return rc;
	/* BEGIN ran: the transaction is open, even if a call failed. */
	r->in_tx = c[0].res != NULL;
	for (i = 0; i < n; i++)
		calls[i].res = c[k - n + i].res;
	return rc;
}

/*
 * Run a transaction's last statement and COMMIT in one round trip, for
 * a handler whose answer that statement decides.  When the statement
 * fails the server skips the COMMIT: the transaction stays open (and
 * aborted) for the pipeline to roll back; when both ran, it is over
 * (r->committed).  Outside a transaction: db_exec().
 */
enum db_rc
db_exec_commit(struct req *r, const char *sql, int n,
    const char *const *vals, PGresult **out)
{
	struct db_call	 c[2];
	enum db_rc	 rc;

	if (!r->in_tx)
		return db_exec(r, sql, n, vals, out);
	memset(c, 0, sizeof(c));
	c[0].sql = sql;
	c[0].n = n;
	c[0].vals = vals;
	c[1].sql = "COMMIT";
	if (db_conn() == NULL)
		return DB_UNAVAILABLE;
	if ((rc = db_pipeline_once(r, c, 2)) == DB_UNAVAILABLE) {
		log_warnx("database unavailable during a commit");
		r->in_tx = 0;
		db_close();
		return rc;
	}
	if (rc != DB_OK)
		return rc;
	r->in_tx = 0;
	r->committed = 1;
	if (c[1].res == NULL || strcmp(PQcmdStatus(c[1].res), "COMMIT") != 0) {
		log_err("commit ended in %s", c[1].res != NULL ?
		    PQcmdStatus(c[1].res) : "nothing");
		return DB_ERROR;
	}
	*out = c[0].res;
	return DB_OK;
}

/*
 * Run n independent statements of the open transaction in one round
 * trip; each result is kept in calls[i].res (NULL for a call that
 * failed or was skipped after a failure).  The first failure's code is
 * returned.  As with db_exec() inside a transaction, a broken
 * connection is not retried: the transaction is gone.  Outside a
 * transaction the calls run one by one through db_exec().
 */
enum db_rc
db_exec_many(struct req *r, struct db_call *calls, size_t n)
{
	enum db_rc	 rc, first = DB_OK;
	size_t		 i;

	for (i = 0; i < n; i++)
		calls[i].res = NULL;
	if (n == 0)
		return DB_OK;
	if (r->committed) {
		log_err("%s: a statement after the request's binding ran "
		    "alone (a key_bind_only route)", __func__);
		return DB_ERROR;
	}
	if (!r->in_tx) {
		for (i = 0; i < n; i++) {
			rc = db_exec(r, calls[i].sql, calls[i].n,
			    calls[i].vals, &calls[i].res);
			if (rc != DB_OK) {
				first = rc;
				break;
			}
		}
		return first;
	}
	if (db_conn() == NULL)
		return DB_UNAVAILABLE;
	if ((rc = db_pipeline_once(r, calls, n)) == DB_UNAVAILABLE) {
		log_warnx("database unavailable during a pipeline");
		for (i = 0; i < n; i++)
			calls[i].res = NULL;
		r->in_tx = 0;
		db_close();
	}
	return rc;
}

/* Open a transaction, scoped to tenant_id when it is not NULL. */
enum db_rc
db_begin(struct req *r, const char *tenant_id)
{
	return db_begin_with(r, tenant_id, NULL, 0);
}

/*
 * Scope the open transaction to another tenant from here on, for an
 * event of a user that each of their tenants records (a password
 * reset).  Row-level security then applies to that tenant's rows.
 */
enum db_rc
db_set_tenant(struct req *r, const char *tenant_id)
{
	return db_exec(r, "SELECT set_config('tollgate.tenant_id', $1, true)",
	    1, &tenant_id, NULL);
}

/*
 * Commit.  A transaction that had already failed "commits" as a
 * rollback with a success status: that is an error here.
 */
enum db_rc
db_commit(struct req *r)
{
	PGresult	*res;
	enum db_rc	 rc;

	rc = db_exec(r, "COMMIT", 0, NULL, &res);
	r->in_tx = 0;
	if (rc == DB_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		log_err("commit ended in %s", PQcmdStatus(res));
		return DB_ERROR;
	}
	return rc;
}

/*
 * Give up the open transaction.  Only the pipeline (responder.c), the
 * database layer and req_release() call this (tests/checksrc.sh):
 * handlers refuse the request and the pipeline rolls back.
 */
void
db_rollback(struct req *r)
{
	PGresult	*res;

	r->in_tx = 0;
	if (db == NULL || PQstatus(db) != CONNECTION_OK)
		return;
	res = PQexec(db, "ROLLBACK");
	r->round_trips++;
	PQclear(res);
}

/*
 * A refused form is shown again: what the refused operation wrote is
 * rolled back now, and a new transaction in the same tenant is opened
 * for reading what the page shows.  The request stays refused, so this
 * one is rolled back at the end too.
 */
enum db_rc
db_restart(struct req *r)
{
	r->refused = 1;
	return db_begin(r, r->auth.tenant_id[0] != '\0' ? r->auth.tenant_id :
	    NULL);
}

enum db_rc
db_ping(struct req *r)
{
	return db_exec(r, "SELECT 1", 0, NULL, NULL);
}

/* Like db_exec() for a query that must return a row: 0 rows is
 * DB_NOTFOUND.  The result is owned by the request. */
enum db_rc
db_row(struct req *r, const char *sql, int n, const char *const *vals,
    PGresult **out)
{
	enum db_rc	 rc;

	if ((rc = db_exec(r, sql, n, vals, out)) != DB_OK)
		return rc;
	return PQntuples(*out) > 0 ? DB_OK : DB_NOTFOUND;
}

/* A field of a result, NULL for SQL NULL; borrowed from the result. */
const char *
db_get(const PGresult *res, int row, int col)
{
	if (row >= PQntuples(res) || col >= PQnfields(res) ||
	    PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

int
db_nrows(const PGresult *res)
{
	return PQntuples(res);
}

/*
 * A page of a list.  $1 of sql is the row limit, filled here with one
 * more than asked: that extra row only says there is more.  *rows gets
 * the number of rows to show.
 */
enum db_rc
db_list(struct req *r, const char *sql, int n, const char **vals, int limit,
    PGresult **out, int *rows, int *has_more)
{
	enum db_rc	 rc;
	int		 got;

	*rows = 0;
	*has_more = 0;
	vals[0] = arena_printf(&r->arena, "%d", limit + 1);
	if ((rc = db_exec(r, sql, n, vals, out)) != DB_OK)
		return rc;
	got = PQntuples(*out);
	*has_more = got > limit;
	*rows = got > limit ? limit : got;
	return DB_OK;
}

/* "t"/"f" of a boolean column. */
int
db_bool(const PGresult *res, int row, int col)
{
	const char	*v = db_get(res, row, col);

	return v != NULL && v[0] == 't';
}

long long
db_int(const PGresult *res, int row, int col)
{
	const char	*v = db_get(res, row, col);
	long long	 n = 0;

	if (v != NULL && util_strtonum(v, -(1LL << 62), 1LL << 62, &n) == -1)
		n = 0;
	return n;
}
