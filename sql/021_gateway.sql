-- Tollgate 021: the metered LLM gateway (SPEC 6, "LLM gateway";
-- fcgi/gateway.c).  A call is planned in one statement (gateway_plan:
-- the model's provider and prices, the tenant's key for it, the agent's
-- budget and the llm_tokens quota left), held with usage_reserve()
-- (sql/014) before the provider is called, and settled after with one
-- usage event through usage_ingest(), the same path as
-- POST /usage/events, so /usage, alerts, budgets and Stripe reporting
-- see gateway traffic with no second pipeline.  What only the gateway
-- knows of a call (status, latency, time to first byte, streamed) is
-- kept beside the event in gateway_calls; the bodies are never stored.

-- Whether a provider key works, as the gateway last found it.
ALTER TABLE tenant_llm_keys ADD COLUMN status text NOT NULL
	DEFAULT 'working' CHECK (status IN ('working', 'failing'));
ALTER TABLE tenant_llm_keys ADD COLUMN status_detail text
	CHECK (length(status_detail) <= 300);
ALTER TABLE tenant_llm_keys ADD COLUMN status_at timestamptz;

CREATE TABLE gateway_calls (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	call_id		text NOT NULL,		-- the usage event's id
	at		timestamptz NOT NULL DEFAULT now(),
	agent_id	uuid,
	provider	text NOT NULL,
	model		text NOT NULL,
	stream		boolean NOT NULL,
	status		text NOT NULL CHECK (status IN ('ok', 'client_gone',
			    'cut', 'provider_error', 'timeout')),
	http_status	integer NOT NULL,
	prompt_tokens	bigint NOT NULL DEFAULT 0,
	completion_tokens bigint NOT NULL DEFAULT 0,
	cached_tokens	bigint NOT NULL DEFAULT 0,
	-- true: the provider's usage; false: settled at what was reserved.
	usage_reported	boolean NOT NULL,
	cost_micros	bigint NOT NULL DEFAULT 0,
	latency_ms	integer NOT NULL,
	ttfb_ms		integer,
	PRIMARY KEY (tenant_id, call_id)
);
CREATE INDEX gateway_calls_recent ON gateway_calls (tenant_id, at DESC);

ALTER TABLE gateway_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gateway_calls
	USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
REVOKE TRUNCATE ON gateway_calls FROM tollgate_app;

-- A tenant's own price of a model, in micro-USD per million tokens like
-- model_prices: a self-hosted model behind the custom base URL, or a
-- rate negotiated with a provider.  It takes the place of the
-- platform's price for that tenant, at the gateway and for
-- POST /usage/events alike (usage_ingest, sql/022); it is not
-- versioned: an event is priced at the tenant's price when it arrives.
-- At most 500 a tenant (llmprice.c).
CREATE TABLE tenant_model_prices (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	price_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	provider	text NOT NULL CHECK (provider IN ('openai', 'anthropic',
			    'google', 'mistral', 'azure_openai', 'groq',
			    'openrouter', 'custom')),
	model		text NOT NULL CHECK (length(model) BETWEEN 1 AND 128),
	prompt_per_mtok	bigint NOT NULL CHECK (prompt_per_mtok BETWEEN 0 AND
			    1000000000000),
	completion_per_mtok bigint NOT NULL CHECK (completion_per_mtok
			    BETWEEN 0 AND 1000000000000),
	cached_per_mtok	bigint NOT NULL CHECK (cached_per_mtok BETWEEN 0 AND
			    1000000000000),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, price_id),
	UNIQUE (tenant_id, provider, model)
);

ALTER TABLE tenant_model_prices ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_model_prices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_model_prices
	USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
REVOKE TRUNCATE ON tenant_model_prices FROM tollgate_app;

