/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Helpers of the integration programs: see it-util.h.  They talk to the
 * stack only from the outside, as a client or an operator would (HTTP,
 * signals, /proc, the log file, the database owner's connection), never
 * through the product's code.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "it-util.h"

static int	 it_curl_ready;
static CURL	*it_curl;		/* it_request()'s handle */
static char	 it_source[64];		/* it_set_source(); "": none */

void *
it_alloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL) {
		fprintf(stderr, "it: out of memory\n");
		abort();
	}
	return p;
}

/* The n bytes at s and a NUL, with it_alloc(). */
char *
it_strndup(const char *s, size_t n)
{
	char	*p = it_alloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
it_init(void)
{
	if (it_curl_ready)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "it: curl_global_init failed\n");
		exit(1);
	}
	it_curl_ready = 1;
	/* Lines of several processes and threads should not interleave. */
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* A variable of stack.env; the test cannot go on without it. */
const char *
it_env(const char *name)
{
	const char	*v = getenv(name);

	if (v == NULL || *v == '\0')
		fail_msg("environment variable %s is not set: run this program "
		    "through tests/integration.sh (or export a stack's "
		    "stack.env)", name);
	return v;
}

const char *
it_env_or(const char *name, const char *def)
{
	const char	*v = getenv(name);

	return v != NULL && *v != '\0' ? v : def;
}

double
it_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void
it_sleep_ms(long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* --- HTTP ---------------------------------------------------------- */

struct it_sink {
	char	*p;
	size_t	 len;
	size_t	 max;
	int	 toobig;
};

/* Append, keeping a NUL after the data; past the cap, note and drop. */
static void
it_sink_add(struct it_sink *s, const char *p, size_t n)
{
	char	*np;

	if (s->toobig || s->len + n > s->max) {
		s->toobig = 1;
		return;
	}
	if ((np = realloc(s->p, s->len + n + 1)) == NULL) {
		s->toobig = 1;
		return;
	}
	s->p = np;
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static size_t
it_on_body(char *p, size_t size, size_t n, void *arg)
{
	it_sink_add(arg, p, size * n);
	return size * n;
}

/*
 * Keep only the head of the last response: an interim "100 Continue"
 * or a redirect starts a new status line and drops what came before.
 */
static size_t
it_on_header(char *p, size_t size, size_t n, void *arg)
{
	struct it_sink	*s = arg;

	if (size * n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		s->len = 0;
		s->toobig = 0;
	}
	it_sink_add(s, p, size * n);
	return size * n;
}

/* Split the raw head into name/value pairs (status line skipped). */
static void
it_parse_head(struct it_resp *resp)
{
	const char	*line, *end, *colon, *v, *ve;

	if (resp->head == NULL)
		return;
	for (line = resp->head; *line != '\0'; line = end) {
		end = strchr(line, '\n');
		end = end == NULL ? line + strlen(line) : end + 1;
		if ((colon = memchr(line, ':', (size_t)(end - line))) == NULL ||
		    strncmp(line, "HTTP/", 5) == 0)
			continue;
		if (resp->nheaders == IT_HEADERS_MAX)
			break;
		for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = end; ve > v && isspace((unsigned char)ve[-1]); ve--)
			;
		resp->headers[resp->nheaders].name = it_strndup(line,
		    (size_t)(colon - line));
		resp->headers[resp->nheaders].value = it_strndup(v,
		    (size_t)(ve - v));
		resp->nheaders++;
	}
}

/* it_request()'s handle, made on first use. */
static CURL *
it_main_curl(void)
{
	it_init();
	if (it_curl == NULL)
		it_curl = curl_easy_init();
	assert_non_null(it_curl);
	return it_curl;
}

/*
 * Requests made from now on, on any handle, go out from the local
 * address "addr" (CURLOPT_INTERFACE), such as 127.9.1.10: the web
 * server sees it as the client's.  NULL: the system's choice again.
 */
void
it_set_source(const char *addr)
{
	it_source[0] = '\0';
	if (addr == NULL)
		return;
	if (strlen(addr) >= sizeof(it_source))
		fail_msg("source address too long: %s", addr);
	memcpy(it_source, addr, strlen(addr) + 1);
}

/*
 * One request on a given handle (one per thread; NULL: it_request()'s
 * handle, main thread only), from the address of it_set_source().
 * "hdrs" is a NULL-terminated list of extra "Name: value" lines, or
 * NULL.  A body (even an empty one) is sent for POST, PUT and PATCH and
 * whenever "body" is not NULL.  Returns 0 when a response came (any
 * status), -1 on a transport failure, described in resp->error.  The
 * response is overwritten: free a previous one first.
 */
int
it_request_on(CURL *h, struct it_resp *resp, const char *method,
    const char *path, const char *ctype, const void *body, size_t bodylen,
    const char *const *hdrs)
{
	struct curl_slist	*list = NULL;
	struct it_sink		 bs = { NULL, 0, IT_BODY_MAX, 0 };
	struct it_sink		 hs = { NULL, 0, IT_HEAD_MAX, 0 };
	char			 url[4096], line[1024];
	const char		*base;
	CURLcode		 cc;
	double			 t0;
	int			 sends_body;

	memset(resp, 0, sizeof(*resp));
	if (h == NULL)
		h = it_main_curl();
	/* An absolute URL goes elsewhere (an emulator's pages). */
	base = strncmp(path, "http://", 7) == 0 ? "" : it_env("TOLLGATE_URL");
	snprintf(url, sizeof(url), "%s%s", base, path);
	sends_body = body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (it_source[0] != '\0')
		curl_easy_setopt(h, CURLOPT_INTERFACE, it_source);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)IT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)IT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->error);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, it_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &bs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, it_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &hs);
	/* Path bytes go as given: "%zz" must reach the server as is. */
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (sends_body) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ?
		    (const char *)body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(body != NULL ? bodylen : 0));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

	/* No "Expect: 100-continue" dance; no default form content type. */
	list = curl_slist_append(list, "Expect:");
	if (ctype != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		list = curl_slist_append(list, line);
	} else if (sends_body)
		list = curl_slist_append(list, "Content-Type:");
	for (; hdrs != NULL && *hdrs != NULL; hdrs++)
		list = curl_slist_append(list, *hdrs);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);

	t0 = it_now_ms();
	cc = curl_easy_perform(h);
	resp->ms = it_now_ms() - t0;
	curl_slist_free_all(list);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	else if (resp->error[0] == '\0')
		snprintf(resp->error, sizeof(resp->error), "%s",
		    curl_easy_strerror(cc));
	resp->body = bs.p != NULL ? bs.p : it_strndup("", 0);
	resp->body_len = bs.len;
	resp->truncated = bs.toobig;
	resp->head = hs.p != NULL ? hs.p : it_strndup("", 0);
	resp->head_len = hs.len;
	it_parse_head(resp);
	return cc == CURLE_OK ? 0 : -1;
}

