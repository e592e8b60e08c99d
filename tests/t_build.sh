#!/usr/bin/env bash
# The build's own promises (issue 19, item 15), checked with `make -n` (nothing is compiled):
#  - `make TARGET=rpi4`, the README's cross-build command, builds the program build/rpi4/nst (the
#    default goal is `all` whatever toolchains/*.mk define), for every board;
#  - `make` natively still builds build/nst;
#  - `make STATIC=1` is refused with the explanation, natively and for a board;
#  - toolchains/BOARDS.md, which the makefiles and messages cite, exists and names every TARGET.
# A stand-in sysroot (an empty folder with its stamp) keeps the cross makefile from building the
# real one; the cross compiler need not be installed for `make -n`.
set -uo pipefail
name=t_build
. "$(dirname "$0")/lib.sh"
mkdir -p "$tmp/sysroot" && touch "$tmp/sysroot/.stamp"
# As a user types it: not what `make test` passes down (BUILD=build in the environment would make
# every target's product build/nst; MAKEFLAGS carries the parent's options and variables).
unset BUILD MAKEFLAGS MFLAGS MAKELEVEL
# Fresh output folders, so that make -n lists every command (nothing is up to date there).
fresh=(BUILD="$tmp/out")

boards=()
for mk in toolchains/*.mk; do
	board=$(basename "$mk" .mk)
	case $board in native | cross | dist | install) continue ;; esac
	boards+=("$board")
done
[ ${#boards[@]} -ge 5 ] || bad "only ${#boards[@]} boards in toolchains/: ${boards[*]}"

# `make TARGET=<board>` (no goal): the default goal links the program.
for board in "${boards[@]}"; do
	make -n TARGET="$board" SYSROOT="$tmp/sysroot" "${fresh[@]}" >"$tmp/out.txt" 2>"$tmp/err.txt"
	rc=$?
	if [ $rc -ne 0 ]; then bad "make -n TARGET=$board: exit $rc: $(tail -n 3 "$tmp/err.txt")"; continue; fi
	if grep -qE -- "-o $tmp/out/nst( |\$)" "$tmp/out.txt" && grep -qE -- "-o $tmp/out/libnst.a|rcs $tmp/out/libnst.a" "$tmp/out.txt"; then
		ok "make TARGET=$board builds the program and the library ($(grep -c -- ' -c ' "$tmp/out.txt") objects)"
	else
		bad "make TARGET=$board does not build the program: $(grep -c . "$tmp/out.txt") commands, the last: $(tail -n 1 "$tmp/out.txt" | cut -c1-160)"
	fi
done
# Without BUILD= the product is build/<board>/nst, as the README says (-B: even when it is built).
make -n -B TARGET=rpi4 SYSROOT="$tmp/sysroot" 2>/dev/null | grep -E >/dev/null -- "-o build/rpi4/nst( |\$)" &&
	ok "make TARGET=rpi4 names build/rpi4/nst" || bad "make TARGET=rpi4 does not name build/rpi4/nst"

# Natively: the program too.
make -n "${fresh[@]}" >"$tmp/out.txt" 2>"$tmp/err.txt" && grep -qE -- "-o $tmp/out/nst( |\$)" "$tmp/out.txt" &&
	ok "make (native) builds the program" || bad "make (native) does not build the program: $(tail -n 2 "$tmp/err.txt")"

# STATIC=1: refused with the reason, natively and for a board, before anything is built.
for target in native rpi4; do
	rc=0
	make -n STATIC=1 TARGET=$target SYSROOT="$tmp/sysroot" "${fresh[@]}" >"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
	if [ $rc -eq 0 ]; then bad "make STATIC=1 TARGET=$target was accepted"
	elif ! grep -q "STATIC=1" "$tmp/err.txt" || ! grep -q "shared" "$tmp/err.txt" || ! grep -q "toolchains/BOARDS.md" "$tmp/err.txt"; then
		bad "make STATIC=1 TARGET=$target: no explanation: $(cat "$tmp/err.txt")"
	else ok "make STATIC=1 TARGET=$target refused: $(grep STATIC "$tmp/err.txt" | cut -c1-140)..."; fi
done

# toolchains/BOARDS.md: present, every TARGET in it, and its "Static builds" section (cited).
if [ ! -f toolchains/BOARDS.md ]; then bad "toolchains/BOARDS.md does not exist (cited in $(grep -rl 'BOARDS.md' Makefile toolchains src README.md 2>/dev/null | wc -l) files)"
else
	for board in "${boards[@]}" native; do
		grep -q "TARGET=$board\b\|\`$board\`" toolchains/BOARDS.md && ok "BOARDS.md names $board" || bad "BOARDS.md does not name $board"
	done
	grep -q "^#.*Static builds" toolchains/BOARDS.md && ok "BOARDS.md has its Static builds section" ||
		bad "BOARDS.md has no 'Static builds' section"
fi
finish
