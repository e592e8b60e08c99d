#!/usr/bin/env bash
# Coarse-to-fine schedules: the default schedule of a large --size, explicit --scales with
# --scale-iterations, one log whose rows continue across scales, the output at the last scale's
# size, and the usage errors.
set -uo pipefail
name=t_scales
. "$(dirname "$0")/lib.sh"
HANDOVER_ROUNDING_MAX=0.02 # relative loss change of rounding the start picture to 8 bits (measured 0.003)
DETAIL_TOLERANCE=1e-4       # relative: the content rebuilt from a coarse copy and its detail, in float
# One evaluation per iteration (no line search), so that rows count iterations.
common=(-c "$SHARED/images/chelsea.png" -s "$SHARED/images/great_wave.jpg" --weights "$BUILD/vgg19.nstw" --threads 2
	--line-search none --tolerance 0)

# The default schedule of --size 600: 150, 300, 600 is not it: halving stops at 256 -> 300, 600.
$NST "${common[@]}" -o "$tmp/d.png" --size 600 -n 0 2>"$tmp/err" || bad "default schedule run: $(cat "$tmp/err")"
grep -q "scales 300 px x 0, 600 px x 0" "$tmp/err" && ok "--size 600 schedules 300, 600" || bad "default schedule: $(head -n 1 "$tmp/err")"
$NST "${common[@]}" -o "$tmp/d.png" --size 256 -n 0 2>"$tmp/err"
grep -q "; scales " "$tmp/err" && bad "--size 256 should run one scale: $(head -n 1 "$tmp/err")" || ok "--size 256 runs one scale"
# -n halves per scale, rounded up.
$NST "${common[@]}" -o "$tmp/d.png" --scales 32,48,64 -n 5 --log "$tmp/h.csv" 2>"$tmp/err" || bad "halving run failed"
grep -q "scales 32 px x 5, 48 px x 3, 64 px x 2" "$tmp/err" && ok "-n 5 over 3 scales: 5, 3, 2" || bad "halving: $(head -n 1 "$tmp/err")"

# Explicit scales and iterations: rows 0..(3+1)+(2+1)+(1+1)-1, picture at the last size.
$NST "${common[@]}" -o "$tmp/m.png" --scales 32,64,96 --scale-iterations 3,2,1 --log "$tmp/m.csv" -q || bad "explicit scales run"
rows=$(($(wc -l <"$tmp/m.csv") - 1))
[ "$rows" -eq 9 ] && ok "one log for all scales: $rows rows" || bad "log rows: $rows, expected 9"
if awk -F, 'NR > 1 { if ($1 != NR - 2) exit 1; if ($6 + 0 < last) exit 1; last = $6 + 0 }' "$tmp/m.csv"; then
	ok "row numbers and seconds continue across scales"
else
	bad "row numbers or seconds do not continue: $(cut -d, -f1,6 "$tmp/m.csv" | tr '\n' ' ')"
fi
size=$("$PYTHON" -c "from PIL import Image; print('%dx%d' % Image.open('$tmp/m.png').size)")
[ "$size" = "96x64" ] && ok "the output has the last scale's size ($size)" || bad "output size $size, expected 96x64"

# The hand-over is float: a top scale of 0 iterations writes its start picture, rounded to 8 bits;
# started from that file, one scale evaluates the same picture but for the rounding.  Had the
# hand-over gone through 8 bits, the two losses would be the same bits (deterministic, same threads).
$NST "${common[@]}" -o "$tmp/f.png" --scales 48,96 --scale-iterations 20,0 --log "$tmp/f.csv" -q || bad "hand-over run"
$NST "${common[@]}" -o "$tmp/g.png" --scales 96 -n 0 --init "$tmp/f.png" --log "$tmp/g.csv" -q || bad "8-bit start run"
float_loss=$(tail -n 1 "$tmp/f.csv" | cut -d, -f2)
byte_loss=$(tail -n 1 "$tmp/g.csv" | cut -d, -f2)
if awk -v a="$float_loss" -v b="$byte_loss" -v tol="$HANDOVER_ROUNDING_MAX" \
	'BEGIN { d = (a > b ? a - b : b - a) / b; exit !(a != b && d <= tol) }'; then
	ok "the top scale starts from the float picture: loss $float_loss, its 8-bit rounding $byte_loss"
else
	bad "hand-over: the top scale's start loss $float_loss, its 8-bit rounding's $byte_loss (must differ, by <= $HANDOVER_ROUNDING_MAX)"
fi

# With 0 coarse iterations the top scale starts from the content itself: the coarse picture,
# upsampled, plus the content's detail above the coarse resolution (float sums: not bit for bit).
$NST "${common[@]}" -o "$tmp/z.png" --scales 48,96 --scale-iterations 0,0 --log "$tmp/z.csv" -q || bad "0-iteration hand-over run"
$NST "${common[@]}" -o "$tmp/y.png" --scales 96 -n 0 --log "$tmp/y.csv" -q || bad "content start run"
zero_loss=$(tail -n 1 "$tmp/z.csv" | cut -d, -f2)
content_loss=$(tail -n 1 "$tmp/y.csv" | cut -d, -f2)
if awk -v a="$zero_loss" -v b="$content_loss" -v tol="$DETAIL_TOLERANCE" \
	'BEGIN { d = (a > b ? a - b : b - a) / b; exit !(d <= tol) }'; then
	ok "0 coarse iterations: the top scale starts from the content (loss $zero_loss, from the content $content_loss)"
else
	bad "0 coarse iterations: the top scale's start loss $zero_loss, the content's $content_loss"
fi

# Usage errors.
for args in "--scales 64,32" "--scales 32,64 --scale-iterations 1,2,3" "--scales 32,64 --dump-grad $tmp/g.raw" \
	"--scales 0,64" "--scales abc"; do
	rm -f "$tmp/u.png"
	# shellcheck disable=SC2086
	$NST "${common[@]}" -o "$tmp/u.png" $args 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] && [ ! -e "$tmp/u.png" ] && ok "'$args' refused: $(cat "$tmp/err")" || bad "'$args': exit $rc"
done
finish
