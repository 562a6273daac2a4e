-- Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
--
-- bench/storage.lua: wrk script for the storage rows (bench/README.md,
-- "Storage records"), with the platform key acting for the storage
-- tenant (Authorization: Bearer, ?tenant_id=).  BENCH_MODE chooses:
--
--   put   POST /api/v1/storage/records?table=BENCH_TABLE with the bytes
--         of BENCH_BODY_FILE as the body and X-Checksum-SHA256 set to
--         BENCH_BODY_SHA256 (hex).  The same body every time: each POST
--         creates a new record (and a new object), so nothing is
--         deduplicated.
--   get   GET /api/v1/storage/records/BENCH_RECORD: the object streamed.
--
-- The request is built once (no request() function), so wrk sends the
-- same bytes without calling into Lua per request; it counts answers
-- with a status of 400 or more itself.  bench/run passes the key in the
-- environment, so the secret never shows on a command line.
local key = os.getenv("BENCH_PLATFORM_KEY")
local tenant = os.getenv("BENCH_TENANT_ID")
local mode = os.getenv("BENCH_MODE")

if key == nil or key == "" or tenant == nil or tenant == "" then
	error("BENCH_PLATFORM_KEY and BENCH_TENANT_ID must be set")
end

wrk.headers["Authorization"] = "Bearer " .. key

if mode == "put" then
	local table = os.getenv("BENCH_TABLE")
	local file = os.getenv("BENCH_BODY_FILE")
	local sha = os.getenv("BENCH_BODY_SHA256")
	if table == nil or file == nil or sha == nil then
		error("put: BENCH_TABLE, BENCH_BODY_FILE and BENCH_BODY_SHA256 must be set")
	end
	local f = assert(io.open(file, "rb"))
	local body = f:read("*a")
	f:close()
	wrk.method = "POST"
	wrk.path = "/api/v1/storage/records?table=" .. table ..
	    "&tenant_id=" .. tenant
	wrk.headers["Content-Type"] = "application/octet-stream"
	wrk.headers["X-Checksum-SHA256"] = sha
	-- wrk.format adds Content-Length from the body.
	wrk.body = body
elseif mode == "get" then
	local record = os.getenv("BENCH_RECORD")
	if record == nil or record == "" then
		error("get: BENCH_RECORD must be set")
	end
	wrk.method = "GET"
	wrk.path = "/api/v1/storage/records/" .. record .. "?tenant_id=" ..
	    tenant
else
	error("BENCH_MODE must be put or get")
end
