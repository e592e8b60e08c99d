#!/usr/bin/env bash
# Everything a run will write is checked before any work (issue 19, items 6-8):
#  - output (-o), --log, --sheet, --checkpoint, the --save-every names, --dump-grad, --raw and the
#    one-pass result names: a known extension, an existing writable folder, not a folder, a name
#    within NAME_MAX / PATH_MAX: one line, exit 2 (the command line is wrong) or 1 (the folder is
#    missing or cannot be written), and no iteration run (no progress line);
#  - no two outputs are the same file, and no input (content, style, --init picture, weights,
#    --resume, a one-pass picture) is an output, also through symbolic and hard links;
#  - write errors are not ignored: --log on a full device, nst info / --help / --version on a full
#    standard output; --dump-grad and --raw leave no partial file;
#  - -o through a symbolic link writes the link's target (the link stays); a FIFO as -o gets the
#    picture as a stream and stays a FIFO.
set -uo pipefail
name=t_outputs
. "$(dirname "$0")/lib.sh"
small_pictures
cp "$BUILD/styles/candy.nstw" "$tmp/candy.nstw"
M="$tmp/candy.nstw"
# Without -q: a run that starts prints its header and progress lines, so "one line" means "no work".
run=(-c "$C" -s "$S" --weights "$W" --size 32 -n 20)
long=$(printf 'x%.0s' $(seq 1 252))        # a 252-character name: with ".png", 256 > NAME_MAX
mkdir -p "$tmp/adir"

# --- item 6: checked before any work
expect_error 2 "unknown picture format.*webp" "${run[@]}" -o "$tmp/out.webp"
expect_error 2 "extension" "${run[@]}" -o "$tmp/noext"
expect_error 1 "does not exist|no such" "${run[@]}" -o "$tmp/missing/out.png"
expect_error 2 "folder|directory" "${run[@]}" -o "$tmp/adir"
expect_error 2 "too long" "${run[@]}" -o "$tmp/$long.png"
expect_error 2 "too long" "${run[@]}" -o "$tmp/$(printf 'd%.0s' $(seq 1 200))/$(printf '%0200d' 0)/$(printf '%04000d' 0).png"
expect_error 1 "does not exist|no such" "${run[@]}" -o "$tmp/out.png" --log "$tmp/missing/log.csv"
expect_error 2 "folder|directory" "${run[@]}" -o "$tmp/out.png" --log "$tmp/adir"
expect_error 2 "unknown picture format.*webp" "${run[@]}" -o "$tmp/out.png" --sheet "$tmp/sheet.webp"
expect_error 1 "does not exist|no such" "${run[@]}" -o "$tmp/out.png" --sheet "$tmp/missing/sheet.png"
expect_error 1 "does not exist|no such" "${run[@]}" -o "$tmp/out.png" --checkpoint "$tmp/missing/c.ckpt"
expect_error 2 "folder|directory" "${run[@]}" -o "$tmp/out.png" --checkpoint "$tmp/adir"
expect_error 2 "too long" "${run[@]}" -o "$tmp/out.png" --checkpoint "$tmp/${long:0:248}"
# "<250 x>.png" itself fits, "<250 x>-0010.png" does not.
expect_error 2 "too long" "${run[@]}" -o "$tmp/${long:0:250}.png" --save-every 10
expect_error 1 "does not exist|no such" "${run[@]}" -o "$tmp/out.png" --dump-grad "$tmp/missing/g.raw"
expect_error 2 "folder|directory" "${run[@]}" -o "$tmp/out.png" --dump-grad "$tmp/adir"
# A folder that cannot be written: as an unprivileged user (root writes anywhere).
mkdir -p "$tmp/ro" && chmod 555 "$tmp/ro" && chmod 755 "$tmp"
if [ "$(id -u)" != 0 ]; then
	expect_error 1 "cannot write|permission" "${run[@]}" -o "$tmp/ro/out.png"
elif command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$W"; then
	NST="setpriv --reuid=65534 --regid=65534 --clear-groups $NST" \
		expect_error 1 "cannot write|permission" "${run[@]}" -o "$tmp/ro/out.png"
	NST="setpriv --reuid=65534 --regid=65534 --clear-groups $NST" \
		expect_error 1 "cannot write|permission" "${run[@]}" -o "$tmp/out.png" --log "$tmp/ro/log.csv"
else
	echo "skipped: the unwritable folder (root, and no setpriv or an unreadable build for 'nobody')"
fi
# The one-pass mode: its output, its --raw and the names of its results in a folder.
expect_error 2 "unknown picture format.*webp" --model "$M" -c "$C" -o "$tmp/out.webp"
expect_error 1 "does not exist|no such" --model "$M" -c "$C" -o "$tmp/missing/out.png"
expect_error 1 "does not exist|no such" --model "$M" -c "$C" -o "$tmp/out.png" --raw "$tmp/missing/r.raw"
mkdir -p "$tmp/results/c.png" && cp "$C" "$tmp/c2.png"
expect_error 2 "folder|directory" --model "$M" -c "$C" -c "$tmp/c2.png" -o "$tmp/results"
[ ! -e "$tmp/results/c2.png" ] && ok || bad "one-pass: a result was written although another cannot be"

