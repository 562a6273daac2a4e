// Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
//
// tests/slack-emu-node.mjs: the Slack emulator (tests/slack-emu.py)
// driven, unchanged, by Slack's official Node clients: WebClient from
// "@slack/web-api" (pointed at the emulator with slackApiUrl) and
// IncomingWebhook from "@slack/webhook", so that the emulator answers
// what today's Slack clients send (form-encoded calls with a Bearer
// token, client credentials as form fields, JSON webhooks) in the shapes
// they map to results and to their error classes (platform errors,
// HTTP errors, rate limiting with Retry-After).  The install page is
// driven as a browser would: its form fields posted to the decide route.
//
//   node tests/slack-emu-node.mjs PREFIX EMULATOR LOGFILE [BASE]
//
// tests/slack-emu-node.sh installs the libraries under PREFIX and runs
// this.  Without BASE it starts the emulator on a free loopback port with
// a fresh client id and secret and a state file in a temporary
// directory, restarts it once (tokens must survive) and stops it at the
// end.  With BASE it drives that emulator with SLACK_CLIENT_ID and
// SLACK_CLIENT_SECRET from the environment and leaves out what needs an
// emulator of its own.  Prints "ok N - what" or "not ok N - what" per
// check, then "slack node libraries: N passed, N failed"; exits 1 if
// anything failed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const [prefix, emuPath, logPath, givenBase] = process.argv.slice(2);
if (!prefix || !emuPath || !logPath) {
	console.error('usage: slack-emu-node.mjs PREFIX EMULATOR LOGFILE [BASE]');
	process.exit(2);
}
// The packages as an application gets them, resolved from the prefix's
// node_modules.
const require = createRequire(path.join(path.resolve(prefix), 'index.js'));
const webApi = require('@slack/web-api');
const webhookLib = require('@slack/webhook');
const { WebClient, ErrorCode, WebClientEvent } = webApi;
const { IncomingWebhook } = webhookLib;

const OWN = !givenBase;
const CLIENT_ID = OWN ? `1000000000.${Date.now() % 1e9}` :
    process.env.SLACK_CLIENT_ID;
const CLIENT_SECRET = OWN ? randomBytes(16).toString('hex') :
    process.env.SLACK_CLIENT_SECRET;
const REDIRECT = 'http://127.0.0.1:9/channels/slack/callback';
// What Tollgate's state looks like (base64url JSON "." base64url MAC),
// plus the characters a careless encoder would break.
const STATE = 'eyJ0ZW5hbnQiOiJ0LTEifQ.c2ln_-' + " +/=%&?#é";

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

// fn must throw; test(e) says whether it threw the right thing.
async function raises(what, fn, test) {
	try {
		const got = await fn();
		return check(what, false, { 'nothing was raised; got': got });
	} catch (e) {
		return check(what, test(e), { name: e?.constructor?.name,
		    code: e?.code, message: e?.message, data: e?.data,
		    statusCode: e?.statusCode, body: e?.body });
	}
}

const platformError = (error) => (e) =>
    e.code === ErrorCode.PlatformError && e.data?.ok === false &&
    e.data?.error === error;

// An IncomingWebhook HTTP error with that status and body.  Version 8
// puts them on the error; version 7 (the one for node 18) on the axios
// error it wraps.
const hookError = (status, body) => (e) =>
    e.code === 'slack_webhook_http_error' &&
    (e.statusCode ?? e.original?.response?.status) === status &&
    (e.body ?? e.original?.response?.data) === body;

// --- the emulator -----------------------------------------------------------------

let emu = null;
let log = null;
const stateDir = OWN ? fs.mkdtempSync(path.join(os.tmpdir(), 'slack-emu-')) :
    null;

