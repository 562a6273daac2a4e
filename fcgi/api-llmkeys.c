/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /llm-keys (SPEC 9): list by hint, add, delete.  The key itself is
 * never answered, and the request's copies of it (the parsed body and
 * the raw one) are wiped once it is sealed.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "tollgate.h"

static struct json_object *
api_llmkey_json(const struct llmkey *k)
{
	struct json_object	*o = json_object_new_object();

	api_str(o, "id", k->key_id);
	api_str(o, "provider", k->provider);
	api_str(o, "label", k->label);
	api_str(o, "key_hint", k->key_hint);
	api_str(o, "created_at", k->created_at);
	api_str(o, "last_used_at", k->last_used_at);
	/*
	 * A token neither key opens (altered, or the key lost), or a key
	 * the provider refused at the gateway's last call: say so.
	 */
	api_str(o, "status", !vault_usable(k->ciphertext) ? "unusable" :
	    k->status != NULL ? k->status : "working");
	api_str(o, "status_detail", k->status_detail);
	return o;
}

/* GET /llm-keys */
void
api_llmkeys_list(struct req *r)
{
	struct json_object	*data;
	struct llmkey		*k;
	size_t			 n, i;
	enum db_rc		 rc;

	if ((rc = db_llmkey_list(r, &k, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, api_llmkey_json(&k[i]));
	api_list(r, data, 0);
}

/* POST /llm-keys {provider, api_key, label?} */
void
api_llmkeys_add(struct req *r)
{
	struct vvalue		 v[VOP_FIELDS_MAX];
	struct llmkey_room	 room;
	struct llmkey		 k;
	struct fail		 f;
	int			 rc;

	if (api_input(r, VOP_LLMKEY_ADD, v) == -1) {
		OPENSSL_cleanse(r->body.p, r->body.len);
		return;
	}
	/* The value is the parsed body's own string: sealed, then wiped. */
	rc = llmkey_add(r, &f, v[0].s, v[2].present ? v[2].s : NULL,
	    (char *)(uintptr_t)v[1].s, &k, &room);
	OPENSSL_cleanse(r->body.p, r->body.len);
	if (rc == -1) {
		api_quota_answer(r, &f, "llm_providers", room.limit, room.used);
		return;
	}
	req_json(r, 201, api_llmkey_json(&k));
}

/* DELETE /llm-keys/{id} */
void
api_llmkeys_delete(struct req *r)
{
	struct fail	 f;

	if (llmkey_delete(r, &f, r->path_params[0]) == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}
