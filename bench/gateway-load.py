#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
"""bench/gateway-load.py: the client of the LLM gateway rows (bench/run
gateway; bench/README.md, "LLM gateway").  Python 3 standard library
only (http.client and threads).

    gateway-load.py calls OUT N WARMUP [stream]
    gateway-load.py streams OUT CONNS SECONDS BEFORE INTERVAL_MS WORDS
    gateway-load.py probe OUT URL INTERVAL_MS

"calls": N sequential chat completions (streamed with "stream"), the
same body each time, on three sides interleaved call by call in ABBA
order (direct, gateway, gateway-ka, gateway-ka, gateway, direct, ...),
so that a load on the machine that comes and goes weighs on all three
alike:

  direct      POST $BENCH_EMU_URL/v1/chat/completions with the provider
              key, a new connection per call;
  gateway     POST $BENCH_URL/api/v1/llm/chat/completions with the
              tenant's API key, a new connection per call;
  gateway-ka  the same on one keep-alive connection.

WARMUP calls of each side go first and are not counted.  Every answer is
checked: a 200, and the words the emulator was told to answer
(BENCH_WORDS) in the content (streamed: one content delta a word, then
"data: [DONE]").  A non-streamed call's time runs from the connect to
the last byte of the body; a streamed one's time to the first byte is
the time to its first "data:" line, and its total the time to the end
of the body.

"streams": CONNS threads, each keeping one stream open through the
gateway (a new one as soon as the last ended, a new connection each)
for SECONDS; thread i uses key i mod the number of keys.  Meanwhile a
second process ("probe", a process of its own so that the streams'
threads do not delay it) sends GET $BENCH_URL/api/v1/health every
INTERVAL_MS on one keep-alive connection, and did so for BEFORE seconds
before the streams started: /health on the main pool before and during.
A stream fails on anything but a 200 with WORDS content deltas and
"data: [DONE]".

Keys come from files named by the environment, never from the command
line: BENCH_KEY_FILE (the tenant API keys, one a line), BENCH_PROVIDER_KEY_FILE
(the provider key the emulator is called with directly).  Every sample
goes to OUT (tab-separated); the figures are printed as "name value"
lines on stdout, times in milliseconds.  The exit status is 0 even with
failed calls (they are counted); 2 on a usage error.
"""
import http.client
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

MODEL = 'emu-gpt-small'
PROMPT = 'Say something short about toll roads and gateways'
# Large enough never to cut the answer: the emulator answers BENCH_WORDS.
MAX_TOKENS = 256
TIMEOUT = 60


def now():
	return time.perf_counter()


def pct(values, q):
	"""Nearest rank: the smallest value with at least q of them at or
	below it."""
	if not values:
		return None
	v = sorted(values)
	k = math.ceil(round(q * len(v), 6)) - 1
	return v[max(0, min(len(v) - 1, k))]


def fmt(x):
	return '-' if x is None else '%.2f' % x


def read_keys(var):
	path = os.environ.get(var)
	if not path:
		sys.exit('gateway-load: %s is not set' % var)
	with open(path, encoding='utf-8') as f:
		keys = [line.strip() for line in f if line.strip()]
	if not keys:
		sys.exit('gateway-load: no key in %s' % path)
	return keys


def target(url):
	u = urllib.parse.urlsplit(url)
	return u.hostname, u.port or 80, u.path.rstrip('/')


def body(stream):
	b = {'model': MODEL, 'max_tokens': MAX_TOKENS,
	    'messages': [{'role': 'user', 'content': PROMPT}]}
	if stream:
		b['stream'] = True
	return json.dumps(b, separators=(',', ':')).encode()


