-- Tollgate 016: bring-your-own LLM keys (SPEC 9).
--
-- One key per provider per tenant, stored only as a Fernet token
-- (fcgi/fernet.c, the format of Python cryptography's Fernet) under
-- TOLLGATE_ENCRYPTION_KEY; key_hint ("..." and the last four characters)
-- is all that is ever shown of it.  The number of providers is the
-- plan's llm_providers quota, counted under the tenant row's lock
-- (fcgi/db-llmkey.c).
CREATE TABLE tenant_llm_keys (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	key_id		uuid NOT NULL DEFAULT gen_random_uuid(),
	provider	text NOT NULL CHECK (provider IN ('openai', 'anthropic',
			    'google', 'mistral', 'azure_openai', 'groq',
			    'openrouter', 'custom')),
	label		text CHECK (length(label) BETWEEN 1 AND 100),
	ciphertext	text NOT NULL CHECK (ciphertext ~ '^gAAAAA[A-Za-z0-9_=-]+$'),
	key_hint	text NOT NULL CHECK (length(key_hint) BETWEEN 1 AND 16),
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_used_at	timestamptz,
	PRIMARY KEY (tenant_id, key_id),
	UNIQUE (tenant_id, provider)
);

ALTER TABLE tenant_llm_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_llm_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_llm_keys
	USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
REVOKE TRUNCATE ON tenant_llm_keys FROM tollgate_app;
