#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# check-install.sh - `meson install` into a DESTDIR and check the tree.
#
#   check-install.sh tree   BUILDDIR   the installed files, exactly
#   check-install.sh verify BUILDDIR   systemd-analyze verify of the
#                                      installed unit (exit 77 = skipped)
#
# The expected tree is derived from the build's own prefix and directory
# options (meson introspect), so it holds for --prefix=/usr (Debian) and
# for the default /usr/local alike.
set -u
mode=$1
build=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

opt() {	# NAME: the value of one meson option of the build
	meson introspect --buildoptions "$build" | /usr/bin/python3 -c '
import json, sys
for o in json.load(sys.stdin):
    if o["name"] == sys.argv[1]:
        print(o["value"])' "$1"
}

prefix=$(opt prefix)
sbindir=$(opt sbindir)
bindir=$(opt bindir)
mandir=$(opt mandir)
datadir=$(opt datadir)
unitdir=$(opt systemdunitdir)
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system
sysusersdir=$(opt sysusersdir)
[ -n "$sysusersdir" ] || sysusersdir=$prefix/lib/sysusers.d
tmpfilesdir=$(opt tmpfilesdir)
[ -n "$tmpfilesdir" ] || tmpfilesdir=$prefix/lib/tmpfiles.d
abs() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
sbin=$(abs "$sbindir")
unit=$(abs "$unitdir")/authmilter.service

if ! DESTDIR=$dest meson install -C "$build" --no-rebuild --quiet \
	>"$dest.log" 2>&1; then
	cat "$dest.log"; rm -f "$dest.log"
	echo "FAIL: meson install"
	exit 1
fi
rm -f "$dest.log"

fail=0
bad() { echo "FAIL: $*"; fail=1; }

case $mode in
tree)
	expected=$({ printf '%s\n' \
		"$sbin/authmilter" \
		"$(abs "$bindir")/authmilter-explain" \
		"$(abs "$mandir")/man1/authmilter-explain.1" \
		"$(abs "$mandir")/man8/authmilter.8" \
		"$(abs "$mandir")/man5/authmilter.conf.5" \
		"$(abs "$datadir")/doc/authmilter/examples/authmilter.conf" \
		"$(abs "$datadir")/doc/authmilter/DEPLOYMENT.md" \
		"$(abs "$datadir")/doc/authmilter/OPERATIONS.md" \
		"$(abs "$datadir")/doc/authmilter/SECURITY.md" \
		"$(abs "$mandir")/man8/authmilter-report.8" \
		"$(abs "$datadir")/doc/authmilter/headers-and-verdicts.md" \
		"$(abs "$datadir")/doc/authmilter/REPORTS.md" \
		"$unit" \
		"$(abs "$sysusersdir")/authmilter.conf" \
		"$(abs "$tmpfilesdir")/authmilter.conf"
	# the report program and its units, once it is linked (it needs
	# milter/store.c; see milter/meson.build)
	if [ -e "$build/milter/authmilter-report" ]; then
		printf '%s\n' "$sbin/authmilter-report" \
			"$(abs "$unitdir")/authmilter-report.service" \
			"$(abs "$unitdir")/authmilter-report.timer"
	fi; } | sort)
	actual=$(cd "$dest" && find . \( -type f -o -type l \) |
		sed 's|^\.||' | sort)
	if [ "$expected" != "$actual" ]; then
		bad "installed tree differs (- expected, + installed):"
		diff <(echo "$expected") <(echo "$actual") | sed 's/^/    /'
	fi
	[ -x "$dest$sbin/authmilter" ] || bad "$sbin/authmilter not executable"
	"$dest$sbin/authmilter" -V >/dev/null 2>&1 ||
		bad "installed authmilter -V failed"
	# The example is the file the daemon accepts as it is.
	"$dest$sbin/authmilter" -n -c \
		"$dest$(abs "$datadir")/doc/authmilter/examples/authmilter.conf" ||
		bad "the installed example configuration does not pass -n"
	grep -qx "ExecStart=$sbin/authmilter -f" "$dest$unit" ||
		bad "unit ExecStart is not $sbin/authmilter -f"
	grep -q '@sbindir@' "$dest$unit" && bad "unit has an unsubstituted @sbindir@"
	grep -Eq '^u authmilter ' \
		"$dest$(abs "$sysusersdir")/authmilter.conf" ||
		bad "sysusers entry for user authmilter missing"
	grep -Eq '^d /run/authmilter 0750 authmilter authmilter' \
		"$dest$(abs "$tmpfilesdir")/authmilter.conf" ||
		bad "tmpfiles entry for /run/authmilter missing"
	for m in "$(abs "$mandir")/man8/authmilter.8" \
		"$(abs "$mandir")/man8/authmilter-report.8" \
		"$(abs "$mandir")/man5/authmilter.conf.5" \
		"$(abs "$mandir")/man1/authmilter-explain.1"; do
		out=$(groff -man -t -ww -z "$dest$m" 2>&1) ||
			bad "groff failed on $m"
		[ -z "$out" ] || bad "groff -man -ww -z $m: $out"
	done
	;;
verify)
	if ! command -v systemd-analyze >/dev/null; then
		echo "SKIP: systemd-analyze is not installed"
		exit 77
	fi
	# No systemd as PID 1 is needed: `verify` loads the unit file
	# offline. It does check that ExecStart's program exists and that
	# the Documentation= man pages open, on the real file system, so
	# the DESTDIR's sbin is bind-mounted over the prefix's sbin in a
	# private mount namespace and MANPATH points into the DESTDIR.
	if ! unshare --mount true 2>/dev/null; then
		echo "SKIP: no private mount namespace (needs root) for" \
			"the binary the unit names"
		exit 77
	fi
	if [ ! -d "$sbin" ]; then
		echo "SKIP: $sbin does not exist on this machine to mount over"
		exit 77
	fi
	units="$dest$unit"
	# the report program's service and timer, when they are installed
	for u in authmilter-report.service authmilter-report.timer; do
		[ -e "$dest$(abs "$unitdir")/$u" ] &&
			units="$units $dest$(abs "$unitdir")/$u"
	done
	out=$(MANPATH=$dest$(abs "$mandir") unshare --mount sh -c '
		mount --bind "$1" "$2" && shift 2 &&
		systemd-analyze verify "$@" 2>&1
		echo "exit=$?"' sh "$dest$sbin" "$sbin" $units)
	echo "$out"
	# verify exits 0 on mere warnings: any output is a failure.
	[ "$out" = "exit=0" ] || bad "systemd-analyze verify $units"
	;;
*)
	echo "usage: $0 tree|verify BUILDDIR" >&2
	exit 2
	;;
esac
[ "$fail" -eq 0 ] && echo "OK: $mode"
exit "$fail"
