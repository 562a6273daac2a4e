#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/s3-emu.py: the S3 emulator the tests put behind Tollgate's object
# storage (TOLLGATE_STORAGE_BACKEND=s3).  The part of Amazon S3 that an
# object store client uses, on loopback, never the network, with S3's
# strict Signature Version 4 so that a signer that would fail at AWS fails
# here too.  Python 3 standard library only; the shared plumbing (log
# lines, faults, the state file, the pid file, pages) is in
# tests/emu_common.py.
#
#   tests/s3-emu.py --port PORT --data DIR [--pidfile FILE] [--state FILE]
#       [--access-key AK] [--secret-key SK] [--region REGION]
#       [--bucket NAME]...
#
# The key pair defaults to $S3_EMU_ACCESS_KEY and $S3_EMU_SECRET_KEY
# (tests/stack.sh passes them so: argv is public in ps).  The region
# defaults to us-east-1; each --bucket is created at start if missing.
# PORT 0 takes a free port and prints it on stdout.  Object bytes live as
# files under DIR (objects/, uploads/, tmp/); --state is the index (JSON,
# rewritten whole through a temporary file and a rename after every
# change), so a restarted emulator keeps its objects and its multipart
# uploads in progress.  Files under DIR that the index does not name (a
# crash between writing one and saving the index) are removed at start.
# Request bodies are streamed to files while hashed, never held whole in
# memory, so a part or an object of several GiB is fine.
#
# Addressing is path-style only: BASE/BUCKET/KEY, BASE being
# http://127.0.0.1:PORT, what TOLLGATE_S3_ENDPOINT is set to.
#
# ---- Authentication: Signature Version 4, header form only
#
#   Authorization: AWS4-HMAC-SHA256 Credential=AK/YYYYMMDD/REGION/s3/
#   aws4_request, SignedHeaders=..., Signature=...  The canonical request
#   is rebuilt from the raw request line: the path exactly as sent (S3
#   does not normalise it), the query's parameters decoded, re-encoded
#   (RFC 3986, %20 for a space) and sorted by name then value ("uploads"
#   becomes "uploads="), the signed headers' values trimmed with inner
#   runs of spaces collapsed, and the x-amz-content-sha256 value as the
#   payload hash.  Refused, in this order:
#     no Authorization (presigned URLs included): 403 AccessDenied
#     another algorithm: 400 InvalidRequest
#     a malformed header or credential scope: 400
#         AuthorizationHeaderMalformed
#     an unknown access key: 403 InvalidAccessKeyId
#     no x-amz-content-sha256: 400 InvalidRequest
#     host, x-amz-date or x-amz-content-sha256, or any x-amz-* header
#         present, missing from SignedHeaders: 403 AccessDenied
#     no valid x-amz-date: 403 AccessDenied
#     the scope's day is not x-amz-date's, another region or service:
#         400 AuthorizationHeaderMalformed
#     x-amz-date more than 15 minutes off: 403 RequestTimeTooSkewed
#     STREAMING-* (aws-chunked) payloads: 501 NotImplemented
#     another x-amz-content-sha256 value: 400 InvalidArgument
#     a wrong signature (compared in constant time): 403
#         SignatureDoesNotMatch, with StringToSign and CanonicalRequest
#         as S3 answers it
#   Then, once the body is read: a hex x-amz-content-sha256 that is not
#   the body's SHA-256: 400 XAmzContentSHA256Mismatch; Content-MD5 or
#   x-amz-checksum-sha256 / -sha1 / -crc32 (base64) not the body's: 400
#   BadDigest (crc32c and crc64nvme: 501 NotImplemented, unchecked).
#   UNSIGNED-PAYLOAD is accepted and counted in /_emu/state, so that a
#   test can assert that Tollgate signs every body.
#
# ---- Operations (errors in S3's XML shape, <Error><Code>, <Message>,
# <RequestId>, ...; a HEAD's errors without a body)
#
#   GET    /                            ListBuckets
#   PUT    /B                           CreateBucket (409
#          BucketAlreadyOwnedByYou outside us-east-1)
#   HEAD   /B                           HeadBucket
#   DELETE /B                           DeleteBucket (409 BucketNotEmpty)
#   GET    /B?list-type=2               ListObjectsV2: prefix, delimiter,
#          max-keys (at most 1000), continuation-token, start-after,
#          encoding-type=url
#   GET    /B?location                  GetBucketLocation
#   GET    /B?uploads                   ListMultipartUploads (prefix only)
#   POST   /B?delete                    DeleteObjects (Content-MD5 or a
#          checksum required, as at S3)
#   PUT    /B/K                         PutObject: Content-Length required
#          (411 MissingContentLength), at most 5 GiB (400 EntityTooLarge);
#          If-None-Match: * (412 when the key exists) and If-Match: "etag"
#          (412, or 404 NoSuchKey when there is no object) decided when
#          the object is stored, so of two racing writers one wins;
#          Content-Type and x-amz-meta-* kept.  ETag: the MD5, quoted.
#   GET    /B/K                         GetObject: one Range (206, 416
#          InvalidRange), If-Match, If-None-Match, If-Modified-Since,
#          If-Unmodified-Since
#   HEAD   /B/K                         HeadObject, the same headers
#   DELETE /B/K                         DeleteObject: 204, also when missing
#   POST   /B/K?uploads                 CreateMultipartUpload
#   PUT    /B/K?partNumber=N&uploadId=U UploadPart (1 <= N <= 10000)
#   GET    /B/K?uploadId=U              ListParts (max-parts,
#          part-number-marker)
#   POST   /B/K?uploadId=U              CompleteMultipartUpload: the parts
#          in ascending order (400 InvalidPartOrder), each uploaded with
#          that ETag (400 InvalidPart), all but the last at least 5 MiB
#          (400 EntityTooSmall); If-None-Match: * as for PutObject.  ETag:
#          the MD5 of the parts' MD5s, "-" and the number of parts.
#   DELETE /B/K?uploadId=U              AbortMultipartUpload (404
#          NoSuchUpload when unknown)
#   Anything else (other sub-resources such as ?acl or ?tagging,
#   x-amz-copy-source, chunked bodies): 501 NotImplemented, never a
#   silent half answer; a method a resource lacks: 405 MethodNotAllowed.
#
# ---- Control endpoints (no authentication, JSON in and out)
#
#   GET    /_emu/          HTML page: buckets, objects, uploads, counters
#   GET    /_emu/state     region, access key, buckets, objects (bucket,
#                          key, size, etag, sha256 hex, last_modified,
#                          content_type, metadata), uploads in progress
#                          (with their parts), counters (requests,
#                          operations, signature_failures, auth_failures,
#                          unsigned_payloads, streaming_payloads,
#                          sha256_mismatches, faults), faults;
#                          ?bucket=B keeps one bucket's
#   GET    /_emu/object?bucket=B&key=K   the stored bytes, unsigned
#   DELETE /_emu/counters  sets the counters to zero
#   POST   /_emu/reset     forgets every bucket, object, upload, counter
#                          and fault, then creates the --bucket buckets
#   GET|POST|DELETE /_emu/faults   see tests/emu_common.py; status 500
#                          answers InternalError, 503 SlowDown, other
#                          statuses a fitting S3 code; "error": "SlowDown"
#                          (any code of ERRORS below) answers that error
#                          with its status.  A fault comes before
#                          authentication, as a failing front end would.
#
# The counters are saved with the index, so they survive a restart too.
# One line per request goes to stderr: method, path and query (a
# presigned URL's signature hidden), status, time, and the error code or
# "fault"; a signature mismatch adds a line with the canonical request
# the emulator expected, to debug a client's signer with.  Never the
# secret key.
import base64
import binascii
import calendar
import email.utils
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ElementTree
import zlib
from xml.sax.saxutils import escape as xml_escape

sys.dont_write_bytecode = True	# no __pycache__ in a read-only source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emu_common as emu	# noqa: E402

STATE_VERSION = 1
CHUNK = 1024 * 1024		# bytes read or written at a time
MAX_SMALL_BODY = 2 * 1024 * 1024	# an XML body (10000 parts fit)
MAX_DRAIN = 8 * 1024 * 1024	# an unread body read away to keep the
				# connection; a larger one closes it
MAX_OBJECT = 5 * 1024 ** 3	# S3's limit of one PUT (object or part)
MIN_PART = 5 * 1024 * 1024	# every part but the last, at least
MAX_PART_NUMBER = 10000
MAX_KEYS = 1000
MAX_KEY_BYTES = 1024
MAX_SKEW = 15 * 60		# seconds between x-amz-date and now
XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/'
XML_TYPE = 'application/xml'
OWNER_ID = '75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a'
AMZ_DATE_RE = re.compile(r'\d{8}T\d{6}Z\Z')
HEX64_RE = re.compile(r'[0-9a-f]{64}\Z')
REGION_RE = re.compile(r'[a-z0-9-]{1,40}\Z')
BUCKET_RE = re.compile(r'[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z')
IP_RE = re.compile(r'\d+\.\d+\.\d+\.\d+\Z')
# Query parameters some operation takes; any other is a sub-resource or
# an option the emulator does not have (501).
KNOWN_PARAMS = frozenset(('list-type', 'prefix', 'delimiter', 'max-keys',
    'continuation-token', 'start-after', 'encoding-type', 'fetch-owner',
    'location', 'uploads', 'uploadId', 'partNumber', 'max-parts',
    'part-number-marker', 'delete', 'x-id'))
