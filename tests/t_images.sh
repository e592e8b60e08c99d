#!/usr/bin/env bash
# The demo's pictures without ../shared (issue 19, item 16): weights/fetch-images.sh gets them the
# way weights/fetch.sh gets networks -- ../shared/images when present, else the cache
# ($NST_CACHE/images), else Debian's python3-skimage (astronaut.png, chelsea.png), else the public
# URLs of ../shared/images/SOURCES.md downloaded into the cache -- each checked against its sha256,
# and says exactly what is missing when none has it.  `make demo` uses what it fetched.
# The clone without ../shared is simulated: SHARED points at an empty folder, a prepared cache or a
# file:// mirror (NST_IMAGES_MIRROR) stands in for the download, NST_OFFLINE=1 forbids the network.
# The prepared files come from $NST_SHARED/images (copied into a temporary folder, never the repo).
set -uo pipefail
name=t_images
. "$(dirname "$0")/lib.sh"
SHARED=$(cd "$SHARED" 2>/dev/null && pwd) || SHARED=
FETCH=$ROOT/weights/fetch-images.sh
[ -x "$FETCH" ] || die "weights/fetch-images.sh does not exist or is not executable"
[ -n "$SHARED" ] && [ -f "$SHARED/images/astronaut.png" ] && [ -f "$SHARED/images/starry_night.jpg" ] ||
	die "this test needs \$NST_SHARED/images (astronaut.png, starry_night.jpg) to stand in for the download"
mkdir -p "$tmp/empty" "$tmp/no-skimage"
DEMO=(astronaut.png starry_night.jpg)

