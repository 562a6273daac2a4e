#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/slack-emu.py: the Slack emulator of SPEC 15.  The part of Slack
# that Tollgate's channels and notifications use (OAuth v2 install,
# chat.postMessage, auth.test, auth.revoke, incoming webhooks), on
# loopback, never the network.  Python 3 standard library only; the
# shared plumbing is in tests/emu_common.py.
#
#   tests/slack-emu.py --port PORT [--pidfile FILE] [--state FILE]
#       [--client-id ID] [--client-secret SECRET]
#
# The client id and secret default to $SLACK_CLIENT_ID and
# $SLACK_CLIENT_SECRET (tests/stack.sh passes them so: argv is public in
# ps).  PORT 0 takes a free port and prints it on stdout.  The pid file is
# written once the port listens and removed at exit.  --state keeps
# installs, tokens, webhooks, messages and pending codes in a JSON file
# rewritten after every change, so a restarted stack's tokens stay valid;
# tokens, codes and webhook URLs are kept there as SHA-256 digests only.
# One line per request goes to stderr: method, path (a webhook's secret
# shortened to a hint), status; never a token or the client secret.
#
# The workspace is team T0EMU0001 "Emu Workspace" (POST /_emu/team
# changes it for the installs that follow), with the channels #general
# C0GENERAL, #alerts C0ALERTS and #agents C0AGENTS.  BASE below is
# http://127.0.0.1:PORT, what SLACK_API_BASE is set to.
#
# ---- OAuth v2 (HTML, as a person sees it)
#
#   GET  /oauth/v2/authorize?client_id=&scope=&redirect_uri=&state=
#        "Install Tollgate to Emu Workspace": a channel select (#alerts
#        preselected) and Allow (id slack-allow) and Cancel (id
#        slack-deny) buttons posting to the next route.  An unknown
#        client_id or a missing or non-http(s) redirect_uri: a 400 page.
#   POST /oauth/v2/authorize/decide  (client_id, redirect_uri, state,
#        scope, channel, decision=allow|deny)
#        allow: 302 to redirect_uri?code=CODE&state=STATE; the code is
#        valid 10 minutes, once, for that client_id, redirect_uri, scope,
#        channel and the team of the moment.  deny: 302 to
#        redirect_uri?error=access_denied&state=STATE.  The state comes
#        back byte for byte (percent-encoded); without a state field there
#        is no state parameter.
#
# ---- Web API (BASE/api/METHOD, GET or POST; parameters from the query
# string and a form or JSON body; always HTTP 200 with "ok")
#
#   oauth.v2.access   client_id and client_secret as form fields or HTTP
#        Basic auth; code; redirect_uri, which must be the authorize one.
#        Errors, in this order: invalid_client_id, bad_client_secret,
#        invalid_code (unknown, expired, used, or another client's),
#        bad_redirect_uri.  Success: a bot token xoxb-..., the team, and
#        an incoming webhook for the chosen channel (always, whatever the
#        scope) at BASE/services/TEAM/B.../SECRET.
#   chat.postMessage  token as "Authorization: Bearer" or a token form
#        field (Slack reads no token from a JSON body); channel (C0ALERTS,
#        #alerts or alerts), text and/or blocks (a list, or its JSON in a
#        form field).  Errors: not_authed, invalid_auth (unknown or
#        revoked token), channel_not_found, no_text, invalid_blocks,
#        msg_too_long (over 40000 characters).  Success: channel id, a
#        unique ts ("<unix>.<6 digits>") and the message.
#   auth.test         the token's team, the bot user and bot id.
#   auth.revoke       {"ok":true,"revoked":true}; the token stops working
#        (its incoming webhook goes on working).  test=true revokes
#        nothing, as at Slack.
#   Any other method: HTTP 404 {"ok":false,"error":"unknown_method"}.
#
# ---- Incoming webhooks
#
#   POST /services/T/B/SECRET  JSON body (or a form field payload holding
#        it) with text and/or blocks: 200 text/plain "ok".  Unknown URL:
#        404 "no_service"; not a JSON object: 400 "invalid_payload"; no
#        text and no blocks: 400 "no_text".
#
# ---- Messages as recorded (GET /_emu/messages, oldest first)
#
#   {"ts", "channel": "C0ALERTS" (the id, as Slack's API names channels),
#    "channel_name": "#alerts", "text", "blocks" (when sent), "team":
#    "T0EMU0001", "team_name", "via": "chat.postMessage" | "webhook",
#    "received_at": "2026-01-31T12:00:00Z", "token_hint" or "webhook_id"}
#   Installs and webhooks in /_emu/state name their channel as the OAuth
#   answer does: "channel": "#alerts", "channel_id": "C0ALERTS".
#
# ---- Control endpoints (no authentication, JSON in and out)
#
#   GET    /_emu/          HTML page: the messages, newest first, and the
#                          installs (refreshes itself every 5 s)
#   GET    /_emu/state     team, installs (token hints only), webhooks
#                          (URL hints), messages, faults, counts
#   GET    /_emu/messages  the messages; ?via=webhook, ?channel=C0ALERTS
#                          or #alerts filter them
#   POST   /_emu/reset     forgets everything, the team and faults too
#   POST   /_emu/team      {"id": "T...", "name"}: the team of the next
#                          installs
#   POST   /_emu/webhooks  {"channel": "#alerts"}: a standalone incoming
#                          webhook of the current team -> {"url", ...}
#   GET|POST|DELETE /_emu/faults   see tests/emu_common.py; status 500,
#                          503, 429 answer {"ok":false,"error":
#                          "internal_error"|"service_unavailable"|
#                          "ratelimited"} with that status (429 with
#                          Retry-After: 1); "error": "invalid_auth" (any
#                          lower-case Slack error name) answers HTTP 200
#                          {"ok":false,"error":"invalid_auth"}.
#   There is no /_emu/down: a fault with "status": 503, "times": -1 is
#   the outage, DELETE /_emu/faults its end.
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True	# no __pycache__ in a read-only source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emu_common as emu	# noqa: E402

