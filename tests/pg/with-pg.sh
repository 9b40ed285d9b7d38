#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# with-pg.sh - run a command with a throwaway PostgreSQL cluster
#
#   with-pg.sh COMMAND [ARG]...
#
# Starts a cluster with pgtmp.sh, runs COMMAND with its URI in
# $AM_TEST_PG_URI and its directory in $AM_TEST_PG_DIR (for pgtmp.sh halt
# and start), removes the cluster, and exits with COMMAND's status; 77
# (skipped) when PostgreSQL is not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
uri=$("$here/pgtmp.sh" start)
rc=$?
if [ $rc -ne 0 ]; then
	[ $rc -eq 77 ] && echo "skipped: PostgreSQL is not installed"
	exit $rc
fi
dir=${uri#*host=}
dir=${dir%%&*}
AM_TEST_PG_URI=$uri AM_TEST_PG_DIR=$dir "$@"
rc=$?
"$here/pgtmp.sh" stop "$dir"
exit $rc
