#!/usr/bin/env bash
# Interruption and numerical faults (README "Errors and exit codes"):
#  - SIGINT / SIGTERM write the current picture and a checkpoint and exit 130; --resume continues
#    to exactly the uninterrupted run's picture and loss log (Adam and L-BFGS, bit for bit);
#  - --checkpoint-every survives a power cut (kill -9);
#  - the same in a run of two scales, stopped in either, and in tiles (the tile starts over);
#  - a loss that stops being finite writes the last good picture and exits 4;
#  - a corrupted checkpoint or one from other options is refused.
set -uo pipefail
name=t_resume
. "$(dirname "$0")/lib.sh"
if [ -n "$EMU" ]; then SIZE=32 N=16; else SIZE=64 N=30; fi
"$PYTHON" - "$SHARED/images" "$tmp" <<'PY'
import sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
Image.open(f"{src}/chelsea.png").convert("RGB").resize((64, 43)).save(f"{dst}/c.png")
Image.open(f"{src}/starry_night.jpg").convert("RGB").resize((64, 40)).save(f"{dst}/s.png")
PY
args=(-c "$tmp/c.png" -s "$tmp/s.png" --weights "$BUILD/vgg19.nstw" --size $SIZE -n $N --threads 2 -q)

# Starts a run in the background and sends it a signal once its log has $3 rows.
interrupt() { # out, log, rows, signal, extra args...
	local out=$1 log=$2 rows=$3 sig=$4; shift 4
	$NST "${args[@]}" -o "$out" --log "$log" "$@" 2>"$tmp/err" &
	local pid=$! waited=0
	while [ "$(cat "$log" 2>/dev/null | wc -l)" -lt "$rows" ] && kill -0 $pid 2>/dev/null && [ $waited -lt 6000 ]; do
		sleep 0.01; waited=$((waited + 1))
	done
	kill -"$sig" $pid 2>/dev/null
	wait $pid
}

for opt in adam lbfgs; do
	$NST "${args[@]}" --optimizer $opt -o "$tmp/full-$opt.png" --log "$tmp/full-$opt.csv" || bad "$opt uninterrupted run"
	for sig in INT TERM; do
		rm -f "$tmp/part.png" "$tmp/part.png.ckpt" "$tmp/part.csv"
		interrupt "$tmp/part.png" "$tmp/part.csv" 6 $sig --optimizer $opt
		rc=$?
		if [ $rc -ne 130 ]; then bad "$opt SIG$sig: exit $rc, expected 130: $(cat "$tmp/err")"; continue; fi
		[ -s "$tmp/part.png" ] && [ -s "$tmp/part.png.ckpt" ] && grep -q "resume" "$tmp/err" \
			&& ok "$opt SIG$sig: picture and checkpoint written: $(cat "$tmp/err")" || bad "$opt SIG$sig: outputs missing"
		$NST "${args[@]}" --optimizer $opt -o "$tmp/part.png" --log "$tmp/part.csv" --resume "$tmp/part.png.ckpt" \
			|| bad "$opt resume after SIG$sig failed"
		cmp -s "$tmp/full-$opt.png" "$tmp/part.png" && ok "$opt SIG$sig + resume: the same picture, byte for byte" \
			|| bad "$opt SIG$sig + resume: the picture differs from the uninterrupted run's"
		if diff <(cut -d, -f1-5 "$tmp/full-$opt.csv") <(cut -d, -f1-5 "$tmp/part.csv") >/dev/null; then
			ok "$opt SIG$sig + resume: the same loss log ($(wc -l <"$tmp/part.csv") lines)"
		else
			bad "$opt SIG$sig + resume: the loss logs differ"
		fi
	done
	# A power cut: kill -9 after a periodic checkpoint, resume from it.
	rm -f "$tmp/cut.png" "$tmp/cut.ckpt" "$tmp/cut.csv"
	interrupt "$tmp/cut.png" "$tmp/cut.csv" 13 KILL --optimizer $opt --checkpoint-every 5 --checkpoint "$tmp/cut.ckpt"
	if [ ! -s "$tmp/cut.ckpt" ]; then bad "$opt --checkpoint-every 5 wrote no checkpoint"; else
		$NST "${args[@]}" --optimizer $opt -o "$tmp/cut.png" --log "$tmp/cut.csv" --resume "$tmp/cut.ckpt" ||
			bad "$opt resume after kill -9"
		cmp -s "$tmp/full-$opt.png" "$tmp/cut.png" && ok "$opt kill -9 + resume from --checkpoint-every: the same picture" \
			|| bad "$opt kill -9 + resume: the picture differs"
		# The rows written after the checkpoint (or inside the line search it restarts) are not
		# there twice: the resumed log is the uninterrupted one.
		diff <(cut -d, -f1-5 "$tmp/full-$opt.csv") <(cut -d, -f1-5 "$tmp/cut.csv") >/dev/null \
			&& ok "$opt kill -9 + resume: the same loss log" || bad "$opt kill -9 + resume: the loss logs differ"
	fi
