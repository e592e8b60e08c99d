#!/usr/bin/env bash
# Stopping a run never loses a finished file nor leaves a temporary one (issue 19, item 9):
#  - SIGINT while the final picture is written: the picture is written whole, no *.tmp-* left;
#  - the one-pass mode stopped by SIGINT / SIGTERM halfway through a batch: every finished
#    picture is there, no temporary file, exit 130;
#  - SIGHUP (a dropped SSH session) is SIGTERM: the picture and a checkpoint, exit 130 (in a run
#    of several scales and in tiles too);
#  - a second SIGINT while the checkpoint is written: no temporary file, the checkpoint whole;
#  - with standard error closed (2>&-) no progress line goes into the --log CSV;
#  - a stop after the output's folder went away still writes the checkpoint elsewhere.
# A writer is caught in the act with an LD_PRELOAD shim that makes fsync of a regular file note
# the file's name and take a second: the signal is sent while that file is being written.
set -uo pipefail
name=t_signals
. "$(dirname "$0")/lib.sh"
small_pictures
M="$BUILD/styles/candy.nstw"
run=(-c "$C" -s "$S" --weights "$W" --size 32)

# Waits (at most 120 s on a loaded machine) until FILE has a line matching PATTERN.
wait_line() { # pattern, file, pid
	local waited=0
	until grep -qE -- "$1" "$2" 2>/dev/null; do
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.02
		waited=$((waited + 1))
		[ $waited -lt 6000 ] || return 1
	done
}
# Waits until the --log CSV has ROWS rows after its header.
wait_rows() { # rows, file, pid
	local waited=0
	local rows
	while rows=$(grep -c '^[0-9]' "$2" 2>/dev/null); [ "${rows:-0}" -lt "$1" ]; do
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.02
		waited=$((waited + 1))
		[ $waited -lt 6000 ] || return 1
	done
}
is_png() { "$PYTHON" -c "from PIL import Image; import sys; Image.open(sys.argv[1]).load()" "$1" 2>/dev/null; }

if [ -z "$EMU" ] && command -v cc >/dev/null; then
	cat >"$tmp/slow_fsync.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
/* fsync of a regular file: append its name to $SLOW_FSYNC_MARKER, then sleep a whole second. */
int fsync(int fd) {
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	const char *marker = getenv("SLOW_FSYNC_MARKER");
	struct stat st;
	if (marker && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		char link[64], path[4096];
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, path, sizeof path - 1);
		path[n > 0 ? n : 0] = '\0';
		int m = open(marker, O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (m >= 0) {
			dprintf(m, "%s\n", path);
			close(m);
		}
		struct timespec ts = {1, 0};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
	}
	return real(fd);
}
EOF
	cc -shared -fPIC -o "$tmp/slow_fsync.so" "$tmp/slow_fsync.c" -ldl || { echo "t_signals: cannot build the shim"; exit 1; }
	slow=(env SLOW_FSYNC_MARKER="$tmp/marker" LD_PRELOAD="$tmp/slow_fsync.so") # exec'ed: $! is nst's pid

	# SIGINT while the final picture is written.
	rm -f "$tmp/marker" "$tmp/final.png"
	"${slow[@]}" $NST "${run[@]}" -n 2 -q -o "$tmp/final.png" 2>"$tmp/err" &
	pid=$!
	wait_line 'final\.png\.tmp-' "$tmp/marker" $pid && kill -INT $pid || bad "the picture's write was not seen"
	wait $pid
	rc=$?
	[ $rc -eq 0 ] && is_png "$tmp/final.png" && no_temporaries "$tmp" && ok \
		|| bad "SIGINT while the picture is written: exit $rc, $(ls "$tmp" | tr '\n' ' '): $(cat "$tmp/err")"

	# A second SIGINT while the checkpoint is written.
	rm -f "$tmp/marker" "$tmp/twice."*
	"${slow[@]}" $NST "${run[@]}" -n 60 -o "$tmp/twice.png" --log "$tmp/twice.csv" 2>"$tmp/err" &
	pid=$!
	wait_rows 3 "$tmp/twice.csv" $pid && kill -INT $pid || bad "the run's log was not seen"
	wait_line 'twice\.png\.ckpt\.tmp-' "$tmp/marker" $pid && kill -INT $pid || bad "the checkpoint's write was not seen"
	wait $pid
	rc=$?
	[ $rc -eq 130 ] && is_png "$tmp/twice.png" && [ -s "$tmp/twice.png.ckpt" ] && no_temporaries "$tmp" && ok \
		|| bad "a second SIGINT during the checkpoint: exit $rc, $(ls "$tmp" | tr '\n' ' '): $(tail -n 2 "$tmp/err")"
	if [ -s "$tmp/twice.png.ckpt" ]; then
		$NST "${run[@]}" -n 60 -q -o "$tmp/twice.png" --resume "$tmp/twice.png.ckpt" 2>"$tmp/err" && ok \
			|| bad "resuming from the checkpoint written under a second SIGINT: $(cat "$tmp/err")"
	fi

	# The one-pass mode stopped halfway through a batch.
	mkdir -p "$tmp/batch"
	"$PYTHON" -c "