async function startEmu() {
	log = fs.openSync(logPath, 'a');
	emu = spawn('/usr/bin/python3', [emuPath, '--port', '0', '--state',
	    path.join(stateDir, 'slack-emu.json')],
	    { stdio: ['ignore', 'pipe', log],
	      env: { ...process.env, SLACK_CLIENT_ID: CLIENT_ID,
	      SLACK_CLIENT_SECRET: CLIENT_SECRET } });
	const port = await new Promise((ok, fail) => {
		const rl = readline.createInterface({ input: emu.stdout });
		rl.once('line', (line) => ok(Number(line.trim())));
		emu.once('exit', (code) => fail(new Error(`the emulator exited ` +
		    `(${code}) before printing its port; see ${logPath}`)));
	});
	return `http://127.0.0.1:${port}`;
}

async function stopEmu() {
	if (!emu)
		return;
	const proc = emu;
	emu = null;
	if (proc.exitCode === null && proc.signalCode === null) {
		await new Promise((ok) => {
			const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
			proc.once('exit', () => { clearTimeout(timer); ok(); });
			proc.kill('SIGTERM');
		});
	}
	fs.closeSync(log);
}

let base = OWN ? await startEmu() : givenBase.replace(/\/+$/, '');

async function ctl(method, name, body) {
	const r = await fetch(`${base}/_emu/${name}`, { method,
	    headers: body === undefined ? {} :
	    { 'Content-Type': 'application/json' },
	    body: body === undefined ? undefined : JSON.stringify(body) });
	const text = await r.text();
	if (r.status !== 200)
		throw new Error(`/_emu/${name}: ${r.status} ${text.slice(0, 300)}`);
	return JSON.parse(text);
}

function api(token, opts = {}) {
	return new WebClient(token, { slackApiUrl: `${base}/api/`, ...opts });
}

// The install page's form, submitted as the browser would.
async function decide(fields) {
	const r = await fetch(`${base}/oauth/v2/authorize/decide`, {
	    method: 'POST', redirect: 'manual', body: new URLSearchParams({
	    client_id: CLIENT_ID, redirect_uri: REDIRECT, state: STATE,
	    scope: 'chat:write,incoming-webhook', ...fields }) });
	const location = r.headers.get('location') || '';
	return { status: r.status, location,
	    params: location ? new URL(location).searchParams : null };
}

// --- the checks -----------------------------------------------------------------------

