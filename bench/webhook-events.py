#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# bench/webhook-events.py: the signed Stripe deliveries of the webhook
# scenario, written beforehand so that wrk only sends them
# (bench/webhook.lua).  Python 3's standard library only.
#
#   webhook-events.py CUSTOMER SUBSCRIPTION TENANT FIRST_CREATED \
#       FILE COUNT [FILE COUNT ...]
#
# Writes COUNT deliveries to each FILE, one a line: the Stripe-Signature
# header, a tab, the raw body (compact JSON: no tab, no newline).  Every
# event has an id of its own (evt_...), and their "created" times rise by
# one second from FIRST_CREATED across all the files in order, so every
# event is newer than those before it: a subscription event is applied,
# not a same-second tie (which would make the product ask Stripe) and,
# delivered in order, not stale.  Three in four are
# customer.subscription.updated for SUBSCRIPTION (status active, plan pro
# through an item priced tollgate_pro_base, cancel_at_period_end
# flipping), one in four invoice.paid for a new invoice of CUSTOMER.
#
# Environment: BENCH_WEBHOOK_SECRET, the endpoint secret(s) of the
# stack (STRIPE_WEBHOOK_SECRET, "whsec_...", several comma-separated:
# one v1 per secret), never on a command line; BENCH_PRICE_BASE and
# BENCH_PRICE_METERED, the Stripe ids of the prices tollgate_pro_base
# and a metered price of the pro plan (from stripe_catalogue; made up
# when empty).  Signed at the time of the run: the product takes a
# signature at most 300 s old.
import hashlib
import hmac
import json
import os
import random
import sys
import time


_rng = random.SystemRandom()
_rng = random.Random(_rng.getrandbits(128))


# A Stripe-like id: the prefix and n random hex digits (ids need to be
# distinct, not secret).
def rid(prefix, n=24):
	return '%s%0*x' % (prefix, n, _rng.getrandbits(4 * n))


