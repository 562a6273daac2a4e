-- Tollgate 004: at most one pending invitation per address and tenant,
-- enforced by the database, so two concurrent invitations cannot both
-- be created.  Expired ones are revoked by the application before it
-- creates a new one (the predicate of an index cannot mention now()).
--
-- Row-level security binds the owner too (it is forced): this data fix
-- across tenants lifts it for the length of this transaction only.
ALTER TABLE invitations NO FORCE ROW LEVEL SECURITY;
UPDATE invitations i SET revoked_at = now()
	WHERE accepted_at IS NULL AND revoked_at IS NULL AND EXISTS (
	    SELECT 1 FROM invitations j WHERE j.tenant_id = i.tenant_id
	    AND lower(j.email) = lower(i.email) AND j.accepted_at IS NULL
	    AND j.revoked_at IS NULL AND j.created_at > i.created_at);
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE UNIQUE INDEX invitations_pending ON invitations (tenant_id, lower(email))
	WHERE accepted_at IS NULL AND revoked_at IS NULL;
