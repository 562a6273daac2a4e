#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/stripe-emu.py: the Stripe emulator of SPEC 15.  Enough of the
# Stripe API (v1, objects shaped as in API version 2026-07-29.dahlia) for
# Tollgate's billing client, the test suite and the demo stack, on
# loopback, never the network.  Python 3 standard library only.
#
#   tests/stripe-emu.py --port PORT --webhook-url URL
#       --webhook-secret whsec_x[,whsec_y] [--pidfile FILE] [--state FILE]
#
# Without --webhook-secret the secret comes from the environment's
# STRIPE_WEBHOOK_SECRET (tests/stack.sh does that: argv is public in ps).
# PORT 0 takes a free port and prints it on stdout.  The pid file is
# written once the port listens and removed at exit.  --state keeps the
# data (not the idempotency cache, the delivery log or the fault
# settings) in a JSON file, rewritten after every change and read at
# start, so a restarted development stack still knows its customers.  One
# line per request and per webhook delivery goes to stderr; neither the
# API key nor the webhook secret is ever logged.  SIGTERM and SIGINT stop
# it cleanly.
#
# ---- API (JSON answers, errors as {"error": {type, code, message, param}})
#
# Authentication: any key starting with sk_test_ or rk_test_, as
# "Authorization: Bearer KEY" or as Basic auth with the key as user name.
# Missing or other keys: 401 invalid_request_error.  Bodies of POSTs are
# application/x-www-form-urlencoded with Stripe's nested keys (a[b]=c,
# a[0][b]=c, a[]=x); GET and DELETE take the same encoding in the query
# string.  Booleans are true/false in any case (python-stripe 5 sends
# True/False).  Unknown top-level parameters are refused (400
# parameter_unknown) as Stripe does, so a typo in the client shows up.
# Every answer has a Request-Id and a Stripe-Version header (the version
# asked for, else 2026-07-29.dahlia); the object shapes do not change with
# the version asked for.
#
#   POST   /v1/customers                  GET /v1/customers (email)
#   GET    /v1/customers/ID  POST /v1/customers/ID  DELETE /v1/customers/ID
#   POST   /v1/products    GET /v1/products (active)   GET|POST /v1/products/ID
#   POST   /v1/prices      GET /v1/prices (lookup_keys[], product, active,
#          type)           GET|POST /v1/prices/ID
#   POST   /v1/billing/meters     GET /v1/billing/meters (status)
#   GET|POST /v1/billing/meters/ID   POST .../ID/deactivate, .../ID/reactivate
#   GET    /v1/billing/meters/ID/event_summaries (customer, start_time,
#          end_time, value_grouping_window)
#   POST   /v1/billing/meter_events
#   POST   /v1/checkout/sessions   GET /v1/checkout/sessions (customer,
#          subscription)   GET /v1/checkout/sessions/ID[/line_items]
#          POST /v1/checkout/sessions/ID/expire
#   POST   /v1/billing_portal/sessions
#   GET    /v1/subscriptions (customer, status, price)
#   GET|POST|DELETE /v1/subscriptions/ID
#   GET    /v1/invoices (customer, subscription, status)
#   GET    /v1/invoices/upcoming[/lines] (customer, subscription)
#   POST   /v1/invoices/create_preview (customer, subscription)
#   GET    /v1/invoices/ID[/lines]   POST /v1/invoices/ID/pay, .../ID/void
#   GET    /v1/events (type, types[])   GET /v1/events/ID
#
# Lists are newest first, {"object":"list","data","has_more","url"}, with
# limit (1..100, default 10), starting_after and ending_before.  expand[]
# replaces id fields by their objects (customer, subscription,
# latest_invoice, invoice, line_items of a checkout session, data.X in
# lists); an expansion it does not know is ignored (data.tiers among
# them: tiered prices always carry their tiers).
#
# Idempotency (CONTRACT 3): a POST with Idempotency-Key stores the answer
# under (API key, Idempotency-Key) once the endpoint ran; a retry with the
# same key and the same method, path and parameters gets the stored
# status and body again with "Idempotent-Replayed: true"; other
# parameters: 400 idempotency_error; a request with that key still
# executing: 409 idempotency_error, code idempotency_key_in_use.  Not
# stored, as at Stripe: 400 and 404 (validation), 401, 409, 429.  Keys are
# forgotten 24 h (emulator clock) after first use.
#
# Meter events: the identifier (default: a fresh one) is unique for the
# emulator's lifetime.  A repeated identifier is refused with 400
# invalid_request_error, code resource_already_exists, param identifier,
# message "An event with identifier `X` already exists." and counts once.
# Stripe validates event name and customer asynchronously; the emulator
# refuses at once (400) an event_name without an active meter, a missing
# or unknown customer, a value that is not a whole number, and a timestamp
# more than 35 days back or 5 minutes ahead of the emulator clock.
# Totals are kept per (meter, customer, timestamp); event_summaries wants
# minute-aligned start_time and end_time, as Stripe does.
#
# Hosted pages (HTML, no authentication, never faulted):
#   GET  /c/pay/CS          checkout page: line items, total, Pay, Cancel
#   POST /c/pay/CS/pay      pays (see below) then 303 to success_url
#   POST /c/pay/CS/cancel   303 to cancel_url; the session stays open
#   GET  /p/session/BPS     billing portal: subscription, plan, status
#   POST /p/session/BPS/ACTION  ACTION = cancel | cancel_at_period_end |
#                           renew | switch (form field plan); 303 back
#   GET  /i/IN              hosted invoice page (also the invoice_pdf URL)
#
# Pay creates the customer when the session has none (customer.created;
# its email from customer_email, else from the page's optional field),
# the subscription (trialing with trial_end = now + trial days, else
# active), its items (licensed ones with their quantity, metered ones
# without), the first invoice (billing_reason subscription_create, paid,
# 0 during a trial), completes the session, then delivers, in this order
# and before redirecting: checkout.session.completed,
# customer.subscription.created, invoice.created, invoice.finalized,
# invoice.paid.  A completed session paid again shows "already paid".
# The portal's "Switch to PLAN" replaces the base item's price by the
# active licensed price tollgate_PLAN_base and every metered item
# tollgate_OLD_METRIC by tollgate_PLAN_METRIC; a metered item without a
# counterpart in the new plan is removed and the new plan's metered
# prices the subscription lacks are added (proration create_prorations).
#
# ---- Control endpoints (no authentication, JSON in and out)
#
#   GET  /_emu/             this list
#   GET  /_emu/state        counts, clock, hold, faults, and every /v1/
#                           request seen (method, path, idempotency_key,
#                           status, replayed, fault, request_id)
#   GET  /_emu/deliveries   every webhook delivery attempt (?event=, ?type=)
#   GET  /_emu/clock        {"now", "offset"}
#   POST /_emu/advance      {"seconds": N} or {"days": N}: moves the clock
#                           and runs what it crosses, in time order:
#                           trial_will_end (3 days before trial end), trial
#                           end (active, invoice for the first paid period,
#                           paid), period ends (renewal invoice: licensed
#                           items for the next period plus metered usage of
#                           the ending one, paid; or deletion when
#                           cancel_at_period_end), checkout session expiry
#   POST /_emu/fail_payment {"subscription"}: open invoice,
#                           invoice.payment_failed, status past_due
#   POST /_emu/pay_invoice  {"invoice"}: paid, invoice.paid, subscription
#                           back to active once nothing is left open
#   POST /_emu/resend       {"event"}: that event again, same body, fresh
#                           signature
#   POST /_emu/hold         {"on": bool}: while on, new events wait
#   POST /_emu/flush        {"order": "forward"|"reverse"}: delivers what
#                           waits (turning hold off delivers nothing)
#   POST /_emu/drain        answers once no delivery is queued or in flight
#                           (held events aside): after an API call, a test
#                           can then look at what its receiver got
#   POST /_emu/faults       {"error_rate", "status" (500, 429, ...; 0 = only
#                           delay), "delay_ms", "after_execute", "paths"
#                           (prefixes), "seed", "next" (the next N matching
#                           requests, whatever the rate), "should_retry"
#                           (true/false/null: the Stripe-Should-Retry header;
#                           default true on 5xx, none on 429)};
#                           {"error_rate": 0} turns faults off.  With
#                           after_execute the request runs and its
#                           idempotent answer is stored before the fault is
#                           answered (a lost response).  Only /v1/ requests.
#   POST /_emu/reset        forgets all data, events, deliveries, faults,
#                           hold and the clock offset; keeps the webhook
#                           configuration
#   POST /_emu/webhook      {"url", "secret"}: where and how to sign
#
# Control endpoints that make events (advance, fail_payment, pay_invoice,
# resend, flush) and the hosted pages' POSTs answer once those events are
# delivered (or given up), so a test can look at the receiver right away.
# API requests never wait for webhooks: they are delivered after the
# answer, like Stripe does.
#
# ---- Decisions
#
# Clock: emulator time = real time + offset; created, periods, trials and
# meter windows use it.  Webhook signatures use real time (as with Stripe
# test clocks), so a receiver's 300 s tolerance holds after an advance.
#
# Webhooks: every state change makes an event (customer.*, product.*,
# price.*, billing.meter.*, checkout.session.completed|expired,
# customer.subscription.created|updated|deleted|trial_will_end,
# invoice.created|finalized|paid|payment_failed|voided); meter events make
# none (Stripe has no such event).  One delivery thread sends them in
# creation order, to every configured URL as if enabled_events were "*":
# POST, Content-Type application/json; charset=utf-8, User-Agent
# Stripe/1.0 (+https://stripe.com/docs/webhooks), Stripe-Signature
# t=<real unix time>,v1=<HMAC-SHA256 of "t.body" keyed by the whole secret
# string>[,v1=... one per secret],v0=<random hex>.  The body is fixed when
# the event is made (GET /v1/events/ID returns the same bytes).  A non-2xx
# answer (redirects included), a timeout (10 s) or a connection error is
# retried 3 times, after 0.2, 0.5 and 1 s, then given up; every attempt is
# in /_emu/deliveries.  customer.subscription.updated carries
# previous_attributes: every top-level field that changed, with its old
# value.
#
# Subscriptions: one period for all items (the base price's interval,
# months counted from the billing cycle anchor); current_period_start/end
# are on the items only (basil and later).  items.data[i].price is the
# whole price; metered items have no quantity field.  Usage during a trial
# is not billed.  Renewals and trial ends are always paid; a past_due
# subscription stays past_due until its failed invoice is paid.  With
# proration_behavior create_prorations (the default) or always_invoice, a
# change to a licensed item while active adds one proration item of
# (new amount - old amount) x remaining share of the period, rounded half
# up to whole cents, to the next invoice (always_invoice: to an invoice
# made and paid at once).  A negative invoice total is due as 0.
#
# Amounts: per_unit = unit_amount_decimal x quantity; tiered graduated =
# the sum over the tiers reached (flat amount + units in tier x unit
# amount); tiered volume = the reached tier's price for all units.  Exact
# decimals, rounded half up to whole cents once per invoice line.
# Invoices carry parent.subscription_details.subscription (dahlia) and,
# for convenience, a top-level subscription; a line carries pricing
# (dahlia) and, for convenience, the whole price, proration and
# subscription_item.  A subscription-cycle invoice's period_start/end is
# the period whose usage it bills (as at Stripe); its licensed lines carry
# the next period.  Coupons in discounts[0][coupon] are recorded on the
# session and subscription but not applied to amounts.
import argparse
import base64
import copy
import calendar
import collections
import datetime
import decimal
import hashlib
import hmac
import html
import json
import os
import random
import re
import secrets
import signal
import string
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_VERSION = '2026-07-29.dahlia'
MAX_BODY = 1024 * 1024		# bytes of a request body
MAX_FIELDS = 2000		# form fields in one request
IDEM_TTL = 86400		# seconds an idempotency key is remembered
WEBHOOK_TIMEOUT = 10		# seconds per delivery attempt
RETRY_DELAYS = (0.2, 0.5, 1.0)	# between delivery attempts
SYNC_WAIT = 60			# seconds a page waits for its webhooks
DAY = 86400
METER_PAST = 35 * DAY		# meter event timestamp window
METER_FUTURE = 300
STATE_VERSION = 1
KEY_RE = re.compile(r'(?:sk|rk)_test_[A-Za-z0-9_]+\Z')
NAME_RE = re.compile(r'([^\[\]]+)((?:\[[^\[\]]*\])*)\Z')
INT_RE = re.compile(r'-?[0-9]{1,15}\Z')
DEC_RE = re.compile(r'[0-9]{1,15}(\.[0-9]{1,12})?\Z')
PLAN_RE = re.compile(r'tollgate_(.+)_base\Z')
ALNUM = string.ascii_letters + string.digits
LIST_ONLY = ('limit', 'starting_after', 'ending_before', 'expand',
    'created')

log_lock = threading.Lock()


def log(msg):
	"""One line on stderr; the stack keeps it as the emulator's log."""
	stamp = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())
	with log_lock:
		sys.stderr.write('%sZ stripe-emu[%d] %s\n' % (stamp, os.getpid(),
		    msg))
		sys.stderr.flush()


def new_id(prefix, n=24):
	return prefix + ''.join(secrets.choice(ALNUM) for _ in range(n))


def jdump(obj):
	return json.dumps(obj, indent=2, sort_keys=False)


# --- errors -----------------------------------------------------------------

class ApiError(Exception):
	"""An answer in Stripe's error shape."""

	def __init__(self, status, message, type_='invalid_request_error',
	    code=None, param=None, headers=None):
		super().__init__(message)
		self.status = status
		self.message = message
		self.type = type_
		self.code = code
		self.param = param
		self.headers = headers or []

	def body(self):
		err = {'type': self.type, 'message': self.message}
		if self.code:
			err['code'] = self.code
			err['doc_url'] = 'https://stripe.com/docs/error-codes/' + \
			    self.code.replace('_', '-')
		if self.param:
			err['param'] = self.param
		return {'error': err}


def missing(param):
	return ApiError(400, 'Missing required param: %s.' % param,
	    code='parameter_missing', param=param)


def invalid(param, message):
	return ApiError(400, message, code='parameter_invalid_string'
	    if 'string' in message else 'parameter_invalid', param=param)


def no_such(kind, ident, param=None, status=400):
	return ApiError(status, "No such %s: '%s'" % (kind, ident),
	    code='resource_missing', param=param)


# --- form decoding ------------------------------------------------------------

def decode_form(text):
	"""
	Stripe's nested form keys into dicts and lists: a[b]=c, a[0][b]=c,
	a[]=x.  Dicts whose keys are all indices become lists (never under
	metadata or payload, which are maps of strings).
	"""
	try:
		pairs = urllib.parse.parse_qsl(text, keep_blank_values=True,
		    max_num_fields=MAX_FIELDS)
	except ValueError:
		raise ApiError(400, 'Too many parameters') from None
	root = {}
	for name, value in pairs:
		m = NAME_RE.match(name)
		if m is None:
			raise ApiError(400, 'Invalid parameter name: %s' % name,
			    param=name)
		parts = [m.group(1)] + re.findall(r'\[([^\[\]]*)\]', m.group(2))
		node = root
		for i, part in enumerate(parts):
			if part == '':
				part = str(len(node))
			if i == len(parts) - 1:
				if isinstance(node.get(part), dict):
					raise ApiError(400, 'Invalid parameter: '
					    '%s is both a value and a hash' % name,
					    param=name)
				node[part] = value
			else:
				child = node.setdefault(part, {})
				if not isinstance(child, dict):
					raise ApiError(400, 'Invalid parameter: '
					    '%s is both a value and a hash' % name,
					    param=name)
				node = child
	return _lists(root, False)


def _lists(node, is_map):
	if not isinstance(node, dict):
		return node
	out = {k: _lists(v, k in ('metadata', 'payload')) for k, v in
	    node.items()}
	if not is_map and out and all(k.isdigit() for k in out):
		return [out[k] for k in sorted(out, key=int)]
	return out


# --- parameter access ---------------------------------------------------------

def check_unknown(params, allowed, prefix=''):
	for k in params:
		if k not in allowed and k != 'expand':
			name = '%s[%s]' % (prefix, k) if prefix else k
			raise ApiError(400, 'Received unknown parameter: %s' % name,
			    code='parameter_unknown', param=name)


def p_str(params, name, label=None, required=False, choices=None,
    maxlen=5000):
	label = label or name
	v = params.get(name)
	if v is None or v == '' and required:
		if required:
			raise missing(label)
		return None
	if not isinstance(v, str):
		raise invalid(label, 'Invalid string: %s' % json.dumps(v)[:200])
	if len(v) > maxlen:
		raise invalid(label, 'Invalid string: %s... must be at most %d '
		    'characters' % (v[:20], maxlen))
	if choices is not None and v not in choices:
		raise ApiError(400, 'Invalid %s: must be one of %s' % (label,
		    ', '.join(choices)), code='parameter_invalid', param=label)
	return v


def p_int(params, name, label=None, required=False, lo=None, hi=None):
	label = label or name
	v = p_str(params, name, label, required)
	if v is None or v == '':
		if required:
			raise missing(label)
		return None
	if INT_RE.match(v) is None:
		raise ApiError(400, 'Invalid integer: %s' % v[:40],
		    code='parameter_invalid_integer', param=label)
	n = int(v)
	if lo is not None and n < lo or hi is not None and n > hi:
		raise ApiError(400, 'Invalid integer: %s; must be %s' % (v,
		    'at least %d' % lo if hi is None else 'between %s and %s' %
		    (lo, hi)), code='parameter_invalid_integer', param=label)
	return n


def p_bool(params, name, label=None):
	label = label or name
	v = p_str(params, name, label)
	if v is None or v == '':
		return None
	if v.lower() in ('true', 'false'):
		return v.lower() == 'true'
	raise ApiError(400, 'Invalid boolean: %s' % v[:40],
	    code='parameter_invalid_boolean', param=label)


def p_dec(params, name, label=None):
	label = label or name
	v = p_str(params, name, label)
	if v is None or v == '':
		return None
	if DEC_RE.match(v) is None:
		raise ApiError(400, 'Invalid decimal: %s' % v[:40],
		    code='parameter_invalid_string', param=label)
	return Decimal(v)


def p_dict(params, name, label=None):
	label = label or name
	v = params.get(name)
	if v is None or v == '':
		return {}
	if not isinstance(v, dict):
		raise ApiError(400, 'Invalid hash', code='parameter_invalid',
		    param=label)
	return v


def p_list(params, name, label=None):
	label = label or name
	v = params.get(name)
	if v is None or v == '':
		return []
	if isinstance(v, str):
		return [v]
	if not isinstance(v, list):
		raise ApiError(400, 'Invalid array', code='parameter_invalid',
		    param=label)
	return v


