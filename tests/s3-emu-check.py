#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/s3-emu-check.py: the S3 emulator (tests/s3-emu.py) driven by
# Amazon's own client, Debian's python3-boto3 (1.26, botocore 1.29), so
# that the emulator speaks what a real S3 client speaks: path-style
# addressing, SigV4 as botocore signs it, the XML shapes and error codes
# botocore parses, multipart uploads and ranged downloads as s3transfer
# does them, retries after a 500 or a 503.  Requests botocore would never
# send (a tampered signature, body or date, an unsigned header, a
# conditional PUT that boto3 1.26 has no parameter for) are signed with
# botocore.auth.S3SigV4Auth and sent with http.client.
#
#   tests/s3-emu-check.py     (no arguments)
#
# Without S3_EMU_URL it starts the emulator on a free loopback port with
# its index and data in a temporary directory, restarts it once (objects
# and an upload in progress must survive) and stops it at the end.  With
# S3_EMU_URL (and S3_EMU_ACCESS_KEY, S3_EMU_SECRET_KEY; a stack's
# TOLLGATE_S3_ACCESS_KEY and TOLLGATE_S3_SECRET_KEY will do) it checks
# that running emulator instead, in a bucket of its own that it removes
# at the end, and leaves out the restart and log checks, saying so.
# Prints "ok N - what" or "not ok N - what" per check, then
# "s3-emu-check: N checks passed" (exit 0) or "s3-emu-check: N passed,
# N failed" (exit 1).  python3-boto3 is installed when missing (as root)
# rather than the test being skipped.  The emulator's log is kept in
# $TEST_OUTPUT_DIR (or the build's tests/ directory) as
# s3-emu-check.emu.log.
import base64
import datetime
import hashlib
import http.client
import importlib.util
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
EMU = os.path.join(os.environ.get('top_srcdir', os.path.dirname(HERE)),
    'tests', 's3-emu.py')
REGION = 'us-east-1'
MiB = 1024 * 1024
# Loopback only: a proxy from the environment must not see these
# requests, and no AWS profile, credentials file or region of the person
# running the check may change what boto3 does.
os.environ['NO_PROXY'] = os.environ['no_proxy'] = '127.0.0.1,localhost'
for _name in [n for n in os.environ if n.startswith('AWS_')]:
	del os.environ[_name]
os.environ['AWS_CONFIG_FILE'] = os.environ['AWS_SHARED_CREDENTIALS_FILE'] = \
    os.devnull
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def need_boto3():
	"""Import boto3, installing Debian's python3-boto3 if it is missing."""
	if importlib.util.find_spec('boto3') is not None:
		return
	if os.geteuid() != 0:
		sys.exit('s3-emu-check: python3-boto3 is missing; install it as '
		    'root (sudo ./dev deps)')
	print('# installing python3-boto3', flush=True)
	subprocess.run(['apt-get', '-q', '-o', 'DPkg::Lock::Timeout=300',
	    'install', '-y', '--no-install-recommends', 'python3-boto3'],
	    check=True, stdout=sys.stderr,
	    env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))


need_boto3()
import boto3	# noqa: E402
import botocore	# noqa: E402
from boto3.s3.transfer import TransferConfig	# noqa: E402
from botocore.auth import S3SigV4Auth, SigV4Auth	# noqa: E402
from botocore.awsrequest import AWSRequest	# noqa: E402
from botocore.config import Config	# noqa: E402
from botocore.credentials import Credentials	# noqa: E402
from botocore.exceptions import ClientError	# noqa: E402


# --- reporting --------------------------------------------------------------

class Report:
	def __init__(self):
		self.n = 0
		self.failed = 0

	def check(self, what, cond, detail=None):
		self.n += 1
		if cond:
			print('ok %d - %s' % (self.n, what), flush=True)
			return True
		self.failed += 1
		print('not ok %d - %s' % (self.n, what), flush=True)
		if detail is not None:
			text = detail if isinstance(detail, str) else \
			    json.dumps(detail, indent=1, default=str)
			for line in text.splitlines()[:20]:
				print('#   ' + line)
		return False


R = Report()


# --- the emulator and its clients -------------------------------------------

