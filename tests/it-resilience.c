/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: what SPEC 1, 12 and 13 promise when things go wrong.  A
 * responder killed outright is replaced; PostgreSQL going away gives
 * 503 with Retry-After and service resumes by itself when it is back;
 * SIGHUP under steady load replaces every responder without failing a
 * request; hostile FastCGI records written straight to the socket do
 * not take the service down; PostgreSQL restarted under a load of usage
 * events loses none answered 2xx and, the failed batches sent again,
 * counts each exactly once.  SIGTERM is not tested here: it would stop
 * the stack under the other programs, and `tests/stack.sh down` does it
 * at the end of every run.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "it-util.h"

#define HEALTH		"/api/v1/health"
#define PIDS_MAX	300

static pid_t	 master;	/* the serve master, from the pid file */

/* --- shared steps -------------------------------------------------- */

/* The master is the one the stack started, and alive. */
static void
assert_master_unchanged(void)
{
	pid_t	 now = it_master_pid();

	if (now != master)
		fail_msg("the pid file now names %ld, not the master %ld: "
		    "tollgate serve was restarted", (long)now, (long)master);
	if (!it_pid_alive(master))
		fail_msg("the master %ld is gone", (long)master);
}

/*
 * Before each test: the service answers and the master has all its
 * responders, whatever the previous test left behind.
 */
static int
settle(void **state)
{
	pid_t	 pids[PIDS_MAX];
	size_t	 n = PIDS_MAX;

	if (it_wait_health(10.0) == -1)
		return -1;
	if (it_wait_responders(master, it_workers(), NULL, 0, 15.0, pids,
	    &n) == -1)
		return -1;
	return 0;
}

/* GET health "count" times in a row; how many were not 200. */
static int
health_series(int count, const char *what)
{
	struct it_resp	 r;
	int		 i, bad = 0;

	for (i = 0; i < count; i++) {
		if (it_request(&r, "GET", HEALTH, NULL, NULL, 0,
		    (const char *)NULL) == -1 || r.status != 200) {
			if (bad++ < 5)
				print_error("%s: request %d: status %ld %s "
				    "%.200s\n", what, i, r.status, r.error,
				    r.body);
		}
		it_response_free(&r);
	}
	return bad;
}

/* --- a. a responder killed with SIGKILL ------------------------------- */

static void
test_responder_sigkill(void **state)
{
	pid_t	 before[PIDS_MAX], after[PIDS_MAX], victim;
	size_t	 nbefore, nafter = PIDS_MAX, i;
	char	 needle[80], line[1024];
	int	 workers = it_workers(), fresh = 0, bad;
	double	 t0;

	nbefore = it_responder_pids(master, before, PIDS_MAX);
	it_print_pids("responders before", before, nbefore);
	assert_int_equal(nbefore, workers);
	victim = before[0];
	print_message("# SIGKILL to responder %ld\n", (long)victim);
	assert_int_equal(kill(victim, SIGKILL), 0);
	t0 = it_now_ms();

	assert_int_equal(it_wait_health(5.0), 0);
	print_message("# health answered 200 again after %.0f ms\n",
	    it_now_ms() - t0);
	bad = health_series(20, "after SIGKILL");
	if (bad != 0)
		fail_msg("%d of 20 requests after the SIGKILL failed", bad);

	if (it_wait_responders(master, workers, &victim, 1, 5.0, after,
	    &nafter) == -1) {
		it_print_pids("responders now", after, nafter);
		fail_msg("the master did not replace responder %ld within 5 s",
		    (long)victim);
	}
	it_print_pids("responders after", after, nafter);
	for (i = 0; i < nafter; i++)
		if (!it_pid_in(after[i], before, nbefore))
			fresh++;
	assert_int_equal(fresh, 1);
	snprintf(needle, sizeof(needle), "responder %ld killed by signal 9",
	    (long)victim);
	if (!it_log_find(needle, NULL, 2.0, line, sizeof(line)))
		fail_msg("the master did not log \"%s\"", needle);
	assert_master_unchanged();
}

/* --- b. PostgreSQL stopped and started -------------------------------- */

/* Whatever happened in the test, the next ones need PostgreSQL. */
static int
pg_restart(void **state)
{
	if (it_stack_sh("pg-start") != 0) {
		print_error("tests/stack.sh pg-start failed: the tests after "
		    "this one will fail too\n");
		return -1;
	}
	return 0;
}

