#!/usr/bin/env bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/slack-emu-node.sh: the Slack emulator (tests/slack-emu.py) driven
# by Slack's official Node clients, unchanged: the npm packages
# "@slack/web-api" (WebClient) and "@slack/webhook" (IncomingWebhook) at
# their latest versions, installed from the npm registry into
# $top_builddir/tests/npm-slack (reused for a day), then
# tests/slack-emu-node.mjs runs the checks.
#
#   tests/slack-emu-node.sh         (make check runs it; no arguments)
#   tests/slack-emu-node.sh BASE    drive a running emulator instead, e.g.
#                                   a stack's: set -a; . DIR/stack.env;
#                                   set +a; tests/slack-emu-node.sh
#                                   "$SLACK_API_BASE"
#
# Without BASE it starts its own emulator on a free loopback port with a
# fresh client id and secret and a state file of its own, and stops it
# at the end.  With BASE the client id and secret come from
# SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, and the checks that need an
# emulator of their own (fault injection, restart, its log) are left out,
# saying so: they would disturb whoever else uses it.
#
# Prints "ok N - what" / "not ok N - what" per check and last
# "slack node libraries: N passed, N failed" (the line ./dev test counts);
# exits non-zero if anything failed.  Nothing is skipped: node and npm are
# installed with apt-get when missing (as root; otherwise the test fails
# saying so), and a failed npm install is a failure.  The current
# libraries want node 20 or later; with an older node (Debian 12 ships
# 18) the newest release line that supports it is installed instead.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
NAME='slack node libraries'
CACHE=$top_builddir/tests/npm-slack
MAX_AGE_MIN=1440		# reinstall @latest after a day
BASE=${1:-}

fail() {
	printf 'not ok 1 - %s\n' "$*"
	printf '%s: 0 passed, 1 failed\n' "$NAME"
	exit 1
}

# Installs what is missing, nodejs first: NodeSource's nodejs brings
# npm (and conflicts with Debian's), Debian's does not.
need_node() {
	local want=''
	command -v node >/dev/null 2>&1 || want=nodejs
	command -v npm >/dev/null 2>&1 || want="${want:+$want }npm"
	[ -n "$want" ] || return 0
	if [ "${EUID:-$(id -u)}" -ne 0 ]; then
		fail "node or npm missing: install $want as root" \
		    "(sudo apt-get install $want)"
	fi
	for pkg in $want; do
		[ "$pkg" = npm ] && command -v npm >/dev/null 2>&1 && continue
		echo "# installing $pkg with apt-get"
		DEBIAN_FRONTEND=noninteractive apt-get -q -y \
		    --no-install-recommends -o DPkg::Lock::Timeout=300 \
		    install "$pkg" >&2 || fail "apt-get install $pkg failed"
	done
	if ! command -v node >/dev/null 2>&1 ||
	    ! command -v npm >/dev/null 2>&1; then
		fail 'node or npm still missing after apt-get'
	fi
}

# The versions to install: the latest, unless this node is too old for
# them (@slack/web-api 8 and @slack/webhook 8 want node >= 20).
package_specs() {
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	if [ "$major" -ge 20 ]; then
		echo '@slack/web-api@latest @slack/webhook@latest'
	else
		echo '@slack/web-api@^7 @slack/webhook@^7'
	fi
}

# --- node and npm -------------------------------------------------------------

need_node
echo "# node $(node --version), npm $(npm --version 2>/dev/null)"

# --- the libraries ------------------------------------------------------------

specs=$(package_specs)
stamp=$CACHE/installed-specs
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$specs" ] &&
    [ -z "$(find "$stamp" -mmin +$MAX_AGE_MIN)" ]; then
	echo "# reusing $CACHE (installed less than a day ago)"
else
	mkdir -p "$CACHE" || fail "cannot create $CACHE"
	echo "# npm install $specs into $CACHE"
	# Its own cache under the build tree: HOME may be read-only or shared.
	# shellcheck disable=SC2086  # one word per package
	if ! npm install --no-audit --no-fund --no-update-notifier \
	    --cache "$CACHE/.npm-cache" --prefix "$CACHE" $specs >&2; then
		fail "npm install $specs failed (is registry.npmjs.org reachable?)"
	fi
	printf '%s\n' "$specs" >"$stamp"
fi
for pkg in web-api webhook; do
	[ -f "$CACHE/node_modules/@slack/$pkg/package.json" ] ||
		fail "no @slack/$pkg package under $CACHE"
done
echo "# @slack/web-api $(node -p "require('$CACHE/node_modules/@slack/web-api/package.json').version")," \
    "@slack/webhook $(node -p "require('$CACHE/node_modules/@slack/webhook/package.json').version")"

# --- the checks ---------------------------------------------------------------

outdir=${TEST_OUTPUT_DIR:-$top_builddir/tests}
[ -d "$outdir" ] || outdir=$PWD
# Loopback only: a proxy from the environment must not see these requests.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
out=$(mktemp) || fail 'mktemp failed'
trap 'rm -f "$out"' EXIT
node "$top_srcdir/tests/slack-emu-node.mjs" "$CACHE" \
    "$top_srcdir/tests/slack-emu.py" "$outdir/slack-emu-node.emu.log" \
    ${BASE:+"$BASE"} | tee "$out"
rc=${PIPESTATUS[0]}
# A crash before the summary line still ends with one that counts it.
if ! grep -q "^$NAME: [0-9]* passed, [0-9]* failed" "$out"; then
	ok=$(grep -c '^ok ' "$out")
	bad=$(grep -c '^not ok ' "$out")
	printf 'not ok %d - node exited (status %d) before the end\n' \
	    $((ok + bad + 1)) "$rc"
	printf '%s: %d passed, %d failed\n' "$NAME" "$ok" $((bad + 1))
	exit 1
fi
exit "$rc"
