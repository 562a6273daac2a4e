// Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
//
// tests/llm-emu-node.mjs: the LLM provider emulator (tests/llm-emu.py)
// driven, unchanged, by OpenAI's official Node client ("openai" from
// npm, pointed at the emulator with baseURL), so that the emulator
// answers what today's OpenAI client sends in the shapes it maps to
// results, streams and its error classes: chat completions plain and
// streamed (with and without stream_options.include_usage), events spread
// over time, usage as the emulator promised (GET/POST /_emu/count),
// AuthenticationError, RateLimitError with Retry-After, retries, timeouts,
// streams cut short and streams the client abandons.  The Anthropic-shaped
// route is checked with plain fetch: event names and order, usage in
// message_start and message_delta, its error shape.
//
//   node tests/llm-emu-node.mjs PREFIX EMULATOR LOGFILE
//
// tests/llm-emu-node.sh installs the client under PREFIX and runs this.
// It starts the emulator on a free loopback port with a state file in a
// temporary directory, and stops it at the end.  Prints "ok N - what" or
// "not ok N - what" per check, then "llm emulator node client: N passed,
// N failed" and "llm-emu-node: N checks passed"; exits 1 if anything
// failed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const [prefix, emuPath, logPath] = process.argv.slice(2);
if (!prefix || !emuPath || !logPath) {
	console.error('usage: llm-emu-node.mjs PREFIX EMULATOR LOGFILE');
	process.exit(2);
}
// The package as an application gets it, from the prefix's node_modules.
// openai 5 and later export { OpenAI, ... }; 4 exports the class itself.
const require = createRequire(path.join(path.resolve(prefix), 'index.js'));
const lib = require('openai');
const OpenAI = lib.OpenAI ?? lib.default ?? lib;
const errors = (name) => lib[name] ?? OpenAI[name];
// (Its package.json is not among the package's exports: read as a file.)
const VERSION = JSON.parse(fs.readFileSync(path.join(path.resolve(prefix),
    'node_modules', 'openai', 'package.json'), 'utf8')).version;

const KEY = 'sk-test-' + randomBytes(12).toString('hex');
const KEY2 = 'sk-test-' + randomBytes(12).toString('hex');
const ANT_KEY = 'sk-ant-test-' + randomBytes(12).toString('hex');
const MODEL = 'emu-gpt-small';
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

// fn must throw; test(e) says whether it threw the right thing.
async function raises(what, fn, test) {
	try {
		const got = await fn();
		return check(what, false, { 'nothing was raised; got': got });
	} catch (e) {
		return check(what, test(e), { name: e?.constructor?.name,
		    status: e?.status, code: e?.code, type: e?.type,
		    message: e?.message, error: e?.error });
	}
}

// A response header, from a fetch Headers (openai 5 and later) or a plain
// object (openai 4).
function header(h, name) {
	if (!h)
		return undefined;
	return typeof h.get === 'function' ? h.get(name) ?? undefined : h[name];
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// --- the emulator ----------------------------------------------------------

const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-emu-'));
let emu = null;
let log = null;

async function startEmu() {
	log = fs.openSync(logPath, 'a');
	emu = spawn('/usr/bin/python3', [emuPath, '--port', '0', '--state',
	    path.join(stateDir, 'llm-emu.json')],
	    { stdio: ['ignore', 'pipe', log] });
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

let base;
try {
	base = await startEmu();
} catch (e) {
	fs.rmSync(stateDir, { recursive: true, force: true });
	throw e;
}

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

async function lastSeq() {
	const all = await ctl('GET', 'requests');
	return all.length ? all.at(-1).seq : 0;
}

// The requests after seq, once all of them are done (a stream the client
// left is completed when the emulator notices).
async function requestsSince(seq, want = 1) {
	let got = [];
	for (let i = 0; i < 50; i++) {
		got = await ctl('GET', `requests?since=${seq}`);
		if (got.length >= want && got.every((r) => r.done))
			return got;
		await sleep(50);
	}
	return got;
}

function client(opts = {}) {
	return new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0,
	    ...opts });
}

