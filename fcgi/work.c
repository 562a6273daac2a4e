/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * tollgate work: the background worker.  Every TOLLGATE_WORK_INTERVAL
 * seconds it runs each job of the table below once; "--once" runs one
 * pass and exits (cron, tests).  Jobs take their rows with
 * FOR UPDATE SKIP LOCKED, so several workers on several hosts share
 * the work without doing any of it twice.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "tollgate.h"

static volatile sig_atomic_t	work_stop;

/*
 * Held reservations past their time give back what they hold, each
 * under its own tenant (their rows are the tenant's).
 */
static enum db_rc
work_expire_reservations(struct req *r, long long *n)
{
	struct pg_result	*res;
	enum db_rc		 rc;
	int			 i;

	if ((rc = db_usage_expired(r, 500, &res)) != DB_OK)
		return rc;
	for (i = 0; i < db_nrows(res); i++) {
		if ((rc = db_begin(r, db_get(res, i, 0))) != DB_OK)
			return rc;
		rc = db_usage_unhold(r, db_get(res, i, 1), "expired");
		if (rc != DB_OK && rc != DB_CONFLICT && rc != DB_NOTFOUND)
			return rc;
		if ((rc = db_commit(r)) != DB_OK)
			return rc;
		(*n)++;
	}
	return DB_OK;
}

struct work_job {
	const char	*name;
	enum db_rc	(*run)(struct req *, long long *);
};

static const struct work_job	work_jobs[] = {
	/* Expired sessions, refresh tokens and invitations. */
	{ "prune credentials", db_prune_auth },
	/* Idempotency-Key answers are kept a day. */
	{ "prune idempotency keys", db_prune_idempotency },
	/* Secrets to show once, that nobody came back for. */
	{ "prune reveals", db_prune_reveals },
	/* Past-due tenants whose grace period ran out. */
	{ "end grace periods", billing_end_grace },
	/* Reservations nobody settled or released in time. */
	{ "expire reservations", work_expire_reservations },
	/* Closed hourly windows with unreported usage, into the outbox. */
	{ "queue meter reports", meter_queue },
	/* The outbox to Stripe's meters, exactly once. */
	{ "send meter reports", meter_send },
	/* Notifications by e-mail and Slack, retried until they go. */
	{ "send notifications", notify_send },
	/* Stored objects nobody owns any more. */
	{ "collect storage garbage", storage_collect },
};

static void
work_on_term(int sig)
{
	work_stop = 1;
}

/* One pass over every job; returns -1 if any failed. */
static int
work_pass(struct req *r)
{
	size_t		 i;
	long long	 n;
	enum db_rc	 rc;
	int		 failed = 0;

	for (i = 0; i < sizeof(work_jobs) / sizeof(work_jobs[0]); i++) {
		n = 0;
		req_job(r, "worker");
		rc = work_jobs[i].run(r, &n);
		if (rc != DB_OK) {
			log_warnx("job \"%s\" failed: %s", work_jobs[i].name,
			    db_strerror(rc));
			failed = 1;
		} else if (n > 0)
			log_info("job \"%s\": %lld row(s)", work_jobs[i].name,
			    n);
		req_release(r);
	}
	return failed ? -1 : 0;
}

int
work_main(int argc, char *argv[])
{
	struct sigaction	 sa;
	struct req		 r;
	const char		*cause = NULL;
	int			 once, rc = 0;
	unsigned int		 left;

	once = argc > 1 && strcmp(argv[1], "--once") == 0;
	if (conf_require(&conf, "TOLLGATE_DATABASE_URL", &cause) == -1 ||
	    blob_conf_check(&conf, &cause) == -1) {
		log_err("%s", cause);
		return 1;
	}
	log_init("tollgate-work", conf.log_level);
	if (serve_drop_root(NULL, &cause) == -1) {
		log_err("%s", cause);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = work_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	req_init(&r);
	do {
		rc = work_pass(&r) == 0 ? 0 : 1;
		for (left = (unsigned int)conf.work_interval_s;
		    !once && left > 0 && !work_stop; left--)
			sleep(1);
	} while (!once && !work_stop);
	req_free(&r);
	db_close();
	return rc;
}
