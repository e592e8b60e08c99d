#!/usr/bin/env bash
# Every bad input gives one line on stderr that names the problem, a non-zero exit code, no
# crash and no output file.  Then the good paths of the command line: formats by extension,
# --sheet, --save-every, --log, --init, --original-colors, several styles, --max-memory,
# --iterations 0, weights discovery, nst info.
set -uo pipefail
name=t_cli
. "$(dirname "$0")/lib.sh"
small_pictures

"$PYTHON" - "$SHARED/images" "$tmp" <<'EOF'
import sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
Image.open(f"{src}/chelsea.png").convert("L").resize((40, 30)).save(f"{dst}/grey.png")
Image.open(f"{src}/chelsea.png").convert("RGBA").resize((40, 30)).save(f"{dst}/alpha.png")
Image.open(f"{src}/chelsea.png").convert("P").resize((40, 30)).save(f"{dst}/palette.png")
Image.new("RGB", (1, 1), (200, 10, 10)).save(f"{dst}/one.png")
EOF
base=(-c "$C" -s "$S" -o "$tmp/out.png" --weights "$W" --size 32 -n 2 -q)

# --- pictures
: >"$tmp/empty.png"
head -c 300 "$SHARED/images/chelsea.png" >"$tmp/truncated.png"
head -c 2000 "$SHARED/images/starry_night.jpg" >"$tmp/truncated.jpg"
echo "this is not a picture" >"$tmp/text.png"
mkdir -p "$tmp/adir"
# A PNG header claiming 100000 x 100000 pixels (correct CRC, no pixel data).
"$PYTHON" - "$tmp/huge.png" <<'EOF'
import struct, sys, zlib
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
EOF
expect_error 1 "no such file|cannot open" -c "$tmp/missing.png" -s "$S" -o "$tmp/out.png" --weights "$W"
expect_error 1 "empty" -c "$tmp/empty.png" -s "$S" -o "$tmp/out.png" --weights "$W"
expect_error 1 "truncated|corrupt|not a" -c "$tmp/truncated.png" -s "$S" -o "$tmp/out.png" --weights "$W"
expect_error 1 "truncated|corrupt|not a" -c "$C" -s "$tmp/truncated.jpg" -o "$tmp/out.png" --weights "$W"
expect_error 1 "not a|unknown|unsupported|corrupt" -c "$tmp/text.png" -s "$S" -o "$tmp/out.png" --weights "$W"
expect_error 1 "directory|cannot|not a" -c "$tmp/adir" -s "$S" -o "$tmp/out.png" --weights "$W"
expect_error 1 "100000|too large|over the limit" -c "$tmp/huge.png" -s "$S" -o "$tmp/out.png" --weights "$W"
expect_error 1 "no such file|cannot open" -c "$C" -s "$S,$tmp/nope.jpg" -o "$tmp/out.png" --weights "$W"

# --- sizes and numbers
expect_error 2 "size" "${base[@]}" --size 0
expect_error 2 "size" "${base[@]}" --size -5
expect_error 2 "size" "${base[@]}" --size 100000
expect_error 2 "size" "${base[@]}" --size abc
expect_error 2 "iterations" "${base[@]}" -n -1
expect_error 2 "content-weight" "${base[@]}" --content-weight nan
expect_error 2 "style-weight" "${base[@]}" --style-weight -1
expect_error 2 "tv-weight" "${base[@]}" --tv-weight inf
expect_error 2 "lr" "${base[@]}" --lr nan
expect_error 2 "lr" "${base[@]}" --lr -0.5
expect_error 2 "lr" "${base[@]}" --lr 0
expect_error 2 "history" "${base[@]}" --history 0
expect_error 2 "threads" "${base[@]}" --threads 0
expect_error 2 "style-scale" "${base[@]}" --style-scale 0
expect_error 2 "style-blend" "${base[@]}" --style-blend 1,2
expect_error 2 "style-blend" "${base[@]}" --style-blend -1
expect_error 2 "max-memory" "${base[@]}" --max-memory lots
expect_error 2 "pooling" "${base[@]}" --pooling median
expect_error 2 "optimizer" "${base[@]}" --optimizer sgd
expect_error 2 "backend" "${base[@]}" --backend gpu
expect_error 2 "unknown option" "${base[@]}" --frobnicate
expect_error 2 "needs a value" "${base[@]}" --size
expect_error 2 "no content" -s "$S" -o "$tmp/out.png"
expect_error 2 "no output" -c "$C" -s "$S"
expect_error 2 "no style" -c "$C" -o "$tmp/out.png"
expect_error 2 "small" "${base[@]}" --size 2 --content-layers relu3_2

