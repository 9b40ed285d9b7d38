#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# run.sh CMD [ARG...]
# Sign sec.test (ldns-keygen, ldns-signzone, ED25519), change one signed
# record (evil.sec.test A) so that it no longer verifies, serve the zone
# from an unbound daemon in the foreground on 127.0.0.1, and run CMD
# with AM_TEST_DNSSEC=127.0.0.1@PORT and AM_TEST_TA=<DNSKEY file>.
# Exits 77 (skip) when unbound, the ldns tools or dig are missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
for t in unbound ldns-keygen ldns-signzone dig; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "run.sh: $t not installed: DNSSEC test skipped" >&2
		exit 77
	fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dnssec.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
start=$(pwd)
cd "$tmp" || exit 99
cp "$here/sec.test.zone" zone
key=$(ldns-keygen -a ED25519 sec.test) || exit 99
ldns-signzone -f signed zone "$key" || exit 99
grep -q '^evil\.sec\.test\.[[:space:]].*[[:space:]]A[[:space:]]*192\.0\.2\.20$' \
	signed || { echo "run.sh: signed zone not as expected" >&2; exit 99; }
sed -i 's/192\.0\.2\.20$/192.0.2.66/' signed
cp "$key.key" ta.key
# unbound cannot report a port it picked itself: take one the kernel
# offers for both UDP and TCP, then start unbound on it (a small race).
port=$(/usr/bin/python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break')
cat > unbound.conf <<EOC
server:
	interface: 127.0.0.1
	port: $port
	do-ip6: no
	username: ""
	chroot: ""
	directory: "$tmp"
	pidfile: ""
	do-daemonize: no
	use-syslog: no
	logfile: ""
	verbosity: 0
	module-config: "iterator"
	local-zone: "." refuse
	local-zone: "sec.test." transparent
auth-zone:
	name: "sec.test."
	zonefile: "$tmp/signed"
	for-downstream: yes
	for-upstream: no
	fallback-enabled: no
remote-control:
	control-enable: no
EOC
unbound -d -c unbound.conf &
pid=$!
i=0
until dig +time=1 +tries=1 +short @127.0.0.1 -p "$port" www.sec.test A \
	2>/dev/null | grep -q 192.0.2.10; do
	i=$((i + 1))
	if [ $i -gt 50 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "run.sh: unbound did not start" >&2
		exit 99
	fi
	sleep 0.1
done
cd "$start" || exit 99
AM_TEST_DNSSEC="127.0.0.1@$port" AM_TEST_TA="$tmp/ta.key" "$@"
