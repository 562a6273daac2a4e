-- Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
--
-- bench/metering.lua: wrk script for the metering routes of SPEC 14,
-- with a tenant API key (Authorization: Bearer), the same requests to
-- the product and to the reference.  BENCH_MODE chooses the route:
--
--   ingest   POST /api/v1/usage/events, BENCH_BATCH new events a
--            request (default 100).  Every event id is new: the run
--            token BENCH_RUN (one per wrk run), the thread and a
--            counter, so dedup is on and never hit.  A mix of what
--            agent runners send: LLM calls with provider, model and
--            tokens (priced by the product from model_prices; one in
--            ten carries its own cost_micros), API calls, agent
--            executions and messages; the agents of BENCH_AGENTS
--            (comma-separated ids) on seven in ten.
--   check    POST /api/v1/entitlements/check {metric, quantity}.
--   reserve  POST /api/v1/usage/reservations {metric: api_calls,
--            quantity: 1, ttl_seconds: 3600}: racing for a hard cap,
--            so 429 is an expected answer (a refusal), not an error.
--
-- bench/run passes the key in the environment (BENCH_API_KEY), so the
-- secret never shows on a command line.  At the end it prints one line
-- that bench/run reads:
--   metering: sent N ok N limited N other N short N
-- ok is the 2xx answers, limited the 429s that say quota_exceeded (a
-- rate limit's 429 is "other"), other every other status;
-- short (ingest only) counts 200s whose "accepted" is not the whole
-- batch (a duplicate id: the run would be measuring the cheap path).
local key = os.getenv("BENCH_API_KEY")
local mode = os.getenv("BENCH_MODE")
local run = os.getenv("BENCH_RUN") or "0"
local batch = tonumber(os.getenv("BENCH_BATCH") or "100")
local agents_env = os.getenv("BENCH_AGENTS") or ""

if key == nil or key == "" then
	error("BENCH_API_KEY must be set")
end
if mode ~= "ingest" and mode ~= "check" and mode ~= "reserve" then
	error("BENCH_MODE must be ingest, check or reserve")
end
if batch == nil or batch < 1 or batch > 1000 then
	error("BENCH_BATCH must be 1 to 1000")
end

local threads = {}
local next_id = 0

-- In the main state, once per thread, before its init.
function setup(thread)
	thread:set("id", next_id)
	next_id = next_id + 1
	table.insert(threads, thread)
end

sent, ok, limited, other, short = 0, 0, 0, 0, 0

local headers = {
	["Content-Type"] = "application/json",
	["Authorization"] = "Bearer " .. key,
}

-- The body of each event after its id, one of ten shapes in turn.
local tails = {}
local want = '"accepted" ?: ?' .. batch .. ' ?,'
local prefix
local path, fixed

function init(args)
	local agents = {}
	for a in string.gmatch(agents_env, "[^,]+") do
		table.insert(agents, a)
	end
	local function agent(k)
		if #agents == 0 then
			return ""
		end
		return ',"agent_id":"' .. agents[k % #agents + 1] .. '"'
	end
	local function llm(provider, model, prompt, completion, cached, k)
		return '"metric":"llm_tokens","value":' .. (prompt + completion) ..
		    agent(k) .. ',"properties":{"provider":"' .. provider ..
		    '","model":"' .. model .. '","prompt_tokens":' .. prompt ..
		    ',"completion_tokens":' .. completion ..
		    ',"cached_tokens":' .. cached .. '}}'
	end
	tails = {
		llm("openai", "gpt-4o-mini", 1200, 430, 256, 0),
		llm("anthropic", "claude-sonnet-4", 3400, 910, 0, 1),
		'"metric":"api_calls","value":1}',
		llm("openai", "gpt-4.1", 860, 220, 0, 0),
		'"metric":"api_calls","value":1' .. agent(1) .. '}',
		llm("google", "gemini-2.0-flash", 2100, 640, 512, 1),
		'"metric":"agent_executions","value":1' .. agent(0) .. '}',
		'"metric":"api_calls","value":3}',
		'"metric":"llm_tokens","value":1536' .. agent(1) ..
		    ',"properties":{"provider":"acme","model":"in-house-7b",' ..
		    '"prompt_tokens":1024,"completion_tokens":512,' ..
		    '"cost_micros":420}}',
		'"metric":"messages","value":1,"properties":' ..
		    '{"channel_id":"slack:C0BENCH"}}',
	}
	prefix = '{"id":"evt-' .. run .. '-' .. id .. '-'
	if mode == "ingest" then
		path = "/api/v1/usage/events"
	elseif mode == "check" then
		path = "/api/v1/entitlements/check"
		fixed = '{"metric":"llm_tokens","quantity":2000}'
	else
		path = "/api/v1/usage/reservations"
		fixed = '{"metric":"api_calls","quantity":1,"ttl_seconds":3600}'
	end
end

local seq = 0
local parts = {}

function request()
	sent = sent + 1
	if fixed ~= nil then
		return wrk.format("POST", path, headers, fixed)
	end
	seq = seq + 1
	local head = prefix .. seq .. '-'
	for i = 1, batch do
		parts[i] = head .. i .. '",' .. tails[(i - 1) % 10 + 1]
	end
	return wrk.format("POST", path, headers,
	    '{"events":[' .. table.concat(parts, ",", 1, batch) .. ']}')
end

function response(status, hdrs, body)
	if status >= 200 and status < 300 then
		ok = ok + 1
		if fixed == nil and not string.find(body, want) then
			short = short + 1
		end
	elseif status == 429 and string.find(body, "quota_exceeded", 1, true) then
		limited = limited + 1
	else
		other = other + 1
	end
end

function done(summary, latency, requests)
	local t = { sent = 0, ok = 0, limited = 0, other = 0, short = 0 }
	for _, thread in ipairs(threads) do
		for k in pairs(t) do
			t[k] = t[k] + (thread:get(k) or 0)
		end
	end
	io.write(string.format(
	    "metering: sent %d ok %d limited %d other %d short %d\n",
	    t.sent, t.ok, t.limited, t.other, t.short))
end
