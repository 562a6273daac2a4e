-- Tollgate 001: the application's privileges and the tenant helper.
--
-- Migrations run as the owner role.  The application connects as a
-- login role that is a member of tollgate_app and owns nothing, so
-- row-level security applies to it (owners bypass it unless forced).
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tollgate_app')
	THEN
		CREATE ROLE tollgate_app NOLOGIN;
	END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO tollgate_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
	GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tollgate_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
	GRANT USAGE, SELECT ON SEQUENCES TO tollgate_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
	GRANT EXECUTE ON FUNCTIONS TO tollgate_app;

-- The tenant of the current transaction, set by the application with
-- set_config('tollgate.tenant_id', $1, true); NULL (no rows) when unset.
CREATE FUNCTION app_tenant() RETURNS uuid
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$ SELECT nullif(current_setting('tollgate.tenant_id', true), '')::uuid $$;
