#!/usr/bin/env bash
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/integration.sh: the integration tests of `make check`.  Starts a
# private stack (PostgreSQL, tollgate serve and work, lighttpd) in a
# temporary directory with tests/stack.sh, exports its stack.env, runs
# every integration program tests/it-* of the build tree, then
# tests/apache-smoke.sh and tests/llm-gateway-node.sh (OpenAI's Node
# client through the LLM gateway), and always stops the stack again.
# Every program runs even when an earlier one failed, so one run shows
# all results.
#
# Environment: top_srcdir, top_builddir (absolute; automake sets both),
# STACK_HTTP_PORT (default: the first free port from 18180 on),
# STACK_PG_PORT (55480), IT_TIMEOUT (seconds per program, 600),
# TOLLGATE_IT_KEEP=1 to keep the stack directory.
# Exit status: 0 when everything passed, 1 otherwise.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-$PWD}
STACK_PG_PORT=${STACK_PG_PORT:-55480}
IT_TIMEOUT=${IT_TIMEOUT:-600}

say() { printf 'integration: %s\n' "$*"; }

stack_dir=
stack_up=
failed=0
results=()

# The end of a log, to explain a failure without a second run.
show_log() {
	local name=$1 file=${2:-}
	[ -n "$file" ] && [ -s "$file" ] || return 0
	printf -- '--- last 50 lines of the %s log (%s) ---\n' "$name" "$file"
	tail -n 50 "$file"
}

# A sanitizer report in a responder, the master or the worker fails the
# run, even when every request was answered: the master replaces a
# responder that died, so the clients alone would not notice.  Run after
# the stack is down, so reports written at exit are seen too.
check_sanitizers() {
	local san
	san=$(grep -hE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' \
	    "${TOLLGATE_LOG:-/dev/null}" "${WORKER_LOG:-/dev/null}" \
	    2>/dev/null | head -n 5 || true)
	if [ -n "$san" ]; then
		printf '\n=== sanitizer reports in the server logs ===\n%s\n' \
		    "$san"
		results+=("FAIL: sanitizer report in the tollgate or worker log")
		failed=1
	else
		results+=("PASS: no sanitizer report in the server logs")
	fi
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	# A failure in this script itself (set -e) counts as a failure.
	[ "$rc" -eq 0 ] || failed=1
	if [ "$failed" -ne 0 ] && [ -n "$stack_up" ]; then
		show_log tollgate "${TOLLGATE_LOG:-}"
		show_log lighttpd "${LIGHTTPD_LOG:-}"
	fi
	if [ -n "$stack_dir" ]; then
		(cd "$top_srcdir" && tests/stack.sh down "$stack_dir") ||
			say "warning: tests/stack.sh down failed"
		[ -z "$stack_up" ] || check_sanitizers
		if [ "${TOLLGATE_IT_KEEP:-}" = 1 ]; then
			say "stack directory kept: $stack_dir"
		else
			rm -rf "$stack_dir"
		fi
	fi
	if [ "${#results[@]}" -gt 0 ]; then
		say "summary:"
		printf '  %s\n' "${results[@]}"
	fi
	if [ "$failed" -ne 0 ]; then
		say "FAILED"
		exit 1
	fi
	say "all passed"
	exit 0
}
trap finish EXIT
trap 'say "interrupted"; failed=1; exit 1' INT TERM

# Run one program; its output goes straight to the log of this test.
run() {
	local name=$1 rc=0
	shift
	printf '\n=== %s ===\n' "$name"
	timeout -k 10 "$IT_TIMEOUT" "$@" </dev/null 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		results+=("PASS: $name")
	else
		[ "$rc" -ne 124 ] || say "$name: killed after ${IT_TIMEOUT}s"
		results+=("FAIL: $name (exit $rc)")
		failed=1
	fi
}

[ -x "$top_builddir/tollgate" ] ||
	{ say "no tollgate binary in $top_builddir (run make first)"; exit 1; }

# lighttpd needs a TCP port: the one asked for, or the first free one
# from 18180 on, so that two checkouts can run make check side by side.
# PostgreSQL listens only on a unix socket in the stack directory, so its
# port number cannot collide.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -n "${STACK_HTTP_PORT:-}" ]; then
	if port_busy "$STACK_HTTP_PORT"; then
		say "port $STACK_HTTP_PORT (STACK_HTTP_PORT) is in use"
		exit 1
	fi
else
	STACK_HTTP_PORT=18180
	while port_busy "$STACK_HTTP_PORT"; do
		STACK_HTTP_PORT=$((STACK_HTTP_PORT + 1))
		if [ "$STACK_HTTP_PORT" -ge 18230 ]; then
			say "no free port in 18180-18229: set STACK_HTTP_PORT"
			exit 1
		fi
	done
fi
export STACK_HTTP_PORT STACK_PG_PORT

# In ASan builds, let an impossible allocation return NULL as glibc's
# malloc does in production: libfcgi then aborts on a crafted PARAMS
# record the way it does there (the case SPEC 12 describes, and
# it-resilience provokes), instead of ASan reporting its own error.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1}

# Every parent must be traversable by postgres and www-data: /tmp is.
stack_dir=$(mktemp -d /tmp/tollgate-it.XXXXXX)
chmod 755 "$stack_dir"
say "stack in $stack_dir (http $STACK_HTTP_PORT, postgres $STACK_PG_PORT)"
if ! (cd "$top_srcdir" &&
    TOLLGATE_BIN=$top_builddir/tollgate tests/stack.sh up "$stack_dir"); then
	say "tests/stack.sh up failed"
	# The logs exist even though stack.env may not.
	TOLLGATE_LOG=$stack_dir/log/tollgate.log
	LIGHTTPD_LOG=$stack_dir/log/lighttpd-error.log
	stack_up=1
	exit 1
fi
stack_up=1

set -a
# shellcheck disable=SC1091
. "$stack_dir/stack.env"
set +a
export TOLLGATE_SRCDIR=$top_srcdir top_srcdir top_builddir

# In name order, but it-resilience last: it kills responders, stops
# PostgreSQL and reloads the master, and the others need not see that.
programs=()
last=()
for f in "$top_builddir"/tests/it-*; do
	case ${f##*/} in
	*.*) continue ;;	# it-util.o, it-basic.c in an in-tree build
	esac
	if [ ! -f "$f" ] || [ ! -x "$f" ]; then continue; fi
	case ${f##*/} in
	it-resilience) last+=("$f") ;;
	*) programs+=("$f") ;;
	esac
