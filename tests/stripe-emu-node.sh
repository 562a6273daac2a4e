#!/usr/bin/env bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/stripe-emu-node.sh: the Stripe emulator (tests/stripe-emu.py)
# driven by Stripe's current official Node library, unchanged: the npm
# package "stripe" at its latest version, installed from the npm registry
# into $top_builddir/tests/npm-stripe (reused for a day), then
# tests/stripe-emu-node.mjs runs the checks.
#
#   tests/stripe-emu-node.sh        (make check runs it; no arguments)
#
# Prints "ok N - what" / "not ok N - what" per check and last
# "stripe node library: N passed, N failed" (the line ./dev test counts);
# exits non-zero if anything failed.  Nothing is skipped: node and npm are
# installed with apt-get when missing (as root; otherwise the test fails
# saying so), and a failed npm install is a failure.
#
# Node comes from Debian's nodejs and npm packages, or from NodeSource's
# nodejs, which carries npm itself and conflicts with Debian's npm: that
# is why ./dev's package list names neither and this script installs only
# what is missing.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
NAME='stripe node library'
CACHE=$top_builddir/tests/npm-stripe
MAX_AGE_MIN=1440		# reinstall stripe@latest after a day

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

# --- node and npm -------------------------------------------------------------

need_node
echo "# node $(node --version), npm $(npm --version 2>/dev/null)"

# --- the library --------------------------------------------------------------

pkg=$CACHE/node_modules/stripe/package.json
if [ -f "$pkg" ] && [ -z "$(find "$pkg" -mmin +$MAX_AGE_MIN)" ]; then
	echo "# reusing $CACHE (installed less than a day ago)"
else
	mkdir -p "$CACHE" || fail "cannot create $CACHE"
	echo "# npm install stripe@latest into $CACHE"
	# Its own cache under the build tree: HOME may be read-only or shared.
	if ! npm install --no-audit --no-fund --no-update-notifier \
	    --cache "$CACHE/.npm-cache" --prefix "$CACHE" stripe@latest >&2; then
		fail 'npm install stripe@latest failed (is registry.npmjs.org' \
		    'reachable?)'
	fi
	touch "$pkg"
fi
[ -f "$pkg" ] || fail "no stripe package under $CACHE"
echo "# stripe $(node -p "const p = require('$pkg'); p.version +
    ' (engines: node ' + (p.engines?.node || 'any') + ')'")"

# --- the checks ---------------------------------------------------------------

outdir=${TEST_OUTPUT_DIR:-$top_builddir/tests}
[ -d "$outdir" ] || outdir=$PWD
# Loopback only: a proxy from the environment must not see these requests.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
out=$(mktemp) || fail 'mktemp failed'
trap 'rm -f "$out"' EXIT
node "$top_srcdir/tests/stripe-emu-node.mjs" "$CACHE" \
    "$top_srcdir/tests/stripe-emu.py" "$outdir/stripe-emu-node.emu.log" |
	tee "$out"
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
