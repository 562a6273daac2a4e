#!/bin/bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# Apache smoke test: Apache 2.4 with mod_proxy_fcgi in front of a running
# Tollgate stack, configured from httpd-conf/apache-dev.conf.in.
#
# Called by tests/integration.sh with the stack's variables exported:
#	TOLLGATE_SOCKET	the FastCGI socket of the running tollgate serve
#	STACK_DIR	the stack's private directory (apache.conf goes there)
#	TOLLGATE_SRCDIR or top_srcdir	the source tree (default: ..)
#	APACHE_PORT	first port to try on 127.0.0.1 (default 18081; the
#			next free one is taken if it is busy)
#	TOLLGATE_URL, LIGHTTPD_ACCESS_LOG, LIGHTTPD_LOG	the stack's lighttpd,
#			whose access log is checked for secrets too
# Prints one TAP line per assertion and a closing count; exits 1 if any
# assertion failed. Apache is always stopped on the way out.
set -eu

srcdir=${TOLLGATE_SRCDIR:-${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}}
: "${TOLLGATE_SOCKET:?TOLLGATE_SOCKET is not set (run from tests/integration.sh)}"
: "${STACK_DIR:?STACK_DIR is not set (run from tests/integration.sh)}"
APACHE2=${APACHE2:-/usr/sbin/apache2}
template=$srcdir/httpd-conf/apache-dev.conf.in
conf=$STACK_DIR/apache.conf
adir=$STACK_DIR/apache		# run-time files, scratch, a static copy
tmp=$adir/tmp
# The logs go beside the stack's other logs (tests/stack.sh: log/).
logdir=$STACK_DIR/log
[ -d "$logdir" ] || logdir=$adir

npass=0
nfail=0

n=0

ok() {
	n=$((n + 1)); npass=$((npass + 1))
	echo "ok $n - $1"
}
notok() {
	n=$((n + 1)); nfail=$((nfail + 1))
	echo "not ok $n - $1"
	shift
	for line in "$@"; do
		echo "#   $line"
	done
}
# check DESCRIPTION COMMAND...: one assertion from a command's status.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else notok "$what" "${why:-}"; fi
	why=
}
why=

# A missing tool is installed (Debian, as root) or the run fails: no
# assertion is skipped because a package is absent.
need() {
	local cmd=$1 pkg=$2
	[ -x "$cmd" ] || command -v "$cmd" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "# installing $pkg"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" \
		    >"$adir/apt.log" 2>&1 ||
		    { echo "Bail out! apt-get install $pkg failed"; exit 1; }
		# The package starts the system's own Apache: stop it, it
		# would hold port 80 and play no part in this test.
		[ "$pkg" = apache2 ] && { service apache2 stop >/dev/null 2>&1 || true; }
		return 0
	fi
	echo "Bail out! $cmd not found: apt-get install $pkg"
	exit 1
}

mkdir -p "$adir/run" "$tmp"
need "$APACHE2" apache2
need curl curl
[ -f "$template" ] || { echo "Bail out! no $template"; exit 1; }
[ -S "$TOLLGATE_SOCKET" ] ||
    { echo "Bail out! $TOLLGATE_SOCKET is not a socket (is the stack up?)"; exit 1; }

# Is anything listening on 127.0.0.1:$1?
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
port=${APACHE_PORT:-18081}
last=$((port + 50))
while port_busy "$port"; do
	port=$((port + 1))
	[ "$port" -le "$last" ] ||
	    { echo "Bail out! no free port from ${APACHE_PORT:-18081} to $last"; exit 1; }
done

apache_pid=
stop_apache() {

	[ -f "$conf" ] && [ -f "$adir/run/apache.pid" ] || return 0
	apache_pid=$(cat "$adir/run/apache.pid" 2>/dev/null || true)
	"$APACHE2" -f "$conf" -k stop >/dev/null 2>&1 || true
	# -k stop only signals: wait for the parent (and so its children)
	# to be gone, so that nothing is left running after the test.
	for _ in $(seq 1 100); do
		[ -n "$apache_pid" ] && kill -0 "$apache_pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$apache_pid" 2>/dev/null || true
}
finish() {
	local rc=$?
	stop_apache
	exit $rc
}
trap finish EXIT
trap 'exit 1' INT TERM HUP

