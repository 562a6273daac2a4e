#!/usr/bin/python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/browser-portal.py: the portal in a real browser, and its CSRF and
# Origin checks over plain HTTP, against a running stack (lighttpd in
# front of tollgate, as tests/stack.sh starts it).
#
#   TOLLGATE_URL     base URL of the portal (required)
#   STACK_DIR        the stack's directory (required)
#   TEST_OUTPUT_DIR  where screenshots go (default $STACK_DIR/screenshots)
#
# Part one (no browser) posts portal forms with urllib and a cookie jar:
# without a token, with a wrong one, with a token of another session, with
# a foreign Origin or Referer, with neither; each must answer 403 and
# change nothing, and the same form with the right token and Origin must
# work.  Part two drives headless Chromium (Debian's chromium,
# chromium-driver and python3-selenium) through sign-up, sign-out,
# "Forgot password?" and its neutral answer, sign-in, confirming the
# address with the link mailed to the SMTP sink
# (SMTP_SINK_DIR), invitation, a second browser profile accepting it,
# API keys, a forged CSRF token, and screenshots.  Last, the owner
# buys Pro through the Stripe emulator (STRIPE_API_BASE, tests/stripe-
# emu.py): the trial from /pricing and Checkout, its end (the emulator's
# clock moved on), and an immediate cancellation in the billing portal
# that stops the agents above the Free plan's three (set up and checked
# with psql as TOLLGATE_OWNER_DATABASE_URL).  Then, on Free, ten days of
# LLM tokens and messages sent with an API key made through the API, and
# /usage: its SVG chart and the table beside it, the meters, the
# providers and channels, the Messages chart and the CSV export.
#
# Output is TAP-like ("ok N - ...", "not ok N - ..."), then one summary
# line; the exit status is 1 when anything failed.  Use /usr/bin/python3:
# Debian's python3-selenium lives there.
import csv
import datetime
import hashlib
import html
import io
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

WAIT_S = 10		# longest wait for one page
BUDGET_S = 240		# the whole run, browsers quit included (two steps
			# wait up to a minute each for a rate-limit window)
PASSWORD = "Correct-Horse-Battery-%s" % secrets.token_hex(4)


class Tap:
	"""Numbered results; a failure prints its diagnostics as # lines."""

	def __init__(self):
		self.n = 0
		self.failed = 0

	def ok(self, cond, desc, diag=None):
		self.n += 1
		if cond:
			print("ok %d - %s" % (self.n, desc), flush=True)
		else:
			self.failed += 1
			print("not ok %d - %s" % (self.n, desc), flush=True)
			if diag is not None:
				for line in str(diag).splitlines()[:40]:
					print("#   %s" % line, flush=True)
		return bool(cond)

	def eq(self, got, want, desc):
		return self.ok(got == want, desc,
		    "got:  %r\nwant: %r" % (got, want))

	def summary(self, what):
		print("%s: %d passed, %d failed" % (what, self.n - self.failed,
		    self.failed), flush=True)


T = Tap()


def env(name):
	v = os.environ.get(name, "")
	if not v:
		print("Bail out! %s is not set (load the stack's stack.env)" % name)
		sys.exit(1)
	return v


BASE = env("TOLLGATE_URL").rstrip("/")
STACK_DIR = env("STACK_DIR")
OUT_DIR = os.environ.get("TEST_OUTPUT_DIR") or os.path.join(STACK_DIR,
    "screenshots")
ORIGIN = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(BASE))
EVIL = "http://evil.example"
SINK_DIR = os.environ.get("SMTP_SINK_DIR", "")


def unique_email(tag):
	return "%s-%s@example.com" % (tag, secrets.token_hex(5))


def mailed_link(rcpt, prefix):
	"""The first link BASE + prefix + token mailed to rcpt, as the SMTP
	sink (tests/smtp-sink.py) keeps it: one *.eml file per message, the
	envelope in X-Sink- lines in front.  None after WAIT_S."""
	pat = re.compile(re.escape(BASE + prefix) + r"[A-Za-z0-9_-]+")
	deadline = time.time() + WAIT_S
	while SINK_DIR:
		for name in sorted(os.listdir(SINK_DIR)):
			if name.startswith(".") or not name.endswith(".eml"):
				continue
			try:
				with open(os.path.join(SINK_DIR, name), encoding="utf-8",
				    errors="replace", newline="") as f:
					text = f.read()
			except OSError:
				continue
			m = pat.search(text)
			if "X-Sink-Rcpt-To: %s\r\n" % rcpt in text and m:
				return m.group(0)
		if time.time() >= deadline:
			break
		time.sleep(0.1)
	return None


# --- part one: plain HTTP ----------------------------------------------------

class NoRedirect(urllib.request.HTTPRedirectHandler):
	def redirect_request(self, *args, **kwargs):
		return None


class Client:
	"""One cookie jar, no redirects followed, no Origin unless asked."""

	def __init__(self):
		self.jar = http.cookiejar.CookieJar()
		self.opener = urllib.request.build_opener(
		    urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())

	def request(self, method, path, form=None, headers=None):
		data = None
		hdrs = dict(headers or {})
		if form is not None:
			data = urllib.parse.urlencode(form, doseq=True).encode()
			hdrs["Content-Type"] = "application/x-www-form-urlencoded"
		req = urllib.request.Request(BASE + path, data=data, method=method,
		    headers=hdrs)
		try:
			with self.opener.open(req, timeout=15) as resp:
				return resp.status, resp.headers, resp.read().decode(
				    "utf-8", "replace")
		except urllib.error.HTTPError as e:
			body = e.read().decode("utf-8", "replace")
			return e.code, e.headers, body

	def get(self, path):
		return self.request("GET", path)

	def post(self, path, form, origin=ORIGIN, referer=None):
		h = {}
		if origin is not None:
			h["Origin"] = origin
		if referer is not None:
			h["Referer"] = referer
		return self.request("POST", path, form, h)

	def cookie(self, name):
		for c in self.jar:
			if c.name == name:
				return c.value
		return None


def csrf_of(body, action=None):
	"""The csrf field of the form posting to action (or the first one)."""
	if action is not None:
		m = re.search(r'<form[^>]*action="%s"[^>]*>(.*?)</form>' %
		    re.escape(action), body, re.S)
		if m is None:
			return None
		body = m.group(1)
	m = re.search(r'<input type="hidden" name="csrf" value="([^"]*)">', body)
	return html.unescape(m.group(1)) if m else None


def sets_cookie(headers, name):
	return any(v.split("=", 1)[0].strip() == name
	    for v in headers.get_all("Set-Cookie") or [])


def pending_emails(team_page):
	"""The e-mail addresses listed under "Pending invitations"."""
	part = team_page.split("<h2>Pending invitations</h2>", 1)
	if len(part) != 2:
		return None
	part = part[1].split("</section>", 1)[0]
	return [html.unescape(e) for e in
	    re.findall(r"<tr><td>([^<]*)</td>", part)]


def key_names(keys_page):
	part = keys_page.split("<h2>API keys</h2>", 1)
	if len(part) != 2:
		return None
	part = part[1].split("</section>", 1)[0]
	return [html.unescape(e) for e in
	    re.findall(r"<tr><td>([^<]*)</td>", part)]


def is_csrf_403(status, body):
	return status == 403 and "did not come from this site" in body


def http_tests():
	print("# part one: CSRF token and Origin checks over HTTP", flush=True)
	email = unique_email("csrf")

	# Sign-up: a refused one creates nobody; then the real one.
	a = Client()
	st, _, body = a.get("/register")
	T.eq(st, 200, "GET /register answers 200")
	tok = csrf_of(body)
	T.ok(tok and a.cookie("tg_pre"), "the register form carries a token "
	    "bound to a tg_pre cookie")
	reg = {"organization": "CSRF Org", "name": "", "email": email,
	    "password": PASSWORD, "csrf": tok}
	st, h, body = a.post("/register", reg, origin=EVIL)
	T.ok(is_csrf_403(st, body) and not sets_cookie(h, "tg_session"),
	    "register with a foreign Origin: 403, no session", "status %d" % st)
	st, h, body = a.post("/register", dict(reg, csrf="x" * len(tok)))
	T.ok(is_csrf_403(st, body) and not sets_cookie(h, "tg_session"),
	    "register with a wrong token: 403, no session", "status %d" % st)
	st, h, _ = a.post("/register", reg)
	T.ok(st == 303 and h.get("Location") == "/dashboard" and
	    sets_cookie(h, "tg_session"), "register with token and Origin: "
	    "303 to /dashboard with a session (so the refused ones created "
	    "nothing: the address was still free)", "status %d, Location %s" %
	    (st, h.get("Location")))

	# Login CSRF, on a fresh jar.
	b = Client()
	st, _, body = b.get("/login")
	tok = csrf_of(body)
	T.ok(st == 200 and tok, "GET /login has a form token")
	good = {"email": email, "password": PASSWORD, "csrf": tok}
	bad = [
		("without a csrf field", {"email": email,
		    "password": PASSWORD}, ORIGIN, None),
		("with an empty csrf", dict(good, csrf=""), ORIGIN, None),
		("with a wrong csrf", dict(good, csrf=tok[:-2] + (
		    "AA" if not tok.endswith("AA") else "BB")), ORIGIN, None),
		("with the right token but Origin: %s" % EVIL, good, EVIL, None),
		("with the right token but Origin: null and no Referer", good,
		    "null", None),
		("with the right token, no Origin, Referer %s/" % EVIL, good, None,
		    EVIL + "/login"),
		("with the right token, no Origin, Referer on a look-alike host",
		    good, None, ORIGIN + ".evil.example/login"),
		("with the right token and neither Origin nor Referer", good,
		    None, None),
	]
	for what, form, origin, referer in bad:
		st, h, body = b.post("/login", form, origin=origin,
		    referer=referer)
		T.ok(is_csrf_403(st, body) and not sets_cookie(h, "tg_session"),
		    "login %s: 403, no tg_session" % what, "status %d\n%s" %
		    (st, body[:300]))
	T.ok(b.cookie("tg_session") is None, "no session cookie after the "
	    "refused logins")
	st, h, _ = b.post("/login", good, origin=None, referer=BASE + "/login")
	T.ok(st == 303 and sets_cookie(h, "tg_session"), "login with the right "
	    "token and our Referer (no Origin) works", "status %d" % st)

	# Signed-in forms (a's session).
	st, _, team = a.get("/team")
	T.eq(st, 200, "GET /team signed in")
	tok = csrf_of(team, "/team/invite")
	before = pending_emails(team)
	T.eq(before, [], "no pending invitation yet")
	other = csrf_of(b.get("/team")[2], "/team/invite")
	T.ok(other and other != tok, "another session has another token")
	invitee = unique_email("nobody")
	inv = {"email": invitee, "role": "member", "csrf": tok}
	bad = [
		("without a csrf field", {"email": invitee, "role": "member"},
		    ORIGIN, None),
		("with a wrong csrf", dict(inv, csrf="garbage"), ORIGIN, None),
		("with the token of another session", dict(inv, csrf=other),
		    ORIGIN, None),
		("with the right token but Origin: %s" % EVIL, inv, EVIL, None),
		("with the right token, no Origin, foreign Referer", inv, None,
		    EVIL + "/team"),
		("with the right token and neither Origin nor Referer", inv,
		    None, None),
	]
	for what, form, origin, referer in bad:
		st, _, body = a.post("/team/invite", form, origin=origin,
		    referer=referer)
		T.ok(is_csrf_403(st, body) and "/invite/" not in body,
		    "invite %s: 403, no link" % what, "status %d" % st)
	st, _, team = a.get("/team")
	T.eq(pending_emails(team), [], "after the refused invitations the "
	    "pending list is still empty")

	# A pre-login token does not work for a signed-in form.
	c = Client()
	pre = csrf_of(c.get("/login")[2])
	st, _, _ = a.post("/team/invite", dict(inv, csrf=pre))
	T.eq(st, 403, "invite with a pre-login (tg_pre) token: 403")

	# Other state-changing forms.
	st, _, keys = a.get("/keys")
	ktok = csrf_of(keys, "/keys/api")
	kform = {"name": "csrf-probe", "scopes": ["usage:read"], "csrf": ktok}
	st, _, body = a.post("/keys/api", kform, origin=EVIL)
	T.ok(is_csrf_403(st, body) and "tg_" not in body,
	    "create API key with a foreign Origin: 403, no secret")
	st, _, body = a.post("/keys/api", dict(kform, csrf="nope"))
	T.ok(is_csrf_403(st, body), "create API key with a wrong token: 403")
	T.eq(key_names(a.get("/keys")[2]), [], "no API key was created")
	st, _, body = a.post("/logout", {"csrf": "nope"})
	T.ok(is_csrf_403(st, body), "logout with a wrong token: 403")
	st, _, body = a.post("/logout", {"csrf": tok}, origin=EVIL)
	T.ok(is_csrf_403(st, body), "logout with a foreign Origin: 403")
	st, _, _ = a.get("/dashboard")
	T.eq(st, 200, "the session survived the refused logouts")

	# Inviting needs a proven address: the link mailed at sign-up,
	# whose page asks for a click (a form like the others).
	st, _, body = a.post("/team/invite", inv)
	T.ok(st == 403 and "Verify your e-mail address first" in body and
	    "/invite/" not in body, "invite before confirming the address: "
	    "403, no link", "status %d" % st)
	link = mailed_link(email, "/verify/")
	if T.ok(link, "sign-up mailed a /verify/ link to %s" % email):
		path = urllib.parse.urlsplit(link).path
		st, _, page = a.get(path)
		vtok = csrf_of(page, path)
		T.ok(st == 200 and vtok and "Confirm my address" in page,
		    "GET the link: 200 and a form to confirm", "status %d" % st)
		st, _, body = a.post(path, {"csrf": vtok}, origin=EVIL)
		T.ok(is_csrf_403(st, body), "confirm with a foreign Origin: 403")
		st, h, _ = a.post(path, {"csrf": vtok})
		T.ok(st == 303 and h.get("Location") == "/dashboard",
		    "confirm with token and Origin: 303 to /dashboard (so the "
		    "refused one used nothing)", "status %d, Location %s" %
		    (st, h.get("Location")))

	# Positive control: the same invitation with token and Origin.
	st, h, _ = a.post("/team/invite", inv)
	T.ok(st == 303 and h.get("Location") == "/team",
	    "invite with token and Origin: 303 to /team", "status %d" % st)
	st, _, team = a.get("/team")
	T.ok('<div class="secret">' + BASE + "/invite/" in team,
	    "the page after the redirect shows the link once")
	T.eq(pending_emails(team), [invitee], "now one invitation is pending")
	st, _, again = a.get("/team")
	T.ok('<div class="secret">' not in again, "a reload does not show it")
	st, h, _ = a.post("/logout", {"csrf": tok})
	T.ok(st == 303 and h.get("Location") == "/login", "logout with token "
	    "and Origin works")
	st, h, _ = a.get("/dashboard")
	T.ok(st == 303 and h.get("Location") == "/login", "after logout "
	    "/dashboard sends to /login")


