#!/bin/sh
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# Source checks run by make check: functions STYLE.md bans in fcgi/,
# unescaped "uvar:" in templates, SQL outside db*.c, SQL that is not a
# string literal, db_rollback() outside the database layer and the
# pipeline, and request data used as a printf format in ClearSilver's
# error helpers.
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

# The SQL handed to the database layer is a string literal (or a macro
# of literals, all capitals): text built at run time could be mistaken
# for another statement and is an injection waiting to happen.
nonlit=$(perl -0777 -ne 'while (/\b(db_exec|db_row|db_list)\(\s*\w+,\s*([^\s"A-Z])/g) {
	my $pre = substr($_, 0, pos($_)); my $line = ($pre =~ tr/\n//) + 1;
	print "$ARGV:$line: $1\n" }
    while (/\.sql\s*=\s*([^\s"A-Z])/g) {
	my $pre = substr($_, 0, pos($_)); my $line = ($pre =~ tr/\n//) + 1;
	print "$ARGV:$line: .sql\n" }' $(ls fcgi/*.c | grep -v '/db\.c$'))
[ -n "$nonlit" ] && report "SQL that is not a string literal:
$nonlit"

# The pipeline owns the transaction: handlers refuse, they never roll
# back (req_release() may, for a unit of work that ends with one open).
rb=$(grep -n 'db_rollback(' $(ls fcgi/*.c | grep -vE '/(db[^/]*|responder|fcgi-req)\.c$') 2>/dev/null)
[ -n "$rb" ] && report "db_rollback outside the database layer and the pipeline:
$rb"

# nerr_raise and cgi_error are printf-like: the format must be a literal.
fmt=$(grep -nE '(nerr_raise|cgi_error)\([^,]*,[[:space:]]*[^"[:space:]]' fcgi/*.c 2>/dev/null)
[ -n "$fmt" ] && report "non-literal format to a ClearSilver error helper:
$fmt"

# No typedef'd structs in the product.
td=$(grep -nE '^typedef[[:space:]]+struct' fcgi/*.c fcgi/*.h 2>/dev/null)
[ -n "$td" ] && report "typedef'd struct:
$td"

# What make install puts in place: every migration, template and static
# file is listed in Makefile.am (a migration left out is a schema that
# an installed Tollgate never gets).
unlisted=
for f in sql/*.sql templates/*.cs static/*; do
	grep -qE "^[[:space:]]+$f( \\\\)?\$" Makefile.am ||
		unlisted="$unlisted $f"
done
[ -n "$unlisted" ] && report "not installed (add to Makefile.am):$unlisted"

if [ "$fail" -eq 0 ]; then
	echo "checksrc: ok"
fi
exit "$fail"
