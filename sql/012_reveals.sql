-- Tollgate 012: secrets shown once, after a redirect.  A portal form
-- that creates a secret (an API key, an invitation link) answers with a
-- redirect, so a reload never sends it again; the page it leads to must
-- still show the secret, once.  It waits here, sealed by the application
-- under a key bound to the session and the tenant, for at most ten
-- minutes, and is deleted as it is read.  It never travels in a cookie
-- or a URL.
CREATE TABLE reveals (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	reveal_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	session_id	uuid NOT NULL,
	sealed		bytea NOT NULL,
	expires_at	timestamptz NOT NULL
			    DEFAULT now() + interval '10 minutes',
	PRIMARY KEY (tenant_id, reveal_id)
);
ALTER TABLE reveals ENABLE ROW LEVEL SECURITY;
ALTER TABLE reveals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reveals
	USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
CREATE POLICY auth_lookup ON reveals TO tollgate_auth USING (true);
GRANT SELECT, DELETE ON reveals TO tollgate_auth;

-- Unread secrets are deleted by the worker once they expire.
CREATE FUNCTION work_prune_reveals()
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	DELETE FROM reveals WHERE expires_at < now();
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION work_prune_reveals() OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION work_prune_reveals() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION work_prune_reveals() TO tollgate_app;
