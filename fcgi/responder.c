/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The responder: the top of the request path.  It waits for a
 * connection, runs the request through routing, authentication, the
 * body, idempotency and the handler, ends the transaction (the one
 * owner of that rule: commit what was not refused, roll back the rest),
 * sends the answer, logs and counts it, and releases the request.
 * Everything below it (fcgi-req.c's helpers, auth, handlers) is called
 * from here and never calls back.
 *
 * Waiting: each responder has its own epoll instance holding the shared
 * listening socket with EPOLLEXCLUSIVE, so the kernel wakes one idle
 * responder per connection instead of all of them (the thundering herd
 * of a shared poll).  SIGTERM is unblocked only inside epoll_pwait():
 * a stop takes effect between requests, never in the middle of one.
 */
#include "config.h"

#include <sys/epoll.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <malloc.h>

#include <fcgiapp.h>

#include "tollgate.h"

#define RESPONDER_DRAIN_MAX	64	/* queued connections answered at stop */

static volatile sig_atomic_t	responder_stop;

static int
responder_fcgx_read(void *stream, char *p, int n)
{
	return FCGX_GetStr(p, n, stream);
}

static int
responder_fcgx_write(void *stream, const char *p, int n)
{
	return FCGX_PutStr(p, n, stream);
}

static int
responder_fcgx_flush(void *stream)
{
	return FCGX_FFlush(stream) == 0 && FCGX_GetError(stream) == 0 ? 0 :
	    -1;
}

/*
 * The end of the request's transaction, decided here only: a refused
 * request (or an error status) rolls back whatever it wrote, anything
 * else commits.  A failed commit replaces the answer: a 2xx means
 * committed.
 */
static void
responder_end_tx(struct req *r)
{
	enum db_rc	 rc;

	if (!r->in_tx)
		return;
	if (r->refused || r->status >= 400) {
		db_rollback(r);
		return;
	}
	if ((rc = db_commit(r)) != DB_OK) {
		log_warnx("commit failed: %s", db_strerror(rc));
		r->nheaders = 0;
		req_error_from_db(r, rc);
	}
}

/*
 * An unknown page of the portal (404, 405) is shown in the shell, with
 * the navigation for a signed-in visitor: identify the session and bind
 * its tenant as a public page would.  GET and HEAD only (a POST would
 * meet the CSRF check first).  What this may answer (a dead session, an
 * outage) gives way to the error it precedes, headers included.
 */
static void
responder_page_who(struct req *r)
{
	static const struct route	 shell = { .method = "GET",
	    .pattern = "", .auth = AUTH_PAGE_PUBLIC, .resp = RESP_PAGE };
	size_t				 nheaders = r->nheaders;

	if (r->resp_kind != RESP_PAGE || (strcmp(r->method, "GET") != 0 &&
	    strcmp(r->method, "HEAD") != 0))
		return;
	if (auth_identify(r, &shell) == 0)
		(void)auth_bind(r, &shell);
	r->nheaders = nheaders;
}

/* 404 and 405: no route, or not with this method. */
static int
responder_route(struct req *r)
{
	enum route_match	 m;
	char			 allow[64];

	m = route_lookup(r->method, r->path, &r->route, r->path_params,
	    &r->npath_params, &r->arena, allow, sizeof(allow));
	if (m == ROUTE_FOUND) {
		r->resp_kind = routes[r->route].resp;
		return 0;
	}
	r->resp_kind = strncmp(r->path, "/api/", 5) == 0 ? RESP_API :
	    RESP_PAGE;
	responder_page_who(r);
	if (m == ROUTE_NO_METHOD) {
		req_header(r, "Allow", arena_strdup(&r->arena, allow));
		req_error(r, 405, NULL, "method_not_allowed",
		    "Method not allowed on this resource.", NULL);
	} else
		req_error(r, 404, NULL, "not_found", r->resp_kind == RESP_PAGE ?
		    "There is no page at this address." : "No such resource.",
		    NULL);
	return -1;
}

/* Read and parse the body the route takes; -1 with the answer set. */
static int
responder_body(struct req *r, const struct route *rt, FCGX_Request *fr)
{
	if (rt->body == BODY_STREAM) {
		r->in_rd = responder_fcgx_read;
		r->in_arg = fr->in;
		r->in_left = r->content_length;
		return 0;
	}
	if (rt->body != BODY_NONE && r->content_length > 0 &&
	    req_read_body(r, responder_fcgx_read, fr->in) == -1) {
		req_error(r, 400, NULL, "truncated_body",
		    "The body ended before Content-Length.", NULL);
		return -1;
	}
	if (req_parse_body(r, rt->body) == -1) {
		auth_key_refuse_unknown(r);
		return -1;
	}
	return 0;
}

/* Route, authenticate, read the body, run the handler. */
static void
responder_run(struct req *r, FCGX_Request *fr)
{
	const struct route	*rt;
	const char		*cause = "bad request";

	if (req_from_params(r, fr->envp, &cause) == -1) {
		req_error(r, 400, NULL, "bad_request", cause, NULL);
		return;
	}
	if (responder_route(r) == -1)
		return;
	rt = &routes[r->route];
	r->out_wr = responder_fcgx_write;
	r->out_flush = responder_fcgx_flush;
	r->out_arg = fr->out;
	if (r->content_length > REQ_BODY_MAX && rt->body != BODY_STREAM) {
		req_error(r, 413, NULL, "body_too_large",
		    "The body is over 1 MiB.", NULL);
		return;
	}
	if (auth_identify(r, rt) == -1 || responder_body(r, rt, fr) == -1 ||
	    auth_bind(r, rt) == -1)
		return;
	if (rt->idem && idem_begin(r) != 0)
		return;
	route_dispatch(r);
	if (rt->idem)
		idem_finish(r);
	if (r->status == 0)
		req_error(r, 500, NULL, "internal_error", "No response.", NULL);
}

static void
responder_send(struct req *r, FCGX_Request *fr)
{
	struct buf	 head;

	if (r->streamed)
		return;
	buf_init(&head, 65536);
	req_render_head(r, &head);
	FCGX_PutStr(head.p, (int)head.len, fr->out);
	if (strcmp(r->method != NULL ? r->method : "", "HEAD") != 0 &&
	    r->out.len > 0)
		FCGX_PutStr(r->out.p, (int)r->out.len, fr->out);
	buf_free(&head);
}

/*
 * The request's log line, with its database round trips: db= those of
 * its statements, prep= the PREPAREs of statements this connection ran
 * for the first time (they happen once per connection).  A path
 * carrying a secret ("{token}") is logged as its pattern.
 */
static void
responder_log(const struct req *r, double ms)
{
	char	 path[256];

	if (r->route >= 0 && strstr(routes[r->route].pattern, "{token}") !=
	    NULL)
		log_scrub(routes[r->route].pattern, path, sizeof(path));
	else
		log_scrub(r->path != NULL ? r->path : "-", path, sizeof(path));
	log_info("method=%s path=%s status=%d ms=%.2f db=%u prep=%u",
	    r->method != NULL ? r->method : "-", path, r->status, ms,
	    r->round_trips, r->prepares);
}

static void
responder_handle(struct req *r, FCGX_Request *fr)
{
	double	 ms;

	r->t0 = util_now_ms();
	req_set_id(r, req_param(fr->envp, "HTTP_X_REQUEST_ID"));
	log_set_rid(r->id);
	responder_run(r, fr);
	responder_end_tx(r);
	/*
	 * A portal page that ended in req_error()'s bare page is shown in
	 * the shell, from what the request holds (no SQL: the transaction
	 * is over); if that fails, the bare page stays.
	 */
	if (r->resp_kind == RESP_PAGE && r->status >= 400 && r->error_page)
		page_error(r);
	/* A 503 is an outage already logged by db.c; a 500 is a bug. */
	if (r->status == 500)
		log_err("%s: answered %d", __func__, r->status);
	responder_send(r, fr);
	ms = util_now_ms() - r->t0;
	responder_log(r, ms);
	metrics_request(r->route >= 0 ? (size_t)r->route : ROUTE__MAX,
	    r->status, ms);
	metrics_add(METRIC_DB_ROUND_TRIPS, r->round_trips + r->prepares);
}

/* Accept and answer one connection; -1 when none was waiting. */
static int
responder_serve_one(struct req *r, FCGX_Request *fr)
{
	int	 rc;

	rc = FCGX_Accept_r(fr);
	if (rc < 0) {
		if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR)
			log_warnx("%s: accept failed (%d)", __func__, rc);
		return -1;
	}
	responder_handle(r, fr);
	FCGX_Finish_r(fr);
	req_input_gone(r);
	if (r->after != NULL)
		r->after(r);
	mail_after_request(r);
	req_release(r);
	log_set_rid(NULL);
	return 0;
}