/* One answer while the database is down: 503, degraded, Retry-After. */
static void
assert_down_answer(struct it_resp *r)
{
	struct json_object	*o;
	const char		*ra;
	char			*end;
	long			 secs;

	if (r->status != 503)
		fail_msg("database down: status %ld (%s), want 503: %.200s",
		    r->status, r->error, r->body);
	o = it_json(r);
	assert_int_equal(json_object_object_length(o), 3);
	assert_string_equal(it_json_str(o, "database"), "down");
	assert_non_null(it_json_str(o, "status"));
	assert_string_not_equal(it_json_str(o, "status"), "ok");
	if ((ra = it_header(r, "Retry-After")) == NULL)
		fail_msg("a 503 without Retry-After");
	secs = strtol(ra, &end, 10);
	if (*end != '\0' || secs < 1 || secs > 3600)
		fail_msg("Retry-After \"%s\" is not a number of seconds", ra);
}

static void
test_database_down(void **state)
{
	struct it_resp	 r;
	pid_t		 before[PIDS_MAX], after[PIDS_MAX];
	size_t		 nbefore, nafter, i;
	double		 t0;
	int		 ok, bad;

	nbefore = it_responder_pids(master, before, PIDS_MAX);
	assert_int_equal(it_stack_sh("pg-stop"), 0);

	/* Every responder, whichever answers, says the database is down. */
	for (i = 0; i < 12; i++) {
		assert_int_equal(it_request(&r, "GET", HEALTH, NULL, NULL, 0,
		    (const char *)NULL), 0);
		if (i == 0)
			print_message("# database down: %ld, Retry-After %s, "
			    "%s", r.status, it_header(&r, "Retry-After") !=
			    NULL ? it_header(&r, "Retry-After") : "(none)",
			    r.body);
		assert_down_answer(&r);
		it_response_free(&r);
	}
	/* No crash loop: the same responders are still there. */
	nafter = it_responder_pids(master, after, PIDS_MAX);
	for (i = 0; i < nafter; i++)
		if (!it_pid_in(after[i], before, nbefore)) {
			it_print_pids("responders before", before, nbefore);
			it_print_pids("responders now", after, nafter);
			fail_msg("responders were replaced while the database "
			    "was down");
		}
	assert_int_equal(nafter, nbefore);

	assert_int_equal(it_stack_sh("pg-start"), 0);
	t0 = it_now_ms();
	ok = it_wait_health(15.0) == 0;
	if (!ok)
		fail_msg("health not 200 within 15 s of PostgreSQL's return");
	print_message("# health 200 again %.0f ms after pg-start returned\n",
	    it_now_ms() - t0);
	/* Each responder reconnects on its own: all of them must be back. */
	bad = health_series(20, "after pg-start");
	if (bad != 0)
		fail_msg("%d of 20 requests failed after PostgreSQL came back",
		    bad);
	assert_master_unchanged();
}

/* --- c. SIGHUP under steady load ------------------------------------ */

struct load {
	pthread_t	 tid;
	CURL		*curl;
	long		 ok;
	long		 failed;
	char		 first_failure[512];
};

static atomic_int	 load_stop;

static void *
load_run(void *arg)
{
	struct load	*l = arg;
	struct it_resp	 r;
	char		*p;

	while (!atomic_load(&load_stop)) {
		if (it_request_on(l->curl, &r, "GET", HEALTH, NULL, NULL, 0,
		    NULL) == 0 && r.status == 200)
			l->ok++;
		else if (l->failed++ == 0) {
			snprintf(l->first_failure, sizeof(l->first_failure),
			    "status %ld %.200s %.150s", r.status, r.error,
			    r.body);
			for (p = l->first_failure; *p != '\0'; p++)
				if (*p == '\n' || *p == '\r')
					*p = ' ';
		}
		it_response_free(&r);
	}
	return NULL;
}

