-- Tollgate 006: the request path in fewer round trips.
--
-- plan_effective() is the one place the subscription status decides the
-- plan whose entitlements apply (SPEC 4): active and trialing keep the
-- plan, past_due keeps it for the grace period, anything else is free.
-- The grace period is configuration (TOLLGATE_PAST_DUE_GRACE_DAYS),
-- which every connection of the application sets as the custom setting
-- tollgate.past_due_grace_days; a connection without it fails here
-- rather than guess.  A plain SQL function: the planner inlines it into
-- the statements that call it, whose plans stay cached.
CREATE FUNCTION plan_effective(p_plan text, p_status text,
    p_past_due_since timestamptz)
	RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT CASE
	    WHEN p_status IN ('active', 'trialing') THEN p_plan
	    WHEN p_status = 'past_due' AND p_past_due_since > now() -
	        make_interval(days =>
	        current_setting('tollgate.past_due_grace_days')::integer)
	        THEN p_plan
	    ELSE 'free' END
$$;

-- A presented API key, identified and bound in one statement: a tenant
-- key binds its own tenant, a platform key the tenant it names (when
-- that exists).  The transaction's tenant is set here (local to the
-- transaction), so statements that follow run under row-level security
-- for it, and the bound tenant's row comes back with the key, with its
-- effective plan, rate limit and seat quota: a route that needs nothing
-- more answers after this one statement.  No row: the key is unknown or
-- revoked.  last_used_at moves at most once a minute, so a busy key
-- does not write every time.
CREATE FUNCTION auth_bind_key(p_hash bytea, p_tenant uuid)
	RETURNS TABLE (kind text, key_id uuid, scopes text[], bound uuid,
	    name text, plan text, plan_name text, status text, seats integer,
	    rate_limit integer, rate_per_seat boolean, seat_limit bigint,
	    created_at text)
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
DECLARE
	v_stale	boolean;
	v_set	text;
BEGIN
	-- One statement on the hot path: a plpgsql statement costs an
	-- executor start, and this runs for every API request.
	SELECT k.kind, k.key_id, k.scopes, t.tenant_id, t.name, t.plan,
	    p.name, t.status, t.seats, p.rate_limit, p.rate_per_seat,
	    (SELECT q.included FROM plan_quotas q WHERE q.plan = p.plan
	      AND q.metric = 'seats'),
	    to_char(t.created_at AT TIME ZONE 'UTC',
	      'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	    k.stale,
	    set_config('tollgate.tenant_id', coalesce(t.tenant_id::text, ''),
	      true)
	    INTO kind, key_id, scopes, bound, name, plan, plan_name, status,
	    seats, rate_limit, rate_per_seat, seat_limit, created_at, v_stale,
	    v_set
	    FROM (SELECT 'tenant' AS kind, a.key_id, a.scopes,
	        a.tenant_id AS tid, a.last_used_at IS NULL OR
	        a.last_used_at < now() - interval '1 minute' AS stale
	        FROM api_keys a WHERE a.hash = p_hash AND a.revoked_at IS NULL
	        UNION ALL
	        SELECT 'platform', pk.key_id, pk.scopes, p_tenant,
	        pk.last_used_at IS NULL OR
	        pk.last_used_at < now() - interval '1 minute'
	        FROM platform_keys pk
	        WHERE pk.hash = p_hash AND pk.revoked_at IS NULL
	        LIMIT 1) k
	    LEFT JOIN tenants t ON t.tenant_id = k.tid
	    LEFT JOIN plans p ON p.plan = plan_effective(t.plan, t.status,
	        t.past_due_since);
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF v_stale AND kind = 'tenant' THEN
		UPDATE api_keys a SET last_used_at = now()
		    WHERE a.key_id = auth_bind_key.key_id;
	ELSIF v_stale THEN
		UPDATE platform_keys pk SET last_used_at = now()
		    WHERE pk.key_id = auth_bind_key.key_id;
	END IF;
	RETURN NEXT;
END $$;

GRANT SELECT ON plans, plan_quotas TO tollgate_auth;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION auth_bind_key(bytea, uuid) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION auth_bind_key(bytea, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_bind_key(bytea, uuid) TO tollgate_app;
