-- Tollgate 015: reporting billable usage to Stripe's meters (SPEC 8,
-- steps 3, 4 and 6).
--
-- The worker queues what the hourly windows (usage_windows, 014) hold
-- beyond what was reported once their hour is over: one meter_reports
-- row per window and revision, carrying the difference, in the
-- transaction that raises the window's "reported" to its total, so each
-- unit is queued once.  It then sends the outbox to Stripe, each row
-- under its row lock, with an identifier derived from (tenant, metric,
-- window, revision): a send repeated after a crash is the same meter
-- event to Stripe, which refuses it as a duplicate.  The listings
-- across tenants are SECURITY DEFINER functions owned by tollgate_auth;
-- the work itself runs under each tenant, bound by row-level security.

-- What Stripe accepts as an identifier: at most 100 of [A-Za-z0-9_-].
ALTER TABLE meter_reports ADD CONSTRAINT meter_reports_identifier
	CHECK (identifier ~ '^[A-Za-z0-9_-]{1,100}$');

-- The identifier of a report: tg-<tenant, hex>-<metric>-<window, Unix
-- seconds>-r<revision>; 68 characters for the longest metric.
CREATE FUNCTION meter_identifier(p_tenant uuid, p_metric text,
    p_window timestamptz, p_revision integer)
	RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT 'tg-' || replace(p_tenant::text, '-', '') || '-' || p_metric ||
	    '-' || extract(epoch FROM p_window)::bigint || '-r' || p_revision
$$;

-- Tenants with closed windows holding unreported usage, across
-- tenants, a batch at a time (the worker then queues each tenant's
-- under that tenant).
CREATE FUNCTION meter_windows_closed(p_limit integer)
	RETURNS SETOF uuid
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	SELECT w.tenant_id FROM usage_windows w
	    WHERE w.total > w.reported AND
	    w.window_start <= now() - interval '1 hour'
	    GROUP BY w.tenant_id ORDER BY min(w.window_start) LIMIT p_limit
$$;

-- Tenants with reports due, across tenants, and whether each has a
-- Stripe customer.  A tenant without one is listed until its due
-- reports say so (meter_no_customer()), then no more until it has one.
CREATE FUNCTION meter_reports_due(p_limit integer)
	RETURNS TABLE (tenant_id uuid, has_customer boolean)
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	SELECT m.tenant_id, bool_or(t.stripe_customer_id IS NOT NULL)
	    FROM meter_reports m JOIN tenants t ON t.tenant_id = m.tenant_id
	    WHERE m.status = 'pending' AND m.next_at <= now() AND
	    (t.stripe_customer_id IS NOT NULL OR
	    m.last_error IS DISTINCT FROM 'no Stripe customer')
	    GROUP BY m.tenant_id ORDER BY min(m.next_at) LIMIT p_limit
$$;

-- For `tollgate admin stripe reconcile`: each tenant with a Stripe
-- customer that is subscribed or has metered usage or reports in
-- [p_from, p_to), for each metered metric: the usage of the windows in
-- the range and what was sent with a timestamp in it (late usage is
-- sent in a later window: it counts where Stripe counts it).
CREATE FUNCTION meter_reconcile(p_from timestamptz, p_to timestamptz)
	RETURNS TABLE (tenant_id uuid, customer text, metric text,
	    usage bigint, sent bigint)
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	WITH t AS (
		SELECT t.tenant_id, t.stripe_customer_id FROM tenants t
		WHERE t.stripe_customer_id IS NOT NULL AND
		    (t.stripe_subscription_id IS NOT NULL OR EXISTS (
		    SELECT 1 FROM usage_windows w
		    WHERE w.tenant_id = t.tenant_id AND
		    w.window_start >= p_from AND w.window_start < p_to) OR
		    EXISTS (SELECT 1 FROM meter_reports m
		    WHERE m.tenant_id = t.tenant_id AND
		    m.report_ts >= p_from AND m.report_ts < p_to))
	), q AS (
		SELECT DISTINCT q.metric FROM plan_quotas q
		WHERE q.cap = 'metered' AND q.kind = 'period'
	)
	SELECT t.tenant_id, t.stripe_customer_id, q.metric,
	    coalesce((SELECT sum(w.total) FROM usage_windows w
	        WHERE w.tenant_id = t.tenant_id AND w.metric = q.metric AND
	        w.window_start >= p_from AND w.window_start < p_to), 0)::bigint,
	    coalesce((SELECT sum(m.quantity) FROM meter_reports m
	        WHERE m.tenant_id = t.tenant_id AND m.metric = q.metric AND
	        m.status = 'sent' AND m.report_ts >= p_from AND
	        m.report_ts < p_to), 0)::bigint
	FROM t CROSS JOIN q
	ORDER BY t.tenant_id, q.metric
