#!/usr/bin/env bash
# Frame streams through the one-pass networks (src/cli/stream.c), with ffmpeg making and reading them:
#   - a YUV4MPEG2 clip made by ffmpeg through candy and the arbitrary network (--steady 0): ffprobe
#     finds the frame count, size and rate kept, and each frame equals the one-picture result of
#     the same frame after the YUV round trip (mean |diff| at most 2 levels).  ffmpeg converts with
#     its exact path here (accurate_rnd, full_chroma_int, through gbrp): its default path to packed
#     RGB24 is 1-2 levels off BT.601 (Y 100, Cb 150, Cr 90 gives 36,118,141 for 37.2,120.1,142.2);
#   - raw RGB24 in and out (--frame-size): every frame byte for byte the one-picture result; raw
#     I420 (--input-format yuv420p) gives what the same frames as Y4M give; a PNG sequence (-o DIR/);
#     the pipeline gives what --no-pipeline gives; 420mpeg2 / 444 headers carried through; a full
#     range clip (XCOLORRANGE=FULL) read at 0..255, written so, frames as for limited range;
#   - endings: EOF between frames (0), inside a frame (1, the complete frames written), a broken
#     pipe (1, one line), SIGINT (130, the frames stylized written whole); garbage, zero-size,
#     absurd and 4:2:2 headers refused in one line (1); stream options on a picture (2); -q silent;
#   - --steady on a synthetic clip (a photo with Gaussian noise of 2.5 levels, a pan of 3 px per
#     frame, a cut): the output's change on the static frames falls by at least half with the
#     default, moving edges equal the unsteadied frames (mean |diff| < 1 level where the input
#     moved; a blend without the gate leaves 40), the frame after the cut is the unsteadied one.
set -uo pipefail
name=t_stream
. "$(dirname "$0")/lib.sh"

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
	echo "t_stream: SKIPPED: ffmpeg / ffprobe not installed (toolchains/deps.sh test installs them)"
	exit 0
fi
need "$BUILD/nst" "$BUILD/styles/candy.nstw" "$BUILD/styles/arbitrary.nstw" "$SHARED/images/chelsea.png"
FF=(ffmpeg -nostdin -loglevel error -y)
EXACT=(-sws_flags bilinear+accurate_rnd+full_chroma_int)
W=96 H=64 N=5

# clip.y4m: a slow pan over a photo, 4:2:0, 25 frames/s
"${FF[@]}" -loop 1 -i "$SHARED/images/chelsea.png" -vf "scale=128:-2,crop=$W:$H:n*3:8" -frames:v $N -r 25 \
	-pix_fmt yuv420p "${EXACT[@]}" -f yuv4mpegpipe "$tmp/clip.y4m" || die "ffmpeg cannot make the clip"
mkdir -p "$tmp/frames"
"${FF[@]}" "${EXACT[@]}" -i "$tmp/clip.y4m" -vf format=gbrp "$tmp/frames/f_%d.png" || die "ffmpeg cannot decode the clip"
"$PYTHON" -c "from PIL import Image; Image.open('$SHARED/images/starry_night.jpg').convert('RGB').resize((48, 32)).save('$tmp/painting.png')"

# probe FILE: "frames width height rate" as ffprobe reads them
probe() {
	ffprobe -v error -count_frames -select_streams v:0 \
		-show_entries stream=nb_read_frames,width,height,r_frame_rate -of default=nw=1:nk=1 "$1" | tr '\n' ' '
}

# mean_diffs DIR_A DIR_B: the largest over frames 1..N of the mean |a - b| (levels)
mean_diffs() {
	"$PYTHON" - "$1" "$2" "$N" <<'EOF'
import sys
import numpy as np
from PIL import Image
a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def load(p): return np.asarray(Image.open(p).convert("RGB"), dtype=np.float64)
print(max(np.abs(load(f"{a}/f_{i}.png") - load(f"{b}/f_{i}.png")).mean() for i in range(1, n + 1)))
EOF
}

