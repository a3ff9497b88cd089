#!/usr/bin/env bash
# bench-set.sh: what 'lockfix set' costs on a large lockfile (1.3 million
# packages by default), against 'lockfix validate' of the same file
# measured in the same run.
#
# set rewrites only what changes: it checks the file strictly (what
# validate does), builds the new header, copies the package records
# byte for byte, checks the header and that the records are unchanged,
# and replaces the file (temp file, fsync, rename, fsync of the
# directory). So its time should stay near validate's and its memory near
# two copies of the file. Each round times validate and then set, one
# after the other, on the same file in the page cache (one untimed run of
# each warms it first); set changes terminal.rows in every round, so each
# one writes. Peak memory is the maximum resident set size that
# /usr/bin/time -v reports.
# Goals: set at most 3 times validate's median time, and its peak memory
# at most 2.5 times the file's size.
#
# Usage: scripts/bench-set.sh
# Environment:
#   PACKAGES=1300000 packages in the file (about 245 MB at version 2)
#   VERSION=2        its config version
#   ROUNDS=5         rounds; the medians are reported
#   WORK=DIR         where to build and generate (default: a new directory
#                    under $TMPDIR or /tmp; removed at the end unless KEEP=1)
#   STRICT=1         exit 1 when a median misses its goal
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
packages=${PACKAGES:-1300000}
version=${VERSION:-2}
rounds=${ROUNDS:-5}
name=bench-set
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
build lockfix ./cmd/lockfix genfleet ./scripts/genfleet

if [ ! -x /usr/bin/time ]; then
	echo "bench-set: /usr/bin/time (GNU time) is needed for the peak memory" >&2
	exit 1
fi

rm -rf "$work/file"
"$work/bin/genfleet" -n 1 -version "$version" -packages "$packages" -seed 7 "$work/file" >/dev/null
file=$(find "$work/file" -name bun.lockb)
size=$(wc -c <"$file")
if ! "$work/bin/lockfix" validate --quiet "$file"; then
	echo "bench-set: the generated file is not valid" >&2
	exit 1
fi
"$work/bin/lockfix" set --quiet "$file" terminal.rows 30

# measure runs a command under /usr/bin/time and prints its wall time in
# milliseconds and its peak resident set in kilobytes.
measure() {
	local out
	out=$(/usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -n 1)
	awk -v e="${out% *}" -v m="${out#* }" 'BEGIN { printf "%d %d\n", e * 1000, m }'
}

echo "file: $size bytes, $packages packages, v$version, under $work"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %12s %12s %8s %14s %14s %8s\n' round validate-ms set-ms ratio validate-rss-kB set-rss-kB set-rss/size
times=""
vrss=""
srss=""
rss_ratios=""
for r in $(seq 1 "$rounds"); do
	read -r vt vm < <(measure "$work/bin/lockfix" validate --quiet "$file")
	read -r st sm < <(measure "$work/bin/lockfix" set --quiet "$file" terminal.rows $((30 + r % 2 + 1)))
	q=$(ratio "$st" "$vt")
	m=$(ratio "$((sm * 1024))" "$size")
	times="$times $q"
	vrss="$vrss $vm"
	srss="$srss $sm"
	rss_ratios="$rss_ratios $m"
	printf '%-6s %12s %12s %8s %14s %14s %8s\n' "$r" "$vt" "$st" "$q" "$vm" "$sm" "$m"
done
if ! "$work/bin/lockfix" validate --quiet "$file"; then
	echo "bench-set: set left an invalid file" >&2
	exit 1
fi

# med LIST prints the median of a space-separated list.
med() { echo "$1" | tr ' ' '\n' | grep . | median; }
tm=$(med "$times")
mm=$(med "$rss_ratios")
echo "median: set/validate time $tm (goal <= 3), set peak memory / file size $mm (goal <= 2.5)"
echo "median peak memory: validate $(med "$vrss") kB, set $(med "$srss") kB"
status=0
if awk -v t="$tm" -v m="$mm" 'BEGIN { exit !(t > 3 || m > 2.5) }'; then
	echo "bench-set: a median misses its goal" >&2
	if [ "${STRICT:-0}" = 1 ]; then
		status=1
	fi
fi
exit "$status"
