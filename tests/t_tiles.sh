#!/usr/bin/env bash
# Tiled high resolution through the command line: the schedule printed, a run kept within
# --max-memory (measured peak RSS), seam continuity (the mean absolute difference between
# adjacent columns / rows across tile borders against the same inside tiles), the tiled result's
# loss against an untiled run's at a size where both fit, and the usage errors.
set -uo pipefail
name=t_tiles
. "$(dirname "$0")/lib.sh"
# The reference's loss and optimizer (CONVENTIONS.md; the .nstw's defaults differ), which the
# loss bound below was measured with.
common=(-c "$SHARED/images/chelsea.png" -s "$SHARED/images/great_wave.jpg" --weights "$BUILD/vgg19.nstw" --threads 2
	--style-weight 100 --line-search none --tolerance 0)
SEAM_RATIO_MAX=1.5      # border / interior mean adjacent difference
LOSS_RATIO_MAX=2.0      # tiled / untiled whole-picture loss (each tile matches the whole style alone)
SEAM_SIZE=256 SEAM_TILE=128 SEAM_N=8 LOSS_SIZE=192 LOSS_TILE=128 LOSS_N=15 UNTILED_N=20
# The schedule checks: size, tile, the line expected.
S_SIZE=160 S_TILE=64 S_LINE="160x106 in tiles of 64x64 px, overlap 16 px: 3x2 tiles (4x3 on sweeps 2, 4, ...)"
if [ -n "$EMU" ]; then # qemu: the schedule and usage only, on a smaller picture
	S_SIZE=96 S_TILE=48 S_LINE="96x64 in tiles of 48x48 px, overlap 12 px: 3x2 tiles (4x3 on sweeps 2, 4, ...)"
fi

# 1. The schedule is printed; --tile at or above the picture's size runs untiled.
$NST "${common[@]}" -o "$tmp/s.png" --scales $S_SIZE --tile $S_TILE -n 0 2>"$tmp/err" || bad "schedule run: $(cat "$tmp/err")"
grep -q "$S_LINE, 2 sweeps x 0 iterations per tile" "$tmp/err" &&
	ok "--tile $S_TILE at $S_SIZE px: $(grep 'in tiles of' "$tmp/err" | sed 's/^nst: //')" || bad "schedule: $(cat "$tmp/err")"
$NST "${common[@]}" -o "$tmp/s.png" --scales $S_SIZE --tile $S_SIZE -n 0 2>"$tmp/err"
grep -q "in tiles of" "$tmp/err" && bad "--tile $S_SIZE at $S_SIZE px should not tile" || ok "--tile $S_SIZE at $S_SIZE px runs untiled"
# Multi-scale: only the scales above the tile size are tiled.
$NST "${common[@]}" -o "$tmp/s.png" --scales $((S_SIZE / 2)),$S_SIZE --tile $((S_SIZE * 3 / 5)) -n 0 2>"$tmp/err"
[ "$(grep -c 'in tiles of' "$tmp/err")" -eq 1 ] && grep -q "in tiles of $((S_SIZE * 3 / 5))x" "$tmp/err" &&
	ok "--scales $((S_SIZE / 2)),$S_SIZE --tile $((S_SIZE * 3 / 5)) tiles the $S_SIZE px scale only" ||
	bad "multi-scale tiles: $(cat "$tmp/err")"

# 2. Memory: a scale whose plan exceeds --max-memory is tiled to fit it, measured.
if [ -n "$EMU" ]; then
	echo "skip --max-memory against the measured peak RSS, seams and losses under emulation (qemu's own memory"
	echo "     counts; stylized pictures need more iterations than emulation affords): see the native run"
else
	$NST "${common[@]}" -o "$tmp/m.png" --scales 384 -n 2 --tile-sweeps 1 --max-memory 96M 2>"$tmp/err" ||
		bad "--max-memory 96M run: $(cat "$tmp/err")"
	peak=$(sed -nE 's/.*peak RSS ([0-9.]+) MiB.*/\1/p' "$tmp/err")
	if grep -q "in tiles of" "$tmp/err" && [ -n "$peak" ] && awk -v p="$peak" 'BEGIN { exit !(p <= 96) }'; then
		ok "384 px under --max-memory 96M: $(grep 'in tiles of' "$tmp/err" | sed 's/^nst: //' | cut -d';' -f1); peak RSS $peak MiB"
	else
		bad "384 px under --max-memory 96M: peak '$peak' MiB: $(cat "$tmp/err")"
	fi
	# Nothing fits: refused before anything runs, exit 3, no output.
	$NST "${common[@]}" -o "$tmp/none.png" --scales 384 -n 1 --max-memory 24M 2>"$tmp/err"
	rc=$?
	[ $rc -eq 3 ] && [ ! -e "$tmp/none.png" ] && ok "--max-memory 24M refused: $(cat "$tmp/err")" || bad "--max-memory 24M: exit $rc"
	# The refusal names the least limit that works, and it does.
	least=$(sed -n 's/.*the run needs a limit of \([0-9]*\) MiB or more.*/\1/p' "$tmp/err")
	if [ -n "$least" ] && $NST "${common[@]}" -o "$tmp/least.png" --scales 384 -n 1 --max-memory "${least}M" 2>"$tmp/err"; then
		ok "--max-memory ${least}M, the least the refusal named, runs: $(grep 'in tiles of' "$tmp/err" | sed 's/^nst: //' | cut -d';' -f1)"
	else
		bad "--max-memory '${least}M', the least the refusal named: $(cat "$tmp/err")"
	fi
