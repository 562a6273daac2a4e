-- Tollgate 023: an organization's prices of models are dated.
--
-- tenant_model_prices (sql/021) holds the prices in force now, and the
-- gateway plans its calls with them.  A usage event, though, can be
-- sent up to 35 days after it happened, and it must be priced at the
-- price that was in force when it happened:
-- - tenant_model_price_history keeps every price an organization set,
--   from the moment it was set;
-- - a removal is a row without prices, from the moment of the removal;
-- - a trigger on tenant_model_prices writes the rows, so the API's
--   statements (fcgi/db-llmprice.c) stay as they are.
-- usage_ingest() is 022's, but for its two lookups of an organization's
-- price: each now reads the price in force at the event's time
-- (tenant_price_at).  An event from before an organization set its
-- price, or after it removed it, gets the platform's price of its day,
-- or unknown_model when there is none.

CREATE TABLE tenant_model_price_history (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	provider	text NOT NULL,
	model		text NOT NULL,
	since		timestamptz NOT NULL,
	-- All NULL: the organization removed its price at "since".
	prompt_per_mtok	bigint,
	completion_per_mtok bigint,
	cached_per_mtok	bigint,
	PRIMARY KEY (tenant_id, provider, model, since),
	CHECK ((prompt_per_mtok IS NULL) = (completion_per_mtok IS NULL) AND
	    (prompt_per_mtok IS NULL) = (cached_per_mtok IS NULL))
);

-- The prices set before this migration, from when they were made (what
-- a replaced price was before is not known).  The owner reads every
-- organization's rows here only, with row-level security not forced.
ALTER TABLE tenant_model_prices NO FORCE ROW LEVEL SECURITY;
INSERT INTO tenant_model_price_history (tenant_id, provider, model, since,
    prompt_per_mtok, completion_per_mtok, cached_per_mtok)
SELECT tenant_id, provider, model, created_at, prompt_per_mtok,
    completion_per_mtok, cached_per_mtok
FROM tenant_model_prices;
ALTER TABLE tenant_model_prices FORCE ROW LEVEL SECURITY;

ALTER TABLE tenant_model_price_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_model_price_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_model_price_history
	USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
REVOKE TRUNCATE ON tenant_model_price_history FROM tollgate_app;

-- Every change of a price is a row of its history, from now (two in
-- one transaction: the last one stands).
CREATE FUNCTION tenant_model_price_log()
	RETURNS trigger
	LANGUAGE plpgsql
	AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		-- A tenant being deleted takes its history with it.
		IF NOT EXISTS (SELECT 1 FROM tenants
		    WHERE tenant_id = OLD.tenant_id) THEN
			RETURN OLD;
		END IF;
		INSERT INTO tenant_model_price_history (tenant_id, provider,
		    model, since)
		VALUES (OLD.tenant_id, OLD.provider, OLD.model, now())
		ON CONFLICT (tenant_id, provider, model, since) DO UPDATE SET
		    prompt_per_mtok = NULL, completion_per_mtok = NULL,
		    cached_per_mtok = NULL;
		RETURN OLD;
	END IF;
	INSERT INTO tenant_model_price_history (tenant_id, provider, model,
	    since, prompt_per_mtok, completion_per_mtok, cached_per_mtok)
	VALUES (NEW.tenant_id, NEW.provider, NEW.model, now(),
	    NEW.prompt_per_mtok, NEW.completion_per_mtok, NEW.cached_per_mtok)
	ON CONFLICT (tenant_id, provider, model, since) DO UPDATE SET
	    prompt_per_mtok = EXCLUDED.prompt_per_mtok,
	    completion_per_mtok = EXCLUDED.completion_per_mtok,
	    cached_per_mtok = EXCLUDED.cached_per_mtok;
	RETURN NEW;
END $$;

CREATE TRIGGER tenant_model_price_log
	AFTER INSERT OR UPDATE OR DELETE ON tenant_model_prices
	FOR EACH ROW EXECUTE FUNCTION tenant_model_price_log();

