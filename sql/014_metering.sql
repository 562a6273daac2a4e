-- Tollgate 014: metering (SPEC 4, 6, 8).
--
-- An accepted event is counted once, forever: its (tenant, id) goes into
-- usage_event_ids in the transaction that adds it to the counters, and a
-- repeat finds it there.  usage_counters hold per tenant, metric and
-- period what is used and what is held by reservations; agent_spend the
-- same for an agent's cost.  Enforcement reads and updates those rows
-- under their row locks, so concurrent requests queue on the one row
-- they contend for and none admits usage past a hard limit.
-- usage_windows sum billable usage per hour for the reports to Stripe
-- (meter_reports, the outbox).  Money: micro-USD, bigint.
--
-- Refusals raised here use SQLSTATE class TG: TG400 (bad input, 400)
-- and TG429 (a limit, 429), with the API error code as DETAIL and the
-- parameter at fault as HINT; db.c passes them on as they are.

-- Prices of LLM models (global, versioned by the day they apply from):
-- micro-USD per million tokens, prompt, completion and cached prompt
-- tokens priced separately.
CREATE TABLE model_prices (
	provider	text NOT NULL CHECK (provider ~ '^[a-z0-9_-]{1,40}$'),
	model		text NOT NULL CHECK (length(model) BETWEEN 1 AND 128),
	effective_from	date NOT NULL,
	prompt_per_mtok	bigint NOT NULL CHECK (prompt_per_mtok >= 0),
	completion_per_mtok bigint NOT NULL CHECK (completion_per_mtok >= 0),
	cached_per_mtok	bigint NOT NULL CHECK (cached_per_mtok >= 0),
	source		text NOT NULL,
	PRIMARY KEY (provider, model, effective_from)
);
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON model_prices FROM tollgate_app;

-- Public list prices in USD per million tokens (input, output, cached
-- input), as the providers' pricing pages gave them on 2026-11-30:
-- openai.com/api/pricing, anthropic.com/pricing#api,
-- ai.google.dev/gemini-api/docs/pricing, mistral.ai/pricing.
INSERT INTO model_prices (provider, model, effective_from, prompt_per_mtok,
    completion_per_mtok, cached_per_mtok, source) VALUES
	('openai', 'gpt-4o', '2024-10-01', 2500000, 10000000, 1250000,
	    'openai.com/api/pricing 2026-11-30'),
	('openai', 'gpt-4o-mini', '2024-07-18', 150000, 600000, 75000,
	    'openai.com/api/pricing 2026-11-30'),
	('openai', 'gpt-4.1', '2025-04-14', 2000000, 8000000, 500000,
	    'openai.com/api/pricing 2026-11-30'),
	('openai', 'gpt-4.1-mini', '2025-04-14', 400000, 1600000, 100000,
	    'openai.com/api/pricing 2026-11-30'),
	('openai', 'o3-mini', '2025-01-31', 1100000, 4400000, 550000,
	    'openai.com/api/pricing 2026-11-30'),
	('anthropic', 'claude-3-5-haiku', '2024-11-04', 800000, 4000000, 80000,
	    'anthropic.com/pricing 2026-11-30'),
	('anthropic', 'claude-sonnet-4', '2025-05-22', 3000000, 15000000,
	    300000, 'anthropic.com/pricing 2026-11-30'),
	('anthropic', 'claude-opus-4', '2025-05-22', 15000000, 75000000,
	    1500000, 'anthropic.com/pricing 2026-11-30'),
	('google', 'gemini-2.0-flash', '2025-02-05', 100000, 400000, 25000,
	    'ai.google.dev/pricing 2026-11-30'),
	('google', 'gemini-2.5-pro', '2025-06-17', 1250000, 10000000, 310000,
	    'ai.google.dev/pricing 2026-11-30'),
	('mistral', 'mistral-large', '2024-11-18', 2000000, 6000000, 2000000,
	    'mistral.ai/pricing 2026-11-30'),
	('mistral', 'mistral-small', '2025-03-17', 100000, 300000, 100000,
	    'mistral.ai/pricing 2026-11-30');

