#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/llm-emu.py: the LLM provider emulator for the tests of the metered
# LLM gateway.  Two providers on one loopback port: an OpenAI-shaped one
# (chat completions, models) and an Anthropic-shaped one (messages), each
# answering in the provider's exact JSON and server-sent-event shapes, with
# deterministic answers and token counts that a test can predict.  Python
# 3 standard library only; the shared plumbing is in tests/emu_common.py.
# docs/llm-emulator.md is the long description; this is the summary.
#
#   tests/llm-emu.py --port PORT [--pidfile FILE] [--state FILE]
#
# PORT 0 takes a free port and prints it on stdout.  The pid file is
# written once the port listens and removed at exit.  --state keeps the
# revoked keys (as SHA-256 digests), the settings and the recorded
# requests in a JSON file rewritten after every request.  One line per
# request goes to stderr: method, path, status, milliseconds, then the
# model, stream or not, the usage and what went wrong; never a key.
#
# ---- Keys
#
#   OpenAI-shaped routes: "Authorization: Bearer sk-..." with at least 8
#   of [A-Za-z0-9_-] after "sk-"; a key starting "sk-ant-" is refused
#   there (it is an Anthropic key).  Anthropic-shaped routes: "x-api-key:
#   sk-ant-..." with at least 8 of them after "sk-ant-", and an
#   anthropic-version header.  A key of another shape, or one revoked
#   with POST /_emu/revoke, is a 401 in the provider's error shape.
#
# ---- OpenAI-shaped
#
#   POST /v1/chat/completions   {model, messages, max_tokens |
#        max_completion_tokens, stream, stream_options: {include_usage},
#        user, ...}; other fields are accepted and ignored (n must be 1)
#   GET  /v1/models             emu-gpt-small, emu-gpt-large
#   GET  /v1/models/ID          one of them; another: 404 model_not_found
#   Any other path: 404 {"error": {"message": "Invalid URL (POST /x)",
#   "type": "invalid_request_error", "param": null, "code": null}}.
#
# ---- Anthropic-shaped
#
#   POST /v1/messages           {model, max_tokens, system?, messages,
#        stream}
#   GET  /v1/models             with an x-api-key or anthropic-version
#        header: emu-claude, in Anthropic's list shape
#
# Any model name is answered (the gateway decides what it knows).
#
# ---- Answers and tokens
#
#   prompt tokens = 3 + for every message (an Anthropic system prompt
#        counts as one more message): 3 + its words, a word being a run of
#        non-whitespace in its text (a string, or the "text" of its text
#        parts joined by spaces; other parts count nothing)
#   answer = "Echo:" and then the words of the last user message, cycled,
#        N words in all (N: X-Emu-Tokens, else the setting "tokens", 12);
#        "nothing" stands for the words of an empty message
#   completion tokens = the words answered: at most max_tokens (or
#        max_completion_tokens), finish_reason "length" / stop_reason
#        "max_tokens" when that cut it short
#   Streamed, the first word is the first delta and every other word one
#   delta with its leading space, so the deltas join to the answer.
#   tools offered (and a tool choice that allows a call), the last
#        message not a tool's result: one call of the chosen (or first)
#        tool with {"query": the last user message}, 3 + its words as
#        completion tokens, its arguments streamed 8 characters a delta;
#        after a tool's result: "Echo:" and the result's words
#
# ---- Per-request headers (test switches; a bad value is a 400)
#
#   X-Emu-Delay-Ms: N   ms between stream events (0..10000; default the
#                       setting "stream_delay_ms", 50)
#   X-Emu-Tokens: N     words to answer (0..10000)
#   X-Emu-Cached: N     cached prompt tokens (OpenAI cached_tokens,
#                       Anthropic cache_read_input_tokens); at most the
#                       prompt tokens
#   X-Emu-Cache-Write: N  Anthropic cache_creation_input_tokens
#   X-Emu-Cut: before-usage | mid   a stream ends after its last content
#                       event (no finish, no usage, no [DONE]) or after
#                       half of them; the connection is closed without
#                       the chunked terminator.  Not streamed: half the
#                       body is sent and the connection closed.
#   X-Emu-Status: N     answer that status (400..599) as a fault would
#   X-Emu-Slow-Ms: N    wait this long before answering (0..60000)
#
# ---- Control endpoints (no authentication, JSON in and out)
#
#   GET    /_emu/          HTML page: the requests, newest first
#   GET    /_emu/state     settings, models, revoked key hints, faults,
#                          counts and the requests
#   GET    /_emu/requests  the requests, oldest first; ?since=SEQ (those
#                          after it), ?path=, ?model=, ?provider= filter
#   POST   /_emu/revoke    {"key": "sk-..."}: that key gets 401 from now on
#   POST   /_emu/reset     forgets requests, revoked keys, faults, settings
#   GET|POST /_emu/settings  {"stream_delay_ms": 50, "tokens": 12,
#                          "cache_write": 0} (the last: Anthropic's
#                          cache_creation_input_tokens of every answer
#                          without X-Emu-Cache-Write)
#   GET    /_emu/count?text=...   {"tokens": words of the text}
#   POST   /_emu/count     a chat or messages body (plus "tokens", and
#                          "cached"): {"prompt_tokens", "text",
#                          "completion_tokens", "finish_reason",
#                          "stop_reason"} as the emulator would answer it
#   GET|POST|DELETE /_emu/faults   see tests/emu_common.py; "status" is
#                          answered in the shape of the provider of the
#                          path (429 with Retry-After: 7); "error" is one
#                          of cut_before_usage, cut_mid (as X-Emu-Cut),
#                          drop (the connection is closed unanswered),
#                          insufficient_quota (OpenAI's 429 of that code)
#
# ---- A recorded request (in /_emu/requests and /_emu/state)
#
#   {"seq", "at", "method", "path", "provider": "openai" | "anthropic",
#    "status", "model", "key_hint" ("sk-...abcd", never the key),
#    "stream", "stream_options", "max_tokens" (as sent, or null),
#    "max_tokens_field", "user", "messages" (how many), "usage" (what
#    the answer carries, in the provider's shape), "usage_sent" (the
#    client got it: the whole body, or the stream's usage event),
#    "finish_reason", "cut", "disconnected" (the client went away before
#    the end), "events_sent", "fault", "request_id", "user_agent",
#    "stainless" (the x-stainless-* headers), "emu_headers" (the X-Emu-*
#    ones; header names in lower case), "header_names", "ms", "done"}
#   A request is recorded when it arrives ("done": false) and completed
#   when its answer has been sent.
import errno
import base64
import json
import os
import re
import select
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse

sys.dont_write_bytecode = True	# no __pycache__ in a read-only source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emu_common as emu	# noqa: E402

OPENAI_MODELS = ('emu-gpt-small', 'emu-gpt-large')
ANTHROPIC_MODELS = (('emu-claude', 'Emu Claude'),)
MODELS_CREATED = 1767225600	# 2026-01-01T00:00:00Z
DEFAULT_SETTINGS = {'stream_delay_ms': 50, 'tokens': 12, 'cache_write': 0}
MAX_WORDS = 10000		# X-Emu-Tokens and the tokens setting
MAX_STREAM_DELAY = 10000	# X-Emu-Delay-Ms
RETRY_AFTER = '7'		# of every 429
MAX_KEPT = 2000			# requests kept; older ones are dropped
STATE_VERSION = 1
OPENAI_KEY_RE = re.compile(r'sk-[A-Za-z0-9_-]{8,}\Z')
ANTHROPIC_KEY_RE = re.compile(r'sk-ant-[A-Za-z0-9_-]{8,}\Z')
FAULT_ERRORS = ('cut_before_usage', 'cut_mid', 'drop', 'insufficient_quota')
CUTS = ('before-usage', 'mid')
OPENAI_ROLES = ('system', 'developer', 'user', 'assistant', 'tool',
    'function')
