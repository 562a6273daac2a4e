#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/meta-emu-check.py: the Meta Graph emulator (tests/meta-emu.py)
# checked on the wire with urllib: the answers' status codes, headers and
# JSON shapes as the Graph API documents them for WhatsApp Cloud (phone
# number lookups, text messages, token and id errors), and its control
# endpoints.  There is no official Meta client to drive it with offline,
# so the shapes are spelled out here.
#
#   tests/meta-emu-check.py         (make check runs it; no arguments)
#   tests/meta-emu-check.py BASE    check a running emulator instead, e.g.
#                                   "$META_GRAPH_BASE" of a stack
#
# Without BASE it starts the emulator on a free loopback port with a state
# file in a temporary directory, restarts it once (revocations and
# messages must survive) and stops it at the end; with BASE the checks
# that need an emulator of their own (faults, restart, reset, its log) are
# left out, saying so.  Prints "ok N - what" or "not ok N - what" per
# check, then "meta emulator: N passed, N failed"; exits 1 if anything
# failed.  The emulator's log is kept in $TEST_OUTPUT_DIR (or the build's
# tests/ directory) as meta-emu-check.emu.log.
import json
import os
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EMU = os.path.join(os.environ.get('top_srcdir', os.path.dirname(HERE)),
    'tests', 'meta-emu.py')
ALNUM = string.ascii_letters + string.digits
TOKEN = 'EAA' + ''.join(secrets.choice(ALNUM) for _ in range(40))
PHONE = '106540352242922'
MISSING = ('An active access token must be used to query information '
    'about the current user.')
BAD = 'Invalid OAuth access token - Cannot parse access token'
# Loopback only: a proxy from the environment must not see these requests.
os.environ['NO_PROXY'] = os.environ['no_proxy'] = '127.0.0.1,localhost'
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Report:
	def __init__(self):
		self.n = 0
		self.failed = 0

	def check(self, what, cond, detail=None):
		self.n += 1
		if cond:
			print('ok %d - %s' % (self.n, what), flush=True)
			return True
		self.failed += 1
		print('not ok %d - %s' % (self.n, what), flush=True)
		if detail is not None:
			text = detail if isinstance(detail, str) else \
			    json.dumps(detail, indent=1, default=str)
			for line in text.splitlines()[:20]:
				print('#   ' + line)
		return False


R = Report()


class Emulator:
	"""One emulator process on a free port, with a state file."""

	def __init__(self, state, log_path):
		self.log = open(log_path, 'a')
		self.proc = subprocess.Popen(['/usr/bin/python3', EMU, '--port',
		    '0', '--state', state], stdout=subprocess.PIPE,
		    stderr=self.log, text=True)
		line = self.proc.stdout.readline()
		if not line.strip().isdigit():
			raise RuntimeError('the emulator printed no port; see %s' %
			    log_path)
		self.base = 'http://127.0.0.1:%d' % int(line)

	def stop(self):
		self.proc.terminate()
		try:
			self.proc.wait(10)
		except subprocess.TimeoutExpired:
			self.proc.kill()
			self.proc.wait()
		self.log.close()


def call(base, method, path, body=None, token=None, query=None, ctype=None):
	"""(status, headers, parsed JSON or text) of one request."""
	url = base + path + ('?' + urllib.parse.urlencode(query) if query else '')
	data = None
	headers = {}
	if body is not None:
		data = body if isinstance(body, bytes) else \
		    json.dumps(body).encode()
		headers['Content-Type'] = ctype or 'application/json'
	if token:
		headers['Authorization'] = 'Bearer ' + token
	req = urllib.request.Request(url, data=data, headers=headers,
	    method=method)
	try:
		with NO_PROXY.open(req, timeout=10) as r:
			status, hdrs, raw = r.status, r.headers, r.read()
	except urllib.error.HTTPError as e:
		status, hdrs, raw = e.code, e.headers, e.read()
	text = raw.decode()
	try:
		return status, hdrs, json.loads(text)
	except ValueError:
		return status, hdrs, text


