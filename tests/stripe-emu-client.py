#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/stripe-emu-client.py: the Stripe emulator (tests/stripe-emu.py)
# driven by Stripe's own Python library (Debian's python3-stripe 5.0.0),
# so that the emulator speaks what a real Stripe client speaks: the form
# encoding, the error shapes the library maps to its exceptions, its
# retries with one Idempotency-Key, and webhook signatures its
# Webhook.construct_event accepts.
#
#   tests/stripe-emu-client.py        (make check runs it; no arguments)
#
# Starts the emulator on a free loopback port and a small webhook receiver
# beside it, and stops both at the end.  Prints "ok N - what" or "not ok
# N - what" per check, then "stripe emulator: N passed, N failed"; exits
# 1 if anything failed.  python3-stripe is installed when missing (as
# root) rather than the test being skipped.  The emulator's log is kept
# in $TEST_OUTPUT_DIR (or the build's tests/ directory) as
# stripe-emu-client.emu.log.
import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EMU = os.path.join(os.environ.get('top_srcdir', os.path.dirname(HERE)),
    'tests', 'stripe-emu.py')
SECRETS = ['whsec_' + secrets.token_hex(16), 'whsec_' + secrets.token_hex(16)]
API_KEY = 'sk_test_' + secrets.token_hex(12)
# Loopback only: a proxy from the environment must not see these requests.
os.environ['NO_PROXY'] = os.environ['no_proxy'] = '127.0.0.1,localhost'


def need_stripe():
	"""Import stripe, installing Debian's python3-stripe if it is missing."""
	try:
		import stripe	# noqa: F401
		return
	except ImportError:
		pass
	if os.geteuid() != 0:
		sys.exit('stripe-emu-client: python3-stripe is missing; install it '
		    'as root (sudo ./dev deps)')
	print('# installing python3-stripe', flush=True)
	subprocess.run(['apt-get', '-q', '-o', 'DPkg::Lock::Timeout=300',
	    'install', '-y', '--no-install-recommends', 'python3-stripe'],
	    check=True, stdout=sys.stderr,
	    env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))


need_stripe()
import stripe	# noqa: E402
from stripe.api_requestor import APIRequestor	# noqa: E402


# --- reporting ----------------------------------------------------------------

class Report:
	def __init__(self):
		self.n = 0
		self.failed = 0

	def check(self, what, cond, detail=''):
		self.n += 1
		if cond:
			print('ok %d - %s' % (self.n, what), flush=True)
		else:
			self.failed += 1
			print('not ok %d - %s' % (self.n, what), flush=True)
			if detail:
				for line in str(detail).splitlines()[:20]:
					print('#   %s' % line, flush=True)
		return cond

	def equal(self, what, got, want):
		return self.check(what, got == want, 'got  %r\nwant %r' % (got, want))

	def raises(self, what, exc_type, fn, check=None):
		try:
			fn()
		except exc_type as e:
			if check is not None and not check(e):
				return self.check(what, False, 'raised %r but %s' % (e,
				    'the check on it failed'))
			return self.check(what, True)
		except Exception as e:
			return self.check(what, False, 'raised %s: %s' % (
			    type(e).__name__, e))
		return self.check(what, False, 'nothing was raised')


R = Report()


# --- the webhook receiver -----------------------------------------------------

class Receiver(http.server.ThreadingHTTPServer):
	daemon_threads = True
	allow_reuse_address = True

	def __init__(self):
		super().__init__(('127.0.0.1', 0), ReceiverHandler)
		self.got = []		# (headers dict, raw body bytes)
		self.fail_next = 0	# answer that many deliveries with 500
		self.lock = threading.Lock()
		threading.Thread(target=self.serve_forever, daemon=True).start()

	def url(self):
		return 'http://127.0.0.1:%d/webhook' % self.server_address[1]

	def events(self, since=0):
		with self.lock:
			return [(h, b, json.loads(b)) for h, b in self.got[since:]]

	def count(self):
		with self.lock:
			return len(self.got)


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
	protocol_version = 'HTTP/1.1'

	def log_message(self, fmt, *args):
		pass

	def do_POST(self):
		n = int(self.headers.get('Content-Length') or 0)
		body = self.rfile.read(n)
		with self.server.lock:
			fail = self.server.fail_next > 0
			if fail:
				self.server.fail_next -= 1
			else:
				self.server.got.append((dict(self.headers.items()), body))
		out = b'{"received": true}'
		self.send_response(500 if fail else 200)
		self.send_header('Content-Type', 'application/json')
		self.send_header('Content-Length', str(len(out)))
		self.end_headers()
		self.wfile.write(out)


# --- plain HTTP to the emulator -----------------------------------------------

class NoRedirect(urllib.request.HTTPRedirectHandler):
	def redirect_request(self, req, fp, code, msg, headers, newurl):
		return None


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}),
    NoRedirect())


