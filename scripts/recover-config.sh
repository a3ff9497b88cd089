#!/usr/bin/env bash
# recover-config.sh: the lockfile incident runbook, as a script.
#
# Usage: recover-config.sh [-y] [-r REFERENCE] [-g REGISTRY_URL] [-d WORKDIR] FLEET_ROOT
#
# Steps, each recorded in WORKDIR/recover-<UTC timestamp>/:
#   1. find      lockfix validate over the fleet root; the damaged files
#   2. snapshot  tar of the damaged files as they are (snapshot.tar)
#   3. dry run   lockfix recover --dry-run: the report and the diffs
#   4. apply     lockfix recover (lossless repairs only, with backups);
#                with -y, then lockfix recover --yes on what is still
#                damaged (drops damaged packages, fills fields, each reported)
#   5. validate  lockfix validate over the whole fleet root again
#   6. summary   what was repaired, and what needs a human
#
# Options:
#   -y             also run --yes on files the default mode refused
#   -r REFERENCE   a peer lockfile of the fleet, or a directory of them
#                  (repeatable; passed as --reference): hypotheses for
#                  damaged fields, copies of lost records
#   -g URL         registry URL when the packages do not tell it (--registry)
#   -d WORKDIR     where the run directory goes (default: current directory)
#
# Environment: LOCKFIX is the lockfix binary (default: lockfix in PATH).
#
# Exit: 0 nothing was damaged, 1 everything damaged was repaired,
# 4 something needs a human, 8 the script could not run a step.
set -euo pipefail

LOCKFIX=${LOCKFIX:-lockfix}
yes=0
workdir=.
extra=()

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 16
}

while getopts ":yr:g:d:h" opt; do
	case $opt in
	y) yes=1 ;;
	r) extra+=(--reference "$OPTARG") ;;
	g) extra+=(--registry "$OPTARG") ;;
	d) workdir=$OPTARG ;;
	h) usage ;;
	:) echo "recover-config.sh: -$OPTARG needs a value" >&2; usage ;;
	*) echo "recover-config.sh: unknown option -$OPTARG" >&2; usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
root=$1
[ -d "$root" ] || { echo "recover-config.sh: $root is not a directory" >&2; exit 16; }
command -v "$LOCKFIX" >/dev/null 2>&1 || { echo "recover-config.sh: $LOCKFIX not found (set LOCKFIX)" >&2; exit 8; }

run="$workdir/recover-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$run" || exit 8
log() { printf '== %s\n' "$*"; }

# invalid_files FILE: the paths that a validate report lists as invalid.
invalid_files() {
	sed -n 's/^\(.*\): INVALID (.*$/\1/p' "$1"
}

# 1. find
log "1. find: validating $root"
rc=0
"$LOCKFIX" validate --quiet "$root" >"$run/validate-before.txt" 2>&1 || rc=$?
if [ $((rc & 8)) -ne 0 ] && ! grep -q INVALID "$run/validate-before.txt"; then
	echo "validate failed (exit $rc):" >&2
	cat "$run/validate-before.txt" >&2
	exit 8
fi
invalid_files "$run/validate-before.txt" >"$run/damaged.txt"
damaged=$(wc -l <"$run/damaged.txt")
if [ "$damaged" -eq 0 ]; then
	log "no damaged lockfile under $root; nothing to do"
	exit 0
fi
log "$damaged damaged lockfiles (list: $run/damaged.txt)"
mapfile -t files <"$run/damaged.txt"

# 2. snapshot
log "2. snapshot: $run/snapshot.tar"
tar -cf "$run/snapshot.tar" -T "$run/damaged.txt" || { echo "snapshot failed: stopping before any change" >&2; exit 8; }

# 3. dry run
log "3. dry run: $run/dry-run.txt"
rc=0
"$LOCKFIX" recover --dry-run "${extra[@]}" "${files[@]}" >"$run/dry-run.txt" 2>&1 || rc=$?
grep -E '^[^ ].*: ' "$run/dry-run.txt" | sed 's/^/   /' || true

# 4. apply
log "4. apply (default mode: lossless repairs only): $run/apply.txt"
rc=0
"$LOCKFIX" recover "${extra[@]}" "${files[@]}" >"$run/apply.txt" 2>&1 || rc=$?
if [ $((rc & 8)) -ne 0 ]; then
	echo "   some files could not be read or written (exit $rc); see $run/apply.txt" >&2
fi
rc=0
"$LOCKFIX" validate --quiet "${files[@]}" >"$run/validate-mid.txt" 2>&1 || rc=$?
invalid_files "$run/validate-mid.txt" >"$run/refused.txt"
refused=$(wc -l <"$run/refused.txt")
: >"$run/apply-yes.txt"
if [ "$refused" -gt 0 ] && [ "$yes" -eq 1 ]; then
	log "4b. apply --yes to $refused files the default mode refused: $run/apply-yes.txt"
	mapfile -t again <"$run/refused.txt"
	rc=0
	"$LOCKFIX" recover --yes "${extra[@]}" "${again[@]}" >"$run/apply-yes.txt" 2>&1 || rc=$?
elif [ "$refused" -gt 0 ]; then
	log "$refused files need --yes (run again with -y) or a human"
fi

# 5. validate
log "5. validate: $run/validate-after.txt"
rc=0
"$LOCKFIX" validate --quiet "$root" >"$run/validate-after.txt" 2>&1 || rc=$?
invalid_files "$run/validate-after.txt" >"$run/still-damaged.txt"
left=$(wc -l <"$run/still-damaged.txt")

# 6. summary
log "6. summary"
repaired=$((damaged - left))
echo "   damaged:  $damaged"
echo "   repaired: $repaired"
echo "   left:     $left"
echo "   backups:  next to each repaired file (*.lockfix-backup-*); snapshot: $run/snapshot.tar"
status=1
if [ "$left" -gt 0 ]; then
	status=4
	echo "   NEEDS A HUMAN: still damaged (see $run/apply.txt):"
	sed 's/^/     /' "$run/still-damaged.txt"
fi
if grep -qE '^  (lost|guessed):' "$run/apply-yes.txt"; then
	status=4
	echo "   NEEDS A HUMAN: repaired with --yes, review what was lost or guessed:"
	awk '/^[^ ].*: v[0-9]/ { file = $1 } /^  (lost|guessed):/ { print "     " file " " substr($0, 3) }' "$run/apply-yes.txt"
fi
exit "$status"
