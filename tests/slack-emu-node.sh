#!/usr/bin/env bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/slack-emu-node.sh: the Slack emulator (tests/slack-emu.py) driven
# by Slack's official Node clients, unchanged: the npm packages
# "@slack/web-api" (WebClient) and "@slack/webhook" (IncomingWebhook) at
# their latest versions, installed from the npm registry into
# $top_builddir/tests/npm-slack (reused for a day; the install and the
# rest shared with the other Node client tests in tests/npm-client.sh),
# then tests/slack-emu-node.mjs runs the checks.
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
# shellcheck source=tests/npm-client.sh
. "$top_srcdir/tests/npm-client.sh" || exit 1
NAME='slack node libraries'
CACHE=$top_builddir/tests/npm-slack
BASE=${1:-}

# --- node, npm and the libraries ----------------------------------------------

need_node
# The latest, unless this node is too old for them (@slack/web-api 8 and
# @slack/webhook 8 want node >= 20).
if [ "$(node_major)" -ge 20 ]; then
	install_packages @slack/web-api@latest @slack/webhook@latest
else
	install_packages @slack/web-api@^7 @slack/webhook@^7
fi
echo "# @slack/web-api $(package_version @slack/web-api)," \
    "@slack/webhook $(package_version @slack/webhook)"

# --- the checks ---------------------------------------------------------------

outdir=${TEST_OUTPUT_DIR:-$top_builddir/tests}
[ -d "$outdir" ] || outdir=$PWD
run_checks node "$top_srcdir/tests/slack-emu-node.mjs" "$CACHE" \
    "$top_srcdir/tests/slack-emu.py" "$outdir/slack-emu-node.emu.log" \
    ${BASE:+"$BASE"}
