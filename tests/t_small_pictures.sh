#!/usr/bin/env bash
# Pictures too small for the loss layers (issue 19, item 4): each 2x2 pooling before a layer halves
# the picture (rounding down), and a layer needs at least 1x1, so relu3_1 needs 4 px a side, relu2_1
# 2 px, relu1_1 1 px.  A style picture below what its style layers need (a 1x500 painting at
# --style-scale 0.01), or a content picture below what the deepest layer needs, is refused up
# front: exit 2, one line naming the layer and the smallest size that works, the existing output
# untouched; whole-picture and tiled runs alike.  At exactly the smallest size the run works.
set -uo pipefail
name=t_small_pictures
. "$(dirname "$0")/lib.sh"

# Pictures made here (binary PPM, random pixels): a 40x30 photo, a 1x500 painting, a 4x4 and a 3x3 one.
random_ppm "$tmp/c.ppm" 40 30
random_ppm "$tmp/strip.ppm" 1 500
random_ppm "$tmp/four.ppm" 4 4
random_ppm "$tmp/three.ppm" 3 3
common=(--weights "$BUILD/vgg19.nstw" --threads 1 -q)

# refused WHAT NEEDLE ARGS...: exit 2, one stderr line containing NEEDLE, the output untouched.
refused() {
	local what=$1 needle=$2
	shift 2
	printf 'previous picture' >"$tmp/out.png"
	fails_with 2 "$needle" timeout 120 $NST "${common[@]}" -o "$tmp/out.png" "$@" || return
	if [ "$(cat "$tmp/out.png")" != "previous picture" ]; then bad "$what: the output was overwritten"
	else ok "$what: $(cat "$tmp/stderr")"; fi
}

# works WHAT ARGS...: exit 0 and a picture written.
works() {
	local what=$1 rc
	shift
	rm -f "$tmp/out.png"
	timeout 300 $NST "${common[@]}" -o "$tmp/out.png" "$@" >"$tmp/stdout" 2>"$tmp/err"
	rc=$?
	if [ $rc -eq 0 ] && [ -s "$tmp/out.png" ]; then ok "$what"; else bad "$what: exit $rc: $(head -n 3 "$tmp/err")"; fi
}

# The 1x500 painting at --style-scale 0.01 (256 px: a 1x3 style picture), default layers (relu3_1).
refused "1x500 style at --style-scale 0.01" "at least 4x4" -c "$tmp/c.ppm" -s "$tmp/strip.ppm" --style-scale 0.01 -n 2
refused "1x500 style at --style-scale 0.01, Adam" "relu3_1" -c "$tmp/c.ppm" -s "$tmp/strip.ppm" --style-scale 0.01 \
	-n 2 --optimizer adam
# The same in tiles (whole picture 256 px, tiles of 128): refused, not a run with a meaningless style.
refused "1x500 style at --style-scale 0.01, in tiles" "at least 4x4" -c "$tmp/c.ppm" -s "$tmp/strip.ppm" \
	--style-scale 0.01 -n 1 --tile 128 --tile-sweeps 1
# A second style that is too small is named as such.
# (Style pictures are resized to a long side of --style-scale x --size: 4 px here.)
refused "the second of two styles too small" "style picture 2" -c "$tmp/c.ppm" -s "$tmp/four.ppm,$tmp/strip.ppm" \
	--size 32 --style-scale 0.125 -n 1
# The deepest style layer sets the need: relu2_1 takes 2 px, so the 1x3 style is still too small for it.
refused "1x3 style, style layers relu1_1,relu2_1" "at least 2x2" -c "$tmp/c.ppm" -s "$tmp/strip.ppm" \
	--style-scale 0.01 --style-layers relu1_1,relu2_1 -n 1
# A content picture too small for the deepest layer (relu3_2: 4 px).
refused "a 3 px content picture" "at least 4x4" -c "$tmp/three.ppm" -s "$tmp/four.ppm" --size 3 -n 1
# At exactly the smallest size it works: a 4x4 style for relu3_1, a 4 px content picture, and a 1x3
# style when relu1_1 is the only style layer.
works "a 4x4 style picture (relu3_1)" -c "$tmp/c.ppm" -s "$tmp/four.ppm" --size 32 --style-scale 0.125 -n 2
works "a 4 px content picture" -c "$tmp/four.ppm" -s "$tmp/four.ppm" --size 4 -n 2
works "a 1x3 style with style layer relu1_1 only" -c "$tmp/c.ppm" -s "$tmp/strip.ppm" --style-scale 0.01 \
	--style-layers relu1_1 -n 2 --size 32
# The distilled network pads by reflection, which needs 2 px at every layer: relu5_1 needs 32 px a
# side, said in the first refusal (it said 16, then refused 16 to 31 without a size), and 32 works.
if [ -f "$BUILD/vgg19-distilled.nstw" ]; then
	distilled=(--weights "$BUILD/vgg19-distilled.nstw")
	random_ppm "$tmp/c48.ppm" 48 48
	refused "a 24x24 style for the distilled network's relu5_1" "24x24: too small for style layer relu5_1, which needs at least 32x32 pixels \\(.*reflection padding needs 2\\)" \
		-c "$tmp/c48.ppm" -s "$tmp/c48.ppm" --size 48 --style-scale 0.5 -n 1 "${distilled[@]}"
	refused "a 31 px photo for the distilled network" "at least 32x32" -c "$tmp/c48.ppm" -s "$tmp/c48.ppm" --size 31 -n 1 \
		"${distilled[@]}"
	works "32 px photo and style on the distilled network" -c "$tmp/c48.ppm" -s "$tmp/c48.ppm" --size 32 -n 1 "${distilled[@]}"
fi
finish
