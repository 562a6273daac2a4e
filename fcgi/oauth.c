/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The state of an OAuth authorization (SPEC 9): what Tollgate hands to
 * Slack's authorize page and gets back on the callback.
 *
 *	base64url(json{tenant, user, agent, nonce, exp}) "." base64url(mac)
 *
 * where mac is HMAC-SHA256 under TOLLGATE_OAUTH_STATE_SECRET of the
 * first part as sent.  Pure: no request, no database.  Verifying checks
 * the shape, then the MAC in constant time, and only then reads the
 * JSON; the single use of the nonce is the database's (sql/018).
 * Both parts are canonical base64url without padding, so no two
 * strings carry one state.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

#define OAUTH_MAC_B64	43	/* characters of 32 bytes, unpadded */

static const char *const	oauth_state_errors[] = {
	[OAUTH_STATE_OK] = "valid",
	[OAUTH_STATE_MALFORMED] = "not a state Tollgate issued",
	[OAUTH_STATE_SIGNATURE] = "its signature does not match",
	[OAUTH_STATE_EXPIRED] = "it has expired",
};

const char *
oauth_state_strerror(enum oauth_state_rc rc)
{
	if ((size_t)rc >= sizeof(oauth_state_errors) /
	    sizeof(oauth_state_errors[0]))
		return "unknown";
	return oauth_state_errors[rc];
}

static void
oauth_mac_b64(const char *secret, const char *p, size_t n,
    char out[OAUTH_MAC_B64 + 1])
{
	unsigned char	 mac[32];

	crypto_hmac_sha256(secret, strlen(secret), p, n, mac);
	crypto_b64url_encode(mac, sizeof(mac), out);
}

/*
 * Sign a state into out (OAUTH_STATE_MAX).  The ids are UUIDs or ""
 * (no user, no agent), the nonce base64url: nothing needs escaping in
 * the JSON.  -1 when a field is not of that shape.
 */
int
oauth_state_sign(const char *secret, const struct oauth_state *s, char *out)
{
	char	 json[256], mac[OAUTH_MAC_B64 + 1];
	int	 n;
	size_t	 b;

	if (!valid_uuid(s->tenant) || (*s->user != '\0' &&
	    !valid_uuid(s->user)) || (*s->agent != '\0' &&
	    !valid_uuid(s->agent)) || strlen(s->nonce) != OAUTH_NONCE_B64 ||
	    strspn(s->nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
	    "vwxyz0123456789-_") != OAUTH_NONCE_B64 || s->exp < 0)
		return -1;
	n = snprintf(json, sizeof(json), "{\"tenant\":\"%s\",\"user\":\"%s\","
	    "\"agent\":\"%s\",\"nonce\":\"%s\",\"exp\":%lld}", s->tenant,
	    s->user, s->agent, s->nonce, s->exp);
	if (n < 0 || (size_t)n >= sizeof(json))
		return -1;
	b = crypto_b64url_encode((const unsigned char *)json, (size_t)n, out);
	oauth_mac_b64(secret, out, b, mac);
	out[b] = '.';
	memcpy(out + b + 1, mac, sizeof(mac));
	return 0;
}

/* A string member of exactly the expected shape, copied into dst. */
static int
oauth_field(struct json_object *o, const char *k, char *dst, size_t dstsz,
    int may_be_empty)
{
	struct json_object	*v;
	const char		*s;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if ((*s == '\0' && !may_be_empty) || strlen(s) >= dstsz ||
	    (*s != '\0' && dstsz == 37 && !valid_uuid(s)))
		return -1;
	snprintf(dst, dstsz, "%s", s);
	return 0;
}

/* The JSON of a state whose MAC matched: exactly its five members. */
static int
oauth_state_json(const unsigned char *p, size_t n, struct oauth_state *s)
{
	struct json_tokener	*tok;
	struct json_object	*o = NULL, *exp;
	int			 rc = -1;

	if (!http_json_valid((const char *)p, n) ||
	    (tok = json_tokener_new_ex(2)) == NULL)
		return -1;
	o = json_tokener_parse_ex(tok, (const char *)p, (int)n);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object) ||
	    json_object_object_length(o) != 5)
		goto done;
	if (oauth_field(o, "tenant", s->tenant, sizeof(s->tenant), 0) == -1 ||
	    oauth_field(o, "user", s->user, sizeof(s->user), 1) == -1 ||
	    oauth_field(o, "agent", s->agent, sizeof(s->agent), 1) == -1 ||
	    oauth_field(o, "nonce", s->nonce, sizeof(s->nonce), 0) == -1 ||
	    strlen(s->nonce) != OAUTH_NONCE_B64)
		goto done;
	if (!json_object_object_get_ex(o, "exp", &exp) ||
	    !json_object_is_type(exp, json_type_int) ||
	    (s->exp = json_object_get_int64(exp)) < 0)
		goto done;
	rc = 0;
done:
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

/*
 * Verify a state at time "now" (Unix seconds) and fill *s.  The MAC is
 * compared before the payload is decoded, so nothing a stranger writes
 * reaches the JSON parser.
 */
enum oauth_state_rc
oauth_state_verify(const char *secret, const char *state, long long now,
    struct oauth_state *s)
{
	unsigned char	 json[OAUTH_STATE_MAX];
	char		 mac[OAUTH_MAC_B64 + 1];
	const char	*dot;
	size_t		 len, b;
	long		 n;

	memset(s, 0, sizeof(*s));
	len = strlen(state);
	if (len >= OAUTH_STATE_MAX || (dot = strchr(state, '.')) == NULL)
		return OAUTH_STATE_MALFORMED;
	b = (size_t)(dot - state);
	if (b == 0 || strlen(dot + 1) != OAUTH_MAC_B64 ||
	    strspn(state, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxy"
	    "z0123456789-_") != b)
		return OAUTH_STATE_MALFORMED;
	oauth_mac_b64(secret, state, b, mac);
	if (!util_ct_equal(mac, dot + 1, OAUTH_MAC_B64))
		return OAUTH_STATE_SIGNATURE;
	if ((n = crypto_b64url_decode(state, b, json, sizeof(json))) <= 0 ||
	    oauth_state_json(json, (size_t)n, s) == -1) {
		memset(s, 0, sizeof(*s));
		return OAUTH_STATE_MALFORMED;
	}
	if (s->exp <= now)
		return OAUTH_STATE_EXPIRED;
	return OAUTH_STATE_OK;
}
