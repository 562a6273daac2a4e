/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Idempotency-Key on creating POSTs (SPEC 5).  The first successful
 * answer for a key is kept 24 hours and given again to a replay of the
 * same request by the same principal (user or API key); the same key
 * with a different request, or from another principal of the tenant, is
 * 409 and says nothing of the first.  A key stays one per tenant.  A
 * refused request keeps nothing (its transaction rolls back), so it may
 * be retried with the same key.  The kept answer is sealed with
 * AES-256-GCM under a key derived from the server secret, the tenant,
 * the principal and the idempotency key: it can hold a secret shown
 * once (a new API key), and the database alone cannot open it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

#define IDEM_KEY_MAX	255
#define IDEM_PRINCIPAL_MAX	64	/* "platform-key:" and a uuid */

static int
idem_key_valid(const char *k)
{
	size_t	 n;

	for (n = 0; k[n] != '\0'; n++)
		if (k[n] < 0x21 || k[n] > 0x7e)
			return 0;
	return n > 0 && n <= IDEM_KEY_MAX;
}

/*
 * Who made the request, as kept with the claim: "user:<uuid>" (access
 * token or portal session alike), "key:<uuid>" or "platform-key:<uuid>".
 * Never empty: rows kept before sql/007 have an empty principal, which
 * must match no request.  -1 when the request has no principal.
 */
