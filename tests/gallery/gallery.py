#!/usr/bin/env python3
"""make gallery: the panel at nst's defaults, as one labelled contact sheet.

Every photo is painted in the style of every painting with nothing but `nst -c PHOTO -s PAINTING
-o OUT` (the defaults: network, layers, weights, size, iterations, early stop), then the results
are laid out with the photos as rows and the paintings as columns, the originals along the top
and the left edge.

    gallery.py --nst build/nst --out build/gallery [--images DIR[:DIR]] [--photos a.png,...]
               [--paintings b.jpg,...] [--small README.jpg] [-- extra nst options]

`make gallery` gets the pictures first (weights/fetch-images.sh: ../shared/images, the cache,
Debian's python3-skimage, or their public URLs) into build/images."""
import argparse
import os
import subprocess
import sys
import time

from PIL import Image, ImageDraw, ImageFont

CELL = 256          # the long side of every cell, pixels
LABEL = 18          # the height of a label strip
SKIMAGE_DATA = "/usr/lib/python3/dist-packages/skimage/data"


def find(name, dirs):
    for d in dirs:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    sys.exit("gallery: %s not found in %s (run 'make images', or apt-get install python3-skimage)"
             % (name, ", ".join(dirs)))


def fit(im, side):
    """The picture scaled so that it fits a side x side cell, centred on white."""
    im = im.convert("RGB")
    s = side / max(im.size)
    im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
    cell = Image.new("RGB", (side, side), "white")
    cell.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return cell


def labelled(im, text, font):
    out = Image.new("RGB", (im.width, im.height + LABEL), "white")
    out.paste(im, (0, LABEL))
    ImageDraw.Draw(out).text((4, 3), text, fill="black", font=font)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nst", required=True, help="the nst command (may start with an emulator)")
    ap.add_argument("--out", required=True, help="folder for the results and gallery.png")
    ap.add_argument("--images", default="build/images", help="folders with the pictures, colon-separated")
    ap.add_argument("--photos", default="astronaut.png,chelsea.png,coffee.png,rocket.jpg")
    ap.add_argument("--paintings", default="starry_night.jpg,great_wave.jpg,shipwreck.jpg")
    ap.add_argument("--small", default=None, help="also write a small JPEG of the sheet here (for the README)")
    ap.add_argument("extra", nargs="*", help="options passed to every nst run (after --)")
    a = ap.parse_args()
    dirs = a.images.split(":") + [SKIMAGE_DATA]
    photos = [find(p, dirs) for p in a.photos.split(",")]
    paintings = [find(p, dirs) for p in a.paintings.split(",")]
    os.makedirs(a.out, exist_ok=True)
    font = ImageFont.load_default()

    results = {}
    for photo in photos:
        for painting in paintings:
            name = "%s-%s.png" % (os.path.splitext(os.path.basename(photo))[0],
                                  os.path.splitext(os.path.basename(painting))[0])
            out = os.path.join(a.out, name)
            t0 = time.time()
            cmd = a.nst.split() + ["-c", photo, "-s", painting, "-o", out, "-q"] + a.extra
            r = subprocess.run(cmd)
            if r.returncode != 0:
                sys.exit("gallery: %s failed (exit %d)" % (" ".join(cmd), r.returncode))
            print("gallery: %s in %.1f s" % (name, time.time() - t0), flush=True)
            results[photo, painting] = out

    cols, rows = len(paintings) + 1, len(photos) + 1
    h = CELL + LABEL
    sheet = Image.new("RGB", (cols * CELL, rows * h), "white")
    title = "nst %s" % " ".join(a.extra) if a.extra else "nst, defaults"
    ImageDraw.Draw(sheet).text((4, 4), title, fill="black", font=font)
    for j, painting in enumerate(paintings):
        sheet.paste(labelled(fit(Image.open(painting), CELL), os.path.basename(painting), font), ((j + 1) * CELL, 0))
    for i, photo in enumerate(photos):
        sheet.paste(labelled(fit(Image.open(photo), CELL), os.path.basename(photo), font), (0, (i + 1) * h))
        for j, painting in enumerate(paintings):
            sheet.paste(labelled(fit(Image.open(results[photo, painting]), CELL), "", font),
                        ((j + 1) * CELL, (i + 1) * h))
    path = os.path.join(a.out, "gallery.png")
    sheet.save(path)
    print("gallery: wrote %s (%dx%d)" % (path, sheet.width, sheet.height))
    if a.small:
        small = sheet.resize((sheet.width * 2 // 3, sheet.height * 2 // 3), Image.LANCZOS)
        small.save(a.small, quality=82, optimize=True)
        print("gallery: wrote %s (%d KiB)" % (a.small, os.path.getsize(a.small) // 1024))


if __name__ == "__main__":
    main()
