// Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
//
// tests/stripe-emu-node.mjs: the Stripe emulator (tests/stripe-emu.py)
// driven, unchanged, by Stripe's current official Node library (the npm
// package "stripe", pointed at the emulator with the host, port and
// protocol options), so that the emulator speaks what today's Stripe
// clients send: their form encoding, Stripe-Version, automatic
// Idempotency-Keys and retries, the error shapes they map to their error
// classes, and webhook signatures their webhooks.constructEvent accepts.
//
//   node tests/stripe-emu-node.mjs STRIPE_PREFIX EMULATOR LOGFILE
//
// tests/stripe-emu-node.sh installs the library under STRIPE_PREFIX and
// runs this.  Starts the emulator on a free loopback port with a webhook
// receiver (a node http server) beside it and stops both at the end.
// Prints "ok N - what" or "not ok N - what" per check, then
// "stripe node library: N passed, N failed"; exits 1 if anything failed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';

const [prefix, emuPath, logPath] = process.argv.slice(2);
if (!prefix || !emuPath || !logPath) {
	console.error('usage: stripe-emu-node.mjs STRIPE_PREFIX EMULATOR LOGFILE');
	process.exit(2);
}
// The package's ESM entry, as `import Stripe from 'stripe'` gives it to
// an application: imported from a one-line module inside the prefix, so
// that node resolves it from the prefix's node_modules.
const entry = path.join(path.resolve(prefix), 'stripe-entry.mjs');
fs.writeFileSync(entry, "export { default } from 'stripe';\n");
const { default: Stripe } = await import(pathToFileURL(entry).href);

const API_KEY = 'sk_test_' + randomBytes(12).toString('hex');
const SECRET = 'whsec_' + randomBytes(16).toString('hex');

// --- reporting ----------------------------------------------------------------

let n = 0;
let failed = 0;

function check(what, cond, detail) {
	n++;
	if (cond) {
		console.log(`ok ${n} - ${what}`);
	} else {
		failed++;
		console.log(`not ok ${n} - ${what}`);
		if (detail !== undefined) {
			const text = typeof detail === 'string' ? detail :
			    (detail instanceof Error ? detail.stack || String(detail) :
			    JSON.stringify(detail, null, 1));
			for (const line of String(text).split('\n').slice(0, 20))
				console.log(`#   ${line}`);
		}
	}
	return cond;
}

function equal(what, got, want) {
	return check(what, JSON.stringify(got) === JSON.stringify(want),
	    `got  ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`);
}

async function raises(what, cls, fn, test) {
	try {
		await fn();
	} catch (e) {
		if (!(e instanceof cls))
			return check(what, false, `raised ${e?.constructor?.name}: ` +
			    `${e?.message}`);
		if (test && !test(e))
			return check(what, false, `raised ${e.type} but the check on ` +
			    `it failed: ${JSON.stringify({ code: e.code, param: e.param,
			    statusCode: e.statusCode, message: e.message })}`);
		return check(what, true);
	}
	return check(what, false, 'nothing was raised');
}

// --- the webhook receiver ---------------------------------------------------------

const got = [];	// {headers, raw Buffer}
const receiver = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		got.push({ headers: req.headers, raw: Buffer.concat(chunks) });
		const out = '{"received": true}';
		res.writeHead(200, { 'Content-Type': 'application/json',
		    'Content-Length': Buffer.byteLength(out) });
		res.end(out);
	});
});
await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/webhook`;

// --- the emulator -----------------------------------------------------------------

const log = fs.openSync(logPath, 'a');
const emu = spawn('/usr/bin/python3', [emuPath, '--port', '0'],
    { stdio: ['ignore', 'pipe', log],
      env: { ...process.env, STRIPE_WEBHOOK_SECRET: SECRET } });
const port = await new Promise((ok, fail) => {
	const rl = readline.createInterface({ input: emu.stdout });
	rl.once('line', (line) => ok(Number(line.trim())));
	emu.once('exit', (code) => fail(new Error(`the emulator exited (${code}) ` +
	    `before printing its port; see ${logPath}`)));
});
const emuBase = `http://127.0.0.1:${port}`;
console.log(`# stripe ${Stripe.PACKAGE_VERSION} (node ${process.version}), emulator on ` +
    `${emuBase} (log ${logPath}), receiver on ${hookUrl}`);

