/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The internal header of Tollgate: one section per source file, in the
 * order of the layers.  A layer calls only the layers above it in this
 * list (tests/cycles.sh fails the build on a call cycle between files):
 *
 *   support	util.c buf.c arena.c log.c crypto.c fernet.c jwt.c passwd.c
 *		vec.c (vector files)
 *   parsers	http-parse.c http-escape.c valid.c fmt.c quota.c
 *		stripe-sig.c oauth.c sigv4.c
 *   process	conf.c ratelimit.c metrics.c
 *   database	db.c (the connection, transactions, round trips)
 *   request	fcgi-req.c (struct req: input, response helpers)
 *   entities	db-tenant.c db-token.c db-session.c db-apikey.c
 *		db-invitation.c db-verify.c db-reset.c db-idem.c db-audit.c
 *		db-reveal.c db-plan.c db-billing.c db-usage.c db-agent.c
 *		db-meter.c db-migrate.c db-llmkey.c db-llmprice.c db-vault.c
 *		db-channel.c db-notify.c db-storage.c db-gateway.c
 *   objects	blob-fs.c blob-s3.c, then blob.c (the object store)
 *   services	auth.c idem.c mail.c tmpl.c acct.c stripe.c billing.c
 *		agent.c meter.c usage.c llmkey.c vault.c upstream.c
 *		channel.c notify.c storage.c gateway.c
 *   handlers	api.c api-*.c page.c page-*.c
 *   routing	route.c (the route table, naming every handler)
 *   pipeline	responder.c (accept, run, end the transaction, send, log)
 *   commands	serve.c work.c admin.c (main.c holds main())
 *
 * Error conventions, by layer:
 *  - support and parsers return 0 on success and -1 on failure; those
 *    that can say why take a "const char **cause" set to a static string
 *    or, for validation, fill a struct vfail;
 *  - the database layer returns an enum db_rc (db.c), db_strerror()
 *    names it;
 *  - services return 0, or -1 with a struct fail (acct.c) or with the
 *    answer set on the request (auth.c, idem.c);
 *  - handlers return nothing: they set the response on the request, and
 *    any refusal marks the request refused (req_refuse()), which is what
 *    makes the pipeline roll its transaction back.
 */
#ifndef TOLLGATE_H
#define TOLLGATE_H

#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct json_object;
struct pg_conn;
struct pg_result;
struct req;
struct tenant;
struct usage_verdict;

#define TOLLGATE_VERSION	PACKAGE_VERSION

/* Request limits. */
#define REQ_BODY_MAX		(1024 * 1024)	/* bytes of request body */
#define REQ_RESP_MAX		(8 * 1024 * 1024) /* bytes of response body */
#define REQ_PARAMS_MAX		256		/* query or form fields */
#define REQ_JSON_DEPTH		16		/* objects and arrays nested */
#define REQ_PATH_SEGS		12		/* segments of a routed path */
#define REQ_ID_LEN		32		/* generated request id, hex */

/* util.c */
void		*xmalloc(size_t);
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
int		 util_errno_full(int);
int		 util_fsync_dir(const char *);
int		 util_mkdir_durable(const char *);

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

/* crypto.c */
#define CRYPTO_TOKEN_MAX	64
void		 crypto_sha256(const void *, size_t, unsigned char [32]);
void		 crypto_hmac_sha256(const void *, size_t, const void *, size_t,
		    unsigned char [32]);
size_t		 crypto_b64url_encode(const unsigned char *, size_t, char *);
long		 crypto_b64url_decode(const char *, size_t, unsigned char *,
		    size_t);
int		 crypto_token_new(const char *, char *);
void		 crypto_token_hash_hex(const char *, char [67]);
#define CRYPTO_SEAL_OVERHEAD	28	/* nonce 12 + tag 16 */
long		 crypto_seal(const unsigned char [32], const void *, size_t,
		    unsigned char *);
long		 crypto_open(const unsigned char [32], const unsigned char *,
		    size_t, unsigned char *);

/*
 * fernet.c: Python cryptography's Fernet and MultiFernet.  Tokens and
 * plaintexts are malloc'd (caller frees; plaintexts with
 * fernet_plain_free(), which wipes them).  A ttl of 0 checks no age.
 */
#define FERNET_TOKEN_MAX	(256 * 1024)	/* characters */
#define FERNET_PLAIN_MAX	(64 * 1024)	/* bytes encrypted */
struct fernet_key {
	unsigned char	 sign[16];
	unsigned char	 enc[16];
};
struct fernet_multi {
	struct fernet_key primary;
	struct fernet_key previous;
	int		 has_previous;
};
int		 fernet_key_parse(const char *, struct fernet_key *);
void		 fernet_key_wipe(struct fernet_key *);
char		*fernet_encrypt(const struct fernet_key *, const void *, size_t,
		    long long, const unsigned char *);
int		 fernet_decrypt(const struct fernet_key *, const char *,
		    long long, long long, unsigned char **, size_t *,
		    const char **);
void		 fernet_plain_free(unsigned char *, size_t);
int		 fernet_multi_parse(const char *, const char *,
		    struct fernet_multi *);
void		 fernet_multi_wipe(struct fernet_multi *);
char		*fernet_multi_encrypt(const struct fernet_multi *, const void *,
		    size_t, long long);
int		 fernet_multi_decrypt(const struct fernet_multi *, const char *,
		    long long, long long, unsigned char **, size_t *, int *,
		    const char **);

/* jwt.c: HS256 access tokens, claims checked here (not by libjwt). */
struct jwt_claims {
	char	 sub[40];
	char	 tid[40];
	char	 role[16];
	char	 jti[64];
	long	 exp;
	long	 iat_ms;		/* issue time in milliseconds */
};
int		 jwt_issue(const char *, const char *, const char *, char **,
		    time_t *);
int		 jwt_verify(const char *, struct jwt_claims *, const char **);

/* passwd.c */
#define PASSWD_MIN_CHARS	12
#define PASSWD_MAX_CHARS	1024
#define PASSWD_ENCODED_MAX	128
int		 passwd_check_new(const char *, const char **);
int		 passwd_hash(const char *, char *, size_t);
int		 passwd_verify(const char *, const char *);
int		 passwd_needs_rehash(const char *);
void		 passwd_burn(const char *);

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
int		 http_json_valid(const char *, size_t);
struct json_object *http_json_parse(const char *, size_t, int);
struct json_object *http_json_at(struct json_object *, const char *);
const char	*http_json_text(struct json_object *, const char *);
long long	 http_json_int(struct json_object *, const char *, long long);
int		 http_json_bool(struct json_object *, const char *);
size_t		 http_utf8_chars(const char *);
int		 http_rid_valid(const char *);
int		 http_media_type_is(const char *, const char *);
const char	*http_status_text(int);

/*
 * http-escape.c: escapers named by the context they write into.  Each
 * appends to a capped buffer (an append past the cap sets b->toobig).
 */
void		 http_html_text(struct buf *, const char *);
void		 http_html_attr(struct buf *, const char *);
void		 http_url_arg(struct buf *, const char *);
void		 http_query_pair(struct buf *, const char *, const char *);
void		 http_json_str(struct buf *, const char *);

/*
 * fmt.c: the portal's formatting layer, pure: dates, relative times,
 * counts, plurals, money from integer minor units, percentages, status
 * words.  Each writes a NUL-terminated string into the caller's buffer.
 */
long long	 fmt_parse_ts(const char *);
void		 fmt_date(char *, size_t, long long);
void		 fmt_day(char *, size_t, long long);
void		 fmt_day_short(char *, size_t, long long);
void		 fmt_month(char *, size_t, long long);
void		 fmt_rfc3339(char *, size_t, long long);
void		 fmt_ago(char *, size_t, long long, long long);
void		 fmt_count(char *, size_t, long long);
void		 fmt_count_short(char *, size_t, long long);
void		 fmt_bytes(char *, size_t, long long);
void		 fmt_plural(char *, size_t, long long, const char *,
		    const char *);
void		 fmt_money(char *, size_t, long long, const char *);
void		 fmt_usd_micros(char *, size_t, long long);
void		 fmt_percent(char *, size_t, long long, long long);
void		 fmt_status(char *, size_t, const char *);

/*
 * quota.c: agents' budgets, pure: the budget status of SPEC 4 and exact
 * conversions between decimal USD text and integer micro-USD.
 */
#define QUOTA_USD_MAX	1000000000LL	/* the largest budget, USD */
enum budget_status {
	BUDGET_NONE,		/* no budget */
	BUDGET_OK,		/* below 80 % */
	BUDGET_WARNING,		/* from 80 % */
	BUDGET_EXCEEDED,	/* from 100 %, or a zero budget */
	BUDGET__MAX
};
enum budget_status quota_budget_status(long long, long long);
const char	*quota_budget_name(enum budget_status);
const char	*quota_budget_label(enum budget_status);
int		 quota_usd_to_micros(const char *, long long *);
void		 quota_micros_to_usd(long long, char *, size_t);

/*
 * stripe-sig.c: the Stripe-Signature header of webhook deliveries,
 * parsed and verified (pure; the webhook route comes with billing).
 */
#define STRIPE_SIG_V1_MAX	8
#define STRIPE_SIG_HEADER_MAX	4096
enum stripe_sig_rc {
	STRIPE_SIG_OK,
	STRIPE_SIG_MALFORMED,	/* no t, two t, an item without "=" */
	STRIPE_SIG_NO_V1,	/* only other schemes (v0) */
	STRIPE_SIG_MISMATCH,	/* no v1 matches any secret */
	STRIPE_SIG_TOO_OLD,
	STRIPE_SIG_TOO_NEW,
	STRIPE_SIG__MAX
};
struct stripe_sig {
	long long	 t;
	char		 v1[STRIPE_SIG_V1_MAX][65];
	size_t		 nv1;
	int		 seen_v1;
};
enum stripe_sig_rc stripe_sig_parse(const char *, struct stripe_sig *);
enum stripe_sig_rc stripe_sig_verify(const char *, const char *,
		    const void *, size_t, long long, int);
const char	*stripe_sig_strerror(enum stripe_sig_rc);

/*
 * oauth.c: the signed, expiring state of an OAuth authorization (Slack):
 * base64url(json{tenant, user, agent, nonce, exp}) "." base64url(mac).
 * The ids are UUIDs, user and agent may be "".
 */
#define OAUTH_STATE_MAX		512	/* characters, NUL included */
#define OAUTH_NONCE_B64		43	/* 32 random bytes */
struct oauth_state {
	char		 tenant[37];
	char		 user[37];
	char		 agent[37];
	char		 nonce[OAUTH_NONCE_B64 + 1];
	long long	 exp;		/* Unix seconds */
};
enum oauth_state_rc {
	OAUTH_STATE_OK,
	OAUTH_STATE_MALFORMED,
	OAUTH_STATE_SIGNATURE,
	OAUTH_STATE_EXPIRED
};
int		 oauth_state_sign(const char *, const struct oauth_state *,
		    char *);
enum oauth_state_rc oauth_state_verify(const char *, const char *, long long,
		    struct oauth_state *);
const char	*oauth_state_strerror(enum oauth_state_rc);

/*
 * valid.c: validation at the edge, pure.  One table of fields per
 * operation (enum vop), shared by the API (a JSON body) and the portal
 * (a form); a failure is described, never answered, here.
 */