# --- item 7: no two outputs are one file; no input is an output
cp "$C" "$tmp/keep.png"
keep() { cmp -s "$C" "$tmp/keep.png" && ok || bad "an input was overwritten: $*"; cat "$C" >"$tmp/keep.png"; }
run7=(-s "$S" --weights "$W" --size 32 -n 20)
expect_error 2 "same file|is the|input" -c "$tmp/keep.png" "${run7[@]}" -o "$tmp/out.png" --log "$tmp/keep.png"; keep --log
expect_error 2 "same file|is the|input" -c "$tmp/keep.png" "${run7[@]}" -o "$tmp/out.png" --dump-grad "$tmp/keep.png"; keep --dump-grad
expect_error 2 "same file|is the|input" -c "$tmp/keep.png" "${run7[@]}" -o "$tmp/keep.png"; keep -o
expect_error 2 "same file|is the|input" -c "$C" -s "$tmp/keep.png" --weights "$W" --size 32 -n 20 -o "$tmp/keep.png"; keep "-o = style"
expect_error 2 "same file|is the|input" "${run[@]}" -o "$tmp/keep.png" --init "$tmp/keep.png"; keep "-o = --init"
cp "$W" "$tmp/w.nstw"
expect_error 2 "same file|is the|input" -c "$C" -s "$S" --weights "$tmp/w.nstw" --size 32 -n 20 -o "$tmp/out.png" --log "$tmp/w.nstw"
cmp -s "$W" "$tmp/w.nstw" && ok || bad "--log replaced the weights"
echo "not a checkpoint" >"$tmp/r.ckpt"
expect_error 2 "same file|is the|input" "${run[@]}" -o "$tmp/out.png" --resume "$tmp/r.ckpt" --log "$tmp/r.ckpt"
expect_error 2 "same file|same as" "${run[@]}" -o "$tmp/out.png" --checkpoint "$tmp/out.png"
expect_error 2 "same file|same as" "${run[@]}" -o "$tmp/out.png" --sheet "$tmp/./adir/../out.png"
expect_error 2 "same file|same as" "${run[@]}" -o "$tmp/out.png" --log "$tmp/o.csv" --dump-grad "$tmp/o.csv"
# Through links: a symbolic link and a hard link to the content picture.
ln -s keep.png "$tmp/link.png"
ln "$tmp/keep.png" "$tmp/hard.png"
expect_error 2 "same file|is the|input" -c "$tmp/keep.png" "${run7[@]}" -o "$tmp/out.png" --log "$tmp/link.png"; keep "--log = symlink"
expect_error 2 "same file|is the|input" -c "$tmp/keep.png" "${run7[@]}" -o "$tmp/hard.png"; keep "-o = hard link"
expect_error 2 "same file|is the|input" -c "$tmp/link.png" "${run7[@]}" -o "$tmp/out.png" --sheet "$tmp/hard.png"; keep "--sheet = hard link"
# A --save-every name that is an input: out-0010.png.
cp "$C" "$tmp/out-0010.png"
expect_error 2 "same file|is the|input" -c "$tmp/out-0010.png" "${run7[@]}" -o "$tmp/out.png" --save-every 10
cmp -s "$C" "$tmp/out-0010.png" && ok || bad "--save-every overwrote the content picture"
# One pass: the result or --raw on the picture.
expect_error 2 "same file|is the|input" --model "$M" -c "$tmp/keep.png" -o "$tmp/keep.png"; keep "one-pass -o"
expect_error 2 "same file|is the|input" --model "$M" -c "$tmp/keep.png" -o "$tmp/out.png" --raw "$tmp/link.png"; keep "one-pass --raw"
expect_error 2 "same file|is the|input" --model "$M" -c "$tmp/keep.png" -o "$tmp/out.png" --raw "$M"
cmp -s "$M" "$BUILD/styles/candy.nstw" && ok || bad "--raw replaced the model"
cp "$BUILD/styles/candy.nstw" "$M"

# --- item 8: write errors
rm -f "$tmp/out.png"
$NST "${run[@]}" -n 3 -q -o "$tmp/full.png" --log /dev/full 2>"$tmp/stderr"
rc=$?
[ $rc -ne 0 ] && [ "$(grep -c . "$tmp/stderr")" -eq 1 ] && grep -qi "space" "$tmp/stderr" && ok \
	|| bad "--log /dev/full: exit $rc: $(cat "$tmp/stderr")"