def graph_error(got, status, code, message=None, type_='OAuthException',
    subcode=None):
	"""Is got (from call) the Graph error described?"""
	st, hdrs, body = got
	err = body.get('error') if isinstance(body, dict) else None
	return (st == status and isinstance(err, dict) and
	    err.get('code') == code and err.get('type') == type_ and
	    (message is None or err.get('message') == message) and
	    err.get('error_subcode') == subcode and
	    isinstance(err.get('fbtrace_id'), str) and
	    len(err['fbtrace_id']) > 8 and
	    hdrs.get('Content-Type', '').startswith('application/json'))


def text_message(to='+4915112345678', body='Your agent is over budget'):
	return {'messaging_product': 'whatsapp', 'recipient_type': 'individual',
	    'to': to, 'type': 'text', 'text': {'body': body}}


# --- the checks -------------------------------------------------------------------

def lookups(base):
	fields = {'fields': 'display_phone_number,verified_name'}
	got = call(base, 'GET', '/v21.0/' + PHONE, token=TOKEN, query=fields)
	R.check('GET /v21.0/ID?fields=display_phone_number,verified_name',
	    got[0] == 200 and got[2] == {'display_phone_number': '+1 555-0122',
	    'verified_name': 'Emu Business 2922', 'id': PHONE} and
	    got[1].get('Content-Type', '').startswith('application/json'), got[2])
	got = call(base, 'GET', '/v21.0/' + PHONE, token=TOKEN,
	    query={'fields': 'verified_name'})
	R.check('only the fields asked for, plus id', got[2] == {
	    'verified_name': 'Emu Business 2922', 'id': PHONE}, got[2])
	got = call(base, 'GET', '/v19.0/' + PHONE, query={'access_token': TOKEN})
	R.check('another version, the token as access_token, no fields: the '
	    'two fields and id', got[0] == 200 and sorted(got[2]) ==
	    ['display_phone_number', 'id', 'verified_name'], got[2])
	R.check('no token: 400 code 2500', graph_error(call(base, 'GET',
	    '/v21.0/' + PHONE, query=fields), 400, 2500, MISSING))
	got = call(base, 'GET', '/v21.0/' + PHONE, token='EAAshort', query=fields)
	R.check('a malformed token: 401 code 190 with WWW-Authenticate',
	    graph_error(got, 401, 190, BAD) and
	    'invalid_token' in got[1].get('WWW-Authenticate', ''), got[2])
	R.check('a token not starting with EAA: 401 code 190', graph_error(
	    call(base, 'GET', '/v21.0/' + PHONE, token='xoxb' + TOKEN[3:]), 401,
	    190, BAD))
	for ident in ('906540352242922', 'abc', '1234'):
		R.check('the id %s does not exist: 400 GraphMethodException 100/33'
		    % ident, graph_error(call(base, 'GET', '/v21.0/' + ident,
		    token=TOKEN), 400, 100, 'Unsupported get request. Object with '
		    'ID \'%s\' does not exist, cannot be loaded due to missing '
		    'permissions, or does not support this operation.' % ident,
		    'GraphMethodException', 33))
	R.check('an unknown field: 400 code 100', graph_error(call(base, 'GET',
	    '/v21.0/' + PHONE, token=TOKEN, query={'fields': 'nope'}), 400, 100,
	    '(#100) Tried accessing nonexisting field (nope) on node type '
	    '(WhatsAppBusinessPhoneNumber)'))


