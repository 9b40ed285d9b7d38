#!/bin/sh
# smoke.sh AMLOAD NULLFILTER: replay a three-message corpus through the
# null filter (replying at every step, then end of message only) and
# check every message was accepted with the filter's header added.
set -u
amload=$1 nullfilter=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/amsmoke.XXXXXX")
pid=
fail() { echo "smoke: $*" >&2; [ -n "$pid" ] && kill "$pid"; rm -rf "$tmp"; exit 1; }
for i in 1 2 3; do
	{
		printf 'From: a%s@example.test\r\nTo: b@example.test\r\n' "$i"
		printf 'Subject: smoke %s\r\n  folded\r\n\r\n' "$i"
		head -c $((i * 40000)) /dev/zero | tr '\0' 'x' | fold -w 70
	} > "$tmp/$i.eml"
	printf '%s.eml\t192.0.2.%s\thelo.test\ta@example.test\tb@example.test,c@example.test\taccept\n' \
		"$i" "$i" >> "$tmp/index"
done
for mode in "" -e; do
	"$nullfilter" -p "unix:$tmp/sock" $mode &
	pid=$!
	i=0
	while [ ! -S "$tmp/sock" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && fail "nullfilter did not start"
		sleep 0.05
	done
	"$amload" -i "$tmp/index" -m "unix:$tmp/sock" -c 2 -n 30 -x \
		-j "$tmp/out.json" || fail "amload failed (mode '$mode')"
	grep -q '"messages": 30,' "$tmp/out.json" || fail "not 30 messages"
	grep -q '"accept": 30,' "$tmp/out.json" || fail "not all accepted"
	grep -q '"headers_added": 30,' "$tmp/out.json" || fail "headers"
	grep -q '"error": 0}' "$tmp/out.json" || fail "errors"
	# every message got past RCPT TO: each has its envelope/content split
	grep -q '"split_messages": 30,' "$tmp/out.json" || fail "split count"
	grep -q '"env_p50_ms": 0.000,' "$tmp/out.json" && fail "no envelope time"
	kill "$pid"; wait "$pid" 2>/dev/null; pid=
	rm -f "$tmp/sock"
done
# A dead socket is an error per message, not a crash.
"$amload" -i "$tmp/index" -m "unix:$tmp/sock" -c 1 -n 3 -j "$tmp/out.json" \
	> /dev/null || fail "amload died on a dead milter"
grep -q '"error": 3}' "$tmp/out.json" || fail "dead milter not counted"
grep -q '"split_messages": 0,' "$tmp/out.json" || fail "split of errors"
rm -rf "$tmp"
echo "smoke: ok"