from PIL import Image
im = Image.open('$C').resize((64, 48))
for i in range(8): im.rotate(i).save('$tmp/batch/p%d.png' % i)"
	for sig in INT TERM; do
		rm -rf "$tmp/marker" "$tmp/styled"
		"${slow[@]}" $NST --model "$M" -c "$tmp/batch" -o "$tmp/styled" 2>"$tmp/err" &
		pid=$!
		wait_line 'styled/.*\.tmp-' "$tmp/marker" $pid && kill -$sig $pid || bad "one pass: no write seen"
		wait $pid
		rc=$?
		n=$(ls "$tmp/styled" 2>/dev/null | grep -c '^p[0-9]\.png$')
		all=1
		for f in "$tmp"/styled/p*.png; do is_png "$f" || all=0; done
		[ $rc -eq 130 ] && [ "$n" -ge 1 ] && [ "$n" -lt 8 ] && [ $all -eq 1 ] && no_temporaries "$tmp" \
			&& grep -q "interrupted (SIG$sig): wrote [0-9] of 8 pictures" "$tmp/err" && ok \
			|| bad "one pass, SIG$sig halfway: exit $rc, $n pictures: $(ls -a "$tmp/styled" | tr '\n' ' '): $(tail -n 1 "$tmp/err")"
	done
else
	echo "skipped: the writes caught in the act (emulated, or no C compiler)"
fi

# SIGHUP: the picture and a checkpoint, as SIGTERM.
rm -f "$tmp/hup."*
$NST "${run[@]}" -n 200 -o "$tmp/hup.png" --log "$tmp/hup.csv" 2>"$tmp/err" &
pid=$!
wait_rows 3 "$tmp/hup.csv" $pid && kill -HUP $pid
wait $pid
rc=$?
[ $rc -eq 130 ] && is_png "$tmp/hup.png" && [ -s "$tmp/hup.png.ckpt" ] && grep -q "interrupted (SIGHUP) at iteration" "$tmp/err" &&
	grep -q "resume" "$tmp/err" && ok \
	|| bad "SIGHUP: exit $rc, $(ls "$tmp" | tr '\n' ' '): $(tail -n 1 "$tmp/err")"

# SIGHUP in a run of two scales (a checkpoint of the scale it stopped in) and in tiles (the
# running tile blended into the picture, a checkpoint from which the tile starts over).
hup_case() { # name, pattern the message must match, run options...
	local what=$1 pattern=$2; shift 2
	rm -f "$tmp/$what."*
	$NST "${run[@]}" "$@" -n 200 -o "$tmp/$what.png" --log "$tmp/$what.csv" 2>"$tmp/err" &
	local pid=$!
	wait_rows 3 "$tmp/$what.csv" $pid && kill -HUP $pid
	wait $pid
	local rc=$?
	[ $rc -eq 130 ] && is_png "$tmp/$what.png" && [ -s "$tmp/$what.png.ckpt" ] && grep -q "$pattern" "$tmp/err" &&
		ok "SIGHUP, $what: $(tail -n 1 "$tmp/err")" ||
		bad "SIGHUP, $what: exit $rc, $(ls "$tmp" | tr '\n' ' '): $(tail -n 1 "$tmp/err")"
}
hup_case two-scales "(SIGHUP) at scale 1 of 2, iteration [0-9]* (loss row [0-9]*): wrote .* and the checkpoint .*two-scales.png.ckpt" \
	--scales 16,32
hup_case tiles "(SIGHUP) at sweep 1 tile 1, iteration [0-9]* (loss row [0-9]*): wrote .* and the checkpoint .*: the tile starts over)" \
	--size 96 --tile 48

# Standard error closed: the progress lines go nowhere, not into the log.
rm -f "$tmp/closed.csv"
$NST "${run[@]}" -n 3 --line-search none --print-every 1 -o "$tmp/closed.png" --log "$tmp/closed.csv" 2>&-
rc=$?
[ $rc -eq 0 ] && [ "$(grep -cvE '^(iteration,total|[0-9]+,[-0-9.e+]+,)' "$tmp/closed.csv")" -eq 0 ] \
	&& [ "$(wc -l <"$tmp/closed.csv")" -eq 5 ] && ok || bad "2>&-: exit $rc, the log holds: $(head -c 300 "$tmp/closed.csv")"

# The output's folder goes away during the run: at SIGINT the checkpoint (elsewhere) is written.
mkdir -p "$tmp/gone"
rm -f "$tmp/elsewhere.ckpt"
$NST "${run[@]}" -n 200 -o "$tmp/gone/out.png" --checkpoint "$tmp/elsewhere.ckpt" --log "$tmp/gone.csv" 2>"$tmp/err" &
pid=$!
wait_rows 3 "$tmp/gone.csv" $pid && rmdir "$tmp/gone" && kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 1 ] && [ -s "$tmp/elsewhere.ckpt" ] && grep -q "elsewhere.ckpt" "$tmp/err" && no_temporaries "$tmp" && ok \
	|| bad "SIGINT with the output's folder gone: exit $rc, $(ls "$tmp" | tr '\n' ' '): $(tail -n 1 "$tmp/err")"

# A FIFO as -o that nobody reads: the run waits for a reader after SIGINT; a second SIGINT gives
# up on the picture, and the checkpoint is still written.
mkfifo "$tmp/unread.png"
$NST "${run[@]}" -n 200 -o "$tmp/unread.png" --log "$tmp/unread.csv" 2>"$tmp/err" &
pid=$!
wait_rows 3 "$tmp/unread.csv" $pid && kill -INT $pid && sleep 1 && kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 1 ] && [ -p "$tmp/unread.png" ] && [ -s "$tmp/unread.png.ckpt" ] && grep -q "nothing read it" "$tmp/err" && ok \
	|| bad "an unread FIFO as -o, two SIGINTs: exit $rc, $(ls -l "$tmp/unread.png"*): $(tail -n 1 "$tmp/err")"

finish
