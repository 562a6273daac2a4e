-- Tollgate 007: a kept Idempotency-Key answer belongs to the principal
-- that made the request (SPEC 5).  A key is still one per tenant, but
-- its answer (which can hold an API key's secret, shown once, or an
-- invitation link) is given again only to the same user or API key;
-- another principal of the tenant with the same key gets 409.  The
-- application writes "user:<uuid>", "key:<uuid>" or "platform-key:<uuid>"
-- and derives the answer's sealing key from it too.
--
-- Rows kept before this migration have no known principal: they get ''
-- which no request has, so a retry of one is 409 for everyone (rather
-- than the handler running twice, or the answer going to whoever asks)
-- until the row is a day old and the key free again.  Their answers
-- were sealed under the old key derivation and could not be opened
-- anyway.  No default afterwards: every claim must say whose it is.
ALTER TABLE idempotency_keys ADD COLUMN principal text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ALTER COLUMN principal DROP DEFAULT;