enum vtype {
	V_STRING,		/* min..max characters, no control characters */
	V_EMAIL,
	V_PASSWORD,		/* any text up to 1024 characters */
	V_ENUM,			/* one of choices */
	V_UUID,
	V_INT,			/* min..max */
	V_BOOL,
	V_SCOPES,		/* array of scope names, into a bit set */
	V_SECRET,		/* min..max printable ASCII, no space */
	V_DIGITS,		/* min..max digits; choices {"+"}: may lead */
	V_NAME,			/* min..max of [A-Za-z0-9._:-] (ids, names) */
	V_ARRAY,		/* a JSON array of min..max elements, which
				   the handler checks (vvalue.i: the count) */
	V__MAX
};
struct vfield {
	const char		*name;
	enum vtype		 type;
	int			 required;
	size_t			 min, max;
	const char *const	*choices;
};
struct vvalue {
	int		 present;
	const char	*s;		/* borrowed from the input */
	long long	 i;
};
struct vfail {
	const char	*param;		/* the field, borrowed */
	const char	*code;		/* "missing_parameter", ... */
	char		 message[192];	/* "<param> <what>." */
};
enum vop {
	VOP_REGISTER,		/* email, password, organization, name */
	VOP_LOGIN,		/* email, password, tenant_id */
	VOP_REFRESH,		/* refresh_token */
	VOP_PASSWORD,		/* current_password, new_password */
	VOP_INVITE,		/* email, role */
	VOP_ACCEPT,		/* token, password, name */
	VOP_ROLE,		/* role */
	VOP_KEY_CREATE,		/* name, scopes */
	VOP_VERIFY,		/* token */
	VOP_RESET,		/* email */
	VOP_RESET_CONFIRM,	/* token, new_password */
	VOP_CHECKOUT,		/* plan, seats, coupon */
	VOP_PLAN_CHANGE,	/* plan, seats */
	VOP_RESERVE,		/* metric, quantity, agent_id, cost, ttl */
	VOP_CHECK,		/* metric, quantity, agent_id */
	VOP_LLMKEY_ADD,		/* provider, api_key, label */
	VOP_WHATSAPP,		/* phone_number_id, access_token, display_name,
				   agent_id */
	VOP_CHANNEL_TEST,	/* to */
	VOP_SLACK_INSTALL,	/* agent_id */
	VOP_RECORD_CREATE,	/* table (query) */
	VOP_RECORD_LIST,	/* table, since, limit (query) */
	VOP_BACKUP_SETTINGS,	/* prune_oldest */
	VOP_VEC_UPSERT,		/* collection, items */
	VOP_VEC_SEARCH,		/* collection, vector, top_k */
	VOP_VEC_DELETE,		/* collection, ids */
	VOP_LLM_PRICE,		/* provider, model, prompt_per_mtok,
				   completion_per_mtok, cached_per_mtok */
	VOP_LLM_PRICE_FORM,	/* provider, model, prompt_usd,
				   completion_usd, cached_usd */
	VOP__MAX
};
#define VOP_FIELDS_MAX	8
#define LLMKEY_MIN	8	/* characters of an LLM provider's key */
#define LLMKEY_MAX	512
struct vop_def {
	const struct vfield	*fields;
	size_t			 n;
};
extern const struct vop_def	valid_ops[VOP__MAX];
/* Scopes of API keys: bit i is the scope named valid_scope_name(1 << i). */
#define SCOPE_USAGE_WRITE	0x01
#define SCOPE_USAGE_READ	0x02
#define SCOPE_ENTITLEMENTS_READ	0x04
#define SCOPE_BILLING_READ	0x08
#define SCOPE_STORAGE_READ	0x10
#define SCOPE_STORAGE_WRITE	0x20
#define SCOPE_LLM		0x40
#define SCOPE__MAX		7
#define SCOPE_ALL		((1 << SCOPE__MAX) - 1)
#define EMAIL_MAX	254
int		 valid_email(const char *);
int		 valid_email_norm(const char *, char *, size_t);
int		 valid_uuid(const char *);
int		 valid_choice(const char *, const char *const *);
int		 valid_time(const char *);
int		 valid_scope_bit(const char *);
const char	*valid_scope_name(int);
const char	*valid_scope_next(int, int *);
int		 valid_json(struct json_object *, enum vop, struct vvalue *,
		    struct vfail *);
size_t		 valid_form(const struct kvlist *, enum vop, struct vvalue *,
		    struct vfail *, size_t);
int		 valid_list_args(const struct kvlist *, int *, const char **,
		    struct vfail *);
struct audit_filter {
	const char	*action;
	const char	*actor;
	const char	*from;
	const char	*to;
	const char	*after;
};
int		 valid_audit_filter(const struct kvlist *,
		    struct audit_filter *, int *, struct vfail *);
/* One usage event, normalised; counts are -1 when absent. */
#define VALID_VALUE_MAX		1000000000000000LL	/* 10^15 */
#define VALID_EVENT_PAST_S	(35 * 86400LL)
#define VALID_EVENT_AHEAD_S	300LL
#define VALID_EVENTS_MAX	1000
struct usage_event {
	const char	*id;
	const char	*metric;
	long long	 value;
	const char	*agent_id;
	const char	*ts;		/* RFC 3339, or NULL: now */
	const char	*reservation_id;
	const char	*tenant_id;
	const char	*provider;
	const char	*model;
	const char	*channel_id;
	long long	 prompt_tokens;
	long long	 completion_tokens;
	long long	 cached_tokens;
	long long	 cost_micros;
};
int		 valid_metric(const char *);
long long	 valid_time_epoch(const char *);
int		 valid_usage_event(struct json_object *, size_t, int,
		    const char *, long long, struct usage_event *,
		    struct vfail *);

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
	int		 session_idle_s;
	int		 session_max_s;
	int		 past_due_grace_days;
	int		 notify_debounce_s;
	char		*metrics_allow;
	char		*metrics_token;
	/* Keys of later milestones, accepted and checked already. */
	char		*oauth_state_secret;
	char		*stripe_secret_key;
	char		*stripe_webhook_secret;
	char		*stripe_api_base;
	int		 stripe_meter_rate;	/* meter events per second */
	char		*slack_client_id;
	char		*slack_client_secret;
	char		*slack_api_base;
	char		*meta_graph_base;
	/* The LLM gateway (gateway.c): its pool and the providers. */
	char		*gateway_listen;	/* NULL: the main pool serves it */
	int		 gateway_workers;
	int		 gateway_tenant_streams;
	char		*llm_openai_base;
	char		*llm_anthropic_base;
	char		*llm_mistral_base;
	char		*llm_groq_base;
	char		*llm_openrouter_base;
	char		*llm_custom_base;	/* any OpenAI-compatible API */
	/* Storage (blob.c): the backend and its settings. */
	char		*storage_backend;	/* "fs" or "s3" */
	char		*storage_dir;
	int		 storage_object_max_mb;
	char		*s3_endpoint;
	char		*s3_region;
	char		*s3_bucket;
	char		*s3_access_key;
	char		*s3_secret_key;
};
int		 conf_load(struct conf *, const char *, const char **);
int		 conf_require(const struct conf *, const char *, const char **);
void		 conf_free(struct conf *);
extern struct conf	 conf;

/* ratelimit.c: per-host limits in shared memory. */
struct rl_result {
	int	 limit;
	int	 remaining;
	int	 reset;		/* seconds until the window ends */
};
int		 rl_init(void);
int		 rl_hit(const char *, int, int, time_t, struct rl_result *);
int		 rl_peek(const char *, int, time_t);

/*
 * metrics.c: the responders' counters in shared memory (mapped by the
 * master before it forks, like the rate-limit table), rendered in the
 * Prometheus text format.  Slot "nroutes" counts unrouted requests.
 */
enum metric {
	METRIC_DB_ROUND_TRIPS,
	METRIC_RATE_LIMITED,
	METRIC_RESPONDER_RESTARTS,
	METRIC_IDEM_REPLAYS,
	METRIC__MAX
};
int		 metrics_init(size_t);
void		 metrics_labels(const char *const *, size_t);
void		 metrics_add(enum metric, unsigned long);
void		 metrics_request(size_t, int, double);
int		 metrics_render(struct buf *);

/*
 * db.c: the process's one connection (opened lazily, re-opened after a
 * failure), transactions scoped to a tenant, prepared statements and
 * round trips.  SQL passed here is always a string literal (checksrc).
 */
enum db_rc {
	DB_OK = 0,
	DB_NOTFOUND = 1,	/* no such row */
	DB_CONFLICT = 2,	/* a unique constraint refused the row */
	DB_INVALID = 3,		/* a value the database refused: 400 */
	DB_ERROR = -1,		/* a bug or a refused statement: 500 */
	DB_REFUSED = 4,		/* a limit or input refused by SQL: the
				   request's refusal_* say which */
	DB_UNAVAILABLE = -2	/* the server cannot be reached: 503 */
};
/* A timestamptz column as RFC 3339 text in UTC, in a SELECT list. */
#define DB_TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
			"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
/* One statement of a pipelined round trip (db_begin_with). */
struct db_call {
	const char		*sql;
	int			 n;
	const char *const	*vals;
	struct pg_result	*res;	/* out: owned by the request */
};
const char	*db_strerror(enum db_rc);
struct pg_conn	*db_conn(void);
void		 db_close(void);
enum db_rc	 db_exec(struct req *, const char *, int, const char *const *,
		    struct pg_result **);
enum db_rc	 db_begin(struct req *, const char *);
enum db_rc	 db_set_tenant(struct req *, const char *);
enum db_rc	 db_begin_with(struct req *, const char *, struct db_call *,
		    size_t);
enum db_rc	 db_commit(struct req *);
enum db_rc	 db_exec_commit(struct req *, const char *, int,
		    const char *const *, struct pg_result **);
enum db_rc	 db_exec_many(struct req *, struct db_call *, size_t);
void		 db_rollback(struct req *);
enum db_rc	 db_restart(struct req *);
enum db_rc	 db_ping(struct req *);
int		 db_role_check(const char **);
enum db_rc	 db_row(struct req *, const char *, int, const char *const *,
		    struct pg_result **);
const char	*db_get(const struct pg_result *, int, int);
int		 db_nrows(const struct pg_result *);
enum db_rc	 db_list(struct req *, const char *, int, const char **, int,
		    struct pg_result **, int *, int *);
int		 db_bool(const struct pg_result *, int, int);
long long	 db_int(const struct pg_result *, int, int);

/*
 * fcgi-req.c: struct req, one unit of work: a request answered by a
 * responder, or a job of the worker or of an admin command.  It owns
 * everything allocated while the work is done (its arena, buffers, the
 * parsed body, database results) and req_release() frees it all at the
 * end of each unit.  Here: parsing the FastCGI parameters and the body
 * with caps, and the response helpers (JSON, errors, redirects).
 */
enum principal {
	PRINCIPAL_NONE,
	PRINCIPAL_USER,		/* access JWT */
	PRINCIPAL_SESSION,	/* portal cookie */
	PRINCIPAL_TENANT_KEY,
	PRINCIPAL_PLATFORM_KEY,
	PRINCIPAL__MAX
};
enum role {
	ROLE_NONE,
	ROLE_MEMBER,
	ROLE_ADMIN,
	ROLE_OWNER,
	ROLE__MAX
};
/*
 * Who is making the request, filled by auth.c before the handler runs.
 * Strings are empty when not applicable.
 */
