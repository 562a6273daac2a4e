-- Tollgate 023: gateway_key_used() (sql/021) in PL/pgSQL.  As an SQL
-- function its UPDATE was parsed and planned again on every call (a
-- quarter of a millisecond of each settlement, most often to write
-- nothing); PL/pgSQL keeps the plan for the session.
CREATE OR REPLACE FUNCTION gateway_key_used(p_key uuid)
	RETURNS void
	LANGUAGE plpgsql
	AS $$
BEGIN
	UPDATE tenant_llm_keys SET last_used_at = now(),
	    status = 'working', status_detail = NULL,
	    status_at = CASE WHEN status = 'working' THEN status_at ELSE now()
	    END
	    WHERE tenant_id = app_tenant() AND key_id = p_key AND
	    (status <> 'working' OR last_used_at IS NULL OR
	    last_used_at < now() - interval '1 minute');
END $$;