$$;

CREATE POLICY auth_lookup ON usage_windows TO tollgate_auth USING (true);
CREATE POLICY auth_lookup ON meter_reports TO tollgate_auth USING (true);
GRANT SELECT ON usage_windows, meter_reports TO tollgate_auth;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION meter_windows_closed(integer) OWNER TO tollgate_auth;
ALTER FUNCTION meter_reports_due(integer) OWNER TO tollgate_auth;
ALTER FUNCTION meter_reconcile(timestamptz, timestamptz)
	OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION meter_windows_closed(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION meter_reports_due(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION meter_reconcile(timestamptz, timestamptz)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION meter_windows_closed(integer) TO tollgate_app;
GRANT EXECUTE ON FUNCTION meter_reports_due(integer) TO tollgate_app;
GRANT EXECUTE ON FUNCTION meter_reconcile(timestamptz, timestamptz)
	TO tollgate_app;

-- Queue the bound tenant's closed windows (their hour is over) that
-- hold more than was reported: one report each, revision one past the
-- window's last (0 first), carrying the difference, and the window's
-- reported raised to its total.  The windows are taken FOR UPDATE SKIP
-- LOCKED: one being counted into right now (an ingest holds it) waits
-- for the next pass, and two workers never queue one window twice; the
-- last revision is read after the lock (a statement of its own, so a
-- fresh snapshot), never before.  A window older than p_max_age seconds
-- is past what Stripe takes (35 days, less a margin): its report is
-- stamped with the current hour (UTC) instead, and says so.
CREATE FUNCTION meter_queue(p_limit integer, p_max_age integer)
	RETURNS TABLE (metric text, window_start timestamptz,
	    revision integer, quantity bigint, report_ts timestamptz,
	    restamped boolean)
	LANGUAGE plpgsql
	AS $$
#variable_conflict use_column
DECLARE
	w	record;
	v_rev	integer;
BEGIN
	FOR w IN SELECT u.metric AS m, u.window_start AS ws, u.total AS tot,
	    u.reported AS rep
	    FROM usage_windows u
	    WHERE u.tenant_id = app_tenant() AND u.total > u.reported AND
	    u.window_start <= now() - interval '1 hour'
	    ORDER BY u.window_start, u.metric LIMIT p_limit
	    FOR UPDATE SKIP LOCKED
	LOOP
		UPDATE usage_windows u SET reported = w.tot
		    WHERE u.tenant_id = app_tenant() AND u.metric = w.m AND
		    u.window_start = w.ws;
		SELECT coalesce(max(p.revision) + 1, 0) INTO v_rev
		    FROM meter_reports p
		    WHERE p.tenant_id = app_tenant() AND p.metric = w.m AND
		    p.window_start = w.ws;
		INSERT INTO meter_reports AS r (tenant_id, metric, window_start,
		    revision, quantity, report_ts, identifier)
		    VALUES (app_tenant(), w.m, w.ws, v_rev, w.tot - w.rep,
		    CASE WHEN w.ws < now() - make_interval(secs => p_max_age)
		    THEN date_trunc('hour', now(), 'UTC') ELSE w.ws END,
		    meter_identifier(app_tenant(), w.m, w.ws, v_rev))
		    RETURNING r.metric, r.window_start, r.revision, r.quantity,
		    r.report_ts, r.report_ts <> r.window_start
		    INTO metric, window_start, revision, quantity, report_ts,
		    restamped;
		RETURN NEXT;
	END LOOP;
END $$;
