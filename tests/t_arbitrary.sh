#!/usr/bin/env bash
# The arbitrary-style network (nst --model arbitrary -s PAINTING), against torch_arbitrary.py:
#   - fp32: --raw within 1e-3 relative (L2) of the reference's --raw, the photo's sides multiples
#     of 4 and the painting given at its own size (--style-size = its long side: not resampled);
#     the same with --alpha 0.5 = the reference's --alpha 0.5; --strength 0.5 is the pixel mix, within
#     half a level of the mean of the photo and the --strength 1 picture (and not flat);
#   - a photo whose sides are not multiples of 4: the reference on the photo padded by repeating
#     its last row and column, cropped back, within 1e-3;
#   - fp16: natively --backend scalar --precision fp16 (the float16 kernels' portable twin), and
#     under qemu cortex-a76 the NEON float16 GEMMs, within 1e-2;
#   - several paintings: --style-blend 1,0 is the first painting alone, bit for bit; 1,1 is neither;
#   - a folder of two photos of different sizes (one plan, the painting encoded once): each result
#     equals the one-photo run, bit for bit;
#   - memory at 512x512: the plan printed is at most 40 MiB, and the peak RSS stays within the
#     plan, the process before the arena, the photo loaded after it and its result (0.75 MiB each)
#     and 0.25 MiB of slack: the PNG is written row by row (stb_image_write's whole-picture buffers
#     made the peak 4.7 MiB more than plan and baseline);
#   - --init model:arbitrary / model:candy: with no iteration the optimization's result is the
#     one-pass picture, bit for bit;
#   - paintings whose short side would fall below 16 px are enlarged (not refused);
#   - the usage errors: no painting, a painting for a trained network, a blend of the wrong length,
#     --style-size below 16, an output that is the painting.
set -uo pipefail
name=t_arbitrary
. "$(dirname "$0")/lib.sh"
REF="$SHARED/reference/torch_arbitrary.py"
MODEL="$BUILD/styles/arbitrary.nstw"
need "$REF" "$MODEL" "$BUILD/nst"
if [ -n "$EMU" ]; then PHOTO=64x48 ODD=66x50; else PHOTO=128x96 ODD=130x98; fi
PAINTING=101x83

"$PYTHON" - "$SHARED/images" "$tmp" "$PHOTO" "$ODD" "$PAINTING" <<'PY' || die "cannot make the pictures"
import sys
import numpy as np
from PIL import Image
src, dst, photo, odd, painting = sys.argv[1:6]
size = lambda s: tuple(int(v) for v in s.split("x"))
Image.open(f"{src}/astronaut.png").convert("RGB").resize(size(photo), Image.BICUBIC).save(f"{dst}/photo.png")
Image.open(f"{src}/chelsea.png").convert("RGB").resize(size(odd), Image.BICUBIC).save(f"{dst}/odd.png")
Image.open(f"{src}/starry_night.jpg").convert("RGB").resize(size(painting), Image.BICUBIC).save(f"{dst}/paint.png")
Image.open(f"{src}/great_wave.jpg").convert("RGB").resize(size(painting), Image.BICUBIC).save(f"{dst}/wave.png")
# the odd photo padded as nst pads it (the last row and column repeated) to multiples of 4
a = np.asarray(Image.open(f"{dst}/odd.png"))
h, w = a.shape[:2]
a = np.pad(a, ((0, -h % 4), (0, -w % 4), (0, 0)), mode="edge")
Image.fromarray(a).save(f"{dst}/odd_padded.png")
PY
STYLE_SIZE=${PAINTING%x*}

# rel A B BOUND [CROP_W CROP_H FULL_W]: relative L2 of two raw float32 files (B cropped from a
# FULL_W-wide picture first), printed; false beyond BOUND.
rel() {
	"$PYTHON" - "$@" <<'PY'
import sys
import numpy as np
a, b = np.fromfile(sys.argv[1], "<f4"), np.fromfile(sys.argv[2], "<f4")
if len(sys.argv) > 4:
    cw, ch, fw = (int(v) for v in sys.argv[4:7])
    b = b.reshape(-1, fw, 3)[:ch, :cw].reshape(-1)
if a.size != b.size or a.size == 0:
    print(f"{a.size} vs {b.size} values"); sys.exit(1)
r = float(np.linalg.norm(a - b) / np.linalg.norm(b))
print(f"relative L2 {r:.2e} (bound {sys.argv[3]})")
sys.exit(0 if r <= float(sys.argv[3]) else 1)
PY
}