-- The dedup index of accepted event ids, kept forever.  No foreign key
-- to tenants: it would cost a trigger per event on the hottest insert,
-- and row-level security already pins every row to the bound tenant.
CREATE TABLE usage_event_ids (
	tenant_id	uuid NOT NULL,
	event_id	text NOT NULL,
	PRIMARY KEY (tenant_id, event_id)
);

-- Accepted events, partitioned by month of their time.  The default
-- partition takes what no monthly one does; the worker adds months
-- ahead (usage_partitions()).
CREATE TABLE usage_events (
	tenant_id	uuid NOT NULL,
	event_id	text NOT NULL,
	ts		timestamptz NOT NULL,
	metric		text NOT NULL,
	value		bigint NOT NULL CHECK (value >= 0),
	agent_id	uuid,
	provider	text,
	model		text,
	prompt_tokens	bigint,
	completion_tokens bigint,
	cached_tokens	bigint,
	channel_id	text,
	cost_micros	bigint NOT NULL DEFAULT 0,
	received_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, ts, event_id)
) PARTITION BY RANGE (ts);
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;

CREATE TABLE usage_counters (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	metric		text NOT NULL,
	period_start	timestamptz NOT NULL,
	used		bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
	reserved	bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, metric, period_start)
);

CREATE TABLE agent_spend (
	tenant_id	uuid NOT NULL,
	agent_id	uuid NOT NULL,
	period_start	timestamptz NOT NULL,
	cost_micros	bigint NOT NULL DEFAULT 0,
	reserved_micros	bigint NOT NULL DEFAULT 0,
	tokens		bigint NOT NULL DEFAULT 0,
	executions	bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, agent_id, period_start),
	FOREIGN KEY (tenant_id, agent_id) REFERENCES agents ON DELETE CASCADE
);

CREATE TABLE reservations (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	reservation_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	metric		text NOT NULL,
	quantity	bigint NOT NULL CHECK (quantity > 0),
	agent_id	uuid,
	cost_micros	bigint NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
	period_start	timestamptz NOT NULL,
	status		text NOT NULL DEFAULT 'held' CHECK (status IN ('held',
			    'settled', 'released', 'expired')),
	expires_at	timestamptz NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, reservation_id)
);
CREATE INDEX reservations_expiry ON reservations (expires_at)
	WHERE status = 'held';

-- Usage per UTC day, metric, agent, provider, model and channel: what
-- the read side shows (summary, daily series, CSV export, the /usage
-- page) without summing raw events on every view.  Updated by
-- usage_ingest() with the events; '' and the nil uuid stand for none
-- (key columns cannot be NULL).
CREATE TABLE usage_daily (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	day		date NOT NULL,
	metric		text NOT NULL,
	agent_id	uuid NOT NULL,
	provider	text NOT NULL,
	model		text NOT NULL,
	channel_id	text NOT NULL,
	value		bigint NOT NULL DEFAULT 0,
	cost_micros	bigint NOT NULL DEFAULT 0,
	events		bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, day, metric, agent_id, provider, model,
	    channel_id)
);

-- Billable usage per hour (the reports to Stripe are per window).
CREATE TABLE usage_windows (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	metric		text NOT NULL,
	window_start	timestamptz NOT NULL,
	total		bigint NOT NULL DEFAULT 0,
	reported	bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, metric, window_start)
);
CREATE INDEX usage_windows_unreported ON usage_windows (window_start)
	WHERE total > reported;

-- The outbox to Stripe: one row per report; a window reported and then
-- grown gets a new revision with the difference.  The identifier is
-- derived from (tenant, metric, window, revision), so a retry after a
-- crash is the same meter event to Stripe.
CREATE TABLE meter_reports (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	metric		text NOT NULL,
	window_start	timestamptz NOT NULL,
	revision	integer NOT NULL,
	quantity	bigint NOT NULL CHECK (quantity > 0),
	report_ts	timestamptz NOT NULL,
	identifier	text NOT NULL,
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN
			    ('pending', 'sent', 'failed')),
	attempts	integer NOT NULL DEFAULT 0,
	last_error	text,
	next_at		timestamptz NOT NULL DEFAULT now(),
	sent_at		timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, metric, window_start, revision)
);
CREATE INDEX meter_reports_pending ON meter_reports (next_at)
	WHERE status = 'pending';

