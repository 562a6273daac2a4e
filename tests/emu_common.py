# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/emu_common.py: what the Slack and Meta emulators of SPEC 15
# (tests/slack-emu.py, tests/meta-emu.py) share: the loopback HTTP server
# and its one log line per request, fault injection, the state file, the
# pid file, start-up and the look of their HTML pages.  Python 3 standard
# library only.  Not a program: the emulators import it from their own
# directory.
#
# An emulator is an object with
#   handle(req) -> Response        every request (faults already applied)
#   fault_response(fault) -> Response   the answer a fault with a status or
#                                  an error gives, in the provider's shape
#   fault_error(value) -> value    validates a fault's "error" (ValueError)
#   log_path(path) -> str          the path as logged: secrets in it hidden
#   faults                         a Faults
#
# Faults (POST /_emu/faults, one JSON object or a list of them):
#   path      prefix of the request paths it applies to; omitted: every
#             path outside /_emu/
#   status    answer this HTTP status (400-599) in the provider's error
#             shape; 429 carries Retry-After: 1
#   error     instead of a status: a provider error (see each emulator)
#   delay_ms  sleep this long first (0-60000); alone, the request is then
#             answered normally
#   times     how many requests it applies to (default 1; -1: until
#             DELETE /_emu/faults)
# Queued faults are tried in the order they were added; a request takes
# the first one whose path matches.  GET /_emu/faults lists what is left.
import argparse
import base64
import hashlib
import hmac
import html
import json
import os
import secrets
import signal
import string
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1024 * 1024		# bytes of a request body
MAX_DELAY_MS = 60000
ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits
JSON_TYPE = 'application/json; charset=utf-8'

_log_lock = threading.Lock()
_log_name = 'emu'


# --- small helpers -------------------------------------------------------------

def set_log_name(name):
	global _log_name
	_log_name = name


def log(msg):
	"""One line on stderr; the stack keeps it as the emulator's log."""
	stamp = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())
	with _log_lock:
		sys.stderr.write('%sZ %s[%d] %s\n' % (stamp, _log_name, os.getpid(),
		    msg))
		sys.stderr.flush()


def random_string(n, alphabet=ALNUM):
	return ''.join(secrets.choice(alphabet) for _ in range(n))


def random_digits(n):
	# No leading zero: these stand for numbers in the providers' ids.
	return secrets.choice('123456789') + random_string(n - 1,
	    string.digits)


def utc_iso(t=None):
	return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))


def digest(secret):
	"""What the state file keeps instead of a token: enough to look it
	up, useless to whoever reads the file."""
	return hashlib.sha256(secret.encode('utf-8', 'surrogateescape')) \
	    .hexdigest()


def hmac_equal(a, b):
	"""Constant-time comparison of two strings, whatever they hold."""
	return hmac.compare_digest(a.encode('utf-8', 'surrogateescape'),
	    b.encode('utf-8', 'surrogateescape'))


def hint(secret, prefix_len=0):
	"""The first prefix_len and the last 4 characters, for logs and the
	inspection endpoints, which must never show a whole secret."""
	if len(secret) <= prefix_len + 8:
		return '...'
	return secret[:prefix_len] + '...' + secret[-4:]


# --- requests and responses ----------------------------------------------------

class Request:
	"""One HTTP request, parsed as far as every emulator needs it.
	Text is decoded with surrogateescape throughout, so that bytes that
	are not UTF-8 survive a round trip (the OAuth state must)."""

	def __init__(self, method, path, query, headers, body):
		self.method = method
		self.path = path
		self.query_pairs = urllib.parse.parse_qsl(query,
		    keep_blank_values=True, errors='surrogateescape')
		self.headers = headers
		self.body = body

	def query(self):
		return dict(self.query_pairs)

	def content_type(self):
		ctype = self.headers.get('Content-Type') or ''
		return ctype.split(';')[0].strip().lower()

	def is_form(self):
		return self.content_type() in ('',
		    'application/x-www-form-urlencoded')

	def form(self):
		"""The body as url-encoded fields (the last of a repeated one)."""
		if not self.is_form():
			return {}
		text = self.body.decode('utf-8', 'surrogateescape')
		return dict(urllib.parse.parse_qsl(text, keep_blank_values=True,
		    errors='surrogateescape'))

	def json(self):
		"""The body as JSON; ValueError when it is not."""
		return json.loads(self.body)

	def bearer(self):
		auth = self.headers.get('Authorization') or ''
		scheme, _, value = auth.partition(' ')
		if scheme.lower() == 'bearer' and value.strip():
			return value.strip()
		return None

	def basic(self):
		"""(user, password) of Basic authentication, or None."""
		auth = self.headers.get('Authorization') or ''
		scheme, _, value = auth.partition(' ')
		if scheme.lower() != 'basic':
			return None
		try:
			raw = base64.b64decode(value.strip(), validate=True) \
			    .decode('utf-8')
		except ValueError:
			return None
		user, sep, password = raw.partition(':')
		return (user, password) if sep else None


