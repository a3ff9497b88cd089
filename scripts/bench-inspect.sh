#!/usr/bin/env bash
# bench-inspect.sh: how long 'lockfix inspect' takes on a large v2 file
# against 'lockfix validate' of the same file, measured in the same run.
#
# Both run as processes, interleaved, on the same file in the page cache.
# inspect checks the file as validate does and walks its records once
# more for the registries. Goal: inspect at most 1.5 times validate.
#
# Usage: scripts/bench-inspect.sh
# Environment:
#   PACKAGES=1000000  packages in the file
#   ROUNDS=7          rounds; the medians are reported
#   WORK=DIR          where to build and generate (default: a new
#                     directory under $TMPDIR or /tmp; removed at the end
#                     unless KEEP=1)
#   STRICT=1          exit 1 when the median misses the goal
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
packages=${PACKAGES:-1000000}
rounds=${ROUNDS:-7}
name=bench-inspect
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
# shellcheck source=scripts/bench-ratio.sh
. "$root/scripts/bench-ratio.sh"
build lockfix ./cmd/lockfix genfleet ./scripts/genfleet

rm -rf "$work/file"
"$work/bin/genfleet" -n 1 -version 2 -packages "$packages" -seed 7 "$work/file" >/dev/null
file=$(find "$work/file" -name bun.lockb)
echo "file: $(wc -c <"$file") bytes, $packages packages, under $work"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
compare 1.5 validate "$work/bin/lockfix validate $file" inspect "$work/bin/lockfix inspect $file"
if [ "${STRICT:-0}" = 1 ] && awk -v x="$ratio_median" 'BEGIN { exit !(x > 1.5) }'; then
	exit 1
fi