-- One row per threshold crossed per period: it fires once.
CREATE TABLE usage_alerts (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	period_start	timestamptz NOT NULL,
	subject		text NOT NULL,	/* a metric, or agent:<uuid> */
	threshold	integer NOT NULL CHECK (threshold IN (80, 100, 120)),
	value		bigint NOT NULL,
	limit_value	bigint NOT NULL,
	fired_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, period_start, subject, threshold)
);

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['usage_event_ids', 'usage_events',
	    'usage_counters', 'agent_spend', 'reservations', 'usage_windows',
	    'usage_daily',
	    'meter_reports', 'usage_alerts']
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
ALTER TABLE usage_events_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_events_default FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_events_default
	USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

-- The metering period that holds time p_ts for a tenant: its
-- subscription period when p_ts falls in it, else the calendar month
-- (UTC).
CREATE FUNCTION usage_period(p_start timestamptz, p_end timestamptz,
    p_ts timestamptz)
	RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT CASE WHEN p_start IS NOT NULL AND p_ts >= p_start AND
	    p_ts < p_end THEN p_start
	    ELSE date_trunc('month', p_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
	    END
$$;

-- The most a counter may reach under a plan's quota: hard: the included
-- amount; soft: that plus the grace; metered or unlimited: NULL.
CREATE FUNCTION usage_limit(p_included bigint, p_cap text, p_grace integer)
	RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT CASE WHEN p_included IS NULL OR p_cap = 'metered' THEN NULL
	    WHEN p_cap = 'soft' THEN p_included + p_included * p_grace / 100
	    ELSE p_included END
$$;

-- The cost of an LLM call in micro-USD, from prices per million tokens.
-- Cached tokens are part of the prompt tokens (as OpenAI reports them)
-- and priced at the cached rate; the rest of the prompt at the input
-- rate.  Rounded half up once, for the whole call.
CREATE FUNCTION usage_llm_cost(p_prompt bigint, p_completion bigint,
    p_cached bigint, p_in bigint, p_out bigint, p_cached_price bigint)
	RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT floor(((coalesce(p_prompt, 0) - coalesce(p_cached, 0))::numeric
	    * p_in + coalesce(p_completion, 0)::numeric * p_out +
	    coalesce(p_cached, 0)::numeric * p_cached_price) / 1000000 + 0.5)::bigint
$$;

-- Refuse the request: SQLSTATE TG400 or TG429, the API's error code,
-- the parameter at fault.
CREATE FUNCTION usage_refuse(p_state text, p_code text, p_msg text,
    p_param text)
	RETURNS void LANGUAGE plpgsql
	AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = p_msg,
	    DETAIL = p_code, HINT = coalesce(p_param, '');
END $$;

-- The bound tenant's row and the plan whose entitlements apply.
CREATE FUNCTION usage_tenant(OUT t tenants, OUT plan text)
	LANGUAGE plpgsql STABLE
	AS $$
BEGIN
	SELECT * INTO t FROM tenants WHERE tenant_id = app_tenant();
	IF NOT FOUND THEN
		PERFORM usage_refuse('TG400', 'unknown_tenant',
		    'There is no such tenant.', 'tenant_id');
	END IF;
	plan := plan_effective(t.plan, t.status, t.past_due_since);
END $$;

-- A limit refused the request (TG429): a quota (metric) or a blocking
-- agent budget (agent id), with the limit and what is used (and held)
-- against it.  DETAIL carries "code|subject|limit|used" for db.c.
CREATE FUNCTION usage_limit_refuse(p_code text, p_subject text,
    p_limit bigint, p_used bigint)
	RETURNS void LANGUAGE plpgsql
	AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'TG429', MESSAGE = CASE p_code
	    WHEN 'budget_exceeded' THEN format('The budget of agent %s is '
	    'used up: it blocks further usage.', p_subject)
	    ELSE format('The plan''s %s quota for this period is used up.',
	    p_subject) END,
	    DETAIL = format('%s|%s|%s|%s', p_code, p_subject,
	    coalesce(p_limit, 0), coalesce(p_used, 0)),
	    HINT = CASE p_code WHEN 'budget_exceeded' THEN 'agent_id'
	    ELSE 'metric' END;
END $$;

-- Thresholds (80, 100, 120 %) of the quotas and agent budgets of the
-- periods events can still land in (35 days back) that usage reached: one usage_alerts row each, so each
-- fires once per period, and a notification queued for the new ones.
CREATE FUNCTION usage_alerts_fire()
	RETURNS void LANGUAGE plpgsql
	AS $$
DECLARE
	u	record;
	t	tenants;
	v_plan	text;
	v_period timestamptz;
BEGIN
	SELECT * INTO u FROM usage_tenant();
	t := u.t;
	v_plan := u.plan;
	-- The oldest period an event can still land in (35 days back):
	-- back-dated usage crosses thresholds of its own period too.
	v_period := usage_period(t.current_period_start, t.current_period_end,
	    now() - interval '35 days');
	WITH fired AS (
		INSERT INTO usage_alerts (tenant_id, period_start, subject,
		    threshold, value, limit_value)
		SELECT app_tenant(), c.period_start, c.metric, th.v, c.used,
		    q.included
		FROM usage_counters c
		JOIN plan_quotas q ON q.plan = v_plan AND q.metric = c.metric
		CROSS JOIN (VALUES (80), (100), (120)) AS th(v)
		WHERE c.tenant_id = app_tenant() AND c.period_start >= v_period
		    AND q.included > 0 AND c.used * 100 >= q.included * th.v
		UNION ALL
		SELECT app_tenant(), s.period_start, 'agent:' || s.agent_id,
		    th.v, s.cost_micros, a.budget_limit_micros
		FROM agent_spend s
		JOIN agents a ON a.tenant_id = s.tenant_id AND
		    a.agent_id = s.agent_id
		CROSS JOIN (VALUES (80), (100), (120)) AS th(v)
		WHERE s.tenant_id = app_tenant() AND s.period_start >= v_period
		    AND a.budget_limit_micros > 0 AND
		    s.cost_micros * 100 >= a.budget_limit_micros * th.v
		ON CONFLICT DO NOTHING
		RETURNING period_start, subject, threshold, value, limit_value
	)
	INSERT INTO notifications (tenant_id, trigger, subject, details)
	SELECT app_tenant(), CASE WHEN subject LIKE 'agent:%' THEN
	    CASE WHEN threshold >= 100 THEN 'budget_exceeded' ELSE
	    'budget_warning' END ELSE 'quota_' || threshold END, subject,
	    jsonb_build_object('threshold', threshold, 'value', value,
	    'limit', limit_value, 'period_start', period_start)
	FROM fired;
END $$;

-- A limit a batch went past (usage_ingest).
CREATE TYPE usage_over AS (code text, subject text, lim bigint,
    taken bigint);

-- Ingest a batch of events for the bound tenant, validated by the
-- application (shapes, ranges, times) and normalised to JSON objects
-- {idx, id, metric, value, agent_id, ts, reservation_id, provider,
-- model, prompt_tokens, completion_tokens, cached_tokens, channel_id,
-- cost_micros}.  What only the database can tell is checked here first
-- (agents, reservations, model prices), for the events not accepted
-- before; then one statement records the new ids, the events, the
-- counters, the settled reservations, the agents' spend and the hourly
-- windows; then the limits are checked on the rows just updated, under
-- their locks: a batch that takes a hard or soft cap or a blocking
-- budget past its limit raises TG429 and nothing of it stays.
-- Thresholds crossed are recorded once per period and notified.
CREATE FUNCTION usage_ingest(p_events jsonb)
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
	    WHEN e.agent_id IS NOT NULL AND NOT a.active THEN 'agent_inactive'
	    WHEN e.reservation_id IS NOT NULL AND r.reservation_id IS NULL
	        THEN 'unknown_reservation'
	    WHEN e.reservation_id IS NOT NULL AND (r.status <> 'held' OR
	        r.expires_at <= now()) THEN 'reservation_not_held'
	    WHEN e.reservation_id IS NOT NULL AND r.metric <> e.metric
	        THEN 'reservation_metric'
	    WHEN e.cost_micros IS NULL AND e.model IS NOT NULL AND NOT EXISTS (
	        SELECT 1 FROM model_prices mp WHERE mp.provider = e.provider
	        AND mp.model = e.model AND mp.effective_from <=
	        (coalesce(e.ts, now()) AT TIME ZONE 'UTC')::date)
	        THEN 'unknown_model' END AS why
	    FROM jsonb_to_recordset(p_events) AS e(idx integer, id text,
	        metric text, agent_id uuid, reservation_id uuid, ts timestamptz,
	        provider text, model text, cost_micros bigint)
	    LEFT JOIN agents a ON a.tenant_id = app_tenant() AND
	        a.agent_id = e.agent_id
	    LEFT JOIN reservations r ON r.tenant_id = app_tenant() AND
	        r.reservation_id = e.reservation_id
	    WHERE (e.agent_id IS NOT NULL OR e.reservation_id IS NOT NULL OR
	        (e.model IS NOT NULL AND e.cost_micros IS NULL)) AND
	        NOT EXISTS (SELECT 1 FROM usage_event_ids d WHERE
	        d.tenant_id = app_tenant() AND d.event_id = e.id)
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
	    -- Has any row this batch touched reached 80 % of its limit?
	    EXISTS (SELECT 1 FROM cnt JOIN plan_quotas q ON q.plan = v_plan
	        AND q.metric = cnt.metric WHERE q.included > 0 AND
	        cnt.used * 100 >= q.included * 80) OR
	    EXISTS (SELECT 1 FROM spend JOIN agents a ON a.tenant_id =
	        app_tenant() AND a.agent_id = spend.agent_id WHERE
	        a.budget_limit_micros > 0 AND
	        spend.cost_micros * 100 >= a.budget_limit_micros * 80)
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

-- Hold quantity (and, for an agent, a cost) against the current
-- period's quota and the agent's budget, in one statement each: the
-- counter's row lock orders concurrent callers and each sees what the
-- one before it held, so the admitted total never passes a hard cap or
-- a blocking budget.
CREATE FUNCTION usage_reserve(p_metric text, p_qty bigint, p_agent uuid,
    p_cost bigint, p_ttl integer)
	RETURNS TABLE (reservation_id uuid, expires_at timestamptz,
	    remaining bigint)
	LANGUAGE plpgsql
	AS $$
DECLARE
	u	record;
	t	tenants;
	v_plan	text;
	v_limit	bigint;
	v_period timestamptz;
	v_left	bigint;
	a	agents;
BEGIN
	SELECT * INTO u FROM usage_tenant();
	t := u.t;
	v_plan := u.plan;
	SELECT usage_limit(q.included, q.cap, q.grace_pct) INTO v_limit
	    FROM plan_quotas q WHERE q.plan = v_plan AND q.metric = p_metric
	    AND q.kind = 'period';
	IF NOT FOUND THEN
		PERFORM usage_refuse('TG400', 'invalid_value', 'No such '
		    'metric.', 'metric');
	END IF;
	IF p_agent IS NOT NULL THEN
		SELECT * INTO a FROM agents
		    WHERE agents.tenant_id = app_tenant() AND agent_id = p_agent;
		IF NOT FOUND THEN
			PERFORM usage_refuse('TG400', 'unknown_agent',
			    'There is no such agent.', 'agent_id');
		ELSIF NOT a.active THEN
			PERFORM usage_refuse('TG400', 'agent_inactive',
			    'The agent is deactivated.', 'agent_id');
		END IF;
	END IF;
	v_period := usage_period(t.current_period_start, t.current_period_end,
	    now());
	IF v_limit IS NOT NULL AND p_qty > v_limit THEN
		PERFORM usage_limit_refuse('quota_exceeded', p_metric, v_limit,
		    (SELECT c.used + greatest(c.reserved, 0) FROM usage_counters c
		    WHERE c.tenant_id = app_tenant() AND c.metric = p_metric AND
		    c.period_start = v_period));
	END IF;
	INSERT INTO usage_counters AS c (tenant_id, metric, period_start,
	    used, reserved)
	    VALUES (app_tenant(), p_metric, v_period, 0, p_qty)
	    ON CONFLICT (tenant_id, metric, period_start) DO UPDATE
	    SET reserved = c.reserved + p_qty
	    WHERE v_limit IS NULL OR c.used + greatest(c.reserved, 0) + p_qty
	        <= v_limit
	    RETURNING v_limit - c.used - c.reserved INTO v_left;
	IF NOT FOUND THEN
		PERFORM usage_limit_refuse('quota_exceeded', p_metric, v_limit,
		    (SELECT c.used + greatest(c.reserved, 0) FROM usage_counters c
		    WHERE c.tenant_id = app_tenant() AND c.metric = p_metric AND
		    c.period_start = v_period));
	END IF;
	IF p_agent IS NOT NULL THEN
		INSERT INTO agent_spend AS s (tenant_id, agent_id, period_start,
		    reserved_micros)
		    VALUES (app_tenant(), p_agent, v_period, p_cost)
		    ON CONFLICT (tenant_id, agent_id, period_start) DO UPDATE
		    SET reserved_micros = s.reserved_micros + p_cost
		    WHERE a.budget_action <> 'block' OR
		        a.budget_limit_micros IS NULL OR
		        (s.cost_micros < a.budget_limit_micros AND
		        s.cost_micros + greatest(s.reserved_micros, 0) + p_cost
		        <= a.budget_limit_micros);
		IF NOT FOUND OR (a.budget_action = 'block' AND
		    a.budget_limit_micros IS NOT NULL AND
		    p_cost > a.budget_limit_micros) THEN
			PERFORM usage_limit_refuse('budget_exceeded',
			    p_agent::text, a.budget_limit_micros,
			    (SELECT s.cost_micros + greatest(s.reserved_micros, 0)
			    FROM agent_spend s WHERE s.tenant_id = app_tenant()
			    AND s.agent_id = p_agent AND
			    s.period_start = v_period));
		END IF;
	END IF;
	RETURN QUERY INSERT INTO reservations AS r (tenant_id, metric,
	    quantity, agent_id, cost_micros, period_start, expires_at)
	    VALUES (app_tenant(), p_metric, p_qty, p_agent, p_cost, v_period,
	    now() + make_interval(secs => p_ttl))
	    RETURNING r.reservation_id, r.expires_at, v_left;
END $$;

-- Give back what a held reservation holds ('released' by its owner,
-- 'expired' by the worker).  NULL: not found; false: not held.
CREATE FUNCTION usage_unhold(p_id uuid, p_status text)
	RETURNS boolean
	LANGUAGE plpgsql
	AS $$
DECLARE
	r	reservations;
BEGIN
	UPDATE reservations SET status = p_status
	    WHERE tenant_id = app_tenant() AND reservation_id = p_id AND
	    status = 'held'
	    RETURNING * INTO r;
	IF NOT FOUND THEN
		PERFORM 1 FROM reservations
		    WHERE tenant_id = app_tenant() AND reservation_id = p_id;
		RETURN CASE WHEN FOUND THEN false ELSE NULL END;
	END IF;
	UPDATE usage_counters SET reserved = reserved - r.quantity
	    WHERE tenant_id = app_tenant() AND metric = r.metric AND
	    period_start = r.period_start;
	IF r.agent_id IS NOT NULL THEN
		UPDATE agent_spend SET reserved_micros = reserved_micros -
		    r.cost_micros
		    WHERE tenant_id = app_tenant() AND agent_id = r.agent_id AND
		    period_start = r.period_start;
	END IF;
	RETURN true;
END $$;

-- Held reservations past their time, across tenants, a batch at a time
-- (the worker then releases each under its tenant).
CREATE FUNCTION usage_expired(p_limit integer)
	RETURNS TABLE (tenant_id uuid, reservation_id uuid)
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	SELECT r.tenant_id, r.reservation_id FROM reservations r
	    WHERE r.status = 'held' AND r.expires_at <= now()
	    ORDER BY r.expires_at LIMIT p_limit
$$;
CREATE POLICY auth_lookup ON reservations TO tollgate_auth USING (true);
GRANT SELECT ON reservations TO tollgate_auth;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION usage_expired(integer) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION usage_expired(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage_expired(integer) TO tollgate_app;

-- The read-only check (POST /entitlements/check): would quantity more
-- of the metric (for the agent) be admitted now?  One statement.
CREATE FUNCTION usage_check(p_metric text, p_qty bigint, p_agent uuid)
	RETURNS TABLE (allowed boolean, remaining bigint, reason text)
	LANGUAGE sql STABLE
	AS $$
	WITH t AS (
		SELECT t.*, plan_effective(t.plan, t.status, t.past_due_since)
		    AS eplan, usage_period(t.current_period_start,
		    t.current_period_end, now()) AS period
		FROM tenants t WHERE t.tenant_id = app_tenant()
	), q AS (
		SELECT usage_limit(q.included, q.cap, q.grace_pct) AS lim,
		    coalesce(c.used, 0) + greatest(coalesce(c.reserved, 0), 0)
		    AS taken
		FROM t JOIN plan_quotas q ON q.plan = t.eplan AND
		    q.metric = p_metric AND q.kind = 'period'
		LEFT JOIN usage_counters c ON c.tenant_id = t.tenant_id AND
		    c.metric = p_metric AND c.period_start = t.period
	), b AS (
		SELECT a.active, a.budget_action = 'block' AND
		    a.budget_limit_micros IS NOT NULL AND
		    coalesce(s.cost_micros, 0) >= a.budget_limit_micros AS spent
		FROM t JOIN agents a ON a.tenant_id = t.tenant_id AND
		    a.agent_id = p_agent
		LEFT JOIN agent_spend s ON s.tenant_id = a.tenant_id AND
		    s.agent_id = a.agent_id AND s.period_start = t.period
	)
	SELECT CASE
	    WHEN NOT EXISTS (SELECT 1 FROM q) THEN false
	    WHEN p_agent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM b) THEN false
	    WHEN p_agent IS NOT NULL AND NOT (SELECT active FROM b) THEN false
	    WHEN p_agent IS NOT NULL AND (SELECT spent FROM b) THEN false
	    WHEN (SELECT lim FROM q) IS NULL THEN true
	    ELSE (SELECT taken FROM q) + p_qty <= (SELECT lim FROM q) END,
	    (SELECT CASE WHEN lim IS NULL THEN NULL ELSE greatest(lim - taken,
	        0) END FROM q),
	    CASE
	    WHEN NOT EXISTS (SELECT 1 FROM q) THEN 'unknown_metric'
	    WHEN p_agent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM b) THEN
	        'unknown_agent'
	    WHEN p_agent IS NOT NULL AND NOT (SELECT active FROM b) THEN
	        'agent_inactive'
	    WHEN p_agent IS NOT NULL AND (SELECT spent FROM b) THEN
	        'budget_exceeded'
	    WHEN (SELECT lim FROM q) IS NULL THEN NULL
	    WHEN (SELECT taken FROM q) + p_qty > (SELECT lim FROM q) THEN
	        'quota_exceeded'
	    END
