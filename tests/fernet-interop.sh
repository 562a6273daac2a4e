#!/bin/sh
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# Fernet interoperability with Debian's python3-cryptography: tokens made
# by fernet.c (through tests/fernet-tool) open in Python, tokens made by
# Python open in C, in both directions of a MultiFernet rotation, and a
# tampered or expired token is refused by both.  No stack needed.
set -u
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
bld=${top_builddir:-$top/build}
tool=$bld/tests/fernet-tool
py=/usr/bin/python3
pass=0
fail=0

if ! "$py" -c 'import cryptography.fernet' 2>/dev/null; then
	echo "fernet interop: python3-cryptography missing (apt-get install python3-cryptography)"
	exit 77
fi
[ -x "$tool" ] || { echo "fernet interop: $tool not built"; exit 99; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

ok() {
	if [ "$1" -eq 0 ]; then
		echo "ok - $2"
		pass=$((pass + 1))
	else
		echo "not ok - $2"
		fail=$((fail + 1))
	fi
}

# pyf MODE KEYS...: Python's MultiFernet over KEYS, stdin to stdout.
pyf() {
	"$py" -c '
import sys, time
from cryptography.fernet import Fernet, MultiFernet
mode, keys = sys.argv[1], sys.argv[2:]
f = MultiFernet([Fernet(k) for k in keys])
data = sys.stdin.buffer.read()
if mode == "encrypt":
    sys.stdout.write(f.encrypt(data).decode() + "\n")
elif mode == "encrypt-old":
    sys.stdout.write(Fernet(keys[0]).encrypt_at_time(data,
        int(time.time()) - 600).decode() + "\n")
else:
    sys.stdout.buffer.write(f.decrypt(data.strip(),
        ttl=int(mode[8:]) if mode[8:] else None))
' "$@"
}

newkey() {
	"$py" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'
}

k1=$(newkey)
k2=$(newkey)
printf 'hello' >"$tmp/p1"
printf '' >"$tmp/p2"
printf 'sk-proj-%s' "$(head -c 300 /dev/urandom | base64 | tr -d '\n/+=')" \
    >"$tmp/p3"
head -c 4099 /dev/urandom >"$tmp/p4"
printf 'caf\303\251 \342\202\254 "quotes" <tags> & \\' >"$tmp/p5"

for p in p1 p2 p3 p4 p5; do
	n=$(wc -c <"$tmp/$p" | tr -d ' ')
	FERNET_KEY=$k1 "$tool" encrypt <"$tmp/$p" >"$tmp/$p.c" &&
	    pyf decrypt "$k1" <"$tmp/$p.c" >"$tmp/$p.c.out" &&
	    cmp -s "$tmp/$p" "$tmp/$p.c.out"
	ok $? "C token ($n bytes) opens in Python"
	pyf encrypt "$k1" <"$tmp/$p" >"$tmp/$p.py" &&
	    FERNET_KEY=$k1 "$tool" decrypt <"$tmp/$p.py" >"$tmp/$p.py.out" \
	    2>/dev/null && cmp -s "$tmp/$p" "$tmp/$p.py.out"
	ok $? "Python token ($n bytes) opens in C"
done

# Rotation: k2 primary, k1 previous, on both sides.
FERNET_KEY=$k2 FERNET_KEY_PREVIOUS=$k1 "$tool" decrypt <"$tmp/p3.py" \
    >"$tmp/rot.out" 2>"$tmp/rot.err" && cmp -s "$tmp/p3" "$tmp/rot.out" &&
    grep -q 'key: previous' "$tmp/rot.err"
ok $? "C MultiFernet opens a Python token under the previous key"
FERNET_KEY=$k2 FERNET_KEY_PREVIOUS=$k1 "$tool" encrypt <"$tmp/p3" \
    >"$tmp/rot.c" && pyf decrypt "$k2" <"$tmp/rot.c" >"$tmp/rot.c.out" &&
    cmp -s "$tmp/p3" "$tmp/rot.c.out"
ok $? "C MultiFernet encrypts under the primary (Python opens with it alone)"
pyf decrypt "$k1" <"$tmp/rot.c" >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "Python refuses the rotated token under the old key"
pyf decrypt "$k2" "$k1" <"$tmp/p1.c" >"$tmp/rot2.out" &&
    cmp -s "$tmp/p1" "$tmp/rot2.out"
ok $? "Python MultiFernet opens a C token under the previous key"
FERNET_KEY=$k2 "$tool" decrypt <"$tmp/p1.py" >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "C refuses a Python token under another key"

# Tampering: one character of the Python token changed.
tok=$(cat "$tmp/p1.py")
c=$(printf '%s' "$tok" | cut -c40)
if [ "$c" = A ]; then r=B; else r=A; fi
printf '%s%s%s\n' "$(printf '%s' "$tok" | cut -c1-39)" "$r" \
    "$(printf '%s' "$tok" | cut -c41-)" >"$tmp/bad"
FERNET_KEY=$k1 "$tool" decrypt <"$tmp/bad" >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "C refuses a tampered Python token"

# TTL: a Python token ten minutes old, refused with a 60 s TTL only.
pyf encrypt-old "$k1" <"$tmp/p1" >"$tmp/old"
FERNET_KEY=$k1 FERNET_TTL=60 "$tool" decrypt <"$tmp/old" >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "C refuses a 10-minute-old Python token with a 60 s TTL"
FERNET_KEY=$k1 FERNET_TTL=3600 "$tool" decrypt <"$tmp/old" >/dev/null 2>&1
ok $? "C opens it with a 1 h TTL"

echo "fernet interop: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
