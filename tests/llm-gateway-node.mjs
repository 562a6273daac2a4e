// Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
//
// tests/llm-gateway-node.mjs: Tollgate's LLM gateway (fcgi/gateway.c)
// driven, unchanged, by OpenAI's official Node client ("openai" from
// npm) through a real stack: lighttpd, the gateway's responders,
// PostgreSQL and the stack's LLM emulator (tests/llm-emu.py) playing
// OpenAI and Anthropic.  The client differs from one talking to OpenAI
// only in its baseURL (<TOLLGATE_URL>/api/v1/llm) and its apiKey (a
// Tollgate API key with the llm scope).
//
//   node tests/llm-gateway-node.mjs PREFIX
//
// tests/llm-gateway-node.sh installs the client under PREFIX and runs
// this with the stack's stack.env in the environment (TOLLGATE_URL,
// TOLLGATE_OWNER_DATABASE_URL, PG_BIN, LLM_EMU_URL).  It makes an
// organization of its own (POST /auth/register, then the pro plan as
// the database owner, as the integration programs do), its two provider
// keys (POST /llm-keys) and its API keys (POST /api-keys), and checks:
// models.list(); create() plain and streamed, with and without
// stream_options.include_usage, against what the emulator predicts
// (POST /_emu/count); events spread over time through lighttpd; emu-claude
// (Anthropic's messages API, translated); the SDK's error classes for
// Tollgate's refusals; a client that breaks out of a stream; and what
// the gateway recorded (the emulator's requests, gateway_calls, GET
// /usage/summary).
//
// The gateway does not pass the client's headers on, so the X-Emu-*
// request headers cannot reach the emulator through it: the stream delay
// is the emulator's default (POST /_emu/settings), set for the run and
// restored at the end.  Only requests made with this run's provider keys
// are looked at, so other users of the emulator do not disturb the
// checks.
//
// Prints "ok N - what" or "not ok N - what" per check, then "llm gateway
// node client: N passed, N failed" and "llm-gateway-node: N checks
// passed"; exits 1 if anything failed.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import path from 'node:path';

const [prefix] = process.argv.slice(2);
if (!prefix) {
	console.error('usage: llm-gateway-node.mjs PREFIX');
	process.exit(2);
}
for (const v of ['TOLLGATE_URL', 'LLM_EMU_URL',
    'TOLLGATE_OWNER_DATABASE_URL']) {
	if (!process.env[v]) {
		console.error(`llm-gateway-node.mjs: ${v} is not set (load ` +
		    'the stack\'s stack.env)');
		process.exit(2);
	}
}
const TOLLGATE = process.env.TOLLGATE_URL.replace(/\/+$/, '');
const EMU = process.env.LLM_EMU_URL.replace(/\/+$/, '');
const BASE = `${TOLLGATE}/api/v1/llm`;

// The package as an application gets it, from the prefix's node_modules.
// openai 5 and later export { OpenAI, ... }; 4 exports the class itself.
const require = createRequire(path.join(path.resolve(prefix), 'index.js'));
const lib = require('openai');
const OpenAI = lib.OpenAI ?? lib.default ?? lib;
const errors = (name) => lib[name] ?? OpenAI[name];
const VERSION = JSON.parse(fs.readFileSync(path.join(path.resolve(prefix),
    'node_modules', 'openai', 'package.json'), 'utf8')).version;

const RUN = `${process.pid}-${randomBytes(4).toString('hex')}`;
const OPENAI_KEY = 'sk-gwnode-' + randomBytes(12).toString('hex');
const ANT_KEY = 'sk-ant-gwnode-' + randomBytes(12).toString('hex');
// The emulator's hints of them (tests/emu_common.py, hint()).
const OPENAI_HINT = OPENAI_KEY.slice(0, 3) + '...' + OPENAI_KEY.slice(-4);
const ANT_HINT = ANT_KEY.slice(0, 7) + '...' + ANT_KEY.slice(-4);
const DELAY_MS = 80;		// the emulator's stream delay for this run
const SYSTEM = 'You are terse.';
const PROMPT = 'count the tokens of this prompt please';
const MESSAGES = [{ role: 'system', content: SYSTEM },
    { role: 'user', content: PROMPT }];

// --- reporting -------------------------------------------------------------

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
			for (const line of String(text).split('\n').slice(0, 25))
				console.log(`#   ${line}`);
		}
	}
	return cond;
}

// What an error is, for a failed check.
function describe(e) {
	return { name: e?.constructor?.name, status: e?.status, code: e?.code,
	    type: e?.type, param: e?.param, message: e?.message,
	    requestID: e?.requestID, error: e?.error };
}

