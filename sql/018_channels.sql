-- Tollgate 018: channels, Slack and WhatsApp (SPEC 9).
--
-- A connection is one place an agent talks through: a Slack channel of
-- a workspace the tenant installed the app to (external_id the team id,
-- target_id the channel id), or a WhatsApp Business phone number
-- (external_id the phone number id).  Connecting the same one again
-- replaces its token (a reinstall), so the pair is unique per tenant.
-- The token is only ever stored as a Fernet token under
-- TOLLGATE_ENCRYPTION_KEY (fcgi/fernet.c), and is a stored secret of
-- vault_columns.  The number of connections is the plan's channels
-- quota, counted under the tenant row's lock (fcgi/db-channel.c).
CREATE TABLE channel_connections (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	channel_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	kind		text NOT NULL CHECK (kind IN ('slack', 'whatsapp')),
	external_id	text NOT NULL CHECK (external_id ~ '^[A-Za-z0-9]{1,64}$'),
	target_id	text NOT NULL DEFAULT '' CHECK (target_id ~
			    '^[A-Za-z0-9]{0,64}$'),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	target		text CHECK (length(target) <= 200),
	agent_id	uuid,
	token		text NOT NULL CHECK (token ~ '^gAAAAA[A-Za-z0-9_=-]+$'),
	status		text NOT NULL DEFAULT 'connected' CHECK (status IN
			    ('connected', 'failing')),
	status_detail	text CHECK (length(status_detail) <= 200),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	last_test_at	timestamptz,
	PRIMARY KEY (tenant_id, channel_id),
	UNIQUE (tenant_id, kind, external_id, target_id),
	FOREIGN KEY (tenant_id, agent_id) REFERENCES agents
	    ON DELETE SET NULL (agent_id)
);

ALTER TABLE channel_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE channel_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON channel_connections
	USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
REVOKE TRUNCATE ON channel_connections FROM tollgate_app;

-- The rotation reads every tenant's tokens (sql/017).
INSERT INTO vault_columns VALUES ('channel_connections', 'channel_id', 'token');
CREATE POLICY auth_lookup ON channel_connections TO tollgate_auth
	USING (true);
GRANT SELECT ON channel_connections TO tollgate_auth;

-- The nonces of OAuth states handed out (fcgi/oauth.c): a state is good
-- once, while its nonce is here and not expired.  The callback deletes
-- the row it uses.
CREATE TABLE oauth_nonces (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	nonce		text NOT NULL CHECK (nonce ~ '^[A-Za-z0-9_-]{43}$'),
	expires_at	timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, nonce)
);

ALTER TABLE oauth_nonces ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_nonces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oauth_nonces
	USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
REVOKE TRUNCATE ON oauth_nonces FROM tollgate_app;

-- A new nonce for the bound tenant, valid p_seconds.  The tenant's
-- expired ones go first; more than 50 outstanding at once is refused
-- (TG429), so a loop on the install route cannot grow the table.
CREATE FUNCTION oauth_nonce_new(p_nonce text, p_seconds integer)
	RETURNS void
	LANGUAGE plpgsql SET search_path = public, pg_temp
	AS $$
BEGIN
	DELETE FROM oauth_nonces WHERE tenant_id = app_tenant() AND
	    expires_at <= now();
	IF (SELECT count(*) FROM oauth_nonces
	    WHERE tenant_id = app_tenant()) >= 50 THEN
		RAISE EXCEPTION 'too many connections started'
		    USING ERRCODE = 'TG429', DETAIL = 'rate_limited';
	END IF;
	INSERT INTO oauth_nonces (tenant_id, nonce, expires_at)
	    VALUES (app_tenant(), p_nonce, now() + make_interval(
	    secs => p_seconds));
END $$;
