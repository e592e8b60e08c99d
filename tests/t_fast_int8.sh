#!/usr/bin/env bash
# Feed-forward mode in int8 (nst --model ... --precision int8): the decoder's upsampling layers on
# the int8 GEMM kernels (nst_qu8s8_gemm_*), every other layer float32.
#   - where the CPU has int8 kernels (x86 with AVX-512 VNNI + BW natively; qemu cortex-a76 for
#     TARGET=rpi5): the plan names the int8 kernel and int8, no notice, and every model's picture
#     within mean |difference| 1.5 levels and max 12 of the fp32 picture (natively chelsea at
#     256x170 for all five models and astronaut at 256x256 for candy and mosaic; under emulation
#     chelsea at 48x32);
#   - natively, --backend scalar --precision int8 (the int8 kernels' portable twin) within the same
#     bounds of --backend scalar fp32, at 64x43;
#   - where it has not (x86 without VNNI, qemu cortex-a72): exactly one notice line, exit 0, and
#     the same picture as an fp32 run;
#   - the arbitrary-style network with --precision int8: its one notice line, fp32's picture;
#   - the usage error of an unknown precision names int8.
set -uo pipefail
name=t_fast_int8
. "$(dirname "$0")/lib.sh"
MODELS=(candy mosaic pointilism rain_princess udnie)
MEAN=1.5
MAX=12

need "$BUILD/nst"
for m in "${MODELS[@]}" arbitrary; do need "$BUILD/styles/$m.nstw"; done
expect=fallback
if [ -z "$EMU" ]; then
	grep -qw avx512_vnni /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && expect=int8
else
	case "$EMU" in
	*cortex-a76* | *cortex-a78* | *max*) expect=int8 ;;
	esac
fi
if [ -n "$EMU" ]; then PHOTO=48x32; else PHOTO=256x170; fi

"$PYTHON" - "$SHARED/images" "$tmp" "$PHOTO" <<'PY' || { echo "t_fast_int8: cannot make the pictures"; exit 1; }
import sys
from PIL import Image
src, dst, photo = sys.argv[1:4]
size = tuple(int(v) for v in photo.split("x"))
Image.open(f"{src}/chelsea.png").convert("RGB").resize(size, Image.BICUBIC).save(f"{dst}/chelsea.png")
Image.open(f"{src}/chelsea.png").convert("RGB").resize((64, 43), Image.BICUBIC).save(f"{dst}/small.png")
Image.open(f"{src}/astronaut.png").convert("RGB").resize((256, 256), Image.BICUBIC).save(f"{dst}/astronaut.png")
Image.open(f"{src}/starry_night.jpg").convert("RGB").resize((64, 51), Image.BICUBIC).save(f"{dst}/painting.png")
PY

# mean and max |difference| of two pictures in levels, printed; exit 1 beyond the bounds
diff_levels() {
	"$PYTHON" - "$1" "$2" "$MEAN" "$MAX" <<'PY'
import sys
import numpy as np
from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert("RGB"), dtype=np.int16)
b = np.asarray(Image.open(sys.argv[2]).convert("RGB"), dtype=np.int16)
if a.shape != b.shape:
    print(f"sizes {a.shape} vs {b.shape}"); sys.exit(1)
d = np.abs(a - b)
print(f"mean |difference| {d.mean():.3f} levels, max {d.max()} (bounds {sys.argv[3]}, {sys.argv[4]})")
sys.exit(0 if d.mean() <= float(sys.argv[3]) and d.max() <= int(sys.argv[4]) else 1)
PY
}

$NST --model candy -c "$tmp/small.png" -o "$tmp/x.png" --precision int4 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "int8" "$tmp/err" && ok "--precision int4: exit 2, $(head -n 1 "$tmp/err")" ||
	bad "--precision int4: exit $rc, $(cat "$tmp/err")"

# pairs: model:picture
pairs=()
for m in "${MODELS[@]}"; do pairs+=("$m:chelsea"); done
[ -z "$EMU" ] && pairs+=(candy:astronaut mosaic:astronaut)

if [ "$expect" = int8 ]; then
	for pair in "${pairs[@]}"; do
		m=${pair%%:*} p=${pair#*:}
		if ! $NST --model "$m" -c "$tmp/$p.png" -o "$tmp/$m-$p-int8.png" --precision int8 --threads 2 2>"$tmp/err" ||
			! $NST --model "$m" -c "$tmp/$p.png" -o "$tmp/$m-$p-fp32.png" --threads 2 -q; then
			bad "$m $p: a run failed: $(cat "$tmp/err")"
			continue
		fi
		if [ "$m" = candy ] && [ "$p" = chelsea ]; then
			grep -Eq "nst_qu8s8_gemm_[0-9x]+__(avx512vnni|neondot), int8" "$tmp/err" && ! grep -q "running in fp32" "$tmp/err" &&
				ok "int8 plan names the int8 kernel, no notice" || bad "int8 plan: $(cat "$tmp/err")"
		fi
		r=$(diff_levels "$tmp/$m-$p-int8.png" "$tmp/$m-$p-fp32.png") && ok "$m $p int8 vs fp32: $r" ||
			bad "$m $p int8 vs fp32: $r"
	done
else
	precision_fallback int8 "$tmp/chelsea.png" "int8 needs AVX-512 VNNI or AVX-VNNI"
fi

# --- the scalar twin, natively (the same C code under emulation, much slower there) -----------------
if [ -z "$EMU" ]; then
	$NST --model candy -c "$tmp/small.png" -o "$tmp/twin-int8.png" --backend scalar --precision int8 --threads 2 2>"$tmp/err" &&
		$NST --model candy -c "$tmp/small.png" -o "$tmp/twin-fp32.png" --backend scalar --threads 2 -q ||
		bad "scalar runs failed: $(cat "$tmp/err")"
	grep -q "nst_qu8s8_gemm_8x8__scalar, int8" "$tmp/err" && ! grep -q "running in fp32" "$tmp/err" &&
		ok "scalar int8 plan names the scalar twin" || bad "scalar int8 plan: $(cat "$tmp/err")"
	r=$(diff_levels "$tmp/twin-int8.png" "$tmp/twin-fp32.png") && ok "candy scalar int8 vs scalar fp32: $r" ||
		bad "candy scalar int8 vs scalar fp32: $r"
fi

# --- the arbitrary-style network stays fp32 -------------------------------------------------------
$NST --model arbitrary -c "$tmp/small.png" -s "$tmp/painting.png" -o "$tmp/arb-int8.png" --precision int8 --threads 2 \
	2>"$tmp/err"
rc=$?
$NST --model arbitrary -c "$tmp/small.png" -s "$tmp/painting.png" -o "$tmp/arb-fp32.png" --threads 2 -q
n=$(grep -c "running in fp32\|runs in fp32" "$tmp/err")
[ $rc -eq 0 ] && [ "$n" -eq 1 ] && grep -q "int8 runs the trained networks" "$tmp/err" &&
	ok "arbitrary --precision int8: one notice, $(grep 'fp32' "$tmp/err" | tail -n 1)" ||
	bad "arbitrary --precision int8: exit $rc: $(cat "$tmp/err")"
cmp -s "$tmp/arb-int8.png" "$tmp/arb-fp32.png" && ok "arbitrary int8's picture is fp32's" ||
	bad "arbitrary int8's picture differs from fp32's"

finish
