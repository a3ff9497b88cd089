#!/usr/bin/env bash
# bench-git.sh: how long git's drivers take on 100,000-package v2
# lockfiles, as commands, against floors measured in the same run.
#
#   textconv   'lockfix textconv FILE' (what git diff runs on each side),
#              against 'lockfix export FILE' of the same file.
#              Goal: at most 3 times export.
#   merge      'lockfix merge-driver BASE OURS THEIRS' of three files (ours
#              bumps 100 packages, theirs changes 100 others' integrity:
#              no conflict; the result is written to a copy of OURS
#              through the safe write path), against 'lockfix validate' of
#              the same three files (reading and checking them, the least
#              a merge must do). Goal: under 1 s.
#
# Each round runs floor and command one after the other, on files in the
# page cache (one untimed run of each warms it first), as processes, so
# both pay for starting, reading and exiting; the medians are reported.
# The Go benchmark BenchmarkMerge in internal/merge measures the merge
# engine alone.
#
# Usage: scripts/bench-git.sh
# Environment:
#   PACKAGES=100000  packages in each file
#   ROUNDS=11        rounds
#   WORK=DIR         where to build and generate (default: a new directory
#                    under $TMPDIR or /tmp; removed at the end unless KEEP=1)
#   STRICT=1         exit 1 when a median misses its goal
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
packages=${PACKAGES:-100000}
rounds=${ROUNDS:-11}
name=bench-git
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
build lockfix ./cmd/lockfix genfleet ./scripts/genfleet
lf=$work/bin/lockfix

rm -rf "$work/file"
"$work/bin/genfleet" -n 1 -version 2 -packages "$packages" -seed 7 "$work/file" >/dev/null
base=$(find "$work/file" -name bun.lockb)
# ours bumps every 1000th package; theirs drops the integrity of every
# 1000th package from the 500th: different names, so no conflict.
"$lf" export "$base" | awk '
	/^    {$/ { i++ }
	/^      "version": / && i % 1000 == 1 { sub(/"[^"]*",$/, "\"999.0." i "\",") }
	{ print }' | "$lf" pack --quiet --to 2 -o "$work/ours.lockb" -
"$lf" export "$base" | awk '
	/^    {$/ { i++ }
	/^      "integrity": / && i % 1000 == 501 { sub(/"[^"]*"$/, "\"\"") }
	{ print }' | "$lf" pack --quiet --to 2 -o "$work/theirs.lockb" -
ours=$work/ours.lockb
theirs=$work/theirs.lockb
merged=$work/merged.lockb
cp "$ours" "$merged"
if ! "$lf" merge-driver --quiet "$base" "$merged" "$theirs" bun.lockb; then
	echo "bench-git: the generated sides do not merge cleanly" >&2
	exit 1
fi
"$lf" export "$base" >/dev/null
"$lf" textconv "$base" >/dev/null
"$lf" validate --quiet "$base" "$ours" "$theirs"

# took runs a command and prints its wall time and its CPU time (user and
# system), in microseconds. On a machine shared with other work, the wall
# time includes waiting for a processor; the CPU time does not.
took() {
	local t TIMEFORMAT='%3R %3U %3S'
	t=$({ time "$@" >/dev/null 2>&1; } 2>&1)
	awk -v t="$t" 'BEGIN { split(t, f, " "); printf "%d %d\n", f[1] * 1e6, (f[2] + f[3]) * 1e6 }'
}

echo "files: $(wc -c <"$base") bytes, $packages packages each, under $work"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %10s %11s %6s %11s %9s %9s %6s\n' round export-us textconv-us ratio validate3-us merge-us merge-cpu ratio
exports="" convs="" cratios="" vals="" merges="" mcpus="" mratios=""
for r in $(seq 1 "$rounds"); do
	read -r e _ < <(took "$lf" export "$base")
	read -r t _ < <(took "$lf" textconv "$base")
	read -r v _ < <(took "$lf" validate --quiet "$base" "$ours" "$theirs")
	cp "$ours" "$merged"
	read -r m mc < <(took "$lf" merge-driver --quiet "$base" "$merged" "$theirs" bun.lockb)
	cq=$(ratio "$t" "$e")
	mq=$(ratio "$m" "$v")
	exports="$exports $e" convs="$convs $t" cratios="$cratios $cq"
	vals="$vals $v" merges="$merges $m" mcpus="$mcpus $mc" mratios="$mratios $mq"
	printf '%-6s %10s %11s %6s %11s %9s %9s %6s\n' "$r" "$e" "$t" "$cq" "$v" "$m" "$mc" "$mq"
done
med() { echo "$1" | tr ' ' '\n' | grep . | median; }
em=$(med "$exports") tm=$(med "$convs") cm=$(med "$cratios")
vm=$(med "$vals") mm=$(med "$merges") mcm=$(med "$mcpus") qm=$(med "$mratios")
cv=$(awk -v x="$cm" 'BEGIN { print (x <= 3) ? "meets 3" : "MISSES 3" }')
mv=$(awk -v x="$mm" 'BEGIN { print (x < 1000000) ? "meets 1 s" : "MISSES 1 s" }')
echo "median: export ${em} us, textconv ${tm} us, ratio of each round's pair ${cm} ($cv)"
echo "median: validate of the three ${vm} us, merge ${mm} us (CPU ${mcm} us), ratio ${qm}; merge $mv"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${STRICT:-0}" = 1 ] && { [ "$cv" != "meets 3" ] || [ "$mv" != "meets 1 s" ]; }; then
	exit 1
fi