def http(method, url, data=None, headers=None, ctype=None):
	"""(status, headers, body bytes); no redirects followed."""
	body = None
	hdrs = dict(headers or {})
	if isinstance(data, dict):
		body = urllib.parse.urlencode(data).encode()
		hdrs.setdefault('Content-Type', ctype or
		    'application/x-www-form-urlencoded')
	elif isinstance(data, (bytes, str)):
		body = data.encode() if isinstance(data, str) else data
		if ctype:
			hdrs['Content-Type'] = ctype
	req = urllib.request.Request(url, data=body, method=method, headers=hdrs)
	try:
		with OPENER.open(req, timeout=90) as r:
			return r.status, r.headers, r.read()
	except urllib.error.HTTPError as e:
		with e:
			return e.code, e.headers, e.read()


class Emu:
	def __init__(self, receiver, log_path):
		self.log = open(log_path, 'ab')
		self.proc = subprocess.Popen(['/usr/bin/python3', EMU, '--port', '0',
		    '--webhook-url', receiver.url(),
		    '--webhook-secret', ','.join(SECRETS)],
		    stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
		line = self.proc.stdout.readline().strip()
		if not line.isdigit():
			raise RuntimeError('the emulator did not print its port '
			    '(see %s)' % log_path)
		self.port = int(line)
		self.base = 'http://127.0.0.1:%d' % self.port

	def ctl(self, name, body=None, method=None):
		method = method or ('GET' if body is None else 'POST')
		data = json.dumps(body).encode() if body is not None else None
		st, _, out = http(method, self.base + '/_emu/' + name, data,
		    ctype='application/json')
		if st != 200:
			raise RuntimeError('/_emu/%s: %d %s' % (name, st, out[:300]))
		return json.loads(out)

	def drain(self):
		"""API calls deliver their webhooks after answering: wait."""
		return self.ctl('drain', {})

	def api(self, method, path, params=None):
		"""The library's own request layer, for what 5.0.0 lacks."""
		resp, _ = APIRequestor().request(method, path, params or {})
		return resp.data

	def stop(self):
		if self.proc.poll() is None:
			self.proc.terminate()
			try:
				self.proc.wait(10)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
		self.log.close()


def settled(emu, recv):
	"""The receiver's count once earlier deliveries are done."""
	emu.drain()
	return recv.count()


def floor_minute(t):
	return t - t % 60


# --- the checks ---------------------------------------------------------------

def catalogue(emu):
	"""Products, prices (licensed and metered tiers) and a meter."""
	c = {}
	team = stripe.Product.create(name='Tollgate Team')
	R.check('Product.create gives a prod_ id', team.id.startswith('prod_'))
	c['product'] = team
	base = stripe.Price.create(product=team.id, currency='usd',
	    unit_amount=2900, recurring={'interval': 'month'},
	    lookup_key='tollgate_team_base', metadata={'plan': 'team'})
	R.check('Price.create (licensed) gives a price_ id with its lookup_key',
	    base.id.startswith('price_') and base.lookup_key ==
	    'tollgate_team_base' and base.recurring.usage_type == 'licensed')
	c['team_base'] = base
	meter = emu.api('post', '/v1/billing/meters', {
	    'display_name': 'API calls', 'event_name': 'tollgate_api_calls',
	    'default_aggregation': {'formula': 'sum'},
	    'customer_mapping': {'event_payload_key': 'stripe_customer_id',
	        'type': 'by_id'},
	    'value_settings': {'event_payload_key': 'value'}})
	R.check('POST /v1/billing/meters (APIRequestor) gives a billing.meter',
	    meter['id'].startswith('mtr_') and meter['object'] ==
	    'billing.meter' and meter['status'] == 'active')
	c['meter'] = meter
	R.raises('a second active meter with that event_name is refused',
	    stripe.error.InvalidRequestError, lambda: emu.api('post',
	    '/v1/billing/meters', {'display_name': 'x',
	    'event_name': 'tollgate_api_calls',
	    'default_aggregation': {'formula': 'sum'}}),
	    lambda e: e.param == 'event_name')
	tiers = [{'up_to': 1000, 'unit_amount': 0},
	    {'up_to': 'inf', 'unit_amount_decimal': '0.5'}]
	metered = stripe.Price.create(product=team.id, currency='usd',
	    billing_scheme='tiered', tiers_mode='graduated', tiers=tiers,
	    recurring={'interval': 'month', 'usage_type': 'metered',
	        'meter': meter['id']},
	    lookup_key='tollgate_team_api_calls')
	R.check('Price.create (metered, graduated tiers) keeps the tiers',
	    metered.billing_scheme == 'tiered' and
	    metered.recurring.meter == meter['id'] and
	    [t.up_to for t in metered.tiers] == [1000, None] and
	    metered.tiers[1].unit_amount_decimal == '0.5' and
	    metered.tiers[1].unit_amount is None, metered)
	c['team_calls'] = metered
	R.raises('a metered price without a meter is refused',
	    stripe.error.InvalidRequestError, lambda: stripe.Price.create(
	    product=team.id, currency='usd', unit_amount=1,
	    recurring={'interval': 'month', 'usage_type': 'metered'}),
	    lambda e: e.param == 'recurring[meter]')
	pro = stripe.Product.create(name='Tollgate Pro')
	c['pro_base'] = stripe.Price.create(product=pro.id, currency='usd',
	    unit_amount=9900, recurring={'interval': 'month'},
	    lookup_key='tollgate_pro_base')
	c['pro_calls'] = stripe.Price.create(product=pro.id, currency='usd',
	    billing_scheme='tiered', tiers_mode='graduated', tiers=[
	    {'up_to': 10000, 'unit_amount': 0},
	    {'up_to': 'inf', 'unit_amount_decimal': '0.25'}],
	    recurring={'interval': 'month', 'usage_type': 'metered',
	        'meter': meter['id']},
	    lookup_key='tollgate_pro_api_calls')
	# Lookup keys: unique, moved only with transfer_lookup_key.
	R.raises('a lookup_key already in use is refused',
	    stripe.error.InvalidRequestError, lambda: stripe.Price.create(
	    product=team.id, currency='usd', unit_amount=3100,
	    recurring={'interval': 'month'}, lookup_key='tollgate_team_base'),
	    lambda e: e.param == 'lookup_key')
	moved = stripe.Price.create(product=team.id, currency='usd',
	    unit_amount=2900, recurring={'interval': 'month'},
	    lookup_key='tollgate_team_base', transfer_lookup_key=True)
	old = stripe.Price.retrieve(base.id)
	R.check('transfer_lookup_key=True (sent as "True") moves the key',
	    moved.lookup_key == 'tollgate_team_base' and old.lookup_key is None)
	c['team_base'] = moved
	found = stripe.Price.list(lookup_keys=['tollgate_team_base',
	    'tollgate_team_api_calls'], expand=['data.tiers'])
	R.equal('Price.list(lookup_keys=[...]) finds both prices',
	    sorted(p.id for p in found.data), sorted([moved.id, metered.id]))
	st, _, out = http('GET', emu.base + '/v1/prices?lookup_keys[]='
	    'tollgate_pro_base', headers={'Authorization': 'Bearer ' + API_KEY})
	R.check('lookup_keys[]=x (unindexed array) is accepted too',
	    st == 200 and [p['id'] for p in json.loads(out)['data']] ==
	    [c['pro_base'].id], out[:300])
	return c


def auth_and_errors(emu):
	R.raises('a live key is refused with AuthenticationError',
	    stripe.error.AuthenticationError, lambda: stripe.Customer.list(
	    api_key='sk_live_' + 'x' * 24))
	st, hdrs, out = http('GET', emu.base + '/v1/customers')
	err = json.loads(out).get('error', {})
	R.check('no key: 401 in Stripe\'s error shape with a Request-Id',
	    st == 401 and err.get('type') == 'invalid_request_error' and
	    err.get('message') and hdrs.get('Request-Id', '').startswith('req_'),
	    out[:300])
	import base64
	basic = base64.b64encode((API_KEY + ':').encode()).decode()
	st, _, _ = http('GET', emu.base + '/v1/customers',
	    headers={'Authorization': 'Basic ' + basic})
	R.equal('Basic auth with the key as user name is accepted', st, 200)
	R.raises('an unknown customer is 404 InvalidRequestError',
	    stripe.error.InvalidRequestError,
	    lambda: stripe.Customer.retrieve('cus_nope'),
	    lambda e: e.http_status == 404 and e.code == 'resource_missing')
	R.raises('an unknown parameter is refused',
	    stripe.error.InvalidRequestError,
	    lambda: stripe.Customer.create(emali='typo@example.com'),
	    lambda e: e.param == 'emali')


def checkout_flow(emu, recv, c):
	cus = stripe.Customer.create(email='owner@example.com', name='Acme',
	    metadata={'tenant_id': 't-1'})
	R.check('Customer.create gives a cus_ id with email and metadata',
	    cus.id.startswith('cus_') and cus.email == 'owner@example.com' and
	    cus.metadata['tenant_id'] == 't-1' and cus.livemode is False)
	R.check('every answer has a Request-Id (last_response.request_id)',
	    (cus.last_response.request_id or '').startswith('req_'))
	found = stripe.Customer.list(email='owner@example.com')
	R.equal('Customer.list(email=...) finds it', [x.id for x in found.data],
	    [cus.id])
	R.raises('quantity on a metered line item is refused',
	    stripe.error.InvalidRequestError,
	    lambda: stripe.checkout.Session.create(mode='subscription',
	    customer=cus.id, line_items=[{'price': c['team_base'].id,
	    'quantity': 1}, {'price': c['team_calls'].id, 'quantity': 1}],
	    success_url='http://127.0.0.1:9/ok'),
	    lambda e: e.param == 'line_items[1][quantity]')
	R.raises('an unknown price is refused with its param',
	    stripe.error.InvalidRequestError,
	    lambda: stripe.checkout.Session.create(mode='subscription',
	    customer=cus.id, line_items=[{'price': 'price_nope',
	    'quantity': 1}], success_url='http://127.0.0.1:9/ok'),
	    lambda e: e.param == 'line_items[0][price]')
	s = stripe.checkout.Session.create(mode='subscription', customer=cus.id,
	    line_items=[{'price': c['team_base'].id, 'quantity': 3},
	    {'price': c['team_calls'].id}], client_reference_id='t-1',
	    metadata={'tenant_id': 't-1', 'plan': 'team'},
	    subscription_data={'trial_period_days': 14,
	        'metadata': {'tenant_id': 't-1'}},
	    success_url='http://127.0.0.1:9/billing?session={CHECKOUT_SESSION_ID}',
	    cancel_url='http://127.0.0.1:9/billing?canceled=1')
	R.check('checkout.Session.create gives an open cs_ session with a '
	    'hosted URL', s.id.startswith('cs_') and s.status == 'open' and
	    s.url == '%s/c/pay/%s' % (emu.base, s.id) and s.mode ==
	    'subscription' and s.amount_total == 0, s)
	st, hdrs, page = http('GET', s.url)
	text = page.decode()
	R.check('the hosted page lists the items with Pay and Cancel forms',
	    st == 200 and 'Tollgate Team' in text and 'width=device-width' in
	    text and '/c/pay/%s/pay' % s.id in text and
	    '/c/pay/%s/cancel' % s.id in text, text[:500])
	st, hdrs, _ = http('POST', s.url + '/cancel', {})
	R.check('Cancel redirects (303) to cancel_url',
	    st == 303 and hdrs['Location'] ==
	    'http://127.0.0.1:9/billing?canceled=1')
	mark = settled(emu, recv)
	st, hdrs, _ = http('POST', s.url + '/pay', {})
	R.check('Pay redirects (303) to success_url with the session id',
	    st == 303 and hdrs['Location'] ==
	    'http://127.0.0.1:9/billing?session=' + s.id, (st, dict(hdrs)))
	got = [e['type'] for _, _, e in recv.events(mark)]
	R.equal('the webhooks were delivered, in order, before the redirect',
	    got, ['checkout.session.completed', 'customer.subscription.created',
	    'invoice.created', 'invoice.finalized', 'invoice.paid'])
	completed = recv.events(mark)[0][2]['data']['object']
	s2 = stripe.checkout.Session.retrieve(s.id)
	R.check('the session is complete, with customer and subscription',
	    s2.status == 'complete' and s2.customer == cus.id and
	    s2.subscription and s2.subscription.startswith('sub_') and
	    completed['subscription'] == s2.subscription and
	    completed['client_reference_id'] == 't-1' and
	    completed['metadata']['plan'] == 'team')
	nsubs = emu.ctl('state')['counts']['subscriptions']
	st, _, again = http('POST', s.url + '/pay', {})
	R.check('paying a completed session again makes no subscription',
	    st == 200 and 'already paid' in again.decode() and
	    emu.ctl('state')['counts']['subscriptions'] == nsubs)
	sub = stripe.Subscription.retrieve(s2.subscription)
	now = emu.ctl('clock')['now']
	items = sub['items']['data']
	keys = [it.price.lookup_key for it in items]
	R.check('the subscription is trialing for 14 days',
	    sub.status == 'trialing' and abs(sub.trial_end - (now + 14 * 86400))
	    < 5 and sub.customer == cus.id and sub.metadata['tenant_id'] ==
	    't-1', sub)
	R.equal('its items carry full prices with lookup keys', keys,
	    ['tollgate_team_base', 'tollgate_team_api_calls'])
	R.check('licensed item has quantity 3, metered has none; periods on '
	    'items only', items[0].quantity == 3 and 'quantity' not in items[1]
	    and items[0].current_period_end == sub.trial_end and
	    'current_period_end' not in sub)
	invs = stripe.Invoice.list(customer=cus.id)
	inv = invs.data[0] if invs.data else None
	R.check('Invoice.list: the first invoice, paid, 0 during the trial',
	    len(invs.data) == 1 and inv.status == 'paid' and inv.amount_paid == 0
	    and inv.parent.subscription_details.subscription == sub.id and
	    inv.subscription == sub.id and inv.hosted_invoice_url, invs)
	st, _, ipage = http('GET', inv.hosted_invoice_url)
	R.check('the hosted invoice page answers', st == 200 and
	    inv.number in ipage.decode())
	return cus, sub


def metering(emu, cus, c):
	meter = c['meter']
	ev = emu.api('post', '/v1/billing/meter_events', {
	    'event_name': 'tollgate_api_calls', 'identifier': 'evt-calls-1',
	    'payload': {'stripe_customer_id': cus.id, 'value': '1500'}})
	R.check('POST /v1/billing/meter_events accepts an event',
	    ev['object'] == 'billing.meter_event' and
	    ev['identifier'] == 'evt-calls-1')
	R.raises('a repeated identifier is refused (resource_already_exists)',
	    stripe.error.InvalidRequestError, lambda: emu.api('post',
	    '/v1/billing/meter_events', {'event_name': 'tollgate_api_calls',
	    'identifier': 'evt-calls-1',
	    'payload': {'stripe_customer_id': cus.id, 'value': '7'}}),
	    lambda e: e.code == 'resource_already_exists' and
	    e.param == 'identifier' and 'evt-calls-1' in str(e))
	now = emu.ctl('clock')['now']
	R.raises('a timestamp 40 days back is refused',
	    stripe.error.InvalidRequestError, lambda: emu.api('post',
	    '/v1/billing/meter_events', {'event_name': 'tollgate_api_calls',
	    'timestamp': now - 40 * 86400,
	    'payload': {'stripe_customer_id': cus.id, 'value': '1'}}),
	    lambda e: e.param == 'timestamp')
	R.raises('a value that is not a whole number is refused',
	    stripe.error.InvalidRequestError, lambda: emu.api('post',
	    '/v1/billing/meter_events', {'event_name': 'tollgate_api_calls',
	    'payload': {'stripe_customer_id': cus.id, 'value': '1.5'}}),
	    lambda e: e.param == 'payload[value]')
	start = floor_minute(now) - 3600
	end = floor_minute(now) + 120
	summ = emu.api('get', '/v1/billing/meters/%s/event_summaries' %
	    meter['id'], {'customer': cus.id, 'start_time': start,
	    'end_time': end})
	R.equal('the duplicate counted once in event_summaries',
	    [d['aggregated_value'] for d in summ['data']], [1500])
	R.raises('event_summaries wants minute-aligned times',
	    stripe.error.InvalidRequestError, lambda: emu.api('get',
	    '/v1/billing/meters/%s/event_summaries' % meter['id'],
	    {'customer': cus.id, 'start_time': start + 1, 'end_time': end}),
	    lambda e: e.param == 'start_time')


def trial_and_renewal(emu, recv, cus, sub, c):
	up = stripe.Invoice.upcoming(customer=cus.id)
	R.equal('upcoming during the trial: 3 x $29, usage not billed',
	    (up.amount_due, [ln.amount for ln in up.lines.data]), (8700, [8700]))
	mark = settled(emu, recv)
	out = emu.ctl('advance', {'days': 14})
	types = [e['type'] for _, _, e in recv.events(mark)]
	R.equal('advancing 14 days: trial_will_end, then the trial ends paid',
	    types, ['customer.subscription.trial_will_end',
	    'customer.subscription.updated', 'invoice.created',
	    'invoice.finalized', 'invoice.paid'])
	R.check('the clock moved 14 days', out['offset'] >= 14 * 86400 - 5)
	upd = [e for _, _, e in recv.events(mark)
	    if e['type'] == 'customer.subscription.updated'][0]
	R.check('customer.subscription.updated has previous_attributes',
	    upd['data']['previous_attributes'].get('status') == 'trialing' and
	    upd['data']['object']['status'] == 'active')
	sub = stripe.Subscription.retrieve(sub.id)
	inv = stripe.Invoice.retrieve(sub.latest_invoice)
	R.check('after the trial: active, an invoice of $87 paid',
	    sub.status == 'active' and inv.status == 'paid' and
	    inv.amount_paid == 8700 and inv.billing_reason ==
	    'subscription_cycle' and inv.status_transitions.paid_at)
	emu.api('post', '/v1/billing/meter_events', {
	    'event_name': 'tollgate_api_calls', 'identifier': 'evt-calls-2',
	    'payload': {'stripe_customer_id': cus.id, 'value': '1501'}})
	prev = emu.api('post', '/v1/invoices/create_preview', {
	    'customer': cus.id, 'subscription': sub.id})
	metered = [ln for ln in prev['lines']['data']
	    if ln['price']['lookup_key'] == 'tollgate_team_api_calls']
	# (1501 - 1000) x 0.5 cents = 250.5 -> 251 (half up)
	R.check('create_preview: graduated tiers on the period\'s usage, '
	    'rounded half up', len(metered) == 1 and metered[0]['amount'] == 251
	    and metered[0]['quantity'] == 1501 and prev['amount_due'] == 8951,
	    json.dumps([(ln['description'], ln['amount'])
	    for ln in prev['lines']['data']]))
	# A quantity change mid-period prorates.
	base_item = sub['items']['data'][0]
	mark = settled(emu, recv)
	sub = stripe.Subscription.modify(sub.id, items=[{'id': base_item.id,
	    'quantity': 5}], proration_behavior='create_prorations')
	emu.drain()
	R.equal('Subscription.modify changes the quantity',
	    sub['items']['data'][0].quantity, 5)
	evs = [e for _, _, e in recv.events(mark)]
	R.check('customer.subscription.updated with the old items',
	    [e['type'] for e in evs] == ['customer.subscription.updated'] and
	    evs[0]['data']['previous_attributes']['items']['data'][0]
	    ['quantity'] == 3, [e['type'] for e in evs])
	up = stripe.Invoice.upcoming(customer=cus.id, subscription=sub.id)
	pr = [ln for ln in up.lines.data if ln.proration]
	period = sub['items']['data'][0]
	share = (period.current_period_end - emu.ctl('clock')['now']) / \
	    (period.current_period_end - period.current_period_start)
	R.check('the next invoice has a proration of 2 x $29 x the rest of '
	    'the period', len(pr) == 1 and abs(pr[0].amount - 5800 * share) <= 2,
	    (pr, share))
	# Renewal at the period end: licensed + metered + proration.
	mark = settled(emu, recv)
	emu.ctl('advance', {'seconds': period.current_period_end -
	    emu.ctl('clock')['now'] + 60})
	types = [e['type'] for _, _, e in recv.events(mark)]
	R.equal('the period end renews: invoice paid, then the new period',
	    types, ['invoice.created', 'invoice.finalized', 'invoice.paid',
	    'customer.subscription.updated'])
	inv = recv.events(mark)[2][2]['data']['object']
	amounts = sorted(ln['amount'] for ln in inv['lines']['data'])
	R.check('the renewal invoice bills 5 seats, the usage and the '
	    'proration', inv['status'] == 'paid' and 14500 in amounts and
	    251 in amounts and len(amounts) == 3 and inv['amount_paid'] ==
	    sum(amounts), amounts)
	sub = stripe.Subscription.retrieve(sub.id)
	it = sub['items']['data'][0]
	R.check('the new period starts where the old one ended',
	    it.current_period_start == period.current_period_end and
	    it.current_period_end > it.current_period_start)
	return sub


def portal(emu, recv, cus, sub):
	ps = stripe.billing_portal.Session.create(customer=cus.id,
	    return_url='http://127.0.0.1:9/billing')
	R.check('billing_portal.Session.create gives a bps_ URL',
	    ps.id.startswith('bps_') and ps.url == '%s/p/session/%s' % (
	    emu.base, ps.id) and ps.object == 'billing_portal.session')
	st, _, page = http('GET', ps.url)
	text = page.decode()
	R.check('the portal shows the plan, a switch to Pro and Return',
	    st == 200 and 'Team' in text and 'Switch to Pro' in text and
	    'http://127.0.0.1:9/billing' in text, text[:400])
	mark = settled(emu, recv)
	st, hdrs, _ = http('POST', ps.url + '/switch', {'subscription': sub.id,
	    'plan': 'pro'})
	sub2 = stripe.Subscription.retrieve(sub.id)
	R.check('Switch to Pro replaces the base and the metered prices',
	    st == 303 and [i.price.lookup_key for i in sub2['items']['data']] ==
	    ['tollgate_pro_base', 'tollgate_pro_api_calls'] and
	    sub2['items']['data'][0].quantity == 5,
	    [i.price.lookup_key for i in sub2['items']['data']])
	evs = [e for _, _, e in recv.events(mark)]
	R.check('the switch sent customer.subscription.updated',
	    [e['type'] for e in evs] == ['customer.subscription.updated'] and
	    'items' in evs[0]['data']['previous_attributes'])
	mark = settled(emu, recv)
	http('POST', ps.url + '/cancel_at_period_end', {'subscription': sub.id})
	evs = [e for _, _, e in recv.events(mark)]
	R.check('Cancel at period end: updated with cancel_at_period_end',
	    len(evs) == 1 and evs[0]['data']['object']['cancel_at_period_end']
	    is True and evs[0]['data']['previous_attributes']
	    ['cancel_at_period_end'] is False)
	http('POST', ps.url + '/renew', {'subscription': sub.id})
	R.check('Renew undoes it', stripe.Subscription.retrieve(sub.id)
	    .cancel_at_period_end is False)


def payment_failure(emu, recv, sub):
	mark = settled(emu, recv)
	out = emu.ctl('fail_payment', {'subscription': sub.id})
	types = [e['type'] for _, _, e in recv.events(mark)]
	R.check('fail_payment: invoice.payment_failed and past_due',
	    'invoice.payment_failed' in types and types[-1] ==
	    'customer.subscription.updated' and
	    stripe.Subscription.retrieve(sub.id).status == 'past_due', types)
	mark = settled(emu, recv)
	emu.ctl('pay_invoice', {'invoice': out['invoice']})
	types = [e['type'] for _, _, e in recv.events(mark)]
	R.check('pay_invoice: invoice.paid and active again', types ==
	    ['invoice.paid', 'customer.subscription.updated'] and
	    stripe.Subscription.retrieve(sub.id).status == 'active', types)


def signatures(emu, recv):
	emu.drain()
	evs = recv.events()
	bad = []
	for hdrs, body, _ in evs:
		sig = hdrs.get('Stripe-Signature', '')
		try:
			for sec in SECRETS:
				stripe.Webhook.construct_event(body, sig, sec)
		except Exception as e:
			bad.append('%s: %s' % (sig[:40], e))
		if hdrs.get('User-Agent') != \
		    'Stripe/1.0 (+https://stripe.com/docs/webhooks)' or \
		    hdrs.get('Content-Type') != 'application/json; charset=utf-8' \
		    or ',v0=' not in sig or sig.count('v1=') != 2:
			bad.append('headers: %r' % hdrs)
	R.check('all %d webhooks verify with construct_event, for both '
	    'secrets' % len(evs), evs and not bad, '\n'.join(bad[:5]))
	if evs:
		hdrs, body, _ = evs[0]
		R.raises('a wrong secret does not verify',
		    stripe.error.SignatureVerificationError,
		    lambda: stripe.Webhook.construct_event(body,
		    hdrs['Stripe-Signature'], 'whsec_wrong'))


def events_api(recv):
	evs = recv.events()
	paid = stripe.Event.list(type='invoice.paid', limit=100)
	R.check('Event.list(type=...) filters, newest first',
	    paid.data and all(e.type == 'invoice.paid' for e in paid.data) and
	    paid.data[0].created >= paid.data[-1].created)
	hdrs, body, first = evs[0]
	e = stripe.Event.retrieve(first['id'])
	R.check('Event.retrieve gives the delivered event',
	    e.id == first['id'] and e.type == first['type'] and
	    e.api_version == '2026-07-29.dahlia' and
	    e['request']['id'] is not None)
	page1 = stripe.Event.list(limit=2)
	page2 = stripe.Event.list(limit=2, starting_after=page1.data[-1].id)
	R.check('lists page with limit and starting_after', page1.has_more and
	    len(page1.data) == 2 and page2.data[0].id not in
	    [x.id for x in page1.data])


def idempotency(emu, recv):
	before = emu.ctl('state')['counts']['customers']
	stripe.max_network_retries = 5
	emu.ctl('faults', {'error_rate': 0.5, 'status': 500,
	    'after_execute': True, 'paths': ['/v1/customers'], 'seed': 1})
	try:
		cus = stripe.Customer.create(email='retry@example.com',
		    idempotency_key='idem-lost-response')
	finally:
		emu.ctl('faults', {'error_rate': 0})
	state = emu.ctl('state')
	reqs = [r for r in state['requests'] if r['path'] == '/v1/customers'
	    and r['idempotency_key'] == 'idem-lost-response']
	R.equal('lost responses (500 after execute) retried: one customer',
	    state['counts']['customers'], before + 1)
	R.check('the retries carried the same Idempotency-Key and the last '
	    'was a replay', len(reqs) >= 2 and any(r['fault'] for r in reqs)
	    and reqs[-1]['replayed'] and reqs[-1]['status'] == 200 and
	    cus.id.startswith('cus_'), reqs)
	stripe.Customer.create(email='a@example.com', idempotency_key='idem-2')
	again = stripe.Customer.create(email='a@example.com',
	    idempotency_key='idem-2')
	R.check('a same-key retry replays (Idempotent-Replayed: true)',
	    again.last_response.headers.get('Idempotent-Replayed') == 'true')
	R.raises('same key, other parameters: IdempotencyError',
	    stripe.error.IdempotencyError, lambda: stripe.Customer.create(
	    email='b@example.com', idempotency_key='idem-2'))
	# A request still running holds its key: a second one gets 409.
	emu.ctl('faults', {'error_rate': 1, 'status': 0, 'delay_ms': 1500,
	    'paths': ['/v1/customers']})
	first = {}

	def slow():
		first['resp'] = http('POST', emu.base + '/v1/customers',
		    {'email': 'slow@example.com'}, {'Authorization': 'Bearer ' +
		    API_KEY, 'Idempotency-Key': 'idem-inflight'})
	t = threading.Thread(target=slow)
	t.start()
	time.sleep(0.5)
	emu.ctl('faults', {'error_rate': 0})
	st, _, out = http('POST', emu.base + '/v1/customers',
	    {'email': 'slow@example.com'}, {'Authorization': 'Bearer ' +
	    API_KEY, 'Idempotency-Key': 'idem-inflight'})
	err = json.loads(out).get('error', {})
	R.check('same key while the first request runs: 409 '
	    'idempotency_error', st == 409 and err.get('type') ==
	    'idempotency_error', out[:300])
	# The library retries a 409 and then gets the stored answer.
	cus2 = stripe.Customer.create(email='slow@example.com',
	    idempotency_key='idem-inflight')
	t.join()
	R.check('the library retries the 409 and gets the first answer',
	    first['resp'][0] == 200 and json.loads(first['resp'][2])['id'] ==
	    cus2.id)
	emu.ctl('faults', {'error_rate': 1, 'status': 429, 'paths':
	    ['/v1/products']})
	try:
		R.raises('a 429 fault is a RateLimitError',
		    stripe.error.RateLimitError, lambda: stripe.Product.list())
	finally:
		emu.ctl('faults', {'error_rate': 0})
	stripe.max_network_retries = 0


def delivery_control(emu, recv, c):
	emu.ctl('hold', {'on': True})
	mark = settled(emu, recv)
	a = stripe.Customer.create(email='first@example.com')
	b = stripe.Customer.create(email='second@example.com')
	time.sleep(0.3)
	R.equal('while held, nothing is delivered', recv.count(), mark)
	emu.ctl('hold', {'on': False})
	out = emu.ctl('flush', {'order': 'reverse'})
	got = [e['data']['object']['id'] for _, _, e in recv.events(mark)]
	R.check('flush reverse delivers the held events newest first',
	    got == [b.id, a.id] and len(out['delivered']) == 2, got)
	hdrs, body, evt = recv.events(mark)[0]
	mark = settled(emu, recv)
	recv.fail_next = 2
	out = emu.ctl('resend', {'event': evt['id']})
	hdrs2, body2, _ = recv.events(mark)[0]
	R.check('resend: same id and body after two failed attempts (retried)',
	    body2 == body and out['delivery']['attempt'] == 3 and
	    out['delivery']['ok'], out)
	tries = emu.ctl('deliveries?event=' + evt['id'])['data']
	R.check('/_emu/deliveries records every attempt', [t['status']
	    for t in tries][-3:] == [500, 500, 200], tries)


def long_run(emu, recv, c):
	"""No trial: three renewals in one advance, then an end at period end."""
	s = stripe.checkout.Session.create(mode='subscription',
	    customer_email='monthly@example.com',
	    line_items=[{'price': c['team_base'].id, 'quantity': 1}],
	    success_url='http://127.0.0.1:9/ok')
	st, _, _ = http('POST', s.url + '/pay', {})
	s = stripe.checkout.Session.retrieve(s.id)
	sub = stripe.Subscription.retrieve(s.subscription)
	cus = stripe.Customer.retrieve(s.customer)
	R.check('Pay without a customer creates one from customer_email; no '
	    'trial: active, $29 paid', st == 303 and cus.email ==
	    'monthly@example.com' and sub.status == 'active' and
	    stripe.Invoice.retrieve(sub.latest_invoice).amount_paid == 2900)
	mark = settled(emu, recv)
	emu.ctl('advance', {'days': 95})
	paid = [e for _, _, e in recv.events(mark) if e['type'] ==
	    'invoice.paid' and e['data']['object']['customer'] == cus.id]
	R.check('advancing 95 days renews three times',
	    [e['data']['object']['amount_paid'] for e in paid] == [2900] * 3,
	    [e['data']['object']['amount_paid'] for e in paid])
	stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
	mark = settled(emu, recv)
	emu.ctl('advance', {'days': 32})
	types = [e['type'] for _, _, e in recv.events(mark)
	    if e['data']['object'].get('customer') == cus.id]
	sub = stripe.Subscription.retrieve(sub.id)
	R.check('cancel_at_period_end: deleted at the period end, no renewal',
	    sub.status == 'canceled' and types ==
	    ['customer.subscription.deleted'], types)


def persistence():
	"""--state: a restarted emulator still knows its objects."""
	import tempfile
	with tempfile.TemporaryDirectory() as d:
		state = os.path.join(d, 'state.json')
		procs = []
		try:
			ids = []
			for _ in range(2):
				p = subprocess.Popen(['/usr/bin/python3', EMU, '--port',
				    '0', '--state', state], stdout=subprocess.PIPE,
				    stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
				procs.append(p)
				port = int(p.stdout.readline())
				base = 'http://127.0.0.1:%d' % port
				auth = {'Authorization': 'Bearer ' + API_KEY}
				if not ids:
					st, _, out = http('POST', base + '/v1/customers',
					    {'email': 'kept@example.com'}, auth)
					ids.append(json.loads(out)['id'])
				else:
					st, _, out = http('GET', base + '/v1/customers/' +
					    ids[0], headers=auth)
					ids.append(json.loads(out).get('email'))
				p.terminate()
				p.wait(10)
			R.check('--state keeps the data across a restart',
			    ids[1] == 'kept@example.com', ids)
		finally:
			for p in procs:
				if p.poll() is None:
					p.kill()
					p.wait()


def cancel_and_reset(emu, recv, sub):
	mark = settled(emu, recv)
	gone = stripe.Subscription.cancel(sub.id)
	emu.drain()
	types = [e['type'] for _, _, e in recv.events(mark)]
	R.check('DELETE /v1/subscriptions/ID cancels at once',
	    gone.status == 'canceled' and gone.canceled_at and types ==
	    ['customer.subscription.deleted'], types)
	lst = stripe.Subscription.list(customer=gone.customer)
	R.check('canceled subscriptions are not listed by default',
	    lst.data == [] and len(stripe.Subscription.list(
	    customer=gone.customer, status='all').data) == 1)
	emu.ctl('reset', {})
	st = emu.ctl('state')
	R.check('/_emu/reset forgets everything', all(v == 0 for k, v in
	    st['counts'].items()) and st['clock']['offset'] == 0, st['counts'])


def main():
	outdir = os.environ.get('TEST_OUTPUT_DIR') or os.path.join(
	    os.environ.get('top_builddir') or os.getcwd(), 'tests')
	if not os.path.isdir(outdir):
		outdir = os.getcwd()
	log_path = os.path.join(outdir, 'stripe-emu-client.emu.log')
	recv = Receiver()
	emu = Emu(recv, log_path)
	print('# emulator on %s (log %s), receiver on %s' % (emu.base, log_path,
	    recv.url()), flush=True)
	stripe.api_key = API_KEY
	stripe.api_base = emu.base
	stripe.max_network_retries = 0
	stripe.enable_telemetry = False
	try:
		auth_and_errors(emu)
		c = catalogue(emu)
		cus, sub = checkout_flow(emu, recv, c)
		metering(emu, cus, c)
		sub = trial_and_renewal(emu, recv, cus, sub, c)
		portal(emu, recv, cus, sub)
		payment_failure(emu, recv, sub)
		signatures(emu, recv)
		events_api(recv)
		idempotency(emu, recv)
		delivery_control(emu, recv, c)
		long_run(emu, recv, c)
		cancel_and_reset(emu, recv, sub)
		persistence()
	except Exception:
		R.check('the run went to the end', False, traceback.format_exc())
	finally:
		emu.stop()
		recv.shutdown()
	if R.failed:
		try:
			with open(log_path, errors='replace') as f:
				tail = f.readlines()[-30:]
			print('# last lines of the emulator log:')
			for line in tail:
				print('#   ' + line.rstrip())
		except OSError:
			pass
	print('stripe emulator: %d passed, %d failed' % (R.n - R.failed,
	    R.failed), flush=True)
	return 1 if R.failed else 0


if __name__ == '__main__':
	sys.exit(main())
