/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Bring-your-own LLM keys (SPEC 9): a tenant's provider keys, one per
 * provider, within the plan's llm_providers quota.  The key is sealed
 * with Fernet under TOLLGATE_ENCRYPTION_KEY (MultiFernet with the
 * previous key), and the plaintext is wiped as soon as it is sealed:
 * it never reaches the database, a log or an answer.  Only key_hint
 * ("..." and the last four characters) is ever shown.  And the
 * tenant's own prices of models (tenant_model_prices), which the
 * gateway and usage_ingest use before the platform's.  acct.c's error
 * convention.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "tollgate.h"

/* "..." and the last four characters, into out (LLMKEY_HINT_MAX). */
void
llmkey_hint(const char *key, char *out)
{
	size_t	 n = strlen(key);

	snprintf(out, LLMKEY_HINT_MAX, "...%s", n > 4 ? key + n - 4 : "");
}

static int
llmkey_quota_fail(struct req *r, struct fail *f,
    const struct llmkey_room *room)
{
	char	 allowed[64];

	fmt_plural(allowed, sizeof(allowed), room->limit, "LLM provider",
	    "LLM providers");
	return acct_fail(f, 409, "quota_exceeded", arena_printf(&r->arena,
	    "The %s plan allows keys for %s: delete one or upgrade the plan.",
	    room->plan_name, allowed), NULL);
}

/*
 * Add the tenant's key for a provider.  "key" is wiped before this
 * returns, whatever happens.  On a 409 quota_exceeded, room says the
 * limit and the count.
 */
int
llmkey_add(struct req *r, struct fail *f, const char *provider,
    const char *label, char *key, struct llmkey *k, struct llmkey_room *room)
{
	char		 hint[LLMKEY_HINT_MAX];
	char		*tok = NULL;
	size_t		 n = strlen(key);
	enum db_rc	 rc;
	int		 ret = -1;

	llmkey_hint(key, hint);
	if (conf.encryption_key == NULL) {
		OPENSSL_cleanse(key, n);
		return acct_fail(f, 503, "encryption_not_configured",
		    "Stored secrets need TOLLGATE_ENCRYPTION_KEY.", NULL);
	}
	tok = vault_seal(key, n);
	OPENSSL_cleanse(key, n);
	if (tok == NULL) {
		log_warnx("%s: sealing an LLM key failed", __func__);
		return acct_fail_db(f, DB_ERROR);
	}
	/* The tenant first, always: one lock order for every change. */
	if ((rc = db_llmkey_quota(r, room)) != DB_OK ||
	    (rc = db_llmkey_count(r, provider, room)) != DB_OK) {
		acct_fail_db(f, rc);
		goto done;
	}
	if (room->provider_taken) {
		acct_fail(f, 409, "key_exists", arena_printf(&r->arena,
		    "There is a key for %s already: delete it first.",
		    provider), "provider");
		goto done;
	}
	if (room->limit >= 0 && room->used >= room->limit) {
		llmkey_quota_fail(r, f, room);
		goto done;
	}
	rc = db_llmkey_insert(r, provider, label, tok, hint, k);
	if (rc == DB_CONFLICT)
		acct_fail(f, 409, "key_exists", "There is a key for this "
		    "provider already: delete it first.", "provider");
	else if (rc != DB_OK)
		acct_fail_db(f, rc);
	else if ((rc = db_audit_add(r, "llm_key.added", k->key_id,
	    arena_printf(&r->arena, "{\"provider\":\"%s\"}", provider))) !=
	    DB_OK)
		acct_fail_db(f, rc);
	else
		ret = 0;
done:
	OPENSSL_cleanse(tok, strlen(tok));
	free(tok);
	return ret;
}

/* Delete a key of the tenant: 404 for none or another tenant's. */
int
llmkey_delete(struct req *r, struct fail *f, const char *key_id)
{
	struct llmkey	 k;
	enum db_rc	 rc;

	if (!valid_uuid(key_id))
		return acct_fail(f, 404, "not_found", "There is no such key.",
		    NULL);
	rc = db_llmkey_delete(r, key_id, &k);
	if (rc == DB_NOTFOUND)
		return acct_fail(f, 404, "not_found", "There is no such key.",
		    NULL);
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	if ((rc = db_audit_add(r, "llm_key.deleted", key_id,
	    arena_printf(&r->arena, "{\"provider\":\"%s\"}", k.provider))) !=
	    DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/*
 * A price as JSON, the API's answer (with its id and times) or the
 * audit's details (without).
 */
struct json_object *
llmprice_json(const struct llmprice *p, int full)
{
	struct json_object	*o = json_object_new_object();

	if (full)
		json_object_object_add(o, "id",
		    json_object_new_string(p->price_id));
	json_object_object_add(o, "provider",
	    json_object_new_string(p->provider));
	json_object_object_add(o, "model", json_object_new_string(p->model));
	json_object_object_add(o, "prompt_per_mtok",
	    json_object_new_int64(p->prompt_per_mtok));
	json_object_object_add(o, "completion_per_mtok",
	    json_object_new_int64(p->completion_per_mtok));
	json_object_object_add(o, "cached_per_mtok",
	    json_object_new_int64(p->cached_per_mtok));
	if (full) {
		json_object_object_add(o, "created_at",
		    json_object_new_string(p->created_at));
		json_object_object_add(o, "updated_at",
		    json_object_new_string(p->updated_at));
	}
	return o;
}

/* A price for the audit's details (a model name may need quoting). */
static const char *
llmprice_audit(struct req *r, const struct llmprice *p)
{
	struct json_object	*o = llmprice_json(p, 0);
	const char		*s;

	s = arena_strdup(&r->arena, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/*
 * Set the tenant's price of a model (a new one, or the one there
 * replaced: *created says which), audited; 409 limit_reached past
 * LLMPRICE_CAP prices.
 */
int
llmprice_set(struct req *r, struct fail *f, const struct llmprice *in,
    struct llmprice *out, int *created)
{
	enum db_rc	 rc;

	rc = db_llmprice_set(r, in, out, created);
	if (rc == DB_CONFLICT)
		return acct_fail(f, 409, "limit_reached", arena_printf(
		    &r->arena, "An organization sets at most %d prices: "
		    "delete one first.", LLMPRICE_CAP), "model");
	if (rc == DB_OK)
		rc = db_audit_add(r, "llm_price.set", out->price_id,
		    llmprice_audit(r, out));
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/* Remove a price of the tenant, audited; 404 for none or another's. */
int
llmprice_delete(struct req *r, struct fail *f, const char *price_id,
    struct llmprice *out)
{
	enum db_rc	 rc;

	rc = valid_uuid(price_id) ? db_llmprice_delete(r, price_id, out) :
	    DB_NOTFOUND;
	if (rc == DB_NOTFOUND)
		return acct_fail(f, 404, "not_found", "There is no such price.",
		    NULL);
	if (rc == DB_OK)
		rc = db_audit_add(r, "llm_price.deleted", out->price_id,
		    llmprice_audit(r, out));
	if (rc != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}
