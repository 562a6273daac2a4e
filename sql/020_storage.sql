-- Tollgate 020: encrypted storage (SPEC 5, "Storage"): records, backups
-- and vector collections.  The client encrypts; what is stored here is
-- metadata (ids, sizes, SHA-256 checksums, revisions, times) and, for
-- vectors, the client's embeddings and encrypted payloads.  The blobs of
-- records and backups live in the object store (fcgi/blob.c: a
-- directory or an S3 bucket), one immutable object per write, under a
-- key made of ids: "<tenant>/<object id>".
--
-- Bytes held count against the plan's quotas through the metering
-- counters and reservations (sql/014): metric storage_bytes (records and
-- vectors, against cloud_storage_gb) and backup_bytes (against
-- backup_gb), one counter each per tenant whose period_start is
-- -infinity, since stored bytes are not per billing period.  A quota of
-- N GB is N * 10^9 bytes.  An upload reserves its Content-Length before
-- its body is read (storage_reserve, committed alone so that concurrent
-- uploads see each other's holds), and its commit settles the hold into
-- "used" (storage_settle); a failure releases it (usage_unhold), and the
-- worker expires a hold whose responder died.
--
-- An object nobody owns is collected: the reservation's statement also
-- records the new object's key in storage_garbage, due an hour later;
-- the commit that makes a row point at the object removes that entry
-- and enters the object the row pointed at before, due at once.  A
-- process killed between writing the object and committing its row so
-- leaves an object the worker deletes, never a row without its object.

CREATE TABLE storage_tables (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	tbl		text NOT NULL CHECK (tbl ~ '^[A-Za-z0-9_.:-]{1,64}$'),
	revision	bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, tbl)
);

CREATE TABLE storage_records (
	tenant_id	uuid NOT NULL,
	record_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	tbl		text NOT NULL,
	-- NULL once deleted: the row stays as a tombstone so that a
	-- client syncing with since= learns of the deletion.
	object_key	text CHECK (object_key ~ '^[A-Za-z0-9._/-]{1,200}$'),
	size		bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
	sha256		bytea CHECK (length(sha256) = 32),
	revision	bigint NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	PRIMARY KEY (tenant_id, record_id),
	FOREIGN KEY (tenant_id, tbl) REFERENCES storage_tables
	    ON DELETE CASCADE,
	CHECK ((deleted_at IS NULL) = (object_key IS NOT NULL))
);
CREATE INDEX storage_records_sync ON storage_records (tenant_id, tbl,
	revision);

CREATE TABLE storage_backups (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	backup_id	uuid NOT NULL DEFAULT gen_random_uuid(),
	object_key	text NOT NULL CHECK (object_key ~
			    '^[A-Za-z0-9._/-]{1,200}$'),
	size		bigint NOT NULL CHECK (size > 0),
	sha256		bytea NOT NULL CHECK (length(sha256) = 32),
	version		text NOT NULL CHECK (length(version) BETWEEN 1 AND 64),
	client_ts	timestamptz NOT NULL,
	pinned		boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (tenant_id, backup_id)
);
CREATE INDEX storage_backups_newest ON storage_backups (tenant_id,
	created_at DESC);

-- Per tenant: whether an upload over backup_gb may delete the oldest
-- unpinned versions to make room (off by default: 507 instead).
CREATE TABLE storage_settings (
	tenant_id	uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
	backup_prune	boolean NOT NULL DEFAULT false
);

CREATE TABLE vector_collections (
	tenant_id	uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
	name		text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.:-]{1,64}$'),
	dim		integer NOT NULL CHECK (dim BETWEEN 1 AND 4096),
	-- The generation of the flat file responders search (fcgi/vec.c):
	-- every change writes generation + 1 beside it.
	generation	bigint NOT NULL DEFAULT 0,
	count		bigint NOT NULL DEFAULT 0,
	bytes		bigint NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, name)
);

