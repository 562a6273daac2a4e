-- Tollgate 013: billing through Stripe (SPEC 7).
--
-- stripe_catalogue holds the Stripe ids of the catalogue that
-- `tollgate admin stripe sync` creates (products, prices by lookup key,
-- meters by event name).  stripe_events is the webhook's ledger: the
-- event id is inserted in the same transaction as the event's effects,
-- so a redelivery finds it and changes nothing.  invoices mirror what
-- Stripe sends.  agents and notifications start here because billing
-- acts on them (a canceled subscription deactivates the agents beyond
-- the free plan's limit; a failed payment queues a notification); the
-- metering and notification milestones build on these tables.

-- When a past-due tenant's grace period ran out and the worker acted on
-- it (agents beyond the free plan stopped, the owner told): once.
ALTER TABLE tenants ADD COLUMN grace_ended_at timestamptz;

-- Global: the catalogue is the same for every tenant.
CREATE TABLE stripe_catalogue (
	kind		text NOT NULL CHECK (kind IN ('product', 'price',
			    'meter')),
	key		text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,99}$'),
	stripe_id	text NOT NULL CHECK (length(stripe_id) BETWEEN 1 AND 255),
	plan		text REFERENCES plans,
	metric		text,
	synced_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (kind, key)
);

-- Global: an event arrives before the tenant it concerns is known.
-- The application may insert an event and record its outcome, but reads
-- back only the id (the duplicate check): payloads of one tenant are
-- never readable while serving another.
CREATE TABLE stripe_events (
	event_id	text PRIMARY KEY CHECK (event_id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
	type		text NOT NULL CHECK (length(type) BETWEEN 1 AND 200),
	created		timestamptz NOT NULL,
	received_at	timestamptz NOT NULL DEFAULT now(),
	tenant_id	uuid,
	outcome		text NOT NULL DEFAULT 'pending',
	payload		jsonb NOT NULL
);
CREATE INDEX stripe_events_tenant ON stripe_events (tenant_id, created);
REVOKE SELECT, UPDATE, DELETE, TRUNCATE ON stripe_events FROM tollgate_app;
GRANT SELECT (event_id) ON stripe_events TO tollgate_app;
GRANT UPDATE (tenant_id, outcome) ON stripe_events TO tollgate_app;

CREATE TABLE invoices (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	invoice_id	text NOT NULL CHECK (length(invoice_id) BETWEEN 1 AND 255),
	number		text,
	status		text NOT NULL,
	currency	text NOT NULL DEFAULT 'usd',
	amount_due	bigint NOT NULL DEFAULT 0,
	amount_paid	bigint NOT NULL DEFAULT 0,
	total		bigint NOT NULL DEFAULT 0,
	period_start	timestamptz,
	period_end	timestamptz,
	hosted_url	text,
	pdf_url		text,
	created		timestamptz NOT NULL,
	event_at	timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, invoice_id)
);
CREATE INDEX invoices_created ON invoices (tenant_id, created DESC);

CREATE TABLE agents (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	agent_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	active		boolean NOT NULL DEFAULT true,
	budget_limit_micros bigint CHECK (budget_limit_micros >= 0),
	budget_action	text NOT NULL DEFAULT 'block' CHECK (budget_action IN
			    ('block', 'alert')),
	deactivated_reason text,
	deactivated_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, agent_id)
);
CREATE INDEX agents_created ON agents (tenant_id, created_at);

-- The outbox of notifications: queued in the transaction of the event
-- that triggers them, delivered by the worker (a later milestone).
CREATE TABLE notifications (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	notification_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	trigger		text NOT NULL,
	subject		text NOT NULL DEFAULT '',
	details		jsonb NOT NULL DEFAULT '{}',
	status		text NOT NULL DEFAULT 'queued',
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, notification_id)
);

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['invoices', 'agents', 'notifications']
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
REVOKE TRUNCATE ON stripe_catalogue FROM tollgate_app;

