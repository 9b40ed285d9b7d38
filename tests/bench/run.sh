#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# run.sh [BUILDDIR] [run.py options]: the whole benchmark in one run.
#
# Runs tests/bench/run.py as root inside a private network and mount
# namespace (unshare -n -m): its loopback interface is the benchmark's
# own, so the DNS server can listen on 127.0.0.1:53 and the milters on
# fixed ports without colliding with anything else, and /etc/resolv.conf
# (for OpenDMARC's libresolv) is bind-mounted for this run only.
# Results: docs/BENCHMARKS.md (table), docs/benchmarks.png (plot).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
[ $# -gt 0 ] && shift
if [ "$(id -u)" != 0 ]; then
	echo "run.sh: needs root (network namespace, port 53)" >&2
	exit 1
fi
# The peers and the plotting library (tests/bench/packages.txt).
missing=$(grep -v '^#' "$here/packages.txt" | while read -r p; do
	if [ -n "$p" ] && ! dpkg -s "$p" >/dev/null 2>&1; then echo "$p"; fi
	done)
if [ -n "$missing" ]; then
	apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q $missing
fi
meson compile -C "$build" >/dev/null
exec unshare -n -m /usr/bin/python3 "$here/run.py" --build "$build" \
	--top "$top" "$@"