class Side:
	"""One way of making the call: where, with which key, and whether
	the connection is kept."""

	def __init__(self, name, url, path, key, keep):
		self.name = name
		self.host, self.port, base = target(url)
		self.path = base + path
		self.headers = {'Authorization': 'Bearer ' + key,
		    'Content-Type': 'application/json'}
		self.keep = keep
		self.conn = None

	def connection(self):
		if self.keep and self.conn is not None:
			return self.conn
		c = http.client.HTTPConnection(self.host, self.port,
		    timeout=TIMEOUT)
		c.connect()
		if self.keep:
			self.conn = c
		return c

	def drop(self, c):
		try:
			c.close()
		except OSError:
			pass
		if c is self.conn:
			self.conn = None


def check_answer(raw, words):
	"""None, or what is wrong with a non-streamed answer."""
	try:
		o = json.loads(raw)
		text = o['choices'][0]['message']['content']
	except (ValueError, KeyError, IndexError, TypeError):
		return 'not a chat completion'
	if len(text.split()) != words:
		return 'words %d, expected %d' % (len(text.split()), words)
	return None


def read_stream(resp, t0, words):
	"""(ttfb, total, error) of a streamed answer read to its end."""
	ttfb, deltas, done, error = None, 0, False, None
	while True:
		line = resp.readline()
		if not line:
			break
		if not line.startswith(b'data:'):
			continue
		if ttfb is None:
			ttfb = (now() - t0) * 1000
		data = line[5:].strip()
		if data == b'[DONE]':
			done = True
			continue
		try:
			ch = json.loads(data).get('choices') or []
		except ValueError:
			error = 'an event that is not JSON'
			continue
		if ch and (ch[0].get('delta') or {}).get('content'):
			deltas += 1
	total = (now() - t0) * 1000
	if error is None and not done:
		error = 'no [DONE]'
	elif error is None and deltas != words:
		error = 'deltas %d, expected %d' % (deltas, words)
	return ttfb, total, error


def call(side, payload, stream, words):
	"""(ms, ttfb, total, error): ms is the whole call (non-streamed) or
	the time to the first event (streamed)."""
	t0 = now()
	c = None
	try:
		c = side.connection()
		c.request('POST', side.path, payload, side.headers)
		resp = c.getresponse()
		if resp.status != 200:
			resp.read()
			side.drop(c)
			return None, None, None, 'status %d' % resp.status
		if stream:
			ttfb, total, err = read_stream(resp, t0, words)
			if not side.keep or resp.will_close:
				side.drop(c)
			return ttfb, ttfb, total, err
		raw = resp.read()
		ms = (now() - t0) * 1000
		if not side.keep or resp.will_close:
			side.drop(c)
		return ms, None, ms, check_answer(raw, words)
	except (OSError, http.client.HTTPException) as e:
		if c is not None:
			side.drop(c)
		return None, None, None, type(e).__name__


def summary(prefix, values):
	print('%s_n %d' % (prefix, len(values)))
	for name, q in (('p50', 0.50), ('p90', 0.90), ('p99', 0.99)):
		print('%s_%s %s' % (prefix, name, fmt(pct(values, q))))
	print('%s_mean %s' % (prefix, fmt(sum(values) / len(values)
	    if values else None)))
	print('%s_min %s' % (prefix, fmt(min(values) if values else None)))
	print('%s_max %s' % (prefix, fmt(max(values) if values else None)))