# Apache's children run as www-data, as in production: they must be able
# to reach the socket (mode 0660, group www-data, every directory above it
# searchable) and read the static files. Directories inside the stack are
# opened for search here; anything above it is reported, not changed.
as_www() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u www-data -- "$@" 2>/dev/null
	else
		"$@"	# Apache keeps the user who starts it
	fi
}
if ! as_www test -w "$TOLLGATE_SOCKET"; then
	d=$(dirname "$TOLLGATE_SOCKET")
	stack_real=$(cd "$STACK_DIR" && pwd -P)
	while [ "$d" != / ]; do
		d_real=$(cd "$d" && pwd -P)
		case $d_real/ in
		"$stack_real"/*) chmod o+x "$d" ;;
		*) break ;;
		esac
		d=$(dirname "$d")
	done
fi
blocker=
d=$(dirname "$TOLLGATE_SOCKET")
while [ "$d" != / ]; do
	as_www test -x "$d" || blocker=$d
	d=$(dirname "$d")
done
why="www-data cannot open $TOLLGATE_SOCKET ($(stat -c '%U:%G %a' "$TOLLGATE_SOCKET"))${blocker:+; $blocker is not searchable by www-data}: the master must make it group www-data, mode 0660"
check "www-data (Apache's user) can reach the FastCGI socket" \
    as_www test -w "$TOLLGATE_SOCKET"

static_dir=$srcdir/static
if ! as_www test -r "$static_dir/." || ! as_www test -x "$static_dir"; then
	# The source tree is not readable by www-data (a home directory,
	# say): serve a copy from the stack instead.
	rm -rf "$adir/static"
	cp -R "$static_dir" "$adir/static"
	chmod -R a+rX "$adir/static"
	chmod o+x "$STACK_DIR" "$adir"
	static_dir=$adir/static
fi

# fetch NAME CURL-ARGS...: status in $status, headers in $tmp/NAME.h,
# body in $tmp/NAME.b.
status=
fetch() {
	local name=$1
	shift
	status=$(curl -sS --max-time 20 -o "$tmp/$name.b" -D "$tmp/$name.h" \
	    -w '%{http_code}' "$@" 2>"$tmp/$name.err") || status=000
}
# Header value (last one), without the CR.
header() {
	grep -i "^$2:" "$tmp/$1.h" | tail -n 1 | cut -d: -f2- |
	    sed -e 's/^[[:space:]]*//' -e 's/\r$//'
}
header_count() {
	grep -c -i "^$2:" "$tmp/$1.h" || true
}
body_has() {
	grep -q -E "$2" "$tmp/$1.b"
}
# The start of a body on one line, for a diagnostic.
snippet() {
	head -c "${2:-300}" "$tmp/$1.b" 2>/dev/null | tr -c '[:print:]' ' '
}
seen() {
	echo "got HTTP $status: $(snippet "$1")$(tr '\n' ' ' <"$tmp/$1.err" 2>/dev/null)"
}
# A body without its request id, which differs on every request.
sans_request_id() {
	sed -e 's/"request_id"[[:space:]]*:[[:space:]]*"[^"]*"//g' "$tmp/$1.b"
}

# --- Secrets in URLs and the access logs ----------------------------------
#
# Invitation links are <public URL>/invite/<token>; password-reset and
# e-mail verification links will be /reset/<token> and /verify/<token>.
# Whoever reads a web server's access log must not be able to take them
# over: the shipped configurations log a redacted request line for those
# prefixes, and the log files are not readable by other users.

