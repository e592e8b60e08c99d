#!/usr/bin/env bash
# Every input the fuzzers ever broke the library with (tests/fuzz/regressions/<harness>/), fed to
# the normal build's nst: pictures as content and style of a run, weights files to `nst info` and
# to a tiny run.  Each must end with a status (exit 0..4: done, failed, usage, memory, numeric),
# never a signal, a timeout or a sanitizer report (in `make test SAN=1` this is ASan + UBSan),
# and as the command line promises: quiet on success, exactly one line on stderr on failure.
# Controls first, so that the checks themselves are known to tell a pass from a failure.
set -uo pipefail
name=t_fuzz_regressions
. "$(dirname "$0")/lib.sh"
REG=tests/fuzz/regressions
sanitizer_exit_codes

# check WHAT ALLOWED_CODES CMD...: runs CMD (60 s at most) and checks that its exit code is in
# ALLOWED_CODES ("0 1"), that nothing on stderr comes from a sanitizer, and that stderr holds one
# line after a failure and nothing after a success (the commands run with -q).
check() {
	local what=$1 allowed=$2; shift 2
	timeout 60 "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	local rc=$?
	if grep -qE 'Sanitizer|runtime error:|Segmentation fault|Aborted' "$tmp/stderr"; then
		bad "$what: sanitizer report or crash (exit $rc):"; head -n 30 "$tmp/stderr"; return
	fi
	local lines
	lines=$(grep -c . "$tmp/stderr")
	case " $allowed " in
	*" $rc "*)
		if [ "$rc" -ne 0 ] && [ "$lines" -ne 1 ]; then
			bad "$what: exit $rc with $lines lines on stderr, expected one:"; head -n 5 "$tmp/stderr" | cat -A | cut -c1-200
		elif [ "$rc" -eq 0 ] && [ "$lines" -ne 0 ]; then
			bad "$what: exit 0 with $lines lines on stderr:"; head -n 5 "$tmp/stderr"
		else
			ok
		fi
		;;
	*)
		if [ "$rc" -eq 124 ]; then bad "$what: timed out"
		elif [ "$rc" -ge 128 ]; then bad "$what: killed by signal $((rc - 128))"
		else bad "$what: exit $rc, expected one of: $allowed"; fi
		tail -n 5 "$tmp/stderr"
		;;
	esac
}

# A 16x12 grey picture (binary PPM) and a file that is not weights, made here: nothing but the
# build is needed.
{ printf 'P6\n16 12\n255\n'; head -c 576 /dev/zero | tr '\0' '\200'; } >"$tmp/grey.ppm"
printf 'NSTW' >"$tmp/bad.nstw"

# Controls: a picture that decodes gets as far as the weights; a refused weights file exits 1.
check "control: a good picture" "1" $NST -c "$tmp/grey.ppm" -s "$tmp/grey.ppm" -o "$tmp/out.png" \
	--weights "$tmp/missing.nstw" --size 16 -q
grep -q "missing.nstw" "$tmp/stderr" || bad "control: the run did not get as far as the weights: $(cat "$tmp/stderr")"
check "control: a refused weights file" "1" $NST info "$tmp/bad.nstw"

n_images=0 n_weights=0
for f in "$REG"/image/*; do
	[ -f "$f" ] || continue
	n_images=$((n_images + 1))
	# The picture as content and as style; the run stops at the (missing) weights, after every
	# picture was decoded and resized.
	check "image $(basename "$f")" "1" $NST -c "$f" -s "$f" -o "$tmp/out.png" --weights "$tmp/missing.nstw" \
		--size 24 -q
	# The feed-forward mode reads the header first (nst_image_info), then the picture.
	if [ -f "$BUILD/styles/candy.nstw" ]; then
		check "image $(basename "$f"): --model" "0 1" $NST --model "$BUILD/styles/candy.nstw" -c "$f" \
			-o "$tmp/out.png" --size 16 --threads 1 -q
	fi
done
for f in "$REG"/weights/*; do
	[ -f "$f" ] || continue
	n_weights=$((n_weights + 1))
	check "weights $(basename "$f"): nst info" "0 1" $NST info "$f"
	# A run that plans, packs and evaluates (on conv1_1, which every VGG file starts with),
	# bounded by --max-memory.
	check "weights $(basename "$f"): run" "0 1 3 4" $NST -c "$tmp/grey.ppm" -s "$tmp/grey.ppm" -o "$tmp/out.png" \
		--weights "$f" --content-layers relu1_1 --style-layers relu1_1 --size 16 -n 1 --threads 1 \
		--max-memory 256M -q
done
echo "$n_images picture and $n_weights weights regression inputs; $passed checks passed, $failed failed"
[ $((n_images + n_weights)) -gt 0 ] || bad "no regression inputs found in $REG"
finish