# --- Y4M through candy and the arbitrary network, against the one-picture results -------------
for model in candy arbitrary; do
	args=(--model "$model" -q)
	[ "$model" = arbitrary ] && args+=(-s "$tmp/painting.png")
	d="$tmp/$model"
	mkdir -p "$d/ref" "$d/rt" "$d/out"
	if ! $NST "${args[@]}" --steady 0 -c - -o - <"$tmp/clip.y4m" >"$d/out.y4m" 2>"$d/err"; then
		bad "$model: the Y4M stream failed: $(cat "$d/err")"
		continue
	fi
	got=$(probe "$d/out.y4m")
	[ "$got" = "$W $H 25/1 $N " ] && ok "$model: Y4M out: $N frames ${W}x$H at 25/1" || bad "$model: ffprobe says '$got'"
	$NST "${args[@]}" -c "$tmp/frames/" -o "$d/ref/" || bad "$model: the one-picture runs failed"
	"${FF[@]}" -i "$d/ref/f_%d.png" "${EXACT[@]}" -pix_fmt yuv420p -f yuv4mpegpipe - |
		"${FF[@]}" "${EXACT[@]}" -f yuv4mpegpipe -i - -vf format=gbrp "$d/rt/f_%d.png"
	"${FF[@]}" "${EXACT[@]}" -i "$d/out.y4m" -vf format=gbrp "$d/out/f_%d.png"
	diff=$(mean_diffs "$d/out" "$d/rt")
	echo "$model: each frame beside its one-picture result after the YUV round trip: mean |diff| <= $diff levels"
	awk -v d="$diff" 'BEGIN { exit !(d != "" && d + 0 <= 2.0) }' && ok "$model: frames equal the one-picture results ($diff <= 2)" ||
		bad "$model: a frame differs from its one-picture result by $diff levels on average (> 2)"
done

# The header names a stream's frames; an output that cannot be made is said as for pictures.
$NST --model candy --steady 0 -c "$tmp/clip.y4m" -o "$tmp/header.y4m" 2>"$tmp/header_err" &&
	grep -q "^nst: model candy (float16 weights), frames of ${W}x$H, backend" "$tmp/header_err" &&
	ok "the header: $(head -n 1 "$tmp/header_err")" || bad "the header: $(cat "$tmp/header_err")"
for o in /proc/nst-out.y4m "$tmp/no-such-folder/out.y4m"; do
	rc=0
	$NST --model candy -q -c "$tmp/clip.y4m" -o "$o" 2>"$tmp/where_err" || rc=$?
	[ "$rc" -eq 1 ] && grep -qE "^nst: -o $o: (cannot write in the folder /proc: no file can be made there|the folder .* does not exist)$" \
		"$tmp/where_err" && ok "-o $o: $(cat "$tmp/where_err")" || bad "-o $o: exit $rc: $(cat "$tmp/where_err")"
done

# --- raw RGB24, I420, PNG sequences, the pipeline ----------------------------------------------
"${FF[@]}" -i "$tmp/frames/f_%d.png" -pix_fmt rgb24 -f rawvideo "$tmp/clip.rgb"
$NST --model candy -q --steady 0 -c - --frame-size ${W}x$H -o - <"$tmp/clip.rgb" >"$tmp/out.rgb" ||
	bad "raw RGB24: failed"
[ "$(stat -c %s "$tmp/out.rgb")" -eq $((W * H * 3 * N)) ] && ok "raw RGB24 in, raw RGB24 out: $N frames" ||
	bad "raw RGB24: $(stat -c %s "$tmp/out.rgb") bytes"
mkdir -p "$tmp/rgbref"
$NST --model candy -q -c "$tmp/frames/" -o "$tmp/rgbref/" &&
	"${FF[@]}" -i "$tmp/rgbref/f_%d.png" -pix_fmt rgb24 -f rawvideo "$tmp/ref.rgb"