def apply_metadata(current, params, name='metadata', label=None):
	"""Stripe's metadata update: "" unsets a key, metadata="" all."""
	label = label or name
	if name not in params:
		return current
	v = params[name]
	if v == '':
		return {}
	if not isinstance(v, dict):
		raise ApiError(400, 'Invalid hash', code='parameter_invalid',
		    param=label)
	out = dict(current)
	for k, val in v.items():
		if not isinstance(val, str):
			raise invalid('%s[%s]' % (label, k), 'Invalid string')
		if len(k) > 40 or len(val) > 500:
			raise ApiError(400, 'Metadata keys are at most 40 and '
			    'values at most 500 characters',
			    param='%s[%s]' % (label, k))
		if val == '':
			out.pop(k, None)
		else:
			out[k] = val
	if len(out) > 50:
		raise ApiError(400, 'Metadata has at most 50 keys', param=label)
	return out


def expand_paths(params):
	return [p for p in p_list(params, 'expand') if isinstance(p, str)]


# --- money and time -----------------------------------------------------------

def round_cents(d):
	return int(Decimal(d).quantize(Decimal(1),
	    rounding=decimal.ROUND_HALF_UP))


def dec_str(d):
	"""A Decimal as Stripe writes *_decimal fields: no exponent."""
	s = format(Decimal(d).normalize(), 'f')
	return s


def fmt_money(cents, currency='usd'):
	"""Cents (int or Decimal) as $1,234.56; more digits when fractional."""
	d = Decimal(cents) / 100
	neg = d < 0
	d = abs(d)
	q = d.quantize(Decimal('0.01'))
	if q == d:
		s = '{:,.2f}'.format(q)
	else:
		s = format(d.normalize(), 'f')
	sym = '$' if currency == 'usd' else currency.upper() + ' '
	return ('-' if neg else '') + sym + s


def add_interval(ts, interval, count):
	if interval == 'day':
		return ts + count * DAY
	if interval == 'week':
		return ts + count * 7 * DAY
	months = count * (12 if interval == 'year' else 1)
	dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
	m = dt.month - 1 + months
	y = dt.year + m // 12
	m = m % 12 + 1
	day = min(dt.day, calendar.monthrange(y, m)[1])
	return int(dt.replace(year=y, month=m, day=day).timestamp())


def fmt_date(ts):
	return time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(ts))


# --- webhook delivery ---------------------------------------------------------

class NoRedirect(urllib.request.HTTPRedirectHandler):
	"""A redirect is a failed delivery, as at Stripe."""

	def redirect_request(self, req, fp, code, msg, headers, newurl):
		return None


class Delivery:
	def __init__(self, event_id, type_, body):
		self.event_id = event_id
		self.type = type_
		self.body = body
		self.done = threading.Event()


class Deliverer:
	"""
	One thread delivers the events in the order they were queued.  The
	queue has its own lock, so the state lock is never held while a
	receiver answers (it may call the emulator back).
	"""

	def __init__(self, url, secrets_):
		self.cv = threading.Condition()
		self.queue = collections.deque()
		self.held = []
		self.hold = False
		self.busy = False	# a delivery is in flight
		self.url = url
		self.secrets = secrets_
		self.attempts = []
		self.opener = urllib.request.build_opener(
		    urllib.request.ProxyHandler({}), NoRedirect())
		threading.Thread(target=self.run, daemon=True,
		    name='webhooks').start()

	def configure(self, url=None, secret=None):
		with self.cv:
			if url is not None:
				self.url = url
			if secret is not None:
				self.secrets = split_secrets(secret)

	def enqueue(self, item, force=False):
		"""Queue one delivery; False when held back."""
		with self.cv:
			if self.hold and not force:
				self.held.append(item)
				return False
			self.queue.append(item)
			self.cv.notify_all()
			return True

	def flush(self, reverse):
		with self.cv:
			items, self.held = self.held, []
			if reverse:
				items.reverse()
			self.queue.extend(items)
			self.cv.notify_all()
		return items

	def drain(self, timeout):
		"""Wait until nothing is queued or in flight; False on timeout."""
		with self.cv:
			return self.cv.wait_for(lambda: not self.queue and
			    not self.busy, timeout)

	def clear(self):
		with self.cv:
			for item in self.held:
				item.done.set()
			self.held = []
			self.queue.clear()
			self.attempts = []
			self.hold = False

	def run(self):
		while True:
			with self.cv:
				while not self.queue:
					self.cv.wait()
				item = self.queue.popleft()
				self.busy = True
			try:
				self.deliver(item)
			except Exception:
				log('webhook: internal error\n' +
				    traceback.format_exc())
			finally:
				item.done.set()
				with self.cv:
					self.busy = False
					self.cv.notify_all()

	def signature(self, body, secrets_):
		t = int(time.time())
		signed = ('%d.' % t).encode('ascii') + body
		parts = ['t=%d' % t]
		for s in secrets_:
			parts.append('v1=' + hmac.new(s.encode('utf-8'), signed,
			    hashlib.sha256).hexdigest())
		parts.append('v0=' + secrets.token_hex(32))
		return ','.join(parts)

	def record(self, item, attempt, status, error, final):
		rec = {'event': item.event_id, 'type': item.type,
		    'attempt': attempt, 'status': status, 'error': error,
		    'ok': status is not None and 200 <= status < 300,
		    'final': final, 'time': time.time()}
		with self.cv:
			self.attempts.append(rec)
		log('webhook %s %s attempt %d: %s%s' % (item.event_id, item.type,
		    attempt, status if status is not None else error,
		    ' (given up)' if final and not rec['ok'] else ''))

	def deliver(self, item):
		with self.cv:
			url, secrets_ = self.url, list(self.secrets)
		if not url:
			self.record(item, 0, None, 'no webhook URL configured', True)
			return
		for attempt in range(1, len(RETRY_DELAYS) + 2):
			if attempt > 1:
				time.sleep(RETRY_DELAYS[attempt - 2])
			req = urllib.request.Request(url, data=item.body,
			    method='POST', headers={
			    'Content-Type': 'application/json; charset=utf-8',
			    'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
			    'Stripe-Signature': self.signature(item.body, secrets_),
			    'Accept': '*/*; q=0.5, application/xml'})
			status, error = None, None
			try:
				with self.opener.open(req, timeout=WEBHOOK_TIMEOUT) as r:
					r.read(65536)
					status = r.status
			except urllib.error.HTTPError as e:
				status = e.code
				e.close()
			except (urllib.error.URLError, OSError) as e:
				error = str(getattr(e, 'reason', e))
			ok = status is not None and 200 <= status < 300
			last = attempt == len(RETRY_DELAYS) + 1
			self.record(item, attempt, status, error, ok or last)
			if ok:
				return


def split_secrets(s):
	return [x.strip() for x in (s or '').split(',') if x.strip()]


# --- faults -------------------------------------------------------------------

class Faults:
	def __init__(self):
		self.set({})

	def set(self, cfg):
		"""New settings, all checked before any is taken."""
		rate = float(cfg.get('error_rate') or 0)
		status = int(cfg.get('status', 500) or 0)
		delay_ms = int(cfg.get('delay_ms') or 0)
		paths = cfg.get('paths') or []
		nxt = int(cfg.get('next') or 0)
		retry = cfg.get('should_retry', 'default')
		seed = cfg.get('seed')
		if not 0 <= rate <= 1:
			raise ValueError('error_rate must be between 0 and 1')
		if status and not 400 <= status <= 599:
			raise ValueError('status must be 4xx or 5xx (or 0)')
		if not 0 <= delay_ms <= 120000 or nxt < 0:
			raise ValueError('delay_ms: 0 to 120000; next: 0 or more')
		if not isinstance(paths, list) or \
		    not all(isinstance(x, str) for x in paths):
			raise ValueError('paths must be a list of path prefixes')
		if retry not in ('default', True, False, None):
			raise ValueError('should_retry: true, false or null')
		if seed is not None and not isinstance(seed, (int, str)):
			raise ValueError('seed: a number or a string')
		self.rate, self.status, self.delay_ms = rate, status, delay_ms
		self.after = bool(cfg.get('after_execute'))
		self.paths, self.next, self.should_retry = paths, nxt, retry
		self.seed = seed
		self.rng = random.Random(seed)

	def describe(self):
		return {'error_rate': self.rate, 'status': self.status,
		    'delay_ms': self.delay_ms, 'after_execute': self.after,
		    'paths': self.paths, 'next': self.next, 'seed': self.seed,
		    'should_retry': self.should_retry}

	def roll(self, path):
		"""True when this request gets the fault (call under the lock)."""
		if self.paths and not any(path.startswith(p) for p in self.paths):
			return False
		if self.next > 0:
			self.next -= 1
			return True
		return self.rate > 0 and self.rng.random() < self.rate

	def error(self):
		s = self.status
		headers = []
		retry = self.should_retry
		if retry == 'default':
			retry = True if s >= 500 else None
		if retry is not None:
			headers.append(('Stripe-Should-Retry',
			    'true' if retry else 'false'))
		if s == 429:
			headers.append(('Stripe-Rate-Limited-Reason', 'global-rate'))
			return ApiError(429, 'Too many requests hit the API too '
			    'quickly (emulated fault).', code='rate_limit',
			    headers=headers)
		if s >= 500:
			return ApiError(s, 'An unknown error occurred (emulated '
			    'fault).', type_='api_error', headers=headers)
		return ApiError(s, 'Emulated fault.', headers=headers)


# --- the emulator -------------------------------------------------------------

class Ctx:
	"""What one request carries into the logic: event origin, deliveries."""

	def __init__(self, req_id=None, idem=None):
		self.req_id = req_id
		self.idem = idem
		self.items = []		# deliveries queued (not held) by this request


class Response:
	def __init__(self, status, body, ctype='application/json',
	    headers=None):
		self.status = status
		self.body = body if isinstance(body, bytes) else \
		    body.encode('utf-8')
		self.ctype = ctype
		self.headers = headers or []
		self.note = ''


SAVED = ('customers', 'products', 'prices', 'meters', 'meter_idents',
    'meter_totals', 'sessions', 'session_items', 'portal_sessions',
    'subscriptions', 'invoices', 'events', 'offset', 'portal_config')


