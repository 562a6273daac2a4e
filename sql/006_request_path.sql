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
-- transaction), so the statements that follow, in the same round trip,
-- run under row-level security for it (the tenant's row is read by the
-- next statement of the pipeline, as the application's role).  No row:
-- the key is unknown or revoked.  last_used_at moves at most once a
-- minute, so a busy key does not write every time.
CREATE FUNCTION auth_bind_key(p_hash bytea, p_tenant uuid)
	RETURNS TABLE (kind text, key_id uuid, scopes text[], bound uuid)
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
DECLARE
	v_stale	boolean;
	v_set	text;
BEGIN
	-- One statement on the hot path: a plpgsql statement costs an
	-- executor start, and this runs for every API request.
	SELECT k.kind, k.key_id, k.scopes, t.tenant_id, k.stale,
	    set_config('tollgate.tenant_id', coalesce(t.tenant_id::text, ''),
	    true)
	    INTO kind, key_id, scopes, bound, v_stale, v_set
	    FROM (SELECT 'tenant' AS kind, a.key_id, a.scopes,
	        a.tenant_id AS tid, a.last_used_at IS NULL OR
	        a.last_used_at < now() - interval '1 minute' AS stale
	        FROM api_keys a WHERE a.hash = p_hash AND a.revoked_at IS NULL
	        UNION ALL
	        SELECT 'platform', p.key_id, p.scopes, p_tenant,
	        p.last_used_at IS NULL OR
	        p.last_used_at < now() - interval '1 minute'
	        FROM platform_keys p
	        WHERE p.hash = p_hash AND p.revoked_at IS NULL
	        LIMIT 1) k
	    LEFT JOIN tenants t ON t.tenant_id = k.tid;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF v_stale AND kind = 'tenant' THEN
		UPDATE api_keys a SET last_used_at = now()
		    WHERE a.key_id = auth_bind_key.key_id;
	ELSIF v_stale THEN
		UPDATE platform_keys p SET last_used_at = now()
		    WHERE p.key_id = auth_bind_key.key_id;
	END IF;
	RETURN NEXT;
END $$;

GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION auth_bind_key(bytea, uuid) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION auth_bind_key(bytea, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_bind_key(bytea, uuid) TO tollgate_app;