// fn must throw; test(e) says whether it threw the right thing.
async function raises(what, fn, test) {
	try {
		const got = await fn();
		return check(what, false, { 'nothing was raised; got': got });
	} catch (e) {
		return check(what, test(e), describe(e));
	}
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// --- Tollgate's API, for the set-up ------------------------------------------

// The sign-up routes are limited per client address: the registration
// comes from an address of its own in 127/8 (as the integration
// programs' clients do: tests/it-util.c), when Tollgate is on loopback.
const SOURCE = `127.71.${process.pid & 0xff}.${10 + randomBytes(1)[0] % 240}`;

function api(method, route, { token, body, source } = {}) {
	const u = new URL(`${TOLLGATE}/api/v1${route}`);
	const data = body === undefined ? null : JSON.stringify(body);
	const headers = { Accept: 'application/json' };
	if (token)
		headers.Authorization = `Bearer ${token}`;
	if (data !== null) {
		headers['Content-Type'] = 'application/json';
		headers['Content-Length'] = Buffer.byteLength(data);
	}
	const loopback = u.hostname === '127.0.0.1' || u.hostname === 'localhost';
	return new Promise((ok, fail) => {
		const req = (u.protocol === 'https:' ? https : http).request(u, {
		    method, headers, timeout: 30000,
		    ...(source && loopback ? { localAddress: source } : {}) },
		    (res) => {
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (c) => { text += c; });
			res.on('end', () => {
				let json = null;
				try {
					json = text ? JSON.parse(text) : null;
				} catch {
					json = { raw: text.slice(0, 300) };
				}
				ok({ status: res.statusCode, headers: res.headers,
				    json });
			});
		});
		req.on('timeout', () => req.destroy(new Error(`${method} ` +
		    `${route}: no answer in 30 s`)));
		req.on('error', fail);
		if (data !== null)
			req.write(data);
		req.end();
	});
}

// Statements as the database owner on one connection that names the
// tenant first (row-level security is forced, for the owner too); the
// rows of the last, as arrays of text.  :'tenant' is the tenant.
function ownerSQL(tenant, sql) {
	const psql = process.env.PG_BIN ? path.join(process.env.PG_BIN, 'psql') :
	    'psql';
	const p = spawnSync(psql, ['-X', '-q', '-A', '-t', '-F', '\t', '-v',
	    'ON_ERROR_STOP=1', '-v', `tenant=${tenant}`,
	    process.env.TOLLGATE_OWNER_DATABASE_URL], { input:
	    "SELECT set_config('tollgate.tenant_id', :'tenant', false) " +
	    `AS tenant_set \\gset\n${sql}\n`, encoding: 'utf8',
	    timeout: 30000 });
	if (p.status !== 0)
		throw new Error(`psql failed (${p.status ?? p.error}): ` +
		    `${(p.stderr || '').trim()}`);
	return p.stdout.split('\n').filter((l) => l).map((l) => l.split('\t'));
}

// --- the emulator --------------------------------------------------------------

async function emu(method, name, body) {
	const r = await fetch(`${EMU}/_emu/${name}`, { method,
	    headers: body === undefined ? {} :
	    { 'Content-Type': 'application/json' },
	    body: body === undefined ? undefined : JSON.stringify(body) });
	const text = await r.text();
	if (r.status !== 200)
		throw new Error(`/_emu/${name}: ${r.status} ${text.slice(0, 300)}`);
	return JSON.parse(text);
}

const mine = (rec) => rec.key_hint === OPENAI_HINT || rec.key_hint === ANT_HINT;

async function lastSeq() {
	const all = await emu('GET', 'requests');
	return all.length ? all.at(-1).seq : 0;
}

// This run's requests after seq, once `want` of them are there and all
// are done (a stream is completed when its last byte is sent).
async function requestsSince(seq, want = 1, tries = 100) {
	let got = [];
	for (let i = 0; i < tries; i++) {
		got = (await emu('GET', `requests?since=${seq}`)).filter(mine);
		if (got.length >= want && got.every((r) => r.done))
			return got;
		await sleep(50);
	}
	return got;
}

// --- the gateway's records -----------------------------------------------------

let tenant = null;

const CALL_COLS = 'call_id, provider, model, stream, status, http_status, ' +
    'prompt_tokens, completion_tokens, cached_tokens, usage_reported, ' +
    'cost_micros, agent_id';

function callRow(cols) {
	const [callId, provider, model, stream, status, httpStatus, prompt,
	    completion, cached, usageReported, cost, agent] = cols;
	return { callId, provider, model, stream: stream === 't', status,
	    httpStatus: Number(httpStatus), prompt: Number(prompt),
	    completion: Number(completion), cached: Number(cached),
	    usageReported: usageReported === 't', cost: Number(cost),
	    agent: agent || null };
}

function calls() {
	return ownerSQL(tenant, `SELECT ${CALL_COLS} FROM gateway_calls ` +
	    "WHERE tenant_id = :'tenant' ORDER BY at, call_id").map(callRow);
}

