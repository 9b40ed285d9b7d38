#!/bin/sh
# run-fuzz.sh FUZZER SEED_CORPUS WORKDIR SECONDS
# Run a libFuzzer binary for SECONDS with a writable corpus in WORKDIR
# (new inputs go there, never into the source tree), seeded from
# SEED_CORPUS; crash files also land in WORKDIR. A dictionary named
# after the corpus (tests/fuzz/NAME.dict for corpus/NAME) is used if
# there is one.
set -eu
bin=$1; seed=$2; work=$3; secs=$4
mkdir -p "$work/corpus" "$work/artifacts"
dict=$(dirname "$seed")/../$(basename "$seed").dict
set --
if [ -f "$dict" ]; then
	set -- -dict="$dict"
fi
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=9000 -print_final_stats=1 "$@" \
	-artifact_prefix="$work/artifacts/" "$work/corpus" "$seed"