cmp -s "$tmp/out.rgb" "$tmp/ref.rgb" && ok "raw RGB24: every frame is the one-picture result, byte for byte" ||
	bad "raw RGB24: the frames differ from the one-picture results"
$NST --model candy -q --steady 0 --no-pipeline -c - --frame-size ${W}x$H -o - <"$tmp/clip.rgb" >"$tmp/seq.rgb"
cmp -s "$tmp/out.rgb" "$tmp/seq.rgb" && ok "--no-pipeline gives what the pipeline gives" || bad "--no-pipeline differs"

"${FF[@]}" -i "$tmp/clip.y4m" -f rawvideo -pix_fmt yuv420p "$tmp/clip.i420"
$NST --model candy -q --steady 0 -c - --frame-size ${W}x$H --input-format yuv420p -o - <"$tmp/clip.i420" >"$tmp/i420.y4m"
$NST --model candy -q --steady 0 -c "$tmp/clip.y4m" -o "$tmp/file.y4m"
[ "$(tail -n +2 "$tmp/i420.y4m" | md5sum)" = "$(tail -n +2 "$tmp/file.y4m" | md5sum)" ] &&
	[ "$(probe "$tmp/i420.y4m")" = "$W $H 25/1 $N " ] && ok "raw I420 in: the frames the Y4M stream gives" ||
	bad "raw I420: '$(probe "$tmp/i420.y4m")', or frames that differ from the Y4M stream's"

$NST --model candy -q --steady 0 -c - -o "$tmp/seq/" <"$tmp/clip.y4m"
[ "$(ls "$tmp/seq" | tr '\n' ' ')" = "frame_000001.png frame_000002.png frame_000003.png frame_000004.png frame_000005.png " ] &&
	ok "-o DIR/: a PNG sequence" || bad "-o DIR/: $(ls "$tmp/seq" | tr '\n' ' ')"

for chroma in 420mpeg2 444; do
	"${FF[@]}" -i "$tmp/clip.y4m" -pix_fmt "$([ $chroma = 444 ] && echo yuv444p || echo yuv420p)" \
		$([ $chroma = 420mpeg2 ] && echo "-chroma_sample_location left") -f yuv4mpegpipe "$tmp/c.y4m"
	$NST --model candy -q -c - -o - <"$tmp/c.y4m" >"$tmp/c_out.y4m"
	head -1 "$tmp/c_out.y4m" | grep >/dev/null "^YUV4MPEG2 W$W H$H F25:1 .*C$chroma\$" && [ "$(probe "$tmp/c_out.y4m")" = "$W $H 25/1 $N " ] &&
		ok "C$chroma carried through" || bad "C$chroma: header '$(head -1 "$tmp/c_out.y4m")' (input: $(head -1 "$tmp/c.y4m"))"
done
# full range (ffmpeg's yuvj420p, a webcam's MJPEG: XCOLORRANGE=FULL): read and written at 0..255,
# each frame its one-picture result after a full-range round trip: 1.6 - 2.0 levels (candy
# magnifies the conversions' rounding, 1.7 for limited range above); the same frames read as
# limited range (the tag ignored) give 8.3 - 8.8, hence the bound of 3
"${FF[@]}" "${EXACT[@]}" -i "$tmp/clip.y4m" -pix_fmt yuvj420p -f yuv4mpegpipe "$tmp/full.y4m"
mkdir -p "$tmp/full/frames" "$tmp/full/ref" "$tmp/full/rt" "$tmp/full/out"
"${FF[@]}" "${EXACT[@]}" -i "$tmp/full.y4m" -vf format=gbrp "$tmp/full/frames/f_%d.png"
$NST --model candy -q --steady 0 -c "$tmp/full.y4m" -o "$tmp/full_out.y4m" &&
	$NST --model candy -q -c "$tmp/full/frames/" -o "$tmp/full/ref/" || bad "full range: nst failed"
