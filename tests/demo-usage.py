#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/demo-usage.py: a month of plausible usage for a stack's demo
# organization, so that /usage and the dashboard have something to show.
# tests/stack.sh up runs it once lighttpd answers (after `stripe sync`).
#
#   tests/demo-usage.py TENANT_ID
#
# Environment (stack.env): TOLLGATE_URL, TOLLGATE_PLATFORM_KEY,
# TOLLGATE_OWNER_DATABASE_URL, and PG_BIN (psql's directory; psql from
# PATH without it).
#
# 1. Demo only: a demo organization still on the Free plan, with no
#    Stripe subscription, is put on Pro with a billing period that began
#    20 days ago, straight in the database as its owner.  A month of use
#    is far beyond the Free plan's soft limits (10,000 LLM tokens + 20 %),
#    and a real Pro subscription would need a checkout through the
#    Stripe emulator.  An organization that has a subscription, or was
#    moved on before, is left as it is.
# 2. Four agents, with budgets of each kind (one blocks, two alert only,
#    one has none), added by name when missing.  Row-level security is
#    forced on the tables, for their owner too: the session names the
#    tenant first (set_config('tollgate.tenant_id', ...)).
# 3. The usage of the last 30 days through the real API (POST
#    /api/v1/usage/events with the platform key), in batches of up to
#    1,000: LLM calls of five models at four providers, agent runs, API
#    calls and messages on two channels, busier on working days and
#    working hours.  Every day's events are drawn from a generator seeded
#    with the date and carry the ids demo-<day>-<n>: a second run sends
#    the same events, which the API counts as duplicates, and adds only
#    the hours that have passed since.
# 4. Signed in as the demo owner (TOLLGATE_DEMO_EMAIL and _PASSWORD):
#    notifications to a Slack emulator webhook, and encrypted storage for
#    /usage (three records, two backup versions, a vector collection),
#    each made once.
#
# Exit status 0, also when the API refuses the usage for a limit (the
# organization was changed by hand: its quota or a blocking budget is
# its own business, said on standard error); 1 on any other failure.
import base64
import datetime
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request

BATCH = 1000		# events per request, the API's maximum
DAYS = 30
CHANNELS = ("slack-support", "whatsapp-sales")

# name, budget in micro-USD (None: no budget), action, what it does:
# runs per working day, LLM calls per run, models with their weights,
# tokens of a call (prompt, completion), API calls and messages per run,
# the hours it works, and its channel.
AGENTS = (
	{"name": "Support triage", "budget": 1500000, "action": "block",
	    "runs": 110, "calls": 1,
	    "models": ((("openai", "gpt-4o-mini"), 8),
	        (("anthropic", "claude-sonnet-4"), 2)),
	    "tokens": (200, 45), "api": 20, "messages": 2,
	    "hours": range(7, 20), "channel": CHANNELS[0]},
	{"name": "Research assistant", "budget": 1500000, "action": "alert",
	    "runs": 9, "calls": 2,
	    "models": ((("anthropic", "claude-sonnet-4"), 6),
	        (("openai", "gpt-4o"), 4)),
	    "tokens": (550, 200), "api": 40, "messages": 0,
	    "hours": range(8, 19), "channel": None},
	{"name": "Sales outreach", "budget": None, "action": "block",
	    "runs": 40, "calls": 1,
	    "models": ((("google", "gemini-2.0-flash"), 6),
	        (("mistral", "mistral-small"), 4)),
	    "tokens": (220, 110), "api": 10, "messages": 5,
	    "hours": range(9, 18), "channel": CHANNELS[1]},
	{"name": "Nightly reports", "budget": 500000, "action": "alert",
	    "runs": 1, "calls": 4,
	    "models": ((("openai", "gpt-4o"), 1),),
	    "tokens": (1400, 450), "api": 60, "messages": 0,
	    "hours": range(2, 3), "channel": None, "every_day": True},
)


def env(name):
	v = os.environ.get(name)
	if not v:
		sys.exit("demo-usage: %s is not set (load stack.env)" % name)
	return v


