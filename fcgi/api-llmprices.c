/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * /llm-prices: the organization's own prices of models, in micro-USD per
 * million tokens, which take the place of the platform's (model_prices)
 * at the gateway and for POST /usage/events: a self-hosted model behind
 * the custom provider's base URL, or a negotiated rate.  A model with
 * neither price is refused, never priced by a guess.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "tollgate.h"

/* GET /llm-prices */
void
api_llmprices_list(struct req *r)
{
	struct json_object	*data;
	struct llmprice		*p;
	size_t			 n, i;
	enum db_rc		 rc;

	if ((rc = db_llmprice_list(r, &p, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	data = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(data, llmprice_json(&p[i], 1));
	api_list(r, data, 0);
}

/*
 * PUT /llm-prices {provider, model, prompt_per_mtok, completion_per_mtok,
 * cached_per_mtok?}: 201 for a new price, 200 for one replaced.  Cached
 * input tokens cost the prompt's price unless told otherwise.
 */
void
api_llmprices_set(struct req *r)
{
	struct vvalue	 v[VOP_FIELDS_MAX];
	struct llmprice	 in, p;
	struct fail	 f;
	int		 created;

	if (api_input(r, VOP_LLM_PRICE, v) == -1)
		return;
	memset(&in, 0, sizeof(in));
	in.provider = v[0].s;
	in.model = v[1].s;
	in.prompt_per_mtok = v[2].i;
	in.completion_per_mtok = v[3].i;
	in.cached_per_mtok = v[4].present ? v[4].i : v[2].i;
	if (llmprice_set(r, &f, &in, &p, &created) == -1) {
		acct_answer(r, &f);
		return;
	}
	req_json(r, created ? 201 : 200, llmprice_json(&p, 1));
}

/* DELETE /llm-prices/{id} */
void
api_llmprices_delete(struct req *r)
{
	struct llmprice	 p;
	struct fail	 f;

	if (llmprice_delete(r, &f, r->path_params[0], &p) == -1) {
		acct_answer(r, &f);
		return;
	}
	r->status = 204;
}