# A fresh 43-character token (url-safe base64 of 32 bytes, as the
# application's), so no earlier run's line can match.
new_token() {
	head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='
}
# log_probe_wait FILE MARK NEEDLE: wait until NEEDLE appears in what FILE
# gained after byte MARK (lighttpd buffers its access log for a few
# seconds), then leave that part in $tmp/log.new.  Status 1 on timeout.
log_probe_wait() {
	local file=$1 mark=$2 needle=$3
	for _ in $(seq 1 150); do
		tail -c "+$((mark + 1))" "$file" 2>/dev/null >"$tmp/log.new" || true
		grep -q -F -- "$needle" "$tmp/log.new" && return 0
		sleep 0.1
	done
	return 1
}
# A file's mode must give "other" nothing (the last octal digit is 0).
no_other_bits() {
	local mode
	mode=$(stat -c %a "$1" 2>/dev/null) || return 1
	[ "${mode: -1}" = 0 ]
}
# secret_urls_check NAME BASE ACCESS_LOG ERROR_LOG: requests secret URLs
# and a harmless probe through the server at BASE, then checks its access
# log: the probe's path is there (the log is really written), no token is,
# the redacted lines are, and neither log is readable by "other".
secret_urls_check() {
	local name=$1 url=$2 log=$3 errlog=$4 mark probe tok leaked=
	local t_inv t_inv2 t_pct t_reset t_verify t_ref
	t_inv=$(new_token) t_inv2=$(new_token) t_pct=$(new_token)
	t_reset=$(new_token) t_verify=$(new_token) t_ref=$(new_token)
	probe=/api/v1/accesslog-probe-$(new_token | tr -dc 'a-zA-Z0-9' | head -c 12)
	if [ ! -f "$log" ]; then
		notok "$name: access log $log exists"
		return 0
	fi
	mark=$(stat -c %s "$log")
	fetch secret-get "$url/invite/$t_inv"
	fetch secret-getq "$url/invite/$t_inv2?from=mail"
	# %69 is "i": the servers decode it before routing.
	fetch secret-pct --path-as-is "$url/%69nvite/$t_pct"
	fetch secret-post -H "Origin: $url" -H "Referer: $url/invite/$t_inv" \
	    --data-urlencode 'name=Probe' --data-urlencode 'password=probe-probe-probe' \
	    "$url/invite/$t_inv"
	fetch secret-reset "$url/reset/$t_reset"
	fetch secret-reset-post --data-urlencode 'password=probe-probe-probe' \
	    "$url/reset/$t_reset"
	fetch secret-verify "$url/verify/$t_verify"
	# A page's own resources carry it in Referer (Referrer-Policy
	# same-origin sends the whole URL to the same origin).
	fetch secret-ref -H "Referer: $url/verify/$t_ref" "$url/static/tollgate.css"
	fetch secret-probe "$url$probe"
	why="$probe not found in $log within 15 s of the request"
	check "$name: the access log is written ($probe is in it)" \
	    log_probe_wait "$log" "$mark" "$probe"
	for tok in "$t_inv" "$t_inv2" "$t_pct" "$t_reset" "$t_verify" "$t_ref"; do
		if grep -q -F -- "$tok" "$tmp/log.new"; then
			leaked="$leaked$(grep -F -- "$tok" "$tmp/log.new" | head -n 3 | tr '\n' ' ')"
		fi
	done
	why="token(s) in the log: $leaked"
	check "$name: no /invite/, /reset/ or /verify/ token in the access log" \
	    test -z "$leaked"
	why="want 7 lines for /invite/, /reset/ and /verify/ without their token; the new part of the log: $(tail -n 9 "$tmp/log.new" | tr '\n' ' ')"
	check "$name: requests to /invite/, /reset/, /verify/ are still logged" \
	    test "$(grep -c -E '/(invite|reset|verify)/' "$tmp/log.new" || true)" -ge 7
	why="mode $(stat -c '%a %U:%G' "$log" 2>/dev/null)"
	check "$name: the access log is not readable by other users" \
	    no_other_bits "$log"
	why="mode $(stat -c '%a %U:%G' "$errlog" 2>/dev/null)"
	check "$name: the error log is not readable by other users" \
	    no_other_bits "$errlog"
}

