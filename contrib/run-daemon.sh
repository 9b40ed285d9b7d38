#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# run-daemon.sh - install the build dependencies (Debian 12, as root),
# build authmilter and run it in the foreground (-f, log to stderr).
#
# With no /etc/authmilter/authmilter.conf the built-in defaults apply: it
# listens on inet:8895@127.0.0.1 and resolves recursively from the root.
# Arguments are passed to the daemon, e.g.
#   sudo contrib/run-daemon.sh -c /etc/authmilter/authmilter.conf
#   sudo contrib/run-daemon.sh -o Socket=inet:9999@127.0.0.1
# AM_SKIP_APT=1 skips the package step.
set -eu
cd "$(dirname "$0")/.."

build_deps=$(grep -v '^#' contrib/build-packages.txt)

if [ "${AM_SKIP_APT:-0}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "run-daemon.sh: run as root to install packages" \
			"(or set AM_SKIP_APT=1)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || echo "apt-get update failed; trying the cache"
	# shellcheck disable=SC2086
	apt-get install -y -q $build_deps </dev/null
fi

if [ -d build/meson-private ]; then
	meson setup --reconfigure build
else
	meson setup build
fi
meson compile -C build

if [ ! -x build/milter/authmilter ]; then
	echo "run-daemon.sh: the daemon is not built yet (milter/meson.build" \
		"builds it once conf, log, dns and filter exist)" >&2
	exit 1
fi
exec build/milter/authmilter -f "$@"