# fetch NAME-OF-CASE ENV... -- OUT NAMES...: runs the script offline with no skimage unless the
# environment given says otherwise; its exit code in $rc, stderr in $tmp/err.
fetch() {
	local what=$1
	shift
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	rc=0
	env SHARED="$tmp/empty" NST_OFFLINE=1 NST_SKIMAGE_DATA="$tmp/no-skimage" NST_CACHE="$tmp/cache-$what" \
		"${envs[@]}" "$FETCH" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

same() { cmp -s "$1" "$SHARED/images/$(basename "$1")"; }

# 1. ../shared present: taken from there.
fetch shared SHARED="$SHARED" -- "$tmp/o1" "${DEMO[@]}"
[ $rc -eq 0 ] && same "$tmp/o1/astronaut.png" && same "$tmp/o1/starry_night.jpg" &&
	ok "from ../shared/images" || bad "from ../shared: exit $rc: $(cat "$tmp/err")"

# 2. No ../shared, a cache holding them (what an earlier download left): taken from the cache.
mkdir -p "$tmp/cache-cached/images"
cp "$SHARED/images/astronaut.png" "$SHARED/images/starry_night.jpg" "$tmp/cache-cached/images/"
fetch cached -- "$tmp/o2" "${DEMO[@]}"
[ $rc -eq 0 ] && same "$tmp/o2/astronaut.png" && same "$tmp/o2/starry_night.jpg" &&
	ok "no ../shared: from the cache" || bad "from the cache: exit $rc: $(cat "$tmp/err")"

# 3. Neither, offline: exit 1, each missing picture named with its URL, sha256 and where to put it.
fetch nothing -- "$tmp/o3" "${DEMO[@]}"
missing=$(sed -n 's/.*missing: \(.*\)$/\1/p' "$tmp/err" | tail -n 1)
if [ $rc -ne 1 ]; then bad "nothing anywhere: exit $rc, expected 1: $(cat "$tmp/err")"
elif [ "$missing" != "astronaut.png starry_night.jpg" ]; then bad "nothing anywhere: the missing list is '$missing': $(cat "$tmp/err")"
elif ! grep -q "https://raw.githubusercontent.com/scikit-image/scikit-image/v0.19.3/skimage/data/astronaut.png" "$tmp/err" ||
	! grep -q "0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098" "$tmp/err" ||
	! grep -q "$tmp/cache-nothing/images/starry_night.jpg" "$tmp/err" || ! grep -q "python3-skimage" "$tmp/err"; then
	bad "nothing anywhere: the message lacks a URL, a sha256, the cache path or the Debian package: $(cat "$tmp/err")"
elif [ -e "$tmp/o3/astronaut.png" ] || [ -e "$tmp/o3/starry_night.jpg" ]; then bad "nothing anywhere: a file was written"
else ok "nothing anywhere: exit 1, missing: $missing"; fi

# 4. Only one of them cached: exactly the other is missing.
mkdir -p "$tmp/cache-half/images"
cp "$SHARED/images/astronaut.png" "$tmp/cache-half/images/"
fetch half -- "$tmp/o4" "${DEMO[@]}"
missing=$(sed -n 's/.*missing: \(.*\)$/\1/p' "$tmp/err" | tail -n 1)
[ $rc -eq 1 ] && [ "$missing" = "starry_night.jpg" ] && same "$tmp/o4/astronaut.png" &&
	ok "half cached: missing exactly starry_night.jpg" || bad "half cached: exit $rc, missing '$missing': $(cat "$tmp/err")"

# 5. A damaged file in the cache is not used (and said so).
mkdir -p "$tmp/cache-damaged/images"
cp "$SHARED/images/astronaut.png" "$SHARED/images/starry_night.jpg" "$tmp/cache-damaged/images/"
printf 'x' | dd of="$tmp/cache-damaged/images/starry_night.jpg" bs=1 seek=1000 conv=notrunc status=none
fetch damaged -- "$tmp/o5" "${DEMO[@]}"
[ $rc -eq 1 ] && grep -q "sha256" "$tmp/err" && [ ! -e "$tmp/o5/starry_night.jpg" ] &&
	ok "a damaged cached file is refused: $(grep -m1 sha256 "$tmp/err")" || bad "damaged cache: exit $rc: $(cat "$tmp/err")"

# 6. The download: a file:// mirror stands in for the URLs (curl); checked, kept in the cache.
if command -v curl >/dev/null; then
	mkdir -p "$tmp/mirror" "$tmp/bad-mirror"
	cp "$SHARED/images/astronaut.png" "$SHARED/images/starry_night.jpg" "$tmp/mirror/"
	fetch download NST_OFFLINE=0 NST_IMAGES_MIRROR="file://$tmp/mirror" -- "$tmp/o6" "${DEMO[@]}"
	[ $rc -eq 0 ] && same "$tmp/o6/starry_night.jpg" && same "$tmp/cache-download/images/starry_night.jpg" &&
		ok "downloaded into the cache, then used" || bad "download: exit $rc: $(cat "$tmp/err")"
	printf 'not a picture' >"$tmp/bad-mirror/astronaut.png"
	fetch badmirror NST_OFFLINE=0 NST_IMAGES_MIRROR="file://$tmp/bad-mirror" -- "$tmp/o7" astronaut.png
	[ $rc -eq 1 ] && [ -z "$(ls -A "$tmp/cache-badmirror/images" 2>/dev/null)" ] && [ ! -e "$tmp/o7/astronaut.png" ] &&
		ok "a download with the wrong sha256 is discarded" || bad "bad download: exit $rc, cache: $(ls -A "$tmp/cache-badmirror/images" 2>&1)"
else
	echo "note: no curl here: the download case is skipped"
fi

# 7. Debian's python3-skimage has astronaut.png and chelsea.png.
mkdir -p "$tmp/skimage"
cp "$SHARED/images/astronaut.png" "$tmp/skimage/"
fetch skimage NST_SKIMAGE_DATA="$tmp/skimage" -- "$tmp/o8" astronaut.png
[ $rc -eq 0 ] && same "$tmp/o8/astronaut.png" && ok "from python3-skimage's data" || bad "skimage: exit $rc: $(cat "$tmp/err")"

# 8. An unknown name is refused; all five known pictures come from ../shared.
fetch unknown SHARED="$SHARED" -- "$tmp/o9" mona_lisa.jpg
[ $rc -eq 2 ] && grep -q "mona_lisa.jpg" "$tmp/err" && ok "an unknown picture is refused" || bad "unknown name: exit $rc: $(cat "$tmp/err")"
fetch all SHARED="$SHARED" -- "$tmp/o10"
[ $rc -eq 0 ] && [ "$(ls "$tmp/o10" | wc -l)" -eq 5 ] && ok "no names: the five pictures of SOURCES.md" ||
	bad "all five: exit $rc, got: $(ls "$tmp/o10" 2>&1)"

# 9. make demo uses the fetched pictures, not ../shared/images directly.
( cd "$ROOT" && make -n demo SHARED="$tmp/empty" BUILD="$tmp/b" ) >"$tmp/make.txt" 2>&1
if grep -q "fetch-images.sh" "$tmp/make.txt" && grep -q -- "-c $tmp/b/images/astronaut.png" "$tmp/make.txt" &&
	grep -q -- "-s $tmp/b/images/starry_night.jpg" "$tmp/make.txt" && ! grep -q "$tmp/empty/images" "$tmp/make.txt"; then
	ok "make demo fetches, then paints the fetched pictures"
else
	bad "make demo does not use the fetched pictures: $(grep -E 'nst |fetch' "$tmp/make.txt" | head -n 5)"
fi
finish
