#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# run-all.sh - set up a fresh Debian 12 machine and run every test.
#
# Run as root from anywhere: it installs tests/packages.txt with apt-get,
# builds a normal and an ASan/UBSan tree (build/ and build-asan/ at the top
# of the source tree), runs every meson suite but e2e in both, then the
# e2e suite (pytest) against each build's daemon. Its last line is
# "N passed, N failed, N skipped", summed over everything (a meson test or
# a pytest test counts one; a failed setup or build step counts one
# failure); the exit status is 1 if anything failed.
#
# Environment: AM_SKIP_APT=1 skips the package step (a prepared machine);
# AM_SKIP_ASAN=1 skips the sanitizer build; AM_LOGDIR (default
# build-logs/) keeps every step's output.
set -u
export LC_ALL=C.UTF-8
cd "$(dirname "$0")/.." || exit 2
top=$(pwd)
logdir=${AM_LOGDIR:-$top/build-logs}
mkdir -p "$logdir"
py=/usr/bin/python3

passed=0
failed=0
skipped=0

say() { printf '== %s\n' "$*"; }

# step NAME CMD...: run one setup or build step, its output to the log
# directory; a failure counts one and is shown.
step() {
	local name=$1; shift
	say "$name"
	if "$@" >"$logdir/$name.log" 2>&1; then
		return 0
	fi
	failed=$((failed + 1))
	echo "FAILED: $name (last lines of $logdir/$name.log):"
	tail -n 40 "$logdir/$name.log" | sed 's/^/    /'
	return 1
}

# add P F S: add to the totals.
add() {
	passed=$((passed + $1)); failed=$((failed + $2))
	skipped=$((skipped + $3))
	echo "   $1 passed, $2 failed, $3 skipped"
}

install_packages() {
	local pkgs
	pkgs=$(grep -v '^[[:space:]]*#' tests/packages.txt | tr -s ' \n' ' ')
	export DEBIAN_FRONTEND=noninteractive
	# Postfix must not prompt and must not set up a system instance.
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	apt-get update -q || echo "apt-get update failed; trying what is cached"
	# shellcheck disable=SC2086
	apt-get install -y -q -o Dpkg::Options::=--force-confdef \
		-o Dpkg::Options::=--force-confold $pkgs </dev/null || return 1
	# sendmail-bin conflicts with postfix: unpacked, not installed.
	tests/e2e/fetch-sendmail.sh
}

# meson_counts BUILDDIR: count the results of its last meson test run.
meson_counts() {
	"$py" - "$1/meson-logs/testlog.json" <<'EOF'
import json, sys
p = f = s = 0
try:
    lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
except OSError:
    lines = []
for ln in lines:
    if not ln.strip():
        continue
    r = json.loads(ln).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r == "SKIP":
        s += 1
    else:
        f += 1
print(p, f, s)
EOF
}

# junit_counts FILE: count a pytest junit XML report.
junit_counts() {
	"$py" - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1, 0)
    sys.exit()
# pytest writes a second testcase for a teardown error after a failed
# call: count each (classname, name) once, by its worst outcome.
rank = {"passed": 0, "skipped": 1, "failed": 2}
seen = {}
for tc in root.iter("testcase"):
    tags = {child.tag for child in tc}
    if tags & {"failure", "error"}:
        o = "failed"
    elif "skipped" in tags:
        o = "skipped"
    else:
        o = "passed"
    key = (tc.get("classname"), tc.get("name"))
    if rank[o] >= rank.get(seen.get(key), -1):
        seen[key] = o
outs = list(seen.values())
p, f, s = (outs.count("passed"), outs.count("failed"),
           outs.count("skipped"))
print(p, f, s)
EOF
}

run_meson_tests() {	# BUILDDIR
	local b=$1 counts
	say "meson test -C $b (all suites but e2e)"
	meson test -C "$b" --no-suite e2e --print-errorlogs \
		>"$logdir/test-$(basename "$b").log" 2>&1
	counts=$(meson_counts "$b")
	# shellcheck disable=SC2086
	set -- $counts
	if [ "$2" -ne 0 ]; then
		grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|ERROR|TIMEOUT)' \
			"$logdir/test-$(basename "$b").log" | sed 's/^/    /'
	fi
	add "$1" "$2" "$3"
}

