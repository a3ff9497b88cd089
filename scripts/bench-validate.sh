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
# Goal: validate at most 3 times the floor.
#
# Usage: scripts/bench-validate.sh
# Environment:
#   PACKAGES=100000  packages in the file
#   ROUNDS=21        rounds; the medians are reported
#   WORK=DIR         where to build and generate (default: a new directory
#                    under $TMPDIR or /tmp; removed at the end unless KEEP=1)
#   STRICT=1         exit 1 when the median ratio misses the goal
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
packages=${PACKAGES:-100000}
rounds=${ROUNDS:-21}
name=bench-validate
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
build lockfix ./cmd/lockfix validate-floor ./scripts/validate-floor genfleet ./scripts/genfleet

rm -rf "$work/file"
"$work/bin/genfleet" -n 1 -version 2 -packages "$packages" -seed 7 "$work/file" >/dev/null
file=$(find "$work/file" -name bun.lockb)
"$work/bin/validate-floor" "$file" >/dev/null
if ! "$work/bin/lockfix" validate --quiet "$file"; then
	echo "bench-validate: the generated file is not valid" >&2
	exit 1
fi

# took runs a command and prints its wall time in microseconds.
took() {
	local start end
	start=$(now)
	"$@" >/dev/null
	end=$(now)
	echo $(((end - start) / 1000))
}

echo "file: $(wc -c <"$file") bytes, $packages packages, under $work"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %12s %12s %8s\n' round floor-us validate-us ratio
floors=""
checks=""
ratios=""
for r in $(seq 1 "$rounds"); do
	f=$(took "$work/bin/validate-floor" "$file")
	v=$(took "$work/bin/lockfix" validate "$file")
	q=$(ratio "$v" "$f")
	floors="$floors $f"
	checks="$checks $v"
	ratios="$ratios $q"
	printf '%-6s %12s %12s %8s\n' "$r" "$f" "$v" "$q"
done
fm=$(echo "$floors" | tr ' ' '\n' | grep . | median)
vm=$(echo "$checks" | tr ' ' '\n' | grep . | median)
rm_=$(echo "$ratios" | tr ' ' '\n' | grep . | median)
verdict=$(awk -v x="$rm_" 'BEGIN { print (x <= 3) ? "meets 3" : "MISSES 3" }')
echo "median: floor ${fm} us, validate ${vm} us, ratio of each round's pair ${rm_} ($verdict)"
if [ "${STRICT:-0}" = 1 ] && [ "$verdict" != "meets 3" ]; then
	exit 1
fi
