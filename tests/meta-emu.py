#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/meta-emu.py: the Meta Graph API emulator of SPEC 15, the part
# WhatsApp Cloud channels use: looking up a phone number id and sending a
# text message, on loopback, never the network.  Python 3 standard
# library only; the shared plumbing is in tests/emu_common.py.
#
#   tests/meta-emu.py --port PORT [--pidfile FILE] [--state FILE]
#
# PORT 0 takes a free port and prints it on stdout.  The pid file is
# written once the port listens and removed at exit.  --state keeps the
# messages, lookups and revoked tokens (as SHA-256 digests) in a JSON
# file rewritten after every change.  One line per request goes to
# stderr: method, path, status; never a token.
#
# ---- Graph API (BASE = http://127.0.0.1:PORT, what META_GRAPH_BASE is
# set to; any version prefix /vN.N/)
#
# Tokens: "Authorization: Bearer TOKEN", or an access_token parameter in
# the query string, a form body or a JSON body.  A token is valid when it
# matches ^EAA[A-Za-z0-9]{16,}$ and was not revoked (POST /_emu/revoke).
# Phone number ids are 5 to 20 digits; those starting with 9 do not
# exist.  The token is checked first, then the id, then the body.
#
#   GET  /vN.N/ID?fields=display_phone_number,verified_name
#        200 {"display_phone_number": "+1 555-01<last 2 digits of ID>",
#        "verified_name": "Emu Business <last 4 digits>", "id": ID}: the
#        fields asked for (also quality_rating, code_verification_status,
#        platform_type) and id; no fields parameter: those two and id; an
#        unknown field: 400 code 100.
#   POST /vN.N/ID/messages  JSON {"messaging_product": "whatsapp",
#        "recipient_type": "individual" (optional), "to": "+4915112345678"
#        (8-15 digits, + optional), "type": "text" (optional),
#        "text": {"body": "..." (1-4096 characters)}}
#        200 {"messaging_product": "whatsapp", "contacts": [{"input": TO,
#        "wa_id": DIGITS}], "messages": [{"id": "wamid...."}]}.  A bad
#        field: 400 {"error": {"message": "(#100) Invalid parameter: to",
#        "type": "OAuthException", "code": 100, "error_data":
#        {"messaging_product": "whatsapp", "details": "..."},
#        "fbtrace_id"}}; the message names the field (messaging_product,
#        recipient_type, to, type, text.body).
#
# Errors, in Graph's shape {"error": {message, type, code, error_subcode?,
# fbtrace_id}}:
#   no token       400 code 2500 "An active access token must be used to
#                  query information about the current user."
#   bad token      401 code 190 "Invalid OAuth access token - Cannot parse
#                  access token" (revoked ones too), WWW-Authenticate set
#   unknown ID     400 GraphMethodException code 100 subcode 33
#                  "Unsupported get request. Object with ID 'ID' does not
#                  exist, cannot be loaded due to missing permissions, or
#                  does not support this operation." (post for a POST; also
#                  for a route the emulator does not have under an ID)
#   other paths    400 code 2500 "Unknown path components: PATH"
#
# ---- Messages as recorded (GET /_emu/messages, oldest first)
#
#   {"id": "wamid...", "phone_number_id", "to" (as sent), "wa_id",
#    "body", "token_hint", "received_at": "2026-01-31T12:00:00Z"}
#
# ---- Control endpoints (no authentication, JSON in and out)
#
#   GET    /_emu/          HTML page: the messages, newest first
#                          (refreshes itself every 5 s)
#   GET    /_emu/state     messages, lookups, revoked token hints, faults,
#                          counts
#   GET    /_emu/messages  the messages; ?phone_number_id= filters them
#   POST   /_emu/reset     forgets messages, lookups, revocations, faults
#   POST   /_emu/revoke    {"token": "EAA..."}: that token stops working
#   GET|POST|DELETE /_emu/faults   see tests/emu_common.py; status 429:
#                          code 4 "(#4) Application request limit
#                          reached", with Retry-After: 1;
#                          500: code 1 "An unknown error has occurred.";
#                          503: code 2 "Service temporarily unavailable";
#                          others code 1.  "error" instead of a status:
#                          "invalid_token" (the 401 code 190 answer),
#                          "rate_limit" (400 code 80007 "(#80007) Rate
#                          limit hit") or a number N (400 code N).
import json
import os
import re
import sys
import threading

