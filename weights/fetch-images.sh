#!/usr/bin/env bash
# Gets the example pictures (../shared/images/SOURCES.md) into a folder, the way weights/fetch.sh
# gets the networks:
#
#   SHARED=../shared weights/fetch-images.sh OUT_DIR [NAME...]      (default: all five)
#
# For each NAME (astronaut.png, chelsea.png, great_wave.jpg, shipwreck.jpg, starry_night.jpg; also
# coffee.png (CC0, Rachel Michetti) and rocket.jpg (public domain, SpaceX) for `make gallery`,
# which python3-skimage ships and ../shared does not), the
# first of these whose file has the sha256 below is copied to OUT_DIR/NAME:
#   1. $SHARED/images/NAME;
#   2. ${NST_CACHE:-$HOME/.cache/nst}/images/NAME (what an earlier download left);
#   3. Debian's python3-skimage (${NST_SKIMAGE_DATA:-/usr/lib/python3/dist-packages/skimage/data}),
#      which ships astronaut.png, chelsea.png, coffee.png and rocket.jpg;
#   4. its public URL (or $NST_IMAGES_MIRROR/NAME), downloaded into the cache first.
# NST_OFFLINE=1: never download.  Idempotent: a right OUT_DIR/NAME is left as it is.
# Exits 1 after naming every picture it could not get, with its URL, its sha256 and where to put
# it; 2 for a name it does not know.
set -euo pipefail

OUT=${1:?usage: weights/fetch-images.sh OUT_DIR [NAME...]}
shift
SHARED=${SHARED:-../shared}
CACHE=${NST_CACHE:-${HOME:-/tmp}/.cache/nst}/images
SKIMAGE=${NST_SKIMAGE_DATA:-/usr/lib/python3/dist-packages/skimage/data}
MIRROR=${NST_IMAGES_MIRROR:-}
ALL=(astronaut.png chelsea.png great_wave.jpg shipwreck.jpg starry_night.jpg)

# From ../shared/images/SOURCES.md: public-domain / CC0 pictures, at fixed commits.
url_of() {
	case $1 in
	starry_night.jpg) echo https://raw.githubusercontent.com/jcjohnson/neural-style/07c4b8299f8fbdafec0c514fc820ff1d7ff62e46/examples/inputs/starry_night.jpg ;;
	shipwreck.jpg) echo https://raw.githubusercontent.com/jcjohnson/neural-style/07c4b8299f8fbdafec0c514fc820ff1d7ff62e46/examples/inputs/shipwreck.jpg ;;
	great_wave.jpg) echo https://raw.githubusercontent.com/lengstrom/fast-style-transfer/0d3d981f7ab948253d355585bdbdfa914247b4d0/examples/style/wave.jpg ;;
	astronaut.png) echo https://raw.githubusercontent.com/scikit-image/scikit-image/v0.19.3/skimage/data/astronaut.png ;;
	chelsea.png) echo https://raw.githubusercontent.com/scikit-image/scikit-image/v0.19.3/skimage/data/chelsea.png ;;
	coffee.png) echo https://raw.githubusercontent.com/scikit-image/scikit-image/v0.19.3/skimage/data/coffee.png ;;
	rocket.jpg) echo https://raw.githubusercontent.com/scikit-image/scikit-image/v0.19.3/skimage/data/rocket.jpg ;;
	esac
}
sha256_of() {
	case $1 in
	starry_night.jpg) echo 0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098 ;;
	shipwreck.jpg) echo 4f7cf34e3cd4a5daaf3f421f059ca9a01aaa2a3afd7243d6670c9c8bc001a213 ;;
	great_wave.jpg) echo 54f19686bea5117c0bb68ce4425dbed4efafa3e8d7cafe35f0fae80b8223f4be ;;
	astronaut.png) echo 88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5 ;;
	chelsea.png) echo 596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb ;;
	coffee.png) echo cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7 ;;
	rocket.jpg) echo c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c ;;
	esac
}

# say, sum_of, download
. "$(cd "$(dirname "$0")" && pwd)/fetch-lib.sh"

# good NAME FILE: FILE exists and has NAME's sha256 (a damaged one is said so).
good() {
	[ -f "$2" ] || return 1
	[ "$(sum_of sha256 "$2")" = "$(sha256_of "$1")" ] && return 0
	say "$2: sha256 is not $(sha256_of "$1") (damaged, or another picture): not used"
	return 1
}

# copy_in SRC DEST: atomically (a temporary file beside DEST, then a rename).
copy_in() {
	cp -f "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for name in "${names[@]}"; do
	if [ -z "$(sha256_of "$name")" ]; then
		say "unknown picture '$name' (known: ${ALL[*]} coffee.png rocket.jpg)"
		exit 2
	fi
done

mkdir -p "$OUT"
missing=()
for name in "${names[@]}"; do
	dest=$OUT/$name
	[ -f "$dest" ] && [ "$(sum_of sha256 "$dest")" = "$(sha256_of "$name")" ] && continue
	url=$(url_of "$name")
	[ -n "$MIRROR" ] && url=$MIRROR/$name
	if good "$name" "$SHARED/images/$name"; then
		copy_in "$SHARED/images/$name" "$dest"
	elif good "$name" "$CACHE/$name"; then
		copy_in "$CACHE/$name" "$dest"
	elif good "$name" "$SKIMAGE/$name"; then
		copy_in "$SKIMAGE/$name" "$dest"
	elif mkdir -p "$CACHE" && download "$url" "$CACHE/$name.new" && good "$name" "$CACHE/$name.new"; then
		mv -f "$CACHE/$name.new" "$CACHE/$name"
		copy_in "$CACHE/$name" "$dest"
	else
		rm -f "$CACHE/$name.new"
		missing+=("$name")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	say "cannot get ${#missing[@]} picture(s): not in $SHARED/images, not in $CACHE, and not downloadable${NST_OFFLINE:+ (NST_OFFLINE=$NST_OFFLINE)}."
	for name in "${missing[@]}"; do
		say "  $name: download $(url_of "$name")"
		say "      check that its sha256 is $(sha256_of "$name") (sha256sum) and put it at $CACHE/$name"
	done
	case " ${missing[*]} " in
	*" astronaut.png "* | *" chelsea.png "*) say "  (astronaut.png and chelsea.png also come with Debian's python3-skimage: apt-get install python3-skimage)" ;;
	esac
	say "missing: ${missing[*]}"
	exit 1
fi
