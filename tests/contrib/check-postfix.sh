#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# check-postfix.sh - contrib/postfix/main.cf is what Postfix accepts:
# every line a known parameter with a valid value (postconf reads it
# with no warning), and every parameter it sets reads back as written.
# Exit 77 (skipped) when Postfix is not installed.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
cf=$src/contrib/postfix/main.cf
if ! command -v postconf >/dev/null; then
	echo "SKIP: postconf (Postfix) is not installed"
	exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$cf" "$dir/main.cf"
# postconf reads master.cf too: Debian's stock one.
for m in /usr/share/postfix/master.cf.dist /etc/postfix/master.cf.proto; do
	[ -f "$m" ] && { cp "$m" "$dir/master.cf"; break; }
done
fail=0
out=$(postconf -c "$dir" -n 2>&1 >/dev/null)
if [ -n "$out" ]; then
	echo "FAIL: postconf warns about $cf:"
	echo "$out"
	fail=1
fi
n=0
while IFS= read -r line; do
	case $line in ''|'#'*|' '*|$'\t'*) continue ;; esac
	name=${line%% =*}
	want=${line#*= }
	got=$(postconf -c "$dir" -h "$name" 2>&1)
	# postconf -h expands nothing but prints the value as stored
	if [ "$got" != "$want" ]; then
		echo "FAIL: $name reads back as '$got', not '$want'"
		fail=1
	fi
	n=$((n + 1))
done <"$cf"
[ "$n" -ge 10 ] || { echo "FAIL: only $n parameters in $cf"; fail=1; }
# The macros of the Postfix e2e harness are the ones documented here.
/usr/bin/python3 - "$cf" "$src/tests/e2e" <<'PY' || fail=1
import sys
sys.path.insert(0, sys.argv[2])
import harness
conf = {}
for ln in open(sys.argv[1]):
    if ln[:1].isalpha() and " = " in ln:
        k, v = ln.rstrip("\n").split(" = ", 1)
        conf[k] = v
bad = [k for k, v in harness.MILTER_MACROS.items() if conf.get(k) != v]
for k in bad:
    print("FAIL: %s differs from tests/e2e/harness.py: %r vs %r"
          % (k, conf.get(k), harness.MILTER_MACROS[k]))
sys.exit(1 if bad else 0)
PY
[ "$fail" -eq 0 ] && echo "OK: $n parameters"
exit $fail
