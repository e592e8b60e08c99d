#!/usr/bin/env bash
# Runs the libFuzzer harnesses that tests/fuzz/fuzz.mk built (`make fuzz` calls this):
#   tests/fuzz/fuzz.sh NAME...      (NAME: image, weights, checkpoint)
# For each NAME: first every kept reproducer in tests/fuzz/regressions/NAME/ once, then
# FUZZ_SECONDS of fuzzing on the seed corpus (FUZZ_BUILD/corpus-NAME, read only) plus the
# inputs this machine found earlier (FUZZ_BUILD/work-NAME, where new ones are written).
# A crash, a leak, a timeout or running out of memory fails the run; the reproducer's path and a
# base64 of it are printed.
#   FUZZ_BUILD (build/fuzz)  FUZZ_SECONDS (60)  FUZZ_ARGS (more libFuzzer flags, e.g. -jobs=2)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_ARGS=${FUZZ_ARGS:-}

max_len() {
	case $1 in
	image) echo 16384 ;;      # the seeds are 20 B .. 4 KiB pictures
	weights) echo 163840 ;;   # room for convert.py's VGG19 block 1 (155 KiB)
	checkpoint) echo 4096 ;;  # patches of the harness's genuine checkpoints, or whole files (4 KiB)
	*) echo 4096 ;;
	esac
}

# Memory limits: the image harness decodes within a 32 MiB budget, so an allocation over 64 MiB,
# or a process over 512 MiB, is a budget that failed to count (ASan's own memory included).
limits() {
	case $1 in
	image) echo "-rss_limit_mb=512 -malloc_limit_mb=64" ;;
	*) echo "-rss_limit_mb=2048" ;;
	esac
}

show_artifacts() { # name, dir
	local f found=0
	for f in "$2"/*; do
		[ -f "$f" ] || continue
		found=1
		echo "fuzz: $1: reproducer $f ($(stat -c %s "$f") bytes)"
		echo "fuzz:   rerun: $FUZZ_BUILD/fuzz_$1 $f"
		echo "fuzz:   keep it, once fixed: cp $f tests/fuzz/regressions/$1/"
		if [ "$(stat -c %s "$f")" -le 4096 ]; then
			echo "fuzz:   base64:"
			base64 -w 76 "$f" | sed 's/^/    /'
		fi
	done
	[ "$found" = 1 ] || echo "fuzz: $1: no reproducer was written (see the log)"
}

failed=()
for name in "$@"; do
	bin=$FUZZ_BUILD/fuzz_$name
	[ -x "$bin" ] || { echo "fuzz: $bin is not built"; failed+=("$name"); continue; }
	artifacts=$FUZZ_BUILD/artifacts/$name
	rm -rf "$artifacts"
	mkdir -p "$artifacts" "$FUZZ_BUILD/work-$name" "$FUZZ_BUILD/logs"
	# shellcheck disable=SC2207 # the limits are single words
	common=($(limits "$name") -timeout=30 -artifact_prefix="$artifacts/")

	# 1. The kept reproducers: each must run clean.
	regressions=tests/fuzz/regressions/$name
	if compgen -G "$regressions/*" >/dev/null; then
		log=$FUZZ_BUILD/logs/$name-regressions.log
		if "$bin" "${common[@]}" -runs=0 "$regressions" >"$log" 2>&1; then
			echo "fuzz: $name: $(ls "$regressions" | wc -l) regression inputs pass"
		else
			echo "fuzz: $name: a regression input fails again (log: $log)"
			tail -n 40 "$log" | sed 's/^/    /'
			show_artifacts "$name" "$artifacts"
			failed+=("$name")
			continue
		fi
	fi

	# 2. Fuzzing.
	log=$FUZZ_BUILD/logs/$name.log
	dict=tests/fuzz/$name.dict
	dict_arg=(); [ -f "$dict" ] && dict_arg=(-dict="$dict")
	echo "fuzz: $name: ${FUZZ_SECONDS}s, -max_len=$(max_len "$name") (log: $log)"
	# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
	"$bin" "${common[@]}" "${dict_arg[@]}" -max_len="$(max_len "$name")" -max_total_time="$FUZZ_SECONDS" \
		-print_final_stats=1 $FUZZ_ARGS "$FUZZ_BUILD/work-$name" "$FUZZ_BUILD/corpus-$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz: $name: ok, ${runs:-?} runs, ${speed:-?}/s, $cov"
	else
		echo "fuzz: $name: FAILED (exit $rc) after ${runs:-?} runs (log: $log)"
		grep -E 'ERROR: |runtime error|fuzz invariant broken|SUMMARY' "$log" | head -n 5 | sed 's/^/    /'
		grep -E '^    #[0-9]+ ' "$log" | head -n 12
		show_artifacts "$name" "$artifacts"
		failed+=("$name")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}"
	exit 1
fi
