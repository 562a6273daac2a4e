#!/bin/sh
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# Source checks run by make check: functions STYLE.md bans in fcgi/,
# unescaped "uvar:" in templates, SQL outside db*.c, and request data
# used as a printf format in ClearSilver's error helpers.
set -u
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
fail=0

report() {
	echo "checksrc: $1"
	fail=1
}

banned=$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok|rand|srand|tmpnam|mktemp)[[:space:]]*\(' fcgi/*.c fcgi/*.h 2>/dev/null)
[ -n "$banned" ] && report "banned functions:
$banned"

raw=$(grep -rn 'uvar:' templates 2>/dev/null)
[ -n "$raw" ] && report "unescaped uvar: in templates:
$raw"

# SQL lives only in db*.c: look for statement keywords in string literals.
sql=$(grep -nE '"(SELECT|INSERT|UPDATE|DELETE|BEGIN|COMMIT|CREATE|ALTER) ' \
	$(ls fcgi/*.c | grep -v '/db[^/]*\.c$') 2>/dev/null)
[ -n "$sql" ] && report "SQL outside db*.c:
$sql"

# nerr_raise and cgi_error are printf-like: the format must be a literal.
fmt=$(grep -nE '(nerr_raise|cgi_error)\([^,]*,[[:space:]]*[^"[:space:]]' fcgi/*.c 2>/dev/null)
[ -n "$fmt" ] && report "non-literal format to a ClearSilver error helper:
$fmt"

# No typedef'd structs in the product.
td=$(grep -nE '^typedef[[:space:]]+struct' fcgi/*.c fcgi/*.h 2>/dev/null)
[ -n "$td" ] && report "typedef'd struct:
$td"

if [ "$fail" -eq 0 ]; then
	echo "checksrc: ok"
fi
exit "$fail"
