#!/usr/bin/env bash
# Coarse-to-fine schedules: the default schedule of a large --size, explicit --scales with
# --scale-iterations, one log whose rows continue across scales, the output at the last scale's
# size, and the usage errors.
set -uo pipefail
BUILD=${NST_BUILD:-build}
SHARED=${NST_SHARED:-../shared}
EMU=${NST_EMU:-}
PYTHON=${PYTHON:-/usr/bin/python3}
NST="$EMU $BUILD/nst"
tmp=$(mktemp -d /tmp/nst-scales-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
common=(-c "$SHARED/images/chelsea.png" -s "$SHARED/images/great_wave.jpg" --weights "$BUILD/vgg19.nstw" --threads 2)

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

# Usage errors.
for args in "--scales 64,32" "--scales 32,64 --scale-iterations 1,2,3" "--scales 32,64 --resume x.ckpt" \
	"--scales 32,64 --checkpoint-every 5" "--scales 0,64" "--scales abc"; do
	# shellcheck disable=SC2086
	$NST "${common[@]}" -o "$tmp/u.png" $args 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] && [ ! -e "$tmp/u.png" ] && ok "'$args' refused: $(cat "$tmp/err")" || bad "'$args': exit $rc"
done
[ "$fails" -eq 0 ]
