-- Tollgate 017: the stored secrets, for `tollgate admin keys rotate`
-- (SPEC 9; fcgi/vault.c, fcgi/db-vault.c).
--
-- vault_columns is the one list of the columns that hold Fernet tokens
-- under TOLLGATE_ENCRYPTION_KEY: the rotation reads it and knows no
-- table of its own.  A table listed has a tenant_id uuid, an id column
-- of type uuid, row-level security by tenant, and a policy auth_lookup
-- TO tollgate_auth USING (true) with SELECT granted to tollgate_auth,
-- so that vault_list() sees every tenant's rows.  A migration adding
-- one (channel tokens, Slack webhook URLs) inserts its row here.
CREATE TABLE vault_columns (
	table_name	text NOT NULL,
	id_column	text NOT NULL,
	column_name	text NOT NULL,
	PRIMARY KEY (table_name, column_name)
);
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON vault_columns FROM tollgate_app;
GRANT SELECT ON vault_columns TO tollgate_auth;
INSERT INTO vault_columns VALUES ('tenant_llm_keys', 'key_id', 'ciphertext');

-- The registered column, or an error: the names come from the caller.
CREATE FUNCTION vault_column(p_table text, p_column text)
	RETURNS vault_columns
	LANGUAGE plpgsql STABLE SET search_path = public, pg_temp
	AS $$
DECLARE
	v vault_columns;
BEGIN
	SELECT * INTO v FROM vault_columns c
	    WHERE c.table_name = p_table AND c.column_name = p_column;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'not a stored secret: %.%', p_table, p_column
		    USING ERRCODE = '22023';
	END IF;
	RETURN v;
END $$;

-- A batch of one column's tokens across tenants, in (tenant, id) order
-- after the given pair (the nil uuid twice for the first batch).  The
-- rotation then replaces each under its own tenant (vault_replace).
CREATE FUNCTION vault_list(p_table text, p_column text, p_after_tenant uuid,
    p_after_id uuid, p_limit integer)
	RETURNS TABLE (tenant_id uuid, id uuid, token text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = public, pg_temp
	AS $$
DECLARE
	v vault_columns := vault_column(p_table, p_column);
BEGIN
	RETURN QUERY EXECUTE format('SELECT t.tenant_id, t.%1$I, t.%2$I '
	    'FROM %3$I t WHERE t.%2$I IS NOT NULL AND (t.tenant_id, t.%1$I) > '
	    '($1, $2) ORDER BY t.tenant_id, t.%1$I LIMIT $3', v.id_column,
	    v.column_name, v.table_name)
	    USING p_after_tenant, p_after_id, p_limit;
END $$;

-- Replace the bound tenant's token of a row by p_new only if it still
-- is p_old (what the rotation read): a writer that came in between is
-- never overwritten.  False when the row changed or went.
CREATE FUNCTION vault_replace(p_table text, p_column text, p_id uuid,
    p_old text, p_new text)
	RETURNS boolean
	LANGUAGE plpgsql SET search_path = public, pg_temp
	AS $$
DECLARE
	v vault_columns := vault_column(p_table, p_column);
	n bigint;
BEGIN
	EXECUTE format('UPDATE %3$I SET %2$I = $1 WHERE tenant_id = '
	    'app_tenant() AND %1$I = $2 AND %2$I = $3', v.id_column,
	    v.column_name, v.table_name) USING p_new, p_id, p_old;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n > 0;
END $$;

-- The bound tenant's token of a row, locked until the transaction ends
-- (after vault_replace() found it changed); NULL when the row went.
CREATE FUNCTION vault_lock(p_table text, p_column text, p_id uuid)
	RETURNS text
	LANGUAGE plpgsql SET search_path = public, pg_temp
	AS $$
DECLARE
	v vault_columns := vault_column(p_table, p_column);
	tok text;
BEGIN
	EXECUTE format('SELECT %2$I FROM %3$I WHERE tenant_id = app_tenant() '
	    'AND %1$I = $1 FOR UPDATE', v.id_column, v.column_name,
	    v.table_name) INTO tok USING p_id;
	RETURN tok;
END $$;

CREATE POLICY auth_lookup ON tenant_llm_keys TO tollgate_auth USING (true);
GRANT SELECT ON tenant_llm_keys TO tollgate_auth;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION vault_list(text, text, uuid, uuid, integer)
	OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION vault_list(text, text, uuid, uuid, integer)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vault_list(text, text, uuid, uuid, integer)
	TO tollgate_app;