// --- OpenAI-shaped, with the SDK -------------------------------------------

async function models() {
	const page = await client().models.list();
	const ids = page.data.map((m) => m.id);
	check('models.list() lists emu-gpt-small and emu-gpt-large',
	    JSON.stringify(ids) === '["emu-gpt-small","emu-gpt-large"]' &&
	    page.data.every((m) => m.object === 'model'), page.data);
	const one = await client().models.retrieve('emu-gpt-large');
	check('models.retrieve() gets one', one.id === 'emu-gpt-large', one);
	await raises('an unknown model id: NotFoundError model_not_found',
	    () => client().models.retrieve('no-such-model'),
	    (e) => e instanceof errors('NotFoundError') && e.status === 404 &&
	    e.code === 'model_not_found');
}

async function plain(want) {
	const seq = await lastSeq();
	const r = await client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES });
	const c = r.choices?.[0];
	check('create(): the answer is the emulator\'s prediction',
	    r.object === 'chat.completion' && r.id.startsWith('chatcmpl-') &&
	    r.model === MODEL && c.message.role === 'assistant' &&
	    c.message.content === want.text && c.message.refusal === null &&
	    c.finish_reason === 'stop' && c.index === 0 && c.logprobs === null,
	    { got: r, want });
	const u = r.usage;
	check('create(): usage as promised (prompt, completion, total, cached 0)',
	    u.prompt_tokens === want.prompt_tokens &&
	    u.completion_tokens === want.completion_tokens &&
	    u.completion_tokens === 12 &&
	    u.total_tokens === want.prompt_tokens + want.completion_tokens &&
	    u.prompt_tokens_details?.cached_tokens === 0 &&
	    u.completion_tokens_details?.reasoning_tokens === 0, { u, want });
	const [rec] = await requestsSince(seq);
	check('... _request_id is the x-request-id the emulator recorded',
	    r._request_id === rec?.request_id && !!rec.request_id,
	    { sdk: r._request_id, rec });
	check('... recorded: model, key hint only, not streamed, usage sent',
	    rec.model === MODEL && rec.key_hint === 'sk-...' + KEY.slice(-4) &&
	    !JSON.stringify(rec).includes(KEY) && rec.stream === false &&
	    rec.stream_options === null && rec.max_tokens === null &&
	    rec.usage_sent === true && rec.status === 200 &&
	    rec.usage.total_tokens === u.total_tokens, rec);
	console.log(`# the SDK sends: ${rec.header_names.join(', ')}`);
	console.log(`# user-agent ${rec.user_agent}; ` +
	    Object.entries(rec.stainless).map(([k, v]) => `${k}: ${v}`)
	    .join(', '));
	check('the SDK identifies itself with x-stainless-* headers',
	    rec.stainless['x-stainless-lang'] === 'js' &&
	    rec.stainless['x-stainless-package-version'] === VERSION &&
	    rec.stainless['x-stainless-retry-count'] === '0', rec.stainless);

	const short = await client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES, max_tokens: 5 });
	check('max_tokens 5: five words, finish_reason "length"',
	    short.choices[0].finish_reason === 'length' &&
	    short.usage.completion_tokens === 5 &&
	    short.choices[0].message.content ===
	    want.text.split(' ').slice(0, 5).join(' '), short);
	const newer = await client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES, max_completion_tokens: 3 }, { headers:
	    { 'X-Emu-Cached': '4', 'X-Emu-Tokens': '30' } });
	check('max_completion_tokens 3 caps 30 words; X-Emu-Cached: 4 shows ' +
	    'as cached_tokens', newer.usage.completion_tokens === 3 &&
	    newer.choices[0].finish_reason === 'length' &&
	    newer.usage.prompt_tokens_details.cached_tokens === 4 &&
	    newer.usage.prompt_tokens === want.prompt_tokens, newer.usage);
	const parts = await client().chat.completions.create({ model: MODEL,
	    messages: [{ role: 'system', content: SYSTEM }, { role: 'user',
	    content: [{ type: 'text', text: PROMPT }] }] });
	check('content as an array of text parts counts and echoes the same',
	    parts.choices[0].message.content === want.text &&
	    parts.usage.prompt_tokens === want.prompt_tokens, parts);
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

