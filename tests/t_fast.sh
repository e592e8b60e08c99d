#!/usr/bin/env bash
# Feed-forward mode from the command line (nst --model) against ../shared/reference/torch_fast.py:
#   - parity: --raw output against torch_fast.py --raw within 1e-3 relative (L2), fp32, for all
#     five models, on pictures whose sides are multiples of 4 (64x48, and 256x172 unless under
#     emulation); the PNG is exactly round(clamp(raw)) and within 1 of the reference's PNG;
#   - a picture whose sides are not multiples of 4 (61x45): the output has its size, and equals
#     the reference run on the picture padded by repeating its last row / column, cropped back;
#   - --strength 0 gives the input exactly, --strength 0.5 round(0.5 * clamp(raw) + 0.5 * input);
#   - several pictures and a directory (different sizes, one plan): each result, named after its
#     picture, equals the one-picture run; --format jpg; files that are not pictures are skipped;
#   - standard input to standard output: `nst -c - -o -` gives the same PNG as the file run;
#   - named models are found beside the binary (styles/) and in $NST_STYLES;
#   - errors: one line on stderr, the exit code, no output: unknown model name (2), missing model
#     file (1), VGG weights as a model (1), several pictures into a file or to stdout (2), no -c
#     or -o (2), --strength outside 0..1 (2), a missing picture (1), two pictures with one name (2).
# Speed beside torch_fast.py is measured by the benchmark, not here: make compare (--fast).
set -uo pipefail
name=t_fast
. "$(dirname "$0")/lib.sh"
REF="$SHARED/reference/torch_fast.py"
MODELS=(candy mosaic pointilism rain_princess udnie)

for f in "$REF" "$BUILD/nst"; do
	[ -e "$f" ] || { echo "t_fast: missing $f"; exit 1; }
done
for m in "${MODELS[@]}"; do
	[ -f "$BUILD/styles/$m.nstw" ] || { echo "t_fast: missing $BUILD/styles/$m.nstw (run make weights)"; exit 1; }
	[ -f "$SHARED/fast-styles/$m.bin" ] || { echo "t_fast: missing $SHARED/fast-styles/$m.bin"; exit 1; }
done
if [ -n "$EMU" ]; then SMALL=32x24 LARGE=; else SMALL=64x48 LARGE=256x172; fi

# Pictures, made once with PIL: sides multiples of 4, an odd-sized one and its edge-padded twin,
# and a directory of pictures of several sizes.
"$PYTHON" - "$SHARED/images" "$tmp" "$SMALL" "$LARGE" <<'EOF'
import os, sys
import numpy as np
from PIL import Image
src, dst, small, large = sys.argv[1:5]
def size(s): return tuple(int(v) for v in s.split("x"))
chelsea = Image.open(f"{src}/chelsea.png").convert("RGB")
astronaut = Image.open(f"{src}/astronaut.png").convert("RGB")
chelsea.resize(size(small), Image.BICUBIC).save(f"{dst}/small.png")
if large:
    astronaut.resize(size(large), Image.BICUBIC).save(f"{dst}/large.png")
odd = np.asarray(chelsea.resize((61, 45), Image.BICUBIC))
Image.fromarray(odd).save(f"{dst}/odd.png")
Image.fromarray(np.pad(odd, ((0, 3), (0, 3), (0, 0)), mode="edge")).save(f"{dst}/odd_padded.png")
os.makedirs(f"{dst}/in/sub")
astronaut.resize((40, 28), Image.BICUBIC).save(f"{dst}/in/a.png")
chelsea.resize((33, 21), Image.BICUBIC).save(f"{dst}/in/b.jpg", quality=95)
chelsea.resize((20, 52), Image.BICUBIC).save(f"{dst}/in/c.png")
open(f"{dst}/in/notes.txt", "w").write("not a picture\n")
chelsea.resize((8, 8)).save(f"{dst}/in/sub/ignored.png")
EOF
pictures=(small)
[ -n "$LARGE" ] && pictures+=(large)

# --- parity with the reference, every model ---------------------------------------------------
# The reference: torch_fast.py itself once (its command line, --raw), and its load / forward in one
# Python process for the rest (tests/fast_reference.py: the same code, without importing torch
# fifteen times).
for m in "${MODELS[@]}"; do
	for p in "${pictures[@]}" odd; do
		if $NST --model "$m" -c "$tmp/$p.png" -o "$tmp/$m-$p.png" --raw "$tmp/$m-$p.f32" --threads 2 -q; then ok; else
			bad "nst --model $m -c $p.png failed"; fi
	done
done
"$PYTHON" "$REF" "$SHARED/fast-styles/candy.bin" "$tmp/small.png" "$tmp/ref-cli.png" --raw "$tmp/ref-cli.f32" \
	--threads 2 >/dev/null || bad "torch_fast.py failed"
jobs=()
for m in "${MODELS[@]}"; do
	for p in "${pictures[@]}"; do jobs+=("$m:$p"); done
	jobs+=("$m:odd:odd_padded")
