#!/usr/bin/env bash
# Options (issue 19, items 12 and 14; first-use F15):
#  - threads: the default is the CPUs this process may use (taskset -c 0: 1 thread); more than
#    that is clamped with one notice line;
#  - values that meant something else are refused (exit 2, one line): --style-blend "",
#    --max-memory below 1M (0.5 was "no limit"), --seed " -1" (was 2^64 - 1), --lr 1e-50 (0 as
#    a float), --init image: (no picture), -o - with --save-every;
#  - garbage on standard input is named "standard input";
#  - --resume names the option that differs from the checkpoint's; another --threads is a notice;
#  - neural-style's single-dash spellings (-content_image, ...) and any single-dash word are
#    refused with the nst option to use; --num-iterations and such get the same hint.
set -uo pipefail
name=t_options
. "$(dirname "$0")/lib.sh"
small_pictures
M="$BUILD/styles/candy.nstw"
base=(-c "$C" -s "$S" -o "$tmp/out.png" --weights "$W" --size 32 -n 2)
cpus=$(nproc)

# --- threads (-n 0: the header is printed and nothing runs)
header_threads() { sed -n 's/.* \([0-9][0-9]*\) threads\{0,1\}$/\1/p' "$1" | head -n 1; }
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then
	taskset -c 0 $NST "${base[@]}" -n 0 2>"$tmp/err"
	[ "$(header_threads "$tmp/err")" = 1 ] && ok || bad "taskset -c 0: $(head -n 1 "$tmp/err")"
	taskset -c 0 $NST --model "$M" -c "$C" -o "$tmp/fast.png" 2>"$tmp/err"
	[ "$(header_threads "$tmp/err")" = 1 ] && ok || bad "taskset -c 0, one pass: $(head -n 1 "$tmp/err")"
else
	echo "skipped: taskset"
fi
$NST "${base[@]}" -n 0 --threads 1000 2>"$tmp/err"
n=$(header_threads "$tmp/err")
grep -q -- "--threads 1000 is more than" "$tmp/err" && [ -n "$n" ] && [ "$n" -le "$cpus" ] && ok \
	|| bad "--threads 1000: $(cat "$tmp/err")"
$NST --model "$M" -c "$C" -o "$tmp/fast.png" --threads 1000 2>"$tmp/err"
n=$(header_threads "$tmp/err")
grep -q -- "--threads 1000 is more than" "$tmp/err" && [ -n "$n" ] && [ "$n" -le "$cpus" ] && ok \
	|| bad "--threads 1000, one pass: $(cat "$tmp/err")"

# --- values that meant something else
expect_error 2 "style-blend" "${base[@]}" --style-blend ""
# -c and -o name one file: a second is refused, not silently taken instead
expect_error 2 "^nst: -o is given twice \(.*out.png, then .*other.png\): give it once$" "${base[@]}" -o "$tmp/other.png"
expect_error 2 "^nst: -c is given twice" "${base[@]}" -c "$SHARED/images/astronaut.png"
# a second -s adds a style (as in the one-pass mode), as -s A,B does
$NST "${base[@]}" -s "$S" 2>"$tmp/err" && grep -q "^nst: 32x[0-9]*, 2 styles," "$tmp/err" && ok "-s twice: 2 styles" ||
	bad "-s twice: $(cat "$tmp/err")"
expect_error 2 "max-memory" "${base[@]}" --max-memory 0.5
expect_error 2 "max-memory" "${base[@]}" --max-memory 1000
expect_error 2 "max-memory" "${base[@]}" --max-memory 0
expect_error 2 "seed" "${base[@]}" --seed " -1"
expect_error 2 "seed" "${base[@]}" --seed " 5"
expect_error 2 "seed" "${base[@]}" --seed 18446744073709551616
expect_error 2 "--lr" "${base[@]}" --lr 1e-50
expect_error 2 "--init image:.*no picture" "${base[@]}" --init image:
expect_error 2 "save-every.*standard output" -c "$C" -s "$S" -o - --weights "$W" --size 32 -n 4 --save-every 2
echo "garbage, not a picture" | $NST --model "$M" -c - -o "$tmp/g.png" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "standard input" "$tmp/err" && ! grep -q "in memory" "$tmp/err" && ok \
	|| bad "garbage on -c -: exit $rc: $(cat "$tmp/err")"