-- The bound organization's price of a model in force at p_at: one row,
-- or none when it had none then (never set, or removed).
CREATE FUNCTION tenant_price_at(p_provider text, p_model text,
    p_at timestamptz)
	RETURNS TABLE (prompt_per_mtok bigint, completion_per_mtok bigint,
	    cached_per_mtok bigint)
	LANGUAGE sql STABLE
	AS $$
	SELECT h.prompt_per_mtok, h.completion_per_mtok, h.cached_per_mtok
	FROM (SELECT * FROM tenant_model_price_history x
	    WHERE x.tenant_id = app_tenant() AND x.provider = p_provider AND
	    x.model = p_model AND x.since <= p_at
	    ORDER BY x.since DESC LIMIT 1) h
	WHERE h.prompt_per_mtok IS NOT NULL
$$;

CREATE OR REPLACE FUNCTION usage_ingest(p_events jsonb)
	RETURNS TABLE (accepted bigint, duplicates bigint)
	LANGUAGE plpgsql
	AS $$
DECLARE
	u	record;
	t	tenants;
	v_plan	text;
	v_bad	record;
	v_total	bigint;
	v_new	bigint;
	v_sub	boolean;
	v_over	text;
	v_r	usage_over;
	v_near	boolean;
	v_cnt	jsonb;
	v_spend	jsonb;
	v_daily	jsonb;
	v_win	jsonb;
