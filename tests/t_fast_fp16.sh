#!/usr/bin/env bash
# Feed-forward mode in float16 (nst --model ... --precision fp16): the engine's float16 GEMMs.
#   - natively, --backend scalar --precision fp16 runs the float16 kernels' portable twin: every
#     model's --raw output within 1e-2 relative (L2) of torch_fast.py --raw (float32) at 64x48, and
#     candy at 256x172; the plan line names the twin, fp16 and Winograd F(2x2, 3x3) (F(4x4)'s
#     transforms cost float16 too much: 1.1e-2 on candy).  Not under emulation: the same C code,
#     ten times slower there;
#   - where the CPU has FP16 vector arithmetic (qemu cortex-a76 for TARGET=rpi5): the default
#     backend runs nst_f16_gemm_8x16__neonfp16arith, every model within 1e-2 of the reference at
#     32x24 (test_kernels compares the kernel with its twin bit for bit);
#   - where it has not (x86, qemu cortex-a72): exactly one notice line, exit 0, and the same
#     picture as an fp32 run;
#   - the usage error of an unknown precision.
set -uo pipefail
name=t_fast_fp16
. "$(dirname "$0")/lib.sh"
REF="$SHARED/reference/torch_fast.py"
MODELS=(candy mosaic pointilism rain_princess udnie)
TOL=1e-2

need "$REF" "$BUILD/nst"
for m in "${MODELS[@]}"; do need "$BUILD/styles/$m.nstw"; done
if [ -n "$EMU" ]; then SMALL=32x24 LARGE=; else SMALL=64x48 LARGE=256x172; fi
expect=fallback
case "$EMU" in
*cortex-a76* | *cortex-a78* | *max*) expect=fp16 ;;
esac

"$PYTHON" - "$SHARED/images" "$tmp" "$SMALL" "$LARGE" <<'PY' || { echo "t_fast_fp16: cannot make the pictures"; exit 1; }
import sys
from PIL import Image
src, dst, small, large = sys.argv[1:5]
def size(s): return tuple(int(v) for v in s.split("x"))
Image.open(f"{src}/chelsea.png").convert("RGB").resize(size(small), Image.BICUBIC).save(f"{dst}/small.png")
if large:
    Image.open(f"{src}/astronaut.png").convert("RGB").resize(size(large), Image.BICUBIC).save(f"{dst}/large.png")
PY

# The float32 reference for every model and picture, in one Python process.
pictures=(small)
[ -n "$LARGE" ] && pictures+=(large)
jobs=()
for m in "${MODELS[@]}"; do jobs+=("$m:small"); done
[ -n "$LARGE" ] && jobs+=("candy:large")
"$PYTHON" tests/fast_reference.py "$SHARED" "$tmp" "${jobs[@]}" || bad "the reference failed"

# relative L2 distance of two raw files, printed; exit 1 beyond the bound
rel() {
	"$PYTHON" - "$1" "$2" "$3" <<'PY'
import sys
import numpy as np
a, b = np.fromfile(sys.argv[1], "<f4"), np.fromfile(sys.argv[2], "<f4")
if a.size != b.size or a.size == 0:
    print(f"{a.size} vs {b.size} values"); sys.exit(1)
r = float(np.linalg.norm(a - b) / np.linalg.norm(b))
print(f"relative L2 {r:.2e} (bound {sys.argv[3]})")
sys.exit(0 if r <= float(sys.argv[3]) else 1)
PY
}

$NST --model candy -c "$tmp/small.png" -o "$tmp/x.png" --precision fp8 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "precision" "$tmp/err" && ok "--precision fp8: exit 2, $(head -n 1 "$tmp/err")" ||
	bad "--precision fp8: exit $rc, $(cat "$tmp/err")"

# --- the scalar twin, natively ---------------------------------------------------------------------
for m in "${MODELS[@]}"; do
	for p in "${pictures[@]}"; do
		[ -n "$EMU" ] && continue
		[ "$p" = large ] && [ "$m" != candy ] && continue
		if ! $NST --model "$m" -c "$tmp/$p.png" -o "$tmp/$m-$p-twin.png" --raw "$tmp/$m-$p-twin.f32" --backend scalar \
			--precision fp16 --threads 2 2>"$tmp/err"; then
			bad "$m $p: scalar fp16 failed: $(cat "$tmp/err")"
			continue
		fi
		if [ "$m" = candy ] && [ "$p" = small ]; then
			grep -q "nst_f16_gemm_8x16__scalar, fp16" "$tmp/err" && grep -q "Winograd F(2x2, 3x3)" "$tmp/err" &&
				! grep -q "running in fp32" "$tmp/err" && ok "scalar fp16 plan: the twin, fp16, F(2x2), no notice" ||
				bad "scalar fp16 plan: $(cat "$tmp/err")"
		fi
		r=$(rel "$tmp/$m-$p-twin.f32" "$tmp/ref-$m-$p.f32" "$TOL") && ok "$m $p scalar fp16 vs torch_fast.py: $r" ||
			bad "$m $p scalar fp16 vs torch_fast.py: $r"
	done
done

# --- the SIMD float16 kernel, or the fallback ----------------------------------------------------
if [ "$expect" = fp16 ]; then
	for m in "${MODELS[@]}"; do
		if ! $NST --model "$m" -c "$tmp/small.png" -o "$tmp/$m-simd.png" --raw "$tmp/$m-simd.f32" --precision fp16 \
			--threads 2 2>"$tmp/err"; then
			bad "$m: fp16 failed: $(cat "$tmp/err")"
			continue
		fi
		if [ "$m" = candy ]; then
			grep -q "nst_f16_gemm_8x16__neonfp16arith, fp16" "$tmp/err" && ! grep -q "running in fp32" "$tmp/err" &&
				ok "fp16 plan names the NEON float16 kernel" || bad "fp16 plan: $(cat "$tmp/err")"
		fi
		r=$(rel "$tmp/$m-simd.f32" "$tmp/ref-$m-small.f32" "$TOL") && ok "$m fp16 vs torch_fast.py: $r" ||
			bad "$m fp16 vs torch_fast.py: $r"
	done
else
	precision_fallback fp16 "$tmp/small.png" "fp16 needs FP16 vector arithmetic"
fi

finish
