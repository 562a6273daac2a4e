/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Helpers shared by the integration programs (tests/it-*.c), which run
 * under tests/integration.sh against a live stack whose stack.env is
 * exported: HTTP through libcurl to $TOLLGATE_URL, JSON lookups, checks
 * and failures that let a test go on, the serve master and its
 * responders, the log, the raw FastCGI socket and records to write to
 * it, the database owner's connection, tenants' owners registered
 * through the API, the portal's sign-in and the Stripe emulator.
 *
 * Error conventions: a helper that cannot let the test go on (a missing
 * variable, a body that is not JSON, an unreadable pid file) fails the
 * running cmocka test with a message saying why; the others return
 * 0 / -1 or a count and leave the verdict to the test.  Helpers without
 * a CURL handle argument use one handle of their own, and the source
 * address and the deferred failures are the program's: main thread only.
 */
#ifndef IT_UTIL_H
#define IT_UTIL_H

#include <sys/types.h>

#include <stddef.h>

#include <curl/curl.h>

struct json_object;

#define IT_BODY_MAX	(4 * 1024 * 1024)	/* body bytes kept */
#define IT_HEAD_MAX	(64 * 1024)		/* header bytes kept */
#define IT_HEADERS_MAX	64
#define IT_TIMEOUT_S	10			/* per HTTP request */
#define IT_EXTRA_MAX	16			/* extra request headers */

struct it_header {
	char	*name;
	char	*value;
};

/* One HTTP response.  Everything in it is owned; it_response_free(). */
struct it_resp {
	long			 status;	/* 0: no response */
	char			*head;		/* raw head, last response */
	size_t			 head_len;
	struct it_header	 headers[IT_HEADERS_MAX];
	size_t			 nheaders;
	char			*body;		/* NUL-terminated, never NULL */
	size_t			 body_len;
	int			 truncated;	/* cut at IT_BODY_MAX */
	double			 ms;
	char			 error[CURL_ERROR_SIZE];
	struct json_object	*json;		/* set by it_json() */
};

/* Set up libcurl; call from main() before any thread starts. */
void		 it_init(void);
const char	*it_env(const char *);
const char	*it_env_or(const char *, const char *);
double		 it_now_ms(void);
void		 it_sleep_ms(long);

/* HTTP. */
void		 it_set_source(const char *);
int		 it_request(struct it_resp *, const char *, const char *,
		    const char *, const void *, size_t, ...)
		    __attribute__((sentinel));
int		 it_request_on(CURL *, struct it_resp *, const char *,
		    const char *, const char *, const void *, size_t,
		    const char *const *);
const char	*it_header(const struct it_resp *, const char *);
void		 it_response_free(struct it_resp *);
int		 it_wait_health(double);
int		 it_raw_http(const char *, char **, size_t *);
int		 it_rid_is_generated(const char *);

/* JSON. */
struct json_object *it_json(struct it_resp *);
int		 it_json_get(struct json_object *, const char *,
		    struct json_object **);
const char	*it_json_str(struct json_object *, const char *);
const char	*it_must_str(struct it_resp *, const char *);
void		 it_copy_str(char *, size_t, struct it_resp *, const char *);
const char	*it_jobj(const char *, ...) __attribute__((sentinel));

