#!/usr/bin/env bash
# Decoding as a hostile or careless user feeds it, from the command line (all files made here):
#   - memory bombs are refused before the memory is taken, exit 1 with one line: a 1x1 PNG whose
#     IDAT inflates to 128 MB, GIF / BMP / PSD headers of 16384x16384 in 35 / 118 / 104 bytes,
#     -c /dev/zero (refused from its first bytes, quickly);
#   - truncated BMP, run-length TGA and GIF files exit 1 (stb_image painted the missing part black);
#   - decoding is part of --max-memory: a 6000x4000 JPEG and PNG at --size 256 --max-memory 64M
#     finish with a peak RSS under 64 MiB (DCT scaling, row-by-row reduction) and about the
#     pixels of PIL's resize of the whole picture; a GIF whose canvas needs more than the budget
#     exits 3;
#   - EXIF orientation: JPEGs tagged 2..8 come out as PIL's ImageOps.exif_transpose gives them, in
#     both modes;
#   - pipes and FIFOs as paths: -c <(cat ...) and -c /dev/stdin work in both modes; `nst info` and
#     -c on a FIFO nobody writes to fail in about 10 s instead of hanging; a FIFO whose writer comes
#     a second later is read.
# Peak RSS (GNU time) is checked natively only: sanitizers and qemu add their own memory.
set -uo pipefail
name=t_decode
. "$(dirname "$0")/lib.sh"
CANDY="$BUILD/styles/candy.nstw"
need "$W"
measure_rss=1
if [ -n "$EMU" ] || [[ "$BUILD" == */san ]] || ! [ -x /usr/bin/time ]; then
	measure_rss=0
	echo "note: peak RSS not checked (sanitizer or emulated build, or no /usr/bin/time)"
fi

"$PYTHON" - "$tmp" <<'EOF'
import struct, sys, zlib
import numpy as np
from PIL import Image
t = sys.argv[1]

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

# 1x1 RGB PNG whose IDAT inflates to 128 MiB
z = zlib.compressobj(9)
idat = z.compress(b"\0\x10\x20\x30")
zeros = bytes(1 << 20)
for _ in range(128):
    idat += z.compress(zeros)