"${FF[@]}" -i "$tmp/full/ref/f_%d.png" "${EXACT[@]}" -pix_fmt yuvj420p -f yuv4mpegpipe - |
	"${FF[@]}" "${EXACT[@]}" -f yuv4mpegpipe -i - -vf format=gbrp "$tmp/full/rt/f_%d.png"
"${FF[@]}" "${EXACT[@]}" -i "$tmp/full_out.y4m" -vf format=gbrp "$tmp/full/out/f_%d.png"
diff=$(mean_diffs "$tmp/full/out" "$tmp/full/rt")
head -1 "$tmp/full_out.y4m" | grep -q "C420jpeg XCOLORRANGE=FULL\$" && awk -v d="$diff" 'BEGIN { exit !(d != "" && d + 0 <= 3.0) }' &&
	ok "XCOLORRANGE=FULL read and carried: frames equal the one-picture results ($diff <= 3)" ||
	bad "full range: header '$(head -1 "$tmp/full_out.y4m")', mean |diff| $diff levels"
# a header with every parameter, FRAME lines with parameters: carried and tolerated
"$PYTHON" - "$tmp/params.y4m" <<'EOF'
import sys
frame = b"FRAME Ixyz Xcomment\n" + bytes(range(256)) + bytes(16 * 16 * 3 - 256)
open(sys.argv[1], "wb").write(b"YUV4MPEG2 W16 H16 F30000:1001 It A10:11 C444 XYSCSS=444\n" + 2 * frame)
EOF
$NST --model candy -q -c "$tmp/params.y4m" -o - >"$tmp/params_out.y4m"
[ "$(head -1 "$tmp/params_out.y4m")" = "YUV4MPEG2 W16 H16 F30000:1001 It A10:11 C444" ] &&
	[ "$(stat -c %s "$tmp/params_out.y4m")" -eq $((45 + 2 * (6 + 16 * 16 * 3))) ] &&
	ok "F, I, A and C carried; FRAME parameters tolerated" || bad "parameters: '$(head -1 "$tmp/params_out.y4m")'"
$NST --model candy -q -c - --size 48 -o - <"$tmp/clip.y4m" >"$tmp/small.y4m"
[ "$(probe "$tmp/small.y4m")" = "48 32 25/1 $N " ] && ok "--size: the header says the size run" || bad "--size: $(probe "$tmp/small.y4m")"
# Every buffer is allocated before the first frame, --size's resampling scratch too: the heap
# allocations of a run (counted by a malloc wrapper preloaded into nst) do not grow with its frames.
# Skipped under qemu (a native wrapper) and with ASan (its own malloc must come first).
if [ -z "$EMU" ] && ! grep -qa -m1 __asan_init "$BUILD/nst" && command -v cc >/dev/null; then
	cat >"$tmp/count.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
void *__libc_malloc(size_t), *__libc_calloc(size_t, size_t), *__libc_realloc(void *, size_t);
static unsigned long calls;
void *malloc(size_t n) { __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED); return __libc_realloc(p, n); }
__attribute__((destructor)) static void report(void) {
	FILE *f = fopen(getenv("COUNT_FILE"), "w");
	if (f) { fprintf(f, "%lu\n", calls); fclose(f); }
}
EOF
	cc -shared -fPIC -O2 -o "$tmp/count.so" "$tmp/count.c" || die "cannot build the malloc counter"
	"${FF[@]}" -i "$tmp/clip.y4m" -vf loop=loop=3:size=$N:start=0 -f yuv4mpegpipe "$tmp/long.y4m" # 4 N frames
	for clip in clip long; do
		COUNT_FILE="$tmp/$clip.count" LD_PRELOAD="$tmp/count.so" $NST --model candy -q -c "$tmp/$clip.y4m" --size 48 \
			-o "$tmp/${clip}_small.y4m" || bad "--size under the malloc counter: exit $?"
	done
	[ "$(probe "$tmp/long_small.y4m")" = "48 32 25/1 $((4 * N)) " ] && [ -s "$tmp/clip.count" ] &&
		[ "$(cat "$tmp/clip.count")" = "$(cat "$tmp/long.count")" ] &&
		ok "--size: $N and $((4 * N)) frames make the same $(cat "$tmp/clip.count") allocations" ||
		bad "--size: allocations grow with the frames: $(cat "$tmp/clip.count" 2>/dev/null) for $N frames, $(cat "$tmp/long.count" 2>/dev/null) for $((4 * N)) ($(probe "$tmp/long_small.y4m"))"
