#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# run.sh - the fresh-machine test: what the README promises, on Debian 12
# roots built from nothing, so that nothing on this machine can help.
#
# Three roots, each made by mmdebstrap --variant=apt (Essential packages
# and apt only) from this machine's own apt sources (AM_FRESH_SOURCES,
# default /etc/apt/sources.list.d/debian.sources, given to mmdebstrap as
# its mirror), each with a clean `git clone` of this checkout (HEAD: what
# is not committed is not tested) in /root/authmilter:
#
#  dev    git and sudo added, as on a machine where someone cloned the
#         tree. The README's two commands run there as written:
#         `sudo contrib/run-daemon.sh` must build and start the daemon on
#         its built-in defaults and answer a milter option negotiation
#         (version 6, from Python; then a CONNECT, answered unless the
#         daemon negotiated no reply to it), then exit 0 on SIGTERM;
#         `sudo tests/run-all.sh` must end with "N passed, 0 failed".
#  build  only the package's Build-Depends (apt-get build-dep ./):
#         dpkg-buildpackage -b -us -uc, unit tests included, then
#         lintian, which must report no error and no warning.
#  inst   apt-get install ./authmilter_*.deb postfix (Postfix preseeded
#         to Internet Site, host name mx.fresh.test), no build tool
#         pulled in; the daemon started from the installed unit's lines
#         as its User= (no systemd as PID 1 here), DryRun yes and Postfix
#         hooked up as the README says; one message from an outside
#         address (XCLIENT 192.0.2.25, swaks) must reach /var/mail/root
#         with exactly one Authentication-Results header of this host
#         (a forged one is sent along and must be gone); then
#         `apt-get purge authmilter` must leave no file, unit state or
#         runtime directory behind. The user authmilter stays (Debian
#         keeps system users: debian/README.source) and owns nothing.
#
# Namespaces: every command in a root runs chrooted, in private mount,
# PID, UTS and IPC namespaces with its own /proc, /dev, /sys and /run.
# Only the apt steps run in the host's network namespace, because apt
# must reach the archive: downloading the dev root's packages
# (tests/packages.txt, with apt-get install --download-only, and the
# Sendmail packages with tests/e2e/fetch-sendmail.sh), the build root's
# build-dep and lintian, the inst root's apt-get install. Everything else
# (the README's commands, the package build, Postfix, the daemon, the
# purge) runs in a private network namespace with only a loopback: the
# README's apt-get steps there find the archive unreachable and install
# from the downloaded packages, no port on this machine is touched, and
# no packet leaves it. Policy-rc.d keeps services from starting in the
# inst root while it shares the host's network.
#
# Environment: AM_SKIP_FRESH=1 skips (exit 77) for local runs;
# AM_FRESH_ONLY=dev|pkg runs one half (pkg = build and inst);
# AM_FRESH_KEEP=1 keeps the roots (AM_FRESH_DIR, default a new
# /var/tmp/am-fresh.XXXXXX); the logs go to AM_FRESH_LOGDIR (default
# build-logs/fresh/ in the checkout). Exit 0 passed, 1 failed, 77
# skipped (not root, no mmdebstrap, no namespaces, no sources file).
set -u
export LC_ALL=C.UTF-8

# --inroot ROOT HOSTNAME NET CMD: the namespaced side (run by unshare):
# mount /proc, /dev, /sys and /run into ROOT, set the host name, bring
# up the loopback of a private network, run CMD with bash in the chroot.
if [ "${1:-}" = --inroot ]; then
	root=$2 host=$3 net=$4 cmd=$5
	set -e
	# the root a mount point of its own, as / is on a machine: unshare
	# --propagation private (quickstart, Sendmail e2e) needs one
	mount --bind "$root" "$root"
	mount -t proc proc "$root/proc"
	mount -t tmpfs -o mode=0755,nosuid dev "$root/dev"
	for n in null zero full random urandom tty; do
		touch "$root/dev/$n"
		mount --bind "/dev/$n" "$root/dev/$n"
	done
	mkdir "$root/dev/pts" "$root/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts \
		"$root/dev/pts"
	ln -s pts/ptmx "$root/dev/ptmx"
	mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
	ln -s /proc/self/fd "$root/dev/fd"
	ln -s /proc/self/fd/0 "$root/dev/stdin"
	ln -s /proc/self/fd/1 "$root/dev/stdout"
	ln -s /proc/self/fd/2 "$root/dev/stderr"
	mount -t tmpfs -o mode=0755,nosuid,nodev run "$root/run"
	mkdir -m 1777 "$root/run/lock"
	mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
	hostname "$host"
	[ "$net" = host ] || ip link set lo up
	set +e
	exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "$cmd"
