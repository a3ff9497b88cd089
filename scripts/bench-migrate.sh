#!/usr/bin/env bash
# bench-migrate.sh: how fast 'lockfix migrate' rewrites a fleet, against
# the floor measured in the same run.
#
# The floor (scripts/migrate-floor) is the least a safe rewrite costs: read
# each file, write it to a temp file, fsync, rename over the original,
# fsync the directory, with the same number of workers. lockfix does that
# plus the lock, the strict decode, the conversion, the second decode and
# the unchanged-underneath check, with per-file fsync (--sync=file) or with
# one syncfs per batch before and after the renames (--sync=batch).
#
# Every timed run starts from a freshly generated fleet (versions 0 and 1,
# so every file is migrated to 2), flushed with sync(1) so that no run pays
# for the generator's writes. Each run is timed from outside, the same way
# for all three (walk included). Goals: per-file sync at least 0.8 of the
# floor's files per second, batch at least 1.5 times.
#
# Usage: scripts/bench-migrate.sh
# Environment:
#   FILES=10000    lockfiles in the fleet
#   JOBS="8"       worker counts to measure, e.g. "1 2 8"
#   ROUNDS=3       rounds per worker count; the medians are reported
#   WORK=DIR       where to build and generate: put it on the filesystem
#                  to measure (default: a new directory under $TMPDIR or
#                  /tmp; removed at the end unless KEEP=1)
#   STRICT=1       exit 1 when a median misses its goal
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
files=${FILES:-10000}
jobs_list=${JOBS:-8}
rounds=${ROUNDS:-3}
name=bench-migrate
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
build lockfix ./cmd/lockfix migrate-floor ./scripts/migrate-floor genfleet ./scripts/genfleet

fleet="$work/fleet"

# regen writes a fresh fleet and flushes it to disk.
regen() {
	rm -rf "$fleet"
	"$work/bin/genfleet" -n "$files" -seed "$1" "$fleet" >/dev/null
	sync
}

# rate runs a command over the fleet and prints its files per second.
rate() {
	local start end
	start=$(now)
	"$@" >/dev/null
	end=$(now)
	awk -v n="$files" -v ns="$((end - start))" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'
}

# check fails unless every file of the fleet is valid at version 2.
check() {
	if ! "$work/bin/lockfix" validate --quiet "$fleet" >/dev/null; then
		echo "bench-migrate: $1 left files that are not valid" >&2
		exit 1
	fi
	if ! "$work/bin/lockfix" migrate --to 2 --dry-run "$fleet" | grep -q "0 would migrate, $files skipped"; then
		echo "bench-migrate: $1 left files that are not at version 2" >&2
		exit 1
	fi
}

echo "fleet: $files lockfiles under $work ($(df -PT "$work" | awk 'NR == 2 { print $2 " on " $1 }'))"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-5s %10s %10s %10s %10s %10s\n' jobs round floor file batch file/floor batch/floor
status=0
for j in $jobs_list; do
	file_ratios=""
	batch_ratios=""
	for r in $(seq 1 "$rounds"); do
		regen "$r"
		floor=$(rate "$work/bin/migrate-floor" -jobs "$j" "$fleet")
		regen "$r"
		per_file=$(rate "$work/bin/lockfix" migrate --to 2 --jobs "$j" --sync file "$fleet")
		check "--sync file"
		regen "$r"
		batch=$(rate "$work/bin/lockfix" migrate --to 2 --jobs "$j" --sync batch "$fleet")
		check "--sync batch"
		fr=$(ratio "$per_file" "$floor")
		br=$(ratio "$batch" "$floor")
		file_ratios="$file_ratios $fr"
		batch_ratios="$batch_ratios $br"
		printf '%-5s %-5s %10s %10s %10s %10s %10s\n' "$j" "$r" "$floor" "$per_file" "$batch" "$fr" "$br"
	done
	fm=$(echo "$file_ratios" | tr ' ' '\n' | grep . | median)
	bm=$(echo "$batch_ratios" | tr ' ' '\n' | grep . | median)
	fv=$(awk -v x="$fm" 'BEGIN { print (x >= 0.8) ? "meets 0.8" : "MISSES 0.8" }')
	bv=$(awk -v x="$bm" 'BEGIN { print (x >= 1.5) ? "meets 1.5" : "MISSES 1.5" }')
	echo "jobs $j: median file/floor $fm ($fv), batch/floor $bm ($bv)"
	case "$fv$bv" in *MISSES*) status=1 ;; esac
done
if [ "${STRICT:-0}" = 1 ]; then
	exit "$status"
fi
