#!/usr/bin/env bash
# bench-serve.sh: how fast 'lockfix serve' answers /metrics over a fleet of
# watched lockfiles, against a bare net/http handler that returns the same
# bytes, measured with wrk on loopback in the same run.
#
# Usage: scripts/bench-serve.sh
#   FILES=1000 DURATION=5s THREADS=2 CONNECTIONS=16 scripts/bench-serve.sh
#
# Each server is measured twice per encoding, in the order bare, lockfix,
# lockfix, bare (eight wrk runs of DURATION in all).
#
# Needs go, curl and wrk (Debian: apt-get install -y wrk curl). Measures
# both the identity encoding (what wrk asks for by default) and gzip (what
# Prometheus asks for), prints the requests per second and p99 latency of
# both servers and their ratio, and exits 1 when, for either encoding,
# lockfix serves less than 0.5 of the bare handler's requests per second
# or its p99 latency is 5 ms or more.
#
# Then, over BIG_FILES (5,000) generated lockfiles (scripts/genfleet: 5 to
# 120 packages each) against a floor of one file, ROUNDS (3) times
# interleaved: the time from starting 'lockfix serve' to its first answer
# to a gzip scrape (what Prometheus asks for) and how many files that
# answer held, the time to the end of the first read, and the peak and
# resident memory after a full scrape. It prints the medians and the
# memory per watched file, (big - floor) / (BIG_FILES - 1), and exits 1
# when the first answer takes more than MAX_FIRST_MS (300) or a file costs
# more than MAX_KIB_PER_FILE (4) KiB at the peak. BIG_FILES=0 skips it.
#
# Built and run in WORK, a new directory under $TMPDIR or /tmp by default,
# removed at the end unless KEEP=1 (scripts/bench-common.sh).
set -euo pipefail

FILES=${FILES:-1000}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
MIN_RATIO=${MIN_RATIO:-0.5}
MAX_P99_MS=${MAX_P99_MS:-5}
BIG_FILES=${BIG_FILES:-5000}
ROUNDS=${ROUNDS:-3}
MAX_FIRST_MS=${MAX_FIRST_MS:-300}
MAX_KIB_PER_FILE=${MAX_KIB_PER_FILE:-4}

for tool in go curl wrk; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "bench-serve: $tool is not installed (apt-get install -y wrk curl)" >&2
		exit 2
	fi
done

root=$(cd "$(dirname "$0")/.." && pwd)
name=bench-serve
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	bench_cleanup
}
trap cleanup EXIT

# wait_addr FILE: waits for a "http://HOST:PORT/" line in FILE, prints HOST:PORT.
wait_addr() {
	local i addr
	for i in $(seq 100); do
		addr=$(grep -o 'http://[0-9.]*:[0-9]*' "$1" | head -n1 | sed 's|http://||' || true)
		if [ -n "$addr" ]; then
			echo "$addr"
			return 0
		fi
		sleep 0.1
	done
	echo "bench-serve: no address in $1 after 10s:" >&2
	cat "$1" >&2
	return 1
}

build lockfix ./cmd/lockfix genfleet ./scripts/genfleet

# first_scrape PATH: starts serve over PATH, times its first answer to a
# gzip scrape, waits for the end of its first read, scrapes again and
# prints "first_ms files_in_first read_ms hwm_kib rss_kib".
first_scrape() {
	local log="$work/first.log" t0 t1 addr pid first read hwm rss
	: >"$log"
	t0=$(now)
	"$work/bin/lockfix" serve --quiet --listen 127.0.0.1:0 "$1" 2>"$log" &
	pid=$!
	pids+=("$pid")
	until addr=$(grep -o 'http://[0-9.]*:[0-9]*' "$log" | head -n1) && [ -n "$addr" ]; do
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 2; }
		sleep 0.002
	done
	curl -fsS -H 'Accept-Encoding: gzip' "$addr/metrics" -o "$work/first.gz"
	t1=$(now)
	first=$(gzip -dc "$work/first.gz" | grep -c '^lockfix_config_valid{' || true)
	until grep -q 'lockfix serve: read ' "$log"; do sleep 0.01; done
	read=$(sed -n 's/.*lockfix serve: read [0-9]* lockfiles in \([^ ]*\) .*/\1/p' "$log")
	curl -fsS -H 'Accept-Encoding: gzip' "$addr/metrics" -o /dev/null
	hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
	rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	echo "$(( (t1 - t0) / 1000000 )) $first $read $hwm $rss"
}

