#!/usr/bin/env bash
# Checkpoint integrity on the command line (issue 19, item 5): a checkpoint made by a tiny run
# (--size 32 -n 4 --checkpoint-every 2), with one bit flipped at a time in its header fields (magic,
# version, size, row, done, good_row, adam_step, n_iter, config, h_diag, seconds), its payload and its
# CRC trailer, is refused before any iteration: exit 1, one line saying "corrupted", the existing
# output untouched.  The genuine checkpoint resumes (exit 0) as the control.  Adam and L-BFGS.
# Under `make test SAN=1` the refusals run through ASan + UBSan (a report would fail the one-line check).
set -uo pipefail
name=t_checkpoint
. "$(dirname "$0")/lib.sh"
sanitizer_exit_codes

# Two small pictures made here: nothing but the build is needed.
random_ppm "$tmp/c.ppm" 40 30
random_ppm "$tmp/s.ppm" 36 28
args=(-c "$tmp/c.ppm" -s "$tmp/s.ppm" --weights "$BUILD/vgg19.nstw" --size 32 -n 4 --threads 1 -q)

# flip FILE OFFSET BIT: one bit of the byte at OFFSET (negative: from the end) inverted in place.
flip() {
	local file=$1 off=$2 bit=$3 size byte
	size=$(stat -c %s "$file")
	[ "$off" -lt 0 ] && off=$((size + off))
	byte=$(od -An -tu1 -j "$off" -N1 "$file" | tr -d ' ')
	printf "$(printf '\\%03o' $((byte ^ (1 << bit))))" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
}

# The header's fields (src/checkpoint.c, struct checkpoint_header, version 2): offset and a bit in it.
fields=("magic 0 1" "version 4 0" "width 8 2" "height 12 0" "row 24 0" "row 27 7" "done 36 0" "good_row 40 1"
	"adam_step 44 0" "adam_step 47 7" "n_iter 48 0" "n_iter 51 6" "config 64 3" "h_diag 79 6" "h_diag 75 0"
	"seconds 95 7" "last 100 2")

for opt in adam lbfgs; do
	ck=$tmp/$opt.ckpt
	rm -f "$ck"
	$NST "${args[@]}" --optimizer $opt -o "$tmp/$opt.png" --checkpoint-every 2 --checkpoint "$ck" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne 0 ] || [ ! -s "$ck" ]; then bad "$opt: the tiny run made no checkpoint (exit $rc): $(cat "$tmp/err")"; continue; fi
	size=$(stat -c %s "$ck")
	# The control: the genuine checkpoint resumes.
	$NST "${args[@]}" --optimizer $opt -o "$tmp/resumed.png" --resume "$ck" 2>"$tmp/err" \
		&& ok "$opt: the genuine checkpoint ($size bytes) resumes" || bad "$opt: the genuine checkpoint is refused: $(cat "$tmp/err")"
	cases=("${fields[@]}" "payload-start 128 0" "payload-middle $((size / 2)) 5" "payload-end -5 3" "crc -1 7" "crc -4 0")
	for c in "${cases[@]}"; do
		read -r what off bit <<<"$c"
		cp "$ck" "$tmp/bad.ckpt"
		flip "$tmp/bad.ckpt" "$off" "$bit"
		cmp -s "$ck" "$tmp/bad.ckpt" && { bad "$opt $what: the flip did not change the file"; continue; }
		printf 'previous picture' >"$tmp/out.png"
		# (bounded: a checkpoint accepted with a flipped row may run for 2^31 iterations)
		timeout 30 $NST "${args[@]}" --optimizer $opt -o "$tmp/out.png" --resume "$tmp/bad.ckpt" >"$tmp/stdout" 2>"$tmp/err"
		rc=$?
		lines=$(grep -c . "$tmp/err")
		if [ $rc -ne 1 ]; then bad "$opt $what (offset $off bit $bit): exit $rc, expected 1: $(head -n 3 "$tmp/err")"
		elif [ "$lines" -ne 1 ]; then bad "$opt $what: $lines lines on stderr: $(head -n 5 "$tmp/err")"
		elif ! grep -q "corrupted" "$tmp/err"; then bad "$opt $what: the message does not say corrupted: $(cat "$tmp/err")"
		elif [ "$(cat "$tmp/out.png")" != "previous picture" ]; then bad "$opt $what: the output was overwritten"
		else ok "$opt $what (offset $off bit $bit): $(cat "$tmp/err")"; fi
	done
	# Cut short and extended by one byte.
	head -c $((size - 1)) "$ck" >"$tmp/short.ckpt"
	cp "$ck" "$tmp/long.ckpt" && printf '\0' >>"$tmp/long.ckpt"
	for f in short long; do
		timeout 30 $NST "${args[@]}" --optimizer $opt -o "$tmp/out.png" --resume "$tmp/$f.ckpt" 2>"$tmp/err"
		rc=$?
		[ $rc -eq 1 ] && grep -q corrupted "$tmp/err" && ok "$opt: a $f checkpoint: $(cat "$tmp/err")" \
			|| bad "$opt: a $f checkpoint: exit $rc: $(cat "$tmp/err")"
	done
done
finish
