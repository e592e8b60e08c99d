#!/usr/bin/env bash
# Parity with ../shared/reference/torch_nst.py on the real VGG19 weights, pictures already at the
# target size (so neither side resamples):
#   - the gradient at the start (--dump-grad) within 1e-4 relative (L2);
#   - Adam: loss-log row 0 within 1e-4 relative, row 10 within 1e-3 (every column);
#   - L-BFGS: the loss after N iterations at most 2% above the reference's and at most 5% below it.
#     L-BFGS without a line search (the reference's) is chaotic: its 2nd step jumps to ~1e10 and
#     rounding grows from there.  The reference itself lands 2.0% higher at 64 px (810121 -> 826335)
#     when only its convolutions change (oneDNN off, AMD EPYC), and there our three backends end
#     2.2% / 1.7% / 2.2% below its oneDNN run after crossing it twice; on the Intel machines before
#     they were within 2% on both sides.  A higher loss is the failure that matters (a worse
#     optimizer); a lower one is checked only against nonsense.
#   - --backend simd and --backend xnnpack against --backend scalar: row 0 within 1e-5, Adam row 10
#     within 1e-3 (Adam's steps amplify roundings: see below).
# Under emulation (NST_EMU set: ARM builds under qemu) the sizes are smaller.
# NST_PARITY_NETWORK=distilled (tests/t_parity_distilled.sh): the same on the distilled VGG19
# (encoder5_16x.pth against build/vgg19-distilled.nstw: reflection padding, conv0 folded into
# conv1_1, the 1x1 taps), with explicit layers on taps (relu1_1..relu5_1, relu4_1) and on the trunk
# (relu3_2) and per-layer style weights.
set -euo pipefail
name=t_parity${NST_PARITY_NETWORK:+_$NST_PARITY_NETWORK}
. "$(dirname "$0")/lib.sh"
REF="$SHARED/reference/torch_nst.py"
if [ "${NST_PARITY_NETWORK:-}" = distilled ]; then
	REF_WEIGHTS="$SHARED/weights/vgg19-distilled-16x/encoder5_16x.pth"
	NSTW="$BUILD/vgg19-distilled.nstw"
	LOSS=(--content-layers relu3_2,relu4_1 --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1
		--style-layer-weights 4096,16384,65536,262144,262144 --content-weight 3e4 --style-weight 1e5 --tv-weight 1e-3)
else
	REF_WEIGHTS="$SHARED/weights/vgg19-imagenet-blocks1-3"
	NSTW="$BUILD/vgg19.nstw"
	# CONVENTIONS.md's defaults, the reference's own, spelled out: the network's may differ.
	LOSS=(--content-layers relu3_2 --style-layers relu1_1,relu2_1,relu3_1 --content-weight 5 --style-weight 100
		--tv-weight 1e-3)
fi

need "$REF" "$REF_WEIGHTS" "$NSTW"
if [ -n "$EMU" ]; then SIZE=32 LBFGS_N=20; else SIZE=64 LBFGS_N=50; fi
# The distilled network pads by reflection down to relu5_1 (1/16 of the picture), which needs 2
# pixels on each side there: 32 px would leave the 32x20 style picture 1 pixel high.
[ "${NST_PARITY_NETWORK:-}" = distilled ] && SIZE=64
ADAM_N=10

# Pictures at exactly the target size (long side = SIZE), made once with PIL.
pictures_at "$SIZE" chelsea.png starry_night.jpg

common=(--size "$SIZE" --threads 2 "${LOSS[@]}")
ref() { "$PYTHON" "$REF" --weights "$REF_WEIGHTS" --content "$tmp/c.png" --style "$tmp/s.png" "${common[@]}" "$@" >/dev/null; }
# The reference's optimizer: no line search, every iteration (nst's defaults search and stop early).
ours() { $NST -c "$tmp/c.png" -s "$tmp/s.png" -o "$tmp/out.png" --weights "$NSTW" -q "${common[@]}" \
	--line-search none --tolerance 0 "$@"; }

ref --optimizer adam --iterations $ADAM_N --log "$tmp/ref_adam.csv" --dump-grad "$tmp/ref_grad.f32"
# L-BFGS: compared natively only (see the note printed under emulation); here runs cost minutes.
lbfgs() { # backend
	if [ -n "$EMU" ]; then cp "$tmp/ref_lbfgs.csv" "$tmp/$1_lbfgs.csv"; else ours --backend "$1" --optimizer lbfgs -n $LBFGS_N --log "$tmp/$1_lbfgs.csv"; fi
}
if [ -n "$EMU" ]; then printf 'iteration,total,content,style,tv,seconds\n0,1,0,1,0,0\n' >"$tmp/ref_lbfgs.csv"; else
	ref --optimizer lbfgs --iterations $LBFGS_N --log "$tmp/ref_lbfgs.csv"; fi
