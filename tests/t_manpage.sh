#!/usr/bin/env bash
# The man page (doc/nst.1) and the bash completion (doc/nst.bash-completion) against the program:
#  - every option of `nst --help`, `nst --model x --help`, `nst bench --help` and `nst info --help`
#    is in the man page (and the man page names no option that no help has): they cannot drift;
#  - every exit code of the helps is in the man page's EXIT STATUS;
#  - man and groff render it without a warning;
#  - --version prints the version, the commit and the build's features;
#  - the completion offers the options of the helps and the models nst finds.
set -uo pipefail
name=t_manpage
. "$(dirname "$0")/lib.sh"
MAN=doc/nst.1
[ -f "$MAN" ] || die "no $MAN"

# The long options a help text lists at the start of its lines ("  -c, --content FILE", "  --sizes LIST").
help_options() { grep -oE '^ +(-[a-zA-Z], )?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
# The long options the man page names (roff writes - as \-).
man_options() { sed -n '/^\.SH SEE ALSO/q; s/\\-/-/g; p' "$MAN" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
man_options >"$tmp/man.txt"
: >"$tmp/all.txt"
for cmd in "--help" "--model x --help" "bench --help" "info --help"; do
	# shellcheck disable=SC2086
	$NST $cmd 2>&1 | help_options >"$tmp/help.txt"
	[ -s "$tmp/help.txt" ] || { bad "nst $cmd lists no options"; continue; }
	cat "$tmp/help.txt" >>"$tmp/all.txt"
	missing=$(comm -23 "$tmp/help.txt" "$tmp/man.txt" | paste -sd' ')
	if [ -z "$missing" ]; then
		ok "doc/nst.1 describes the $(wc -l <"$tmp/help.txt") options of nst $cmd"
	else
		bad "doc/nst.1 lacks options that 'nst $cmd' lists (add them to the man page): $missing"
	fi
done
sort -u "$tmp/all.txt" -o "$tmp/all.txt"
extra=$(comm -13 "$tmp/all.txt" "$tmp/man.txt" | paste -sd' ')
[ -z "$extra" ] && ok "the man page names no option that no help lists" ||
	bad "doc/nst.1 names options that no 'nst ... --help' lists (removed from the program?): $extra"

# Exit codes: every number of the helps' "exit codes:" lines is an entry of EXIT STATUS.
codes=$({ $NST --help; $NST --model x --help; } 2>&1 | sed -n '/^exit codes:/,/^$/p' | grep -oE '(^|[ ,:])[0-9]+ ' | tr -dc '0-9\n ' | tr ' ' '\n' | grep . | sort -un)
[ -n "$codes" ] || bad "no exit codes found in the helps"
status=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH ENVIRONMENT/p' "$MAN")
for c in $codes; do
	grep -qx ".B $c" <<<"$status" && ok "exit code $c in EXIT STATUS" || bad "exit code $c (nst --help) missing from doc/nst.1's EXIT STATUS"
done

# Rendering: man's and groff's warnings.
if command -v man >/dev/null && command -v groff >/dev/null; then
	warnings=$(MANWIDTH=80 man --warnings -l "$MAN" 2>&1 >/dev/null)
	[ -z "$warnings" ] && ok "man --warnings -l renders it without warnings" || bad "man warns: $warnings"
	warnings=$(groff -man -ww -z "$MAN" 2>&1)
	[ -z "$warnings" ] && ok "groff -ww renders it without warnings" || bad "groff warns: $warnings"
else
	bad "man / groff missing (make deps-test installs man-db and groff-base)"
fi

# --version: version, commit, features.
v=$($NST --version)
# git describe: a hash, a tag, or a tag with the commits since it (v0.2.0-12-g8624f82)
grep -qE "^nst [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]+|v[0-9.]+(-[0-9]+-g[0-9a-f]+)?)(-dirty)?\)|^nst [0-9.]+ \(commit unknown\)" <<<"$v" && ok "--version: $(head -n 1 <<<"$v")" || bad "--version's first line: $v"
for f in kernels: xnnpack: fp16:; do
	grep -q "^$f" <<<"$v" && ok "--version says $f" || bad "--version has no '$f' line: $v"
done
grep -q "$(sed -n 's/^#define NST_VERSION_STRING "\(.*\)"/\1/p' include/nst.h)" <<<"$(head -n 1 <<<"$v")" && ok "--version is nst.h's" || bad "--version is not include/nst.h's NST_VERSION_STRING"
grep -q "nst $(sed -n 's/^#define NST_VERSION_STRING "\(.*\)"/\1/p' include/nst.h)" "$MAN" && ok "the man page's version is nst.h's" || bad "doc/nst.1's .TH names another version than include/nst.h"

# The completion: options and model names (COMP_WORDS as bash sets them).
complete_words() { # the words typed so far...
	bash -c '. doc/nst.bash-completion; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _nst; printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
got=$(PATH="$BUILD:$PATH" complete_words nst --)
missing=$(comm -23 <($NST --help 2>&1 | help_options) <(sort -u <<<"$got") | paste -sd' ')
[ -z "$missing" ] && ok "completion offers every option of nst --help" || bad "completion lacks: $missing"
got=$(PATH="$BUILD:$PATH" complete_words nst --model "")
grep -qx candy <<<"$got" && grep -qx arbitrary <<<"$got" && ok "completion offers the models nst finds ($(paste -sd' ' <<<"$got"))" ||
	bad "completion after --model offers: $(paste -sd' ' <<<"$got")"
got=$(PATH="$BUILD:$PATH" complete_words nst bench --)
grep -qx -- --sizes <<<"$got" && ok "completion of nst bench options" || bad "completion of 'nst bench --': $got"
finish
