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

#define API	"/api/v1"
#define M	ROLE_MEMBER
#define A	ROLE_ADMIN
#define N	ROLE_NONE

/*
 * The last field, 1 on creating POSTs of a tenant, honours the
 * Idempotency-Key header (idem.c).
 */
const struct route	routes[ROUTE__MAX] = {
	/* Liveness and database reachability, for monitors. */
	[ROUTE_HEALTH] = { "GET", API "/health", AUTH_NONE, N, 0,
	    BODY_NONE, RESP_API, api_health },

	/* Sign-up and sign-in: limited per client address. */
	[ROUTE_AUTH_REGISTER] = { "POST", API "/auth/register", AUTH_IP, N, 0,
	    BODY_JSON, RESP_API, api_auth_register },
	[ROUTE_AUTH_LOGIN] = { "POST", API "/auth/login", AUTH_IP, N, 0,
	    BODY_JSON, RESP_API, api_auth_login },
	[ROUTE_AUTH_REFRESH] = { "POST", API "/auth/refresh", AUTH_IP, N, 0,
	    BODY_JSON, RESP_API, api_auth_refresh },
	[ROUTE_AUTH_LOGOUT] = { "POST", API "/auth/logout", AUTH_IP, N, 0,
	    BODY_JSON, RESP_API, api_auth_logout },
	[ROUTE_INVITATIONS_ACCEPT] = { "POST", API "/invitations/accept",
	    AUTH_IP, N, 0, BODY_JSON, RESP_API, api_invitations_accept },

	/* The caller: a user, or an API key (any scope). */
	[ROUTE_AUTH_ME] = { "GET", API "/auth/me", AUTH_API, M, 0,
	    BODY_NONE, RESP_API, api_auth_me },
	[ROUTE_AUTH_PASSWORD] = { "POST", API "/auth/password", AUTH_USER, M,
	    0, BODY_JSON, RESP_API, api_auth_password },

	/* Team: members read, admins change (owners for owners). */
	[ROUTE_MEMBERS_LIST] = { "GET", API "/members", AUTH_USER, M, 0,
	    BODY_NONE, RESP_API, api_members_list },
	[ROUTE_MEMBERS_INVITE] = { "POST", API "/members/invitations",
	    AUTH_USER, A, 0, BODY_JSON, RESP_API, api_members_invite, 1 },
	[ROUTE_MEMBERS_UPDATE] = { "PATCH", API "/members/{user_id}",
	    AUTH_USER, A, 0, BODY_JSON, RESP_API, api_members_update },
	/* Members may remove themselves (leave): checked by acct_remove. */
	[ROUTE_MEMBERS_DELETE] = { "DELETE", API "/members/{user_id}",
	    AUTH_USER, M, 0, BODY_NONE, RESP_API, api_members_delete },

	/* API keys of the tenant. */
	[ROUTE_KEYS_LIST] = { "GET", API "/api-keys", AUTH_USER, M, 0,
	    BODY_NONE, RESP_API, api_keys_list },
	[ROUTE_KEYS_CREATE] = { "POST", API "/api-keys", AUTH_USER, A, 0,
	    BODY_JSON, RESP_API, api_keys_create, 1 },
	[ROUTE_KEYS_DELETE] = { "DELETE", API "/api-keys/{id}", AUTH_USER, A,
	    0, BODY_NONE, RESP_API, api_keys_delete },

	/* The audit trail: owners and admins. */
	[ROUTE_AUDIT_LIST] = { "GET", API "/audit", AUTH_USER, A, 0,
	    BODY_NONE, RESP_API, api_audit_list },

	/* Portal: public pages, forms bound to a pre-login cookie. */
	[ROUTE_PAGE_ROOT] = { "GET", "/", AUTH_PAGE_PUBLIC, N, 0, BODY_NONE,
	    RESP_PAGE, page_root },
	[ROUTE_PAGE_LOGIN] = { "GET", "/login", AUTH_PAGE_PUBLIC, N, 0,
	    BODY_NONE, RESP_PAGE, page_login },
	[ROUTE_PAGE_LOGIN_POST] = { "POST", "/login", AUTH_PAGE_PUBLIC, N, 0,
	    BODY_FORM, RESP_PAGE, page_login_post },
	[ROUTE_PAGE_REGISTER] = { "GET", "/register", AUTH_PAGE_PUBLIC, N, 0,
	    BODY_NONE, RESP_PAGE, page_register },
	[ROUTE_PAGE_REGISTER_POST] = { "POST", "/register", AUTH_PAGE_PUBLIC,
	    N, 0, BODY_FORM, RESP_PAGE, page_register_post },
	[ROUTE_PAGE_INVITE] = { "GET", "/invite/{token}", AUTH_PAGE_PUBLIC, N,
	    0, BODY_NONE, RESP_PAGE, page_invite },
	[ROUTE_PAGE_INVITE_POST] = { "POST", "/invite/{token}",
	    AUTH_PAGE_PUBLIC, N, 0, BODY_FORM, RESP_PAGE, page_invite_post },
	[ROUTE_PAGE_PRICING] = { "GET", "/pricing", AUTH_PAGE_PUBLIC, N, 0,
	    BODY_NONE, RESP_PAGE, page_soon },

	/* Portal: signed-in pages. */
	[ROUTE_PAGE_LOGOUT] = { "POST", "/logout", AUTH_PAGE, M, 0, BODY_FORM,
	    RESP_PAGE, page_logout },
	[ROUTE_PAGE_DASHBOARD] = { "GET", "/dashboard", AUTH_PAGE, M, 0,
	    BODY_NONE, RESP_PAGE, page_dashboard },
	[ROUTE_PAGE_TEAM] = { "GET", "/team", AUTH_PAGE, M, 0, BODY_NONE,
	    RESP_PAGE, page_team },
	[ROUTE_PAGE_TEAM_INVITE] = { "POST", "/team/invite", AUTH_PAGE, A, 0,
	    BODY_FORM, RESP_PAGE, page_team_invite },
	[ROUTE_PAGE_TEAM_ROLE] = { "POST", "/team/role", AUTH_PAGE, A, 0,
	    BODY_FORM, RESP_PAGE, page_team_role },
	[ROUTE_PAGE_TEAM_REMOVE] = { "POST", "/team/remove", AUTH_PAGE, M, 0,
	    BODY_FORM, RESP_PAGE, page_team_remove },
	[ROUTE_PAGE_TEAM_REVOKE] = { "POST", "/team/revoke-invitation",
	    AUTH_PAGE, A, 0, BODY_FORM, RESP_PAGE, page_team_revoke },
	[ROUTE_PAGE_KEYS] = { "GET", "/keys", AUTH_PAGE, M, 0, BODY_NONE,
	    RESP_PAGE, page_keys },
	[ROUTE_PAGE_KEYS_CREATE] = { "POST", "/keys/api", AUTH_PAGE, A, 0,
	    BODY_FORM, RESP_PAGE, page_keys_create },
	[ROUTE_PAGE_KEYS_REVOKE] = { "POST", "/keys/api/revoke", AUTH_PAGE, A,
	    0, BODY_FORM, RESP_PAGE, page_keys_revoke },
	[ROUTE_PAGE_AUDIT] = { "GET", "/audit", AUTH_PAGE, A, 0, BODY_NONE,
	    RESP_PAGE, page_audit },

	/* Pages of later milestones: they say plainly they are not built. */
	[ROUTE_PAGE_BILLING] = { "GET", "/billing", AUTH_PAGE, M, 0,
	    BODY_NONE, RESP_PAGE, page_soon },
	[ROUTE_PAGE_USAGE] = { "GET", "/usage", AUTH_PAGE, M, 0, BODY_NONE,
	    RESP_PAGE, page_soon },
	[ROUTE_PAGE_AGENTS] = { "GET", "/agents", AUTH_PAGE, M, 0, BODY_NONE,
	    RESP_PAGE, page_soon },
	[ROUTE_PAGE_CHANNELS] = { "GET", "/channels", AUTH_PAGE, M, 0,
	    BODY_NONE, RESP_PAGE, page_soon },
	[ROUTE_PAGE_NOTIFICATIONS] = { "GET", "/settings/notifications",
	    AUTH_PAGE, M, 0, BODY_NONE, RESP_PAGE, page_soon },
};

#undef M
#undef A
#undef N

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

/* Append a method to the Allow list unless it is there already. */
static void
route_allow_add(char *allow, size_t allowsz, size_t *used, const char *method)
{
	size_t	 n = strlen(method);

	if (allowsz == 0 || strstr(allow, method) != NULL ||
	    *used + n + 3 >= allowsz)
		return;
	if (*used > 0) {
		memcpy(allow + *used, ", ", 2);
		*used += 2;
	}
	memcpy(allow + *used, method, n + 1);
	*used += n;
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
	/* Where GET is allowed, HEAD is too. */
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
		route_allow_add(allow, allowsz, &used, routes[i].method);
		if (strcmp(routes[i].method, "GET") == 0)
			route_allow_add(allow, allowsz, &used, "HEAD");
	}
	return m;
}

void
route_dispatch(struct req *r)
{
	routes[r->route].handler(r);
}