-- The encrypted payload of each vector; the vector itself is in the
-- collection's flat file.
CREATE TABLE vector_items (
	tenant_id	uuid NOT NULL,
	collection	text NOT NULL,
	item_id		text NOT NULL CHECK (item_id ~
			    '^[A-Za-z0-9._:-]{1,128}$'),
	payload		bytea NOT NULL CHECK (length(payload) <= 65536),
	sha256		bytea NOT NULL CHECK (length(sha256) = 32),
	bytes		bigint NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, collection, item_id),
	FOREIGN KEY (tenant_id, collection) REFERENCES vector_collections
	    ON DELETE CASCADE
);

-- Objects to delete from the store: kind 'object' (a key of the object
-- store) or 'vector' (a generation's flat file, "<tenant>/<name>.<gen>").
CREATE TABLE storage_garbage (
	tenant_id	uuid NOT NULL,
	object_key	text NOT NULL,
	kind		text NOT NULL DEFAULT 'object' CHECK (kind IN
			    ('object', 'vector')),
	due_at		timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, kind, object_key)
);
CREATE INDEX storage_garbage_due ON storage_garbage (due_at);

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['storage_tables', 'storage_records',
	    'storage_backups', 'storage_settings', 'vector_collections',
	    'vector_items', 'storage_garbage']
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

-- The counter metric of a storage kind and the plan quota it counts
-- against.
CREATE FUNCTION storage_quota_metric(p_metric text) RETURNS text
	LANGUAGE sql IMMUTABLE
	AS $$
	SELECT CASE p_metric WHEN 'storage_bytes' THEN 'cloud_storage_gb'
	    WHEN 'backup_bytes' THEN 'backup_gb' END
$$;

-- The bound tenant's limit in bytes for the metric (NULL: unlimited)
-- and, when the plan allows none, the first plan that allows some.
CREATE FUNCTION storage_limit(p_metric text, OUT lim bigint,
    OUT plan_needed text)
	LANGUAGE plpgsql STABLE
	AS $$
DECLARE
	u	record;
	v_q	text := storage_quota_metric(p_metric);
BEGIN
	IF v_q IS NULL THEN
		RAISE EXCEPTION 'storage_limit: no such metric %', p_metric;
	END IF;
	SELECT * INTO u FROM usage_tenant();
	SELECT q.included * 1000000000 INTO lim FROM plan_quotas q
	    WHERE q.plan = u.plan AND q.metric = v_q AND q.kind = 'count';
	IF NOT FOUND THEN
		lim := 0;
	END IF;
	IF lim = 0 THEN
		SELECT p.name INTO plan_needed FROM plans p
		    JOIN plan_quotas q ON q.plan = p.plan AND q.metric = v_q
		    AND q.kind = 'count'
		    WHERE q.included IS NULL OR q.included > 0
		    ORDER BY p.sort LIMIT 1;
	END IF;
END $$;

-- What the bound tenant holds of the metric: used and reserved bytes.
CREATE FUNCTION storage_taken(p_metric text) RETURNS bigint
	LANGUAGE sql STABLE
	AS $$
	SELECT coalesce((SELECT c.used + greatest(c.reserved, 0)
	    FROM usage_counters c WHERE c.tenant_id = app_tenant() AND
	    c.metric = p_metric AND c.period_start = '-infinity'), 0)
$$;

-- The bytes pruning could free: every unpinned version but the newest
-- (the one a device last saw, and the If-Match of the next upload).
CREATE FUNCTION storage_backup_prunable() RETURNS bigint
	LANGUAGE sql STABLE
	AS $$
	SELECT coalesce(sum(b.size), 0)::bigint FROM storage_backups b
	    WHERE b.tenant_id = app_tenant() AND NOT b.pinned AND
	    b.backup_id IS DISTINCT FROM (SELECT n.backup_id
	    FROM storage_backups n WHERE n.tenant_id = app_tenant()
	    ORDER BY n.created_at DESC LIMIT 1)
$$;

-- Delete the oldest unpinned backups, never the newest, until the bytes
-- stored are back under p_lim; returns how many went.  Run when a new
-- version commits (storage_backup_write), so that a failed upload
-- prunes nothing.  The caller holds the counter's row lock.
CREATE FUNCTION storage_backup_prune(p_lim bigint)
	RETURNS integer
	LANGUAGE plpgsql
	AS $$