SAVED = ('requests', 'revoked', 'settings', 'seq')

OPENAI_ERRORS = {
	400: ('invalid_request_error', None, 'Bad request.'),
	401: ('invalid_request_error', 'invalid_api_key',
	    'Incorrect API key provided.'),
	403: ('invalid_request_error', 'unsupported_country_region_territory',
	    'Country, region, or territory not supported'),
	404: ('invalid_request_error', None, 'Not found.'),
	409: ('invalid_request_error', None, 'Conflict.'),
	429: ('requests', 'rate_limit_exceeded', 'Rate limit reached for '
	    'requests (emulated). Please try again in 7s.'),
	500: ('server_error', None, 'The server had an error while processing '
	    'your request. Sorry about that!'),
	503: ('server_error', None, 'The server is overloaded or not ready '
	    'yet.'),
}
ANTHROPIC_ERRORS = {
	400: ('invalid_request_error', 'Bad request.'),
	401: ('authentication_error', 'invalid x-api-key'),
	403: ('permission_error', 'Your API key does not have permission to '
	    'use the specified resource.'),
	404: ('not_found_error', 'Not found.'),
	413: ('request_too_large', 'Request exceeds the maximum allowed number '
	    'of bytes.'),
	429: ('rate_limit_error', 'Number of requests has exceeded your rate '
	    'limit (emulated).'),
	500: ('api_error', 'Internal server error'),
	503: ('overloaded_error', 'Overloaded'),
	529: ('overloaded_error', 'Overloaded'),
}


# --- errors -----------------------------------------------------------------

class ApiError(Exception):
	"""An answer in the provider's error shape.  Anything not given takes
	the default of the status."""

	def __init__(self, status, message=None, etype=None, param=None,
	    code=None, note=None):
		super().__init__(message)
		self.status = status
		self.message = message
		self.etype = etype
		self.param = param
		self.code = code
		self.note = note


def error_response(provider, err, request_id):
	status = err.status
	headers = [('Retry-After', RETRY_AFTER)] if status == 429 else []
	if provider == 'anthropic':
		dtype, dmsg = ANTHROPIC_ERRORS.get(status, ('api_error'
		    if status >= 500 else 'invalid_request_error', 'Error.'))
		body = {'type': 'error', 'error': {'type': err.etype or dtype,
		    'message': err.message or dmsg}, 'request_id': request_id}
		headers.append(('request-id', request_id))
	else:
		dtype, dcode, dmsg = OPENAI_ERRORS.get(status, ('server_error'
		    if status >= 500 else 'invalid_request_error', None, 'Error.'))
		body = {'error': {'message': err.message or dmsg,
		    'type': err.etype or dtype, 'param': err.param,
		    'code': err.code if err.code is not None else dcode}}
		headers.append(('x-request-id', request_id))
	resp = emu.Response(status, json.dumps(body, indent=1) + '\n',
	    emu.JSON_TYPE, headers)
	resp.note = err.note or (body['error'].get('code') or
	    body['error']['type'])
	return resp


def bad_request(message, param=None, code=None):
	return ApiError(400, message, 'invalid_request_error', param, code)


# --- tokens and answers -----------------------------------------------------

def content_text(content):
	"""The text of a message's content: a string, or its text parts
	joined by spaces (other parts are no text)."""
	if isinstance(content, str):
		return content
	if isinstance(content, list):
		return ' '.join(content_text(p.get('content')) if p.get('type') ==
		    'tool_result' else p['text'] for p in content if
		    isinstance(p, dict) and (p.get('type') == 'tool_result' or
		    (p.get('type') == 'text' and isinstance(p.get('text'), str))))
	return ''


def words(text):
	return text.split()


def prompt_tokens(messages, system=None):
	"""3, plus 3 and the words of each message; an Anthropic system
	prompt counts as one more message."""
	n = 3
	if system is not None:
		n += 3 + len(words(content_text(system)))
	for m in messages:
		n += 3 + len(words(content_text(m.get('content'))))
	return n


def answer_words(messages, count):
	"""count words: "Echo:" and the words of the last user message,
	cycled."""
	source = []
	for m in reversed(messages):
		if m.get('role') in ('user', 'tool'):
			source = words(content_text(m.get('content')))
			break
	source = source or ['nothing']
	if count <= 0:
		return []
	return ['Echo:'] + [source[i % len(source)] for i in range(count - 1)]


def plan(messages, system, count, max_tokens, cached=0, cache_write=0):
	"""What the emulator answers: a dict the routes and /_emu/count
	share."""
	all_words = answer_words(messages, count)
	capped = max_tokens is not None and max_tokens < len(all_words)
	out = all_words[:max_tokens] if capped else all_words
	prompt = prompt_tokens(messages, system)
	return {'prompt_tokens': prompt, 'words': out, 'text': ' '.join(out),
	    'completion_tokens': len(out),
	    'finish_reason': 'length' if capped else 'stop',
	    'stop_reason': 'max_tokens' if capped else 'end_turn',
	    'cached': min(cached, prompt), 'cache_write': cache_write}


def deltas(out_words):
	"""One delta per word; joined, they are the answer."""
	return [w if i == 0 else ' ' + w for i, w in enumerate(out_words)]


def last_user_words(messages):
	for m in reversed(messages):
		if m.get('role') == 'user':
			return words(content_text(m.get('content')))
	return []


def tool_plan(messages, system, name, cached=0, cache_write=0):
	"""A call of the tool name, with {"query": the last user message}:
	what the emulator answers when tools are offered (tool_choice
	permitting) and the last message is not a tool's result."""
	args = json.dumps({'query': ' '.join(last_user_words(messages))},
	    separators=(',', ':'))
	prompt = prompt_tokens(messages, system)
	return {'prompt_tokens': prompt, 'words': [], 'text': '',
	    'completion_tokens': 3 + len(words(args)), 'tool': name,
	    'arguments': args, 'finish_reason': 'tool_calls',
	    'stop_reason': 'tool_use', 'cached': min(cached, prompt),
	    'cache_write': cache_write}


def pieces(text, size=8):
	"""A tool call's arguments as streamed: size characters a delta."""
	return [text[i:i + size] for i in range(0, len(text), size)] or ['']


def openai_usage(p):
	return {'prompt_tokens': p['prompt_tokens'],
	    'completion_tokens': p['completion_tokens'],
	    'total_tokens': p['prompt_tokens'] + p['completion_tokens'],
	    'prompt_tokens_details': {'cached_tokens': p['cached'],
	    'audio_tokens': 0},
	    'completion_tokens_details': {'reasoning_tokens': 0,
	    'audio_tokens': 0, 'accepted_prediction_tokens': 0,
	    'rejected_prediction_tokens': 0}}