async function streamed(want) {
	const seq = await lastSeq();
	const s = await drain(await client().chat.completions.create({
	    model: MODEL, messages: MESSAGES, stream: true,
	    stream_options: { include_usage: true } }));
	const first = s.chunks[0];
	const fin = s.chunks.find((c) => c.choices?.[0]?.finish_reason);
	const last = s.chunks.at(-1);
	check('stream: a role delta first, then one delta per word',
	    !s.error && first?.object === 'chat.completion.chunk' &&
	    first.choices[0].delta.role === 'assistant' &&
	    s.content.length === want.completion_tokens, s.error ?? s.chunks);
	check('stream: the deltas join to the non-streamed text',
	    s.text === want.text, { got: s.text, want: want.text });
	check('stream: finish_reason "stop" in its own chunk, before the usage',
	    fin?.choices[0].finish_reason === 'stop' &&
	    Object.keys(fin.choices[0].delta).length === 0 &&
	    s.chunks.indexOf(fin) === s.chunks.length - 2, fin);
	check('include_usage: a last chunk with choices [] and the usage',
	    last?.choices.length === 0 && s.usage.length === 1 &&
	    last.usage.prompt_tokens === want.prompt_tokens &&
	    last.usage.completion_tokens === want.completion_tokens &&
	    last.usage.total_tokens === want.prompt_tokens +
	    want.completion_tokens && s.chunks.slice(0, -1).every((c) =>
	    c.usage === null), { last, usage: s.usage });

	const plainStream = await drain(await client().chat.completions.create({
	    model: MODEL, messages: MESSAGES, stream: true }));
	check('without include_usage: no usage at all, same text',
	    !plainStream.error && plainStream.usage.length === 0 &&
	    plainStream.chunks.every((c) => !('usage' in c)) &&
	    plainStream.text === want.text, plainStream.chunks.at(-1));
	const [withUsage, without] = await requestsSince(seq, 2);
	check('recorded: stream, stream_options as sent, usage delivered or not',
	    withUsage?.stream === true && withUsage.stream_options?.include_usage
	    === true && withUsage.usage_sent === true &&
	    withUsage.disconnected === false &&
	    without?.stream === true && without.stream_options === null &&
	    without.usage_sent === false &&
	    without.events_sent === want.completion_tokens + 3,
	    [withUsage, without]);
	console.log('# the SDK sends stream_options only when asked: ' +
	    `${JSON.stringify(without?.stream_options)} without it`);
}

async function timing() {
	const seq = await lastSeq();
	const c = client({ defaultHeaders: { 'X-Emu-Delay-Ms': '100' } });
	const t0 = performance.now();
	const s = await drain(await c.chat.completions.create({ model: MODEL,
	    messages: MESSAGES, stream: true }, { headers:
	    { 'X-Emu-Tokens': '6' } }));
	const idx = s.content.map((ch) => s.chunks.indexOf(ch));
	const spread = s.times[idx.at(-1)] - s.times[idx[0]];
	const gaps = idx.slice(1).map((j, i) => s.times[j] - s.times[idx[i]]);
	// (Only the spread: one late chunk shortens the gap after it.)
	check('X-Emu-Delay-Ms: 100 (defaultHeaders): 6 deltas spread over >= ' +
	    '400 ms', !s.error && s.content.length === 6 && spread >= 5 * 80,
	    { spread, gaps, total: performance.now() - t0 });
	const [rec] = await requestsSince(seq);
	check('... the headers reached the emulator (defaultHeaders and ' +
	    'per-request headers)', rec?.emu_headers['x-emu-delay-ms'] === '100' &&
	    rec.emu_headers['x-emu-tokens'] === '6', rec?.emu_headers);
	const q0 = performance.now();
	await drain(await client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES, stream: true }, { headers:
	    { 'X-Emu-Delay-Ms': '0' } }));
	// 15 events 50 ms apart by default would take 700 ms.
	check('X-Emu-Delay-Ms: 0: the whole stream at once (< 500 ms)',
	    performance.now() - q0 < 500, performance.now() - q0);
}