class Emulator:
	"""One emulator process on loopback, its index and data in tmp."""

	def __init__(self, tmp, log_path, keys, port=0):
		self.log = open(log_path, 'a')
		env = dict(os.environ, S3_EMU_ACCESS_KEY=keys[0],
		    S3_EMU_SECRET_KEY=keys[1])
		self.proc = subprocess.Popen(['/usr/bin/python3', EMU, '--port',
		    str(port), '--state', os.path.join(tmp, 's3-emu.json'),
		    '--data', os.path.join(tmp, 'data'), '--pidfile',
		    os.path.join(tmp, 's3-emu.pid'), '--region', REGION],
		    stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
		if port:
			pidfile = os.path.join(tmp, 's3-emu.pid')
			deadline = time.monotonic() + 10
			while not os.path.exists(pidfile):
				if self.proc.poll() is not None or \
				    time.monotonic() > deadline:
					raise RuntimeError('the emulator did not come back on '
					    'port %d; see %s' % (port, log_path))
				time.sleep(0.05)
		else:
			line = self.proc.stdout.readline()
			if not line.strip().isdigit():
				raise RuntimeError('the emulator printed no port; see %s' %
				    log_path)
			port = int(line)
		self.port = port
		self.base = 'http://127.0.0.1:%d' % port

	def stop(self):
		self.proc.terminate()
		try:
			self.proc.wait(10)
		except subprocess.TimeoutExpired:
			self.proc.kill()
			self.proc.wait()
		self.log.close()


class Target:
	"""Where the checks go: the base URL, the key pair, the bucket."""

	def __init__(self, base, access_key, secret_key, bucket):
		self.base = base
		self.access_key = access_key
		self.secret_key = secret_key
		self.bucket = bucket
		self.first = None	# the counters before the first check

	def client(self, attempts=3):
		"""A boto3 client as an application would make one: path-style
		addressing, SigV4, the standard retry mode; attempts counts the
		first one (botocore's max_attempts would not)."""
		return boto3.session.Session().client('s3', endpoint_url=self.base,
		    region_name=REGION, aws_access_key_id=self.access_key,
		    aws_secret_access_key=self.secret_key, config=Config(
		    signature_version='s3v4', s3={'addressing_style': 'path'},
		    retries={'total_max_attempts': attempts, 'mode': 'standard'},
		    connect_timeout=5, read_timeout=30))

	def control(self, method, path, body=None):
		data = json.dumps(body).encode() if body is not None else None
		req = urllib.request.Request(self.base + path, data=data,
		    method=method, headers={'Content-Type': 'application/json'})
		try:
			with NO_PROXY.open(req, timeout=10) as r:
				raw = r.read()
		except urllib.error.HTTPError as e:
			raw = e.read()
		try:
			return json.loads(raw)
		except ValueError:
			return raw

	def state(self):
		return self.control('GET', '/_emu/state?bucket=' + self.bucket)

	def counters(self):
		return self.control('GET', '/_emu/state?bucket=' + self.bucket)[
		    'counters']

	def signed(self, method, path, body=b'', headers=None, access_key=None,
	    secret_key=None, region=REGION, minutes_ago=0, auth=S3SigV4Auth,
	    payload=None):
		"""An AWSRequest signed as botocore signs S3 requests (or with
		another auth class; payload: the x-amz-content-sha256 to sign
		instead of the body's hash), ready to tamper with and send()."""
		req = AWSRequest(method=method, url=self.base + path, data=body,
		    headers=dict(headers or {}))
		creds = Credentials(access_key or self.access_key,
		    secret_key or self.secret_key)
		if payload is not None:
			auth = type('FixedPayloadAuth', (auth,), {'payload':
			    lambda self, request: payload})
		signer = auth(creds, 's3', region)
		if minutes_ago:
			with mock.patch('botocore.auth.datetime') as dt:
				dt.datetime.utcnow.return_value = \
				    datetime.datetime.utcnow() - datetime.timedelta(
				    minutes=minutes_ago)
				signer.add_auth(req)
		else:
			signer.add_auth(req)
		return req


def send(req, body=None):
	"""(status, headers, body) of a signed AWSRequest, sent as it is
	(or with another body) with http.client."""
	u = urllib.parse.urlsplit(req.url)
	conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
	try:
		conn.request(req.method, u.path + ('?' + u.query if u.query else ''),
		    body=req.body if body is None else body,
		    headers=dict(req.headers.items()))
		r = conn.getresponse()
		return r.status, r.headers, r.read()
	finally:
		conn.close()


def error_code(got):
	m = re.search(rb'<Code>([^<]*)</Code>', got[2])
	return m.group(1).decode() if m else None


def is_error(got, status, code):
	return got[0] == status and error_code(got) == code and \
	    got[1].get('Content-Type', '').startswith('application/xml') and \
	    b'<RequestId>' in got[2]


def client_error(fn, *args, **kwargs):
	"""(HTTP status, error code) of a call that should fail."""
	try:
		fn(*args, **kwargs)
	except ClientError as e:
		return (e.response['ResponseMetadata']['HTTPStatusCode'],
		    e.response['Error']['Code'])
	return (200, None)


def md5_etag(data):
	return '"%s"' % hashlib.md5(data).hexdigest()


def multipart_etag(parts):
	md5s = b''.join(hashlib.md5(p).digest() for p in parts)
	return '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(parts))


# --- the checks -------------------------------------------------------------

def basics(t, s3):
	b = t.bucket
	got = s3.create_bucket(Bucket=b)
	R.check('CreateBucket %s' % b, got['ResponseMetadata'][
	    'HTTPStatusCode'] == 200)
	got = s3.head_bucket(Bucket=b)
	R.check('HeadBucket: 200 with x-amz-bucket-region',
	    got['ResponseMetadata']['HTTPHeaders'].get('x-amz-bucket-region') ==
	    REGION)
	R.check('HeadBucket of a missing bucket: 404', client_error(
	    s3.head_bucket, Bucket=b + '-none') == (404, '404'))
	body = b'hello, storage\n'
	got = s3.put_object(Bucket=b, Key='docs/hello.txt', Body=body,
	    ContentType='text/plain', Metadata={'owner': 'tenant-1'})
	R.check('PutObject: the ETag is the quoted MD5', got['ETag'] ==
	    md5_etag(body), got['ETag'])
	got = s3.get_object(Bucket=b, Key='docs/hello.txt')
	R.check('GetObject: the bytes, Content-Type and x-amz-meta-* back',
	    got['Body'].read() == body and got['ContentType'] == 'text/plain' and
	    got['Metadata'] == {'owner': 'tenant-1'} and got['ETag'] ==
	    md5_etag(body), {k: got[k] for k in ('ContentType', 'Metadata')})
	got = s3.head_object(Bucket=b, Key='docs/hello.txt')
	R.check('HeadObject: ContentLength, ETag, LastModified',
	    got['ContentLength'] == len(body) and got['ETag'] == md5_etag(body)
	    and got['LastModified'].year >= 2024)
	got = s3.get_object(Bucket=b, Key='docs/hello.txt', Range='bytes=7-13')
	R.check('GetObject with a Range: 206 and those bytes',
	    got['ResponseMetadata']['HTTPStatusCode'] == 206 and
	    got['Body'].read() == b'storage' and got['ContentRange'] ==
	    'bytes 7-13/%d' % len(body), got.get('ContentRange'))
	R.check('GetObject of a missing key: 404 NoSuchKey', client_error(
	    s3.get_object, Bucket=b, Key='docs/none') == (404, 'NoSuchKey'))
	R.check('HeadObject of a missing key: 404', client_error(
	    s3.head_object, Bucket=b, Key='docs/none') == (404, '404'))
	R.check('GetObject in a missing bucket: 404 NoSuchBucket', client_error(
	    s3.get_object, Bucket=b + '-none', Key='x') == (404, 'NoSuchBucket'))
	odd = 'odd/a b+c~d%e&f=g?h#i/\u00e9t\u00e9/\u65e5\u672c'
	s3.put_object(Bucket=b, Key=odd, Body=b'odd')
	got = s3.list_objects_v2(Bucket=b, Prefix='odd/')
	R.check('a key with space, + ~ % & = ? # and non-ASCII: signed, '
	    'stored and listed as given', [o['Key'] for o in got.get(
	    'Contents', [])] == [odd] and s3.get_object(Bucket=b, Key=odd)[
	    'Body'].read() == b'odd', got.get('Contents'))


def listing(t, s3):
	b = t.bucket
	keys = ['page/%02d' % i for i in range(5)]
	for k in keys + ['other/x', 'other/y']:
		s3.put_object(Bucket=b, Key=k, Body=k.encode())
	got = s3.list_objects_v2(Bucket=b, Prefix='page/')
	R.check('ListObjectsV2 with a prefix: those keys, sorted, with size '
	    'and ETag', [o['Key'] for o in got['Contents']] == keys and
	    got['KeyCount'] == 5 and not got['IsTruncated'] and
	    all(o['Size'] == 7 and o['ETag'] == md5_etag(o['Key'].encode())
	    for o in got['Contents']), got.get('Contents'))
	pages = list(s3.get_paginator('list_objects_v2').paginate(Bucket=b,
	    Prefix='page/', PaginationConfig={'PageSize': 2}))
	R.check('max-keys 2 and continuation tokens: pages of 2, 2 and 1, '
	    'every key once', [len(p.get('Contents', [])) for p in pages] ==
	    [2, 2, 1] and [o['Key'] for p in pages for o in p['Contents']] ==
	    keys and pages[0]['IsTruncated'] and
	    'NextContinuationToken' in pages[0] and not pages[-1]['IsTruncated'],
	    [(p.get('KeyCount'), p.get('IsTruncated')) for p in pages])
	got = s3.list_objects_v2(Bucket=b, Delimiter='/')
	R.check('a delimiter: CommonPrefixes', sorted(p['Prefix'] for p in
	    got.get('CommonPrefixes', [])) == ['docs/', 'odd/', 'other/',
	    'page/'], got.get('CommonPrefixes'))
	got = s3.list_objects_v2(Bucket=b, Prefix='page/', StartAfter='page/02')
	R.check('start-after', [o['Key'] for o in got['Contents']] == keys[3:])
	got = s3.delete_object(Bucket=b, Key='page/04')
	R.check('DeleteObject: 204', got['ResponseMetadata'][
	    'HTTPStatusCode'] == 204)
	R.check('a deleted key is gone', client_error(s3.get_object, Bucket=b,
	    Key='page/04') == (404, 'NoSuchKey'))
	got = s3.delete_object(Bucket=b, Key='page/04')
	R.check('DeleteObject of a missing key: 204 too', got[
	    'ResponseMetadata']['HTTPStatusCode'] == 204)
	got = s3.delete_objects(Bucket=b, Delete={'Objects': [{'Key':
	    'other/x'}, {'Key': 'other/y'}]})
	left = s3.list_objects_v2(Bucket=b, Prefix='other/')
	R.check('DeleteObjects (botocore sends Content-MD5): both gone',
	    sorted(d['Key'] for d in got.get('Deleted', [])) == ['other/x',
	    'other/y'] and left['KeyCount'] == 0, got.get('Deleted'))


def multipart(t, s3):
	b = t.bucket
	parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(2 * MiB)]
	data = b''.join(parts)
	before = t.state()['operations'].get('UploadPart', 0)
	cfg = TransferConfig(multipart_threshold=5 * MiB,
	    multipart_chunksize=5 * MiB, max_concurrency=3)
	s3.upload_fileobj(io.BytesIO(data), b, 'big/blob', Config=cfg)
	st = t.state()
	obj = [o for o in st['objects'] if o['key'] == 'big/blob']
	R.check('upload_fileobj of 12 MiB in 5 MiB parts: three UploadParts',
	    st['operations'].get('UploadPart', 0) - before == 3,
	    st['operations'])
	R.check('the multipart ETag is the MD5 of the parts\' MD5s, "-3"; '
	    'size and SHA-256 of the whole', obj and obj[0]['etag'] ==
	    multipart_etag(parts) and obj[0]['size'] == len(data) and
	    obj[0]['sha256'] == hashlib.sha256(data).hexdigest(), obj)
	out = io.BytesIO()
	s3.download_fileobj(b, 'big/blob', out, Config=cfg)
	R.check('download_fileobj (ranged GETs): the same 12 MiB',
	    out.getvalue() == data)
	R.check('HeadObject of it: ETag and length', s3.head_object(Bucket=b,
	    Key='big/blob')['ETag'] == multipart_etag(parts))

	up = s3.create_multipart_upload(Bucket=b, Key='big/aborted')['UploadId']
	p1 = s3.upload_part(Bucket=b, Key='big/aborted', UploadId=up,
	    PartNumber=1, Body=b'x' * 1000)
	got = s3.list_parts(Bucket=b, Key='big/aborted', UploadId=up)
	R.check('ListParts: the part, its size and ETag', [(p['PartNumber'],
	    p['Size'], p['ETag']) for p in got.get('Parts', [])] == [(1, 1000,
	    p1['ETag'])], got.get('Parts'))
	got = s3.abort_multipart_upload(Bucket=b, Key='big/aborted',
	    UploadId=up)
	R.check('AbortMultipartUpload: 204', got['ResponseMetadata'][
	    'HTTPStatusCode'] == 204)
	R.check('an aborted upload: ListParts and UploadPart say 404 '
	    'NoSuchUpload', client_error(s3.list_parts, Bucket=b,
	    Key='big/aborted', UploadId=up) == (404, 'NoSuchUpload') and
	    client_error(s3.upload_part, Bucket=b, Key='big/aborted',
	    UploadId=up, PartNumber=2, Body=b'y') == (404, 'NoSuchUpload'))
	R.check('an aborted upload is no longer in /_emu/state',
	    up not in [u['upload_id'] for u in t.state()['uploads']])
	R.check('aborting it again: 404 NoSuchUpload', client_error(
	    s3.abort_multipart_upload, Bucket=b, Key='big/aborted',
	    UploadId=up) == (404, 'NoSuchUpload'))

	up = s3.create_multipart_upload(Bucket=b, Key='big/bad')['UploadId']
	e1 = s3.upload_part(Bucket=b, Key='big/bad', UploadId=up, PartNumber=1,
	    Body=b'a' * 100)['ETag']
	e2 = s3.upload_part(Bucket=b, Key='big/bad', UploadId=up, PartNumber=2,
	    Body=b'b' * 100)['ETag']

	def complete(part_list):
		return client_error(s3.complete_multipart_upload, Bucket=b,
		    Key='big/bad', UploadId=up, MultipartUpload={'Parts': part_list})
	R.check('CompleteMultipartUpload with parts out of order: 400 '
	    'InvalidPartOrder', complete([{'PartNumber': 2, 'ETag': e2},
	    {'PartNumber': 1, 'ETag': e1}]) == (400, 'InvalidPartOrder'))
	R.check('... with a wrong ETag: 400 InvalidPart', complete([
	    {'PartNumber': 1, 'ETag': e2}, {'PartNumber': 2, 'ETag': e2}]) ==
	    (400, 'InvalidPart'))
	R.check('... with a part never uploaded: 400 InvalidPart', complete([
	    {'PartNumber': 1, 'ETag': e1}, {'PartNumber': 3, 'ETag': e2}]) ==
	    (400, 'InvalidPart'))
	R.check('... with a part under 5 MiB that is not the last: 400 '
	    'EntityTooSmall', complete([{'PartNumber': 1, 'ETag': e1},
	    {'PartNumber': 2, 'ETag': e2}]) == (400, 'EntityTooSmall'))
	got = s3.complete_multipart_upload(Bucket=b, Key='big/bad', UploadId=up,
	    MultipartUpload={'Parts': [{'PartNumber': 2, 'ETag': e2}]})
	R.check('... with only the last part: done, ETag "-1"',
	    got['ETag'] == multipart_etag([b'b' * 100]) and s3.get_object(
	    Bucket=b, Key='big/bad')['Body'].read() == b'b' * 100, got['ETag'])
	R.check('UploadPart to an unknown upload id: 404 NoSuchUpload',
	    client_error(s3.upload_part, Bucket=b, Key='big/x', UploadId='nope',
	    PartNumber=1, Body=b'x') == (404, 'NoSuchUpload'))


