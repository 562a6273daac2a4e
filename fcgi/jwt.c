/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Access tokens: HS256 JWTs through libjwt 1.10, which on its own
 * accepts "alg": "none" when called without a key, accepts tokens
 * signed with another algorithm, accepts 1-byte secrets and checks no
 * claims.  So this wrapper always passes the key, pins HS256 and
 * compares jwt_get_alg(), relies on the configuration refusing secrets
 * under 32 bytes, and checks exp, nbf, iat, iss and aud itself.  It
 * also checks the HS256 signature first, in constant time.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jwt.h>

#include "tollgate.h"

#define JWT_ISS		"tollgate"
#define JWT_AUD		"tollgate-api"
#define JWT_TTL		900		/* 15 minutes */
#define JWT_LEEWAY	30		/* seconds of clock skew allowed */
#define JWT_MAX		4096		/* bytes of a presented token */

/*
 * Issue a token for (user, tenant, role).  *out is malloc'd (caller
 * frees); *exp receives the expiry.
 */
int
jwt_issue(const char *sub, const char *tid, const char *role, char **out,
    time_t *exp)
{
	jwt_t		*j = NULL;
	unsigned char	 raw[16];
	char		 jti[33];
	struct timespec	 ts;
	time_t		 now;
	int		 rc = -1;

	*out = NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec;
	if (conf.jwt_secret == NULL || strlen(conf.jwt_secret) < 32 ||
	    util_random(raw, sizeof(raw)) == -1)
		return -1;
	util_hex(raw, sizeof(raw), jti);
	if (jwt_new(&j) != 0)
		goto done;
	if (jwt_add_grant(j, "iss", JWT_ISS) != 0 ||
	    jwt_add_grant(j, "aud", JWT_AUD) != 0 ||
	    jwt_add_grant(j, "sub", sub) != 0 ||
	    jwt_add_grant(j, "tid", tid) != 0 ||
	    jwt_add_grant(j, "role", role) != 0 ||
	    jwt_add_grant(j, "jti", jti) != 0 ||
	    jwt_add_grant_int(j, "iat", now) != 0 ||
	    /* Milliseconds: "issued before the password change" is exact. */
	    jwt_add_grant_int(j, "iat_ms", (long)now * 1000 +
	    ts.tv_nsec / 1000000) != 0 ||
	    jwt_add_grant_int(j, "nbf", now) != 0 ||
	    jwt_add_grant_int(j, "exp", now + JWT_TTL) != 0)
		goto done;
	if (jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)conf.jwt_secret,
	    (int)strlen(conf.jwt_secret)) != 0)
		goto done;
	if ((*out = jwt_encode_str(j)) == NULL)
		goto done;
	*exp = now + JWT_TTL;
	rc = 0;
done:
	jwt_free(j);
	return rc;
}

static int
jwt_copy_claim(jwt_t *j, const char *name, char *out, size_t outsz)
{
	const char	*v;

	if ((v = jwt_get_grant(j, name)) == NULL || *v == '\0' ||
	    strlen(v) >= outsz)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int
jwt_time_claim(jwt_t *j, const char *name, long *out)
{
	errno = 0;
	*out = jwt_get_grant_int(j, name);
	return errno == 0 ? 0 : -1;
}

/*
 * The HS256 signature checked here, in constant time, before libjwt
 * sees the token: libjwt compares signatures with strcmp().
 */
static int
jwt_signature_ok(const char *token)
{
	const char	*dot = strrchr(token, '.');
	unsigned char	 mac[32];
	char		 want[48];
	size_t		 n;

	if (dot == NULL)
		return 0;
	crypto_hmac_sha256(conf.jwt_secret, strlen(conf.jwt_secret), token,
	    (size_t)(dot - token), mac);
	n = crypto_b64url_encode(mac, sizeof(mac), want);
	return strlen(dot + 1) == n && util_ct_equal(dot + 1, want, n);
}

/*
 * Verify a presented token and fill claims.  Returns 0, or -1 with
 * *cause set to a short reason for the log (never shown to clients in
 * more detail than "invalid token").
 */
int
jwt_verify(const char *token, struct jwt_claims *c, const char **cause)
{
	jwt_t		*j = NULL;
	const char	*p;
	long		 exp, nbf, iat;
	time_t		 now = time(NULL);
	int		 dots = 0, rc = -1;

	memset(c, 0, sizeof(*c));
	*cause = "malformed";
	if (token == NULL || strlen(token) > JWT_MAX)
		return -1;
	for (p = token; *p != '\0'; p++)
		if (*p == '.')
			dots++;
	if (dots != 2 || conf.jwt_secret == NULL ||
	    strlen(conf.jwt_secret) < 32)
		return -1;
	*cause = "bad signature";
	if (!jwt_signature_ok(token))
		return -1;
	/* Always with the key: libjwt skips verification without one. */
	if (jwt_decode(&j, token, (const unsigned char *)conf.jwt_secret,
	    (int)strlen(conf.jwt_secret)) != 0 || j == NULL)
		goto done;
	*cause = "algorithm is not HS256";
	if (jwt_get_alg(j) != JWT_ALG_HS256)
		goto done;
	*cause = "missing or bad claims";
	if (jwt_time_claim(j, "exp", &exp) == -1 ||
	    jwt_time_claim(j, "iat", &iat) == -1)
		goto done;
	if (jwt_time_claim(j, "nbf", &nbf) == -1)
		nbf = iat;
	if ((p = jwt_get_grant(j, "iss")) == NULL || strcmp(p, JWT_ISS) != 0 ||
	    (p = jwt_get_grant(j, "aud")) == NULL || strcmp(p, JWT_AUD) != 0)
		goto done;
	if (jwt_copy_claim(j, "sub", c->sub, sizeof(c->sub)) == -1 ||
	    jwt_copy_claim(j, "tid", c->tid, sizeof(c->tid)) == -1 ||
	    jwt_copy_claim(j, "role", c->role, sizeof(c->role)) == -1 ||
	    jwt_copy_claim(j, "jti", c->jti, sizeof(c->jti)) == -1)
		goto done;
	*cause = "expired";
	if (exp + JWT_LEEWAY <= now)
		goto done;
	*cause = "not yet valid";
	if (nbf > now + JWT_LEEWAY || iat > now + JWT_LEEWAY)
		goto done;
	c->exp = exp;
	/* Without milliseconds, the benefit of the doubt within the second. */
	if (jwt_time_claim(j, "iat_ms", &c->iat_ms) == -1)
		c->iat_ms = iat * 1000 + 999;
	rc = 0;
	*cause = NULL;
done:
	jwt_free(j);
	return rc;
}
