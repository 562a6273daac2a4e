#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/smtp-sink.py: the SMTP sink of SPEC 15.  It accepts every message
# the stack sends (libcurl's SMTP client in fcgi/mail.c) and keeps each
# one as a file, so tests can read what would have been mailed.
#
#   tests/smtp-sink.py [--pidfile FILE] PORT DIR
#
# Listens on 127.0.0.1:PORT (0: a free port, printed on stdout) and
# writes each accepted message to DIR/<unix-ms>-<counter>.eml: one
# "X-Sink-Mail-From:" line, one "X-Sink-Rcpt-To:" line per recipient,
# then the message as received (dots unstuffed).  The file is written
# under a temporary name and renamed, so a reader polling for *.eml never
# sees half a message.  One line per message (and per start and stop) on
# stderr.  SIGTERM and SIGINT stop it cleanly and remove the pid file.
#
# Message-IDs: each stored message also gets a line "NAME<TAB>MESSAGE-ID"
# (MESSAGE-ID "-" when it has none) appended to DIR/.index, in the order
# stored, so a test counts distinct Message-IDs (retries of one
# notification must not make two) with
#   cut -f2 DIR/.index | sort -u | wc -l
# or greps the header itself: grep -il '^Message-ID: <id>' DIR/*.eml.
#
# Failure switches, without a restart: DIR/.sink-mode holds one word,
# read when a session starts (so it applies from the next connection on):
#   accept     the default, also when the file is absent or empty
#   tempfail   451 to every RCPT TO (a transient failure, RFC 5321 4.2.1)
#   reject     550 to every RCPT TO (a permanent failure)
#   drop       close the connection right after the 220 greeting
# Anything else is logged and taken as accept.  Names starting with "."
# are not messages: readers polling for *.eml skip .index, .sink-mode
# and the temporary files alike.  Write the file atomically (a temporary
# name, then rename) and put "accept" back when done: every test program
# of a run shares the sink.
#
# Enough of RFC 5321 for libcurl and for a test poking at it by hand:
# EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.  No STARTTLS and no AUTH
# are offered (libcurl with CURLUSESSL_TRY goes on in plain text).  Python
# standard library only: smtpd and asyncore are gone from Python 3.12.
import argparse
import os
import re
import signal
import socketserver
import sys
import tempfile
import threading
import time

MAX_MESSAGE = 10 * 1024 * 1024	# bytes of message data (SIZE, 552)
MAX_RCPT = 100			# recipients per message (452 beyond)
MAX_LINE = 4096			# a command line (RFC 5321: 512; be lenient)
MAX_ADDRESS = 254
DATA_CHUNK = 65536		# a message line is read at most this much at once
IDLE_TIMEOUT = 60		# seconds without a byte from the client
MAX_SESSIONS = 64		# concurrent connections; more get 421
TOO_BIG = 'message size exceeds %d bytes' % MAX_MESSAGE
MODE_FILE = '.sink-mode'	# in the sink directory: see the header
MODES = ('accept', 'tempfail', 'reject', 'drop')
INDEX_FILE = '.index'		# "NAME<TAB>MESSAGE-ID" per stored message

# RFC 5321 commands this sink does not offer (502 rather than 500).
NOT_OFFERED = ('STARTTLS', 'AUTH', 'VRFY', 'EXPN', 'HELP', 'ETRN', 'TURN')
PATH_RE = re.compile(r'<([^<>]*)>(.*)\Z', re.S)
PARAM_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9-]*(=[\x21-\x3c\x3e-\x7e]+)?\Z')

log_lock = threading.Lock()


def log(msg):
	"""One line on stderr; the stack keeps it as the sink's log."""
	stamp = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())
	with log_lock:
		sys.stderr.write('%sZ smtp-sink[%d] %s\n' % (stamp, os.getpid(),
		    msg))
		sys.stderr.flush()


def read_mode(sink_dir):
	"""The failure switch for a new session: one of MODES."""
	try:
		with open(os.path.join(sink_dir, MODE_FILE), 'rb') as f:
			word = f.read(64).decode('ascii', 'replace').strip().lower()
	except FileNotFoundError:
		return 'accept'
	except OSError as e:
		log('cannot read %s: %s; accepting' % (MODE_FILE, e.strerror))
		return 'accept'
	if word == '':
		return 'accept'
	if word not in MODES:
		log('unknown mode %r in %s; accepting' % (word[:20], MODE_FILE))
		return 'accept'
	return word


