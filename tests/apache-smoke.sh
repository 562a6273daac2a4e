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

# A value for the replacement side of sed s|||.
sed_value() {
	printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}
sed -e "s|@PORT@|$port|g" \
    -e "s|@SOCKET@|$(sed_value "$TOLLGATE_SOCKET")|g" \
    -e "s|@STATIC_DIR@|$(sed_value "$static_dir")|g" \
    -e "s|@LOGDIR@|$(sed_value "$logdir")|g" \
    -e "s|@RUNDIR@|$(sed_value "$adir/run")|g" \
    "$template" >"$conf"

errlog=$logdir/apache-error.log
: >"$errlog"	# only this run's lines, for the diagnostics below
if ! "$APACHE2" -t -f "$conf" >"$tmp/configtest" 2>&1; then
	notok "apache2 accepts the generated configuration" \
	    "$(tr '\n' ' ' <"$tmp/configtest")"
	echo "apache smoke: $npass passed, $nfail failed"
	exit 1
fi
ok "apache2 accepts the generated configuration ($conf)"

started=no
if "$APACHE2" -f "$conf" -k start >"$tmp/start" 2>&1; then
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
	why="Cache-Control: $(header css Cache-Control)"
	check "GET /static/tollgate.css is cacheable for long" \
	    test -n "$(header css Cache-Control | grep -E 'max-age=[0-9]{7,}')"
	expect_header css X-Content-Type-Options nosniff "/static/tollgate.css"
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

if [ $nfail -gt 0 ]; then
	echo "# apache error log ($errlog), last lines:"
	tail -n 10 "$errlog" 2>/dev/null | sed 's/^/#   /' || true
fi
echo "1..$n"
echo "apache smoke: $npass passed, $nfail failed"
[ $nfail -eq 0 ]
