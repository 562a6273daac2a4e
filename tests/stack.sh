#!/usr/bin/env bash
# tests/stack.sh: start, inspect and stop one private Tollgate stack
# (PostgreSQL 15, `tollgate serve`, `tollgate work`, lighttpd, the SMTP
# sink, the Stripe, Slack, Meta and S3 emulators) that lives entirely in
# one directory.  `./dev up` uses it for var/, the integration tests use it
# for a directory of their own, so both can run side by side.
#
#   tests/stack.sh up DIR         start what is not running yet, reuse the rest
#   tests/stack.sh down DIR       stop everything; fine if already stopped
#   tests/stack.sh pg-stop DIR    stop PostgreSQL only (failure tests)
#   tests/stack.sh pg-start DIR   start PostgreSQL only
#   tests/stack.sh smtp-stop DIR  stop the SMTP sink only (failure tests)
#   tests/stack.sh smtp-start DIR start the SMTP sink only
#   tests/stack.sh stripe-stop DIR   stop the Stripe emulator only
#   tests/stack.sh stripe-start DIR  start the Stripe emulator only
#   tests/stack.sh slack-stop DIR    stop the Slack emulator only
#   tests/stack.sh slack-start DIR   start the Slack emulator only
#   tests/stack.sh meta-stop DIR     stop the Meta emulator only
#   tests/stack.sh meta-start DIR    start the Meta emulator only
#   tests/stack.sh llm-stop DIR      stop the LLM emulator only
#   tests/stack.sh llm-start DIR     start the LLM emulator only
#   tests/stack.sh s3-stop DIR       stop the S3 emulator only
#   tests/stack.sh s3-start DIR      start the S3 emulator only
#   tests/stack.sh work-stop DIR     stop the worker (tollgate work) only
#   tests/stack.sh work-start DIR    start the worker only
#   tests/stack.sh status DIR     one line per component; exit 3 if any is down
#   tests/stack.sh storage-backend DIR fs|s3
#                                 tollgate's storage backend: recorded in
#                                 stack.env, serve and work restarted
#
# Inputs from the environment (up): TOLLGATE_BIN (required the first time),
# STACK_HTTP_PORT (8080), STACK_PG_PORT (55432), STACK_SMTP_PORT (the HTTP
# port + 1000), STACK_STRIPE_PORT (the HTTP port + 2000),
# STACK_SLACK_PORT (the HTTP port + 3000), STACK_META_PORT (the HTTP port
# + 4000), STACK_S3_PORT (the HTTP port + 5000), STACK_STORAGE_BACKEND
# (fs or s3; fs), TOLLGATE_SRCDIR (the parent of this script's
# directory).  A later call without them reuses the values recorded in
# DIR/stack.env, so `pg-start` brings PostgreSQL back on the port the
# running stack expects.
#
# Layout of DIR: pg/ (cluster), run/ (sockets and pid files), log/, mail/
# (one file per message the SMTP sink received), stripe-emu.json,
# slack-emu.json, meta-emu.json and s3-emu.json (the emulators' data),
# s3-emu/ (the objects the S3 emulator holds), storage/ (tollgate's
# objects with the fs backend), secrets.env (generated once), stack.env
# (everything a client needs), lighttpd.conf.
set -eu

PG_BIN=/usr/lib/postgresql/15/bin
LIGHTTPD=/usr/sbin/lighttpd
# The emulators are standard-library scripts; Debian's interpreter, not
# whatever python3 comes first in PATH (a pyenv shim, a virtualenv).
PYTHON=/usr/bin/python3
DEFAULT_HTTP_PORT=8080
DEFAULT_PG_PORT=55432
# The bucket and region tollgate finds at the S3 emulator.
S3_BUCKET=tollgate-test
S3_REGION=us-east-1

say() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

usage() {
	cat >&2 <<-EOF
	usage: $0 up|down|pg-start|pg-stop|smtp-start|smtp-stop|stripe-start|stripe-stop|slack-start|slack-stop|meta-start|meta-stop|llm-start|llm-stop|s3-start|s3-stop|work-start|work-stop|status DIR
	       $0 storage-backend DIR fs|s3
	  DIR is an absolute directory (created by up if missing).
	EOF
	exit 2
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# initdb, pg_ctl and postgres refuse to run as root, so as root the cluster
# belongs to the `postgres` account the Debian package creates.  cd / first:
# the caller's directory (often /root) may be unreadable for that account.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Sleep in tenths of a second until a command succeeds; fail after
# $1 tenths.  Polling keeps the script free of fixed, too-long sleeps.
wait_until() {
	local tenths=$1
	shift
	while ! "$@" 2>/dev/null; do
		tenths=$((tenths - 1))
		[ "$tenths" -gt 0 ] || return 1
		sleep 0.1
	done
}

# Values are written single-quoted so that `. stack.env` never expands or
# splits anything; an embedded ' becomes '\''.
shell_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
kv() { printf '%s=%s\n' "$1" "$(shell_quote "$2")"; }

# The value of KEY as recorded in an env file written by kv(), or nothing.
# Read in a subshell so the file cannot change this script's variables.
recorded() {
	local file=$1 key=$2
	[ -r "$file" ] || return 0
	# shellcheck disable=SC1090
	(set +u; . "$file"; printf '%s' "${!key-}")
}

# --- processes ------------------------------------------------------------

# A pid is alive when it exists and is not a zombie: a child we started
# that already died stays a zombie until reaped, and kill -0 succeeds on it.
pid_alive() {
	local state
	kill -0 "$1" 2>/dev/null || return 1
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $state in Z*) return 1 ;; esac
}

# The live pid recorded in a pid file, if its command line still contains
# PATTERN.  The check matters after a reboot: a stale pid file may name an
# unrelated process that now owns that pid, and `down` must not kill it.
pidfile_pid() {
	local file=$1 pattern=$2 pid
	[ -s "$file" ] || return 1
	read -r pid <"$file" || true
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	pid_alive "$pid" || return 1
	if [ -r "/proc/$pid/cmdline" ]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern" ||
			return 1
	fi
	printf '%s\n' "$pid"
}