def owner_sql(tenant, sql):
	"""Statements as the database owner, on one connection that names
	the tenant first; the rows of the last, as lists of text."""
	psql = os.path.join(os.environ["PG_BIN"], "psql") if \
	    os.environ.get("PG_BIN") else "psql"
	script = ("SELECT set_config('tollgate.tenant_id', :'tenant', false) "
	    "AS tenant_set \\gset\n" + sql + "\n")
	p = subprocess.run([psql, "-X", "-q", "-A", "-t", "-F", "\t", "-v",
	    "ON_ERROR_STOP=1", "-v", "tenant=%s" % tenant,
	    env("TOLLGATE_OWNER_DATABASE_URL")], input=script, text=True,
	    capture_output=True, timeout=30)
	if p.returncode != 0:
		sys.exit("demo-usage: psql failed: %s" % p.stderr.strip())
	return [line.split("\t") for line in p.stdout.splitlines() if line]


def make_pro(tenant):
	"""Demo only (see the top): Free without a subscription becomes Pro,
	its period 20 days old.  The plan in force, whatever it is."""
	rows = owner_sql(tenant, """
UPDATE tenants SET plan = 'pro', status = 'active',
    current_period_start = date_trunc('day', now() AT TIME ZONE 'UTC')
        AT TIME ZONE 'UTC' - interval '20 days',
    current_period_end = date_trunc('day', now() AT TIME ZONE 'UTC')
        AT TIME ZONE 'UTC' - interval '20 days' + interval '1 month'
    WHERE tenant_id = :'tenant' AND plan = 'free' AND status = 'active'
    AND stripe_subscription_id IS NULL AND current_period_start IS NULL;
SELECT plan_effective(plan, status, past_due_since) FROM tenants
    WHERE tenant_id = :'tenant';""")
	if not rows:
		sys.exit("demo-usage: no tenant %s" % tenant)
	return rows[0][0]


def ensure_agents(tenant):
	"""The demo's agents by name (added when missing): {name: id} of the
	active ones."""
	values = ", ".join("('%s', %s, '%s')" % (a["name"], "NULL" if
	    a["budget"] is None else "%d" % a["budget"], a["action"])
	    for a in AGENTS)
	rows = owner_sql(tenant, """
INSERT INTO agents (tenant_id, name, budget_limit_micros, budget_action)
    SELECT :'tenant', v.name, v.budget, v.action FROM (VALUES %s)
    AS v(name, budget, action) WHERE NOT EXISTS (SELECT 1 FROM agents a
    WHERE a.tenant_id = :'tenant' AND a.name = v.name);
SELECT DISTINCT ON (name) name, agent_id FROM agents
    WHERE tenant_id = :'tenant' AND active ORDER BY name, created_at;"""
	    % values)
	return {name: agent_id for name, agent_id in rows}


def pick(rng, weighted):
	total = sum(w for _, w in weighted)
	x = rng.uniform(0, total)
	for item, w in weighted:
		x -= w
		if x <= 0:
			return item
	return weighted[-1][0]


def day_events(tenant, day, agents):
	"""The events of one UTC day, in a fixed order for that date: the
	same list on every run (the agents' ids aside)."""
	rng = random.Random("tollgate-demo-%s" % day.isoformat())
	workday = day.weekday() < 5
	# Slow swells over the weeks, from the date alone.
	drift = 1.0 + 0.2 * math.sin(day.toordinal() / 5.0)
	events = []
	for a in AGENTS:
		# Drawn for every agent, kept for those there: the ids of a
		# day do not depend on which agents are active.
		agent = agents.get(a["name"])
		share = 1.0 if workday or a.get("every_day") else 0.3
		runs = max(0, round(a["runs"] * share * drift *
		    rng.uniform(0.8, 1.2)))
		hourly = {}
		for _ in range(runs):
			# Busiest in the middle of its working hours.
			h = min(a["hours"][-1], int(rng.triangular(a["hours"][0],
			    a["hours"][-1] + 1)))
			ts = datetime.datetime.combine(day, datetime.time(h,
			    rng.randrange(60), rng.randrange(60)),
			    datetime.timezone.utc)
			hourly[h] = hourly.get(h, 0) + 1
			for _ in range(a["calls"]):
				provider, model = pick(rng, a["models"])
				prompt = int(a["tokens"][0] * rng.uniform(0.5, 1.6))
				completion = int(a["tokens"][1] * rng.uniform(0.4,
				    1.8))
				events.append((ts, agent, {"metric": "llm_tokens",
				    "value": prompt + completion, "agent_id": agent,
				    "properties": {"provider": provider,
				    "model": model, "prompt_tokens": prompt,
				    "completion_tokens": completion}}))
		# Runs, API calls and messages counted per hour.
		for h, n in sorted(hourly.items()):
			ts = datetime.datetime.combine(day, datetime.time(h, 59,
			    30), datetime.timezone.utc)
			events.append((ts, agent, {"metric":
			    "agent_executions", "value": n, "agent_id": agent}))
			events.append((ts, agent, {"metric": "api_calls",
			    "value": n * a["api"] + rng.randrange(n + 1),
			    "agent_id": agent}))
			if a["channel"] is not None and a["messages"] > 0:
				events.append((ts, agent, {"metric": "messages",
				    "value": n * a["messages"] +
				    rng.randrange(n + 1), "properties":
				    {"channel_id": a["channel"]}}))
	out = []
	for n, (ts, agent, e) in enumerate(events):
		if agent is None:
			continue
		e["id"] = "demo-%s-%d" % (day.isoformat(), n)
		e["tenant_id"] = tenant
		e["timestamp"] = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
		out.append((ts, e))
	return out