def anthropic_usage(p, output_tokens=None):
	"""input_tokens leaves out what was read from the cache, as at
	Anthropic."""
	return {'input_tokens': p['prompt_tokens'] - p['cached'],
	    'cache_creation_input_tokens': p['cache_write'],
	    'cache_read_input_tokens': p['cached'],
	    'output_tokens': p['completion_tokens'] if output_tokens is None
	    else output_tokens}


def new_id(prefix, n):
	return prefix + emu.random_string(n)


def sse_data(obj):
	return ('data: %s\n\n' % json.dumps(obj, separators=(',', ':'))) \
	    .encode('utf-8')


def sse_event(name, obj):
	return ('event: %s\ndata: %s\n\n' % (name, json.dumps(obj,
	    separators=(',', ':')))).encode('utf-8')


def is_int(v):
	return isinstance(v, int) and not isinstance(v, bool)


def header_int(req, name, lo, hi):
	"""An X-Emu-* header as a number in lo..hi, None when absent."""
	raw = req.headers.get(name)
	if raw is None:
		return None
	raw = raw.strip()
	if not re.fullmatch(r'[0-9]{1,6}', raw) or not lo <= int(raw) <= hi:
		raise bad_request('%s must be a number from %d to %d' % (name, lo,
		    hi))
	return int(raw)


# --- responses --------------------------------------------------------------

class StreamResponse:
	"""Server-sent events, written one by one delay seconds apart.
	stop_at: how many of them to send before closing the connection (a
	cut); usage_index: the event that carries the final usage."""

	def __init__(self, events, delay, stop_at=None, usage_index=None,
	    headers=None):
		self.status = 200
		self.events = events
		self.delay = delay
		self.stop_at = len(events) if stop_at is None else stop_at
		self.usage_index = usage_index
		self.headers = headers or []
		self.note = ''
		self.record = None


class Drop:
	"""No answer at all: the connection is closed."""
	status = 0
	note = 'drop'
	record = None


# --- the emulator -----------------------------------------------------------