-- What a call needs to know before it is made, for the bound tenant:
-- the provider of the model (the one the tenant has a key for when
-- several list it; "provider/model" names one), its current prices
-- (the tenant's own when it set one, else the platform's),
-- the tenant's key for that provider, and for the agent (when one is
-- named) whether it exists and is active and, when its budget blocks,
-- the micro-USD left; the llm_tokens left in the period (NULL: no
-- limit).  No row: the model has no price.
CREATE FUNCTION gateway_plan(p_model text, p_agent uuid)
	RETURNS TABLE (provider text, model text, prompt_per_mtok bigint,
	    completion_per_mtok bigint, cached_per_mtok bigint,
	    key_id uuid, ciphertext text, agent_found boolean,
	    agent_active boolean, budget_left bigint, tokens_left bigint)
	LANGUAGE sql STABLE
	AS $$
	WITH u AS (SELECT * FROM usage_tenant()),
	per AS (SELECT usage_period(t.current_period_start,
	    t.current_period_end, now()) AS p FROM tenants t
	    WHERE t.tenant_id = app_tenant()),
	m AS (
		SELECT DISTINCT ON (x.provider) x.provider, x.model,
		    x.prompt_per_mtok, x.completion_per_mtok, x.cached_per_mtok
		FROM (SELECT tp.provider, tp.model, tp.prompt_per_mtok,
		    tp.completion_per_mtok, tp.cached_per_mtok, 0 AS rank,
		    NULL::date AS since
		    FROM tenant_model_prices tp
		    WHERE tp.tenant_id = app_tenant() AND (tp.model = p_model OR
		    tp.provider || '/' || tp.model = p_model)
		UNION ALL
		SELECT mp.provider, mp.model, mp.prompt_per_mtok,
		    mp.completion_per_mtok, mp.cached_per_mtok, 1,
		    mp.effective_from
		    FROM model_prices mp
		    WHERE (mp.model = p_model OR mp.provider || '/' || mp.model =
		    p_model) AND mp.effective_from <= (now() AT TIME ZONE
		    'UTC')::date) x
		ORDER BY x.provider, x.rank, x.since DESC
	),
	pick AS (
		SELECT m.*, k.key_id, k.ciphertext FROM m
		LEFT JOIN tenant_llm_keys k ON k.tenant_id = app_tenant() AND
		    k.provider = m.provider
		ORDER BY k.key_id IS NULL, m.provider = 'openai' DESC,
		    m.provider
		LIMIT 1
	),
	a AS (
		SELECT ag.active, CASE WHEN ag.budget_action = 'block' AND
		    ag.budget_limit_micros IS NOT NULL THEN
		    ag.budget_limit_micros - coalesce((SELECT s.cost_micros +
		    greatest(s.reserved_micros, 0) FROM agent_spend s, per
		    WHERE s.tenant_id = app_tenant() AND s.agent_id =
		    ag.agent_id AND s.period_start = per.p), 0) END AS left_
		FROM agents ag
		WHERE ag.tenant_id = app_tenant() AND ag.agent_id = p_agent
	)
	SELECT pick.provider, pick.model, pick.prompt_per_mtok,
	    pick.completion_per_mtok, pick.cached_per_mtok, pick.key_id,
	    pick.ciphertext, (SELECT count(*) > 0 FROM a),
	    coalesce((SELECT a.active FROM a), false),
	    (SELECT a.left_ FROM a),
	    (SELECT usage_limit(q.included, q.cap, q.grace_pct) -
	        coalesce((SELECT c.used + greatest(c.reserved, 0)
	        FROM usage_counters c, per WHERE c.tenant_id = app_tenant()
	        AND c.metric = 'llm_tokens' AND c.period_start = per.p), 0)
	     FROM plan_quotas q, u WHERE q.plan = u.plan AND
	        q.metric = 'llm_tokens' AND q.kind = 'period')
	FROM pick
$$;

-- The tenant's models: those with a price (the platform's or its own)
-- at a provider the tenant has a key for (GET /llm/models); since: the
-- platform price's date, or the day the tenant set its own.
CREATE FUNCTION gateway_models()
	RETURNS TABLE (model text, provider text, since date)
	LANGUAGE sql STABLE
	AS $$
	SELECT DISTINCT ON (x.provider, x.model) x.model, x.provider, x.since
	FROM (SELECT mp.model, mp.provider, mp.effective_from AS since,
	    1 AS rank
	    FROM model_prices mp
	    WHERE mp.effective_from <= (now() AT TIME ZONE 'UTC')::date
	UNION ALL
	SELECT tp.model, tp.provider, (tp.updated_at AT TIME ZONE
	    'UTC')::date, 0
	    FROM tenant_model_prices tp WHERE tp.tenant_id = app_tenant()) x
	JOIN tenant_llm_keys k ON k.tenant_id = app_tenant() AND
	    k.provider = x.provider
	ORDER BY x.provider, x.model, x.rank, x.since DESC