# Checksum headers and how to compute them; None: not checked.
CHECKSUMS = {'x-amz-checksum-sha256': 'sha256', 'x-amz-checksum-sha1': 'sha1',
    'x-amz-checksum-crc32': 'crc32', 'x-amz-checksum-crc32c': None,
    'x-amz-checksum-crc64nvme': None}

# code: (HTTP status, S3's message)
ERRORS = {
	'AccessDenied': (403, 'Access Denied'),
	'AuthorizationHeaderMalformed': (400, 'The authorization header is '
	    'malformed.'),
	'BadDigest': (400, 'The Content-MD5 you specified did not match what '
	    'we received.'),
	'BucketAlreadyOwnedByYou': (409, 'Your previous request to create the '
	    'named bucket succeeded and you already own it.'),
	'BucketNotEmpty': (409, 'The bucket you tried to delete is not empty'),
	'EntityTooLarge': (400, 'Your proposed upload exceeds the maximum '
	    'allowed size'),
	'EntityTooSmall': (400, 'Your proposed upload is smaller than the '
	    'minimum allowed size'),
	'IllegalLocationConstraintException': (400, 'The specified location-'
	    'constraint is not valid'),
	'IncompleteBody': (400, 'You did not provide the number of bytes '
	    'specified by the Content-Length HTTP header'),
	'InternalError': (500, 'We encountered an internal error. Please try '
	    'again.'),
	'InvalidAccessKeyId': (403, 'The AWS Access Key Id you provided does '
	    'not exist in our records.'),
	'InvalidArgument': (400, 'Invalid Argument'),
	'InvalidBucketName': (400, 'The specified bucket is not valid.'),
	'InvalidDigest': (400, 'The Content-MD5 you specified was invalid.'),
	'InvalidPart': (400, 'One or more of the specified parts could not be '
	    'found.  The part may not have been uploaded, or the specified '
	    'entity tag may not match the part\'s entity tag.'),
	'InvalidPartOrder': (400, 'The list of parts was not in ascending '
	    'order. Parts must be ordered by part number.'),
	'InvalidRange': (416, 'The requested range is not satisfiable'),
	'InvalidRequest': (400, 'Invalid Request'),
	'InvalidURI': (400, 'Couldn\'t parse the specified URI.'),
	'KeyTooLongError': (400, 'Your key is too long'),
	'MalformedXML': (400, 'The XML you provided was not well-formed or did '
	    'not validate against our published schema'),
	'MaxMessageLengthExceeded': (400, 'Your request was too big.'),
	'MethodNotAllowed': (405, 'The specified method is not allowed against '
	    'this resource.'),
	'MissingContentLength': (411, 'You must provide the Content-Length HTTP '
	    'header.'),
	'NoSuchBucket': (404, 'The specified bucket does not exist'),
	'NoSuchKey': (404, 'The specified key does not exist.'),
	'NoSuchUpload': (404, 'The specified upload does not exist. The upload '
	    'ID may be invalid, or the upload may have been aborted or '
	    'completed.'),
	'NotImplemented': (501, 'A header you provided implies functionality '
	    'that is not implemented'),
	'NotModified': (304, 'Not Modified'),
	'OperationAborted': (409, 'A conflicting conditional operation is '
	    'currently in progress against this resource. Please try again.'),
	'PreconditionFailed': (412, 'At least one of the pre-conditions you '
	    'specified did not hold'),
	'RequestTimeTooSkewed': (403, 'The difference between the request time '
	    'and the current time is too large.'),
	'RequestTimeout': (400, 'Your socket connection to the server was not '
	    'read from or written to within the timeout period.'),
	'ServiceUnavailable': (503, 'Service is unable to handle request.'),
	'SignatureDoesNotMatch': (403, 'The request signature we calculated '
	    'does not match the signature you provided. Check your key and '
	    'signing method.'),
	'SlowDown': (503, 'Please reduce your request rate.'),
	'XAmzContentSHA256Mismatch': (400, 'The provided \'x-amz-content-'
	    'sha256\' header does not match what was computed.'),
}
# The code a fault with only a status answers.
FAULT_CODES = {400: 'InvalidRequest', 403: 'AccessDenied', 404: 'NoSuchKey',
    405: 'MethodNotAllowed', 409: 'OperationAborted',
    412: 'PreconditionFailed', 500: 'InternalError', 501: 'NotImplemented',
    503: 'SlowDown'}
COUNTERS = ('requests', 'signature_failures', 'auth_failures',
    'unsigned_payloads', 'streaming_payloads', 'sha256_mismatches',
    'faults')
# Errors of authentication, counted as auth_failures.
AUTH_ERRORS = frozenset(('AccessDenied', 'AuthorizationHeaderMalformed',
    'InvalidAccessKeyId', 'RequestTimeTooSkewed', 'SignatureDoesNotMatch'))


class S3Error(Exception):
	"""An answer in S3's error shape.  extra: (element, text) pairs that
	follow Message, as S3 adds Key, BucketName, UploadId and the like."""

	def __init__(self, code, message=None, *extra, status=None):
		super().__init__(code)
		self.code = code
		self.status = status or ERRORS[code][0]
		self.message = message or ERRORS[code][1]
		self.extra = extra


# --- small helpers ----------------------------------------------------------

def iso_ms(t):
	"""S3's timestamps in XML: 2026-01-31T12:00:00.000Z."""
	return time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime(t))


def http_date(t):
	return email.utils.formatdate(t, usegmt=True)


def parse_http_date(value):
	"""Seconds since the epoch of an HTTP date, or None."""
	try:
		return email.utils.parsedate_to_datetime(value).timestamp()
	except (TypeError, ValueError, IndexError):
		return None


def uri_encode(raw):
	"""SigV4's encoding of a query name or value, from its bytes:
	everything but A-Z a-z 0-9 - _ . ~ percent-encoded."""
	return urllib.parse.quote(raw, safe='-_.~')


def text_of(s):
	"""A string for XML: bytes that were not UTF-8 shown as U+FFFD."""
	return s.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')


def xml_el(tag, value):
	return '<%s>%s</%s>' % (tag, xml_escape(text_of(str(value))), tag)


def xml_doc(root, inner):
	return ('<?xml version="1.0" encoding="UTF-8"?>\n<%s xmlns="%s">%s</%s>'
	    % (root, XMLNS, inner, root))


def xml_bool(v):
	return 'true' if v else 'false'


def quote_etag(etag):
	return '"%s"' % etag


def strip_etag(value):
	value = value.strip()
	if value.startswith('W/'):
		value = value[2:]
	return value.strip('"')


def etag_list_matches(header, etag):
	"""If-Match / If-None-Match: "*" or a comma-separated list of ETags."""
	tags = [strip_etag(t) for t in header.split(',')]
	return '*' in tags or etag in tags


def scrub(s):
	"""Untrusted text for the log: control characters as '?'."""
	return ''.join(c if c.isprintable() else '?' for c in s)


def local_name(tag):
	return tag.rsplit('}', 1)[-1]


def parse_xml(body, root):
	"""The body as an XML tree whose root is named root; MalformedXML
	otherwise.  Documents with a DTD are refused: entities are the
	known way to make a small body expand."""
	if b'<!DOCTYPE' in body or b'<!ENTITY' in body:
		raise S3Error('MalformedXML')
	try:
		tree = ElementTree.fromstring(body)
	except ElementTree.ParseError:
		raise S3Error('MalformedXML') from None
	if local_name(tree.tag) != root:
		raise S3Error('MalformedXML')
	return tree


def children(el, name):
	return [c for c in el if local_name(c.tag) == name]


def child_text(el, name):
	found = children(el, name)
	return (found[0].text or '') if found else None


def valid_bucket_name(name):
	return bool(BUCKET_RE.match(name)) and '..' not in name and \
	    not IP_RE.match(name)


class Crc32:
	"""zlib.crc32 behind hashlib's update() and digest()."""

	def __init__(self):
		self.value = 0

	def update(self, data):
		self.value = zlib.crc32(data, self.value)

	def digest(self):
		return self.value.to_bytes(4, 'big')


def new_hash(name):
	if name == 'crc32':
		return Crc32()
	if name == 'md5':
		return hashlib.md5(usedforsecurity=False)
	return hashlib.new(name)


def join_files(files, out):
	"""Copies the open files, in order, to the open file out;
	(sha256 hex, size)."""
	sha, size = hashlib.sha256(), 0
	for f in files:
		while True:
			chunk = f.read(CHUNK)
			if not chunk:
				break
			sha.update(chunk)
			out.write(chunk)
			size += len(chunk)
	return sha.hexdigest(), size


def remove(path):
	try:
		os.unlink(path)
	except FileNotFoundError:
		pass


# --- requests, bodies and responses -----------------------------------------

class Body:
	"""A request body as received: in memory (data) or in a file under
	the data directory (path, which the receiver renames or removes)."""

	def __init__(self):
		self.size = 0
		self.data = b''
		self.path = None
		self.digests = {}	# hash name -> digest bytes

	def sha256_hex(self):
		return self.digests['sha256'].hex()

	def md5_hex(self):
		return self.digests['md5'].hex()

	def discard(self):
		if self.path:
			remove(self.path)
			self.path = None