for args in "info $W" "--help" "--version" "--model candy --help"; do
	$NST $args >/dev/full 2>"$tmp/stderr"
	rc=$?
	[ $rc -ne 0 ] && [ "$(grep -c . "$tmp/stderr")" -eq 1 ] && grep -qi "space" "$tmp/stderr" && ok \
		|| bad "nst $args >/dev/full: exit $rc: $(cat "$tmp/stderr")"
done
# A file size limit (ulimit -f, in KiB) makes the write fail part way: nothing partial is left.
(trap '' XFSZ; ulimit -f 4; exec $NST "${run[@]}" -n 1 -q -o "$tmp/g.png" --dump-grad "$tmp/grad.raw") 2>"$tmp/stderr"
rc=$?
[ $rc -eq 1 ] && [ ! -e "$tmp/grad.raw" ] && no_temporaries "$tmp" && ok \
	|| bad "--dump-grad past the file size limit: exit $rc, $(ls -l "$tmp/grad.raw" 2>&1): $(cat "$tmp/stderr")"
"$PYTHON" -c "from PIL import Image; Image.open('$C').resize((64, 48)).save('$tmp/c64.png')"
(trap '' XFSZ; ulimit -f 16; exec $NST --model "$M" -c "$tmp/c64.png" -q -o "$tmp/r.png" --raw "$tmp/r.raw") 2>"$tmp/stderr"
rc=$?
[ $rc -eq 1 ] && [ ! -e "$tmp/r.raw" ] && no_temporaries "$tmp" && ok \
	|| bad "--raw past the file size limit: exit $rc, $(ls -l "$tmp/r.raw" 2>&1): $(cat "$tmp/stderr")"
# -o through a symbolic link writes the link's target; a dangling link creates its target.
mkdir -p "$tmp/real"
echo "old" >"$tmp/real/t.png"
ln -s real/t.png "$tmp/to-t.png"
ln -s real/new.png "$tmp/to-new.png"
$NST "${run[@]}" -n 1 -q -o "$tmp/to-t.png" && $NST "${run[@]}" -n 1 -q -o "$tmp/to-new.png" \
	&& $NST --model "$M" -c "$C" -q -o "$tmp/to-t.png" --raw "$tmp/to-new.png" -q 2>"$tmp/stderr"
rc=$?
[ $rc -eq 0 ] && [ -L "$tmp/to-t.png" ] && [ -L "$tmp/to-new.png" ] && file "$tmp/real/t.png" | grep >/dev/null PNG \
	&& [ -s "$tmp/real/new.png" ] && no_temporaries "$tmp" && ok \
	|| bad "-o through a symbolic link: exit $rc, $(ls -l "$tmp/to-t.png" "$tmp/real" 2>&1)"
# A FIFO as -o: the reader gets the PNG, the FIFO stays a FIFO.  When nst replaced the FIFO by a
# file, the reader still waits on the FIFO (ALIAS, a hard link to it): open it once to end it.
release_reader() { # fifo alias
	[ -p "$1" ] || timeout 5 sh -c ': >"$1"' sh "$2"
}
for mode in opt fast; do
	rm -f "$tmp/fifo.png" "$tmp/fifo-alias" "$tmp/got.png" && mkfifo "$tmp/fifo.png" && ln "$tmp/fifo.png" "$tmp/fifo-alias"
	timeout 60 cat "$tmp/fifo.png" >"$tmp/got.png" &
	reader=$!
	if [ $mode = opt ]; then timeout 60 $NST "${run[@]}" -n 1 -q -o "$tmp/fifo.png"; else
		timeout 60 $NST --model "$M" -c "$C" -q -o "$tmp/fifo.png"; fi
	rc=$?
	release_reader "$tmp/fifo.png" "$tmp/fifo-alias"
	wait $reader
	[ $rc -eq 0 ] && [ -p "$tmp/fifo.png" ] && file "$tmp/got.png" | grep >/dev/null PNG && ok \
		|| bad "$mode: a FIFO as -o: exit $rc, $(ls -l "$tmp/fifo.png"; file "$tmp/got.png")"
done
# A .jpg FIFO gets a JPEG.
rm -f "$tmp/fifo.jpg" "$tmp/fifo-alias" && mkfifo "$tmp/fifo.jpg" && ln "$tmp/fifo.jpg" "$tmp/fifo-alias"
timeout 60 cat "$tmp/fifo.jpg" >"$tmp/got.jpg" &
reader=$!
timeout 60 $NST --model "$M" -c "$C" -q -o "$tmp/fifo.jpg"
rc=$?
release_reader "$tmp/fifo.jpg" "$tmp/fifo-alias"
wait $reader
[ $rc -eq 0 ] && file "$tmp/got.jpg" | grep >/dev/null JPEG && ok || bad "a .jpg FIFO: exit $rc, $(file "$tmp/got.jpg")"
no_temporaries "$tmp" && ok || bad "temporary files left"

finish
