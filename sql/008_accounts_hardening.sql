-- Tollgate 008: accounts hardening (issue 7).
--
-- One form of an e-mail address: the application stores, looks up and
-- keys its limits by the address with its ASCII letters lower-cased
-- (non-ASCII addresses are refused).  Rows stored before keep their
-- case; they are brought to that form here.  The unique index on
-- lower(email) guarantees no two rows collide.
UPDATE users SET email = lower(email) WHERE email <> lower(email);
ALTER TABLE invitations NO FORCE ROW LEVEL SECURITY;
UPDATE invitations SET email = lower(email) WHERE email <> lower(email);
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;

-- A portal session made before the user's last password change is dead,
-- whether or not the change's revocation reached it (a sign-in that
-- raced the change).  The cut-off is users.password_changed_at, taken
-- from the clock when the change locked the user's row.
CREATE OR REPLACE FUNCTION auth_session(p_hash bytea, p_idle interval)
	RETURNS TABLE (tenant_id uuid, session_id uuid, user_id uuid)
	LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	UPDATE portal_sessions s SET last_seen_at = now()
	FROM users u
	WHERE s.hash = p_hash AND s.revoked_at IS NULL
	    AND s.expires_at > now() AND s.last_seen_at > now() - p_idle
	    AND u.user_id = s.user_id AND s.created_at >= u.password_changed_at
	RETURNING s.tenant_id, s.session_id, s.user_id $$;

-- A new sign-in in a browser ends the session that browser had.
CREATE FUNCTION auth_session_end(p_hash bytea)
	RETURNS void
	LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	UPDATE portal_sessions SET revoked_at = now()
	WHERE hash = p_hash AND revoked_at IS NULL $$;

GRANT SELECT ON users TO tollgate_auth;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION auth_session_end(bytea) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION auth_session_end(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_session_end(bytea) TO tollgate_app;
