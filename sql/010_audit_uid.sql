-- Tollgate 010: audit events are shown by a random id.  The identity
-- column event_id is one sequence across all tenants: a tenant reading
-- its trail could tell how many events the others made between two of
-- its own.  event_uid is what the API and the portal show and page by;
-- event_id stays the internal order.
ALTER TABLE audit_events ADD COLUMN event_uid uuid NOT NULL
	DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX audit_events_uid ON audit_events (tenant_id, event_uid);