big_status=0
big_report=()
if [ "$BIG_FILES" -gt 1 ]; then
	echo "making a fleet of $BIG_FILES generated lockfiles"
	"$work/bin/genfleet" -n "$BIG_FILES" -seed 1 "$work/big" >/dev/null
	one=$(find "$work/big" -name bun.lockb -print -quit)
	: >"$work/big.rounds"
	: >"$work/one.rounds"
	for r in $(seq "$ROUNDS"); do
		echo "round $r/$ROUNDS: serve over 1 file, then over $BIG_FILES"
		first_scrape "$one" >>"$work/one.rounds"
		first_scrape "$work/big" >>"$work/big.rounds"
	done
	col() { awk -v c="$2" '{ print $c }' "$1" | median; }
	f1=$(col "$work/one.rounds" 1) fb=$(col "$work/big.rounds" 1)
	h1=$(col "$work/one.rounds" 4) hb=$(col "$work/big.rounds" 4)
	r1=$(col "$work/one.rounds" 5) rb=$(col "$work/big.rounds" 5)
	per_hwm=$(awk -v a="$hb" -v b="$h1" -v n="$BIG_FILES" 'BEGIN { printf "%.2f", (a - b) / (n - 1) }')
	per_rss=$(awk -v a="$rb" -v b="$r1" -v n="$BIG_FILES" 'BEGIN { printf "%.2f", (a - b) / (n - 1) }')
	big_report+=("== first scrape and memory: lockfix serve over $BIG_FILES files against 1 file, $ROUNDS rounds interleaved (medians)")
	big_report+=("$(printf '%-28s %10s %10s' "" "1 file" "$BIG_FILES files")")
	big_report+=("$(printf '%-28s %10s %10s' "first gzip answer (ms)" "$f1" "$fb")")
	big_report+=("$(printf '%-28s %10s %10s' "files in it" "$(col "$work/one.rounds" 2)" "$(col "$work/big.rounds" 2)")")
	big_report+=("$(printf '%-28s %10s %10s' "first read done in" "$(awk '{print $3}' "$work/one.rounds" | paste -sd/ -)" "$(awk '{print $3}' "$work/big.rounds" | paste -sd/ -)")")
	big_report+=("$(printf '%-28s %10s %10s' "peak RSS (KiB)" "$h1" "$hb")")
	big_report+=("$(printf '%-28s %10s %10s' "RSS after a scrape (KiB)" "$r1" "$rb")")
	big_report+=("per watched file: $per_hwm KiB at the peak, $per_rss KiB resident (want <= $MAX_KIB_PER_FILE at the peak)")
	big_report+=("first answer: $fb ms (want <= $MAX_FIRST_MS ms; the floor, one file, is $f1 ms)")
	if ! awk -v f="$fb" -v m="$MAX_FIRST_MS" -v p="$per_hwm" -v k="$MAX_KIB_PER_FILE" 'BEGIN { exit !(f <= m && p <= k) }'; then
		big_report+=("FAIL")
		big_status=1
	else
		big_report+=("PASS")
	fi
	printf '%s\n' "${big_report[@]}"
fi

echo "making a fleet of $FILES lockfiles (the v1 and v2 vectors, alternately)"
for i in $(seq -w 1 "$FILES"); do
	mkdir -p "$work/fleet/node-$i"
	if [ $((10#$i % 2)) -eq 0 ]; then
		cp "$root/testdata/vectors/v2.lockb" "$work/fleet/node-$i/bun.lockb"
	else
		cp "$root/testdata/vectors/v1.lockb" "$work/fleet/node-$i/bun.lockb"
	fi
done

"$work/bin/lockfix" serve --quiet --listen 127.0.0.1:0 "$work/fleet" 2>"$work/serve.log" &
pids+=($!)
lockfix_addr=$(wait_addr "$work/serve.log")
curl -fsS "http://$lockfix_addr/metrics" -o "$work/metrics.txt"
series=$(grep -vc '^#' "$work/metrics.txt")
echo "lockfix serve on $lockfix_addr: $series series, $(wc -c <"$work/metrics.txt") bytes per scrape"

# The baseline: the same bytes, headers included, from the simplest
# net/http handler.
mkdir -p "$work/bare"
cat >"$work/bare/main.go" <<'GO'
// Command bare serves one file's bytes at every path, as a baseline:
// bare FILE CONTENT-TYPE [CONTENT-ENCODING]
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	body, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	contentType, encoding := os.Args[2], ""
	if len(os.Args) > 3 {
		encoding = os.Args[3]
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(os.Stderr, "bare handler on http://%s/metrics\n", l.Addr())
	panic(http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		if encoding != "" {
			w.Header().Set("Content-Encoding", encoding)
		}
		w.Write(body)
	})))
}
GO
(cd "$work/bare" && go mod init bare >/dev/null 2>&1 && go build -o "$work/bare/bare" .)

