#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# sendmail-netns.sh - run the Sendmail e2e tests in a private network and
# mount namespace.
#
# Sendmail has no XCLIENT: the milter sees the address the SMTP client
# really connects from. So the tests run in a network namespace of their
# own (unshare --net), whose only interface is a loopback that this script
# brings up; the harness adds documentation addresses (192.0.2.0/24,
# 198.51.100.0/24, 2001:db8::/32) to that loopback and the SMTP client
# binds to them. The namespace has no route to anything else, so no
# packet can leave the machine, and the host's own network is untouched.
# The mount namespace (unshare --mount, private propagation) lets the
# harness give Cyrus SASL a private configuration directory by a bind
# mount that vanishes with the namespace, and a resolv.conf of its own;
# the UTS namespace gives it a host name of its own.
#
#   tests/e2e/sendmail-netns.sh [pytest arguments...]
#
# Needs root (or CAP_SYS_ADMIN), unshare(1) and ip(8). Runs
# tests/e2e/test_sendmail.py with AM_E2E_NETNS=1; other environment
# (AUTHMILTER, AM_SENDMAIL_ROOT, AM_E2E_KEEP) passes through. Exit
# status: pytest's, or 77 (skipped) when no namespace can be made.
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "${AM_E2E_NETNS:-0}" != 1 ]; then
	if ! unshare --net --mount --uts true 2>/dev/null; then
		echo "sendmail-netns.sh: SKIP: cannot create a network" \
			"namespace (needs root / CAP_SYS_ADMIN)" >&2
		exit 77
	fi
	AM_E2E_NETNS=1 exec unshare --net --mount --uts --propagation private \
		"$0" "$@"
fi
ip link set lo up || exit 1
# The namespace's resolver is loopback port 53, where nothing listens:
# a lookup that bypasses authmilter's forwarder (Sendmail canonifying
# the host name at start) fails at once instead of waiting for the
# host's servers, which are out of reach here anyway.
resolv=$(mktemp)
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$resolv"
chmod 0644 "$resolv"
mount --bind "$resolv" /etc/resolv.conf || exit 1
# Sendmail wants a qualified host name, or it sleeps 60 s at start
# ("unqualified host name unknown; sleeping for retry"): the UTS
# namespace (unshare --uts) gives it one without touching the host's.
hostname mx.test.example || exit 1
export PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 -m pytest -q -rfEs -p no:cacheprovider "$@" \
	"$here/test_sendmail.py"
rc=$?
umount /etc/resolv.conf && rm -f "$resolv"
exit $rc