struct auth {
	enum principal	 kind;
	enum role	 role;
	int		 scopes;
	char		 user_id[40];
	char		 tenant_id[40];
	char		 key_id[40];
	char		 key_hash[67];	/* a presented API key, until bound */
	char		 session_id[40];
	char		 actor[264];	/* e-mail or key label, for audit */
	char		 csrf[48];	/* the form token for this session */
	long long	 token_iat_ms;	/* access token's issue time, or 0 */
	int		 verified;	/* a bound user's address is proven */
};
enum auth_kind {
	AUTH_NONE,		/* public, unlimited (health, plans) */
	AUTH_IP,		/* public, limited per IP (register, login) */
	AUTH_USER,		/* access token of a user */
	AUTH_API,		/* access token or API key with the scope */
	AUTH_METRICS,		/* configured addresses or the metrics token */
	AUTH_PAGE_PUBLIC,	/* portal page before login: pre-session CSRF */
	AUTH_PAGE,		/* portal page: session cookie, CSRF on POST */
	AUTH__MAX
};
enum body_kind {
	BODY_NONE,		/* no body expected; one is ignored */
	BODY_JSON,		/* application/json, parsed */
	BODY_FORM,		/* application/x-www-form-urlencoded */
	BODY_RAW,		/* read, left unparsed (signed webhooks) */
	BODY_STREAM,		/* left unread, any size: the handler
				   streams it (req_in_read(), storage) */
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
	/*
	 * Input: strings borrowed from the FastCGI record (valid until
	 * FCGX_Finish_r(), req_input_gone()) or from the arena.
	 */
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
	const char	*idempotency_key;	/* Idempotency-Key header */
	const char	*stripe_signature;	/* Stripe-Signature header */
	char		**envp;		/* every parameter (req_env()) */
	int		 idem_claimed;	/* this request owns the key */
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
	/* The transaction: the pipeline commits it unless refused. */
	int		 in_tx;		/* a transaction is open */
	int		 refused;	/* a refusal was answered */
	int		 committed;	/* the binding ran alone: no more SQL */
	unsigned int	 round_trips;	/* to the database, this request */
	unsigned int	 prepares;	/* of them PREPAREs (once per connection) */
	struct auth	 auth;
	const struct tenant *tenant;	/* loaded once per request (auth.c) */
	/* An entitlement check answered with the key's binding (auth.c). */
	struct usage_verdict *verdict;
	/* The route's key_with statement, run with the binding (auth.c). */
	struct pg_result *key_with;
	/* A refusal raised by SQL (DB_REFUSED): status, code, message. */
	int		 refusal_status;
	const char	*refusal_code;
	const char	*refusal_message;
	const char	*refusal_param;
	const char	*refusal_subject;	/* a limit's metric or agent */
	long long	 refusal_limit;
	long long	 refusal_used;
	/* Work to do once the answer is delivered (responder.c calls it). */
	void		(*after)(struct req *);
	void		*after_arg;
	/* Mail to send once the answer is committed and delivered. */
	const char	*mail_to;
	const char	*mail_subject;
	const char	*mail_body;
	void		*hdf;		/* ClearSilver data, owned (tmpl.c) */
	struct rl_result rate;		/* set when a limit was counted */
	int		 rate_set;
	/* Response. */
	int		 status;
	const char	*content_type_out;
	/*
	 * The body is req_error()'s bare page (fcgi-req.c): the pipeline
	 * shows it inside the portal's shell instead (page_error()).
	 */
	int		 error_page;
	const char	*error_code;	/* "not_found" (arena) */
	const char	*error_message;	/* arena */
	struct req_header headers[REQ_HEADERS_MAX];
	size_t		 nheaders;
	struct buf	 out;
	/*
	 * The connection's streams, set by the responder: a BODY_STREAM
	 * route reads its body through in_rd; a handler that answers
	 * with more than fits "out" sends the head (req_stream_head())
	 * and then writes through out_wr, and "streamed" tells the
	 * pipeline the answer is already on its way.
	 */
	int		(*in_rd)(void *, char *, int);
	void		*in_arg;
	int		(*out_wr)(void *, const char *, int);
	int		(*out_flush)(void *);
	void		*out_arg;
	int		 streamed;
	long long	 in_left;	/* body bytes not read yet */
};
void		 req_init(struct req *);
void		 req_init_job(struct req *, const char *);
void		 req_job(struct req *, const char *);
void		 req_free(struct req *);
void		 req_input_gone(struct req *);
int		 req_from_params(struct req *, char **, const char **);
void		 req_set_id(struct req *, const char *);
const char	*req_param(char **, const char *);
const char	*req_env(const struct req *, const char *);
void		 req_header(struct req *, const char *, const char *);
void		 req_json(struct req *, int, struct json_object *);
struct json_object *req_json_object(struct req *, const char *, size_t);
void		 req_refuse(struct req *);
void		 req_error(struct req *, int, const char *, const char *,
		    const char *, const char *);
void		 req_error_with(struct req *, int, const char *, const char *,
		    const char *, const char *, const char *,
		    struct json_object *);
void		 req_error_from_db(struct req *, int);
void		 req_error_valid(struct req *, const struct vfail *);
void		 req_redirect(struct req *, const char *);
void		 req_redirect_external(struct req *, const char *);
int		 req_read_body(struct req *, int (*)(void *, char *, int),
		    void *);
int		 req_parse_body(struct req *, enum body_kind);
int		 req_in_read(struct req *, char *, int);
int		 req_stream_head(struct req *);
int		 req_stream_write(struct req *, const void *, size_t);
int		 req_stream_flush(struct req *);
void		 req_render_head(struct req *, struct buf *);
void		 req_release(struct req *);

/* db-tenant.c: users, tenants and memberships. */
struct user {
	const char	*user_id;
	const char	*email;
	const char	*name;
	const char	*password_hash;
};
struct membership {
	const char	*tenant_id;
	const char	*role;
	const char	*tenant_name;
};
struct tenant {
	const char	*tenant_id;
	const char	*name;
	const char	*plan;		/* plan whose entitlements apply */
	const char	*plan_name;
	const char	*status;
	const char	*created_at;
	int		 seats;
	int		 rate_limit;
	int		 rate_per_seat;
	long long	 seat_limit;	/* -1: unlimited */
};
struct member {
	const char	*user_id;
	const char	*email;
	const char	*name;
	const char	*role;
	const char	*created_at;
};
struct bind_user {
	const char	*role;
	const char	*email;
	long long	 password_changed_ms;
	int		 verified;	/* the address is proven */
};
enum db_rc	 db_user_by_email(struct req *, const char *, struct user *);
enum db_rc	 db_user_get(struct req *, const char *, struct user *);
enum db_rc	 db_user_lock(struct req *, const char *, int, struct user *);
enum db_rc	 db_user_create(struct req *, const char *, const char *,
		    const char *, const char **);
enum db_rc	 db_user_set_password(struct req *, const char *, const char *,
		    int);
enum db_rc	 db_user_revoke_all(struct req *, const char *);
enum db_rc	 db_user_tenants(struct req *, const char *,
		    struct membership **, size_t *);
enum db_rc	 db_tenant_create(struct req *, const char *, const char *);
enum db_rc	 db_tenant_get(struct req *, struct tenant *);
enum db_rc	 db_tenant_bind_user(struct req *, const char *, const char *,
		    struct bind_user *, struct tenant *);
enum db_rc	 db_tenant_lock(struct req *);
enum db_rc	 db_tenant_seats(struct req *, int *, int *);
void		 db_tenant_seats_call(struct db_call *);
int		 db_tenant_seats_fill(const struct pg_result *, int *, int *);
enum db_rc	 db_membership_add(struct req *, const char *, const char *,
		    const char *);
enum db_rc	 db_membership_role(struct req *, const char *, const char **,
		    const char **, long long *);
enum db_rc	 db_members_list(struct req *, int, const char *,
		    struct member **, size_t *, int *);
enum db_rc	 db_member_get(struct req *, const char *, struct member *);
enum db_rc	 db_owners_lock(struct req *, int *);
enum db_rc	 db_membership_set_role(struct req *, const char *,
		    const char *);
enum db_rc	 db_membership_delete(struct req *, const char *);

/* db-token.c: refresh tokens. */
struct refresh {
	const char	*token_id;
	const char	*user_id;
	const char	*family;
	int		 expired;
	int		 rotated;
	int		 revoked;
};
enum db_rc	 db_refresh_create(struct req *, const char *, const char *,
		    const char *, const char *, int, const char **);
enum db_rc	 db_refresh_find(struct req *, const char *, const char **,
		    const char **);
enum db_rc	 db_refresh_lock(struct req *, const char *, struct refresh *);
enum db_rc	 db_refresh_rotated(struct req *, const char *, const char *);
enum db_rc	 db_refresh_revoke_family(struct req *, const char *);

/* db-session.c: portal sessions. */
struct session {
	const char	*tenant_id;
	const char	*session_id;
	const char	*user_id;
};
enum db_rc	 db_session_find(struct req *, const char *, int,
		    struct session *);
enum db_rc	 db_session_create(struct req *, const char *, const char *,
		    int, const char **);
enum db_rc	 db_session_revoke(struct req *, const char *);
enum db_rc	 db_session_end(struct req *, const char *);

/* db-apikey.c: tenant API keys and platform keys. */
struct apikey_auth {
	int		 platform;
	const char	*tenant_id;	/* the bound tenant, or NULL */
	const char	*key_id;
	int		 scopes;
};
struct apikey {
	const char	*key_id;
	const char	*name;
	const char	*prefix;
	const char	*created_at;
	const char	*last_used_at;
	const char	*revoked_at;	/* NULL: live */
	int		 scopes;	/* bits */
};
enum db_rc	 db_apikey_find(struct req *, const char *,
		    struct apikey_auth *);
enum db_rc	 db_apikey_bind_check(struct req *, const char *, const char *,
		    int, const char *const *, struct db_call *,
		    struct apikey_auth *, struct tenant *,
		    struct usage_verdict *);
enum db_rc	 db_apikey_create(struct req *, const char *, const char *,
		    const char *, int, const char *, struct apikey *);
enum db_rc	 db_apikey_live(struct req *, int *);
enum db_rc	 db_apikey_list(struct req *, int, const char *, int,
		    struct apikey **, size_t *, int *);
enum db_rc	 db_apikey_get(struct req *, const char *, struct apikey *);
enum db_rc	 db_apikey_revoke(struct req *, const char *, const char **);
enum db_rc	 db_platform_key_create(struct req *, const char *,
		    const char *, const char *, int, const char **);

/* db-invitation.c */
struct invitation {
	const char	*invitation_id;
	const char	*email;
	const char	*role;
	const char	*created_at;
	const char	*expires_at;
	const char	*tenant_name;
	int		 live;		/* pending and not expired */
};
enum db_rc	 db_invitation_create(struct req *, const char *, const char *,
		    const char *, const char *, int, struct invitation *);
enum db_rc	 db_invitation_find(struct req *, const char *, const char **,
		    const char **);
enum db_rc	 db_invitation_get(struct req *, const char *, int,
		    struct invitation *);
enum db_rc	 db_invitation_accepted(struct req *, const char *);
enum db_rc	 db_invitation_revoke(struct req *, const char *, int);
enum db_rc	 db_invitations_pending(struct req *, struct invitation **,
		    size_t *);
enum db_rc	 db_invitation_pending_for(struct req *, const char *);

/* db-verify.c: links that prove an e-mail address. */
enum db_rc	 db_verify_create(struct req *, const char *, const char *,
		    int);
enum db_rc	 db_verify_find(struct req *, const char *, const char **,
		    const char **, int *);
enum db_rc	 db_verify_consume(struct req *, const char *, const char **);
enum db_rc	 db_verify_user(struct req *, const char *, const char **,
		    int *);
enum db_rc	 db_verify_set(struct req *, const char *);

/* db-reset.c: links that set a new password. */
enum db_rc	 db_reset_create(struct req *, const char *, const char *, int,
		    const char **);
enum db_rc	 db_reset_find(struct req *, const char *, const char **,
		    const char **, int *);
enum db_rc	 db_reset_consume(struct req *, const char *, const char *);

/* db-idem.c */
struct idem {
	const char	*hash_hex;	/* request hash, hex */
	const char	*principal;	/* who claimed it ("user:<uuid>"...) */
	int		 status;
	int		 expired;
	unsigned char	*response;	/* sealed answer, owned by the request */
	size_t		 response_len;
};
enum db_rc	 db_idem_claim(struct req *, const char *, const char *,
		    const char *, int *);
enum db_rc	 db_idem_get(struct req *, const char *, struct idem *);
enum db_rc	 db_idem_delete(struct req *, const char *);
enum db_rc	 db_idem_store(struct req *, const char *, int,
		    const unsigned char *, size_t);
enum db_rc	 db_prune_idempotency(struct req *, long long *);

