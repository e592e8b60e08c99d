#!/usr/bin/env bash
# --backend auto: it measures the available backends, picks one, says which on stderr (not with
# -q), and the run is exactly the run of that backend given explicitly (same picture, same loss
# log); with --precision fp16 too.  Under emulation (NST_EMU set) the pictures are smaller.
set -uo pipefail
name=t_auto
. "$(dirname "$0")/lib.sh"
if [ -n "$EMU" ]; then SIZE=32; else SIZE=64; fi
common=(-c "$SHARED/images/chelsea.png" -s "$SHARED/images/great_wave.jpg" --weights "$BUILD/vgg19.nstw"
	--size "$SIZE" --threads 2 --optimizer adam -n 3 --print-every 1000)
need "$W"

losses() { cut -d, -f1-5 "$1"; } # the log without its seconds column

for precision in fp32 fp16; do
	$NST "${common[@]}" --backend auto --precision $precision -o "$tmp/auto.png" --log "$tmp/auto.csv" 2>"$tmp/err"
	rc=$?
	line=$(grep "backend auto resolved to" "$tmp/err")
	chosen=$(echo "$line" | sed -n 's/^nst: backend auto resolved to \([a-z]*\).*/\1/p')
	case "$chosen" in
	simd | xnnpack | scalar) ok "$precision: exit $rc, ${line#nst: }" ;;
	*) bad "$precision: no choice reported (exit $rc): $(cat "$tmp/err")"; continue ;;
	esac
	[ "$(grep -c "backend auto resolved to" "$tmp/err")" -eq 1 ] && ok "$precision: reported once" || bad "reported more than once"
	$NST "${common[@]}" --backend "$chosen" --precision $precision -o "$tmp/explicit.png" --log "$tmp/explicit.csv" -q 2>/dev/null ||
		bad "$precision: --backend $chosen failed"
	cmp -s "$tmp/auto.png" "$tmp/explicit.png" && ok "$precision: the picture equals --backend $chosen's" ||
		bad "$precision: auto's picture differs from --backend $chosen's"
	[ "$(losses "$tmp/auto.csv")" = "$(losses "$tmp/explicit.csv")" ] && ok "$precision: the loss log equals --backend $chosen's" ||
		bad "$precision: auto's loss log differs from --backend $chosen's"
done

# -q: nothing but errors.
$NST "${common[@]}" --backend auto -o "$tmp/q.png" -q 2>"$tmp/err" && [ ! -s "$tmp/err" ] && ok "-q: auto prints nothing" ||
	bad "-q printed: $(cat "$tmp/err")"

finish
