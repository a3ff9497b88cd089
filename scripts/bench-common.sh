# shellcheck shell=bash
# shellcheck disable=SC2154 # root and name are set by the sourcing script
# bench-common.sh: what the benchmark scripts share. Source it after
# setting root (the repository) and name (the script's name, for the work
# directory); it sets work, builds the named programs into $work/bin and
# defines now, median and ratio.
#
#   . "$root/scripts/bench-common.sh"
#   build lockfix ./cmd/lockfix genfleet ./scripts/genfleet

# work is WORK, or a new directory under $TMPDIR or /tmp, removed at the
# end unless KEEP=1.
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")}
mkdir -p "$work/bin"
# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
	if [ "${KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	fi
}
trap bench_cleanup EXIT

# build NAME PACKAGE... builds each package into $work/bin/NAME, as the
# image does (ops/docker/Dockerfile): static (CGO_ENABLED=0) and
# -trimpath. A build with cgo links lockfix against the C library for
# net's resolver, and the dynamic loader adds about a millisecond to every
# start; the floors are built the same way.
build() {
	echo "building $(printf '%s ' "$@" | awk '{ for (i = 1; i <= NF; i += 2) printf "%s%s", (i > 1 ? ", " : ""), $i }') (CGO_ENABLED=0, -trimpath)"
	while [ $# -ge 2 ]; do
		(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$work/bin/$1" "$2")
		shift 2
	done
}

# now prints the time in nanoseconds.
now() { date +%s%N; }

# median prints the median of the numbers on stdin, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ratio A B prints A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
