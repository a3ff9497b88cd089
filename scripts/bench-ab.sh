#!/usr/bin/env bash
# bench-ab.sh: the Go benchmarks of some packages on an older commit (A)
# and on the work tree (B), interleaved, compared by benchstat.
#
# Each package's test binary is built once for A (from a git worktree of
# the commit) and once for B; then ROUNDS rounds each run A's binary and
# B's once (-test.count 1), one after the other, so that a slow moment of
# a shared machine falls on both. benchstat prints the medians and their
# change; a change it marks ~ is within the noise.
#
# Usage: scripts/bench-ab.sh COMMIT [PACKAGE...]
#   COMMIT    the base (a commit, tag or branch)
#   PACKAGE   import paths relative to the root (default: ./schema
#             ./migrate ./recovery)
# Environment:
#   ROUNDS=8         rounds
#   BENCH=.          the -test.bench pattern
#   BENCHTIME=       -test.benchtime (default: the go test default)
#   WORK=DIR         where to build (default: a new directory under
#                    $TMPDIR or /tmp; removed at the end unless KEEP=1)
#
# benchstat comes from golang.org/x/perf; it is installed into
# $work/bin when it is not on PATH.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
name="bench-ab"
if [ $# -lt 1 ]; then
	echo "usage: scripts/bench-ab.sh COMMIT [PACKAGE...]" >&2
	exit 2
fi
base=$1
shift
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	pkgs=(./schema ./migrate ./recovery)
fi
rounds=${ROUNDS:-8}
bench=${BENCH:-.}
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"

benchstat=$(command -v benchstat || true)
if [ -z "$benchstat" ]; then
	GOBIN="$work/bin" go install golang.org/x/perf/cmd/benchstat@latest
	benchstat=$work/bin/benchstat
fi

git -C "$root" worktree add --detach -q "$work/a" "$base"
# shellcheck disable=SC2317 # called by the EXIT trap
ab_cleanup() {
	git -C "$root" worktree remove --force "$work/a" 2>/dev/null || true
	bench_cleanup
}
trap ab_cleanup EXIT

args=(-test.run '^$' -test.bench "$bench" -test.count 1)
if [ -n "${BENCHTIME:-}" ]; then
	args+=(-test.benchtime "$BENCHTIME")
fi
for p in "${pkgs[@]}"; do
	id=$(echo "$p" | tr -c 'a-zA-Z0-9\n' _)
	(cd "$work/a" && go test -c -o "$work/bin/a-$id.test" "$p")
	(cd "$root" && go test -c -o "$work/bin/b-$id.test" "$p")
done
: >"$work/a.txt"
: >"$work/b.txt"
for r in $(seq "$rounds"); do
	echo "round $r of $rounds" >&2
	for p in "${pkgs[@]}"; do
		id=$(echo "$p" | tr -c 'a-zA-Z0-9\n' _)
		# A package's tests read testdata relative to its directory.
		(cd "$work/a/$p" && "$work/bin/a-$id.test" "${args[@]}") | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >>"$work/a.txt" || true
		(cd "$root/$p" && "$work/bin/b-$id.test" "${args[@]}") | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >>"$work/b.txt" || true
	done
done
echo "A = $base ($(git -C "$root" rev-parse --short "$base")), B = the work tree ($(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ', modified'))"
"$benchstat" A="$work/a.txt" B="$work/b.txt"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
