#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# fetch-sendmail.sh - unpack Debian's Sendmail for the Sendmail e2e tests.
#
# sendmail-bin conflicts with postfix (both provide mail-transport-agent),
# so it cannot be installed beside the Postfix the other tests use. It
# does not need to be: this script downloads sendmail-bin and sendmail-cf
# with `apt-get download` (no installation, no maintainer scripts) and
# unpacks them with `dpkg-deb -x` into a private directory:
#
#   DIR/usr/libexec/sendmail/sendmail    the MTA binary
#   DIR/usr/share/sendmail/cf/           the m4 macros (cf.m4, feature/...)
#
# DIR is $1, else $AM_SENDMAIL_ROOT, else /var/cache/authmilter-e2e/sendmail.
# Nothing is done if DIR already holds both. The binary's shared
# libraries and m4 are ordinary packages (tests/packages.txt).
# Exit status: 0 when DIR is ready, 1 otherwise (message on stderr).
set -eu
dir=${1:-${AM_SENDMAIL_ROOT:-/var/cache/authmilter-e2e/sendmail}}
bin=$dir/usr/libexec/sendmail/sendmail
cf=$dir/usr/share/sendmail/cf/m4/cf.m4
if [ -x "$bin" ] && [ -f "$cf" ]; then
	exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt drops to the _apt user to download; let it write there.
chmod 0755 "$tmp"
chown _apt "$tmp" 2>/dev/null || true
if ! (cd "$tmp" && apt-get download -q sendmail-bin sendmail-cf) \
	>"$tmp/log" 2>&1; then
	cat "$tmp/log" >&2
	echo "fetch-sendmail.sh: apt-get download failed" >&2
	exit 1
fi
for deb in "$tmp"/*.deb; do
	dpkg-deb -x "$deb" "$dir"
done
if [ ! -x "$bin" ] || [ ! -f "$cf" ]; then
	echo "fetch-sendmail.sh: $bin or $cf missing after unpacking" >&2
	exit 1
fi