# --- --resume names what differs
rargs=(-c "$C" -s "$S" --weights "$W" --size 32 -o "$tmp/r.png" --checkpoint-every 2 --checkpoint "$tmp/r.ckpt")
$NST "${rargs[@]}" -q -n 4 --threads 1 || bad "the run to resume"
expect_error 2 "--style-weight [0-9]+ \(now 50\)" "${rargs[@]}" -n 4 --threads 1 --style-weight 50 --resume "$tmp/r.ckpt"
expect_error 2 "-n 4 \(now 9\)" "${rargs[@]}" -n 9 --threads 1 --resume "$tmp/r.ckpt"
expect_error 2 "-s .*s.png \(now .*c.png\)" -c "$C" -s "$C" --weights "$W" --size 32 -o "$tmp/r.png" -n 4 \
	--threads 1 --resume "$tmp/r.ckpt"
if [ "$cpus" -ge 2 ]; then
	# Another thread count: a notice, and the resumed run goes on (the checkpoint's fingerprint
	# covers the style pictures, not their thread-dependent Gram sums), at 32 and at 64 px.
	$NST "${rargs[@]}" -n 4 --threads 2 --resume "$tmp/r.ckpt" 2>"$tmp/err"
	rc=$?
	rargs64=(-c "$C" -s "$S" --weights "$W" --size 64 -o "$tmp/r64.png" --checkpoint-every 2 --checkpoint "$tmp/r64.ckpt")
	$NST "${rargs64[@]}" -q -n 4 --threads 1 || bad "the 64 px run to resume"
	$NST "${rargs64[@]}" -n 4 --threads 2 --resume "$tmp/r64.ckpt" 2>>"$tmp/err"
	rc64=$?
	if grep -q "resuming with --threads 2 where the checkpoint ran with 1" "$tmp/err" && [ $rc -eq 0 ] && [ $rc64 -eq 0 ]; then
		ok
	else
		bad "--resume with another --threads: exit $rc (64 px: $rc64): $(cat "$tmp/err")"
	fi
fi

# --- neural-style's spellings: refused, with the nst option
expect_error 2 "use -c" -content_image "$C" -style_image "$S" -output_image "$tmp/out.png"
expect_error 2 "use -s" -s "$S" -style_image "$S" -c "$C" -o "$tmp/out.png"
expect_error 2 "use -o" "${base[@]}" -output_image "$tmp/out.png"
expect_error 2 "use --size" "${base[@]}" -image_size 64
expect_error 2 "use -n" "${base[@]}" -num_iterations 5
expect_error 2 "use --save-every" "${base[@]}" -save_iter 5
expect_error 2 "use --print-every" "${base[@]}" -print_iter 5
expect_error 2 "use --init" "${base[@]}" -init_image "$C"
expect_error 2 "two dashes: --size" "${base[@]}" -size 64
expect_error 2 "two dashes" "${base[@]}" -foo_bar
expect_error 2 "use -c" --model "$M" -content_image "$C" -o "$tmp/out.png"
expect_error 2 "use -n" "${base[@]}" --num-iterations 5
expect_error 2 "use --size" "${base[@]}" --image-size 64
# What getopt reads well still works: clusters, attached values, values that start with a dash.
$NST -qn1 -c "$C" -s "$S" -o "$tmp/q.png" --weights "$W" --size 32 && [ -s "$tmp/q.png" ] && ok || bad "-qn1"
$NST -q -n1 --size=32 -c "$C" -s"$S" -o "$tmp/q2.png" --weights "$W" && [ -s "$tmp/q2.png" ] && ok || bad "-n1 -sFILE"

finish