fi

# named FIFOs: a Y4M stream is detected through one; a picture through one is still a picture
mkfifo "$tmp/fifo.y4m" "$tmp/fifo.png"
# (the writer under a timeout: an nst that never opens the FIFO must not hang the test)
timeout 30 sh -c 'cat "$1" >"$2"' _ "$tmp/clip.y4m" "$tmp/fifo.y4m" &
$NST --model candy -q --steady 0 -c "$tmp/fifo.y4m" -o "$tmp/fromfifo.y4m"
wait
cmp -s "$tmp/fromfifo.y4m" "$tmp/file.y4m" && ok "a Y4M stream through a named FIFO" || bad "a Y4M stream through a named FIFO"
timeout 30 sh -c 'cat "$1" >"$2"' _ "$tmp/frames/f_1.png" "$tmp/fifo.png" &
$NST --model candy -q -c "$tmp/fifo.png" -o "$tmp/fifo_out.png"
wait
cmp -s "$tmp/fifo_out.png" "$tmp/rgbref/f_1.png" && ok "a picture through a named FIFO: as today" || bad "a picture through a named FIFO"
# a FIFO nobody writes to: said once after NST_FIFO_WAIT_MS (10 s), not waited on again as a picture
mkfifo "$tmp/silent"
start=$(date +%s)
fails_with 1 "cannot read .*silent: nothing came through this FIFO in 10 s" $NST --model candy -q -c "$tmp/silent" -o "$tmp/silent.png" &&
	[ $(($(date +%s) - start)) -lt 15 ] && [ ! -e "$tmp/silent.png" ] &&
	ok "a silent FIFO: one line after 10 s ($(($(date +%s) - start)) s), no output" ||
	bad "a silent FIFO: $(($(date +%s) - start)) s"
# a picture given as raw frames: its signature says so
fails_with 2 "f_1.png is a PNG picture, not raw frames: without --frame-size it is painted" \
	$NST --model candy -q -c "$tmp/frames/f_1.png" --frame-size ${W}x$H -o "$tmp/png_raw/" &&
	fails_with 2 "is a PNG picture, not raw frames: without --frame-size and --input-format" \
		$NST --model candy -q -c - --input-format rgb24 --frame-size ${W}x$H -o - <"$tmp/frames/f_1.png" &&
	ok "a PNG picture with --frame-size: refused, named"
cat "$tmp/frames/f_1.png" | $NST --model candy -q -c - -o - >"$tmp/stdin_out.png"
cmp -s "$tmp/stdin_out.png" "$tmp/rgbref/f_1.png" && ok "a picture on standard input: as today" || bad "a picture on standard input"

# the README's file recipe: ffmpeg | nst | ffmpeg encoding a file
"${FF[@]}" -f lavfi -i testsrc2=size=${W}x$H:rate=30 -frames:v 4 -pix_fmt yuv420p -f yuv4mpegpipe - |
	$NST --model candy -q -c - -o - | "${FF[@]}" -f yuv4mpegpipe -i - -c:v ffv1 "$tmp/recipe.mkv"