done

# `nst --resume CHECKPOINT` alone (the shell that held the command is gone): the command recorded
# beside the checkpoint runs again, from its folder (relative names), with --threads / -q given
# now; interrupted again, it names the checkpoint for the user's shell and records the same
# command (not the options given with it); resumed alone once more, it ends on the uninterrupted
# picture and log.  Other options with it, and a checkpoint without the record, are refused.
mkdir -p "$tmp/alone" "$tmp/elsewhere"
build_abs=$(cd "$BUILD" && pwd)
(cd "$tmp/alone" && NST="$EMU $build_abs/nst" && args=("${args[@]/#$BUILD\//$build_abs/}") &&
	interrupt rel.png rel.csv 6 INT --optimizer lbfgs)
rc=$?
recorded() { grep '^# command' "$tmp/alone/rel.png.ckpt.options"; }
if [ $rc -ne 130 ] || ! grep -q "continue with: nst --resume rel.png.ckpt" "$tmp/err"; then
	bad "SIGINT before resuming alone: exit $rc: $(cat "$tmp/err")"
else
	first_record=$(recorded)
	cp "$tmp/alone/rel.png.ckpt" "$tmp/norecord.ckpt"
	grep -v '^#' "$tmp/alone/rel.png.ckpt.options" >"$tmp/norecord.ckpt.options"
	rows=$(wc -l <"$tmp/alone/rel.csv")
	(cd "$tmp/elsewhere" && exec $EMU "$build_abs/nst" --resume ../alone/rel.png.ckpt --threads 2 -q 2>"$tmp/err") &
	pid=$!
	waited=0
	while [ "$(wc -l <"$tmp/alone/rel.csv")" -lt $((rows + 4)) ] && kill -0 $pid 2>/dev/null && [ $waited -lt 6000 ]; do
		sleep 0.01; waited=$((waited + 1))
	done
	kill -INT $pid 2>/dev/null
	wait $pid
	rc=$?
	# (the files named from the user's folder, not relative to the recorded one)
	[ $rc -eq 130 ] && grep -q "wrote $tmp/alone/rel.png and the checkpoint $tmp/alone/rel.png.ckpt (continue with: nst --resume $tmp/alone/rel.png.ckpt)" "$tmp/err" &&
		[ "$(recorded)" = "$first_record" ] &&
		ok "resumed alone and interrupted again: the checkpoint named for the user's shell, the same command recorded" ||
		bad "resumed alone and interrupted again: exit $rc, '$(recorded)' (was '$first_record'): $(cat "$tmp/err")"
	rc=0
	(cd "$tmp/elsewhere" && $EMU "$build_abs/nst" --resume ../alone/rel.png.ckpt --log other.csv 2>"$tmp/err") || rc=$?
	[ $rc -eq 2 ] && grep -q "only --threads, --print-every, --checkpoint-every and -q may come with it (not --log)" "$tmp/err" &&
		ok "--resume alone with a file option: exit 2, $(cat "$tmp/err")" || bad "--resume alone with --log: exit $rc: $(cat "$tmp/err")"
	# --thr: getopt's abbreviation of --threads, taken beside --resume alone as getopt takes it
	(cd "$tmp/elsewhere" && $EMU "$build_abs/nst" --resume ../alone/rel.png.ckpt --thr 2 2>"$tmp/err") ||
		bad "resume alone (--thr 2): $(cat "$tmp/err")"
	grep -q "^nst: resuming the command recorded with the checkpoint, in $tmp/alone: nst -c " "$tmp/err" &&
		ok "the recalled command said: $(head -n 1 "$tmp/err")" || bad "the recalled command not said: $(cat "$tmp/err")"
	cmp -s "$tmp/full-lbfgs.png" "$tmp/alone/rel.png" && [ ! -e "$tmp/elsewhere/rel.png" ] &&
		diff <(cut -d, -f1-5 "$tmp/full-lbfgs.csv") <(cut -d, -f1-5 "$tmp/alone/rel.csv") >/dev/null &&
		ok "nst --resume CHECKPOINT alone, from another folder, twice: the uninterrupted picture and log" ||
		bad "nst --resume CHECKPOINT alone: the picture or the log differs from the uninterrupted run's"
	rc=0
	$NST --resume "$tmp/norecord.ckpt" 2>"$tmp/err" || rc=$?
	[ $rc -eq 2 ] && grep -q "does not record the run's command (an older nst made it); give the whole command" "$tmp/err" &&
		ok "a checkpoint without the recorded command: exit 2, $(cat "$tmp/err")" ||
		bad "a checkpoint without the recorded command: exit $rc: $(cat "$tmp/err")"
	rm -f "$tmp/norecord.ckpt.options"
	rc=0
	$NST --resume "$tmp/norecord.ckpt" 2>"$tmp/err" || rc=$?
	[ $rc -eq 2 ] && grep -q "norecord.ckpt.options, which records the run's command, is not beside it" "$tmp/err" &&
		ok "a checkpoint copied alone: exit 2, $(cat "$tmp/err")" || bad "a checkpoint copied alone: exit $rc: $(cat "$tmp/err")"
	rc=0
	$NST --re "$tmp/mistyped.ckpt" 2>"$tmp/err" || rc=$? # --re: getopt's abbreviation of --resume
	[ $rc -eq 1 ] && grep -q "^nst: --resume .*mistyped.ckpt: No such file or directory$" "$tmp/err" &&
		ok "a mistyped checkpoint (--re): exit 1, $(cat "$tmp/err")" || bad "a mistyped checkpoint: exit $rc: $(cat "$tmp/err")"
	rc=0
	$NST "${args[@]}" -o "$tmp/twice.png" --resume "$tmp/a.ckpt" --resume "$tmp/b.ckpt" 2>"$tmp/err" || rc=$?
	[ $rc -eq 2 ] && grep -q "^nst: --resume is given twice (.*a.ckpt, then .*b.ckpt): give it once$" "$tmp/err" &&
		ok "--resume twice with -c: exit 2, $(cat "$tmp/err")" || bad "--resume twice with -c: exit $rc: $(cat "$tmp/err")"
	# -qc FILE names -c: not --resume alone (whatever the parser then says of it)
	rc=0
	$NST -qc "$tmp/c.png" -s "$tmp/s.png" -o "$tmp/qc.png" --resume "$tmp/mistyped.ckpt" 2>"$tmp/err" || rc=$?
	[ $rc -ne 0 ] && ! grep -q "without -c" "$tmp/err" && ok "-qc with --resume is not taken for --resume alone: $(cat "$tmp/err")" ||
		bad "-qc with --resume: exit $rc: $(cat "$tmp/err")"