class Emulator:
	def __init__(self, port, webhook_url, webhook_secret, state_file):
		self.port = port
		self.base = 'http://127.0.0.1:%d' % port
		self.lock = threading.RLock()
		self.deliverer = Deliverer(webhook_url, split_secrets(webhook_secret))
		self.faults = Faults()
		self.state_file = state_file
		self.reset_data()
		if state_file and os.path.exists(state_file):
			self.load()

	# --- state ------------------------------------------------------------

	def reset_data(self):
		self.customers = {}
		self.products = {}
		self.prices = {}
		self.meters = {}
		self.meter_idents = {}	# identifier -> the accepted event
		self.meter_totals = {}	# meter -> customer -> ts -> [sum, n, last]
		self.sessions = {}
		self.session_items = {}	# cs -> [{"price", "quantity"}]
		self.portal_sessions = {}
		self.subscriptions = {}	# internal shape, see render_subscription
		self.invoices = {}
		self.events = {}	# id -> {"type", "created", "body"}
		self.offset = 0
		self.frozen = None
		self.portal_config = new_id('bpc_')
		self.idem = {}
		self.requests = []

	def load(self):
		with open(self.state_file) as f:
			data = json.load(f)
		if data.get('version') != STATE_VERSION:
			log('state file %s: unknown version, ignored' %
			    self.state_file)
			return
		for k in SAVED:
			if k in data:
				setattr(self, k, data[k])
		log('state loaded from %s: %d customers, %d subscriptions' % (
		    self.state_file, len(self.customers), len(self.subscriptions)))

	def save(self):
		if not self.state_file:
			return
		data = {k: getattr(self, k) for k in SAVED}
		data['version'] = STATE_VERSION
		tmp = '%s.tmp.%d' % (self.state_file, os.getpid())
		with open(tmp, 'w') as f:
			json.dump(data, f)
		os.rename(tmp, self.state_file)

	def now(self):
		if self.frozen is not None:
			return self.frozen
		return int(time.time()) + self.offset

	# --- events -----------------------------------------------------------

	def emit(self, ctx, type_, obj, previous=None):
		"""Make an event (snapshot of obj) and queue its delivery."""
		data = {'object': copy.deepcopy(obj)}
		if previous is not None:
			data['previous_attributes'] = copy.deepcopy(previous)
		evt = {
		    'id': new_id('evt_'),
		    'object': 'event',
		    'api_version': API_VERSION,
		    'created': self.now(),
		    'data': data,
		    'livemode': False,
		    'pending_webhooks': 1 if self.deliverer.url else 0,
		    'request': {'id': ctx.req_id if ctx else None,
		        'idempotency_key': ctx.idem if ctx else None},
		    'type': type_,
		}
		body = jdump(evt)
		self.events[evt['id']] = {'type': type_, 'created': evt['created'],
		    'body': body}
		item = Delivery(evt['id'], type_, body.encode('utf-8'))
		if self.deliverer.enqueue(item) and ctx is not None:
			ctx.items.append(item)
		return evt['id']

	@staticmethod
	def diff(before, after):
		return {k: before.get(k) for k in set(before) | set(after)
		    if before.get(k) != after.get(k)}

	# --- lookups ----------------------------------------------------------

	def get_customer(self, cid, param='customer', status=400):
		c = self.customers.get(cid) if isinstance(cid, str) else None
		if c is None or c.get('deleted'):
			raise no_such('customer', cid, param, status)
		return c

	def get_price(self, pid, param='price', status=400):
		p = self.prices.get(pid) if isinstance(pid, str) else None
		if p is None:
			raise no_such('price', pid, param, status)
		return p

	def price_by_lookup(self, key, active_only=True):
		for p in self.prices.values():
			if p['lookup_key'] == key and (p['active'] or
			    not active_only):
				return p
		return None

	def lookup_object(self, ident):
		"""Any object by id, rendered: for expand[]."""
		if not isinstance(ident, str):
			return None
		if ident.startswith('cus_') and ident in self.customers:
			return copy.deepcopy(self.customers[ident])
		if ident.startswith('sub_') and ident in self.subscriptions:
			return self.render_subscription(self.subscriptions[ident])
		if ident.startswith('in_') and ident in self.invoices:
			return copy.deepcopy(self.invoices[ident])
		if ident.startswith('price_') and ident in self.prices:
			return copy.deepcopy(self.prices[ident])
		if ident.startswith('prod_') and ident in self.products:
			return copy.deepcopy(self.products[ident])
		if ident.startswith('cs_') and ident in self.sessions:
			return self.render_session(self.sessions[ident])
		return None

	def expand(self, obj, paths):
		for path in paths:
			self._expand(obj, path.split('.'))
		return obj

	def _expand(self, node, parts):
		if not parts or not isinstance(node, dict):
			return
		if node.get('object') == 'list' and parts[0] == 'data':
			for x in node.get('data', []):
				self._expand(x, parts[1:])
			return
		key = parts[0]
		if key == 'line_items' and node.get('object') == 'checkout.session':
			node['line_items'] = self.session_line_items(node['id'])
		val = node.get(key)
		if isinstance(val, str):
			found = self.lookup_object(val)
			if found is not None:
				node[key] = val = found
		self._expand(val, parts[1:])

	def list_page(self, items, params, url):
		"""items newest first."""
		limit = p_int(params, 'limit', lo=1, hi=100) or 10
		after = p_str(params, 'starting_after')
		before = p_str(params, 'ending_before')
		ids = [o.get('id') for o in items]
		if after:
			if after not in ids:
				raise no_such('object', after, 'starting_after')
			rest = items[ids.index(after) + 1:]
			page, more = rest[:limit], len(rest) > limit
		elif before:
			if before not in ids:
				raise no_such('object', before, 'ending_before')
			rest = items[:ids.index(before)]
			page, more = rest[-limit:], len(rest) > limit
		else:
			page, more = items[:limit], len(items) > limit
		out = {'object': 'list', 'data': page, 'has_more': more,
		    'url': url}
		return self.expand(out, expand_paths(params))

	# --- customers ----------------------------------------------------------

	CUSTOMER_FIELDS = ('address', 'balance', 'description', 'email',
	    'invoice_settings', 'name', 'phone', 'preferred_locales',
	    'shipping', 'tax_exempt')
	CUSTOMER_PARAMS = set(CUSTOMER_FIELDS) | {'metadata', 'invoice_prefix',
	    'next_invoice_sequence', 'payment_method', 'source', 'tax',
	    'tax_id_data', 'test_clock', 'coupon', 'promotion_code',
	    'cash_balance', 'validate'}

	def customer_fields(self, c, params):
		email = p_str(params, 'email', maxlen=512)
		if email is not None:
			if email and not re.match(r'[^@\s]+@[^@\s]+\Z', email):
				raise ApiError(400, 'Invalid email address: %s' % email,
				    code='email_invalid', param='email')
			c['email'] = email or None
		for k in ('name', 'description', 'phone'):
			v = p_str(params, k, maxlen=5000)
			if v is not None:
				c[k] = v or None
		if 'address' in params:
			a = p_dict(params, 'address')
			c['address'] = {k: a.get(k) for k in ('city', 'country',
			    'line1', 'line2', 'postal_code', 'state')} if a else None
		if 'preferred_locales' in params:
			c['preferred_locales'] = p_list(params, 'preferred_locales')
		te = p_str(params, 'tax_exempt', choices=('none', 'exempt',
		    'reverse'))
		if te:
			c['tax_exempt'] = te
		c['metadata'] = apply_metadata(c['metadata'], params)

	def make_customer(self, ctx, params):
		check_unknown(params, self.CUSTOMER_PARAMS)
		prefix = p_str(params, 'invoice_prefix', maxlen=12)
		c = {'id': new_id('cus_', 14), 'object': 'customer',
		    'address': None, 'balance': 0, 'created': self.now(),
		    'currency': None, 'default_source': None,
		    'delinquent': False, 'description': None, 'discount': None,
		    'email': None,
		    'invoice_prefix': prefix or secrets.token_hex(4).upper(),
		    'invoice_settings': {'custom_fields': None,
		        'default_payment_method': None, 'footer': None,
		        'rendering_options': None},
		    'livemode': False, 'metadata': {}, 'name': None,
		    'next_invoice_sequence': 1, 'phone': None,
		    'preferred_locales': [], 'shipping': None,
		    'tax_exempt': 'none', 'test_clock': None}
		self.customer_fields(c, params)
		self.customers[c['id']] = c
		self.emit(ctx, 'customer.created', c)
		return c

	def api_customer_create(self, ctx, params, m):
		return self.make_customer(ctx, params)

	def api_customer_list(self, ctx, params, m):
		check_unknown(params, LIST_ONLY + ('email', 'test_clock'))
		email = p_str(params, 'email')
		items = [copy.deepcopy(c) for c in reversed(
		    list(self.customers.values())) if not c.get('deleted') and
		    (email is None or c['email'] == email)]
		return self.list_page(items, params, '/v1/customers')

	def api_customer_get(self, ctx, params, m):
		c = self.customers.get(m['id'])
		if c is None:
			raise no_such('customer', m['id'], 'id', 404)
		return self.expand(copy.deepcopy(c), expand_paths(params))

	def api_customer_update(self, ctx, params, m):
		c = self.get_customer(m['id'], 'id', 404)
		check_unknown(params, self.CUSTOMER_PARAMS - {'test_clock'})
		before = copy.deepcopy(c)
		self.customer_fields(c, params)
		prev = self.diff(before, c)
		if prev:
			self.emit(ctx, 'customer.updated', c, prev)
		return copy.deepcopy(c)

	def api_customer_delete(self, ctx, params, m):
		c = self.get_customer(m['id'], 'id', 404)
		self.emit(ctx, 'customer.deleted', c)
		self.customers[c['id']] = {'id': c['id'], 'object': 'customer',
		    'deleted': True}
		for sub in self.subscriptions.values():
			if sub['customer'] == c['id'] and sub['status'] != 'canceled':
				self.cancel_now(ctx, sub)
		return {'id': c['id'], 'object': 'customer', 'deleted': True}

	# --- products -----------------------------------------------------------

	PRODUCT_PARAMS = {'id', 'name', 'active', 'description', 'metadata',
	    'images', 'url', 'unit_label', 'statement_descriptor', 'tax_code',
	    'marketing_features', 'shippable', 'type'}

	def product_fields(self, p, params):
		name = p_str(params, 'name', maxlen=250)
		if name is not None:
			if not name:
				raise missing('name')
			p['name'] = name
		active = p_bool(params, 'active')
		if active is not None:
			p['active'] = active
		for k in ('description', 'url', 'unit_label',
		    'statement_descriptor', 'tax_code'):
			v = p_str(params, k)
			if v is not None:
				p[k] = v or None
		p['metadata'] = apply_metadata(p['metadata'], params)
		p['updated'] = self.now()

	def make_product(self, ctx, params, label='name'):
		pid = p_str(params, 'id', maxlen=200)
		if pid is not None and pid in self.products:
			raise ApiError(400, 'Product already exists.',
			    code='resource_already_exists', param='id')
		if not p_str(params, 'name'):
			raise missing(label)
		p = {'id': pid or new_id('prod_', 14), 'object': 'product',
		    'active': True, 'created': self.now(), 'default_price': None,
		    'description': None, 'images': [], 'livemode': False,
		    'marketing_features': [], 'metadata': {}, 'name': None,
		    'package_dimensions': None, 'shippable': None,
		    'statement_descriptor': None, 'tax_code': None,
		    'type': 'service', 'unit_label': None, 'updated': None,
		    'url': None}
		self.product_fields(p, params)
		self.products[p['id']] = p
		self.emit(ctx, 'product.created', p)
		return p

	def api_product_create(self, ctx, params, m):
		check_unknown(params, self.PRODUCT_PARAMS)
		return copy.deepcopy(self.make_product(ctx, params))

	def api_product_list(self, ctx, params, m):
		check_unknown(params, LIST_ONLY + ('active', 'ids', 'shippable',
		    'url'))
		active = p_bool(params, 'active')
		ids = p_list(params, 'ids')
		items = [copy.deepcopy(p) for p in reversed(
		    list(self.products.values())) if (active is None or
		    p['active'] == active) and (not ids or p['id'] in ids)]
		return self.list_page(items, params, '/v1/products')

	def api_product_get(self, ctx, params, m):
		p = self.products.get(m['id'])
		if p is None:
			raise no_such('product', m['id'], 'id', 404)
		return copy.deepcopy(p)

	def api_product_update(self, ctx, params, m):
		p = self.products.get(m['id'])
		if p is None:
			raise no_such('product', m['id'], 'id', 404)
		check_unknown(params, (self.PRODUCT_PARAMS - {'id', 'type'}) |
		    {'default_price'})
		before = copy.deepcopy(p)
		dp = p_str(params, 'default_price')
		if dp is not None:
			if dp and self.get_price(dp, 'default_price')['product'] != \
			    p['id']:
				raise ApiError(400, 'The price must belong to this '
				    'product.', param='default_price')
			p['default_price'] = dp or None
		self.product_fields(p, params)
		prev = self.diff(before, p)
		prev.pop('updated', None)
		if prev:
			self.emit(ctx, 'product.updated', p, prev)
		return copy.deepcopy(p)

	# --- prices -------------------------------------------------------------

	PRICE_PARAMS = {'currency', 'product', 'product_data', 'unit_amount',
	    'unit_amount_decimal', 'billing_scheme', 'tiers_mode', 'tiers',
	    'recurring', 'lookup_key', 'transfer_lookup_key', 'nickname',
	    'metadata', 'active', 'tax_behavior', 'transform_quantity',
	    'custom_unit_amount', 'currency_options'}

	@staticmethod
	def amount_pair(params, int_name, dec_name, label):
		"""unit_amount / unit_amount_decimal: (Decimal or None)."""
		a = p_int(params, int_name, '%s%s' % (label, int_name), lo=0)
		d = p_dec(params, dec_name, '%s%s' % (label, dec_name))
		if a is not None and d is not None:
			raise ApiError(400, 'You may only specify one of these '
			    'parameters: %s, %s.' % (int_name, dec_name),
			    param=label + dec_name)
		return Decimal(a) if a is not None else d

	@staticmethod
	def int_or_none(d):
		return int(d) if d is not None and d == d.to_integral_value() \
		    else None

	def parse_tiers(self, params):
		raw = p_list(params, 'tiers')
		if not raw:
			raise missing('tiers')
		tiers, prev = [], 0
		for i, t in enumerate(raw):
			lab = 'tiers[%d]' % i
			if not isinstance(t, dict):
				raise ApiError(400, 'Invalid hash', param=lab)
			check_unknown(t, {'up_to', 'unit_amount',
			    'unit_amount_decimal', 'flat_amount',
			    'flat_amount_decimal'}, lab)
			up = p_str(t, 'up_to', lab + '[up_to]', required=True)
			if up == 'inf':
				up_to = None
			else:
				up_to = p_int(t, 'up_to', lab + '[up_to]', lo=1)
				if up_to <= prev:
					raise ApiError(400, 'Tiers must be in increasing '
					    'order of up_to.', param=lab + '[up_to]')
				prev = up_to
			if up_to is None and i != len(raw) - 1:
				raise ApiError(400, 'Only the last tier may have '
				    'up_to=inf.', param=lab + '[up_to]')
			ua = p_int(t, 'unit_amount', lab + '[unit_amount]', lo=0)
			ud = p_dec(t, 'unit_amount_decimal',
			    lab + '[unit_amount_decimal]')
			fa = p_int(t, 'flat_amount', lab + '[flat_amount]', lo=0)
			fd = p_dec(t, 'flat_amount_decimal',
			    lab + '[flat_amount_decimal]')
			if ua is not None and ud is not None or \
			    fa is not None and fd is not None:
				raise ApiError(400, 'You may only specify one of '
				    'unit_amount and unit_amount_decimal (and of '
				    'flat_amount and flat_amount_decimal).', param=lab)
			unit = Decimal(ua) if ua is not None else ud
			flat = Decimal(fa) if fa is not None else fd
			if unit is None and flat is None:
				raise missing(lab + '[unit_amount]')
			tiers.append({
			    'flat_amount': self.int_or_none(flat),
			    'flat_amount_decimal': dec_str(flat) if flat is not None
			        else None,
			    'unit_amount': self.int_or_none(unit),
			    'unit_amount_decimal': dec_str(unit) if unit is not None
			        else None,
			    'up_to': up_to})
		if tiers[-1]['up_to'] is not None:
			raise ApiError(400, 'The last tier must have up_to=inf.',
			    param='tiers[%d][up_to]' % (len(tiers) - 1))
		return tiers

	def set_lookup_key(self, ctx, price, key, transfer):
		if key is None:
			return
		if key == '':
			price['lookup_key'] = None
			return
		other = self.price_by_lookup(key, active_only=False)
		if other is not None and other['id'] != price['id']:
			if not transfer:
				raise ApiError(400, 'A price (`%s`) already uses that '
				    'lookup key.' % other['id'], param='lookup_key')
			before = copy.deepcopy(other)
			other['lookup_key'] = None
			self.emit(ctx, 'price.updated', other,
			    self.diff(before, other))
		price['lookup_key'] = key

	def api_price_create(self, ctx, params, m):
		check_unknown(params, self.PRICE_PARAMS)
		currency = p_str(params, 'currency', required=True)
		if not re.match(r'[a-z]{3}\Z', currency):
			raise ApiError(400, 'Invalid currency: %s' % currency,
			    param='currency')
		prod_id = p_str(params, 'product')
		pdata = p_dict(params, 'product_data')
		if prod_id and pdata:
			raise ApiError(400, 'You may only specify one of these '
			    'parameters: product, product_data.', param='product')
		if not prod_id and not pdata:
			raise missing('product')
		if prod_id and prod_id not in self.products:
			raise no_such('product', prod_id, 'product')
		scheme = p_str(params, 'billing_scheme',
		    choices=('per_unit', 'tiered')) or 'per_unit'
		tiers, mode, unit = None, None, None
		if scheme == 'tiered':
			mode = p_str(params, 'tiers_mode', required=True,
			    choices=('graduated', 'volume'))
			if 'unit_amount' in params or 'unit_amount_decimal' in params:
				raise ApiError(400, 'unit_amount is not allowed with '
				    'billing_scheme=tiered.', param='unit_amount')
			tiers = self.parse_tiers(params)
		else:
			if 'tiers' in params or 'tiers_mode' in params:
				raise ApiError(400, 'tiers need billing_scheme=tiered.',
				    param='tiers')
			unit = self.amount_pair(params, 'unit_amount',
			    'unit_amount_decimal', '')
			if unit is None:
				raise missing('unit_amount')
		recurring = None
		rec = p_dict(params, 'recurring')
		if rec:
			check_unknown(rec, {'interval', 'interval_count', 'meter',
			    'usage_type', 'trial_period_days', 'aggregate_usage'},
			    'recurring')
			if 'aggregate_usage' in rec:
				raise ApiError(400, 'recurring[aggregate_usage] was '
				    'removed in 2025-03-31.basil: use a meter.',
				    param='recurring[aggregate_usage]')
			interval = p_str(rec, 'interval', 'recurring[interval]',
			    required=True, choices=('day', 'week', 'month', 'year'))
			count = p_int(rec, 'interval_count',
			    'recurring[interval_count]', lo=1, hi=365) or 1
			usage = p_str(rec, 'usage_type', 'recurring[usage_type]',
			    choices=('licensed', 'metered')) or 'licensed'
			meter = p_str(rec, 'meter', 'recurring[meter]')
			if usage == 'metered':
				if not meter:
					raise missing('recurring[meter]')
				if meter not in self.meters:
					raise no_such('billing.meter', meter,
					    'recurring[meter]')
			elif meter:
				raise ApiError(400, 'recurring[meter] needs '
				    'recurring[usage_type]=metered.',
				    param='recurring[meter]')
			recurring = {'interval': interval, 'interval_count': count,
			    'meter': meter or None, 'usage_type': usage,
			    'trial_period_days': p_int(rec, 'trial_period_days',
			        'recurring[trial_period_days]', lo=1)}
		active = p_bool(params, 'active')
		lookup = p_str(params, 'lookup_key', maxlen=200)
		transfer = p_bool(params, 'transfer_lookup_key') or False
		tb = p_str(params, 'tax_behavior', choices=('exclusive',
		    'inclusive', 'unspecified')) or 'unspecified'
		metadata = apply_metadata({}, params)
		nickname = p_str(params, 'nickname')
		# Everything is valid: now change state.
		if pdata:
			check_unknown(pdata, {'name', 'active', 'metadata',
			    'statement_descriptor', 'tax_code', 'unit_label', 'id'},
			    'product_data')
			prod_id = self.make_product(ctx, pdata,
			    'product_data[name]')['id']
		price = {'id': new_id('price_'), 'object': 'price',
		    'active': True if active is None else active,
		    'billing_scheme': scheme, 'created': self.now(),
		    'currency': currency, 'custom_unit_amount': None,
		    'livemode': False, 'lookup_key': None, 'metadata': metadata,
		    'nickname': nickname or None, 'product': prod_id,
		    'recurring': recurring, 'tax_behavior': tb,
		    'tiers_mode': mode, 'transform_quantity': None,
		    'type': 'recurring' if recurring else 'one_time',
		    'unit_amount': self.int_or_none(unit),
		    'unit_amount_decimal': dec_str(unit) if unit is not None
		        else None}
		if tiers is not None:
			price['tiers'] = tiers
		self.set_lookup_key(ctx, price, lookup, transfer)
		self.prices[price['id']] = price
		self.emit(ctx, 'price.created', price)
		return copy.deepcopy(price)

	def api_price_list(self, ctx, params, m):
		check_unknown(params, LIST_ONLY + ('active', 'currency',
		    'lookup_keys', 'product', 'type', 'recurring'))
		active = p_bool(params, 'active')
		currency = p_str(params, 'currency')
		keys = p_list(params, 'lookup_keys')
		product = p_str(params, 'product')
		type_ = p_str(params, 'type', choices=('one_time', 'recurring'))
		rec = p_dict(params, 'recurring')
		out = []
		for p in reversed(list(self.prices.values())):
			if active is not None and p['active'] != active or \
			    currency and p['currency'] != currency or \
			    keys and p['lookup_key'] not in keys or \
			    product and p['product'] != product or \
			    type_ and p['type'] != type_:
				continue
			r = p['recurring'] or {}
			if any(r.get(k) != v for k, v in rec.items()):
				continue
			out.append(copy.deepcopy(p))
		return self.list_page(out, params, '/v1/prices')

	def api_price_get(self, ctx, params, m):
		p = self.get_price(m['id'], 'id', 404)
		return self.expand(copy.deepcopy(p), expand_paths(params))

	def api_price_update(self, ctx, params, m):
		p = self.get_price(m['id'], 'id', 404)
		check_unknown(params, {'active', 'lookup_key',
		    'transfer_lookup_key', 'metadata', 'nickname', 'tax_behavior',
		    'currency_options'})
		before = copy.deepcopy(p)
		active = p_bool(params, 'active')
		nickname = p_str(params, 'nickname')
		tb = p_str(params, 'tax_behavior', choices=('exclusive',
		    'inclusive', 'unspecified'))
		metadata = apply_metadata(p['metadata'], params)
		self.set_lookup_key(ctx, p, p_str(params, 'lookup_key',
		    maxlen=200), p_bool(params, 'transfer_lookup_key') or False)
		if active is not None:
			p['active'] = active
		if nickname is not None:
			p['nickname'] = nickname or None
		if tb:
			p['tax_behavior'] = tb
		p['metadata'] = metadata
		prev = self.diff(before, p)
		if prev:
			self.emit(ctx, 'price.updated', p, prev)
		return copy.deepcopy(p)

	# --- meters -------------------------------------------------------------

	def active_meter(self, event_name, exclude=None):
		for mt in self.meters.values():
			if mt['event_name'] == event_name and \
			    mt['status'] == 'active' and mt['id'] != exclude:
				return mt
		return None

	def api_meter_create(self, ctx, params, m):
		check_unknown(params, {'display_name', 'event_name',
		    'default_aggregation', 'customer_mapping', 'value_settings',
		    'event_time_window'})
		display = p_str(params, 'display_name', required=True, maxlen=250)
		name = p_str(params, 'event_name', required=True, maxlen=100)
		agg = p_dict(params, 'default_aggregation')
		formula = p_str(agg, 'formula', 'default_aggregation[formula]',
		    required=True, choices=('count', 'sum', 'last'))
		cm = p_dict(params, 'customer_mapping')
		if cm:
			check_unknown(cm, {'event_payload_key', 'type'},
			    'customer_mapping')
			ckey = p_str(cm, 'event_payload_key',
			    'customer_mapping[event_payload_key]', required=True,
			    maxlen=100)
			p_str(cm, 'type', 'customer_mapping[type]', required=True,
			    choices=('by_id',))
		else:
			ckey = 'stripe_customer_id'
		vs = p_dict(params, 'value_settings')
		check_unknown(vs, {'event_payload_key'}, 'value_settings')
		vkey = p_str(vs, 'event_payload_key',
		    'value_settings[event_payload_key]', maxlen=100) or 'value'
		window = p_str(params, 'event_time_window', choices=('day',
		    'hour'))
		if self.active_meter(name):
			raise ApiError(400, 'An active meter with event_name `%s` '
			    'already exists.' % name,
			    code='resource_already_exists', param='event_name')
		now = self.now()
		mt = {'id': new_id('mtr_test_'), 'object': 'billing.meter',
		    'created': now,
		    'customer_mapping': {'event_payload_key': ckey,
		        'type': 'by_id'},
		    'default_aggregation': {'formula': formula},
		    'display_name': display, 'event_name': name,
		    'event_time_window': window, 'livemode': False,
		    'status': 'active',
		    'status_transitions': {'deactivated_at': None},
		    'updated': now, 'value_settings': {'event_payload_key': vkey}}
		self.meters[mt['id']] = mt
		self.emit(ctx, 'billing.meter.created', mt)
		return copy.deepcopy(mt)

	def get_meter(self, mid):
		mt = self.meters.get(mid)
		if mt is None:
			raise no_such('billing.meter', mid, 'id', 404)
		return mt

	def api_meter_list(self, ctx, params, m):
		check_unknown(params, LIST_ONLY + ('status',))
		status = p_str(params, 'status', choices=('active', 'inactive'))
		items = [copy.deepcopy(mt) for mt in reversed(
		    list(self.meters.values())) if status is None or
		    mt['status'] == status]
		return self.list_page(items, params, '/v1/billing/meters')

	def api_meter_get(self, ctx, params, m):
		return copy.deepcopy(self.get_meter(m['id']))

	def api_meter_update(self, ctx, params, m):
		mt = self.get_meter(m['id'])
		check_unknown(params, {'display_name'})
		before = copy.deepcopy(mt)
		d = p_str(params, 'display_name', maxlen=250)
		if d:
			mt['display_name'] = d
			mt['updated'] = self.now()
		prev = self.diff(before, mt)
		if prev:
			self.emit(ctx, 'billing.meter.updated', mt, prev)
		return copy.deepcopy(mt)

	def api_meter_deactivate(self, ctx, params, m):
		mt = self.get_meter(m['id'])
		check_unknown(params, set())
		if mt['status'] != 'inactive':
			mt['status'] = 'inactive'
			mt['status_transitions']['deactivated_at'] = self.now()
			mt['updated'] = self.now()
			self.emit(ctx, 'billing.meter.deactivated', mt)
		return copy.deepcopy(mt)

	def api_meter_reactivate(self, ctx, params, m):
		mt = self.get_meter(m['id'])
		check_unknown(params, set())
		if mt['status'] != 'active':
			if self.active_meter(mt['event_name'], mt['id']):
				raise ApiError(400, 'An active meter with event_name '
				    '`%s` already exists.' % mt['event_name'],
				    code='resource_already_exists')
			mt['status'] = 'active'
			mt['status_transitions']['deactivated_at'] = None
			mt['updated'] = self.now()
			self.emit(ctx, 'billing.meter.reactivated', mt)
		return copy.deepcopy(mt)

	def api_meter_event(self, ctx, params, m):
		check_unknown(params, {'event_name', 'payload', 'identifier',
		    'timestamp'})
		name = p_str(params, 'event_name', required=True, maxlen=100)
		payload = p_dict(params, 'payload')
		if not payload:
			raise missing('payload')
		ident = p_str(params, 'identifier', maxlen=100)
		ts = p_int(params, 'timestamp')
		now = self.now()
		if ts is None:
			ts = now
		elif ts < now - METER_PAST or ts > now + METER_FUTURE:
			raise ApiError(400, 'Timestamp must be within the past 35 '
			    'calendar days or up to 5 minutes in the future.',
			    param='timestamp')
		mt = self.active_meter(name)
		if mt is None:
			raise ApiError(400, "No active meter was found with "
			    "event_name '%s'." % name, code='resource_missing',
			    param='event_name')
		ckey = mt['customer_mapping']['event_payload_key']
		vkey = mt['value_settings']['event_payload_key']
		cus = p_str(payload, ckey, 'payload[%s]' % ckey, required=True)
		self.get_customer(cus, 'payload[%s]' % ckey)
		if mt['default_aggregation']['formula'] == 'count' and \
		    vkey not in payload:
			value = 1
		else:
			raw = p_str(payload, vkey, 'payload[%s]' % vkey,
			    required=True)
			if INT_RE.match(raw) is None:
				raise ApiError(400, 'payload[%s] must be a whole '
				    'number, got %r.' % (vkey, raw[:40]),
				    param='payload[%s]' % vkey)
			value = int(raw)
		if ident is None or ident == '':
			ident = new_id('', 32)
		elif ident in self.meter_idents:
			raise ApiError(400, 'An event with identifier `%s` already '
			    'exists.' % ident, code='resource_already_exists',
			    param='identifier')
		self.meter_idents[ident] = {'meter': mt['id'], 'customer': cus,
		    'timestamp': ts, 'value': value, 'created': now}
		bucket = self.meter_totals.setdefault(mt['id'], {}).setdefault(
		    cus, {}).setdefault(str(ts), [0, 0, 0])
		bucket[0] += value
		bucket[1] += 1
		bucket[2] = value
		return {'object': 'billing.meter_event', 'created': now,
		    'event_name': name, 'identifier': ident, 'livemode': False,
		    'payload': payload, 'timestamp': ts}

	def meter_usage(self, meter_id, customer, start, end):
		"""The meter's aggregate for a customer over [start, end)."""
		mt = self.meters.get(meter_id)
		if mt is None:
			return 0
		formula = mt['default_aggregation']['formula']
		rows = self.meter_totals.get(meter_id, {}).get(customer, {})
		total, last_ts, last = 0, None, 0
		for ts_s, (s, n, lv) in rows.items():
			ts = int(ts_s)
			if not start <= ts < end:
				continue
			if formula == 'sum':
				total += s
			elif formula == 'count':
				total += n
			elif last_ts is None or ts >= last_ts:
				last_ts, last = ts, lv
		return last if formula == 'last' else total

	def api_meter_summaries(self, ctx, params, m):
		mt = self.get_meter(m['id'])
		check_unknown(params, LIST_ONLY + ('customer', 'start_time',
		    'end_time', 'value_grouping_window'))
		cus = p_str(params, 'customer', required=True)
		self.get_customer(cus)
		start = p_int(params, 'start_time', required=True, lo=0)
		end = p_int(params, 'end_time', required=True, lo=0)
		for name, v in (('start_time', start), ('end_time', end)):
			if v % 60:
				raise ApiError(400, '%s must be aligned with minute '
				    'boundaries.' % name, param=name)
		if end <= start:
			raise ApiError(400, 'end_time must be after start_time.',
			    param='end_time')
		window = p_str(params, 'value_grouping_window', choices=('day',
		    'hour'))
		step = {'hour': 3600, 'day': DAY}.get(window, end - start)
		rows, t = [], start
		while t < end and len(rows) < 10000:
			e = min(t + step, end)
			rows.append({'id': new_id('mtrusg_'),
			    'object': 'billing.meter_event_summary',
			    'aggregated_value': self.meter_usage(mt['id'], cus, t, e),
			    'end_time': e, 'livemode': False, 'meter': mt['id'],
			    'start_time': t})
			t = e
		rows.reverse()
		return self.list_page(rows, params,
		    '/v1/billing/meters/%s/event_summaries' % mt['id'])

	# --- amounts ------------------------------------------------------------

	@staticmethod
	def price_amount(price, qty):
		"""Exact amount in cents (Decimal) for qty units of a price."""
		qty = Decimal(qty)
		if price['billing_scheme'] != 'tiered':
			return Decimal(price['unit_amount_decimal'] or 0) * qty
		tiers = price.get('tiers') or []

		def unit(t):
			return Decimal(t['unit_amount_decimal'] or 0)

		def flat(t):
			return Decimal(t['flat_amount_decimal'] or 0)
		if price['tiers_mode'] == 'volume':
			for t in tiers:
				if t['up_to'] is None or qty <= t['up_to']:
					return unit(t) * qty + (flat(t) if qty > 0 else 0)
			return Decimal(0)
		total, lower = Decimal(0), Decimal(0)
		for t in tiers:
			if qty <= lower:
				break
			upper = qty if t['up_to'] is None else \
			    min(qty, Decimal(t['up_to']))
			total += unit(t) * (upper - lower) + flat(t)
			lower = upper
			if t['up_to'] is None:
				break
		return total

	@staticmethod
	def interval_text(price):
		r = price.get('recurring') or {}
		if not r:
			return ''
		n = r.get('interval_count', 1)
		return r['interval'] if n == 1 else '%d %ss' % (n, r['interval'])

	def price_text(self, price):
		per = self.interval_text(price)
		per = ' / ' + per if per else ''
		if price['billing_scheme'] != 'tiered':
			s = fmt_money(Decimal(price['unit_amount_decimal'] or 0),
			    price['currency'])
			if self.is_metered(price):
				return '%s per unit%s' % (s, per)
			return s + per
		parts, lower = [], 0
		for t in price.get('tiers') or []:
			u = fmt_money(Decimal(t['unit_amount_decimal'] or 0),
			    price['currency'])
			if t['up_to'] is None:
				parts.append('%s each above %s' % (u, '{:,}'.format(lower))
				    if lower else '%s each' % u)
			else:
				parts.append('%s each up to %s' % (u,
				    '{:,}'.format(t['up_to'])))
				lower = t['up_to']
		return '; '.join(parts) + per

	@staticmethod
	def is_metered(price):
		return (price.get('recurring') or {}).get('usage_type') == 'metered'

	def product_name(self, price):
		p = self.products.get(price['product'])
		return p['name'] if p else price['product']

	# --- rendering ----------------------------------------------------------

	@staticmethod
	def plan_of(price):
		r = price.get('recurring') or {}
		return {'id': price['id'], 'object': 'plan',
		    'active': price['active'], 'amount': price['unit_amount'],
		    'amount_decimal': price['unit_amount_decimal'],
		    'billing_scheme': price['billing_scheme'],
		    'created': price['created'], 'currency': price['currency'],
		    'interval': r.get('interval'),
		    'interval_count': r.get('interval_count'), 'livemode': False,
		    'metadata': price['metadata'], 'meter': r.get('meter'),
		    'nickname': price['nickname'], 'product': price['product'],
		    'tiers_mode': price['tiers_mode'], 'transform_usage': None,
		    'trial_period_days': None, 'usage_type': r.get('usage_type')}

	def render_item(self, sub, it):
		price = self.prices[it['price']]
		d = {'id': it['id'], 'object': 'subscription_item',
		    'billing_thresholds': None, 'created': it['created'],
		    'current_period_end': sub['current_period_end'],
		    'current_period_start': sub['current_period_start'],
		    'discounts': [], 'metadata': dict(it['metadata']),
		    'plan': self.plan_of(price), 'price': copy.deepcopy(price),
		    'subscription': sub['id'], 'tax_rates': []}
		if it['quantity'] is not None:
			d['quantity'] = it['quantity']
		return d

	def render_subscription(self, sub):
		items = [self.render_item(sub, it) for it in sub['items']]
		return {
		    'id': sub['id'], 'object': 'subscription',
		    'application': None, 'application_fee_percent': None,
		    'automatic_tax': {'disabled_reason': None, 'enabled': False,
		        'liability': None},
		    'billing_cycle_anchor': sub['billing_cycle_anchor'],
		    'billing_cycle_anchor_config': None,
		    'billing_mode': {'type': 'classic'},
		    'billing_thresholds': None, 'cancel_at': sub['cancel_at'],
		    'cancel_at_period_end': sub['cancel_at_period_end'],
		    'canceled_at': sub['canceled_at'],
		    'cancellation_details': {'comment': None, 'feedback': None,
		        'reason': sub.get('cancel_reason')},
		    'collection_method': 'charge_automatically',
		    'created': sub['created'], 'currency': sub['currency'],
		    'customer': sub['customer'], 'days_until_due': None,
		    'default_payment_method': None, 'default_source': None,
		    'default_tax_rates': [], 'description': sub['description'],
		    'discounts': list(sub['discounts']),
		    'ended_at': sub['ended_at'],
		    'invoice_settings': {'account_tax_ids': None,
		        'issuer': {'type': 'self'}},
		    'items': {'object': 'list', 'data': items, 'has_more': False,
		        'total_count': len(items),
		        'url': '/v1/subscription_items?subscription=' + sub['id']},
		    'latest_invoice': sub['latest_invoice'], 'livemode': False,
		    'metadata': dict(sub['metadata']),
		    'next_pending_invoice_item_invoice': None,
		    'on_behalf_of': None, 'pause_collection': None,
		    'payment_settings': {'payment_method_options': None,
		        'payment_method_types': None,
		        'save_default_payment_method': 'off'},
		    'pending_invoice_item_interval': None,
		    'pending_setup_intent': None, 'pending_update': None,
		    'schedule': None, 'start_date': sub['start_date'],
		    'status': sub['status'], 'test_clock': None,
		    'transfer_data': None, 'trial_end': sub['trial_end'],
		    'trial_settings': {'end_behavior':
		        {'missing_payment_method': 'create_invoice'}},
		    'trial_start': sub['trial_start'],
		}

	def render_session(self, s):
		return copy.deepcopy(s)

	def session_line_items(self, cs_id):
		data = []
		s = self.sessions[cs_id]
		for li in self.session_items.get(cs_id, []):
			price = self.prices[li['price']]
			qty = li['quantity']
			amount = 0 if qty is None else \
			    round_cents(self.price_amount(price, qty))
			data.append({'id': li['id'], 'object': 'item',
			    'amount_discount': 0, 'amount_subtotal': amount,
			    'amount_tax': 0, 'amount_total': amount,
			    'currency': price['currency'],
			    'description': self.product_name(price),
			    'price': copy.deepcopy(price), 'quantity': qty})
		return {'object': 'list', 'data': data, 'has_more': False,
		    'url': '/v1/checkout/sessions/%s/line_items' % s['id']}

	# --- invoices -----------------------------------------------------------

	def make_line(self, sub, it, price, amount, qty, start, end,
	    description, proration=False, invoice_item=None):
		amount = round_cents(amount)
		return {
		    'id': new_id('il_'), 'object': 'line_item', 'amount': amount,
		    'currency': price['currency'], 'description': description,
		    'discount_amounts': [], 'discountable': True, 'discounts': [],
		    'invoice': None, 'livemode': False, 'metadata': {},
		    'parent': {'type': 'subscription_item_details',
		        'invoice_item_details': None,
		        'subscription_item_details': {
		            'invoice_item': invoice_item, 'proration': proration,
		            'proration_details': {'credited_items': None},
		            'subscription': sub['id'],
		            'subscription_item': it['id'] if it else None}},
		    'period': {'end': end, 'start': start},
		    'pretax_credit_amounts': [],
		    'pricing': {'type': 'price_details',
		        'price_details': {'price': price['id'],
		            'product': price['product']},
		        'unit_amount_decimal': price['unit_amount_decimal']},
		    'quantity': qty, 'subtotal': amount, 'taxes': [],
		    # Pre-basil conveniences.
		    'price': copy.deepcopy(price), 'proration': proration,
		    'subscription': sub['id'],
		    'subscription_item': it['id'] if it else None,
		    'type': 'invoiceitem' if invoice_item else 'subscription'}

	def licensed_line(self, sub, it, start, end, trial=False):
		price = self.prices[it['price']]
		qty = it['quantity'] or 0
		name = self.product_name(price)
		if trial:
			return self.make_line(sub, it, price, 0, qty, start, end,
			    'Trial period for %s' % name)
		return self.make_line(sub, it, price,
		    self.price_amount(price, qty), qty, start, end,
		    '%d × %s (at %s)' % (qty, name, self.price_text(price)))

	def metered_line(self, sub, it, start, end):
		price = self.prices[it['price']]
		usage = self.meter_usage(price['recurring']['meter'],
		    sub['customer'], start, end)
		return self.make_line(sub, it, price,
		    self.price_amount(price, usage), usage, start, end,
		    '%s × %s (usage %s – %s)' % ('{:,}'.format(usage),
		    self.product_name(price), fmt_date(start), fmt_date(end)))

	def pending_lines(self, sub):
		out = []
		for pi in sub['pending_items']:
			price = self.prices[pi['price']]
			it = {'id': pi['subscription_item']}
			out.append(self.make_line(sub, it, price,
			    Decimal(pi['amount']), pi['quantity'],
			    pi['period']['start'], pi['period']['end'],
			    pi['description'], proration=True,
			    invoice_item=pi['id']))
		return out

	def cycle_lines(self, sub):
		"""
		What the end of the current period bills: licensed items for the
		next period (unless the subscription ends there), metered usage of
		the ending period (not during a trial), pending prorations.
		"""
		start, end = sub['current_period_start'], sub['current_period_end']
		trial = sub['status'] == 'trialing'
		nstart = end
		nend = self.period_end_after(sub, end, trial)
		lines = []
		for it in sub['items']:
			price = self.prices[it['price']]
			if self.is_metered(price):
				if not trial:
					lines.append(self.metered_line(sub, it, start, end))
			elif not sub['cancel_at_period_end']:
				lines.append(self.licensed_line(sub, it, nstart, nend))
		return lines + self.pending_lines(sub)

	def new_invoice(self, sub, reason, lines, pstart, pend):
		cus = self.customers.get(sub['customer']) or {}
		iid = new_id('in_')
		for ln in lines:
			ln['invoice'] = iid
		total = sum(ln['amount'] for ln in lines)
		due = max(total, 0)
		inv = {
		    'id': iid, 'object': 'invoice', 'account_country': 'US',
		    'account_name': 'Tollgate (Stripe emulator)',
		    'amount_due': due, 'amount_overpaid': 0, 'amount_paid': 0,
		    'amount_remaining': due, 'amount_shipping': 0,
		    'attempt_count': 0, 'attempted': False,
		    'auto_advance': True, 'automatic_tax': {'enabled': False,
		        'liability': None, 'status': None},
		    'automatically_finalizes_at': None, 'billing_reason': reason,
		    'collection_method': 'charge_automatically',
		    'created': self.now(), 'currency': sub['currency'],
		    'custom_fields': None, 'customer': sub['customer'],
		    'customer_address': cus.get('address'),
		    'customer_email': cus.get('email'),
		    'customer_name': cus.get('name'),
		    'customer_phone': cus.get('phone'),
		    'customer_shipping': None, 'customer_tax_exempt': 'none',
		    'customer_tax_ids': [], 'default_payment_method': None,
		    'default_source': None, 'default_tax_rates': [],
		    'description': None, 'discounts': [], 'due_date': None,
		    'effective_at': None, 'ending_balance': None, 'footer': None,
		    'from_invoice': None, 'hosted_invoice_url': None,
		    'invoice_pdf': None, 'issuer': {'type': 'self'},
		    'last_finalization_error': None, 'latest_revision': None,
		    'lines': {'object': 'list', 'data': lines, 'has_more': False,
		        'total_count': len(lines),
		        'url': '/v1/invoices/%s/lines' % iid},
		    'livemode': False, 'metadata': {},
		    'next_payment_attempt': None, 'number': None,
		    'on_behalf_of': None,
		    'parent': {'type': 'subscription_details',
		        'quote_details': None,
		        'subscription_details': {
		            'metadata': dict(sub['metadata']),
		            'subscription': sub['id']}},
		    'payment_settings': {'default_mandate': None,
		        'payment_method_options': None,
		        'payment_method_types': None},
		    'period_end': pend, 'period_start': pstart,
		    'post_payment_credit_notes_amount': 0,
		    'pre_payment_credit_notes_amount': 0, 'receipt_number': None,
		    'rendering': None, 'shipping_cost': None,
		    'shipping_details': None, 'starting_balance': 0,
		    'statement_descriptor': None, 'status': 'draft',
		    'status_transitions': {'finalized_at': None,
		        'marked_uncollectible_at': None, 'paid_at': None,
		        'voided_at': None},
		    'subscription': sub['id'], 'subtotal': total,
		    'subtotal_excluding_tax': total, 'test_clock': None,
		    'total': total, 'total_discount_amounts': [],
		    'total_excluding_tax': total, 'total_pretax_credit_amounts': [],
		    'total_taxes': [], 'webhooks_delivered_at': None}
		return inv

	def store_invoice(self, inv):
		self.invoices[inv['id']] = inv

	def finalize(self, inv):
		cus = self.customers.get(inv['customer'])
		if cus and not cus.get('deleted'):
			inv['number'] = '%s-%04d' % (cus['invoice_prefix'],
			    cus['next_invoice_sequence'])
			cus['next_invoice_sequence'] += 1
		else:
			inv['number'] = 'EMU-%s' % inv['id'][-8:]
		inv['status'] = 'open'
		now = self.now()
		inv['status_transitions']['finalized_at'] = now
		inv['effective_at'] = now
		inv['hosted_invoice_url'] = '%s/i/%s' % (self.base, inv['id'])
		inv['invoice_pdf'] = '%s/i/%s?pdf=1' % (self.base, inv['id'])

	def mark_paid(self, inv):
		inv['status'] = 'paid'
		inv['amount_paid'] = inv['amount_due']
		inv['amount_remaining'] = 0
		if inv['amount_due'] > 0:
			inv['attempted'] = True
			inv['attempt_count'] += 1
		inv['next_payment_attempt'] = None
		inv['status_transitions']['paid_at'] = self.now()

	def invoice_and_pay(self, ctx, sub, reason, lines, pstart, pend):
		"""A subscription invoice made, finalized and paid, 3 events."""
		inv = self.new_invoice(sub, reason, lines, pstart, pend)
		self.store_invoice(inv)
		self.emit(ctx, 'invoice.created', inv)
		self.finalize(inv)
		self.emit(ctx, 'invoice.finalized', inv)
		self.mark_paid(inv)
		self.emit(ctx, 'invoice.paid', inv)
		sub['latest_invoice'] = inv['id']
		sub['pending_items'] = []
		return inv

	# --- subscriptions ------------------------------------------------------

	def base_price(self, sub):
		for it in sub['items']:
			p = self.prices[it['price']]
			if not self.is_metered(p):
				return p
		return self.prices[sub['items'][0]['price']]

	def period_end_after(self, sub, start, from_trial=False):
		"""End of the period starting at start (the cycle after it)."""
		r = self.base_price(sub)['recurring']
		if from_trial or sub['status'] == 'trialing':
			return add_interval(start, r['interval'], r['interval_count'])
		return add_interval(sub['billing_cycle_anchor'], r['interval'],
		    r['interval_count'] * (sub['cycle'] + 2))

	def new_period(self, sub):
		"""Move to the next period (after a renewal or a trial end)."""
		start = sub['current_period_end']
		if sub['status'] == 'trialing':
			sub['billing_cycle_anchor'] = start
			sub['cycle'] = 0
		else:
			sub['cycle'] += 1
		r = self.base_price(sub)['recurring']
		sub['current_period_start'] = start
		sub['current_period_end'] = add_interval(
		    sub['billing_cycle_anchor'], r['interval'],
		    r['interval_count'] * (sub['cycle'] + 1))

	def plan_name(self, sub):
		for it in sub['items']:
			key = self.prices[it['price']]['lookup_key'] or ''
			m = PLAN_RE.match(key)
			if m:
				return m.group(1)
		return None

	def get_sub(self, sid, param='id', status=404):
		sub = self.subscriptions.get(sid) if isinstance(sid, str) else None
		if sub is None:
			raise no_such('subscription', sid, param, status)
		return sub

	def api_sub_get(self, ctx, params, m):
		sub = self.get_sub(m['id'])
		return self.expand(self.render_subscription(sub),
		    expand_paths(params))

	def api_sub_list(self, ctx, params, m):
		check_unknown(params, LIST_ONLY + ('customer', 'status', 'price',
		    'collection_method', 'current_period_end',
		    'current_period_start', 'test_clock', 'automatic_tax'))
		cus = p_str(params, 'customer')
		status = p_str(params, 'status', choices=('active', 'all',
		    'canceled', 'ended', 'incomplete', 'incomplete_expired',
		    'past_due', 'paused', 'trialing', 'unpaid'))
		price = p_str(params, 'price')
		out = []
		for sub in reversed(list(self.subscriptions.values())):
			if cus and sub['customer'] != cus:
				continue
			st = sub['status']
			if status is None and st in ('canceled',
			    'incomplete_expired'):
				continue
			if status == 'ended' and st not in ('canceled',
			    'incomplete_expired'):
				continue
			if status not in (None, 'all', 'ended') and st != status:
				continue
			if price and all(it['price'] != price for it in sub['items']):
				continue
			out.append(self.render_subscription(sub))
		return self.list_page(out, params, '/v1/subscriptions')

	def item_amount(self, it):
		if it is None:
			return Decimal(0)
		price = self.prices[it['price']]
		if self.is_metered(price):
			return Decimal(0)
		return self.price_amount(price, it['quantity'] or 0)

	def update_subscription(self, ctx, sub, params):
		"""POST /v1/subscriptions/ID and the portal: all or nothing."""
		saved = copy.deepcopy(sub)
		try:
			return self._update_subscription(ctx, sub, params)
		except ApiError:
			sub.clear()
			sub.update(saved)
			raise

	def _update_subscription(self, ctx, sub, params):
		if sub['status'] in ('canceled', 'incomplete_expired'):
			raise ApiError(400, 'A canceled subscription can only update '
			    'its cancellation_details and metadata.')
		behavior = p_str(params, 'proration_behavior',
		    choices=('create_prorations', 'none', 'always_invoice')) or \
		    'create_prorations'
		cape = p_bool(params, 'cancel_at_period_end')
		description = p_str(params, 'description')
		metadata = apply_metadata(sub['metadata'], params)
		by_id = {it['id']: it for it in sub['items']}
		changes = []
		for i, raw in enumerate(p_list(params, 'items')):
			lab = 'items[%d]' % i
			if not isinstance(raw, dict):
				raise ApiError(400, 'Invalid hash', param=lab)
			check_unknown(raw, {'id', 'price', 'quantity', 'deleted',
			    'metadata', 'clear_usage', 'discounts', 'tax_rates',
			    'billing_thresholds'}, lab)
			iid = p_str(raw, 'id', lab + '[id]')
			if iid is not None and iid not in by_id:
				raise no_such('subscription item', iid, lab + '[id]')
			pid = p_str(raw, 'price', lab + '[price]')
			price = None
			if pid is not None:
				price = self.get_price(pid, lab + '[price]')
				if not price['active']:
					raise ApiError(400, 'The price specified is '
					    'inactive.', param=lab + '[price]')
				if price['type'] != 'recurring':
					raise ApiError(400, 'The price specified is not '
					    'recurring.', param=lab + '[price]')
			elif iid is None:
				raise missing(lab + '[price]')
			deleted = p_bool(raw, 'deleted', lab + '[deleted]') or False
			if deleted and iid is None:
				raise missing(lab + '[id]')
			qty = p_int(raw, 'quantity', lab + '[quantity]', lo=0)
			eff = price or self.prices[by_id[iid]['price']]
			if qty is not None and self.is_metered(eff):
				raise ApiError(400, 'Quantity should not be specified '
				    'for metered prices.', param=lab + '[quantity]')
			md = raw.get('metadata')
			changes.append((iid, price, qty, deleted, md, lab))
		# Apply.
		before = self.render_subscription(sub)
		old = {it['id']: copy.deepcopy(it) for it in sub['items']}
		for iid, price, qty, deleted, md, lab in changes:
			if deleted:
				sub['items'] = [x for x in sub['items'] if x['id'] != iid]
				continue
			if iid is None:
				it = {'id': new_id('si_', 14), 'price': price['id'],
				    'quantity': None, 'created': self.now(),
				    'metadata': {}}
				sub['items'].append(it)
			else:
				it = next(x for x in sub['items'] if x['id'] == iid)
				if price is not None:
					it['price'] = price['id']
			p = self.prices[it['price']]
			if self.is_metered(p):
				it['quantity'] = None
			elif qty is not None:
				it['quantity'] = qty
			elif it['quantity'] is None:
				it['quantity'] = 1
			if md is not None:
				it['metadata'] = apply_metadata(it['metadata'],
				    {'metadata': md}, label=lab + '[metadata]')
		if not sub['items']:
			raise ApiError(400, 'A subscription needs at least one item.',
			    param='items')
		if cape is not None:
			sub['cancel_at_period_end'] = cape
			sub['cancel_at'] = sub['current_period_end'] if cape else None
			sub['canceled_at'] = self.now() if cape else None
		if description is not None:
			sub['description'] = description or None
		sub['metadata'] = metadata
		# Prorations for licensed changes mid-period while active.
		now = self.now()
		ps, pe = sub['current_period_start'], sub['current_period_end']
		new = {it['id']: it for it in sub['items']}
		if behavior != 'none' and sub['status'] in ('active', 'past_due') \
		    and ps <= now < pe:
			share = Decimal(pe - now) / Decimal(pe - ps)
			for iid in list(old) + [i for i in new if i not in old]:
				o, n = old.get(iid), new.get(iid)
				if o is not None and n is not None and \
				    o['price'] == n['price'] and \
				    o['quantity'] == n['quantity']:
					continue
				delta = self.item_amount(n) - self.item_amount(o)
				if delta == 0:
					continue
				ref = n or o
				price = self.prices[ref['price']]
				sub['pending_items'].append({
				    'id': new_id('ii_'),
				    'amount': round_cents(delta * share),
				    'description': 'Proration for %s (%s → %s) from %s' % (
				        self.product_name(price),
				        self.item_text(o), self.item_text(n),
				        fmt_date(now)),
				    'period': {'start': now, 'end': pe},
				    'price': ref['price'],
				    'quantity': (n or {}).get('quantity') or 0,
				    'subscription_item': iid})
		after = self.render_subscription(sub)
		prev = self.diff(before, after)
		if prev:
			self.emit(ctx, 'customer.subscription.updated', after, prev)
		if behavior == 'always_invoice' and sub['pending_items']:
			self.invoice_and_pay(ctx, sub, 'subscription_update',
			    self.pending_lines(sub), now, now)
		return sub

	def item_text(self, it):
		if it is None:
			return 'none'
		price = self.prices[it['price']]
		q = it['quantity']
		return '%s%s' % ('%d × ' % q if q is not None else '',
		    price['lookup_key'] or price['id'])

	def api_sub_update(self, ctx, params, m):
		sub = self.get_sub(m['id'])
		check_unknown(params, {'items', 'cancel_at_period_end',
		    'proration_behavior', 'metadata', 'description',
		    'payment_behavior', 'proration_date', 'default_payment_method',
		    'collection_method', 'off_session', 'cancellation_details'})
		self.update_subscription(ctx, sub, params)
		return self.expand(self.render_subscription(sub),
		    expand_paths(params))

	def cancel_now(self, ctx, sub, invoice_now=False):
		before = self.render_subscription(sub)
		now = self.now()
		if invoice_now:
			lines = [self.metered_line(sub, it,
			    sub['current_period_start'], now)
			    for it in sub['items']
			    if self.is_metered(self.prices[it['price']])]
			lines += self.pending_lines(sub)
			if lines:
				self.invoice_and_pay(ctx, sub, 'subscription_cycle',
				    lines, sub['current_period_start'], now)
		sub['status'] = 'canceled'
		sub['canceled_at'] = sub['canceled_at'] or now
		sub['ended_at'] = now
		sub['cancel_reason'] = 'cancellation_requested'
		after = self.render_subscription(sub)
		self.emit(ctx, 'customer.subscription.deleted', after,
		    self.diff(before, after))

	def api_sub_cancel(self, ctx, params, m):
		sub = self.get_sub(m['id'])
		check_unknown(params, {'invoice_now', 'prorate',
		    'cancellation_details'})
		if sub['status'] in ('canceled', 'incomplete_expired'):
			raise ApiError(400, 'This subscription is already canceled.',
			    code='resource_missing')
		self.cancel_now(ctx, sub, p_bool(params, 'invoice_now') or False)
		return self.render_subscription(sub)

	def make_subscription(self, ctx, cus_id, line_items, trial_end,
	    metadata, discounts, session_id):
		now = self.now()
		sub = {'id': new_id('sub_'), 'customer': cus_id,
		    'status': 'trialing' if trial_end else 'active',
		    'created': now, 'start_date': now,
		    'billing_cycle_anchor': trial_end or now, 'cycle': 0,
		    'trial_start': now if trial_end else None,
		    'trial_end': trial_end, 'cancel_at_period_end': False,
		    'cancel_at': None, 'canceled_at': None, 'ended_at': None,
		    'metadata': dict(metadata), 'latest_invoice': None,
		    'discounts': list(discounts), 'description': None,
		    'currency': 'usd', 'items': [], 'pending_items': [],
		    'trial_will_end_sent': False, 'checkout_session': session_id,
		    'current_period_start': now, 'current_period_end': now}
		for li in line_items:
			price = self.prices[li['price']]
			sub['currency'] = price['currency']
			sub['items'].append({'id': new_id('si_', 14),
			    'price': price['id'], 'created': now, 'metadata': {},
			    'quantity': None if self.is_metered(price) else
			        li['quantity']})
		if trial_end:
			sub['current_period_end'] = trial_end
		else:
			r = self.base_price(sub)['recurring']
			sub['current_period_end'] = add_interval(now, r['interval'],
			    r['interval_count'])
		self.subscriptions[sub['id']] = sub
		return sub

	# --- checkout -----------------------------------------------------------

	SESSION_PARAMS = {'mode', 'customer', 'customer_email', 'line_items',
	    'client_reference_id', 'metadata', 'subscription_data',
	    'discounts', 'allow_promotion_codes', 'success_url', 'cancel_url',
	    'expires_at', 'payment_method_types', 'payment_method_collection',
	    'billing_address_collection', 'customer_update', 'locale',
	    'ui_mode', 'automatic_tax', 'tax_id_collection',
	    'consent_collection', 'custom_text', 'phone_number_collection',
	    'saved_payment_method_options', 'currency', 'submit_type',
	    'payment_method_configuration', 'custom_fields'}

	def api_session_create(self, ctx, params, m):
		check_unknown(params, self.SESSION_PARAMS)
		mode = p_str(params, 'mode', required=True, choices=('payment',
		    'setup', 'subscription'))
		if mode != 'subscription':
			raise ApiError(400, 'The emulator supports mode=subscription '
			    'only.', param='mode')
		cus = p_str(params, 'customer')
		email = p_str(params, 'customer_email', maxlen=512)
		if cus and email:
			raise ApiError(400, 'You may only specify one of these '
			    'parameters: customer, customer_email.',
			    param='customer_email')
		if cus:
			self.get_customer(cus)
		raw_items = p_list(params, 'line_items')
		if not raw_items:
			raise missing('line_items')
		if len(raw_items) > 20:
			raise ApiError(400, 'At most 20 line items.',
			    param='line_items')
		items = []
		for i, li in enumerate(raw_items):
			lab = 'line_items[%d]' % i
			if not isinstance(li, dict):
				raise ApiError(400, 'Invalid hash', param=lab)
			check_unknown(li, {'price', 'quantity', 'adjustable_quantity',
			    'tax_rates', 'dynamic_tax_rates', 'metadata'}, lab)
			pid = p_str(li, 'price', lab + '[price]', required=True)
			price = self.get_price(pid, lab + '[price]')
			if not price['active']:
				raise ApiError(400, 'The price `%s` is not active.' % pid,
				    param=lab + '[price]')
			if price['type'] != 'recurring':
				raise ApiError(400, 'The emulator supports recurring '
				    'prices only.', param=lab + '[price]')
			qty = p_int(li, 'quantity', lab + '[quantity]', lo=0,
			    hi=999999)
			if self.is_metered(price):
				if qty is not None:
					raise ApiError(400, 'Quantity should not be '
					    'specified where usage_type is `metered`. '
					    'Remove quantity from `%s`.' % lab,
					    param=lab + '[quantity]')
			elif qty is None:
				raise missing(lab + '[quantity]')
			items.append({'id': new_id('li_'), 'price': pid,
			    'quantity': qty})
		currencies = {self.prices[li['price']]['currency'] for li in items}
		if len(currencies) > 1:
			raise ApiError(400, 'All prices must use the same currency.',
			    param='line_items')
		sd = p_dict(params, 'subscription_data')
		check_unknown(sd, {'trial_period_days', 'trial_end', 'metadata',
		    'description', 'billing_cycle_anchor', 'proration_behavior',
		    'default_tax_rates', 'application_fee_percent',
		    'on_behalf_of', 'transfer_data', 'trial_settings',
		    'billing_mode', 'invoice_settings'}, 'subscription_data')
		trial_days = p_int(sd, 'trial_period_days',
		    'subscription_data[trial_period_days]', lo=1, hi=730)
		trial_end = p_int(sd, 'trial_end', 'subscription_data[trial_end]')
		if trial_days and trial_end:
			raise ApiError(400, 'You may only specify one of '
			    'trial_period_days and trial_end.',
			    param='subscription_data[trial_end]')
		now = self.now()
		if trial_end is not None and trial_end < now + 2 * DAY:
			raise ApiError(400, 'trial_end must be at least 48 hours in '
			    'the future.', param='subscription_data[trial_end]')
		sub_md = apply_metadata({}, sd, label='subscription_data[metadata]')
		discounts = []
		for i, d in enumerate(p_list(params, 'discounts')):
			if not isinstance(d, dict):
				raise ApiError(400, 'Invalid hash',
				    param='discounts[%d]' % i)
			check_unknown(d, {'coupon', 'promotion_code'},
			    'discounts[%d]' % i)
			discounts.append({'coupon': d.get('coupon'),
			    'promotion_code': d.get('promotion_code')})
		if len(discounts) > 1:
			raise ApiError(400, 'Only one discount may be specified.',
			    param='discounts')
		success = p_str(params, 'success_url')
		cancel = p_str(params, 'cancel_url')
		for name, u in (('success_url', success), ('cancel_url', cancel)):
			if u and not re.match(r'https?://', u):
				raise ApiError(400, 'Not a valid URL', code='url_invalid',
				    param=name)
		expires = p_int(params, 'expires_at')
		if expires is not None and not now + 1800 <= expires <= now + DAY:
			raise ApiError(400, 'expires_at must be between 30 minutes '
			    'and 24 hours from now.', param='expires_at')
		subtotal = sum(round_cents(self.price_amount(
		    self.prices[li['price']], li['quantity']))
		    for li in items if li['quantity'] is not None)
		today = 0 if trial_days or trial_end else subtotal
		sid = new_id('cs_test_', 58)
		s = {'id': sid, 'object': 'checkout.session',
		    'adaptive_pricing': None, 'after_expiration': None,
		    'allow_promotion_codes': p_bool(params,
		        'allow_promotion_codes'),
		    'amount_subtotal': today, 'amount_total': today,
		    'automatic_tax': {'enabled': False, 'liability': None,
		        'provider': None, 'status': None},
		    'billing_address_collection': None, 'cancel_url': cancel,
		    'client_reference_id': p_str(params, 'client_reference_id',
		        maxlen=200),
		    'client_secret': None, 'collected_information': None,
		    'consent': None, 'consent_collection': None, 'created': now,
		    'currency': currencies.pop(), 'custom_fields': [],
		    'custom_text': {'after_submit': None, 'shipping_address': None,
		        'submit': None, 'terms_of_service_acceptance': None},
		    'customer': cus or None,
		    'customer_creation': None if cus else 'always',
		    'customer_details': None, 'customer_email': email or None,
		    'discounts': discounts, 'expires_at': expires or now + DAY,
		    'invoice': None, 'invoice_creation': None, 'livemode': False,
		    'locale': p_str(params, 'locale'),
		    'metadata': apply_metadata({}, params), 'mode': mode,
		    'payment_intent': None, 'payment_link': None,
		    'payment_method_collection': p_str(params,
		        'payment_method_collection') or 'always',
		    'payment_method_types': ['card'], 'payment_status': 'unpaid',
		    'phone_number_collection': {'enabled': False},
		    'recovered_from': None, 'setup_intent': None,
		    'shipping_address_collection': None, 'shipping_cost': None,
		    'shipping_options': [], 'status': 'open', 'submit_type': None,
		    'subscription': None, 'success_url': success,
		    'total_details': {'amount_discount': 0, 'amount_shipping': 0,
		        'amount_tax': 0},
		    'ui_mode': 'hosted_page',
		    'url': '%s/c/pay/%s' % (self.base, sid),
		    # Internal: what Pay needs.
		    '_trial_days': trial_days, '_trial_end': trial_end,
		    '_sub_metadata': sub_md}
		self.sessions[sid] = s
		self.session_items[sid] = items
		return self.expand(self.public(s), expand_paths(params))

	@staticmethod
	def public(obj):
		return {k: copy.deepcopy(v) for k, v in obj.items()
		    if not k.startswith('_')}

	def get_session(self, sid, status=404):
		s = self.sessions.get(sid)
		if s is None:
			raise no_such('checkout.session', sid, 'session', status)
		return s

	def api_session_get(self, ctx, params, m):
		s = self.get_session(m['id'])
		return self.expand(self.public(s), expand_paths(params))

	def api_session_items(self, ctx, params, m):
		self.get_session(m['id'])
		lst = self.session_line_items(m['id'])
		return self.list_page(lst['data'], params, lst['url'])

	def api_session_list(self, ctx, params, m):
		check_unknown(params, LIST_ONLY + ('customer', 'subscription',
		    'status', 'payment_intent', 'payment_link', 'customer_details'))
		cus = p_str(params, 'customer')
		sub = p_str(params, 'subscription')
		st = p_str(params, 'status')
		out = [self.public(s) for s in reversed(list(
		    self.sessions.values())) if (not cus or s['customer'] == cus)
		    and (not sub or s['subscription'] == sub) and
		    (not st or s['status'] == st)]
		return self.list_page(out, params, '/v1/checkout/sessions')

	def expire_session(self, ctx, s):
		s['status'] = 'expired'
		s['url'] = None
		self.emit(ctx, 'checkout.session.expired', self.public(s))

	def api_session_expire(self, ctx, params, m):
		s = self.get_session(m['id'])
		if s['status'] != 'open':
			raise ApiError(400, 'Only Checkout Sessions with a status in '
			    '["open"] can be expired.')
		self.expire_session(ctx, s)
		return self.public(s)

	def checkout_pay(self, ctx, s, email=None):
		"""The Pay button: customer, subscription, invoice, 5 events."""
		now = self.now()
		if s['customer']:
			cus = self.get_customer(s['customer'])
		else:
			fields = {}
			mail = s['customer_email'] or email
			if mail:
				fields['email'] = mail
			cus = self.make_customer(ctx, fields)
		trial_end = s['_trial_end']
		if s['_trial_days']:
			trial_end = now + s['_trial_days'] * DAY
		sub = self.make_subscription(ctx, cus['id'],
		    self.session_items[s['id']], trial_end, s['_sub_metadata'],
		    [new_id('di_') for _ in s['discounts']], s['id'])
		trial = bool(trial_end)
		lines = [self.licensed_line(sub, it, sub['current_period_start'],
		    sub['current_period_end'], trial=trial) for it in sub['items']
		    if not self.is_metered(self.prices[it['price']])]
		inv = self.new_invoice(sub, 'subscription_create', lines, now, now)
		self.store_invoice(inv)
		snap_created = copy.deepcopy(inv)
		self.finalize(inv)
		snap_final = copy.deepcopy(inv)
		self.mark_paid(inv)
		sub['latest_invoice'] = inv['id']
		s['status'] = 'complete'
		s['payment_status'] = 'paid' if inv['amount_due'] > 0 else \
		    'no_payment_required'
		s['customer'] = cus['id']
		s['subscription'] = sub['id']
		s['invoice'] = inv['id']
		s['customer_details'] = {'address': None, 'email': cus['email'],
		    'name': cus['name'], 'phone': None, 'tax_exempt': 'none',
		    'tax_ids': []}
		self.emit(ctx, 'checkout.session.completed', self.public(s))
		self.emit(ctx, 'customer.subscription.created',
		    self.render_subscription(sub))
		self.emit(ctx, 'invoice.created', snap_created)
		self.emit(ctx, 'invoice.finalized', snap_final)
		self.emit(ctx, 'invoice.paid', inv)
		return sub

	# --- billing portal -----------------------------------------------------

	def api_portal_create(self, ctx, params, m):
		check_unknown(params, {'customer', 'return_url', 'configuration',
		    'flow_data', 'locale', 'on_behalf_of', 'customer_account'})
		cus = p_str(params, 'customer', required=True)
		self.get_customer(cus)
		ret = p_str(params, 'return_url')
		if ret and not re.match(r'https?://', ret):
			raise ApiError(400, 'Not a valid URL', code='url_invalid',
			    param='return_url')
		bid = new_id('bps_')
		ps = {'id': bid, 'object': 'billing_portal.session',
		    'configuration': p_str(params, 'configuration') or
		        self.portal_config,
		    'created': self.now(), 'customer': cus,
		    'customer_account': None, 'flow': None, 'livemode': False,
		    'locale': p_str(params, 'locale'), 'on_behalf_of': None,
		    'return_url': ret or None,
		    'url': '%s/p/session/%s' % (self.base, bid)}
		self.portal_sessions[bid] = ps
		return copy.deepcopy(ps)

	def plan_choices(self, current):
		out = []
		for p in self.prices.values():
			m = PLAN_RE.match(p['lookup_key'] or '')
			if m and p['active'] and p['type'] == 'recurring' and \
			    not self.is_metered(p) and m.group(1) != current:
				out.append((m.group(1), p))
		out.sort(key=lambda x: (Decimal(x[1]['unit_amount_decimal'] or 0),
		    x[0]))
		return out

	def switch_plan(self, ctx, sub, plan):
		new_base = self.price_by_lookup('tollgate_%s_base' % plan)
		if new_base is None or self.is_metered(new_base):
			raise ApiError(400, 'No active price tollgate_%s_base.' % plan)
		old = self.plan_name(sub)
		changes, seen = [], set()
		for it in sub['items']:
			p = self.prices[it['price']]
			key = p['lookup_key'] or ''
			if not self.is_metered(p):
				if old is None or key == 'tollgate_%s_base' % old:
					changes.append({'id': it['id'],
					    'price': new_base['id']})
				continue
			prefix = 'tollgate_%s_' % old if old else None
			if prefix and key.startswith(prefix):
				metric = key[len(prefix):]
				seen.add(metric)
				np = self.price_by_lookup('tollgate_%s_%s' % (plan,
				    metric))
				if np is not None and self.is_metered(np):
					changes.append({'id': it['id'], 'price': np['id']})
				else:
					changes.append({'id': it['id'], 'deleted': 'true'})
		prefix = 'tollgate_%s_' % plan
		for p in self.prices.values():
			key = p['lookup_key'] or ''
			if p['active'] and self.is_metered(p) and \
			    key.startswith(prefix) and key[len(prefix):] not in seen:
				changes.append({'price': p['id']})
		self.update_subscription(ctx, sub, {'items': changes,
		    'proration_behavior': 'create_prorations'})

	# --- invoices API -------------------------------------------------------

	def get_invoice(self, iid, status=404):
		inv = self.invoices.get(iid)
		if inv is None:
			raise no_such('invoice', iid, 'invoice', status)
		return inv

	def api_invoice_list(self, ctx, params, m):
		check_unknown(params, LIST_ONLY + ('customer', 'subscription',
		    'status', 'collection_method', 'due_date'))
		cus = p_str(params, 'customer')
		sub = p_str(params, 'subscription')
		st = p_str(params, 'status', choices=('draft', 'open', 'paid',
		    'uncollectible', 'void'))
		out = [copy.deepcopy(i) for i in reversed(list(
		    self.invoices.values())) if (not cus or i['customer'] == cus)
		    and (not sub or i['subscription'] == sub) and
		    (not st or i['status'] == st)]
		return self.list_page(out, params, '/v1/invoices')

	def api_invoice_get(self, ctx, params, m):
		return self.expand(copy.deepcopy(self.get_invoice(m['id'])),
		    expand_paths(params))

	def api_invoice_lines(self, ctx, params, m):
		inv = self.get_invoice(m['id'])
		return self.list_page(copy.deepcopy(inv['lines']['data']), params,
		    inv['lines']['url'])

	def preview(self, params):
		cus = p_str(params, 'customer')
		sid = p_str(params, 'subscription')
		if not cus and not sid:
			raise missing('customer')
		if cus:
			self.get_customer(cus)
		live = ('trialing', 'active', 'past_due', 'unpaid')
		if sid:
			sub = self.get_sub(sid, 'subscription', 400)
			if cus and sub['customer'] != cus:
				raise ApiError(400, 'The subscription does not belong '
				    'to that customer.', param='subscription')
		else:
			subs = [x for x in self.subscriptions.values()
			    if x['customer'] == cus and x['status'] in live]
			sub = subs[-1] if subs else None
		if sub is None or sub['status'] not in live:
			raise ApiError(400, 'No upcoming invoices for customer: %s' %
			    (cus or sub['customer']),
			    code='invoice_upcoming_none')
		lines = self.cycle_lines(sub)
		inv = self.new_invoice(sub, 'upcoming', lines,
		    sub['current_period_start'], sub['current_period_end'])
		inv['id'] = 'upcoming_' + inv['id']
		for ln in lines:
			ln['invoice'] = inv['id']
			ln['id'] = 'il_tmp_' + ln['id'][3:]
		inv['lines']['url'] = '/v1/invoices/upcoming/lines'
		inv['created'] = sub['current_period_end']
		inv['next_payment_attempt'] = sub['current_period_end']
		return self.expand(inv, expand_paths(params))

	def api_invoice_upcoming(self, ctx, params, m):
		check_unknown(params, {'customer', 'subscription',
		    'subscription_items', 'subscription_proration_behavior',
		    'subscription_proration_date', 'automatic_tax'})
		return self.preview(params)

	def api_invoice_upcoming_lines(self, ctx, params, m):
		check_unknown(params, LIST_ONLY + ('customer', 'subscription'))
		query = {k: params[k] for k in ('customer', 'subscription')
		    if k in params}
		inv = self.preview(query)
		return self.list_page(inv['lines']['data'], params,
		    inv['lines']['url'])

	def api_invoice_preview(self, ctx, params, m):
		check_unknown(params, {'customer', 'subscription',
		    'subscription_details', 'automatic_tax', 'preview_mode'})
		return self.preview(params)

	def pay_invoice(self, ctx, inv):
		if inv['status'] != 'open':
			raise ApiError(400, 'Invoice is already %s.' % inv['status'])
		self.mark_paid(inv)
		self.emit(ctx, 'invoice.paid', inv)
		sub = self.subscriptions.get(inv['subscription'])
		if sub and sub['status'] in ('past_due', 'unpaid') and not any(
		    i['status'] == 'open' and i['subscription'] == sub['id']
		    for i in self.invoices.values()):
			before = self.render_subscription(sub)
			sub['status'] = 'active'
			after = self.render_subscription(sub)
			self.emit(ctx, 'customer.subscription.updated', after,
			    self.diff(before, after))

	def api_invoice_pay(self, ctx, params, m):
		inv = self.get_invoice(m['id'])
		check_unknown(params, {'forgive', 'off_session', 'paid_out_of_band',
		    'payment_method', 'source', 'mandate'})
		self.pay_invoice(ctx, inv)
		return copy.deepcopy(inv)

	def api_invoice_void(self, ctx, params, m):
		inv = self.get_invoice(m['id'])
		check_unknown(params, set())
		if inv['status'] != 'open':
			raise ApiError(400, 'You can only void an open invoice.')
		inv['status'] = 'void'
		inv['amount_remaining'] = 0
		inv['status_transitions']['voided_at'] = self.now()
		self.emit(ctx, 'invoice.voided', inv)
		return copy.deepcopy(inv)

	def fail_payment(self, ctx, sub):
		now = self.now()
		lines = [self.licensed_line(sub, it, sub['current_period_start'],
		    sub['current_period_end']) for it in sub['items']
		    if not self.is_metered(self.prices[it['price']])]
		inv = self.new_invoice(sub, 'subscription_cycle', lines,
		    sub['current_period_start'], sub['current_period_end'])
		self.store_invoice(inv)
		self.emit(ctx, 'invoice.created', inv)
		self.finalize(inv)
		self.emit(ctx, 'invoice.finalized', inv)
		inv['attempted'] = True
		inv['attempt_count'] = 1
		inv['next_payment_attempt'] = now + 3 * DAY
		self.emit(ctx, 'invoice.payment_failed', inv)
		before = self.render_subscription(sub)
		sub['status'] = 'past_due'
		sub['latest_invoice'] = inv['id']
		after = self.render_subscription(sub)
		self.emit(ctx, 'customer.subscription.updated', after,
		    self.diff(before, after))
		return inv

	# --- events API ---------------------------------------------------------

	def event_obj(self, eid):
		e = self.events.get(eid)
		return json.loads(e['body']) if e else None

	def api_event_list(self, ctx, params, m):
		check_unknown(params, LIST_ONLY + ('type', 'types',
		    'delivery_success'))
		t = p_str(params, 'type')
		types = p_list(params, 'types')

		def match(et):
			if t:
				return re.fullmatch(re.escape(t).replace(r'\*', '.*'),
				    et) is not None
			return not types or et in types
		out = [json.loads(e['body']) for e in reversed(list(
		    self.events.values())) if match(e['type'])]
		return self.list_page(out, params, '/v1/events')

	def api_event_get(self, ctx, params, m):
		e = self.event_obj(m['id'])
		if e is None:
			raise no_such('event', m['id'], 'id', 404)
		return e

	# --- the clock ----------------------------------------------------------

	def advance(self, ctx, seconds):
		target = self.now() + seconds
		steps = 0
		while steps < 5000:
			best = None
			for sub in self.subscriptions.values():
				st = sub['status']
				cands = []
				if st == 'trialing':
					twe = max(sub['trial_end'] - 3 * DAY, sub['created'])
					if not sub['trial_will_end_sent']:
						cands.append((twe, 0, 'trial_will_end'))
					cands.append((sub['trial_end'], 1, 'trial_end'))
				elif st in ('active', 'past_due', 'unpaid'):
					cands.append((sub['current_period_end'], 2,
					    'period_end'))
				for t, order, kind in cands:
					if t <= target and (best is None or
					    (t, order) < best[:2]):
						best = (t, order, kind, sub)
			for s in self.sessions.values():
				if s['status'] == 'open' and s['expires_at'] <= target \
				    and (best is None or (s['expires_at'], 3) < best[:2]):
					best = (s['expires_at'], 3, 'expire', s)
			if best is None:
				break
			t, _, kind, obj = best
			self.frozen = max(t, self.now())
			try:
				self.milestone(ctx, kind, obj)
			finally:
				self.frozen = None
				self.offset = max(t, self.now()) - int(time.time())
			steps += 1
		self.offset = target - int(time.time())
		return steps

	def milestone(self, ctx, kind, obj):
		if kind == 'expire':
			self.expire_session(ctx, obj)
			return
		sub = obj
		if kind == 'trial_will_end':
			sub['trial_will_end_sent'] = True
			self.emit(ctx, 'customer.subscription.trial_will_end',
			    self.render_subscription(sub))
			return
		if sub['cancel_at_period_end']:
			before = self.render_subscription(sub)
			if kind == 'period_end':
				lines = [self.metered_line(sub, it,
				    sub['current_period_start'],
				    sub['current_period_end']) for it in sub['items']
				    if self.is_metered(self.prices[it['price']])]
				lines += self.pending_lines(sub)
			else:
				lines = []
			sub['status'] = 'canceled'
			sub['ended_at'] = self.now()
			sub['cancel_reason'] = 'cancellation_requested'
			after = self.render_subscription(sub)
			self.emit(ctx, 'customer.subscription.deleted', after,
			    self.diff(before, after))
			if lines:
				self.invoice_and_pay(ctx, sub, 'subscription_cycle',
				    lines, sub['current_period_start'],
				    sub['current_period_end'])
			return
		lines = self.cycle_lines(sub)
		ps, pe = sub['current_period_start'], sub['current_period_end']
		before = self.render_subscription(sub)
		if kind == 'trial_end':
			self.new_period(sub)
			sub['status'] = 'active'
			inv = self.new_invoice(sub, 'subscription_cycle', lines,
			    ps, pe)
			sub['latest_invoice'] = inv['id']
			after = self.render_subscription(sub)
			self.emit(ctx, 'customer.subscription.updated', after,
			    self.diff(before, after))
			self.store_invoice(inv)
			self.emit(ctx, 'invoice.created', inv)
			self.finalize(inv)
			self.emit(ctx, 'invoice.finalized', inv)
			self.mark_paid(inv)
			self.emit(ctx, 'invoice.paid', inv)
			sub['pending_items'] = []
			return
		self.invoice_and_pay(ctx, sub, 'subscription_cycle', lines, ps, pe)
		self.new_period(sub)
		after = self.render_subscription(sub)
		self.emit(ctx, 'customer.subscription.updated', after,
		    self.diff(before, after))

	# --- control endpoints --------------------------------------------------

	def emu_state(self, body, query):
		counts = {
		    'customers': sum(1 for c in self.customers.values()
		        if not c.get('deleted')),
		    'products': len(self.products), 'prices': len(self.prices),
		    'meters': len(self.meters),
		    'meter_events': len(self.meter_idents),
		    'checkout_sessions': len(self.sessions),
		    'portal_sessions': len(self.portal_sessions),
		    'subscriptions': len(self.subscriptions),
		    'invoices': len(self.invoices), 'events': len(self.events)}
		with self.deliverer.cv:
			held = len(self.deliverer.held)
			queued = len(self.deliverer.queue)
			attempts = len(self.deliverer.attempts)
			url = self.deliverer.url
		counts['delivery_attempts'] = attempts
		return {'counts': counts,
		    'clock': {'now': self.now(), 'offset': self.offset},
		    'hold': self.deliverer.hold, 'held': held, 'queued': queued,
		    'faults': self.faults.describe(), 'webhook_url': url,
		    'requests': list(self.requests)}

	def emu_deliveries(self, body, query):
		q = urllib.parse.parse_qs(query)
		ev = (q.get('event') or [None])[0]
		ty = (q.get('type') or [None])[0]
		with self.deliverer.cv:
			data = [dict(a) for a in self.deliverer.attempts
			    if (not ev or a['event'] == ev) and
			    (not ty or a['type'] == ty)]
		return {'data': data}

	def emu_advance(self, body, ctx):
		seconds = body.get('seconds', 0)
		days = body.get('days', 0)
		if not isinstance(seconds, (int, float)) or \
		    not isinstance(days, (int, float)):
			raise ApiError(400, 'seconds and days are numbers')
		total = int(seconds + days * DAY)
		if total < 0:
			raise ApiError(400, 'the clock only moves forward')
		steps = self.advance(ctx, total)
		return {'now': self.now(), 'offset': self.offset,
		    'milestones': steps}

	def emu_fail_payment(self, body, ctx):
		sub = self.get_sub(body.get('subscription'), 'subscription')
		if sub['status'] not in ('active', 'trialing', 'past_due',
		    'unpaid'):
			raise ApiError(400, 'subscription is %s' % sub['status'])
		inv = self.fail_payment(ctx, sub)
		return {'invoice': inv['id'], 'subscription': sub['id'],
		    'status': sub['status']}

	def emu_pay_invoice(self, body, ctx):
		inv = self.get_invoice(body.get('invoice'))
		self.pay_invoice(ctx, inv)
		return {'invoice': inv['id'], 'status': inv['status']}

	def emu_faults(self, body, ctx):
		try:
			self.faults.set(body)
		except (TypeError, ValueError) as e:
			raise ApiError(400, 'bad fault settings: %s' % e)
		return self.faults.describe()

	def emu_reset(self, body, ctx):
		self.reset_data()
		self.faults.set({})
		self.deliverer.clear()
		return {'reset': True}

	def emu_webhook(self, body, ctx):
		url = body.get('url')
		secret = body.get('secret')
		if url is not None and url and not re.match(r'https?://', url):
			raise ApiError(400, 'url must be http(s)')
		self.deliverer.configure(url, secret)
		return {'url': self.deliverer.url,
		    'secrets': len(self.deliverer.secrets)}


