#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# run.sh - run the README's quick start, command by command, as written,
# in a throwaway copy of the system, and check what it promises: a
# running daemon (as user authmilter, from the installed unit) and a
# Postfix that passes mail through it (the forged Authentication-Results
# header is gone from the delivered message, the log has the message).
#
# The copy: a private mount namespace in which /usr, /etc, /var and /run
# are overlays whose upper layers live in a temporary directory, so
# `meson install`, systemd-sysusers, /etc/authmilter and Postfix's
# main.cf, queue and /var/mail change nothing outside; a private network
# namespace (loopback only, so port 25 and 8895 are ours and nothing
# leaves the machine) and UTS namespace (host name mx.quickstart.test).
# The commands run in a copy of the tracked source files.
#
# Shims, because the container has no systemd as PID 1: `sudo` runs the
# command (we are root), `systemctl enable --now authmilter` starts the
# installed unit's ExecStartPre/ExecStart as its User= with its
# RuntimeDirectory=, `systemctl restart postfix` does what Debian's
# postfix unit does (configure-instance.sh, postfix start), `journalctl
# -u authmilter` prints what the started daemon wrote to stderr.
#
# Needs root, unshare(1) and overlayfs; exit 77 (skipped) without them.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
self=$src/tests/quickstart/run.sh

if [ "${AM_QS_INSIDE:-0}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ] ||
		! unshare --mount --net --uts true 2>/dev/null; then
		echo "SKIP: needs root and private namespaces (unshare)"
		exit 77
	fi
	work=$(mktemp -d /tmp/am-quickstart.XXXXXX)
	AM_QS_INSIDE=1 AM_QS_WORK=$work unshare --mount --net --uts \
		--propagation private "$self"
	rc=$?
	if [ "${AM_QS_KEEP:-0}" = 1 ]; then
		echo "kept $work"
	else
		rm -rf "$work"
	fi
	exit $rc
fi

work=$AM_QS_WORK
for d in usr etc var run; do
	mkdir -p "$work/ov/$d/up" "$work/ov/$d/wk"
	if ! mount -t overlay overlay -o "lowerdir=/$d,upperdir=$work/ov/$d/up,workdir=$work/ov/$d/wk" "/$d"; then
		echo "SKIP: cannot mount an overlay on /$d"
		exit 77
	fi
done
ip link set lo up
hostname mx.quickstart.test
printf '127.0.1.1 mx.quickstart.test mx\n' >>/etc/hosts
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' \
	>/etc/resolv.conf.qs && rm -f /etc/resolv.conf &&
	mv /etc/resolv.conf.qs /etc/resolv.conf

# Precondition of the quick start: Postfix set up as "Internet Site",
# i.e. what debconf writes for this host. A machine whose Postfix was
# installed with "No configuration" (as tests/run-all.sh does) has no
# main.cf: start from Debian's template, as the package's configuration
# script does for "Internet Site".
if [ ! -f /etc/postfix/main.cf ]; then
	cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
	[ -f /etc/postfix/master.cf ] ||
		cp /usr/share/postfix/master.cf.dist /etc/postfix/master.cf
fi
postconf -e 'myhostname = mx.quickstart.test' \
	'mydestination = $myhostname, localhost' \
	'inet_interfaces = loopback-only' 'inet_protocols = ipv4' \
	'relayhost =' 'alias_maps = hash:/etc/aliases' \
	'alias_database = hash:/etc/aliases' 'maillog_file = /var/log/mail.log'
touch /etc/aliases && newaliases

# Shims.
bin=$work/bin
mkdir -p "$bin" "$work/journal"
cat >"$bin/sudo" <<'SHIM'
#!/bin/sh
exec "$@"
SHIM
cat >"$bin/journalctl" <<SHIM
#!/bin/sh
# journalctl -u authmilter [...]: the daemon's stderr
[ "\$1" = -u ] && [ "\$2" = authmilter ] || { echo "journalctl shim: \$*" >&2; exit 1; }
cat "$work/journal/authmilter.log"
SHIM
cat >"$bin/systemctl" <<SHIM
#!/bin/bash
set -e
unitval() { sed -n "s/^\$1=//p" /usr/lib/systemd/system/authmilter.service | head -1; }
case "\$*" in
"daemon-reload") ;;
"enable --now authmilter"|"start authmilter")
	user=\$(unitval User)
	rd=\$(unitval RuntimeDirectory)
	[ -z "\$rd" ] || install -d -o "\$user" -g "\$(unitval Group)" \
		-m "\$(unitval RuntimeDirectoryMode)" "/run/\$rd"
	runuser -u "\$user" -- \$(unitval ExecStartPre)
	setsid runuser -u "\$user" -- \$(unitval ExecStart) \
		>>"$work/journal/authmilter.log" 2>&1 </dev/null &
	echo \$! >"$work/authmilter.pid"
	# Type=simple: up once it listens.
	for i in \$(seq 100); do
		if (exec 3<>/dev/tcp/127.0.0.1/8895) 2>/dev/null; then exit 0; fi
		sleep 0.1
	done
	echo "systemctl shim: authmilter does not listen" >&2; exit 1 ;;