/* db-plan.c: the plan catalogue, and what of it applies to a tenant. */
#define PLAN_FEATURES_MAX	16
#define PLAN_QUOTAS_MAX		24
struct plan_quota {
	const char	*metric;
	const char	*kind;		/* "count" or "period" */
	long long	 included;	/* -1: unlimited */
	const char	*cap;		/* "hard", "soft", "metered" */
	int		 grace_pct;
	long long	 unit_price_micros;	/* overage, -1: none */
	long long	 price_unit;	/* units the price is for */
};
struct plan {
	const char		*plan;
	const char		*name;
	long long		 price_cents;
	int			 per_seat;
	int			 trial_days;
	int			 rate_limit;
	int			 rate_per_seat;
	const char		*features[PLAN_FEATURES_MAX];
	size_t			 nfeatures;
	struct plan_quota	 quotas[PLAN_QUOTAS_MAX];
	size_t			 nquotas;
};
struct entitlements {
	const char		*plan;
	const char		*plan_name;
	const char		*status;
	const char		*features;	/* "a,b" */
	const char		*period_start;
	const char		*period_end;
	struct plan_quota	 q[PLAN_QUOTAS_MAX];
	long long		 used[PLAN_QUOTAS_MAX];
	long long		 reserved[PLAN_QUOTAS_MAX];
	size_t			 n;
};
enum db_rc	 db_plans_list(struct req *, struct plan **, size_t *);
enum db_rc	 db_entitlements(struct req *, struct entitlements *);
enum db_rc	 db_plan_quota(struct req *, const char *, int, const char **,
		    long long *);

/*
 * db-agent.c: a tenant's agents, each with what it cost in the current
 * metering period, and the plan's agent quota under the tenant's lock.
 */
struct agent {
	const char	*agent_id;
	const char	*name;
	int		 active;
	long long	 budget_micros;	/* -1: no budget */
	const char	*budget_action;	/* "block" or "alert" */
	const char	*deactivated_reason;	/* NULL while active */
	const char	*deactivated_at;
	const char	*created_at;
	long long	 spend_micros;	/* cost in the current period */
};
/* What a create or a change sets; a create needs the name. */
struct agent_change {
	const char	*name;		/* NULL: unchanged */
	int		 set_budget;	/* budget_micros applies */
	long long	 budget_micros;	/* -1: no budget */
	const char	*budget_action;	/* NULL: unchanged (new: block) */
	int		 active;	/* -1: unchanged, 0 or 1 */
};
/* The plan's agent quota and how much of it is in use. */
struct agent_room {
	const char	*plan_name;
	long long	 limit;		/* active agents allowed; -1 any */
	long long	 active;
};
enum db_rc	 db_agent_list(struct req *, int, const char *,
		    struct agent **, size_t *, int *);
enum db_rc	 db_agent_get(struct req *, const char *, struct agent *);
enum db_rc	 db_agent_quota(struct req *, int, struct agent_room *);
enum db_rc	 db_agent_count(struct req *, struct agent_room *);
enum db_rc	 db_agent_insert(struct req *, const struct agent_change *,
		    struct agent *);
enum db_rc	 db_agent_update(struct req *, const char *,
		    const struct agent_change *, const char *, struct agent *);
enum db_rc	 db_agent_deactivate(struct req *, const char *, const char *,
		    const char **);

/*
 * db-llmkey.c: a tenant's own LLM provider keys, stored as Fernet
 * tokens, and the plan's llm_providers quota under the tenant's lock.
 */
struct llmkey {
	const char	*key_id;
	const char	*provider;
	const char	*label;		/* NULL: none */
	const char	*key_hint;	/* "..." and the last four */
	const char	*created_at;
	const char	*last_used_at;	/* NULL: never */
	const char	*ciphertext;	/* the Fernet token: never answered */
	const char	*status;	/* working, failing (the gateway's) */
	const char	*status_detail;	/* the provider's refusal, or NULL */
};
struct llmkey_room {
	const char	*plan_name;
	long long	 limit;		/* providers allowed; -1 any */
	long long	 used;
	int		 provider_taken;
};
enum db_rc	 db_llmkey_list(struct req *, struct llmkey **, size_t *);
enum db_rc	 db_llmkey_quota(struct req *, struct llmkey_room *);
enum db_rc	 db_llmkey_count(struct req *, const char *,
		    struct llmkey_room *);
enum db_rc	 db_llmkey_insert(struct req *, const char *, const char *,
		    const char *, const char *, struct llmkey *);
enum db_rc	 db_llmkey_delete(struct req *, const char *, struct llmkey *);

/*
 * db-llmprice.c: a tenant's own prices of models (sql/021), which take
 * the place of the platform's at the gateway and in usage_ingest.
 */
#define LLMPRICE_MAX	1000000000000LL	/* micro-USD per Mtok: $1M */
#define LLMPRICE_CAP	500		/* prices a tenant */
struct llmprice {
	const char	*price_id;
	const char	*provider;
	const char	*model;
	long long	 prompt_per_mtok;
	long long	 completion_per_mtok;
	long long	 cached_per_mtok;
	const char	*created_at;
	const char	*updated_at;
};
enum db_rc	 db_llmprice_list(struct req *, struct llmprice **, size_t *);
enum db_rc	 db_llmprice_set(struct req *, const struct llmprice *,
		    struct llmprice *, int *);
enum db_rc	 db_llmprice_delete(struct req *, const char *,
		    struct llmprice *);

/*
 * db-vault.c: the stored secrets, the columns of Fernet tokens that
 * vault_columns lists (sql/017), for `admin keys rotate`: a batch of a
 * column's tokens across tenants, and a token replaced under its own
 * tenant only where it is still the one read.
 */
struct vault_column {
	char		 table[64];
	char		 id_column[64];
	char		 column[64];
};
struct vault_secret {
	const char	*tenant_id;
	const char	*id;
	const char	*token;
};
enum db_rc	 db_vault_columns(struct req *, struct vault_column *, size_t,
		    size_t *);
enum db_rc	 db_vault_list(struct req *, const struct vault_column *,
		    const char *, const char *, int, struct vault_secret **,
		    size_t *);
enum db_rc	 db_vault_replace(struct req *, const struct vault_column *,
		    const char *, const char *, const char *, int *);
enum db_rc	 db_vault_lock(struct req *, const struct vault_column *,
		    const char *, const char **);

/*
 * db-channel.c: the tenant's Slack and WhatsApp connections (token
 * sealed), the plan's channels quota, and OAuth state nonces.
 */
struct channel {
	const char	*channel_id;
	const char	*kind;		/* "slack" or "whatsapp" */
	const char	*external_id;	/* Slack team id, phone number id */
	const char	*target_id;	/* Slack channel id, or "" */
	const char	*name;		/* workspace or business name */
	const char	*target;	/* "#alerts", "+1 555-0100", or NULL */
	const char	*agent_id;	/* NULL: any agent */
	const char	*status;	/* "connected" or "failing" */
	const char	*status_detail;	/* the provider's last refusal */
	const char	*created_at;
	const char	*updated_at;
	const char	*last_test_at;
	const char	*token;		/* the Fernet token: never answered */
};
struct channel_room {
	const char	*plan_name;
	long long	 limit;		/* channels allowed; -1 any */
	long long	 used;
	int		 exists;	/* connecting it again replaces it */
};
enum db_rc	 db_channel_list(struct req *, struct channel **, size_t *);
enum db_rc	 db_channel_get(struct req *, const char *, struct channel *);
enum db_rc	 db_channel_quota(struct req *, struct channel_room *);
enum db_rc	 db_channel_count(struct req *, const struct channel *,
		    struct channel_room *);
enum db_rc	 db_channel_put(struct req *, const struct channel *,
		    struct channel *, int *);
enum db_rc	 db_channel_delete(struct req *, const char *,
		    struct channel *);
enum db_rc	 db_channel_tested(struct req *, const char *, int,
		    const char *, struct channel *);
enum db_rc	 db_oauth_nonce_new(struct req *, const char *, int);
enum db_rc	 db_oauth_nonce_take(struct req *, const char *);

/*
 * db-notify.c: notification settings, the outbox (sql/019) and its
 * deliveries, taken one at a time under their row locks.
 */
struct notify_settings {
	const char	*recipients;	/* JSON array of addresses */
	const char	*webhook;	/* the sealed Slack URL, or NULL */
	const char	*webhook_hint;
	const char	*disabled;	/* JSON array of trigger names */
	const char	*updated_at;	/* NULL: never saved */
};
struct notify_delivery {
	const char	*notification_id;
	const char	*transport;	/* "email" or "slack" */
	int		 attempts;	/* made before this one */
	const char	*trigger;
	const char	*subject;
	const char	*details;	/* JSON object */
	const char	*recipient;	/* a personal message's address */
	const char	*secret;	/* its sealed link */
	const char	*created_at;
};
struct notify_row {
	const char	*notification_id;
	const char	*trigger;
	const char	*subject;
	const char	*status;	/* queued, skipped, debounced */
	const char	*created_at;
	int		 personal;
	const char	*deliveries;	/* JSON array */
};
enum db_rc	 db_notify_queue(struct req *, const char *, const char *,
		    const char *);
enum db_rc	 db_notify_personal(struct req *, const char *, const char *,
		    const char *, const char *);
enum db_rc	 db_notify_user_tenant(struct req *, const char *,
		    const char **);
enum db_rc	 db_notify_settings(struct req *, struct notify_settings *);
enum db_rc	 db_notify_settings_put(struct req *, const char *,
		    const char *, int, const char *, const char *);
enum db_rc	 db_notify_recipients(struct req *, struct pg_result **);
enum db_rc	 db_notify_due(struct req *, int, struct pg_result **);
enum db_rc	 db_notify_next(struct req *, struct notify_delivery *);
enum db_rc	 db_notify_record(struct req *, const struct notify_delivery *,
		    const char *, const char *, int);
enum db_rc	 db_notify_list(struct req *, int, struct notify_row **,
		    size_t *);

/* db-reveal.c: secrets shown once after a redirect. */
enum db_rc	 db_reveal_put(struct req *, const char *,
		    const unsigned char *, size_t, const char **);
enum db_rc	 db_reveal_take(struct req *, const char *, const char *,
		    unsigned char **, size_t *);
enum db_rc	 db_prune_reveals(struct req *, long long *);

/* db-audit.c */
struct audit_event {
	const char	*event_id;
	const char	*at;
	const char	*actor;
	const char	*actor_user_id;
	const char	*action;
	const char	*target;
	const char	*ip;
	const char	*request_id;
	const char	*details;
	const char	*target_name;	/* the target's name, or NULL */
	const char	*actor_key_name; /* a key actor's name, or NULL */
};
enum db_rc	 db_audit_add(struct req *, const char *, const char *,
		    const char *);
enum db_rc	 db_audit_list(struct req *, const struct audit_filter *, int,
		    struct audit_event **, size_t *, int *);
enum db_rc	 db_prune_auth(struct req *, long long *);

/*
 * db-storage.c: the metadata of records and backups (sql/020), the holds
 * of uploads against the plan's storage quotas, what a tenant stores,
 * and the garbage the worker collects.
 */
struct storage_hold {
	const char	*reservation_id;	/* NULL: refused */
	long long	 limit;		/* bytes; -1: unlimited */
	long long	 taken;		/* used and held, with this one */
	const char	*plan_needed;	/* the plan allows none: this one does */
	int		 pruned;	/* old backups deleted to make room */
};
struct storage_record {
	const char	*record_id;
	const char	*table;
	const char	*object_key;	/* NULL when deleted */
	long long	 size;
	const char	*sha256;	/* hex */
	long long	 revision;
	const char	*created_at;
	const char	*updated_at;
	const char	*deleted_at;	/* NULL when live */
};
struct storage_backup {
	const char	*backup_id;
	const char	*object_key;
	long long	 size;
	const char	*sha256;	/* hex */
	const char	*version;	/* X-Backup-Version */
	const char	*client_ts;	/* X-Backup-Timestamp, RFC 3339 */
	const char	*created_at;
	time_t		 created;
	int		 pinned;
};
struct storage_usage {
	long long	 records, record_bytes;
	long long	 backups, backup_bytes;
	long long	 collections, vectors, vector_bytes;
	long long	 storage_limit, backup_limit;	/* -1: unlimited */
	long long	 storage_taken, backup_taken;	/* used and held */
};
enum db_rc	 db_storage_reserve(struct req *, const char *, long long,
		    const char *, int, struct storage_hold *);