// The calls recorded beyond the first `known`, waiting for `want` of
// them (a stream is settled after its last byte: a moment later).
async function newCalls(known, want = 1, tries = 100) {
	let got = [];
	for (let i = 0; i < tries; i++) {
		got = calls().slice(known);
		if (got.length >= want)
			return got;
		await sleep(50);
	}
	return got;
}

// --- the client ------------------------------------------------------------------

let llmKey = null;

function client(opts = {}) {
	return new OpenAI({ baseURL: BASE, apiKey: llmKey, maxRetries: 0,
	    ...opts });
}

// Iterates a stream: its chunks, when each came, what it threw.
async function drain(stream, stopAfter = Infinity) {
	const chunks = [];
	const times = [];
	let error = null;
	try {
		for await (const chunk of stream) {
			chunks.push(chunk);
			times.push(performance.now());
			if (chunks.length >= stopAfter)
				break;
		}
	} catch (e) {
		error = e;
	}
	const content = chunks.filter((c) => c.choices?.[0]?.delta?.content);
	return { chunks, times, error, content,
	    text: content.map((c) => c.choices[0].delta.content).join(''),
	    usage: chunks.filter((c) => c.usage) };
}

// --- the organization --------------------------------------------------------

let access = null;
let readKey = null;

async function setup() {
	const email = `llm-gw-node-${RUN}@example.com`;
	const reg = await api('POST', '/auth/register', { source: SOURCE,
	    body: { email, password: `Pass-${RUN}-gateway-word`,
	    organization: `llm gateway node ${RUN}` } });
	if (!check(`POST /auth/register (from ${SOURCE}): an organization of ` +
	    'its own', reg.status === 201 && reg.json?.access_token &&
	    reg.json?.tenant?.id, reg))
		return false;
	access = reg.json.access_token;
	tenant = reg.json.tenant.id;
	// Two provider keys are beyond the free plan's llm_providers quota.
	const plan = ownerSQL(tenant, "UPDATE tenants SET plan = 'pro', " +
	    "status = 'active' WHERE tenant_id = :'tenant';\n" +
	    "SELECT plan FROM tenants WHERE tenant_id = :'tenant';");
	const oa = await api('POST', '/llm-keys', { token: access, body:
	    { provider: 'openai', api_key: OPENAI_KEY, label: 'gateway node' } });
	const an = await api('POST', '/llm-keys', { token: access, body:
	    { provider: 'anthropic', api_key: ANT_KEY, label: 'gateway node' } });
	const key = await api('POST', '/api-keys', { token: access, body:
	    { name: 'llm gateway node', scopes: ['llm'] } });
	const other = await api('POST', '/api-keys', { token: access, body:
	    { name: 'no llm scope', scopes: ['usage:read'] } });
	llmKey = key.json?.secret;
	readKey = other.json?.secret;
	return check('on the pro plan (as the database owner); openai and ' +
	    'anthropic keys (POST /llm-keys); API keys with scope llm and ' +
	    'without (POST /api-keys)', plan[0]?.[0] === 'pro' &&
	    oa.status === 201 && an.status === 201 && key.status === 201 &&
	    /^tg_/.test(llmKey ?? '') && other.status === 201 &&
	    /^tg_/.test(readKey ?? ''), { plan, oa: [oa.status, oa.json],
	    an: [an.status, an.json], key: key.status, other: other.status });
}

// --- the checks --------------------------------------------------------------

async function models() {
	const page = await client().models.list();
	const ids = page.data.map((m) => m.id).sort();
	const priced = ownerSQL(tenant, 'SELECT DISTINCT model FROM ' +
	    "model_prices WHERE provider IN ('openai', 'anthropic') AND " +
	    "effective_from <= (now() AT TIME ZONE 'UTC')::date ORDER BY 1")
	    .map((r) => r[0]).sort();
	const emuModels = ['emu-claude', 'emu-gpt-large', 'emu-gpt-small'];
	check('models.list(): emu-gpt-small, emu-gpt-large, emu-claude and ' +
	    'exactly the priced models of openai and anthropic (the keys\' ' +
	    'providers)', emuModels.every((m) => ids.includes(m)) &&
	    ids.some((m) => !m.startsWith('emu-')) &&
	    JSON.stringify(ids) === JSON.stringify(priced) &&
	    page.data.every((m) => m.object === 'model' &&
	    ['openai', 'anthropic'].includes(m.owned_by) &&
	    Number.isInteger(m.created)) &&
	    page.data.find((m) => m.id === 'emu-claude')?.owned_by ===
	    'anthropic', { got: page.data, priced });
	console.log(`# ${ids.length} models: ${ids.join(', ')}`);
	const one = await client().models.retrieve('emu-claude');
	check('models.retrieve(\'emu-claude\'): the model, owned by anthropic',
	    one.id === 'emu-claude' && one.object === 'model' &&
	    one.owned_by === 'anthropic' && Number.isInteger(one.created), one);
	await raises('models.retrieve() of a model no one prices: ' +
	    'NotFoundError, 404, model_not_found (its id URL-encoded, slash ' +
	    'included)', () => client().models.retrieve(`no-such/${RUN}`),
	    (e) => e instanceof errors('NotFoundError') && e.status === 404 &&
	    e.code === 'model_not_found' && e.param === 'model');
}

