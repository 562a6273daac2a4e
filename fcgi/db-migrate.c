/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * tollgate migrate: apply sql/NNN_name.sql in order, each in its own
 * transaction together with its row in schema_migrations, as the owner
 * role.  An advisory lock makes concurrent runs wait for each other, so
 * two hosts deploying at once apply each file exactly once.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "tollgate.h"

#define MIGRATE_FILES_MAX	1000
#define MIGRATE_FILE_MAX	(4 * 1024 * 1024)
#define MIGRATE_LOCK		"7161400133"	/* any constant bigint */

static void
migrate_notice(void *arg, const char *msg)
{
	/* "already exists, skipping" notices are expected on re-runs. */
}

static int
migrate_name_valid(const char *n)
{
	size_t	 len = strlen(n);

	return len > 8 && isdigit((unsigned char)n[0]) &&
	    isdigit((unsigned char)n[1]) && isdigit((unsigned char)n[2]) &&
	    n[3] == '_' && strcmp(n + len - 4, ".sql") == 0;
}

static int
migrate_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
migrate_exec(PGconn *c, const char *sql, int n, const char *const *vals,
    const char *what)
{
	PGresult	*res;
	ExecStatusType	 st;
	int		 rc = 0;

	res = n == 0 && vals == NULL ? PQexec(c, sql) :
	    PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "tollgate migrate: %s: %s", what,
		    PQresultErrorMessage(res));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

static char *
migrate_read(const char *dir, const char *name)
{
	char	 path[4096], *sql = NULL;
	FILE	*fp;
	long	 len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "tollgate migrate: %s: %s\n", path,
		    strerror(errno));
		return NULL;
	}
	if (fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) >= 0 &&
	    len <= MIGRATE_FILE_MAX && fseek(fp, 0, SEEK_SET) == 0) {
		sql = xmalloc((size_t)len + 1);
		if (fread(sql, 1, (size_t)len, fp) != (size_t)len) {
			free(sql);
			sql = NULL;
		} else
			sql[len] = '\0';
	}
	if (sql == NULL)
		fprintf(stderr, "tollgate migrate: %s: unreadable or over "
		    "%d bytes\n", path, MIGRATE_FILE_MAX);
	fclose(fp);
	return sql;
}

static int
migrate_applied(PGconn *c, const char *version)
{
	PGresult	*res;
	int		 yes;

	res = PQexecParams(c, "SELECT 1 FROM schema_migrations "
	    "WHERE version = $1", 1, NULL, &version, NULL, NULL, 0);
	yes = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
	PQclear(res);
	return yes;
}

static int
migrate_one(PGconn *c, const char *dir, const char *name, int verbose)
{
	char	*sql;
	int	 rc = -1;

	if ((sql = migrate_read(dir, name)) == NULL)
		return -1;
	if (migrate_exec(c, "BEGIN", 0, NULL, "BEGIN") == -1)
		goto done;
	if (migrate_exec(c, sql, 0, NULL, name) == -1 ||
	    migrate_exec(c, "INSERT INTO schema_migrations (version) "
	    "VALUES ($1)", 1, (const char *const *)&name, name) == -1 ||
	    migrate_exec(c, "COMMIT", 0, NULL, "COMMIT") == -1) {
		migrate_exec(c, "ROLLBACK", 0, NULL, "ROLLBACK");
		goto done;
	}
	if (verbose)
		printf("applied %s\n", name);
	rc = 0;
done:
	free(sql);
	return rc;
}

/* Apply what is missing from dir; returns 0 or -1 (reported). */
int
db_migrate_run(const char *url, const char *dir, int verbose)
{
	PGconn		*c;
	DIR		*d = NULL;
	struct dirent	*de;
	char		*names[MIGRATE_FILES_MAX];
	size_t		 n = 0, i, done = 0;
	int		 rc = -1;

	c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "tollgate migrate: connect: %s",
		    PQerrorMessage(c));
		goto out;
	}
	PQsetNoticeProcessor(c, migrate_notice, NULL);
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "tollgate migrate: %s: %s\n", dir,
		    strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL && n < MIGRATE_FILES_MAX)
		if (migrate_name_valid(de->d_name))
			names[n++] = xstrdup(de->d_name);
	qsort(names, n, sizeof(names[0]), migrate_cmp);
	if (migrate_exec(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", 0,
	    NULL, "lock") == -1 ||
	    migrate_exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version text PRIMARY KEY, applied_at timestamptz NOT NULL "
	    "DEFAULT now())", 0, NULL, "schema_migrations") == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (migrate_applied(c, names[i]))
			continue;
		if (migrate_one(c, dir, names[i], verbose) == -1)
			goto out;
		done++;
	}
	if (verbose)
		printf("%zu migration(s) applied, %zu already present\n", done,
		    n - done);
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	if (d != NULL)
		closedir(d);
	PQfinish(c);
	return rc;
}
