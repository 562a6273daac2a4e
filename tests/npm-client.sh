# shellcheck shell=bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/npm-client.sh: what the tests that drive an official Node client
# (tests/stripe-emu-node.sh, tests/slack-emu-node.sh,
# tests/llm-emu-node.sh, tests/llm-gateway-node.sh) share: node and npm
# installed when missing, the client installed from the npm registry into
# a directory of its own under the build tree and reused for a day, and
# the checks run so that the output always ends with the summary line
# ./dev test counts.  Sourced, not run; it sets no shell options (the
# caller's set -u holds) and runs nothing until called.
#
# The caller sets, before calling anything here:
#   NAME   the summary line's name: "$NAME: N passed, N failed"
#   CACHE  the install directory, e.g. $top_builddir/tests/npm-stripe
#   TALLY  (optional) a second, last summary line's name:
#          "$TALLY: N checks passed, N failed" (the llm tests print one)
#
# The functions:
#   summary PASSED FAILED  prints the summary line (and TALLY's)
#   fail MESSAGE...        prints "not ok 1 - MESSAGE" and the summary
#                          line(s) counting that one failure; exits 1
#   need_node              installs node and npm with apt-get when
#                          missing (as root; otherwise fails), then
#                          prints "# node V, npm V"
#   node_major             prints node's major version, e.g. 20
#   openai_spec            prints the openai package this node can run
#   install_packages [--or-installed] SPEC...
#                          npm installs SPEC... (name@version) into
#                          $CACHE unless the same SPECs went in there less
#                          than a day ago; fails when npm does, or with
#                          --or-installed goes on with the packages
#                          already there if there are any; then fails if
#                          a package is missing.  A flock on $CACHE/.lock
#                          serialises it: two tests may share a CACHE.
#   package_version NAME   prints an installed package's version
#   run_checks COMMAND...  runs COMMAND (the node checks), with no proxy
#                          for loopback, its output teed; when it ends
#                          without the summary line (a crash) adds a
#                          failure and the line; exits with COMMAND's
#                          status (1 after a crash)

# The tests want the current client: reinstalled after a day.
MAX_AGE_MIN=1440

# The summary line, and TALLY's after it: ./dev test counts only lines
# of lower-case words, so the second one (with a '-') is not counted twice.
summary() {
	printf '%s: %d passed, %d failed\n' "$NAME" "$1" "$2"
	if [ -n "${TALLY:-}" ]; then
		printf '%s: %d checks passed, %d failed\n' "$TALLY" "$1" "$2"
	fi
}

fail() {
	printf 'not ok 1 - %s\n' "$*"
	summary 0 1
	exit 1
}

# Installs what is missing, nodejs first: NodeSource's nodejs brings
# npm (and conflicts with Debian's), Debian's does not.  That is also
# why ./dev's package list names neither.
need_node() {
	local want='' pkg
	command -v node >/dev/null 2>&1 || want=nodejs
	command -v npm >/dev/null 2>&1 || want="${want:+$want }npm"
	if [ -n "$want" ]; then
		if [ "${EUID:-$(id -u)}" -ne 0 ]; then
			fail "node or npm missing: install $want as root" \
			    "(sudo apt-get install $want)"
		fi
		for pkg in $want; do
			[ "$pkg" = npm ] && command -v npm >/dev/null 2>&1 &&
				continue
			echo "# installing $pkg with apt-get"
			DEBIAN_FRONTEND=noninteractive apt-get -q -y \
			    --no-install-recommends -o DPkg::Lock::Timeout=300 \
			    install "$pkg" >&2 || fail "apt-get install $pkg failed"
		done
		if ! command -v node >/dev/null 2>&1 ||
		    ! command -v npm >/dev/null 2>&1; then
			fail 'node or npm still missing after apt-get'
		fi
	fi
	echo "# node $(node --version), npm $(npm --version 2>/dev/null)"
}

node_major() {
	node -p 'process.versions.node.split(".")[0]'
}

# The latest openai wants node 22 or later (its package.json says so):
# with node 20 or 21 the newest 6.x, with an older node (Debian 12 ships
# 18) the newest 4.x.
openai_spec() {
	local major
	major=$(node_major)
	if [ "$major" -ge 22 ]; then
		echo 'openai@latest'
	elif [ "$major" -ge 20 ]; then
		echo 'openai@^6'
	else
		echo 'openai@^4'
	fi
}

# Whether every package of SPEC... (name@version) is in $CACHE.
have_packages() {
	local spec
	for spec; do
		[ -f "$CACHE/node_modules/${spec%@*}/package.json" ] || return 1
	done
}

# The install itself, under the lock.  $CACHE/installed-specs says what
# went in and when: npm leaves an up-to-date package's files alone, so
# their age says nothing.
install_fresh() {
	local keep=$1 stamp=$CACHE/installed-specs
	shift
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$*" ] &&
	    have_packages "$@" &&
	    [ -z "$(find "$stamp" -mmin +$MAX_AGE_MIN)" ]; then
		echo "# reusing $CACHE (installed less than a day ago)"
		return 0
	fi
	echo "# npm install $* into $CACHE"
	# Its own cache under the build tree: HOME may be read-only or shared.
	if npm install --no-audit --no-fund --no-update-notifier \
	    --cache "$CACHE/.npm-cache" --prefix "$CACHE" "$@" >&2; then
		printf '%s\n' "$*" >"$stamp"
	elif [ -n "$keep" ] && have_packages "$@"; then
		# Offline with a usable install: go on with what is there.
		echo "# npm install failed; using the ${*%@*} already in $CACHE"
	else
		fail "npm install $* failed (is the npm registry reachable?)"
	fi
}

install_packages() {
	local keep='' spec
	if [ "${1:-}" = --or-installed ]; then
		keep=1
		shift
	fi
	mkdir -p "$CACHE" || fail "cannot create $CACHE"
	# Two tests sharing a CACHE (llm-emu-node, llm-gateway-node) may run
	# at once under make -j: one npm at a time in a directory.
	exec 8>"$CACHE/.lock" || fail "cannot open $CACHE/.lock"
	flock -w 300 8 || fail "another install holds $CACHE/.lock"
	install_fresh "$keep" "$@"
	exec 8>&-
	for spec; do
		have_packages "$spec" || fail "no ${spec%@*} package under $CACHE"
	done
}

package_version() {
	node -p "require('$CACHE/node_modules/$1/package.json').version"
}

run_checks() {
	local rc ok bad
	# Loopback only: a proxy from the environment must not see these
	# requests.
	export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
	checks_out=$(mktemp) || fail 'mktemp failed'
	trap 'rm -f "$checks_out"' EXIT
	"$@" | tee "$checks_out"
	rc=${PIPESTATUS[0]}
	# A crash before the summary line still ends with one that counts it.
	if ! grep -q "^$NAME: [0-9]* passed, [0-9]* failed" "$checks_out"; then
		ok=$(grep -c '^ok ' "$checks_out")
		bad=$(grep -c '^not ok ' "$checks_out")
		printf 'not ok %d - node exited (status %d) before the end\n' \
		    $((ok + bad + 1)) "$rc"
		summary "$ok" $((bad + 1))
		exit 1
	fi
	exit "$rc"
}