class S3Request:
	"""One S3 request as the emulator reads it: the raw path and query
	(what SigV4 signs), and their decoded meaning."""

	def __init__(self, method, raw_path, raw_query, headers):
		self.method = method
		self.raw_path = raw_path
		self.raw_query = raw_query
		self.headers = headers
		# Parameters decoded as S3 does: percent-escapes only, a
		# parameter without "=" has the value "".
		self.params = {}
		for item in raw_query.split('&'):
			if item:
				name, _, value = item.partition('=')
				self.params[self.unquote(name)] = self.unquote(value)
		path = raw_path[1:] if raw_path.startswith('/') else raw_path
		bucket, sep, key = path.partition('/')
		self.bucket = self.unquote(bucket) or None
		self.key = self.unquote(key) if sep and key else None
		if self.key is not None and \
		    len(self.key.encode('utf-8')) > MAX_KEY_BYTES:
			raise S3Error('KeyTooLongError', None, ('Size',
			    len(self.key.encode('utf-8'))), ('MaxSizeAllowed',
			    MAX_KEY_BYTES))
		self.op = None

	@staticmethod
	def unquote(s):
		try:
			return urllib.parse.unquote(s, errors='strict')
		except UnicodeDecodeError:
			raise S3Error('InvalidURI') from None

	def header(self, name, default=None):
		value = self.headers.get(name)
		return default if value is None else value.strip()

	def resource(self):
		"""What an error names: /bucket/key."""
		return '/' + '/'.join(x for x in (self.bucket, self.key) if x)


class S3Response(emu.Response):
	"""emu_common's Response, and what a S3 answer needs besides: a file
	to stream from instead of body bytes, a Content-Length that is not
	the body's (HEAD), and no Content-Type for an empty answer."""

	def __init__(self, status, body=b'', ctype=None, headers=None):
		super().__init__(status, body, ctype, headers)
		self.file = None	# open file object, closed once sent
		self.length = None	# Content-Length when not len(body)
		self.head = False	# HEAD: headers only


def xml_response(status, doc, headers=None):
	return S3Response(status, doc, XML_TYPE, headers)


def empty_response(status=200, headers=None):
	return S3Response(status, b'', None, headers)


# --- the emulator -----------------------------------------------------------

