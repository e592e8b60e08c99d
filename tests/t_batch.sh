#!/usr/bin/env bash
# The one-pass mode's batches (issue 19, items 10 and 11; first-use F13, F17):
#  - a picture that cannot be read (a bad header, or a body cut short) does not stop the batch:
#    one line for it, the others written, a summary line, exit 1 (the first failure's code);
#  - -c DIR -o DIR, or a result that would replace one of the pictures, is refused before any
#    work (exit 2) and the originals stay as they were;
#  - a FIFO or a socket in a batch folder is skipped with one line, never opened (a FIFO would
#    wait for a writer for ever);
#  - results in -o out/styled/ are named without a double slash;
#  - --sheet works in the one-pass mode: photo | result;
#  - a missing single -c is named (not -o), -o NEWDIR/ is made for one picture, a reader that goes
#    away (-o - | head) is one line and exit 1 (not a silent SIGPIPE), --style-blend without -s on a
#    trained network says it is the arbitrary network's; --format with one -o file, and raw frames
#    into a picture name (-o x.png), are refused.
set -uo pipefail
name=t_batch
. "$(dirname "$0")/lib.sh"
small_pictures
M="$BUILD/styles/candy.nstw"

"$PYTHON" - "$C" "$tmp" <<'EOF'
import os, sys
from PIL import Image
c, tmp = sys.argv[1], sys.argv[2]
im = Image.open(c).resize((64, 48))
for d in ("in", "bad", "same"):
    os.makedirs(f"{tmp}/{d}", exist_ok=True)
    for name in ("a", "b", "d"):
        im.rotate(ord(name)).save(f"{tmp}/{d}/{name}.png")
open(f"{tmp}/bad/0header.png", "w").write("not a picture at all")
data = open(f"{tmp}/in/a.png", "rb").read()
open(f"{tmp}/bad/c-body.png", "wb").write(data[: len(data) // 3])  # the header whole, the body cut
EOF
count_results() { ls "$1" 2>/dev/null | grep -c '\.png$'; }

# A bad header and a bad body in the middle of a batch: the others are written.
$NST --model "$M" -c "$tmp/bad" -o "$tmp/out-bad" -q 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ "$(count_results "$tmp/out-bad")" -eq 3 ] && [ -s "$tmp/out-bad/d.png" ] && ok \
	|| bad "a batch with bad pictures: exit $rc, results: $(ls "$tmp/out-bad" 2>&1 | tr '\n' ' '): $(cat "$tmp/err")"
[ "$(grep -c . "$tmp/err")" -eq 3 ] && grep -q "0header.png" "$tmp/err" && grep -q "c-body.png" "$tmp/err" \
	&& grep -q "2 of 5 pictures failed" "$tmp/err" && ok || bad "a batch with bad pictures: the lines: $(cat "$tmp/err")"

# Never over the originals: the pictures' own folder, or a result named as a picture.
cp -r "$tmp/same" "$tmp/same.orig"
expect_error 2 "folder of the pictures" --model "$M" -c "$tmp/same" -o "$tmp/same"
expect_error 2 "folder of the pictures" --model "$M" -c "$tmp/same/" -o "$tmp/same/./"
expect_error 2 "same file" --model "$M" -c "$tmp/same/a.png" -c "$tmp/in/b.png" -o "$tmp/same"
expect_error 2 "same file" --model "$M" -c "$tmp/same/a.png" -o "$tmp/same"
diff -r "$tmp/same" "$tmp/same.orig" >/dev/null && ok || bad "the originals changed"

# A FIFO and a socket in a batch folder: skipped with one line each, the pictures written.
mkfifo "$tmp/in/fifo.png"
"$PYTHON" -c "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$tmp/in/sock.png"
timeout 60 $NST --model "$M" -c "$tmp/in" -o "$tmp/out-in" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(count_results "$tmp/out-in")" -eq 3 ] && grep -q "skipped.*fifo.png.*FIFO" "$tmp/err" \
	&& grep -q "skipped.*sock.png.*socket" "$tmp/err" && ok \
	|| bad "a FIFO and a socket in the folder: exit $rc: $(cat "$tmp/err")"
rm -f "$tmp/in/fifo.png" "$tmp/in/sock.png"

# No double slash in the names of the results.
$NST --model "$M" -c "$tmp/in/a.png" -c "$tmp/in/b.png" -o "$tmp/styled/" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q "wrote $tmp/styled/a.png" "$tmp/err" && ! grep -q "//" "$tmp/err" && ok \
	|| bad "-o DIR/: exit $rc: $(cat "$tmp/err")"

# --sheet in the one-pass mode: photo | result, side by side.
$NST --model "$M" -c "$tmp/in/a.png" -o "$tmp/sheet-out.png" --sheet "$tmp/sheet.png" -q 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && "$PYTHON" -c "
from PIL import Image
im = Image.open('$tmp/sheet.png'); assert im.size == (128, 48), im.size" && ok || bad "--model --sheet: exit $rc: $(cat "$tmp/err")"
expect_error 2 "one picture" --model "$M" -c "$tmp/in" -o "$tmp/x" --sheet "$tmp/sheet2.png"

no_output=("$tmp/styled")
expect_error 1 "-c $tmp/missing/: No such file" --model "$M" -c "$tmp/missing/" -o "$tmp/styled/"
unset no_output
$NST --model "$M" -c "$C" -o "$tmp/newdir/" -q && [ -s "$tmp/newdir/c.png" ] && ok "-o NEWDIR/ is made for one picture" ||
	bad "-o NEWDIR/: $(ls "$tmp/newdir" 2>&1)"
$NST --model "$M" -c "$C" --size 400 -o - 2>"$tmp/err" | head -c 10 >/dev/null
rc=${PIPESTATUS[0]}
[ "$rc" -eq 1 ] && grep -q "cannot write to standard output" "$tmp/err" && ok "-o - | head: $(tail -n 1 "$tmp/err")" ||
	bad "-o - | head: exit $rc: $(cat "$tmp/err")"
expect_error 2 "style-blend is for --model arbitrary" --model "$M" -c "$C" --style-blend 1,2 -o "$tmp/out.png"
expect_error 2 "--format is the extension of results in a directory" --model "$M" -c "$C" --format jpg -o "$tmp/out.png"
expect_error 2 "-c - and -s - both read standard input" --model arbitrary -c - -s - -o "$tmp/out.png" <"$C"
expect_error 2 "-c - and -s - both read standard input" --model arbitrary -c - -s - -o "$tmp/out.png" </dev/null
expect_error 2 "-s is for --model arbitrary" --model "$M" -c - -s - -o "$tmp/out.png" </dev/null
no_output=(/proc/nst-out.png) expect_error 1 "-o /proc/nst-out.png: cannot write in the folder /proc" --model "$M" -c "$C" -o /proc/nst-out.png
head -c $((64 * 48 * 3 * 2)) /dev/urandom >"$tmp/clip.rgb"
expect_error 2 "frames go out as raw RGB24.*-o DIR/" --model "$M" -c "$tmp/clip.rgb" --frame-size 64x48 -o "$tmp/out.png"

finish
