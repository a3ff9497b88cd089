#!/usr/bin/env bash
# bench-export.sh: how long 'lockfix export' and 'lockfix dump --json'
# take on a large v2 file, and their peak memory, against the floor
# measured in the same run.
#
# The floor (scripts/validate-floor) reads the lockfile and computes one
# CRC-64/NVME over it, as a process. Both commands check the file strictly
# as they read it and stream the JSON to stdout (here /dev/null). Goals:
# each at most 4 times the floor; peak RSS near one copy of the file
# (reported as a multiple of it, goal 1.5).
#
# Usage: scripts/bench-export.sh
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
name=bench-export
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
# shellcheck source=scripts/bench-ratio.sh
. "$root/scripts/bench-ratio.sh"
build lockfix ./cmd/lockfix validate-floor ./scripts/validate-floor genfleet ./scripts/genfleet

rm -rf "$work/file"
"$work/bin/genfleet" -n 1 -version 2 -packages "$packages" -seed 7 "$work/file" >/dev/null
file=$(find "$work/file" -name bun.lockb)
size=$(wc -c <"$file")
echo "file: $size bytes, $packages packages, under $work"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
missed=0
for cmd in export "dump --json"; do
	echo "== lockfix $cmd"
	compare 4 floor "$work/bin/validate-floor $file" "${cmd%% *}" "$work/bin/lockfix $cmd $file"
	verdict=$(rss_check 1.5 "$size" "the file")
	echo "$verdict"
	if awk -v x="$ratio_median" 'BEGIN { exit !(x > 4) }' || [[ $verdict == *MISSES* ]]; then
		missed=1
	fi
done
if [ "${STRICT:-0}" = 1 ] && [ "$missed" = 1 ]; then
	exit 1
fi