run_e2e() {	# NAME DAEMON [pytest args...]
	local name=$1 daemon=$2 counts xml
	shift 2
	xml="$logdir/e2e-$name.xml"
	rm -f "$xml"
	say "e2e against $name (AUTHMILTER=${daemon:-none})"
	if [ -n "$daemon" ] && [ ! -x "$daemon" ]; then
		echo "   $daemon is not built: the daemon tests will skip"
		daemon=
	fi
	AUTHMILTER=$daemon PYTHONDONTWRITEBYTECODE=1 \
		"$py" -m pytest -q -rfEs -p no:cacheprovider \
		--junitxml="$xml" --ignore=tests/e2e/test_sendmail.py \
		"$@" tests/e2e \
		>"$logdir/e2e-$name.log" 2>&1
	counts=$(junit_counts "$xml")
	# shellcheck disable=SC2086
	set -- $counts
	if [ "$2" -ne 0 ]; then
		tail -n 60 "$logdir/e2e-$name.log" | sed 's/^/    /'
	fi
	add "$1" "$2" "$3"
}

run_e2e_sendmail() {	# NAME DAEMON [pytest args...]
	local name=$1 daemon=$2 counts xml
	shift 2
	xml="$logdir/e2e-sendmail-$name.xml"
	rm -f "$xml"
	say "e2e with Sendmail against $name"
	AUTHMILTER=$daemon tests/e2e/sendmail-netns.sh --junitxml="$xml" \
		"$@" >"$logdir/e2e-sendmail-$name.log" 2>&1
	if [ $? -eq 77 ]; then
		tail -n 3 "$logdir/e2e-sendmail-$name.log" | sed 's/^/    /'
		add 0 0 1
		return
	fi
	counts=$(junit_counts "$xml")
	# shellcheck disable=SC2086
	set -- $counts
	if [ "$2" -ne 0 ]; then
		tail -n 60 "$logdir/e2e-sendmail-$name.log" | sed 's/^/    /'
	fi
	add "$1" "$2" "$3"
}

build() {	# DIR [meson options...]
	local dir=$1; shift
	if [ -d "$dir/meson-private" ]; then
		step "setup-$(basename "$dir")" \
			meson setup --reconfigure "$dir" "$@" || return 1
	else
		step "setup-$(basename "$dir")" meson setup "$dir" "$@" ||
			return 1
	fi
	step "compile-$(basename "$dir")" meson compile -C "$dir"
}

start=$(date +%s)
if [ "${AM_SKIP_APT:-0}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "run-all.sh: run as root (it installs packages and runs a" \
			"private Postfix), or set AM_SKIP_APT=1" >&2
	fi
	step packages install_packages
fi

if build build; then
	run_meson_tests build
	run_e2e build "$top/build/milter/authmilter"
	run_e2e_sendmail build "$top/build/milter/authmilter"
fi
if [ "${AM_SKIP_ASAN:-0}" != 1 ]; then
	if build build-asan -Db_sanitize=address,undefined -Db_lundef=false
	then
		export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
		export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
		run_meson_tests build-asan
		# The harness's own tests do not involve the daemon: run once.
		run_e2e build-asan "$top/build-asan/milter/authmilter" \
			--ignore=tests/e2e/test_harness.py
		run_e2e_sendmail build-asan \
			"$top/build-asan/milter/authmilter"
	fi
fi

# The libFuzzer targets of the parsers of network input (tests/fuzz),
# built with clang under ASan/UBSan, run for about 60 s in all.
if [ "${AM_SKIP_FUZZ:-0}" != 1 ]; then
	export CC=clang
	if build build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
		-Db_lundef=false
	then
		say "fuzz: meson test -C build-fuzz --suite fuzz"
		meson test -C build-fuzz --suite fuzz --print-errorlogs \
			>"$logdir/test-build-fuzz.log" 2>&1
		# shellcheck disable=SC2046
		set -- $(meson_counts build-fuzz)
		if [ "$2" -ne 0 ]; then
			tail -n 40 "$logdir/test-build-fuzz.log" |
				sed 's/^/    /'
		fi
		add "$1" "$2" "$3"
	fi
	unset CC
fi

say "done in $(( $(date +%s) - start ))s; logs in $logdir"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