"restart postfix")
	postfix stop >/dev/null 2>&1 || true
	[ ! -x /usr/lib/postfix/configure-instance.sh ] ||
		/usr/lib/postfix/configure-instance.sh -
	postfix start ;;
*) echo "systemctl shim: not handled: \$*" >&2; exit 1 ;;
esac
SHIM
chmod +x "$bin"/*
export PATH=$bin:$PATH

# The tree, as a clone would have it.
tree=$work/authmilter
mkdir -p "$tree"
(cd "$src" && git ls-files -z | xargs -0 cp --parents -t "$tree")

# The quick start, from the README.
script=$work/quickstart.sh
/usr/bin/python3 - "$src/README.md" >"$script" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"<!-- quickstart:begin -->\s*```sh\n(.*?)```\s*"
              r"<!-- quickstart:end -->", text, re.S)
if not m:
    sys.exit("README.md: no quickstart block")
print(m.group(1))
PY
[ -s "$script" ] || exit 1

cleanup() {
	postfix stop >/dev/null 2>&1
	[ -f "$work/authmilter.pid" ] && pkill -TERM -s "$(cat "$work/authmilter.pid")" 2>/dev/null
	sleep 1
}
trap cleanup EXIT

echo "== the quick start"
if ! (cd "$tree" && bash -e -x "$script") >"$work/quickstart.log" 2>&1; then
	tail -n 60 "$work/quickstart.log"
	echo "FAIL: a quick-start command failed"
	exit 1
fi
tail -n 25 "$work/quickstart.log"

fail=0
bad() { echo "FAIL: $*"; fail=1; }
echo "== checks"
pid=$(pgrep -s "$(cat "$work/authmilter.pid")" -x authmilter | head -1)
[ -n "$pid" ] || bad "authmilter is not running"
[ -z "$pid" ] || [ "$(ps -o user= -p "$pid")" = authmilter ] ||
	bad "authmilter does not run as user authmilter"
grep -q 'authmilter:x:' /etc/passwd || bad "no user authmilter"
[ -d /run/authmilter ] || bad "no /run/authmilter"
for i in $(seq 100); do
	grep -q '^X-Mailer: swaks' /var/mail/root 2>/dev/null && break
	sleep 0.2
done
grep -q '^X-Mailer: swaks' /var/mail/root 2>/dev/null ||
	bad "the test message was not delivered to /var/mail/root"
if grep -qi '^Authentication-Results: mx.quickstart.test' \
	/var/mail/root 2>/dev/null; then
	bad "the forged Authentication-Results header was delivered"
fi
grep -q 'not checked (internal)' "$work/journal/authmilter.log" ||
	bad "no 'not checked (internal)' line in the daemon's log"
grep -q 'removed forged Authentication-Results' \
	"$work/journal/authmilter.log" ||
	bad "the log does not say the forged header was removed"
[ "$fail" -eq 0 ] && echo "OK: the quick start works as the README says"
exit $fail