static void
test_sighup_under_load(void **state)
{
	struct load	 loads[4], *l;
	pid_t		 before[PIDS_MAX], after[PIDS_MAX];
	size_t		 nbefore, nafter = PIDS_MAX, i, nthreads;
	long		 ok = 0, failed = 0;
	int		 workers = it_workers(), hup;
	size_t		 reloads;
	double		 t0;

	nbefore = it_responder_pids(master, before, PIDS_MAX);
	it_print_pids("responders before", before, nbefore);
	reloads = it_log_count("configuration reloaded");
	memset(loads, 0, sizeof(loads));
	atomic_store(&load_stop, 0);
	for (nthreads = 0; nthreads < 4; nthreads++) {
		l = &loads[nthreads];
		if ((l->curl = curl_easy_init()) == NULL)
			break;
		if (pthread_create(&l->tid, NULL, load_run, l) != 0) {
			curl_easy_cleanup(l->curl);
			break;
		}
	}
	t0 = it_now_ms();
	if (nthreads < 4)
		goto stop;	/* stop the others, then fail */
	it_sleep_ms(500);
	for (hup = 0; hup < 3; hup++) {
		print_message("# SIGHUP to the master at %.0f ms\n",
		    it_now_ms() - t0);
		if (kill(master, SIGHUP) == -1)
			print_error("kill SIGHUP: %s\n", strerror(errno));
		it_sleep_ms(1000);
	}
	it_sleep_ms(500);
stop:
	atomic_store(&load_stop, 1);
	for (i = 0; i < nthreads; i++) {
		pthread_join(loads[i].tid, NULL);
		curl_easy_cleanup(loads[i].curl);
		ok += loads[i].ok;
		failed += loads[i].failed;
		if (loads[i].failed > 0)
			print_error("thread %zu: %ld failed, first: %s\n", i,
			    loads[i].failed, loads[i].first_failure);
	}
	if (nthreads < 4)
		fail_msg("could not start load thread %zu", nthreads);
	print_message("# %ld requests in %.0f ms, %ld failed\n", ok + failed,
	    it_now_ms() - t0, failed);
	assert_int_equal(failed, 0);
	assert_true(ok > 100);

	if (it_wait_responders(master, workers, before, nbefore, 20.0, after,
	    &nafter) == -1) {
		it_print_pids("responders now", after, nafter);
		fail_msg("after 3 SIGHUPs the responders were not all "
		    "replaced, or not %d of them, within 20 s", workers);
	}
	it_print_pids("responders after", after, nafter);
	if (it_log_count("configuration reloaded") < reloads + 3)
		fail_msg("the master logged %zu reloads for 3 SIGHUPs",
		    it_log_count("configuration reloaded") - reloads);
	assert_master_unchanged();
}

/* --- d. hostile FastCGI records ------------------------------------- */

/* Every length below is over 127: it_fcgi_len() writes all four bytes. */

/* (1) A name length near 2^31 in a PARAMS record cut short. */
static void
build_huge_name(struct it_fcgi *p)
{
	it_fcgi_begin(p, FCGI_RESPONDER);
	it_fcgi_header(p, FCGI_PARAMS, 100);
	it_fcgi_len(p, 0x7ffffff0);
	it_fcgi_put(p, "\x01" "AAAA", 5);
}

/* (2) A record that claims 65535 bytes; 10 come, then EOF. */
static void
build_short_record(struct it_fcgi *p)
{
	it_fcgi_begin(p, FCGI_RESPONDER);
	it_fcgi_header(p, FCGI_PARAMS, 65535);
	it_fcgi_put(p, "\x0b\x09REQUEST_M", 10);
}

/* (3) 4 KiB of noise from a fixed seed, so a failure can be replayed. */
static void
build_garbage(struct it_fcgi *p)
{
	uint64_t	 x = 0x746f6c6c67617465ULL;	/* "tollgate" */
	unsigned char	 c;
	size_t		 i;

	for (i = 0; i < 4096; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		c = (unsigned char)(x >> 24);
		it_fcgi_put(p, &c, 1);
	}
}

/* (4) A complete request but for its role, which does not exist. */
static void
build_unknown_role(struct it_fcgi *p)
{
	static const char	 param[] = "\x0e\x03REQUEST_METHODGET";

	it_fcgi_begin(p, 0x7777);
	it_fcgi_header(p, FCGI_PARAMS, sizeof(param) - 1);
	it_fcgi_put(p, param, sizeof(param) - 1);
	it_fcgi_header(p, FCGI_PARAMS, 0);
	it_fcgi_header(p, FCGI_STDIN, 0);
}

/* (5) A value length of 0xffffffff (2^31 - 1 once the flag is off). */
static void
build_huge_value(struct it_fcgi *p)
{
	it_fcgi_begin(p, FCGI_RESPONDER);
	it_fcgi_header(p, FCGI_PARAMS, 64);
	it_fcgi_put(p, "\x04", 1);
	it_fcgi_len(p, 0xffffffff);
	it_fcgi_put(p, "NAMEvvvv", 8);
}

/*
 * (6) Name and value lengths of 2^30 each: their sum overflows an int
 * and libfcgi 2.4.2 aborts in its Malloc (SPEC 12).
 */