async function ctl(name, body) {
	const r = await fetch(`${emuBase}/_emu/${name}`, body === undefined ? {} : {
		method: 'POST', headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify(body) });
	const text = await r.text();
	if (r.status !== 200)
		throw new Error(`/_emu/${name}: ${r.status} ${text.slice(0, 300)}`);
	return JSON.parse(text);
}

function floorMinute(t) { return t - t % 60; }

// --- the checks ---------------------------------------------------------------------

const stripe = new Stripe(API_KEY, { host: '127.0.0.1', port, protocol: 'http',
    maxNetworkRetries: 3 });
const sent = [];	// Stripe-Version and Idempotency-Key the library sent
stripe.on('request', (e) => sent.push(e));

async function run() {
	// The webhook URL through the control endpoint (the secret came from
	// the environment, which argv would have shown in ps).
	await ctl('webhook', { url: hookUrl });

	// Customers, with an explicit Idempotency-Key.
	const cus = await stripe.customers.create({ email: 'node@example.com',
	    name: 'Node Co', metadata: { tenant_id: 't-node' } },
	    { idempotencyKey: 'node-cus-1' });
	check('customers.create gives a cus_ id with email and metadata',
	    cus.id.startsWith('cus_') && cus.email === 'node@example.com' &&
	    cus.metadata.tenant_id === 't-node' && cus.livemode === false, cus);
	const libVersion = stripe.getApiField('version');
	console.log(`# the library sends Stripe-Version ${sent.at(-1)?.api_version}` +
	    `; the emulator answered ${cus.lastResponse.apiVersion}`);
	check('the library sends its Stripe-Version and the emulator echoes it',
	    sent.at(-1)?.api_version === libVersion &&
	    cus.lastResponse.apiVersion === libVersion &&
	    /^req_/.test(cus.lastResponse.requestId || ''),
	    { sent: sent.at(-1)?.api_version, echoed: cus.lastResponse.apiVersion,
	      requestId: cus.lastResponse.requestId });
	check('the idempotencyKey option is sent as Idempotency-Key',
	    sent.at(-1)?.idempotency_key === 'node-cus-1', sent.at(-1));
	const again = await stripe.customers.create({ email: 'node@example.com',
	    name: 'Node Co', metadata: { tenant_id: 't-node' } },
	    { idempotencyKey: 'node-cus-1' });
	check('the same idempotencyKey replays the same customer',
	    again.id === cus.id &&
	    again.lastResponse.headers['idempotent-replayed'] === 'true',
	    again.lastResponse.headers);
	await raises('the same key with other parameters: ' +
	    'StripeIdempotencyError', Stripe.errors.StripeIdempotencyError,
	    () => stripe.customers.create({ email: 'other@example.com' },
	    { idempotencyKey: 'node-cus-1' }));
	await raises('an unknown parameter: StripeInvalidRequestError with its ' +
	    'param', Stripe.errors.StripeInvalidRequestError,
	    () => stripe.customers.create({ emali: 'typo@example.com' }),
	    (e) => e.param === 'emali' && e.code === 'parameter_unknown' &&
	    e.statusCode === 400);
	await raises('an unknown customer: 404 StripeInvalidRequestError',
	    Stripe.errors.StripeInvalidRequestError,
	    () => stripe.customers.retrieve('cus_nope'),
	    (e) => e.statusCode === 404 && e.code === 'resource_missing');
	await raises('a live key: StripeAuthenticationError',
	    Stripe.errors.StripeAuthenticationError,
	    () => stripe.customers.list({}, { apiKey: 'sk_live_' + 'x'.repeat(24) }));

	// The catalogue: a product, a licensed price, a meter and a metered
	// graduated price on it.
	const prod = await stripe.products.create({ name: 'Tollgate Team',
	    metadata: { plan: 'team' } });
	check('products.create gives a prod_ id', prod.id.startsWith('prod_') &&
	    prod.name === 'Tollgate Team' && prod.active === true, prod);
	const base = await stripe.prices.create({ product: prod.id,
	    currency: 'usd', unit_amount: 2900, recurring: { interval: 'month' },
	    lookup_key: 'tollgate_team_base', metadata: { plan: 'team' } });
	check('prices.create (licensed) keeps its lookup_key',
	    base.id.startsWith('price_') && base.lookup_key ===
	    'tollgate_team_base' && base.recurring.usage_type === 'licensed' &&
	    base.unit_amount === 2900, base);
	const meter = await stripe.billing.meters.create({
	    display_name: 'API calls', event_name: 'tollgate_api_calls',
	    default_aggregation: { formula: 'sum' },
	    customer_mapping: { event_payload_key: 'stripe_customer_id',
	        type: 'by_id' },
	    value_settings: { event_payload_key: 'value' } });
	check('billing.meters.create gives an active billing.meter',
	    meter.id.startsWith('mtr_') && meter.object === 'billing.meter' &&
	    meter.status === 'active', meter);
	const metered = await stripe.prices.create({ product: prod.id,
	    currency: 'usd', billing_scheme: 'tiered', tiers_mode: 'graduated',
	    tiers: [{ up_to: 1000, unit_amount: 0 },
	        { up_to: 'inf', unit_amount_decimal: '0.5' }],
	    recurring: { interval: 'month', usage_type: 'metered',
	        meter: meter.id },
	    lookup_key: 'tollgate_team_api_calls', expand: ['tiers'] });
	check('prices.create (metered, graduated, recurring[meter]) keeps the ' +
	    'tiers', metered.billing_scheme === 'tiered' &&
	    metered.recurring.meter === meter.id &&
	    metered.recurring.usage_type === 'metered' &&
	    JSON.stringify(metered.tiers.map((t) => t.up_to)) === '[1000,null]' &&
	    String(metered.tiers[1].unit_amount_decimal) === '0.5', metered);
	const found = await stripe.prices.list({ lookup_keys:
	    ['tollgate_team_base', 'tollgate_team_api_calls'],
	    expand: ['data.tiers'] });
	equal('prices.list({lookup_keys}) finds both prices',
	    found.data.map((p) => p.id).sort(), [base.id, metered.id].sort());

	// Checkout, paid through the hosted page's form.
	const sess = await stripe.checkout.sessions.create({
	    mode: 'subscription', customer: cus.id,
	    line_items: [{ price: base.id, quantity: 3 }, { price: metered.id }],
	    client_reference_id: 't-node',
	    metadata: { tenant_id: 't-node', plan: 'team' },
	    subscription_data: { trial_period_days: 14,
	        metadata: { tenant_id: 't-node' } },
	    success_url: 'http://127.0.0.1:9/billing?session={CHECKOUT_SESSION_ID}',
	    cancel_url: 'http://127.0.0.1:9/billing?canceled=1' });
	check('checkout.sessions.create gives an open session with a hosted URL',
	    sess.id.startsWith('cs_') && sess.status === 'open' &&
	    sess.mode === 'subscription' && sess.url === `${emuBase}/c/pay/${sess.id}`,
	    sess);
	const pageRes = await fetch(sess.url);
	const page = await pageRes.text();
	const action = [...page.matchAll(/<form method="post" action="([^"]+)"/g)]
	    .map((m) => m[1]).find((a) => a.endsWith('/pay'));
	check('the hosted page has a pay form', pageRes.status === 200 &&
	    action === `/c/pay/${sess.id}/pay`, page.slice(0, 400));
	await ctl('drain', {});
	const mark = got.length;
	const payRes = await fetch(new URL(action, emuBase), { method: 'POST',
	    redirect: 'manual', headers: { 'Content-Type':
	    'application/x-www-form-urlencoded' }, body: '' });
	check('POSTing the pay form redirects (303) to success_url',
	    payRes.status === 303 && payRes.headers.get('location') ===
	    `http://127.0.0.1:9/billing?session=${sess.id}`,
	    { status: payRes.status, location: payRes.headers.get('location') });
	equal('its webhooks arrived, in order, before the redirect',
	    got.slice(mark).map((g) => JSON.parse(g.raw).type),
	    ['checkout.session.completed', 'customer.subscription.created',
	    'invoice.created', 'invoice.finalized', 'invoice.paid']);
	const done = await stripe.checkout.sessions.retrieve(sess.id);
	check('the session is complete with a subscription',
	    done.status === 'complete' && done.customer === cus.id &&
	    /^sub_/.test(done.subscription || ''), done);

	let sub = await stripe.subscriptions.retrieve(done.subscription);
	const items = sub.items.data;
	check('subscriptions.retrieve: trialing (14-day trial), for the customer',
	    sub.status === 'trialing' && sub.customer === cus.id &&
	    sub.metadata.tenant_id === 't-node', sub);
	equal('its items carry prices with lookup keys',
	    items.map((it) => it.price.lookup_key),
	    ['tollgate_team_base', 'tollgate_team_api_calls']);
	check('the licensed item has quantity 3, the metered one none',
	    items[0].quantity === 3 && items[1].quantity === undefined,
	    items.map((it) => it.quantity));
	const invs = await stripe.invoices.list({ customer: cus.id });
	check('invoices.list: the first invoice, paid, 0 during the trial',
	    invs.data.length === 1 && invs.data[0].status === 'paid' &&
	    invs.data[0].amount_paid === 0 &&
	    invs.data[0].parent?.subscription_details?.subscription === sub.id,
	    invs.data);

	// Metering.
	const ev = await stripe.billing.meterEvents.create({
	    event_name: 'tollgate_api_calls', identifier: 'node-calls-1',
	    payload: { stripe_customer_id: cus.id, value: '1500' } });
	check('billing.meterEvents.create accepts an event',
	    ev.object === 'billing.meter_event' &&
	    ev.identifier === 'node-calls-1' && ev.payload.value === '1500', ev);
	await raises('a repeated identifier: StripeInvalidRequestError ' +
	    'resource_already_exists', Stripe.errors.StripeInvalidRequestError,
	    () => stripe.billing.meterEvents.create({
	    event_name: 'tollgate_api_calls', identifier: 'node-calls-1',
	    payload: { stripe_customer_id: cus.id, value: '7' } }),
	    (e) => e.code === 'resource_already_exists' &&
	    e.param === 'identifier' && e.message.includes('node-calls-1'));
	const now = (await ctl('clock')).now;
	const summ = await stripe.billing.meters.listEventSummaries(meter.id, {
	    customer: cus.id, start_time: floorMinute(now) - 3600,
	    end_time: floorMinute(now) + 120 });
	equal('billing.meters.listEventSummaries counts the duplicate once',
	    summ.data.map((d) => d.aggregated_value), [1500]);
	await raises('event summaries want minute-aligned times',
	    Stripe.errors.StripeInvalidRequestError,
	    () => stripe.billing.meters.listEventSummaries(meter.id, {
	    customer: cus.id, start_time: floorMinute(now) - 3599,
	    end_time: floorMinute(now) + 120 }),
	    (e) => e.param === 'start_time');

	// Changes and cancellation.
	sub = await stripe.subscriptions.update(sub.id, { items: [{
	    id: items[0].id, quantity: 5 }],
	    proration_behavior: 'create_prorations' });
	check('subscriptions.update changes the quantity',
	    sub.items.data[0].quantity === 5 && sub.items.data.length === 2,
	    sub.items.data);
	const preview = await stripe.invoices.createPreview({ customer: cus.id,
	    subscription: sub.id });
	check('invoices.createPreview bills 5 seats once the trial ends',
	    preview.object === 'invoice' && preview.lines.data.some((ln) =>
	    ln.amount === 14500), preview.lines?.data?.map((ln) => ln.amount));
	const portal = await stripe.billingPortal.sessions.create({
	    customer: cus.id, return_url: 'http://127.0.0.1:9/billing' });
	check('billingPortal.sessions.create gives a hosted portal URL',
	    portal.object === 'billing_portal.session' &&
	    portal.url === `${emuBase}/p/session/${portal.id}`, portal);
	const gone = await stripe.subscriptions.cancel(sub.id);
	check('subscriptions.cancel cancels at once', gone.status === 'canceled' &&
	    Boolean(gone.canceled_at), gone);
	const left = await stripe.subscriptions.list({ customer: cus.id,
	    status: 'all' });
	check('subscriptions.list(status all) shows it canceled',
	    left.data.length === 1 && left.data[0].status === 'canceled',
	    left.data);

	// Lost responses: the library retries with its own Idempotency-Key
	// (every POST gets one) and gets the stored answer.  Seed 5 at rate
	// 0.5 spares the first six requests, then faults two in a row:
	// customers are made until one of them went through a fault.
	const before = (await ctl('state')).counts.customers;
	await ctl('faults', { error_rate: 0.5, status: 500, after_execute: true,
	    seed: 5, paths: ['/v1/customers'] });
	const made = [];
	let tries = [];
	let state;
	try {
		for (let i = 0; i < 12 && !tries.some((r) => r.fault); i++) {
			const c = await stripe.customers.create({
			    email: `retry-${i}@example.com` });
			made.push(c);
			state = await ctl('state');
			tries = state.requests.filter((r) => r.method === 'POST' &&
			    r.idempotency_key === c.lastResponse.headers['idempotency-key']);
		}
	} finally {
		await ctl('faults', { error_rate: 0 });
	}
	console.log(`# ${made.length} customers.create under faults; the last ` +
	    `took ${tries.length} attempts`);
	check('500s after execute are retried with one Idempotency-Key, the ' +
	    'last attempt a replay', tries.length >= 2 &&
	    tries.slice(0, -1).every((r) => r.fault && r.status === 500) &&
	    tries.at(-1).replayed && tries.at(-1).status === 200 &&
	    /^stripe-node-retry-/.test(tries[0].idempotency_key), tries);
	const all = await stripe.customers.list({ limit: 3 })
	    .autoPagingToArray({ limit: 1000 });
	check('customers.list auto-pagination (limit 3) sees every customer once',
	    all.length === state.counts.customers &&
	    new Set(all.map((c) => c.id)).size === all.length,
	    { listed: all.length, counted: state.counts.customers });
	const counts = [];
	for (const c of made) {
		const same = await stripe.customers.list({ email: c.email });
		counts.push(same.data.length === 1 && same.data[0].id === c.id ?
		    1 : same.data.map((x) => x.id));
	}
	check('exactly one customer per customers.create (customers.list by ' +
	    'email)', made.length > 0 && counts.every((x) => x === 1) &&
	    state.counts.customers === before + made.length,
	    { counts, before, after: state.counts.customers });

	// Every webhook verifies with webhooks.constructEvent.
	await ctl('drain', {});
	const bad = [];
	for (const g of got) {
		try {
			const e = stripe.webhooks.constructEvent(g.raw,
			    g.headers['stripe-signature'], SECRET);
			if (!e.id.startsWith('evt_'))
				bad.push(`odd event ${e.id}`);
		} catch (e) {
			bad.push(`${g.headers['stripe-signature']?.slice(0, 40)}: ` +
			    e.message);
		}
	}
	check(`all ${got.length} webhooks verify with webhooks.constructEvent`,
	    got.length >= 10 && bad.length === 0, bad.slice(0, 5).join('\n'));
	const types = new Set(got.map((g) => JSON.parse(g.raw).type));
	check('they include the subscription updates and deletion',
	    types.has('customer.subscription.updated') &&
	    types.has('customer.subscription.deleted') &&
	    types.has('customer.created'), [...types]);
	await raises('a wrong secret does not verify',
	    Stripe.errors.StripeSignatureVerificationError,
	    () => stripe.webhooks.constructEvent(got[0].raw,
	    got[0].headers['stripe-signature'], 'whsec_wrong'));
	const tampered = Buffer.from(got[0].raw.toString().replace('"id"',
	    '"id" '));
	await raises('a changed body does not verify',
	    Stripe.errors.StripeSignatureVerificationError,
	    () => stripe.webhooks.constructEvent(tampered,
	    got[0].headers['stripe-signature'], SECRET));
	const first = JSON.parse(got[0].raw);
	const fetched = await stripe.events.retrieve(first.id);
	check('events.retrieve gives the delivered event',
	    fetched.id === first.id && fetched.type === first.type, fetched);
}

const t0 = Date.now();
try {
	await run();
} catch (e) {
	check('the run went to the end', false, e);
}
emu.kill('SIGTERM');
await new Promise((ok) => {
	if (emu.exitCode !== null || emu.signalCode !== null)
		return ok();
	const timer = setTimeout(() => { emu.kill('SIGKILL'); }, 10000);
	emu.once('exit', () => { clearTimeout(timer); ok(); });
});
receiver.close();
fs.closeSync(log);
if (failed) {
	const tail = fs.readFileSync(logPath, 'utf8').trimEnd().split('\n')
	    .slice(-30);
	console.log('# last lines of the emulator log:');
	for (const line of tail)
		console.log(`#   ${line}`);
}
console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`stripe node library: ${n - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