done
programs+=(${last[@]+"${last[@]}"})
if [ "${#programs[@]}" -eq 0 ]; then
	say "no integration programs in $top_builddir/tests" \
	    "(make check builds them)"
	failed=1
	exit 1
fi
for f in "${programs[@]}"; do
	run "${f##*/}" "$f"
done

# The portal in a real browser (headless Chromium driven by selenium;
# Debian's python3-selenium, hence /usr/bin/python3).
browser=$top_srcdir/tests/browser-portal.py
if [ -f "$browser" ]; then
	export TEST_OUTPUT_DIR=${TEST_OUTPUT_DIR:-$top_builddir/tests/screenshots}
	mkdir -p "$TEST_OUTPUT_DIR"
	run browser-portal.py /usr/bin/python3 "$browser"
else
	say "NOTE: $browser is missing: browser test not run"
	results+=("NOT RUN: browser-portal.py (missing)")
	failed=1
fi

smoke=$top_srcdir/tests/apache-smoke.sh
if [ -f "$smoke" ] && [ -x "$smoke" ]; then
	run apache-smoke.sh "$smoke"
else
	say "NOTE: $smoke is missing or not executable:" \
	    "Apache smoke test not run"
	results+=("NOT RUN: apache-smoke.sh (missing)")
fi

# OpenAI's official Node client (npm's openai, installed as
# tests/llm-emu-node.sh does) through this stack's LLM gateway.
gwnode=$top_srcdir/tests/llm-gateway-node.sh
if [ -f "$gwnode" ] && [ -x "$gwnode" ]; then
	run llm-gateway-node.sh "$gwnode"
else
	say "NOTE: $gwnode is missing or not executable:" \
	    "LLM gateway node client not run"
	results+=("NOT RUN: llm-gateway-node.sh (missing)")
	failed=1
fi

