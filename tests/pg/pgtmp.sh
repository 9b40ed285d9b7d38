#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# pgtmp.sh - a throwaway PostgreSQL cluster for tests (unix socket only)
#
#   pgtmp.sh start [DIR]   create the cluster in DIR (a new temporary
#                          directory when none is given) unless it exists,
#                          start it, and print its libpq URI on stdout
#   pgtmp.sh halt DIR      stop the server, keep the data (start DIR again
#                          later: "the database is down for a while")
#   pgtmp.sh stop DIR      stop the server at once and remove DIR
#   pgtmp.sh uri DIR       print the URI again
#
# The server listens on no TCP address (listen_addresses=''); its socket
# is DIR/.s.PGSQL.PORT, PORT being $PGTMP_PORT or 5432 (a port number only
# names the socket file here, so clusters in different directories never
# collide). The URI is postgresql:///postgres?host=DIR&port=PORT&user=postgres
# (database and user "postgres", trust authentication on the socket).
# initdb refuses to run as root: as root the cluster belongs to the
# system user "postgres" (runuser), and DIR is given to it; DIR's parent
# directories must then be searchable by postgres (/tmp is). A unix
# socket path is at most 107 octets: keep DIR short.
# Files in DIR: data/ (the cluster), initdb.log, server.log (read it when
# a test fails), .s.PGSQL.PORT (the socket).
#
# Example (a test of two daemons sharing one database):
#   uri=$(tests/pg/pgtmp.sh start)        # ReportDatabase $uri
#   dir=${uri#*host=}; dir=${dir%%&*}
#   tests/pg/pgtmp.sh halt "$dir"; sleep 30; tests/pg/pgtmp.sh start "$dir"
#   tests/pg/pgtmp.sh stop "$dir"
# tests/pg/with-pg.sh wraps start and stop around one command.
#
# Needs Debian's postgresql package (/usr/lib/postgresql/*/bin). Exit
# status: 0; 77 when PostgreSQL is not installed (meson's "skipped"); 1
# on any failure, with initdb's or the server's log on stderr.
set -eu

port=${PGTMP_PORT:-5432}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	echo "pgtmp.sh: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)" >&2
	exit 77
fi

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

uri() {
	echo "postgresql:///postgres?host=$1&port=$port&user=postgres"
}

usage() {
	echo "usage: pgtmp.sh start [DIR] | halt DIR | stop DIR | uri DIR" >&2
	exit 1
}

cmd=${1:-}
[ $# -ge 1 ] && shift
case $cmd in
start)
	if [ $# -ge 1 ]; then
		dir=$1
		mkdir -p "$dir"
	else
		dir=$(mktemp -d /tmp/pgtmp.XXXXXX)
	fi
	dir=$(cd "$dir" && pwd)
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir"
	fi
	chmod 0755 "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		if ! as_owner "$bindir/initdb" -D "$dir/data" -U postgres \
			-A trust --no-sync -E UTF8 --locale=C.UTF-8 \
			>"$dir/initdb.log" 2>&1; then
			cat "$dir/initdb.log" >&2
			exit 1
		fi
	fi
	if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
		-w -t 60 -o "-c listen_addresses='' -k $dir -p $port -c fsync=off" \
		start >/dev/null 2>&1; then
		cat "$dir/server.log" >&2 2>/dev/null || true
		exit 1
	fi
	uri "$dir"
	;;
halt)
	[ $# -eq 1 ] || usage
	as_owner "$bindir/pg_ctl" -D "$1/data" -w -m fast stop >/dev/null
	;;
stop)
	[ $# -eq 1 ] || usage
	if [ -f "$1/data/postmaster.pid" ]; then
		as_owner "$bindir/pg_ctl" -D "$1/data" -w -m immediate stop \
			>/dev/null 2>&1 || true
	fi
	rm -rf "$1"
	;;
uri)
	[ $# -eq 1 ] || usage
	uri "$(cd "$1" && pwd)"
	;;
*)
	usage
	;;
esac
