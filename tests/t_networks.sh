#!/usr/bin/env bash
# The network is read from the weights file: a VGG16 file runs (its real weights cannot be had
# offline, so random ones of the real shapes), and blocks 4 and 5 (which the offline VGG19 copy
# lacks) run with full random VGG16 / VGG19 files, in float32 and float16 storage.  Each run must
# finish, write a picture, and lower the loss.
set -euo pipefail
name=t_networks
. "$(dirname "$0")/lib.sh"
"$PYTHON" weights/convert.py random --arch vgg16 --seed 1 "$tmp/vgg16.nstw" 2>/dev/null
"$PYTHON" weights/convert.py random --arch vgg19 --seed 2 --fp16 "$tmp/vgg19-f16.nstw" 2>/dev/null
run() { # weights, content layers, style layers, expected layer count
	local w=$1 cl=$2 sl=$3 layers=$4
	$NST info "$w" >"$tmp/info"
	if ! grep -q "layers:   $layers" "$tmp/info"; then bad "$w: nst info does not say $layers layers"; return; fi
	if ! $NST -c "$SHARED/images/chelsea.png" -s "$SHARED/images/great_wave.jpg" -o "$tmp/out.png" --weights "$w" \
		--size 48 -n 3 --optimizer adam --lr 1 --content-layers "$cl" --style-layers "$sl" --log "$tmp/log.csv" -q; then
		bad "$w with $cl / $sl: exit $?"; return
	fi
	if ! awk -F, 'NR == 2 { first = $2 } END { exit !($2 < first) }' "$tmp/log.csv"; then
		bad "$w: the loss did not decrease: $(tr '\n' ' ' <"$tmp/log.csv")"; return
	fi
	ok "$(basename "$w") ($layers layers): $cl / $sl"
}
run "$tmp/vgg16.nstw" relu4_2 relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 13
run "$tmp/vgg19-f16.nstw" relu4_2 relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 16
# Under qemu, packing a whole VGG's 140 million weights takes minutes: the two runs above only.
if [ -z "$EMU" ]; then
	run "$tmp/vgg16.nstw" relu5_3 relu3_3 13
	run "$tmp/vgg19-f16.nstw" relu5_4 relu5_4 16
fi
# VGG16 has no relu3_4 / relu5_4: a clear error, not a crash.
if $NST -c "$SHARED/images/chelsea.png" -s "$SHARED/images/great_wave.jpg" -o "$tmp/x.png" --weights "$tmp/vgg16.nstw" \
	--size 48 -n 1 --content-layers relu3_4 2>"$tmp/err"; then
	bad "relu3_4 accepted with VGG16"
elif grep -q "relu3_4.*not in the weights" "$tmp/err"; then
	ok "VGG16 refuses relu3_4: $(cat "$tmp/err")"
else
	bad "VGG16 relu3_4 message: $(cat "$tmp/err")"
fi
finish