class Response:
	def __init__(self, status, body, ctype, headers=None):
		self.status = status
		if isinstance(body, str):
			body = body.encode('utf-8', 'surrogateescape')
		self.body = body
		self.ctype = ctype
		self.headers = headers or []
		self.note = ''		# appended to the log line


def json_response(status, obj, headers=None):
	return Response(status, json.dumps(obj, indent=1) + '\n', JSON_TYPE,
	    headers)


def text_response(status, text, headers=None):
	return Response(status, text, 'text/plain; charset=utf-8', headers)


def html_response(status, text):
	return Response(status, text, 'text/html; charset=utf-8')


def redirect(location, status=302):
	return Response(status, '', 'text/plain; charset=utf-8',
	    [('Location', location)])


def control_json(req):
	"""The JSON object a control endpoint was sent ({} for no body)."""
	if not req.body.strip():
		return {}
	obj = req.json()
	if not isinstance(obj, dict):
		raise ValueError('the body must be a JSON object')
	return obj


def is_control(path):
	return path == '/_emu' or path.startswith('/_emu/')


# --- faults ----------------------------------------------------------------------

FAULT_KEYS = ('path', 'status', 'error', 'delay_ms', 'times')


class Faults:
	"""Queued faults; thread-safe on their own, so that a delay is slept
	without the emulator's lock."""

	def __init__(self, check_error):
		self.lock = threading.Lock()
		self.queue = []
		self.check_error = check_error

	def parse(self, spec):
		if not isinstance(spec, dict):
			raise ValueError('a fault is a JSON object')
		unknown = sorted(set(spec) - set(FAULT_KEYS))
		if unknown:
			raise ValueError('unknown fault keys: %s' % ', '.join(unknown))
		f = {'path': spec.get('path'), 'status': spec.get('status'),
		    'error': spec.get('error'), 'delay_ms': spec.get('delay_ms', 0),
		    'times': spec.get('times', 1)}
		if f['path'] is not None and not (isinstance(f['path'], str) and
		    f['path'].startswith('/')):
			raise ValueError('path must be a string starting with /')
		if f['status'] is not None and not (is_int(f['status']) and
		    400 <= f['status'] <= 599):
			raise ValueError('status must be a number from 400 to 599')
		if f['status'] is not None and f['error'] is not None:
			raise ValueError('give status or error, not both')
		if f['error'] is not None:
			f['error'] = self.check_error(f['error'])
		if not (is_int(f['delay_ms']) and
		    0 <= f['delay_ms'] <= MAX_DELAY_MS):
			raise ValueError('delay_ms must be a number from 0 to %d' %
			    MAX_DELAY_MS)
		if not (is_int(f['times']) and (f['times'] == -1 or
		    f['times'] >= 1)):
			raise ValueError('times must be -1 or a number from 1 on')
		if f['status'] is None and f['error'] is None and \
		    not f['delay_ms']:
			raise ValueError('a fault needs status, error or delay_ms')
		return f

	def add(self, specs):
		"""Validates all, then queues all: a bad one queues nothing."""
		if not isinstance(specs, list):
			specs = [specs]
		parsed = [self.parse(s) for s in specs]
		with self.lock:
			self.queue.extend(parsed)

	def take(self, path):
		"""The fault this request gets, counted, or None."""
		with self.lock:
			for f in self.queue:
				if f['path'] is None or path.startswith(f['path']):
					if f['times'] > 0:
						f['times'] -= 1
						if f['times'] == 0:
							self.queue.remove(f)
					return dict(f)
		return None

	def clear(self):
		with self.lock:
			self.queue = []

	def list(self):
		with self.lock:
			return [dict(f) for f in self.queue]

	def control(self, req):
		"""GET, POST and DELETE /_emu/faults."""
		if req.method == 'POST':
			try:
				self.add(req.json())
			except ValueError as e:
				return json_response(400, {'error': str(e)})
		elif req.method == 'DELETE':
			self.clear()
		elif req.method != 'GET':
			return json_response(405, {'error': 'GET, POST or DELETE'})
		return json_response(200, {'faults': self.list()})