fi

if [ -z "$EMU" ]; then
# 3. Seams: the mean absolute difference of adjacent columns (rows) across every cut edge and
#    crossfade centre of both sweeps, against the same statistic inside the tiles.
seams() { # picture, tile, overlap (0: default), sweeps -> "column_ratio row_ratio"
	"$PYTHON" - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image
path, tile, overlap, sweeps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a = np.asarray(Image.open(path), dtype=np.float64)            # [H][W][3]
overlap = overlap or tile // 4

def starts(length, count):                                     # as src/tile.c: axis_start
    if count <= 1:
        return [0]
    t = min(tile, length)
    return [(2 * i * (length - t) + (count - 1)) // (2 * (count - 1)) for i in range(count)]

def borders(length):                                           # pixel pairs (j - 1, j) across borders
    t = min(tile, length)
    n = 1 if length <= t else -(-(length - overlap) // (t - overlap))
    cut = set()
    for k in range(min(sweeps, 2)):
        count = n if k == 0 or n == 1 else n + 1
        s = starts(length, count)
        for i in range(count):
            if i > 0:
                cut.add(s[i])                                  # left cut edge
            if i + 1 < count:
                cut.add(s[i] + t)                              # right cut edge
                cut.add((s[i] + s[i + 1] + t) // 2)            # crossfade centre
    return sorted(c for c in cut if 0 < c < length)

def ratio(diff, length):                                       # diff[j] = mean |p[j + 1] - p[j]|
    b = borders(length)
    if not b:
        return float("nan")
    near = set()
    for c in b:
        near.update(range(c - 4, c + 4))
    inside = [diff[j] for j in range(len(diff)) if (j + 1) not in near]
    return np.mean([diff[c - 1] for c in b]) / np.mean(inside)

dx = np.abs(np.diff(a, axis=1)).mean(axis=(0, 2))
dy = np.abs(np.diff(a, axis=0)).mean(axis=(1, 2))
print("%.3f %.3f" % (ratio(dx, a.shape[1]), ratio(dy, a.shape[0])))
PY
}
$NST "${common[@]}" -o "$tmp/seam.png" --scales $SEAM_SIZE --tile $SEAM_TILE -n $SEAM_N -q || bad "seam run failed"
read -r rx ry < <(seams "$tmp/seam.png" $SEAM_TILE 0 2)
if awk -v x="$rx" -v y="$ry" -v m=$SEAM_RATIO_MAX 'BEGIN { exit !(x <= m && y <= m) }'; then
	ok "seams at $SEAM_SIZE px, tiles of $SEAM_TILE: border / interior adjacent difference $rx (columns), $ry (rows) <= $SEAM_RATIO_MAX"
else
	bad "seams at $SEAM_SIZE px, tiles of $SEAM_TILE: border / interior $rx (columns), $ry (rows) > $SEAM_RATIO_MAX"
fi
# For comparison (not asserted): tiles cut hard, a 2 px overlap and one sweep.
$NST "${common[@]}" -o "$tmp/hard.png" --scales $SEAM_SIZE --tile $SEAM_TILE --tile-overlap 2 --tile-sweeps 1 -n $SEAM_N -q &&
	echo "     (hard cuts, overlap 2 px, one sweep: $(seams "$tmp/hard.png" $SEAM_TILE 2 1))"

# 4. Loss: the tiled result against an untiled run, both evaluated whole (-n 0 from the picture).
$NST "${common[@]}" -o "$tmp/u.png" --scales $LOSS_SIZE -n $UNTILED_N -q || bad "untiled run failed"
$NST "${common[@]}" -o "$tmp/t.png" --scales $LOSS_SIZE --tile $LOSS_TILE -n $LOSS_N -q || bad "tiled run failed"
for f in u t; do
	$NST "${common[@]}" -o "$tmp/e$f.png" --scales $LOSS_SIZE -n 0 --init "$tmp/$f.png" --log "$tmp/e$f.csv" -q
done
lu=$(tail -n 1 "$tmp/eu.csv" | cut -d, -f2)
lt=$(tail -n 1 "$tmp/et.csv" | cut -d, -f2)
if awk -v u="$lu" -v t="$lt" -v m=$LOSS_RATIO_MAX 'BEGIN { exit !(t > 0 && u > 0 && t <= m * u) }'; then
	ok "whole-picture loss at $LOSS_SIZE px: tiled ($LOSS_TILE px tiles, $LOSS_N iterations each) $lt, untiled ($UNTILED_N iterations) $lu: ratio $(awk -v u="$lu" -v t="$lt" 'BEGIN { printf "%.2f", t / u }') <= $LOSS_RATIO_MAX"
else
	bad "whole-picture loss at $LOSS_SIZE px: tiled $lt, untiled $lu (more than $LOSS_RATIO_MAX x)"
fi
fi

# 5. Usage errors.
for args in "--tile 8" "--tile abc" "--tile 64 --tile-overlap 40" "--tile-sweeps 0" "--tile 64 --dump-grad $tmp/g.raw"; do
	# shellcheck disable=SC2086
	$NST "${common[@]}" -o "$tmp/x.png" --scales $S_SIZE -n 1 $args 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] && [ ! -e "$tmp/x.png" ] && ok "'$args' refused: $(cat "$tmp/err")" || bad "'$args': exit $rc ($(cat "$tmp/err"))"
done
finish
