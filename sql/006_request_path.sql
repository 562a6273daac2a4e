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
-- next statement of the pipeline, as the application's role).  No row: the key is unknown or revoked.  last_used_at
-- moves at most once a minute, so a busy key does not write every time.
CREATE FUNCTION auth_bind_key(p_hash bytea, p_tenant uuid)
	RETURNS TABLE (kind text, key_id uuid, scopes text[], bound uuid)
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
BEGIN
	SELECT 'tenant', k.key_id, k.scopes, k.tenant_id
	    INTO kind, key_id, scopes, bound
	    FROM api_keys k WHERE k.hash = p_hash AND k.revoked_at IS NULL;
	IF FOUND THEN
		UPDATE api_keys k SET last_used_at = now()
		    WHERE k.key_id = auth_bind_key.key_id AND
		    (k.last_used_at IS NULL OR
		    k.last_used_at < now() - interval '1 minute');
	ELSE
		SELECT 'platform', k.key_id, k.scopes INTO kind, key_id, scopes
		    FROM platform_keys k
		    WHERE k.hash = p_hash AND k.revoked_at IS NULL;
		IF NOT FOUND THEN
			RETURN;
		END IF;
		UPDATE platform_keys k SET last_used_at = now()
		    WHERE k.key_id = auth_bind_key.key_id AND
		    (k.last_used_at IS NULL OR
		    k.last_used_at < now() - interval '1 minute');
		SELECT t.tenant_id INTO bound FROM tenants t
		    WHERE t.tenant_id = p_tenant;
	END IF;
	IF bound IS NOT NULL THEN
		PERFORM set_config('tollgate.tenant_id', bound::text, true);
	END IF;
	RETURN NEXT;
END $$;

GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION auth_bind_key(bytea, uuid) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION auth_bind_key(bytea, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_bind_key(bytea, uuid) TO tollgate_app;