static int
idem_principal(const struct req *r, char *out, size_t outsz)
{
	const char	*kind, *id;
	int		 n;

	switch (r->auth.kind) {
	case PRINCIPAL_USER:
	case PRINCIPAL_SESSION:
		kind = "user";
		id = r->auth.user_id;
		break;
	case PRINCIPAL_TENANT_KEY:
		kind = "key";
		id = r->auth.key_id;
		break;
	case PRINCIPAL_PLATFORM_KEY:
		kind = "platform-key";
		id = r->auth.key_id;
		break;
	default:
		return -1;
	}
	if (id[0] == '\0')
		return -1;
	n = snprintf(out, outsz, "%s:%s", kind, id);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* The sealing key of this tenant's and principal's idempotency key. */
static void
idem_seal_key(const struct req *r, const char *principal,
    unsigned char out[32])
{
	struct buf	 b;

	buf_init(&b, 1024);
	buf_printf(&b, "tollgate idempotency v2\n%s\n%s\n%s",
	    r->auth.tenant_id, principal, r->idempotency_key);
	crypto_hmac_sha256(conf.jwt_secret, strlen(conf.jwt_secret), b.p,
	    b.len, out);
	buf_free(&b);
}

/* SHA-256 of what makes two requests the same: method, path, body. */
static void
idem_request_hash(const struct req *r, char out[65])
{
	unsigned char	 h[32];
	struct buf	 b;

	buf_init(&b, REQ_BODY_MAX + 4096);
	buf_printf(&b, "%s\n%s\n", r->method, r->path);
	if (r->body.len > 0)
		buf_append(&b, r->body.p, r->body.len);
	crypto_sha256(b.p, b.len, h);
	util_hex(h, sizeof(h), out);
	buf_free(&b);
}

static int
idem_replay(struct req *r, const char *principal, const struct idem *d)
{
	unsigned char	 key[32], *plain;
	long		 n;

	idem_seal_key(r, principal, key);
	plain = arena_alloc(&r->arena, d->response_len + 1);
	n = d->response == NULL ? -1 : crypto_open(key, d->response,
	    d->response_len, plain);
	explicit_bzero(key, sizeof(key));
	if (n < 0 || d->status < 200) {
		log_err("%s: stored answer unreadable", __func__);
		req_error(r, 500, NULL, "internal_error", "The stored answer "
		    "for this Idempotency-Key cannot be read.", NULL);
		return -1;
	}
	buf_reset(&r->out);
	buf_append(&r->out, plain, (size_t)n);
	r->status = d->status;
	r->content_type_out = "application/json";
	req_header(r, "Idempotent-Replayed", "true");
	metrics_add(METRIC_IDEM_REPLAYS, 1);
	return 1;
}

/*
 * Before the handler, inside the tenant's transaction.  Returns 0 to
 * run the handler, 1 when the answer is a replay, -1 on an error (the
 * answer is set either way).
 */
int
idem_begin(struct req *r)
{
	struct idem	 d;
	char		 hash[65], hashlit[67], who[IDEM_PRINCIPAL_MAX];
	int		 claimed = 0;
	enum db_rc	 rc;

	if (r->idempotency_key == NULL)
		return 0;
	if (!idem_key_valid(r->idempotency_key)) {
		req_error(r, 400, NULL, "invalid_value", "Idempotency-Key must "
		    "be 1 to 255 printable ASCII characters.", "Idempotency-Key");
		return -1;
	}
	if (idem_principal(r, who, sizeof(who)) == -1) {
		log_err("%s: no principal", __func__);
		req_error(r, 500, NULL, "internal_error", "This request has "
		    "no principal to keep its Idempotency-Key for.", NULL);
		return -1;
	}
	idem_request_hash(r, hash);
	hashlit[0] = '\\';
	hashlit[1] = 'x';
	memcpy(hashlit + 2, hash, sizeof(hash));
	if ((rc = db_idem_claim(r, r->idempotency_key, hashlit, who,
	    &claimed)) != DB_OK)
		goto fail;
	if (claimed) {
		r->idem_claimed = 1;
		return 0;
	}
	if ((rc = db_idem_get(r, r->idempotency_key, &d)) != DB_OK)
		goto fail;
	if (d.expired) {
		/* A day old: the key is free again, for anyone. */
		if ((rc = db_idem_delete(r, r->idempotency_key)) != DB_OK ||
		    (rc = db_idem_claim(r, r->idempotency_key, hashlit, who,
		    &claimed)) != DB_OK)
			goto fail;
		r->idem_claimed = claimed;
		return 0;
	}
	/*
	 * Another principal's answer is not given, and the refusal is the
	 * one of a different request, whatever the body: it tells nothing
	 * of the first request, not even whether it was the same.
	 */
	if (d.principal == NULL || strcmp(d.principal, who) != 0 ||
	    strcmp(d.hash_hex, hash) != 0) {
		req_error(r, 409, NULL, "idempotency_key_reused", "This "
		    "Idempotency-Key was used with a different request.",
		    "Idempotency-Key");
		return -1;
	}
	return idem_replay(r, who, &d);
fail:
	req_error_from_db(r, rc == DB_NOTFOUND ? DB_ERROR : rc);
	return -1;
}

/*
 * After the handler: a successful answer is sealed and kept with the
 * key, in the same transaction as the work it describes.
 */
void
idem_finish(struct req *r)
{
	unsigned char	 key[32], *sealed;
	char		 who[IDEM_PRINCIPAL_MAX];
	long		 n;
	enum db_rc	 rc;

	if (!r->idem_claimed || r->status >= 400 || !r->in_tx)
		return;
	/* The claim had one; the handler does not change who asks. */
	if (idem_principal(r, who, sizeof(who)) == -1) {
		rc = DB_ERROR;
		log_err("%s: no principal", __func__);
		goto done;
	}
	idem_seal_key(r, who, key);
	sealed = arena_alloc(&r->arena, r->out.len + CRYPTO_SEAL_OVERHEAD);
	n = crypto_seal(key, r->out.p != NULL ? r->out.p : "", r->out.len,
	    sealed);
	explicit_bzero(key, sizeof(key));
	if (n < 0) {
		rc = DB_ERROR;
		log_err("%s: cannot seal the answer", __func__);
	} else
		rc = db_idem_store(r, r->idempotency_key, r->status, sealed,
		    (size_t)n);
done:
	/* The answer becomes the error; the pipeline rolls the work back. */
	if (rc != DB_OK) {
		r->nheaders = 0;
		req_error_from_db(r, rc);
	}
}