ours --backend scalar --optimizer adam -n $ADAM_N --log "$tmp/scalar_adam.csv" --dump-grad "$tmp/scalar_grad.f32"
lbfgs scalar
backends=(scalar)
if $NST --backend simd -c "$tmp/c.png" -s "$tmp/s.png" -o "$tmp/probe.png" --weights "$NSTW" --size "$SIZE" -q -n 0 2>/dev/null; then
	ours --backend simd --optimizer adam -n $ADAM_N --log "$tmp/simd_adam.csv" --dump-grad "$tmp/simd_grad.f32"
	lbfgs simd
	backends+=(simd)
else
	echo "$name: no SIMD backend on this CPU"
fi
if $NST --backend xnnpack -c "$tmp/c.png" -s "$tmp/s.png" -o "$tmp/probe.png" --weights "$NSTW" --size "$SIZE" -q -n 0 2>/dev/null; then
	ours --backend xnnpack --optimizer adam -n $ADAM_N --log "$tmp/xnnpack_adam.csv" --dump-grad "$tmp/xnnpack_grad.f32"
	lbfgs xnnpack
	backends+=(xnnpack)
else
	echo "$name: no XNNPACK backend in this build"
fi

"$PYTHON" - "$tmp" "$ADAM_N" "${EMU:+emulated}" "$name" "${backends[@]}" <<'EOF'
import csv, os, sys
import numpy as np
tmp, adam_n, emulated, name, backends = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "emulated", sys.argv[4], sys.argv[5:]
if emulated:
    print("note: under emulation the L-BFGS comparison is skipped: at the sizes emulation allows (32 px, 20\n"
          "iterations) the trajectory is still steep and one rounding-level difference moves the loss by tens of\n"
          "percent, on x86 and ARM alike; the native run checks it at 64 px after 50 iterations")
fails = 0
def rows(path):
    with open(path) as f:
        return {int(r["iteration"]): r for r in csv.DictReader(f)}
def check(what, got, want, tol):
    global fails
    err = abs(got - want) / max(abs(want), 1e-30)
    ok = err <= tol
    fails += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {got:.9g} vs {want:.9g} (relative {err:.2e}, bound {tol:g})")
def check_band(what, got, want, below, above):
    global fails
    err = (got - want) / max(abs(want), 1e-30)
    ok = -below <= err <= above
    fails += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {got:.9g} vs {want:.9g} (relative {err:+.2e}, bounds -{below:g} +{above:g})")
def columns(name, a, b, row, tol):
    for col in ("total", "content", "style", "tv"):
        want = float(b[row][col])
        if abs(want) < 1e-3 and abs(float(a[row][col])) < 1e-3:
            continue  # content is 0 at row 0 when starting from the content picture
        check(f"{name} row {row} {col}", float(a[row][col]), want, tol)
ref_adam, ref_lbfgs = rows(f"{tmp}/ref_adam.csv"), rows(f"{tmp}/ref_lbfgs.csv")
g_ref = np.fromfile(f"{tmp}/ref_grad.f32", "<f4")
for be in backends:
    adam = rows(f"{tmp}/{be}_adam.csv")
    columns(f"{be} adam vs torch", adam, ref_adam, 0, 1e-4)
    columns(f"{be} adam vs torch", adam, ref_adam, adam_n, 1e-3)
    if not emulated:  # see the note above
        lb = rows(f"{tmp}/{be}_lbfgs.csv")
        last = max(ref_lbfgs)
        if max(lb) != last:
            fails += 1
            print(f"FAIL {be} lbfgs: {max(lb)} log rows, the reference has {last}")
        check_band(f"{be} lbfgs vs torch, loss after {last} evaluations", float(lb[max(lb)]["total"]),
                   float(ref_lbfgs[last]["total"]), 0.05, 0.02)
    g = np.fromfile(f"{tmp}/{be}_grad.f32", "<f4")
    if g.shape != g_ref.shape:
        fails += 1
        print(f"FAIL {be} gradient: {g.shape} values, the reference has {g_ref.shape}")
    else:
        check(f"{be} gradient at the start vs torch (L2 of the difference / L2)",
              1.0 + float(np.linalg.norm(g - g_ref) / np.linalg.norm(g_ref)), 1.0, 1e-4)
for be in ("simd", "xnnpack"):
    if be in backends:
        s, v = rows(f"{tmp}/{be}_adam.csv"), rows(f"{tmp}/scalar_adam.csv")
        columns(f"{be} vs scalar adam", s, v, 0, 1e-5)
        # Adam divides each pixel's step by its own gradient's size, so rounding in gradients near
        # zero grows into whole steps, and runs part at a rate set by where the roundings fall, not
        # by their size: with start gradients 5.5e-7 apart (L2), blocks 1-3 parted from scalar by
        # 1.5e-5 at row 10 with the transposing Gram and 1.5e-4 with the Gram-tile kernels, and the
        # transposing build's simd run with 1 and 2 threads (its Gram's parts summed otherwise)
        # parted from itself by 1.6e-4; on 32-bit ARM the distilled run by ~4e-4.  Row 10 is held
        # to the bound against torch; row 0 and the start gradient (above) are the tight checks.
        columns(f"{be} vs scalar adam", s, v, adam_n, 1e-3)
print(f"{name}: {'FAILED' if fails else 'all within bounds'}")
sys.exit(1 if fails else 0)
EOF