// Tools, through both providers' shapes: the model calls one, its
// result goes back, the answer uses it (OpenAI's tools are passed on;
// Anthropic's are translated both ways, streamed too).
const TOOLS = [{ type: 'function', function: { name: 'lookup',
    description: 'Looks a thing up.', parameters: { type: 'object',
    properties: { query: { type: 'string' } }, required: ['query'] } } }];
const ASK = [{ role: 'user', content: 'weather in Paris' }];

function argsOf(call) {
	try {
		return JSON.parse(call?.function?.arguments ?? '');
	} catch {
		return null;
	}
}

async function toolCall(model, stream) {
	const body = { model, messages: ASK, tools: TOOLS };
	if (!stream) {
		const r = await client().chat.completions.create(body);
		return { call: r.choices?.[0]?.message?.tool_calls?.[0],
		    finish: r.choices?.[0]?.finish_reason,
		    content: r.choices?.[0]?.message?.content, n:
		    r.choices?.[0]?.message?.tool_calls?.length };
	}
	const s = await client().chat.completions.create({ ...body,
	    stream: true });
	const call = { id: '', type: 'function', function: { name: '',
	    arguments: '' } };
	let finish = null, n = 0, content = '';
	for await (const ch of s) {
		const d = ch.choices?.[0]?.delta ?? {};
		content += d.content ?? '';
		for (const tc of d.tool_calls ?? []) {
			n = Math.max(n, tc.index + 1);
			call.id ||= tc.id ?? '';
			call.function.name ||= tc.function?.name ?? '';
			call.function.arguments += tc.function?.arguments ?? '';
		}
		finish = ch.choices?.[0]?.finish_reason ?? finish;
	}
	return { call, finish, content: content || null, n };
}

async function tools() {
	for (const model of ['emu-gpt-small', 'emu-claude']) {
		for (const stream of [false, true]) {
			const seq = await lastSeq();
			const what = `${model}${stream ? ', streamed' : ''}`;
			const got = await toolCall(model, stream);
			check(`tools, ${what}: one call of lookup with {"query": ` +
			    '"weather in Paris"}, content null, finish_reason ' +
			    'tool_calls', got.n === 1 && got.call?.function?.name ===
			    'lookup' && argsOf(got.call)?.query === 'weather in ' +
			    'Paris' && /^(call_|toolu_)/.test(got.call?.id ?? '') &&
			    got.content === null && got.finish === 'tool_calls', got);
			const r = await client().chat.completions.create({ model,
			    tools: TOOLS, messages: [...ASK, { role: 'assistant',
			    content: null, tool_calls: [got.call] }, { role: 'tool',
			    tool_call_id: got.call?.id, content: 'sunny and warm' }] });
			check(`tools, ${what}: the result sent back (a tool message), ` +
			    'the answer made of it', r.choices?.[0]?.message?.content
			    ?.startsWith('Echo: sunny and warm') &&
			    r.choices[0].finish_reason === 'stop', r);
			const recs = await requestsSince(seq, 2);
			check(`tools, ${what}: the provider was offered the tool both ` +
			    'times', recs.length === 2 && recs.every((x) =>
			    x.tools === 1), recs);
		}
	}
	await raises('tools, emu-claude: a tool call whose arguments are no ' +
	    'JSON object: BadRequestError, 400, before the provider',
	    () => client().chat.completions.create({ model: 'emu-claude',
	    tools: TOOLS, messages: [...ASK, { role: 'assistant', content: null,
	    tool_calls: [{ id: 'toolu_x', type: 'function', function: {
	    name: 'lookup', arguments: '[1, 2]' } }] }, { role: 'tool',
	    tool_call_id: 'toolu_x', content: 'x' }] }),
	    (e) => e instanceof errors('BadRequestError') && e.status === 400 &&
	    e.param === 'messages');
}

// An image beside the text (a 1x1 PNG as a data URL, and an https
// URL): passed on to OpenAI, Anthropic image blocks for Claude.
const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAf' +
    'FcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