$$;

-- The provider refused the key (401): it is marked failing and the
-- organization told (debounced like every notification, sql/019).
CREATE FUNCTION gateway_key_failed(p_key uuid, p_detail text)
	RETURNS void
	LANGUAGE plpgsql
	AS $$
DECLARE
	k	tenant_llm_keys;
BEGIN
	UPDATE tenant_llm_keys SET status = 'failing',
	    status_detail = left(p_detail, 300), status_at = now()
	    WHERE tenant_id = app_tenant() AND key_id = p_key
	    RETURNING * INTO k;
	IF FOUND THEN
		INSERT INTO notifications (tenant_id, trigger, subject,
		    details)
		VALUES (app_tenant(), 'llm_key_failing', k.provider,
		    jsonb_build_object('provider', k.provider, 'hint',
		    k.key_hint, 'detail', left(p_detail, 300)));
	END IF;
END $$;


-- One of the tenant's p_cap concurrent calls: a session advisory lock
-- on (tenant, slot) taken for the length of the call and released by
-- the gateway at its end (or by the server when the connection dies
-- with its process).  The slot taken, or NULL when all are busy.
CREATE FUNCTION gateway_slot(p_cap integer)
	RETURNS integer
	LANGUAGE plpgsql
	AS $$
DECLARE
	k	integer := hashtext(app_tenant()::text);
	i	integer;
BEGIN
	FOR i IN 0 .. p_cap - 1 LOOP
		IF pg_try_advisory_lock(k, -1 - i) THEN
			RETURN i;
		END IF;
	END LOOP;
	RETURN NULL;
END $$;

-- Given back outside any transaction too (a session lock): the tenant
-- is named rather than read from the transaction.
CREATE FUNCTION gateway_slot_free(p_tenant uuid, p_slot integer)
	RETURNS boolean
	LANGUAGE sql
	AS $$
	SELECT pg_advisory_unlock(hashtext(p_tenant::text), -1 - p_slot)
$$;

-- The hold of a call and one of the tenant's p_cap call slots, in one
-- statement: the reservation (usage_reserve, refused with TG429 when
-- the budget or the quota cannot hold it), then a slot; none free
-- refuses too, and the refusal undoes the reservation with the rest of
-- the transaction.  A slot is taken only when the hold stands.
CREATE FUNCTION gateway_hold(p_qty bigint, p_agent uuid, p_cost bigint,
    p_ttl integer, p_cap integer)
	RETURNS TABLE (reservation_id uuid, slot integer)
	LANGUAGE plpgsql
	AS $$
DECLARE
	v_id	uuid;
	v_slot	integer;
BEGIN
	SELECT r.reservation_id INTO v_id FROM usage_reserve('llm_tokens',
	    p_qty, p_agent, p_cost, p_ttl) r;
	v_slot := gateway_slot(p_cap);
	IF v_slot IS NULL THEN
		PERFORM usage_refuse('TG429', 'concurrency_limit', format(
		    'This organization already has %s calls in progress '
		    '(TOLLGATE_GATEWAY_TENANT_STREAMS).', p_cap), NULL);
	END IF;
	RETURN QUERY SELECT v_id, v_slot;
END $$;

-- A key used lately and working is not written again: one write a
-- minute at most per key, not one per call.  PL/pgSQL keeps the
-- UPDATE's plan for the session; as an SQL function it was planned
-- again at every settlement (0.1 ms, measured).
CREATE FUNCTION gateway_key_used(p_key uuid)
	RETURNS void
	LANGUAGE plpgsql
	AS $$
BEGIN
	UPDATE tenant_llm_keys SET last_used_at = now(),
	    status = 'working', status_detail = NULL,
	    status_at = CASE WHEN status = 'working' THEN status_at ELSE now()
	    END
	    WHERE tenant_id = app_tenant() AND key_id = p_key AND
	    (status <> 'working' OR last_used_at IS NULL OR
	    last_used_at < now() - interval '1 minute');
END $$;