def sends(base):
	path = '/v21.0/%s/messages' % PHONE
	got = call(base, 'POST', path, text_message(), TOKEN)
	body = got[2] if isinstance(got[2], dict) else {}
	wamid = (body.get('messages') or [{}])[0].get('id', '')
	R.check('POST /v21.0/ID/messages: contacts with input and wa_id, a wamid',
	    got[0] == 200 and body.get('messaging_product') == 'whatsapp' and
	    body.get('contacts') == [{'input': '+4915112345678',
	    'wa_id': '4915112345678'}] and wamid.startswith('wamid.') and
	    len(body['messages']) == 1, got[2])
	bare = {'messaging_product': 'whatsapp', 'to': '4915112345678',
	    'text': {'body': 'no type, no recipient_type'}}
	got = call(base, 'POST', path, bare, TOKEN)
	R.check('type and recipient_type are optional; to without +',
	    got[0] == 200 and got[2]['contacts'][0]['input'] == '4915112345678',
	    got[2])
	for what, field, msg in (
	    ('messaging_product sms', 'messaging_product',
	    dict(text_message(), messaging_product='sms')),
	    ('to of 5 digits', 'to', text_message(to='12345')),
	    ('to with spaces', 'to', text_message(to='+49 151 1234')),
	    ('empty text.body', 'text.body', text_message(body='')),
	    ('missing text', 'text.body', {'messaging_product': 'whatsapp',
	    'to': '4915112345678', 'type': 'text'}),
	    ('recipient_type group', 'recipient_type',
	    dict(text_message(), recipient_type='group'))):
		got = call(base, 'POST', path, msg, TOKEN)
		R.check('%s: 400 code 100 naming %s' % (what, field),
		    graph_error(got, 400, 100, '(#100) Invalid parameter: ' + field)
		    and got[2]['error']['error_data']['messaging_product'] ==
		    'whatsapp', got[2])
	R.check('a body that is not JSON: 400 code 100', graph_error(call(base,
	    'POST', path, b'{"to":', TOKEN), 400, 100))
	R.check('POST without a token: 400 code 2500', graph_error(call(base,
	    'POST', path, text_message()), 400, 2500, MISSING))
	got = call(base, 'POST', '/v21.0/9123456/messages', text_message(), TOKEN)
	R.check('POST to an unknown id: Unsupported post request',
	    graph_error(got, 400, 100, None, 'GraphMethodException', 33) and
	    got[2]['error']['message'].startswith('Unsupported post request. '
	    'Object with ID \'9123456\' does not exist'), got[2])
	form = urllib.parse.urlencode({'messaging_product': 'whatsapp',
	    'to': '15550001111', 'access_token': TOKEN,
	    'text': json.dumps({'body': 'as a form'})}).encode()
	got = call(base, 'POST', path, form, ctype='application/x-www-form-urlencoded')
	R.check('a form body with access_token and text as JSON works too',
	    got[0] == 200 and got[2]['contacts'][0]['wa_id'] == '15550001111',
	    got[2])
	return wamid


def recorded(base, wamid):
	st, _, msgs = call(base, 'GET', '/_emu/messages',
	    query={'phone_number_id': PHONE})
	mine = [m for m in msgs if m['id'] == wamid] if st == 200 else []
	R.check('the message is recorded with phone_number_id, to and body',
	    len(mine) == 1 and mine[0]['to'] == '+4915112345678' and
	    mine[0]['body'] == 'Your agent is over budget' and
	    mine[0]['phone_number_id'] == PHONE and
	    mine[0]['received_at'].endswith('Z'), mine)
	st, _, state = call(base, 'GET', '/_emu/state')
	R.check('/_emu/state counts messages and lookups, shows no token',
	    st == 200 and state['counts']['messages'] >= 3 and
	    state['counts']['lookups'] >= 3 and TOKEN not in json.dumps(state),
	    state.get('counts') if isinstance(state, dict) else state)
	st, hdrs, page = call(base, 'GET', '/_emu/')
	R.check('/_emu/ is an HTML page of the messages, newest first',
	    st == 200 and hdrs.get('Content-Type', '').startswith('text/html')
	    and 0 < page.find('as a form') < page.find('Your agent is over'),
	    page[:300] if isinstance(page, str) else page)


def revocation(base):
	got = call(base, 'POST', '/_emu/revoke', {'token': TOKEN})
	R.check('POST /_emu/revoke', got[0] == 200 and got[2]['revoked'] is True
	    and TOKEN not in json.dumps(got[2]), got[2])
	R.check('a revoked token: 401 code 190', graph_error(call(base, 'GET',
	    '/v21.0/' + PHONE, token=TOKEN), 401, 190, BAD))