idat += z.flush()
open(f"{t}/bomb.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
                                  + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
S = 16384
# GIF: 16384x16384 screen and image, a 2-colour table, a clear code and the end: 35 bytes
gif = b"GIF89a" + struct.pack("<HHBBB", S, S, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
gif += b"\x2c" + struct.pack("<HHHHB", 0, 0, S, S, 0) + b"\x02\x02\x04\x05\x00\x3b"
assert len(gif) == 35
open(f"{t}/bomb.gif", "wb").write(gif)
# BMP: 24-bit 16384x16384, 64 bytes of pixels: 118 bytes
bmp = b"BM" + struct.pack("<IHHI", 118, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, S, S, 1, 24, 0, 0, 2835, 2835, 0, 0)
bmp += bytes(64)
assert len(bmp) == 118
open(f"{t}/bomb.bmp", "wb").write(bmp)
# PSD: RGB 16384x16384, run-length coded, 64 bytes of data: 104 bytes
psd = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, S, S, 8, 3) + struct.pack(">IIIH", 0, 0, 0, 1) + bytes(64)
assert len(psd) == 104
open(f"{t}/bomb.psd", "wb").write(psd)
# a GIF whose 16384x16384 canvas holds a 1x1 image: a real file, but stb_image takes 12 bytes a
# pixel of the canvas (3 GiB)
canvas = b"GIF89a" + struct.pack("<HHBBB", S, S, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
canvas += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00\x3b"
open(f"{t}/canvas.gif", "wb").write(canvas)

# Small pictures, whole and cut: BMP, run-length TGA, GIF
rng = np.random.default_rng(7)
noise = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
noise.save(f"{t}/whole.bmp")
noise.save(f"{t}/whole.tga", compression="tga_rle")
noise.quantize(64).save(f"{t}/whole.gif")
for ext in ("bmp", "tga", "gif"):
    data = open(f"{t}/whole.{ext}", "rb").read()
    open(f"{t}/cut.{ext}", "wb").write(data[: len(data) * 6 // 10])

# 24 megapixels, as a JPEG (what a phone takes) and a PNG; smooth, so they are quick to make
y, x = np.mgrid[0:4000, 0:6000]
big = np.stack([(x * 255 // 5999), (y * 255 // 3999), ((x // 500 + y // 500) % 2) * 200 + 20], -1).astype(np.uint8)
Image.fromarray(big).save(f"{t}/big.jpg", quality=90)
Image.fromarray(big).save(f"{t}/big.png", compress_level=1)
for f in ("big.jpg", "big.png"):
    Image.open(f"{t}/{f}").convert("RGB").resize((256, 171), Image.BICUBIC).save(f"{t}/{f}-ref.png")

# EXIF orientation: a 60x40 picture with an asymmetric pattern, tagged 1..8
pat = np.zeros((40, 60, 3), np.uint8)
pat[..., 0] = np.arange(60)[None, :] * 4
pat[..., 1] = np.arange(40)[:, None] * 6
pat[2:12, 3:30, 2] = 255
for o in range(1, 9):
    ex = Image.Exif()
    ex[0x0112] = o
    Image.fromarray(pat).save(f"{t}/exif{o}.jpg", quality=95, exif=ex.tobytes())
    from PIL import ImageOps
    ImageOps.exif_transpose(Image.open(f"{t}/exif{o}.jpg")).convert("RGB").save(f"{t}/exif{o}-ref.png")
Image.fromarray(pat).save(f"{t}/small.png")
EOF
[ -f "$tmp/exif8-ref.png" ] || { echo "t_decode: could not make the pictures"; exit 1; }

# run NAME CMD...: runs CMD (60 s at most) under GNU time: $rc, $rss_kib, $secs, stderr in $tmp/last.err
run() {
	local key
	key=$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'); shift
	local t0=$(date +%s%N)
	if [ "$measure_rss" = 1 ]; then
		timeout 60 /usr/bin/time -f %M -o "$tmp/$key.rss" "$@" >"$tmp/$key.out" 2>"$tmp/last.err"
	else
		timeout 60 "$@" >"$tmp/$key.out" 2>"$tmp/last.err"
	fi
	rc=$?
	secs=$(( ($(date +%s%N) - t0) / 1000000000 ))
	rss_kib=$(tail -n 1 "$tmp/$key.rss" 2>/dev/null || echo 0)
	case $rss_kib in *[!0-9]* | "") rss_kib=0 ;; esac
}

# expect NAME CODE PATTERN MAX_MIB CMD...: exit CODE, with CODE != 0 exactly one stderr line
# matching PATTERN, a peak RSS under MAX_MIB.
expect() {
	local name=$1 code=$2 pattern=$3 max_mib=$4; shift 4
	run "$name" "$@"
	local lines err=$tmp/last.err
	lines=$(grep -c . "$err")
	if [ "$rc" -ne "$code" ]; then bad "$name: exit $rc, expected $code: $(head -c 400 "$err")"; return; fi
	if [ "$code" -ne 0 ] && [ "$lines" -ne 1 ]; then bad "$name: $lines lines on stderr, expected 1: $(head -c 400 "$err")"; return; fi
	if [ "$code" -ne 0 ] && ! grep -qiE "$pattern" "$err"; then bad "$name: '$(cat "$err")' does not match /$pattern/"; return; fi
	if [ "$measure_rss" = 1 ] && [ "$rss_kib" -gt $((max_mib * 1024)) ]; then
		bad "$name: peak RSS $((rss_kib / 1024)) MiB, over $max_mib MiB"; return
	fi
	echo "ok $name: exit $rc in ${secs} s, peak RSS $((rss_kib / 1024)) MiB: $(head -c 160 "$err")"
	ok
}

# A FIFO nobody writes to, started first: it takes the 10 s the wait allows, in the background.
mkfifo "$tmp/silent.fifo" "$tmp/silent2.fifo" "$tmp/late.fifo"
(t0=$(date +%s); timeout 30 $NST info "$tmp/silent.fifo" >/dev/null 2>"$tmp/fifo-info.err"
	echo "$? $(($(date +%s) - t0))" >"$tmp/fifo-info.rc") &
fifo_info=$!
(t0=$(date +%s); timeout 30 $NST -c "$tmp/silent2.fifo" -s "$tmp/small.png" -o "$tmp/o.png" --weights "$W" --size 32 \
	-n 0 -q >/dev/null 2>"$tmp/fifo-c.err"; echo "$? $(($(date +%s) - t0))" >"$tmp/fifo-c.rc") &
fifo_c=$!

run1=(-s "$tmp/small.png" -o "$tmp/out.png" --weights "$W" --size 64 -n 0 -q)
for f in bomb.png bomb.gif bomb.bmp bomb.psd; do
	expect "$f" 1 "truncated|corrupt|too much" 64 $NST -c "$tmp/$f" "${run1[@]}"
	expect "$f-max-memory" 1 "truncated|corrupt|too much" 64 $NST -c "$tmp/$f" "${run1[@]}" --max-memory 64M
done
expect "canvas.gif --max-memory 64M" 3 "decoding budget" 64 $NST -c "$tmp/canvas.gif" "${run1[@]}" --max-memory 64M
expect "-c /dev/zero" 1 "not a picture" 32 $NST -c /dev/zero "${run1[@]}"
[ "$secs" -le 5 ] && ok || bad "-c /dev/zero took $secs s"
for f in cut.bmp cut.tga cut.gif; do
	expect "$f" 1 "truncated" 64 $NST -c "$tmp/$f" "${run1[@]}"
	expect "whole.${f#cut.}" 0 "" 64 $NST -c "$tmp/whole.${f#cut.}" "${run1[@]}"
done

# 24 megapixels at --size 256 within --max-memory 64M: the decode is no longer the peak.
for f in big.jpg big.png; do
	expect "$f --size 256 --max-memory 64M" 0 "" 64 $NST -c "$tmp/$f" -s "$tmp/small.png" -o "$tmp/$f-out.png" \
		--weights "$W" --size 256 -n 0 --max-memory 64M -q
done
"$PYTHON" - "$tmp" <<'EOF' && ok || bad "the reduced 24-megapixel pictures are not PIL's resize of the whole"
import sys
import numpy as np
from PIL import Image
t = sys.argv[1]
for f in ("big.jpg", "big.png"):
    ref = np.asarray(Image.open(f"{t}/{f}-ref.png")).astype(int)
    out = np.asarray(Image.open(f"{t}/{f}-out.png")).astype(int)
    assert out.shape == ref.shape, (f, out.shape, ref.shape)
    d = np.abs(out - ref)
    print(f"{f}: mean |nst - PIL| {d.mean():.2f}, 99th percentile {np.percentile(d, 99):.0f}")
    assert d.mean() < 1.0 and np.percentile(d, 99) < 16, f
EOF
if [ -f "$CANDY" ]; then
	expect "--model big.jpg --size 256" 0 "" 96 $NST --model "$CANDY" -c "$tmp/big.jpg" -o "$tmp/fast.png" --size 256 --threads 1 -q
fi

# EXIF orientation, in both modes: the upright picture PIL gives, exactly (the same libjpeg).
for o in 1 2 3 4 5 6 7 8; do
	$NST -c "$tmp/exif$o.jpg" -s "$tmp/small.png" -o "$tmp/exif$o-out.png" --weights "$W" --size 60 -n 0 -q \
		2>"$tmp/exif.err" || bad "exif$o.jpg: $(cat "$tmp/exif.err")"
	if [ -f "$CANDY" ]; then
		$NST --model "$CANDY" -c "$tmp/exif$o.jpg" -o "$tmp/exif$o-fast.png" --strength 0 --threads 1 -q \
			2>"$tmp/exif.err" || bad "--model exif$o.jpg: $(cat "$tmp/exif.err")"
	fi
done
"$PYTHON" - "$tmp" "$([ -f "$CANDY" ] && echo fast)" <<'EOF' && ok || bad "EXIF orientation"
import sys
import numpy as np
from PIL import Image
t, fast = sys.argv[1], sys.argv[2] == "fast"
bad = 0
for o in range(1, 9):
    ref = np.asarray(Image.open(f"{t}/exif{o}-ref.png"))
    for kind in ["out"] + (["fast"] if fast else []):
        got = np.asarray(Image.open(f"{t}/exif{o}-{kind}.png"))
        if got.shape != ref.shape or (got != ref).any():
            print(f"orientation {o} ({kind}): {got.shape[1]}x{got.shape[0]}, PIL {ref.shape[1]}x{ref.shape[0]}, "
                  f"{int((got != ref).sum()) if got.shape == ref.shape else -1} values differ")
            bad += 1
sys.exit(1 if bad else 0)
EOF

# Pipes given as paths.
expect "-c <(cat)" 0 "" 256 $NST -c <(cat "$tmp/exif6.jpg") -s "$tmp/small.png" -o "$tmp/pipe.png" --weights "$W" --size 60 -n 0 -q
cmp -s "$tmp/pipe.png" "$tmp/exif6-out.png" && ok || bad "-c <(cat exif6.jpg) differs from the file"
if [ -f "$CANDY" ]; then
	expect "--model -c <(cat)" 0 "" 256 $NST --model "$CANDY" -c <(cat "$tmp/exif6.jpg") -o "$tmp/pipe-fast.png" \
		--strength 0 --threads 1 -q
	cmp -s "$tmp/pipe-fast.png" "$tmp/exif6-fast.png" && ok || bad "--model -c <(cat exif6.jpg) differs from the file"
	cat "$tmp/exif6.jpg" | $NST --model "$CANDY" -c /dev/stdin -o "$tmp/stdin-fast.png" --strength 0 --threads 1 -q \
		2>"$tmp/stdin.err" && cmp -s "$tmp/stdin-fast.png" "$tmp/exif6-fast.png" && ok ||
		bad "--model -c /dev/stdin from a pipe: $(cat "$tmp/stdin.err")"
	expect "--model -c /dev/zero" 1 "not a picture" 64 $NST --model "$CANDY" -c /dev/zero -o "$tmp/z.png" -q
fi
cat "$tmp/exif6.jpg" | $NST -c /dev/stdin -s "$tmp/small.png" -o "$tmp/stdin.png" --weights "$W" --size 60 -n 0 -q \
	2>"$tmp/stdin.err" && cmp -s "$tmp/stdin.png" "$tmp/exif6-out.png" && ok || bad "-c /dev/stdin from a pipe: $(cat "$tmp/stdin.err")"
# A FIFO whose writer comes a second later.
(sleep 1; cat "$tmp/exif6.jpg" >"$tmp/late.fifo") &
expect "-c FIFO, writer 1 s late" 0 "" 256 $NST -c "$tmp/late.fifo" -s "$tmp/small.png" -o "$tmp/late.png" --weights "$W" \
	--size 60 -n 0 -q
cmp -s "$tmp/late.png" "$tmp/exif6-out.png" && ok || bad "the late FIFO's picture differs from the file"

# The silent FIFOs: both gave up with one line, `nst info` (weights: a FIFO is no regular file) at
# once, -c after the 10 s wait.
wait "$fifo_info" "$fifo_c"
for what in info c; do
	read -r rc_f secs_f <"$tmp/fifo-$what.rc"
	if [ "$rc_f" = 1 ] && [ "$(grep -c . "$tmp/fifo-$what.err")" = 1 ] && grep -qiE "FIFO|regular" "$tmp/fifo-$what.err" &&
		[ "$secs_f" -le 15 ]; then
		echo "ok silent FIFO ($what): exit 1 in $secs_f s: $(cat "$tmp/fifo-$what.err")"
		ok
	else
		bad "silent FIFO ($what): exit $rc_f in $secs_f s: $(cat "$tmp/fifo-$what.err")"
	fi
done

finish