BEGIN
	SELECT * INTO u FROM usage_tenant();
	t := u.t;
	v_plan := u.plan;
	v_sub := t.stripe_subscription_id IS NOT NULL AND v_plan <> 'free';

	SELECT x.idx, x.why INTO v_bad FROM (
	SELECT e.idx, CASE
	    WHEN e.agent_id IS NOT NULL AND a.agent_id IS NULL
	        THEN 'unknown_agent'
	    -- Usage its hold admitted before the agent was deactivated
	    -- (a call in flight) is recorded all the same.
	    WHEN e.agent_id IS NOT NULL AND NOT a.active AND
	        e.reservation_id IS NULL THEN 'agent_inactive'
	    WHEN e.reservation_id IS NOT NULL AND r.reservation_id IS NULL
	        THEN 'unknown_reservation'
	    WHEN e.reservation_id IS NOT NULL AND (r.status <> 'held' OR
	        r.expires_at <= now()) THEN 'reservation_not_held'
	    WHEN e.reservation_id IS NOT NULL AND r.metric <> e.metric
	        THEN 'reservation_metric'
	    WHEN e.cost_micros IS NULL AND e.model IS NOT NULL AND NOT EXISTS (
	        SELECT 1 FROM model_prices mp WHERE mp.provider = e.provider
	        AND mp.model = e.model AND mp.effective_from <=
	        (coalesce(e.ts, now()) AT TIME ZONE 'UTC')::date) AND
	        (SELECT 1 FROM tenant_price_at(e.provider, e.model,
	        coalesce(e.ts, now()))) IS NULL
	        THEN 'unknown_model' END AS why
	    FROM jsonb_to_recordset(p_events) AS e(idx integer, id text,
	        metric text, agent_id uuid, reservation_id uuid, ts timestamptz,
	        provider text, model text, cost_micros bigint)
	    -- OFFSET 0 keeps each lookup a probe of its index per event.
	    LEFT JOIN LATERAL (SELECT ag.agent_id, ag.active FROM agents ag
	        WHERE ag.tenant_id = app_tenant() AND
	        ag.agent_id = e.agent_id OFFSET 0) a ON true
	    LEFT JOIN LATERAL (SELECT rv.reservation_id, rv.status,
	        rv.expires_at, rv.metric FROM reservations rv
	        WHERE rv.tenant_id = app_tenant() AND
	        rv.reservation_id = e.reservation_id OFFSET 0) r ON true
	    WHERE (e.agent_id IS NOT NULL OR e.reservation_id IS NOT NULL OR
	        (e.model IS NOT NULL AND e.cost_micros IS NULL)) AND
	        -- A scalar subquery is never made a join: one probe.
	        (SELECT true FROM usage_event_ids d WHERE
	        d.tenant_id = app_tenant() AND d.event_id = e.id) IS NULL
	    ) x WHERE x.why IS NOT NULL
	    ORDER BY x.idx
	    LIMIT 1;
	IF FOUND THEN
		PERFORM usage_refuse('TG400', v_bad.why, CASE v_bad.why
		    WHEN 'unknown_agent' THEN 'There is no such agent.'
		    WHEN 'agent_inactive' THEN 'The agent is deactivated.'
		    WHEN 'unknown_reservation' THEN 'There is no such reservation.'
		    WHEN 'reservation_not_held' THEN 'The reservation was '
		        'settled, released or has expired.'
		    WHEN 'reservation_metric' THEN 'The reservation is for '
		        'another metric.'
		    ELSE 'There is no price for this model: send cost_micros.'
		    END, format('events[%s].%s', v_bad.idx, CASE v_bad.why
		    WHEN 'unknown_agent' THEN 'agent_id'
		    WHEN 'agent_inactive' THEN 'agent_id'
		    WHEN 'unknown_model' THEN 'properties.model'
		    ELSE 'reservation_id' END));
	END IF;

	WITH ev AS (
		SELECT e.*, coalesce(e.ts, now()) AS at
		FROM jsonb_to_recordset(p_events) AS e(id text, metric text,
		    value bigint, agent_id uuid, ts timestamptz,
		    reservation_id uuid, provider text, model text,
		    prompt_tokens bigint, completion_tokens bigint,
		    cached_tokens bigint, channel_id text, cost_micros bigint)
	), fresh AS (
		INSERT INTO usage_event_ids (tenant_id, event_id)
		SELECT app_tenant(), id FROM ev ORDER BY id
		ON CONFLICT DO NOTHING
		RETURNING event_id
	), n AS (
		SELECT DISTINCT ON (ev.id) ev.*,
		    usage_period(t.current_period_start, t.current_period_end,
		    ev.at) AS period,
		    coalesce(ev.cost_micros, (SELECT usage_llm_cost(
		        ev.prompt_tokens, ev.completion_tokens, ev.cached_tokens,
		        h.prompt_per_mtok, h.completion_per_mtok,
		        h.cached_per_mtok) FROM tenant_price_at(ev.provider,
		        ev.model, ev.at) h),
		        (SELECT usage_llm_cost(
		        ev.prompt_tokens, ev.completion_tokens, ev.cached_tokens,
		        mp.prompt_per_mtok, mp.completion_per_mtok,
		        mp.cached_per_mtok) FROM model_prices mp
		        WHERE mp.provider = ev.provider AND mp.model = ev.model
		        AND mp.effective_from <= (ev.at AT TIME ZONE 'UTC')::date
		        ORDER BY mp.effective_from DESC LIMIT 1), 0) AS cost
		FROM ev JOIN fresh ON fresh.event_id = ev.id
	), ins AS (
		INSERT INTO usage_events (tenant_id, event_id, ts, metric, value,
		    agent_id, provider, model, prompt_tokens, completion_tokens,
		    cached_tokens, channel_id, cost_micros)
		SELECT app_tenant(), id, at, metric, value, agent_id, provider,
		    model, prompt_tokens, completion_tokens, cached_tokens,
		    channel_id, cost FROM n
	), settle AS (
		UPDATE reservations r SET status = 'settled'
		FROM (SELECT DISTINCT reservation_id FROM n
		    WHERE reservation_id IS NOT NULL) s
		WHERE r.tenant_id = app_tenant() AND
		    r.reservation_id = s.reservation_id AND r.status = 'held'
		RETURNING r.metric, r.period_start, r.quantity, r.agent_id,
		    r.cost_micros
	), deltas AS (
		SELECT metric, period AS p, value AS du, 0::bigint AS dr FROM n
		UNION ALL
		SELECT metric, period_start, 0, -quantity FROM settle
	), adeltas AS (
		SELECT agent_id, period AS p, cost AS dc, CASE WHEN metric =
		    'llm_tokens' THEN value ELSE 0 END AS dt, CASE WHEN
		    metric = 'agent_executions' THEN value ELSE 0 END AS de,
		    0::bigint AS dr
		FROM n WHERE agent_id IS NOT NULL
		UNION ALL
		SELECT agent_id, period_start, 0, 0, 0, -cost_micros FROM settle
		WHERE agent_id IS NOT NULL
	)
	SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM fresh),
	    (SELECT jsonb_agg(x) FROM (SELECT metric, p, sum(du) AS du,
	        sum(dr) AS dr FROM deltas GROUP BY metric, p) x),
	    (SELECT jsonb_agg(x) FROM (SELECT agent_id, p, sum(dc) AS dc,
	        sum(dr) AS dr, sum(dt) AS dt, sum(de) AS de FROM adeltas
	        GROUP BY agent_id, p) x),
	    (SELECT jsonb_agg(x) FROM (SELECT (n.at AT TIME ZONE 'UTC')::date
	        AS day, n.metric, coalesce(n.agent_id,
	        '00000000-0000-0000-0000-000000000000') AS agent_id,
	        coalesce(n.provider, '') AS provider, coalesce(n.model, '')
	        AS model, coalesce(n.channel_id, '') AS channel_id,
	        sum(n.value) AS value, sum(n.cost) AS cost, count(*) AS events
	        FROM n GROUP BY 1, 2, 3, 4, 5, 6) x),
	    (SELECT jsonb_agg(x) FROM (SELECT n.metric, date_trunc('hour',
	        n.at) AS w, sum(n.value) AS total FROM n JOIN plan_quotas q
	        ON q.plan = v_plan AND q.metric = n.metric AND
	        q.cap = 'metered' WHERE v_sub GROUP BY 1, 2) x)
	    INTO v_total, v_new, v_cnt, v_spend, v_daily, v_win;

	/*
	 * The rows every batch of the tenant contends for (counters, the
	 * day's rollup, agents' spend, the hour's window), last and in one
	 * order: their locks are held only from here to COMMIT, and two
	 * batches never take them in opposite orders.  A batch of repeats
	 * only touches none of them.
	 */
	IF v_cnt IS NULL THEN
		accepted := v_new;
		duplicates := v_total - v_new;
		RETURN NEXT;
		RETURN;
	END IF;
	WITH cnt AS (
		INSERT INTO usage_counters AS c (tenant_id, metric,
		    period_start, used, reserved)
		SELECT app_tenant(), x.metric, x.p, x.du, x.dr
		FROM jsonb_to_recordset(v_cnt) AS x(metric text, p timestamptz,
		    du bigint, dr bigint)
		ORDER BY x.metric, x.p
		ON CONFLICT (tenant_id, metric, period_start) DO UPDATE
		SET used = c.used + EXCLUDED.used,
		    reserved = c.reserved + EXCLUDED.reserved
		RETURNING c.metric, c.period_start, c.used, c.reserved
	), spend AS (
		INSERT INTO agent_spend AS s (tenant_id, agent_id, period_start,
		    cost_micros, reserved_micros, tokens, executions)
		SELECT app_tenant(), x.agent_id, x.p, x.dc, x.dr, x.dt, x.de
		FROM jsonb_to_recordset(v_spend) AS x(agent_id uuid,
		    p timestamptz, dc bigint, dr bigint, dt bigint, de bigint)
		ORDER BY x.agent_id, x.p
		ON CONFLICT (tenant_id, agent_id, period_start) DO UPDATE
		SET cost_micros = s.cost_micros + EXCLUDED.cost_micros,
		    reserved_micros = s.reserved_micros + EXCLUDED.reserved_micros,
		    tokens = s.tokens + EXCLUDED.tokens,
		    executions = s.executions + EXCLUDED.executions
		RETURNING s.agent_id, s.period_start, s.cost_micros,
		    s.reserved_micros
	), daily AS (
		INSERT INTO usage_daily AS d (tenant_id, day, metric, agent_id,
		    provider, model, channel_id, value, cost_micros, events)
		SELECT app_tenant(), x.day, x.metric, x.agent_id, x.provider,
		    x.model, x.channel_id, x.value, x.cost, x.events
		FROM jsonb_to_recordset(v_daily) AS x(day date, metric text,
		    agent_id uuid, provider text, model text, channel_id text,
		    value bigint, cost bigint, events bigint)
		ORDER BY 2, 3, 4, 5, 6, 7, 8
		ON CONFLICT (tenant_id, day, metric, agent_id, provider, model,
		    channel_id) DO UPDATE
		SET value = d.value + EXCLUDED.value,
		    cost_micros = d.cost_micros + EXCLUDED.cost_micros,
		    events = d.events + EXCLUDED.events
	), win AS (
		INSERT INTO usage_windows AS w (tenant_id, metric, window_start,
		    total)
		SELECT app_tenant(), x.metric, x.w, x.total
		FROM jsonb_to_recordset(v_win) AS x(metric text, w timestamptz,
		    total bigint)
		ORDER BY x.metric, x.w
		ON CONFLICT (tenant_id, metric, window_start) DO UPDATE
		SET total = w.total + EXCLUDED.total
	), over AS (
		SELECT 'quota_exceeded' AS code, cnt.metric AS subject,
		    usage_limit(q.included, q.cap, q.grace_pct) AS lim,
		    cnt.used + greatest(cnt.reserved, 0) AS taken
		FROM cnt JOIN plan_quotas q ON q.plan = v_plan AND
		    q.metric = cnt.metric
		WHERE cnt.used + greatest(cnt.reserved, 0) >
		    usage_limit(q.included, q.cap, q.grace_pct)
		UNION ALL
		SELECT 'budget_exceeded', spend.agent_id::text,
		    a.budget_limit_micros, spend.cost_micros +
		    greatest(spend.reserved_micros, 0)
		FROM spend JOIN agents a ON a.tenant_id = app_tenant() AND
		    a.agent_id = spend.agent_id
		WHERE a.budget_action = 'block' AND a.budget_limit_micros IS NOT
		    NULL AND spend.cost_micros + greatest(spend.reserved_micros,
		    0) > a.budget_limit_micros
	)
	SELECT (SELECT row(o.code, o.subject, o.lim, o.taken)::text FROM over o
	    ORDER BY o.code DESC, o.subject LIMIT 1),
	    -- Has a row this batch touched reached a threshold (80, 100,
	    -- 120 %) that has no alert yet in its period?
	    EXISTS (SELECT 1 FROM cnt JOIN plan_quotas q ON q.plan = v_plan
	        AND q.metric = cnt.metric
	        CROSS JOIN (VALUES (80), (100), (120)) AS th(v)
	        WHERE q.included > 0 AND cnt.used * 100 >= q.included * th.v
	        AND (SELECT true FROM usage_alerts al WHERE
	        al.tenant_id = app_tenant() AND
	        al.period_start = cnt.period_start AND
	        al.subject = cnt.metric AND al.threshold = th.v) IS NULL) OR
	    EXISTS (SELECT 1 FROM spend JOIN agents a ON a.tenant_id =
	        app_tenant() AND a.agent_id = spend.agent_id
	        CROSS JOIN (VALUES (80), (100), (120)) AS th(v)
	        WHERE a.budget_limit_micros > 0 AND
	        spend.cost_micros * 100 >= a.budget_limit_micros * th.v
	        AND (SELECT true FROM usage_alerts al WHERE
	        al.tenant_id = app_tenant() AND
	        al.period_start = spend.period_start AND
	        al.subject = 'agent:' || spend.agent_id AND
	        al.threshold = th.v) IS NULL)
	    INTO v_over, v_near;

	IF v_over IS NOT NULL THEN
		v_r := v_over::usage_over;
		PERFORM usage_limit_refuse(v_r.code, v_r.subject, v_r.lim,
		    v_r.taken);
	END IF;
	IF v_near THEN
		PERFORM usage_alerts_fire();
	END IF;
	accepted := v_new;
	duplicates := v_total - v_new;
	RETURN NEXT;
END $$;