def message_id(data):
	"""The Message-ID header of a message, unfolded; '-' if none."""
	head = re.split(rb'\r?\n\r?\n', data, maxsplit=1)[0]
	head = re.sub(rb'\r?\n(?=[ \t])', b'', head)
	for line in head.split(b'\n'):
		name, colon, value = line.rstrip(b'\r').partition(b':')
		if colon and name.strip().lower() == b'message-id':
			text = value.strip().decode('ascii', 'replace')
			ok = text and printable(text.replace(' ', ''))
			return text if ok else '-'
	return '-'


def printable(s):
	"""Printable ASCII without spaces: safe in a header line and a log."""
	return all(0x21 <= ord(c) <= 0x7e for c in s)


class SmtpError(Exception):
	"""A reply that ends the command: code and text."""

	def __init__(self, code, text):
		super().__init__(text)
		self.code = code
		self.text = text


def parse_path(arg, keyword):
	"""
	"FROM:<addr> PARAMS" or "TO:<addr> PARAMS" into (address, params).
	Spaces after the colon are tolerated, as most servers do.
	"""
	if arg[:len(keyword)].upper() != keyword:
		raise SmtpError(501, 'syntax: %s<address>' % keyword)
	m = PATH_RE.match(arg[len(keyword):].lstrip(' '))
	if m is None:
		raise SmtpError(501, 'syntax: %s<address>' % keyword)
	address, rest = m.group(1), m.group(2)
	if rest and not rest.startswith(' '):
		raise SmtpError(501, 'syntax: a space before parameters')
	if len(address) > MAX_ADDRESS or (address and not printable(address)):
		raise SmtpError(501, 'bad address')
	params = {}
	for p in rest.split():
		if PARAM_RE.match(p) is None:
			raise SmtpError(501, 'bad parameter')
		key, _, value = p.partition('=')
		params[key.upper()] = value
	return address, params