def is_int(v):
	return isinstance(v, int) and not isinstance(v, bool)


def answer(app, req):
	"""A fault if one applies (never to /_emu/), else the emulator."""
	if not is_control(req.path):
		fault = app.faults.take(req.path)
		if fault:
			if fault['delay_ms']:
				time.sleep(fault['delay_ms'] / 1000.0)
			if fault['status'] is not None or fault['error'] is not None:
				resp = app.fault_response(fault)
				resp.note = 'fault'
				return resp
	return app.handle(req)


# --- the state file --------------------------------------------------------------

class StateFile:
	"""A JSON file rewritten whole after every change: written to a
	temporary file and renamed, so a reader or a crash never leaves half
	of one.  0600, whatever the umask: it holds the emulator's data."""

	def __init__(self, path, version):
		self.path = path
		self.version = version

	def load(self):
		"""The saved data, or None (no file, or another version)."""
		if not self.path or not os.path.exists(self.path):
			return None
		with open(self.path, encoding='utf-8') as f:
			data = json.load(f)
		if not isinstance(data, dict) or data.get('version') != self.version:
			log('state file %s: unknown version, ignored' % self.path)
			return None
		return data

	def save(self, data):
		if not self.path:
			return
		data = dict(data, version=self.version)
		tmp = '%s.tmp.%d' % (self.path, os.getpid())
		fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
		with os.fdopen(fd, 'w', encoding='utf-8') as f:
			json.dump(data, f)
		os.replace(tmp, self.path)


# --- pages -------------------------------------------------------------------------

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
 "Helvetica Neue",Arial,sans-serif;color:#1d1c1d;background:#f4f2ef}
.wrap{max-width:680px;margin:0 auto;padding:16px}
.top{display:flex;flex-wrap:wrap;gap:8px;justify-content:space-between;
 align-items:center;margin-bottom:16px}
