#!/usr/bin/env bash
# valgrind memcheck on small runs of the normal build: no invalid read or write, no use of
# uninitialised memory, no leak, on the good paths (L-BFGS and Adam, one and two threads, the
# scalar and SIMD kernels, nst info) and on failing ones (truncated pictures, truncated weights).
# Skipped (exit 0, with a message) where it cannot mean anything: valgrind not installed, a
# cross build run under qemu, or a sanitizer build (ASan and valgrind do not mix).
set -uo pipefail
name=t_valgrind
. "$(dirname "$0")/lib.sh"
NST=$BUILD/nst # run by valgrind itself, never under $EMU

if ! command -v valgrind >/dev/null 2>&1; then
	echo "skip: valgrind is not installed (toolchains/deps.sh test installs it)"; exit 0
fi
if [ -n "$EMU" ]; then
	echo "skip: $NST is a cross build run under qemu"; exit 0
fi
if grep -qa -m1 __asan_init "$NST"; then
	echo "skip: $NST is built with AddressSanitizer (make test SAN=1), which valgrind cannot run"; exit 0
fi
need "$NST" "$W"

# 99 for any memcheck error, leaks of every kind but "still reachable" included.
leak_kinds=definite,indirect,possible
VG=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full "--errors-for-leak-kinds=$leak_kinds"
	"--show-leak-kinds=$leak_kinds" --quiet)
passed=0 failed=0

# vg NAME EXPECTED_EXIT ARGS...: nst under memcheck; the exit code must be EXPECTED_EXIT (99 means a
# memcheck error); the report is kept in $tmp/NAME.log and shown on failure.
vg() {
	local run_name=$1 want=$2; shift 2
	local t0=$SECONDS
	"${VG[@]}" --log-file="$tmp/$run_name.log" "$NST" "$@" >"$tmp/$run_name.out" 2>"$tmp/$run_name.err"
	local rc=$?
	if [ "$rc" -eq "$want" ] && ! grep -q "ERROR SUMMARY: [1-9]" "$tmp/$run_name.log"; then
		ok "$run_name ($((SECONDS - t0)) s)"
	else
		bad "$run_name: exit $rc (expected $want; 99 is a memcheck error)"
		head -n 60 "$tmp/$run_name.log" | sed 's/^/    /'
		tail -n 5 "$tmp/$run_name.err" | sed 's/^/    /'
	fi
}

C=$SHARED/images/chelsea.png
S=$SHARED/images/starry_night.jpg
run=(-c "$C" -s "$S" --weights "$W" --size 32 -n 3 -q)
# Valgrind runs FMA instructions through slow helpers (the SIMD kernels run ~800x slower than
# natively, the scalar ones ~150x), so the SIMD run stops at relu2_1: every operator (the
# convolutions, the pooling between blocks, Gram matrices, both losses) at a fraction of the cost.
vg lbfgs-scalar-1-thread 0 "${run[@]}" -o "$tmp/lbfgs1.png" --threads 1 --backend scalar
vg lbfgs-simd-2-threads 0 "${run[@]}" -o "$tmp/lbfgs2.png" --threads 2 --backend simd \
	--content-layers relu2_1 --style-layers relu1_1,relu2_1
vg adam-scalar-2-threads 0 "${run[@]}" -o "$tmp/adam2.jpg" --threads 2 --backend scalar --optimizer adam
vg info 0 info "$W"
# The feed-forward mode (when make weights made the style networks): a picture whose sides are
# not multiples of 4, so the padding and cropping run too.
fast=$BUILD/styles/candy.nstw
if [ -f "$fast" ]; then
	vg fast-candy-2-threads 0 --model "$fast" -c "$C" -o "$tmp/fast.png" --size 30 --threads 2 --backend scalar -q
fi
# The error paths free what they allocated too.
head -c 3000 "$C" >"$tmp/truncated.png"
vg truncated-picture 1 -c "$tmp/truncated.png" -s "$S" -o "$tmp/never.png" --weights "$W" --size 32 -n 1 -q
head -c 4096 "$W" >"$tmp/truncated.nstw"
vg truncated-weights 1 "${run[@]}" -o "$tmp/never.png" --weights "$tmp/truncated.nstw"
# A truncated binary PPM and an uncompressed TGA: stb_image 2.27 reads their pixels without
# checking that the file holds them, so unless the library refuses them they "decode" into
# uninitialised memory, which memcheck sees when the run uses it.
for f in ppm-truncated.ppm tga-truncated.tga; do
	vg "${f%%.*}" 1 -c "tests/fuzz/regressions/image/$f" -s "$S" -o "$tmp/never.png" --weights "$W" \
		--size 32 -n 1 --threads 1 --backend scalar -q
done
# Decoded only (the run stops at the missing weights file): a 16-bit grey PGM, which stb_image
# 2.27 converts by reading past its buffer, and a progressive JPEG whose scan names a Huffman
# table no segment defined, which it reads uninitialised.
for f in pgm-16bit-grey.pgm jpeg-undefined-huffman-table.jpg; do
	vg "${f%%.*}" 1 -c "tests/fuzz/regressions/image/$f" -s "$S" -o "$tmp/never.png" \
		--weights "$tmp/missing.nstw" --size 32 -q
done

outputs=(lbfgs1.png lbfgs2.png adam2.jpg)
[ -f "$fast" ] && outputs+=(fast.png)
for f in "${outputs[@]}"; do
	[ -s "$tmp/$f" ] || bad "$f was not written"
done
[ -e "$tmp/never.png" ] && bad "a failed run wrote never.png"
grep -q "layers:" "$tmp/info.out" || bad "nst info printed no layer table"
finish
