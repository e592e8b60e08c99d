#!/usr/bin/env bash
# The measured peak RSS stays within 10% of the plan plus the process's baseline (what it held
# before the arena: code, libraries, pictures, the weights map), and --max-memory refuses a run
# whose plan does not fit, before anything runs.
set -euo pipefail
name=t_memory
. "$(dirname "$0")/lib.sh"
# Enough iterations to fill the L-BFGS history (10) so that every planned buffer is touched.
if [ -n "$EMU" ]; then SIZE=48; else SIZE=128; fi
for opt in lbfgs adam; do
	$NST -c "$SHARED/images/astronaut.png" -s "$SHARED/images/starry_night.jpg" -o "$tmp/o.png" \
		--weights "$BUILD/vgg19.nstw" --size $SIZE -n 12 --optimizer $opt 2>"$tmp/err"
	line=$(grep "peak RSS" "$tmp/err")
	read -r peak plan base < <(echo "$line" | sed -E 's/.*peak RSS ([0-9.]+) MiB \(plan ([0-9.]+) MiB, the process before the arena ([0-9.]+) MiB\).*/\1 \2 \3/')
	if awk -v p="$peak" -v q="$plan" -v b="$base" 'BEGIN { exit !(p <= 1.10 * q + b && p >= 0.5 * q) }'; then
		ok "$opt at $SIZE px: peak $peak MiB <= 1.1 x plan $plan MiB + baseline $base MiB"
	else
		bad "$opt at $SIZE px: peak $peak MiB, plan $plan MiB, baseline $base MiB"
	fi
done
# The same plan as a limit passes; 1 MiB less is refused with exit code 3 and no output.
plan_bytes=$(awk -v q="$plan" 'BEGIN { printf "%d", q * 1048576 }')
rm -f "$tmp/o.png"
if $NST -c "$SHARED/images/astronaut.png" -s "$SHARED/images/starry_night.jpg" -o "$tmp/o.png" \
	--weights "$BUILD/vgg19.nstw" --size $SIZE -n 1 --optimizer adam -q --max-memory $((plan_bytes - 1048576)) 2>"$tmp/err"; then
	bad "--max-memory below the plan was accepted"
elif [ $? -ne 3 ] || [ -e "$tmp/o.png" ]; then
	bad "--max-memory: wrong exit code or an output was written"
else
	ok "--max-memory below the plan refused: $(cat "$tmp/err")"
fi
finish