async function failures(want) {
	await ctl('POST', 'revoke', { key: KEY2 });
	await raises('a revoked key: AuthenticationError, 401, invalid_api_key',
	    () => client({ apiKey: KEY2 }).chat.completions.create({
	    model: MODEL, messages: MESSAGES }),
	    (e) => e instanceof errors('AuthenticationError') &&
	    e.status === 401 && e.code === 'invalid_api_key' &&
	    e.type === 'invalid_request_error' && e.param === null &&
	    !e.message.includes(KEY2));
	await raises('an Anthropic key on the OpenAI route: AuthenticationError',
	    () => client({ apiKey: ANT_KEY }).chat.completions.create({
	    model: MODEL, messages: MESSAGES }),
	    (e) => e instanceof errors('AuthenticationError') && e.status === 401);

	await ctl('POST', 'faults', { path: '/v1/chat/completions',
	    status: 429 });
	await raises('a 429 fault: RateLimitError, Retry-After: 7 visible',
	    () => client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES }),
	    (e) => e instanceof errors('RateLimitError') && e.status === 429 &&
	    header(e.headers, 'retry-after') === '7' &&
	    e.code === 'rate_limit_exceeded');
	const after = await client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES });
	check('... once only: the next request is answered',
	    after.choices[0].message.content === want.text);
	await ctl('POST', 'faults', { error: 'insufficient_quota' });
	await raises('insufficient_quota: RateLimitError of that code',
	    () => client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES }),
	    (e) => e instanceof errors('RateLimitError') &&
	    e.code === 'insufficient_quota' && e.type === 'insufficient_quota');
	await raises('X-Emu-Status: 500: InternalServerError',
	    () => client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES }, { headers: { 'X-Emu-Status': '500' } }),
	    (e) => e instanceof errors('InternalServerError') &&
	    e.status === 500 && e.type === 'server_error');

	// The SDK retries a 503 by itself (no Retry-After: its own backoff).
	const seq = await lastSeq();
	await ctl('POST', 'faults', { path: '/v1/chat/completions',
	    status: 503 });
	const retried = await client({ maxRetries: 1 }).chat.completions.create(
	    { model: MODEL, messages: MESSAGES });
	const recs = await requestsSince(seq, 2);
	check('a 503 with maxRetries 1: retried and answered; the retry says ' +
	    'x-stainless-retry-count: 1', retried.choices[0].message.content ===
	    want.text && recs.length === 2 && recs[0].status === 503 &&
	    recs[1].status === 200 &&
	    recs[1].stainless['x-stainless-retry-count'] === '1',
	    recs.map((r) => [r.status, r.stainless]));

	await ctl('POST', 'faults', { error: 'drop' });
	await raises('a dropped connection: APIConnectionError',
	    () => client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES }),
	    (e) => e instanceof errors('APIConnectionError'));
	await ctl('POST', 'faults', { path: '/v1/chat', delay_ms: 400 });
	await raises('a slow answer (delay_ms 400) past a 150 ms timeout: ' +
	    'APIConnectionTimeoutError',
	    () => client({ timeout: 150 }).chat.completions.create({
	    model: MODEL, messages: MESSAGES }),
	    (e) => e instanceof errors('APIConnectionTimeoutError'));
	await raises('stream_options without stream: BadRequestError, as at ' +
	    'OpenAI', () => client().chat.completions.create({ model: MODEL,
	    messages: MESSAGES, stream_options: { include_usage: true } }),
	    (e) => e instanceof errors('BadRequestError') &&
	    e.param === 'stream_options');
	const r = await fetch(`${base}/v1/nothing/here`, { method: 'POST',
	    headers: { Authorization: `Bearer ${KEY}` } });
	const body = await r.json();
	check('an unknown path: 404 in OpenAI\'s error shape', r.status === 404 &&
	    body.error?.message === 'Invalid URL (POST /v1/nothing/here)' &&
	    body.error.type === 'invalid_request_error' &&
	    body.error.param === null && body.error.code === null, body);
}