def conditional(t):
	"""If-None-Match and If-Match on a PUT: boto3 1.26 has no parameter
	for them, so the requests are signed by hand."""
	b = t.bucket
	path = '/%s/cond/once' % b
	first = send(t.signed('PUT', path, b'first', {'If-None-Match': '*'}))
	R.check('PUT If-None-Match: * of a new key: 200', first[0] == 200,
	    first[2])
	got = send(t.signed('PUT', path, b'second', {'If-None-Match': '*'}))
	R.check('... of an existing key: 412 PreconditionFailed',
	    is_error(got, 412, 'PreconditionFailed'), got[2])
	got = send(t.signed('PUT', path, b'third', {'If-Match': '"%s"' %
	    ('0' * 32)}))
	R.check('PUT If-Match with another ETag: 412 PreconditionFailed',
	    is_error(got, 412, 'PreconditionFailed'), got[2])
	got = send(t.signed('PUT', path, b'fourth', {'If-Match':
	    first[1]['ETag']}))
	R.check('PUT If-Match with the current ETag: 200', got[0] == 200,
	    got[2])
	got = send(t.signed('PUT', '/%s/cond/none' % b, b'x', {'If-Match':
	    '"%s"' % ('0' * 32)}))
	R.check('PUT If-Match of a missing key: 404 NoSuchKey',
	    is_error(got, 404, 'NoSuchKey'), got[2])
	got = send(t.signed('GET', path, headers={'If-None-Match':
	    md5_etag(b'fourth')}))
	R.check('GET If-None-Match with the current ETag: 304', got[0] == 304)


