#!/usr/bin/env bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/stripe-emu-node.sh: the Stripe emulator (tests/stripe-emu.py)
# driven by Stripe's current official Node library, unchanged: the npm
# package "stripe" at its latest version, installed from the npm registry
# into $top_builddir/tests/npm-stripe (reused for a day; the install and
# the rest shared with the other Node client tests in tests/npm-client.sh),
# then tests/stripe-emu-node.mjs runs the checks.
#
#   tests/stripe-emu-node.sh        (make check runs it; no arguments)
#
# Prints "ok N - what" / "not ok N - what" per check and last
# "stripe node library: N passed, N failed" (the line ./dev test counts);
# exits non-zero if anything failed.  Nothing is skipped: node and npm are
# installed with apt-get when missing (as root; otherwise the test fails
# saying so), and a failed npm install is a failure.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
# shellcheck source=tests/npm-client.sh
. "$top_srcdir/tests/npm-client.sh" || exit 1
NAME='stripe node library'
CACHE=$top_builddir/tests/npm-stripe

# --- node, npm and the library ------------------------------------------------

need_node
install_packages stripe@latest
pkg=$CACHE/node_modules/stripe/package.json
echo "# stripe $(node -p "const p = require('$pkg'); p.version +
    ' (engines: node ' + (p.engines?.node || 'any') + ')'")"

# --- the checks ---------------------------------------------------------------

outdir=${TEST_OUTPUT_DIR:-$top_builddir/tests}
[ -d "$outdir" ] || outdir=$PWD
run_checks node "$top_srcdir/tests/stripe-emu-node.mjs" "$CACHE" \
    "$top_srcdir/tests/stripe-emu.py" "$outdir/stripe-emu-node.emu.log"
