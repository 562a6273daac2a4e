-- Tollgate 003: the default plan catalogue (SPEC 4).  Data, not code:
-- change plans with a new migration.  Period quotas are per billing
-- period; count quotas are checked when the thing is created.  A NULL
-- "included" is unlimited.  Prices in cents, unit prices in micro-USD
-- per price_unit units.
INSERT INTO plans (plan, name, price_cents, per_seat, trial_days,
    rate_limit, rate_per_seat, sort) VALUES
	('free', 'Free', 0, false, 0, 20, false, 0),
	('pro', 'Pro', 1500, false, 14, 60, false, 1),
	('power', 'Power', 2900, false, 14, 120, false, 2),
	('team', 'Team', 4900, true, 14, 200, true, 3);

INSERT INTO plan_features (plan, feature) VALUES
	('power', 'batch_builder'), ('power', 'plugin_marketplace'),
	('team', 'batch_builder'), ('team', 'plugin_marketplace'),
	('team', 'sso');

INSERT INTO plan_quotas (plan, metric, kind, included, cap, grace_pct,
    unit_price_micros, price_unit) VALUES
	('free', 'agents', 'count', 3, 'hard', 0, NULL, 1),
	('free', 'batch_active', 'count', 2, 'hard', 0, NULL, 1),
	('free', 'llm_providers', 'count', 1, 'hard', 0, NULL, 1),
	('free', 'channels', 'count', 1, 'hard', 0, NULL, 1),
	('free', 'seats', 'count', 2, 'hard', 0, NULL, 1),
	('free', 'cloud_storage_gb', 'count', 0, 'hard', 0, NULL, 1),
	('free', 'backup_gb', 'count', 0, 'hard', 0, NULL, 1),
	('free', 'llm_tokens', 'period', 10000, 'soft', 20, NULL, 1),
	('free', 'agent_executions', 'period', 100, 'soft', 20, NULL, 1),
	('free', 'api_calls', 'period', 1000, 'soft', 20, NULL, 1),
	('free', 'messages', 'period', 100, 'soft', 20, NULL, 1),

	('pro', 'agents', 'count', NULL, 'hard', 0, NULL, 1),
	('pro', 'batch_active', 'count', 10, 'hard', 0, NULL, 1),
	('pro', 'llm_providers', 'count', NULL, 'hard', 0, NULL, 1),
	('pro', 'channels', 'count', 5, 'hard', 0, NULL, 1),
	('pro', 'seats', 'count', 5, 'hard', 0, NULL, 1),
	('pro', 'cloud_storage_gb', 'count', 5, 'hard', 0, NULL, 1),
	('pro', 'backup_gb', 'count', 5, 'hard', 0, NULL, 1),
	('pro', 'llm_tokens', 'period', 1000000, 'metered', 0, 10000, 1000),
	('pro', 'agent_executions', 'period', 5000, 'metered', 0, 100000, 1),
	('pro', 'api_calls', 'period', 100000, 'metered', 0, 1000, 1),
	('pro', 'messages', 'period', 10000, 'metered', 0, 5000, 1),

	('power', 'agents', 'count', NULL, 'hard', 0, NULL, 1),
	('power', 'batch_active', 'count', NULL, 'hard', 0, NULL, 1),
	('power', 'llm_providers', 'count', NULL, 'hard', 0, NULL, 1),
	('power', 'channels', 'count', 20, 'hard', 0, NULL, 1),
	('power', 'seats', 'count', 10, 'hard', 0, NULL, 1),
	('power', 'cloud_storage_gb', 'count', 25, 'hard', 0, NULL, 1),
	('power', 'backup_gb', 'count', 25, 'hard', 0, NULL, 1),
	('power', 'llm_tokens', 'period', 5000000, 'metered', 0, 8000, 1000),
	('power', 'agent_executions', 'period', 20000, 'metered', 0, 80000, 1),
	('power', 'api_calls', 'period', 500000, 'metered', 0, 800, 1),
	('power', 'messages', 'period', 50000, 'metered', 0, 4000, 1),

	('team', 'agents', 'count', NULL, 'hard', 0, NULL, 1),
	('team', 'batch_active', 'count', NULL, 'hard', 0, NULL, 1),
	('team', 'llm_providers', 'count', NULL, 'hard', 0, NULL, 1),
	('team', 'channels', 'count', NULL, 'hard', 0, NULL, 1),
	('team', 'seats', 'count', NULL, 'metered', 0, NULL, 1),
	('team', 'cloud_storage_gb', 'count', NULL, 'hard', 0, NULL, 1),
	('team', 'backup_gb', 'count', NULL, 'hard', 0, NULL, 1),
	('team', 'llm_tokens', 'period', 10000000, 'metered', 0, 5000, 1000),
	('team', 'agent_executions', 'period', 50000, 'metered', 0, 50000, 1),
	('team', 'api_calls', 'period', 1000000, 'metered', 0, 500, 1),
	('team', 'messages', 'period', 100000, 'metered', 0, 3000, 1);
