#!/usr/bin/env bash
# nst bench end to end on a tiny configuration: every section is printed and lands in --json with
# plausible figures (the feed-forward section included), --model none skips that section, and the
# error paths (unknown option, missing model, unwritable --json, unreadable weights) fail with
# their exit codes and one clear line.  Timing figures are not judged here (make bench is the
# benchmark); only that they are measured.
#   NST_BUILD=build NST_EMU="" PYTHON=/usr/bin/python3 bash tests/t_bench.sh
set -euo pipefail
name=t_bench
. "$(dirname "$0")/lib.sh"
nst() { $NST "$@"; }
need "$W" "$BUILD/styles/candy.nstw"
TINY=(--weights "$BUILD/vgg19.nstw" --sizes 32 --threads 1 --backends simd --iterations 2 --warmup 1 --conv-size 32 --pictures 2
	--frames 32x24)

# --- every section, on the terminal and in the JSON ----------------------------------------------
nst bench "${TINY[@]}" --json "$tmp/b.json" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; die "bench failed"; }
sections=("microkernel peak" "single convolution layers at 32 px" "whole iterations" "feed-forward mode (model candy")
[ -e "$BUILD/styles/arbitrary.nstw" ] && sections+=("arbitrary-style mode (a 256x256 painting")
sections+=("stream mode (YUV 4:2:0 -> RGB -> network -> YUV")
for section in "${sections[@]}"; do
	grep -qF "$section" "$tmp/out" || die "no '$section' section: $(cat "$tmp/out")"
done
ok "terminal: peak, single convolutions, whole iterations, feed-forward"
"$PYTHON" - "$tmp/b.json" <<'PYEOF' || die "the JSON is incomplete"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["machine"]["cores"] >= 1 and b["machine"]["cpu"] and b["machine"]["xnnpack"], b["machine"]
assert b["peak"] and all(p["gflops"] > 0 for p in b["peak"]), b["peak"]
# the layers of the default run (conv1_1 .. conv3_2; --full: every layer), each measured
assert [c["layer"] for c in b["conv"]] == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2"], b["conv"]
assert all(c["forward_gflops"] > 0 and c["backward_gflops"] > 0 for c in b["conv"]), b["conv"]
assert b["interrupted"] is False, b
it = b["iterations"]
assert len(it) == 1 and it[0]["size"] == 32 and it[0]["threads"] == 1, it
assert 0 < it[0]["seconds_min"] <= it[0]["seconds_median"] <= it[0]["seconds_max"], it
assert it[0]["plan_bytes"] > 0 and it[0]["peak_rss_bytes"] > 0 and it[0]["layers"], it
assert it[0]["fraction_of_single_convs"] > 0, it  # --conv-size is the size: compared with the single convolutions
ff = b["feed_forward"]
assert len(ff) == 1 and ff[0]["model"] == "candy" and ff[0]["size"] == 32 and ff[0]["backend"] == "simd", ff
assert 0 < ff[0]["ms_min"] <= ff[0]["ms_median"] <= ff[0]["ms_max"], ff
assert ff[0]["plan_bytes"] > 0 and ff[0]["peak_rss_bytes"] > 0 and ff[0]["direct_gflops"] > 0, ff
ar = b["arbitrary"]
if ar:  # the arbitrary-style network converted (make weights): one 32x24 row
    assert len(ar) == 1 and (ar[0]["width"], ar[0]["height"]) == (32, 24) and ar[0]["threads"] == 1, ar
    assert 0 < ar[0]["ms_min"] <= ar[0]["ms_median"] <= ar[0]["ms_max"] and ar[0]["fps"] > 0, ar
    assert ar[0]["ms_with_painting"] > ar[0]["ms_min"] and ar[0]["plan_bytes"] > 0, ar
st = b["stream"]  # the stream path: candy (and the arbitrary network) at 32x24, 1 thread
assert [r["network"] for r in st] == ["candy"] + (["arbitrary"] if ar else []), st
assert all((r["width"], r["height"], r["threads"]) == (32, 24, 1) and r["fps"] > 0 and
           0 < r["ms_min"] <= r["ms_median"] <= r["ms_max"] and 0 < r["ms_conversions"] < r["ms_median"] for r in st), st
print("json: %d conv rows, iteration %.4f s, feed-forward %.2f ms" % (len(b["conv"]), it[0]["seconds_median"], ff[0]["ms_median"]))
PYEOF
ok "json: machine, peak, convolutions, iterations, feed-forward figures"

nst bench "${TINY[@]}" --conv-size 0 --model none --frames none --json "$tmp/none.json" >"$tmp/out" 2>&1 ||
	die "--model none failed"
grep -qF "feed-forward mode: skipped (--model none)" "$tmp/out" && grep -qF "arbitrary-style mode: skipped (--frames none)" "$tmp/out" &&
	grep -qF "stream mode: skipped (--frames none)" "$tmp/out" ||
	die "--model none / --frames none: $(cat "$tmp/out")"
"$PYTHON" -c 'import json, sys; b = json.load(open(sys.argv[1])); assert b["feed_forward"] == [] and b["conv"] == [] and b["arbitrary"] == [] and b["stream"] == []' \
	"$tmp/none.json" || die "--model none / --conv-size 0 / --frames none: the JSON still has those rows"
ok "--model none, --frames none and --conv-size 0 skip their sections"

# --- float16 feed-forward entries: pictures only ------------------------------------------------
# (--frames none: the arbitrary and stream sections at their default frame sizes on the float16
# scalar twin took 3 minutes, and this checks the feed-forward row only)
nst bench --sizes 16 --threads 1 --backends scalar-fp16 --pictures 1 --warmup 1 --conv-size 0 --frames none --json "$tmp/f16.json" \
	>"$tmp/out" 2>&1 || die "--backends scalar-fp16 failed: $(cat "$tmp/out")"
