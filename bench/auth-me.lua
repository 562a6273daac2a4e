-- Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
--
-- bench/auth-me.lua: wrk script for GET /api/v1/auth/me with a platform
-- key acting for one tenant.  Each request looks the key up by its hash
-- through the SECURITY DEFINER function, opens the tenant's transaction
-- (row-level security) and reads the tenant and its plan.
--
-- bench/run passes the key and the tenant in the environment, so the
-- secret never shows on a command line (ps, shell history).
local key = os.getenv("BENCH_PLATFORM_KEY")
local tenant = os.getenv("BENCH_TENANT_ID")

if key == nil or key == "" or tenant == nil or tenant == "" then
	error("BENCH_PLATFORM_KEY and BENCH_TENANT_ID must be set")
end

wrk.method = "GET"
wrk.path = "/api/v1/auth/me?tenant_id=" .. tenant
wrk.headers["Authorization"] = "Bearer " .. key