# --- layers
expect_error 2 "unknown layer 'relu9_1'" "${base[@]}" --style-layers relu1_1,relu9_1
expect_error 2 "unknown layer 'conv1_1'" "${base[@]}" --content-layers conv1_1
expect_error 2 "unknown layer 'relu1_3'" "${base[@]}" --content-layers relu1_3
expect_error 2 "relu4_2.*not in the weights" "${base[@]}" --content-layers relu4_2
expect_error 2 "relu5_1.*not in the weights" "${base[@]}" --style-layers relu1_1,relu5_1

# --- weights
: >"$tmp/empty.nstw"
head -c 1000 "$W" >"$tmp/truncated.nstw"
cp "$W" "$tmp/flipped.nstw"
printf '\xff' | dd of="$tmp/flipped.nstw" bs=1 seek=5000 conv=notrunc status=none
cp "$W" "$tmp/magic.nstw"
printf 'XXXX' | dd of="$tmp/magic.nstw" bs=1 seek=0 conv=notrunc status=none
cp "$W" "$tmp/version.nstw"
printf '\x07' | dd of="$tmp/version.nstw" bs=1 seek=4 conv=notrunc status=none
expect_error 1 "no such file|cannot open" -c "$C" -s "$S" -o "$tmp/out.png" --weights "$tmp/none.nstw"
expect_error 1 "empty|truncated|too short|not a" -c "$C" -s "$S" -o "$tmp/out.png" --weights "$tmp/empty.nstw"
expect_error 1 "truncated" -c "$C" -s "$S" -o "$tmp/out.png" --weights "$tmp/truncated.nstw"
expect_error 1 "checksum" -c "$C" -s "$S" -o "$tmp/out.png" --weights "$tmp/flipped.nstw"
expect_error 1 "magic|not an? .*weights|not a weights" -c "$C" -s "$S" -o "$tmp/out.png" --weights "$tmp/magic.nstw"
expect_error 1 "version" -c "$C" -s "$S" -o "$tmp/out.png" --weights "$tmp/version.nstw"
expect_error 1 "weights|magic|not a" -c "$C" -s "$S" -o "$tmp/out.png" --weights "$C"
expect_error 1 "checksum" info "$tmp/flipped.nstw"

# --- outputs
expect_error 1 "no such file|cannot|does not exist" -c "$C" -s "$S" -o "$tmp/missing-dir/out.png" --weights "$W" --size 32 -n 1 -q
mkdir -p "$tmp/ro" && chmod a-w "$tmp/ro"
if [ "$(id -u)" != 0 ]; then
	expect_error 1 "permission|cannot" -c "$C" -s "$S" -o "$tmp/ro/out.png" --weights "$W" --size 32 -n 1 -q
fi
expect_error 2 "-c - and -s - both read standard input, which can be read once" -c - -s - -o "$tmp/out.png" --weights "$W" </dev/null
expect_error 2 "-c - and --init - both read standard input" -c - -s "$S" --init - -o "$tmp/out.png" --weights "$W" </dev/null
expect_error 2 "-s names - \\(standard input\\) twice" -c "$C" -s -,- -o "$tmp/out.png" --weights "$W" </dev/null
# access(2) lets root "write" in /proc, where creating a file fails: tried by making the temporary
no_output=(/proc/nst-out.png) expect_error 1 "-o /proc/nst-out.png: cannot write in the folder /proc" -c "$C" -s "$S" -o /proc/nst-out.png --weights "$W" --size 32 -n 1
expect_error 2 "format|extension" -c "$C" -s "$S" -o "$tmp/out.xyz" --weights "$W" --size 32 -n 1 -q
[ ! -e "$tmp/out.xyz" ] && ok || bad "an .xyz output was written"
expect_error 1 "no such file|cannot|does not exist" "${base[@]}" --log "$tmp/missing-dir/log.csv"
# A failed run never replaces an existing file.
echo "keep me" >"$tmp/keep.png"
$NST -c "$tmp/missing.png" -s "$S" -o "$tmp/keep.png" --weights "$W" -q 2>/dev/null
[ "$(cat "$tmp/keep.png")" = "keep me" ] && ok || bad "a failed run replaced an existing output"

# --- memory limit: refused before anything runs
expect_error 3 "max-memory" "${base[@]}" --max-memory 1M