class LLM:
	def __init__(self, port, state_path):
		self.base = 'http://127.0.0.1:%d' % port
		self.lock = threading.Lock()
		self.faults = emu.Faults(self.fault_error)
		self.store = emu.StateFile(state_path, STATE_VERSION)
		self.clear()
		data = self.store.load()
		if data:
			for k in SAVED:
				if k in data:
					setattr(self, k, data[k])
			self.settings = dict(DEFAULT_SETTINGS, **self.settings)
			# A request that was under way when we stopped never ends.
			for r in self.requests:
				r['done'] = True
			emu.log('state loaded: %d requests, %d revoked keys' %
			    (len(self.requests), len(self.revoked)))

	def clear(self):
		self.requests = []
		self.revoked = {}	# digest(key) -> hint
		self.settings = dict(DEFAULT_SETTINGS)
		self.seq = 0

	def save(self):
		del self.requests[:-MAX_KEPT]
		self.store.save({k: getattr(self, k) for k in SAVED})

	def fault_error(self, value):
		if value not in FAULT_ERRORS:
			raise ValueError('error must be one of %s' %
			    ', '.join(FAULT_ERRORS))
		return value

	def log_path(self, path):
		return path

	# --- dispatch -------------------------------------------------------

	def answer(self, req):
		"""The answer to any request: a Response, a StreamResponse or
		Drop, with .record set for the provider routes."""
		if emu.is_control(req.path):
			return self.control(req)
		provider = provider_of(req)
		rid = new_id('req_', 24)
		rec = self.begin(req, provider, rid)
		try:
			resp = self.provider_answer(req, provider, rec)
		except ApiError as e:
			resp = error_response(provider, e, rid)
		resp.record = rec
		return resp

	def provider_answer(self, req, provider, rec):
		fault = self.faults.take(req.path)
		cut = None
		if fault:
			rec['fault'] = {k: fault[k] for k in ('status', 'error',
			    'delay_ms') if fault[k]}
			if fault['delay_ms']:
				time.sleep(fault['delay_ms'] / 1000.0)
			if fault['status'] is not None:
				raise ApiError(fault['status'], note='fault')
			if fault['error'] == 'drop':
				return Drop()
			if fault['error'] == 'insufficient_quota':
				raise ApiError(429, 'You exceeded your current quota, '
				    'please check your plan and billing details.',
				    'insufficient_quota', None, 'insufficient_quota',
				    note='fault insufficient_quota')
			if fault['error'] in ('cut_before_usage', 'cut_mid'):
				cut = 'before-usage' if fault['error'] == \
				    'cut_before_usage' else 'mid'
		slow = header_int(req, 'X-Emu-Slow-Ms', 0, emu.MAX_DELAY_MS)
		if slow:
			time.sleep(slow / 1000.0)
		status = header_int(req, 'X-Emu-Status', 400, 599)
		if status is not None:
			raise ApiError(status, note='X-Emu-Status')
		hcut = req.headers.get('X-Emu-Cut')
		if hcut is not None:
			if hcut.strip() not in CUTS:
				raise bad_request('X-Emu-Cut must be before-usage or mid')
			cut = hcut.strip()
		rec['cut'] = cut

		p = req.path
		if p == '/v1/chat/completions':
			self.need_method(req, 'POST')
			self.openai_key(req, rec)
			return self.chat(req, rec, cut)
		if p == '/v1/messages':
			self.need_method(req, 'POST')
			self.anthropic_key(req, rec)
			return self.messages(req, rec, cut)
		if p in ('/v1/models', '/v1/models/') or \
		    p.startswith('/v1/models/'):
			self.need_method(req, 'GET')
			if provider == 'anthropic':
				self.anthropic_key(req, rec)
				return self.anthropic_models(req)
			self.openai_key(req, rec)
			return self.openai_models(req)
		raise ApiError(404, 'Invalid URL (%s %s)' % (req.method, p))

	def need_method(self, req, method):
		if req.method != method:
			raise ApiError(405, 'Invalid method for URL (%s %s)' %
			    (req.method, req.path), 'invalid_request_error')

	def begin(self, req, provider, rid):
		h = req.headers
		rec = {'seq': 0, 'at': emu.utc_iso(), 'method': req.method,
		    'path': req.path, 'provider': provider, 'status': None,
		    'model': None, 'key_hint': None, 'stream': False,
		    'stream_options': None, 'max_tokens': None,
		    'max_tokens_field': None, 'user': None, 'messages': None,
		    'usage': None, 'usage_sent': False, 'finish_reason': None,
		    'cut': None, 'disconnected': False, 'events_sent': 0,
		    'fault': None, 'request_id': rid,
		    'user_agent': h.get('User-Agent'),
		    'stainless': {k.lower(): v for k, v in h.items()
		    if k.lower().startswith('x-stainless-')},
		    'emu_headers': {k.lower(): v for k, v in h.items()
		    if k.lower().startswith('x-emu-')},
		    'header_names': sorted({k.lower() for k in h.keys()}),
		    'ms': None, 'done': False}
		# What a fault answered before the body was read still shows.
		try:
			early = req.json()
		except ValueError:
			early = None
		if isinstance(early, dict):
			if isinstance(early.get('model'), str):
				rec['model'] = early['model']
			rec['stream'] = early.get('stream') is True
		with self.lock:
			self.seq += 1
			rec['seq'] = self.seq
			self.requests.append(rec)
		return rec

	def finish(self, rec, resp, ms, sent_all, disconnected, events_sent):
		with self.lock:
			rec['status'] = resp.status
			rec['ms'] = round(ms)
			rec['disconnected'] = disconnected
			if isinstance(resp, StreamResponse):
				rec['events_sent'] = events_sent
				rec['usage_sent'] = resp.usage_index is not None and \
				    events_sent > resp.usage_index
			else:
				rec['usage_sent'] = resp.status == 200 and sent_all and \
				    rec['usage'] is not None
			rec['done'] = True
			self.save()

	# --- keys -----------------------------------------------------------

	def is_revoked(self, key):
		with self.lock:
			return emu.digest(key) in self.revoked

	def openai_key(self, req, rec):
		key = req.bearer()
		if key is None:
			raise ApiError(401, 'You didn\'t provide an API key. You need '
			    'to provide your API key in an Authorization header using '
			    'Bearer auth (i.e. Authorization: Bearer YOUR_KEY).',
			    'invalid_request_error', None, None, note='no key')
		rec['key_hint'] = emu.hint(key, 3)
		if not OPENAI_KEY_RE.match(key) or key.startswith('sk-ant-'):
			raise ApiError(401, 'Incorrect API key provided: %s.' %
			    rec['key_hint'], note='bad key')
		if self.is_revoked(key):
			raise ApiError(401, 'Incorrect API key provided: %s.' %
			    rec['key_hint'], note='revoked key')

	def anthropic_key(self, req, rec):
		key = (req.headers.get('x-api-key') or '').strip()
		if not key:
			raise ApiError(401, 'x-api-key header is required',
			    note='no key')
		rec['key_hint'] = emu.hint(key, 7)
		if not ANTHROPIC_KEY_RE.match(key):
			raise ApiError(401, 'invalid x-api-key', note='bad key')
		if self.is_revoked(key):
			raise ApiError(401, 'invalid x-api-key', note='revoked key')
		if not (req.headers.get('anthropic-version') or '').strip():
			raise bad_request('anthropic-version: header is required')

	# --- common to both providers ---------------------------------------

	def body_object(self, req, provider):
		try:
			body = req.json()
		except ValueError:
			body = None
		if not isinstance(body, dict):
			if provider == 'anthropic':
				raise bad_request('There was an issue with your request: '
				    'the body must be a JSON object')
			raise bad_request('We could not parse the JSON body of your '
			    'request. (HINT: This likely means you aren\'t using your '
			    'HTTP library correctly. The OpenAI API expects a JSON '
			    'payload, but what was sent was not valid JSON.)')
		return body

	def switches(self, req):
		"""(words, delay seconds, cached, cache write) of a request."""
		with self.lock:
			settings = dict(self.settings)
		count = header_int(req, 'X-Emu-Tokens', 0, MAX_WORDS)
		delay = header_int(req, 'X-Emu-Delay-Ms', 0, MAX_STREAM_DELAY)
		cached = header_int(req, 'X-Emu-Cached', 0, 10 ** 6 - 1) or 0
		write = header_int(req, 'X-Emu-Cache-Write', 0, 10 ** 6 - 1)
		if write is None:
			write = settings.get('cache_write', 0)
		return (settings['tokens'] if count is None else count,
		    (settings['stream_delay_ms'] if delay is None else delay) /
		    1000.0, cached, write)

	def cut_stop(self, cut, first_content, n):
		"""How many events a cut stream sends, given the index of its
		first content event and how many there are."""
		if cut == 'before-usage':
			return first_content + n
		if cut == 'mid':
			return first_content + n // 2
		return None

	# --- OpenAI chat completions ----------------------------------------

	def chat(self, req, rec, cut):
		body = self.body_object(req, 'openai')
		model = body.get('model')
		if not isinstance(model, str) or not model:
			raise bad_request('you must provide a model parameter')
		rec['model'] = model
		messages = openai_messages(body.get('messages'))
		rec['messages'] = len(messages)
		stream = body.get('stream', False)
		if stream is None:
			stream = False
		if not isinstance(stream, bool):
			raise bad_request('Invalid type for \'stream\': expected a '
			    'boolean, but got %s instead.' % json_type(stream),
			    'stream', 'invalid_type')
		rec['stream'] = stream
		opts = body.get('stream_options')
		if opts is not None:
			if not stream:
				raise bad_request('The \'stream_options\' parameter is only '
				    'allowed when \'stream\' is enabled.', 'stream_options',
				    'invalid_value')
			if not isinstance(opts, dict):
				raise bad_request('Invalid type for \'stream_options\': '
				    'expected an object, but got %s instead.' %
				    json_type(opts), 'stream_options', 'invalid_type')
			iu = opts.get('include_usage')
			if iu is not None and not isinstance(iu, bool):
				raise bad_request('Invalid type for '
				    '\'stream_options.include_usage\': expected a boolean, '
				    'but got %s instead.' % json_type(iu),
				    'stream_options.include_usage', 'invalid_type')
		rec['stream_options'] = opts
		include_usage = bool(opts and opts.get('include_usage'))
		field = 'max_completion_tokens' if body.get(
		    'max_completion_tokens') is not None else 'max_tokens'
		max_tokens = body.get(field)
		if max_tokens is not None:
			rec['max_tokens_field'] = field
			rec['max_tokens'] = max_tokens
			if not is_int(max_tokens):
				raise bad_request('Invalid type for \'%s\': expected an '
				    'integer, but got %s instead.' % (field,
				    json_type(max_tokens)), field, 'invalid_type')
			if max_tokens < 1:
				raise bad_request('Invalid \'%s\': integer below minimum '
				    'value. Expected a value >= 1, but got %d instead.' %
				    (field, max_tokens), field, 'integer_below_min_value')
		n = body.get('n', 1)
		if n is not None and n != 1:
			raise bad_request('The emulator answers n=1 only.', 'n',
			    'invalid_value')
		user = body.get('user')
		rec['user'] = user if isinstance(user, str) else None
		count, delay, cached, write = self.switches(req)
		tool = openai_tool(body, messages)
		rec['tools'] = len(body.get('tools') or [])
		rec['images'] = images_in(messages, 'image_url')
		p = tool_plan(messages, None, tool, cached) if tool else \
		    plan(messages, None, count, max_tokens, cached)
		usage = openai_usage(p)
		rec['usage'] = usage
		rec['finish_reason'] = p['finish_reason']
		cid = new_id('chatcmpl-', 29)
		created = int(time.time())
		fingerprint = 'fp_emu' + emu.random_string(6, '0123456789abcdef')
		headers = [('x-request-id', rec['request_id']),
		    ('openai-processing-ms', '1'), ('openai-version', '2020-10-01')]
		call_id = new_id('call_', 24)
		if not stream:
			msg = {'role': 'assistant', 'content': p['text'],
			    'refusal': None, 'annotations': []}
			if tool:
				msg['content'] = None
				msg['tool_calls'] = [{'id': call_id, 'type': 'function',
				    'function': {'name': tool,
				    'arguments': p['arguments']}}]
			out = {'id': cid, 'object': 'chat.completion',
			    'created': created, 'model': model,
			    'choices': [{'index': 0, 'message': msg,
			    'logprobs': None, 'finish_reason': p['finish_reason']}],
			    'usage': usage, 'service_tier': 'default',
			    'system_fingerprint': fingerprint}
			resp = emu.json_response(200, out, headers)
			resp.cut = cut
			return resp

		def chunk(delta, finish=None, choices=True, usage=None):
			c = {'id': cid, 'object': 'chat.completion.chunk',
			    'created': created, 'model': model,
			    'service_tier': 'default',
			    'system_fingerprint': fingerprint,
			    'choices': [{'index': 0, 'delta': delta, 'logprobs': None,
			    'finish_reason': finish}] if choices else []}
			if include_usage:
				# null in every chunk but the last, as at OpenAI
				c['usage'] = usage
			return sse_data(c)
		if tool:
			parts = pieces(p['arguments'])
			events = [chunk({'role': 'assistant', 'content': None,
			    'tool_calls': [{'index': 0, 'id': call_id,
			    'type': 'function', 'function': {'name': tool,
			    'arguments': ''}}], 'refusal': None})]
			events += [chunk({'tool_calls': [{'index': 0, 'function':
			    {'arguments': a}}]}) for a in parts]
			n_content = len(parts)
		else:
			events = [chunk({'role': 'assistant', 'content': '',
			    'refusal': None})]
			events += [chunk({'content': d}) for d in deltas(p['words'])]
			n_content = len(p['words'])
		events.append(chunk({}, p['finish_reason']))
		usage_index = None
		if include_usage:
			usage_index = len(events)
			events.append(chunk({}, choices=False, usage=usage))
		events.append(b'data: [DONE]\n\n')
		return StreamResponse(events, delay,
		    self.cut_stop(cut, 1, n_content), usage_index, headers)

	# --- Anthropic messages ---------------------------------------------

	def messages(self, req, rec, cut):
		body = self.body_object(req, 'anthropic')
		model = body.get('model')
		if not isinstance(model, str) or not model:
			raise bad_request('model: Field required')
		rec['model'] = model
		max_tokens = body.get('max_tokens')
		rec['max_tokens'] = max_tokens
		rec['max_tokens_field'] = 'max_tokens' if max_tokens is not None \
		    else None
		if max_tokens is None:
			raise bad_request('max_tokens: Field required')
		if not is_int(max_tokens):
			raise bad_request('max_tokens: Input should be a valid integer')
		if max_tokens < 1:
			raise bad_request('max_tokens: Input should be greater than or '
			    'equal to 1')
		messages = anthropic_messages(body.get('messages'))
		rec['messages'] = len(messages)
		system = body.get('system')
		if system is not None and not isinstance(system, (str, list)):
			raise bad_request('system: Input should be a valid string or '
			    'list')
		stream = body.get('stream', False)
		if not isinstance(stream, bool):
			raise bad_request('stream: Input should be a valid boolean')
		rec['stream'] = stream
		count, delay, cached, write = self.switches(req)
		tool = anthropic_tool(body, messages)
		rec['tools'] = len(body.get('tools') or [])
		rec['images'] = images_in(messages, 'image')
		p = tool_plan(messages, system, tool, cached, write) if tool else \
		    plan(messages, system, count, max_tokens, cached, write)
		usage = anthropic_usage(p)
		rec['usage'] = usage
		rec['finish_reason'] = p['stop_reason']
		mid = 'msg_01' + emu.random_string(22)
		headers = [('request-id', rec['request_id'])]
		use_id = 'toolu_01' + emu.random_string(22)
		block = {'type': 'tool_use', 'id': use_id, 'name': tool,
		    'input': json.loads(p['arguments'])} if tool else \
		    {'type': 'text', 'text': p['text']}
		if not stream:
			out = {'id': mid, 'type': 'message', 'role': 'assistant',
			    'model': model,
			    'content': [block],
			    'stop_reason': p['stop_reason'], 'stop_sequence': None,
			    'usage': usage}
			resp = emu.json_response(200, out, headers)
			resp.cut = cut
			return resp
		events = [sse_event('message_start', {'type': 'message_start',
		    'message': {'id': mid, 'type': 'message', 'role': 'assistant',
		    'model': model, 'content': [], 'stop_reason': None,
		    'stop_sequence': None, 'usage': anthropic_usage(p, 1)}}),
		    sse_event('content_block_start', {'type': 'content_block_start',
		    'index': 0, 'content_block': dict(block, input={}) if tool else
		    {'type': 'text', 'text': ''}}),
		    sse_event('ping', {'type': 'ping'})]
		if tool:
			parts = pieces(p['arguments'])
			events += [sse_event('content_block_delta', {'type':
			    'content_block_delta', 'index': 0, 'delta': {'type':
			    'input_json_delta', 'partial_json': a}}) for a in parts]
		else:
			parts = p['words']
			events += [sse_event('content_block_delta', {'type':
			    'content_block_delta', 'index': 0, 'delta': {'type':
			    'text_delta', 'text': d}}) for d in deltas(parts)]
		events.append(sse_event('content_block_stop', {'type':
		    'content_block_stop', 'index': 0}))
		usage_index = len(events)
		events.append(sse_event('message_delta', {'type': 'message_delta',
		    'delta': {'stop_reason': p['stop_reason'],
		    'stop_sequence': None},
		    'usage': {'output_tokens': p['completion_tokens']}}))
		events.append(sse_event('message_stop', {'type': 'message_stop'}))
		return StreamResponse(events, delay,
		    self.cut_stop(cut, 3, len(parts)), usage_index, headers)

	# --- models ---------------------------------------------------------

	def openai_models(self, req):
		def model(mid):
			return {'id': mid, 'object': 'model', 'created': MODELS_CREATED,
			    'owned_by': 'emu'}
		rest = req.path[len('/v1/models'):].strip('/')
		if not rest:
			return emu.json_response(200, {'object': 'list',
			    'data': [model(m) for m in OPENAI_MODELS]})
		if rest not in OPENAI_MODELS:
			raise ApiError(404, 'The model \'%s\' does not exist' % rest,
			    'invalid_request_error', 'model', 'model_not_found')
		return emu.json_response(200, model(rest))

	def anthropic_models(self, req):
		def model(mid, name):
			return {'type': 'model', 'id': mid, 'display_name': name,
			    'created_at': emu.utc_iso(MODELS_CREATED)}
		rest = req.path[len('/v1/models'):].strip('/')
		models = dict(ANTHROPIC_MODELS)
		if not rest:
			data = [model(m, name) for m, name in ANTHROPIC_MODELS]
			return emu.json_response(200, {'data': data, 'has_more': False,
			    'first_id': data[0]['id'], 'last_id': data[-1]['id']})
		if rest not in models:
			raise ApiError(404, 'model: %s' % rest)
		return emu.json_response(200, model(rest, models[rest]))

	# --- control --------------------------------------------------------

	def control(self, req):
		route = (req.method, req.path.rstrip('/') or '/')
		if route[1] == '/_emu/faults':
			return self.faults.control(req)
		fn = {('GET', '/_emu'): self.home,
		    ('GET', '/_emu/state'): self.state,
		    ('GET', '/_emu/requests'): self.list_requests,
		    ('POST', '/_emu/revoke'): self.revoke,
		    ('POST', '/_emu/reset'): self.reset,
		    ('GET', '/_emu/settings'): self.get_settings,
		    ('POST', '/_emu/settings'): self.set_settings,
		    ('GET', '/_emu/count'): self.count_text,
		    ('POST', '/_emu/count'): self.count_body}.get(route)
		if fn is None:
			return emu.json_response(404, {'error': 'no such control '
			    'endpoint (see the top of tests/llm-emu.py)'})
		try:
			body = emu.control_json(req) if req.method == 'POST' else {}
		except ValueError as e:
			return emu.json_response(400, {'error': str(e)})
		try:
			with self.lock:
				return fn(req, body)
		except ApiError as e:
			return emu.json_response(400, {'error': e.message})

	def view(self, rec):
		return {k: v for k, v in rec.items() if not k.startswith('_')}

	def state(self, req, body):
		reqs = [self.view(r) for r in self.requests]
		return emu.json_response(200, {'settings': self.settings,
		    'models': {'openai': list(OPENAI_MODELS),
		    'anthropic': [m for m, _ in ANTHROPIC_MODELS]},
		    'revoked': sorted(self.revoked.values()),
		    'faults': self.faults.list(), 'requests': reqs,
		    'counts': {'requests': len(reqs),
		    'streamed': sum(1 for r in reqs if r['stream']),
		    'disconnected': sum(1 for r in reqs if r['disconnected']),
		    'in_progress': sum(1 for r in reqs if not r['done']),
		    'revoked': len(self.revoked)}})

	def list_requests(self, req, body):
		q = req.query()
		out = self.requests
		if 'since' in q:
			try:
				since = int(q['since'])
			except ValueError:
				return emu.json_response(400, {'error': 'since must be a '
				    'number'})
			out = [r for r in out if r['seq'] > since]
		for k in ('path', 'model', 'provider'):
			if k in q:
				out = [r for r in out if r[k] == q[k]]
		return emu.json_response(200, [self.view(r) for r in out])

	def revoke(self, req, body):
		key = body.get('key')
		if not isinstance(key, str) or not key:
			return emu.json_response(400, {'error': 'key must be the key'})
		h = emu.hint(key, 7 if key.startswith('sk-ant-') else 3)
		self.revoked[emu.digest(key)] = h
		self.save()
		return emu.json_response(200, {'revoked': h})

	def reset(self, req, body):
		self.clear()
		self.faults.clear()
		self.save()
		return emu.json_response(200, {'ok': True})

	def get_settings(self, req, body):
		return emu.json_response(200, self.settings)

	def set_settings(self, req, body):
		limits = {'stream_delay_ms': MAX_STREAM_DELAY, 'tokens': MAX_WORDS,
		    'cache_write': 10 ** 6 - 1}
		unknown = sorted(set(body) - set(limits))
		if unknown:
			return emu.json_response(400, {'error': 'unknown settings: %s' %
			    ', '.join(unknown)})
		for k, v in body.items():
			if not (is_int(v) and 0 <= v <= limits[k]):
				return emu.json_response(400, {'error': '%s must be a number '
				    'from 0 to %d' % (k, limits[k])})
		self.settings.update(body)
		self.save()
		return emu.json_response(200, self.settings)

	def count_text(self, req, body):
		text = req.query().get('text', '')
		return emu.json_response(200, {'tokens': len(words(text))})

	def count_body(self, req, body):
		"""What a chat or messages body would be answered, for tests."""
		messages = openai_messages(body.get('messages'))
		count = body.get('tokens', self.settings['tokens'])
		max_tokens = body.get('max_completion_tokens',
		    body.get('max_tokens'))
		cached = body.get('cached', 0)
		for name, v in (('tokens', count), ('cached', cached)):
			if not is_int(v) or v < 0:
				return emu.json_response(400, {'error': '%s must be a '
				    'number from 0' % name})
		if max_tokens is not None and not is_int(max_tokens):
			return emu.json_response(400, {'error': 'max_tokens must be a '
			    'number'})
		p = plan(messages, body.get('system'), count, max_tokens, cached)
		del p['words']
		return emu.json_response(200, p)

	def home(self, req, body):
		items = []
		for r in reversed(self.requests[-100:]):
			meta = ' · '.join(str(x) for x in (r['method'] + ' ' + r['path'],
			    r['status'] if r['done'] else 'in progress', r['model'],
			    'stream' if r['stream'] else None, r['key_hint'], r['at'],
			    '%s ms' % r['ms'] if r['ms'] is not None else None)
			    if x is not None)
			u = r['usage'] or {}
			text = 'no usage'
			if 'prompt_tokens' in u:
				text = '%d prompt + %d completion tokens (%d cached)' % (
				    u['prompt_tokens'], u['completion_tokens'],
				    u['prompt_tokens_details']['cached_tokens'])
			elif 'input_tokens' in u:
				text = '%d input + %d output tokens (%d cache read)' % (
				    u['input_tokens'], u['output_tokens'],
				    u['cache_read_input_tokens'])
			if r['finish_reason']:
				text += ', ' + r['finish_reason']
			flags = [f for f in ('disconnected' if r['disconnected'] else '',
			    'cut ' + r['cut'] if r['cut'] else '',
			    'fault' if r['fault'] else '',
			    'usage not delivered' if r['done'] and r['usage'] and
			    not r['usage_sent'] else '') if f]
			if flags:
				text += ' — ' + ', '.join(flags)
			items.append((meta, text))
		revoked = ''.join('<li><code>%s</code></li>' % emu.esc(h)
		    for h in sorted(self.revoked.values()))
		body_html = ('<section class="card"><h1>Requests received</h1>%s'
		    '</section><section class="card"><h2>Revoked keys</h2>%s'
		    '</section><section class="card"><h2>Settings</h2><p>%d ms '
		    'between stream events, %d words an answer; %d faults queued.'
		    '</p></section>' % (emu.message_list(items),
		    '<ul class="items">%s</ul>' % revoked if revoked else
		    '<p class="meta">None.</p>', self.settings['stream_delay_ms'],
		    self.settings['tokens'], len(self.faults.list())))
		return emu.html_response(200, emu.page('LLM emulator: requests',
		    body_html, 'LLM provider emulator', '#0f766e', refresh=5))