def faults(t):
	b = t.bucket
	path = '/%s/fault/' % b
	t.control('POST', '/_emu/faults', {'path': path, 'status': 500})
	before = t.counters()['faults']
	got = t.client().put_object(Bucket=b, Key='fault/once', Body=b'ok')
	R.check('a 500 fault once: boto3 retries and the PUT succeeds',
	    got['ResponseMetadata']['RetryAttempts'] == 1 and
	    t.counters()['faults'] == before + 1, got['ResponseMetadata'])
	t.control('POST', '/_emu/faults', {'path': path, 'status': 500})
	got = client_error(t.client(1).get_object, Bucket=b, Key='fault/once')
	R.check('a 500 fault without retries: 500 InternalError',
	    got == (500, 'InternalError'), got)
	t.control('POST', '/_emu/faults', {'path': path, 'status': 503})
	got = client_error(t.client(1).get_object, Bucket=b, Key='fault/once')
	R.check('a 503 fault: 503 SlowDown', got == (503, 'SlowDown'), got)
	t.control('POST', '/_emu/faults', {'path': path, 'status': 503,
	    'times': 2})
	got = t.client(3).get_object(Bucket=b, Key='fault/once')
	R.check('503 SlowDown twice: boto3 retries twice and reads the object',
	    got['Body'].read() == b'ok' and
	    got['ResponseMetadata']['RetryAttempts'] == 2)
	t.control('POST', '/_emu/faults', {'path': path, 'error': 'AccessDenied'})
	got = client_error(t.client().get_object, Bucket=b, Key='fault/once')
	R.check('an error fault: that code and its status', got ==
	    (403, 'AccessDenied'), got)
	got = t.control('POST', '/_emu/faults', {'status': 500, 'error':
	    'SlowDown'})
	R.check('a fault with a status and an error is refused',
	    isinstance(got, dict) and 'error' in got, got)


