/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * GET /api/v1/health: for load balancers and monitors.  It always goes
 * to the database, so "ok" means this responder can serve requests.
 * GET /api/v1/metrics: the counters of metrics.c, for Prometheus.
 */
#include "config.h"

#include <json-c/json.h>

#include "tollgate.h"

void
api_health(struct req *r)
{
	struct json_object	*o;
	int			 up;

	up = db_ping(r) == DB_OK;
	o = json_object_new_object();
	json_object_object_add(o, "status",
	    json_object_new_string(up ? "ok" : "degraded"));
	json_object_object_add(o, "version",
	    json_object_new_string(TOLLGATE_VERSION));
	json_object_object_add(o, "database",
	    json_object_new_string(up ? "ok" : "down"));
	if (!up)
		req_header(r, "Retry-After", "5");
	req_json(r, up ? 200 : 503, o);
}

/*
 * GET /api/v1/metrics: the responders' counters for Prometheus, served
 * to the addresses of TOLLGATE_METRICS_ALLOW or with the bearer token
 * TOLLGATE_METRICS_TOKEN (auth.c).
 */
void
api_metrics(struct req *r)
{
	buf_reset(&r->out);
	if (metrics_render(&r->out) == -1) {
		req_error(r, 503, NULL, "metrics_unavailable",
		    "The metrics are not available in this process.", NULL);
		return;
	}
	r->status = 200;
	r->content_type_out = "text/plain; version=0.0.4; charset=utf-8";
}