$$;

-- The entitlement check with an API key in one statement (SPEC 14: one
-- round trip in all): the key identified and its tenant bound
-- (auth_bind_key), then usage_check() for that tenant.  No row: the key
-- is unknown or revoked; the check's columns are NULL when no tenant
-- was bound.
CREATE FUNCTION usage_check_key(p_hash bytea, p_tenant uuid, p_metric text,
    p_qty bigint, p_agent uuid)
	RETURNS TABLE (kind text, key_id uuid, scopes text[], bound uuid,
	    name text, plan text, plan_name text, status text, seats integer,
	    rate_limit integer, rate_per_seat boolean, seat_limit bigint,
	    created_at text, allowed boolean, remaining bigint, reason text)
	LANGUAGE plpgsql
	AS $$
DECLARE
	b	record;
BEGIN
	SELECT * INTO b FROM auth_bind_key(p_hash, p_tenant);
	IF NOT FOUND THEN
		RETURN;
	END IF;
	kind := b.kind; key_id := b.key_id; scopes := b.scopes;
	bound := b.bound; name := b.name; plan := b.plan;
	plan_name := b.plan_name; status := b.status; seats := b.seats;
	rate_limit := b.rate_limit; rate_per_seat := b.rate_per_seat;
	seat_limit := b.seat_limit; created_at := b.created_at;
	IF bound IS NOT NULL THEN
		SELECT c.allowed, c.remaining, c.reason
		    INTO allowed, remaining, reason
		    FROM usage_check(p_metric, p_qty, p_agent) c;
	END IF;
	RETURN NEXT;
END $$;