async function installPage() {
	const q = new URLSearchParams({ client_id: CLIENT_ID, scope:
	    'chat:write,incoming-webhook', redirect_uri: REDIRECT, state: STATE });
	const r = await fetch(`${base}/oauth/v2/authorize?${q}`);
	const page = await r.text();
	check('the install page is HTML titled "Install Tollgate to ..."',
	    r.status === 200 && /^text\/html/.test(r.headers.get('content-type'))
	    && /<h1>Install Tollgate to [^<]+<\/h1>/.test(page), page.slice(0, 400));
	check('it has the channel select with its three channels and a label',
	    /<label for="channel">/.test(page) &&
	    /<select id="channel" name="channel">/.test(page) &&
	    ['C0GENERAL', 'C0ALERTS', 'C0AGENTS'].every((c) =>
	    page.includes(`value="${c}"`)), page);
	check('it has the Allow and Cancel buttons and a viewport for phones',
	    /<button[^>]*name="decision" value="allow" id="slack-allow"/.test(page)
	    && /<button[^>]*name="decision" value="deny" id="slack-deny"/.test(page)
	    && /name="viewport" content="width=device-width/.test(page), page);
	const bad = await fetch(`${base}/oauth/v2/authorize?client_id=nope&` +
	    `redirect_uri=${encodeURIComponent(REDIRECT)}`);
	check('an unknown client_id gets a 400 page', bad.status === 400 &&
	    /Unknown client_id/.test(await bad.text()));
	const noRedirect = await fetch(`${base}/oauth/v2/authorize?client_id=` +
	    encodeURIComponent(CLIENT_ID));
	check('a missing redirect_uri gets a 400 page', noRedirect.status === 400
	    && /redirect_uri/.test(await noRedirect.text()));
}

async function oauth() {
	const deny = await decide({ channel: 'C0ALERTS', decision: 'deny' });
	check('Cancel redirects with error=access_denied and the state as sent',
	    deny.status === 302 && deny.location.startsWith(REDIRECT + '?') &&
	    deny.params.get('error') === 'access_denied' &&
	    deny.params.get('state') === STATE && !deny.params.has('code'),
	    deny.location);
	const allow = await decide({ channel: 'C0AGENTS', decision: 'allow' });
	const code = allow.params?.get('code');
	check('Allow redirects with a code and the state byte for byte',
	    allow.status === 302 && !!code && allow.params.get('state') === STATE,
	    allow.location);
	const anon = api(undefined, { retryConfig: { retries: 0 } });
	const args = { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code,
	    redirect_uri: REDIRECT };
	await raises('oauth.v2.access with another client id: invalid_client_id',
	    () => anon.oauth.v2.access({ ...args, client_id: '1.2' }),
	    platformError('invalid_client_id'));
	await raises('oauth.v2.access with a wrong secret: bad_client_secret',
	    () => anon.oauth.v2.access({ ...args, client_secret: 'f'.repeat(32) }),
	    platformError('bad_client_secret'));
	await raises('oauth.v2.access with another redirect_uri: bad_redirect_uri',
	    () => anon.oauth.v2.access({ ...args, redirect_uri: REDIRECT + 'x' }),
	    platformError('bad_redirect_uri'));
	const res = await anon.oauth.v2.access(args);
	check('oauth.v2.access gives a bot token, the team and the bot user',
	    res.ok === true && /^xoxb-[0-9]+-[0-9]+-[A-Za-z0-9]+$/.test(
	    res.access_token) && res.token_type === 'bot' &&
	    /^T[A-Z0-9]+$/.test(res.team?.id) && !!res.team?.name &&
	    res.bot_user_id === 'U0EMUBOT' && res.app_id === 'A0EMUAPP1' &&
	    res.authed_user?.id === 'U0EMUUSER' && res.enterprise === null &&
	    res.is_enterprise_install === false &&
	    res.scope === 'chat:write,incoming-webhook', res);
	const hook = res.incoming_webhook || {};
	check('... and an incoming webhook for the channel chosen on the page',
	    hook.channel === '#agents' && hook.channel_id === 'C0AGENTS' &&
	    hook.url?.startsWith(`${base}/services/${res.team?.id}/B`) &&
	    hook.configuration_url === `${base}/_emu/`, hook);
	await raises('the same code a second time: invalid_code',
	    () => anon.oauth.v2.access(args), platformError('invalid_code'));
	await raises('a made-up code: invalid_code',
	    () => anon.oauth.v2.access({ ...args, code: '1.2.3' }),
	    platformError('invalid_code'));
	return res;
}

async function messages(token) {
	const slack = api(token);
	const first = await slack.chat.postMessage({ channel: '#alerts',
	    text: 'Quota at 80 % for Acme' });
	check('chat.postMessage answers the channel id, a ts and the message',
	    first.ok && first.channel === 'C0ALERTS' &&
	    /^[0-9]{10}\.[0-9]{6}$/.test(first.ts) &&
	    first.message?.text === 'Quota at 80 % for Acme' &&
	    first.message?.ts === first.ts && first.message?.type === 'message' &&
	    first.message?.bot_id === 'B0EMUBOT' &&
	    first.message?.user === 'U0EMUBOT', first);
	const blocks = [{ type: 'section', text: { type: 'mrkdwn',
	    text: '*Budget* exceeded' } }];
	const second = await slack.chat.postMessage({ channel: 'C0GENERAL',
	    blocks, text: 'Budget exceeded' });
	check('a second message gets a later ts; blocks come back as sent',
	    second.ts > first.ts && second.channel === 'C0GENERAL' &&
	    JSON.stringify(second.message?.blocks) === JSON.stringify(blocks),
	    second);
	await raises('an unknown channel: channel_not_found',
	    () => slack.chat.postMessage({ channel: '#random', text: 'x' }),
	    platformError('channel_not_found'));
	await raises('no text and no blocks: no_text',
	    () => slack.chat.postMessage({ channel: '#alerts' }),
	    platformError('no_text'));
	await raises('no token at all: not_authed',
	    () => api(undefined).chat.postMessage({ channel: '#alerts',
	    text: 'x' }), platformError('not_authed'));
	await raises('a token Slack never issued: invalid_auth',
	    () => api('xoxb-1-2-nope').chat.postMessage({ channel: '#alerts',
	    text: 'x' }), platformError('invalid_auth'));
	const who = await slack.auth.test();
	check('auth.test names the team, the bot user and the bot',
	    who.ok && /^T/.test(who.team_id) && !!who.team &&
	    who.user_id === 'U0EMUBOT' && who.bot_id === 'B0EMUBOT' &&
	    who.url === 'https://emu-workspace.slack.com/', who);
	return [first, second];
}

async function webhooks(hookUrl, teamId) {
	const hook = new IncomingWebhook(hookUrl);
	const sent = await hook.send('Payment failed for Acme');
	check('IncomingWebhook.send (text) gets "ok"', sent.text === 'ok', sent);
	const viaBlocks = await hook.send({ blocks: [{ type: 'section',
	    text: { type: 'plain_text', text: 'blocks only' } }] });
	check('IncomingWebhook.send (blocks only) gets "ok"',
	    viaBlocks.text === 'ok', viaBlocks);
	await raises('an empty message: HTTP 400 no_text',
	    () => hook.send({}), hookError(400, 'no_text'));
	const bad = new IncomingWebhook(`${base}/services/${teamId}/B0NOPE/nope`);
	await raises('an unknown webhook URL: HTTP 404 no_service',
	    () => bad.send('x'), hookError(404, 'no_service'));
	const made = await ctl('POST', 'webhooks', { channel: '#general' });
	const alone = await new IncomingWebhook(made.url).send('standalone');
	check('a standalone webhook from /_emu/webhooks posts to its channel',
	    alone.text === 'ok' && made.channel_id === 'C0GENERAL', made);
}

// What the emulator recorded, and what it shows.
async function recorded(token, hookUrl, posted) {
	const all = await ctl('GET', 'messages');
	const mine = all.filter((m) => posted.some((p) => p.ts === m.ts));
	check('both chat.postMessage messages are recorded with channel and team',
	    mine.length === 2 && mine[0].via === 'chat.postMessage' &&
	    mine[0].channel === 'C0ALERTS' && mine[0].channel_name === '#alerts' &&
	    mine[0].text === 'Quota at 80 % for Acme' && /^T/.test(mine[0].team) &&
	    /Z$/.test(mine[0].received_at), mine);
	const hooked = all.filter((m) => m.via === 'webhook' &&
	    m.text === 'Payment failed for Acme');
	check('the webhook message is recorded in the webhook\'s channel',
	    hooked.length >= 1 && hooked.at(-1).channel === 'C0AGENTS', hooked);
	const state = await ctl('GET', 'state');
	const text = JSON.stringify(state);
	const secret = new URL(hookUrl).pathname.split('/').at(-1);
	check('/_emu/state shows installs by token hint, never a token or secret',
	    state.installs.some((i) => i.token_hint ===
	    `xoxb-...${token.slice(-4)}`) && !text.includes(token) &&
	    !text.includes(CLIENT_SECRET) && !text.includes(secret),
	    state.installs);
	const page = await fetch(`${base}/_emu/`);
	const body = await page.text();
	check('/_emu/ lists the messages, newest first', page.status === 200 &&
	    body.indexOf('standalone') < body.indexOf('Quota at 80 %') &&
	    body.indexOf('Quota at 80 %') > 0, body.slice(0, 300));
}

async function faults(token) {
	const slack = api(token);
	const limited = [];
	slack.on(WebClientEvent.RATE_LIMITED, (sec) => limited.push(sec));
	await ctl('POST', 'faults', { path: '/api/auth.test', status: 429 });
	const t0 = Date.now();
	const who = await slack.auth.test();
	check('a 429 with Retry-After: 1 is waited out and retried by WebClient',
	    who.ok && limited.length === 1 && limited[0] === 1 &&
	    Date.now() - t0 >= 900, { limited, ms: Date.now() - t0 });
	await ctl('POST', 'faults', { path: '/api/chat.postMessage',
	    status: 500 });
	await raises('a 500 surfaces as WebAPIHTTPError (no retries asked)',
	    () => api(token, { retryConfig: { retries: 0 } }).chat.postMessage({
	    channel: '#alerts', text: 'x' }),
	    (e) => e.code === ErrorCode.HTTPError && e.statusCode === 500 &&
	    e.body?.error === 'internal_error');
	await ctl('POST', 'faults', { path: '/api/', error: 'invalid_auth' });
	await raises('an injected error: a platform error of that name',
	    () => slack.auth.test(), platformError('invalid_auth'));
	await ctl('POST', 'faults', { path: '/services/', status: 503,
	    times: 2 });
	check('a queued fault is listed; DELETE /_emu/faults clears it',
	    (await ctl('GET', 'faults')).faults.length === 1 &&
	    (await ctl('DELETE', 'faults')).faults.length === 0);
	await ctl('POST', 'faults', { delay_ms: 300, path: '/api/auth.test' });
	const t1 = Date.now();
	await slack.auth.test();
	check('a delay-only fault delays and then answers normally',
	    Date.now() - t1 >= 280, Date.now() - t1);
}

// A restarted emulator (a new port) still honours what it issued.
async function restart(token, hookUrl) {
	await stopEmu();
	base = await startEmu();
	const who = await api(token).auth.test();
	check('after a restart the bot token still works', who.ok === true, who);
	const moved = base + new URL(hookUrl).pathname;
	const sent = await new IncomingWebhook(moved).send('after restart');
	check('... and so does the incoming webhook', sent.text === 'ok', sent);
}

async function revoke(token) {
	const slack = api(token);
	const tested = await slack.auth.revoke({ test: true });
	check('auth.revoke with test=true revokes nothing', tested.ok &&
	    tested.revoked === false && (await slack.auth.test()).ok, tested);
	const res = await slack.auth.revoke();
	check('auth.revoke answers revoked: true', res.ok && res.revoked === true,
	    res);
	await raises('the revoked token: auth.test raises invalid_auth',
	    () => slack.auth.test(), platformError('invalid_auth'));
	await raises('... and chat.postMessage too',
	    () => slack.chat.postMessage({ channel: '#alerts', text: 'x' }),
	    platformError('invalid_auth'));
}

function logIsClean(token, hookUrl) {
	const text = fs.readFileSync(logPath, 'utf8');
	const secret = new URL(hookUrl).pathname.split('/').at(-1);
	check('the emulator log has neither the token, the client secret nor ' +
	    'the webhook secret', text.includes('POST /api/chat.postMessage') &&
	    !text.includes(token) && !text.includes(CLIENT_SECRET) &&
	    !text.includes(secret));
}

async function run() {
	console.log(`# @slack/web-api ${require('@slack/web-api/package.json')
	    .version}, @slack/webhook ${require('@slack/webhook/package.json')
	    .version} (node ${process.version}); emulator ${base}` +
	    (OWN ? ` (log ${logPath})` : ' (given)'));
	if (!CLIENT_ID || !CLIENT_SECRET)
		throw new Error('SLACK_CLIENT_ID and SLACK_CLIENT_SECRET must be set ' +
		    'to drive a running emulator');
	await installPage();
	const install = await oauth();
	const token = install.access_token;
	const hookUrl = install.incoming_webhook.url;
	const posted = await messages(token);
	await webhooks(hookUrl, install.team.id);
	await recorded(token, hookUrl, posted);
	if (OWN) {
		await faults(token);
		await restart(token, hookUrl);
	} else {
		console.log('# a running emulator: no faults, restart or log checks');
	}
	await revoke(token);
	if (OWN)
		logIsClean(token, hookUrl);
}

const t0 = Date.now();
try {
	await run();
} catch (e) {
	check('the run went to the end', false, e);
}
await stopEmu();
if (stateDir)
	fs.rmSync(stateDir, { recursive: true, force: true });
if (failed && OWN) {
	const tail = fs.readFileSync(logPath, 'utf8').trimEnd().split('\n')
	    .slice(-30);
	console.log('# last lines of the emulator log:');
	for (const line of tail)
		console.log(`#   ${line}`);
}
console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`slack node libraries: ${n - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