async function images() {
	for (const model of ['emu-gpt-small', 'emu-claude']) {
		const seq = await lastSeq();
		const r = await client().chat.completions.create({ model,
		    messages: [{ role: 'user', content: [
		    { type: 'text', text: 'what is in these' },
		    { type: 'image_url', image_url: { url: PNG } },
		    { type: 'image_url', image_url: {
		    url: 'https://example.com/cat.jpg' } }] }] });
		const [rec] = await requestsSince(seq);
		check(`images, ${model}: the answer from the text, both images ` +
		    'given to the provider', r.choices?.[0]?.message?.content
		    ?.startsWith('Echo: what is in these') && rec?.images === 2,
		    { r, rec });
	}
	await raises('images, emu-claude: an image Anthropic does not take ' +
	    '(image/bmp): BadRequestError, 400, before the provider',
	    () => client().chat.completions.create({ model: 'emu-claude',
	    messages: [{ role: 'user', content: [{ type: 'image_url',
	    image_url: { url: 'data:image/bmp;base64,Qk0=' } }] }] }),
	    (e) => e instanceof errors('BadRequestError') && e.status === 400 &&
	    e.param === 'messages');
}

async function plain(want) {
	let seq = await lastSeq();
	const known = calls().length;
	const { data: r, response } = await client().chat.completions.create({
	    model: 'emu-gpt-small', messages: MESSAGES }).withResponse();
	const c = r.choices?.[0];
	check('create(): the emulator\'s answer (Echo: ...), role assistant, ' +
	    'finish_reason stop', r.object === 'chat.completion' &&
	    r.model === 'emu-gpt-small' && c?.message?.role === 'assistant' &&
	    c.message.content === want.text && c.finish_reason === 'stop' &&
	    r.choices.length === 1, { got: r, want: want.text });
	const u = r.usage;
	check('create(): usage as the emulator promised (/_emu/count)',
	    u?.prompt_tokens === want.prompt_tokens &&
	    u.completion_tokens === want.completion_tokens &&
	    u.total_tokens === want.prompt_tokens + want.completion_tokens,
	    { u, want });
	const [rec] = await requestsSince(seq);
	const xid = response.headers.get('x-request-id');
	check('_request_id is Tollgate\'s X-Request-Id (not the provider\'s)',
	    /^[A-Za-z0-9._-]{8,64}$/.test(r._request_id ?? '') &&
	    r._request_id === xid && r._request_id !== rec?.request_id,
	    { sdk: r._request_id, header: xid, provider: rec?.request_id });
	check('the provider saw the organization\'s openai key, ' +
	    'max_completion_tokens 4096 (the gateway\'s default, the field ' +
	    'OpenAI\'s reasoning models take), no stream_options, Tollgate\'s ' +
	    'User-Agent and none of the SDK\'s headers', rec?.path ===
	    '/v1/chat/completions' && rec.model === 'emu-gpt-small' &&
	    rec.stream === false && rec.stream_options === null &&
	    rec.max_tokens === 4096 &&
	    rec.max_tokens_field === 'max_completion_tokens' &&
	    /^Tollgate\//.test(rec.user_agent ?? '') &&
	    Object.keys(rec.stainless ?? {}).length === 0 &&
	    rec.status === 200 && rec.usage_sent === true, rec);
	const [call] = await newCalls(known);
	check('gateway_calls: ok, not streamed, the provider\'s usage, priced',
	    call?.status === 'ok' && call.stream === false &&
	    call.provider === 'openai' && call.model === 'emu-gpt-small' &&
	    call.usageReported && call.prompt === want.prompt_tokens &&
	    call.completion === want.completion_tokens && call.cost > 0 &&
	    call.httpStatus === 200, call);

	seq = await lastSeq();
	const cap = await client().chat.completions.create({
	    model: 'emu-gpt-small', messages: MESSAGES,
	    max_completion_tokens: 16 });
	const [crec] = await requestsSince(seq);
	check('max_completion_tokens 16: passed on in its own field, the ' +
	    'whole answer', cap.choices?.[0]?.message?.content === want.text &&
	    cap.choices[0].finish_reason === 'stop' && crec?.max_tokens === 16 &&
	    crec.max_tokens_field === 'max_completion_tokens', { cap, crec });

	// Below the gateway's own minimum (GW_MIN_TOKENS, 16): the client's
	// limit, not a clamp of the budget or the quota, so it must pass.
	seq = await lastSeq();
	let short = null;
	try {
		short = await client().chat.completions.create({
		    model: 'emu-gpt-small', messages: MESSAGES, max_tokens: 5 });
	} catch (e) {
		short = describe(e);
	}
	const [srec] = await requestsSince(seq, 1, 10);
	check('max_tokens 5 (below the gateway\'s minimum of 16, but the ' +
	    'client\'s own): five words, finish_reason length',
	    short?.usage?.completion_tokens === 5 &&
	    short.choices[0].finish_reason === 'length' &&
	    short.choices[0].message.content ===
	    want.text.split(' ').slice(0, 5).join(' ') &&
	    srec?.max_tokens === 5 && srec.max_tokens_field === 'max_tokens',
	    { short, srec });
}