def provider_of(req):
	if req.path == '/v1/messages':
		return 'anthropic'
	if req.path.startswith('/v1/models') and (req.headers.get('x-api-key')
	    or req.headers.get('anthropic-version')):
		return 'anthropic'
	return 'openai'


def json_type(v):
	if v is None:
		return 'null'
	return {bool: 'a boolean', int: 'an integer', float: 'a decimal',
	    str: 'a string', list: 'an array', dict: 'an object'}.get(type(v),
	    'a value')


def check_content(content, where, allow_null):
	if content is None and allow_null:
		return
	if isinstance(content, str):
		return
	if isinstance(content, list):
		for j, part in enumerate(content):
			if not isinstance(part, dict) or not isinstance(part.get('type'),
			    str):
				raise bad_request('Invalid \'%s[%d]\': expected an object '
				    'with a type.' % (where, j), '%s[%d]' % (where, j),
				    'invalid_type')
			if part['type'] == 'text' and not isinstance(part.get('text'),
			    str):
				raise bad_request('Missing required parameter: '
				    '\'%s[%d].text\'.' % (where, j), '%s[%d].text' %
				    (where, j), 'missing_required_parameter')
		return
	raise bad_request('Invalid type for \'%s\': expected one of a string '
	    'or array of objects, but got %s instead.' % (where,
	    json_type(content)), where, 'invalid_type')