class S3:
	def __init__(self, port, args):
		self.base = 'http://127.0.0.1:%d' % port
		self.access_key = args.access_key
		self.secret_key = args.secret_key
		self.region = args.region
		self.initial_buckets = list(args.bucket)
		self.data_dir = os.path.abspath(args.data)
		self.obj_dir = os.path.join(self.data_dir, 'objects')
		self.upload_dir = os.path.join(self.data_dir, 'uploads')
		self.tmp_dir = os.path.join(self.data_dir, 'tmp')
		self.lock = threading.Lock()
		self.faults = emu.Faults(self.fault_error)
		self.store = emu.StateFile(args.state, STATE_VERSION)
		for d in (self.data_dir, self.obj_dir, self.upload_dir,
		    self.tmp_dir):
			os.makedirs(d, mode=0o700, exist_ok=True)
		self.clear()
		data = self.store.load()
		if data:
			self.buckets = data.get('buckets', {})
			self.uploads = data.get('uploads', {})
			self.counters.update(data.get('counters', {}))
			self.ops.update(data.get('operations', {}))
		self.tidy_data_dir()
		for name in self.initial_buckets:
			self.buckets.setdefault(name, {'created': int(time.time()),
			    'objects': {}})
		self.save()
		emu.log('index loaded: %d buckets, %d objects, %d uploads' % (
		    len(self.buckets), sum(len(b['objects'])
		    for b in self.buckets.values()), len(self.uploads)))

	# --- state --------------------------------------------------------------

	def clear(self):
		# name -> {"created": epoch, "objects": {key -> object}}; an
		# object: size, etag, sha256, last_modified (epoch seconds),
		# content_type, metadata, file (its name in objects/), parts
		# (how many, for a multipart object).
		self.buckets = {}
		# upload id -> {"bucket", "key", "initiated", "content_type",
		# "metadata", "parts": {"N": {size, etag, last_modified, file}}}
		self.uploads = {}
		self.counters = dict.fromkeys(COUNTERS, 0)
		self.ops = {}		# operation -> requests

	def save(self):
		"""Under self.lock (or before serving)."""
		self.store.save({'buckets': self.buckets, 'uploads': self.uploads,
		    'counters': self.counters, 'operations': self.ops})

	def tidy_data_dir(self, temporaries=True):
		"""Removes what the index does not name: files of a crash
		between writing them and saving the index, and (unless told
		otherwise: bodies being received) temporaries."""
		known = {o['file'] for b in self.buckets.values()
		    for o in b['objects'].values()}
		for name in os.listdir(self.obj_dir):
			if name not in known:
				remove(os.path.join(self.obj_dir, name))
		for name in os.listdir(self.upload_dir):
			path = os.path.join(self.upload_dir, name)
			up = self.uploads.get(name)
			if up is None:
				shutil.rmtree(path, ignore_errors=True)
				continue
			parts = {p['file'] for p in up['parts'].values()}
			for part in os.listdir(path):
				if part not in parts:
					remove(os.path.join(path, part))
		for name in os.listdir(self.tmp_dir) if temporaries else ():
			remove(os.path.join(self.tmp_dir, name))

	def count(self, name, n=1):
		with self.lock:
			self.counters[name] = self.counters.get(name, 0) + n

	def object_path(self, obj):
		return os.path.join(self.obj_dir, obj['file'])

	def part_path(self, upload_id, part):
		return os.path.join(self.upload_dir, upload_id, part['file'])

	# --- faults -------------------------------------------------------------

	def fault_error(self, value):
		if value not in ERRORS or ERRORS[value][0] < 400:
			raise ValueError('error must be an S3 error code such as '
			    'SlowDown or InternalError')
		return value

	def fault_response(self, fault, request_id, head):
		if fault['error'] is not None:
			err = S3Error(fault['error'])
		else:
			status = fault['status']
			code = FAULT_CODES.get(status, 'InternalError' if status >= 500
			    else 'InvalidRequest')
			err = S3Error(code, status=status)
		return self.error_response(err, None, request_id, head)

	# --- requests -----------------------------------------------------------

	def log_path(self, raw_path, raw_query):
		"""The path and query as logged: a presigned URL's credentials
		and signature hidden (the emulator refuses those URLs, but a
		client may still send one)."""
		shown = []
		for item in raw_query.split('&') if raw_query else []:
			name, sep, value = item.partition('=')
			if name.lower() in ('x-amz-signature', 'x-amz-credential',
			    'x-amz-security-token'):
				value = '[hidden]'
			shown.append(name + sep + value)
		return scrub(raw_path + ('?' + '&'.join(shown) if shown else ''))

	def error_response(self, err, req, request_id, head):
		extra = ''.join(xml_el(tag, value) for tag, value in err.extra)
		resource = req.resource() if req is not None else ''
		doc = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>%s%s%s%s%s'
		    '</Error>' % (xml_el('Code', err.code), xml_el('Message',
		    err.message), extra, xml_el('Resource', resource) if resource
		    else '', xml_el('RequestId', request_id)))
		if err.status == 304:
			resp = empty_response(304)
		else:
			resp = xml_response(err.status, doc)
		resp.head = head
		resp.note = err.code
		return resp

	def handle_s3(self, h, method, raw_path, raw_query):
		"""Everything but /_emu/: a fault, or authentication, the body
		and the operation."""
		request_id = secrets.token_hex(8).upper()
		head = method == 'HEAD'
		self.count('requests')
		fault = self.faults.take(raw_path)
		if fault:
			if fault['delay_ms']:
				time.sleep(fault['delay_ms'] / 1000.0)
			if fault['status'] is not None or fault['error'] is not None:
				self.count('faults')
				h.skip_body()
				resp = self.fault_response(fault, request_id, head)
				resp.note = 'fault ' + resp.note
				return self.finish(resp, request_id)
		req, body = None, None
		try:
			req = S3Request(method, raw_path, raw_query, h.headers)
			self.authenticate(req)
			fn, body_dest = self.route(req)
			with self.lock:
				self.ops[req.op] = self.ops.get(req.op, 0) + 1
			body = h.receive(req, body_dest, self)
			self.check_body(req, body)
			resp = fn(req, body)
		except S3Error as err:
			h.skip_body()
			if err.code in AUTH_ERRORS:
				self.count('auth_failures')
			resp = self.error_response(err, req, request_id, head)
		finally:
			if body is not None:
				body.discard()
		resp.head = head
		return self.finish(resp, request_id)

	def finish(self, resp, request_id):
		resp.headers = list(resp.headers) + [('x-amz-request-id',
		    request_id), ('x-amz-id-2', base64.b64encode(
		    request_id.encode()).decode())]
		return resp

	# --- SigV4 --------------------------------------------------------------

	def authenticate(self, req):
		auth = req.header('Authorization')
		if auth is None:
			if any(k.lower() == 'x-amz-signature' for k in req.params):
				raise S3Error('AccessDenied', 'Query-string (presigned) '
				    'authentication is not supported by this emulator: '
				    'sign with the Authorization header')
			raise S3Error('AccessDenied', 'Anonymous access is not '
			    'allowed: the request has no Authorization header')
		algorithm, _, rest = auth.partition(' ')
		if algorithm != 'AWS4-HMAC-SHA256':
			raise S3Error('InvalidRequest', 'The authorization mechanism you '
			    'have provided is not supported. Please use '
			    'AWS4-HMAC-SHA256.')
		fields = {}
		for item in rest.split(','):
			name, sep, value = item.strip().partition('=')
			if not sep or name in fields:
				raise S3Error('AuthorizationHeaderMalformed', 'The '
				    'authorization header is malformed; the authorization '
				    'component "%s" is malformed.' % item.strip())
			fields[name] = value
		for name in ('Credential', 'SignedHeaders', 'Signature'):
			if not fields.get(name):
				raise S3Error('AuthorizationHeaderMalformed', 'The '
				    'authorization header is malformed; it has no %s.' %
				    name)
		scope = fields['Credential'].split('/')
		if len(scope) != 5 or scope[4] != 'aws4_request':
			raise S3Error('AuthorizationHeaderMalformed', 'The authorization '
			    'header is malformed; the Credential is mal-formed; '
			    'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
			    'aws4_request".')
		access_key, day, region, service, _ = scope
		if not emu.hmac_equal(access_key, self.access_key):
			raise S3Error('InvalidAccessKeyId', None, ('AWSAccessKeyId',
			    access_key))
		signed = fields['SignedHeaders'].split(';')
		if signed != sorted(set(signed)) or \
		    any(not n or n != n.lower() for n in signed):
			raise S3Error('AuthorizationHeaderMalformed', 'The authorization '
			    'header is malformed; SignedHeaders must be lower-case '
			    'names, sorted, each once.')
		payload = req.header('x-amz-content-sha256')
		if payload is None:
			raise S3Error('InvalidRequest', 'Missing required header for '
			    'this request: x-amz-content-sha256')
		unsigned = sorted({n.lower() for n in req.headers.keys()
		    if n.lower().startswith('x-amz-')} - set(signed))
		for name in ('host', 'x-amz-content-sha256', 'x-amz-date'):
			if name not in signed and name not in unsigned:
				unsigned.append(name)
		if unsigned:
			raise S3Error('AccessDenied', 'There were headers present in the '
			    'request which were not signed', ('HeadersNotSigned',
			    ', '.join(unsigned)))
		amz_date = req.header('x-amz-date', '')
		if not AMZ_DATE_RE.match(amz_date):
			raise S3Error('AccessDenied', 'AWS authentication requires a '
			    'valid Date or x-amz-date header')
		try:
			when = calendar.timegm(time.strptime(amz_date,
			    '%Y%m%dT%H%M%SZ'))
		except (ValueError, OverflowError):
			raise S3Error('AccessDenied', 'AWS authentication requires a '
			    'valid Date or x-amz-date header') from None
		if day != amz_date[:8]:
			raise S3Error('AuthorizationHeaderMalformed', 'Invalid credential '
			    'date "%s". This date is not the same as X-Amz-Date: "%s".' %
			    (day, amz_date[:8]))
		if region != self.region:
			raise S3Error('AuthorizationHeaderMalformed', 'The authorization '
			    'header is malformed; the region \'%s\' is wrong; expecting '
			    '\'%s\'' % (region, self.region), ('Region', self.region))
		if service != 's3':
			raise S3Error('AuthorizationHeaderMalformed', 'The authorization '
			    'header is malformed; incorrect service "%s". This endpoint '
			    'belongs to "s3".' % service)
		now = time.time()
		if abs(now - when) > MAX_SKEW:
			raise S3Error('RequestTimeTooSkewed', None, ('RequestTime',
			    amz_date), ('ServerTime', time.strftime(
			    '%Y-%m-%dT%H:%M:%SZ', time.gmtime(now))),
			    ('MaxAllowedSkewMilliseconds', MAX_SKEW * 1000))
		if payload.startswith('STREAMING-'):
			self.count('streaming_payloads')
			raise S3Error('NotImplemented', 'This emulator does not take '
			    'aws-chunked (STREAMING-*) payloads', ('Header',
			    'x-amz-content-sha256'), ('AdditionalMessage', payload))
		if payload != 'UNSIGNED-PAYLOAD' and not HEX64_RE.match(payload):
			raise S3Error('InvalidArgument', 'x-amz-content-sha256 must be '
			    'UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value.',
			    ('ArgumentName', 'x-amz-content-sha256'), ('ArgumentValue',
			    payload))
		canonical = self.canonical_request(req, signed, payload)
		string_to_sign = '\n'.join(('AWS4-HMAC-SHA256', amz_date,
		    '/'.join(scope[1:]), hashlib.sha256(canonical.encode('utf-8',
		    'surrogateescape')).hexdigest()))
		key = ('AWS4' + self.secret_key).encode('utf-8')
		for part in (day, region, service, 'aws4_request'):
			key = hmac.new(key, part.encode('utf-8'), hashlib.sha256).digest()
		expected = hmac.new(key, string_to_sign.encode('utf-8'),
		    hashlib.sha256).hexdigest()
		if not hmac.compare_digest(expected.encode(),
		    fields['Signature'].encode('utf-8', 'surrogateescape')):
			self.count('signature_failures')
			emu.log('signature mismatch; the canonical request expected: %s'
			    % scrub(canonical.replace('\n', '\\n')))
			raise S3Error('SignatureDoesNotMatch', None, ('AWSAccessKeyId',
			    access_key), ('StringToSign', string_to_sign),
			    ('SignatureProvided', fields['Signature']),
			    ('StringToSignBytes', ' '.join('%02x' % b for b in
			    string_to_sign.encode('utf-8'))), ('CanonicalRequest',
			    canonical), ('CanonicalRequestBytes', ' '.join('%02x' % b
			    for b in canonical.encode('utf-8', 'surrogateescape'))))
		if payload == 'UNSIGNED-PAYLOAD':
			self.count('unsigned_payloads')

	def canonical_request(self, req, signed, payload):
		pairs = []
		for item in req.raw_query.split('&') if req.raw_query else []:
			if item:
				name, _, value = item.partition('=')
				pairs.append((uri_encode(urllib.parse.unquote_to_bytes(name)),
				    uri_encode(urllib.parse.unquote_to_bytes(value))))
		query = '&'.join('%s=%s' % p for p in sorted(pairs))
		lines = []
		for name in signed:
			values = req.headers.get_all(name)
			if values is None:
				raise S3Error('AccessDenied', 'The header %s is in '
				    'SignedHeaders but not in the request' % name)
			# http.server decoded the header bytes as Latin-1; the
			# signer hashed them as UTF-8.
			values = [v.encode('latin-1', 'replace').decode('utf-8',
			    'surrogateescape') for v in values]
			lines.append('%s:%s\n' % (name, ','.join(' '.join(v.split())
			    for v in values)))
		return '\n'.join((req.method, req.raw_path, query, ''.join(lines),
		    ';'.join(signed), payload))

	# --- bodies -------------------------------------------------------------

	def check_body(self, req, body):
		"""The body against the hashes and checksums its headers claim."""
		payload = req.header('x-amz-content-sha256')
		if HEX64_RE.match(payload) and payload != body.sha256_hex():
			self.count('sha256_mismatches')
			raise S3Error('XAmzContentSHA256Mismatch', None,
			    ('ClientComputedContentSHA256', payload),
			    ('S3ComputedContentSHA256', body.sha256_hex()))
		md5 = req.header('Content-MD5')
		if md5 is not None:
			try:
				claimed = base64.b64decode(md5, validate=True)
			except binascii.Error:
				claimed = b''
			if len(claimed) != 16:
				raise S3Error('InvalidDigest', None, ('Content-MD5', md5))
			if claimed != body.digests['md5']:
				raise S3Error('BadDigest', None, ('ExpectedDigest',
				    claimed.hex()), ('CalculatedDigest', body.md5_hex()))
		for header, name in CHECKSUMS.items():
			value = req.header(header)
			if value is None or name is None:
				continue
			try:
				claimed = base64.b64decode(value, validate=True)
			except binascii.Error:
				claimed = None
			if claimed is None or len(claimed) != len(body.digests[name]):
				raise S3Error('InvalidRequest', 'Value for %s header is '
				    'invalid.' % header)
			if claimed != body.digests[name]:
				raise S3Error('BadDigest', 'The %s you specified did not '
				    'match the calculated checksum.' % name.upper())

	def body_hashes(self, req):
		"""Which hashes to compute while the body is read."""
		names = ['sha256', 'md5']
		for header, name in CHECKSUMS.items():
			if req.header(header) is not None:
				if name is None:
					raise S3Error('NotImplemented', 'This emulator cannot '
					    'check %s' % header, ('Header', header))
				if name not in names:
					names.append(name)
		return names

	# --- routing ------------------------------------------------------------

	def route(self, req):
		"""(the operation's method, where the body goes: None (in
		memory) or 'file'); the operation's name in req.op."""
		unknown = sorted(set(req.params) - KNOWN_PARAMS)
		if unknown:
			raise S3Error('NotImplemented', 'This emulator does not have the '
			    'sub-resource or option %s' % scrub(unknown[0]))
		if 'x-amz-copy-source' in {k.lower() for k in req.headers.keys()}:
			raise S3Error('NotImplemented', 'This emulator does not copy '
			    'objects (x-amz-copy-source)', ('Header',
			    'x-amz-copy-source'))
		m, p = req.method, req.params
		if req.bucket is None:
			table = {'GET': ('ListBuckets', self.list_buckets)}
		elif req.key is None:
			if m == 'GET' and p.get('list-type') == '2':
				table = {'GET': ('ListObjectsV2', self.list_objects)}
			elif m == 'GET' and 'location' in p:
				table = {'GET': ('GetBucketLocation', self.bucket_location)}
			elif m == 'GET' and 'uploads' in p:
				table = {'GET': ('ListMultipartUploads', self.list_uploads)}
			elif m == 'GET':
				raise S3Error('NotImplemented', 'This emulator lists objects '
				    'with ListObjectsV2 (list-type=2) only')
			elif 'delete' in p:
				table = {'POST': ('DeleteObjects', self.delete_objects)}
			else:
				table = {'PUT': ('CreateBucket', self.create_bucket),
				    'HEAD': ('HeadBucket', self.head_bucket),
				    'DELETE': ('DeleteBucket', self.delete_bucket)}
		elif 'uploadId' in p:
			table = {'PUT': ('UploadPart', self.upload_part),
			    'GET': ('ListParts', self.list_parts),
			    'POST': ('CompleteMultipartUpload', self.complete_upload),
			    'DELETE': ('AbortMultipartUpload', self.abort_upload)}
			if m == 'PUT' and 'partNumber' not in p:
				raise S3Error('InvalidArgument', 'A part upload needs '
				    'partNumber', ('ArgumentName', 'partNumber'))
		elif 'uploads' in p:
			table = {'POST': ('CreateMultipartUpload', self.create_upload)}
		else:
			table = {'PUT': ('PutObject', self.put_object),
			    'GET': ('GetObject', self.get_object),
			    'HEAD': ('HeadObject', self.get_object),
			    'DELETE': ('DeleteObject', self.delete_object)}
		if m not in table:
			raise S3Error('MethodNotAllowed', None, ('Method', m),
			    ('ResourceType', 'OBJECT' if req.key else 'BUCKET'))
		req.op, fn = table[m]
		return fn, 'file' if req.op in ('PutObject', 'UploadPart') else None

	def bucket_of(self, req):
		"""The request's bucket; under self.lock."""
		b = self.buckets.get(req.bucket)
		if b is None:
			raise S3Error('NoSuchBucket', None, ('BucketName', req.bucket))
		return b

	def upload_of(self, req):
		"""The request's multipart upload; under self.lock."""
		up = self.uploads.get(req.params['uploadId'])
		if up is None or up['bucket'] != req.bucket or up['key'] != req.key:
			raise S3Error('NoSuchUpload', None, ('UploadId',
			    req.params['uploadId']))
		return up

	def put_limits(self, req):
		"""Before a PUT body is read: its length, and the bucket (and
		upload) it goes to, so that a refusal costs no upload."""
		length = req.header('Content-Length')
		if length is None or not length.isdigit():
			raise S3Error('MissingContentLength')
		if int(length) > MAX_OBJECT:
			raise S3Error('EntityTooLarge', None, ('ProposedSize', length),
			    ('MaxSizeAllowed', MAX_OBJECT))
		if req.op == 'UploadPart':
			part_number(req.params['partNumber'])
		with self.lock:
			self.bucket_of(req)
			if req.op == 'UploadPart':
				self.upload_of(req)

	# --- buckets ------------------------------------------------------------

	def list_buckets(self, req, body):
		with self.lock:
			rows = ''.join('<Bucket>%s%s</Bucket>' % (xml_el('Name', name),
			    xml_el('CreationDate', iso_ms(b['created'])))
			    for name, b in sorted(self.buckets.items()))
		return xml_response(200, xml_doc('ListAllMyBucketsResult',
		    '<Owner>%s%s</Owner><Buckets>%s</Buckets>' % (xml_el('ID',
		    OWNER_ID), xml_el('DisplayName', 'emu'), rows)))

	def create_bucket(self, req, body):
		name = req.bucket
		if not valid_bucket_name(name):
			raise S3Error('InvalidBucketName', None, ('BucketName', name))
		constraint = None
		if body.size:
			tree = parse_xml(body.data, 'CreateBucketConfiguration')
			constraint = child_text(tree, 'LocationConstraint')
		if constraint is None and self.region != 'us-east-1':
			raise S3Error('IllegalLocationConstraintException', 'The '
			    'unspecified location constraint is incompatible for the '
			    'region specific endpoint this request was sent to.')
		if constraint and constraint != self.region:
			raise S3Error('IllegalLocationConstraintException', 'The %s '
			    'location constraint is incompatible for the region '
			    'specific endpoint this request was sent to.' %
			    scrub(constraint))
		with self.lock:
			if name in self.buckets:
				# us-east-1 answers 200 to its owner, for history's sake.
				if self.region != 'us-east-1':
					raise S3Error('BucketAlreadyOwnedByYou', None,
					    ('BucketName', name))
			else:
				self.buckets[name] = {'created': int(time.time()),
				    'objects': {}}
				self.save()
		return empty_response(200, [('Location', '/' + name)])

	def head_bucket(self, req, body):
		with self.lock:
			self.bucket_of(req)
		return empty_response(200, [('x-amz-bucket-region', self.region)])

	def delete_bucket(self, req, body):
		with self.lock:
			b = self.bucket_of(req)
			if b['objects'] or any(u['bucket'] == req.bucket
			    for u in self.uploads.values()):
				raise S3Error('BucketNotEmpty', None, ('BucketName',
				    req.bucket))
			del self.buckets[req.bucket]
			self.save()
		return empty_response(204)

	def bucket_location(self, req, body):
		with self.lock:
			self.bucket_of(req)
		# us-east-1 is the empty constraint, as S3 answers it.
		region = '' if self.region == 'us-east-1' else self.region
		return xml_response(200, '<?xml version="1.0" encoding="UTF-8"?>\n'
		    '<LocationConstraint xmlns="%s">%s</LocationConstraint>' % (
		    XMLNS, xml_escape(region)))

	# --- listing ------------------------------------------------------------

	def list_objects(self, req, body):
		p = req.params
		prefix, delimiter = p.get('prefix', ''), p.get('delimiter', '')
		encoding = p.get('encoding-type')
		if encoding not in (None, 'url'):
			raise S3Error('InvalidArgument', 'Invalid Encoding Method '
			    'specified in Request', ('ArgumentName', 'encoding-type'))
		max_keys = int_param(p, 'max-keys', MAX_KEYS)
		token = p.get('continuation-token')
		marker, marker_is_prefix = p.get('start-after', ''), False
		if token is not None:
			try:
				marker, marker_is_prefix = json.loads(
				    base64.urlsafe_b64decode(token.encode('ascii')))
				if not isinstance(marker, str):
					raise ValueError(marker)
			except (ValueError, TypeError, binascii.Error):
				raise S3Error('InvalidArgument', 'The continuation token '
				    'provided is incorrect', ('ArgumentName',
				    'continuation-token')) from None

		def enc(s):
			return urllib.parse.quote(s.encode('utf-8', 'surrogateescape'),
			    safe='/') if encoding else s

		with self.lock:
			objects = self.bucket_of(req)['objects']
			keys = sorted(k for k in objects if k.startswith(prefix))
			contents, prefixes, last, truncated = [], [], None, False
			for key in keys:
				if key <= marker or (marker_is_prefix and
				    key.startswith(marker)):
					continue
				cp = None
				if delimiter:
					i = key.find(delimiter, len(prefix))
					if i >= 0:
						cp = key[:i + len(delimiter)]
				if cp is not None and prefixes and prefixes[-1] == cp:
					continue
				if len(contents) + len(prefixes) >= max_keys:
					truncated = max_keys > 0
					break
				if cp is not None:
					prefixes.append(cp)
					last = (cp, True)
				else:
					contents.append((key, dict(objects[key])))
					last = (key, False)
		inner = [xml_el('Name', req.bucket), xml_el('Prefix', enc(prefix))]
		if delimiter:
			inner.append(xml_el('Delimiter', enc(delimiter)))
		inner += [xml_el('MaxKeys', max_keys), xml_el('KeyCount',
		    len(contents) + len(prefixes)), xml_el('IsTruncated',
		    xml_bool(truncated))]
		if encoding:
			inner.append(xml_el('EncodingType', encoding))
		if token is not None:
			inner.append(xml_el('ContinuationToken', token))
		if truncated:
			inner.append(xml_el('NextContinuationToken',
			    base64.urlsafe_b64encode(json.dumps(last).encode())
			    .decode()))
		if 'start-after' in p:
			inner.append(xml_el('StartAfter', enc(p['start-after'])))
		for key, o in contents:
			inner.append('<Contents>%s%s%s%s%s</Contents>' % (
			    xml_el('Key', enc(key)), xml_el('LastModified',
			    iso_ms(o['last_modified'])), xml_el('ETag',
			    quote_etag(o['etag'])), xml_el('Size', o['size']),
			    xml_el('StorageClass', 'STANDARD')))
		for cp in prefixes:
			inner.append('<CommonPrefixes>%s</CommonPrefixes>' %
			    xml_el('Prefix', enc(cp)))
		return xml_response(200, xml_doc('ListBucketResult', ''.join(inner)))

	def list_uploads(self, req, body):
		prefix = req.params.get('prefix', '')
		with self.lock:
			self.bucket_of(req)
			ups = sorted((u['key'], u['initiated'], uid)
			    for uid, u in self.uploads.items()
			    if u['bucket'] == req.bucket and u['key'].startswith(prefix))
		rows = ''.join('<Upload>%s%s%s</Upload>' % (xml_el('Key', key),
		    xml_el('UploadId', uid), xml_el('Initiated', iso_ms(t)))
		    for key, t, uid in ups)
		return xml_response(200, xml_doc('ListMultipartUploadsResult',
		    '%s%s%s%s%s' % (xml_el('Bucket', req.bucket), xml_el('Prefix',
		    prefix), xml_el('MaxUploads', MAX_KEYS), xml_el('IsTruncated',
		    'false'), rows)))

	# --- objects ------------------------------------------------------------

	def put_object(self, req, body):
		obj = {'size': body.size, 'etag': body.md5_hex(),
		    'sha256': body.sha256_hex(),
		    'content_type': req.header('Content-Type',
		    'binary/octet-stream'), 'metadata': user_metadata(req)}
		self.store_object(req, obj, body.path)
		body.path = None
		headers = [('ETag', quote_etag(obj['etag']))]
		if req.header('x-amz-checksum-sha256') is not None:
			headers.append(('x-amz-checksum-sha256',
			    base64.b64encode(body.digests['sha256']).decode()))
		return empty_response(200, headers)

	def store_object(self, req, obj, path, upload_id=None):
		"""Makes the file at path the object req names, once the write
		conditions hold; they are decided here, under the lock, so that
		of two conditional writers exactly one wins.  upload_id: the
		multipart upload this completes, gone in the same step (and in
		the same save of the index)."""
		name = secrets.token_hex(16)
		with self.lock:
			objects = self.bucket_of(req)['objects']
			if upload_id is not None:
				self.upload_of(req)	# aborted meanwhile?
			old = objects.get(req.key)
			none_match = req.header('If-None-Match')
			if none_match is not None:
				if none_match != '*':
					raise S3Error('NotImplemented', 'If-None-Match takes * '
					    'only on a write', ('Header', 'If-None-Match'))
				if old is not None:
					raise S3Error('PreconditionFailed', None, ('Condition',
					    'If-None-Match'))
			match = req.header('If-Match')
			if match is not None:
				if old is None:
					raise S3Error('NoSuchKey', None, ('Key', req.key))
				if not etag_list_matches(match, old['etag']):
					raise S3Error('PreconditionFailed', None, ('Condition',
					    'If-Match'))
			obj.update(file=name, last_modified=int(time.time()))
			os.rename(path, os.path.join(self.obj_dir, name))
			objects[req.key] = obj
			if upload_id is not None:
				del self.uploads[upload_id]
			self.save()
		if old is not None:
			remove(self.object_path(old))

	def get_object(self, req, body):
		if 'partNumber' in req.params:
			raise S3Error('NotImplemented', 'This emulator reads whole '
			    'objects or a Range, not a partNumber')
		with self.lock:
			o = self.bucket_of(req)['objects'].get(req.key)
			if o is None:
				raise S3Error('NoSuchKey', None, ('Key', req.key))
			o = dict(o)
			# Open now: a concurrent overwrite unlinks the file, and
			# the open descriptor keeps its bytes for this answer.
			f = open(self.object_path(o), 'rb') if req.method == 'GET' \
			    else None
		try:
			return self.object_response(req, o, f)
		except BaseException:
			if f:
				f.close()
			raise

	def object_response(self, req, o, f):
		headers = [('ETag', quote_etag(o['etag'])), ('Last-Modified',
		    http_date(o['last_modified'])), ('Accept-Ranges', 'bytes')]
		headers += [('x-amz-meta-' + k, v) for k, v in
		    sorted(o['metadata'].items())]
		if o.get('parts'):
			headers.append(('x-amz-mp-parts-count', str(o['parts'])))
		check_read_conditions(req, o)
		start, length, status = 0, o['size'], 200
		rng = req.header('Range')
		if rng is not None:
			span = parse_range(rng, o['size'])
			if span is None:
				raise S3Error('InvalidRange', None, ('RangeRequested', rng),
				    ('ActualObjectSize', o['size']))
			if span != 'all':
				start, length, status = span[0], span[1], 206
				headers.append(('Content-Range', 'bytes %d-%d/%d' % (start,
				    start + length - 1, o['size'])))
		resp = S3Response(status, b'', o['content_type'], headers)
		resp.length = length
		if f is not None:
			f.seek(start)
			resp.file = f
		return resp

	def delete_object(self, req, body):
		with self.lock:
			objects = self.bucket_of(req)['objects']
			old = objects.pop(req.key, None)
			if old is not None:
				self.save()
		if old is not None:
			remove(self.object_path(old))
		return empty_response(204)

	def delete_objects(self, req, body):
		if req.header('Content-MD5') is None and not any(
		    req.header(h) is not None for h in CHECKSUMS):
			raise S3Error('InvalidRequest', 'Missing required header for '
			    'this request: Content-MD5')
		tree = parse_xml(body.data, 'Delete')
		quiet = (child_text(tree, 'Quiet') or '').strip() == 'true'
		keys = [child_text(o, 'Key') for o in children(tree, 'Object')]
		if not keys or len(keys) > 1000 or None in keys:
			raise S3Error('MalformedXML')
		gone = []
		with self.lock:
			objects = self.bucket_of(req)['objects']
			for key in keys:
				old = objects.pop(key, None)
				if old is not None:
					gone.append(old)
			if gone:
				self.save()
		for old in gone:
			remove(self.object_path(old))
		rows = '' if quiet else ''.join('<Deleted>%s</Deleted>' %
		    xml_el('Key', k) for k in keys)
		return xml_response(200, xml_doc('DeleteResult', rows))

	# --- multipart uploads --------------------------------------------------

	def create_upload(self, req, body):
		upload_id = secrets.token_urlsafe(48)
		with self.lock:
			self.bucket_of(req)
			os.mkdir(os.path.join(self.upload_dir, upload_id), 0o700)
			self.uploads[upload_id] = {'bucket': req.bucket, 'key': req.key,
			    'initiated': int(time.time()), 'content_type':
			    req.header('Content-Type', 'binary/octet-stream'),
			    'metadata': user_metadata(req), 'parts': {}}
			self.save()
		return xml_response(200, xml_doc('InitiateMultipartUploadResult',
		    xml_el('Bucket', req.bucket) + xml_el('Key', req.key) +
		    xml_el('UploadId', upload_id)))

	def upload_part(self, req, body):
		number = part_number(req.params['partNumber'])
		upload_id = req.params['uploadId']
		part = {'size': body.size, 'etag': body.md5_hex(),
		    'last_modified': int(time.time()),
		    'file': '%d-%s' % (number, secrets.token_hex(4))}
		with self.lock:
			up = self.upload_of(req)
			os.rename(body.path, self.part_path(upload_id, part))
			body.path = None
			old = up['parts'].get(str(number))
			up['parts'][str(number)] = part
			self.save()
		if old is not None:
			remove(self.part_path(upload_id, old))
		return empty_response(200, [('ETag', quote_etag(part['etag']))])

	def list_parts(self, req, body):
		max_parts = int_param(req.params, 'max-parts', 1000)
		marker = int_param(req.params, 'part-number-marker', 0)
		with self.lock:
			up = self.upload_of(req)
			parts = sorted((int(n), dict(p)) for n, p in up['parts'].items()
			    if int(n) > marker)
		truncated = len(parts) > max_parts
		parts = parts[:max_parts]
		inner = [xml_el('Bucket', req.bucket), xml_el('Key', req.key),
		    xml_el('UploadId', req.params['uploadId']),
		    xml_el('PartNumberMarker', marker)]
		if parts:
			inner.append(xml_el('NextPartNumberMarker', parts[-1][0]))
		inner += [xml_el('MaxParts', max_parts), xml_el('IsTruncated',
		    xml_bool(truncated)), xml_el('StorageClass', 'STANDARD')]
		for n, p in parts:
			inner.append('<Part>%s%s%s%s</Part>' % (xml_el('PartNumber', n),
			    xml_el('LastModified', iso_ms(p['last_modified'])),
			    xml_el('ETag', quote_etag(p['etag'])), xml_el('Size',
			    p['size'])))
		return xml_response(200, xml_doc('ListPartsResult', ''.join(inner)))

	def complete_upload(self, req, body):
		upload_id = req.params['uploadId']
		tree = parse_xml(body.data, 'CompleteMultipartUpload')
		asked = []
		for el in children(tree, 'Part'):
			n, etag = child_text(el, 'PartNumber'), child_text(el, 'ETag')
			if n is None or etag is None:
				raise S3Error('MalformedXML')
			asked.append((part_number(n.strip()), strip_etag(etag)))
		if not asked:
			raise S3Error('MalformedXML')
		for (a, _), (b, _) in zip(asked, asked[1:]):
			if b <= a:
				raise S3Error('InvalidPartOrder')
		files = []
		try:
			with self.lock:
				up = self.upload_of(req)
				chosen = self.chosen_parts(up, upload_id, asked)
				# The parts are joined without the lock: one uploaded
				# again meanwhile replaces its file, an abort removes
				# them all, so the join reads descriptors opened now.
				files = [open(self.part_path(upload_id, p), 'rb')
				    for p in chosen]
				up = dict(up)
			md5s = b''.join(bytes.fromhex(p['etag']) for p in chosen)
			etag = '%s-%d' % (hashlib.md5(md5s, usedforsecurity=False)
			    .hexdigest(), len(chosen))
			fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)
			try:
				with os.fdopen(fd, 'wb') as out:
					sha, size = join_files(files, out)
			except BaseException:
				remove(tmp)
				raise
		finally:
			for f in files:
				f.close()
		obj = {'size': size, 'etag': etag, 'sha256': sha,
		    'content_type': up['content_type'], 'metadata': up['metadata'],
		    'parts': len(chosen)}
		try:
			self.store_object(req, obj, tmp, upload_id)
		except BaseException:
			remove(tmp)
			raise
		shutil.rmtree(os.path.join(self.upload_dir, upload_id),
		    ignore_errors=True)
		return xml_response(200, xml_doc('CompleteMultipartUploadResult',
		    xml_el('Location', '%s/%s/%s' % (self.base, req.bucket,
		    urllib.parse.quote(req.key.encode('utf-8', 'surrogateescape'))))
		    + xml_el('Bucket', req.bucket) + xml_el('Key', req.key) +
		    xml_el('ETag', quote_etag(etag))))

	@staticmethod
	def chosen_parts(up, upload_id, asked):
		"""The parts (number, ETag) pairs name, checked as S3 checks
		them; under self.lock."""
		chosen = []
		for n, etag in asked:
			p = up['parts'].get(str(n))
			if p is None or p['etag'] != etag:
				raise S3Error('InvalidPart', None, ('UploadId', upload_id),
				    ('PartNumber', n), ('ETag', etag))
			chosen.append(p)
		# Sizes only once every part is known, as S3 reports them.
		for (n, etag), p in zip(asked[:-1], chosen):
			if p['size'] < MIN_PART:
				raise S3Error('EntityTooSmall', None, ('ProposedSize',
				    p['size']), ('MinSizeAllowed', MIN_PART), ('PartNumber',
				    n), ('ETag', etag))
		return chosen

	def abort_upload(self, req, body):
		upload_id = req.params['uploadId']
		with self.lock:
			self.upload_of(req)
			del self.uploads[upload_id]
			self.save()
		shutil.rmtree(os.path.join(self.upload_dir, upload_id),
		    ignore_errors=True)
		return empty_response(204)

	# --- control ------------------------------------------------------------

	def control(self, req):
		route = (req.method, req.path.rstrip('/') or '/')
		if route[1] == '/_emu/faults':
			resp = self.faults.control(req)
		else:
			fn = {('GET', '/_emu'): self.home,
			    ('GET', '/_emu/state'): self.state,
			    ('GET', '/_emu/object'): self.raw_object,
			    ('DELETE', '/_emu/counters'): self.zero_counters,
			    ('POST', '/_emu/reset'): self.reset}.get(route)
			if fn is None:
				resp = emu.json_response(404, {'error': 'no such control '
				    'endpoint (see the top of tests/s3-emu.py)'})
			else:
				resp = fn(req)
		resp.headers = list(resp.headers) + [('Cache-Control', 'no-store')]
		return resp

	def snapshot(self, only=None):
		"""The index as /_emu/state shows it; under self.lock."""
		buckets, objects, uploads = [], [], []
		for name, b in sorted(self.buckets.items()):
			if only is not None and name != only:
				continue
			buckets.append({'name': name, 'created': emu.utc_iso(
			    b['created']), 'objects': len(b['objects'])})
			for key, o in sorted(b['objects'].items()):
				objects.append({'bucket': name, 'key': key,
				    'size': o['size'], 'etag': quote_etag(o['etag']),
				    'sha256': o['sha256'],
				    'last_modified': emu.utc_iso(o['last_modified']),
				    'content_type': o['content_type'],
				    'metadata': o['metadata'], 'parts': o.get('parts')})
		for uid, u in sorted(self.uploads.items(),
		    key=lambda x: x[1]['initiated']):
			if only is not None and u['bucket'] != only:
				continue
			uploads.append({'bucket': u['bucket'], 'key': u['key'],
			    'upload_id': uid, 'initiated': emu.utc_iso(u['initiated']),
			    'parts': [{'part_number': int(n), 'size': p['size'],
			    'etag': quote_etag(p['etag'])} for n, p in
			    sorted(u['parts'].items(), key=lambda x: int(x[0]))]})
		return buckets, objects, uploads

	def state(self, req):
		with self.lock:
			buckets, objects, uploads = self.snapshot(
			    req.query().get('bucket'))
			counters = dict(self.counters)
			ops = dict(self.ops)
		return emu.json_response(200, {'base': self.base,
		    'region': self.region, 'access_key': self.access_key,
		    'buckets': buckets, 'objects': objects, 'uploads': uploads,
		    'counters': counters, 'operations': ops,
		    'faults': self.faults.list()})

	def raw_object(self, req):
		q = req.query()
		with self.lock:
			o = self.buckets.get(q.get('bucket'), {}).get('objects',
			    {}).get(q.get('key'))
			f = open(self.object_path(o), 'rb') if o else None
		if f is None:
			return emu.json_response(404, {'error': 'no such object'})
		resp = S3Response(200, b'', 'application/octet-stream')
		resp.file, resp.length = f, o['size']
		return resp

	def zero_counters(self, req):
		with self.lock:
			self.counters = dict.fromkeys(COUNTERS, 0)
			self.ops = {}
			self.save()
		return emu.json_response(200, {'counters': self.counters})

	def reset(self, req):
		with self.lock:
			self.clear()
			for name in self.initial_buckets:
				self.buckets[name] = {'created': int(time.time()),
				    'objects': {}}
			self.tidy_data_dir(temporaries=False)
			self.save()
		self.faults.clear()
		return emu.json_response(200, {'ok': True})

	def home(self, req):
		with self.lock:
			buckets, objects, uploads = self.snapshot()
			counters = dict(self.counters)
		items = [('%s · %s bytes · %s · %s' % (o['bucket'], o['size'],
		    o['etag'], o['last_modified']), o['key'])
		    for o in sorted(objects, key=lambda o: o['last_modified'],
		    reverse=True)]
		ups = ''.join('<li><span class="meta">%s · %s · %d parts · %s'
		    '</span></li>' % (emu.esc(u['bucket']), emu.esc(u['key']),
		    len(u['parts']), emu.esc(u['initiated'])) for u in uploads)
		counts = ' · '.join('%s %d' % (k.replace('_', ' '), v)
		    for k, v in counters.items())
		names = ', '.join(b['name'] for b in buckets) or 'none'
		body_html = ('<section class="card"><h1>Objects</h1>'
		    '<p class="meta">Buckets: %s</p>%s</section>'
		    '<section class="card"><h2>Multipart uploads in progress</h2>%s'
		    '</section><section class="card"><h2>Counters</h2>'
		    '<p class="meta">%s</p></section>' % (emu.esc(names),
		    emu.message_list(items).replace('No messages yet.',
		    'No objects yet.'), '<ul class="items">%s</ul>' % ups if ups
		    else '<p class="meta">None.</p>', emu.esc(counts)))
		return emu.html_response(200, emu.page('S3 emulator: objects',
		    body_html, 'S3 emulator · %s' % self.region, '#8c4fff',
		    refresh=5))


