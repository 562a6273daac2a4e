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
# and the same way: the npm package "openai" from the npm registry in
# $top_builddir/tests/npm-openai, reused for a day; with node 22 or later
# openai@latest, with node 20 or 21 openai@^6, older openai@^4.  An
# install is serialised with flock on a .lock file in that directory.
#
# Prints "ok N - what" / "not ok N - what" per check, then
# "llm gateway node client: N passed, N failed" (the line ./dev test
# counts) and last "llm-gateway-node: N checks passed" (or "..., N
# failed"); exits non-zero if anything failed.  Nothing is skipped: node
# and npm are installed with apt-get when missing (as root; otherwise the
# test fails saying so), and a failed npm install is a failure.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
NAME='llm gateway node client'
CACHE=$top_builddir/tests/npm-openai
MAX_AGE_MIN=1440		# reinstall after a day

fail() {
	printf 'not ok 1 - %s\n' "$*"
	printf '%s: 0 passed, 1 failed\n' "$NAME"
	printf 'llm-gateway-node: 0 checks passed, 1 failed\n'
	exit 1
}

for v in TOLLGATE_URL TOLLGATE_OWNER_DATABASE_URL LLM_EMU_URL; do
	[ -n "${!v:-}" ] ||
		fail "$v is not set: run with a stack's stack.env exported"
done

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

# tests/llm-emu-node.sh's install, when its install is not fresh.
install_client() {
	local spec=$1 stamp=$CACHE/installed-specs
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$spec" ] &&
	    [ -f "$CACHE/node_modules/openai/package.json" ] &&
	    [ -z "$(find "$stamp" -mmin +$MAX_AGE_MIN)" ]; then
		echo "# reusing $CACHE (installed less than a day ago)"
		return 0
	fi
	echo "# npm install $spec into $CACHE"
	# Its own cache under the build tree: HOME may be read-only or shared.
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
}

# --- node, npm and the client ---------------------------------------------------

need_node
echo "# node $(node --version), npm $(npm --version 2>/dev/null)"
spec=$(package_spec)
mkdir -p "$CACHE" || fail "cannot create $CACHE"
exec 8>"$CACHE/.lock" || fail "cannot open $CACHE/.lock"
flock -w 300 8 || fail "another install holds $CACHE/.lock"
install_client "$spec"
exec 8>&-
[ -f "$CACHE/node_modules/openai/package.json" ] ||
	fail "no openai package under $CACHE"
echo "# openai $(node -p "require('$CACHE/node_modules/openai/package.json').version")"

# --- the checks ---------------------------------------------------------------

# Loopback only: a proxy from the environment must not see these requests.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
# The SDK reads these; the checks pass what they mean explicitly.
unset OPENAI_API_KEY OPENAI_BASE_URL OPENAI_ORG_ID OPENAI_PROJECT_ID \
    OPENAI_LOG 2>/dev/null
out=$(mktemp) || fail 'mktemp failed'
trap 'rm -f "$out"' EXIT
timeout 120 node "$top_srcdir/tests/llm-gateway-node.mjs" "$CACHE" |
	tee "$out"
rc=${PIPESTATUS[0]}
# A crash before the summary line still ends with one that counts it.
if ! grep -q "^$NAME: [0-9]* passed, [0-9]* failed" "$out"; then
	ok=$(grep -c '^ok ' "$out")
	bad=$(grep -c '^not ok ' "$out")
	printf 'not ok %d - node exited (status %d) before the end\n' \
	    $((ok + bad + 1)) "$rc"
	printf '%s: %d passed, %d failed\n' "$NAME" "$ok" $((bad + 1))
	printf 'llm-gateway-node: %d checks passed, %d failed\n' "$ok" \
	    $((bad + 1))
	exit 1
fi
exit "$rc"
