#!/usr/bin/env bash
# Builds the fuzzers' seed corpora (never committed):
#   OUT/corpus-image/    the pictures of ../shared/images resized small and saved in every format
#                        and pixel layout the decoder takes (PNG grey / alpha / palette / 16-bit /
#                        interlaced, baseline and progressive JPEG, BMP, TGA, GIF, PSD, PNM), crafted
#                        headers (0x0, 1x1, 100000x100000), and truncated variants;
#   OUT/corpus-weights/  small valid .nstw files (weights/convert.py random --blocks 1, and tiny
#                        hand-made VGG and feed-forward networks in float32 and float16), and
#                        truncated / wrong-magic / wrong-version / wrong-checksum variants.
#   tests/fuzz/make-corpus.sh [OUT]        (OUT default build/fuzz; PYTHON, SHARED from the environment)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-build/fuzz}
PYTHON=${PYTHON:-/usr/bin/python3}
SHARED=${SHARED:-../shared}
images=$OUT/corpus-image weights=$OUT/corpus-weights
rm -rf "$images.tmp" "$weights.tmp"
mkdir -p "$images.tmp" "$weights.tmp"

"$PYTHON" - "$SHARED/images" "$images.tmp" <<'EOF'
import io, os, struct, sys, zlib
from PIL import Image
src, out = sys.argv[1], sys.argv[2]

def save(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)