static void
build_overflowing_sum(struct it_fcgi *p)
{
	it_fcgi_begin(p, FCGI_RESPONDER);
	it_fcgi_header(p, FCGI_PARAMS, 64);
	it_fcgi_len(p, 0x40000000);
	it_fcgi_len(p, 0x40000000);
	it_fcgi_put(p, "xxxxxxxxxxxxxxxx", 16);
}

/* (7) A short name with a value length of 0x7ffffffe: aborts too. */
static void
build_value_near_max(struct it_fcgi *p)
{
	it_fcgi_begin(p, FCGI_RESPONDER);
	it_fcgi_header(p, FCGI_PARAMS, 64);
	it_fcgi_put(p, "\x04", 1);
	it_fcgi_len(p, 0x7ffffffe);
	it_fcgi_put(p, "NAMEvvvv", 8);
}

/*
 * Send the bytes, end our side, and read until the responder lets go of
 * the connection.  Returns the bytes it answered, or -1 when it still
 * holds the connection after 5 s (a responder stuck on one client).
 */
static ssize_t
send_hostile(const struct it_fcgi *p)
{
	struct pollfd	 pfd;
	char		 buf[4096];
	double		 deadline;
	ssize_t		 n, got = 0;
	size_t		 off;
	int		 fd;

	if ((fd = it_unix_connect(it_env("TOLLGATE_SOCKET"))) == -1)
		fail_msg("cannot connect to the FastCGI socket");
	for (off = 0; off < p->len; off += (size_t)n)
		if ((n = send(fd, p->b + off, p->len - off, MSG_NOSIGNAL)) <=
		    0)
			break;	/* the responder may hang up early: fine */
	shutdown(fd, SHUT_WR);
	deadline = it_now_ms() + 5000.0;
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (it_now_ms() >= deadline ||
		    poll(&pfd, 1, (int)(deadline - it_now_ms())) == 0) {
			got = -1;
			break;
		}
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0)
			got += n;
	}
	close(fd);
	return got;
}

static void
test_hostile_fastcgi(void **state)
{
	static const struct {
		const char	*name;
		void		(*build)(struct it_fcgi *);
	} cases[] = {
		{ "PARAMS name length 0x7ffffff0, record cut",
		    build_huge_name },
		{ "record claims 65535 bytes, EOF after 10",
		    build_short_record },
		{ "4 KiB of garbage", build_garbage },
		{ "BEGIN_REQUEST with unknown role 0x7777",
		    build_unknown_role },
		{ "PARAMS value length 0xffffffff", build_huge_value },
		{ "PARAMS name and value lengths 2^30 each",
		    build_overflowing_sum },
		{ "PARAMS value length 0x7ffffffe", build_value_near_max },
	};
	struct it_fcgi	 p;
	pid_t		 pids[PIDS_MAX];
	size_t		 i, n = PIDS_MAX, deaths0;
	ssize_t		 got;
	int		 fd, k, refused = 0;

	deaths0 = it_log_count("killed by signal") +
	    it_log_count("exited with");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&p, 0, sizeof(p));
		cases[i].build(&p);
		got = send_hostile(&p);
		print_message("# (%zu) %s: %zu bytes sent, %zd answered\n",
		    i + 1, cases[i].name, p.len, got);
		if (got == -1)
			fail_msg("(%zu) %s: the responder still holds the "
			    "connection 5 s after our EOF", i + 1,
			    cases[i].name);
		if (it_wait_health(5.0) == -1)
			fail_msg("(%zu) %s: no healthy answer within 5 s",
			    i + 1, cases[i].name);
		assert_master_unchanged();
	}

	/* Last, connections opened and closed at once, some mid-header. */
	for (k = 0; k < 200; k++) {
		if ((fd = it_unix_connect(it_env("TOLLGATE_SOCKET"))) == -1) {
			refused++;
			continue;
		}
		if (k % 4 == 0)
			(void)send(fd, "\x01\x01\x00", 3, MSG_NOSIGNAL);
		close(fd);
	}
	print_message("# (%zu) 200 connections opened and closed, %d "
	    "refused\n", i + 1, refused);
	if (it_wait_health(5.0) == -1)
		fail_msg("no healthy answer within 5 s after 200 empty "
		    "connections");
	assert_master_unchanged();

	/* Whatever died, the master brings the number back. */
	if (it_wait_responders(master, it_workers(), NULL, 0, 30.0, pids,
	    &n) == -1)
		fail_msg("the master did not get back to %d responders",
		    it_workers());
	print_message("# responders that died on the way: %zu\n",
	    it_log_count("killed by signal") + it_log_count("exited with") -
	    deaths0);
	assert_int_equal(health_series(10, "after the hostile records"), 0);
}

