/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Account operations shared by the API and the portal: registration,
 * login, tokens, invitations, roles, API keys, passwords.  Each returns
 * 0, or -1 with a struct fail saying what to answer; the API turns it
 * into the JSON error, the portal into a message beside the field.
 * Every state change writes its audit event in the same transaction.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tollgate.h"

#define ACCT_REFRESH_DAYS	30
#define ACCT_INVITE_DAYS	7
#define ACCT_FAIL_WINDOW	900	/* seconds of login failures counted */
#define ACCT_KEYS_MAX		100	/* live API keys of a tenant */
#define ACCT_INVITE_TO_HOUR	3	/* invitations to one address an hour */
#define ACCT_INVITE_HOUR	30	/* invitations of one tenant an hour */
#define ACCT_VERIFY_HOURS	24	/* a link proving an address lives */
#define ACCT_VERIFY_RESENDS	3	/* new links a user may ask an hour */
#define ACCT_RESET_HOURS	1	/* a link setting a password lives */
#define ACCT_RESET_TO_HOUR	3	/* reset links to one address an hour */
#define ACCT_DEVICE_COOKIE	"tg_device"
#define ACCT_DEVICE_DAYS	180	/* a known browser stays known */
#define ACCT_SLOW_AFTER		7	/* failures before unknown clients wait */
#define ACCT_SLOW_MAX_S		256	/* the longest wait between tries */

int
acct_fail(struct fail *f, int status, const char *code, const char *msg,
    const char *param)
{
	f->status = status;
	f->code = code;
	f->message = msg;
	f->param = param;
	f->db = 0;
	f->retry = 0;
	return -1;
}

/* 429 rate_limited, to be retried after "retry" seconds. */
static int
acct_fail_retry(struct fail *f, int retry, const char *msg, const char *param)
{
	acct_fail(f, 429, "rate_limited", msg, param);
	f->retry = retry;
	return -1;
}

int
acct_fail_db(struct fail *f, enum db_rc rc)
{
	memset(f, 0, sizeof(*f));
	f->db = rc == DB_OK || rc == DB_NOTFOUND || rc == DB_CONFLICT ?
	    DB_ERROR : rc;
	return -1;
}

/* Answer a failure on the request (API routes and error pages). */
void
acct_answer(struct req *r, const struct fail *f)
{
	if (f->db != 0) {
		req_error_from_db(r, f->db);
		return;
	}
	if (f->status == 429)
		req_header(r, "Retry-After", arena_printf(&r->arena, "%d",
		    f->retry > 0 ? f->retry : 900));
	req_error(r, f->status, NULL, f->code, f->message, f->param);
}

