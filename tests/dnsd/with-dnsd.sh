#!/bin/sh
# with-dnsd.sh ZONES.json CMD [ARG...]
# Start tests/dnsd/dnsd.py on a free loopback port serving ZONES.json, run
# CMD with AM_TEST_DNS=127.0.0.1@PORT (and AM_TEST_DNS_PORT,
# AM_TEST_DNS_QLOG, AM_TEST_ZONES) in its environment, stop the server,
# and exit with CMD's status.
set -u
zones=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dnsd.XXXXXX")
/usr/bin/python3 "$here/dnsd.py" --zones "$zones" --port-file "$tmp/port" \
	--query-log "$tmp/queries.log" &
pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $pid 2>/dev/null; then
		echo "with-dnsd: dnsd did not start" >&2
		kill $pid 2>/dev/null; rm -rf "$tmp"; exit 99
	fi
	sleep 0.05
done
port=$(cat "$tmp/port")
AM_TEST_DNS="127.0.0.1@$port" AM_TEST_DNS_PORT=$port \
	AM_TEST_DNS_QLOG="$tmp/queries.log" AM_TEST_ZONES="$zones" "$@"
rc=$?
kill $pid 2>/dev/null
wait $pid 2>/dev/null
rm -rf "$tmp"
exit $rc