/* --- e. PostgreSQL restarted under ingestion load --------------------- */

/*
 * I_THREADS clients send batches of I_BATCH new events each, pausing
 * between batches to stay well under TOLLGATE_RATE_METERING (6,000
 * requests a minute per tenant).  A batch is taken (a 2xx: committed)
 * or failed (503, no answer): a failed one is sent again, the same ids,
 * once PostgreSQL is back.
 */
#define I_THREADS	4
#define I_BATCH		25
#define I_BATCHES	3000	/* a client's batches at most */
#define I_PAUSE_MS	25
#define I_RETRY_S	60.0	/* for all the failed batches to be taken */
#define I_EVENTS	"/api/v1/usage/events"

static const char *const	 i_metrics[] = {
	"api_calls", "agent_executions", "messages", "llm_tokens"
};
#define I_NMETRICS	(sizeof(i_metrics) / sizeof(i_metrics[0]))

/* The tenant the events are for and its key (usage:write). */
static char		 i_tenant[64];
static char		 i_key[128];

/* 0 before pg-stop, 1 from pg-stop on, 2 once pg-start has returned. */
static atomic_int	 i_phase;
static atomic_int	 i_stop;

struct i_batch {
	long		 first;		/* status of the first send; 0: none */
	int		 sends;
	int		 taken;		/* a 2xx came */
	long long	 accepted;	/* what that 2xx said */
	long long	 duplicates;
};

struct i_client {
	pthread_t	 tid;
	CURL		*curl;
	int		 n;
	size_t		 nbatches;	/* sent at least once */
	struct i_batch	 b[I_BATCHES];
	long		 taken[3];	/* per phase */
	long		 failed[3];
	long		 s503;		/* failures: 503 */
	long		 transport;	/* no answer */
	long		 other;		/* anything else */
	atomic_long	 taken_after;	/* 2xx in phase 2 */
	double		 first_after;	/* when the first of those came */
	char		 first_fail[512];
	char		 first_other[512];
};

static struct i_client	 i_clients[I_THREADS];

/* Event j of batch k of client c: its id, metric and value. */
static void
i_event(int c, size_t k, int j, char *id, size_t idsz, size_t *metric,
    long long *value)
{
	snprintf(id, idsz, "pgr-%ld-%d-%zu-%d", (long)getpid(), c, k, j);
	*metric = (k + (size_t)j) % I_NMETRICS;
	*value = 1 + (long long)(((size_t)c * 31 + k * 7 + (size_t)j) % 97);
}

/* The body of batch k of client c: the same on every send. */
static void
i_body(int c, size_t k, char *out, size_t outsz)
{
	char		 id[64];
	size_t		 len, m;
	long long	 v;
	int		 j;

	len = (size_t)snprintf(out, outsz, "{\"events\":[");
	for (j = 0; j < I_BATCH && len < outsz; j++) {
		i_event(c, k, j, id, sizeof(id), &m, &v);
		len += (size_t)snprintf(out + len, outsz - len, "%s{\"id\":"
		    "\"%s\",\"metric\":\"%s\",\"value\":%lld}", j > 0 ? "," :
		    "", id, i_metrics[m], v);
	}
	if (len < outsz)
		snprintf(out + len, outsz - len, "]}");
}

/*
 * Send batch k of client x once on handle h: 1 when taken (a 2xx, its
 * numbers recorded), else 0.  The status into *status (0: no answer),
 * what came on one line into why when not taken.
 */
