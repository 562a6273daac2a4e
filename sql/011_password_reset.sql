-- Tollgate 011: password reset (issue 8).
--
-- The links mailed to set a new password without the old one: 256
-- random bits, stored as SHA-256 only, single use, one hour.  Using one
-- kills the user's other outstanding links.  Users are global, so the
-- links are too: no tenant_id and no row-level security, as for
-- email_verifications (009).
CREATE TABLE password_resets (
	hash		bytea PRIMARY KEY,
	user_id		uuid NOT NULL REFERENCES users ON DELETE CASCADE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id);
-- The application inserts, reads and marks links used (001's default
-- privileges); it never empties the table.
REVOKE TRUNCATE ON password_resets FROM tollgate_app;

-- The worker's cleanup also removes reset links a week past their use
-- or their end (the rest of the function as in 009).
GRANT SELECT, DELETE ON password_resets TO tollgate_auth;
CREATE OR REPLACE FUNCTION work_prune_auth()
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
	DELETE FROM email_verifications
	    WHERE expires_at < now() - interval '7 days'
	    OR used_at < now() - interval '7 days';
	GET DIAGNOSTICS m = ROW_COUNT; n := n + m;
	DELETE FROM password_resets
	    WHERE expires_at < now() - interval '7 days'
	    OR used_at < now() - interval '7 days';
	GET DIAGNOSTICS m = ROW_COUNT; n := n + m;
	RETURN n;
END $$;
