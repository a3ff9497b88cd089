#!/usr/bin/env bash
# bench-validate.sh: how long 'lockfix validate' takes on a
# 100,000-package v2 file, as a command, against the floor measured in the
# same run.
#
# The floor (scripts/validate-floor) is a process that reads the file and
# computes one CRC-64/NVME over it. Both run as processes, one after the
# other in each round, on the same file in the page cache (one untimed
# run of each warms it first), so both pay for starting, reading and
# exiting. The Go benchmark BenchmarkValidateCommand in internal/cli
# measures the same in one process, without the start and the exit.
# Goals: validate at most 1.3 times the floor at 100,000 packages, 1.2
# times at 1,000,000 (PACKAGES=1000000); the rounds and medians are
# scripts/bench-ratio.sh's.
#
# Usage: scripts/bench-validate.sh
# Environment:
#   PACKAGES=100000  packages in the file
#   ROUNDS=21        rounds; the medians are reported
#   WORK=DIR         where to build and generate (default: a new directory
#                    under $TMPDIR or /tmp; removed at the end unless KEEP=1)
#   STRICT=1         exit 1 when the median ratio misses its goal
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
packages=${PACKAGES:-100000}
rounds=${ROUNDS:-21}
name=bench-validate
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
# shellcheck source=scripts/bench-ratio.sh
. "$root/scripts/bench-ratio.sh"
build lockfix ./cmd/lockfix validate-floor ./scripts/validate-floor genfleet ./scripts/genfleet

rm -rf "$work/file"
"$work/bin/genfleet" -n 1 -version 2 -packages "$packages" -seed 7 "$work/file" >/dev/null
file=$(find "$work/file" -name bun.lockb)
"$work/bin/validate-floor" "$file" >/dev/null
if ! "$work/bin/lockfix" validate --quiet "$file"; then
	echo "bench-validate: the generated file is not valid" >&2
	exit 1
fi

echo "file: $(wc -c <"$file") bytes, $packages packages, under $work"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
goal=1.3
if [ "$packages" -ge 1000000 ]; then
	goal=1.2
fi
compare "$goal" floor "$work/bin/validate-floor $file" validate "$work/bin/lockfix validate $file"
if [ "${STRICT:-0}" = 1 ] && awk -v x="$ratio_median" -v g="$goal" 'BEGIN { exit !(x > g) }'; then
	exit 1
fi