# --- the owner database and the Stripe emulator ------------------------------

def owner_sql(sql, tenant=None, **params):
	"""One statement as the database owner (psql with
	TOLLGATE_OWNER_DATABASE_URL), its parameters as psql variables
	(:'name' in sql).  Row-level security is forced on tenant tables,
	for the owner too: with tenant, the same connection sets
	tollgate.tenant_id first.  The rows, each a list of text fields; an
	error raises (one failed test in run_step)."""
	script = ""
	if tenant is not None:
		params["tenant"] = tenant
		script = ("SELECT set_config('tollgate.tenant_id', :'tenant', "
		    "false) AS tenant_set \\gset\n")
	argv = ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v",
	    "ON_ERROR_STOP=1"]
	for k, v in params.items():
		argv += ["-v", "%s=%s" % (k, v)]
	argv.append(env("TOLLGATE_OWNER_DATABASE_URL"))
	p = subprocess.run(argv, input=script + sql + ";\n", text=True,
	    capture_output=True, timeout=15)
	if p.returncode != 0:
		raise RuntimeError("psql: %s: %s" % (sql, p.stderr.strip()))
	return [line.split("\t") for line in p.stdout.splitlines() if line]


def emu_control(path, obj):
	"""POST obj (JSON) to one of the Stripe emulator's /_emu/ control
	endpoints; its JSON answer."""
	req = urllib.request.Request(env("STRIPE_API_BASE").rstrip("/") + path,
	    data=json.dumps(obj).encode(), method="POST",
	    headers={"Content-Type": "application/json"})
	# Advancing the clock runs every subscription's renewals and
	# delivers their events before it answers: more than one page's wait.
	with urllib.request.urlopen(req, timeout=60) as resp:
		return json.loads(resp.read() or b"null")


# --- part two: the browser ---------------------------------------------------