/* Is a SIGTERM or SIGINT waiting (blocked) for this responder? */
static int
responder_stop_pending(void)
{
	sigset_t	 pending;

	if (responder_stop)
		return 1;
	if (sigpending(&pending) == -1)
		return 0;
	return sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT);
}

static void
responder_on_term(int sig)
{
	responder_stop = 1;
}

/*
 * The responder's signals: SIGTERM and SIGINT set responder_stop and
 * are blocked but while waiting (waitmask is the mask to wait with);
 * SIGHUP is the master's business, SIGPIPE a closed peer.
 */
static void
responder_signals(sigset_t *waitmask)
{
	struct sigaction	 sa;
	sigset_t		 block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = responder_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}

/*
 * This responder's own epoll instance on the shared socket, made after
 * fork: EPOLLEXCLUSIVE acts per instance, so each responder is one
 * waiter of which the kernel wakes one.
 */
static int
responder_epoll(int listen_fd)
{
	struct epoll_event	 ev;
	int			 ep, flags;

	/* Non-blocking: a waiter woken for a connection another took. */
	if ((flags = fcntl(listen_fd, F_GETFL)) == -1 ||
	    fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		log_err("%s: fcntl: %s", __func__, strerror(errno));
		return -1;
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_err("%s: epoll_create1: %s", __func__, strerror(errno));
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.fd = listen_fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev) == -1) {
		log_err("%s: epoll_ctl: %s", __func__, strerror(errno));
		close(ep);
		return -1;
	}
	return ep;
}