class Session(socketserver.StreamRequestHandler):
	"""One SMTP connection; StreamRequestHandler applies the timeout."""

	timeout = IDLE_TIMEOUT

	def reply(self, code, text):
		lines = text.split('\n')
		out = ''.join('%d-%s\r\n' % (code, t) for t in lines[:-1])
		out += '%d %s\r\n' % (code, lines[-1])
		self.wfile.write(out.encode('ascii'))

	def reset(self):
		self.mail_from = None
		self.rcpts = []

	def handle(self):
		if not self.server.slots.acquire(blocking=False):
			self.reply(421, 'too many connections, try again later')
			return
		try:
			self.converse()
		except TimeoutError:
			try:
				self.reply(421, 'idle too long, closing')
			except OSError:
				pass
		except OSError:
			pass	# the client went away: nothing to keep
		finally:
			self.server.slots.release()

	def read_command(self):
		"""A command line as text; None at end of input."""
		raw = self.rfile.readline(MAX_LINE + 1)
		if not raw:
			return None
		if not raw.endswith(b'\n'):
			# Drop the rest of the line so the next one parses.
			while raw and not raw.endswith(b'\n'):
				raw = self.rfile.readline(MAX_LINE)
			raise SmtpError(500, 'line too long')
		raw = raw.rstrip(b'\r\n')
		try:
			line = raw.decode('ascii')
		except UnicodeDecodeError:
			raise SmtpError(500, 'commands are ASCII') from None
		if any(ord(c) < 0x20 and c != '\t' or ord(c) == 0x7f for c in line):
			raise SmtpError(501, 'control characters in command')
		return line

	def converse(self):
		self.greeted = False
		self.reset()
		self.mode = read_mode(self.server.sink_dir)
		self.reply(220, '127.0.0.1 smtp-sink ESMTP ready')
		if self.mode == 'drop':
			log('mode drop: closing after the greeting')
			return
		while True:
			try:
				line = self.read_command()
				if line is None or self.dispatch(line) == 'quit':
					return
			except SmtpError as e:
				self.reply(e.code, e.text)

	def dispatch(self, line):
		"""Run one command through its cmd_VERB method."""
		verb, _, arg = line.partition(' ')
		verb = verb.upper()
		handler = getattr(self, 'cmd_' + verb, None)
		if verb in NOT_OFFERED:
			raise SmtpError(502, 'command not implemented')
		if not verb.isalpha() or handler is None:
			raise SmtpError(500, 'command not recognized')
		return handler(arg.strip(' '))

	def cmd_EHLO(self, arg):
		if not arg:
			raise SmtpError(501, 'syntax: EHLO domain')
		self.greeted = True
		self.reset()
		self.reply(250, '127.0.0.1 greets %s\nSIZE %d\n8BITMIME\nPIPELINING'
		    % (arg if printable(arg) else 'you', MAX_MESSAGE))

	def cmd_HELO(self, arg):
		if not arg:
			raise SmtpError(501, 'syntax: HELO domain')
		self.greeted = True
		self.reset()
		self.reply(250, '127.0.0.1')

	def cmd_MAIL(self, arg):
		if not self.greeted:
			raise SmtpError(503, 'send EHLO or HELO first')
		if self.mail_from is not None:
			raise SmtpError(503, 'nested MAIL command')
		address, params = parse_path(arg, 'FROM:')
		for key, value in params.items():
			if key == 'SIZE' and not value.isdigit():
				raise SmtpError(501, 'bad SIZE')
			if key == 'SIZE' and int(value) > MAX_MESSAGE:
				raise SmtpError(552, TOO_BIG)
			if key not in ('SIZE', 'BODY') or (key == 'BODY' and
			    value.upper() not in ('7BIT', '8BITMIME')):
				raise SmtpError(555, 'parameter %s not supported' % key)
		self.mail_from = address
		self.reply(250, 'sender ok')

	def cmd_RCPT(self, arg):
		if self.mail_from is None:
			raise SmtpError(503, 'need MAIL before RCPT')
		address, params = parse_path(arg, 'TO:')
		if params:
			raise SmtpError(555, 'RCPT parameters not supported')
		if '@' not in address and address.lower() != 'postmaster':
			raise SmtpError(501, 'bad recipient address')
		if self.mode == 'tempfail':
			log('mode tempfail: 451 to a recipient')
			raise SmtpError(451, 'mailbox unavailable, try again later')
		if self.mode == 'reject':
			log('mode reject: 550 to a recipient')
			raise SmtpError(550, 'mailbox unavailable')
		if len(self.rcpts) >= MAX_RCPT:
			raise SmtpError(452, 'too many recipients')
		self.rcpts.append(address)
		self.reply(250, 'recipient ok')

	def cmd_DATA(self, arg):
		if arg:
			raise SmtpError(501, 'DATA takes no argument')
		if self.mail_from is None or not self.rcpts:
			raise SmtpError(503, 'need MAIL and RCPT before DATA')
		mail_from, rcpts = self.mail_from, self.rcpts
		# Whatever happens next, the transaction is over (RFC 5321 4.1.1.4).
		self.reset()
		self.reply(354, 'end data with <CR><LF>.<CR><LF>')
		data = self.read_data()
		if data is None:
			raise SmtpError(552, TOO_BIG)
		try:
			name = self.server.store(mail_from, rcpts, data)
		except OSError as e:
			log('cannot store a message: %s' % e)
			raise SmtpError(451, 'cannot store the message') from None
		log('%s: from <%s> to %s, %d bytes' % (name, mail_from,
		    ', '.join('<%s>' % r for r in rcpts), len(data)))
		self.reply(250, 'ok, queued as %s' % name)

	def read_data(self):
		"""
		The message up to the "." line, dots unstuffed; None when it
		passed MAX_MESSAGE (the rest is read and dropped, so the session
		stays in step).  End of input raises: nothing is kept.
		"""
		parts, size, too_big, at_bol = [], 0, False, True
		while True:
			chunk = self.rfile.readline(DATA_CHUNK)
			if not chunk:
				raise ConnectionError('end of input inside DATA')
			if at_bol and chunk in (b'.\r\n', b'.\n'):
				break
			if at_bol and chunk.startswith(b'.'):
				chunk = chunk[1:]
			at_bol = chunk.endswith(b'\n')
			if too_big:
				continue
			size += len(chunk)
			if size > MAX_MESSAGE:
				too_big, parts = True, []
			else:
				parts.append(chunk)
		return None if too_big else b''.join(parts)

	def cmd_RSET(self, arg):
		if arg:
			raise SmtpError(501, 'RSET takes no argument')
		self.reset()
		self.reply(250, 'ok')

	def cmd_NOOP(self, arg):
		self.reply(250, 'ok')

	def cmd_QUIT(self, arg):
		if arg:
			raise SmtpError(501, 'QUIT takes no argument')
		self.reply(221, 'bye')
		return 'quit'