fi
# -s A,B is recorded as given (the parser splits a copy of it)
rm -f "$tmp/lists."*
interrupt "$tmp/lists.png" "$tmp/lists.csv" 4 INT -s "$tmp/s.png,$tmp/s.png" -n 400 --tolerance 0
grep -q -- "^# command .* -s $tmp/s.png,$tmp/s.png " "$tmp/lists.png.ckpt.options" && ok "-s A,B recorded whole" ||
	bad "-s A,B recorded as: $(grep '^# command' "$tmp/lists.png.ckpt.options" 2>&1)"

# Coarse to fine: a run of two scales stopped in either scale (SIGINT), or killed after a periodic
# checkpoint in the second, resumes to the uninterrupted run's picture and log.  The first scale's
# rows are a one-scale run's at that size: the second scale's rows are counted from there.
two=(--scales $((SIZE / 2)),$SIZE --scale-iterations $N,$N --optimizer lbfgs)
$NST "${args[@]}" "${two[@]}" -o "$tmp/full-two.png" --log "$tmp/full-two.csv" || bad "two scales: uninterrupted run"
$NST "${args[@]}" --scales $((SIZE / 2)) --optimizer lbfgs -o "$tmp/first.png" --log "$tmp/first.csv" || bad "scale 1 alone"
first=$(($(wc -l <"$tmp/first.csv") - 1))
for at in "1 6" "2 $((first + 4))"; do
	set -- $at
	rm -f "$tmp/two.png" "$tmp/two.png.ckpt" "$tmp/two.csv"
	interrupt "$tmp/two.png" "$tmp/two.csv" "$2" INT "${two[@]}"
	rc=$?
	if [ $rc -ne 130 ] || ! grep -q "at scale $1 of 2, iteration" "$tmp/err"; then
		bad "two scales, SIGINT in scale $1: exit $rc: $(cat "$tmp/err")"; continue
	fi
	$NST "${args[@]}" "${two[@]}" -o "$tmp/two.png" --log "$tmp/two.csv" --resume "$tmp/two.png.ckpt" 2>"$tmp/err" ||
		bad "two scales: resume after SIGINT in scale $1: $(cat "$tmp/err")"
	cmp -s "$tmp/full-two.png" "$tmp/two.png" && diff <(cut -d, -f1-5 "$tmp/full-two.csv") <(cut -d, -f1-5 "$tmp/two.csv") >/dev/null &&
		ok "two scales, SIGINT in scale $1 + resume: the same picture and loss log ($(wc -l <"$tmp/two.csv") lines)" ||
		bad "two scales, SIGINT in scale $1 + resume: the picture or the log differs"
	[ ! -e "$tmp/two.png.ckpt" ] || bad "two scales: the finished run left its checkpoint"