/* The route patterns label the request metrics. */
static void
responder_metric_labels(void)
{
	static const char	*labels[ROUTE__MAX];
	size_t			 i;

	for (i = 0; i < ROUTE__MAX; i++)
		labels[i] = routes[i].pattern;
	metrics_labels(labels, ROUTE__MAX);
}

/*
 * The responder: wait with SIGTERM unblocked (epoll_pwait), accept and
 * answer with it blocked, so a stop request takes effect only between
 * requests and never drops one that was accepted.  At a stop, what is
 * already queued is answered (a bounded number) before leaving.
 */
int
responder_loop(int listen_fd)
{
	FCGX_Request		 fr;
	struct epoll_event	 ev;
	struct req		 r;
	sigset_t		 waitmask;
	int			 rc, ep;

	/*
	 * Large blocks (argon2id's 19 MiB work area above all) are mapped
	 * and unmapped each time instead of staying in the heap: a
	 * responder's memory returns to its resting size after every
	 * sign-in.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	responder_signals(&waitmask);
	responder_metric_labels();
	if ((ep = responder_epoll(listen_fd)) == -1)
		return -1;
	if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_err("%s: FCGX_InitRequest failed", __func__);
		close(ep);
		return -1;
	}
	req_init(&r);
	log_debug("responder ready");
	while (!responder_stop) {
		rc = epoll_pwait(ep, &ev, 1, -1, &waitmask);
		if (rc == -1) {
			if (errno == EINTR)
				continue;
			log_err("%s: epoll_pwait: %s", __func__, strerror(errno));
			break;
		}
		/*
		 * A socket that is always ready would keep a pending stop
		 * from ever being delivered in epoll_pwait: look for it here.
		 */
		if (responder_stop_pending())
			break;
		(void)responder_serve_one(&r, &fr);
	}
	for (rc = 0; rc < RESPONDER_DRAIN_MAX; rc++)
		if (responder_serve_one(&r, &fr) == -1)
			break;
	FCGX_Free(&fr, 1);
	close(ep);
	req_free(&r);
	db_close();
	log_debug("responder stopped");
	return 0;
}