done
"$PYTHON" tests/fast_reference.py "$SHARED" "$tmp" "${jobs[@]}" || bad "the reference failed"
cmp -s "$tmp/ref-cli.f32" "$tmp/ref-candy-small.f32" && ok || bad "torch_fast.py's command line and its functions differ"
"$PYTHON" - "$tmp" "${pictures[*]}" "${MODELS[@]}" <<'EOF' || bad "parity with torch_fast.py (above)"
import sys
import numpy as np
from PIL import Image
tmp, pictures, models = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
fails = 0
def check(ok, what):
    global fails
    fails += not ok
    print(("ok   " if ok else "FAIL ") + what)
def load(p): return np.asarray(Image.open(p).convert("RGB")).astype(np.int32)
for m in models:
    for p in pictures + ["odd"]:
        img = load(f"{tmp}/{p}.png")
        h, w = img.shape[:2]
        ours = np.fromfile(f"{tmp}/{m}-{p}.f32", "<f4")
        ref = np.fromfile(f"{tmp}/ref-{m}-{p}.f32", "<f4")
        png, ref_png = load(f"{tmp}/{m}-{p}.png"), load(f"{tmp}/ref-{m}-{p}.png")
        if p == "odd":  # the reference ran on the padded picture: crop it back
            ref = ref.reshape(h + 3, w + 3, 3)[:h, :w].reshape(-1)
            ref_png = ref_png[:h, :w]
        check(ours.size == h * w * 3 and png.shape == img.shape,
              f"{m} {p}: output {png.shape[1]}x{png.shape[0]}, raw {ours.size} values, picture {w}x{h}")
        if ours.size != ref.size:
            check(False, f"{m} {p}: {ours.size} raw values, the reference has {ref.size}")
            continue
        rel = float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))
        check(rel <= 1e-3, f"{m} {p} {w}x{h}: raw vs torch_fast.py --raw: relative L2 {rel:.2e} (bound 1e-3)")
        rounded = np.clip(np.rint(ours.reshape(h, w, 3)), 0, 255).astype(np.int32)
        check(np.array_equal(png, rounded), f"{m} {p}: the PNG is round(clamp(raw))")
        d = np.abs(png - ref_png)
        check(d.max() <= 1 and (d > 0).mean() < 0.01,
              f"{m} {p}: PNG vs the reference's: max difference {d.max()}, {100 * (d > 0).mean():.3f}% differ")
sys.exit(1 if fails else 0)
EOF

# --- strength -----------------------------------------------------------------------------------
$NST --model candy -c "$tmp/odd.png" -o "$tmp/s0.png" --strength 0 -q || bad "--strength 0 failed"
$NST --model candy -c "$tmp/odd.png" -o "$tmp/s5.png" --strength 0.5 -q || bad "--strength 0.5 failed"
"$PYTHON" - "$tmp" <<'EOF' && ok || bad "strength"
import sys
import numpy as np
from PIL import Image
t = sys.argv[1]
def load(p): return np.asarray(Image.open(p).convert("RGB")).astype(np.float64)
x, s0, s5 = load(f"{t}/odd.png"), load(f"{t}/s0.png"), load(f"{t}/s5.png")
raw = np.fromfile(f"{t}/candy-odd.f32", "<f4").astype(np.float64).reshape(x.shape)
want = np.rint(0.5 * np.clip(raw, 0, 255) + 0.5 * x)
d = np.abs(s5 - want)
print(f"strength 0: {int((s0 != x).sum())} values differ from the input; strength 0.5: max difference {d.max()} "
      f"from round(0.5 * clamp(raw) + 0.5 * input), {int((d > 0).sum())} of {d.size} off (float ties)")
sys.exit(0 if np.array_equal(s0, x) and d.max() <= 1 and (d > 0).mean() < 0.01 else 1)
EOF

# --- several pictures, a directory, stdin / stdout ----------------------------------------------
for f in a.png b.jpg c.png; do
	$NST --model mosaic -c "$tmp/in/$f" -o "$tmp/one-${f%.*}.png" -q || bad "mosaic $f"
done
$NST --model mosaic -c "$tmp/in" -o "$tmp/outdir" -q || bad "directory mode failed"
$NST --model mosaic -c "$tmp/in/a.png" -c "$tmp/in/c.png" -o "$tmp/outjpg" --format jpg -q || bad "two pictures, --format jpg"
$NST --model mosaic -c - -o - -q <"$tmp/in/a.png" >"$tmp/piped.png" || bad "stdin to stdout failed"
"$PYTHON" - "$tmp" <<'EOF' && ok || bad "several pictures / directory / pipe"
import os, sys
import numpy as np
from PIL import Image
t = sys.argv[1]
def load(p): return np.asarray(Image.open(p).convert("RGB"))
fails = 0
names = sorted(os.listdir(f"{t}/outdir"))
if names != ["a.png", "b.png", "c.png"]:
    print("FAIL directory mode wrote", names); fails += 1
for n in ("a", "b", "c"):
    one, many = load(f"{t}/one-{n}.png"), load(f"{t}/outdir/{n}.png")
    if not np.array_equal(one, many):
        print(f"FAIL {n}: the directory run (one plan for all sizes) differs from the single run"); fails += 1
