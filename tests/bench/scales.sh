#!/usr/bin/env bash
# Coarse to fine against one scale: the time a multi-scale run needs for its top scale's loss to
# reach the loss a single-scale run ends with.
#
#   tests/bench/scales.sh [--size 256] [-n 100] [--scales 128,256] [--scale-iterations 100,100]
#                         [--optimizer lbfgs] [--threads 2] [--content FILE] [--style FILE] [--keep DIR]
#                         [--init content|random]
#
# 1. single scale: `nst --scales SIZE -n N`, its loss log; records the final loss L and the time T
#    (the log's seconds column: optimization time, loading and planning excluded);
# 2. multi-scale: `nst --scales A,...,SIZE --scale-iterations a,...,z` with one log whose seconds
#    continue across scales; the top scale's rows are its last z+1 rows (L-BFGS and Adam both
#    report iterations + 1 rows per scale);
# 3. prints the first top-scale row whose total loss is <= L, its time t, and t / T.
# --keep DIR keeps both pictures and logs there.  The issue's target is t / T <= 1/3: exit code 0
# when it is reached, 1 when it is not, 2 on a failed run.
set -uo pipefail
BUILD=${NST_BUILD:-build}
SHARED=${NST_SHARED:-../shared}
EMU=${NST_EMU:-}
size=256 n=100 scales="" scale_iterations="" optimizer=lbfgs threads=2
content="$SHARED/images/astronaut.png" style="$SHARED/images/starry_night.jpg" keep="" init=content
TARGET_RATIO=0.3333
while [ $# -gt 0 ]; do
	case $1 in
	--size) size=$2; shift 2 ;;
	-n) n=$2; shift 2 ;;
	--scales) scales=$2; shift 2 ;;
	--scale-iterations) scale_iterations=$2; shift 2 ;;
	--optimizer) optimizer=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--content) content=$2; shift 2 ;;
	--style) style=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	--init) init=$2; shift 2 ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "scales.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$scales" ] || scales="$((size / 2)),$size"
n_scales=$(echo "$scales" | tr ',' '\n' | wc -l)
[ -n "$scale_iterations" ] || scale_iterations=$(yes "$n" | head -n "$n_scales" | paste -sd, -)
top_iterations=${scale_iterations##*,}
tmp=$(mktemp -d /tmp/nst-bench-scales-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
common=(-c "$content" -s "$style" --weights "$BUILD/vgg19.nstw" --threads "$threads" --optimizer "$optimizer" --init "$init" -q)

wall() { # label, command...: runs it, prints its wall seconds on stdout
	local label=$1; shift
	local t0 t1
	t0=$(date +%s.%N)
	"$@" || { echo "scales.sh: the $label run failed" >&2; exit 2; }
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}

echo "single scale: $size px x $n iterations ($optimizer, $threads threads, --init $init)"
single_wall=$(wall single $EMU "$BUILD/nst" "${common[@]}" --scales "$size" -n "$n" -o "$tmp/single.png" --log "$tmp/single.csv")
read -r single_loss single_time < <(tail -n 1 "$tmp/single.csv" | awk -F, '{ print $2, $6 }')
echo "  final loss $single_loss after $single_time s of optimization ($single_wall s wall)"

echo "multi-scale: $scales px x $scale_iterations iterations"
multi_wall=$(wall multi $EMU "$BUILD/nst" "${common[@]}" --scales "$scales" --scale-iterations "$scale_iterations" \
	-o "$tmp/multi.png" --log "$tmp/multi.csv")
rows=$(($(wc -l <"$tmp/multi.csv") - 1))
top_first=$((rows - top_iterations - 1)) # index of the top scale's first row
read -r multi_loss multi_time < <(tail -n 1 "$tmp/multi.csv" | awk -F, '{ print $2, $6 }')
echo "  final loss $multi_loss after $multi_time s of optimization ($multi_wall s wall)"
coarse_time=$(awk -F, -v f="$top_first" 'NR - 2 == f - 1 { print $6 }' "$tmp/multi.csv")
echo "  the coarse scales took $coarse_time s"

if [ -n "$keep" ]; then
	mkdir -p "$keep" && cp "$tmp"/single.png "$tmp"/single.csv "$tmp"/multi.png "$tmp"/multi.csv "$keep"/
fi

reach=$(awk -F, -v f="$top_first" -v L="$single_loss" \
	'NR > 1 && NR - 2 >= f && $2 + 0 <= L + 0 { print NR - 2 - f, $2, $6; exit }' "$tmp/multi.csv")
if [ -z "$reach" ]; then
	echo "RESULT: the multi-scale run's top scale never reached $single_loss (its best: $(awk -F, -v f="$top_first" \
		'NR > 1 && NR - 2 >= f { if (b == "" || $2 + 0 < b) b = $2 + 0 } END { print b }' "$tmp/multi.csv"))"
	exit 1
fi
read -r reach_row reach_loss reach_time <<<"$reach"
ratio=$(awk -v a="$reach_time" -v b="$single_time" 'BEGIN { printf "%.3f", a / b }')
echo "RESULT: top-scale loss $reach_loss <= $single_loss at its row $reach_row, $reach_time s into the run:" \
	"$ratio of the single-scale run's $single_time s (target <= $TARGET_RATIO)"
awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { exit !(r <= t) }'
