# What the command-line test scripts (tests/t_cli.sh, t_outputs.sh, t_signals.sh, t_batch.sh,
# t_options.sh) share; sourced, not run (tests/run.sh runs t_*.sh only).
#   name=t_x; . "$(dirname "$0")/cli_common.sh"
# sets BUILD SHARED EMU PYTHON NST W (the VGG weights), tmp (a scratch folder removed on exit),
# C and S (a 40x30 content and a 48x32 style picture in $tmp), the tally (ok, bad, finish) and
# expect_error.
BUILD=${NST_BUILD:-build}
SHARED=${NST_SHARED:-../shared}
EMU=${NST_EMU:-}
PYTHON=${PYTHON:-/usr/bin/python3}
NST="$EMU $BUILD/nst"
W="$BUILD/vgg19.nstw"
tmp=$(mktemp -d "/tmp/nst-${name#t_}-XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0 failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
finish() { echo "$name: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

# expect_error CODE PATTERN ARGS...: exit code CODE, exactly one stderr line matching PATTERN,
# no crash, and no file $tmp/out.png.
expect_error() {
	local code=$1 pattern=$2; shift 2
	rm -f "$tmp/out.png"
	$NST "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	local rc=$?
	local lines
	lines=$(grep -c . "$tmp/stderr")
	if [ "$rc" -ne "$code" ]; then bad "nst $*: exit $rc, expected $code: $(head -c 600 "$tmp/stderr")"; return 1; fi
	if [ "$lines" -ne 1 ]; then bad "nst $*: $lines lines on stderr, expected 1: $(head -c 600 "$tmp/stderr")"; return 1; fi
	if ! grep -qiE -- "$pattern" "$tmp/stderr"; then bad "nst $*: message '$(cat "$tmp/stderr")' does not match /$pattern/"; return 1; fi
	if [ -e "$tmp/out.png" ]; then bad "nst $*: an output file was written"; return 1; fi
	ok
}

# No temporary file of an atomic write left anywhere below a folder.
no_temporaries() { # folder
	local left
	left=$(find "$1" -name '*.tmp-*' 2>/dev/null)
	[ -z "$left" ] || { echo "temporary files left: $left"; return 1; }
}

# Small pictures: a 40x30 content picture and a 48x32 style.
"$PYTHON" - "$SHARED/images" "$tmp" <<'EOF'
import sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
Image.open(f"{src}/chelsea.png").convert("RGB").resize((40, 30)).save(f"{dst}/c.png")
Image.open(f"{src}/starry_night.jpg").convert("RGB").resize((48, 32)).save(f"{dst}/s.png")
EOF
C="$tmp/c.png" S="$tmp/s.png"
