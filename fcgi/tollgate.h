/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The internal header of Tollgate: one section per source file, in the
 * order of the layers (support, configuration, serving, requests,
 * database, handlers).
 *
 * Error conventions, by layer:
 *  - support and parsers return 0 on success and -1 on failure; those
 *    that can say why take a "const char **cause" set to a static string;
 *  - the database layer returns an enum db_rc (db.c);
 *  - handlers return nothing: they set the response on the request.
 */
#ifndef TOLLGATE_H
#define TOLLGATE_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct pg_conn;
struct pg_result;

#define TOLLGATE_VERSION	PACKAGE_VERSION

/* Request limits. */
#define REQ_BODY_MAX		(1024 * 1024)	/* bytes of request body */
#define REQ_RESP_MAX		(8 * 1024 * 1024) /* bytes of response body */
#define REQ_PARAMS_MAX		256		/* query or form fields */
#define REQ_JSON_DEPTH		16		/* nesting of a JSON body */
#define REQ_PATH_SEGS		12		/* segments of a routed path */
#define REQ_ID_LEN		32		/* generated request id, hex */

/* util.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
char		*xstrdup(const char *);
char		*xasprintf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
int		 util_strtonum(const char *, long long, long long,
		    long long *);
int		 util_random(void *, size_t);
void		 util_hex(const unsigned char *, size_t, char *);
int		 util_ct_equal(const void *, const void *, size_t);
double		 util_now_ms(void);

/*
 * buf.c: a growable byte buffer with a hard cap.  Appends past the cap
 * fail and set "toobig"; the contents stay valid and NUL-terminated.
 */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 size;
	size_t	 max;
	int	 toobig;
};
void		 buf_init(struct buf *, size_t);
int		 buf_append(struct buf *, const void *, size_t);
int		 buf_puts(struct buf *, const char *);
int		 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 buf_reset(struct buf *);
void		 buf_free(struct buf *);

/*
 * arena.c: the per-request allocator.  Everything allocated while
 * answering a request comes from its arena or is registered on it with
 * arena_defer(); arena_reset() frees it all at once.
 */