def main(argv):
	if len(argv) < 7 or (len(argv) - 5) % 2 != 0:
		sys.exit('usage: webhook-events.py CUSTOMER SUBSCRIPTION TENANT '
		    'FIRST_CREATED FILE COUNT [FILE COUNT ...]')
	customer, sub_id, tenant = argv[1], argv[2], argv[3]
	created = int(argv[4])
	outputs = [(argv[i], int(argv[i + 1])) for i in range(5, len(argv), 2)]
	keys = [s.strip() for s in os.environ.get('BENCH_WEBHOOK_SECRET',
	    '').split(',') if s.strip()]
	if not keys:
		sys.exit('webhook-events.py: BENCH_WEBHOOK_SECRET is not set')
	keys = [k.encode('utf-8') for k in keys]
	price_base = os.environ.get('BENCH_PRICE_BASE') or rid('price_')
	price_metered = os.environ.get('BENCH_PRICE_METERED') or rid('price_')
	product = rid('prod_')
	meter = rid('mtr_')

	t = int(time.time())
	t_prefix = ('%d.' % t).encode('ascii')
	period_start = created - 86400 * 10
	period_end = period_start + 86400 * 30

	base_price = {
	    'id': price_base, 'object': 'price', 'active': True,
	    'billing_scheme': 'per_unit', 'created': period_start - 86400,
	    'currency': 'usd', 'livemode': False,
	    'lookup_key': 'tollgate_pro_base',
	    'metadata': {'tollgate_plan': 'pro',
	        'tollgate_terms': 'base-1500-flat'},
	    'nickname': None, 'product': product,
	    'recurring': {'interval': 'month', 'interval_count': 1,
	        'meter': None, 'usage_type': 'licensed'},
	    'tax_behavior': 'unspecified', 'tiers_mode': None,
	    'type': 'recurring', 'unit_amount': 1500,
	    'unit_amount_decimal': '1500'}
	metered_price = {
	    'id': price_metered, 'object': 'price', 'active': True,
	    'billing_scheme': 'tiered', 'created': period_start - 86400,
	    'currency': 'usd', 'livemode': False,
	    'lookup_key': 'tollgate_pro_llm_tokens',
	    'metadata': {'tollgate_plan': 'pro'}, 'nickname': None,
	    'product': product,
	    'recurring': {'interval': 'month', 'interval_count': 1,
	        'meter': meter, 'usage_type': 'metered'},
	    'tax_behavior': 'unspecified', 'tiers_mode': 'graduated',
	    'type': 'recurring', 'unit_amount': None,
	    'unit_amount_decimal': None}
	items = [
	    {'id': rid('si_'), 'object': 'subscription_item',
	     'created': period_start, 'current_period_start': period_start,
	     'current_period_end': period_end, 'discounts': [],
	     'metadata': {}, 'price': base_price, 'quantity': 1,
	     'subscription': sub_id, 'tax_rates': []},
	    {'id': rid('si_'), 'object': 'subscription_item',
	     'created': period_start, 'current_period_start': period_start,
	     'current_period_end': period_end, 'discounts': [],
	     'metadata': {}, 'price': metered_price,
	     'subscription': sub_id, 'tax_rates': []}]
	sub = {
	    'id': sub_id, 'object': 'subscription',
	    'billing_cycle_anchor': period_start, 'cancel_at': None,
	    'cancel_at_period_end': False, 'canceled_at': None,
	    'collection_method': 'charge_automatically',
	    'created': period_start, 'currency': 'usd', 'customer': customer,
	    'default_payment_method': None, 'discounts': [], 'ended_at': None,
	    'items': {'object': 'list', 'data': items, 'has_more': False,
	        'total_count': 2,
	        'url': '/v1/subscription_items?subscription=' + sub_id},
	    'latest_invoice': None, 'livemode': False,
	    'metadata': {'plan': 'pro', 'tenant_id': tenant},
	    'start_date': period_start, 'status': 'active',
	    'trial_end': None, 'trial_start': None}
	invoice = {
	    'id': None, 'object': 'invoice', 'account_country': 'US',
	    'amount_due': 1500, 'amount_paid': 1500, 'amount_remaining': 0,
	    'attempt_count': 1, 'attempted': True,
	    'billing_reason': 'subscription_cycle',
	    'collection_method': 'charge_automatically', 'created': None,
	    'currency': 'usd', 'customer': customer,
	    'customer_email': 'bench@example.com', 'hosted_invoice_url': None,
	    'invoice_pdf': None, 'livemode': False, 'metadata': {},
	    'number': None, 'paid': True,
	    'parent': {'type': 'subscription_details',
	        'subscription_details': {'metadata': {'plan': 'pro',
	            'tenant_id': tenant}, 'subscription': sub_id}},
	    'period_end': period_end, 'period_start': period_start,
	    'status': 'paid', 'subscription': sub_id, 'subtotal': 1500,
	    'total': 1500}
	n = 0
	for path, count in outputs:
		with open(path, 'w', encoding='utf-8') as out:
			for _ in range(count):
				n += 1
				if n % 4 == 0:
					iid = rid('in_')
					invoice['id'] = iid
					invoice['number'] = 'BENCH-%06d' % n
					invoice['created'] = created
					invoice['hosted_invoice_url'] = \
					    'https://invoice.stripe.com/i/' + iid
					invoice['invoice_pdf'] = \
					    'https://pay.stripe.com/invoice/%s/pdf' % iid
					kind, obj, prev = 'invoice.paid', invoice, None
				else:
					cape = n % 8 < 4
					sub['cancel_at_period_end'] = cape
					sub['cancel_at'] = period_end if cape else None
					kind, obj = 'customer.subscription.updated', sub
					prev = {'cancel_at_period_end': not cape,
					    'cancel_at': None if cape else period_end}
				data = {'object': obj}
				if prev is not None:
					data['previous_attributes'] = prev
				body = json.dumps({
				    'id': rid('evt_'), 'object': 'event',
				    'api_version': '2025-03-31.basil',
				    'created': created, 'data': data,
				    'livemode': False, 'pending_webhooks': 1,
				    'request': {'id': rid('req_', 14),
				        'idempotency_key': None},
				    'type': kind},
				    separators=(',', ':')).encode('utf-8')
				created += 1
				sig = ','.join(['t=%d' % t] + ['v1=' + hmac.new(k,
				    t_prefix + body, hashlib.sha256).hexdigest()
				    for k in keys])
				out.write(sig)
				out.write('\t')
				out.write(body.decode('utf-8'))
				out.write('\n')


if __name__ == '__main__':
	main(sys.argv)
