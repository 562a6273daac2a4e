-- Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
--
-- bench/webhook.lua: wrk script for POST /api/v1/billing/webhook with
-- Stripe deliveries signed beforehand (bench/webhook-events.py), each
-- sent once.  The file BENCH_WEBHOOK_FILE holds one delivery a line:
-- the Stripe-Signature header, a tab, the raw body.  Thread k of
-- BENCH_WEBHOOK_THREADS takes lines k+1, k+1+n, k+1+2n...; a thread that
-- has sent all of its lines starts over, and each such repeat is
-- counted (a repeat is the cheap duplicate path, not a new event).
--
-- At the end it prints one line that bench/run reads:
--   webhook: sent N ok N non200 N duplicate N repeated N
-- ok is the 200 answers, duplicate the 200 answers that say "duplicate"
-- (an event recorded already: the run is flawed if there is any).
local file = os.getenv("BENCH_WEBHOOK_FILE")
local nthreads = tonumber(os.getenv("BENCH_WEBHOOK_THREADS") or "")

if file == nil or file == "" or nthreads == nil or nthreads < 1 then
	error("BENCH_WEBHOOK_FILE and BENCH_WEBHOOK_THREADS must be set")
end

local threads = {}
local next_id = 0

-- In the main state, once per thread, before its init.
function setup(thread)
	thread:set("id", next_id)
	next_id = next_id + 1
	table.insert(threads, thread)
end

local sigs, bodies = {}, {}
local count, pos = 0, 0
sent, ok, non200, duplicate, repeated = 0, 0, 0, 0, 0

local path = "/api/v1/billing/webhook"
local headers = {
	["Content-Type"] = "application/json; charset=utf-8",
	["User-Agent"] = "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
	["Accept"] = "*/*; q=0.5, application/xml",
}

function init(args)
	local f = assert(io.open(file, "r"))
	local n = 0
	for line in f:lines() do
		if n % nthreads == id then
			local tab = string.find(line, "\t", 1, true)
			if tab ~= nil then
				count = count + 1
				sigs[count] = string.sub(line, 1, tab - 1)
				bodies[count] = string.sub(line, tab + 1)
			end
		end
		n = n + 1
	end
	f:close()
	if count == 0 then
		error("no deliveries for thread " .. id .. " in " .. file)
	end
end

function request()
	pos = pos + 1
	if pos > count then
		pos = 1
	end
	sent = sent + 1
	if sent > count then
		repeated = repeated + 1
	end
	headers["Stripe-Signature"] = sigs[pos]
	return wrk.format("POST", path, headers, bodies[pos])
end

function response(status, hdrs, body)
	if status ~= 200 then
		non200 = non200 + 1
	else
		ok = ok + 1
		if string.find(body, "duplicate", 1, true) then
			duplicate = duplicate + 1
		end
	end
end

function done(summary, latency, requests)
	local t = { sent = 0, ok = 0, non200 = 0, duplicate = 0, repeated = 0 }
	for _, thread in ipairs(threads) do
		for k in pairs(t) do
			t[k] = t[k] + (thread:get(k) or 0)
		end
	end
	io.write(string.format("webhook: sent %d ok %d non200 %d duplicate %d repeated %d\n",
	    t.sent, t.ok, t.non200, t.duplicate, t.repeated))
end