enum db_rc	 db_record_write(struct req *, const char *, const char *,
		    const char *, long long, const char *, const char *,
		    long long, const char **, struct storage_record *);
enum db_rc	 db_record_get(struct req *, const char *,
		    struct storage_record *);
enum db_rc	 db_record_list(struct req *, const char *, long long, int,
		    struct storage_record **, size_t *);
enum db_rc	 db_record_delete(struct req *, const char *, long long,
		    const char **);
enum db_rc	 db_backup_write(struct req *, const struct storage_backup *,
		    const char *, const char *, const char **,
		    struct storage_backup *, int *);
enum db_rc	 db_backup_get(struct req *, const char *,
		    struct storage_backup *);
enum db_rc	 db_backup_list(struct req *, struct storage_backup **,
		    size_t *);
enum db_rc	 db_backup_delete(struct req *, const char *);
enum db_rc	 db_backup_pin(struct req *, const char *, int);
enum db_rc	 db_storage_prune_get(struct req *, int *);
enum db_rc	 db_storage_prune_set(struct req *, int);
enum db_rc	 db_storage_usage(struct req *, struct storage_usage *);
struct vec_collection {
	const char	*name;
	unsigned	 dim;
	long long	 generation;	/* of its flat file; 0: none yet */
	long long	 count;
	long long	 bytes;		/* payloads, ids and vectors */
	const char	*updated_at;
};
enum db_rc	 db_vec_lock(struct req *, const char *, unsigned,
		    struct vec_collection *);
enum db_rc	 db_vec_drop_unborn(struct req *, const char *);
enum db_rc	 db_vec_get(struct req *, const char *,
		    struct vec_collection *);
enum db_rc	 db_vec_list(struct req *, struct vec_collection **, size_t *);
enum db_rc	 db_vec_bytes(struct req *, const char *, const char *,
		    long long *, long long *);
enum db_rc	 db_vec_put(struct req *, const char *, const char *,
		    const char *, const char *, unsigned);
enum db_rc	 db_vec_drop(struct req *, const char *, const char *);
enum db_rc	 db_vec_publish(struct req *, const struct vec_collection *,
		    long long, long long);
enum db_rc	 db_storage_charge(struct req *, long long, int *,
		    struct storage_hold *);
enum db_rc	 db_vec_payloads(struct req *, const char *, const char *,
		    struct pg_result **);
enum db_rc	 db_storage_garbage_due(struct req *, int,
		    struct pg_result **);
enum db_rc	 db_storage_garbage_done(struct req *, const char *,
		    const char *);

/*
 * db-gateway.c: the LLM gateway's statements (sql/021): a call's plan,
 * the tenant's concurrent-call slots, the call's record, the provider
 * key's status, the tenant's models.
 */
struct gw_plan {
	const char	*provider;
	const char	*model;		/* as the provider names it */
	long long	 prompt_per_mtok;	/* micro-USD per million */
	long long	 completion_per_mtok;
	long long	 cached_per_mtok;
	const char	*key_id;	/* NULL: no key for the provider */
	const char	*ciphertext;	/* the key, sealed */
	int		 agent_found;
	int		 agent_active;
	long long	 budget_left;	/* micro-USD; -1: no blocking budget */
	long long	 tokens_left;	/* llm_tokens; -1: unlimited */
};
struct gw_record {
	const char		*call_id;
	const char		*agent;
	const struct gw_plan	*plan;
	int			 stream;
	const char		*status;	/* ok, client_gone, cut, ... */
	long			 http_status;
	long long		 prompt, completion, cached;
	int			 usage_reported;
	int			 latency_ms;
	int			 ttfb_ms;	/* -1: no byte came */
};
void		 db_gateway_plan_call(struct req *, const char *,
		    const char *, struct db_call *);
enum db_rc	 db_gateway_plan_read(struct pg_result *, struct gw_plan *);
enum db_rc	 db_gateway_plan(struct req *, const char *, const char *,
		    struct gw_plan *);
enum db_rc	 db_gateway_hold(struct req *, long long, const char *,
		    long long, int, int, const char **, int *);
enum db_rc	 db_gateway_slot(struct req *, int, int *);
enum db_rc	 db_gateway_slot_free(struct req *, int);
enum db_rc	 db_gateway_record(struct req *, const struct gw_record *);
enum db_rc	 db_gateway_settle(struct req *, const char *,
		    const struct gw_record *, int);
void		 db_gateway_abandon(struct req *, const char *, int);
enum db_rc	 db_gateway_key_failed(struct req *, const char *,
		    const char *);
enum db_rc	 db_gateway_key_used(struct req *, const char *);
enum db_rc	 db_gateway_models(struct req *, struct pg_result **);
enum db_rc	 db_gateway_model(struct req *, const char *,
		    struct pg_result **);
enum db_rc	 db_gateway_usage(struct req *, const char *, const char *,
		    struct pg_result **);

/*
 * db-billing.c: the tenant's Stripe state, the webhook's event ledger,
 * invoices, the Stripe ids of the catalogue and queued notifications.
 */
struct billing_state {
	const char	*plan;		/* the subscribed plan */
	const char	*effective;	/* the plan whose entitlements apply */
	const char	*status;
	const char	*customer_id;	/* NULL: none yet */
	const char	*subscription_id;
	const char	*trial_end;	/* RFC 3339 or NULL */
	const char	*period_start;
	const char	*period_end;
	const char	*past_due_since;
	int		 cancel_at_period_end;
	int		 seats;
	int		 had_trial;
	long long	 members;	/* current counts, for a downgrade */
	long long	 agents;
	long long	 api_keys;
};
struct sub_state {
	const char	*subscription_id;
	const char	*customer_id;
	const char	*plan;
	const char	*status;
	const char	*trial_end;	/* Unix seconds as text, or NULL */
	const char	*period_start;
	const char	*period_end;
	int		 cancel_at_period_end;
	int		 seats;		/* 0: leave as is */
	long long	 created;	/* the event's time */
	int		 deleted;
	int		 current;	/* fetched from Stripe just now */
};
struct invoice {
	const char	*invoice_id;
	const char	*number;
	const char	*status;
	const char	*currency;
	long long	 amount_due;
	long long	 amount_paid;
	long long	 total;
	const char	*period_start;	/* RFC 3339 (read) or Unix s (write) */
	const char	*period_end;
	const char	*hosted_url;
	const char	*pdf_url;
	const char	*created;
};
enum db_rc	 db_billing_state(struct req *, int, struct billing_state *);
enum db_rc	 db_billing_set_customer(struct req *, const char *);
enum db_rc	 db_billing_link(struct req *, const char *, const char *);
enum db_rc	 db_billing_bind_customer(struct req *, const char *,
		    const char *, const char **);
enum db_rc	 db_billing_event_record(struct req *, const char *,
		    const char *, long long, const char *, const char *,
		    const char *);
enum db_rc	 db_billing_subscription_apply(struct req *,
		    const struct sub_state *, const char **);
enum db_rc	 db_billing_past_due(struct req *, int);
enum db_rc	 db_billing_grace_over(struct req *, int, const char ***,
		    size_t *);
enum db_rc	 db_billing_grace_end(struct req *);
enum db_rc	 db_billing_invoice_put(struct req *, const struct invoice *,
		    long long);
enum db_rc	 db_billing_invoices(struct req *, int, const char *,
		    struct invoice **, size_t *, int *);
enum db_rc	 db_billing_invoice_get(struct req *, const char *,
		    struct invoice *);
enum db_rc	 db_billing_catalogue_get(struct req *, const char *,
		    const char *, const char **);
enum db_rc	 db_billing_catalogue_put(struct req *, const char *,
		    const char *, const char *, const char *, const char *);

/* db-usage.c: metering's statements (sql/014). */
struct reservation {
	const char	*reservation_id;
	const char	*expires_at;
	long long	 remaining;	/* -1: unlimited */
};
struct usage_verdict {
	int		 allowed;
	long long	 remaining;	/* -1: unlimited */
	const char	*reason;	/* NULL when allowed */
};
enum db_rc	 db_usage_ingest(struct req *, const char *, int, long long *,
		    long long *);
enum db_rc	 db_usage_reserve(struct req *, const char *, long long,
		    const char *, long long, int, int, struct reservation *);
enum db_rc	 db_usage_unhold(struct req *, const char *, const char *);
enum db_rc	 db_usage_check(struct req *, const char *, long long,
		    const char *, struct usage_verdict *);
enum db_rc	 db_usage_expired(struct req *, int, struct pg_result **);
enum db_rc	 db_usage_period(struct req *, const char *, const char **,
		    const char **);
enum db_rc	 db_usage_metrics(struct req *, const char *, const char *,
		    struct pg_result **);
enum db_rc	 db_usage_agents(struct req *, const char *, const char *,
		    struct pg_result **);
enum db_rc	 db_usage_by(struct req *, const char *, const char *,
		    const char *, struct pg_result **);
enum db_rc	 db_usage_series(struct req *, const char *, int, const char *,
		    const char *, struct pg_result **);
enum db_rc	 db_usage_export(struct req *, const char *, const char *,
		    struct pg_result **);
enum db_rc	 db_usage_alerts(struct req *, const char *, const char *,
		    struct pg_result **);
/* The /usage page's reads, in one round trip (db_usage_page()). */
enum usage_page_read {
	USAGE_PAGE_METRICS,
	USAGE_PAGE_SERIES,
	USAGE_PAGE_AGENTS,
	USAGE_PAGE_PROVIDERS,
	USAGE_PAGE_MODELS,
	USAGE_PAGE_CHANNELS,
	USAGE_PAGE_ALERTS,
	USAGE_PAGE_SEATS,	/* the layout's, db_tenant_seats_call() */
	USAGE_PAGE__MAX
};
enum db_rc	 db_usage_page(struct req *, const char *, const char *,
		    const char *, struct pg_result **);

/* db-meter.c: the outbox of reports to Stripe's meters (sql/015). */
struct meter_queued {
	const char	*metric;
	long long	 window_start;	/* Unix seconds */
	int		 revision;
	long long	 quantity;
	long long	 report_ts;	/* Unix seconds */
	int		 restamped;	/* too old for Stripe: the current hour */
};
struct meter_report {
	const char	*metric;
	long long	 window_start;	/* Unix seconds */
	int		 revision;
	long long	 quantity;
	long long	 report_ts;	/* Unix seconds */
	const char	*identifier;
	int		 attempts;	/* made so far */
	const char	*customer;	/* the tenant's, or NULL */
	int		 stale;		/* report_ts too old for Stripe now */
};
struct meter_recon {
	const char	*tenant_id;
	const char	*customer;
	const char	*metric;
	long long	 usage;		/* the windows' totals */
	long long	 sent;		/* reports sent, by their time */
};
enum db_rc	 db_meter_windows_closed(struct req *, int, const char ***,
		    size_t *);
enum db_rc	 db_meter_queue(struct req *, int, long long,
		    struct meter_queued **, size_t *);
enum db_rc	 db_meter_reports_due(struct req *, int, struct pg_result **);
enum db_rc	 db_meter_next(struct req *, const char *, long long,
		    struct meter_report *);
enum db_rc	 db_meter_restamp(struct req *, struct meter_report *);
enum db_rc	 db_meter_sent(struct req *, const struct meter_report *);
enum db_rc	 db_meter_failed(struct req *, const struct meter_report *,
		    const char *, long);
enum db_rc	 db_meter_no_customer(struct req *, const char *, long long *,
		    long long *);
enum db_rc	 db_meter_reconcile(struct req *, long long, long long,
		    struct meter_recon **, size_t *);

/* db-migrate.c */
int		 db_migrate_run(const char *, const char *, int);

/*
 * auth.c: who is asking, and may they.  auth_identify() runs before
 * the body, auth_bind() after it; auth_key_refuse_unknown() lets an
 * unknown key win over a bad body.  0, or -1 with the answer set.
 */
