-- Tollgate 019: notifications (SPEC 10): settings, and the outbox
-- delivered by the worker (fcgi/notify.c).
--
-- A notification is queued in the transaction of the event that causes
-- it (an INSERT INTO notifications, from C or from SQL such as
-- usage_ingest's thresholds).  As it is inserted, its fate is decided
-- here, once, under a lock on (tenant, trigger, subject): skipped when
-- the tenant turned the trigger off, debounced when the same one went
-- out less than tollgate.notify_debounce_s seconds ago (threshold
-- alerts are already once per threshold per period: usage_alerts), else
-- queued with one delivery per transport (e-mail, and Slack when the
-- tenant has an incoming webhook).  A personal message (an invitation,
-- a password reset) names its one recipient and carries its link
-- sealed (the vault's Fernet token); it is neither skipped nor
-- debounced, and goes by e-mail only.
--
-- The worker takes due deliveries under their row locks (FOR UPDATE
-- SKIP LOCKED), sends, records the attempt and its result, and commits:
-- two workers never send one delivery at once, and a worker killed
-- between sending and committing leaves it due, to go again with the
-- same Message-ID.

CREATE TABLE notification_settings (
	tenant_id	uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
	-- Empty: the organization's owners.
	recipients	text[] NOT NULL DEFAULT '{}' CHECK (
			    cardinality(recipients) <= 10),
	slack_webhook	text CHECK (slack_webhook ~ '^gAAAAA[A-Za-z0-9_=-]+$'),
	slack_hint	text CHECK (length(slack_hint) <= 16),
	disabled	text[] NOT NULL DEFAULT '{}',
	updated_at	timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE notifications ADD COLUMN recipient text CHECK (
	length(recipient) <= 254);
ALTER TABLE notifications ADD COLUMN secret text CHECK (secret ~
	'^gAAAAA[A-Za-z0-9_=-]+$');
ALTER TABLE notifications ADD CONSTRAINT notifications_status CHECK (
	status IN ('queued', 'skipped', 'debounced'));
CREATE INDEX notifications_recent ON notifications (tenant_id,
	created_at DESC);
CREATE INDEX notifications_debounce ON notifications (tenant_id, trigger,
	subject, created_at DESC);

CREATE TABLE notification_deliveries (
	tenant_id	uuid NOT NULL,
	notification_id	uuid NOT NULL,
	transport	text NOT NULL CHECK (transport IN ('email', 'slack')),
	status		text NOT NULL DEFAULT 'queued' CHECK (status IN
			    ('queued', 'sent', 'failed')),
	attempts	integer NOT NULL DEFAULT 0,
	next_at		timestamptz NOT NULL DEFAULT now(),
	last_error	text CHECK (length(last_error) <= 300),
	sent_at		timestamptz,
	PRIMARY KEY (tenant_id, notification_id, transport),
	FOREIGN KEY (tenant_id, notification_id) REFERENCES notifications
	    ON DELETE CASCADE
);
CREATE INDEX notification_deliveries_due ON notification_deliveries
	(next_at) WHERE status = 'queued';

CREATE TABLE notification_attempts (
	tenant_id	uuid NOT NULL,
	notification_id	uuid NOT NULL,
	transport	text NOT NULL,
	attempt		integer NOT NULL,
	at		timestamptz NOT NULL DEFAULT now(),
	result		text NOT NULL CHECK (result IN ('sent', 'retry',
			    'failed')),
	detail		text CHECK (length(detail) <= 300),
	PRIMARY KEY (tenant_id, notification_id, transport, attempt),
	FOREIGN KEY (tenant_id, notification_id, transport) REFERENCES
	    notification_deliveries ON DELETE CASCADE
);

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['notification_settings',
	    'notification_deliveries', 'notification_attempts']
	LOOP
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY tenant_isolation ON %I '
		    'USING (tenant_id = app_tenant()) '
		    'WITH CHECK (tenant_id = app_tenant())', t);
		EXECUTE format('REVOKE TRUNCATE ON %I FROM tollgate_app', t);
	END LOOP;
END
$$;
-- The attempts are a log: the app adds to it, never rewrites it.
REVOKE UPDATE, DELETE ON notification_attempts FROM tollgate_app;

-- The stored secrets the rotation re-encrypts (sql/017).
INSERT INTO vault_columns VALUES
	('notification_settings', 'tenant_id', 'slack_webhook'),
	('notifications', 'notification_id', 'secret');
CREATE POLICY auth_lookup ON notification_settings TO tollgate_auth
	USING (true);
GRANT SELECT ON notification_settings TO tollgate_auth;
CREATE POLICY auth_lookup ON notifications TO tollgate_auth USING (true);
GRANT SELECT ON notifications TO tollgate_auth;
CREATE POLICY auth_lookup ON notification_deliveries TO tollgate_auth
	USING (true);
GRANT SELECT ON notification_deliveries TO tollgate_auth;

-- Decide a new notification's fate (see above), before it is stored.
CREATE FUNCTION notification_status() RETURNS trigger
	LANGUAGE plpgsql SET search_path = public, pg_temp
	AS $$
DECLARE
	v_off text[];
	v_window integer := coalesce(nullif(current_setting(
	    'tollgate.notify_debounce_s', true), '')::integer, 900);
BEGIN
	IF NEW.recipient IS NOT NULL OR NEW.trigger = 'test' THEN
		NEW.status := 'queued';
		RETURN NEW;
	END IF;
	SELECT s.disabled INTO v_off FROM notification_settings s
	    WHERE s.tenant_id = NEW.tenant_id;
	IF NEW.trigger = ANY (coalesce(v_off, '{}')) THEN
		NEW.status := 'skipped';
		RETURN NEW;
	END IF;
	-- One decision at a time per (tenant, trigger, subject): the
	-- second of two at once sees the first once it committed.
	PERFORM pg_advisory_xact_lock(hashtextextended(NEW.tenant_id::text ||
	    '/' || NEW.trigger || '/' || NEW.subject, 19));
	IF v_window > 0 AND EXISTS (SELECT 1 FROM notifications n
	    WHERE n.tenant_id = NEW.tenant_id AND n.trigger = NEW.trigger AND
	    n.subject = NEW.subject AND n.status = 'queued' AND
	    n.created_at > clock_timestamp() - make_interval(secs =>
	    v_window)) THEN
		NEW.status := 'debounced';
	ELSE
		NEW.status := 'queued';
	END IF;
	RETURN NEW;
END $$;

CREATE TRIGGER notification_status BEFORE INSERT ON notifications
	FOR EACH ROW EXECUTE FUNCTION notification_status();

-- Its deliveries, once it is stored.
CREATE FUNCTION notification_route() RETURNS trigger
	LANGUAGE plpgsql SET search_path = public, pg_temp
	AS $$
BEGIN
	IF NEW.status <> 'queued' THEN
		RETURN NULL;
	END IF;
	INSERT INTO notification_deliveries (tenant_id, notification_id,
	    transport) VALUES (NEW.tenant_id, NEW.notification_id, 'email');
	IF NEW.recipient IS NULL AND EXISTS (SELECT 1 FROM
	    notification_settings s WHERE s.tenant_id = NEW.tenant_id AND
	    s.slack_webhook IS NOT NULL) THEN
		INSERT INTO notification_deliveries (tenant_id,
		    notification_id, transport) VALUES (NEW.tenant_id,
		    NEW.notification_id, 'slack');
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER notification_route AFTER INSERT ON notifications
	FOR EACH ROW EXECUTE FUNCTION notification_route();

-- The created_at of a notification is when it was decided: the time of
-- the statement, not of a long transaction's start (the debounce
-- compares it with the clock).
ALTER TABLE notifications ALTER COLUMN created_at SET DEFAULT
	clock_timestamp();

-- Tenants with deliveries due, across tenants (the worker then sends
-- each tenant's under that tenant).
CREATE FUNCTION notification_due(p_limit integer)
	RETURNS SETOF uuid
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	SELECT d.tenant_id FROM notification_deliveries d
	    WHERE d.status = 'queued' AND d.next_at <= now()
	    GROUP BY d.tenant_id ORDER BY min(d.next_at) LIMIT p_limit
$$;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION notification_due(integer) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION notification_due(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION notification_due(integer) TO tollgate_app;

-- The owners' addresses: where notifications go when the tenant named
-- no recipients.  Users are global rows the app reads through their
-- memberships.
CREATE FUNCTION notification_owners()
	RETURNS SETOF text
	LANGUAGE sql STABLE SET search_path = public, pg_temp
	AS $$
	SELECT u.email FROM memberships m JOIN users u USING (user_id)
	    WHERE m.tenant_id = app_tenant() AND m.role = 'owner'
	    ORDER BY m.created_at LIMIT 10
$$;

-- Agents parked beyond the free plan (013) now tell the owners how many
-- stopped and why, in the same transaction.
CREATE OR REPLACE FUNCTION billing_agents_park(p_reason text)
	RETURNS void
	LANGUAGE plpgsql SET search_path = public, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	UPDATE agents SET active = false, deactivated_reason = p_reason,
	    deactivated_at = now()
	    WHERE tenant_id = app_tenant() AND agent_id IN (
	        SELECT agent_id FROM agents
	        WHERE tenant_id = app_tenant() AND active
	        ORDER BY created_at, agent_id
	        OFFSET coalesce((SELECT included FROM plan_quotas
	            WHERE plan = 'free' AND metric = 'agents'), 0));
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		INSERT INTO notifications (tenant_id, trigger, subject, details)
		    VALUES (app_tenant(), 'agents_deactivated', p_reason,
		    jsonb_build_object('count', n, 'reason', p_reason));
	END IF;
END $$;