# The stack's lighttpd (tests/stack.sh, httpd-conf/lighttpd-dev.conf.in).
if [ -n "${TOLLGATE_URL:-}" ] && [ -n "${LIGHTTPD_ACCESS_LOG:-}" ]; then
	secret_urls_check lighttpd "$TOLLGATE_URL" "$LIGHTTPD_ACCESS_LOG" \
	    "${LIGHTTPD_LOG:-$(dirname "$LIGHTTPD_ACCESS_LOG")/lighttpd-error.log}"
else
	why="TOLLGATE_URL and LIGHTTPD_ACCESS_LOG come from the stack's stack.env"
	check "lighttpd: the stack's access log is known" false
fi

# A value for the replacement side of sed s|||.
sed_value() {
	printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}
sed -e "s|@PORT@|$port|g" \
    -e "s|@SOCKET@|$(sed_value "$TOLLGATE_SOCKET")|g" \
    -e "s|@GATEWAY_SOCKET@|$(sed_value "$TOLLGATE_GATEWAY_SOCKET")|g" \
    -e "s|@STATIC_DIR@|$(sed_value "$static_dir")|g" \
    -e "s|@LOGDIR@|$(sed_value "$logdir")|g" \
    -e "s|@RUNDIR@|$(sed_value "$adir/run")|g" \
    "$template" >"$conf"

errlog=$logdir/apache-error.log
accesslog=$logdir/apache-access.log
: >"$errlog"	# only this run's lines, for the diagnostics below
# Both logs hold what URLs and headers carried: no access for other users.
# Apache appends to an existing log as it is and creates a missing one
# with its umask, hence the files made here and umask 027 at the start.
touch "$accesslog"
chmod 0640 "$errlog" "$accesslog"
if ! "$APACHE2" -t -f "$conf" >"$tmp/configtest" 2>&1; then
	notok "apache2 accepts the generated configuration" \
	    "$(tr '\n' ' ' <"$tmp/configtest")"
	echo "apache smoke: $npass passed, $nfail failed"
	exit 1
fi
ok "apache2 accepts the generated configuration ($conf)"

started=no
if (umask 027 && exec "$APACHE2" -f "$conf" -k start) >"$tmp/start" 2>&1; then
	for _ in $(seq 1 100); do
		if port_busy "$port"; then started=yes; break; fi
		sleep 0.1
	done
fi
if [ $started = no ]; then
	notok "apache2 starts on 127.0.0.1:$port" \
	    "$(tr '\n' ' ' <"$tmp/start")" \
	    "$(tail -n 5 "$errlog" 2>/dev/null | tr '\n' ' ')"
	echo "apache smoke: $npass passed, $nfail failed"
	exit 1
fi
ok "apache2 starts on 127.0.0.1:$port"

base=http://127.0.0.1:$port
# The application through Apache.
fetch health "$base/api/v1/health"
why=$(seen health)
check "GET /api/v1/health answers 200" test "$status" = 200
why=$(seen health)
check "GET /api/v1/health body has \"status\":\"ok\"" \
    body_has health '"status"[[:space:]]*:[[:space:]]*"ok"'
why="no X-Request-Id header in the response"
check "GET /api/v1/health carries X-Request-Id" \
    test -n "$(header health X-Request-Id)"

fetch nope "$base/api/v1/nope"
why=$(seen nope)
check "GET /api/v1/nope answers 404" test "$status" = 404
why=$(seen nope)
check "GET /api/v1/nope body has \"type\":\"invalid_request_error\"" \
    body_has nope '"type"[[:space:]]*:[[:space:]]*"invalid_request_error"'