def call(method, url, body=None, token=None):
	"""One JSON call: status and decoded answer (None for no body)."""
	hdrs = {"Content-Type": "application/json"}
	if token:
		hdrs["Authorization"] = "Bearer " + token
	req = urllib.request.Request(url, data=None if body is None else
	    json.dumps(body).encode(), method=method, headers=hdrs)
	try:
		with urllib.request.urlopen(req, timeout=30) as resp:
			raw = resp.read()
			return resp.status, json.loads(raw) if raw else None
	except urllib.error.HTTPError as e:
		return e.code, None


def notifications():
	"""The demo organization's notifications go to its owner (the
	default) and to a Slack incoming webhook of the Slack emulator, made
	once: alerts show in the SMTP sink and at $SLACK_API_BASE/_emu/."""
	slack = os.environ.get("SLACK_API_BASE")
	email = os.environ.get("TOLLGATE_DEMO_EMAIL")
	password = os.environ.get("TOLLGATE_DEMO_PASSWORD")
	if not (slack and email and password):
		return
	api = env("TOLLGATE_URL") + "/api/v1"
	st, got = call("POST", api + "/auth/login", {"email": email,
	    "password": password})
	if st != 200:
		print("demo-usage: cannot sign in as %s (%d): notifications not "
		    "set up" % (email, st), file=sys.stderr)
		return
	token = got["access_token"]
	storage(token)
	gateway(token)
	st, got = call("GET", api + "/notifications/settings", token=token)
	if st != 200 or got["slack_webhook"]["configured"]:
		return
	st, hook = call("POST", slack + "/_emu/webhooks", {"channel":
	    "#alerts"})
	if st != 200:
		return
	st, _ = call("PUT", api + "/notifications/settings",
	    {"slack_webhook_url": hook["url"]}, token)
	if st == 200:
		print("demo usage: notifications to %s and to Slack #alerts "
		    "(the Slack emulator)" % email)


def upload(method, url, token, data, headers):
	"""One binary upload (a record or a backup): status."""
	hdrs = {"Authorization": "Bearer " + token,
	    "Content-Type": "application/octet-stream"}
	hdrs.update(headers)
	req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
	try:
		with urllib.request.urlopen(req, timeout=60) as resp:
			return resp.status
	except urllib.error.HTTPError as e:
		return e.code


def storage(token):
	"""Encrypted storage to show on /usage: three records, two backup
	versions and a vector collection, made once.  The bytes stand for a
	device's ciphertext (random, as ciphertext looks); the vectors are
	deterministic, 32 dimensions."""
	api = env("TOLLGATE_URL") + "/api/v1"
	st, got = call("GET", api + "/storage", token=token)
	if st != 200:
		return
	rnd = random.Random("demo-storage")
	made = []
	for i in range(3 - got["records"]["count"]):
		blob = bytes(rnd.getrandbits(8) for _ in range(2048 * (i + 1)))
		if upload("POST", api + "/storage/records?table=notes", token,
		    blob, {"X-Checksum-SHA256": hashlib.sha256(blob)
		    .hexdigest()}) == 201:
			made.append("record")
	for i in range(got["backups"]["count"], 2):
		blob = bytes(rnd.getrandbits(8) for _ in range(65536 + 4096 * i))
		if upload("PUT", api + "/backup", token, blob, {
		    "X-Backup-Checksum": hashlib.sha256(blob).hexdigest(),
		    "X-Backup-Version": "demo-app 1.%d" % i,
		    "X-Backup-Timestamp": str(int(time.time()) - 86400 *
		    (2 - i))}) == 201:
			made.append("backup")
	if got["vectors"]["collections"] == 0:
		items = []
		for i in range(40):
			blob = bytes(rnd.getrandbits(8) for _ in range(96))
			items.append({"id": "note-%d" % i, "vector":
			    [round(rnd.uniform(-1, 1), 4) for _ in range(32)],
			    "blob": base64.b64encode(blob).decode(),
			    "checksum": hashlib.sha256(blob).hexdigest()})
		st, _ = call("POST", api + "/storage/vectors/upsert",
		    {"collection": "memory", "items": items}, token)
		if st == 200:
			made.append("vectors")
	if made:
		print("demo usage: storage made (%s)" % ", ".join(made))