def signing(t):
	b = t.bucket
	path = '/%s/sig/object' % b
	c0 = t.counters()
	R.check('boto3 sent no UNSIGNED-PAYLOAD and no STREAMING-* payload '
	    'over http', c0['unsigned_payloads'] == t.first['unsigned_payloads']
	    and c0['streaming_payloads'] == t.first['streaming_payloads'],
	    {'before': t.first, 'now': c0})
	got = send(t.signed('PUT', path, b'signed body'))
	R.check('a PUT signed by S3SigV4Auth, sent with http.client: 200',
	    got[0] == 200, got[2])

	req = t.signed('GET', path)
	auth = req.headers['Authorization']
	last = auth[-1]
	req.headers['Authorization'] = auth[:-1] + ('0' if last != '0' else '1')
	got = send(req)
	R.check('a wrong signature: 403 SignatureDoesNotMatch, with the '
	    'canonical request S3 would show', is_error(got, 403,
	    'SignatureDoesNotMatch') and b'<CanonicalRequest>GET\n' in got[2],
	    got[2][:600].decode('utf-8', 'replace'))
	R.check('... counted as a signature failure', t.counters()[
	    'signature_failures'] == c0['signature_failures'] + 1)
	got = send(t.signed('GET', path, secret_key=t.secret_key + 'x'))
	R.check('the wrong secret key: 403 SignatureDoesNotMatch',
	    is_error(got, 403, 'SignatureDoesNotMatch'), got[2])
	got = send(t.signed('GET', path, access_key='AKIAUNKNOWN000000000'))
	R.check('an unknown access key: 403 InvalidAccessKeyId',
	    is_error(got, 403, 'InvalidAccessKeyId'), got[2])
	req = t.signed('GET', '/%s?list-type=2&prefix=sig%%2F' % b)
	req.url = req.url.replace('prefix=sig%2F', 'prefix=sig%2Fx')
	got = send(req)
	R.check('a query changed after signing: 403 SignatureDoesNotMatch',
	    is_error(got, 403, 'SignatureDoesNotMatch'), got[2])

	got = send(t.signed('PUT', path, b'what was signed'),
	    body=b'what was sent!!')
	R.check('a body that is not the signed x-amz-content-sha256: 400 '
	    'XAmzContentSHA256Mismatch', is_error(got, 400,
	    'XAmzContentSHA256Mismatch'), got[2])
	R.check('... and the object is unchanged', s3_get(t, path) ==
	    b'signed body')
	got = send(t.signed('GET', path, minutes_ago=20))
	R.check('x-amz-date 20 minutes old: 403 RequestTimeTooSkewed',
	    is_error(got, 403, 'RequestTimeTooSkewed'), got[2])
	got = send(t.signed('GET', path, minutes_ago=10))
	R.check('x-amz-date 10 minutes old: still fine', got[0] == 200, got[2])
	got = send(t.signed('GET', path, auth=SigV4Auth))
	R.check('no x-amz-content-sha256 (plain SigV4, validly signed): 400 '
	    'InvalidRequest', is_error(got, 400, 'InvalidRequest') and
	    b'x-amz-content-sha256' in got[2], got[2])
	got = send(t.signed('GET', path, region='eu-west-1'))
	R.check('another region in the scope: 400 AuthorizationHeaderMalformed',
	    is_error(got, 400, 'AuthorizationHeaderMalformed'), got[2])
	req = t.signed('GET', path)
	del req.headers['Authorization']
	got = send(req)
	R.check('no Authorization: 403 AccessDenied', is_error(got, 403,
	    'AccessDenied'), got[2])
	req = t.signed('PUT', path, b'meta')
	req.headers['x-amz-meta-extra'] = 'not signed'
	got = send(req)
	R.check('an x-amz-meta header added after signing: 403 AccessDenied',
	    is_error(got, 403, 'AccessDenied') and b'HeadersNotSigned' in
	    got[2], got[2])
	wrong = base64.b64encode(hashlib.sha256(b'other').digest()).decode()
	got = send(t.signed('PUT', path, b'checked', {'x-amz-checksum-sha256':
	    wrong}))
	R.check('x-amz-checksum-sha256 not the body\'s: 400 BadDigest',
	    is_error(got, 400, 'BadDigest'), got[2])
	right = base64.b64encode(hashlib.sha256(b'checked').digest()).decode()
	got = send(t.signed('PUT', path, b'checked', {'x-amz-checksum-sha256':
	    right}))
	R.check('x-amz-checksum-sha256 of the body: 200, echoed',
	    got[0] == 200 and got[1].get('x-amz-checksum-sha256') == right,
	    got[2])
	got = send(t.signed('PUT', path, b'md5', {'Content-MD5':
	    base64.b64encode(hashlib.md5(b'MD5').digest()).decode()}))
	R.check('a wrong Content-MD5: 400 BadDigest', is_error(got, 400,
	    'BadDigest'), got[2])

	before = t.counters()['unsigned_payloads']
	got = send(t.signed('PUT', path, b'unsigned',
	    payload='UNSIGNED-PAYLOAD'))
	R.check('UNSIGNED-PAYLOAD: accepted, and counted in /_emu/state',
	    got[0] == 200 and t.counters()['unsigned_payloads'] == before + 1,
	    got[2])
	got = send(t.signed('PUT', path, b'streamed',
	    payload='STREAMING-AWS4-HMAC-SHA256-PAYLOAD'))
	R.check('a STREAMING-* payload: 501 NotImplemented', is_error(got, 501,
	    'NotImplemented'), got[2])


