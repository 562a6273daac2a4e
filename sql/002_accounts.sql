-- Tollgate 002: plans, tenants, users, memberships, tokens, keys,
-- sessions, invitations and the audit trail.
--
-- Tenant tables carry tenant_id first in their primary key and in every
-- unique constraint (the layout Citus needs to distribute by tenant),
-- and have row-level security enabled and forced: the application sees
-- only the rows of the tenant set for the transaction (app_tenant()).
-- The few lookups that must happen before the tenant is known (a token
-- or key presented by hash) go through SECURITY DEFINER functions that
-- return exactly the row asked for and nothing else.

-- The plan catalogue (reference tables, filled by 003_catalogue.sql).
CREATE TABLE plans (
	plan		text PRIMARY KEY CHECK (plan ~ '^[a-z][a-z0-9_]{0,31}$'),
	name		text NOT NULL,
	price_cents	bigint NOT NULL CHECK (price_cents >= 0),
	per_seat	boolean NOT NULL DEFAULT false,
	trial_days	integer NOT NULL DEFAULT 0 CHECK (trial_days >= 0),
	rate_limit	integer NOT NULL CHECK (rate_limit > 0),
	rate_per_seat	boolean NOT NULL DEFAULT false,
	sort		integer NOT NULL DEFAULT 0
);

CREATE TABLE plan_features (
	plan		text NOT NULL REFERENCES plans ON DELETE CASCADE,
	feature		text NOT NULL,
	PRIMARY KEY (plan, feature)
);

-- included NULL means unlimited.  cap: hard, soft or metered.
CREATE TABLE plan_quotas (
	plan		text NOT NULL REFERENCES plans ON DELETE CASCADE,
	metric		text NOT NULL,
	kind		text NOT NULL CHECK (kind IN ('count', 'period')),
	included	bigint CHECK (included >= 0),
	cap		text NOT NULL CHECK (cap IN ('hard', 'soft', 'metered')),
	grace_pct	integer NOT NULL DEFAULT 0 CHECK (grace_pct >= 0),
	unit_price_micros bigint CHECK (unit_price_micros >= 0),
	price_unit	bigint NOT NULL DEFAULT 1 CHECK (price_unit > 0),
	PRIMARY KEY (plan, metric)
);