.brand{font-weight:700;color:var(--accent)}
.badge{font-size:13px;padding:2px 10px;border-radius:12px;background:#e6e3de}
.card{background:#fff;border-radius:8px;padding:20px;margin-bottom:16px;
 box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:22px;line-height:1.3;margin:0 0 12px}
h2{font-size:18px;margin:0 0 8px}
p{margin:0 0 12px}
label{display:block;font-weight:600;margin:16px 0 6px}
select{width:100%;font:inherit;padding:10px;border:1px solid #767676;
 border-radius:4px;background:#fff;color:inherit}
.buttons{display:flex;flex-wrap:wrap;gap:12px;margin-top:20px}
button{flex:1 1 140px;min-height:44px;font:inherit;font-weight:700;
 padding:10px 16px;border-radius:4px;border:1px solid #767676;
 background:#fff;color:#1d1c1d;cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);
 color:#fff}
button:focus-visible,select:focus-visible{outline:3px solid #1264a3;
 outline-offset:2px}
ul.items{list-style:none;margin:0;padding:0}
ul.items li{border-top:1px solid #e6e3de;padding:10px 0}
.meta{color:#5e5d60;font-size:14px}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin-top:4px}
code{overflow-wrap:anywhere;font-size:14px}
"""


def esc(s):
	return html.escape('' if s is None else str(s), quote=True)


def page(title, body, brand, accent, refresh=None):
	"""A whole page: readable at 390 px as at 1280."""
	head_extra = ('<meta http-equiv="refresh" content="%d">' % refresh
	    if refresh else '')
	return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
	    '<meta name="viewport" content="width=device-width,initial-scale=1">'
	    '%s<title>%s</title><style>:root{--accent:%s}%s</style></head>'
	    '<body><main class="wrap"><div class="top"><span class="brand">%s'
	    '</span><span class="badge">Emulator on loopback</span></div>%s'
	    '</main></body></html>\n' % (head_extra, esc(title), accent, CSS,
	    esc(brand), body))


def message_list(items):
	"""items: (meta line, text) pairs, already in display order."""
	if not items:
		return '<p class="meta">No messages yet.</p>'
	rows = ''.join('<li><div class="meta">%s</div><div class="text">%s'
	    '</div></li>' % (esc(meta), esc(text)) for meta, text in items)
	return '<ul class="items">%s</ul>' % rows


# --- HTTP ------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
	# A kept connection answered in two writes (the head, then the
	# body) would wait for the client's delayed ACK (Nagle): 40 ms a
	# request.  Providers answer at once.
	disable_nagle_algorithm = True
	protocol_version = 'HTTP/1.1'
	sys_version = ''

	def log_message(self, fmt, *args):
		pass	# dispatch() writes one line per request

	def version_string(self):
		return '%s/1.0' % _log_name

	def do_GET(self):
		self.dispatch('GET')

	def do_POST(self):
		self.dispatch('POST')

	def do_DELETE(self):
		self.dispatch('DELETE')

	def read_body(self):
		if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
			return self.read_chunked()
		n = int(self.headers.get('Content-Length') or 0)
		if n < 0 or n > MAX_BODY:
			raise ValueError('body too large')
		return self.rfile.read(n) if n else b''

	def read_chunked(self):
		chunks, total = [], 0
		while True:
			size = int(self.rfile.readline(100).split(b';')[0], 16)
			if size == 0:
				# Trailers, up to the empty line.
				while self.rfile.readline(8192) not in (b'\r\n', b'\n', b''):
					pass
				return b''.join(chunks)
			total += size
			if total > MAX_BODY:
				raise ValueError('body too large')
			chunks.append(self.rfile.read(size))
			self.rfile.readline(10)

	def dispatch(self, method):
		t0 = time.monotonic()
		url = urllib.parse.urlsplit(self.path)
		app = self.server.app
		try:
			body = self.read_body()
		except ValueError:
			self.close_connection = True
			resp = text_response(413, 'request body too large or malformed\n')
		else:
			req = Request(method, url.path, url.query, self.headers, body)
			try:
				resp = answer(app, req)
			except Exception:
				log('internal error\n' + traceback.format_exc())
				resp = text_response(500, 'emulator error\n')
		self.send(resp)
		log('%s %s %d %.0fms%s' % (method, app.log_path(url.path),
		    resp.status, (time.monotonic() - t0) * 1000,
		    ' ' + resp.note if resp.note else ''))

	def send(self, resp):
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


def arg_parser(description):
	"""The options every emulator takes, as tests/stripe-emu.py does."""
	ap = argparse.ArgumentParser(description=description)
	ap.add_argument('--pidfile', help='write the pid here once listening')
	ap.add_argument('--port', type=int, required=True,
	    help='TCP port on 127.0.0.1; 0: any (printed on stdout)')
	ap.add_argument('--state', help='JSON file keeping the data across '
	    'restarts')
	return ap


def serve(args, make_app):
	"""Listen, build the emulator for the port, announce, serve until
	SIGTERM or SIGINT.  Returns the exit status."""
	if not 0 <= args.port <= 65535:
		log('port out of range: %d' % args.port)
		return 2
	try:
		server = Server(('127.0.0.1', args.port), Handler)
	except OSError as e:
		log('cannot listen on 127.0.0.1:%d: %s' % (args.port, e.strerror))
		return 1
	port = server.server_address[1]
	try:
		server.app = make_app(port)
	except (OSError, ValueError) as e:
		log('cannot read the state file %s: %s' % (args.state, e))
		return 1
	if args.port == 0:
		print(port, flush=True)
	if args.pidfile:
		write_pidfile(args.pidfile)

	def stop(signum, frame):
		log('%s: stopping' % signal.Signals(signum).name)
		threading.Thread(target=server.shutdown, daemon=True).start()
	signal.signal(signal.SIGTERM, stop)
	signal.signal(signal.SIGINT, stop)

	log('listening on http://127.0.0.1:%d%s' % (port,
	    ', state in ' + args.state if args.state else ''))
	try:
		server.serve_forever(poll_interval=0.2)
	finally:
		server.server_close()
		if args.pidfile:
			remove_pidfile(args.pidfile)
	log('stopped')
	return 0