async function streamed(want) {
	let seq = await lastSeq();
	let known = calls().length;
	const t0 = performance.now();
	const s = await drain(await client().chat.completions.create({
	    model: 'emu-gpt-small', messages: MESSAGES, stream: true,
	    stream_options: { include_usage: true } }));
	const total = performance.now() - t0;
	const first = s.chunks[0];
	const fin = s.chunks.find((c) => c.choices?.[0]?.finish_reason);
	const last = s.chunks.at(-1);
	check('stream: chat.completion.chunk events, a role delta first, one ' +
	    'delta per word joining to the non-streamed text',
	    !s.error && first?.object === 'chat.completion.chunk' &&
	    first.choices[0].delta.role === 'assistant' &&
	    s.content.length === want.completion_tokens && s.text === want.text,
	    s.error ? describe(s.error) : { text: s.text, want: want.text });
	check('include_usage: finish_reason stop, then one last chunk with ' +
	    'choices [] and the usage the emulator promised',
	    fin?.choices[0].finish_reason === 'stop' && s.usage.length === 1 &&
	    last?.choices.length === 0 &&
	    last.usage.prompt_tokens === want.prompt_tokens &&
	    last.usage.completion_tokens === want.completion_tokens &&
	    last.usage.total_tokens === want.prompt_tokens +
	    want.completion_tokens, { fin, last, usage: s.usage });
	// Through lighttpd and the gateway, unbuffered: the deltas come
	// DELAY_MS apart as the emulator sends them, not all at the end.
	const idx = s.content.map((ch) => s.chunks.indexOf(ch));
	const spread = s.times[idx.at(-1)] - s.times[idx[0]];
	const gaps = idx.slice(1).map((j, i) =>
	    Math.round(s.times[j] - s.times[idx[i]]));
	const minSpread = (want.completion_tokens - 1) * DELAY_MS * 0.75;
	check(`events spread in time through lighttpd: ${want.completion_tokens}` +
	    ` deltas over >= ${minSpread} ms (the emulator's delay ` +
	    `${DELAY_MS} ms), the first well before the end`,
	    s.content.length === want.completion_tokens && spread >= minSpread &&
	    s.times[idx[0]] - t0 < total - minSpread,
	    { spread, gaps, first: s.times[idx[0]] - t0, total });
	console.log(`# stream: ${s.chunks.length} chunks in ${Math.round(total)}` +
	    ` ms, deltas ${Math.round(spread)} ms apart end to end (gaps ` +
	    `${gaps.join(' ')})`);
	let [rec] = await requestsSince(seq);
	let [call] = await newCalls(known);
	check('... recorded: the emulator delivered the usage; gateway_calls ' +
	    'ok, streamed, the provider\'s usage', rec?.stream === true &&
	    rec.stream_options?.include_usage === true &&
	    rec.usage_sent === true && rec.disconnected === false &&
	    call?.status === 'ok' && call.stream === true &&
	    call.usageReported && call.prompt === want.prompt_tokens &&
	    call.completion === want.completion_tokens, { rec, call });

	seq = await lastSeq();
	known = calls().length;
	const p = await drain(await client().chat.completions.create({
	    model: 'emu-gpt-small', messages: MESSAGES, stream: true }));
	const withUsageField = p.chunks.filter((c) => 'usage' in c).length;
	check('without stream_options: the same text and NO usage chunk ' +
	    '(no chunk with choices [] or a usage)', !p.error &&
	    p.text === want.text && p.usage.length === 0 &&
	    p.chunks.every((c) => c.choices?.length === 1) &&
	    p.chunks.at(-1)?.choices[0].finish_reason === 'stop',
	    p.error ? describe(p.error) : p.chunks.slice(-2));
	check('without stream_options: no chunk carries a "usage" field, as ' +
	    'from OpenAI (the gateway asked the provider for it)',
	    withUsageField === 0, `${withUsageField} of ${p.chunks.length}`);
	[rec] = await requestsSince(seq);
	[call] = await newCalls(known);
	check('... but the gateway asked the provider for it ' +
	    '(stream_options.include_usage injected), read it and settled at it',
	    rec?.stream === true && rec.stream_options?.include_usage === true &&
	    rec.usage_sent === true && call?.status === 'ok' &&
	    call.usageReported && call.prompt === want.prompt_tokens &&
	    call.completion === want.completion_tokens, { rec, call });
}