CREATE TABLE tenants (
	tenant_id	uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	plan		text NOT NULL DEFAULT 'free' REFERENCES plans,
	status		text NOT NULL DEFAULT 'active' CHECK (status IN (
			    'active', 'trialing', 'past_due', 'canceled',
			    'unpaid', 'incomplete', 'incomplete_expired',
			    'paused')),
	seats		integer NOT NULL DEFAULT 1 CHECK (seats >= 1),
	stripe_customer_id text,
	stripe_subscription_id text,
	trial_end	timestamptz,
	current_period_start timestamptz,
	current_period_end timestamptz,
	cancel_at_period_end boolean NOT NULL DEFAULT false,
	past_due_since	timestamptz,
	had_trial	boolean NOT NULL DEFAULT false,
	stripe_event_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- Users are global: one person may belong to several tenants.
CREATE TABLE users (
	user_id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email		text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
	name		text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
	password_hash	text NOT NULL,
	password_changed_at timestamptz NOT NULL DEFAULT now(),
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE memberships (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	user_id		uuid NOT NULL REFERENCES users ON DELETE CASCADE,
	role		text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE refresh_tokens (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	token_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES users ON DELETE CASCADE,
	family		uuid NOT NULL,
	hash		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	rotated_at	timestamptz,
	rotated_to	uuid,
	revoked_at	timestamptz,
	PRIMARY KEY (tenant_id, token_id)
);
CREATE INDEX refresh_tokens_hash ON refresh_tokens (hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family);

CREATE TABLE api_keys (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	key_id		uuid NOT NULL DEFAULT gen_random_uuid(),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	prefix		text NOT NULL,
	hash		bytea NOT NULL,
	scopes		text[] NOT NULL,
	created_by	uuid REFERENCES users ON DELETE SET NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_used_at	timestamptz,
	revoked_at	timestamptz,
	PRIMARY KEY (tenant_id, key_id)
);
CREATE INDEX api_keys_hash ON api_keys (hash);

-- Platform keys belong to the platform, not to a tenant: the agent
-- runners use them to act for the tenant named in each request.
CREATE TABLE platform_keys (
	key_id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	prefix		text NOT NULL,
	hash		bytea NOT NULL UNIQUE,
	scopes		text[] NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_used_at	timestamptz,
	revoked_at	timestamptz
);

CREATE TABLE portal_sessions (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	session_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES users ON DELETE CASCADE,
	hash		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_seen_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	revoked_at	timestamptz,
	PRIMARY KEY (tenant_id, session_id)
);
CREATE INDEX portal_sessions_hash ON portal_sessions (hash);

CREATE TABLE invitations (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	invitation_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	email		text NOT NULL,
	role		text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
	hash		bytea NOT NULL,
	invited_by	uuid REFERENCES users ON DELETE SET NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	accepted_at	timestamptz,
	revoked_at	timestamptz,
	PRIMARY KEY (tenant_id, invitation_id)
);
CREATE INDEX invitations_hash ON invitations (hash);

CREATE TABLE audit_events (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	event_id	bigint GENERATED ALWAYS AS IDENTITY,
	at		timestamptz NOT NULL DEFAULT now(),
	actor_user_id	uuid,
	actor_key_id	uuid,
	actor		text NOT NULL,
	action		text NOT NULL,
	target		text,
	ip		text,
	request_id	text,
	details		jsonb NOT NULL DEFAULT '{}',
	PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX audit_events_at ON audit_events (tenant_id, at DESC);

-- Row-level security on every tenant table.
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['tenants', 'memberships', 'refresh_tokens',
	    'api_keys', 'portal_sessions', 'invitations', 'audit_events']
	LOOP
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY tenant_isolation ON %I '
		    'USING (tenant_id = app_tenant()) '
		    'WITH CHECK (tenant_id = app_tenant())', t);
	END LOOP;
END
$$;

-- The audit trail is append-only for the application.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM tollgate_app;
-- Catalogue tables are read-only for the application.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON plans, plan_features, plan_quotas
	FROM tollgate_app;
REVOKE TRUNCATE ON tenants, users, memberships, refresh_tokens, api_keys,
	platform_keys, portal_sessions, invitations FROM tollgate_app;

-- tollgate_auth: the one role that sees across tenants, with no login,
-- used only as the owner of the narrow SECURITY DEFINER lookups below
-- (a forced policy binds even a table's owner, so the lookups cannot
-- simply run as the migration owner).
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tollgate_auth')
	THEN
		CREATE ROLE tollgate_auth NOLOGIN;
	END IF;
END
$$;
GRANT tollgate_auth TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO tollgate_auth;
GRANT SELECT ON tenants, memberships, invitations TO tollgate_auth;
GRANT SELECT, UPDATE, DELETE ON refresh_tokens, portal_sessions, api_keys,
	platform_keys TO tollgate_auth;
GRANT DELETE ON invitations TO tollgate_auth;
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['tenants', 'memberships', 'refresh_tokens',
	    'api_keys', 'portal_sessions', 'invitations']
	LOOP
		EXECUTE format('CREATE POLICY auth_lookup ON %I TO tollgate_auth '
		    'USING (true)', t);
	END LOOP;
END
$$;

-- Which tenants a user belongs to (login picks one), oldest first.
CREATE FUNCTION auth_user_tenants(p_user uuid)
	RETURNS TABLE (tenant_id uuid, role text, tenant_name text)
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	SELECT m.tenant_id, m.role, t.name FROM memberships m
	JOIN tenants t USING (tenant_id)
	WHERE m.user_id = p_user ORDER BY m.created_at, m.tenant_id $$;

-- A refresh token presented by hash: its tenant and id, whatever its
-- state (the caller decides, inside the tenant's transaction).
CREATE FUNCTION auth_refresh_token(p_hash bytea)
	RETURNS TABLE (tenant_id uuid, token_id uuid)
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	SELECT tenant_id, token_id FROM refresh_tokens WHERE hash = p_hash $$;

-- An API key presented by hash: tenant keys and platform keys alike.
-- last_used_at is written at most once a minute per key.
CREATE FUNCTION auth_api_key(p_hash bytea)
	RETURNS TABLE (kind text, tenant_id uuid, key_id uuid, scopes text[])
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT 'tenant'::text, k.tenant_id, k.key_id, k.scopes
	    FROM api_keys k WHERE k.hash = p_hash AND k.revoked_at IS NULL;
	IF FOUND THEN
		UPDATE api_keys k SET last_used_at = now() WHERE k.hash = p_hash
		    AND (k.last_used_at IS NULL OR
		    k.last_used_at < now() - interval '1 minute');
		RETURN;
	END IF;
	RETURN QUERY SELECT 'platform'::text, NULL::uuid, k.key_id, k.scopes
	    FROM platform_keys k WHERE k.hash = p_hash AND k.revoked_at IS NULL;
	IF FOUND THEN
		UPDATE platform_keys k SET last_used_at = now()
		    WHERE k.hash = p_hash AND (k.last_used_at IS NULL OR
		    k.last_used_at < now() - interval '1 minute');
	END IF;
END $$;

-- A portal session presented by hash, if live: idle for less than
-- p_idle and not past its absolute expiry.  Touches last_seen_at.
CREATE FUNCTION auth_session(p_hash bytea, p_idle interval)
	RETURNS TABLE (tenant_id uuid, session_id uuid, user_id uuid)
	LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	UPDATE portal_sessions s SET last_seen_at = now()
	WHERE s.hash = p_hash AND s.revoked_at IS NULL
	    AND s.expires_at > now() AND s.last_seen_at > now() - p_idle
	RETURNING s.tenant_id, s.session_id, s.user_id $$;

-- An invitation presented by hash (pending or not: the caller decides).
CREATE FUNCTION auth_invitation(p_hash bytea)
	RETURNS TABLE (tenant_id uuid, invitation_id uuid)
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	SELECT tenant_id, invitation_id FROM invitations WHERE hash = p_hash $$;

-- Everything about a user across tenants, for the worker's cleanup
-- and for "revoke all sessions of this user" after a password change.
CREATE FUNCTION auth_revoke_user(p_user uuid)
	RETURNS void
	LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	UPDATE portal_sessions SET revoked_at = now()
	    WHERE user_id = p_user AND revoked_at IS NULL;
	UPDATE refresh_tokens SET revoked_at = now()
	    WHERE user_id = p_user AND revoked_at IS NULL $$;

-- The worker's cleanup across tenants: expired sessions, tokens and
-- invitations older than a week past their end.  Returns rows removed.
CREATE FUNCTION work_prune_auth()
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
DECLARE
	n bigint := 0;
	m bigint;
BEGIN
	DELETE FROM portal_sessions WHERE expires_at < now() - interval '7 days'
	    OR revoked_at < now() - interval '7 days';
	GET DIAGNOSTICS m = ROW_COUNT; n := n + m;
	DELETE FROM refresh_tokens WHERE expires_at < now() - interval '7 days';
	GET DIAGNOSTICS m = ROW_COUNT; n := n + m;
	DELETE FROM invitations WHERE expires_at < now() - interval '7 days'
	    AND accepted_at IS NULL;
	GET DIAGNOSTICS m = ROW_COUNT; n := n + m;
	RETURN n;
END $$;

-- Changing an owner needs the new owner to hold CREATE on the schema;
-- it needs it for that moment only.
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION auth_user_tenants(uuid) OWNER TO tollgate_auth;
ALTER FUNCTION auth_refresh_token(bytea) OWNER TO tollgate_auth;
ALTER FUNCTION auth_api_key(bytea) OWNER TO tollgate_auth;
ALTER FUNCTION auth_session(bytea, interval) OWNER TO tollgate_auth;
ALTER FUNCTION auth_invitation(bytea) OWNER TO tollgate_auth;
ALTER FUNCTION auth_revoke_user(uuid) OWNER TO tollgate_auth;
ALTER FUNCTION work_prune_auth() OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;

REVOKE ALL ON FUNCTION auth_user_tenants(uuid), auth_refresh_token(bytea),
	auth_api_key(bytea), auth_session(bytea, interval),
	auth_invitation(bytea), auth_revoke_user(uuid), work_prune_auth()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_user_tenants(uuid), auth_refresh_token(bytea),
	auth_api_key(bytea), auth_session(bytea, interval),
	auth_invitation(bytea), auth_revoke_user(uuid), work_prune_auth()
	TO tollgate_app;

-- Does a tenant exist?  Platform keys name the tenant they act for.
CREATE FUNCTION auth_tenant_exists(p_tenant uuid)
	RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$ SELECT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = p_tenant) $$;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION auth_tenant_exists(uuid) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION auth_tenant_exists(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_tenant_exists(uuid) TO tollgate_app;