done
rm -f "$tmp/cut2.png" "$tmp/cut2.ckpt" "$tmp/cut2.csv"
interrupt "$tmp/cut2.png" "$tmp/cut2.csv" $((first + 14)) KILL "${two[@]}" --checkpoint-every 5 --checkpoint "$tmp/cut2.ckpt"
if [ ! -s "$tmp/cut2.ckpt" ]; then bad "two scales: --checkpoint-every 5 wrote no checkpoint"; else
	$NST "${args[@]}" "${two[@]}" -o "$tmp/cut2.png" --log "$tmp/cut2.csv" --resume "$tmp/cut2.ckpt" 2>"$tmp/err" ||
		bad "two scales: resume after kill -9: $(cat "$tmp/err")"
	cmp -s "$tmp/full-two.png" "$tmp/cut2.png" && diff <(cut -d, -f1-5 "$tmp/full-two.csv") <(cut -d, -f1-5 "$tmp/cut2.csv") >/dev/null &&
		ok "two scales, kill -9 in scale 2 + resume from --checkpoint-every: the same picture and loss log" ||
		bad "two scales, kill -9 + resume: the picture or the log differs"
fi
# In tiles (the second scale): SIGINT inside a tile, and kill -9 after a periodic checkpoint,
# resume to the uninterrupted picture and log (the tile starts over).  The resumed run paints the
# scales as the checkpoint's run did, whatever --tile (or the memory available) says now: without
# --tile, and with another one.  A finished tiled run leaves no checkpoint.
TILE=$((SIZE > 48 ? SIZE : 48)) # the smallest tile blocks 1-3 allow: 36 px
tiles=(--scales $SIZE,$((2 * SIZE)) --scale-iterations $N,$((N / 2)) --optimizer lbfgs)
$NST "${args[@]}" "${tiles[@]}" --tile $TILE -o "$tmp/full-tiles.png" --log "$tmp/full-tiles.csv" || bad "tiles: uninterrupted run"
[ ! -e "$tmp/full-tiles.png.ckpt" ] || bad "tiles: the finished run left its checkpoint"
$NST "${args[@]}" --scales $SIZE --optimizer lbfgs -o "$tmp/first.png" --log "$tmp/first.csv" || bad "scale 1 alone"
first=$(($(wc -l <"$tmp/first.csv") - 1))
for resume_tile in "" "--tile $((TILE + 16))"; do
	rm -f "$tmp/tiles.png" "$tmp/tiles.png.ckpt" "$tmp/tiles.csv"
	interrupt "$tmp/tiles.png" "$tmp/tiles.csv" $((first + N)) INT "${tiles[@]}" --tile $TILE
	rc=$?
	if [ $rc -ne 130 ] || ! grep -q "at scale 2 of 2, sweep [0-9]* tile [0-9]*, iteration .*the tile starts over" "$tmp/err"; then
		bad "tiles, SIGINT: exit $rc: $(cat "$tmp/err")"; continue
	fi
	ok "tiles, SIGINT: $(cat "$tmp/err")"
	# shellcheck disable=SC2086
	$NST "${args[@]}" "${tiles[@]}" $resume_tile -o "$tmp/tiles.png" --log "$tmp/tiles.csv" --resume "$tmp/tiles.png.ckpt" \
		2>"$tmp/err" || bad "tiles: resume after SIGINT (${resume_tile:-no --tile}): $(cat "$tmp/err")"
	cmp -s "$tmp/full-tiles.png" "$tmp/tiles.png" &&
		diff <(cut -d, -f1-5 "$tmp/full-tiles.csv") <(cut -d, -f1-5 "$tmp/tiles.csv") >/dev/null &&
		ok "tiles, SIGINT + resume (${resume_tile:-no --tile}): the same picture and loss log ($(wc -l <"$tmp/tiles.csv") lines)" ||
		bad "tiles, SIGINT + resume (${resume_tile:-no --tile}): the picture or the log differs"