async function claude() {
	const msgs = [{ role: 'user', content: PROMPT }];
	const want = await emu('POST', 'count', { system: SYSTEM,
	    messages: msgs });
	let seq = await lastSeq();
	let known = calls().length;
	const r = await client().chat.completions.create({ model: 'emu-claude',
	    messages: MESSAGES });
	const c = r.choices?.[0];
	check('emu-claude (Anthropic, translated): a chat.completion with ' +
	    'the emulator\'s text, finish_reason stop and the usage',
	    r.object === 'chat.completion' && r.model === 'emu-claude' &&
	    /^chatcmpl-/.test(r.id ?? '') && c?.message?.role === 'assistant' &&
	    c.message.content === want.text && c.finish_reason === 'stop' &&
	    r.usage?.prompt_tokens === want.prompt_tokens &&
	    r.usage.completion_tokens === want.completion_tokens &&
	    r.usage.total_tokens === want.prompt_tokens + want.completion_tokens,
	    { got: r, want });
	const [rec] = await requestsSince(seq);
	const [call] = await newCalls(known);
	check('... the provider saw /v1/messages with the anthropic key, ' +
	    'max_tokens 4096; gateway_calls ok at its usage',
	    rec?.provider === 'anthropic' && rec.path === '/v1/messages' &&
	    rec.key_hint === ANT_HINT && rec.max_tokens === 4096 &&
	    rec.stream === false && rec.status === 200 &&
	    call?.status === 'ok' && call.provider === 'anthropic' &&
	    call.usageReported && call.prompt === want.prompt_tokens &&
	    call.completion === want.completion_tokens, { rec, call });

	seq = await lastSeq();
	known = calls().length;
	const s = await drain(await client().chat.completions.create({
	    model: 'emu-claude', messages: MESSAGES, stream: true,
	    stream_options: { include_usage: true } }));
	const fin = s.chunks.find((ch) => ch.choices?.[0]?.finish_reason);
	const last = s.chunks.at(-1);
	check('emu-claude streamed with include_usage: a role delta, the ' +
	    'deltas join to the text, finish_reason stop, a usage chunk',
	    !s.error && s.chunks[0]?.choices[0]?.delta?.role === 'assistant' &&
	    s.text === want.text && s.content.length ===
	    want.completion_tokens && fin?.choices[0].finish_reason === 'stop' &&
	    s.usage.length === 1 && last?.choices.length === 0 &&
	    last.usage.prompt_tokens === want.prompt_tokens &&
	    last.usage.completion_tokens === want.completion_tokens &&
	    last.usage.total_tokens === want.prompt_tokens +
	    want.completion_tokens, s.error ? describe(s.error) :
	    { text: s.text, want: want.text, fin, last });
	const p = await drain(await client().chat.completions.create({
	    model: 'emu-claude', messages: MESSAGES, stream: true }));
	check('emu-claude streamed without stream_options: the same text, no ' +
	    'usage chunk', !p.error && p.text === want.text &&
	    p.usage.length === 0 && p.chunks.every((ch) =>
	    ch.choices?.length === 1), p.error ? describe(p.error) :
	    p.chunks.slice(-2));
	const recs = await requestsSince(seq, 2);
	const two = await newCalls(known, 2);
	check('... both streamed at the provider (stream: true) and settled ' +
	    'at its usage', recs.length === 2 && recs.every((x) =>
	    x.provider === 'anthropic' && x.stream === true &&
	    x.usage_sent === true) && two.length === 2 && two.every((x) =>
	    x.status === 'ok' && x.stream && x.usageReported &&
	    x.completion === want.completion_tokens &&
	    x.prompt === want.prompt_tokens), { recs, two });
}

async function failures() {
	const seq = await lastSeq();
	const known = calls().length;
	await raises('an unknown model: BadRequestError, 400, unknown_model ' +
	    '(param model), request_id in the body the x-request-id',
	    () => client().chat.completions.create({
	    model: `no-such-model-${RUN}`, messages: MESSAGES }),
	    (e) => e instanceof errors('BadRequestError') && e.status === 400 &&
	    e.code === 'unknown_model' && e.param === 'model' &&
	    e.type === 'invalid_request_error' &&
	    typeof e.error?.request_id === 'string' &&
	    e.error.request_id === e.requestID);
	await raises('a wrong API key: AuthenticationError, 401',
	    () => client({ apiKey: 'tg_' + randomBytes(16).toString('hex') })
	    .chat.completions.create({ model: 'emu-gpt-small',
	    messages: MESSAGES }),
	    (e) => e instanceof errors('AuthenticationError') &&
	    e.status === 401 && e.type === 'authentication_error' &&
	    e.code === 'invalid_api_key');
	await raises('X-Tollgate-Agent of no agent (per-request headers): ' +
	    'NotFoundError, 404, agent_not_found',
	    () => client().chat.completions.create({ model: 'emu-gpt-small',
	    messages: MESSAGES }, { headers: { 'X-Tollgate-Agent':
	    randomUUID() } }),
	    (e) => e instanceof errors('NotFoundError') && e.status === 404 &&
	    e.code === 'agent_not_found');
	await raises('an API key without the llm scope: PermissionDeniedError, ' +
	    '403', () => client({ apiKey: readKey }).chat.completions.create({
	    model: 'emu-gpt-small', messages: MESSAGES }),
	    (e) => e instanceof errors('PermissionDeniedError') &&
	    e.status === 403 && e.type === 'permission_error');
	await raises('a stream refused before it starts (unknown model, ' +
	    'stream: true): BadRequestError from create()',
	    () => client().chat.completions.create({
	    model: `no-such-model-${RUN}`, messages: MESSAGES, stream: true }),
	    (e) => e instanceof errors('BadRequestError') &&
	    e.code === 'unknown_model');
	await sleep(100);
	const recs = (await emu('GET', `requests?since=${seq}`)).filter(mine);
	check('... none of them reached the provider or was recorded as a call',
	    recs.length === 0 && calls().length === known,
	    { recs, calls: calls().slice(known) });
}