DECLARE
	b	storage_backups;
	n	integer := 0;
BEGIN
	FOR b IN SELECT * FROM storage_backups s
	    WHERE s.tenant_id = app_tenant() AND NOT s.pinned AND
	    s.backup_id IS DISTINCT FROM (SELECT x.backup_id
	    FROM storage_backups x WHERE x.tenant_id = app_tenant()
	    ORDER BY x.created_at DESC LIMIT 1)
	    ORDER BY s.created_at LIMIT 1000
	LOOP
		EXIT WHEN storage_taken('backup_bytes') <= p_lim;
		DELETE FROM storage_backups WHERE tenant_id = app_tenant() AND
		    backup_id = b.backup_id;
		UPDATE usage_counters SET used = greatest(used - b.size, 0)
		    WHERE tenant_id = app_tenant() AND metric = 'backup_bytes'
		    AND period_start = '-infinity';
		INSERT INTO storage_garbage (tenant_id, object_key, due_at)
		    VALUES (app_tenant(), b.object_key, now())
		    ON CONFLICT DO NOTHING;
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;

-- Hold p_bytes of the metric for an upload about to be read, and enter
-- the object it will be stored as (p_key) as garbage due in an hour, in
-- one statement under the counter's row lock.  reservation_id is NULL
-- when refused: plan_needed set when the plan allows no storage at all,
-- else the quota is full (lim and taken say by how much).  Backups may
-- prune old versions first when the tenant opted in.
CREATE FUNCTION storage_reserve(p_metric text, p_bytes bigint, p_key text,
    p_ttl integer)
	RETURNS TABLE (reservation_id uuid, lim bigint, taken bigint,
	    plan_needed text, pruned integer)
	LANGUAGE plpgsql
	AS $$
DECLARE
	v_lim	bigint;
	v_plan	text;
	v_taken	bigint;
	v_pruned integer := 0;
	v_id	uuid;
BEGIN
	SELECT l.lim, l.plan_needed INTO v_lim, v_plan
	    FROM storage_limit(p_metric) l;
	IF v_lim = 0 THEN
		RETURN QUERY SELECT NULL::uuid, 0::bigint, 0::bigint, v_plan, 0;
		RETURN;
	END IF;
	-- The counter's row, locked: concurrent uploads queue here.
	INSERT INTO usage_counters AS c (tenant_id, metric, period_start,
	    used, reserved)
	    VALUES (app_tenant(), p_metric, '-infinity', 0, 0)
	    ON CONFLICT (tenant_id, metric, period_start) DO UPDATE
	    SET reserved = c.reserved;
	v_taken := storage_taken(p_metric);
	-- Opted in to pruning: held when pruning at the commit would make
	-- room (nothing is deleted before the new version is stored).
	IF v_lim IS NOT NULL AND v_taken + p_bytes > v_lim AND
	    p_metric = 'backup_bytes' AND p_bytes <= v_lim AND
	    coalesce((SELECT s.backup_prune FROM storage_settings s
	    WHERE s.tenant_id = app_tenant()), false) THEN
		v_taken := v_taken - storage_backup_prunable();
	END IF;
	IF v_lim IS NOT NULL AND v_taken + p_bytes > v_lim THEN
		RETURN QUERY SELECT NULL::uuid, v_lim, v_taken, NULL::text,
		    v_pruned;
		RETURN;
	END IF;
	UPDATE usage_counters SET reserved = reserved + p_bytes
	    WHERE tenant_id = app_tenant() AND metric = p_metric AND
	    period_start = '-infinity';
	INSERT INTO reservations AS r (tenant_id, metric, quantity,
	    period_start, expires_at)
	    VALUES (app_tenant(), p_metric, p_bytes, '-infinity',
	    now() + make_interval(secs => p_ttl))
	    RETURNING r.reservation_id INTO v_id;
	INSERT INTO storage_garbage (tenant_id, object_key, due_at)
	    VALUES (app_tenant(), p_key, now() + make_interval(secs =>
	    p_ttl + 600))
	    ON CONFLICT DO NOTHING;
	RETURN QUERY SELECT v_id, v_lim, v_taken + p_bytes, NULL::text,
	    v_pruned;
