#!/usr/bin/env bash
# bench-migrate.sh: how fast 'lockfix migrate' rewrites a fleet, against
# the floor measured in the same run.
#
# The floor (scripts/migrate-floor) is the naive safe rewrite: read each
# file, write it to a temp file, fsync, rename over the original, fsync the
# directory, with N workers. It is measured at every count in FLOOR_JOBS
# and the best is the floor of that round. lockfix does that plus the
# lock, the lease, the strict decode, the conversion, the second decode
# and the unchanged-underneath checks.
#
# Each round measures, interleaved (the order turns from round to round),
# on a freshly generated fleet each time
# (versions 0 and 1, so every file is migrated to 2, flushed with sync(1)
# so that no run pays for the generator's writes), timed from outside
# (walk included):
#   floor      migrate-floor at each count of FLOOR_JOBS; the best counts
#   default    lockfix migrate --to 2 DIR (default jobs and sync)
#   file       lockfix migrate --to 2 --sync file DIR (default jobs)
#   busy       with a background dd of BUSY_MB MB (conv=fsync) to the
#              same filesystem started just before each: the floor at
#              the round's best count, and lockfix's default
# and prints each ratio: default/floor (goal >= 2), file/floor (goal >=
# 0.9), busy default/busy floor, and busy default/default (how much of its
# speed the default keeps on a busy filesystem). The summary gives the
# median, min and max of every ratio over the rounds.
#
# Usage: scripts/bench-migrate.sh
# Environment:
#   FILES=5000          lockfiles in the fleet
#   FLOOR_JOBS="4 16 64" floor worker counts; the best is the floor
#   ROUNDS=3            rounds
#   BUSY_MB=500         size of the background dd (0: no busy case)
#   WORK=DIR            where to build and generate: put it on the
#                       filesystem to measure (default: a new directory
#                       under $TMPDIR or /tmp; removed at the end unless
#                       KEEP=1)
#   STRICT=1            exit 1 when a median misses its goal
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
files=${FILES:-5000}
floor_jobs=${FLOOR_JOBS:-4 16 64}
rounds=${ROUNDS:-3}
busy_mb=${BUSY_MB:-500}
name=bench-migrate
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
build lockfix ./cmd/lockfix migrate-floor ./scripts/migrate-floor genfleet ./scripts/genfleet

fleet="$work/fleet"
busy_file="$work/busy.dat"
busy_pid=""

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

# busy_start starts the background writer: dd of BUSY_MB MB to a file on
# the fleet's filesystem, through the page cache and fsynced at its end,
# as a deploy copying an artifact does.
busy_start() {
	dd if=/dev/zero of="$busy_file" bs=1M count="$busy_mb" conv=fsync status=none &
	busy_pid=$!
}

# busy_stop waits for the writer, removes its file and flushes, so that
# the next measurement starts quiet.
busy_stop() {
	wait "$busy_pid" || true
	busy_pid=""
	rm -f "$busy_file"
	sync
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

# stats prints "median M (min A, max B)" of the numbers given.
stats() {
	local list
	list=$(printf '%s\n' "$@" | grep .)
	printf 'median %s (min %s, max %s)' "$(echo "$list" | median)" "$(echo "$list" | sort -g | head -1)" "$(echo "$list" | sort -g | tail -1)"
}

echo "fleet: $files lockfiles under $work ($(df -PT "$work" | awk 'NR == 2 { print $2 " on " $1 }'))"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg); lockfix default: $("$work/bin/lockfix" migrate --help | grep -o 'default [0-9]* here' | head -1)"
printf '%-5s %-22s %8s %8s %8s %8s %8s %9s %9s %9s %9s\n' round floors best-floor default file busy-fl busy-def def/floor file/floor busy-ratio busy/quiet
r_def=() r_file=() r_busy=() r_keep=()
# The measurements of a round, each on a fresh fleet. Their order turns
# from round to round (floors, default, file; then default, file, floors;
# ...), and so does the busy pair's: on ext4 without a journal, creating a
# file skips the inodes freed in the last minute, so each run pays for
# the files the runs before it replaced, and a fixed order would charge
# that to whichever comes last.
m_floors() {
	best=0 best_j=0 floors=""
	for j in $floor_jobs; do
		regen "$r"
		f=$(rate "$work/bin/migrate-floor" -jobs "$j" "$fleet")
		floors="$floors$j:$f "
		if [ "$f" -gt "$best" ]; then best=$f best_j=$j; fi
	done
}
m_default() {
	regen "$r"
	def=$(rate "$work/bin/lockfix" migrate --to 2 "$fleet")
	check "the default run"
}
m_file() {
	regen "$r"
	file=$(rate "$work/bin/lockfix" migrate --to 2 --sync file "$fleet")
	check "--sync file"
}
m_busy_floor() {
	regen "$r"
	busy_start
	busy_fl=$(rate "$work/bin/migrate-floor" -jobs "$best_j" "$fleet")
	busy_stop
}
m_busy_default() {
	regen "$r"
	busy_start
	busy_def=$(rate "$work/bin/lockfix" migrate --to 2 "$fleet")
	busy_stop
	check "the default run on a busy filesystem"
}
for r in $(seq 1 "$rounds"); do
	case $((r % 3)) in
	1) m_floors; m_default; m_file ;;
	2) m_default; m_file; m_floors ;;
	0) m_file; m_floors; m_default ;;
	esac
	busy_fl=- busy_def=- busy_ratio=- keep=-
	if [ "$busy_mb" -gt 0 ]; then
		if [ $((r % 2)) = 1 ]; then
			m_busy_floor
			m_busy_default
		else
			m_busy_default
			m_busy_floor
		fi
		busy_ratio=$(ratio "$busy_def" "$busy_fl")
		keep=$(ratio "$busy_def" "$def")
		r_busy+=("$busy_ratio")
		r_keep+=("$keep")
	fi
	dr=$(ratio "$def" "$best")
	fr=$(ratio "$file" "$best")
	r_def+=("$dr")
	r_file+=("$fr")
	printf '%-5s %-22s %8s %8s %8s %8s %8s %9s %9s %9s %9s\n' "$r" "$floors" "$best" "$def" "$file" "$busy_fl" "$busy_def" "$dr" "$fr" "$busy_ratio" "$keep"
done
status=0
goal() { awk -v x="$1" -v g="$2" 'BEGIN { print (x >= g) ? "meets " g : "MISSES " g }'; }
dm=$(printf '%s\n' "${r_def[@]}" | median)
fm=$(printf '%s\n' "${r_file[@]}" | median)
echo "default/floor: $(stats "${r_def[@]}") ($(goal "$dm" 2))"
echo "file/floor:    $(stats "${r_file[@]}") ($(goal "$fm" 0.9))"
if [ "${#r_busy[@]}" -gt 0 ]; then
	echo "busy: default/floor with a ${busy_mb} MB dd: $(stats "${r_busy[@]}")"
	echo "busy: default busy/quiet:             $(stats "${r_keep[@]}")"
fi
case "$(goal "$dm" 2)$(goal "$fm" 0.9)" in *MISSES*) status=1 ;; esac
if [ "${STRICT:-0}" = 1 ]; then
	exit "$status"
fi