async function cuts(want) {
	let seq = await lastSeq();
	const cut = await drain(await client().chat.completions.create({
	    model: MODEL, messages: MESSAGES, stream: true,
	    stream_options: { include_usage: true } },
	    { headers: { 'X-Emu-Cut': 'before-usage', 'X-Emu-Delay-Ms': '5' } }));
	console.log('# a stream cut before its usage, in the SDK: ' +
	    (cut.error ? `raises ${cut.error.constructor.name}: ` +
	    `${cut.error.message}` : 'ends without an error'));
	check('X-Emu-Cut: before-usage: every delta, no finish, no usage',
	    cut.text === want.text && cut.usage.length === 0 &&
	    !cut.chunks.some((c) => c.choices?.[0]?.finish_reason), cut.chunks);
	let [rec] = await requestsSince(seq);
	check('... recorded as cut, usage not delivered', rec?.cut ===
	    'before-usage' && rec.usage_sent === false &&
	    rec.events_sent === want.completion_tokens + 1, rec);

	seq = await lastSeq();
	await ctl('POST', 'faults', { path: '/v1/chat/completions',
	    error: 'cut_mid' });
	const mid = await drain(await client().chat.completions.create({
	    model: MODEL, messages: MESSAGES, stream: true,
	    stream_options: { include_usage: true } },
	    { headers: { 'X-Emu-Delay-Ms': '5' } }));
	console.log('# a stream cut mid-way, in the SDK: ' + (mid.error ?
	    `raises ${mid.error.constructor.name}: ${mid.error.message}` :
	    'ends without an error'));
	check('fault cut_mid: half the deltas, a prefix of the text, no usage',
	    mid.content.length === Math.floor(want.completion_tokens / 2) &&
	    want.text.startsWith(mid.text) && mid.usage.length === 0,
	    { text: mid.text, error: String(mid.error) });
	[rec] = await requestsSince(seq);
	check('... recorded as cut mid, with the fault', rec?.cut === 'mid' &&
	    rec.fault?.error === 'cut_mid' && rec.usage_sent === false, rec);

	// The client walks away: break out of the loop after two chunks.
	seq = await lastSeq();
	const left = await drain(await client().chat.completions.create({
	    model: MODEL, messages: MESSAGES, stream: true,
	    stream_options: { include_usage: true } },
	    { headers: { 'X-Emu-Delay-Ms': '100' } }), 3);
	[rec] = await requestsSince(seq);
	check('a client that stops reading (break): recorded as disconnected, ' +
	    'usage not delivered', left.chunks.length === 3 && rec?.done &&
	    rec.disconnected === true && rec.usage_sent === false &&
	    rec.events_sent < want.completion_tokens + 4, rec);
}

// --- Anthropic-shaped, with fetch ------------------------------------------

function anthropic(body, extra = {}) {
	return fetch(`${base}/v1/messages`, { method: 'POST',
	    headers: { 'x-api-key': ANT_KEY, 'anthropic-version': '2023-06-01',
	    'content-type': 'application/json', ...extra },
	    body: JSON.stringify(body) });
}

