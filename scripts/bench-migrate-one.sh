#!/usr/bin/env bash
# bench-migrate-one.sh: how long 'lockfix migrate --to 2' takes on one
# large v1 file, and its peak memory, against the naive durable rewrite of
# that file measured in the same run.
#
# The floor (scripts/migrate-floor -jobs 1) reads the file and writes it
# back the safe way: temp file, fsync, rename, directory fsync. Before
# every run the v1 file is copied into place and flushed (untimed). Goals:
# migrate at most 2 times the floor, peak RSS at most 2 times the file.
# The last round's migrated file is validated (lockfix validate) at the
# end.
#
# Usage: scripts/bench-migrate-one.sh
# Environment:
#   PACKAGES=1000000  packages in the file
#   ROUNDS=5          rounds; the medians are reported
#   WORK=DIR          where to build and generate: put it on the
#                     filesystem to measure (default: a new directory
#                     under $TMPDIR or /tmp; removed at the end unless
#                     KEEP=1)
#   STRICT=1          exit 1 when a median misses its goal
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
packages=${PACKAGES:-1000000}
rounds=${ROUNDS:-5}
name=bench-migrate-one
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
# shellcheck source=scripts/bench-ratio.sh
. "$root/scripts/bench-ratio.sh"
build lockfix ./cmd/lockfix migrate-floor ./scripts/migrate-floor genfleet ./scripts/genfleet

rm -rf "$work/gen"
"$work/bin/genfleet" -n 1 -version 1 -packages "$packages" -seed 7 "$work/gen" >/dev/null
orig="$work/v1.lockb"
mv "$(find "$work/gen" -name bun.lockb)" "$orig"
rm -rf "$work/gen"
mkdir -p "$work/one"
size=$(wc -c <"$orig")
echo "file: $size bytes, v1, $packages packages, under $work"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
compare 2 floor "$work/bin/migrate-floor -jobs 1 $work/one" migrate \
	"$work/bin/lockfix migrate --quiet --to 2 $work/one/bun.lockb" "cp $orig $work/one/bun.lockb && sync"
verdict=$(rss_check 2 "$size" "the file")
echo "$verdict"
# The last round's result must be a valid v2 file with every package.
echo "result: $("$work/bin/lockfix" validate "$work/one/bun.lockb")"
if [ "${STRICT:-0}" = 1 ] && { awk -v x="$ratio_median" 'BEGIN { exit !(x > 2) }' || [[ $verdict == *MISSES* ]]; }; then
	exit 1
fi
