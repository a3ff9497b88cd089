# shellcheck shell=bash
# shellcheck disable=SC2154 # work is set by bench-common.sh
# bench-ratio.sh: the interleaved comparison of one command with its floor
# that bench-pack.sh, bench-export.sh and bench-inspect.sh share. Source it
# after bench-common.sh.
#
#   compare GOAL floor-label "FLOOR COMMAND" label "COMMAND" [SETUP]
#
# runs each command once untimed (to warm the page cache), then ROUNDS
# rounds of floor then command (SETUP, when given, runs untimed before
# each), each as a process with its output to /dev/null, timed from
# outside, with its peak RSS and CPU time (user + system) from
# /usr/bin/time. It prints every round, then the median, min and max of
# each round's wall-time ratio command/floor, the median ratio of CPU
# times (which a machine busy with other programs skews less) and the
# median peak RSS of both, and sets ratio_median and rss_median (KiB of
# the command). GOAL is the wall-time ratio to meet.

# run_one "COMMAND" prints "microseconds peak-KiB cpu-ms" of one run.
run_one() {
	local start end
	start=$(now)
	/usr/bin/time -f '%M %U %S' -o "$work/rss" bash -c "$1" >/dev/null 2>"$work/stderr" || {
		cat "$work/stderr" >&2
		return 1
	}
	end=$(now)
	echo "$(((end - start) / 1000)) $(tail -n 1 "$work/rss" | awk '{ printf "%d %d", $1, ($2 + $3) * 1000 }')"
}

compare() {
	local goal=$1 flabel=$2 fcmd=$3 label=$4 cmd=$5 setup=${6:-true}
	local r f c q fr cr fu cu fs="" cs="" qs="" frss="" crss="" us=""
	bash -c "$setup"
	run_one "$fcmd" >/dev/null
	bash -c "$setup"
	run_one "$cmd" >/dev/null
	printf '%-6s %12s %12s %8s %10s %10s %9s %9s\n' round "$flabel-us" "$label-us" ratio "$flabel-KiB" "$label-KiB" "$flabel-cpu" "$label-cpu"
	for r in $(seq 1 "$rounds"); do
		bash -c "$setup"
		read -r f fr fu < <(run_one "$fcmd")
		bash -c "$setup"
		read -r c cr cu < <(run_one "$cmd")
		q=$(ratio "$c" "$f")
		fs="$fs $f" cs="$cs $c" qs="$qs $q" frss="$frss $fr" crss="$crss $cr" us="$us $(ratio "$cu" "$((fu > 0 ? fu : 1))")"
		printf '%-6s %12s %12s %8s %10s %10s %9s %9s\n' "$r" "$f" "$c" "$q" "$fr" "$cr" "${fu}ms" "${cu}ms"
	done
	lines() { echo "$1" | tr ' ' '\n' | grep .; }
	ratio_median=$(lines "$qs" | median)
	rss_median=$(lines "$crss" | median)
	local qmin qmax verdict
	qmin=$(lines "$qs" | sort -g | head -n 1)
	qmax=$(lines "$qs" | sort -g | tail -n 1)
	verdict=$(awk -v x="$ratio_median" -v g="$goal" 'BEGIN { print (x <= g) ? "meets" : "MISSES" }')
	echo "median: $flabel $(lines "$fs" | median) us, $label $(lines "$cs" | median) us;" \
		"ratio $label/$flabel median $ratio_median (min $qmin, max $qmax; $verdict $goal);" \
		"CPU time ratio median $(lines "$us" | median);" \
		"peak RSS $flabel $(lines "$frss" | median) KiB, $label $rss_median KiB"
}

# rss_check GOAL BYTES WHAT prints the median peak RSS of the last
# compare as a multiple of BYTES, the size of WHAT, against GOAL.
rss_check() {
	awk -v r="$rss_median" -v g="$1" -v b="$2" -v w="$3" 'BEGIN {
		x = r * 1024 / b
		printf "peak RSS %.2f times %s (%s %s)\n", x, w, (x <= g) ? "meets" : "MISSES", g }'
}