if sorted(os.listdir(f"{t}/outjpg")) != ["a.jpg", "c.jpg"]:
    print("FAIL --format jpg wrote", sorted(os.listdir(f"{t}/outjpg"))); fails += 1
else:
    d = np.abs(load(f"{t}/outjpg/c.jpg").astype(int) - load(f"{t}/one-c.png").astype(int))
    if load(f"{t}/outjpg/c.jpg").shape != (52, 20, 3) or d.mean() > 8:
        print(f"FAIL c.jpg: shape {load(f'{t}/outjpg/c.jpg').shape}, mean difference {d.mean():.1f} from the PNG"); fails += 1
if not np.array_equal(load(f"{t}/piped.png"), load(f"{t}/one-a.png")):
    print("FAIL stdin -> stdout differs from the file run"); fails += 1
print("several pictures, directory, pipe:", "FAIL" if fails else "ok")
sys.exit(1 if fails else 0)
EOF

# --- model lookup ---------------------------------------------------------------------------------
mkdir -p "$tmp/mystyles"
cp "$BUILD/styles/udnie.nstw" "$tmp/mystyles/myown.nstw"
if NST_STYLES="$tmp/mystyles" $NST --model myown -c "$tmp/in/a.png" -o "$tmp/myown.png" -q &&
	$NST --model "$BUILD/styles/udnie.nstw" -c "$tmp/in/a.png" -o "$tmp/udnie-file.png" -q &&
	cmp -s "$tmp/myown.png" "$tmp/udnie-file.png"; then ok; else bad "NST_STYLES lookup / a FILE.nstw model"; fi

# A model name with control characters (a newline, an escape sequence) is refused by the loader,
# in one line that carries none of them.
"$PYTHON" - "$BUILD/styles/candy.nstw" "$tmp/evil.nstw" <<'EOF'
import struct, sys, zlib
data = bytearray(open(sys.argv[1], "rb").read())
data[24:56] = b"evil\n\x1b[2J".ljust(32, b"\0")   # the header's model field
data[64:68] = b"\0\0\0\0"                          # the checksum, computed with itself as 0
data[64:68] = struct.pack("<I", zlib.crc32(bytes(data)) & 0xffffffff)
open(sys.argv[2], "wb").write(bytes(data))
EOF
$NST --model "$tmp/evil.nstw" -c "$tmp/in/a.png" -o "$tmp/evil.png" 2>"$tmp/evil.err"
rc=$?
if [ "$rc" -eq 1 ] && [ ! -e "$tmp/evil.png" ] && ! grep -q $'\x1b' "$tmp/evil.err" &&
	[ "$(wc -l <"$tmp/evil.err")" -eq 1 ] && grep -q "not NUL-terminated printable ASCII" "$tmp/evil.err"; then ok; else
	bad "a model name with control characters: $(cat -v "$tmp/evil.err")"; fi

# --- errors: one line, the exit code, no output ----------------------------------------------------
no_output=("$tmp/err.png" "$tmp/errdir") # what expect_error checks is not written
A="$tmp/in/a.png"
expect_error 2 "unknown model 'picasso'" --model picasso -c "$A" -o "$tmp/err.png"
expect_error 1 "nothere.nstw.*(no such file|cannot open)" --model "$tmp/nothere.nstw" -c "$A" -o "$tmp/err.png"
if [ -f "$BUILD/vgg19.nstw" ]; then
	expect_error 1 "VGG" --model "$BUILD/vgg19.nstw" -c "$A" -o "$tmp/err.png"
fi
: >"$tmp/empty.nstw"
expect_error 1 "empty.nstw" --model "$tmp/empty.nstw" -c "$A" -o "$tmp/err.png"
NST_STYLES="$tmp/nowhere" expect_error 2 "unknown model" --model nonesuch -c "$A" -o "$tmp/err.png"
expect_error 2 "no picture" --model candy -o "$tmp/err.png"
expect_error 2 "no output" --model candy -c "$A"
expect_error 2 "no model" -c "$A" -o "$tmp/err.png" --model ""
expect_error 2 "strength" --model candy -c "$A" -o "$tmp/err.png" --strength 1.5
expect_error 2 "strength" --model candy -c "$A" -o "$tmp/err.png" --strength nan
expect_error 2 "must be a directory" --model candy -c "$A" -c "$tmp/in/c.png" -o "$tmp/odd.png"
expect_error 2 "standard output" --model candy -c "$tmp/in" -o -
expect_error 2 "standard input" --model candy -c - -c "$A" -o "$tmp/errdir"
expect_error 2 "both be written" --model candy -c "$A" -c "$tmp/in/a.png" -o "$tmp/errdir"
expect_error 2 "unknown option" --model candy -c "$A" -o "$tmp/err.png" --bogus
expect_error 1 "missing.png" --model candy -c "$tmp/missing.png" -o "$tmp/err.png"
expect_error 1 "notes.txt" --model candy -c "$tmp/in/notes.txt" -o "$tmp/err.png"
expect_error 1 "standard input" --model candy -c - -o "$tmp/err.png" </dev/null

# --- benchmark (optional) ---------------------------------------------------------------------------
finish
