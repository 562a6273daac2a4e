-- Tollgate 005: Idempotency-Key (SPEC 5).  A creating POST that carries
-- the header stores its first successful answer for 24 hours; a replay
-- with the same key gets that answer again, the same key with another
-- request gets 409.  The stored answer is encrypted by the application
-- (it can hold a secret shown once, such as a new API key).
CREATE TABLE idempotency_keys (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	idem_key	text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
	request_hash	bytea NOT NULL,
	status		integer NOT NULL DEFAULT 0,
	response	bytea,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, idem_key)
);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
	USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
CREATE POLICY auth_lookup ON idempotency_keys TO tollgate_auth USING (true);
GRANT SELECT, DELETE ON idempotency_keys TO tollgate_auth;
REVOKE TRUNCATE ON idempotency_keys FROM tollgate_app;

-- The worker's cleanup of answers older than a day, across tenants.
CREATE FUNCTION work_prune_idempotency()
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	DELETE FROM idempotency_keys
	    WHERE created_at < now() - interval '24 hours';
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION work_prune_idempotency() OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION work_prune_idempotency() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION work_prune_idempotency() TO tollgate_app;
