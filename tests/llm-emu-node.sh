#!/usr/bin/env bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/llm-emu-node.sh: the LLM provider emulator (tests/llm-emu.py)
# driven by OpenAI's official Node client, unchanged: the npm package
# "openai", installed from the npm registry into
# $top_builddir/tests/npm-openai (reused for a day), then
# tests/llm-emu-node.mjs runs the checks (and a few of the
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
# fails saying so), and a failed npm install is a failure.
#
# Which openai: the latest wants node 22 or later (its package.json says
# so); with node 20 or 21 the newest 6.x is installed, with an older node
# (Debian 12 ships 18) the newest 4.x.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
NAME='llm emulator node client'
CACHE=$top_builddir/tests/npm-openai
MAX_AGE_MIN=1440		# reinstall after a day

fail() {
	printf 'not ok 1 - %s\n' "$*"
	printf '%s: 0 passed, 1 failed\n' "$NAME"
	printf 'llm-emu-node: 0 checks passed, 1 failed\n'
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

# The version to install: the latest, unless this node is too old for it.
package_spec() {
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	if [ "$major" -ge 22 ]; then
		echo 'openai@latest'
	elif [ "$major" -ge 20 ]; then
		echo 'openai@^6'
	else
		echo 'openai@^4'
	fi
}

# --- node and npm -------------------------------------------------------------

need_node
echo "# node $(node --version), npm $(npm --version 2>/dev/null)"

# --- the client ---------------------------------------------------------------

spec=$(package_spec)
stamp=$CACHE/installed-specs
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$spec" ] &&
    [ -f "$CACHE/node_modules/openai/package.json" ] &&
    [ -z "$(find "$stamp" -mmin +$MAX_AGE_MIN)" ]; then
	echo "# reusing $CACHE (installed less than a day ago)"
else
	mkdir -p "$CACHE" || fail "cannot create $CACHE"
	echo "# npm install $spec into $CACHE"
	# Its own cache under the build tree: HOME may be read-only or shared.
	# (Its peers, zod, ws and the AWS signer, are optional: not installed.)
	if ! npm install --no-audit --no-fund --no-update-notifier \
	    --cache "$CACHE/.npm-cache" --prefix "$CACHE" "$spec" >&2; then
		# Offline with a usable install: go on with what is there.
		if [ -f "$CACHE/node_modules/openai/package.json" ]; then
			echo "# npm install failed; using the openai already in $CACHE"
		else
			fail "npm install $spec failed (is the npm registry reachable?)"
		fi
	else
		printf '%s\n' "$spec" >"$stamp"
	fi
fi
[ -f "$CACHE/node_modules/openai/package.json" ] ||
	fail "no openai package under $CACHE"
echo "# openai $(node -p "require('$CACHE/node_modules/openai/package.json').version")"

# --- the checks ---------------------------------------------------------------

outdir=${TEST_OUTPUT_DIR:-$top_builddir/tests}
[ -d "$outdir" ] || outdir=$PWD
# Loopback only: a proxy from the environment must not see these requests.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
# The SDK reads these; the checks pass what they mean explicitly.
unset OPENAI_API_KEY OPENAI_BASE_URL OPENAI_ORG_ID OPENAI_PROJECT_ID \
    OPENAI_LOG 2>/dev/null
out=$(mktemp) || fail 'mktemp failed'
trap 'rm -f "$out"' EXIT
timeout 120 node "$top_srcdir/tests/llm-emu-node.mjs" "$CACHE" \
    "$top_srcdir/tests/llm-emu.py" "$outdir/llm-emu-node.emu.log" | tee "$out"
rc=${PIPESTATUS[0]}
# A crash before the summary line still ends with one that counts it.
if ! grep -q "^$NAME: [0-9]* passed, [0-9]* failed" "$out"; then
	ok=$(grep -c '^ok ' "$out")
	bad=$(grep -c '^not ok ' "$out")
	printf 'not ok %d - node exited (status %d) before the end\n' \
	    $((ok + bad + 1)) "$rc"
	printf '%s: %d passed, %d failed\n' "$NAME" "$ok" $((bad + 1))
	printf 'llm-emu-node: %d checks passed, %d failed\n' "$ok" $((bad + 1))
	exit 1
fi
exit "$rc"