reference() { # PHOTO OUT.f32 [--alpha A]
	local photo=$1 out=$2; shift 2
	"$PYTHON" "$REF" "$photo" "$tmp/paint.png" "$tmp/ref.png" --raw "$out" --threads 2 "$@" >/dev/null ||
		bad "the reference failed on $photo"
}

# --- fp32 parity ---------------------------------------------------------------------------------
reference "$tmp/photo.png" "$tmp/ref.f32"
if $NST --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png" --style-size "$STYLE_SIZE" -o "$tmp/o.png" \
	--raw "$tmp/o.f32" 2>"$tmp/err" && grep -q "painting $tmp/paint.png ($PAINTING)" "$tmp/err"; then
	if r=$(rel "$tmp/o.f32" "$tmp/ref.f32" 1e-3); then ok "fp32 $PHOTO: $r"; else bad "fp32 $PHOTO: $r"; fi
else
	bad "fp32 run (or the painting was resampled): $(cat "$tmp/err")"
fi
reference "$tmp/photo.png" "$tmp/ref_half.f32" --alpha 0.5
$NST --model any -c "$tmp/photo.png" -s "$tmp/paint.png" --style-size "$STYLE_SIZE" --alpha 0.5 -o "$tmp/o.png" \
	--raw "$tmp/half.f32" -q || bad "--alpha 0.5 run"
if r=$(rel "$tmp/half.f32" "$tmp/ref_half.f32" 1e-3); then ok "--alpha 0.5 = the reference's --alpha 0.5: $r"; else bad "--alpha 0.5: $r"; fi
$NST --model any -c "$tmp/photo.png" -s "$tmp/paint.png" --style-size "$STYLE_SIZE" -o "$tmp/full.png" -q &&
	$NST --model any -c "$tmp/photo.png" -s "$tmp/paint.png" --style-size "$STYLE_SIZE" --strength 0.5 -o "$tmp/mix.png" -q ||
	bad "--strength runs"
"$PYTHON" - "$tmp/photo.png" "$tmp/full.png" "$tmp/mix.png" <<'PY' && ok "--strength 0.5: the pixel mix" || bad "--strength 0.5"
import sys
import numpy as np
from PIL import Image
p, f, m = (np.asarray(Image.open(x).convert("RGB"), dtype=np.float64) for x in sys.argv[1:4])
d = np.abs(m - (p + f) / 2).max()
print(f"--strength 0.5 vs the mean of photo and stylized: max {d} levels; its spread {m.std():.1f}")
sys.exit(0 if d <= 0.5 and m.std() > 10 else 1)
PY

# --- sides not multiples of 4 ------------------------------------------------------------------------
reference "$tmp/odd_padded.png" "$tmp/ref_odd.f32"
$NST --model arbitrary -c "$tmp/odd.png" -s "$tmp/paint.png" --style-size "$STYLE_SIZE" -o "$tmp/odd_out.png" \
	--raw "$tmp/odd.f32" -q || bad "odd-size run"
