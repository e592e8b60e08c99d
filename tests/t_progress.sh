#!/usr/bin/env bash
# What a run says while it runs and when it ends, as a new user reads it:
#   - progress lines count the optimizer's iterations (what -n counts), one line per printed
#     iteration (never the same twice), each the loss at the end of its iteration;
#   - an L-BFGS run that its 1.25 x -n loss evaluations end early says so, with the iteration;
#   - a tiled run's counter ends at the tiles times -n at the most and --print-every holds;
#   - the header names the second sweeps' grid by the sweeps the progress lines number;
#   - no checkpoint beside standard output (no ./-.ckpt), --checkpoint-every refused there;
#   - a resumed run that completes removes its checkpoint; --resume's mismatch prints 0.02, not
#     0.0199999996;
#   - --size too small for the deepest layer names the long side that works;
#   - nst --model --help is the feed-forward help; several photos and -o NAME.jpg is refused (no
#     folder NAME.jpg made); a folder's unreadable pictures are counted in the header;
#   - nst info explains a tap in words (no placeholder).
set -uo pipefail
name=t_progress
. "$(dirname "$0")/lib.sh"
small_pictures
need "$BUILD/nst" "$W"
base=(-c "$C" -s "$S" --weights "$W" --size 32)

# steps FILE: the iteration numbers of the progress lines ("iteration K/N ..."), one per line.
steps() { sed -n 's/.*iteration \([0-9]*\)\/[0-9]* loss.*/\1/p' "$1"; }
# increasing FILE: the progress lines' iterations rise strictly (none printed twice).
increasing() { steps "$1" | awk 'NR > 1 && $1 <= prev { exit 1 } { prev = $1 }'; }

# --- progress and the L-BFGS evaluation budget
$NST "${base[@]}" -o "$tmp/a.png" -n 10 --print-every 1 --tolerance 0 2>"$tmp/err"
rc=$?
last=$(steps "$tmp/err" | tail -n 1)
if [ $rc -ne 0 ] || [ -z "$last" ]; then
	bad "lbfgs -n 10: exit $rc: $(cat "$tmp/err")"
else
	increasing "$tmp/err" && ok "lbfgs -n 10: each iteration printed once, rising to $last" ||
		bad "lbfgs -n 10: an iteration printed twice or out of order: $(steps "$tmp/err" | tr '\n' ' ')"
	if [ "$last" -lt 10 ]; then
		grep -q "stopped at iteration $last of 10: L-BFGS spent its loss evaluations (1.25 x -n" "$tmp/err" &&
			ok "lbfgs -n 10 ended at iteration $last and says why" || bad "lbfgs -n 10 ended at $last silently: $(cat "$tmp/err")"
	else
		! grep -q "stopped at iteration" "$tmp/err" && ok "lbfgs -n 10 ran every iteration, no stop line" ||
			bad "lbfgs -n 10: a stop line after every iteration ran"
	fi
fi
$NST "${base[@]}" -o "$tmp/b.png" -n 12 --print-every 4 --optimizer adam 2>"$tmp/err"
[ "$(steps "$tmp/err" | tr '\n' ' ')" = "0 4 8 12 " ] && ! grep -q "stopped at" "$tmp/err" &&
	ok "adam -n 12 --print-every 4: iterations 0 4 8 12" || bad "adam -n 12 --print-every 4: $(steps "$tmp/err" | tr '\n' ' ')"
$NST "${base[@]}" -o "$tmp/saved.png" -n 6 --optimizer adam --save-every 2 -q
[ -s "$tmp/saved-0002.png" ] && [ -s "$tmp/saved-0004.png" ] && [ ! -e "$tmp/saved-0006.png" ] &&
	ok "--save-every 2 -n 6: saved-0002, saved-0004 (the last is the output)" || bad "--save-every: $(ls "$tmp" | tr '\n' ' ')"

# --- tiles: the counter ends at tiles x -n at the most, --print-every holds
$NST -c "$C" -s "$S" --weights "$W" --size 96 --tile 48 -n 6 --print-every 6 -o "$tmp/t.png" 2>"$tmp/err"
rc=$?
total=$(sed -n 's/.*iteration [0-9]*\/\([0-9]*\) loss.*/\1/p' "$tmp/err" | sort -u)
tiles=$(sed -n 's/.*: \([0-9]*\)x\([0-9]*\) tiles.*/\1 \2/p' "$tmp/err")
grid=$(sed -n 's/.*tiles (\([0-9]*\)x\([0-9]*\) on sweeps 2, 4, ...).*/\1 \2/p' "$tmp/err")
read -r c0 r0 <<<"$tiles"
read -r c1 r1 <<<"${grid:-$tiles}"
want=$(((c0 * r0 + c1 * r1) * 6))
over=$(steps "$tmp/err" | awk -v t="$want" '$1 > t')
lines=$(steps "$tmp/err" | wc -l)
[ $rc -eq 0 ] && [ "$total" = "$want" ] && [ -z "$over" ] && [ "$lines" -le $((want / 6 + 2)) ] && increasing "$tmp/err" &&
	ok "tiled: counter out of $want (${c0}x$r0 and ${c1}x$r1 tiles x 6), $lines lines for --print-every 6" ||
	bad "tiled: exit $rc, totals '$total' (want $want), past it '$over', $lines lines: $(head -c 600 "$tmp/err")"