END $$;

-- Settle an upload's hold: the reservation's bytes leave "reserved",
-- p_delta bytes join "used" (the new object's size less the size of the
-- one it replaces), and the new object is no longer garbage.  false when
-- the hold is gone (expired): the caller answers as if it failed.
CREATE FUNCTION storage_settle(p_res uuid, p_delta bigint, p_key text)
	RETURNS boolean
	LANGUAGE plpgsql
	AS $$
DECLARE
	r	reservations;
BEGIN
	UPDATE reservations SET status = 'settled'
	    WHERE tenant_id = app_tenant() AND reservation_id = p_res AND
	    status = 'held' AND expires_at > now()
	    RETURNING * INTO r;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	UPDATE usage_counters SET reserved = reserved - r.quantity,
	    used = greatest(used + p_delta, 0)
	    WHERE tenant_id = app_tenant() AND metric = r.metric AND
	    period_start = '-infinity';
	DELETE FROM storage_garbage WHERE tenant_id = app_tenant() AND
	    kind = 'object' AND object_key = p_key;
	RETURN true;
END $$;

-- Bytes no longer stored (a deletion); the object joins the garbage.
CREATE FUNCTION storage_free(p_metric text, p_bytes bigint, p_key text,
    p_kind text)
	RETURNS void
	LANGUAGE sql
	AS $$
	UPDATE usage_counters SET used = greatest(used - p_bytes, 0)
	    WHERE tenant_id = app_tenant() AND metric = p_metric AND
	    period_start = '-infinity';
	INSERT INTO storage_garbage (tenant_id, object_key, kind, due_at)
	    SELECT app_tenant(), p_key, p_kind, now() WHERE p_key IS NOT NULL
	    ON CONFLICT (tenant_id, kind, object_key) DO UPDATE
	    SET due_at = now();
$$;

-- Vectors are charged in the transaction of their change (their body is
-- already read): p_delta more bytes of storage_bytes, refused (false)
-- when that passes the quota.  The counter's row lock orders callers.
CREATE FUNCTION storage_charge(p_delta bigint, OUT ok boolean,
    OUT lim bigint, OUT taken bigint, OUT plan_needed text)
	LANGUAGE plpgsql
	AS $$
BEGIN
	SELECT l.lim, l.plan_needed INTO lim, plan_needed
	    FROM storage_limit('storage_bytes') l;
	-- Bytes given back are given back whatever the plan now allows.
	IF lim = 0 AND p_delta <= 0 THEN
		UPDATE usage_counters SET used = greatest(used + p_delta, 0)
		    WHERE tenant_id = app_tenant() AND
		    metric = 'storage_bytes' AND period_start = '-infinity';
		ok := true;
		taken := 0;
		RETURN;
	END IF;
	IF lim = 0 THEN
		ok := false;
		taken := 0;
		RETURN;
	END IF;
	INSERT INTO usage_counters AS c (tenant_id, metric, period_start,
	    used, reserved)
	    VALUES (app_tenant(), 'storage_bytes', '-infinity', 0, 0)
	    ON CONFLICT (tenant_id, metric, period_start) DO UPDATE
	    SET reserved = c.reserved;
	taken := storage_taken('storage_bytes');
	ok := p_delta <= 0 OR lim IS NULL OR taken + p_delta <= lim;
	IF ok THEN
		UPDATE usage_counters SET used = greatest(used + p_delta, 0)
		    WHERE tenant_id = app_tenant() AND
		    metric = 'storage_bytes' AND period_start = '-infinity';
		taken := taken + p_delta;
	END IF;
END $$;

-- The next revision of a table of records (created on first use).
CREATE FUNCTION storage_revision(p_tbl text) RETURNS bigint
	LANGUAGE sql
	AS $$
	INSERT INTO storage_tables AS t (tenant_id, tbl, revision)
	    VALUES (app_tenant(), p_tbl, 1)
	    ON CONFLICT (tenant_id, tbl) DO UPDATE SET revision = t.revision + 1
	    RETURNING t.revision