def openai_messages(messages):
	if messages is None:
		raise bad_request('Missing required parameter: \'messages\'.',
		    'messages', 'missing_required_parameter')
	if not isinstance(messages, list):
		raise bad_request('Invalid type for \'messages\': expected an array '
		    'of objects, but got %s instead.' % json_type(messages),
		    'messages', 'invalid_type')
	if not messages:
		raise bad_request('Invalid \'messages\': empty array. Expected an '
		    'array with minimum length 1, but got an empty array instead.',
		    'messages', 'empty_array')
	for i, m in enumerate(messages):
		where = 'messages[%d]' % i
		if not isinstance(m, dict):
			raise bad_request('Invalid type for \'%s\': expected an object, '
			    'but got %s instead.' % (where, json_type(m)), where,
			    'invalid_type')
		if m.get('role') not in OPENAI_ROLES:
			raise bad_request('Invalid value: \'%s\'. Supported values are: '
			    '%s.' % (m.get('role'), ', '.join('\'%s\'' % r
			    for r in OPENAI_ROLES)), where + '.role', 'invalid_value')
		check_content(m.get('content'), where + '.content',
		    m['role'] == 'assistant')
	return messages


def anthropic_messages(messages):
	if messages is None:
		raise bad_request('messages: Field required')
	if not isinstance(messages, list):
		raise bad_request('messages: Input should be a valid list')
	if not messages:
		raise bad_request('messages: at least one message is required')
	for i, m in enumerate(messages):
		if not isinstance(m, dict):
			raise bad_request('messages.%d: Input should be a valid '
			    'dictionary' % i)
		if m.get('role') not in ('user', 'assistant'):
			raise bad_request('messages.%d.role: Input should be \'user\' '
			    'or \'assistant\'' % i)
		c = m.get('content')
		if not isinstance(c, (str, list)) or (isinstance(c, list) and
		    not all(isinstance(b, dict) and isinstance(b.get('type'), str)
		    for b in c)):
			raise bad_request('messages.%d.content: Input should be a valid '
			    'string or a list of content blocks' % i)
		for j, b in enumerate(c if isinstance(c, list) else []):
			if b['type'] == 'image':
				check_image(b.get('source'), 'messages.%d.content.%d' %
				    (i, j))
	return messages


