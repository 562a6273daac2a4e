/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The route table: one entry per route, indexed by enum route_id, with
 * its method, path pattern ("{name}" matches one segment), the kind of
 * authentication it needs, the body it takes and how errors are shown.
 * Dispatch is a lookup in this table.
 */
#include "config.h"

#include <string.h>

#include "tollgate.h"

const struct route	routes[ROUTE__MAX] = {
	/* Liveness and database reachability, for monitors. */
	[ROUTE_HEALTH] = { "GET", "/api/v1/health", AUTH_NONE, BODY_NONE,
	    RESP_API, api_health },
};

/* Length of the segment starting at s (up to '/' or the end). */
static size_t
route_seglen(const char *s)
{
	const char	*e = strchr(s, '/');

	return e == NULL ? strlen(s) : (size_t)(e - s);
}

/*
 * Match one pattern against a path.  On success the "{...}" segments
 * are copied into params (from the arena).
 */
static int
route_match_path(const char *pat, const char *path, struct arena *a,
    const char **params, size_t *nparams)
{
	size_t	 pl, sl, n = 0;

	if (*pat != '/' || *path != '/')
		return 0;
	for (;;) {
		pat++;
		path++;
		pl = route_seglen(pat);
		sl = route_seglen(path);
		if (pl > 1 && pat[0] == '{' && pat[pl - 1] == '}') {
			if (sl == 0 || n == REQ_PATH_SEGS)
				return 0;
			if (a != NULL)
				params[n] = arena_strndup(a, path, sl);
			n++;
		} else if (pl != sl || memcmp(pat, path, pl) != 0)
			return 0;
		pat += pl;
		path += sl;
		if (*pat == '\0' || *path == '\0')
			break;
	}
	if (*pat != '\0' || *path != '\0')
		return 0;
	*nparams = n;
	return 1;
}

/*
 * Find the route for method and path.  When the path exists under other
 * methods only, "allow" receives them ("GET, POST") for the 405 answer.
 * HEAD is answered as GET.
 */
enum route_match
route_lookup(const char *method, const char *path, int *id,
    const char **params, size_t *nparams, struct arena *a, char *allow,
    size_t allowsz)
{
	enum route_match	 m = ROUTE_NO_PATH;
	const char		*want;
	size_t			 i, n, used = 0;

	want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	if (allowsz > 0)
		allow[0] = '\0';
	for (i = 0; i < ROUTE__MAX; i++) {
		if (!route_match_path(routes[i].pattern, path, NULL, NULL, &n))
			continue;
		if (strcmp(routes[i].method, want) == 0) {
			route_match_path(routes[i].pattern, path, a, params,
			    nparams);
			*id = (int)i;
			return ROUTE_FOUND;
		}
		m = ROUTE_NO_METHOD;
		if (allowsz > 0 && strstr(allow, routes[i].method) == NULL) {
			n = strlen(routes[i].method);
			if (used + n + 3 < allowsz) {
				if (used > 0) {
					memcpy(allow + used, ", ", 2);
					used += 2;
				}
				memcpy(allow + used, routes[i].method, n + 1);
				used += n;
			}
		}
	}
	return m;
}

void
route_dispatch(struct req *r)
{
	routes[r->route].handler(r);
}