# Security headers: present once each (the server's value replaces any
# copy from the application).
expect_header() {
	local name=$1 hdr=$2 want=$3 count
	count=$(header_count "$name" "$hdr")
	why="$hdr: seen $count time(s), last value '$(header "$name" "$hdr")', want one containing '$want'"
	if [ "$count" = 1 ] && header "$name" "$hdr" | grep -q -F -- "$want"; then
		ok "$4 has $hdr: $want"
	else
		notok "$4 has $hdr: $want" "$why"
	fi
	why=
}
expect_header health X-Content-Type-Options nosniff "/api/v1/health"
expect_header health Referrer-Policy same-origin "/api/v1/health"
expect_header health X-Frame-Options DENY "/api/v1/health"
expect_header health Content-Security-Policy "frame-ancestors 'none'" "/api/v1/health"
expect_header nope Content-Security-Policy "default-src 'self'" "404 from the application"

# The billing page may redirect a form post to Stripe (here: the loopback
# emulator), so its policy names those origins in form-action.
fetch billing "$base/billing"
expect_header billing Content-Security-Policy "form-action 'self' http://127.0.0.1:*" "/billing"

# Static files come from Apache itself, not from the application.
css=$srcdir/static/tollgate.css
if [ -f "$css" ]; then
	fetch css "$base/static/tollgate.css"
	why=$(seen css)
	check "GET /static/tollgate.css answers 200" test "$status" = 200
	why="the body differs from $css"
	check "GET /static/tollgate.css is the file on disk" \
	    cmp -s "$tmp/css.b" "$css"
	why="X-Request-Id: $(header css X-Request-Id) (the application answered)"
	check "GET /static/tollgate.css is served by Apache, not the application" \
	    test -z "$(header css X-Request-Id)"
	# A versioned URL (?v=, the file's hash: what the templates link)
	# is kept for a year; a bare one is revalidated.
	why="Cache-Control: $(header css Cache-Control)"
	check "GET /static/tollgate.css without v= is revalidated (no-cache)" \
	    test "$(header css Cache-Control)" = no-cache
	fetch cssv "$base/static/tollgate.css?v=0123456789abcdef"
	why="Cache-Control: $(header cssv Cache-Control)"
	check "GET /static/tollgate.css?v= is cached for a year, immutable" \
	    test -n "$(header cssv Cache-Control | grep -E 'max-age=31536000, immutable')"
	expect_header css X-Content-Type-Options nosniff "/static/tollgate.css"
	expect_header cssv Content-Security-Policy "default-src 'self'" "/static/tollgate.css?v="
	# Compressed for a client that takes gzip (curl does not decode it
	# without --compressed: the body is the gzip stream).
	fetch cssgz -H 'Accept-Encoding: gzip' "$base/static/tollgate.css?v=1"
	why="Content-Encoding: '$(header cssgz Content-Encoding)', status $status"
	check "GET /static/tollgate.css with Accept-Encoding: gzip is gzipped" \
	    test "$(header cssgz Content-Encoding)" = gzip
	why="the gzip stream does not unpack to $css"
	check "the gzipped stylesheet unpacks to the file on disk" \
	    sh -c 'gzip -dc "$1" | cmp -s - "$2"' sh "$tmp/cssgz.b" "$css"
else
	why="$css is missing from the source tree"
	check "GET /static/tollgate.css served by Apache" false
fi

# The Authorization header must reach the application (Apache drops it
# unless CGIPassAuth is on). /auth/me needs a token: without one the
# application says the token is missing, with a bad one that it is
# invalid (RFC 6750: error="invalid_token"), so the two answers differ.
fetch noauth "$base/api/v1/auth/me"
noauth_status=$status
fetch auth -H 'Authorization: Bearer x' "$base/api/v1/auth/me"
if [ "$status" = 401 ] && [ "$noauth_status" = 401 ] &&
    { header auth WWW-Authenticate | grep -q invalid_token ||
      [ "$(sans_request_id auth)" != "$(sans_request_id noauth)" ]; }; then
	ok "Authorization: Bearer reaches the application"
