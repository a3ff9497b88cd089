#!/usr/bin/env bash
# bench-pack.sh: how long 'lockfix pack' takes to build a lockfile from
# its lockfix JSON, and its peak memory, against the floor measured in the
# same run.
#
# The floor (scripts/validate-floor) reads the JSON and computes one
# CRC-64/NVME over it, as a process. pack reads the JSON once, writes the
# records as it reads them, verifies the bytes and creates OUT the safe way
# (a temp file, fsync, rename, directory fsync); OUT is removed before
# every run, untimed. Goals: pack at most 8 times the floor, peak RSS at
# most 1.5 times the output file.
#
# Usage: scripts/bench-pack.sh
# Environment:
#   PACKAGES=1000000  packages in the file
#   ROUNDS=5          rounds; the medians are reported
#   WORK=DIR          where to build and generate (default: a new
#                     directory under $TMPDIR or /tmp; removed at the end
#                     unless KEEP=1)
#   STRICT=1          exit 1 when a median misses its goal
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
packages=${PACKAGES:-1000000}
rounds=${ROUNDS:-5}
name=bench-pack
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
# shellcheck source=scripts/bench-ratio.sh
. "$root/scripts/bench-ratio.sh"
build lockfix ./cmd/lockfix validate-floor ./scripts/validate-floor genfleet ./scripts/genfleet

rm -rf "$work/file"
"$work/bin/genfleet" -n 1 -version 2 -packages "$packages" -seed 7 "$work/file" >/dev/null
file=$(find "$work/file" -name bun.lockb)
"$work/bin/lockfix" export "$file" >"$work/in.json"
rm -rf "$work/file"
"$work/bin/lockfix" pack --quiet -o "$work/out.lockb" "$work/in.json"
size=$(wc -c <"$work/out.lockb")
echo "input: $(wc -c <"$work/in.json") bytes of JSON, $packages packages; output $size bytes; under $work"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
compare 8 floor "$work/bin/validate-floor $work/in.json" pack \
	"$work/bin/lockfix pack --quiet -o $work/out.lockb $work/in.json" "rm -f $work/out.lockb"
verdict=$(rss_check 1.5 "$size" "the output file")
echo "$verdict"
if [ "${STRICT:-0}" = 1 ] && { awk -v x="$ratio_median" 'BEGIN { exit !(x > 8) }' || [[ $verdict == *MISSES* ]]; }; then
	exit 1
fi
