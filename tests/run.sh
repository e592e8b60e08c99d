#!/usr/bin/env bash
# Runs every test program (build/tests/test_*) and every test script (tests/t_*.sh), each in its
# own log, and closes with the tally line "N passed, N failed".
#   BUILD=build SHARED=../shared EMU="qemu-aarch64 -cpu cortex-a72 -L ..." tests/run.sh [FILTER]
set -uo pipefail
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
EMU=${EMU:-}
FILTER=${1:-}
TESTS=${TESTS:-}   # an extended regular expression: only the tests whose names match
export NST_BUILD=$BUILD NST_SHARED=$SHARED NST_EMU=$EMU PYTHON=${PYTHON:-/usr/bin/python3}
logs=$BUILD/test-logs
mkdir -p "$logs"
passed=0 failed=0 failed_names=()

run_one() { # name, command...
	local name=$1; shift
	local t0=$(date +%s%N)
	if "$@" >"$logs/$name.log" 2>&1; then
		passed=$((passed + 1)); local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
		printf 'PASS %-28s %5d.%01ds\n' "$name" $((ms / 1000)) $(((ms % 1000) / 100))
	else
		failed=$((failed + 1)); failed_names+=("$name")
		printf 'FAIL %-28s (log: %s)\n' "$name" "$logs/$name.log"
		tail -n 25 "$logs/$name.log" | sed 's/^/    /'
	fi
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d) continue ;; esac
	name=$(basename "$t")
	[ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]] && continue
	[ -n "$TESTS" ] && ! [[ "$name" =~ $TESTS ]] && continue
	run_one "$name" $EMU "$t"
done
for s in tests/t_*.sh; do
	[ -f "$s" ] || continue
	name=$(basename "$s" .sh)
	[ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]] && continue
	[ -n "$TESTS" ] && ! [[ "$name" =~ $TESTS ]] && continue
	run_one "$name" bash "$s"
done

echo
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