else
	notok "Authorization: Bearer reaches the application" \
	    "without the header: HTTP $noauth_status $(snippet noauth 200)" \
	    "with Bearer x: HTTP $status $(snippet auth 200)" \
	    "want 401 and either WWW-Authenticate with invalid_token or another error than for no token"
fi

# Request bodies: above the application's 1 MiB but under the server's
# 2 MiB the application answers (its JSON, its request id); above 2 MiB
# Apache refuses the body itself; a body without a length is refused.
head -c 1572864 /dev/zero | tr '\0' ' ' >"$tmp/body-1.5M"
head -c 3145728 /dev/zero | tr '\0' ' ' >"$tmp/body-3M"
fetch mid -H 'Content-Type: application/json' --data-binary @"$tmp/body-1.5M" \
    "$base/api/v1/usage/events"
why="$(seen mid) (a 5xx without X-Request-Id means Apache lost the application, e.g. it closed without reading the body)"
check "a 1.5 MiB body reaches the application (not a 5xx, has X-Request-Id)" \
    test -n "$(header mid X-Request-Id)" -a "${status#5}" = "$status"
fetch big -H 'Content-Type: application/json' --data-binary @"$tmp/body-3M" \
    "$base/api/v1/usage/events"
why="$(seen big) X-Request-Id: $(header big X-Request-Id)"
check "a 3 MiB body is refused by Apache with 413" \
    test "$status" = 413 -a -z "$(header big X-Request-Id)"
fetch chunked -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary '{"events":[]}' "$base/api/v1/usage/events"
why=$(seen chunked)
check "a body without Content-Length is refused with 411" test "$status" = 411

# The LLM gateway through Apache: its own ProxyPass with flushpackets=on,
# so a streamed completion reaches the client event by event (the LLM
# emulator waits about 50 ms between events): the first and the last
# event arrive far apart, not together at the end as when buffered.
if [ -f "$STACK_DIR/demo-llm.env" ]; then
	# shellcheck disable=SC1091
	. "$STACK_DIR/demo-llm.env"
	curl -sSN --max-time 30 "$base/api/v1/llm/chat/completions" \
	    -H "Authorization: Bearer $TOLLGATE_DEMO_LLM_KEY" \
	    -H 'Content-Type: application/json' \
	    -d '{"model":"emu-gpt-small","stream":true,"messages":[{"role":"user","content":"through apache"}]}' \
	    2>"$tmp/stream.err" | while IFS= read -r line; do
		case $line in
		data:*) printf '%s %s\n' "$(date +%s%3N)" "${line:0:40}" ;;
		esac
	done >"$tmp/stream.t"
	events=$(wc -l <"$tmp/stream.t")
	first=$(head -n 1 "$tmp/stream.t" | cut -d' ' -f1)
	last=$(tail -n 1 "$tmp/stream.t" | cut -d' ' -f1)
	spread=$(( ${last:-0} - ${first:-0} ))
	why="$events events over $spread ms; last: $(tail -n 1 "$tmp/stream.t" | cut -d' ' -f2-) $(head -c 200 "$tmp/stream.err")"
	check "a streamed completion through Apache ends with [DONE]" \
	    grep -q 'data: \[DONE\]' "$tmp/stream.t"
	check "its events arrive one by one (at least 300 ms from first to last)" \
	    test "$events" -ge 5 -a "$spread" -ge 300
else
	ok "no demo gateway key in the stack: the streaming check is skipped"
fi

# The same checks on Apache's access log.
secret_urls_check apache "$base" "$accesslog" "$errlog"

if [ $nfail -gt 0 ]; then
	echo "# apache error log ($errlog), last lines:"
	tail -n 10 "$errlog" 2>/dev/null | sed 's/^/#   /' || true
fi
echo "1..$n"
echo "apache smoke: $npass passed, $nfail failed"
[ $nfail -eq 0 ]