/*
 * it_request(&resp, method, path, content_type, body, bodylen,
 *     "Name: value", ..., NULL) on the main thread's handle.
 */
int
it_request(struct it_resp *resp, const char *method, const char *path,
    const char *ctype, const void *body, size_t bodylen, ...)
{
	const char	*hdrs[IT_EXTRA_MAX + 1];
	const char	*h;
	va_list		 ap;
	size_t		 n = 0;

	va_start(ap, bodylen);
	while ((h = va_arg(ap, const char *)) != NULL)
		if (n < IT_EXTRA_MAX)
			hdrs[n++] = h;
	va_end(ap);
	hdrs[n] = NULL;
	return it_request_on(it_main_curl(), resp, method, path, ctype, body,
	    bodylen, hdrs);
}

/* The value of the first header "name" (any case), or NULL. */
const char *
it_header(const struct it_resp *resp, const char *name)
{
	size_t	 i;

	for (i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

void
it_response_free(struct it_resp *resp)
{
	size_t	 i;

	for (i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->head);
	free(resp->body);
	if (resp->json != NULL)
		json_object_put(resp->json);
	memset(resp, 0, sizeof(*resp));
}

/*
 * Poll GET /api/v1/health every 100 ms until it answers 200.  Returns
 * 0, or -1 after "seconds" with the last answer printed.
 */
int
it_wait_health(double seconds)
{
	struct it_resp	 r;
	double		 deadline = it_now_ms() + seconds * 1000.0;
	char		 last[512];

	last[0] = '\0';
	for (;;) {
		if (it_request(&r, "GET", "/api/v1/health", NULL, NULL, 0,
		    (const char *)NULL) == 0 && r.status == 200) {
			it_response_free(&r);
			return 0;
		}
		snprintf(last, sizeof(last), "status %ld, %s%.200s", r.status,
		    r.error[0] != '\0' ? r.error : "body ", r.body);
		it_response_free(&r);
		if (it_now_ms() >= deadline)
			break;
		it_sleep_ms(100);
	}
	print_error("health did not answer 200 within %.1f s; last: %s\n",
	    seconds, last);
	return -1;
}

/* Host and port of $TOLLGATE_URL ("http://host:port/..."). */
static int
it_url_hostport(char *host, size_t hostsz, char *port, size_t portsz)
{
	const char	*u = it_env("TOLLGATE_URL"), *h, *c, *e;

	if (strncmp(u, "http://", 7) != 0)
		return -1;
	h = u + 7;
	e = h + strcspn(h, "/");
	if ((c = memchr(h, ':', (size_t)(e - h))) == NULL) {
		c = e;
		snprintf(port, portsz, "80");
	} else
		snprintf(port, portsz, "%.*s", (int)(e - c - 1), c + 1);
	snprintf(host, hostsz, "%.*s", (int)(c - h), h);
	return 0;
}

/*
 * Send "request" as is to the web server and read until it closes
 * (send HTTP/1.0 or "Connection: close").  For what libcurl hides, such
 * as the bytes after the head of a HEAD answer.  *out is malloc'd and
 * NUL-terminated (caller frees).  Returns 0 or -1.
 */
int
it_raw_http(const char *request, char **out, size_t *outlen)
{
	struct addrinfo	 hints, *res = NULL;
	struct it_sink	 s = { NULL, 0, IT_BODY_MAX, 0 };
	struct pollfd	 pfd;
	char		 host[256], port[16], chunk[4096];
	double		 deadline;
	ssize_t		 n;
	size_t		 off, len = strlen(request);
	int		 fd = -1, rc = -1;

	*out = NULL;
	*outlen = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (it_url_hostport(host, sizeof(host), port, sizeof(port)) == -1 ||
	    getaddrinfo(host, port, &hints, &res) != 0) {
		print_error("cannot resolve TOLLGATE_URL\n");
		goto done;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	    -1 || connect(fd, res->ai_addr, res->ai_addrlen) == -1) {
		print_error("connect %s:%s: %s\n", host, port, strerror(errno));
		goto done;
	}
	for (off = 0; off < len; off += (size_t)n)
		if ((n = write(fd, request + off, len - off)) <= 0) {
			print_error("write: %s\n", strerror(errno));
			goto done;
		}
	deadline = it_now_ms() + IT_TIMEOUT_S * 1000.0;
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (it_now_ms() >= deadline ||
		    poll(&pfd, 1, (int)(deadline - it_now_ms())) == 0) {
			print_error("no end of response within %d s\n",
			    IT_TIMEOUT_S);
			goto done;
		}
		if ((n = read(fd, chunk, sizeof(chunk))) == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			print_error("read: %s\n", strerror(errno));
			goto done;
		}
		it_sink_add(&s, chunk, (size_t)n);
	}
	rc = 0;
done:
	if (fd != -1)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
	*out = s.p != NULL ? s.p : it_strndup("", 0);
	*outlen = s.len;
	return rc;
}

/* Is this an id the product generated: 32 lower-case hex digits? */
int
it_rid_is_generated(const char *s)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (!isdigit((unsigned char)s[n]) && (s[n] < 'a' || s[n] > 'f'))
			return 0;
	return n == 32;
}

/* --- JSON ---------------------------------------------------------- */