def browser_tests():
	from selenium import webdriver
	from selenium.webdriver.chrome.options import Options
	from selenium.webdriver.chrome.service import Service
	from selenium.webdriver.common.action_chains import ActionChains
	from selenium.webdriver.common.by import By
	from selenium.webdriver.common.keys import Keys
	from selenium.webdriver.support.ui import Select, WebDriverWait
	from selenium.common.exceptions import WebDriverException

	print("# part two: headless Chromium", flush=True)
	os.makedirs(OUT_DIR, exist_ok=True)
	drivers = []
	profiles = []

	def new_driver():
		profile = tempfile.mkdtemp(prefix="tg-chromium-")
		profiles.append(profile)
		opts = Options()
		opts.binary_location = "/usr/bin/chromium"
		for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
		    "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
		    "--disable-background-networking",
		    "--disable-component-update", "--disable-sync",
		    "--window-size=1280,900", "--user-data-dir=" + profile):
			opts.add_argument(flag)
		d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
		    options=opts)
		drivers.append(d)
		d.set_page_load_timeout(30)
		return d

	def loaded(d):
		return d.execute_script("return document.readyState") == "complete"

	def go(d, path):
		d.get(path if path.startswith(("http:", "https:", "data:"))
		    else BASE + path)
		WebDriverWait(d, WAIT_S).until(loaded)

	def submit(d, button):
		"""Click a submit button and wait for the next page."""
		old = d.find_element(By.TAG_NAME, "html")
		button.click()
		WebDriverWait(d, WAIT_S).until(lambda _: gone(old))
		WebDriverWait(d, WAIT_S).until(loaded)

	def gone(el):
		"""Is el detached?  Chromium reports a detached node either as
		a stale reference or as an inspector error, depending on the
		moment: both mean the old page is gone."""
		try:
			el.is_enabled()
			return False
		except WebDriverException:
			return True

	def fill(d, field_id, value):
		el = d.find_element(By.ID, field_id)
		el.clear()
		el.send_keys(value)

	def form_button(d, action):
		return d.find_element(By.CSS_SELECTOR,
		    'form[action="%s"] button[type="submit"]' % action)

	def path_of(d):
		return urllib.parse.urlsplit(d.current_url).path

	def texts(d, xpath):
		return [e.text.strip() for e in d.find_elements(By.XPATH, xpath)]

	def flash(d, kind="notice"):
		els = d.find_elements(By.CSS_SELECTOR, "div.flash." + kind)
		return " ".join(e.text for e in els)

	def rows(d, heading):
		return d.find_elements(By.XPATH, "//section[h2=%s]//tbody/tr" %
		    xpath_str(heading))

	def pending(d):
		return texts(d, "//section[h2='Pending invitations']//tbody/tr/td[1]")

	def shot(d, name, width=1280, height=None, mobile=False):
		"""A screenshot at a given viewport; the full page by default."""
		if height is None:
			d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
			    "width": width, "height": 900, "deviceScaleFactor": 1,
			    "mobile": mobile})
			height = max(900, d.execute_script(
			    "return document.documentElement.scrollHeight"))
		d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
		    "width": width, "height": height, "deviceScaleFactor": 1,
		    "mobile": mobile})
		path = os.path.join(OUT_DIR, name)
		try:
			d.save_screenshot(path)
		finally:
			d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
		T.ok(os.path.isfile(path) and os.path.getsize(path) > 1000 and
		    png_magic(path), "screenshot %s is a non-empty PNG" % path)

	org = 'Acme <b>&</b> "Q" \'s'
	owner = unique_email("owner")
	admin = unique_email("admin")
	stolen = {}

	def step_register_errors(d):
		go(d, "/register")
		fill(d, "f-email", "not-an-address")
		fill(d, "f-password", "short")
		submit(d, form_button(d, "/register"))
		errs = {e.get_attribute("id"): e.text for e in
		    d.find_elements(By.CSS_SELECTOR, "p.field-error")}
		T.ok(all(k in errs for k in ("e-email", "e-password",
		    "e-organization")), "every error of the sign-up form at once "
		    "(address, password, organization)", sorted(errs))
		T.eq(d.find_element(By.ID, "f-email").get_attribute("value"),
		    "not-an-address", "the address typed is kept")
		T.eq(d.find_element(By.ID, "f-password").get_attribute("value"),
		    "", "the password is not sent back")

	def step_register(d):
		go(d, "/register")
		T.ok(d.find_elements(By.CSS_SELECTOR, 'link[rel="stylesheet"]'
		    '[href^="/static/tollgate.css"]'), "register page links the "
		    "stylesheet")
		fill(d, "f-organization", org)
		fill(d, "f-name", "Olive Owner")
		fill(d, "f-email", owner)
		fill(d, "f-password", PASSWORD)
		submit(d, form_button(d, "/register"))
		T.eq(path_of(d), "/dashboard", "register lands on /dashboard")
		T.eq(d.find_element(By.TAG_NAME, "h1").text, org, "the "
		    "organization name is the h1's text, literally")
		T.eq(d.find_element(By.CSS_SELECTOR, ".usermenu .tenant").text,
		    org, "the organization name is shown literally in the header")
		T.ok(not d.find_elements(By.CSS_SELECTOR, "h1 b, .tenant b"),
		    "no <b> element was made from the name")
		T.ok("&lt;b&gt;" in d.page_source, "page source has &lt;b&gt;")
		T.ok(d.title.startswith("Dashboard"), "title is Dashboard",
		    d.title)
		T.ok("Welcome" in flash(d), "a Welcome notice is shown",
		    flash(d))
		T.ok(owner in d.find_element(By.CSS_SELECTOR, ".usermenu .user")
		    .text and d.find_element(By.CSS_SELECTOR, ".usermenu .role")
		    .text == "Owner", "header shows the user as Owner",
		    d.find_element(By.CSS_SELECTOR, ".usermenu .user").text)
		T.ok(d.get_cookie("tg_session") is not None and
		    d.get_cookie("tg_session").get("httpOnly") and
		    d.get_cookie("tg_session").get("sameSite") == "Lax",
		    "tg_session is HttpOnly and SameSite=Lax",
		    d.get_cookie("tg_session"))
		go(d, "/dashboard")
		T.ok("Welcome" not in flash(d), "the notice is gone on reload")

	def step_logout(d):
		submit(d, d.find_element(By.XPATH,
		    "//form[@action='/logout']//button[normalize-space()="
		    "'Sign out']"))
		T.eq(path_of(d), "/login", "Sign out lands on /login")
		T.ok("signed out" in flash(d), "a signed-out notice is shown",
		    flash(d))
		go(d, "/dashboard")
		T.eq(path_of(d), "/login", "after sign-out /dashboard sends to "
		    "/login")

	def step_wrong_password(d):
		go(d, "/login")
		fill(d, "f-email", owner)
		fill(d, "f-password", PASSWORD + "-wrong")
		submit(d, form_button(d, "/login"))
		T.eq(path_of(d), "/login", "a wrong password stays on /login")
		err = d.find_elements(By.CSS_SELECTOR, ".auth-box .flash.error")
		T.ok(err and "password is wrong" in err[0].text, "the error is "
		    "shown with the form", err[0].text if err else "no error")
		T.ok(err and err[0].location["y"] < d.find_element(By.ID,
		    "f-email").location["y"], "the error is above the fields")
		T.eq(d.find_element(By.ID, "f-email").get_attribute("value"),
		    owner, "the e-mail is kept in its field")
		T.eq(d.find_element(By.ID, "f-password").get_attribute("value"),
		    "", "the password is not sent back")
		T.ok(d.get_cookie("tg_session") is None, "no session cookie")
		shot(d, "login-error.png")

	def step_forgot(d):
		go(d, "/login")
		link = d.find_elements(By.LINK_TEXT, "Forgot password?")
		if not T.ok(link, "/login offers \"Forgot password?\""):
			return
		submit(d, link[0])
		T.eq(path_of(d), "/password-reset", "it leads to /password-reset")
		T.ok(d.find_elements(By.ID, "f-email"), "a form asking for the "
		    "address")
		fill(d, "f-email", unique_email("nobody"))
		submit(d, form_button(d, "/password-reset"))
		body = d.find_element(By.TAG_NAME, "body").text
		T.ok("If an account exists for that address, we sent a link" in
		    body, "submitting shows the neutral page", body)
		shot(d, "password-reset-sent.png", height=700)
		go(d, "/login")

	def step_login(d):
		fill(d, "f-email", owner)
		fill(d, "f-password", PASSWORD)
		submit(d, form_button(d, "/login"))
		T.eq(path_of(d), "/dashboard", "login lands on /dashboard")
		T.ok("signed in" in flash(d), "a signed-in notice is shown",
		    flash(d))
		T.eq(d.find_element(By.TAG_NAME, "h1").text, org, "it is the "
		    "same organization")

	def step_csrf_forged(d):
		go(d, "/team")
		before = pending(d)
		T.eq(before, [], "no pending invitation before the forged post")
		fill(d, "f-email", unique_email("forged"))
		d.execute_script("document.querySelector('form[action=\"/team/"
		    "invite\"] input[name=\"csrf\"]').value = arguments[0];",
		    "garbage-" + secrets.token_hex(8))
		submit(d, form_button(d, "/team/invite"))
		body = d.find_element(By.TAG_NAME, "body").text
		T.eq(d.title, "Forbidden · Tollgate", "forged csrf: a 403 page")
		T.ok(d.find_elements(By.CSS_SELECTOR, "nav.mainnav a[href="
		    "'/dashboard']"), "in the shell, with the navigation")
		T.ok("expired" in body and "did not come from this site" in body,
		    "the 403 page says the form expired or did not come from "
		    "this site", body)
		T.ok("/invite/" not in d.page_source, "no invitation link shown")
		shot(d, "csrf-403.png", height=600)
		go(d, "/team")
		T.eq(pending(d), before, "the pending list is unchanged")
		stolen["csrf"] = d.find_element(By.CSS_SELECTOR,
		    'form[action="/team/invite"] input[name="csrf"]') \
		    .get_attribute("value")

	def step_cross_site(d):
		# A page of another origin posting the invite form with the
		# victim's real token: SameSite=Lax keeps the cookie home and
		# Origin is "null"; either way nothing may be created.
		page = ('<form method="post" action="%s/team/invite">'
		    '<input name="csrf" value="%s"><input name="email" value="%s">'
		    '<input name="role" value="owner"><button type="submit">go'
		    '</button></form>' % (BASE, html.escape(stolen["csrf"]),
		    unique_email("crosssite")))
		go(d, "data:text/html;charset=utf-8," + urllib.parse.quote(page))
		submit(d, d.find_element(By.TAG_NAME, "button"))
		# Without the cookie the POST is sent to /login, whose GET
		# (a top-level navigation: Lax cookies go) may go on to the
		# dashboard; what matters is that no link was made.
		T.ok(path_of(d) in ("/login", "/dashboard", "/team/invite") and
		    not d.find_elements(By.CSS_SELECTOR, "div.secret") and
		    "/invite/" not in d.page_source, "a cross-site post with a "
		    "stolen token shows no invitation link",
		    d.current_url + " " + d.title)
		go(d, "/team")
		T.eq(path_of(d), "/team", "still signed in after the cross-site "
		    "post")
		T.eq(pending(d), [], "the cross-site post created no invitation")

	def step_verify(d):
		go(d, "/dashboard")
		notice = d.find_elements(By.CSS_SELECTOR, "div.verify-notice")
		T.ok(notice and owner in notice[0].text, "the dashboard asks to "
		    "confirm the address", notice[0].text if notice else "none")
		T.ok(d.find_elements(By.CSS_SELECTOR, 'form[action='
		    '"/verify/resend"] button'), "with a button for a new link")
		link = mailed_link(owner, "/verify/")
		if not T.ok(link, "sign-up mailed a confirmation link"):
			return
		path = urllib.parse.urlsplit(link).path
		go(d, link)
		T.eq(path_of(d), path, "the link opens its own page")
		shot(d, "verify.png")
		submit(d, form_button(d, path))
		T.eq(path_of(d), "/dashboard", "confirming lands on /dashboard")
		T.ok("verified" in flash(d), "a verified notice is shown",
		    flash(d))
		T.ok(not d.find_elements(By.CSS_SELECTOR, "div.verify-notice"),
		    "the dashboard no longer asks")

	def step_invite(d):
		go(d, "/team")
		fill(d, "f-email", admin)
		Select(d.find_element(By.ID, "f-role")).select_by_value("admin")
		submit(d, form_button(d, "/team/invite"))
		T.eq(path_of(d), "/team", "inviting redirects to /team (a reload "
		    "sends nothing again)")
		T.ok(admin in flash(d) and "e-mailed" in flash(d),
		    "the notice says the invitation was e-mailed, to whom",
		    flash(d))
		secret = d.find_elements(By.CSS_SELECTOR, "div.secret")
		link = secret[0].text.strip() if secret else ""
		T.ok(link.startswith(BASE + "/invite/") and len(link) > len(BASE)
		    + 40, "the invitation link is shown in div.secret", link)
		T.eq(pending(d), [admin], "the invitation is listed as pending")
		T.eq(texts(d, "//section[h2='Pending invitations']//tbody/tr/td[2]"),
		    ["Admin"], "with the role Admin (a label, not the stored word)")
		go(d, "/team")
		T.ok(not d.find_elements(By.CSS_SELECTOR, "div.secret"),
		    "the link is not shown again on reload")
		return link

	def step_accept(d, d2, link):
		go(d2, link)
		if not T.ok(d2.find_elements(By.ID, "f-password"), "the "
		    "invitation link opens the invitation form", "got: %s\n%s" %
		    (d2.title, d2.find_element(By.TAG_NAME, "body").text)):
			return
		T.ok(org in d2.find_element(By.TAG_NAME, "h1").text, "the "
		    "invitation page names the organization literally",
		    d2.find_element(By.TAG_NAME, "h1").text)
		T.ok(admin in d2.find_element(By.TAG_NAME, "body").text,
		    "and the invited address")
		shot(d2, "invite.png")
		fill(d2, "f-name", "Ada Admin")
		fill(d2, "f-password", PASSWORD + "-2")
		submit(d2, form_button(d2, urllib.parse.urlsplit(link).path))
		T.eq(path_of(d2), "/dashboard", "accepting lands on /dashboard")
		T.eq(d2.find_element(By.CSS_SELECTOR, ".usermenu .tenant").text,
		    org, "of the inviting organization")
		user = d2.find_element(By.CSS_SELECTOR, ".usermenu .user").text
		T.ok(admin in user and d2.find_element(By.CSS_SELECTOR,
		    ".usermenu .role").text == "Admin", "as Admin", user)
		T.ok("joined" in flash(d2), "a joined notice is shown", flash(d2))
		T.ok(not d2.find_elements(By.CSS_SELECTOR, "div.verify-notice"),
		    "the invitation proved the invitee's address")
		T.ok(any(e.text == "Audit" for e in d2.find_elements(
		    By.CSS_SELECTOR, "nav.mainnav a")), "an admin sees Audit in "
		    "the navigation")
		go(d2, link)
		T.ok("not valid" in d2.find_element(By.TAG_NAME, "h1").text,
		    "the link does not work twice")
		go(d, "/team")
		members = texts(d, "//section[h2='Members']//tbody/tr/td[1]")
		T.eq(sorted(members), sorted([owner, admin]), "the owner's /team "
		    "lists 2 members")
		T.eq(pending(d), [], "and no pending invitation")

	def step_keys(d):
		go(d, "/keys")
		before = len(rows(d, "API keys"))
		fill(d, "f-name", "ci <key> \"1\"")
		for scope in ("usage:write", "entitlements:read"):
			d.find_element(By.CSS_SELECTOR, 'input[name="scopes"][value="%s"]'
			    % scope).click()
		submit(d, form_button(d, "/keys/api"))
		T.eq(path_of(d), "/keys", "creating a key redirects to /keys (a "
		    "reload sends nothing again)")
		T.ok("created" in flash(d) and "ci <key>" in flash(d),
		    "the notice names the key", flash(d))
		secret = d.find_elements(By.CSS_SELECTOR, "div.secret")
		sec = secret[0].text.strip() if secret else ""
		T.ok(re.fullmatch(r"tg_[A-Za-z0-9_-]{20,}", sec), "the new secret "
		    "starts with tg_ and is shown in div.secret", sec)
		shot(d, "keys-created.png")
		go(d, "/keys")
		T.ok(not d.find_elements(By.CSS_SELECTOR, "div.secret") and
		    (not sec or sec not in d.page_source), "after reload the "
		    "secret is gone")
		r = rows(d, "API keys")
		T.eq(len(r), before + 1, "one more key is listed")
		row = [x for x in r if x.find_elements(By.TAG_NAME, "td")[0].text
		    == "ci <key> \"1\""]
		T.ok(row, "the key is listed by its name, literally")
		if not row:
			return
		cells = [c.text for c in row[0].find_elements(By.TAG_NAME, "td")]
		T.ok(sec and cells[1].rstrip("…") == sec[:11] and sec[:11] not
		    in ("", sec), "listed by its prefix %s…" % sec[:11], cells)
		T.ok("usage:write" in cells[2] and "entitlements:read" in cells[2]
		    and "billing:read" not in cells[2], "with its two scopes",
		    cells[2])
		submit(d, row[0].find_element(By.XPATH,
		    ".//button[normalize-space()='Revoke']"))
		ask = d.find_elements(By.CSS_SELECTOR, "section.confirm")
		T.ok(ask and "ci <key>" in ask[0].text, "revoking asks first, "
		    "naming the key", ask[0].text if ask else "")
		if not ask:
			return
		T.ok(ask[0].find_elements(By.LINK_TEXT, "Cancel"),
		    "the confirm page can be left with Cancel")
		submit(d, ask[0].find_element(By.CSS_SELECTOR, "button.danger"))
		T.eq(path_of(d), "/keys", "revoke returns to /keys")
		T.ok("revoked" in flash(d), "a revoked notice is shown", flash(d))
		r = rows(d, "API keys")
		T.eq(len([x for x in r if "Revoked" not in x.text]), before,
		    "the live keys are as before")
		T.ok([x for x in r if "ci <key>" in x.text and "Revoked" in
		    x.text], "the revoked key stays listed with a Revoked pill")

	# --- agents: added with a budget, its budget refused and kept in
	# its row, the row's form open on a phone, deactivated after a
	# confirmation.  It ends deactivated, so that the billing step's
	# count of the Free plan's three active agents is its own.

	def agent_row(d, name):
		r = [x for x in rows(d, "Agents") if x.find_elements(
		    By.TAG_NAME, "td") and x.find_elements(By.TAG_NAME,
		    "td")[0].text.startswith(name)]
		return r[0] if r else None

	def cell_lines(d, row):
		"""Per labelled cell of a table row (the numbers aside): is
		its content one element (one grid item beside the label on a
		phone), and does each of its parts (text, pill, note) start on
		the line of the first?"""
		return d.execute_script("""
		    var out = [];
		    arguments[0].querySelectorAll('td[data-label]:not(.num)')
		    .forEach(function (td) {
		      var kids = Array.from(td.childNodes).filter(function (n) {
		        return n.nodeType === 1 || n.textContent.trim(); });
		      var w = kids.length === 1 && kids[0].nodeType === 1 ?
		        kids[0] : null;
		      var first = null, ok = w !== null;
		      (w ? Array.from(w.childNodes) : []).forEach(function (n) {
		        var r, g;
		        if (n.nodeType === 3) {
		          if (!n.textContent.trim()) return;
		          g = document.createRange();
		          g.selectNodeContents(n);
		          r = g.getClientRects()[0];
		        } else
		          r = n.getClientRects()[0];
		        if (!r) return;
		        if (first === null) first = r;
		        else if (r.top >= first.bottom || r.bottom <= first.top)
		          ok = false;
		      });
		      out.push([td.getAttribute('data-label'), ok]);
		    });
		    return out;""", row)

	def step_agents(d):
		name = "ci <agent> \"1\""
		go(d, "/agents")
		fill(d, "f-name", name)
		fill(d, "f-budget_limit_usd", "25")
		Select(d.find_element(By.ID, "f-budget_action")).select_by_value(
		    "alert")
		submit(d, form_button(d, "/agents"))
		T.eq(path_of(d), "/agents", "adding an agent redirects to /agents")
		T.ok(name in flash(d), "the notice names the agent", flash(d))
		row = agent_row(d, name)
		T.ok(row and "$25.00" in row.text and "Active" in row.text and
		    "Within budget" in row.text, "the agent is listed: active, "
		    "$25.00, within budget", row.text if row else "")
		if not row:
			return
		emulate(d, PHONE, "dark")
		try:
			row = agent_row(d, name)
			T.eq(cell_lines(d, row), [["Status", True], ["Budget",
			    True], ["Budget status", True]], "at %d px its status, budget "
			    "and budget status each stay one unit: a pill and its "
			    "words on one line, beside the label" % PHONE)
			row.find_element(By.CSS_SELECTOR,
			    "details.agent-edit > summary").click()
			fill(d, row.find_element(By.CSS_SELECTOR,
			    "input[name='budget_limit_usd']").get_attribute("id"),
			    "1e3")
			submit(d, row.find_element(By.CSS_SELECTOR,
			    "form.agent-budget button"))
			row = agent_row(d, name)
			err = row.find_elements(By.CSS_SELECTOR, "p.field-error") \
			    if row else []
			T.ok(err and err[0].is_displayed() and "amount of USD" in
			    err[0].text, "a refused budget is shown in its row, "
			    "the form open", err[0].text if err else "")
			sw, cw = widths(d)
			T.ok(sw <= PHONE and cw <= PHONE, "with the form open, "
			    "/agents fits %d px (dark)" % PHONE, (sw, cw))
			shot(d, "agents-budget-390-dark.png", width=PHONE,
			    mobile=True)
		finally:
			emulate_off(d)
		submit(d, row.find_element(By.XPATH,
		    ".//button[starts-with(normalize-space(), 'Deactivate')]"))
		ask = d.find_elements(By.CSS_SELECTOR, "section.confirm")
		T.ok(ask and name in ask[0].text, "deactivating asks first, "
		    "naming the agent", ask[0].text if ask else "")
		if not ask:
			return
		submit(d, ask[0].find_element(By.CSS_SELECTOR, "button.danger"))
		row = agent_row(d, name)
		T.ok(row and "Deactivated" in row.text and "by an admin" in
		    row.text and row.find_elements(By.XPATH, ".//button["
		    "starts-with(normalize-space(), 'Reactivate')]"),
		    "it is listed deactivated, with a way back",
		    row.text if row else "")

	# --- the app shell (issue 8): every page at 1366 and 390 px, light
	# and dark, none scrolling sideways on a phone.

	DESKTOP, PHONE = 1366, 390
	SCHEMES = ("light", "dark")
	BUILT = ["Dashboard", "Keys", "Team", "Audit", "Usage", "Agents",
	    "Channels", "Billing", "Notifications"]

	def emulate(d, width, scheme="light", height=None):
		"""A viewport (a phone's below 600 px) and a colour scheme."""
		phone = width < 600
		d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
		    "width": width, "height": height or (844 if phone else 900),
		    "deviceScaleFactor": 1, "mobile": phone})
		d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
		    {"name": "prefers-color-scheme", "value": scheme}]})

	def emulate_off(d):
		d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
		d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

	def rect(d, el):
		return d.execute_script("var r = arguments[0]"
		    ".getBoundingClientRect(); return {top: r.top, bottom: "
		    "r.bottom, left: r.left, right: r.right, width: r.width, "
		    "height: r.height};", el)

	def widths(d):
		"""scrollWidth and clientWidth of the page: under phone
		emulation Chromium widens innerWidth to fit what overflows, so
		these are what to compare with the viewport itself."""
		return d.execute_script("var e = document.documentElement; "
		    "return [e.scrollWidth, e.clientWidth];")

	def views(d, name, path):
		"""Screenshots of the loaded page at both widths in both
		schemes; at 390 px it must not scroll sideways."""
		made, fits = [], []
		try:
			for scheme in SCHEMES:
				for width in (DESKTOP, PHONE):
					emulate(d, width, scheme)
					if width == PHONE:
						fits.append(widths(d))
					height = max(900 if width == DESKTOP else 844,
					    d.execute_script("return document"
					    ".documentElement.scrollHeight"))
					emulate(d, width, scheme, min(height, 8000))
					f = os.path.join(OUT_DIR, "%s-%d-%s.png" %
					    (name, width, scheme))
					d.save_screenshot(f)
					if os.path.isfile(f) and png_magic(f):
						made.append(f)
		finally:
			emulate_off(d)
		T.ok(len(made) == 4, "%s: screenshots at %d and %d px, light and "
		    "dark" % (path, DESKTOP, PHONE), made)
		T.ok(fits and all(sw <= PHONE and cw <= PHONE for sw, cw in fits),
		    "%s fits %d px: no horizontal scroll" % (path, PHONE),
		    "[scrollWidth, clientWidth] light, dark: %s" % fits)

	def step_shell(d):
		emulate(d, DESKTOP)
		try:
			go(d, "/dashboard")
			bar = d.find_element(By.CSS_SELECTOR, "header.topbar")
			brand = rect(d, d.find_element(By.CSS_SELECTOR, "a.brand"))
			user = rect(d, d.find_element(By.CSS_SELECTOR, "div.usermenu"))
			T.ok(rect(d, bar)["height"] <= 80 and user["top"] <
			    brand["bottom"] and user["right"] >= DESKTOP - 40,
			    "at %d px the top bar is one row, the user area on the "
			    "right" % DESKTOP, "bar %s, brand %s, user %s" %
			    (rect(d, bar), brand, user))
			out = d.find_element(By.XPATH, "//form[@action='/logout']"
			    "//button[normalize-space()='Sign out']")
			r = rect(d, out)
			T.ok(r["width"] >= 24 and r["height"] >= 24, "Sign out is a "
			    "target of 24 px or more", r)
			built = [e.text for e in d.find_elements(By.CSS_SELECTOR,
			    "nav.mainnav ul.nav-built > li > a") if e.is_displayed()]
			T.eq(built, BUILT, "the navigation shows the pages that work")
			T.eq(d.find_elements(By.CSS_SELECTOR, "details.soon-menu"),
			    [], "every page is built: no Coming soon group")

			# The skip link: hidden, visible once focused.
			go(d, "/dashboard")
			skip = d.find_element(By.CSS_SELECTOR, "a.skip-link")
			T.ok(rect(d, skip)["bottom"] <= 0, "the skip link is out of "
			    "sight until focused", rect(d, skip))
			ActionChains(d).send_keys(Keys.TAB).perform()
			r = rect(d, skip)
			T.ok(d.switch_to.active_element == skip and r["top"] >= 0 and
			    r["bottom"] <= 900 and r["width"] > 40 and
			    skip.is_displayed(), "the first Tab shows the skip link",
			    r)
			ActionChains(d).send_keys(Keys.ENTER).perform()
			T.eq(d.switch_to.active_element.get_attribute("id"), "main",
			    "following it moves the focus to the content")

			# The favicon, and the stylesheet under its content's hash.
			icon = d.find_element(By.CSS_SELECTOR, 'link[rel="icon"]')
			st, h, body = fetch(icon.get_attribute("href"))
			T.ok(st == 200 and h.get("Content-Type", "").startswith(
			    "image/svg+xml") and b"<svg" in body, "the favicon "
			    "is served: 200, image/svg+xml", "%s %s" % (st, h.get(
			    "Content-Type")))
			css = d.find_element(By.CSS_SELECTOR,
			    'link[rel="stylesheet"]').get_attribute("href")
			st, h, body = fetch(css)
			v = urllib.parse.parse_qs(urllib.parse.urlsplit(css).query)
			T.ok(st == 200 and v.get("v") == [hashlib.sha256(body)
			    .hexdigest()[:16]], "the stylesheet's URL carries its "
			    "content's hash", css)
			T.ok("immutable" in h.get("Cache-Control", "") and
			    "max-age=31536000" in h.get("Cache-Control", ""),
			    "and is cached for a year, immutable",
			    h.get("Cache-Control"))
			st, h, _ = fetch(css, {"Accept-Encoding": "gzip"})
			T.ok(st == 200 and h.get("Content-Encoding") == "gzip",
			    "and sent gzipped to a browser that takes it", dict(h))

			# A 404 inside the shell.
			go(d, "/no-such-page")
			T.eq(d.title, "Not Found · Tollgate", "a 404 page is titled "
			    "\"Not Found · Tollgate\"")
			T.ok(d.find_elements(By.CSS_SELECTOR, "nav.mainnav a[href="
			    "'/dashboard']") and d.find_elements(By.XPATH,
			    "//main//a[normalize-space()='Back to the dashboard']"),
			    "it carries the navigation and a way back")
		finally:
			emulate_off(d)

		# A phone: a menu button, not a sideways-scrolling menu.
		emulate(d, PHONE)
		try:
			go(d, "/dashboard")
			nav = d.find_element(By.CSS_SELECTOR, "nav.mainnav")
			menu = d.find_element(By.CSS_SELECTOR,
			    "details.menu-toggle > summary")
			T.ok(menu.is_displayed() and not nav.is_displayed(), "at "
			    "%d px the navigation folds behind a Menu button" % PHONE)
			r = rect(d, menu)
			T.ok(r["width"] >= 44 and r["height"] >= 44, "the Menu button "
			    "is 44 px or more", r)
			menu.click()
			T.ok(nav.is_displayed(), "the Menu button opens it")
			links = [e for e in d.find_elements(By.CSS_SELECTOR,
			    "nav.mainnav ul.nav-built > li > a") if e.is_displayed()]
			T.ok(len(links) == len(BUILT) and all(rect(d, e)["height"] >= 44 and
			    rect(d, e)["right"] <= PHONE for e in links), "its items "
			    "are listed down, 44 px high, within the screen",
			    [rect(d, e) for e in links])
			out = d.find_element(By.XPATH, "//form[@action='/logout']"
			    "//button[normalize-space()='Sign out']")
			r = rect(d, out)
			T.ok(out.is_displayed() and r["width"] >= 44 and
			    r["height"] >= 44, "Sign out is 44 x 44 px or more", r)
			sw, cw = widths(d)
			T.ok(sw <= PHONE and cw <= PHONE, "the open menu fits %d px"
			    % PHONE, "scrollWidth %s, clientWidth %s" % (sw, cw))
			shot(d, "menu-open-390-light.png", width=PHONE, height=844,
			    mobile=True)
		finally:
			emulate_off(d)

	def step_audit_filter(d):
		go(d, "/audit?from=2026-13-45&action=auth.login")
		err = d.find_elements(By.ID, "e-from")
		T.ok(err and "date" in err[0].text.lower(), "a bad day is shown "
		    "at its field", err[0].text if err else d.title)
		T.ok(d.find_elements(By.CSS_SELECTOR, "nav.mainnav a"), "the "
		    "audit page keeps its navigation (no bare error page)")
		T.eq(d.find_element(By.ID, "f-from").get_attribute("type"),
		    "date", "the filter's days are date inputs")
		T.eq(d.find_element(By.ID, "f-action").tag_name, "select",
		    "the action is a menu")
		go(d, "/audit?action=auth.login")
		cells = texts(d, "//table[contains(@class,'list')]//tbody/tr/td[3]")
		T.ok(cells and all(c == "auth.login" for c in cells),
		    "filtering by action shows only that action", cells[:3])
		when = d.find_elements(By.CSS_SELECTOR, "table.list time[datetime]")
		T.ok(when and re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}, "
		    r"\d{2}:\d{2} UTC", when[0].get_attribute("title") or ""),
		    "times are shown readably, the exact one on hover",
		    when[0].get_attribute("title") if when else "")
		go(d, "/audit?action=api_key.created")
		named = d.find_elements(By.XPATH, "//table[contains(@class,"
		    "'list')]//tbody/tr/td[4]/span[@title]")
		T.ok(named and re.fullmatch(r"[0-9a-f-]{36}",
		    named[0].get_attribute("title") or "") and not
		    re.fullmatch(r"[0-9a-f-]{36}", named[0].text), "a key is "
		    "shown by its name, its id on hover",
		    named[0].text if named else "")

	def step_pricing(d):
		go(d, "/pricing")
		cards = d.find_elements(By.CSS_SELECTOR, "section.card.plan")
		T.eq([c.find_element(By.TAG_NAME, "h2").text for c in cards],
		    ["Free", "Pro", "Power", "Team"], "the four plans of the "
		    "catalogue, in order")
		T.ok(cards and "$15.00" in cards[1].text and "14-day free trial"
		    in cards[1].text, "Pro's price and trial, formatted",
		    cards[1].text[:80] if len(cards) > 1 else "")
		T.ok(len(cards) > 3 and "per seat" in cards[3].text, "Team is "
		    "priced per seat")
		main = d.find_element(By.TAG_NAME, "main")
		T.ok("Your organization is on the" in main.text and
		    main.find_elements(By.CSS_SELECTOR, "div.flash a[href="
		    "'/billing']"), "a signed-in visitor is told the plan and "
		    "sent to the Billing page to change it")
		T.ok(cards and "Current plan" in cards[0].text, "the plan in "
		    "use (Free) is marked", cards[0].text[-40:] if cards else "")
		links = [a.get_attribute("href") for c in cards[1:] for a in
		    c.find_elements(By.CSS_SELECTOR, "a.button")]
		T.ok(all(h.split("#")[0].endswith("/billing") for h in links),
		    "a paid plan's button (if billing is configured) leads to "
		    "/billing, where the owner's forms are", links)

	def step_screenshots(d):
		pages = [("dashboard", "/dashboard"), ("team", "/team"),
		    ("keys", "/keys"), ("audit", "/audit"), ("usage", "/usage"),
		    ("agents", "/agents"), ("channels", "/channels"),
		    ("billing", "/billing"),
		    ("notifications", "/settings/notifications"),
		    ("not-found", "/no-such-page")]
		for name, path in pages:
			go(d, path)
			views(d, name, path)
		T.ok(d.execute_script("return Array.from(document.styleSheets)"
		    ".some(s => s.href && s.href.includes('/static/tollgate.css')"
		    " && s.cssRules.length > 0)"), "the stylesheet loaded")
		# The public pages, from a browser that is signed in nowhere.
		p = new_driver()
		for name, path in (("login", "/login"), ("register", "/register"),
		    ("pricing", "/pricing"), ("password-reset", "/password-reset"),
		    ("not-found-public", "/no-such-page")):
			go(p, path)
			views(p, name, path)
		T.eq(p.title, "Not Found · Tollgate", "a 404 of a visitor is in "
		    "the shell too")
		T.ok(p.find_elements(By.XPATH, "//main//a[@href='/login']"),
		    "with a way to sign in")

	# --- billing (the issue): the owner buys Pro on /billing, its trial
	# ends, and the billing portal cancels it at once.  After the
	# screenshots: the tenant's plan changes, and they show it on Free.
	# Only the usage step comes later.

	def billing_shows(d):
		"""The plan and status the loaded /billing says, and its
		invoices as [number, date, status, amount] rows."""
		name = d.find_elements(By.CSS_SELECTOR,
		    "section.billing-plan p.plan-now .plan-name")
		pill = d.find_elements(By.CSS_SELECTOR,
		    "section.billing-plan p.plan-now span.pill")
		inv = [[c.text.strip() for c in tr.find_elements(By.TAG_NAME,
		    "td")][:4] for tr in d.find_elements(By.CSS_SELECTOR,
		    "table.invoices tbody tr")]
		return (name[0].text if name else None,
		    pill[0].text if pill else None, inv)

	def billing_until(d, url, done):
		"""Load url until done(plan, status, invoices), WAIT_S at most:
		Stripe's events reach Tollgate after the page that caused them.
		What the page showed last."""
		deadline = time.time() + WAIT_S
		while True:
			go(d, url)
			got = billing_shows(d)
			if done(*got) or time.time() >= deadline:
				return got
			time.sleep(0.2)

	def on_emulator(d, prefix):
		u = urllib.parse.urlsplit(d.current_url)
		return (u.netloc == urllib.parse.urlsplit(os.environ.get(
		    "STRIPE_API_BASE", "")).netloc and u.path.startswith(prefix))

	def step_billing(d):
		t0 = time.time()
		if not T.ok(os.environ.get("STRIPE_API_BASE") and
		    os.environ.get("TOLLGATE_OWNER_DATABASE_URL"), "billing: the "
		    "stack names the Stripe emulator and the owner database"):
			return
		rows = owner_sql("SELECT tenant_id FROM auth_user_tenants(("
		    "SELECT user_id FROM users WHERE email = lower(:'email')))",
		    email=owner)
		if not T.ok(len(rows) == 1, "billing: the owner's organization "
		    "is found in the database", rows):
			return
		tenant = rows[0][0]
		# Checkout wants a confirmed address: step_verify confirmed it
		# through the mailed link; should that have failed, here it is.
		owner_sql("UPDATE users SET email_verified_at = now() WHERE "
		    "email = lower(:'email') AND email_verified_at IS NULL",
		    email=owner)
		# Five agents, the newest last: a canceled plan keeps the Free
		# plan's three oldest.
		owner_sql("INSERT INTO agents (tenant_id, name, created_at) "
		    "SELECT :'tenant', 'agent ' || i, now() - make_interval(mins "
		    "=> 10 - i) FROM generate_series(0, 4) AS i", tenant=tenant)

		# /pricing: the owner's Pro card leads to its form on /billing.
		go(d, "/pricing")
		pro = d.find_elements(By.CSS_SELECTOR, "section#plan-pro a.button")
		if not T.ok(pro and pro[0].get_attribute("href").endswith(
		    "/billing#plan-pro"), "/pricing: the owner's Pro card links "
		    "to /billing#plan-pro", [a.get_attribute("href") for a in
		    pro]):
			return
		submit(d, pro[0])
		T.eq(path_of(d), "/billing", "choosing Pro opens /billing")
		buy = d.find_elements(By.CSS_SELECTOR, "section#plan-pro "
		    "form[action='/billing/checkout'] button[type='submit']")
		if not T.ok(buy and buy[0].text == "Start 14-day trial",
		    "its Pro card offers \"Start 14-day trial\"",
		    [b.text for b in buy]):
			return
		submit(d, buy[0])
		if not T.ok(on_emulator(d, "/c/pay/"), "the trial's form leads "
		    "to the emulator's Checkout page", d.current_url):
			return
		submit(d, d.find_element(By.ID, "pay"))
		u = urllib.parse.urlsplit(d.current_url)
		T.ok(u.path == "/billing" and "checkout=success" in u.query,
		    "Pay returns to /billing?checkout=success", d.current_url)
		got = billing_until(d, d.current_url,
		    lambda plan, status, inv: (plan, status) == ("Pro", "Trialing"))
		T.eq(got[:2], ("Pro", "Trialing"), "/billing: Pro, Trialing")
		T.ok("Payment received" in flash(d), "with the notice of a "
		    "successful checkout", flash(d))
		card = d.find_element(By.CSS_SELECTOR, "section.billing-plan").text
		T.ok("Trial ends" in card and "Manage billing" in card, "the "
		    "trial's end is shown, and Manage billing", card)
		T.ok(d.find_elements(By.CSS_SELECTOR, "section#plan-pro "
		    "span.pill-current"), "the Pro card is marked Current plan")

		# Past the trial: the first paid month, invoiced and paid.
		emu_control("/_emu/advance", {"days": 15})
		got = billing_until(d, "/billing", lambda plan, status, inv:
		    status == "Active" and any(r[3] == "$15.00" for r in inv))
		T.eq(got[:2], ("Pro", "Active"), "15 days on, the emulator's "
		    "clock past the trial: /billing says Pro, Active")
		T.ok(any(r[3] == "$15.00" and r[2] == "Paid" for r in got[2]),
		    "and lists the month's invoice, $15.00, Paid", got[2])
		T.ok(all(re.fullmatch(r"\$\d+\.\d\d", r[3]) for r in got[2]),
		    "every invoice row has an amount", got[2])
		views(d, "billing-pro", "/billing with a paid Pro plan")

		# The billing portal: cancel now, then back.
		submit(d, form_button(d, "/billing/portal"))
		if not T.ok(on_emulator(d, "/p/session/"), "Manage billing opens "
		    "the emulator's billing portal", d.current_url):
			return
		submit(d, d.find_element(By.CSS_SELECTOR,
		    "form[action$='/cancel'] button[type='submit']"))
		T.ok("Your subscription is canceled" in d.find_element(
		    By.TAG_NAME, "body").text, "the portal cancels the "
		    "subscription at once")
		submit(d, d.find_element(By.ID, "return"))
		T.eq(path_of(d), "/billing", "the portal's Return link leads "
		    "back to /billing")
		got = billing_until(d, "/billing", lambda plan, status, inv:
		    (plan, status) == ("Free", "Canceled"))
		T.eq(got[:2], ("Free", "Canceled"), "/billing: Free, Canceled")
		T.ok("The subscription was canceled" in d.find_element(
		    By.CSS_SELECTOR, "section.billing-plan").text, "with a note "
		    "that says so")
		T.ok(any(r[3] == "$15.00" for r in got[2]), "the paid invoice "
		    "is still listed", got[2])
		again = d.find_elements(By.CSS_SELECTOR, "section#plan-pro "
		    "form[action='/billing/checkout'] button[type='submit']")
		T.ok(again and again[0].text == "Upgrade to Pro", "the Pro card "
		    "offers no second trial: \"Upgrade to Pro\"",
		    [b.text for b in again])
		agents = owner_sql("SELECT name, active, coalesce("
		    "deactivated_reason, '') FROM agents ORDER BY created_at",
		    tenant=tenant)
		T.eq([a[0] for a in agents if a[1] == "t"],
		    ["agent 0", "agent 1", "agent 2"], "the three oldest agents "
		    "stay active (the Free plan's three)")
		T.eq([a[0] for a in agents if a[1] == "f" and a[2] ==
		    "subscription_canceled"], ["agent 3", "agent 4"], "the two "
		    "newest are deactivated: subscription_canceled")
		print("# billing flow: %.1f s" % (time.time() - t0), flush=True)

	# --- usage: ten days of LLM tokens and messages sent through the API
	# with a key the API made, then /usage.  After billing: the tenant
	# is on the plan the cancellation left it on (Free: 10,000 tokens and
	# 100 messages, soft), and what is sent stays below 80 % of it.  The
	# chart, its table, the meters, the providers, the messages chart
	# and the CSV export must each say what was sent.

	USAGE_PROVIDERS = {"openai": "OpenAI", "anthropic": "Anthropic",
	    "mistral": "Mistral"}

	def usage_days(d, today):
		"""The period to look at, its first and last day, and the days
		in it to give usage: of the last ten days up to today, those of
		the current period if five or more are, else those before it
		(early in a calendar month: the previous month, as YYYY-MM)."""
		def span():
			return [datetime.date.fromisoformat(t.get_attribute(
			    "datetime")) for t in d.find_elements(By.CSS_SELECTOR,
			    "div.usage-head p.lead time[datetime]")]
		go(d, "/usage")
		first, last = span()
		window = [today - datetime.timedelta(days=k)
		    for k in range(9, -1, -1)]
		if len([x for x in window if x >= first]) >= 5:
			return "current", first, last, [x for x in window
			    if x >= first]
		period = (first - datetime.timedelta(days=1)).strftime("%Y-%m")
		go(d, "/usage?period=" + period)
		first, last = span()
		return period, first, last, [x for x in window
		    if first <= x <= last]

	def usage_events(days, now):
		"""The events, and what they add up to: LLM tokens on two days
		of three (two calls a day, OpenAI and in turn Anthropic or
		Mistral, more each day), messages every other day on two
		channels.  Each at its day's hour, today's no later than now."""
		tag = secrets.token_hex(4)
		ev = []
		want = {"llm_tokens": {}, "messages": {}, "provider": {},
		    "channel": {}}

		def add(day, hour, metric, value, props, by, key):
			t = min(datetime.datetime(day.year, day.month, day.day,
			    hour, tzinfo=datetime.timezone.utc), now)
			ev.append({"id": "bw-usage-%s-%d" % (tag, len(ev)),
			    "metric": metric, "value": value, "timestamp":
			    t.strftime("%Y-%m-%dT%H:%M:%SZ"), "properties": props})
			want[metric][day] = want[metric].get(day, 0) + value
			want[by][key] = want[by].get(key, 0) + value

		for i, day in enumerate(days):
			if i % 3 != 1:
				calls = ((9, "openai", "gpt-4o-mini", 300 + 20 * i,
				    100 + 10 * i), (15,) + (("anthropic",
				    "claude-3-5-haiku"), ("mistral", "mistral-small"))[
				    i % 2] + (150 + 10 * i, 50 + 5 * i))
				for hour, prov, model, p, c in calls:
					add(day, hour, "llm_tokens", p + c, {
					    "provider": prov, "model": model,
					    "prompt_tokens": p, "completion_tokens": c},
					    "provider", prov)
			if i % 2 == 0:
				for hour, chan, n in ((11, "slack-ops", 2 + i),
				    (17, "email-support", 1 + i // 2)):
					add(day, hour, "messages", n,
					    {"channel_id": chan}, "channel", chan)
		return ev, want

	def usage_key(tenant, events):
		"""A key to send usage with: one the owner creates through the
		API; the stack's platform key (the tenant named in each event)
		should the API refuse (a rate limit of the run).  None, the
		answer that refused, or the key and what it is."""
		st, tok = api("POST", "/auth/login", {"email": owner,
		    "password": PASSWORD})
		if st == 200:
			st, key = api("POST", "/api-keys", {"name": "browser usage",
			    "scopes": ["usage:write"]}, tok["access_token"])
			if st == 201:
				return key["secret"], "an API key the API created"
			tok = key
		platform = os.environ.get("TOLLGATE_PLATFORM_KEY")
		if st != 429 or not platform:
			return None, "%d %s" % (st, tok)
		print("# usage: the API refused a key (%d %s); the platform key "
		    "instead" % (st, tok), flush=True)
		for e in events:
			e["tenant_id"] = tenant
		return platform, "the platform key"

	def chart_shows(d):
		"""The chart's <svg> (or None), its title, the number of its
		bars and each bar as [day label, value, height] from its
		tooltip ("2 Dec 2026: 1,234 tokens") and its height."""
		svg = d.find_elements(By.CSS_SELECTOR, "figure.chart svg")
		if not svg:
			return None, None, 0, []
		title, bars = d.execute_script("""
		    var s = arguments[0], t = s.querySelector(':scope > title');
		    return [t ? t.textContent : null,
		      Array.from(s.querySelectorAll('g.chart-bars rect'),
		        function (r) {
		          var b = r.querySelector('title');
		          return [b ? b.textContent : '',
		            parseFloat(r.getAttribute('height'))];
		        })];""", svg[0])
		out = []
		for label, h in bars:
			day, _, v = label.partition(": ")
			out.append([day, int(v.split(" ")[0].replace(",", "") or
			    -1), h])
		return svg[0], title, len(bars), out

	def chart_table(d):
		"""The chart's table alternative, opened: its value column's
		heading (as written, not as styled) and its rows, [day,
		value]."""
		det = d.find_element(By.CSS_SELECTOR, "details.chart-data")
		if det.get_attribute("open") is None:
			det.find_element(By.TAG_NAME, "summary").click()
		head = det.find_elements(By.CSS_SELECTOR, "thead th")
		return (head[1].get_attribute("textContent").strip() if
		    len(head) > 1 else None,
		    [[tr.find_element(By.TAG_NAME, "th").text.strip(),
		    tr.find_elements(By.TAG_NAME, "td")[0].text.strip()]
		    for tr in det.find_elements(By.CSS_SELECTOR, "tbody tr")])

	def usage_chart_ok(d, what, title, unit, per_day, first, last):
		"""The loaded /usage, of the period first..last, draws per_day
		({date: value}) as title."""
		svg, got, nbars, bars = chart_shows(d)
		if not T.ok(svg is not None, "/usage (%s): the chart is drawn" %
		    what):
			return
		T.ok(svg.get_attribute("role") == "img" and got == title and
		    svg.get_attribute("aria-labelledby") == "chart-title",
		    "the chart is an inline <svg role=\"img\"> named by its "
		    "<title>, \"%s\"" % title, "role %r, title %r" %
		    (svg.get_attribute("role"), got))
		want = {day_label(k): v for k, v in per_day.items()}
		T.ok(nbars == len(want) and {b[0]: b[1] for b in bars} == want,
		    "one bar for each of the %d days with %s, its value in its "
		    "tooltip" % (len(want), what), "bars %s\nwant %s" %
		    (bars, want))
		T.ok([b[0] for b in sorted(bars, key=lambda b: b[2])] ==
		    [b[0] for b in sorted(bars, key=lambda b: b[1])] and
		    all(b[2] > 0 for b in bars), "the bars are as tall as "
		    "their values are large", bars)
		head, rows = chart_table(d)
		T.eq(head, {"llm_tokens": "LLM tokens", "messages": "Messages"}[
		    unit], "the table alternative's column is the metric")
		today = datetime.datetime.now(datetime.timezone.utc).date()
		T.eq([r[0] for r in rows], [day_label(first + datetime.timedelta(
		    days=k)) for k in range((min(today, last) - first).days + 1)],
		    "it lists every day of the period up to today")
		T.eq({r[0]: r[1] for r in rows if r[1] != "0"},
		    {k: count_label(v) for k, v in want.items()}, "with the same "
		    "days and values as the bars (the others 0)")

	def step_usage(d):
		t0 = time.time()
		if not T.ok(os.environ.get("TOLLGATE_OWNER_DATABASE_URL"),
		    "usage: the stack names the owner database"):
			return
		rows = owner_sql("SELECT tenant_id FROM auth_user_tenants(("
		    "SELECT user_id FROM users WHERE email = lower(:'email')))",
		    email=owner)
		if not T.ok(len(rows) == 1, "usage: the owner's organization "
		    "is found in the database", rows):
			return
		tenant = rows[0][0]
		plan = owner_sql("SELECT plan_effective(plan, status, "
		    "past_due_since) FROM tenants WHERE tenant_id = :'tenant'",
		    tenant=tenant)[0][0]
		included = {m: int(v) for m, v in owner_sql("SELECT metric, "
		    "coalesce(included, -1) FROM plan_quotas WHERE plan = "
		    ":'plan' AND kind = 'period'", plan=plan)}

		now = datetime.datetime.now(datetime.timezone.utc).replace(
		    microsecond=0)
		today = now.date()
		period, first, last, days = usage_days(d, today)
		if not T.ok(len(days) >= 5, "usage: five or more of the last ten "
		    "days fall in one period (%s, %s to %s)" % (period, first,
		    last), days):
			return
		events, want = usage_events(days, now)
		sent = {m: sum(want[m].values()) for m in ("llm_tokens",
		    "messages")}
		T.ok(all(included.get(m, -1) < 0 or v * 100 < included[m] * 80
		    for m, v in sent.items()), "what is sent (%s) stays below "
		    "80 %% of what the %s plan includes (%s)" % (sent, plan,
		    {m: included.get(m) for m in sent}))
		key, how = usage_key(tenant, events)
		if not T.ok(key, "usage: a key to send it with", how):
			return
		st, got = api("POST", "/usage/events", {"events": events}, key)
		if not T.ok(st == 200 and got == {"accepted": len(events),
		    "duplicates": 0}, "%s sends %d events over %d days: all "
		    "accepted" % (how, len(events), len(set(want["llm_tokens"]) |
		    set(want["messages"]))),
		    "%d %s" % (st, got)):
			return

		url = "/usage" if period == "current" else "/usage?period=" + period
		go(d, url)
		usage_chart_ok(d, "LLM tokens", "LLM tokens per day",
		    "llm_tokens", want["llm_tokens"], first, last)
		meters = {m.find_element(By.CSS_SELECTOR, "span.meter-label")
		    .text: m.find_element(By.CSS_SELECTOR, "span.meter-value").text
		    for m in d.find_elements(By.CSS_SELECTOR,
		    "ul.meters div.meter")}
		T.ok(all(meters.get(label, "").startswith(count_label(sent[m]) +
		    " ") for m, label in (("llm_tokens", "LLM tokens"),
		    ("messages", "Messages"))), "the meters show what was used: "
		    "%s tokens, %s messages" % (count_label(sent["llm_tokens"]),
		    count_label(sent["messages"])), meters)
		store = d.find_elements(By.CSS_SELECTOR,
		    "section[aria-labelledby='storage-h'] span.meter-label")
		T.eq([e.text for e in store], ["Cloud storage (records and "
		    "vectors)", "Backups"], "usage: the storage part shows cloud "
		    "storage and backups against the plan")
		T.ok("No backups yet." in d.find_element(By.CSS_SELECTOR,
		    "section[aria-labelledby='storage-h']").text, "usage: an "
		    "organization without backups is told so")
		T.ok(d.find_elements(By.CSS_SELECTOR,
		    "section[aria-labelledby='gateway-h']"), "usage: the LLM "
		    "gateway's calls have their part")
		prov = {tr.find_element(By.TAG_NAME, "th").text.strip():
		    tr.find_elements(By.TAG_NAME, "td")[0].text.strip() for tr in
		    d.find_elements(By.CSS_SELECTOR, "section[aria-labelledby="
		    "'providers-h'] tbody tr")}
		T.eq(prov, {USAGE_PROVIDERS[p]: count_label(v) for p, v in
		    want["provider"].items()}, "the cost per provider lists the "
		    "providers sent, with their tokens")
		chans = {tr.find_element(By.TAG_NAME, "th").text.strip():
		    tr.find_elements(By.TAG_NAME, "td")[0].text.strip() for tr in
		    d.find_elements(By.CSS_SELECTOR, "section[aria-labelledby="
		    "'channels-h'] tbody tr")}
		T.eq(chans, {c: count_label(v) for c, v in
		    want["channel"].items()}, "the messages per channel too")
		views(d, "usage-data", "/usage with usage (its table open)")

		# The other metric: the link keeps the period.
		submit(d, d.find_element(By.XPATH, "//nav[contains(@class,"
		    "'metric-tabs')]//a[normalize-space()='Messages']"))
		q = urllib.parse.parse_qs(urllib.parse.urlsplit(d.current_url)
		    .query)
		T.ok(q.get("metric") == ["messages"] and q.get("period") ==
		    [period], "the Messages tab opens ?metric=messages of the "
		    "same period", d.current_url)
		T.eq([a.text for a in d.find_elements(By.CSS_SELECTOR,
		    "nav.metric-tabs a[aria-current]")], ["Messages"],
		    "and marks it as the one shown")
		usage_chart_ok(d, "messages", "Messages per day", "messages",
		    want["messages"], first, last)

		# The export: what the link downloads with this session.
		link = d.find_element(By.CSS_SELECTOR, "div.usage-head a[download]")
		cookie = d.get_cookie("tg_session")
		st, h, body = fetch(link.get_attribute("href"), {"Cookie":
		    "tg_session=" + (cookie or {}).get("value", "")})
		T.ok(st == 200 and h.get("Content-Type", "").startswith(
		    "text/csv") and "attachment" in h.get("Content-Disposition",
		    ""), "Export CSV downloads an attachment of type text/csv",
		    "%d %s %s" % (st, h.get("Content-Type"),
		    h.get("Content-Disposition")))
		table = list(csv.reader(io.StringIO(body.decode("utf-8",
		    "replace"), newline="")))
		T.eq(table[0] if table else None, ["day", "agent_id",
		    "agent_name", "metric", "provider", "model", "channel_id",
		    "value", "cost_usd", "events"], "its header row")
		got = {"llm_tokens": {}, "messages": {}, "provider": {},
		    "channel": {}}
		nev = 0
		for r in table[1:]:
			if len(r) != 10 or r[3] not in got:
				got.setdefault("other", []).append(r)
				continue
			day = datetime.date.fromisoformat(r[0])
			got[r[3]][day] = got[r[3]].get(day, 0) + int(r[7])
			by, k = ("provider", r[4]) if r[3] == "llm_tokens" else \
			    ("channel", r[6])
			got[by][k] = got[by].get(k, 0) + int(r[7])
			nev += int(r[9])
		T.ok(got == want, "its rows sum to what was sent: per day and "
		    "metric, per provider, per channel (%s)" % sent,
		    "got  %s\nwant %s" % (got, want))
		T.eq(nev, len(events), "and count the events sent")
		print("# usage: %s, %s, %d days; %.1f s" % (plan, period,
		    len(days), time.time() - t0), flush=True)

	# --- channels and LLM keys: after billing the tenant is on Free (one
	# channel, one LLM provider).  Slack through the emulator's authorize
	# page and back, a test message seen by the emulator; the quota shown
	# and enforced; disconnect after a confirmation; WhatsApp through the
	# form with a test message; an LLM key added and deleted on /keys.

	def on_host(d, base, prefix=""):
		u = urllib.parse.urlsplit(d.current_url)
		return (u.netloc == urllib.parse.urlsplit(base).netloc and
		    u.path.startswith(prefix))

	def emu_messages(base):
		st, _, body = fetch(base + "/_emu/messages")
		return body.decode("utf-8", "replace") if st == 200 else ""

	def channel_rows(d):
		return [r.text for r in rows(d, "Connected channels")]

	def fresh_window():
		"""Portal POSTs of a tenant count against its plan's limit per
		minute (Free: 20), in windows that start on the minute: a step
		that posts a lot starts with a window of its own."""
		time.sleep(60.5 - time.time() % 60)

	def step_channels(d):
		fresh_window()
		slack = os.environ.get("SLACK_API_BASE", "")
		meta = os.environ.get("META_GRAPH_BASE", "")
		if not T.ok(slack and meta, "channels: the stack names the Slack "
		    "and Meta emulators"):
			return
		go(d, "/channels")
		T.eq(d.find_element(By.TAG_NAME, "h1").text, "Channels",
		    "/channels is the channels page")
		T.ok("allows 1" in d.find_element(By.CSS_SELECTOR,
		    "p.lead").text, "it states the Free plan's one channel",
		    d.find_element(By.CSS_SELECTOR, "p.lead").text)
		submit(d, d.find_element(By.ID, "add-to-slack"))
		if not T.ok(on_host(d, slack, "/oauth/v2/authorize"), "Add to "
		    "Slack opens the emulator's authorize page", d.current_url):
			return
		Select(d.find_element(By.NAME, "channel")).select_by_value(
		    "C0ALERTS")
		submit(d, d.find_element(By.ID, "slack-allow"))
		T.eq(path_of(d), "/channels", "Allow comes back to /channels")
		T.ok("Connected: Emu Workspace #alerts" in flash(d), "with a "
		    "notice naming the workspace and channel", flash(d))
		got = channel_rows(d)
		T.ok(len(got) == 1 and "Emu Workspace" in got[0] and "Connected"
		    in got[0], "the channel is listed, Connected", got)
		views(d, "channels", "/channels with a Slack channel")
		submit(d, d.find_element(By.XPATH, "//section[h2='Connected "
		    "channels']//form[@action='/channels/test']//button"))
		T.ok("Test message delivered to Emu Workspace #alerts" in
		    flash(d), "Send a test: delivered", flash(d))
		T.ok("Test message from Tollgate" in emu_messages(slack), "the "
		    "Slack emulator received the test message")
		T.ok(d.find_elements(By.XPATH, "//p[@class='warning' and "
		    "contains(., 'Every channel your plan allows')]"), "the page "
		    "says the plan's channels are all in use")

		# Over the quota: the WhatsApp form says so, nothing added.
		fill(d, "f-phone_number_id", "1055507777")
		fill(d, "f-access_token", "EAAbrowserTestToken0123456789")
		submit(d, d.find_element(By.XPATH, "//form[@action='/channels/"
		    "whatsapp']//button"))
		body = d.find_element(By.TAG_NAME, "body").text
		T.ok("The Free plan allows 1 channel" in body, "a second channel "
		    "is refused: the Free plan allows 1", body[:300])
		T.eq(d.find_element(By.ID, "f-access_token").get_attribute(
		    "value"), "", "the token typed is not shown again")
		T.eq(len(channel_rows(d)), 1, "still one channel")

		# Disconnect, confirmed; then WhatsApp fits.
		submit(d, d.find_element(By.XPATH, "//form[@action='/channels/"
		    "disconnect']//button"))
		T.ok("Disconnect Slack" in d.find_element(By.TAG_NAME,
		    "body").text, "disconnect asks first")
		submit(d, d.find_element(By.CSS_SELECTOR, "section.confirm "
		    "button[type='submit']"))
		T.ok("disconnected" in flash(d), "then disconnects", flash(d))
		T.eq(channel_rows(d), [], "no channel is listed")
		fill(d, "f-phone_number_id", "1055507777")
		fill(d, "f-access_token", "EAAbrowserTestToken0123456789")
		submit(d, d.find_element(By.XPATH, "//form[@action='/channels/"
		    "whatsapp']//button"))
		T.ok("Connected: Emu Business 7777" in flash(d), "WhatsApp "
		    "connects through the form", flash(d))
		d.find_element(By.CSS_SELECTOR, "details.agent-edit > "
		    "summary").click()
		to = d.find_element(By.CSS_SELECTOR, "details.agent-edit "
		    "input[name='to']")
		to.send_keys("+15550007777")
		submit(d, d.find_element(By.CSS_SELECTOR, "details.agent-edit "
		    "button[type='submit']"))
		T.ok("Test message delivered" in flash(d), "its test message is "
		    "delivered", flash(d))
		T.ok("15550007777" in emu_messages(meta), "the Graph emulator "
		    "received it")

		# /keys: an LLM key by its hint, then deleted.
		go(d, "/keys")
		Select(d.find_element(By.ID, "f-provider")).select_by_value(
		    "anthropic")
		fill(d, "f-api_key", "sk-ant-browser-test-key-wxyz")
		fill(d, "f-label", "Browser test")
		submit(d, d.find_element(By.XPATH, "//form[@action='/keys/llm']"
		    "//button"))
		T.ok("stored, encrypted" in flash(d), "an LLM key is added",
		    flash(d))
		llm = [r.text for r in rows(d, "LLM provider keys")]
		T.ok(len(llm) == 1 and "...wxyz" in llm[0] and "Anthropic" in
		    llm[0], "it is listed by its hint", llm)
		T.ok("sk-ant-browser" not in d.page_source, "the key is not on "
		    "the page")
		views(d, "keys-llm", "/keys with an LLM key")
		submit(d, d.find_element(By.XPATH, "//form[@action='/keys/llm/"
		    "delete']//button"))
		submit(d, d.find_element(By.CSS_SELECTOR, "section.confirm "
		    "button[type='submit']"))
		T.ok("deleted" in flash(d), "and deleted after a confirmation",
		    flash(d))
		T.eq([r.text for r in rows(d, "LLM provider keys")], [], "no LLM "
		    "key is listed")

		# /keys: the organization's price of a self-hosted model; a
		# price that is not one is refused at its field, kept typed.
		Select(d.find_element(By.ID, "f-price_provider")
		    ).select_by_value("custom")
		fill(d, "f-model", "browser-llama-3")
		fill(d, "f-prompt_usd", "0.2")
		fill(d, "f-completion_usd", "lots")
		submit(d, d.find_element(By.XPATH, "//form[@action='/keys/"
		    "prices']//button"))
		T.ok("US dollars per million" in d.find_element(By.ID,
		    "e-completion_usd").text, "a price in words is refused at "
		    "its field")
		T.eq(d.find_element(By.ID, "f-model").get_attribute("value"),
		    "browser-llama-3", "the model typed is kept")
		T.eq(Select(d.find_element(By.ID, "f-price_provider")
		    ).first_selected_option.get_attribute("value"), "custom",
		    "and the provider chosen")
		T.eq([r.text for r in rows(d, "Model prices")], [], "nothing "
		    "is stored")
		fill(d, "f-completion_usd", "0.6")
		submit(d, d.find_element(By.XPATH, "//form[@action='/keys/"
		    "prices']//button"))
		T.ok("price was saved" in flash(d), "a model's price is saved",
		    flash(d))
		prices = [r.text for r in rows(d, "Model prices")]
		T.ok(len(prices) == 1 and "browser-llama-3" in prices[0] and
		    "$0.2" in prices[0] and "$0.6" in prices[0], "it is listed "
		    "in dollars, cached input at the input's price", prices)
		views(d, "keys-prices", "/keys with a model's price")
		submit(d, d.find_element(By.XPATH, "//form[@action='/keys/"
		    "prices/delete']//button"))
		T.ok("Delete your price of browser-llama-3" in d.find_element(
		    By.TAG_NAME, "body").text, "deleting a price asks first")
		submit(d, d.find_element(By.CSS_SELECTOR, "section.confirm "
		    "button[type='submit']"))
		T.ok("price was deleted" in flash(d), "then deletes it",
		    flash(d))
		T.eq([r.text for r in rows(d, "Model prices")], [], "no price is "
		    "listed")

	# --- notifications: recipients and the Slack emulator's webhook,
	# a test notification, and the delivery log showing both sent.

	def step_notifications(d):
		fresh_window()
		slack = os.environ.get("SLACK_API_BASE", "")
		st, _, body = fetch_post(slack + "/_emu/webhooks",
		    {"channel": "#alerts"})
		if not T.ok(st == 200, "notifications: the Slack emulator makes "
		    "a webhook", st):
			return
		hook = json.loads(body)["url"]
		go(d, "/settings/notifications")
		T.eq(d.find_element(By.TAG_NAME, "h1").text, "Notifications",
		    "/settings/notifications is the notifications page")
		fill(d, "f-recipients", "not an address")
		submit(d, d.find_element(By.XPATH, "//form[@action='/settings/"
		    "notifications']//button[@type='submit']"))
		T.ok("not an e-mail address" in d.find_element(By.TAG_NAME,
		    "body").text, "a bad address is refused beside its field")
		rcpt = unique_email("alerts")
		fill(d, "f-recipients", rcpt)
		fill(d, "f-slack_webhook_url", hook)
		submit(d, d.find_element(By.XPATH, "//form[@action='/settings/"
		    "notifications']//button[@type='submit']"))
		T.ok("saved" in flash(d), "the settings are saved", flash(d))
		T.ok(hook not in d.page_source and hook[-4:] in d.page_source,
		    "the webhook is shown by its last characters only")
		submit(d, form_button(d, "/settings/notifications/test"))
		T.ok("on its way" in flash(d), "a test notification is queued",
		    flash(d))
		deadline = time.time() + WAIT_S
		while True:
			go(d, "/settings/notifications")
			latest = rows(d, "Delivery log")
			log = latest[0].text if latest else ""
			if (log.count(": sent") >= 2 or time.time() >= deadline):
				break
			time.sleep(0.5)
		T.ok("A test notification" in log, "the latest row of the log "
		    "is the test", log)
		T.ok("E-mail: sent" in log and "Slack: sent" in log, "the "
		    "delivery log shows it sent by e-mail and to Slack", log)
		st, _, body = fetch(slack + "/_emu/messages")
		T.ok(b"Test notification from Tollgate" in body, "the Slack "
		    "emulator received it")
		views(d, "notifications", "/settings/notifications")

	steps = [
		("sign-up errors at once", step_register_errors),
		("register", step_register),
		("logout", step_logout),
		("wrong password", step_wrong_password),
		("forgot password", step_forgot),
		("login", step_login),
		("forged csrf token", step_csrf_forged),
		("cross-site post", step_cross_site),
		("confirm the address", step_verify),
	]
	try:
		try:
			d = new_driver()
		except Exception as e:
			T.ok(False, "headless Chromium starts", e)
			return
		T.ok(True, "headless Chromium starts")
		for name, fn in steps:
			if not run_step(name, fn, d):
				if name in ("register", "login"):
					T.ok(False, "later browser steps (they need %s)" % name)
					return
		link = run_step("invite", step_invite, d)
		if link:
			d2 = new_driver()
			run_step("accept in a second profile",
			    lambda d: step_accept(d, d2, link), d)
		else:
			T.ok(False, "accept the invitation (no link to open)")
		run_step("api keys", step_keys, d)
		run_step("agents", step_agents, d)
		run_step("audit filter", step_audit_filter, d)
		run_step("pricing", step_pricing, d)
		run_step("app shell", step_shell, d)
		run_step("screenshots", step_screenshots, d)
		run_step("billing: trial, invoice, portal cancel", step_billing, d)
		run_step("usage: chart, table, meters, CSV", step_usage, d)
		run_step("channels: Slack, WhatsApp, LLM keys", step_channels, d)
		run_step("notifications: settings, test, log",
		    step_notifications, d)
	finally:
		for drv in drivers:
			try:
				drv.quit()
			except Exception:
				pass
		for p in profiles:
			shutil.rmtree(p, ignore_errors=True)


def fetch(url, headers=None):
	"""GET url (no cookies, no decoding): status, headers, body bytes."""
	req = urllib.request.Request(url, headers=dict(headers or {}))
	try:
		with urllib.request.urlopen(req, timeout=15) as resp:
			return resp.status, resp.headers, resp.read()
	except urllib.error.HTTPError as e:
		return e.code, e.headers, e.read()


def fetch_post(url, obj):
	"""POST obj as JSON to url: status, headers, body bytes."""
	req = urllib.request.Request(url, data=json.dumps(obj).encode(),
	    method="POST", headers={"Content-Type": "application/json"})
	try:
		with urllib.request.urlopen(req, timeout=15) as resp:
			return resp.status, resp.headers, resp.read()
	except urllib.error.HTTPError as e:
		return e.code, e.headers, e.read()


def api(method, path, body=None, token=None):
	"""One call to BASE/api/v1 + path, JSON both ways: status and the
	decoded answer (its text when it is not JSON)."""
	hdrs = {}
	data = None
	if body is not None:
		data = json.dumps(body).encode()
		hdrs["Content-Type"] = "application/json"
	if token is not None:
		hdrs["Authorization"] = "Bearer " + token
	req = urllib.request.Request(BASE + "/api/v1" + path, data=data,
	    method=method, headers=hdrs)
	try:
		with urllib.request.urlopen(req, timeout=30) as resp:
			st, raw = resp.status, resp.read()
	except urllib.error.HTTPError as e:
		st, raw = e.code, e.read()
	try:
		return st, json.loads(raw or b"null")
	except ValueError:
		return st, raw.decode("utf-8", "replace")


def day_label(day):
	"""A day as the portal writes one (fmt_day): "2 Dec 2026"."""
	return "%d %s %d" % (day.day, ("Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[day.month - 1],
	    day.year)


def count_label(n):
	"""A count as the portal writes one (fmt_count): "12,345"."""
	return "{:,}".format(n)


def png_magic(path):
	with open(path, "rb") as f:
		return f.read(8) == b"\x89PNG\r\n\x1a\n"


def xpath_str(s):
	if "'" not in s:
		return "'%s'" % s
	return "concat('%s')" % "', \"'\", '".join(s.split("'"))


def run_step(name, fn, *args):
	"""Run one step; an exception is one failed test, not the end."""
	try:
		r = fn(*args)
		return r if r is not None else True
	except Exception as e:
		# Selenium's messages carry the driver's native stack: keep
		# the first line, and our own frames.
		msg = (getattr(e, "msg", None) or str(e)).splitlines()
		T.ok(False, "%s: no exception" % name, "%s: %s\n%s" %
		    (type(e).__name__, msg[0] if msg else "", "".join(
		    traceback.format_tb(e.__traceback__))))
		return False


class OverBudget(BaseException):
	pass


def on_signal(signum, frame):
	# An exception, so that the finally clauses quit the browsers.
	if signum == signal.SIGALRM:
		raise OverBudget("the run took over %d s" % BUDGET_S)
	raise SystemExit("stopped by signal %d" % signum)


def main():
	t0 = time.time()
	signal.signal(signal.SIGTERM, on_signal)
	signal.signal(signal.SIGINT, on_signal)
	signal.signal(signal.SIGALRM, on_signal)
	signal.alarm(BUDGET_S)
	print("# portal at %s, screenshots in %s" % (BASE, OUT_DIR), flush=True)
	try:
		run_step("HTTP CSRF checks", http_tests)
		browser_tests()
	except OverBudget as e:
		T.ok(False, "the run finishes within its budget", e)
	signal.alarm(0)
	print("# %.1f s" % (time.time() - t0))
	T.summary("browser")
	return 1 if T.failed else 0


if __name__ == "__main__":
	sys.exit(main())