fi

src=$(cd "$(dirname "$0")/../.." && pwd)
self=$src/tests/fresh/run.sh
sources=${AM_FRESH_SOURCES:-/etc/apt/sources.list.d/debian.sources}
only=${AM_FRESH_ONLY:-}

skip() { echo "SKIP: $*"; exit 77; }
[ "${AM_SKIP_FRESH:-0}" != 1 ] || skip "AM_SKIP_FRESH=1"
[ "$(id -u)" -eq 0 ] || skip "needs root (chroot, namespaces, mounts)"
[ -r "$sources" ] || skip "no apt sources file $sources (AM_FRESH_SOURCES)"
unshare --mount --pid --fork --uts --ipc --net true 2>/dev/null ||
	skip "cannot create private namespaces (unshare)"
command -v ip >/dev/null || skip "ip(8) (iproute2) is not installed"
if ! command -v mmdebstrap >/dev/null; then
	echo "== installing mmdebstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap \
		</dev/null >/dev/null 2>&1 ||
		skip "mmdebstrap is not installed and apt-get cannot install it"
fi

logdir=${AM_FRESH_LOGDIR:-$src/build-logs/fresh}
mkdir -p "$logdir"
rm -rf "$logdir"/*.log "$logdir/dev-build-logs"
work=${AM_FRESH_DIR:-$(mktemp -d /var/tmp/am-fresh.XXXXXX)}
mkdir -p "$work"
chmod 0755 "$work"	# apt downloads as _apt
cleanup() {
	if [ "${AM_FRESH_KEEP:-0}" = 1 ]; then
		echo "kept $work"
		return
	fi
	# Every mount was made in a namespace that is gone by now; refuse
	# to delete through one that is not.
	if findmnt -rn -o TARGET | grep -q "^$work/"; then
		echo "not removing $work: something is still mounted under it"
		return
	fi
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

failed=0
t0=$(date +%s)
say() { printf '== %s\n' "$*"; }

# step NAME CMD...: one step, its output in $logdir/NAME.log; a failure
# shows the log's tail, counts, and returns 1 (the half it belongs to
# stops there; the other half still runs).
step() {
	local name=$1 s rc
	shift
	s=$(date +%s)
	say "$name"
	"$@" >"$logdir/$name.log" 2>&1 </dev/null
	rc=$?
	echo "   $name: $(( $(date +%s) - s ))s"
	if [ $rc -ne 0 ]; then
		echo "FAILED: $name (exit $rc; last lines of $logdir/$name.log):"
		tail -n 60 "$logdir/$name.log" | sed 's/^/    /'
		failed=1
		return 1
	fi
}

finish() {
	say "fresh-machine test done in $(( $(date +%s) - t0 ))s;" \
		"logs in $logdir"
	if [ "$failed" -ne 0 ]; then
		echo "FAIL: fresh-machine test"
		exit 1
	fi
	echo "OK: fresh-machine test"
	exit 0
}

# inroot ROOT HOSTNAME host|private CMD: CMD (bash) chrooted in ROOT, in
# private namespaces, with the host's network or a private loopback.
inroot() {
	local flags=(--mount --pid --fork --uts --ipc --propagation private)
	[ "$3" = host ] || flags+=(--net)
	unshare "${flags[@]}" "$self" --inroot "$@"
}

# mkroot DIR [mmdebstrap options]: a bookworm root from this machine's
# sources, with a clean clone of the checkout in /root/authmilter.
mkroot() {
	local dir=$1
	shift
	mmdebstrap --variant=apt "$@" bookworm "$dir" "$sources" || return 1
	git clone -q "$src" "$dir/root/authmilter" &&
		echo "clone of $(git -C "$dir/root/authmilter" log -1 --oneline)"
}

# sethost ROOT NAME: the host name in the files that read it.
sethost() {
	echo "$2" >"$1/etc/hostname"
	echo "$2" >"$1/etc/mailname"
	printf '127.0.0.1 localhost\n127.0.1.1 %s %s\n' "$2" "${2%%.*}" \
		>"$1/etc/hosts"
}

if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
	echo "note: $src has uncommitted changes; the roots get HEAD only"
fi
say "fresh-machine test of $(git -C "$src" rev-parse --short HEAD) in $work"

# --- dev: the README's two commands -------------------------------------
dev_half() {
	dev=$work/dev
	step dev-root mkroot "$dev" --include=git,sudo || return 1
	sethost "$dev" fresh.test
	# Host network: the one download the README's commands will find
	# cached (the archive is out of reach of the private namespace).
	step dev-download inroot "$dev" fresh.test host '
		set -e
		cd /root/authmilter
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q --download-only \
			$(grep -v "^[[:space:]]*#" tests/packages.txt)
		tests/e2e/fetch-sendmail.sh' || return 1
	step dev-run-daemon inroot "$dev" fresh.test private '
		cd /root/authmilter
		# its own session: sudo relays no signal sent from its own
		# process group, and the SIGTERM below must reach the daemon
		setsid sudo contrib/run-daemon.sh >/root/run-daemon.log 2>&1 &
		pid=$!
		up=0
		# the first run installs and builds: up to 20 minutes
		for i in $(seq 2400); do
			if (exec 3<>/dev/tcp/127.0.0.1/8895) 2>/dev/null; then
				up=1; break
			fi
			kill -0 $pid 2>/dev/null || break
			sleep 0.5
		done
		cat /root/run-daemon.log
		if [ $up != 1 ]; then
			echo "FAIL: the daemon never listened on 127.0.0.1:8895"
			exit 1
		fi
		echo "== milter handshake"
		python3 - <<"PY" || { kill -TERM $pid; exit 1; }
import socket, struct, sys
def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data
def reply(s):
    n = b""
    while len(n) < 4:
        c = s.recv(4 - len(n))
        if not c:
            sys.exit("FAIL: connection closed by the daemon")
        n += c
    (ln,) = struct.unpack(">I", n)
    d = b""
    while len(d) < ln:
        c = s.recv(ln - len(d))
        if not c:
            sys.exit("FAIL: short reply")
        d += c
    return d[:1], d[1:]
s = socket.create_connection(("127.0.0.1", 8895), timeout=30)
# OPTNEG: protocol version 6, every action, every protocol step offered
s.sendall(pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF)))
cmd, data = reply(s)
if cmd != b"O":
    sys.exit("FAIL: OPTNEG answered with %r" % cmd)
ver, act, prot = struct.unpack(">III", data[:12])
print("OPTNEG: version %d, actions 0x%x, protocol 0x%x" % (ver, act, prot))
# CONNECT from an outside address (data only, never contacted)
s.sendall(pkt(b"C", b"client.example\0" + b"4" + struct.pack(">H", 25)
              + b"192.0.2.25\0"))
if not prot & 0x1000:   # SMFIP_NR_CONN: no reply to connect
    cmd, data = reply(s)
    print("CONNECT: %r" % cmd)
    if cmd not in (b"c", b"a"):
        sys.exit("FAIL: CONNECT answered with %r" % cmd)
s.sendall(pkt(b"Q"))
s.close()
print("OK: the daemon answers the milter protocol")
PY
		kill -TERM $pid
		wait $pid
		rc=$?
		tail -n 5 /root/run-daemon.log
		echo "daemon exit status on SIGTERM: $rc"
		[ $rc = 0 ]' || return 1
	step dev-run-all inroot "$dev" fresh.test private '
		cd /root/authmilter && sudo tests/run-all.sh'
	cp -r "$dev/root/authmilter/build-logs" "$logdir/dev-build-logs" \
		2>/dev/null
	last=$(tail -n 1 "$logdir/dev-run-all.log")
	echo "   tests/run-all.sh: $last"
	if ! echo "$last" | grep -Eq '^[0-9]+ passed, 0 failed(, [0-9]+ skipped)?$'
	then
		echo "FAIL: tests/run-all.sh did not end with N passed, 0 failed"
		failed=1
	fi
	grep -E '^ +[0-9]+ passed, [0-9]+ failed, [1-9][0-9]* skipped' \
		"$logdir/dev-run-all.log" >/dev/null &&
		echo "   (skips are listed in $logdir/dev-build-logs)"
	if [ "${AM_FRESH_KEEP:-0}" != 1 ]; then
		rm -rf --one-file-system "$dev"
	fi
}

# --- pkg: build the .deb in one root, install it in another -----------
pkg_half() {
	bld=$work/build
	step build-root mkroot "$bld" || return 1
	sethost "$bld" build.test
	step build-deps inroot "$bld" build.test host '
		set -e
		cd /root/authmilter
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get build-dep -y -q ./
		apt-get install -y -q --no-install-recommends lintian' || return 1
	step build-deb inroot "$bld" build.test private '
		set -e
		cd /root/authmilter
		dpkg-buildpackage -b -us -uc
		cd /root
		ls -l authmilter_*_amd64.deb
		dpkg-deb -I authmilter_*_amd64.deb
		dpkg-deb -c authmilter_*_amd64.deb
		echo "== lintian"
		lintian -I --fail-on error,warning authmilter_*_amd64.changes' ||
		return 1
	cp "$bld"/root/authmilter_*_amd64.deb "$work/" || {
		echo "FAIL: no .deb"; failed=1; return 1; }
	grep -A 40 '^== lintian' "$logdir/build-deb.log" | sed 's/^/   /'
	if [ "${AM_FRESH_KEEP:-0}" != 1 ]; then
		rm -rf --one-file-system "$bld"
	fi

	inst=$work/inst
	step inst-root mkroot "$inst" || return 1
	sethost "$inst" mx.fresh.test
	cp "$work"/authmilter_*_amd64.deb "$inst/root/"
	# No service starts while the root shares the host's network.
	printf '#!/bin/sh\nexit 101\n' >"$inst/usr/sbin/policy-rc.d"
	chmod 0755 "$inst/usr/sbin/policy-rc.d"
	step inst-install inroot "$inst" mx.fresh.test host '
		set -e
		cd /root
		export DEBIAN_FRONTEND=noninteractive
		debconf-set-selections <<EOF
postfix postfix/main_mailer_type select Internet Site
postfix postfix/mailname string mx.fresh.test
EOF
		apt-get update -q
		apt-get install -y -q ./authmilter_*_amd64.deb postfix
		# the package pulls in no build or test tool
		for p in gcc cpp clang meson ninja-build pkg-config python3-pytest \
			miltertest swaks libmilter-dev; do
			if dpkg-query -W -f="\${db:Status-Abbrev}" $p 2>/dev/null |
				grep -q "^ii"; then
				echo "FAIL: installing the package pulled in $p"
				exit 1
			fi
		done
		dpkg-query -W authmilter postfix
		# the test client
		apt-get install -y -q --no-install-recommends swaks' || return 1
	step inst-mail inroot "$inst" mx.fresh.test private '
		set -u
		fail=0
		bad() { echo "FAIL: $*"; fail=1; }
		# Stage 1 of docs/DEPLOYMENT.md: DryRun first.
		sed -i "s/^#DryRun .*/DryRun yes/" /etc/authmilter/authmilter.conf
		grep -qx "DryRun yes" /etc/authmilter/authmilter.conf ||
			bad "no DryRun line to set in the conffile"
		# The README hook-up; the rest is this test bed (loopback,
		# XCLIENT from the test client, a log file without syslog).
		postconf -e "smtpd_milters = inet:127.0.0.1:8895" \
			"non_smtpd_milters = \$smtpd_milters" \
			"milter_default_action = tempfail" "milter_protocol = 6"
		postconf -e "inet_interfaces = loopback-only" \
			"inet_protocols = ipv4" \
			"smtpd_authorized_xclient_hosts = 127.0.0.0/8" \
			"maillog_file = /var/log/mail.log"
		grep -q "^authmilter:" /etc/passwd || bad "no user authmilter"
		# The unit, by hand: its user, runtime directory, ExecStartPre
		# and ExecStart (no systemd as PID 1 in a chroot).
		unit=/lib/systemd/system/authmilter.service
		val() { sed -n "s/^$1=//p" $unit | head -1; }
		install -d -o "$(val User)" -g "$(val Group)" \
			-m "$(val RuntimeDirectoryMode)" "/run/$(val RuntimeDirectory)"
		as="setpriv --reuid=$(val User) --regid=$(val Group) --init-groups"
		$as -- $(val ExecStartPre) || bad "ExecStartPre failed"
		$as -- $(val ExecStart) >/root/authmilter.log 2>&1 &
		pid=$!
		for i in $(seq 100); do
			(exec 3<>/dev/tcp/127.0.0.1/8895) 2>/dev/null && break
			sleep 0.1
		done
		echo "daemon: $(tr "\\0" " " </proc/$pid/cmdline)"
		[ "$(stat -c %U /proc/$pid)" = authmilter ] ||
			bad "authmilter is not running as user authmilter"
		/usr/lib/postfix/configure-instance.sh -
		postfix start
		swaks --server 127.0.0.1 --helo mail.example.com \
			--from alice@example.com --to root@mx.fresh.test \
			--xclient-addr 192.0.2.25 --xclient-name mail.example.com \
			--xclient-helo mail.example.com \
			--add-header "Authentication-Results: mx.fresh.test; spf=pass" \
			--body "fresh-machine test" || bad "swaks failed"
		for i in $(seq 150); do
			grep -q "^X-Mailer: swaks" /var/mail/root 2>/dev/null && break
			sleep 0.2
		done
		echo "== delivered"
		cat /var/mail/root
		echo "== authmilter log"
		cat /root/authmilter.log
		n=$(grep -c "^Authentication-Results: mx.fresh.test;" /var/mail/root)
		[ "$n" = 1 ] ||
			bad "$n Authentication-Results headers of mx.fresh.test, not 1"
		grep -qx "Authentication-Results: mx.fresh.test; spf=pass" \
			/var/mail/root && bad "the forged header was delivered"
		grep -q "192.0.2.25" /root/authmilter.log ||
			bad "no log line for the message from 192.0.2.25"
		postfix stop
		kill -TERM $pid
		wait $pid || bad "the daemon did not exit 0 on SIGTERM"

		echo "== apt-get purge authmilter"
		dpkg -L authmilter >/root/files
		export DEBIAN_FRONTEND=noninteractive
		apt-get purge -y -q authmilter || bad "apt-get purge failed"
		if dpkg-query -W -f="\${db:Status-Abbrev}" authmilter 2>/dev/null |
			grep -q "^[a-z][a-z]"; then
			bad "dpkg still knows authmilter"
		fi
		while read -r f; do
			# directories (/lib is a symlink to one) are shared;
			# the package directories are checked below
			[ -d "$f" ] && continue
			[ ! -e "$f" ] && [ ! -L "$f" ] || bad "left behind: $f"
		done </root/files
		for f in /etc/authmilter /usr/share/doc/authmilter /run/authmilter \
			/lib/systemd/system/authmilter.service \
			/etc/systemd/system/multi-user.target.wants/authmilter.service
		do
			[ ! -e "$f" ] && [ ! -L "$f" ] || bad "left behind: $f"
		done
		left=$(find / -xdev -path /root -prune -o -path /proc -prune -o \
			-name "*authmilter*" -print)
		[ -z "$left" ] || bad "left behind: $left"
		owned=$(find / -xdev -path /proc -prune -o \
			\( -user authmilter -o -group authmilter \) -print 2>/dev/null)
		[ -z "$owned" ] || bad "files still owned by authmilter: $owned"
		echo "kept by policy: $(getent passwd authmilter)"
		echo "kept by policy: $(getent group authmilter)"
		[ $fail = 0 ] && echo "OK: installed, mail checked, purged"
		exit $fail'
}

case $only in
dev) dev_half ;;
pkg) pkg_half ;;
*) dev_half; pkg_half ;;
esac
finish