CHANNELS = (('C0GENERAL', '#general'), ('C0ALERTS', '#alerts'),
    ('C0AGENTS', '#agents'))
CHANNEL_NAMES = dict(CHANNELS)
DEFAULT_CHANNEL = 'C0ALERTS'
DEFAULT_TEAM = {'id': 'T0EMU0001', 'name': 'Emu Workspace'}
APP_ID = 'A0EMUAPP1'
AUTHED_USER = 'U0EMUUSER'
BOT_USER = 'U0EMUBOT'
BOT_ID = 'B0EMUBOT'
CODE_TTL = 600			# seconds an authorization code is valid
MAX_TEXT = 40000		# Slack's msg_too_long limit
MAX_KEPT = 5000			# messages kept; older ones are dropped
STATE_VERSION = 1
TEAM_ID_RE = re.compile(r'T[A-Z0-9]{2,20}\Z')
ERROR_RE = re.compile(r'[a-z][a-z_]{1,60}\Z')
FAULT_ERRORS = {429: 'ratelimited', 500: 'internal_error',
    503: 'service_unavailable'}
SAVED = ('team', 'installs', 'webhooks', 'codes', 'messages', 'last_ts')


def channel_id(value):
	"""C0ALERTS, #alerts or alerts -> C0ALERTS; None if no such channel."""
	if not isinstance(value, str):
		return None
	if value in CHANNEL_NAMES:
		return value
	name = value if value.startswith('#') else '#' + value
	for cid, cname in CHANNELS:
		if cname == name:
			return cid
	return None


def with_query(url, pairs):
	"""url with pairs appended to its query; values percent-encoded from
	their exact bytes (surrogateescape keeps what was not UTF-8)."""
	parts = urllib.parse.urlsplit(url)
	extra = '&'.join('%s=%s' % (k, urllib.parse.quote(
	    v.encode('utf-8', 'surrogateescape'), safe='')) for k, v in pairs)
	query = parts.query + '&' + extra if parts.query else extra
	return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path,
	    query, ''))


def http_url(value):
	if not value:
		return False
	parts = urllib.parse.urlsplit(value)
	return parts.scheme in ('http', 'https') and bool(parts.netloc)