// The client walks away: break out of the loop after two chunks.
async function abandoned(want) {
	const seq = await lastSeq();
	const known = calls().length;
	const t0 = performance.now();
	const stream = await client().chat.completions.create({
	    model: 'emu-gpt-small', messages: MESSAGES, stream: true });
	const left = await drain(stream, 2);
	const gone = performance.now() - t0;
	check('break out of for await after 2 chunks: no error, the loop ends ' +
	    'before the stream would have', !left.error &&
	    left.chunks.length === 2 && gone < (want.completion_tokens - 2) *
	    DELAY_MS, left.error ? describe(left.error) : { gone });
	const [rec] = await requestsSince(seq, 1, 200);
	check('... the provider saw the call through to the end: the gateway ' +
	    'read on for the usage (stream_options injected, usage delivered)',
	    rec?.done === true && rec.stream === true && rec.status === 200 &&
	    rec.stream_options?.include_usage === true &&
	    rec.usage_sent === true, rec);
	const [call] = await newCalls(known, 1, 200);
	check('... and the gateway recorded the call, settled at the ' +
	    'provider\'s usage (gateway_calls)', call?.stream === true &&
	    ['ok', 'client_gone'].includes(call.status) && call.usageReported &&
	    call.prompt === want.prompt_tokens &&
	    call.completion === want.completion_tokens, call);
	console.log(`# the abandoned stream is recorded as "${call?.status}"` +
	    (call?.status === 'ok' ? ' (the gateway did not notice that the ' +
	    'client had gone: lighttpd kept reading)' : ''));
}

async function summary() {
	const all = calls();
	const tokens = all.reduce((a, c) => a + c.prompt + c.completion, 0);
	const r = await api('GET', '/usage/summary', { token: access });
	const m = r.json?.metrics?.find((x) => x.metric === 'llm_tokens');
	check('GET /usage/summary: llm_tokens used is the sum of the calls\' ' +
	    `tokens (${all.length} calls, ${tokens} tokens)`, r.status === 200 &&
	    Number(m?.used) === tokens && tokens > 0,
	    { status: r.status, metric: m, tokens });
}

async function run() {
	console.log(`# openai ${VERSION} (node ${process.version}); gateway ` +
	    `${BASE}; emulator ${EMU}`);
	const faults = (await emu('GET', 'faults')).faults ?? [];
	if (faults.length > 0)
		console.log(`# NOTE: faults queued at the emulator: ` +
		    JSON.stringify(faults));
	if (!await setup())
		return;
	const want = await emu('POST', 'count', { messages: MESSAGES });
	check('/_emu/count: the emulator\'s prediction for the prompt',
	    want.text?.startsWith('Echo: count the') &&
	    want.completion_tokens === 12 && want.prompt_tokens === 19, want);
	// One section's exception fails that section, not the run.
	for (const [name, section] of [['models', models],
	    ['plain', plain], ['streamed', streamed], ['claude', claude],
	    ['tools', tools], ['images', images],
	    ['failures', failures], ['abandoned', abandoned],
	    ['summary', summary]]) {
		try {
			await section(want);
		} catch (e) {
			check(`the ${name} checks ran to their end`, false, e);
		}
	}
}

const t0 = performance.now();
let settings = null;
try {
	settings = await emu('GET', 'settings');
	await emu('POST', 'settings', { stream_delay_ms: DELAY_MS });
	await run();
} catch (e) {
	check('the checks ran to the end', false, e);
} finally {
	if (settings !== null) {
		try {
			await emu('POST', 'settings', settings);
		} catch (e) {
			check('the emulator\'s settings restored', false, e);
		}
	}
}
console.log(`# ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`llm gateway node client: ${n - failed} passed, ${failed} failed`);
console.log(`llm-gateway-node: ${n - failed} checks passed` +
    (failed ? `, ${failed} failed` : ''));
process.exit(failed ? 1 : 0);