# Is any live (non-zombie) process left in process group $1?
group_alive() {
	ps -e -o pgid=,stat= |
		awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# Stop what a pid file names: SIGTERM, up to $4 seconds of grace, then
# SIGKILL.  Daemons are started with setsid, so the pid leads a process
# group that also holds its children (the prefork responders): the wait
# covers the whole group and the SIGKILL goes to the whole group.
stop_pidfile() {
	local name=$1 file=$2 pattern=$3 grace=$4 pid target
	if ! pid=$(pidfile_pid "$file" "$pattern"); then
		rm -f "$file"
		say "$name: not running"
		return 0
	fi
	# Only the master gets SIGTERM: it stops its responders itself.
	kill -TERM "$pid" 2>/dev/null || true
	if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
		target=-$pid
		gone() { ! group_alive "$pid"; }
	else
		target=$pid
		gone() { ! pid_alive "$pid"; }
	fi
	if wait_until "$((grace * 10))" gone; then
		say "$name: stopped (pid $pid)"
	else
		kill -KILL -- "$target" 2>/dev/null || true
		wait_until 50 gone || true
		say "$name: killed after ${grace}s (pid $pid)"
	fi
	rm -f "$file"
}

# Print the end of a log to stderr, to explain a failure on the spot.
# With an offset (from log_size), only what was written since: the logs
# are appended to across runs and an old failure would mislead.
show_log() {
	local file=$1 offset=${2:-0}
	[ -s "$file" ] || return 0
	printf -- '--- last lines of %s ---\n' "$file" >&2
	tail -c "+$((offset + 1))" "$file" | tail -n 20 >&2
}

log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# --- settings -------------------------------------------------------------

# Everything below derives paths from DIR.  They end up in libpq connection
# strings, a pg_ctl -o string and lighttpd.conf, none of which has one
# quoting rule for all; a plain path keeps all three correct.
set_paths() {
	STACK_DIR=$1
	case $STACK_DIR in
	/*) ;;
	*) die "DIR must be an absolute path: $STACK_DIR" ;;
	esac
	case $STACK_DIR in
	*[!A-Za-z0-9_./+-]*) die "DIR may only hold letters, digits and _./+-: $STACK_DIR" ;;
	esac
	STACK_DIR=${STACK_DIR%/}
	PG_DATA=$STACK_DIR/pg
	RUN_DIR=$STACK_DIR/run
	LOG_DIR=$STACK_DIR/log
	ENV_FILE=$STACK_DIR/stack.env
	SECRETS_FILE=$STACK_DIR/secrets.env
	LIGHTTPD_CONF=$STACK_DIR/lighttpd.conf
	# tollgate serve's own directory: it drops to www-data and must
	# still be able to remove its socket and pid file when it stops.
	TG_RUN_DIR=$RUN_DIR/tollgate
	SOCKET=$TG_RUN_DIR/tollgate.sock
	GATEWAY_SOCKET=$TG_RUN_DIR/gateway.sock
	TOLLGATE_PIDFILE=$TG_RUN_DIR/tollgate.pid
	WORKER_PIDFILE=$RUN_DIR/worker.pid
	LIGHTTPD_PIDFILE=$RUN_DIR/lighttpd.pid
	SMTP_PIDFILE=$RUN_DIR/smtp-sink.pid
	MAIL_DIR=$STACK_DIR/mail
	POSTGRES_LOG=$LOG_DIR/postgres.log
	TOLLGATE_LOG=$LOG_DIR/tollgate.log
	WORKER_LOG=$LOG_DIR/worker.log
	LIGHTTPD_LOG=$LOG_DIR/lighttpd-error.log
	LIGHTTPD_ACCESS_LOG=$LOG_DIR/lighttpd-access.log
	SMTP_LOG=$LOG_DIR/smtp-sink.log
	# What the sink's command line holds: the pid file path is unique to
	# this stack, so pidfile_pid never takes another stack's sink for ours.
	SMTP_PATTERN="smtp-sink.py --pidfile $SMTP_PIDFILE"
	STRIPE_PIDFILE=$RUN_DIR/stripe-emu.pid
	STRIPE_LOG=$LOG_DIR/stripe-emu.log
	STRIPE_STATE=$STACK_DIR/stripe-emu.json
	STRIPE_PATTERN="stripe-emu.py --pidfile $STRIPE_PIDFILE"
	SLACK_PIDFILE=$RUN_DIR/slack-emu.pid
	SLACK_LOG=$LOG_DIR/slack-emu.log
	SLACK_STATE=$STACK_DIR/slack-emu.json
	SLACK_PATTERN="slack-emu.py --pidfile $SLACK_PIDFILE"
	META_PIDFILE=$RUN_DIR/meta-emu.pid
	META_LOG=$LOG_DIR/meta-emu.log
	META_STATE=$STACK_DIR/meta-emu.json
	META_PATTERN="meta-emu.py --pidfile $META_PIDFILE"
	S3_PIDFILE=$RUN_DIR/s3-emu.pid
	S3_LOG=$LOG_DIR/s3-emu.log
	S3_STATE=$STACK_DIR/s3-emu.json
	S3_DATA_DIR=$STACK_DIR/s3-emu
	S3_PATTERN="s3-emu.py --pidfile $S3_PIDFILE"
	LLM_PIDFILE=$RUN_DIR/llm-emu.pid
	LLM_LOG=$LOG_DIR/llm-emu.log
	LLM_STATE=$STACK_DIR/llm-emu.json
	LLM_PATTERN="llm-emu.py --pidfile $LLM_PIDFILE"
	STORAGE_DIR=$STACK_DIR/storage
}

# The environment wins, then what the last `up` recorded, then the default.
set_ports() {
	HTTP_PORT=${STACK_HTTP_PORT:-$(recorded "$ENV_FILE" STACK_HTTP_PORT)}
	HTTP_PORT=${HTTP_PORT:-$DEFAULT_HTTP_PORT}
	PG_PORT=${STACK_PG_PORT:-$(recorded "$ENV_FILE" STACK_PG_PORT)}
	PG_PORT=${PG_PORT:-$DEFAULT_PG_PORT}
	case $HTTP_PORT$PG_PORT in
	*[!0-9]*) die "ports must be numbers: http $HTTP_PORT, pg $PG_PORT" ;;
	esac
	# The SMTP port follows a newly given HTTP port rather than the
	# recorded one, so that one variable moves a whole stack.
	if [ -n "${STACK_SMTP_PORT:-}" ]; then
		SMTP_PORT=$STACK_SMTP_PORT
	elif [ -n "${STACK_HTTP_PORT:-}" ]; then
		SMTP_PORT=$((HTTP_PORT + 1000))
	else
		SMTP_PORT=$(recorded "$ENV_FILE" STACK_SMTP_PORT)
		SMTP_PORT=${SMTP_PORT:-$((HTTP_PORT + 1000))}
	fi
	case $SMTP_PORT in
	'' | *[!0-9]*) die "STACK_SMTP_PORT must be a number: $SMTP_PORT" ;;
	esac
	if [ "$SMTP_PORT" -lt 1 ] || [ "$SMTP_PORT" -gt 65535 ]; then
		die "SMTP port out of range: $SMTP_PORT (set STACK_SMTP_PORT)"
	fi
	# The Stripe emulator's port moves with the HTTP port in the same way.
	STRIPE_PORT=${STACK_STRIPE_PORT:-}
	if [ -z "$STRIPE_PORT" ] && [ -z "${STACK_HTTP_PORT:-}" ]; then
		STRIPE_PORT=$(recorded "$ENV_FILE" STACK_STRIPE_PORT)
	fi
	STRIPE_PORT=${STRIPE_PORT:-$((HTTP_PORT + 2000))}
	case $STRIPE_PORT in
	'' | *[!0-9]*) die "STACK_STRIPE_PORT must be a number: $STRIPE_PORT" ;;
	esac
	if [ "$STRIPE_PORT" -lt 1 ] || [ "$STRIPE_PORT" -gt 65535 ]; then
		die "Stripe emulator port out of range: $STRIPE_PORT (set STACK_STRIPE_PORT)"
	fi
	STRIPE_API_BASE=http://127.0.0.1:$STRIPE_PORT
	# Where the emulator sends its events: tollgate's webhook route,
	# through lighttpd like Stripe's would come.
	STRIPE_WEBHOOK_URL=http://127.0.0.1:$HTTP_PORT/api/v1/billing/webhook
	follow_port SLACK_PORT STACK_SLACK_PORT 3000 "Slack emulator"
	SLACK_API_BASE=http://127.0.0.1:$SLACK_PORT
	follow_port META_PORT STACK_META_PORT 4000 "Meta emulator"
	META_GRAPH_BASE=http://127.0.0.1:$META_PORT
	follow_port S3_PORT STACK_S3_PORT 5000 "S3 emulator"
	S3_URL=http://127.0.0.1:$S3_PORT
	follow_port LLM_PORT STACK_LLM_PORT 6000 "LLM emulator"
	LLM_URL=http://127.0.0.1:$LLM_PORT
}

# tollgate's storage backend: STACK_STORAGE_BACKEND wins, then what the
# last `up` or `storage-backend` recorded, then fs.  Not in set_ports:
# `down` and the like must work whatever the environment says here.
set_storage() {
	STORAGE_BACKEND=${STACK_STORAGE_BACKEND:-$(recorded "$ENV_FILE" TOLLGATE_STORAGE_BACKEND)}
	STORAGE_BACKEND=${STORAGE_BACKEND:-fs}
	case $STORAGE_BACKEND in
	fs | s3) ;;
	*) die "STACK_STORAGE_BACKEND must be fs or s3: $STORAGE_BACKEND" ;;
	esac
}

# Sets VAR to the port of an emulator that moves with the HTTP port, as
# the Stripe emulator's does above: the environment's KEY wins, then
# (unless a new HTTP port was given) what the last `up` recorded under
# KEY, then the HTTP port + OFFSET.
follow_port() {
	local var=$1 key=$2 offset=$3 what=$4 port
	port=${!key:-}
	if [ -z "$port" ] && [ -z "${STACK_HTTP_PORT:-}" ]; then
		port=$(recorded "$ENV_FILE" "$key")
	fi
	port=${port:-$((HTTP_PORT + offset))}
	case $port in
	'' | *[!0-9]*) die "$key must be a number: $port" ;;
	esac
	if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
		die "$what port out of range: $port (set $key)"
	fi
	printf -v "$var" '%s' "$port"
}

# The source tree: static files, SQL, templates and the emulators.
set_srcdir() {
	local here
	here=$(cd "$(dirname "$0")" && pwd)
	TOLLGATE_SRCDIR=${TOLLGATE_SRCDIR:-$(dirname "$here")}
	TOLLGATE_SRCDIR=$(cd "$TOLLGATE_SRCDIR" && pwd)
	STATIC_DIR=$TOLLGATE_SRCDIR/static
	SMTP_SINK=$TOLLGATE_SRCDIR/tests/smtp-sink.py
	STRIPE_EMU=$TOLLGATE_SRCDIR/tests/stripe-emu.py
	SLACK_EMU=$TOLLGATE_SRCDIR/tests/slack-emu.py
	META_EMU=$TOLLGATE_SRCDIR/tests/meta-emu.py
	S3_EMU=$TOLLGATE_SRCDIR/tests/s3-emu.py
	LLM_EMU=$TOLLGATE_SRCDIR/tests/llm-emu.py
	# What the Slack, Meta and S3 emulators import.
	EMU_COMMON=$TOLLGATE_SRCDIR/tests/emu_common.py
}

set_sources() {
	set_srcdir
	TOLLGATE_BIN=${TOLLGATE_BIN:-$(recorded "$ENV_FILE" TOLLGATE_BIN)}
	[ -n "$TOLLGATE_BIN" ] || die "TOLLGATE_BIN is not set (path of the built tollgate binary)"
	[ -x "$TOLLGATE_BIN" ] || die "TOLLGATE_BIN is not an executable: $TOLLGATE_BIN"
	# Daemons run from /, so the path must not depend on the caller's cwd.
	TOLLGATE_BIN=$(readlink -f "$TOLLGATE_BIN")
}

require_tools() {
	[ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 not found in $PG_BIN (./dev deps installs it)"
	[ -x "$LIGHTTPD" ] || die "lighttpd not found at $LIGHTTPD (./dev deps installs it)"
	command -v curl >/dev/null || die "curl not found (./dev deps installs it)"
	[ -x "$PYTHON" ] || die "$PYTHON not found (./dev deps installs python3)"
	if is_root; then
		id postgres >/dev/null 2>&1 || die "no postgres account (it comes with the postgresql package)"
		id www-data >/dev/null 2>&1 || die "no www-data account"
	fi
}

# Serialise `up`, `down` and friends on one DIR: two concurrent `up`s would
# both see "not running" and start twice.  Long-lived children are started
# with 9>&- so they do not hold the lock after this script exits.
take_lock() {
	exec 9>"$STACK_DIR/.lock"
	flock -w 300 9 || die "another stack.sh holds $STACK_DIR/.lock"
}

# --- PostgreSQL -----------------------------------------------------------

pg_running() {
	[ -f "$PG_DATA/PG_VERSION" ] || return 1
	as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

pg_ready() {
	"$PG_BIN/pg_isready" -q -h "$RUN_DIR" -p "$PG_PORT" -d postgres -U postgres
}

# Directories and ownership.  The cluster and its socket directory belong
# to postgres when we are root; DIR, run/ and log/ must be traversable by
# postgres and by www-data, which the tollgate master drops to and whose
# responders connect to the socket in run/.
prepare_dirs() {
	mkdir -p "$STACK_DIR" "$RUN_DIR" "$LOG_DIR" "$PG_DATA"
	chmod 755 "$STACK_DIR" "$RUN_DIR" "$LOG_DIR"
	chmod 700 "$PG_DATA"
	touch "$POSTGRES_LOG"
	if is_root; then
		# -R only when needed: a cluster left by a non-root run.
		[ "$(stat -c %U "$PG_DATA")" = postgres ] ||
			chown -R postgres:postgres "$PG_DATA"
		chown postgres:postgres "$RUN_DIR" "$POSTGRES_LOG"
		runuser -u postgres -- test -w "$PG_DATA" ||
			die "postgres cannot write $PG_DATA: is every parent directory of $STACK_DIR traversable (o+x)?"
		runuser -u www-data -- test -x "$RUN_DIR" ||
			die "www-data cannot reach $RUN_DIR: is every parent directory of $STACK_DIR traversable (o+x)?"
	fi
	mkdir -p "$TG_RUN_DIR"
	chmod 750 "$TG_RUN_DIR"
	if is_root; then
		chown www-data:www-data "$TG_RUN_DIR"
	fi
}

# TOLLGATE_STORAGE_DIR, where the fs backend keeps tenants' objects: only
# the user serve and work run as may enter it, which as root is
# TOLLGATE_USER (www-data, see stack_env_core): both drop to it before
# they touch storage.  -R only when needed: a directory left by a run as
# another user.
prepare_storage() {
	mkdir -p "$STORAGE_DIR"
	chmod 700 "$STORAGE_DIR"
	if is_root && [ "$(stat -c %U "$STORAGE_DIR")" != www-data ]; then
		chown -R www-data:www-data "$STORAGE_DIR"
	fi
}

pg_init() {
	local locale=C
	if [ -f "$PG_DATA/PG_VERSION" ]; then
		return 0
	fi
	# C.UTF-8 sorts bytewise like C but knows UTF-8 character classes.
	if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
		locale=C.UTF-8
	fi
	# -U postgres: the superuser has the same name whoever runs initdb.
	if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust \
	    -E UTF8 --locale="$locale" >"$LOG_DIR/initdb.log" 2>&1; then
		show_log "$LOG_DIR/initdb.log"
		die "initdb failed"
	fi
	say "postgres: cluster initialised in $PG_DATA"
}

pg_start() {
	local running_port mark
	if pg_running; then
		# Line 4 of postmaster.pid is the port the server listens on.
		running_port=$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true)
		if [ -n "$running_port" ] && [ "$running_port" != "$PG_PORT" ]; then
			die "postgres runs on port $running_port, not $PG_PORT: stop the stack first"
		fi
		wait_until 300 pg_ready || die "postgres runs but does not answer"
		say "postgres: running (port $PG_PORT)"
		return 0
	fi
	mark=$(log_size "$POSTGRES_LOG")
	# No TCP listener at all: the socket in run/ keeps this cluster apart
	# from any other, and fsync stays on so benchmarks measure durable commits.
	if ! as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$POSTGRES_LOG" \
	    -w -t 60 -s \
	    -o "-c listen_addresses='' -k $RUN_DIR -p $PG_PORT -c fsync=on" \
	    9>&-; then
		show_log "$POSTGRES_LOG" "$mark"
		die "postgres did not start"
	fi
	wait_until 300 pg_ready || { show_log "$POSTGRES_LOG" "$mark"; die "postgres does not answer"; }
	say "postgres: started (socket $RUN_DIR, port $PG_PORT)"
}

pg_stop() {
	if ! pg_running; then
		say "postgres: not running"
		return 0
	fi
	as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 -s ||
		die "postgres did not stop"
	# pg_ctl -w returns once the pid file is gone; make sure clients see it.
	wait_until 100 eval '! pg_ready' || true
	say "postgres: stopped"
}

psql_superuser() {
	PGOPTIONS='-c client_min_messages=warning' \
	    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN_DIR" -p "$PG_PORT" \
	    -U postgres "$@"
}

# Roles: tollgate_owner owns the database and runs migrations;
# tollgate_app is the group the migrations grant table privileges to;
# tollgate is what responders log in as, and row-level security must apply
# to it, hence NOSUPERUSER NOBYPASSRLS.  Every statement can run again.
pg_roles() {
	if ! psql_superuser -d postgres -f - >"$LOG_DIR/roles.log" 2>&1 <<-'EOF'; then
		SELECT 'CREATE ROLE tollgate_owner'
		    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tollgate_owner') \gexec
		ALTER ROLE tollgate_owner LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS;
		SELECT 'CREATE ROLE tollgate_app'
		    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tollgate_app') \gexec
		ALTER ROLE tollgate_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
		SELECT 'CREATE ROLE tollgate'
		    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tollgate') \gexec
		ALTER ROLE tollgate LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
		GRANT tollgate_app TO tollgate;
		SELECT 'CREATE DATABASE tollgate OWNER tollgate_owner ENCODING ''UTF8'' TEMPLATE template0'
		    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tollgate') \gexec
		ALTER DATABASE tollgate OWNER TO tollgate_owner;
		\connect tollgate
		REVOKE CREATE ON SCHEMA public FROM PUBLIC;
		GRANT USAGE, CREATE ON SCHEMA public TO tollgate_owner;
		ALTER SCHEMA public OWNER TO tollgate_owner;
	EOF
		show_log "$LOG_DIR/roles.log"
		die "creating roles and database failed"
	fi
	say "postgres: roles and database tollgate ready"
}

# --- secrets and stack.env -------------------------------------------------

# Generated once and kept: a new encryption key would make every secret
# already stored in the database unreadable, a new JWT secret would log
# everybody out.  Missing keys are added, present ones are never replaced.
ensure_secrets() {
	local jwt key oauth metrics stripe_key whsec slack_id slack_secret
	local s3_key s3_secret added=
	(umask 077 && touch "$SECRETS_FILE")
	chmod 600 "$SECRETS_FILE"
	jwt=$(recorded "$SECRETS_FILE" TOLLGATE_JWT_SECRET)
	key=$(recorded "$SECRETS_FILE" TOLLGATE_ENCRYPTION_KEY)
	oauth=$(recorded "$SECRETS_FILE" TOLLGATE_OAUTH_STATE_SECRET)
	metrics=$(recorded "$SECRETS_FILE" TOLLGATE_METRICS_TOKEN)
	stripe_key=$(recorded "$SECRETS_FILE" STRIPE_SECRET_KEY)
	whsec=$(recorded "$SECRETS_FILE" STRIPE_WEBHOOK_SECRET)
	slack_id=$(recorded "$SECRETS_FILE" SLACK_CLIENT_ID)
	slack_secret=$(recorded "$SECRETS_FILE" SLACK_CLIENT_SECRET)
	s3_key=$(recorded "$SECRETS_FILE" TOLLGATE_S3_ACCESS_KEY)
	s3_secret=$(recorded "$SECRETS_FILE" TOLLGATE_S3_SECRET_KEY)
	if [ -z "$jwt" ]; then
		jwt=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
		kv TOLLGATE_JWT_SECRET "$jwt" >>"$SECRETS_FILE"
		added=1
	fi
	if [ -z "$key" ]; then
		# Fernet keys are url-safe base64 of 32 bytes, '=' padding kept.
		key=$(head -c32 /dev/urandom | base64 -w0 | tr '+/' '-_')
		kv TOLLGATE_ENCRYPTION_KEY "$key" >>"$SECRETS_FILE"
		added=1
	fi
	if [ -z "$oauth" ]; then
		oauth=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
		kv TOLLGATE_OAUTH_STATE_SECRET "$oauth" >>"$SECRETS_FILE"
		added=1
	fi
	if [ -z "$metrics" ]; then
		metrics=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
		kv TOLLGATE_METRICS_TOKEN "$metrics" >>"$SECRETS_FILE"
		added=1
	fi
	# Stripe in test mode, as the emulator plays it: it takes any
	# sk_test_ key, and signs its webhooks with the whsec_ secret.
	if [ -z "$stripe_key" ]; then
		stripe_key=sk_test_$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
		kv STRIPE_SECRET_KEY "$stripe_key" >>"$SECRETS_FILE"
		added=1
	fi
	if [ -z "$whsec" ]; then
		whsec=whsec_$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
		kv STRIPE_WEBHOOK_SECRET "$whsec" >>"$SECRETS_FILE"
		added=1
	fi
	# The Slack app the emulator knows, shaped like Slack's: the client
	# id is not secret (it is in every install link), the secret is.
	if [ -z "$slack_id" ]; then
		slack_id=1000000000.$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')
		kv SLACK_CLIENT_ID "$slack_id" >>"$SECRETS_FILE"
		added=1
	fi
	if [ -z "$slack_secret" ]; then
		slack_secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
		kv SLACK_CLIENT_SECRET "$slack_secret" >>"$SECRETS_FILE"
		added=1
	fi
	# The S3 emulator's key pair, shaped like AWS's so that tollgate's
	# signer meets real values: the access key id is not secret (it is
	# in every request), the secret key is 40 characters of base64.
	if [ -z "$s3_key" ]; then
		s3_key=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
		s3_key=AKIA$s3_key
		kv TOLLGATE_S3_ACCESS_KEY "$s3_key" >>"$SECRETS_FILE"
		added=1
	fi
	if [ -z "$s3_secret" ]; then
		s3_secret=$(head -c30 /dev/urandom | base64 -w0)
		kv TOLLGATE_S3_SECRET_KEY "$s3_secret" >>"$SECRETS_FILE"
		added=1
	fi
	# Refuse a hand-edited file that the product would reject later, with
	# a message that says where the bad value lives.
	[[ $jwt =~ ^[0-9a-f]{64}$ ]] ||
		die "TOLLGATE_JWT_SECRET in $SECRETS_FILE is not 64 hex characters"
	[[ $key =~ ^[A-Za-z0-9_-]{43}=$ ]] ||
		die "TOLLGATE_ENCRYPTION_KEY in $SECRETS_FILE is not a url-safe base64 key of 32 bytes"
	[[ $stripe_key =~ ^[sr]k_test_[A-Za-z0-9_]+$ ]] ||
		die "STRIPE_SECRET_KEY in $SECRETS_FILE is not a test-mode key (sk_test_...): the emulator refuses others"
	[[ $whsec =~ ^whsec_[^,[:space:]]+(,whsec_[^,[:space:]]+)*$ ]] ||
		die "STRIPE_WEBHOOK_SECRET in $SECRETS_FILE is not whsec_... (several: comma-separated)"
	[[ $slack_id =~ ^[0-9]+\.[0-9]+$ ]] ||
		die "SLACK_CLIENT_ID in $SECRETS_FILE is not of the form 1000000000.123"
	[[ $slack_secret =~ ^[0-9a-f]{32}$ ]] ||
		die "SLACK_CLIENT_SECRET in $SECRETS_FILE is not 32 hex characters"
	[[ $s3_key =~ ^AKIA[0-9A-Z]{16}$ ]] ||
		die "TOLLGATE_S3_ACCESS_KEY in $SECRETS_FILE is not AKIA and 16 upper-case letters or digits"
	[[ $s3_secret =~ ^[A-Za-z0-9+/]{40}$ ]] ||
		die "TOLLGATE_S3_SECRET_KEY in $SECRETS_FILE is not 40 characters of base64"
	if [ -n "$added" ]; then
		say "secrets: generated in $SECRETS_FILE"
	else
		say "secrets: kept from $SECRETS_FILE"
	fi
	TOLLGATE_JWT_SECRET=$jwt
	TOLLGATE_ENCRYPTION_KEY=$key
	TOLLGATE_OAUTH_STATE_SECRET=$oauth
	TOLLGATE_METRICS_TOKEN=$metrics
	STRIPE_SECRET_KEY=$stripe_key
	STRIPE_WEBHOOK_SECRET=$whsec
	SLACK_CLIENT_ID=$slack_id
	SLACK_CLIENT_SECRET=$slack_secret
	TOLLGATE_S3_ACCESS_KEY=$s3_key
	TOLLGATE_S3_SECRET_KEY=$s3_secret
}

# The keys every stack has.  tollgate reads its configuration from the
# environment, so this file doubles as its configuration.
stack_env_core() {
	local url=http://127.0.0.1:$HTTP_PORT
	local dburl="host=$RUN_DIR port=$PG_PORT dbname=tollgate"
	kv STACK_DIR "$STACK_DIR"
	kv STACK_HTTP_PORT "$HTTP_PORT"
	kv STACK_PG_PORT "$PG_PORT"
	kv TOLLGATE_SRCDIR "$TOLLGATE_SRCDIR"
	kv TOLLGATE_BIN "$TOLLGATE_BIN"
	kv PG_BIN "$PG_BIN"
	kv TOLLGATE_URL "$url"
	kv TOLLGATE_PUBLIC_URL "$url"
	kv TOLLGATE_SOCKET "$SOCKET"
	kv TOLLGATE_LISTEN "unix:$SOCKET"
	# The LLM gateway's own pool (lighttpd sends /api/v1/llm/ there).
	kv TOLLGATE_GATEWAY_SOCKET "$GATEWAY_SOCKET"
	kv TOLLGATE_GATEWAY_LISTEN "unix:$GATEWAY_SOCKET"
	kv TOLLGATE_GATEWAY_WORKERS 8
	kv TOLLGATE_PIDFILE "$TOLLGATE_PIDFILE"
	kv TOLLGATE_DATABASE_URL "$dburl user=tollgate"
	kv TOLLGATE_OWNER_DATABASE_URL "$dburl user=tollgate_owner"
	kv TOLLGATE_JWT_SECRET "$TOLLGATE_JWT_SECRET"
	kv TOLLGATE_ENCRYPTION_KEY "$TOLLGATE_ENCRYPTION_KEY"
	kv TOLLGATE_OAUTH_STATE_SECRET "$TOLLGATE_OAUTH_STATE_SECRET"
	kv TOLLGATE_METRICS_TOKEN "$TOLLGATE_METRICS_TOKEN"
	kv TOLLGATE_SQL_DIR "$TOLLGATE_SRCDIR/sql"
	kv TOLLGATE_TEMPLATE_DIR "$TOLLGATE_SRCDIR/templates"
	kv TOLLGATE_USER www-data
	kv TOLLGATE_SOCKET_GROUP www-data
	kv TOLLGATE_WORKERS 4
	# The worker's pass every second: notifications (invitations,
	# password resets, alerts) reach the SMTP sink and the Slack
	# emulator within a second or two, for people and tests alike.
	kv TOLLGATE_WORK_INTERVAL 1
	kv TOLLGATE_LOG_LEVEL info
	kv TOLLGATE_LOG "$TOLLGATE_LOG"
	kv WORKER_LOG "$WORKER_LOG"
	kv LIGHTTPD_LOG "$LIGHTTPD_LOG"
	kv LIGHTTPD_ACCESS_LOG "$LIGHTTPD_ACCESS_LOG"
	kv POSTGRES_LOG "$POSTGRES_LOG"
}

# ==> Later components add their keys here. <==
# The SMTP sink (SMTP_URL, SMTP_SINK_DIR, ...), the Stripe emulator
# (STRIPE_API_BASE, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, ...), the
# Slack emulator (SLACK_API_BASE, SLACK_CLIENT_ID, SLACK_CLIENT_SECRET),
# the Meta Graph emulator (META_GRAPH_BASE), the S3 emulator (S3_EMU_URL
# and tollgate's TOLLGATE_S3_* and TOLLGATE_STORAGE_*), each with its
# STACK_*_PORT
# and *_PIDFILE, *_STATE and *_LOG paths, and the demo tenant
# (TOLLGATE_DEMO_EMAIL, TOLLGATE_DEMO_PASSWORD, TOLLGATE_PLATFORM_KEY)
# print their lines here with kv KEY VALUE.  tollgate serve and work read
# this file, so they see every base URL and the Slack app.  Any key
# ending in _LOG is followed by `./dev run`.
stack_env_extra() {
	local demo=$STACK_DIR/demo.env
	# The sink's port is fixed before it starts, so tollgate serve, which
	# reads SMTP_URL from this file, can be given it now.
	kv STACK_SMTP_PORT "$SMTP_PORT"
	kv SMTP_URL "smtp://127.0.0.1:$SMTP_PORT"
	kv SMTP_FROM tollgate@localhost
	kv SMTP_SINK_DIR "$MAIL_DIR"
	kv SMTP_SINK_PIDFILE "$SMTP_PIDFILE"
	kv SMTP_SINK_LOG "$SMTP_LOG"
	# The emulator's port is fixed before it starts, like the sink's.
	# Its control endpoints (advance the clock, inject faults, ...) are
	# under $STRIPE_API_BASE/_emu/ (see tests/stripe-emu.py).
	kv STACK_STRIPE_PORT "$STRIPE_PORT"
	kv STRIPE_API_BASE "$STRIPE_API_BASE"
	kv STRIPE_SECRET_KEY "$STRIPE_SECRET_KEY"
	kv STRIPE_WEBHOOK_SECRET "$STRIPE_WEBHOOK_SECRET"
	kv STRIPE_WEBHOOK_URL "$STRIPE_WEBHOOK_URL"
	kv STRIPE_EMU_PIDFILE "$STRIPE_PIDFILE"
	kv STRIPE_EMU_STATE "$STRIPE_STATE"
	kv STRIPE_EMU_LOG "$STRIPE_LOG"
	# The Slack and Meta emulators' ports are fixed before they start
	# too; their control endpoints are under .../_emu/ (see the top of
	# tests/slack-emu.py and tests/meta-emu.py), and .../_emu/ itself is
	# a page of the messages they received.
	kv STACK_SLACK_PORT "$SLACK_PORT"
	kv SLACK_API_BASE "$SLACK_API_BASE"
	kv SLACK_CLIENT_ID "$SLACK_CLIENT_ID"
	kv SLACK_CLIENT_SECRET "$SLACK_CLIENT_SECRET"
	kv SLACK_EMU_PIDFILE "$SLACK_PIDFILE"
	kv SLACK_EMU_STATE "$SLACK_STATE"
	kv SLACK_EMU_LOG "$SLACK_LOG"
	kv STACK_META_PORT "$META_PORT"
	kv META_GRAPH_BASE "$META_GRAPH_BASE"
	kv META_EMU_PIDFILE "$META_PIDFILE"
	kv META_EMU_STATE "$META_STATE"
	kv META_EMU_LOG "$META_LOG"
	# The S3 emulator's port is fixed before it starts too; its control
	# endpoints are under $S3_EMU_URL/_emu/ (see the top of
	# tests/s3-emu.py).  tollgate stores objects there with the s3
	# backend, in TOLLGATE_STORAGE_DIR with fs; `storage-backend`
	# switches a running stack between the two.
	kv STACK_S3_PORT "$S3_PORT"
	kv S3_EMU_URL "$S3_URL"
	kv S3_EMU_PIDFILE "$S3_PIDFILE"
	kv S3_EMU_STATE "$S3_STATE"
	kv S3_EMU_DATA "$S3_DATA_DIR"
	kv S3_EMU_LOG "$S3_LOG"
	# The LLM emulator (tests/llm-emu.py, docs/llm-emulator.md) plays
	# every provider the gateway calls: OpenAI-shaped and Anthropic's.
	kv STACK_LLM_PORT "$LLM_PORT"
	kv LLM_EMU_URL "$LLM_URL"
	kv LLM_EMU_PIDFILE "$LLM_PIDFILE"
	kv LLM_EMU_STATE "$LLM_STATE"
	kv LLM_EMU_LOG "$LLM_LOG"
	kv TOLLGATE_LLM_OPENAI_BASE "$LLM_URL"
	kv TOLLGATE_LLM_ANTHROPIC_BASE "$LLM_URL"
	kv TOLLGATE_LLM_MISTRAL_BASE "$LLM_URL"
	kv TOLLGATE_LLM_GROQ_BASE "$LLM_URL"
	kv TOLLGATE_LLM_OPENROUTER_BASE "$LLM_URL"
	kv TOLLGATE_LLM_CUSTOM_BASE "$LLM_URL"
	kv TOLLGATE_STORAGE_BACKEND "$STORAGE_BACKEND"
	kv TOLLGATE_STORAGE_DIR "$STORAGE_DIR"
	kv TOLLGATE_S3_ENDPOINT "$S3_URL"
	kv TOLLGATE_S3_REGION "$S3_REGION"
	kv TOLLGATE_S3_BUCKET "$S3_BUCKET"
	kv TOLLGATE_S3_ACCESS_KEY "$TOLLGATE_S3_ACCESS_KEY"
	kv TOLLGATE_S3_SECRET_KEY "$TOLLGATE_S3_SECRET_KEY"
	[ -r "$demo" ] || return 0
	kv TOLLGATE_DEMO_EMAIL "$(recorded "$demo" TOLLGATE_DEMO_EMAIL)"
	kv TOLLGATE_DEMO_PASSWORD "$(recorded "$demo" TOLLGATE_DEMO_PASSWORD)"
	kv TOLLGATE_PLATFORM_KEY "$(recorded "$demo" TOLLGATE_PLATFORM_KEY)"
}

# The demo organization and a platform key, created once per stack with
# `tollgate admin` and remembered in demo.env (0600: it holds secrets).
# The demo owner's address counts as proven (it could only be proven
# through the SMTP sink): the demo can go straight to checkout.
demo_verified() {
	psql_superuser -d tollgate -c "UPDATE users SET email_verified_at = \
	    coalesce(email_verified_at, now()) WHERE email = \
	    'demo@example.com'" >>"$LOG_DIR/seed.log" 2>&1 ||
		die "demo: cannot mark demo@example.com verified (see $LOG_DIR/seed.log)"
}

seed_demo() {
	local demo=$STACK_DIR/demo.env tmp log=$LOG_DIR/seed.log email pw key
	if [ -s "$demo" ]; then
		demo_verified
		say "demo: present (demo.env)"
		return 0
	fi
	email=demo@example.com
	pw=demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	if ! printf '%s\n' "$pw" | (tollgate_env_exec "$TOLLGATE_BIN" admin \
	    tenant create "$email" "Demo Organization") >"$log" 2>&1; then
		show_log "$log"
		die "demo tenant: tollgate admin tenant create failed"
	fi
	if ! key=$( (tollgate_env_exec "$TOLLGATE_BIN" admin platform-key \
	    create demo-runners) 2>>"$log" | head -n 1) || [ -z "$key" ]; then
		show_log "$log"
		die "demo platform key: tollgate admin platform-key create failed"
	fi
	tmp=$demo.tmp.$$
	(umask 077 && {
		kv TOLLGATE_DEMO_EMAIL "$email"
		kv TOLLGATE_DEMO_PASSWORD "$pw"
		kv TOLLGATE_PLATFORM_KEY "$key"
	} >"$tmp")
	mv "$tmp" "$demo"
	demo_verified
	say "demo: $email created, platform key stored in demo.env"
	write_stack_env
}

# Written to a temporary file and renamed, so a reader never sees half a
# file.  0600: it carries the secrets.  Sets STACK_ENV_CHANGED when the
# content differs from the previous file, so running daemons get restarted
# with the new configuration.
write_stack_env() {
	local tmp=$ENV_FILE.tmp.$$
	{
		echo "# Written by tests/stack.sh up; regenerated on every up."
		echo "# Load with: set -a; . $ENV_FILE; set +a"
		stack_env_core
		stack_env_extra
	} >"$tmp"
	chmod 600 "$tmp"
	STACK_ENV_CHANGED=
	if [ -f "$ENV_FILE" ] && cmp -s "$tmp" "$ENV_FILE"; then
		rm -f "$tmp"
		say "stack.env: unchanged ($ENV_FILE)"
	else
		[ -f "$ENV_FILE" ] && STACK_ENV_CHANGED=1
		mv -f "$tmp" "$ENV_FILE"
		say "stack.env: written ($ENV_FILE)"
	fi
}

# --- tollgate --------------------------------------------------------------

# Run tollgate with stack.env exported and from /, as every daemon should
# (the master drops to www-data, which may not be able to read the cwd).
# The subshell keeps the variables out of this script.
tollgate_env_exec() {
	set -a
	# shellcheck disable=SC1090
	. "$ENV_FILE"
	set +a
	cd /
	exec "$@"
}

# The plans' products, prices and meters at the emulator, and their ids
# in the database (`tollgate admin stripe sync`, idempotent: a second
# run keeps what exists).  After lighttpd: the sync's own events reach
# the webhook like any other.
stripe_sync() {
	local log=$LOG_DIR/stripe-sync.log
	if ! (tollgate_env_exec "$TOLLGATE_BIN" admin stripe sync) >"$log" 2>&1
	then
		show_log "$log"
		die "tollgate admin stripe sync failed"
	fi
	say "stripe sync: $(tail -n 1 "$log")"
}

# A month of usage for the demo organization (tests/demo-usage.py: demo
# only, it puts a Free organization without a subscription on Pro), so
# /usage has something to show.  After lighttpd: the events go through
# the API.  Idempotent: the events' ids are fixed per day, a second run
# adds only the hours since the first.  The tenant is looked up as the
# superuser, whom row-level security does not bind.
demo_usage() {
	local log=$LOG_DIR/demo-usage.log tenant
	tenant=$(psql_superuser -d tollgate -A -t -c "SELECT m.tenant_id \
	    FROM memberships m JOIN users u ON u.user_id = m.user_id WHERE \
	    u.email = 'demo@example.com' AND m.role = 'owner' ORDER BY \
	    m.created_at LIMIT 1" 2>>"$LOG_DIR/seed.log") ||
		die "demo usage: cannot find the demo organization (see $LOG_DIR/seed.log)"
	[ -n "$tenant" ] || die "demo usage: no demo organization"
	if ! (tollgate_env_exec "$PYTHON" "$TOLLGATE_SRCDIR/tests/demo-usage.py" \
	    "$tenant") >"$log" 2>&1; then
		show_log "$log"
		die "tests/demo-usage.py failed"
	fi
	say "$(tail -n 1 "$log")"
}

migrate() {
	local log=$LOG_DIR/migrate.log
	if ! (tollgate_env_exec "$TOLLGATE_BIN" migrate) >"$log" 2>&1; then
		show_log "$log"
		die "tollgate migrate failed"
	fi
	say "migrate: done (output in $log)"
}

# Reuse a running daemon unless it is out of date: the binary was rebuilt
# after it started (the pid file's mtime is its start time), or the
# configuration changed in this run.  Otherwise `./dev up` after an edit
# would keep serving the old code.
is_stale() {
	[ -n "${STACK_ENV_CHANGED:-}" ] || [ "$TOLLGATE_BIN" -nt "$1" ]
}

start_serve() {
	local pid launcher mark
	if pid=$(pidfile_pid "$TOLLGATE_PIDFILE" tollgate); then
		if ! is_stale "$TOLLGATE_PIDFILE"; then
			say "tollgate serve: running (pid $pid)"
			return 0
		fi
		stop_pidfile "tollgate serve (out of date)" "$TOLLGATE_PIDFILE" tollgate 15
	fi
	# Leftovers of a crash would fool the wait below.
	rm -f "$TOLLGATE_PIDFILE" "$SOCKET"
	mark=$(log_size "$TOLLGATE_LOG")
	# setsid: the master and its responders get a session and process
	# group of their own, which `down` can signal as a whole and which a
	# Ctrl-C in the terminal does not reach; nohup keeps SIGHUP from a
	# closing terminal away, since SIGHUP means "reload" to the master.
	(tollgate_env_exec setsid nohup "$TOLLGATE_BIN" serve) \
	    </dev/null >>"$TOLLGATE_LOG" 2>&1 9>&- &
	launcher=$!
	# The master writes its pid file and creates the socket itself.
	serve_ready() {
		[ -S "$SOCKET" ] && pidfile_pid "$TOLLGATE_PIDFILE" tollgate >/dev/null
	}
	serve_failed() { ! pid_alive "$launcher" && ! serve_ready; }
	if ! wait_until 100 eval 'serve_ready || serve_failed'; then
		show_log "$TOLLGATE_LOG" "$mark"
		die "tollgate serve did not create $SOCKET within 10 s"
	fi
	if serve_failed; then
		show_log "$TOLLGATE_LOG" "$mark"
		die "tollgate serve exited at start-up"
	fi
	say "tollgate serve: started (pid $(cat "$TOLLGATE_PIDFILE"), socket $SOCKET)"
}

start_worker() {
	local pid mark
	if pid=$(pidfile_pid "$WORKER_PIDFILE" tollgate); then
		if ! is_stale "$WORKER_PIDFILE"; then
			say "tollgate work: running (pid $pid)"
			return 0
		fi
		stop_pidfile "tollgate work (out of date)" "$WORKER_PIDFILE" tollgate 15
	fi
	mark=$(log_size "$WORKER_LOG")
	(tollgate_env_exec setsid nohup "$TOLLGATE_BIN" work) \
	    </dev/null >>"$WORKER_LOG" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$WORKER_PIDFILE"
	# A worker that dies on start-up (bad configuration) does so at once.
	sleep 0.5
	if ! pid_alive "$pid"; then
		rm -f "$WORKER_PIDFILE"
		show_log "$WORKER_LOG" "$mark"
		die "tollgate work exited at start-up"
	fi
	say "tollgate work: started (pid $pid)"
}

# --- the SMTP sink ---------------------------------------------------------

# tollgate's mail (invitations, notifications) goes to tests/smtp-sink.py
# through SMTP_URL and lands in mail/ as one file per message, where the
# tests read it.  Reused while it runs, unless the script changed since it
# started or stack.env did (the port may have moved).
start_smtp_sink() {
	local pid launcher mark
	[ -f "$SMTP_SINK" ] || die "no SMTP sink at $SMTP_SINK"
	mkdir -p "$MAIL_DIR"
	# Invitation links in there are credentials.
	chmod 700 "$MAIL_DIR"
	if pid=$(pidfile_pid "$SMTP_PIDFILE" "$SMTP_PATTERN"); then
		if [ -z "${STACK_ENV_CHANGED:-}" ] &&
		    ! [ "$SMTP_SINK" -nt "$SMTP_PIDFILE" ]; then
			say "smtp sink: running (pid $pid, smtp://127.0.0.1:$SMTP_PORT)"
			return 0
		fi
		stop_pidfile "smtp sink (out of date)" "$SMTP_PIDFILE" "$SMTP_PATTERN" 5
	fi
	rm -f "$SMTP_PIDFILE"
	mark=$(log_size "$SMTP_LOG")
	# setsid and nohup as for the other daemons; from / like them.  A
	# port taken by something else makes the sink exit at once, with the
	# reason in its log.
	(cd / && exec setsid nohup "$PYTHON" "$SMTP_SINK" --pidfile \
	    "$SMTP_PIDFILE" "$SMTP_PORT" "$MAIL_DIR") \
	    </dev/null >>"$SMTP_LOG" 2>&1 9>&- &
	launcher=$!
	# The sink writes its pid file once it listens.
	sink_ready() {
		[ "$(pidfile_pid "$SMTP_PIDFILE" "$SMTP_PATTERN")" = "$launcher" ]
	}
	sink_failed() { ! pid_alive "$launcher"; }
	if ! wait_until 100 eval 'sink_ready || sink_failed' || sink_failed; then
		show_log "$SMTP_LOG" "$mark"
		die "smtp sink did not start on 127.0.0.1:$SMTP_PORT (set STACK_SMTP_PORT)"
	fi
	say "smtp sink: started (pid $launcher, smtp://127.0.0.1:$SMTP_PORT, mail in $MAIL_DIR)"
}

# --- the Stripe emulator ------------------------------------------------------

# tests/stripe-emu.py answers tollgate's Stripe calls (STRIPE_API_BASE),
# serves the hosted checkout and portal pages, and posts signed events to
# STRIPE_WEBHOOK_URL.  Its data is kept in stripe-emu.json, so the
# customer and subscription ids tollgate stored survive a restart.  The
# webhook secret travels in its environment, never on its command line
# (which ps shows to everyone).  Reused while it runs, unless the script
# changed since it started or stack.env did (a port may have moved).
start_stripe_emu() {
	local pid launcher mark
	[ -f "$STRIPE_EMU" ] || die "no Stripe emulator at $STRIPE_EMU"
	if pid=$(pidfile_pid "$STRIPE_PIDFILE" "$STRIPE_PATTERN"); then
		if [ -z "${STACK_ENV_CHANGED:-}" ] &&
		    ! [ "$STRIPE_EMU" -nt "$STRIPE_PIDFILE" ]; then
			say "stripe emulator: running (pid $pid, $STRIPE_API_BASE)"
			return 0
		fi
		stop_pidfile "stripe emulator (out of date)" "$STRIPE_PIDFILE" \
		    "$STRIPE_PATTERN" 5
	fi
	rm -f "$STRIPE_PIDFILE"
	touch "$STRIPE_LOG"
	chmod 0640 "$STRIPE_LOG"
	mark=$(log_size "$STRIPE_LOG")
	# Detached and from / like the other daemons.  A port taken by
	# something else makes it exit at once, the reason in its log.
	(cd / && umask 077 && STRIPE_WEBHOOK_SECRET=$STRIPE_WEBHOOK_SECRET \
	    exec setsid nohup "$PYTHON" "$STRIPE_EMU" --pidfile "$STRIPE_PIDFILE" \
	    --port "$STRIPE_PORT" --webhook-url "$STRIPE_WEBHOOK_URL" \
	    --state "$STRIPE_STATE") \
	    </dev/null >>"$STRIPE_LOG" 2>&1 9>&- &
	launcher=$!
	# The emulator writes its pid file once it listens.
	emu_ready() {
		[ "$(pidfile_pid "$STRIPE_PIDFILE" "$STRIPE_PATTERN")" = "$launcher" ]
	}
	emu_failed() { ! pid_alive "$launcher"; }
	if ! wait_until 100 eval 'emu_ready || emu_failed' || emu_failed; then
		show_log "$STRIPE_LOG" "$mark"
		die "stripe emulator did not start on 127.0.0.1:$STRIPE_PORT (set STACK_STRIPE_PORT)"
	fi
	say "stripe emulator: started (pid $launcher, $STRIPE_API_BASE, webhooks to $STRIPE_WEBHOOK_URL)"
}

# --- the Slack and Meta emulators ----------------------------------------------

# Starts one of the emulators built on tests/emu_common.py the way the
# Stripe emulator is started: reused while it runs, unless its script or
# emu_common.py changed since it started or stack.env did (a port may
# have moved); detached and from /; its data in a state file of DIR.
# Secrets reach it through the caller's environment, never argv.
#   start_emu NAME SCRIPT PIDFILE PATTERN LOG BASE PORT_KEY ARGS...
start_emu() {
	local name=$1 script=$2 pidfile=$3 pattern=$4 log=$5 base=$6 key=$7
	local pid launcher mark
	shift 7
	[ -f "$script" ] || die "no $name at $script"
	if pid=$(pidfile_pid "$pidfile" "$pattern"); then
		if [ -z "${STACK_ENV_CHANGED:-}" ] &&
		    ! [ "$script" -nt "$pidfile" ] &&
		    ! [ "$EMU_COMMON" -nt "$pidfile" ]; then
			say "$name: running (pid $pid, $base)"
			return 0
		fi
		stop_pidfile "$name (out of date)" "$pidfile" "$pattern" 5
	fi
	rm -f "$pidfile"
	touch "$log"
	chmod 0640 "$log"
	mark=$(log_size "$log")
	# A port taken by something else makes it exit at once, the reason
	# in its log.
	(cd / && umask 077 && exec setsid nohup "$PYTHON" "$script" \
	    --pidfile "$pidfile" "$@") </dev/null >>"$log" 2>&1 9>&- &
	launcher=$!
	# The emulator writes its pid file once it listens.
	emu_ready() {
		[ "$(pidfile_pid "$pidfile" "$pattern")" = "$launcher" ]
	}
	emu_failed() { ! pid_alive "$launcher"; }
	if ! wait_until 100 eval 'emu_ready || emu_failed' || emu_failed; then
		show_log "$log" "$mark"
		die "$name did not start on $base (set $key)"
	fi
	say "$name: started (pid $launcher, $base)"
}

# tests/slack-emu.py plays Slack (SLACK_API_BASE): the install page,
# oauth.v2.access, chat.postMessage, incoming webhooks.  It knows the
# stack's Slack app from SLACK_CLIENT_ID and SLACK_CLIENT_SECRET in its
# environment, and keeps tokens it issued valid across restarts in
# slack-emu.json.
start_slack_emu() {
	SLACK_CLIENT_ID=$SLACK_CLIENT_ID SLACK_CLIENT_SECRET=$SLACK_CLIENT_SECRET \
	    start_emu "slack emulator" "$SLACK_EMU" "$SLACK_PIDFILE" \
	    "$SLACK_PATTERN" "$SLACK_LOG" "$SLACK_API_BASE" STACK_SLACK_PORT \
	    --port "$SLACK_PORT" --state "$SLACK_STATE"
}

# tests/meta-emu.py plays the Graph API (META_GRAPH_BASE) for WhatsApp
# channels: phone number lookups and messages.  It takes any well-formed
# token, so it needs no secret.
start_meta_emu() {
	start_emu "meta emulator" "$META_EMU" "$META_PIDFILE" "$META_PATTERN" \
	    "$META_LOG" "$META_GRAPH_BASE" STACK_META_PORT \
	    --port "$META_PORT" --state "$META_STATE"
}

# tests/llm-emu.py plays the LLM providers the gateway calls (every
# TOLLGATE_LLM_*_BASE); its log of calls is llm-emu.json.
start_llm_emu() {
	start_emu "llm emulator" "$LLM_EMU" "$LLM_PIDFILE" "$LLM_PATTERN" \
	    "$LLM_LOG" "$LLM_URL" STACK_LLM_PORT --port "$LLM_PORT" \
	    --state "$LLM_STATE"
}

# The emulator's models get prices, in a development or test stack only
# (the migrations price real models): the gateway meters only what it
# can price.  Idempotent.
seed_llm_prices() {
	psql_superuser -d tollgate -q -c "INSERT INTO model_prices \
	    (provider, model, effective_from, prompt_per_mtok, \
	    completion_per_mtok, cached_per_mtok, source) VALUES \
	    ('openai', 'emu-gpt-small', '2026-01-01', 500000, 1500000, \
	    250000, 'tests/llm-emu.py'), \
	    ('openai', 'emu-gpt-large', '2026-01-01', 5000000, 15000000, \
	    2500000, 'tests/llm-emu.py'), \
	    ('anthropic', 'emu-claude', '2026-01-01', 3000000, 15000000, \
	    300000, 'tests/llm-emu.py') ON CONFLICT DO NOTHING" \
	    >>"$LOG_DIR/seed.log" 2>&1 ||
		die "cannot price the LLM emulator's models (see $LOG_DIR/seed.log)"
}

# tests/s3-emu.py plays S3 (TOLLGATE_S3_ENDPOINT) for the s3 storage
# backend, with the bucket tollgate expects.  It checks SigV4 with the
# stack's key pair, from its environment; its index is s3-emu.json and
# the objects' bytes are files in s3-emu/, so both survive a restart.
# It runs whatever the backend, so that `storage-backend` can switch
# without starting it.
start_s3_emu() {
	mkdir -p "$S3_DATA_DIR"
	chmod 700 "$S3_DATA_DIR"
	S3_EMU_ACCESS_KEY=$TOLLGATE_S3_ACCESS_KEY \
	    S3_EMU_SECRET_KEY=$TOLLGATE_S3_SECRET_KEY \
	    start_emu "s3 emulator" "$S3_EMU" "$S3_PIDFILE" "$S3_PATTERN" \
	    "$S3_LOG" "$S3_URL" STACK_S3_PORT --port "$S3_PORT" \
	    --state "$S3_STATE" --data "$S3_DATA_DIR" --region "$S3_REGION" \
	    --bucket "$S3_BUCKET"
}

# --- lighttpd -------------------------------------------------------------

# Escape a value for the replacement side of a sed s|||.
sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# The repository's template wins; the heredoc is the same configuration
# for trees that do not have it yet.
lighttpd_conf() {
	local template=$TOLLGATE_SRCDIR/httpd-conf/lighttpd-dev.conf.in
	if [ -f "$template" ]; then
		sed -e "s|@PORT@|$(sed_escape "$HTTP_PORT")|g" \
		    -e "s|@SOCKET@|$(sed_escape "$SOCKET")|g" \
		    -e "s|@GATEWAY_SOCKET@|$(sed_escape "$GATEWAY_SOCKET")|g" \
		    -e "s|@STATIC_DIR@|$(sed_escape "$STATIC_DIR")|g" \
		    -e "s|@LOGDIR@|$(sed_escape "$LOG_DIR")|g" \
		    -e "s|@RUNDIR@|$(sed_escape "$RUN_DIR")|g" "$template"
		return 0
	fi
	cat <<-EOF
	# Generated by tests/stack.sh for a development stack; edit
	# httpd-conf/lighttpd-dev.conf.in instead.
	server.modules = ( "mod_access", "mod_alias", "mod_setenv",
	                   "mod_fastcgi", "mod_accesslog" )
	server.bind = "127.0.0.1"
	server.port = $HTTP_PORT
	server.document-root = "$STATIC_DIR"
	server.pid-file = "$RUN_DIR/lighttpd.pid"
	server.errorlog = "$LOG_DIR/lighttpd-error.log"
	accesslog.filename = "$LOG_DIR/lighttpd-access.log"
	# Secret tokens in these paths never reach the access log.  The core
	# setting makes lighttpd test the URL before mod_fastcgi empties it.
	\$HTTP["url"] =~ "^/invite/" {
	    server.max-request-size = 2048
	    accesslog.format = "%h %V %u %t \\"%m /invite/[token] %H\\" %>s %b \\"[redacted]\\" \\"%{User-Agent}i\\""
	}
	else \$HTTP["url"] =~ "^/reset/" {
	    server.max-request-size = 2048
	    accesslog.format = "%h %V %u %t \\"%m /reset/[token] %H\\" %>s %b \\"[redacted]\\" \\"%{User-Agent}i\\""
	}
	else \$HTTP["url"] =~ "^/verify/" {
	    server.max-request-size = 2048
	    accesslog.format = "%h %V %u %t \\"%m /verify/[token] %H\\" %>s %b \\"[redacted]\\" \\"%{User-Agent}i\\""
	}
	# KiB.  Above this lighttpd refuses the body itself; the application
	# answers 413 from 1 MiB, so it is the one users normally meet.
	server.max-request-size = 2048
	url.access-deny = ( "~", ".swp" )
	mimetype.assign = (
	    ".css"   => "text/css; charset=utf-8",
	    ".js"    => "text/javascript; charset=utf-8",
	    ".json"  => "application/json",
	    ".svg"   => "image/svg+xml",
	    ".png"   => "image/png",
	    ".ico"   => "image/x-icon",
	    ".woff2" => "font/woff2",
	    ".txt"   => "text/plain; charset=utf-8",
	)
	alias.url = ( "/static/" => "$STATIC_DIR/" )
	# Everything but /static/ goes to Tollgate.
	\$HTTP["url"] !~ "^/static/" {
	    fastcgi.server = ( "/" => ((
	        "socket" => "$SOCKET",
	        "check-local" => "disable",
	        "fix-root-scriptname" => "enable",
	    )) )
	}
	setenv.add-response-header = (
	    "X-Content-Type-Options" => "nosniff",
	    "Referrer-Policy" => "same-origin",
	    "X-Frame-Options" => "DENY",
	    "Content-Security-Policy" => "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
	)
	EOF
}

lighttpd_answers() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
	    "http://127.0.0.1:$HTTP_PORT/static/") || true
	[ -n "$code" ] && [ "$code" != 000 ]
}

# lighttpd's logs hold whatever URLs and headers carried: no access for
# other users.  lighttpd appends to an existing log as it is and creates a
# missing one with its umask, hence both the files made here (an older
# stack's 0644 files are tightened too) and umask 027 for the process.
lighttpd_logs() {
	local f
	for f in "$LIGHTTPD_LOG" "$LIGHTTPD_ACCESS_LOG"; do
		touch "$f"
		chmod 0640 "$f"
	done
}

start_lighttpd() {
	local pid new=$LIGHTTPD_CONF.new out launcher mark
	lighttpd_logs
	lighttpd_conf >"$new"
	if ! out=$("$LIGHTTPD" -tt -f "$new" 2>&1); then
		printf '%s\n' "$out" >&2
		die "lighttpd rejects the generated configuration ($new)"
	fi
	if pid=$(pidfile_pid "$LIGHTTPD_PIDFILE" "$LIGHTTPD_CONF"); then
		if cmp -s "$new" "$LIGHTTPD_CONF"; then
			rm -f "$new"
			say "lighttpd: running (pid $pid, http://127.0.0.1:$HTTP_PORT)"
			return 0
		fi
		stop_pidfile "lighttpd (configuration changed)" "$LIGHTTPD_PIDFILE" "$LIGHTTPD_CONF" 10
	fi
	# Something else answering on the port would pass for us below.
	if lighttpd_answers; then
		rm -f "$new"
		die "port $HTTP_PORT is taken by another server (set STACK_HTTP_PORT)"
	fi
	mv -f "$new" "$LIGHTTPD_CONF"
	mark=$(log_size "$LIGHTTPD_LOG")
	# -D (no daemonising) under setsid, like tollgate: lighttpd's own
	# double fork leaves a zombie wherever pid 1 does not reap (containers),
	# and start-up errors land in its error log instead of vanishing.
	# setsid also keeps a Ctrl-C in the terminal (./dev run) away from it.
	(umask 027 && exec setsid "$LIGHTTPD" -D -f "$LIGHTTPD_CONF") \
	    </dev/null >>"$LIGHTTPD_LOG" 2>&1 9>&- &
	launcher=$!
	# lighttpd writes its pid file once it has bound the port.
	lighttpd_ready() {
		[ "$(pidfile_pid "$LIGHTTPD_PIDFILE" "$LIGHTTPD_CONF")" = "$launcher" ] &&
			lighttpd_answers
	}
	lighttpd_failed() { ! pid_alive "$launcher"; }
	if ! wait_until 100 eval 'lighttpd_ready || lighttpd_failed' ||
	    lighttpd_failed; then
		show_log "$LIGHTTPD_LOG" "$mark"
		die "lighttpd does not answer on http://127.0.0.1:$HTTP_PORT/"
	fi
	say "lighttpd: started (pid $launcher, http://127.0.0.1:$HTTP_PORT)"
}

# --- subcommands -------------------------------------------------------------

cmd_up() {
	set_ports
	set_sources
	set_storage
	require_tools
	mkdir -p "$STACK_DIR"
	take_lock
	prepare_dirs
	prepare_storage
	pg_init
	pg_start
	pg_roles
	ensure_secrets
	write_stack_env
	migrate
	# Emulators belong here too: after migrate, before serve, which reads
	# their URLs from stack.env.
	seed_demo
	seed_llm_prices
	start_smtp_sink
	start_stripe_emu
	start_slack_emu
	start_meta_emu
	start_s3_emu
	start_llm_emu
	start_serve
	start_worker
	start_lighttpd
	stripe_sync
	demo_usage
}

cmd_down() {
	if [ ! -d "$STACK_DIR" ]; then
		say "nothing to stop in $STACK_DIR"
		return 0
	fi
	set_ports
	take_lock
	# Front to back, so no request reaches a component already gone.
	stop_pidfile lighttpd "$LIGHTTPD_PIDFILE" "$LIGHTTPD_CONF" 10
	stop_pidfile "tollgate work" "$WORKER_PIDFILE" tollgate 15
	stop_pidfile "tollgate serve" "$TOLLGATE_PIDFILE" tollgate 15
	rm -f "$SOCKET" "$GATEWAY_SOCKET"
	stop_pidfile "smtp sink" "$SMTP_PIDFILE" "$SMTP_PATTERN" 5
	stop_pidfile "stripe emulator" "$STRIPE_PIDFILE" "$STRIPE_PATTERN" 5
	stop_pidfile "slack emulator" "$SLACK_PIDFILE" "$SLACK_PATTERN" 5
	stop_pidfile "meta emulator" "$META_PIDFILE" "$META_PATTERN" 5
	stop_pidfile "s3 emulator" "$S3_PIDFILE" "$S3_PATTERN" 5
	stop_pidfile "llm emulator" "$LLM_PIDFILE" "$LLM_PATTERN" 5
	pg_stop
}

cmd_pg_start() {
	[ -f "$PG_DATA/PG_VERSION" ] || die "no cluster in $PG_DATA: run up first"
	set_ports
	take_lock
	pg_start
}

cmd_pg_stop() {
	[ -d "$STACK_DIR" ] || { say "postgres: not running"; return 0; }
	set_ports
	take_lock
	pg_stop
}

# The sink's port and the source tree come from what `up` recorded.
cmd_smtp_start() {
	[ -f "$ENV_FILE" ] || die "no $ENV_FILE: run up first"
	set_ports
	set_srcdir
	[ -x "$PYTHON" ] || die "$PYTHON not found (./dev deps installs python3)"
	take_lock
	start_smtp_sink
}

cmd_smtp_stop() {
	[ -d "$STACK_DIR" ] || { say "smtp sink: not running"; return 0; }
	take_lock
	stop_pidfile "smtp sink" "$SMTP_PIDFILE" "$SMTP_PATTERN" 5
}

# Like the sink: port, secret and source tree as `up` recorded them.
cmd_stripe_start() {
	[ -f "$ENV_FILE" ] || die "no $ENV_FILE: run up first"
	set_ports
	set_srcdir
	[ -x "$PYTHON" ] || die "$PYTHON not found (./dev deps installs python3)"
	STRIPE_WEBHOOK_SECRET=$(recorded "$SECRETS_FILE" STRIPE_WEBHOOK_SECRET)
	[ -n "$STRIPE_WEBHOOK_SECRET" ] ||
		die "no STRIPE_WEBHOOK_SECRET in $SECRETS_FILE: run up first"
	take_lock
	start_stripe_emu
}

cmd_stripe_stop() {
	[ -d "$STACK_DIR" ] || { say "stripe emulator: not running"; return 0; }
	take_lock
	stop_pidfile "stripe emulator" "$STRIPE_PIDFILE" "$STRIPE_PATTERN" 5
}

# Like the Stripe emulator: ports, the Slack app and the source tree as
# `up` recorded them.
cmd_slack_start() {
	[ -f "$ENV_FILE" ] || die "no $ENV_FILE: run up first"
	set_ports
	set_srcdir
	[ -x "$PYTHON" ] || die "$PYTHON not found (./dev deps installs python3)"
	SLACK_CLIENT_ID=$(recorded "$SECRETS_FILE" SLACK_CLIENT_ID)
	SLACK_CLIENT_SECRET=$(recorded "$SECRETS_FILE" SLACK_CLIENT_SECRET)
	if [ -z "$SLACK_CLIENT_ID" ] || [ -z "$SLACK_CLIENT_SECRET" ]; then
		die "no SLACK_CLIENT_ID or SLACK_CLIENT_SECRET in $SECRETS_FILE: run up first"
	fi
	take_lock
	start_slack_emu
}

cmd_slack_stop() {
	[ -d "$STACK_DIR" ] || { say "slack emulator: not running"; return 0; }
	take_lock
	stop_pidfile "slack emulator" "$SLACK_PIDFILE" "$SLACK_PATTERN" 5
}

cmd_meta_start() {
	[ -f "$ENV_FILE" ] || die "no $ENV_FILE: run up first"
	set_ports
	set_srcdir
	[ -x "$PYTHON" ] || die "$PYTHON not found (./dev deps installs python3)"
	take_lock
	start_meta_emu
}

cmd_llm_start() {
	[ -f "$ENV_FILE" ] || die "no $ENV_FILE: run up first"
	set_ports
	set_srcdir
	[ -x "$PYTHON" ] || die "$PYTHON not found (./dev deps installs python3)"
	take_lock
	start_llm_emu
}

cmd_llm_stop() {
	[ -d "$STACK_DIR" ] || { say "llm emulator: not running"; return 0; }
	take_lock
	stop_pidfile "llm emulator" "$LLM_PIDFILE" "$LLM_PATTERN" 5
}

cmd_meta_stop() {
	[ -d "$STACK_DIR" ] || { say "meta emulator: not running"; return 0; }
	take_lock
	stop_pidfile "meta emulator" "$META_PIDFILE" "$META_PATTERN" 5
}

# Like the Slack emulator: ports, the key pair and the source tree as
# `up` recorded them.
cmd_s3_start() {
	[ -f "$ENV_FILE" ] || die "no $ENV_FILE: run up first"
	set_ports
	set_srcdir
	[ -x "$PYTHON" ] || die "$PYTHON not found (./dev deps installs python3)"
	TOLLGATE_S3_ACCESS_KEY=$(recorded "$SECRETS_FILE" TOLLGATE_S3_ACCESS_KEY)
	TOLLGATE_S3_SECRET_KEY=$(recorded "$SECRETS_FILE" TOLLGATE_S3_SECRET_KEY)
	if [ -z "$TOLLGATE_S3_ACCESS_KEY" ] || [ -z "$TOLLGATE_S3_SECRET_KEY" ]; then
		die "no TOLLGATE_S3_ACCESS_KEY or TOLLGATE_S3_SECRET_KEY in $SECRETS_FILE: run up first"
	fi
	take_lock
	start_s3_emu
}

cmd_s3_stop() {
	[ -d "$STACK_DIR" ] || { say "s3 emulator: not running"; return 0; }
	take_lock
	stop_pidfile "s3 emulator" "$S3_PIDFILE" "$S3_PATTERN" 5
}

cmd_status() {
	local pid backend down=0
	set_ports
	if pg_running; then
		say "postgres: running (pid $(head -n1 "$PG_DATA/postmaster.pid"), port $PG_PORT)"
	else
		say "postgres: stopped"; down=1
	fi
	if pid=$(pidfile_pid "$TOLLGATE_PIDFILE" tollgate); then
		say "tollgate serve: running (pid $pid)"
	else
		say "tollgate serve: stopped"; down=1
	fi
	if pid=$(pidfile_pid "$WORKER_PIDFILE" tollgate); then
		say "tollgate work: running (pid $pid)"
	else
		say "tollgate work: stopped"; down=1
	fi
	if pid=$(pidfile_pid "$LIGHTTPD_PIDFILE" "$LIGHTTPD_CONF"); then
		say "lighttpd: running (pid $pid, http://127.0.0.1:$HTTP_PORT)"
	else
		say "lighttpd: stopped"; down=1
	fi
	if pid=$(pidfile_pid "$SMTP_PIDFILE" "$SMTP_PATTERN"); then
		say "smtp sink: running (pid $pid, smtp://127.0.0.1:$SMTP_PORT)"
	else
		say "smtp sink: stopped"; down=1
	fi
	if pid=$(pidfile_pid "$STRIPE_PIDFILE" "$STRIPE_PATTERN"); then
		say "stripe emulator: running (pid $pid, $STRIPE_API_BASE)"
	else
		say "stripe emulator: stopped"; down=1
	fi
	if pid=$(pidfile_pid "$SLACK_PIDFILE" "$SLACK_PATTERN"); then
		say "slack emulator: running (pid $pid, $SLACK_API_BASE)"
	else
		say "slack emulator: stopped"; down=1
	fi
	if pid=$(pidfile_pid "$META_PIDFILE" "$META_PATTERN"); then
		say "meta emulator: running (pid $pid, $META_GRAPH_BASE)"
	else
		say "meta emulator: stopped"; down=1
	fi
	if pid=$(pidfile_pid "$LLM_PIDFILE" "$LLM_PATTERN"); then
		say "llm emulator: running (pid $pid, $LLM_URL)"
	else
		say "llm emulator: stopped"; down=1
	fi
	if pid=$(pidfile_pid "$S3_PIDFILE" "$S3_PATTERN"); then
		say "s3 emulator: running (pid $pid, $S3_URL)"
	else
		say "s3 emulator: stopped"; down=1
	fi
	# Not a component, so never a reason for exit 3: what serve and
	# work were last configured with (a stack.env older than the
	# setting means tollgate's default, fs).
	backend=$(recorded "$ENV_FILE" TOLLGATE_STORAGE_BACKEND)
	say "storage backend: ${backend:-fs}"
	[ "$down" -eq 0 ] || exit 3
}

# The worker alone, for tests that kill it mid-delivery and bring it
# back (it-notify).
cmd_work_start() {
	[ -f "$ENV_FILE" ] || die "no $ENV_FILE: run up first"
	TOLLGATE_BIN=$(recorded "$ENV_FILE" TOLLGATE_BIN)
	[ -x "$TOLLGATE_BIN" ] || die "TOLLGATE_BIN is not an executable: $TOLLGATE_BIN"
	take_lock
	start_worker
}

cmd_work_stop() {
	[ -d "$STACK_DIR" ] || { say "tollgate work: not running"; return 0; }
	take_lock
	stop_pidfile "tollgate work" "$WORKER_PIDFILE" tollgate 15
}

# Does tollgate answer through lighttpd?
serve_answers() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
	    "http://127.0.0.1:$HTTP_PORT/api/v1/health")" = 200 ]
}

# Switches a running stack's storage backend, so that one integration
# test can run its storage tests against both: the choice goes into
# stack.env, where a later `up` finds it again, and serve and work are
# restarted with it the way `up` restarts them after any change of
# stack.env (nothing restarts when it was already the backend).
# PostgreSQL, lighttpd and the emulators are left alone; the S3 emulator
# runs whatever the backend.  Returns once the new serve answers.
cmd_storage_backend() {
	local backend=$1 mark
	case $backend in
	fs | s3) ;;
	*) usage ;;
	esac
	[ -f "$ENV_FILE" ] || die "no $ENV_FILE: run up first"
	# Everything else as `up` recorded it: only the backend changes.
	TOLLGATE_SRCDIR=${TOLLGATE_SRCDIR:-$(recorded "$ENV_FILE" TOLLGATE_SRCDIR)}
	STACK_STORAGE_BACKEND=$backend
	set_ports
	set_sources
	set_storage
	take_lock
	ensure_secrets
	prepare_storage
	write_stack_env
	mark=$(log_size "$TOLLGATE_LOG")
	start_serve
	start_worker
	if ! wait_until 100 serve_answers; then
		show_log "$TOLLGATE_LOG" "$mark"
		die "tollgate serve does not answer http://127.0.0.1:$HTTP_PORT/api/v1/health (is lighttpd up?)"
	fi
	say "storage backend: $STORAGE_BACKEND"
}

# storage-backend alone takes a third argument.
if [ "${1:-}" = storage-backend ]; then
	[ $# -eq 3 ] || usage
else
	[ $# -eq 2 ] || usage
fi
set_paths "$2"
case $1 in
up) cmd_up ;;
down) cmd_down ;;
pg-start) cmd_pg_start ;;
pg-stop) cmd_pg_stop ;;
smtp-start) cmd_smtp_start ;;
smtp-stop) cmd_smtp_stop ;;
stripe-start) cmd_stripe_start ;;
stripe-stop) cmd_stripe_stop ;;
slack-start) cmd_slack_start ;;
slack-stop) cmd_slack_stop ;;
meta-start) cmd_meta_start ;;
meta-stop) cmd_meta_stop ;;
llm-start) cmd_llm_start ;;
llm-stop) cmd_llm_stop ;;
s3-start) cmd_s3_start ;;
s3-stop) cmd_s3_stop ;;
work-start) cmd_work_start ;;
work-stop) cmd_work_stop ;;
status) cmd_status ;;
storage-backend) cmd_storage_backend "$3" ;;
*) usage ;;
esac