def gateway(token):
	"""The LLM gateway for the demo: provider keys for OpenAI and
	Anthropic (the LLM emulator takes any sk-... key), and an API key
	with the llm scope, its secret kept in $STACK_DIR/demo-llm.env
	(0600) as TOLLGATE_DEMO_LLM_KEY, made once."""
	api = env("TOLLGATE_URL") + "/api/v1"
	st, got = call("GET", api + "/llm-keys", token=token)
	have = {k["provider"] for k in (got or {}).get("data", [])} \
	    if st == 200 else set()
	for provider, key in (("openai", "sk-demo-openai-0123456789"),
	    ("anthropic", "sk-ant-demo-0123456789")):
		if provider not in have:
			call("POST", api + "/llm-keys", {"provider": provider,
			    "api_key": key, "label": "demo (LLM emulator)"}, token)
	path = os.path.join(env("STACK_DIR"), "demo-llm.env")
	if os.path.exists(path):
		return
	st, got = call("POST", api + "/api-keys", {"name": "demo gateway",
	    "scopes": ["llm", "usage:read"]}, token)
	if st != 201:
		print("demo usage: no gateway key (%d)" % st, file=sys.stderr)
		return
	fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
	    0o600)
	with os.fdopen(fd, "w") as f:
		f.write("TOLLGATE_DEMO_LLM_KEY='%s'\n" % got["secret"])
	os.rename(path + ".tmp", path)
	print("demo usage: a gateway key in %s" % path)


def post(batch):
	"""One batch to the API: (accepted, duplicates), or None when a
	limit refused it."""
	req = urllib.request.Request(env("TOLLGATE_URL") +
	    "/api/v1/usage/events", data=json.dumps({"events": batch})
	    .encode(), method="POST", headers={
	    "Authorization": "Bearer " + env("TOLLGATE_PLATFORM_KEY"),
	    "Content-Type": "application/json"})
	try:
		with urllib.request.urlopen(req, timeout=60) as resp:
			body = json.load(resp)
			return body["accepted"], body["duplicates"]
	except urllib.error.HTTPError as e:
		text = e.read().decode("utf-8", "replace")
		if e.code == 429:
			print("demo-usage: a limit refused the usage, left as it "
			    "is: %s" % text, file=sys.stderr)
			return None
		sys.exit("demo-usage: POST /api/v1/usage/events: %d %s" %
		    (e.code, text))


def main():
	if len(sys.argv) != 2:
		sys.exit("usage: demo-usage.py TENANT_ID")
	tenant = sys.argv[1]
	plan = make_pro(tenant)
	if plan == "free":
		print("demo usage: the organization is on the Free plan: a "
		    "month of usage would not fit, none sent")
		return 0
	agents = ensure_agents(tenant)
	notifications()
	now = datetime.datetime.now(datetime.timezone.utc)
	today = now.date()
	events = []
	for k in range(DAYS - 1, -1, -1):
		events += [e for ts, e in day_events(tenant, today -
		    datetime.timedelta(days=k), agents) if ts <= now]
	events.sort(key=lambda e: e["timestamp"])
	accepted = duplicates = 0
	for i in range(0, len(events), BATCH):
		got = post(events[i:i + BATCH])
		if got is None:
			break
		accepted += got[0]
		duplicates += got[1]
	print("demo usage: %d events new, %d already there (%s plan, %d "
	    "agents)" % (accepted, duplicates, plan, len(agents)))
	return 0


if __name__ == "__main__":
	sys.exit(main())