[ "$(probe "$tmp/recipe.mkv")" = "$W $H 30/1 4 " ] && ok "ffmpeg | nst | ffmpeg to a file" || bad "recipe: $(probe "$tmp/recipe.mkv")"

# --- endings ---------------------------------------------------------------------------------------
header=$(head -1 "$tmp/clip.y4m" | wc -c)
frame=$((6 + W * H * 3 / 2))
head -c $((header + 2 * frame + 100)) "$tmp/clip.y4m" >"$tmp/cut.y4m"
fails_with 1 "ended inside frame 3.*wrote the 2 complete frames" $NST --model candy -q -c - -o - <"$tmp/cut.y4m" &&
	[ "$(probe "$tmp/stdout")" = "$W $H 25/1 2 " ] && ok "EOF inside a frame: exit 1, the 2 complete frames written"
head -c $((header + 2 * frame)) "$tmp/clip.y4m" | $NST --model candy -q -c - -o - >"$tmp/two.y4m"
[ $? -eq 0 ] && [ "$(probe "$tmp/two.y4m")" = "$W $H 25/1 2 " ] && ok "EOF between frames: exit 0" || bad "EOF between frames"
head -c $((W * H * 3 + 10)) "$tmp/clip.rgb" >"$tmp/cut.rgb"
fails_with 1 "ended inside frame 2" $NST --model candy -q -c - --frame-size ${W}x$H -o - <"$tmp/cut.rgb" &&
	[ "$(stat -c %s "$tmp/stdout")" -eq $((W * H * 3)) ] && ok "raw RGB24 cut inside a frame: exit 1, 1 frame written"

$NST --model candy -c - -o - <"$tmp/clip.y4m" 2>"$tmp/pipe_err" | head -c 100 >/dev/null
rc=${PIPESTATUS[0]}
[ "$rc" -eq 1 ] && grep -q "broken pipe" "$tmp/pipe_err" && [ "$(grep -c 'nst: .*broken pipe' "$tmp/pipe_err")" -eq 1 ] &&
	ok "broken pipe: exit 1, one line" || bad "broken pipe: exit $rc: $(cat "$tmp/pipe_err")"

# A consumer that does not read: nst stops reading its input instead of buffering frames.  The
# output is a FIFO held open but unread; after a while the input file's offset (the frames nst has
# taken) must stay within the pipeline's few frames and the pipe's buffer, not run on.
SLOW_W=64 SLOW_H=48 SLOW_N=1500
slow_frame=$((SLOW_W * SLOW_H * 3))
head -c $((slow_frame * SLOW_N)) /dev/urandom >"$tmp/many.rgb"
mkfifo "$tmp/slow"
exec 3<>"$tmp/slow" # a reader that reads nothing yet (read-write: the open does not wait)
$NST --model candy -q --steady 0 -c - --frame-size ${SLOW_W}x$SLOW_H -o - <"$tmp/many.rgb" >"$tmp/slow" 2>"$tmp/slow_err" 3<&- &
pid=$!
sleep 3
taken=$(awk '/^pos:/ { print $2 }' "/proc/$pid/fdinfo/0" 2>/dev/null)
exec 4<"$tmp/slow" # now read everything: opened here, before fd 3 closes, so that a reader is always there
cat <&4 >"$tmp/slow_out" 3<&- 4<&- &
reader=$!
exec 3<&- 4<&-
wait $pid
rc=$?
wait $reader
# the pipe holds 64 KiB (7 of these frames); the pipeline 4 in flight; allow 32 frames in all
[ "$rc" -eq 0 ] && [ -n "$taken" ] && [ "$taken" -le $((32 * slow_frame)) ] &&
	[ "$(stat -c %s "$tmp/slow_out")" -eq $((slow_frame * SLOW_N)) ] &&
	ok "an unread output: nst took $((taken / slow_frame)) of $SLOW_N frames and waited, then wrote them all" ||
	bad "slow consumer: exit $rc, input taken $taken bytes ($((${taken:-0} / slow_frame)) frames), $(stat -c %s "$tmp/slow_out") bytes out: $(cat "$tmp/slow_err")"