def ok(**fields):
	return emu.json_response(200, dict(ok=True, **fields))


def slack_error(code):
	resp = emu.json_response(200, {'ok': False, 'error': code})
	resp.note = code
	return resp


def new_token():
	# Slack's shape: xoxb-<team number>-<bot number>-<24 characters>.
	return 'xoxb-%s-%s-%s' % (emu.random_digits(13), emu.random_digits(13),
	    emu.random_string(24))


def message_content(obj):
	"""(text, blocks, error) of a message's fields."""
	text, blocks = obj.get('text'), obj.get('blocks')
	if isinstance(text, (int, float)) and not isinstance(text, bool):
		text = str(text)
	if not isinstance(text, str) or text == '':
		text = None
	if isinstance(blocks, str):
		# A form field carries blocks as their JSON.
		try:
			blocks = json.loads(blocks) if blocks else None
		except ValueError:
			return None, None, 'invalid_blocks'
	if blocks is not None and not isinstance(blocks, list):
		return None, None, 'invalid_blocks'
	if text is None and not blocks:
		return None, None, 'no_text'
	if text is not None and len(text) > MAX_TEXT:
		return None, None, 'msg_too_long'
	return text, blocks or None, None


class Slack:
	def __init__(self, port, client_id, client_secret, state_path):
		self.base = 'http://127.0.0.1:%d' % port
		self.client_id = client_id
		self.client_secret = client_secret
		self.lock = threading.Lock()
		self.faults = emu.Faults(self.fault_error)
		self.store = emu.StateFile(state_path, STATE_VERSION)
		self.clear()
		data = self.store.load()
		if data:
			for k in SAVED:
				if k in data:
					setattr(self, k, data[k])
			emu.log('state loaded: %d installs, %d webhooks, %d messages' %
			    (len(self.installs), len(self.webhooks), len(self.messages)))

	# --- state ---------------------------------------------------------------

	def clear(self):
		self.team = dict(DEFAULT_TEAM)
		self.installs = {}	# digest(token) -> install
		self.webhooks = {}	# digest(path) -> webhook
		self.codes = {}		# digest(code) -> pending grant
		self.messages = []
		self.last_ts = 0	# microseconds of the newest ts handed out

	def save(self):
		now = time.time()
		self.codes = {k: g for k, g in self.codes.items()
		    if g['expires_at'] > now}
		del self.messages[:-MAX_KEPT]
		self.store.save({k: getattr(self, k) for k in SAVED})

	def next_ts(self):
		"""<unix>.<6 digits>, later than every ts before it."""
		us = max(int(time.time() * 1e6), self.last_ts + 1)
		self.last_ts = us
		return '%d.%06d' % divmod(us, 1000000)

	def record(self, via, cid, team, text, blocks, **extra):
		msg = {'ts': self.next_ts(), 'channel': cid,
		    'channel_name': CHANNEL_NAMES[cid], 'text': text or ''}
		if blocks:
			msg['blocks'] = blocks
		msg.update({'team': team['id'], 'team_name': team['name'],
		    'via': via, 'received_at': emu.utc_iso()}, **extra)
		self.messages.append(msg)
		return msg

	def new_webhook(self, team, cid, install_hint=None):
		"""A webhook URL of team posting to channel cid."""
		hook_id = 'B' + emu.random_string(10, emu.UPPER)
		path = '/services/%s/%s/%s' % (team['id'], hook_id,
		    emu.random_string(24))
		self.webhooks[emu.digest(path)] = {'id': hook_id,
		    'team': dict(team), 'channel_id': cid,
		    'url_hint': self.url_hint(self.base + path),
		    'install': install_hint, 'created_at': emu.utc_iso()}
		return self.base + path

	def url_hint(self, url):
		return self.base + self.log_path(url[len(self.base):])

	# --- requests --------------------------------------------------------------

	def log_path(self, path):
		"""A webhook's secret (and whatever follows it) shortened to a
		hint."""
		parts = path.split('/')
		if len(parts) >= 5 and parts[1] == 'services':
			return '/'.join(parts[:4] + [emu.hint('/'.join(parts[4:]))])
		return path

	def handle(self, req):
		p = req.path
		if emu.is_control(p):
			return self.control(req)
		if p == '/oauth/v2/authorize':
			return self.authorize(req) if req.method == 'GET' else \
			    not_allowed('GET')
		if p == '/oauth/v2/authorize/decide':
			return self.decide(req) if req.method == 'POST' else \
			    not_allowed('POST')
		if p.startswith('/api/'):
			return self.api(req, p[len('/api/'):])
		if p.startswith('/services/'):
			return self.webhook(req) if req.method == 'POST' else \
			    not_allowed('POST')
		return emu.text_response(404, 'not found\n')

	def fault_error(self, value):
		if not (isinstance(value, str) and ERROR_RE.match(value)):
			raise ValueError('error must be a Slack error name such as '
			    'invalid_auth')
		return value

	def fault_response(self, fault):
		if fault['error'] is not None:
			return emu.json_response(200, {'ok': False,
			    'error': fault['error']})
		status = fault['status']
		headers = [('Retry-After', '1')] if status == 429 else None
		return emu.json_response(status, {'ok': False,
		    'error': FAULT_ERRORS.get(status, 'fatal_error')}, headers)

	# --- OAuth pages -------------------------------------------------------------

	def refuse_page(self, client_id, redirect_uri):
		"""The 400 page for a bad authorize request, or None."""
		if client_id != self.client_id:
			return error_page('Unknown client_id', 'No app with the '
			    'client_id %r is installed in this emulator.' %
			    (client_id or ''))
		if not redirect_uri:
			return error_page('Missing redirect_uri', 'The request has '
			    'no redirect_uri, so there is nowhere to send the answer.')
		if not http_url(redirect_uri):
			return error_page('Bad redirect_uri', 'The redirect_uri %r is '
			    'not an http(s) URL.' % redirect_uri)
		return None

	def authorize(self, req):
		q = req.query()
		refused = self.refuse_page(q.get('client_id'), q.get('redirect_uri'))
		if refused:
			return refused
		with self.lock:
			team = dict(self.team)
		return emu.html_response(200, authorize_page(team, q))

	def decide(self, req):
		f = req.form()
		ru = f.get('redirect_uri')
		refused = self.refuse_page(f.get('client_id'), ru)
		if refused:
			return refused
		state = [('state', f['state'])] if 'state' in f else []
		decision = f.get('decision')
		if decision == 'deny':
			return emu.redirect(with_query(ru, [('error', 'access_denied')] +
			    state))
		if decision != 'allow':
			return error_page('Bad decision', 'decision must be allow or '
			    'deny.')
		cid = channel_id(f.get('channel'))
		if not cid:
			return error_page('Unknown channel', 'Pick one of the '
			    'workspace\'s channels.')
		code = '%s.%s.%s' % (emu.random_digits(13), emu.random_digits(13),
		    secrets.token_hex(32))
		with self.lock:
			self.codes[emu.digest(code)] = {'client_id': f['client_id'],
			    'redirect_uri': ru, 'scope': f.get('scope', ''),
			    'channel_id': cid, 'team': dict(self.team),
			    'expires_at': time.time() + CODE_TTL}
			self.save()
		return emu.redirect(with_query(ru, [('code', code)] + state))

	# --- Web API -------------------------------------------------------------------

	def api(self, req, method):
		fn = {'oauth.v2.access': self.oauth_access,
		    'chat.postMessage': self.post_message,
		    'auth.test': self.auth_test,
		    'auth.revoke': self.auth_revoke}.get(method)
		if fn is None:
			resp = emu.json_response(404, {'ok': False,
			    'error': 'unknown_method'})
			resp.note = 'unknown_method'
			return resp
		if req.method not in ('GET', 'POST'):
			return not_allowed('GET, POST')
		params = req.query()
		from_json = req.content_type() == 'application/json'
		if from_json:
			try:
				body = req.json()
			except ValueError:
				return slack_error('invalid_json')
			if not isinstance(body, dict):
				return slack_error('json_not_object')
			params.update(body)
		else:
			params.update(req.form())
		# Slack takes a token from a form field, never from a JSON body.
		token = req.bearer() or (None if from_json else params.get('token'))
		with self.lock:
			return fn(params, token, req)

	def install_of(self, token):
		"""The live install of a token, or None."""
		inst = self.installs.get(emu.digest(token)) if token else None
		return inst if inst and not inst['revoked'] else None

	def oauth_access(self, params, token, req):
		cid, secret = req.basic() or (params.get('client_id'),
		    params.get('client_secret'))
		if not cid or cid != self.client_id:
			return slack_error('invalid_client_id')
		if not isinstance(secret, str) or not emu.hmac_equal(secret,
		    self.client_secret):
			return slack_error('bad_client_secret')
		code = params.get('code')
		key = emu.digest(code) if isinstance(code, str) and code else None
		grant = self.codes.get(key) if key else None
		if grant is None or grant['expires_at'] <= time.time() or \
		    grant['client_id'] != cid:
			return slack_error('invalid_code')
		if params.get('redirect_uri') != grant['redirect_uri']:
			return slack_error('bad_redirect_uri')
		# Used up only now: a refused exchange can be retried, right.
		del self.codes[key]
		return ok(**self.install(grant))

	def install(self, grant):
		"""A new bot token and webhook for a granted code: the answer."""
		token, team, cid = new_token(), grant['team'], grant['channel_id']
		hint = emu.hint(token, 5)
		url = self.new_webhook(team, cid, hint)
		self.installs[emu.digest(token)] = {'team': team,
		    'channel_id': cid, 'scope': grant['scope'], 'token_hint': hint,
		    'webhook_hint': self.url_hint(url), 'revoked': False,
		    'created_at': emu.utc_iso()}
		self.save()
		return {'app_id': APP_ID, 'authed_user': {'id': AUTHED_USER},
		    'scope': grant['scope'], 'token_type': 'bot',
		    'access_token': token, 'bot_user_id': BOT_USER,
		    'team': {'id': team['id'], 'name': team['name']},
		    'enterprise': None, 'is_enterprise_install': False,
		    'incoming_webhook': {'channel': CHANNEL_NAMES[cid],
		    'channel_id': cid, 'configuration_url': self.base + '/_emu/',
		    'url': url}}

	def post_message(self, params, token, req):
		if not token:
			return slack_error('not_authed')
		inst = self.install_of(token)
		if not inst:
			return slack_error('invalid_auth')
		cid = channel_id(params.get('channel'))
		if not cid:
			return slack_error('channel_not_found')
		text, blocks, err = message_content(params)
		if err:
			return slack_error(err)
		msg = self.record('chat.postMessage', cid, inst['team'], text,
		    blocks, token_hint=inst['token_hint'])
		self.save()
		out = {'type': 'message', 'text': msg['text'], 'bot_id': BOT_ID,
		    'user': BOT_USER, 'ts': msg['ts']}
		if blocks:
			out['blocks'] = blocks
		return ok(channel=cid, ts=msg['ts'], message=out)

	def auth_test(self, params, token, req):
		if not token:
			return slack_error('not_authed')
		inst = self.install_of(token)
		if not inst:
			return slack_error('invalid_auth')
		return ok(url='https://emu-workspace.slack.com/',
		    team=inst['team']['name'], user='tollgate',
		    team_id=inst['team']['id'], user_id=BOT_USER, bot_id=BOT_ID)

	def auth_revoke(self, params, token, req):
		if not token:
			return slack_error('not_authed')
		inst = self.install_of(token)
		if not inst:
			return slack_error('invalid_auth')
		if str(params.get('test', '')).lower() in ('1', 'true'):
			return ok(revoked=False)
		inst['revoked'] = True
		inst['revoked_at'] = emu.utc_iso()
		self.save()
		return ok(revoked=True)

	# --- incoming webhooks --------------------------------------------------------

	def webhook(self, req):
		with self.lock:
			hook = self.webhooks.get(emu.digest(req.path))
		if hook is None:
			return emu.text_response(404, 'no_service')
		try:
			if req.is_form() and 'payload' in req.form():
				payload = json.loads(req.form()['payload'])
			else:
				payload = req.json()
		except ValueError:
			payload = None
		if not isinstance(payload, dict):
			return emu.text_response(400, 'invalid_payload')
		text, blocks, err = message_content(payload)
		if err == 'no_text':
			return emu.text_response(400, 'no_text')
		if err:
			return emu.text_response(400, 'invalid_payload')
		with self.lock:
			self.record('webhook', hook['channel_id'], hook['team'], text,
			    blocks, webhook_id=hook['id'])
			self.save()
		return emu.text_response(200, 'ok')

	# --- control ----------------------------------------------------------------------

	def control(self, req):
		route = (req.method, req.path.rstrip('/') or '/')
		if route[1] == '/_emu/faults':
			return self.faults.control(req)
		fn = {('GET', '/_emu'): self.home,
		    ('GET', '/_emu/state'): self.state,
		    ('GET', '/_emu/messages'): self.list_messages,
		    ('POST', '/_emu/reset'): self.reset,
		    ('POST', '/_emu/team'): self.set_team,
		    ('POST', '/_emu/webhooks'): self.add_webhook}.get(route)
		if fn is None:
			return emu.json_response(404, {'error': 'no such control '
			    'endpoint (see the top of tests/slack-emu.py)'})
		try:
			body = emu.control_json(req) if req.method == 'POST' else {}
		except ValueError as e:
			return emu.json_response(400, {'error': str(e)})
		with self.lock:
			return fn(req, body)

	def install_view(self, inst):
		return {'team': inst['team'], 'channel': CHANNEL_NAMES[
		    inst['channel_id']], 'channel_id': inst['channel_id'],
		    'scope': inst['scope'], 'token_hint': inst['token_hint'],
		    'webhook_hint': inst['webhook_hint'], 'revoked': inst['revoked'],
		    'created_at': inst['created_at']}

	def webhook_view(self, hook):
		return {'id': hook['id'], 'team': hook['team'],
		    'channel': CHANNEL_NAMES[hook['channel_id']],
		    'channel_id': hook['channel_id'], 'url_hint': hook['url_hint'],
		    'install_token_hint': hook['install'],
		    'created_at': hook['created_at']}

	def state(self, req, body):
		installs = [self.install_view(i) for i in self.installs.values()]
		now = time.time()
		pending = sum(1 for g in self.codes.values()
		    if g['expires_at'] > now)
		return emu.json_response(200, {'team': self.team,
		    'client_id': self.client_id,
		    'installs': installs,
		    'webhooks': [self.webhook_view(h)
		    for h in self.webhooks.values()],
		    'messages': self.messages, 'faults': self.faults.list(),
		    'counts': {'installs': len(installs),
		    'active_installs': sum(1 for i in installs if not i['revoked']),
		    'webhooks': len(self.webhooks), 'messages': len(self.messages),
		    'pending_codes': pending}})

	def list_messages(self, req, body):
		q = req.query()
		out = self.messages
		if 'via' in q:
			out = [m for m in out if m['via'] == q['via']]
		if 'channel' in q:
			cid = channel_id(q['channel'])
			out = [m for m in out if m['channel'] == cid]
		return emu.json_response(200, out)

	def reset(self, req, body):
		self.clear()
		self.faults.clear()
		self.save()
		return emu.json_response(200, {'ok': True})

	def set_team(self, req, body):
		tid, name = body.get('id'), body.get('name')
		if not (isinstance(tid, str) and TEAM_ID_RE.match(tid)):
			return emu.json_response(400, {'error': 'id must look like '
			    'T0EMU0002'})
		if not (isinstance(name, str) and 0 < len(name) <= 100):
			return emu.json_response(400, {'error': 'name must be 1 to 100 '
			    'characters'})
		self.team = {'id': tid, 'name': name}
		self.save()
		return emu.json_response(200, {'team': self.team})

	def add_webhook(self, req, body):
		cid = channel_id(body.get('channel', CHANNEL_NAMES[DEFAULT_CHANNEL]))
		if not cid:
			return emu.json_response(400, {'error': 'channel must be one of '
			    '%s' % ', '.join(CHANNEL_NAMES.values())})
		url = self.new_webhook(self.team, cid)
		self.save()
		return emu.json_response(200, {'url': url,
		    'channel': CHANNEL_NAMES[cid], 'channel_id': cid,
		    'team': self.team})

	def home(self, req, body):
		items = [('%s · %s · %s · %s' % (m['channel_name'], m['team_name'],
		    m['via'], m['received_at']), m['text'] or '(blocks only)')
		    for m in reversed(self.messages)]
		installs = ''.join('<li><span class="meta">%s · %s · %s%s</span>'
		    '</li>' % (emu.esc(i['team']['name']),
		    emu.esc(CHANNEL_NAMES[i['channel_id']]),
		    emu.esc(i['token_hint']), ' · revoked' if i['revoked'] else '')
		    for i in self.installs.values())
		body_html = ('<section class="card"><h1>Messages received</h1>%s'
		    '</section><section class="card"><h2>Installs</h2>%s</section>'
		    % (emu.message_list(items), '<ul class="items">%s</ul>' %
		    installs if installs else '<p class="meta">None yet.</p>'))
		return emu.html_response(200, emu.page('Slack emulator: messages',
		    body_html, 'Slack emulator · %s' % self.team['name'],
		    '#4a154b', refresh=5))