"$PYTHON" - "$tmp/f16.json" <<'PYEOF' || die "scalar-fp16: $(cat "$tmp/out")"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["iterations"] == [], b["iterations"]  # the engine's float16 runs the networks only
ff = b["feed_forward"]
assert len(ff) == 1 and ff[0]["backend"] == "scalar" and ff[0]["precision"] == "fp16" and ff[0]["ms_median"] > 0, ff
PYEOF
ok "--backends scalar-fp16: a feed-forward fp16 row, no iteration rows"

# --- unmeasured figures are null in the JSON, not 0.000 --------------------------------------------
"$PYTHON" -c 'import json, sys; it = json.load(open(sys.argv[1]))["iterations"]; assert it and it[0]["fraction_of_single_convs"] is None, it' \
	"$tmp/none.json" || die "--conv-size 0: fraction_of_single_convs is not null: $(grep -o '"fraction_of_single_convs": [^,]*' "$tmp/none.json")"
ok "json: what was not measured is null"

# --- --help: the defaults and how long they take ----------------------------------------------------
nst bench --help >"$tmp/help" 2>&1 || die "--help failed: $(cat "$tmp/help")"
for needle in "default 128,256" "about a minute" "Raspberry Pi 4" "--full" "scalar" "estimate"; do
	grep -qF -- "$needle" "$tmp/help" || die "--help lacks '$needle': $(cat "$tmp/help")"
done
ok "--help states the defaults and the expected duration"

# --- the defaults: no scalar backend, no 512 px, an estimate before anything long ------------------
nst bench --dry-run >"$tmp/out" 2>&1 || die "--dry-run failed: $(cat "$tmp/out")"
grep -qE "estimated .*[0-9]+ s" "$tmp/out" || die "--dry-run: no estimate: $(cat "$tmp/out")"
grep -E "^nst bench: sizes " "$tmp/out" | grep -qvE "512|scalar" || die "the defaults include 512 px or scalar: $(cat "$tmp/out")"
nst bench --dry-run --full >"$tmp/out" 2>&1 || die "--dry-run --full failed: $(cat "$tmp/out")"
grep -E "^nst bench: sizes " "$tmp/out" | grep "512" | grep >/dev/null "scalar" || die "--full lacks 512 px or scalar: $(cat "$tmp/out")"
ok "defaults without scalar and 512 px (--full has them), the estimate up front: $(grep -m1 estimated "$tmp/out")"

# --- rows are printed as they are measured: a run stopped by a timeout keeps them --------------------
# Long enough not to finish in the time given (scalar at 256 px), quick to give its first rows.
LONG=(--sizes 32,48,64,96,128,192,256 --threads 1 --backends simd,scalar --iterations 3 --warmup 1 --conv-size 0 --model none)
for sig in INT TERM; do
	rc=0
	timeout --preserve-status -s $sig 10 "$BUILD/nst" bench "${LONG[@]}" --json "$tmp/stopped.json" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -ne 0 ] || die "SIG$sig: the long run finished within the timeout: $(cat "$tmp/out")"
	grep -qE "^ +32 simd " "$tmp/out" || die "SIG$sig (exit $rc): the rows measured before the signal are lost: $(cat "$tmp/out" "$tmp/err")"
	"$PYTHON" -c 'import json, sys; b = json.load(open(sys.argv[1])); assert b["interrupted"] and b["iterations"] and b["iterations"][0]["size"] == 32, b' \
		"$tmp/stopped.json" || die "SIG$sig: the JSON of a stopped run is not valid with its rows: $(cat "$tmp/stopped.json")"
	ok "SIG$sig after 10 s (exit $rc): $(grep -cE '^ +[0-9]+ (simd|scalar) ' "$tmp/out") rows kept on the terminal and in the JSON"
done

# --- error paths ---------------------------------------------------------------------------------
# expect CODE NEEDLE ARGS...: nst bench ARGS exits with CODE and one stderr line containing NEEDLE
expect() {
	local code=$1 needle=$2 rc=0
	shift 2
	nst bench "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -eq "$code" ] || die "bench $*: exit $rc, expected $code ($(cat "$tmp/err"))"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || die "bench $*: stderr is not one line: $(cat "$tmp/err")"
	grep -qF -- "$needle" "$tmp/err" || die "bench $*: stderr lacks '$needle': $(cat "$tmp/err")"
	ok "bench $*: $(cat "$tmp/err")"
}
expect 2 "--sizes '0': expected up to 8 long sides 16..8192" --sizes 0
expect 2 "unknown option '--frobnicate'" --frobnicate
expect 2 "--frames '320by240': expected up to 8 WxH sizes" --frames 320by240
expect 2 "--frames needs a value" --frames
expect 1 "no model 'no-such-model'" "${TINY[@]}" --model no-such-model
expect 1 "cannot write $tmp/missing/b.json" "${TINY[@]}" --json "$tmp/missing/b.json"
rc=0
nst bench "${TINY[@]}" --conv-size 0 --weights "$tmp/missing.nstw" >"$tmp/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "failed: .*missing.nstw" "$tmp/out" || die "unreadable weights: exit $rc: $(cat "$tmp/out")"
ok "unreadable weights: every iteration row says why, exit 1"
rc=0
nst bench "${TINY[@]}" --conv-size 0 --model "$tmp/missing.nstw" >"$tmp/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "feed-forward.*" "$tmp/out" && grep -q "failed: .*missing.nstw" "$tmp/out" ||
	die "unreadable model file: exit $rc: $(cat "$tmp/out")"
ok "unreadable model file: the feed-forward row says why, exit 1"
finish