def pil(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()

def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

def png(w, h, depth, ctype, rows, interlace=0, extra=b""):
    """rows: raw scanlines (bytes) per pass already filtered; a minimal PNG writer so that we
    can make what PIL does not (interlaced, odd headers)."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

def adam7(img):
    """An interlaced 8-bit RGB PNG of img."""
    w, h = img.size
    px = img.load()
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        for y in range(y0, h, dy):
            xs = range(x0, w, dx)
            if not xs:
                continue
            raw += b"\0" + b"".join(bytes(px[x, y]) for x in xs)
    return png(w, h, 8, 2, raw, interlace=1)

def psd(img, rle=False):
    w, h = img.size
    planes = [img.getchannel(c).tobytes() for c in "RGB"]
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3) + struct.pack(">III", 0, 0, 0)
    if not rle:
        return head + struct.pack(">H", 0) + b"".join(planes)
    counts, data = b"", b""
    for plane in planes:
        for y in range(h):
            row = plane[y * w:(y + 1) * w]
            packed = b""
            for i in range(0, len(row), 128):  # literal runs only: valid PackBits
                part = row[i:i + 128]
                packed += bytes([len(part) - 1]) + part
            counts += struct.pack(">H", len(packed))
            data += packed
    return head + struct.pack(">H", 1) + counts + data

names = sorted(n for n in os.listdir(src) if n.lower().endswith((".png", ".jpg", ".jpeg")))
seeds = []
for i, name in enumerate(names):
    base = os.path.splitext(name)[0]
    im = Image.open(os.path.join(src, name)).convert("RGB")
    small = im.resize((24, 17) if i % 2 else (13, 20))
    seeds += [
        (base + ".png", pil(small, "PNG")),
        (base + "-grey.png", pil(small.convert("L"), "PNG")),
        (base + "-alpha.png", pil(small.convert("RGBA"), "PNG")),
        (base + "-palette.png", pil(small.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG")),
        (base + "-16bit.png", pil(small.convert("I").point(lambda v: v * 257).convert("I;16"), "PNG")),
        (base + "-interlaced.png", adam7(small)),
        (base + ".jpg", pil(small, "JPEG", quality=80)),
        (base + "-progressive.jpg", pil(small, "JPEG", quality=70, progressive=True)),
        (base + "-444.jpg", pil(small, "JPEG", quality=90, subsampling=0)),
        (base + "-grey.jpg", pil(small.convert("L"), "JPEG", quality=75)),
        (base + ".bmp", pil(small, "BMP")),
        (base + "-palette.bmp", pil(small.convert("P"), "BMP")),
        (base + "-1bit.bmp", pil(small.convert("1"), "BMP")),
        (base + ".tga", pil(small, "TGA")),
        (base + "-rle.tga", pil(small, "TGA", compression="tga_rle")),
        (base + ".gif", pil(small, "GIF")),
        (base + ".ppm", pil(small, "PPM")),
        (base + ".pgm", pil(small.convert("L"), "PPM")),
        (base + ".psd", psd(small)),
        (base + "-rle.psd", psd(small, rle=True)),
    ]
    if i < 2:  # EXIF orientations (PIL writes little-endian TIFF), CMYK
        for o in (3, 6, 8):
            exif = Image.Exif()
            exif[0x0112] = o
            seeds.append((base + "-exif%d.jpg" % o, pil(small, "JPEG", quality=80, exif=exif.tobytes())))
        seeds.append((base + "-cmyk.jpg", pil(small.convert("CMYK"), "JPEG", quality=80)))
    if i == 0:
        frames = [small, small.transpose(Image.FLIP_LEFT_RIGHT)]
        seeds.append((base + "-animated.gif", pil(frames[0], "GIF", save_all=True, append_images=frames[1:])))
        seeds.append((base + "-4bit-grey.png", png(8, 2, 4, 0, b"".join(b"\0" + bytes(range(i, i + 4)) for i in range(2)))))
        seeds.append((base + "-trns.png", png(2, 2, 8, 2, b"\0" + bytes(6) + b"\0" + bytes(range(6)),
                                            extra=chunk(b"tRNS", struct.pack(">HHH", 0, 0, 0)))))

# Crafted headers: the limits and the degenerate sizes.
rgb_row = lambda w: b"\0" + bytes(3 * w)
seeds += [
    ("one.png", png(1, 1, 8, 2, rgb_row(1))),
    ("zero.png", png(0, 0, 8, 2, b"")),
    ("huge.png", png(100000, 100000, 8, 2, rgb_row(1))),
    ("wide.png", png(32768, 1, 8, 2, rgb_row(1))),
    ("over-side.png", png(32769, 1, 8, 2, rgb_row(1))),
    ("huge.gif", b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00;"),
    ("zero.gif", b"GIF89a" + struct.pack("<HH", 0, 0) + b"\x00\x00\x00;"),
    ("huge.bmp", b"BM" + struct.pack("<IHHIIiiHHIIiiII", 54, 0, 0, 54, 40, 100000, 100000, 1, 24, 0, 0, 0, 0, 0, 0)),
    ("negative.bmp", b"BM" + struct.pack("<IHHIIiiHHIIiiII", 58, 0, 0, 54, 40, 1, -1, 1, 24, 0, 0, 0, 0, 0, 0) + bytes(4)),
    ("huge.tga", struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, 65535, 65535, 24, 0)),
    ("huge.ppm", b"P6\n100000 100000\n255\n" + bytes(3)),
    ("huge.psd", b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 30000, 30000, 8, 3) + bytes(14)),
    ("extra-rows.png", png(1, 1, 8, 2, rgb_row(1) * 64)),  # more data than the header's rows
    ("big-flat.png", png(3000, 2000, 8, 0, (b"\0" + bytes(3000)) * 2000)),  # 6 MP in a few KiB
    ("canvas.gif", b"GIF89a" + struct.pack("<HHBBB", 4000, 3000, 0x80, 0, 0) + bytes(3) + b"\xff" * 3 +
     b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00\x3b"),
    ("empty", b""),
    ("text", b"this is not a picture\n"),
]
# A JPEG whose frame header claims 65500 x 65500 (markers walked by sniff_size).
sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 65500, 65500, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
seeds.append(("huge.jpg", b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0" +
              sof + b"\xff\xd9"))

for name, data in seeds:
    save(name, data)
    if len(data) > 40:  # truncated variants: the header only, and half the file
        save(name + ".trunc-head", data[:min(len(data) // 4, 64)])
        save(name + ".trunc-half", data[:len(data) // 2])
EOF

# Weights: convert.py's real shapes (block 1 of VGG19, float32 and float16) ...
"$PYTHON" weights/convert.py random --arch vgg19 --blocks 1 --seed 1 "$weights.tmp/vgg19-block1.nstw" >/dev/null
"$PYTHON" weights/convert.py random --arch vgg16 --blocks 1 --seed 2 --fp16 "$weights.tmp/vgg16-block1-fp16.nstw" >/dev/null
# ... and tiny networks made here, with shapes the loader accepts but convert.py never writes.
"$PYTHON" - "$weights.tmp" <<'EOF'
import os, random, struct, sys, zlib
out = sys.argv[1]
rng = random.Random(7)

def f16(x):
    return struct.pack("<e", x)

def nstw(layers, arch=1, dtype=0, model=b"tiny", source=b"tests/fuzz/make-corpus.sh"):
    """layers: (name, kh, kw, cin, cout, stride, norm)."""
    header_bytes = -(-(128 + 128 * len(layers)) // 64) * 64
    payload, table = bytearray(), bytearray()
    for name, kh, kw, cin, cout, stride, norm in layers:
        payload += bytes(-len(payload) % 64)
        offset = len(payload)
        n = kh * kw * cin * cout
        vals = [rng.uniform(-0.5, 0.5) for _ in range(n)]
        payload += b"".join(f16(v) if dtype == 1 else struct.pack("<f", v) for v in vals)
        payload += bytes(-len(payload) % 4)
        for _ in range(3 if norm else 1):
            payload += b"".join(struct.pack("<f", rng.uniform(-0.1, 1.0)) for _ in range(cout))
        table += struct.pack("<24sIIIIIIII QQ56s", name, 1, kh, kw, cin, cout, stride, 1 if norm else 0, 0, offset,
                             len(payload) - offset, b"")
    head = struct.pack("<4sIIIII32sQII56s", b"NSTW", 1, header_bytes, len(layers), dtype, arch, model, len(payload),
                       0, 0, source)
    data = bytearray(head + table)
    data += bytes(header_bytes - len(data))
    data += payload
    struct.pack_into("<I", data, 64, zlib.crc32(data) & 0xFFFFFFFF)
    return bytes(data)

def vgg(blocks, convs, width, dtype=0, kernel=3):
    layers, cin = [], 3
    for b in range(1, blocks + 1):
        for c in range(1, convs + 1):
            layers.append((b"conv%d_%d" % (b, c), kernel, kernel, cin, width, 1, False))
            cin = width
    return nstw(layers, 1, dtype, b"vgg19")

def fast(widths=(2, 3, 4, 3, 2), dtype=1):
    c1, c2, c3, c4, c5 = widths
    spec = [(9, 1, 3, c1), (3, 2, c1, c2), (3, 2, c2, c3)] + [(3, 1, c3, c3)] * 10 + \
           [(3, 1, c3, c4), (3, 1, c4, c5), (9, 1, c5, 3)]
    layers = [(b"conv%d" % (i + 1), k, k, cin, cout, s, i < 15) for i, (k, s, cin, cout) in enumerate(spec)]
    return nstw(layers, 2, dtype, b"candy")

files = {
    "tiny-vgg-f32.nstw": vgg(2, 2, 2),
    "tiny-vgg-f16.nstw": vgg(2, 1, 3, dtype=1),
    "tiny-vgg-5blocks.nstw": vgg(5, 1, 2),
    "tiny-vgg-1x1.nstw": vgg(1, 2, 2, kernel=1),
    "tiny-fast-f16.nstw": fast(),
    "tiny-fast-f32.nstw": fast((1, 1, 2, 1, 1), dtype=0),
}
for name, data in list(files.items()):
    files[name + ".trunc-header"] = data[:128]
    files[name + ".trunc-table"] = data[:200]
    files[name + ".trunc-1"] = data[:-1]
    bad = bytearray(data); bad[0:4] = b"NSTX"; files[name + ".magic"] = bytes(bad)
    bad = bytearray(data); bad[4] = 2; files[name + ".version"] = bytes(bad)
    bad = bytearray(data); bad[-1] ^= 0x55; files[name + ".flipped"] = bytes(bad)
files["empty.nstw"] = b""
files["short.nstw"] = b"NSTW\x01\0\0\0"
for name, data in files.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
EOF
for f in "$weights.tmp"/vgg*.nstw; do
	head -c 4096 "$f" >"$f.trunc-4k"
done

# Checkpoints (tests/fuzz/fuzz_checkpoint.c): the harness makes the genuine files itself; a seed is
# a flag byte (1: L-BFGS, 2: CRC recomputed, 4: a whole file follows, 8: the tiled run's) and 5-byte patch records
# (offset little-endian, a byte XORed there; 0 cuts the file there).
checkpoints=$OUT/corpus-checkpoint
rm -rf "$checkpoints.tmp"
mkdir -p "$checkpoints.tmp"
"$PYTHON" - "$checkpoints.tmp" <<'EOF'
import os, struct, sys
out = sys.argv[1]
def patch(flags, *records):
    return bytes([flags]) + b"".join(struct.pack("<IB", at, x) for at, x in records)
seeds = {
    "adam": patch(0), "lbfgs": patch(1),
    "adam-row": patch(0, (24, 1)), "lbfgs-h-diag": patch(1, (79, 0x40)),
    "adam-row-fixed": patch(2, (27, 0x40)), "lbfgs-n-iter-fixed": patch(3, (48, 7)),
    "lbfgs-evals-fixed": patch(3, (52, 0x80)), "adam-step-fixed": patch(2, (44, 3)),
    "payload-fixed": patch(3, (300, 0xff), (301, 0xff), (302, 0xff), (303, 0xff)),
    "cut": patch(1, (100, 0)), "whole-empty": bytes([4]), "whole-magic": bytes([4]) + b"NSTC" + bytes(124),
    "tiled": patch(8), "tiled-tile-fixed": patch(10, (44, 1)), "tiled-side-fixed": patch(10, (16, 0x40)),
    "tiled-picture-fixed": patch(10, (200, 0x7f), (201, 0xff)), "tiled-cut": patch(8, (90, 0)),
    "whole-tiled-magic": bytes([12]) + b"NSTT" + bytes(84),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
EOF

rm -rf "$images" "$weights" "$checkpoints"
mv "$images.tmp" "$images"
mv "$weights.tmp" "$weights"
mv "$checkpoints.tmp" "$checkpoints"
echo "make-corpus: $(ls "$images" | wc -l) pictures in $images, $(ls "$weights" | wc -l) weights files in $weights," \
	"$(ls "$checkpoints" | wc -l) checkpoint patches in $checkpoints"