read -r ow oh pw < <("$PYTHON" -c "
from PIL import Image; import sys
a, b = Image.open(sys.argv[1]).size, Image.open(sys.argv[2]).size
print(a[0], a[1], b[0])" "$tmp/odd.png" "$tmp/odd_padded.png")
if r=$(rel "$tmp/odd.f32" "$tmp/ref_odd.f32" 1e-3 "$ow" "$oh" "$pw"); then ok "$ODD, padded and cropped: $r"; else bad "$ODD: $r"; fi

# --- fp16 --------------------------------------------------------------------------------------------
fp16_args=()
case "$EMU" in
"") fp16_args=(--backend scalar --precision fp16) ;;
*cortex-a76* | *cortex-a78*) fp16_args=(--precision fp16) ;;
esac
if [ ${#fp16_args[@]} -gt 0 ]; then
	$NST --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png" --style-size "$STYLE_SIZE" -o "$tmp/o.png" \
		--raw "$tmp/o16.f32" "${fp16_args[@]}" 2>"$tmp/err" || bad "fp16 run: $(cat "$tmp/err")"
	if grep -q "fp16" "$tmp/err" && r=$(rel "$tmp/o16.f32" "$tmp/ref.f32" 1e-2); then
		ok "fp16 (${fp16_args[*]}): $r"
	else
		bad "fp16 (${fp16_args[*]}): ${r:-} $(head -2 "$tmp/err")"
	fi
fi

# --- several paintings ---------------------------------------------------------------------------------
$NST --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png,$tmp/wave.png" --style-blend 1,0 -o "$tmp/b.png" \
	--raw "$tmp/b10.f32" -q || bad "blend 1,0 run"
$NST --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png" -o "$tmp/b.png" --raw "$tmp/b1.f32" -q || bad "one painting"
$NST --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png" -s "$tmp/wave.png" -o "$tmp/b.png" --raw "$tmp/b11.f32" -q ||
	bad "blend of two (-s twice)"
if cmp -s "$tmp/b10.f32" "$tmp/b1.f32"; then ok "--style-blend 1,0 is the first painting, bit for bit"; else
	bad "--style-blend 1,0 differs from the first painting alone"; fi
if ! cmp -s "$tmp/b11.f32" "$tmp/b1.f32" && ! rel "$tmp/b11.f32" "$tmp/b1.f32" 1e-3 >/dev/null; then
	ok "an equal blend of two paintings is neither alone"
else bad "the blend of two paintings equals the first"; fi

# --- a folder: one plan, the painting encoded once, each result as alone ---------------------------------------
mkdir -p "$tmp/in" "$tmp/out"
cp "$tmp/photo.png" "$tmp/in/a.png"
cp "$tmp/odd.png" "$tmp/in/b.png"
if $NST --model arbitrary -c "$tmp/in" -s "$tmp/paint.png" --style-size "$STYLE_SIZE" -o "$tmp/out" 2>"$tmp/err" &&
	[ "$(grep -c "painting encoded" "$tmp/err")" -eq 1 ]; then
	$NST --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png" --style-size "$STYLE_SIZE" -o "$tmp/a1.png" -q
	$NST --model arbitrary -c "$tmp/odd.png" -s "$tmp/paint.png" --style-size "$STYLE_SIZE" -o "$tmp/b1.png" -q
	if cmp -s "$tmp/out/a.png" "$tmp/a1.png" && cmp -s "$tmp/out/b.png" "$tmp/b1.png"; then
		ok "a folder of two sizes: each result equals its own run"
	else bad "a folder's results differ from one-photo runs"; fi
else
	bad "folder run: $(cat "$tmp/err")"
fi

# --- memory at 512x512 (natively, without the sanitizers' shadow memory) -------------------------------------
if [ -z "$EMU" ] && ! grep -qa -m1 __asan_init "$BUILD/nst"; then
	$NST --model arbitrary -c "$SHARED/images/astronaut.png" -s "$SHARED/images/starry_night.jpg" --size 512 \
		--style-size 512 -o "$tmp/m.png" 2>"$tmp/err" || bad "512 px run: $(cat "$tmp/err")"
	plan=$(sed -nE 's/.*memory plan ([0-9.]+) MiB.*/\1/p' "$tmp/err")
	read -r peak base < <(sed -nE 's/.*peak RSS ([0-9.]+) MiB \(plan [0-9.]+ MiB, the process before the arena ([0-9.]+) MiB\).*/\1 \2/p' "$tmp/err")
	if awk -v q="${plan:-999}" -v p="${peak:-999}" -v b="${base:-0}" 'BEGIN { exit !(q <= 40 && p <= q + b + 2 * 0.75 + 0.25) }'; then
		ok "512x512: plan $plan MiB (<= 40), peak RSS $peak MiB (<= plan + baseline $base MiB + photo and result)"
	else
		bad "512x512: plan ${plan:-?} MiB, peak ${peak:-?} MiB, baseline ${base:-?} MiB: $(cat "$tmp/err")"
	fi
fi

# --- the optimization from a one-pass start: --init model:NAME ---------------------------------------------
# With no iteration the result is the one-pass picture itself, bit for bit (same content size, the
# style pictures at the same long side).
$NST -c "$tmp/photo.png" -s "$tmp/paint.png" --size "${PHOTO%x*}" --style-scale 1 -o "$tmp/n0.png" \
	--init model:arbitrary -n 0 -q || bad "--init model:arbitrary -n 0"
$NST --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png" --style-size "${PHOTO%x*}" -o "$tmp/one.png" -q
if cmp -s "$tmp/n0.png" "$tmp/one.png"; then ok "--init model:arbitrary starts from the one-pass picture"; else
	bad "--init model:arbitrary -n 0 differs from --model arbitrary"; fi
if [ -e "$BUILD/styles/candy.nstw" ]; then
	$NST -c "$tmp/photo.png" -s "$tmp/paint.png" --size "${PHOTO%x*}" -o "$tmp/n0c.png" --init model:candy -n 0 -q
	$NST --model candy -c "$tmp/photo.png" -o "$tmp/onec.png" -q
	cmp -s "$tmp/n0c.png" "$tmp/onec.png" && ok "--init model:candy starts from candy's picture" ||
		bad "--init model:candy -n 0 differs from --model candy"
fi
no_output=("$tmp/out.png")
expect_error 2 "no such network" -c "$tmp/photo.png" -s "$tmp/paint.png" -o "$tmp/out.png" --init model:nothere -n 1
expect_error 2 "not a one-pass" -c "$tmp/photo.png" -s "$tmp/paint.png" -o "$tmp/out.png" --init "model:$W" -n 1

# --- paintings that would fall below 16 px: enlarged to the network's least side ------------------------------
"$PYTHON" - "$tmp" <<'PY'
import sys
from PIL import Image
tmp = sys.argv[1]
Image.open(f"{tmp}/photo.png").resize((12, 12)).save(f"{tmp}/p12.png")
Image.open(f"{tmp}/paint.png").resize((64, 48)).save(f"{tmp}/s64.png")
Image.open(f"{tmp}/paint.png").resize((400, 20)).save(f"{tmp}/thin.png")
PY
$NST --model arbitrary -c "$tmp/p12.png" -s "$tmp/s64.png" -o "$tmp/t1.png" 2>"$tmp/err" &&
	grep -q "painting $tmp/s64.png (22x16)" "$tmp/err" && ok "a 12 px photo: the painting at 22x16, not 12x9" ||
	bad "a 12 px photo with a 64x48 painting: $(cat "$tmp/err")"
$NST --model arbitrary -c "$tmp/photo.png" -s "$tmp/thin.png" -o "$tmp/t2.png" 2>"$tmp/err" &&
	grep -q "painting $tmp/thin.png (320x16)" "$tmp/err" && ok "a 20:1 painting beside a ${PHOTO%x*} px photo: 320x16" ||
	bad "a thin painting: $(cat "$tmp/err")"
# the optimization's first scale may give --init model:arbitrary style pictures below 16 px
$NST -c "$tmp/photo.png" -s "$tmp/paint.png" -o "$tmp/t3.png" --weights "$W" --style-layers relu1_1 \
	--content-layers relu1_1 --size "${PHOTO%x*}" --style-scale 0.1 --init model:arbitrary -n 0 -q ||
	bad "--init model:arbitrary with 13 px style pictures"
[ -s "$tmp/t3.png" ] && ok "--init model:arbitrary enlarges style pictures below 16 px"
expect_error 2 "style-size.*16" --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png" --style-size 8 -o "$tmp/out.png"

# --- usage errors ----------------------------------------------------------------------------------------
expect_error 2 "needs a painting" --model arbitrary -c "$tmp/photo.png" -o "$tmp/out.png"
expect_error 2 "-s is for --model arbitrary" --model candy -c "$tmp/photo.png" -s "$tmp/paint.png" -o "$tmp/out.png"
mkdir -p "$tmp/tiny"
cp "$tmp/photo.png" "$tmp/tiny/a.png"
"$PYTHON" -c "from PIL import Image; Image.new('RGB', (1, 1), (9, 9, 9)).save('$tmp/tiny/z.png')"
$NST --model arbitrary -c "$tmp/tiny" -s "$tmp/paint.png" -o "$tmp/tiny_out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "z.png: a 1x1 photo: the arbitrary-style network takes sides of at least 8" "$tmp/err" &&
	[ -s "$tmp/tiny_out/a.png" ] && ok "a 1x1 photo in a batch is named, the others written" ||
	bad "a 1x1 photo in a batch: exit $rc: $(cat "$tmp/err")"
expect_error 2 "--alpha is the arbitrary-style network's" --model candy -c "$tmp/photo.png" --alpha 0.5 -o "$tmp/out.png"
expect_error 2 "--alpha" --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png" --alpha 2 -o "$tmp/out.png"
expect_error 2 "2 weights for 1 paintings" --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint.png" \
	--style-blend 1,2 -o "$tmp/out.png"
cp "$tmp/paint.png" "$tmp/paint_copy.png"
fails_with 2 "same file as the painting" $NST --model arbitrary -c "$tmp/photo.png" -s "$tmp/paint_copy.png" \
	-o "$tmp/paint_copy.png" && cmp -s "$tmp/paint.png" "$tmp/paint_copy.png" && ok "the painting is never overwritten" ||
	bad "the painting as -o: not refused, or changed"
finish