# --- request details --------------------------------------------------------

def int_param(params, name, default):
	value = params.get(name)
	if value is None:
		return default
	if not value.isdigit() or len(value) > 9:
		raise S3Error('InvalidArgument', 'Provided %s not an integer or '
		    'within integer range' % name, ('ArgumentName', name),
		    ('ArgumentValue', value))
	return min(int(value), MAX_KEYS) if name in ('max-keys', 'max-parts') \
	    else int(value)


def part_number(value):
	if not value.isdigit() or not 1 <= int(value) <= MAX_PART_NUMBER:
		raise S3Error('InvalidArgument', 'Part number must be an integer '
		    'between 1 and 10000, inclusive', ('ArgumentName',
		    'partNumber'), ('ArgumentValue', value))
	return int(value)


def user_metadata(req):
	return {k.lower()[len('x-amz-meta-'):]: v.strip()
	    for k, v in req.headers.items()
	    if k.lower().startswith('x-amz-meta-')}


def parse_range(value, size):
	"""(start, length) of one "bytes=" range; 'all' for what S3 ignores
	(several ranges, another unit); None when unsatisfiable."""
	unit, _, spec = value.partition('=')
	if unit.strip() != 'bytes' or ',' in spec:
		return 'all'
	first, dash, last = spec.strip().partition('-')
	if not dash or not (first.isdigit() or last.isdigit()) or \
	    (first and not first.isdigit()) or (last and not last.isdigit()):
		return 'all'
	if not first:			# the last N bytes
		n = int(last)
		if n == 0 or size == 0:
			return None
		n = min(n, size)
		return size - n, n
	start = int(first)
	if start >= size:
		return None
	end = min(int(last), size - 1) if last else size - 1
	if end < start:
		return 'all'
	return start, end - start + 1


