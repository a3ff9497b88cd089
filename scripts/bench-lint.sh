#!/usr/bin/env bash
# bench-lint.sh: how long 'lockfix lint' takes on a 100,000-package v2
# file with every check on, against 'lockfix validate' of the same file
# measured in the same run.
#
# Both run as processes, one after the other in each round (the order
# alternates), on the same file in the page cache (one untimed run of each
# warms it first), so both pay for starting, reading and exiting. The
# policy turns on every check and the generated file keeps it, so lint
# times its checks, not its printing. The Go benchmark
# BenchmarkLintCommand in internal/cli measures the same in one process.
# Goal: lint at most 2 times validate. Wall time is the goal's measure;
# CPU time (user + system, from /usr/bin/time) is printed beside it, as it
# moves less when other programs share the machine.
#
# Usage: scripts/bench-lint.sh
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
name=bench-lint
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
build lockfix ./cmd/lockfix genfleet ./scripts/genfleet

rm -rf "$work/file"
"$work/bin/genfleet" -n 1 -version 2 -packages "$packages" -seed 7 "$work/file" >/dev/null
file=$(find "$work/file" -name bun.lockb)
policy=(--require-https --allowed-host 'registry.example.org,npm.example.com' --allowed-scheme https
	--integrity 'sha1,sha256,sha512' --registry https://registry.example.org/ --require-flag DEBUG
	--forbid-flag OFFLINE --min-version 2 --deny 'left-pad@<1.3.0' --deny @evil/pkg --deny 'flat@>=5.0.0 <5.0.3')
if ! "$work/bin/lockfix" validate --quiet "$file"; then
	echo "bench-lint: the generated file is not valid" >&2
	exit 1
fi
if ! "$work/bin/lockfix" lint --quiet "${policy[@]}" "$file"; then
	echo "bench-lint: the generated file breaks the policy" >&2
	exit 1
fi

# took runs a command and prints its wall and CPU (user + system) times
# in microseconds.
took() {
	local start end cpu
	start=$(now)
	cpu=$(/usr/bin/time -f '%U %S' "$@" 2>&1 >/dev/null | tail -1)
	end=$(now)
	echo "$(((end - start) / 1000)) $(echo "$cpu" | awk '{ printf "%d", ($1 + $2) * 1000000 }')"
}

echo "file: $(wc -c <"$file") bytes, $packages packages, under $work"
echo "machine: $(nproc) processors, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %12s %12s %8s %12s %12s %8s\n' round validate-us lint-us ratio validate-cpu lint-cpu ratio
vs="" ls="" ratios="" cratios=""
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) = 1 ]; then
		read -r v vc < <(took "$work/bin/lockfix" validate "$file")
		read -r l lc < <(took "$work/bin/lockfix" lint "${policy[@]}" "$file")
	else
		read -r l lc < <(took "$work/bin/lockfix" lint "${policy[@]}" "$file")
		read -r v vc < <(took "$work/bin/lockfix" validate "$file")
	fi
	q=$(ratio "$l" "$v")
	cq=$(ratio "$lc" "$((vc > 0 ? vc : 1))")
	vs="$vs $v"
	ls="$ls $l"
	ratios="$ratios $q"
	cratios="$cratios $cq"
	printf '%-6s %12s %12s %8s %12s %12s %8s\n' "$r" "$v" "$l" "$q" "$vc" "$lc" "$cq"
done
vm=$(echo "$vs" | tr ' ' '\n' | grep . | median)
lm=$(echo "$ls" | tr ' ' '\n' | grep . | median)
qm=$(echo "$ratios" | tr ' ' '\n' | grep . | median)
cm=$(echo "$cratios" | tr ' ' '\n' | grep . | median)
verdict=$(awk -v x="$qm" 'BEGIN { print (x <= 2) ? "meets 2" : "MISSES 2" }')
echo "median: validate ${vm} us, lint ${lm} us, ratio of each round's pair ${qm} ($verdict); CPU time ratio ${cm}"
if [ "${STRICT:-0}" = 1 ] && [ "$verdict" != "meets 2" ]; then
	exit 1
fi
