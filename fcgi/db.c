/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The responder's database connection: opened at the first query,
 * closed and re-opened after the server goes away, so service resumes
 * by itself when PostgreSQL is back.  Every statement is parameterised;
 * every result is owned by the request's arena.  A transaction may be
 * scoped to a tenant: tollgate.tenant_id is set with set_config(...,
 * true), local to the transaction, and row-level security does the rest.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

static PGconn	*db;
static int	 db_outage_logged;	/* one line per outage, not per request */

/*
 * Statements prepared on this connection, found by the address of their
 * SQL text: every statement is a string literal, so the address names
 * it.  Preparing once saves the parse and plan of every later call.
 */
#define DB_STMTS_MAX	256
struct db_stmt {
	const char	*sql;
	char		 name[16];
};
static struct db_stmt	db_stmts[DB_STMTS_MAX];
static size_t		db_nstmts;

static void
db_notice(void *arg, const char *msg)
{
	/* Notices (e.g. "relation already exists") are not worth a line. */
}

PGconn *
db_conn(void)
{
	const char	*keys[5], *vals[5];
	char		 opts[64], why[256];

	if (db != NULL && PQstatus(db) == CONNECTION_OK)
		return db;
	db_close();
	if (conf.database_url == NULL)
		return NULL;
	snprintf(opts, sizeof(opts), "-c statement_timeout=%d",
	    conf.statement_timeout_ms);
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
	if (db != NULL)
		PQfinish(db);
	db = NULL;
	db_nstmts = 0;
}

/*
 * The prepared name of sql on this connection, preparing it the first
 * time; NULL when it cannot be (the table is full, or PREPARE failed:
 * the caller then runs the statement unprepared and reports its error).
 */
static const char *
db_prepared(const char *sql, int n)
{
	struct db_stmt	*st;
	PGresult	*res;
	size_t		 i;
	int		 ok;

	for (i = 0; i < db_nstmts; i++)
		if (db_stmts[i].sql == sql)
			return db_stmts[i].name;
	if (db_nstmts == DB_STMTS_MAX)
		return NULL;
	st = &db_stmts[db_nstmts];
	snprintf(st->name, sizeof(st->name), "tg%zu", db_nstmts);
	res = PQprepare(db, st->name, sql, n, NULL);
	ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok)
		return NULL;
	st->sql = sql;
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
	ExecStatusType	 st;
	const char	*state, *name;
	char		 why[512];
	int		 attempt;

	if (out != NULL)
		*out = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		if (db_conn() == NULL)
			return DB_UNAVAILABLE;
		if ((name = db_prepared(sql, n)) != NULL)
			res = PQexecPrepared(db, name, n, vals, NULL, NULL, 0);
		else
			res = PQexecParams(db, sql, n, NULL, vals, NULL, NULL, 0);
		st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			if (out != NULL) {
				arena_defer(&r->arena, db_clear, res);
				*out = res;
			} else
				PQclear(res);
			return DB_OK;
		}
		if (!db_failure_is_outage(res))
			break;
		PQclear(res);
		res = NULL;
		db_close();
		if (r->in_tx) {
			r->in_tx = 0;
			break;
		}
	}
	if (res == NULL) {
		log_warnx("database unavailable during a statement");
		return DB_UNAVAILABLE;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state != NULL && strcmp(state, "23505") == 0) {
		PQclear(res);
		return DB_CONFLICT;
	}
	/* Class 22, data exception: a value the database cannot take. */
	if (state != NULL && strncmp(state, "22", 2) == 0) {
		log_scrub(PQresultErrorMessage(res), why, sizeof(why));
		log_info("value refused by the database (%s): %s", state, why);
		PQclear(res);
		return DB_INVALID;
	}
	log_scrub(PQresultErrorMessage(res), why, sizeof(why));
	log_err("statement failed (%s): %s", state != NULL ? state : "-", why);
	PQclear(res);
	return DB_ERROR;
}

/* Open a transaction, scoped to tenant_id when it is not NULL. */
enum db_rc
db_begin(struct req *r, const char *tenant_id)
{
	enum db_rc	 rc;

	/*
	 * A public page may have opened the visitor's own tenant for the
	 * layout before an operation on another one (an invitation): that
	 * read-only transaction is given up.
	 */
	if (r->in_tx)
		db_rollback(r);
	if ((rc = db_exec(r, "BEGIN", 0, NULL, NULL)) != DB_OK)
		return rc;
	r->in_tx = 1;
	if (tenant_id != NULL &&
	    (rc = db_exec(r, "SELECT set_config('tollgate.tenant_id', $1, true)",
	    1, &tenant_id, NULL)) != DB_OK) {
		db_rollback(r);
		return rc;
	}
	return DB_OK;
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

void
db_rollback(struct req *r)
{
	PGresult	*res;

	r->in_tx = 0;
	if (db == NULL || PQstatus(db) != CONNECTION_OK)
		return;
	res = PQexec(db, "ROLLBACK");
	PQclear(res);
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