def cmd_calls(out, n, warmup, stream):
	words = int(os.environ['BENCH_WORDS'])
	tkey = read_keys('BENCH_KEY_FILE')[0]
	pkey = read_keys('BENCH_PROVIDER_KEY_FILE')[0]
	sides = [
	    Side('direct', os.environ['BENCH_EMU_URL'],
		'/v1/chat/completions', pkey, False),
	    Side('gateway', os.environ['BENCH_URL'],
		'/api/v1/llm/chat/completions', tkey, False),
	    Side('gateway_ka', os.environ['BENCH_URL'],
		'/api/v1/llm/chat/completions', tkey, True),
	]
	payload = body(stream)
	ms = {s.name: [] for s in sides}
	totals = {s.name: [] for s in sides}
	errors = {s.name: 0 for s in sides}
	first_error = {}
	paired = []
	t_start = now()
	with open(out, 'w', encoding='utf-8') as f:
		f.write('i\tside\tms\ttotal_ms\terror\n')
		for i in range(warmup + n):
			order = sides if i % 2 == 0 else sides[::-1]
			got = {}
			for s in order:
				m, _, total, err = call(s, payload, stream, words)
				if i < warmup:
					continue
				f.write('%d\t%s\t%s\t%s\t%s\n' % (i - warmup, s.name,
				    fmt(m), fmt(total), err or '-'))
				if err is not None:
					errors[s.name] += 1
					first_error.setdefault(s.name, err)
					continue
				ms[s.name].append(m)
				totals[s.name].append(total)
				got[s.name] = m
			if 'direct' in got and 'gateway' in got:
				paired.append(got['gateway'] - got['direct'])
	print('seconds %.1f' % (now() - t_start))
	for s in sides:
		summary(s.name, ms[s.name])
		if stream:
			summary(s.name + '_total', totals[s.name])
		print('%s_errors %d' % (s.name, errors[s.name]))
		print('%s_first_error %s' % (s.name,
		    first_error.get(s.name, '-').replace(' ', '_')))
	summary('paired', paired)
	for s in ('gateway', 'gateway_ka'):
		for q in ('p50', 'p99'):
			a, b = pct(ms[s], float(q[1:]) / 100), pct(ms['direct'],
			    float(q[1:]) / 100)
			print('%s_added_%s %s' % (s, q, fmt(a - b
			    if a is not None and b is not None else None)))


# --- /health, a process of its own -------------------------------------------------

def cmd_probe(out, url, interval_ms):
	"""GET URL every INTERVAL_MS on one keep-alive connection until
	SIGTERM: "t ms status" lines (t: time.time()), flushed each."""
	stop = []
	signal.signal(signal.SIGTERM, lambda s, f: stop.append(1))
	host, port, path = target(url)
	c = None
	interval = interval_ms / 1000.0
	with open(out, 'w', encoding='utf-8') as f:
		next_at = now()
		while not stop:
			t0 = now()
			wall = time.time()
			status = 0
			try:
				if c is None:
					c = http.client.HTTPConnection(host, port,
					    timeout=TIMEOUT)
				c.request('GET', path)
				resp = c.getresponse()
				resp.read()
				status = resp.status
				if resp.will_close:
					c.close()
					c = None
			except (OSError, http.client.HTTPException):
				if c is not None:
					c.close()
				c = None
			f.write('%.6f\t%.3f\t%d\n' % (wall, (now() - t0) * 1000,
			    status))
			f.flush()
			next_at += interval
			delay = next_at - now()
			if delay > 0:
				time.sleep(delay)
			else:
				next_at = now()


def start_probe(out, interval_ms):
	url = os.environ['BENCH_URL'] + '/api/v1/health'
	return subprocess.Popen([sys.executable, os.path.abspath(__file__),
	    'probe', out, url, str(interval_ms)], stdin=subprocess.DEVNULL)


def stop_probe(p):
	p.send_signal(signal.SIGTERM)
	try:
		p.wait(10)
	except subprocess.TimeoutExpired:
		p.kill()
		p.wait()


def probe_samples(path, t_from=None, t_to=None):
	ms, bad = [], 0
	with open(path, encoding='utf-8') as f:
		for line in f:
			t, m, status = line.split('\t')
			t = float(t)
			if (t_from is not None and t < t_from) or \
			    (t_to is not None and t > t_to):
				continue
			if status.strip() == '200':
				ms.append(float(m))
			else:
				bad += 1
	return ms, bad


# --- concurrent streams ---------------------------------------------------------------