def s3_get(t, path):
	got = send(t.signed('GET', path))
	return got[2] if got[0] == 200 else None


def restart(emu, tmp, log_path, t, s3):
	b = t.bucket
	up = s3.create_multipart_upload(Bucket=b, Key='big/pending')['UploadId']
	etag = s3.upload_part(Bucket=b, Key='big/pending', UploadId=up,
	    PartNumber=1, Body=b'p' * 10)['ETag']
	before = sorted(o['Key'] for p in s3.get_paginator(
	    'list_objects_v2').paginate(Bucket=b) for o in p.get('Contents', []))
	port = emu.port
	emu.stop()
	emu = Emulator(tmp, log_path, (t.access_key, t.secret_key), port)
	s3 = t.client()
	after = sorted(o['Key'] for p in s3.get_paginator(
	    'list_objects_v2').paginate(Bucket=b) for o in p.get('Contents', []))
	R.check('after a restart: every object is still listed',
	    before == after and len(after) > 5, {'before': before,
	    'after': after})
	got = s3.get_object(Bucket=b, Key='big/blob')
	data = got['Body'].read()
	st = [o for o in t.state()['objects'] if o['key'] == 'big/blob']
	R.check('... the 12 MiB object reads back with its SHA-256',
	    st and hashlib.sha256(data).hexdigest() == st[0]['sha256'] and
	    len(data) == 12 * MiB)
	got = s3.list_parts(Bucket=b, Key='big/pending', UploadId=up)
	R.check('... the upload in progress and its part are still there',
	    [p['ETag'] for p in got.get('Parts', [])] == [etag])
	got = s3.complete_multipart_upload(Bucket=b, Key='big/pending',
	    UploadId=up, MultipartUpload={'Parts': [{'PartNumber': 1,
	    'ETag': etag}]})
	R.check('... and completes', s3.get_object(Bucket=b, Key='big/pending')[
	    'Body'].read() == b'p' * 10)
	return emu


