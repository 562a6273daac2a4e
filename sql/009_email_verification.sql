-- Tollgate 009: e-mail verification (issue 7, finding 7).
--
-- users.email_verified_at is when the user showed that mail to their
-- address reaches them: by following the link mailed at sign-up (or a
-- new one asked for since), or by accepting an invitation, whose link
-- was mailed to the address.  NULL until then; an unverified user may
-- not invite members (nor, later, start a checkout).
--
-- Users stored before this migration count as verified from their
-- creation.  They signed up when nothing asked them to prove their
-- address, their organizations are in use (owners invite members), and
-- switching invitations off for all of them on upgrade would break what
-- works for no gain: the squatting this closes is of addresses signed
-- up from now on.  Mailing every existing user a link at once instead
-- would be a mail burst and a support load, for the same end.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at;

-- The links mailed to prove an address: 256 random bits, stored as
-- SHA-256 only, single use, 24 hours.  Users are global, not a tenant's,
-- so the links are too: no tenant_id and no row-level security, as for
-- users themselves (the application reads users directly).
CREATE TABLE email_verifications (
	hash		bytea PRIMARY KEY,
	user_id		uuid NOT NULL REFERENCES users ON DELETE CASCADE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz
);
CREATE INDEX email_verifications_user ON email_verifications (user_id);
-- The application inserts, reads and marks links used (001's default
-- privileges); it never empties the table.
REVOKE TRUNCATE ON email_verifications FROM tollgate_app;

-- The worker's cleanup also removes links a week past their use or
-- their end (the rest of the function as in 002).
GRANT SELECT, DELETE ON email_verifications TO tollgate_auth;
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
	RETURN n;
END $$;