sys.dont_write_bytecode = True	# no __pycache__ in a read-only source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emu_common as emu	# noqa: E402

TOKEN_RE = re.compile(r'EAA[A-Za-z0-9]{16,}\Z')
PHONE_ID_RE = re.compile(r'[0-9]{5,20}\Z')
TO_RE = re.compile(r'\+?[0-9]{8,15}\Z')
VERSIONED_RE = re.compile(r'/v[0-9]+\.[0-9]+(/.*)?\Z')
MAX_BODY_TEXT = 4096		# WhatsApp's limit on a text message
MAX_KEPT = 5000			# messages and lookups kept each
STATE_VERSION = 1
SAVED = ('messages', 'lookups', 'revoked')
NODE_TYPE = 'WhatsAppBusinessPhoneNumber'
FAULTS_BY_STATUS = {
	429: (4, '(#4) Application request limit reached'),
	500: (1, 'An unknown error has occurred.'),
	503: (2, 'Service temporarily unavailable'),
}
MISSING_TOKEN = ('An active access token must be used to query '
    'information about the current user.')
BAD_TOKEN = 'Invalid OAuth access token - Cannot parse access token'


def graph_error(status, message, code, type_='OAuthException', subcode=None,
    data=None, headers=None):
	err = {'message': message, 'type': type_, 'code': code}
	if subcode is not None:
		err['error_subcode'] = subcode
	if data is not None:
		err['error_data'] = data
	# Graph puts a fresh trace id on every error.
	err['fbtrace_id'] = 'A' + emu.random_string(22)
	resp = emu.json_response(status, {'error': err}, headers)
	resp.note = 'code %d' % code
	return resp


def bad_token():
	return graph_error(401, BAD_TOKEN, 190, headers=[('WWW-Authenticate',
	    'OAuth "Facebook Platform" "invalid_token" "%s"' % BAD_TOKEN)])


def no_such_object(method, ident):
	return graph_error(400, 'Unsupported %s request. Object with ID \'%s\' '
	    'does not exist, cannot be loaded due to missing permissions, or '
	    'does not support this operation.' % (method.lower(), ident), 100,
	    'GraphMethodException', subcode=33)


def invalid_param(field, details):
	return graph_error(400, '(#100) Invalid parameter: %s' % field, 100,
	    data={'messaging_product': 'whatsapp', 'details': details})


def phone_fields(ident):
	"""Everything a lookup of a phone number id can show."""
	return {'display_phone_number': '+1 555-01' + ident[-2:],
	    'verified_name': 'Emu Business ' + ident[-4:],
	    'quality_rating': 'GREEN', 'code_verification_status': 'VERIFIED',
	    'platform_type': 'CLOUD_API', 'id': ident}


def check_message(m):
	"""The first thing wrong with a message request, as an answer, or
	None.  Graph checks in this order too: product, recipient, type,
	content."""
	if m.get('messaging_product') != 'whatsapp':
		return invalid_param('messaging_product', 'messaging_product must '
		    'be "whatsapp"')
	if m.get('recipient_type', 'individual') != 'individual':
		return invalid_param('recipient_type', 'recipient_type must be '
		    '"individual"')
	to = m.get('to')
	if not (isinstance(to, str) and TO_RE.match(to)):
		return invalid_param('to', 'to must be a phone number of 8 to 15 '
		    'digits, with an optional leading +')
	if m.get('type', 'text') != 'text':
		return invalid_param('type', 'only type "text" is emulated')
	text = m.get('text')
	body = text.get('body') if isinstance(text, dict) else None
	if not (isinstance(body, str) and body.strip()):
		return invalid_param('text.body', 'text.body is required')
	if len(body) > MAX_BODY_TEXT:
		return invalid_param('text.body', 'text.body is longer than %d '
		    'characters' % MAX_BODY_TEXT)
	return None