# interrupted LOG ARGS...: runs nst ARGS in the background, SIGINT once LOG has 3 loss rows (a run
# of a slow machine's first seconds is not left out), then its exit code in rc.
interrupted() {
	local log=$1 i
	shift
	rm -f "$log"
	$NST "$@" --log "$log" &
	local pid=$!
	for i in $(seq 600); do
		[ "$(wc -l <"$log" 2>/dev/null || echo 0)" -ge 4 ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	kill -INT $pid 2>/dev/null
	wait $pid
	rc=$?
}

# Each tile's line is that tile's last iteration (its log row), not the next tile's start.
$NST -c "$C" -s "$S" --weights "$W" --size 96 --tile 48 --tile-sweeps 1 -n 4 --line-search none --lr 0.1 --print-every 4 \
	-o "$tmp/t1.png" --log "$tmp/t1.csv" 2>"$tmp/err"
"$PYTHON" - "$tmp/err" "$tmp/t1.csv" <<'PY' && ok "tiled: each tile's line is its last iteration's loss" || bad "tiled lines vs log"
import re, sys
lines = [l for l in open(sys.argv[1]) if " loss " in l and "iteration " in l]
rows = [float(r.split(",")[1]) for r in open(sys.argv[2]).read().split("\n")[1:] if r]
bad = []
for l in lines:
    tile, step, loss = int(re.search(r"tile (\d+)", l).group(1)), int(re.search(r"iteration (\d+)/", l).group(1)), float(re.search(r"loss (\S+)", l).group(1))
    if step == 0:
        continue
    want = rows[(tile - 1) * 5 + 4]  # a tile's rows: its start, then 4 steps
    if abs(loss - want) > 1e-6 * abs(want):
        bad.append((tile, step, loss, want))
print(bad or "each tile's last row")
sys.exit(1 if bad or len(lines) < 4 else 0)
PY
# --save-every writes the iteration's accepted picture, not a line search's trial point: its loss
# (evaluated again from the 8-bit picture) is near the printed one of that iteration.
$NST "${base[@]}" -o "$tmp/ls.png" -n 3 --save-every 1 --tolerance 0 --print-every 1 2>"$tmp/err"
printed=$(sed -n 's/^iteration 1\/3 loss \([^ ]*\) .*/\1/p' "$tmp/err")
if [ -s "$tmp/ls-0001.png" ] && [ -n "$printed" ]; then
	again=$($NST "${base[@]}" -o "$tmp/ls-again.png" -n 0 --init "$tmp/ls-0001.png" --print-every 1 2>&1 |
		sed -n 's/^iteration 0\/0 loss \([^ ]*\) .*/\1/p')
	"$PYTHON" -c "import sys; a, b = float('$printed'), float('$again'); sys.exit(0 if abs(a - b) <= 0.1 * a else 1)" &&
		ok "--save-every with line searches: ls-0001.png's loss $again, iteration 1's $printed" ||
		bad "--save-every wrote another picture than iteration 1's: loss $again vs $printed"
else
	bad "--save-every 1 -n 3: no ls-0001.png or no iteration 1 line: $(cat "$tmp/err")"
fi
# A tiled run's --save-every names go up to tiles x -n: none of them may be an input.
cp "$C" "$tmp/tin-0006.png"
no_output=("$tmp/tin.png")
expect_error 2 "same file as the content picture" -c "$tmp/tin-0006.png" -s "$S" --weights "$W" --size 96 --tile 48 \
	--tile-sweeps 1 -n 4 --save-every 6 -o "$tmp/tin.png"
unset no_output
cmp -s "$C" "$tmp/tin-0006.png" && ok "the tiled --save-every name that is an input is untouched" || bad "tin-0006.png changed"

# --- checkpoints beside standard output, and a finished resume
interrupted "$tmp/o.csv" -c "$C" -s "$S" --weights "$W" --size 64 -n 100000 --tolerance 0 -o - >"$tmp/stdout.png" \
	2>"$tmp/err"
if [ ! -e ./-.ckpt ] && [ -s "$tmp/stdout.png" ] && [ $rc -eq 130 ] && grep -q "no checkpoint: -o is standard output" "$tmp/err"; then
	ok "-o - interrupted: the picture on stdout, no ./-.ckpt (exit $rc)"
else
	bad "-o - interrupted: exit $rc, $(ls -- ./-.ckpt* 2>&1): $(cat "$tmp/err")"
	rm -f -- ./-.ckpt ./-.ckpt.options
fi
no_output=("$tmp/none.png")
expect_error 2 "checkpoint-every.*standard output.*--checkpoint FILE" "${base[@]}" -o - -n 4 --checkpoint-every 2
unset no_output
interrupted "$tmp/r.csv" -c "$C" -s "$S" --weights "$W" --size 64 -n 100000 --tolerance 0 -o "$tmp/r.png" -q 2>/dev/null
if [ -s "$tmp/r.png.ckpt" ]; then
	$NST -c "$C" -s "$S" --weights "$W" --size 64 -n 100000 --tolerance 0.02 -o "$tmp/r.png" --resume "$tmp/r.png.ckpt" \
		2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] && grep -q -- "--tolerance 0 (now 0.02)" "$tmp/err" && ok "resume mismatch: $(cat "$tmp/err")" ||
		bad "resume mismatch: exit $rc: $(cat "$tmp/err")"
	cp "$tmp/r.png.ckpt" "$tmp/kept.ckpt"
	interrupted "$tmp/k.csv" -c "$C" -s "$S" --weights "$W" --size 64 -n 100000 --tolerance 0 -o "$tmp/r.png" \
		--resume "$tmp/kept.ckpt" --checkpoint "$tmp/other.ckpt" -q 2>/dev/null
	[ -s "$tmp/kept.ckpt" ] && [ -s "$tmp/other.ckpt" ] && ok "a resume from another file leaves that file" ||
		bad "--resume FILE --checkpoint OTHER: exit $rc, $(ls "$tmp" | tr '\n' ' ')"