def controls(t):
	req = urllib.request.Request(t.base + '/_emu/')
	with NO_PROXY.open(req, timeout=10) as r:
		page = r.read().decode()
	R.check('/_emu/ is an HTML page of the objects', '<!doctype html>' in
	    page and 'docs/hello.txt' in page)
	raw = NO_PROXY.open(t.base + '/_emu/object?' + urllib.parse.urlencode(
	    {'bucket': t.bucket, 'key': 'docs/hello.txt'}), timeout=10).read()
	R.check('/_emu/object: the stored bytes', raw == b'hello, storage\n')


def cleanup(t, s3):
	b = t.bucket
	R.check('DeleteBucket of a bucket with objects: 409 BucketNotEmpty',
	    client_error(s3.delete_bucket, Bucket=b) == (409, 'BucketNotEmpty'))
	for page in s3.get_paginator('list_objects_v2').paginate(Bucket=b):
		for o in page.get('Contents', []):
			s3.delete_object(Bucket=b, Key=o['Key'])
	got = s3.delete_bucket(Bucket=b)
	R.check('emptied, DeleteBucket: 204', got['ResponseMetadata'][
	    'HTTPStatusCode'] == 204)


def main():
	given = os.environ.get('S3_EMU_URL', '').rstrip('/')
	outdir = os.environ.get('TEST_OUTPUT_DIR') or os.path.join(
	    os.environ.get('top_builddir', os.getcwd()), 'tests')
	if not os.path.isdir(outdir):
		outdir = os.getcwd()
	log_path = os.path.join(outdir, 's3-emu-check.emu.log')
	tmp = tempfile.mkdtemp(prefix='s3-emu-')
	bucket = 'emu-check-' + secrets.token_hex(4)
	emu = None
	t0 = time.monotonic()
	try:
		if given:
			keys = (os.environ.get('S3_EMU_ACCESS_KEY') or
			    os.environ.get('TOLLGATE_S3_ACCESS_KEY', ''),
			    os.environ.get('S3_EMU_SECRET_KEY') or
			    os.environ.get('TOLLGATE_S3_SECRET_KEY', ''))
			if not all(keys):
				raise RuntimeError('S3_EMU_URL needs S3_EMU_ACCESS_KEY and '
				    'S3_EMU_SECRET_KEY')
			base = given
		else:
			keys = ('AKEMU' + secrets.token_hex(8).upper(),
			    secrets.token_urlsafe(30))
			emu = Emulator(tmp, log_path, keys)
			base = emu.base
		print('# s3 emulator at %s%s; boto3 %s, botocore %s' % (base,
		    ' (given)' if given else ' (log %s)' % log_path,
		    boto3.__version__, botocore.__version__), flush=True)
		t = Target(base, keys[0], keys[1], bucket)
		t.first = t.counters()
		s3 = t.client()
		basics(t, s3)
		listing(t, s3)
		multipart(t, s3)
		conditional(t)
		signing(t)
		faults(t)
		controls(t)
		if given:
			print('# a running emulator: no restart or log checks')
		else:
			emu = restart(emu, tmp, log_path, t, s3)
			s3 = t.client()
		cleanup(t, s3)
		if not given:
			with open(log_path) as f:
				log = f.read()
			R.check('the log has one line per request and never the '
			    'secret key', 'PUT /%s/docs/hello.txt 200' % bucket in log
			    and keys[1] not in log)
	except Exception:
		R.check('the run went to the end', False, traceback.format_exc())
	finally:
		if emu:
			emu.stop()
		shutil.rmtree(tmp, ignore_errors=True)
	print('# %.1f s' % (time.monotonic() - t0))
	if R.failed:
		print('s3-emu-check: %d passed, %d failed' % (R.n - R.failed,
		    R.failed))
		return 1
	print('s3-emu-check: %d checks passed' % R.n)
	return 0


if __name__ == '__main__':
	sys.exit(main())
