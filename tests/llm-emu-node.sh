#!/usr/bin/env bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/llm-emu-node.sh: the LLM provider emulator (tests/llm-emu.py)
# driven by OpenAI's official Node client, unchanged: the npm package
# "openai", installed from the npm registry into
# $top_builddir/tests/npm-openai (reused for a day; the install and the
# rest shared with the other Node client tests in tests/npm-client.sh),
# then tests/llm-emu-node.mjs runs the checks (and a few of the
# Anthropic-shaped routes with plain fetch).
#
#   tests/llm-emu-node.sh           (make check runs it; no arguments)
#
# It starts its own emulator on a free loopback port with a state file of
# its own, and stops it at the end: the checks revoke keys and queue
# faults, which would disturb whoever else uses a stack's emulator.
#
# Prints "ok N - what" / "not ok N - what" per check, then
# "llm emulator node client: N passed, N failed" (the line ./dev test
# counts) and last "llm-emu-node: N checks passed" (or "..., N failed");
# exits non-zero if anything failed.  Nothing is skipped: node and npm
# are installed with apt-get when missing (as root; otherwise the test
# fails saying so), and a failed npm install is a failure unless an
# earlier install is there to go on with (offline).
#
# Which openai: the latest wants node 22 or later (its package.json says
# so); with node 20 or 21 the newest 6.x is installed, with an older node
# (Debian 12 ships 18) the newest 4.x.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
# shellcheck source=tests/npm-client.sh
. "$top_srcdir/tests/npm-client.sh" || exit 1
NAME='llm emulator node client'
TALLY=llm-emu-node
CACHE=$top_builddir/tests/npm-openai

# --- node, npm and the client -------------------------------------------------

need_node
# (Its peers, zod, ws and the AWS signer, are optional: not installed.)
install_packages --or-installed "$(openai_spec)"
echo "# openai $(package_version openai)"

# --- the checks ---------------------------------------------------------------

outdir=${TEST_OUTPUT_DIR:-$top_builddir/tests}
[ -d "$outdir" ] || outdir=$PWD
# The SDK reads these; the checks pass what they mean explicitly.
unset OPENAI_API_KEY OPENAI_BASE_URL OPENAI_ORG_ID OPENAI_PROJECT_ID \
    OPENAI_LOG 2>/dev/null
run_checks timeout 120 node "$top_srcdir/tests/llm-emu-node.mjs" "$CACHE" \
    "$top_srcdir/tests/llm-emu.py" "$outdir/llm-emu-node.emu.log"