# --- HTML ---------------------------------------------------------------------

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:#f6f7fb;color:#1a1f36}
.wrap{max-width:480px;margin:0 auto;padding:20px 16px 40px}
.top{display:flex;align-items:center;justify-content:space-between;gap:8px}
.brand{font-weight:700;letter-spacing:-.01em}
.badge{background:#ffde92;color:#663c00;font-size:12px;font-weight:700;
padding:2px 8px;border-radius:4px;text-transform:uppercase;letter-spacing:.04em}
.card{background:#fff;border-radius:12px;padding:20px;margin-top:16px;
box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06)}
h1{font-size:22px;line-height:1.25;margin:16px 0 4px}
h2{font-size:16px;margin:0 0 8px}
table{width:100%;border-collapse:collapse}
td{padding:10px 0;border-bottom:1px solid #eef0f4;vertical-align:top}
td.amt{text-align:right;white-space:nowrap;padding-left:12px}
tr.total td{font-weight:700;border-bottom:0}
.muted{color:#697386;font-size:14px}
.note{background:#eef6ff;border-radius:8px;padding:10px 12px;font-size:14px;
margin-top:12px}
.ok{background:#e6f7ed;color:#0b5c2b}
.warn{background:#fff4e5;color:#7a4100}
label{display:block;font-size:14px;color:#3c4257;margin:12px 0 4px}
input[type=email]{width:100%;font:inherit;padding:10px 12px;border:1px solid #d5dbe1;
border-radius:8px}
.field{border:1px solid #d5dbe1;border-radius:8px;padding:10px 12px;color:#697386;
font-family:ui-monospace,Menlo,monospace;font-size:15px}
form{margin:12px 0 0}
button,.button{display:block;width:100%;font:inherit;font-weight:600;padding:12px;
border-radius:8px;border:0;cursor:pointer;text-align:center;text-decoration:none}
.primary{background:#635bff;color:#fff}
.secondary{background:#fff;color:#3c4257;border:1px solid #d5dbe1}
.danger{background:#fff;color:#c0123c;border:1px solid #f0b5c1}
.status{display:inline-block;font-size:13px;font-weight:600;padding:1px 8px;
border-radius:10px;background:#eef0f4}
.status.active,.status.trialing,.status.paid{background:#d7f7c2;color:#05690d}
.status.past_due,.status.open{background:#fff0c2;color:#8a5a00}
.status.canceled,.status.void{background:#eef0f4;color:#545969}
a{color:#635bff}
"""


def h(s):
	return html.escape('' if s is None else str(s), quote=True)


def page(title, body):
	return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
	    '<meta name="viewport" content="width=device-width,initial-scale=1">'
	    '<title>%s</title><style>%s</style></head><body><div class="wrap">'
	    '<div class="top"><span class="brand">Stripe emulator</span>'
	    '<span class="badge">Test mode</span></div>%s</div></body></html>\n'
	    % (h(title), CSS, body))


class Pages:
	"""The hosted pages; called with the state lock held."""

	def __init__(self, emu):
		self.emu = emu

	def checkout(self, s, notice=''):
		emu = self.emu
		rows = []
		for li in emu.session_items.get(s['id'], []):
			price = emu.prices[li['price']]
			name = emu.product_name(price)
			if li['quantity'] is None:
				detail = 'Usage-based: %s' % emu.price_text(price)
				amt = 'metered'
			else:
				detail = '%d × %s' % (li['quantity'],
				    emu.price_text(price))
				amt = fmt_money(round_cents(emu.price_amount(price,
				    li['quantity'])), price['currency'])
			rows.append('<tr><td>%s<div class="muted">%s</div></td>'
			    '<td class="amt">%s</td></tr>' % (h(name), h(detail),
			    h(amt)))
		trial_days = s['_trial_days']
		if s['_trial_end']:
			trial_days = max(1, (s['_trial_end'] - emu.now()) // DAY)
		sub_total = sum(round_cents(emu.price_amount(emu.prices[li['price']],
		    li['quantity'])) for li in emu.session_items.get(s['id'], [])
		    if li['quantity'] is not None)
		per = ''
		items = emu.session_items.get(s['id'], [])
		if items:
			per = ' / ' + emu.interval_text(emu.prices[items[0]['price']])
		if trial_days:
			rows.append('<tr><td>%d-day free trial<div class="muted">then '
			    '%s%s plus usage</div></td><td class="amt">−%s</td></tr>'
			    % (trial_days, h(fmt_money(sub_total)), h(per),
			    h(fmt_money(sub_total))))
		rows.append('<tr class="total"><td>Total due today</td>'
		    '<td class="amt">%s</td></tr>' % h(fmt_money(
		    s['amount_total'])))
		email = s['customer_email']
		if s['customer']:
			c = emu.customers.get(s['customer']) or {}
			email = c.get('email') or email
		if s['status'] == 'complete':
			action = ('<div class="note ok">This checkout session is '
			    'already paid.</div>')
			if s['success_url']:
				action += ('<form method="get" action="%s"><button '
				    'class="primary" type="submit">Continue</button>'
				    '</form>' % h(self.success_url(s)))
		elif s['status'] == 'expired':
			action = '<div class="note warn">This checkout session has ' \
			    'expired.</div>'
		else:
			if email:
				who = '<label>Email</label><div class="field">%s</div>' % \
				    h(email)
			else:
				who = ('<label for="email">Email</label><input id="email" '
				    'type="email" name="email" placeholder="you@example.com"'
				    ' autocomplete="email">')
			action = ('<form method="post" action="/c/pay/%s/pay">%s'
			    '<label>Card (test)</label><div class="field">4242 4242 4242 '
			    '4242</div><br><button class="primary" '
			    'type="submit" id="pay">%s</button></form>'
			    '<form method="post" action="/c/pay/%s/cancel"><button '
			    'class="secondary" type="submit" id="cancel">Cancel'
			    '</button></form>' % (h(s['id']), who,
			    'Start trial' if trial_days else 'Pay %s' %
			    h(fmt_money(s['amount_total'])), h(s['id'])))
		names = ', '.join(emu.product_name(emu.prices[li['price']])
		    for li in items if li['quantity'] is not None) or 'your plan'
		body = ('<h1>Subscribe to %s</h1><div class="muted">Checkout session '
		    '%s</div>%s<div class="card"><table>%s</table></div>'
		    '<div class="card">%s</div>' % (h(names), h(s['id'][:20] + '…'),
		    notice, ''.join(rows), action))
		return page('Checkout', body)

	@staticmethod
	def success_url(s):
		return (s['success_url'] or '').replace('{CHECKOUT_SESSION_ID}',
		    s['id'])

	def message(self, title, text, link=None, label='Continue'):
		body = '<h1>%s</h1><div class="card"><p>%s</p>%s</div>' % (h(title),
		    h(text), '<a class="button primary" href="%s">%s</a>' % (h(link),
		    h(label)) if link else '')
		return page(title, body)

	def portal(self, ps, notice=''):
		emu = self.emu
		cus = emu.customers.get(ps['customer']) or {}
		subs = [s for s in reversed(list(emu.subscriptions.values()))
		    if s['customer'] == ps['customer'] and s['status'] not in
		    ('canceled', 'incomplete_expired')]
		parts = ['<h1>Billing</h1><div class="muted">%s</div>' %
		    h(cus.get('email') or ps['customer'])]
		if notice:
			parts.append('<div class="note ok">%s</div>' % h(notice))
		if not subs:
			parts.append('<div class="card">No active subscription.</div>')
		for sub in subs:
			plan = emu.plan_name(sub)
			label = plan.capitalize() if plan else emu.product_name(
			    emu.base_price(sub))
			rows = []
			for it in sub['items']:
				price = emu.prices[it['price']]
				q = it['quantity']
				rows.append('<tr><td>%s<div class="muted">%s</div></td>'
				    '<td class="amt">%s</td></tr>' % (
				    h(emu.product_name(price)), h(emu.price_text(price)),
				    h('metered' if q is None else '× %d' % q)))
			when = fmt_date(sub['current_period_end'])
			if sub['status'] == 'trialing':
				info = 'Trial ends %s' % fmt_date(sub['trial_end'])
			elif sub['cancel_at_period_end']:
				info = 'Cancels on %s' % when
			else:
				info = 'Renews on %s' % when
			form = ('<form method="post" action="/p/session/%s/%%s">'
			    '<input type="hidden" name="subscription" value="%s">'
			    '%%s<button class="%%s" type="submit">%%s</button>'
			    '</form>' % (h(ps['id']), h(sub['id'])))
			acts = []
			for name, price in emu.plan_choices(plan):
				acts.append(form % ('switch', '<input type="hidden" '
				    'name="plan" value="%s">' % h(name), 'secondary',
				    h('Switch to %s (%s)' % (name.capitalize(),
				    emu.price_text(price)))))
			if sub['cancel_at_period_end']:
				acts.append(form % ('renew', '', 'primary',
				    'Renew subscription'))
			else:
				acts.append(form % ('cancel_at_period_end', '', 'secondary',
				    'Cancel at period end'))
			acts.append(form % ('cancel', '', 'danger',
			    'Cancel subscription'))
			parts.append('<div class="card"><h2>%s <span class="status %s">'
			    '%s</span></h2><div class="muted">%s · %s</div><table>%s'
			    '</table>%s</div>' % (h(label), h(sub['status']),
			    h(sub['status']), h(info), h(sub['id']), ''.join(rows),
			    ''.join(acts)))
		invs = [i for i in reversed(list(emu.invoices.values()))
		    if i['customer'] == ps['customer']][:5]
		if invs:
			parts.append('<div class="card"><h2>Invoices</h2><table>%s'
			    '</table></div>' % ''.join('<tr><td><a href="/i/%s">%s</a>'
			    '<div class="muted">%s</div></td><td class="amt">%s '
			    '<span class="status %s">%s</span></td></tr>' % (
			    h(i['id']), h(i['number'] or i['id']),
			    h(fmt_date(i['created'])), h(fmt_money(i['total'])),
			    h(i['status']), h(i['status'])) for i in invs))
		if ps['return_url']:
			parts.append('<div class="card"><a class="button secondary" '
			    'id="return" href="%s">Return</a></div>' %
			    h(ps['return_url']))
		return page('Billing portal', ''.join(parts))

	def invoice(self, inv):
		rows = ''.join('<tr><td>%s<div class="muted">%s – %s</div></td>'
		    '<td class="amt">%s</td></tr>' % (h(ln['description']),
		    h(fmt_date(ln['period']['start'])),
		    h(fmt_date(ln['period']['end'])), h(fmt_money(ln['amount'])))
		    for ln in inv['lines']['data'])
		rows += '<tr class="total"><td>Total</td><td class="amt">%s</td>' \
		    '</tr>' % h(fmt_money(inv['total']))
		rows += '<tr><td>Amount due</td><td class="amt">%s</td></tr>' % \
		    h(fmt_money(inv['amount_due']))
		body = ('<h1>Invoice %s</h1><div class="muted">%s · %s</div>'
		    '<div class="card"><span class="status %s">%s</span> '
		    '<span class="muted">%s – %s</span><table>%s</table></div>' % (
		    h(inv['number'] or inv['id']), h(inv['customer_email'] or
		    inv['customer']), h(fmt_date(inv['created'])),
		    h(inv['status']), h(inv['status']),
		    h(fmt_date(inv['period_start'])),
		    h(fmt_date(inv['period_end'])), rows))
		return page('Invoice', body)


# --- routing ------------------------------------------------------------------

ID = r'(?P<id>[A-Za-z0-9_]+)'
API_ROUTES = [
    ('POST', r'/v1/customers', 'api_customer_create'),
    ('GET', r'/v1/customers', 'api_customer_list'),
    ('GET', r'/v1/customers/' + ID, 'api_customer_get'),
    ('POST', r'/v1/customers/' + ID, 'api_customer_update'),
    ('DELETE', r'/v1/customers/' + ID, 'api_customer_delete'),
    ('POST', r'/v1/products', 'api_product_create'),
    ('GET', r'/v1/products', 'api_product_list'),
    ('GET', r'/v1/products/' + ID, 'api_product_get'),
    ('POST', r'/v1/products/' + ID, 'api_product_update'),
    ('POST', r'/v1/prices', 'api_price_create'),
    ('GET', r'/v1/prices', 'api_price_list'),
    ('GET', r'/v1/prices/' + ID, 'api_price_get'),
    ('POST', r'/v1/prices/' + ID, 'api_price_update'),
    ('POST', r'/v1/billing/meters', 'api_meter_create'),
    ('GET', r'/v1/billing/meters', 'api_meter_list'),
    ('GET', r'/v1/billing/meters/' + ID + '/event_summaries',
        'api_meter_summaries'),
    ('POST', r'/v1/billing/meters/' + ID + '/deactivate',
        'api_meter_deactivate'),
    ('POST', r'/v1/billing/meters/' + ID + '/reactivate',
        'api_meter_reactivate'),
    ('GET', r'/v1/billing/meters/' + ID, 'api_meter_get'),
    ('POST', r'/v1/billing/meters/' + ID, 'api_meter_update'),
    ('POST', r'/v1/billing/meter_events', 'api_meter_event'),
    ('POST', r'/v1/checkout/sessions', 'api_session_create'),
    ('GET', r'/v1/checkout/sessions', 'api_session_list'),
    ('GET', r'/v1/checkout/sessions/' + ID + '/line_items',
        'api_session_items'),
    ('POST', r'/v1/checkout/sessions/' + ID + '/expire',
        'api_session_expire'),
    ('GET', r'/v1/checkout/sessions/' + ID, 'api_session_get'),
    ('POST', r'/v1/billing_portal/sessions', 'api_portal_create'),
    ('GET', r'/v1/subscriptions', 'api_sub_list'),
    ('GET', r'/v1/subscriptions/' + ID, 'api_sub_get'),
    ('POST', r'/v1/subscriptions/' + ID, 'api_sub_update'),
    ('DELETE', r'/v1/subscriptions/' + ID, 'api_sub_cancel'),
    ('GET', r'/v1/invoices', 'api_invoice_list'),
    ('GET', r'/v1/invoices/upcoming', 'api_invoice_upcoming'),
    ('GET', r'/v1/invoices/upcoming/lines', 'api_invoice_upcoming_lines'),
    ('POST', r'/v1/invoices/create_preview', 'api_invoice_preview'),
    ('GET', r'/v1/invoices/' + ID + '/lines', 'api_invoice_lines'),
    ('POST', r'/v1/invoices/' + ID + '/pay', 'api_invoice_pay'),
    ('POST', r'/v1/invoices/' + ID + '/void', 'api_invoice_void'),
    ('GET', r'/v1/invoices/' + ID, 'api_invoice_get'),
    ('GET', r'/v1/events', 'api_event_list'),
    ('GET', r'/v1/events/' + ID, 'api_event_get'),
]
API_ROUTES = [(m, re.compile(p + r'\Z'), f) for m, p, f in API_ROUTES]
# Control endpoints: (method, name) -> (Emulator method, makes events).
EMU_ROUTES = {
    ('GET', ''): None,
    ('GET', 'state'): ('emu_state', False),
    ('GET', 'deliveries'): ('emu_deliveries', False),
    ('GET', 'clock'): None,
    ('POST', 'advance'): ('emu_advance', True),
    ('POST', 'fail_payment'): ('emu_fail_payment', True),
    ('POST', 'pay_invoice'): ('emu_pay_invoice', True),
    ('POST', 'resend'): None,
    ('POST', 'hold'): None,
    ('POST', 'flush'): None,
    ('POST', 'drain'): None,
    ('POST', 'faults'): ('emu_faults', False),
    ('POST', 'reset'): ('emu_reset', False),
    ('POST', 'webhook'): ('emu_webhook', False),
}


def json_response(status, obj, headers=None):
	return Response(status, jdump(obj) + '\n', headers=headers)


def html_response(status, text):
	return Response(status, text, 'text/html; charset=utf-8')


def redirect(location):
	r = Response(303, '', 'text/plain; charset=utf-8',
	    [('Location', location)])
	return r


def mask_key(key):
	if len(key) <= 12:
		return '*' * len(key)
	return key[:8] + '*' * (len(key) - 12) + key[-4:]


class Service:
	"""HTTP in, Emulator calls, HTTP out: auth, faults, idempotency."""

	def __init__(self, emu):
		self.emu = emu
		self.pages = Pages(emu)

	def handle(self, method, path, query, body, headers):
		if path.startswith('/v1/'):
			return self.api(method, path, query, body, headers)
		if path == '/_emu' or path.startswith('/_emu/'):
			return self.control(method, path[len('/_emu/'):], query, body)
		if path.startswith(('/c/', '/p/', '/i/')):
			return self.page(method, path, query, body)
		if path == '/' and method == 'GET':
			return json_response(200, {'emulator': 'stripe',
			    'api_version': API_VERSION, 'control': '/_emu/'})
		return json_response(404, ApiError(404, 'Unrecognized request '
		    'URL (%s: %s).' % (method, path)).body())

	# --- the API --------------------------------------------------------

	def authenticate(self, headers):
		auth = headers.get('Authorization') or ''
		key = None
		if auth.startswith('Bearer '):
			key = auth[7:].strip()
		elif auth.startswith('Basic '):
			try:
				raw = base64.b64decode(auth[6:].strip(), validate=True)
				key = raw.decode('utf-8').split(':', 1)[0]
			except (ValueError, UnicodeDecodeError):
				key = ''
		if not key:
			raise ApiError(401, 'You did not provide an API key. You need '
			    'to provide your API key in the Authorization header, '
			    'using Bearer auth (e.g. \'Authorization: Bearer '
			    'YOUR_SECRET_KEY\').')
		if KEY_RE.match(key) is None:
			raise ApiError(401, 'Invalid API Key provided: %s' %
			    mask_key(key))
		return key

	def api(self, method, path, query, body, headers):
		emu = self.emu
		req_id = new_id('req_', 14)
		idem = headers.get('Idempotency-Key') if method == 'POST' else None
		version = headers.get('Stripe-Version') or API_VERSION
		extra = [('Request-Id', req_id), ('Stripe-Version', version)]
		if idem:
			extra.append(('Idempotency-Key', idem))
		note = {'replayed': False, 'fault': False}
		try:
			resp = self.api_inner(method, path, query, body, headers,
			    req_id, idem, note)
		except ApiError as e:
			resp = json_response(e.status, e.body(), e.headers)
		resp.headers = extra + resp.headers
		with emu.lock:
			emu.requests.append({'method': method, 'path': path,
			    'idempotency_key': idem, 'status': resp.status,
			    'replayed': note['replayed'], 'fault': note['fault'],
			    'request_id': req_id, 'time': time.time()})
		resp.note = ' '.join(x for x in (
		    'idem=%s' % idem if idem else '',
		    'replayed' if note['replayed'] else '',
		    'fault' if note['fault'] else '') if x)
		return resp

	def api_inner(self, method, path, query, body, headers, req_id, idem,
	    note):
		emu = self.emu
		for m, rx, fname in API_ROUTES:
			match = rx.match(path)
			if match and m == method:
				break
		else:
			raise ApiError(404, 'Unrecognized request URL (%s: %s). '
			    'Please see https://stripe.com/docs or we can help at '
			    'https://support.stripe.com/.' % (method, path))
		key = self.authenticate(headers)
		if idem is not None and (idem == '' or len(idem) > 255):
			raise ApiError(400, 'Idempotency-Key must be 1 to 255 '
			    'characters.', param='Idempotency-Key')
		if method == 'POST':
			ctype = (headers.get('Content-Type') or '').split(';')[0]
			if body and ctype.strip().lower() not in (
			    'application/x-www-form-urlencoded', ''):
				raise ApiError(400, 'Invalid request: the body must be '
				    'application/x-www-form-urlencoded (v1).')
			try:
				text = body.decode('utf-8')
			except UnicodeDecodeError:
				raise ApiError(400, 'Invalid request: the body is not '
				    'UTF-8.') from None
		else:
			text = query
		params = decode_form(text)
		with emu.lock:
			fault = emu.faults.roll(path)
			delay = emu.faults.delay_ms / 1000.0 if fault else 0
			status = emu.faults.status if fault else 0
			after = emu.faults.after
			error = emu.faults.error() if fault and status else None
		if fault:
			note['fault'] = bool(status)
		# Idempotency: look up or reserve the key.
		slot, replay = None, None
		if idem:
			slot = (key, idem)
			fp = json.dumps([method, path, params], sort_keys=True)
			with emu.lock:
				now = emu.now()
				entry = emu.idem.get(slot)
				if entry is not None and entry['time'] < now - IDEM_TTL:
					entry = None
				if entry is not None:
					if entry['pending']:
						raise ApiError(409, 'There is currently another '
						    'in-progress request using this '
						    'Idempotency-Key (that probably means you '
						    'submitted twice, and the other request is '
						    'still going through): %s. Please try again '
						    'later.' % idem, type_='idempotency_error',
						    code='idempotency_key_in_use')
					if entry['fp'] != fp:
						raise ApiError(400, 'Keys for idempotent requests '
						    'can only be used with the same parameters '
						    'they were first used with. Try using a key '
						    'other than \'%s\' if you meant to execute a '
						    'different request.' % idem,
						    type_='idempotency_error')
					replay = entry
				else:
					emu.idem[slot] = {'pending': True, 'fp': fp,
					    'time': now}
		if delay:
			time.sleep(delay)
		if replay is not None:
			if error is not None:
				raise error
			note['replayed'] = True
			return Response(replay['status'], replay['body'],
			    headers=[('Idempotent-Replayed', 'true')])
		if error is not None and not after:
			with emu.lock:
				if slot:
					emu.idem.pop(slot, None)
			raise error
		ctx = Ctx(req_id, idem)
		with emu.lock:
			try:
				obj = getattr(emu, fname)(ctx, params, match.groupdict())
				resp = json_response(200, obj)
			except ApiError as e:
				resp = json_response(e.status, e.body(), e.headers)
			except Exception:
				log('internal error on %s %s\n%s' % (method, path,
				    traceback.format_exc()))
				resp = json_response(500, ApiError(500, 'An unknown error '
				    'occurred in the emulator.', type_='api_error').body())
			if slot:
				if resp.status in (400, 401, 404, 409, 429):
					emu.idem.pop(slot, None)
				else:
					emu.idem[slot] = {'pending': False,
					    'fp': emu.idem[slot]['fp'],
					    'time': emu.idem[slot]['time'],
					    'status': resp.status,
					    'body': resp.body.decode('utf-8')}
			if method != 'GET':
				emu.save()
		if error is not None:
			raise error
		return resp

	# --- control ----------------------------------------------------------

	def control(self, method, name, query, body):
		emu = self.emu
		name = name.strip('/')
		if (method, name) not in EMU_ROUTES:
			return json_response(404, {'error': {'type':
			    'invalid_request_error', 'message': 'no control '
			    'endpoint %s /_emu/%s' % (method, name)}})
		try:
			data = json.loads(body.decode('utf-8') or '{}') if body else {}
			if not isinstance(data, dict):
				raise ValueError('a JSON object')
		except ValueError as e:
			return json_response(400, {'error': {'type':
			    'invalid_request_error', 'message': 'body must be %s' %
			    (e if 'object' in str(e) else 'JSON')}})
		ctx = Ctx()
		try:
			if name == '':
				return json_response(200, {'endpoints': [
				    '%s /_emu/%s' % k for k in EMU_ROUTES]})
			if name == 'clock':
				with emu.lock:
					return json_response(200, {'now': emu.now(),
					    'offset': emu.offset})
			if name == 'hold':
				emu.deliverer.hold = bool(data.get('on'))
				return json_response(200, {'hold': emu.deliverer.hold})
			if name == 'flush':
				order = data.get('order', 'forward')
				if order not in ('forward', 'reverse'):
					raise ApiError(400, 'order: forward or reverse')
				items = emu.deliverer.flush(order == 'reverse')
				self.wait(items)
				return json_response(200, {'delivered': [
				    i.event_id for i in items]})
			if name == 'drain':
				ok = emu.deliverer.drain(SYNC_WAIT)
				return json_response(200 if ok else 504, {'drained': ok})
			if name == 'resend':
				with emu.lock:
					e = emu.events.get(data.get('event'))
				if e is None:
					raise ApiError(404, "No such event: '%s'" %
					    data.get('event'))
				item = Delivery(data['event'], e['type'],
				    e['body'].encode('utf-8'))
				emu.deliverer.enqueue(item, force=True)
				self.wait([item])
				with emu.deliverer.cv:
					last = [a for a in emu.deliverer.attempts
					    if a['event'] == item.event_id][-1:]
				return json_response(200, {'event': item.event_id,
				    'delivery': last[0] if last else None})
			fname, _ = EMU_ROUTES[(method, name)]
			with emu.lock:
				if method == 'GET':
					out = getattr(emu, fname)(data, query)
				else:
					out = getattr(emu, fname)(data, ctx)
					emu.save()
			self.wait(ctx.items)
			return json_response(200, out)
		except ApiError as e:
			return json_response(e.status, e.body())

	@staticmethod
	def wait(items):
		deadline = time.monotonic() + SYNC_WAIT
		for item in items:
			if not item.done.wait(max(0, deadline - time.monotonic())):
				log('gave up waiting for webhook %s' % item.event_id)
				return

	# --- hosted pages -----------------------------------------------------

	def page(self, method, path, query, body):
		emu = self.emu
		form = {}
		if method == 'POST':
			form = {k: v[-1] for k, v in urllib.parse.parse_qs(
			    body.decode('utf-8', 'replace')).items()}
		parts = path.strip('/').split('/')
		ctx = Ctx()
		with emu.lock:
			try:
				resp = self.page_locked(method, parts, query, form, ctx)
			except ApiError as e:
				resp = html_response(400, self.pages.message(
				    'Something is wrong', e.message))
			if method == 'POST':
				emu.save()
		if method == 'POST':
			self.wait(ctx.items)
		return resp

	def page_locked(self, method, parts, query, form, ctx):
		emu = self.emu
		notfound = html_response(404, self.pages.message('Not found',
		    'There is nothing here.'))
		if parts[0] == 'c' and len(parts) >= 3 and parts[1] == 'pay':
			s = emu.sessions.get(parts[2])
			if s is None:
				return notfound
			if method == 'GET' and len(parts) == 3:
				return html_response(200, self.pages.checkout(s))
			if method == 'POST' and len(parts) == 4 and parts[3] == 'pay':
				if s['status'] != 'open':
					return html_response(200 if s['status'] == 'complete'
					    else 410, self.pages.checkout(s))
				email = form.get('email', '').strip() or None
				if email and not re.match(r'[^@\s]+@[^@\s]+\Z', email):
					return html_response(400, self.pages.checkout(s,
					    '<div class="note warn">That email address is '
					    'not valid.</div>'))
				emu.checkout_pay(ctx, s, email)
				if s['success_url']:
					return redirect(self.pages.success_url(s))
				return html_response(200, self.pages.message(
				    'Payment complete', 'Your subscription is active.'))
			if method == 'POST' and len(parts) == 4 and \
			    parts[3] == 'cancel':
				if s['cancel_url']:
					return redirect(s['cancel_url'])
				return html_response(200, self.pages.message(
				    'Checkout canceled', 'Nothing was charged.'))
			return notfound
		if parts[0] == 'p' and len(parts) >= 3 and parts[1] == 'session':
			ps = emu.portal_sessions.get(parts[2])
			if ps is None:
				return notfound
			if method == 'GET' and len(parts) == 3:
				done = urllib.parse.parse_qs(query).get('done', [''])[0]
				return html_response(200, self.pages.portal(ps, {
				    'cancel': 'Your subscription is canceled.',
				    'cancel_at_period_end': 'Your subscription will end '
				        'at the end of the period.',
				    'renew': 'Your subscription will renew.',
				    'switch': 'Your plan was changed.'}.get(done, '')))
			if method != 'POST' or len(parts) != 4:
				return notfound
			action = parts[3]
			sub = emu.subscriptions.get(form.get('subscription', ''))
			if sub is None or sub['customer'] != ps['customer']:
				return html_response(400, self.pages.message('Not found',
				    'No such subscription for this customer.'))
			try:
				if action == 'cancel':
					if sub['status'] != 'canceled':
						emu.cancel_now(ctx, sub)
				elif action in ('cancel_at_period_end', 'renew'):
					emu.update_subscription(ctx, sub, {
					    'cancel_at_period_end': 'true' if action ==
					    'cancel_at_period_end' else 'false'})
				elif action == 'switch':
					emu.switch_plan(ctx, sub, form.get('plan', ''))
				else:
					return notfound
			except ApiError as e:
				return html_response(400, self.pages.message(
				    'Could not change the subscription', e.message))
			return redirect('/p/session/%s?done=%s' % (ps['id'], action))
		if parts[0] == 'i' and len(parts) == 2 and method == 'GET':
			inv = emu.invoices.get(parts[1])
			if inv is None:
				return notfound
			return html_response(200, self.pages.invoice(inv))
		return notfound


# --- HTTP ---------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
	protocol_version = 'HTTP/1.1'
	server_version = 'stripe-emu/1.0'
	sys_version = ''

	def log_message(self, fmt, *args):
		pass	# one line per request is written by dispatch()

	def version_string(self):
		return self.server_version

	def do_GET(self):
		self.dispatch('GET')

	def do_POST(self):
		self.dispatch('POST')

	def do_DELETE(self):
		self.dispatch('DELETE')

	def read_body(self):
		if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
			chunks, total = [], 0
			while True:
				size = int(self.rfile.readline(100).split(b';')[0], 16)
				if size == 0:
					while self.rfile.readline(8192) not in (b'\r\n', b'\n',
					    b''):
						pass
					break
				total += size
				if total > MAX_BODY:
					raise ValueError('body too large')
				chunks.append(self.rfile.read(size))
				self.rfile.readline(10)
			return b''.join(chunks)
		n = int(self.headers.get('Content-Length') or 0)
		if n < 0 or n > MAX_BODY:
			raise ValueError('body too large')
		return self.rfile.read(n) if n else b''

	def dispatch(self, method):
		t0 = time.monotonic()
		url = urllib.parse.urlsplit(self.path)
		try:
			body = self.read_body()
		except ValueError:
			self.close_connection = True
			resp = json_response(413, ApiError(413, 'Request body too '
			    'large or malformed.').body())
		else:
			try:
				resp = self.server.service.handle(method, url.path,
				    url.query, body, self.headers)
			except Exception:
				log('internal error\n' + traceback.format_exc())
				resp = json_response(500, ApiError(500, 'emulator error',
				    type_='api_error').body())
		if not any(k == 'Request-Id' for k, _ in resp.headers):
			resp.headers.insert(0, ('Request-Id', new_id('req_', 14)))
		try:
			self.send_response(resp.status)
			self.send_header('Content-Type', resp.ctype)
			self.send_header('Content-Length', str(len(resp.body)))
			self.send_header('Cache-Control', 'no-store')
			for k, v in resp.headers:
				self.send_header(k, v)
			self.end_headers()
			self.wfile.write(resp.body)
		except OSError:
			self.close_connection = True
		log('%s %s %d %.0fms%s' % (method, url.path, resp.status,
		    (time.monotonic() - t0) * 1000,
		    ' ' + resp.note if resp.note else ''))


class Server(ThreadingHTTPServer):
	allow_reuse_address = True
	daemon_threads = True
	request_queue_size = 64


def write_pidfile(path):
	tmp = '%s.tmp.%d' % (path, os.getpid())
	with open(tmp, 'w') as f:
		f.write('%d\n' % os.getpid())
	os.rename(tmp, path)


def remove_pidfile(path):
	"""Only our own: a newer emulator may have replaced it already."""
	try:
		with open(path) as f:
			if f.read().strip() != str(os.getpid()):
				return
		os.unlink(path)
	except OSError:
		pass


def main():
	ap = argparse.ArgumentParser(description='Stripe API emulator for the '
	    'tests (see the comment at the top of this file)')
	ap.add_argument('--pidfile', help='write the pid here once listening')
	ap.add_argument('--port', type=int, required=True,
	    help='TCP port on 127.0.0.1; 0: any (printed on stdout)')
	ap.add_argument('--webhook-url', default='',
	    help='where events are POSTed ("" : nowhere)')
	ap.add_argument('--webhook-secret',
	    default=os.environ.get('STRIPE_WEBHOOK_SECRET', ''),
	    help='whsec_... (comma-separated: one v1 signature each); '
	    'default: $STRIPE_WEBHOOK_SECRET, which keeps it out of ps')
	ap.add_argument('--state', help='JSON file keeping the data across '
	    'restarts')
	args = ap.parse_args()
	if not 0 <= args.port <= 65535:
		ap.error('port out of range: %d' % args.port)
	if args.webhook_url and not re.match(r'https?://', args.webhook_url):
		ap.error('--webhook-url must be an http(s) URL')
	try:
		server = Server(('127.0.0.1', args.port), Handler)
	except OSError as e:
		log('cannot listen on 127.0.0.1:%d: %s' % (args.port, e.strerror))
		return 1
	port = server.server_address[1]
	try:
		emu = Emulator(port, args.webhook_url, args.webhook_secret,
		    args.state)
	except (OSError, ValueError) as e:
		log('cannot read the state file %s: %s' % (args.state, e))
		return 1
	server.service = Service(emu)
	if args.port == 0:
		print(port, flush=True)
	if args.pidfile:
		write_pidfile(args.pidfile)

	def stop(signum, frame):
		log('%s: stopping' % signal.Signals(signum).name)
		threading.Thread(target=server.shutdown, daemon=True).start()
	signal.signal(signal.SIGTERM, stop)
	signal.signal(signal.SIGINT, stop)

	log('listening on http://127.0.0.1:%d, webhooks to %s (%d secret%s)%s'
	    % (port, args.webhook_url or '(none)',
	    len(split_secrets(args.webhook_secret)),
	    '' if len(split_secrets(args.webhook_secret)) == 1 else 's',
	    ', state in ' + args.state if args.state else ''))
	try:
		server.serve_forever(poll_interval=0.2)
	finally:
		server.server_close()
		if args.pidfile:
			remove_pidfile(args.pidfile)
	log('stopped')
	return 0


if __name__ == '__main__':
	sys.exit(main())
