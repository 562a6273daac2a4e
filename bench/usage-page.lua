-- Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
--
-- bench/usage-page.lua: wrk script for GET /usage, the portal's usage
-- page, signed in: the portal session cookie (tg_session) comes from
-- BENCH_SESSION, which bench/run got by posting the sign-in form, so it
-- never shows on a command line.
local session = os.getenv("BENCH_SESSION")

if session == nil or session == "" then
	error("BENCH_SESSION must be set")
end

wrk.method = "GET"
wrk.headers["Cookie"] = "tg_session=" .. session