# --- good paths
run_ok() { # description, args...
	local what=$1; shift
	if $NST "$@" >"$tmp/stdout" 2>"$tmp/stderr"; then ok; else bad "$what: exit $?: $(tail -n 3 "$tmp/stderr")"; fi
}
for ext in png jpg bmp tga; do
	run_ok "output .$ext" -c "$C" -s "$S" -o "$tmp/o.$ext" --weights "$W" --size 32 -n 1 -q
	[ -s "$tmp/o.$ext" ] && ok || bad "no .$ext written"
done
"$PYTHON" -c "
from PIL import Image
import sys
for e, f in (('png','PNG'),('jpg','JPEG'),('bmp','BMP'),('tga','TGA')):
    im = Image.open('$tmp/o.' + e); assert im.format == f and im.size == (32, 24), (e, im.format, im.size)
" && ok || bad "output formats or sizes are wrong"
run_ok "grey/alpha/palette/1x1 inputs" -c "$tmp/grey.png" -s "$tmp/alpha.png,$tmp/palette.png,$tmp/one.png" \
	-o "$tmp/o2.png" --weights "$W" --size 32 -n 1 -q --style-blend 1,2,0.5 --content-layers relu1_1 --style-layers relu1_1
run_ok "iterations 0 writes the initial picture" "${base[@]}" -n 0
[ -s "$tmp/out.png" ] && ok || bad "-n 0 wrote nothing"
run_ok "log, save-every, sheet, adam, init random, original colours" -c "$C" -s "$S" -o "$tmp/r.png" --weights "$W" \
	--size 32 -n 4 --optimizer adam --init random --seed 3 --original-colors --save-every 2 --log "$tmp/log.csv" \
	--sheet "$tmp/sheet.png" --print-every 1
[ -s "$tmp/r-0002.png" ] && ok || bad "--save-every 2 did not write r-0002.png"
# several scales: each scale's pictures named with it (scale 2 overwrote scale 1's before)
run_ok "save-every, two scales" -c "$C" -s "$S" -o "$tmp/two.png" --weights "$W" --scales 16,32 --scale-iterations 4,4 --optimizer adam \
	--save-every 2
"$PYTHON" -c "
from PIL import Image
assert Image.open('$tmp/two-1-0002.png').size[0] == 16 and Image.open('$tmp/two-2-0002.png').size[0] == 32" 2>/dev/null &&
	[ ! -e "$tmp/two-0002.png" ] && ok "--save-every in two scales: two-1-0002.png (16 px), two-2-0002.png (32 px)" ||
	bad "--save-every in two scales: $(ls "$tmp" | grep '^two' | tr '\n' ' ')"
[ "$(head -n 1 "$tmp/log.csv")" = "iteration,total,content,style,tv,seconds" ] && ok || bad "log header"
[ "$(wc -l <"$tmp/log.csv")" -eq 6 ] && ok || bad "log rows: $(wc -l <"$tmp/log.csv") lines, expected 6"
"$PYTHON" -c "
from PIL import Image
im = Image.open('$tmp/sheet.png'); assert im.size[1] == 24 and im.size[0] > 3 * 32 - 4, im.size
" && ok || bad "sheet size"
grep -q "iteration 4/4" "$tmp/stderr" && ok || bad "no plain progress lines when not on a terminal"
run_ok "init from a picture, avg pooling, lbfgs" -c "$C" -s "$S" -o "$tmp/i.png" --weights "$W" --size 32 -n 4 \
	--init "$tmp/grey.png" --pooling avg -q
run_ok "max-memory that fits" "${base[@]}" --max-memory 2G
# Weights discovery: $NST_WEIGHTS, then beside the binary.
if NST_WEIGHTS="$W" $NST -c "$C" -s "$S" -o "$tmp/e.png" --size 32 -n 1 -q; then ok; else bad "NST_WEIGHTS not used"; fi
if NST_WEIGHTS="$tmp/none.nstw" $NST -c "$C" -s "$S" -o "$tmp/out.png" --size 32 -n 1 -q 2>"$tmp/stderr"; then
	bad "a missing NST_WEIGHTS file was not reported"
else
	grep -q "none.nstw" "$tmp/stderr" && ok || bad "NST_WEIGHTS error does not name the file"
fi
run_ok "info" info "$W"
grep -q "conv3_4" "$tmp/stdout" && ok || bad "nst info does not list conv3_4"
run_ok "help" --help
grep -q -- "--style-blend" "$tmp/stdout" && ok || bad "--help lacks --style-blend"
run_ok "version" --version

finish
