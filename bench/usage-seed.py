#!/usr/bin/env python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
"""bench/usage-seed.py: a month of usage for the portal /usage scenario.

    usage-seed.py URL DAYS EVENTS_PER_DAY AGENTS

sends DAYS days of events (today and the DAYS - 1 before it, at most
35 days back, which is what the product takes), EVENTS_PER_DAY a day,
through POST /api/v1/usage/events in batches of 100, as an agent runner
would have over the month: the same mix as bench/metering.lua (LLM
calls of several providers and models with their tokens, API calls,
agent executions, messages), with six models of four providers and
two channels, the agents of AGENTS (comma-separated ids) on six in ten,
each event at a time of its day (never in the future).  The tenant API key comes from BENCH_API_KEY, never from the
command line.  Four connections in parallel, keep-alive.  Prints one
line, "seed: batches N events N accepted N seconds S", and exits 1 on
any answer but 200.  Python 3 standard library only.
"""

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

BATCH = 100
CONNECTIONS = 4

LLM = [
    ("openai", "gpt-4o-mini", 1200, 430, 256),
    ("anthropic", "claude-sonnet-4", 3400, 910, 0),
    ("openai", "gpt-4.1", 860, 220, 0),
    ("google", "gemini-2.0-flash", 2100, 640, 512),
    ("anthropic", "claude-3-5-haiku", 900, 300, 0),
    ("mistral", "mistral-small", 700, 250, 0),
]


def event(day, n, ts, agents):
    """The n-th event of a day, one of ten shapes in turn."""
    e = {"id": "seed-%d-%d" % (day, n), "timestamp": ts}
    agent = agents[n % len(agents)] if agents else None
    k = n % 10
    if k in (0, 1, 3, 5, 8):
        provider, model, prompt, completion, cached = LLM[(n // 10 + k) %
                                                          len(LLM)]
        # Some spread in the sizes, as real calls have.
        prompt += (n * 37) % 500
        completion += (n * 11) % 200
        e["metric"] = "llm_tokens"
        e["value"] = prompt + completion
        e["properties"] = {"provider": provider, "model": model,
                           "prompt_tokens": prompt,
                           "completion_tokens": completion,
                           "cached_tokens": cached}
        if agent and k != 3:
            e["agent_id"] = agent
    elif k in (2, 4, 7):
        e["metric"] = "api_calls"
        e["value"] = 1 + n % 3
        if agent and k == 4:
            e["agent_id"] = agent
    elif k == 6:
        e["metric"] = "agent_executions"
        e["value"] = 1
        if agent:
            e["agent_id"] = agent
    else:
        e["metric"] = "messages"
        e["value"] = 1
        e["properties"] = {"channel_id": "slack:C0BENCH" if n % 20 < 10
                           else "whatsapp:bench"}
    return e


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: usage-seed.py URL DAYS EVENTS_PER_DAY AGENTS")
    url = urllib.parse.urlsplit(sys.argv[1])
    days, per_day = int(sys.argv[2]), int(sys.argv[3])
    agents = [a for a in sys.argv[4].split(",") if a]
    key = os.environ.get("BENCH_API_KEY", "")
    if not key or days < 1 or days > 35 or per_day < 1:
        sys.exit("usage-seed.py: BENCH_API_KEY, DAYS 1-35, EVENTS_PER_DAY")
    now = int(time.time())
    today = now - now % 86400
    batches = []
    for day in range(days):
        start = today - day * 86400
        # Today's events stop an hour ago (and never before midnight).
        span = max(min(86400, now - 3600 - start), 60)
        events = [event(day, n, rfc3339(start + n * span // per_day),
                        agents) for n in range(per_day)]
        for i in range(0, per_day, BATCH):
            batches.append(json.dumps({"events": events[i:i + BATCH]},
                                      separators=(",", ":")))
    lock = threading.Lock()
    state = {"next": 0, "accepted": 0, "failed": None}
    headers = {"Content-Type": "application/json",
               "Authorization": "Bearer " + key}

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port or 80,
                                          timeout=60)
        while True:
            with lock:
                i = state["next"]
                if i >= len(batches) or state["failed"]:
                    break
                state["next"] = i + 1
            conn.request("POST", "/api/v1/usage/events", batches[i],
                         headers)
            resp = conn.getresponse()
            body = resp.read()
            with lock:
                if resp.status != 200:
                    state["failed"] = "batch %d: %d %s" % (
                        i, resp.status, body[:300].decode("utf-8",
                                                          "replace"))
                else:
                    state["accepted"] += json.loads(body)["accepted"]
        conn.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if state["failed"]:
        sys.exit("usage-seed.py: " + state["failed"])
    print("seed: batches %d events %d accepted %d seconds %.1f" % (
        len(batches), days * per_day, state["accepted"], time.time() - t0))


if __name__ == "__main__":
    main()