else
	bad "interrupting a run left no checkpoint $tmp/r.png.ckpt"
fi
$NST "${base[@]}" -o "$tmp/f.png" -n 8 --optimizer adam --checkpoint-every 4 -q
[ -s "$tmp/f.png.ckpt" ] || bad "--checkpoint-every 4 -n 8 left no checkpoint"
$NST "${base[@]}" -o "$tmp/f.png" -n 8 --optimizer adam --checkpoint-every 4 --resume "$tmp/f.png.ckpt" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ ! -e "$tmp/f.png.ckpt" ] && [ ! -e "$tmp/f.png.ckpt.options" ] &&
	grep -q "removed the checkpoint" "$tmp/err" && ok "a completed resume removes its checkpoint" ||
	bad "completed resume: exit $rc, $(ls "$tmp" | tr '\n' ' '): $(cat "$tmp/err")"

# --- messages
fails_with 2 "4x3: too small for layer relu3_.*long side of about 6 or more" $NST -c "$C" -s "$S" --weights "$W" -o "$tmp/x.png" \
	--size 4 --style-scale 8 && ok
$NST --model --help >"$tmp/help" 2>&1 && grep -q "usage: nst --model" "$tmp/help" && ok "nst --model --help" ||
	bad "nst --model --help: $(head -n 3 "$tmp/help")"
if [ -s "$BUILD/styles/candy.nstw" ]; then
	mkdir -p "$tmp/photos"
	cp "$C" "$tmp/photos/one.png"
	cp "$S" "$tmp/photos/two.png"
	echo "not a picture" >"$tmp/photos/three.jpg"
	no_output=("$tmp/many.jpg")
	expect_error 2 "names a picture, but the results of a folder" --model candy -c "$tmp/photos" -o "$tmp/many.jpg"
	unset no_output
	$NST --model candy -c "$tmp/photos" -o "$tmp/many" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 1 ] && grep -q "2 pictures (1 unreadable, left out)" "$tmp/err" && grep -q "1 of 3 pictures failed" "$tmp/err" &&
		ok "a folder with an unreadable picture: the header counts it" || bad "folder: exit $rc: $(cat "$tmp/err")"
fi
if [ -s "$BUILD/vgg19-distilled.nstw" ]; then
	$NST info "$BUILD/vgg19-distilled.nstw" >"$tmp/info" 2>&1
	grep -q "tap of conv1_1: relu1_1 = ReLU(tap1_1(ReLU(conv1_1))), VGG19's 64 channels" "$tmp/info" &&
		! grep -q "reluB_I" "$tmp/info" && ok "nst info explains the taps" || bad "nst info taps: $(grep tap "$tmp/info")"
fi
finish