static int
acct_audit(struct req *r, struct fail *f, const char *action,
    const char *target, const char *details)
{
	enum db_rc	 rc;

	if ((rc = db_audit_add(r, action, target, details)) != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/* A JSON object text {"k":"v"} with v escaped, for audit details. */
static const char *
acct_detail(struct req *r, const char *k, const char *v)
{
	struct buf	 b;
	const char	*out;

	buf_init(&b, 4096);
	buf_puts(&b, "{\"");
	http_json_str(&b, k);
	buf_puts(&b, "\":\"");
	http_json_str(&b, v != NULL ? v : "");
	buf_puts(&b, "\"}");
	out = arena_strdup(&r->arena, b.toobig ? "{}" : b.p);
	buf_free(&b);
	return out;
}

/* Random UUID (v4) text, for ids chosen before an insert. */
static int
acct_uuid(char out[37])
{
	unsigned char	 b[16];
	char		 hex[33];

	if (util_random(b, sizeof(b)) == -1)
		return -1;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	util_hex(b, sizeof(b), hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
	    hex + 16, hex + 20);
	return 0;
}

/*
 * The normalised form of an address (valid_email_norm()), from the
 * arena; NULL when it is not a valid address.
 */
static const char *
acct_email(struct req *r, const char *in)
{
	char	 out[EMAIL_MAX + 1];

	if (in == NULL || valid_email_norm(in, out, sizeof(out)) == -1)
		return NULL;
	return arena_strdup(&r->arena, out);
}

/*
 * Issue an access token and a refresh token (a new family unless one
 * is given) for the user in the tenant the transaction is scoped to.
 */
static int
acct_tokens(struct req *r, struct fail *f, const char *user_id,
    const char *tenant_id, const char *role, const char *family,
    struct tokens *t)
{
	char		 refresh[CRYPTO_TOKEN_MAX], hash[67];
	char		*access = NULL;
	time_t		 exp;
	enum db_rc	 rc;

	if (crypto_token_new("tgr_", refresh) == -1 ||
	    jwt_issue(user_id, tenant_id, role, &access, &exp) == -1)
		return acct_fail(f, 500, "internal_error", "Cannot issue "
		    "tokens.", NULL);
	t->access_token = arena_strdup(&r->arena, access);
	free(access);
	crypto_token_hash_hex(refresh, hash);
	if ((rc = db_refresh_create(r, tenant_id, user_id, family, hash,
	    ACCT_REFRESH_DAYS, &t->refresh_id)) != DB_OK)
		return acct_fail_db(f, rc);
	t->refresh_token = arena_strdup(&r->arena, refresh);
	explicit_bzero(refresh, sizeof(refresh));
	t->expires_at = exp;
	t->user_id = user_id;
	t->tenant_id = tenant_id;
	t->role = role;
	return 0;
}

/*
 * A new link proving the user's address, stored hashed and mailed
 * after the answer (the only copy of the token is in the mail).
 */
static int
acct_verify_issue(struct req *r, struct fail *f, const char *user_id,
    const char *email)
{
	char		 token[CRYPTO_TOKEN_MAX], hash[67];
	enum db_rc	 rc;

	if (crypto_token_new("", token) == -1)
		return acct_fail(f, 500, "internal_error", "No randomness.",
		    NULL);
	crypto_token_hash_hex(token, hash);
	if ((rc = db_verify_create(r, user_id, hash, ACCT_VERIFY_HOURS)) !=
	    DB_OK) {
		explicit_bzero(token, sizeof(token));
		return acct_fail_db(f, rc);
	}
	mail_verification(r, email, arena_printf(&r->arena, "%s/verify/%s",
	    conf.public_url, token));
	explicit_bzero(token, sizeof(token));
	return 0;
}

/*
 * Has the caller shown that their address is theirs?  Until then they
 * may not mail strangers in the tenant's name (invitations) nor, with
 * billing, start a checkout.
 */
int
acct_verified(struct req *r, struct fail *f)
{
	/* Read with the membership when the request was bound (auth.c). */
	if (r->auth.verified)
		return 0;
	return acct_fail(f, 403, "email_unverified", "Verify your e-mail "
	    "address first: follow the link we sent, or ask for a new one.",
	    NULL);
}

/*
 * Register: a new user owning a new tenant on the free plan.  Opens and
 * leaves open the new tenant's transaction (the caller's answer
 * commits it).  With "session" set, a portal session is started
 * instead of tokens being issued.  The address is not verified yet: a
 * link to prove it is mailed after the answer.
 */
int
acct_register(struct req *r, struct fail *f, const char *email,
    const char *password, const char *org, const char *name)
{
	char		 tenant_id[37], hash[PASSWD_ENCODED_MAX];
	const char	*user_id, *cause;
	enum db_rc	 rc;

	if ((email = acct_email(r, email)) == NULL)
		return acct_fail(f, 400, "invalid_value",
		    "Enter a valid e-mail address.", "email");
	if (passwd_check_new(password, &cause) == -1)
		return acct_fail(f, 400, "weak_password", arena_printf(
		    &r->arena, "The password %s.", cause), "password");
	if (acct_uuid(tenant_id) == -1 ||
	    passwd_hash(password, hash, sizeof(hash)) == -1)
		return acct_fail(f, 500, "internal_error", "Cannot hash the "
		    "password.", NULL);
	if ((rc = db_begin(r, tenant_id)) != DB_OK)
		return acct_fail_db(f, rc);
	rc = db_user_create(r, email, name != NULL ? name : "", hash, &user_id);
	explicit_bzero(hash, sizeof(hash));
	if (rc == DB_CONFLICT)
		return acct_fail(f, 409, "email_taken", "An account with this "
		    "e-mail address exists; sign in instead.", "email");
	if (rc != DB_OK ||
	    (rc = db_tenant_create(r, tenant_id, org)) != DB_OK ||
	    (rc = db_membership_add(r, tenant_id, user_id, "owner")) != DB_OK)
		return acct_fail_db(f, rc);
	r->auth.kind = PRINCIPAL_USER;
	r->auth.role = ROLE_OWNER;
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", user_id);
	snprintf(r->auth.tenant_id, sizeof(r->auth.tenant_id), "%s", tenant_id);
	snprintf(r->auth.actor, sizeof(r->auth.actor), "%s", email);
	if (acct_verify_issue(r, f, user_id, email) == -1)
		return -1;
	return acct_audit(r, f, "tenant.created", tenant_id,
	    acct_detail(r, "name", org));
}

/* Tokens for the principal the request now acts as (API answers). */
int
acct_issue_tokens(struct req *r, struct fail *f, struct tokens *t)
{
	memset(t, 0, sizeof(*t));
	return acct_tokens(r, f, arena_strdup(&r->arena, r->auth.user_id),
	    arena_strdup(&r->arena, r->auth.tenant_id),
	    auth_role_name(r->auth.role), NULL, t);
}

/*
 * The key of an account's failed sign-ins: its normalised address, so
 * that no spelling of it has a count of its own.  A string that is not
 * an address reaches no account; it is counted as it is.
 */
static const char *
acct_fail_key(struct req *r, const char *email)
{
	const char	*norm = acct_email(r, email);

	return arena_printf(&r->arena, "lf:%s", norm != NULL ? norm : email);
}

/* Has this account had too many failed sign-ins lately?  (429) */
static int
acct_throttled(struct req *r, struct fail *f, const char *email)
{
	if (rl_peek(acct_fail_key(r, email), ACCT_FAIL_WINDOW, time(NULL)) <
	    conf.login_fail_max)
		return 0;
	return acct_fail(f, 429, "too_many_attempts", "Too many failed "
	    "sign-ins for this account; wait 15 minutes.", NULL);
}

/* Count one failed password check against the account. */
static void
acct_count_failure(struct req *r, const char *email)
{
	struct rl_result	 rr;

	rl_hit(acct_fail_key(r, email), 1 << 30, ACCT_FAIL_WINDOW, time(NULL),
	    &rr);
}

/*
 * A browser (or API client keeping cookies) that signed in to an
 * account before carries a device cookie for it: "<expiry>.<mac>", the
 * mac an HMAC of the normalised address and the expiry under a key
 * derived from the JWT secret (OWASP's device cookies).  Such a client
 * is not locked out by failures of others; its own failures are counted
 * on its own cookie.
 */
static void
acct_device_mac(const char *email, long long exp, char out[44])
{
	unsigned char	 key[32], mac[32];
	char		 msg[EMAIL_MAX + 64];
	int		 n;

	crypto_hmac_sha256(conf.jwt_secret, strlen(conf.jwt_secret),
	    "tollgate device v1", 18, key);
	n = snprintf(msg, sizeof(msg), "%s\n%lld", email, exp);
	crypto_hmac_sha256(key, sizeof(key), msg, (size_t)n, mac);
	crypto_b64url_encode(mac, sizeof(mac), out);
	explicit_bzero(key, sizeof(key));
}

/* The mac of this request's device cookie if it is valid for email. */
static const char *
acct_device(struct req *r, const char *email)
{
	const char	*c = http_kv_get(&r->cookies, ACCT_DEVICE_COOKIE);
	const char	*dot;
	char		 want[44];
	long long	 exp;

	if (c == NULL || email == NULL || (dot = strchr(c, '.')) == NULL ||
	    strlen(dot + 1) != 43 || dot - c > 20)
		return NULL;
	if (util_strtonum(arena_strndup(&r->arena, c, (size_t)(dot - c)),
	    1, (long long)1 << 40, &exp) == -1 || exp < (long long)time(NULL))
		return NULL;
	acct_device_mac(email, exp, want);
	return util_ct_equal(dot + 1, want, 43) ? dot + 1 : NULL;
}

/* A signed-in client becomes a known device of the account. */
static void
acct_device_set(struct req *r, const char *email)
{
	long long	 exp = (long long)time(NULL) +
	    ACCT_DEVICE_DAYS * 86400LL;
	char		 mac[44];

	acct_device_mac(email, exp, mac);
	auth_set_cookie(r, ACCT_DEVICE_COOKIE, arena_printf(&r->arena,
	    "%lld.%s", exp, mac), ACCT_DEVICE_DAYS * 86400);
}

/*
 * May this sign-in be tried now?  A known device: unless it failed too
 * often itself.  Anyone else: unless the account is locked (10 failures
 * in 15 minutes), and after 7 failures only once per a doubling wait
 * (1 s, 2 s, 4 s, ... 256 s).
 */
static int
acct_signin_gate(struct req *r, struct fail *f, const char *email,
    const char *device)
{
	struct rl_result	 rr;
	time_t			 now = time(NULL);
	int			 n, wait;

	if (device != NULL) {
		if (rl_peek(arena_printf(&r->arena, "ld:%s", device),
		    ACCT_FAIL_WINDOW, now) < conf.login_fail_max)
			return 0;
		return acct_fail(f, 429, "too_many_attempts", "Too many failed "
		    "sign-ins from this browser; wait 15 minutes.", NULL);
	}
	if (acct_throttled(r, f, email) == -1)
		return -1;
	if ((n = rl_peek(acct_fail_key(r, email), ACCT_FAIL_WINDOW, now)) <
	    ACCT_SLOW_AFTER)
		return 0;
	wait = n - ACCT_SLOW_AFTER < 8 ? 1 << (n - ACCT_SLOW_AFTER) :
	    ACCT_SLOW_MAX_S;
	if (rl_hit(arena_printf(&r->arena, "lg:%s", acct_fail_key(r, email)),
	    1, wait, now, &rr))
		return 0;
	acct_fail(f, 429, "retry_later", "Several sign-ins failed for this "
	    "account: wait a little before the next try.", NULL);
	f->retry = rr.reset > 0 ? rr.reset : wait;
	return -1;
}

/* A failed sign-in counts on the device, or on the account. */
static void
acct_signin_failed(struct req *r, const char *email, const char *device)
{
	struct rl_result	 rr;

	if (device != NULL)
		rl_hit(arena_printf(&r->arena, "ld:%s", device), 1 << 30,
		    ACCT_FAIL_WINDOW, time(NULL), &rr);
	else
		acct_count_failure(r, email);
}

/*
 * Check e-mail and password, pick the tenant (the one asked for, else
 * the oldest membership), and open that tenant's transaction.  Unknown
 * address and wrong password give the same answer after the same work.
 */
int
acct_authenticate(struct req *r, struct fail *f, const char *email,
    const char *password, const char *want_tenant, struct login *out)
{
	struct user		 u, locked;
	struct membership	*ms = NULL;
	const char		*norm, *device;
	size_t			 n = 0, i;
	enum db_rc		 rc;
	int			 ok;

	memset(out, 0, sizeof(*out));
	/* Not an address: no account has it, and no lookup is made. */
	norm = acct_email(r, email);
	device = acct_device(r, norm);
	if (acct_signin_gate(r, f, email, device) == -1)
		return -1;
	rc = norm != NULL ? db_user_by_email(r, norm, &u) : DB_NOTFOUND;
	if (rc != DB_OK && rc != DB_NOTFOUND)
		return acct_fail_db(f, rc);
	if (rc == DB_NOTFOUND) {
		passwd_burn(password);
		ok = 0;
	} else
		ok = passwd_verify(u.password_hash, password);
	/*
	 * Known accounts: their tenants, to audit a failure there too.
	 * Unknown ones make the same query, so both take as long.
	 */
	if ((rc = db_user_tenants(r, rc == DB_OK ? u.user_id :
	    "00000000-0000-0000-0000-000000000000", &ms, &n)) != DB_OK)
		return acct_fail_db(f, rc);
	for (i = 0; ok && want_tenant != NULL && i < n; i++)
		if (strcasecmp(ms[i].tenant_id, want_tenant) == 0)
			break;
	if (ok && (n == 0 || (want_tenant != NULL && i == n)))
		ok = 0;
	if (!ok) {
		acct_signin_failed(r, email, device);
		log_info("sign-in failed");
		if (n > 0)
			acct_audit_login_failure(r, ms[0].tenant_id, u.user_id,
			    u.email);
		return acct_fail(f, 401, "invalid_credentials",
		    "The e-mail address or password is wrong.", NULL);
	}
	i = want_tenant != NULL ? i : 0;
	out->user = u;
	out->tenant_id = ms[i].tenant_id;
	out->role = ms[i].role;
	out->tenant_name = ms[i].tenant_name;
	/*
	 * The user's row, locked for the rest of the sign-in: a password
	 * change waits until this commits (so its revocation sees these
	 * tokens), or, having won, leaves a new hash here, and the old
	 * password signs in no more.
	 */
	if ((rc = db_begin(r, out->tenant_id)) != DB_OK ||
	    (rc = db_user_lock(r, u.user_id, 1, &locked)) != DB_OK)
		return acct_fail_db(f, rc);
	if (strcmp(locked.password_hash, u.password_hash) != 0) {
		acct_signin_failed(r, email, device);
		log_info("sign-in lost the race with a password change");
		return acct_fail(f, 401, "invalid_credentials",
		    "The e-mail address or password is wrong.", NULL);
	}
	r->auth.kind = PRINCIPAL_USER;
	r->auth.role = auth_role_parse(out->role);
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", u.user_id);
	snprintf(r->auth.tenant_id, sizeof(r->auth.tenant_id), "%s",
	    out->tenant_id);
	snprintf(r->auth.actor, sizeof(r->auth.actor), "%s", u.email);
	acct_device_set(r, u.email);
	acct_rehash(r, &u, password);
	return acct_audit(r, f, "auth.login", u.user_id, NULL);
}

struct acct_failure {
	char	 tenant_id[40];
	char	 user_id[40];
	char	 email[EMAIL_MAX + 1];
	char	 ip[64];
};

/* After the answer: the failed sign-in's audit event, committed. */
static void
acct_failure_write(struct req *r)
{
	const struct acct_failure	*a = r->after_arg;

	/* The request's own input is gone with its FastCGI record. */
	r->remote_addr = a->ip;
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", a->user_id);
	snprintf(r->auth.actor, sizeof(r->auth.actor), "%s", a->email);
	if (db_begin(r, a->tenant_id) == DB_OK &&
	    db_audit_add(r, "auth.login_failed", a->user_id, NULL) == DB_OK)
		(void)db_commit(r);
}

/*
 * A failed sign-in of a known account is audited in its tenant, in a
 * transaction of its own: it must stay recorded though the request is
 * refused.  It is written after the answer is sent, so that a wrong
 * password for a known account is answered as fast as for an unknown
 * one (a durable commit is milliseconds a timing attack could see).
 */
void
acct_audit_login_failure(struct req *r, const char *tenant_id,
    const char *user_id, const char *email)
{
	struct acct_failure	*a;

	a = arena_calloc(&r->arena, 1, sizeof(*a));
	snprintf(a->tenant_id, sizeof(a->tenant_id), "%s", tenant_id);
	snprintf(a->user_id, sizeof(a->user_id), "%s", user_id);
	snprintf(a->email, sizeof(a->email), "%s", email);
	snprintf(a->ip, sizeof(a->ip), "%s", r->remote_addr != NULL ?
	    r->remote_addr : "");
	r->after = acct_failure_write;
	r->after_arg = a;
}

/* Parameters raised since this hash was made: store a new one. */
void
acct_rehash(struct req *r, const struct user *u, const char *password)
{
	char	 hash[PASSWD_ENCODED_MAX];

	if (!passwd_needs_rehash(u->password_hash) ||
	    passwd_hash(password, hash, sizeof(hash)) == -1)
		return;
	if (db_user_set_password(r, u->user_id, hash, 0) == DB_OK)
		log_info("password rehashed with current parameters");
	explicit_bzero(hash, sizeof(hash));
}


/*
 * Rotate a refresh token.  A token presented after it was rotated means
 * it leaked (or a client raced itself): the whole family is revoked and
 * that is committed even though the answer is 401.
 */
int
acct_refresh(struct req *r, struct fail *f, const char *token,
    struct tokens *t)
{
	struct refresh	 rt;
	const char	*tenant_id, *token_id, *role = NULL, *email = NULL;
	char		 hash[67];
	enum db_rc	 rc;

	crypto_token_hash_hex(token, hash);
	rc = db_refresh_find(r, hash, &tenant_id, &token_id);
	if (rc == DB_NOTFOUND)
		return acct_fail(f, 401, "invalid_refresh_token",
		    "The refresh token is invalid.", "refresh_token");
	if (rc != DB_OK || (rc = db_begin(r, tenant_id)) != DB_OK ||
	    (rc = db_refresh_lock(r, token_id, &rt)) != DB_OK)
		return acct_fail_db(f, rc);
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", rt.user_id);
	snprintf(r->auth.tenant_id, sizeof(r->auth.tenant_id), "%s", tenant_id);
	if (rt.rotated && !rt.revoked) {
		snprintf(r->auth.actor, sizeof(r->auth.actor), "system");
		if ((rc = db_refresh_revoke_family(r, rt.family)) != DB_OK ||
		    acct_audit(r, f, "auth.refresh_reused", rt.user_id,
		    acct_detail(r, "family", rt.family)) == -1 ||
		    (rc = db_commit(r)) != DB_OK)
			return acct_fail_db(f, rc);
		log_warnx("refresh token reused; family revoked");
		return acct_fail(f, 401, "refresh_token_reused", "This refresh "
		    "token was already used; sign in again.", "refresh_token");
	}
	if (rt.rotated || rt.revoked || rt.expired)
		return acct_fail(f, 401, "invalid_refresh_token",
		    "The refresh token is expired or revoked.", "refresh_token");
	rc = db_membership_role(r, rt.user_id, &role, &email, NULL);
	if (rc == DB_NOTFOUND)
		return acct_fail(f, 401, "membership_revoked", "You are no "
		    "longer a member of this organization.", NULL);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	if (acct_tokens(r, f, rt.user_id, tenant_id, role, rt.family, t) == -1)
		return -1;
	if ((rc = db_refresh_rotated(r, token_id, t->refresh_id)) != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/* Logout: the refresh token's family dies; unknown tokens are fine. */
int
acct_logout(struct req *r, struct fail *f, const char *token)
{
	struct refresh	 rt;
	const char	*tenant_id, *token_id;
	char		 hash[67];
	enum db_rc	 rc;

	crypto_token_hash_hex(token, hash);
	rc = db_refresh_find(r, hash, &tenant_id, &token_id);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != DB_OK || (rc = db_begin(r, tenant_id)) != DB_OK ||
	    (rc = db_refresh_lock(r, token_id, &rt)) != DB_OK ||
	    (rc = db_refresh_revoke_family(r, rt.family)) != DB_OK)
		return acct_fail_db(f, rc);
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", rt.user_id);
	snprintf(r->auth.actor, sizeof(r->auth.actor), "user:%s", rt.user_id);
	return acct_audit(r, f, "auth.logout", rt.user_id, NULL);
}

/* May the caller grant or touch this role?  Admins: not owners. */
static int
acct_may_manage(const struct req *r, enum role target)
{
	return r->auth.role == ROLE_OWNER ||
	    (r->auth.role == ROLE_ADMIN && target != ROLE_OWNER);
}

/* Is there room for one more member (members + pending invitations)? */
static int
acct_seat_free(struct req *r, struct fail *f, int pending_counts)
{
	struct tenant	 t;
	enum db_rc	 rc;
	int		 members, pending;

	if ((rc = db_tenant_lock(r)) != DB_OK ||
	    (rc = db_tenant_get(r, &t)) != DB_OK ||
	    (rc = db_tenant_seats(r, &members, &pending)) != DB_OK)
		return acct_fail_db(f, rc);
	if (t.seat_limit >= 0 && members + (pending_counts ? pending : 0) >=
	    t.seat_limit)
		return acct_fail(f, 409, "seat_limit_reached", arena_printf(
		    &r->arena, "The %s plan includes %lld seats, all taken or "
		    "invited; upgrade or remove a member.", t.plan_name,
		    t.seat_limit), NULL);
	return 0;
}

/*
 * Invitations send e-mail to people outside the tenant: at most a few
 * an hour to one address (whoever invites), and a bounded number an
 * hour from one tenant, so that inviting and revoking in a loop cannot
 * turn Tollgate into a mail cannon.
 */
static int
acct_invite_limits(struct req *r, struct fail *f, const char *email)
{
	struct rl_result	 rr;
	time_t			 now = time(NULL);

	if (!rl_hit(arena_printf(&r->arena, "inv-to:%s", email),
	    ACCT_INVITE_TO_HOUR, 3600, now, &rr))
		return acct_fail_retry(f, 3600, "This address was invited too "
		    "often in the last hour; try again later.", "email");
	if (!rl_hit(arena_printf(&r->arena, "inv-t:%s", r->auth.tenant_id),
	    ACCT_INVITE_HOUR, 3600, now, &rr))
		return acct_fail_retry(f, 3600, "This organization sent too "
		    "many invitations in the last hour; try again later.",
		    NULL);
	return 0;
}

/*
 * Invite someone by e-mail.  The link (with the only copy of the
 * token) goes back to the inviter, and by mail when SMTP is set up.
 */
int
acct_invite(struct req *r, struct fail *f, const char *email,
    const char *role, struct invitation *inv, const char **link)
{
	struct user	 u;
	char		 token[CRYPTO_TOKEN_MAX], hash[67];
	const char	*mrole = NULL, *memail = NULL;
	enum db_rc	 rc;

	if ((email = acct_email(r, email)) == NULL)
		return acct_fail(f, 400, "invalid_value",
		    "Enter a valid e-mail address.", "email");
	if (auth_role_parse(role) == ROLE_NONE)
		return acct_fail(f, 400, "invalid_value",
		    "The role must be owner, admin or member.", "role");
	if (!acct_may_manage(r, auth_role_parse(role)))
		return acct_fail(f, 403, "insufficient_role",
		    "Only an owner can invite an owner.", "role");
	if (acct_verified(r, f) == -1)
		return -1;
	/*
	 * The tenant row lock serialises invitations: the checks below
	 * then see every invitation committed before this one.
	 */
	if ((rc = db_tenant_lock(r)) != DB_OK)
		return acct_fail_db(f, rc);
	rc = db_user_by_email(r, email, &u);
	if (rc == DB_OK)
		rc = db_membership_role(r, u.user_id, &mrole, &memail, NULL);
	if (rc == DB_OK)
		return acct_fail(f, 409, "already_member",
		    "This person is already a member.", "email");
	if (rc != DB_NOTFOUND)
		return acct_fail_db(f, rc);
	rc = db_invitation_pending_for(r, email);
	if (rc == DB_OK)
		return acct_fail(f, 409, "already_invited", "This address has "
		    "a pending invitation.", "email");
	if (rc != DB_NOTFOUND)
		return acct_fail_db(f, rc);
	if (acct_seat_free(r, f, 1) == -1 || acct_invite_limits(r, f,
	    email) == -1)
		return -1;
	if (crypto_token_new("", token) == -1)
		return acct_fail(f, 500, "internal_error", "No randomness.",
		    NULL);
	crypto_token_hash_hex(token, hash);
	rc = db_invitation_create(r, email, role, hash, r->auth.user_id,
	    ACCT_INVITE_DAYS, inv);
	if (rc == DB_CONFLICT)
		return acct_fail(f, 409, "already_invited", "This address has "
		    "a pending invitation.", "email");
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	*link = arena_printf(&r->arena, "%s/invite/%s", conf.public_url, token);
	explicit_bzero(token, sizeof(token));
	return acct_audit(r, f, "member.invited", email,
	    acct_detail(r, "role", role));
}

/* The invitation behind a link, in its tenant's transaction. */
int
acct_invitation_open(struct req *r, struct fail *f, const char *token,
    struct invitation *inv)
{
	const char	*tenant_id, *inv_id;
	char		 hash[67];
	enum db_rc	 rc;

	if (token == NULL || strlen(token) > CRYPTO_TOKEN_MAX)
		return acct_fail(f, 404, "invitation_not_found",
		    "This invitation link is not valid.", "token");
	crypto_token_hash_hex(token, hash);
	rc = db_invitation_find(r, hash, &tenant_id, &inv_id);
	if (rc == DB_OK && (rc = db_begin(r, tenant_id)) == DB_OK)
		rc = db_invitation_get(r, inv_id, 1, inv);
	if (rc == DB_NOTFOUND || (rc == DB_OK && !inv->live))
		return acct_fail(f, 404, "invitation_not_found", "This "
		    "invitation is not valid any more: it was used, revoked or "
		    "has expired.", "token");
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	snprintf(r->auth.tenant_id, sizeof(r->auth.tenant_id), "%s", tenant_id);
	return 0;
}

/*
 * Accept an invitation: a new account (the password sets it) or an
 * existing one (the password must match), then the membership.
 */
int
acct_accept(struct req *r, struct fail *f, const char *token,
    const char *password, const char *name)
{
	struct invitation	 inv;
	struct user		 u;
	char			 hash[PASSWD_ENCODED_MAX];
	const char		*cause, *user_id;
	enum db_rc		 rc;

	if (acct_invitation_open(r, f, token, &inv) == -1)
		return -1;
	rc = db_user_by_email(r, inv.email, &u);
	if (rc == DB_OK) {
		/* A password check like any sign-in: counted and throttled. */
		if (acct_throttled(r, f, inv.email) == -1)
			return -1;
		if (!passwd_verify(u.password_hash, password)) {
			acct_count_failure(r, inv.email);
			return acct_fail(f, 401, "invalid_credentials", "This "
			    "address has an account: enter its password.",
			    "password");
		}
		user_id = u.user_id;
	} else if (rc == DB_NOTFOUND) {
		if (passwd_check_new(password, &cause) == -1)
			return acct_fail(f, 400, "weak_password", arena_printf(
			    &r->arena, "The password %s.", cause), "password");
		if (passwd_hash(password, hash, sizeof(hash)) == -1)
			return acct_fail(f, 500, "internal_error",
			    "Cannot hash the password.", NULL);
		rc = db_user_create(r, inv.email, name != NULL ? name : "",
		    hash, &user_id);
		explicit_bzero(hash, sizeof(hash));
		/* Another invitation created the account a moment ago. */
		if (rc == DB_CONFLICT)
			return acct_fail(f, 409, "conflict", "An account for "
			    "this address was just created; accept again "
			    "with its password.", "password");
		if (rc != DB_OK)
			return acct_fail_db(f, rc);
	} else
		return acct_fail_db(f, rc);
	if (acct_seat_free(r, f, 0) == -1)
		return -1;
	rc = db_membership_add(r, r->auth.tenant_id, user_id, inv.role);
	if (rc == DB_CONFLICT)
		return acct_fail(f, 409, "already_member", "You are already a "
		    "member of this organization.", NULL);
	/* The link went to the address: using it proves the address. */
	if (rc != DB_OK || (rc = db_invitation_accepted(r,
	    inv.invitation_id)) != DB_OK ||
	    (rc = db_verify_set(r, user_id)) != DB_OK)
		return acct_fail_db(f, rc);
	r->auth.kind = PRINCIPAL_USER;
	r->auth.role = auth_role_parse(inv.role);
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", user_id);
	snprintf(r->auth.actor, sizeof(r->auth.actor), "%s", inv.email);
	return acct_audit(r, f, "member.joined", user_id,
	    acct_detail(r, "role", inv.role));
}

/*
 * The checks common to changing and removing a member: it exists here
 * (else 404), the caller may manage its role, and the tenant keeps an
 * owner.
 */
static int
acct_member_target(struct req *r, struct fail *f, const char *user_id,
    enum role new_role, struct member *m)
{
	enum db_rc	 rc;
	int		 owners;

	if (!valid_uuid(user_id))
		return acct_fail(f, 404, "member_not_found", "No such member.",
		    NULL);
	if ((rc = db_owners_lock(r, &owners)) != DB_OK)
		return acct_fail_db(f, rc);
	rc = db_member_get(r, user_id, m);
	if (rc == DB_NOTFOUND)
		return acct_fail(f, 404, "member_not_found", "No such member.",
		    NULL);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	if (strcasecmp(user_id, r->auth.user_id) != 0 &&
	    (!acct_may_manage(r, auth_role_parse(m->role)) ||
	    !acct_may_manage(r, new_role)))
		return acct_fail(f, 403, "insufficient_role", "Only an owner "
		    "can change or remove an owner.", NULL);
	if (strcmp(m->role, "owner") == 0 && new_role != ROLE_OWNER &&
	    owners <= 1)
		return acct_fail(f, 409, "last_owner", "The organization needs "
		    "at least one owner: make someone else owner first.", NULL);
	return 0;
}

int
acct_set_role(struct req *r, struct fail *f, const char *user_id,
    const char *role, struct member *m)
{
	enum role	 want = auth_role_parse(role);
	enum db_rc	 rc;

	if (want == ROLE_NONE)
		return acct_fail(f, 400, "invalid_value",
		    "The role must be owner, admin or member.", "role");
	/* Members cannot promote themselves. */
	if (r->auth.role < ROLE_ADMIN)
		return acct_fail(f, 403, "insufficient_role",
		    "Only owners and admins change roles.", NULL);
	if (acct_member_target(r, f, user_id, want, m) == -1)
		return -1;
	if (want > r->auth.role)
		return acct_fail(f, 403, "insufficient_role",
		    "You cannot grant a role above your own.", "role");
	if ((rc = db_membership_set_role(r, user_id, role)) != DB_OK)
		return acct_fail_db(f, rc);
	if (acct_audit(r, f, "member.role_changed", user_id, arena_printf(
	    &r->arena, "{\"from\":\"%s\",\"to\":\"%s\"}", m->role, role)) == -1)
		return -1;
	m->role = role;
	return 0;
}

/* Remove a member (or leave, for oneself). */
int
acct_remove(struct req *r, struct fail *f, const char *user_id)
{
	struct member	 m;
	enum db_rc	 rc;

	if (r->auth.role < ROLE_ADMIN &&
	    strcasecmp(user_id, r->auth.user_id) != 0)
		return acct_fail(f, 403, "insufficient_role",
		    "Only owners and admins remove members.", NULL);
	if (acct_member_target(r, f, user_id, ROLE_NONE, &m) == -1)
		return -1;
	if ((rc = db_membership_delete(r, user_id)) != DB_OK)
		return acct_fail_db(f, rc);
	return acct_audit(r, f, "member.removed", user_id,
	    acct_detail(r, "email", m.email));
}

/* A tenant API key; the secret is returned once and stored hashed. */
int
acct_key_create(struct req *r, struct fail *f, const char *name, int scopes,
    struct apikey *k, const char **secret)
{
	char		 token[CRYPTO_TOKEN_MAX], hash[67], prefix[16];
	enum db_rc	 rc;
	int		 live;

	if (scopes == 0)
		return acct_fail(f, 400, "invalid_value",
		    "Choose at least one scope.", "scopes");
	/* Billing is the owners' (SPEC 5): so is a key that reads it. */
	if ((scopes & SCOPE_BILLING_READ) && r->auth.role < ROLE_OWNER)
		return acct_fail(f, 403, "insufficient_role", "Only an owner "
		    "can create a key with billing:read.", "scopes");
	/* Serialised on the tenant row, so the count cannot be raced. */
	if ((rc = db_tenant_lock(r)) != DB_OK ||
	    (rc = db_apikey_live(r, &live)) != DB_OK)
		return acct_fail_db(f, rc);
	if (live >= ACCT_KEYS_MAX)
		return acct_fail(f, 409, "key_limit", arena_printf(&r->arena,
		    "This organization has %d active API keys, the most it "
		    "may have; revoke one first.", ACCT_KEYS_MAX), NULL);
	if (crypto_token_new("tg_", token) == -1)
		return acct_fail(f, 500, "internal_error", "No randomness.",
		    NULL);
	crypto_token_hash_hex(token, hash);
	snprintf(prefix, sizeof(prefix), "%.11s", token);
	if ((rc = db_apikey_create(r, name, arena_strdup(&r->arena, prefix),
	    hash, scopes, r->auth.user_id[0] != '\0' ? r->auth.user_id : NULL,
	    k)) != DB_OK)
		return acct_fail_db(f, rc);
	*secret = arena_strdup(&r->arena, token);
	explicit_bzero(token, sizeof(token));
	return acct_audit(r, f, "api_key.created", k->key_id,
	    acct_detail(r, "name", name));
}

int
acct_key_revoke(struct req *r, struct fail *f, const char *key_id)
{
	const char	*name = NULL;
	enum db_rc	 rc;

	if (!valid_uuid(key_id))
		return acct_fail(f, 404, "api_key_not_found", "No such API key.",
		    NULL);
	rc = db_apikey_revoke(r, key_id, &name);
	if (rc == DB_NOTFOUND)
		return acct_fail(f, 404, "api_key_not_found", "No such API key.",
		    NULL);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	return acct_audit(r, f, "api_key.revoked", key_id,
	    acct_detail(r, "name", name));
}

/*
 * Change the password: the current one must match; every session and
 * refresh token of the user, in every tenant, is revoked.
 */
int
acct_password_change(struct req *r, struct fail *f, const char *current,
    const char *next)
{
	struct user	 u;
	char		 hash[PASSWD_ENCODED_MAX];
	const char	*cause;
	enum db_rc	 rc;

	/*
	 * Locked until the change commits: sign-ins of this user wait, so
	 * none can issue a token with the old password after the cut-off
	 * (db_user_set_password()), and the revocation below sees every
	 * one issued before it.
	 */
	if ((rc = db_user_lock(r, r->auth.user_id, 0, &u)) != DB_OK)
		return acct_fail_db(f, rc);
	/* A guess at the current password counts like a failed sign-in. */
	if (acct_throttled(r, f, u.email) == -1)
		return -1;
	if (!passwd_verify(u.password_hash, current)) {
		acct_count_failure(r, u.email);
		return acct_fail(f, 401, "invalid_credentials",
		    "The current password is wrong.", "current_password");
	}
	if (passwd_check_new(next, &cause) == -1)
		return acct_fail(f, 400, "weak_password", arena_printf(
		    &r->arena, "The new password %s.", cause), "new_password");
	if (passwd_hash(next, hash, sizeof(hash)) == -1)
		return acct_fail(f, 500, "internal_error",
		    "Cannot hash the password.", NULL);
	rc = db_user_set_password(r, u.user_id, hash, 1);
	explicit_bzero(hash, sizeof(hash));
	if (rc != DB_OK || (rc = db_user_revoke_all(r, u.user_id)) != DB_OK)
		return acct_fail_db(f, rc);
	return acct_audit(r, f, "auth.password_changed", u.user_id, NULL);
}

/* Start a portal session for the signed-in user; sets the cookie. */
int
acct_session_start(struct req *r, struct fail *f)
{
	char		 token[CRYPTO_TOKEN_MAX], hash[67];
	const char	*old = http_kv_get(&r->cookies, "tg_session");
	enum db_rc	 rc;

	/* A new sign-in ends the session this browser had. */
	if (old != NULL && *old != '\0' && strlen(old) <= CRYPTO_TOKEN_MAX) {
		crypto_token_hash_hex(old, hash);
		if ((rc = db_session_end(r, hash)) != DB_OK)
			return acct_fail_db(f, rc);
	}
	if (crypto_token_new("", token) == -1)
		return acct_fail(f, 500, "internal_error", "No randomness.",
		    NULL);
	crypto_token_hash_hex(token, hash);
	if ((rc = db_session_create(r, r->auth.user_id, hash,
	    conf.session_max_s, NULL)) != DB_OK)
		return acct_fail_db(f, rc);
	auth_set_cookie(r, "tg_session", arena_strdup(&r->arena, token),
	    conf.session_max_s);
	explicit_bzero(token, sizeof(token));
	return 0;
}

/* End the portal session (logout). */
int
acct_session_end(struct req *r, struct fail *f)
{
	enum db_rc	 rc;

	if (r->auth.session_id[0] != '\0' &&
	    (rc = db_session_revoke(r, r->auth.session_id)) != DB_OK)
		return acct_fail_db(f, rc);
	auth_set_cookie(r, "tg_session", "", -1);
	return acct_audit(r, f, "auth.logout", r->auth.user_id, NULL);
}

/*
 * Links mailed to prove an address or reset a password work alike: a
 * token whose SHA-256 finds the link's user and address while it is
 * unused and unexpired.  Unknown, used and expired links get the same
 * 404.
 */
enum acct_link_kind {
	ACCT_LINK_VERIFY,
	ACCT_LINK_RESET
};

static const struct {
	enum db_rc	(*find)(struct req *, const char *, const char **,
			    const char **, int *);
	const char	*code;
	const char	*message;
} acct_links[] = {
	[ACCT_LINK_VERIFY] = { db_verify_find, "verification_not_found",
	    "This confirmation link is not valid any more: it was used or has "
	    "expired. Ask for a new one." },
	[ACCT_LINK_RESET] = { db_reset_find, "reset_not_found",
	    "This password reset link is not valid any more: it was used or "
	    "has expired. Ask for a new one." },
};

static int
acct_link_gone(struct fail *f, enum acct_link_kind kind)
{
	return acct_fail(f, 404, acct_links[kind].code,
	    acct_links[kind].message, "token");
}

/* The link behind a token: its user and address, if it still works. */
static int
acct_link_find(struct req *r, struct fail *f, enum acct_link_kind kind,
    const char *token, char hash[67], const char **user_id,
    const char **email)
{
	enum db_rc	 rc;
	int		 live = 0;

	if (token == NULL || strlen(token) > CRYPTO_TOKEN_MAX)
		rc = DB_NOTFOUND;
	else {
		crypto_token_hash_hex(token, hash);
		rc = acct_links[kind].find(r, hash, user_id, email, &live);
	}
	if (rc == DB_NOTFOUND || (rc == DB_OK && !live))
		return acct_link_gone(f, kind);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/*
 * Does this link still work?  Only looks (the page a link opens asks
 * for a click: mail scanners follow links, and must not use them up).
 */
int
acct_verify_open(struct req *r, struct fail *f, const char *token,
    const char **email)
{
	const char	*user_id;
	char		 hash[67];

	return acct_link_find(r, f, ACCT_LINK_VERIFY, token, hash, &user_id,
	    email);
}

/*
 * Use a link: the address is verified, the link and the user's other
 * links are dead.  It runs in the user's oldest tenant (the one signed
 * up with, unless they left it), where the event is audited.
 */
int
acct_verify_email(struct req *r, struct fail *f, const char *token)
{
	struct membership	*ms = NULL;
	const char		*user_id, *email, *done_id;
	char			 hash[67];
	size_t			 n = 0;
	enum db_rc		 rc;

	if (acct_link_find(r, f, ACCT_LINK_VERIFY, token, hash, &user_id,
	    &email) == -1)
		return -1;
	if ((rc = db_user_tenants(r, user_id, &ms, &n)) != DB_OK ||
	    (rc = db_begin(r, n > 0 ? ms[0].tenant_id : NULL)) != DB_OK)
		return acct_fail_db(f, rc);
	/* Used or expired since it was found: the same 404. */
	rc = db_verify_consume(r, hash, &done_id);
	if (rc == DB_NOTFOUND)
		return acct_link_gone(f, ACCT_LINK_VERIFY);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	if (n == 0)
		return 0;
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", user_id);
	snprintf(r->auth.actor, sizeof(r->auth.actor), "%s", email);
	return acct_audit(r, f, "auth.email_verified", user_id,
	    acct_detail(r, "email", email));
}

/*
 * A new link for the signed-in user, at most ACCT_VERIFY_RESENDS an
 * hour (each mails the address).  409 once the address is verified.
 */
int
acct_verify_resend(struct req *r, struct fail *f)
{
	struct rl_result	 rr;
	const char		*email;
	enum db_rc		 rc;
	int			 verified;

	if ((rc = db_verify_user(r, r->auth.user_id, &email, &verified)) !=
	    DB_OK)
		return acct_fail_db(f, rc);
	if (verified)
		return acct_fail(f, 409, "already_verified", "Your e-mail "
		    "address is already verified.", NULL);
	if (!rl_hit(arena_printf(&r->arena, "vr:%s", r->auth.user_id),
	    ACCT_VERIFY_RESENDS, 3600, time(NULL), &rr))
		return acct_fail_retry(f, rr.reset > 0 ? rr.reset : 3600,
		    "A new link was sent several times in the last hour: use "
		    "the latest one, or try again later.", NULL);
	return acct_verify_issue(r, f, r->auth.user_id, email);
}

struct acct_reset {
	char	 email[EMAIL_MAX + 1];
};

/*
 * The reset link into the notification outbox, sealed.  A user is no
 * tenant's, and the outbox is per tenant: the message is recorded in
 * the user's first organization (the open transaction is scoped to it
 * from here on).  notify.c sends it.
 */
static enum db_rc
acct_reset_mail(struct req *r, const char *user_id, const char *to,
    const char *link)
{
	const char	*tenant;
	char		*sealed;
	enum db_rc	 rc;

	if ((rc = db_notify_user_tenant(r, user_id, &tenant)) != DB_OK ||
	    (rc = db_set_tenant(r, tenant)) != DB_OK)
		return rc;
	if ((sealed = vault_seal(link, strlen(link))) == NULL) {
		log_warnx("%s: no TOLLGATE_ENCRYPTION_KEY: a reset link cannot "
		    "be mailed", __func__);
		return DB_OK;
	}
	rc = db_notify_personal(r, "password_reset", to, "{}", sealed);
	free(sealed);
	return rc;
}

/*
 * After the answer: a link for the account of the address, if it has
 * one, and its mail.  Known and unknown addresses cost the same one
 * statement, made once the visitor has the answer, which is the same
 * for both.
 */
static void
acct_reset_write(struct req *r)
{
	const struct acct_reset	*a = r->after_arg;
	char			 token[CRYPTO_TOKEN_MAX], hash[67];
	const char		*user_id;
	enum db_rc		 rc, known = DB_ERROR;

	if (crypto_token_new("", token) == -1) {
		log_warnx("%s: no randomness", __func__);
		return;
	}
	crypto_token_hash_hex(token, hash);
	/* The link and its mail (the outbox) commit together. */
	if ((rc = db_begin(r, NULL)) == DB_OK) {
		known = db_reset_create(r, a->email, hash, ACCT_RESET_HOURS,
		    &user_id);
		if (known == DB_OK)
			known = acct_reset_mail(r, user_id, a->email,
			    arena_printf(&r->arena, "%s/reset/%s",
			    conf.public_url, token));
		rc = known == DB_OK || known == DB_NOTFOUND ? db_commit(r) :
		    known;
	}
	if (rc != DB_OK)
		log_warnx("%s: %s", __func__, db_strerror(rc));
	explicit_bzero(token, sizeof(token));
}

/*
 * Ask for a link that sets a new password.  The answer is the same
 * whether the address has an account or not, and so is its time: the
 * lookup, the link and its mail are made after the answer is sent
 * (acct_reset_write()).  At most ACCT_RESET_TO_HOUR links an hour go to
 * one address, counted for unknown addresses too; beyond, nothing is
 * done and the answer is still the same.  Only an address that is not
 * one fails (400).
 */
int
acct_reset_request(struct req *r, struct fail *f, const char *email)
{
	struct acct_reset	*a;
	struct rl_result	 rr;
	const char		*norm;

	if ((norm = acct_email(r, email)) == NULL)
		return acct_fail(f, 400, "invalid_value",
		    "Enter a valid e-mail address.", "email");
	if (!rl_hit(arena_printf(&r->arena, "pr:%s", norm),
	    ACCT_RESET_TO_HOUR, 3600, time(NULL), &rr)) {
		log_info("password reset: the address's hourly limit is "
		    "reached, no link made");
		return 0;
	}
	a = arena_calloc(&r->arena, 1, sizeof(*a));
	snprintf(a->email, sizeof(a->email), "%s", norm);
	r->after = acct_reset_write;
	r->after_arg = a;
	return 0;
}

/* Does this reset link still work?  Only looks (GET of its page). */
int
acct_reset_open(struct req *r, struct fail *f, const char *token,
    const char **email)
{
	const char	*user_id;
	char		 hash[67];

	return acct_link_find(r, f, ACCT_LINK_RESET, token, hash, &user_id,
	    email);
}

/*
 * Set a new password with a link.  As a password change (the user's
 * row locked FOR UPDATE so sign-ins wait, the cut-off taken from the
 * clock, every session and refresh token of the user revoked in every
 * tenant), without the current password.  The link and the user's
 * other links die, the address counts as proven (the link was mailed
 * there), and each of the user's tenants records auth.password_reset:
 * each of them saw its sessions end.
 */
int
acct_reset_confirm(struct req *r, struct fail *f, const char *token,
    const char *next)
{
	struct membership	*ms = NULL;
	struct user		 u;
	char			 hash[67], phash[PASSWD_ENCODED_MAX];
	const char		*user_id, *email, *cause;
	size_t			 n = 0, i;
	enum db_rc		 rc;

	if (acct_link_find(r, f, ACCT_LINK_RESET, token, hash, &user_id,
	    &email) == -1)
		return -1;
	if (passwd_check_new(next, &cause) == -1)
		return acct_fail(f, 400, "weak_password", arena_printf(
		    &r->arena, "The new password %s.", cause), "new_password");
	if ((rc = db_user_tenants(r, user_id, &ms, &n)) != DB_OK)
		return acct_fail_db(f, rc);
	if (passwd_hash(next, phash, sizeof(phash)) == -1)
		return acct_fail(f, 500, "internal_error",
		    "Cannot hash the password.", NULL);
	/* Locked first: of two uses of one link, the second finds it used. */
	if ((rc = db_begin(r, n > 0 ? ms[0].tenant_id : NULL)) == DB_OK &&
	    (rc = db_user_lock(r, user_id, 0, &u)) == DB_OK &&
	    (rc = db_reset_consume(r, hash, user_id)) == DB_OK)
		rc = db_user_set_password(r, user_id, phash, 1);
	explicit_bzero(phash, sizeof(phash));
	/* Used or expired since it was found, or the user is gone. */
	if (rc == DB_NOTFOUND)
		return acct_link_gone(f, ACCT_LINK_RESET);
	if (rc != DB_OK || (rc = db_user_revoke_all(r, user_id)) != DB_OK ||
	    (rc = db_verify_set(r, user_id)) != DB_OK)
		return acct_fail_db(f, rc);
	snprintf(r->auth.user_id, sizeof(r->auth.user_id), "%s", user_id);
	snprintf(r->auth.actor, sizeof(r->auth.actor), "%s", u.email);
	for (i = 0; i < n; i++) {
		if (i > 0 && (rc = db_set_tenant(r, ms[i].tenant_id)) != DB_OK)
			return acct_fail_db(f, rc);
		if (acct_audit(r, f, "auth.password_reset", user_id, NULL) ==
		    -1)
			return -1;
	}
	return 0;
}