def cmd_streams(out, conns, seconds, before, interval_ms, words):
	keys = read_keys('BENCH_KEY_FILE')
	url = os.environ['BENCH_URL']
	payload = body(True)
	probe_out = out + '.health'

	# /health alone first.
	open(probe_out + '.before', 'w').close()
	if before > 0:
		p = start_probe(probe_out + '.before', interval_ms)
		time.sleep(before)
		stop_probe(p)

	lock = threading.Lock()
	records = []		# (thread, start, first, end, error), wall times
	barrier = threading.Barrier(conns + 1)
	deadline = [0.0]

	def worker(i):
		side = Side('gateway', url, '/api/v1/llm/chat/completions',
		    keys[i % len(keys)], False)
		barrier.wait()
		while time.time() < deadline[0]:
			start = time.time()
			t0 = now()
			_, ttfb, total, err = call(side, payload, True, words)
			first = start + ttfb / 1000 if ttfb is not None else None
			end = start + (now() - t0)
			with lock:
				records.append((i, start, first, end, err))

	threads = [threading.Thread(target=worker, args=(i,), daemon=True)
	    for i in range(conns)]
	for t in threads:
		t.start()
	p = start_probe(probe_out + '.during', interval_ms)
	# The probe's first request, before the streams start.
	time.sleep(0.2)
	t_start = time.time()
	deadline[0] = t_start + seconds
	barrier.wait()
	for t in threads:
		t.join(TIMEOUT + seconds)
	t_end = time.time()
	stop_probe(p)

	ok = [r for r in records if r[4] is None]
	failed = [r for r in records if r[4] is not None]
	# Streams open at once: between each one's first event and its end
	# (a sweep over those instants); and the share of the run with all
	# CONNS open.
	ev = []
	for r in ok:
		ev.append((r[2], 1))
		ev.append((r[3], -1))
	ev.sort()
	open_, held, full_since, full_time = 0, 0, None, 0.0
	for t, d in ev:
		open_ += d
		held = max(held, open_)
		if open_ >= conns and full_since is None:
			full_since = t
		elif open_ < conns and full_since is not None:
			full_time += t - full_since
			full_since = None
	with open(out, 'w', encoding='utf-8') as f:
		f.write('thread\tstart\tttfb_ms\tms\terror\n')
		for r in sorted(records, key=lambda r: r[1]):
			f.write('%d\t%.6f\t%s\t%.1f\t%s\n' % (r[0], r[1],
			    fmt((r[2] - r[1]) * 1000 if r[2] else None),
			    (r[3] - r[1]) * 1000, r[4] or '-'))
	errs = {}
	for r in failed:
		errs[r[4]] = errs.get(r[4], 0) + 1
	print('seconds %.1f' % (t_end - t_start))
	print('streams %d' % len(records))
	print('streams_ok %d' % len(ok))
	print('streams_failed %d' % len(failed))
	print('streams_failures %s' % (','.join('%s:%d' % (k.replace(' ', '_'),
	    v) for k, v in sorted(errs.items())) or '-'))
	print('streams_per_s %.1f' % (len(ok) / (t_end - t_start)))
	print('held_max %d' % held)
	print('held_all_s %.1f' % full_time)
	summary('ttfb', [(r[2] - r[1]) * 1000 for r in ok])
	summary('stream', [(r[3] - r[1]) * 1000 for r in ok])
	ms, bad = probe_samples(probe_out + '.before')
	summary('health_before', ms)
	print('health_before_errors %d' % bad)
	# During: from the streams' start to the last one's end.
	ms, bad = probe_samples(probe_out + '.during', t_start, t_end)
	summary('health_during', ms)
	print('health_during_errors %d' % bad)


def main():
	a = sys.argv[1:]
	try:
		if a and a[0] == 'calls' and len(a) in (4, 5) and \
		    a[4:] in ([], ['stream']):
			run = (cmd_calls, a[1], int(a[2]), int(a[3]), len(a) == 5)
		elif a and a[0] == 'streams' and len(a) == 7:
			run = (cmd_streams, a[1], int(a[2]), float(a[3]),
			    float(a[4]), float(a[5]), int(a[6]))
		elif a and a[0] == 'probe' and len(a) == 4:
			run = (cmd_probe, a[1], a[2], float(a[3]))
		else:
			raise ValueError
	except ValueError:
		sys.stderr.write(__doc__)
		sys.exit(2)
	run[0](*run[1:])


if __name__ == '__main__':
	main()