printf 'YUV4MPEG2 Wabc H64 F25:1\nFRAME\n' >"$tmp/garbage.y4m"
fails_with 1 "bad parameter 'Wabc'" $NST --model candy -c - -o - <"$tmp/garbage.y4m" && ok "garbage header refused"
printf 'YUV4MPEG2 W0 H0 F25:1\n' >"$tmp/zero.y4m"
fails_with 1 "zero frame size" $NST --model candy -c - -o - <"$tmp/zero.y4m" && ok "zero-size header refused"
printf 'YUV4MPEG2 W200000 H64 F25:1\n' >"$tmp/huge.y4m"
fails_with 1 "beyond the limit" $NST --model candy -c - -o - <"$tmp/huge.y4m" && ok "absurd size refused"
printf 'YUV4MPEG2 W96 H64 F25:1 C422\n' >"$tmp/422.y4m"
fails_with 1 "C422 is not supported" $NST --model candy -c - -o - <"$tmp/422.y4m" && ok "4:2:2 refused, naming what is read"
# a usage error is said at once, not after the (live, silent) stream's first bytes
start=$(date +%s)
{ fails_with 2 "-s is for --model arbitrary" timeout 10 $NST --model candy -s "$tmp/painting.png" -c - --frame-size ${W}x$H -o - &&
	[ $(($(date +%s) - start)) -lt 5 ] && ok "a usage error before the stream's first bytes"; } < <(sleep 12)
fails_with 2 "--frame-size: 'x' is not WxH" $NST --model candy -c - --frame-size x -o - </dev/null && ok "--frame-size checked"
fails_with 2 "--steady is for frame streams" $NST --model candy -c "$tmp/frames/f_1.png" --steady 0.5 -o "$tmp/p.png" &&
	ok "a stream option on a picture: usage"
$NST --model candy -q -c - -o - <"$tmp/clip.y4m" 2>"$tmp/quiet" >/dev/null
[ ! -s "$tmp/quiet" ] && ok "-q: nothing on stderr" || bad "-q: $(cat "$tmp/quiet")"

# SIGINT: frames come slowly; the frame being stylized is written whole, then exit 130
{ head -c $((header + frame)) "$tmp/clip.y4m"; sleep 1; tail -c +$((header + frame + 1)) "$tmp/clip.y4m" | head -c $frame; sleep 10; } |
	$NST --model candy -c - -o - >"$tmp/int.y4m" 2>"$tmp/int_err" &
pid=$!
sleep 2.5
kill -INT $pid
wait $pid
rc=$?
[ "$rc" -eq 130 ] && grep -q "interrupted (SIGINT): wrote 2 frames" "$tmp/int_err" && [ "$(probe "$tmp/int.y4m")" = "$W $H 25/1 2 " ] &&
	ok "SIGINT: exit 130, the 2 frames written whole" || bad "SIGINT: exit $rc, '$(probe "$tmp/int.y4m")': $(cat "$tmp/int_err")"