struct route;
enum role	 auth_role_parse(const char *);
const char	*auth_role_name(enum role);
void		 auth_csrf_token(const char *, char [48]);
void		 auth_csrf_refresh(struct req *);
int		 auth_rate(struct req *, const char *, int);
int		 auth_identify(struct req *, const struct route *);
void		 auth_key_refuse_unknown(struct req *);
int		 auth_bind(struct req *, const struct route *);
enum db_rc	 auth_tenant(struct req *, const struct tenant **);
void		 auth_set_cookie(struct req *, const char *, const char *, int);

/* idem.c: Idempotency-Key on creating POSTs. */
int		 idem_begin(struct req *);
void		 idem_finish(struct req *);

/*
 * mail.c: compose a message (0 or -1) and deliver it, the outcome an
 * enum mail_rc with a short reason (no addresses, no body) in "why".
 */
#define MAIL_RCPT_MAX	10
struct mail_msg {
	const char	*to[MAIL_RCPT_MAX + 1];	/* NULL-terminated */
	const char	*subject;	/* UTF-8, no CR/LF, <= 200 chars */
	const char	*text;		/* the plain text body, UTF-8 */
	const char	*html;		/* HTML alternative (escaped), or NULL */
	const char	*message_id;	/* "<local@domain>", or NULL: new one */
	time_t		 date;		/* 0: now */
};
enum mail_rc {
	MAIL_SENT,
	MAIL_TRANSIENT,		/* try again later */
	MAIL_PERMANENT,		/* another attempt would fail alike */
	MAIL_OFF		/* no SMTP_URL */
};
int		 mail_compose(const struct mail_msg *, struct buf *);
enum mail_rc	 mail_deliver(const struct mail_msg *, char *, size_t);
int		 mail_send(const char *, const char *, const char *);
void		 mail_verification(struct req *, const char *, const char *);
void		 mail_after_request(struct req *);

/*
 * stripe.c: the Stripe API client.  0, or -1 with a struct stripe_err
 * (status 0: Stripe could not be reached).
 */