# --- pages ----------------------------------------------------------------------------

def not_allowed(methods):
	return emu.Response(405, 'method not allowed\n',
	    'text/plain; charset=utf-8', [('Allow', methods)])


def error_page(title, text):
	body = '<section class="card"><h1>%s</h1><p>%s</p></section>' % (
	    emu.esc(title), emu.esc(text))
	resp = emu.html_response(400, emu.page(title, body, 'Slack emulator',
	    '#4a154b'))
	resp.note = title
	return resp


def authorize_page(team, q):
	title = 'Install Tollgate to %s' % team['name']
	hidden = ''.join('<input type="hidden" name="%s" value="%s">' % (k,
	    emu.esc(q.get(k, ''))) for k in ('client_id', 'redirect_uri',
	    'state', 'scope'))
	options = ''.join('<option value="%s"%s>%s</option>' % (cid,
	    ' selected' if cid == DEFAULT_CHANNEL else '', emu.esc(name))
	    for cid, name in CHANNELS)
	scopes = ', '.join(s for s in q.get('scope', '').split(',') if s) or \
	    '(none)'
	body = ('<section class="card"><h1>%s</h1>'
	    '<p>Tollgate is asking for access to the <strong>%s</strong> Slack '
	    'workspace (%s).</p><p class="meta">Permissions: %s</p>'
	    '<form method="post" action="/oauth/v2/authorize/decide">%s'
	    '<label for="channel">Where should Tollgate post?</label>'
	    '<select id="channel" name="channel">%s</select>'
	    '<div class="buttons">'
	    '<button type="submit" name="decision" value="allow" id="slack-allow"'
	    ' class="primary">Allow</button>'
	    '<button type="submit" name="decision" value="deny" id="slack-deny">'
	    'Cancel</button></div></form></section>' % (emu.esc(title),
	    emu.esc(team['name']), emu.esc(team['id']), emu.esc(scopes), hidden,
	    options))
	return emu.page(title, body, 'Slack emulator', '#4a154b')


def main():
	ap = emu.arg_parser('Slack API emulator for the tests (see the comment '
	    'at the top of this file)')
	ap.add_argument('--client-id', default=os.environ.get('SLACK_CLIENT_ID',
	    ''), help='the app\'s client id (default: $SLACK_CLIENT_ID)')
	ap.add_argument('--client-secret',
	    default=os.environ.get('SLACK_CLIENT_SECRET', ''),
	    help='the app\'s client secret (default: $SLACK_CLIENT_SECRET, '
	    'which keeps it out of ps)')
	args = ap.parse_args()
	if not args.client_id or not args.client_secret:
		ap.error('a client id and secret are needed (SLACK_CLIENT_ID and '
		    'SLACK_CLIENT_SECRET in the environment, or the options)')
	emu.set_log_name('slack-emu')
	emu.log('client id %s, client secret %s' % (args.client_id,
	    emu.hint(args.client_secret)))
	return emu.serve(args, lambda port: Slack(port, args.client_id,
	    args.client_secret, args.state))


if __name__ == '__main__':
	sys.exit(main())