def faults(base):
	other = 'EAA' + 'b' * 20
	call(base, 'POST', '/_emu/faults', {'path': '/v21.0/', 'status': 429})
	got = call(base, 'GET', '/v21.0/' + PHONE, token=other)
	R.check('a 429 fault: HTTP 429, code 4, Retry-After: 1',
	    graph_error(got, 429, 4) and got[1].get('Retry-After') == '1', got[2])
	R.check('... once: the next request is answered',
	    call(base, 'GET', '/v21.0/' + PHONE, token=other)[0] == 200)
	call(base, 'POST', '/_emu/faults', [{'path': '/v21.0/1/', 'status': 500},
	    {'error': 'invalid_token', 'times': 2}])
	R.check('a fault for another path leaves this one alone; the next '
	    'matching fault applies', graph_error(call(base, 'GET', '/v21.0/' +
	    PHONE, token=other), 401, 190, BAD))
	R.check('faults are listed with what is left of them', [f['times'] for f
	    in call(base, 'GET', '/_emu/faults')[2]['faults']] == [1, 1])
	call(base, 'DELETE', '/_emu/faults')
	call(base, 'POST', '/_emu/faults', {'delay_ms': 300, 'times': 1})
	t0 = time.monotonic()
	got = call(base, 'GET', '/v21.0/' + PHONE, token=other)
	R.check('a delay-only fault delays, then answers normally',
	    got[0] == 200 and time.monotonic() - t0 >= 0.28)
	got = call(base, 'POST', '/_emu/faults', {'status': 200})
	R.check('a fault with a status outside 400-599 is refused',
	    got[0] == 400 and 'status' in got[2]['error'], got[2])


def restart(emu, state, log_path):
	emu.stop()
	emu = Emulator(state, log_path)
	R.check('after a restart the revoked token stays revoked', graph_error(
	    call(emu.base, 'GET', '/v21.0/' + PHONE, token=TOKEN), 401, 190, BAD))
	st, _, msgs = call(emu.base, 'GET', '/_emu/messages')
	R.check('... and the messages are still there', st == 200 and
	    len(msgs) >= 3, msgs)
	got = call(emu.base, 'POST', '/_emu/reset')
	st, _, state_now = call(emu.base, 'GET', '/_emu/state')
	R.check('POST /_emu/reset forgets messages and revocations',
	    got[0] == 200 and state_now['counts'] == {'messages': 0,
	    'lookups': 0, 'revoked': 0}, state_now)
	return emu


def main():
	given = sys.argv[1].rstrip('/') if len(sys.argv) > 1 else None
	outdir = os.environ.get('TEST_OUTPUT_DIR') or os.path.join(
	    os.environ.get('top_builddir', os.getcwd()), 'tests')
	if not os.path.isdir(outdir):
		outdir = os.getcwd()
	log_path = os.path.join(outdir, 'meta-emu-check.emu.log')
	tmp = tempfile.mkdtemp(prefix='meta-emu-')
	state = os.path.join(tmp, 'meta-emu.json')
	emu = None
	t0 = time.monotonic()
	try:
		if given:
			base = given
		else:
			emu = Emulator(state, log_path)
			base = emu.base
		print('# meta emulator at %s%s' % (base, ' (given)' if given else
		    ' (log %s)' % log_path), flush=True)
		lookups(base)
		wamid = sends(base)
		recorded(base, wamid)
		revocation(base)
		if given:
			print('# a running emulator: no faults, restart, reset or log '
			    'checks')
		else:
			faults(base)
			emu = restart(emu, state, log_path)
			with open(log_path) as f:
				log = f.read()
			R.check('the log has one line per request and never the token',
			    'GET /v21.0/%s 200' % PHONE in log and TOKEN not in log)
	except Exception:
		R.check('the run went to the end', False, traceback.format_exc())
	finally:
		if emu:
			emu.stop()
		shutil.rmtree(tmp, ignore_errors=True)
	print('# %.1f s' % (time.monotonic() - t0))
	print('meta emulator: %d passed, %d failed' % (R.n - R.failed, R.failed))
	return 1 if R.failed else 0


if __name__ == '__main__':
	sys.exit(main())