struct stripe_err {
	int		 status;
	char		 type[40];
	char		 code[64];
	char		 param[64];
	char		 message[256];
};
int		 stripe_configured(void);
int		 stripe_test_mode(void);
void		 stripe_set_budget(long);
int		 stripe_form_add(struct buf *, const char *, const char *);
int		 stripe_form_addf(struct buf *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
long		 stripe_backoff_ms(int, unsigned int);
int		 stripe_call(struct req *, const char *, const char *,
		    const struct buf *, const char *, struct json_object **,
		    struct stripe_err *);
const char	*stripe_message(struct req *, const struct stripe_err *);
const char	*stripe_id(struct json_object *, const char *);

/* tmpl.c: ClearSilver pages, escaping by default. */
void		 tmpl_set(struct req *, const char *, const char *);
void		 tmpl_set_int(struct req *, const char *, long long);
void		 tmpl_set_row(struct req *, const char *, size_t, const char *,
		    const char *);
void		 tmpl_render(struct req *, int, const char *);
int		 tmpl_rerender(struct req *, const char *);
void		 tmpl_reset(struct req *);
const char	*tmpl_static_version(const char *);

/*
 * acct.c: account operations shared by the API and the portal.  They
 * return 0, or -1 with a struct fail describing the answer.
 */
struct fail {
	int		 status;
	const char	*code;
	const char	*message;
	const char	*param;		/* the field at fault, or NULL */
	int		 db;		/* an enum db_rc, or 0 */
	int		 retry;		/* Retry-After seconds of a 429, or 0 */
};
struct tokens {
	const char	*access_token;
	const char	*refresh_token;
	const char	*refresh_id;
	time_t		 expires_at;
	const char	*user_id;
	const char	*tenant_id;
	const char	*role;
};
struct login {
	struct user	 user;
	const char	*tenant_id;
	const char	*tenant_name;
	const char	*role;
};
int		 acct_fail(struct fail *, int, const char *, const char *,
		    const char *);
int		 acct_fail_db(struct fail *, enum db_rc);
int		 acct_verified(struct req *, struct fail *);
void		 acct_answer(struct req *, const struct fail *);
int		 acct_register(struct req *, struct fail *, const char *,
		    const char *, const char *, const char *);
int		 acct_issue_tokens(struct req *, struct fail *, struct tokens *);
int		 acct_authenticate(struct req *, struct fail *, const char *,
		    const char *, const char *, struct login *);
void		 acct_audit_login_failure(struct req *, const char *,
		    const char *, const char *);
void		 acct_rehash(struct req *, const struct user *, const char *);
int		 acct_refresh(struct req *, struct fail *, const char *,
		    struct tokens *);
int		 acct_logout(struct req *, struct fail *, const char *);
int		 acct_invite(struct req *, struct fail *, const char *,
		    const char *, struct invitation *, const char **);
int		 acct_invitation_open(struct req *, struct fail *, const char *,
		    struct invitation *);
int		 acct_accept(struct req *, struct fail *, const char *,
		    const char *, const char *);
int		 acct_set_role(struct req *, struct fail *, const char *,
		    const char *, struct member *);
int		 acct_remove(struct req *, struct fail *, const char *);
int		 acct_key_create(struct req *, struct fail *, const char *, int,
		    struct apikey *, const char **);
int		 acct_key_revoke(struct req *, struct fail *, const char *);
int		 acct_password_change(struct req *, struct fail *,
		    const char *, const char *);
int		 acct_session_start(struct req *, struct fail *);
int		 acct_session_end(struct req *, struct fail *);
int		 acct_verify_open(struct req *, struct fail *, const char *,
		    const char **);
int		 acct_verify_email(struct req *, struct fail *, const char *);
int		 acct_verify_resend(struct req *, struct fail *);
int		 acct_reset_request(struct req *, struct fail *, const char *);
int		 acct_reset_open(struct req *, struct fail *, const char *,
		    const char **);
int		 acct_reset_confirm(struct req *, struct fail *, const char *,
		    const char *);

/*
 * billing.c: checkout, portal, changes and cancellation through Stripe,
 * and the effects of its webhook events (acct.c's error convention).
 */
int		 billing_checkout(struct req *, struct fail *, const char *,
		    int, const char *, const char **);
int		 billing_portal(struct req *, struct fail *, const char **);
int		 billing_change(struct req *, struct fail *, const char *, int,
		    struct json_object **);
int		 billing_cancel(struct req *, struct fail *, int,
		    struct json_object **);
int		 billing_upcoming(struct req *, struct fail *,
		    struct json_object **);
enum db_rc	 billing_event(struct req *, struct json_object *,
		    const char **, const char **);
int		 billing_live(const struct billing_state *);
void		 billing_seats_after(struct req *);
enum db_rc	 billing_end_grace(struct req *, long long *);
int		 billing_id_ok(const char *);
void		 billing_decimal(long long, long long, char *, size_t);
int		 billing_sync(struct req *, FILE *);

/*
 * meter.c: billable usage to Stripe's meters, exactly once: the
 * worker's jobs (queue, send) and `admin stripe reconcile`.
 */
enum db_rc	 meter_queue(struct req *, long long *);
enum db_rc	 meter_send(struct req *, long long *);
int		 meter_reconcile(struct req *, const char *, FILE *);
long		 meter_backoff_s(int);
long		 meter_rate_delay_ms(double, double *, int);
int		 meter_period_parse(const char *, long long *, long long *);

/*
 * agent.c: agents for the API and the portal: the checks of their
 * fields (pure, one table for JSON and forms) and the changes within
 * the plan's agent quota, each audited (acct.c's error convention).
 */
void		 agent_change_init(struct agent_change *);
int		 agent_json(struct json_object *, int, struct agent_change *,
		    struct vfail *);
size_t		 agent_form(const struct kvlist *, int,
		    struct agent_change *, struct vfail *, size_t);
int		 agent_create(struct req *, struct fail *,
		    const struct agent_change *, struct agent *,
		    struct agent_room *);
int		 agent_update(struct req *, struct fail *, const char *,
		    const struct agent_change *, struct agent *,
		    struct agent_room *);
int		 agent_deactivate(struct req *, struct fail *, const char *,
		    const char *);

/*
 * usage.c: metering's read side for the API and the portal: the period
 * a request names, a quota's row with its overage, the CSV export
 * (acct.c's error convention).
 */
struct usage_quota {
	const char	*metric;
	long long	 used;
	long long	 included;	/* -1: unlimited */
	const char	*cap;		/* "hard", "soft" or "metered" */
	long long	 unit_price;	/* micro-USD per price_unit; -1: none */
	long long	 price_unit;
	long long	 grace_pct;	/* a soft cap's allowance above */
	long long	 overage;	/* above included, metered caps only */
	long long	 overage_cost;	/* micro-USD */
};
int		 usage_period(struct req *, struct fail *, const char *,
		    const char **, const char **);
void		 usage_quota_row(const struct pg_result *, int,
		    struct usage_quota *);
int		 usage_export(struct req *, struct fail *, const char *,
		    const char *);

/* api.c: helpers shared by the JSON handlers. */
void		 api_str(struct json_object *, const char *, const char *);
void		 api_time(struct json_object *, const char *, time_t);
void		 api_list(struct req *, struct json_object *, int);
int		 api_input(struct req *, enum vop, struct vvalue *);
struct json_object *api_tokens_json(const struct tokens *, const char *,
		    const char *);
struct json_object *api_scopes_json(int);
void		 api_quota_answer(struct req *, const struct fail *,
		    const char *, long long, long long);
int		 api_list_args(struct req *, int *, const char **);

/* api-auth.c */
void		 api_auth_register(struct req *);
void		 api_auth_login(struct req *);
void		 api_auth_refresh(struct req *);
void		 api_auth_logout(struct req *);
void		 api_auth_me(struct req *);
void		 api_auth_password(struct req *);
void		 api_auth_verify_email(struct req *);
void		 api_auth_verify_resend(struct req *);
void		 api_auth_password_reset(struct req *);
void		 api_auth_password_reset_confirm(struct req *);

/* api-team.c */
void		 api_members_list(struct req *);
void		 api_members_invite(struct req *);
void		 api_invitations_accept(struct req *);
void		 api_members_update(struct req *);
void		 api_members_delete(struct req *);
void		 api_keys_list(struct req *);
void		 api_keys_create(struct req *);
void		 api_keys_delete(struct req *);
void		 api_audit_list(struct req *);

/* api-plans.c: the public catalogue and a tenant's entitlements. */
void		 api_plans(struct req *);
void		 api_entitlements(struct req *);

/* api-billing.c */
void		 api_billing_checkout(struct req *);
void		 api_billing_portal(struct req *);
void		 api_billing_subscription(struct req *);
void		 api_billing_change(struct req *);
void		 api_billing_cancel(struct req *);
void		 api_billing_invoices(struct req *);
void		 api_billing_invoice(struct req *);
void		 api_billing_upcoming(struct req *);
void		 api_billing_webhook(struct req *);

/* api-usage.c: metering. */
void		 api_usage_events(struct req *);
void		 api_usage_reserve(struct req *);
void		 api_usage_release(struct req *);
void		 api_entitlements_check(struct req *);
void		 api_usage_summary(struct req *);
void		 api_usage_timeseries(struct req *);
void		 api_usage_export(struct req *);
void		 api_usage_alerts(struct req *);

/* llmkey.c: bring-your-own LLM keys (acct.c's error convention). */
#define LLMKEY_HINT_MAX	8
void		 llmkey_hint(const char *, char *);
int		 llmkey_add(struct req *, struct fail *, const char *,
		    const char *, char *, struct llmkey *,
		    struct llmkey_room *);
int		 llmkey_delete(struct req *, struct fail *, const char *);
struct json_object *llmprice_json(const struct llmprice *, int);
int		 llmprice_set(struct req *, struct fail *,
		    const struct llmprice *, struct llmprice *, int *);
int		 llmprice_delete(struct req *, struct fail *, const char *,
		    struct llmprice *);

/*
 * vault.c: `tollgate admin keys rotate`, every stored secret sealed
 * again under the primary key, VAULT_BATCH rows a transaction,
 * resumable; the exit status.
 */
#define VAULT_BATCH	200
int		 vault_rotate(struct req *, FILE *);
/* Sealing and opening one secret (LLM keys, channel tokens). */
char		*vault_seal(const void *, size_t);
int		 vault_unseal(const char *, char **, size_t *);
void		 vault_wipe(char *, size_t);
int		 vault_usable(const char *);

/*
 * sigv4.c: AWS Signature Version 4 for S3 requests, pure.  The caller
 * gives the request as it will be sent: the path already URI-encoded
 * (object keys are [A-Za-z0-9._/-], nothing to encode), the query
 * already sorted and encoded, the payload's hex SHA-256.  Both return
 * -1 when the output (or the canonical request, 8 KiB) does not fit,
 * on more than 16 signed headers and on a missing field.
 */
struct sigv4_req {
	const char	*method;
	const char	*path;		/* "/bucket/key" */
	const char	*query;		/* "partNumber=1&uploadId=x", or "" */
	const char	*host;		/* host[:port] as in the Host header */
	const char	*amz_date;	/* YYYYMMDDTHHMMSSZ */
	const char	*payload_sha256;	/* lower-case hex */
	/* More headers to sign, "name:value" (name lower case), or NULL. */
	const char *const *headers;
	size_t		 nheaders;
	const char	*region;
	const char	*service;	/* "s3" */
	const char	*access_key;
	const char	*secret_key;
	/*
	 * 1: the payload hash is not also signed as the header
	 * x-amz-content-sha256, as in AWS's generic test suite.  S3
	 * wants it signed: 0 for every real call.
	 */
	int		 omit_content_sha;
};
int		 sigv4_canonical(const struct sigv4_req *, char *, size_t);
int		 sigv4_authorization(const struct sigv4_req *, char *, size_t);

/*
 * blob.c: the object store of records and backups.  A body is spooled
 * to a temporary file under TOLLGATE_STORAGE_DIR while hashed
 * (blob_spool), checked by the caller, then stored under a key by the
 * configured backend: blob-fs.c (a directory, the default) or
 * blob-s3.c (an S3 bucket).  Keys are built from ids only,
 * [A-Za-z0-9._/-]: "<tenant>/<object id>".
 */
enum blob_rc {
	BLOB_OK = 0,
	BLOB_NOTFOUND = 1,	/* no such object */
	BLOB_SHORT = 2,		/* the body ended before its length */
	BLOB_ERROR = -1,	/* a bug or an unexpected failure: 500 */
	BLOB_FULL = -2,		/* no space, or not writable: 503 */
	BLOB_UPSTREAM = -3	/* the remote store failed: 502 */
};
struct blob_spool {
	int		 fd;		/* -1 when closed */
	char		 path[512];	/* the temporary file, "" when gone */
	long long	 size;
	unsigned char	 sha256[32];
};
struct blob_backend {
	const char	*name;
	int		(*init)(const char **);
	enum blob_rc	(*store)(struct req *, const char *,
			    struct blob_spool *);
	/* The sink takes the object's bytes; -1 stops the transfer. */
	enum blob_rc	(*fetch)(struct req *, const char *,
			    int (*)(void *, const void *, size_t), void *);
	enum blob_rc	(*remove)(struct req *, const char *);
};
extern const struct blob_backend blob_fs, blob_s3;
int		 blob_conf_check(const struct conf *, const char **);
const char	*blob_dir(void);
int		 blob_spool_sweep(void);
enum blob_rc	 blob_spool(struct req *, long long, struct blob_spool *);
void		 blob_spool_drop(struct blob_spool *);
enum blob_rc	 blob_store(struct req *, const char *, struct blob_spool *);
enum blob_rc	 blob_fetch(struct req *, const char *,
		    int (*)(void *, const void *, size_t), void *);
enum blob_rc	 blob_remove(struct req *, const char *);
int		 blob_key_valid(const char *);

/*
 * vec.c: vector collections in flat files, one immutable file per
 * generation (<dir>/<name>.<gen>.vec, the format in vec.c), written
 * whole by vec_apply() and searched by exact cosine similarity through
 * a per-process cache of read-only mappings (not for threads).  Which
 * generation is current is the caller's to record.  Vectors come in as
 * doubles, JSON's numbers, checked by vec_check() first; a query is
 * floats.  Item ids and collection names are of [A-Za-z0-9._:-], a
 * name not starting with a dot.
 */
#define VEC_DIM_MAX	4096		/* values per vector */
#define VEC_TOPK_MAX	10000		/* hits per search */
#define VEC_ID_MAX	128		/* characters of an item id */
#define VEC_NAME_MAX	128		/* characters of a collection name */
#define VEC_UPSERT_MAX	1000		/* items of one upsert or delete */
enum vec_rc {
	VEC_OK = 0,
	VEC_ERROR = -1,		/* bad arguments, a missing or bad file */
	VEC_FULL = -2		/* no space, or not writable: 503 */
};
struct vec_item {
	const char	*id;		/* 1..VEC_ID_MAX of [A-Za-z0-9._:-] */
	const double	*v;		/* dim values, borrowed */
};
struct vec_hit {
	char		 id[VEC_ID_MAX + 1];
	double		 score;		/* cosine similarity, -1..1 */
};
struct vec_stat {
	unsigned	 dim;
	uint64_t	 count;		/* items */
	uint64_t	 bytes;		/* of the file */
};
int		 vec_id_valid(const char *);
int		 vec_name_valid(const char *);
int		 vec_check(const double *, size_t, unsigned, const char **);
int		 vec_path(const char *, const char *, uint64_t, char *, size_t);
enum vec_rc	 vec_apply(const char *, const char *, uint64_t, uint64_t,
		    unsigned, const struct vec_item *, size_t,
		    const char *const *, size_t, const char **);
int		 vec_search(const char *, const char *, uint64_t, unsigned,
		    const float *, size_t, struct vec_hit *, size_t *,
		    const char **);
int		 vec_stat(const char *, const char *, uint64_t,
		    struct vec_stat *, const char **);
int		 vec_remove(const char *, const char *, uint64_t);
size_t		 vec_cache_size(void);
void		 vec_cache_clear(void);

/*
 * storage.c: records and backups for the API and the portal (acct.c's
 * convention): one upload path (the hold, the body spooled and checked,
 * the object stored), downloads streamed, checksum and entity-tag
 * headers.
 */
/* An upload's object and hold, until its row commits. */
struct storage_pending {
	const char	*key;
	const char	*hold;		/* NULL once released */
	int		 removed;	/* the object is gone already */
};
struct storage_put {
	char		 key[128];	/* the new object */
	char		 sha_hex[65];	/* the body's, verified */
	long long	 size;
	const char	*hold;		/* the reservation to settle */
	int		 pruned;	/* old backups deleted to make room */
	long long	 limit, taken, needed;	/* of a 507 */
	struct storage_pending	*pending;	/* once stored */
};
int		 storage_checksum(struct req *, const char *, unsigned char *,
		    struct fail *);
int		 storage_upload(struct req *, struct fail *, const char *,
		    const unsigned char *, struct storage_put *);
void		 storage_abandon(struct req *, const struct storage_put *, int);
int		 storage_send(struct req *, struct fail *, const char *,
		    long long);
void		 storage_digest_headers(struct req *, const char *,
		    const char *);
int		 storage_etag_match(const char *, const char *);
enum db_rc	 storage_collect(struct req *, long long *);

/*
 * gateway.c: the metered LLM gateway, OpenAI's chat completions on the
 * tenant's own keys (auth.c's convention: the answer is set on the
 * request, streams sent as they come).
 */
void		 gateway_chat(struct req *);
void		 gateway_key_with(struct req *, struct db_call *);
void		 gateway_models(struct req *);
void		 gateway_model(struct req *);

/*
 * upstream.c: one bounded HTTP exchange with a provider other than
 * Stripe (Slack, Meta's Graph API); no retry, a person is waiting.
 */
struct upstream_resp {
	long		 status;	/* HTTP status */
	struct json_object *json;	/* a JSON object answer, or NULL */
	char		 retry_after[12];	/* seconds, or "" */
};
int		 upstream_call(struct req *, const char *, const char *,
		    const char *, const char *, const char *,
		    struct upstream_resp *);
void		 upstream_form_add(struct req *, char **, const char *,
		    const char *);

/* channel.c: Slack and WhatsApp connections (acct.c's convention). */
struct channel_test {
	int		 delivered;
	const char	*message_id;	/* Slack's ts, WhatsApp's wamid */
	const char	*error;		/* the provider's refusal */
	const char	*retry_after;	/* of a 429 passed on, or NULL */
};
int		 channel_slack_configured(void);
int		 channel_slack_install(struct req *, struct fail *,
		    const char *, const char **);
int		 channel_slack_callback(struct req *, struct fail *,
		    const char *, const char *, const char *, struct channel *,
		    int *);
int		 channel_whatsapp_connect(struct req *, struct fail *,
		    const char *, char *, const char *, const char *,
		    struct channel *, int *, struct channel_room *);
int		 channel_test(struct req *, struct fail *, const char *,
		    const char *, struct channel *, struct channel_test *);
int		 channel_disconnect(struct req *, struct fail *, const char *);

/*
 * notify.c: notification settings, the words of each trigger, and the
 * outbox's delivery by the worker (acct.c's convention).
 */
const char	*notify_trigger_name(size_t, const char **);
int		 notify_trigger_on(const struct notify_settings *,
		    const char *);
int		 notify_webhook_ok(const char *);
int		 notify_settings_put(struct req *, struct fail *,
		    struct json_object *);
int		 notify_test(struct req *, struct fail *);
enum db_rc	 notify_personal(struct req *, const char *, const char *,
		    const char *, const char *);
enum db_rc	 notify_invitation(struct req *, const char *, const char *);
enum db_rc	 notify_send(struct req *, long long *);

/* api-llmkeys.c */
void		 api_llmkeys_list(struct req *);
void		 api_llmkeys_add(struct req *);
void		 api_llmkeys_delete(struct req *);

/* api-llmprices.c */
void		 api_llmprices_list(struct req *);
void		 api_llmprices_set(struct req *);
void		 api_llmprices_delete(struct req *);

/* api-channels.c */
struct json_object *api_channel_json(const struct channel *);
void		 api_channels_list(struct req *);
void		 api_channels_slack_install(struct req *);
void		 api_channels_whatsapp(struct req *);
void		 api_channels_test(struct req *);
void		 api_channels_delete(struct req *);

/* api-notify.c */
struct json_object *api_notify_settings_json(
		    const struct notify_settings *);
void		 api_notify_settings(struct req *);
void		 api_notify_settings_put(struct req *);
void		 api_notify_test(struct req *);
void		 api_notify_list(struct req *);
/* api-storage.c */
void		 api_storage_summary(struct req *);
void		 api_records_list(struct req *);
void		 api_records_create(struct req *);
void		 api_records_get(struct req *);
void		 api_records_update(struct req *);
void		 api_records_delete(struct req *);
void		 api_backup_get(struct req *);
void		 api_backup_put(struct req *);
void		 api_backup_history(struct req *);
void		 api_backup_settings_get(struct req *);
void		 api_backup_settings_put(struct req *);
void		 api_backup_get_one(struct req *);
void		 api_backup_delete(struct req *);
void		 api_backup_pin(struct req *);
void		 api_backup_unpin(struct req *);
/* api-vectors.c */
void		 api_vectors_upsert(struct req *);
void		 api_vectors_search(struct req *);
void		 api_vectors_delete(struct req *);
void		 api_vectors_list(struct req *);

/* api-agents.c */
void		 api_agents_list(struct req *);
void		 api_agents_create(struct req *);
void		 api_agents_update(struct req *);
void		 api_agents_delete(struct req *);

/* api-health.c: liveness and the metrics. */
void		 api_health(struct req *);
void		 api_metrics(struct req *);

/* page.c and page-*.c: the portal. */
const char	*page_form(struct req *, const char *);
size_t		 page_input(struct req *, enum vop, const struct kvlist *,
		    struct vvalue *);
void		 page_keep(struct req *, const char *);
int		 page_confirmed(struct req *);
const struct kvlist *page_form_token(struct req *);
void		 page_token_show(struct req *, const char *, const char *,
		    const char *, const char *, int);
void		 page_confirm(struct req *, const char *, const char *,
		    const char *, const char *, const char *, const char *,
		    const char *, const char *);
void		 page_row_time(struct req *, const char *, size_t, const char *,
		    const char *);
void		 page_row_label(struct req *, const char *, size_t,
		    const char *, const char *);
const char	*page_details_text(struct req *, const char *);
void		 page_layout(struct req *, const char *, const char *);
void		 page_layout_seats(struct req *, const char *, const char *,
		    const struct pg_result *);
void		 page_error(struct req *);
void		 page_flash_take(struct req *);
void		 page_flash(struct req *, const char *);
void		 page_flash_about(struct req *, const char *, const char *,
		    const char *);
const char	*page_reveal_put(struct req *, const char *);
void		 page_fail(struct req *, const struct fail *, const char *);
/* page-storage.c */
int		 page_storage_part(struct req *);
int		 page_storage_facts(struct req *);
void		 page_storage_backup_delete(struct req *);
void		 page_root(struct req *);
void		 page_login(struct req *);
void		 page_login_post(struct req *);
void		 page_register(struct req *);
void		 page_register_post(struct req *);
void		 page_logout(struct req *);
void		 page_invite(struct req *);
void		 page_invite_post(struct req *);
void		 page_dashboard(struct req *);
void		 page_team(struct req *);
void		 page_team_invite(struct req *);
void		 page_team_role(struct req *);
void		 page_team_remove(struct req *);
void		 page_team_revoke(struct req *);
void		 page_keys(struct req *);
void		 page_keys_create(struct req *);
void		 page_keys_revoke(struct req *);
void		 page_keys_llm_add(struct req *);
void		 page_keys_llm_delete(struct req *);
void		 page_keys_price_set(struct req *);
void		 page_keys_price_delete(struct req *);
void		 page_audit(struct req *);
void		 page_pricing(struct req *);
void		 page_billing(struct req *);
void		 page_billing_checkout(struct req *);
void		 page_billing_portal(struct req *);
void		 page_billing_cancel(struct req *);
void		 page_verify(struct req *);
void		 page_verify_post(struct req *);
void		 page_verify_resend(struct req *);
void		 page_password_reset(struct req *);
void		 page_password_reset_post(struct req *);
void		 page_reset(struct req *);
void		 page_reset_post(struct req *);
void		 page_agents(struct req *);
void		 page_agents_create(struct req *);
void		 page_agents_budget(struct req *);
void		 page_agents_deactivate(struct req *);
void		 page_agents_reactivate(struct req *);
void		 page_channels(struct req *);
void		 page_channels_slack(struct req *);
void		 page_channels_callback(struct req *);
void		 page_channels_whatsapp(struct req *);
void		 page_channels_test(struct req *);
void		 page_channels_disconnect(struct req *);
void		 page_notifications(struct req *);
void		 page_notifications_save(struct req *);
void		 page_notifications_test(struct req *);
void		 page_usage(struct req *);
void		 page_usage_export(struct req *);
int		 page_usage_cards(struct req *);

/* route.c: the route table and its lookup. */
enum route_id {
	ROUTE_HEALTH,
	ROUTE_METRICS,
	ROUTE_PLANS,
	ROUTE_AUTH_REGISTER,
	ROUTE_AUTH_LOGIN,
	ROUTE_AUTH_REFRESH,
	ROUTE_AUTH_LOGOUT,
	ROUTE_AUTH_ME,
	ROUTE_AUTH_PASSWORD,
	ROUTE_MEMBERS_LIST,
	ROUTE_MEMBERS_INVITE,
	ROUTE_INVITATIONS_ACCEPT,
	ROUTE_MEMBERS_UPDATE,
	ROUTE_MEMBERS_DELETE,
	ROUTE_KEYS_LIST,
	ROUTE_KEYS_CREATE,
	ROUTE_KEYS_DELETE,
	ROUTE_AUDIT_LIST,
	ROUTE_AUTH_VERIFY_EMAIL,
	ROUTE_AUTH_VERIFY_RESEND,
	ROUTE_AUTH_PASSWORD_RESET,
	ROUTE_AUTH_PASSWORD_RESET_CONFIRM,
	ROUTE_ENTITLEMENTS,
	ROUTE_ENTITLEMENTS_CHECK,
	ROUTE_USAGE_EVENTS,
	ROUTE_USAGE_RESERVE,
	ROUTE_USAGE_RELEASE,
	ROUTE_USAGE_SUMMARY,
	ROUTE_USAGE_TIMESERIES,
	ROUTE_USAGE_EXPORT,
	ROUTE_USAGE_ALERTS,
	ROUTE_BILLING_CHECKOUT,
	ROUTE_BILLING_PORTAL,
	ROUTE_BILLING_SUBSCRIPTION,
	ROUTE_BILLING_CHANGE,
	ROUTE_BILLING_CANCEL,
	ROUTE_BILLING_UPCOMING,		/* before /billing/invoices/{id} */
	ROUTE_BILLING_INVOICES,
	ROUTE_BILLING_INVOICE,
	ROUTE_BILLING_WEBHOOK,
	ROUTE_AGENTS_LIST,
	ROUTE_AGENTS_CREATE,
	ROUTE_AGENTS_UPDATE,
	ROUTE_AGENTS_DELETE,
	ROUTE_LLMKEYS_LIST,
	ROUTE_LLMKEYS_ADD,
	ROUTE_LLMKEYS_DELETE,
	ROUTE_LLMPRICES_LIST,
	ROUTE_LLMPRICES_SET,
	ROUTE_LLMPRICES_DELETE,
	ROUTE_CHANNELS_LIST,
	ROUTE_CHANNELS_SLACK_INSTALL,
	ROUTE_CHANNELS_WHATSAPP,
	ROUTE_CHANNELS_TEST,
	ROUTE_CHANNELS_DELETE,
	ROUTE_NOTIFY_LIST,
	ROUTE_NOTIFY_SETTINGS,
	ROUTE_NOTIFY_SETTINGS_PUT,
	ROUTE_NOTIFY_TEST,
	ROUTE_STORAGE_SUMMARY,
	ROUTE_RECORDS_LIST,
	ROUTE_RECORDS_CREATE,
	ROUTE_RECORDS_GET,
	ROUTE_RECORDS_UPDATE,
	ROUTE_RECORDS_DELETE,
	ROUTE_BACKUP_GET,
	ROUTE_BACKUP_PUT,
	ROUTE_BACKUP_HISTORY,
	ROUTE_BACKUP_SETTINGS,
	ROUTE_BACKUP_SETTINGS_PUT,
	ROUTE_BACKUP_GET_ONE,
	ROUTE_BACKUP_DELETE,
	ROUTE_BACKUP_PIN,
	ROUTE_BACKUP_UNPIN,
	ROUTE_VEC_UPSERT,
	ROUTE_VEC_SEARCH,
	ROUTE_VEC_DELETE,
	ROUTE_VEC_LIST,
	ROUTE_LLM_CHAT,
	ROUTE_LLM_MODELS,
	ROUTE_LLM_MODEL,
	ROUTE_PAGE_ROOT,
	ROUTE_PAGE_LOGIN,
	ROUTE_PAGE_LOGIN_POST,
	ROUTE_PAGE_REGISTER,
	ROUTE_PAGE_REGISTER_POST,
	ROUTE_PAGE_LOGOUT,
	ROUTE_PAGE_INVITE,
	ROUTE_PAGE_INVITE_POST,
	ROUTE_PAGE_DASHBOARD,
	ROUTE_PAGE_TEAM,
	ROUTE_PAGE_TEAM_INVITE,
	ROUTE_PAGE_TEAM_ROLE,
	ROUTE_PAGE_TEAM_REMOVE,
	ROUTE_PAGE_TEAM_REVOKE,
	ROUTE_PAGE_KEYS,
	ROUTE_PAGE_KEYS_CREATE,
	ROUTE_PAGE_KEYS_REVOKE,
	ROUTE_PAGE_KEYS_LLM_ADD,
	ROUTE_PAGE_KEYS_LLM_DELETE,
	ROUTE_PAGE_KEYS_PRICE_SET,
	ROUTE_PAGE_KEYS_PRICE_DELETE,
	ROUTE_PAGE_AUDIT,
	ROUTE_PAGE_VERIFY_RESEND,	/* before /verify/{token} */
	ROUTE_PAGE_VERIFY,
	ROUTE_PAGE_VERIFY_POST,
	ROUTE_PAGE_PASSWORD_RESET,
	ROUTE_PAGE_PASSWORD_RESET_POST,
	ROUTE_PAGE_RESET,
	ROUTE_PAGE_RESET_POST,
	ROUTE_PAGE_PRICING,
	ROUTE_PAGE_BILLING,
	ROUTE_PAGE_BILLING_CHECKOUT,
	ROUTE_PAGE_BILLING_PORTAL,
	ROUTE_PAGE_BILLING_CANCEL,
	ROUTE_PAGE_USAGE,
	ROUTE_PAGE_BACKUP_DELETE,
	ROUTE_PAGE_USAGE_EXPORT,
	ROUTE_PAGE_AGENTS,
	ROUTE_PAGE_AGENTS_CREATE,
	ROUTE_PAGE_AGENTS_BUDGET,
	ROUTE_PAGE_AGENTS_DEACTIVATE,
	ROUTE_PAGE_AGENTS_REACTIVATE,
	ROUTE_PAGE_CHANNELS,
	ROUTE_PAGE_CHANNELS_SLACK,
	ROUTE_PAGE_CHANNELS_CALLBACK,
	ROUTE_PAGE_CHANNELS_WHATSAPP,
	ROUTE_PAGE_CHANNELS_TEST,
	ROUTE_PAGE_CHANNELS_DISCONNECT,
	ROUTE_PAGE_NOTIFICATIONS,
	ROUTE_PAGE_NOTIFICATIONS_SAVE,
	ROUTE_PAGE_NOTIFICATIONS_TEST,
	ROUTE__MAX
};
struct route {
	const char	*method;
	const char	*pattern;	/* "/api/v1/x/{id}" */
	enum auth_kind	 auth;
	enum role	 role;		/* least role of a user */
	int		 scope;		/* scope an API key needs, 0: none */
	enum body_kind	 body;
	enum resp_kind	 resp;
	void		(*handler)(struct req *);
	int		 idem;		/* honours Idempotency-Key */
	/*
	 * With an API key the handler only reads what binding loaded (the
	 * caller and the tenant): the binding statement runs alone, its own
	 * transaction, and the request costs one round trip in all.
	 */
	int		 key_bind_only;
	/* Limited by TOLLGATE_RATE_METERING, not by the plan's limit. */
	int		 metering;
	/*
	 * The entitlement check: with an API key and a valid body, the
	 * check runs in the binding's statement (one round trip in all).
	 */
	int		 key_check;
	/*
	 * With an API key, a statement of the handler's sent in the
	 * binding's round trip, after it in the same transaction (so it
	 * sees the bound tenant); its result is r->key_with.  It leaves
	 * the call's sql NULL when the request cannot use one (the handler
	 * then answers the body's fault, or runs the statement itself).
	 */
	void		(*key_with)(struct req *, struct db_call *);
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
 * responder.c: the pipeline.  Accepts one connection at a time, runs
 * a request through routing, authentication, the body, idempotency and
 * the handler, owns the transaction's end (commit unless refused),
 * sends the answer, logs it and counts it.
 */
int		 responder_loop(int);

/*
 * serve.c: the master.  Binds (or inherits) the listening socket, forks
 * responders and keeps their number, reloads and stops.
 */
int		 serve_main(int, char *[]);
int		 serve_drop_root(const char *, const char **);

/* work.c: the background worker. */
int		 work_main(int, char *[]);

/* admin.c */
int		 admin_main(int, char *[]);

#endif /* TOLLGATE_H */