class Meta:
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
			emu.log('state loaded: %d messages, %d revoked tokens' % (
			    len(self.messages), len(self.revoked)))

	def clear(self):
		self.messages = []
		self.lookups = []
		self.revoked = {}	# digest(token) -> hint

	def save(self):
		del self.messages[:-MAX_KEPT]
		del self.lookups[:-MAX_KEPT]
		self.store.save({k: getattr(self, k) for k in SAVED})

	def log_path(self, path):
		return path	# tokens never travel in the path

	# --- faults -------------------------------------------------------------------

	def fault_error(self, value):
		if value in ('invalid_token', 'rate_limit') or (emu.is_int(value) and
		    0 < value < 10000000):
			return value
		raise ValueError('error must be "invalid_token", "rate_limit" or a '
		    'Graph error code')

	def fault_response(self, fault):
		err = fault['error']
		if err == 'invalid_token':
			return bad_token()
		if err == 'rate_limit':
			return graph_error(400, '(#80007) Rate limit hit', 80007)
		if err is not None:
			return graph_error(400, '(#%d) Emulated error' % err, err)
		status = fault['status']
		code, message = FAULTS_BY_STATUS.get(status, (1, 'An unknown error '
		    'has occurred.'))
		headers = [('Retry-After', '1')] if status == 429 else None
		return graph_error(status, message, code, headers=headers)

	# --- Graph ---------------------------------------------------------------------

	def handle(self, req):
		if emu.is_control(req.path):
			return self.control(req)
		m = VERSIONED_RE.match(req.path)
		if not m:
			return graph_error(400, 'Unknown path components: %s' %
			    req.path, 2500)
		try:
			body = self.body_params(req)
		except ValueError:
			body = None
		token = self.token_of(req, body or {})
		if token is None:
			return graph_error(400, MISSING_TOKEN, 2500)
		if not self.token_ok(token):
			return bad_token()
		parts = (m.group(1) or '/').strip('/').split('/')
		ident = parts[0]
		if not PHONE_ID_RE.match(ident) or ident.startswith('9'):
			return no_such_object(req.method, ident)
		if req.method == 'GET' and len(parts) == 1:
			return self.lookup(req, ident, token)
		if req.method == 'POST' and parts[1:] == ['messages']:
			if body is None:
				return invalid_param('body', 'the body must be a JSON object')
			return self.send(ident, body, token)
		return no_such_object(req.method, ident)

	def body_params(self, req):
		"""A POST's parameters: JSON, or a form whose text field holds
		JSON, as Graph takes both.  ValueError when unreadable."""
		if req.method != 'POST' or not req.body.strip():
			return {}
		if req.is_form():
			f = req.form()
			if isinstance(f.get('text'), str):
				f['text'] = json.loads(f['text'])
			return f
		obj = req.json()
		if not isinstance(obj, dict):
			raise ValueError('not an object')
		return obj

	def token_of(self, req, body):
		token = req.bearer() or req.query().get('access_token') or \
		    body.get('access_token')
		return token if isinstance(token, str) and token else None

	def token_ok(self, token):
		if not TOKEN_RE.match(token):
			return False
		with self.lock:
			return emu.digest(token) not in self.revoked

	def lookup(self, req, ident, token):
		fields = req.query().get('fields')
		names = [f.strip() for f in fields.split(',') if f.strip()] \
		    if fields is not None else ['display_phone_number',
		    'verified_name']
		known = phone_fields(ident)
		for name in names:
			if name not in known:
				return graph_error(400, '(#100) Tried accessing nonexisting '
				    'field (%s) on node type (%s)' % (name, NODE_TYPE), 100)
		out = {n: known[n] for n in names if n != 'id'}
		out['id'] = ident	# Graph always answers with the id, last
		with self.lock:
			self.lookups.append({'phone_number_id': ident,
			    'fields': names, 'token_hint': emu.hint(token, 3),
			    'at': emu.utc_iso()})
			self.save()
		return emu.json_response(200, out)

	def send(self, ident, m, token):
		wrong = check_message(m)
		if wrong:
			return wrong
		to = m['to']
		wamid = 'wamid.HBgL' + emu.random_string(40)
		with self.lock:
			self.messages.append({'id': wamid, 'phone_number_id': ident,
			    'to': to, 'wa_id': to.lstrip('+'), 'body': m['text']['body'],
			    'token_hint': emu.hint(token, 3),
			    'received_at': emu.utc_iso()})
			self.save()
		return emu.json_response(200, {'messaging_product': 'whatsapp',
		    'contacts': [{'input': to, 'wa_id': to.lstrip('+')}],
		    'messages': [{'id': wamid}]})

	# --- control ----------------------------------------------------------------------

	def control(self, req):
		route = (req.method, req.path.rstrip('/') or '/')
		if route[1] == '/_emu/faults':
			return self.faults.control(req)
		fn = {('GET', '/_emu'): self.home,
		    ('GET', '/_emu/state'): self.state,
		    ('GET', '/_emu/messages'): self.list_messages,
		    ('POST', '/_emu/reset'): self.reset,
		    ('POST', '/_emu/revoke'): self.revoke}.get(route)
		if fn is None:
			return emu.json_response(404, {'error': 'no such control '
			    'endpoint (see the top of tests/meta-emu.py)'})
		try:
			body = emu.control_json(req) if req.method == 'POST' else {}
		except ValueError as e:
			return emu.json_response(400, {'error': str(e)})
		with self.lock:
			return fn(req, body)

	def state(self, req, body):
		return emu.json_response(200, {'messages': self.messages,
		    'lookups': self.lookups,
		    'revoked': sorted(self.revoked.values()),
		    'faults': self.faults.list(),
		    'counts': {'messages': len(self.messages),
		    'lookups': len(self.lookups), 'revoked': len(self.revoked)}})

	def list_messages(self, req, body):
		ident = req.query().get('phone_number_id')
		out = [m for m in self.messages
		    if ident is None or m['phone_number_id'] == ident]
		return emu.json_response(200, out)

	def reset(self, req, body):
		self.clear()
		self.faults.clear()
		self.save()
		return emu.json_response(200, {'ok': True})

	def revoke(self, req, body):
		token = body.get('token')
		if not (isinstance(token, str) and token):
			return emu.json_response(400, {'error': 'token is required'})
		self.revoked[emu.digest(token)] = emu.hint(token, 3)
		self.save()
		return emu.json_response(200, {'revoked': True,
		    'token_hint': emu.hint(token, 3)})

	def home(self, req, body):
		items = [('to %s · from %s · %s' % (m['to'], phone_fields(
		    m['phone_number_id'])['display_phone_number'],
		    m['received_at']), m['body']) for m in reversed(self.messages)]
		body_html = '<section class="card"><h1>WhatsApp messages sent</h1>' \
		    '%s</section>' % emu.message_list(items)
		return emu.html_response(200, emu.page('WhatsApp emulator: '
		    'messages', body_html, 'WhatsApp Cloud emulator', '#075e54',
		    refresh=5))


def main():
	ap = emu.arg_parser('Meta Graph API (WhatsApp Cloud) emulator for the '
	    'tests (see the comment at the top of this file)')
	args = ap.parse_args()
	emu.set_log_name('meta-emu')
	return emu.serve(args, lambda port: Meta(port, args.state))


if __name__ == '__main__':
	sys.exit(main())