static int
i_send(CURL *h, struct i_client *x, size_t k, long *status, char *why,
    size_t whysz)
{
	struct i_batch		*b = &x->b[k];
	struct it_resp		 r;
	struct json_object	*j, *a, *d;
	char			 body[I_BATCH * 128], auth[192], *p;
	const char		*hdrs[2] = { auth, NULL };
	int			 taken = 0;

	i_body(x->n, k, body, sizeof(body));
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", i_key);
	if (it_request_on(h, &r, "POST", I_EVENTS, "application/json", body,
	    strlen(body), hdrs) == -1)
		r.status = 0;
	*status = r.status;
	if (b->sends++ == 0)
		b->first = r.status;
	if (r.status >= 200 && r.status < 300) {
		j = json_tokener_parse(r.body);
		if (j != NULL && json_object_object_get_ex(j, "accepted", &a) &&
		    json_object_object_get_ex(j, "duplicates", &d)) {
			b->taken = taken = 1;
			b->accepted = json_object_get_int64(a);
			b->duplicates = json_object_get_int64(d);
		}
		json_object_put(j);
	}
	why[0] = '\0';
	if (!taken)
		snprintf(why, whysz, "status %ld %.150s %.250s", r.status,
		    r.error, r.body);
	for (p = why; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	it_response_free(&r);
	return taken;
}

static void *
i_run(void *arg)
{
	struct i_client	*x = arg;
	char		 why[512];
	long		 st;
	int		 phase;

	while (!atomic_load(&i_stop) && x->nbatches < I_BATCHES) {
		phase = atomic_load(&i_phase);
		if (i_send(x->curl, x, x->nbatches++, &st, why,
		    sizeof(why))) {
			x->taken[phase]++;
			if (phase == 2 && atomic_fetch_add(&x->taken_after, 1) ==
			    0)
				x->first_after = it_now_ms();
		} else {
			x->failed[phase]++;
			if (st == 503)
				x->s503++;
			else if (st == 0)
				x->transport++;
			else if (x->other++ == 0)
				snprintf(x->first_other,
				    sizeof(x->first_other), "%s", why);
			if (x->first_fail[0] == '\0')
				snprintf(x->first_fail, sizeof(x->first_fail),
				    "%s", why);
		}
		it_sleep_ms(I_PAUSE_MS);
	}
	return NULL;
}

/* A new tenant on the team plan (nothing caps) with a usage:write key. */
static void
i_tenant_new(void)
{
	struct it_resp	 r;
	char		 email[128], pw[64], org[64], n[16];
	char		 access[IT_TOKEN_MAX];
	const char	*v[1];

	it_client_new();
	snprintf(email, sizeof(email), "pg-restart-%ld@example.com",
	    (long)getpid());
	snprintf(pw, sizeof(pw), "Pass-%ld-restart-word", (long)getpid());
	snprintf(org, sizeof(org), "PG restart %ld", (long)getpid());
	it_http(&r, "POST", "/api/v1/auth/register", NULL, NULL,
	    "application/json", it_jobj("email", email, "password", pw,
	    "organization", org, NULL));
	it_expect_status(&r, 201);
	it_copy_str(i_tenant, sizeof(i_tenant), &r, "tenant.id");
	it_copy_str(access, sizeof(access), &r, "access_token");
	it_response_free(&r);
	it_http(&r, "POST", "/api/v1/api-keys", NULL, access,
	    "application/json", "{\"name\":\"ingest\",\"scopes\":"
	    "[\"usage:write\"]}");
	it_expect_status(&r, 201);
	it_copy_str(i_key, sizeof(i_key), &r, "secret");
	it_response_free(&r);
	v[0] = i_tenant;
	if (it_owner_sql(n, sizeof(n), i_tenant, "UPDATE tenants SET plan = "
	    "'team', status = 'active' WHERE tenant_id = $1", 1, v) != 1)
		fail_msg("tenant %s not on the team plan", i_tenant);
}

/* One number of the tenant's rows, read as the database owner. */
static long long
i_num(const char *sql, const char *p1)
{
	char	 out[64];

	it_owner_sql(out, sizeof(out), i_tenant, sql, p1 != NULL ? 1 : 0,
	    &p1);
	return out[0] == '\0' ? -1 : atoll(out);
}

/*
 * Clients send batches of new events without a break while PostgreSQL
 * is stopped for 2 s and started again.  The service must come back by
 * itself (the same master, no restart of tollgate); each batch that
 * failed is then sent again, the same ids, until taken.  In the end
 * every event is counted exactly once: each id was accepted by one 2xx
 * answer, or by a failed send that committed all the same (its retry
 * finds the whole batch there), and the counters, the stored events and
 * the dedup index hold exactly the distinct events sent, per metric.
 */
static void
test_ingest_pg_restart(void **state)
{
	struct i_client	*x;
	struct i_batch	*b;
	char		 why[512], id[64];
	long long	 want[I_NMETRICS], v, acc = 0, dups = 0, got;
	long long	 events = 0, ambiguous = 0, wrong = 0;
	long		 st, retried = 0, resends = 0, taken[3] = { 0 };
	long		 failed[3] = { 0 }, s503 = 0, transport = 0, other = 0;
	double		 t0, t_stop = 0, t_start = 0, deadline;
	size_t		 i, k, m, nthreads;
	int		 j, rc_stop = -1, rc_start = -1, back;

	(void)state;
	i_tenant_new();
	memset(i_clients, 0, sizeof(i_clients));
	atomic_store(&i_phase, 0);
	atomic_store(&i_stop, 0);
	for (nthreads = 0; nthreads < I_THREADS; nthreads++) {
		x = &i_clients[nthreads];
		x->n = (int)nthreads;
		atomic_init(&x->taken_after, 0);
		if ((x->curl = curl_easy_init()) == NULL)
			break;
		if (pthread_create(&x->tid, NULL, i_run, x) != 0) {
			curl_easy_cleanup(x->curl);
			break;
		}
	}
	t0 = it_now_ms();
	if (nthreads < I_THREADS)
		goto stop;
	it_sleep_ms(1000);

	atomic_store(&i_phase, 1);
	print_message("# pg-stop at %.0f ms\n", it_now_ms() - t0);
	rc_stop = it_stack_sh("pg-stop");
	t_stop = it_now_ms();
	print_message("# PostgreSQL stopped at %.0f ms\n", t_stop - t0);
	if (rc_stop != 0)
		goto stop;
	it_sleep_ms(2000);
	rc_start = it_stack_sh("pg-start");
	t_start = it_now_ms();
	atomic_store(&i_phase, 2);
	print_message("# PostgreSQL started at %.0f ms\n", t_start - t0);
	if (rc_start != 0)
		goto stop;

	/* Every client must get batches taken again, tollgate untouched. */
	deadline = it_now_ms() + 20000.0;
	do {
		it_sleep_ms(50);
		for (i = 0, back = 0; i < nthreads; i++)
			if (atomic_load(&i_clients[i].taken_after) >= 3)
				back++;
	} while (back < (int)nthreads && it_now_ms() < deadline);
	it_sleep_ms(500);
stop:
	atomic_store(&i_stop, 1);
	for (i = 0; i < nthreads; i++) {
		x = &i_clients[i];
		pthread_join(x->tid, NULL);
		curl_easy_cleanup(x->curl);
		for (j = 0; j < 3; j++) {
			taken[j] += x->taken[j];
			failed[j] += x->failed[j];
		}
		s503 += x->s503;
		transport += x->transport;
		other += x->other;
		print_message("# client %zu: %zu batches; taken %ld/%ld/%ld, "
		    "failed %ld/%ld/%ld (before/down/after); first taken after "
		    "pg-start: %s%.0f ms\n", i, x->nbatches, x->taken[0],
		    x->taken[1], x->taken[2], x->failed[0], x->failed[1],
		    x->failed[2], x->first_after > 0 ? "+" : "never ",
		    x->first_after > 0 ? x->first_after - t_start : 0.0);
		if (x->first_fail[0] != '\0')
			print_message("# client %zu: first failure: %s\n", i,
			    x->first_fail);
		if (x->other > 0)
			it_deferred_fail("client %zu: %ld batch(es) answered "
			    "neither 2xx nor 503 nor nothing; first: %s", i,
			    x->other, x->first_other);
	}
	if (nthreads < I_THREADS)
		fail_msg("could not start client %zu", nthreads);
	if (rc_stop != 0)
		fail_msg("tests/stack.sh pg-stop failed (%d)", rc_stop);
	if (rc_start != 0)
		fail_msg("tests/stack.sh pg-start failed (%d)", rc_start);
	print_message("# batches: taken %ld before, %ld while down, %ld after; "
	    "failed %ld before, %ld while down, %ld after (%ld 503, %ld no "
	    "answer, %ld other)\n", taken[0], taken[1], taken[2], failed[0],
	    failed[1], failed[2], s503, transport, other);
	assert_master_unchanged();
	for (i = 0; i < nthreads; i++)
		if (atomic_load(&i_clients[i].taken_after) == 0)
			fail_msg("client %zu: no batch taken within 20 s of "
			    "PostgreSQL's return", i);
	if (taken[0] == 0)
		fail_msg("no batch was taken before PostgreSQL stopped");
	if (failed[1] + failed[2] == 0)
		fail_msg("no batch failed while PostgreSQL was down: nothing "
		    "was tested");
	if (failed[0] > 0)
		it_deferred_fail("%ld batch(es) failed before PostgreSQL was "
		    "stopped", failed[0]);

	/* Each failed batch again, the same ids, until taken. */
	deadline = it_now_ms() + I_RETRY_S * 1000.0;
	for (i = 0; i < nthreads; i++) {
		x = &i_clients[i];
		for (k = 0; k < x->nbatches; k++) {
			b = &x->b[k];
			if (b->taken)
				continue;
			retried++;
			while (!i_send(NULL, x, k, &st, why, sizeof(why))) {
				resends++;
				if (it_now_ms() > deadline)
					fail_msg("client %zu batch %zu not taken "
					    "after %d sends: %s", i, k, b->sends,
					    why);
				it_sleep_ms(st == 429 ? 1000 : 50);
			}
		}
	}
	print_message("# %ld failed batches sent again until taken (%ld more "
	    "failures on the way)\n", retried, resends);

	/* Each id accepted once in all; the counters hold exactly them. */
	memset(want, 0, sizeof(want));
	for (i = 0; i < nthreads; i++) {
		x = &i_clients[i];
		for (k = 0; k < x->nbatches; k++) {
			b = &x->b[k];
			for (j = 0; j < I_BATCH; j++) {
				i_event(x->n, k, j, id, sizeof(id), &m, &v);
				want[m] += v;
			}
			events += I_BATCH;
			acc += b->accepted;
			dups += b->duplicates;
			/*
			 * A batch is all or nothing; its first answer takes
			 * every event.  A failed send may still have been
			 * committed (the answer to COMMIT lost as the server
			 * went down): its retry then finds every id there.
			 */
			if (b->accepted + b->duplicates != I_BATCH ||
			    (b->sends == 1 && b->duplicates != 0) ||
			    (b->duplicates != 0 && b->duplicates != I_BATCH)) {
				if (wrong++ == 0)
					it_deferred_fail("client %zu batch %zu "
					    "(%d sends): accepted %lld "
					    "duplicates %lld of %d", i, k,
					    b->sends, b->accepted,
					    b->duplicates, I_BATCH);
			} else if (b->duplicates > 0) {
				ambiguous++;
				print_message("# client %zu batch %zu: answered "
				    "%ld, yet committed (%d sends)\n", i, k,
				    b->first, b->sends);
			}
		}
	}
	print_message("# %lld events sent in %zu batches: %lld accepted, %lld "
	    "duplicates; %lld failed batch(es) had been committed all the "
	    "same\n", events, (size_t)(events / I_BATCH), acc, dups,
	    ambiguous);
	if (acc + ambiguous * I_BATCH != events)
		it_deferred_fail("the 2xx answers accepted %lld events in all "
		    "and %lld batch(es) of %d were committed by a failed send: "
		    "want %lld, each id once", acc, ambiguous, I_BATCH, events);
	for (m = 0; m < I_NMETRICS; m++) {
		got = i_num("SELECT coalesce(sum(used), 0) FROM usage_counters "
		    "WHERE metric = $1", i_metrics[m]);
		print_message("# %s: counted %lld, sum of the distinct events "
		    "%lld\n", i_metrics[m], got, want[m]);
		if (got != want[m])
			it_deferred_fail("%s: counters %lld, the distinct events "
			    "sum to %lld", i_metrics[m], got, want[m]);
		got = i_num("SELECT coalesce(sum(value), 0) FROM usage_events "
		    "WHERE metric = $1", i_metrics[m]);
		if (got != want[m])
			it_deferred_fail("%s: usage_events sum to %lld, want "
			    "%lld", i_metrics[m], got, want[m]);
	}
	got = i_num("SELECT count(*) FROM usage_event_ids", NULL);
	if (got != events)
		it_deferred_fail("%lld event ids stored, want %lld", got,
		    events);
	got = i_num("SELECT count(*) FROM usage_events", NULL);
	if (got != events)
		it_deferred_fail("%lld events stored, want %lld", got, events);
	assert_master_unchanged();
	it_deferred_check();
}

static int
group_setup(void **state)
{
	it_init();
	it_client_init(65);
	it_env("TOLLGATE_URL");
	it_env("TOLLGATE_SOCKET");
	it_env("STACK_DIR");
	if (it_wait_health(15.0) == -1)
		return -1;
	master = it_master_pid();
	if (!it_pid_alive(master)) {
		print_error("the master %ld named by the pid file is not "
		    "running\n", (long)master);
		return -1;
	}
	print_message("# master %ld, %d responders wanted\n", (long)master,
	    it_workers());
	return 0;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test_setup(test_responder_sigkill, settle),
		cmocka_unit_test_setup_teardown(test_database_down, settle,
		    pg_restart),
		cmocka_unit_test_setup(test_sighup_under_load, settle),
		cmocka_unit_test_setup(test_hostile_fastcgi, settle),
		cmocka_unit_test_setup_teardown(test_ingest_pg_restart, settle,
		    pg_restart),
	};

	return cmocka_run_group_tests_name("it-resilience", tests,
	    group_setup, NULL);
}
