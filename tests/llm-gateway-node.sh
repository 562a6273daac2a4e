#!/usr/bin/env bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/llm-gateway-node.sh: Tollgate's LLM gateway driven through a real
# stack by OpenAI's official Node client, unchanged but for its baseURL
# (<TOLLGATE_URL>/api/v1/llm) and apiKey (a Tollgate API key with the llm
# scope): tests/llm-gateway-node.mjs runs the checks.
#
#   (set -a; . DIR/stack.env; set +a; tests/llm-gateway-node.sh)
#
# tests/integration.sh runs it against its stack, stack.env exported.
# It needs TOLLGATE_URL, TOLLGATE_OWNER_DATABASE_URL, PG_BIN and
# LLM_EMU_URL; the organization, keys and API keys it uses are its own.
# It sets the stack's emulator's stream delay for the run and restores it.
#
# The client is the one tests/llm-emu-node.sh installs, in the same place
# and the same way (tests/npm-client.sh): the npm package "openai" from
# the npm registry in $top_builddir/tests/npm-openai, reused for a day;
# with node 22 or later openai@latest, with node 20 or 21 openai@^6,
# older openai@^4.  An install is serialised with flock on a .lock file
# in that directory.
#
# Prints "ok N - what" / "not ok N - what" per check, then
# "llm gateway node client: N passed, N failed" (the line ./dev test
# counts) and last "llm-gateway-node: N checks passed" (or "..., N
# failed"); exits non-zero if anything failed.  Nothing is skipped: node
# and npm are installed with apt-get when missing (as root; otherwise the
# test fails saying so), and a failed npm install is a failure unless an
# earlier install is there to go on with (offline).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
# shellcheck source=tests/npm-client.sh
. "$top_srcdir/tests/npm-client.sh" || exit 1
NAME='llm gateway node client'
TALLY=llm-gateway-node
CACHE=$top_builddir/tests/npm-openai

for v in TOLLGATE_URL TOLLGATE_OWNER_DATABASE_URL LLM_EMU_URL; do
	[ -n "${!v:-}" ] ||
		fail "$v is not set: run with a stack's stack.env exported"
done

# --- node, npm and the client -------------------------------------------------

need_node
install_packages --or-installed "$(openai_spec)"
echo "# openai $(package_version openai)"

# --- the checks ---------------------------------------------------------------

# The SDK reads these; the checks pass what they mean explicitly.
unset OPENAI_API_KEY OPENAI_BASE_URL OPENAI_ORG_ID OPENAI_PROJECT_ID \
    OPENAI_LOG 2>/dev/null
run_checks timeout 120 node "$top_srcdir/tests/llm-gateway-node.mjs" "$CACHE"