-- The tenant a Stripe object belongs to, bound for the transaction:
-- by customer id, else by the tenant id the checkout carried
-- (client_reference_id), which must exist.  NULL when neither names a
-- tenant.
CREATE FUNCTION billing_bind_customer(p_customer text, p_ref text)
	RETURNS uuid
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
DECLARE
	v uuid;
BEGIN
	IF p_customer IS NOT NULL AND p_customer <> '' THEN
		SELECT tenant_id INTO v FROM tenants
		    WHERE stripe_customer_id = p_customer;
	END IF;
	IF v IS NULL AND p_ref ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
	THEN
		SELECT tenant_id INTO v FROM tenants
		    WHERE tenant_id = p_ref::uuid;
	END IF;
	PERFORM set_config('tollgate.tenant_id', coalesce(v::text, ''), true);
	RETURN v;
END $$;
CREATE UNIQUE INDEX tenants_stripe_customer ON tenants (stripe_customer_id)
	WHERE stripe_customer_id IS NOT NULL;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION billing_bind_customer(text, text) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION billing_bind_customer(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION billing_bind_customer(text, text) TO tollgate_app;

-- The bound tenant falls to the free plan: its active agents beyond the
-- free plan's agent limit stop, newest first, for the reason given
-- (brought back when a subscription gives a paid plan again).
CREATE FUNCTION billing_agents_park(p_reason text)
	RETURNS void
	LANGUAGE sql
	AS $$
	UPDATE agents SET active = false, deactivated_reason = p_reason,
	    deactivated_at = now()
	    WHERE tenant_id = app_tenant() AND agent_id IN (
	        SELECT agent_id FROM agents
	        WHERE tenant_id = app_tenant() AND active
	        ORDER BY created_at, agent_id
	        OFFSET coalesce((SELECT included FROM plan_quotas
	            WHERE plan = 'free' AND metric = 'agents'), 0))
$$;

-- The state of a subscription from a customer.subscription.* event, for
-- the bound tenant.  Stripe does not deliver in order: an event created
-- before the last one applied changes nothing ('stale').  Events carry
-- whole seconds, and one second often holds several events of one
-- subscription (created, then updated): an event of the same second as
-- the last one applied is a 'tie', and the caller applies the
-- subscription as Stripe has it now instead (p_current), which is right
-- whatever the order.  A subscription that ends deactivates the agents
-- beyond the free plan's agent limit, newest first; one that becomes
-- active or trialing again brings them back.  Returns 'applied',
-- 'stale' or 'tie'.
CREATE FUNCTION billing_subscription_apply(p_sub text, p_customer text,
    p_plan text, p_status text, p_trial_end timestamptz,
    p_period_start timestamptz, p_period_end timestamptz,
    p_cancel_at_end boolean, p_seats integer, p_created timestamptz,
    p_deleted boolean, p_current boolean, p_request_id text)
	RETURNS text
	LANGUAGE plpgsql
	AS $$
DECLARE
	t	tenants%ROWTYPE;
BEGIN
	IF p_plan IS NULL OR NOT EXISTS (SELECT 1 FROM plans
	    WHERE plan = p_plan) THEN
		RETURN 'unknown_plan';
	END IF;
	-- stripe_event_at only grows: an event older than what is there
	-- now is stale for good, known without waiting for the row's lock.
	IF EXISTS (SELECT 1 FROM tenants WHERE tenant_id = app_tenant() AND
	    stripe_event_at > p_created) THEN
		RETURN 'stale';
	END IF;
	-- NO KEY UPDATE: rows that only reference the tenant (invoices,
	-- audit events) go on being written meanwhile, and no two events
	-- of a tenant deadlock over its row.
	SELECT * INTO t FROM tenants WHERE tenant_id = app_tenant()
	    FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RETURN 'unknown_tenant';
	END IF;
	IF t.stripe_event_at IS NOT NULL AND p_created < t.stripe_event_at THEN
		RETURN 'stale';
	END IF;
	IF t.stripe_event_at = p_created AND NOT p_current THEN
		RETURN 'tie';
	END IF;
	UPDATE tenants SET
	    stripe_customer_id = coalesce(p_customer, stripe_customer_id),
	    stripe_subscription_id = p_sub,
	    plan = p_plan,
	    status = CASE WHEN p_deleted THEN 'canceled' ELSE p_status END,
	    trial_end = p_trial_end,
	    had_trial = had_trial OR p_trial_end IS NOT NULL,
	    current_period_start = p_period_start,
	    current_period_end = p_period_end,
	    cancel_at_period_end = p_cancel_at_end AND NOT p_deleted,
	    seats = greatest(coalesce(p_seats, seats), 1),
	    past_due_since = CASE WHEN p_status = 'past_due' AND NOT p_deleted
	        THEN coalesce(past_due_since, now()) ELSE NULL END,
	    grace_ended_at = CASE WHEN p_status = 'past_due' AND NOT p_deleted
	        THEN grace_ended_at ELSE NULL END,
	    stripe_event_at = p_created
	    WHERE tenant_id = app_tenant();
	IF p_deleted OR p_status NOT IN ('active', 'trialing', 'past_due') THEN
		PERFORM billing_agents_park('subscription_canceled');
	ELSE
		UPDATE agents SET active = true, deactivated_reason = NULL,
		    deactivated_at = NULL
		    WHERE tenant_id = app_tenant() AND NOT active AND
		    deactivated_reason IN ('subscription_canceled',
		    'payment_overdue') AND (p_status <> 'past_due' OR
		    deactivated_reason = 'subscription_canceled');
	END IF;
	INSERT INTO audit_events (tenant_id, actor, action, target, request_id,
	    details)
	    VALUES (app_tenant(), 'stripe', CASE WHEN p_deleted THEN
	    'billing.subscription_deleted' ELSE 'billing.subscription_updated'
	    END, p_sub, p_request_id, jsonb_build_object('plan', p_plan,
	    'status', CASE WHEN p_deleted THEN 'canceled' ELSE p_status END,
	    'seats', p_seats));
	RETURN 'applied';
END $$;

-- Past-due tenants whose grace period (TOLLGATE_PAST_DUE_GRACE_DAYS, the
-- connection's tollgate.past_due_grace_days) ran out and that the worker
-- has not acted on yet, a batch at a time.  The worker then acts on each
-- under its own tenant (billing.c), where a conditional update makes
-- sure only one worker does.
CREATE FUNCTION billing_grace_over(p_limit integer)
	RETURNS SETOF uuid
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	SELECT tenant_id FROM tenants
	    WHERE status = 'past_due' AND grace_ended_at IS NULL AND
	    past_due_since <= now() - make_interval(days =>
	    current_setting('tollgate.past_due_grace_days')::integer)
	    ORDER BY past_due_since LIMIT p_limit
$$;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION billing_grace_over(integer) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION billing_grace_over(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION billing_grace_over(integer) TO tollgate_app;

-- The bound tenant's grace period ended: the free plan applies now
-- (plan_effective), so the agents beyond its limit stop, newest first,
-- with reason payment_overdue (back when the invoice is paid).  Returns
-- false when another worker, or a payment, came first.
CREATE FUNCTION billing_grace_end()
	RETURNS boolean
	LANGUAGE plpgsql
	AS $$
BEGIN
	UPDATE tenants SET grace_ended_at = now()
	    WHERE tenant_id = app_tenant() AND status = 'past_due' AND
	    grace_ended_at IS NULL AND past_due_since <= now() -
	    make_interval(days =>
	    current_setting('tollgate.past_due_grace_days')::integer);
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM billing_agents_park('payment_overdue');
	RETURN true;
END $$;