function parseSSE(text) {
	return text.split('\n\n').filter((b) => b.trim()).map((block) => {
		const ev = {};
		for (const line of block.split('\n')) {
			const i = line.indexOf(': ');
			ev[line.slice(0, i)] = line.slice(i + 2);
		}
		return { event: ev.event, data: JSON.parse(ev.data) };
	});
}

async function anthropicShape() {
	const msgs = [{ role: 'user', content: PROMPT }];
	const want = await ctl('POST', 'count', { system: SYSTEM,
	    messages: msgs });
	const r = await anthropic({ model: 'emu-claude', max_tokens: 100,
	    system: SYSTEM, messages: msgs });
	const m = await r.json();
	check('Anthropic: a message, its text and usage as promised',
	    r.status === 200 && m.type === 'message' && m.id.startsWith('msg_') &&
	    m.role === 'assistant' && m.content[0].type === 'text' &&
	    m.content[0].text === want.text && m.stop_reason === 'end_turn' &&
	    m.stop_sequence === null &&
	    m.usage.input_tokens === want.prompt_tokens &&
	    m.usage.output_tokens === want.completion_tokens &&
	    m.usage.cache_read_input_tokens === 0 &&
	    m.usage.cache_creation_input_tokens === 0, { m, want });

	const s = await anthropic({ model: 'emu-claude', max_tokens: 100,
	    system: SYSTEM, messages: msgs, stream: true },
	    { 'X-Emu-Delay-Ms': '5' });
	const events = parseSSE(await s.text());
	const names = events.map((e) => e.event);
	const nw = want.completion_tokens;
	const order = ['message_start', 'content_block_start', 'ping',
	    ...Array(nw).fill('content_block_delta'), 'content_block_stop',
	    'message_delta', 'message_stop'];
	check('Anthropic stream: text/event-stream, events in Anthropic\'s ' +
	    'order, each data.type its event name',
	    s.headers.get('content-type').startsWith('text/event-stream') &&
	    JSON.stringify(names) === JSON.stringify(order) &&
	    events.every((e) => e.data.type === e.event), names);
	const start = events[0]?.data.message;
	const delta = events.at(-2)?.data;
	check('Anthropic stream: usage in message_start (input, output 1) and ' +
	    'message_delta (output)', start?.usage.input_tokens ===
	    want.prompt_tokens && start.usage.output_tokens === 1 &&
	    delta?.delta.stop_reason === 'end_turn' &&
	    delta.usage.output_tokens === nw, { start, delta });
	check('Anthropic stream: the text_deltas join to the message\'s text',
	    events.filter((e) => e.event === 'content_block_delta').map((e) =>
	    e.data.delta.type === 'text_delta' ? e.data.delta.text : '?')
	    .join('') === want.text);

	const capped = await (await anthropic({ model: 'emu-claude',
	    max_tokens: 2, messages: msgs }, { 'X-Emu-Cached': '3' })).json();
	check('Anthropic: max_tokens 2 -> stop_reason max_tokens; cached ' +
	    'tokens left out of input_tokens', capped.stop_reason ===
	    'max_tokens' && capped.usage.output_tokens === 2 &&
	    capped.usage.cache_read_input_tokens === 3 &&
	    capped.usage.input_tokens === want.prompt_tokens - 3 - (3 +
	    SYSTEM.split(' ').length), capped);

	const bad = await anthropic({ model: 'emu-claude', messages: msgs });
	const badBody = await bad.json();
	check('Anthropic: no max_tokens -> 400 invalid_request_error, its shape',
	    bad.status === 400 && badBody.type === 'error' &&
	    badBody.error.type === 'invalid_request_error' &&
	    /max_tokens/.test(badBody.error.message), badBody);
	await ctl('POST', 'revoke', { key: ANT_KEY });
	const denied = await anthropic({ model: 'emu-claude', max_tokens: 10,
	    messages: msgs });
	const deniedBody = await denied.json();
	check('Anthropic: a revoked key -> 401 authentication_error',
	    denied.status === 401 && deniedBody.type === 'error' &&
	    deniedBody.error.type === 'authentication_error', deniedBody);
	await ctl('POST', 'faults', { path: '/v1/messages', status: 429 });
	const limited = await anthropic({ model: 'emu-claude', max_tokens: 10,
	    messages: msgs }, { 'x-api-key': 'sk-ant-other-0123456789' });
	const limitedBody = await limited.json();
	check('Anthropic: a 429 fault -> rate_limit_error, Retry-After: 7',
	    limited.status === 429 && limited.headers.get('retry-after') === '7' &&
	    limitedBody.error?.type === 'rate_limit_error', limitedBody);
}