# --- --steady on a synthetic clip -------------------------------------------------------------------
SW=128 SH=96
"$PYTHON" - "$SHARED/images" "$tmp/synth.rgb" $SW $SH <<'EOF'
import sys
import numpy as np
from PIL import Image
src, out, W, H = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
STATIC, PAN, CUT, STEP = 8, 6, 3, 3  # frames still, panning STEP px a frame, after the cut
rng = np.random.default_rng(1)
wide = np.asarray(Image.open(f"{src}/chelsea.png").convert("RGB").resize((W + STEP * (PAN + 1), H), Image.BICUBIC), dtype=np.float64)
other = np.asarray(Image.open(f"{src}/astronaut.png").convert("RGB").resize((W, H), Image.BICUBIC), dtype=np.float64)
def noisy(a): return np.clip(np.rint(a + rng.normal(0.0, 2.5, a.shape)), 0, 255).astype(np.uint8)  # sensor-like noise
frames = [noisy(wide[:, :W]) for _ in range(STATIC)]
frames += [noisy(wide[:, STEP * k:STEP * k + W]) for k in range(1, PAN + 1)]
frames += [noisy(other) for _ in range(CUT)]
open(out, "wb").write(b"".join(f.tobytes() for f in frames))
EOF
$NST --model candy -q --steady 0 -c - --frame-size ${SW}x$SH -o - <"$tmp/synth.rgb" >"$tmp/raw_synth.rgb"
$NST --model candy -q -c - --frame-size ${SW}x$SH -o - <"$tmp/synth.rgb" >"$tmp/steady_synth.rgb"
"$PYTHON" - "$tmp/synth.rgb" "$tmp/raw_synth.rgb" "$tmp/steady_synth.rgb" $SW $SH >"$tmp/steady.txt" <<'EOF'
import sys
import numpy as np
W, H, STATIC, PAN, CUT = int(sys.argv[4]), int(sys.argv[5]), 8, 6, 3
def load(p): return np.frombuffer(open(p, "rb").read(), np.uint8).reshape(-1, H, W, 3).astype(np.float64)
clip, raw, steady = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
assert raw.shape[0] == steady.shape[0] == STATIC + PAN + CUT, (raw.shape, steady.shape)
luma = clip @ np.array([0.299, 0.587, 0.114])
flicker_raw = np.mean([np.abs(raw[t] - raw[t - 1]).mean() for t in range(1, STATIC)])
flicker_steady = np.mean([np.abs(steady[t] - steady[t - 1]).mean() for t in range(1, STATIC)])
ghost, trail, covered = [], [], []
for t in range(STATIC, STATIC + PAN):  # moving edges: where the input's luma changed by more than 24 levels
    moving = np.abs(luma[t] - luma[t - 1]) > 24
    covered.append(moving.mean())
    ghost.append(np.abs(steady[t] - raw[t])[moving].mean())
    trail.append(np.abs(0.7 * steady[t - 1] + 0.3 * raw[t] - raw[t])[moving].mean())  # a blend without the gate
cut = np.abs(steady[STATIC + PAN] - raw[STATIC + PAN]).mean()
print(f"{100 * (1 - flicker_steady / flicker_raw):.1f} {max(ghost):.3f} {np.mean(trail):.2f} {cut:.3f}")
print(f"steady: static frames' change {flicker_raw:.2f} -> {flicker_steady:.2f} levels ({100 * (1 - flicker_steady / flicker_raw):.0f}% less); "
      f"moving edges ({100 * np.mean(covered):.0f}% of the pixels): |steady - unsteadied| {np.mean(ghost):.2f} (max {max(ghost):.2f}; "
      f"a blend without the gate: {np.mean(trail):.2f}); the frame after the cut: {cut:.2f}")
EOF
sed -n 2p "$tmp/steady.txt"
read -r less ghost trail cut <"$tmp/steady.txt"
awk -v v="$less" 'BEGIN { exit !(v != "" && v + 0 >= 50) }' && ok "--steady (default): the static frames' change falls by $less% (>= 50)" ||
	bad "--steady: the static frames' change falls by only ${less:-?}%"
awk -v v="$ghost" -v t="$trail" 'BEGIN { exit !(v != "" && v + 0 < 1.0 && t + 0 > 10) }' && ok "--steady: no trail on moving edges ($ghost; ungated $trail)" ||
	bad "--steady: moving edges trail: $ghost levels (ungated $trail)"
awk -v v="$cut" 'BEGIN { exit !(v != "" && v + 0 < 0.01) }' && ok "--steady: a cut resets" || bad "--steady: the frame after the cut differs by $cut"

finish