$$;

-- Garbage due, across tenants, a batch at a time (the worker deletes
-- each object and then its entry, under its tenant).
CREATE FUNCTION storage_garbage_due(p_limit integer)
	RETURNS TABLE (tenant_id uuid, kind text, object_key text)
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
	AS $$
	SELECT g.tenant_id, g.kind, g.object_key FROM storage_garbage g
	    WHERE g.due_at <= now() ORDER BY g.due_at LIMIT p_limit
$$;
CREATE POLICY auth_lookup ON storage_garbage TO tollgate_auth USING (true);
GRANT SELECT ON storage_garbage TO tollgate_auth;
GRANT CREATE ON SCHEMA public TO tollgate_auth;
ALTER FUNCTION storage_garbage_due(integer) OWNER TO tollgate_auth;
REVOKE CREATE ON SCHEMA public FROM tollgate_auth;
REVOKE ALL ON FUNCTION storage_garbage_due(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION storage_garbage_due(integer) TO tollgate_app;

-- Write a record (p_id NULL: create one in table p_tbl) whose object is
-- already stored under p_key, settling the upload's hold, in one
-- statement.  p_expect: the revision the client last saw (If-Match), or
-- NULL.  status says what happened; on anything but created/updated the
-- hold is released here, so that the caller commits and answers.
CREATE FUNCTION storage_record_write(p_id uuid, p_tbl text, p_key text,
    p_size bigint, p_sha bytea, p_res uuid, p_expect bigint)
	RETURNS TABLE (status text, record_id uuid, tbl text, size bigint,
	    sha256 text, revision bigint, created_at timestamptz,
	    updated_at timestamptz)
	LANGUAGE plpgsql
	AS $$
DECLARE
	o	storage_records;
	v_st	text;
	v_rev	bigint;
BEGIN
	IF p_id IS NOT NULL THEN
		SELECT * INTO o FROM storage_records s
		    WHERE s.tenant_id = app_tenant() AND s.record_id = p_id AND
		    s.deleted_at IS NULL
		    FOR UPDATE;
		IF NOT FOUND THEN
			v_st := 'not_found';
		ELSIF p_expect IS NOT NULL AND o.revision <> p_expect THEN
			v_st := 'conflict';
		END IF;
	END IF;
	IF v_st IS NULL AND NOT storage_settle(p_res, p_size -
	    coalesce(o.size, 0), p_key) THEN
		v_st := 'hold_lost';
	END IF;
	IF v_st IS NOT NULL THEN
		PERFORM usage_unhold(p_res, 'released');
		RETURN QUERY SELECT v_st, p_id, NULL::text, NULL::bigint,
		    NULL::text, o.revision, NULL::timestamptz,
		    NULL::timestamptz;
		RETURN;
	END IF;
	v_rev := storage_revision(coalesce(o.tbl, p_tbl));
	IF p_id IS NULL THEN
		RETURN QUERY INSERT INTO storage_records AS s (tenant_id, tbl,
		    object_key, size, sha256, revision)
		    VALUES (app_tenant(), p_tbl, p_key, p_size, p_sha, v_rev)
		    RETURNING 'created'::text, s.record_id, s.tbl, s.size,
		    encode(s.sha256, 'hex'), s.revision, s.created_at,
		    s.updated_at;
		RETURN;
	END IF;
	INSERT INTO storage_garbage (tenant_id, object_key, due_at)
	    VALUES (app_tenant(), o.object_key, now())
	    ON CONFLICT DO NOTHING;
	RETURN QUERY UPDATE storage_records AS s SET object_key = p_key,
	    size = p_size, sha256 = p_sha, revision = v_rev,
	    updated_at = now()
	    WHERE s.tenant_id = app_tenant() AND s.record_id = p_id
	    RETURNING 'updated'::text, s.record_id, s.tbl, s.size,
	    encode(s.sha256, 'hex'), s.revision, s.created_at, s.updated_at;
END $$;

-- Delete a record: a tombstone with the next revision; its bytes are
-- freed and its object collected.  false when there is no such record.
CREATE FUNCTION storage_record_delete(p_id uuid, p_expect bigint)
	RETURNS text
	LANGUAGE plpgsql
	AS $$
DECLARE
	o	storage_records;
BEGIN
	SELECT * INTO o FROM storage_records s
	    WHERE s.tenant_id = app_tenant() AND s.record_id = p_id AND
	    s.deleted_at IS NULL
	    FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 'not_found';
	END IF;
	IF p_expect IS NOT NULL AND o.revision <> p_expect THEN
		RETURN 'conflict';
	END IF;
	PERFORM storage_free('storage_bytes', o.size, o.object_key, 'object');
	UPDATE storage_records SET object_key = NULL, size = 0, sha256 = NULL,
	    revision = storage_revision(o.tbl), updated_at = now(),
	    deleted_at = now()
	    WHERE tenant_id = app_tenant() AND record_id = p_id;
	RETURN 'deleted';
END $$;

-- Commit an uploaded backup version, settling its hold.  p_expect: the
-- id of the newest version the client last saw (If-Match), or NULL.
CREATE FUNCTION storage_backup_write(p_key text, p_size bigint,
    p_sha bytea, p_version text, p_ts timestamptz, p_res uuid,
    p_expect uuid)
	RETURNS TABLE (status text, backup_id uuid, created_at timestamptz,
	    pruned integer)
	LANGUAGE plpgsql
	AS $$
DECLARE
	v_newest uuid;
	v_st	text;
	v_lim	bigint;
	v_pruned integer := 0;
BEGIN
	-- The counter's row lock orders concurrent uploads of the tenant,
	-- so that "newest" cannot change under the comparison.
	PERFORM 1 FROM usage_counters c WHERE c.tenant_id = app_tenant() AND
	    c.metric = 'backup_bytes' AND c.period_start = '-infinity'
	    FOR UPDATE;
	IF p_expect IS NOT NULL THEN
		SELECT b.backup_id INTO v_newest FROM storage_backups b
		    WHERE b.tenant_id = app_tenant()
		    ORDER BY b.created_at DESC LIMIT 1;
		IF v_newest IS DISTINCT FROM p_expect THEN
			v_st := 'conflict';
		END IF;
	END IF;
	IF v_st IS NULL AND NOT storage_settle(p_res, p_size, p_key) THEN
		v_st := 'hold_lost';
	END IF;
	IF v_st IS NOT NULL THEN
		PERFORM usage_unhold(p_res, 'released');
		RETURN QUERY SELECT v_st, v_newest, NULL::timestamptz, 0;
		RETURN;
	END IF;
	-- Stored: the oldest versions go now if the tenant opted in.
	SELECT l.lim INTO v_lim FROM storage_limit('backup_bytes') l;
	IF v_lim IS NOT NULL AND storage_taken('backup_bytes') > v_lim AND
	    coalesce((SELECT s.backup_prune FROM storage_settings s
	    WHERE s.tenant_id = app_tenant()), false) THEN
		v_pruned := storage_backup_prune(v_lim);
	END IF;
	RETURN QUERY INSERT INTO storage_backups AS b (tenant_id, object_key,
	    size, sha256, version, client_ts)
	    VALUES (app_tenant(), p_key, p_size, p_sha, p_version, p_ts)
	    RETURNING 'created'::text, b.backup_id, b.created_at, v_pruned;
END $$;

-- Delete a backup version: its bytes freed, its object collected.
CREATE FUNCTION storage_backup_delete(p_id uuid) RETURNS boolean
	LANGUAGE plpgsql
	AS $$
DECLARE
	b	storage_backups;
BEGIN
	DELETE FROM storage_backups s WHERE s.tenant_id = app_tenant() AND
	    s.backup_id = p_id
	    RETURNING * INTO b;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM storage_free('backup_bytes', b.size, b.object_key, 'object');
	RETURN true;
END $$;