/* Checks. */
void		 it_expect_status(const struct it_resp *, long);
void		 it_deferred_fail(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 it_deferred_check(void);
void		 it_deferred_reset(void);

/* Processes. */
pid_t		 it_master_pid(void);
size_t		 it_responder_pids(pid_t, pid_t *, size_t);
int		 it_pid_alive(pid_t);
int		 it_pid_in(pid_t, const pid_t *, size_t);
void		 it_print_pids(const char *, const pid_t *, size_t);
int		 it_workers(void);
int		 it_wait_responders(pid_t, int, const pid_t *, size_t, double,
		    pid_t *, size_t *);
int		 it_sh(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
int		 it_stack_sh(const char *);

/* The log and the FastCGI socket. */
int		 it_log_find(const char *, const char *, double, char *,
		    size_t);
size_t		 it_log_count(const char *);
size_t		 it_file_count(const char *, const char *);
int		 it_unix_connect(const char *);

/* The database as its owner (TOLLGATE_OWNER_DATABASE_URL). */
void		 it_mark_verified(const char *);
long		 it_owner_sql(char *, size_t, const char *, const char *, int,
		    const char *const *);

/* FastCGI 1.0: record types, role, status, the 8-byte header. */
#define FCGI_BEGIN_REQUEST	1
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_STDERR		7
#define FCGI_RESPONDER		1
#define FCGI_REQUEST_COMPLETE	0
#define FCGI_HEADER_LEN		8

/* A FastCGI byte stream being built, to write to the socket as is. */
struct it_fcgi {
	unsigned char	 b[8192];
	size_t		 len;
};

void		 it_fcgi_put(struct it_fcgi *, const void *, size_t);
void		 it_fcgi_header(struct it_fcgi *, int, size_t);
void		 it_fcgi_begin(struct it_fcgi *, int);
void		 it_fcgi_len(struct it_fcgi *, size_t);

/* A program's clients, portal forms and the mail sink. */
#define IT_FORM		"application/x-www-form-urlencoded"
#define IT_TOKEN_MAX	2048		/* bytes of an access token kept */
#define IT_COOKIE_MAX	256		/* bytes of a cookie value kept */
#define IT_LINK_MAX	512		/* bytes of a mailed link kept */
#define IT_LINKS_MAX	8		/* links to one address kept */
#define IT_MAIL_MAX	(256 * 1024)	/* bytes of a sink file read */
#define IT_MAIL_WAIT_S	5.0		/* for a message to reach the sink */
void		 it_client_init(unsigned int);
void		 it_client_new(void);
void		 it_http(struct it_resp *, const char *, const char *,
		    const char *, const char *, const char *, const char *);
void		 it_expect_code(struct it_resp *, long, const char *,
		    const char *);
int		 it_set_cookie(const struct it_resp *, const char *, char *,
		    size_t, const char **);
void		 it_csrf_of(const struct it_resp *, const char *, char *,
		    size_t);
size_t		 it_sink_links(const char *, const char *,
		    char [][IT_LINK_MAX], size_t);
size_t		 it_mailed_token(const char *, const char *, size_t, char *,
		    size_t, char *, size_t);
void		 it_expire_link(const char *, const char *);

/*
 * Tenants' owners and their API calls: it_owner_new() registers each
 * from a new client address of the program's; it_call_status() is the
 * one helper here that any thread may call.
 */
#define IT_JSON		"application/json"
struct it_owner {
	char	 email[128];
	char	 password[64];
	char	 access[IT_TOKEN_MAX];
	char	 tenant[64];		/* the tenant's id */
};
void		 it_owner_new(struct it_owner *, const char *, const char *);
void		 it_member_new(const struct it_owner *, const char *, char *,
		    size_t);
void		 it_call(struct it_resp *, const char *, const char *,
		    const char *, const char *);
long		 it_call_status(const char *, const char *, const char *,
		    const char *);
long		 it_owner_count(const char *, const char *, const char *);
int		 it_json_at(struct it_resp *, const char *,
		    struct json_object **);
void		 it_expect_str(struct it_resp *, const char *, const char *);
void		 it_expect_param(struct it_resp *, const char *,
		    const char *);

/* The portal's forms. */
void		 it_form_add(char *, size_t, const char *, const char *);
void		 it_portal_login(const char *, const char *, char *, size_t);

/* The Stripe emulator (STRIPE_API_BASE, STRIPE_SECRET_KEY). */
const char	*it_emu_url(const char *);
void		 it_emu_ctl(const char *, const char *);
void		 it_emu_get(struct it_resp *, const char *);

/* malloc that aborts the test program on failure (never returns NULL). */
void	*it_alloc(size_t);
char	*it_strndup(const char *, size_t);

#endif /* IT_UTIL_H */