async function page() {
	const r = await fetch(`${base}/_emu/`);
	const text = await r.text();
	check('/_emu/ shows the requests, newest first, and no key',
	    r.status === 200 && text.includes('Requests received') &&
	    text.indexOf('/v1/messages') < text.indexOf('/v1/chat/completions') &&
	    ![KEY, KEY2, ANT_KEY].some((k) => text.includes(k)),
	    text.slice(0, 300));
}

// A restarted emulator (a new port) keeps what its state file holds.
async function restart() {
	const before = (await ctl('GET', 'state')).counts;
	await stopEmu();
	base = await startEmu();
	const after = (await ctl('GET', 'state')).counts;
	check('after a restart: the requests and revoked keys are still there',
	    after.requests === before.requests && after.revoked === 2 &&
	    after.in_progress === 0, { before, after });
	await raises('... and a revoked key is still refused',
	    () => client({ apiKey: KEY2 }).chat.completions.create({
	    model: MODEL, messages: MESSAGES }),
	    (e) => e instanceof errors('AuthenticationError'));
	await ctl('POST', 'reset', {});
	const fresh = await client({ apiKey: KEY2 }).chat.completions.create({
	    model: MODEL, messages: MESSAGES });
	check('POST /_emu/reset forgets them', fresh.usage.completion_tokens ===
	    12 && (await ctl('GET', 'requests')).length === 1);
}

function logIsClean() {
	const text = fs.readFileSync(logPath, 'utf8');
	check('the emulator log has one line per request and never a key',
	    /POST \/v1\/chat\/completions 200 \d+ms model=emu-gpt-small stream/
	    .test(text) && ![KEY, KEY2, ANT_KEY].some((k) => text.includes(k)));
}

async function run() {
	console.log(`# openai ${VERSION} (node ${process.version}); emulator ` +
	    `${base} (log ${logPath})`);
	const want = await ctl('POST', 'count', { messages: MESSAGES });
	const direct = await ctl('GET', 'count?text=' +
	    encodeURIComponent(PROMPT));
	check('/_emu/count: the rule of docs/llm-emulator.md (3 + 3 per ' +
	    'message + words)', direct.tokens === PROMPT.split(' ').length &&
	    want.prompt_tokens === 3 + 3 + SYSTEM.split(' ').length + 3 +
	    PROMPT.split(' ').length && want.completion_tokens === 12 &&
	    want.text.startsWith('Echo: count the'), want);
	await models();
	await plain(want);
	await streamed(want);
	await timing();
	await failures(want);
	await cuts(want);
	await anthropicShape();
	await page();
	await restart();
	logIsClean();
}

const t0 = performance.now();
try {
	await run();
} catch (e) {
	check('the checks ran to the end', false, e);
} finally {
	await stopEmu();
	fs.rmSync(stateDir, { recursive: true, force: true });
}
console.log(`# ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`llm emulator node client: ${n - failed} passed, ${failed} failed`);
console.log(`llm-emu-node: ${n - failed} checks passed` +
    (failed ? `, ${failed} failed` : ''));
process.exit(failed ? 1 : 0);