def check_read_conditions(req, o):
	"""If-Match and friends on a GET or HEAD, in RFC 7232's order."""
	match = req.header('If-Match')
	if match is not None and not etag_list_matches(match, o['etag']):
		raise S3Error('PreconditionFailed', None, ('Condition', 'If-Match'))
	since = req.header('If-Unmodified-Since')
	if match is None and since is not None:
		t = parse_http_date(since)
		if t is not None and o['last_modified'] > t:
			raise S3Error('PreconditionFailed', None, ('Condition',
			    'If-Unmodified-Since'))
	none_match = req.header('If-None-Match')
	if none_match is not None and etag_list_matches(none_match, o['etag']):
		raise S3Error('NotModified')
	since = req.header('If-Modified-Since')
	if none_match is None and since is not None:
		t = parse_http_date(since)
		if t is not None and o['last_modified'] <= t:
			raise S3Error('NotModified')


# --- HTTP -------------------------------------------------------------------

class S3Handler(emu.Handler):
	"""emu_common's handler, with what S3 needs besides: PUT and HEAD,
	bodies streamed to a file while hashed, 100-continue sent only once
	the request is authenticated, files streamed out."""

	timeout = 120		# seconds a connection may stay silent
	expect_pending = False	# a 100-continue owed before the body
	body_done = True	# the body was read (or there is none)

	def do_PUT(self):
		self.dispatch('PUT')

	def do_HEAD(self):
		self.dispatch('HEAD')

	def handle_expect_100(self):
		# Decided in dispatch(): an S3 client (botocore) sends the body
		# only after 100 Continue, and a refused request never needs it.
		self.expect_pending = True
		return True

	def send_continue(self):
		if self.expect_pending:
			self.expect_pending = False
			self.send_response_only(100)
			self.end_headers()

	def content_length(self):
		value = self.headers.get('Content-Length')
		if value is None:
			return 0
		value = value.strip()
		if not value.isdigit():
			raise ValueError('bad Content-Length')
		return int(value)

	def dispatch(self, method):
		t0 = time.monotonic()
		app = self.server.app
		target = self.path
		if '://' in target.split('?', 1)[0]:
			# An absolute-form target: the path is what follows the host.
			target = '/' + target.split('://', 1)[1].partition('/')[2]
		raw_path, _, raw_query = target.partition('?')
		self.body_done = False
		if self.headers.get('Transfer-Encoding') is None:
			try:
				self.body_done = self.content_length() == 0
			except ValueError:
				self.close_connection = True
				self.body_done = True
		try:
			if emu.is_control(raw_path):
				resp = self.control(app, method, raw_path, raw_query)
			else:
				resp = app.handle_s3(self, method, raw_path, raw_query)
		except Exception:
			emu.log('internal error\n' + traceback.format_exc())
			self.skip_body()
			resp = app.error_response(S3Error('InternalError'), None,
			    secrets.token_hex(8).upper(), method == 'HEAD')
		self.skip_body()
		self.expect_pending = False
		resp.head = method == 'HEAD'
		self.send(resp)
		emu.log('%s %s %d %.0fms%s' % (method, app.log_path(raw_path,
		    raw_query), resp.status, (time.monotonic() - t0) * 1000,
		    ' ' + resp.note if resp.note else ''))

	def control(self, app, method, raw_path, raw_query):
		if method not in ('GET', 'POST', 'DELETE'):
			return emu.json_response(405, {'error': 'GET, POST or DELETE'})
		self.send_continue()
		try:
			body = self.read_body()
		except ValueError:
			self.close_connection = True
			return emu.text_response(413, 'request body too large or '
			    'malformed\n')
		finally:
			self.body_done = True
		return app.control(emu.Request(method, raw_path, raw_query,
		    self.headers, body))

	def receive(self, req, dest, app):
		"""The body, hashed while read: to a file in the data directory
		(dest 'file') or in memory."""
		if dest == 'file':
			app.put_limits(req)
		if self.headers.get('Transfer-Encoding') is not None:
			raise S3Error('NotImplemented', 'This emulator needs a '
			    'Content-Length, not Transfer-Encoding', ('Header',
			    'Transfer-Encoding'))
		try:
			length = self.content_length()
		except ValueError:
			raise S3Error('MissingContentLength') from None
		if dest != 'file' and length > MAX_SMALL_BODY:
			raise S3Error('MaxMessageLengthExceeded')
		hashes = {name: new_hash(name) for name in app.body_hashes(req)}
		body = Body()
		out = None
		if dest == 'file':
			fd, body.path = tempfile.mkstemp(dir=app.tmp_dir)
			out = os.fdopen(fd, 'wb')
		chunks = []
		self.send_continue()
		try:
			remaining = length
			while remaining:
				chunk = self.rfile.read(min(CHUNK, remaining))
				if not chunk:
					break
				remaining -= len(chunk)
				for h in hashes.values():
					h.update(chunk)
				if out:
					out.write(chunk)
				else:
					chunks.append(chunk)
		except (socket.timeout, ConnectionError):
			remaining = -1
		except BaseException:
			self.close_connection = True
			body.discard()
			raise
		finally:
			self.body_done = True
			if out:
				out.close()
		if remaining:
			self.close_connection = True
			body.discard()
			raise S3Error('IncompleteBody' if remaining > 0 else
			    'RequestTimeout')
		body.size = length
		body.data = b''.join(chunks)
		body.digests = {name: h.digest() for name, h in hashes.items()}
		return body

	def skip_body(self):
		"""A body not read yet: read away when small, else the
		connection is closed; one that waits for 100 Continue is never
		asked for."""
		if self.body_done:
			return
		self.body_done = True
		if self.expect_pending or \
		    self.headers.get('Transfer-Encoding') is not None:
			self.close_connection = True
			return
		try:
			remaining = self.content_length()
		except ValueError:
			remaining = MAX_DRAIN + 1
		if remaining > MAX_DRAIN:
			self.close_connection = True
			return
		try:
			while remaining:
				chunk = self.rfile.read(min(CHUNK, remaining))
				if not chunk:
					break
				remaining -= len(chunk)
		except OSError:
			pass
		if remaining:
			self.close_connection = True

	def send(self, resp):
		f = getattr(resp, 'file', None)
		try:
			self.send_response(resp.status)
			if resp.ctype:
				self.send_header('Content-Type', resp.ctype)
			length = getattr(resp, 'length', None)
			if length is None:
				length = len(resp.body)
			if resp.status not in (204, 304):
				self.send_header('Content-Length', str(length))
			for k, v in resp.headers:
				self.send_header(k, v)
			if self.close_connection:
				self.send_header('Connection', 'close')
			self.end_headers()
			if getattr(resp, 'head', False) or resp.status in (204, 304):
				return
			if f is None:
				self.wfile.write(resp.body)
				return
			remaining = length
			while remaining:
				chunk = f.read(min(CHUNK, remaining))
				if not chunk:
					break
				self.wfile.write(chunk)
				remaining -= len(chunk)
			if remaining:
				# The file was shorter than its index said.
				self.close_connection = True
		except OSError:
			self.close_connection = True
		finally:
			if f is not None:
				f.close()