/* The body as JSON, owned by resp; a body that is not JSON fails. */
struct json_object *
it_json(struct it_resp *resp)
{
	enum json_tokener_error	 err = json_tokener_success;

	if (resp->json != NULL)
		return resp->json;
	resp->json = json_tokener_parse_verbose(resp->body, &err);
	if (resp->json == NULL)
		fail_msg("status %ld: body is not JSON (%s): %.300s",
		    resp->status, json_tokener_error_desc(err), resp->body);
	return resp->json;
}

/*
 * Look up a dotted path ("error.type").  Returns 1 when every member
 * exists, with *out the value (NULL for a JSON null), else 0.
 */
int
it_json_get(struct json_object *o, const char *path, struct json_object **out)
{
	char		 key[256];
	const char	*p = path, *dot;
	size_t		 n;

	*out = NULL;
	for (;;) {
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(key) ||
		    !json_object_is_type(o, json_type_object))
			return 0;
		memcpy(key, p, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(o, key, &o))
			return 0;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	*out = o;
	return 1;
}

/* A string member at a dotted path, or NULL (missing, not a string). */
const char *
it_json_str(struct json_object *o, const char *path)
{
	struct json_object	*v;

	if (!it_json_get(o, path, &v) || !json_object_is_type(v,
	    json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A string member of the body that must be there, or the test fails. */
const char *
it_must_str(struct it_resp *resp, const char *path)
{
	const char	*v = it_json_str(it_json(resp), path);

	if (v == NULL)
		fail_msg("no string at \"%s\" in %.300s", path, resp->body);
	return v;
}

/* it_must_str() into dst, which it must fit. */
void
it_copy_str(char *dst, size_t dstsz, struct it_resp *resp, const char *path)
{
	const char	*v = it_must_str(resp, path);

	if (strlen(v) >= dstsz)
		fail_msg("\"%s\" is %zu bytes, more than the %zu expected",
		    path, strlen(v), dstsz - 1);
	memcpy(dst, v, strlen(v) + 1);
}

/*
 * A JSON object text from "key", "value" pairs, NULL-terminated; every
 * value is a string.  In a static buffer, valid until the next call.
 */
const char *
it_jobj(const char *k, ...)
{
	static char		 out[8192];
	struct json_object	*o = json_object_new_object();
	const char		*v;
	va_list			 ap;

	va_start(ap, k);
	for (; k != NULL; k = va_arg(ap, const char *)) {
		v = va_arg(ap, const char *);
		json_object_object_add(o, k, json_object_new_string(v));
	}
	va_end(ap);
	if ((size_t)snprintf(out, sizeof(out), "%s",
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) >=
	    sizeof(out))
		fail_msg("JSON body over %zu bytes", sizeof(out));
	json_object_put(o);
	return out;
}

/* --- checks -------------------------------------------------------- */

static int	 it_deferred;	/* it_deferred_fail() calls not yet checked */

void
it_expect_status(const struct it_resp *resp, long status)
{
	if (resp->status != status)
		fail_msg("status %ld, want %ld: %.300s", resp->status, status,
		    resp->body);
}

/*
 * A failure that should not hide the checks after it (a product bug
 * found and reported): said now, and the test fails at its end, in
 * it_deferred_check().
 */
void
it_deferred_fail(const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("ERROR (the test goes on): %s\n", msg);
	it_deferred++;
}

/* Fail the test if it_deferred_fail() was called since the last check. */
void
it_deferred_check(void)
{
	int	 n = it_deferred;

	it_deferred = 0;
	if (n > 0)
		fail_msg("%d failure(s) reported above", n);
}

/* Forget failures a test that stopped early left unchecked. */
void
it_deferred_reset(void)
{
	it_deferred = 0;
}

/* --- processes ----------------------------------------------------- */

pid_t
it_master_pid(void)
{
	const char	*path = it_env("TOLLGATE_PIDFILE");
	char		 line[64], *end;
	FILE		*fp;
	long		 pid;

	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("pid file %s: %s", path, strerror(errno));
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	errno = 0;
	pid = strtol(line, &end, 10);
	if (errno != 0 || end == line || (*end != '\n' && *end != '\0') ||
	    pid <= 1)
		fail_msg("pid file %s: no pid in \"%s\"", path, line);
	return (pid_t)pid;
}

/*
 * Read "pid (comm) S ppid" from /proc/<pid>/stat.  comm may hold spaces
 * and parentheses, so parse from the last ')'.
 */
static int
it_proc_stat(pid_t pid, char *state, pid_t *ppid)
{
	char	 path[64], buf[1024], *rp;
	FILE	*fp;
	size_t	 n;
	long	 pp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((rp = strrchr(buf, ')')) == NULL ||
	    sscanf(rp + 1, " %c %ld", state, &pp) != 2)
		return -1;
	*ppid = (pid_t)pp;
	return 0;
}

/*
 * The live children of "master": a scan of /proc/<pid>/stat for the
 * parent pid (/proc/<pid>/task/<pid>/children needs a kernel option
 * not every machine has).  Zombies, dead but not yet reaped, are left
 * out.  Returns how many were found; at most "max" are stored.
 */
size_t
it_responder_pids(pid_t master, pid_t *pids, size_t max)
{
	DIR		*d;
	struct dirent	*de;
	char		 state, *end;
	pid_t		 ppid;
	long		 pid;
	size_t		 n = 0;

	if ((d = opendir("/proc")) == NULL)
		fail_msg("opendir /proc: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (it_proc_stat((pid_t)pid, &state, &ppid) == -1 ||
		    ppid != master || state == 'Z' || state == 'X')
			continue;
		if (n < max)
			pids[n] = (pid_t)pid;
		n++;
	}
	closedir(d);
	return n;
}

/* Does the process exist and is it not a zombie? */
int
it_pid_alive(pid_t pid)
{
	char	 state;
	pid_t	 ppid;

	if (kill(pid, 0) == -1 && errno != EPERM)
		return 0;
	return it_proc_stat(pid, &state, &ppid) == 0 && state != 'Z' &&
	    state != 'X';
}

/* The configured number of responders of both pools; serve's defaults. */
int
it_workers(void)
{
	const char	*v = getenv("TOLLGATE_WORKERS");
	const char	*gw = getenv("TOLLGATE_GATEWAY_LISTEN");
	const char	*gn = getenv("TOLLGATE_GATEWAY_WORKERS");
	long		 cores, n, g = 0;
	char		*end;

	if (v == NULL || *v == '\0') {
		cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores > 0 ? 2 * cores : 2;
	} else {
		n = strtol(v, &end, 10);
		if (*end != '\0' || n < 1 || n > 256)
			fail_msg("TOLLGATE_WORKERS=%s is not a number of "
			    "responders", v);
	}
	/* The gateway's pool, when the stack has one (8 by default). */
	if (gw != NULL && *gw != '\0') {
		g = gn != NULL && *gn != '\0' ? strtol(gn, &end, 10) : 8;
		if (gn != NULL && *gn != '\0' && (*end != '\0' || g < 1 ||
		    g > 256))
			fail_msg("TOLLGATE_GATEWAY_WORKERS=%s is not a number "
			    "of responders", gn);
	}
	return (int)(n + g);
}

/* Is pid one of the n in set? */
int
it_pid_in(pid_t pid, const pid_t *set, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (set[i] == pid)
			return 1;
	return 0;
}

/* "# what: pid pid ..." */
void
it_print_pids(const char *what, const pid_t *pids, size_t n)
{
	size_t	 i;

	print_message("# %s:", what);
	for (i = 0; i < n; i++)
		print_message(" %ld", (long)pids[i]);
	print_message("\n");
}

/*
 * Wait until the master has exactly "want" live children, none of them
 * in "exclude".  The last view is left in pids and npids.  Returns 0, or -1
 * after "seconds".
 */
int
it_wait_responders(pid_t master, int want, const pid_t *exclude,
    size_t nexclude, double seconds, pid_t *pids, size_t *npids)
{
	double	 deadline = it_now_ms() + seconds * 1000.0;
	size_t	 i, n, max = *npids;
	int	 stale;

	for (;;) {
		n = it_responder_pids(master, pids, max);
		*npids = n < max ? n : max;
		stale = 0;
		for (i = 0; i < *npids; i++)
			if (it_pid_in(pids[i], exclude, nexclude))
				stale++;
		if (n == (size_t)want && stale == 0)
			return 0;
		if (it_now_ms() >= deadline)
			break;
		it_sleep_ms(50);
	}
	print_error("master %ld: %zu responders after %.1f s, %d of them "
	    "ones that should be gone; want %d\n", (long)master, n, seconds,
	    stale, want);
	return -1;
}

/* Run a shell command (system(3)); its exit status, 128+N if killed. */
int
it_sh(const char *fmt, ...)
{
	char	 cmd[4096];
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	print_message("$ %s\n", cmd);
	fflush(stdout);
	if ((rc = system(cmd)) == -1)
		return -1;
	if (WIFEXITED(rc))
		return WEXITSTATUS(rc);
	return WIFSIGNALED(rc) ? 128 + WTERMSIG(rc) : -1;
}

/* The source tree, where tests/stack.sh is; the test needs it. */
static const char *
it_srcdir(void)
{
	const char	*d = getenv("TOLLGATE_SRCDIR");

	if (d == NULL || *d == '\0')
		d = getenv("top_srcdir");
	if (d == NULL || *d == '\0')
		fail_msg("neither TOLLGATE_SRCDIR nor top_srcdir is set: "
		    "cannot find tests/stack.sh");
	return d;
}

/* `tests/stack.sh cmd $STACK_DIR`, as it_sh(). */
int
it_stack_sh(const char *cmd)
{
	return it_sh("'%s/tests/stack.sh' %s '%s'", it_srcdir(), cmd,
	    it_env("STACK_DIR"));
}

/* --- the log and the FastCGI socket ---------------------------------- */

/* One pass over $TOLLGATE_LOG for a line holding s1 (and s2). */
static int
it_log_scan(const char *s1, const char *s2, char *out, size_t outsz)
{
	const char	*path = it_env("TOLLGATE_LOG");
	char		*line = NULL;
	size_t		 cap = 0;
	FILE		*fp;
	int		 found = 0;

	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("log %s: %s", path, strerror(errno));
	while (getline(&line, &cap, fp) != -1)
		if (strstr(line, s1) != NULL &&
		    (s2 == NULL || strstr(line, s2) != NULL)) {
			if (out != NULL)
				snprintf(out, outsz, "%s", line);
			found = 1;
			break;
		}
	free(line);
	fclose(fp);
	return found;
}

/*
 * Is there a line in $TOLLGATE_LOG holding s1 and (unless NULL) s2?
 * Polled for "seconds": a responder logs after it has answered.  The
 * line goes to out when found.
 */
int
it_log_find(const char *s1, const char *s2, double seconds, char *out,
    size_t outsz)
{
	double	 deadline = it_now_ms() + seconds * 1000.0;

	for (;;) {
		if (it_log_scan(s1, s2, out, outsz))
			return 1;
		if (it_now_ms() >= deadline)
			return 0;
		it_sleep_ms(50);
	}
}

/* How many lines read from fp hold s; fp is closed. */
static size_t
it_lines_with(FILE *fp, const char *s)
{
	char	*line = NULL;
	size_t	 cap = 0, n = 0;

	while (getline(&line, &cap, fp) != -1)
		if (strstr(line, s) != NULL)
			n++;
	free(line);
	fclose(fp);
	return n;
}

/* How many lines of $TOLLGATE_LOG hold s. */
size_t
it_log_count(const char *s)
{
	const char	*path = it_env("TOLLGATE_LOG");
	FILE		*fp;

	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("log %s: %s", path, strerror(errno));
	return it_lines_with(fp, s);
}

/* How many lines of the file at path hold s; 0 when it cannot be read. */
size_t
it_file_count(const char *path, const char *s)
{
	FILE	*fp;

	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	return it_lines_with(fp, s);
}

/* A stream connection to a unix socket, or -1 (printed). */
int
it_unix_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		print_error("socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		print_error("socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		print_error("connect %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* --- FastCGI records ----------------------------------------------- */

void
it_fcgi_put(struct it_fcgi *p, const void *data, size_t n)
{
	assert_true(p->len + n <= sizeof(p->b));
	if (n > 0)
		memcpy(p->b + p->len, data, n);
	p->len += n;
}

/* A record header: version 1, type, request id 1, length, no padding. */
void
it_fcgi_header(struct it_fcgi *p, int type, size_t clen)
{
	unsigned char	 h[FCGI_HEADER_LEN];

	assert_true(clen <= 0xffff);
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = 0;
	h[3] = 1;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)(clen & 0xff);
	h[6] = 0;
	h[7] = 0;
	it_fcgi_put(p, h, sizeof(h));
}

/* BEGIN_REQUEST with this role, flags 0: the connection then closes. */
void
it_fcgi_begin(struct it_fcgi *p, int role)
{
	unsigned char	 body[8] = { 0 };

	body[0] = (unsigned char)(role >> 8);
	body[1] = (unsigned char)(role & 0xff);
	it_fcgi_header(p, FCGI_BEGIN_REQUEST, sizeof(body));
	it_fcgi_put(p, body, sizeof(body));
}

/* A name or value length: one byte under 128, else four, top bit set. */
void
it_fcgi_len(struct it_fcgi *p, size_t len)
{
	unsigned char	 b[4];

	if (len < 128) {
		b[0] = (unsigned char)len;
		it_fcgi_put(p, b, 1);
		return;
	}
	b[0] = (unsigned char)((len >> 24) | 0x80);
	b[1] = (unsigned char)(len >> 16);
	b[2] = (unsigned char)(len >> 8);
	b[3] = (unsigned char)len;
	it_fcgi_put(p, b, sizeof(b));
}

/* --- the database, as its owner ------------------------------------ */

/*
 * Count the account of "email" verified, as an operator could with the
 * owner's connection (TOLLGATE_OWNER_DATABASE_URL): for tests of other
 * things that need an owner who may invite.  Users are global, with no
 * row-level security, so no tenant is set.  Exactly one account must
 * have the address, or the test fails.
 */
void
it_mark_verified(const char *email)
{
	PGconn		*c;
	PGresult	*res;
	const char	*v[1] = { email };
	char		 why[512];
	int		 ok;

	c = PQconnectdb(it_env("TOLLGATE_OWNER_DATABASE_URL"));
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		snprintf(why, sizeof(why), "%s", c != NULL ?
		    PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		fail_msg("owner connection: %s", why);
	}
	res = PQexecParams(c, "UPDATE users SET email_verified_at = now() "
	    "WHERE email = lower($1)", 1, NULL, v, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdTuples(res), "1") == 0;
	snprintf(why, sizeof(why), "%s", PQresultStatus(res) ==
	    PGRES_COMMAND_OK ? PQcmdTuples(res) : PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	if (!ok)
		fail_msg("marking %s verified: %s", email, why);
}

/*
 * A statement as the database owner, with text parameters, for the
 * tenant given (row-level security is forced on tenant tables, for
 * their owner too) or none: the first column of the first row into out
 * ("" when none or NULL); the rows returned or changed.  A failed
 * statement fails the test.
 */
long
it_owner_sql(char *out, size_t outsz, const char *tenant, const char *sql,
    int n, const char *const *v)
{
	PGconn		*c;
	PGresult	*res;
	char		 why[512];
	long		 rows = -1;

	if (out != NULL && outsz > 0)
		out[0] = '\0';
	c = PQconnectdb(it_env("TOLLGATE_OWNER_DATABASE_URL"));
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		snprintf(why, sizeof(why), "%s", c != NULL ?
		    PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		fail_msg("owner connection: %s", why);
	}
	if (tenant != NULL) {
		res = PQexecParams(c, "SELECT set_config('tollgate.tenant_id', "
		    "$1, false)", 1, NULL, &tenant, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("set tenant: %s", PQerrorMessage(c));
		PQclear(res);
	}
	res = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		rows = PQntuples(res);
		if (rows > 0 && out != NULL && !PQgetisnull(res, 0, 0))
			snprintf(out, outsz, "%s", PQgetvalue(res, 0, 0));
	} else if (PQresultStatus(res) == PGRES_COMMAND_OK)
		rows = atol(PQcmdTuples(res));
	else
		snprintf(why, sizeof(why), "%s", PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	if (rows < 0)
		fail_msg("owner statement failed: %s: %s", sql, why);
	return rows;
}

/* --- a program's clients, portal forms and the mail sink ----------------- */

static unsigned int	 it_net;		/* 127.<net>.P.N */
static unsigned int	 it_nclients;
static char		 it_client_addr[32];
static char		 it_origin[256];	/* of TOLLGATE_URL */

/*
 * The loopback /16 this program's clients come from (one a program, so
 * per-address limits of one never count another's requests) and the
 * portal's origin (scheme://host[:port]), what a browser sends as
 * Origin.
 */
void
it_client_init(unsigned int net)
{
	const char	*url = it_env("TOLLGATE_URL"), *host;
	size_t		 n;

	it_net = net;
	host = strstr(url, "://");
	n = host != NULL ? strcspn(host + 3, "/") + (size_t)(host + 3 - url) :
	    strlen(url);
	snprintf(it_origin, sizeof(it_origin), "%.*s", (int)n, url);
}

/* A new source address, 127.<net>.<pid>.<n>: requests go out from it. */
void
it_client_new(void)
{
	unsigned int	 n = ++it_nclients;

	snprintf(it_client_addr, sizeof(it_client_addr), "127.%u.%u.%u",
	    it_net, (unsigned int)getpid() & 0xff, 10 + n % 240);
	print_message("# client address %s\n", it_client_addr);
	it_set_source(it_client_addr);
}

/*
 * One request from the current client: a Cookie header value and a
 * bearer token when not NULL; a form goes with the portal's Origin, as
 * a browser sends it.  Redirects are not followed.  A transport failure
 * fails the test.  Free the response with it_response_free().
 */
void
it_http(struct it_resp *r, const char *method, const char *path,
    const char *cookie, const char *bearer, const char *ctype,
    const char *body)
{
	const char	*hdrs[4];
	char		 c[4 * IT_COOKIE_MAX + 64], auth[IT_TOKEN_MAX + 64];
	char		 origin[sizeof(it_origin) + 16];
	size_t		 n = 0;

	if (cookie != NULL) {
		snprintf(c, sizeof(c), "Cookie: %s", cookie);
		hdrs[n++] = c;
	}
	if (bearer != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    bearer);
		hdrs[n++] = auth;
	}
	if (ctype != NULL && strcmp(ctype, IT_FORM) == 0) {
		snprintf(origin, sizeof(origin), "Origin: %s", it_origin);
		hdrs[n++] = origin;
	}
	hdrs[n] = NULL;
	if (it_request_on(NULL, r, method, path, ctype, body, body != NULL ?
	    strlen(body) : 0, hdrs) == -1)
		fail_msg("%s %s from %s: %s", method, path, it_client_addr,
		    r->error);
	print_message("# %s %s: %ld in %.1f ms: %.160s\n", method, path,
	    r->status, r->ms, r->body);
}

/* The answer must be this API error (deferred failure otherwise). */
void
it_expect_code(struct it_resp *r, long status, const char *code,
    const char *what)
{
	const char	*got = NULL;

	if (r->status == status && r->body_len > 0)
		got = it_json_str(it_json(r), "error.code");
	if (r->status != status || got == NULL || strcmp(got, code) != 0)
		it_deferred_fail("%s: %ld %s, want %ld %s: %.200s", what,
		    r->status, got != NULL ? got : "(no code)", status, code,
		    r->body);
}

/*
 * The value of Set-Cookie "name" into out, the whole header value into
 * *line when line is not NULL; 0 when not set.
 */
int
it_set_cookie(const struct it_resp *r, const char *name, char *out,
    size_t outsz, const char **line)
{
	const char	*v;
	size_t		 i, n = strlen(name), len;

	for (i = 0; i < r->nheaders; i++) {
		v = r->headers[i].value;
		if (strcasecmp(r->headers[i].name, "Set-Cookie") != 0 ||
		    strncmp(v, name, n) != 0 || v[n] != '=')
			continue;
		len = strcspn(v + n + 1, ";");
		if (len >= outsz)
			fail_msg("cookie %s of %zu bytes", name, len);
		memcpy(out, v + n + 1, len);
		out[len] = '\0';
		if (line != NULL)
			*line = v;
		return 1;
	}
	return 0;
}

/* The CSRF token of the form posting to "action" (NULL: the first). */
void
it_csrf_of(const struct it_resp *r, const char *action, char *out,
    size_t outsz)
{
	const char	*p = r->body, *key = "name=\"csrf\" value=\"";
	char		 form[600];
	size_t		 n;

	if (action != NULL) {
		snprintf(form, sizeof(form), "action=\"%s\"", action);
		if ((p = strstr(r->body, form)) == NULL)
			fail_msg("no form posting to %s: %.300s", action,
			    r->body);
	}
	if ((p = strstr(p, key)) == NULL)
		fail_msg("no csrf field in the page: %.300s", r->body);
	p += strlen(key);
	n = strcspn(p, "\"");
	if (n == 0 || n >= outsz)
		fail_msg("csrf token of %zu bytes", n);
	memcpy(out, p, n);
	out[n] = '\0';
}

/* One sink file whole, NUL-terminated (caller frees); NULL if gone. */
static char *
it_sink_read(const char *name)
{
	char	 path[4096], *text;
	FILE	*fp;
	size_t	 n;

	snprintf(path, sizeof(path), "%s/%s", it_env("SMTP_SINK_DIR"), name);
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	text = it_alloc(IT_MAIL_MAX + 1);
	n = fread(text, 1, IT_MAIL_MAX, fp);
	fclose(fp);
	text[n] = '\0';
	return text;
}

/* A link of the sink: its file name and token. */
struct it_sink_link {
	char	 name[256];
	char	 token[IT_LINK_MAX];
};

static int
it_link_cmp(const void *a, const void *b)
{
	const char	*x = ((const struct it_sink_link *)a)->name;
	const char	*y = ((const struct it_sink_link *)b)->name;

	/* "<unix-ms>-<n>.eml": by length first, then as text. */
	if (strlen(x) != strlen(y))
		return strlen(x) < strlen(y) ? -1 : 1;
	return strcmp(x, y);
}

/*
 * The tokens of the /<kind>/ links ("verify", "reset") mailed to rcpt,
 * oldest first, as many as fit in links; the number of such messages is
 * returned.  The links must be the public URL's.
 */
size_t
it_sink_links(const char *rcpt, const char *kind, char links[][IT_LINK_MAX],
    size_t max)
{
	struct it_sink_link	*found = NULL;
	struct dirent		*de;
	DIR			*d;
	char			*text, want[300], prefix[600];
	const char		*p;
	size_t			 n = 0, i, len;

	snprintf(want, sizeof(want), "X-Sink-Rcpt-To: %s\r\n", rcpt);
	snprintf(prefix, sizeof(prefix), "%s/%s/",
	    it_env("TOLLGATE_PUBLIC_URL"), kind);
	if ((d = opendir(it_env("SMTP_SINK_DIR"))) == NULL)
		fail_msg("opendir %s: %s", it_env("SMTP_SINK_DIR"),
		    strerror(errno));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 5 || len >= 256 ||
		    strcmp(de->d_name + len - 4, ".eml") != 0 ||
		    (text = it_sink_read(de->d_name)) == NULL)
			continue;
		if (strstr(text, want) != NULL &&
		    (p = strstr(text, prefix)) != NULL) {
			if ((found = realloc(found, (n + 1) *
			    sizeof(*found))) == NULL)
				fail_msg("out of memory");
			p += strlen(prefix);
			snprintf(found[n].name, sizeof(found[n].name), "%s",
			    de->d_name);
			snprintf(found[n].token, sizeof(found[n].token), "%.*s",
			    (int)strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-_"), p);
			n++;
		}
		free(text);
	}
	closedir(d);
	if (n > 0)
		qsort(found, n, sizeof(*found), it_link_cmp);
	for (i = 0; i < n && i < max; i++)
		memcpy(links[i], found[i].token, IT_LINK_MAX);
	free(found);
	return n;
}

/*
 * Wait until at least "want" /<kind>/ links have reached rcpt; the
 * newest token into token, the oldest into first (when not NULL).
 * Fails the test after IT_MAIL_WAIT_S.
 */
size_t
it_mailed_token(const char *rcpt, const char *kind, size_t want, char *token,
    size_t tokensz, char *first, size_t firstsz)
{
	char	 links[IT_LINKS_MAX][IT_LINK_MAX];
	double	 deadline = it_now_ms() + IT_MAIL_WAIT_S * 1000.0;
	size_t	 n;

	for (;;) {
		if ((n = it_sink_links(rcpt, kind, links, IT_LINKS_MAX)) >= want)
			break;
		if (it_now_ms() >= deadline)
			fail_msg("%zu /%s/ link(s) mailed to %s within %.0f s, "
			    "want %zu (sink %s)", n, kind, rcpt, IT_MAIL_WAIT_S,
			    want, it_env("SMTP_SINK_DIR"));
		it_sleep_ms(100);
	}
	if (n > IT_LINKS_MAX)
		fail_msg("%zu links to %s, more than kept", n, rcpt);
	if (strlen(links[n - 1]) < 40)
		fail_msg("the token \"%s\" mailed to %s is too short",
		    links[n - 1], rcpt);
	snprintf(token, tokensz, "%s", links[n - 1]);
	if (first != NULL)
		snprintf(first, firstsz, "%s", links[0]);
	return n;
}

/*
 * Move a mailed link's expiry into the past, found by its token's
 * SHA-256, in "table" (email_verifications or password_resets).
 */
void
it_expire_link(const char *table, const char *token)
{
	PGconn		*c;
	PGresult	*res;
	const char	*v[1] = { token };
	char		 sql[256];
	int		 ok;

	if (strcmp(table, "email_verifications") != 0 &&
	    strcmp(table, "password_resets") != 0)
		fail_msg("no links in table %s", table);
	snprintf(sql, sizeof(sql), "UPDATE %s SET expires_at = now() - "
	    "interval '1 minute' WHERE hash = sha256(convert_to($1, 'UTF8'))",
	    table);
	c = PQconnectdb(it_env("TOLLGATE_OWNER_DATABASE_URL"));
	if (c == NULL || PQstatus(c) != CONNECTION_OK)
		fail_msg("owner connection: %s", c != NULL ?
		    PQerrorMessage(c) : "out of memory");
	res = PQexecParams(c, sql, 1, NULL, v, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdTuples(res), "1") == 0;
	if (!ok)
		print_error("expire: %s %s\n", PQresStatus(PQresultStatus(res)),
		    PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	if (!ok)
		fail_msg("no link row in %s for the mailed token", table);
}

/* --- tenants' owners and their API calls --------------------------- */

static unsigned int	 it_owners;	/* it_owner_new() calls */

/*
 * A new owner of a new tenant on the free plan, registered through
 * POST /api/v1/auth/register from a new client address, the address
 * counted verified.  The e-mail address is "<label>-<tag>-<pid>-<n>",
 * unique to the program, its process and the call.
 */
void
it_owner_new(struct it_owner *o, const char *label, const char *tag)
{
	struct it_resp	 r;
	char		 org[64];

	memset(o, 0, sizeof(*o));
	it_client_new();
	snprintf(o->email, sizeof(o->email), "%s-%s-%ld-%u@example.com",
	    label, tag, (long)getpid(), ++it_owners);
	snprintf(o->password, sizeof(o->password), "Pass-%ld-%s-word",
	    (long)getpid(), label);
	snprintf(org, sizeof(org), "%s %s %ld", label, tag, (long)getpid());
	it_http(&r, "POST", "/api/v1/auth/register", NULL, NULL, IT_JSON,
	    it_jobj("email", o->email, "password", o->password,
	    "organization", org, NULL));
	it_expect_status(&r, 201);
	it_copy_str(o->access, sizeof(o->access), &r, "access_token");
	it_copy_str(o->tenant, sizeof(o->tenant), &r, "tenant.id");
	it_response_free(&r);
	it_mark_verified(o->email);
}

/*
 * A member of the owner's tenant: invited (POST /members/invitations,
 * role member) at "<label>-member-<pid>-<n>", the invitation accepted
 * with the owner's password; the member's access token into access.
 */
void
it_member_new(const struct it_owner *o, const char *label, char *access,
    size_t accesssz)
{
	struct it_resp	 r;
	char		 email[128], token[256], link[IT_LINK_MAX];
	const char	*slash;

	snprintf(email, sizeof(email), "%s-member-%ld-%u@example.com", label,
	    (long)getpid(), ++it_owners);
	it_call(&r, o->access, "POST", "/api/v1/members/invitations",
	    it_jobj("email", email, "role", "member", NULL));
	it_expect_status(&r, 201);
	it_copy_str(link, sizeof(link), &r, "link");
	it_response_free(&r);
	if ((slash = strrchr(link, '/')) == NULL)
		fail_msg("no token in %s", link);
	snprintf(token, sizeof(token), "%s", slash + 1);
	it_call(&r, NULL, "POST", "/api/v1/invitations/accept",
	    it_jobj("token", token, "password", o->password, NULL));
	it_expect_status(&r, 200);
	it_copy_str(access, accesssz, &r, "access_token");
	it_response_free(&r);
}

/* it_http() with a bearer token and a JSON body (NULL: none). */
void
it_call(struct it_resp *r, const char *token, const char *method,
    const char *path, const char *json)
{
	it_http(r, method, path, NULL, token, json != NULL ? IT_JSON : NULL,
	    json);
}

/*
 * The same request on a libcurl handle of its own, from the default
 * source address, for concurrent callers (any thread): the status, 0
 * when there was no response.
 */
long
it_call_status(const char *token, const char *method, const char *path,
    const char *json)
{
	struct it_resp	 r;
	CURL		*h = curl_easy_init();
	char		 auth[IT_TOKEN_MAX + 64];
	const char	*hdrs[2] = { auth, NULL };
	long		 status = 0;

	if (h == NULL)
		return 0;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	if (it_request_on(h, &r, method, path, json != NULL ? IT_JSON : NULL,
	    json, json != NULL ? strlen(json) : 0, hdrs) == 0)
		status = r.status;
	it_response_free(&r);
	curl_easy_cleanup(h);
	return status;
}

/*
 * A count (or any first column, as a number) read as the database owner
 * within the tenant, with one parameter $1 (NULL: none).
 */
long
it_owner_count(const char *tenant, const char *sql, const char *arg)
{
	char	 out[64];

	it_owner_sql(out, sizeof(out), tenant, sql, arg != NULL ? 1 : 0,
	    (const char *const[]){ arg });
	return atol(out);
}

/*
 * The value at a dotted path of the body, where a number is an index
 * into an array ("data.2.id"): 1 with *out the value (NULL for a JSON
 * null), 0 when there is none.
 */
int
it_json_at(struct it_resp *r, const char *path, struct json_object **out)
{
	struct json_object	*o = it_json(r);
	char			 key[128], *p, *dot;
	long			 i;

	snprintf(key, sizeof(key), "%s", path);
	for (p = key; p != NULL; p = dot) {
		if ((dot = strchr(p, '.')) != NULL)
			*dot++ = '\0';
		if (json_object_is_type(o, json_type_array)) {
			i = strtol(p, NULL, 10);
			if (i < 0 || (size_t)i >= json_object_array_length(o))
				return 0;
			o = json_object_array_get_idx(o, (size_t)i);
		} else if (!json_object_object_get_ex(o, p, &o))
			return 0;
	}
	*out = o;
	return 1;
}

/* A member (it_json_at()) that must be this string (NULL: JSON null). */
void
it_expect_str(struct it_resp *r, const char *path, const char *want)
{
	struct json_object	*v = NULL;
	const char		*got;

	if (!it_json_at(r, path, &v)) {
		it_deferred_fail("no \"%s\" in %.300s", path, r->body);
		return;
	}
	got = v != NULL && json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
	if (want == NULL ? v != NULL : got == NULL || strcmp(got, want) != 0)
		it_deferred_fail("\"%s\" is %s, want %s", path, v != NULL ?
		    json_object_to_json_string(v) : "null", want != NULL ?
		    want : "null");
}

/* The answer must be a 400 naming this parameter (deferred). */
void
it_expect_param(struct it_resp *r, const char *param, const char *what)
{
	const char	*p = NULL;

	if (r->status == 400)
		p = it_json_str(it_json(r), "error.param");
	if (p == NULL || strcmp(p, param) != 0)
		it_deferred_fail("%s: %ld, want 400 naming %s: %.300s", what,
		    r->status, param, r->body);
}

/* --- the portal's forms -------------------------------------------- */

/* Append k=v to a form body, percent-encoded; it must fit. */
void
it_form_add(char *buf, size_t bufsz, const char *k, const char *v)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 n = strlen(buf);
	unsigned char		 ch;

	n += (size_t)snprintf(buf + n, bufsz - n, "%s%s=", n > 0 ? "&" : "",
	    k);
	for (; *v != '\0' && n + 4 < bufsz; v++) {
		ch = (unsigned char)*v;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
			buf[n++] = (char)ch;
		else {
			buf[n++] = '%';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 0xf];
		}
	}
	if (*v != '\0' || n >= bufsz)
		fail_msg("form body over %zu bytes", bufsz);
	buf[n] = '\0';
}

/*
 * Sign in through the portal's /login form from the current client:
 * "tg_session=..." (a Cookie header value) into session.
 */
void
it_portal_login(const char *email, const char *password, char *session,
    size_t sessionsz)
{
	struct it_resp	 r;
	char		 pre[IT_COOKIE_MAX + 16], csrf[128], body[1024];
	char		 v[IT_COOKIE_MAX];

	it_http(&r, "GET", "/login", NULL, NULL, NULL, NULL);
	it_expect_status(&r, 200);
	if (!it_set_cookie(&r, "tg_pre", v, sizeof(v), NULL))
		fail_msg("no tg_pre cookie");
	snprintf(pre, sizeof(pre), "tg_pre=%s", v);
	it_csrf_of(&r, NULL, csrf, sizeof(csrf));
	it_response_free(&r);
	body[0] = '\0';
	it_form_add(body, sizeof(body), "csrf", csrf);
	it_form_add(body, sizeof(body), "email", email);
	it_form_add(body, sizeof(body), "password", password);
	it_http(&r, "POST", "/login", pre, NULL, IT_FORM, body);
	it_expect_status(&r, 303);
	if (!it_set_cookie(&r, "tg_session", v, sizeof(v), NULL))
		fail_msg("no tg_session cookie");
	snprintf(session, sessionsz, "tg_session=%s", v);
	it_response_free(&r);
}

/* --- the Stripe emulator (STRIPE_API_BASE) ------------------------- */

/* The emulator's URL of a path; in a static buffer. */
const char *
it_emu_url(const char *path)
{
	static char	 url[1024];

	snprintf(url, sizeof(url), "%s%s", it_env("STRIPE_API_BASE"), path);
	return url;
}

/* POST a JSON control request to the emulator; it must say 200. */
void
it_emu_ctl(const char *path, const char *json)
{
	struct it_resp	 r;

	if (it_request(&r, "POST", it_emu_url(path), IT_JSON, json,
	    strlen(json), NULL) == -1)
		fail_msg("emulator %s: %s", path, r.error);
	if (r.status != 200)
		fail_msg("emulator %s: %ld %.200s", path, r.status, r.body);
	it_response_free(&r);
}

/*
 * GET from the emulator's API with STRIPE_SECRET_KEY (or from its
 * control endpoints); it must say 200.  Free r with it_response_free().
 */
void
it_emu_get(struct it_resp *r, const char *path)
{
	char	 auth[256];

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    it_env("STRIPE_SECRET_KEY"));
	if (it_request(r, "GET", it_emu_url(path), NULL, NULL, 0, auth,
	    NULL) == -1)
		fail_msg("emulator %s: %s", path, r->error);
	if (r->status != 200)
		fail_msg("emulator %s: %ld %.300s", path, r->status, r->body);
}