struct arena_block;
struct arena_defer;
struct arena {
	struct arena_block	*blocks;
	struct arena_defer	*defers;
	size_t			 total;
};
void		 arena_init(struct arena *);
void		*arena_alloc(struct arena *, size_t);
void		*arena_calloc(struct arena *, size_t, size_t);
char		*arena_strdup(struct arena *, const char *);
char		*arena_strndup(struct arena *, const char *, size_t);
char		*arena_printf(struct arena *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 arena_defer(struct arena *, void (*)(void *), void *);
void		 arena_reset(struct arena *);
void		 arena_free(struct arena *);

/* log.c */
enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL__MAX
};
int		 log_level_parse(const char *, enum log_level *);
void		 log_init(const char *, enum log_level);
void		 log_set_rid(const char *);
void		 log_msg(enum log_level, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 log_scrub(const char *, char *, size_t);
#define log_err(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warnx(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/*
 * conf.c: configuration from the environment and the TOLLGATE_CONFIG
 * file (the environment wins), validated in one table.
 */
struct conf {
	char		*database_url;
	char		*owner_database_url;
	char		*listen;
	int		 workers;
	char		*public_url;
	char		*jwt_secret;
	char		*encryption_key;
	char		*encryption_key_previous;
	char		*user;
	char		*socket_group;
	char		*pidfile;
	char		*sql_dir;
	char		*template_dir;
	char		*smtp_url;
	char		*smtp_from;
	int		 statement_timeout_ms;
	int		 work_interval_s;
	enum log_level	 log_level;
	int		 rate_auth_ip;
	int		 rate_metering;
	int		 rate_platform;
	int		 login_fail_max;
};
int		 conf_load(struct conf *, const char *, const char **);
int		 conf_require(const struct conf *, const char *, const char **);
void		 conf_free(struct conf *);
extern struct conf	 conf;

/*
 * serve.c: the master.  Binds (or inherits) the listening socket, forks
 * responders and keeps their number, reloads and stops.
 */
int		 serve_main(int, char *[]);

/* http-parse.c: pure parsers of untrusted request data. */
struct kv {
	char	*key;
	char	*val;
	size_t	 vallen;
};
struct kvlist {
	struct kv	*kv;
	size_t		 n;
};
int		 http_urldecode(char *, size_t *, int);
int		 http_parse_pairs(struct arena *, const char *, size_t, int,
		    struct kvlist *, const char **);
int		 http_parse_cookies(struct arena *, const char *,
		    struct kvlist *, const char **);
const char	*http_kv_get(const struct kvlist *, const char *);
int		 http_utf8_valid(const char *, size_t);
int		 http_rid_valid(const char *);
int		 http_media_type_is(const char *, const char *);
const char	*http_status_text(int);

/*
 * fcgi-req.c: one request, its parsed input, its response, and the
 * arena that owns everything allocated while answering it.
 */
enum auth_kind {
	AUTH_NONE,		/* public */
	AUTH__MAX
};
enum body_kind {
	BODY_NONE,		/* no body expected; one is ignored */
	BODY_JSON,		/* application/json, parsed */
	BODY_FORM,		/* application/x-www-form-urlencoded */
	BODY__MAX
};
enum resp_kind {
	RESP_API,		/* JSON errors */
	RESP_PAGE,		/* HTML errors */
	RESP__MAX
};
struct req_header {
	const char	*name;
	const char	*value;
};
#define REQ_HEADERS_MAX	24
struct req {
	struct arena	 arena;
	char		 id[65];
	double		 t0;
	/* Input, borrowed from the arena. */
	const char	*method;
	const char	*uri;		/* REQUEST_URI as received */
	char		*path;		/* decoded path, no query */
	const char	*query;		/* raw query string */
	const char	*content_type;
	long long	 content_length;
	const char	*remote_addr;
	const char	*authorization;
	const char	*cookie;
	const char	*origin;
	const char	*referer;
	const char	*user_agent;
	int		 https;
	struct kvlist	 args;		/* query string */
	struct kvlist	 form;		/* form body */
	struct kvlist	 cookies;
	struct buf	 body;
	struct json_object *json;	/* parsed JSON body, owned */
	/* Routing. */
	int		 route;		/* enum route_id or -1 */
	const char	*path_params[REQ_PATH_SEGS];
	size_t		 npath_params;
	enum resp_kind	 resp_kind;
	int		 in_tx;		/* a transaction is open */
	/* Response. */
	int		 status;
	const char	*content_type_out;
	struct req_header headers[REQ_HEADERS_MAX];
	size_t		 nheaders;
	struct buf	 out;
	/* Private to the responder loop. */
	void		*fcgx;
};
void		 req_init(struct req *);
int		 req_from_params(struct req *, char **, const char **);
void		 req_header(struct req *, const char *, const char *);
void		 req_json(struct req *, int, struct json_object *);
void		 req_error(struct req *, int, const char *, const char *,
		    const char *, const char *);
void		 req_error_from_db(struct req *, int);
int		 req_read_body(struct req *, int (*)(void *, char *, int),
		    void *);
int		 req_parse_body(struct req *, enum body_kind);
void		 req_render_head(struct req *, struct buf *);
void		 req_log(const struct req *);
void		 req_release(struct req *);
int		 req_responder_loop(int);

/* route.c: the route table and its lookup. */
enum route_id {
	ROUTE_HEALTH,
	ROUTE__MAX
};
struct route {
	const char	*method;
	const char	*pattern;	/* "/api/v1/x/{id}" */
	enum auth_kind	 auth;
	enum body_kind	 body;
	enum resp_kind	 resp;
	void		(*handler)(struct req *);
};
extern const struct route	routes[ROUTE__MAX];
enum route_match {
	ROUTE_FOUND,
	ROUTE_NO_PATH,
	ROUTE_NO_METHOD
};
enum route_match route_lookup(const char *, const char *, int *,
		    const char **, size_t *, struct arena *, char *, size_t);
void		 route_dispatch(struct req *);

/*
 * db.c: the responder's one connection (opened lazily, re-opened after
 * a failure) and transactions scoped to a tenant.
 */
enum db_rc {
	DB_OK = 0,
	DB_NOTFOUND = 1,	/* no such row */
	DB_CONFLICT = 2,	/* a unique constraint refused the row */
	DB_ERROR = -1,		/* a bug or a refused statement: 500 */
	DB_UNAVAILABLE = -2	/* the server cannot be reached: 503 */
};
struct pg_conn	*db_conn(void);
void		 db_close(void);
enum db_rc	 db_exec(struct req *, const char *, int, const char *const *,
		    struct pg_result **);
enum db_rc	 db_begin(struct req *, const char *);
enum db_rc	 db_commit(struct req *);
void		 db_rollback(struct req *);
enum db_rc	 db_ping(struct req *);

/* db-migrate.c */
int		 db_migrate_run(const char *, const char *, int);

/* api-health.c */
void		 api_health(struct req *);

/* work.c: the background worker. */
int		 work_main(int, char *[]);

#endif /* TOLLGATE_H */