def main():
	ap = emu.arg_parser('S3 emulator for the tests (see the comment at the '
	    'top of this file)')
	ap.add_argument('--data', required=True, help='directory of the '
	    'objects\' bytes (created if missing)')
	ap.add_argument('--access-key', default=os.environ.get(
	    'S3_EMU_ACCESS_KEY', ''), help='the access key id (default: '
	    '$S3_EMU_ACCESS_KEY)')
	ap.add_argument('--secret-key', default=os.environ.get(
	    'S3_EMU_SECRET_KEY', ''), help='the secret access key (default: '
	    '$S3_EMU_SECRET_KEY, which keeps it out of ps)')
	ap.add_argument('--region', default='us-east-1')
	ap.add_argument('--bucket', action='append', default=[],
	    help='a bucket to create at start if missing (may be repeated)')
	args = ap.parse_args()
	if not args.access_key or not args.secret_key:
		ap.error('an access key and a secret key are needed '
		    '(S3_EMU_ACCESS_KEY and S3_EMU_SECRET_KEY in the environment, '
		    'or the options)')
	if not REGION_RE.match(args.region):
		ap.error('--region must be like us-east-1')
	for name in args.bucket:
		if not valid_bucket_name(name):
			ap.error('not a valid bucket name: %s' % name)
	emu.set_log_name('s3-emu')
	emu.log('access key %s, secret key %s, region %s, data in %s' % (
	    args.access_key, emu.hint(args.secret_key), args.region, args.data))
	apps = []

	def make_app(port):
		app = S3(port, args)
		apps.append(app)
		return app
	# emu_common.serve() builds its server with emu_common's Handler;
	# this emulator's needs PUT, HEAD and streamed bodies.
	emu.Handler = S3Handler
	status = emu.serve(args, make_app)
	for app in apps:
		# The counters change without the index; keep their last values.
		with app.lock:
			app.save()
	return status


if __name__ == '__main__':
	sys.exit(main())