def images_in(messages, kind):
	"""Image parts (OpenAI's image_url, Anthropic's image) of a request."""
	return sum(1 for m in messages if isinstance(m.get('content'), list)
	    for b in m['content'] if isinstance(b, dict) and b.get('type') ==
	    kind)


IMAGE_TYPES = ('image/jpeg', 'image/png', 'image/gif', 'image/webp')


def check_image(src, where):
	"""An image block's source as Anthropic checks it: base64 data of one
	of four image types, or a URL."""
	if not isinstance(src, dict) or src.get('type') not in ('base64',
	    'url'):
		raise bad_request('%s.source: Input tag does not match any of the '
		    'expected tags: \'base64\', \'url\'' % where)
	if src['type'] == 'url':
		if not isinstance(src.get('url'), str) or not \
		    src['url'].startswith('https://'):
			raise bad_request('%s.source.url: Only HTTPS URLs are '
			    'supported' % where)
		return
	if src.get('media_type') not in IMAGE_TYPES:
		raise bad_request('%s.source.base64.media_type: Input should be '
		    '\'image/jpeg\', \'image/png\', \'image/gif\' or '
		    '\'image/webp\'' % where)
	try:
		base64.b64decode(src.get('data') or '', validate=True)
	except (ValueError, TypeError):
		raise bad_request('%s.source.base64.data: The image data is not '
		    'valid base64' % where)


TOOL_NAME_RE = re.compile(r'[a-zA-Z0-9_-]{1,64}\Z')


def openai_tool(body, messages):
	"""Check tools, tool_choice and the tool calls of the history as
	OpenAI does; the tool to call now, or None."""
	tools = body.get('tools')
	if tools is not None and (not isinstance(tools, list) or not all(
	    isinstance(t, dict) and t.get('type') == 'function' and
	    isinstance(t.get('function'), dict) and isinstance(
	    t['function'].get('name'), str) and TOOL_NAME_RE.match(
	    t['function']['name']) and isinstance(t['function'].get(
	    'parameters', {}), dict) for t in tools)):
		raise bad_request('Invalid \'tools\': each must be {"type": '
		    '"function", "function": {"name", "parameters"}}.', 'tools',
		    'invalid_value')
	names = [t['function']['name'] for t in tools or []]
	choice = body.get('tool_choice')
	if choice is not None and choice not in ('none', 'auto', 'required') \
	    and not (isinstance(choice, dict) and choice.get('type') ==
	    'function' and isinstance(choice.get('function'), dict) and
	    choice['function'].get('name') in names):
		raise bad_request('Invalid \'tool_choice\'.', 'tool_choice',
		    'invalid_value')
	if choice is not None and not names:
		raise bad_request('Invalid value for \'tool_choice\': '
		    '\'tool_choice\' is only allowed when \'tools\' are specified.',
		    'tool_choice', 'invalid_value')
	calls = set()
	for i, m in enumerate(messages):
		for j, c in enumerate(m.get('tool_calls') or []):
			if m['role'] != 'assistant' or not (isinstance(c, dict) and
			    isinstance(c.get('id'), str) and c.get('type') ==
			    'function' and isinstance(c.get('function'), dict) and
			    isinstance(c['function'].get('name'), str) and
			    isinstance(c['function'].get('arguments'), str)):
				raise bad_request('Invalid \'messages[%d].tool_calls[%d]\'.'
				    % (i, j), 'messages[%d].tool_calls' % i, 'invalid_value')
			calls.add(c['id'])
		if m['role'] == 'tool' and m.get('tool_call_id') not in calls:
			raise bad_request('Invalid parameter: messages with role '
			    '\'tool\' must be a response to a preceeding message with '
			    '\'tool_calls\'.', 'messages.[%d].role' % i)
	if not names or choice == 'none' or messages[-1]['role'] == 'tool':
		return None
	if isinstance(choice, dict):
		return choice['function']['name']
	return names[0]


def anthropic_tool(body, messages):
	"""Check tools, tool_choice, tool_use and tool_result blocks as
	Anthropic does; the tool to call now, or None."""
	tools = body.get('tools')
	if tools is not None and (not isinstance(tools, list) or not all(
	    isinstance(t, dict) and isinstance(t.get('name'), str) and
	    TOOL_NAME_RE.match(t['name']) and isinstance(t.get(
	    'input_schema'), dict) and t['input_schema'].get('type') ==
	    'object' for t in tools)):
		raise bad_request('tools: each tool needs a name and an '
		    'input_schema of type object')
	names = [t['name'] for t in tools or []]
	choice = body.get('tool_choice')
	if choice is not None and not (isinstance(choice, dict) and
	    choice.get('type') in ('auto', 'any', 'none', 'tool') and
	    (choice['type'] != 'tool' or choice.get('name') in names)):
		raise bad_request('tool_choice: Input should be a valid tool '
		    'choice')
	prev = set()
	for i, m in enumerate(messages):
		blocks = m['content'] if isinstance(m['content'], list) else []
		uses = set()
		for j, b in enumerate(blocks):
			if b['type'] == 'tool_use':
				if m['role'] != 'assistant' or not (isinstance(b.get('id'),
				    str) and isinstance(b.get('name'), str) and
				    isinstance(b.get('input'), dict)):
					raise bad_request('messages.%d.content.%d: a tool_use '
					    'block needs an id, a name and an input object' %
					    (i, j))
				uses.add(b['id'])
			elif b['type'] == 'tool_result' and (m['role'] != 'user' or
			    b.get('tool_use_id') not in prev):
				raise bad_request('messages.%d.content.%d: unexpected '
				    '`tool_use_id` found in `tool_result` blocks: %s. Each '
				    '`tool_result` block must have a corresponding '
				    '`tool_use` block in the previous message.' % (i, j,
				    b.get('tool_use_id')))
		prev = uses
	last = messages[-1]
	if not names or (choice or {}).get('type') == 'none' or (isinstance(
	    last['content'], list) and any(b['type'] == 'tool_result'
	    for b in last['content'])):
		return None
	if (choice or {}).get('type') == 'tool':
		return choice['name']
	return names[0]


