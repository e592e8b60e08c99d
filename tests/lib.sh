# What every test script (tests/t_*.sh) shares; sourced, not run (tests/run.sh runs t_*.sh only).
#   set -uo pipefail            # (or -euo)
#   name=t_x; . "$(dirname "$0")/lib.sh"
# Sets ROOT (the checkout, made the working directory), BUILD SHARED EMU PYTHON (from tests/run.sh's
# NST_BUILD NST_SHARED NST_EMU PYTHON), NST (the program, under $EMU), W (the VGG weights), tmp (a
# scratch folder removed on exit) and the tally: ok [WHAT] / bad WHAT count, die WHAT stops the
# script, finish prints "$name: N passed, N failed" and is the exit status (a failure, or nothing
# checked, fails).  Helpers below: need, sanitizer_exit_codes, random_ppm, small_pictures,
# pictures_at, fails_with, expect_error, no_temporaries.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${NST_BUILD:-build}
SHARED=${NST_SHARED:-../shared}
EMU=${NST_EMU:-}
PYTHON=${PYTHON:-/usr/bin/python3}
NST="$EMU $BUILD/nst"
W="$BUILD/vgg19.nstw"
tmp=$(mktemp -d "/tmp/nst-${name#t_}-XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0 failed=0

ok() { passed=$((passed + 1)); [ $# -eq 0 ] || echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }
finish() { echo "$name: $passed passed, $failed failed"; [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; }

# need FILE...: each must exist, else the test fails at once (make weights, or ../shared, provides them).
need() {
	local f
	for f; do [ -e "$f" ] || { echo "FAIL: $name: missing $f (make weights; ../shared)"; exit 1; }; done
}

# Sanitizer reports get their own exit codes (ASan's default is 1, which nst uses for a failed run).
sanitizer_exit_codes() {
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=87:print_stacktrace=1"
}

# random_ppm FILE WIDTH HEIGHT: a binary PPM of random pixels (nothing but the build needed).
random_ppm() { { printf 'P6\n%d %d\n255\n' "$2" "$3"; head -c $(($2 * $3 * 3)) /dev/urandom; } >"$1"; }

# small_pictures: C and S, a 40x30 content and a 48x32 style picture in $tmp (from ../shared/images).
small_pictures() {
	"$PYTHON" - "$SHARED/images" "$tmp" <<'EOF'
import sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
Image.open(f"{src}/chelsea.png").convert("RGB").resize((40, 30)).save(f"{dst}/c.png")
Image.open(f"{src}/starry_night.jpg").convert("RGB").resize((48, 32)).save(f"{dst}/s.png")
EOF
	C="$tmp/c.png" S="$tmp/s.png"
}

# pictures_at SIZE CONTENT STYLE: $tmp/c.png and $tmp/s.png, ../shared/images/CONTENT and STYLE
# resized (bicubic) to a long side of SIZE px, so that neither nst nor a reference resamples them.
pictures_at() {
	"$PYTHON" - "$SHARED/images" "$tmp" "$@" <<'EOF'
import sys
from PIL import Image
src, dst, size, content, style = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
for name, out in ((content, "c.png"), (style, "s.png")):
    im = Image.open(f"{src}/{name}").convert("RGB")
    s = size / max(im.size)
    im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BICUBIC).save(f"{dst}/{out}")
EOF
}

# fails_with CODE PATTERN CMD...: CMD exits with CODE and exactly one line on stderr, matching the
# extended regular expression PATTERN (case-insensitive); stdout in $tmp/stdout, stderr in
# $tmp/stderr.  Otherwise counts a failure (bad) and returns 1; counts nothing on success.
fails_with() {
	local code=$1 pattern=$2; shift 2
	"$@" >"$tmp/stdout" 2>"$tmp/stderr"
	local rc=$? lines
	lines=$(grep -c . "$tmp/stderr")
	if [ "$rc" -ne "$code" ]; then bad "$*: exit $rc, expected $code: $(head -c 600 "$tmp/stderr")"; return 1; fi
	if [ "$lines" -ne 1 ]; then bad "$*: $lines lines on stderr, expected 1: $(head -c 600 "$tmp/stderr")"; return 1; fi
	if ! grep -qiE -- "$pattern" "$tmp/stderr"; then bad "$*: message '$(cat "$tmp/stderr")' does not match /$pattern/"; return 1; fi
}

# precision_fallback PRECISION PICTURE NOTICE: on a CPU without PRECISION's kernels, candy with
# --precision PRECISION exits 0 with exactly one "running in fp32" notice starting with NOTICE,
# and paints fp32's picture bit for bit.
precision_fallback() {
	local precision=$1 picture=$2 notice=$3 rc n
	$NST --model candy -c "$picture" -o "$tmp/fallback.png" --precision "$precision" --threads 2 2>"$tmp/err"
	rc=$?
	$NST --model candy -c "$picture" -o "$tmp/fallback_f32.png" --threads 2 -q
	n=$(grep -c "running in fp32" "$tmp/err")
	if [ $rc -eq 0 ] && [ "$n" -eq 1 ] && grep -q "^nst: $notice" "$tmp/err"; then
		ok "no $precision kernels: one notice, $(grep 'running in fp32' "$tmp/err")"
	else
		bad "$precision without its kernels: exit $rc, $n notices: $(cat "$tmp/err")"
	fi
	cmp -s "$tmp/fallback.png" "$tmp/fallback_f32.png" && ok "the fallback's picture is fp32's" ||
		bad "the fallback's picture differs from fp32's"
}

# expect_error CODE PATTERN ARGS...: nst ARGS fails as fails_with says, with nothing on stdout and
# none of the files in $no_output (default: $tmp/out.png) written.
expect_error() {
	local code=$1 pattern=$2; shift 2
	local outputs=("${no_output[@]:-$tmp/out.png}") f
	rm -rf "${outputs[@]}"
	fails_with "$code" "$pattern" $NST "$@" || return 1
	for f in "${outputs[@]}"; do
		if [ -e "$f" ]; then bad "nst $*: $f was written"; return 1; fi
	done
	if [ -s "$tmp/stdout" ]; then bad "nst $*: something on stdout: $(head -c 200 "$tmp/stdout")"; return 1; fi
	ok
}

# no_temporaries FOLDER: no temporary file of an atomic write left anywhere below FOLDER.
no_temporaries() {
	local left
	left=$(find "$1" -name '*.tmp-*' 2>/dev/null)
	[ -z "$left" ] || { echo "temporary files left: $left"; return 1; }
}