class SinkServer(socketserver.ThreadingTCPServer):
	# Restarting right after a stop must not wait for TIME_WAIT; Linux
	# still refuses a second listener on a port in use.
	allow_reuse_address = True
	# Sessions die with the process: an unfinished message was never
	# acknowledged, and its temporary file is not a *.eml.
	daemon_threads = True

	def __init__(self, address, sink_dir):
		super().__init__(address, Session)
		self.sink_dir = sink_dir
		self.slots = threading.BoundedSemaphore(MAX_SESSIONS)
		self.counter = 0
		self.counter_lock = threading.Lock()
		self.index_lock = threading.Lock()

	def store(self, mail_from, rcpts, data):
		"""Write one message atomically; its file name."""
		with self.counter_lock:
			self.counter += 1
			ms = time.time_ns() // 1000000
			name = '%d-%d.eml' % (ms, self.counter)
		head = 'X-Sink-Mail-From: %s\r\n' % mail_from
		head += ''.join('X-Sink-Rcpt-To: %s\r\n' % r for r in rcpts)
		fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.part',
		    dir=self.sink_dir)
		try:
			with os.fdopen(fd, 'wb') as f:
				f.write(head.encode('ascii'))
				f.write(data)
			os.rename(tmp, os.path.join(self.sink_dir, name))
		except BaseException:
			os.unlink(tmp)
			raise
		self.index(name, message_id(data))
		return name

	def index(self, name, msgid):
		"""One line of DIR/.index; a failure only costs the line."""
		try:
			with self.index_lock, open(os.path.join(self.sink_dir,
			    INDEX_FILE), 'a', encoding='ascii') as f:
				f.write('%s\t%s\n' % (name, msgid))
		except OSError as e:
			log('cannot write %s: %s' % (INDEX_FILE, e.strerror))


def write_pidfile(path):
	tmp = '%s.tmp.%d' % (path, os.getpid())
	with open(tmp, 'w') as f:
		f.write('%d\n' % os.getpid())
	os.rename(tmp, path)


def remove_pidfile(path):
	"""Only our own: a newer sink may have replaced it already."""
	try:
		with open(path) as f:
			if f.read().strip() != str(os.getpid()):
				return
		os.unlink(path)
	except OSError:
		pass


def main():
	ap = argparse.ArgumentParser(description='SMTP sink for the tests')
	ap.add_argument('--pidfile', help='write the pid here once listening')
	ap.add_argument('port', type=int, help='TCP port on 127.0.0.1; 0: any')
	ap.add_argument('dir', help='directory for the received messages')
	args = ap.parse_args()
	if not 0 <= args.port <= 65535:
		ap.error('port out of range: %d' % args.port)
	if not os.path.isdir(args.dir):
		ap.error('not a directory: %s' % args.dir)
	sink_dir = os.path.abspath(args.dir)
	try:
		server = SinkServer(('127.0.0.1', args.port), sink_dir)
	except OSError as e:
		log('cannot listen on 127.0.0.1:%d: %s' % (args.port, e.strerror))
		return 1
	port = server.server_address[1]
	if args.port == 0:
		print(port, flush=True)
	if args.pidfile:
		write_pidfile(args.pidfile)

	# shutdown() waits for serve_forever() to return, so it cannot run in
	# the handler, which interrupts serve_forever() on this thread.
	def stop(signum, frame):
		log('%s: stopping' % signal.Signals(signum).name)
		threading.Thread(target=server.shutdown, daemon=True).start()
	signal.signal(signal.SIGTERM, stop)
	signal.signal(signal.SIGINT, stop)

	log('listening on 127.0.0.1:%d, messages to %s' % (port, sink_dir))
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