# --- HTTP -------------------------------------------------------------------

class Handler(emu.Handler):
	"""emu_common's handler, with answers that stream, are cut short or
	are not given at all."""
	responses = {**emu.Handler.responses, 529: ('Overloaded',
	    'The provider is overloaded')}

	def dispatch(self, method):
		t0 = time.monotonic()
		url = urllib.parse.urlsplit(self.path)
		app = self.server.app
		try:
			body = self.read_body()
		except ValueError:
			self.close_connection = True
			resp = emu.text_response(413, 'request body too large or '
			    'malformed\n')
		else:
			req = emu.Request(method, url.path, url.query, self.headers, body)
			try:
				resp = app.answer(req)
			except Exception:
				emu.log('internal error\n' + traceback.format_exc())
				resp = emu.text_response(500, 'emulator error\n')
		sent_all, disconnected, events = True, False, 0
		if isinstance(resp, StreamResponse):
			sent_all, disconnected, events = self.stream(resp)
		elif isinstance(resp, Drop):
			self.hang_up()
			sent_all = False
		elif getattr(resp, 'cut', None):
			self.send_half(resp)
			sent_all = False
		else:
			sent_all = self.send_whole(resp)
			disconnected = not sent_all
		ms = (time.monotonic() - t0) * 1000
		rec = getattr(resp, 'record', None)
		if rec is not None:
			app.finish(rec, resp, ms, sent_all, disconnected, events)
		emu.log('%s %s %s %.0fms%s' % (method, app.log_path(url.path),
		    resp.status or '-', ms, log_note(resp, rec, disconnected)))

	def send_whole(self, resp):
		"""emu_common's send, saying whether the client got it all."""
		try:
			self.send_response(resp.status)
			self.send_header('Content-Type', resp.ctype)
			self.send_header('Content-Length', str(len(resp.body)))
			self.send_header('Cache-Control', 'no-store')
			for k, v in resp.headers:
				self.send_header(k, v)
			self.end_headers()
			self.wfile.write(resp.body)
			return True
		except OSError:
			self.close_connection = True
			return False

	def send_half(self, resp):
		"""The headers and half the body, then the connection closed."""
		try:
			self.send_response(resp.status)
			self.send_header('Content-Type', resp.ctype)
			self.send_header('Content-Length', str(len(resp.body)))
			for k, v in resp.headers:
				self.send_header(k, v)
			self.end_headers()
			self.wfile.write(resp.body[:len(resp.body) // 2])
		except OSError:
			pass
		self.hang_up()

	def hang_up(self):
		self.close_connection = True
		try:
			self.wfile.flush()
			self.connection.shutdown(socket.SHUT_RDWR)
		except OSError:
			pass

	def peer_gone(self, wait):
		"""Waits wait seconds; True as soon as the client has closed its
		side (or reset the connection)."""
		end = time.monotonic() + wait
		try:
			r, _, _ = select.select([self.connection], [], [], wait)
			if r and self.connection.recv(1, socket.MSG_PEEK) == b'':
				return True
		except OSError:
			return True
		# Readable with bytes in it: a next request; just wait.
		time.sleep(max(0.0, end - time.monotonic()))
		return False

	def stream(self, resp):
		"""(sent_all, disconnected, events sent)."""
		chunked = self.request_version != 'HTTP/1.0'
		sent, gone = 0, False
		try:
			self.send_response(200)
			self.send_header('Content-Type', 'text/event-stream; '
			    'charset=utf-8')
			self.send_header('Cache-Control', 'no-cache')
			self.send_header('X-Accel-Buffering', 'no')
			if chunked:
				self.send_header('Transfer-Encoding', 'chunked')
			else:
				self.send_header('Connection', 'close')
			for k, v in resp.headers:
				self.send_header(k, v)
			self.end_headers()
			for i, ev in enumerate(resp.events[:resp.stop_at]):
				if self.peer_gone(resp.delay if i else 0):
					gone = True
					break
				if chunked:
					ev = b'%x\r\n%s\r\n' % (len(ev), ev)
				self.wfile.write(ev)
				sent += 1
			if not gone and resp.stop_at >= len(resp.events) and chunked:
				self.wfile.write(b'0\r\n\r\n')
		except OSError as e:
			gone = True
			if e.errno not in (errno.EPIPE, errno.ECONNRESET, None):
				emu.log('stream write: %s' % e)
		complete = not gone and sent == len(resp.events)
		if not complete or not chunked:
			self.hang_up()
		return complete, gone, sent


def log_note(resp, rec, disconnected):
	parts = []
	if rec is not None:
		if rec['model']:
			parts.append('model=%s' % rec['model'])
		if rec['stream']:
			parts.append('stream')
		u = rec['usage'] or {}
		if 'prompt_tokens' in u:
			parts.append('usage=%d+%d' % (u['prompt_tokens'],
			    u['completion_tokens']))
		elif 'input_tokens' in u:
			parts.append('usage=%d+%d' % (u['input_tokens'],
			    u['output_tokens']))
		if rec['cut']:
			parts.append('cut=' + rec['cut'])
		if rec['fault']:
			parts.append('fault')
	if disconnected:
		parts.append('disconnected')
	if resp.note and resp.note not in parts:
		parts.append(resp.note)
	return ''.join(' ' + p for p in parts)


def serve(args):
	"""emu_common.serve with this file's handler."""
	if not 0 <= args.port <= 65535:
		emu.log('port out of range: %d' % args.port)
		return 2
	try:
		server = emu.Server(('127.0.0.1', args.port), Handler)
	except OSError as e:
		emu.log('cannot listen on 127.0.0.1:%d: %s' % (args.port, e.strerror))
		return 1
	port = server.server_address[1]
	try:
		server.app = LLM(port, args.state)
	except (OSError, ValueError) as e:
		emu.log('cannot read the state file %s: %s' % (args.state, e))
		return 1
	if args.port == 0:
		print(port, flush=True)
	if args.pidfile:
		emu.write_pidfile(args.pidfile)

	def stop(signum, frame):
		emu.log('%s: stopping' % signal.Signals(signum).name)
		threading.Thread(target=server.shutdown, daemon=True).start()
	signal.signal(signal.SIGTERM, stop)
	signal.signal(signal.SIGINT, stop)

	emu.log('listening on http://127.0.0.1:%d%s' % (port,
	    ', state in ' + args.state if args.state else ''))
	try:
		server.serve_forever(poll_interval=0.2)
	finally:
		server.server_close()
		if args.pidfile:
			emu.remove_pidfile(args.pidfile)
	emu.log('stopped')
	return 0


def main():
	ap = emu.arg_parser('LLM provider emulator (OpenAI- and Anthropic-shaped) '
	    'for the tests; see the comment at the top of this file')
	args = ap.parse_args()
	emu.set_log_name('llm-emu')
	return serve(args)


if __name__ == '__main__':
	sys.exit(main())