done
rm -f "$tmp/cut3.png" "$tmp/cut3.ckpt" "$tmp/cut3.csv"
interrupt "$tmp/cut3.png" "$tmp/cut3.csv" $((first + 3 * N)) KILL "${tiles[@]}" --tile $TILE --checkpoint-every 5 \
	--checkpoint "$tmp/cut3.ckpt"
if [ ! -s "$tmp/cut3.ckpt" ]; then bad "tiles: --checkpoint-every 5 wrote no checkpoint"; else
	$NST "${args[@]}" "${tiles[@]}" --tile $TILE -o "$tmp/cut3.png" --log "$tmp/cut3.csv" --resume "$tmp/cut3.ckpt" 2>"$tmp/err" ||
		bad "tiles: resume after kill -9: $(cat "$tmp/err")"
	cmp -s "$tmp/full-tiles.png" "$tmp/cut3.png" &&
		diff <(cut -d, -f1-5 "$tmp/full-tiles.csv") <(cut -d, -f1-5 "$tmp/cut3.csv") >/dev/null &&
		ok "tiles, kill -9 + resume from --checkpoint-every: the same picture and loss log" ||
		bad "tiles, kill -9 + resume: the picture or the log differs"
fi

# Another schedule is refused: by the description beside the checkpoint, and without it by the
# checkpoint itself.
rm -f "$tmp/two.png" "$tmp/two.png.ckpt" "$tmp/two.csv"
interrupt "$tmp/two.png" "$tmp/two.csv" 6 INT "${two[@]}"
$NST "${args[@]}" --optimizer lbfgs --scales $SIZE -o "$tmp/x.png" --resume "$tmp/two.png.ckpt" 2>"$tmp/err"
rc=$?; [ $rc -eq 2 ] && grep -q -- "--scales .*,.* (now " "$tmp/err" && ok "one scale from a checkpoint of two: $(cat "$tmp/err")" \
	|| bad "one scale from a checkpoint of two: exit $rc: $(cat "$tmp/err")"
rm -f "$tmp/two.png.ckpt.options"
$NST "${args[@]}" --optimizer lbfgs --scales $SIZE -o "$tmp/x.png" --resume "$tmp/two.png.ckpt" 2>"$tmp/err"
rc=$?; [ $rc -eq 2 ] && grep -q "made by a run of 2 scales, this one has 1" "$tmp/err" &&
	ok "... without its description: $(cat "$tmp/err")" || bad "one scale from two, no description: exit $rc: $(cat "$tmp/err")"

# Checkpoints that do not fit.
interrupt "$tmp/p.png" "$tmp/p.csv" 4 INT --optimizer adam
cp "$tmp/p.png.ckpt" "$tmp/flipped.ckpt"
printf '\x55' | dd of="$tmp/flipped.ckpt" bs=1 seek=400 conv=notrunc status=none
$NST "${args[@]}" --optimizer adam -o "$tmp/x.png" --resume "$tmp/flipped.ckpt" 2>"$tmp/err"
rc=$?; [ $rc -eq 1 ] && grep -q "corrupted" "$tmp/err" && ok "a corrupted checkpoint is refused: $(cat "$tmp/err")" \
	|| bad "corrupted checkpoint: exit $rc: $(cat "$tmp/err")"
$NST "${args[@]}" --optimizer adam --style-weight 50 -o "$tmp/x.png" --resume "$tmp/p.png.ckpt" 2>"$tmp/err"
rc=$?; [ $rc -eq 2 ] && grep -q "other pictures or options" "$tmp/err" && ok "a checkpoint of other options is refused" \
	|| bad "other-options checkpoint: exit $rc: $(cat "$tmp/err")"
head -c 100 "$tmp/p.png.ckpt" >"$tmp/short.ckpt"
$NST "${args[@]}" --optimizer adam -o "$tmp/x.png" --resume "$tmp/short.ckpt" 2>"$tmp/err"
rc=$?; [ $rc -eq 1 ] && ok "a truncated checkpoint is refused: $(cat "$tmp/err")" || bad "truncated checkpoint: exit $rc"

# A loss that stops being finite: the last good picture, exit 4.
rm -f "$tmp/nan.png"
$NST "${args[@]}" --optimizer adam --lr 1e25 -o "$tmp/nan.png" 2>"$tmp/err"
rc=$?; [ $rc -eq 4 ] && [ -s "$tmp/nan.png" ] && grep -q "last good picture" "$tmp/err" \
	&& ok "non-finite loss: exit 4 and the last good picture: $(cat "$tmp/err")" || bad "non-finite loss: exit $rc: $(cat "$tmp/err")"
finish
