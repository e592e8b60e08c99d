#!/usr/bin/env bash
# The measured peak RSS stays within 10% of the plan plus the process's baseline (what it held
# before the arena: code, libraries, pictures, the weights map), and --max-memory refuses a run
# whose plan does not fit, before anything runs; without it, the memory available is the budget.
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

# Without --max-memory, the memory available to the process is the budget (nst_memory_available,
# here lowered by ulimit -v to 95% of the whole picture's plan): the optimization paints in
# tiles, saying why; a one-pass run that cannot fit is refused before it runs.  Not under qemu or
# ASan, whose own address space such a limit cannot hold.
if [ -z "$EMU" ] && ! grep -qa -m1 __asan_init "$BUILD/nst"; then
	big=(-c "$SHARED/images/astronaut.png" -s "$SHARED/images/starry_night.jpg" -o "$tmp/big.png" --size 640 --scales 640
		--line-search none --threads 2)
	whole=$($NST "${big[@]}" -n 0 2>&1 | sed -n 's/^nst: memory plan \([0-9.]*\) MiB.*/\1/p')
	limit=$(awk -v q="$whole" 'BEGIN { printf "%d", q * 1024 * 0.95 }')
	rm -f "$tmp/big.png"
	rc=0
	(ulimit -v "$limit" && timeout 120 $NST "${big[@]}" -n 1 2>"$tmp/err") || rc=$?
	if [ "$rc" -eq 0 ] && [ -s "$tmp/big.png" ] && grep -q "needs more than 90% of the [0-9]* MiB available here: painted in tiles" "$tmp/err" &&
		grep -q "^nst: tiled memory plan" "$tmp/err"; then
		ok "plan $whole MiB under ulimit -v $((limit / 1024)) MiB: $(grep "available here" "$tmp/err"); $(grep "tiled memory plan" "$tmp/err")"
	else
		bad "plan $whole MiB under ulimit -v $((limit / 1024)) MiB: exit $rc: $(cat "$tmp/err")"
	fi
	rc=0
	(ulimit -v "$limit" && timeout 120 $NST "${big[@]}" -n 1 --dump-grad "$tmp/grad.raw" 2>"$tmp/err") || rc=$?
	if [ "$rc" -eq 3 ] && [ "$(grep -c . "$tmp/err")" -eq 1 ] &&
		grep -q "would be painted in tiles, and --dump-grad does not work with tiles: free memory" "$tmp/err"; then
		ok "--dump-grad where memory forces tiles: exit 3, $(cat "$tmp/err")"
	else
		bad "--dump-grad where memory forces tiles: exit $rc: $(cat "$tmp/err")"
	fi
	# --max-memory past what is available: taken, and said; here the allocation is refused.
	rc=0
	(ulimit -v "$limit" && timeout 120 $NST "${big[@]}" -n 1 --max-memory 64G 2>"$tmp/err") || rc=$?
	if [ "$rc" -eq 3 ] && grep -q "more than the [0-9]* MiB available here (nst info): --max-memory lets it try" "$tmp/err" &&
		grep -q "^nst: cannot allocate the [0-9.]* MiB the run needs" "$tmp/err"; then
		ok "--max-memory past the memory available: $(head -n 1 "$tmp/err")"
	else
		bad "--max-memory past the memory available: exit $rc: $(cat "$tmp/err")"
	fi
	rc=0
	(ulimit -v 307200 && timeout 120 $NST --model candy -c "$SHARED/images/astronaut.png" --size 3000 -q -o "$tmp/big.png" 2>"$tmp/err") || rc=$?
	if [ "$rc" -eq 3 ] && [ "$(grep -c . "$tmp/err")" -eq 1 ] &&
		grep -q "the run needs [0-9.]* MiB, more than the [0-9]* MiB available here (nst info): give a smaller --size" "$tmp/err"; then
		ok "one-pass beyond the memory available: $(cat "$tmp/err")"
	else
		bad "one-pass beyond the memory available: exit $rc: $(cat "$tmp/err")"
	fi
fi
finish