# bench NAME ADDR HEADER: runs wrk, prints its report, sets rps and p99 (ms).
rps='' p99=''
bench() {
	local out
	local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$3")
	echo
	echo "== $1: wrk $(printf '%q ' "${args[@]}")http://$2/metrics"
	out=$(wrk "${args[@]}" "http://$2/metrics")
	echo "$out"
	if echo "$out" | grep -q 'Non-2xx'; then
		echo "bench-serve: $1 answered errors" >&2
		exit 2
	fi
	rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {
		v = $2
		if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v) }
		else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
		printf "%.3f", v }')
}

# header FILE NAME: the value of a header in a curl -D dump.
header() {
	awk -F': ' -v h="$2" 'tolower($1) == h { sub(/\r$/, "", $2); print $2 }' "$1"
}

# Two encodings: identity (what wrk and curl ask for) and gzip (what
# Prometheus asks for on every scrape). The bare handler serves the bytes
# lockfix returned for the same request, with the same headers.
results=()
status=0
for encoding in identity gzip; do
	accept="Accept-Encoding: $encoding"
	body="$work/metrics.$encoding"
	curl -fsS -H "$accept" -D "$work/headers.$encoding" -o "$body" "http://$lockfix_addr/metrics"
	"$work/bare/bare" "$body" "$(header "$work/headers.$encoding" content-type)" \
		"$(header "$work/headers.$encoding" content-encoding)" 2>"$work/bare.$encoding.log" &
	pids+=($!)
	bare_addr=$(wait_addr "$work/bare.$encoding.log")
	if ! cmp -s "$body" <(curl -fsS -H "$accept" "http://$bare_addr/metrics"); then
		echo "bench-serve: the bare handler does not return the same bytes" >&2
		exit 2
	fi
	# ABBA order, so that a change in the machine's load during the run
	# weighs on both servers alike: the mean requests/s and the worst p99
	# of each server's two runs are compared.
	bench "bare ($encoding) 1/2" "$bare_addr" "$accept"
	rps_bare=$rps p99_bare=$p99
	bench "lockfix ($encoding) 1/2" "$lockfix_addr" "$accept"
	rps_lockfix=$rps p99_lockfix=$p99
	bench "lockfix ($encoding) 2/2" "$lockfix_addr" "$accept"
	rps_lockfix=$(awk -v a="$rps_lockfix" -v b="$rps" 'BEGIN { printf "%.2f", (a + b) / 2 }')
	p99_lockfix=$(awk -v a="$p99_lockfix" -v b="$p99" 'BEGIN { print (a > b ? a : b) }')
	bench "bare ($encoding) 2/2" "$bare_addr" "$accept"
	rps_bare=$(awk -v a="$rps_bare" -v b="$rps" 'BEGIN { printf "%.2f", (a + b) / 2 }')
	p99_bare=$(awk -v a="$p99_bare" -v b="$p99" 'BEGIN { print (a > b ? a : b) }')
	ratio=$(awk -v a="$rps_lockfix" -v b="$rps_bare" 'BEGIN { printf "%.3f", a / b }')
	verdict=PASS
	if ! awk -v r="$ratio" -v m="$MIN_RATIO" -v p="$p99_lockfix" -v x="$MAX_P99_MS" 'BEGIN { exit !(r >= m && p < x) }'; then
		verdict=FAIL
		status=1
	fi
	results+=("$(printf '%-9s %9s %12s %10s %13s %11s %7s  %s' "$encoding" "$(wc -c <"$body")" \
		"$rps_bare" "$p99_bare" "$rps_lockfix" "$p99_lockfix" "$ratio" "$verdict")")
done

echo
echo "== /metrics over $FILES watched lockfiles ($series series); wrk -t$THREADS -c$CONNECTIONS -d$DURATION on loopback, 2 runs each"
printf '%-9s %9s %12s %10s %13s %11s %7s\n' "encoding" "bytes" "bare req/s" "p99 ms" "lockfix req/s" "p99 ms" "ratio"
printf '%s\n' "${results[@]}"
echo "req/s: mean of the two runs; p99: the worse of the two"
echo "want: ratio >= $MIN_RATIO and lockfix p99 < $MAX_P99_MS ms"
if [ "${#big_report[@]}" -gt 0 ]; then
	echo
	printf '%s\n' "${big_report[@]}"
fi
exit $((status | big_status))
